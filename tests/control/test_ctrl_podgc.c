/* Pod GC's compute step: terminated pods over the threshold (evicted and
 * oldest first), pods of gone or out-of-service nodes, and unscheduled
 * terminating pods are deleted; a node not yet past quarantine is not. */
#include "control/ctrl_podgc.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define T0 "2026-12-07T06:00:00Z"
#define POD(name, created, node, phase, extra)                                            \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" name "\"," \
	"\"creationTimestamp\":\"" created "\"" extra "},\"spec\":{\"nodeName\":\"" node     \
	"\"},\"status\":{\"phase\":\"" phase "\"}}"
#define LEAVING ",\"deletionTimestamp\":\"" T0 "\""

static void free_all(json_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
}

static bool deletes(const struct ctrl_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == CTRL_DELETE && strcmp(p->v[i].name, name) == 0)
			return true;
	return false;
}

TEST(terminated_pods_over_the_threshold_go_evicted_then_oldest_first)
{
	json_t *pods[] = {
		tobj(POD("new", "2026-12-07T05:03:00Z", "n1", "Succeeded", "")),
		tobj(POD("old", "2026-12-07T05:01:00Z", "n1", "Failed", "")),
		tobj(POD("mid", "2026-12-07T05:02:00Z", "n1", "Succeeded", "")),
		tobj("{\"metadata\":{\"name\":\"ev\",\"creationTimestamp\":\"2026-12-07T05:09:00Z\"},"
		     "\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\"}}"),
		tobj(POD("run", "2026-12-07T04:00:00Z", "n1", "Running", "")),
	};
	json_t *nodes[] = { tobj("{\"metadata\":{\"name\":\"n1\"}}") };
	struct podgc_input in = { pods, 5, nodes, 1, NULL, 0, 2 };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 2);
	CHECK(deletes(&p, "ev") && deletes(&p, "old"));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 0);
	CHECK_INT_EQ(ctrl_int(p.v[0].body, "gracePeriodSeconds", -1), 0);
	ctrl_plan_clear(&p);
	in.threshold = 0;
	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(p.n, 0);
	free_all(pods, 5);
	free_all(nodes, 1);
}

TEST(pods_of_a_gone_node_are_failed_then_force_deleted)
{
	json_t *pods[] = { tobj(POD("a", T0, "gone", "Running", "")),
			   tobj(POD("b", T0, "n1", "Running", "")) };
	json_t *nodes[] = { tobj("{\"metadata\":{\"name\":\"n1\"}}") };
	const char *gone[] = { "gone" };
	struct podgc_input in = { pods, 2, nodes, 1, gone, 1, PODGC_THRESHOLD_DEFAULT };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	json_t *cond;

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(p.n, 2);
	CHECK_INT_EQ(p.v[0].verb, CTRL_UPDATE_STATUS);
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "status.phase"), "Failed");
	cond = ctrl_condition(p.v[0].body, "DisruptionTarget");
	CHECK_STR_EQ(ctrl_str(cond, "reason"), "DeletionByPodGC");
	CHECK_STR_EQ(ctrl_str(cond, "message"), "PodGC: node no longer exists");
	CHECK(deletes(&p, "a") && !deletes(&p, "b"));
	CHECK_INT_EQ(ctrl_int(p.v[1].body, "gracePeriodSeconds", -1), 0);
	ctrl_plan_clear(&p);
	free_all(pods, 2);
	free_all(nodes, 1);
}

TEST(absent_node_still_in_quarantine_keeps_its_pods)
{
	json_t *pods[] = { tobj(POD("a", T0, "lagging", "Running", "")),
			   tobj(POD("b", T0, "lagging", "Running", "")),
			   tobj(POD("c", T0, "", "Pending", "")) };
	struct podgc_input in = { pods, 3, NULL, 0, NULL, 0, PODGC_THRESHOLD_DEFAULT };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	json_t *absent = podgc_absent_nodes(pods, 3, NULL, 0);

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(p.n, 0);
	CHECK_INT_EQ(json_array_size(absent), 1);
	CHECK_STR_EQ(json_string_value(json_array_get(absent, 0)), "lagging");
	json_decref(absent);
	free_all(pods, 3);
}

TEST(node_back_before_the_quarantine_ended_keeps_its_pods)
{
	json_t *pods[] = { tobj(POD("a", T0, "n1", "Running", "")) };
	json_t *nodes[] = { tobj("{\"metadata\":{\"name\":\"n1\"}}") };
	const char *gone[] = { "n1" };
	struct podgc_input in = { pods, 1, nodes, 1, gone, 1, PODGC_THRESHOLD_DEFAULT };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(p.n, 0);
	free_all(pods, 1);
	free_all(nodes, 1);
}

TEST(terminating_pod_on_an_out_of_service_node_is_force_deleted)
{
	json_t *pods[] = { tobj(POD("a", T0, "n1", "Running", LEAVING)),
			   tobj(POD("b", T0, "n1", "Running", "")) };
	json_t *nodes[] = { tobj("{\"metadata\":{\"name\":\"n1\"},\"spec\":{\"taints\":[{\"key\":"
				 "\"node.kubernetes.io/out-of-service\",\"effect\":\"NoExecute\"}]},"
				 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
				 "\"False\"}]}}") };
	struct podgc_input in = { pods, 2, nodes, 1, NULL, 0, PODGC_THRESHOLD_DEFAULT };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK(deletes(&p, "a") && !deletes(&p, "b"));
	CHECK(ctrl_condition(tfind(&p, CTRL_UPDATE_STATUS, "pods")->body, "DisruptionTarget") == NULL);
	ctrl_plan_clear(&p);
	free_all(pods, 2);
	free_all(nodes, 1);
}

TEST(unscheduled_terminating_pod_is_force_deleted_once)
{
	json_t *pods[] = { tobj(POD("a", T0, "", "Failed", LEAVING)) };
	struct podgc_input in = { pods, 1, NULL, 0, NULL, 0, 0 };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(podgc_compute(&in, tat(T0), &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK(deletes(&p, "a"));
	ctrl_plan_clear(&p);
	free_all(pods, 1);
}
