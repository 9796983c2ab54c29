/* The service proxy's desired state: from the model (Services and
 * EndpointSlices) to frontends and their backends, the way kube-proxy
 * chooses endpoints; and the difference between two such states.
 *
 *   proxy_compute(store, &cfg, &next);     // pure: no kernel, no I/O
 *   proxy_diff(applied, next, &changes);   // what to set, delete, end
 *
 * proxy_lb.h applies a diff to the BPF datapath (dataplane/lb/lb.h).
 *
 * Endpoint choice per service port and address family:
 *  - endpoints come from EndpointSlices labelled kubernetes.io/service-name
 *    in the service's namespace, whose port has the service port's name and
 *    protocol; addresses[0] of each endpoint, de-duplicated by address and
 *    port (the best condition wins);
 *  - a traffic policy Local keeps only endpoints whose nodeName is this node
 *    (internal: ClusterIP frontends; external: externalIPs, LoadBalancer
 *    ingress and NodePort);
 *  - ready endpoints (conditions.ready true or nil) are selected; when none
 *    is ready, serving-and-terminating ones are (terminating fallback);
 *    every other endpoint is kept quarantined (known, never selected), so a
 *    readiness flip does not end its connections, but removal does.
 */
#ifndef SKIFF_PROXY_H
#define SKIFF_PROXY_H

#include "lib/kube_model.h"
#include "lib/log.h"

/* Same values as enum lb_kind / lb_backend_state / lb_frontend_flags. */
enum proxy_kind {
	PROXY_KIND_CLUSTER_IP = 0,
	PROXY_KIND_EXTERNAL_IP = 1,
	PROXY_KIND_LOAD_BALANCER = 2,
	PROXY_KIND_NODE_PORT = 3,
};
const char *proxy_kind_name(uint8_t kind);

enum proxy_backend_state {
	PROXY_BACKEND_ACTIVE = 0,
	PROXY_BACKEND_TERMINATING = 1,
	PROXY_BACKEND_QUARANTINED = 2,
};

#define PROXY_F_LOCAL (1u << 0)

struct proxy_config {
	const char *node_name; /* NULL: no endpoint is local */
	const struct ipaddr *node_addrs;
	size_t n_node_addrs;
	enum model_algorithm default_algorithm; /* MODEL_ALG_RANDOM or _MAGLEV */
};

struct proxy_fe_key {
	struct ipaddr addr; /* NodePort with no node address: unspecified */
	uint16_t port;
	uint8_t proto;
	uint8_t kind;
};
int proxy_fe_key_cmp(const struct proxy_fe_key *a, const struct proxy_fe_key *b);

struct proxy_backend {
	struct ipaddr addr;
	uint16_t port;
	uint8_t state; /* enum proxy_backend_state */
};

struct proxy_summary; /* per service, for log lines */

struct proxy_frontend {
	struct proxy_fe_key key;
	char *name; /* "ns/name:port" (port name, or number when unnamed), in backends' allocation */
	struct proxy_summary *svc;
	uint32_t affinity_timeout;
	uint8_t algorithm; /* MODEL_ALG_RANDOM or MODEL_ALG_MAGLEV */
	uint32_t flags;
	struct proxy_backend *backends; /* sorted by address and port */
	size_t n_backends;
};

struct proxy_summary {
	char *service; /* "ns/name", in the summary's allocation */
	size_t n_frontends;
	/* Distinct endpoint addresses, by the best state any port gives them. */
	size_t n_ready;       /* selected as ready */
	size_t n_fallback;    /* selected as terminating fallback */
	size_t n_quarantined; /* known but not selected */
	bool sctp_skipped;    /* SCTP ports are not load-balanced */
	size_t n_conflicts;   /* frontends another service already claims */
};

struct proxy_state {
	struct proxy_frontend *fes; /* sorted by key, unique */
	size_t n_fes;
	struct proxy_summary **svcs; /* sorted by service name */
	size_t n_svcs;
};

int proxy_compute(const struct model_store *st, const struct proxy_config *cfg,
		  struct proxy_state **out);
/* An empty state (the "applied" state of a fresh start). */
int proxy_state_new_empty(struct proxy_state **out);
void proxy_state_free(struct proxy_state *s);
const struct proxy_frontend *proxy_state_find(const struct proxy_state *s,
					      const struct proxy_fe_key *key);
/* "3 backends (2 ready, 1 terminating-fallback)" and the like. */
void proxy_summary_format(const struct proxy_summary *sum, char *buf, size_t size);

/* A backend no frontend of the new state has any more: its sockets end. */
struct proxy_removed {
	struct proxy_backend be;
	uint8_t proto;
	const char *name; /* the frontend it left (in the old state) */
};

struct proxy_changes {
	const struct proxy_frontend **set; /* new or changed, from "next" */
	size_t n_set;
	const struct proxy_frontend **del; /* gone, from "prev" */
	size_t n_del;
	struct proxy_removed *removed;
	size_t n_removed;
};

/* Compares two states. The result points into prev and next. rest (may be
 * NULL) is the part of the state that neither prev nor next covers (the
 * services not recomputed): a backend one of its frontends still uses is
 * not "removed". */
int proxy_diff(const struct proxy_state *prev, const struct proxy_state *next,
	       const struct proxy_state *rest, struct proxy_changes *out);

/* Incremental computation, for a few changed services among many:
 *
 *   proxy_compute_services(store, &cfg, keys, n, &part);  // sorts keys
 *   proxy_state_take_services(applied, keys, n, part, &old);
 *   proxy_diff(old, part, applied, &changes);
 *   proxy_state_merge(applied, part);
 *
 * gives the same state and changes as a full proxy_compute and diff. */
/* The frontends of the services keys[] ("ns/name", sorted in place) only;
 * a key whose service is gone contributes nothing. */
int proxy_compute_services(const struct model_store *st, const struct proxy_config *cfg,
			   char **keys, size_t n, struct proxy_state **out);
/* Moves the frontends and summaries of services keys[] (sorted) out of
 * applied into a new state *taken. -EEXIST, and nothing moved, when a
 * frontend of part belongs in applied to a service not in keys (a
 * conflict between services: recompute everything). */
int proxy_state_take_services(struct proxy_state *applied, char *const *keys, size_t n,
			      const struct proxy_state *part, struct proxy_state **taken);
/* Moves everything of part (consumed, also on failure) into applied. */
int proxy_state_merge(struct proxy_state *applied, struct proxy_state *part);
void proxy_changes_clear(struct proxy_changes *c);
bool proxy_frontend_equal(const struct proxy_frontend *a, const struct proxy_frontend *b);
/* Reports (report may be NULL) one line per service with a changed
 * frontend (its summary, from now: the new state of at least every such
 * service), warnings for SCTP ports and claimed frontends, and "removed"
 * for services whose frontends all went away. */
void proxy_report_services(const struct proxy_state *now, const struct proxy_changes *c,
			   log_report_fn report, void *ud);

/* Bringing a proxy mode up to date with the store, as skiff-agent does
 * after every change (and nft-bench, to time it). Each mode gives its
 * entry points: the eBPF datapath (proxy_lb_mode_ops) and the nftables table
 * (nftp_mode_ops). */
struct proxy_mode_ops {
	/* The state last applied; NULL before the first apply. */
	const struct proxy_state *(*applied)(const void *m);
	/* Applies the recomputed services keys[] (part consumed); -EAGAIN
	 * when only a full apply can do it. */
	int (*apply_services)(void *m, char **keys, size_t n, struct proxy_state *part);
	/* Applies the whole desired state (next consumed). */
	int (*apply)(void *m, struct proxy_state *next);
	/* Optional: after a failed apply, "<what the kernel refused>: " into
	 * buf ("" when nothing is known). */
	void (*failed)(const void *m, char *buf, size_t size);
};

/* What one proxy_mode_sync did, for the log and for benchmarks. */
struct proxy_sync_report {
	bool full;               /* everything recomputed, not only the changed services */
	size_t n_changed;        /* the services recomputed when !full */
	size_t n_fes;            /* frontends applied in all */
	unsigned long long compute_ns, apply_ns; /* of the path that applied */
};

/* Recomputes and applies only the services the store marked changed when
 * it can, everything when force_full, before the first apply, or when the
 * mode asks for it. Returns the number of frontends that failed (retried
 * by the caller), or -errno with err saying what failed ("cannot apply
 * the changed services: ..."); rep is filled either way. */
int proxy_mode_sync(const struct proxy_mode_ops *mode, void *m, struct model_store *st,
		    const struct proxy_config *cfg, bool force_full, struct proxy_sync_report *rep,
		    char *err, size_t errlen);

#endif
