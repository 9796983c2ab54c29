/* The kubelet's pod lifecycle: skiff-agent runs the pods bound to its node
 * (spec.nodeName) under a CRI runtime (containerd 1.6) and reports their
 * status, as upstream's kubelet does.
 *
 *   kubelet_start(&opts, &k)   a thread of its own: a pod informer limited
 *                              to this node, a relist of the runtime every
 *                              second (upstream's PLEG), a work queue of
 *                              pod keys, a pool of pod workers and the
 *                              prober's threads (kubelet_probe.h)
 *   kubelet_stop(k)            ends the threads; pods keep running (a new
 *                              agent adopts them by their CRI labels)
 *
 * Level-triggered: a worker reconciles one pod key at a time from the
 * informer's copy of the pod against what CRI reports (kubelet_pod.c), so
 * a restarted agent, a pod deleted while it was down and a sandbox no pod
 * owns all fall out of the same comparison. */
#ifndef SKIFF_KUBELET_H
#define SKIFF_KUBELET_H

#include "dataplane/api_source.h"

struct kubelet_options {
	const char *runtime_endpoint; /* "unix:/run/containerd/containerd.sock" */
	const char *node_name;
	struct api_source_options api; /* kubeconfig, or server + token + CA */
	const char *host_ip;           /* status.hostIP (NULL: none known) */
	const char *cluster_dns;       /* default "10.96.0.10" */
	const char *cluster_domain;    /* default "cluster.local" */
	const char *pod_log_root;      /* default "/var/log/pods" */
	const char *root_dir;          /* default "/var/lib/kubelet" */
	const char *cgroup_root;       /* pods go under ROOT/kubepods; default "/" */
	int workers;                   /* pod workers; default 16 */
	/* container log rotation (kubelet_logrotate.c) */
	long long log_max_size;        /* bytes; 0: 10 MiB; < 0: no rotation */
	int log_max_files;             /* >= 2; 0: 5 */
	int log_monitor_interval_s;    /* 0: 10 */
};

struct kubelet;

/* Starts the kubelet's threads; err says why not (a bad kubeconfig, an
 * unreachable runtime). */
int kubelet_start(const struct kubelet_options *o, struct kubelet **out, char *err,
		  size_t errlen);
/* Stops and frees (NULL-safe). Containers keep running. */
void kubelet_stop(struct kubelet *k);

#endif
