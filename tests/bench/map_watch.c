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
 *
 *   map-watch --server URL (--map PINNED | --nft | --dns ADDR:PORT)
 *             [--timeout-ms T] < CHANGES
 *
 * Many changes through the API server, one after another, from one
 * process over one kept-alive connection (no process is started inside
 * the timed window: on a loaded machine starting curl took 30 ms). Each
 * line of stdin is "FRONTEND NFT_ADDR DNS_NAME METHOD PATH BODY": the
 * request (a PATCH is a JSON merge patch; "-" for what the mode does not
 * read). The clock starts just before the request is handed to the
 * client and stops when the change is in: with --map the frontend's entry
 * has a new generation, with --nft an nf_tables commit carries an element
 * beginning with NFT_ADDR, with --dns the server at ADDR:PORT answers
 * DNS_NAME's A query with an address (asked every DNS_ASK_US microseconds).
 * Prints per line: change us=N write_us=M (M: until the server's answer
 * to the same request).
 * Exit status 0 when every change was seen in time, 1 otherwise, 2 on bad
 * usage. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <ldns/ldns.h>
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
#include "lib/kube_client.h"
#include "lib/log.h"
#include "lib/util.h"

/* --dns: how often the name is asked while it does not answer (the
 * resolution of the dns row: 4,000 queries a second to the agent) */
#define DNS_ASK_US 250

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: map-watch --map PINNED --frontend ADDR:PORT [--appear] [--rename SRC DST]\n"
		"                 [--timeout-ms T]\n"
		"       map-watch --nft-addr IPV4 [--timeout-ms T] --run CMD ARG...\n"
		"       map-watch --server URL (--map PINNED | --nft | --dns ADDR:PORT)\n"
		"                 [--timeout-ms T] < CHANGES\n"
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
		"  --server URL        make the changes of stdin's lines through the API server\n"
		"                      (\"FRONTEND NFT_ADDR DNS_NAME METHOD PATH BODY\"), each\n"
		"                      timed until --map shows FRONTEND changed, (--nft)\n"
		"                      NFT_ADDR is committed or (--dns) DNS_NAME answers\n"
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

/* A socket on the nf_tables events of this network namespace; NULL
 * (logged) when it cannot be opened. */
static struct mnl_socket *nft_events_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int rcvbuf = 32 << 20;

	if (!nl || mnl_socket_bind(nl, 1 << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
		log_error("cannot listen to nf_tables events: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return NULL;
	}
	/* a full batch sends an event per element: room for many */
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	return nl;
}

/* Reads what events are there (flags: 0 to wait for one, MSG_DONTWAIT)
 * and matches them against w: 1 when it read some, 0 when none were
 * there (or were lost), -errno when the socket failed. */
static int nft_events_read(struct mnl_socket *nl, struct nft_watch *w, int flags)
{
	static char buf[1 << 16];
	ssize_t n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), flags);

	if (n < 0)
		/* ENOBUFS: events lost in a burst, keep listening */
		return errno == ENOBUFS || errno == EINTR || errno == EAGAIN ? 0 : -errno;
	mnl_cb_run(buf, (size_t)n, 0, 0, nft_on_msg, w);
	return 1;
}

/* --nft-addr: the events socket is open before CMD starts, so no commit
 * is missed. */
static int nft_watch(struct nft_watch *w, unsigned long timeout_ms, char **cmd)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = nft_events_open();
	unsigned long long t0, deadline;
	pid_t pid;

	if (!nl)
		return 1;
	t0 = now_ns();
	if (posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ) != 0) {
		log_error("--run %s: cannot start it", cmd[0]);
		return 1;
	}
	deadline = t0 + timeout_ms * 1000000ULL;
	while (!w->found) {
		struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
		unsigned long long now = now_ns();
		int r;

		if (now > deadline) {
			log_error("no element with %s committed within %lu ms", inet_ntoa(w->addr),
				  timeout_ms);
			run_status(pid);
			return 1;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		r = nft_events_read(nl, w, 0);
		if (r < 0) {
			log_error("reading nf_tables events: %s", strerror(-r));
			return 1;
		}
	}
	printf("change us=%llu set=%s table=%s\n", (now_ns() - t0) / 1000, w->set, w->table);
	return run_status(pid);
}

/* ---- --server: changes through the API server, one after another ---- */

struct api_run {
	struct kc_client *c;
	int map_fd;            /* --map, else -1 */
	struct mnl_socket *nl; /* --nft, else NULL */
	int dns_fd;            /* --dns: a UDP socket connected to the server, else -1 */
	unsigned long timeout_ms;
};

/* One change in flight: when it started, was answered and was seen. */
struct api_change {
	unsigned long long t0, answered, seen; /* 0: not yet */
	int err;
	/* what it waits for */
	struct lb_fe_key key; /* --map */
	__u32 gen0;
	struct nft_watch w;   /* --nft */
	ldns_pkt *query;      /* --dns */
	unsigned long long asked; /* last query sent */
	char what[600];           /* "METHOD PATH", for errors */
};

static void change_answered(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct api_change *ch = ud;

	(void)body;
	ch->answered = now_ns();
	ch->err = err;
	if (err < 0)
		log_error("request: %s", st && st->message[0] ? st->message : strerror(-err));
}

/* A kept-alive connection before the first timed change: a GET of /api. */
static int api_warm(struct kc_client *c)
{
	struct api_change ch = { 0 };
	struct kc_async *a;

	if (kc_request_async(c, "GET", "/api", NULL, change_answered, &ch, &a) < 0)
		return -EIO;
	while (!ch.answered)
		kc_client_run_once(c, 1000);
	return ch.err;
}

/* --dns: asks again (every DNS_ASK_US), reads the answers there are;
 * true once one has an address. */
static bool dns_answered(struct api_run *ar, struct api_change *ch)
{
	uint8_t buf[4096];
	ssize_t n;
	bool found = false;

	while ((n = recv(ar->dns_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		ldns_pkt *p = NULL;

		/* an answer to this change's name (a late one to the last
		 * change's does not count) */
		if (ldns_wire2pkt(&p, buf, (size_t)n) == LDNS_STATUS_OK &&
		    ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
		    ldns_rr_list_rr_count(ldns_pkt_answer(p)) > 0 &&
		    ldns_rr_list_rr_count(ldns_pkt_question(p)) == 1 &&
		    ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)),
				       ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(ch->query), 0))) == 0)
			found = true;
		ldns_pkt_free(p);
	}
	if (!found && now_ns() - ch->asked >= DNS_ASK_US * 1000ULL) {
		uint8_t *wire = NULL;
		size_t len = 0;

		ldns_pkt_set_id(ch->query, (uint16_t)(ch->asked / 1000));
		if (ldns_pkt2wire(&wire, ch->query, &len) == LDNS_STATUS_OK)
			(void)!send(ar->dns_fd, wire, len, 0);
		free(wire);
		ch->asked = now_ns();
	}
	return found;
}

/* Is ch's change in (after the fds were polled)? */
static int change_seen(struct api_run *ar, struct api_change *ch, const struct pollfd *own)
{
	struct lb_fe_val val;

	if (ar->nl && own->revents && nft_events_read(ar->nl, &ch->w, MSG_DONTWAIT) < 0)
		return -EIO;
	if (ar->map_fd >= 0 && bpf_map_lookup_elem(ar->map_fd, &ch->key, &val) == 0 &&
	    val.gen != ch->gen0)
		ch->w.found = true;
	if (ar->dns_fd >= 0 && dns_answered(ar, ch))
		ch->w.found = true;
	return ch->w.found;
}

/* Waits until ch is answered and seen (or the deadline): the client's
 * fds and the watched socket polled, the map read every 100 us. */
static int api_change_wait(struct api_run *ar, struct api_change *ch)
{
	unsigned long long deadline = ch->t0 + ar->timeout_ms * 1000000ULL;

	while (!ch->answered || !ch->seen) {
		struct pollfd fds[64];
		int tmo = -1, r;
		size_t n = kc_client_pollfds(ar->c, fds, ARRAY_SIZE(fds) - 1, &tmo);
		unsigned long long now = now_ns(), wait_ns;
		int own = ar->nl ? mnl_socket_get_fd(ar->nl) : ar->dns_fd;

		if (ch->answered && ch->err < 0)
			return 1;
		if (now > deadline) {
			log_error("%s: change not %s within %lu ms", ch->what,
				  ch->answered ? "seen" : "answered", ar->timeout_ms);
			return 1;
		}
		wait_ns = deadline - now;
		if (tmo >= 0 && (unsigned long long)tmo * 1000000ULL < wait_ns)
			wait_ns = (unsigned long long)tmo * 1000000ULL;
		if (!ch->seen && ar->map_fd >= 0 && wait_ns > 100000)
			wait_ns = 100000;
		if (!ch->seen && ar->dns_fd >= 0 && wait_ns > DNS_ASK_US * 1000ULL)
			wait_ns = DNS_ASK_US * 1000ULL;
		fds[n] = (struct pollfd){ .fd = own, .events = POLLIN }; /* -1: none */
		struct timespec ts = { .tv_sec = wait_ns / 1000000000ULL,
				       .tv_nsec = wait_ns % 1000000000ULL };
		if (ppoll(fds, n + 1, &ts, NULL) < 0 && errno != EINTR)
			return 1;
		kc_client_dispatch(ar->c, fds, n);
		if (ch->seen)
			continue;
		r = change_seen(ar, ch, &fds[n]);
		if (r < 0)
			return 1;
		if (r)
			ch->seen = now_ns();
	}
	return 0;
}

/* ch's target from the line's fields; -EINVAL when one does not parse. */
static int change_target(struct api_run *ar, struct api_change *ch, const char *fe,
			 const char *addr, const char *name)
{
	struct lb_fe_val val;

	if (ar->map_fd >= 0) {
		if (parse_frontend(fe, &ch->key) < 0)
			return -EINVAL;
		if (bpf_map_lookup_elem(ar->map_fd, &ch->key, &val) < 0) {
			log_error("%s: the frontend is not in the map: %s", fe, strerror(errno));
			return -ENOENT;
		}
		ch->gen0 = val.gen;
	}
	if (ar->nl) {
		if (inet_pton(AF_INET, addr, &ch->w.addr) != 1)
			return -EINVAL;
		/* what earlier changes committed is not this one's */
		while (nft_events_read(ar->nl, &ch->w, MSG_DONTWAIT) > 0)
			;
		ch->w.found = false;
	}
	if (ar->dns_fd >= 0 &&
	    ldns_pkt_query_new_frm_str(&ch->query, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN,
				       LDNS_RD) != LDNS_STATUS_OK)
		return -EINVAL;
	return 0;
}

/* One line of stdin: "FRONTEND NFT_ADDR DNS_NAME METHOD PATH BODY". */
static int api_change(struct api_run *ar, const char *line)
{
	char fe[128], addr[64], name[256], method[16], path[512];
	struct api_change ch = { 0 };
	struct kc_async *a;
	json_t *body;
	int off = 0, r;

	if (sscanf(line, "%127s %63s %255s %15s %511s %n", fe, addr, name, method, path, &off) != 5 ||
	    !off || !(body = json_loads(line + off, 0, NULL))) {
		log_error("stdin: expected FRONTEND NFT_ADDR DNS_NAME METHOD PATH BODY, got '%s'", line);
		return 2;
	}
	r = change_target(ar, &ch, fe, addr, name);
	if (r < 0) {
		if (r == -EINVAL)
			log_error("stdin: what to watch does not parse: '%s'", line);
		json_decref(body);
		return r == -EINVAL ? 2 : 1;
	}
	ch.t0 = now_ns();
	snprintf(ch.what, sizeof(ch.what), "%s %s", method, path);
	r = kc_request_async_type(ar->c, method, path,
				  streq(method, "PATCH") ? "application/merge-patch+json" : NULL, body,
				  change_answered, &ch, &a);
	json_decref(body);
	if (r < 0)
		log_error("%s %s: %s", method, path, strerror(-r));
	else
		r = api_change_wait(ar, &ch);
	if (r == 0)
		printf("change us=%llu write_us=%llu\n", (ch.seen - ch.t0) / 1000,
		       (ch.answered - ch.t0) / 1000);
	else if (!ch.answered)
		kc_async_cancel(ar->c, a);
	fflush(stdout);
	ldns_pkt_free(ch.query);
	return r ? 1 : 0;
}

/* --dns ADDR:PORT: a UDP socket connected there; -1 (logged) on failure. */
static int dns_open(const char *where)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct ipaddr a;
	uint16_t port;
	int fd;

	if (ipaddr_port_parse(where, &a, &port) < 0) {
		log_error("--dns: expected ADDR:PORT, got '%s'", where);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (a.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		*in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
					    .sin_addr = a.v4 };
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		*in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(port),
					      .sin6_addr = a.v6 };
		len = sizeof(*in6);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		log_error("--dns %s: %s", where, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* --server: every line of stdin, one after another; target is the map,
 * NULL with --nft, or the DNS server with dns. */
static int api_changes(const char *server, const char *map, bool nft, const char *dns,
		       unsigned long timeout_ms)
{
	struct api_run ar = { .map_fd = -1, .dns_fd = -1, .timeout_ms = timeout_ms };
	struct kc_config *cfg = NULL;
	char conf[1024], err[256], *line = NULL;
	size_t cap = 0;
	int r = 1;

	snprintf(conf, sizeof(conf),
		 "{\"current-context\":\"b\",\"clusters\":[{\"name\":\"b\",\"cluster\":"
		 "{\"server\":\"%s\"}}],\"users\":[{\"name\":\"b\",\"user\":{}}],\"contexts\":"
		 "[{\"name\":\"b\",\"context\":{\"cluster\":\"b\",\"user\":\"b\"}}]}",
		 server);
	if (kc_config_parse(conf, strlen(conf), NULL, NULL, &cfg, err, sizeof(err)) < 0) {
		log_error("--server %s: %s", server, err);
		return 2;
	}
	if (kc_client_new(cfg, &(struct kc_client_opts){ .user_agent = "map-watch" }, &ar.c) < 0)
		goto out;
	if (nft && !(ar.nl = nft_events_open()))
		goto out;
	if (dns && (ar.dns_fd = dns_open(dns)) < 0)
		goto out;
	if (map && (ar.map_fd = bpf_obj_get(map)) < 0) {
		log_error("%s: cannot open the pinned map: %s", map, strerror(errno));
		goto out;
	}
	if (api_warm(ar.c) < 0) {
		log_error("--server %s: no answer", server);
		goto out;
	}
	r = 0;
	while (r == 0 && getline(&line, &cap, stdin) > 0)
		r = line[strspn(line, " \t\n")] ? api_change(&ar, line) : 0;
out:
	free(line);
	if (ar.nl)
		mnl_socket_close(ar.nl);
	if (ar.map_fd >= 0)
		close(ar.map_fd);
	if (ar.dns_fd >= 0)
		close(ar.dns_fd);
	kc_client_free(ar.c);
	kc_config_free(cfg);
	return r;
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
		{ "server", required_argument, NULL, 's' },
		{ "nft", no_argument, NULL, 'N' },
		{ "dns", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *map = NULL, *src = NULL, *dst = NULL, *server = NULL, *dns = NULL;
	struct lb_fe_key key;
	struct lb_fe_val val;
	bool have_key = false, appear = false, run = false;
	pid_t pid = -1;
	unsigned long timeout_ms = 10000;
	unsigned long long t0, deadline;
	_cleanup_close_ int fd = -1;
	struct nft_watch nw = { 0 };
	bool nft = false, nft_all = false;
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
		case 's':
			server = optarg;
			break;
		case 'N':
			nft_all = true;
			break;
		case 'D':
			dns = optarg;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (server) {
		if (run || nft || have_key || src || appear || optind != argc ||
		    (!!nft_all + !!map + !!dns) != 1) {
			log_error("--server takes one of --map, --nft and --dns, and no other change");
			return usage(stderr, 2);
		}
		return api_changes(server, map, nft_all, dns, timeout_ms);
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
