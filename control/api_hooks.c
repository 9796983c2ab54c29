/* The server-side hooks of the resource table (struct api_obj_hooks):
 * what writing or deleting a Service, a Namespace or a Pod means beyond
 * storing it. The object layer calls them on every path. */
#include <stdio.h>
#include <stdlib.h>

#include "control/api_internal.h"
#include "control/ctrl_job.h"
#include "lib/util.h"

/* ---- Service: addresses and node ports (api_alloc.c) ---- */

const struct api_obj_hooks api_service_hooks = {
	.allocate = api_alloc_service,
	.release = api_alloc_release,
};

/* ---- Job: the selector upstream generates ---- */

/* Without spec.manualSelector, a new Job selects its pods by its uid and
 * its template carries the job's labels, as upstream's generateSelector
 * makes them (so `kubectl logs job/NAME` finds the job's own pods); an
 * update that leaves the selector out keeps the stored one. */
static int job_selector(struct api_server *s, json_t *obj, json_t *old, bool dry_run,
			struct api_err *e)
{
	static const char *const keys[] = { JOB_LABEL_UID, JOB_LABEL_NAME, JOB_LABEL_LEGACY_UID,
					    JOB_LABEL_LEGACY_NAME };
	json_t *spec = json_object_get(obj, "spec"), *tmpl, *meta, *labels;
	const char *uid = api_jstr(obj, "metadata.uid"), *name = api_jstr(obj, "metadata.name");

	(void)s, (void)dry_run, (void)e;
	if (!json_is_object(spec) || json_is_true(json_object_get(spec, "manualSelector")))
		return 0;
	if (old) {
		if (!json_object_get(spec, "selector") && api_jget(old, "spec.selector"))
			json_object_set(spec, "selector", api_jget(old, "spec.selector"));
		return 0;
	}
	tmpl = json_object_get(spec, "template");
	if (!uid || !name || json_object_get(spec, "selector") || !json_is_object(tmpl))
		return 0;
	meta = json_object_get(tmpl, "metadata");
	if (!json_is_object(meta))
		json_object_set_new(tmpl, "metadata", meta = json_object());
	labels = json_object_get(meta, "labels");
	if (!json_is_object(labels))
		json_object_set_new(meta, "labels", labels = json_object());
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		json_object_set_new(labels, keys[i], json_string(i % 2 ? name : uid));
	json_object_set_new(spec, "selector",
			    json_pack("{s{ss}}", "matchLabels", JOB_LABEL_UID, uid));
	return 0;
}

const struct api_obj_hooks api_job_hooks = {
	.allocate = job_selector,
};

/* ---- Namespace ---- */

static int ns_may_delete(const struct api_resource *r, json_t *obj, struct api_err *e)
{
	const char *name = api_jstr(obj, "metadata.name");

	if (!streq(name, "default") && !streq(name, "kube-system") && !streq(name, "kube-public"))
		return 0;
	api_err_set(e, 403, "Forbidden",
		    "namespaces \"%s\" is forbidden: this namespace may not be deleted", name);
	api_err_named(e, r, name);
	return -EPERM;
}

/* A deleting namespace stays while spec.finalizers ("kubernetes") is
 * not empty: the namespace controller removes its contents, then empties
 * it through the finalize subresource. */
static const char *ns_held(json_t *obj)
{
	if (json_array_size(api_jget(obj, "spec.finalizers")) == 0)
		return NULL;
	return "The system is ensuring all content is removed from this namespace.  Upon "
	       "completion, this namespace will automatically be purged by the system.";
}

static void ns_deleting(json_t *obj)
{
	json_t *status = json_object_get(obj, "status");

	if (!json_is_object(status)) {
		status = json_object();
		json_object_set_new(obj, "status", status);
	}
	json_object_set_new(status, "phase", json_string("Terminating"));
}

const struct api_obj_hooks api_namespace_hooks = {
	.may_delete = ns_may_delete,
	.held = ns_held,
	.deleting = ns_deleting,
	.written = api_crd_namespace_written,
};

/* PUT namespaces/NAME/finalize: only spec.finalizers is written (the
 * namespace controller drops "kubernetes" once the namespace is empty);
 * a resourceVersion in the body is a precondition. */
static int ns_finalize_mutate(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			      struct api_err *e)
{
	json_t *fin = api_jget(ud, "spec.finalizers"), *obj, *f;
	const char *rv = api_jstr(ud, "metadata.resourceVersion");
	size_t i;

	json_array_foreach(fin, i, f) {
		if (!json_is_string(f) || !*json_string_value(f)) {
			json_t *causes = json_array();
			char field[64];

			snprintf(field, sizeof(field), "spec.finalizers[%zu]", i);
			api_cause(causes, "FieldValueRequired", field, "Required value");
			api_err_invalid(e, r, api_jstr(old, "metadata.name"), causes);
			return -EINVAL;
		}
	}
	obj = json_deep_copy(old);
	if (!json_is_object(json_object_get(obj, "spec")))
		json_object_set_new(obj, "spec", json_object());
	json_object_set_new(json_object_get(obj, "spec"), "finalizers",
			    json_is_array(fin) ? json_deep_copy(fin) : json_array());
	if (rv && *rv)
		json_object_set_new(api_obj_meta(obj), "resourceVersion", json_string(rv));
	*out = obj;
	return 0;
}

static int ns_finalize(struct api_server *s, const struct api_resource *r, const char *ns,
		       const char *name, json_t *body, const struct api_write_opts *o,
		       json_t **out, struct api_err *e)
{
	(void)ns;
	return api_obj_mutate(s, r, NULL, name, API_WRITE_MAIN, ns_finalize_mutate, body, o, out, e);
}

const struct api_subresource api_namespace_subs[] = {
	{ .name = "finalize", .method = "PUT", .verb = "update", .write = ns_finalize, .code = 200 },
	{ 0 },
};

/* ---- Pod ---- */

/* A pod bound to an existing node waits for its kubelet (the agent
 * deletes it with grace 0 once stopped): the grace asked for, else the
 * pod's, else 30 s. An unbound pod, or one whose node is gone, goes at
 * once (pod GC). */
static long pod_grace(struct api_server *s, json_t *obj, bool has_requested, long requested)
{
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	const char *node = api_jstr(obj, "spec.nodeName");
	json_t *pod_grace = api_jget(obj, "metadata.deletionGracePeriodSeconds");
	json_t *spec_grace = api_jget(obj, "spec.terminationGracePeriodSeconds");
	long grace;

	if (!node || !*node)
		return 0;
	if (has_requested)
		grace = requested;
	else if (json_is_integer(pod_grace))
		grace = (long)json_integer_value(pod_grace);
	else if (json_is_integer(spec_grace))
		grace = (long)json_integer_value(spec_grace);
	else
		grace = 30;
	if (grace < 0)
		grace = 0;
	if (grace > 0 && !api_obj_exists(s, nodes, NULL, node))
		grace = 0;
	return grace;
}

const struct api_obj_hooks api_pod_hooks = {
	.grace = pod_grace,
	.admit = api_pod_admit,
};

const struct api_subresource api_pod_subs[] = {
	{ .name = "eviction", .method = "POST", .verb = "create", .group = "policy",
	  .version = "v1", .kind = "Eviction", .write = api_pod_evict, .code = 201 },
	{ 0 },
};

const struct api_subresource api_serviceaccount_subs[] = {
	{ .name = "token", .method = "POST", .verb = "create", .group = "authentication.k8s.io",
	  .version = "v1", .kind = "TokenRequest", .write = api_sa_token, .code = 201 },
	{ 0 },
};
