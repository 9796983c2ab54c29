/* lb: ending the sockets of a removed backend (bpf_sock_destroy through
 * the socket iterators). */
#include "dataplane/lb/lb_int.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/maglev.h"
#include "sock.skel.h"
#include "sock_iter.skel.h"
#include "tc_nodeport.skel.h"
#include <net/if.h>
#include "lib/util.h"

/* ---- ending sockets ------------------------------------------------- */

void lb_sockets_free(struct lb *lb)
{
	sock_iter_bpf__destroy(lb->iter);
	lb->iter = NULL;
}

static void bpf_link_destroyp(struct bpf_link **p)
{
	bpf_link__destroy(*p);
}

/* The iterators, loaded once per struct lb (a load parses the kernel's
 * BTF and verifies the programs: tens of ms), on the hooks' own
 * lb_sock_revnat (which sockets they balanced, to which backend). */
static int lb_iter_load(struct lb *lb)
{
	struct sock_iter_bpf *s;
	int r;

	if (lb->iter)
		return 0;
	s = sock_iter_bpf__open();
	if (!s)
		return -errno;
	r = bpf_map__reuse_fd(s->maps.lb_sock_revnat, bpf_map__fd(lb->skel->maps.lb_sock_revnat));
	if (r == 0)
		r = sock_iter_bpf__load(s);
	if (r < 0) {
		sock_iter_bpf__destroy(s);
		return r;
	}
	lb->iter = s;
	return 0;
}

/* Reads one iterator of link in the network namespace netns_fd (-1: the
 * current one) to its end; returns the number of sockets it ended. */
static int lb_iter_run(struct bpf_link *link, int netns_fd)
{
	_cleanup_close_ int self = -1, it = -1;
	char buf[256];
	ssize_t n;
	int count = 0;

	if (netns_fd >= 0) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) < 0)
			return -errno;
	}
	it = bpf_iter_create(bpf_link__fd(link));
	if (netns_fd >= 0 && setns(self, CLONE_NEWNET) < 0)
		return -errno; /* cannot happen: we were there a moment ago */
	if (it < 0)
		return -errno;
	while ((n = read(it, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		count += (int)n;
	}
	return count;
}

/* One pass over the namespaces with the targets in the map. */
static int lb_iter_pass(struct lb *lb, bool tcp, bool udp, const char *const *netns_paths,
			size_t n_netns)
{
	_cleanup_(bpf_link_destroyp) struct bpf_link *lt = NULL, *lu = NULL;
	int r, total = 0;

	if (tcp && !(lt = bpf_program__attach_iter(lb->iter->progs.lb_destroy_tcp, NULL)))
		return -errno;
	if (udp && !(lu = bpf_program__attach_iter(lb->iter->progs.lb_destroy_udp, NULL)))
		return -errno;
	for (size_t i = 0; i < n_netns; i++) {
		_cleanup_close_ int fd = -1;

		if (netns_paths[i]) {
			fd = open(netns_paths[i], O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno == ENOENT)
				continue; /* the process left meanwhile */
			if (fd < 0)
				return -errno;
		}
		for (int k = 0; k < 2; k++) {
			struct bpf_link *l = k ? lu : lt;

			if (!l)
				continue;
			r = lb_iter_run(l, fd);
			if (r < 0)
				return r;
			total += r;
		}
	}
	return total;
}

/* Ends the sockets of n <= LB_SOCK_TARGETS_MAX targets: the map filled,
 * one pass, the counts read back, the map cleared. */
static int lb_terminate_chunk(struct lb *lb, struct lb_sock_target *t, size_t n,
			      const char *const *netns_paths, size_t n_netns)
{
	int fd = bpf_map__fd(lb->iter->maps.lb_sock_targets);
	_cleanup_free_ struct lb_sock_target_key *keys = calloc(n, sizeof(*keys));
	_cleanup_free_ struct lb_sock_target_val *vals = calloc(n, sizeof(*vals));
	bool tcp = false, udp = false;
	__u32 count = (__u32)n;
	int r, d;

	if (!keys || !vals)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((t[i].addr.family != AF_INET && t[i].addr.family != AF_INET6) || t[i].port == 0 ||
		    (t[i].proto != LB_PROTO_TCP && t[i].proto != LB_PROTO_UDP))
			return -EINVAL;
		ipaddr_to_mapped16(&t[i].addr, keys[i].addr);
		keys[i].port = t[i].port;
		keys[i].proto = t[i].proto;
		tcp |= t[i].proto == LB_PROTO_TCP;
		udp |= t[i].proto == LB_PROTO_UDP;
	}
	r = bpf_map_update_batch(fd, keys, vals, &count, NULL);
	if (r == 0)
		r = lb_iter_pass(lb, tcp, udp, netns_paths, n_netns);
	for (size_t i = 0; r >= 0 && i < n; i++)
		t[i].ended = bpf_map_lookup_elem(fd, &keys[i], &vals[i]) == 0 ? vals[i].ended : 0;
	/* cleared whatever happened: the next pass starts empty (a duplicate
	 * key is gone after its first delete) */
	for (size_t i = 0; i < n; i++) {
		d = bpf_map_delete_elem(fd, &keys[i]);
		if (d < 0 && errno != ENOENT && r >= 0)
			r = -errno;
	}
	return r;
}

int lb_sockets_terminate(struct lb *lb, struct lb_sock_target *targets, size_t n,
			 const char *const *netns_paths, size_t n_netns)
{
	int r, total = 0;

	if (!lb || (n && !targets) || (n_netns && !netns_paths))
		return -EINVAL;
	if (!n || !n_netns)
		return 0;
	r = lb_iter_load(lb);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i += LB_SOCK_TARGETS_MAX) {
		size_t k = n - i < LB_SOCK_TARGETS_MAX ? n - i : LB_SOCK_TARGETS_MAX;

		r = lb_terminate_chunk(lb, targets + i, k, netns_paths, n_netns);
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}

int lb_backend_terminate_sockets(struct lb *lb, const struct lb_backend *be,
				 uint8_t proto, const char *netns_path)
{
	struct lb_sock_target t[2];
	size_t n = 0;

	if (!lb || !be || (proto && proto != LB_PROTO_TCP && proto != LB_PROTO_UDP))
		return -EINVAL;
	if (proto != LB_PROTO_UDP)
		t[n++] = (struct lb_sock_target){ .addr = be->addr, .port = be->port,
						  .proto = LB_PROTO_TCP };
	if (proto != LB_PROTO_TCP)
		t[n++] = (struct lb_sock_target){ .addr = be->addr, .port = be->port,
						  .proto = LB_PROTO_UDP };
	return lb_sockets_terminate(lb, t, n, &netns_path, 1);
}
