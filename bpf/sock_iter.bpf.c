// SPDX-License-Identifier: GPL-2.0
/* Ends the sockets whose peer is a removed backend: TCP and UDP socket
 * iterators calling the bpf_sock_destroy kfunc. The loader fills
 * lb_sock_targets with every backend (address, port, protocol) a sync
 * removed, runs each iterator once per network namespace (a socket is
 * looked up in the map, so one pass serves any number of backends), reads
 * the per-backend counts back and clears the map. Only a socket the
 * socket hooks balanced to that backend ends: its cookie and peer are in
 * lb_sock_revnat (the hooks' map, shared by the loader); one connected to
 * the backend's address directly (a probe, the machine's own curl to a
 * pod IP) is left alone. Every destroyed socket also writes one byte to
 * the iterator, so the length read is the total. */
#include "skiff_bpf.h"
#include "lb.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_SOCK_TARGETS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_sock_target_key);
	__type(value, struct lb_sock_target_val);
} lb_sock_targets SEC(".maps");

/* the socket hooks' lb_sock_revnat: the loader gives its fd (max_entries
 * and all then are that map's) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct lb_revnat_key);
	__type(value, struct lb_revnat_val);
} lb_sock_revnat SEC(".maps");

/* Counts and ends skc when its peer is one of the targets of proto and
 * the hooks chose that peer for it. */
static __always_inline void lb_sock_end(struct seq_file *seq, struct sock_common *skc, __u8 proto)
{
	struct lb_sock_target_key k = { .port = bpf_ntohs(skc->skc_dport), .proto = proto };
	struct lb_revnat_key rk = {};
	struct lb_sock_target_val *v;
	__u32 *w = (__u32 *)k.addr;
	char one = 1;

	if (skc->skc_family == AF_INET) {
		w[2] = bpf_htonl(0x0000ffff);
		w[3] = skc->skc_daddr;
	} else if (skc->skc_family == AF_INET6) {
		w[0] = skc->skc_v6_daddr.in6_u.u6_addr32[0];
		w[1] = skc->skc_v6_daddr.in6_u.u6_addr32[1];
		w[2] = skc->skc_v6_daddr.in6_u.u6_addr32[2];
		w[3] = skc->skc_v6_daddr.in6_u.u6_addr32[3];
	} else {
		return;
	}
	v = bpf_map_lookup_elem(&lb_sock_targets, &k);
	if (!v)
		return;
	rk.cookie = bpf_get_socket_cookie(skc);
	__builtin_memcpy(rk.addr, k.addr, sizeof(rk.addr));
	rk.port = k.port;
	if (!bpf_map_lookup_elem(&lb_sock_revnat, &rk) || bpf_sock_destroy(skc) != 0)
		return;
	__sync_fetch_and_add(&v->ended, 1);
	bpf_seq_write(seq, &one, sizeof(one));
}

SEC("iter/tcp")
int lb_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	/* a listener has no peer (port 0): never a target */
	if (skc && skc->skc_dport)
		lb_sock_end(ctx->meta->seq, skc, IPPROTO_TCP);
	return 0;
}

SEC("iter/udp")
int lb_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;

	if (sk && sk->__sk_common.skc_dport)
		lb_sock_end(ctx->meta->seq, &sk->__sk_common, IPPROTO_UDP);
	return 0;
}
