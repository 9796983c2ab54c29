/* Node IPAM's compute step: see ctrl_nodeipam.h. */
#include <errno.h>

#include "control/ctrl_ipalloc.h"
#include "control/ctrl_nodeipam.h"
#include "control/ctrl_util.h"

static uint8_t mask_of(const struct nodeipam_config *cfg, int family)
{
	if (family == AF_INET)
		return cfg->mask_v4 ?: NODEIPAM_MASK_V4_DEFAULT;
	return cfg->mask_v6 ?: NODEIPAM_MASK_V6_DEFAULT;
}

static int allocators_init(const struct nodeipam_config *cfg, struct ipalloc *a)
{
	int r = 0;
	size_t i;

	if (cfg->n_cidrs > 2 ||
	    (cfg->n_cidrs == 2 && cfg->cidrs[0].addr.family == cfg->cidrs[1].addr.family))
		return -EINVAL;
	for (i = 0; r == 0 && i < cfg->n_cidrs; i++)
		r = ipalloc_init(&a[i], &cfg->cidrs[i], mask_of(cfg, cfg->cidrs[i].addr.family));
	if (r < 0)
		while (i-- > 1)
			ipalloc_free(&a[i - 1]);
	return r;
}

/* Marks the blocks node holds; other CIDRs (from before a change of
 * --cluster-cidr) are ignored. */
static void take_held(struct ipalloc *a, size_t n, json_t *node)
{
	json_t *held = ctrl_get(node, "spec.podCIDRs"), *c;
	size_t i;

	if (json_array_size(held) == 0)
		held = json_pack("[s?]", ctrl_str(node, "spec.podCIDR"));
	else
		json_incref(held);
	json_array_foreach(held, i, c) {
		struct ipcidr cidr;

		if (ipcidr_parse(json_string_value(c), &cidr, NULL) < 0)
			continue;
		for (size_t k = 0; k < n; k++)
			ipalloc_take(&a[k], &cidr);
	}
	json_decref(held);
}

static bool holds_cidr(json_t *node)
{
	return json_array_size(ctrl_get(node, "spec.podCIDRs")) > 0 ||
	       ctrl_str(node, "spec.podCIDR");
}

static int assign(struct ipalloc *a, size_t n, json_t *node, struct ctrl_plan *p)
{
	const char *name = ctrl_str(node, "metadata.name");
	json_t *cidrs = json_array();
	char buf[IPCIDR_STRLEN];

	if (!cidrs)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		struct ipcidr c;

		if (ipalloc_next(&a[k], &c) < 0) {
			json_decref(cidrs);
			return ctrl_plan_event(p, "nodes", NULL, name, "Normal", "CIDRNotAvailable",
					       "Node %s status is now: CIDRNotAvailable", name ?: "");
		}
		json_array_append_new(cidrs, json_string(ipcidr_str(&c, buf, sizeof(buf))));
	}
	if (json_array_size(cidrs) != n) {
		json_decref(cidrs);
		return -ENOMEM;
	}
	return ctrl_plan_add(p, CTRL_PATCH, "nodes", NULL, name,
			     json_pack("{s:{s:O, s:o}}", "spec", "podCIDR",
				       json_array_get(cidrs, 0), "podCIDRs", cidrs));
}

int nodeipam_compute(const struct nodeipam_config *cfg, json_t *const *nodes, size_t n_nodes,
		     struct ctrl_plan *p)
{
	struct ipalloc a[2];
	int r = allocators_init(cfg, a);

	if (r < 0 || cfg->n_cidrs == 0)
		return r;
	for (size_t i = 0; i < n_nodes; i++)
		take_held(a, cfg->n_cidrs, nodes[i]);
	for (size_t i = 0; r == 0 && i < n_nodes; i++)
		if (!holds_cidr(nodes[i]) && !ctrl_get(nodes[i], "metadata.deletionTimestamp"))
			r = assign(a, cfg->n_cidrs, nodes[i], p);
	for (size_t k = 0; k < cfg->n_cidrs; k++)
		ipalloc_free(&a[k]);
	return r;
}
