/* The DaemonSet controller's compute step, one behaviour per test. */
#include <stdbool.h>
#include <stdlib.h>

#include "control/ctrl_daemonset.h"
#include "tests/control/ctrl_workload_test.h"

/* A DaemonSet "agent": extra spec fields and extra pod spec fields, each
 * ending in a comma. */
static json_t *ds(const char *spec, const char *pod_spec)
{
	return J("{'apiVersion':'apps/v1','kind':'DaemonSet','metadata':{'name':'agent',"
		 "'namespace':'kube-system','uid':'ds-uid','generation':2},'spec':{%s"
		 "'selector':{'matchLabels':{'app':'agent'}},'template':{'metadata':{'labels':"
		 "{'app':'agent'}},'spec':{%s'containers':[{'name':'c','image':'busybox'}]}}}}",
		 spec, pod_spec);
}

static json_t *node(const char *name, const char *labels, const char *taints)
{
	return J("{'metadata':{'name':'%s','labels':{%s}},'spec':{'taints':[%s]}}", name, labels,
		 taints);
}

static const char *hash_of(json_t *d)
{
	static char h[16];

	ctrl_template_hash(ctrl_get(d, "spec.template"), -1, h);
	return h;
}

/* A pod of the DaemonSet bound to node, of revision hash, created at t. */
static json_t *dpod(const char *name, const char *node_name, const char *hash, bool ready,
		    long long t, const char *phase)
{
	return J("{'metadata':{'name':'%s','namespace':'kube-system','creationTimestamp':'%s',"
		 "'labels':{'app':'agent','controller-revision-hash':'%s'},"
		 "'ownerReferences':[{'controller':true,'uid':'ds-uid'}]},'spec':{'nodeName':'%s'},"
		 "'status':{'phase':'%s','conditions':[{'type':'Ready','status':'%s',"
		 "'lastTransitionTime':'%s'}]}}",
		 name, at(t), hash, node_name, phase, ready ? "True" : "False", at(t));
}

struct run {
	struct ctrl_plan p;
	struct ds_result res;
	json_t *status;
};

static struct run sync_ds(json_t *d, json_t **nodes, size_t n_nodes, json_t **pods, size_t n_pods,
			  json_t **revs, size_t n_revs)
{
	struct ds_input in = { d, nodes, n_nodes, pods, n_pods, revs, n_revs, (time_t)(T0 + 1000) };
	struct run r = { .p = CTRL_PLAN_INIT };
	struct ctrl_action *st;

	CHECK_OK(ds_compute(&in, &r.p, &r.res));
	st = nth(&r.p, CTRL_UPDATE_STATUS, DS_RESOURCE, 0);
	r.status = st ? json_object_get(st->body, "status") : NULL;
	return r;
}

static bool has_toleration(json_t *pod, const char *key, const char *effect)
{
	json_t *t;
	size_t i;

	json_array_foreach(ctrl_get(pod, "spec.tolerations"), i, t)
		if (streq(ctrl_str(t, "key"), key) && streq(ctrl_str(t, "effect"), effect) &&
		    streq(ctrl_str(t, "operator"), "Exists"))
			return true;
	return false;
}

TEST(one_pod_per_eligible_node_placed_by_name_affinity)
{
	json_t *d = ds("", "'nodeSelector':{'role':'edge'},");
	json_t *nodes[] = { node("n1", "'role':'edge'", ""), node("n2", "'role':'core'", ""),
			    node("n3", "'role':'edge'",
				 "{'key':'dedicated','value':'db','effect':'NoSchedule'}") };
	struct run r = sync_ds(d, nodes, 3, NULL, 0, NULL, 0);
	json_t *pod = nth(&r.p, CTRL_CREATE, "pods", 0)->body;
	json_t *field = ctrl_get(pod, "spec.affinity.nodeAffinity."
				      "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	field = json_array_get(json_object_get(json_array_get(field, 0), "matchFields"), 0);
	CHECK_STR_EQ(ctrl_str(field, "key"), "metadata.name");
	CHECK_STR_EQ(ctrl_str(field, "operator"), "In");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(field, "values"), 0)), "n1");
	CHECK(ctrl_get(pod, "spec.nodeName") == NULL);
	CHECK_STR_EQ(ctrl_str(pod, "metadata.generateName"), "agent-");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"),
						       CTRL_REVISION_HASH_LABEL)), r.res.hash);
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"),
						       DS_GENERATION_LABEL)), "2");
	CHECK(ctrl_controlled_by(pod, d));
	CHECK(event_of(&r.p, "SuccessfulCreate") != NULL);
	CHECK_INT_EQ(ctrl_int(r.status, "desiredNumberScheduled", -1), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "numberUnavailable", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(daemon_pods_get_upstream_default_tolerations)
{
	json_t *d = ds("", "");
	json_t *host = ds("", "'hostNetwork':true,");
	json_t *nodes[] = { node("n1", "",
				 "{'key':'node.kubernetes.io/unschedulable','effect':'NoSchedule'},"
				 "{'key':'node.kubernetes.io/memory-pressure','effect':'NoSchedule'}"),
			    node("n2", "",
				 "{'key':'node.kubernetes.io/network-unavailable','effect':"
				 "'NoSchedule'}") };
	struct run r = sync_ds(d, nodes, 2, NULL, 0, NULL, 0);
	json_t *pod = nth(&r.p, CTRL_CREATE, "pods", 0)->body;

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK(has_toleration(pod, "node.kubernetes.io/not-ready", "NoExecute"));
	CHECK(has_toleration(pod, "node.kubernetes.io/unreachable", "NoExecute"));
	CHECK(has_toleration(pod, "node.kubernetes.io/disk-pressure", "NoSchedule"));
	CHECK(has_toleration(pod, "node.kubernetes.io/pid-pressure", "NoSchedule"));
	CHECK(!has_toleration(pod, "node.kubernetes.io/network-unavailable", "NoSchedule"));
	ctrl_plan_clear(&r.p);
	r = sync_ds(host, nodes, 2, NULL, 0, NULL, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK(has_toleration(nth(&r.p, CTRL_CREATE, "pods", 0)->body,
			     "node.kubernetes.io/network-unavailable", "NoSchedule"));
	ctrl_plan_clear(&r.p);
}

TEST(required_affinity_selects_nodes_and_is_replaced_by_the_name_term)
{
	json_t *d = ds("", "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"
			   "Execution':{'nodeSelectorTerms':[{'matchExpressions':[{'key':'zone',"
			   "'operator':'In','values':['a']}]}]},'preferredDuringSchedulingIgnored"
			   "DuringExecution':[{'weight':1,'preference':{'matchExpressions':[{'key':"
			   "'ssd','operator':'Exists'}]}}]}},");
	json_t *nodes[] = { node("n1", "'zone':'b'", ""), node("n2", "'zone':'a'", "") };
	struct run r = sync_ds(d, nodes, 2, NULL, 0, NULL, 0);
	json_t *na = ctrl_get(nth(&r.p, CTRL_CREATE, "pods", 0)->body, "spec.affinity.nodeAffinity");
	json_t *terms = ctrl_get(na, "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK_INT_EQ(json_array_size(terms), 1);
	CHECK(json_object_get(json_array_get(terms, 0), "matchExpressions") == NULL);
	CHECK_INT_EQ(json_array_size(json_object_get(na, "preferredDuringSchedulingIgnoredDuring"
							 "Execution")), 1);
	ctrl_plan_clear(&r.p);
}

TEST(extra_pods_on_a_node_go_and_the_oldest_stays)
{
	json_t *d = ds("", "");
	json_t *n1 = node("n1", "", "");
	const char *h = hash_of(d);
	json_t *pods[] = { dpod("agent-new", "n1", h, true, 50, "Running"),
			   dpod("agent-old", "n1", h, true, 10, "Running"),
			   dpod("agent-mid", "n1", h, true, 30, "Running") };
	struct run r = sync_ds(d, &n1, 1, pods, 3, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "agent-mid");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 1)), "agent-new");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(pods_leave_nodes_that_no_longer_fit_but_stay_on_new_noschedule_taints)
{
	json_t *d = ds("", "'nodeSelector':{'role':'edge'},");
	const char *h = hash_of(d);
	json_t *nodes[] = { node("n1", "'role':'core'", ""),
			    node("n2", "'role':'edge'", "{'key':'x','effect':'NoSchedule'}"),
			    node("n3", "'role':'edge'", "{'key':'y','effect':'NoExecute'}") };
	json_t *pods[] = { dpod("a1", "n1", h, true, 0, "Running"),
			   dpod("a2", "n2", h, true, 0, "Running"),
			   dpod("a3", "n3", h, true, 0, "Running") };
	struct run r = sync_ds(d, nodes, 3, pods, 3, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "a1");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 1)), "a3");
	CHECK_INT_EQ(ctrl_int(r.status, "numberMisscheduled", -1), 3);
	CHECK_INT_EQ(ctrl_int(r.status, "desiredNumberScheduled", -1), 0);
	ctrl_plan_clear(&r.p);
}

TEST(failed_daemon_pods_are_deleted_with_a_warning)
{
	json_t *d = ds("", "");
	json_t *n1 = node("n1", "", "");
	json_t *pod = dpod("agent-x", "n1", hash_of(d), false, 0, "Failed");
	struct run r = sync_ds(d, &n1, 1, &pod, 1, NULL, 0);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "agent-x");
	CHECK_STR_EQ(event_of(&r.p, "FailedDaemonPod")->event_type, "Warning");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(unscheduled_pods_for_vanished_nodes_are_deleted)
{
	json_t *d = ds("", "");
	json_t *pod = J("{'metadata':{'name':'agent-gone','namespace':'kube-system',"
			"'ownerReferences':[{'controller':true,'uid':'ds-uid'}]},'spec':{'affinity':"
			"{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{"
			"'nodeSelectorTerms':[{'matchFields':[{'key':'metadata.name','operator':"
			"'In','values':['n9']}]}]}}}},'status':{'phase':'Pending'}}");
	struct run r = sync_ds(d, NULL, 0, &pod, 1, NULL, 0);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "agent-gone");
	ctrl_plan_clear(&r.p);
}

static struct run roll(const char *strategy, json_t **pods, size_t n)
{
	json_t *d = ds(strategy, "");
	json_t *nodes[] = { node("n1", "", ""), node("n2", "", ""), node("n3", "", ""),
			    node("n4", "", "") };

	return sync_ds(d, nodes, 4, pods, n, NULL, 0);
}

TEST(rolling_update_deletes_old_pods_within_max_unavailable)
{
	json_t *pods[] = { dpod("a1", "n1", "old", true, 0, "Running"),
			   dpod("a2", "n2", "old", true, 0, "Running"),
			   dpod("a3", "n3", "old", true, 0, "Running"),
			   dpod("a4", "n4", "old", true, 0, "Running") };
	struct run r = roll("", pods, 4);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "updatedNumberScheduled", -1), 0);
	ctrl_plan_clear(&r.p);
	r = roll("'updateStrategy':{'type':'RollingUpdate','rollingUpdate':{'maxUnavailable':"
		 "'50%'}},", pods, 4);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 2);
	ctrl_plan_clear(&r.p);
}

TEST(rolling_update_waits_while_a_new_pod_is_unavailable)
{
	json_t *d = ds("", "");
	const char *h = hash_of(d);
	json_t *pods[] = { dpod("a1", "n1", h, false, 0, "Running"),
			   dpod("a2", "n2", "old", true, 0, "Running"),
			   dpod("a3", "n3", "old", false, 0, "Running"),
			   dpod("a4", "n4", "old", true, 0, "Running") };
	struct run r = roll("", pods, 4);

	/* a3 is old and unavailable: replaced whatever the budget */
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "a3");
	CHECK_INT_EQ(ctrl_int(r.status, "updatedNumberScheduled", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(on_delete_leaves_old_pods_alone)
{
	json_t *pods[] = { dpod("a1", "n1", "old", true, 0, "Running"),
			   dpod("a2", "n2", "old", true, 0, "Running"),
			   dpod("a3", "n3", "old", true, 0, "Running"),
			   dpod("a4", "n4", "old", true, 0, "Running") };
	struct run r = roll("'updateStrategy':{'type':'OnDelete'},", pods, 4);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(creations_hold_the_rolling_update_until_the_next_sync)
{
	json_t *pods[] = { dpod("a1", "n1", "old", true, 0, "Running"),
			   dpod("a2", "n2", "old", true, 0, "Running") };
	struct run r = roll("'updateStrategy':{'rollingUpdate':{'maxUnavailable':4}},", pods, 2);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(the_current_revision_is_recorded_once_with_the_highest_number)
{
	json_t *d = ds("", "");
	json_t *n1 = node("n1", "", "");
	struct run r = sync_ds(d, &n1, 1, NULL, 0, NULL, 0);
	struct ctrl_action *cr = nth(&r.p, CTRL_CREATE, CTRL_REVISION_RESOURCE, 0);
	char name[64];
	json_t *revs[2];

	CHECK(cr != NULL);
	snprintf(name, sizeof(name), "agent-%s", r.res.hash);
	CHECK_STR_EQ(ctrl_str(cr->body, "metadata.name"), name);
	CHECK_INT_EQ(ctrl_int(cr->body, "revision", 0), 1);
	CHECK_STR_EQ(ctrl_str(cr->body, "data.spec.template.$patch"), "replace");
	CHECK(ctrl_controlled_by(cr->body, d));
	revs[0] = json_deep_copy(cr->body);
	json_object_set_new(revs[0], "revision", json_integer(1));
	revs[1] = J("{'metadata':{'name':'agent-old','labels':{'controller-revision-hash':'old'},"
		    "'ownerReferences':[{'controller':true,'uid':'ds-uid'}]},'revision':2}");
	ctrl_plan_clear(&r.p);
	r = sync_ds(d, &n1, 1, NULL, 0, revs, 2);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, CTRL_REVISION_RESOURCE), 0);
	CHECK_INT_EQ(ctrl_int(nth(&r.p, CTRL_UPDATE, CTRL_REVISION_RESOURCE, 0)->body, "revision", 0), 3);
	ctrl_plan_clear(&r.p);
}

TEST(old_revisions_beyond_the_history_limit_are_deleted_unless_in_use)
{
	json_t *d = ds("'revisionHistoryLimit':1,", "");
	json_t *n1 = node("n1", "", "");
	json_t *pod = dpod("a1", "n1", hash_of(d), true, 0, "Running");
	json_t *live = dpod("a0", "n0", "h1", true, 0, "Running");
	json_t *pods[] = { pod, live };
	json_t *revs[4];
	char cur[64];
	struct run r;

	for (int i = 0; i < 3; i++)
		revs[i] = J("{'metadata':{'name':'agent-h%d','labels':{'controller-revision-hash':"
			    "'h%d'},'ownerReferences':[{'controller':true,'uid':'ds-uid'}]},"
			    "'revision':%d}", i, i, i + 1);
	snprintf(cur, sizeof(cur), "%s", hash_of(d));
	revs[3] = J("{'metadata':{'name':'agent-%s','labels':{'controller-revision-hash':'%s'},"
		    "'ownerReferences':[{'controller':true,'uid':'ds-uid'}]},'revision':9}", cur, cur);
	r = sync_ds(d, &n1, 1, pods, 2, revs, 4);
	/* three old, keep one: h0 goes, h1 is used by a live pod, h2 goes */
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, CTRL_REVISION_RESOURCE), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, CTRL_REVISION_RESOURCE, 0)), "agent-h0");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, CTRL_REVISION_RESOURCE, 1)), "agent-h2");
	ctrl_plan_clear(&r.p);
}

TEST(status_counts_scheduled_ready_available_and_updated_pods)
{
	json_t *d = ds("'minReadySeconds':100,", "");
	const char *h = hash_of(d);
	json_t *nodes[] = { node("n1", "", ""), node("n2", "", ""), node("n3", "", "") };
	json_t *pods[] = { dpod("a1", "n1", h, true, 0, "Running"),    /* available */
			   dpod("a2", "n2", "old", true, 950, "Running") }; /* ready 50 s */
	struct run r = sync_ds(d, nodes, 3, pods, 2, NULL, 0);

	CHECK_INT_EQ(ctrl_int(r.status, "observedGeneration", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "desiredNumberScheduled", -1), 3);
	CHECK_INT_EQ(ctrl_int(r.status, "currentNumberScheduled", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "numberReady", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "numberAvailable", -1), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "updatedNumberScheduled", -1), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "numberUnavailable", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "numberMisscheduled", -1), 0);
	CHECK_INT_EQ(r.res.requeue_after, 100);
	ctrl_plan_clear(&r.p);
}

TEST(a_settled_daemonset_writes_nothing)
{
	json_t *d = ds("", "");
	json_t *n1 = node("n1", "", "");
	json_t *pod = dpod("a1", "n1", hash_of(d), true, 0, "Running");
	struct run r = sync_ds(d, &n1, 1, &pod, 1, NULL, 0);
	json_t *rev = json_deep_copy(nth(&r.p, CTRL_CREATE, CTRL_REVISION_RESOURCE, 0)->body);

	json_object_set(d, "status", r.status);
	ctrl_plan_clear(&r.p);
	r = sync_ds(d, &n1, 1, &pod, 1, &rev, 1);
	CHECK_INT_EQ(r.p.n, 0);
}
