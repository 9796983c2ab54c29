/* Answers of the zone remembered by question: ldns builds an answer once
 * (dns_answer, the full path), the memo keeps the wire it built while the
 * zone's serial stays, and a later query with the same question gets a
 * copy with its own id, RD and CD bits and spelling of the name. A
 * repeated query then costs a lookup and a copy instead of a parse, a
 * packet built and serialised, and a dozen allocations.
 *
 * Only queries of the common shape qualify: header of a QUERY with one
 * question whose name is not compressed, and nothing else but possibly an
 * EDNS0 OPT record of version 0. Only plain answers are kept (built
 * without name compression and not truncated, at most 512 bytes: the
 * same for any client's size). Everything else takes the full path. */
#include "dataplane/dns/dns_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_SLOTS 16384 /* a power of two */
#define MEMO_PROBE 4     /* slots looked at from the hash's */
#define MEMO_MAX_REPLY 512
/* the question with the name in lower case, and a byte "has EDNS0" */
#define MEMO_KEY_MAX (LDNS_MAX_DOMAINLEN + 4 + 1)
#define OPT_FIXED 11 /* root name, type, class, TTL, rdata length */

struct memo_entry {
	uint32_t serial, hash;
	uint16_t klen, len;
	uint8_t rcode;
	uint8_t data[]; /* the key, then the reply's wire */
};

struct dns_memo {
	struct memo_entry *slot[MEMO_SLOTS];
};

int dns_memo_new(struct dns_memo **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void dns_memo_clear(struct dns_memo *m)
{
	for (size_t i = 0; m && i < MEMO_SLOTS; i++) {
		free(m->slot[i]);
		m->slot[i] = NULL;
	}
}

void dns_memo_free(struct dns_memo *m)
{
	dns_memo_clear(m);
	free(m);
}

/* The key of a query of the memo's shape into key (MEMO_KEY_MAX bytes):
 * its length, 0 when the query is of another shape. *qend: where its
 * question ends. */
static size_t query_key(const uint8_t *w, size_t len, uint8_t *key, size_t *qend)
{
	size_t pos = LDNS_HEADER_SIZE, n, arcount;

	if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(w) || LDNS_OPCODE_WIRE(w) != LDNS_PACKET_QUERY ||
	    LDNS_QDCOUNT(w) != 1 || LDNS_ANCOUNT(w) || LDNS_NSCOUNT(w) || (arcount = LDNS_ARCOUNT(w)) > 1)
		return 0;
	/* the name: labels up to the root, no compression pointer */
	while (pos < len && w[pos]) {
		if (w[pos] > LDNS_MAX_LABELLEN)
			return 0;
		pos += 1 + (size_t)w[pos];
	}
	n = pos + 1 - LDNS_HEADER_SIZE;
	if (pos >= len || n > LDNS_MAX_DOMAINLEN || len - pos - 1 < 4)
		return 0;
	*qend = pos + 1 + 4;
	if (arcount == 0 && *qend != len)
		return 0;
	if (arcount == 1) {
		const uint8_t *opt = w + *qend;

		if (len - *qend < OPT_FIXED || opt[0] != 0 || ldns_read_uint16(opt + 1) != LDNS_RR_TYPE_OPT ||
		    opt[6] != 0 /* EDNS version */ || *qend + OPT_FIXED + ldns_read_uint16(opt + 9) != len)
			return 0;
	}
	for (size_t i = 0; i < n + 4; i++)
		key[i] = dns_lower(w[LDNS_HEADER_SIZE + i]);
	key[n + 4] = (uint8_t)arcount;
	return n + 5;
}

/* The slot holding key, or the first of its slots free for it (an empty
 * or stale one, else the first: evicted). */
static struct memo_entry **slot_of(struct dns_memo *m, uint32_t serial, const uint8_t *key,
				   size_t klen, uint32_t h, bool *found)
{
	struct memo_entry **free_slot = NULL;

	*found = false;
	for (size_t i = 0; i < MEMO_PROBE; i++) {
		struct memo_entry **e = &m->slot[(h + i) & (MEMO_SLOTS - 1)];

		if (*e && (*e)->hash == h && (*e)->klen == klen && !memcmp((*e)->data, key, klen)) {
			*found = (*e)->serial == serial;
			return e;
		}
		if (!free_slot && (!*e || (*e)->serial != serial))
			free_slot = e;
	}
	return free_slot ? free_slot : &m->slot[h & (MEMO_SLOTS - 1)];
}

size_t dns_memo_answer(struct dns_memo *m, const struct dns_zone *z, const uint8_t *wire,
		       size_t len, uint8_t *out, size_t size, unsigned *rcode)
{
	uint8_t key[MEMO_KEY_MAX];
	size_t klen, qend;
	const struct memo_entry *e;
	bool found;

	if (!z || !(klen = query_key(wire, len, key, &qend)))
		return 0;
	e = *slot_of(m, z->serial, key, klen, dns_hash(key, klen), &found);
	if (!found || e->len > size)
		return 0;
	memcpy(out, e->data + klen, e->len);
	/* the client's id, RD and CD, and its question as it spelled it */
	LDNS_ID_SET(out, LDNS_ID_WIRE(wire));
	if (LDNS_RD_WIRE(wire))
		LDNS_RD_SET(out);
	else
		LDNS_RD_CLR(out);
	if (LDNS_CD_WIRE(wire))
		LDNS_CD_SET(out);
	else
		LDNS_CD_CLR(out);
	memcpy(out + LDNS_HEADER_SIZE, wire + LDNS_HEADER_SIZE, qend - LDNS_HEADER_SIZE);
	*rcode = e->rcode;
	return e->len;
}

void dns_memo_put(struct dns_memo *m, const struct dns_zone *z, const uint8_t *wire, size_t len,
		  const struct dns_reply *rep)
{
	uint8_t key[MEMO_KEY_MAX];
	size_t klen, qend;
	struct memo_entry **slot, *e;
	uint32_t h;
	bool found;

	if (!z || !rep->plain || rep->len > MEMO_MAX_REPLY || !(klen = query_key(wire, len, key, &qend)))
		return;
	/* the reply must carry the question where the query does */
	if (rep->len < qend || LDNS_QDCOUNT(rep->wire) != 1)
		return;
	for (size_t i = LDNS_HEADER_SIZE; i < qend; i++)
		if (dns_lower(rep->wire[i]) != key[i - LDNS_HEADER_SIZE])
			return;
	h = dns_hash(key, klen);
	slot = slot_of(m, z->serial, key, klen, h, &found);
	if (found)
		return;
	e = realloc(*slot, sizeof(*e) + klen + rep->len);
	if (!e)
		return; /* the slot keeps what it had */
	*e = (struct memo_entry){ .serial = z->serial, .hash = h, .klen = (uint16_t)klen,
				  .len = (uint16_t)rep->len, .rcode = (uint8_t)rep->rcode };
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, rep->wire, rep->len);
	*slot = e;
}
