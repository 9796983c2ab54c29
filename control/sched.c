/* One scheduling decision (sched_schedule_one) and one whole cycle with
 * its plan (sched_cycle): see sched.h.
 *
 * Node selection is upstream's: the filters walk the nodes from a start
 * index that rotates across cycles and stop once numFeasibleNodesToFind
 * nodes passed (percentageOfNodesToScore; adaptive by default: 50% less
 * 1% per 125 nodes, at least 5% and at least 100 nodes), so a 5,000-node
 * cluster scores 500 nodes per pod; the best score wins, ties broken at
 * random (reservoir sampling). A pod that fits nowhere may preempt
 * (sched_preempt.c), then waits for a cluster event. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/util.h"

#define MIN_FEASIBLE_NODES 100
#define MIN_FEASIBLE_PERCENT 5

static size_t nodes_to_find(const struct sched *s, size_t all)
{
	long pct = s->o.percentage_of_nodes_to_score;
	size_t n;

	if (all < MIN_FEASIBLE_NODES || pct >= 100)
		return all;
	if (pct <= 0) {
		pct = 50 - (long)(all / 125);
		if (pct < MIN_FEASIBLE_PERCENT)
			pct = MIN_FEASIBLE_PERCENT;
	}
	n = all * (size_t)pct / 100;
	return n < MIN_FEASIBLE_NODES ? MIN_FEASIBLE_NODES : n;
}

static uint64_t rng_next(struct sched *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dULL;
}

static int scratch(struct sched *s)
{
	size_t cap = s->cap_scratch;

	if (s->n_nodes <= cap)
		return 0;
	if (grow_array(&s->feasible, &cap, s->n_nodes, sizeof(*s->feasible)) < 0)
		return -ENOMEM;
	cap = s->cap_scratch;
	if (grow_array(&s->score, &cap, s->n_nodes, sizeof(*s->score)) < 0)
		return -ENOMEM;
	cap = s->cap_scratch;
	if (grow_array(&s->part, &cap, s->n_nodes, sizeof(*s->part)) < 0)
		return -ENOMEM;
	s->cap_scratch = cap;
	return 0;
}

/* The highest score; among equals each has the same chance. */
static struct sched_node *select_host(struct sched *s, size_t n)
{
	size_t best = 0, ties = 1;

	for (size_t i = 1; i < n; i++) {
		if (s->score[i] > s->score[best]) {
			best = i;
			ties = 1;
		} else if (s->score[i] == s->score[best] && rng_next(s) % ++ties == 0)
			best = i;
	}
	return s->feasible[best];
}

int sched_schedule_one(struct sched *s, struct sched_pod *p, struct sched_result *res)
{
	struct sched_cycle c = { .s = s, .p = p };
	struct sched_diag diag;
	size_t want, found = 0, i;
	int r;

	memset(res, 0, sizeof(*res));
	if (!s->n_nodes) {
		snprintf(res->message, sizeof(res->message), "no nodes available to schedule pods");
		return 0;
	}
	if (p->prefilter_msg) {
		/* upstream's FitError with a PreFilter message: no per-node reasons */
		snprintf(res->message, sizeof(res->message), "0/%zu nodes are available: %s.",
			 s->n_nodes, p->prefilter_msg);
		return 0;
	}
	r = scratch(s);
	if (r >= 0)
		r = sched_prefilter(&c);
	if (r < 0)
		goto out;
	memset(&diag, 0, sizeof(diag));
	want = nodes_to_find(s, s->n_nodes);
	for (i = 0; i < s->n_nodes && found < want; i++) {
		struct sched_node *n = s->nodes[(s->next_start + i) % s->n_nodes];
		struct sched_why why;

		if (sched_filter_node(&c, n, &why))
			s->feasible[found++] = n;
		else
			sched_diag_add(&diag, &why);
	}
	s->next_start = (s->next_start + i) % s->n_nodes;
	res->evaluated = i;
	res->feasible = found;
	if (!found) {
		sched_diag_message(s, &diag, s->n_nodes, res->message, sizeof(res->message));
		goto out;
	}
	if (found == 1) {
		res->node = s->feasible[0];
		goto out;
	}
	r = sched_score_nodes(&c, s->feasible, found, s->score, s->part);
	if (r >= 0)
		res->node = select_host(s, found);
out:
	sched_cycle_release(&c);
	return r;
}

/* ---- plans ---- */

int sched_plan_binding(const struct sched_pod *p, const char *node, struct ctrl_plan *plan)
{
	json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}",
				 "apiVersion", "v1", "kind", "Binding",
				 "metadata", "name", p->name, "namespace", p->ns, "uid", p->uid,
				 "target", "apiVersion", "v1", "kind", "Node", "name", node);
	int r;

	if (!body)
		return -ENOMEM;
	r = ctrl_plan_add_sub(plan, CTRL_CREATE, "pods", "binding", p->ns, p->name, body);
	if (r < 0)
		return r;
	return ctrl_plan_event(plan, "pods", p->ns, p->name, "Normal", "Scheduled",
			       "Successfully assigned %s/%s to %s", p->ns, p->name, node);
}

/* The Warning Event, and the PodScheduled=False condition kubectl
 * describe shows (the driver sends it as a strategic merge patch); a
 * nominated "" clears the nomination (null). */
int sched_plan_failed(const struct sched_pod *p, const char *message, const char *nominated,
		      struct ctrl_plan *plan)
{
	json_t *patch = json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status", "conditions",
				  "type", "PodScheduled", "status", "False",
				  "reason", "Unschedulable", "message", message);
	int r;

	if (patch && nominated &&
	    json_object_set_new(json_object_get(patch, "status"), "nominatedNodeName",
				*nominated ? json_string(nominated) : json_null()) < 0) {
		json_decref(patch);
		patch = NULL;
	}
	if (!patch)
		return -ENOMEM;
	r = ctrl_plan_event(plan, "pods", p->ns, p->name, "Warning", "FailedScheduling", "%s",
			    message);
	if (r < 0) {
		json_decref(patch);
		return r;
	}
	return ctrl_plan_add_sub(plan, CTRL_PATCH, "pods", "status", p->ns, p->name, patch);
}

/* PostFilter: preemption, then the FailedScheduling plan with its
 * sentence, as upstream's FitError.Error(); the pod waits among the
 * unschedulable (its victims' deletes move it back). */
static int unschedulable(struct sched *s, struct sched_pod *p, unsigned long long now,
			 const struct sched_result *res, struct ctrl_plan *plan)
{
	struct sched_preemption pr;
	char msg[2 * SCHED_MSG_MAX];
	const char *nominated = NULL;
	int r;

	sched_queue_unschedulable(s, p, now);
	r = sched_preempt(s, p, &pr);
	if (r == 0 && pr.node) {
		sched_nominate(s, p, pr.node->name);
		nominated = pr.node->name;
		r = sched_plan_preemption(p, &pr, plan);
		if (r == 0)
			r = sched_clear_nominations(p, pr.node, plan);
	} else if (r == 0 && pr.clear_nominated && p->nominated) {
		/* upstream: a pod preemption cannot help loses its nomination */
		sched_unnominate(p);
		free(p->nominated);
		p->nominated = NULL;
		nominated = "";
	}
	snprintf(msg, sizeof(msg), "%s%s%s", res->message, pr.message[0] ? " " : "", pr.message);
	if (r == 0)
		r = sched_plan_failed(p, msg, nominated, plan);
	sched_preemption_release(&pr);
	return r;
}

int sched_cycle(struct sched *s, struct sched_pod *p, unsigned long long now,
		struct ctrl_plan *plan, struct sched_result *res)
{
	struct sched_result local;
	int r;

	if (!res)
		res = &local;
	r = sched_schedule_one(s, p, res);
	if (r < 0) {
		sched_queue_backoff(s, p, now);
		return r;
	}
	if (!res->node)
		return unschedulable(s, p, now, res, plan);
	r = sched_assume(s, p, res->node);
	if (r >= 0)
		r = sched_plan_binding(p, res->node->name, plan);
	if (r < 0)
		sched_bind_done(s, p->ns, p->name, r, now);
	return r;
}
