/* Frontend lookup and backend selection, shared by every hook.
 *
 * A frontend value names a generation; its backends are the slots
 * 0..count of (fe_id, gen), LB_SLOT_BLOCK to a map entry. User space writes a new generation completely
 * before it flips the frontend value, and deletes the old one after, so a
 * reader sees one complete set. A reader that loses the race (its slot was
 * deleted between reading the frontend and the slot) reads the frontend
 * again: the new generation is complete by then. */
#ifndef SKIFF_BPF_LIB_LB_SELECT_H
#define SKIFF_BPF_LIB_LB_SELECT_H

#include "skiff_bpf.h"
#include "lb.h"
#include "lib/maps.h"

#define LB_SELECT_TRIES 3

/* What a hook knows about the connection being balanced. */
struct lb_conn {
	__u64 cookie;       /* socket cookie */
	__u64 netns_cookie; /* client identity for affinity */
	__u8 client[16];    /* client address, zero when not yet known */
};

static __always_inline void lb_addr_set4(__u8 *addr, __u32 ip4)
{
	__u32 *w = (__u32 *)addr;

	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip4;
}

static __always_inline bool lb_addr_is4(const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline __u32 lb_hash_mix(__u64 a, __u64 b)
{
	__u64 h = a ^ (b * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (__u32)h;
}

static __always_inline void lb_count(void *map, __u32 id, __u64 conns, __u64 pkts,
				     __u64 bytes)
{
	struct lb_id_key k = { .id = id };
	struct lb_stats_val *s, zero = {};

	s = bpf_map_lookup_elem(map, &k);
	if (!s) {
		bpf_map_update_elem(map, &k, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(map, &k);
		if (!s)
			return;
	}
	s->connections += conns;
	s->packets += pkts;
	s->bytes += bytes;
}

/* Looks up a frontend. Returns 1 and fills *fe and *fk (the map key that
 * matched: key itself, or the NodePort wildcard of its family when key's
 * address is one of this node's) when known, 0 when the address is not a
 * service (pass untouched), or a drop reason. */
static __always_inline int lb_frontend_lookup(const struct lb_fe_key *key,
					      struct lb_fe_val *fe, struct lb_fe_key *fk)
{
	struct lb_fe_val *v;
	struct lb_ip_key ip;

	__builtin_memcpy(fk, key, sizeof(*fk));
	v = bpf_map_lookup_elem(&lb_frontends, fk);
	if (v) {
		__builtin_memcpy(fe, v, sizeof(*fe));
		return 1;
	}
	__builtin_memcpy(ip.addr, key->addr, sizeof(ip.addr));
	if (bpf_map_lookup_elem(&lb_node_ips, &ip)) {
		__u32 *w = (__u32 *)fk->addr;

		if (lb_addr_is4(key->addr)) {
			w[3] = 0; /* ::ffff:0.0.0.0 */
		} else {
			w[0] = 0;
			w[1] = 0;
			w[2] = 0;
			w[3] = 0;
		}
		v = bpf_map_lookup_elem(&lb_frontends, fk);
		if (v && v->kind == LB_FE_NODE_PORT) {
			__builtin_memcpy(fe, v, sizeof(*fe));
			return 1;
		}
	}
	if (bpf_map_lookup_elem(&lb_svc_ips, &ip))
		return lb_drop(LB_DROP_UNKNOWN_PORT);
	return 0;
}

/* The backend remembered for this client by session affinity, if it is
 * still a selectable member of the frontend. */
static __always_inline struct lb_be_val *
lb_affinity_get(const struct lb_fe_val *fe, const struct lb_aff_key *ak,
		__u32 *backend_id)
{
	struct lb_member_key mk = { .fe_id = fe->id };
	struct lb_be_key bk;
	struct lb_aff_val *av;
	struct lb_be_val *be;

	av = bpf_map_lookup_elem(&lb_affinity, ak);
	if (!av)
		return NULL;
	if (bpf_ktime_get_ns() - av->last_ns > (__u64)fe->affinity * 1000000000ULL)
		return NULL;
	mk.backend_id = av->backend_id;
	if (!bpf_map_lookup_elem(&lb_members, &mk))
		return NULL;
	bk.id = av->backend_id;
	be = bpf_map_lookup_elem(&lb_backends, &bk);
	if (!be || be->state == LB_BE_QUARANTINED)
		return NULL;
	*backend_id = bk.id;
	return be;
}

/* Picks a backend of the frontend for this connection. Returns the
 * backend (and its id in *backend_id), or NULL with *err set to a drop
 * reason. fe may be refreshed when the backend set changed meanwhile. */
static __always_inline struct lb_be_val *
lb_select_backend(const struct lb_fe_key *key, struct lb_fe_val *fe,
		  const struct lb_conn *c, __u32 *backend_id, int *err)
{
	struct lb_aff_key ak = {};
	struct lb_be_val *be = NULL;
	struct lb_be_key bk;
	int i;

	if (fe->affinity) {
		ak.netns_cookie = c->netns_cookie;
		__builtin_memcpy(ak.client, c->client, sizeof(ak.client));
		ak.fe_id = fe->id;
		be = lb_affinity_get(fe, &ak, backend_id);
		if (be)
			goto found;
	}

	for (i = 0; i < LB_SELECT_TRIES; i++) {
		struct lb_fe_val *v;

		if (fe->count == 0) {
			*err = lb_drop(LB_DROP_NO_BACKEND);
			return NULL;
		}
		if (fe->algo == LB_FE_ALGO_MAGLEV) {
			struct lb_maglev_key mk = { .fe_id = fe->id, .gen = fe->gen };
			struct lb_maglev_val *t;
			__u32 h;

			t = bpf_map_lookup_elem(&lb_maglev, &mk);
			if (t) {
				h = lb_hash_mix(c->cookie, c->netns_cookie) % LB_MAGLEV_M;
				/* keep the bound check next to the access */
				asm volatile("" : "+r"(h));
				if (h < LB_MAGLEV_M) {
					bk.id = t->backend_id[h];
					be = bpf_map_lookup_elem(&lb_backends, &bk);
				}
			}
		} else {
			__u32 slot = bpf_get_prandom_u32() % fe->count;
			struct lb_slot_key sk = {
				.fe_id = fe->id,
				.gen = fe->gen,
				.slot = slot & ~(__u32)(LB_SLOT_BLOCK - 1),
			};
			struct lb_slot_val *s;

			s = bpf_map_lookup_elem(&lb_slots, &sk);
			if (s) {
				bk.id = s->backend_id[slot & (LB_SLOT_BLOCK - 1)];
				be = bpf_map_lookup_elem(&lb_backends, &bk);
			}
		}
		if (be)
			break;
		/* lost a race with an update: read the frontend again */
		v = bpf_map_lookup_elem(&lb_frontends, key);
		if (!v) {
			*err = lb_drop(LB_DROP_SLOT_MISS);
			return NULL;
		}
		__builtin_memcpy(fe, v, sizeof(*fe));
	}
	if (!be) {
		*err = lb_drop(LB_DROP_SLOT_MISS);
		return NULL;
	}
	*backend_id = bk.id;
	if (fe->affinity) {
		struct lb_aff_val av = {
			.last_ns = bpf_ktime_get_ns(),
			.backend_id = bk.id,
		};

		bpf_map_update_elem(&lb_affinity, &ak, &av, BPF_ANY);
	}
	return be;

found:
	{
		struct lb_aff_val av = {
			.last_ns = bpf_ktime_get_ns(),
			.backend_id = *backend_id,
		};

		bpf_map_update_elem(&lb_affinity, &ak, &av, BPF_ANY);
	}
	return be;
}

/* Remembers socket + backend -> frontend for recvmsg and getpeername. */
static __always_inline void lb_revnat_set(__u64 cookie, const struct lb_be_val *be,
					  const struct lb_fe_key *key, __u32 fe_id)
{
	struct lb_revnat_key rk = { .cookie = cookie, .port = be->port };
	struct lb_revnat_val rv = { .port = key->port, .fe_id = fe_id };

	__builtin_memcpy(rk.addr, be->addr, sizeof(rk.addr));
	__builtin_memcpy(rv.addr, key->addr, sizeof(rv.addr));
	bpf_map_update_elem(&lb_sock_revnat, &rk, &rv, BPF_ANY);
}

#endif
