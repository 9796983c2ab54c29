/* Resource quantities as the scheduler reads allocatable and requests. */
#include <errno.h>

#include "lib/kube_quantity.h"
#include "tests/harness/test.h"

static long long milli(const char *s)
{
	int64_t v = -12345;

	CHECK_OK(kube_quantity_milli(s, &v));
	return v;
}

static long long value(const char *s)
{
	int64_t v = -12345;

	CHECK_OK(kube_quantity_value(s, &v));
	return v;
}

TEST(quantity_cpu_in_millicores)
{
	CHECK_INT_EQ(milli("100m"), 100);
	CHECK_INT_EQ(milli("2"), 2000);
	CHECK_INT_EQ(milli("0.1"), 100);
	CHECK_INT_EQ(milli("1.5"), 1500);
	CHECK_INT_EQ(milli("1e3"), 1000000);
	CHECK_INT_EQ(milli("500000n"), 1); /* rounded up, as MilliValue() */
}

TEST(quantity_memory_binary_and_decimal_suffixes)
{
	CHECK_INT_EQ(value("128Mi"), 128LL << 20);
	CHECK_INT_EQ(value("1Gi"), 1LL << 30);
	CHECK_INT_EQ(value("1.5Gi"), 3LL << 29);
	CHECK_INT_EQ(value("2G"), 2000000000LL);
	CHECK_INT_EQ(value("16k"), 16000);
	CHECK_INT_EQ(value("110"), 110);
	CHECK_INT_EQ(value("1500m"), 2); /* rounded up, as Value() */
	CHECK_INT_EQ(value("1Ei"), 1LL << 60);
	CHECK_INT_EQ(value("2E"), 2000000000000000000LL);
	CHECK_INT_EQ(value("5e-1"), 1);
}

TEST(quantity_refuses_malformed_and_too_large)
{
	int64_t v;

	CHECK_INT_EQ(kube_quantity_value("", &v), -EINVAL);
	CHECK_INT_EQ(kube_quantity_value("1Xi", &v), -EINVAL);
	CHECK_INT_EQ(kube_quantity_value("Mi", &v), -EINVAL);
	CHECK_INT_EQ(kube_quantity_value("1 Gi", &v), -EINVAL);
	CHECK_INT_EQ(kube_quantity_milli("100E", &v), -ERANGE);
}

TEST(quantity_from_json_numbers)
{
	json_t *n = json_integer(2), *r = json_real(0.5);
	int64_t v;

	CHECK_OK(kube_quantity_json_milli(n, &v));
	CHECK_INT_EQ(v, 2000);
	CHECK_OK(kube_quantity_json_milli(r, &v));
	CHECK_INT_EQ(v, 500);
	json_decref(n);
	json_decref(r);
}
