/* lb: the in-memory index of the pinned maps (frontends by key and by id,
 * backends by address and by id). */
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

/* ---- small containers ---------------------------------------------- */

static uint64_t lb_hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static int lb_table_grow(struct lb_table *t, size_t next_off, size_t key_off,
			 size_t key_len)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024, i;
	void **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		void *e = t->buckets[i];

		while (e) {
			void *nx = *(void **)((char *)e + next_off);
			size_t h = lb_hash_bytes((char *)e + key_off, key_len) % nb;

			*(void **)((char *)e + next_off) = b[h];
			b[h] = e;
			e = nx;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

#define FE_NEXT offsetof(struct lb_fe, next_key)
#define FE_KEY offsetof(struct lb_fe, key)

struct lb_fe *lb_fe_find(struct lb *lb, const struct lb_fe_key *k)
{
	struct lb_fe *e;

	if (!lb->fe_by_key.nbuckets)
		return NULL;
	e = lb->fe_by_key.buckets[lb_hash_bytes(k, sizeof(*k)) % lb->fe_by_key.nbuckets];
	for (; e; e = e->next_key)
		if (memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	return NULL;
}

int lb_fe_insert(struct lb *lb, struct lb_fe *e)
{
	struct lb_table *t = &lb->fe_by_key;
	size_t h;
	int r;

	if (t->n >= t->nbuckets) {
		r = lb_table_grow(t, FE_NEXT, FE_KEY, sizeof(struct lb_fe_key));
		if (r < 0)
			return r;
	}
	h = lb_hash_bytes(&e->key, sizeof(e->key)) % t->nbuckets;
	e->next_key = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
	return 0;
}

void lb_fe_unlink(struct lb *lb, struct lb_fe *e)
{
	struct lb_table *t = &lb->fe_by_key;
	struct lb_fe **p;

	p = (struct lb_fe **)&t->buckets[lb_hash_bytes(&e->key, sizeof(e->key)) % t->nbuckets];
	for (; *p; p = &(*p)->next_key)
		if (*p == e) {
			*p = e->next_key;
			t->n--;
			return;
		}
}

/* ---- backends ------------------------------------------------------ */

struct lb_be *lb_be_get_id(const struct lb *lb, uint32_t id)
{
	const struct lb_bes *t = &lb->bes;

	return id && id < t->cap && t->v[id].val.proto ? &t->v[id] : NULL;
}

static size_t be_bucket(const struct lb_bes *t, const struct lb_be_val *k)
{
	return lb_hash_bytes(k, BE_KEY_LEN) & (t->nbuckets - 1);
}

uint32_t lb_be_find(const struct lb *lb, const struct lb_be_val *k)
{
	const struct lb_bes *t = &lb->bes;
	uint32_t id;

	if (!t->nbuckets)
		return 0;
	for (id = t->buckets[be_bucket(t, k)]; id; id = t->v[id].next)
		if (memcmp(&t->v[id].val, k, BE_KEY_LEN) == 0)
			return id;
	return 0;
}

static void be_link(struct lb_bes *t, uint32_t id)
{
	size_t h = be_bucket(t, &t->v[id].val);

	t->v[id].next = t->buckets[h];
	t->buckets[h] = id;
}

/* Room for element id in the array *v of *cap elements of esize bytes:
 * doubled (from 1024) as needed, by a quarter past 65,536 elements (at
 * 100,000 backends doubling left 0.9 MB of zeroed slack; realloc of a
 * chunk that large moves pages, not bytes), the new part zeroed. */
static int id_array_fit(void **v, size_t *cap, size_t esize, uint32_t id)
{
	size_t nc = *cap ? *cap : 1024;
	char *nv;

	if (id < *cap)
		return 0;
	while (nc <= id)
		nc += nc < 65536 ? nc : nc / 4;
	nv = realloc(*v, nc * esize);
	if (!nv)
		return -ENOMEM;
	memset(nv + *cap * esize, 0, (nc - *cap) * esize);
	*v = nv;
	*cap = nc;
	return 0;
}

/* Room for id in v, and buckets for one more backend. */
static int bes_grow(struct lb_bes *t, uint32_t id)
{
	int r = id_array_fit((void **)&t->v, &t->cap, sizeof(*t->v), id);

	if (r < 0)
		return r;
	if (t->n >= t->nbuckets) {
		size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024;
		uint32_t *b = calloc(nb, sizeof(*b));

		if (!b)
			return -ENOMEM;
		free(t->buckets);
		t->buckets = b;
		t->nbuckets = nb;
		for (uint32_t i = 1; i < t->cap; i++)
			if (t->v[i].val.proto)
				be_link(t, i);
	}
	return 0;
}

static int lb_ids_alloc(struct lb_ids *ids, uint32_t *out);
static void lb_ids_used(struct lb_ids *ids, uint32_t id);
static void lb_ids_release(struct lb_ids *ids, uint32_t id);

int lb_be_add(struct lb *lb, const struct lb_be_val *v, uint32_t id, uint32_t *out)
{
	struct lb_bes *t = &lb->bes;
	int r;
	bool fresh = !id;

	if (!v->proto)
		return -EINVAL;
	if (fresh) {
		r = lb_ids_alloc(&t->ids, &id);
		if (r < 0)
			return r;
	}
	r = bes_grow(t, id);
	if (r == 0 && t->v[id].val.proto)
		r = -EEXIST;
	if (r < 0) {
		if (fresh && id < t->ids.next)
			lb_ids_release(&t->ids, id); /* it came from the free list */
		return r;
	}
	lb_ids_used(&t->ids, id);
	t->v[id] = (struct lb_be){ .val = *v };
	be_link(t, id);
	t->n++;
	*out = id;
	return 0;
}

void lb_be_remove(struct lb *lb, uint32_t id)
{
	struct lb_bes *t = &lb->bes;
	uint32_t *p;

	if (!lb_be_get_id(lb, id))
		return;
	for (p = &t->buckets[be_bucket(t, &t->v[id].val)]; *p; p = &t->v[*p].next)
		if (*p == id) {
			*p = t->v[id].next;
			break;
		}
	t->v[id] = (struct lb_be){ 0 };
	t->n--;
	lb_ids_release(&t->ids, id);
}

void lb_bes_free(struct lb_bes *t)
{
	free(t->v);
	free(t->buckets);
	free(t->ids.free_ids);
}

/* ---- ids ------------------------------------------------------------- */

/* Ids start at 1 so that 0 never names anything. */
static int lb_ids_alloc(struct lb_ids *ids, uint32_t *out)
{
	if (ids->n_free) {
		*out = ids->free_ids[--ids->n_free];
		return 0;
	}
	if (ids->next == 0)
		ids->next = 1;
	if (ids->next == UINT32_MAX)
		return -ENOSPC;
	*out = ids->next;
	return 0;
}

static void lb_ids_used(struct lb_ids *ids, uint32_t id)
{
	if (id >= ids->next)
		ids->next = id + 1;
}

static void lb_ids_release(struct lb_ids *ids, uint32_t id)
{
	if (ids->n_free == ids->cap_free) {
		size_t cap = ids->cap_free ? ids->cap_free * 2 : 256;
		uint32_t *nf = realloc(ids->free_ids, cap * sizeof(*nf));

		if (!nf)
			return; /* the id is just not reused */
		ids->free_ids = nf;
		ids->cap_free = cap;
	}
	ids->free_ids[ids->n_free++] = id;
}

void lb_ids_release_unused(struct lb *lb)
{
	uint32_t id;

	for (id = 1; id < lb->fe_ids.ids.next; id++)
		if (!lb_idvec_get(&lb->fe_ids, id))
			lb_ids_release(&lb->fe_ids.ids, id);
	for (id = 1; id < lb->bes.ids.next; id++)
		if (!lb_be_get_id(lb, id))
			lb_ids_release(&lb->bes.ids, id);
}

/* ---- frontends by id ------------------------------------------------- */

void *lb_idvec_get(const struct lb_idvec *v, uint32_t id)
{
	return id < v->cap ? v->v[id] : NULL;
}

int lb_idvec_put(struct lb_idvec *v, uint32_t id, void *p)
{
	int r = id_array_fit((void **)&v->v, &v->cap, sizeof(*v->v), id);

	if (r < 0)
		return r;
	v->v[id] = p;
	lb_ids_used(&v->ids, id);
	return 0;
}

int lb_idvec_alloc(struct lb_idvec *v, uint32_t *out)
{
	return lb_ids_alloc(&v->ids, out);
}

void lb_idvec_release(struct lb_idvec *v, uint32_t id)
{
	if (id < v->cap)
		v->v[id] = NULL;
	lb_ids_release(&v->ids, id);
}
