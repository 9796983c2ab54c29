/* The scheduler's core: a snapshot of nodes and pods, kube-scheduler's
 * filters and scores, node sampling, an assumed-pod cache and the
 * scheduling queue, all pure (no I/O, no clock: callers pass `now`).
 * The driver (informers in, bindings out through lib/kube_client) lives
 * elsewhere and stays thin:
 *
 *   struct sched *s;
 *   sched_new(NULL, &s);
 *   sched_node_upsert(s, node_json);            // informer add/update
 *   sched_pod_upsert(s, pod_json, now);         // bound pods count, unbound ones queue
 *   struct sched_pod *p;
 *   while ((p = sched_queue_pop(s, now))) {
 *       struct ctrl_plan plan = CTRL_PLAN_INIT;
 *       sched_cycle(s, p, now, &plan);          // assume + binding + Event, or FailedScheduling
 *       ... send plan; on a failed binding: sched_bind_done(s, key, err, now) ...
 *   }
 *
 * Upstream's plugins, as the default profile runs them (filter order):
 * NodeUnschedulable, NodeName, TaintToleration, NodeAffinity (nodeSelector
 * and required node affinity), NodePorts, NodeResourcesFit,
 * PodTopologySpread (DoNotSchedule), InterPodAffinity (required). Scores and
 * their weights (upstream's defaults): TaintToleration 3, NodeAffinity 2,
 * PodTopologySpread 2 (ScheduleAnyway, and the system default spreading
 * of a controller's pods: hostname maxSkew 3, zone maxSkew 5), InterPodAffinity 2,
 * NodeResourcesFit LeastAllocated 1, NodeResourcesBalancedAllocation 1.
 * Each is normalised to 0..100 as upstream's NormalizeScore does.
 *
 * PostFilter: DefaultPreemption (sched_preempt.c): upstream's
 * "preemption: ..." sentence in the FailedScheduling message, the
 * DisruptionTarget condition on victims, spreading and pod (anti-)affinity
 * re-evaluated with the victims off the node, nominations cleared where
 * they no longer hold. Spread constraints honour nodeAffinityPolicy,
 * nodeTaintsPolicy and matchLabelKeys; pod affinity terms namespaceSelector
 * (namespaces' labels from their informer), matchLabelKeys and
 * mismatchLabelKeys; requests count restartable (sidecar) init containers
 * as upstream's PodRequests. A pod using a PersistentVolumeClaim or an
 * ephemeral volume waits with VolumeBinding's PreFilter message: skiff's
 * API stores no claims. The pod status patches of a plan (PodScheduled,
 * DisruptionTarget, nominations) are sent as strategic merge patches.
 *
 * Not implemented: the rest of the volume plugins (claim binding,
 * StorageClasses and WaitForFirstConsumer, VolumeRestrictions such as
 * ReadWriteOncePod, VolumeZone, NodeVolumeLimits), which need objects
 * skiff's API does not store; scheduler profiles and plugin arguments
 * (only the default profile with upstream's default weights);
 * ImageLocality and DynamicResources. */
#ifndef SKIFF_SCHED_H
#define SKIFF_SCHED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/ctrl_plan.h"

/* Resource slots: cpu in millicores, memory and ephemeral-storage in bytes,
 * pods as a count, then extended resources (example.com/gpu, hugepages-2Mi)
 * in whole units, named in the order first seen. */
enum {
	SCHED_CPU,
	SCHED_MEM,
	SCHED_EPHEMERAL,
	SCHED_PODS,
	SCHED_RES_BUILTIN,
	SCHED_RES_MAX = SCHED_RES_BUILTIN + 8,
};

#define SCHED_LABEL_HOSTNAME "kubernetes.io/hostname"
#define SCHED_LABEL_ZONE "topology.kubernetes.io/zone"
#define SCHED_TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

enum sched_effect {
	SCHED_EFFECT_ALL = 0, /* a toleration without an effect */
	SCHED_NO_SCHEDULE,
	SCHED_PREFER_NO_SCHEDULE,
	SCHED_NO_EXECUTE,
};

struct sched_taint {
	char *key, *value;
	enum sched_effect effect;
};

struct sched_toleration {
	char *key, *value; /* key NULL: every key (operator Exists) */
	bool exists;       /* operator Exists (else Equal) */
	enum sched_effect effect;
};

/* A hostPort in use: protocol 'T'cp/'U'dp/'S'ctp, hostIP "" or 0.0.0.0 =
 * every address. */
struct sched_port {
	uint16_t port;
	char proto;
	char ip[46];
};

/* One requirement of a node selector term. */
enum sched_op { SCHED_OP_IN, SCHED_OP_NOTIN, SCHED_OP_EXISTS, SCHED_OP_DOESNOTEXIST,
		SCHED_OP_GT, SCHED_OP_LT };
struct sched_req {
	char *key;
	enum sched_op op;
	char **values;
	size_t n_values;
	long long num; /* Gt, Lt */
};

/* A NodeSelectorTerm: every requirement holds (matchExpressions on labels,
 * matchFields on metadata.name). */
struct sched_term {
	struct sched_req *reqs, *fields;
	size_t n_reqs, n_fields;
	int weight; /* preferred terms */
};

struct kube_selector;

/* A PodAffinityTerm (weight set for preferred ones). */
struct sched_pod_term {
	struct kube_selector *sel; /* NULL: matches no pod (no labelSelector) */
	char **namespaces;         /* empty and !all_ns: the pod's own namespace */
	size_t n_namespaces;
	bool all_ns;               /* namespaceSelector: {} */
	struct kube_selector *ns_sel; /* a namespaceSelector with requirements, or NULL */
	char *topology_key;
	int weight;
};

enum sched_topo { SCHED_TOPO_OTHER, SCHED_TOPO_HOSTNAME, SCHED_TOPO_ZONE };

struct sched_spread {
	int max_skew, min_domains;
	char *topology_key;
	enum sched_topo topo; /* the well-known keys, read from the node's cache */
	bool hard; /* whenUnsatisfiable: DoNotSchedule */
	bool affinity_ignore; /* nodeAffinityPolicy: Ignore (default Honor) */
	bool taints_honor;    /* nodeTaintsPolicy: Honor (default Ignore) */
	struct kube_selector *sel; /* NULL: matches no pod */
	const char *owner;         /* system default: the pods of this controller */
};

struct sched_node;
struct sched_ns;

enum sched_pod_state {
	SCHED_POD_PENDING,  /* no node; in the queue */
	SCHED_POD_ASSUMED,  /* chosen by the scheduler, binding not yet seen */
	SCHED_POD_BOUND,    /* spec.nodeName seen from the API */
};

struct sched_pod {
	char *key; /* "ns/name" */
	char *ns, *name, *uid, *owner; /* owner: the controller's uid, or NULL */
	const struct sched_ns *nsrec;  /* its namespace's labels (owned by the sched) */
	json_t *labels;                /* metadata.labels (a reference) */
	int32_t priority;
	bool preempt_never; /* spec.preemptionPolicy: Never */
	char *nominated;    /* status.nominatedNodeName, or NULL */
	struct sched_node *nom_node; /* pending and nominated: the node counting it */
	size_t nom_slot;             /* index in nom_node->nominated */
	long long created; /* metadata.creationTimestamp, seconds */
	char *node_name;   /* spec.nodeName ("" when unset) */
	bool terminating;  /* deletionTimestamp set */

	int64_t req[SCHED_RES_MAX];    /* containers + max(init) + overhead */
	int64_t nonzero_cpu, nonzero_mem; /* with upstream's defaults for 0 */
	struct sched_port *ports;
	size_t n_ports;

	json_t *node_selector; /* spec.nodeSelector (a reference), or NULL */
	struct sched_term *node_req, *node_pref;
	size_t n_node_req, n_node_pref;
	bool has_node_req;     /* required node affinity present (may have 0 terms) */
	struct sched_toleration *tols;
	size_t n_tols;
	struct sched_pod_term *aff_req, *aff_pref, *anti_req, *anti_pref;
	size_t n_aff_req, n_aff_pref, n_anti_req, n_anti_pref;
	struct sched_spread *spread;
	size_t n_spread;
	/* Why no node can take it before any filter runs (upstream's
	 * VolumeBinding PreFilter: a claim that does not exist), or NULL. */
	char *prefilter_msg;

	/* Where it is: */
	enum sched_pod_state state;
	struct sched_node *node;  /* assumed or bound */
	size_t node_slot;         /* index in node->pods */
	size_t anti_slot;         /* index in the snapshot's affine list, or SIZE_MAX */
	size_t owner_slot;        /* index among its owner's placed pods */
	unsigned long long assume_deadline; /* ns; 0: binding in flight */

	/* The queue: */
	int qstate;
	size_t qslot;
	unsigned attempts;
	unsigned long long backoff_until, unsched_since; /* ns */
	json_t *spec; /* the spec parsed (a reference): a status-only update changes nothing */
};

struct sched_node {
	char *name;
	json_t *labels; /* metadata.labels (a reference) */
	const char *hostname, *zone; /* their labels' values (in labels), or NULL */
	struct sched_taint *taints;
	size_t n_taints;
	bool unschedulable;
	int64_t alloc[SCHED_RES_MAX];
	int64_t req[SCHED_RES_MAX];          /* bound + assumed pods (req[SCHED_PODS]: count) */
	int64_t nonzero_cpu, nonzero_mem;    /* the same with upstream's non-zero defaults */
	struct sched_pod **pods;
	size_t n_pods, cap_pods;
	size_t n_port_pods;                  /* pods with host ports */
	/* Pending pods nominated here by a preemption: a pod of no higher
	 * priority must leave them the room (upstream's nominator). */
	struct sched_pod **nominated;
	size_t n_nominated, cap_nominated;
	size_t idx;                          /* in the snapshot's node array */
};

struct sched_opts {
	/* percentageOfNodesToScore: 0 = adaptive (50 - nodes/125, >= 5%, >= 100 nodes). */
	int percentage_of_nodes_to_score;
	/* Forget an assumed pod whose binding is not seen this long after it
	 * was sent (ns); default 30 s. */
	unsigned long long assume_ttl_ns;
	unsigned long long backoff_initial_ns, backoff_max_ns; /* 1 s, 10 s */
	/* Unschedulable pods go back to the queue after this long even
	 * without a cluster event (upstream: 5 min). */
	unsigned long long unschedulable_max_ns;
	const char *scheduler_name; /* "default-scheduler" */
	uint64_t seed;              /* tie breaks; 0: fixed default */
};

struct sched;

int sched_new(const struct sched_opts *opts, struct sched **out);
void sched_free(struct sched *s);

/* ---- the snapshot (informer events in) ---- */

/* Adds or replaces a node (parsed once; its pods stay). -EINVAL for a node
 * without a name, -ENOMEM. */
int sched_node_upsert(struct sched *s, json_t *node);
/* Forgets a node; its pods stay known, but count nowhere until it comes back. */
int sched_node_delete(struct sched *s, const char *name);
struct sched_node *sched_node_find(const struct sched *s, const char *name);
size_t sched_node_count(const struct sched *s);

/* Adds or replaces a pod. Bound (spec.nodeName) and not finished: counted
 * on its node, confirming an assumed pod. Unbound, for this scheduler and
 * not terminating: queued (an update of a queued pod keeps its place and
 * backoff). Finished pods (Succeeded, Failed) count nowhere. */
int sched_pod_upsert(struct sched *s, json_t *pod, unsigned long long now);
int sched_pod_delete(struct sched *s, const char *ns, const char *name);
struct sched_pod *sched_pod_find(const struct sched *s, const char *ns, const char *name);

/* Namespaces, for namespaceSelector in pod affinity terms: informer in.
 * A pod's namespace unknown (or deleted) has no labels. */
int sched_namespace_upsert(struct sched *s, json_t *ns);
int sched_namespace_delete(struct sched *s, const char *name);

/* Parses a pod without adding it (for tests and dry runs); free with
 * sched_pod_free. */
int sched_pod_parse(struct sched *s, json_t *pod, struct sched_pod **out);
void sched_pod_free(struct sched_pod *p);

/* ---- one scheduling decision ---- */

#define SCHED_MSG_MAX 1024

struct sched_result {
	struct sched_node *node;   /* NULL: unschedulable */
	char message[SCHED_MSG_MAX]; /* "0/3 nodes are available: ..." when node is NULL */
	size_t evaluated, feasible;  /* nodes filtered, nodes that passed */
};

/* Picks a node for p from the snapshot (filters, sampling, scores, random
 * tie break), or explains why none fits. Changes nothing but the rotating
 * start index and the random state. 0, or -ENOMEM. */
int sched_schedule_one(struct sched *s, struct sched_pod *p, struct sched_result *res);

/* Counts p against node at once (before its binding is seen). */
int sched_assume(struct sched *s, struct sched_pod *p, struct sched_node *node);
/* The binding of an assumed pod was answered: err 0 starts its expiry
 * clock (the informer should confirm it soon), err < 0 forgets it (its
 * resources return to the node) and queues it again with backoff. */
int sched_bind_done(struct sched *s, const char *ns, const char *name, int err,
		    unsigned long long now);
/* Forgets assumed pods past their deadline; returns how many. */
size_t sched_expire_assumed(struct sched *s, unsigned long long now);

/* One whole cycle for a popped pod: schedule; on success assume it and plan
 * the pods/binding create and a Scheduled Event; on failure try
 * preemption (the victims' deletes and Events), plan a FailedScheduling
 * Event and the PodScheduled=False condition (with the nominated node),
 * and park the pod among the unschedulable. res may be NULL. */
int sched_cycle(struct sched *s, struct sched_pod *p, unsigned long long now,
		struct ctrl_plan *plan, struct sched_result *res);

/* The plan pieces, for drivers that decide themselves. nominated: the
 * node a preemption made room on (status.nominatedNodeName), "" to clear
 * it, or NULL to leave it. */
int sched_plan_binding(const struct sched_pod *p, const char *node, struct ctrl_plan *plan);
int sched_plan_failed(const struct sched_pod *p, const char *message, const char *nominated,
		      struct ctrl_plan *plan);

/* ---- preemption (upstream's DefaultPreemption; see sched_preempt.c) ---- */

struct sched_preemption {
	struct sched_node *node;    /* NULL: preemption cannot help */
	struct sched_pod **victims; /* most important first (the array is owned) */
	size_t n_victims, pdb_violations;
	const char *scheduler;      /* the scheduler's name, for the victims' condition */
	bool clear_nominated;       /* node NULL: the pod's nomination is to go */
	/* node NULL: upstream's PostFilter sentence, "preemption: ..." (empty
	 * without nodes) */
	char message[SCHED_MSG_MAX];
};

/* For a pod that fit nowhere: the node and the fewest, least important
 * lower-priority pods to delete there, respecting PodDisruptionBudgets by
 * preference. out->node NULL when the pod may not preempt or nothing
 * helps. 0, or -ENOMEM. sched_cycle runs it. */
int sched_preempt(struct sched *s, struct sched_pod *p, struct sched_preemption *out);
void sched_preemption_release(struct sched_preemption *pr);
/* The victims' DisruptionTarget conditions, deletes (uid preconditions)
 * and Preempted Events. */
int sched_plan_preemption(const struct sched_pod *p, const struct sched_preemption *pr,
			  struct ctrl_plan *plan);
/* PodDisruptionBudgets (policy/v1), for choosing victims: informer in. */
int sched_pdb_upsert(struct sched *s, json_t *pdb);
int sched_pdb_delete(struct sched *s, const char *ns, const char *name);

/* ---- the queue ---- */

/* The next pod to schedule (highest priority, then oldest), after moving
 * pods whose backoff ended and unschedulable pods parked too long; NULL
 * when none is ready. The pod stays known; it is out of the queue until
 * it is assumed, bound, or handed back by sched_queue_unschedulable or
 * sched_queue_backoff. */
struct sched_pod *sched_queue_pop(struct sched *s, unsigned long long now);
/* Parks a pod that fit nowhere until a cluster event (or the maximum). */
void sched_queue_unschedulable(struct sched *s, struct sched_pod *p, unsigned long long now);
/* Queues a pod again after an error, with its exponential backoff. */
void sched_queue_backoff(struct sched *s, struct sched_pod *p, unsigned long long now);
/* A cluster event that may let parked pods fit: the driver calls it when a
 * node is added or updated and when a placed pod is deleted or changes
 * labels. Every unschedulable pod moves back (to backoff while its backoff
 * lasts). Upstream asks each plugin whether the event can help (queueing
 * hints); moving all is correct and only costs retries. */
void sched_queue_move_all(struct sched *s, unsigned long long now);
/* When the queue next has a pod ready (ns); 0: one is ready now;
 * UINT64_MAX: none waits on time. */
unsigned long long sched_queue_next_ready(const struct sched *s, unsigned long long now);
void sched_queue_counts(const struct sched *s, size_t *active, size_t *backoff,
			size_t *unschedulable);

#endif
