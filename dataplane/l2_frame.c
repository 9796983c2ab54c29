/* L2 announcements' frames: the ARP and neighbor discovery messages a
 * node sends for the addresses it announces, and the reply to a request
 * read off the wire (untrusted: any bytes; fuzz_l2_frame). Built and read
 * with the system's structs, copied in and out of the byte buffers so no
 * field is ever read unaligned. Pure: no socket, no state. */
#include "dataplane/l2_announce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/ip6.h>
#include <string.h>

static const uint8_t bcast_mac[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t all_nodes_mac[ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 }; /* RFC 2464 7 */
static const struct in6_addr all_nodes = { { { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					       1 } } };

static uint32_t csum_add(uint32_t sum, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

uint16_t l2_icmp6_csum(const struct in6_addr *src, const struct in6_addr *dst, const void *msg,
		       size_t len)
{
	uint32_t sum = 0;
	uint8_t tail[8] = { 0 }; /* the pseudo-header's length and next header */

	tail[0] = (uint8_t)(len >> 24);
	tail[1] = (uint8_t)(len >> 16);
	tail[2] = (uint8_t)(len >> 8);
	tail[3] = (uint8_t)len;
	tail[7] = IPPROTO_ICMPV6;
	sum = csum_add(sum, src, sizeof(*src));
	sum = csum_add(sum, dst, sizeof(*dst));
	sum = csum_add(sum, tail, sizeof(tail));
	sum = csum_add(sum, msg, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void frame_start(struct l2_frame *out, const struct l2_iface *ifc, const uint8_t *dst,
			uint16_t proto)
{
	struct ether_header eh = { .ether_type = htons(proto) };

	memcpy(eh.ether_dhost, dst, ETH_ALEN);
	memcpy(eh.ether_shost, ifc->mac, ETH_ALEN);
	memcpy(out->dst, dst, ETH_ALEN);
	out->proto = proto;
	memcpy(out->data, &eh, sizeof(eh));
	out->len = sizeof(eh);
}

static void frame_add(struct l2_frame *out, const void *p, size_t n)
{
	memcpy(out->data + out->len, p, n);
	out->len += n;
}

/* An ARP message from ifc (sender: our MAC and spa) to (tha, tpa). */
static void arp_frame(const struct l2_iface *ifc, uint16_t op, const uint8_t *eth_dst,
		      const struct in_addr *spa, const uint8_t *tha, const struct in_addr *tpa,
		      struct l2_frame *out)
{
	struct ether_arp ea = { 0 };

	_Static_assert(sizeof(struct ether_header) + sizeof(struct ether_arp) <= L2_FRAME_OUT_MAX,
		       "room for ARP");
	ea.arp_hrd = htons(ARPHRD_ETHER);
	ea.arp_pro = htons(ETHERTYPE_IP);
	ea.arp_hln = ETH_ALEN;
	ea.arp_pln = sizeof(struct in_addr);
	ea.arp_op = htons(op);
	memcpy(ea.arp_sha, ifc->mac, ETH_ALEN);
	memcpy(ea.arp_spa, spa, sizeof(*spa));
	memcpy(ea.arp_tha, tha, ETH_ALEN);
	memcpy(ea.arp_tpa, tpa, sizeof(*tpa));
	frame_start(out, ifc, eth_dst, ETHERTYPE_ARP);
	frame_add(out, &ea, sizeof(ea));
}

/* A neighbor advertisement of target from ifc to (eth_dst, dst), override
 * set, with our MAC as its target link-layer address option. */
static void na_frame(const struct l2_iface *ifc, const uint8_t *eth_dst, const struct in6_addr *dst,
		     const struct in6_addr *target, bool solicited, struct l2_frame *out)
{
	struct nd_neighbor_advert na = { 0 };
	struct nd_opt_hdr opt = { .nd_opt_type = ND_OPT_TARGET_LINKADDR, .nd_opt_len = 1 };
	const size_t msg_len = sizeof(na) + sizeof(opt) + ETH_ALEN;
	struct ip6_hdr ip6 = { 0 };
	uint8_t *msg;
	uint16_t csum;

	_Static_assert(sizeof(struct nd_opt_hdr) + ETH_ALEN == 8, "one option of 8 bytes");
	_Static_assert(sizeof(struct ether_header) + sizeof(struct ip6_hdr) +
				       sizeof(struct nd_neighbor_advert) + 8 <= L2_FRAME_OUT_MAX,
		       "room for a neighbor advertisement");
	na.nd_na_type = ND_NEIGHBOR_ADVERT;
	na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE | (solicited ? ND_NA_FLAG_SOLICITED : 0);
	na.nd_na_target = *target;
	ip6.ip6_flow = htonl(6u << 28);
	ip6.ip6_plen = htons((uint16_t)msg_len);
	ip6.ip6_nxt = IPPROTO_ICMPV6;
	ip6.ip6_hlim = 255; /* RFC 4861 7.1.2 */
	ip6.ip6_src = *target;
	ip6.ip6_dst = *dst;
	frame_start(out, ifc, eth_dst, ETHERTYPE_IPV6);
	frame_add(out, &ip6, sizeof(ip6));
	msg = out->data + out->len;
	frame_add(out, &na, sizeof(na));
	frame_add(out, &opt, sizeof(opt));
	frame_add(out, ifc->mac, ETH_ALEN);
	csum = l2_icmp6_csum(&ip6.ip6_src, &ip6.ip6_dst, msg, msg_len); /* over a zero field */
	memcpy(msg + offsetof(struct icmp6_hdr, icmp6_cksum), &csum, sizeof(csum));
}

void l2_announcement(const struct l2_iface *ifc, const struct ipaddr *addr, struct l2_frame *out)
{
	static const uint8_t zero[ETH_ALEN];

	/* RFC 5227's ARP announcement: a broadcast request, sender and
	 * target the address; RFC 4861 7.2.6: an unsolicited advertisement
	 * to all nodes, override set */
	if (addr->family == AF_INET)
		arp_frame(ifc, ARPOP_REQUEST, bcast_mac, &addr->v4, zero, &addr->v4, out);
	else
		na_frame(ifc, all_nodes_mac, &all_nodes, &addr->v6, false, out);
}

static int arp_reply(const struct l2_iface *ifc, const uint8_t *f, size_t len, l2_mine_fn mine,
		     void *ud, struct l2_frame *out)
{
	struct ether_arp ea;
	struct ipaddr target = { .family = AF_INET };
	struct in_addr sender;

	if (len < sizeof(struct ether_header) + sizeof(ea))
		return -EINVAL;
	memcpy(&ea, f + sizeof(struct ether_header), sizeof(ea));
	if (ntohs(ea.arp_hrd) != ARPHRD_ETHER || ntohs(ea.arp_pro) != ETHERTYPE_IP ||
	    ea.arp_hln != ETH_ALEN || ea.arp_pln != sizeof(struct in_addr))
		return -EINVAL;
	memcpy(&target.v4, ea.arp_tpa, sizeof(target.v4));
	memcpy(&sender, ea.arp_spa, sizeof(sender));
	/* a reply is no question; someone's announcement (or probe) of the
	 * address wants no answer either */
	if (ntohs(ea.arp_op) != ARPOP_REQUEST || sender.s_addr == target.v4.s_addr ||
	    !mine(&target, ud))
		return 0;
	arp_frame(ifc, ARPOP_REPLY, ea.arp_sha, &target.v4, ea.arp_sha, &sender, out);
	return 1;
}

static int ns_reply(const struct l2_iface *ifc, const uint8_t *f, size_t len, l2_mine_fn mine,
		    void *ud, struct l2_frame *out)
{
	const size_t off = sizeof(struct ether_header) + sizeof(struct ip6_hdr);
	struct nd_neighbor_solicit ns;
	struct ether_header eh;
	struct ip6_hdr ip6;
	struct ipaddr target = { .family = AF_INET6 };
	size_t plen;
	bool dad;

	if (len < off + sizeof(ns))
		return -EINVAL;
	memcpy(&eh, f, sizeof(eh));
	memcpy(&ip6, f + sizeof(eh), sizeof(ip6));
	memcpy(&ns, f + off, sizeof(ns));
	if (ip6.ip6_nxt != IPPROTO_ICMPV6 || ns.nd_ns_type != ND_NEIGHBOR_SOLICIT)
		return 0;
	plen = ntohs(ip6.ip6_plen);
	/* RFC 4861 7.1.1: hop limit 255, code 0, the checksum right */
	if (ip6.ip6_hlim != 255 || ns.nd_ns_code != 0 || plen < sizeof(ns) || off + plen > len ||
	    l2_icmp6_csum(&ip6.ip6_src, &ip6.ip6_dst, f + off, plen) != 0)
		return -EINVAL;
	target.v6 = ns.nd_ns_target;
	if (!mine(&target, ud))
		return 0;
	/* a duplicate address detection probe (from ::): answer all nodes */
	dad = IN6_IS_ADDR_UNSPECIFIED(&ip6.ip6_src);
	na_frame(ifc, dad ? all_nodes_mac : eh.ether_shost, dad ? &all_nodes : &ip6.ip6_src,
		 &target.v6, !dad, out);
	return 1;
}

int l2_reply(const struct l2_iface *ifc, const uint8_t *f, size_t len, l2_mine_fn mine, void *ud,
	     struct l2_frame *out)
{
	struct ether_header eh;

	if (len < sizeof(eh))
		return -EINVAL;
	memcpy(&eh, f, sizeof(eh));
	switch (ntohs(eh.ether_type)) {
	case ETHERTYPE_ARP:
		return arp_reply(ifc, f, len, mine, ud, out);
	case ETHERTYPE_IPV6:
		return ns_reply(ifc, f, len, mine, ud, out);
	default:
		return 0;
	}
}
