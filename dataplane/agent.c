/* skiff-agent: the node agent. Today: the service proxy, fed by a folder
 * of manifests and programming the eBPF datapath or an nftables table, and
 * node networking (routes to the other nodes' pods, masquerade).
 *
 *   main: parse options -> run the proxy loop -> exit status
 */
#include "dataplane/lb/lb.h"
#include "kube_model.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy_agent.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 16

struct agent_args {
	struct proxy_agent_options o;
	struct ipaddr node_addrs[MAX_LIST];
	const char *devices[MAX_LIST];
	const char *dns_upstreams[MAX_LIST];
	struct ipcidr cluster_cidrs[NODE_NET_MAX_ADDRS];
	struct ipcidr pod_cidrs[NODE_NET_MAX_ADDRS];
	struct ipcidr service_cidrs[NODE_NET_MAX_ADDRS];
	char hostname[256];
	enum log_level level;
};

/* How a flag's argument is read into its target. */
enum flag_kind {
	FLAG_STR,    /* const char *; with max, 1 to max characters */
	FLAG_BOOL,   /* bool, set to true */
	FLAG_U32,    /* a number in [min, max] */
	FLAG_U16,
	FLAG_CHOICE, /* an enum, one of choices[] */
	FLAG_CIDR,   /* struct ipcidr[], one per family; count at off_n */
	FLAG_ADDR,   /* struct ipaddr[MAX_LIST]; count at off_n */
	FLAG_LIST,   /* const char *[MAX_LIST]; count at off_n */
	FLAG_LEVEL,  /* the log level, set at once */
	FLAG_HELP,
};

struct choice {
	const char *name;
	int value;
};

static const struct choice proxy_modes[] = {
	{ "bpf", PROXY_MODE_BPF }, { "nftables", PROXY_MODE_NFTABLES }, { NULL, 0 },
};
static const struct choice routings[] = {
	{ "none", NODE_ROUTING_NONE }, { "native", NODE_ROUTING_NATIVE },
	{ "vxlan", NODE_ROUTING_VXLAN }, { NULL, 0 },
};
_Static_assert(sizeof(enum proxy_mode) == sizeof(int) && sizeof(enum node_routing) == sizeof(int),
	       "FLAG_CHOICE stores an int");

#define OPT(field) offsetof(struct agent_args, o.field)
#define ARG(field) offsetof(struct agent_args, field)

/* One row per flag: its name, argument, help and default for --help, and
 * where and how its value goes. */
static const struct agent_flag {
	const char *name;
	char short_name;
	const char *arg; /* NULL: the flag takes none */
	const char *help;
	const char *def; /* for --help; NULL: none said */
	enum flag_kind kind;
	size_t off, off_n;
	unsigned long min, max;
	const struct choice *choices;
} flags[] = {
	{ .name = "manifests", .short_name = 'm', .arg = "DIR", .kind = FLAG_STR,
	  .off = OPT(manifests_dir), .help = "read Service, EndpointSlice and Node manifests "
	  "(*.yaml, *.yml, *.json) from DIR and follow changes" },
	{ .name = "proxy-mode", .arg = "MODE", .kind = FLAG_CHOICE, .off = OPT(mode),
	  .choices = proxy_modes, .def = "bpf", .help = "bpf (eBPF socket hooks) or nftables "
	  "(kube-proxy's nftables layout); starting in one mode removes the other's state" },
	{ .name = "nft-table", .arg = "NAME", .kind = FLAG_STR, .off = OPT(nft_table), .max = 255,
	  .def = NFTP_DEFAULT_TABLE, .help = "nftables mode: the inet table to own" },
	{ .name = "cluster-cidr", .arg = "CIDR", .kind = FLAG_CIDR, .off = ARG(cluster_cidrs),
	  .off_n = OPT(n_cluster_cidrs), .help = "the pod network (repeatable, one per family): "
	  "nftables mode masquerades ClusterIP traffic from outside it" },
	{ .name = "bpffs", .arg = "DIR", .kind = FLAG_STR, .off = OPT(bpffs_dir),
	  .def = LB_DEFAULT_BPFFS, .help = "bpffs folder for pinned maps and links" },
	{ .name = "cgroup", .arg = "PATH", .kind = FLAG_STR, .off = OPT(cgroup_path),
	  .def = "the cgroup2 root in /proc/mounts",
	  .help = "bpf mode: cgroup v2 folder the socket hooks attach to" },
	{ .name = "node-name", .arg = "NAME", .kind = FLAG_STR, .off = OPT(node_name),
	  .def = "the hostname", .help = "this node's name, for traffic policy Local" },
	{ .name = "node-ip", .arg = "IP", .kind = FLAG_ADDR, .off = ARG(node_addrs),
	  .off_n = OPT(n_node_addrs), .help = "a node address NodePort answers on, and node "
	  "networking's underlay address (repeatable; IPv4 or IPv6)" },
	{ .name = "nodeport-device", .arg = "DEV", .kind = FLAG_LIST, .off = ARG(devices),
	  .off_n = OPT(n_nodeport_devices), .help = "bpf mode: a device NodePort traffic arrives "
	  "on (repeatable; nftables mode serves NodePorts from every device)" },
	{ .name = "maglev", .kind = FLAG_BOOL, .off = OPT(maglev), .help = "bpf mode: Maglev "
	  "consistent hashing by default (per service: annotation "
	  "service.skiff.io/lb-algorithm: maglev|random)" },
	{ .name = "node-routing", .arg = "MODE", .kind = FLAG_CHOICE, .off = OPT(node_routing),
	  .choices = routings, .def = "none", .help = "node networking from the Node manifests: "
	  "none, native (a route per node's pod CIDR via its InternalIP) or vxlan (an overlay); "
	  "the first --node-ip is the underlay address" },
	{ .name = "pod-cidr", .arg = "CIDR", .kind = FLAG_CIDR, .off = ARG(pod_cidrs),
	  .off_n = OPT(n_pod_cidrs), .def = "spec.podCIDRs of the Node named --node-name",
	  .help = "this node's pod CIDR (repeatable, one per family)" },
	{ .name = "service-cidr", .arg = "CIDR", .kind = FLAG_CIDR, .off = ARG(service_cidrs),
	  .off_n = OPT(n_service_cidrs),
	  .help = "a service range, never masqueraded (repeatable, one per family)" },
	{ .name = "no-masquerade", .kind = FLAG_BOOL, .off = OPT(no_masquerade),
	  .help = "node networking: do not masquerade pod traffic leaving the cluster" },
	{ .name = "vxlan-name", .arg = "NAME", .kind = FLAG_STR, .off = OPT(vxlan_name),
	  .max = IFNAMSIZ - 1, .def = NODE_NET_DEFAULT_VXLAN, .help = "the vxlan device" },
	{ .name = "vni", .arg = "N", .kind = FLAG_U32, .off = OPT(vni), .min = 1, .max = 0xffffff,
	  .def = "1", .help = "VXLAN network identifier" },
	{ .name = "vxlan-port", .arg = "PORT", .kind = FLAG_U16, .off = OPT(vxlan_port), .min = 1,
	  .max = 65535, .def = "8472", .help = "VXLAN UDP port" },
	{ .name = "nat-table", .arg = "NAME", .kind = FLAG_STR, .off = OPT(nat_table), .max = 255,
	  .def = NODE_NET_DEFAULT_NAT_TABLE, .help = "node networking: the inet table for masquerade" },
	{ .name = "dns-listen", .arg = "ADDR:PORT", .kind = FLAG_STR, .off = OPT(dns_listen),
	  .def = "no DNS", .help = "serve cluster DNS on ADDR:PORT (UDP and TCP; [V6]:PORT)" },
	{ .name = "cluster-domain", .arg = "ZONE", .kind = FLAG_STR, .off = OPT(cluster_domain),
	  .max = 253, .def = "cluster.local", .help = "cluster DNS: the zone served" },
	{ .name = "dns-upstream", .arg = "ADDR[:PORT]", .kind = FLAG_LIST, .off = ARG(dns_upstreams),
	  .off_n = OPT(n_dns_upstreams), .def = "the nameservers of /etc/resolv.conf",
	  .help = "cluster DNS: a resolver for other names (repeatable, at most 4)" },
	{ .name = "dns-ttl", .arg = "SECONDS", .kind = FLAG_U32, .off = OPT(dns_ttl), .min = 1,
	  .max = 3600, .def = "5, as CoreDNS", .help = "cluster DNS: TTL of the zone's records "
	  "and its negative answers" },
	{ .name = "log-level", .arg = "LEVEL", .kind = FLAG_LEVEL, .def = "info",
	  .help = "error, warn, info or debug" },
	{ .name = "destroy-on-exit", .kind = FLAG_BOOL, .off = OPT(destroy_on_exit),
	  .def = "leave them serving", .help = "on SIGINT/SIGTERM detach the programs and remove "
	  "the maps, or remove the nftables table, and remove node networking's routes, device "
	  "and table" },
	{ .name = "once", .kind = FLAG_BOOL, .off = OPT(once), .help = "sync once and exit" },
	{ .name = "help", .short_name = 'h', .kind = FLAG_HELP, .help = "show this help" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: skiff-agent --manifests DIR [OPTION]...\n"
		     "Service proxy of skiff: turns Services and EndpointSlices into eBPF\n"
		     "socket-level load balancing or nftables rules (ClusterIP, externalIPs,\n"
		     "LoadBalancer, NodePort); with --node-routing, routes to the pods of the\n"
		     "other nodes (Node manifests) and masquerades pod traffic leaving the cluster.\n"
		     "SIGHUP reloads every manifest; SIGINT/SIGTERM stop (programs and tables keep\n"
		     "serving unless --destroy-on-exit).\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		const struct agent_flag *f = &flags[i];
		bool num = f->kind == FLAG_U32 || f->kind == FLAG_U16;
		char left[48], range[48] = "";

		snprintf(left, sizeof(left), "--%s%s%s", f->name, f->arg ? " " : "",
			 f->arg ? f->arg : "");
		if (num)
			snprintf(range, sizeof(range), "%lu-%lu%s", f->min, f->max, f->def ? ", " : "");
		fprintf(out, "  %-24s %s%s%s%s%s%s\n", left, f->help, num || f->def ? " (" : "", range,
			 f->def ? "default " : "", f->def ? f->def : "", num || f->def ? ")" : "");
	}
}

/* A number in [min, max] for flag. */
static int parse_num(const char *flag, const char *arg, unsigned long min, unsigned long max,
		     unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
		log_error("%s: \"%s\" is not a number from %lu to %lu", flag, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Adds a CIDR to v (at most one per family). */
static int cidr_add(const char *arg, const char *flag, struct ipcidr *v, size_t *n)
{
	struct ipcidr c;
	const char *why;

	if (ipcidr_parse(arg, &c, &why) < 0) {
		log_error("%s: \"%s\" is not a CIDR (like 10.244.0.0/16 or fd00:244::/56): %s", flag,
			  arg, why);
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		if (v[i].addr.family == c.addr.family) {
			log_error("%s: \"%s\": at most one IPv4 and one IPv6 CIDR", flag, arg);
			return -1;
		}
	v[(*n)++] = c;
	return 0;
}

/* arg as one of f's choices. */
static int choice_set(const struct agent_flag *f, const char *flag, const char *arg, int *out)
{
	char names[128] = "";
	size_t n = 0;

	for (const struct choice *c = f->choices; c->name; c++, n++)
		if (streq(c->name, arg)) {
			*out = c->value;
			return 0;
		}
	for (size_t i = 0; i < n; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 i == 0 ? "" : i + 1 == n ? " or " : ", ", f->choices[i].name);
	log_error("%s: \"%s\" is not %s", flag, arg, names);
	return -1;
}

/* Reads arg into f's target in a. */
static int flag_set(struct agent_args *a, const struct agent_flag *f, const char *arg)
{
	char *base = (char *)a, flag[64];
	size_t *n = (size_t *)(base + f->off_n);
	unsigned long num;

	snprintf(flag, sizeof(flag), "--%s", f->name);
	switch (f->kind) {
	case FLAG_STR:
		if (f->max && (!*arg || strlen(arg) > f->max)) {
			log_error("%s: \"%s\": 1 to %lu characters", flag, arg, f->max);
			return -1;
		}
		*(const char **)(base + f->off) = arg;
		return 0;
	case FLAG_BOOL:
		*(bool *)(base + f->off) = true;
		return 0;
	case FLAG_U32:
	case FLAG_U16:
		if (parse_num(flag, arg, f->min, f->max, &num) < 0)
			return -1;
		if (f->kind == FLAG_U32)
			*(uint32_t *)(base + f->off) = (uint32_t)num;
		else
			*(uint16_t *)(base + f->off) = (uint16_t)num;
		return 0;
	case FLAG_CHOICE:
		return choice_set(f, flag, arg, (int *)(base + f->off));
	case FLAG_CIDR:
		return cidr_add(arg, flag, (struct ipcidr *)(base + f->off), n);
	case FLAG_ADDR:
		if (*n == MAX_LIST) {
			log_error("%s: at most %d addresses", flag, MAX_LIST);
			return -1;
		}
		if (ipaddr_parse(arg, (struct ipaddr *)(base + f->off) + *n) < 0) {
			log_error("%s: \"%s\" is not an IP address", flag, arg);
			return -1;
		}
		(*n)++;
		return 0;
	case FLAG_LIST:
		if (*n == MAX_LIST) {
			log_error("%s: at most %d devices", flag, MAX_LIST);
			return -1;
		}
		((const char **)(base + f->off))[(*n)++] = arg;
		return 0;
	case FLAG_LEVEL:
		if (log_level_parse(arg, &a->level) < 0) {
			log_error("%s: \"%s\" is not one of error, warn, info, debug", flag, arg);
			return -1;
		}
		log_set_level(a->level);
		return 0;
	case FLAG_HELP:
		usage(stdout);
		exit(EXIT_SUCCESS);
	}
	return -1;
}

/* What no single flag can check; the defaults that need the system. */
static int args_check(struct agent_args *a)
{
	if (!a->o.manifests_dir) {
		log_error("--manifests DIR is required (the only source of Services so far)");
		return -1;
	}
	if (a->o.node_routing != NODE_ROUTING_NONE && !a->o.n_node_addrs) {
		log_error("--node-routing: needs --node-ip, this node's address on the network "
			  "between the nodes");
		return -1;
	}
	if (!a->o.node_name) {
		if (gethostname(a->hostname, sizeof(a->hostname) - 1) < 0) {
			log_error("cannot read the hostname; give --node-name");
			return -1;
		}
		a->o.node_name = a->hostname;
	}
	a->o.node_addrs = a->node_addrs;
	a->o.nodeport_devices = a->devices;
	a->o.dns_upstreams = a->dns_upstreams;
	a->o.cluster_cidrs = a->cluster_cidrs;
	a->o.pod_cidrs = a->pod_cidrs;
	a->o.service_cidrs = a->service_cidrs;
	return 0;
}

static int parse_args(int argc, char **argv, struct agent_args *a)
{
	struct option longopts[ARRAY_SIZE(flags) + 1];
	char shorts[2 * ARRAY_SIZE(flags) + 1] = "";
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		longopts[i] = (struct option){ flags[i].name,
					       flags[i].arg ? required_argument : no_argument, NULL,
					       256 + (int)i };
		if (flags[i].short_name)
			snprintf(shorts + strlen(shorts), sizeof(shorts) - strlen(shorts), "%c%s",
				 flags[i].short_name, flags[i].arg ? ":" : "");
	}
	longopts[ARRAY_SIZE(flags)] = (struct option){ 0 };
	a->level = LOG_LEVEL_INFO;
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct agent_flag *f = NULL;

		for (size_t i = 0; i < ARRAY_SIZE(flags) && !f; i++)
			if (c == 256 + (int)i || (flags[i].short_name && c == flags[i].short_name))
				f = &flags[i];
		if (!f) {
			usage(stderr);
			return -1;
		}
		if (flag_set(a, f, optarg) < 0)
			return -1;
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	return args_check(a);
}

int main(int argc, char **argv)
{
	struct agent_args args = { 0 };

	log_init("skiff-agent", LOG_LEVEL_INFO);
	if (parse_args(argc, argv, &args) < 0)
		return 2;
	return proxy_agent_run(&args.o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
