/* Node lifecycle's compute step: a silent kubelet makes its node Unknown
 * and unreachable, its pods unready at once and evicted once their
 * tolerations run out; admission adds the default tolerations. */
#include <string.h>

#include "control/ctrl_nodelifecycle.h"
#include "control/ctrl_util.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define T0 "2026-12-07T06:00:00Z"
#define NODE(conds, taints)                                                               \
	"{\"metadata\":{\"name\":\"n1\",\"uid\":\"u\",\"resourceVersion\":\"3\","            \
	"\"creationTimestamp\":\"2026-12-07T05:00:00Z\"},\"spec\":{" taints "},"             \
	"\"status\":{\"conditions\":[" conds "]}}"
#define READY(status, beat)                                                               \
	"{\"type\":\"Ready\",\"status\":\"" status "\",\"lastHeartbeatTime\":\"" beat "\"," \
	"\"lastTransitionTime\":\"2026-12-07T05:00:00Z\"}"
#define LEASE(renew) "{\"metadata\":{\"name\":\"n1\"},\"spec\":{\"renewTime\":\"" renew "\"}}"
#define POD(name, node, tols)                                                             \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" name "\"}," \
	"\"spec\":{\"nodeName\":\"" node "\",\"tolerations\":[" tols "]},\"status\":"        \
	"{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"
#define UNREACHABLE(added)                                                                \
	"\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\","  \
	"\"timeAdded\":\"" added "\"}]"

TEST(renewed_lease_keeps_the_node_and_says_when_to_look_again)
{
	json_t *node = tobj(NODE(READY("True", "2026-12-07T05:59:00Z"), ""));
	json_t *lease = tobj(LEASE("2026-12-07T05:59:55.123456Z"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	time_t next;

	CHECK_OK(nodelc_compute(node, lease, NULL, 0, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(p.n, 0);
	CHECK_INT_EQ(next, tat("2026-12-07T06:00:46Z"));
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(lease);
}

TEST(ready_heartbeat_counts_as_well_as_the_lease)
{
	json_t *node = tobj(NODE(READY("True", "2026-12-07T05:59:30Z"), ""));
	json_t *lease = tobj(LEASE("2026-12-07T05:50:00Z"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	time_t next;

	CHECK_OK(nodelc_compute(node, lease, NULL, 0, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(p.n, 0);
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(lease);
}

TEST(silent_kubelet_makes_every_condition_unknown)
{
	json_t *node = tobj(NODE(READY("True", "2026-12-07T05:59:00Z"), ""));
	json_t *lease = tobj(LEASE("2026-12-07T05:59:09Z"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *a;
	json_t *ready;
	time_t next;

	CHECK_OK(nodelc_compute(node, lease, NULL, 0, 50, tat(T0), &p, &next));
	a = tfind(&p, CTRL_UPDATE_STATUS, "nodes");
	CHECK(a != NULL);
	ready = ctrl_condition(a->body, "Ready");
	CHECK_STR_EQ(ctrl_str(ready, "status"), "Unknown");
	CHECK_STR_EQ(ctrl_str(ready, "reason"), "NodeStatusUnknown");
	CHECK_STR_EQ(ctrl_str(ready, "message"), "Kubelet stopped posting node status.");
	CHECK_STR_EQ(ctrl_str(ready, "lastTransitionTime"), T0);
	CHECK_STR_EQ(ctrl_str(ctrl_condition(a->body, "PIDPressure"), "reason"),
		     "NodeStatusNeverUpdated");
	CHECK(thas_event(&p, "NodeNotReady"));
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(lease);
}

TEST(unknown_node_gets_the_unreachable_taints_with_time_added)
{
	json_t *node = tobj(NODE(READY("True", "2026-12-07T05:58:00Z"), "\"taints\":[{\"key\":"
				"\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *a;
	json_t *taints;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, NULL, 0, 50, tat(T0), &p, &next));
	a = tfind(&p, CTRL_PATCH, "nodes");
	CHECK(a != NULL);
	taints = ctrl_get(a->body, "spec.taints");
	CHECK_INT_EQ(json_array_size(taints), 3);
	CHECK_STR_EQ(ctrl_str(json_array_get(taints, 0), "key"), "dedicated");
	CHECK_STR_EQ(ctrl_str(json_array_get(taints, 1), "effect"), "NoSchedule");
	CHECK_STR_EQ(ctrl_str(json_array_get(taints, 2), "key"), "node.kubernetes.io/unreachable");
	CHECK_STR_EQ(ctrl_str(json_array_get(taints, 2), "timeAdded"), T0);
	ctrl_plan_clear(&p);
	json_decref(node);
}

TEST(kubelet_reporting_not_ready_gets_the_not_ready_taints)
{
	json_t *node = tobj(NODE(READY("False", "2026-12-07T05:59:59Z"), ""));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *a;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, NULL, 0, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, "nodes"), 0);
	a = tfind(&p, CTRL_PATCH, "nodes");
	CHECK(a != NULL);
	CHECK_INT_EQ(json_array_size(ctrl_get(a->body, "spec.taints")), 2);
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(a->body, "spec.taints"), 1), "key"),
		     "node.kubernetes.io/not-ready");
	ctrl_plan_clear(&p);
	json_decref(node);
}

TEST(returning_node_loses_the_unreachable_taint_and_keeps_users_taints)
{
	json_t *node = tobj(NODE(READY("True", "2026-12-07T05:59:59Z"),
				"\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":"
				"\"NoExecute\"},{\"key\":\"x\",\"effect\":\"NoExecute\"}]"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *a;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, NULL, 0, 50, tat(T0), &p, &next));
	a = tfind(&p, CTRL_PATCH, "nodes");
	CHECK(a != NULL);
	CHECK_INT_EQ(json_array_size(ctrl_get(a->body, "spec.taints")), 1);
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(a->body, "spec.taints"), 0), "key"), "x");
	ctrl_plan_clear(&p);
	json_decref(node);
}

TEST(pods_of_an_unready_node_turn_unready_at_once)
{
	json_t *node = tobj(NODE(READY("Unknown", "2026-12-07T05:00:00Z"), UNREACHABLE(T0)));
	json_t *pods[] = {
		tobj(POD("a", "n1", "{\"operator\":\"Exists\"}")),
		tobj(POD("b", "n2", "")),
	};
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *a;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, pods, 2, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, "pods"), 1);
	a = tfind(&p, CTRL_UPDATE_STATUS, "pods");
	CHECK_STR_EQ(a->name, "a");
	CHECK(!ctrl_pod_ready(a->body, NULL));
	CHECK(thas_event(&p, "NodeNotReady"));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, NULL), 0);
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(pods[0]);
	json_decref(pods[1]);
}

TEST(pod_without_a_toleration_is_evicted_at_once)
{
	json_t *node = tobj(NODE(READY("Unknown", "2026-12-07T05:00:00Z"), UNREACHABLE(T0)));
	json_t *pod = tobj(POD("a", "n1", ""));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, &pod, 1, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(ctrl_str(tfind(&p, CTRL_DELETE, "pods")->body, "preconditions.uid"), "a");
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(pod);
}

TEST(pod_is_evicted_when_its_toleration_seconds_have_passed_since_time_added)
{
	json_t *node = tobj(NODE(READY("Unknown", "2026-12-07T05:00:00Z"),
				UNREACHABLE("2026-12-07T05:58:20Z")));
	json_t *pod = tobj(POD("a", "n1", "{\"key\":\"node.kubernetes.io/unreachable\","
			      "\"operator\":\"Exists\",\"effect\":\"NoExecute\","
			      "\"tolerationSeconds\":300}"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, &pod, 1, 50, tat(T0), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 0);
	CHECK_INT_EQ(next, tat("2026-12-07T06:03:20Z"));
	ctrl_plan_clear(&p);
	CHECK_OK(nodelc_compute(node, NULL, &pod, 1, 50, tat("2026-12-07T06:03:20Z"), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 1);
	CHECK(thas_event(&p, "TaintManagerEviction"));
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(pod);
}

TEST(pod_tolerating_forever_stays)
{
	json_t *node = tobj(NODE(READY("Unknown", "2026-12-07T05:00:00Z"), UNREACHABLE(T0)));
	json_t *pod = tobj(POD("a", "n1", "{\"operator\":\"Exists\"}"));
	struct ctrl_plan p = CTRL_PLAN_INIT;
	time_t next;

	CHECK_OK(nodelc_compute(node, NULL, &pod, 1, 50, tat("2027-01-01T00:00:00Z"), &p, &next));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 0);
	CHECK_INT_EQ(next, 0);
	ctrl_plan_clear(&p);
	json_decref(node);
	json_decref(pod);
}

TEST(admission_adds_the_two_default_tolerations_of_300_seconds)
{
	json_t *pod = tobj("{\"spec\":{\"containers\":[]}}");
	json_t *tols;

	CHECK_OK(admission_default_tolerations(pod));
	tols = ctrl_get(pod, "spec.tolerations");
	CHECK_INT_EQ(json_array_size(tols), 2);
	CHECK_STR_EQ(ctrl_str(json_array_get(tols, 0), "key"), "node.kubernetes.io/not-ready");
	CHECK_STR_EQ(ctrl_str(json_array_get(tols, 1), "key"), "node.kubernetes.io/unreachable");
	CHECK_STR_EQ(ctrl_str(json_array_get(tols, 1), "effect"), "NoExecute");
	CHECK_INT_EQ(ctrl_int(json_array_get(tols, 1), "tolerationSeconds", 0), 300);
	json_decref(pod);
}

TEST(admission_keeps_a_pod_that_tolerates_already)
{
	json_t *pod = tobj("{\"spec\":{\"tolerations\":[{\"key\":\"node.kubernetes.io/unreachable\","
			  "\"operator\":\"Exists\",\"tolerationSeconds\":5}]}}");
	json_t *all = tobj("{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}");

	CHECK_OK(admission_default_tolerations(pod));
	CHECK_INT_EQ(json_array_size(ctrl_get(pod, "spec.tolerations")), 2);
	CHECK_INT_EQ(ctrl_int(json_array_get(ctrl_get(pod, "spec.tolerations"), 0),
			      "tolerationSeconds", 0), 5);
	CHECK_OK(admission_default_tolerations(all));
	CHECK_INT_EQ(json_array_size(ctrl_get(all, "spec.tolerations")), 1);
	json_decref(pod);
	json_decref(all);
}
