/* The event recorder: core/v1 Events about objects, for `kubectl get
 * events` and `kubectl describe`, correlated as client-go's recorder does
 * (tools/record: EventCorrelator) and sent without blocking the caller.
 *
 *   struct kc_recorder *rec;
 *   kc_recorder_new(c, "replicaset-controller", NULL, &rec);
 *   kc_event(rec, kc_resource_find("replicasets"), rs, "Normal",
 *            "SuccessfulCreate", "Created pod: %s", pod_name);
 *
 * The object passed names the Event's involvedObject {apiVersion, kind,
 * namespace, name, uid, resourceVersion}: pass the object itself (as a
 * cache holds it), since `kubectl describe` selects events by
 * involvedObject.uid.
 *
 * The correlator, in client-go's order:
 *  - aggregation: events alike in source, involvedObject, type, reason and
 *    reporting component but with different messages: the 10th different
 *    message within 10 minutes of the group's last event, and every one
 *    after it, is recorded as one Event with the message
 *    "(combined from similar events): MSG";
 *  - repeats: the same event again (or the same aggregate) is no new
 *    object: the first one's count + 1 and lastTimestamp (and message) are
 *    PATCHed (strategic merge) onto it; if it is gone (expired) it is
 *    created again with the count so far;
 *  - spam filter: a token bucket per source + involvedObject (reason and
 *    type are not part of it), 25 events of burst, refilled with one every
 *    5 minutes; events over it are dropped and counted.
 * Each memory (aggregation groups, past events, buckets) keeps about 4096
 * keys, the least recently used forgotten first (two generations, where
 * client-go keeps an LRU).
 *
 * Sending: kc_event returns at once. Writes go over the client's event
 * loop (kc_request_async: the program must run kc_client_dispatch on that
 * client, as every skiff loop does), at most 8 at a time, never two for the
 * same Event: a repeat while its Event is being written is folded into
 * one later write. At most 1000 Events wait; beyond that new events are
 * dropped and counted (client-go's broadcaster queue drops likewise). */
#ifndef SKIFF_KUBE_EVENTS_H
#define SKIFF_KUBE_EVENTS_H

#include <jansson.h>

#include "lib/kube_client.h"

/* ---- the correlator alone (pure: no I/O; the recorder's first step) ---- */

struct kc_correlator;

int kc_correlator_new(struct kc_correlator **out);
void kc_correlator_free(struct kc_correlator *k);

enum kc_correlation {
	KC_EVENT_CREATE, /* a new Event object */
	KC_EVENT_PATCH,  /* a repeat: patch count, lastTimestamp, message */
	KC_EVENT_SKIP,   /* over the spam filter: record nothing */
};

/* Correlates ev, a new Event as the recorder builds it (metadata.name
 * <object>.<hex ns>, count 1, firstTimestamp = lastTimestamp), seen at
 * now (seconds on any monotonic clock). Rewrites ev for what is to be
 * written: the aggregate's message, a repeat's name, count and
 * firstTimestamp. *key (may be NULL; free()): the key of the Event
 * written, the same for every write to one Event object. Returns an enum
 * kc_correlation, or -ENOMEM. */
int kc_correlate(struct kc_correlator *k, json_t *ev, double now, char **key);

/* ---- the recorder ---- */

struct kc_recorder;

/* component: source.component and reportingComponent; host: source.host
 * (NULL: none). The recorder writes through c and must be freed before
 * it. */
int kc_recorder_new(struct kc_client *c, const char *component, const char *host,
		    struct kc_recorder **out);
/* Cancels what is still being written. NULL-safe. */
void kc_recorder_free(struct kc_recorder *r);

/* Records an event about obj (its metadata names it; res gives kind and
 * apiVersion). type: "Normal" or "Warning". Returns 0 once correlated and
 * queued, also when the spam filter or the full queue dropped it (see
 * kc_recorder_stats); -EINVAL for an object without a name, -ENOMEM. */
int kc_event(struct kc_recorder *r, const struct kc_resource *res, json_t *obj,
	     const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Runs the client's loop until every queued Event is written, at most
 * timeout_ms: 0, or -ETIMEDOUT. For tests and orderly shutdowns. */
int kc_recorder_flush(struct kc_recorder *r, int timeout_ms);

struct kc_recorder_stats {
	unsigned long recorded;   /* kc_event calls correlated */
	unsigned long written;    /* creates and patches the server accepted */
	unsigned long aggregated; /* events folded into a "combined" Event */
	unsigned long spam;       /* dropped by the spam filter */
	unsigned long overflow;   /* dropped: the queue was full */
	unsigned long failed;     /* writes the server or the network refused */
};
void kc_recorder_stats(const struct kc_recorder *r, struct kc_recorder_stats *out);

#endif
