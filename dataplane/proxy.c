/* Desired state of the service proxy and the diff of two states. */
#include "dataplane/proxy.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *proxy_kind_name(uint8_t kind)
{
	switch (kind) {
	case PROXY_KIND_CLUSTER_IP:
		return "ClusterIP";
	case PROXY_KIND_EXTERNAL_IP:
		return "ExternalIP";
	case PROXY_KIND_LOAD_BALANCER:
		return "LoadBalancer";
	case PROXY_KIND_NODE_PORT:
		return "NodePort";
	}
	return "?";
}

int proxy_fe_key_cmp(const struct proxy_fe_key *a, const struct proxy_fe_key *b)
{
	int r = ipaddr_cmp(&a->addr, &b->addr);

	if (r)
		return r;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return 0;
}

static int backend_cmp(const struct proxy_backend *a, const struct proxy_backend *b)
{
	int r = ipaddr_cmp(&a->addr, &b->addr);

	if (r)
		return r;
	return a->port == b->port ? 0 : a->port < b->port ? -1 : 1;
}

static int backend_qcmp(const void *a, const void *b)
{
	return backend_cmp(a, b);
}

/* ---- building ---------------------------------------------------------- */

struct slice_ref {
	const struct model_slice *slice; /* with a service_name */
};

struct builder {
	const struct proxy_config *cfg;
	struct slice_ref *slices;
	size_t n_slices, cap_slices;
	struct svc_ref {
		const struct model_service *svc;
	} *svcs;
	size_t n_svcs, cap_svcs;
	struct proxy_state *st;
	size_t cap_fes;
};

static int collect_slice(const struct model_slice *s, const char *origin, void *ud)
{
	struct builder *b = ud;
	struct slice_ref *ref;

	(void)origin;
	if (!s->service_name || s->family == 0)
		return 0;
	if (b->n_slices == b->cap_slices) {
		size_t n = b->cap_slices ? b->cap_slices * 2 : 64;
		struct slice_ref *p = realloc(b->slices, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->slices = p;
		b->cap_slices = n;
	}
	ref = &b->slices[b->n_slices];
	ref->slice = s;
	b->n_slices++;
	return 0;
}

static int collect_service(const struct model_service *s, const char *origin, void *ud)
{
	struct builder *b = ud;
	struct svc_ref *ref;

	(void)origin;
	if (b->n_svcs == b->cap_svcs) {
		size_t n = b->cap_svcs ? b->cap_svcs * 2 : 64;
		struct svc_ref *p = realloc(b->svcs, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->svcs = p;
		b->cap_svcs = n;
	}
	ref = &b->svcs[b->n_svcs];
	ref->svc = s;
	b->n_svcs++;
	return 0;
}

/* strcmp of the texts "a1/a2" and "b1/b2", without building them (at
 * 10,000 Services a sync built 20,000 such strings to sort by). */
static int joined_cmp(const char *a1, const char *a2, const char *b1, const char *b2)
{
	const char *pa[] = { a1, "/", a2 }, *pb[] = { b1, "/", b2 };
	const char *x = a1, *y = b1;
	size_t ia = 0, ib = 0;

	for (;; x++, y++) {
		while (!*x && ia < 2)
			x = pa[++ia];
		while (!*y && ib < 2)
			y = pb[++ib];
		if (*x != *y || !*x)
			return (unsigned char)*x - (unsigned char)*y;
	}
}

/* A slice against a service: "ns/service" against "ns/name". */
static int slice_svc_cmp(const struct model_slice *sl, const struct model_service *svc)
{
	return joined_cmp(sl->ns, sl->service_name, svc->ns, svc->name);
}

static int slice_ref_cmp(const void *a, const void *b)
{
	const struct model_slice *x = ((const struct slice_ref *)a)->slice;
	const struct model_slice *y = ((const struct slice_ref *)b)->slice;
	int r = joined_cmp(x->ns, x->service_name, y->ns, y->service_name);

	return r ? r : strcmp(x->name, y->name);
}

/* Services and slices are ordered by their "ns/name" text, the order of
 * the summaries too, so the three can be walked and searched together. */
static int svc_ref_cmp(const void *a, const void *b)
{
	const struct model_service *x = ((const struct svc_ref *)a)->svc;
	const struct model_service *y = ((const struct svc_ref *)b)->svc;

	return joined_cmp(x->ns, x->name, y->ns, y->name);
}

/* A candidate endpoint for one service port and family. */
struct cand {
	struct ipaddr addr;
	uint16_t port;
	bool ready, serving, terminating, local;
};

static int cand_rank(const struct cand *c)
{
	if (c->ready)
		return 2;
	if (c->serving && c->terminating)
		return 1;
	return 0;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = ipaddr_cmp(&x->addr, &y->addr);

	if (r)
		return r;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	/* best first, so de-duplication keeps it */
	return cand_rank(y) - cand_rank(x);
}

/* The endpoints of slices [first, last) for a service port and family,
 * sorted and de-duplicated into *out. */
static int gather(const struct builder *b, size_t first, size_t last,
		  const struct model_service_port *sp, int family, struct cand **out, size_t *n_out)
{
	struct cand *c = NULL;
	size_t n = 0, cap = 0, w;

	for (size_t i = first; i < last; i++) {
		const struct model_slice *s = b->slices[i].slice;
		const struct model_slice_port *port = NULL;

		if (s->family != family)
			continue;
		for (size_t j = 0; j < s->n_ports; j++)
			if (streq(s->ports[j].name, sp->name) && s->ports[j].proto == sp->proto &&
			    s->ports[j].port) {
				port = &s->ports[j];
				break;
			}
		if (!port)
			continue;
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const struct model_endpoint *ep = &s->endpoints[j];

			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct cand *p = realloc(c, nc * sizeof(*p));

				if (!p) {
					free(c);
					return -ENOMEM;
				}
				c = p;
				cap = nc;
			}
			c[n++] = (struct cand){
				.addr = ep->addr,
				.port = port->port,
				.ready = ep->ready,
				.serving = ep->serving,
				.terminating = ep->terminating,
				.local = b->cfg->node_name && streq(ep->node_name, b->cfg->node_name),
			};
		}
	}
	if (n)
		qsort(c, n, sizeof(*c), cand_cmp);
	/* Sorted best first within an address and port: keep the first. */
	w = 0;
	for (size_t r = 0; r < n; r++) {
		if (w > 0 && ipaddr_cmp(&c[w - 1].addr, &c[r].addr) == 0 &&
		    c[w - 1].port == c[r].port) {
			c[w - 1].local |= c[r].local;
			continue;
		}
		c[w++] = c[r];
	}
	n = w;
	*out = c;
	*n_out = n;
	return 0;
}

/* Backends for one frontend class: only local endpoints when local_only;
 * ready ones active, else serving-terminating ones as fallback; the rest
 * quarantined. */
static int pick(const struct cand *c, size_t n, bool local_only, struct proxy_backend **out,
		size_t *n_out)
{
	struct proxy_backend *be = calloc(n + 1, sizeof(*be));
	bool any_ready = false;
	size_t m = 0;

	if (!be)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((!local_only || c[i].local) && c[i].ready)
			any_ready = true;
	for (size_t i = 0; i < n; i++) {
		uint8_t state;

		if (local_only && !c[i].local)
			continue;
		if (any_ready)
			state = c[i].ready ? PROXY_BACKEND_ACTIVE : PROXY_BACKEND_QUARANTINED;
		else
			state = c[i].serving && c[i].terminating ? PROXY_BACKEND_TERMINATING
								 : PROXY_BACKEND_QUARANTINED;
		be[m++] = (struct proxy_backend){ .addr = c[i].addr, .port = c[i].port, .state = state };
	}
	*out = be;
	*n_out = m;
	return 0;
}

static int add_frontend(struct builder *b, struct proxy_summary *sum, const struct model_service *s,
			const struct model_service_port *sp, const struct ipaddr *addr,
			uint16_t port, uint8_t kind, bool local, const struct proxy_backend *be,
			size_t n_be)
{
	struct proxy_state *st = b->st;
	struct proxy_frontend *fe;
	int len;

	if (st->n_fes == b->cap_fes) {
		size_t n = b->cap_fes ? b->cap_fes * 2 : 64;
		struct proxy_frontend *p = realloc(st->fes, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		st->fes = p;
		b->cap_fes = n;
	}
	fe = &st->fes[st->n_fes];
	*fe = (struct proxy_frontend){
		.key = { .addr = *addr, .port = port, .proto = sp->proto, .kind = kind },
		.svc = sum,
		.affinity_timeout = s->affinity_timeout,
		.algorithm = s->algorithm == MODEL_ALG_DEFAULT ? b->cfg->default_algorithm : s->algorithm,
		.flags = local ? PROXY_F_LOCAL : 0,
	};
	if (fe->algorithm == MODEL_ALG_DEFAULT)
		fe->algorithm = MODEL_ALG_RANDOM;
	/* One allocation: the backends, then the name. */
	if (*sp->name)
		len = snprintf(NULL, 0, "%s/%s:%s", s->ns, s->name, sp->name);
	else
		len = snprintf(NULL, 0, "%s/%s:%u", s->ns, s->name, sp->port);
	fe->backends = malloc(n_be * sizeof(*be) + (size_t)len + 1);
	if (!fe->backends)
		return -ENOMEM;
	fe->name = (char *)&fe->backends[n_be];
	if (*sp->name)
		sprintf(fe->name, "%s/%s:%s", s->ns, s->name, sp->name);
	else
		sprintf(fe->name, "%s/%s:%u", s->ns, s->name, sp->port);
	if (n_be)
		memcpy(fe->backends, be, n_be * sizeof(*be));
	fe->n_backends = n_be;
	st->n_fes++;
	sum->n_frontends++;
	return 0;
}

static bool service_has_family(const struct model_service *s, int family)
{
	if (s->n_cluster_ips == 0)
		return true;
	for (size_t i = 0; i < s->n_cluster_ips; i++)
		if (s->cluster_ips[i].family == family)
			return true;
	return false;
}

/* Counts distinct endpoint addresses of the service by their best state. */
struct seen {
	struct proxy_backend *v;
	size_t n, cap;
};

static int seen_add(struct seen *sn, const struct proxy_backend *be, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (sn->n == sn->cap) {
			size_t c = sn->cap ? sn->cap * 2 : 16;
			struct proxy_backend *p = realloc(sn->v, c * sizeof(*p));

			if (!p)
				return -ENOMEM;
			sn->v = p;
			sn->cap = c;
		}
		sn->v[sn->n++] = be[i];
	}
	return 0;
}

static void seen_count(struct seen *sn, struct proxy_summary *sum)
{
	if (!sn->n)
		return;
	qsort(sn->v, sn->n, sizeof(*sn->v), backend_qcmp);
	for (size_t i = 0; i < sn->n;) {
		uint8_t best = sn->v[i].state;
		size_t j = i + 1;

		/* An endpoint is an address: its ports count once. */
		for (; j < sn->n && ipaddr_cmp(&sn->v[i].addr, &sn->v[j].addr) == 0; j++)
			if (sn->v[j].state < best)
				best = sn->v[j].state;
		if (best == PROXY_BACKEND_ACTIVE)
			sum->n_ready++;
		else if (best == PROXY_BACKEND_TERMINATING)
			sum->n_fallback++;
		else
			sum->n_quarantined++;
		i = j;
	}
}

static int build_service(struct builder *b, const struct model_service *s, size_t first, size_t last)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct proxy_summary *sum;
	struct seen sn = { 0 };
	int r = 0;

	/* One allocation: the summary, then its "ns/name". */
	sum = calloc(1, sizeof(*sum) + strlen(s->ns) + 1 + strlen(s->name) + 1);
	if (!sum)
		return -ENOMEM;
	sum->service = (char *)&sum[1];
	sprintf(sum->service, "%s/%s", s->ns, s->name);
	b->st->svcs[b->st->n_svcs++] = sum;
	if (s->type == MODEL_SVC_EXTERNAL_NAME || s->headless)
		return 0;

	for (size_t p = 0; p < s->n_ports && r == 0; p++) {
		const struct model_service_port *sp = &s->ports[p];

		if (sp->proto == MODEL_PROTO_SCTP) {
			sum->sctp_skipped = true;
			continue;
		}
		for (size_t f = 0; f < ARRAY_SIZE(families) && r == 0; f++) {
			int fam = families[f];
			struct proxy_backend *cl = NULL, *ex = NULL;
			size_t n_cl = 0, n_ex = 0, n_c = 0;
			struct cand *c = NULL;
			bool node_port = sp->node_port && (s->type == MODEL_SVC_NODE_PORT ||
							   s->type == MODEL_SVC_LOAD_BALANCER);

			r = gather(b, first, last, sp, fam, &c, &n_c);
			if (r == 0)
				r = pick(c, n_c, s->internal_local, &cl, &n_cl);
			if (r == 0)
				r = pick(c, n_c, s->external_local, &ex, &n_ex);
			free(c);
			for (size_t i = 0; r == 0 && i < s->n_cluster_ips; i++) {
				if (s->cluster_ips[i].family != fam)
					continue;
				r = add_frontend(b, sum, s, sp, &s->cluster_ips[i], sp->port,
						 PROXY_KIND_CLUSTER_IP, s->internal_local, cl, n_cl);
				if (r == 0)
					r = seen_add(&sn, cl, n_cl);
			}
			for (size_t i = 0; r == 0 && i < s->n_external_ips; i++)
				if (s->external_ips[i].family == fam)
					r = add_frontend(b, sum, s, sp, &s->external_ips[i], sp->port,
							 PROXY_KIND_EXTERNAL_IP, s->external_local, ex,
							 n_ex);
			for (size_t i = 0; r == 0 && s->type == MODEL_SVC_LOAD_BALANCER && i < s->n_lb_ips;
			     i++)
				if (s->lb_ips[i].family == fam)
					r = add_frontend(b, sum, s, sp, &s->lb_ips[i], sp->port,
							 PROXY_KIND_LOAD_BALANCER, s->external_local, ex,
							 n_ex);
			if (r == 0 && node_port && service_has_family(s, fam)) {
				if (b->cfg->n_node_addrs == 0) {
					struct ipaddr any = { .family = fam };

					r = add_frontend(b, sum, s, sp, &any, sp->node_port,
							 PROXY_KIND_NODE_PORT, s->external_local, ex, n_ex);
				}
				for (size_t i = 0; r == 0 && i < b->cfg->n_node_addrs; i++)
					if (b->cfg->node_addrs[i].family == fam)
						r = add_frontend(b, sum, s, sp, &b->cfg->node_addrs[i],
								 sp->node_port, PROXY_KIND_NODE_PORT,
								 s->external_local, ex, n_ex);
			}
			if (r == 0 && (s->n_external_ips || s->n_lb_ips || node_port))
				r = seen_add(&sn, ex, n_ex);
			free(cl);
			free(ex);
		}
	}
	if (r == 0)
		seen_count(&sn, sum);
	free(sn.v);
	return r;
}

static int fe_qcmp(const void *a, const void *b)
{
	const struct proxy_frontend *x = a, *y = b;
	int r = proxy_fe_key_cmp(&x->key, &y->key);

	/* Same frontend claimed twice: the service first by name wins. */
	return r ? r : strcmp(x->svc->service, y->svc->service);
}

static void frontend_clear(struct proxy_frontend *fe)
{
	free(fe->backends); /* and the name, in its allocation */
}

int proxy_state_new_empty(struct proxy_state **out)
{
	struct proxy_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

void proxy_state_free(struct proxy_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_fes; i++)
		frontend_clear(&s->fes[i]);
	free(s->fes);
	for (size_t i = 0; i < s->n_svcs; i++)
		free(s->svcs[i]); /* and its service name */
	free(s->svcs);
	free(s);
}

static void builder_clear(struct builder *b)
{
	free(b->slices);
	free(b->svcs);
	b->slices = NULL;
	b->svcs = NULL;
	b->n_slices = b->n_svcs = 0;
}

/* Sorts the frontends (a frontend two services claim goes to the first by
 * name) and every backend list. */
static void state_finish(struct proxy_state *st)
{
	size_t i, w;

	if (st->n_fes)
		qsort(st->fes, st->n_fes, sizeof(*st->fes), fe_qcmp);
	for (i = 0, w = 0; i < st->n_fes; i++) {
		if (w > 0 && proxy_fe_key_cmp(&st->fes[w - 1].key, &st->fes[i].key) == 0) {
			st->fes[i].svc->n_conflicts++;
			st->fes[i].svc->n_frontends--;
			frontend_clear(&st->fes[i]);
			continue;
		}
		st->fes[w++] = st->fes[i];
	}
	st->n_fes = w;
	if (w) { /* the state is kept until the next sync: give back the doubling's slack */
		struct proxy_frontend *fit = realloc(st->fes, w * sizeof(*st->fes));

		if (fit)
			st->fes = fit;
	}
	for (i = 0; i < st->n_fes; i++) {
		struct proxy_frontend *fe = &st->fes[i];

		if (fe->n_backends > 1)
			qsort(fe->backends, fe->n_backends, sizeof(*fe->backends), backend_qcmp);
	}
}

int proxy_compute(const struct model_store *st, const struct proxy_config *cfg,
		  struct proxy_state **out)
{
	struct builder b = { .cfg = cfg };
	size_t i, si = 0;
	int r;

	r = proxy_state_new_empty(&b.st);
	if (r < 0)
		return r;
	r = model_store_foreach_slice(st, collect_slice, &b);
	if (r == 0)
		r = model_store_foreach_service(st, collect_service, &b);
	if (r < 0)
		goto out;
	if (b.n_slices)
		qsort(b.slices, b.n_slices, sizeof(*b.slices), slice_ref_cmp);
	if (b.n_svcs)
		qsort(b.svcs, b.n_svcs, sizeof(*b.svcs), svc_ref_cmp);
	b.st->svcs = calloc(b.n_svcs + 1, sizeof(*b.st->svcs));
	if (!b.st->svcs) {
		r = -ENOMEM;
		goto out;
	}
	/* Services and slice groups are both sorted by "ns/name": walk them
	 * together. */
	for (i = 0; i < b.n_svcs && r == 0; i++) {
		const struct model_service *svc = b.svcs[i].svc;
		size_t first, last;

		while (si < b.n_slices && slice_svc_cmp(b.slices[si].slice, svc) < 0)
			si++;
		first = si;
		last = first;
		while (last < b.n_slices && slice_svc_cmp(b.slices[last].slice, svc) == 0)
			last++;
		r = build_service(&b, b.svcs[i].svc, first, last);
	}
	if (r == 0)
		state_finish(b.st);
out:
	builder_clear(&b);
	if (r < 0) {
		proxy_state_free(b.st);
		return r;
	}
	*out = b.st;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int proxy_compute_services(const struct model_store *st, const struct proxy_config *cfg,
			   char **keys, size_t n, struct proxy_state **out)
{
	struct builder b = { .cfg = cfg };
	int r;

	r = proxy_state_new_empty(&b.st);
	if (r < 0)
		return r;
	if (n)
		qsort(keys, n, sizeof(*keys), key_cmp);
	b.st->svcs = calloc(n + 1, sizeof(*b.st->svcs));
	if (!b.st->svcs)
		r = -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct model_service *s;
		char ns[256];
		const char *slash = strchr(keys[i], '/');

		if (!slash || (size_t)(slash - keys[i]) >= sizeof(ns))
			continue;
		memcpy(ns, keys[i], (size_t)(slash - keys[i]));
		ns[slash - keys[i]] = '\0';
		s = model_store_get_service(st, ns, slash + 1);
		if (!s)
			continue; /* deleted: it has no frontends */
		b.n_slices = 0;
		r = model_store_foreach_slice_of(st, ns, slash + 1, collect_slice, &b);
		if (r < 0)
			break;
		if (b.n_slices > 1)
			qsort(b.slices, b.n_slices, sizeof(*b.slices), slice_ref_cmp);
		r = build_service(&b, s, 0, b.n_slices);
	}
	if (r == 0)
		state_finish(b.st);
	builder_clear(&b);
	if (r < 0) {
		proxy_state_free(b.st);
		return r;
	}
	*out = b.st;
	return 0;
}

static bool key_listed(char *const *keys, size_t n, const char *service)
{
	return n && bsearch(&service, keys, n, sizeof(*keys), key_cmp);
}

int proxy_state_take_services(struct proxy_state *applied, char *const *keys, size_t n,
			      const struct proxy_state *part, struct proxy_state **taken)
{
	struct proxy_state *old;
	size_t w = 0, ws = 0;
	int r;

	/* A frontend of part held by a service outside keys: a conflict that
	 * only a full computation resolves. */
	for (size_t i = 0; i < part->n_fes; i++) {
		const struct proxy_frontend *f = proxy_state_find(applied, &part->fes[i].key);

		if (f && !key_listed(keys, n, f->svc->service))
			return -EEXIST;
	}
	r = proxy_state_new_empty(&old);
	if (r < 0)
		return r;
	old->fes = calloc(applied->n_fes + 1, sizeof(*old->fes));
	old->svcs = calloc(applied->n_svcs + 1, sizeof(*old->svcs));
	if (!old->fes || !old->svcs) {
		proxy_state_free(old);
		return -ENOMEM;
	}
	for (size_t i = 0; i < applied->n_fes; i++) {
		if (key_listed(keys, n, applied->fes[i].svc->service))
			old->fes[old->n_fes++] = applied->fes[i];
		else
			applied->fes[w++] = applied->fes[i];
	}
	applied->n_fes = w;
	for (size_t i = 0; i < applied->n_svcs; i++) {
		if (key_listed(keys, n, applied->svcs[i]->service))
			old->svcs[old->n_svcs++] = applied->svcs[i];
		else
			applied->svcs[ws++] = applied->svcs[i];
	}
	applied->n_svcs = ws;
	*taken = old;
	return 0;
}

static int summary_ptr_cmp(const struct proxy_summary *a, const struct proxy_summary *b)
{
	return strcmp(a->service, b->service);
}

int proxy_state_merge(struct proxy_state *applied, struct proxy_state *part)
{
	struct proxy_frontend *fes;
	struct proxy_summary **svcs;
	size_t i = 0, j = 0, n = 0;

	fes = malloc((applied->n_fes + part->n_fes + 1) * sizeof(*fes));
	svcs = malloc((applied->n_svcs + part->n_svcs + 1) * sizeof(*svcs));
	if (!fes || !svcs) {
		free(fes);
		free(svcs);
		proxy_state_free(part);
		return -ENOMEM;
	}
	while (i < applied->n_fes || j < part->n_fes) {
		if (j == part->n_fes ||
		    (i < applied->n_fes && proxy_fe_key_cmp(&applied->fes[i].key, &part->fes[j].key) < 0))
			fes[n++] = applied->fes[i++];
		else
			fes[n++] = part->fes[j++];
	}
	free(applied->fes);
	applied->fes = fes;
	applied->n_fes = n;
	i = j = n = 0;
	while (i < applied->n_svcs || j < part->n_svcs) {
		if (j == part->n_svcs ||
		    (i < applied->n_svcs && summary_ptr_cmp(applied->svcs[i], part->svcs[j]) < 0))
			svcs[n++] = applied->svcs[i++];
		else
			svcs[n++] = part->svcs[j++];
	}
	free(applied->svcs);
	applied->svcs = svcs;
	applied->n_svcs = n;
	/* part's contents now belong to applied */
	free(part->fes);
	free(part->svcs);
	free(part);
	return 0;
}

const struct proxy_frontend *proxy_state_find(const struct proxy_state *s,
					      const struct proxy_fe_key *key)
{
	size_t lo = 0, hi = s->n_fes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = proxy_fe_key_cmp(&s->fes[mid].key, key);

		if (c == 0)
			return &s->fes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void proxy_summary_format(const struct proxy_summary *sum, char *buf, size_t size)
{
	size_t total = sum->n_ready + sum->n_fallback;
	int n;

	n = snprintf(buf, size, "%zu backend%s (%zu ready", total, total == 1 ? "" : "s",
		     sum->n_ready);
	if (sum->n_fallback && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %zu terminating-fallback", sum->n_fallback);
	if (sum->n_quarantined && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %zu not ready", sum->n_quarantined);
	if (n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "), %zu frontend%s", sum->n_frontends,
			 sum->n_frontends == 1 ? "" : "s");
}

/* ---- diff -------------------------------------------------------------- */

bool proxy_frontend_equal(const struct proxy_frontend *a, const struct proxy_frontend *b)
{
	if (proxy_fe_key_cmp(&a->key, &b->key) || !streq(a->name, b->name) ||
	    a->affinity_timeout != b->affinity_timeout || a->algorithm != b->algorithm ||
	    a->flags != b->flags || a->n_backends != b->n_backends)
		return false;
	for (size_t i = 0; i < a->n_backends; i++)
		if (backend_cmp(&a->backends[i], &b->backends[i]) ||
		    a->backends[i].state != b->backends[i].state)
			return false;
	return true;
}

void proxy_changes_clear(struct proxy_changes *c)
{
	free(c->set);
	free(c->del);
	free(c->removed);
	*c = (struct proxy_changes){ 0 };
}

/* Does fe list the backend (address and port)? Backends are sorted. */
static bool fe_has_backend(const struct proxy_frontend *fe, const struct proxy_backend *be)
{
	size_t lo = 0, hi = fe->n_backends;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = backend_cmp(&fe->backends[mid], be);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool state_uses_backend(const struct proxy_state *s, const struct proxy_backend *be,
			       uint8_t proto)
{
	if (!s)
		return false;
	for (size_t i = 0; i < s->n_fes; i++)
		if (s->fes[i].key.proto == proto && fe_has_backend(&s->fes[i], be))
			return true;
	return false;
}

int proxy_diff(const struct proxy_state *prev, const struct proxy_state *next,
	       const struct proxy_state *rest, struct proxy_changes *out)
{
	struct proxy_changes c = { 0 };
	size_t i = 0, j = 0;

	c.set = calloc(next->n_fes + 1, sizeof(*c.set));
	c.del = calloc(prev->n_fes + 1, sizeof(*c.del));
	if (!c.set || !c.del)
		goto nomem;
	while (i < prev->n_fes || j < next->n_fes) {
		int cmp = i == prev->n_fes   ? 1
			  : j == next->n_fes ? -1
					     : proxy_fe_key_cmp(&prev->fes[i].key, &next->fes[j].key);

		if (cmp < 0) {
			c.del[c.n_del++] = &prev->fes[i++];
		} else if (cmp > 0) {
			c.set[c.n_set++] = &next->fes[j++];
		} else {
			if (!proxy_frontend_equal(&prev->fes[i], &next->fes[j]))
				c.set[c.n_set++] = &next->fes[j];
			i++, j++;
		}
	}

	/* A backend that left a changed or deleted frontend, and that no
	 * frontend of next (or rest) has any more. */
	for (i = 0; i < prev->n_fes; i++) {
		const struct proxy_frontend *old = &prev->fes[i];
		const struct proxy_frontend *now = proxy_state_find(next, &old->key);

		if (now && proxy_frontend_equal(old, now))
			continue;
		for (j = 0; j < old->n_backends; j++) {
			const struct proxy_backend *be = &old->backends[j];
			uint8_t proto = old->key.proto;
			bool dup = false;

			if (now && fe_has_backend(now, be))
				continue;
			for (size_t m = 0; m < c.n_removed && !dup; m++)
				dup = backend_cmp(&c.removed[m].be, be) == 0 && c.removed[m].proto == proto;
			if (dup || state_uses_backend(next, be, proto) || state_uses_backend(rest, be, proto))
				continue;
			struct proxy_removed *p = realloc(c.removed, (c.n_removed + 1) * sizeof(*p));
			if (!p)
				goto nomem;
			c.removed = p;
			c.removed[c.n_removed++] = (struct proxy_removed){
				.be = *be, .proto = proto, .name = old->name };
			c.removed[c.n_removed - 1].be.state = 0;
		}
	}
	*out = c;
	return 0;
nomem:
	proxy_changes_clear(&c);
	return -ENOMEM;
}

/* ---- logging ------------------------------------------------------------ */

static int summary_qcmp(const void *a, const void *b)
{
	const struct proxy_summary *x = *(const struct proxy_summary *const *)a;
	const struct proxy_summary *y = *(const struct proxy_summary *const *)b;

	return strcmp(x->service, y->service);
}

static const struct proxy_summary *find_summary(const struct proxy_state *s, const char *service)
{
	struct proxy_summary key = { .service = (char *)service }, *kp = &key;
	struct proxy_summary **found;

	if (!s->n_svcs)
		return NULL;
	found = bsearch(&kp, s->svcs, s->n_svcs, sizeof(*s->svcs), summary_qcmp);
	return found ? *found : NULL;
}

void proxy_report_services(const struct proxy_state *now, const struct proxy_changes *c,
			   log_report_fn report, void *ud)
{
	_cleanup_free_ const struct proxy_summary **v = calloc(c->n_set + c->n_del + 1, sizeof(*v));
	size_t n = 0;
	char buf[200];

	if (!v)
		return;
	for (size_t i = 0; i < c->n_set; i++)
		v[n++] = c->set[i]->svc;
	if (n)
		qsort(v, n, sizeof(*v), summary_qcmp);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_summary *sum = v[i];

		if (i > 0 && streq(v[i - 1]->service, sum->service))
			continue;
		proxy_summary_format(sum, buf, sizeof(buf));
		report_msg(report, ud, LOG_LEVEL_INFO, "service %s: %s", sum->service, buf);
		if (sum->sctp_skipped)
			report_msg(report, ud, LOG_LEVEL_WARN, "service %s: SCTP ports are not load-balanced",
				   sum->service);
		if (sum->n_conflicts)
			report_msg(report, ud, LOG_LEVEL_WARN,
				   "service %s: %zu frontend%s already claimed by another service",
				   sum->service, sum->n_conflicts, sum->n_conflicts == 1 ? "" : "s");
	}
	n = 0;
	for (size_t i = 0; i < c->n_del; i++)
		v[n++] = c->del[i]->svc;
	if (n)
		qsort(v, n, sizeof(*v), summary_qcmp);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_summary *sum;

		if (i > 0 && streq(v[i - 1]->service, v[i]->service))
			continue;
		sum = find_summary(now, v[i]->service);
		if (!sum || !sum->n_frontends)
			report_msg(report, ud, LOG_LEVEL_INFO, "service %s: removed", v[i]->service);
	}
}

static void keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* "<what the kernel refused>: " after a failed apply, or "". */
static const char *mode_failed(const struct proxy_mode_ops *mode, const void *m, char *buf,
			       size_t size)
{
	buf[0] = '\0';
	if (mode->failed)
		mode->failed(m, buf, size);
	return buf;
}

/* The changed services keys[] only; -EAGAIN when a full sync is needed. */
static int sync_services(const struct proxy_mode_ops *mode, void *m, struct model_store *st,
			 const struct proxy_config *cfg, char **keys, size_t n,
			 struct proxy_sync_report *rep, char *err, size_t errlen)
{
	unsigned long long t0 = now_ns(), t1;
	struct proxy_state *part = NULL;
	char failed[330];
	int r;

	r = proxy_compute_services(st, cfg, keys, n, &part);
	t1 = now_ns();
	if (r == 0)
		r = mode->apply_services(m, keys, n, part);
	rep->compute_ns = t1 - t0;
	rep->apply_ns = now_ns() - t1;
	rep->n_changed = n;
	if (r < 0 && r != -EAGAIN)
		return set_err(err, errlen, r, "cannot apply the changed services: %s%s",
			       mode_failed(mode, m, failed, sizeof(failed)), strerror(-r));
	return r;
}

/* Everything. */
static int sync_all(const struct proxy_mode_ops *mode, void *m, struct model_store *st,
		    const struct proxy_config *cfg, struct proxy_sync_report *rep, char *err,
		    size_t errlen)
{
	unsigned long long t0 = now_ns(), t1;
	struct proxy_state *next = NULL;
	char failed[330];
	int r;

	rep->full = true;
	r = proxy_compute(st, cfg, &next);
	if (r < 0)
		return set_err(err, errlen, r, "cannot compute the desired state: %s", strerror(-r));
	t1 = now_ns();
	r = mode->apply(m, next);
	rep->compute_ns = t1 - t0;
	rep->apply_ns = now_ns() - t1;
	if (r < 0)
		return set_err(err, errlen, r, "cannot apply the desired state: %s%s",
			       mode_failed(mode, m, failed, sizeof(failed)), strerror(-r));
	return r;
}

int proxy_mode_sync(const struct proxy_mode_ops *mode, void *m, struct model_store *st,
		    const struct proxy_config *cfg, bool force_full, struct proxy_sync_report *rep,
		    char *err, size_t errlen)
{
	char **keys = NULL;
	size_t n = 0;
	bool all;
	int r;

	*rep = (struct proxy_sync_report){ 0 };
	if (model_store_take_dirty(st, &keys, &n, &all) < 0)
		all = true, keys = NULL, n = 0;
	r = -EAGAIN;
	if (!all && !force_full && mode->applied(m))
		r = sync_services(mode, m, st, cfg, keys, n, rep, err, errlen);
	keys_free(keys, n);
	if (r == -EAGAIN)
		r = sync_all(mode, m, st, cfg, rep, err, errlen);
	if (mode->applied(m))
		rep->n_fes = mode->applied(m)->n_fes;
	return r;
}
