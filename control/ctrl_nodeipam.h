/* Node IPAM, as kube-controller-manager's range allocator: every node gets
 * spec.podCIDR and spec.podCIDRs, one block per cluster CIDR (one per
 * family, --cluster-cidr order), of the mask size of its family
 * (--node-cidr-mask-size-ipv4 / -ipv6, /24 and /64 by default).
 *
 * Pure and level-triggered: nodeipam_compute takes every node, rebuilds
 * the allocations from the podCIDRs they hold (so a restart or a leader
 * change loses nothing, and a node that goes releases its blocks), and
 * plans a merge patch for each node without podCIDRs, in the order given,
 * lowest free block first. When a cluster CIDR is exhausted the node gets
 * the event CIDRNotAvailable and no patch. A node holding podCIDRs already
 * is left as it is (podCIDR is immutable). Upstream also rotates its next
 * candidate so a released block is not reused at once: not done. */
#ifndef SKIFF_CTRL_NODEIPAM_H
#define SKIFF_CTRL_NODEIPAM_H

#include "control/ctrl_plan.h"
#include "lib/inet.h"

#define NODEIPAM_MASK_V4_DEFAULT 24
#define NODEIPAM_MASK_V6_DEFAULT 64

struct nodeipam_config {
	struct ipcidr cidrs[2]; /* the cluster CIDRs, at most one per family */
	size_t n_cidrs;
	uint8_t mask_v4, mask_v6; /* 0: the defaults */
};

/* -EINVAL for a mask shorter than its cluster CIDR's prefix or two CIDRs
 * of one family; -ENOMEM. */
int nodeipam_compute(const struct nodeipam_config *cfg, json_t *const *nodes, size_t n_nodes,
		     struct ctrl_plan *p);

#endif
