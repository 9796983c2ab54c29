/* What every controller asks of the objects in its caches: time stamps,
 * pod state, owner references, selectors, pods made from a template.
 * Objects are json_t as lib/kube_informer caches them; nothing here
 * allocates unless it says so, and nothing touches the network. */
#ifndef SKIFF_CTRL_UTIL_H
#define SKIFF_CTRL_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

/* RFC 3339 in UTC, as the API writes it: "2026-12-07T05:46:32Z".
 * ctrl_time_parse: -EINVAL unless s is such a time (fractions allowed). */
int ctrl_time_parse(const char *s, time_t *out);
void ctrl_time_format(time_t t, char buf[32]);
/* The time at a dotted path of obj (ctrl_time_at(pod,
 * "metadata.creationTimestamp")); 0 when absent or malformed. */
time_t ctrl_time_at(json_t *obj, const char *path);

/* Dotted-path reads: ctrl_str(pod, "spec.nodeName"); NULL / def when the
 * path is missing or of another type. */
json_t *ctrl_get(json_t *obj, const char *path);
const char *ctrl_str(json_t *obj, const char *path);
long long ctrl_int(json_t *obj, const char *path, long long def);

/* Pods. Terminal: Succeeded or Failed. Active: not terminal and not
 * being deleted (upstream's IsPodActive). Ready: condition Ready is True;
 * *since (may be NULL) gets its lastTransitionTime. Available: ready for
 * more than min_ready seconds at now (upstream's IsPodAvailable). */
bool ctrl_pod_terminal(json_t *pod);
bool ctrl_pod_active(json_t *pod);
bool ctrl_pod_terminating(json_t *pod);
bool ctrl_pod_ready(json_t *pod, time_t *since);
bool ctrl_pod_available(json_t *pod, long long min_ready, time_t now);
/* The condition of that type in obj's status.conditions, or NULL; the
 * _status forms take the status object itself (one being built). */
json_t *ctrl_condition(json_t *obj, const char *type);
json_t *ctrl_status_condition(json_t *status, const char *type);
void ctrl_status_condition_remove(json_t *status, const char *type);

/* Sets the condition of that type in obj's status.conditions (made when
 * missing): status, and reason and message when not NULL; its
 * lastTransitionTime becomes now when it is new or its status changes.
 * -ENOMEM. */
int ctrl_condition_set(json_t *obj, const char *type, const char *status, const char *reason,
		       const char *message, time_t now);

/* Owner references. The controller reference is the one with
 * controller: true. A new reference (owned) points at owner, with
 * controller and blockOwnerDeletion true, as controllers set it;
 * api_version and kind NULL: the owner's own (informers' objects may
 * lack them: pass them). */
json_t *ctrl_controller_of(json_t *obj);
bool ctrl_controlled_by(json_t *obj, json_t *owner);
json_t *ctrl_new_controller_ref(json_t *owner, const char *api_version, const char *kind);

/* Upstream's ControllerRefManager for one object: claims obj for owner.
 * Owned and selected: 1. An orphan the selector matches: adopted through a
 * merge patch of its ownerReferences, 1. Owned but no longer selected:
 * released through a patch, 0. Another controller's: 0. */
struct kube_selector;
struct ctrl_plan;
struct ctrl_owner {
	json_t *obj;
	const char *api_version, *kind;
	const struct kube_selector *sel;
};
int ctrl_claim(const struct ctrl_owner *o, json_t *obj, const char *resource, struct ctrl_plan *p);

/* Whether the array of strings at path holds s. */
bool ctrl_strlist_has(json_t *obj, const char *path, const char *s);

/* Finalizers (metadata.finalizers). The removal is a JSON merge patch
 * (owned) that writes the list without name, with obj's resourceVersion
 * as precondition: NULL on allocation failure. */
bool ctrl_has_finalizer(json_t *obj, const char *name);
json_t *ctrl_finalizer_removal(json_t *obj, const char *name);

/* DeleteOptions (owned) for a CTRL_DELETE: propagation ("Background",
 * "Foreground", "Orphan") and the uid precondition when not NULL, and
 * gracePeriodSeconds when grace >= 0. */
json_t *ctrl_delete_options(const char *propagation, const char *uid, long long grace);

/* The first of pod's spec.tolerations that tolerates taint (upstream's
 * ToleratesTaint: effect empty or equal; key empty with Exists, or equal;
 * Exists, or Equal with the same value), or NULL. */
json_t *ctrl_toleration_for(json_t *pod, json_t *taint);

/* Whether obj's labels match a LabelSelector object (matchLabels and
 * matchExpressions). An empty or missing selector matches nothing, as
 * for workload controllers; -EINVAL for a malformed selector. */
int ctrl_selector_matches(json_t *label_selector, json_t *obj, bool *match);
/* metadata.labels match a Service-style selector map (every key equal);
 * an empty or absent selector matches nothing. */
bool ctrl_map_selects(json_t *selector, json_t *labels);

/* An IntOrString (maxSurge, maxUnavailable, minAvailable) scaled to total:
 * a number as is, "25%" of total rounded up or down; def when absent.
 * -EINVAL for anything else. */
int ctrl_intstr_scaled(json_t *v, long long total, bool round_up, long long def,
		       long long *out);

/* A new Pod (owned) from a PodTemplateSpec: its labels, annotations and
 * spec, metadata.generateName "<prefix>-" (or metadata.name when name is
 * given), the owner's namespace and a controller reference to owner. */
json_t *ctrl_pod_from_template(json_t *template, json_t *owner, const char *name);

/* Nodes. Whether node matches a NodeSelector object (its terms ORed, each
 * term's matchExpressions on labels and matchFields on metadata.name
 * ANDed; an empty term matches nothing), as component-helpers' nodeaffinity
 * does. Whether a pod's spec.nodeSelector and required node affinity both
 * match node. */
bool ctrl_node_selector_matches(json_t *node_selector, json_t *node);
bool ctrl_pod_fits_node_affinity(json_t *pod_spec, json_t *node);
/* Whether one toleration tolerates a taint (upstream ToleratesTaint: effect
 * empty or equal; key empty with Exists, or equal; Exists, or Equal with
 * the same value), and the first of node taints, among those whose effect is in effects
 * (a list such as "NoSchedule,NoExecute"), that no toleration tolerates;
 * NULL when all are tolerated. */
bool ctrl_toleration_tolerates(json_t *toleration, json_t *taint);
json_t *ctrl_untolerated_taint(json_t *taints, json_t *tolerations, const char *effects);

/* The hash of a pod template (and a collision count, -1: none) as
 * controllers name revisions with it: FNV-1a over the template's canonical
 * JSON, encoded as upstream's rand.SafeEncodeString of the decimal value
 * ("5d8c7f9b4"). */
void ctrl_template_hash(json_t *template, long long collision_count, char out[16]);

/* Whether two pod templates are equal as upstream's semantic DeepEqual
 * of the typed templates finds them: a null member is the same as a
 * missing one (kubectl's `rollout undo` writes "creationTimestamp": null),
 * and the label ignore_label (may be NULL; "pod-template-hash" for
 * EqualIgnoreHash) does not count, nor an empty labels or metadata left
 * without it. */
bool ctrl_template_equal(json_t *a, json_t *b, const char *ignore_label);

/* Plans a status write of obj (a copy of it with status, taken over, as
 * its status) unless status equals obj's: one write per real change. */
int ctrl_status_update(struct ctrl_plan *p, const char *resource, json_t *obj, json_t *status);

/* A pod created or deleted for owner (of resource owner_resource), with
 * the Event upstream's pod control records: SuccessfulCreate "Created pod:
 * NAME" (for a generateName create the message ends in ": ", for the
 * driver to complete with the name the server gave) and SuccessfulDelete
 * "Deleted pod: NAME". The create takes pod over. */
int ctrl_pod_create(struct ctrl_plan *p, const char *owner_resource, json_t *owner, json_t *pod);
int ctrl_pod_delete(struct ctrl_plan *p, const char *owner_resource, json_t *owner, json_t *pod);

/* ControllerRevisions, the template history of DaemonSets and
 * StatefulSets. A new one (owned) is named "<owner>-<hash>", labelled with
 * the template's labels and the hash, and records owner's spec.template
 * as upstream's patch {"spec":{"template":{..., "$patch":"replace"}}}. */
#define CTRL_REVISION_RESOURCE "controllerrevisions.apps"
#define CTRL_REVISION_HASH_LABEL "controller-revision-hash"
json_t *ctrl_revision_new(json_t *owner, const char *hash, long long number);

struct ctrl_history {
	json_t *owner;
	json_t **revisions; /* of the owner's namespace; others than its own skipped */
	size_t n_revisions;
	const char *hash; /* the template's hash: its revision must be the newest */
	bool cleanup;     /* also delete old revisions over spec.revisionHistoryLimit (10) */
	bool (*in_use)(void *ctx, json_t *rev); /* never deleted when true */
	void *ctx;
};

/* Plans what upstream's constructHistory and cleanupHistory do: the
 * revision of hash is created, or renumbered when an older one is newer,
 * and old revisions not in use beyond the limit are deleted, oldest first.
 * *current (may be NULL) gets the existing revision of hash, or NULL. */
int ctrl_history_sync(struct ctrl_plan *p, const struct ctrl_history *h, json_t **current);

/* Upstream's ControllerExpectations for one controller key: the pod
 * creates and deletes it has asked for and its cache has not shown yet.
 * While some are outstanding, for at most CTRL_EXPECTATIONS_TTL seconds
 * (upstream's ExpectationsTimeout), a sync must not create or delete again:
 * its cache may not show its last writes yet (the ReplicaSet, the Job). */
struct ctrl_expectations {
	long long add, del;
	time_t set_at; /* 0: never set */
};
#define CTRL_EXPECTATIONS_TTL 300 /* s, upstream ExpectationsTimeout */

/* Satisfied (or expired): the cache can be trusted for a new diff. */
bool ctrl_expectations_satisfied(const struct ctrl_expectations *e, time_t now);
void ctrl_expectations_expect(struct ctrl_expectations *e, long long add, long long del, time_t now);
/* The informer saw one pod created / deleted (or a create/delete failed). */
void ctrl_expectations_observe_add(struct ctrl_expectations *e);
void ctrl_expectations_observe_del(struct ctrl_expectations *e);

#endif
