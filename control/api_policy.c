/* Scheduling and disruption policy: the rows of PodDisruptionBudget,
 * PriorityClass and ControllerRevision (columns, validation), the
 * built-in priority classes, and a pod's admission (priority resolved
 * from its priorityClassName, default tolerations), as kube-apiserver's
 * Priority and DefaultTolerationSeconds plugins do it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "util.h"

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

	api_obj_each(s, priorityclasses(), NULL, pick_default, &d);
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

int api_pod_admit(struct api_server *s, const struct api_resource *r, json_t *pod,
		  struct api_err *e)
{
	return admit_priority(s, r, pod, e);
}
