/* Fuzz harness for manifests: bytes -> YAML/JSON -> Service/EndpointSlice
 * model -> store -> desired state. The first byte picks JSON or YAML. Any
 * input either loads or fails with a message; never crashes or leaks. */
#include "dataplane/manifest.h"
#include "dataplane/proxy.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_config cfg = { .node_name = "n1", .default_algorithm = MODEL_ALG_RANDOM };
	struct manifest_objects o;
	struct model_store *st = NULL;
	struct proxy_state *s = NULL, *empty = NULL;
	struct proxy_changes c;
	json_t *objs = NULL;
	char msg[600];
	bool is_json;

	if (size < 1)
		return 0;
	is_json = data[0] == '{';
	if (manifest_parse_buffer("fuzz", (const char *)data, size, is_json, &objs, msg, sizeof(msg)) < 0)
		return 0;
	if (manifest_objects_from_json("fuzz", objs, &o, msg, sizeof(msg)) < 0) {
		json_decref(objs);
		return 0;
	}
	json_decref(objs);
	if (model_store_new(&st) == 0) {
		for (size_t i = 0; i < o.n; i++)
			model_store_put(st, "fuzz", o.v[i].kind, TAKE_PTR(o.v[i].obj));
		if (proxy_compute(st, &cfg, &s) == 0 && proxy_state_new_empty(&empty) == 0 &&
		    proxy_diff(s, empty, NULL, &c) == 0)
			proxy_changes_clear(&c);
		proxy_state_free(s);
		proxy_state_free(empty);
		model_store_free(st);
	}
	manifest_objects_clear(&o);
	return 0;
}
