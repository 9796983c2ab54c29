/* skiff-cni internals: the network configuration, the routed-veth
 * datapath (netlink) and the operations. Not used outside skiff-cni. */
#ifndef SKIFF_CNI_PLUGIN_H
#define SKIFF_CNI_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "cni/cni.h"

/* Prefix of every host-side veth skiff-cni creates; GC only looks at these. */
#define CNI_HOST_PREFIX "skf"
/* A veth that an older DEL took down and renamed before removing it; GC
 * removes one left behind. */
#define CNI_RETIRED_PREFIX "skd"
/* The IPAM type run in-process instead of exec'd from CNI_PATH. */
#define CNI_INPROC_IPAM "skiff-ipam"
/* The largest configuration read from stdin. */
#define CNI_MAX_CONFIG (1u << 20)

/* The network configuration as the runtime sends it on stdin. Strings and
 * objects point into root. */
struct cni_netconf {
	json_t *root;              /* owned */
	const char *raw;           /* stdin text as given (not owned) */
	size_t raw_len;
	const char *version;       /* cniVersion */
	const char *name;
	const char *type;
	int mtu;                   /* 0: kernel default */
	bool forward_interface;    /* "forwarding": "interface": on the host veth, not machine-wide */
	json_t *ipam;
	const char *ipam_type;
	json_t *prev_result;       /* NULL when absent */
	json_t *dns;               /* NULL when absent */
	json_t *valid_attachments; /* owned; GC only: [{containerID, ifname}] */
};

/* Parses and validates the configuration for cmd, naming the field at
 * fault: CNI_ERR_DECODE for bad JSON, CNI_ERR_INCOMPATIBLE_VERSION for a
 * cniVersion not spoken (or too old for cmd), CNI_ERR_INVALID_CONFIG
 * otherwise. text need not be NUL-terminated; it must outlive out. */
int cni_netconf_parse(const char *text, size_t len, enum cni_cmd cmd,
		      struct cni_netconf *out, struct cni_error *err);
void cni_netconf_done(struct cni_netconf *c);

/* ---- link.c: netlink for the routed veth ---- */

struct nl_sock;
struct nl_msg;

/* The host-side name of an attachment: CNI_HOST_PREFIX + 12 hex digits of
 * a hash of container ID and ifname; out has room for 16 bytes. */
void cni_host_ifname(const char *container_id, const char *ifname, char out[16]);
/* The alias put on the host veth so GC knows whose it is. */
int cni_host_alias(const char *network, const char *container_id, const char *ifname,
		   char *out, size_t size);
/* Parses an alias made by cni_host_alias; pointers into the caller's buffer. */
int cni_host_alias_parse(char *alias, const char **network, const char **container_id,
			 const char **ifname);

/* Route socket in the current network namespace / in the one of nsfd. */
int link_socket_open(struct nl_sock **out);
void link_socket_close(struct nl_sock *sk);
/* Switches the calling thread to netns nsfd; *saved gets an fd to return
 * with netns_leave (which closes it). */
int netns_enter(int nsfd, int *saved);
int netns_leave(int saved);
/* Opens a network namespace path and verifies it is one. */
int netns_open(const char *path);

/* 0 < ifindex or -ENODEV. */
int link_ifindex(struct nl_sock *sk, const char *name);
/* Creates a veth host_name <-> pod_name with pod_name placed in nsfd. */
int link_veth_create(struct nl_sock *sk, const char *host_name, const char *pod_name, int nsfd,
		     int mtu);
int link_delete(struct nl_sock *sk, const char *name);
int link_delete_ifindex(struct nl_sock *sk, int ifindex);
/* The ifindex of link name and, for a veth, its peer's ifindex in the
 * peer's netns (0 otherwise). */
int link_veth_peer(struct nl_sock *sk, const char *name, int *ifindex, int *peer_ifindex);
/* Deletes veth ifindex in a detached process and returns once the kernel
 * has unlisted it and its peer (peer_ifindex named peer_name in peer_nsfd,
 * waited for when peer_nsfd >= 0 and the name matches): their names,
 * addresses and routes are gone then. The tens of milliseconds of RCU
 * waits that follow in the kernel are the child's. -ESRCH or -ETIMEDOUT
 * when the link outlived the child or 10 s. */
int link_delete_detached(int ifindex, int peer_nsfd, int peer_ifindex, const char *peer_name);
/* Requests sent to the kernel in one message and answered with one
 * acknowledgement (and an error for each that fails): link_batch_* queue
 * (returning the request's position), link_batch_run sends, waits and
 * frees; 0, or the first failure's negative errno with its position in
 * *failed (may be NULL). The kernel carries out every request of a batch,
 * also those after a failed one. */
/* Room for every request of one side of an ADD (addresses, up, routes). */
#define LINK_BATCH_MAX (2 * CNI_MAX_IPS + 2 + CNI_MAX_ROUTES)
struct link_batch {
	struct nl_sock *sk;
	struct nl_msg *msg[LINK_BATCH_MAX];
	int n;
	int build_err, build_failed; /* the first request that could not be built */
};
void link_batch_init(struct link_batch *b, struct nl_sock *sk);
int link_batch_addr_add(struct link_batch *b, int ifindex, const struct ipcidr *a);
int link_batch_set_up(struct link_batch *b, int ifindex, const char *alias);
int link_batch_route_add(struct link_batch *b, int ifindex, const struct ipcidr *dst,
			 const struct ipaddr *gw);
int link_batch_run(struct link_batch *b, int *failed);
/* Sets the link up and, when alias is not NULL, its alias. */
int link_set_up(struct nl_sock *sk, int ifindex, const char *alias);
/* Reads mac ("aa:bb:..."), mtu and whether the link is up. */
int link_info(struct nl_sock *sk, int ifindex, char mac[18], int *mtu, bool *up);
/* The ifindex of link name (or a negative errno), with its mac and mtu. */
int link_lookup(struct nl_sock *sk, const char *name, char mac[18], int *mtu);
int link_addr_add(struct nl_sock *sk, int ifindex, const struct ipcidr *a);
/* 0 when ifindex holds a (with a's prefix), -ENOENT otherwise. */
int link_addr_find(struct nl_sock *sk, int ifindex, const struct ipcidr *a);
/* Route to dst (with prefix) through ifindex, via gw when not NULL. */
int link_route_add(struct nl_sock *sk, int ifindex, const struct ipcidr *dst,
		   const struct ipaddr *gw);
int link_route_find(struct nl_sock *sk, int ifindex, const struct ipcidr *dst,
		    const struct ipaddr *gw);

/* Calls fn for every veth whose name starts with prefix, with its alias
 * ("" when none); stops at the first negative return. */
typedef int (*link_veth_fn)(const char *name, const char *alias, void *data);
int link_veth_foreach(struct nl_sock *sk, const char *prefix, link_veth_fn fn, void *data);

/* ---- plugin.c: the operations ---- */

struct cni_plugin {
	struct cni_env env;
	struct cni_netconf conf;
	const char *out_version; /* version for results and errors */
};

int cni_plugin_add(struct cni_plugin *p, json_t **result, struct cni_error *err);
/* The link half of DEL alone: removes the host veth derived from the
 * container ID and ifname (the pod side goes with it). Used when the
 * configuration is too broken to run IPAM. */
int cni_plugin_del_link(const struct cni_env *env, struct cni_error *err);
int cni_plugin_del(struct cni_plugin *p, struct cni_error *err);
int cni_plugin_check(struct cni_plugin *p, struct cni_error *err);
int cni_plugin_gc(struct cni_plugin *p, struct cni_error *err);
int cni_plugin_status(struct cni_plugin *p, struct cni_error *err);

#endif
