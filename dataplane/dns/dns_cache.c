/* The cache of upstream answers: by question (name in any case, type,
 * class), each kept for its smallest TTL (a negative answer: its SOA's
 * TTL or minimum, the lower, as RFC 2308 says), at most max entries (the
 * least recently used goes first). TTLs age as they are served. */
#include "dataplane/dns/dns_int.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (LDNS_MAX_DOMAINLEN + 1 + 4)

struct entry {
	struct entry *next;          /* hash chain */
	struct entry *newer, *older; /* LRU list */
	uint32_t hash;
	uint16_t klen;
	uint8_t key[KEY_MAX];
	ldns_pkt *pkt;
	uint64_t expires, aged_at;
};

struct dns_cache {
	struct entry **buckets;
	size_t mask, n, max;
	struct entry *newest, *oldest;
};

int dns_cache_new(size_t max_entries, struct dns_cache **out)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	size_t n = 64;

	if (!c)
		return -ENOMEM;
	c->max = max_entries ? max_entries : DNS_CACHE_DEFAULT_ENTRIES;
	while (n < c->max * 2)
		n *= 2;
	c->mask = n - 1;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static void entry_unlink(struct dns_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & c->mask];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	c->n--;
}

static void entry_free(struct entry *e)
{
	ldns_pkt_free(e->pkt);
	free(e);
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	while (c->oldest) {
		struct entry *e = c->oldest;

		entry_unlink(c, e);
		entry_free(e);
	}
	free(c->buckets);
	free(c);
}

size_t dns_cache_count(const struct dns_cache *c)
{
	return c->n;
}

/* The key of a packet's question; 0 when it has none. */
static size_t question_key(const ldns_pkt *p, uint8_t *key)
{
	const ldns_rr *q;
	size_t n;

	if (ldns_pkt_qdcount(p) != 1 || !(q = ldns_rr_list_rr(ldns_pkt_question(p), 0)))
		return 0;
	n = dns_name_key(ldns_rr_owner(q), key);
	ldns_write_uint16(key + n, ldns_rr_get_type(q));
	ldns_write_uint16(key + n + 2, ldns_rr_get_class(q));
	return n + 4;
}

static struct entry *find(const struct dns_cache *c, const uint8_t *key, size_t n, uint32_t h)
{
	for (struct entry *e = c->buckets[h & c->mask]; e; e = e->next)
		if (e->hash == h && e->klen == n && memcmp(e->key, key, n) == 0)
			return e;
	return NULL;
}

static uint32_t min_ttl(const ldns_rr_list *l, uint32_t ttl)
{
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_ttl(ldns_rr_list_rr(l, i)) < ttl)
			ttl = ldns_rr_ttl(ldns_rr_list_rr(l, i));
	return ttl;
}

/* How long resp may be kept: 0 for never. */
static uint32_t cache_ttl(const ldns_pkt *resp)
{
	ldns_pkt_rcode rc = ldns_pkt_get_rcode(resp);
	const ldns_rr_list *auth = ldns_pkt_authority(resp);
	uint32_t ttl = DNS_CACHE_MAX_TTL;

	if (ldns_pkt_tc(resp) || (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN))
		return 0;
	if (rc == LDNS_RCODE_NOERROR && ldns_pkt_ancount(resp) > 0)
		return min_ttl(auth, min_ttl(ldns_pkt_answer(resp), ttl));
	/* negative: the SOA says for how long */
	for (size_t i = 0; i < ldns_rr_list_rr_count(auth); i++) {
		const ldns_rr *soa = ldns_rr_list_rr(auth, i);

		if (ldns_rr_get_type(soa) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(soa) < 7)
			continue;
		ttl = ldns_rr_ttl(soa) < ttl ? ldns_rr_ttl(soa) : ttl;
		uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));

		return minimum < ttl ? minimum : ttl;
	}
	return 0;
}

void dns_cache_put(struct dns_cache *c, const void *resp_pkt, uint64_t now)
{
	const ldns_pkt *resp = resp_pkt;
	uint8_t key[KEY_MAX];
	size_t n = question_key(resp, key);
	uint32_t ttl = n ? cache_ttl(resp) : 0, h;
	struct entry *e;

	if (!ttl)
		return;
	h = dns_hash(key, n);
	e = find(c, key, n, h);
	if (e) {
		entry_unlink(c, e);
		entry_free(e);
	}
	if (c->n >= c->max) {
		e = c->oldest;
		entry_unlink(c, e);
		entry_free(e);
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->pkt = ldns_pkt_clone(resp))) {
		free(e);
		return; /* out of memory: not cached */
	}
	e->hash = h;
	e->klen = (uint16_t)n;
	memcpy(e->key, key, n);
	e->expires = now + ttl;
	e->aged_at = now;
	e->next = c->buckets[h & c->mask];
	c->buckets[h & c->mask] = e;
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	c->newest = e;
	if (!c->oldest)
		c->oldest = e;
	c->n++;
}

/* Lowers every TTL of l by elapsed (not below 0). */
static void age(ldns_rr_list *l, uint64_t elapsed)
{
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);

		ldns_rr_set_ttl(rr, ldns_rr_ttl(rr) > elapsed ? ldns_rr_ttl(rr) - (uint32_t)elapsed : 0);
	}
}

void *dns_cache_get(struct dns_cache *c, const void *query, uint64_t now)
{
	uint8_t key[KEY_MAX];
	size_t n = question_key(query, key);
	struct entry *e = n ? find(c, key, n, dns_hash(key, n)) : NULL;

	if (!e)
		return NULL;
	if (now >= e->expires) {
		entry_unlink(c, e);
		entry_free(e);
		return NULL;
	}
	if (now > e->aged_at) {
		age(ldns_pkt_answer(e->pkt), now - e->aged_at);
		age(ldns_pkt_authority(e->pkt), now - e->aged_at);
		age(ldns_pkt_additional(e->pkt), now - e->aged_at);
		e->aged_at = now;
	}
	/* most recently used */
	if (c->newest != e) {
		e->newer->older = e->older;
		if (e->older)
			e->older->newer = e->newer;
		else
			c->oldest = e->newer;
		e->newer = NULL;
		e->older = c->newest;
		c->newest->newer = e;
		c->newest = e;
	}
	return e->pkt;
}
