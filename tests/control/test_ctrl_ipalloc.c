/* Blocks of a CIDR handed out lowest free first, for node IPAM and
 * LoadBalancer IPs. */
#include <errno.h>

#include "control/ctrl_ipalloc.h"
#include "tests/harness/test.h"

static struct ipcidr cidr(const char *s)
{
	struct ipcidr c = { 0 };

	if (ipcidr_parse(s, &c, NULL) < 0)
		fprintf(stderr, "bad test CIDR %s\n", s);
	return c;
}

TEST(blocks_come_lowest_free_first_and_skip_those_taken)
{
	struct ipcidr net = cidr("10.244.0.0/16"), b = cidr("10.244.0.0/24"), out;
	struct ipalloc a;
	char buf[IPCIDR_STRLEN];

	CHECK_OK(ipalloc_init(&a, &net, 24));
	CHECK_OK(ipalloc_take(&a, &b));
	CHECK_INT_EQ(ipalloc_take(&a, &b), -EEXIST);
	CHECK_OK(ipalloc_next(&a, &out));
	CHECK_STR_EQ(ipcidr_str(&out, buf, sizeof(buf)), "10.244.1.0/24");
	CHECK_OK(ipalloc_next(&a, &out));
	CHECK_STR_EQ(ipcidr_str(&out, buf, sizeof(buf)), "10.244.2.0/24");
	ipalloc_free(&a);
}

TEST(blocks_outside_the_cidr_or_of_another_size_are_refused)
{
	struct ipcidr net = cidr("10.244.0.0/16"), other = cidr("10.245.0.0/24");
	struct ipcidr wide = cidr("10.244.0.0/23"), v6 = cidr("fd00::/64");
	struct ipalloc a;

	CHECK_OK(ipalloc_init(&a, &net, 24));
	CHECK_INT_EQ(ipalloc_take(&a, &other), -EINVAL);
	CHECK_INT_EQ(ipalloc_take(&a, &wide), -EINVAL);
	CHECK_INT_EQ(ipalloc_take(&a, &v6), -EINVAL);
	ipalloc_free(&a);
	CHECK_INT_EQ(ipalloc_init(&a, &net, 8), -EINVAL);
}

TEST(single_addresses_of_an_ipv6_pool_run_out)
{
	struct ipcidr net = cidr("fd00:10::/127"), out;
	struct ipalloc a;
	char buf[IPCIDR_STRLEN];

	CHECK_OK(ipalloc_init(&a, &net, 128));
	CHECK_OK(ipalloc_next(&a, &out));
	CHECK_OK(ipalloc_next(&a, &out));
	CHECK_STR_EQ(ipcidr_str(&out, buf, sizeof(buf)), "fd00:10::1/128");
	CHECK_INT_EQ(ipalloc_next(&a, &out), -ENOSPC);
	ipalloc_free(&a);
}

TEST(huge_cidrs_hand_out_only_their_first_blocks)
{
	struct ipcidr net = cidr("fd00::/64"), far = cidr("fd00::ff:0:0/128");
	struct ipalloc a;

	CHECK_OK(ipalloc_init(&a, &net, 128));
	CHECK_INT_EQ(a.n, IPALLOC_MAX_BLOCKS);
	CHECK_INT_EQ(ipalloc_take(&a, &far), -EINVAL);
	ipalloc_free(&a);
}
