/* Where test_store's suites find their stores. */
#ifndef SKIFF_TESTS_STORE_TEST_ENV_H
#define SKIFF_TESTS_STORE_TEST_ENV_H

#include <stdio.h>
#include <stdlib.h>

#include "control/store_backend.h"
#include "tests/harness/test.h"

static inline const char *store_test_path(const char *name)
{
	static char url[600];

	snprintf(url, sizeof(url), "sqlite://%s/%s", test_tmpdir(), name);
	return url;
}

static inline const char *store_test_sqlite_url(void)
{
	static char url[600];

	snprintf(url, sizeof(url), "%s", store_test_path("store.db"));
	return url;
}

static inline const char *store_test_etcd_url(void)
{
	const char *url = getenv("SKIFF_TEST_ETCD_URL");

	if (!url || !*url)
		SKIP("no etcd: set SKIFF_TEST_ETCD_URL");
	return url;
}

/* Another empty store of the backend under test (snapshot restore). */
static inline const char *store_test_second_url(void)
{
	static char url[600];

	snprintf(url, sizeof(url), "%s", store_test_path("second.db"));
	return url;
}

static inline const char *store_test_third_url(void)
{
	static char url[600];

	snprintf(url, sizeof(url), "%s", store_test_path("third.db"));
	return url;
}

#endif
