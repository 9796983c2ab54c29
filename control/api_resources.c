/* The resource table: one row per Kubernetes resource skiff-server
 * serves, with its table columns, defaulting and validation hooks, name
 * rule and the server-side hooks of its writes (control/api_hooks.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api.h"
#include "control/api_schema.h"
#include "control/api_crd.h"
#include "lib/json_path.h"
#include "lib/kube_names.h"
#include "lib/base64.h"
#include "lib/util.h"

/* ---- helpers ---- */

void api_cause(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message",
						msg, "field", field));
}

json_t *api_jget(json_t *obj, const char *path)
{
	return json_path_get(obj, path);
}

const char *api_jstr(json_t *obj, const char *path)
{
	return json_path_str(obj, path);
}

void api_jdefault(json_t *obj, const char *key, json_t *val)
{
	if (json_is_object(obj) && !json_object_get(obj, key))
		json_object_set_new(obj, key, val);
	else
		json_decref(val);
}

static json_t *jobj(json_t *parent, const char *key)
{
	json_t *o = json_object_get(parent, key);

	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(parent, key, o);
	}
	return o;
}

time_t api_parse_time(const char *s)
{
	struct tm tm = { 0 };

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return timegm(&tm);
}

void api_format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Kubernetes' HumanDuration. */
void api_human_age(time_t created, time_t now, char *buf, size_t len)
{
	long s = created ? (long)(now - created) : 0;
	long m = s / 60, h = s / 3600, d = h / 24;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%lds", s);
	else if (m < 10)
		snprintf(buf, len, "%ldm%lds", m, s % 60);
	else if (h < 3)
		snprintf(buf, len, "%ldm", m);
	else if (h < 8)
		snprintf(buf, len, "%ldh%ldm", h, m % 60);
	else if (h < 48)
		snprintf(buf, len, "%ldh", h);
	else if (d < 8)
		snprintf(buf, len, "%ldd%ldh", d, h % 24);
	else if (d < 365 * 2)
		snprintf(buf, len, "%ldd", d);
	else
		snprintf(buf, len, "%ldy%ldd", d / 365, d % 365);
}

static void cell_str(json_t *cells, const char *s)
{
	json_array_append_new(cells, json_string(s ? s : ""));
}

static void cell_or(json_t *cells, const char *s, const char *dflt)
{
	json_array_append_new(cells, json_string(s && *s ? s : dflt));
}

static void cell_int(json_t *cells, json_t *v)
{
	json_array_append_new(cells, json_integer(json_is_integer(v) ? json_integer_value(v) : 0));
}

static void cell_age(json_t *cells, json_t *obj, time_t now)
{
	char age[32];

	api_human_age(api_parse_time(api_jstr(obj, "metadata.creationTimestamp")), now, age,
		      sizeof(age));
	cell_str(cells, age);
}

static void cell_name(json_t *cells, json_t *obj)
{
	cell_str(cells, api_jstr(obj, "metadata.name"));
}

static long jint(json_t *obj, const char *path)
{
	json_t *v = api_jget(obj, path);

	return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

#define COL(n, t, d) { n, t, "", d, 0 }
#define COLW(n, t, d) { n, t, "", d, 1 }
#define NAMECOL { "Name", "string", "name", "Name must be unique within a namespace.", 0 }
#define AGECOL COL("Age", "string", "Time since the object was created.")

const struct api_column api_default_columns[] = { NAMECOL, AGECOL };
const size_t api_n_default_columns = ARRAY_SIZE(api_default_columns);

void api_default_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	cell_age(cells, obj, now);
}

/* Joins the string at key of each array element with sep. */
static void join_field(json_t *arr, const char *key, char *buf, size_t len)
{
	json_t *e;
	size_t i, off = 0;

	buf[0] = 0;
	json_array_foreach(arr, i, e) {
		const char *s = api_jstr(e, key);

		if (!s)
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", off ? "," : "", s);
		if (off >= len)
			break;
	}
}

static void selector_text(json_t *sel, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t off = 0;

	buf[0] = 0;
	json_object_foreach(sel, k, v) {
		if (!json_is_string(v))
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s=%s",
					off ? "," : "", k, json_string_value(v));
		if (off >= len)
			break;
	}
}

/* ---- pods ---- */

static const struct api_column pod_columns[] = {
	NAMECOL,
	COL("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
	COL("Status", "string", "The aggregate status of the containers in this pod."),
	COL("Restarts", "string", "The number of times the containers in this pod have been restarted."),
	AGECOL,
	COLW("IP", "string", "IP address allocated to the pod."),
	COLW("Node", "string", "Name of the node the pod is assigned to."),
	COLW("Nominated Node", "string", "Nominated node name."),
	COLW("Readiness Gates", "string", "Pod readiness gates."),
};

static void pod_cells(json_t *obj, time_t now, json_t *cells)
{
	json_t *statuses = api_jget(obj, "status.containerStatuses"), *e;
	size_t total = json_array_size(api_jget(obj, "spec.containers")), ready = 0, i;
	long restarts = 0;
	const char *reason = api_jstr(obj, "status.reason");
	char buf[64];

	if (!reason)
		reason = api_jstr(obj, "status.phase");
	json_array_foreach(statuses, i, e) {
		const char *w = api_jstr(e, "state.waiting.reason");
		const char *t = api_jstr(e, "state.terminated.reason");

		if (json_is_true(json_object_get(e, "ready")))
			ready++;
		restarts += jint(e, "restartCount");
		if (w && *w)
			reason = w;
		else if (t && *t)
			reason = t;
	}
	if (api_jget(obj, "metadata.deletionTimestamp"))
		reason = "Terminating";
	cell_name(cells, obj);
	snprintf(buf, sizeof(buf), "%zu/%zu", ready, total);
	cell_str(cells, buf);
	cell_or(cells, reason, "Pending");
	snprintf(buf, sizeof(buf), "%ld", restarts);
	cell_str(cells, buf);
	cell_age(cells, obj, now);
	cell_or(cells, api_jstr(obj, "status.podIP"), "<none>");
	cell_or(cells, api_jstr(obj, "spec.nodeName"), "<none>");
	cell_or(cells, api_jstr(obj, "status.nominatedNodeName"), "<none>");
	cell_str(cells, "<none>");
}

static const char *image_pull_policy(const char *image)
{
	const char *slash = image ? strrchr(image, '/') : NULL;
	const char *colon = strrchr(slash ? slash : image ? image : "", ':');

	if (image && strchr(image, '@'))
		return "IfNotPresent";
	if (!colon || streq(colon, ":latest"))
		return "Always";
	return "IfNotPresent";
}

static void probe_defaults(json_t *probe)
{
	json_t *hg = json_object_get(probe, "httpGet");

	if (!json_is_object(probe))
		return;
	api_jdefault(probe, "timeoutSeconds", json_integer(1));
	api_jdefault(probe, "periodSeconds", json_integer(10));
	api_jdefault(probe, "successThreshold", json_integer(1));
	api_jdefault(probe, "failureThreshold", json_integer(3));
	if (json_is_object(hg)) {
		api_jdefault(hg, "path", json_string("/"));
		api_jdefault(hg, "scheme", json_string("HTTP"));
	}
}

static void container_defaults(json_t *list)
{
	json_t *c, *p;
	size_t i, j;

	json_array_foreach(list, i, c) {
		api_jdefault(c, "imagePullPolicy",
			     json_string(image_pull_policy(json_string_value(json_object_get(c, "image")))));
		api_jdefault(c, "terminationMessagePath", json_string("/dev/termination-log"));
		api_jdefault(c, "terminationMessagePolicy", json_string("File"));
		api_jdefault(c, "resources", json_object());
		json_array_foreach(json_object_get(c, "ports"), j, p)
			api_jdefault(p, "protocol", json_string("TCP"));
		probe_defaults(json_object_get(c, "readinessProbe"));
		probe_defaults(json_object_get(c, "livenessProbe"));
		probe_defaults(json_object_get(c, "startupProbe"));
	}
}

static void pod_spec_defaults(json_t *spec)
{
	if (!json_is_object(spec))
		return;
	container_defaults(json_object_get(spec, "containers"));
	container_defaults(json_object_get(spec, "initContainers"));
	api_jdefault(spec, "restartPolicy", json_string("Always"));
	api_jdefault(spec, "terminationGracePeriodSeconds", json_integer(30));
	api_jdefault(spec, "dnsPolicy", json_string("ClusterFirst"));
	api_jdefault(spec, "securityContext", json_object());
	api_jdefault(spec, "schedulerName", json_string("default-scheduler"));
	api_jdefault(spec, "enableServiceLinks", json_true());
	api_jdefault(spec, "serviceAccountName", json_string("default"));
	api_jdefault(spec, "preemptionPolicy", json_string("PreemptLowerPriority"));
	api_jdefault(spec, "priority", json_integer(0));
}

static void pod_defaults(json_t *obj)
{
	pod_spec_defaults(json_object_get(obj, "spec"));
	api_jdefault(jobj(obj, "status"), "phase", json_string("Pending"));
	api_jdefault(jobj(obj, "status"), "qosClass", json_string("BestEffort"));
}

static void validate_containers(json_t *list, const char *field, bool required, json_t *causes)
{
	json_t *c;
	size_t i;

	if (required && json_array_size(list) == 0) {
		api_cause(causes, "FieldValueRequired", field, "Required value");
		return;
	}
	if (list && !json_is_array(list)) {
		api_cause(causes, "FieldValueInvalid", field, "Invalid value: must be a list");
		return;
	}
	json_array_foreach(list, i, c) {
		char f[128];
		const char *name = api_jstr(c, "name");
		const char *bad;
		json_t *p;
		size_t j;

		snprintf(f, sizeof(f), "%s[%zu].name", field, i);
		if (!name || !*name)
			api_cause(causes, "FieldValueRequired", f, "Required value");
		else if ((bad = kube_dns1123_label_error(name)))
			api_cause(causes, "FieldValueInvalid", f, "Invalid value: \"%s\": %s", name, bad);
		for (size_t k = 0; name && k < i; k++)
			if (streq(api_jstr(json_array_get(list, k), "name"), name))
				api_cause(causes, "FieldValueDuplicate", f, "Duplicate value: \"%s\"", name);
		snprintf(f, sizeof(f), "%s[%zu].image", field, i);
		if (!api_jstr(c, "image") || !*api_jstr(c, "image"))
			api_cause(causes, "FieldValueRequired", f, "Required value");
		json_array_foreach(json_object_get(c, "ports"), j, p) {
			json_t *cp = json_object_get(p, "containerPort");

			snprintf(f, sizeof(f), "%s[%zu].ports[%zu].containerPort", field, i, j);
			if (!json_is_integer(cp))
				api_cause(causes, "FieldValueRequired", f, "Required value");
			else if (json_integer_value(cp) < 1 || json_integer_value(cp) > 65535)
				api_cause(causes, "FieldValueInvalid", f,
					  "Invalid value: %lld: must be between 1 and 65535, inclusive",
					  (long long)json_integer_value(cp));
		}
	}
}

static void validate_pod_spec(json_t *spec, const char *prefix, json_t *causes)
{
	char f[128];
	const char *rp = api_jstr(spec, "restartPolicy");

	snprintf(f, sizeof(f), "%s.containers", prefix);
	validate_containers(json_object_get(spec, "containers"), f, true, causes);
	snprintf(f, sizeof(f), "%s.initContainers", prefix);
	validate_containers(json_object_get(spec, "initContainers"), f, false, causes);
	if (rp && !streq(rp, "Always") && !streq(rp, "OnFailure") && !streq(rp, "Never")) {
		snprintf(f, sizeof(f), "%s.restartPolicy", prefix);
		api_cause(causes, "FieldValueNotSupported", f,
			  "Unsupported value: \"%s\": supported values: \"Always\", \"Never\", \"OnFailure\"", rp);
	}
}

static void pod_validate(json_t *obj, json_t *causes)
{
	validate_pod_spec(json_object_get(obj, "spec"), "spec", causes);
}

/* ---- services ---- */

static const struct api_column svc_columns[] = {
	NAMECOL,
	COL("Type", "string", "The type of service."),
	COL("Cluster-IP", "string", "The cluster IP of the service."),
	COL("External-IP", "string", "External IPs of the service."),
	COL("Port(s)", "string", "The ports of the service."),
	AGECOL,
	COLW("Selector", "string", "The selector of the service."),
};

static void svc_cells(json_t *obj, time_t now, json_t *cells)
{
	const char *type = api_jstr(obj, "spec.type");
	json_t *p, *ing;
	size_t i, off = 0;
	char ports[512] = "", ext[256] = "", sel[512];

	json_array_foreach(api_jget(obj, "spec.ports"), i, p) {
		long np = jint(p, "nodePort");
		const char *proto = api_jstr(p, "protocol");

		if (np)
			off += (size_t)snprintf(ports + off, off < sizeof(ports) ? sizeof(ports) - off : 0,
						"%s%ld:%ld/%s", off ? "," : "", jint(p, "port"), np,
						proto ? proto : "TCP");
		else
			off += (size_t)snprintf(ports + off, off < sizeof(ports) ? sizeof(ports) - off : 0,
						"%s%ld/%s", off ? "," : "", jint(p, "port"),
						proto ? proto : "TCP");
		if (off >= sizeof(ports))
			break;
	}
	ing = api_jget(obj, "status.loadBalancer.ingress");
	if (json_array_size(ing))
		join_field(ing, "ip", ext, sizeof(ext));
	else if (json_array_size(api_jget(obj, "spec.externalIPs")))
		snprintf(ext, sizeof(ext), "%s",
			 json_string_value(json_array_get(api_jget(obj, "spec.externalIPs"), 0)));
	else if (streq(type, "LoadBalancer"))
		snprintf(ext, sizeof(ext), "<pending>");
	else if (streq(type, "ExternalName"))
		snprintf(ext, sizeof(ext), "%s", api_jstr(obj, "spec.externalName") ?: "");
	cell_name(cells, obj);
	cell_or(cells, type, "ClusterIP");
	cell_or(cells, api_jstr(obj, "spec.clusterIP"), "<none>");
	cell_or(cells, ext, "<none>");
	cell_or(cells, ports, "<none>");
	cell_age(cells, obj, now);
	selector_text(api_jget(obj, "spec.selector"), sel, sizeof(sel));
	cell_or(cells, sel, "<none>");
}

static void svc_defaults(json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec"), *p;
	size_t i;

	if (!json_is_object(spec))
		return;
	api_jdefault(spec, "type", json_string("ClusterIP"));
	api_jdefault(spec, "sessionAffinity", json_string("None"));
	/* ipFamilies and ipFamilyPolicy are settled by the allocator, which
	 * knows the cluster's service ranges. */
	if (!streq(api_jstr(spec, "type"), "ExternalName"))
		api_jdefault(spec, "internalTrafficPolicy", json_string("Cluster"));
	if (streq(api_jstr(spec, "type"), "NodePort") || streq(api_jstr(spec, "type"), "LoadBalancer"))
		api_jdefault(spec, "externalTrafficPolicy", json_string("Cluster"));
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		api_jdefault(p, "protocol", json_string("TCP"));
		if (json_object_get(p, "port"))
			api_jdefault(p, "targetPort", json_deep_copy(json_object_get(p, "port")));
	}
	jobj(jobj(obj, "status"), "loadBalancer");
}

static void svc_validate(json_t *obj, json_t *causes)
{
	json_t *spec = json_object_get(obj, "spec"), *p;
	const char *type = api_jstr(spec, "type");
	size_t i;

	if (type && !streq(type, "ClusterIP") && !streq(type, "NodePort") &&
	    !streq(type, "LoadBalancer") && !streq(type, "ExternalName"))
		api_cause(causes, "FieldValueNotSupported", "spec.type",
			  "Unsupported value: \"%s\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
			  type);
	if (!streq(type, "ExternalName") && json_array_size(json_object_get(spec, "ports")) == 0)
		api_cause(causes, "FieldValueRequired", "spec.ports", "Required value");
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		json_t *port = json_object_get(p, "port");
		const char *proto = api_jstr(p, "protocol");
		char f[64];

		snprintf(f, sizeof(f), "spec.ports[%zu].port", i);
		if (!json_is_integer(port))
			api_cause(causes, "FieldValueRequired", f, "Required value");
		else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
			api_cause(causes, "FieldValueInvalid", f,
				  "Invalid value: %lld: must be between 1 and 65535, inclusive",
				  (long long)json_integer_value(port));
		snprintf(f, sizeof(f), "spec.ports[%zu].protocol", i);
		if (proto && !streq(proto, "TCP") && !streq(proto, "UDP") && !streq(proto, "SCTP"))
			api_cause(causes, "FieldValueNotSupported", f,
				  "Unsupported value: \"%s\": supported values: \"SCTP\", \"TCP\", \"UDP\"", proto);
		if (json_array_size(json_object_get(spec, "ports")) > 1 && !api_jstr(p, "name")) {
			snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
			api_cause(causes, "FieldValueRequired", f, "Required value");
		}
	}
}

/* ---- workloads ---- */

static void template_defaults(json_t *obj)
{
	pod_spec_defaults(api_jget(obj, "spec.template.spec"));
}

static void validate_selector_template(json_t *obj, json_t *causes)
{
	json_t *sel = api_jget(obj, "spec.selector.matchLabels");
	json_t *labels = api_jget(obj, "spec.template.metadata.labels"), *v;
	const char *k;

	if (!api_jget(obj, "spec.selector")) {
		api_cause(causes, "FieldValueRequired", "spec.selector", "Required value");
		return;
	}
	json_object_foreach(sel, k, v) {
		if (!json_equal(json_object_get(labels, k), v)) {
			api_cause(causes, "FieldValueInvalid", "spec.template.metadata.labels",
				  "Invalid value: map[string]string(nil): `selector` does not match template `labels`");
			return;
		}
	}
}

static void workload_validate(json_t *obj, json_t *causes)
{
	json_t *r = api_jget(obj, "spec.replicas");

	validate_selector_template(obj, causes);
	if (r && (!json_is_integer(r) || json_integer_value(r) < 0))
		api_cause(causes, "FieldValueInvalid", "spec.replicas",
			  "Invalid value: must be greater than or equal to 0");
	validate_pod_spec(api_jget(obj, "spec.template.spec"), "spec.template.spec", causes);
}

/* Until skiff has storage, a StatefulSet cannot ask for claims. */
static void sts_validate(json_t *obj, json_t *causes)
{
	workload_validate(obj, causes);
	if (json_array_size(api_jget(obj, "spec.volumeClaimTemplates")))
		api_cause(causes, "FieldValueForbidden", "spec.volumeClaimTemplates",
			  "Forbidden: not supported: skiff has no storage for PersistentVolumeClaims; "
			  "use volumes in spec.template.spec instead");
}

static void deploy_defaults(json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec"), *st;

	if (!json_is_object(spec))
		return;
	api_jdefault(spec, "replicas", json_integer(1));
	api_jdefault(spec, "revisionHistoryLimit", json_integer(10));
	api_jdefault(spec, "progressDeadlineSeconds", json_integer(600));
	st = jobj(spec, "strategy");
	api_jdefault(st, "type", json_string("RollingUpdate"));
	if (streq(api_jstr(st, "type"), "RollingUpdate"))
		api_jdefault(st, "rollingUpdate",
			     json_pack("{s:s,s:s}", "maxUnavailable", "25%", "maxSurge", "25%"));
	template_defaults(obj);
}

static void rs_defaults(json_t *obj)
{
	if (!json_is_object(json_object_get(obj, "spec")))
		return;
	api_jdefault(json_object_get(obj, "spec"), "replicas", json_integer(1));
	template_defaults(obj);
}

static void containers_images(json_t *obj, char *names, size_t nl, char *images, size_t il)
{
	json_t *cs = api_jget(obj, "spec.template.spec.containers");

	join_field(cs, "name", names, nl);
	join_field(cs, "image", images, il);
}

static const struct api_column deploy_columns[] = {
	NAMECOL,
	COL("Ready", "string", "Number of the pod with ready state"),
	COL("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
	COL("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
	AGECOL,
	COLW("Containers", "string", "Names of each container in the template."),
	COLW("Images", "string", "Images referenced by each container in the template."),
	COLW("Selector", "string", "Label selector for pods."),
};

static void deploy_cells(json_t *obj, time_t now, json_t *cells)
{
	char buf[64], names[256], images[512], sel[512];

	cell_name(cells, obj);
	snprintf(buf, sizeof(buf), "%ld/%ld", jint(obj, "status.readyReplicas"),
		 jint(obj, "spec.replicas"));
	cell_str(cells, buf);
	cell_int(cells, api_jget(obj, "status.updatedReplicas"));
	cell_int(cells, api_jget(obj, "status.availableReplicas"));
	cell_age(cells, obj, now);
	containers_images(obj, names, sizeof(names), images, sizeof(images));
	cell_str(cells, names);
	cell_str(cells, images);
	selector_text(api_jget(obj, "spec.selector.matchLabels"), sel, sizeof(sel));
	cell_str(cells, sel);
}

static const struct api_column rs_columns[] = {
	NAMECOL,
	COL("Desired", "integer", "Number of desired pods."),
	COL("Current", "integer", "Number of actually running pods."),
	COL("Ready", "integer", "Number of ready pods."),
	AGECOL,
	COLW("Containers", "string", "Names of each container in the template."),
	COLW("Images", "string", "Images referenced by each container in the template."),
	COLW("Selector", "string", "Label selector for pods."),
};

static void rs_cells(json_t *obj, time_t now, json_t *cells)
{
	char names[256], images[512], sel[512];

	cell_name(cells, obj);
	cell_int(cells, api_jget(obj, "spec.replicas"));
	cell_int(cells, api_jget(obj, "status.replicas"));
	cell_int(cells, api_jget(obj, "status.readyReplicas"));
	cell_age(cells, obj, now);
	containers_images(obj, names, sizeof(names), images, sizeof(images));
	cell_str(cells, names);
	cell_str(cells, images);
	selector_text(api_jget(obj, "spec.selector.matchLabels"), sel, sizeof(sel));
	cell_str(cells, sel);
}

static const struct api_column ds_columns[] = {
	NAMECOL,
	COL("Desired", "integer", "The number of nodes that should be running the daemon pod."),
	COL("Current", "integer", "The number of nodes running at least one daemon pod."),
	COL("Ready", "integer", "The number of nodes running the daemon pod and ready."),
	COL("Up-to-date", "integer", "The number of nodes running the updated daemon pod."),
	COL("Available", "integer", "The number of nodes running the daemon pod and available."),
	COL("Node Selector", "string", "The node selector of the daemon pod."),
	AGECOL,
};

static void ds_cells(json_t *obj, time_t now, json_t *cells)
{
	char sel[256];

	cell_name(cells, obj);
	cell_int(cells, api_jget(obj, "status.desiredNumberScheduled"));
	cell_int(cells, api_jget(obj, "status.currentNumberScheduled"));
	cell_int(cells, api_jget(obj, "status.numberReady"));
	cell_int(cells, api_jget(obj, "status.updatedNumberScheduled"));
	cell_int(cells, api_jget(obj, "status.numberAvailable"));
	selector_text(api_jget(obj, "spec.template.spec.nodeSelector"), sel, sizeof(sel));
	cell_or(cells, sel, "<none>");
	cell_age(cells, obj, now);
}

static const struct api_column sts_columns[] = {
	NAMECOL,
	COL("Ready", "string", "Number of the pod with ready state"),
	AGECOL,
};

static void sts_cells(json_t *obj, time_t now, json_t *cells)
{
	char buf[64];

	cell_name(cells, obj);
	snprintf(buf, sizeof(buf), "%ld/%ld", jint(obj, "status.readyReplicas"),
		 jint(obj, "spec.replicas"));
	cell_str(cells, buf);
	cell_age(cells, obj, now);
}

static void job_validate(json_t *obj, json_t *causes)
{
	validate_pod_spec(api_jget(obj, "spec.template.spec"), "spec.template.spec", causes);
}

static void job_defaults(json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec");

	if (!json_is_object(spec))
		return;
	api_jdefault(spec, "backoffLimit", json_integer(6));
	api_jdefault(spec, "completions", json_integer(1));
	api_jdefault(spec, "parallelism", json_integer(1));
	template_defaults(obj);
}

static const struct api_column job_columns[] = {
	NAMECOL,
	COL("Completions", "string", "The desired number of successfully finished pods."),
	COL("Duration", "string", "Time required to complete the job."),
	AGECOL,
};

static void job_cells(json_t *obj, time_t now, json_t *cells)
{
	const char *start = api_jstr(obj, "status.startTime");
	const char *done = api_jstr(obj, "status.completionTime");
	char buf[64];

	cell_name(cells, obj);
	snprintf(buf, sizeof(buf), "%ld/%ld", jint(obj, "status.succeeded"),
		 jint(obj, "spec.completions"));
	cell_str(cells, buf);
	/* Duration: start to completion, or to now while it runs */
	buf[0] = 0;
	if (start)
		api_human_age(api_parse_time(start), done ? api_parse_time(done) : now, buf,
			      sizeof(buf));
	cell_str(cells, buf);
	cell_age(cells, obj, now);
}

static const struct api_column cj_columns[] = {
	NAMECOL,
	COL("Schedule", "string", "The schedule in Cron format."),
	COL("Suspend", "boolean", "Whether the cron job is suspended."),
	COL("Active", "integer", "Number of currently running jobs."),
	COL("Last Schedule", "string", "When the last job was scheduled."),
	AGECOL,
};

static void cj_cells(json_t *obj, time_t now, json_t *cells)
{
	char age[32];
	const char *last = api_jstr(obj, "status.lastScheduleTime");

	cell_name(cells, obj);
	cell_str(cells, api_jstr(obj, "spec.schedule"));
	json_array_append_new(cells, json_boolean(json_is_true(api_jget(obj, "spec.suspend"))));
	json_array_append_new(cells, json_integer((json_int_t)json_array_size(api_jget(obj, "status.active"))));
	if (last)
		api_human_age(api_parse_time(last), now, age, sizeof(age));
	cell_str(cells, last ? age : "<none>");
	cell_age(cells, obj, now);
}

static void cj_validate(json_t *obj, json_t *causes)
{
	if (!api_jstr(obj, "spec.schedule"))
		api_cause(causes, "FieldValueRequired", "spec.schedule", "Required value");
	validate_pod_spec(api_jget(obj, "spec.jobTemplate.spec.template.spec"),
			  "spec.jobTemplate.spec.template.spec", causes);
}

/* ---- core, cluster-scoped and config kinds ---- */

static const struct api_column ns_columns[] = {
	NAMECOL,
	COL("Status", "string", "The status of the namespace"),
	AGECOL,
};

static void ns_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	cell_or(cells, api_jstr(obj, "status.phase"), "Active");
	cell_age(cells, obj, now);
}

static void ns_defaults(json_t *obj)
{
	const char *name = api_jstr(obj, "metadata.name");

	api_jdefault(jobj(obj, "spec"), "finalizers", json_pack("[s]", "kubernetes"));
	api_jdefault(jobj(obj, "status"), "phase", json_string("Active"));
	if (name)
		json_object_set_new(jobj(jobj(obj, "metadata"), "labels"),
				    "kubernetes.io/metadata.name", json_string(name));
}

static const struct api_column node_columns[] = {
	NAMECOL,
	COL("Status", "string", "The status of the node"),
	COL("Roles", "string", "The roles of the node"),
	AGECOL,
	COL("Version", "string", "Kubelet Version reported by the node."),
	COLW("Internal-IP", "string", "List of internal IPs for the node."),
};

static void node_cells(json_t *obj, time_t now, json_t *cells)
{
	json_t *c, *a;
	size_t i;
	const char *st = "Unknown", *ip = "<none>";

	json_array_foreach(api_jget(obj, "status.conditions"), i, c) {
		if (streq(api_jstr(c, "type"), "Ready"))
			st = streq(api_jstr(c, "status"), "True") ? "Ready" : "NotReady";
	}
	json_array_foreach(api_jget(obj, "status.addresses"), i, a) {
		if (streq(api_jstr(a, "type"), "InternalIP"))
			ip = api_jstr(a, "address");
	}
	cell_name(cells, obj);
	if (json_is_true(api_jget(obj, "spec.unschedulable"))) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s,SchedulingDisabled", st);
		cell_str(cells, buf);
	} else {
		cell_str(cells, st);
	}
	cell_str(cells, "<none>");
	cell_age(cells, obj, now);
	cell_or(cells, api_jstr(obj, "status.nodeInfo.kubeletVersion"), "");
	cell_or(cells, ip, "<none>");
}

static const struct api_column cm_columns[] = {
	NAMECOL,
	COL("Data", "integer", "Number of user provided data."),
	AGECOL,
};

static void cm_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	json_array_append_new(cells, json_integer((json_int_t)(json_object_size(json_object_get(obj, "data")) +
							      json_object_size(json_object_get(obj, "binaryData")))));
	cell_age(cells, obj, now);
}

static const struct api_column secret_columns[] = {
	NAMECOL,
	COL("Type", "string", "The type of the secret"),
	COL("Data", "integer", "Number of user provided data."),
	AGECOL,
};

static void secret_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	cell_or(cells, api_jstr(obj, "type"), "Opaque");
	json_array_append_new(cells, json_integer((json_int_t)json_object_size(json_object_get(obj, "data"))));
	cell_age(cells, obj, now);
}

static void secret_defaults(json_t *obj)
{
	json_t *sd = json_object_get(obj, "stringData"), *v;
	const char *k;

	api_jdefault(obj, "type", json_string("Opaque"));
	/* stringData is write-only: merged into data, base64-encoded. */
	if (json_is_object(sd)) {
		json_t *data = jobj(obj, "data");

		json_object_foreach(sd, k, v) {
			const char *s = json_string_value(v);
			_cleanup_free_ char *enc = b64_encode(s ? s : "", s ? json_string_length(v) : 0,
							      B64_STD);

			if (enc)
				json_object_set_new(data, k, json_string(enc));
		}
		json_object_del(obj, "stringData");
	}
}

static const struct api_column ep_columns[] = {
	NAMECOL,
	COL("Endpoints", "string", "Endpoints of the service."),
	AGECOL,
};

static void ep_cells(json_t *obj, time_t now, json_t *cells)
{
	json_t *sub, *a;
	size_t i, j, off = 0, count = 0;
	char buf[256] = "";

	json_array_foreach(json_object_get(obj, "subsets"), i, sub) {
		json_array_foreach(json_object_get(sub, "addresses"), j, a) {
			json_t *p = json_array_get(json_object_get(sub, "ports"), 0);

			if (count++ >= 3)
				continue;
			off += (size_t)snprintf(buf + off, off < sizeof(buf) ? sizeof(buf) - off : 0,
						p ? "%s%s:%ld" : "%s%s", off ? "," : "",
						api_jstr(a, "ip") ?: "", jint(p, "port"));
		}
	}
	if (count > 3 && off < sizeof(buf))
		snprintf(buf + off, sizeof(buf) - off, " + %zu more...", count - 3);
	cell_name(cells, obj);
	cell_or(cells, buf, "<none>");
	cell_age(cells, obj, now);
}

static const struct api_column eps_columns[] = {
	NAMECOL,
	COL("AddressType", "string", "The IP protocol for this slice."),
	COL("Ports", "string", "The ports of this slice."),
	COL("Endpoints", "string", "The endpoints of this slice."),
	AGECOL,
};

static void eps_cells(json_t *obj, time_t now, json_t *cells)
{
	json_t *e, *p;
	size_t i, off = 0;
	char ports[128] = "", eps[256] = "";

	json_array_foreach(json_object_get(obj, "ports"), i, p)
		off += (size_t)snprintf(ports + off, off < sizeof(ports) ? sizeof(ports) - off : 0,
					"%s%ld", off ? "," : "", jint(p, "port"));
	off = 0;
	json_array_foreach(json_object_get(obj, "endpoints"), i, e) {
		json_t *a = json_array_get(json_object_get(e, "addresses"), 0);

		if (i < 3 && json_is_string(a))
			off += (size_t)snprintf(eps + off, off < sizeof(eps) ? sizeof(eps) - off : 0,
						"%s%s", off ? "," : "", json_string_value(a));
	}
	cell_name(cells, obj);
	cell_str(cells, api_jstr(obj, "addressType"));
	cell_or(cells, ports, "<unset>");
	cell_or(cells, eps, "<unset>");
	cell_age(cells, obj, now);
}

static void eps_validate(json_t *obj, json_t *causes)
{
	const char *t = api_jstr(obj, "addressType");

	if (!t)
		api_cause(causes, "FieldValueRequired", "addressType", "Required value");
	else if (!streq(t, "IPv4") && !streq(t, "IPv6") && !streq(t, "FQDN"))
		api_cause(causes, "FieldValueNotSupported", "addressType",
			  "Unsupported value: \"%s\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"", t);
}

static const struct api_column sa_columns[] = {
	NAMECOL,
	COL("Secrets", "integer", "Number of secrets"),
	AGECOL,
};

static void sa_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	json_array_append_new(cells, json_integer((json_int_t)json_array_size(json_object_get(obj, "secrets"))));
	cell_age(cells, obj, now);
}

static const struct api_column event_columns[] = {
	COL("Last Seen", "string", "Time since the last occurrence."),
	COL("Type", "string", "Type of this event."),
	COL("Reason", "string", "Why the action was taken."),
	COL("Object", "string", "The object this event is about."),
	COL("Message", "string", "A human-readable description of the status of this operation."),
	COLW("Source", "string", "The component reporting this event."),
	COLW("First Seen", "string", "Time since the first occurrence."),
	COLW("Count", "integer", "The number of times this event has occurred."),
	{ "Name", "string", "name", "Name must be unique within a namespace.", 1 },
};

static void event_cells(json_t *obj, time_t now, json_t *cells)
{
	char age[32], first[32], ref[256], kind[64];
	const char *last = api_jstr(obj, "lastTimestamp") ?: api_jstr(obj, "eventTime");
	size_t i;

	api_human_age(api_parse_time(last ?: api_jstr(obj, "metadata.creationTimestamp")), now,
		      age, sizeof(age));
	api_human_age(api_parse_time(api_jstr(obj, "firstTimestamp") ?: last), now, first,
		      sizeof(first));
	/* "replicaset/NAME": the kind lowercased, as upstream's printer */
	strscpy(kind, api_jstr(obj, "involvedObject.kind") ?: "", sizeof(kind));
	for (i = 0; kind[i]; i++)
		kind[i] = (char)tolower((unsigned char)kind[i]);
	snprintf(ref, sizeof(ref), "%s/%s", kind, api_jstr(obj, "involvedObject.name") ?: "");
	cell_str(cells, age);
	cell_or(cells, api_jstr(obj, "type"), "Normal");
	cell_str(cells, api_jstr(obj, "reason"));
	cell_str(cells, ref);
	cell_str(cells, api_jstr(obj, "message"));
	cell_str(cells, api_jstr(obj, "source.component"));
	cell_str(cells, first);
	cell_int(cells, json_object_get(obj, "count"));
	cell_name(cells, obj);
}

static const struct api_column ing_columns[] = {
	NAMECOL,
	COL("Class", "string", "The name of the IngressClass resource."),
	COL("Hosts", "string", "Hosts that incoming requests are matched against."),
	COL("Address", "string", "Address is a list containing ingress points for the load-balancer."),
	COL("Ports", "string", "Ports of TLS configurations that open."),
	AGECOL,
};

static void ing_cells(json_t *obj, time_t now, json_t *cells)
{
	char hosts[256], addr[256];

	join_field(api_jget(obj, "spec.rules"), "host", hosts, sizeof(hosts));
	join_field(api_jget(obj, "status.loadBalancer.ingress"), "ip", addr, sizeof(addr));
	cell_name(cells, obj);
	cell_or(cells, api_jstr(obj, "spec.ingressClassName"), "<none>");
	cell_or(cells, hosts, "*");
	cell_str(cells, addr);
	cell_str(cells, json_array_size(api_jget(obj, "spec.tls")) ? "80, 443" : "80");
	cell_age(cells, obj, now);
}

static const struct api_column lease_columns[] = {
	NAMECOL,
	COL("Holder", "string", "The holder of the lease."),
	AGECOL,
};

static void lease_cells(json_t *obj, time_t now, json_t *cells)
{
	cell_name(cells, obj);
	cell_str(cells, api_jstr(obj, "spec.holderIdentity"));
	cell_age(cells, obj, now);
}

static const struct api_column rb_columns[] = {
	NAMECOL,
	COL("Role", "string", "The role the binding refers to."),
	AGECOL,
	COLW("Users", "string", "Users in the binding."),
	COLW("Groups", "string", "Groups in the binding."),
	COLW("ServiceAccounts", "string", "ServiceAccounts in the binding."),
};

static void rb_cells(json_t *obj, time_t now, json_t *cells)
{
	char role[256], users[256] = "", groups[256] = "", sas[256] = "";
	json_t *s;
	size_t i, ou = 0, og = 0, os = 0;

	snprintf(role, sizeof(role), "%s/%s", api_jstr(obj, "roleRef.kind") ?: "",
		 api_jstr(obj, "roleRef.name") ?: "");
	json_array_foreach(json_object_get(obj, "subjects"), i, s) {
		const char *k = api_jstr(s, "kind"), *n = api_jstr(s, "name") ?: "";

		if (streq(k, "User"))
			ou += (size_t)snprintf(users + ou, ou < sizeof(users) ? sizeof(users) - ou : 0,
					       "%s%s", ou ? ", " : "", n);
		else if (streq(k, "Group"))
			og += (size_t)snprintf(groups + og, og < sizeof(groups) ? sizeof(groups) - og : 0,
					       "%s%s", og ? ", " : "", n);
		else if (streq(k, "ServiceAccount"))
			os += (size_t)snprintf(sas + os, os < sizeof(sas) ? sizeof(sas) - os : 0,
					       "%s%s:%s", os ? ", " : "", api_jstr(s, "namespace") ?: "", n);
	}
	cell_name(cells, obj);
	cell_str(cells, role);
	cell_age(cells, obj, now);
	cell_str(cells, users);
	cell_str(cells, groups);
	cell_str(cells, sas);
}

static void rb_validate(json_t *obj, json_t *causes)
{
	if (!api_jstr(obj, "roleRef.name"))
		api_cause(causes, "FieldValueRequired", "roleRef.name", "Required value");
	if (!api_jstr(obj, "roleRef.kind"))
		api_cause(causes, "FieldValueRequired", "roleRef.kind", "Required value");
}

/* ---- the table ---- */

#define COLUMNS(a, fn) .columns = a, .n_columns = ARRAY_SIZE(a), .cells = fn
#define DEFAULT_COLUMNS COLUMNS(api_default_columns, api_default_cells)
#define REVIEW_ROW(g, k, singular_, ns)                                                        \
	{ .group = g, .version = "v1", .kind = k, .plural = singular_ "s",                      \
	  .singular = singular_, .namespaced = ns, DEFAULT_COLUMNS, .answer = true }

const struct api_resource api_resources[] = {
	{
		.group = "", .version = "v1", .kind = "Namespace",
		.plural = "namespaces", .singular = "namespace", .short_names = { "ns" },
		.subresources = API_SUB_STATUS,
		COLUMNS(ns_columns, ns_cells),
		.defaults = ns_defaults,
		.fields = { "status.phase" },
		.name_rule = API_NAME_LABEL,
		.hooks = &api_namespace_hooks,
		.subs = api_namespace_subs,
	},
	{
		.group = "", .version = "v1", .kind = "Node",
		.plural = "nodes", .singular = "node", .short_names = { "no" },
		.subresources = API_SUB_STATUS,
		COLUMNS(node_columns, node_cells),
		.fields = { "spec.unschedulable" },
		.create_keeps_status = true,
	},
	{
		.group = "", .version = "v1", .kind = "Pod",
		.plural = "pods", .singular = "pod", .short_names = { "po" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true,
		.subresources = API_SUB_STATUS | API_SUB_LOG | API_SUB_EXEC | API_SUB_BINDING,
		COLUMNS(pod_columns, pod_cells),
		.defaults = pod_defaults, .validate = pod_validate,
		.fields = { "spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
			    "spec.serviceAccountName", "status.podIP" },
		.hooks = &api_pod_hooks,
		.subs = api_pod_subs,
	},
	{
		.group = "", .version = "v1", .kind = "Service",
		.plural = "services", .singular = "service", .short_names = { "svc" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(svc_columns, svc_cells),
		.defaults = svc_defaults, .validate = svc_validate,
		.fields = { "spec.clusterIP", "spec.type" },
		.name_rule = API_NAME_LABEL_1035,
		.hooks = &api_service_hooks,
	},
	{
		.group = "", .version = "v1", .kind = "Endpoints",
		.plural = "endpoints", .singular = "endpoints", .short_names = { "ep" },
		.namespaced = true,
		COLUMNS(ep_columns, ep_cells),
		.top_fields = "subsets",
	},
	{
		.group = "", .version = "v1", .kind = "ConfigMap",
		.plural = "configmaps", .singular = "configmap", .short_names = { "cm" },
		.namespaced = true,
		COLUMNS(cm_columns, cm_cells),
		.top_fields = "data,binaryData,immutable",
	},
	{
		.group = "", .version = "v1", .kind = "Secret",
		.plural = "secrets", .singular = "secret",
		.namespaced = true,
		COLUMNS(secret_columns, secret_cells),
		.defaults = secret_defaults,
		.fields = { "type" },
		.top_fields = "data,stringData,type,immutable",
	},
	{
		.group = "", .version = "v1", .kind = "ServiceAccount",
		.plural = "serviceaccounts", .singular = "serviceaccount", .short_names = { "sa" },
		.namespaced = true,
		COLUMNS(sa_columns, sa_cells),
		.top_fields = "secrets,imagePullSecrets,automountServiceAccountToken",
		.subs = api_serviceaccount_subs,
	},
	{
		.group = "", .version = "v1", .kind = "Event",
		.plural = "events", .singular = "event", .short_names = { "ev" },
		.namespaced = true,
		COLUMNS(event_columns, event_cells),
		.fields = { "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
			    "involvedObject.uid", "reason", "type" },
		.top_fields = "involvedObject,reason,message,source,firstTimestamp,lastTimestamp,count,"
			      "type,eventTime,series,action,related,reportingComponent,reportingInstance",
	},
	{
		.group = "discovery.k8s.io", .version = "v1", .kind = "EndpointSlice",
		.plural = "endpointslices", .singular = "endpointslice",
		.namespaced = true,
		COLUMNS(eps_columns, eps_cells),
		.validate = eps_validate,
		.top_fields = "addressType,endpoints,ports",
	},
	{
		.group = "apps", .version = "v1", .kind = "Deployment",
		.plural = "deployments", .singular = "deployment", .short_names = { "deploy" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS | API_SUB_SCALE,
		COLUMNS(deploy_columns, deploy_cells),
		.defaults = deploy_defaults, .validate = workload_validate,
	},
	{
		.group = "apps", .version = "v1", .kind = "ReplicaSet",
		.plural = "replicasets", .singular = "replicaset", .short_names = { "rs" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS | API_SUB_SCALE,
		COLUMNS(rs_columns, rs_cells),
		.defaults = rs_defaults, .validate = workload_validate,
	},
	{
		.group = "apps", .version = "v1", .kind = "DaemonSet",
		.plural = "daemonsets", .singular = "daemonset", .short_names = { "ds" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(ds_columns, ds_cells),
		.defaults = template_defaults, .validate = workload_validate,
	},
	{
		.group = "apps", .version = "v1", .kind = "StatefulSet",
		.plural = "statefulsets", .singular = "statefulset", .short_names = { "sts" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS | API_SUB_SCALE,
		COLUMNS(sts_columns, sts_cells),
		.defaults = rs_defaults, .validate = sts_validate,
	},
	{
		.group = "batch", .version = "v1", .kind = "Job",
		.plural = "jobs", .singular = "job", .categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(job_columns, job_cells),
		.defaults = job_defaults, .validate = job_validate,
		.hooks = &api_job_hooks,
		.fields = { "status.successful" },
		.orphan_by_default = true, /* batch/v1, for back compatibility */
	},
	{
		.group = "batch", .version = "v1", .kind = "CronJob",
		.plural = "cronjobs", .singular = "cronjob", .short_names = { "cj" },
		.categories = { "all" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(cj_columns, cj_cells),
		.validate = cj_validate,
	},
	{
		.group = "networking.k8s.io", .version = "v1", .kind = "Ingress",
		.plural = "ingresses", .singular = "ingress", .short_names = { "ing" },
		.namespaced = true, .subresources = API_SUB_STATUS,
		COLUMNS(ing_columns, ing_cells),
	},
	{
		.group = "rbac.authorization.k8s.io", .version = "v1", .kind = "Role",
		.plural = "roles", .singular = "role",
		.namespaced = true,
		DEFAULT_COLUMNS,
		.top_fields = "rules",
		.name_rule = API_NAME_ANY,
	},
	{
		.group = "rbac.authorization.k8s.io", .version = "v1", .kind = "RoleBinding",
		.plural = "rolebindings", .singular = "rolebinding",
		.namespaced = true,
		COLUMNS(rb_columns, rb_cells),
		.validate = rb_validate,
		.top_fields = "subjects,roleRef",
		.name_rule = API_NAME_ANY,
	},
	{
		.group = "rbac.authorization.k8s.io", .version = "v1", .kind = "ClusterRole",
		.plural = "clusterroles", .singular = "clusterrole",
		DEFAULT_COLUMNS,
		.top_fields = "rules,aggregationRule",
		.name_rule = API_NAME_ANY,
	},
	{
		.group = "rbac.authorization.k8s.io", .version = "v1", .kind = "ClusterRoleBinding",
		.plural = "clusterrolebindings", .singular = "clusterrolebinding",
		COLUMNS(rb_columns, rb_cells),
		.validate = rb_validate,
		.top_fields = "subjects,roleRef",
		.name_rule = API_NAME_ANY,
	},
	{
		.group = "apps", .version = "v1", .kind = "ControllerRevision",
		.plural = "controllerrevisions", .singular = "controllerrevision",
		.namespaced = true,
		COLUMNS(api_controllerrevision_columns, api_controllerrevision_cells),
		.validate = api_controllerrevision_validate,
		.top_fields = "data,revision",
	},
	{
		.group = "policy", .version = "v1", .kind = "PodDisruptionBudget",
		.plural = "poddisruptionbudgets", .singular = "poddisruptionbudget",
		.short_names = { "pdb" },
		.namespaced = true, .has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(api_pdb_columns, api_pdb_cells),
		.validate = api_pdb_validate,
	},
	{
		.group = "scheduling.k8s.io", .version = "v1", .kind = "PriorityClass",
		.plural = "priorityclasses", .singular = "priorityclass", .short_names = { "pc" },
		COLUMNS(api_priorityclass_columns, api_priorityclass_cells),
		.defaults = api_priorityclass_defaults, .validate = api_priorityclass_validate,
		.top_fields = "value,globalDefault,description,preemptionPolicy",
		.hooks = &api_priorityclass_hooks,
	},
	/* The reviews (control/api_review.c): answered, never stored. */
	REVIEW_ROW("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreview", false),
	REVIEW_ROW("authentication.k8s.io", "TokenReview", "tokenreview", false),
	/* kubectl 1.27's `auth whoami` asks the beta (and the alpha) only. */
	{ .group = "authentication.k8s.io", .version = "v1beta1", .kind = "SelfSubjectReview",
	  .plural = "selfsubjectreviews", .singular = "selfsubjectreview", DEFAULT_COLUMNS,
	  .answer = true },
	REVIEW_ROW("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreview", false),
	REVIEW_ROW("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreview", false),
	REVIEW_ROW("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreview", false),
	REVIEW_ROW("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreview", true),
	{
		.group = "apiextensions.k8s.io", .version = "v1", .kind = "CustomResourceDefinition",
		.plural = "customresourcedefinitions", .singular = "customresourcedefinition",
		.short_names = { "crd", "crds" }, .categories = { "api-extensions" },
		.has_spec = true, .subresources = API_SUB_STATUS,
		COLUMNS(api_crd_columns, api_crd_cells),
		.defaults = api_crd_defaults, .validate = api_crd_validate,
		.hooks = &api_crd_hooks,
	},
	{
		.group = "coordination.k8s.io", .version = "v1", .kind = "Lease",
		.plural = "leases", .singular = "lease",
		.namespaced = true,
		COLUMNS(lease_columns, lease_cells),
	},
};

const size_t api_n_resources = ARRAY_SIZE(api_resources);

const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *plural)
{
	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (streq(r->group, group) && streq(r->version, version) && streq(r->plural, plural))
			return r;
	}
	return NULL;
}

bool api_group_known(const char *group)
{
	for (size_t i = 0; i < api_n_resources; i++)
		if (streq(api_resources[i].group, group))
			return true;
	return false;
}

const struct api_subresource *api_subresource_find(const struct api_resource *r,
						   const char *name)
{
	for (const struct api_subresource *sr = r->subs; sr && sr->name; sr++)
		if (streq(sr->name, name))
			return sr;
	return NULL;
}

void api_resource_gv(const struct api_resource *r, char *buf, size_t len)
{
	if (*r->group)
		snprintf(buf, len, "%s/%s", r->group, r->version);
	else
		snprintf(buf, len, "%s", r->version);
}

void api_resource_qualified(const struct api_resource *r, char *buf, size_t len)
{
	if (*r->group)
		snprintf(buf, len, "%s.%s", r->plural, r->group);
	else
		snprintf(buf, len, "%s", r->plural);
}

void api_validate_meta(const struct api_resource *r, json_t *obj, json_t *causes)
{
	const char *name = api_jstr(obj, "metadata.name");
	const char *bad = NULL;
	json_t *labels = api_jget(obj, "metadata.labels"), *v;
	const char *k;

	if (!name || !*name) {
		api_cause(causes, "FieldValueRequired", "metadata.name",
			  "name or generateName is required");
		return;
	}
	switch (r->name_rule) {
	case API_NAME_SUBDOMAIN:
		bad = kube_dns1123_subdomain_error(name);
		break;
	case API_NAME_LABEL:
		bad = kube_dns1123_label_error(name);
		break;
	case API_NAME_LABEL_1035:
		bad = kube_dns1035_label_error(name);
		break;
	case API_NAME_ANY:
		break;
	}
	if (bad)
		api_cause(causes, "FieldValueInvalid", "metadata.name", "Invalid value: \"%s\": %s",
			  name, bad);
	if (labels && !json_is_object(labels)) {
		api_cause(causes, "FieldValueInvalid", "metadata.labels", "Invalid value: must be a map");
		return;
	}
	json_object_foreach(labels, k, v) {
		if (!json_is_string(v))
			api_cause(causes, "FieldValueInvalid", "metadata.labels",
				  "Invalid value: label %s must be a string", k);
	}
	if (r->has_spec && !json_is_object(json_object_get(obj, "spec")))
		api_cause(causes, "FieldValueRequired", "spec", "Required value");
}

static bool csv_has(const char *csv, const char *k)
{
	size_t n = strlen(k);

	while (csv && *csv) {
		const char *c = strchr(csv, ',');
		size_t l = c ? (size_t)(c - csv) : strlen(csv);

		if (l == n && strncmp(csv, k, n) == 0)
			return true;
		csv = c ? c + 1 : NULL;
	}
	return false;
}

/* A row without a schema: its top-level fields and metadata's. */
static size_t top_unknown_fields(const struct api_resource *r, json_t *obj, char *buf, size_t len)
{
	static const char common[] = "apiVersion,kind,metadata,spec,status";
	static const char meta[] = "name,generateName,namespace,selfLink,uid,resourceVersion,"
				   "generation,creationTimestamp,deletionTimestamp,"
				   "deletionGracePeriodSeconds,labels,annotations,ownerReferences,"
				   "finalizers,managedFields";
	const char *k;
	json_t *v;
	size_t n = 0, off = 0;

	buf[0] = 0;
	json_object_foreach(obj, k, v) {
		if (csv_has(common, k) || csv_has(r->top_fields, k))
			continue;
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%sunknown field \"%s\"",
						n ? API_SCHEMA_MSG_SEP : "", k);
		n++;
	}
	json_object_foreach(json_object_get(obj, "metadata"), k, v) {
		if (csv_has(meta, k))
			continue;
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%sunknown field \"metadata.%s\"",
						n ? API_SCHEMA_MSG_SEP : "", k);
		n++;
	}
	return n;
}

size_t api_unknown_fields(const struct api_resource *r, json_t *obj, bool drop, char *buf,
			  size_t len)
{
	const json_t *schemas = api_schema_builtin();
	const json_t *kind = api_schema_kind(schemas, r->group, r->version, r->kind, NULL);

	if (kind && drop)
		return api_schema_drop_unknown(schemas, kind, obj, buf, len);
	if (kind)
		return api_schema_unknown(schemas, kind, obj, buf, len);
	return top_unknown_fields(r, obj, buf, len);
}
