/* A model store from manifest text, for the DNS unit tests and fuzzer. */
#ifndef SKIFF_DNS_TEST_ZONE_H
#define SKIFF_DNS_TEST_ZONE_H

#include "dataplane/manifest.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>

/* Puts the objects of yaml (several with ---) into st; -EINVAL when it
 * does not parse. */
static inline int dns_test_put(struct model_store *st, const char *yaml)
{
	struct manifest_objects o;
	json_t *objs = NULL;
	char msg[600];

	if (manifest_parse_buffer("test", yaml, strlen(yaml), false, &objs, msg, sizeof(msg)) < 0)
		return -EINVAL;
	if (manifest_objects_from_json("test", objs, &o, msg, sizeof(msg)) < 0) {
		json_decref(objs);
		return -EINVAL;
	}
	json_decref(objs);
	for (size_t i = 0; i < o.n; i++)
		model_store_put(st, "test", o.v[i].kind, TAKE_PTR(o.v[i].obj));
	manifest_objects_clear(&o);
	return 0;
}

/* A new store of the objects of yaml; NULL on error. */
static inline struct model_store *dns_test_store(const char *yaml)
{
	struct model_store *st = NULL;

	if (model_store_new(&st) < 0)
		return NULL;
	if (dns_test_put(st, yaml) < 0) {
		model_store_free(st);
		return NULL;
	}
	return st;
}

#endif
