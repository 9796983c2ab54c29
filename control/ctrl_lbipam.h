/* LoadBalancer IPs, as MetalLB's and k3s ServiceLB's controllers do for
 * bare metal: a Service of type LoadBalancer gets
 * status.loadBalancer.ingress[].ip from the --lb-cidr pools (one per
 * family), one address per family of spec.ipFamilies that has a pool
 * (no ipFamilies: the first pool's).
 *
 * Pure and level-triggered: lbipam_compute takes every Service, rebuilds
 * what is held from their status (so a restart keeps every address), and
 * plans status writes:
 *  - spec.loadBalancerIP, when set, is honoured if it lies in the pool and
 *    is free; otherwise AllocationFailed, and no other address (MetalLB);
 *  - an exhausted pool gives the Warning AllocationFailed "Failed to
 *    allocate IP for "NS/NAME": no available IPs"; a success the Normal
 *    IPAllocated "Assigned IP ["a", "b"]";
 *  - a Service whose type changed away from LoadBalancer has its
 *    status.loadBalancer cleared, which frees the address; a deleted one
 *    frees it by being gone;
 *  - a Service with spec.loadBalancerClass other than cfg->class (NULL:
 *    any class) belongs to another implementation and is left alone.
 * Two Services claiming one address (restored from a backup): the first
 * in the order given keeps it. Address sharing is not done. */
#ifndef SKIFF_CTRL_LBIPAM_H
#define SKIFF_CTRL_LBIPAM_H

#include "control/ctrl_plan.h"
#include "lib/inet.h"

struct lbipam_config {
	struct ipcidr pools[2]; /* at most one per family */
	size_t n_pools;
	const char *class; /* the loadBalancerClass served besides none; NULL: none only */
};

/* -EINVAL for two pools of one family; -ENOMEM. */
int lbipam_compute(const struct lbipam_config *cfg, json_t *const *svcs, size_t n_svcs,
		   struct ctrl_plan *p);

#endif
