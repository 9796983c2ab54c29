/* Fuzzes what an API request body goes through: decoding, the patch
 * engines against a live object, defaulting and validation of every
 * resource kind, table rows, and the selector parsers. The first byte
 * picks the path (0xfe: a Kubernetes protobuf body); the rest is the
 * input. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/api.h"
#include "lib/json_patch.h"
#include "lib/kube_selector.h"

static const char live[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":"
	"{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"ports\":"
	"[{\"containerPort\":80}],\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *body = NULL, *target, *out = NULL;
	uint8_t mode;
	bool proto;

	if (size < 1)
		return 0;
	/* 0xfe: a Kubernetes protobuf body, then the create path. */
	proto = data[0] == 0xfe;
	mode = proto ? 3 : data[0] % 6;
	data++;
	size--;
	if (mode == 4 || mode == 5) {
		char *s = strndup((const char *)data, size);
		struct kube_selector *sel = NULL;
		json_t *obj = json_loads(live, 0, NULL);

		if (s && (mode == 4 ? kube_label_selector_parse(s, &sel, err, sizeof(err))
				    : kube_field_selector_parse(s, &sel, err, sizeof(err))) == 0) {
			kube_selector_match_labels(sel, json_object_get(json_object_get(obj, "metadata"), "labels"));
			kube_selector_match_fields(sel, obj);
			kube_selector_free(sel);
		}
		json_decref(obj);
		free(s);
		return 0;
	}
	if (api_decode_body((const char *)data, size,
			    proto ? "application/vnd.kubernetes.protobuf" : "application/json", &body, err,
			    sizeof(err)) < 0)
		return 0;
	target = json_loads(live, 0, NULL);
	switch (mode) {
	case 0:
		if (json_strategic_merge(target, body, err, sizeof(err), &out) == 0)
			json_decref(out);
		break;
	case 1:
		if (json_patch_apply(target, body, err, sizeof(err), &out) == 0)
			json_decref(out);
		break;
	case 2:
		if (json_merge_patch(target, body, &out) == 0)
			json_decref(out);
		break;
	default:
		/* As a create: defaults, validation, a table row, for every kind. */
		for (size_t i = 0; json_is_object(body) && i < api_n_resources; i++) {
			const struct api_resource *r = &api_resources[i];
			json_t *obj = json_deep_copy(body), *causes = json_array();
			json_t *t = api_table_new(r, true);

			if (r->defaults)
				r->defaults(obj);
			api_validate_meta(r, obj, causes);
			if (r->validate)
				r->validate(obj, causes);
			api_table_add_row(r, t, obj, 0, 0);
			json_decref(t);
			json_decref(causes);
			json_decref(obj);
		}
		break;
	}
	json_decref(target);
	json_decref(body);
	return 0;
}
