/* What `skiff up` checks before it changes anything, each failure a line
 * saying what is wrong and what to do:
 *   root          namespaces, mounts, cgroups and BPF need it
 *   data dir      DIR/version written by this format (SKIFF_DATA_VERSION)
 *   ports         the API port, the registry's, node 1's kubelet API's (and
 *                 etcd's two, --store etcd) free
 *   ranges        no route of the machine inside the pods' or the Services'
 *                 range (another cluster's, which node 1 would fight)
 *   programs      skiff-server and skiff-agent beside skiff; containerd, its
 *                 shim, runc and ctr (and etcd) in PATH
 *   kernel        bpffs and a mounted cgroup v2 (--proxy-mode bpf), nftables
 * The kernel is asked, not guessed: /proc/filesystems, /proc/mounts, and an
 * nf_tables netlink request. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/route/route.h>

#include "cmd/skiff.h"
#include "lib/inet.h"
#include "lib/util.h"

struct problems {
	char *buf;
	size_t size, len;
	int first; /* the first problem's -errno */
};

static void problem(struct problems *p, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct problems *p, int r, const char *fmt, ...)
{
	va_list ap;

	if (!p->first)
		p->first = r;
	if (p->len + 1 >= p->size)
		return;
	if (p->len)
		p->buf[p->len++] = '\n';
	va_start(ap, fmt);
	p->len += vsnprintf(p->buf + p->len, p->size - p->len, fmt, ap);
	va_end(ap);
	if (p->len >= p->size)
		p->len = p->size - 1;
}

/* Whether a line of file has word as its field number field (0-based). */
static bool file_has(const char *file, int field, const char *word)
{
	char line[4096];
	_cleanup_fclose_ FILE *f = fopen(file, "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
		for (int i = 0; tok && i < field; i++)
			tok = strtok_r(NULL, " \t\n", &save);
		if (streq(tok, word))
			return true;
	}
	return false;
}

/* Whether nf_tables answers a GETGEN request (nfnetlink and the module). */
static int nftables_answers(void)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg g;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
			.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, .nlmsg_seq = 1 },
		.g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 2 };
	char buf[8192];
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	ssize_t n;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error)
				return e->error;
		}
	return 0;
}

/* 0 when nothing listens on TCP port (any address), else -EADDRINUSE. */
static int port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static void check_ports(const struct skiff *s, struct problems *p)
{
	static const char *const what[] = { "skiff-server's API", "etcd's clients", "etcd's peers" };
	int n = streq(s->store, "etcd") ? 3 : 1;

	for (int i = 0; i < n; i++) {
		int r = port_free(s->port + i);
		if (r < 0)
			problem(p, r, "port %d (%s) is %s: stop what listens there (`ss -ltnp "
				"'sport = :%d'` names it) or give up another --port", s->port + i,
				what[i], r == -EADDRINUSE ? "taken" : strerror(-r), s->port + i);
	}
	int r = port_free(s->reg_port);
	if (r < 0)
		problem(p, r, "port %d (the image registry's) is %s: stop what listens there (`ss -ltnp "
			"'sport = :%d'` names it) or give up another --registry-port", s->reg_port,
			r == -EADDRINUSE ? "taken" : strerror(-r), s->reg_port);
	r = port_free(s->port + SKIFF_KUBELET_PORT_OFFSET);
	if (r < 0)
		problem(p, r, "port %d (node 1's kubelet API, --port + %d) is %s: stop what listens "
			"there or give up another --port", s->port + SKIFF_KUBELET_PORT_OFFSET,
			SKIFF_KUBELET_PORT_OFFSET, r == -EADDRINUSE ? "taken" : strerror(-r));
}

struct range_check {
	struct ipcidr range;
	const char *what, *flag;
	struct problems *p;
	int bridge; /* this cluster's bridge (a stopped cluster's routes): its ifindex */
	bool found;
};

/* A unicast route of the main table inside the range (not a guard's
 * unreachable one, not the default route). */
static void route_in_range(struct nl_object *o, void *arg)
{
	struct range_check *c = arg;
	struct rtnl_route *rt = (struct rtnl_route *)o;
	struct nl_addr *dst = rtnl_route_get_dst(rt);
	struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(rt) ? rtnl_route_nexthop_n(rt, 0) : NULL;
	struct ipcidr d = { 0 };
	char buf[64], have[64];

	if (c->found || rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(rt) != RTN_UNICAST || !dst || nl_addr_get_len(dst) != 4 ||
	    (nh && c->bridge && rtnl_route_nh_get_ifindex(nh) == c->bridge))
		return;
	d.addr.family = AF_INET;
	memcpy(d.addr.bytes, nl_addr_get_binary_addr(dst), 4);
	d.len = (uint8_t)nl_addr_get_prefixlen(dst);
	if (d.len < c->range.len || !ipcidr_contains(&c->range, &d.addr))
		return;
	c->found = true;
	problem(c->p, -EADDRINUSE, "%s %s is routed on this machine already (%s; another "
		"cluster's?), and node 1, this machine, routes it: stop that cluster, or give "
		"another %s", c->what, ipcidr_str(&c->range, buf, sizeof(buf)),
		nl_addr2str(dst, have, sizeof(have)), c->flag);
}

static void check_ranges(const struct skiff *s, struct problems *p)
{
	struct range_check c[] = {
		{ .what = "the pods' range", .flag = "--cluster-cidr", .p = p },
		{ .what = "the Services' range", .flag = "--service-cidr", .p = p },
	};
	const char *cidrs[] = { s->cluster_cidr, s->service_cidr };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *routes = NULL;
	char br[32];

	snprintf(br, sizeof(br), "%s-br", s->name);
	c[0].bridge = c[1].bridge = (int)if_nametoindex(br);

	if (sk && nl_connect(sk, NETLINK_ROUTE) == 0 &&
	    rtnl_route_alloc_cache(sk, AF_INET, 0, &routes) == 0)
		for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
			const char *why;
			if (cidrs[i] && ipcidr_parse(cidrs[i], &c[i].range, &why) == 0 &&
			    c[i].range.addr.family == AF_INET)
				nl_cache_foreach(routes, route_in_range, &c[i]);
		}
	nl_cache_free(routes);
	nl_socket_free(sk);
}

/* Whether name is an executable file in one of PATH's folders. */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH") ?: "/usr/bin:/bin";
	char p[4200];

	for (const char *d = path; *d;) {
		size_t n = strcspn(d, ":");
		snprintf(p, sizeof(p), "%.*s/%s", (int)n, d, name);
		if (n && access(p, X_OK) == 0)
			return true;
		d += n + (d[n] == ':');
	}
	return false;
}

static void check_programs(const struct skiff *s, struct problems *p)
{
	static const char *const ours[] = { "skiff-server", "skiff-agent", "skiff-cni", "skiff-ipam" };
	static const char *const theirs[] = { "containerd", "containerd-shim-runc-v2", "runc", "ctr",
						  "docker-registry" };
	char path[4200];

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->bin, ours[i]);
		if (access(path, X_OK) < 0)
			problem(p, -ENOENT, "no %s: skiff runs the programs beside it (`make` builds "
				"them all into build/bin)", path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(theirs); i++)
		if (!in_path(theirs[i]))
			problem(p, -ENOENT, "no %s in PATH: install it (scripts/deps.sh installs containerd, runc "
				"and docker-registry)", theirs[i]);
	if (streq(s->store, "etcd") && !in_path("etcd"))
		problem(p, -ENOENT, "no etcd in PATH, which --store etcd starts: install etcd-server "
			"(scripts/deps.sh), or --store sqlite");
}

/* DIR/version: absent in a new data dir (or one from before the stamp,
 * which is format 1). */
static void check_version(const struct skiff *s, struct problems *p)
{
	char path[4096], line[64] = "";
	int v = 0;
	_cleanup_fclose_ FILE *f = NULL;

	skiff_path(s, path, sizeof(path), "version");
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f) || sscanf(line, "skiff-data %d", &v) != 1 ||
	    v != SKIFF_DATA_VERSION)
		problem(p, -EPROTO, "%s was written by an incompatible skiff (data format \"%.*s\", "
			"this skiff reads \"skiff-data %d\"): `skiff down --purge --data-dir %s` "
			"removes it, or give up another --data-dir", s->data_dir,
			(int)strcspn(line, "\n"), line, SKIFF_DATA_VERSION, s->data_dir);
}

static void check_kernel(const struct skiff *s, struct problems *p)
{
	int r;

	if (streq(s->proxy_mode, "bpf")) {
		if (!file_has("/proc/filesystems", 1, "bpf"))
			problem(p, -ENOSYS, "the kernel has no bpffs (no \"bpf\" in /proc/filesystems), "
				"which --proxy-mode bpf pins its maps in: use a kernel built with "
				"CONFIG_BPF_SYSCALL, or --proxy-mode nftables");
		if (!file_has("/proc/mounts", 2, "cgroup2"))
			problem(p, -ENOSYS, "no cgroup v2 is mounted (no \"cgroup2\" in /proc/mounts), "
				"which --proxy-mode bpf attaches its socket hooks to: `mount -t cgroup2 "
				"none /sys/fs/cgroup/unified` (any folder), or --proxy-mode nftables");
	}
	r = nftables_answers();
	if (r < 0)
		problem(p, r, "nftables does not answer (%s), which node routing and --proxy-mode "
			"nftables program: `modprobe nf_tables`, or use a kernel built with "
			"CONFIG_NF_TABLES", strerror(-r));
}

int skiff_check_up(const struct skiff *s, bool running, char *err, size_t errlen)
{
	struct problems p = { .buf = err, .size = errlen };

	if (errlen)
		err[0] = 0;
	if (geteuid() != 0) {
		problem(&p, -EPERM, "skiff up needs root (network namespaces, mounts, cgroups, BPF): "
			"run it with sudo");
		return p.first;
	}
	check_version(s, &p);
	if (!running) {
		check_ports(s, &p);
		check_ranges(s, &p);
	}
	check_programs(s, &p);
	check_kernel(s, &p);
	return p.first;
}

int skiff_check_version_write(const struct skiff *s)
{
	char path[4096], buf[32];
	_cleanup_close_ int fd = -1;

	skiff_path(s, path, sizeof(path), "version");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "skiff-data %d\n", SKIFF_DATA_VERSION);
	return write_all(fd, buf, strlen(buf));
}
