/* The garbage collector's compute step: dependents of gone owners go,
 * foreground and orphan deletions finish through their finalizers, and
 * references across namespaces are refused as upstream does. */
#include <string.h>

#include "control/ctrl_gc.h"
#include "control/ctrl_util.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define MAXO 8

/* The caches of one test: ReplicaSets, Pods and ClusterRoles. */
struct world {
	json_t *rs[MAXO], *pods[MAXO], *roles[MAXO];
	size_t n_rs, n_pods, n_roles;
	struct gc_kind kinds[3];
	struct ctrl_plan plan;
};

static void add(json_t **v, size_t *n, const char *json)
{
	v[(*n)++] = tobj(json);
}

static void run(struct world *w)
{
	w->kinds[0] = (struct gc_kind){ "apps", "ReplicaSet", "replicasets.apps", true, w->rs, w->n_rs };
	w->kinds[1] = (struct gc_kind){ "", "Pod", "pods", true, w->pods, w->n_pods };
	w->kinds[2] = (struct gc_kind){ "rbac.authorization.k8s.io", "ClusterRole",
					"clusterroles.rbac.authorization.k8s.io", false, w->roles,
					w->n_roles };
	CHECK_OK(gc_compute(w->kinds, 3, &w->plan));
}

static void done(struct world *w)
{
	for (size_t i = 0; i < w->n_rs; i++)
		json_decref(w->rs[i]);
	for (size_t i = 0; i < w->n_pods; i++)
		json_decref(w->pods[i]);
	for (size_t i = 0; i < w->n_roles; i++)
		json_decref(w->roles[i]);
	ctrl_plan_clear(&w->plan);
}

#define RS(name, uid, extra)                                                             \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" uid       \
	"\",\"resourceVersion\":\"5\"" extra "}}"
#define REF(name, uid, block)                                                            \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"" name "\",\"uid\":\"" \
	uid "\",\"controller\":true,\"blockOwnerDeletion\":" block "}"
#define POD(name, uid, ns, refs)                                                         \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"" ns "\",\"uid\":\"" uid       \
	"\",\"resourceVersion\":\"9\",\"ownerReferences\":[" refs "]}}"
#define FOREGROUND ",\"deletionTimestamp\":\"2026-12-07T06:00:00Z\",\"finalizers\":[\"foregroundDeletion\"]"
#define ORPHAN ",\"deletionTimestamp\":\"2026-12-07T06:00:00Z\",\"finalizers\":[\"orphan\"]"

TEST(dependent_of_a_gone_owner_is_deleted_in_background)
{
	struct world w = { 0 };
	json_t *opts;

	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_INT_EQ(w.plan.v[0].verb, CTRL_DELETE);
	CHECK_STR_EQ(w.plan.v[0].name, "web-1");
	opts = w.plan.v[0].body;
	CHECK_STR_EQ(ctrl_str(opts, "propagationPolicy"), "Background");
	CHECK_STR_EQ(ctrl_str(opts, "preconditions.uid"), "p1");
	done(&w);
}

TEST(owner_of_the_same_name_but_another_uid_counts_as_gone)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs2", ""));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	run(&w);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_DELETE, "pods"), 1);
	done(&w);
}

TEST(dependent_of_a_live_owner_is_left_alone)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", ""));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 0);
	done(&w);
}

TEST(with_a_live_owner_only_the_dangling_reference_is_dropped)
{
	struct world w = { 0 };
	json_t *refs;

	add(w.rs, &w.n_rs, RS("web", "rs1", ""));
	add(w.pods, &w.n_pods,
	    POD("web-1", "p1", "shop", REF("web", "rs1", "true") "," REF("old", "rs0", "false")));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_INT_EQ(w.plan.v[0].verb, CTRL_PATCH);
	refs = ctrl_get(w.plan.v[0].body, "metadata.ownerReferences");
	CHECK_INT_EQ(json_array_size(refs), 1);
	CHECK_STR_EQ(ctrl_str(json_array_get(refs, 0), "uid"), "rs1");
	CHECK_STR_EQ(ctrl_str(w.plan.v[0].body, "metadata.resourceVersion"), "9");
	done(&w);
}

TEST(foreground_owner_has_its_dependents_deleted_and_waits_for_blockers)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", FOREGROUND));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	add(w.pods, &w.n_pods, POD("web-2", "p2", "shop", REF("web", "rs1", "false")));
	run(&w);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_DELETE, "pods"), 2);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_PATCH, NULL), 0);
	done(&w);
}

TEST(foreground_dependent_with_dependents_of_its_own_goes_in_foreground)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", FOREGROUND));
	add(w.rs, &w.n_rs,
	    "{\"metadata\":{\"name\":\"mid\",\"namespace\":\"shop\",\"uid\":\"rs2\","
	    "\"ownerReferences\":[" REF("web", "rs1", "true") "]}}");
	add(w.pods, &w.n_pods, POD("mid-1", "p1", "shop", REF("mid", "rs2", "true")));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_STR_EQ(w.plan.v[0].name, "mid");
	CHECK_STR_EQ(ctrl_str(w.plan.v[0].body, "propagationPolicy"), "Foreground");
	done(&w);
}

TEST(foreground_finalizer_goes_once_no_blocking_dependent_remains)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", FOREGROUND));
	add(w.pods, &w.n_pods,
	    "{\"metadata\":{\"name\":\"web-2\",\"namespace\":\"shop\",\"uid\":\"p2\","
	    "\"deletionTimestamp\":\"2026-12-07T06:00:00Z\",\"ownerReferences\":["
	    REF("web", "rs1", "false") "]}}");
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_INT_EQ(w.plan.v[0].verb, CTRL_PATCH);
	CHECK_STR_EQ(w.plan.v[0].name, "web");
	CHECK(json_is_null(ctrl_get(w.plan.v[0].body, "metadata.finalizers")));
	done(&w);
}

TEST(orphaning_owner_has_its_references_dropped_before_its_finalizer)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", ORPHAN));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_STR_EQ(w.plan.v[0].name, "web-1");
	CHECK(json_is_null(ctrl_get(w.plan.v[0].body, "metadata.ownerReferences")));
	done(&w);
}

TEST(orphaning_owner_without_dependents_loses_its_finalizer)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", ORPHAN));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", ""));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_STR_EQ(w.plan.v[0].name, "web");
	CHECK(json_is_null(ctrl_get(w.plan.v[0].body, "metadata.finalizers")));
	done(&w);
}

TEST(owner_in_another_namespace_is_gone_with_a_warning)
{
	struct world w = { 0 };

	add(w.rs, &w.n_rs, RS("web", "rs1", ""));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "other", REF("web", "rs1", "true")));
	run(&w);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_DELETE, "pods"), 1);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_EVENT, "pods"), 1);
	for (size_t i = 0; i < w.plan.n; i++)
		if (w.plan.v[i].verb == CTRL_EVENT) {
			CHECK_STR_EQ(w.plan.v[i].reason, "OwnerRefInvalidNamespace");
			CHECK_STR_CONTAINS(w.plan.v[i].message, "does not exist in namespace \"other\"");
		}
	done(&w);
}

TEST(cluster_scoped_dependent_of_a_namespaced_owner_is_left_with_a_warning)
{
	struct world w = { 0 };

	add(w.roles, &w.n_roles,
	    "{\"metadata\":{\"name\":\"r\",\"uid\":\"c1\",\"ownerReferences\":["
	    REF("web", "rs1", "true") "]}}");
	run(&w);
	CHECK_INT_EQ(w.plan.n, 1);
	CHECK_INT_EQ(w.plan.v[0].verb, CTRL_EVENT);
	CHECK_STR_EQ(w.plan.v[0].reason, "OwnerRefInvalidNamespace");
	done(&w);
}

TEST(owner_of_a_kind_not_cached_is_never_taken_for_gone)
{
	struct world w = { 0 };

	add(w.pods, &w.n_pods,
	    POD("web-1", "p1", "shop",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Thing\",\"name\":\"t\",\"uid\":\"t1\"}"));
	run(&w);
	CHECK_INT_EQ(w.plan.n, 0);
	done(&w);
}

TEST(one_key_of_a_foreground_owner_also_reconsiders_its_dependents)
{
	struct world w = { 0 };
	struct gc_graph *g;

	add(w.rs, &w.n_rs, RS("web", "rs1", FOREGROUND));
	add(w.pods, &w.n_pods, POD("web-1", "p1", "shop", REF("web", "rs1", "true")));
	run(&w);
	ctrl_plan_clear(&w.plan);
	CHECK_OK(gc_graph_new(w.kinds, 3, &g));
	CHECK_OK(gc_compute_one(g, "rs1", &w.plan));
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_DELETE, "pods"), 1);
	CHECK_OK(gc_compute_one(g, "nope", &w.plan));
	CHECK_INT_EQ(w.plan.n, 1);
	gc_graph_free(g);
	done(&w);
}
