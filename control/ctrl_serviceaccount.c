/* The service account controller's compute step: see ctrl_serviceaccount.h. */
#include "control/ctrl_serviceaccount.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

int serviceaccount_compute(json_t *ns, json_t *const *sas, size_t n_sas, struct ctrl_plan *p)
{
	const char *name = ctrl_str(ns, "metadata.name");

	if (!name || ctrl_get(ns, "metadata.deletionTimestamp") ||
	    streq(ctrl_str(ns, "status.phase"), "Terminating"))
		return 0;
	for (size_t i = 0; i < n_sas; i++)
		if (streq(ctrl_str(sas[i], "metadata.name"), SA_DEFAULT_NAME) &&
		    streq(ctrl_str(sas[i], "metadata.namespace"), name))
			return 0;
	return ctrl_plan_add(p, CTRL_CREATE, "serviceaccounts", name, SA_DEFAULT_NAME,
			     json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
				       "ServiceAccount", "metadata", "name", SA_DEFAULT_NAME,
				       "namespace", name));
}
