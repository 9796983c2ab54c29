#include "tests/harness/test.h"
#include "lib/inet.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>

static const char *cidr_why(const char *s)
{
	struct ipcidr c;
	const char *why = NULL;

	if (ipcidr_parse(s, &c, &why) == 0)
		return "ok";
	return why;
}

TEST(ipaddr_port_parse_takes_both_families_and_rejects_bad_ports)
{
	static const char *const bad[] = { "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536",
					   "10.0.0.1:8x", ":80", "[fd00::1]", "[fd00::1:80", "[]:80",
					   "host:80" };
	struct ipaddr a;
	uint16_t port;

	CHECK_OK(ipaddr_port_parse("10.0.0.1:80", &a, &port));
	CHECK_INT_EQ(a.family, AF_INET);
	CHECK_INT_EQ(a.bytes[3], 1);
	CHECK_INT_EQ(port, 80);
	CHECK_OK(ipaddr_port_parse("[fd00::1]:65535", &a, &port));
	CHECK_INT_EQ(a.family, AF_INET6);
	CHECK_INT_EQ(a.bytes[15], 1);
	CHECK_INT_EQ(port, 65535);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_INT_EQ(ipaddr_port_parse(bad[i], &a, &port), -EINVAL);
}

TEST(ipaddr_parses_and_formats_both_families)
{
	struct ipaddr a;
	char buf[IPADDR_STRLEN];

	CHECK_OK(ipaddr_parse("10.1.2.3", &a));
	CHECK_INT_EQ(a.family, AF_INET);
	CHECK_INT_EQ(ipaddr_len(&a), 4);
	CHECK_INT_EQ(a.bytes[3], 3);
	CHECK_STR_EQ(ipaddr_str(&a, buf, sizeof(buf)), "10.1.2.3");
	CHECK_OK(ipaddr_parse("FD00:0::1", &a));
	CHECK_INT_EQ(a.family, AF_INET6);
	CHECK_INT_EQ(ipaddr_len(&a), 16);
	CHECK_STR_EQ(ipaddr_str(&a, buf, sizeof(buf)), "fd00::1");
}

TEST(ipaddr_refuses_what_is_not_one_plain_address)
{
	struct ipaddr a;

	CHECK_INT_EQ(ipaddr_parse(NULL, &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse("", &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse("10.96.0.300", &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse("10.1.2", &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse(" 10.1.2.3", &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse("10.1.2.3/32", &a), -EINVAL);
	CHECK_INT_EQ(ipaddr_parse("fe80::1%eth0", &a), -EINVAL); /* zone id */
	CHECK_INT_EQ(ipaddr_parse("::ffff:10.1.2.3", &a), -EINVAL); /* v4-mapped */
	CHECK_OK(ipaddr_parse("::10.1.2.3", &a)); /* v4-compatible is plain IPv6 */
}

static const struct {
	const char *s, *why;
} bad[] = {
	{ "10.244.1.5/16", "host bits set past the prefix (give the network address)" },
	{ "fd00::1/64", "host bits set past the prefix (give the network address)" },
	{ "10.1.2.0/33", "prefix length out of range" },
	{ "fd00::/129", "prefix length out of range" },
	{ "10.0.0.0/1000", "prefix length out of range" },
	{ "10.1.2.0/-1", "prefix length is not a number" },
	{ "10.1.2.0/+8", "prefix length is not a number" },
	{ "10.1.2.0/ 8", "prefix length is not a number" },
	{ "10.1.2.0/", "missing prefix length" },
	{ "10.1.2.0", "missing /prefix" },
	{ "10.1.2/24", "not an IPv4 or IPv6 address" },
	{ "fe80::%eth0/64", "zone ids are not allowed" },
	{ "::ffff:10.0.0.0/104", "IPv4-mapped IPv6 addresses are not allowed" },
};

TEST(ipcidr_is_strict_and_says_why)
{
	struct ipcidr c;
	char buf[IPCIDR_STRLEN];

	CHECK_OK(ipcidr_parse("10.244.0.0/16", &c, NULL));
	CHECK_INT_EQ(c.len, 16);
	CHECK_STR_EQ(ipcidr_str(&c, buf, sizeof(buf)), "10.244.0.0/16");
	CHECK_OK(ipcidr_parse("fd00:244:1::/64", &c, NULL));
	CHECK_STR_EQ(ipcidr_str(&c, buf, sizeof(buf)), "fd00:244:1::/64");
	CHECK_OK(ipcidr_parse("0.0.0.0/0", &c, NULL));
	CHECK_OK(ipcidr_parse("10.1.2.3/32", &c, NULL));
	CHECK_OK(ipcidr_parse("::/0", &c, NULL));
	CHECK_OK(ipcidr_parse("fd00::1/128", &c, NULL));

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_STR_EQ(cidr_why(bad[i].s), bad[i].why);
	CHECK_INT_EQ(ipcidr_parse(NULL, &c, NULL), -EINVAL);
}

TEST(ipcidr_ifaddr_keeps_host_bits_with_the_same_syntax)
{
	struct ipcidr c;
	char buf[IPCIDR_STRLEN];
	const char *why;

	CHECK_OK(ipcidr_parse_ifaddr("10.244.0.5/24", &c, NULL));
	CHECK_STR_EQ(ipcidr_str(&c, buf, sizeof(buf)), "10.244.0.5/24");
	CHECK_OK(ipcidr_parse_ifaddr("fd00:244::5/64", &c, NULL));
	CHECK_STR_EQ(ipcidr_str(&c, buf, sizeof(buf)), "fd00:244::5/64");
	CHECK_INT_EQ(ipcidr_parse_ifaddr("10.244.0.5/33", &c, &why), -EINVAL);
	CHECK_STR_EQ(why, "prefix length out of range");
	CHECK_INT_EQ(ipcidr_parse_ifaddr("fe80::5%eth0/64", &c, &why), -EINVAL);
	CHECK_STR_EQ(why, "zone ids are not allowed");
	CHECK_INT_EQ(ipcidr_parse_ifaddr("::ffff:10.0.0.5/120", &c, &why), -EINVAL);
	CHECK_INT_EQ(ipcidr_parse_ifaddr("10.244.0.5", &c, &why), -EINVAL);
}

TEST(ipaddr_cmp_orders_v4_before_v6_then_by_bytes)
{
	struct ipaddr a, b, c;

	CHECK_OK(ipaddr_parse("10.0.0.2", &a));
	CHECK_OK(ipaddr_parse("10.0.0.10", &b));
	CHECK_OK(ipaddr_parse("::1", &c));
	CHECK(ipaddr_cmp(&a, &b) < 0);
	CHECK(ipaddr_cmp(&b, &a) > 0);
	CHECK(ipaddr_cmp(&b, &c) < 0);
	CHECK_INT_EQ(ipaddr_cmp(&a, &a), 0);
	CHECK(ipaddr_eq(&c, &c));
	CHECK(!ipaddr_eq(&a, &b));
}

TEST(ipcidr_contains_and_edges)
{
	struct ipcidr net, host;
	struct ipaddr a, first, last;
	char buf[IPADDR_STRLEN];

	CHECK_OK(ipcidr_parse("10.244.0.0/23", &net, NULL));
	CHECK_OK(ipaddr_parse("10.244.1.255", &a));
	CHECK(ipcidr_contains(&net, &a));
	CHECK_OK(ipaddr_parse("10.244.2.0", &a));
	CHECK(!ipcidr_contains(&net, &a));
	CHECK_OK(ipaddr_parse("fd00::1", &a));
	CHECK(!ipcidr_contains(&net, &a)); /* other family */
	ipcidr_edge(&net, false, &first);
	ipcidr_edge(&net, true, &last);
	CHECK_STR_EQ(ipaddr_str(&first, buf, sizeof(buf)), "10.244.0.0");
	CHECK_STR_EQ(ipaddr_str(&last, buf, sizeof(buf)), "10.244.1.255");
	CHECK_OK(ipcidr_parse("::/0", &net, NULL));
	CHECK(ipcidr_contains(&net, &a));
	host = ipcidr_host(&a);
	CHECK_INT_EQ(host.len, 128);
	CHECK(ipcidr_contains(&host, &a));
	CHECK(ipcidr_eq(&host, &host));
	CHECK(!ipcidr_eq(&host, &net));
}

TEST(lengths_and_the_v4_mapped_form)
{
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 1, 2, 3 };
	uint8_t out[16];
	struct ipaddr a;

	CHECK_INT_EQ((int)ipaddr_family_len(AF_INET), 4);
	CHECK_INT_EQ((int)ipaddr_family_len(AF_INET6), 16);
	CHECK_OK(ipaddr_parse("10.1.2.3", &a));
	CHECK_INT_EQ((int)ipaddr_len(&a), 4);
	ipaddr_to_mapped16(&a, out);
	CHECK(memcmp(out, mapped, 16) == 0);
	CHECK_OK(ipaddr_parse("fd00::7", &a));
	ipaddr_to_mapped16(&a, out);
	CHECK(memcmp(out, &a.v6, 16) == 0);
}
