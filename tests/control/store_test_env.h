/* Where test_store's suites find their stores. */
#ifndef SKIFF_TESTS_STORE_TEST_ENV_H
#define SKIFF_TESTS_STORE_TEST_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* SKIFF_TEST_ETCD_URL names the cluster ("etcd://host:port,..."); each
 * test gets a namespace of its own in it. */
static inline const char *store_test_etcd_url(void)
{
	static char url[600];
	const char *base = getenv("SKIFF_TEST_ETCD_URL");

	if (!base || !*base)
		SKIP("no etcd: tests/control/test_store_etcd.sh runs these against a real one");
	snprintf(url, sizeof(url), "%s/skiff-test-%d-%llu", base, (int)getpid(),
		 (unsigned long long)time(NULL));
	return url;
}

/* Another empty store of the same backend as url. */
static inline const char *store_test_other_url(const char *url, const char *tag)
{
	static char other[700];

	if (strncmp(url, "etcd://", 7) == 0)
		snprintf(other, sizeof(other), "%s-%s", url, tag);
	else
		snprintf(other, sizeof(other), "%s", store_test_path(tag));
	return other;
}

#endif
