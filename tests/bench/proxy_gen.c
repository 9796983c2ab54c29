/* proxy-gen: N Services x M endpoints for the service proxy benchmark
 * (tests/bench/bench_proxy.sh), written three ways for the same services:
 *
 *   manifests  one JSON file per service (a kind: List with the Service and
 *              its EndpointSlice) in a folder, for `skiff-agent --manifests`;
 *   iptables   an iptables-restore file shaped as kube-proxy's iptables mode
 *              writes it: KUBE-SERVICES -> KUBE-SVC-<hash> (one
 *              `-m statistic --mode random --probability 1/k` rule per
 *              endpoint, the last without) -> KUBE-SEP-<hash> (mark for
 *              masquerade when hairpinning, DNAT), the masquerade chains
 *              and the filter table's KUBE-* chains;
 *   nft        an `nft -f` file shaped as kube-proxy's nftables mode: the
 *              service-ips verdict map keyed on ip . proto . port, one
 *              service-<hash>-ns/name/proto/port chain per service port with
 *              `numgen random mod M vmap`, one endpoint-<hash>-... chain per
 *              endpoint with its dnat, the cluster-ips set and checks.
 *
 * Chain hashes are kube-proxy's: base32(sha256(servicePortName + protocol
 * [+ endpoint])), truncated (16 characters for iptables, 8 for nft).
 * Service i (0-based) has ClusterIP service-cidr + 1 + i, port --port, and
 * endpoints endpoint-base + 1 + i*M + j at --target-port, except the
 * --real-service, whose endpoints are --real-endpoints (real pods).
 *
 * --add-one writes the change kube-proxy makes to add one more service
 * (index N) to the N loaded ones: for iptables the --noflush restore
 * input of a partial sync (KUBE-SERVICES rewritten, the new chains), for
 * nft the transaction's added chains, rules and elements. --only I with
 * --change writes service I's manifest with its last endpoint replaced by
 * another address (one endpoint change). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define PG_MAX_REAL 64
#define PG_NS "bench"
#define PG_PORT_NAME "http"

struct pg_opts {
	const char *mode;
	unsigned services;
	unsigned endpoints;
	uint32_t svc_net; /* host order */
	unsigned svc_prefix;
	uint32_t ep_base;
	uint32_t cluster_net;
	unsigned cluster_prefix;
	unsigned port;
	unsigned target_port;
	long real_service; /* -1: none */
	uint32_t real[PG_MAX_REAL];
	unsigned n_real;
	const char *out;
	const char *table;
	bool add_one;
	long only; /* -1: all */
	bool change;
};

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: proxy-gen manifests|iptables|nft [OPTION]...\n"
		"Generates N Services x M endpoints for the service proxy benchmark:\n"
		"skiff-agent manifests (a folder), a kube-proxy iptables-mode replica\n"
		"(iptables-restore input) or a kube-proxy nftables-mode replica (nft -f).\n"
		"\n"
		"  --services N          services (default 1000)\n"
		"  --endpoints M         endpoints per service (default 10)\n"
		"  --service-cidr CIDR   ClusterIPs: service i is network + 1 + i (default 10.96.0.0/16)\n"
		"  --endpoint-base IP    endpoint j of service i is IP + 1 + i*M + j (default 10.128.0.0)\n"
		"  --cluster-cidr CIDR   pod addresses; others are masqueraded (default 10.128.0.0/9)\n"
		"  --port P              service port (default 80)\n"
		"  --target-port P       endpoint port (default 8080)\n"
		"  --real-service I      service I's endpoints are --real-endpoints\n"
		"  --real-endpoints LIST comma-separated IPv4 addresses of real pods\n"
		"  --out PATH            manifests: the folder (required); others: file (default stdout)\n"
		"  --table NAME          nft: the table's name (default kube-proxy)\n"
		"  --add-one             iptables, nft: only the change adding service N\n"
		"  --only I              manifests: only service I's file\n"
		"  --change              manifests: service files with their last endpoint replaced\n"
		"  -h, --help            this text\n");
	return status;
}

/* ---- names and addresses ------------------------------------------------ */

static void ip_str(uint32_t ip, char buf[static INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = htonl(ip) };

	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static uint32_t svc_ip(const struct pg_opts *o, unsigned i)
{
	return o->svc_net + 1 + i;
}

/* Endpoint j of service i; changed: the replacement address of the last. */
static uint32_t ep_ip(const struct pg_opts *o, unsigned i, unsigned j)
{
	if (o->real_service >= 0 && (unsigned long)o->real_service == i)
		return o->real[j];
	if (o->change && j == o->endpoints - 1)
		return o->ep_base + 1 + (o->services + 1) * o->endpoints + i;
	return o->ep_base + 1 + i * o->endpoints + j;
}

static unsigned n_eps(const struct pg_opts *o, unsigned i)
{
	if (o->real_service >= 0 && (unsigned long)o->real_service == i)
		return o->n_real;
	return o->endpoints;
}

/* base32(sha256(s)) truncated to len characters (len <= 52). */
static int hash_name(const char *s, unsigned len, char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0, bits = 0, acc = 0, at = 0;

	if (!EVP_Digest(s, strlen(s), md, &md_len, EVP_sha256(), NULL))
		return -EIO;
	for (unsigned i = 0; i < md_len && at < len; i++) {
		acc = (acc << 8) | md[i];
		bits += 8;
		while (bits >= 5 && at < len) {
			out[at++] = alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[at] = '\0';
	return 0;
}

/* "bench/svc-<i>:http" */
static void port_name(unsigned i, char *buf, size_t size)
{
	snprintf(buf, size, PG_NS "/svc-%u:" PG_PORT_NAME, i);
}

static void ipt_svc_chain(unsigned i, char out[32])
{
	char spn[64], in[80], h[17];

	port_name(i, spn, sizeof(spn));
	snprintf(in, sizeof(in), "%stcp", spn);
	hash_name(in, 16, h);
	snprintf(out, 32, "KUBE-SVC-%s", h);
}

static void ipt_sep_chain(const struct pg_opts *o, unsigned i, unsigned j, char out[32])
{
	char spn[64], ip[INET_ADDRSTRLEN], in[128], h[17];

	port_name(i, spn, sizeof(spn));
	ip_str(ep_ip(o, i, j), ip);
	snprintf(in, sizeof(in), "%stcp%s:%u", spn, ip, o->target_port);
	hash_name(in, 16, h);
	snprintf(out, 32, "KUBE-SEP-%s", h);
}

static void nft_svc_chain(unsigned i, char out[96])
{
	char base[64], h[9];

	snprintf(base, sizeof(base), PG_NS "/svc-%u/tcp/" PG_PORT_NAME, i);
	hash_name(base, 8, h);
	snprintf(out, 96, "service-%s-%s", h, base);
}

static void nft_ep_chain(const struct pg_opts *o, unsigned i, unsigned j, char out[128])
{
	char base[96], ip[INET_ADDRSTRLEN], h[9];

	ip_str(ep_ip(o, i, j), ip);
	snprintf(base, sizeof(base), PG_NS "/svc-%u/tcp/" PG_PORT_NAME "__%s/%u", i, ip, o->target_port);
	hash_name(base, 8, h);
	snprintf(out, 128, "endpoint-%s-%s", h, base);
}

/* ---- manifests ---------------------------------------------------------- */

static int write_manifest(const struct pg_opts *o, unsigned i)
{
	char path[PATH_MAX], tmp[PATH_MAX], ip[INET_ADDRSTRLEN];
	_cleanup_fclose_ FILE *f = NULL;

	if (snprintf(path, sizeof(path), "%s/svc-%05u.json", o->out, i) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.svc-%05u.json.tmp", o->out, i) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	ip_str(svc_ip(o, i), ip);
	fprintf(f,
		"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
		"{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n"
		" \"metadata\": {\"name\": \"svc-%u\", \"namespace\": \"" PG_NS "\"},\n"
		" \"spec\": {\"type\": \"ClusterIP\", \"clusterIP\": \"%s\",\n"
		"  \"ports\": [{\"name\": \"" PG_PORT_NAME "\", \"port\": %u, \"protocol\": \"TCP\","
		" \"targetPort\": %u}]}},\n"
		"{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\",\n"
		" \"metadata\": {\"name\": \"svc-%u-1\", \"namespace\": \"" PG_NS "\","
		" \"labels\": {\"kubernetes.io/service-name\": \"svc-%u\"}},\n"
		" \"addressType\": \"IPv4\",\n"
		" \"ports\": [{\"name\": \"" PG_PORT_NAME "\", \"port\": %u, \"protocol\": \"TCP\"}],\n"
		" \"endpoints\": [",
		i, ip, o->port, o->target_port, i, i, o->target_port);
	for (unsigned j = 0; j < n_eps(o, i); j++) {
		ip_str(ep_ip(o, i, j), ip);
		fprintf(f, "%s\n  {\"addresses\": [\"%s\"], \"conditions\": {\"ready\": true}}",
			j ? "," : "", ip);
	}
	fprintf(f, "]}\n]}\n");
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static int gen_manifests(const struct pg_opts *o)
{
	if (!o->out) {
		log_error("manifests: --out FOLDER is required");
		return -EINVAL;
	}
	if (mkdir(o->out, 0755) < 0 && errno != EEXIST) {
		log_error("manifests: cannot create %s: %m", o->out);
		return -errno;
	}
	for (unsigned i = 0; i < o->services; i++) {
		int r;

		if (o->only >= 0 && (unsigned long)o->only != i)
			continue;
		r = write_manifest(o, i);
		if (r < 0) {
			log_error("manifests: %s/svc-%05u.json: %s", o->out, i, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* ---- iptables ------------------------------------------------------------ */

static void ipt_services_rule(FILE *f, const struct pg_opts *o, unsigned i)
{
	char spn[64], ip[INET_ADDRSTRLEN], svc[32];

	port_name(i, spn, sizeof(spn));
	ip_str(svc_ip(o, i), ip);
	ipt_svc_chain(i, svc);
	fprintf(f, "-A KUBE-SERVICES -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 "
		"--dport %u -j %s\n", spn, ip, o->port, svc);
}

static void ipt_service_chains(FILE *f, const struct pg_opts *o, unsigned i, bool decl)
{
	char spn[64], ip[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN], svc[32], sep[32];
	unsigned n = n_eps(o, i);

	ipt_svc_chain(i, svc);
	if (decl) {
		fprintf(f, ":%s - [0:0]\n", svc);
		for (unsigned j = 0; j < n; j++) {
			ipt_sep_chain(o, i, j, sep);
			fprintf(f, ":%s - [0:0]\n", sep);
		}
		return;
	}
	port_name(i, spn, sizeof(spn));
	ip_str(svc_ip(o, i), ip);
	ip_str(o->cluster_net, cidr);
	fprintf(f, "-A %s -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 --dport %u "
		"! -s %s/%u -j KUBE-MARK-MASQ\n", svc, spn, ip, o->port, cidr, o->cluster_prefix);
	for (unsigned j = 0; j < n; j++) {
		ip_str(ep_ip(o, i, j), ip);
		ipt_sep_chain(o, i, j, sep);
		if (j + 1 < n)
			fprintf(f, "-A %s -m comment --comment \"%s -> %s:%u\" -m statistic --mode random "
				"--probability %0.10f -j %s\n", svc, spn, ip, o->target_port,
				1.0 / (double)(n - j), sep);
		else
			fprintf(f, "-A %s -m comment --comment \"%s -> %s:%u\" -j %s\n", svc, spn, ip,
				o->target_port, sep);
	}
	for (unsigned j = 0; j < n; j++) {
		ip_str(ep_ip(o, i, j), ip);
		ipt_sep_chain(o, i, j, sep);
		fprintf(f, "-A %s -m comment --comment %s -s %s/32 -j KUBE-MARK-MASQ\n", sep, spn, ip);
		fprintf(f, "-A %s -m comment --comment %s -m tcp -p tcp -j DNAT --to-destination %s:%u\n",
			sep, spn, ip, o->target_port);
	}
}

static const char *const ipt_filter_chains[] = {
	"KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD",
	"KUBE-PROXY-FIREWALL",
};

static void ipt_filter(FILE *f, bool jumps)
{
	fprintf(f, "*filter\n");
	for (size_t i = 0; i < ARRAY_SIZE(ipt_filter_chains); i++)
		fprintf(f, ":%s - [0:0]\n", ipt_filter_chains[i]);
	if (jumps) {
		/* kube-proxy inserts these jumps with iptables -I; one restore here. */
		fprintf(f,
			"-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
			"-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
			"-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
			"-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
			"-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
			"-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
			"-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
			"-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
			"-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
	}
	fprintf(f,
		"-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
		"-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
		"-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
		"COMMIT\n");
}

static int gen_iptables(const struct pg_opts *o, FILE *f)
{
	unsigned first = o->add_one ? o->services : 0, last = o->services + (o->add_one ? 1 : 0);

	ipt_filter(f, !o->add_one);
	fprintf(f, "*nat\n:KUBE-SERVICES - [0:0]\n");
	if (!o->add_one)
		fprintf(f, ":KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
	for (unsigned i = first; i < last; i++)
		ipt_service_chains(f, o, i, true);
	if (!o->add_one)
		fprintf(f,
			"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
			"-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
			"-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
			"-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
			"-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
			"-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
			"-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n");
	/* A partial sync rewrites KUBE-SERVICES whole, as kube-proxy does. */
	for (unsigned i = 0; i < last; i++)
		ipt_services_rule(f, o, i);
	fprintf(f, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must "
		"be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
	for (unsigned i = first; i < last; i++)
		ipt_service_chains(f, o, i, false);
	fprintf(f, "COMMIT\n");
	return ferror(f) ? -EIO : 0;
}

/* ---- nft ------------------------------------------------------------------ */

static void nft_service(FILE *f, const struct pg_opts *o, unsigned i)
{
	const char *t = o->table;
	char svc[96], ep[128], ip[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN];
	unsigned n = n_eps(o, i);

	nft_svc_chain(i, svc);
	ip_str(o->cluster_net, cidr);
	for (unsigned j = 0; j < n; j++) {
		nft_ep_chain(o, i, j, ep);
		ip_str(ep_ip(o, i, j), ip);
		fprintf(f, "add chain ip %s %s\n", t, ep);
		fprintf(f, "add rule ip %s %s ip saddr %s jump mark-for-masquerade\n", t, ep, ip);
		fprintf(f, "add rule ip %s %s meta l4proto tcp dnat to %s:%u\n", t, ep, ip, o->target_port);
	}
	ip_str(svc_ip(o, i), ip);
	fprintf(f, "add chain ip %s %s\n", t, svc);
	fprintf(f, "add rule ip %s %s ip daddr %s tcp dport %u ip saddr != %s/%u jump mark-for-masquerade\n",
		t, svc, ip, o->port, cidr, o->cluster_prefix);
	fprintf(f, "add rule ip %s %s numgen random mod %u vmap {", t, svc, n);
	for (unsigned j = 0; j < n; j++) {
		nft_ep_chain(o, i, j, ep);
		fprintf(f, "%s %u : goto %s", j ? "," : "", j, ep);
	}
	fprintf(f, " }\n");
	fprintf(f, "add element ip %s cluster-ips { %s }\n", t, ip);
	fprintf(f, "add element ip %s service-ips { %s . tcp . %u : goto %s }\n", t, ip, o->port, svc);
}

static int gen_nft(const struct pg_opts *o, FILE *f)
{
	const char *t = o->table;
	char net[INET_ADDRSTRLEN];

	if (o->add_one) {
		nft_service(f, o, o->services);
		return ferror(f) ? -EIO : 0;
	}
	ip_str(o->svc_net, net);
	fprintf(f,
		"add table ip %1$s { comment \"rules for kube-proxy\" ; }\n"
		"add set ip %1$s cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
		"add map ip %1$s no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }\n"
		"add map ip %1$s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }\n"
		"add map ip %1$s firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }\n"
		"add map ip %1$s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\n"
		"add map ip %1$s service-nodeports { type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }\n"
		"add chain ip %1$s filter-prerouting { type filter hook prerouting priority -110 ; }\n"
		"add chain ip %1$s filter-input { type filter hook input priority -110 ; }\n"
		"add chain ip %1$s filter-forward { type filter hook forward priority -110 ; }\n"
		"add chain ip %1$s filter-output { type filter hook output priority -110 ; }\n"
		"add chain ip %1$s nat-prerouting { type nat hook prerouting priority -100 ; }\n"
		"add chain ip %1$s nat-output { type nat hook output priority -100 ; }\n"
		"add chain ip %1$s nat-postrouting { type nat hook postrouting priority 100 ; }\n"
		"add chain ip %1$s cluster-ips-check\n"
		"add chain ip %1$s service-endpoints-check\n"
		"add chain ip %1$s nodeport-endpoints-check\n"
		"add chain ip %1$s firewall-check\n"
		"add chain ip %1$s mark-for-masquerade\n"
		"add chain ip %1$s masquerading\n"
		"add chain ip %1$s services\n"
		"add rule ip %1$s filter-prerouting ct state new jump firewall-check\n"
		"add rule ip %1$s filter-input ct state new jump nodeport-endpoints-check\n"
		"add rule ip %1$s filter-input ct state new jump service-endpoints-check\n"
		"add rule ip %1$s filter-forward ct state new jump service-endpoints-check\n"
		"add rule ip %1$s filter-forward ct state new jump cluster-ips-check\n"
		"add rule ip %1$s filter-output ct state new jump service-endpoints-check\n"
		"add rule ip %1$s filter-output ct state new jump firewall-check\n"
		"add rule ip %1$s nat-prerouting jump services\n"
		"add rule ip %1$s nat-output jump services\n"
		"add rule ip %1$s nat-postrouting jump masquerading\n"
		"add rule ip %1$s cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n"
		"add rule ip %1$s cluster-ips-check ip daddr { %2$s/%3$u } drop comment \"Drop traffic to unallocated ClusterIPs\"\n"
		"add rule ip %1$s service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services\n"
		"add rule ip %1$s nodeport-endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports\n"
		"add rule ip %1$s firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips\n"
		"add rule ip %1$s mark-for-masquerade meta mark set meta mark or 0x4000\n"
		"add rule ip %1$s masquerading meta mark & 0x4000 == 0 return\n"
		"add rule ip %1$s masquerading meta mark set meta mark xor 0x4000\n"
		"add rule ip %1$s masquerading masquerade fully-random\n"
		"add rule ip %1$s services ip daddr . meta l4proto . th dport vmap @service-ips\n"
		"add rule ip %1$s services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n",
		t, net, o->svc_prefix);
	for (unsigned i = 0; i < o->services; i++)
		nft_service(f, o, i);
	return ferror(f) ? -EIO : 0;
}

/* ---- options ---------------------------------------------------------------- */

static int parse_ulong(const char *name, const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		log_error("%s: expected a number from %lu to %lu, got '%s'", name, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_ip(const char *name, const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		log_error("%s: expected an IPv4 address, got '%s'", name, s);
		return -EINVAL;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_cidr(const char *name, const char *s, uint32_t *net, unsigned *prefix)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long p;
	uint32_t ip;

	if (!slash || (size_t)(slash - s) >= sizeof(buf)) {
		log_error("%s: expected ADDRESS/PREFIX, got '%s'", name, s);
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (parse_ip(name, buf, &ip) < 0 || parse_ulong(name, slash + 1, 1, 32, &p) < 0)
		return -EINVAL;
	*prefix = (unsigned)p;
	*net = ip & (uint32_t)(0xffffffffULL << (32 - p));
	return 0;
}

static int parse_real(struct pg_opts *o, const char *s)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	o->n_real = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->n_real == PG_MAX_REAL) {
			log_error("--real-endpoints: at most %d addresses", PG_MAX_REAL);
			return -EINVAL;
		}
		if (parse_ip("--real-endpoints", tok, &o->real[o->n_real++]) < 0)
			return -EINVAL;
	}
	if (!o->n_real) {
		log_error("--real-endpoints: expected at least one address");
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct pg_opts *o)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 'n' },
		{ "endpoints", required_argument, NULL, 'm' },
		{ "service-cidr", required_argument, NULL, 's' },
		{ "endpoint-base", required_argument, NULL, 'e' },
		{ "cluster-cidr", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "target-port", required_argument, NULL, 'P' },
		{ "real-service", required_argument, NULL, 'r' },
		{ "real-endpoints", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' },
		{ "table", required_argument, NULL, 't' },
		{ "add-one", no_argument, NULL, 'a' },
		{ "only", required_argument, NULL, 'O' },
		{ "change", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_ulong("--services", optarg, 1, 1000000, &v) < 0)
				return -EINVAL;
			o->services = (unsigned)v;
			break;
		case 'm':
			if (parse_ulong("--endpoints", optarg, 1, 1000, &v) < 0)
				return -EINVAL;
			o->endpoints = (unsigned)v;
			break;
		case 's':
			if (parse_cidr("--service-cidr", optarg, &o->svc_net, &o->svc_prefix) < 0)
				return -EINVAL;
			break;
		case 'e':
			if (parse_ip("--endpoint-base", optarg, &o->ep_base) < 0)
				return -EINVAL;
			break;
		case 'c':
			if (parse_cidr("--cluster-cidr", optarg, &o->cluster_net, &o->cluster_prefix) < 0)
				return -EINVAL;
			break;
		case 'p':
		case 'P':
			if (parse_ulong(c == 'p' ? "--port" : "--target-port", optarg, 1, 65535, &v) < 0)
				return -EINVAL;
			*(c == 'p' ? &o->port : &o->target_port) = (unsigned)v;
			break;
		case 'r':
			if (parse_ulong("--real-service", optarg, 0, 999999, &v) < 0)
				return -EINVAL;
			o->real_service = (long)v;
			break;
		case 'R':
			if (parse_real(o, optarg) < 0)
				return -EINVAL;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 't':
			if (!*optarg || strlen(optarg) > 64 || strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(optarg)) {
				log_error("--table: expected 1 to 64 letters, digits, '-' or '_', got '%s'", optarg);
				return -EINVAL;
			}
			o->table = optarg;
			break;
		case 'a':
			o->add_one = true;
			break;
		case 'O':
			if (parse_ulong("--only", optarg, 0, 999999, &v) < 0)
				return -EINVAL;
			o->only = (long)v;
			break;
		case 'C':
			o->change = true;
			break;
		case 'h':
			usage(stdout, 0);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		log_error("expected one mode: manifests, iptables or nft");
		return -EINVAL;
	}
	o->mode = argv[optind];
	if (!streq(o->mode, "manifests") && !streq(o->mode, "iptables") && !streq(o->mode, "nft")) {
		log_error("unknown mode '%s' (manifests, iptables, nft)", o->mode);
		return -EINVAL;
	}
	if ((o->real_service >= 0) != (o->n_real > 0)) {
		log_error("--real-service and --real-endpoints go together");
		return -EINVAL;
	}
	if (o->real_service >= (long)o->services) {
		log_error("--real-service: %ld is not below --services %u", o->real_service, o->services);
		return -EINVAL;
	}
	if (o->only >= (long)o->services) {
		log_error("--only: %ld is not below --services %u", o->only, o->services);
		return -EINVAL;
	}
	if ((uint64_t)o->services + 2 >= (1ULL << (32 - o->svc_prefix))) {
		log_error("--service-cidr: /%u has no room for %u services", o->svc_prefix, o->services);
		return -EINVAL;
	}
	if ((uint64_t)o->ep_base + (uint64_t)(o->services + 2) * o->endpoints >= UINT32_MAX) {
		log_error("--endpoint-base: no room for %u x %u endpoints", o->services, o->endpoints);
		return -EINVAL;
	}
	if ((o->add_one || o->table != NULL) && streq(o->mode, "manifests")) {
		log_error("--add-one and --table are for the iptables and nft modes");
		return -EINVAL;
	}
	if ((o->only >= 0 || o->change) && !streq(o->mode, "manifests")) {
		log_error("--only and --change are for the manifests mode");
		return -EINVAL;
	}
	if (!o->table)
		o->table = "kube-proxy";
	return 0;
}

int main(int argc, char **argv)
{
	struct pg_opts o = {
		.services = 1000, .endpoints = 10, .svc_net = 0x0a600000, .svc_prefix = 16,
		.ep_base = 0x0a800000, .cluster_net = 0x0a800000, .cluster_prefix = 9,
		.port = 80, .target_port = 8080, .real_service = -1, .only = -1,
	};
	_cleanup_fclose_ FILE *f = NULL;
	int r;

	log_init("proxy-gen", LOG_LEVEL_INFO);
	if (parse_opts(argc, argv, &o) < 0)
		return usage(stderr, 2);
	if (streq(o.mode, "manifests"))
		return gen_manifests(&o) < 0 ? 1 : 0;
	if (o.out) {
		f = fopen(o.out, "we");
		if (!f) {
			log_error("%s: cannot create: %m", o.out);
			return 1;
		}
	}
	r = streq(o.mode, "iptables") ? gen_iptables(&o, f ? f : stdout) : gen_nft(&o, f ? f : stdout);
	if (r == 0 && fflush(f ? f : stdout) != 0)
		r = -errno;
	if (r < 0) {
		log_error("%s: cannot write: %s", o.out ? o.out : "stdout", strerror(-r));
		return 1;
	}
	return 0;
}
