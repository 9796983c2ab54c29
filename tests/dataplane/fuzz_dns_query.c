/* Fuzz harness for the DNS query path: any bytes as a query (over UDP,
 * then over TCP) to a zone of a few Services, and what is forwarded
 * answered again from the cache path (dns_reply_for). Never crashes or
 * leaks; every reply parses back. */
#include "tests/dataplane/dns_test_zone.h"
#include "dataplane/dns/dns.h"

#include <ldns/ldns.h>
#include <stdint.h>
#include <stdlib.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* built once: the harness's only state, read-only after */
	static struct dns_zone *z;

	if (!z) {
		struct model_store *st = dns_test_store(ZONE);

		if (!st || dns_zone_compute(st, NULL, &z) < 0)
			abort();
		model_store_free(st);
	}
	one(z, data, size, false);
	one(z, data, size, true);
	return 0;
}
