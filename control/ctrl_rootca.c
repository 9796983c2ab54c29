/* The root CA publisher's compute step: see ctrl_rootca.h. */
#include "control/ctrl_rootca.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

int rootca_compute(json_t *ns, json_t *cm, const char *ca, struct ctrl_plan *p)
{
	const char *name = ctrl_str(ns, "metadata.name");
	json_t *body;

	if (!name || !ca || !*ca || ctrl_get(ns, "metadata.deletionTimestamp") ||
	    streq(ctrl_str(ns, "status.phase"), "Terminating"))
		return 0;
	if (cm && streq(json_string_value(json_object_get(json_object_get(cm, "data"), "ca.crt")) ?: "",
			ca))
		return 0;
	if (cm) {
		body = json_deep_copy(cm);
		json_object_set_new(body, "data", json_pack("{ss}", "ca.crt", ca));
		return ctrl_plan_add(p, CTRL_UPDATE, "configmaps", name, ROOTCA_CONFIGMAP, body);
	}
	return ctrl_plan_add(p, CTRL_CREATE, "configmaps", name, ROOTCA_CONFIGMAP,
			     json_pack("{ss ss s{ss ss} s{ss}}", "apiVersion", "v1", "kind",
				       "ConfigMap", "metadata", "name", ROOTCA_CONFIGMAP, "namespace",
				       name, "data", "ca.crt", ca));
}
