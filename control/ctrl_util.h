/* What every controller asks of the objects in its caches: time stamps,
 * pod state, owner references, selectors, pods made from a template.
 * Objects are json_t as lib/kube_informer caches them; nothing here
 * allocates unless it says so, and nothing touches the network. */
#ifndef SKIFF_CTRL_UTIL_H
#define SKIFF_CTRL_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "control/ctrl_plan.h"

/* RFC 3339 in UTC, as the API writes it: "2026-12-07T05:46:32Z".
 * ctrl_time_parse: -EINVAL unless s is such a time (fractions allowed). */
int ctrl_time_parse(const char *s, time_t *out);
void ctrl_time_format(time_t t, char buf[32]);

/* Dotted-path reads: ctrl_str(pod, "spec.nodeName"); NULL / def when the
 * path is missing or of another type. */
json_t *ctrl_get(json_t *obj, const char *path);
const char *ctrl_str(json_t *obj, const char *path);
long long ctrl_int(json_t *obj, const char *path, long long def);

/* Pods. Active: neither Succeeded nor Failed, and not being deleted
 * (upstream's IsPodActive). Ready: condition Ready is True. Available:
 * ready for at least min_ready seconds at now (upstream's
 * IsPodAvailable, from the Ready condition's lastTransitionTime). */
bool ctrl_pod_active(json_t *pod);
bool ctrl_pod_terminating(json_t *pod);
bool ctrl_pod_ready(json_t *pod);
bool ctrl_pod_available(json_t *pod, long long min_ready, time_t now);
/* The condition of that type in status.conditions, or NULL. */
json_t *ctrl_condition(json_t *obj, const char *type);

/* Owner references. The controller reference is the one with
 * controller: true. A new reference (owned) points at owner, with
 * controller and blockOwnerDeletion true, as controllers set it. */
json_t *ctrl_controller_of(json_t *obj);
bool ctrl_controlled_by(json_t *obj, json_t *owner);
json_t *ctrl_controller_ref_new(json_t *owner);

/* Whether obj's labels match a LabelSelector object (matchLabels and
 * matchExpressions). An empty or missing selector matches nothing, as
 * for workload controllers; -EINVAL for a malformed selector. */
int ctrl_selector_matches(json_t *label_selector, json_t *obj, bool *match);

/* A new Pod (owned) from a PodTemplateSpec: its labels, annotations and
 * spec, metadata.generateName "<prefix>-" (or metadata.name when name is
 * given), the owner's namespace and a controller reference to owner. */
json_t *ctrl_pod_from_template(json_t *template, json_t *owner, const char *name);

/* Resolves an int-or-percent ("25%", 2) against total, rounding up or down
 * as upstream's GetScaledValueFromIntOrPercent; def when v is absent.
 * -EINVAL when malformed. */
int ctrl_intstr_scaled(json_t *v, long long total, bool round_up, long long def,
		       long long *out);

/* Nodes. Whether node matches a NodeSelector object (its terms ORed, each
 * term's matchExpressions on labels and matchFields on metadata.name
 * ANDed; an empty term matches nothing), as component-helpers' nodeaffinity
 * does. Whether a pod's spec.nodeSelector and required node affinity both
 * match node. */
bool ctrl_node_selector_matches(json_t *node_selector, json_t *node);
bool ctrl_pod_fits_node_affinity(json_t *pod_spec, json_t *node);
/* Whether one toleration tolerates a taint (upstream ToleratesTaint), and
 * the first of node taints, among those whose effect is in effects
 * (a list such as "NoSchedule,NoExecute"), that no toleration tolerates;
 * NULL when all are tolerated. */
bool ctrl_toleration_tolerates(json_t *toleration, json_t *taint);
json_t *ctrl_untolerated_taint(json_t *taints, json_t *tolerations, const char *effects);

/* The hash of a pod template (and a collision count, -1: none) as
 * controllers name revisions with it: FNV-1a over the template's canonical
 * JSON, encoded as upstream's rand.SafeEncodeString of the decimal value
 * ("5d8c7f9b4"). */
void ctrl_template_hash(json_t *template, long long collision_count, char out[16]);

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

/* A DeleteOptions body (owned): propagationPolicy ("Background", ...) and,
 * unless NULL, a uid precondition. */
json_t *ctrl_delete_options(const char *propagation, const char *uid);

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

#endif
