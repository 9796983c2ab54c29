/* LoadBalancer IPs' compute step: see ctrl_lbipam.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "control/ctrl_ipalloc.h"
#include "control/ctrl_lbipam.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

/* Per Service: the address it holds or gets, per pool. */
struct svc_ips {
	struct ipaddr ip[2];
	bool have[2];
};

static bool ours(const struct lbipam_config *cfg, json_t *svc)
{
	const char *cls = ctrl_str(svc, "spec.loadBalancerClass");

	return !cls || streq(cls, cfg->class);
}

static bool wants_ip(json_t *svc)
{
	return streq(ctrl_str(svc, "spec.type"), "LoadBalancer") &&
	       !ctrl_get(svc, "metadata.deletionTimestamp");
}

static int family_of(const char *ipfamily)
{
	return streq(ipfamily, "IPv6") ? AF_INET6 : streq(ipfamily, "IPv4") ? AF_INET : 0;
}

/* The pool (index) serving family, or -1. */
static int pool_of(const struct lbipam_config *cfg, int family)
{
	for (size_t k = 0; k < cfg->n_pools; k++)
		if (cfg->pools[k].addr.family == family)
			return (int)k;
	return -1;
}

/* Whether svc wants an address from pool k. */
static bool wants_pool(const struct lbipam_config *cfg, json_t *svc, size_t k)
{
	json_t *fams = ctrl_get(svc, "spec.ipFamilies"), *f;
	size_t i;

	if (json_array_size(fams) == 0)
		return k == 0;
	json_array_foreach(fams, i, f)
		if (pool_of(cfg, family_of(json_string_value(f))) == (int)k)
			return true;
	return false;
}

/* spec.loadBalancerIP when it is of pool k's family. */
static bool requested(const struct lbipam_config *cfg, json_t *svc, size_t k, struct ipaddr *out)
{
	return ipaddr_parse(ctrl_str(svc, "spec.loadBalancerIP"), out) == 0 &&
	       out->family == cfg->pools[k].addr.family;
}

/* Takes the addresses svc's status holds in the pools it still wants. */
static void take_held(const struct lbipam_config *cfg, struct ipalloc *a, json_t *svc,
		      struct svc_ips *s)
{
	json_t *ing;
	size_t i;

	json_array_foreach(ctrl_get(svc, "status.loadBalancer.ingress"), i, ing) {
		struct ipaddr ip, want;

		if (ipaddr_parse(ctrl_str(ing, "ip"), &ip) < 0)
			continue;
		for (size_t k = 0; k < cfg->n_pools; k++) {
			struct ipcidr host = ipcidr_host(&ip);

			if (s->have[k] || !wants_pool(cfg, svc, k) ||
			    (requested(cfg, svc, k, &want) && !ipaddr_eq(&want, &ip)) ||
			    ipalloc_take(&a[k], &host) < 0)
				continue;
			s->ip[k] = ip;
			s->have[k] = true;
		}
	}
}

static int failed(struct ctrl_plan *p, json_t *svc, const char *why)
{
	const char *ns = ctrl_str(svc, "metadata.namespace"), *name = ctrl_str(svc, "metadata.name");

	return ctrl_plan_event(p, "services", ns, name, "Warning", "AllocationFailed",
			       "Failed to allocate IP for \"%s/%s\": %s", ns ?: "", name ?: "", why);
}

/* Gives svc an address from pool k: the requested one, else the lowest
 * free. 1 when it got one, 0 when not (an event says why). */
static int allocate(const struct lbipam_config *cfg, struct ipalloc *a, size_t k, json_t *svc,
		    struct svc_ips *s, struct ctrl_plan *p)
{
	struct ipaddr want;
	struct ipcidr c;
	int r;

	if (requested(cfg, svc, k, &want)) {
		c = ipcidr_host(&want);
		r = ipalloc_take(&a[k], &c);
		if (r < 0)
			return failed(p, svc, r == -EEXIST ? "spec.loadBalancerIP is already in use"
							   : "spec.loadBalancerIP is not in the pool");
	} else if (ipalloc_next(&a[k], &c) < 0)
		return failed(p, svc, "no available IPs");
	s->ip[k] = c.addr;
	s->have[k] = true;
	return 1;
}

/* status.loadBalancer as s says, in ipFamilies order. */
static json_t *lb_status(const struct lbipam_config *cfg, json_t *svc, const struct svc_ips *s)
{
	json_t *ingress = json_array(), *fams = ctrl_get(svc, "spec.ipFamilies");
	char buf[IPADDR_STRLEN];

	for (size_t n = 0; ingress && n < 2; n++) {
		int k = json_array_size(fams) ? pool_of(cfg, family_of(json_string_value(
							     json_array_get(fams, n))))
					       : n == 0 ? 0 : -1;

		if (k >= 0 && s->have[k])
			json_array_append_new(ingress, json_pack("{s:s}", "ip",
								 ipaddr_str(&s->ip[k], buf, sizeof(buf))));
	}
	if (json_array_size(ingress) == 0) {
		json_decref(ingress);
		return json_object();
	}
	return json_pack("{s:o}", "ingress", ingress);
}

/* Writes status.loadBalancer when it differs; the event names the new
 * addresses when gained is set. */
static int plan_status(json_t *svc, json_t *lb, bool gained, struct ctrl_plan *p)
{
	const char *ns = ctrl_str(svc, "metadata.namespace"), *name = ctrl_str(svc, "metadata.name");
	json_t *old = ctrl_get(svc, "status.loadBalancer"), *copy, *ing;
	char *ips = NULL;
	size_t len = 0, i;
	FILE *f;
	int r;

	if (!lb)
		return -ENOMEM;
	if (old ? json_equal(old, lb) : json_object_size(lb) == 0) {
		json_decref(lb);
		return 0;
	}
	copy = json_deep_copy(svc);
	if (!copy || (!json_is_object(json_object_get(copy, "status")) &&
		      json_object_set_new(copy, "status", json_object()) < 0)) {
		json_decref(copy);
		json_decref(lb);
		return -ENOMEM;
	}
	json_object_set_new(json_object_get(copy, "status"), "loadBalancer", json_incref(lb));
	r = ctrl_plan_add(p, CTRL_UPDATE_STATUS, "services", ns, name, copy);
	if (r < 0 || !gained) {
		json_decref(lb);
		return r;
	}
	f = open_memstream(&ips, &len);
	json_array_foreach(json_object_get(lb, "ingress"), i, ing)
		if (f)
			fprintf(f, "%s\"%s\"", i ? ", " : "", ctrl_str(ing, "ip"));
	if (f)
		fclose(f);
	json_decref(lb);
	r = ips ? ctrl_plan_event(p, "services", ns, name, "Normal", "IPAllocated",
				  "Assigned IP [%s]", ips)
		: -ENOMEM;
	free(ips);
	return r;
}

static int reconcile(const struct lbipam_config *cfg, struct ipalloc *a, json_t *svc,
		     struct svc_ips *s, struct ctrl_plan *p)
{
	bool gained = false;
	int r;

	if (!ours(cfg, svc))
		return 0;
	if (!wants_ip(svc))
		return ctrl_get(svc, "metadata.deletionTimestamp")
			       ? 0 : plan_status(svc, json_object(), false, p);
	for (size_t k = 0; k < cfg->n_pools; k++) {
		if (s->have[k] || !wants_pool(cfg, svc, k))
			continue;
		r = allocate(cfg, a, k, svc, s, p);
		if (r < 0)
			return r;
		gained |= r > 0;
	}
	return plan_status(svc, lb_status(cfg, svc, s), gained, p);
}

int lbipam_compute(const struct lbipam_config *cfg, json_t *const *svcs, size_t n_svcs,
		   struct ctrl_plan *p)
{
	struct ipalloc a[2];
	struct svc_ips *s;
	size_t k = 0;
	int r = 0;

	if (cfg->n_pools > 2 ||
	    (cfg->n_pools == 2 && cfg->pools[0].addr.family == cfg->pools[1].addr.family))
		return -EINVAL;
	s = calloc(n_svcs ?: 1, sizeof(*s));
	for (; s && r == 0 && k < cfg->n_pools; k++)
		r = ipalloc_init(&a[k], &cfg->pools[k],
				 cfg->pools[k].addr.family == AF_INET ? 32 : 128);
	if (!s || r < 0) {
		k -= r < 0;
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_svcs; i++)
		if (ours(cfg, svcs[i]) && wants_ip(svcs[i]))
			take_held(cfg, a, svcs[i], &s[i]);
	for (size_t i = 0; r == 0 && i < n_svcs; i++)
		r = reconcile(cfg, a, svcs[i], &s[i], p);
out:
	while (k-- > 0)
		ipalloc_free(&a[k]);
	free(s);
	return r;
}
