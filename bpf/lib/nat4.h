/* IPv4 packet parsing and address/port rewriting with checksum updates,
 * for the tc programs. Rewrites go through bpf_skb_store_bytes and the
 * csum helpers, so no packet pointer is kept across them. */
#ifndef SKIFF_BPF_LIB_NAT4_H
#define SKIFF_BPF_LIB_NAT4_H

#include "skiff_bpf.h"

struct lb_pkt4 {
	__u32 l4_off;
	__u32 csum_off; /* L4 checksum */
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u16 tot_len;
	__u8 proto;
	__u8 tos;
};

#define LB_IP_OFF ETH_HLEN
#define LB_IP_SADDR_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define LB_IP_DADDR_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define LB_IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))

/* Returns 1 for an unfragmented IPv4 TCP or UDP packet (filled in), 0 for
 * anything else. */
static __always_inline int lb_parse4(struct __sk_buff *skb, struct lb_pkt4 *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->version != 4)
		return 0;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
		return 0;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return 0;
	p->proto = ip->protocol;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->tos = ip->tos;
	p->tot_len = bpf_ntohs(ip->tot_len);
	p->l4_off = ETH_HLEN + ihl;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ip + ihl;

		if ((void *)(th + 1) > end)
			return 0;
		p->sport = th->source;
		p->dport = th->dest;
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		return 1;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = (void *)ip + ihl;

		if ((void *)(uh + 1) > end)
			return 0;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		return 1;
	}
	return 0;
}

/* Rewrites the source (src) or destination address and port. */
static __always_inline int lb_nat4(struct __sk_buff *skb, struct lb_pkt4 *p, bool src,
				   __be32 addr, __be16 port)
{
	__be32 old_addr = src ? p->saddr : p->daddr;
	__be16 old_port = src ? p->sport : p->dport;
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 addr_off = src ? LB_IP_SADDR_OFF : LB_IP_DADDR_OFF;
	__u32 port_off = p->l4_off + (src ? 0 : 2);

	if (bpf_l4_csum_replace(skb, p->csum_off, old_addr, addr,
				BPF_F_PSEUDO_HDR | mangled | sizeof(addr)) < 0 ||
	    bpf_l4_csum_replace(skb, p->csum_off, old_port, port, mangled | sizeof(port)) < 0 ||
	    bpf_l3_csum_replace(skb, LB_IP_CSUM_OFF, old_addr, addr, sizeof(addr)) < 0 ||
	    bpf_skb_store_bytes(skb, addr_off, &addr, sizeof(addr), 0) < 0 ||
	    bpf_skb_store_bytes(skb, port_off, &port, sizeof(port), 0) < 0)
		return -1;
	if (src) {
		p->saddr = addr;
		p->sport = port;
	} else {
		p->daddr = addr;
		p->dport = port;
	}
	return 0;
}

#endif
