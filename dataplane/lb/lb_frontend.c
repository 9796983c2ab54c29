/* lb: programming frontends and their backends into the maps, and the
 * counters. */
#include "dataplane/lb/lb_int.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/maglev.h"
#include "sock.skel.h"
#include "sock_iter.skel.h"
#include "tc_nodeport.skel.h"
#include <net/if.h>
#include "lib/util.h"

/* ---- programming ---------------------------------------------------- */

static void lb_be_unref(struct lb *lb, uint32_t id)
{
	struct lb_be *b = lb_be_get_id(lb, id);
	struct lb_be_key k = { .id = id };
	struct lb_id_key sk = { .id = id };

	if (!b || --b->refs > 0)
		return;
	bpf_map_delete_elem(LB_FD(lb, lb_backends), &k);
	bpf_map_delete_elem(LB_FD(lb, lb_be_stats), &sk);
	lb_be_remove(lb, id);
}

/* Finds or creates the in-memory backend entry and takes a reference;
 * *dirty tells that lb_backends must be written (new, or state changed). */
static int lb_be_get(struct lb *lb, const struct lb_be_val *v, uint32_t *id, bool *dirty)
{
	struct lb_be *b;
	uint32_t found = lb_be_find(lb, v);
	int r;

	*dirty = !found;
	if (!found) {
		r = lb_be_add(lb, v, 0, &found);
		if (r < 0)
			return r;
	}
	b = lb_be_get_id(lb, found);
	*dirty = *dirty || b->val.state != v->state;
	b->val.state = v->state;
	b->refs++;
	*id = found;
	return 0;
}

/* Writes n entries with one syscall where the kernel can. */
static int lb_update_many(int fd, const void *keys, size_t ksz, const void *vals, size_t vsz,
			  size_t n)
{
	uint32_t count = (uint32_t)n;
	size_t i;

	if (!n)
		return 0;
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, (const char *)keys + i * ksz,
					(const char *)vals + i * vsz, BPF_ANY) < 0)
			return -errno;
	return 0;
}

static bool lb_ids_contain(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static int lb_svc_ip_ref(struct lb *lb, const struct lb_fe_key *k, int delta)
{
	int fd = LB_FD(lb, lb_svc_ips);
	struct lb_ip_key ik;
	struct lb_ip_val iv = { .refs = 1 };

	memcpy(ik.addr, k->addr, sizeof(ik.addr));
	/* The address's first frontend (most of them): one write, no lookup. */
	if (delta > 0 && bpf_map_update_elem(fd, &ik, &iv, BPF_NOEXIST) == 0)
		return 0;
	iv.refs = 0;
	if (bpf_map_lookup_elem(fd, &ik, &iv) < 0)
		iv.refs = 0;
	if (delta < 0 && iv.refs <= 1)
		return bpf_map_delete_elem(fd, &ik) < 0 && errno != ENOENT ? -errno : 0;
	iv.refs += delta > 0 ? 1 : -1;
	return bpf_map_update_elem(fd, &ik, &iv, BPF_ANY) < 0 ? -errno : 0;
}

/* lb_slots entries (blocks of LB_SLOT_BLOCK slots) that count slots fill */
static uint32_t lb_slot_blocks(size_t count)
{
	return (uint32_t)((count + LB_SLOT_BLOCK - 1) / LB_SLOT_BLOCK);
}

static void lb_gen_delete(struct lb *lb, uint32_t fe_id, const struct lb_fe_val *v)
{
	struct lb_slot_key keys[LB_BACKENDS_MAX / LB_SLOT_BLOCK];
	struct lb_maglev_key mk = { .fe_id = fe_id, .gen = v->gen };
	uint32_t i, n = lb_slot_blocks(v->count), cnt;

	if (n > ARRAY_SIZE(keys)) /* never written so; a damaged value */
		n = ARRAY_SIZE(keys);
	cnt = n;
	for (i = 0; i < n; i++)
		keys[i] = (struct lb_slot_key){ .fe_id = fe_id, .gen = v->gen,
						.slot = i * LB_SLOT_BLOCK };
	if (n <= 1 || bpf_map_delete_batch(LB_FD(lb, lb_slots), keys, &cnt, NULL) < 0)
		for (i = 0; i < n; i++)
			bpf_map_delete_elem(LB_FD(lb, lb_slots), &keys[i]);
	if (v->algo == LB_FE_ALGO_MAGLEV)
		bpf_map_delete_elem(LB_FD(lb, lb_maglev), &mk);
}

static int lb_maglev_write(struct lb *lb, uint32_t fe_id, uint32_t gen,
			   const uint32_t *sel, size_t n_sel)
{
	_cleanup_free_ struct lb_maglev_backend *mb = NULL;
	_cleanup_free_ struct lb_maglev_val *t = NULL;
	struct lb_maglev_key k = { .fe_id = fe_id, .gen = gen };
	size_t i;
	int r;

	mb = calloc(n_sel, sizeof(*mb));
	t = calloc(1, sizeof(*t));
	if (!mb || !t)
		return -ENOMEM;
	for (i = 0; i < n_sel; i++) {
		struct lb_be *b = lb_be_get_id(lb, sel[i]);

		mb[i].name = (const uint8_t *)&b->val;
		mb[i].name_len = BE_KEY_LEN;
		mb[i].id = sel[i];
	}
	r = lb_maglev_fill(mb, n_sel, t->backend_id, LB_MAGLEV_M);
	if (r < 0)
		return r;
	return bpf_map_update_elem(LB_FD(lb, lb_maglev), &k, t, BPF_ANY) < 0 ? -errno : 0;
}

/* What lb_frontend_set builds, step by step. */
struct fe_set {
	struct lb *lb;
	const struct lb_frontend *fe;
	const struct lb_frontend_params *params;
	struct lb_fe_key key;
	struct lb_fe *e;
	bool created;               /* e is new: undone on failure */
	struct lb_fe_val ov, nv;    /* the generation before and the new one */
	uint32_t *bids, *sel;       /* every backend (a reference held), the selectable */
	size_t n_bids, n_sel;
	size_t n_dirty;             /* lb_backends entries to write: bk, bv */
	size_t n_blocks;            /* lb_slots entries: sk, sv */
	/* the map writes' keys and values, in lb->scratch */
	struct lb_be_key *bk;
	struct lb_be_val *bv;
	struct lb_slot_key *sk; /* blocks of LB_SLOT_BLOCK slots */
	struct lb_slot_val *sv;
	struct lb_member_key *mk; /* frontends with affinity only */
	struct lb_member_val *mv;
};

/* Points the arrays of s (n entries each, sel included) into lb->scratch,
 * grown as needed: no allocation per frontend once it is large enough. */
static int fe_scratch(struct fe_set *s, size_t n)
{
#define SCRATCH_PART(p, n) ((((n) ? (n) : 1) * sizeof(*(p)) + 7) & ~(size_t)7)
	size_t nb = lb_slot_blocks(n);
	size_t need = SCRATCH_PART(s->sel, n) + SCRATCH_PART(s->bk, n) + SCRATCH_PART(s->bv, n) +
		      SCRATCH_PART(s->sk, nb) + SCRATCH_PART(s->sv, nb) +
		      SCRATCH_PART(s->mk, n) + SCRATCH_PART(s->mv, n);
	struct lb *lb = s->lb;
	char *p;

	if (need > lb->scratch_size) {
		p = realloc(lb->scratch, need);
		if (!p)
			return -ENOMEM;
		lb->scratch = p;
		lb->scratch_size = need;
	}
	p = lb->scratch;
	s->sel = (void *)p, p += SCRATCH_PART(s->sel, n);
	s->bk = (void *)p, p += SCRATCH_PART(s->bk, n);
	s->bv = (void *)p, p += SCRATCH_PART(s->bv, n);
	s->sk = (void *)p, p += SCRATCH_PART(s->sk, nb);
	s->sv = (void *)p, p += SCRATCH_PART(s->sv, nb);
	s->mk = (void *)p, p += SCRATCH_PART(s->mk, n);
	s->mv = (void *)p;
	return 0;
#undef SCRATCH_PART
}

/* The frontend, its parameters and every backend well formed. */
static int fe_set_check(struct fe_set *s, const struct lb_backend *backends, size_t n)
{
	int r;

	if (!s->lb || (n && !backends) || n > LB_BACKENDS_MAX)
		return -EINVAL;
	if (s->params->algorithm > LB_ALG_MAGLEV)
		return -EINVAL;
	r = lb_fe_key_make(s->fe, &s->key);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct lb_be_val v;

		r = lb_be_key_make(&backends[i], s->fe->proto, &v);
		if (r < 0)
			return r;
		if (s->fe->addr.family == AF_INET && backends[i].addr.family != AF_INET)
			return -EINVAL;
	}
	return 0;
}

/* The frontend's index entry, found or created (with an id). */
static int fe_entry_get(struct fe_set *s)
{
	struct lb *lb = s->lb;
	struct lb_fe *e = lb_fe_find(lb, &s->key);
	int r;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		r = lb_idvec_alloc(&lb->fe_ids, &e->val.id);
		if (r < 0) {
			free(e);
			return r;
		}
		e->key = s->key;
		r = lb_idvec_put(&lb->fe_ids, e->val.id, e);
		if (r < 0) {
			free(e);
			return r;
		}
		r = lb_fe_insert(lb, e);
		if (r < 0) {
			lb_idvec_release(&lb->fe_ids, e->val.id);
			free(e);
			return r;
		}
		s->created = true;
	}
	s->e = e;
	s->ov = e->val;
	return 0;
}

/* 1. backends: ids, references, lb_backends entries (the new or changed). */
static int fe_backends_ref(struct fe_set *s, const struct lb_backend *backends, size_t n)
{
	struct lb *lb = s->lb;
	int r;

	s->bids = calloc(n ? n : 1, sizeof(*s->bids));
	if (!s->bids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct lb_be_val v;
		uint32_t id = 0;
		bool dirty = false;

		lb_be_key_make(&backends[i], s->fe->proto, &v);
		r = lb_be_get(lb, &v, &id, &dirty);
		if (r < 0)
			return r;
		if (lb_ids_contain(s->bids, s->n_bids, id)) {
			lb_be_unref(lb, id); /* listed twice */
			continue;
		}
		if (dirty) {
			s->bk[s->n_dirty].id = id;
			s->bv[s->n_dirty++] = v;
		}
		s->bids[s->n_bids++] = id;
		if (v.state != LB_BE_QUARANTINED)
			s->sel[s->n_sel++] = id;
	}
	return 0;
}

/* The new generation's value, slot blocks and (with affinity) members. */
static void fe_gen_build(struct fe_set *s)
{
	struct lb_fe_val *nv = &s->nv;
	size_t n = s->n_sel;

	*nv = (struct lb_fe_val){
		.id = s->e->val.id,
		.gen = s->ov.gen + 1,
		.count = (uint16_t)n,
		.kind = s->fe->kind,
		.algo = s->params->algorithm,
		.flags = s->params->flags,
		.affinity = s->params->affinity_timeout,
	};
	s->n_blocks = lb_slot_blocks(n);
	memset(s->sv, 0, s->n_blocks * sizeof(*s->sv));
	for (size_t b = 0; b < s->n_blocks; b++)
		s->sk[b] = (struct lb_slot_key){ .fe_id = nv->id, .gen = nv->gen,
						 .slot = (uint32_t)(b * LB_SLOT_BLOCK) };
	for (size_t i = 0; i < n; i++)
		s->sv[i / LB_SLOT_BLOCK].backend_id[i % LB_SLOT_BLOCK] = s->sel[i];
	for (size_t i = 0; nv->affinity && i < n; i++) {
		s->mk[i] = (struct lb_member_key){ .fe_id = nv->id, .backend_id = s->sel[i] };
		s->mv[i] = (struct lb_member_val){ .gen = nv->gen };
	}
}

/* 2. the new generation, complete, beside the old one: backends, slots,
 * members, the Maglev table, the name, the service address's reference. */
static int fe_gen_write(struct fe_set *s)
{
	struct lb *lb = s->lb;
	struct lb_fe_val *nv = &s->nv;
	size_t n = s->n_sel;
	int r;

	r = lb_update_many(LB_FD(lb, lb_backends), s->bk, sizeof(*s->bk), s->bv, sizeof(*s->bv),
			   s->n_dirty);
	if (r == 0)
		r = lb_update_many(LB_FD(lb, lb_slots), s->sk, sizeof(*s->sk), s->sv,
				   sizeof(*s->sv), s->n_blocks);
	if (r == 0 && nv->affinity)
		r = lb_update_many(LB_FD(lb, lb_members), s->mk, sizeof(*s->mk), s->mv,
				   sizeof(*s->mv), n);
	if (r == 0 && nv->algo == LB_FE_ALGO_MAGLEV && n)
		r = lb_maglev_write(lb, nv->id, nv->gen, s->sel, n);
	if (r < 0)
		return r;
	if (s->params->name) {
		struct lb_name_val name = { { 0 } };

		strncpy(name.name, s->params->name, sizeof(name.name) - 1);
		bpf_map_update_elem(LB_FD(lb, lb_names), &(struct lb_id_key){ nv->id }, &name,
				    BPF_ANY);
	}
	if (s->fe->kind != LB_KIND_NODE_PORT && !s->e->counts_ip) {
		r = lb_svc_ip_ref(lb, &s->key, +1);
		if (r < 0)
			return r;
		s->e->counts_ip = true;
	} else if (s->fe->kind == LB_KIND_NODE_PORT && s->e->counts_ip) {
		lb_svc_ip_ref(lb, &s->key, -1);
		s->e->counts_ip = false;
	}
	return 0;
}

/* 3. the flip: one map update. */
static int fe_flip(struct fe_set *s)
{
	if (bpf_map_update_elem(LB_FD(s->lb, lb_frontends), &s->key, &s->nv, BPF_ANY) < 0)
		return -errno;
	s->e->val = s->nv;
	return 0;
}

/* 4. the old generation goes; the index keeps the new backend set. */
static void fe_old_gen_drop(struct fe_set *s)
{
	struct lb *lb = s->lb;
	struct lb_fe *e = s->e;

	if (!s->created)
		lb_gen_delete(lb, s->nv.id, &s->ov);
	for (size_t i = 0; i < e->n_bids; i++) {
		uint32_t id = e->bids[i];

		if (s->ov.affinity && (!s->nv.affinity || !lb_ids_contain(s->sel, s->n_sel, id))) {
			struct lb_member_key gone = { .fe_id = s->nv.id, .backend_id = id };

			bpf_map_delete_elem(LB_FD(lb, lb_members), &gone);
		}
		lb_be_unref(lb, id);
	}
	free(e->bids);
	e->bids = TAKE_PTR(s->bids);
	e->n_bids = s->n_bids;
	e->epoch = lb->epoch;
}

/* A failed step 2 or 3: the new generation and the members only it
 * added go. */
static void fe_gen_undo(struct fe_set *s)
{
	struct lb_fe_val gone = s->nv;

	gone.count = (uint16_t)s->n_sel;
	lb_gen_delete(s->lb, s->nv.id, &gone);
	for (size_t i = 0; s->nv.affinity && i < s->n_sel; i++) {
		struct lb_member_key m = { .fe_id = s->nv.id, .backend_id = s->sel[i] };

		if (!s->ov.affinity || !lb_ids_contain(s->e->bids, s->e->n_bids, s->sel[i]))
			bpf_map_delete_elem(LB_FD(s->lb, lb_members), &m);
	}
}

/* Any failure: the references taken go, and a frontend created here. */
static void fe_set_undo(struct fe_set *s)
{
	struct lb *lb = s->lb;
	struct lb_fe *e = s->e;

	for (size_t i = 0; i < s->n_bids; i++)
		lb_be_unref(lb, s->bids[i]);
	if (s->created) {
		if (e->counts_ip)
			lb_svc_ip_ref(lb, &s->key, -1);
		bpf_map_delete_elem(LB_FD(lb, lb_names), &(struct lb_id_key){ e->val.id });
		lb_fe_unlink(lb, e);
		lb_idvec_release(&lb->fe_ids, e->val.id);
		free(e);
	}
}

int lb_frontend_set(struct lb *lb, const struct lb_frontend *fe,
		    const struct lb_backend *backends, size_t n,
		    const struct lb_frontend_params *params)
{
	static const struct lb_frontend_params defaults = { 0 };
	struct fe_set s = { .lb = lb, .fe = fe, .params = params ? params : &defaults };
	int r;

	r = fe_set_check(&s, backends, n);
	if (r == 0)
		r = fe_scratch(&s, n);
	if (r == 0)
		r = fe_entry_get(&s);
	if (r < 0)
		return r;
	r = fe_backends_ref(&s, backends, n);
	if (r == 0) {
		fe_gen_build(&s);
		r = fe_gen_write(&s);
		if (r == 0)
			r = fe_flip(&s);
		if (r < 0)
			fe_gen_undo(&s);
	}
	if (r < 0)
		fe_set_undo(&s);
	else
		fe_old_gen_drop(&s);
	free(s.bids);
	return r;
}

/* ---- many frontends at once ------------------------------------------ */

/* One map's writes of a batch: keys, values and the set each belongs to. */
struct fe_writes {
	char *k, *v;
	uint32_t *own;
	size_t n, cap, ksz, vsz;
};

/* New frontends (not in the maps yet, random selection, no affinity: most
 * of a full sync) set by lb_frontend_set_many: each one's entries are
 * queued here and every map is written with one batch, the frontends last,
 * so that each one still flips to a complete backend set. */
#define FE_BATCH_MAX 1024

struct fe_batch {
	struct lb *lb;
	struct fe_set *sets;
	size_t *req;  /* the request of each set, for its result */
	int *err;     /* each set's result */
	bool *ip_ok;  /* its service address reference was written */
	size_t n;
	struct fe_writes be, slots, names, ips, fes;
};

static int fe_writes_add(struct fe_writes *w, const void *k, const void *v, uint32_t own)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		char *nk = realloc(w->k, cap * w->ksz), *nv;
		uint32_t *no;

		if (!nk)
			return -ENOMEM;
		w->k = nk;
		nv = realloc(w->v, cap * w->vsz);
		if (!nv)
			return -ENOMEM;
		w->v = nv;
		no = realloc(w->own, cap * sizeof(*no));
		if (!no)
			return -ENOMEM;
		w->own = no;
		w->cap = cap;
	}
	memcpy(w->k + w->n * w->ksz, k, w->ksz);
	memcpy(w->v + w->n * w->vsz, v, w->vsz);
	w->own[w->n++] = own;
	return 0;
}

static void fe_writes_free(struct fe_writes *w)
{
	free(w->k);
	free(w->v);
	free(w->own);
}

/* A service address's first frontend is a NOEXIST write; a later one
 * counts one more reference. */
static int fe_ip_write_one(struct lb *lb, int fd, const void *k, const void *v)
{
	struct lb_fe_key fk = { 0 };

	(void)fd;
	(void)v;
	memcpy(fk.addr, k, sizeof(fk.addr));
	return lb_svc_ip_ref(lb, &fk, +1);
}

static int fe_write_one(struct lb *lb, int fd, const void *k, const void *v)
{
	(void)lb;
	return bpf_map_update_elem(fd, k, v, BPF_ANY) < 0 ? -errno : 0;
}

/* Writes w into fd, a batch at a time (batched: the kernel takes no
 * BPF_NOEXIST there); an entry the kernel refuses, or every entry when not
 * batched, is written alone with one(), and when that fails its set's
 * result becomes the error (bad: per set, or NULL when errors do not
 * count). */
static void fe_writes_flush(struct fe_batch *b, int fd, struct fe_writes *w, bool batched,
			    int (*one)(struct lb *lb, int fd, const void *k, const void *v),
			    int *bad)
{
	size_t done = 0;

	while (done < w->n) {
		uint32_t cnt = (uint32_t)(w->n - done);
		int r;

		if (!batched)
			cnt = 0;
		else if (bpf_map_update_batch(fd, w->k + done * w->ksz, w->v + done * w->vsz, &cnt,
					      NULL) == 0)
			break;
		else if (cnt >= w->n - done)
			cnt = 0; /* refused as a whole: nothing written */
		done += cnt;
		if (done >= w->n)
			break;
		r = one(b->lb, fd, w->k + done * w->ksz, w->v + done * w->vsz);
		if (r < 0 && bad && !bad[w->own[done]])
			bad[w->own[done]] = r;
		done++;
	}
	w->n = 0;
}

/* Sets whose backend a refused lb_backends write named fail too. */
static void fe_batch_backend_failed(struct fe_batch *b, uint32_t id, int r)
{
	for (size_t i = 0; i < b->n; i++)
		if (!b->err[i] && lb_ids_contain(b->sets[i].bids, b->sets[i].n_bids, id))
			b->err[i] = r;
}

/* Writes every queued set: backends, slot blocks, names, service
 * addresses, then the flips; results in results[req]. */
static void fe_batch_flush(struct fe_batch *b, int *results)
{
	struct lb *lb = b->lb;
	size_t i, n_be = b->be.n;
	int *be_bad;

	if (!b->n)
		return;
	be_bad = calloc(b->n, sizeof(*be_bad));
	fe_writes_flush(b, LB_FD(lb, lb_backends), &b->be, true, fe_write_one,
			be_bad ? be_bad : b->err);
	for (i = 0; be_bad && i < b->n; i++)
		if (be_bad[i]) /* the backends the set wrote fail every set using them */
			for (size_t j = 0; j < n_be; j++)
				if (b->be.own[j] == i)
					fe_batch_backend_failed(b, ((struct lb_be_key *)(void *)
								    (b->be.k + j * b->be.ksz))->id,
								be_bad[i]);
	free(be_bad);
	fe_writes_flush(b, LB_FD(lb, lb_slots), &b->slots, true, fe_write_one, b->err);
	fe_writes_flush(b, LB_FD(lb, lb_names), &b->names, true, fe_write_one, NULL);
	{
		int ip_bad[FE_BATCH_MAX] = { 0 };

		fe_writes_flush(b, LB_FD(lb, lb_svc_ips), &b->ips, false, fe_ip_write_one, ip_bad);
		for (i = 0; i < b->n; i++) {
			b->sets[i].e->counts_ip = b->ip_ok[i] && !ip_bad[i];
			if (ip_bad[i] && !b->err[i])
				b->err[i] = ip_bad[i];
		}
	}
	for (i = 0; i < b->n; i++) /* the flips of the sets still whole */
		if (!b->err[i] && fe_writes_add(&b->fes, &b->sets[i].key, &b->sets[i].nv, (uint32_t)i) < 0)
			b->err[i] = -ENOMEM;
	fe_writes_flush(b, LB_FD(lb, lb_frontends), &b->fes, true, fe_write_one, b->err);
	for (i = 0; i < b->n; i++) {
		struct fe_set *s = &b->sets[i];

		if (b->err[i]) {
			fe_gen_undo(s);
			fe_set_undo(s);
			free(s->bids);
		} else {
			s->e->val = s->nv;
			fe_old_gen_drop(s);
		}
		results[b->req[i]] = b->err[i];
	}
	b->n = 0;
}

/* Queues the set s of request req (a new frontend, built: ids,
 * references, new generation); on failure s is undone. */
static int fe_batch_add(struct fe_batch *b, struct fe_set *s, size_t req)
{
	uint32_t own = (uint32_t)b->n;
	size_t n_be = b->be.n, n_slots = b->slots.n, n_names = b->names.n;
	struct lb_ip_key ik;
	struct lb_ip_val iv = { .refs = 1 };
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < s->n_dirty; i++)
		r = fe_writes_add(&b->be, &s->bk[i], &s->bv[i], own);
	for (i = 0; r == 0 && i < s->n_blocks; i++)
		r = fe_writes_add(&b->slots, &s->sk[i], &s->sv[i], own);
	if (r == 0 && s->params->name) {
		struct lb_name_val name = { { 0 } };

		strncpy(name.name, s->params->name, sizeof(name.name) - 1);
		r = fe_writes_add(&b->names, &(struct lb_id_key){ s->nv.id }, &name, own);
	}
	b->ip_ok[own] = s->fe->kind != LB_KIND_NODE_PORT;
	memcpy(ik.addr, s->key.addr, sizeof(ik.addr));
	if (r == 0 && b->ip_ok[own])
		r = fe_writes_add(&b->ips, &ik, &iv, own);
	if (r < 0) { /* nothing of it queued: undone now */
		b->be.n = n_be, b->slots.n = n_slots, b->names.n = n_names;
		fe_gen_undo(s);
		fe_set_undo(s);
		free(s->bids);
		return r;
	}
	s->sel = NULL; /* in lb->scratch, which the next set reuses */
	b->sets[own] = *s;
	b->req[own] = req;
	b->n++;
	return 0;
}

/* The request goes through the batch: a frontend the maps do not have,
 * random selection, no affinity. */
static bool fe_batchable(struct fe_set *s)
{
	return !lb_fe_find(s->lb, &s->key) && s->params->algorithm == LB_ALG_RANDOM &&
	       !s->params->affinity_timeout;
}

static int fe_batch_init(struct fe_batch *b, struct lb *lb)
{
	*b = (struct fe_batch){ .lb = lb };
	b->be.ksz = sizeof(struct lb_be_key), b->be.vsz = sizeof(struct lb_be_val);
	b->slots.ksz = sizeof(struct lb_slot_key), b->slots.vsz = sizeof(struct lb_slot_val);
	b->names.ksz = sizeof(struct lb_id_key), b->names.vsz = sizeof(struct lb_name_val);
	b->ips.ksz = sizeof(struct lb_ip_key), b->ips.vsz = sizeof(struct lb_ip_val);
	b->fes.ksz = sizeof(struct lb_fe_key), b->fes.vsz = sizeof(struct lb_fe_val);
	b->sets = calloc(FE_BATCH_MAX, sizeof(*b->sets));
	b->req = calloc(FE_BATCH_MAX, sizeof(*b->req));
	b->err = calloc(FE_BATCH_MAX, sizeof(*b->err));
	b->ip_ok = calloc(FE_BATCH_MAX, sizeof(*b->ip_ok));
	return b->sets && b->req && b->err && b->ip_ok ? 0 : -ENOMEM;
}

static void fe_batch_free(struct fe_batch *b)
{
	free(b->sets);
	free(b->req);
	free(b->err);
	free(b->ip_ok);
	fe_writes_free(&b->be);
	fe_writes_free(&b->slots);
	fe_writes_free(&b->names);
	fe_writes_free(&b->ips);
	fe_writes_free(&b->fes);
}

/* Builds request i (checked in s) as a new frontend and queues it. */
static int fe_batch_request(struct fe_batch *b, struct fe_set *s,
			    const struct lb_frontend_req *q, size_t i)
{
	int r;

	r = fe_scratch(s, q->n);
	if (r == 0)
		r = fe_entry_get(s);
	if (r < 0)
		return r;
	r = fe_backends_ref(s, q->backends, q->n);
	if (r < 0) {
		fe_set_undo(s);
		free(s->bids);
		return r;
	}
	fe_gen_build(s);
	b->err[b->n] = 0;
	return fe_batch_add(b, s, i);
}

int lb_frontend_set_many(struct lb *lb, const struct lb_frontend_req *reqs, size_t n,
			 int *results)
{
	struct fe_batch b;
	size_t i, failed = 0;
	int r;

	if (!lb || (n && (!reqs || !results)))
		return -EINVAL;
	r = fe_batch_init(&b, lb);
	for (i = 0; r == 0 && i < n; i++) {
		const struct lb_frontend_req *q = &reqs[i];
		struct fe_set s = { .lb = lb, .fe = &q->fe, .params = &q->params };

		results[i] = fe_set_check(&s, q->backends, q->n);
		if (results[i] < 0)
			continue;
		if (!fe_batchable(&s)) {
			fe_batch_flush(&b, results); /* what it shares is written first */
			results[i] = lb_frontend_set(lb, &q->fe, q->backends, q->n, &q->params);
			continue;
		}
		results[i] = fe_batch_request(&b, &s, q, i);
		if (b.n == FE_BATCH_MAX)
			fe_batch_flush(&b, results);
	}
	if (r == 0)
		fe_batch_flush(&b, results);
	fe_batch_free(&b);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		failed += results[i] < 0;
	return (int)failed;
}

static void lb_fe_remove(struct lb *lb, struct lb_fe *e)
{
	struct lb_id_key ik = { .id = e->val.id };
	size_t i;

	bpf_map_delete_elem(LB_FD(lb, lb_frontends), &e->key);
	lb_gen_delete(lb, e->val.id, &e->val);
	for (i = 0; i < e->n_bids; i++) {
		struct lb_member_key mk = { .fe_id = e->val.id, .backend_id = e->bids[i] };

		if (e->val.affinity)
			bpf_map_delete_elem(LB_FD(lb, lb_members), &mk);
		lb_be_unref(lb, e->bids[i]);
	}
	if (e->counts_ip)
		lb_svc_ip_ref(lb, &e->key, -1);
	bpf_map_delete_elem(LB_FD(lb, lb_names), &ik);
	bpf_map_delete_elem(LB_FD(lb, lb_fe_stats), &ik);
	lb_fe_unlink(lb, e);
	lb_idvec_release(&lb->fe_ids, e->val.id);
	free(e->bids);
	free(e);
}

/* The installed frontend fe names, in *out. */
static int lb_fe_lookup(struct lb *lb, const struct lb_frontend *fe, struct lb_fe **out)
{
	struct lb_fe_key key;
	struct lb_fe *e;
	int r;

	r = lb_fe_key_make(fe, &key);
	if (r < 0)
		return r;
	e = lb_fe_find(lb, &key);
	if (!e)
		return -ENOENT;
	*out = e;
	return 0;
}

int lb_frontend_delete(struct lb *lb, const struct lb_frontend *fe)
{
	struct lb_fe *e;
	int r;

	if (!lb)
		return -EINVAL;
	r = lb_fe_lookup(lb, fe, &e);
	if (r < 0)
		return r;
	lb_fe_remove(lb, e);
	return 0;
}

int lb_sync_begin(struct lb *lb)
{
	if (!lb)
		return -EINVAL;
	lb->epoch++;
	lb->syncing = true;
	return 0;
}

int lb_sync_end(struct lb *lb)
{
	uint32_t id;

	if (!lb || !lb->syncing)
		return -EINVAL;
	for (id = 1; id < lb->fe_ids.ids.next; id++) {
		struct lb_fe *e = lb_idvec_get(&lb->fe_ids, id);

		if (e && e->epoch != lb->epoch)
			lb_fe_remove(lb, e);
	}
	/* backends no frontend references (left by a crash) */
	for (id = 1; id < lb->bes.ids.next; id++) {
		struct lb_be *b = lb_be_get_id(lb, id);

		if (b && b->refs == 0) {
			b->refs = 1;
			lb_be_unref(lb, id);
		}
	}
	lb->syncing = false;
	return 0;
}

/* ---- counters ------------------------------------------------------- */

static int lb_stats_sum(int fd, uint32_t id, struct lb_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct lb_stats_val *v = NULL;
	struct lb_id_key k = { .id = id };
	struct lb_counters c = { 0 };
	int i;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &k, v) < 0) {
		if (errno != ENOENT)
			return -errno;
		*out = c; /* known, nothing counted yet */
		return 0;
	}
	for (i = 0; i < ncpu; i++) {
		c.packets += v[i].packets;
		c.bytes += v[i].bytes;
		c.connections += v[i].connections;
	}
	*out = c;
	return 0;
}

int lb_frontend_stats(struct lb *lb, const struct lb_frontend *fe,
		      struct lb_counters *out)
{
	struct lb_fe *e;
	int r;

	if (!lb || !out)
		return -EINVAL;
	r = lb_fe_lookup(lb, fe, &e);
	if (r < 0)
		return r;
	return lb_stats_sum(LB_FD(lb, lb_fe_stats), e->val.id, out);
}

int lb_backend_id(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		  uint32_t *out)
{
	struct lb_be_val v;
	uint32_t id;
	int r;

	if (!lb || !out)
		return -EINVAL;
	r = lb_be_key_make(be, proto, &v);
	if (r < 0)
		return r;
	id = lb_be_find(lb, &v);
	if (!id)
		return -ENOENT;
	*out = id;
	return 0;
}

int lb_backend_stats(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		     struct lb_counters *out)
{
	uint32_t id;
	int r;

	if (!out)
		return -EINVAL;
	r = lb_backend_id(lb, be, proto, &id);
	if (r < 0)
		return r;
	return lb_stats_sum(LB_FD(lb, lb_be_stats), id, out);
}
