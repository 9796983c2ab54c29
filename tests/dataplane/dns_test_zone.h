/* A model store from manifest text, for the DNS unit tests and fuzzer. */
#ifndef SKIFF_DNS_TEST_ZONE_H
#define SKIFF_DNS_TEST_ZONE_H

#include "dataplane/manifest.h"
#include "util.h"

#include <string.h>

/* Parses yaml (several objects with ---) into a new store; NULL on error. */
static inline struct model_store *dns_test_store(const char *yaml)
{
	struct manifest_objects o;
	struct model_store *st = NULL;
	json_t *objs = NULL;
	char msg[600];

	if (manifest_parse_buffer("test", yaml, strlen(yaml), false, &objs, msg, sizeof(msg)) < 0)
		return NULL;
	if (manifest_objects_from_json("test", objs, &o, msg, sizeof(msg)) < 0) {
		json_decref(objs);
		return NULL;
	}
	json_decref(objs);
	if (model_store_new(&st) == 0)
		for (size_t i = 0; i < o.n; i++)
			model_store_put(st, "test", o.v[i].kind, TAKE_PTR(o.v[i].obj));
	manifest_objects_clear(&o);
	return st;
}

#endif
