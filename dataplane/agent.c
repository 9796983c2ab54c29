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
	struct ipcidr cluster_cidrs[NODE_NET_MAX_ADDRS];
	struct ipcidr pod_cidrs[NODE_NET_MAX_ADDRS];
	struct ipcidr service_cidrs[NODE_NET_MAX_ADDRS];
	char hostname[256];
	enum log_level level;
};

enum {
	OPT_MANIFESTS = 'm',
	OPT_HELP = 'h',
	OPT_BPFFS = 256,
	OPT_CGROUP,
	OPT_NODE_NAME,
	OPT_NODE_IP,
	OPT_NODEPORT_DEVICE,
	OPT_MAGLEV,
	OPT_LOG_LEVEL,
	OPT_DESTROY,
	OPT_ONCE,
	OPT_PROXY_MODE,
	OPT_NFT_TABLE,
	OPT_CLUSTER_CIDR,
	OPT_NODE_ROUTING,
	OPT_POD_CIDR,
	OPT_SERVICE_CIDR,
	OPT_NO_MASQ,
	OPT_VXLAN_NAME,
	OPT_VNI,
	OPT_VXLAN_PORT,
	OPT_NAT_TABLE,
};

/* One row per option: the getopt entry and its --help line. */
static const struct agent_option {
	struct option opt;
	const char *arg, *help;
} options[] = {
	{ { "manifests", required_argument, NULL, OPT_MANIFESTS }, "DIR",
	  "read Service, EndpointSlice and Node manifests (*.yaml, *.yml, *.json) from DIR "
	  "and follow changes" },
	{ { "proxy-mode", required_argument, NULL, OPT_PROXY_MODE }, "MODE",
	  "bpf (default: eBPF socket hooks) or nftables (kube-proxy's nftables layout); "
	  "starting in one mode removes the other's state" },
	{ { "nft-table", required_argument, NULL, OPT_NFT_TABLE }, "NAME",
	  "nftables mode: the inet table to own (default " NFTP_DEFAULT_TABLE ")" },
	{ { "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR }, "CIDR",
	  "the pod network (repeatable, one per family): nftables mode masquerades "
	  "ClusterIP traffic from outside it" },
	{ { "bpffs", required_argument, NULL, OPT_BPFFS }, "DIR",
	  "bpffs folder for pinned maps and links (default " LB_DEFAULT_BPFFS ")" },
	{ { "cgroup", required_argument, NULL, OPT_CGROUP }, "PATH",
	  "bpf mode: cgroup v2 folder the socket hooks attach to (default: the cgroup2 root in /proc/mounts)" },
	{ { "node-name", required_argument, NULL, OPT_NODE_NAME }, "NAME",
	  "this node's name, for traffic policy Local (default: the hostname)" },
	{ { "node-ip", required_argument, NULL, OPT_NODE_IP }, "IP",
	  "a node address NodePort answers on, and node networking's underlay address "
	  "(repeatable; IPv4 or IPv6)" },
	{ { "nodeport-device", required_argument, NULL, OPT_NODEPORT_DEVICE }, "DEV",
	  "bpf mode: a device NodePort traffic arrives on (repeatable; nftables mode "
	  "serves NodePorts from every device)" },
	{ { "maglev", no_argument, NULL, OPT_MAGLEV }, NULL,
	  "bpf mode: Maglev consistent hashing by default (per service: annotation "
	  "service.skiff.io/lb-algorithm: maglev|random)" },
	{ { "node-routing", required_argument, NULL, OPT_NODE_ROUTING }, "MODE",
	  "node networking from the Node manifests: none (default), native (a route per "
	  "node's pod CIDR via its InternalIP) or vxlan (an overlay); the first --node-ip "
	  "is the underlay address" },
	{ { "pod-cidr", required_argument, NULL, OPT_POD_CIDR }, "CIDR",
	  "this node's pod CIDR (repeatable, one per family; default: spec.podCIDRs of "
	  "the Node named --node-name)" },
	{ { "service-cidr", required_argument, NULL, OPT_SERVICE_CIDR }, "CIDR",
	  "a service range, never masqueraded (repeatable, one per family)" },
	{ { "no-masquerade", no_argument, NULL, OPT_NO_MASQ }, NULL,
	  "node networking: do not masquerade pod traffic leaving the cluster" },
	{ { "vxlan-name", required_argument, NULL, OPT_VXLAN_NAME }, "NAME",
	  "the vxlan device (default " NODE_NET_DEFAULT_VXLAN ")" },
	{ { "vni", required_argument, NULL, OPT_VNI }, "N",
	  "VXLAN network identifier, 1-16777215 (default 1)" },
	{ { "vxlan-port", required_argument, NULL, OPT_VXLAN_PORT }, "PORT",
	  "VXLAN UDP port (default 8472)" },
	{ { "nat-table", required_argument, NULL, OPT_NAT_TABLE }, "NAME",
	  "node networking: the inet table for masquerade (default " NODE_NET_DEFAULT_NAT_TABLE ")" },
	{ { "log-level", required_argument, NULL, OPT_LOG_LEVEL }, "LEVEL",
	  "error, warn, info (default) or debug" },
	{ { "destroy-on-exit", no_argument, NULL, OPT_DESTROY }, NULL,
	  "on SIGINT/SIGTERM detach the programs and remove the maps, or remove the nftables "
	  "table, and remove node networking's routes, device and table (default: leave "
	  "them serving)" },
	{ { "once", no_argument, NULL, OPT_ONCE }, NULL, "sync once and exit" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
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
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		char left[48];

		snprintf(left, sizeof(left), "--%s%s%s", options[i].opt.name, options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		fprintf(out, "  %-24s %s\n", left, options[i].help);
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

static int parse_args(int argc, char **argv, struct agent_args *a)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	unsigned long num;
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		longopts[i] = options[i].opt;
	longopts[ARRAY_SIZE(options)] = (struct option){ 0 };
	a->level = LOG_LEVEL_INFO;
	while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MANIFESTS:
			a->o.manifests_dir = optarg;
			break;
		case OPT_PROXY_MODE:
			if (streq(optarg, "bpf")) {
				a->o.mode = PROXY_MODE_BPF;
			} else if (streq(optarg, "nftables")) {
				a->o.mode = PROXY_MODE_NFTABLES;
			} else {
				log_error("--proxy-mode: \"%s\" is not bpf or nftables", optarg);
				return -1;
			}
			break;
		case OPT_NFT_TABLE:
			if (!*optarg || strlen(optarg) >= 256) {
				log_error("--nft-table: \"%s\": 1 to 255 characters", optarg);
				return -1;
			}
			a->o.nft_table = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			if (cidr_add(optarg, "--cluster-cidr", a->cluster_cidrs, &a->o.n_cluster_cidrs) < 0)
				return -1;
			break;
		case OPT_NODE_ROUTING:
			if (streq(optarg, "none")) {
				a->o.node_routing = NODE_ROUTING_NONE;
			} else if (streq(optarg, "native")) {
				a->o.node_routing = NODE_ROUTING_NATIVE;
			} else if (streq(optarg, "vxlan")) {
				a->o.node_routing = NODE_ROUTING_VXLAN;
			} else {
				log_error("--node-routing: \"%s\" is not none, native or vxlan", optarg);
				return -1;
			}
			break;
		case OPT_POD_CIDR:
			if (cidr_add(optarg, "--pod-cidr", a->pod_cidrs, &a->o.n_pod_cidrs) < 0)
				return -1;
			break;
		case OPT_SERVICE_CIDR:
			if (cidr_add(optarg, "--service-cidr", a->service_cidrs, &a->o.n_service_cidrs) < 0)
				return -1;
			break;
		case OPT_NO_MASQ:
			a->o.no_masquerade = true;
			break;
		case OPT_VXLAN_NAME:
			if (!*optarg || strlen(optarg) >= IFNAMSIZ) {
				log_error("--vxlan-name: \"%s\": 1 to %d characters", optarg, IFNAMSIZ - 1);
				return -1;
			}
			a->o.vxlan_name = optarg;
			break;
		case OPT_VNI:
			if (parse_num("--vni", optarg, 1, 0xffffff, &num) < 0)
				return -1;
			a->o.vni = (uint32_t)num;
			break;
		case OPT_VXLAN_PORT:
			if (parse_num("--vxlan-port", optarg, 1, 65535, &num) < 0)
				return -1;
			a->o.vxlan_port = (uint16_t)num;
			break;
		case OPT_NAT_TABLE:
			if (!*optarg || strlen(optarg) >= 256) {
				log_error("--nat-table: \"%s\": 1 to 255 characters", optarg);
				return -1;
			}
			a->o.nat_table = optarg;
			break;
		case OPT_BPFFS:
			a->o.bpffs_dir = optarg;
			break;
		case OPT_CGROUP:
			a->o.cgroup_path = optarg;
			break;
		case OPT_NODE_NAME:
			a->o.node_name = optarg;
			break;
		case OPT_NODE_IP:
			if (a->o.n_node_addrs == MAX_LIST) {
				log_error("--node-ip: at most %d addresses", MAX_LIST);
				return -1;
			}
			if (ipaddr_parse(optarg, &a->node_addrs[a->o.n_node_addrs]) < 0) {
				log_error("--node-ip: \"%s\" is not an IP address", optarg);
				return -1;
			}
			a->o.n_node_addrs++;
			break;
		case OPT_NODEPORT_DEVICE:
			if (a->o.n_nodeport_devices == MAX_LIST) {
				log_error("--nodeport-device: at most %d devices", MAX_LIST);
				return -1;
			}
			a->devices[a->o.n_nodeport_devices++] = optarg;
			break;
		case OPT_MAGLEV:
			a->o.maglev = true;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &a->level) < 0) {
				log_error("--log-level: \"%s\" is not one of error, warn, info, debug", optarg);
				return -1;
			}
			log_set_level(a->level);
			break;
		case OPT_DESTROY:
			a->o.destroy_on_exit = true;
			break;
		case OPT_ONCE:
			a->o.once = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
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
	a->o.cluster_cidrs = a->cluster_cidrs;
	a->o.pod_cidrs = a->pod_cidrs;
	a->o.service_cidrs = a->service_cidrs;
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_args args = { 0 };

	log_init("skiff-agent", LOG_LEVEL_INFO);
	if (parse_args(argc, argv, &args) < 0)
		return 2;
	return proxy_agent_run(&args.o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
