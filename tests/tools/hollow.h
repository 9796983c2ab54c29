/* hollow-nodes: N nodes that exist only on the API (Kubernetes' kubemark
 * hollow nodes). One process, one thread, one client (lib/kube_*): it
 * registers the Node objects, renews their Leases, and plays the kubelet
 * for the pods bound to them (status Running and Ready with an address,
 * Jobs' pods finishing, deleted pods removed with grace 0).
 *
 *   hollow_nodes.c  options, the event loop, the request pump, progress, exit
 *   hollow_node.c   Node objects, registration, Lease renewals, node status
 *   hollow_pod.c    the pod informer and the kubelet's pod status writes
 *
 * Every write goes through hollow_send(): at most --inflight async
 * requests at once, the rest wait in two FIFOs: urgent (Leases) and the
 * rest, which gets every fourth slot. The sources of the rest (pod status,
 * node status, registration, in that order) keep at most one waiting. */
#ifndef SKIFF_HOLLOW_H
#define SKIFF_HOLLOW_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/inet.h"
#include "lib/kube_informer.h"
#include "lib/kube_workqueue.h"
#include "lib/log.h"

#define HOLLOW_MAX_PICKS 64  /* --no-lease / --silent / --taint given at most this often */
#define HOLLOW_LABEL "hollow.skiff.io/prefix"
#define HOLLOW_READY_KEY "hollow.skiff.io/ready"
#define HOLLOW_EXIT_KEY "hollow.skiff.io/exit-code"

struct hollow_picks {
	int v[HOLLOW_MAX_PICKS];
	int n;
};

struct hollow_strs {
	const char *v[HOLLOW_MAX_PICKS];
	int n;
};

struct hollow_opts {
	const char *kubeconfig, *context, *prefix, *arch, *cpu, *memory, *control_file;
	const char *kubelet_version;
	int nodes, first_index, zones, max_pods, inflight;
	int lease_interval_s, lease_duration_s, node_status_s, progress_s, exit_wait_s;
	int ready_delay_ms, stop_delay_ms, exit_delay_ms;
	struct hollow_picks no_lease, silent; /* node numbers */
	struct hollow_strs taints;            /* "key[=value]:Effect" */
	bool keep_nodes, help;
	enum log_level log_level;
};

struct hnode {
	char name[64];
	int index;            /* the number in the name */
	char ip[IPADDR_STRLEN]; /* InternalIP, 10.255.x.y */
	char uid[64];         /* from the create answer: the Lease's owner */
	struct ipcidr fallback_cidr; /* the made-up pod /24 when spec.podCIDR is unset */
	unsigned char used[32];      /* pod addresses taken, by last octet */
	bool registered, lease_created, no_lease, silent, control_silent;
	bool lease_busy, status_busy, status_due;
	unsigned long long renew_at, status_at; /* monotonic ns */
	unsigned long long renew_sent;
	struct hollow *h;
};

struct hollow_stats {
	unsigned long registered, leases_created, renewals, renew_late, renew_errors;
	unsigned long node_status_writes, pod_status_writes, pod_deletes, conflicts, errors;
	unsigned long renewals_at_last_progress, deleted_nodes, deleted_leases;
	unsigned long long renew_lat_sum_ns, renew_lat_max_ns;
	unsigned long long win_lat_sum_ns, win_lat_max_ns; /* since the last progress line */
};

struct hreq;

struct hollow {
	struct hollow_opts o;
	struct kc_client *c;
	struct hnode *nodes;
	int n;
	json_t *node_index;  /* name -> position in nodes */
	struct kc_informer *node_inf, *pod_inf;
	struct kc_wq *pod_q;
	json_t *pod_state;   /* "ns/name" -> {"ip", "start_ns", "stop_ns"} */
	struct hreq *queue_head[2], *queue_tail[2]; /* [0] urgent, [1] the rest; FIFOs */
	size_t queued;
	unsigned long picks; /* requests taken from the queues */
	int inflight;
	int register_next;   /* next node to register */
	int renew_cursor, status_cursor;
	int registered_pending; /* nodes (and their leases) not yet registered */
	bool stopping, registered_all;
	unsigned long long t_start, t_registered, t_last_progress;
	struct hollow_stats st;
	long control_mtime_ns;
	long control_size;
	int status_due;      /* nodes with status_due set */
	const char *warn_kinds[16]; /* hollow_request_failed: warnings so far, per kind */
	int warn_counts[16];
};

typedef void (*hreq_fn)(struct hollow *h, void *ud, int err, const struct kc_status *st,
			json_t *body);

/* Queues a request (body is stolen, may be NULL); fn(h, ud, ...) once it
 * is answered, with body NULL on success: only the outcome is read (the
 * answered object is not parsed: the pods' status writes return whole
 * pods). urgent: ahead of every request that is not. */
int hollow_send(struct hollow *h, bool urgent, const char *method, const char *path,
		json_t *body, hreq_fn fn, void *ud);
/* As hollow_send, for fn that reads the answered object. */
int hollow_send_parsed(struct hollow *h, bool urgent, const char *method, const char *path,
		       json_t *body, hreq_fn fn, void *ud);
/* A warning for a failed request, the first few of each kind only. */
void hollow_request_failed(struct hollow *h, const char *what, const char *method,
			   const char *path, int err, const struct kc_status *st);
/* Room for one more request that is not urgent: the lower-priority
 * sources (registration, pod and node status) keep at most one waiting. */
bool hollow_has_room(const struct hollow *h);

/* hollow_node.c */
int hollow_nodes_init(struct hollow *h);
int hollow_nodes_start(struct hollow *h);
void hollow_nodes_tick(struct hollow *h, unsigned long long now);
struct hnode *hollow_node_find(struct hollow *h, const char *name);
bool hollow_node_quiet(const struct hnode *n);
/* The pod /24 of n: spec.podCIDR when node IPAM set one, else made up. */
struct ipcidr hollow_node_pod_cidr(struct hollow *h, struct hnode *n);
void hollow_nodes_set_control(struct hollow *h, json_t *silent_names);
void hollow_nodes_cleanup(struct hollow *h);
void hollow_nodes_free(struct hollow *h);

/* hollow_pod.c */
int hollow_pods_start(struct hollow *h);
void hollow_pods_tick(struct hollow *h);
void hollow_pods_requeue_node(struct hollow *h, struct hnode *n);
void hollow_pods_count(struct hollow *h, unsigned long *pods, unsigned long *running,
		       unsigned long *ready);
void hollow_pods_free(struct hollow *h);

/* Shared small helpers. */
unsigned long long hollow_ms_ns(int ms);
/* RFC 3339 with microseconds (a MicroTime), for Lease renewTime. */
void hollow_micro_time(char buf[40]);

#endif
