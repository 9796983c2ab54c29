/* Helpers the controllers share: time stamps, pod state, owner
 * references, selectors and pods made from templates. */
#include <errno.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"
#include "tests/harness/test.h"

static json_t *obj(const char *s)
{
	json_error_t e;
	json_t *o = json_loads(s, 0, &e);

	if (!o)
		fprintf(stderr, "bad test JSON: %s\n", e.text);
	return o;
}

TEST(times_round_trip_and_refuse_other_zones)
{
	time_t t;
	char buf[32];

	CHECK_OK(ctrl_time_parse("2026-12-07T05:46:32Z", &t));
	ctrl_time_format(t, buf);
	CHECK_STR_EQ(buf, "2026-12-07T05:46:32Z");
	CHECK_OK(ctrl_time_parse("2026-12-07T05:46:32.123456Z", &t));
	CHECK_INT_EQ(ctrl_time_parse("2026-12-07T05:46:32+01:00", &t), -EINVAL);
	CHECK_INT_EQ(ctrl_time_parse("yesterday", &t), -EINVAL);
	CHECK_INT_EQ(ctrl_time_parse(NULL, &t), -EINVAL);
}

TEST(pod_states_follow_phase_deletion_and_ready_condition)
{
	json_t *running = obj("{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
			      "\"Ready\",\"status\":\"True\",\"lastTransitionTime\":"
			      "\"2026-12-07T05:00:00Z\"}]}}");
	json_t *done = obj("{\"status\":{\"phase\":\"Succeeded\"}}");
	json_t *leaving = obj("{\"metadata\":{\"deletionTimestamp\":\"2026-12-07T05:00:00Z\"},"
			      "\"status\":{\"phase\":\"Running\"}}");
	time_t five;

	CHECK_OK(ctrl_time_parse("2026-12-07T05:00:05Z", &five));
	CHECK(ctrl_pod_active(running) && ctrl_pod_ready(running, NULL));
	CHECK(!ctrl_pod_active(done) && !ctrl_pod_ready(done, NULL));
	CHECK(!ctrl_pod_active(leaving) && ctrl_pod_terminating(leaving));
	CHECK(ctrl_pod_available(running, 4, five));
	CHECK(!ctrl_pod_available(running, 5, five)); /* upstream: ready longer than minReadySeconds */
	CHECK(!ctrl_pod_available(running, 6, five));
	CHECK(ctrl_pod_available(running, 0, five));
	json_decref(running);
	json_decref(done);
	json_decref(leaving);
}

TEST(pod_from_template_is_owned_and_named_after_its_owner)
{
	json_t *rs = obj("{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":"
			 "{\"name\":\"web-5d8\",\"namespace\":\"shop\",\"uid\":\"u-1\"},\"spec\":"
			 "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":"
			 "{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
			 "\"image\":\"busybox\"}]}}}}");
	json_t *pod = ctrl_pod_from_template(ctrl_get(rs, "spec.template"), rs, NULL);
	json_t *empty = json_object();
	bool match;

	CHECK(pod != NULL);
	CHECK_STR_EQ(ctrl_str(pod, "metadata.generateName"), "web-5d8-");
	CHECK_STR_EQ(ctrl_str(pod, "metadata.namespace"), "shop");
	CHECK_STR_EQ(ctrl_str(pod, "metadata.labels.app"), "web");
	CHECK(ctrl_controlled_by(pod, rs));
	CHECK_OK(ctrl_selector_matches(ctrl_get(rs, "spec.selector"), pod, &match));
	CHECK(match);
	CHECK_OK(ctrl_selector_matches(empty, pod, &match));
	CHECK(!match);
	json_decref(empty);
	json_decref(pod);
	pod = ctrl_pod_from_template(ctrl_get(rs, "spec.template"), rs, "web-0");
	CHECK_STR_EQ(ctrl_str(pod, "metadata.name"), "web-0");
	CHECK(ctrl_get(pod, "metadata.generateName") == NULL);
	json_decref(pod);
	json_decref(rs);
}

TEST(finalizer_removal_keeps_the_others_and_the_resource_version)
{
	json_t *o = obj("{\"metadata\":{\"resourceVersion\":\"7\",\"finalizers\":"
			"[\"orphan\",\"example.com/x\"]}}");
	json_t *patch = ctrl_finalizer_removal(o, "orphan");

	CHECK(ctrl_has_finalizer(o, "orphan") && !ctrl_has_finalizer(o, "foregroundDeletion"));
	CHECK_INT_EQ(json_array_size(ctrl_get(patch, "metadata.finalizers")), 1);
	CHECK_STR_EQ(ctrl_str(patch, "metadata.resourceVersion"), "7");
	json_decref(patch);
	json_decref(o);
	o = obj("{\"metadata\":{\"finalizers\":[\"orphan\"]}}");
	patch = ctrl_finalizer_removal(o, "orphan");
	CHECK(json_is_null(ctrl_get(patch, "metadata.finalizers")));
	json_decref(patch);
	json_decref(o);
}

TEST(delete_options_carry_policy_precondition_and_grace)
{
	json_t *o = ctrl_delete_options("Foreground", "u-1", 0);

	CHECK_STR_EQ(ctrl_str(o, "propagationPolicy"), "Foreground");
	CHECK_STR_EQ(ctrl_str(o, "preconditions.uid"), "u-1");
	CHECK_INT_EQ(ctrl_int(o, "gracePeriodSeconds", -1), 0);
	json_decref(o);
	o = ctrl_delete_options(NULL, NULL, -1);
	CHECK(!ctrl_get(o, "propagationPolicy") && !ctrl_get(o, "gracePeriodSeconds"));
	json_decref(o);
}

TEST(tolerations_match_taints_as_upstream)
{
	json_t *pod = obj("{\"spec\":{\"tolerations\":[{\"key\":\"a\",\"value\":\"1\","
			  "\"effect\":\"NoSchedule\"},{\"key\":\"b\",\"operator\":\"Exists\"}]}}");
	json_t *a1 = obj("{\"key\":\"a\",\"value\":\"1\",\"effect\":\"NoSchedule\"}");
	json_t *a2 = obj("{\"key\":\"a\",\"value\":\"2\",\"effect\":\"NoSchedule\"}");
	json_t *a1x = obj("{\"key\":\"a\",\"value\":\"1\",\"effect\":\"NoExecute\"}");
	json_t *b = obj("{\"key\":\"b\",\"value\":\"z\",\"effect\":\"NoExecute\"}");
	json_t *all = obj("{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}");

	CHECK(ctrl_toleration_for(pod, a1) != NULL);
	CHECK(ctrl_toleration_for(pod, a2) == NULL);
	CHECK(ctrl_toleration_for(pod, a1x) == NULL);
	CHECK_STR_EQ(ctrl_str(ctrl_toleration_for(pod, b), "key"), "b");
	CHECK(ctrl_toleration_for(all, a2) != NULL);
	json_decref(pod);
	json_decref(a1);
	json_decref(a2);
	json_decref(a1x);
	json_decref(b);
	json_decref(all);
}

TEST(string_lists_are_searched_at_a_path)
{
	json_t *ns = obj("{\"spec\":{\"finalizers\":[\"kubernetes\"]}}");

	CHECK(ctrl_strlist_has(ns, "spec.finalizers", "kubernetes"));
	CHECK(!ctrl_strlist_has(ns, "spec.finalizers", "orphan"));
	CHECK(!ctrl_strlist_has(ns, "metadata.finalizers", "kubernetes"));
	json_decref(ns);
}

TEST(condition_set_moves_the_transition_time_only_on_a_status_change)
{
	json_t *pod = obj("{\"metadata\":{\"name\":\"a\"}}");
	time_t t0, t1;

	CHECK_OK(ctrl_time_parse("2026-12-07T06:00:00Z", &t0));
	CHECK_OK(ctrl_time_parse("2026-12-07T06:01:00Z", &t1));
	CHECK_OK(ctrl_condition_set(pod, "Ready", "True", NULL, NULL, t0));
	CHECK_OK(ctrl_condition_set(pod, "Ready", "True", "Fine", "all good", t1));
	CHECK_STR_EQ(ctrl_str(ctrl_condition(pod, "Ready"), "lastTransitionTime"),
		     "2026-12-07T06:00:00Z");
	CHECK_STR_EQ(ctrl_str(ctrl_condition(pod, "Ready"), "reason"), "Fine");
	CHECK_OK(ctrl_condition_set(pod, "Ready", "False", NULL, NULL, t1));
	CHECK_STR_EQ(ctrl_str(ctrl_condition(pod, "Ready"), "lastTransitionTime"),
		     "2026-12-07T06:01:00Z");
	CHECK_INT_EQ(json_array_size(ctrl_get(pod, "status.conditions")), 1);
	json_decref(pod);
}

TEST(intstr_scales_percentages_up_or_down)
{
	json_t *pct = json_string("25%"), *bad = json_string("x%");
	long long v;

	CHECK_OK(ctrl_intstr_scaled(pct, 10, true, 1, &v));
	CHECK_INT_EQ(v, 3);
	CHECK_OK(ctrl_intstr_scaled(pct, 10, false, 1, &v));
	CHECK_INT_EQ(v, 2);
	CHECK_OK(ctrl_intstr_scaled(NULL, 10, false, 1, &v));
	CHECK_INT_EQ(v, 1);
	CHECK_INT_EQ(ctrl_intstr_scaled(bad, 10, false, 1, &v), -EINVAL);
	json_decref(pct);
	json_decref(bad);
}

TEST(node_affinity_ands_expressions_and_ors_terms)
{
	json_t *node = obj("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"zone\":\"a\",\"cores\":\"8\"}}}");
	json_t *fits = obj("{\"nodeSelector\":{\"zone\":\"a\"},\"affinity\":{\"nodeAffinity\":"
			   "{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
			   "{\"matchExpressions\":[{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"16\"]}]},"
			   "{\"matchExpressions\":[{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"4\"]},"
			   "{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}],\"matchFields\":[{\"key\":"
			   "\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]}}}}");
	json_t *other_zone = obj("{\"nodeSelector\":{\"zone\":\"b\"}}");
	json_t *empty_term = obj("{\"affinity\":{\"nodeAffinity\":{\"requiredDuringScheduling"
				 "IgnoredDuringExecution\":{\"nodeSelectorTerms\":[{}]}}}}");

	CHECK(ctrl_pod_fits_node_affinity(fits, node));
	CHECK(!ctrl_pod_fits_node_affinity(other_zone, node));
	CHECK(!ctrl_pod_fits_node_affinity(empty_term, node));
	CHECK(ctrl_pod_fits_node_affinity(json_object(), node));
	json_decref(node);
	json_decref(fits);
	json_decref(other_zone);
	json_decref(empty_term);
}

TEST(taints_are_tolerated_by_key_value_and_effect)
{
	json_t *taints = obj("[{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"},"
			     "{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]");
	json_t *equal = obj("[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"db\"}]");
	json_t *wrong = obj("[{\"key\":\"dedicated\",\"value\":\"web\",\"effect\":\"NoSchedule\"}]");
	json_t *all = obj("[{\"operator\":\"Exists\"}]");
	json_t *t;

	CHECK(ctrl_untolerated_taint(taints, equal, "NoSchedule,NoExecute") == NULL);
	CHECK(ctrl_untolerated_taint(taints, all, "NoSchedule") == NULL);
	t = ctrl_untolerated_taint(taints, wrong, "NoSchedule,NoExecute");
	CHECK_STR_EQ(ctrl_str(t, "key"), "dedicated");
	CHECK(ctrl_untolerated_taint(taints, wrong, "NoExecute") == NULL);
	json_decref(taints);
	json_decref(equal);
	json_decref(wrong);
	json_decref(all);
}

TEST(template_hash_follows_content_and_collision_count)
{
	json_t *a = obj("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}}}");
	json_t *b = obj("{\"metadata\":{\"labels\":{\"b\":\"2\",\"a\":\"1\"}}}");
	json_t *c = obj("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"3\"}}}");
	char ha[16], hb[16], hc[16], hd[16];

	ctrl_template_hash(a, -1, ha);
	ctrl_template_hash(b, -1, hb);
	ctrl_template_hash(c, -1, hc);
	ctrl_template_hash(a, 1, hd);
	CHECK_STR_EQ(ha, hb);
	CHECK(strcmp(ha, hc) != 0 && strcmp(ha, hd) != 0);
	CHECK(strspn(ha, "bcdfghjklmnpqrstvwxz2456789") == strlen(ha) && strlen(ha) >= 6);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

TEST(status_update_is_planned_only_for_a_change)
{
	json_t *o = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\"status\":{\"n\":1}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(ctrl_status_update(&p, "jobs.batch", o, json_pack("{s:i}", "n", 1)));
	CHECK_INT_EQ(p.n, 0);
	CHECK_OK(ctrl_status_update(&p, "jobs.batch", o, json_pack("{s:i}", "n", 2)));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, "jobs.batch"), 1);
	CHECK_STR_EQ(p.v[0].name, "a");
	CHECK_STR_EQ(p.v[0].ns, "ns");
	CHECK_INT_EQ(ctrl_int(p.v[0].body, "status.n", 0), 2);
	ctrl_plan_clear(&p);
	json_decref(o);
}
