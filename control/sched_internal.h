/* What the scheduler's files share (control/sched*.c); see sched.h. */
#ifndef SKIFF_SCHED_INTERNAL_H
#define SKIFF_SCHED_INTERNAL_H

#include "control/sched.h"

enum { SCHED_Q_NONE, SCHED_Q_ACTIVE, SCHED_Q_BACKOFF, SCHED_Q_UNSCHED };

/* A binary heap of pods; each pod's qslot is its index. */
struct sched_heap {
	struct sched_pod **v;
	size_t n, cap;
	bool (*before)(const struct sched_pod *a, const struct sched_pod *b);
};

struct sched_owner {
	struct sched_pod **v;
	size_t n, cap;
};

struct sched {
	struct sched_opts o;
	struct sched_node **nodes;
	size_t n_nodes, cap_nodes;
	json_t *node_by_name; /* name -> the node's address (json integer) */
	json_t *pod_by_key;   /* "ns/name" -> the pod's address */
	/* Placed pods (assumed or bound) with pod (anti-)affinity terms: the
	 * ones whose terms can refuse or favour an incoming pod. */
	struct sched_pod **affine;
	size_t n_affine, cap_affine;
	/* Placed pods by controller (owner uid -> struct sched_owner), for
	 * the default spreading score: a controller's pods are counted from
	 * here, not by walking every node. */
	json_t *by_owner;
	/* Placed pods whose node is not (or no longer) known; node_slot is
	 * their index here. They join their node when it arrives. */
	struct sched_pod **orphans;
	size_t n_orphans, cap_orphans;
	char *res_names[SCHED_RES_MAX]; /* extended resources by slot */
	size_t n_res;
	size_t next_start; /* rotating start of the node walk */
	uint64_t rng;
	struct sched_heap active, backoff;
	struct sched_pod **unsched;
	size_t n_unsched, cap_unsched;
	unsigned long long unsched_due; /* the earliest unschedulable_max_ns end */
	json_t *pdbs; /* "ns/name" -> struct sched_pdb (sched_preempt.c) */
	/* name -> struct sched_ns: namespaces seen (from their informer or a
	 * pod), kept until sched_free so pods can point at them. */
	json_t *namespaces;
	/* Scratch of one cycle, kept to avoid allocations. */
	struct sched_node **feasible;
	int64_t *score, *part;
	size_t cap_scratch;
};

/* A namespace's labels (a reference; NULL when unknown). */
struct sched_ns {
	json_t *labels;
};

const char *sched_label(json_t *labels, const char *key);
/* The record of namespace name, made when first asked for; NULL: -ENOMEM. */
struct sched_ns *sched_ns_get(struct sched *s, const char *name);

/* The value of a spread constraint's topology key on n, or NULL. */
static inline const char *sched_spread_value(const struct sched_spread *c,
					     const struct sched_node *n)
{
	switch (c->topo) {
	case SCHED_TOPO_HOSTNAME:
		return n->hostname;
	case SCHED_TOPO_ZONE:
		return n->zone;
	default:
		return sched_label(n->labels, c->topology_key);
	}
}

/* sched_parse.c */
int sched_node_parse_into(struct sched *s, json_t *obj, struct sched_node *n);
void sched_node_fields_free(struct sched_node *n);

/* sched_snapshot.c */
bool sched_pod_same(const struct sched_pod *old, json_t *obj);
const char *sched_res_name(const struct sched *s, size_t slot);
void sched_node_add_pod(struct sched *s, struct sched_node *n, struct sched_pod *p);
void sched_node_remove_pod(struct sched *s, struct sched_pod *p);
bool sched_pod_in_namespaces(const struct sched_pod_term *t, const struct sched_pod *owner,
			     const struct sched_pod *other);
bool sched_term_matches_pod(const struct sched_pod_term *t, const struct sched_pod *owner,
			    const struct sched_pod *other);
int grow_array(void *vp, size_t *cap, size_t need, size_t elem);
/* The placed pods of a controller, or NULL. */
const struct sched_owner *sched_owner_pods(const struct sched *s, const char *owner);

/* sched_filter.c: the pre-computed state of one cycle, the filters and
 * the FailedScheduling message. */
struct sched_spread_state {
	json_t *counts; /* topology value -> matching pods */
	int64_t min;    /* the global minimum (0 below minDomains) */
};

struct sched_cycle {
	struct sched *s;
	struct sched_pod *p;
	struct sched_spread_state *spread; /* per hard constraint of p (NULL: none) */
	json_t *aff_counts;    /* "key\nvalue" -> pods matching every required affinity term */
	json_t *anti_counts;   /* "key\nvalue" -> pods matching a required anti-affinity term */
	json_t *existing_anti; /* "key\nvalue" -> placed pods whose anti-affinity refuses p */
	bool self_affine;      /* p matches all its own required affinity terms */
};

/* Why a node was refused: one bit per reason (resources by slot), and the
 * first untolerated taint. */
struct sched_why {
	uint64_t mask;
	const struct sched_taint *taint;
};

/* The reasons of every refused node, counted as upstream's Diagnosis. */
struct sched_diag {
	size_t count[64];
	struct { const struct sched_taint *t; size_t n; } taints[16];
	size_t n_taints, other_taints;
	/* preemption's reasons: nodes where removing pods cannot help, and
	 * nodes without a pod of lower priority */
	size_t not_helpful, no_victims;
};

int sched_prefilter(struct sched_cycle *c);
bool sched_why_resolvable(const struct sched_why *why);
void sched_cycle_release(struct sched_cycle *c);
bool sched_filter_node(const struct sched_cycle *c, const struct sched_node *n,
		       struct sched_why *why);
void sched_diag_add(struct sched_diag *d, const struct sched_why *why);
void sched_diag_message(const struct sched *s, const struct sched_diag *d, size_t n_nodes,
			char *buf, size_t size);
bool sched_tolerates(const struct sched_toleration *tols, size_t n, const char *key,
		     const char *value, enum sched_effect effect);
bool sched_term_matches_node(const struct sched_term *t, const struct sched_node *n);
/* Whether a spread constraint of p counts the placed pod q, and whether it
 * counts the pods of node n at all (nodeAffinityPolicy, nodeTaintsPolicy). */
bool sched_spread_counts(const struct sched_spread *c, const struct sched_pod *p,
			 const struct sched_pod *q);
bool sched_spread_includes(const struct sched_spread *c, const struct sched_pod *p,
			   const struct sched_node *n);
/* The cycle's spread and pod (anti-)affinity counts with q taken off n
 * (d = -1) or put back (d = +1): preemption's trial of victims. */
void sched_cycle_update(struct sched_cycle *c, const struct sched_node *n,
			const struct sched_pod *q, int d);

/* sched_score.c: total weighted scores of the feasible nodes into out. */
int sched_score_nodes(struct sched_cycle *c, struct sched_node **nodes, size_t n,
		      int64_t *out, int64_t *part);

/* sched_preempt.c */
void sched_pdbs_release(struct sched *s);
/* Nominations: p counts on node (by name; nothing if unknown) while it
 * is pending; unnominate when it is placed or goes; a node that goes
 * drops its nominated pods. */
void sched_nominate(struct sched *s, struct sched_pod *p, const char *node);
void sched_unnominate(struct sched_pod *p);
void sched_node_drop_nominated(struct sched_node *n);
/* Adds to req what the pods nominated on n that p must leave room for
 * (other pods of at least p's priority) request; req[SCHED_PODS] counts
 * them. */
void sched_nominated_requests(const struct sched_pod *p, const struct sched_node *n, int64_t *req);
/* upstream prepareCandidate: the pending pods of lower priority than p
 * nominated on n lose their nomination (a status patch each). */
int sched_clear_nominations(const struct sched_pod *p, struct sched_node *n, struct ctrl_plan *plan);

/* sched_queue.c */
void sched_queue_remove(struct sched *s, struct sched_pod *p);
/* Queues a new or updated unbound pod; old_q: where its previous version
 * was; same: its spec and labels did not change (a status update, like
 * the scheduler's own PodScheduled condition, leaves a parked pod parked). */
void sched_queue_updated(struct sched *s, struct sched_pod *p, int old_q, bool same,
			 unsigned long long now);
void sched_queue_init(struct sched *s);
void sched_queue_release(struct sched *s);

#endif
