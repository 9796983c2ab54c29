/* The controller manager and the scheduler inside skiff-server (one
 * process, as k3s runs them): each in its own thread with its own API
 * client, talking to the API server over loopback HTTPS with an identity
 * of its own (CN system:kube-controller-manager / system:kube-scheduler,
 * granted by the bootstrap ClusterRoles of control/api_rbac.c), and only
 * while it holds its Lease (control/ctrl_leader.h).
 *
 *   struct ctrl_manager *m;
 *   ctrl_manager_start(&args.mgr, &args.cfg, &m);   // after the API listens
 *   ...
 *   ctrl_manager_free(m);                            // before the API stops
 *
 * The controller side is table driven: one row per controller
 * (struct ctrl_def, control/ctrl_controllers.c) names the resources whose
 * shared informers it reads, maps informer events to keys of its work
 * queue, and reconciles one key from the caches through a pure compute
 * step (control/ctrl_*.h) into a ctrl_plan, which the manager sends
 * (ctrl_manager.c: errors requeue the key with rate limit, a 409
 * requeues it at once). Every informer's objects are offered to their
 * controllers again every resync period. The scheduler's driver is
 * control/sched_driver.c.
 *
 * Threads: the informers, shared with the scheduler (control/ctrl_hub.h),
 * run on a thread of their own, which calls the rows' event functions
 * (with the caches locked for writing); each
 * controller's keys are reconciled by its own workers (syncs), at most
 * one worker per key, with the caches locked for reading during
 * reconcile only: a row's state shared between event and send (or
 * between keys) needs a lock of its own. Objects a reconcile puts in a
 * plan must be its own or referenced (json_incref), never modified. */
#ifndef SKIFF_CTRL_MANAGER_H
#define SKIFF_CTRL_MANAGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "control/ctrl_plan.h"
#include "lib/kube_client.h"
#include "lib/kube_informer.h"
#include "lib/opts.h"

struct api_config;

static inline void ctrl_json_freep(json_t **p)
{
	json_decref(*p);
}
#define _cleanup_json_ __attribute__((cleanup(ctrl_json_freep)))

/* ---- configuration (the flags of ctrl_manager_options) ---- */

#define CTRL_MAX 32

struct ctrl_manager_config {
	const char *controllers; /* --controllers: "*", "a,-b", "none" */
	bool enabled[CTRL_MAX];  /* per ctrl_defs row, from controllers */
	const char *leader_elect; /* "true" / "false" */
	bool no_scheduler;
	int resync_s;
	const char *cluster_cidr, *lb_cidr;
	int mask_v4, mask_v6;
	int node_monitor_grace_s;
	int terminated_pod_gc_threshold;
	int sched_parallel_binds;
	/* workers per controller, as upstream's --concurrent-*-syncs */
	int deployment_syncs, replicaset_syncs, endpointslice_syncs, endpoints_syncs;
	int statefulset_syncs, daemonset_syncs, job_syncs, cronjob_syncs;
};

/* The flags, with offsets into struct ctrl_manager_config (main adds
 * where that struct sits in its own). */
extern const struct opt ctrl_manager_options[];
extern const size_t ctrl_manager_n_options;
/* After parsing: resolves --controllers and checks the CIDRs (-EINVAL,
 * err says which flag and why). */
int ctrl_manager_config_check(struct ctrl_manager_config *cfg, char *err, size_t errlen);
/* "a/n[,b/m]": at most one CIDR per family. -EINVAL. */
struct ipcidr;
int ctrl_cidrs_parse(const char *csv, struct ipcidr *out, size_t *n);

struct ctrl_manager;

/* Makes the credentials (HTTPS: cred/controller-manager.kubeconfig and
 * cred/scheduler.kubeconfig; plain: the insecure port) and starts the
 * elections and the loops. The API server must be listening. */
int ctrl_manager_start(const struct ctrl_manager_config *cfg, const struct api_config *api,
		       struct ctrl_manager **out);
/* Stops the loops and gives the Leases up. NULL-safe. */
void ctrl_manager_free(struct ctrl_manager *m);
bool ctrl_manager_stopping(const struct ctrl_manager *m);

/* ---- the controller table ---- */

struct ctrl_run;

struct ctrl_def {
	const char *name; /* as upstream's --controllers names it */
	/* The resources whose shared informers it reads (kc_resource_find names). */
	const char *informers[12];
	/* Optional: indexes on the informers, private state (ctrl_run_state). */
	int (*init)(struct ctrl_run *c);
	void (*fini)(struct ctrl_run *c);
	/* An informer event (old NULL: added; obj NULL: deleted; both: an
	 * update or a resync): enqueue the keys it concerns. */
	void (*event)(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj);
	/* Plans for one key from the caches; < 0 requeues it with rate limit. */
	int (*reconcile)(struct ctrl_run *c, const char *key, struct ctrl_plan *p);
	/* Optional: sends the plan itself (ctrl_run_write, ctrl_run_event)
	 * where ctrl_plan_send's order is not enough (slow-start batches). */
	int (*send)(struct ctrl_run *c, const char *key, const struct ctrl_plan *p);
	/* Optional: offsetof(struct ctrl_manager_config, its workers' count);
	 * 0: one worker. */
	size_t syncs;
};

extern const struct ctrl_def ctrl_defs[];
extern const size_t ctrl_n_defs;

/* What a row's functions may use. ctrl_informer: NULL when the API does
 * not serve the resource. */
struct kc_informer *ctrl_informer(struct ctrl_run *c, const char *resource);
void ctrl_enqueue(struct ctrl_run *c, const char *key);
void ctrl_enqueue_after(struct ctrl_run *c, const char *key, double seconds);
const struct ctrl_manager_config *ctrl_run_config(struct ctrl_run *c);
/* The calling thread's client (a worker's own). */
struct kc_client *ctrl_run_client(struct ctrl_run *c);
/* The cluster CA the loop trusts (PEM, malloc'd), or NULL (plain port). */
char *ctrl_run_root_ca(struct ctrl_run *c);
/* The controller's state, shared by its workers and its event function. */
void *ctrl_run_state(struct ctrl_run *c);
void ctrl_run_set_state(struct ctrl_run *c, void *state);
/* The cached objects of resource (borrowed), as an array for the compute
 * steps: *objs valid until the worker's next call for the same resource. A
 * resource the API does not serve has no informer and no objects. */
int ctrl_objects(struct ctrl_run *c, const char *resource, json_t *const **objs, size_t *n);
/* Lets the informers go on before the reconcile ends (a long compute over
 * whole caches): from here on, only the objects it holds a reference to
 * (json_incref) are valid, and it may look nothing else up. */
void ctrl_cache_release(struct ctrl_run *c);
/* One write of a plan through the worker's own client (-ECANCELED once
 * no longer leading); *out (may be NULL) gets the server's answer. And an
 * Event, completed with created_name as ctrl_plan_send does, queued for
 * the session's event thread (it never waits for the write). */
int ctrl_run_write(struct ctrl_run *c, const struct ctrl_action *a, json_t **out);
void ctrl_run_event(struct ctrl_run *c, const struct ctrl_action *a, const char *created_name);
/* The creates v[0..n-1] (POST, no subresource) sent at once, as upstream
 * sends a slow-start batch from goroutines; returns when every one is
 * answered: rets[i] its result (an existing object counts as created),
 * outs[i] (outs may be NULL) the server's answer, err (may be NULL) the
 * first failure's message. -ECANCELED (nothing sent) once not leading. */
int ctrl_run_create_many(struct ctrl_run *c, const struct ctrl_action *const *v, size_t n,
			 json_t **outs, int *rets, char *err, size_t errlen);
/* The cached object of key ("ns/name"), or NULL. */
json_t *ctrl_cached(struct ctrl_run *c, const char *resource, const char *key);
/* The cached objects whose index has value: a malloc'd array (free it;
 * the objects are borrowed), NULL when none (*n 0). */
json_t **ctrl_indexed(struct ctrl_run *c, const char *resource, const char *index,
		      const char *value, size_t *n);

/* Sends a plan through client c (events through rec), in order: 0,
 * -ESTALE on a conflict (requeue now), or the first other error; a create
 * that finds the object there and a delete that finds it gone succeed.
 * An Event that follows a write is recorded only if that write succeeded,
 * and one whose message ends in ": " right after a create gets the name
 * the server gave ("Created pod: web-x7k2p"). Stops before any write once
 * leading (when given) turns false (-ECANCELED). Exposed for the
 * scheduler driver. */
struct kc_recorder;
int ctrl_action_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_action *a);
int ctrl_plan_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_plan *p,
		   bool (*leading)(void *ud), void *ud);

#endif
