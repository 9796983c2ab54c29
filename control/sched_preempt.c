/* Preemption, as upstream's DefaultPreemption PostFilter
 * (pkg/scheduler/framework/plugins/defaultpreemption with the preemption
 * package): a pod that fit nowhere and may preempt picks one node where
 * deleting pods of lower priority makes room, and the fewest, least
 * important of them.
 *
 * Eligible: preemptionPolicy is not Never, and the pod is not already
 * nominated to a node where a lower-priority pod is still terminating
 * (its earlier victims are on their way out).
 * Candidates: nodes refused only for reasons removing pods can resolve
 * (resources, host ports, pod anti-affinity, spreading; not cordon,
 * node name, taints, node affinity, missing topology labels or required
 * pod affinity, upstream's UnschedulableAndUnresolvable). On each one
 * every lower-priority pod is taken off; if the pod then fits, they are
 * put back one at a time, most important first (higher priority, then
 * older), those a PodDisruptionBudget protects before the others, and
 * whoever no longer lets the pod fit stays a victim. The walk stops after
 * max(10% of the nodes, 100) candidates, as upstream's dry run.
 * The node: fewest PDB violations, then the lowest most-important victim,
 * the lowest sum of priorities, the fewest victims, the latest start of
 * the most important victims, as upstream's pickOneNodeForPreemption.
 *
 * The counts of spreading and pod (anti-)affinity follow every pod taken
 * off and put back (upstream's RemovePod/AddPod PreFilter extensions), so
 * a victim can make room for them too.
 *
 * When nothing helps, the FailedScheduling message gets upstream's
 * PostFilter sentence: "preemption: 0/N nodes are available: <count>
 * <reason>, ..." with, per node, "Preemption is not helpful for
 * scheduling" (refused for reasons removing pods cannot lift), "No
 * preemption victims found for incoming pod" (no pod of lower priority),
 * or the filters' reasons with every lower-priority pod off; or
 * "preemption: not eligible due to ..." for a pod that may not preempt.
 * The victims' writes are upstream's PreemptPod: the DisruptionTarget
 * condition, the delete, the Preempted Event; a victim already
 * terminating is left alone. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define MIN_CANDIDATES 100
#define MIN_CANDIDATES_PERCENT 10

/* ---- PodDisruptionBudgets ---- */

struct sched_pdb {
	char *ns;
	struct kube_selector *sel; /* NULL: an empty selector, matching nothing here */
	long long allowed;         /* status.disruptionsAllowed */
	json_t *disrupted;         /* status.disruptedPods (a reference), or NULL */
};

static void pdb_free(struct sched_pdb *b)
{
	if (!b)
		return;
	free(b->ns);
	kube_selector_free(b->sel);
	json_decref(b->disrupted);
	free(b);
}

static struct sched_pdb *pdb_at(json_t *v)
{
	return (struct sched_pdb *)(uintptr_t)json_integer_value(v);
}

int sched_pdb_upsert(struct sched *s, json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata"), *sel;
	json_t *status = json_object_get(obj, "status");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	struct sched_pdb *b;
	char key[320];

	if (!ns || !name)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->ns = strdup(ns))) {
		pdb_free(b);
		return -ENOMEM;
	}
	sel = json_object_get(json_object_get(obj, "spec"), "selector");
	if (json_object_size(json_object_get(sel, "matchLabels")) ||
	    json_array_size(json_object_get(sel, "matchExpressions"))) {
		int r = kube_selector_from_json(sel, &b->sel);

		if (r < 0) {
			pdb_free(b);
			return r;
		}
	}
	b->allowed = json_integer_value(json_object_get(status, "disruptionsAllowed"));
	b->disrupted = json_incref(json_object_get(status, "disruptedPods"));
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	sched_pdb_delete(s, ns, name);
	if (json_object_set_new(s->pdbs, key, json_integer((json_int_t)(uintptr_t)b)) < 0) {
		pdb_free(b);
		return -ENOMEM;
	}
	return 0;
}

int sched_pdb_delete(struct sched *s, const char *ns, const char *name)
{
	char key[320];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	pdb_free(pdb_at(json_object_get(s->pdbs, key)));
	json_object_del(s->pdbs, key);
	return 0;
}

void sched_pdbs_release(struct sched *s)
{
	const char *k;
	json_t *v;

	json_object_foreach(s->pdbs, k, v)
		pdb_free(pdb_at(v));
	json_decref(s->pdbs);
}

/* upstream filterPodsWithPDBViolation: walking the victims in order, each
 * matching budget gives one disruption; a pod whose budget runs out is
 * violating (viol[i] = true). Pods the budget lists as disrupted already
 * cost nothing. */
static int pdb_violations(struct sched *s, struct sched_pod **v, size_t n, bool *viol)
{
	size_t n_pdbs = json_object_size(s->pdbs), i = 0;
	_cleanup_free_ long long *left = calloc(n_pdbs + 1, sizeof(*left));
	_cleanup_free_ struct sched_pdb **pdbs = calloc(n_pdbs + 1, sizeof(*pdbs));
	const char *k;
	json_t *val;

	if (!left || !pdbs)
		return -ENOMEM;
	json_object_foreach(s->pdbs, k, val) {
		pdbs[i] = pdb_at(val);
		left[i] = pdbs[i]->allowed;
		i++;
	}
	for (size_t j = 0; j < n; j++) {
		viol[j] = false;
		for (i = 0; i < n_pdbs; i++) {
			struct sched_pdb *b = pdbs[i];

			if (!b->sel || !streq(b->ns, v[j]->ns) ||
			    !kube_selector_match_labels(b->sel, v[j]->labels) ||
			    json_object_get(b->disrupted, v[j]->name))
				continue;
			if (--left[i] < 0)
				viol[j] = true;
		}
	}
	return 0;
}

/* ---- nominations ---- */

void sched_unnominate(struct sched_pod *p)
{
	struct sched_node *n = p->nom_node;

	if (!n)
		return;
	n->nominated[p->nom_slot] = n->nominated[--n->n_nominated];
	n->nominated[p->nom_slot]->nom_slot = p->nom_slot;
	p->nom_node = NULL;
}

void sched_nominate(struct sched *s, struct sched_pod *p, const char *node)
{
	struct sched_node *n = sched_node_find(s, node);

	sched_unnominate(p);
	if (!p->nominated || !streq(p->nominated, node)) {
		char *dup = strdup(node);

		if (!dup)
			return;
		free(p->nominated);
		p->nominated = dup;
	}
	if (!n || p->state != SCHED_POD_PENDING ||
	    grow_array(&n->nominated, &n->cap_nominated, n->n_nominated + 1,
		       sizeof(*n->nominated)) < 0)
		return;
	p->nom_node = n;
	p->nom_slot = n->n_nominated;
	n->nominated[n->n_nominated++] = p;
}

void sched_node_drop_nominated(struct sched_node *n)
{
	while (n->n_nominated)
		sched_unnominate(n->nominated[n->n_nominated - 1]);
	free(n->nominated);
	n->nominated = NULL;
	n->cap_nominated = 0;
}

void sched_nominated_requests(const struct sched_pod *p, const struct sched_node *n, int64_t *req)
{
	for (size_t i = 0; i < n->n_nominated; i++) {
		const struct sched_pod *q = n->nominated[i];

		if (q == p || q->priority < p->priority)
			continue;
		for (size_t k = 0; k < SCHED_RES_MAX; k++)
			req[k] += q->req[k];
	}
}

int sched_clear_nominations(const struct sched_pod *p, struct sched_node *n, struct ctrl_plan *plan)
{
	int r = 0;

	for (size_t i = n->n_nominated; r == 0 && i-- > 0;) {
		struct sched_pod *q = n->nominated[i];

		if (q == p || q->priority >= p->priority)
			continue;
		sched_unnominate(q);
		free(q->nominated);
		q->nominated = NULL;
		r = ctrl_plan_add_sub(plan, CTRL_PATCH, "pods", "status", q->ns, q->name,
				      json_pack("{s:{s:n}}", "status", "nominatedNodeName"));
	}
	return r;
}

/* ---- taking pods off a node for a trial ----
 *
 * Hidden pods sit past n->n_pods in n->pods, their requests off the node's
 * sums, so the filters see the node without them. */

static void slot_swap(struct sched_node *n, size_t a, size_t b)
{
	struct sched_pod *t = n->pods[a];

	n->pods[a] = n->pods[b];
	n->pods[b] = t;
	n->pods[a]->node_slot = a;
	n->pods[b]->node_slot = b;
}

static void count(struct sched_node *n, const struct sched_pod *q, int sign)
{
	for (size_t k = 0; k < SCHED_RES_MAX; k++)
		n->req[k] += sign * q->req[k];
	n->nonzero_cpu += sign * q->nonzero_cpu;
	n->nonzero_mem += sign * q->nonzero_mem;
	if (q->n_ports)
		n->n_port_pods = (size_t)((long)n->n_port_pods + sign);
}

static void hide(struct sched_cycle *c, struct sched_node *n, struct sched_pod *q)
{
	slot_swap(n, q->node_slot, n->n_pods - 1);
	n->n_pods--;
	count(n, q, -1);
	sched_cycle_update(c, n, q, -1);
}

static void unhide(struct sched_cycle *c, struct sched_node *n, struct sched_pod *q)
{
	slot_swap(n, q->node_slot, n->n_pods);
	n->n_pods++;
	count(n, q, 1);
	sched_cycle_update(c, n, q, 1);
}

/* upstream MoreImportantPod: higher priority, then the older. */
static int importance_cmp(const void *a, const void *b)
{
	const struct sched_pod *x = *(struct sched_pod *const *)a;
	const struct sched_pod *y = *(struct sched_pod *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->created < y->created ? -1 : x->created > y->created;
}

/* One node's trial. */
struct trial {
	struct sched_node *node;
	struct sched_pod **victims;
	size_t n_victims, violations;
};

/* Puts q back if p still fits with it; else q stays a victim. */
static bool reprieve(struct sched_cycle *c, struct sched_node *n, struct sched_pod *q)
{
	struct sched_why why;

	unhide(c, n, q);
	if (sched_filter_node(c, n, &why))
		return true;
	hide(c, n, q);
	return false;
}

/* upstream selectVictimsOnNode: 1 with t filled; 0 when taking every
 * lower-priority pod off still leaves no room (*why: the filters'
 * reasons; no reason: there is no such pod); or -ENOMEM. The node and
 * the cycle's counts are as they were on return. */
static int select_victims(struct sched_cycle *c, struct sched_node *n, struct trial *t,
			  struct sched_why *why)
{
	const struct sched_pod *p = c->p;
	size_t total = n->n_pods, m = 0;
	struct sched_pod **lower = calloc(total + 1, sizeof(*lower));
	bool *viol = calloc(total + 1, sizeof(*viol));
	int r = 0;

	if (!lower || !viol) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n->n_pods; i++)
		if (n->pods[i]->priority < p->priority)
			lower[m++] = n->pods[i];
	why->mask = 0;
	why->taint = NULL;
	for (size_t i = 0; i < m; i++)
		hide(c, n, lower[i]);
	if (!m || !sched_filter_node(c, n, why))
		goto restore;
	qsort(lower, m, sizeof(*lower), importance_cmp);
	r = pdb_violations(c->s, lower, m, viol);
	if (r < 0)
		goto restore;
	t->node = n;
	t->victims = calloc(m, sizeof(*t->victims));
	if (!t->victims) {
		r = -ENOMEM;
		goto restore;
	}
	for (int pass = 0; pass < 2; pass++) /* the protected ones first */
		for (size_t i = 0; i < m; i++)
			if (viol[i] == !pass && !reprieve(c, n, lower[i])) {
				t->victims[t->n_victims++] = lower[i];
				t->violations += viol[i];
			}
	qsort(t->victims, t->n_victims, sizeof(*t->victims), importance_cmp);
	r = 1;
restore:
	while (n->n_pods < total)
		unhide(c, n, n->pods[n->n_pods]);
out:
	free(lower);
	free(viol);
	return r;
}

/* The oldest start among the victims of the highest priority. */
static long long top_start(const struct trial *t)
{
	long long at = t->victims[0]->created;

	for (size_t i = 1; i < t->n_victims && t->victims[i]->priority == t->victims[0]->priority; i++)
		if (t->victims[i]->created < at)
			at = t->victims[i]->created;
	return at;
}

/* upstream pickOneNodeForPreemption: whether a beats b. */
static bool better(const struct trial *a, const struct trial *b)
{
	long long sa = 0, sb = 0;

	if (a->violations != b->violations)
		return a->violations < b->violations;
	if (!a->n_victims || !b->n_victims)
		return a->n_victims < b->n_victims;
	if (a->victims[0]->priority != b->victims[0]->priority)
		return a->victims[0]->priority < b->victims[0]->priority;
	for (size_t i = 0; i < a->n_victims; i++)
		sa += (long long)a->victims[i]->priority + INT32_MAX + 1;
	for (size_t i = 0; i < b->n_victims; i++)
		sb += (long long)b->victims[i]->priority + INT32_MAX + 1;
	if (sa != sb)
		return sa < sb;
	if (a->n_victims != b->n_victims)
		return a->n_victims < b->n_victims;
	return top_start(a) > top_start(b);
}

/* upstream PodEligibleToPreemptOthers: NULL, or why not. */
static const char *not_eligible(const struct sched *s, const struct sched_pod *p)
{
	const struct sched_node *n;

	if (p->preempt_never)
		return "not eligible due to preemptionPolicy=Never.";
	if (!p->nominated || !(n = sched_node_find(s, p->nominated)))
		return NULL;
	for (size_t i = 0; i < n->n_pods; i++)
		if (n->pods[i]->terminating && n->pods[i]->priority < p->priority)
			return "not eligible due to a terminating pod on the nominated node.";
	return NULL;
}

/* Tries one node; keeps the better trial in best, or counts why the node
 * cannot help in d. 1: a candidate; 0: none; -ENOMEM. */
static int try_node(struct sched_cycle *c, struct sched_node *n, struct trial *best,
		    struct sched_diag *d)
{
	struct trial t = { 0 };
	struct sched_why why;
	int r;

	if (!sched_filter_node(c, n, &why) && !sched_why_resolvable(&why)) {
		d->not_helpful++;
		return 0;
	}
	r = select_victims(c, n, &t, &why);
	if (r == 0 && why.mask)
		sched_diag_add(d, &why);
	else if (r == 0)
		d->no_victims++;
	if (r <= 0)
		return r;
	if (!best->node || better(&t, best)) {
		free(best->victims);
		*best = t;
	} else {
		free(t.victims);
	}
	return 1;
}

int sched_preempt(struct sched *s, struct sched_pod *p, struct sched_preemption *out)
{
	struct sched_cycle c = { .s = s, .p = p };
	struct trial best = { 0 };
	size_t want = s->n_nodes * MIN_CANDIDATES_PERCENT / 100, found = 0;
	const char *why_not = not_eligible(s, p);
	struct sched_diag diag;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&diag, 0, sizeof(diag));
	out->scheduler = s->o.scheduler_name;
	if (why_not) {
		snprintf(out->message, sizeof(out->message), "preemption: %s", why_not);
		return 0;
	}
	if (!s->n_nodes)
		return 0;
	if (want < MIN_CANDIDATES)
		want = MIN_CANDIDATES;
	r = sched_prefilter(&c);
	if (p->prefilter_msg) /* refused before the filters: on every node */
		diag.not_helpful = s->n_nodes;
	for (size_t i = 0; r >= 0 && !p->prefilter_msg && i < s->n_nodes && found < want; i++) {
		r = try_node(&c, s->nodes[i], &best, &diag);
		found += r > 0;
	}
	sched_cycle_release(&c);
	if (r < 0) {
		free(best.victims);
		return r;
	}
	if (!best.node) {
		out->clear_nominated = true;
		memcpy(out->message, "preemption: ", 12);
		sched_diag_message(s, &diag, s->n_nodes, out->message + 12,
				   sizeof(out->message) - 12);
	}
	out->node = best.node;
	out->victims = best.victims;
	out->n_victims = best.n_victims;
	out->pdb_violations = best.violations;
	return 0;
}

void sched_preemption_release(struct sched_preemption *pr)
{
	free(pr->victims);
	memset(pr, 0, sizeof(*pr));
}

/* upstream prepareCandidate, as writes: each victim gets the
 * DisruptionTarget condition (reason PreemptionByScheduler), then is
 * deleted with its Preempted Event; a victim already terminating is on
 * its way out and left alone. The preemptor's nomination is written with
 * its FailedScheduling status (sched_plan_failed). */
int sched_plan_preemption(const struct sched_pod *p, const struct sched_preemption *pr,
			  struct ctrl_plan *plan)
{
	char msg[256];
	int r = 0;

	snprintf(msg, sizeof(msg), "%s: preempting to accommodate a higher priority pod",
		 pr->scheduler ? pr->scheduler : "default-scheduler");
	for (size_t i = 0; r == 0 && i < pr->n_victims; i++) {
		const struct sched_pod *v = pr->victims[i];

		if (v->terminating)
			continue;
		r = ctrl_plan_add_sub(plan, CTRL_PATCH, "pods", "status", v->ns, v->name,
				      json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status",
						"conditions", "type", "DisruptionTarget",
						"status", "True", "reason", "PreemptionByScheduler",
						"message", msg));
		if (r == 0)
			r = ctrl_plan_add(plan, CTRL_DELETE, "pods", v->ns, v->name,
					  json_pack("{s:{s:s}}", "preconditions", "uid", v->uid));
		if (r == 0)
			r = ctrl_plan_event(plan, "pods", v->ns, v->name, "Normal", "Preempted",
					    "Preempted by pod %s on node %s", p->uid, pr->node->name);
	}
	return r;
}
