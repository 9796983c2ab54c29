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
	struct lb_be_key *bk = s->bk;
	struct lb_be_val *bv = s->bv;
	size_t n_dirty = 0;
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
			bk[n_dirty].id = id;
			bv[n_dirty++] = v;
		}
		s->bids[s->n_bids++] = id;
		if (v.state != LB_BE_QUARANTINED)
			s->sel[s->n_sel++] = id;
	}
	return lb_update_many(LB_FD(lb, lb_backends), bk, sizeof(*bk), bv, sizeof(*bv), n_dirty);
}

/* The new generation's slot blocks and, with affinity, its members. */
static int fe_slots_write(struct fe_set *s)
{
	const struct lb_fe_val *nv = &s->nv;
	size_t n = s->n_sel, nb = lb_slot_blocks(n);
	struct lb_member_key *mk = s->mk;
	struct lb_member_val *mv = s->mv;
	int r;

	memset(s->sv, 0, nb * sizeof(*s->sv));
	for (size_t b = 0; b < nb; b++)
		s->sk[b] = (struct lb_slot_key){ .fe_id = nv->id, .gen = nv->gen,
						 .slot = (uint32_t)(b * LB_SLOT_BLOCK) };
	for (size_t i = 0; i < n; i++)
		s->sv[i / LB_SLOT_BLOCK].backend_id[i % LB_SLOT_BLOCK] = s->sel[i];
	r = lb_update_many(LB_FD(s->lb, lb_slots), s->sk, sizeof(*s->sk), s->sv,
			   sizeof(*s->sv), nb);
	if (r < 0 || !nv->affinity)
		return r;
	for (size_t i = 0; i < n; i++) {
		mk[i] = (struct lb_member_key){ .fe_id = nv->id, .backend_id = s->sel[i] };
		mv[i] = (struct lb_member_val){ .gen = nv->gen };
	}
	return lb_update_many(LB_FD(s->lb, lb_members), mk, sizeof(*mk), mv, sizeof(*mv), n);
}

/* 2. the new generation, complete, beside the old one: slots, members,
 * the Maglev table, the name, the service address's reference. */
static int fe_gen_write(struct fe_set *s)
{
	struct lb *lb = s->lb;
	struct lb_fe_val *nv = &s->nv;
	size_t n = s->n_sel;
	int r;

	*nv = (struct lb_fe_val){
		.id = s->e->val.id,
		.gen = s->ov.gen + 1,
		.count = (uint16_t)n,
		.kind = s->fe->kind,
		.algo = s->params->algorithm,
		.flags = s->params->flags,
		.affinity = s->params->affinity_timeout,
	};
	r = fe_slots_write(s);
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
