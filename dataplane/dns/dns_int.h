/* Inside the DNS module: the zone's lookup structure, shared by
 * dns_zone.c (which builds it) and dns_answer.c (which reads it). */
#ifndef SKIFF_DNS_INT_H
#define SKIFF_DNS_INT_H

#include "dataplane/dns/dns.h"

#include <ldns/ldns.h>

/* One owner name: its records (none for an empty non-terminal, such as
 * NS.svc.ZONE, which exists because names exist below it). */
struct dns_node {
	struct dns_node *next; /* hash chain */
	uint32_t hash;
	uint32_t refs; /* records at this name and below it: at 0 the name goes */
	uint8_t klen;
	uint8_t key[LDNS_MAX_DOMAINLEN + 1]; /* the name in wire form, lower case */
	ldns_rr_list *rrs;
};

struct dns_zone {
	char *name;        /* "cluster.local" */
	ldns_rdf *apex;    /* cluster.local. */
	ldns_rdf *rev4, *rev6; /* in-addr.arpa., ip6.arpa.: PTR names served when known */
	uint8_t apex_key[LDNS_MAX_DOMAINLEN + 1], rev4_key[14], rev6_key[10];
	size_t apex_klen;
	ldns_rr *soa;      /* the negative TTL's source, in every negative answer */
	uint32_t ttl, serial;
	ldns_rdf *svc_apex; /* svc.ZONE. */
	struct dns_node **buckets;
	size_t mask; /* buckets - 1, a power of two minus one */
	/* by Service ("ns/name"; "" for the apex's own records): what each
	 * put in the zone, so that a change replaces only its records */
	struct dns_contrib **contribs, *cur;
	size_t contrib_mask;
	size_t n_services, n_names, n_records;
};

/* c in lower case: ASCII letters only (a name's label lengths, at most
 * 63, are never letters, so a whole wire name can go through it). */
static inline uint8_t dns_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* name's wire form in lower case into key (LDNS_MAX_DOMAINLEN + 1 bytes);
 * its length. */
size_t dns_name_key(const ldns_rdf *name, uint8_t *key);
/* FNV-1a of n bytes. */
uint32_t dns_hash(const uint8_t *k, size_t n);

/* The node of name (any case), or NULL. */
const struct dns_node *dns_zone_find(const struct dns_zone *z, const ldns_rdf *name);
/* The same from a key of dns_name_key. */
const struct dns_node *dns_zone_find_key(const struct dns_zone *z, const uint8_t *key, size_t n);
/* Whether the name of key (n bytes) is the name of parent (pn bytes) or
 * below it, both keys of dns_name_key. */
bool dns_key_under(const uint8_t *key, size_t n, const uint8_t *parent, size_t pn);

/* ---- answers remembered by question (dns_memo.c) ---- */

struct dns_memo;
int dns_memo_new(struct dns_memo **out);
void dns_memo_free(struct dns_memo *m);
/* Forgets every answer (the zone was replaced). */
void dns_memo_clear(struct dns_memo *m);
/* Keeps rep, dns_answer's reply to the UDP query wire (len bytes) from z,
 * when both are of the shape the memo serves; nothing otherwise. */
void dns_memo_put(struct dns_memo *m, const struct dns_zone *z, const uint8_t *wire, size_t len,
		  const struct dns_reply *rep);
/* The reply to the UDP query wire that dns_answer would give from z, from
 * an answer kept at z's serial, into out (size bytes) with its rcode: its
 * length, or 0 (not kept: answer it in full). */
size_t dns_memo_answer(struct dns_memo *m, const struct dns_zone *z, const uint8_t *wire,
		       size_t len, uint8_t *out, size_t size, unsigned *rcode);

#endif
