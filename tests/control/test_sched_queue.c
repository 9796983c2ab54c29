/* The scheduling queue on a simulated clock: priority order, exponential
 * backoff, unschedulable pods retried on cluster events. */
#include "control/sched.h"
#include "tests/control/sched_test_env.h"

static void queue_pod(struct sched *s, const char *name, int priority, const char *created)
{
	json_t *p = jfmt("{\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\","
			 "\"creationTimestamp\":\"%s\"},\"spec\":{\"priority\":%d,"
			 "\"containers\":[{\"name\":\"c\"}]}}", name, created, priority);

	CHECK_OK(sched_pod_upsert(s, p, 0));
	json_decref(p);
}

static const char *pop(struct sched *s, unsigned long long now)
{
	struct sched_pod *p = sched_queue_pop(s, now);

	return p ? p->name : "(none)";
}

TEST(queue_orders_by_priority_then_creation)
{
	struct sched *s = env_new();

	queue_pod(s, "low-old", 0, "2026-01-01T00:00:00Z");
	queue_pod(s, "high-new", 1000, "2026-01-01T00:00:09Z");
	queue_pod(s, "low-new", 0, "2026-01-01T00:00:05Z");
	queue_pod(s, "high-old", 1000, "2026-01-01T00:00:01Z");
	CHECK_STR_EQ(pop(s, 0), "high-old");
	CHECK_STR_EQ(pop(s, 0), "high-new");
	CHECK_STR_EQ(pop(s, 0), "low-old");
	CHECK_STR_EQ(pop(s, 0), "low-new");
	CHECK_STR_EQ(pop(s, 0), "(none)");
	sched_free(s);
}

TEST(queue_backoff_doubles_from_1s_to_10s)
{
	struct sched *s = env_new();
	static const unsigned long long want[] = { 1, 2, 4, 8, 10, 10 };
	unsigned long long now = 0;

	queue_pod(s, "p", 0, "2026-01-01T00:00:00Z");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct sched_pod *p = sched_queue_pop(s, now);

		CHECK(p != NULL);
		sched_queue_backoff(s, p, now); /* e.g. its binding failed */
		CHECK_INT_EQ(sched_queue_next_ready(s, now), now + want[i] * SEC);
		CHECK_STR_EQ(pop(s, now + want[i] * SEC - 1), "(none)");
		now += want[i] * SEC;
		queue_pod(s, "p", 0, "2026-01-01T00:00:00Z"); /* an update keeps the backoff */
	}
	CHECK_STR_EQ(pop(s, now), "p");
	sched_free(s);
}

/* A 2-cpu pod tried at time 0 on one 1-cpu node: parked unschedulable. */
static void park_big(struct sched *s)
{
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_pod *p;

	env_node(s, "small", "1", "1Gi", NULL, NULL);
	env_pod(s, "big", "2", "", "");
	p = sched_queue_pop(s, 0);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 0, &plan, NULL));
	CHECK_INT_EQ(ctrl_plan_count(&plan, CTRL_EVENT, "pods"), 1);
	ctrl_plan_clear(&plan);
}

TEST(queue_unschedulable_pods_wait_for_a_cluster_event)
{
	struct sched *s = env_new();
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	struct sched_pod *p;
	size_t a, b, u;

	park_big(s);
	sched_queue_counts(s, &a, &b, &u);
	CHECK_INT_EQ(u, 1);
	/* without an event it stays parked, even after its backoff */
	CHECK_STR_EQ(pop(s, 60 * SEC), "(none)");
	/* a node changes: it moves back and fits */
	env_node(s, "small", "4", "1Gi", NULL, NULL);
	sched_queue_move_all(s, 60 * SEC);
	p = sched_queue_pop(s, 60 * SEC);
	CHECK(p != NULL);
	CHECK_OK(sched_cycle(s, p, 60 * SEC, &plan, NULL));
	CHECK_INT_EQ(ctrl_plan_count(&plan, CTRL_CREATE, "pods"), 1);
	ctrl_plan_clear(&plan);
	sched_free(s);
}

TEST(queue_event_during_backoff_waits_for_the_backoff)
{
	struct sched *s = env_new();
	park_big(s);
	sched_queue_move_all(s, SEC / 2);
	CHECK_STR_EQ(pop(s, SEC / 2), "(none)");
	CHECK_STR_EQ(pop(s, SEC), "big");
	sched_free(s);
}

TEST(queue_unschedulable_pods_flushed_after_five_minutes)
{
	struct sched *s = env_new();
	park_big(s);
	CHECK_INT_EQ(sched_queue_next_ready(s, 0), 300 * SEC);
	CHECK_STR_EQ(pop(s, 300 * SEC - 1), "(none)");
	CHECK_STR_EQ(pop(s, 300 * SEC), "big");
	sched_free(s);
}

TEST(queue_skips_bound_gated_and_foreign_pods)
{
	struct sched *s = env_new();

	env_pod(s, "bound", NULL, "", ",\"nodeName\":\"n1\"");
	env_pod(s, "gated", NULL, "", ",\"schedulingGates\":[{\"name\":\"wait\"}]");
	env_pod(s, "other", NULL, "", ",\"schedulerName\":\"volcano\"");
	env_pod(s, "dying", NULL, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", "");
	env_pod(s, "mine", NULL, "", ",\"schedulerName\":\"default-scheduler\"");
	CHECK_STR_EQ(pop(s, 0), "mine");
	CHECK_STR_EQ(pop(s, 0), "(none)");
	/* the gate lifted: an update queues it */
	env_pod(s, "gated", NULL, "", "");
	CHECK_STR_EQ(pop(s, 0), "gated");
	CHECK_OK(sched_pod_delete(s, "default", "mine"));
	CHECK(sched_pod_find(s, "default", "mine") == NULL);
	sched_free(s);
}

TEST(queue_status_update_leaves_a_parked_pod_parked)
{
	struct sched *s = env_new();
	json_t *p;
	size_t a, b, u;

	park_big(s);
	/* the FailedScheduling condition comes back through the informer */
	p = env_pod_json("big", "2", "", "");
	json_object_set_new(p, "status", jfmt("{\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\"}]}"));
	CHECK_OK(sched_pod_upsert(s, p, 2 * SEC));
	json_decref(p);
	sched_queue_counts(s, &a, &b, &u);
	CHECK_INT_EQ(u, 1);
	CHECK_STR_EQ(pop(s, 60 * SEC), "(none)");
	/* a change of its spec may help: it is retried */
	env_pod(s, "big", "500m", "", "");
	CHECK_STR_EQ(pop(s, 60 * SEC), "big");
	sched_free(s);
}
