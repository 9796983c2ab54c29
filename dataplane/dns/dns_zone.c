/* The cluster zone computed from the model store (see dns.h for the
 * records): a pure function of the store, into a hash table by owner name
 * (the name's lower-case wire form), so that answering is one lookup. */
#include "dataplane/dns/dns_int.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SOA_REFRESH 7200
#define SOA_RETRY 1800
#define SOA_EXPIRE 86400

/* FNV-1a over the lower-case wire form. */
uint32_t dns_hash(const uint8_t *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

size_t dns_name_key(const ldns_rdf *name, uint8_t *key)
{
	size_t n = ldns_rdf_size(name);
	const uint8_t *d = ldns_rdf_data(name);

	if (n > LDNS_MAX_DOMAINLEN + 1)
		n = LDNS_MAX_DOMAINLEN + 1;
	for (size_t i = 0; i < n; i++)
		key[i] = dns_lower(d[i]);
	return n;
}

bool dns_key_under(const uint8_t *key, size_t n, const uint8_t *parent, size_t pn)
{
	/* from label to label, until what is left is as long as parent */
	for (size_t off = 0; off < n && n - off >= pn; off += 1 + (size_t)key[off]) {
		if (n - off == pn)
			return memcmp(key + off, parent, pn) == 0;
		if (!key[off])
			break;
	}
	return false;
}

const struct dns_node *dns_zone_find(const struct dns_zone *z, const ldns_rdf *name)
{
	uint8_t key[LDNS_MAX_DOMAINLEN + 1];
	size_t n = dns_name_key(name, key);

	return dns_zone_find_key(z, key, n);
}

const struct dns_node *dns_zone_find_key(const struct dns_zone *z, const uint8_t *key, size_t n)
{
	uint32_t h = dns_hash(key, n);

	for (const struct dns_node *x = z->buckets[h & z->mask]; x; x = x->next)
		if (x->hash == h && x->klen == n && memcmp(x->key, key, n) == 0)
			return x;
	return NULL;
}

/* Twice the buckets when names outnumber them twice (a zone that started
 * small and grew through updates); on failure the chains just grow. */
static void nodes_grow(struct dns_zone *z)
{
	size_t n = (z->mask + 1) * 2;
	struct dns_node **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i <= z->mask; i++)
		for (struct dns_node *x = z->buckets[i], *next; x; x = next) {
			next = x->next;
			x->next = b[x->hash & (n - 1)];
			b[x->hash & (n - 1)] = x;
		}
	free(z->buckets);
	z->buckets = b;
	z->mask = n - 1;
}

static struct dns_node *node_get_key(struct dns_zone *z, const uint8_t *key, size_t n)
{
	struct dns_node *x = (struct dns_node *)dns_zone_find_key(z, key, n);
	uint32_t h;

	if (x)
		return x;
	if (z->n_names >= 2 * (z->mask + 1))
		nodes_grow(z);
	x = calloc(1, sizeof(*x));
	if (!x || !(x->rrs = ldns_rr_list_new())) {
		free(x);
		return NULL;
	}
	x->klen = (uint8_t)n;
	memcpy(x->key, key, n);
	h = x->hash = dns_hash(x->key, x->klen);
	x->next = z->buckets[h & z->mask];
	z->buckets[h & z->mask] = x;
	z->n_names++;
	return x;
}

static void node_free(struct dns_zone *z, struct dns_node *x)
{
	struct dns_node **pp = &z->buckets[x->hash & z->mask];

	while (*pp != x)
		pp = &(*pp)->next;
	*pp = x->next;
	ldns_rr_list_deep_free(x->rrs);
	free(x);
	z->n_names--;
}

/* Counts a record at key in its node and every ancestor up to the apex
 * (created as needed: empty non-terminals answer NODATA, not NXDOMAIN);
 * a name outside the zone (a reverse name) only in its own node. Returns
 * the record's node. */
static struct dns_node *refs_add(struct dns_zone *z, const uint8_t *key, size_t n)
{
	bool in_zone = dns_key_under(key, n, z->apex_key, z->apex_klen);
	struct dns_node *own = NULL;

	for (size_t off = 0; off < n; off += 1 + (size_t)key[off]) {
		struct dns_node *x = node_get_key(z, key + off, n - off);

		if (!x)
			return NULL; /* out of memory: counts above stay low, never freed early */
		x->refs++;
		if (!own)
			own = x;
		if (!in_zone || n - off == z->apex_klen)
			break;
	}
	return own;
}

/* Undoes refs_add: a name nothing is at or below any more goes. */
static void refs_sub(struct dns_zone *z, const uint8_t *name_key, size_t n)
{
	uint8_t key[LDNS_MAX_DOMAINLEN + 1];
	bool in_zone;

	memcpy(key, name_key, n); /* it may be the key of a node that goes */
	in_zone = dns_key_under(key, n, z->apex_key, z->apex_klen);

	for (size_t off = 0; off < n; off += 1 + (size_t)key[off]) {
		struct dns_node *x = (struct dns_node *)dns_zone_find_key(z, key + off, n - off);
		bool last = !in_zone || n - off == z->apex_klen;

		if (x && --x->refs == 0)
			node_free(z, x);
		if (last)
			break;
	}
}

/* What one Service put in the zone, to take out when it changes. */
struct dns_contrib {
	struct dns_contrib *next;
	uint32_t hash;
	char *key; /* "ns/name" */
	struct dns_item {
		struct dns_node *node;
		ldns_rr *rr;
	} *items;
	size_t n, cap;
};

static struct dns_contrib **contrib_slot(struct dns_zone *z, const char *key)
{
	uint32_t h = dns_hash((const uint8_t *)key, strlen(key));
	struct dns_contrib **pp = &z->contribs[h & z->contrib_mask];

	while (*pp && !((*pp)->hash == h && strcmp((*pp)->key, key) == 0))
		pp = &(*pp)->next;
	return pp;
}

/* Takes every record of the contribution at *pp out of the zone. */
static void contrib_remove(struct dns_zone *z, struct dns_contrib **pp)
{
	struct dns_contrib *c = *pp;

	for (size_t i = c->n; i-- > 0;) {
		struct dns_node *x = c->items[i].node;
		size_t cnt = ldns_rr_list_rr_count(x->rrs);

		for (size_t j = 0; j < cnt; j++)
			if (ldns_rr_list_rr(x->rrs, j) == c->items[i].rr) {
				ldns_rr_list_set_rr(x->rrs, ldns_rr_list_rr(x->rrs, cnt - 1), j);
				ldns_rr_list_set_rr_count(x->rrs, cnt - 1);
				break;
			}
		ldns_rr_free(c->items[i].rr);
		z->n_records--;
		refs_sub(z, x->key, x->klen);
	}
	*pp = c->next;
	free(c->items);
	free(c->key);
	free(c);
}

static void contribs_grow(struct dns_zone *z)
{
	size_t n = (z->contrib_mask + 1) * 2;
	struct dns_contrib **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i <= z->contrib_mask; i++)
		for (struct dns_contrib *c = z->contribs[i], *next; c; c = next) {
			next = c->next;
			c->next = b[c->hash & (n - 1)];
			b[c->hash & (n - 1)] = c;
		}
	free(z->contribs);
	z->contribs = b;
	z->contrib_mask = n - 1;
}

/* Starts the contribution of key (there must be none). */
static int contrib_begin(struct dns_zone *z, const char *key)
{
	struct dns_contrib *c;

	if (z->n_services >= 2 * (z->contrib_mask + 1))
		contribs_grow(z);
	c = calloc(1, sizeof(*c));

	if (!c || !(c->key = strdup(key))) {
		free(c);
		return -ENOMEM;
	}
	c->hash = dns_hash((const uint8_t *)key, strlen(key));
	c->next = z->contribs[c->hash & z->contrib_mask];
	z->contribs[c->hash & z->contrib_mask] = c;
	z->cur = c;
	return 0;
}

/* Adds a record owner TYPE rdata... to the current contribution (takes
 * the rdfs, even on failure). */
static int zone_add(struct dns_zone *z, const ldns_rdf *owner, ldns_rr_type type, size_t n,
		    ldns_rdf **rdfs)
{
	struct dns_contrib *c = z->cur;
	uint8_t key[LDNS_MAX_DOMAINLEN + 1];
	ldns_rr *rr = ldns_rr_new();
	bool ok = rr != NULL;

	for (size_t i = 0; i < n; i++) {
		if (!rdfs[i])
			ok = false;
		if (ok)
			ldns_rr_push_rdf(rr, rdfs[i]);
		else
			ldns_rdf_deep_free(rdfs[i]);
	}
	if (ok && c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4;
		struct dns_item *v = realloc(c->items, cap * sizeof(*v));

		ok = v != NULL;
		if (ok)
			c->items = v, c->cap = cap;
	}
	if (ok) {
		ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
		ldns_rr_set_type(rr, type);
		ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
		ldns_rr_set_ttl(rr, z->ttl);
		ok = ldns_rr_owner(rr) != NULL;
	}
	if (!ok) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	size_t kn = dns_name_key(owner, key);
	struct dns_node *x = refs_add(z, key, kn);

	if (!x || !ldns_rr_list_push_rr(x->rrs, rr)) {
		if (x)
			refs_sub(z, key, kn);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	c->items[c->n++] = (struct dns_item){ x, rr };
	z->n_records++;
	return 0;
}

static ldns_rdf *addr_rdf(const struct ipaddr *a)
{
	return a->family == AF_INET ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &a->v4)
				    : ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, &a->v6);
}

/* owner A/AAAA a, and (ptr) the reverse name of a PTR owner. */
static int add_address(struct dns_zone *z, const ldns_rdf *owner, const struct ipaddr *a, bool ptr)
{
	ldns_rdf *rd = addr_rdf(a), *rev, *target;
	int r;

	if (!rd)
		return -ENOMEM;
	rev = ptr ? ldns_rdf_address_reverse(rd) : NULL;
	r = zone_add(z, owner, a->family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, 1, &rd);
	if (r < 0 || !ptr) {
		ldns_rdf_deep_free(rev);
		return r;
	}
	if (!rev)
		return -ENOMEM;
	target = ldns_rdf_clone(owner);
	r = zone_add(z, rev, LDNS_RR_TYPE_PTR, 1, &target);
	ldns_rdf_deep_free(rev);
	return r;
}

/* "LABEL.PARENT" as a name; NULL when not a valid name. */
static ldns_rdf *name_under(const char *label, const ldns_rdf *parent)
{
	ldns_rdf *n = ldns_dname_new_frm_str(label);

	if (n && ldns_dname_cat(n, parent) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(n);
		return NULL;
	}
	return n;
}

/* _PORT._PROTO.svc SRV 0 weight port target. */
static int add_srv(struct dns_zone *z, const ldns_rdf *svc, const char *port_name, uint8_t proto,
		   uint16_t port, uint16_t weight, const ldns_rdf *target)
{
	char label[160];
	ldns_rdf *owner, *rd[4];
	int r;

	snprintf(label, sizeof(label), "_%s._%s", port_name,
		 proto == MODEL_PROTO_UDP ? "udp" : proto == MODEL_PROTO_SCTP ? "sctp" : "tcp");
	owner = name_under(label, svc);
	if (!owner)
		return 0; /* a port name that is no DNS label: no record */
	rd[0] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0);
	rd[1] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, weight);
	rd[2] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, port);
	rd[3] = ldns_rdf_clone(target);
	r = zone_add(z, owner, LDNS_RR_TYPE_SRV, 4, rd);
	ldns_rdf_deep_free(owner);
	return r;
}

/* An endpoint's name under its Service: its hostname, else its address
 * with '-' for '.' and ':' (a system-assigned identifier, as the spec
 * allows; CoreDNS does the same). */
static ldns_rdf *endpoint_name(const struct model_endpoint *ep, const ldns_rdf *svc)
{
	char buf[IPADDR_STRLEN];

	if (ep->hostname)
		return name_under(ep->hostname, svc);
	ipaddr_str(&ep->addr, buf, sizeof(buf));
	for (char *p = buf; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '-';
	return name_under(buf, svc);
}

static bool endpoint_ready(const struct model_slice *sl, const struct model_endpoint *ep)
{
	return sl->family && ep->ready;
}

struct headless {
	struct dns_zone *z;
	const ldns_rdf *svc;
};

/* A headless Service's records from one of its slices. */
static int headless_slice(const struct model_slice *sl, const char *origin, void *ud)
{
	struct headless *h = ud;
	size_t n_ready = 0;
	int r = 0;

	(void)origin;
	for (size_t i = 0; i < sl->n_endpoints; i++)
		n_ready += endpoint_ready(sl, &sl->endpoints[i]);
	for (size_t i = 0; i < sl->n_endpoints && r == 0; i++) {
		const struct model_endpoint *ep = &sl->endpoints[i];
		ldns_rdf *host;

		if (!endpoint_ready(sl, ep))
			continue;
		host = endpoint_name(ep, h->svc);
		r = add_address(h->z, h->svc, &ep->addr, false);
		if (r == 0 && host)
			r = add_address(h->z, host, &ep->addr, true);
		for (size_t p = 0; p < sl->n_ports && r == 0 && host; p++)
			if (sl->ports[p].name[0] && sl->ports[p].port)
				r = add_srv(h->z, h->svc, sl->ports[p].name, sl->ports[p].proto,
					    sl->ports[p].port, (uint16_t)(100 / n_ready), host);
		ldns_rdf_deep_free(host);
	}
	return r;
}

/* A ClusterIP (or NodePort, LoadBalancer) or ExternalName Service's records. */
static int service_records(struct dns_zone *z, const struct model_service *s, const ldns_rdf *svc)
{
	int r = 0;

	if (s->type == MODEL_SVC_EXTERNAL_NAME) {
		ldns_rdf *target = s->external_name ? ldns_dname_new_frm_str(s->external_name) : NULL;

		return target ? zone_add(z, svc, LDNS_RR_TYPE_CNAME, 1, &target) : 0;
	}
	for (size_t i = 0; i < s->n_cluster_ips && r == 0; i++)
		r = add_address(z, svc, &s->cluster_ips[i], true);
	for (size_t i = 0; i < s->n_ports && r == 0 && s->n_cluster_ips; i++)
		if (s->ports[i].name[0])
			r = add_srv(z, svc, s->ports[i].name, s->ports[i].proto, s->ports[i].port, 100,
				    svc);
	return r;
}

/* (Re)computes the records of Service ns/name from the store: what it
 * had goes, what it has now comes (nothing when it is gone). */
static int zone_service(struct dns_zone *z, const struct model_store *st, const char *ns,
			const char *name)
{
	const struct model_service *s = model_store_get_service(st, ns, name);
	char key[512], label[300];
	struct dns_contrib **pp;
	ldns_rdf *svc;
	int r;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	pp = contrib_slot(z, key);
	if (*pp) {
		contrib_remove(z, pp);
		z->n_services--;
	}
	if (!s)
		return 0;
	snprintf(label, sizeof(label), "%s.%s", s->name, s->ns);
	svc = name_under(label, z->svc_apex);
	if (!svc)
		return 0; /* not a valid DNS name: no records */
	r = contrib_begin(z, key);
	if (r == 0) {
		z->n_services++;
		if (s->headless) {
			struct headless h = { .z = z, .svc = svc };

			r = model_store_foreach_slice_of(st, s->ns, s->name, headless_slice, &h);
		} else {
			r = service_records(z, s, svc);
		}
	}
	ldns_rdf_deep_free(svc);
	return r;
}

static int compute_service(const struct model_service *s, const char *origin, void *ud)
{
	void **args = ud;

	(void)origin;
	return zone_service(args[0], args[1], s->ns, s->name);
}

/* The SOA, with a new serial (seconds, or one more than the last). */
static int zone_soa(struct dns_zone *z)
{
	char text[600];
	uint32_t serial = (uint32_t)time(NULL);
	ldns_rr *soa = NULL;

	if (z->soa && serial <= z->serial)
		serial = z->serial + 1;
	snprintf(text, sizeof(text), "%s. %u IN SOA ns.dns.%s. hostmaster.%s. %u %u %u %u %u",
		 z->name, z->ttl, z->name, z->name, serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, z->ttl);
	if (ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return -EINVAL;
	ldns_rr_free(z->soa);
	z->soa = soa;
	z->serial = serial;
	return 0;
}

/* The apex (always there) and dns-version TXT, as the contribution "". */
static int zone_fixed_records(struct dns_zone *z)
{
	ldns_rdf *owner, *txt;
	int r;

	if (!refs_add(z, z->apex_key, z->apex_klen))
		return -ENOMEM;
	r = contrib_begin(z, "");
	owner = name_under("dns-version", z->apex);
	if (r < 0 || !owner) {
		ldns_rdf_deep_free(owner);
		return -ENOMEM;
	}
	txt = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, DNS_SPEC_VERSION);
	r = zone_add(z, owner, LDNS_RR_TYPE_TXT, 1, &txt);
	ldns_rdf_deep_free(owner);
	return r;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 64;

	while (p < n)
		p *= 2;
	return p;
}

static int zone_new(const struct dns_zone_config *cfg, size_t n_services, struct dns_zone **out)
{
	struct dns_zone *z = calloc(1, sizeof(*z));
	size_t n = pow2_at_least(n_services * 4), nc = pow2_at_least(n_services);
	int r = -ENOMEM;

	if (!z)
		return -ENOMEM;
	z->mask = n - 1;
	z->contrib_mask = nc - 1;
	z->ttl = cfg && cfg->ttl ? cfg->ttl : DNS_DEFAULT_TTL;
	z->name = strdup(cfg && cfg->zone ? cfg->zone : DNS_DEFAULT_ZONE);
	z->buckets = calloc(n, sizeof(*z->buckets));
	z->contribs = calloc(nc, sizeof(*z->contribs));
	if (z->name) {
		size_t len = strlen(z->name);

		if (len && z->name[len - 1] == '.')
			z->name[len - 1] = '\0';
		z->apex = ldns_dname_new_frm_str(z->name);
		if (!z->apex)
			r = -EINVAL; /* not a domain name */
	}
	z->rev4 = ldns_dname_new_frm_str("in-addr.arpa.");
	z->rev6 = ldns_dname_new_frm_str("ip6.arpa.");
	z->svc_apex = z->apex ? name_under("svc", z->apex) : NULL;
	if (!z->name || !z->buckets || !z->contribs || !z->apex || !z->rev4 || !z->rev6 ||
	    !z->svc_apex) {
		dns_zone_free(z);
		return r;
	}
	z->apex_klen = dns_name_key(z->apex, z->apex_key);
	dns_name_key(z->rev4, z->rev4_key);
	dns_name_key(z->rev6, z->rev6_key);
	*out = z;
	return 0;
}

int dns_zone_compute(const struct model_store *st, const struct dns_zone_config *cfg,
		     struct dns_zone **out)
{
	struct dns_zone *z;
	void *args[2];
	int r;

	r = zone_new(cfg, model_store_count(st, MODEL_KIND_SERVICE), &z);
	if (r < 0)
		return r;
	args[0] = z;
	args[1] = (void *)st;
	r = zone_soa(z);
	if (r == 0)
		r = zone_fixed_records(z);
	if (r == 0)
		r = model_store_foreach_service(st, compute_service, args);
	if (r < 0) {
		dns_zone_free(z);
		return r;
	}
	*out = z;
	return 0;
}

int dns_zone_update(struct dns_zone *z, const struct model_store *st, char *const *keys, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		char ns[256];
		const char *slash = strchr(keys[i], '/');

		if (!slash || (size_t)(slash - keys[i]) >= sizeof(ns))
			return -EINVAL;
		memcpy(ns, keys[i], (size_t)(slash - keys[i]));
		ns[slash - keys[i]] = '\0';
		r = zone_service(z, st, ns, slash + 1);
	}
	if (r == 0 && n)
		r = zone_soa(z);
	return r;
}

void dns_zone_free(struct dns_zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; z->contribs && i <= z->contrib_mask; i++)
		for (struct dns_contrib *c = z->contribs[i], *next; c; c = next) {
			next = c->next;
			free(c->items); /* their records go with the nodes */
			free(c->key);
			free(c);
		}
	for (size_t i = 0; z->buckets && i <= z->mask; i++)
		for (struct dns_node *x = z->buckets[i], *next; x; x = next) {
			next = x->next;
			ldns_rr_list_deep_free(x->rrs);
			free(x);
		}
	free(z->contribs);
	free(z->buckets);
	ldns_rr_free(z->soa);
	ldns_rdf_deep_free(z->apex);
	ldns_rdf_deep_free(z->svc_apex);
	ldns_rdf_deep_free(z->rev4);
	ldns_rdf_deep_free(z->rev6);
	free(z->name);
	free(z);
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *dns_zone_dump(const struct dns_zone *z)
{
	char **lines = calloc(z->n_names + z->n_records + 1, sizeof(*lines));
	size_t n = 0, len = 1;
	char *out = NULL;

	if (!lines)
		return NULL;
	for (size_t i = 0; i <= z->mask; i++)
		for (const struct dns_node *x = z->buckets[i]; x; x = x->next) {
			ldns_rdf *name = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, x->klen, x->key);
			char *text = name ? ldns_rdf2str(name) : NULL;

			if (text && asprintf(&lines[n], "%s (%u below)\n", text, x->refs) > 0)
				len += strlen(lines[n++]);
			free(text);
			ldns_rdf_deep_free(name);
			for (size_t j = 0; j < ldns_rr_list_rr_count(x->rrs); j++)
				if ((lines[n] = ldns_rr2str(ldns_rr_list_rr(x->rrs, j))))
					len += strlen(lines[n++]);
		}
	qsort(lines, n, sizeof(*lines), line_cmp);
	out = malloc(len);
	if (out) {
		out[0] = '\0';
		for (size_t i = 0, off = 0; i < n; i++)
			off += (size_t)sprintf(out + off, "%s", lines[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return out;
}

void dns_zone_stats(const struct dns_zone *z, struct dns_zone_stats *out)
{
	*out = (struct dns_zone_stats){ z->n_services, z->n_names, z->n_records };
}

const char *dns_zone_name(const struct dns_zone *z)
{
	return z->name;
}
