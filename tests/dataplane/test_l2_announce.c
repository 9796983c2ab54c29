/* L2 announcements: who announces each LoadBalancer and external IP
 * (l2_plan_compute): every agent must compute the same owner from the same
 * objects, only Ready Nodes own, and when an owner goes only its
 * addresses move. Then the frames (l2_frame.c): the reply to an ARP
 * request or a neighbor solicitation, and the announcements. */
#include "tests/harness/test.h"
#include "dataplane/l2_announce.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <string.h>

static void put_json(struct model_store *st, const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	struct model_object mo;
	struct model_error e;

	if (!o)
		test_fail(__FILE__, __LINE__, "json: %s: %s", je.text, text);
	if (model_object_parse(o, &mo, &e) < 0)
		test_fail(__FILE__, __LINE__, "%s", e.msg);
	CHECK_OK(model_store_put(st, "test", mo.kind, mo.obj));
	json_decref(o);
}

static void put_node(struct model_store *st, const char *name, const char *ready)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
		 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, ready);
	put_json(st, buf);
}

/* A Service of TYPE with one externalIP and one ingress IP. */
static void put_service(struct model_store *st, const char *name, const char *type,
			const char *external_ip, const char *ingress_ip)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"default\"},\"spec\":{\"type\":\"%s\",\"clusterIP\":\"10.96.0.20\","
		 "\"externalIPs\":[\"%s\"],\"ports\":[{\"port\":80}]},"
		 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"%s\"}]}}}",
		 name, type, external_ip, ingress_ip);
	put_json(st, buf);
}

static const char *owner_of(const struct l2_plan *p, const char *addr)
{
	struct ipaddr a;
	const struct l2_entry *e;

	CHECK_OK(ipaddr_parse(addr, &a));
	e = l2_plan_find(p, &a);
	CHECK(e != NULL);
	return e->owner ? e->owner : "(none)";
}

TEST(l2_plan_takes_ingress_and_external_ips_once_each)
{
	struct model_store *st = NULL;
	struct l2_plan p;
	struct ipaddr a;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "True");
	put_service(st, "web", "LoadBalancer", "192.0.2.10", "192.0.2.20");
	/* a ClusterIP Service's stale ingress IP is not served, so not announced */
	put_service(st, "old", "ClusterIP", "2001:db8::10", "192.0.2.30");
	/* the same address in two Services: once, with the first by key */
	put_service(st, "alt", "LoadBalancer", "192.0.2.10", "192.0.2.21");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_INT_EQ(p.n, 4);
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "n1");
	CHECK_STR_EQ(l2_plan_find(&p, &p.v[0].addr)->service, "default/alt");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.20"), "n1");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.21"), "n1");
	CHECK_STR_EQ(owner_of(&p, "2001:db8::10"), "n1");
	CHECK_OK(ipaddr_parse("192.0.2.30", &a));
	CHECK(l2_plan_find(&p, &a) == NULL);
	l2_plan_clear(&p);
	model_store_free(st);
}

TEST(l2_plan_only_ready_nodes_announce)
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "False");
	put_node(st, "n2", "Unknown");
	put_service(st, "web", "LoadBalancer", "192.0.2.10", "192.0.2.20");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "(none)");
	l2_plan_clear(&p);
	put_node(st, "n2", "True");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "n2");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.20"), "n2");
	l2_plan_clear(&p);
	model_store_free(st);
}

/* externalTrafficPolicy Local: only a node with a ready endpoint of the
 * Service announces (192.168.75.200 hashes to n1 of n1, n2). */
TEST(l2_plan_policy_local_announces_from_a_node_with_an_endpoint)
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "True");
	put_node(st, "n2", "True");
	put_json(st, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		     "\"namespace\":\"default\"},\"spec\":{\"type\":\"LoadBalancer\","
		     "\"clusterIP\":\"10.96.0.20\",\"externalTrafficPolicy\":\"Local\","
		     "\"ports\":[{\"port\":80}]},"
		     "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.168.75.200\"}]}}}");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.168.75.200"), "(none)"); /* no endpoint anywhere */
	l2_plan_clear(&p);
	put_json(st, "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		     "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":"
		     "{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		     "\"ports\":[{\"port\":8080}],\"endpoints\":["
		     "{\"addresses\":[\"10.244.1.5\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":false}},"
		     "{\"addresses\":[\"10.244.2.5\"],\"nodeName\":\"n2\"}]}");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.168.75.200"), "n2");
	l2_plan_clear(&p);
	model_store_free(st);
}

#define N_ADDRS 600

/* The owners of 10.9.x.y for N_ADDRS addresses, with nodes n1..n3 put in
 * the order given (n3 NotReady when n3_ready is false). */
static void owners(const char *order, bool n3_ready, char out[N_ADDRS][4])
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	for (const char *c = order; *c; c++) {
		char name[4] = { 'n', *c, 0 };

		put_node(st, name, *c == '3' && !n3_ready ? "False" : "True");
	}
	for (int i = 0; i < N_ADDRS; i++) {
		char svc[32], ip[32], ip2[32];

		snprintf(svc, sizeof(svc), "s%d", i);
		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 200, i % 200 + 1);
		snprintf(ip2, sizeof(ip2), "10.8.%d.%d", i / 200, i % 200 + 1);
		put_service(st, svc, "LoadBalancer", ip2, ip);
	}
	CHECK_OK(l2_plan_compute(st, &p));
	for (int i = 0; i < N_ADDRS; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 200, i % 200 + 1);
		strscpy(out[i], owner_of(&p, ip), 4);
	}
	l2_plan_clear(&p);
	model_store_free(st);
}

TEST(l2_plan_agrees_balances_and_moves_only_the_gone_nodes_addresses)
{
	static char a[N_ADDRS][4], b[N_ADDRS][4], c[N_ADDRS][4];
	int count[4] = { 0 }, moved = 0;

	owners("123", true, a);
	owners("312", true, b); /* another agent, objects in another order */
	for (int i = 0; i < N_ADDRS; i++) {
		CHECK_STR_EQ(a[i], b[i]);
		count[a[i][1] - '0']++;
	}
	/* spread: each node a third, give or take */
	for (int k = 1; k <= 3; k++)
		CHECK(count[k] > N_ADDRS / 4 && count[k] < N_ADDRS * 5 / 12);
	/* n3 goes: its addresses move, no other does */
	owners("123", false, c);
	for (int i = 0; i < N_ADDRS; i++) {
		if (streq(a[i], "n3")) {
			CHECK(!streq(c[i], "n3"));
			moved++;
		} else {
			CHECK_STR_EQ(c[i], a[i]);
		}
	}
	CHECK_INT_EQ(moved, count[3]);
}

TEST(l2_score_depends_on_address_and_node)
{
	struct ipaddr a, b;

	CHECK_OK(ipaddr_parse("192.0.2.10", &a));
	CHECK_OK(ipaddr_parse("192.0.2.11", &b));
	CHECK(l2_score(&a, "n1") == l2_score(&a, "n1"));
	CHECK(l2_score(&a, "n1") != l2_score(&a, "n2"));
	CHECK(l2_score(&a, "n1") != l2_score(&b, "n1"));
}

/* ---- frames ---- */

static const struct l2_iface IFC = { .ifindex = 2, .name = "ext",
				     .mac = { 0x02, 0, 0, 0, 0, 0x01 } };
static const uint8_t PEER_MAC[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x99 };

static bool mine_200(const struct ipaddr *a, void *ud)
{
	char buf[IPADDR_STRLEN];

	(void)ud;
	ipaddr_str(a, buf, sizeof(buf));
	return streq(buf, "192.0.2.200") || streq(buf, "2001:db8::200");
}

static size_t arp_request(uint8_t *f, const char *sender, const char *target)
{
	struct ether_header eh = { .ether_type = htons(ETHERTYPE_ARP) };
	struct ether_arp ea = { 0 };

	memset(eh.ether_dhost, 0xff, ETH_ALEN);
	memcpy(eh.ether_shost, PEER_MAC, ETH_ALEN);
	ea.arp_hrd = htons(ARPHRD_ETHER);
	ea.arp_pro = htons(ETHERTYPE_IP);
	ea.arp_hln = ETH_ALEN;
	ea.arp_pln = 4;
	ea.arp_op = htons(ARPOP_REQUEST);
	memcpy(ea.arp_sha, PEER_MAC, ETH_ALEN);
	inet_pton(AF_INET, sender, ea.arp_spa);
	inet_pton(AF_INET, target, ea.arp_tpa);
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + sizeof(eh), &ea, sizeof(ea));
	return sizeof(eh) + sizeof(ea);
}

TEST(l2_reply_answers_arp_for_its_addresses_only)
{
	uint8_t f[128];
	struct l2_frame out;
	struct ether_header eh;
	struct ether_arp ea;
	char a[IPADDR_STRLEN];
	size_t n = arp_request(f, "192.0.2.100", "192.0.2.200");

	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 1);
	CHECK_INT_EQ(out.len, sizeof(eh) + sizeof(ea));
	CHECK_INT_EQ(out.proto, ETHERTYPE_ARP);
	memcpy(&eh, out.data, sizeof(eh));
	memcpy(&ea, out.data + sizeof(eh), sizeof(ea));
	CHECK(!memcmp(eh.ether_dhost, PEER_MAC, ETH_ALEN) && !memcmp(out.dst, PEER_MAC, ETH_ALEN));
	CHECK(!memcmp(eh.ether_shost, IFC.mac, ETH_ALEN) && !memcmp(ea.arp_sha, IFC.mac, ETH_ALEN));
	CHECK_INT_EQ(ntohs(ea.arp_op), ARPOP_REPLY);
	CHECK_STR_EQ(inet_ntop(AF_INET, ea.arp_spa, a, sizeof(a)), "192.0.2.200");
	CHECK_STR_EQ(inet_ntop(AF_INET, ea.arp_tpa, a, sizeof(a)), "192.0.2.100");
	CHECK(!memcmp(ea.arp_tha, PEER_MAC, ETH_ALEN));
	/* another address; someone's own announcement; cut short */
	n = arp_request(f, "192.0.2.100", "192.0.2.201");
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 0);
	n = arp_request(f, "192.0.2.200", "192.0.2.200");
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 0);
	CHECK_INT_EQ(l2_reply(&IFC, f, n - 1, mine_200, NULL, &out), -EINVAL);
}

/* A neighbor solicitation for target from src (with a source link-layer
 * option), its checksum right. */
static size_t ns_request(uint8_t *f, const char *src, const char *target)
{
	struct ether_header eh = { .ether_type = htons(ETHERTYPE_IPV6) };
	struct ip6_hdr ip6 = { 0 };
	struct nd_neighbor_solicit ns = { 0 };
	struct nd_opt_hdr opt = { .nd_opt_type = ND_OPT_SOURCE_LINKADDR, .nd_opt_len = 1 };
	const size_t off = sizeof(eh) + sizeof(ip6), mlen = sizeof(ns) + sizeof(opt) + ETH_ALEN;
	uint16_t csum;

	memcpy(eh.ether_dhost, (uint8_t[]){ 0x33, 0x33, 0xff, 0, 0x02, 0 }, ETH_ALEN);
	memcpy(eh.ether_shost, PEER_MAC, ETH_ALEN);
	ip6.ip6_flow = htonl(6u << 28);
	ip6.ip6_plen = htons((uint16_t)mlen);
	ip6.ip6_nxt = IPPROTO_ICMPV6;
	ip6.ip6_hlim = 255;
	inet_pton(AF_INET6, src, &ip6.ip6_src);
	inet_pton(AF_INET6, "ff02::1:ff00:200", &ip6.ip6_dst);
	ns.nd_ns_type = ND_NEIGHBOR_SOLICIT;
	inet_pton(AF_INET6, target, &ns.nd_ns_target);
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + sizeof(eh), &ip6, sizeof(ip6));
	memcpy(f + off, &ns, sizeof(ns));
	memcpy(f + off + sizeof(ns), &opt, sizeof(opt));
	memcpy(f + off + sizeof(ns) + sizeof(opt), PEER_MAC, ETH_ALEN);
	csum = l2_icmp6_csum(&ip6.ip6_src, &ip6.ip6_dst, f + off, mlen);
	memcpy(f + off + offsetof(struct icmp6_hdr, icmp6_cksum), &csum, sizeof(csum));
	return off + mlen;
}

/* Checks an advertisement of 2001:db8::200 to (dst_mac, dst) with flags. */
static void check_na(const struct l2_frame *out, const uint8_t *dst_mac, const char *dst,
		     uint32_t flags)
{
	const size_t off = sizeof(struct ether_header) + sizeof(struct ip6_hdr);
	struct ip6_hdr ip6;
	struct nd_neighbor_advert na;
	struct nd_opt_hdr opt;
	char a[IPADDR_STRLEN];

	CHECK_INT_EQ(out->proto, ETHERTYPE_IPV6);
	CHECK_INT_EQ(out->len, off + sizeof(na) + 8);
	CHECK(!memcmp(out->dst, dst_mac, ETH_ALEN) && !memcmp(out->data, dst_mac, ETH_ALEN));
	memcpy(&ip6, out->data + sizeof(struct ether_header), sizeof(ip6));
	memcpy(&na, out->data + off, sizeof(na));
	memcpy(&opt, out->data + off + sizeof(na), sizeof(opt));
	CHECK_INT_EQ(ip6.ip6_hlim, 255);
	CHECK_INT_EQ(ntohs(ip6.ip6_plen), sizeof(na) + 8);
	CHECK_STR_EQ(inet_ntop(AF_INET6, &ip6.ip6_src, a, sizeof(a)), "2001:db8::200");
	CHECK_STR_EQ(inet_ntop(AF_INET6, &ip6.ip6_dst, a, sizeof(a)), dst);
	CHECK_INT_EQ(na.nd_na_type, ND_NEIGHBOR_ADVERT);
	CHECK_INT_EQ(na.nd_na_flags_reserved, flags);
	CHECK_STR_EQ(inet_ntop(AF_INET6, &na.nd_na_target, a, sizeof(a)), "2001:db8::200");
	CHECK_INT_EQ(opt.nd_opt_type, ND_OPT_TARGET_LINKADDR);
	CHECK(!memcmp(out->data + off + sizeof(na) + sizeof(opt), IFC.mac, ETH_ALEN));
	CHECK_INT_EQ(l2_icmp6_csum(&ip6.ip6_src, &ip6.ip6_dst, out->data + off, sizeof(na) + 8), 0);
}

TEST(l2_reply_answers_neighbor_solicitations_for_its_addresses_only)
{
	static const uint8_t all_nodes_mac[ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint8_t f[128];
	struct l2_frame out;
	size_t n = ns_request(f, "2001:db8::100", "2001:db8::200");

	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 1);
	check_na(&out, PEER_MAC, "2001:db8::100", ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE);
	/* duplicate address detection, from ::: to all nodes, not solicited */
	n = ns_request(f, "::", "2001:db8::200");
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 1);
	check_na(&out, all_nodes_mac, "ff02::1", ND_NA_FLAG_OVERRIDE);
	/* another address; a wrong checksum; a hop limit not 255 */
	n = ns_request(f, "2001:db8::100", "2001:db8::201");
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), 0);
	n = ns_request(f, "2001:db8::100", "2001:db8::200");
	f[n - 1] ^= 1;
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), -EINVAL);
	n = ns_request(f, "2001:db8::100", "2001:db8::200");
	f[sizeof(struct ether_header) + offsetof(struct ip6_hdr, ip6_hlim)] = 64;
	CHECK_INT_EQ(l2_reply(&IFC, f, n, mine_200, NULL, &out), -EINVAL);
}

TEST(l2_announcements_are_gratuitous_arp_and_unsolicited_na)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t all_nodes_mac[ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t zero[ETH_ALEN];
	struct l2_frame out;
	struct ether_arp ea;
	struct ipaddr a;
	char buf[IPADDR_STRLEN];

	CHECK_OK(ipaddr_parse("192.0.2.200", &a));
	l2_announcement(&IFC, &a, &out);
	CHECK_INT_EQ(out.proto, ETHERTYPE_ARP);
	CHECK(!memcmp(out.dst, bcast, ETH_ALEN));
	memcpy(&ea, out.data + sizeof(struct ether_header), sizeof(ea));
	CHECK_INT_EQ(ntohs(ea.arp_op), ARPOP_REQUEST);
	CHECK_STR_EQ(inet_ntop(AF_INET, ea.arp_spa, buf, sizeof(buf)), "192.0.2.200");
	CHECK_STR_EQ(inet_ntop(AF_INET, ea.arp_tpa, buf, sizeof(buf)), "192.0.2.200");
	CHECK(!memcmp(ea.arp_sha, IFC.mac, ETH_ALEN) && !memcmp(ea.arp_tha, zero, ETH_ALEN));
	CHECK_OK(ipaddr_parse("2001:db8::200", &a));
	l2_announcement(&IFC, &a, &out);
	check_na(&out, all_nodes_mac, "ff02::1", ND_NA_FLAG_OVERRIDE);
}
