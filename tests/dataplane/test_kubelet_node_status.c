/* The pure parts of the kubelet's Node (dataplane/kubelet_node.h): the
 * status from the node's facts (conditions, their transition and heartbeat
 * times, capacity and allocatable), what counts as a change, and the CNI
 * config from the Node's podCIDRs. */
#include "dataplane/kubelet_node.h"
#include "lib/kube_client.h"
#include "tests/harness/test.h"

#include <string.h>

#define T0 1796000000LL

static struct kubelet_node_facts healthy(void)
{
	struct kubelet_node_facts f = {
		.cpus = 4,
		.mem_total_kib = 8ULL << 20,
		.mem_available_kib = 4ULL << 20,
		.fs_bytes = 100ULL << 30,
		.fs_available_bytes = 50ULL << 30,
		.pids = 300,
		.pid_max = 4194304,
		.n_addrs = 1,
	};

	strcpy(f.kernel, "6.18.0");
	strcpy(f.arch, "amd64");
	strcpy(f.runtime, "containerd://1.6.20");
	strcpy(f.hostname, "n1");
	strcpy(f.addrs[0], "10.0.0.1");
	return f;
}

/* The condition of type in status. */
static json_t *cond(json_t *status, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
			return c;
	return NULL;
}

static const char *field(json_t *c, const char *key)
{
	return json_string_value(json_object_get(c, key));
}

TEST(heartbeat_moves_transition_stays_and_is_no_change)
{
	struct kubelet_node_facts f = healthy();
	json_t *s1 = kubelet_node_status(&f, NULL, T0);
	json_t *s2 = kubelet_node_status(&f, s1, T0 + 60);
	char t0[32], t1[32];

	kc_timestamp(T0, t0);
	kc_timestamp(T0 + 60, t1);
	CHECK_STR_EQ(field(cond(s1, "Ready"), "status"), "True");
	CHECK_STR_EQ(field(cond(s1, "Ready"), "reason"), "KubeletReady");
	CHECK_STR_EQ(field(cond(s2, "Ready"), "lastHeartbeatTime"), t1);
	CHECK_STR_EQ(field(cond(s2, "Ready"), "lastTransitionTime"), t0);
	CHECK_STR_EQ(field(cond(s2, "MemoryPressure"), "status"), "False");
	CHECK(!kubelet_node_status_changed(s1, s2));
	json_decref(s1);
	json_decref(s2);
}

TEST(runtime_down_is_not_ready_from_then)
{
	struct kubelet_node_facts f = healthy();
	json_t *s1 = kubelet_node_status(&f, NULL, T0), *s2;
	char t1[32];

	strcpy(f.runtime_error, "unix:/run/containerd.sock: connection refused");
	f.runtime[0] = 0;
	s2 = kubelet_node_status(&f, s1, T0 + 10);
	kc_timestamp(T0 + 10, t1);
	CHECK_STR_EQ(field(cond(s2, "Ready"), "status"), "False");
	CHECK_STR_EQ(field(cond(s2, "Ready"), "reason"), "KubeletNotReady");
	CHECK_STR_CONTAINS(field(cond(s2, "Ready"), "message"), "container runtime is down: unix:");
	CHECK_STR_EQ(field(cond(s2, "Ready"), "lastTransitionTime"), t1);
	CHECK(kubelet_node_status_changed(s1, s2));
	json_decref(s1);
	json_decref(s2);
}

TEST(pressure_at_the_eviction_thresholds)
{
	struct kubelet_node_facts f = healthy();
	json_t *s;

	f.mem_available_kib = 99 * 1024;  /* < 100Mi */
	f.fs_available_bytes = 9ULL << 30; /* < 10% of 100 GiB */
	f.pids = f.pid_max / 100 * 95;
	s = kubelet_node_status(&f, NULL, T0);
	CHECK_STR_EQ(field(cond(s, "MemoryPressure"), "status"), "True");
	CHECK_STR_EQ(field(cond(s, "DiskPressure"), "status"), "True");
	CHECK_STR_EQ(field(cond(s, "PIDPressure"), "status"), "True");
	CHECK_STR_EQ(field(cond(s, "Ready"), "status"), "True");
	json_decref(s);
}

TEST(capacity_allocatable_and_the_rest)
{
	struct kubelet_node_facts f = healthy();
	json_t *s = kubelet_node_status(&f, NULL, T0);

	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "capacity"), "memory")),
		     "8388608Ki");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "allocatable"), "memory")),
		     "8286208Ki");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "capacity"),
							 "ephemeral-storage")), "104857600Ki");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "allocatable"),
							 "ephemeral-storage")), "96636764160");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "capacity"), "cpu")), "4");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(s, "capacity"), "pods")), "110");
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(json_object_get(
			     s, "daemonEndpoints"), "kubeletEndpoint"), "Port")), 10250);
	CHECK_STR_EQ(field(json_object_get(s, "nodeInfo"), "containerRuntimeVersion"),
		     "containerd://1.6.20");
	CHECK_STR_EQ(field(json_array_get(json_object_get(s, "addresses"), 0), "type"), "InternalIP");
	CHECK_STR_EQ(field(json_array_get(json_object_get(s, "addresses"), 1), "address"), "n1");
	json_decref(s);
}

TEST(conflist_from_pod_cidrs)
{
	json_t *node = json_loads("{\"spec\":{\"podCIDRs\":[\"10.244.3.0/24\",\"fd00:244:3::/64\"]}}",
				  0, NULL);
	json_t *none = json_loads("{\"spec\":{}}", 0, NULL), *doc, *ipam;
	char *text = kubelet_node_conflist(node, "/var/lib/skiff/ipam", false, 0);

	CHECK(text != NULL);
	doc = json_loads(text, 0, NULL);
	ipam = json_object_get(json_array_get(json_object_get(doc, "plugins"), 0), "ipam");
	CHECK_STR_EQ(field(json_array_get(json_object_get(doc, "plugins"), 0), "type"), "skiff-cni");
	CHECK_STR_EQ(field(ipam, "type"), "skiff-ipam");
	CHECK_STR_EQ(field(ipam, "dataDir"), "/var/lib/skiff/ipam");
	CHECK_STR_EQ(field(json_array_get(json_array_get(json_object_get(ipam, "ranges"), 1), 0),
			   "subnet"), "fd00:244:3::/64");
	CHECK_STR_EQ(field(json_array_get(json_object_get(doc, "plugins"), 1), "type"), "portmap");
	CHECK(json_object_get(json_array_get(json_object_get(doc, "plugins"), 0), "mtu") == NULL);
	CHECK(kubelet_node_conflist(none, NULL, false, 0) == NULL);
	free(text);
	json_decref(doc);
	text = kubelet_node_conflist(node, NULL, false, 1450);
	doc = json_loads(text, 0, NULL);
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "plugins"), 0),
						 "mtu")) == 1450);
	free(text);
	json_decref(doc);
	json_decref(node);
	json_decref(none);
}
