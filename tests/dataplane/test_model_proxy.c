/* Desired state: Services + EndpointSlices -> frontends and backends, as
 * kube-proxy chooses endpoints. Table-driven: each case is a YAML stream,
 * a node, and the expected frontends written as text. */
#include "tests/harness/test.h"
#include "dataplane/proxy.h"
#include "lib/util.h"
#include "lib/yamljson.h"

#include <arpa/inet.h>
#include <errno.h>

static struct model_store *store_from_yaml(const char *text)
{
	struct yamljson_error err;
	struct model_store *st = NULL;
	json_t *objs = NULL, *o;
	size_t i;

	if (yamljson_parse_objects(text, strlen(text), &objs, &err) < 0)
		test_fail(__FILE__, __LINE__, "yaml: %d:%d: %s", err.line, err.column, err.msg);
	CHECK_OK(model_store_new(&st));
	json_array_foreach(objs, i, o) {
		struct model_error e;
		struct model_object mo;

		if (model_object_parse(o, &mo, &e) < 0)
			test_fail(__FILE__, __LINE__, "%s", e.msg);
		if (mo.kind != MODEL_KIND_OTHER)
			CHECK_OK(model_store_put(st, "test", mo.kind, mo.obj));
	}
	json_decref(objs);
	return st;
}

/* One line per frontend:
 *   "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready, ...]" */
static char *render(const struct proxy_state *s)
{
	static const char *const states[] = { "ready", "term", "quar" };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < s->n_fes; i++) {
		const struct proxy_frontend *fe = &s->fes[i];
		char a[INET6_ADDRSTRLEN];

		ipaddr_str(&fe->key.addr, a, sizeof(a));
		fprintf(f, "%s %s%s%s:%u/%s a=%u alg=%s f=%u [", proxy_kind_name(fe->key.kind),
			fe->key.addr.family == AF_INET6 ? "[" : "", a,
			fe->key.addr.family == AF_INET6 ? "]" : "", fe->key.port,
			model_proto_name(fe->key.proto), fe->affinity_timeout,
			fe->algorithm == MODEL_ALG_MAGLEV ? "maglev" : "random", fe->flags);
		for (size_t j = 0; j < fe->n_backends; j++) {
			ipaddr_str(&fe->backends[j].addr, a, sizeof(a));
			fprintf(f, "%s%s:%u %s", j ? ", " : "", a, fe->backends[j].port,
				states[fe->backends[j].state]);
		}
		fprintf(f, "]\n");
	}
	fclose(f);
	return out;
}

struct compute_case {
	const char *name;
	const char *node;
	const char *node_ips[2];
	bool maglev;
	const char *yaml;
	const char *want;
	const char *summary; /* of the first service, when set */
};

#define SVC(spec) "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns}\nspec: " spec "\n---\n"
#define SLICE(name, type, eps, ports)                                                     \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " name    \
	", namespace: ns, labels: {kubernetes.io/service-name: web}}\naddressType: " type \
	"\nendpoints: " eps "\nports: " ports "\n---\n"
#define EP(ip) "{addresses: [" ip "]}"
#define EPC(ip, cond) "{addresses: [" ip "], conditions: " cond "}"
#define EPCN(ip, cond, node) "{addresses: [" ip "], conditions: " cond ", nodeName: " node "}"
#define EPN(ip, node) "{addresses: [" ip "], nodeName: " node "}"
#define HTTP "[{name: http, port: 8080}]"

static const struct compute_case cases[] = {
	{
		.name = "ready endpoints only; not ready quarantined",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EP("10.0.0.1") ", " EPC("10.0.0.2", "{ready: false}") ", "
				EPC("10.0.0.3", "{ready: true, serving: true, terminating: false}") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready, "
			"10.0.0.2:8080 quar, 10.0.0.3:8080 ready]\n",
		.summary = "2 backends (2 ready, 1 not ready), 1 frontend",
	},
	{
		.name = "no ready endpoint: serving-terminating fallback",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EPC("10.0.0.1", "{ready: false, serving: true, terminating: true}")
				", " EPC("10.0.0.2", "{ready: false, serving: false, terminating: true}") ", "
				EPC("10.0.0.3", "{ready: false}") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 term, "
			"10.0.0.2:8080 quar, 10.0.0.3:8080 quar]\n",
		.summary = "1 backend (0 ready, 1 terminating-fallback, 2 not ready), 1 frontend",
	},
	{
		.name = "terminating with serving unset counts as serving; not ready alone does not",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EPC("10.0.0.1", "{ready: false, terminating: true}") ", "
				EPC("10.0.0.2", "{ready: false}") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 term, "
			"10.0.0.2:8080 quar]\n",
	},
	{
		.name = "a ready endpoint hides the terminating ones",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EPC("10.0.0.1", "{ready: false, serving: true, terminating: true}")
				", " EP("10.0.0.2") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 quar, "
			"10.0.0.2:8080 ready]\n",
	},
	{
		.name = "no endpoints: frontend kept with none (refusal)",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}"),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 []\n",
		.summary = "0 backends (0 ready), 1 frontend",
	},
	{
		.name = "port matched by name and protocol",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}")
			SLICE("s1", "IPv4", "[" EP("10.0.0.1") "]",
			      "[{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}, {name: dns, port: 9953}]"),
		.want = "ClusterIP 10.96.0.1:53/UDP a=0 alg=random f=0 [10.0.0.1:5353 ready]\n"
			"ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready]\n",
	},
	{
		.name = "unnamed port matches unnamed slice port only",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{port: 80}]}")
			SLICE("s1", "IPv4", "[" EP("10.0.0.1") "]", "[{name: other, port: 81}, {port: 8080}]"),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready]\n",
	},
	{
		.name = "slices of other services or namespaces are ignored",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: o1, namespace: other,"
			" labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [" EP("10.9.0.1")
			"]\nports: " HTTP "\n---\n"
			"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: o2, namespace: ns,"
			" labels: {kubernetes.io/service-name: api}}\naddressType: IPv4\nendpoints: [" EP("10.9.0.2")
			"]\nports: " HTTP "\n",
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 []\n",
	},
	{
		.name = "duplicate endpoints across slices de-duplicated, best condition wins",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EP("10.0.0.1") ", " EPC("10.0.0.2", "{ready: false}") "]", HTTP)
			SLICE("s2", "IPv4", "[" EP("10.0.0.1") ", " EP("10.0.0.2") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready, "
			"10.0.0.2:8080 ready]\n",
		.summary = "2 backends (2 ready), 1 frontend",
	},
	{
		.name = "dual-stack: each family gets its own endpoints",
		.yaml = SVC("{clusterIPs: [10.96.0.1, 'fd00::1'], ports: [{name: http, port: 80}]}")
			SLICE("v4", "IPv4", "[" EP("10.0.0.1") "]", HTTP)
			SLICE("v6", "IPv6", "[" EP("'fd01::1'") ", " EP("'fd01::2'") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready]\n"
			"ClusterIP [fd00::1]:80/TCP a=0 alg=random f=0 [fd01::1:8080 ready, fd01::2:8080 ready]\n",
	},
	{
		.name = "headless and ExternalName get no frontends",
		.yaml = SVC("{clusterIP: None, externalIPs: [192.0.2.1], ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EP("10.0.0.1") "]", HTTP)
			"apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName, "
			"externalName: example.com, ports: [{port: 80}]}\n",
		.want = "",
	},
	{
		.name = "affinity default timeout and maglev annotation",
		.yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: ns\n  annotations:\n"
			"    service.skiff.io/lb-algorithm: maglev\nspec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP,"
			" ports: [{name: http, port: 80}]}\n---\n"
			"apiVersion: v1\nkind: Service\nmetadata: {name: web2, namespace: ns}\nspec: {clusterIP: 10.96.0.2,"
			" sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}},"
			" ports: [{name: http, port: 80}]}\n",
		.want = "ClusterIP 10.96.0.1:80/TCP a=10800 alg=maglev f=0 []\n"
			"ClusterIP 10.96.0.2:80/TCP a=60 alg=random f=0 []\n",
	},
	{
		.name = "global maglev default, annotation random overrides",
		.maglev = true,
		.yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: ns\n  annotations:\n"
			"    service.skiff.io/lb-algorithm: random\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n---\n"
			"apiVersion: v1\nkind: Service\nmetadata: {name: web2, namespace: ns}\nspec: {clusterIP: 10.96.0.2,"
			" ports: [{port: 80}]}\n",
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 []\n"
			"ClusterIP 10.96.0.2:80/TCP a=0 alg=maglev f=0 []\n",
	},
	{
		.name = "internalTrafficPolicy Local: cluster IP uses this node's endpoints only",
		.node = "n1",
		.yaml = SVC("{clusterIP: 10.96.0.1, internalTrafficPolicy: Local, externalIPs: [192.0.2.1],"
			    " ports: [{name: http, port: 80}]}")
			SLICE("s1", "IPv4", "[" EPN("10.0.0.1", "n1") ", " EPN("10.0.0.2", "n2") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=1 [10.0.0.1:8080 ready]\n"
			"ExternalIP 192.0.2.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready, 10.0.0.2:8080 ready]\n",
	},
	{
		.name = "externalTrafficPolicy Local: external frontends local only, none local drops",
		.node = "n3",
		.node_ips = { "172.16.0.1", "fd10::1" },
		.yaml = SVC("{type: LoadBalancer, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,"
			    " externalIPs: [192.0.2.1], ports: [{name: http, port: 80, nodePort: 30080}]}"
			    "\nstatus: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}")
			SLICE("s1", "IPv4", "[" EPN("10.0.0.1", "n1") ", " EPN("10.0.0.2", "n2") "]", HTTP),
		.want = "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready, 10.0.0.2:8080 ready]\n"
			"NodePort 172.16.0.1:30080/TCP a=0 alg=random f=1 []\n"
			"ExternalIP 192.0.2.1:80/TCP a=0 alg=random f=1 []\n"
			"LoadBalancer 198.51.100.1:80/TCP a=0 alg=random f=1 []\n",
	},
	{
		.name = "local fallback: terminating local endpoint used when no local one is ready",
		.node = "n1",
		.yaml = SVC("{type: NodePort, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,"
			    " ports: [{name: http, port: 80, nodePort: 30080}]}")
			SLICE("s1", "IPv4", "[" EPCN("10.0.0.1", "{ready: false, serving: true, terminating: true}", "n1")
				", " EPN("10.0.0.2", "n2") "]", HTTP),
		.want = "NodePort 0.0.0.0:30080/TCP a=0 alg=random f=1 [10.0.0.1:8080 term]\n"
			"ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 quar, 10.0.0.2:8080 ready]\n",
	},
	{
		.name = "SCTP ports are skipped",
		.yaml = SVC("{clusterIP: 10.96.0.1, ports: [{name: s, port: 80, protocol: SCTP}]}"),
		.want = "",
	},
	{
		.name = "the same frontend claimed twice goes to the first service by name",
		.yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n---\n"
			"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.1,"
			" sessionAffinity: ClientIP, ports: [{port: 80}]}\n",
		.want = "ClusterIP 10.96.0.1:80/TCP a=10800 alg=random f=0 []\n",
	},
};

TEST(proxy_compute_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct compute_case *c = &cases[i];
		struct ipaddr ips[2];
		struct proxy_config cfg = {
			.node_name = c->node,
			.node_addrs = ips,
			.default_algorithm = c->maglev ? MODEL_ALG_MAGLEV : MODEL_ALG_RANDOM,
		};
		struct model_store *st = store_from_yaml(c->yaml);
		struct proxy_state *s = NULL;
		char *got;

		for (size_t j = 0; j < 2 && c->node_ips[j]; j++)
			CHECK_OK(ipaddr_parse(c->node_ips[j], &ips[cfg.n_node_addrs++]));
		CHECK_OK(proxy_compute(st, &cfg, &s));
		got = render(s);
		if (strcmp(got, c->want) != 0)
			test_fail(__FILE__, __LINE__, "case \"%s\":\nwant:\n%sgot:\n%s", c->name, c->want, got);
		if (c->summary) {
			char buf[160];

			CHECK(s->n_svcs >= 1);
			proxy_summary_format(s->svcs[0], buf, sizeof(buf));
			if (strcmp(buf, c->summary) != 0)
				test_fail(__FILE__, __LINE__, "case \"%s\": summary \"%s\", want \"%s\"",
					  c->name, buf, c->summary);
		}
		free(got);
		proxy_state_free(s);
		model_store_free(st);
	}
}

TEST(proxy_summary_counts_sctp_and_conflicts)
{
	struct model_store *st = store_from_yaml(
		SVC("{clusterIP: 10.96.0.1, ports: [{name: s, port: 80, protocol: SCTP}, {name: t, port: 81}]}")
		"apiVersion: v1\nkind: Service\nmetadata: {name: zz, namespace: ns}\nspec: {clusterIP: 10.96.0.1,"
		" ports: [{name: t, port: 81}]}\n");
	struct proxy_config cfg = { .default_algorithm = MODEL_ALG_RANDOM };
	struct proxy_state *s = NULL;

	CHECK_OK(proxy_compute(st, &cfg, &s));
	CHECK_INT_EQ(s->n_svcs, 2);
	CHECK_STR_EQ(s->svcs[0]->service, "ns/web");
	CHECK(s->svcs[0]->sctp_skipped);
	CHECK_INT_EQ(s->svcs[1]->n_conflicts, 1);
	CHECK_INT_EQ(s->n_fes, 1);
	proxy_state_free(s);
	model_store_free(st);
}

static struct proxy_state *compute_yaml(const char *yaml)
{
	struct proxy_config cfg = { .default_algorithm = MODEL_ALG_RANDOM };
	struct model_store *st = store_from_yaml(yaml);
	struct proxy_state *s = NULL;

	CHECK_OK(proxy_compute(st, &cfg, &s));
	model_store_free(st);
	return s;
}

TEST(proxy_diff_sets_changed_deletes_gone_and_ends_removed_backends)
{
	struct proxy_state *a = compute_yaml(
		SVC("{clusterIP: 10.96.0.1, externalIPs: [192.0.2.1], ports: [{name: http, port: 80}]}")
		SLICE("s1", "IPv4", "[" EP("10.0.0.1") ", " EP("10.0.0.2") ", " EP("10.0.0.3") "]", HTTP)
		"apiVersion: v1\nkind: Service\nmetadata: {name: keep, namespace: ns}\nspec: {clusterIP: 10.96.0.9,"
		" ports: [{port: 90}]}\n---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: gone, namespace: ns}\nspec: {clusterIP: 10.96.0.8,"
		" ports: [{port: 90}]}\n");
	/* 10.0.0.2 turns not ready (kept, quarantined), 10.0.0.3 is removed,
	 * the externalIP goes away, service "gone" is deleted. */
	struct proxy_state *b = compute_yaml(
		SVC("{clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}")
		SLICE("s1", "IPv4", "[" EP("10.0.0.1") ", " EPC("10.0.0.2", "{ready: false}") "]", HTTP)
		"apiVersion: v1\nkind: Service\nmetadata: {name: keep, namespace: ns}\nspec: {clusterIP: 10.96.0.9,"
		" ports: [{port: 90}]}\n");
	struct proxy_changes c;
	char addr[64];

	CHECK_OK(proxy_diff(a, b, NULL, &c));
	CHECK_INT_EQ(c.n_set, 1);
	CHECK_STR_EQ(c.set[0]->name, "ns/web:http");
	CHECK_INT_EQ(c.n_del, 2);
	CHECK_STR_EQ(c.del[0]->name, "ns/gone:90");
	CHECK_INT_EQ(c.del[1]->key.kind, PROXY_KIND_EXTERNAL_IP);
	CHECK_INT_EQ(c.n_removed, 1);
	CHECK_STR_EQ(ipaddr_str(&c.removed[0].be.addr, addr, sizeof(addr)), "10.0.0.3");
	CHECK_INT_EQ(c.removed[0].be.port, 8080);
	CHECK_INT_EQ(c.removed[0].proto, IPPROTO_TCP);
	proxy_changes_clear(&c);

	/* Same state: nothing to do. */
	CHECK_OK(proxy_diff(b, b, NULL, &c));
	CHECK_INT_EQ(c.n_set + c.n_del + c.n_removed, 0);
	proxy_changes_clear(&c);

	/* From empty: everything is set, nothing removed. */
	struct proxy_state *empty = NULL;
	CHECK_OK(proxy_state_new_empty(&empty));
	CHECK_OK(proxy_diff(empty, a, NULL, &c));
	CHECK_INT_EQ(c.n_set, a->n_fes);
	CHECK_INT_EQ(c.n_del + c.n_removed, 0);
	proxy_changes_clear(&c);
	proxy_state_free(empty);
	proxy_state_free(a);
	proxy_state_free(b);
}

/* Puts every object of a YAML stream into st (origin "test"). */
static void put_yaml(struct model_store *st, const char *text)
{
	struct yamljson_error err;
	json_t *objs = NULL, *o;
	size_t i;

	if (yamljson_parse_objects(text, strlen(text), &objs, &err) < 0)
		test_fail(__FILE__, __LINE__, "yaml: %d:%d: %s", err.line, err.column, err.msg);
	json_array_foreach(objs, i, o) {
		struct model_error e;
		struct model_object mo;

		CHECK_OK(model_object_parse(o, &mo, &e));
		CHECK_OK(model_store_put(st, "test", mo.kind, mo.obj));
	}
	json_decref(objs);
}

#define NS_SVC(ns, name, ip) "apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: " ns \
	"}\nspec: {clusterIP: " ip ", ports: [{name: http, port: 80}]}\n---\n"
#define NS_SLICE(ns, name, svc, eps) "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " \
	name ", namespace: " ns ", labels: {kubernetes.io/service-name: " svc "}}\naddressType: IPv4\n" \
	"endpoints: " eps "\nports: " HTTP "\n---\n"

/* Recomputing only the changed services gives the same state and the same
 * changes as recomputing everything, step after step. */
TEST(proxy_incremental_matches_full)
{
	static const struct {
		const char *put;
		const char *del_ns, *del_name;
		int del_kind;
	} steps[] = {
		{ .put = NS_SLICE("a", "b-1", "b", "[" EP("10.0.0.1") ", " EPC("10.0.0.2", "{ready: false}") "]") },
		{ .put = NS_SLICE("a", "b-1", "b", "[" EP("10.0.0.1") "]") },
		{ .del_ns = "a-x", .del_name = "c", .del_kind = MODEL_KIND_SERVICE },
		{ .put = NS_SVC("a", "d", "10.96.0.4") NS_SLICE("a", "d-1", "d", "[" EP("10.0.0.9") "]") },
		{ .put = NS_SLICE("a", "b-2", "d", "[" EP("10.0.0.7") "]") },
		/* 10.0.0.7 leaves d but c2 still has it: not removed */
		{ .put = NS_SLICE("a", "b-2", "c2", "[" EP("10.0.0.7") "]") },
		{ .del_ns = "a", .del_name = "d-1", .del_kind = MODEL_KIND_ENDPOINT_SLICE },
	};
	struct model_store *st = store_from_yaml(
		NS_SVC("a", "b", "10.96.0.1") NS_SVC("a-x", "c", "10.96.0.2") NS_SVC("a", "c2", "10.96.0.3")
		NS_SLICE("a", "b-1", "b", "[" EP("10.0.0.1") ", " EP("10.0.0.2") "]")
		NS_SLICE("a-x", "c-1", "c", "[" EP("10.0.1.1") "]")
		NS_SLICE("a", "c2-1", "c2", "[" EP("10.0.0.7") "]")
		NS_SLICE("a", "b-2", "b", "[" EP("10.0.0.3") "]"));
	struct proxy_config cfg = { .default_algorithm = MODEL_ALG_RANDOM };
	struct proxy_state *full = NULL, *applied = NULL;
	char **keys;
	size_t n;
	bool all;

	CHECK_OK(proxy_compute(st, &cfg, &full));
	CHECK_OK(proxy_compute(st, &cfg, &applied));
	/* the ns "a-x" sorts before "a/" as text: its slice must still count */
	char *r0 = render(full);
	CHECK_STR_CONTAINS(r0, "ClusterIP 10.96.0.2:80/TCP a=0 alg=random f=0 [10.0.1.1:8080 ready]");
	free(r0);
	CHECK_OK(model_store_take_dirty(st, &keys, &n, &all));
	CHECK(all);
	free(keys);

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct proxy_state *next = NULL, *part = NULL, *old = NULL;
		struct proxy_changes cf, ci;
		char *want, *got;

		if (steps[i].put)
			put_yaml(st, steps[i].put);
		else
			CHECK_INT_EQ(model_store_delete(st, steps[i].del_kind, "test", steps[i].del_ns,
							steps[i].del_name), 1);
		CHECK_OK(model_store_take_dirty(st, &keys, &n, &all));
		CHECK(!all);
		CHECK(n >= 1);

		CHECK_OK(proxy_compute(st, &cfg, &next));
		CHECK_OK(proxy_diff(full, next, NULL, &cf));
		CHECK_OK(proxy_compute_services(st, &cfg, keys, n, &part));
		CHECK_OK(proxy_state_take_services(applied, keys, n, part, &old));
		CHECK_OK(proxy_diff(old, part, applied, &ci));
		if (cf.n_set != ci.n_set || cf.n_del != ci.n_del || cf.n_removed != ci.n_removed)
			test_fail(__FILE__, __LINE__, "step %zu: full set/del/removed %zu/%zu/%zu, "
				  "incremental %zu/%zu/%zu", i, cf.n_set, cf.n_del, cf.n_removed,
				  ci.n_set, ci.n_del, ci.n_removed);
		proxy_changes_clear(&cf);
		proxy_changes_clear(&ci);
		CHECK_OK(proxy_state_merge(applied, part));
		proxy_state_free(old);
		want = render(next);
		got = render(applied);
		if (strcmp(want, got) != 0)
			test_fail(__FILE__, __LINE__, "step %zu:\nfull:\n%sincremental:\n%s", i, want, got);
		CHECK_INT_EQ(applied->n_svcs, next->n_svcs);
		for (size_t j = 0; j < next->n_svcs; j++)
			CHECK_STR_EQ(applied->svcs[j]->service, next->svcs[j]->service);
		free(want);
		free(got);
		for (size_t j = 0; j < n; j++)
			free(keys[j]);
		free(keys);
		proxy_state_free(full);
		full = next;
	}
	proxy_state_free(full);
	proxy_state_free(applied);
	model_store_free(st);
}

TEST(proxy_take_services_refuses_a_conflict)
{
	struct model_store *st = store_from_yaml(NS_SVC("a", "b", "10.96.0.1"));
	struct proxy_config cfg = { .default_algorithm = MODEL_ALG_RANDOM };
	struct proxy_state *applied = NULL, *part = NULL, *old = NULL;
	char **keys;
	size_t n;
	bool all;

	CHECK_OK(proxy_compute(st, &cfg, &applied));
	CHECK_OK(model_store_take_dirty(st, &keys, &n, &all));
	free(keys);
	put_yaml(st, NS_SVC("a", "z", "10.96.0.1")); /* claims b's frontend */
	CHECK_OK(model_store_take_dirty(st, &keys, &n, &all));
	CHECK_INT_EQ(n, 1);
	CHECK_OK(proxy_compute_services(st, &cfg, keys, n, &part));
	CHECK_INT_EQ(proxy_state_take_services(applied, keys, n, part, &old), -EEXIST);
	CHECK_INT_EQ(applied->n_fes, 1);
	free(keys[0]);
	free(keys);
	proxy_state_free(part);
	proxy_state_free(applied);
	model_store_free(st);
}

/* Services and slices meet by their "ns/name" text: namespaces where
 * that order differs from comparing namespace then name ("a-b/x" sorts
 * before "a/x": '-' < '/') still pair each slice with its service, and the
 * summaries come in text order. */
TEST(proxy_pairs_slices_by_namespace_and_name_text)
{
	struct model_store *st = store_from_yaml(
		NS_SVC("a", "x", "10.96.0.1") NS_SLICE("a", "x-1", "x", "[" EP("10.0.0.1") "]")
		NS_SVC("a-b", "x", "10.96.0.2") NS_SLICE("a-b", "x-1", "x", "[" EP("10.0.0.2") "]")
		NS_SVC("a", "x-y", "10.96.0.3") NS_SLICE("a", "x-y-1", "x-y", "[" EP("10.0.0.3") "]")
		NS_SVC("ab", "x", "10.96.0.4") NS_SLICE("ab", "x-1", "x", "[" EP("10.0.0.4") "]")
		NS_SVC("a", "b-x", "10.96.0.5") NS_SLICE("a-b", "x-2", "x-1", "[" EP("10.0.0.9") "]"));
	struct proxy_config cfg = { .default_algorithm = MODEL_ALG_RANDOM };
	struct proxy_state *s = NULL;
	_cleanup_free_ char *got = NULL;

	CHECK_OK(proxy_compute(st, &cfg, &s));
	got = render(s);
	CHECK_STR_EQ(got, "ClusterIP 10.96.0.1:80/TCP a=0 alg=random f=0 [10.0.0.1:8080 ready]\n"
			  "ClusterIP 10.96.0.2:80/TCP a=0 alg=random f=0 [10.0.0.2:8080 ready]\n"
			  "ClusterIP 10.96.0.3:80/TCP a=0 alg=random f=0 [10.0.0.3:8080 ready]\n"
			  "ClusterIP 10.96.0.4:80/TCP a=0 alg=random f=0 [10.0.0.4:8080 ready]\n"
			  "ClusterIP 10.96.0.5:80/TCP a=0 alg=random f=0 []\n");
	CHECK_INT_EQ(s->n_svcs, 5);
	CHECK_STR_EQ(s->svcs[0]->service, "a-b/x");
	CHECK_STR_EQ(s->svcs[1]->service, "a/b-x");
	CHECK_STR_EQ(s->svcs[2]->service, "a/x");
	CHECK_STR_EQ(s->svcs[3]->service, "a/x-y");
	CHECK_STR_EQ(s->svcs[4]->service, "ab/x");
	CHECK_STR_EQ(s->fes[0].name, "a/x:http");
	proxy_state_free(s);
	model_store_free(st);
}
