/* Cluster DNS without sockets: the records computed from a model store
 * (Kubernetes DNS spec 1.1.0), NXDOMAIN versus NODATA, truncation, FORMERR,
 * and the upstream cache's TTLs. */
#include "tests/harness/test.h"
#include "tests/dataplane/dns_test_zone.h"
#include "dataplane/dns/dns_int.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>

#define SVC(ns, name, spec)                                                              \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: " ns "}\n" \
	"spec: " spec "\n"
#define SLICE(ns, name, svc, fam, ports, eps)                                              \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " name \
	", namespace: " ns ", labels: {kubernetes.io/service-name: " svc "}}\naddressType: " fam \
	"\nports: " ports "\nendpoints: " eps "\n"

static const char *const CLUSTER =
	SVC("default", "web", "{clusterIPs: [10.96.0.20, 'fd00:96::20'], ports: [{name: http, port: 80}, "
			       "{name: dns, port: 53, protocol: UDP}, {port: 81}]}")
	SVC("db", "pg", "{clusterIP: None, ports: [{name: pg, port: 5432}]}")
	SLICE("db", "pg-1", "pg", "IPv4", "[{name: pg, port: 5432}]",
	      "[{addresses: [10.244.1.5], hostname: pg-0}, {addresses: [10.244.1.6]}, "
	      "{addresses: [10.244.1.7], conditions: {ready: false}}]")
	SVC("db", "empty", "{clusterIP: None}")
	SLICE("db", "empty-1", "empty", "IPv4", "[]", "[{addresses: [10.244.1.9], conditions: {ready: false}}]")
	SVC("default", "ext", "{type: ExternalName, externalName: www.example.com}");

struct fixture {
	struct model_store *st;
	struct dns_zone *z;
};

static void fixture_init(struct fixture *f)
{
	f->st = dns_test_store(CLUSTER);
	CHECK(f->st != NULL);
	CHECK_OK(dns_zone_compute(f->st, NULL, &f->z));
}

/* fixture_init, the store's changes so far taken (the zone is theirs):
 * for tests that update the zone as the agent does. */
static void fixture_init_synced(struct fixture *f)
{
	char **keys;
	size_t n;
	bool all;

	fixture_init(f);
	CHECK_OK(model_store_take_dirty_of(f->st, MODEL_READER_DNS, &keys, &n, &all));
	free(keys);
}

static void fixture_fini(struct fixture *f)
{
	dns_zone_free(f->z);
	model_store_free(f->st);
}

/* Asks z for name/type; returns the parsed response (NULL: forwarded). */
static ldns_pkt *ask_opts(const struct dns_zone *z, const char *name, ldns_rr_type type,
			  uint16_t edns_size, bool tcp)
{
	ldns_pkt *q = NULL, *resp = NULL;
	struct dns_query dq;
	struct dns_reply rep;
	uint8_t *wire;
	size_t len;
	enum dns_verdict v;

	CHECK(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD) == LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 4242);
	if (edns_size)
		ldns_pkt_set_edns_udp_size(q, edns_size);
	CHECK(ldns_pkt2wire(&wire, q, &len) == LDNS_STATUS_OK);
	v = dns_answer(z, wire, len, tcp, &dq, &rep);
	free(wire);
	ldns_pkt_free(q);
	if (v == DNS_FORWARD) {
		dns_query_clear(&dq);
		return NULL;
	}
	CHECK_INT_EQ(v, DNS_REPLY);
	CHECK(ldns_wire2pkt(&resp, rep.wire, rep.len) == LDNS_STATUS_OK);
	CHECK_INT_EQ(ldns_pkt_id(resp), 4242);
	dns_reply_clear(&rep);
	return resp;
}

static ldns_pkt *ask(const struct dns_zone *z, const char *name, ldns_rr_type type)
{
	return ask_opts(z, name, type, 0, false);
}

/* The answer section as sorted text lines ("owner ttl IN TYPE rdata"). */
static char *section_text(const ldns_rr_list *l)
{
	ldns_rr_list *c = ldns_rr_list_clone(l);
	char *s;

	ldns_rr_list_sort(c);
	s = ldns_rr_list2str(c);
	ldns_rr_list_deep_free(c);
	return s;
}

#define CHECK_SECTION(list, want)                                  \
	do {                                                       \
		char *_s = section_text(list);                     \
		CHECK_STR_EQ(_s, want);                            \
		free(_s);                                          \
	} while (0)

/* Asks name/type and checks the answer section (see CHECK_SECTION). */
#define CHECK_ANSWER(z, name, type, want)                          \
	do {                                                       \
		ldns_pkt *_r = ask(z, name, type);                 \
		CHECK_SECTION(ldns_pkt_answer(_r), want);          \
		ldns_pkt_free(_r);                                 \
	} while (0)

/* Asks name/type and checks the response code. */
#define CHECK_RCODE(z, name, type, want)                           \
	do {                                                       \
		ldns_pkt *_r = ask(z, name, type);                 \
		CHECK_INT_EQ(ldns_pkt_get_rcode(_r), want);        \
		ldns_pkt_free(_r);                                 \
	} while (0)

TEST(dns_cluster_ip_service_a_aaaa_srv_ptr)
{
	struct fixture f;
	ldns_pkt *r;

	fixture_init(&f);
	r = ask(f.z, "WEB.default.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	CHECK(ldns_pkt_aa(r));
	/* the question as asked, the answer in the zone's case */
	CHECK_SECTION(ldns_pkt_answer(r), "web.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.20\n");
	ldns_pkt_free(r);
	CHECK_ANSWER(f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA,
		     "web.default.svc.cluster.local.\t5\tIN\tAAAA\tfd00:96::20\n");
	r = ask(f.z, "_http._tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	CHECK_SECTION(ldns_pkt_answer(r), "_http._tcp.web.default.svc.cluster.local.\t5\tIN\tSRV\t0 100 80 "
					  "web.default.svc.cluster.local.\n");
	CHECK_INT_EQ(ldns_pkt_arcount(r), 2); /* A and AAAA of the target */
	ldns_pkt_free(r);
	r = ask(f.z, "_dns._udp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	CHECK_ANSWER(f.z, "20.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR,
		      "20.0.96.10.in-addr.arpa.\t5\tIN\tPTR\tweb.default.svc.cluster.local.\n");
	r = ask(f.z, "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.",
		LDNS_RR_TYPE_PTR);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	/* an address the cluster does not know goes upstream */
	CHECK(ask(f.z, "99.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR) == NULL);
	fixture_fini(&f);
}

TEST(dns_headless_ready_endpoints_hostnames_srv)
{
	struct fixture f;
	ldns_pkt *r;

	fixture_init(&f);
	r = ask(f.z, "pg.db.svc.cluster.local.", LDNS_RR_TYPE_A);
	/* ready endpoints only */
	CHECK_SECTION(ldns_pkt_answer(r), "pg.db.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n"
					  "pg.db.svc.cluster.local.\t5\tIN\tA\t10.244.1.6\n");
	ldns_pkt_free(r);
	CHECK_ANSWER(f.z, "pg-0.pg.db.svc.cluster.local.", LDNS_RR_TYPE_A,
		     "pg-0.pg.db.svc.cluster.local.\t5\tIN\tA\t10.244.1.5\n");
	r = ask(f.z, "_pg._tcp.pg.db.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	CHECK_SECTION(ldns_pkt_answer(r),
		      "_pg._tcp.pg.db.svc.cluster.local.\t5\tIN\tSRV\t0 50 5432 pg-0.pg.db.svc.cluster.local.\n"
		      "_pg._tcp.pg.db.svc.cluster.local.\t5\tIN\tSRV\t0 50 5432 10-244-1-6.pg.db.svc.cluster.local.\n");
	CHECK_INT_EQ(ldns_pkt_arcount(r), 2);
	ldns_pkt_free(r);
	CHECK_ANSWER(f.z, "5.1.244.10.in-addr.arpa.", LDNS_RR_TYPE_PTR,
		      "5.1.244.10.in-addr.arpa.\t5\tIN\tPTR\tpg-0.pg.db.svc.cluster.local.\n");
	/* the endpoint that is not ready has no name */
	CHECK_RCODE(f.z, "10-244-1-7.pg.db.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
	fixture_fini(&f);
}

TEST(dns_nxdomain_versus_nodata_with_soa)
{
	struct fixture f;
	ldns_pkt *r;

	fixture_init(&f);
	/* headless with no ready endpoint: NXDOMAIN, as the spec says */
	r = ask(f.z, "empty.db.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	CHECK_INT_EQ(ldns_pkt_nscount(r), 1);
	CHECK_INT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(r), 0)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(r);
	CHECK_RCODE(f.z, "nope.default.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
	/* a name that exists without that type: NODATA, SOA with the negative TTL */
	r = ask(f.z, "pg.db.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 0);
	CHECK_INT_EQ(ldns_pkt_nscount(r), 1);
	CHECK_INT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(r), 0)), DNS_DEFAULT_TTL);
	ldns_pkt_free(r);
	/* empty non-terminals exist */
	r = ask(f.z, "db.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 0);
	ldns_pkt_free(r);
	fixture_fini(&f);
}

TEST(dns_external_name_version_pod_and_forwarding)
{
	struct fixture f;
	ldns_pkt *r;

	fixture_init(&f);
	CHECK_ANSWER(f.z, "ext.default.svc.cluster.local.", LDNS_RR_TYPE_CNAME,
		     "ext.default.svc.cluster.local.\t5\tIN\tCNAME\twww.example.com.\n");
	CHECK_ANSWER(f.z, "dns-version.cluster.local.", LDNS_RR_TYPE_TXT,
		     "dns-version.cluster.local.\t5\tIN\tTXT\t\"1.1.0\"\n");
	CHECK_ANSWER(f.z, "10-244-3-4.default.pod.cluster.local.", LDNS_RR_TYPE_A,
		     "10-244-3-4.default.pod.cluster.local.\t5\tIN\tA\t10.244.3.4\n");
	r = ask(f.z, "cluster.local.", LDNS_RR_TYPE_SOA);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	CHECK(ask(f.z, "example.com.", LDNS_RR_TYPE_A) == NULL);
	fixture_fini(&f);
}

/* An ExternalName asked for A: the upstream is asked for its target, and
 * the reply is the CNAME then what the upstream said. */
TEST(dns_external_name_follows_target_upstream)
{
	struct fixture f;
	struct dns_query q;
	struct dns_reply rep;
	ldns_pkt *query = NULL, *up = NULL, *r = NULL;
	ldns_rr *a = NULL;
	uint8_t *wire;
	size_t len;

	fixture_init(&f);
	CHECK(ldns_pkt_query_new_frm_str(&query, "Ext.default.svc.cluster.local.", LDNS_RR_TYPE_A,
					 LDNS_RR_CLASS_IN, LDNS_RD) == LDNS_STATUS_OK);
	CHECK(ldns_pkt2wire(&wire, query, &len) == LDNS_STATUS_OK);
	CHECK_INT_EQ(dns_answer(f.z, wire, len, false, &q, &rep), DNS_FORWARD);
	CHECK(q.ask != q.pkt);
	CHECK_SECTION(ldns_pkt_question((ldns_pkt *)q.ask), "www.example.com.\tIN\tA\n");
	/* what the upstream says */
	CHECK(ldns_pkt_query_new_frm_str(&up, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0) ==
	      LDNS_STATUS_OK);
	CHECK(ldns_rr_new_frm_str(&a, "www.example.com. 300 IN A 192.0.2.53", 0, NULL, NULL) == LDNS_STATUS_OK);
	ldns_pkt_push_rr(up, LDNS_SECTION_ANSWER, a);
	CHECK_OK(dns_reply_for(&q, up, &rep));
	CHECK(ldns_wire2pkt(&r, rep.wire, rep.len) == LDNS_STATUS_OK);
	CHECK_SECTION(ldns_pkt_question(r), "Ext.default.svc.cluster.local.\tIN\tA\n");
	/* (sorted: the CNAME comes first in the packet) */
	CHECK_SECTION(ldns_pkt_answer(r), "www.example.com.\t300\tIN\tA\t192.0.2.53\n"
					  "ext.default.svc.cluster.local.\t5\tIN\tCNAME\twww.example.com.\n");
	CHECK_INT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), LDNS_RR_TYPE_CNAME);
	ldns_pkt_free(r);
	ldns_pkt_free(up);
	ldns_pkt_free(query);
	free(wire);
	dns_reply_clear(&rep);
	dns_query_clear(&q);
	fixture_fini(&f);
}

/* A headless Service of 100 ready endpoints: too big for 512 bytes. */
/* wire of a query for name/type with id, RD and EDNS0 (edns: its size, 0
 * none); malloc'd, its length in *len. */
static uint8_t *query_wire(const char *name, ldns_rr_type type, uint16_t id, bool rd,
			   uint16_t edns, size_t *len)
{
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;

	CHECK(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0) ==
	      LDNS_STATUS_OK);
	ldns_pkt_set_id(q, id);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	CHECK(ldns_pkt2wire(&wire, q, len) == LDNS_STATUS_OK);
	ldns_pkt_free(q);
	return wire;
}

/* The memo's answer to name/type (0 when it has none) equals dns_answer's
 * byte for byte; learn: offer dns_answer's to the memo first. */
static size_t memo_ask(struct dns_memo *m, const struct dns_zone *z, const char *name,
		       ldns_rr_type type, uint16_t id, bool rd, uint16_t edns, bool learn)
{
	uint8_t out[DNS_MAX_UDP], *wire;
	struct dns_query q;
	struct dns_reply rep;
	unsigned rcode = 99;
	size_t len, n;

	wire = query_wire(name, type, id, rd, edns, &len);
	CHECK_INT_EQ(dns_answer(z, wire, len, false, &q, &rep), DNS_REPLY);
	if (learn)
		dns_memo_put(m, z, wire, len, &rep);
	n = dns_memo_answer(m, z, wire, len, out, sizeof(out), &rcode);
	if (n) {
		CHECK_INT_EQ(n, rep.len);
		CHECK(memcmp(out, rep.wire, n) == 0);
		CHECK_INT_EQ(rcode, rep.rcode);
	}
	dns_reply_clear(&rep);
	free(wire);
	return n;
}

TEST(dns_truncation_and_edns_size)
{
	char *yaml = malloc(200000), *p = yaml;
	struct model_store *st;
	struct dns_memo *m;
	struct dns_zone *z;
	ldns_pkt *r;

	p += sprintf(p, SVC("default", "big", "{clusterIP: None}"));
	p += sprintf(p, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
			"big-1, namespace: default, labels: {kubernetes.io/service-name: big}}\n"
			"addressType: IPv4\nendpoints:\n");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "- {addresses: [10.244.2.%d]}\n", i + 1);
	st = dns_test_store(yaml);
	CHECK(st != NULL);
	CHECK_OK(dns_zone_compute(st, NULL, &z));
	r = ask(z, "big.default.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK(ldns_pkt_tc(r));
	CHECK_INT_EQ(ldns_pkt_ancount(r), 0);
	ldns_pkt_free(r);
	/* EDNS0 with 4096 bytes: it fits; the response says EDNS0 too */
	r = ask_opts(z, "big.default.svc.cluster.local.", LDNS_RR_TYPE_A, 4096, false);
	CHECK(!ldns_pkt_tc(r));
	CHECK_INT_EQ(ldns_pkt_ancount(r), 100);
	CHECK(ldns_pkt_edns(r));
	ldns_pkt_free(r);
	/* TCP: no limit */
	r = ask_opts(z, "big.default.svc.cluster.local.", LDNS_RR_TYPE_A, 0, true);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 100);
	ldns_pkt_free(r);
	/* the memo of answers keeps neither the truncated answer nor one
	 * larger than 512 bytes (another client's size may be smaller) */
	CHECK_OK(dns_memo_new(&m));
	CHECK_INT_EQ(memo_ask(m, z, "big.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 0, true), 0);
	CHECK_INT_EQ(memo_ask(m, z, "big.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 4096, true), 0);
	dns_memo_free(m);
	dns_zone_free(z);
	model_store_free(st);
	free(yaml);
}

TEST(dns_malformed_queries)
{
	struct fixture f;
	struct dns_query q;
	struct dns_reply rep;
	/* a header claiming one question, and nothing after it */
	const uint8_t short_q[12] = { 0x12, 0x34, 0x01, 0x00, 0x00, 0x01 };
	const uint8_t response[12] = { 0x12, 0x34, 0x81, 0x00 };
	ldns_pkt *r = NULL;

	fixture_init(&f);
	CHECK_INT_EQ(dns_answer(f.z, short_q, 5, false, &q, &rep), DNS_DROP);
	CHECK_INT_EQ(dns_answer(f.z, response, sizeof(response), false, &q, &rep), DNS_DROP);
	CHECK_INT_EQ(dns_answer(f.z, short_q, sizeof(short_q), false, &q, &rep), DNS_REPLY);
	CHECK(ldns_wire2pkt(&r, rep.wire, rep.len) == LDNS_STATUS_OK);
	CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	CHECK_INT_EQ(ldns_pkt_id(r), 0x1234);
	ldns_pkt_free(r);
	dns_reply_clear(&rep);
	fixture_fini(&f);
}

/* An upstream answer kept for its TTL, aged, then gone; a negative one
 * for its SOA's minimum. */
TEST(dns_cache_honours_ttls)
{
	struct dns_cache *c;
	struct dns_query q = { 0 };
	ldns_pkt *resp = NULL, *got;
	ldns_rr *rr = NULL;

	CHECK_OK(dns_cache_new(2, &c));
	CHECK(ldns_pkt_query_new_frm_str((ldns_pkt **)&q.pkt, "Example.COM.", LDNS_RR_TYPE_A,
					 LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK);
	CHECK(ldns_pkt_query_new_frm_str(&resp, "example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0) ==
	      LDNS_STATUS_OK);
	CHECK(ldns_rr_new_frm_str(&rr, "example.com. 60 IN A 192.0.2.1", 0, NULL, NULL) == LDNS_STATUS_OK);
	ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr);
	dns_cache_put(c, resp, 1000);
	got = dns_cache_get(c, q.pkt, 1010);
	CHECK(got != NULL);
	CHECK_INT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(got), 0)), 50);
	CHECK(dns_cache_get(c, q.pkt, 1060) == NULL);
	CHECK_INT_EQ(dns_cache_count(c), 0);
	/* NXDOMAIN with SOA minimum 30 (TTL 300): 30 s */
	ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
	ldns_rr_list_set_rr_count(ldns_pkt_answer(resp), 0);
	ldns_rr_free(rr);
	ldns_pkt_set_ancount(resp, 0);
	CHECK(ldns_rr_new_frm_str(&rr, "com. 300 IN SOA a. b. 1 2 3 4 30", 0, NULL, NULL) == LDNS_STATUS_OK);
	ldns_pkt_push_rr(resp, LDNS_SECTION_AUTHORITY, rr);
	dns_cache_put(c, resp, 2000);
	CHECK(dns_cache_get(c, q.pkt, 2029) != NULL);
	CHECK(dns_cache_get(c, q.pkt, 2030) == NULL);
	/* SERVFAIL is never kept */
	ldns_pkt_set_rcode(resp, LDNS_RCODE_SERVFAIL);
	dns_cache_put(c, resp, 3000);
	CHECK(dns_cache_get(c, q.pkt, 3000) == NULL);
	ldns_pkt_free(resp);
	dns_query_clear(&q);
	dns_cache_free(c);
}

/* Takes the DNS's changed services and applies them to z in place. */
static void update(struct dns_zone *z, struct model_store *st)
{
	char **keys;
	size_t n;
	bool all;

	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &n, &all));
	CHECK(!all);
	CHECK_OK(dns_zone_update(z, st, keys, n));
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* The zone updated in place is the zone computed afresh, name for name
 * and record for record (with how many records each name holds up). */
static void check_incremental_matches_full(struct dns_zone *z, const struct model_store *st)
{
	struct dns_zone *full;
	char *a, *b;

	CHECK_OK(dns_zone_compute(st, NULL, &full));
	a = dns_zone_dump(z);
	b = dns_zone_dump(full);
	CHECK_STR_EQ(a, b);
	free(a);
	free(b);
	dns_zone_free(full);
}

TEST(dns_incremental_matches_full)
{
	struct fixture f;
	struct dns_zone_stats zs;
	ldns_pkt *r;

	fixture_init_synced(&f);
	/* a ClusterIP moves, a port is renamed; a new Service */
	CHECK_OK(dns_test_put(f.st, SVC("default", "web", "{clusterIP: 10.96.0.21, ports: [{name: web, port: 80}]}")
				     SVC("other", "new", "{clusterIP: 10.96.0.30}")));
	update(f.z, f.st);
	check_incremental_matches_full(f.z, f.st);
	r = ask(f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 0);
	ldns_pkt_free(r);
	r = ask(f.z, "21.0.96.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	/* an endpoint turns unready, one of another Service ready */
	CHECK_OK(dns_test_put(f.st, SLICE("db", "pg-1", "pg", "IPv4", "[{name: pg, port: 5432}]",
					  "[{addresses: [10.244.1.5], hostname: pg-0}]")
				     SLICE("db", "empty-1", "empty", "IPv4", "[]", "[{addresses: [10.244.1.9]}]")));
	update(f.z, f.st);
	check_incremental_matches_full(f.z, f.st);
	/* Services deleted: their names and the names only they held up go */
	CHECK_INT_EQ(model_store_delete(f.st, MODEL_KIND_SERVICE, "test", "other", "new"), 1);
	CHECK_INT_EQ(model_store_delete(f.st, MODEL_KIND_SERVICE, "test", "default", "ext"), 1);
	CHECK_INT_EQ(model_store_delete(f.st, MODEL_KIND_SERVICE, "test", "db", "pg"), 1);
	update(f.z, f.st);
	check_incremental_matches_full(f.z, f.st);
	CHECK_RCODE(f.z, "other.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
	dns_zone_stats(f.z, &zs);
	CHECK_INT_EQ(zs.n_services, 2); /* web, empty */
	fixture_fini(&f);
}

/* Answers remembered by question: the same bytes as the full path with the
 * asker's id, RD and spelling; per EDNS0 or not; forgotten when the zone
 * changes (a removed name is NXDOMAIN at once); never a TC answer. */
TEST(dns_memo_answers_as_the_full_path)
{
	struct fixture f;
	struct dns_memo *m;

	fixture_init_synced(&f);
	CHECK_OK(dns_memo_new(&m));
	CHECK_INT_EQ(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 0, false), 0);
	CHECK(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 0, true) > 0);
	CHECK(memo_ask(m, f.z, "WeB.DEFAULT.svc.cluster.local.", LDNS_RR_TYPE_A, 7, false, 0, false) > 0);
	/* with EDNS0: another answer (an OPT record), learnt apart */
	CHECK_INT_EQ(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 2, true, 1232, false), 0);
	CHECK(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 2, true, 1232, true) > 0);
	CHECK(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 3, false, 4096, false) > 0);
	/* negative answers too (their SOA carries the serial) */
	CHECK(memo_ask(m, f.z, "nope.default.svc.cluster.local.", LDNS_RR_TYPE_A, 4, true, 0, true) > 0);
	CHECK(memo_ask(m, f.z, "pg.db.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 5, true, 0, true) > 0);
	CHECK(memo_ask(m, f.z, "_pg._tcp.pg.db.svc.cluster.local.", LDNS_RR_TYPE_SRV, 6, true, 0, true) > 0);
	/* the zone changes: web goes; the memo answers nothing stale */
	CHECK_INT_EQ(model_store_delete(f.st, MODEL_KIND_SERVICE, "test", "default", "web"), 1);
	update(f.z, f.st);
	CHECK_INT_EQ(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 0, false), 0);
	CHECK_RCODE(f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
	CHECK(memo_ask(m, f.z, "web.default.svc.cluster.local.", LDNS_RR_TYPE_A, 1, true, 0, true) > 0);
	dns_memo_free(m);
	fixture_fini(&f);
}

/* A zone that starts empty and gets 10,000 Services through updates (the
 * API watch's way) grows its tables: each lookup stays one short chain. */
TEST(dns_zone_grows_through_updates)
{
	size_t size = 10000 * 200;
	char *yaml = malloc(size), *p = yaml;
	struct model_store *st = dns_test_store("");
	struct dns_zone *z, *full;
	struct dns_zone_stats zs;
	char *a, *b;
	ldns_pkt *r;

	char **keys;
	size_t n;
	bool all;

	CHECK(st != NULL);
	CHECK_OK(dns_zone_compute(st, NULL, &z));
	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &n, &all));
	free(keys);
	/* in batches under the store's limit of changes it lists */
	for (int i = 0; i < 10000; i++) {
		p += sprintf(p, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: "
				"ns%d}\nspec: {clusterIP: 10.96.%d.%d}\n", i, i % 50, i / 250, i % 250 + 1);
		if (i % 1000 == 999) {
			CHECK_OK(dns_test_put(st, yaml));
			update(z, st);
			p = yaml;
		}
	}
	dns_zone_stats(z, &zs);
	CHECK_INT_EQ(zs.n_services, 10000);
	CHECK(zs.n_names <= 2 * (z->mask + 1) + 1);
	r = ask(z, "s4321.ns21.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	CHECK_OK(dns_zone_compute(st, NULL, &full));
	a = dns_zone_dump(z);
	b = dns_zone_dump(full);
	CHECK_STR_EQ(a, b);
	free(a);
	free(b);
	dns_zone_free(full);
	dns_zone_free(z);
	model_store_free(st);
	free(yaml);
}

/* 10,000 Services: computed in well under a second (the agent recomputes
 * the zone on every change). */
TEST(dns_zone_10000_services)
{
	size_t size = 10000 * 200;
	char *yaml = malloc(size), *p = yaml;
	struct model_store *st;
	struct dns_zone *z;
	struct dns_zone_stats zs;
	ldns_pkt *r;
	char **keys;
	size_t n;
	bool all;

	for (int i = 0; i < 10000; i++)
		p += sprintf(p, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: "
				"ns%d}\nspec: {clusterIP: 10.96.%d.%d, ports: [{name: http, port: 80}]}\n",
			     i, i % 50, i / 250, i % 250 + 1);
	st = dns_test_store(yaml);
	CHECK(st != NULL);
	/* (how fast: make bench B=dns; here, what) */
	CHECK_OK(dns_zone_compute(st, NULL, &z));
	dns_zone_stats(z, &zs);
	CHECK_INT_EQ(zs.n_services, 10000);
	CHECK_INT_EQ(zs.n_records, 30001); /* A, PTR, SRV each; dns-version */
	/* one change: only its key is recomputed, not the whole */
	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &n, &all));
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	CHECK_OK(dns_test_put(st, "apiVersion: v1\nkind: Service\nmetadata: {name: s1, namespace: ns1}\n"
				  "spec: {clusterIP: 10.96.200.1}\n"));
	CHECK_OK(model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &n, &all));
	CHECK(!all);
	CHECK_INT_EQ(n, 1);
	CHECK_OK(dns_zone_update(z, st, keys, n));
	free(keys[0]);
	free(keys);
	dns_zone_stats(z, &zs);
	CHECK_INT_EQ(zs.n_records, 30000); /* its SRV went */
	r = ask(z, "s9999.ns49.svc.cluster.local.", LDNS_RR_TYPE_A);
	CHECK_SECTION(ldns_pkt_answer(r), "s9999.ns49.svc.cluster.local.\t5\tIN\tA\t10.96.39.250\n");
	ldns_pkt_free(r);
	dns_zone_free(z);
	model_store_free(st);
	free(yaml);
}
