/* Fuzz harness for the DNS query path: any bytes as a query (over UDP,
 * then over TCP) to a zone of a few Services, and what is forwarded
 * answered again from the cache path (dns_reply_for). Never crashes or
 * leaks; every reply parses back; what the memo of answers gives is what
 * dns_answer gives, for the input and for it respelled. */
#include "tests/dataplane/dns_test_zone.h"
#include "dataplane/dns/dns_int.h"

#include <ldns/ldns.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ZONE =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
	"spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: pg, namespace: db}\n"
	"spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: pg-1, namespace: db, "
	"labels: {kubernetes.io/service-name: pg}}\naddressType: IPv4\nports: [{name: pg, port: 5432}]\n"
	"endpoints: [{addresses: [10.244.1.5], hostname: pg-0}]\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: default}\n"
	"spec: {type: ExternalName, externalName: www.example.com}\n";

static void one(const struct dns_zone *z, const uint8_t *data, size_t size, bool tcp)
{
	struct dns_query q;
	struct dns_reply rep;
	ldns_pkt *back = NULL;

	switch (dns_answer(z, data, size, tcp, &q, &rep)) {
	case DNS_DROP:
		break;
	case DNS_REPLY:
		if (ldns_wire2pkt(&back, rep.wire, rep.len) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_free(back);
		dns_reply_clear(&rep);
		break;
	case DNS_FORWARD:
		/* as if the query itself came back from upstream */
		if (dns_reply_for(&q, q.pkt, &rep) == 0)
			dns_reply_clear(&rep);
		if (dns_reply_rcode(&q, LDNS_RCODE_SERVFAIL, &rep) == 0)
			dns_reply_clear(&rep);
		dns_query_clear(&q);
		break;
	}
}

/* Whenever the memo answers wire (UDP), it answers byte for byte what
 * dns_answer does; what dns_answer answers is offered to the memo first. */
static void memo_same(struct dns_memo *m, const struct dns_zone *z, const uint8_t *wire, size_t size)
{
	uint8_t out[DNS_MAX_UDP];
	struct dns_query q;
	struct dns_reply rep;
	unsigned rcode;
	size_t n;
	enum dns_verdict v = dns_answer(z, wire, size, false, &q, &rep);

	if (v == DNS_REPLY)
		dns_memo_put(m, z, wire, size, &rep);
	n = dns_memo_answer(m, z, wire, size, out, sizeof(out), &rcode);
	if (n && (v != DNS_REPLY || n != rep.len || memcmp(out, rep.wire, n) || rcode != rep.rcode))
		abort();
	dns_reply_clear(&rep);
	dns_query_clear(&q);
}

/* memo_same for data, then for it with another id, RD and CD, and every
 * letter after the header in the other case (the question's spelling). */
static void memo_check(struct dns_memo *m, const struct dns_zone *z, const uint8_t *data, size_t size)
{
	uint8_t *v;

	memo_same(m, z, data, size);
	if (size < LDNS_HEADER_SIZE || !(v = malloc(size)))
		return;
	memcpy(v, data, size);
	v[0] ^= 0x5a;
	v[2] ^= LDNS_RD_MASK;
	v[3] ^= LDNS_CD_MASK;
	for (size_t i = LDNS_HEADER_SIZE; i < size; i++)
		if ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z')
			v[i] ^= 0x20;
	memo_same(m, z, v, size);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* built once: the harness's only state (the memo fills up across
	 * inputs, as the server's does across queries) */
	static struct dns_zone *z;
	static struct dns_memo *m;

	if (!z) {
		struct model_store *st = dns_test_store(ZONE);

		if (!st || dns_zone_compute(st, NULL, &z) < 0 || dns_memo_new(&m) < 0)
			abort();
		model_store_free(st);
	}
	one(z, data, size, false);
	one(z, data, size, true);
	memo_check(m, z, data, size);
	return 0;
}
