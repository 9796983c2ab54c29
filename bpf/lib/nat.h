/* IPv4 and IPv6 packet parsing and address/port rewriting with checksum
 * updates, for the tc programs. Addresses are 16 bytes as in the maps
 * (IPv4 v4-mapped). Rewrites go through bpf_skb_store_bytes and the csum
 * helpers, so no packet pointer is kept across them. */
#ifndef SKIFF_BPF_LIB_NAT_H
#define SKIFF_BPF_LIB_NAT_H

#include "skiff_bpf.h"
#include "lib/lb_select.h"

struct lb_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport, dport;
	__u32 l4_off;
	__u32 csum_off; /* L4 checksum */
	__u16 tot_len;  /* from the network header on */
	__u8 proto;
	__u8 tos;
	__u8 v6;
	__u8 pad[3];
};

#define LB_IP4_SADDR_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define LB_IP4_DADDR_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define LB_IP4_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define LB_IP6_SADDR_OFF (ETH_HLEN + offsetof(struct ipv6hdr, saddr))
#define LB_IP6_DADDR_OFF (ETH_HLEN + offsetof(struct ipv6hdr, daddr))

static __always_inline void lb_addr_copy(__u8 *dst, const void *src)
{
	const __u32 *s = src;
	__u32 *d = (__u32 *)dst;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
	d[3] = s[3];
}

static __always_inline bool lb_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline int lb_parse_l4(struct lb_pkt *p, void *l4, void *end)
{
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return 0;
		p->sport = th->source;
		p->dport = th->dest;
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		return 1;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return 0;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		return 1;
	}
	return 0;
}

/* Returns 1 for an unfragmented IPv4 or IPv6 (no extension headers) TCP or
 * UDP packet (filled in), 0 for anything else. */
static __always_inline int lb_parse(struct __sk_buff *skb, struct lb_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 ihl;

		if ((void *)(ip + 1) > end || ip->version != 4)
			return 0;
		if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
			return 0;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return 0;
		p->v6 = 0;
		p->proto = ip->protocol;
		lb_addr_set4(p->saddr, ip->saddr);
		lb_addr_set4(p->daddr, ip->daddr);
		p->tos = ip->tos;
		p->tot_len = bpf_ntohs(ip->tot_len);
		p->l4_off = ETH_HLEN + ihl;
		return lb_parse_l4(p, (void *)ip + ihl, end);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return 0;
		p->v6 = 1;
		p->proto = ip6->nexthdr;
		lb_addr_copy(p->saddr, &ip6->saddr);
		lb_addr_copy(p->daddr, &ip6->daddr);
		p->tos = 0;
		p->tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		p->l4_off = ETH_HLEN + sizeof(*ip6);
		return lb_parse_l4(p, ip6 + 1, end);
	}
	return 0;
}

/* Rewrites the source (src) or destination address and port (host order). */
static __always_inline int lb_nat(struct __sk_buff *skb, struct lb_pkt *p, bool src,
				  const __u8 *addr, __u16 port)
{
	__u8 *old = src ? p->saddr : p->daddr;
	__be16 old_port = src ? p->sport : p->dport;
	__be16 new_port = bpf_htons(port);
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 port_off = p->l4_off + (src ? 0 : 2);

	if (p->v6) {
		__u32 off = src ? LB_IP6_SADDR_OFF : LB_IP6_DADDR_OFF;
		__u32 o[4], n[4];
		__s64 diff;

		lb_addr_copy((__u8 *)o, old);
		lb_addr_copy((__u8 *)n, addr);
		diff = bpf_csum_diff(o, sizeof(o), n, sizeof(n), 0);
		if (diff < 0 ||
		    bpf_l4_csum_replace(skb, p->csum_off, 0, (__u32)diff,
					BPF_F_PSEUDO_HDR | mangled) < 0 ||
		    bpf_skb_store_bytes(skb, off, n, sizeof(n), 0) < 0)
			return -1;
	} else {
		__u32 off = src ? LB_IP4_SADDR_OFF : LB_IP4_DADDR_OFF;
		__be32 o = ((const __u32 *)old)[3], n = ((const __u32 *)addr)[3];

		if (bpf_l4_csum_replace(skb, p->csum_off, o, n,
					BPF_F_PSEUDO_HDR | mangled | sizeof(n)) < 0 ||
		    bpf_l3_csum_replace(skb, LB_IP4_CSUM_OFF, o, n, sizeof(n)) < 0 ||
		    bpf_skb_store_bytes(skb, off, &n, sizeof(n), 0) < 0)
			return -1;
	}
	if (bpf_l4_csum_replace(skb, p->csum_off, old_port, new_port,
				mangled | sizeof(new_port)) < 0 ||
	    bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
		return -1;
	lb_addr_copy(old, addr);
	if (src)
		p->sport = new_port;
	else
		p->dport = new_port;
	return 0;
}

#endif
