/* When the kubelet renews a pod's service-account token
 * (kl_token_renew_at): the server will not issue one shorter than 600 s,
 * so the rule is proved here rather than by waiting for it. */
#include "tests/harness/test.h"
#include "dataplane/kubelet_int.h"

TEST(token_renewed_at_80_percent_of_its_life)
{
	CHECK_INT_EQ(kl_token_renew_at(1000, 3607), 1000 + 2885);
	CHECK_INT_EQ(kl_token_renew_at(1000, 600), 1000 + 480);
	CHECK_INT_EQ(kl_token_renew_at(1000, 30 * 3600), 1000 + 24 * 3600);
}

TEST(token_renewed_at_24_hours_at_the_latest)
{
	CHECK_INT_EQ(kl_token_renew_at(1000, 48 * 3600), 1000 + 24 * 3600);
	CHECK_INT_EQ(kl_token_renew_at(1000, 365LL * 24 * 3600), 1000 + 24 * 3600);
}
