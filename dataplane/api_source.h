/* The API server as a model source (skiff-agent --kubeconfig, or --server
 * and --token): informers on Services, EndpointSlices (discovery.k8s.io/v1)
 * and Nodes feed the model store, each object parsed through the model's
 * kind table (model_object_parse) as the --manifests folder's are.
 *
 *   start     waits until the three informers listed once (the agent's
 *             first sync sees the whole cluster, never a part of it)
 *   pollfds   the client's fds and deadline, for the agent's own poll
 *   dispatch  runs what is due: the watch events of one loop turn go to
 *             the store as they come; > 0 when the store changed, and the
 *             agent syncs at once (no debounce on this path)
 *
 * The store holds the objects; the informers keep each one's
 * resourceVersion only (kc_informer_opts.versions_only: a cache of the
 * JSON was ~125 MiB at 10,000 Services of 10 endpoints), and the first
 * lists reach the store page by page, never held whole.
 *
 * The server going away or restarting changes nothing in the store: the
 * informers keep their caches, reconnect with backoff and resume from the
 * last resourceVersion; a 410 relists and the informer delivers only the
 * difference (deletes, adds, updates) in the same dispatch, so the agent
 * applies it as one batch and a service never disappears in between.
 * Once a server that went away answers again, what no 410 relisted
 * meanwhile is listed again (new informers; what a new list lacks is
 * deleted in the turn its list arrives): a server restored from a snapshot, or another one, may serve
 * another state under revisions the agent has already seen, and a watch
 * resumed there would never tell.
 *
 * An object that does not parse is reported; its last good copy stays
 * (an update) or it is left out (an add). Every object's origin in the
 * store is API_SOURCE_ORIGIN. */
#ifndef SKIFF_API_SOURCE_H
#define SKIFF_API_SOURCE_H

#include "lib/kube_model.h"
#include "lib/log.h"

#include <poll.h>
#include <stddef.h>

#define API_SOURCE_ORIGIN "api"

struct api_source_options {
	const char *kubeconfig; /* a kubeconfig file, or NULL with server */
	const char *server;     /* "https://host:port" (or http://) */
	const char *token;      /* bearer token with server; NULL: none */
	const char *ca_file;    /* with server: the CA of its certificate */
};

/* The client configuration o names (the kubelet's own clients use it
 * too); err says why not. */
struct kc_config;
int api_source_config(const struct api_source_options *o, struct kc_config **out, char *err,
		      size_t errlen);

/* A source feeding store (which must outlive it). report (may be NULL)
 * gets what it saw: bad objects (error), the connection state (info),
 * counts (debug). On error err says why (the kubeconfig's message). */
int api_source_new(const struct api_source_options *o, struct model_store *store,
		   log_report_fn report, void *ud, struct model_source *out, char *err,
		   size_t errlen);

/* The client's fds (at most max) for the agent's poll; *timeout_ms is
 * lowered to the client's next deadline. src is an API source. */
size_t api_source_pollfds(const struct model_source *src, struct pollfd *fds, size_t max,
			  int *timeout_ms);
/* Runs what is due after poll; > 0 when the store changed. */
int api_source_dispatch(const struct model_source *src, const struct pollfd *fds, size_t n);
/* True when src is an API source. */
bool api_source_is(const struct model_source *src);

#endif
