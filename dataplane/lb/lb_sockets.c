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

static void sock_iter_bpf_destroyp(struct sock_iter_bpf **p)
{
	sock_iter_bpf__destroy(*p);
}

static void bpf_link_destroyp(struct bpf_link **p)
{
	bpf_link__destroy(*p);
}

/* Runs one iterator program in the current thread's netns; returns the
 * number of sockets it ended. */
static int lb_iter_run(struct bpf_program *prog, int netns_fd)
{
	_cleanup_(bpf_link_destroyp) struct bpf_link *link = NULL;
	_cleanup_close_ int self = -1, it = -1;
	char buf[256];
	ssize_t n;
	int count = 0;

	link = bpf_program__attach_iter(prog, NULL);
	if (!link)
		return -errno;
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

int lb_backend_terminate_sockets(struct lb *lb, const struct lb_backend *be,
				 uint8_t proto, const char *netns_path)
{
	_cleanup_(sock_iter_bpf_destroyp) struct sock_iter_bpf *s = NULL;
	_cleanup_close_ int nsfd = -1;
	uint8_t addr[16];
	int r, total = 0;

	if (!lb || !be || (be->addr.family != AF_INET && be->addr.family != AF_INET6) ||
	    be->port == 0 || (proto && proto != LB_PROTO_TCP && proto != LB_PROTO_UDP))
		return -EINVAL;
	if (netns_path) {
		nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			return -errno;
	}
	s = sock_iter_bpf__open();
	if (!s)
		return -errno;
	ipaddr_to_mapped16(&be->addr, addr);
	memcpy((void *)s->rodata->target_addr, addr, sizeof(addr));
	s->rodata->target_port = be->port;
	bpf_program__set_autoload(s->progs.lb_destroy_tcp, proto != LB_PROTO_UDP);
	bpf_program__set_autoload(s->progs.lb_destroy_udp, proto != LB_PROTO_TCP);
	r = sock_iter_bpf__load(s);
	if (r < 0)
		return r;
	if (proto != LB_PROTO_UDP) {
		r = lb_iter_run(s->progs.lb_destroy_tcp, nsfd);
		if (r < 0)
			return r;
		total += r;
	}
	if (proto != LB_PROTO_TCP) {
		r = lb_iter_run(s->progs.lb_destroy_udp, nsfd);
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}
