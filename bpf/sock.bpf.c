// SPDX-License-Identifier: GPL-2.0
/* Socket-level service load balancing on the cgroup sock_addr hooks.
 *
 * connect4/6   TCP and connected UDP: the destination (a service frontend)
 *              is rewritten to a backend once, before the first packet.
 * sendmsg4/6   unconnected UDP: the same, per datagram.
 * recvmsg4/6   unconnected UDP: the source of a reply is rewritten back to
 *              the frontend the datagram was sent to.
 * getpeername4/6  the peer reads as the frontend, not the backend.
 *
 * A known frontend with no backend, and a known service address on an
 * unknown port, refuse the connection at once with ECONNREFUSED.
 *
 * The same object is loaded a second time, with host_netns_cookie set, for
 * a node that is the machine itself: attached at the cgroup v2 root, that
 * copy serves only sockets of the machine's network namespace (processes
 * of other namespaces, other nodes' pods among them, pass untouched), and
 * only ClusterIP, LoadBalancer and this node's NodePort frontends: an
 * externalIP, an unknown port of a service address and a Local frontend
 * with no local backend pass too, so the machine's own traffic is never
 * refused where it could go elsewhere. */
#include "skiff_bpf.h"
#include "lb.h"
#include "lib/maps.h"
#include "lib/lb_select.h"

char LICENSE[] SEC("license") = "GPL";

/* 0: a node's pods (every frontend); else the machine's netns cookie (see above). */
const volatile __u64 host_netns_cookie = 0;

/* Whether this socket is left alone: another netns than the machine's. */
static __always_inline bool lb_not_ours(struct bpf_sock_addr *ctx)
{
	return host_netns_cookie && bpf_get_netns_cookie(ctx) != host_netns_cookie;
}

/* The machine's copy: whether fe is one it leaves to the network. */
static __always_inline bool lb_host_passes(const struct lb_fe_val *fe)
{
	if (!host_netns_cookie)
		return false;
	return fe->kind == LB_FE_EXTERNAL_IP || (fe->kind != LB_FE_CLUSTER_IP && !fe->count);
}

static __always_inline int lb_refuse(void)
{
	bpf_set_retval(-ECONNREFUSED);
	return SK_VERDICT_REJECT;
}

static __always_inline __u8 lb_ctx_proto(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		return IPPROTO_TCP;
	if (ctx->type == SOCK_DGRAM)
		return IPPROTO_UDP;
	return 0;
}

/* The address and port of ctx (destination of connect and sendmsg, peer of
 * recvmsg and getpeername), IPv4 as ::ffff:a.b.c.d. */
static __always_inline void lb_ctx_get(struct bpf_sock_addr *ctx, bool v6, __u8 *addr,
				       __u16 *port)
{
	__u32 *w = (__u32 *)addr;

	if (v6) {
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
	} else {
		lb_addr_set4(addr, ctx->user_ip4);
	}
	*port = bpf_ntohs((__u16)ctx->user_port);
}

/* Rewrites the address and port of ctx; an IPv4 ctx takes addr's last word. */
static __always_inline void lb_ctx_set(struct bpf_sock_addr *ctx, bool v6, const __u8 *addr,
				       __u16 port)
{
	const __u32 *w = (const __u32 *)addr;

	if (v6) {
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
	} else {
		ctx->user_ip4 = w[3];
	}
	ctx->user_port = bpf_htons(port);
}

/* Balances one connect/sendmsg. Returns the verdict. */
static __always_inline int lb_sock_xlate(struct bpf_sock_addr *ctx, bool v6,
					 bool datagram)
{
	struct lb_fe_key key = {}, fk;
	struct lb_fe_val fe;
	struct lb_conn c = {};
	struct lb_be_val *be;
	__u32 backend_id = 0;
	int r, err = 0;

	key.proto = lb_ctx_proto(ctx);
	if (!key.proto || lb_not_ours(ctx))
		return SK_VERDICT_PASS;
	lb_ctx_get(ctx, v6, key.addr, &key.port);

	r = lb_frontend_lookup(&key, &fe, &fk);
	if (r == 0 || (r < 0 && host_netns_cookie) || (r > 0 && lb_host_passes(&fe)))
		return SK_VERDICT_PASS;
	if (r < 0)
		return lb_refuse();

	c.cookie = bpf_get_socket_cookie(ctx);
	c.netns_cookie = bpf_get_netns_cookie(ctx);
	be = lb_select_backend(&fk, &fe, &c, &backend_id, &err);
	if (!be)
		return lb_refuse();

	if (!v6 && !lb_addr_is4(be->addr)) {
		lb_drop(LB_DROP_BACKEND_FAMILY);
		return lb_refuse();
	}
	lb_ctx_set(ctx, v6, be->addr, be->port);

	lb_revnat_set(c.cookie, be, &key, fe.id);
	lb_count(&lb_fe_stats, fe.id, !datagram, datagram, 0);
	lb_count(&lb_be_stats, backend_id, !datagram, datagram, 0);
	return SK_VERDICT_PASS;
}

/* Rewrites a backend peer back to its frontend (recvmsg, getpeername). */
static __always_inline int lb_sock_unxlate(struct bpf_sock_addr *ctx, bool v6)
{
	struct lb_revnat_key rk = {};
	struct lb_revnat_val *rv;

	if (lb_not_ours(ctx))
		return SK_VERDICT_PASS;
	lb_ctx_get(ctx, v6, rk.addr, &rk.port);
	rk.cookie = bpf_get_socket_cookie(ctx);

	rv = bpf_map_lookup_elem(&lb_sock_revnat, &rk);
	if (!rv)
		return SK_VERDICT_PASS;
	lb_ctx_set(ctx, v6, rv->addr, rv->port);
	return SK_VERDICT_PASS;
}

SEC("cgroup/connect4")
int lb_connect4(struct bpf_sock_addr *ctx)
{
	return lb_sock_xlate(ctx, false, false);
}

SEC("cgroup/connect6")
int lb_connect6(struct bpf_sock_addr *ctx)
{
	return lb_sock_xlate(ctx, true, false);
}

SEC("cgroup/sendmsg4")
int lb_sendmsg4(struct bpf_sock_addr *ctx)
{
	return lb_sock_xlate(ctx, false, true);
}

SEC("cgroup/sendmsg6")
int lb_sendmsg6(struct bpf_sock_addr *ctx)
{
	return lb_sock_xlate(ctx, true, true);
}

SEC("cgroup/recvmsg4")
int lb_recvmsg4(struct bpf_sock_addr *ctx)
{
	return lb_sock_unxlate(ctx, false);
}

SEC("cgroup/recvmsg6")
int lb_recvmsg6(struct bpf_sock_addr *ctx)
{
	return lb_sock_unxlate(ctx, true);
}

SEC("cgroup/getpeername4")
int lb_getpeername4(struct bpf_sock_addr *ctx)
{
	return lb_sock_unxlate(ctx, false);
}

SEC("cgroup/getpeername6")
int lb_getpeername6(struct bpf_sock_addr *ctx)
{
	return lb_sock_unxlate(ctx, true);
}
