/* Node-local cluster DNS: pods' queries to the cluster DNS Service's
 * ClusterIP (kube-system/kube-dns, 10.96.0.10 in a kubeadm cluster) are
 * answered by the server of the node they run on, in either proxy mode.
 *
 * NodeLocal DNSCache binds the kube-dns ClusterIP and 169.254.20.10 on a
 * dummy interface and adds NOTRACK rules so that kube-proxy's iptables
 * DNAT never sees the queries. Neither half carries over to skiff: the
 * BPF mode rewrites the destination in the cgroup socket hooks (connect,
 * sendmsg) before there is a packet for NOTRACK to mark or for a bound
 * ClusterIP to catch, and the nftables mode rejects traffic to a
 * ClusterIP without endpoints. So the agent goes through its proxy
 * instead of around it: it puts into its own model store (never into the
 * API) one EndpointSlice for the Service, whose only endpoint is this
 * node's DNS server, on an address pods can route to (a device of its
 * own holds it, as NodeLocal DNSCache's dummy holds 169.254.20.10). Every node's
 * proxy then balances the ClusterIP to its own server alone, through the
 * code that serves every other Service: the socket hooks rewrite
 * 10.96.0.10:53 to the local address (and back on recvmsg), the nftables
 * table DNATs it in prerouting and output (conntrack undoes it on the
 * reply). Queries never leave the node. Should the Service also have
 * endpoints of its own (a CoreDNS Deployment), the node-local one joins
 * them. */
#include "dataplane/dns/dns.h"
#include "lib/netlink.h"
#include "lib/util.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sockaddr_ip(const struct sockaddr_storage *ss, struct ipaddr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		a->v4 = sin->sin_addr;
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		a->v6 = sin6->sin6_addr;
		*port = ntohs(sin6->sin6_port);
	}
}

bool dns_local_reachable(const struct sockaddr_storage *listen)
{
	struct ipaddr a;
	uint16_t port;

	sockaddr_ip(listen, &a, &port);
	if (a.family == AF_INET)
		return (ntohl(a.v4.s_addr) >> 24) != 127 && a.v4.s_addr != INADDR_ANY;
	return !IN6_IS_ADDR_LOOPBACK(&a.v6) && !IN6_IS_ADDR_UNSPECIFIED(&a.v6);
}

static int slice_port(struct model_slice *s, const char *name, uint8_t proto, uint16_t port)
{
	struct model_slice_port *p = &s->ports[s->n_ports];

	p->name = strdup(name);
	if (!p->name)
		return -ENOMEM;
	p->proto = proto;
	p->port = port;
	s->n_ports++;
	return 0;
}

int dns_local_slice(const char *service, const char *node, const struct sockaddr_storage *listen,
		    struct model_slice **out)
{
	const char *slash = strchr(service, '/');
	struct model_slice *s;
	struct model_endpoint *ep;
	uint16_t port;
	int r = -ENOMEM;

	if (!slash || slash == service || !slash[1])
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->endpoints = calloc(1, sizeof(*s->endpoints));
	s->ports = calloc(2, sizeof(*s->ports));
	s->ns = strndup(service, (size_t)(slash - service));
	s->service_name = strdup(slash + 1);
	if (!s->endpoints || !s->ports || !s->ns || !s->service_name ||
	    asprintf(&s->name, "%s-node-local", slash + 1) < 0) {
		s->name = NULL;
		goto fail;
	}
	ep = &s->endpoints[0];
	sockaddr_ip(listen, &ep->addr, &port);
	s->family = ep->addr.family;
	ep->ready = ep->serving = true;
	ep->node_name = strdup(node);
	if (!ep->node_name)
		goto fail;
	s->n_endpoints = 1;
	/* the port names of the Service kubeadm (and skiff-server) make */
	if ((r = slice_port(s, "dns", IPPROTO_UDP, port)) < 0 ||
	    (r = slice_port(s, "dns-tcp", IPPROTO_TCP, port)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	model_slice_free(s);
	return r;
}

/* ---- the dummy device ---- */

static int nla_of_ip(const struct ipaddr *a, struct nl_addr **out)
{
	struct nl_addr *la = nl_addr_build(a->family, a->bytes, ipaddr_len(a));

	if (!la)
		return -ENOMEM;
	nl_addr_set_prefixlen(la, (int)ipaddr_len(a) * 8);
	*out = la;
	return 0;
}

/* The device types that can hold the address: a dummy, or on a kernel
 * without the dummy driver (CONFIG_DUMMY unset, as on this project's
 * VM), a bridge without ports, which holds local addresses as well. */
static const char *const device_types[] = { "dummy", "bridge" };

static bool device_type_ok(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(device_types); i++)
		if (streq(type, device_types[i]))
			return true;
	return false;
}

static int device_add(struct nl_sock *sk, const char *name, const char *type)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int r;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	r = rtnl_link_set_type(l, type);
	if (r == 0) {
		rtnl_link_set_flags(l, IFF_UP);
		r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	}
	rtnl_link_put(l);
	return nl_errno(r);
}

/* The link name, up (created when missing). */
static int device_up(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = NULL, *chg;
	int r;

	if (rtnl_link_get_kernel(sk, 0, name, &l) == 0) {
		r = device_type_ok(rtnl_link_get_type(l)) ? 0 : -EEXIST;
		if (r == 0 && !(rtnl_link_get_flags(l) & IFF_UP)) {
			chg = rtnl_link_alloc();
			if (!chg) {
				rtnl_link_put(l);
				return -ENOMEM;
			}
			rtnl_link_set_flags(chg, IFF_UP);
			r = nl_errno(rtnl_link_change(sk, l, chg, 0));
			rtnl_link_put(chg);
		}
		rtnl_link_put(l);
		return r;
	}
	r = -EOPNOTSUPP;
	for (size_t i = 0; r == -EOPNOTSUPP && i < ARRAY_SIZE(device_types); i++)
		r = device_add(sk, name, device_types[i]);
	return r;
}

int dns_local_device(const char *name, const struct sockaddr_storage *listen)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_addr *ra = NULL;
	struct nl_addr *la = NULL;
	struct ipaddr a;
	uint16_t port;
	int ifindex, r;

	if (!sk)
		return -ENOMEM;
	r = nl_errno(nl_connect(sk, NETLINK_ROUTE));
	if (r == 0)
		r = device_up(sk, name);
	if (r < 0)
		goto out;
	ifindex = (int)if_nametoindex(name);
	sockaddr_ip(listen, &a, &port);
	ra = rtnl_addr_alloc();
	r = ra ? nla_of_ip(&a, &la) : -ENOMEM;
	if (r < 0)
		goto out;
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_local(ra, la);
	if (a.family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD); /* usable at once, as the server binds it */
	r = nl_errno(rtnl_addr_add(sk, ra, NLM_F_CREATE | NLM_F_REPLACE));
	if (r == -EEXIST)
		r = 0;
out:
	nl_addr_put(la);
	rtnl_addr_put(ra);
	nl_socket_free(sk);
	return r;
}

int dns_local_device_remove(const char *name)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *l;
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_errno(nl_connect(sk, NETLINK_ROUTE));
	l = r == 0 ? rtnl_link_alloc() : NULL;
	if (r == 0 && !l)
		r = -ENOMEM;
	if (r == 0) {
		rtnl_link_set_name(l, name);
		r = nl_errno(rtnl_link_delete(sk, l));
		rtnl_link_put(l);
	}
	nl_socket_free(sk);
	return r;
}
