/* Netlink for the routed veth: links, addresses and routes through
 * libnl-route-3, and switching network namespaces. Returns negative errno;
 * never prints. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/netlink.h"
#include "cni/plugin.h"
#include "lib/util.h"

static void nl_addr_putp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
}
static void rtnl_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}
static void rtnl_addr_putp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
}
static void rtnl_route_putp(struct rtnl_route **r)
{
	if (*r)
		rtnl_route_put(*r);
}
static void nl_cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}

#define _cleanup_nladdr_ _cleanup_(nl_addr_putp)
#define _cleanup_link_ _cleanup_(rtnl_link_putp)
#define _cleanup_addr_ _cleanup_(rtnl_addr_putp)
#define _cleanup_route_ _cleanup_(rtnl_route_putp)
#define _cleanup_cache_ _cleanup_(nl_cache_freep)

/* ---- names ---- */

void cni_host_ifname(const char *container_id, const char *ifname, char out[16])
{
	/* FNV-1a, 64 bit, over "containerID/ifname"; 48 bits shown. */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = container_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	h = (h ^ '/') * 0x100000001b3ULL;
	for (const char *p = ifname; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	snprintf(out, 16, CNI_HOST_PREFIX "%012llx", (unsigned long long)(h >> 16));
}

/* "skiff-cni <network> <containerID> <ifname>": all three contain no spaces. */
int cni_host_alias(const char *network, const char *container_id, const char *ifname,
		   char *out, size_t size)
{
	int n = snprintf(out, size, "skiff-cni %s %s %s", network, container_id, ifname);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cni_host_alias_parse(char *alias, const char **network, const char **container_id,
			 const char **ifname)
{
	char *save = NULL, *tag = strtok_r(alias, " ", &save);

	if (!streq(tag, "skiff-cni"))
		return -EINVAL;
	*network = strtok_r(NULL, " ", &save);
	*container_id = strtok_r(NULL, " ", &save);
	*ifname = strtok_r(NULL, " ", &save);
	if (!*network || !*container_id || !*ifname || strtok_r(NULL, " ", &save))
		return -EINVAL;
	return 0;
}

/* ---- sockets and namespaces ---- */

int link_socket_open(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return nl_errno(r);
	}
	/* One read per answer instead of a peek for its size and a read: the
	 * kernel never sends more than 32 KiB in one message or dump part. */
	nl_socket_disable_msg_peek(sk);
	nl_socket_set_msg_buf_size(sk, 64 * 1024);
	*out = sk;
	return 0;
}

void link_socket_close(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

int netns_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = ioctl(fd, NS_GET_NSTYPE);
	if (r != CLONE_NEWNET) {
		close(fd);
		return r < 0 && errno != ENOTTY ? -errno : -EINVAL;
	}
	return fd;
}

int netns_enter(int nsfd, int *saved)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (self < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int r = -errno;

		close(self);
		return r;
	}
	*saved = self;
	return 0;
}

int netns_leave(int saved)
{
	int r = setns(saved, CLONE_NEWNET) < 0 ? -errno : 0;

	close(saved);
	return r;
}

/* ---- batches ---- */

void link_batch_init(struct link_batch *b, struct nl_sock *sk)
{
	memset(b, 0, sizeof(*b));
	b->sk = sk;
}

/* Queues msg, or records r (building it failed) as the failure of this
 * position; returns its position. */
static int batch_queue(struct link_batch *b, int r, struct nl_msg *msg)
{
	int i = b->n;

	if (r == 0 && i >= LINK_BATCH_MAX)
		r = -E2BIG;
	if (r < 0 || !msg) {
		if (msg)
			nlmsg_free(msg);
		if (b->build_err == 0) {
			b->build_err = r < 0 ? r : -ENOMEM;
			b->build_failed = i;
		}
		return i;
	}
	b->msg[b->n++] = msg;
	return i;
}

static void batch_clear(struct link_batch *b)
{
	for (int i = 0; i < b->n; i++)
		nlmsg_free(b->msg[i]);
	b->n = 0;
}

/* Reads answers until the last request's acknowledgement: 0, or the
 * first failure's errno and its position in *failed. */
static int batch_acks(struct link_batch *b, uint32_t seq0, int *failed)
{
	static char buf[64 * 1024];
	int fd = nl_socket_get_fd(b->sk), first = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			uint32_t i = h->nlmsg_seq - seq0;

			if (h->nlmsg_type != NLMSG_ERROR || i >= (uint32_t)b->n)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			if (e->error < 0 && first == 0) {
				first = e->error;
				if (failed)
					*failed = (int)i;
			}
			if (i == (uint32_t)b->n - 1)
				return first;
		}
	}
}

int link_batch_run(struct link_batch *b, int *failed)
{
	struct iovec iov[LINK_BATCH_MAX];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct msghdr mh = { .msg_name = &kernel, .msg_namelen = sizeof(kernel), .msg_iov = iov };
	uint32_t seq0 = 0;
	int r;

	if (b->build_err < 0) {
		if (failed)
			*failed = b->build_failed;
		batch_clear(b);
		return b->build_err;
	}
	/* Only the last request asks for an acknowledgement: the kernel
	 * answers the others only when they fail, so the batch is one send
	 * and one receive. */
	for (int i = 0; i < b->n; i++) {
		struct nlmsghdr *h = nlmsg_hdr(b->msg[i]);

		nl_complete_msg(b->sk, b->msg[i]);
		if (i == 0)
			seq0 = h->nlmsg_seq;
		if (i < b->n - 1)
			h->nlmsg_flags &= ~NLM_F_ACK;
		iov[i] = (struct iovec){ .iov_base = h, .iov_len = NLMSG_ALIGN(h->nlmsg_len) };
	}
	mh.msg_iovlen = (size_t)b->n;
	r = b->n == 0 ? 0 : sendmsg(nl_socket_get_fd(b->sk), &mh, 0) < 0 ? -errno : 1;
	if (r > 0)
		r = batch_acks(b, seq0, failed);
	else if (r < 0 && failed)
		*failed = 0;
	batch_clear(b);
	return r;
}

/* ---- links ---- */

int link_ifindex(struct nl_sock *sk, const char *name)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, 0, name, &l);

	if (r < 0)
		return nl_errno(r);
	return rtnl_link_get_ifindex(l);
}

int link_veth_create(struct nl_sock *sk, const char *host_name, const char *pod_name, int nsfd,
		     int mtu)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc(), *peer;
	int r;

	if (!veth)
		return -ENOMEM;
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(veth, host_name);
	rtnl_link_set_name(peer, pod_name);
	rtnl_link_set_ns_fd(peer, nsfd);
	if (mtu > 0) {
		rtnl_link_set_mtu(veth, (unsigned)mtu);
		rtnl_link_set_mtu(peer, (unsigned)mtu);
	}
	/* One queue each way on both ends, asked for up front: veth allocates
	 * one per CPU and, unless told, trims them to one after registering,
	 * each trim an RCU grace period under the RTNL (most of an ADD's time
	 * on a busy machine). The veth ends up the same either way. */
	rtnl_link_set_num_tx_queues(veth, 1);
	rtnl_link_set_num_rx_queues(veth, 1);
	rtnl_link_set_num_tx_queues(peer, 1);
	rtnl_link_set_num_rx_queues(peer, 1);
	r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_veth_release(veth);
	return nl_errno(r);
}

int link_delete(struct nl_sock *sk, const char *name)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();

	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	return nl_errno(rtnl_link_delete(sk, l));
}

int link_delete_ifindex(struct nl_sock *sk, int ifindex)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();

	if (!l)
		return -ENOMEM;
	rtnl_link_set_ifindex(l, ifindex);
	return nl_errno(rtnl_link_delete(sk, l));
}

int link_veth_peer(struct nl_sock *sk, const char *name, int *ifindex, int *peer_ifindex)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, 0, name, &l);

	if (r < 0)
		return nl_errno(r);
	*ifindex = rtnl_link_get_ifindex(l);
	*peer_ifindex = streq(rtnl_link_get_type(l), "veth") ? rtnl_link_get_link(l) : 0;
	return 0;
}

/* A socket in nsfd's network namespace, for link lookups by ioctl. */
static int ns_socket(int nsfd)
{
	int saved = -1, fd, r;

	r = netns_enter(nsfd, &saved);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = -errno;
	r = netns_leave(saved);
	if (r < 0 && fd >= 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The name of ifindex in the netns of socket fd: 1, 0 when there is no such
 * link, or a negative errno. The kernel looks it up under RCU: this does
 * not wait for the RTNL that the deleting child holds. */
static int link_name(int fd, int ifindex, char name[IFNAMSIZ])
{
	struct ifreq ifr = { .ifr_ifindex = ifindex };

	if (ioctl(fd, SIOCGIFNAME, &ifr) < 0)
		return errno == ENODEV || errno == ENXIO ? 0 : -errno;
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return 1;
}

/* Waits until neither ifindex[i] is listed in the netns of fd[i] (skipped
 * when fd[i] < 0): 0, -ESRCH when the child ended
 * with one still there, -ETIMEDOUT after 10 s. */
static int wait_unlisted(const int fd[2], const int ifindex[2], pid_t child)
{
	unsigned long long deadline = now_ns() + 10ULL * 1000 * 1000 * 1000;
	struct timespec pause = { .tv_nsec = 20 * 1000 };
	char name[IFNAMSIZ];

	for (int i = 0; i < 2;) {
		int r = fd[i] < 0 ? 0 : link_name(fd[i], ifindex[i], name);

		if (r <= 0) {
			if (r < 0)
				return r;
			i++;
			continue;
		}
		if (waitpid(child, NULL, WNOHANG) != 0)
			return link_name(fd[i], ifindex[i], name) == 0 ? 0 : -ESRCH;
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
		/* Short steps: the unlisting usually comes a few hundred
		 * microseconds in, and a longer sleep only overshoots it. */
		if (pause.tv_nsec < 100 * 1000)
			pause.tv_nsec *= 2;
	}
	return 0;
}

int link_delete_detached(int ifindex, int peer_nsfd, int peer_ifindex, const char *peer_name)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int peer_fd = -1;
	char name[IFNAMSIZ];
	pid_t pid;

	if (fd < 0)
		return -errno;
	/* The pod side is waited for only when it is the one we know. */
	if (peer_nsfd >= 0 && peer_ifindex > 0) {
		peer_fd = ns_socket(peer_nsfd);
		if (peer_fd >= 0 && (link_name(peer_fd, peer_ifindex, name) <= 0 ||
				     strncmp(name, peer_name, IFNAMSIZ) != 0)) {
			close(peer_fd);
			peer_fd = -1;
		}
	}
	/* waitpid must see the child, whatever the runtime left SIGCHLD at. */
	signal(SIGCHLD, SIG_DFL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct nl_sock *sk = NULL;
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Own session, and no hold on the caller's stdout: a runtime
		 * reads the plugin's output to EOF and must not wait for us.
		 * When the plugin exits, init (or the runtime, if it is a
		 * subreaper) reaps this child. */
		setsid();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		/* Nor on any other descriptor the caller handed the plugin. */
		close_range(3, ~0U, 0);
		if (link_socket_open(&sk) == 0)
			link_delete_ifindex(sk, ifindex);
		_exit(0);
	}
	return wait_unlisted((const int[2]){ fd, peer_fd }, (const int[2]){ ifindex, peer_ifindex },
			     pid);
}

int link_batch_set_up(struct link_batch *b, int ifindex, const char *alias)
{
	_cleanup_link_ struct rtnl_link *orig = rtnl_link_alloc();
	_cleanup_link_ struct rtnl_link *change = rtnl_link_alloc();
	struct nl_msg *msg = NULL;
	int r;

	if (!orig || !change)
		return batch_queue(b, -ENOMEM, NULL);
	rtnl_link_set_ifindex(orig, ifindex);
	rtnl_link_set_flags(change, IFF_UP);
	if (alias)
		rtnl_link_set_ifalias(change, alias);
	r = nl_errno(rtnl_link_build_change_request(orig, change, 0, &msg));
	return batch_queue(b, r, msg);
}

int link_set_up(struct nl_sock *sk, int ifindex, const char *alias)
{
	struct link_batch b;

	link_batch_init(&b, sk);
	link_batch_set_up(&b, ifindex, alias);
	return link_batch_run(&b, NULL);
}

/* mac, mtu and up of l, as link_info reads them. */
static void link_fill_info(struct rtnl_link *l, char mac[18], int *mtu, bool *up)
{
	struct nl_addr *a = rtnl_link_get_addr(l);

	mac[0] = '\0';
	if (a && nl_addr_get_len(a) == 6) {
		const uint8_t *b = nl_addr_get_binary_addr(a);

		snprintf(mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
			 b[5]);
	}
	if (mtu)
		*mtu = (int)rtnl_link_get_mtu(l);
	if (up)
		*up = rtnl_link_get_flags(l) & IFF_UP;
}

int link_info(struct nl_sock *sk, int ifindex, char mac[18], int *mtu, bool *up)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);

	if (r < 0)
		return nl_errno(r);
	link_fill_info(l, mac, mtu, up);
	return 0;
}

int link_lookup(struct nl_sock *sk, const char *name, char mac[18], int *mtu)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, 0, name, &l);

	if (r < 0)
		return nl_errno(r);
	link_fill_info(l, mac, mtu, NULL);
	return rtnl_link_get_ifindex(l);
}

int link_veth_foreach(struct nl_sock *sk, const char *prefix, link_veth_fn fn, void *data)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct nl_object *o;
	int r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);

	if (r < 0)
		return nl_errno(r);
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l), *type = rtnl_link_get_type(l);
		const char *alias = rtnl_link_get_ifalias(l);

		if (!name || strncmp(name, prefix, strlen(prefix)) != 0 || !streq(type, "veth"))
			continue;
		r = fn(name, alias ? alias : "", data);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- addresses and routes ---- */

static int to_nladdr(const struct ipaddr *a, int prefix, struct nl_addr **out)
{
	struct nl_addr *n = nl_addr_build(a->family, a->bytes, ipaddr_len(a));

	if (!n)
		return -ENOMEM;
	nl_addr_set_prefixlen(n, prefix);
	*out = n;
	return 0;
}

static int addr_build(int ifindex, const struct ipcidr *a, struct nl_msg **msg)
{
	_cleanup_addr_ struct rtnl_addr *ra = rtnl_addr_alloc();
	_cleanup_nladdr_ struct nl_addr *local = NULL;
	int r;

	if (!ra)
		return -ENOMEM;
	r = to_nladdr(&a->addr, a->len, &local);
	if (r < 0)
		return r;
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, a->addr.family);
	r = rtnl_addr_set_local(ra, local);
	if (r < 0)
		return nl_errno(r);
	rtnl_addr_set_prefixlen(ra, a->len);
	/* No duplicate address detection: the address is ours by IPAM, and
	 * DAD would hold it tentative for a second or more. */
	if (a->addr.family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	return nl_errno(rtnl_addr_build_add_request(ra, NLM_F_CREATE | NLM_F_REPLACE, msg));
}

int link_batch_addr_add(struct link_batch *b, int ifindex, const struct ipcidr *a)
{
	struct nl_msg *msg = NULL;
	int r = addr_build(ifindex, a, &msg);

	return batch_queue(b, r, msg);
}

int link_addr_add(struct nl_sock *sk, int ifindex, const struct ipcidr *a)
{
	struct link_batch b;

	link_batch_init(&b, sk);
	link_batch_addr_add(&b, ifindex, a);
	return link_batch_run(&b, NULL);
}

int link_addr_find(struct nl_sock *sk, int ifindex, const struct ipcidr *a)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_nladdr_ struct nl_addr *want = NULL;
	struct nl_object *o;
	int r = rtnl_addr_alloc_cache(sk, &cache);

	if (r < 0)
		return nl_errno(r);
	r = to_nladdr(&a->addr, a->len, &want);
	if (r < 0)
		return r;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(ra);

		if (rtnl_addr_get_ifindex(ra) == ifindex && local &&
		    rtnl_addr_get_prefixlen(ra) == a->len && nl_addr_cmp_prefix(local, want) == 0 &&
		    nl_addr_get_len(local) == nl_addr_get_len(want) &&
		    memcmp(nl_addr_get_binary_addr(local), nl_addr_get_binary_addr(want),
			   nl_addr_get_len(want)) == 0)
			return 0;
	}
	return -ENOENT;
}

static int route_build(int ifindex, const struct ipcidr *dst, const struct ipaddr *gw,
		       struct nl_msg **msg)
{
	_cleanup_route_ struct rtnl_route *rt = rtnl_route_alloc();
	_cleanup_nladdr_ struct nl_addr *d = NULL, *g = NULL;
	struct rtnl_nexthop *nh;
	int r;

	if (!rt)
		return -ENOMEM;
	r = to_nladdr(&dst->addr, dst->len, &d);
	if (r < 0)
		return r;
	rtnl_route_set_family(rt, (uint8_t)dst->addr.family);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, RTPROT_BOOT);
	rtnl_route_set_type(rt, RTN_UNICAST);
	/* Without a gateway the destination is on this link. */
	rtnl_route_set_scope(rt, gw || dst->addr.family == AF_INET6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	r = rtnl_route_set_dst(rt, d);
	if (r < 0)
		return nl_errno(r);
	nh = rtnl_route_nh_alloc();
	if (!nh)
		return -ENOMEM;
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (gw) {
		r = to_nladdr(gw, (int)ipaddr_len(gw) * 8, &g);
		if (r < 0) {
			rtnl_route_nh_free(nh);
			return r;
		}
		rtnl_route_nh_set_gateway(nh, g);
	}
	rtnl_route_add_nexthop(rt, nh);
	return nl_errno(rtnl_route_build_add_request(rt, NLM_F_CREATE | NLM_F_REPLACE, msg));
}

int link_batch_route_add(struct link_batch *b, int ifindex, const struct ipcidr *dst,
			 const struct ipaddr *gw)
{
	struct nl_msg *msg = NULL;
	int r = route_build(ifindex, dst, gw, &msg);

	return batch_queue(b, r, msg);
}

int link_route_add(struct nl_sock *sk, int ifindex, const struct ipcidr *dst,
		   const struct ipaddr *gw)
{
	struct link_batch b;

	link_batch_init(&b, sk);
	link_batch_route_add(&b, ifindex, dst, gw);
	return link_batch_run(&b, NULL);
}

struct route_match {
	int ifindex;
	struct nl_addr *gw;
	bool found;
};

static void route_match_nh(struct rtnl_nexthop *nh, void *data)
{
	struct route_match *m = data;
	struct nl_addr *g = rtnl_route_nh_get_gateway(nh);

	if (rtnl_route_nh_get_ifindex(nh) != m->ifindex)
		return;
	if (m->gw ? g && nl_addr_cmp(g, m->gw) == 0 : !g)
		m->found = true;
}

int link_route_find(struct nl_sock *sk, int ifindex, const struct ipcidr *dst,
		    const struct ipaddr *gw)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_nladdr_ struct nl_addr *d = NULL, *g = NULL;
	struct nl_object *o;
	int r = rtnl_route_alloc_cache(sk, dst->addr.family, 0, &cache);

	if (r < 0)
		return nl_errno(r);
	r = to_nladdr(&dst->addr, dst->len, &d);
	if (r < 0)
		return r;
	if (gw) {
		r = to_nladdr(gw, (int)ipaddr_len(gw) * 8, &g);
		if (r < 0)
			return r;
	}
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *rd = rtnl_route_get_dst(rt);
		struct route_match m = { .ifindex = ifindex, .gw = g };

		if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || !rd ||
		    (int)nl_addr_get_prefixlen(rd) != dst->len)
			continue;
		/* The default route's dst may come back as an empty address. */
		if (dst->len > 0 && nl_addr_cmp_prefix(rd, d) != 0)
			continue;
		rtnl_route_foreach_nexthop(rt, route_match_nh, &m);
		if (m.found)
			return 0;
	}
	return -ENOENT;
}
