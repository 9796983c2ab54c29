/* Node networking: pods on every node reach pods on every other node with
 * their own addresses, and pod traffic leaving the cluster is masqueraded.
 *
 *   node_net_open(&opts, &nn);
 *   node_net_sync(nn, peers, n);   // the other nodes, as often as they change
 *   node_net_close(nn, false);     // routes stay (true: everything removed)
 *
 * Modes (flannel's host-gw and vxlan backends):
 *  - native: a route per remote pod CIDR via the remote node's address
 *    (nodes share a link);
 *  - vxlan: one vxlan device (default skiff.vxlan, VNI 1, UDP 8472) whose
 *    MAC derives from the node's address; per remote node an FDB entry
 *    (its MAC -> its address), a permanent neighbour (the network address
 *    of its pod CIDR -> its MAC) and a route onlink via that neighbour.
 *    IPv4 and IPv6 pod CIDRs alike; the underlay is the node's address.
 *
 * Every route skiff installs carries the routing protocol NODE_NET_RTPROT,
 * so a sync (also the first one after a restart) replaces what is wanted in
 * place and deletes only what no peer wants any more: adding or removing a
 * node touches that node's entries only, and a restart never tears down a
 * working route.
 *
 * Masquerade: table inet <nat_table> (default skiff-nat) masquerades
 * traffic from this node's pod CIDRs to anything outside the cluster CIDRs,
 * service CIDRs, every node's pod CIDRs and the other nodes' addresses
 * (they route back to this node's pods; a pod's reply to a client on
 * another node that reached it through a NodePort must keep its address,
 * or the reverse translation of the NodePort does not know it); one atomic
 * nftables batch per sync.
 */
#ifndef SKIFF_NODE_NET_H
#define SKIFF_NODE_NET_H

#include "lib/inet.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_NET_RTPROT 0x5c /* "skiff" in /etc/iproute2/rt_protos terms */
#define NODE_NET_DEFAULT_VXLAN "skiff.vxlan"
#define NODE_NET_DEFAULT_VNI 1
#define NODE_NET_DEFAULT_VXLAN_PORT 8472
#define NODE_NET_DEFAULT_NAT_TABLE "skiff-nat"
#define NODE_NET_MAX_ADDRS 2 /* per peer: one per family */

enum node_net_mode {
	NODE_NET_NATIVE,
	NODE_NET_VXLAN,
};

struct node_net_peer {
	const char *name;
	struct ipaddr addrs[NODE_NET_MAX_ADDRS];
	size_t n_addrs;
	struct ipcidr pod_cidrs[NODE_NET_MAX_ADDRS];
	size_t n_pod_cidrs;
};

struct node_net_options {
	enum node_net_mode mode;
	/* This node: its underlay address(es) and pod CIDR(s). */
	struct ipaddr addrs[NODE_NET_MAX_ADDRS];
	size_t n_addrs;
	struct ipcidr pod_cidrs[NODE_NET_MAX_ADDRS];
	size_t n_pod_cidrs;
	/* Destinations never masqueraded (besides every node's pod CIDRs). */
	const struct ipcidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	const struct ipcidr *service_cidrs;
	size_t n_service_cidrs;
	const char *vxlan_name; /* NULL: NODE_NET_DEFAULT_VXLAN */
	uint32_t vni;           /* 0: NODE_NET_DEFAULT_VNI */
	uint16_t vxlan_port;    /* 0: NODE_NET_DEFAULT_VXLAN_PORT */
	const char *nat_table;  /* NULL: NODE_NET_DEFAULT_NAT_TABLE */
	bool no_masquerade;
	/* Forwarding on for the interface holding addrs[0] (and in vxlan
	 * mode the vxlan device) only (a node that is the machine itself),
	 * not for every interface. */
	bool forward_device_only;
};

struct node_net;

/* Checks the options (-EINVAL with a message naming the field in err),
 * opens the netlink sockets, turns on forwarding, and in vxlan mode
 * creates (or adopts) the vxlan device; in native mode a vxlan device of
 * that name (a previous run in vxlan mode) is removed. */
int node_net_open(const struct node_net_options *o, struct node_net **out, char *err,
		  size_t err_size);
/* Brings routes, FDB and neighbour entries and the masquerade table to the
 * peers given (every other node; an entry naming this node is skipped).
 * Returns 0 or a negative errno; msg says which peer or entry failed. */
int node_net_sync(struct node_net *nn, const struct node_net_peer *peers, size_t n, char *err,
		  size_t err_size);
/* What the last sync did. */
struct node_net_stats {
	size_t added, replaced, deleted; /* routes, fdb and neighbour entries */
};
void node_net_last_stats(const struct node_net *nn, struct node_net_stats *out);
/* remove_all: also deletes skiff's routes, the vxlan device and the table. */
int node_net_close(struct node_net *nn, bool remove_all);

/* The MAC of a node's vxlan device, derived from its address. */
void node_net_vtep_mac(const struct ipaddr *node, uint8_t mac[6]);
/* The MTU inside the VXLAN overlay whose underlay address is underlay:
 * the MTU of the interface holding it, less VXLAN's headers (50 bytes
 * over IPv4, 70 over IPv6); negative errno when no interface holds it. */
int node_net_overlay_mtu(const struct ipaddr *underlay);

#endif
