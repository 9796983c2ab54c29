/* map-watch: times one change from a manifest write until skiff's pinned
 * lb_frontends map shows it, for the service proxy benchmark.
 *
 *   map-watch --map PINNED --frontend ADDR:PORT [--appear]
 *             [--rename SRC DST] [--timeout-ms T] [--run CMD ARG...]
 *
 * Reads the frontend's entry (the generation of its backend set), then
 * renames SRC to DST (an atomic manifest update the agent follows), then
 * polls the entry every 100 us until its generation changes; with
 * --appear the frontend must be absent first and is waited for. With
 * --run (last; the rest of the line is the command) the change is CMD,
 * started just after the clock starts (an API write, for skiff-agent fed
 * by the API server); it runs while the map is polled.
 * Prints: change us=N gen_before=G gen_after=H (G is 0 with --appear)
 *
 *   map-watch --nft-addr IPV4 [--timeout-ms T] --run CMD ARG...
 *
 * The nftables proxy mode's counterpart: listens to the nf_tables events of
 * the current network namespace (NFNLGRP_NFTABLES, sent when a transaction
 * commits), starts the clock and CMD, and stops the clock at the first new
 * set element whose data (a map's value, e.g. the endpoint address . port
 * of skiff's endpoints-<g> maps) or key begins with the address.
 * Prints: change us=N set=NAME table=TABLE
 * Exit status 0 when the change was seen in time, 1 otherwise, 2 on bad
 * usage. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "bpf/lb.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: map-watch --map PINNED --frontend ADDR:PORT [--appear] [--rename SRC DST]\n"
		"                 [--timeout-ms T]\n"
		"       map-watch --nft-addr IPV4 [--timeout-ms T] --run CMD ARG...\n"
		"Renames SRC to DST (optional), then waits until the TCP frontend's entry\n"
		"in the pinned lb_frontends map changes generation (or, with --appear,\n"
		"exists); prints the time taken.\n"
		"\n"
		"  --map PINNED        the pinned lb_frontends map (e.g. /sys/fs/bpf/skiff/lb_frontends)\n"
		"  --frontend A:PORT   the frontend (IPv4 or [IPv6]), protocol TCP\n"
		"  --appear            the frontend is new: wait until it is in the map\n"
		"  --rename SRC DST    the change to make, timed from just before rename(2)\n"
		"  --run CMD ARG...    the change to make (last option): CMD, timed from just\n"
		"                      before it is started\n"
		"  --nft-addr IPV4     instead of a map: wait until nf_tables commits a set\n"
		"                      element whose data or key begins with IPV4\n"
		"  --timeout-ms T      give up after T ms (default 10000)\n"
		"  -h, --help          this text\n");
	return status;
}

static int parse_frontend(const char *s, struct lb_fe_key *k)
{
	struct ipaddr a;
	uint16_t port;

	if (ipaddr_port_parse(s, &a, &port) < 0)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	ipaddr_to_mapped16(&a, k->addr); /* as bpf/lb.h stores it */
	k->port = port;
	k->proto = IPPROTO_TCP;
	return 0;
}

/* --run's command ended well (or there was none): 0, else 1. */
static int run_status(pid_t pid)
{
	int st;

	if (pid < 0)
		return 0;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_error("--run: the command failed");
		return 1;
	}
	return 0;
}

/* ---- --nft-addr ---- */

struct nft_watch {
	struct in_addr addr;
	char set[256], table[256];
	bool found;
};

static bool begins_with(const void *data, uint32_t len, const struct in_addr *a)
{
	return data && len >= sizeof(*a) && memcmp(data, a, sizeof(*a)) == 0;
}

/* One NEWSETELEM event: does one of its elements carry the address? */
static int nft_on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct nft_watch *w = data;
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	struct nftnl_set *s;

	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWSETELEM)
		return MNL_CB_OK;
	s = nftnl_set_alloc();
	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0 || !(it = nftnl_set_elems_iter_create(s))) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	while (!w->found && (e = nftnl_set_elems_iter_next(it))) {
		uint32_t dlen = 0, klen = 0;
		const void *d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);
		const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);

		if (begins_with(d, dlen, &w->addr) || begins_with(k, klen, &w->addr)) {
			w->found = true;
			snprintf(w->set, sizeof(w->set), "%s", nftnl_set_get_str(s, NFTNL_SET_NAME));
			snprintf(w->table, sizeof(w->table), "%s", nftnl_set_get_str(s, NFTNL_SET_TABLE));
		}
	}
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return w->found ? MNL_CB_STOP : MNL_CB_OK;
}

static void mnl_socket_closep(struct mnl_socket **p)
{
	if (*p)
		mnl_socket_close(*p);
}

/* --nft-addr: the events socket is open before CMD starts, so no commit
 * is missed. */
static int nft_watch(struct nft_watch *w, unsigned long timeout_ms, char **cmd)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	static char buf[1 << 16];
	unsigned long long t0, deadline;
	int rcvbuf = 32 << 20;
	pid_t pid;

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 1 << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
		log_error("cannot listen to nf_tables events: %s", strerror(errno));
		return 1;
	}
	/* a full batch sends an event per element: room for many */
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	t0 = now_ns();
	if (posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ) != 0) {
		log_error("--run %s: cannot start it", cmd[0]);
		return 1;
	}
	deadline = t0 + timeout_ms * 1000000ULL;
	while (!w->found) {
		struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
		unsigned long long now = now_ns();
		ssize_t n;

		if (now > deadline) {
			log_error("no element with %s committed within %lu ms", inet_ntoa(w->addr),
				  timeout_ms);
			run_status(pid);
			return 1;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue; /* events lost in a burst: keep listening */
			log_error("reading nf_tables events: %s", strerror(errno));
			return 1;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, nft_on_msg, w);
	}
	printf("change us=%llu set=%s table=%s\n", (now_ns() - t0) / 1000, w->set, w->table);
	return run_status(pid);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "map", required_argument, NULL, 'm' },
		{ "frontend", required_argument, NULL, 'f' },
		{ "rename", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "appear", no_argument, NULL, 'a' },
		{ "nft-addr", required_argument, NULL, 'n' },
		{ "run", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *map = NULL, *src = NULL, *dst = NULL;
	struct lb_fe_key key;
	struct lb_fe_val val;
	bool have_key = false, appear = false, run = false;
	pid_t pid = -1;
	unsigned long timeout_ms = 10000;
	unsigned long long t0, deadline;
	_cleanup_close_ int fd = -1;
	struct nft_watch nw = { 0 };
	bool nft = false;
	__u32 gen0;
	char *end;
	int c;

	log_init("map-watch", LOG_LEVEL_INFO);
	while (!run && (c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			map = optarg;
			break;
		case 'f':
			if (parse_frontend(optarg, &key) < 0) {
				log_error("--frontend: expected ADDR:PORT or [IPv6]:PORT, got '%s'", optarg);
				return 2;
			}
			have_key = true;
			break;
		case 'r':
			if (optind >= argc) {
				log_error("--rename: expected SRC DST");
				return 2;
			}
			src = optarg;
			dst = argv[optind++];
			break;
		case 't':
			errno = 0;
			timeout_ms = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || timeout_ms == 0 || timeout_ms > 3600000) {
				log_error("--timeout-ms: expected 1 to 3600000, got '%s'", optarg);
				return 2;
			}
			break;
		case 'a':
			appear = true;
			break;
		case 'n':
			if (inet_pton(AF_INET, optarg, &nw.addr) != 1) {
				log_error("--nft-addr: expected an IPv4 address, got '%s'", optarg);
				return 2;
			}
			nft = true;
			break;
		case 'x':
			run = true;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (nft && run && optind < argc && !map && !have_key && !src && !appear)
		return nft_watch(&nw, timeout_ms, &argv[optind]);
	if (nft) {
		log_error("--nft-addr takes --run CMD, and no --map, --frontend, --rename or --appear");
		return usage(stderr, 2);
	}
	if (!map || !have_key || (run ? optind == argc : optind != argc)) {
		log_error("--map and --frontend are required; no other arguments but --run's");
		return usage(stderr, 2);
	}
	fd = bpf_obj_get(map);
	if (fd < 0) {
		log_error("%s: cannot open the pinned map: %s", map, strerror(errno));
		return 1;
	}
	if (appear) {
		if (bpf_map_lookup_elem(fd, &key, &val) == 0) {
			log_error("%s: --appear, but the frontend is already in the map", map);
			return 1;
		}
		gen0 = 0;
	} else if (bpf_map_lookup_elem(fd, &key, &val) < 0) {
		log_error("%s: the frontend is not in the map: %s", map, strerror(errno));
		return 1;
	} else {
		gen0 = val.gen;
	}
	t0 = now_ns();
	if (src && rename(src, dst) < 0) {
		log_error("rename %s -> %s: %s", src, dst, strerror(errno));
		return 1;
	}
	if (run && posix_spawnp(&pid, argv[optind], NULL, NULL, &argv[optind], environ) != 0) {
		log_error("--run %s: cannot start it", argv[optind]);
		return 1;
	}
	deadline = t0 + timeout_ms * 1000000ULL;
	for (;;) {
		struct timespec ts = { .tv_nsec = 100000 };
		unsigned long long now = now_ns();

		if (bpf_map_lookup_elem(fd, &key, &val) == 0 && (appear || val.gen != gen0)) {
			printf("change us=%llu gen_before=%u gen_after=%u\n", (now - t0) / 1000, gen0,
			       val.gen);
			return run_status(pid);
		}
		if (now > deadline) {
			log_error("%s: the frontend did not change within %lu ms", map, timeout_ms);
			return 1;
		}
		nanosleep(&ts, NULL);
	}
}
