/* skiff-server's own metrics, under kube-apiserver's names: requests by
 * verb, group, version, resource, subresource, scope and code, their
 * latency, the registered watchers; and GET /metrics, which renders the
 * whole registry (the store's, the controllers' and the scheduler's series
 * too). Authorization is route()'s: the nonResourceURL /metrics, allowed
 * to system:masters and to RBAC rules granting get on it.
 *
 * A watch counts as one request when it is set up (its latency: the time
 * to the first byte) and in apiserver_registered_watchers while it runs. */
#include <microhttpd.h>
#include <stdlib.h>

#include "control/api_internal.h"
#include "lib/prom.h"
#include "lib/util.h"

struct api_metrics {
	struct prom_registry *reg;
	struct prom_metric *requests, *latency, *watchers;
};

int api_metrics_new(struct prom_registry *reg, struct api_metrics **out)
{
	const char *const req_labels[] = { "verb",        "group", "version", "resource",
					   "subresource", "scope", "code",    NULL };
	const char *const lat_labels[] = { "verb",        "group", "version", "resource",
					   "subresource", "scope", NULL };
	struct api_metrics *m;

	*out = NULL;
	if (!reg)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->reg = reg;
	m->requests = prom_counter_new(reg, "apiserver_request_total",
				       "Counter of apiserver requests broken out for each verb, group, "
				       "version, resource, scope, subresource, and HTTP response code.",
				       req_labels);
	m->latency = prom_histogram_new(reg, "apiserver_request_duration_seconds",
					"Response latency distribution in seconds for each verb, group, "
					"version, resource, subresource, and scope.",
					lat_labels, prom_buckets_apiserver, prom_n_buckets_apiserver);
	m->watchers = prom_gauge_new(reg, "apiserver_registered_watchers",
				     "Number of currently registered watchers for a given resource.",
				     (const char *const[]){ "group", "version", "kind", NULL });
	if (!m->requests || !m->latency || !m->watchers) {
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void api_metrics_free(struct api_metrics *m)
{
	free(m);
}

/* kube-apiserver's verb label: the HTTP method, with GET split into GET,
 * LIST and WATCH, DELETE into DELETE and DELETECOLLECTION, and
 * server-side apply as APPLY. */
static const char *verb_label(struct api_req *q)
{
	if (streq(q->method, "GET") || streq(q->method, "HEAD")) {
		if (!q->res)
			return "GET";
		if (api_query_bool(q, "watch"))
			return "WATCH";
		return q->name[0] ? "GET" : "LIST";
	}
	if (streq(q->method, "DELETE") && q->res && !q->name[0])
		return "DELETECOLLECTION";
	if (streq(q->method, "PATCH") && ctype_has(q->ctype, "application/apply-patch+yaml"))
		return "APPLY";
	if (streq(q->method, "POST") || streq(q->method, "PUT") || streq(q->method, "PATCH") ||
	    streq(q->method, "DELETE") || streq(q->method, "OPTIONS"))
		return q->method;
	return "other"; /* an unknown method is not a label value to keep */
}

static const char *scope_label(const struct api_req *q)
{
	if (!q->res)
		return "";
	if (q->name[0])
		return "resource";
	return q->ns[0] ? "namespace" : "cluster";
}

void api_metrics_request(struct api_req *q, unsigned long long start_ns)
{
	struct api_metrics *m = q->srv->metrics;
	const char *verb, *group = "", *version = "", *resource = "", *scope;
	char code[12];

	if (!m)
		return;
	verb = verb_label(q);
	scope = scope_label(q);
	if (q->res) {
		group = q->res->group;
		version = q->res->version;
		resource = q->res->plural;
	}
	snprintf(code, sizeof(code), "%u", q->code ? q->code : 200);
	prom_inc(prom_with(m->requests, verb, group, version, resource, q->sub, scope, code));
	prom_observe_since(prom_with(m->latency, verb, group, version, resource, q->sub, scope),
			   start_ns);
}

struct prom_series *api_metrics_watchers(struct api_req *q)
{
	struct api_metrics *m = q->srv->metrics;

	if (!m || !q->res)
		return NULL;
	return prom_with(m->watchers, q->res->group, q->res->version, q->res->kind);
}

enum MHD_Result api_metrics_serve(struct api_req *q)
{
	char *text = NULL;
	size_t len = 0;
	struct api_err e = { 0 };
	enum MHD_Result ret;

	if (!streq(q->method, "GET") && !streq(q->method, "HEAD")) {
		api_err_set(&e, 405, "MethodNotAllowed", "the server does not allow this method on /metrics");
		return api_reply_err(q, &e);
	}
	if (q->srv->metrics)
		prom_process_update(q->srv->metrics->reg);
	if (!q->srv->metrics || prom_render(q->srv->metrics->reg, &text, &len) < 0) {
		api_err_set(&e, 503, "ServiceUnavailable", "metrics are not available");
		return api_reply_err(q, &e);
	}
	ret = api_reply_text(q, 200, PROM_CONTENT_TYPE, text);
	free(text);
	return ret;
}
