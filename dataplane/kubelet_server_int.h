/* Shared by the kubelet API's files (kubelet_server.c: TLS, routing,
 * streaming; kubelet_server_logs.c: container logs). */
#ifndef SKIFF_KUBELET_SERVER_INT_H
#define SKIFF_KUBELET_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dataplane/cri/cri.h"
#include "dataplane/kubelet_server.h"
#include "lib/tls_stream.h"

#define KL_MAX_PARAMS 64

struct kl_param {
	char *key, *value; /* decoded, into the request's copy of the query */
};

/* One request on one connection (the connection serves only it). */
struct kl_req {
	const struct kubelet_server_config *cfg;
	struct tls_stream *client;
	char *head;          /* the request head as read (NUL-separated lines) */
	size_t head_len, have; /* bytes of head, bytes read (a body may follow) */
	char method[8];
	char path[1024];     /* undecoded path */
	char raw_query[2048]; /* undecoded, for the runtime */
	char query[2048];     /* decoded copy that params point into */
	struct kl_param params[KL_MAX_PARAMS];
	size_t n_params;
};

/* The first value of a query parameter, or NULL. */
const char *kl_param(const struct kl_req *q, const char *key);
/* Whether a boolean parameter is set ("1", "true"). */
bool kl_param_true(const struct kl_req *q, const char *key);

/* Answers a Status object (code, reason, message) and ends the exchange. */
int kl_reply_status(struct kl_req *q, unsigned code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The newest container of NS/POD named name (running only, when asked),
 * through CRI labels; its id in id. -ENOENT when none. */
int kl_find_container(struct cri_client *c, const char *ns, const char *pod, const char *name,
		      bool running, char *id, size_t len);

/* GET /stats/summary (kubelet_server_stats.c). */
int kl_serve_stats_summary(struct kl_req *q);

/* GET /containerLogs/NS/POD/CONTAINER (kubelet_server_logs.c). */
int kl_serve_logs(struct kl_req *q, const char *ns, const char *pod, const char *container);

#endif
