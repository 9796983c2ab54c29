/* ctrl-bench: the controllers end to end through skiff-server's API, with
 * hollow nodes playing the kubelets (issue 10's benchmarks). Every time is
 * taken when a watch of this process sees the change.
 *
 *   ctrl-bench deploy KUBECONFIG REPLICAS
 *     a Service web (selector app=web), then at t0 a Deployment web of
 *     REPLICAS pods; prints one line per phase, seconds from t0:
 *       phase replicaset|created|bound|ready|endpoints|rs_status|dep_status s=<> count=<>
 *     (rs_status and dep_status: the ReplicaSet's, then the Deployment's,
 *     status.readyReplicas seen at REPLICAS; their lag behind "ready" is
 *     how long the status trails the pods)
 *   ctrl-bench eps KUBECONFIG SERVICES FLIPS CONTROL_FILE
 *     SERVICES Services s-I, each selecting one pod p-I; once every pod is
 *     a ready endpoint, the node of p-0 is written into hollow-nodes'
 *     CONTROL_FILE as silent (so its kubelet stops writing those pods) and
 *     FLIPS times, one at a time, a pod of that node gets its Ready
 *     condition flipped by a merge patch of pods/status; the latency runs
 *     from the patch sent (and answered) to the slice event showing it:
 *       setup services=<> s=<>
 *       flip n=<> p50_ms=<> p90_ms=<> p99_ms=<> max_ms=<> patch_p50_ms=<> ...
 *
 * Exit 1 when a phase or a flip takes over 120 s, the eps setup over 900 s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kube_client.h"
#include "lib/kube_config.h"
#include "lib/util.h"

#define IN_FLIGHT 32
#define TIMEOUT_S 120       /* a phase, a flip */
#define SETUP_TIMEOUT_S 900 /* eps: 10,000 Services' first slices */

struct bench {
	struct kc_client *c;
	int in_flight, failed;
	unsigned long long t0;
	/* deploy */
	double t_rs;
	json_t *created, *bound, *ready; /* pod name -> true */
	long long rs_ready, dep_ready;   /* status.readyReplicas last seen */
	double t_phase[7];
	/* both: slice name -> {pod name -> ready}, and how many are ready */
	json_t *slices;
	size_t ready_eps;
	/* eps: the flip in progress */
	const char *want_pod;
	bool want_ready, seen;
	unsigned long long seen_ns;
};

static double secs(const struct bench *b)
{
	return (double)(now_ns() - b->t0) / 1e9;
}

static void answered(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct bench *b = ud;

	(void)body;
	b->in_flight--;
	if (err < 0) {
		b->failed++;
		fprintf(stderr, "request: %s\n", st && st->message[0] ? st->message : strerror(-err));
	}
}

static void send(struct bench *b, const char *method, const char *path, json_t *obj)
{
	while (b->in_flight >= IN_FLIGHT)
		kc_client_run_once(b->c, 100);
	if (kc_request_async(b->c, method, path, obj, answered, b, NULL) == 0)
		b->in_flight++;
	else
		b->failed++;
	json_decref(obj);
}

static void drain(struct bench *b)
{
	while (b->in_flight > 0)
		kc_client_run_once(b->c, 100);
}

static bool cond_true(json_t *pod, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
		if (streq(json_string_value(json_object_get(c, "type")), type))
			return streq(json_string_value(json_object_get(c, "status")), "True");
	return false;
}

/* ---- watches ---- */

static void on_rs(void *ud, const char *type, json_t *obj)
{
	struct bench *b = ud;

	if (streq(type, "ADDED") && b->t_rs == 0)
		b->t_rs = secs(b);
	if (!streq(type, "BOOKMARK"))
		b->rs_ready = json_integer_value(json_object_get(json_object_get(obj, "status"),
								 "readyReplicas"));
}

static void on_dep(void *ud, const char *type, json_t *obj)
{
	struct bench *b = ud;

	if (!streq(type, "BOOKMARK"))
		b->dep_ready = json_integer_value(json_object_get(json_object_get(obj, "status"),
								  "readyReplicas"));
}

static void on_pod(void *ud, const char *type, json_t *obj)
{
	struct bench *b = ud;
	const char *name = kc_meta_str(obj, "name");
	const char *node = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));

	if (!name || streq(type, "DELETED") || streq(type, "BOOKMARK"))
		return;
	json_object_set_new(b->created, name, json_true());
	if (node && *node)
		json_object_set_new(b->bound, name, json_true());
	if (cond_true(obj, "Ready"))
		json_object_set_new(b->ready, name, json_true());
}

static size_t slice_ready(json_t *eps)
{
	const char *p;
	json_t *r;
	size_t n = 0;

	json_object_foreach(eps, p, r)
		n += json_is_true(r);
	return n;
}

static void on_slice(void *ud, const char *type, json_t *obj)
{
	struct bench *b = ud;
	const char *name = kc_meta_str(obj, "name");
	json_t *eps = json_object(), *ep;
	size_t i;

	if (!name || streq(type, "BOOKMARK"))
		return;
	b->ready_eps -= slice_ready(json_object_get(b->slices, name));
	if (streq(type, "DELETED")) {
		json_object_del(b->slices, name);
		json_decref(eps);
		return;
	}
	json_array_foreach(json_object_get(obj, "endpoints"), i, ep) {
		const char *pod = json_string_value(json_object_get(json_object_get(ep, "targetRef"), "name"));
		json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");

		if (!pod)
			continue;
		json_object_set_new(eps, pod, json_boolean(json_is_true(ready)));
		if (b->want_pod && !b->seen && streq(pod, b->want_pod) &&
		    json_is_true(ready) == b->want_ready) {
			b->seen = true;
			b->seen_ns = now_ns();
		}
	}
	b->ready_eps += slice_ready(eps);
	json_object_set_new(b->slices, name, eps);
}

static void on_done(void *ud, int err, const struct kc_status *st)
{
	(void)ud;
	fprintf(stderr, "watch ended: %s\n",
		err ? (st && st->message[0] ? st->message : strerror(-err)) : "timeout");
}

static int watch(struct bench *b, const char *resource, kc_watch_event_fn fn)
{
	const struct kc_resource *res = kc_resource_find(resource);
	json_t *items = NULL;
	char *rv = NULL;
	int r;

	r = kc_list_all(b->c, res, "default", NULL, &items, &rv);
	if (r == 0)
		r = kc_watch_start(b->c, res, "default", &(struct kc_watch_opts){ .resource_version = rv },
				   fn, on_done, b, NULL);
	json_decref(items);
	free(rv);
	if (r < 0)
		fprintf(stderr, "cannot watch %s: %s\n", resource, strerror(-r));
	return r;
}

/* Runs the loop until done(b) or the deadline; false on timeout. */
static bool run_until(struct bench *b, bool (*done)(const struct bench *, size_t), size_t n,
		      unsigned long long timeout_s)
{
	unsigned long long deadline = now_ns() + timeout_s * 1000000000ULL;

	while (!done(b, n)) {
		if (now_ns() > deadline)
			return false;
		kc_client_run_once(b->c, 50);
	}
	return true;
}

/* ---- deploy ---- */

static json_t *service(const char *name, const char *app)
{
	return json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s},s:[{s:s,s:i,s:i}]}}", "apiVersion", "v1",
			 "kind", "Service", "metadata", "name", name, "spec", "selector", "app", app,
			 "ports", "name", "http", "port", 80, "targetPort", 8080);
}

static json_t *deployment(int replicas)
{
	return json_pack("{s:s,s:s,s:{s:s},s:{s:i,s:{s:{s:s}},s:{s:{s:{s:s}},"
			 "s:{s:[{s:s,s:s,s:[{s:i}]}]}}}}",
			 "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web",
			 "spec", "replicas", replicas, "selector", "matchLabels", "app", "web",
			 "template", "metadata", "labels", "app", "web", "spec", "containers", "name",
			 "c", "image", "pause", "ports", "containerPort", 8080);
}

static size_t phase_count(const struct bench *b, size_t i)
{
	switch (i) {
	case 0: return b->t_rs > 0;
	case 1: return json_object_size(b->created);
	case 2: return json_object_size(b->bound);
	case 3: return json_object_size(b->ready);
	case 4: return b->ready_eps;
	case 5: return b->rs_ready > 0 ? (size_t)b->rs_ready : 0;
	default: return b->dep_ready > 0 ? (size_t)b->dep_ready : 0;
	}
}

/* Times each phase when its count is first reached (phases overlap). */
static bool deploy_done(const struct bench *cb, size_t n)
{
	struct bench *b = (struct bench *)cb;
	bool done = true;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(b->t_phase); i++) {
		if (b->t_phase[i] == 0 && phase_count(b, i) >= (i == 0 ? 1 : n))
			b->t_phase[i] = i == 0 ? b->t_rs : secs(b);
		done = done && b->t_phase[i] > 0;
	}
	return done;
}

static int deploy(struct bench *b, int replicas)
{
	static const char *const names[] = { "replicaset", "created", "bound",     "ready",
					     "endpoints",  "rs_status", "dep_status" };
	bool ok;
	size_t i;

	if (watch(b, "replicasets", on_rs) < 0 || watch(b, "pods", on_pod) < 0 ||
	    watch(b, "endpointslices", on_slice) < 0 || watch(b, "deployments", on_dep) < 0)
		return 1;
	if (kc_create(b->c, kc_resource_find("services"), "default", service("web", "web"), NULL) < 0)
		return fprintf(stderr, "cannot create Service web\n"), 1;
	b->t0 = now_ns();
	if (kc_create(b->c, kc_resource_find("deployments"), "default", deployment(replicas), NULL) < 0)
		return fprintf(stderr, "cannot create Deployment web\n"), 1;
	ok = run_until(b, deploy_done, (size_t)replicas, TIMEOUT_S);
	for (i = 0; i < ARRAY_SIZE(names); i++)
		printf("phase %s s=%.3f count=%zu\n", names[i], b->t_phase[i], phase_count(b, i));
	return ok ? 0 : 1;
}

/* ---- eps ---- */

static json_t *pod(const char *name, const char *app)
{
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:[{s:s,s:s,s:[{s:i}]}]}}", "apiVersion", "v1",
			 "kind", "Pod", "metadata", "name", name, "labels", "app", app, "spec",
			 "containers", "name", "c", "image", "pause", "ports", "containerPort", 8080);
}

static bool eps_ready(const struct bench *b, size_t n) { return b->ready_eps >= n; }
static bool flip_seen(const struct bench *b, size_t n) { (void)n; return b->seen; }

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(unsigned long long *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / 1e6;
}

/* The pods of p-0's node, from a list; the node's name in *node. */
static json_t *node_pods(struct bench *b, char *node, size_t size)
{
	json_t *items = NULL, *p, *names = json_array();
	char *rv = NULL;
	const char *n0 = NULL;
	size_t i;

	if (kc_list_all(b->c, kc_resource_find("pods"), "default", NULL, &items, &rv) < 0)
		return names;
	json_array_foreach(items, i, p)
		if (streq(kc_meta_str(p, "name"), "p-0"))
			n0 = json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName"));
	snprintf(node, size, "%s", n0 ?: "");
	json_array_foreach(items, i, p)
		if (n0 && streq(json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName")), n0))
			json_array_append_new(names, json_string(kc_meta_str(p, "name")));
	json_decref(items);
	free(rv);
	return names;
}

static json_t *ready_patch(bool ready)
{
	const char *s = ready ? "True" : "False";

	return json_pack("{s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}}", "status", "conditions",
			 "type", "PodScheduled", "status", "True", "type", "Initialized", "status",
			 "True", "type", "ContainersReady", "status", s, "type", "Ready", "status", s);
}

static int silence(const char *control, const char *node)
{
	FILE *f = fopen(control, "we");

	if (!f)
		return -errno;
	fprintf(f, "silent %s\n", node);
	return fclose(f) == 0 ? 0 : -errno;
}

static int eps(struct bench *b, size_t services, size_t flips, const char *control)
{
	unsigned long long *sent_lat = calloc(flips, sizeof(*sent_lat));
	unsigned long long *ans_lat = calloc(flips, sizeof(*ans_lat));
	unsigned long long *patch_lat = calloc(flips, sizeof(*patch_lat));
	char name[32], node[256], path[512];
	json_t *names, *state;
	size_t i, n;

	if (!sent_lat || !ans_lat || !patch_lat || watch(b, "endpointslices", on_slice) < 0)
		return 1;
	b->t0 = now_ns();
	for (i = 0; i < services; i++) {
		snprintf(name, sizeof(name), "s-%zu", i);
		send(b, "POST", "/api/v1/namespaces/default/services", service(name, name));
		snprintf(path, sizeof(path), "p-%zu", i);
		send(b, "POST", "/api/v1/namespaces/default/pods", pod(path, name));
	}
	drain(b);
	if (b->failed || !run_until(b, eps_ready, services, SETUP_TIMEOUT_S)) {
		fprintf(stderr, "setup: %zu of %zu endpoints ready, %d failed requests\n", b->ready_eps,
			services, b->failed);
		return 1;
	}
	printf("setup services=%zu s=%.2f\n", services, secs(b));
	names = node_pods(b, node, sizeof(node));
	if (!json_array_size(names) || silence(control, node) < 0)
		return fprintf(stderr, "no pods on p-0's node\n"), 1;
	/* hollow-nodes looks at its control file once a second */
	for (b->t0 = now_ns(); secs(b) < 2.5;)
		kc_client_run_once(b->c, 100);
	state = json_object();
	for (i = 0; i < flips; i++) {
		const char *p = json_string_value(json_array_get(names, i % json_array_size(names)));
		unsigned long long t0, t1;
		json_t *was = json_object_get(state, p); /* unset: ready since the setup */

		b->want_ready = was && !json_is_true(was);
		b->want_pod = p;
		b->seen = false;
		kc_path(kc_resource_find("pods"), "default", p, "status", NULL, path, sizeof(path));
		t0 = now_ns();
		if (kc_patch(b->c, kc_resource_find("pods"), "default", p, "status", KC_PATCH_MERGE,
			     ready_patch(b->want_ready), NULL) < 0)
			return fprintf(stderr, "patch of %s failed\n", p), 1;
		t1 = now_ns();
		if (!run_until(b, flip_seen, 0, TIMEOUT_S))
			return fprintf(stderr, "flip %zu of %s never reached its slice\n", i, p), 1;
		json_object_set_new(state, p, json_boolean(b->want_ready));
		sent_lat[i] = b->seen_ns - t0;
		ans_lat[i] = b->seen_ns > t1 ? b->seen_ns - t1 : 0;
		patch_lat[i] = t1 - t0;
	}
	n = flips;
	qsort(sent_lat, n, sizeof(*sent_lat), cmp_ull);
	qsort(ans_lat, n, sizeof(*ans_lat), cmp_ull);
	qsort(patch_lat, n, sizeof(*patch_lat), cmp_ull);
	printf("flip node=%s pods=%zu n=%zu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
	       "after_answer_p50_ms=%.2f after_answer_p99_ms=%.2f patch_p50_ms=%.2f patch_p99_ms=%.2f\n",
	       node, json_array_size(names), n, pct_ms(sent_lat, n, 0.5), pct_ms(sent_lat, n, 0.9),
	       pct_ms(sent_lat, n, 0.99), pct_ms(sent_lat, n, 1), pct_ms(ans_lat, n, 0.5),
	       pct_ms(ans_lat, n, 0.99), pct_ms(patch_lat, n, 0.5), pct_ms(patch_lat, n, 0.99));
	json_decref(state);
	json_decref(names);
	free(sent_lat);
	free(ans_lat);
	free(patch_lat);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ctrl-bench deploy KUBECONFIG REPLICAS\n"
			"       ctrl-bench eps KUBECONFIG SERVICES FLIPS CONTROL_FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bench b = { .created = json_object(), .bound = json_object(),
			   .ready = json_object(), .slices = json_object() };
	struct kc_config *cfg;
	char err[256] = "";
	long n;

	if (argc < 4)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (kc_config_load(argv[2], NULL, &cfg, err, sizeof(err)) < 0 ||
	    kc_client_new(cfg, &(struct kc_client_opts){ .timeout_ms = 60000 }, &b.c) < 0) {
		fprintf(stderr, "client: %s\n", err);
		return 2;
	}
	n = strtol(argv[3], NULL, 10);
	if (n <= 0)
		return usage();
	if (streq(argv[1], "deploy") && argc == 4)
		return deploy(&b, (int)n);
	if (streq(argv[1], "eps") && argc == 6 && strtol(argv[4], NULL, 10) > 0)
		return eps(&b, (size_t)n, (size_t)strtol(argv[4], NULL, 10), argv[5]);
	return usage();
}
