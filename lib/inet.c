/* IP addresses and CIDRs: the one parser (see inet.h for the rules). */
#include "lib/inet.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

static int addr_parse(const char *s, struct ipaddr *out, const char **why)
{
	struct ipaddr a = { 0 };

	if (!s)
		return fail(why, "missing address");
	if (strchr(s, '%'))
		return fail(why, "zone ids are not allowed");
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return fail(why, "not an IPv4 or IPv6 address");
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.v6))
		return fail(why, "IPv4-mapped IPv6 addresses are not allowed");
	*out = a;
	return 0;
}

int ipaddr_parse(const char *s, struct ipaddr *out)
{
	return addr_parse(s, out, NULL);
}

int ipaddr_port_parse(const char *s, struct ipaddr *out, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char host[IPADDR_STRLEN];
	unsigned long p;
	char *end;
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return -EINVAL;
		s++, n -= 2;
	}
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || p == 0 || p > 65535)
		return -EINVAL;
	if (ipaddr_parse(host, out) < 0)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

size_t ipaddr_family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

size_t ipaddr_len(const struct ipaddr *a)
{
	return ipaddr_family_len(a->family);
}

void ipaddr_to_mapped16(const struct ipaddr *a, uint8_t out[16])
{
	if (a->family == AF_INET) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &a->v4, 4);
	} else {
		memcpy(out, &a->v6, 16);
	}
}

static bool host_bits_set(const struct ipcidr *c)
{
	struct ipaddr net;

	ipcidr_edge(c, false, &net);
	return !ipaddr_eq(&net, &c->addr);
}

static int cidr_parse(const char *s, struct ipcidr *out, bool strict, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	struct ipcidr c = { 0 };
	unsigned long len = 0;
	const char *p;
	int r;

	if (!s || strscpy(buf, s, sizeof(buf)) < 0)
		return fail(why, s ? "too long for an address with a prefix" : "missing CIDR");
	slash = strchr(buf, '/');
	if (!slash)
		return fail(why, "missing /prefix");
	*slash = '\0';
	r = addr_parse(buf, &c.addr, why);
	if (r < 0)
		return r;
	p = slash + 1;
	if (!*p || strlen(p) > 3)
		return fail(why, *p ? "prefix length out of range" : "missing prefix length");
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return fail(why, "prefix length is not a number");
		len = len * 10 + (unsigned long)(*p - '0');
	}
	if (len > ipaddr_len(&c.addr) * 8)
		return fail(why, "prefix length out of range");
	c.len = (uint8_t)len;
	if (strict && host_bits_set(&c))
		return fail(why, "host bits set past the prefix (give the network address)");
	*out = c;
	return 0;
}

int ipcidr_parse(const char *s, struct ipcidr *out, const char **why)
{
	return cidr_parse(s, out, true, why);
}

int ipcidr_parse_ifaddr(const char *s, struct ipcidr *out, const char **why)
{
	return cidr_parse(s, out, false, why);
}

const char *ipaddr_str(const struct ipaddr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

const char *ipcidr_str(const struct ipcidr *c, char *buf, size_t size)
{
	char a[IPADDR_STRLEN];

	snprintf(buf, size, "%s/%u", ipaddr_str(&c->addr, a, sizeof(a)), c->len);
	return buf;
}

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, ipaddr_len(a));
}

void ipcidr_edge(const struct ipcidr *c, bool set_host, struct ipaddr *out)
{
	struct ipaddr a = c->addr;
	size_t n = ipaddr_len(&a);

	for (size_t i = 0; i < n; i++) {
		unsigned keep = i * 8 >= c->len ? 0 : c->len - i * 8;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00 >> keep);

		a.bytes[i] = set_host ? (uint8_t)(a.bytes[i] | ~mask) : (uint8_t)(a.bytes[i] & mask);
	}
	*out = a;
}

bool ipcidr_contains(const struct ipcidr *c, const struct ipaddr *a)
{
	struct ipcidr x = { .addr = *a, .len = c->len };
	struct ipaddr na, nc;

	if (a->family != c->addr.family)
		return false;
	ipcidr_edge(&x, false, &na);
	ipcidr_edge(c, false, &nc);
	return ipaddr_eq(&na, &nc);
}

bool ipaddr_is_unspecified(const struct ipaddr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->bytes, zero, ipaddr_len(a)) == 0;
}

bool ipaddr_is_loopback(const struct ipaddr *a)
{
	static const uint8_t one[16] = { [15] = 1 };

	return a->family == AF_INET ? a->bytes[0] == 127 : memcmp(a->bytes, one, 16) == 0;
}
