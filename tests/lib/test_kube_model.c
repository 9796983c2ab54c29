/* Service, EndpointSlice and Node parsing: good objects read right, bad ones
 * fail with the object and the field named. */
#include "tests/harness/test.h"
#include "lib/kube_model.h"
#include "lib/util.h"
#include "lib/yamljson.h"

#include <arpa/inet.h>
#include <errno.h>

static json_t *obj_from_yaml(const char *text)
{
	struct yamljson_error err;
	json_t *objs = NULL, *o;

	if (yamljson_parse_objects(text, strlen(text), &objs, &err) < 0)
		test_fail(__FILE__, __LINE__, "yaml: %d:%d: %s", err.line, err.column, err.msg);
	o = json_incref(json_array_get(objs, 0));
	json_decref(objs);
	return o;
}

/* Parses an object that must fail (as the kind its apiVersion and kind
 * name: Service, EndpointSlice or Node) and returns the message. */
static const char *parse_error(const char *text, struct model_error *e)
{
	json_t *o = obj_from_yaml(text);
	struct model_object obj = { 0 };
	int r = model_object_parse(o, &obj, e);

	json_decref(o);
	if (r != -EINVAL)
		test_fail(__FILE__, __LINE__, "expected -EINVAL, got %d", r);
	return e->msg;
}

/* An object that must fail, and the message it must fail with. */
struct error_case {
	const char *yaml, *msg;
};

#define SVC_HEAD "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"

TEST(model_service_full_parse)
{
	json_t *o = obj_from_yaml(
		SVC_HEAD
		"  annotations: {service.skiff.io/lb-algorithm: maglev}\n"
		"spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.10\n"
		"  clusterIPs: [10.96.0.10, 'fd00::10']\n"
		"  externalIPs: [192.0.2.1]\n  externalTrafficPolicy: Local\n"
		"  sessionAffinity: ClientIP\n"
		"  ports:\n  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}\n"
		"  - {name: dns, port: 53, protocol: UDP, targetPort: dns}\n"
		"status: {loadBalancer: {ingress: [{ip: 198.51.100.7}, {hostname: lb.example}]}}\n");
	struct model_service *s = NULL;
	struct model_error e;
	char buf[64];

	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_STR_EQ(s->ns, "shop");
	CHECK_STR_EQ(s->name, "web");
	CHECK_INT_EQ(s->type, MODEL_SVC_LOAD_BALANCER);
	CHECK_INT_EQ(s->n_cluster_ips, 2);
	CHECK_STR_EQ(ipaddr_str(&s->cluster_ips[1], buf, sizeof(buf)), "fd00::10");
	CHECK_INT_EQ(s->n_external_ips, 1);
	CHECK_INT_EQ(s->n_lb_ips, 1);
	CHECK_STR_EQ(ipaddr_str(&s->lb_ips[0], buf, sizeof(buf)), "198.51.100.7");
	CHECK(s->external_local);
	CHECK(!s->internal_local);
	CHECK_INT_EQ(s->affinity_timeout, 10800);
	CHECK_INT_EQ(s->algorithm, MODEL_ALG_MAGLEV);
	CHECK_INT_EQ(s->n_ports, 2);
	CHECK_STR_EQ(s->ports[0].name, "http");
	CHECK_INT_EQ(s->ports[0].node_port, 30080);
	CHECK_INT_EQ(s->ports[1].proto, IPPROTO_UDP);
	model_service_free(s);
	json_decref(o);
}

TEST(model_service_defaults_and_headless)
{
	json_t *o = obj_from_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
				  "spec: {clusterIP: None, ports: [{port: 5432}]}\n");
	struct model_service *s = NULL;
	struct model_error e;

	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_STR_EQ(s->ns, "default");
	CHECK(s->headless);
	CHECK_INT_EQ(s->n_cluster_ips, 0);
	CHECK_INT_EQ(s->type, MODEL_SVC_CLUSTER_IP);
	CHECK_INT_EQ(s->affinity_timeout, 0);
	CHECK_STR_EQ(s->ports[0].name, "");
	CHECK_INT_EQ(s->ports[0].proto, IPPROTO_TCP);
	model_service_free(s);
	json_decref(o);
}

TEST(model_service_errors_name_the_field)
{
	static const struct error_case cases[] = {
		{ SVC_HEAD "spec: {ports: [{port: 80}, {name: b, port: 70000}]}\n",
		  "Service shop/web: spec.ports[1].port: 70000 is out of range 1-65535" },
		{ SVC_HEAD "spec: {ports: [{port: '80'}]}\n",
		  "Service shop/web: spec.ports[0].port: must be an integer, not a string" },
		{ SVC_HEAD "spec: {ports: [{name: x}]}\n",
		  "Service shop/web: spec.ports[0].port: is required" },
		{ SVC_HEAD "spec: {clusterIP: 10.96.0.300}\n",
		  "Service shop/web: spec.clusterIP: \"10.96.0.300\" is not an IP address" },
		{ SVC_HEAD "spec: {type: Weird}\n",
		  "Service shop/web: spec.type: \"Weird\" is not one of ClusterIP, NodePort, "
		  "LoadBalancer, ExternalName" },
		{ SVC_HEAD "spec: {type: ExternalName}\n",
		  "Service shop/web: spec.externalName: is required for type ExternalName" },
		{ SVC_HEAD "spec: {ports: [{port: 80, protocol: ICMP}]}\n",
		  "Service shop/web: spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP" },
		{ SVC_HEAD "spec: {externalIPs: [1.2.3.4, nope]}\n",
		  "Service shop/web: spec.externalIPs[1]: \"nope\" is not an IP address" },
		{ SVC_HEAD "spec: {sessionAffinity: ClientIP, sessionAffinityConfig:"
		  " {clientIP: {timeoutSeconds: 0}}}\n",
		  "Service shop/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: "
		  "0 is out of range 1-86400" },
		{ SVC_HEAD "spec: {externalTrafficPolicy: Nearby}\n",
		  "Service shop/web: spec.externalTrafficPolicy: \"Nearby\" is not one of Cluster, Local" },
		{ SVC_HEAD "spec: {ports: [{port: 80, nodePort: 30001}]}\n",
		  "Service shop/web: spec.ports[0].nodePort: is only allowed for type NodePort or "
		  "LoadBalancer" },
		{ "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\nspec: {}\n",
		  "Service x/: metadata.name: is required" },
		{ SVC_HEAD "  annotations: {service.skiff.io/lb-algorithm: best}\nspec: {}\n",
		  "Service shop/web: metadata.annotations[service.skiff.io/lb-algorithm]: \"best\" is "
		  "not one of random, maglev" },
		{ SVC_HEAD "spec: {clusterIP: 10.0.0.1, clusterIPs: [10.0.0.2]}\n",
		  "Service shop/web: spec.clusterIP: must equal spec.clusterIPs[0]" },
		{ SVC_HEAD "spec: {clusterIPs: [10.0.0.1, 10.0.0.2]}\n",
		  "Service shop/web: spec.clusterIPs: holds at most one IPv4 and one IPv6 address" },
		{ SVC_HEAD "spec: {}\nstatus: {loadBalancer: {ingress: [{ip: x}]}}\n",
		  "Service shop/web: status.loadBalancer.ingress[0].ip: \"x\" is not an IP address" },
	};
	struct model_error e;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_STR_EQ(parse_error(cases[i].yaml, &e), cases[i].msg);
	CHECK_STR_CONTAINS(parse_error(SVC_HEAD "spec: {ports: [{name: a, port: 80}, {name: a, port: 81}]}\n", &e),
			   "spec.ports[1].name: \"a\" is used by spec.ports[0] too");
}

TEST(model_kind_of_checks_api_version)
{
	struct model_error e;
	enum model_kind k;
	json_t *o;

	o = obj_from_yaml("apiVersion: apps/v1\nkind: Deployment\n");
	CHECK_OK(model_kind_of(o, &k, &e));
	CHECK_INT_EQ(k, MODEL_KIND_OTHER);
	json_decref(o);
	o = obj_from_yaml("apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\n");
	CHECK_INT_EQ(model_kind_of(o, &k, &e), -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "apiVersion: EndpointSlice needs \"discovery.k8s.io/v1\"");
	json_decref(o);
	o = obj_from_yaml("apiVersion: v1\nkind: [Service]\n");
	CHECK_INT_EQ(model_kind_of(o, &k, &e), -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "kind: must be a string, not a list");
	json_decref(o);
}

#define SLICE_HEAD "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n" \
	"metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"

TEST(model_service_external_name)
{
	json_t *o = obj_from_yaml(SVC_HEAD "spec: {type: ExternalName, externalName: db.example.com}\n");
	json_t *o2 = obj_from_yaml(SVC_HEAD "spec: {type: ExternalName, externalName: db2.example.com}\n");
	struct model_service *s = NULL, *s2 = NULL;
	struct model_error e;

	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_OK(model_service_parse(o2, &s2, &e));
	CHECK_INT_EQ(s->type, MODEL_SVC_EXTERNAL_NAME);
	CHECK_STR_EQ(s->external_name, "db.example.com");
	/* a changed externalName is a change */
	CHECK(!model_object_equal(MODEL_KIND_SERVICE, s, s2));
	CHECK(model_object_equal(MODEL_KIND_SERVICE, s, s));
	model_service_free(s);
	model_service_free(s2);
	json_decref(o);
	json_decref(o2);
}

TEST(model_slice_parse_conditions)
{
	json_t *o = obj_from_yaml(
		SLICE_HEAD "addressType: IPv4\n"
		"endpoints:\n"
		"- {addresses: [10.0.0.1], nodeName: n1, hostname: pet-0}\n"
		"- {addresses: [10.0.0.2], conditions: {ready: false}}\n"
		"- {addresses: [10.0.0.3], conditions: {ready: false, serving: true, terminating: true}}\n"
		"ports: [{name: http, port: 8080}, {name: dns, protocol: UDP, port: 53}, {name: x, port: null}]\n");
	struct model_slice *s = NULL;
	struct model_error e;

	CHECK_OK(model_slice_parse(o, &s, &e));
	CHECK_STR_EQ(s->service_name, "web");
	CHECK_INT_EQ(s->family, AF_INET);
	CHECK_INT_EQ(s->n_endpoints, 3);
	CHECK(s->endpoints[0].ready && s->endpoints[0].serving && !s->endpoints[0].terminating);
	CHECK_STR_EQ(s->endpoints[0].node_name, "n1");
	CHECK_STR_EQ(s->endpoints[0].hostname, "pet-0");
	CHECK(!s->endpoints[1].hostname);
	/* serving nil reads as true, terminating nil as false */
	CHECK(!s->endpoints[1].ready && s->endpoints[1].serving && !s->endpoints[1].terminating);
	CHECK(!s->endpoints[2].ready && s->endpoints[2].serving && s->endpoints[2].terminating);
	CHECK_INT_EQ(s->n_ports, 3);
	CHECK_INT_EQ(s->ports[1].proto, IPPROTO_UDP);
	CHECK_INT_EQ(s->ports[1].port, 53);
	CHECK_INT_EQ(s->ports[2].port, 0);
	model_slice_free(s);
	json_decref(o);
}

/* The strings of a slice live in few allocations (ns with name and
 * service_name, endpoints with their node names and hostnames, ports with
 * their names): each still reads back whole, absent ones as before. */
TEST(model_slice_strings_read_back_whole)
{
	json_t *o = obj_from_yaml(
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: a-very-long-slice-name-abcdef, namespace: some-namespace,"
		" labels: {kubernetes.io/service-name: a-service-name-that-is-long}}\n"
		"addressType: IPv6\n"
		"endpoints:\n"
		"- {addresses: ['fd00::1'], hostname: pet-0}\n"
		"- {addresses: ['fd00::2'], nodeName: node-with-a-long-name-0123456789}\n"
		"- {addresses: ['fd00::3'], nodeName: '', hostname: ''}\n"
		"- {addresses: ['fd00::4'], nodeName: n4, hostname: h4}\n"
		"ports: [{port: 80}, {name: a-port-name, port: 81}, {name: '', port: 82}]\n");
	struct model_slice *s = NULL, *s2 = NULL;
	struct model_error e;

	CHECK_OK(model_slice_parse(o, &s, &e));
	CHECK_OK(model_slice_parse(o, &s2, &e));
	CHECK_STR_EQ(s->ns, "some-namespace");
	CHECK_STR_EQ(s->name, "a-very-long-slice-name-abcdef");
	CHECK_STR_EQ(s->service_name, "a-service-name-that-is-long");
	CHECK_INT_EQ(s->n_endpoints, 4);
	CHECK(!s->endpoints[0].node_name);
	CHECK_STR_EQ(s->endpoints[0].hostname, "pet-0");
	CHECK_STR_EQ(s->endpoints[1].node_name, "node-with-a-long-name-0123456789");
	CHECK(!s->endpoints[1].hostname);
	CHECK_STR_EQ(s->endpoints[2].node_name, "");
	CHECK(!s->endpoints[2].hostname);
	CHECK_STR_EQ(s->endpoints[3].node_name, "n4");
	CHECK_STR_EQ(s->endpoints[3].hostname, "h4");
	CHECK_INT_EQ(s->n_ports, 3);
	CHECK_STR_EQ(s->ports[0].name, "");
	CHECK_STR_EQ(s->ports[1].name, "a-port-name");
	CHECK_STR_EQ(s->ports[2].name, "");
	CHECK(model_object_equal(MODEL_KIND_ENDPOINT_SLICE, s, s2));
	model_slice_free(s);
	model_slice_free(s2);
	json_decref(o);
}

TEST(model_slice_errors_name_the_field)
{
	static const struct error_case cases[] = {
		{ SLICE_HEAD "addressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]\n",
		  "EndpointSlice shop/web-abc: endpoints[0].addresses[0]: \"fd00::1\" does not match "
		  "addressType IPv4" },
		{ SLICE_HEAD "addressType: IPv4\nendpoints: [{addresses: []}]\n",
		  "EndpointSlice shop/web-abc: endpoints[0].addresses: needs at least one address" },
		{ SLICE_HEAD "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], "
		  "conditions: {ready: 'yes'}}]\n",
		  "EndpointSlice shop/web-abc: endpoints[0].conditions.ready: must be a boolean, not a "
		  "string" },
		{ SLICE_HEAD "addressType: IPv5\n",
		  "EndpointSlice shop/web-abc: addressType: \"IPv5\" is not one of IPv4, IPv6, FQDN" },
		{ SLICE_HEAD "endpoints: []\n",
		  "EndpointSlice shop/web-abc: addressType: is required" },
		{ SLICE_HEAD "addressType: IPv6\nports: [{port: 0}]\n",
		  "EndpointSlice shop/web-abc: ports[0].port: 0 is out of range 1-65535" },
	};
	struct model_error e;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_STR_EQ(parse_error(cases[i].yaml, &e), cases[i].msg);
}

TEST(model_store_put_replace_delete_by_origin)
{
	struct model_store *st = NULL;
	struct model_service *s = NULL;
	struct model_error e;
	json_t *o = obj_from_yaml(SVC_HEAD "spec: {ports: [{port: 80}]}\n");
	uint64_t g;

	CHECK_OK(model_store_new(&st));
	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_INT_EQ(model_store_put(st, "a.yaml", MODEL_KIND_SERVICE, s), 1);
	g = model_store_generation(st);
	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_INT_EQ(model_store_put(st, "a.yaml", MODEL_KIND_SERVICE, s), 0); /* unchanged */
	CHECK_INT_EQ(model_store_generation(st), g);
	/* a label the proxy does not read is no change; a port is */
	json_t *o2 = obj_from_yaml(SVC_HEAD "  labels: {team: x}\nspec: {ports: [{port: 80}]}\n");
	CHECK_OK(model_service_parse(o2, &s, &e));
	CHECK_INT_EQ(model_store_put(st, "a.yaml", MODEL_KIND_SERVICE, s), 0);
	json_decref(o2);
	o2 = obj_from_yaml(SVC_HEAD "spec: {ports: [{port: 81}]}\n");
	CHECK_OK(model_service_parse(o2, &s, &e));
	CHECK_INT_EQ(model_store_put(st, "a.yaml", MODEL_KIND_SERVICE, s), 1);
	json_decref(o2);
	g = model_store_generation(st);
	CHECK_STR_EQ(model_store_origin(st, MODEL_KIND_SERVICE, "shop", "web"), "a.yaml");
	CHECK(model_store_origin(st, MODEL_KIND_ENDPOINT_SLICE, "shop", "web") == NULL);
	CHECK_INT_EQ(model_store_delete(st, MODEL_KIND_SERVICE, "b.yaml", "shop", "web"), 0);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_SERVICE), 1);
	CHECK_INT_EQ(model_store_delete(st, MODEL_KIND_SERVICE, "a.yaml", "shop", "web"), 1);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_SERVICE), 0);
	CHECK(model_store_generation(st) > g);
	model_store_free(st);
	json_decref(o);
}

#define NODE_HEAD "apiVersion: v1\nkind: Node\nmetadata: {name: node2}\n"

TEST(model_node_parse_cidrs_and_internal_ips)
{
	json_t *o = obj_from_yaml(
		NODE_HEAD "spec: {podCIDR: 10.244.2.0/24, podCIDRs: [10.244.2.0/24, 'fd00:244:2::/64']}\n"
		"status:\n  addresses:\n  - {type: Hostname, address: node2}\n"
		"  - {type: ExternalIP, address: 203.0.113.2}\n"
		"  - {type: InternalIP, address: 192.168.77.2}\n"
		"  - {type: InternalIP, address: 192.168.77.22}\n"
		"  - {type: InternalIP, address: 'fd00:77::2'}\n");
	struct model_node *n = NULL;
	struct model_error e;
	char buf[INET6_ADDRSTRLEN];
	enum model_kind k;

	CHECK_OK(model_kind_of(o, &k, &e));
	CHECK_INT_EQ(k, MODEL_KIND_NODE);
	CHECK_STR_EQ(model_kind_name(k), "Node");
	CHECK_OK(model_node_parse(o, &n, &e));
	CHECK_STR_EQ(n->name, "node2");
	CHECK_INT_EQ(n->n_pod_cidrs, 2);
	CHECK_STR_EQ(ipaddr_str(&n->pod_cidrs[0].addr, buf, sizeof(buf)), "10.244.2.0");
	CHECK_INT_EQ(n->pod_cidrs[0].len, 24);
	CHECK_STR_EQ(ipaddr_str(&n->pod_cidrs[1].addr, buf, sizeof(buf)), "fd00:244:2::");
	CHECK_INT_EQ(n->pod_cidrs[1].len, 64);
	/* the first InternalIP of each family */
	CHECK_INT_EQ(n->n_addrs, 2);
	CHECK_STR_EQ(ipaddr_str(&n->addrs[0], buf, sizeof(buf)), "192.168.77.2");
	CHECK_STR_EQ(ipaddr_str(&n->addrs[1], buf, sizeof(buf)), "fd00:77::2");
	model_node_free(n);
	json_decref(o);
	/* podCIDR alone; no status yet */
	o = obj_from_yaml(NODE_HEAD "spec: {podCIDR: 10.244.2.0/24}\n");
	CHECK_OK(model_node_parse(o, &n, &e));
	CHECK_INT_EQ(n->n_pod_cidrs, 1);
	CHECK_INT_EQ(n->n_addrs, 0);
	model_node_free(n);
	json_decref(o);
}

TEST(model_node_ready_from_its_condition)
{
	static const struct {
		const char *status;
		bool ready;
	} cases[] = {
		{ "", true }, /* no status: a hand-written manifest */
		{ "status: {conditions: [{type: MemoryPressure, status: 'False'}]}\n", true },
		{ "status: {conditions: [{type: Ready, status: 'True'}]}\n", true },
		{ "status: {conditions: [{type: Ready, status: 'False'}]}\n", false },
		{ "status: {conditions: [{type: Ready, status: Unknown}]}\n", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char yaml[256];
		struct model_node *n = NULL;
		struct model_error e;
		json_t *o;

		snprintf(yaml, sizeof(yaml), NODE_HEAD "%s", cases[i].status);
		o = obj_from_yaml(yaml);
		CHECK_OK(model_node_parse(o, &n, &e));
		CHECK_INT_EQ(n->ready, cases[i].ready);
		model_node_free(n);
		json_decref(o);
	}
}

TEST(model_node_errors_name_the_field)
{
	static const struct error_case cases[] = {
		{ NODE_HEAD "spec: {podCIDRs: [10.244.2.0/33]}\n",
		  "Node node2: spec.podCIDRs[0]: \"10.244.2.0/33\" is not a CIDR (network "
		  "address/prefix length): prefix length out of range" },
		{ NODE_HEAD "spec: {podCIDRs: [10.244.2.1/24]}\n",
		  "Node node2: spec.podCIDRs[0]: \"10.244.2.1/24\" is not a CIDR (network "
		  "address/prefix length): host bits set past the prefix (give the network address)" },
		{ NODE_HEAD "spec: {podCIDRs: [10.244.2.0/24, 10.245.2.0/24]}\n",
		  "Node node2: spec.podCIDRs[1]: a second IPv4 CIDR (at most one per family)" },
		{ NODE_HEAD "spec: {podCIDRs: 10.244.2.0/24}\n",
		  "Node node2: spec.podCIDRs: must be a list, not a string" },
		{ NODE_HEAD "status: {addresses: [{type: InternalIP, address: nope}]}\n",
		  "Node node2: status.addresses[0].address: \"nope\" is not an IP address" },
		{ "apiVersion: v1\nkind: Node\nmetadata: {}\n",
		  "Node (unnamed): metadata.name: is required" },
	};
	struct model_error e;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_STR_EQ(parse_error(cases[i].yaml, &e), cases[i].msg);
}

TEST(model_store_nodes_count_apart_from_services)
{
	json_t *o = obj_from_yaml(NODE_HEAD "spec: {podCIDRs: [10.244.2.0/24]}\n");
	json_t *o2 = obj_from_yaml(NODE_HEAD "spec: {podCIDRs: [10.244.3.0/24]}\n");
	struct model_store *st = NULL;
	struct model_node *n = NULL;
	struct model_error e;
	uint64_t g, ng;
	bool all;
	char **keys;
	size_t nk;

	CHECK_OK(model_store_new(&st));
	CHECK_OK(model_store_take_dirty(st, &keys, &nk, &all));
	free(keys);
	g = model_store_generation(st);
	ng = model_store_node_generation(st);
	CHECK_OK(model_node_parse(o, &n, &e));
	CHECK_INT_EQ(model_store_put(st, "n.yaml", MODEL_KIND_NODE, n), 1);
	CHECK_OK(model_node_parse(o, &n, &e));
	CHECK_INT_EQ(model_store_put(st, "n.yaml", MODEL_KIND_NODE, n), 0); /* unchanged */
	CHECK_OK(model_node_parse(o2, &n, &e));
	CHECK_INT_EQ(model_store_put(st, "n.yaml", MODEL_KIND_NODE, n), 1);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_NODE), 1);
	CHECK_STR_EQ(model_store_origin(st, MODEL_KIND_NODE, "", "node2"), "n.yaml");
	/* a Node is no change for the service proxy */
	CHECK(model_store_generation(st) == g);
	CHECK(model_store_node_generation(st) == ng + 2);
	CHECK_OK(model_store_take_dirty(st, &keys, &nk, &all));
	CHECK_INT_EQ(nk, 0);
	CHECK(!all);
	free(keys);
	CHECK_INT_EQ(model_store_delete(st, MODEL_KIND_NODE, "n.yaml", "", "node2"), 1);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_NODE), 0);
	model_store_free(st);
	json_decref(o);
	json_decref(o2);
}

/* The proxy and the DNS each take the changed services from a set of
 * their own: one taking them leaves them for the other. */
TEST(model_store_dirty_per_reader)
{
	json_t *o = obj_from_yaml(SVC_HEAD "spec: {clusterIP: 10.96.0.1}\n");
	struct model_store *st = NULL;
	struct model_service *s = NULL;
	struct model_error e;
	char **keys;
	size_t nk;
	bool all;

	CHECK_OK(model_store_new(&st));
	for (int r = 0; r < MODEL_READER_COUNT; r++) {
		CHECK_OK(model_store_take_dirty_of(st, r, &keys, &nk, &all));
		CHECK(all); /* at first: everything */
		free(keys);
	}
	CHECK_OK(model_service_parse(o, &s, &e));
	CHECK_INT_EQ(model_store_put(st, "a.yaml", MODEL_KIND_SERVICE, s), 1);
	CHECK_OK(model_store_take_dirty(st, &keys, &nk, &all));
	CHECK(!all);
	CHECK_INT_EQ(nk, 1);
	CHECK_STR_EQ(keys[0], "shop/web");
	free(keys[0]);
	free(keys);
	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &nk, &all));
	CHECK_INT_EQ(nk, 1);
	CHECK_STR_EQ(keys[0], "shop/web");
	free(keys[0]);
	free(keys);
	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &nk, &all));
	CHECK_INT_EQ(nk, 0);
	free(keys);
	CHECK(model_store_take_dirty_of(st, MODEL_READER_COUNT, &keys, &nk, &all) == -EINVAL);
	model_store_free(st);
	json_decref(o);
}

/* The kind table: one entry point parses every kind, names its key, and the
 * store iterates any kind the same way. */
static int count_obj(const void *obj, const char *origin, void *ud)
{
	(void)obj;
	(void)origin;
	(*(int *)ud)++;
	return 0;
}

TEST(model_object_parse_dispatches_by_kind)
{
	static const struct {
		const char *yaml;
		enum model_kind kind;
		const char *ns, *name;
	} cases[] = {
		{ "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
		  "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n",
		  MODEL_KIND_SERVICE, "shop", "web" },
		{ SLICE_HEAD "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n",
		  MODEL_KIND_ENDPOINT_SLICE, "shop", "web-abc" },
		{ NODE_HEAD "spec: {podCIDRs: [10.244.2.0/24]}\n", MODEL_KIND_NODE, "", "node2" },
	};
	struct model_store *st = NULL;
	struct model_object mo;
	struct model_error e;
	const char *ns, *name;
	int n;
	json_t *o;

	CHECK_OK(model_store_new(&st));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		o = obj_from_yaml(cases[i].yaml);
		CHECK_OK(model_object_parse(o, &mo, &e));
		json_decref(o);
		CHECK_INT_EQ(mo.kind, cases[i].kind);
		model_object_key(mo.kind, mo.obj, &ns, &name);
		CHECK_STR_EQ(ns, cases[i].ns);
		CHECK_STR_EQ(name, cases[i].name);
		CHECK_INT_EQ(model_store_put(st, "all.yaml", mo.kind, mo.obj), 1);
		n = 0;
		CHECK_OK(model_store_foreach(st, cases[i].kind, count_obj, &n));
		CHECK_INT_EQ(n, 1);
	}
	o = obj_from_yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
	CHECK_OK(model_object_parse(o, &mo, &e));
	json_decref(o);
	CHECK_INT_EQ(mo.kind, MODEL_KIND_OTHER);
	CHECK(mo.obj == NULL);
	o = obj_from_yaml("apiVersion: v1\nkind: Node\nmetadata: {name: n, namespace: x}\n"
			  "spec: {podCIDRs: [10.244.2.1/24]}\n");
	CHECK_INT_EQ(model_object_parse(o, &mo, &e), -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "Node n: spec.podCIDRs[0]:");
	json_decref(o);
	CHECK_INT_EQ(model_store_put(st, "x", MODEL_KIND_OTHER, NULL), -EINVAL);
	model_store_free(st);
}
