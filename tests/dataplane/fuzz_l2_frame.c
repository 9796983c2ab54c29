/* Fuzz harness for L2 announcements' request path: any bytes as a frame
 * off the wire to l2_reply, as an interface that answers for every
 * address. Never crashes nor reads past the frame; a reply fits its
 * buffer, and an advertisement's checksum is right. */
#include "dataplane/l2_announce.h"

#include <netinet/icmp6.h>
#include <netinet/ip6.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_mine(const struct ipaddr *a, void *ud)
{
	(void)a;
	(void)ud;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct l2_iface ifc = { .ifindex = 1, .name = "fz",
					     .mac = { 0x02, 0, 0, 0, 0, 1 } };
	const size_t off = sizeof(struct ether_header) + sizeof(struct ip6_hdr);
	/* a copy of its own size, so a sanitizer sees any read past it */
	uint8_t *f = malloc(size ? size : 1);
	struct l2_frame out;
	struct ip6_hdr ip6;

	if (!f)
		return 0;
	memcpy(f, data, size);
	if (l2_reply(&ifc, f, size, all_mine, NULL, &out) == 1) {
		if (out.len > sizeof(out.data))
			abort();
		if (out.proto == ETHERTYPE_IPV6) {
			memcpy(&ip6, out.data + sizeof(struct ether_header), sizeof(ip6));
			if (l2_icmp6_csum(&ip6.ip6_src, &ip6.ip6_dst, out.data + off, out.len - off))
				abort();
		}
	}
	free(f);
	return 0;
}
