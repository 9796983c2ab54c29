/* Fuzzes the list body's scanner (control/api_list.c): the input is a
 * stored value. Whatever the scanner makes of it, the item served must
 * be what the slow way gives (jansson: parse, set apiVersion, kind and
 * metadata.resourceVersion), compared as JSON; a value jansson cannot
 * read is left out. The first byte picks the resource (even, like 'p':
 * pods, v1; odd, like 'a': deployments, apps/v1), the rest is the value. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "control/store.h"

#define REV 123456789

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_resource *res;
	struct api_list_body *b;
	struct store_kv kv = { .key = (char *)"/fuzz", .mod_revision = REV };
	json_t *want, *got;
	const char *items;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	res = data[0] % 2 ? api_resource_find("apps", "v1", "deployments")
			  : api_resource_find("", "v1", "pods");
	/* As the store hands it out: value_len bytes, NUL-terminated. */
	kv.value_len = size - 1;
	kv.value = malloc(size);
	if (kv.value) {
		memcpy(kv.value, data + 1, size - 1);
		kv.value[size - 1] = '\0';
	}
	b = api_list_body_new(res);
	if (!res || !kv.value || !b)
		abort();
	r = api_list_body_add(b, &kv, NULL);
	items = api_list_body_items(b, &len);
	want = api_obj_from_kv(res, kv.value, kv.value_len, REV);
	got = len ? json_loadb(items, len, 0, NULL) : NULL;
	if (want ? r != 1 || !json_equal(got, want) : r != 0 || len != 0)
		abort();
	json_decref(want);
	json_decref(got);
	api_list_body_free(b);
	free(kv.value);
	return 0;
}
