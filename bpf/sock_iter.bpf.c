// SPDX-License-Identifier: GPL-2.0
/* Ends the sockets whose peer is one backend: TCP and UDP socket iterators
 * calling the bpf_sock_destroy kfunc. The loader sets the target through
 * the const volatile knobs before load, creates an iterator and reads it to
 * the end; every destroyed socket writes one byte, so the length read is
 * the count. Runs in the network namespace of the process that creates the
 * iterator. */
#include "skiff_bpf.h"
#include "lb.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_addr[4] = {}; /* v4-mapped for IPv4 */
const volatile __u16 target_port = 0;     /* host order */

static __always_inline bool lb_peer_is_target(const struct sock_common *skc)
{
	if (skc->skc_dport != bpf_htons(target_port))
		return false;
	if (skc->skc_family == AF_INET)
		return target_addr[0] == 0 && target_addr[1] == 0 &&
		       target_addr[2] == bpf_htonl(0x0000ffff) &&
		       target_addr[3] == skc->skc_daddr;
	if (skc->skc_family == AF_INET6)
		return target_addr[0] == skc->skc_v6_daddr.in6_u.u6_addr32[0] &&
		       target_addr[1] == skc->skc_v6_daddr.in6_u.u6_addr32[1] &&
		       target_addr[2] == skc->skc_v6_daddr.in6_u.u6_addr32[2] &&
		       target_addr[3] == skc->skc_v6_daddr.in6_u.u6_addr32[3];
	return false;
}

SEC("iter/tcp")
int lb_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	char one = 1;

	if (!skc || !lb_peer_is_target(skc))
		return 0;
	if (bpf_sock_destroy(skc) == 0)
		bpf_seq_write(ctx->meta->seq, &one, sizeof(one));
	return 0;
}

SEC("iter/udp")
int lb_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	char one = 1;

	if (!sk || !lb_peer_is_target(&sk->__sk_common))
		return 0;
	if (bpf_sock_destroy(&sk->__sk_common) == 0)
		bpf_seq_write(ctx->meta->seq, &one, sizeof(one));
	return 0;
}
