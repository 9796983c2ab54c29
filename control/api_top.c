/* metrics.k8s.io/v1beta1, as metrics-server serves it for `kubectl top`:
 * NodeMetrics and PodMetrics (get and list; pods per namespace or across
 * all), built on each request from the kubelets' /stats/summary (their
 * CRI stats: CPU as the rate over the kubelet's sample window, working-set
 * memory), every node asked at once through the proxy's kubelet client
 * (api_proxy_get). A node whose kubelet does not answer is left out, as
 * metrics-server leaves it out. Discovery lists the group beside the
 * others; authorization is RBAC's on the resources nodes and pods of
 * group metrics.k8s.io. labelSelector and fieldSelector select by the
 * Node's or the Pod's own labels and fields, as metrics-server does. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/api_internal.h"
#include "lib/kube_selector.h"
#include "lib/log.h"
#include "lib/util.h"

#define TOP_GROUP "metrics.k8s.io"
#define TOP_VERSION "v1beta1"
#define TOP_GV TOP_GROUP "/" TOP_VERSION
#define TOP_WINDOW "1s" /* the kubelet's sample window (kubelet_server_stats.c) */
#define TOP_MAX_NODES 512

json_t *api_top_group(void)
{
	return json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name", TOP_GROUP, "versions",
			 "groupVersion", TOP_GV, "version", TOP_VERSION, "preferredVersion",
			 "groupVersion", TOP_GV, "version", TOP_VERSION);
}

json_t *api_top_resources(void)
{
	return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:b,s:s,s:[s,s]},{s:s,s:s,s:b,s:s,s:[s,s]}]}",
			 "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", TOP_GV,
			 "resources", "name", "nodes", "singularName", "", "namespaced", false,
			 "kind", "NodeMetrics", "verbs", "get", "list", "name", "pods",
			 "singularName", "", "namespaced", true, "kind", "PodMetrics", "verbs", "get",
			 "list");
}

/* ---- asking the kubelets ---- */

struct top_node {
	struct api_server *srv;
	char name[256];
	json_t *summary; /* NULL: no answer */
	pthread_t thread;
	bool started;
};

static void *ask_node(void *arg)
{
	struct top_node *n = arg;
	char *body = NULL, why[300] = "";
	size_t len = 0;
	int code = api_proxy_get(n->srv, n->name, "/stats/summary", &body, &len, why, sizeof(why));

	if (code == 200)
		n->summary = json_loadb(body, len, 0, NULL);
	if (!n->summary)
		log_warn("metrics.k8s.io: node %s: no stats from its kubelet: %s", n->name,
			 code < 0 ? why : code == 200 ? "not JSON" : "an error status");
	free(body);
	return NULL;
}

struct node_names {
	struct top_node *v;
	size_t n;
	const char *only; /* NULL: every node */
	const struct kube_selector *ls, *fs; /* NULL: any */
};

static void add_node(struct api_server *s, const struct api_resource *r, const char *key,
		     json_t *obj, int64_t mod_rev, void *ud)
{
	struct node_names *nn = ud;
	const char *name = api_jstr(obj, "metadata.name");

	(void)r;
	(void)key;
	(void)mod_rev;
	if (!name || nn->n == TOP_MAX_NODES || (nn->only && !streq(nn->only, name)) ||
	    !api_obj_matches(obj, nn->ls, nn->fs))
		return;
	nn->v[nn->n] = (struct top_node){ .srv = s };
	snprintf(nn->v[nn->n].name, sizeof(nn->v[0].name), "%s", name);
	nn->n++;
}

/* Every node's summary (only's, when given), asked at once. */
static int summaries(struct api_server *s, const char *only, struct node_names *nn)
{
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	int r;

	nn->v = calloc(TOP_MAX_NODES, sizeof(*nn->v));
	nn->only = only;
	if (!nn->v)
		return -ENOMEM;
	r = api_obj_each(s, nodes, NULL, add_node, nn);
	for (size_t i = 0; r == 0 && i < nn->n; i++)
		nn->v[i].started = pthread_create(&nn->v[i].thread, NULL, ask_node, &nn->v[i]) == 0;
	for (size_t i = 0; i < nn->n; i++) {
		if (nn->v[i].started)
			pthread_join(nn->v[i].thread, NULL);
		else
			ask_node(&nn->v[i]);
	}
	return r;
}

static void summaries_free(struct node_names *nn)
{
	for (size_t i = 0; nn->v && i < nn->n; i++)
		json_decref(nn->v[i].summary);
	free(nn->v);
}

/* ---- the objects ---- */

static json_t *now_json(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return json_string(buf);
}

/* {"cpu": "<n>n", "memory": "<Ki>Ki"} from a summary's cpu and memory. */
static json_t *usage(json_t *stats)
{
	char cpu[32], mem[32];

	snprintf(cpu, sizeof(cpu), "%lldn",
		 (long long)json_integer_value(api_jget(stats, "cpu.usageNanoCores")));
	snprintf(mem, sizeof(mem), "%lldKi",
		 (long long)json_integer_value(api_jget(stats, "memory.workingSetBytes")) / 1024);
	return json_pack("{s:s,s:s}", "cpu", cpu, "memory", mem);
}

static json_t *node_metrics(const char *name, json_t *summary)
{
	return json_pack("{s:s,s:s,s:{s:s,s:o},s:o,s:s,s:o}", "kind", "NodeMetrics", "apiVersion",
			 TOP_GV, "metadata", "name", name, "creationTimestamp", now_json(),
			 "timestamp", now_json(), "window", TOP_WINDOW, "usage",
			 usage(json_object_get(summary, "node")));
}

static json_t *pod_metrics(json_t *pod)
{
	json_t *containers = json_array(), *c;
	size_t i;

	json_array_foreach(json_object_get(pod, "containers"), i, c)
		json_array_append_new(containers, json_pack("{s:s,s:o}", "name",
							     api_jstr(c, "name") ?: "", "usage",
							     usage(c)));
	return json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:o,s:s,s:o}", "kind", "PodMetrics",
			 "apiVersion", TOP_GV, "metadata", "name", api_jstr(pod, "podRef.name"),
			 "namespace", api_jstr(pod, "podRef.namespace"), "creationTimestamp",
			 now_json(), "timestamp", now_json(), "window", TOP_WINDOW, "containers",
			 containers);
}

static json_t *list_of(const char *kind, json_t *items)
{
	return json_pack("{s:s,s:s,s:{},s:o}", "kind", kind, "apiVersion", TOP_GV, "metadata",
			 "items", items);
}

static enum MHD_Result not_found(struct api_req *q, const char *what, const char *name)
{
	struct api_err e = { 0 };

	api_err_set(&e, 404, "NotFound", "%s.%s \"%s\" not found", what, TOP_GROUP, name);
	return api_reply_err(q, &e);
}

/* The answer for items (stolen) found with r: the list, or the one named
 * name (404 without it; what: "nodemetrics" or "podmetrics"). */
static enum MHD_Result reply_items(struct api_req *q, int r, const char *what, const char *name,
				   json_t *items)
{
	struct api_err e = { 0 };
	json_t *obj;

	if (r < 0) {
		json_decref(items);
		api_err_store(&e, r);
		return api_reply_err(q, &e);
	}
	if (!name)
		return api_reply_json(q, 200, list_of(streq(what, "nodemetrics") ? "NodeMetricsList"
										 : "PodMetricsList",
						      items));
	obj = json_incref(json_array_get(items, 0));
	json_decref(items);
	if (!obj)
		return not_found(q, what, name);
	return api_reply_json(q, 200, obj);
}

struct top_select {
	struct kube_selector *ls, *fs;
};

static enum MHD_Result serve_nodes(struct api_req *q, const char *name, const struct top_select *sel)
{
	struct node_names nn = { .ls = sel->ls, .fs = sel->fs };
	json_t *items = json_array();
	int r = summaries(q->srv, name, &nn);

	for (size_t i = 0; r == 0 && i < nn.n; i++)
		if (nn.v[i].summary)
			json_array_append_new(items, node_metrics(nn.v[i].name, nn.v[i].summary));
	summaries_free(&nn);
	return reply_items(q, r, "nodemetrics", name, items);
}

/* Whether the Pod of a summary's entry matches the selectors. */
static bool pod_selected(struct api_server *s, json_t *pod, const struct top_select *sel)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	struct api_err e = { 0 };
	json_t *obj = NULL;
	bool match;

	if (!sel->ls->n && !sel->fs->n)
		return true;
	if (api_obj_get(s, pods, api_jstr(pod, "podRef.namespace"), api_jstr(pod, "podRef.name"),
			&obj, &e) < 0) {
		api_err_free(&e);
		return false;
	}
	match = api_obj_matches(obj, sel->ls, sel->fs);
	json_decref(obj);
	return match;
}

/* Pods of namespace ns ("": all), or the one named name. */
static enum MHD_Result serve_pods(struct api_req *q, const char *ns, const char *name,
				  const struct top_select *sel)
{
	struct node_names nn = { 0 };
	json_t *items = json_array(), *pod;
	int r = summaries(q->srv, NULL, &nn);
	size_t k;

	for (size_t i = 0; r == 0 && i < nn.n; i++)
		json_array_foreach(json_object_get(nn.v[i].summary, "pods"), k, pod)
			if ((!*ns || streq(api_jstr(pod, "podRef.namespace"), ns)) &&
			    (!name || streq(api_jstr(pod, "podRef.name"), name)) &&
			    pod_selected(q->srv, pod, sel))
				json_array_append_new(items, pod_metrics(pod));
	summaries_free(&nn);
	return reply_items(q, r, "podmetrics", name, items);
}

/* ---- routing ---- */

static bool allowed(struct api_req *q, const char *url, const char *resource, const char *ns,
		    const char *name, enum MHD_Result *ret)
{
	struct api_rbac_attrs a = {
		.verb = name ? "get" : "list",
		.group = TOP_GROUP,
		.resource = resource,
		.subresource = "",
		.namespace = ns,
		.name = name ? name : "",
		.path = url,
	};
	struct api_err e = { 0 };

	if (api_rbac_allowed(q, &a))
		return true;
	api_rbac_forbidden(q, &a, &e);
	*ret = api_reply_err(q, &e);
	return false;
}

enum MHD_Result api_top_route(struct api_req *q, const char *url, char segs[][256], int n)
{
	const char *ns = "", *name;
	struct top_select sel = { 0 };
	struct api_err e = { 0 };
	enum MHD_Result ret;
	int i = 2, r;

	if (n == 1) {
		json_t *g = api_top_group();

		json_object_set_new(g, "kind", json_string("APIGroup"));
		json_object_set_new(g, "apiVersion", json_string("v1"));
		return api_reply_json(q, 200, g);
	}
	if (!streq(segs[1], TOP_VERSION))
		return not_found(q, "version", segs[1]);
	if (n == 2)
		return api_reply_json(q, 200, api_top_resources());
	if (!streq(q->method, "GET")) {
		api_err_set(&e, 405, "MethodNotAllowed", "the server does not allow this method on "
			    "the requested resource");
		return api_reply_err(q, &e);
	}
	if (n >= 5 && streq(segs[2], "namespaces")) {
		ns = segs[3];
		i = 4;
	}
	name = n == i + 2 ? segs[i + 1] : NULL;
	if (n > i + 2 || (!streq(segs[i], "pods") && !(streq(segs[i], "nodes") && !*ns)))
		return not_found(q, "resource", segs[i]);
	if (!allowed(q, url, segs[i], ns, name, &ret))
		return ret;
	/* The selectors are of the core resource's objects and fields. */
	q->res = api_resource_find("", "v1", segs[i]);
	r = api_parse_selectors(q, &sel.ls, &sel.fs, &e);
	q->res = NULL;
	if (r < 0)
		return api_reply_err(q, &e);
	if (streq(segs[i], "nodes"))
		ret = serve_nodes(q, name, &sel);
	else
		ret = serve_pods(q, ns, name, &sel);
	kube_selector_free(sel.ls);
	kube_selector_free(sel.fs);
	return ret;
}
