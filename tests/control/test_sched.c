/* The scheduler's filters, scores, node sampling, FailedScheduling text,
 * assumed-pod cache and plan: one behaviour per test, on nodes and pods
 * built as the informers would hand them over. */
#include <errno.h>
#include <string.h>

#include "control/sched.h"
#include "tests/control/sched_test_env.h"

/* ---- filters ---- */

TEST(filter_node_name_places_on_the_named_node_only)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", NULL, NULL);
	env_node(s, "n2", "4", "8Gi", NULL, NULL);
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"nodeName\":\"n2\""), "n2");
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"nodeName\":\"n9\""),
		     "0/2 nodes are available: 2 node(s) didn't match the requested node name.");
	sched_free(s);
}

TEST(filter_unschedulable_node_refused_unless_tolerated)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", NULL, "{\"unschedulable\":true}");
	CHECK_STR_EQ(env_place(s, "100m", "", ""),
		     "0/1 nodes are available: 1 node(s) were unschedulable.");
	CHECK_STR_EQ(env_place(s, "100m", "",
			       ",\"tolerations\":[{\"key\":\"node.kubernetes.io/unschedulable\","
			       "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]"),
		     "n1");
	sched_free(s);
}

TEST(filter_node_selector)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", "{\"disk\":\"hdd\"}", NULL);
	env_node(s, "n2", "4", "8Gi", "{\"disk\":\"ssd\"}", NULL);
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"nodeSelector\":{\"disk\":\"ssd\"}"), "n2");
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"nodeSelector\":{\"disk\":\"nvme\"}"),
		     "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
	sched_free(s);
}

static const char *affinity(struct sched *s, const char *term)
{
	static char spec[1024];

	snprintf(spec, sizeof(spec),
		 ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
		 "{\"nodeSelectorTerms\":[%s]}}}", term);
	return env_place(s, "100m", "", spec);
}

TEST(filter_required_node_affinity_operators)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", "{\"zone\":\"a\",\"gen\":\"3\"}", NULL);
	env_node(s, "n2", "4", "8Gi", "{\"zone\":\"b\",\"gen\":\"5\",\"gpu\":\"yes\"}", NULL);
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\"]}]}"), "n2");
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"b\"]}]}"), "n1");
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]}"), "n2");
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}"), "n1");
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"4\"]}]}"), "n2");
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":[\"4\"]}]}"), "n1");
	CHECK_STR_EQ(affinity(s, "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}"), "n1");
	/* terms are ORed; the requirements of one term ANDed */
	CHECK_STR_EQ(affinity(s, "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\"]},"
				 "{\"key\":\"gpu\",\"operator\":\"Exists\"}]}"),
		     "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
	sched_free(s);
}

TEST(filter_taints_refuse_noschedule_and_noexecute_not_prefer)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}");
	env_node(s, "n2", "4", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]}");
	CHECK_STR_EQ(env_place(s, "100m", "", ""),
		     "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
		     "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.");
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"tolerations\":[{\"key\":\"dedicated\","
			       "\"operator\":\"Equal\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]"), "n1");
	/* a toleration of the wrong value does not help */
	CHECK_STR_CONTAINS(env_place(s, "100m", "", ",\"tolerations\":[{\"key\":\"dedicated\","
				     "\"value\":\"web\",\"effect\":\"NoSchedule\"}]"), "0/2 nodes");
	env_node(s, "n3", "4", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"spot\",\"effect\":\"PreferNoSchedule\"}]}");
	CHECK_STR_EQ(env_place(s, "100m", "", ""), "n3");
	sched_free(s);
}

TEST(filter_resources_cpu_memory_pods_extended)
{
	struct sched *s = env_new();
	json_t *n = jfmt("{\"metadata\":{\"name\":\"g1\"},\"status\":{\"allocatable\":"
			 "{\"cpu\":\"2\",\"memory\":\"1Gi\",\"pods\":\"1\",\"example.com/gpu\":\"1\"}}}");

	env_node(s, "n1", "1", "512Mi", NULL, NULL);
	CHECK_OK(sched_node_upsert(s, n));
	json_decref(n);
	CHECK_STR_EQ(env_place(s, "3", "", ""), "0/2 nodes are available: 2 Insufficient cpu.");
	CHECK_STR_EQ(env_place(s, "1500m", "", ""), "g1");
	CHECK_STR_EQ(env_place(s, NULL, "", ",\"containers\":[{\"name\":\"c\",\"resources\":"
			       "{\"requests\":{\"example.com/gpu\":\"2\",\"memory\":\"768Mi\"}}}]"),
		     "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient example.com/gpu.");
	env_pod(s, "filler", NULL, "", ",\"nodeName\":\"g1\"");
	CHECK_STR_EQ(env_place(s, "1500m", "", ""),
		     "0/2 nodes are available: 1 Insufficient cpu, 1 Too many pods.");
	sched_free(s);
}

TEST(filter_host_ports_conflict_by_protocol_and_ip)
{
	struct sched *s = env_new();
	const char *tcp80 = ",\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"hostPort\":80}]}]";

	env_node(s, "n1", "4", "8Gi", NULL, NULL);
	env_pod(s, "web", NULL, "", ",\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\","
		"\"ports\":[{\"containerPort\":80,\"hostPort\":80,\"hostIP\":\"10.0.0.1\"}]}]");
	CHECK_STR_EQ(env_place(s, NULL, "", tcp80),
		     "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
	CHECK_STR_EQ(env_place(s, NULL, "", ",\"containers\":[{\"name\":\"c\",\"ports\":"
			       "[{\"containerPort\":80,\"hostPort\":80,\"protocol\":\"UDP\"}]}]"), "n1");
	CHECK_STR_EQ(env_place(s, NULL, "", ",\"containers\":[{\"name\":\"c\",\"ports\":"
			       "[{\"containerPort\":80,\"hostPort\":80,\"hostIP\":\"10.0.0.2\"}]}]"), "n1");
	sched_free(s);
}

static void zones(struct sched *s)
{
	env_node(s, "a1", "8", "16Gi", "{\"topology.kubernetes.io/zone\":\"a\"}", NULL);
	env_node(s, "b1", "8", "16Gi", "{\"topology.kubernetes.io/zone\":\"b\"}", NULL);
}

#define POD_AFFINITY(kind, term) \
	",\"affinity\":{\"" kind "\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[" term "]}}"
#define ZONE_TERM(app) \
	"{\"labelSelector\":{\"matchLabels\":{\"app\":\"" app "\"}},\"topologyKey\":\"topology.kubernetes.io/zone\"}"

TEST(filter_pod_affinity_follows_matching_pods_by_topology)
{
	struct sched *s = env_new();

	zones(s);
	/* the first of a self-selecting group may go anywhere */
	CHECK_STR_CONTAINS("a1 b1", env_place(s, "100m", ",\"labels\":{\"app\":\"db\"}",
					      POD_AFFINITY("podAffinity", ZONE_TERM("db"))));
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAffinity", ZONE_TERM("db"))),
		     "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.");
	env_pod(s, "db-0", NULL, ",\"labels\":{\"app\":\"db\"}", ",\"nodeName\":\"b1\"");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAffinity", ZONE_TERM("db"))), "b1");
	sched_free(s);
}

#define NS_TERM(team) \
	"{\"labelSelector\":{\"matchLabels\":{\"app\":\"db\"}},\"topologyKey\":\"topology.kubernetes.io/zone\"," \
	"\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"In\",\"values\":[\"" team "\"]}]}}"

static void ns_obj(struct sched *s, const char *name, const char *team)
{
	json_t *ns = jfmt("{\"metadata\":{\"name\":\"%s\",\"labels\":{\"team\":\"%s\"}}}", name, team);

	CHECK_OK(sched_namespace_upsert(s, ns));
	json_decref(ns);
}

/* A namespaceSelector with requirements selects pods by their
 * namespace's labels, as they are now. */
TEST(filter_pod_affinity_namespace_selector)
{
	struct sched *s = env_new();
	json_t *db = jfmt("{\"metadata\":{\"namespace\":\"ns-b\",\"name\":\"db\",\"labels\":{\"app\":\"db\"}},"
			  "\"spec\":{\"nodeName\":\"b1\",\"containers\":[{\"name\":\"c\"}]}}");

	zones(s);
	ns_obj(s, "ns-a", "a");
	ns_obj(s, "ns-b", "b");
	CHECK_OK(sched_pod_upsert(s, db, 0));
	env_pod(s, "db-default", NULL, ",\"labels\":{\"app\":\"db\"}", ",\"nodeName\":\"a1\"");
	/* the db of team b is in zone b; the pod's own namespace is not searched */
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAffinity", NS_TERM("b"))), "b1");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAffinity", NS_TERM("a"))),
		     "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAntiAffinity", NS_TERM("b"))), "a1");
	/* ns-b joins team a */
	ns_obj(s, "ns-b", "a");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAffinity", NS_TERM("a"))), "b1");
	CHECK_OK(sched_namespace_delete(s, "ns-b"));
	CHECK_STR_CONTAINS(env_place(s, "100m", "", POD_AFFINITY("podAffinity", NS_TERM("a"))),
			   "didn't match pod affinity rules");
	json_decref(db);
	sched_free(s);
}

#define KEYED_TERM(keys) \
	"{\"labelSelector\":{\"matchLabels\":{\"app\":\"web\"}},\"topologyKey\":\"topology.kubernetes.io/zone\"" \
	keys "}"

/* matchLabelKeys and mismatchLabelKeys take the pod's own values: with
 * the same version, with another one. */
TEST(filter_pod_affinity_match_and_mismatch_label_keys)
{
	struct sched *s = env_new();
	const char *v2 = ",\"labels\":{\"app\":\"web\",\"version\":\"v2\"}";

	zones(s);
	env_pod(s, "web-v1", NULL, ",\"labels\":{\"app\":\"web\",\"version\":\"v1\"}",
		",\"nodeName\":\"a1\"");
	env_pod(s, "web-v2", NULL, v2, ",\"nodeName\":\"b1\"");
	CHECK_STR_CONTAINS("a1 b1", env_place(s, "100m", v2, POD_AFFINITY("podAffinity", KEYED_TERM(""))));
	CHECK_STR_EQ(env_place(s, "100m", v2, POD_AFFINITY("podAffinity",
		     KEYED_TERM(",\"matchLabelKeys\":[\"version\"]"))), "b1");
	CHECK_STR_EQ(env_place(s, "100m", v2, POD_AFFINITY("podAffinity",
		     KEYED_TERM(",\"mismatchLabelKeys\":[\"version\"]"))), "a1");
	CHECK_STR_EQ(env_place(s, "100m", v2, POD_AFFINITY("podAntiAffinity",
		     KEYED_TERM(",\"matchLabelKeys\":[\"version\"]"))), "a1");
	sched_free(s);
}

TEST(filter_pod_anti_affinity_avoids_matching_pods)
{
	struct sched *s = env_new();

	zones(s);
	env_pod(s, "web-0", NULL, ",\"labels\":{\"app\":\"web\"}", ",\"nodeName\":\"a1\"");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAntiAffinity", ZONE_TERM("web"))), "b1");
	env_pod(s, "web-1", NULL, ",\"labels\":{\"app\":\"web\"}", ",\"nodeName\":\"b1\"");
	CHECK_STR_EQ(env_place(s, "100m", "", POD_AFFINITY("podAntiAffinity", ZONE_TERM("web"))),
		     "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.");
	sched_free(s);
}

TEST(filter_existing_pods_anti_affinity_refuses_the_incoming_pod)
{
	struct sched *s = env_new();

	zones(s);
	env_pod(s, "loner", NULL, "", ",\"nodeName\":\"a1\"" POD_AFFINITY("podAntiAffinity", ZONE_TERM("web")));
	CHECK_STR_EQ(env_place(s, "100m", ",\"labels\":{\"app\":\"web\"}", ""), "b1");
	CHECK_STR_EQ(env_place(s, "100m", ",\"labels\":{\"app\":\"other\"}",
			       ",\"nodeSelector\":{\"topology.kubernetes.io/zone\":\"a\"}"), "a1");
	CHECK_STR_EQ(env_place(s, "100m", ",\"labels\":{\"app\":\"web\"}",
			       ",\"nodeSelector\":{\"topology.kubernetes.io/zone\":\"a\"}"),
		     "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
		     "1 node(s) didn't satisfy existing pods anti-affinity rules.");
	sched_free(s);
}

TEST(filter_anti_affinity_released_when_the_pod_leaves)
{
	struct sched *s = env_new();

	zones(s);
	env_pod(s, "loner", NULL, "", ",\"nodeName\":\"a1\"" POD_AFFINITY("podAntiAffinity", ZONE_TERM("web")));
	env_pod(s, "web-0", NULL, ",\"labels\":{\"app\":\"web\"}", ",\"nodeName\":\"b1\"");
	CHECK_STR_EQ(env_place(s, "100m", ",\"labels\":{\"app\":\"web\"}",
			       POD_AFFINITY("podAntiAffinity", ZONE_TERM("web"))),
		     "0/2 nodes are available: 1 node(s) didn't match pod anti-affinity rules, "
		     "1 node(s) didn't satisfy existing pods anti-affinity rules.");
	CHECK_OK(sched_pod_delete(s, "default", "loner"));
	CHECK_STR_EQ(env_place(s, "100m", ",\"labels\":{\"app\":\"web\"}",
			       POD_AFFINITY("podAntiAffinity", ZONE_TERM("web"))), "a1");
	sched_free(s);
}

#define SPREAD(skew, key, extra) \
	",\"topologySpreadConstraints\":[{\"maxSkew\":" #skew ",\"topologyKey\":\"" key "\"," \
	"\"whenUnsatisfiable\":\"DoNotSchedule\",\"labelSelector\":{\"matchLabels\":{\"app\":\"web\"}}" extra "}]"

TEST(filter_topology_spread_keeps_skew_within_max)
{
	struct sched *s = env_new();
	const char *web = ",\"labels\":{\"app\":\"web\"}";

	zones(s);
	env_pod(s, "w0", NULL, web, ",\"nodeName\":\"a1\"");
	env_pod(s, "w1", NULL, web, ",\"nodeName\":\"a1\"");
	/* a has 2, b has 0: a third in a would make the skew 3 */
	CHECK_STR_EQ(env_place(s, "100m", web, SPREAD(1, "topology.kubernetes.io/zone", "")), "b1");
	CHECK_STR_CONTAINS("a1 b1", env_place(s, "100m", web, SPREAD(3, "topology.kubernetes.io/zone", "")));
	env_pod(s, "w2", NULL, web, ",\"nodeName\":\"b1\"");
	env_pod(s, "w3", NULL, web, ",\"nodeName\":\"b1\"");
	env_pod(s, "w4", NULL, web, ",\"nodeName\":\"b1\"");
	/* minDomains 3 with 2 zones: the global minimum is 0, so both have skew >= 2 */
	CHECK_STR_EQ(env_place(s, "100m", web, SPREAD(1, "topology.kubernetes.io/zone", ",\"minDomains\":3")),
		     "0/2 nodes are available: 2 node(s) didn't match pod topology spread constraints.");
	env_node(s, "x1", "8", "16Gi", NULL, NULL);
	CHECK_STR_EQ(env_place(s, "100m", web, SPREAD(1, "topology.kubernetes.io/zone", "") ",\"nodeName\":\"x1\""),
		     "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints "
		     "(missing required label), 2 node(s) didn't match the requested node name.");
	sched_free(s);
}

/* nodeTaintsPolicy Honor leaves out nodes whose taints the pod does not
 * tolerate; nodeAffinityPolicy Ignore counts nodes its selector refuses. */
TEST(filter_topology_spread_node_inclusion_policies)
{
	struct sched *s = env_new();
	const char *web = ",\"labels\":{\"app\":\"web\"}";

	env_node(s, "n1", "8", "16Gi", "{\"tier\":\"a\"}", NULL);
	env_node(s, "n2", "8", "16Gi", "{\"tier\":\"a\"}", NULL);
	env_node(s, "n3", "8", "16Gi", "{\"tier\":\"b\"}",
		 "{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}");
	env_pod(s, "w1", NULL, web, ",\"nodeName\":\"n1\"");
	env_pod(s, "w2", NULL, web, ",\"nodeName\":\"n2\"");
	/* taints ignored (default): empty n3 holds the minimum at 0 */
	CHECK_STR_EQ(env_place(s, "100m", web, SPREAD(1, "kubernetes.io/hostname", "")),
		     "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
		     "2 node(s) didn't match pod topology spread constraints.");
	CHECK_STR_CONTAINS("n1 n2", env_place(s, "100m", web, SPREAD(1, "kubernetes.io/hostname",
								     ",\"nodeTaintsPolicy\":\"Honor\"")));
	/* node affinity honoured (default): n3 (tier b) does not count */
	CHECK_STR_CONTAINS("n1 n2", env_place(s, "100m", web, SPREAD(1, "kubernetes.io/hostname", "")
					      ",\"nodeSelector\":{\"tier\":\"a\"}"));
	CHECK_STR_CONTAINS(env_place(s, "100m", web, SPREAD(1, "kubernetes.io/hostname",
							    ",\"nodeAffinityPolicy\":\"Ignore\"")
				     ",\"nodeSelector\":{\"tier\":\"a\"}"),
			   "2 node(s) didn't match pod topology spread constraints.");
	sched_free(s);
}

/* matchLabelKeys: the pod's own values of those labels narrow the
 * selector (a rollout spreads its new revision on its own). */
TEST(filter_topology_spread_match_label_keys)
{
	struct sched *s = env_new();
	const char *v1 = ",\"labels\":{\"app\":\"web\",\"version\":\"v1\"}";
	const char *v2 = ",\"labels\":{\"app\":\"web\",\"version\":\"v2\"}";

	env_node(s, "n1", "8", "16Gi", NULL, NULL);
	env_node(s, "n2", "8", "16Gi", NULL, NULL);
	env_pod(s, "old-1", NULL, v1, ",\"nodeName\":\"n1\"");
	env_pod(s, "old-2", NULL, v1, ",\"nodeName\":\"n1\"");
	env_pod(s, "new-1", NULL, v2, ",\"nodeName\":\"n2\"");
	/* every web pod: n1 2, n2 1 */
	CHECK_STR_EQ(env_place(s, "100m", v2, SPREAD(1, "kubernetes.io/hostname", "")), "n2");
	/* v2 pods only: n1 0, n2 1 */
	CHECK_STR_EQ(env_place(s, "100m", v2, SPREAD(1, "kubernetes.io/hostname",
						     ",\"matchLabelKeys\":[\"version\"]")), "n1");
	sched_free(s);
}

/* ---- the FailedScheduling message ---- */

TEST(failed_scheduling_message_in_upstream_form)
{
	struct sched *s = env_new();
	json_t *plan_pod = env_pod_json("web-1", "3", "", "");
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	struct sched_pod *p;

	env_node(s, "node-1", "4", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]}");
	env_node(s, "node-2", "2", "8Gi", NULL, NULL);
	env_node(s, "node-3", "2", "8Gi", NULL, NULL);
	CHECK_OK(sched_pod_upsert(s, plan_pod, 0));
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 0, &plan, &res));
	CHECK(res.node == NULL);
	CHECK_STR_EQ(res.message, "0/3 nodes are available: 1 node(s) had untolerated taint "
				  "{node.kubernetes.io/unreachable: }, 2 Insufficient cpu.");
	CHECK_INT_EQ(plan.n, 2);
	CHECK_INT_EQ(plan.v[0].verb, CTRL_EVENT);
	CHECK_STR_EQ(plan.v[0].reason, "FailedScheduling");
	CHECK_STR_EQ(plan.v[0].event_type, "Warning");
	/* the event adds upstream's PostFilter (preemption) sentence */
	CHECK_STR_EQ(plan.v[0].message,
		     "0/3 nodes are available: 1 node(s) had untolerated taint "
		     "{node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes "
		     "are available: 1 Preemption is not helpful for scheduling, 2 No preemption "
		     "victims found for incoming pod.");
	CHECK_INT_EQ(plan.v[1].verb, CTRL_PATCH);
	CHECK_STR_EQ(plan.v[1].subresource, "status");
	ctrl_plan_clear(&plan);
	json_decref(plan_pod);
	sched_free(s);
}

/* ---- scores ---- */

TEST(score_least_allocated_prefers_the_emptier_node)
{
	struct sched *s = env_new();

	env_node(s, "busy", "4", "8Gi", NULL, NULL);
	env_node(s, "idle", "4", "8Gi", NULL, NULL);
	env_pod(s, "hog", "3", "", ",\"nodeName\":\"busy\"");
	for (int i = 0; i < 5; i++)
		CHECK_STR_EQ(env_place(s, "100m", "", ""), "idle");
	sched_free(s);
}

TEST(score_balanced_allocation_prefers_even_use)
{
	struct sched *s = env_new();
	const char *mem_heavy = ",\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
				"{\"cpu\":\"100m\",\"memory\":\"2Gi\"}}}]";

	/* Equal least-allocated totals; only balance tells them apart. */
	env_node(s, "cpu-used", "4", "4Gi", NULL, NULL);
	env_node(s, "mem-used", "4", "4Gi", NULL, NULL);
	env_pod(s, "c", NULL, "", ",\"nodeName\":\"cpu-used\",\"containers\":[{\"name\":\"c\","
		"\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"1\"}}}]");
	env_pod(s, "m", NULL, "", ",\"nodeName\":\"mem-used\",\"containers\":[{\"name\":\"c\","
		"\"resources\":{\"requests\":{\"cpu\":\"1m\",\"memory\":\"2Gi\"}}}]");
	/* a memory-heavy pod evens out the node whose cpu is used */
	CHECK_STR_EQ(env_place(s, NULL, "", mem_heavy), "cpu-used");
	sched_free(s);
}

TEST(score_preferred_node_affinity_weights)
{
	struct sched *s = env_new();
	const char *pref = ",\"affinity\":{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":["
			   "{\"weight\":10,\"preference\":{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\"]}]}},"
			   "{\"weight\":90,\"preference\":{\"matchExpressions\":[{\"key\":\"net\",\"operator\":\"In\",\"values\":[\"fast\"]}]}}]}}";

	env_node(s, "ssd", "4", "8Gi", "{\"disk\":\"ssd\"}", NULL);
	env_node(s, "fast", "4", "8Gi", "{\"net\":\"fast\"}", NULL);
	env_node(s, "plain", "4", "8Gi", NULL, NULL);
	for (int i = 0; i < 5; i++)
		CHECK_STR_EQ(env_place(s, "100m", "", pref), "fast");
	sched_free(s);
}

TEST(score_prefer_no_schedule_taint_avoided)
{
	struct sched *s = env_new();

	env_node(s, "spot", "4", "8Gi", NULL, "{\"taints\":[{\"key\":\"spot\",\"effect\":\"PreferNoSchedule\"}]}");
	env_node(s, "ondemand", "4", "8Gi", NULL, NULL);
	for (int i = 0; i < 5; i++)
		CHECK_STR_EQ(env_place(s, "100m", "", ""), "ondemand");
	CHECK_STR_CONTAINS("spot ondemand", env_place(s, "100m", "", ",\"tolerations\":[{\"key\":\"spot\",\"operator\":\"Exists\"}]"));
	sched_free(s);
}

TEST(score_preferred_pod_affinity_and_anti_affinity)
{
	struct sched *s = env_new();
	const char *near = ",\"affinity\":{\"podAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":"
			   "[{\"weight\":100,\"podAffinityTerm\":" ZONE_TERM("cache") "}]}}";
	const char *away = ",\"affinity\":{\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":"
			   "[{\"weight\":100,\"podAffinityTerm\":" ZONE_TERM("cache") "}]}}";

	zones(s);
	env_pod(s, "cache-0", NULL, ",\"labels\":{\"app\":\"cache\"}", ",\"nodeName\":\"b1\"");
	for (int i = 0; i < 5; i++) {
		CHECK_STR_EQ(env_place(s, "100m", "", near), "b1");
		CHECK_STR_EQ(env_place(s, "100m", "", away), "a1");
	}
	sched_free(s);
}

TEST(score_default_spreading_of_a_controllers_pods)
{
	struct sched *s = env_new();
	const char *owned = ",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
			    "\"name\":\"web\",\"uid\":\"rs-1\",\"controller\":true}]";

	env_node(s, "n1", "64", "64Gi", NULL, NULL);
	env_node(s, "n2", "64", "64Gi", NULL, NULL);
	/* n1 is emptier by far, yet holds the controller's pods: spread wins */
	env_pod(s, "big", "30", "", ",\"nodeName\":\"n2\"");
	env_pod(s, "web-0", NULL, owned, ",\"nodeName\":\"n1\"");
	env_pod(s, "web-1", NULL, owned, ",\"nodeName\":\"n1\"");
	env_pod(s, "web-2", NULL, owned, ",\"nodeName\":\"n1\"");
	CHECK_STR_EQ(env_place(s, "100m", owned, ""), "n2");
	/* a pod of no controller goes by resources */
	CHECK_STR_EQ(env_place(s, "100m", "", ""), "n1");
	/* the controller's pods gone, its next pod goes by resources too */
	CHECK_OK(sched_pod_delete(s, "default", "web-0"));
	CHECK_OK(sched_pod_delete(s, "default", "web-1"));
	CHECK_OK(sched_pod_delete(s, "default", "web-2"));
	CHECK_STR_EQ(env_place(s, "100m", owned, ""), "n1");
	sched_free(s);
}

/* ---- node sampling ---- */

TEST(sampling_scores_a_share_of_large_clusters_from_a_rotating_start)
{
	struct sched *s = env_new();
	struct sched_result res;
	json_t *j = env_pod_json("p", "100m", "", "");
	struct sched_pod *p;
	char name[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%04d", i);
		env_node(s, name, "4", "8Gi", NULL, NULL);
	}
	CHECK_OK(sched_pod_parse(s, j, &p));
	CHECK_OK(sched_schedule_one(s, p, &res));
	CHECK_INT_EQ(res.evaluated, 420); /* 50% - 1000/125 = 42% */
	CHECK_INT_EQ(res.feasible, 420);
	CHECK_OK(sched_schedule_one(s, p, &res));
	CHECK(res.node != NULL);
	/* the second walk started where the first stopped */
	CHECK(res.node->idx >= 420 && res.node->idx < 840);
	sched_pod_free(p);
	json_decref(j);
	sched_free(s);
}

/* ---- the assumed-pod cache ---- */

TEST(assumed_pods_prevent_overbooking_in_a_burst)
{
	struct sched *s = env_new();
	struct sched_pod *p;
	int placed = 0, refused = 0;
	char name[16];

	env_node(s, "n1", "2", "8Gi", NULL, NULL);
	env_node(s, "n2", "2", "8Gi", NULL, NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "burst-%d", i);
		env_pod(s, name, "1", "", "");
	}
	/* No binding is seen during the burst: only the assumed pods count. */
	while ((p = sched_queue_pop(s, 0))) {
		struct ctrl_plan plan = CTRL_PLAN_INIT;
		struct sched_result res;

		CHECK_OK(sched_cycle(s, p, 0, &plan, &res));
		if (res.node)
			placed++;
		else
			refused++;
		ctrl_plan_clear(&plan);
	}
	CHECK_INT_EQ(placed, 4);
	CHECK_INT_EQ(refused, 2);
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 2000);
	CHECK_INT_EQ(sched_node_find(s, "n2")->req[SCHED_CPU], 2000);
	sched_free(s);
}

static struct sched_pod *assume_one(struct sched *s, const char *name)
{
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	struct sched_pod *p;

	env_pod(s, name, "1", "", "");
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 0, &plan, &res));
	CHECK(res.node != NULL);
	ctrl_plan_clear(&plan);
	return p;
}

TEST(assumed_pod_confirmed_by_its_binding_counts_once)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", NULL, NULL);
	assume_one(s, "web-0");
	CHECK_OK(sched_bind_done(s, "default", "web-0", 0, 1 * SEC));
	env_pod(s, "web-0", "1", "", ",\"nodeName\":\"n1\"");
	CHECK_INT_EQ(sched_pod_find(s, "default", "web-0")->state, SCHED_POD_BOUND);
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 1000);
	CHECK_INT_EQ(sched_node_find(s, "n1")->n_pods, 1);
	/* confirmed pods never expire */
	CHECK_INT_EQ(sched_expire_assumed(s, 3600 * SEC), 0);
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 1000);
	sched_free(s);
}

TEST(assumed_pod_forgotten_when_binding_fails_or_times_out)
{
	struct sched *s = env_new();
	size_t a, b, u;

	env_node(s, "n1", "4", "8Gi", NULL, NULL);
	assume_one(s, "web-0");
	assume_one(s, "web-1");
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 2000);
	CHECK_OK(sched_bind_done(s, "default", "web-0", -EIO, 1 * SEC));
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 1000);
	CHECK_OK(sched_bind_done(s, "default", "web-1", 0, 1 * SEC));
	CHECK_INT_EQ(sched_expire_assumed(s, 30 * SEC), 0);
	CHECK_INT_EQ(sched_expire_assumed(s, 31 * SEC), 1);
	CHECK_INT_EQ(sched_node_find(s, "n1")->req[SCHED_CPU], 0);
	CHECK_INT_EQ(sched_node_find(s, "n1")->n_pods, 0);
	/* both go back to the queue, with backoff */
	sched_queue_counts(s, &a, &b, &u);
	CHECK_INT_EQ(a + b, 2);
	sched_free(s);
}

/* ---- the plan ---- */

TEST(plan_binds_through_pods_binding_with_a_scheduled_event)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_pod *p;

	env_node(s, "node-3", "4", "8Gi", NULL, NULL);
	env_pod(s, "web-1", "100m", "", "");
	p = sched_queue_pop(s, 0);
	CHECK_OK(sched_cycle(s, p, 0, &plan, NULL));
	CHECK_INT_EQ(plan.n, 2);
	CHECK_INT_EQ(plan.v[0].verb, CTRL_CREATE);
	CHECK_STR_EQ(plan.v[0].resource, "pods");
	CHECK_STR_EQ(plan.v[0].subresource, "binding");
	CHECK_STR_EQ(plan.v[0].ns, "default");
	CHECK_STR_EQ(plan.v[0].name, "web-1");
	CHECK_STR_EQ(json_string_value(json_object_get(plan.v[0].body, "kind")), "Binding");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(plan.v[0].body, "target"), "name")),
		     "node-3");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(plan.v[0].body, "metadata"), "uid")),
		     "uid-web-1");
	CHECK_INT_EQ(plan.v[1].verb, CTRL_EVENT);
	CHECK_STR_EQ(plan.v[1].reason, "Scheduled");
	CHECK_STR_EQ(plan.v[1].message, "Successfully assigned default/web-1 to node-3");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(snapshot_updates_incrementally_without_rebuild)
{
	struct sched *s = env_new();

	env_node(s, "n1", "4", "8Gi", NULL, NULL);
	env_pod(s, "early", "1", "", ",\"nodeName\":\"late\"");
	env_node(s, "late", "4", "8Gi", NULL, NULL);
	/* a pod bound before its node was known joins it */
	CHECK_INT_EQ(sched_node_find(s, "late")->req[SCHED_CPU], 1000);
	/* a node update keeps its pods; new allocatable applies */
	env_node(s, "late", "2", "8Gi", NULL, "{\"unschedulable\":true}");
	CHECK_INT_EQ(sched_node_find(s, "late")->n_pods, 1);
	CHECK_INT_EQ(sched_node_find(s, "late")->alloc[SCHED_CPU], 2000);
	CHECK(sched_node_find(s, "late")->unschedulable);
	/* a finished pod counts nowhere */
	json_t *done = jfmt("{\"metadata\":{\"namespace\":\"default\",\"name\":\"early\"},"
			    "\"spec\":{\"nodeName\":\"late\"},\"status\":{\"phase\":\"Succeeded\"}}");
	CHECK_OK(sched_pod_upsert(s, done, 0));
	json_decref(done);
	CHECK_INT_EQ(sched_node_find(s, "late")->req[SCHED_CPU], 0);
	CHECK(sched_pod_find(s, "default", "early") == NULL);
	CHECK_OK(sched_node_delete(s, "n1"));
	CHECK_INT_EQ(sched_node_count(s), 1);
	CHECK(sched_node_find(s, "n1") == NULL);
	sched_free(s);
}

TEST(pod_requests_max_init_containers_plus_overhead)
{
	struct sched *s = env_new();
	json_t *j = jfmt("{\"metadata\":{\"name\":\"p\"},\"spec\":{"
			 "\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"200m\",\"memory\":\"64Mi\"}}},"
			 "{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"300m\"}}}],"
			 "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"32Mi\"}}}],"
			 "\"overhead\":{\"cpu\":\"10m\"}}}");
	struct sched_pod *p;

	CHECK_OK(sched_pod_parse(s, j, &p));
	CHECK_INT_EQ(p->req[SCHED_CPU], 1010);
	CHECK_INT_EQ(p->req[SCHED_MEM], 64 << 20);
	CHECK_INT_EQ(p->req[SCHED_PODS], 1);
	/* container b asks no memory: counted as 200Mi when scoring */
	CHECK_INT_EQ(p->nonzero_mem, (64 << 20) + (200 << 20));
	sched_pod_free(p);
	json_decref(j);
	sched_free(s);
}

/* Restartable (sidecar) init containers run beside the containers; an
 * ordinary init container runs beside the sidecars started before it
 * (upstream's PodRequests). */
TEST(pod_requests_count_sidecars_beside_the_containers)
{
	struct sched *s = env_new();
	json_t *j = jfmt("{\"metadata\":{\"name\":\"p\"},\"spec\":{"
			 "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"500m\"}}}],"
			 "\"initContainers\":["
			 "{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"400m\"}}},"
			 "{\"name\":\"side1\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"300m\"}}},"
			 "{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"700m\"}}},"
			 "{\"name\":\"side2\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}}");
	struct sched_pod *p;

	CHECK_OK(sched_pod_parse(s, j, &p));
	/* b with side1 (1000m) outweighs c with both sidecars (900m) */
	CHECK_INT_EQ(p->req[SCHED_CPU], 1000);
	CHECK_INT_EQ(p->nonzero_cpu, 1000);
	/* c and both sidecars ask no memory: 200Mi each when scoring */
	CHECK_INT_EQ(p->nonzero_mem, 3 * (200 << 20));
	sched_pod_free(p);
	json_decref(j);
	json_t *k = jfmt("{\"metadata\":{\"name\":\"q\"},\"spec\":{"
			 "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"}}}],"
			 "\"initContainers\":["
			 "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"300m\",\"memory\":\"1Gi\"}}}]}}");

	CHECK_OK(sched_pod_parse(s, k, &p));
	CHECK_INT_EQ(p->req[SCHED_CPU], 800);
	CHECK_INT_EQ(p->req[SCHED_MEM], 2LL << 30);
	sched_pod_free(p);
	json_decref(k);
	sched_free(s);
}

/* skiff stores no PersistentVolumeClaims: a pod using one waits with
 * upstream's VolumeBinding PreFilter words (no per-node reasons), and
 * preemption cannot help on any node; other volumes do not matter. */
TEST(volume_claims_that_do_not_exist_keep_the_pod_pending)
{
	struct sched *s = env_new();
	json_t *j = env_pod_json("app", "100m", "",
				 ",\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"c\"}},"
				 "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"data-0\"}}]");
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	struct sched_pod *p;

	env_node(s, "n1", "8", "16Gi", NULL, NULL);
	env_node(s, "n2", "8", "16Gi", NULL, NULL);
	CHECK_OK(sched_pod_upsert(s, j, 0));
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 0, &plan, &res));
	CHECK(res.node == NULL);
	CHECK_INT_EQ(plan.v[0].verb, CTRL_EVENT);
	CHECK_STR_EQ(plan.v[0].message,
		     "0/2 nodes are available: persistentvolumeclaim \"data-0\" not found. "
		     "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
	ctrl_plan_clear(&plan);
	json_decref(j);
	CHECK_STR_EQ(env_place(s, "100m", "", ",\"volumes\":[{\"name\":\"scratch\",\"ephemeral\":"
			       "{\"volumeClaimTemplate\":{\"spec\":{}}}}]"),
		     "0/2 nodes are available: waiting for ephemeral volume controller to create "
		     "the persistentvolumeclaim \"incoming-scratch\".");
	CHECK_STR_CONTAINS("n1 n2", env_place(s, "100m", "", ",\"volumes\":[{\"name\":\"tmp\","
					      "\"emptyDir\":{}}]"));
	sched_free(s);
}
