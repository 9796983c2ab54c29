/* The scheduler's preemption (upstream's DefaultPreemption), one rule per
 * test: nodes and pods built from JSON, the plan of the cycle checked. */
#include <string.h>

#include "control/sched.h"
#include "tests/control/sched_test_env.h"

/* A pod bound to node with a priority (and more metadata, from ","). */
static void bound(struct sched *s, const char *name, const char *cpu, int prio, const char *node,
		  const char *meta)
{
	char spec[128];

	snprintf(spec, sizeof(spec), ",\"nodeName\":\"%s\",\"priority\":%d", node, prio);
	env_pod(s, name, cpu, meta, spec);
}

/* Runs the cycle of a new pending pod; spec: more spec members. */
static void cycle(struct sched *s, const char *name, const char *cpu, const char *meta,
		  const char *spec, struct ctrl_plan *plan, struct sched_result *res)
{
	struct sched_pod *p;

	env_pod(s, name, cpu, meta, spec);
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 0, plan, res));
}

/* The names of the pods the plan deletes, space-separated. */
static const char *deleted(const struct ctrl_plan *plan, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < plan->n && off < size; i++)
		if (plan->v[i].verb == CTRL_DELETE)
			off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? " " : "",
						plan->v[i].name);
	return buf;
}

/* The nominatedNodeName the plan's PodScheduled status patch writes, or
 * NULL. */
static const char *nominated(const struct ctrl_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		json_t *st = json_object_get(plan->v[i].body, "status");
		json_t *cond = json_array_get(json_object_get(st, "conditions"), 0);
		const char *type = json_string_value(json_object_get(cond, "type"));

		if (plan->v[i].verb == CTRL_PATCH && type && strcmp(type, "PodScheduled") == 0)
			return json_string_value(json_object_get(st, "nominatedNodeName"));
	}
	return NULL;
}

static const struct ctrl_action *event(const struct ctrl_plan *plan, const char *reason)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].verb == CTRL_EVENT && strcmp(plan->v[i].reason, reason) == 0)
			return &plan->v[i];
	return NULL;
}

/* The FailedScheduling message of the plan, or "". */
static const char *failed_message(const struct ctrl_plan *plan)
{
	const struct ctrl_action *ev = event(plan, "FailedScheduling");

	return ev ? ev->message : "";
}

/* The index of the plan's first action of verb about pod name, or -1. */
static int action_of(const struct ctrl_plan *plan, enum ctrl_verb verb, const char *name)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].verb == verb && strcmp(plan->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

TEST(the_fewest_least_important_victims_on_the_best_node)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	const struct ctrl_action *ev;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	env_node(s, "node-2", "2", "8Gi", NULL, NULL);
	bound(s, "low-a", "1", 10, "node-1", NULL);
	bound(s, "low-b", "1", 0, "node-1", NULL);
	bound(s, "mid", "2", 100, "node-2", NULL);
	cycle(s, "urgent", "1", NULL, ",\"priority\":1000", &plan, &res);
	CHECK(res.node == NULL);
	/* node-1 needs one victim, and low-b (0) matters less than low-a (10)
	 * and than node-2's mid (100) */
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "low-b");
	CHECK_STR_EQ(nominated(&plan), "node-1");
	ev = event(&plan, "Preempted");
	CHECK(ev != NULL);
	CHECK_STR_EQ(ev->name, "low-b");
	CHECK_STR_EQ(ev->message, "Preempted by pod uid-urgent on node node-1");
	/* a preemption that helps adds no sentence (upstream's Success) */
	CHECK_STR_EQ(failed_message(&plan), "0/2 nodes are available: 2 Insufficient cpu.");
	ctrl_plan_clear(&plan);
	/* the victim goes: the pod fits where it was nominated */
	CHECK_OK(sched_pod_delete(s, "default", "low-b"));
	sched_queue_move_all(s, 0);
	CHECK(sched_queue_pop(s, 30 * SEC) != NULL);
	sched_free(s);
}

TEST(several_victims_when_one_is_not_enough)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "3", "8Gi", NULL, NULL);
	bound(s, "a", "1", 5, "node-1", NULL);
	bound(s, "b", "1", 1, "node-1", NULL);
	bound(s, "c", "1", 3, "node-1", NULL);
	cycle(s, "big", "2", NULL, ",\"priority\":10", &plan, &res);
	/* a (5) is kept, c (3) and b (1) go, most important first */
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "c b");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(no_victims_of_equal_or_higher_priority)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	bound(s, "same", "2", 50, "node-1", NULL);
	cycle(s, "peer", "1", NULL, ",\"priority\":50", &plan, &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "");
	CHECK(nominated(&plan) == NULL);
	CHECK(event(&plan, "FailedScheduling") != NULL);
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(preemption_policy_never_waits)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	bound(s, "low", "2", 0, "node-1", NULL);
	cycle(s, "polite", "1", NULL, ",\"priority\":1000,\"preemptionPolicy\":\"Never\"", &plan,
	      &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "");
	CHECK(nominated(&plan) == NULL);
	CHECK_STR_EQ(failed_message(&plan), "0/1 nodes are available: 1 Insufficient cpu. "
					     "preemption: not eligible due to preemptionPolicy=Never.");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(nodes_removing_pods_cannot_help_are_no_candidates)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}");
	env_node(s, "node-2", "2", "8Gi", "{\"disk\":\"hdd\"}", "{\"unschedulable\":true}");
	bound(s, "low-1", "2", 0, "node-1", NULL);
	bound(s, "low-2", "2", 0, "node-2", NULL);
	cycle(s, "urgent", "1", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "");
	CHECK(nominated(&plan) == NULL);
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* A budget with no disruption left protects its pods where another node
 * will do; where none will, its pod is preempted all the same. */
TEST(disruption_budgets_are_respected_by_preference)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	json_t *pdb = jfmt("{\"metadata\":{\"namespace\":\"default\",\"name\":\"db\"},"
			   "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"db\"}}},"
			   "\"status\":{\"disruptionsAllowed\":0}}");
	char buf[256];

	CHECK_OK(sched_pdb_upsert(s, pdb));
	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	env_node(s, "node-2", "2", "8Gi", NULL, NULL);
	/* db matters less by priority, but its budget has no disruption left */
	bound(s, "db-0", "2", 0, "node-1", ",\"labels\":{\"app\":\"db\"}");
	bound(s, "web-0", "2", 5, "node-2", ",\"labels\":{\"app\":\"web\"}");
	cycle(s, "urgent", "1", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "web-0");
	CHECK_STR_EQ(nominated(&plan), "node-2");
	ctrl_plan_clear(&plan);
	CHECK_OK(sched_pod_delete(s, "default", "urgent"));
	CHECK_OK(sched_node_delete(s, "node-2"));
	cycle(s, "urgent-2", "1", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "db-0");
	ctrl_plan_clear(&plan);
	json_decref(pdb);
	sched_free(s);
}

/* Nominated to a node where its victims are still terminating, a pod
 * waits for them instead of preempting more. */
TEST(a_nominated_pod_waits_for_its_terminating_victims)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	json_t *pod = env_pod_json("urgent", "1", "",
				   ",\"priority\":1000},\"status\":{\"nominatedNodeName\":\"node-1\"");
	struct sched_pod *p;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	bound(s, "going", "1", 0, "node-1", ",\"deletionTimestamp\":\"2026-01-01T00:01:00Z\"");
	bound(s, "low", "1", 0, "node-1", NULL);
	CHECK_OK(sched_pod_upsert(s, pod, 0));
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_STR_EQ(p->nominated, "node-1");
	CHECK_OK(sched_cycle(s, p, 0, &plan, &res));
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "");
	ctrl_plan_clear(&plan);
	json_decref(pod);
	sched_free(s);
}

/* The room a preemption made is the preemptor's: a pod of no higher
 * priority that comes first does not take it (upstream's nominator). */
TEST(the_room_made_is_kept_for_the_nominated_pod)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	struct sched_pod *p;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	bound(s, "low", "2", 0, "node-1", NULL);
	cycle(s, "urgent", "2", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "low");
	ctrl_plan_clear(&plan);
	CHECK_OK(sched_pod_delete(s, "default", "low"));
	/* an equal pod finds the node full with urgent's nomination */
	cycle(s, "peer", "1", NULL, ",\"priority\":1000,\"preemptionPolicy\":\"Never\"", &plan, &res);
	CHECK(res.node == NULL);
	ctrl_plan_clear(&plan);
	/* urgent itself fits there */
	sched_queue_move_all(s, 0);
	p = sched_queue_pop(s, 60 * SEC);
	CHECK(p != NULL);
	if (p && strcmp(p->name, "urgent") != 0)
		p = sched_queue_pop(s, 60 * SEC);
	CHECK(p != NULL && strcmp(p->name, "urgent") == 0);
	CHECK_OK(sched_cycle(s, p, 60 * SEC, &plan, &res));
	CHECK(res.node != NULL && strcmp(res.node->name, "node-1") == 0);
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* upstream's PreemptPod: the victim is marked DisruptionTarget (reason
 * PreemptionByScheduler) before its delete; a victim already terminating
 * gets neither. */
TEST(victims_get_the_disruption_target_condition_before_their_delete)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	json_t *cond;
	int patch, del;
	char buf[256];

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	bound(s, "going", "1", 0, "node-1", ",\"deletionTimestamp\":\"2026-01-01T00:01:00Z\"");
	bound(s, "low", "1", 1, "node-1", NULL);
	cycle(s, "urgent", "2", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(nominated(&plan), "node-1");
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "low");
	patch = action_of(&plan, CTRL_PATCH, "low");
	del = action_of(&plan, CTRL_DELETE, "low");
	CHECK(patch >= 0 && patch < del);
	CHECK_STR_EQ(plan.v[patch].subresource, "status");
	cond = json_array_get(json_object_get(json_object_get(plan.v[patch].body, "status"),
					      "conditions"), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(cond, "type")), "DisruptionTarget");
	CHECK_STR_EQ(json_string_value(json_object_get(cond, "status")), "True");
	CHECK_STR_EQ(json_string_value(json_object_get(cond, "reason")), "PreemptionByScheduler");
	CHECK_STR_EQ(json_string_value(json_object_get(cond, "message")),
		     "default-scheduler: preempting to accommodate a higher priority pod");
	CHECK(action_of(&plan, CTRL_PATCH, "going") < 0);
	CHECK(action_of(&plan, CTRL_EVENT, "going") < 0);
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* Upstream's PostFilter sentence, word for word: per node, why removing
 * pods cannot help. */
TEST(the_message_says_why_preemption_cannot_help)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;

	env_node(s, "node-1", "2", "8Gi", NULL,
		 "{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}");
	env_node(s, "node-2", "2", "8Gi", NULL, NULL);
	env_node(s, "node-3", "1", "8Gi", NULL, NULL);
	bound(s, "high", "2", 5000, "node-2", NULL);
	bound(s, "low", "1", 0, "node-3", NULL);
	cycle(s, "urgent", "2", NULL, ",\"priority\":1000", &plan, &res);
	CHECK(nominated(&plan) == NULL);
	CHECK_STR_EQ(failed_message(&plan),
		     "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
		     "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Insufficient cpu, "
		     "1 No preemption victims found for incoming pod, "
		     "1 Preemption is not helpful for scheduling.");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(the_message_when_no_pod_has_lower_priority)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;

	for (int i = 0; i < 3; i++) {
		char node[16], pod[16];

		snprintf(node, sizeof(node), "node-%d", i);
		snprintf(pod, sizeof(pod), "same-%d", i);
		env_node(s, node, "1", "8Gi", NULL, NULL);
		bound(s, pod, "1", 100, node, NULL);
	}
	cycle(s, "peer", "1", NULL, ",\"priority\":100", &plan, &res);
	CHECK_STR_EQ(failed_message(&plan),
		     "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
		     "available: 3 No preemption victims found for incoming pod.");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

#define ANTI(app)                                                                               \
	",\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":" \
	"[{\"labelSelector\":{\"matchLabels\":{\"app\":\"" app "\"}},"                            \
	"\"topologyKey\":\"kubernetes.io/hostname\"}]}}"

/* The filters run with the victims off the node: a low pod the incoming
 * pod's anti-affinity refuses is a victim like one taking its cpu. */
TEST(victims_make_room_for_pod_anti_affinity)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "4", "8Gi", NULL, NULL);
	env_node(s, "node-2", "4", "8Gi", NULL, NULL);
	bound(s, "low-db", "1", 0, "node-1", ",\"labels\":{\"app\":\"db\"}");
	bound(s, "low-web", "1", 0, "node-1", ",\"labels\":{\"app\":\"web\"}");
	bound(s, "high-db", "1", 5000, "node-2", ",\"labels\":{\"app\":\"db\"}");
	cycle(s, "urgent", "1", NULL, ",\"priority\":1000" ANTI("db"), &plan, &res);
	CHECK(res.node == NULL);
	/* low-web does not stand in the way: it is reprieved */
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "low-db");
	CHECK_STR_EQ(nominated(&plan), "node-1");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* And a low pod whose own anti-affinity refuses the incoming pod. */
TEST(victims_make_room_for_existing_pods_anti_affinity)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "4", "8Gi", NULL, NULL);
	env_pod(s, "loner", "1", ",\"labels\":{\"app\":\"loner\"}",
		",\"nodeName\":\"node-1\",\"priority\":0" ANTI("web"));
	cycle(s, "urgent", "1", ",\"labels\":{\"app\":\"web\"}", ",\"priority\":1000", &plan, &res);
	CHECK(res.node == NULL);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "loner");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* And the spread counts: node-3 (cordoned, empty) holds the minimum at 0,
 * so a pod fits only where no matching pod is left. */
TEST(victims_make_room_for_topology_spread)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	char buf[256];

	env_node(s, "node-1", "4", "8Gi", NULL, NULL);
	env_node(s, "node-2", "4", "8Gi", NULL, NULL);
	env_node(s, "node-3", "4", "8Gi", NULL, "{\"unschedulable\":true}");
	bound(s, "low", "1", 0, "node-1", ",\"labels\":{\"app\":\"s\"}");
	bound(s, "high", "1", 5000, "node-2", ",\"labels\":{\"app\":\"s\"}");
	cycle(s, "urgent", "1", ",\"labels\":{\"app\":\"s\"}",
	      ",\"priority\":1000,\"topologySpreadConstraints\":[{\"maxSkew\":1,"
	      "\"topologyKey\":\"kubernetes.io/hostname\",\"whenUnsatisfiable\":\"DoNotSchedule\","
	      "\"labelSelector\":{\"matchLabels\":{\"app\":\"s\"}}}]",
	      &plan, &res);
	CHECK(res.node == NULL);
	CHECK_STR_EQ(deleted(&plan, buf, sizeof(buf)), "low");
	CHECK_STR_EQ(nominated(&plan), "node-1");
	ctrl_plan_clear(&plan);
	sched_free(s);
}

/* upstream: a nominated pod that preemption can no longer help loses its
 * nomination (null in its status patch); the pods of lower priority
 * nominated where a preemption makes room lose theirs. */
TEST(nominations_cleared_where_they_no_longer_hold)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_result res;
	json_t *mid = env_pod_json("mid", "1", "",
				   ",\"priority\":10},\"status\":{\"nominatedNodeName\":\"node-1\"");
	struct sched_pod *p;
	json_t *st;
	int i;

	env_node(s, "node-1", "2", "8Gi", NULL, NULL);
	env_node(s, "node-2", "2", "8Gi", NULL, NULL);
	bound(s, "low", "2", 0, "node-1", NULL);
	bound(s, "boss", "2", 5000, "node-2", NULL);
	CHECK_OK(sched_pod_upsert(s, mid, 0));
	CHECK(sched_queue_pop(s, 0) != NULL); /* mid waits, nominated on node-1 */
	cycle(s, "urgent", "2", NULL, ",\"priority\":1000", &plan, &res);
	CHECK_STR_EQ(nominated(&plan), "node-1");
	i = action_of(&plan, CTRL_PATCH, "mid");
	CHECK(i >= 0);
	st = json_object_get(plan.v[i].body, "status");
	CHECK(json_is_null(json_object_get(st, "nominatedNodeName")));
	CHECK(sched_pod_find(s, "default", "mid")->nominated == NULL);
	ctrl_plan_clear(&plan);
	/* boss fills node-2 and urgent holds node-1: nothing helps mid now */
	CHECK_OK(sched_pod_upsert(s, mid, 0));
	CHECK(sched_pod_find(s, "default", "mid")->nominated != NULL);
	p = sched_queue_pop(s, 60 * SEC);
	CHECK(p != NULL && strcmp(p->name, "mid") == 0);
	CHECK_OK(sched_cycle(s, p, 60 * SEC, &plan, &res));
	i = action_of(&plan, CTRL_PATCH, "mid");
	CHECK(i >= 0);
	st = json_object_get(plan.v[i].body, "status");
	CHECK(json_is_null(json_object_get(st, "nominatedNodeName")));
	CHECK_STR_CONTAINS(failed_message(&plan), "preemption: 0/2 nodes are available: ");
	CHECK(sched_pod_find(s, "default", "mid")->nominated == NULL);
	ctrl_plan_clear(&plan);
	json_decref(mid);
	sched_free(s);
}
