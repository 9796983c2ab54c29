/* Reconcile the desired state into the BPF datapath. */
#include "dataplane/proxy_lb.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert((int)PROXY_KIND_CLUSTER_IP == (int)LB_KIND_CLUSTER_IP, "kinds differ");
_Static_assert((int)PROXY_KIND_EXTERNAL_IP == (int)LB_KIND_EXTERNAL_IP, "kinds differ");
_Static_assert((int)PROXY_KIND_LOAD_BALANCER == (int)LB_KIND_LOAD_BALANCER, "kinds differ");
_Static_assert((int)PROXY_KIND_NODE_PORT == (int)LB_KIND_NODE_PORT, "kinds differ");
_Static_assert((int)PROXY_BACKEND_ACTIVE == (int)LB_BACKEND_ACTIVE, "states differ");
_Static_assert((int)PROXY_BACKEND_TERMINATING == (int)LB_BACKEND_TERMINATING, "states differ");
_Static_assert((int)PROXY_BACKEND_QUARANTINED == (int)LB_BACKEND_QUARANTINED, "states differ");
_Static_assert(PROXY_F_LOCAL == LB_F_LOCAL, "flags differ");

struct proxy_lb {
	struct lb *lb;
	char *cgroup_path;
	struct proxy_state *applied;
	unsigned long long socket_ns; /* time the last apply spent ending sockets */
	uint64_t sockets_ended;       /* in all */
	log_report_fn report;         /* what each apply did, for the owner to log */
	void *report_ud;
	char failed[96];              /* after a failed apply: the step that failed, ": " */
	/* Removed backends whose sockets the next pass ends (names owned);
	 * with defer_ms, the pass runs that long after the first of them. */
	struct proxy_removed *pending;
	size_t n_pending;
	unsigned long long pending_since; /* now_ns(); 0: nothing pending */
	unsigned defer_ms;
};

#define lbreport(p, ...) report_msg((p)->report, (p)->report_ud, __VA_ARGS__)

/* Is a debug report read? Not when it goes to the log below debug level:
 * one per frontend, not worth formatting 10,000 times to be dropped. */
static bool debug_wanted(const struct proxy_lb *p)
{
	return p->report && (p->report != log_report || log_get_level() >= LOG_LEVEL_DEBUG);
}

int proxy_lb_new(struct lb *lb, const char *cgroup_path, log_report_fn report, void *ud,
		 struct proxy_lb **out)
{
	struct proxy_lb *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->lb = lb;
	p->report = report;
	p->report_ud = ud;
	if (cgroup_path && !(p->cgroup_path = strdup(cgroup_path))) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

static void pending_clear(struct proxy_lb *p)
{
	for (size_t i = 0; i < p->n_pending; i++)
		free((char *)p->pending[i].name);
	free(p->pending);
	p->pending = NULL;
	p->n_pending = 0;
	p->pending_since = 0;
}

void proxy_lb_free(struct proxy_lb *p)
{
	if (!p)
		return;
	pending_clear(p);
	proxy_state_free(p->applied);
	free(p->cgroup_path);
	free(p);
}

uint64_t proxy_lb_sockets_ended(const struct proxy_lb *p)
{
	return p->sockets_ended;
}

unsigned long long proxy_lb_last_socket_ns(const struct proxy_lb *p)
{
	return p->socket_ns;
}

const struct proxy_state *proxy_lb_applied(const struct proxy_lb *p)
{
	return p->applied;
}

static struct lb_frontend to_lb_frontend(const struct proxy_frontend *fe)
{
	return (struct lb_frontend){
		.addr = fe->key.addr,
		.port = fe->key.port,
		.proto = fe->key.proto,
		.kind = fe->key.kind,
	};
}

static const char *fe_str(const struct proxy_frontend *fe, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	bool v6 = fe->key.addr.family == AF_INET6;

	ipaddr_str(&fe->key.addr, a, sizeof(a));
	snprintf(buf, size, "%s %s%s%s:%u/%s", proxy_kind_name(fe->key.kind), v6 ? "[" : "", a,
		 v6 ? "]" : "", fe->key.port, model_proto_name(fe->key.proto));
	return buf;
}

/* The request setting fe, its backends written at be. */
static struct lb_frontend_req to_lb_req(const struct proxy_frontend *fe, struct lb_backend *be)
{
	for (size_t i = 0; i < fe->n_backends; i++)
		be[i] = (struct lb_backend){
			.addr = fe->backends[i].addr,
			.port = fe->backends[i].port,
			.state = fe->backends[i].state,
		};
	return (struct lb_frontend_req){
		.fe = to_lb_frontend(fe),
		.backends = be,
		.n = fe->n_backends,
		.params = {
			.name = fe->name,
			.affinity_timeout = fe->affinity_timeout,
			.algorithm = fe->algorithm == MODEL_ALG_MAGLEV ? LB_ALG_MAGLEV : LB_ALG_RANDOM,
			.flags = fe->flags,
		},
	};
}

/* Sets fes[0..n) with one lb_frontend_set_many (a batch per map for the
 * new ones); results[i] is each one's. */
static int set_frontends(struct proxy_lb *p, const struct proxy_frontend *const *fes, size_t n,
			 int *results)
{
	_cleanup_free_ struct lb_frontend_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	_cleanup_free_ struct lb_backend *be = NULL;
	size_t n_be = 0, at = 0;

	for (size_t i = 0; i < n; i++)
		n_be += fes[i]->n_backends;
	be = calloc(n_be ? n_be : 1, sizeof(*be));
	if (!reqs || !be)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		reqs[i] = to_lb_req(fes[i], be + at);
		at += fes[i]->n_backends;
	}
	return lb_frontend_set_many(p->lb, reqs, n, results);
}

/* ---- ending the sockets of removed backends ----------------------------- */

struct netns_set {
	ino_t *inos;
	char (*paths)[64];
	size_t n;
};

static void netns_add_pid(struct netns_set *s, const char *pid, ino_t self)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%.20s/ns/net", pid);
	if (stat(path, &st) < 0 || st.st_ino == self)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->inos[i] == st.st_ino)
			return;
	ino_t *ni = realloc(s->inos, (s->n + 1) * sizeof(*ni));
	if (!ni)
		return;
	s->inos = ni;
	char(*np)[64] = realloc(s->paths, (s->n + 1) * sizeof(*np));
	if (!np)
		return;
	s->paths = np;
	s->inos[s->n] = st.st_ino;
	snprintf(s->paths[s->n], sizeof(s->paths[s->n]), "%s", path);
	s->n++;
}

/* The network namespaces of every process in cgroup dir and below. */
static void netns_walk(struct netns_set *s, const char *dir, ino_t self, int depth)
{
	_cleanup_free_ char *procs = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char line[32];
	DIR *d;
	struct dirent *de;

	if (depth > 16 || asprintf(&procs, "%s/cgroup.procs", dir) < 0)
		return;
	f = fopen(procs, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (*line)
			netns_add_pid(s, line, self);
	}
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
			continue;
		netns_walk(s, sub, self, depth + 1);
		free(sub);
	}
	closedir(d);
}

static void report_removed(struct proxy_lb *p, const struct proxy_removed *rm, int r,
			   uint32_t ended)
{
	char a[INET6_ADDRSTRLEN];

	ipaddr_str(&rm->be.addr, a, sizeof(a));
	if (r < 0)
		lbreport(p, LOG_LEVEL_WARN,
			 "service %s: backend %s:%u/%s removed; ending its sockets failed: %s",
			 rm->name, a, rm->be.port, model_proto_name(rm->proto), strerror(-r));
	else
		lbreport(p, LOG_LEVEL_INFO, "service %s: backend %s:%u/%s removed, %u socket%s ended",
			 rm->name, a, rm->be.port, model_proto_name(rm->proto), ended,
			 ended == 1 ? "" : "s");
}

/* Ends the sockets of every pending backend, in one pass of the socket
 * iterators per network namespace (the agent's and those of the processes
 * in the cgroup), however many backends that is. */
static void pending_end(struct proxy_lb *p)
{
	struct netns_set ns = { 0 };
	unsigned long long t0 = now_ns();
	_cleanup_free_ struct lb_sock_target *t = NULL;
	_cleanup_free_ const char **paths = NULL;
	struct stat self;
	size_t n = 0;
	int r = 0;

	if (!p->n_pending)
		return;
	if (p->cgroup_path && stat("/proc/self/ns/net", &self) == 0)
		netns_walk(&ns, p->cgroup_path, self.st_ino, 0);
	t = calloc(p->n_pending, sizeof(*t));
	paths = calloc(ns.n + 1, sizeof(*paths)); /* [0]: ours (NULL) */
	if (!t || !paths)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < p->n_pending; i++) {
		const struct proxy_removed *rm = &p->pending[i];

		/* SCTP: no socket iterator */
		if (rm->proto == LB_PROTO_TCP || rm->proto == LB_PROTO_UDP)
			t[n++] = (struct lb_sock_target){ .addr = rm->be.addr, .port = rm->be.port,
							  .proto = rm->proto };
	}
	for (size_t j = 0; r == 0 && j < ns.n; j++)
		paths[j + 1] = ns.paths[j];
	if (r == 0)
		r = lb_sockets_terminate(p->lb, t, n, paths, ns.n + 1);
	for (size_t i = 0, k = 0; i < p->n_pending; i++) {
		const struct proxy_removed *rm = &p->pending[i];
		bool ended = r >= 0 && (rm->proto == LB_PROTO_TCP || rm->proto == LB_PROTO_UDP);

		uint32_t n_ended = ended ? t[k++].ended : 0;

		p->sockets_ended += n_ended;
		report_removed(p, rm, r < 0 ? r : 0, n_ended);
	}
	free(ns.inos);
	free(ns.paths);
	pending_clear(p);
	p->socket_ns = now_ns() - t0;
}

/* A pending backend that a frontend c sets has again keeps its sockets. */
static void pending_forget_readded(struct proxy_lb *p, const struct proxy_changes *c)
{
	for (size_t i = 0; p->n_pending && i < c->n_set; i++) {
		const struct proxy_frontend *fe = c->set[i];

		for (size_t j = 0; j < fe->n_backends; j++) {
			const struct proxy_backend *be = &fe->backends[j];

			for (size_t k = 0; k < p->n_pending;) {
				struct proxy_removed *rm = &p->pending[k];

				if (rm->proto != fe->key.proto || rm->be.port != be->port ||
				    !ipaddr_eq(&rm->be.addr, &be->addr)) {
					k++;
					continue;
				}
				free((char *)rm->name);
				*rm = p->pending[--p->n_pending];
			}
		}
	}
	if (!p->n_pending)
		p->pending_since = 0;
}

/* The backends c removed join the pending ones (a copy: the states they
 * point into are freed); their sockets end now, or with defer_ms at the
 * pass proxy_lb_end_sockets runs. A backend c sets again is no longer
 * pending. */
static void end_sockets(struct proxy_lb *p, const struct proxy_changes *c)
{
	p->socket_ns = 0;
	pending_forget_readded(p, c);
	if (c->n_removed) {
		struct proxy_removed *v = realloc(p->pending, (p->n_pending + c->n_removed) * sizeof(*v));

		if (!v) {
			lbreport(p, LOG_LEVEL_WARN, "%zu removed backends: no memory to end their sockets",
				 c->n_removed);
			return;
		}
		p->pending = v;
		for (size_t i = 0; i < c->n_removed; i++) {
			v[p->n_pending] = c->removed[i];
			v[p->n_pending].name = strdup(c->removed[i].name);
			if (v[p->n_pending].name)
				p->n_pending++;
		}
		if (!p->pending_since && p->n_pending)
			p->pending_since = now_ns();
	}
	if (!p->defer_ms)
		pending_end(p);
}

void proxy_lb_defer_sockets(struct proxy_lb *p, unsigned ms)
{
	p->defer_ms = ms;
}

unsigned long long proxy_lb_sockets_due(const struct proxy_lb *p)
{
	return p && p->pending_since ? p->pending_since + p->defer_ms * 1000000ULL : 0;
}

void proxy_lb_end_sockets(struct proxy_lb *p)
{
	pending_end(p);
}

/* ---- apply -------------------------------------------------------------- */

/* Programs c into the datapath. failed[] (indexed like next->fes) marks
 * the frontends that could not be set. */
static size_t program(struct proxy_lb *p, const struct proxy_state *next,
		      const struct proxy_changes *c, bool *failed)
{
	enum { CHUNK = 1024 }; /* frontends per lb_frontend_set_many */
	int results[CHUNK];
	size_t n_failed = 0;
	char fb[128];
	int r;

	for (size_t i = 0; i < c->n_set; i++) {
		if (i % CHUNK == 0) {
			size_t n = c->n_set - i < CHUNK ? c->n_set - i : CHUNK;

			r = set_frontends(p, c->set + i, n, results);
			for (size_t k = 0; r < 0 && k < n; k++)
				results[k] = r;
		}
		r = results[i % CHUNK];
		if (r < 0) {
			lbreport(p, LOG_LEVEL_ERROR, "service %s: cannot program frontend %s: %s",
				 c->set[i]->svc->service, fe_str(c->set[i], fb, sizeof(fb)), strerror(-r));
			failed[c->set[i] - next->fes] = true;
			n_failed++;
		} else if (debug_wanted(p)) {
			lbreport(p, LOG_LEVEL_DEBUG, "service %s: frontend %s: %zu backends",
				 c->set[i]->svc->service, fe_str(c->set[i], fb, sizeof(fb)),
				 c->set[i]->n_backends);
		}
	}
	for (size_t i = 0; i < c->n_del; i++) {
		struct lb_frontend lfe = to_lb_frontend(c->del[i]);

		r = lb_frontend_delete(p->lb, &lfe);
		if (r < 0 && r != -ENOENT)
			lbreport(p, LOG_LEVEL_ERROR, "service %s: cannot delete frontend %s: %s",
				 c->del[i]->svc->service, fe_str(c->del[i], fb, sizeof(fb)), strerror(-r));
		else if (debug_wanted(p))
			lbreport(p, LOG_LEVEL_DEBUG, "service %s: frontend %s deleted",
				 c->del[i]->svc->service, fe_str(c->del[i], fb, sizeof(fb)));
	}
	return n_failed;
}

/* Leaves what failed out of s, so the next apply programs it again. */
static void drop_failed(struct proxy_state *s, const bool *failed)
{
	size_t w = 0;

	for (size_t i = 0; i < s->n_fes; i++) {
		if (failed[i]) {
			free(s->fes[i].name);
			free(s->fes[i].backends);
			continue;
		}
		s->fes[w++] = s->fes[i];
	}
	s->n_fes = w;
}

int proxy_lb_apply(struct proxy_lb *p, struct proxy_state *next)
{
	struct proxy_state *empty = NULL;
	const struct proxy_state *prev = p->applied;
	struct proxy_changes c = { 0 };
	bool first = !p->applied;
	bool *failed = NULL;
	size_t n_failed;
	int r;

	p->socket_ns = 0;
	p->failed[0] = '\0';
	if (first) {
		r = proxy_state_new_empty(&empty);
		if (r < 0)
			goto out;
		prev = empty;
		r = lb_sync_begin(p->lb);
		if (r < 0) {
			snprintf(p->failed, sizeof(p->failed), "datapath: cannot start the initial sync: ");
			goto out;
		}
	}
	r = proxy_diff(prev, next, NULL, &c);
	if (r < 0)
		goto out;
	failed = calloc(next->n_fes + 1, sizeof(*failed));
	if (!failed) {
		r = -ENOMEM;
		goto out;
	}
	n_failed = program(p, next, &c, failed);
	if (first) {
		r = lb_sync_end(p->lb);
		if (r < 0)
			lbreport(p, LOG_LEVEL_ERROR,
				 "datapath: cannot finish the initial sync (stale frontends may stay "
				 "until the next restart): %s",
				 strerror(-r));
	}
	proxy_report_services(next, &c, p->report, p->report_ud);
	end_sockets(p, &c);
	r = (int)n_failed;
	if (n_failed)
		drop_failed(next, failed);
	proxy_changes_clear(&c);
	proxy_state_free(p->applied);
	p->applied = next;
	next = NULL;
out:
	proxy_changes_clear(&c);
	free(failed);
	proxy_state_free(empty);
	proxy_state_free(next);
	return r;
}

static bool has_conflicts(const struct proxy_state *s)
{
	for (size_t i = 0; i < s->n_svcs; i++)
		if (s->svcs[i]->n_conflicts)
			return true;
	return false;
}

int proxy_lb_apply_services(struct proxy_lb *p, char **keys, size_t n, struct proxy_state *part)
{
	struct proxy_state *old = NULL;
	struct proxy_changes c = { 0 };
	bool *failed = NULL;
	size_t n_failed;
	int r;

	p->socket_ns = 0;
	p->failed[0] = '\0';
	if (!p->applied || has_conflicts(p->applied) || has_conflicts(part)) {
		r = -EAGAIN;
		goto out;
	}
	r = proxy_state_take_services(p->applied, keys, n, part, &old);
	if (r == -EEXIST)
		r = -EAGAIN;
	if (r < 0)
		goto out;
	r = proxy_diff(old, part, p->applied, &c);
	if (r < 0) {
		/* put the services back as they were */
		proxy_state_merge(p->applied, old);
		old = NULL;
		goto out;
	}
	failed = calloc(part->n_fes + 1, sizeof(*failed));
	if (!failed) {
		proxy_changes_clear(&c);
		proxy_state_merge(p->applied, old);
		old = NULL;
		r = -ENOMEM;
		goto out;
	}
	n_failed = program(p, part, &c, failed);
	proxy_report_services(part, &c, p->report, p->report_ud);
	end_sockets(p, &c);
	proxy_changes_clear(&c);
	if (n_failed)
		drop_failed(part, failed);
	r = proxy_state_merge(p->applied, part);
	part = NULL;
	if (r == 0)
		r = (int)n_failed;
out:
	free(failed);
	proxy_state_free(old);
	proxy_state_free(part);
	return r;
}

static const struct proxy_state *mode_applied(const void *m)
{
	return proxy_lb_applied(m);
}

static int mode_apply_services(void *m, char **keys, size_t n, struct proxy_state *part)
{
	return proxy_lb_apply_services(m, keys, n, part);
}

static int mode_apply(void *m, struct proxy_state *next)
{
	return proxy_lb_apply(m, next);
}

static void mode_failed(const void *m, char *buf, size_t size)
{
	const struct proxy_lb *p = m;

	snprintf(buf, size, "%s", p->failed);
}

const struct proxy_mode_ops proxy_lb_mode_ops = {
	.applied = mode_applied,
	.apply_services = mode_apply_services,
	.apply = mode_apply,
	.failed = mode_failed,
};
