/* The Deployment controller's compute step (control/ctrl_deployment.c):
 * one behaviour of upstream's deployment controller per test. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/ctrl.h"
#include "tests/control/ctrl_test.h"

#define NOW 1796623200 /* 2026-12-07T06:00:00Z */

#define TEMPLATE(extra_label, image)                                                       \
	"{\"metadata\":{\"labels\":{\"app\":\"web\"" extra_label "}},"                     \
	"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"" image "\"}]}}"

/* A Deployment of app=web running image (strategy JSON may be empty). */
static json_t *dep(int replicas, const char *image, const char *strategy)
{
	return obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"dep-uid\","
		   "\"generation\":1},"
		   "\"spec\":{\"replicas\":%d,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		   "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"%s\"}]}}%s%s},"
		   "\"status\":{\"observedGeneration\":1}}",
		   replicas, image, *strategy ? "," : "", strategy);
}

/* A ReplicaSet of the Deployment: spec replicas, status counts (all pods
 * ready and available), revision, created at minute min. */
static json_t *rs(const char *name, const char *image, int replicas, int avail, int rev, int min)
{
	return obj("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\","
		   "\"generation\":1,\"creationTimestamp\":\"2026-12-07T05:%02d:00Z\","
		   "\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"%s\"},"
		   "\"annotations\":{\"deployment.kubernetes.io/revision\":\"%d\"},"
		   "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
		   "\"name\":\"web\",\"uid\":\"dep-uid\",\"controller\":true}]},"
		   "\"spec\":{\"replicas\":%d,\"selector\":{\"matchLabels\":{\"app\":\"web\","
		   "\"pod-template-hash\":\"%s\"}},"
		   "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"%s\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"%s\"}]}}},"
		   "\"status\":{\"replicas\":%d,\"readyReplicas\":%d,\"availableReplicas\":%d,"
		   "\"observedGeneration\":1}}",
		   name, name, min, name, rev, replicas, name, name, image, avail, avail, avail);
}

static void set_ann(json_t *o, const char *k, const char *v)
{
	json_t *m = json_object_get(o, "metadata");

	if (!json_object_get(m, "annotations"))
		json_object_set_new(m, "annotations", json_object());
	json_object_set_new(json_object_get(m, "annotations"), k, json_string(v));
}

static const char *ann(json_t *o, const char *k)
{
	return json_string_value(json_object_get(ctrl_get(o, "metadata.annotations"), k));
}

struct run {
	struct ctrl_plan p;
	struct dep_result res;
};

static void run(struct run *r, json_t *d, json_t **rss, size_t n, long long old_pods)
{
	struct dep_input in = { .dep = d, .rss = rss, .n_rss = n, .now = NOW, .old_pods = old_pods };

	ctrl_plan_clear(&r->p);
	CHECK_OK(dep_compute(&in, &r->p, &r->res));
}

static struct ctrl_action *find(struct ctrl_plan *p, enum ctrl_verb verb, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == verb && (!name || !strcmp(p->v[i].name, name)))
			return &p->v[i];
	test_fail(__FILE__, __LINE__, "no action %d on %s in the plan", verb, name ? name : "-");
}

static bool has_event(struct ctrl_plan *p, const char *message)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == CTRL_EVENT && !strcmp(p->v[i].message, message))
			return true;
	return false;
}

static json_t *cond(json_t *d, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(ctrl_get(d, "status.conditions"), i, c)
		if (!strcmp(ctrl_str(c, "type"), type))
			return c;
	return NULL;
}

static long long replicas_of(struct ctrl_plan *p, const char *name)
{
	return ctrl_int(find(p, CTRL_UPDATE, name)->body, "spec.replicas", -1);
}

TEST(template_hash_is_stable_safe_encoded_and_moved_by_collisions)
{
	json_t *t = obj(TEMPLATE("", "nginx:1")), *t2 = obj(TEMPLATE("", "nginx:2"));
	char a[16], b[16], c[16], d[16];
	long long one = 1;

	ctrl_template_hash(t, -1, a);
	ctrl_template_hash(t, -1, b);
	ctrl_template_hash(t2, -1, c);
	ctrl_template_hash(t, one, d);
	CHECK_STR_EQ(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK(strcmp(a, d) != 0);
	CHECK(strlen(a) >= 1 && strlen(a) <= 10);
	CHECK_INT_EQ(strspn(a, "456789bcdf"), strlen(a)); /* decimal digits, safe-encoded */
}

TEST(new_deployment_creates_its_replica_set_with_hash_and_revision)
{
	struct run r = { 0 };
	json_t *d = dep(3, "nginx:1", ""), *body;
	char hash[16], name[32], msg[80];

	run(&r, d, NULL, 0, 0);
	ctrl_template_hash(ctrl_get(d, "spec.template"), -1, hash);
	snprintf(name, sizeof(name), "web-%s", hash);
	body = find(&r.p, CTRL_CREATE, name)->body;
	CHECK_INT_EQ(ctrl_int(body, "spec.replicas", -1), 3);
	CHECK_STR_EQ(ctrl_str(body, "metadata.labels.pod-template-hash"), hash);
	CHECK_STR_EQ(ctrl_str(body, "spec.selector.matchLabels.pod-template-hash"), hash);
	CHECK_STR_EQ(ctrl_str(body, "spec.template.metadata.labels.pod-template-hash"), hash);
	CHECK_STR_EQ(ann(body, "deployment.kubernetes.io/revision"), "1");
	CHECK_STR_EQ(ann(body, "deployment.kubernetes.io/desired-replicas"), "3");
	CHECK_STR_EQ(ann(body, "deployment.kubernetes.io/max-replicas"), "4");
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(body, "metadata.ownerReferences"), 0), "uid"),
		     "dep-uid");
	snprintf(msg, sizeof(msg), "Scaled up replica set %s to 3", name);
	CHECK(has_event(&r.p, msg));
	CHECK_STR_EQ(ann(find(&r.p, CTRL_PATCH, "web")->body, "deployment.kubernetes.io/revision"), "1");
	body = find(&r.p, CTRL_UPDATE_STATUS, "web")->body;
	CHECK_STR_EQ(ctrl_str(cond(body, "Progressing"), "reason"), "NewReplicaSetCreated");
	CHECK_STR_EQ(ctrl_str(cond(body, "Available"), "reason"), "MinimumReplicasUnavailable");
	ctrl_plan_clear(&r.p);
}

TEST(change_cause_is_copied_to_the_new_replica_set)
{
	struct run r = { 0 };
	json_t *d = dep(1, "nginx:1", "");

	set_ann(d, "kubernetes.io/change-cause", "kubectl set image");
	set_ann(d, "kubectl.kubernetes.io/last-applied-configuration", "{}");
	run(&r, d, NULL, 0, 0);
	CHECK_STR_EQ(ann(find(&r.p, CTRL_CREATE, NULL)->body, "kubernetes.io/change-cause"),
		     "kubectl set image");
	CHECK(!ann(find(&r.p, CTRL_CREATE, NULL)->body,
		   "kubectl.kubernetes.io/last-applied-configuration"));
	ctrl_plan_clear(&r.p);
}

TEST(rolling_update_surges_one_and_scales_the_old_down_one)
{
	struct run r = { 0 };
	json_t *d = dep(4, "nginx:2", ""), *rss[] = { rs("web-old", "nginx:1", 4, 4, 1, 0) };
	struct ctrl_action *cr;

	run(&r, d, rss, 1, 0);
	cr = find(&r.p, CTRL_CREATE, NULL);
	CHECK_INT_EQ(ctrl_int(cr->body, "spec.replicas", -1), 1); /* 25% of 4 */
	CHECK_STR_EQ(ann(cr->body, "deployment.kubernetes.io/revision"), "2");
	CHECK_INT_EQ(replicas_of(&r.p, "web-old"), 3);
	CHECK(has_event(&r.p, "Scaled down replica set web-old to 3 from 4"));
	ctrl_plan_clear(&r.p);
}

TEST(both_fenceposts_rounding_to_zero_allow_one_unavailable)
{
	struct run r = { 0 };
	json_t *d = dep(3, "nginx:2", "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
				       "{\"maxSurge\":0,\"maxUnavailable\":\"10%\"}}");
	json_t *rss[] = { rs("web-old", "nginx:1", 3, 3, 1, 0) };

	run(&r, d, rss, 1, 0);
	CHECK_INT_EQ(ctrl_int(find(&r.p, CTRL_CREATE, NULL)->body, "spec.replicas", -1), 0);
	CHECK_INT_EQ(replicas_of(&r.p, "web-old"), 2);
	ctrl_plan_clear(&r.p);
}

TEST(int_or_percent_rounds_surge_up_and_unavailable_down)
{
	json_t *v = json_string("25%");
	long long out;

	CHECK_OK(ctrl_intstr_scaled(v, 10, true, 0, &out));
	CHECK_INT_EQ(out, 3);
	CHECK_OK(ctrl_intstr_scaled(v, 10, false, 0, &out));
	CHECK_INT_EQ(out, 2);
	json_decref(v);
	v = json_string("x%");
	CHECK_INT_EQ(ctrl_intstr_scaled(v, 10, true, 0, &out), -EINVAL);
}

/* A rollout of 4 (surge 1, none unavailable) whose 2 new pods never turn
 * ready; the Deployment last progressed at last_update. */
static json_t *stuck_rollout(json_t *rss[2], const char *last_update)
{
	json_t *d = dep(4, "nginx:2", "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
				       "{\"maxSurge\":1,\"maxUnavailable\":0}}");

	rss[0] = rs("web-old", "nginx:1", 3, 3, 1, 0);
	rss[1] = rs("web-new", "nginx:2", 2, 0, 2, 1);
	json_object_set_new(d, "status", obj("{\"observedGeneration\":1,\"replicas\":5,"
		"\"updatedReplicas\":2,\"readyReplicas\":3,\"availableReplicas\":3,"
		"\"conditions\":[{\"type\":\"Progressing\",\"status\":\"True\","
		"\"reason\":\"ReplicaSetUpdated\",\"lastUpdateTime\":\"%s\","
		"\"lastTransitionTime\":\"2026-12-07T05:48:00Z\"}]}", last_update));
	return d;
}

TEST(pods_that_never_turn_ready_stop_the_rollout_at_max_unavailable)
{
	struct run r = { 0 };
	json_t *rss[2], *d = stuck_rollout(rss, "2026-12-07T05:59:00Z");

	run(&r, d, rss, 2, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_UPDATE, NULL), 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&r.p);
}

TEST(no_progress_past_the_deadline_reports_progress_deadline_exceeded)
{
	struct run r = { 0 };
	json_t *rss[2], *d = stuck_rollout(rss, "2026-12-07T05:48:00Z"), *c;

	run(&r, d, rss, 2, 0);
	c = cond(find(&r.p, CTRL_UPDATE_STATUS, "web")->body, "Progressing");
	CHECK_STR_EQ(ctrl_str(c, "status"), "False");
	CHECK_STR_EQ(ctrl_str(c, "reason"), "ProgressDeadlineExceeded");
	CHECK_STR_EQ(ctrl_str(c, "message"), "ReplicaSet \"web-new\" has timed out progressing.");
	ctrl_plan_clear(&r.p);
}

TEST(progress_within_the_deadline_requeues_at_the_deadline)
{
	struct run r = { 0 };
	json_t *rss[2], *d = stuck_rollout(rss, "2026-12-07T05:58:00Z");

	run(&r, d, rss, 2, 0);
	CHECK_INT_EQ(r.res.requeue_after, 480);
	ctrl_plan_clear(&r.p);
}

TEST(completed_rollout_is_available_and_new_replica_set_available)
{
	struct run r = { 0 };
	json_t *d = dep(3, "nginx:2", ""), *rss[] = { rs("web-new", "nginx:2", 3, 3, 1, 1) }, *st;

	set_ann(d, "deployment.kubernetes.io/revision", "1");
	set_ann(rss[0], "deployment.kubernetes.io/desired-replicas", "3");
	run(&r, d, rss, 1, 0);
	st = find(&r.p, CTRL_UPDATE_STATUS, "web")->body;
	CHECK_STR_EQ(ctrl_str(cond(st, "Progressing"), "reason"), "NewReplicaSetAvailable");
	CHECK_STR_EQ(ctrl_str(cond(st, "Progressing"), "message"),
		     "ReplicaSet \"web-new\" has successfully progressed.");
	CHECK_STR_EQ(ctrl_str(cond(st, "Available"), "status"), "True");
	CHECK_STR_EQ(ctrl_str(cond(st, "Available"), "message"), "Deployment has minimum availability.");
	CHECK_INT_EQ(ctrl_int(st, "status.updatedReplicas", -1), 3);
	CHECK_INT_EQ(ctrl_int(st, "status.unavailableReplicas", -1), 0);
	ctrl_plan_clear(&r.p);
}

TEST(recreate_scales_old_to_zero_waits_for_pods_then_creates)
{
	struct run r = { 0 };
	json_t *d = dep(3, "nginx:2", "\"strategy\":{\"type\":\"Recreate\"}");
	json_t *rss[] = { rs("web-old", "nginx:1", 3, 3, 1, 0) };

	run(&r, d, rss, 1, 0);
	CHECK_INT_EQ(replicas_of(&r.p, "web-old"), 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	/* scaled to 0, two pods still terminating */
	json_decref(rss[0]);
	rss[0] = rs("web-old", "nginx:1", 0, 0, 1, 0);
	run(&r, d, rss, 1, 2);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	run(&r, d, rss, 1, 0);
	CHECK_INT_EQ(ctrl_int(find(&r.p, CTRL_CREATE, NULL)->body, "spec.replicas", -1), 3);
	ctrl_plan_clear(&r.p);
}

TEST(paused_deployment_makes_no_rollout_progress)
{
	struct run r = { 0 };
	json_t *d = dep(3, "nginx:2", "\"paused\":true"), *rss[] = { rs("web-old", "nginx:1", 3, 3, 1, 0) };

	set_ann(rss[0], "deployment.kubernetes.io/desired-replicas", "3");
	run(&r, d, rss, 1, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_UPDATE, NULL), 0);
	CHECK_STR_EQ(ctrl_str(cond(find(&r.p, CTRL_UPDATE_STATUS, "web")->body, "Progressing"), "reason"),
		     "DeploymentPaused");
	ctrl_plan_clear(&r.p);
}

TEST(scaling_mid_rollout_is_proportional)
{
	struct run r = { 0 };
	json_t *d = dep(15, "nginx:2", "");
	json_t *rss[] = { rs("web-old", "nginx:1", 8, 8, 1, 0), rs("web-new", "nginx:2", 5, 0, 2, 1) };

	for (int i = 0; i < 2; i++) {
		set_ann(rss[i], "deployment.kubernetes.io/desired-replicas", "10");
		set_ann(rss[i], "deployment.kubernetes.io/max-replicas", "13");
	}
	run(&r, d, rss, 2, 0);
	/* allowed 15 + 4 = 19, 6 to add: 8*19/13 -> 12, 5*19/13 -> 7 */
	CHECK_INT_EQ(replicas_of(&r.p, "web-old"), 12);
	CHECK_INT_EQ(replicas_of(&r.p, "web-new"), 7);
	CHECK(has_event(&r.p, "Scaled up replica set web-old to 12 from 8"));
	CHECK(has_event(&r.p, "Scaled up replica set web-new to 7 from 5"));
	CHECK_STR_EQ(ann(find(&r.p, CTRL_UPDATE, "web-new")->body,
			 "deployment.kubernetes.io/desired-replicas"), "15");
	ctrl_plan_clear(&r.p);
}

TEST(scaling_a_settled_deployment_scales_its_one_replica_set)
{
	struct run r = { 0 };
	json_t *d = dep(5, "nginx:1", ""), *rss[] = { rs("web-a", "nginx:1", 3, 3, 1, 0) };

	set_ann(rss[0], "deployment.kubernetes.io/desired-replicas", "3");
	run(&r, d, rss, 1, 0);
	CHECK_INT_EQ(replicas_of(&r.p, "web-a"), 5);
	CHECK(has_event(&r.p, "Scaled up replica set web-a to 5 from 3"));
	ctrl_plan_clear(&r.p);
}

TEST(old_replica_sets_beyond_the_history_limit_are_deleted)
{
	struct run r = { 0 };
	json_t *d = dep(2, "nginx:4", "\"revisionHistoryLimit\":1");
	json_t *rss[] = { rs("web-1", "nginx:1", 0, 0, 1, 0), rs("web-2", "nginx:2", 0, 0, 2, 1),
			  rs("web-3", "nginx:3", 0, 0, 3, 2), rs("web-4", "nginx:4", 2, 2, 4, 3) };

	json_object_set_new(d, "status", obj("{\"observedGeneration\":1,\"replicas\":2,"
					     "\"updatedReplicas\":2,\"availableReplicas\":2}"));
	set_ann(rss[3], "deployment.kubernetes.io/desired-replicas", "2");
	run(&r, d, rss, 4, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, NULL), 2);
	CHECK(find(&r.p, CTRL_DELETE, "web-1"));
	CHECK(find(&r.p, CTRL_DELETE, "web-2"));
	ctrl_plan_clear(&r.p);
}

TEST(undo_to_an_old_template_reuses_its_replica_set_with_a_new_revision)
{
	struct run r = { 0 };
	json_t *d = dep(2, "nginx:1", "");
	json_t *rss[] = { rs("web-1", "nginx:1", 0, 0, 1, 0), rs("web-2", "nginx:2", 2, 2, 2, 1) };
	json_t *body;

	run(&r, d, rss, 2, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	body = find(&r.p, CTRL_UPDATE, "web-1")->body;
	CHECK_STR_EQ(ann(body, "deployment.kubernetes.io/revision"), "3");
	CHECK_STR_EQ(ann(body, "deployment.kubernetes.io/revision-history"), "1");
	CHECK_INT_EQ(ctrl_int(body, "spec.replicas", -1), 1); /* surges back */
	ctrl_plan_clear(&r.p);
}

/* kubectl rollout undo copies the old ReplicaSet's template through a
 * typed struct: "creationTimestamp": null arrives in the Deployment's
 * template, which upstream's semantic EqualIgnoreHash does not see. */
TEST(undo_through_kubectl_reuses_the_replica_set_despite_a_null_creation_timestamp)
{
	struct run r = { 0 };
	json_t *d = dep(2, "nginx:1", "");
	json_t *rss[] = { rs("web-1", "nginx:1", 0, 0, 1, 0), rs("web-2", "nginx:2", 2, 2, 2, 1) };

	json_object_set_new(ctrl_get(d, "spec.template.metadata"), "creationTimestamp", json_null());
	run(&r, d, rss, 2, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	CHECK_STR_EQ(ann(find(&r.p, CTRL_UPDATE, "web-1")->body, "deployment.kubernetes.io/revision"),
		     "3");
	/* and a template that differs in more than nulls is a new one */
	json_object_set_new(ctrl_get(d, "spec.template.metadata.labels"), "tier", json_string("x"));
	run(&r, d, rss, 2, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 1);
	ctrl_plan_clear(&r.p);
}

TEST(a_name_taken_by_another_template_bumps_the_collision_count)
{
	struct run r = { 0 };
	json_t *d = dep(1, "nginx:1", ""), *other;
	char hash[16], name[32];

	ctrl_template_hash(ctrl_get(d, "spec.template"), -1, hash);
	snprintf(name, sizeof(name), "web-%s", hash);
	other = rs(name, "nginx:9", 0, 0, 1, 0);
	json_object_del(ctrl_get(other, "metadata"), "ownerReferences");
	json_object_set_new(ctrl_get(other, "metadata.labels"), "app", json_string("other"));
	run(&r, d, &other, 1, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	CHECK_INT_EQ(ctrl_int(find(&r.p, CTRL_UPDATE_STATUS, "web")->body, "status.collisionCount", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(orphan_replica_sets_the_selector_matches_are_adopted)
{
	struct run r = { 0 };
	json_t *d = dep(2, "nginx:1", ""), *rss[] = { rs("web-a", "nginx:1", 2, 2, 1, 0) };

	json_object_del(ctrl_get(rss[0], "metadata"), "ownerReferences");
	set_ann(rss[0], "deployment.kubernetes.io/desired-replicas", "2");
	run(&r, d, rss, 1, 0);
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(find(&r.p, CTRL_PATCH, "web-a")->body,
						      "metadata.ownerReferences"), 0), "kind"),
		     "Deployment");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&r.p);
}

TEST(empty_selector_is_refused_with_a_warning)
{
	struct run r = { 0 };
	json_t *d = dep(1, "nginx:1", "");

	json_object_set_new(ctrl_get(d, "spec"), "selector", json_object());
	run(&r, d, NULL, 0, 0);
	CHECK_STR_EQ(find(&r.p, CTRL_EVENT, "web")->reason, "SelectingAll");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&r.p);
}

/* Plays the API server and the ReplicaSet controller for a rollout: plans
 * are applied, pods exist at once and turn available one round later. */
struct sim {
	json_t *d;
	json_t *rss[16];
	size_t n;
	int minute;
};

static void sim_apply(struct sim *s, struct ctrl_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct ctrl_action *a = &p->v[i];
		size_t j;

		if (!strcmp(a->resource, "deployments.apps")) {
			if (a->verb == CTRL_UPDATE_STATUS)
				json_object_set(s->d, "status", json_object_get(a->body, "status"));
			if (a->verb == CTRL_PATCH)
				set_ann(s->d, "deployment.kubernetes.io/revision",
					ann(a->body, "deployment.kubernetes.io/revision"));
			continue;
		}
		for (j = 0; j < s->n; j++)
			if (!strcmp(ctrl_str(s->rss[j], "metadata.name"), a->name))
				break;
		if (a->verb == CTRL_CREATE) {
			char t[32];

			s->rss[s->n] = json_deep_copy(a->body);
			snprintf(t, sizeof(t), "2026-12-07T05:%02d:00Z", ++s->minute);
			json_object_set_new(json_object_get(s->rss[s->n], "metadata"), "creationTimestamp",
					    json_string(t));
			json_object_set_new(json_object_get(s->rss[s->n], "metadata"), "uid",
					    json_string(a->name));
			s->n++;
		} else if (a->verb == CTRL_UPDATE && j < s->n) {
			json_t *st = json_incref(json_object_get(s->rss[j], "status"));

			json_decref(s->rss[j]);
			s->rss[j] = json_deep_copy(a->body);
			json_object_set_new(s->rss[j], "status", st);
		} else if (a->verb == CTRL_DELETE && j < s->n) {
			s->rss[j] = s->rss[--s->n];
		}
	}
	/* the ReplicaSet controller and the kubelets: last round's pods are
	 * available now, this round's exist */
	for (size_t j = 0; j < s->n; j++) {
		long long want = ctrl_int(s->rss[j], "spec.replicas", 0);
		long long had = ctrl_int(s->rss[j], "status.replicas", 0);
		long long avail = had < want ? had : want;

		json_object_set_new(s->rss[j], "status",
				    json_pack("{s:I, s:I, s:I, s:i}", "replicas", (json_int_t)want,
					      "readyReplicas", (json_int_t)avail, "availableReplicas",
					      (json_int_t)avail, "observedGeneration", 1));
	}
}

TEST(rolling_update_keeps_within_surge_and_unavailable_to_the_end)
{
	struct sim s = { .d = dep(10, "nginx:2", "") };
	struct run r = { 0 };
	int rounds = 0;

	s.rss[s.n++] = rs("web-old", "nginx:1", 10, 10, 1, 0);
	set_ann(s.rss[0], "deployment.kubernetes.io/desired-replicas", "10");
	set_ann(s.rss[0], "deployment.kubernetes.io/max-replicas", "13");
	do {
		long long total = 0, avail = 0;

		run(&r, s.d, s.rss, s.n, 0);
		sim_apply(&s, &r.p);
		for (size_t j = 0; j < s.n; j++) {
			total += ctrl_int(s.rss[j], "spec.replicas", 0);
			avail += ctrl_int(s.rss[j], "status.availableReplicas", 0);
		}
		CHECK(total <= 10 + 3); /* maxSurge 25% of 10, rounded up */
		CHECK(avail >= 10 - 2); /* maxUnavailable 25% of 10, rounded down */
	} while (ctrl_plan_count(&r.p, CTRL_UPDATE, "replicasets.apps") +
			 ctrl_plan_count(&r.p, CTRL_CREATE, NULL) > 0 && ++rounds < 50);
	CHECK(rounds < 50);
	for (size_t j = 0; j < s.n; j++) {
		bool is_new = !strcmp(ctrl_str(json_array_get(ctrl_get(s.rss[j],
				"spec.template.spec.containers"), 0), "image"), "nginx:2");

		CHECK_INT_EQ(ctrl_int(s.rss[j], "spec.replicas", -1), is_new ? 10 : 0);
	}
	CHECK_STR_EQ(ann(s.d, "deployment.kubernetes.io/revision"), "2");
	run(&r, s.d, s.rss, s.n, 0);
	sim_apply(&s, &r.p);
	CHECK_STR_EQ(ctrl_str(cond(s.d, "Progressing"), "reason"), "NewReplicaSetAvailable");
	ctrl_plan_clear(&r.p);
}
