// SPDX-License-Identifier: GPL-2.0
/* NodePort, LoadBalancer and externalIP traffic arriving from outside the
 * node (IPv4 and IPv6), on tc of the node's devices.
 *
 * ingress  a new connection to a frontend (not ClusterIP) picks a backend
 *          like the socket hooks do, is recorded in lb_ct and DNATed to it.
 *          When the backend lies beyond the device the packet came in on (a
 *          backend on another node) and the frontend is not Local, the
 *          source is SNATed to the node address too and the packet is sent
 *          straight back out (fib lookup + redirect), so the reply returns
 *          here; the reply is translated back and sent to the client.
 *          With a Local frontend the client address is preserved. A TCP
 *          connection to a frontend without backends is answered with an
 *          RST (refused at once); other packets to it are dropped.
 * egress   replies of local backends (no SNAT) leaving towards the client
 *          get the frontend as their source again. */
#include "skiff_bpf.h"
#include "lb.h"
#include "lib/maps.h"
#include "lib/lb_select.h"
#include "lib/nat.h"
#include "lib/reject.h"

char LICENSE[] SEC("license") = "GPL";

/* Big per-packet state, off the 512-byte stack (not pinned: per program). */
struct lb_tc_scratch {
	struct lb_ct_key k;
	struct lb_ct_val ct;
	struct lb_ct_val rv;
	struct bpf_fib_lookup fib;
	struct lb_pkt q;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_tc_scratch);
} lb_tc_scratch SEC(".maps");

static __always_inline struct lb_tc_scratch *lb_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lb_tc_scratch, &zero);
}

/* A conntrack key; ports in host order. */
static __always_inline void lb_ct_key(struct lb_ct_key *k, const __u8 *saddr,
				      const __u8 *daddr, __u16 sport, __u16 dport, __u8 proto,
				      __u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	lb_addr_copy(k->saddr, saddr);
	lb_addr_copy(k->daddr, daddr);
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->dir = dir;
}

/* Where the packet goes next: fills *fib; returns the fib result. */
static __always_inline int lb_fib(struct __sk_buff *skb, const struct lb_pkt *p,
				  struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->l4_protocol = p->proto;
	fib->sport = p->sport;
	fib->dport = p->dport;
	fib->tot_len = p->tot_len;
	fib->ifindex = skb->ingress_ifindex;
	if (p->v6) {
		fib->family = AF_INET6;
		lb_addr_copy((__u8 *)fib->ipv6_src, p->saddr);
		lb_addr_copy((__u8 *)fib->ipv6_dst, p->daddr);
	} else {
		fib->family = AF_INET;
		fib->tos = p->tos;
		fib->ipv4_src = ((const __u32 *)p->saddr)[3];
		fib->ipv4_dst = ((const __u32 *)p->daddr)[3];
	}
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/* Sends the (translated) packet out of the device the fib names. */
static __always_inline int lb_redirect(struct __sk_buff *skb, const struct lb_pkt *p,
				       struct bpf_fib_lookup *fib)
{
	int rc = lb_fib(skb, p, fib);

	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (bpf_skb_store_bytes(skb, 0, fib->dmac, ETH_ALEN, 0) < 0 ||
		    bpf_skb_store_bytes(skb, ETH_ALEN, fib->smac, ETH_ALEN, 0) < 0)
			return TC_ACT_SHOT;
		return bpf_redirect(fib->ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib->ifindex, NULL, 0, 0);
	return TC_ACT_OK;
}

static __always_inline void lb_count_pkt(__u32 fe_id, __u32 backend_id, __u64 conns,
					 __u64 bytes)
{
	lb_count(&lb_fe_stats, fe_id, conns, 1, bytes);
	lb_count(&lb_be_stats, backend_id, conns, 1, bytes);
}

/* A new connection: frontend, backend, conntrack entries (s->ct is the
 * original direction). Returns 1, 0 when the packet is no business of
 * ours, or a drop reason. */
static __always_inline int lb_ct_create(struct __sk_buff *skb, struct lb_pkt *p,
					struct lb_tc_scratch *s)
{
	struct lb_fe_key key = { .proto = p->proto }, fk;
	struct lb_ct_val *ct = &s->ct, *rv = &s->rv;
	struct lb_ct_key *rk = &s->k;
	struct lb_conn c = {};
	struct lb_be_val *be;
	struct lb_fe_val fe;
	__u32 backend_id = 0;
	__u16 sport = bpf_ntohs(p->sport), dport = bpf_ntohs(p->dport);
	bool snat = false;
	int r, err = 0, i;

	lb_addr_copy(key.addr, p->daddr);
	key.port = dport;
	r = lb_frontend_lookup(&key, &fe, &fk);
	if (r <= 0)
		return r;
	if (fe.kind == LB_FE_CLUSTER_IP)
		return 0; /* cluster-internal only */

	lb_addr_copy(c.client, p->saddr);
	c.cookie = ((__u64)((const __u32 *)p->saddr)[3] << 32) | ((__u32)sport << 16) | p->proto;
	c.netns_cookie = ((const __u64 *)p->saddr)[0] ^ ((const __u64 *)p->saddr)[1];
	be = lb_select_backend(&fk, &fe, &c, &backend_id, &err);
	if (!be)
		return err;
	if (lb_addr_is4(be->addr) == (bool)p->v6)
		return lb_drop(LB_DROP_BACKEND_FAMILY);

	__builtin_memset(ct, 0, sizeof(*ct));
	lb_addr_copy(ct->daddr, be->addr);
	ct->dport = be->port;
	ct->backend_id = backend_id;
	ct->fe_id = fe.id;
	ct->last_ns = bpf_ktime_get_ns();

	/* a backend behind the device we came in on is on another node */
	if (!(fe.flags & LB_FE_F_LOCAL)) {
		s->q = *p;
		lb_addr_copy(s->q.daddr, be->addr);
		s->q.dport = bpf_htons(be->port);
		r = lb_fib(skb, &s->q, &s->fib);
		snat = (r == BPF_FIB_LKUP_RET_SUCCESS || r == BPF_FIB_LKUP_RET_NO_NEIGH) &&
		       s->fib.ifindex == skb->ingress_ifindex;
	}

	/* reply entry: what comes back and what it becomes */
	__builtin_memset(rv, 0, sizeof(*rv));
	lb_addr_copy(rv->daddr, p->saddr);
	rv->dport = sport;
	lb_addr_copy(rv->saddr, p->daddr);
	rv->sport = dport;
	rv->backend_id = backend_id;
	rv->fe_id = fe.id;
	rv->last_ns = ct->last_ns;
	if (snat) {
		__u32 h = lb_hash_mix(c.cookie, c.netns_cookie ^ ((__u64)dport << 48));

		for (i = 0; i < 8; i++) {
			__u16 port = LB_SNAT_PORT_MIN +
				     (h + i * 7919) % (LB_SNAT_PORT_MAX - LB_SNAT_PORT_MIN + 1);

			lb_ct_key(rk, be->addr, p->daddr, be->port, port, p->proto, LB_CT_REPLY);
			if (bpf_map_update_elem(&lb_ct, rk, rv, BPF_NOEXIST) == 0) {
				lb_addr_copy(ct->saddr, p->daddr);
				ct->sport = port;
				break;
			}
		}
		if (!ct->sport)
			return lb_drop(LB_DROP_SNAT_PORTS);
	} else {
		lb_ct_key(rk, be->addr, p->saddr, be->port, sport, p->proto, LB_CT_REPLY);
		if (bpf_map_update_elem(&lb_ct, rk, rv, BPF_ANY) < 0)
			return lb_drop(LB_DROP_CT_FULL);
	}
	lb_ct_key(rk, p->saddr, p->daddr, sport, dport, p->proto, LB_CT_ORIGINAL);
	if (bpf_map_update_elem(&lb_ct, rk, ct, BPF_ANY) < 0)
		return lb_drop(LB_DROP_CT_FULL);
	return 1;
}

SEC("tc")
int lb_nodeport_ingress(struct __sk_buff *skb)
{
	struct lb_tc_scratch *s = lb_scratch();
	struct lb_pkt p;
	struct lb_ct_val *v;
	__u64 conns = 0;
	int r;

	if (!s || !lb_parse(skb, &p))
		return TC_ACT_OK;

	/* the reply of a connection we SNATed */
	lb_ct_key(&s->k, p.saddr, p.daddr, bpf_ntohs(p.sport), bpf_ntohs(p.dport), p.proto,
		  LB_CT_REPLY);
	v = bpf_map_lookup_elem(&lb_ct, &s->k);
	if (v) {
		__builtin_memcpy(&s->rv, v, sizeof(s->rv));
		v->last_ns = bpf_ktime_get_ns();
		if (lb_nat(skb, &p, true, s->rv.saddr, s->rv.sport) < 0 ||
		    lb_nat(skb, &p, false, s->rv.daddr, s->rv.dport) < 0)
			return TC_ACT_SHOT;
		lb_count_pkt(s->rv.fe_id, s->rv.backend_id, 0, skb->len);
		return lb_redirect(skb, &p, &s->fib);
	}

	lb_ct_key(&s->k, p.saddr, p.daddr, bpf_ntohs(p.sport), bpf_ntohs(p.dport), p.proto,
		  LB_CT_ORIGINAL);
	v = bpf_map_lookup_elem(&lb_ct, &s->k);
	if (v) {
		struct lb_be_key bk = { .id = v->backend_id };
		struct lb_be_val *be;

		__builtin_memcpy(&s->ct, v, sizeof(s->ct));
		v->last_ns = bpf_ktime_get_ns();
		be = bpf_map_lookup_elem(&lb_backends, &bk);
		/* backend gone, or its id now another's (ids are reused: the
		 * entry of a client port used again would send the new
		 * connection to a pod that left): choose again */
		if (!be || !lb_addr_eq(be->addr, s->ct.daddr) || be->port != s->ct.dport)
			v = NULL;
	}
	if (!v) {
		r = lb_ct_create(skb, &p, s);
		if (r == 0)
			return TC_ACT_OK;
		if (r == LB_DROP_NO_BACKEND || r == LB_DROP_UNKNOWN_PORT)
			return lb_reject_tcp(skb, &p); /* refused at once */
		if (r < 0)
			return TC_ACT_SHOT;
		conns = 1;
	}
	if (lb_nat(skb, &p, false, s->ct.daddr, s->ct.dport) < 0)
		return TC_ACT_SHOT;
	lb_count_pkt(s->ct.fe_id, s->ct.backend_id, conns, skb->len);
	if (!s->ct.sport)
		return TC_ACT_OK; /* local backend: the stack forwards it */
	if (lb_nat(skb, &p, true, s->ct.saddr, s->ct.sport) < 0)
		return TC_ACT_SHOT;
	return lb_redirect(skb, &p, &s->fib);
}

SEC("tc")
int lb_nodeport_egress(struct __sk_buff *skb)
{
	struct lb_tc_scratch *s = lb_scratch();
	struct lb_pkt p;
	struct lb_ct_val *v;

	if (!s || !lb_parse(skb, &p))
		return TC_ACT_OK;
	/* a local backend's reply to a client whose address was kept */
	lb_ct_key(&s->k, p.saddr, p.daddr, bpf_ntohs(p.sport), bpf_ntohs(p.dport), p.proto,
		  LB_CT_REPLY);
	v = bpf_map_lookup_elem(&lb_ct, &s->k);
	if (!v)
		return TC_ACT_OK;
	__builtin_memcpy(&s->rv, v, sizeof(s->rv));
	v->last_ns = bpf_ktime_get_ns();
	if (lb_nat(skb, &p, true, s->rv.saddr, s->rv.sport) < 0)
		return TC_ACT_SHOT;
	lb_count_pkt(s->rv.fe_id, s->rv.backend_id, 0, skb->len);
	return TC_ACT_OK;
}
