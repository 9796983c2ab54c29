/* The service proxy's run loop. */
#include "dataplane/proxy_agent.h"
#include "dataplane/lb/lb.h"
#include "dataplane/manifest.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy.h"
#include "dataplane/proxy_lb.h"
#include "log.h"
#include "util.h"

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

struct proxy_agent {
	const struct proxy_agent_options *o;
	struct model_store *store;
	struct model_source src;
	bool have_src;
	struct lb *lb;
	struct proxy_lb *plb;
	struct nftp *nftp; /* nftables mode */
	struct nftp_options nopt;
	struct nftp_cidr nft_cidrs[NODE_NET_MAX_ADDRS];
	struct proxy_config cfg;
	uint64_t synced_generation;
	bool synced_once;
	bool retry; /* a frontend failed: sync again after PROXY_RETRY_MS */
	int sfd, tfd;
	unsigned long long first_change_ns; /* 0: no change pending */
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

static void keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* Recomputes only the services that changed when it can, everything
 * otherwise. Returns the number of frontends that failed, or -errno. */
static int agent_apply(struct proxy_agent *a, size_t *n_fes, bool *full)
{
	struct proxy_state *next = NULL;
	char **keys = NULL;
	size_t n = 0;
	bool all;
	int r;

	r = model_store_take_dirty(a->store, &keys, &n, &all);
	if (r < 0)
		all = true, keys = NULL, n = 0;
	*full = all || a->retry || !proxy_lb_applied(a->plb);
	if (!*full) {
		r = proxy_compute_services(a->store, &a->cfg, keys, n, &next);
		if (r == 0)
			r = proxy_lb_apply_services(a->plb, keys, n, next);
		*full = r == -EAGAIN;
		if (r < 0 && !*full)
			log_error("cannot apply the changed services: %s", strerror(-r));
	}
	keys_free(keys, n);
	if (*full) {
		r = proxy_compute(a->store, &a->cfg, &next);
		if (r < 0) {
			log_error("cannot compute the desired state: %s", strerror(-r));
			return r;
		}
		r = proxy_lb_apply(a->plb, next);
		if (r < 0)
			log_error("cannot apply the desired state: %s", strerror(-r));
	}
	if (proxy_lb_applied(a->plb))
		*n_fes = proxy_lb_applied(a->plb)->n_fes;
	return r;
}

static int summary_qcmp(const void *a, const void *b)
{
	const struct proxy_summary *const *x = a, *const *y = b;

	return strcmp((*x)->service, (*y)->service);
}

/* next->svcs is sorted by service name. */
static const struct proxy_summary *find_summary(const struct proxy_state *s, const char *service)
{
	struct proxy_summary key = { .service = (char *)service }, *kp = &key, **found;

	if (!s->n_svcs)
		return NULL;
	found = bsearch(&kp, s->svcs, s->n_svcs, sizeof(*s->svcs), summary_qcmp);
	return found ? *found : NULL;
}

/* The log lines the BPF mode writes (proxy_lb.c), for a diff: one line per
 * service with a changed frontend, "removed" for services that are gone,
 * and the backends no frontend has any more. */
static void nft_log_changes(const struct proxy_state *next, const struct proxy_changes *c)
{
	_cleanup_free_ const struct proxy_summary **v = calloc(c->n_set + c->n_del + 1, sizeof(*v));
	char buf[200], addr[INET6_ADDRSTRLEN];
	size_t n = 0;

	if (!v)
		return;
	for (size_t i = 0; i < c->n_set; i++)
		v[n++] = c->set[i]->svc;
	qsort(v, n, sizeof(*v), summary_qcmp);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_summary *sum = v[i];

		if (i > 0 && streq(v[i - 1]->service, sum->service))
			continue;
		proxy_summary_format(sum, buf, sizeof(buf));
		log_info("service %s: %s", sum->service, buf);
		if (sum->sctp_skipped)
			log_warn("service %s: SCTP ports are not load-balanced", sum->service);
		if (sum->n_conflicts)
			log_warn("service %s: %zu frontend%s already claimed by another service", sum->service,
				 sum->n_conflicts, sum->n_conflicts == 1 ? "" : "s");
	}
	n = 0;
	for (size_t i = 0; i < c->n_del; i++)
		v[n++] = c->del[i]->svc;
	qsort(v, n, sizeof(*v), summary_qcmp);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_summary *now;

		if (i > 0 && streq(v[i - 1]->service, v[i]->service))
			continue;
		now = find_summary(next, v[i]->service);
		if (!now || !now->n_frontends)
			log_info("service %s: removed", v[i]->service);
	}
	for (size_t i = 0; i < c->n_removed; i++) {
		const struct proxy_removed *rm = &c->removed[i];

		/* As kube-proxy: established TCP connections keep their
		 * conntrack entry (they end when the backend goes away);
		 * UDP flows are deleted, or they would stick to it. */
		log_info("service %s: backend %s:%u/%s removed%s", rm->name,
			 model_addr_str(&rm->be.addr, addr, sizeof(addr)), rm->be.port,
			 model_proto_name(rm->proto),
			 rm->proto == MODEL_PROTO_UDP ? ", its conntrack entries deleted"
						      : ", established connections left to end");
	}
}

/* nftables mode: always the whole desired state (nftp_apply itself writes
 * only the frontends that changed). */
static int agent_apply_nft(struct proxy_agent *a, size_t *n_fes, bool *full)
{
	struct proxy_state *next = NULL, *empty = NULL;
	const struct proxy_state *prev;
	struct proxy_changes c = { 0 };
	struct nftp_stats st;
	char **keys = NULL;
	size_t n = 0;
	bool all;
	int r;

	if (model_store_take_dirty(a->store, &keys, &n, &all) == 0)
		keys_free(keys, n);
	r = proxy_compute(a->store, &a->cfg, &next);
	if (r < 0) {
		log_error("cannot compute the desired state: %s", strerror(-r));
		return r;
	}
	prev = nftp_applied(a->nftp);
	if (!prev && proxy_state_new_empty(&empty) == 0)
		prev = empty;
	if (prev && proxy_diff(prev, next, NULL, &c) == 0)
		nft_log_changes(next, &c);
	proxy_changes_clear(&c);
	proxy_state_free(empty);
	*n_fes = next->n_fes;
	r = nftp_apply(a->nftp, next);
	if (r < 0) {
		log_error("table inet %s: cannot apply the batch: %s", a->nopt.table, strerror(-r));
		return r;
	}
	nftp_last_stats(a->nftp, &st);
	*full = st.full;
	log_debug("table inet %s: %zu messages (%zu bytes), %zu UDP conntrack entries deleted",
		  a->nopt.table, st.n_msgs, st.n_bytes, st.n_ct_deleted);
	return 0;
}

static int agent_sync(struct proxy_agent *a)
{
	unsigned long long t0 = now_ns();
	uint64_t gen = model_store_generation(a->store);
	size_t n_fes = 0;
	bool full = true;
	int r;

	if (a->nftp)
		r = agent_apply_nft(a, &n_fes, &full);
	else
		r = agent_apply(a, &n_fes, &full);
	if (r < 0) {
		/* What is dirty was consumed: the next try recomputes it all. */
		a->retry = true;
		return r;
	}
	a->retry = r > 0;
	a->synced_generation = gen;
	unsigned long long sock_ns = a->plb ? proxy_lb_last_socket_ns(a->plb) : 0;
	char socks[64] = "";

	if (sock_ns)
		snprintf(socks, sizeof(socks), ", then %.1f ms ending sockets", (double)sock_ns / 1e6);
	log_info("%s: %zu services, %zu endpoint slices, %zu frontends in %.1f ms (%s%s)%s",
		 a->synced_once ? "sync" : "initial sync", model_store_count(a->store, MODEL_KIND_SERVICE),
		 model_store_count(a->store, MODEL_KIND_ENDPOINT_SLICE), n_fes,
		 (double)(now_ns() - t0 - sock_ns) / 1e6, full ? "full" : "changed services", socks,
		 r > 0 ? " (some frontends failed; retrying)" : "");
	a->synced_once = true;
	return 0;
}

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
	a->first_change_ns = 0;
	r = a->src.flush(a->src.ctx);
	if (r < 0)
		log_error("%s: cannot load changes: %s", a->src.name, strerror(-r));
	if (model_store_generation(a->store) != a->synced_generation || a->retry)
		agent_sync(a);
	if (a->retry)
		return arm_timer(a, PROXY_RETRY_MS);
	return 0;
}

static int agent_loop(struct proxy_agent *a)
{
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = a->sfd, .events = POLLIN },
			{ .fd = a->src.fd(a->src.ctx), .events = POLLIN },
			{ .fd = a->tfd, .events = POLLIN },
		};
		int r;

		if (poll(fds, ARRAY_SIZE(fds), -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[0].revents) {
			struct signalfd_siginfo si;

			if (read(a->sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGHUP) {
					log_info("signal %s: stopping", strsignal((int)si.ssi_signo));
					return 0;
				}
				/* Read every file again and recompute everything. */
				log_info("signal %s: reloading %s", strsignal((int)si.ssi_signo),
					 a->src.name);
				r = a->src.start(a->src.ctx);
				if (r < 0)
					log_error("%s: cannot reload: %s", a->src.name, strerror(-r));
				a->retry = true;
				/* nftables: a fresh handle rewrites the whole table
				 * in one batch, undoing any hand edit. */
				if (a->nftp) {
					struct nftp *p;

					r = nftp_open(&a->nopt, &p);
					if (r == 0) {
						nftp_free(a->nftp);
						a->nftp = p;
					}
				}
				r = arm_timer(a, 1);
				if (r < 0)
					return r;
			}
		}
		if (fds[1].revents) {
			r = on_source(a);
			if (r < 0)
				return r;
		}
		if (fds[2].revents) {
			r = on_timer(a);
			if (r < 0)
				return r;
		}
	}
}

static const char *bpffs_of(const struct proxy_agent *a)
{
	return a->o->bpffs_dir ? a->o->bpffs_dir : LB_DEFAULT_BPFFS;
}

/* Opens the BPF datapath (attaching the programs unless pinned already). */
static int lb_open_with(struct proxy_agent *a, struct lb **out)
{
	const struct proxy_agent_options *o = a->o;
	_cleanup_free_ struct lb_addr *addrs = calloc(o->n_node_addrs + 1, sizeof(*addrs));
	struct lb_options lo = { 0 };

	if (!addrs)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_node_addrs; i++) {
		addrs[i].family = o->node_addrs[i].family;
		if (addrs[i].family == AF_INET)
			addrs[i].v4 = o->node_addrs[i].v4;
		else
			addrs[i].v6 = o->node_addrs[i].v6;
	}
	lo.bpffs_dir = o->bpffs_dir;
	lo.cgroup_path = a->cgroup;
	lo.node_addrs = addrs;
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
	return proxy_lb_new(a->lb, a->cgroup, &a->plb);
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
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		struct nftp_cidr *c = &a->nft_cidrs[i];

		c->addr.family = o->cluster_cidrs[i].addr.family;
		memcpy(&c->addr.v6, o->cluster_cidrs[i].addr.a,
		       c->addr.family == AF_INET ? 4 : 16);
		c->prefix_len = o->cluster_cidrs[i].len;
	}
	a->nopt.table = o->nft_table ? o->nft_table : NFTP_DEFAULT_TABLE;
	a->nopt.cluster_cidrs = a->nft_cidrs;
	a->nopt.n_cluster_cidrs = o->n_cluster_cidrs;
	r = nftp_open(&a->nopt, &a->nftp);
	if (r < 0) {
		log_error("nftables mode: table inet %s: %s", a->nopt.table, strerror(-r));
		return r;
	}
	log_info("nftables mode: table inet %s", a->nopt.table);
	return 0;
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

	r = model_store_new(&a->store);
	if (r < 0)
		return r;
	r = manifest_source_new(o->manifests_dir, a->store, &a->src);
	if (r < 0) {
		log_error("manifests %s: %s", o->manifests_dir, strerror(-r));
		return r;
	}
	a->have_src = true;
	unsigned long long t0 = now_ns();
	r = a->src.start(a->src.ctx);
	if (r < 0) {
		log_error("manifests %s: cannot load: %s", o->manifests_dir, strerror(-r));
		return r;
	}
	log_info("%s %s: %zu services, %zu endpoint slices loaded in %.1f ms", a->src.name,
		 o->manifests_dir, model_store_count(a->store, MODEL_KIND_SERVICE),
		 model_store_count(a->store, MODEL_KIND_ENDPOINT_SLICE), (double)(now_ns() - t0) / 1e6);

	r = o->mode == PROXY_MODE_NFTABLES ? nft_setup(a) : bpf_setup(a);
	if (r < 0)
		return r;

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
	int r;

	if (a->nftp && a->o->destroy_on_exit) {
		r = nftp_destroy(a->nftp);
		if (r < 0)
			log_error("table inet %s: cannot remove: %s", a->nopt.table, strerror(-r));
		else
			log_info("table inet %s removed", a->nopt.table);
	}
	nftp_free(a->nftp);
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
	if (a->have_src)
		model_source_free(&a->src);
	model_store_free(a->store);
	if (a->sfd >= 0)
		close(a->sfd);
	if (a->tfd >= 0)
		close(a->tfd);
}

int proxy_agent_run(const struct proxy_agent_options *o)
{
	struct proxy_agent a = { .sfd = -1, .tfd = -1 };
	int r;

	r = agent_setup(&a, o);
	if (r == 0)
		r = agent_sync(&a);
	/* Parsing the first load leaves the heap large; hand it back. */
	malloc_trim(0);
	if (r == 0 && a.retry && o->once)
		r = -EIO;
	if (r == 0 && !o->once)
		r = agent_loop(&a);
	agent_teardown(&a);
	return r;
}
