/* sched-api-bench URL|KUBECONFIG NODES PODS [IN_FLIGHT]: the scheduler end
 * to end through the API
 * (issue 10's scheduler figure, scheduler_perf's SchedulingBasic shape):
 * NODES Ready nodes of 4 cpu / 32Gi / 110 pods are created, then PODS
 * pods of 100m / 500Mi, all through skiff-server's API at URL (plain HTTP)
 * or the server of KUBECONFIG (lib/kube_client, IN_FLIGHT requests at once,
 * default 64, each on its own connection); NODES 0 creates none (hollow
 * nodes are there already); a watch on pods counts each
 * pod once when it is seen bound. Prints
 *   nodes create per_s=<>
 *   pods create per_s=<>
 *   schedule end_to_end per_s=<> seconds=<> bound=<> cpu_s=<>
 * where end_to_end runs from the first pod create to the last binding
 * seen by the watch, and cpu_s is this process's own CPU time over it
 * (creates and the watch). Exit 1 when not every pod is bound within 120 s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/kube_client.h"
#include "lib/kube_config.h"
#include "lib/util.h"


struct bench {
	struct kc_client *c;
	int in_flight, max_in_flight, failed;
	json_t *bound; /* names seen bound */
};

static void created(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct bench *b = ud;

	(void)body;
	b->in_flight--;
	if (err < 0) {
		b->failed++;
		fprintf(stderr, "create: %s\n", st && st->message[0] ? st->message : strerror(-err));
	}
}

static void on_event(void *ud, const char *type, json_t *obj)
{
	struct bench *b = ud;
	const char *node = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));

	if ((streq(type, "MODIFIED") || streq(type, "ADDED")) && node && *node)
		json_object_set_new(b->bound, kc_meta_str(obj, "name"), json_true());
}

static void on_done(void *ud, int err, const struct kc_status *st)
{
	(void)ud;
	fprintf(stderr, "watch ended: %s\n", err ? (st->message[0] ? st->message : strerror(-err)) : "timeout");
}

/* This process's user + system CPU seconds so far. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static json_t *node_obj(size_t i)
{
	char name[64];

	snprintf(name, sizeof(name), "hollow-%05zu", i);
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s}]}}",
			 "apiVersion", "v1", "kind", "Node", "metadata", "name", name, "labels",
			 "kubernetes.io/hostname", name, "status", "capacity", "cpu", "4", "memory",
			 "32Gi", "pods", "110", "allocatable", "cpu", "4", "memory", "32Gi", "pods",
			 "110", "conditions", "type", "Ready", "status", "True");
}

static json_t *pod_obj(size_t i)
{
	char name[64];

	snprintf(name, sizeof(name), "p-%05zu", i);
	return json_pack("{s:s,s:s,s:{s:s},s:{s:[{s:s,s:s,s:{s:{s:s,s:s}}}]}}", "apiVersion", "v1",
			 "kind", "Pod", "metadata", "name", name, "spec", "containers", "name", "c",
			 "image", "pause", "resources", "requests", "cpu", "100m", "memory", "500Mi");
}

/* Creates n objects at path, IN_FLIGHT at a time (their answers, the
 * created objects, not parsed: this process shares the cores with the
 * server it measures); seconds taken. */
static double create_all(struct bench *b, const char *path, size_t n, json_t *(*make)(size_t))
{
	unsigned long long t0 = now_ns();
	size_t i = 0;

	while (i < n || b->in_flight > 0) {
		while (i < n && b->in_flight < b->max_in_flight) {
			json_t *o = make(i++);

			if (kc_request_async_outcome(b->c, "POST", path, o, created, b, NULL) == 0)
				b->in_flight++;
			else
				b->failed++;
			json_decref(o);
		}
		kc_client_run_once(b->c, 100);
	}
	return (double)(now_ns() - t0) / 1e9;
}

int main(int argc, char **argv)
{
	struct bench b = { .bound = json_object(), .max_in_flight = 64 };
	struct kc_config *cfg;
	char yaml[512], err[256], *rv = NULL;
	json_t *items = NULL;
	size_t nodes, pods;
	unsigned long long t0, deadline;
	double s, cpu0;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: sched-api-bench URL|KUBECONFIG NODES PODS [IN_FLIGHT]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	nodes = strtoul(argv[2], NULL, 10);
	pods = strtoul(argv[3], NULL, 10);
	if (argc == 5 && (b.max_in_flight = atoi(argv[4])) <= 0)
		b.max_in_flight = 64;
	snprintf(yaml, sizeof(yaml),
		 "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster: {server: \"%s\"}\n"
		 "users:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: s, user: u}\n"
		 "current-context: c\n", argv[1]);
	if ((strncmp(argv[1], "http", 4) == 0
		     ? kc_config_parse(yaml, strlen(yaml), NULL, NULL, &cfg, err, sizeof(err))
		     : kc_config_load(argv[1], NULL, &cfg, err, sizeof(err))) < 0 ||
	    kc_client_new(cfg, &(struct kc_client_opts){ .timeout_ms = 60000 }, &b.c) < 0) {
		fprintf(stderr, "client: %s\n", err);
		return 2;
	}
	if (nodes) {
		s = create_all(&b, "/api/v1/nodes", nodes, node_obj);
		printf("nodes create per_s=%.0f\n", (double)nodes / s);
	}
	if (kc_list_all(b.c, kc_resource_find("pods"), "default", NULL, &items, &rv) < 0 ||
	    kc_watch_start(b.c, kc_resource_find("pods"), "default",
			   &(struct kc_watch_opts){ .resource_version = rv }, on_event, on_done, &b,
			   NULL) < 0) {
		fprintf(stderr, "cannot watch pods\n");
		return 1;
	}
	t0 = now_ns();
	cpu0 = cpu_seconds();
	s = create_all(&b, "/api/v1/namespaces/default/pods", pods, pod_obj);
	printf("pods create per_s=%.0f\n", (double)pods / s);
	deadline = t0 + 120ULL * 1000000000ULL;
	while (json_object_size(b.bound) < pods && now_ns() < deadline)
		kc_client_run_once(b.c, 100);
	s = (double)(now_ns() - t0) / 1e9;
	printf("schedule end_to_end per_s=%.0f seconds=%.2f bound=%zu cpu_s=%.2f\n",
	       (double)json_object_size(b.bound) / s, s, json_object_size(b.bound),
	       cpu_seconds() - cpu0);
	return json_object_size(b.bound) == pods && !b.failed ? 0 : 1;
}
