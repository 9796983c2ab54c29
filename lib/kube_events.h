/* The event recorder: core/v1 Events about objects, for `kubectl get
 * events` and `kubectl describe`, aggregated as Kubernetes' recorder does.
 *
 *   struct kc_recorder *rec;
 *   kc_recorder_new(c, "replicaset-controller", NULL, &rec);
 *   kc_event(rec, kc_resource_find("replicasets"), rs, "Normal",
 *            "SuccessfulCreate", "Created pod: %s", pod_name);
 *
 * The first occurrence of an (object, type, reason, message, source)
 * creates an Event named <object>.<hex unix nanoseconds> in the object's
 * namespace ("default" for cluster-scoped objects) with count 1 and
 * firstTimestamp = lastTimestamp = now. Each repeat PATCHes (strategic
 * merge) count + 1 and lastTimestamp onto that Event, as client-go's
 * EventCorrelator does; if the Event is gone (expired), it is created
 * again with the count so far. The memory of past events is bounded
 * (4096, forgotten all at once when full, where client-go keeps an LRU).
 * Not done yet: client-go's aggregation of similar events with different
 * messages ("combined from similar events") and its per-object spam
 * filter.
 *
 * Writes are blocking calls on the recorder's client. */
#ifndef SKIFF_KUBE_EVENTS_H
#define SKIFF_KUBE_EVENTS_H

#include <jansson.h>

#include "lib/kube_client.h"

struct kc_recorder;

/* component: source.component and reportingComponent; host: source.host
 * (NULL: none). */
int kc_recorder_new(struct kc_client *c, const char *component, const char *host,
		    struct kc_recorder **out);
void kc_recorder_free(struct kc_recorder *r);

/* Records an event about obj (its metadata names it; res gives kind and
 * apiVersion). type: "Normal" or "Warning". Returns 0 or the error of the
 * write (-EINVAL for an object without a name). */
int kc_event(struct kc_recorder *r, const struct kc_resource *res, json_t *obj,
	     const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#endif
