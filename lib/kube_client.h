/* The Kubernetes API client every skiff component uses (controllers,
 * scheduler, kubelet, proxy, DNS, the skiff command): nobody else speaks
 * HTTP to the API server.
 *
 *   struct kc_client *c;
 *   kc_client_new(cfg, NULL, &c);
 *   json_t *pod;
 *   r = kc_get(c, kc_resource_find("pods"), "default", "web-0", &pod);
 *   if (r < 0)
 *       log_error("get pod default/web-0: %s", kc_last_status(c)->message);
 *
 * Two ways to talk, over one libcurl share (connection cache, TLS
 * sessions, DNS) so connections are reused:
 *  - blocking calls (kc_get ... kc_request): one request at a time, on the
 *    calling thread, limited by the client's QPS/burst bucket when set;
 *  - streams (kc_watch_start, kc_request_async): driven by libcurl's multi
 *    interface from the program's own poll loop (kc_client_pollfds +
 *    kc_client_dispatch, or kc_client_run_once). Many watches share that
 *    one loop; callbacks run from kc_client_dispatch, never from inside
 *    libcurl, so they may issue blocking calls.
 * A client belongs to one thread; worker threads each make their own
 * client (kc_client_new is cheap next to a TLS handshake). Callbacks must
 * not free the client.
 *
 * Errors: negative errno from the HTTP status (400/422 -EINVAL, 401
 * -EACCES, 403 -EPERM, 404 -ENOENT, 405 -EOPNOTSUPP, 409 AlreadyExists
 * -EEXIST, 409 Conflict -ESTALE, 410 -ERANGE, 413 -E2BIG, 415 -EPROTO,
 * 429 -EBUSY, 5xx -EIO / 503 -EAGAIN / 504 -ETIMEDOUT) or from the
 * transport (-ECONNREFUSED, -ETIMEDOUT, -EPROTO for TLS, -EIO). The
 * Kubernetes Status of the last blocking call (code, reason, message) is
 * kept in kc_last_status(). */
#ifndef SKIFF_KUBE_CLIENT_H
#define SKIFF_KUBE_CLIENT_H

#include <jansson.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/kube_config.h"

/* One API resource: the row of a registry (kc_resource_find). */
struct kc_resource {
	const char *name;    /* plural, "pods" */
	const char *group;   /* "" for the core group */
	const char *version; /* "v1" */
	const char *kind;    /* "Pod" */
	bool namespaced;
};

/* A well-known resource by plural name ("pods"), or "name.group"
 * ("deployments.apps"); NULL when unknown. */
const struct kc_resource *kc_resource_find(const char *name);

struct kc_status {
	int code;         /* HTTP status; 0 when the request never got an answer */
	char reason[64];  /* "NotFound", "Conflict", "Expired", ... */
	char message[512];
};

struct kc_client_opts {
	double qps;             /* blocking calls per second; 0: no limit (default) */
	int burst;              /* bucket size when qps > 0 (default: max(1, qps)) */
	int timeout_ms;         /* per request, blocking or async; not for watches
				 * (default 30000) */
	const char *user_agent; /* default "skiff" */
	int max_connections;    /* streams (watches and async requests): connections
				 * open at once, the rest wait for one; idle ones
				 * stay open for the next (default 64: a burst of
				 * requests must not pay a TLS handshake each) */
	const atomic_bool *cancel; /* once true, requests in progress end within
				    * about a second with -ECANCELED (a thread
				    * being stopped); NULL: never */
};

struct kc_client;

int kc_client_new(const struct kc_config *cfg, const struct kc_client_opts *opts,
		  struct kc_client **out);
/* Stops every watch and async request (their done callbacks are not
 * called). NULL-safe. */
void kc_client_free(struct kc_client *c);
const struct kc_status *kc_last_status(const struct kc_client *c);
/* Requests sent (blocking and async), and the connections finished
 * transfers had to open (reuse keeps it low), for tests and metrics. */
unsigned long kc_client_requests(const struct kc_client *c);
unsigned long kc_client_connections(const struct kc_client *c);

/* The Status an error answer carries, or one made from the HTTP code. */
int kc_errno_from_status(int code, const char *reason);

/* ---- paths ---- */

/* "/api/v1/namespaces/NS/pods/NAME/SUB?QUERY"; ns ignored for cluster-scoped
 * resources, name/sub/query may be NULL. -ENAMETOOLONG when it does not fit. */
int kc_path(const struct kc_resource *res, const char *ns, const char *name, const char *sub,
	    const char *query, char *buf, size_t size);

/* ---- blocking calls ---- */

/* Any method on a path; body may be NULL; content_type NULL means JSON.
 * *out (may be NULL) gets the decoded answer on success. */
int kc_request(struct kc_client *c, const char *method, const char *path,
	       const char *content_type, json_t *body, json_t **out);

int kc_get(struct kc_client *c, const struct kc_resource *res, const char *ns,
	   const char *name, json_t **out);

struct kc_list_opts {
	const char *label_selector;
	const char *field_selector;
	long limit;                   /* 0: server default (everything) */
	const char *continue_token;   /* from the previous page */
	const char *resource_version; /* NULL: the newest */
};

/* One page: the List object as the server sent it (items,
 * metadata.resourceVersion, metadata.continue). ns NULL: all namespaces. */
int kc_list(struct kc_client *c, const struct kc_resource *res, const char *ns,
	    const struct kc_list_opts *o, json_t **out);
/* The query string of a list, escaped ("labelSelector=a%3Db&limit=5"). */
int kc_list_query(const struct kc_list_opts *o, char *buf, size_t size);
/* Every page (o->limit per page, default 500): *items an array, *rv the
 * resourceVersion of the list (free()). */
int kc_list_all(struct kc_client *c, const struct kc_resource *res, const char *ns,
		const struct kc_list_opts *o, json_t **items, char **rv);

int kc_create(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      json_t *obj, json_t **out);
/* PUT of obj (named by its metadata.name; ns NULL: its metadata.namespace),
 * with its resourceVersion as the precondition: -ESTALE when stale. */
int kc_update(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      json_t *obj, json_t **out);
int kc_update_status(struct kc_client *c, const struct kc_resource *res, const char *ns,
		     json_t *obj, json_t **out);

enum kc_patch_type {
	KC_PATCH_MERGE,     /* application/merge-patch+json */
	KC_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	KC_PATCH_JSON,      /* application/json-patch+json */
};

/* sub: NULL or a subresource ("status"). */
int kc_patch(struct kc_client *c, const struct kc_resource *res, const char *ns,
	     const char *name, const char *sub, enum kc_patch_type type, json_t *patch,
	     json_t **out);

struct kc_delete_opts {
	const char *propagation_policy; /* "Background", "Foreground", "Orphan" */
	long long grace_period_seconds; /* used when has_grace_period */
	bool has_grace_period;
	const char *precondition_uid;
	const char *precondition_rv;
};

/* *out (may be NULL): the deleted object, or the object still terminating
 * (finalizers, graceful deletion). */
int kc_delete(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      const char *name, const struct kc_delete_opts *o, json_t **out);

/* A read-modify-write that survives concurrent writers: gets the object,
 * calls mutate(obj, ud) on it (0: write it, 1: nothing to change, < 0:
 * give up with that error), PUTs it (to sub when "status"), and on 409
 * Conflict starts again, at most tries times (0: 5). *out (may be NULL):
 * the written object (or the unchanged one when mutate returned 1). */
typedef int (*kc_mutate_fn)(json_t *obj, void *ud);
int kc_update_retry(struct kc_client *c, const struct kc_resource *res, const char *ns,
		    const char *name, const char *sub, kc_mutate_fn mutate, void *ud, int tries,
		    json_t **out);

/* ---- the event loop: watches and async requests ---- */

/* The fds the client waits on, at most max (a client has one per open
 * stream, plus what libcurl resolves with); returns how many were filled.
 * *timeout_ms is lowered to when the client must run next (left alone if
 * it has no deadline). */
size_t kc_client_pollfds(struct kc_client *c, struct pollfd *fds, size_t max,
			 int *timeout_ms);
/* Runs what is due after poll(fds): reads, writes, timers, callbacks. fds
 * may include the program's own; the client picks its. */
void kc_client_dispatch(struct kc_client *c, const struct pollfd *fds, size_t n);
/* One poll of at most timeout_ms over the client's fds, then dispatch.
 * Returns the number of callbacks run (>= 0). */
int kc_client_run_once(struct kc_client *c, int timeout_ms);

/* A timer on the client's loop (at: monotonic ns, now_ns()). */
struct kc_timer;
typedef void (*kc_timer_fn)(void *ud);
int kc_timer_add(struct kc_client *c, unsigned long long at, kc_timer_fn fn, void *ud,
		 struct kc_timer **out);
void kc_timer_cancel(struct kc_client *c, struct kc_timer *t);

/* An async request: done(ud, err, status, body) from kc_client_dispatch;
 * body is borrowed for the call (NULL on transport errors). The body is
 * sent as JSON; kc_request_async_type names another content type (NULL:
 * JSON), as kc_request does. */
struct kc_async;
typedef void (*kc_async_fn)(void *ud, int err, const struct kc_status *st, json_t *body);
int kc_request_async(struct kc_client *c, const char *method, const char *path,
		     json_t *body, kc_async_fn done, void *ud, struct kc_async **out);
int kc_request_async_type(struct kc_client *c, const char *method, const char *path,
			  const char *content_type, json_t *body, kc_async_fn done, void *ud,
			  struct kc_async **out);
/* As kc_request_async, for a caller that needs only the outcome (the
 * scheduler's bindings, an Event recorder's creates): a 2xx answer's body
 * is not parsed, done gets body NULL; an error's Status is, as ever. */
int kc_request_async_outcome(struct kc_client *c, const char *method, const char *path,
			     json_t *body, kc_async_fn done, void *ud, struct kc_async **out);
/* kc_patch without waiting. */
int kc_patch_async(struct kc_client *c, const struct kc_resource *res, const char *ns,
		   const char *name, const char *sub, enum kc_patch_type type, json_t *patch,
		   kc_async_fn done, void *ud, struct kc_async **out);
void kc_async_cancel(struct kc_client *c, struct kc_async *a);

/* A watch stream (?watch=true): event(ud, type, object) per event, type
 * "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR" (object borrowed);
 * then done(ud, err) once: 0 when the server ended the stream (timeout),
 * else the errno of the failure (a non-2xx answer's Status in st). */
struct kc_watch_opts {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version;
	bool bookmarks;      /* allowWatchBookmarks */
	int timeout_seconds; /* 0: server default */
};
struct kc_watch;
typedef void (*kc_watch_event_fn)(void *ud, const char *type, json_t *obj);
typedef void (*kc_watch_done_fn)(void *ud, int err, const struct kc_status *st);
int kc_watch_start(struct kc_client *c, const struct kc_resource *res, const char *ns,
		   const struct kc_watch_opts *o, kc_watch_event_fn event, kc_watch_done_fn done,
		   void *ud, struct kc_watch **out);
/* Ends the stream; done is not called. */
void kc_watch_stop(struct kc_client *c, struct kc_watch *w);

/* ---- small object helpers ---- */

/* metadata.<field> as a string, or NULL. */
const char *kc_meta_str(json_t *obj, const char *field);
/* "ns/name", or "name" for cluster-scoped objects; -ENAMETOOLONG. */
int kc_object_key(json_t *obj, char *buf, size_t size);
/* RFC 3339 UTC "2026-12-07T05:49:36Z" for t (0: now). */
void kc_timestamp(long long t, char buf[32]);

#endif
