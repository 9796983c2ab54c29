/* Query parameters as kube-apiserver converts them: booleans (only absent,
 * "0" and "false" in any case are false) and integers (strconv.ParseInt). */
#include <errno.h>

#include "lib/kube_param.h"
#include "tests/harness/test.h"

TEST(param_bool_as_upstream_converts_it)
{
	static const char *const yes[] = { "true", "True", "TRUE", "1", "t", "T", "", "yes", "2" };
	static const char *const no[] = { "false", "False", "FALSE", "fAlSe", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(kube_param_bool(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!kube_param_bool(no[i]));
	CHECK(!kube_param_bool(NULL));
}

TEST(param_int64_as_parseint)
{
	int64_t v = -1;

	CHECK_OK(kube_param_int64("500", &v));
	CHECK_INT_EQ(v, 500);
	CHECK_OK(kube_param_int64("+7", &v));
	CHECK_INT_EQ(v, 7);
	CHECK_OK(kube_param_int64("-30", &v));
	CHECK_INT_EQ(v, -30);
	CHECK_OK(kube_param_int64("007", &v));
	CHECK_INT_EQ(v, 7);
	CHECK_OK(kube_param_int64("9223372036854775807", &v));
	CHECK_INT_EQ(v, INT64_MAX);
	CHECK_OK(kube_param_int64("-9223372036854775808", &v));
	CHECK(v == INT64_MIN);
}

TEST(param_int64_refuses_what_parseint_refuses)
{
	static const char *const bad[] = { "", "+", "-", "5s", " 5", "5 ", "0x10", "1e3", "1.0",
					   "--1", "true" };
	int64_t v = 42;
	char msg[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(kube_param_int64(bad[i], &v), -EINVAL);
	CHECK_INT_EQ(kube_param_int64(NULL, &v), -EINVAL);
	CHECK_INT_EQ(kube_param_int64("9223372036854775808", &v), -ERANGE);
	CHECK_INT_EQ(kube_param_int64("-9223372036854775809", &v), -ERANGE);
	CHECK_INT_EQ(v, 42); /* untouched on an error */
	kube_param_int64_error("5s", -EINVAL, msg, sizeof(msg));
	CHECK_STR_EQ(msg, "strconv.ParseInt: parsing \"5s\": invalid syntax");
	kube_param_int64_error("99999999999999999999", -ERANGE, msg, sizeof(msg));
	CHECK_STR_EQ(msg, "strconv.ParseInt: parsing \"99999999999999999999\": value out of range");
}
