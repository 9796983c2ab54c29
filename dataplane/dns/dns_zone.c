/* The cluster zone computed from the model store (see dns.h for the
 * records): a pure function of the store, into a hash table by owner name
 * (the name's lower-case wire form), so that answering is one lookup. */
#include "dataplane/dns/dns_int.h"
#include "util.h"

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

/* name's wire form in lower case into key (LDNS_MAX_DOMAINLEN + 1). ASCII
 * letters only: label lengths (at most 63) are never letters. */
size_t dns_name_key(const ldns_rdf *name, uint8_t *key)
{
	size_t n = ldns_rdf_size(name);
	const uint8_t *d = ldns_rdf_data(name);

	if (n > LDNS_MAX_DOMAINLEN + 1)
		n = LDNS_MAX_DOMAINLEN + 1;
	for (size_t i = 0; i < n; i++)
		key[i] = d[i] >= 'A' && d[i] <= 'Z' ? d[i] + ('a' - 'A') : d[i];
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

static struct dns_node *node_get_one(struct dns_zone *z, const ldns_rdf *name)
{
	struct dns_node *x = (struct dns_node *)dns_zone_find(z, name);
	uint32_t h;

	if (x)
		return x;
	x = calloc(1, sizeof(*x));
	if (!x || !(x->rrs = ldns_rr_list_new())) {
		free(x);
		return NULL;
	}
	x->klen = (uint8_t)dns_name_key(name, x->key);
	h = x->hash = dns_hash(x->key, x->klen);
	x->next = z->buckets[h & z->mask];
	z->buckets[h & z->mask] = x;
	z->n_names++;
	return x;
}

/* The node of name, created with every ancestor up to the apex (empty
 * non-terminals answer NODATA, not NXDOMAIN). */
static struct dns_node *node_get(struct dns_zone *z, const ldns_rdf *name)
{
	struct dns_node *x = node_get_one(z, name);

	if (!x || !ldns_dname_is_subdomain(name, z->apex))
		return x;
	for (ldns_rdf *up = ldns_dname_left_chop(name); up;) {
		ldns_rdf *next = NULL;
		bool done = dns_zone_find(z, up) || ldns_dname_compare(up, z->apex) == 0;

		if (!node_get_one(z, up))
			x = NULL;
		if (!done && x)
			next = ldns_dname_left_chop(up);
		ldns_rdf_deep_free(up);
		up = next;
	}
	return x;
}

/* Adds a record owner TYPE rdata... (takes the rdfs, even on failure). */
static int zone_add(struct dns_zone *z, const ldns_rdf *owner, ldns_rr_type type, size_t n,
		    ldns_rdf **rdfs)
{
	struct dns_node *x = node_get(z, owner);
	ldns_rr *rr = ldns_rr_new();
	bool ok = x && rr;

	for (size_t i = 0; i < n; i++) {
		if (!rdfs[i])
			ok = false;
		if (ok)
			ldns_rr_push_rdf(rr, rdfs[i]);
		else
			ldns_rdf_deep_free(rdfs[i]);
	}
	if (!ok) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, z->ttl);
	if (!ldns_rr_owner(rr) || !ldns_rr_list_push_rr(x->rrs, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
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

struct compute {
	struct dns_zone *z;
	const struct model_store *st;
	ldns_rdf *svc_apex; /* svc.ZONE. */
};

static int compute_service(const struct model_service *s, const char *origin, void *ud)
{
	struct compute *c = ud;
	char label[300];
	ldns_rdf *svc;
	int r;

	(void)origin;
	snprintf(label, sizeof(label), "%s.%s", s->name, s->ns);
	svc = name_under(label, c->svc_apex);
	if (!svc)
		return 0; /* not a valid DNS name: no records */
	c->z->n_services++;
	if (s->headless) {
		struct headless h = { .z = c->z, .svc = svc };

		r = model_store_foreach_slice_of(c->st, s->ns, s->name, headless_slice, &h);
	} else {
		r = service_records(c->z, s, svc);
	}
	ldns_rdf_deep_free(svc);
	return r;
}

/* The apex's SOA and dns-version TXT. */
static int zone_fixed_records(struct dns_zone *z)
{
	char text[600];
	ldns_rdf *owner;
	int r;

	snprintf(text, sizeof(text), "%s. %u IN SOA ns.dns.%s. hostmaster.%s. %u %u %u %u %u",
		 z->name, z->ttl, z->name, z->name, (unsigned)time(NULL), SOA_REFRESH, SOA_RETRY,
		 SOA_EXPIRE, z->ttl);
	if (ldns_rr_new_frm_str(&z->soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return -EINVAL;
	if (!node_get(z, z->apex))
		return -ENOMEM;
	owner = name_under("dns-version", z->apex);
	if (!owner)
		return -ENOMEM;
	ldns_rdf *txt = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, DNS_SPEC_VERSION);

	r = zone_add(z, owner, LDNS_RR_TYPE_TXT, 1, &txt);
	ldns_rdf_deep_free(owner);
	return r;
}

static int zone_new(const struct dns_zone_config *cfg, size_t n_services, struct dns_zone **out)
{
	struct dns_zone *z = calloc(1, sizeof(*z));
	size_t n = 64;

	if (!z)
		return -ENOMEM;
	while (n < n_services * 4)
		n *= 2;
	z->mask = n - 1;
	z->ttl = cfg && cfg->ttl ? cfg->ttl : DNS_DEFAULT_TTL;
	z->name = strdup(cfg && cfg->zone ? cfg->zone : DNS_DEFAULT_ZONE);
	z->buckets = calloc(n, sizeof(*z->buckets));
	if (z->name) {
		size_t len = strlen(z->name);

		if (len && z->name[len - 1] == '.')
			z->name[len - 1] = '\0';
		z->apex = ldns_dname_new_frm_str(z->name);
	}
	z->rev4 = ldns_dname_new_frm_str("in-addr.arpa.");
	z->rev6 = ldns_dname_new_frm_str("ip6.arpa.");
	if (!z->name || !z->buckets || !z->apex || !z->rev4 || !z->rev6) {
		int r = z->name && z->buckets ? -EINVAL : -ENOMEM;

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
	struct compute c = { .st = st };
	int r;

	r = zone_new(cfg, model_store_count(st, MODEL_KIND_SERVICE), &c.z);
	if (r < 0)
		return r;
	r = zone_fixed_records(c.z);
	c.svc_apex = name_under("svc", c.z->apex);
	if (r == 0 && !c.svc_apex)
		r = -ENOMEM;
	if (r == 0)
		r = model_store_foreach_service(st, compute_service, &c);
	ldns_rdf_deep_free(c.svc_apex);
	if (r < 0) {
		dns_zone_free(c.z);
		return r;
	}
	*out = c.z;
	return 0;
}

void dns_zone_free(struct dns_zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; z->buckets && i <= z->mask; i++)
		for (struct dns_node *x = z->buckets[i], *next; x; x = next) {
			next = x->next;
			ldns_rr_list_deep_free(x->rrs);
			free(x);
		}
	free(z->buckets);
	ldns_rr_free(z->soa);
	ldns_rdf_deep_free(z->apex);
	ldns_rdf_deep_free(z->rev4);
	ldns_rdf_deep_free(z->rev6);
	free(z->name);
	free(z);
}

void dns_zone_stats(const struct dns_zone *z, struct dns_zone_stats *out)
{
	*out = (struct dns_zone_stats){ z->n_services, z->n_names, z->n_records };
}

const char *dns_zone_name(const struct dns_zone *z)
{
	return z->name;
}
