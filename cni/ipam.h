/* skiff-ipam: address management with host-local's config keys and a
 * crash-safe lease store that needs no scan of one file per lease.
 * skiff-cni calls it in-process when ipam.type is "skiff-ipam"; the
 * skiff-ipam binary wraps it as a standalone IPAM plugin. */
#ifndef SKIFF_IPAM_H
#define SKIFF_IPAM_H

#include "cni/cni.h"

struct ipam_config;

/* netconf is the whole network configuration (name, ipam, args,
 * runtimeConfig); env supplies CNI_ARGS (IP=...). Validates every key and
 * names the one at fault (CNI_ERR_INVALID_CONFIG). */
int ipam_config_parse(json_t *netconf, const struct cni_env *env,
		      struct ipam_config **out, struct cni_error *err);
void ipam_config_free(struct ipam_config *c);

/* Allocates one address per range set (or the requested ones) for the
 * attachment (container_id, ifname). Fills out->ips (interface -1),
 * out->routes and out->dns. Idempotent for an attachment that already has
 * leases. Exhaustion: CNI_ERR_TRY_AGAIN naming the range. */
int ipam_add(struct ipam_config *c, const char *container_id, const char *ifname,
	     struct cni_result *out, struct cni_error *err);
/* Releases the attachment's leases; succeeds when there are none. */
int ipam_del(struct ipam_config *c, const char *container_id, const char *ifname,
	     struct cni_error *err);
/* Fails unless the attachment holds a lease in every range set. */
int ipam_check(struct ipam_config *c, const char *container_id, const char *ifname,
	       struct cni_error *err);
/* Releases every lease whose attachment is not in valid (a JSON array of
 * {containerID, ifname}); returns the number released. */
int ipam_gc(struct ipam_config *c, json_t *valid, struct cni_error *err);
/* Ready when the store opens and some range has a free address. */
int ipam_status(struct ipam_config *c, struct cni_error *err);

#endif
