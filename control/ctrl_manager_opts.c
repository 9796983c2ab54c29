/* The controller manager's and scheduler's flags on skiff-server (one
 * row each, as upstream's kube-controller-manager and kube-scheduler
 * name them), and --controllers resolved against ctrl_defs. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "control/ctrl_manager.h"
#include "lib/inet.h"
#include "control/ctrl_nodelifecycle.h"
#include "control/ctrl_podgc.h"
#include "lib/util.h"

#define CM(field) offsetof(struct ctrl_manager_config, field)

/* --leader-elect=true|false (a bare --leader-elect needs a value here). */
static int opt_bool_word(const struct opt *o, const char *arg, void *dst, char *err,
			 size_t errlen)
{
	(void)o;
	if (!streq(arg, "true") && !streq(arg, "false"))
		return set_err(err, errlen, -EINVAL, "\"%s\" is not true or false", arg);
	*(const char **)dst = arg;
	return 0;
}

/* --concurrent-NAME-syncs: a controller's workers (keys reconciled at once). */
#define SYNCS(flag, field, def_n, what)                                                      \
	{ .name = "concurrent-" flag "-syncs", .arg = "N",                                     \
	  .help = what " reconciled at once (the controller's workers)", .def = def_n,         \
	  .set = opt_int, .offset = CM(field), .min = 1, .max = 64 }

const struct opt ctrl_manager_options[] = {
	{ .name = "controllers", .arg = "LIST",
	  .help = "controllers to run: '*' (all), NAME, -NAME to disable one, or none; names as\n"
		  "kube-controller-manager's (endpointslice, replicaset, ...) and lb-ipam",
	  .def = "*", .set = opt_string, .offset = CM(controllers) },
	{ .name = "no-scheduler", .help = "do not run the scheduler", .set = opt_flag,
	  .offset = CM(no_scheduler) },
	{ .name = "leader-elect", .arg = "BOOL",
	  .help = "run the loops only while holding their Lease in kube-system",
	  .def = "true", .set = opt_bool_word, .offset = CM(leader_elect) },
	{ .name = "resync-period", .arg = "SECS",
	  .help = "offer every cached object to its controllers again this often; 0: never",
	  .def = "300", .set = opt_int, .offset = CM(resync_s), .min = 0, .max = INT_MAX },
	{ .name = "cluster-cidr", .arg = "CIDR[,CIDR]",
	  .help = "pod ranges node IPAM cuts spec.podCIDRs from (default: none, no node IPAM)",
	  .set = opt_string, .offset = CM(cluster_cidr) },
	{ .name = "node-cidr-mask-size-ipv4", .arg = "N", .help = "podCIDR size in an IPv4 cluster CIDR",
	  .def = "24", .set = opt_int, .offset = CM(mask_v4), .min = 1, .max = 32 },
	{ .name = "node-cidr-mask-size-ipv6", .arg = "N", .help = "podCIDR size in an IPv6 cluster CIDR",
	  .def = "64", .set = opt_int, .offset = CM(mask_v6), .min = 1, .max = 128 },
	{ .name = "lb-cidr", .arg = "CIDR[,CIDR]",
	  .help = "LoadBalancer Service addresses (default: none, no lb-ipam)", .set = opt_string,
	  .offset = CM(lb_cidr) },
	{ .name = "node-monitor-grace-period", .arg = "SECS",
	  .help = "a node without a heartbeat this long turns Ready=Unknown", .def = "50",
	  .set = opt_int, .offset = CM(node_monitor_grace_s), .min = 1, .max = INT_MAX },
	{ .name = "terminated-pod-gc-threshold", .arg = "N",
	  .help = "terminated pods kept before pod GC deletes the oldest; 0: off", .def = "12500",
	  .set = opt_int, .offset = CM(terminated_pod_gc_threshold), .min = 0, .max = INT_MAX },
	{ .name = "scheduler-parallel-binds", .arg = "N",
	  .help = "the scheduler's pods/binding requests in flight at once", .def = "64",
	  .set = opt_int, .offset = CM(sched_parallel_binds), .min = 1, .max = 256 },
	SYNCS("deployment", deployment_syncs, "5", "Deployments"),
	SYNCS("replicaset", replicaset_syncs, "5", "ReplicaSets"),
	SYNCS("service-endpoint", endpointslice_syncs, "5", "Services' EndpointSlices"),
	SYNCS("endpoint", endpoints_syncs, "5", "Services' Endpoints"),
	SYNCS("statefulset", statefulset_syncs, "5", "StatefulSets"),
	SYNCS("daemonset", daemonset_syncs, "2", "DaemonSets"),
	SYNCS("job", job_syncs, "5", "Jobs"),
	SYNCS("cron-job", cronjob_syncs, "5", "CronJobs"),
};
const size_t ctrl_manager_n_options = ARRAY_SIZE(ctrl_manager_options);

static int def_index(const char *name, size_t len)
{
	for (size_t i = 0; i < ctrl_n_defs; i++)
		if (strlen(ctrl_defs[i].name) == len && strncmp(ctrl_defs[i].name, name, len) == 0)
			return (int)i;
	return -EINVAL;
}

int ctrl_cidrs_parse(const char *csv, struct ipcidr *out, size_t *n)
{
	char buf[256], *save = NULL;
	const char *why;

	*n = 0;
	if ((size_t)snprintf(buf, sizeof(buf), "%s", csv ? csv : "") >= sizeof(buf))
		return -EINVAL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == 2 || ipcidr_parse(t, &out[*n], &why) < 0 ||
		    (*n == 1 && out[0].addr.family == out[1].addr.family))
			return -EINVAL;
		(*n)++;
	}
	return 0;
}

int ctrl_manager_config_check(struct ctrl_manager_config *cfg, char *err, size_t errlen)
{
	bool on[CTRL_MAX] = { 0 }, off[CTRL_MAX] = { 0 }, star = false;
	const char *p = cfg->controllers;
	struct ipcidr c[2];
	size_t n;

	if (cfg->cluster_cidr && ctrl_cidrs_parse(cfg->cluster_cidr, c, &n) < 0)
		return set_err(err, errlen, -EINVAL,
			       "--cluster-cidr: invalid \"%s\" (want one CIDR per family, comma-separated)",
			       cfg->cluster_cidr);
	if (cfg->lb_cidr && ctrl_cidrs_parse(cfg->lb_cidr, c, &n) < 0)
		return set_err(err, errlen, -EINVAL,
			       "--lb-cidr: invalid \"%s\" (want one CIDR per family, comma-separated)",
			       cfg->lb_cidr);
	memset(cfg->enabled, 0, sizeof(cfg->enabled));
	if (streq(p, "none"))
		return 0;
	for (const char *e; *p; p = *e ? e + 1 : e) {
		bool minus = *p == '-';
		size_t len;
		int i;

		e = strchrnul(p, ',');
		len = (size_t)(e - p) - minus;
		if (len == 1 && p[minus] == '*') {
			star = true;
			continue;
		}
		i = def_index(p + minus, len);
		if (i == -EINVAL)
			return set_err(err, errlen, -EINVAL, "--controllers: unknown controller \"%.*s\"",
				       (int)len, p + minus);
		(minus ? off : on)[i] = true;
	}
	for (size_t i = 0; i < ctrl_n_defs; i++)
		cfg->enabled[i] = (star || on[i]) && !off[i];
	return 0;
}
