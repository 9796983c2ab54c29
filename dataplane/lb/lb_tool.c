/* lb-tool: programs skiff's BPF service load balancer by hand, without the
 * agent. Each command opens the pinned state (loading and attaching the
 * programs when they are not yet), does one thing, and leaves the state in
 * place. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/lb/lb.h"
#include "lib/log.h"
#include "lib/util.h"

#define TOOL_MAX_DEVS 16

struct tool_opts {
	const char *bpffs;
	const char *cgroup;
	const char *devs[TOOL_MAX_DEVS];
	size_t n_devs;
	struct ipaddr node_addrs[TOOL_MAX_DEVS];
	size_t n_node_addrs;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: lb-tool [--bpffs DIR] [--cgroup PATH] COMMAND [ARGS]\n"
		"Programs skiff's eBPF socket load balancer by hand.\n"
		"\n"
		"Options:\n"
		"  --bpffs DIR     pinned maps and links (default " LB_DEFAULT_BPFFS ")\n"
		"  --cgroup PATH   cgroup v2 folder the socket hooks attach to\n"
		"                  (default: the cgroup2 root from /proc/mounts)\n"
		"  --nodeport-device DEV  attach the NodePort tc programs to DEV\n"
		"                  (repeatable; give them to destroy too)\n"
		"  --node-address IP  an address wildcard NodePorts answer on\n"
		"                  (repeatable; default: every address of this netns)\n"
		"  -v, --verbose   libbpf messages too\n"
		"  -h, --help      this text\n"
		"\n"
		"Commands:\n"
		"  attach                       load, attach and pin; nothing else\n"
		"  set ADDR PORT PROTO [BACKEND...] [--kind K] [--name NS/NAME:PORT]\n"
		"      [--affinity SECONDS] [--algorithm random|maglev] [--local]\n"
		"                               replace the frontend's backend set;\n"
		"                               BACKEND is IP:PORT or [IPv6]:PORT, with\n"
		"                               an optional ,terminating or ,quarantined;\n"
		"                               K is ClusterIP (default), ExternalIP,\n"
		"                               LoadBalancer or NodePort; PROTO tcp|udp;\n"
		"                               a NodePort on 0.0.0.0 or :: answers on\n"
		"                               every node address\n"
		"  delete ADDR PORT PROTO       remove a frontend\n"
		"  stats ADDR PORT PROTO        frontend counters\n"
		"  backend-stats IP:PORT PROTO  backend id and counters\n"
		"  terminate IP:PORT [PROTO] [--netns PATH]\n"
		"                               end sockets whose peer is the backend\n"
		"  hold                         open, then wait until killed\n"
		"  destroy                      detach and unpin everything\n");
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int open_lb(const struct tool_opts *t, struct lb **out)
{
	struct lb_options o = {
		.bpffs_dir = t->bpffs,
		.cgroup_path = t->cgroup,
		.nodeport_devices = t->devs,
		.n_nodeport_devices = t->n_devs,
		.node_addrs = t->node_addrs,
		.n_node_addrs = t->n_node_addrs,
	};
	int r = lb_open(&o, out);

	if (r < 0)
		log_error("cannot open load balancer in %s: %s",
			  t->bpffs ? t->bpffs : LB_DEFAULT_BPFFS, strerror(-r));
	return r;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long p;

	errno = 0;
	p = strtoul(s, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return -EINVAL;
	*out = (uint16_t)p;
	return 0;
}

static int parse_frontend(char **argv, struct lb_frontend *fe)
{
	memset(fe, 0, sizeof(*fe));
	if (ipaddr_parse(argv[0], &fe->addr) < 0) {
		log_error("frontend address: '%s' is not an IPv4 or IPv6 address", argv[0]);
		return -EINVAL;
	}
	if (parse_port(argv[1], &fe->port) < 0) {
		log_error("frontend port: '%s' is not a port (1-65535)", argv[1]);
		return -EINVAL;
	}
	if (lb_proto_parse(argv[2], &fe->proto) < 0) {
		log_error("frontend protocol: '%s' is not tcp or udp", argv[2]);
		return -EINVAL;
	}
	return 0;
}

/* set's options into p and *kind; the index of its first operand. */
static int set_options(int argc, char **argv, struct lb_frontend_params *p, uint8_t *kind)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "affinity", required_argument, NULL, 'a' },
		{ "algorithm", required_argument, NULL, 'g' },
		{ "local", no_argument, NULL, 'l' },
		{ 0 },
	};
	char *end;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (lb_kind_parse(optarg, kind) < 0) {
				log_error("--kind: '%s' is not ClusterIP, ExternalIP, LoadBalancer or NodePort", optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			p->name = optarg;
			break;
		case 'a':
			errno = 0;
			p->affinity_timeout = (uint32_t)strtoul(optarg, &end, 10);
			if (errno || *end) {
				log_error("--affinity: '%s' is not a number of seconds", optarg);
				return -EINVAL;
			}
			break;
		case 'g':
			if (lb_algorithm_parse(optarg, &p->algorithm) < 0) {
				log_error("--algorithm: '%s' is not random or maglev", optarg);
				return -EINVAL;
			}
			break;
		case 'l':
			p->flags |= LB_F_LOCAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return optind;
}

/* One backend, "IP:PORT[,STATE]" (arg is cut at the comma). */
static int set_backend(char *arg, struct lb_backend *be)
{
	char *comma = strchr(arg, ',');

	if (comma) {
		*comma = 0;
		if (streq(comma + 1, "terminating"))
			be->state = LB_BACKEND_TERMINATING;
		else if (streq(comma + 1, "quarantined"))
			be->state = LB_BACKEND_QUARANTINED;
		else if (!streq(comma + 1, "active")) {
			log_error("backend %s: state '%s' is not active, terminating or quarantined",
				  arg, comma + 1);
			return -EINVAL;
		}
	}
	if (ipaddr_port_parse(arg, &be->addr, &be->port) < 0) {
		log_error("backend '%s': not IP:PORT or [IPv6]:PORT", arg);
		return -EINVAL;
	}
	return 0;
}

/* set [OPTIONS] ADDR PORT PROTO [BACKEND]...: one frontend and its backends. */
static int cmd_set(const struct tool_opts *t, int argc, char **argv)
{
	struct lb_frontend_params p = { 0 };
	_cleanup_free_ struct lb_backend *be = NULL;
	uint8_t kind = LB_KIND_CLUSTER_IP;
	struct lb_frontend fe;
	struct lb *lb;
	size_t n = 0;
	int first, r;

	first = set_options(argc, argv, &p, &kind);
	if (first < 0)
		return first;
	if (argc - first < 3) {
		log_error("set: needs ADDR PORT PROTO");
		return -EINVAL;
	}
	r = parse_frontend(argv + first, &fe);
	if (r < 0)
		return r;
	fe.kind = kind;
	be = calloc((size_t)(argc - first), sizeof(*be));
	if (!be)
		return -ENOMEM;
	for (int i = first + 3; i < argc; i++, n++)
		if (set_backend(argv[i], &be[n]) < 0)
			return -EINVAL;
	r = open_lb(t, &lb);
	if (r < 0)
		return r;
	r = lb_frontend_set(lb, &fe, be, n, &p);
	if (r < 0)
		log_error("frontend %s %s %s: cannot set %zu backends: %s", argv[first],
			  argv[first + 1], argv[first + 2], n, strerror(-r));
	lb_close(lb);
	return r;
}

/* CMD ADDR PORT PROTO: the frontend the arguments name, and the maps. */
static int open_frontend(const struct tool_opts *t, int argc, char **argv, struct lb_frontend *fe,
			 struct lb **lb)
{
	int r;

	if (argc < 4) {
		log_error("%s: needs ADDR PORT PROTO", argv[0]);
		return -EINVAL;
	}
	r = parse_frontend(argv + 1, fe);
	if (r < 0)
		return r;
	return open_lb(t, lb);
}

static int cmd_delete(const struct tool_opts *t, int argc, char **argv)
{
	struct lb_frontend fe;
	struct lb *lb;
	int r;

	r = open_frontend(t, argc, argv, &fe, &lb);
	if (r < 0)
		return r;
	r = lb_frontend_delete(lb, &fe);
	if (r < 0)
		log_error("frontend %s %s %s: cannot delete: %s", argv[1], argv[2], argv[3],
			  strerror(-r));
	lb_close(lb);
	return r;
}

static int cmd_stats(const struct tool_opts *t, int argc, char **argv)
{
	struct lb_frontend fe;
	struct lb_counters c;
	struct lb *lb;
	int r;

	r = open_frontend(t, argc, argv, &fe, &lb);
	if (r < 0)
		return r;
	r = lb_frontend_stats(lb, &fe, &c);
	if (r < 0)
		log_error("frontend %s %s %s: no counters: %s", argv[1], argv[2], argv[3],
			  strerror(-r));
	else
		printf("connections %llu packets %llu bytes %llu\n",
		       (unsigned long long)c.connections, (unsigned long long)c.packets,
		       (unsigned long long)c.bytes);
	lb_close(lb);
	return r;
}

static int cmd_backend_stats(const struct tool_opts *t, int argc, char **argv)
{
	struct lb_backend be = { 0 };
	struct lb_counters c;
	struct lb *lb;
	uint8_t proto;
	uint32_t id;
	int r;

	if (argc < 3 || ipaddr_port_parse(argv[1], &be.addr, &be.port) < 0 ||
	    lb_proto_parse(argv[2], &proto) < 0) {
		log_error("backend-stats: needs IP:PORT tcp|udp");
		return -EINVAL;
	}
	r = open_lb(t, &lb);
	if (r < 0)
		return r;
	r = lb_backend_id(lb, &be, proto, &id);
	if (r >= 0)
		r = lb_backend_stats(lb, &be, proto, &c);
	if (r < 0)
		log_error("backend %s: %s", argv[1], strerror(-r));
	else
		printf("id %u connections %llu packets %llu bytes %llu\n", id,
		       (unsigned long long)c.connections, (unsigned long long)c.packets,
		       (unsigned long long)c.bytes);
	lb_close(lb);
	return r;
}

static int cmd_terminate(const struct tool_opts *t, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "netns", required_argument, NULL, 'N' },
		{ 0 },
	};
	const char *netns = NULL;
	struct lb_backend be = { 0 };
	struct lb *lb;
	uint8_t proto = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c != 'N')
			return -EINVAL;
		netns = optarg;
	}
	if (argc - optind < 1 || ipaddr_port_parse(argv[optind], &be.addr, &be.port) < 0) {
		log_error("terminate: needs IP:PORT");
		return -EINVAL;
	}
	if (argc - optind > 1 && lb_proto_parse(argv[optind + 1], &proto) < 0) {
		log_error("terminate: protocol '%s' is not tcp or udp", argv[optind + 1]);
		return -EINVAL;
	}
	r = open_lb(t, &lb);
	if (r < 0)
		return r;
	r = lb_backend_terminate_sockets(lb, &be, proto, netns);
	if (r < 0)
		log_error("backend %s: cannot end its sockets: %s", argv[optind], strerror(-r));
	else
		printf("%d\n", r);
	lb_close(lb);
	return r;
}

static int cmd_simple(const struct tool_opts *t, const char *cmd)
{
	struct lb *lb;
	int r;

	r = open_lb(t, &lb);
	if (r < 0)
		return r;
	if (streq(cmd, "destroy")) {
		r = lb_destroy(lb);
		if (r < 0)
			log_error("destroy: %s", strerror(-r));
		return r;
	}
	if (streq(cmd, "hold")) {
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	lb_close(lb);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bpffs", required_argument, NULL, 'b' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "nodeport-device", required_argument, NULL, 'd' },
		{ "node-address", required_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tool_opts t = { 0 };
	bool verbose = false;
	const char *cmd;
	int c, r;

	log_init("lb-tool", LOG_LEVEL_INFO);
	while ((c = getopt_long(argc, argv, "+vh", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			t.bpffs = optarg;
			break;
		case 'c':
			t.cgroup = optarg;
			break;
		case 'd':
			if (t.n_devs == TOOL_MAX_DEVS) {
				log_error("--nodeport-device: at most %d devices", TOOL_MAX_DEVS);
				return 2;
			}
			t.devs[t.n_devs++] = optarg;
			break;
		case 'a':
			if (t.n_node_addrs == TOOL_MAX_DEVS) {
				log_error("--node-address: at most %d addresses", TOOL_MAX_DEVS);
				return 2;
			}
			if (ipaddr_parse(optarg, &t.node_addrs[t.n_node_addrs]) < 0) {
				log_error("--node-address: '%s' is not an IPv4 or IPv6 address", optarg);
				return 2;
			}
			t.n_node_addrs++;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	libbpf_set_print(verbose ? libbpf_quiet : libbpf_silent);
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (streq(cmd, "set"))
		r = cmd_set(&t, argc, argv);
	else if (streq(cmd, "delete"))
		r = cmd_delete(&t, argc, argv);
	else if (streq(cmd, "stats"))
		r = cmd_stats(&t, argc, argv);
	else if (streq(cmd, "backend-stats"))
		r = cmd_backend_stats(&t, argc, argv);
	else if (streq(cmd, "terminate"))
		r = cmd_terminate(&t, argc, argv);
	else if (streq(cmd, "attach") || streq(cmd, "destroy") || streq(cmd, "hold"))
		r = cmd_simple(&t, cmd);
	else {
		log_error("unknown command '%s' (see --help)", cmd);
		return 2;
	}
	return r < 0 ? 1 : 0;
}
