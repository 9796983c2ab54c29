/* skiff-nft-tool: the nftables proxy mode by hand. Reads Services and
 * EndpointSlices from a manifests folder (the agent's own parsing), computes
 * the desired state and applies it to an nftables table once, or follows
 * the folder and applies every change.
 *
 *   main: parse options -> load manifests -> apply (-> follow) -> exit
 */
#include "dataplane/manifest.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy.h"

#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#define MAX_ADDRS 8

struct tool_options {
	const char *manifests;
	const char *table;
	const char *node_name;
	struct ipaddr node_addrs[MAX_ADDRS];
	size_t n_node_addrs;
	struct ipcidr cidrs[2];
	size_t n_cidrs;
	bool masquerade_all;
	bool follow;
	bool delete_table;
};

enum { OPT_HELP = 'h', OPT_MANIFESTS = 0x100, OPT_TABLE, OPT_NODE_NAME, OPT_NODE_ADDR,
       OPT_CLUSTER_CIDR, OPT_MASQ_ALL, OPT_FOLLOW, OPT_DELETE, OPT_LOG_LEVEL };

static const struct tool_option {
	struct option opt;
	const char *arg, *help;
} options[] = {
	{ { "manifests", required_argument, NULL, OPT_MANIFESTS }, "DIR",
	  "folder of Service and EndpointSlice manifests (YAML or JSON)" },
	{ { "table", required_argument, NULL, OPT_TABLE }, "NAME",
	  "the inet table to own (default " NFTP_DEFAULT_TABLE ")" },
	{ { "node-name", required_argument, NULL, OPT_NODE_NAME }, "NAME",
	  "this node's name (traffic policy Local keeps its endpoints)" },
	{ { "node-addr", required_argument, NULL, OPT_NODE_ADDR }, "ADDR",
	  "a node address NodePorts answer on (repeatable; none: every local address)" },
	{ { "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR }, "CIDR",
	  "pod network; ClusterIP traffic from outside it is masqueraded (one per family)" },
	{ { "masquerade-all", no_argument, NULL, OPT_MASQ_ALL }, NULL,
	  "masquerade every connection to a service" },
	{ { "follow", no_argument, NULL, OPT_FOLLOW }, NULL,
	  "keep running and apply every change of the folder (SIGTERM ends)" },
	{ { "delete", no_argument, NULL, OPT_DELETE }, NULL, "remove the table and exit" },
	{ { "log-level", required_argument, NULL, OPT_LOG_LEVEL }, "LEVEL",
	  "error, warn, info or debug (default info)" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: skiff-nft-tool --manifests DIR [options]\n"
		   "Applies Services and EndpointSlices to an nftables table (kube-proxy\n"
		   "nftables-mode layout) in one atomic batch, once or following changes.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", options[i].opt.name, options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-26s %s\n", left, options[i].help);
	}
}

static int parse_args(int argc, char **argv, struct tool_options *o)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	enum log_level lvl;
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		longopts[i] = options[i].opt;
	memset(&longopts[ARRAY_SIZE(options)], 0, sizeof(struct option));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_MANIFESTS:
			o->manifests = optarg;
			break;
		case OPT_TABLE:
			o->table = optarg;
			break;
		case OPT_NODE_NAME:
			o->node_name = optarg;
			break;
		case OPT_NODE_ADDR:
			if (o->n_node_addrs == MAX_ADDRS) {
				log_error("--node-addr: at most %d addresses", MAX_ADDRS);
				return -EINVAL;
			}
			if (ipaddr_parse(optarg, &o->node_addrs[o->n_node_addrs]) < 0) {
				log_error("--node-addr: not an IP address: '%s'", optarg);
				return -EINVAL;
			}
			o->n_node_addrs++;
			break;
		case OPT_CLUSTER_CIDR:
			if (o->n_cidrs == ARRAY_SIZE(o->cidrs) ||
			    ipcidr_parse(optarg, &o->cidrs[o->n_cidrs], NULL) < 0) {
				log_error("--cluster-cidr: not a network CIDR (no host bits; at most two): '%s'", optarg);
				return -EINVAL;
			}
			o->n_cidrs++;
			break;
		case OPT_MASQ_ALL:
			o->masquerade_all = true;
			break;
		case OPT_FOLLOW:
			o->follow = true;
			break;
		case OPT_DELETE:
			o->delete_table = true;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &lvl) < 0) {
				log_error("--log-level: unknown level '%s'", optarg);
				return -EINVAL;
			}
			log_set_level(lvl);
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->manifests && !o->delete_table) {
		log_error("--manifests is required (see --help)");
		return -EINVAL;
	}
	return 0;
}

struct tool {
	const struct tool_options *o;
	struct proxy_config cfg;
	struct model_store *store;
	struct model_source src;
	bool have_src;
	struct nftp *nftp;
};

static int tool_sync(struct tool *t)
{
	struct proxy_state *next = NULL;
	struct nftp_stats st;
	unsigned long long t0 = now_ns();
	size_t n_fes;
	int r;

	r = proxy_compute(t->store, &t->cfg, &next);
	if (r < 0) {
		log_error("cannot compute the desired state: %s", strerror(-r));
		return r;
	}
	n_fes = next->n_fes;
	r = nftp_apply(t->nftp, next);
	if (r < 0) {
		log_error("table %s: cannot apply the batch: %s", t->o->table ? t->o->table
									   : NFTP_DEFAULT_TABLE,
			  strerror(-r));
		return r;
	}
	nftp_last_stats(t->nftp, &st);
	log_info("%s sync: %zu services, %zu frontends, %zu messages (%zu bytes) in %.2f ms, "
		 "%zu udp conntrack entries deleted",
		 st.full ? "full" : "incremental", model_store_count(t->store, MODEL_KIND_SERVICE),
		 n_fes, st.n_msgs, st.n_bytes, (double)(now_ns() - t0) / 1e6, st.n_ct_deleted);
	return 0;
}

static int tool_follow(struct tool *t)
{
	_cleanup_close_ int sfd = -1;
	sigset_t mask;
	bool due = false;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = t->src.fd(t->src.ctx), .events = POLLIN },
		};
		int n = poll(pf, 2, due ? 50 : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (pf[0].revents)
			return 0;
		if (pf[1].revents) {
			r = t->src.on_readable(t->src.ctx);
			if (r < 0) {
				log_error("%s: cannot read changes: %s", t->o->manifests, strerror(-r));
				return r;
			}
			if (r > 0)
				due = true;
			continue;
		}
		if (n == 0 && due) {
			due = false;
			r = t->src.flush(t->src.ctx);
			if (r < 0)
				log_error("%s: cannot load changes: %s", t->o->manifests, strerror(-r));
			/* A failed batch is retried at the next change. */
			(void)tool_sync(t);
		}
	}
}

int main(int argc, char **argv)
{
	struct tool_options o = { 0 };
	struct tool t = { .o = &o };
	struct nftp_options no = { 0 };
	int r;

	log_init("skiff-nft-tool", LOG_LEVEL_INFO);
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.delete_table) {
		r = nftp_delete_table(o.table ? o.table : NFTP_DEFAULT_TABLE);
		if (r < 0)
			log_error("cannot delete table %s: %s", o.table ? o.table : NFTP_DEFAULT_TABLE,
				  strerror(-r));
		return r < 0 ? 1 : 0;
	}
	t.cfg = (struct proxy_config){
		.node_name = o.node_name,
		.node_addrs = o.node_addrs,
		.n_node_addrs = o.n_node_addrs,
		.default_algorithm = MODEL_ALG_RANDOM,
	};
	no.table = o.table;
	no.cluster_cidrs = o.cidrs;
	no.n_cluster_cidrs = o.n_cidrs;
	no.masquerade_all = o.masquerade_all;

	r = model_store_new(&t.store);
	if (r < 0)
		goto out;
	r = manifest_source_new(o.manifests, t.store, &t.src);
	if (r < 0) {
		log_error("manifests %s: %s", o.manifests, strerror(-r));
		goto out;
	}
	t.have_src = true;
	r = t.src.start(t.src.ctx);
	if (r < 0) {
		log_error("manifests %s: cannot load: %s", o.manifests, strerror(-r));
		goto out;
	}
	r = nftp_open(&no, &t.nftp);
	if (r < 0) {
		log_error("cannot open the nftables netlink socket: %s", strerror(-r));
		goto out;
	}
	r = tool_sync(&t);
	if (r == 0 && o.follow)
		r = tool_follow(&t);
out:
	nftp_free(t.nftp);
	if (t.have_src)
		model_source_free(&t.src);
	model_store_free(t.store);
	return r < 0 ? 1 : 0;
}
