/* Fuzzes what the scheduler reads from the API: the input is one JSON
 * object used as a Node and as a Pod (bound to it, then pending and
 * scheduled), so every parser of sched_parse.c and the quantity parser
 * see it, and the filters and scores run over what they produced. A
 * non-JSON input is tried as a quantity string. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched.h"
#include "lib/kube_quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(struct sched *s, json_t *obj)
{
	json_t *bound = json_deep_copy(obj), *spec;
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_pod *p;

	sched_node_upsert(s, obj);
	if (bound && json_is_object(json_object_get(bound, "metadata"))) {
		json_object_set_new(json_object_get(bound, "metadata"), "name", json_string("other"));
		spec = json_object_get(bound, "spec");
		if (json_is_object(spec))
			json_object_set_new(spec, "nodeName", json_string("n"));
		sched_pod_upsert(s, bound, 0);
	}
	json_decref(bound);
	if (json_is_object(json_object_get(obj, "spec")))
		json_object_del(json_object_get(obj, "spec"), "nodeName");
	sched_pod_upsert(s, obj, 0);
	while ((p = sched_queue_pop(s, 0))) {
		sched_cycle(s, p, 0, &plan, NULL);
		ctrl_plan_clear(&plan);
	}
	sched_queue_move_all(s, 1000000000ULL);
	sched_expire_assumed(s, UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct sched *s;
	json_t *obj;
	int64_t v;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	obj = json_loads(text, 0, NULL);
	if (!obj) {
		kube_quantity_milli(text, &v);
		kube_quantity_value(text, &v);
	} else if (sched_new(NULL, &s) == 0) {
		run(s, obj);
		sched_free(s);
	}
	json_decref(obj);
	free(text);
	return 0;
}
