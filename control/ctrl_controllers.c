/* The controller table: one row per controller of the manager
 * (ctrl_manager.h), each a thin adapter from the shared caches to its
 * pure compute step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/ctrl_lbipam.h"
#include "control/ctrl_manager.h"
#include "control/ctrl_nodeipam.h"
#include "control/ctrl_nodelifecycle.h"
#include "control/ctrl_serviceaccount.h"
#include "inet.h"
#include "util.h"

/* A whole-cache controller (IPAM) reconciles one key. */
#define ALL "all"

static void enqueue_all(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	(void)resource, (void)old, (void)obj;
	ctrl_enqueue(c, ALL);
}

/* An index on an informer another row may have added already. */
static int index_ensure(struct ctrl_run *c, const char *resource, const char *name, kc_index_fn fn)
{
	struct kc_informer *inf = ctrl_informer(c, resource);
	int r = inf ? kc_informer_add_index(inf, name, fn) : -ENOENT;

	return r == -EEXIST ? 0 : r;
}

/* The elements of array a as a C array (malloc'd, elements borrowed);
 * NULL for an empty array or on allocation failure (then *n is 0). */
static json_t **elems(json_t *a, size_t *n)
{
	json_t **v = json_array_size(a) ? malloc(json_array_size(a) * sizeof(*v)) : NULL;

	*n = v ? json_array_size(a) : 0;
	for (size_t i = 0; i < *n; i++)
		v[i] = json_array_get(a, i);
	return v;
}

/* "a,b" CIDRs, at most two. */
static int cidrs_parse(const char *csv, struct ipcidr *out, size_t *n)
{
	char buf[256], *save = NULL;
	const char *why;

	*n = 0;
	snprintf(buf, sizeof(buf), "%s", csv ? csv : "");
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == 2 || ipcidr_parse(t, &out[*n], &why) < 0)
			return -EINVAL;
		(*n)++;
	}
	return 0;
}

/* ---- serviceaccount: the "default" ServiceAccount of each namespace ---- */

static int sa_init(struct ctrl_run *c)
{
	return index_ensure(c, "serviceaccounts", "namespace", kc_index_namespace);
}

static void sa_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;

	ctrl_enqueue(c, streq(resource, "namespaces") ? kc_meta_str(o, "name")
						      : kc_meta_str(o, "namespace"));
}

static int sa_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *ns = kc_informer_get(ctrl_informer(c, "namespaces"), key);
	_cleanup_json_ json_t *sas = NULL;
	_cleanup_free_ json_t **v = NULL;
	size_t n;
	int r;

	if (!ns)
		return 0;
	r = kc_informer_by_index(ctrl_informer(c, "serviceaccounts"), "namespace", key, &sas);
	if (r < 0)
		return r;
	v = elems(sas, &n);
	return serviceaccount_compute(ns, v, n, p);
}

/* ---- nodeipam: spec.podCIDRs from --cluster-cidr ---- */

static int nodeipam_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	const struct ctrl_manager_config *cfg = ctrl_run_config(c);
	struct nodeipam_config nc = { .mask_v4 = (uint8_t)cfg->mask_v4, .mask_v6 = (uint8_t)cfg->mask_v6 };
	json_t *const *nodes;
	size_t n;
	int r;

	(void)key;
	if (!cfg->cluster_cidr || cidrs_parse(cfg->cluster_cidr, nc.cidrs, &nc.n_cidrs) < 0 ||
	    !nc.n_cidrs)
		return 0;
	r = ctrl_objects(c, "nodes", &nodes, &n);
	return r < 0 ? r : nodeipam_compute(&nc, nodes, n, p);
}

/* ---- lb-ipam: LoadBalancer addresses from --lb-cidr ---- */

static int lbipam_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	const struct ctrl_manager_config *cfg = ctrl_run_config(c);
	struct lbipam_config lc = { 0 };
	json_t *const *svcs;
	size_t n;
	int r;

	(void)key;
	if (!cfg->lb_cidr || cidrs_parse(cfg->lb_cidr, lc.pools, &lc.n_pools) < 0 || !lc.n_pools)
		return 0;
	r = ctrl_objects(c, "services", &svcs, &n);
	return r < 0 ? r : lbipam_compute(&lc, svcs, n, p);
}

/* ---- nodelifecycle: health, taints, eviction per node ---- */

static int nodelc_init(struct ctrl_run *c)
{
	return index_ensure(c, "pods", "node", kc_index_node_name);
}

static void nodelc_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;
	const char *node;

	if (streq(resource, "nodes"))
		node = kc_meta_str(o, "name");
	else if (streq(resource, "leases"))
		node = streq(kc_meta_str(o, "namespace"), NODELC_LEASE_NAMESPACE) ? kc_meta_str(o, "name")
										  : NULL;
	else
		node = json_string_value(json_object_get(json_object_get(o, "spec"), "nodeName"));
	if (node && *node)
		ctrl_enqueue(c, node);
}

static int nodelc_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *node = kc_informer_get(ctrl_informer(c, "nodes"), key), *lease;
	_cleanup_json_ json_t *pods = NULL;
	_cleanup_free_ json_t **v = NULL;
	size_t n;
	char lk[300];
	time_t now = time(NULL), next = 0;
	int r;

	if (!node)
		return 0;
	snprintf(lk, sizeof(lk), "%s/%s", NODELC_LEASE_NAMESPACE, key);
	lease = kc_informer_get(ctrl_informer(c, "leases"), lk);
	r = kc_informer_by_index(ctrl_informer(c, "pods"), "node", key, &pods);
	if (r < 0)
		return r;
	v = elems(pods, &n);
	r = nodelc_compute(node, lease, v, n, ctrl_run_config(c)->node_monitor_grace_s, now, p, &next);
	if (r >= 0 && next > 0)
		ctrl_enqueue_after(c, key, next > now ? (double)(next - now) : 0);
	return r;
}

/* ---- the table ---- */

const struct ctrl_def ctrl_defs[] = {
	{ .name = "serviceaccount", .informers = { "namespaces", "serviceaccounts" },
	  .init = sa_init, .event = sa_event, .reconcile = sa_reconcile },
	{ .name = "nodeipam", .informers = { "nodes" }, .event = enqueue_all,
	  .reconcile = nodeipam_reconcile },
	{ .name = "lb-ipam", .informers = { "services" }, .event = enqueue_all,
	  .reconcile = lbipam_reconcile },
	{ .name = "nodelifecycle", .informers = { "nodes", "leases", "pods" }, .init = nodelc_init,
	  .event = nodelc_event, .reconcile = nodelc_reconcile },
};
const size_t ctrl_n_defs = ARRAY_SIZE(ctrl_defs);
