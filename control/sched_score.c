/* The scores of the feasible nodes, each plugin normalised to 0..100 as
 * upstream's NormalizeScore does, then weighted and summed with the
 * default profile's weights. A plugin with nothing to say for this pod
 * (no preferred terms, no soft constraint) is skipped as upstream's
 * PreScore skips it: it would add the same to every node. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define MAX_SCORE 100

enum {
	WEIGHT_TAINT = 3,
	WEIGHT_NODE_AFFINITY = 2,
	WEIGHT_SPREAD = 2,
	WEIGHT_POD_AFFINITY = 2,
	WEIGHT_FIT = 1,
	WEIGHT_BALANCED = 1,
};

/* DefaultNormalizeScore: scaled to the maximum; reverse turns "more is
 * worse" counts into scores. */
static void normalize(int64_t *v, size_t n, bool reverse)
{
	int64_t max = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	for (size_t i = 0; i < n; i++) {
		if (!max) {
			v[i] = reverse ? MAX_SCORE : 0;
			continue;
		}
		v[i] = v[i] * MAX_SCORE / max;
		if (reverse)
			v[i] = MAX_SCORE - v[i];
	}
}

static void add_weighted(int64_t *out, const int64_t *part, size_t n, int weight)
{
	for (size_t i = 0; i < n; i++)
		out[i] += part[i] * weight;
}

/* Adds d to the count of "key\nvalue" (value NULL: of key alone). */
static int topo_add(json_t *topo, const char *key, const char *value, int64_t d)
{
	char k[512];
	json_t *v;

	if (value)
		snprintf(k, sizeof(k), "%s\n%s", key, value);
	v = json_object_get(topo, value ? k : key);
	if (v)
		return json_integer_set(v, json_integer_value(v) + d);
	return json_object_set_new(topo, value ? k : key, json_integer(d));
}

/* ---- NodeResourcesFit (LeastAllocated) and BalancedAllocation ---- */

static int64_t least_one(int64_t req, int64_t cap)
{
	if (cap == 0 || req > cap)
		return 0;
	return (cap - req) * MAX_SCORE / cap;
}

/* cpu and memory, weight 1 each, with the non-zero request defaults. */
static int64_t least_allocated(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t sum = 0, w = 0;

	if (n->alloc[SCHED_CPU]) {
		sum += least_one(n->nonzero_cpu + p->nonzero_cpu, n->alloc[SCHED_CPU]);
		w++;
	}
	if (n->alloc[SCHED_MEM]) {
		sum += least_one(n->nonzero_mem + p->nonzero_mem, n->alloc[SCHED_MEM]);
		w++;
	}
	return w ? sum / w : 0;
}

/* 1 - the standard deviation of the cpu and memory fractions (requests,
 * the pod's included), so nodes used evenly win. */
static int64_t balanced(const struct sched_pod *p, const struct sched_node *n)
{
	double f[2];
	size_t k = 0;

	for (size_t r = SCHED_CPU; r <= SCHED_MEM; r++) {
		if (!n->alloc[r])
			continue;
		f[k] = (double)(n->req[r] + p->req[r]) / (double)n->alloc[r];
		if (f[k] > 1)
			f[k] = 1;
		k++;
	}
	double std = k == 2 ? fabs(f[0] - f[1]) / 2 : 0;

	return (int64_t)((1 - std) * MAX_SCORE);
}

/* ---- TaintToleration and preferred NodeAffinity ---- */

static int64_t intolerable_prefer(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t cnt = 0;

	for (size_t i = 0; i < n->n_taints; i++)
		if (n->taints[i].effect == SCHED_PREFER_NO_SCHEDULE &&
		    !sched_tolerates(p->tols, p->n_tols, n->taints[i].key, n->taints[i].value,
				     SCHED_PREFER_NO_SCHEDULE))
			cnt++;
	return cnt;
}

static int64_t preferred_node_affinity(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < p->n_node_pref; i++)
		if (sched_term_matches_node(&p->node_pref[i], n))
			sum += p->node_pref[i].weight;
	return sum;
}

/* ---- PodTopologySpread (ScheduleAnyway and the system default) ---- */

static int64_t node_matches(const struct sched_spread *c, const struct sched_pod *p,
			    const struct sched_node *n)
{
	int64_t cnt = 0;

	for (size_t i = 0; i < n->n_pods; i++)
		cnt += sched_spread_counts(c, p, n->pods[i]);
	return cnt;
}

/* Matching pods per topology value of one constraint, over every node the
 * pod could go to. A controller's pods come from the owner index; label
 * selectors walk every node. */
static int domain_counts(struct sched *s, const struct sched_spread *c, const struct sched_pod *p,
			 json_t *counts)
{
	const struct sched_owner *o = sched_owner_pods(s, c->owner);
	int r = 0;

	for (size_t i = 0; o && i < o->n && r >= 0; i++) {
		const struct sched_pod *q = o->v[i];
		const char *v = sched_spread_value(c, q->node);

		if (v && sched_spread_counts(c, p, q) && sched_spread_includes(c, p, q->node))
			r = topo_add(counts, v, NULL, 1);
	}
	for (size_t j = 0; !c->owner && j < s->n_nodes && r >= 0; j++) {
		const struct sched_node *x = s->nodes[j];
		const char *v = sched_spread_value(c, x);
		int64_t cnt;

		if (v && sched_spread_includes(c, p, x) && (cnt = node_matches(c, p, x)))
			r = topo_add(counts, v, NULL, cnt);
	}
	return r;
}

/* How many topology values the feasible nodes have (hostname: nodes). */
static int domain_size(const struct sched_spread *con, struct sched_node **nodes, size_t n,
		       size_t *size)
{
	json_t *seen;

	*size = 0;
	if (con->topo == SCHED_TOPO_HOSTNAME) {
		for (size_t i = 0; i < n; i++)
			*size += nodes[i]->hostname != NULL;
		return 0;
	}
	seen = json_object();
	if (!seen)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *v = sched_spread_value(con, nodes[i]);

		if (v && !json_object_get(seen, v) && json_object_set(seen, v, json_true()) < 0) {
			json_decref(seen);
			return -ENOMEM;
		}
	}
	*size = json_object_size(seen);
	json_decref(seen);
	return 0;
}

static bool has_all_soft_keys(const struct sched_pod *p, const struct sched_node *n)
{
	for (size_t k = 0; k < p->n_spread; k++)
		if (!p->spread[k].hard && !sched_spread_value(&p->spread[k], n))
			return false;
	return true;
}

static bool has_soft_spread(const struct sched_pod *p)
{
	for (size_t k = 0; k < p->n_spread; k++)
		if (!p->spread[k].hard)
			return true;
	return false;
}

static int spread_scores(struct sched_cycle *c, struct sched_node **nodes, size_t n, int64_t *part)
{
	const struct sched_pod *p = c->p;
	bool require_all = p->n_spread && !p->spread[0].owner;
	double raw;
	int64_t min = INT64_MAX, max = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		part[i] = 0;
	for (size_t k = 0; k < p->n_spread && r >= 0; k++) {
		const struct sched_spread *con = &p->spread[k];
		bool host = con->topo == SCHED_TOPO_HOSTNAME;
		json_t *counts = json_object();
		size_t size = 0;

		if (con->hard)
			goto next;
		if (!counts) {
			r = -ENOMEM;
			break;
		}
		if (!host)
			r = domain_counts(c->s, con, p, counts);
		if (r >= 0)
			r = domain_size(con, nodes, n, &size);
		double w = log((double)size + 2);

		for (size_t i = 0; i < n && r >= 0; i++) {
			const char *v = sched_spread_value(con, nodes[i]);
			int64_t cnt;

			if (!v)
				continue;
			cnt = host ? node_matches(con, p, nodes[i])
				   : json_integer_value(json_object_get(counts, v));
			raw = (double)cnt * w + (double)(con->max_skew - 1);
			/* accumulated in thousandths, rounded once below */
			part[i] += (int64_t)(raw * 1000);
		}
next:
		json_decref(counts);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (require_all && !has_all_soft_keys(p, nodes[i])) {
			part[i] = -1;
			continue;
		}
		part[i] = (int64_t)llround((double)part[i] / 1000);
		if (part[i] < min)
			min = part[i];
		if (part[i] > max)
			max = part[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (part[i] < 0)
			part[i] = 0;
		else if (!max)
			part[i] = MAX_SCORE;
		else
			part[i] = MAX_SCORE * (max + min - part[i]) / max;
	}
	return 0;
}

/* ---- InterPodAffinity (preferred terms, both ways) ---- */

/* Score per topology pair: the incoming pod's preferred terms over the
 * placed pods, and the placed pods' preferred terms (and required
 * affinity, at upstream's hardPodAffinityWeight 1) toward the incoming pod. */
static int affinity_topology(struct sched_cycle *c, json_t *topo)
{
	const struct sched_pod *p = c->p;
	struct sched *s = c->s;

	for (size_t j = 0; (p->n_aff_pref || p->n_anti_pref) && j < s->n_nodes; j++) {
		const struct sched_node *n = s->nodes[j];

		for (size_t k = 0; k < n->n_pods; k++) {
			for (size_t t = 0; t < p->n_aff_pref; t++) {
				const char *v = sched_label(n->labels, p->aff_pref[t].topology_key);

				if (v && sched_term_matches_pod(&p->aff_pref[t], p, n->pods[k]) &&
				    topo_add(topo, p->aff_pref[t].topology_key, v, p->aff_pref[t].weight) < 0)
					return -ENOMEM;
			}
			for (size_t t = 0; t < p->n_anti_pref; t++) {
				const char *v = sched_label(n->labels, p->anti_pref[t].topology_key);

				if (v && sched_term_matches_pod(&p->anti_pref[t], p, n->pods[k]) &&
				    topo_add(topo, p->anti_pref[t].topology_key, v, -p->anti_pref[t].weight) < 0)
					return -ENOMEM;
			}
		}
	}
	for (size_t i = 0; i < s->n_affine; i++) {
		const struct sched_pod *e = s->affine[i];
		const struct { const struct sched_pod_term *t; size_t n; int sign; } sets[] = {
			{ e->aff_pref, e->n_aff_pref, 1 },
			{ e->anti_pref, e->n_anti_pref, -1 },
			{ e->aff_req, e->n_aff_req, 1 },
		};

		for (size_t x = 0; x < ARRAY_SIZE(sets); x++)
			for (size_t t = 0; t < sets[x].n; t++) {
				const struct sched_pod_term *term = &sets[x].t[t];
				const char *v = sched_label(e->node->labels, term->topology_key);

				if (v && sched_term_matches_pod(term, e, p) &&
				    topo_add(topo, term->topology_key, v, sets[x].sign * term->weight) < 0)
					return -ENOMEM;
			}
	}
	return 0;
}

static int affinity_scores(struct sched_cycle *c, struct sched_node **nodes, size_t n,
			   int64_t *part)
{
	json_t *topo = json_object();
	int64_t min = INT64_MAX, max = INT64_MIN;
	int r;

	if (!topo)
		return -ENOMEM;
	r = affinity_topology(c, topo);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *k;
		json_t *v;

		part[i] = 0;
		json_object_foreach(topo, k, v) {
			const char *nl = strchr(k, '\n');
			char key[512];

			if (!nl || (size_t)(nl - k) >= sizeof(key))
				continue;
			memcpy(key, k, (size_t)(nl - k));
			key[nl - k] = 0;
			if (streq(sched_label(nodes[i]->labels, key), nl + 1))
				part[i] += json_integer_value(v);
		}
		if (part[i] < min)
			min = part[i];
		if (part[i] > max)
			max = part[i];
	}
	json_decref(topo);
	for (size_t i = 0; i < n && r >= 0; i++)
		part[i] = max > min ? MAX_SCORE * (part[i] - min) / (max - min) : 0;
	return r;
}

int sched_score_nodes(struct sched_cycle *c, struct sched_node **nodes, size_t n, int64_t *out,
		      int64_t *part)
{
	const struct sched_pod *p = c->p;
	bool best_effort = !p->req[SCHED_CPU] && !p->req[SCHED_MEM];
	bool prefer_taints = false;
	int r;

	for (size_t i = 0; i < n; i++) {
		out[i] = WEIGHT_FIT * least_allocated(p, nodes[i]);
		if (!best_effort) /* skipped for best-effort pods, as upstream */
			out[i] += WEIGHT_BALANCED * balanced(p, nodes[i]);
		part[i] = intolerable_prefer(p, nodes[i]);
		prefer_taints |= part[i] > 0;
	}
	if (prefer_taints) {
		normalize(part, n, true);
		add_weighted(out, part, n, WEIGHT_TAINT);
	}
	if (p->n_node_pref) {
		for (size_t i = 0; i < n; i++)
			part[i] = preferred_node_affinity(p, nodes[i]);
		normalize(part, n, false);
		add_weighted(out, part, n, WEIGHT_NODE_AFFINITY);
	}
	if (has_soft_spread(p)) {
		r = spread_scores(c, nodes, n, part);
		if (r < 0)
			return r;
		add_weighted(out, part, n, WEIGHT_SPREAD);
	}
	if (p->n_aff_pref || p->n_anti_pref || c->s->n_affine) {
		r = affinity_scores(c, nodes, n, part);
		if (r < 0)
			return r;
		add_weighted(out, part, n, WEIGHT_POD_AFFINITY);
	}
	return 0;
}
