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

/* Sets the condition of that type in obj's status.conditions (made when
 * missing): status, and reason and message when not NULL; its
 * lastTransitionTime becomes now when it is new or its status changes.
 * -ENOMEM. */
int ctrl_condition_set(json_t *obj, const char *type, const char *status, const char *reason,
		       const char *message, time_t now);

/* Owner references. The controller reference is the one with
 * controller: true. A new reference (owned) points at owner, with
 * controller and blockOwnerDeletion true, as controllers set it. */
json_t *ctrl_controller_of(json_t *obj);
bool ctrl_controlled_by(json_t *obj, json_t *owner);
json_t *ctrl_controller_ref_new(json_t *owner);

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

/* A new Pod (owned) from a PodTemplateSpec: its labels, annotations and
 * spec, metadata.generateName "<prefix>-" (or metadata.name when name is
 * given), the owner's namespace and a controller reference to owner. */
json_t *ctrl_pod_from_template(json_t *template, json_t *owner, const char *name);

#endif
