/* IP addresses and CIDRs: one type and one set of parsers for every
 * program (the CNI plugin, the agent, the load balancer, node networking).
 *
 *   struct ipcidr c;
 *   const char *why;
 *   if (ipcidr_parse("10.244.1.5/16", &c, &why) < 0)
 *       log_error("--cluster-cidr %s: %s", arg, why); // "host bits set past the prefix"
 *
 * The rules are the same everywhere: dotted IPv4 or RFC 4291 IPv6 text;
 * IPv4-mapped IPv6 ("::ffff:10.0.0.1") and zone ids ("fe80::1%eth0") are
 * refused, as Kubernetes' strict validation does; a prefix is decimal
 * digits only, at most 32 (IPv4) or 128 (IPv6).
 */
#ifndef SKIFF_INET_H
#define SKIFF_INET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipaddr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16]; /* v4: the first 4, the rest zero */
	};
};

struct ipcidr {
	struct ipaddr addr;
	uint8_t len; /* prefix length */
};

/* Room for ipaddr_str / ipcidr_str. */
#define IPADDR_STRLEN INET6_ADDRSTRLEN
#define IPCIDR_STRLEN (INET6_ADDRSTRLEN + 4)

/* "10.0.0.1" or "fd00::1"; -EINVAL otherwise. */
int ipaddr_parse(const char *s, struct ipaddr *out);
/* An endpoint: "10.0.0.1:80" or "[fd00::1]:80", port 1 to 65535;
 * -EINVAL otherwise. */
int ipaddr_port_parse(const char *s, struct ipaddr *out, uint16_t *port);
/* A network: "10.244.1.0/24" or "fd00:244:1::/64"; address bits past the
 * prefix must be zero. -EINVAL otherwise; when why is not NULL it is set
 * to the reason ("host bits set past the prefix", ...). */
int ipcidr_parse(const char *s, struct ipcidr *out, const char **why);
/* An interface address with its prefix, "10.244.0.5/24": host bits are
 * kept (the CNI's ips[].address and routes[].dst). */
int ipcidr_parse_ifaddr(const char *s, struct ipcidr *out, const char **why);

/* An address's length in bytes: 4 (AF_INET) or 16. */
size_t ipaddr_family_len(int family);
size_t ipaddr_len(const struct ipaddr *a);
/* a as 16 bytes, IPv4 v4-mapped (::ffff:a.b.c.d): the form of the lb BPF
 * maps' keys and values. */
void ipaddr_to_mapped16(const struct ipaddr *a, uint8_t out[16]);
/* Formats as text; buf of IPADDR_STRLEN (IPCIDR_STRLEN for a CIDR). */
const char *ipaddr_str(const struct ipaddr *a, char *buf, size_t size);
const char *ipcidr_str(const struct ipcidr *c, char *buf, size_t size);
/* Orders by family, then address bytes. */
int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b);
static inline bool ipaddr_eq(const struct ipaddr *a, const struct ipaddr *b)
{
	return ipaddr_cmp(a, b) == 0;
}
static inline bool ipcidr_eq(const struct ipcidr *a, const struct ipcidr *b)
{
	return a->len == b->len && ipaddr_eq(&a->addr, &b->addr);
}
/* a alone: a /32 or /128. */
static inline struct ipcidr ipcidr_host(const struct ipaddr *a)
{
	return (struct ipcidr){ .addr = *a, .len = a->family == AF_INET ? 32 : 128 };
}
/* a lies inside c (same family, same first c->len bits). */
bool ipcidr_contains(const struct ipcidr *c, const struct ipaddr *a);
/* The first (set_host false) or last (true) address of c. */
void ipcidr_edge(const struct ipcidr *c, bool set_host, struct ipaddr *out);
/* 0.0.0.0 or ::, and 127.0.0.0/8 or ::1: no address for others to reach. */
bool ipaddr_is_unspecified(const struct ipaddr *a);
bool ipaddr_is_loopback(const struct ipaddr *a);

#endif
