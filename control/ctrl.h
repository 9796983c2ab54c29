/* The controllers' pure compute steps (issue 10): each reads objects of its
 * caches (json_t, as lib/kube_informer holds them) and returns the writes
 * and Events to make as a ctrl_plan (control/ctrl_plan.h). Nothing here
 * touches the network; "now" is always an input.
 *
 *   EndpointSlice + Endpoints   ctrl_endpointslice.c, ctrl_endpoints.c
 *   ReplicaSet                  ctrl_replicaset.c
 *   Deployment                  ctrl_deployment.c
 *   shared object helpers       ctrl_util.h
 */
#ifndef SKIFF_CTRL_H
#define SKIFF_CTRL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"

/* ---- EndpointSlice (ctrl_endpointslice.c) ---- */

#define EPS_MAX_PER_SLICE 100 /* --max-endpoints-per-slice default */
#define EPS_MANAGED_BY "endpointslice-controller.k8s.io"

/* podutil.FindPort: the pod's port number for a Service port (a number
 * as is; a name looked up in the containers with the same protocol); -1
 * when the pod has no such port. */
long long ctrl_find_port(json_t *pod, json_t *svc_port);

struct eps_input {
	json_t *svc;
	json_t **pods;       /* every pod of the Service's namespace */
	size_t n_pods;
	json_t **slices;     /* the EndpointSlices labelled with the Service's name */
	size_t n_slices;
	/* The node of a name from the caller's cache, NULL when there is
	 * none; node_get NULL: nodes unknown (no zone, no node check). */
	json_t *(*node_get)(void *ud, const char *name);
	void *node_ud;
	time_t trigger_time; /* last-change-trigger-time annotation; 0: none */
	size_t max_per_slice; /* 0: EPS_MAX_PER_SLICE */
};

/* Plans the creates, updates and deletes that make the Service's slices
 * match its pods, as upstream's endpointslice reconciler. Returns the
 * number of pods skipped because their node is missing (> 0: requeue the
 * Service later), or a negative errno. */
int eps_compute(const struct eps_input *in, struct ctrl_plan *p);

/* ---- Endpoints, the legacy object (ctrl_endpoints.c) ---- */

#define EP_MAX_CAPACITY 1000

/* Plans the create or update of the Service's Endpoints object (existing:
 * the current one, or NULL). Nothing when it already matches. */
int endpoints_compute(json_t *svc, json_t **pods, size_t n_pods, json_t *existing,
		      time_t trigger_time, struct ctrl_plan *p);

/* ---- ReplicaSet (ctrl_replicaset.c) ---- */

#define RS_BURST_REPLICAS 500 /* --concurrent burst-replicas default */
#define RS_SLOW_START_INITIAL 1

/* Sizes of the slow-start batches for n creates: 1, 2, 4, ... (the last one
 * the rest). Writes at most max_batches sizes into out; returns how many. */
size_t rs_slow_start_batches(long long n, long long initial, long long *out, size_t max_batches);

struct rs_input {
	json_t *rs;
	json_t **pods; /* every pod of the ReplicaSet's namespace */
	size_t n_pods;
	/* Pods of the sibling ReplicaSets (same controller owner, e.g. the
	 * other ReplicaSets of a Deployment): they rank our pods for deletion
	 * by how crowded their node is. May be NULL. */
	json_t **related;
	size_t n_related;
	time_t now;
	/* The error of the driver's last creates or deletes for this key
	 * (NULL: they all succeeded): sets the ReplicaFailure condition
	 * (FailedCreate / FailedDelete), removed once NULL again. */
	const char *manage_error;
	struct ctrl_expectations *exp; /* NULL: no expectations kept */
	long long burst;             /* 0: RS_BURST_REPLICAS */
};

struct rs_result {
	long long to_create; /* pod creates in the plan (the driver batches them) */
	long long to_delete;
	bool skipped_diff;   /* expectations not satisfied: no creates/deletes */
	/* > 0: sync again after this many seconds (minReadySeconds resync) */
	long long requeue_after;
};

/* Plans, as upstream's replica_set.go: adoption and release patches of
 * pods, pod creates (each followed by its SuccessfulCreate Event) or
 * deletes (each followed by SuccessfulDelete), and the status update.
 * An Event that follows a write is recorded only if the write succeeded;
 * a create's Event message is "Created pod: " and the driver appends the
 * name the server gave (rs_event_created). Sets *exp when it plans
 * creates or deletes. */
int rs_compute(const struct rs_input *in, struct ctrl_plan *p, struct rs_result *res);
/* Completes the SuccessfulCreate Event that follows a pod create. */
int rs_event_created(struct ctrl_action *ev, const char *pod_name);

/* Upstream's ActivePods ordering, least valuable first (deleted first);
 * ranks: for each pod, how many of the candidate pods share its node. */
int rs_pod_delete_cmp(json_t *a, long long rank_a, json_t *b, long long rank_b, time_t now);

/* ---- Deployment (ctrl_deployment.c) ---- */


struct dep_input {
	json_t *dep;
	json_t **rss; /* the ReplicaSets of the Deployment's namespace */
	size_t n_rss;
	time_t now;
	/* Pods of the Deployment's old ReplicaSets that have not finished
	 * (Recreate waits for them to go); the driver counts them from its pod
	 * cache by owner. */
	long long old_pods;
};

struct dep_result {
	/* > 0: sync again after this many seconds (progress deadline) */
	long long requeue_after;
};

/* Plans, as upstream's deployment controller: adoption and release
 * patches of ReplicaSets, the new ReplicaSet's create, ReplicaSet updates
 * (each followed by its ScalingReplicaSet Events), deletes of old ones
 * beyond revisionHistoryLimit, a merge patch of the Deployment's revision
 * annotation, and its status update. An Event that follows a write is
 * recorded only if the write succeeded. */
int dep_compute(const struct dep_input *in, struct ctrl_plan *p, struct dep_result *res);

#endif
