/* The query parameters of a request, read as kube-apiserver reads them:
 * booleans and integers through lib/kube_param.h (watch=True is a watch,
 * limit=5s a 400 naming limit), the options of a write (dryRun,
 * fieldValidation) and of a delete that sends them in the query instead
 * of a DeleteOptions body, as the Python client does.
 *
 * The parameters skiff-server reads, and where: watch (api_rest.c,
 * api_http.c), resourceVersion, timeoutSeconds, allowWatchBookmarks
 * (api_watch.c), limit, continue, labelSelector, fieldSelector,
 * includeObject (api_rest.c), dryRun, fieldValidation,
 * gracePeriodSeconds, propagationPolicy, orphanDependents (here),
 * container and the pods/log and exec options passed to the kubelet
 * (api_proxy.c). Others (pretty, fieldManager, resourceVersionMatch,
 * sendInitialEvents, timeout) are accepted and not used. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/kube_param.h"
#include "lib/util.h"

const char *api_query(struct api_req *q, const char *key)
{
	const char *v = NULL;
	size_t n;

	if (MHD_lookup_connection_value_n(q->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
					  &n) != MHD_YES)
		return NULL;
	return v ? v : ""; /* ?watch, without '=': there, empty (Go's url.Values) */
}

bool api_query_bool(struct api_req *q, const char *key)
{
	return kube_param_bool(api_query(q, key));
}

int api_query_int64(struct api_req *q, const char *key, int64_t *out, struct api_err *e)
{
	const char *v = api_query(q, key);
	char why[160];
	int r;

	if (!v)
		return 0;
	r = kube_param_int64(v, out);
	if (r < 0) {
		kube_param_int64_error(v, r, why, sizeof(why));
		api_err_set(e, 400, "BadRequest", "%s: %s", key, why);
		return r;
	}
	return 1;
}

/* A 422 for an options kind (CreateOptions, DeleteOptions) as upstream
 * words it, naming the field. */
static int options_invalid(struct api_err *e, const char *kind, const char *field,
			   const char *value, const char *supported)
{
	api_err_set(e, 422, "Invalid",
		    "%s.meta.k8s.io \"\" is invalid: %s: Unsupported value: \"%s\": "
		    "supported values: %s", kind, field, value, supported);
	return -EINVAL;
}

int api_query_write_opts(struct api_req *q, const char *kind, struct api_write_opts *o,
			 struct api_err *e)
{
	const char *dry = api_query(q, "dryRun"), *fv = api_query(q, "fieldValidation");

	if (dry && !streq(dry, "All"))
		return options_invalid(e, kind, "dryRun", dry, "\"All\"");
	o->dry_run = dry != NULL;
	if (!fv || !*fv || streq(fv, "Warn"))
		o->fields = API_FIELDS_WARN;
	else if (streq(fv, "Strict"))
		o->fields = API_FIELDS_STRICT;
	else if (streq(fv, "Ignore"))
		o->fields = API_FIELDS_IGNORE;
	else
		return options_invalid(e, kind, "fieldValidation", fv,
				       "\"Ignore\", \"Strict\", \"Warn\"");
	return 0;
}

int api_check_delete_options(json_t *opts, struct api_err *e)
{
	const char *policy = api_jstr(opts, "propagationPolicy");
	json_t *dry = json_object_get(opts, "dryRun"), *v;
	size_t i;

	if (policy && !streq(policy, "Orphan") && !streq(policy, "Foreground") &&
	    !streq(policy, "Background"))
		return options_invalid(e, "DeleteOptions", "propagationPolicy", policy,
				       "\"Background\", \"Foreground\", \"Orphan\"");
	if (policy && json_is_boolean(json_object_get(opts, "orphanDependents"))) {
		api_err_set(e, 422, "Invalid",
			    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid "
			    "value: \"%s\": orphanDependents and deletionPropagation cannot be both set",
			    policy);
		return -EINVAL;
	}
	json_array_foreach(dry, i, v)
		if (!streq(json_string_value(v), "All"))
			return options_invalid(e, "DeleteOptions", "dryRun",
					       json_string_value(v) ?: "", "\"All\"");
	return 0;
}

int api_query_delete_options(struct api_req *q, json_t **out, struct api_err *e)
{
	const char *policy = api_query(q, "propagationPolicy"), *dry = api_query(q, "dryRun");
	const char *orphan = api_query(q, "orphanDependents");
	json_t *o = json_object();
	int64_t grace;
	int r = api_query_int64(q, "gracePeriodSeconds", &grace, e);

	if (r < 0) {
		json_decref(o);
		return r;
	}
	if (r > 0)
		json_object_set_new(o, "gracePeriodSeconds", json_integer(grace));
	if (policy)
		json_object_set_new(o, "propagationPolicy", json_string(policy));
	if (orphan)
		json_object_set_new(o, "orphanDependents", json_boolean(kube_param_bool(orphan)));
	if (dry && *dry)
		json_object_set_new(o, "dryRun", json_pack("[s]", dry));
	*out = o;
	return 0;
}
