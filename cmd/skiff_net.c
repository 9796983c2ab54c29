/* The nodes' network: a bridge NAME-br holding a.b.c.1/24 on the host (node
 * 1, the machine itself, has that address), the service range routed to it
 * (so the machine's traffic to a ClusterIP never takes the default route),
 * and per node I >= 2 a namespace NAME-nI (under /run/netns) joined to it
 * by a veth (host side NAME-vI, a hairpin port, eth0 inside, address
 * a.b.c.(1+I)). Through libnl; the namespaces are bind mounts of a child's,
 * as `ip netns add`. Everything on the host goes with the bridge (routes
 * through it, tc filters on it) but node 1's nftables tables, which
 * skiff_net_down removes by name. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include "cmd/skiff.h"
#include "dataplane/nft_batch.h"
#include "lib/netlink.h"
#include "lib/util.h"

void skiff_node_ip(const struct skiff *s, int node, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%d", s->bridge, node == 1 ? 1 : 1 + node);
}

static void ns_path(const struct skiff *s, int node, char *buf, size_t size)
{
	snprintf(buf, size, "/run/netns/%s-n%d", s->name, node);
}

/* A new network namespace bound at path: a child unshares one, says so
 * on a pipe, and lives until it is bound. 0 when path exists already. */
static int ns_create(const char *path)
{
	_cleanup_close_ int fd = -1;
	int ready[2], done[2], st, r;
	char c = 0, src[64];
	pid_t pid;

	mkdir("/run/netns", 0755);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(done[1]); /* or its read never ends */
		c = unshare(CLONE_NEWNET) == 0;
		if (write(ready[1], &c, 1) == 1)
			(void)!read(done[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	r = pid < 0 ? -errno : read(ready[0], &c, 1) == 1 && c ? 0 : -EPERM;
	if (r == 0) {
		snprintf(src, sizeof(src), "/proc/%d/ns/net", pid);
		r = mount(src, path, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
	}
	close(ready[0]);
	close(done[1]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	if (r < 0)
		unlink(path);
	return r;
}

static int link_up(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = NULL, *ch = rtnl_link_alloc();
	int r = rtnl_link_get_kernel(sk, 0, name, &l);
	if (r == 0) {
		rtnl_link_set_flags(ch, IFF_UP);
		r = rtnl_link_change(sk, l, ch, 0);
	}
	rtnl_link_put(l);
	rtnl_link_put(ch);
	return r < 0 ? nl_errno(r) : 0;
}

static int addr_add(struct nl_sock *sk, const char *dev, const char *cidr)
{
	struct nl_addr *a = NULL;
	struct rtnl_addr *ad = rtnl_addr_alloc();
	int ifindex, r;
	struct rtnl_link *l = NULL;

	r = rtnl_link_get_kernel(sk, 0, dev, &l);
	if (r == 0) {
		ifindex = rtnl_link_get_ifindex(l);
		r = nl_addr_parse(cidr, AF_INET, &a);
	}
	if (r == 0) {
		rtnl_addr_set_ifindex(ad, ifindex);
		rtnl_addr_set_local(ad, a);
		r = rtnl_addr_add(sk, ad, 0);
		if (r == -NLE_EXIST)
			r = 0;
	}
	nl_addr_put(a);
	rtnl_addr_put(ad);
	rtnl_link_put(l);
	return r < 0 ? nl_errno(r) : 0;
}

static int bridge_add(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int r;

	rtnl_link_set_name(l, name);
	rtnl_link_set_type(l, "bridge");
	r = rtnl_link_add(sk, l, NLM_F_CREATE);
	rtnl_link_put(l);
	return r < 0 && r != -NLE_EXIST ? nl_errno(r) : 0;
}

/* The bridge port dev in hairpin mode: a frame may leave by the port it
 * came in on. Node 1's NodePort (and a LoadBalancer IP) asked from node
 * I whose answer is a pod of node I needs it: br_netfilter runs the
 * proxy's DNAT in the bridge's own prerouting (bridge-nf-call-iptables),
 * and a DNATed destination routed by the bridge again is bridged
 * ("bridged DNAT") back out the client's port, which the bridge drops
 * unless that port is a hairpin (as kubenet's and docker's bridge ports
 * are). A per-port setting: the machine's sysctls stay as they are. */
static int port_hairpin(const char *dev)
{
	char path[96];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brport/hairpin_mode", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, "1", 1);
}

static int veth_add(struct nl_sock *sk, const char *host, int nsfd, const char *bridge)
{
	struct rtnl_link *l = rtnl_link_veth_alloc(), *peer, *h = NULL, *br = NULL;
	int r;

	rtnl_link_set_name(l, host);
	peer = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(peer, "eth0");
	rtnl_link_set_ns_fd(peer, nsfd);
	r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_veth_release(l);
	if (r == -NLE_EXIST)
		r = 0;
	if (r == 0)
		r = rtnl_link_get_kernel(sk, 0, host, &h);
	if (r == 0)
		r = rtnl_link_get_kernel(sk, 0, bridge, &br);
	if (r == 0)
		r = rtnl_link_enslave(sk, br, h);
	rtnl_link_put(h);
	rtnl_link_put(br);
	return r < 0 ? nl_errno(r) : port_hairpin(host);
}

/* Inside node's namespace (a child): lo and eth0 up, eth0's address. */
static int ns_configure(const struct skiff *s, int node)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char cidr[32];
		struct nl_sock *sk;
		if (skiff_netns_enter(s, node) < 0)
			_exit(1);
		sk = nl_socket_alloc();
		if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
			_exit(2);
		snprintf(cidr, sizeof(cidr), "%s.%d/24", s->bridge, 1 + node);
		_exit(link_up(sk, "lo") || addr_add(sk, "eth0", cidr) || link_up(sk, "eth0") ? 3 : 0);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int skiff_netns_enter(const struct skiff *s, int node)
{
	char path[128];
	_cleanup_close_ int fd = -1;

	if (node == 1)
		return 0;
	ns_path(s, node, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* cidr through the bridge dev (scope link, source src) on the host; one
 * there already is kept (a second up: skiff_check_up refused a range
 * that another route covers before the first). */
static int route_dev_add(struct nl_sock *sk, const char *cidr, const char *dev, const char *src)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL, *pref = NULL;
	struct rtnl_link *l = NULL;
	int r = rt && nh ? 0 : -NLE_NOMEM;

	if (r == 0)
		r = rtnl_link_get_kernel(sk, 0, dev, &l);
	if (r == 0)
		r = nl_addr_parse(cidr, AF_INET, &dst);
	if (r == 0)
		r = nl_addr_parse(src, AF_INET, &pref);
	if (r == 0) {
		rtnl_route_set_family(rt, AF_INET);
		rtnl_route_set_dst(rt, dst);
		rtnl_route_set_pref_src(rt, pref);
		rtnl_route_set_table(rt, RT_TABLE_MAIN);
		rtnl_route_set_protocol(rt, RTPROT_STATIC);
		rtnl_route_set_scope(rt, RT_SCOPE_LINK);
		rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(l));
		rtnl_route_add_nexthop(rt, nh);
		nh = NULL;
		r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_EXCL);
		if (r == -NLE_EXIST)
			r = 0;
	}
	if (nh)
		rtnl_route_nh_free(nh);
	rtnl_route_put(rt);
	rtnl_link_put(l);
	nl_addr_put(dst);
	nl_addr_put(pref);
	return r < 0 ? nl_errno(r) : 0;
}

int skiff_net_up(const struct skiff *s, char *err, size_t errlen)
{
	char br[32], veth[32], path[128], cidr[32];
	struct nl_sock *sk = nl_socket_alloc();
	int r, i;

	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		return set_err(err, errlen, -EIO, "cannot open a netlink socket");
	snprintf(br, sizeof(br), "%s-br", s->name);
	snprintf(cidr, sizeof(cidr), "%s.1/24", s->bridge);
	r = bridge_add(sk, br);
	if (r == 0)
		r = addr_add(sk, br, cidr);
	if (r == 0)
		r = link_up(sk, br);
	if (r < 0) {
		set_err(err, errlen, r, "bridge %s (%s): %s", br, cidr, strerror(-r));
		goto out;
	}
	snprintf(cidr, sizeof(cidr), "%s.1", s->bridge);
	r = route_dev_add(sk, s->service_cidr, br, cidr);
	if (r < 0) {
		set_err(err, errlen, r, "route %s dev %s: %s", s->service_cidr, br, strerror(-r));
		goto out;
	}
	for (i = 2; i <= s->nodes; i++) {
		_cleanup_close_ int fd = -1;
		ns_path(s, i, path, sizeof(path));
		snprintf(veth, sizeof(veth), "%s-v%d", s->name, i);
		r = ns_create(path);
		if (r < 0) {
			set_err(err, errlen, r, "network namespace %s: %s", path, strerror(-r));
			goto out;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? -errno : veth_add(sk, veth, fd, br);
		if (r == 0)
			r = link_up(sk, veth);
		if (r == 0)
			r = ns_configure(s, i);
		if (r < 0) {
			set_err(err, errlen, r, "node %d's link %s: %s", i, veth, strerror(-r));
			goto out;
		}
	}
out:
	nl_socket_free(sk);
	return r;
}

static void link_del(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	rtnl_link_set_name(l, name);
	rtnl_link_delete(sk, l);
	rtnl_link_put(l);
}

/* Node 1's nftables tables on the host (its agent removes them when it
 * stops, not when it is killed). */
static void nft_tables_down(const struct skiff *s)
{
	static const char *const suffixes[] = { "proxy", "nat" };
	struct nftb_sock *ns = NULL;

	if (nftb_sock_open(&ns) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char table[32];
		struct nftb b;

		snprintf(table, sizeof(table), "%s-%s", s->name, suffixes[i]);
		nftb_begin(&b, ns, table);
		nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE); /* so the delete never fails */
		nftb_table(&b, NFT_MSG_DELTABLE, 0);
		(void)nftb_send(ns, &b);
		nftb_free(&b);
	}
	nftb_sock_free(ns);
}

void skiff_net_down(const struct skiff *s)
{
	char name[32], path[128];
	struct nl_sock *sk = nl_socket_alloc();
	bool ok = sk && nl_connect(sk, NETLINK_ROUTE) == 0;

	nft_tables_down(s);
	for (int i = 1; i <= SKIFF_MAX_NODES; i++) {
		snprintf(name, sizeof(name), "%s-v%d", s->name, i);
		if (ok)
			link_del(sk, name);
		ns_path(s, i, path, sizeof(path));
		umount2(path, MNT_DETACH);
		unlink(path);
	}
	/* the bridge, and node 1's vxlan device (--node-routing vxlan): the
	 * routes through them go with them */
	snprintf(name, sizeof(name), "%s-br", s->name);
	if (ok)
		link_del(sk, name);
	snprintf(name, sizeof(name), "%s-vx", s->name);
	if (ok)
		link_del(sk, name);
	nl_socket_free(sk);
}
