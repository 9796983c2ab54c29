/* The kubelet's Node: registration, status, Lease and the CNI config, in
 * a thread of its own (with its own API client) so that slow container
 * operations never delay the heartbeat.
 *
 *   start  -> register: create the Node (labels kubernetes.io/hostname,
 *             os, arch), or bring the labels of an existing one back
 *   every lease_s (10 s): renew the Lease kube-node-lease/NAME
 *             (leaseDurationSeconds 40, owned by the Node)
 *   every 10 s: read the node's facts (cpu, memory, ephemeral storage of
 *             the data dir, pids, the runtime through CRI Version) and
 *             patch status when it changed, or every status_report_s
 *             (5 min): addresses, capacity, allocatable, nodeInfo,
 *             conditions Ready / MemoryPressure / DiskPressure /
 *             PIDPressure with heartbeat and transition times,
 *             daemonEndpoints.kubeletEndpoint.Port;
 *             the Node's spec.podCIDRs (node IPAM) into the CNI config
 *             <cni_conf_dir>/10-skiff.conflist for skiff-cni, rewritten
 *             when they change
 *   stop   -> the thread ends (the Node and its Lease stay; the node
 *             lifecycle controller marks the node once the Lease ages)
 *
 * Failures (the server away, a conflict) are logged and retried on the
 * next tick; the Lease is retried after LEASE_RETRY_S. */
#ifndef SKIFF_KUBELET_NODE_H
#define SKIFF_KUBELET_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/inet.h"

#define KUBELET_VERSION "v1.30.0+skiff"
#define KUBELET_PORT 10250
#define KUBELET_MAX_PODS 110
#define KUBELET_LEASE_S 10
#define KUBELET_LEASE_DURATION_S 40
#define KUBELET_STATUS_REPORT_S 300
#define KUBELET_CNI_CONFLIST "10-skiff.conflist"

struct kubelet_node_options {
	const char *kubeconfig; /* the node's credentials */
	const char *node_name;
	const char *hostname;  /* the Hostname address and label; NULL: node_name */
	const struct ipaddr *addrs; /* InternalIPs; none: the address toward the server */
	size_t n_addrs;
	const char *data_dir;     /* ephemeral-storage: its file system */
	const char *cni_conf_dir; /* NULL: no CNI config written */
	const char *cni_ipam_dir; /* skiff-ipam's dataDir; NULL: its default */
	bool cni_forward_interface; /* skiff-cni's "forwarding": "interface" */
	int cni_mtu;                /* skiff-cni's "mtu" (0: the plugin's default) */
	const char *cri_endpoint; /* NULL: no runtime (containerRuntimeVersion empty) */
	int kubelet_port;    /* daemonEndpoints' (the kubelet API's); 0: KUBELET_PORT */
	int lease_s;         /* 0: KUBELET_LEASE_S */
	int status_report_s; /* 0: KUBELET_STATUS_REPORT_S */
};

struct kubelet_node;

/* Starts the thread (signals blocked in it). The options' strings must
 * outlive it. */
int kubelet_node_start(const struct kubelet_node_options *o, struct kubelet_node **out);
/* Ends the thread and frees; NULL-safe. */
void kubelet_node_stop(struct kubelet_node *n);

/* ---- the pure parts, for tests ---- */

/* What the node's status is made of, read from the system. */
struct kubelet_node_facts {
	long cpus;
	unsigned long long mem_total_kib, mem_available_kib;
	unsigned long long fs_bytes, fs_available_bytes;
	unsigned long pids, pid_max;
	char kernel[128], os_image[256], arch[32], machine_id[64], boot_id[64];
	char runtime[128]; /* "containerd://1.6.20", or "" */
	char runtime_error[256]; /* why the runtime did not answer, or "" */
	char hostname[256];
	char addrs[4][64]; /* InternalIPs */
	size_t n_addrs;
	int kubelet_port; /* 0: KUBELET_PORT */
};

/* The status for facts at now: conditions keep their lastTransitionTime
 * from old (the Node's status, may be NULL) when their status is the
 * same. A new object. */
json_t *kubelet_node_status(const struct kubelet_node_facts *f, json_t *old, time_t now);
/* Whether two statuses differ in anything but heartbeat times. */
bool kubelet_node_status_changed(json_t *a, json_t *b);
/* The conflist for skiff-cni with the Node's spec.podCIDRs and skiff-ipam
 * keeping its leases in ipam_dir (NULL: its default), forwarding turned
 * on per pod veth (forward_interface) or machine-wide, the pods' MTU
 * (mtu > 0; else the plugin's default), chained with portmap (a string,
 * free()), or NULL when the Node has none. */
char *kubelet_node_conflist(json_t *node, const char *ipam_dir, bool forward_interface, int mtu);

#endif
