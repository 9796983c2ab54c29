/* Answering one query: parse it (ldns), answer it from the zone or say it
 * goes upstream, and build the response (ldns), truncated with TC when it
 * does not fit the client's UDP size. Pure: no sockets, no clock. */
#include "dataplane/dns/dns_int.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_UDP 512
#define TCP_MAX 65535

static const char *const counter_names[DNS_C_COUNT] = {
	[DNS_C_NOERROR] = "NOERROR", [DNS_C_NXDOMAIN] = "NXDOMAIN", [DNS_C_SERVFAIL] = "SERVFAIL",
	[DNS_C_FORMERR] = "FORMERR", [DNS_C_REFUSED] = "REFUSED",   [DNS_C_OTHER] = "other",
};

const char *dns_rcode_counter_name(enum dns_rcode_counter c)
{
	return c < DNS_C_COUNT ? counter_names[c] : "?";
}

enum dns_rcode_counter dns_rcode_counter_of(unsigned rcode)
{
	switch (rcode) {
	case LDNS_RCODE_NOERROR: return DNS_C_NOERROR;
	case LDNS_RCODE_NXDOMAIN: return DNS_C_NXDOMAIN;
	case LDNS_RCODE_SERVFAIL: return DNS_C_SERVFAIL;
	case LDNS_RCODE_FORMERR: return DNS_C_FORMERR;
	case LDNS_RCODE_REFUSED: return DNS_C_REFUSED;
	default: return DNS_C_OTHER;
	}
}

void dns_query_clear(struct dns_query *q)
{
	if (q->ask != q->pkt)
		ldns_pkt_free(q->ask);
	ldns_pkt_free(q->pkt);
	ldns_rr_free(q->cname);
	*q = (struct dns_query){ 0 };
}

void dns_reply_clear(struct dns_reply *r)
{
	free(r->wire);
	r->wire = NULL;
	r->len = 0;
}

/* A response being built: its sections borrow records (from the zone, the
 * cache or an upstream answer); owned holds the few made for it. */
struct builder {
	ldns_pkt *pkt;
	ldns_rr_list *owned; /* NULL: none */
};

static const ldns_pkt_section sections[] = {
	LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL,
};

/* Empties a section without freeing the borrowed records. */
static void section_clear(ldns_pkt *p, ldns_pkt_section s)
{
	switch (s) {
	case LDNS_SECTION_QUESTION:
		ldns_rr_list_set_rr_count(ldns_pkt_question(p), 0);
		ldns_pkt_set_qdcount(p, 0);
		break;
	case LDNS_SECTION_ANSWER:
		ldns_rr_list_set_rr_count(ldns_pkt_answer(p), 0);
		ldns_pkt_set_ancount(p, 0);
		break;
	case LDNS_SECTION_AUTHORITY:
		ldns_rr_list_set_rr_count(ldns_pkt_authority(p), 0);
		ldns_pkt_set_nscount(p, 0);
		break;
	default:
		ldns_rr_list_set_rr_count(ldns_pkt_additional(p), 0);
		ldns_pkt_set_arcount(p, 0);
		break;
	}
}

static void builder_free(struct builder *b)
{
	if (b->pkt)
		for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
			section_clear(b->pkt, sections[i]);
	ldns_pkt_free(b->pkt);
	ldns_rr_list_deep_free(b->owned);
}

/* A response to q: its id, opcode, RD and question; EDNS0 when it had it. */
static int builder_init(struct builder *b, const struct dns_query *q, unsigned rcode)
{
	const ldns_pkt *qp = q->pkt;

	b->pkt = ldns_pkt_new();
	if (!b->pkt)
		return -ENOMEM;
	ldns_pkt_set_id(b->pkt, ldns_pkt_id(qp));
	ldns_pkt_set_qr(b->pkt, true);
	ldns_pkt_set_opcode(b->pkt, ldns_pkt_get_opcode(qp));
	ldns_pkt_set_rd(b->pkt, ldns_pkt_rd(qp));
	ldns_pkt_set_cd(b->pkt, ldns_pkt_cd(qp));
	ldns_pkt_set_ra(b->pkt, true);
	ldns_pkt_set_rcode(b->pkt, (uint8_t)(rcode & 0xf));
	if (ldns_pkt_qdcount(qp) == 1)
		ldns_pkt_push_rr(b->pkt, LDNS_SECTION_QUESTION, ldns_rr_list_rr(ldns_pkt_question(qp), 0));
	if (ldns_pkt_edns(qp)) {
		ldns_pkt_set_edns_udp_size(b->pkt, DNS_MAX_UDP);
		ldns_pkt_set_edns_extended_rcode(b->pkt, (uint8_t)(rcode >> 4));
	}
	return 0;
}

/* b in wire form: without name compression first (ldns's compression
 * costs more than the rest of an answer), with it when that does not fit
 * (*plain false). */
static int builder_wire(const struct builder *b, size_t max, uint8_t **wire, size_t *len,
			bool *plain)
{
	ldns_buffer *buf = ldns_buffer_new(512);
	bool ok = buf && ldns_pkt2buffer_wire_compress(buf, b->pkt, NULL) == LDNS_STATUS_OK;

	*plain = ok && ldns_buffer_position(buf) <= max;
	if (*plain) {
		*len = ldns_buffer_position(buf);
		*wire = ldns_buffer_export(buf); /* the buffer's data, now ours */
		ldns_buffer_free(buf);
		return 0;
	}
	ldns_buffer_free(buf);
	if (!ok)
		return -ENOMEM;
	return ldns_pkt2wire(wire, b->pkt, len) == LDNS_STATUS_OK ? 0 : -ENOMEM;
}

/* Serialises b; over the client's size, again with TC and the question
 * only (the client retries over TCP). */
static int builder_finish(struct builder *b, const struct dns_query *q, struct dns_reply *out)
{
	uint8_t *wire = NULL;
	size_t len = 0;
	bool plain;

	if (builder_wire(b, q->max_size, &wire, &len, &plain) < 0)
		return -ENOMEM;
	if (len > q->max_size) {
		free(wire);
		wire = NULL;
		for (size_t i = 1; i < ARRAY_SIZE(sections); i++)
			section_clear(b->pkt, sections[i]);
		ldns_pkt_set_tc(b->pkt, true);
		if (builder_wire(b, q->max_size, &wire, &len, &plain) < 0)
			return -ENOMEM;
		plain = false;
	}
	out->wire = wire;
	out->len = len;
	out->plain = plain;
	out->rcode = ldns_pkt_get_rcode(b->pkt) | (unsigned)ldns_pkt_edns_extended_rcode(b->pkt) << 4;
	return 0;
}

int dns_reply_rcode(const struct dns_query *q, unsigned rcode, struct dns_reply *out)
{
	struct builder b = { 0 };
	int r = builder_init(&b, q, rcode);

	if (r == 0)
		r = builder_finish(&b, q, out);
	builder_free(&b);
	return r;
}

/* Pushes every record of list into section s of b (borrowed). */
static void push_all(struct builder *b, ldns_pkt_section s, const ldns_rr_list *list)
{
	for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); i++)
		ldns_pkt_push_rr(b->pkt, s, ldns_rr_list_rr(list, i));
}

int dns_reply_for(const struct dns_query *q, void *resp_pkt, struct dns_reply *out)
{
	const ldns_pkt *resp = resp_pkt;
	struct builder b = { 0 };
	int r = builder_init(&b, q, ldns_pkt_get_rcode(resp));

	if (r == 0) {
		ldns_pkt_set_aa(b.pkt, ldns_pkt_aa(resp));
		ldns_pkt_set_ad(b.pkt, ldns_pkt_ad(resp));
		ldns_pkt_set_ra(b.pkt, ldns_pkt_ra(resp));
		if (q->cname) {
			ldns_pkt_set_aa(b.pkt, false);
			ldns_pkt_push_rr(b.pkt, LDNS_SECTION_ANSWER, q->cname);
		}
		push_all(&b, LDNS_SECTION_ANSWER, ldns_pkt_answer(resp));
		push_all(&b, LDNS_SECTION_AUTHORITY, ldns_pkt_authority(resp));
		push_all(&b, LDNS_SECTION_ADDITIONAL, ldns_pkt_additional(resp));
		r = builder_finish(&b, q, out);
	}
	builder_free(&b);
	return r;
}

/* ---- the cluster zone ---- */

/* A-B-C-D.NS.pod.ZONE (the spec's deprecated, still required, pod
 * records): the address, or false. */
static bool pod_name_addr(const struct dns_zone *z, const ldns_rdf *name, struct in_addr *out)
{
	char buf[64], *label = NULL;
	ldns_rdf *l0 = NULL, *l2 = NULL;
	bool ok = false;

	if (ldns_dname_label_count(name) != ldns_dname_label_count(z->apex) + 3)
		return false;
	l2 = ldns_dname_label(name, 2);
	l0 = ldns_dname_label(name, 0);
	label = l2 ? ldns_rdf2str(l2) : NULL;
	if (label && strcasecmp(label, "pod.") == 0) {
		free(label);
		label = l0 ? ldns_rdf2str(l0) : NULL;
		if (label && strlen(label) < sizeof(buf)) {
			strscpy(buf, label, sizeof(buf));
			buf[strcspn(buf, ".")] = '\0';
			for (char *p = buf; *p; p++)
				if (*p == '-')
					*p = '.';
			ok = inet_pton(AF_INET, buf, out) == 1;
		}
	}
	free(label);
	ldns_rdf_deep_free(l0);
	ldns_rdf_deep_free(l2);
	return ok;
}

/* The additional section of an SRV answer: its targets' addresses. */
static void srv_additional(struct builder *b, const struct dns_zone *z, const ldns_rr_list *ans)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ans, i);
		const struct dns_node *t;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SRV || ldns_rr_rd_count(rr) < 4)
			continue;
		t = dns_zone_find(z, ldns_rr_rdf(rr, 3));
		for (size_t j = 0; t && j < ldns_rr_list_rr_count(t->rrs); j++) {
			ldns_rr *a = ldns_rr_list_rr(t->rrs, j);

			if (ldns_rr_get_type(a) == LDNS_RR_TYPE_A ||
			    ldns_rr_get_type(a) == LDNS_RR_TYPE_AAAA)
				ldns_pkt_push_rr(b->pkt, LDNS_SECTION_ADDITIONAL, a);
		}
	}
}

/* The records of node matching type (ANY: all; else a CNAME stands in). */
static void node_answer(struct builder *b, const struct dns_node *x, ldns_rr_type type)
{
	ldns_rr *cname = NULL;
	bool any = false;

	for (size_t i = 0; i < ldns_rr_list_rr_count(x->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(x->rrs, i);

		if (ldns_rr_get_type(rr) == type || type == LDNS_RR_TYPE_ANY) {
			ldns_pkt_push_rr(b->pkt, LDNS_SECTION_ANSWER, rr);
			any = true;
		} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME) {
			cname = rr;
		}
	}
	if (!any && cname)
		ldns_pkt_push_rr(b->pkt, LDNS_SECTION_ANSWER, cname);
}

/* The CNAME of node x out of the zone when it has nothing of type: the
 * upstream answers for its target (an ExternalName Service). */
static const ldns_rr *cname_out(const struct dns_zone *z, const struct dns_node *x, ldns_rr_type type)
{
	const ldns_rr *cname = NULL;

	if (type == LDNS_RR_TYPE_CNAME || type == LDNS_RR_TYPE_ANY)
		return NULL;
	for (size_t i = 0; i < ldns_rr_list_rr_count(x->rrs); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(x->rrs, i);

		if (ldns_rr_get_type(rr) == type)
			return NULL;
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME)
			cname = rr;
	}
	if (cname && ldns_rr_rd_count(cname) == 1) {
		uint8_t key[LDNS_MAX_DOMAINLEN + 1];
		size_t n = dns_name_key(ldns_rr_rdf(cname, 0), key);

		if (!dns_key_under(key, n, z->apex_key, z->apex_klen))
			return cname;
	}
	return NULL;
}

/* q asks upstream for the target of cname instead (taking a copy). */
static int chase(struct dns_query *q, const ldns_rr *cname, ldns_rr_type type)
{
	ldns_rdf *target = ldns_rdf_clone(ldns_rr_rdf(cname, 0));

	q->ask = target ? ldns_pkt_query_new(target, type, LDNS_RR_CLASS_IN, LDNS_RD) : NULL;
	q->cname = ldns_rr_clone(cname);
	if (!q->ask || !q->cname) {
		if (!q->ask)
			q->ask = q->pkt;
		return -ENOMEM;
	}
	if (ldns_pkt_edns(q->pkt))
		ldns_pkt_set_edns_udp_size(q->ask, ldns_pkt_edns_udp_size(q->pkt));
	return 0;
}

/* An authoritative answer from the zone: records, NODATA or NXDOMAIN. */
static int zone_reply(const struct dns_zone *z, const struct dns_query *q, const ldns_rr *question,
		      const struct dns_node *x, struct dns_reply *out)
{
	const ldns_rdf *qname = ldns_rr_owner(question);
	ldns_rr_type type = ldns_rr_get_type(question);
	struct builder b = { 0 };
	struct in_addr pod;
	int r;

	if (type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR)
		return dns_reply_rcode(q, LDNS_RCODE_REFUSED, out);
	r = builder_init(&b, q, LDNS_RCODE_NOERROR);
	if (r < 0)
		goto out;
	ldns_pkt_set_aa(b.pkt, true);
	if (x) {
		node_answer(&b, x, type);
		if (ldns_rdf_size(qname) == ldns_rdf_size(z->apex) && !ldns_dname_compare(qname, z->apex) &&
		    (type == LDNS_RR_TYPE_SOA || type == LDNS_RR_TYPE_ANY))
			ldns_pkt_push_rr(b.pkt, LDNS_SECTION_ANSWER, z->soa);
		if (type == LDNS_RR_TYPE_SRV || type == LDNS_RR_TYPE_ANY)
			srv_additional(&b, z, ldns_pkt_answer(b.pkt));
	} else if (pod_name_addr(z, qname, &pod)) {
		if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_ANY) {
			ldns_rr *a = ldns_rr_new_frm_type(LDNS_RR_TYPE_A);

			if (!b.owned)
				b.owned = ldns_rr_list_new();
			if (!a || !b.owned || !ldns_rr_list_push_rr(b.owned, a)) {
				ldns_rr_free(a);
				r = -ENOMEM;
				goto out;
			}
			ldns_rr_set_owner(a, ldns_rdf_clone(qname));
			ldns_rr_set_ttl(a, z->ttl);
			ldns_rr_set_rdf(a, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &pod), 0);
			ldns_pkt_push_rr(b.pkt, LDNS_SECTION_ANSWER, a);
		}
	} else {
		ldns_pkt_set_rcode(b.pkt, LDNS_RCODE_NXDOMAIN);
	}
	if (ldns_pkt_ancount(b.pkt) == 0)
		ldns_pkt_push_rr(b.pkt, LDNS_SECTION_AUTHORITY, z->soa);
	r = builder_finish(&b, q, out);
	if (b.owned)
		out->plain = false; /* a record named as the query spelt it */
out:
	builder_free(&b);
	return r;
}

static bool is_reverse(const struct dns_zone *z, const uint8_t *key, size_t n)
{
	return dns_key_under(key, n, z->rev4_key, sizeof(z->rev4_key)) ||
	       dns_key_under(key, n, z->rev6_key, sizeof(z->rev6_key));
}

/* FORMERR to a query ldns cannot parse, from its header alone. */
static int formerr_from_header(const uint8_t *wire, struct dns_reply *out)
{
	ldns_pkt *p = ldns_pkt_new();
	int r = -ENOMEM;

	if (!p)
		return r;
	ldns_pkt_set_id(p, LDNS_ID_WIRE(wire));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(wire));
	ldns_pkt_set_rd(p, LDNS_RD_WIRE(wire));
	ldns_pkt_set_rcode(p, LDNS_RCODE_FORMERR);
	if (ldns_pkt2wire(&out->wire, p, &out->len) == LDNS_STATUS_OK) {
		out->rcode = LDNS_RCODE_FORMERR;
		r = 0;
	}
	ldns_pkt_free(p);
	return r;
}

/* What no query may carry, as an rcode (0: fine). */
static unsigned query_problem(const ldns_pkt *p)
{
	if (ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY)
		return LDNS_RCODE_NOTIMPL;
	if (ldns_pkt_qdcount(p) != 1 || ldns_pkt_ancount(p) != 0)
		return LDNS_RCODE_FORMERR;
	if (ldns_pkt_edns(p) && ldns_pkt_edns_version(p) > 0)
		return 16; /* BADVERS */
	return 0;
}

enum dns_verdict dns_answer(const struct dns_zone *z, const uint8_t *wire, size_t len, bool tcp,
			    struct dns_query *q, struct dns_reply *out)
{
	uint8_t key[LDNS_MAX_DOMAINLEN + 1];
	ldns_pkt *p = NULL;
	const ldns_rr *question;
	unsigned problem;
	size_t n;
	int r;

	*q = (struct dns_query){ 0 };
	*out = (struct dns_reply){ 0 };
	if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(wire))
		return DNS_DROP; /* not a query: never answer a response */
	if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK)
		return formerr_from_header(wire, out) < 0 ? DNS_DROP : DNS_REPLY;
	q->pkt = q->ask = p;
	q->max_size = tcp ? TCP_MAX : MIN_UDP;
	if (!tcp && ldns_pkt_edns(p) && ldns_pkt_edns_udp_size(p) > MIN_UDP)
		q->max_size = ldns_pkt_edns_udp_size(p) < DNS_MAX_UDP ? ldns_pkt_edns_udp_size(p)
								      : DNS_MAX_UDP;
	problem = query_problem(p);
	if (problem) {
		r = dns_reply_rcode(q, problem, out);
		goto reply;
	}
	question = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	if (!z)
		return DNS_FORWARD; /* no zone yet (the agent's first sync) */
	n = dns_name_key(ldns_rr_owner(question), key);
	if (!dns_key_under(key, n, z->apex_key, z->apex_klen)) {
		const struct dns_node *x = is_reverse(z, key, n) ? dns_zone_find_key(z, key, n) : NULL;

		if (!x)
			return DNS_FORWARD;
		r = zone_reply(z, q, question, x, out);
		goto reply;
	}
	const struct dns_node *x = dns_zone_find_key(z, key, n);
	const ldns_rr *cname = x ? cname_out(z, x, ldns_rr_get_type(question)) : NULL;

	if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN &&
	    ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY)
		r = dns_reply_rcode(q, LDNS_RCODE_REFUSED, out);
	else if (cname && chase(q, cname, ldns_rr_get_type(question)) == 0)
		return DNS_FORWARD;
	else
		r = zone_reply(z, q, question, x, out);
reply:
	dns_query_clear(q);
	return r < 0 ? DNS_DROP : DNS_REPLY;
}
