/* skiff-agent's loop: sources -> model store -> consumers (see proxy_agent.h). */
#include "dataplane/proxy_agent.h"
#include "dataplane/agent_metrics.h"
#include "dataplane/api_source.h"
#include "dataplane/dns/dns.h"
#include "dataplane/l2_announce.h"
#include "dataplane/lb/lb.h"
#include "dataplane/manifest.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy.h"
#include "dataplane/proxy_lb.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <malloc.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

/* Rows of consumers[] (below). */
#define MAX_CONSUMERS 5
/* The loop's own fds (signals, timer, one per consumer), then the source's. */
#define OWN_FDS (2 + MAX_CONSUMERS)
#define MAX_FDS (OWN_FDS + 61)

struct proxy_agent {
	const struct proxy_agent_options *o;
	struct model_store *store;
	struct model_source src;
	bool have_src;
	bool api; /* src is the API server: no debounce */
	struct lb *lb;
	struct proxy_lb *plb;
	struct nftp *nftp; /* nftables mode */
	struct nftp_options nopt;
	struct proxy_config cfg;
	/* node networking */
	struct node_net *nn;
	struct ipcidr nn_cidrs[NODE_NET_MAX_ADDRS]; /* this node's, as nn was opened */
	size_t nn_n_cidrs;
	bool node_waiting_logged;
	struct dns_agent *dns; /* cluster DNS */
	struct l2_announce *l2; /* L2 announcements */
	bool synced_once;
	bool full; /* the next proxy sync recomputes everything */
	/* per row of consumers[] */
	struct consumer_state {
		uint64_t synced_generation;
		bool retry; /* sync again after PROXY_RETRY_MS */
	} cs[MAX_CONSUMERS];
	int sfd, tfd;
	unsigned long long first_change_ns; /* 0: no change pending */
	unsigned long long change_ns; /* the changes being synced were first seen; 0: none */
	struct agent_metrics *metrics; /* NULL without --metrics-bind-address */
	char cgroup[4096];
};

/* The cgroup v2 mount point from /proc/mounts. */
static int cgroup2_root(char *buf, size_t size)
{
	FILE *f = setmntent("/proc/mounts", "re");
	struct mntent *m;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f)))
		if (streq(m->mnt_type, "cgroup2")) {
			r = strscpy(buf, m->mnt_dir, size);
			break;
		}
	endmntent(f);
	return r;
}

/* The proxy mode's entry points and its handle, for proxy_mode_sync. */
static const struct proxy_mode_ops *mode_of(const struct proxy_agent *a, void **m)
{
	*m = a->nftp ? (void *)a->nftp : (void *)a->plb;
	return a->nftp ? &nftp_mode_ops : &proxy_lb_mode_ops;
}

/* The log lines the BPF mode writes (proxy_lb.c), for a diff, and the
 * backends no frontend has any more. */
static void nft_log_changes(const struct proxy_state *next, const struct proxy_changes *c)
{
	char addr[INET6_ADDRSTRLEN];

	proxy_report_services(next, c, log_report, NULL);
	for (size_t i = 0; i < c->n_removed; i++) {
		const struct proxy_removed *rm = &c->removed[i];

		/* As kube-proxy: established TCP connections keep their
		 * conntrack entry (they end when the backend goes away);
		 * UDP flows are deleted, or they would stick to it. */
		log_info("service %s: backend %s:%u/%s removed%s", rm->name,
			 ipaddr_str(&rm->be.addr, addr, sizeof(addr)), rm->be.port,
			 model_proto_name(rm->proto),
			 rm->proto == MODEL_PROTO_UDP ? ", its conntrack entries deleted"
						      : ", established connections left to end");
	}
}

static void nft_on_changes(const struct proxy_state *now, const struct proxy_changes *c, void *ud)
{
	(void)ud;
	nft_log_changes(now, c);
}

/* nftables mode: what the last batch was. */
static void nft_log_batch(const struct proxy_agent *a, const struct proxy_sync_report *rep)
{
	struct nftp_stats st;

	nftp_last_stats(a->nftp, &st);
	log_debug("table inet %s: state computed in %.1f ms, %s batch of %zu messages (%zu bytes) "
		  "applied in %.1f ms, %zu UDP conntrack entries deleted",
		  a->nopt.table, (double)rep->compute_ns / 1e6, st.full ? "a full" : "an incremental",
		  st.n_msgs, st.n_bytes, (double)rep->apply_ns / 1e6, st.n_ct_deleted);
}

/* The proxy consumer's sync: 0, the number of frontends that failed
 * (retried), or -errno. Only the services that changed are recomputed
 * when that can be done. */
static int proxy_sync(struct proxy_agent *a)
{
	unsigned long long t0 = now_ns();
	struct proxy_sync_report rep;
	char err[512];
	void *m;
	const struct proxy_mode_ops *mode = mode_of(a, &m);
	int r;

	r = proxy_mode_sync(mode, m, a->store, &a->cfg, a->full, &rep, err, sizeof(err));
	/* Failed: what is dirty was consumed, the next try recomputes it all. */
	a->full = r != 0;
	if (r < 0) {
		if (a->nftp)
			log_error("table inet %s: %s", a->nopt.table, err);
		else
			log_error("%s", err);
		return r;
	}
	if (a->nftp)
		nft_log_batch(a, &rep);
	agent_metrics_sync(a->metrics,
			   &(struct agent_sync_report){
				   .start_ns = t0,
				   .change_ns = a->change_ns,
				   .n_fes = rep.n_fes,
				   .n_services = model_store_count(a->store, MODEL_KIND_SERVICE),
				   .n_slices = model_store_count(a->store, MODEL_KIND_ENDPOINT_SLICE),
				   .sockets_ended = a->plb ? proxy_lb_sockets_ended(a->plb) : 0,
			   });
	unsigned long long sock_ns = a->plb ? proxy_lb_last_socket_ns(a->plb) : 0;
	char socks[64] = "";

	if (sock_ns)
		snprintf(socks, sizeof(socks), ", then %.1f ms ending sockets", (double)sock_ns / 1e6);
	log_info("%s: %zu services, %zu endpoint slices, %zu frontends in %.1f ms (%s%s)%s",
		 a->synced_once ? "sync" : "initial sync", model_store_count(a->store, MODEL_KIND_SERVICE),
		 model_store_count(a->store, MODEL_KIND_ENDPOINT_SLICE), rep.n_fes,
		 (double)(now_ns() - t0 - sock_ns) / 1e6, rep.full ? "full" : "changed services", socks,
		 r > 0 ? " (some frontends failed; retrying)" : "");
	a->synced_once = true;
	return r;
}

static const char *bpffs_of(const struct proxy_agent *a)
{
	return a->o->bpffs_dir ? a->o->bpffs_dir : LB_DEFAULT_BPFFS;
}

/* Opens the BPF datapath (attaching the programs unless pinned already). */
static int lb_open_with(struct proxy_agent *a, struct lb **out)
{
	const struct proxy_agent_options *o = a->o;
	struct lb_options lo = { 0 };

	lo.bpffs_dir = o->bpffs_dir;
	lo.cgroup_path = a->cgroup;
	lo.host_cgroup_path = o->host_cgroup_path;
	lo.node_addrs = o->node_addrs;
	lo.n_node_addrs = o->n_node_addrs;
	lo.nodeport_devices = o->nodeport_devices;
	lo.n_nodeport_devices = o->n_nodeport_devices;
	return lb_open(&lo, out);
}

static int bpf_setup(struct proxy_agent *a)
{
	const char *table = a->o->nft_table ? a->o->nft_table : NFTP_DEFAULT_TABLE;
	int r;

	/* The nftables mode's table, if a previous run left one: its DNAT
	 * would otherwise take the traffic before the socket hooks do. */
	r = nftp_delete_table(table);
	if (r < 0)
		log_warn("nftables mode: cannot remove table inet %s: %s", table, strerror(-r));
	r = lb_open_with(a, &a->lb);
	if (r < 0) {
		log_error("datapath: cannot open (bpffs %s, cgroup %s): %s", bpffs_of(a), a->cgroup,
			  strerror(-r));
		return r;
	}
	log_info("datapath: programs attached to cgroup %s, maps in %s", a->cgroup, bpffs_of(a));
	r = proxy_lb_new(a->lb, a->cgroup, log_report, NULL, &a->plb);
	/* API source: each event is applied as it comes, and the sockets'
	 * pass of one change would hold up the next (the folder's debounce
	 * batches changes already) */
	if (r == 0 && a->api && !a->o->once)
		proxy_lb_defer_sockets(a->plb, PROXY_SOCKETS_DEFER_MS);
	return r;
}

/* The deferred pass over the sockets of removed backends, when due (or
 * with force, pending at all). */
static void proxy_end_sockets(struct proxy_agent *a, bool force)
{
	unsigned long long due = proxy_lb_sockets_due(a->plb);

	if (!due || (!force && due > now_ns()))
		return;
	proxy_lb_end_sockets(a->plb);
	log_info("datapath: sockets of removed backends ended in %.1f ms (one pass)",
		 (double)proxy_lb_last_socket_ns(a->plb) / 1e6);
	agent_metrics_sockets(a->metrics, proxy_lb_sockets_ended(a->plb));
}

static int nft_setup(struct proxy_agent *a)
{
	const struct proxy_agent_options *o = a->o;
	struct stat stb;
	int r;

	/* The BPF mode's pinned state, if a previous run left it: detach and
	 * remove it as --destroy-on-exit would. */
	if (stat(bpffs_of(a), &stb) == 0 && S_ISDIR(stb.st_mode)) {
		struct lb *lb;

		r = lb_open_with(a, &lb);
		if (r == 0)
			r = lb_destroy(lb);
		if (r < 0) {
			log_error("bpf mode: cannot remove its state under %s: %s", bpffs_of(a),
				  strerror(-r));
			return r;
		}
		log_info("bpf mode: programs detached, maps under %s removed", bpffs_of(a));
	}
	a->nopt.table = o->nft_table ? o->nft_table : NFTP_DEFAULT_TABLE;
	a->nopt.cluster_cidrs = o->cluster_cidrs;
	a->nopt.n_cluster_cidrs = o->n_cluster_cidrs;
	a->nopt.on_changes = nft_on_changes;
	r = nftp_open(&a->nopt, &a->nftp);
	if (r < 0) {
		log_error("nftables mode: table inet %s: %s", a->nopt.table, strerror(-r));
		return r;
	}
	log_info("nftables mode: table inet %s", a->nopt.table);
	return 0;
}

static int proxy_setup(struct proxy_agent *a)
{
	return a->o->mode == PROXY_MODE_NFTABLES ? nft_setup(a) : bpf_setup(a);
}

/* SIGHUP, nftables mode: a fresh handle rewrites the whole table in one
 * batch, undoing any hand edit. */
static void proxy_reload(struct proxy_agent *a)
{
	struct nftp *p;

	a->full = true;
	if (a->nftp && nftp_open(&a->nopt, &p) == 0) {
		nftp_free(a->nftp);
		a->nftp = p;
	}
}

static void proxy_teardown(struct proxy_agent *a)
{
	int r;

	if (a->nftp && a->o->destroy_on_exit) {
		r = nftp_destroy(a->nftp);
		if (r < 0)
			log_error("table inet %s: cannot remove: %s", a->nopt.table, strerror(-r));
		else
			log_info("table inet %s removed", a->nopt.table);
	}
	nftp_free(a->nftp);
	if (a->plb)
		proxy_end_sockets(a, true);
	proxy_lb_free(a->plb);
	if (a->lb && a->o->destroy_on_exit) {
		r = lb_destroy(a->lb);
		if (r < 0)
			log_error("datapath: cannot remove everything: %s", strerror(-r));
		else
			log_info("datapath: programs detached, maps removed");
	} else {
		lb_close(a->lb);
	}
}

/* ---- node networking ---- */

struct node_peers {
	const struct proxy_agent *a;
	struct node_net_peer *v;
	size_t n, cap;
	const struct model_node *self;
};

static bool has_family(const struct model_node *n, int family)
{
	for (size_t i = 0; i < n->n_addrs; i++)
		if (n->addrs[i].family == family)
			return true;
	return false;
}

static int collect_node(const struct model_node *n, const char *origin, void *ud)
{
	struct node_peers *np = ud;
	const struct proxy_agent_options *o = np->a->o;
	int underlay = o->node_addrs[0].family;
	struct node_net_peer *p;
	char buf[INET6_ADDRSTRLEN];

	if (streq(n->name, o->node_name)) {
		np->self = n;
		return 0;
	}
	if (np->n == np->cap) {
		size_t cap = np->cap ? np->cap * 2 : 16;
		struct node_net_peer *v = realloc(np->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		np->v = v;
		np->cap = cap;
	}
	p = &np->v[np->n];
	memset(p, 0, sizeof(*p));
	p->name = n->name;
	for (size_t i = 0; i < n->n_addrs; i++)
		p->addrs[p->n_addrs++] = n->addrs[i];
	/* A pod CIDR is reachable through an address of its family (native
	 * routing) or of the underlay's (vxlan); a Node without one (no
	 * InternalIP yet) is left out until it has. */
	for (size_t i = 0; i < n->n_pod_cidrs; i++) {
		const struct ipcidr *c = &n->pod_cidrs[i];
		int need = o->node_routing == NODE_ROUTING_VXLAN ? underlay : c->addr.family;

		if (!has_family(n, need)) {
			log_debug("%s: Node %s: no InternalIP of the %s family: pod CIDR %s/%u not routed",
				  origin, n->name, need == AF_INET ? "IPv4" : "IPv6",
				  ipaddr_str(&c->addr, buf, sizeof(buf)), c->len);
			continue;
		}
		p->pod_cidrs[p->n_pod_cidrs++] = *c;
	}
	if (p->n_pod_cidrs)
		np->n++;
	return 0;
}

static bool cidrs_equal(const struct ipcidr *a, size_t na, const struct ipcidr *b,
			size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!ipcidr_eq(&a[i], &b[i]))
			return false;
	return true;
}

/* (Re)opens node networking for this node's pod CIDRs. */
static int node_open(struct proxy_agent *a, const struct ipcidr *cidrs, size_t n)
{
	const struct proxy_agent_options *o = a->o;
	struct node_net_options no = {
		.mode = o->node_routing == NODE_ROUTING_VXLAN ? NODE_NET_VXLAN : NODE_NET_NATIVE,
		.cluster_cidrs = o->cluster_cidrs,
		.n_cluster_cidrs = o->n_cluster_cidrs,
		.service_cidrs = o->service_cidrs,
		.n_service_cidrs = o->n_service_cidrs,
		.vxlan_name = o->vxlan_name,
		.vni = o->vni,
		.vxlan_port = o->vxlan_port,
		.nat_table = o->nat_table,
		.no_masquerade = o->no_masquerade,
		.forward_device_only = o->forward_device_only,
	};
	char err[256] = "";
	int r;

	for (size_t i = 0; i < o->n_node_addrs && no.n_addrs < NODE_NET_MAX_ADDRS; i++)
		no.addrs[no.n_addrs++] = o->node_addrs[i];
	for (size_t i = 0; i < n; i++)
		no.pod_cidrs[no.n_pod_cidrs++] = cidrs[i];
	if (a->nn) {
		node_net_close(a->nn, false);
		a->nn = NULL;
	}
	r = node_net_open(&no, &a->nn, err, sizeof(err));
	if (r < 0) {
		log_error("node networking: %s", err[0] ? err : strerror(-r));
		return r;
	}
	memcpy(a->nn_cidrs, cidrs, n * sizeof(*cidrs));
	a->nn_n_cidrs = n;
	log_info("node networking: %s, %zu pod CIDR%s of this node",
		 o->node_routing == NODE_ROUTING_VXLAN ? "vxlan" : "native routes", n, n == 1 ? "" : "s");
	return 0;
}

/* Brings node networking to the Node objects of the store. */
static int node_sync(struct proxy_agent *a)
{
	const struct proxy_agent_options *o = a->o;
	struct node_peers np = { .a = a };
	struct ipcidr own[NODE_NET_MAX_ADDRS];
	const struct ipcidr *cidrs = o->pod_cidrs;
	size_t n_cidrs = o->n_pod_cidrs;
	unsigned long long t0 = now_ns();
	struct node_net_stats st;
	char err[256] = "";
	int r;

	r = model_store_foreach_node(a->store, collect_node, &np);
	if (r < 0)
		goto out;
	if (!n_cidrs && np.self) {
		for (size_t i = 0; i < np.self->n_pod_cidrs && i < NODE_NET_MAX_ADDRS; i++)
			own[i] = np.self->pod_cidrs[i];
		cidrs = own;
		n_cidrs = np.self->n_pod_cidrs < NODE_NET_MAX_ADDRS ? np.self->n_pod_cidrs
								    : NODE_NET_MAX_ADDRS;
	}
	/* This node's Node object gone (or without podCIDRs for a while):
	 * keep what its pods use. */
	if (!n_cidrs && a->nn) {
		cidrs = a->nn_cidrs;
		n_cidrs = a->nn_n_cidrs;
	}
	if (!n_cidrs && !a->node_waiting_logged) {
		log_warn("node networking: no pod CIDR of this node yet (--pod-cidr, or spec.podCIDRs "
			 "of Node %s): routes to the other nodes only, no masquerade",
			 o->node_name);
		a->node_waiting_logged = true;
	}
	if (!a->nn || !cidrs_equal(cidrs, n_cidrs, a->nn_cidrs, a->nn_n_cidrs)) {
		r = node_open(a, cidrs, n_cidrs);
		if (r < 0)
			goto out;
	}
	r = node_net_sync(a->nn, np.v, np.n, err, sizeof(err));
	if (r < 0) {
		log_error("node networking: cannot sync: %s", err[0] ? err : strerror(-r));
		goto out;
	}
	node_net_last_stats(a->nn, &st);
	log_info("node networking: sync: %zu other node%s, %zu entries added or replaced, %zu deleted "
		 "in %.1f ms",
		 np.n, np.n == 1 ? "" : "s", st.added + st.replaced, st.deleted,
		 (double)(now_ns() - t0) / 1e6);
out:
	free(np.v);
	return r;
}

static bool node_enabled(const struct proxy_agent *a)
{
	return a->o->node_routing != NODE_ROUTING_NONE;
}

static void node_teardown(struct proxy_agent *a)
{
	int r;

	if (!a->nn)
		return;
	r = node_net_close(a->nn, a->o->destroy_on_exit);
	if (r < 0)
		log_error("node networking: cannot remove everything: %s", strerror(-r));
	else if (a->o->destroy_on_exit)
		log_info("node networking: routes, vxlan device and masquerade table removed");
}

/* ---- cluster DNS (dataplane/dns/dns_agent.c) ---- */

static bool dns_enabled(const struct proxy_agent *a)
{
	return a->o->dns_listen != NULL;
}

static int dns_setup(struct proxy_agent *a)
{
	const struct proxy_agent_options *o = a->o;
	struct dns_agent_options d = {
		.listen = o->dns_listen,
		.zone = o->cluster_domain,
		.upstreams = o->dns_upstreams,
		.n_upstreams = o->n_dns_upstreams,
		.ttl = o->dns_ttl,
		.device = o->dns_device,
		.service = o->dns_service,
		.node_name = o->node_name,
		.remove_device = o->destroy_on_exit,
	};
	int r = dns_agent_new(&d, &a->dns);

	/* before the first sync of the proxy: the cluster DNS Service
	 * answers from the start (dataplane/dns/dns_local.c says how) */
	return r < 0 ? r : dns_agent_serve_service(a->dns, a->store);
}

static int dns_sync(struct proxy_agent *a)
{
	return dns_agent_sync(a->dns, a->store);
}

static int dns_fd(const struct proxy_agent *a)
{
	return a->dns ? dns_agent_fd(a->dns) : -1;
}

static void dns_dispatch(struct proxy_agent *a)
{
	dns_agent_dispatch(a->dns);
	if (a->metrics) {
		struct dns_server_stats st;

		dns_agent_stats(a->dns, &st);
		agent_metrics_dns(a->metrics, &st);
	}
}

static void dns_teardown(struct proxy_agent *a)
{
	dns_agent_free(a->dns);
	a->dns = NULL;
}

/* ---- L2 announcements (dataplane/l2_announce.c) ---- */

static bool l2_enabled(const struct proxy_agent *a)
{
	return a->o->l2_announce;
}

static int l2_setup(struct proxy_agent *a)
{
	const struct proxy_agent_options *o = a->o;
	const struct l2_announce_options lo = {
		.node_name = o->node_name,
		.ifnames = o->l2_ifaces,
		.n_ifnames = o->n_l2_ifaces,
		.node_addrs = o->node_addrs,
		.n_node_addrs = o->n_node_addrs,
		.report = log_report,
	};
	int r = l2_announce_new(&lo, &a->l2);

	if (r < 0)
		log_error("L2 announcements: cannot open a packet socket: %s", strerror(-r));
	return r;
}

/* Both the Services (their addresses) and the Nodes (who is Ready). */
static uint64_t l2_generation(const struct model_store *s)
{
	return model_store_generation(s) + model_store_node_generation(s);
}

static int l2_sync(struct proxy_agent *a)
{
	struct l2_announce_stats st;
	int r = l2_announce_sync(a->l2, a->store);

	if (r < 0) {
		if (r != -ENODEV)
			log_error("L2 announcements: cannot sync: %s", strerror(-r));
		return r;
	}
	l2_announce_stats(a->l2, &st);
	log_debug("L2 announcements: %zu of %zu addresses announced here on %zu interface%s "
		  "(so far %llu ARP and %llu neighbor replies, %llu announcements)",
		  st.n_mine, st.n_addrs, st.n_ifaces, st.n_ifaces == 1 ? "" : "s",
		  (unsigned long long)st.arp_replies, (unsigned long long)st.na_replies,
		  (unsigned long long)st.announcements);
	return 0;
}

static int l2_fd(const struct proxy_agent *a)
{
	return a->l2 ? l2_announce_fd(a->l2) : -1;
}

static void l2_dispatch(struct proxy_agent *a)
{
	int r = l2_announce_dispatch(a->l2);

	if (r < 0)
		log_warn("L2 announcements: %s", strerror(-r));
}

static void l2_teardown(struct proxy_agent *a)
{
	l2_announce_free(a->l2);
	a->l2 = NULL;
}

/* ---- the consumers of the model store ---- */

static uint64_t services_generation(const struct model_store *s)
{
	return model_store_generation(s);
}

/* What the agent keeps up to date with the store, in order: set up once
 * after the sources' first load, synced whenever the part of the store it
 * reads changed (or its last sync asked for a retry), torn down at exit
 * in reverse order. DNS and the kubelet join as rows. */
static const struct consumer {
	const char *name;
	bool (*enabled)(const struct proxy_agent *a); /* NULL: always */
	int (*setup)(struct proxy_agent *a);          /* NULL: none */
	/* The store's generation of what sync reads. */
	uint64_t (*generation)(const struct model_store *s);
	/* 0, > 0 (a part failed: retried after PROXY_RETRY_MS) or -errno
	 * (logged; retried). */
	int (*sync)(struct proxy_agent *a);
	void (*reload)(struct proxy_agent *a); /* SIGHUP; NULL: none */
	void (*teardown)(struct proxy_agent *a);
	/* The loop retries a failed first sync (otherwise the agent stops);
	 * with once, any failure ends the run. */
	bool first_sync_retried;
	/* An fd the loop polls (-1: none yet) and what to do when it is
	 * readable; NULL: none. */
	int (*fd)(const struct proxy_agent *a);
	void (*dispatch)(struct proxy_agent *a);
	/* Synced before the others when the store changes (not at the first
	 * sync): its update takes microseconds and what it serves waits for
	 * it (a new Service's name would wait for the proxy's commit). */
	bool prompt;
} consumers[] = {
	{ "service proxy", NULL, proxy_setup, services_generation, proxy_sync, proxy_reload,
	  proxy_teardown, false, NULL, NULL, false },
	{ "node networking", node_enabled, NULL, model_store_node_generation, node_sync, NULL,
	  node_teardown, true, NULL, NULL, false },
	{ "cluster DNS", dns_enabled, dns_setup, services_generation, dns_sync, NULL, dns_teardown,
	  false, dns_fd, dns_dispatch, true },
	/* retried: its interface may come later (-ENODEV) */
	{ "L2 announcements", l2_enabled, l2_setup, l2_generation, l2_sync, NULL, l2_teardown,
	  true, l2_fd, l2_dispatch, false },
};
_Static_assert(ARRAY_SIZE(consumers) <= MAX_CONSUMERS, "raise MAX_CONSUMERS");

static bool consumer_on(const struct proxy_agent *a, size_t i)
{
	return !consumers[i].enabled || consumers[i].enabled(a);
}

/* Syncs consumer i; remembers what it saw and whether to retry. */
static int consumer_sync(struct proxy_agent *a, size_t i)
{
	uint64_t gen = consumers[i].generation(a->store);
	int r = consumers[i].sync(a);

	if (r >= 0)
		a->cs[i].synced_generation = gen;
	a->cs[i].retry = r != 0;
	return r;
}

/* Syncs every consumer whose part of the store changed or that asked for
 * a retry, the prompt ones first; true when one asks for a retry. */
static bool consumers_sync_due(struct proxy_agent *a)
{
	bool retry = false;

	for (int prompt = 1; prompt >= 0; prompt--)
		for (size_t i = 0; i < ARRAY_SIZE(consumers); i++) {
			if (!consumer_on(a, i) || consumers[i].prompt != prompt)
				continue;
			if (consumers[i].generation(a->store) != a->cs[i].synced_generation ||
			    a->cs[i].retry)
				consumer_sync(a, i);
			retry |= a->cs[i].retry;
		}
	return retry;
}

/* ---- the loop ---- */

static int arm_timer(struct proxy_agent *a, unsigned ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	return timerfd_settime(a->tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

static int on_source(struct proxy_agent *a)
{
	int r = a->src.on_readable(a->src.ctx);
	unsigned long long now = now_ns();

	if (r < 0) {
		log_error("%s: cannot read changes: %s", a->src.name, strerror(-r));
		return r;
	}
	if (r == 0)
		return 0;
	if (!a->first_change_ns)
		a->first_change_ns = now;
	/* Quiet period, but never later than the cap after the first change. */
	if ((now - a->first_change_ns) / 1000000ULL >= PROXY_DEBOUNCE_MAX_MS)
		return 0; /* the armed timer fires soon enough */
	return arm_timer(a, PROXY_DEBOUNCE_MS);
}

static int on_timer(struct proxy_agent *a)
{
	uint64_t ticks;
	int r;

	if (read(a->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return -errno;
	a->change_ns = a->first_change_ns;
	a->first_change_ns = 0;
	r = a->src.flush(a->src.ctx);
	if (r < 0)
		log_error("%s: cannot load changes: %s", a->src.name, strerror(-r));
	r = consumers_sync_due(a);
	a->change_ns = 0;
	return r ? arm_timer(a, PROXY_RETRY_MS) : 0;
}

/* API source: the watch events of one dispatch are applied at once. */
static int on_api(struct proxy_agent *a, const struct pollfd *fds, size_t n)
{
	bool retry;

	a->change_ns = now_ns();
	if (api_source_dispatch(&a->src, fds, n) <= 0) {
		a->change_ns = 0;
		return 0;
	}
	retry = consumers_sync_due(a);
	a->change_ns = 0;
	return retry ? arm_timer(a, PROXY_RETRY_MS) : 0;
}

/* SIGHUP: read the source again and resync every consumer; any other
 * signal: 1 (stop). */
static int on_signal(struct proxy_agent *a)
{
	struct signalfd_siginfo si;
	int r;

	if (read(a->sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo != SIGHUP) {
		log_info("signal %s: stopping", strsignal((int)si.ssi_signo));
		return 1;
	}
	log_info("signal %s: reloading %s", strsignal((int)si.ssi_signo), a->src.name);
	r = a->src.start(a->src.ctx);
	if (r < 0)
		log_error("%s: cannot reload: %s", a->src.name, strerror(-r));
	for (size_t i = 0; i < ARRAY_SIZE(consumers); i++) {
		a->cs[i].retry = consumer_on(a, i);
		if (a->cs[i].retry && consumers[i].reload)
			consumers[i].reload(a);
	}
	return arm_timer(a, 1);
}

/* The fds to wait on: the loop's own, then the source's (the folder's
 * inotify fd, or the API client's sockets with its deadline). */
static size_t loop_fds(struct proxy_agent *a, struct pollfd *fds, int *timeout_ms)
{
	fds[0] = (struct pollfd){ .fd = a->sfd, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = a->tfd, .events = POLLIN };
	for (size_t i = 0; i < MAX_CONSUMERS; i++) {
		bool polled = i < ARRAY_SIZE(consumers) && consumers[i].fd;

		fds[2 + i] = (struct pollfd){ .fd = polled ? consumers[i].fd(a) : -1,
					      .events = POLLIN };
	}
	*timeout_ms = -1;
	unsigned long long due = proxy_lb_sockets_due(a->plb), now = now_ns();

	if (due)
		*timeout_ms = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
	if (a->api)
		return OWN_FDS + api_source_pollfds(&a->src, fds + OWN_FDS, MAX_FDS - OWN_FDS,
						    timeout_ms);
	fds[OWN_FDS] = (struct pollfd){ .fd = a->src.fd(a->src.ctx), .events = POLLIN };
	return OWN_FDS + 1;
}

static int agent_loop(struct proxy_agent *a)
{
	for (;;) {
		struct pollfd fds[MAX_FDS];
		int timeout_ms, r = 0;
		size_t n = loop_fds(a, fds, &timeout_ms);

		if (poll(fds, n, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[0].revents) {
			r = on_signal(a);
			if (r != 0)
				return r > 0 ? 0 : r;
		}
		if (a->api)
			r = on_api(a, fds + OWN_FDS, n - OWN_FDS);
		else if (fds[OWN_FDS].revents)
			r = on_source(a);
		if (r < 0)
			return r;
		if (fds[1].revents) {
			r = on_timer(a);
			if (r < 0)
				return r;
		}
		for (size_t i = 0; i < ARRAY_SIZE(consumers); i++)
			if (fds[2 + i].revents && consumers[i].dispatch)
				consumers[i].dispatch(a);
		if (a->plb)
			proxy_end_sockets(a, false);
	}
}

/* The source's place, for the log. */
static const char *source_where(const struct proxy_agent_options *o)
{
	return o->manifests_dir ? o->manifests_dir
	       : o->api_server  ? o->api_server
	       : o->kubeconfig  ? o->kubeconfig
				: "(kubeconfig)";
}

/* The one source of the options: the folder or the API server. */
static int source_open(struct proxy_agent *a)
{
	const struct proxy_agent_options *o = a->o;
	char err[512] = "";
	int r;

	if (o->manifests_dir) {
		r = manifest_source_new(o->manifests_dir, a->store, log_report, NULL, &a->src);
		if (r < 0)
			log_error("manifests %s: %s", o->manifests_dir, strerror(-r));
		return r;
	}
	const struct api_source_options ao = {
		.kubeconfig = o->kubeconfig,
		.server = o->api_server,
		.token = o->api_token,
		.ca_file = o->api_ca_file,
	};
	r = api_source_new(&ao, a->store, log_report, NULL, &a->src, err, sizeof(err));
	if (r < 0)
		log_error("API %s: %s", source_where(o), err[0] ? err : strerror(-r));
	a->api = r == 0;
	return r;
}

static int agent_setup(struct proxy_agent *a, const struct proxy_agent_options *o)
{
	sigset_t mask;
	int r;

	a->o = o;
	a->cfg = (struct proxy_config){
		.node_name = o->node_name,
		.node_addrs = o->node_addrs,
		.n_node_addrs = o->n_node_addrs,
		.default_algorithm = o->maglev ? MODEL_ALG_MAGLEV : MODEL_ALG_RANDOM,
	};
	if (o->cgroup_path)
		r = strscpy(a->cgroup, o->cgroup_path, sizeof(a->cgroup));
	else
		r = cgroup2_root(a->cgroup, sizeof(a->cgroup));
	if (r < 0 && o->mode == PROXY_MODE_BPF) {
		log_error("cannot find the cgroup v2 folder (give --cgroup): %s", strerror(-r));
		return r;
	}

	r = agent_metrics_new(o->metrics, o->mode == PROXY_MODE_BPF ? "bpf" : "nftables",
			      &a->metrics);
	if (r == 0)
		r = model_store_new(&a->store);
	if (r < 0)
		return r;
	r = source_open(a);
	if (r < 0)
		return r;
	a->have_src = true;
	unsigned long long t0 = now_ns();
	const char *where = source_where(o);
	r = a->src.start(a->src.ctx);
	if (r < 0) {
		log_error("%s %s: cannot load: %s", a->src.name, where, strerror(-r));
		return r;
	}
	log_info("%s %s: %zu services, %zu endpoint slices loaded in %.1f ms", a->src.name,
		 where, model_store_count(a->store, MODEL_KIND_SERVICE),
		 model_store_count(a->store, MODEL_KIND_ENDPOINT_SLICE), (double)(now_ns() - t0) / 1e6);

	for (size_t i = 0; i < ARRAY_SIZE(consumers); i++) {
		if (!consumer_on(a, i) || !consumers[i].setup)
			continue;
		r = consumers[i].setup(a);
		if (r < 0)
			return r;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	a->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->sfd < 0 || a->tfd < 0)
		return -errno;
	return 0;
}

static void agent_teardown(struct proxy_agent *a)
{
	for (size_t i = ARRAY_SIZE(consumers); i-- > 0;)
		consumers[i].teardown(a);
	if (a->have_src)
		model_source_free(&a->src);
	model_store_free(a->store);
	agent_metrics_free(a->metrics);
	if (a->sfd >= 0)
		close(a->sfd);
	if (a->tfd >= 0)
		close(a->tfd);
}

int proxy_agent_run(const struct proxy_agent_options *o)
{
	struct proxy_agent a = { .sfd = -1, .tfd = -1 };
	bool partial = false;
	int r;

	r = agent_setup(&a, o);
	/* The first sync of every consumer: a failure ends the run unless
	 * the loop retries it; a part that failed is retried, or with once
	 * ends the run after the others synced. */
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(consumers); i++) {
		if (!consumer_on(&a, i))
			continue;
		r = consumer_sync(&a, i);
		if (r > 0 || (r < 0 && consumers[i].first_sync_retried && !o->once))
			r = 0, partial = true;
	}
	if (r == 0 && partial)
		r = o->once ? -EIO : arm_timer(&a, PROXY_RETRY_MS);
	/* Parsing the first load leaves the heap large; hand it back. */
	malloc_trim(0);
	if (r == 0 && !o->once)
		r = agent_loop(&a);
	agent_teardown(&a);
	return r;
}
