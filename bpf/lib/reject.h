/* Refusing a TCP connection from the tc programs: the offending segment is
 * turned into the RST the peer expects (RFC 9293 3.10.7.1) and sent back
 * out of the device it came in on, so a client of a NodePort without
 * backends sees "connection refused" at once rather than a timeout. */
#ifndef SKIFF_BPF_LIB_REJECT_H
#define SKIFF_BPF_LIB_REJECT_H

#include "skiff_bpf.h"
#include "lib/nat.h"

static __always_inline __u16 lb_csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

struct lb_pseudo4 {
	__be32 saddr, daddr;
	__u8 zero, proto;
	__be16 len;
};

struct lb_pseudo6 {
	__u8 saddr[16], daddr[16];
	__be32 len;
	__u8 zero[3], next;
};

/* Returns the verdict: the RST redirected, or TC_ACT_SHOT when the packet
 * is not a TCP segment that may be answered (an RST, IP options). */
static __always_inline int lb_reject_tcp(struct __sk_buff *skb, const struct lb_pkt *p)
{
	__u32 l3len = p->v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	struct ethhdr eth;
	struct tcphdr in, th = {};
	__u32 seg_len;
	__s64 sum;
	__u8 mac[ETH_ALEN];

	if (p->proto != IPPROTO_TCP || p->l4_off != ETH_HLEN + l3len)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, p->l4_off, &in, sizeof(in)) < 0 || in.rst ||
	    bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return TC_ACT_SHOT;
	seg_len = p->tot_len - l3len - in.doff * 4 + in.syn + in.fin;

	th.source = p->dport;
	th.dest = p->sport;
	th.doff = sizeof(th) / 4;
	th.rst = 1;
	if (in.ack) {
		th.seq = in.ack_seq;
	} else {
		th.ack = 1;
		th.ack_seq = bpf_htonl(bpf_ntohl(in.seq) + seg_len);
	}
	__builtin_memcpy(mac, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, mac, ETH_ALEN);

	if (bpf_skb_change_tail(skb, ETH_HLEN + l3len + sizeof(th), 0) < 0)
		return TC_ACT_SHOT;
	if (p->v6) {
		struct ipv6hdr ip6 = {
			.version = 6,
			.payload_len = bpf_htons(sizeof(th)),
			.nexthdr = IPPROTO_TCP,
			.hop_limit = 64,
		};
		struct lb_pseudo6 ph = { .len = bpf_htonl(sizeof(th)), .next = IPPROTO_TCP };

		lb_addr_copy((__u8 *)&ip6.saddr, p->daddr);
		lb_addr_copy((__u8 *)&ip6.daddr, p->saddr);
		lb_addr_copy(ph.saddr, p->daddr);
		lb_addr_copy(ph.daddr, p->saddr);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&th, sizeof(th), (__u32)sum);
		th.check = lb_csum_fold(sum);
		if (bpf_skb_store_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6), 0) < 0)
			return TC_ACT_SHOT;
	} else {
		struct iphdr ip = {
			.version = 4,
			.ihl = 5,
			.ttl = 64,
			.protocol = IPPROTO_TCP,
			.tot_len = bpf_htons(sizeof(ip) + sizeof(th)),
			.saddr = ((const __u32 *)p->daddr)[3],
			.daddr = ((const __u32 *)p->saddr)[3],
		};
		struct lb_pseudo4 ph = {
			.saddr = ip.saddr,
			.daddr = ip.daddr,
			.proto = IPPROTO_TCP,
			.len = bpf_htons(sizeof(th)),
		};

		ip.check = lb_csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&ip, sizeof(ip), 0));
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&th, sizeof(th), (__u32)sum);
		th.check = lb_csum_fold(sum);
		if (bpf_skb_store_bytes(skb, ETH_HLEN, &ip, sizeof(ip), 0) < 0)
			return TC_ACT_SHOT;
	}
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + l3len, &th, sizeof(th), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ingress_ifindex, 0);
}

#endif
