/* L2 announcements: who announces each address, and the packet socket
 * that answers ARP and neighbor solicitations for it (l2_announce.h). */
#include "dataplane/l2_announce.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Requests read per dispatch, so a flood cannot starve the loop. */
#define L2_DISPATCH_BATCH 64
#define L2_FRAME_MAX 1514

/* ---- the plan: rendezvous hashing over the Ready Nodes ---- */

/* FNV-1a over the bytes, then murmur3's finaliser to spread them. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

uint64_t l2_score(const struct ipaddr *addr, const char *node)
{
	uint8_t fam = addr->family == AF_INET6 ? 6 : 4;
	uint64_t h = 14695981039346656037ULL;

	h = fnv1a(h, &fam, 1);
	h = fnv1a(h, addr->bytes, ipaddr_len(addr));
	h = fnv1a(h, node, strlen(node));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* Room for one more element in the array *pv of n elements of size
 * bytes (its capacity *cap, doubled as needed). */
static int grow(void *pv, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *v, *nv;

	if (n < *cap)
		return 0;
	memcpy(&v, pv, sizeof(v)); /* any object pointer, without aliasing it */
	nv = realloc(v, c * size);
	if (!nv)
		return -ENOMEM;
	memcpy(pv, &nv, sizeof(nv));
	*cap = c;
	return 0;
}

struct plan_build {
	const struct model_store *st;
	struct l2_plan *p;
	size_t cap;
	const char **nodes; /* Ready Nodes' names (the store's strings) */
	size_t n_nodes, cap_nodes;
};

static int collect_ready(const struct model_node *n, const char *origin, void *ud)
{
	struct plan_build *b = ud;

	(void)origin;
	if (!n->ready)
		return 0;
	if (grow(&b->nodes, &b->cap_nodes, b->n_nodes, sizeof(*b->nodes)) < 0)
		return -ENOMEM;
	b->nodes[b->n_nodes++] = n->name;
	return 0;
}

static int add_entry(struct plan_build *b, const struct model_service *s, const struct ipaddr *a)
{
	struct l2_entry *e;

	if (grow(&b->p->v, &b->cap, b->p->n, sizeof(*b->p->v)) < 0)
		return -ENOMEM;
	e = &b->p->v[b->p->n];
	memset(e, 0, sizeof(*e));
	e->addr = *a;
	e->local = s->external_local;
	if (asprintf(&e->service, "%s/%s", s->ns, s->name) < 0)
		return -ENOMEM;
	b->p->n++;
	return 0;
}

static int collect_addrs(const struct model_service *s, const char *origin, void *ud)
{
	struct plan_build *b = ud;
	int r = 0;

	(void)origin;
	for (size_t i = 0; r == 0 && i < s->n_external_ips; i++)
		r = add_entry(b, s, &s->external_ips[i]);
	/* as the proxy: ingress IPs serve only while the type is LoadBalancer */
	for (size_t i = 0; r == 0 && s->type == MODEL_SVC_LOAD_BALANCER && i < s->n_lb_ips; i++)
		r = add_entry(b, s, &s->lb_ips[i]);
	return r;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct l2_entry *a = pa, *b = pb;
	int c = ipaddr_cmp(&a->addr, &b->addr);

	return c ? c : strcmp(a->service, b->service);
}

/* The nodes of a Service's ready endpoints. */
struct ep_nodes {
	const char **v;
	size_t n, cap;
};

static int collect_ep_nodes(const struct model_slice *sl, const char *origin, void *ud)
{
	struct ep_nodes *en = ud;

	(void)origin;
	for (size_t i = 0; i < sl->n_endpoints; i++) {
		const struct model_endpoint *ep = &sl->endpoints[i];

		if (!ep->ready || !ep->node_name)
			continue;
		if (grow(&en->v, &en->cap, en->n, sizeof(*en->v)) < 0)
			return -ENOMEM;
		en->v[en->n++] = ep->node_name;
	}
	return 0;
}

static bool has_name(const struct ep_nodes *en, const char *name)
{
	for (size_t i = 0; i < en->n; i++)
		if (streq(en->v[i], name))
			return true;
	return false;
}

/* The highest-scoring candidate for e: a Ready Node, and for policy
 * Local one with a ready endpoint of the Service (as MetalLB: another
 * node would take the traffic only to drop it). NULL: none. */
static int best_node(const struct plan_build *b, const struct l2_entry *e, const char **out)
{
	struct ep_nodes en = { 0 };
	const char *best = NULL;
	uint64_t best_score = 0;
	int r = 0;

	if (e->local) {
		char ns[256];
		const char *slash = strchr(e->service, '/');

		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - e->service), e->service);
		r = model_store_foreach_slice_of(b->st, ns, slash + 1, collect_ep_nodes, &en);
	}
	for (size_t k = 0; r == 0 && k < b->n_nodes; k++) {
		uint64_t sc = l2_score(&e->addr, b->nodes[k]);

		if (e->local && !has_name(&en, b->nodes[k]))
			continue;
		/* ties (never seen with 64 bits) go to the smaller name */
		if (!best || sc > best_score || (sc == best_score && strcmp(b->nodes[k], best) < 0)) {
			best = b->nodes[k];
			best_score = sc;
		}
	}
	free(en.v);
	*out = best;
	return r;
}

/* Each address once (with the first Service by key), and its owner. */
static int elect(struct plan_build *b)
{
	struct l2_plan *p = b->p;
	size_t w = 0;

	qsort(p->v, p->n, sizeof(*p->v), entry_cmp);
	for (size_t i = 0; i < p->n; i++) {
		if (w > 0 && ipaddr_eq(&p->v[w - 1].addr, &p->v[i].addr))
			free(p->v[i].service);
		else
			p->v[w++] = p->v[i];
	}
	p->n = w;
	for (size_t i = 0; i < p->n; i++) {
		struct l2_entry *e = &p->v[i];
		const char *best;
		int r = best_node(b, e, &best);

		if (r < 0)
			return r;
		if (best && !(e->owner = strdup(best)))
			return -ENOMEM;
	}
	return 0;
}

int l2_plan_compute(const struct model_store *st, struct l2_plan *out)
{
	struct l2_plan p = { 0 };
	struct plan_build b = { .st = st, .p = &p };
	int r;

	r = model_store_foreach_node(st, collect_ready, &b);
	if (r == 0)
		r = model_store_foreach_service(st, collect_addrs, &b);
	if (r == 0)
		r = elect(&b);
	free(b.nodes);
	if (r < 0) {
		l2_plan_clear(&p);
		return r;
	}
	*out = p;
	return 0;
}

void l2_plan_clear(struct l2_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].service);
		free(p->v[i].owner);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

const struct l2_entry *l2_plan_find(const struct l2_plan *p, const struct ipaddr *addr)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ipaddr_cmp(&p->v[mid].addr, addr);

		if (c == 0)
			return &p->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- the packet socket ---- */

struct l2_announce {
	struct l2_announce_options o; /* its pointers: the caller's, for our life */
	int fd;
	struct l2_iface ifaces[L2_MAX_IFACES];
	size_t n_ifaces;
	struct l2_plan plan;
	struct l2_announce_stats st;
	bool warned; /* about missing interfaces, since they were last found */
};

/* Lets in ARP requests and ICMPv6 neighbor solicitations without IPv6
 * extension headers, none of them our own sends. Offsets from the
 * kernel's structs; the socket is SOCK_RAW, so from the Ethernet header. */
#define ETH_OFF(field) ((uint32_t)offsetof(struct ether_header, field))
#define ARP_OFF(field) ((uint32_t)(sizeof(struct ether_header) + offsetof(struct arphdr, field)))
#define IP6_OFF(field) ((uint32_t)(sizeof(struct ether_header) + offsetof(struct ip6_hdr, field)))
#define ICMP6_OFF(field)                                                                  \
	((uint32_t)(sizeof(struct ether_header) + sizeof(struct ip6_hdr) +                \
		    offsetof(struct icmp6_hdr, field)))

static const struct sock_filter l2_filter[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 10, 0),
	/* 2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, ETH_OFF(ether_type)),
	/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_ARP, 0, 2),
	/* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, ARP_OFF(ar_op)),
	/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARPOP_REQUEST, 5, 6),
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_IPV6, 0, 5),
	/* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, IP6_OFF(ip6_nxt)),
	/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, 0, 3),
	/* 9 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, ICMP6_OFF(icmp6_type)),
	/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_NEIGHBOR_SOLICIT, 0, 1),
	/* 11 */ BPF_STMT(BPF_RET | BPF_K, L2_FRAME_MAX),
	/* 12 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

int l2_announce_new(const struct l2_announce_options *o, struct l2_announce **out)
{
	const struct sock_fprog prog = { .len = ARRAY_SIZE(l2_filter),
					 .filter = (struct sock_filter *)l2_filter };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct l2_announce *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->o = *o;
	/* protocol 0: nothing arrives before the filter is on */
	l->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		r = -errno;
		l2_announce_free(l);
		return r;
	}
	*out = l;
	return 0;
}

void l2_announce_free(struct l2_announce *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	l2_plan_clear(&l->plan);
	free(l);
}

int l2_announce_fd(const struct l2_announce *l)
{
	return l->fd;
}

void l2_announce_stats(const struct l2_announce *l, struct l2_announce_stats *out)
{
	*out = l->st;
}

static const struct l2_iface *iface_of(const struct l2_announce *l, int ifindex)
{
	for (size_t i = 0; i < l->n_ifaces; i++)
		if (l->ifaces[i].ifindex == ifindex)
			return &l->ifaces[i];
	return NULL;
}

/* ---- answering ---- */

static int send_frame(struct l2_announce *l, const struct l2_iface *ifc, const struct l2_frame *fr)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(fr->proto),
		.sll_ifindex = ifc->ifindex,
		.sll_halen = ETH_ALEN,
	};

	memcpy(sll.sll_addr, fr->dst, ETH_ALEN);
	if (sendto(l->fd, fr->data, fr->len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

static bool mine(const struct ipaddr *a, void *ud)
{
	const struct l2_announce *l = ud;
	const struct l2_entry *e = l2_plan_find(&l->plan, a);

	return e && e->owner && streq(e->owner, l->o.node_name);
}

int l2_announce_dispatch(struct l2_announce *l)
{
	for (int i = 0; i < L2_DISPATCH_BATCH; i++) {
		uint8_t f[L2_FRAME_MAX];
		struct sockaddr_ll from;
		socklen_t flen = sizeof(from);
		const struct l2_iface *ifc;
		struct l2_frame out;
		ssize_t n;
		int r;

		n = recvfrom(l->fd, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		ifc = iface_of(l, from.sll_ifindex);
		if (!ifc || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		r = l2_reply(ifc, f, (size_t)n, mine, l, &out);
		if (r < 0)
			l->st.ignored++;
		else if (r > 0 && send_frame(l, ifc, &out) == 0)
			out.proto == ETHERTYPE_ARP ? l->st.arp_replies++ : l->st.na_replies++;
	}
	return 0;
}

/* ---- the interfaces ---- */

/* The name of the interface holding addr, from ifs. */
static const char *iface_holding(const struct ifaddrs *ifs, const struct ipaddr *addr)
{
	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		struct ipaddr a = { 0 };

		if (!i->ifa_addr || i->ifa_addr->sa_family != addr->family)
			continue;
		a.family = addr->family;
		if (a.family == AF_INET)
			a.v4 = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else
			a.v6 = ((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		if (ipaddr_eq(&a, addr))
			return i->ifa_name;
	}
	return NULL;
}

/* Fills ifc from the AF_PACKET entry of name in ifs. */
static int iface_fill(const struct ifaddrs *ifs, const char *name, struct l2_iface *ifc)
{
	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		const struct sockaddr_ll *sll = (const void *)i->ifa_addr;

		if (!sll || sll->sll_family != AF_PACKET || !streq(i->ifa_name, name))
			continue;
		if (sll->sll_halen != ETH_ALEN)
			return -EPROTONOSUPPORT; /* not Ethernet */
		ifc->ifindex = sll->sll_ifindex;
		strscpy(ifc->name, name, sizeof(ifc->name));
		memcpy(ifc->mac, sll->sll_addr, ETH_ALEN);
		return 0;
	}
	return -ENODEV;
}

struct self_addrs {
	const char *name;
	struct ipaddr v[MODEL_NODE_MAX_ADDRS];
	size_t n;
};

static int find_self(const struct model_node *n, const char *origin, void *ud)
{
	struct self_addrs *s = ud;

	(void)origin;
	if (!streq(n->name, s->name))
		return 0;
	memcpy(s->v, n->addrs, n->n_addrs * sizeof(*n->addrs));
	s->n = n->n_addrs;
	return 0;
}

/* The interfaces named, or the one of a node address; the socket asks
 * each for all multicast (the solicitations go to solicited-node
 * groups, which a NIC would filter out). */
static int ifaces_resolve(struct l2_announce *l, const struct model_store *st)
{
	const struct l2_announce_options *o = &l->o;
	struct l2_iface next[L2_MAX_IFACES];
	struct self_addrs self = { .name = o->node_name };
	const char *names[L2_MAX_IFACES];
	size_t n_names = 0, n = 0;
	struct ifaddrs *ifs;
	int r = 0;

	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (size_t i = 0; i < o->n_ifnames && i < L2_MAX_IFACES; i++)
		names[n_names++] = o->ifnames[i];
	if (!n_names) {
		const struct ipaddr *addrs = o->node_addrs;
		size_t n_addrs = o->n_node_addrs;

		if (!n_addrs) {
			model_store_foreach_node(st, find_self, &self);
			addrs = self.v;
			n_addrs = self.n;
		}
		for (size_t i = 0; i < n_addrs && !n_names; i++)
			if ((names[0] = iface_holding(ifs, &addrs[i])))
				n_names = 1;
	}
	for (size_t i = 0; i < n_names; i++) {
		r = iface_fill(ifs, names[i], &next[n]);
		if (r < 0) {
			if (!l->warned)
				report_msg(o->report, o->ud, LOG_LEVEL_WARN,
					   "L2 announcements: interface %s: %s", names[i],
					   strerror(-r));
			continue;
		}
		const struct l2_iface *had = iface_of(l, next[n].ifindex);

		next[n].allmulti = had && had->allmulti;
		if (!next[n].allmulti) {
			struct packet_mreq mr = { .mr_ifindex = next[n].ifindex,
						  .mr_type = PACKET_MR_ALLMULTI };

			next[n].allmulti = setsockopt(l->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP,
						      &mr, sizeof(mr)) == 0;
		}
		n++;
	}
	freeifaddrs(ifs);
	if (!n) {
		if (!n_names && !l->warned)
			report_msg(o->report, o->ud, LOG_LEVEL_WARN,
				   "L2 announcements: no interface holds this node's address "
				   "(--node-ip, or an InternalIP of Node %s); give --l2-interface",
				   o->node_name);
		l->warned = true;
		return -ENODEV;
	}
	l->warned = false;
	memcpy(l->ifaces, next, n * sizeof(*next));
	l->n_ifaces = n;
	return 0;
}

/* ---- sync: the plan, what moved, the announcements ---- */

/* Announces e on every interface (l2_announcement). */
static int announce(struct l2_announce *l, const struct l2_entry *e)
{
	int r = 0;

	for (size_t i = 0; i < l->n_ifaces; i++) {
		struct l2_frame fr;
		int q;

		l2_announcement(&l->ifaces[i], &e->addr, &fr);
		q = send_frame(l, &l->ifaces[i], &fr);
		if (q < 0)
			r = q;
		else
			l->st.announcements++;
	}
	return r;
}

static void ifaces_str(const struct l2_announce *l, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < l->n_ifaces && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
					l->ifaces[i].name);
}

#define NO_OWNER "no node (none Ready, or with a ready endpoint for policy Local)"

/* Reports how e's owner changed from was (NULL: a new address) and
 * announces it when this node takes it. */
static void entry_moved(struct l2_announce *l, const struct l2_entry *was, const struct l2_entry *e)
{
	const struct l2_announce_options *o = &l->o;
	const char *before = was ? was->owner : NULL;
	bool now_mine = e->owner && streq(e->owner, o->node_name);
	char a[IPADDR_STRLEN], ifn[L2_MAX_IFACES * IFNAMSIZ];
	int r;

	ipaddr_str(&e->addr, a, sizeof(a));
	if (!now_mine) {
		if (before && streq(before, o->node_name))
			report_msg(o->report, o->ud, LOG_LEVEL_INFO,
				   "L2: %s (service %s) moves to %s: no longer announced here", a,
				   e->service, e->owner ? e->owner : NO_OWNER);
		else
			report_msg(o->report, o->ud, LOG_LEVEL_INFO,
				   "L2: %s (service %s) is announced by %s%s%s", a, e->service,
				   e->owner ? e->owner : NO_OWNER,
				   before ? ", was " : "", before ? before : "");
		return;
	}
	r = announce(l, e);
	ifaces_str(l, ifn, sizeof(ifn));
	report_msg(o->report, o->ud, r < 0 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
		   "L2: %s (service %s) announced here on %s%s%s: %s %s%s", a, e->service, ifn,
		   before ? ", taking over from " : "", before ? before : "",
		   e->addr.family == AF_INET ? "gratuitous ARP" : "unsolicited neighbor advertisement",
		   r < 0 ? "failed: " : "sent", r < 0 ? strerror(-r) : "");
}

int l2_announce_sync(struct l2_announce *l, const struct model_store *st)
{
	const struct l2_announce_options *o = &l->o;
	struct l2_plan next;
	int r;

	r = ifaces_resolve(l, st);
	if (r < 0)
		return r;
	r = l2_plan_compute(st, &next);
	if (r < 0)
		return r;
	for (size_t i = 0; i < next.n; i++) {
		const struct l2_entry *e = &next.v[i];
		const struct l2_entry *was = l2_plan_find(&l->plan, &e->addr);

		if (!was || !streq(was->owner ? was->owner : "", e->owner ? e->owner : ""))
			entry_moved(l, was, e);
	}
	for (size_t i = 0; i < l->plan.n; i++) {
		const struct l2_entry *e = &l->plan.v[i];
		char a[IPADDR_STRLEN];

		if (!l2_plan_find(&next, &e->addr) && e->owner && streq(e->owner, o->node_name))
			report_msg(o->report, o->ud, LOG_LEVEL_INFO,
				   "L2: %s (service %s) no longer announced: no Service has it",
				   ipaddr_str(&e->addr, a, sizeof(a)), e->service);
	}
	l2_plan_clear(&l->plan);
	l->plan = next;
	l->st.n_addrs = next.n;
	l->st.n_mine = 0;
	for (size_t i = 0; i < next.n; i++)
		l->st.n_mine += mine(&next.v[i].addr, l);
	l->st.n_ifaces = l->n_ifaces;
	return 0;
}
