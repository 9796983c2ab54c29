/* Node networking: routes, VXLAN forwarding entries and the masquerade
 * table (see node_net.h). */
#include "dataplane/node_net.h"

#include "dataplane/nft_batch.h"
#include "lib/netlink.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

struct node_net {
	struct node_net_options o;
	struct ipcidr *cluster, *service;
	char *vxlan_name, *nat_table;
	struct nl_sock *sk;
	struct nftb_sock *nft; /* the masquerade table's batches */
	char failed[320];      /* the message of a refused batch */
	int vx_ifindex;
	uint8_t mac[6];
	struct node_net_stats stats;
};

/* ---- addresses ---- */

void node_net_vtep_mac(const struct ipaddr *node, uint8_t mac[6])
{
	const uint8_t *tail = node->bytes + ipaddr_len(node) - 4;

	mac[0] = 0x0e; /* locally administered, unicast */
	mac[1] = node->family == AF_INET ? 0x5c : 0x5d;
	memcpy(mac + 2, tail, 4);
}

static struct nl_addr *nla_of(const struct ipaddr *a, unsigned prefix)
{
	struct nl_addr *n = nl_addr_build(a->family, a->bytes, ipaddr_len(a));

	if (n)
		nl_addr_set_prefixlen(n, (int)prefix);
	return n;
}

static void nl_addr_putp(struct nl_addr **p)
{
	if (*p)
		nl_addr_put(*p);
}
#define _cleanup_nla_ _cleanup_(nl_addr_putp)

/* ---- desired entries: routes, neighbours, FDB ---- */

enum ent_kind { ENT_ROUTE, ENT_NEIGH, ENT_FDB };

struct ent {
	enum ent_kind kind;
	const char *peer;
	struct ipcidr dst;   /* route destination */
	struct ipaddr gw;    /* route gateway; neighbour address; fdb dst */
	bool onlink;
	uint8_t mac[6];
	char key[128]; /* what identifies the entry in the kernel */
	char full[192]; /* key plus what a replace may change */
	bool present;
};

static void ent_describe(struct ent *e, int ifindex)
{
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN + 4];

	ipaddr_str(&e->gw, a, sizeof(a));
	switch (e->kind) {
	case ENT_ROUTE:
		ipcidr_str(&e->dst, d, sizeof(d));
		snprintf(e->key, sizeof(e->key), "route %s", d);
		snprintf(e->full, sizeof(e->full), "route %s via %s dev %d", d, a,
			 e->onlink ? ifindex : 0);
		break;
	case ENT_NEIGH:
		snprintf(e->key, sizeof(e->key), "neigh %s", a);
		snprintf(e->full, sizeof(e->full), "neigh %s lladdr %02x:%02x:%02x:%02x:%02x:%02x", a,
			 e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
		break;
	case ENT_FDB:
		snprintf(e->key, sizeof(e->key), "fdb %02x:%02x:%02x:%02x:%02x:%02x", e->mac[0],
			 e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
		snprintf(e->full, sizeof(e->full), "%s dst %s", e->key, a);
		break;
	}
}

struct ents {
	struct ent *v;
	size_t n, cap;
};

static struct ent *ents_add(struct ents *es)
{
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 16;
		struct ent *v = realloc(es->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		es->v = v;
		es->cap = cap;
	}
	memset(&es->v[es->n], 0, sizeof(es->v[0]));
	return &es->v[es->n++];
}

static const struct ipaddr *underlay_of(const struct node_net_peer *p, int family)
{
	for (size_t i = 0; i < p->n_addrs; i++)
		if (p->addrs[i].family == family)
			return &p->addrs[i];
	return NULL;
}

static int desired(struct node_net *nn, const struct node_net_peer *peers, size_t n, struct ents *es,
		   char *err, size_t err_size)
{
	const struct ipaddr *self = &nn->o.addrs[0];

	for (size_t i = 0; i < n; i++) {
		const struct node_net_peer *p = &peers[i];
		const struct ipaddr *under = underlay_of(p, self->family);
		bool is_self = false;

		for (size_t k = 0; k < p->n_addrs; k++)
			for (size_t j = 0; j < nn->o.n_addrs; j++)
				is_self |= ipaddr_eq(&p->addrs[k], &nn->o.addrs[j]);
		if (is_self)
			continue;
		for (size_t c = 0; c < p->n_pod_cidrs; c++) {
			const struct ipcidr *pc = &p->pod_cidrs[c];
			struct ent *e;

			if (nn->o.mode == NODE_NET_NATIVE) {
				const struct ipaddr *gw = underlay_of(p, pc->addr.family);

				if (!gw)
					return set_err(err, err_size, -EINVAL,
						    "peer %s: no address of the family of pod CIDR #%zu "
						    "for native routing",
						    p->name, c);
				if (!(e = ents_add(es)))
					return -ENOMEM;
				*e = (struct ent){ .kind = ENT_ROUTE, .peer = p->name, .dst = *pc, .gw = *gw };
				ent_describe(e, 0);
				continue;
			}
			if (!under)
				return set_err(err, err_size, -EINVAL,
					    "peer %s: no address of the node address's family for vxlan",
					    p->name);
			if (!(e = ents_add(es)))
				return -ENOMEM;
			*e = (struct ent){ .kind = ENT_ROUTE, .peer = p->name, .dst = *pc,
					   .gw = pc->addr, .onlink = true };
			ent_describe(e, nn->vx_ifindex);
			if (!(e = ents_add(es)))
				return -ENOMEM;
			*e = (struct ent){ .kind = ENT_NEIGH, .peer = p->name, .gw = pc->addr };
			node_net_vtep_mac(under, e->mac);
			ent_describe(e, nn->vx_ifindex);
		}
		if (nn->o.mode == NODE_NET_VXLAN && under && p->n_pod_cidrs) {
			struct ent *e = ents_add(es);

			if (!e)
				return -ENOMEM;
			*e = (struct ent){ .kind = ENT_FDB, .peer = p->name, .gw = *under };
			node_net_vtep_mac(under, e->mac);
			ent_describe(e, nn->vx_ifindex);
		}
	}
	return 0;
}

/* ---- the kernel's current entries ---- */

struct cur {
	struct ents *want;
	struct node_net *nn;
	struct nl_object **stale; /* entries of ours nobody wants */
	size_t n_stale, cap_stale;
	int err;
};

static void stale_add(struct cur *c, struct nl_object *o)
{
	if (c->n_stale == c->cap_stale) {
		size_t cap = c->cap_stale ? c->cap_stale * 2 : 16;
		struct nl_object **v = realloc(c->stale, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return;
		}
		c->stale = v;
		c->cap_stale = cap;
	}
	nl_object_get(o);
	c->stale[c->n_stale++] = o;
}

/* Marks the wanted entry with that key present when it also matches full;
 * false when no entry wants the key. */
static bool match(struct cur *c, const char *key, const char *full)
{
	for (size_t i = 0; i < c->want->n; i++) {
		struct ent *e = &c->want->v[i];

		if (strcmp(e->key, key) == 0) {
			if (strcmp(e->full, full) == 0)
				e->present = true;
			return true;
		}
	}
	return false;
}

static void nla_to(struct nl_addr *a, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (!a)
		return;
	out->family = nl_addr_get_family(a);
	memcpy(out->bytes, nl_addr_get_binary_addr(a),
	       nl_addr_get_len(a) < sizeof(out->bytes) ? nl_addr_get_len(a) : sizeof(out->bytes));
}

/* Whether a route of ours to dst is this node's to manage: with a cluster
 * CIDR of its family given, one inside it only, so that on a machine that
 * is a node of two clusters neither agent takes the other's routes for
 * stale. */
static bool route_in_scope(const struct node_net *nn, const struct ipcidr *dst)
{
	bool family_given = false;

	for (size_t i = 0; i < nn->o.n_cluster_cidrs; i++) {
		if (nn->cluster[i].addr.family != dst->addr.family)
			continue;
		family_given = true;
		if (nn->cluster[i].len <= dst->len && ipcidr_contains(&nn->cluster[i], &dst->addr))
			return true;
	}
	return !family_given;
}

static void on_route(struct nl_object *o, void *ud)
{
	struct cur *c = ud;
	struct rtnl_route *r = (struct rtnl_route *)o;
	struct rtnl_nexthop *nh;
	struct ent e = { .kind = ENT_ROUTE };

	if (rtnl_route_get_protocol(r) != NODE_NET_RTPROT || rtnl_route_get_table(r) != RT_TABLE_MAIN)
		return;
	nla_to(rtnl_route_get_dst(r), &e.dst.addr);
	e.dst.len = (uint8_t)nl_addr_get_prefixlen(rtnl_route_get_dst(r));
	if (!route_in_scope(c->nn, &e.dst))
		return;
	nh = rtnl_route_get_nnexthops(r) ? rtnl_route_nexthop_n(r, 0) : NULL;
	if (nh) {
		nla_to(rtnl_route_nh_get_gateway(nh), &e.gw);
		e.onlink = rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK;
	}
	ent_describe(&e, nh && e.onlink ? rtnl_route_nh_get_ifindex(nh) : 0);
	if (!match(c, e.key, e.full))
		stale_add(c, o);
}

static void on_neigh(struct nl_object *o, void *ud)
{
	struct cur *c = ud;
	struct rtnl_neigh *n = (struct rtnl_neigh *)o;
	struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
	struct ent e = { 0 };
	int fam = rtnl_neigh_get_family(n);

	if (rtnl_neigh_get_ifindex(n) != c->nn->vx_ifindex || !ll || nl_addr_get_len(ll) != 6)
		return;
	if (!(rtnl_neigh_get_state(n) & NUD_PERMANENT))
		return;
	memcpy(e.mac, nl_addr_get_binary_addr(ll), 6);
	if (fam == AF_BRIDGE) {
		if (!rtnl_neigh_get_dst(n))
			return;
		e.kind = ENT_FDB;
	} else {
		e.kind = ENT_NEIGH;
	}
	nla_to(rtnl_neigh_get_dst(n), &e.gw);
	ent_describe(&e, c->nn->vx_ifindex);
	if (!match(c, e.key, e.full))
		stale_add(c, o);
}

/* ---- applying ---- */

static int route_set(struct node_net *nn, const struct ent *e, int flags, bool del)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	_cleanup_nla_ struct nl_addr *dst = nla_of(&e->dst.addr, e->dst.len);
	_cleanup_nla_ struct nl_addr *gw = nla_of(&e->gw, ipaddr_len(&e->gw) * 8);
	int r2;

	if (!r || !nh || !dst || !gw) {
		rtnl_route_put(r);
		if (nh)
			rtnl_route_nh_free(nh);
		return -ENOMEM;
	}
	rtnl_route_set_family(r, (uint8_t)e->dst.addr.family);
	rtnl_route_set_dst(r, dst);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_protocol(r, NODE_NET_RTPROT);
	rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(r, RTN_UNICAST);
	rtnl_route_nh_set_gateway(nh, gw);
	if (e->onlink) {
		rtnl_route_nh_set_ifindex(nh, nn->vx_ifindex);
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
	}
	rtnl_route_add_nexthop(r, nh);
	r2 = del ? rtnl_route_delete(nn->sk, r, 0) : rtnl_route_add(nn->sk, r, flags);
	rtnl_route_put(r);
	return r2 < 0 ? nl_errno(r2) : 0;
}

static int neigh_set(struct node_net *nn, const struct ent *e)
{
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	_cleanup_nla_ struct nl_addr *ll = nl_addr_build(AF_LLC, e->mac, 6);
	_cleanup_nla_ struct nl_addr *dst = nla_of(&e->gw, ipaddr_len(&e->gw) * 8);
	int r;

	if (!n || !ll || !dst) {
		rtnl_neigh_put(n);
		return -ENOMEM;
	}
	rtnl_neigh_set_ifindex(n, nn->vx_ifindex);
	rtnl_neigh_set_lladdr(n, ll);
	rtnl_neigh_set_dst(n, dst);
	rtnl_neigh_set_state(n, NUD_PERMANENT);
	if (e->kind == ENT_FDB) {
		rtnl_neigh_set_family(n, AF_BRIDGE);
		rtnl_neigh_set_flags(n, NTF_SELF);
	} else {
		rtnl_neigh_set_family(n, e->gw.family);
	}
	/* An FDB entry is keyed by MAC and destination: replace through
	 * append semantics would add a second remote, so a changed one is
	 * deleted first (by the caller's stale list). */
	r = rtnl_neigh_add(nn->sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_neigh_put(n);
	return r < 0 ? nl_errno(r) : 0;
}

/* ---- masquerade table ---- */

/* "[meta nfproto F] ip saddr|daddr <cidr>" into rb. */
static void match_cidr(struct nftb_rule *rb, bool src, const struct ipcidr *c)
{
	int fam = c->addr.family;

	if (src) {
		nftb_nfproto(rb, fam);
		nftb_saddr(rb, fam, NFT_REG_1);
	} else {
		nftb_daddr(rb, fam, NFT_REG_1);
	}
	nftb_prefix_cmp(rb, NFT_REG_1, NFT_CMP_EQ, c->addr.bytes, ipaddr_family_len(fam), c->len);
}

/* dst NULL: masquerade; else return for that destination. */
static void masq_rule(struct nftb *b, const struct ipcidr *src, const struct ipcidr *dst)
{
	struct nftb_rule rb;

	if (!nftb_rule_start(&rb, b, "postrouting"))
		return;
	match_cidr(&rb, true, src);
	if (dst) {
		match_cidr(&rb, false, dst);
		nftb_verdict(&rb, NFT_RETURN, NULL);
	} else {
		nftb_rule_expr(&rb, "masq");
	}
	nftb_rule_end(&rb);
}

static void push_cidr(struct ipcidr *v, size_t *n, const struct ipcidr *c)
{
	for (size_t i = 0; i < *n; i++)
		if (ipcidr_eq(&v[i], c))
			return;
	v[(*n)++] = *c;
}

static int masq_sync(struct node_net *nn, const struct node_net_peer *peers, size_t n, bool remove)
{
	struct nftb b;
	_cleanup_free_ struct ipcidr *ex = NULL;
	size_t n_ex = 0, max = nn->o.n_cluster_cidrs + nn->o.n_service_cidrs + nn->o.n_pod_cidrs +
			       2 * n * NODE_NET_MAX_ADDRS;
	int r;

	ex = calloc(max + 1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	for (size_t i = 0; i < nn->o.n_cluster_cidrs; i++)
		push_cidr(ex, &n_ex, &nn->cluster[i]);
	for (size_t i = 0; i < nn->o.n_service_cidrs; i++)
		push_cidr(ex, &n_ex, &nn->service[i]);
	for (size_t i = 0; i < nn->o.n_pod_cidrs; i++)
		push_cidr(ex, &n_ex, &nn->o.pod_cidrs[i]);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < peers[i].n_pod_cidrs && c < NODE_NET_MAX_ADDRS; c++)
			push_cidr(ex, &n_ex, &peers[i].pod_cidrs[c]);
		for (size_t a = 0; a < peers[i].n_addrs && a < NODE_NET_MAX_ADDRS; a++) {
			const struct ipcidr host = { peers[i].addrs[a],
						     (uint8_t)(8 * ipaddr_family_len(peers[i].addrs[a].family)) };
			push_cidr(ex, &n_ex, &host);
		}
	}

	nftb_begin(&b, nn->nft, nn->nat_table);
	nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	nftb_table(&b, NFT_MSG_DELTABLE, 0);
	if (!remove) {
		static const struct nftb_hook post = { "nat", NF_INET_POST_ROUTING, 100 };

		nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftb_chain(&b, NFT_MSG_NEWCHAIN, "postrouting", &post);
		for (size_t i = 0; i < nn->o.n_pod_cidrs; i++) {
			const struct ipcidr *src = &nn->o.pod_cidrs[i];

			for (size_t j = 0; j < n_ex; j++)
				if (ex[j].addr.family == src->addr.family)
					masq_rule(&b, src, &ex[j]);
			masq_rule(&b, src, NULL);
		}
	}
	r = b.err ? b.err : nftb_send(nn->nft, &b);
	if (r < 0 && b.failed[0])
		snprintf(nn->failed, sizeof(nn->failed), "%s", b.failed);
	nftb_free(&b);
	return r;
}

/* ---- the vxlan device ---- */

static int vxlan_setup(struct node_net *nn, char *err, size_t err_size)
{
	struct rtnl_link *l = NULL, *have = NULL, *chg = NULL;
	_cleanup_nla_ struct nl_addr *local = nla_of(&nn->o.addrs[0], ipaddr_len(&nn->o.addrs[0]) * 8);
	_cleanup_nla_ struct nl_addr *mac = NULL;
	int r;

	node_net_vtep_mac(&nn->o.addrs[0], nn->mac);
	mac = nl_addr_build(AF_LLC, nn->mac, 6);
	if (!local || !mac)
		return -ENOMEM;
	r = rtnl_link_get_kernel(nn->sk, 0, nn->vxlan_name, &have);
	if (r == 0) {
		const char *type = rtnl_link_get_type(have);

		if (!type || strcmp(type, "vxlan") != 0) {
			rtnl_link_put(have);
			return set_err(err, err_size, -EEXIST,
				    "vxlan device %s: a link of type %s has that name", nn->vxlan_name,
				    type ? type : "?");
		}
		/* Adopt it (a restart): make sure it is up with our MAC. Only
		 * what differs is changed: setting the address, even to the
		 * same one, makes the kernel flush the device's neighbours,
		 * permanent ones included, which a restart must not do. */
		struct nl_addr *cur = rtnl_link_get_addr(have);
		bool same_mac = cur && nl_addr_get_len(cur) == 6 &&
				memcmp(nl_addr_get_binary_addr(cur), nn->mac, 6) == 0;

		r = 0;
		if (!same_mac || !(rtnl_link_get_flags(have) & IFF_UP)) {
			chg = rtnl_link_alloc();
			if (!chg) {
				rtnl_link_put(have);
				return -ENOMEM;
			}
			rtnl_link_set_flags(chg, IFF_UP);
			if (!same_mac)
				rtnl_link_set_addr(chg, mac);
			r = rtnl_link_change(nn->sk, have, chg, 0);
			rtnl_link_put(chg);
		}
		rtnl_link_put(have);
		if (r < 0)
			return set_err(err, err_size, nl_errno(r), "vxlan device %s: cannot set up: %s",
				    nn->vxlan_name, nl_geterror(r));
	} else {
		l = rtnl_link_vxlan_alloc();
		if (!l)
			return -ENOMEM;
		rtnl_link_set_name(l, nn->vxlan_name);
		rtnl_link_vxlan_set_id(l, nn->o.vni ? nn->o.vni : NODE_NET_DEFAULT_VNI);
		rtnl_link_vxlan_set_local(l, local);
		rtnl_link_vxlan_set_port(l, nn->o.vxlan_port ? nn->o.vxlan_port
							     : NODE_NET_DEFAULT_VXLAN_PORT);
		rtnl_link_vxlan_set_learning(l, 0);
		rtnl_link_set_addr(l, mac);
		rtnl_link_set_flags(l, IFF_UP);
		r = rtnl_link_add(nn->sk, l, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_link_put(l);
		if (r < 0)
			return set_err(err, err_size, nl_errno(r), "vxlan device %s: cannot create: %s",
				    nn->vxlan_name, nl_geterror(r));
	}
	nn->vx_ifindex = (int)if_nametoindex(nn->vxlan_name);
	if (!nn->vx_ifindex)
		return set_err(err, err_size, -ENODEV, "vxlan device %s: gone after setup", nn->vxlan_name);
	/* The node's own traffic to remote pods leaves with the network
	 * address of its IPv4 pod CIDR (flannel's habit). */
	for (size_t i = 0; i < nn->o.n_pod_cidrs; i++) {
		struct rtnl_addr *a;
		_cleanup_nla_ struct nl_addr *la = NULL;

		if (nn->o.pod_cidrs[i].addr.family != AF_INET)
			continue;
		a = rtnl_addr_alloc();
		la = nla_of(&nn->o.pod_cidrs[i].addr, 32);
		if (!a || !la) {
			rtnl_addr_put(a);
			return -ENOMEM;
		}
		rtnl_addr_set_ifindex(a, nn->vx_ifindex);
		rtnl_addr_set_local(a, la);
		r = rtnl_addr_add(nn->sk, a, NLM_F_CREATE | NLM_F_REPLACE);
		rtnl_addr_put(a);
		if (r < 0 && nl_errno(r) != -EEXIST)
			return set_err(err, err_size, nl_errno(r), "vxlan device %s: cannot add address: %s",
				    nn->vxlan_name, nl_geterror(r));
	}
	return 0;
}

/* Native routing after a run in vxlan mode: the vxlan device of ours goes
 * (its routes are replaced by the first sync, its entries go with it). */
static void vxlan_remove_stale(struct node_net *nn)
{
	struct rtnl_link *have = NULL;
	const char *type;

	if (rtnl_link_get_kernel(nn->sk, 0, nn->vxlan_name, &have) < 0)
		return;
	type = rtnl_link_get_type(have);
	if (type && strcmp(type, "vxlan") == 0)
		(void)rtnl_link_delete(nn->sk, have);
	rtnl_link_put(have);
}

/* ---- the API ---- */

/* The interface holding a: its name into dev, or -ENODEV. */
static int ipaddr_ifname(const struct ipaddr *a, char dev[IF_NAMESIZE])
{
	struct ifaddrs *ifa = NULL;
	int r = -ENODEV;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *i = ifa; i && r < 0; i = i->ifa_next) {
		struct ipaddr b = { .family = i->ifa_addr ? i->ifa_addr->sa_family : 0 };

		if (b.family == AF_INET)
			b.v4 = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else if (b.family == AF_INET6)
			b.v6 = ((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (ipaddr_eq(&b, a))
			r = strscpy(dev, i->ifa_name, IF_NAMESIZE) < 0 ? -ENAMETOOLONG : 0;
	}
	freeifaddrs(ifa);
	return r;
}

int node_net_overlay_mtu(const struct ipaddr *underlay)
{
	char dev[IF_NAMESIZE];
	struct ifreq ifr = { 0 };
	_cleanup_close_ int fd = -1;
	int r = ipaddr_ifname(underlay, dev);

	if (r < 0)
		return r;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strscpy(ifr.ifr_name, dev, sizeof(ifr.ifr_name));
	if (fd < 0 || ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	return ifr.ifr_mtu - (underlay->family == AF_INET6 ? 70 : 50);
}

/* Forwarding on dev ("all": every interface) for the families of the pod
 * and cluster CIDRs (both when none is given): IPv6 forwarding also stops
 * every interface from taking router advertisements, on a node that is
 * the machine itself the machine's own, so an IPv4 cluster leaves it
 * alone. */
static void forwarding_on(const struct node_net_options *o, const char *dev)
{
	bool v4 = false, v6 = false;
	char key[96];

	for (size_t i = 0; i < o->n_pod_cidrs; i++) {
		v4 |= o->pod_cidrs[i].addr.family == AF_INET;
		v6 |= o->pod_cidrs[i].addr.family == AF_INET6;
	}
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		v4 |= o->cluster_cidrs[i].addr.family == AF_INET;
		v6 |= o->cluster_cidrs[i].addr.family == AF_INET6;
	}
	snprintf(key, sizeof(key), "net/ipv4/conf/%s/forwarding", dev);
	if (v4 || !v6)
		(void)sysctl_write(key, "1");
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/forwarding", dev);
	if (v6 || !v4)
		(void)sysctl_write(key, "1");
}

int node_net_open(const struct node_net_options *o, struct node_net **out, char *err,
		  size_t err_size)
{
	struct node_net *nn;
	char dev[IF_NAMESIZE];
	int r;

	if (o->n_addrs == 0 || o->n_addrs > NODE_NET_MAX_ADDRS)
		return set_err(err, err_size, -EINVAL, "node address: one or two required");
	if (o->n_pod_cidrs > NODE_NET_MAX_ADDRS)
		return set_err(err, err_size, -EINVAL, "pod CIDR: at most %d", NODE_NET_MAX_ADDRS);
	if (o->mode != NODE_NET_NATIVE && o->mode != NODE_NET_VXLAN)
		return set_err(err, err_size, -EINVAL, "mode: native or vxlan");
	if (o->vni > 0xffffff)
		return set_err(err, err_size, -EINVAL, "vni: at most 16777215");
	if (o->vxlan_name && (!*o->vxlan_name || strlen(o->vxlan_name) >= IFNAMSIZ))
		return set_err(err, err_size, -EINVAL, "vxlan device name: 1 to %d characters",
			    IFNAMSIZ - 1);
	nn = calloc(1, sizeof(*nn));
	if (!nn)
		return -ENOMEM;
	nn->o = *o;
	nn->vxlan_name = strdup(o->vxlan_name ? o->vxlan_name : NODE_NET_DEFAULT_VXLAN);
	nn->nat_table = strdup(o->nat_table ? o->nat_table : NODE_NET_DEFAULT_NAT_TABLE);
	nn->cluster = calloc(o->n_cluster_cidrs + 1, sizeof(*nn->cluster));
	nn->service = calloc(o->n_service_cidrs + 1, sizeof(*nn->service));
	nn->sk = nl_socket_alloc();
	if (!nn->vxlan_name || !nn->nat_table || !nn->cluster || !nn->service || !nn->sk) {
		r = -ENOMEM;
		goto fail;
	}
	if (o->n_cluster_cidrs)
		memcpy(nn->cluster, o->cluster_cidrs, o->n_cluster_cidrs * sizeof(*nn->cluster));
	if (o->n_service_cidrs)
		memcpy(nn->service, o->service_cidrs, o->n_service_cidrs * sizeof(*nn->service));
	nn->o.cluster_cidrs = nn->cluster;
	nn->o.service_cidrs = nn->service;
	nn->o.vxlan_name = nn->vxlan_name;
	nn->o.nat_table = nn->nat_table;
	r = nl_connect(nn->sk, NETLINK_ROUTE);
	if (r < 0) {
		r = set_err(err, err_size, nl_errno(r), "netlink: %s", nl_geterror(r));
		goto fail;
	}
	r = nftb_sock_open(&nn->nft);
	if (r < 0) {
		r = set_err(err, err_size, r, "nftables netlink: %s", strerror(-r));
		goto fail;
	}
	if (!o->forward_device_only)
		forwarding_on(o, "all");
	else if (ipaddr_ifname(&o->addrs[0], dev) == 0)
		forwarding_on(o, dev);
	if (o->mode == NODE_NET_VXLAN) {
		r = vxlan_setup(nn, err, err_size);
		if (r < 0)
			goto fail;
		/* what other nodes' pods send in through it is forwarded to
		 * this node's pods, and a NodePort's replies to their clients */
		if (o->forward_device_only)
			forwarding_on(o, nn->vxlan_name);
	} else {
		vxlan_remove_stale(nn);
	}
	*out = nn;
	return 0;
fail:
	node_net_close(nn, false);
	return r;
}

int node_net_sync(struct node_net *nn, const struct node_net_peer *peers, size_t n, char *err,
		  size_t err_size)
{
	struct ents want = { 0 };
	struct cur c = { .want = &want, .nn = nn };
	struct nl_cache *routes = NULL, *neighs = NULL;
	int r;

	memset(&nn->stats, 0, sizeof(nn->stats));
	for (size_t i = 0; i < n; i++)
		if (peers[i].n_addrs > NODE_NET_MAX_ADDRS || peers[i].n_pod_cidrs > NODE_NET_MAX_ADDRS)
			return set_err(err, err_size, -EINVAL, "peer %s: too many addresses or CIDRs",
				    peers[i].name);
	r = desired(nn, peers, n, &want, err, err_size);
	if (r < 0)
		goto out;
	r = rtnl_route_alloc_cache(nn->sk, AF_UNSPEC, 0, &routes);
	if (r < 0) {
		r = set_err(err, err_size, nl_errno(r), "cannot list routes: %s", nl_geterror(r));
		goto out;
	}
	nl_cache_foreach(routes, on_route, &c);
	if (nn->vx_ifindex) {
		r = rtnl_neigh_alloc_cache_flags(nn->sk, &neighs, NL_CACHE_AF_ITER);
		if (r < 0) {
			r = set_err(err, err_size, nl_errno(r), "cannot list neighbours: %s", nl_geterror(r));
			goto out;
		}
		nl_cache_foreach(neighs, on_neigh, &c);
	}
	if (c.err) {
		r = c.err;
		goto out;
	}
	/* Stale first: routes leave before the neighbours they use. */
	for (size_t i = 0; i < c.n_stale; i++) {
		struct nl_object *o = c.stale[i];

		if (strcmp(nl_object_get_type(o), "route/route") == 0)
			r = rtnl_route_delete(nn->sk, (struct rtnl_route *)o, 0);
		else
			r = rtnl_neigh_delete(nn->sk, (struct rtnl_neigh *)o, 0);
		if (r < 0 && nl_errno(r) != -ENOENT) {
			r = set_err(err, err_size, nl_errno(r), "cannot delete a stale %s: %s",
				 nl_object_get_type(o), nl_geterror(r));
			goto out;
		}
		nn->stats.deleted++;
	}
	/* FDB and neighbours before the routes that need them. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < want.n; i++) {
			struct ent *e = &want.v[i];

			if (e->present || (pass == 0) != (e->kind != ENT_ROUTE))
				continue;
			r = e->kind == ENT_ROUTE ? route_set(nn, e, NLM_F_CREATE | NLM_F_REPLACE, false)
						 : neigh_set(nn, e);
			if (r < 0) {
				r = set_err(err, err_size, r, "peer %s: %s: %s", e->peer, e->full,
					 strerror(-r));
				goto out;
			}
			nn->stats.added++;
		}
	r = 0;
	if (!nn->o.no_masquerade && nn->o.n_pod_cidrs) {
		nn->failed[0] = '\0';
		r = masq_sync(nn, peers, n, false);
		if (r < 0)
			r = set_err(err, err_size, r, "table inet %s: cannot apply%s%s: %s", nn->nat_table,
				 nn->failed[0] ? ": " : "", nn->failed, strerror(-r));
	}
out:
	for (size_t i = 0; i < c.n_stale; i++)
		nl_object_put(c.stale[i]);
	free(c.stale);
	nl_cache_free(routes);
	nl_cache_free(neighs);
	free(want.v);
	return r;
}

void node_net_last_stats(const struct node_net *nn, struct node_net_stats *out)
{
	*out = nn->stats;
}

int node_net_close(struct node_net *nn, bool remove_all)
{
	int r = 0;

	if (!nn)
		return 0;
	if (remove_all && nn->sk && nn->nft) {
		r = node_net_sync(nn, NULL, 0, NULL, 0);
		if (nn->vx_ifindex) {
			struct rtnl_link *l = rtnl_link_alloc();

			if (l) {
				rtnl_link_set_name(l, nn->vxlan_name);
				(void)rtnl_link_delete(nn->sk, l);
				rtnl_link_put(l);
			}
		}
		int m = masq_sync(nn, NULL, 0, true);

		if (r == 0)
			r = m;
	}
	nl_socket_free(nn->sk);
	nftb_sock_free(nn->nft);
	free(nn->vxlan_name);
	free(nn->nat_table);
	free(nn->cluster);
	free(nn->service);
	free(nn);
	return r;
}
