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
#define BE_NEXT offsetof(struct lb_be, next_key)
#define BE_KEY offsetof(struct lb_be, val)

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

struct lb_be *lb_be_find(struct lb *lb, const struct lb_be_val *k)
{
	struct lb_be *e;

	if (!lb->be_by_key.nbuckets)
		return NULL;
	e = lb->be_by_key.buckets[lb_hash_bytes(k, BE_KEY_LEN) % lb->be_by_key.nbuckets];
	for (; e; e = e->next_key)
		if (memcmp(&e->val, k, BE_KEY_LEN) == 0)
			return e;
	return NULL;
}

int lb_be_insert(struct lb *lb, struct lb_be *e)
{
	struct lb_table *t = &lb->be_by_key;
	size_t h;
	int r;

	if (t->n >= t->nbuckets) {
		r = lb_table_grow(t, BE_NEXT, BE_KEY, BE_KEY_LEN);
		if (r < 0)
			return r;
	}
	h = lb_hash_bytes(&e->val, BE_KEY_LEN) % t->nbuckets;
	e->next_key = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
	return 0;
}

void lb_be_unlink(struct lb *lb, struct lb_be *e)
{
	struct lb_table *t = &lb->be_by_key;
	struct lb_be **p;

	p = (struct lb_be **)&t->buckets[lb_hash_bytes(&e->val, BE_KEY_LEN) % t->nbuckets];
	for (; *p; p = &(*p)->next_key)
		if (*p == e) {
			*p = e->next_key;
			t->n--;
			return;
		}
}

void *lb_idvec_get(const struct lb_idvec *v, uint32_t id)
{
	return id < v->cap ? v->v[id] : NULL;
}

int lb_idvec_put(struct lb_idvec *v, uint32_t id, void *p)
{
	if (id >= v->cap) {
		size_t cap = v->cap ? v->cap : 1024;
		void **nv;

		while (cap <= id)
			cap *= 2;
		nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		memset(nv + v->cap, 0, (cap - v->cap) * sizeof(*nv));
		v->v = nv;
		v->cap = cap;
	}
	v->v[id] = p;
	if (id >= v->next)
		v->next = id + 1;
	return 0;
}

/* Ids start at 1 so that 0 never names anything. */
int lb_idvec_alloc(struct lb_idvec *v, uint32_t *out)
{
	if (v->n_free) {
		*out = v->free_ids[--v->n_free];
		return 0;
	}
	if (v->next == 0)
		v->next = 1;
	if (v->next == UINT32_MAX)
		return -ENOSPC;
	*out = v->next;
	return 0;
}

void lb_idvec_release(struct lb_idvec *v, uint32_t id)
{
	if (id < v->cap)
		v->v[id] = NULL;
	if (v->n_free == v->cap_free) {
		size_t cap = v->cap_free ? v->cap_free * 2 : 256;
		uint32_t *nf = realloc(v->free_ids, cap * sizeof(*nf));

		if (!nf)
			return; /* the id is just not reused */
		v->free_ids = nf;
		v->cap_free = cap;
	}
	v->free_ids[v->n_free++] = id;
}
