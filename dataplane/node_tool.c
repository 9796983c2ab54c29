/* skiff-nodenet-tool: node networking by hand. Reads the other nodes from a
 * JSON peers file and brings routes, VXLAN entries and the masquerade table
 * to it once, or follows the file.
 *
 *   peers file: [{"name": "node2", "addresses": ["10.0.0.2"],
 *                 "podCIDRs": ["10.244.2.0/24", "fd00:244:2::/64"]}, ...]
 */
#include "dataplane/node_net.h"

#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>

#define MAX_CIDRS 8
#define MAX_PEERS 1024

struct tool_options {
	struct node_net_options nn;
	struct ipcidr cluster[MAX_CIDRS], service[MAX_CIDRS];
	const char *peers;
	bool follow, remove;
};

enum { OPT_HELP = 'h', OPT_MODE = 0x100, OPT_NODE_ADDR, OPT_POD_CIDR, OPT_CLUSTER_CIDR,
       OPT_SERVICE_CIDR, OPT_PEERS, OPT_VXLAN_NAME, OPT_VNI, OPT_VXLAN_PORT, OPT_NAT_TABLE,
       OPT_NO_MASQ, OPT_FOLLOW, OPT_REMOVE, OPT_LOG_LEVEL };

static const struct tool_option {
	struct option opt;
	const char *arg, *help;
} options[] = {
	{ { "mode", required_argument, NULL, OPT_MODE }, "MODE", "native (routes via the nodes) or vxlan" },
	{ { "node-addr", required_argument, NULL, OPT_NODE_ADDR }, "ADDR",
	  "this node's address (the first is the vxlan underlay; at most 2)" },
	{ { "pod-cidr", required_argument, NULL, OPT_POD_CIDR }, "CIDR",
	  "this node's pod CIDR (masqueraded when leaving the cluster; at most 2)" },
	{ { "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR }, "CIDR",
	  "a destination never masqueraded (repeatable)" },
	{ { "service-cidr", required_argument, NULL, OPT_SERVICE_CIDR }, "CIDR",
	  "a service range, never masqueraded (repeatable)" },
	{ { "peers", required_argument, NULL, OPT_PEERS }, "FILE", "JSON list of the other nodes" },
	{ { "vxlan-name", required_argument, NULL, OPT_VXLAN_NAME }, "NAME",
	  "the vxlan device (default " NODE_NET_DEFAULT_VXLAN ")" },
	{ { "vni", required_argument, NULL, OPT_VNI }, "N", "VXLAN network identifier (default 1)" },
	{ { "vxlan-port", required_argument, NULL, OPT_VXLAN_PORT }, "PORT", "VXLAN UDP port (default 8472)" },
	{ { "nat-table", required_argument, NULL, OPT_NAT_TABLE }, "NAME",
	  "the inet table for masquerade (default " NODE_NET_DEFAULT_NAT_TABLE ")" },
	{ { "no-masquerade", no_argument, NULL, OPT_NO_MASQ }, NULL, "do not masquerade pod traffic" },
	{ { "follow", no_argument, NULL, OPT_FOLLOW }, NULL,
	  "keep running, sync whenever the peers file is replaced (SIGTERM ends)" },
	{ { "remove", no_argument, NULL, OPT_REMOVE }, NULL,
	  "remove skiff's routes, vxlan device and table, then exit" },
	{ { "log-level", required_argument, NULL, OPT_LOG_LEVEL }, "LEVEL", "error, warn, info or debug" },
	{ { "help", no_argument, NULL, OPT_HELP }, NULL, "show this help" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: skiff-nodenet-tool --mode native|vxlan --node-addr ADDR --pod-cidr CIDR\n"
		   "                          --peers FILE [options]\n"
		   "Routes this node's pods to the pods of the nodes in FILE, and masquerades\n"
		   "pod traffic leaving the cluster.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", options[i].opt.name, options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-26s %s\n", left, options[i].help);
	}
}

static int parse_num(const char *flag, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || end == s || *out > max) {
		log_error("%s: not a number up to %lu: '%s'", flag, max, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct tool_options *o)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	struct node_net_options *nn = &o->nn;
	unsigned long v;
	enum log_level lvl;
	bool have_mode = false;
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		longopts[i] = options[i].opt;
	memset(&longopts[ARRAY_SIZE(options)], 0, sizeof(struct option));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_MODE:
			if (streq(optarg, "native"))
				nn->mode = NODE_NET_NATIVE;
			else if (streq(optarg, "vxlan"))
				nn->mode = NODE_NET_VXLAN;
			else {
				log_error("--mode: native or vxlan, not '%s'", optarg);
				return -EINVAL;
			}
			have_mode = true;
			break;
		case OPT_NODE_ADDR:
			if (nn->n_addrs == NODE_NET_MAX_ADDRS ||
			    ipaddr_parse(optarg, &nn->addrs[nn->n_addrs]) < 0) {
				log_error("--node-addr: not an IP address (or a third one): '%s'", optarg);
				return -EINVAL;
			}
			nn->n_addrs++;
			break;
		case OPT_POD_CIDR:
			if (nn->n_pod_cidrs == NODE_NET_MAX_ADDRS ||
			    ipcidr_parse(optarg, &nn->pod_cidrs[nn->n_pod_cidrs], NULL) < 0) {
				log_error("--pod-cidr: not a CIDR (or a third one): '%s'", optarg);
				return -EINVAL;
			}
			nn->n_pod_cidrs++;
			break;
		case OPT_CLUSTER_CIDR:
			if (nn->n_cluster_cidrs == MAX_CIDRS ||
			    ipcidr_parse(optarg, &o->cluster[nn->n_cluster_cidrs], NULL) < 0) {
				log_error("--cluster-cidr: not a CIDR (or too many): '%s'", optarg);
				return -EINVAL;
			}
			nn->n_cluster_cidrs++;
			break;
		case OPT_SERVICE_CIDR:
			if (nn->n_service_cidrs == MAX_CIDRS ||
			    ipcidr_parse(optarg, &o->service[nn->n_service_cidrs], NULL) < 0) {
				log_error("--service-cidr: not a CIDR (or too many): '%s'", optarg);
				return -EINVAL;
			}
			nn->n_service_cidrs++;
			break;
		case OPT_PEERS:
			o->peers = optarg;
			break;
		case OPT_VXLAN_NAME:
			nn->vxlan_name = optarg;
			break;
		case OPT_VNI:
			if (parse_num("--vni", optarg, 0xffffff, &v) < 0 || v == 0)
				return -EINVAL;
			nn->vni = (uint32_t)v;
			break;
		case OPT_VXLAN_PORT:
			if (parse_num("--vxlan-port", optarg, 65535, &v) < 0 || v == 0)
				return -EINVAL;
			nn->vxlan_port = (uint16_t)v;
			break;
		case OPT_NAT_TABLE:
			nn->nat_table = optarg;
			break;
		case OPT_NO_MASQ:
			nn->no_masquerade = true;
			break;
		case OPT_FOLLOW:
			o->follow = true;
			break;
		case OPT_REMOVE:
			o->remove = true;
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
	nn->cluster_cidrs = o->cluster;
	nn->service_cidrs = o->service;
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!have_mode || nn->n_addrs == 0 || (!o->peers && !o->remove)) {
		log_error("--mode, --node-addr and --peers are required (see --help)");
		return -EINVAL;
	}
	return 0;
}

/* ---- the peers file ---- */

struct peers {
	struct node_net_peer *v;
	size_t n;
	json_t *root; /* names point into it */
};

static void peers_clear(struct peers *p)
{
	free(p->v);
	json_decref(p->root);
	memset(p, 0, sizeof(*p));
}

static int peers_load(const char *path, struct peers *out, char *msg, size_t size)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *it;
	struct peers p = { 0 };
	size_t i;

	if (!root) {
		snprintf(msg, size, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -EINVAL;
	}
	p.root = root;
	if (!json_is_array(root) || json_array_size(root) > MAX_PEERS) {
		snprintf(msg, size, "%s: expected a JSON array of at most %d nodes", path, MAX_PEERS);
		goto bad;
	}
	p.v = calloc(json_array_size(root) + 1, sizeof(*p.v));
	if (!p.v) {
		peers_clear(&p);
		return -ENOMEM;
	}
	json_array_foreach(root, i, it) {
		struct node_net_peer *pe = &p.v[p.n++];
		json_t *name = json_object_get(it, "name"), *addrs = json_object_get(it, "addresses");
		json_t *cidrs = json_object_get(it, "podCIDRs"), *x;
		size_t j;

		if (!json_is_object(it)) {
			snprintf(msg, size, "%s: [%zu]: expected an object", path, i);
			goto bad;
		}
		if (!json_is_string(name) || !*json_string_value(name)) {
			snprintf(msg, size, "%s: [%zu].name: expected a non-empty string", path, i);
			goto bad;
		}
		pe->name = json_string_value(name);
		if (!json_is_array(addrs) || json_array_size(addrs) == 0 ||
		    json_array_size(addrs) > NODE_NET_MAX_ADDRS) {
			snprintf(msg, size, "%s: [%zu].addresses: expected 1 or 2 addresses", path, i);
			goto bad;
		}
		json_array_foreach(addrs, j, x) {
			if (!json_is_string(x) ||
			    ipaddr_parse(json_string_value(x), &pe->addrs[pe->n_addrs++]) < 0) {
				snprintf(msg, size, "%s: [%zu].addresses[%zu]: not an IP address", path, i, j);
				goto bad;
			}
		}
		if (!json_is_array(cidrs) || json_array_size(cidrs) > NODE_NET_MAX_ADDRS) {
			snprintf(msg, size, "%s: [%zu].podCIDRs: expected at most 2 CIDRs", path, i);
			goto bad;
		}
		json_array_foreach(cidrs, j, x) {
			if (!json_is_string(x) ||
			    ipcidr_parse(json_string_value(x), &pe->pod_cidrs[pe->n_pod_cidrs++], NULL) < 0) {
				snprintf(msg, size, "%s: [%zu].podCIDRs[%zu]: not a CIDR", path, i, j);
				goto bad;
			}
		}
	}
	*out = p;
	return 0;
bad:
	peers_clear(&p);
	return -EINVAL;
}

static int sync_file(struct node_net *nn, const char *path)
{
	struct peers p = { 0 };
	struct node_net_stats st;
	char msg[512];
	unsigned long long t0 = now_ns();
	int r = peers_load(path, &p, msg, sizeof(msg));

	if (r < 0) {
		log_error("peers file %s", r == -EINVAL ? msg : strerror(-r));
		return r;
	}
	r = node_net_sync(nn, p.v, p.n, msg, sizeof(msg));
	if (r < 0)
		log_error("sync: %s", msg);
	else {
		node_net_last_stats(nn, &st);
		log_info("sync: %zu peers, %zu entries added or replaced, %zu deleted in %.2f ms", p.n,
			 st.added, st.deleted, (double)(now_ns() - t0) / 1e6);
	}
	peers_clear(&p);
	return r;
}

static int follow(struct node_net *nn, const char *path)
{
	_cleanup_close_ int sfd = -1, ifd = -1;
	_cleanup_free_ char *dcopy = strdup(path), *bcopy = strdup(path);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	sigset_t mask;

	if (!dcopy || !bcopy)
		return -ENOMEM;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ifd < 0)
		return -errno;
	if (inotify_add_watch(ifd, dirname(dcopy), IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
		return -errno;
	const char *base = basename(bcopy);

	for (;;) {
		struct pollfd pf[2] = { { .fd = sfd, .events = POLLIN }, { .fd = ifd, .events = POLLIN } };
		bool due = false;
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pf[0].revents)
			return 0;
		while ((n = read(ifd, buf, sizeof(buf))) > 0)
			for (char *p = buf; p < buf + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;

				if (ev->len && streq(ev->name, base))
					due = true;
				p += sizeof(*ev) + ev->len;
			}
		if (due)
			(void)sync_file(nn, path);
	}
}

int main(int argc, char **argv)
{
	struct tool_options o = { 0 };
	struct node_net *nn = NULL;
	char msg[512] = "";
	int r;

	log_init("skiff-nodenet-tool", LOG_LEVEL_INFO);
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	r = node_net_open(&o.nn, &nn, msg, sizeof(msg));
	if (r < 0) {
		log_error("%s", *msg ? msg : strerror(-r));
		return 1;
	}
	if (o.remove) {
		r = node_net_close(nn, true);
		if (r < 0)
			log_error("cannot remove everything: %s", strerror(-r));
		return r < 0 ? 1 : 0;
	}
	r = sync_file(nn, o.peers);
	if (o.follow && (r == 0 || r == -EINVAL))
		r = follow(nn, o.peers);
	node_net_close(nn, false);
	return r < 0 ? 1 : 0;
}
