/* The filters, in the order of upstream's default profile, the state they
 * pre-compute once per cycle (PreFilter), and the FailedScheduling message
 * built from the reasons of every refused node. Reason texts are
 * upstream's, word for word (kubectl users and tools grep for them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

enum {
	WHY_UNSCHEDULABLE,
	WHY_NODE_NAME,
	WHY_TAINT,
	WHY_AFFINITY,
	WHY_PORTS,
	WHY_SPREAD_LABEL,
	WHY_SPREAD,
	WHY_POD_AFFINITY,
	WHY_POD_ANTI,
	WHY_EXISTING_ANTI,
	WHY_RES = 16, /* + resource slot: "Insufficient <name>" ("Too many pods") */
};

static const char *const why_text[] = {
	[WHY_UNSCHEDULABLE] = "node(s) were unschedulable",
	[WHY_NODE_NAME] = "node(s) didn't match the requested node name",
	[WHY_AFFINITY] = "node(s) didn't match Pod's node affinity/selector",
	[WHY_PORTS] = "node(s) didn't have free ports for the requested pod ports",
	[WHY_SPREAD_LABEL] = "node(s) didn't match pod topology spread constraints (missing required label)",
	[WHY_SPREAD] = "node(s) didn't match pod topology spread constraints",
	[WHY_POD_AFFINITY] = "node(s) didn't match pod affinity rules",
	[WHY_POD_ANTI] = "node(s) didn't match pod anti-affinity rules",
	[WHY_EXISTING_ANTI] = "node(s) didn't satisfy existing pods anti-affinity rules",
};

/* Upstream up to 1.32 names the first untolerated taint; 1.33 and later
 * say "node(s) had untolerated taint(s)". The issue asks for the former. */
#define TAINT_TEXT "node(s) had untolerated taint {%s: %s}"

/* ---- node affinity and taints ---- */

static bool req_matches(const struct sched_req *r, const char *have)
{
	bool in = false;
	char *end;
	long long v;

	for (size_t i = 0; have && i < r->n_values; i++)
		if (strcmp(have, r->values[i]) == 0)
			in = true;
	switch (r->op) {
	case SCHED_OP_IN:
		return in;
	case SCHED_OP_NOTIN:
		return !in;
	case SCHED_OP_EXISTS:
		return have != NULL;
	case SCHED_OP_DOESNOTEXIST:
		return have == NULL;
	case SCHED_OP_GT:
	case SCHED_OP_LT:
		if (!have)
			return false;
		v = strtoll(have, &end, 10);
		if (end == have || *end)
			return false;
		return r->op == SCHED_OP_GT ? v > r->num : v < r->num;
	}
	return false;
}

/* A NodeSelectorTerm: every requirement holds; an empty term matches no
 * node (as upstream). matchFields only knows metadata.name. */
bool sched_term_matches_node(const struct sched_term *t, const struct sched_node *n)
{
	if (!t->n_reqs && !t->n_fields)
		return false;
	for (size_t i = 0; i < t->n_reqs; i++)
		if (!req_matches(&t->reqs[i], sched_label(n->labels, t->reqs[i].key)))
			return false;
	for (size_t i = 0; i < t->n_fields; i++)
		if (!req_matches(&t->fields[i],
				 streq(t->fields[i].key, "metadata.name") ? n->name : NULL))
			return false;
	return true;
}

/* nodeSelector, then the required terms (ORed). */
static bool node_affinity_ok(const struct sched_pod *p, const struct sched_node *n)
{
	const char *k;
	json_t *v;

	json_object_foreach(p->node_selector, k, v)
		if (!streq(sched_label(n->labels, k), json_string_value(v)))
			return false;
	if (!p->has_node_req)
		return true;
	for (size_t i = 0; i < p->n_node_req; i++)
		if (sched_term_matches_node(&p->node_req[i], n))
			return true;
	return false;
}

bool sched_tolerates(const struct sched_toleration *tols, size_t n, const char *key,
		     const char *value, enum sched_effect effect)
{
	for (size_t i = 0; i < n; i++) {
		const struct sched_toleration *t = &tols[i];

		if (t->effect != SCHED_EFFECT_ALL && t->effect != effect)
			continue;
		if (t->key && !streq(t->key, key))
			continue;
		if (t->exists || streq(t->value, value))
			return true;
	}
	return false;
}

static const struct sched_taint *untolerated_taint(const struct sched_pod *p,
						   const struct sched_node *n)
{
	for (size_t i = 0; i < n->n_taints; i++) {
		const struct sched_taint *t = &n->taints[i];

		if (t->effect != SCHED_NO_SCHEDULE && t->effect != SCHED_NO_EXECUTE)
			continue;
		if (!sched_tolerates(p->tols, p->n_tols, t->key, t->value, t->effect))
			return t;
	}
	return NULL;
}

/* ---- host ports ---- */

static bool port_conflict(const struct sched_port *a, const struct sched_port *b)
{
	if (a->port != b->port || a->proto != b->proto)
		return false;
	return streq(a->ip, b->ip) || streq(a->ip, "0.0.0.0") || streq(b->ip, "0.0.0.0");
}

static bool ports_free(const struct sched_pod *p, const struct sched_node *n)
{
	if (!p->n_ports || !n->n_port_pods)
		return true;
	for (size_t i = 0; i < n->n_pods; i++) {
		const struct sched_pod *q = n->pods[i];

		for (size_t a = 0; a < q->n_ports; a++)
			for (size_t b = 0; b < p->n_ports; b++)
				if (port_conflict(&q->ports[a], &p->ports[b]))
					return false;
	}
	return true;
}

/* ---- resources: every insufficient one is a reason ---- */

/* The node's requests, with the pods nominated there that p must leave
 * room for. */
static uint64_t resources_short(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t with_nominated[SCHED_RES_MAX];
	const int64_t *used = n->req;
	uint64_t mask = 0;

	if (n->n_nominated) {
		memcpy(with_nominated, n->req, sizeof(with_nominated));
		sched_nominated_requests(p, n, with_nominated);
		used = with_nominated;
	}
	if (used[SCHED_PODS] + 1 > n->alloc[SCHED_PODS])
		mask |= 1ULL << (WHY_RES + SCHED_PODS);
	for (size_t k = 0; k < SCHED_RES_MAX; k++) {
		if (k == SCHED_PODS || p->req[k] <= 0)
			continue;
		if (p->req[k] > n->alloc[k] - used[k])
			mask |= 1ULL << (WHY_RES + k);
	}
	return mask;
}

/* ---- PreFilter: spread counts and pod (anti-)affinity counts ---- */

static int count_add(json_t *m, const char *key, json_int_t d)
{
	json_t *v = json_object_get(m, key);

	if (v)
		return json_integer_set(v, json_integer_value(v) + d);
	return json_object_set_new(m, key, json_integer(d));
}

static json_int_t count_get(json_t *m, const char *key)
{
	return json_integer_value(json_object_get(m, key));
}

static void pair_key(char *buf, size_t size, const char *k, const char *v)
{
	snprintf(buf, size, "%s\n%s", k, v);
}

bool sched_spread_counts(const struct sched_spread *c, const struct sched_pod *p,
			 const struct sched_pod *q)
{
	if (q->terminating || !streq(q->ns, p->ns))
		return false;
	return c->owner ? streq(q->owner, c->owner)
			: c->sel && kube_selector_match_labels(c->sel, q->labels);
}

/* Pods on n that a spread constraint of p counts. */
static json_int_t spread_matches(const struct sched_spread *c, const struct sched_pod *p,
				 const struct sched_node *n)
{
	json_int_t cnt = 0;

	for (size_t i = 0; i < n->n_pods; i++)
		cnt += sched_spread_counts(c, p, n->pods[i]);
	return cnt;
}

static bool has_spread_keys(const struct sched_pod *p, const struct sched_node *n, bool hard)
{
	for (size_t i = 0; i < p->n_spread; i++)
		if (p->spread[i].hard == hard && !sched_spread_value(&p->spread[i], n))
			return false;
	return true;
}

/* upstream matchNodeInclusionPolicies: whether n's domain counts for c
 * (nodeAffinityPolicy Honor: n matches p's node affinity and selector;
 * nodeTaintsPolicy Honor: p tolerates n's NoSchedule/NoExecute taints). */
bool sched_spread_includes(const struct sched_spread *c, const struct sched_pod *p,
			   const struct sched_node *n)
{
	if (!c->affinity_ignore && !node_affinity_ok(p, n))
		return false;
	return !c->taints_honor || !untolerated_taint(p, n);
}

/* The global minimum of a hard constraint (0 below minDomains). */
static void spread_min(struct sched_spread_state *st, const struct sched_spread *c)
{
	const char *k;
	json_t *v;

	st->min = INT64_MAX;
	json_object_foreach(st->counts, k, v)
		if (json_integer_value(v) < st->min)
			st->min = json_integer_value(v);
	if (st->min == INT64_MAX || json_object_size(st->counts) < (size_t)c->min_domains)
		st->min = 0;
}

static int prefilter_spread(struct sched_cycle *c)
{
	const struct sched_pod *p = c->p;
	struct sched *s = c->s;

	c->spread = calloc(p->n_spread, sizeof(*c->spread));
	if (!c->spread)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_spread; i++)
		if (p->spread[i].hard && !(c->spread[i].counts = json_object()))
			return -ENOMEM;
	for (size_t j = 0; j < s->n_nodes; j++) {
		const struct sched_node *n = s->nodes[j];

		if (!has_spread_keys(p, n, true))
			continue;
		for (size_t i = 0; i < p->n_spread; i++)
			if (p->spread[i].hard && sched_spread_includes(&p->spread[i], p, n) &&
			    count_add(c->spread[i].counts,
				      sched_spread_value(&p->spread[i], n),
				      spread_matches(&p->spread[i], p, n)) < 0)
				return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_spread; i++)
		if (p->spread[i].hard)
			spread_min(&c->spread[i], &p->spread[i]);
	return 0;
}

static bool matches_all(const struct sched_pod_term *t, size_t n, const struct sched_pod *owner,
			const struct sched_pod *q)
{
	for (size_t i = 0; i < n; i++)
		if (!sched_term_matches_pod(&t[i], owner, q))
			return false;
	return true;
}

/* Counts by topology pair: placed pods that p's required terms select, and
 * placed pods whose required anti-affinity refuses p. */
static int prefilter_affinity(struct sched_cycle *c)
{
	const struct sched_pod *p = c->p;
	struct sched *s = c->s;
	char key[512];

	for (size_t i = 0; i < s->n_affine; i++) {
		const struct sched_pod *e = s->affine[i];

		for (size_t t = 0; t < e->n_anti_req; t++) {
			const char *v = sched_label(e->node->labels, e->anti_req[t].topology_key);

			if (!v || !sched_term_matches_pod(&e->anti_req[t], e, p))
				continue;
			if (!c->existing_anti && !(c->existing_anti = json_object()))
				return -ENOMEM;
			pair_key(key, sizeof(key), e->anti_req[t].topology_key, v);
			if (count_add(c->existing_anti, key, 1) < 0)
				return -ENOMEM;
		}
	}
	if (!p->n_aff_req && !p->n_anti_req)
		return 0;
	c->aff_counts = json_object();
	c->anti_counts = json_object();
	if (!c->aff_counts || !c->anti_counts)
		return -ENOMEM;
	c->self_affine = matches_all(p->aff_req, p->n_aff_req, p, p);
	for (size_t j = 0; j < s->n_nodes; j++) {
		const struct sched_node *n = s->nodes[j];

		for (size_t k = 0; k < n->n_pods; k++) {
			const struct sched_pod *q = n->pods[k];
			bool all = p->n_aff_req && matches_all(p->aff_req, p->n_aff_req, p, q);

			for (size_t t = 0; all && t < p->n_aff_req; t++) {
				const char *v = sched_label(n->labels, p->aff_req[t].topology_key);

				pair_key(key, sizeof(key), p->aff_req[t].topology_key, v ? v : "");
				if (v && count_add(c->aff_counts, key, 1) < 0)
					return -ENOMEM;
			}
			for (size_t t = 0; t < p->n_anti_req; t++) {
				const char *v = sched_label(n->labels, p->anti_req[t].topology_key);

				if (!v || !sched_term_matches_pod(&p->anti_req[t], p, q))
					continue;
				pair_key(key, sizeof(key), p->anti_req[t].topology_key, v);
				if (count_add(c->anti_counts, key, 1) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

/* ---- the cycle's counts with a pod taken off or put back ----
 *
 * upstream's PreFilterExtensions RemovePod/AddPod, which preemption runs
 * for every victim it tries: the spread counts and the pod (anti-)affinity
 * counts follow the node as the filters will see it. */

/* Adds d to a count, dropping it at zero (as upstream's
 * topologyToMatchedTermCount: an empty map means no match anywhere). */
static int count_move(json_t *m, const char *key, json_int_t d)
{
	json_t *v = json_object_get(m, key);

	if (v && json_integer_value(v) + d == 0)
		return json_object_del(m, key);
	return count_add(m, key, d);
}

static void update_spread(struct sched_cycle *c, const struct sched_node *n,
			  const struct sched_pod *q, int d)
{
	const struct sched_pod *p = c->p;

	if (!c->spread || !has_spread_keys(p, n, true))
		return;
	for (size_t i = 0; i < p->n_spread; i++) {
		const struct sched_spread *k = &p->spread[i];
		struct sched_spread_state *st = &c->spread[i];
		const char *v = sched_spread_value(k, n);
		json_int_t before;

		if (!k->hard || !sched_spread_includes(k, p, n) || !sched_spread_counts(k, p, q))
			continue;
		before = count_get(st->counts, v);
		count_add(st->counts, v, d);
		if (json_object_size(st->counts) < (size_t)k->min_domains)
			continue;
		if (d < 0 && before + d < st->min)
			st->min = before + d;
		else if (d > 0 && before == st->min)
			spread_min(st, k);
	}
}

static void update_affinity(struct sched_cycle *c, const struct sched_node *n,
			    const struct sched_pod *q, int d)
{
	const struct sched_pod *p = c->p;
	char key[512];

	for (size_t t = 0; t < q->n_anti_req; t++) {
		const char *v = sched_label(n->labels, q->anti_req[t].topology_key);

		if (!v || !sched_term_matches_pod(&q->anti_req[t], q, p))
			continue;
		if (!c->existing_anti && !(c->existing_anti = json_object()))
			return;
		pair_key(key, sizeof(key), q->anti_req[t].topology_key, v);
		count_move(c->existing_anti, key, d);
	}
	if (!c->aff_counts)
		return;
	for (size_t t = 0; p->n_aff_req && matches_all(p->aff_req, p->n_aff_req, p, q) &&
			   t < p->n_aff_req; t++) {
		const char *v = sched_label(n->labels, p->aff_req[t].topology_key);

		pair_key(key, sizeof(key), p->aff_req[t].topology_key, v ? v : "");
		if (v)
			count_move(c->aff_counts, key, d);
	}
	for (size_t t = 0; t < p->n_anti_req; t++) {
		const char *v = sched_label(n->labels, p->anti_req[t].topology_key);

		if (!v || !sched_term_matches_pod(&p->anti_req[t], p, q))
			continue;
		pair_key(key, sizeof(key), p->anti_req[t].topology_key, v);
		count_move(c->anti_counts, key, d);
	}
}

void sched_cycle_update(struct sched_cycle *c, const struct sched_node *n,
			const struct sched_pod *q, int d)
{
	update_spread(c, n, q, d);
	update_affinity(c, n, q, d);
}

int sched_prefilter(struct sched_cycle *c)
{
	int r = 0;

	for (size_t i = 0; i < c->p->n_spread; i++)
		if (c->p->spread[i].hard) {
			r = prefilter_spread(c);
			break;
		}
	if (r >= 0)
		r = prefilter_affinity(c);
	return r;
}

void sched_cycle_release(struct sched_cycle *c)
{
	for (size_t i = 0; c->spread && i < c->p->n_spread; i++)
		json_decref(c->spread[i].counts);
	free(c->spread);
	json_decref(c->aff_counts);
	json_decref(c->anti_counts);
	json_decref(c->existing_anti);
	c->spread = NULL;
	c->aff_counts = c->anti_counts = c->existing_anti = NULL;
}

/* ---- the spread and inter-pod filters ---- */

static int spread_ok(const struct sched_cycle *c, const struct sched_node *n)
{
	const struct sched_pod *p = c->p;

	for (size_t i = 0; c->spread && i < p->n_spread; i++) {
		const struct sched_spread *k = &p->spread[i];
		const char *v;
		json_int_t self;

		if (!k->hard)
			continue;
		v = sched_spread_value(k, n);
		if (!v)
			return WHY_SPREAD_LABEL;
		self = k->sel && kube_selector_match_labels(k->sel, p->labels) ? 1 : 0;
		if (count_get(c->spread[i].counts, v) + self - c->spread[i].min > k->max_skew)
			return WHY_SPREAD;
	}
	return -1;
}

static int pod_affinity_ok(const struct sched_cycle *c, const struct sched_node *n)
{
	const struct sched_pod *p = c->p;
	char key[512];

	if (p->n_aff_req) {
		bool exist = true;

		for (size_t t = 0; t < p->n_aff_req; t++) {
			const char *v = sched_label(n->labels, p->aff_req[t].topology_key);

			if (!v)
				return WHY_POD_AFFINITY;
			pair_key(key, sizeof(key), p->aff_req[t].topology_key, v);
			if (count_get(c->aff_counts, key) <= 0)
				exist = false;
		}
		/* The first pod of a group that selects itself may go anywhere. */
		if (!exist && !(json_object_size(c->aff_counts) == 0 && c->self_affine))
			return WHY_POD_AFFINITY;
	}
	for (size_t t = 0; t < p->n_anti_req; t++) {
		const char *v = sched_label(n->labels, p->anti_req[t].topology_key);

		pair_key(key, sizeof(key), p->anti_req[t].topology_key, v ? v : "");
		if (v && count_get(c->anti_counts, key) > 0)
			return WHY_POD_ANTI;
	}
	if (c->existing_anti) {
		const char *k;
		json_t *cnt;

		json_object_foreach(c->existing_anti, k, cnt) {
			const char *nl = strchr(k, '\n');
			char tk[512];

			if (!nl || json_integer_value(cnt) <= 0 || (size_t)(nl - k) >= sizeof(tk))
				continue;
			memcpy(tk, k, (size_t)(nl - k));
			tk[nl - k] = 0;
			if (streq(sched_label(n->labels, tk), nl + 1))
				return WHY_EXISTING_ANTI;
		}
	}
	return -1;
}

/* Every filter, in upstream's order; stops at the first that refuses (all
 * the missing resources are reasons of that one filter). */
bool sched_filter_node(const struct sched_cycle *c, const struct sched_node *n,
		       struct sched_why *why)
{
	const struct sched_pod *p = c->p;
	int w;

	why->mask = 0;
	why->taint = NULL;
	if (n->unschedulable &&
	    !sched_tolerates(p->tols, p->n_tols, SCHED_TAINT_UNSCHEDULABLE, "", SCHED_NO_SCHEDULE))
		w = WHY_UNSCHEDULABLE;
	else if (p->node_name[0] && !streq(p->node_name, n->name))
		w = WHY_NODE_NAME;
	else if (n->n_taints && (why->taint = untolerated_taint(p, n)))
		w = WHY_TAINT;
	else if (!node_affinity_ok(p, n))
		w = WHY_AFFINITY;
	else if (!ports_free(p, n))
		w = WHY_PORTS;
	else if ((why->mask = resources_short(p, n)))
		return false;
	else if ((w = spread_ok(c, n)) < 0 && (w = pod_affinity_ok(c, n)) < 0)
		return true;
	why->mask = 1ULL << w;
	return false;
}

/* Whether taking pods off the node can lift the refusal (upstream's
 * Unschedulable, not UnschedulableAndUnresolvable): resources, host
 * ports, spreading, pod anti-affinity and existing pods' anti-affinity. */
bool sched_why_resolvable(const struct sched_why *why)
{
	const uint64_t unresolvable = 1ULL << WHY_UNSCHEDULABLE | 1ULL << WHY_NODE_NAME |
				      1ULL << WHY_TAINT | 1ULL << WHY_AFFINITY |
				      1ULL << WHY_SPREAD_LABEL | 1ULL << WHY_POD_AFFINITY;

	return !why->taint && why->mask && !(why->mask & unresolvable);
}

/* ---- the FailedScheduling message ---- */

void sched_diag_add(struct sched_diag *d, const struct sched_why *why)
{
	for (unsigned b = 0; b < 64; b++)
		if (why->mask & (1ULL << b))
			d->count[b]++;
	if (!why->taint)
		return;
	d->count[WHY_TAINT]--;
	for (size_t i = 0; i < d->n_taints; i++)
		if (streq(d->taints[i].t->key, why->taint->key) &&
		    streq(d->taints[i].t->value, why->taint->value)) {
			d->taints[i].n++;
			return;
		}
	if (d->n_taints < ARRAY_SIZE(d->taints))
		d->taints[d->n_taints++] = (typeof(d->taints[0])){ why->taint, 1 };
	else
		d->other_taints++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "0/N nodes are available: <count> <reason>, ... ." with the reasons
 * sorted as strings, as upstream's FitError.Error(). */
void sched_diag_message(const struct sched *s, const struct sched_diag *d, size_t n_nodes,
			char *buf, size_t size)
{
	char lines[64 + ARRAY_SIZE(d->taints) + 3][320], *sorted[ARRAY_SIZE(lines)];
	size_t n = 0, off;

	if (!n_nodes) {
		snprintf(buf, size, "no nodes available to schedule pods");
		return;
	}
	for (unsigned b = 0; b < 64; b++) {
		if (!d->count[b])
			continue;
		if (b == WHY_RES + SCHED_PODS)
			snprintf(lines[n], sizeof(lines[n]), "%zu Too many pods", d->count[b]);
		else if (b >= WHY_RES)
			snprintf(lines[n], sizeof(lines[n]), "%zu Insufficient %s", d->count[b],
				 sched_res_name(s, b - WHY_RES));
		else
			snprintf(lines[n], sizeof(lines[n]), "%zu %s", d->count[b],
				 why_text[b] ? why_text[b] : "node(s) were refused");
		n++;
	}
	for (size_t i = 0; i < d->n_taints; i++) {
		int k = snprintf(lines[n], sizeof(lines[n]), "%zu ", d->taints[i].n);

		snprintf(lines[n] + k, sizeof(lines[n]) - (size_t)k, TAINT_TEXT,
			 d->taints[i].t->key, d->taints[i].t->value);
		n++;
	}
	if (d->other_taints)
		snprintf(lines[n++], sizeof(lines[0]), "%zu node(s) had untolerated taint(s)",
			 d->other_taints);
	if (d->not_helpful)
		snprintf(lines[n++], sizeof(lines[0]), "%zu Preemption is not helpful for scheduling",
			 d->not_helpful);
	if (d->no_victims)
		snprintf(lines[n++], sizeof(lines[0]),
			 "%zu No preemption victims found for incoming pod", d->no_victims);
	for (size_t i = 0; i < n; i++)
		sorted[i] = lines[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_str);
	off = (size_t)snprintf(buf, size, "0/%zu nodes are available:", n_nodes);
	for (size_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s %s", i ? "," : "", sorted[i]);
	if (off < size)
		snprintf(buf + off, size - off, ".");
}
