/* Scheduling and disruption policy: the rows of PodDisruptionBudget,
 * PriorityClass and ControllerRevision (columns, validation), the
 * built-in priority classes, and a pod's admission (priority resolved
 * from its priorityClassName, default tolerations), as kube-apiserver's
 * Priority and DefaultTolerationSeconds plugins do it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "control/ctrl_disruption.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define HIGHEST_USER_PRIORITY 1000000000

/* ---- shared cells ---- */

static void cell(json_t *cells, const char *s)
{
	json_array_append_new(cells, json_string(s ? s : ""));
}

static void cell_age(json_t *cells, json_t *obj, time_t now)
{
	char age[32];

	api_human_age(api_parse_time(api_jstr(obj, "metadata.creationTimestamp")), now, age,
		      sizeof(age));
	cell(cells, age);
}

/* An IntOrString as text, or "N/A" when absent. */
static void int_or_str_text(json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else
		snprintf(buf, len, "N/A");
}

#define COL(n, t, d) { n, t, "", d, 0 }
#define NAMECOL { "Name", "string", "name", "Name must be unique within a namespace.", 0 }
#define AGECOL COL("Age", "string", "Time since the object was created.")

/* ---- PodDisruptionBudget ---- */

const struct api_column api_pdb_columns[API_PDB_NCOLS] = {
	NAMECOL,
	COL("Min Available", "string", "The minimum number of pods that must be available."),
	COL("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
	COL("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
	AGECOL,
};

void api_pdb_cells(json_t *obj, time_t now, json_t *cells)
{
	char min[32], max[32];

	int_or_str_text(api_jget(obj, "spec.minAvailable"), min, sizeof(min));
	int_or_str_text(api_jget(obj, "spec.maxUnavailable"), max, sizeof(max));
	cell(cells, api_jstr(obj, "metadata.name"));
	cell(cells, min);
	cell(cells, max);
	json_array_append_new(cells, json_integer(json_integer_value(
					     api_jget(obj, "status.disruptionsAllowed"))));
	cell_age(cells, obj, now);
}

/* apps validation's ValidatePositiveIntOrPercent and
 * IsNotMoreThan100Percent. */
static void validate_int_or_percent(json_t *v, const char *field, json_t *causes)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			api_cause(causes, "FieldValueInvalid", field,
				  "Invalid value: %lld: must be greater than or equal to 0",
				  (long long)json_integer_value(v));
		return;
	}
	if (!s || n < 2 || s[n - 1] != '%' || strspn(s, "0123456789") != n - 1) {
		api_cause(causes, "FieldValueInvalid", field,
			  "Invalid value: \"%s\": a valid percent string must be a numeric string "
			  "followed by an ending '%%' (e.g. '1%%',  or '93%%', regex used for "
			  "validation is '[0-9]+%%')", s ? s : "");
		return;
	}
	if (atoi(s) > 100)
		api_cause(causes, "FieldValueInvalid", field,
			  "Invalid value: \"%s\": must not be greater than 100%%", s);
}

void api_pdb_validate(json_t *obj, json_t *causes)
{
	json_t *min = api_jget(obj, "spec.minAvailable"), *max = api_jget(obj, "spec.maxUnavailable");
	const char *policy = api_jstr(obj, "spec.unhealthyPodEvictionPolicy");

	if (min && max)
		api_cause(causes, "FieldValueInvalid", "spec",
			  "Invalid value: minAvailable and maxUnavailable cannot be both set");
	if (min)
		validate_int_or_percent(min, "spec.minAvailable", causes);
	if (max)
		validate_int_or_percent(max, "spec.maxUnavailable", causes);
	if (policy && !streq(policy, "IfHealthyBudget") && !streq(policy, "AlwaysAllow"))
		api_cause(causes, "FieldValueNotSupported", "spec.unhealthyPodEvictionPolicy",
			  "Unsupported value: \"%s\": supported values: \"AlwaysAllow\", "
			  "\"IfHealthyBudget\"", policy);
}

/* ---- ControllerRevision ---- */

const struct api_column api_controllerrevision_columns[API_CONTROLLERREVISION_NCOLS] = {
	NAMECOL,
	COL("Controller", "string", "Controller of the object."),
	COL("Revision", "integer", "Revision indicates the revision of the state represented by Data."),
	AGECOL,
};

void api_controllerrevision_cells(json_t *obj, time_t now, json_t *cells)
{
	json_t *refs = api_jget(obj, "metadata.ownerReferences"), *ref;
	char ctl[300] = "<none>";
	size_t i;

	json_array_foreach(refs, i, ref) {
		const char *av = api_jstr(ref, "apiVersion") ?: "", *slash = strchr(av, '/');
		char kind[64];
		size_t k;

		if (!json_is_true(json_object_get(ref, "controller")))
			continue;
		snprintf(kind, sizeof(kind), "%s", api_jstr(ref, "kind") ?: "");
		for (k = 0; kind[k]; k++)
			kind[k] = (char)(kind[k] | 0x20);
		if (slash)
			snprintf(ctl, sizeof(ctl), "%s.%.*s/%s", kind, (int)(slash - av), av,
				 api_jstr(ref, "name") ?: "");
		else
			snprintf(ctl, sizeof(ctl), "%s/%s", kind, api_jstr(ref, "name") ?: "");
	}
	cell(cells, api_jstr(obj, "metadata.name"));
	cell(cells, ctl);
	json_array_append_new(cells, json_integer(json_integer_value(json_object_get(obj, "revision"))));
	cell_age(cells, obj, now);
}

void api_controllerrevision_validate(json_t *obj, json_t *causes)
{
	json_t *rev = json_object_get(obj, "revision");

	if (rev && (!json_is_integer(rev) || json_integer_value(rev) < 0))
		api_cause(causes, "FieldValueInvalid", "revision",
			  "Invalid value: must be greater than or equal to 0");
}

/* ---- PriorityClass ---- */

static const struct {
	const char *name;
	long long value;
	const char *description;
} system_classes[] = {
	{ "system-cluster-critical", 2000000000,
	  "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary." },
	{ "system-node-critical", 2000001000,
	  "Used for system critical pods that must not be moved from their current node." },
};

const struct api_column api_priorityclass_columns[API_PRIORITYCLASS_NCOLS] = {
	{ "Name", "string", "name", "Name must be unique within a namespace.", 0 },
	COL("Value", "integer", "The value of this priority class."),
	COL("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority."),
	AGECOL,
	COL("PreemptionPolicy", "string", "PreemptionPolicy is the Policy for preempting pods with lower priority."),
};

void api_priorityclass_cells(json_t *obj, time_t now, json_t *cells)
{
	cell(cells, api_jstr(obj, "metadata.name"));
	json_array_append_new(cells, json_integer(json_integer_value(json_object_get(obj, "value"))));
	json_array_append_new(cells, json_boolean(json_is_true(json_object_get(obj, "globalDefault"))));
	cell_age(cells, obj, now);
	cell(cells, json_string_value(json_object_get(obj, "preemptionPolicy")));
}

void api_priorityclass_defaults(json_t *obj)
{
	api_jdefault(obj, "preemptionPolicy", json_string("PreemptLowerPriority"));
}

static bool known_system_class(const char *name, long long value, bool global_default)
{
	for (size_t i = 0; i < ARRAY_SIZE(system_classes); i++)
		if (streq(system_classes[i].name, name))
			return value == system_classes[i].value && !global_default;
	return false;
}

void api_priorityclass_validate(json_t *obj, json_t *causes)
{
	const char *name = api_jstr(obj, "metadata.name") ?: "";
	json_t *value = json_object_get(obj, "value");
	const char *pp = json_string_value(json_object_get(obj, "preemptionPolicy"));

	if (!json_is_integer(value)) {
		api_cause(causes, "FieldValueRequired", "value", "Required value");
		return;
	}
	if (strncmp(name, "system-", 7) == 0) {
		if (!known_system_class(name, json_integer_value(value),
					json_is_true(json_object_get(obj, "globalDefault"))))
			api_cause(causes, "FieldValueForbidden", "metadata.name",
				  "Forbidden: priority class names with 'system-' prefix are reserved "
				  "for system use only. error: %s is not a known system priority class",
				  name);
	} else if (json_integer_value(value) > HIGHEST_USER_PRIORITY) {
		api_cause(causes, "FieldValueForbidden", "value",
			  "Forbidden: maximum allowed value of a user defined priority is %d",
			  HIGHEST_USER_PRIORITY);
	}
	if (pp && !streq(pp, "PreemptLowerPriority") && !streq(pp, "Never"))
		api_cause(causes, "FieldValueNotSupported", "preemptionPolicy",
			  "Unsupported value: \"%s\": supported values: \"Never\", "
			  "\"PreemptLowerPriority\"", pp);
}

static const struct api_resource *priorityclasses(void)
{
	return api_resource_find("scheduling.k8s.io", "v1", "priorityclasses");
}

/* The globalDefault class with the lowest value (there may be two after
 * a race between servers, as upstream allows for), or NULL. */
struct default_class {
	json_t *pc;
};

static void pick_default(struct api_server *s, const struct api_resource *r, const char *key,
			 json_t *obj, int64_t mod_rev, void *ud)
{
	struct default_class *d = ud;

	(void)s;
	(void)r;
	(void)key;
	(void)mod_rev;
	if (!obj || !json_is_true(json_object_get(obj, "globalDefault")))
		return;
	if (d->pc && json_integer_value(json_object_get(d->pc, "value")) <=
			     json_integer_value(json_object_get(obj, "value")))
		return;
	json_decref(d->pc);
	d->pc = json_incref(obj);
}

static json_t *default_class(struct api_server *s)
{
	struct default_class d = { NULL };

	/* Stored compact: a class that is the default says so in these words. */
	api_obj_each_mentioning(s, priorityclasses(), NULL, "\"globalDefault\":true", pick_default,
				&d);
	return d.pc;
}

/* Only one class may be the global default. */
static int priorityclass_admit(struct api_server *s, const struct api_resource *r, json_t *obj,
			       struct api_err *e)
{
	json_t *dflt;
	const char *name = api_jstr(obj, "metadata.name");

	if (!json_is_true(json_object_get(obj, "globalDefault")))
		return 0;
	dflt = default_class(s);
	if (!dflt)
		return 0;
	api_err_set(e, 403, "Forbidden",
		    "priorityclasses.scheduling.k8s.io \"%s\" is forbidden: PriorityClass %s is "
		    "marked as default. Only one default can exist", name ?: "",
		    api_jstr(dflt, "metadata.name"));
	api_err_named(e, r, name);
	json_decref(dflt);
	return -EPERM;
}

const struct api_obj_hooks api_priorityclass_hooks = {
	.admit = priorityclass_admit,
};

int api_policy_bootstrap(struct api_server *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(system_classes); i++) {
		json_t *pc = json_pack("{s:s,s:s,s:{s:s},s:I,s:s,s:s}", "apiVersion",
				       "scheduling.k8s.io/v1", "kind", "PriorityClass", "metadata",
				       "name", system_classes[i].name, "value",
				       (json_int_t)system_classes[i].value, "description",
				       system_classes[i].description, "preemptionPolicy",
				       "PreemptLowerPriority");
		json_t *out = NULL;
		struct api_err e = { 0 };
		int r = api_obj_create(s, priorityclasses(), NULL, pc, NULL, &out, &e);

		json_decref(pc);
		json_decref(out);
		api_err_free(&e);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}

/* ---- a pod's admission ---- */

static int pod_forbidden(struct api_err *e, const struct api_resource *r, json_t *pod,
			 const char *why)
{
	const char *name = api_jstr(pod, "metadata.name") ?: "";

	api_err_set(e, 403, "Forbidden", "pods \"%s\" is forbidden: %s", name, why);
	api_err_named(e, r, name);
	return -EPERM;
}

/* Upstream's Priority plugin: spec.priority (and preemptionPolicy) from
 * the named class, else from the global default, else 0. A value the
 * pod gives that differs from the class's is refused (403). */
static int admit_priority(struct api_server *s, const struct api_resource *r, json_t *pod,
			  struct api_err *e)
{
	json_t *spec = json_object_get(pod, "spec"), *pc = NULL, *given;
	const char *cname = json_string_value(json_object_get(spec, "priorityClassName"));
	const char *policy = "PreemptLowerPriority", *given_policy;
	long long value = 0;
	struct api_err ignore = { 0 };
	char why[512];
	int ret = 0;

	if (!json_is_object(spec))
		return 0;
	if (cname && *cname) {
		if (api_obj_get(s, priorityclasses(), NULL, cname, &pc, &ignore) < 0) {
			api_err_free(&ignore);
			snprintf(why, sizeof(why), "no PriorityClass with name %s was found", cname);
			return pod_forbidden(e, r, pod, why);
		}
	} else {
		pc = default_class(s);
		if (pc)
			json_object_set(spec, "priorityClassName", api_jget(pc, "metadata.name"));
	}
	if (pc) {
		value = json_integer_value(json_object_get(pc, "value"));
		policy = json_string_value(json_object_get(pc, "preemptionPolicy"));
	}
	given = json_object_get(spec, "priority");
	given_policy = json_string_value(json_object_get(spec, "preemptionPolicy"));
	if (json_is_integer(given) && json_integer_value(given) != value) {
		snprintf(why, sizeof(why),
			 "the integer value of priority (%lld) must not be provided in pod spec; "
			 "priority admission controller computed %lld from the given PriorityClass "
			 "name", (long long)json_integer_value(given), value);
		ret = pod_forbidden(e, r, pod, why);
	} else if (policy && given_policy && !streq(policy, given_policy)) {
		snprintf(why, sizeof(why),
			 "the string value of PreemptionPolicy (%s) must not be provided in pod "
			 "spec; priority admission controller computed %s from the given "
			 "PriorityClass name", given_policy, policy);
		ret = pod_forbidden(e, r, pod, why);
	}
	if (ret < 0) {
		json_decref(pc);
		return ret;
	}
	json_object_set_new(spec, "priority", json_integer(value));
	if (policy)
		json_object_set_new(spec, "preemptionPolicy", json_string(policy));
	json_decref(pc);
	return 0;
}

/* Upstream's DefaultTolerationSeconds: a pod that does not tolerate a
 * node turning not-ready or unreachable (NoExecute) tolerates it for
 * 300 s, so the node lifecycle controller evicts it after that. */
static void default_tolerations(json_t *pod)
{
	static const char *const taints[] = { "node.kubernetes.io/not-ready",
					      "node.kubernetes.io/unreachable" };
	json_t *spec = json_object_get(pod, "spec"), *list, *t;
	size_t i;

	if (!json_is_object(spec))
		return;
	list = json_object_get(spec, "tolerations");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(spec, "tolerations", list);
	}
	for (size_t k = 0; k < ARRAY_SIZE(taints); k++) {
		bool tolerated = false;

		json_array_foreach(list, i, t) {
			const char *key = api_jstr(t, "key"), *effect = api_jstr(t, "effect");

			if ((!key || !*key || streq(key, taints[k])) &&
			    (!effect || !*effect || streq(effect, "NoExecute")))
				tolerated = true;
		}
		if (!tolerated)
			json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i}", "key", taints[k],
							      "operator", "Exists", "effect",
							      "NoExecute", "tolerationSeconds", 300));
	}
}

int api_pod_admit(struct api_server *s, const struct api_resource *r, json_t *pod,
		  struct api_err *e)
{
	int ret = admit_priority(s, r, pod, e);

	if (ret == 0)
		default_tolerations(pod);
	return ret;
}

/* ---- the eviction subresource (POST pods/NAME/eviction) ---- */

#define MAX_DISRUPTED_PODS 2000
#define EVICT_RETRIES 5

static const char budget_message[] =
	"Cannot evict pod as it would violate the pod's disruption budget.";

/* 429 TooManyRequests with a DisruptionBudget cause, as upstream. */
static int too_many_requests(struct api_err *e, const char *cause)
{
	api_err_set(e, 429, "TooManyRequests", "%s", budget_message);
	json_decref(e->causes);
	e->causes = json_pack("[{s:s,s:s}]", "reason", "DisruptionBudget", "message", cause);
	return -EAGAIN;
}

/* The budget's status is older than its spec, or a delete raced. */
static int still_processed(struct api_err *e, const char *pdb)
{
	char cause[400];

	snprintf(cause, sizeof(cause), "The disruption budget %s is still being processed by the server.",
		 pdb);
	return too_many_requests(e, cause);
}

/* Pods whose eviction needs no budget: terminal, pending or already
 * being deleted (upstream's canIgnorePDB). */
static bool can_ignore_pdb(json_t *pod)
{
	const char *phase = api_jstr(pod, "status.phase");

	return streq(phase, "Succeeded") || streq(phase, "Failed") || streq(phase, "Pending") ||
	       api_jget(pod, "metadata.deletionTimestamp");
}

static bool pod_ready(json_t *pod)
{
	json_t *c;
	size_t i;

	json_array_foreach(api_jget(pod, "status.conditions"), i, c)
		if (streq(api_jstr(c, "type"), "Ready"))
			return streq(api_jstr(c, "status"), "True");
	return false;
}

/* The PDBs of the pod's namespace whose selector matches it; a missing
 * or empty selector matches nothing here, as upstream's eviction says. */
struct pdb_match {
	json_t *pod;
	json_t *pdb; /* the first */
	size_t n;
};

static void match_pdb(struct api_server *s, const struct api_resource *r, const char *key,
		      json_t *obj, int64_t mod_rev, void *ud)
{
	struct pdb_match *m = ud;
	json_t *sel = api_jget(obj, "spec.selector");
	struct kube_selector *ks = NULL;
	bool match;

	(void)s;
	(void)r;
	(void)key;
	(void)mod_rev;
	if (!json_object_size(sel) || kube_selector_from_json(sel, &ks) < 0)
		return;
	match = kube_selector_match_labels(ks, api_jget(m->pod, "metadata.labels"));
	kube_selector_free(ks);
	if (!match)
		return;
	if (m->n++ == 0)
		m->pdb = json_incref(obj);
}

/* upstream's checkAndDecrement, on the PDB as stored (ud: the pod). */
static int decrement_budget(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			    struct api_err *e)
{
	const char *name = api_jstr(old, "metadata.name") ?: "";
	json_t *st = json_object_get(old, "status"), *obj, *nst, *disrupted;
	long long allowed = json_integer_value(json_object_get(st, "disruptionsAllowed"));
	char now[32];

	if (json_integer_value(json_object_get(st, "observedGeneration")) <
	    json_integer_value(api_jget(old, "metadata.generation")))
		return still_processed(e, name);
	if (allowed < 0 || json_object_size(json_object_get(st, "disruptedPods")) > MAX_DISRUPTED_PODS) {
		api_err_set(e, 403, "Forbidden", "poddisruptionbudget.policy \"%s\" is forbidden: %s",
			    name, allowed < 0 ? "pdb disruptions allowed is negative"
					      : "DisruptedPods map too big - too many evictions not "
						"confirmed by PDB controller");
		api_err_named(e, r, name);
		return -EPERM;
	}
	if (allowed == 0) {
		char cause[400];

		snprintf(cause, sizeof(cause),
			 "The disruption budget %s needs %lld healthy pods and has %lld currently", name,
			 (long long)json_integer_value(json_object_get(st, "desiredHealthy")),
			 (long long)json_integer_value(json_object_get(st, "currentHealthy")));
		return too_many_requests(e, cause);
	}
	obj = json_deep_copy(old);
	nst = json_object_get(obj, "status");
	json_object_set_new(nst, "disruptionsAllowed", json_integer(allowed - 1));
	if (allowed - 1 == 0)
		ctrl_pdb_allowed_condition(nst, time(NULL));
	disrupted = json_object_get(nst, "disruptedPods");
	if (!json_is_object(disrupted)) {
		disrupted = json_object();
		json_object_set_new(nst, "disruptedPods", disrupted);
	}
	api_format_time(time(NULL), now, sizeof(now));
	json_object_set_new(disrupted, api_jstr(ud, "metadata.name"), json_string(now));
	*out = obj;
	return 0;
}

/* Checks the pod's budget and takes one disruption from it. *unhealthy:
 * the pod is not ready and the budget can spare it without a decrement
 * (the delete must then find the pod as read). */
static int take_from_budget(struct api_server *s, json_t *pod, bool dry_run, bool *unhealthy,
			    char *pdb_name, size_t len, struct api_err *e)
{
	const struct api_resource *pdbs = api_resource_find("policy", "v1", "poddisruptionbudgets");
	struct pdb_match m = { pod, NULL, 0 };
	struct api_write_opts wo = { .dry_run = dry_run };
	const char *policy;
	json_t *out = NULL;
	int ret = api_obj_each(s, pdbs, api_jstr(pod, "metadata.namespace"), match_pdb, &m);

	if (ret < 0) {
		api_err_store(e, ret);
		return ret;
	}
	if (m.n > 1) {
		json_decref(m.pdb);
		api_err_set(e, 500, NULL, "This pod has more than one PodDisruptionBudget, which the "
			    "eviction subresource does not support.");
		return -EMLINK;
	}
	if (m.n == 0)
		return 0;
	snprintf(pdb_name, len, "%s", api_jstr(m.pdb, "metadata.name") ?: "");
	policy = api_jstr(m.pdb, "spec.unhealthyPodEvictionPolicy");
	if (!pod_ready(pod) &&
	    (streq(policy, "AlwaysAllow") ||
	     (json_integer_value(api_jget(m.pdb, "status.currentHealthy")) >=
		      json_integer_value(api_jget(m.pdb, "status.desiredHealthy")) &&
	      json_integer_value(api_jget(m.pdb, "status.desiredHealthy")) > 0))) {
		*unhealthy = true;
		json_decref(m.pdb);
		return 0;
	}
	ret = api_obj_mutate(s, pdbs, api_jstr(m.pdb, "metadata.namespace"),
			     api_jstr(m.pdb, "metadata.name"), API_WRITE_STATUS, decrement_budget,
			     pod, &wo, &out, e);
	json_decref(out);
	json_decref(m.pdb);
	return ret;
}

/* The pod as stored, if the delete's preconditions hold, with the
 * DisruptionTarget condition (ud: the delete's options). */
static int mark_target(const struct api_resource *r, json_t *old, void *ud, json_t **out,
		       struct api_err *e)
{
	const struct api_delete_opts *del = ud;
	json_t *obj, *conds, *c;
	char now[32];
	size_t i;

	if ((del->uid && *del->uid && !streq(del->uid, api_jstr(old, "metadata.uid"))) ||
	    (del->resource_version && *del->resource_version &&
	     !streq(del->resource_version, api_jstr(old, "metadata.resourceVersion")))) {
		api_err_conflict(e, r, api_jstr(old, "metadata.name"));
		return -EBUSY;
	}
	obj = json_deep_copy(old);
	json_object_del(api_obj_meta(obj), "resourceVersion");
	if (!json_is_object(json_object_get(obj, "status")))
		json_object_set_new(obj, "status", json_object());
	conds = json_object_get(json_object_get(obj, "status"), "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(json_object_get(obj, "status"), "conditions", conds);
	}
	json_array_foreach(conds, i, c)
		if (streq(api_jstr(c, "type"), "DisruptionTarget")) {
			json_array_remove(conds, i);
			break;
		}
	api_format_time(time(NULL), now, sizeof(now));
	json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "DisruptionTarget",
					       "status", "True", "reason", "EvictionByEvictionAPI",
					       "message", "Eviction API: evicting",
					       "lastTransitionTime", now));
	*out = obj;
	return 0;
}

/* upstream's addConditionAndDeletePod: the pod is marked DisruptionTarget
 * (not on a dry run), then deleted; a resourceVersion precondition
 * follows the mark. */
static int mark_and_delete(struct api_server *s, const struct api_resource *r, json_t *pod,
			   struct api_delete_opts *del, struct api_err *e)
{
	const char *ns = api_jstr(pod, "metadata.namespace"), *name = api_jstr(pod, "metadata.name");
	json_t *marked = NULL, *gone = NULL;
	char rv[32];
	int ret = 0;

	if (!del->dry_run) {
		ret = api_obj_mutate(s, r, ns, name, API_WRITE_STATUS, mark_target, del, NULL,
				     &marked, e);
		if (ret == 0 && del->resource_version) {
			snprintf(rv, sizeof(rv), "%s", api_jstr(marked, "metadata.resourceVersion") ?: "");
			del->resource_version = rv;
		}
		json_decref(marked);
	}
	if (ret == 0)
		ret = api_obj_delete(s, r, ns, name, del, &gone, e);
	json_decref(gone);
	return ret;
}

/* One eviction attempt on the pod as read. -ESTALE: the pod moved on
 * before a delete that was made against its revision; try again. */
static int evict_read(struct api_server *s, const struct api_resource *r, json_t *pod,
		      struct api_delete_opts del, bool rv_given, struct api_err *e)
{
	const char *phase = api_jstr(pod, "status.phase");
	bool unhealthy = false, pinned = false;
	char pdb_name[256] = "";
	int ret;

	if (can_ignore_pdb(pod)) {
		/* A pending pod might turn ready meanwhile: delete it as read. */
		pinned = !rv_given && streq(phase, "Pending") && !api_jget(pod, "metadata.deletionTimestamp");
	} else {
		ret = take_from_budget(s, pod, del.dry_run, &unhealthy, pdb_name, sizeof(pdb_name), e);
		if (ret < 0)
			return ret;
		pinned = unhealthy && !rv_given;
	}
	if (pinned)
		del.resource_version = api_jstr(pod, "metadata.resourceVersion");
	ret = mark_and_delete(s, r, pod, &del, e);
	if (ret == -EBUSY && pinned) {
		api_err_free(e);
		if (unhealthy)
			return still_processed(e, pdb_name);
		return -ESTALE;
	}
	return ret;
}

int api_pod_evict(struct api_server *s, const struct api_resource *r, const char *ns,
		  const char *name, json_t *body, const struct api_write_opts *o, json_t **out,
		  struct api_err *e)
{
	const char *kind = api_jstr(body, "kind");
	struct api_delete_opts del;
	int ret = -ESTALE;

	if ((kind && !streq(kind, "Eviction")) || !streq(api_jstr(body, "metadata.name"), name)) {
		api_err_set(e, 400, "BadRequest", kind && !streq(kind, "Eviction")
			    ? "not a Eviction object" : "name in URL does not match name in Eviction object");
		return -EINVAL;
	}
	api_delete_opts_parse(json_object_get(body, "deleteOptions"), &del);
	del.dry_run = del.dry_run || (o && o->dry_run);
	for (int attempt = 0; ret == -ESTALE && attempt < EVICT_RETRIES; attempt++) {
		json_t *pod = NULL;

		ret = api_obj_get(s, r, ns, name, &pod, e);
		if (ret == 0)
			ret = evict_read(s, r, pod, del, del.resource_version != NULL, e);
		json_decref(pod);
	}
	if (ret == -ESTALE) {
		api_err_conflict(e, r, name);
		ret = -EBUSY;
	}
	if (ret < 0)
		return ret;
	*out = json_pack("{s:s,s:s,s:{},s:s}", "kind", "Status", "apiVersion", "v1", "metadata",
			 "status", "Success");
	return 0;
}

/* ---- the node-proxy subresources ---- */

const char *api_policy_sub_verb(const char *group, const char *resource, const char *sub,
				const char *verb)
{
	static const char *const streams[] = { "exec", "attach", "portforward" };

	if (!group || *group || !streq(resource, "pods") || !sub)
		return verb;
	/* A command or a port into a pod is a create, whichever method
	 * carries it (WebSocket upgrades are GETs), as kube-apiserver asks
	 * since its AuthorizePodWebsocketUpgradeCreatePermission. */
	for (size_t i = 0; i < ARRAY_SIZE(streams); i++)
		if (streq(sub, streams[i]))
			return "create";
	if (streq(sub, "log"))
		return "get";
	return verb;
}
