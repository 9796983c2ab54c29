/* The nftables proxy mode: chains and rules, a frontend's and the fixed
 * part of the table (see nft_proxy.h). */
#include "dataplane/nft_proxy_int.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <poll.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

/* ---- expressions of the proxy ---- */

/* vmap: the set maps to a verdict; else a plain membership test. */
static void x_lookup(struct nftb_rule *rb, uint32_t sreg, bool vmap, const char *set,
		     uint32_t set_id)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (vmap)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (set_id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
}

static void x_reject(struct nftb_rule *rb, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "reject");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
}

static void x_fib_daddr_local(struct nftb_rule *rb)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "fib");
	uint32_t local = RTN_LOCAL;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	nftb_cmp(rb, NFT_REG_1, NFT_CMP_EQ, &local, sizeof(local));
}

static void x_l4proto(struct nftb_rule *rb, uint8_t proto)
{
	nftb_meta(rb, NFT_META_L4PROTO, NFT_REG_1);
	nftb_cmp(rb, NFT_REG_1, NFT_CMP_EQ, &proto, 1);
}

/* dnat to the address in addr_reg, the port in port_reg */
static void x_dnat(struct nftb_rule *rb, int family, uint32_t addr_reg, uint32_t port_reg)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "nat");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, port_reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
}

/* meta mark set meta mark | NFTP_MASQ_MARK */
static void x_mark_masq(struct nftb_rule *rb)
{
	const uint32_t mark = NFTP_MASQ_MARK, keep = ~NFTP_MASQ_MARK;

	nftb_meta(rb, NFT_META_MARK, NFT_REG_1);
	nftb_bitwise(rb, NFT_REG_1, 4, &keep, &mark);
	nftb_meta_set(rb, NFT_META_MARK, NFT_REG_1);
}

/* ---- naming ---- */

static bool fe_any(const struct proxy_fe_key *k)
{
	if (k->kind != PROXY_KIND_NODE_PORT)
		return false;
	if (k->addr.family == AF_INET)
		return k->addr.v4.s_addr == 0;
	return IN6_IS_ADDR_UNSPECIFIED(&k->addr.v6);
}

static const char *kind_short(uint8_t kind)
{
	switch (kind) {
	case PROXY_KIND_CLUSTER_IP:
		return "svc";
	case PROXY_KIND_EXTERNAL_IP:
		return "ext";
	case PROXY_KIND_LOAD_BALANCER:
		return "lb";
	default:
		return "np";
	}
}

/* "<ns/name:port>-<proto>-<addr>:<port>" (or "*:<port>" for a NodePort on
 * every local address); the frontend chain is "<kind>-" this. */
static void fe_ident(const struct proxy_frontend *fe, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "*";

	if (!fe_any(&fe->key))
		ipaddr_str(&fe->key.addr, a, sizeof(a));
	snprintf(buf, size, "%s-%s-%s:%u", fe->name,
		 fe->key.proto == IPPROTO_TCP ? "tcp" : fe->key.proto == IPPROTO_UDP ? "udp" : "sctp", a,
		 fe->key.port);
}

static void fe_chain_name(const struct proxy_frontend *fe, char *buf, size_t size)
{
	char id[320];

	fe_ident(fe, id, sizeof(id));
	snprintf(buf, size, "%s-%s", kind_short(fe->key.kind), id);
}

/* prefix "ep" (endpoint chain) or "aff" (affinity set). */
static void be_name(const char *prefix, const struct proxy_frontend *fe,
		    const struct proxy_backend *be, char *buf, size_t size)
{
	char id[320], a[INET6_ADDRSTRLEN];

	fe_ident(fe, id, sizeof(id));
	ipaddr_str(&be->addr, a, sizeof(a));
	snprintf(buf, size, "%s-%s-%s-%s:%u", prefix, kind_short(fe->key.kind), id, a, be->port);
}

static const char *fe_map(const struct proxy_frontend *fe, bool no_endpoints)
{
	bool v6 = fe->key.addr.family == AF_INET6;

	if (fe_any(&fe->key)) {
		if (no_endpoints)
			return v6 ? "no-endpoint-nodeports6" : "no-endpoint-nodeports";
		return v6 ? "service-nodeports6" : "service-nodeports";
	}
	if (no_endpoints)
		return v6 ? "no-endpoint-services6" : "no-endpoint-services";
	return v6 ? "service-ips6" : "service-ips";
}

/* fe_map(fe, false)'s index in nftp_sizes.svc. */
static unsigned fe_map_index(const struct proxy_frontend *fe)
{
	return (fe_any(&fe->key) ? 2u : 0u) + (fe->key.addr.family == AF_INET6);
}

/* The map key in 32-bit register layout: addr . l4proto . port. */
static void fe_elem(const struct proxy_frontend *fe, struct elem *e)
{
	uint16_t port = htons(fe->key.port);
	uint32_t n = 0;

	memset(e, 0, sizeof(*e));
	if (!fe_any(&fe->key)) {
		n = ipaddr_family_len(fe->key.addr.family);
		memcpy(e->key, fe->key.addr.bytes, n);
	}
	e->key[n] = fe->key.proto;
	memcpy(&e->key[n + 4], &port, 2);
	e->key_len = n + 8;
}

static size_t n_selected(const struct proxy_frontend *fe)
{
	size_t n = 0;

	for (size_t i = 0; i < fe->n_backends; i++)
		n += fe->backends[i].state != PROXY_BACKEND_QUARANTINED;
	return n;
}

/* ---- one frontend ---- */

/* The masquerade mark of an external frontend (NodePort, externalIP,
 * LoadBalancer) without the Local traffic policy. */
static void fe_masq_rule(struct nftb *b, const char *chain, const struct proxy_frontend *fe)
{
	struct nftb_rule rb;

	/* ClusterIPs: masquerading_rules decides, for all at once. */
	if (fe->key.kind == PROXY_KIND_CLUSTER_IP || (fe->flags & PROXY_F_LOCAL))
		return;
	if (!nftb_rule_start(&rb, b, chain))
		return;
	/* The mark set inline, not `jump mark-for-masquerade`: every commit
	 * that must validate the table walks this rule once per frontend
	 * and base chain, and a jump would walk the target chain too. */
	x_mark_masq(&rb);
	nftb_rule_end(&rb);
}

static void anon_name(struct nftp *p, char *buf, size_t size)
{
	snprintf(buf, size, "__map%" PRIu64, p->anon_seq++);
}

/* The elements of a frontend's range of the endpoints{,6} map: base + i
 * -> address . port of its i-th selected backend, for the n selected
 * (calloc'd; NULL: no memory). */
static struct elem *eps_elems(const struct proxy_frontend *fe, size_t n, uint32_t base)
{
	uint32_t alen = ipaddr_family_len(fe->key.addr.family);
	struct elem *m = calloc(n ? n : 1, sizeof(*m));
	size_t k = 0;

	for (size_t i = 0; m && i < fe->n_backends && k < n; i++) {
		const struct proxy_backend *be = &fe->backends[i];
		uint16_t port = htons(be->port);

		if (be->state == PROXY_BACKEND_QUARANTINED)
			continue;
		memcpy(m[k].key, &(uint32_t){ base + (uint32_t)k }, 4);
		m[k].key_len = 4;
		memcpy(m[k].data, be->addr.bytes, alen);
		memcpy(m[k].data + alen, &port, 2);
		m[k].data_len = alen + 4;
		k++;
	}
	return m;
}

/* The frontend chain's last rule (no affinity): meta nfproto, l4proto,
 * dnat to numgen random mod n offset base map @endpoints-<g>, over the
 * keys base .. base + n - 1 the frontend owns (nftp_eps_alloc, in shard's
 * table). A change of endpoints that keeps their number changes those
 * elements only (nftp_fe_update). Not an anonymous map inline: binding one
 * walks the whole transaction; not a set per frontend either (see struct
 * eps_range). */
static void fe_dnat_map(struct nftp *p, struct nftb *b, const char *chain, unsigned shard,
			const struct proxy_frontend *fe, size_t n)
{
	int fam = fe->key.addr.family;
	uint32_t alen = ipaddr_family_len(fam), base = 0;
	_cleanup_free_ struct elem *m = NULL;
	struct nftnl_expr *x;
	struct nftb_rule rb;
	char map[32];
	int r = nftp_eps_alloc(b, &p->eps, &fe->key, shard, (uint32_t)n, &base);

	if (r == 0)
		m = eps_elems(fe, n, base);
	if (!m) {
		b->err = r < 0 ? r : -ENOMEM;
		return;
	}
	nftp_eps_map_name(&fe->key, base, map, sizeof(map));
	/* Queued: written after the rule, with the other frontends' of the
	 * map (binding the rule to a full map walked its elements). */
	nftp_elem_queue(p, b, shard, map, m, n);
	if (!nftb_rule_start(&rb, b, chain))
		return;
	/* No `meta nfproto`, no `meta l4proto` first: only the family's
	 * service map, keyed by the protocol, leads here (every expression
	 * costs each full sync, in the kernel: its type is looked up by name). */
	x = nftb_rule_expr(&rb, "numgen");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_MODULUS, (uint32_t)n);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_OFFSET, base);
	}
	x = nftb_rule_expr(&rb, "lookup");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
		nftnl_expr_set_str(x, NFTNL_EXPR_LOOKUP_SET, map);
	}
	x_dnat(&rb, fam, NFT_REG_1, NFT_REG32_00 + alen / 4);
	nftb_rule_end(&rb);
}

/* Affinity: the endpoint chain ep-<frontend>-<backend> (the client's
 * address into the set aff-<frontend>-<backend>, then DNAT) and its set. */
static void ep_chain_add(struct nftb *b, const struct proxy_frontend *fe,
			 const struct proxy_backend *be)
{
	int fam = fe->key.addr.family;
	uint16_t port = htons(be->port);
	char name[480], aff[480];
	struct setdef d = {
		.name = aff,
		.flags = NFT_SET_TIMEOUT | NFT_SET_EVAL,
		.key_type = fam == AF_INET ? NFTP_T_IPADDR : NFTP_T_IP6ADDR,
		.key_len = ipaddr_family_len(fam),
		.timeout_ms = (uint64_t)fe->affinity_timeout * 1000,
	};
	struct nftb_rule rb;
	struct nftnl_expr *x;

	be_name("ep", fe, be, name, sizeof(name));
	be_name("aff", fe, be, aff, sizeof(aff));
	nftb_chain(b, NFT_MSG_NEWCHAIN, name, NULL);
	nftp_set_add(b, &d);
	if (nftb_rule_start(&rb, b, name)) {
		nftb_nfproto(&rb, fam);
		nftb_saddr(&rb, fam, NFT_REG_1);
		x = nftb_rule_expr(&rb, "dynset");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
			nftnl_expr_set_u32(x, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
			nftnl_expr_set_str(x, NFTNL_EXPR_DYNSET_SET_NAME, aff);
		}
		nftb_rule_end(&rb);
	}
	if (nftb_rule_start(&rb, b, name)) {
		nftb_nfproto(&rb, fam);
		x_l4proto(&rb, fe->key.proto);
		nftb_imm(&rb, NFT_REG_1, be->addr.bytes, ipaddr_family_len(fam));
		nftb_imm(&rb, NFT_REG_2, &port, sizeof(port));
		x_dnat(&rb, fam, NFT_REG_1, NFT_REG_2);
		nftb_rule_end(&rb);
	}
}

/* Affinity, in the frontend chain: a client seen recently goes back to
 * the same endpoint. */
static void affinity_rules(struct nftb *b, const char *chain, const struct proxy_frontend *fe)
{
	int fam = fe->key.addr.family;
	char name[480], aff[480];
	struct nftb_rule rb;

	for (size_t i = 0; i < fe->n_backends; i++) {
		const struct proxy_backend *be = &fe->backends[i];

		if (be->state == PROXY_BACKEND_QUARANTINED || !nftb_rule_start(&rb, b, chain))
			continue;
		be_name("aff", fe, be, aff, sizeof(aff));
		be_name("ep", fe, be, name, sizeof(name));
		nftb_nfproto(&rb, fam);
		nftb_saddr(&rb, fam, NFT_REG_1);
		x_lookup(&rb, NFT_REG_1, false, aff, 0);
		nftb_verdict(&rb, NFT_GOTO, name);
		nftb_rule_end(&rb);
	}
}

/* Affinity, in the frontend chain, for a new client:
 * numgen random mod n vmap { 0 : goto ep-..., ... } over the n selected
 * endpoints. */
static void ep_vmap_rule(struct nftp *p, struct nftb *b, const char *chain,
			 const struct proxy_frontend *fe, size_t n)
{
	_cleanup_free_ struct elem *vm = calloc(n, sizeof(*vm));
	_cleanup_free_ char *names = malloc(n * 480);
	char anon[32];
	struct setdef d = {
		.name = anon,
		.flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT,
		.key_type = NFTP_T_INTEGER,
		.key_len = 4,
		.vmap = true,
		.host_order_key = true,
	};
	struct nftb_rule rb;
	uint32_t id;
	size_t k = 0;

	if (!vm || !names) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < fe->n_backends && k < n; i++) {
		if (fe->backends[i].state == PROXY_BACKEND_QUARANTINED)
			continue;
		memcpy(vm[k].key, &(uint32_t){ (uint32_t)k }, 4);
		vm[k].key_len = 4;
		be_name("ep", fe, &fe->backends[i], names + k * 480, 480);
		vm[k].chain = names + k * 480;
		k++;
	}
	anon_name(p, anon, sizeof(anon));
	id = nftp_set_add(b, &d);
	nftp_elems(b, NFT_MSG_NEWSETELEM, anon, id, vm, n);
	if (nftb_rule_start(&rb, b, chain)) {
		struct nftnl_expr *x = nftb_rule_expr(&rb, "numgen");

		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_NG_DREG, NFT_REG_1);
			nftnl_expr_set_u32(x, NFTNL_EXPR_NG_MODULUS, (uint32_t)n);
			nftnl_expr_set_u32(x, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
			nftnl_expr_set_u32(x, NFTNL_EXPR_NG_OFFSET, 0);
		}
		x_lookup(&rb, NFT_REG_1, true, anon, id);
		nftb_rule_end(&rb);
	}
}

/* A frontend in the table of b: without endpoints an element of the
 * no-endpoint map; else its chain (masquerade mark, then the endpoint
 * choice) and its element of the service map. */
static void fe_add_in(struct nftp *p, struct nftb *b, unsigned shard,
		      const struct proxy_frontend *fe)
{
	size_t n = n_selected(fe);
	char chain[400];
	struct elem e;

	fe_elem(fe, &e);
	if (n == 0) {
		e.chain = CH_REJECT;
		nftp_elem_queue(p, b, shard, fe_map(fe, true), &e, 1);
		return;
	}
	fe_chain_name(fe, chain, sizeof(chain));
	nftb_chain(b, NFT_MSG_NEWCHAIN, chain, NULL);
	if (!fe->affinity_timeout) {
		/* No endpoint chains: numgen picks the DNAT target from a map. */
		fe_masq_rule(b, chain, fe);
		fe_dnat_map(p, b, chain, shard, fe, n);
	} else {
		for (size_t i = 0; i < fe->n_backends; i++)
			if (fe->backends[i].state != PROXY_BACKEND_QUARANTINED)
				ep_chain_add(b, fe, &fe->backends[i]);
		fe_masq_rule(b, chain, fe);
		affinity_rules(b, chain, fe);
		ep_vmap_rule(p, b, chain, fe, n);
	}
	e.chain = chain;
	nftp_elem_queue(p, b, shard, fe_map(fe, false), &e, 1);
	p->count.svc[shard][fe_map_index(fe)]++;
}

/* fe's selected endpoints referenced (d 1) or no more (d -1) in the
 * hairpin sets. */
void nftp_fe_hairpin(struct nftp *p, const struct proxy_frontend *fe, int d)
{
	for (size_t i = 0; i < fe->n_backends; i++)
		if (fe->backends[i].state != PROXY_BACKEND_QUARANTINED)
			nftp_hairpin_ref(p, &fe->backends[i].addr, d);
}

/* The frontend's elements of the endpoints map go, and its keys back. */
static void eps_del(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	const struct eps_range *r = nftp_eps_find(&p->eps, &fe->key);
	_cleanup_free_ struct elem *m = r ? calloc(r->n, sizeof(*m)) : NULL;
	char map[32];

	if (!r)
		return;
	if (!m) {
		b->err = -ENOMEM;
		return;
	}
	for (uint32_t k = 0; k < r->n; k++) {
		memcpy(m[k].key, &(uint32_t){ r->base + k }, 4);
		m[k].key_len = 4;
	}
	nftp_eps_map_name(&fe->key, r->base, map, sizeof(map));
	nftp_elems(b, NFT_MSG_DELSETELEM, map, 0, m, r->n);
	nftp_eps_free(&p->eps, &fe->key);
}

static void fe_del_in(struct nftp *p, struct nftb *b, unsigned shard,
		      const struct proxy_frontend *fe)
{
	size_t n = n_selected(fe);
	char chain[400], name[480];
	struct elem e;

	fe_elem(fe, &e);
	nftp_elems(b, NFT_MSG_DELSETELEM, fe_map(fe, n == 0), 0, &e, 1);
	if (n == 0)
		return;
	p->count.svc[shard][fe_map_index(fe)]--;
	fe_chain_name(fe, chain, sizeof(chain));
	nftb_chain(b, NFT_MSG_DELCHAIN, chain, NULL);
	if (!fe->affinity_timeout)
		eps_del(p, b, fe);
	nftp_fe_hairpin(p, fe, -1);
	for (size_t i = 0; fe->affinity_timeout && i < fe->n_backends; i++) {
		if (fe->backends[i].state == PROXY_BACKEND_QUARANTINED)
			continue;
		be_name("ep", fe, &fe->backends[i], name, sizeof(name));
		nftb_chain(b, NFT_MSG_DELCHAIN, name, NULL);
	}
	for (size_t i = 0; fe->affinity_timeout && i < fe->n_backends; i++) {
		if (fe->backends[i].state == PROXY_BACKEND_QUARANTINED)
			continue;
		be_name("aff", fe, &fe->backends[i], name, sizeof(name));
		nftp_set_del(b, name);
	}
}

/* ---- shards ---- */

/* The shard of a frontend with endpoints: its service's (all the
 * frontends of a service share one); without endpoints the main table
 * (the no-endpoint maps). */
static unsigned fe_shard(const struct nftp *p, const struct proxy_frontend *fe)
{
	const char *name = fe->name, *end = strchr(name, ':');
	uint64_t h = 1469598103934665603ull;

	if (p->n_shards <= 1 || n_selected(fe) == 0)
		return 0;
	for (const char *c = name; *c && c != end; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	return (unsigned)(h % p->n_shards);
}

static const char *fe_table(const struct nftp *p, const struct proxy_frontend *fe)
{
	return p->shard_names[fe_shard(p, fe)];
}

void nftp_fe_add(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe,
		 bool hairpin)
{
	const char *main = b->table;
	unsigned shard = fe_shard(p, fe);

	b->table = p->shard_names[shard];
	fe_add_in(p, b, shard, fe);
	b->table = main;
	if (hairpin && n_selected(fe))
		nftp_fe_hairpin(p, fe, 1);
}

void nftp_fe_del(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	const char *main = b->table;
	unsigned shard = fe_shard(p, fe);

	b->table = p->shard_names[shard];
	fe_del_in(p, b, shard, fe);
	b->table = main;
}

/* The sizes of the sets of a full sync to next (p->n_shards chosen, the
 * hairpin references of next counted). */
int nftp_sizes_plan(struct nftp *p, const struct proxy_state *next)
{
	uint32_t svc[NFTP_MAX_SHARDS][NFTP_SVC_MAPS] = { { 0 } };
	int r = nftp_cluster_ips_count(next, p->size.cluster_ips);

	if (r < 0)
		return r;
	nftp_hairpin_count(&p->hp, p->size.hairpin);
	for (size_t i = 0; i < next->n_fes; i++)
		if (n_selected(&next->fes[i]))
			svc[fe_shard(p, &next->fes[i])][fe_map_index(&next->fes[i])]++;
	for (size_t f = 0; f < 2; f++) {
		p->size.hairpin[f] = nftp_size_for(p->size.hairpin[f]);
		p->size.cluster_ips[f] = nftp_size_for(p->size.cluster_ips[f]);
	}
	for (size_t k = 0; k < NFTP_MAX_SHARDS; k++)
		for (size_t m = 0; m < NFTP_SVC_MAPS; m++)
			p->size.svc[k][m] = nftp_size_for(svc[k][m]);
	memset(&p->count, 0, sizeof(p->count));
	return 0;
}

/* Whether a set would have more elements than its size. */
bool nftp_sizes_passed(const struct nftp *p)
{
	for (size_t f = 0; f < 2; f++)
		if (p->hp.n_elems[f] > p->size.hairpin[f] ||
		    p->count.cluster_ips[f] > p->size.cluster_ips[f])
			return true;
	for (size_t k = 0; k < NFTP_MAX_SHARDS; k++)
		for (size_t m = 0; m < NFTP_SVC_MAPS; m++)
			if (p->count.svc[k][m] > p->size.svc[k][m])
				return true;
	return false;
}

/* A frontend whose endpoints changed but not their number, nor anything
 * else its chain holds (no affinity, same flags, same table): only the
 * elements of its endpoints map range that differ are replaced, a delete
 * and an add each. No chain changes, so the commit validates nothing,
 * however many services the table holds. Returns false when fe needs its
 * chain replaced (nftp_fe_del + nftp_fe_add). */
bool nftp_fe_update(struct nftp *p, struct nftb *b, const struct proxy_frontend *was,
		    const struct proxy_frontend *fe)
{
	size_t n = n_selected(fe);
	const char *main = b->table;
	const struct eps_range *r = nftp_eps_find(&p->eps, &was->key);
	_cleanup_free_ struct elem *o = NULL, *m = NULL;
	_cleanup_free_ struct elem *del = NULL;
	size_t n_del = 0;
	char map[32];

	if (n == 0 || n != n_selected(was) || fe->affinity_timeout || was->affinity_timeout ||
	    fe->flags != was->flags || fe_table(p, fe) != fe_table(p, was) ||
	    strcmp(fe->name, was->name) != 0 || !r || r->n != n)
		return false;
	o = eps_elems(was, n, r->base);
	m = eps_elems(fe, n, r->base);
	del = calloc(n, sizeof(*del));
	if (!o || !m || !del) {
		b->err = -ENOMEM;
		return true;
	}
	for (size_t k = 0; k < n; k++) {
		if (o[k].data_len == m[k].data_len && !memcmp(o[k].data, m[k].data, m[k].data_len))
			continue;
		del[n_del] = o[k];
		m[n_del++] = m[k];
	}
	nftp_fe_hairpin(p, was, -1);
	nftp_fe_hairpin(p, fe, 1);
	nftp_eps_map_name(&fe->key, r->base, map, sizeof(map));
	b->table = fe_table(p, fe);
	nftp_elems(b, NFT_MSG_DELSETELEM, map, 0, del, n_del);
	nftp_elems(b, NFT_MSG_NEWSETELEM, map, 0, m, n_del);
	b->table = main;
	return true;
}

/* ---- the fixed part of the table ---- */

static void vmap_rule(struct nftb *b, const char *chain, int family, const char *map, bool any)
{
	struct nftb_rule rb;

	if (!nftb_rule_start(&rb, b, chain))
		return;
	if (any) {
		nftb_nfproto(&rb, family);
		x_fib_daddr_local(&rb);
		nftb_meta(&rb, NFT_META_L4PROTO, NFT_REG32_00);
		nftb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
	} else {
		uint32_t n = ipaddr_family_len(family) / 4;

		nftb_nfproto(&rb, family);
		nftb_daddr(&rb, family, NFT_REG32_00);
		nftb_meta(&rb, NFT_META_L4PROTO, NFT_REG32_00 + n);
		nftb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + n + 1);
	}
	x_lookup(&rb, NFT_REG32_00, true, map, 0);
	nftb_rule_end(&rb);
}

static const struct nftb_hook h_nat_pre = { "nat", NF_INET_PRE_ROUTING, -100 };
static const struct nftb_hook h_nat_out = { "nat", NF_INET_LOCAL_OUT, -100 };
static const struct nftb_hook h_nat_post = { "nat", NF_INET_POST_ROUTING, 100 };
static const struct nftb_hook h_in = { "filter", NF_INET_LOCAL_IN, 0 };
static const struct nftb_hook h_fwd = { "filter", NF_INET_FORWARD, 0 };
static const struct nftb_hook h_out = { "filter", NF_INET_LOCAL_OUT, 0 };

/* The fixed chains; a base chain jumps to one of the others. shard: also
 * in a shard's table. */
static const struct base_chain {
	const char *name;
	const struct nftb_hook *hook;
	const char *jump;
	bool shard;
} base_chains[] = {
	{ CH_REJECT, NULL, NULL, false },
	{ CH_MARK, NULL, NULL, false },
	{ CH_MASQ, NULL, NULL, false },
	{ CH_SERVICES, NULL, NULL, true },
	{ CH_CHECK, NULL, NULL, false },
	{ "nat-prerouting", &h_nat_pre, CH_SERVICES, true },
	{ "nat-output", &h_nat_out, CH_SERVICES, true },
	{ "nat-postrouting", &h_nat_post, CH_MASQ, false },
	{ "filter-input", &h_in, CH_CHECK, false },
	{ "filter-forward", &h_fwd, CH_CHECK, false },
	{ "filter-output", &h_out, CH_CHECK, false },
};

#define T_ADDR_PORT NFTP_CONCAT3(NFTP_T_IPADDR, NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE)
#define T_ADDR6_PORT NFTP_CONCAT3(NFTP_T_IP6ADDR, NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE)
#define T_PORT NFTP_CONCAT2(NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE)

/* The fixed sets and maps; the service-* maps are in every shard too. */
static const struct setdef base_sets[] = {
	{ .name = "cluster-ips", .key_type = NFTP_T_IPADDR, .key_len = 4 },
	{ .name = "cluster-ips6", .key_type = NFTP_T_IP6ADDR, .key_len = 16 },
	{ .name = "service-ips", .key_type = T_ADDR_PORT, .key_len = 12, .vmap = true },
	{ .name = "service-ips6", .key_type = T_ADDR6_PORT, .key_len = 24, .vmap = true },
	{ .name = "service-nodeports", .key_type = T_PORT, .key_len = 8, .vmap = true },
	{ .name = "service-nodeports6", .key_type = T_PORT, .key_len = 8, .vmap = true },
	{ .name = "no-endpoint-services", .key_type = T_ADDR_PORT, .key_len = 12, .vmap = true },
	{ .name = "no-endpoint-services6", .key_type = T_ADDR6_PORT, .key_len = 24, .vmap = true },
	{ .name = "no-endpoint-nodeports", .key_type = T_PORT, .key_len = 8, .vmap = true },
	{ .name = "no-endpoint-nodeports6", .key_type = T_PORT, .key_len = 8, .vmap = true },
	{ .name = SET_HAIRPIN, .key_type = NFTP_CONCAT2(NFTP_T_IPADDR, NFTP_T_IPADDR), .key_len = 8 },
	{ .name = SET_HAIRPIN6, .key_type = NFTP_CONCAT2(NFTP_T_IP6ADDR, NFTP_T_IP6ADDR),
	  .key_len = 32 },
};

/* The size of a base set in shard's table (0: none, it stays small). */
static uint32_t base_set_size(const struct nftp *p, unsigned shard, size_t i)
{
	static const char *const svc[NFTP_SVC_MAPS] = { "service-ips", "service-ips6",
							 "service-nodeports", "service-nodeports6" };
	const char *name = base_sets[i].name;

	for (size_t m = 0; m < NFTP_SVC_MAPS; m++)
		if (!strcmp(name, svc[m]))
			return p->size.svc[shard % NFTP_MAX_SHARDS][m];
	for (size_t f = 0; f < 2; f++) {
		if (!strcmp(name, f ? SET_HAIRPIN6 : SET_HAIRPIN))
			return p->size.hairpin[f];
		if (!strcmp(name, f ? "cluster-ips6" : "cluster-ips"))
			return p->size.cluster_ips[f];
	}
	return 0;
}

/* The sets, the chains and the base chains' jumps (shard 0, the main
 * table: all; else a shard's part). */
static void base_sets_chains(const struct nftp *p, struct nftb *b, unsigned shard)
{
	bool main = shard == 0;
	struct nftb_rule rb;

	for (size_t i = 0; i < ARRAY_SIZE(base_sets); i++) {
		struct setdef d = base_sets[i];

		if (!main && strncmp(d.name, "service-", 8))
			continue;
		d.size = base_set_size(p, shard, i);
		nftp_set_add(b, &d);
	}
	for (size_t i = 0; i < ARRAY_SIZE(base_chains); i++)
		if (main || base_chains[i].shard)
			nftb_chain(b, NFT_MSG_NEWCHAIN, base_chains[i].name, base_chains[i].hook);
	for (size_t i = 0; i < ARRAY_SIZE(base_chains); i++) {
		const struct base_chain *c = &base_chains[i];

		if (!c->jump || !(main || c->shard) || !nftb_rule_start(&rb, b, c->name))
			continue;
		nftb_verdict(&rb, NFT_JUMP, c->jump);
		nftb_rule_end(&rb);
	}
}

/* The four lookups of chain: addr . proto . port and (on a local address)
 * proto . port, per family, in the maps <prefix>-ips and <prefix>-nodeports
 * (prefix "service" or "no-endpoint-services"/"-nodeports"). */
static void vmap_rules(struct nftb *b, const char *chain, const char *ips, const char *nodeports)
{
	char name[64];

	vmap_rule(b, chain, AF_INET, ips, false);
	snprintf(name, sizeof(name), "%s6", ips);
	vmap_rule(b, chain, AF_INET6, name, false);
	vmap_rule(b, chain, AF_INET, nodeports, true);
	snprintf(name, sizeof(name), "%s6", nodeports);
	vmap_rule(b, chain, AF_INET6, name, true);
}

/* reject-chain: TCP gets a reset, the rest ICMP port unreachable. */
static void reject_rules(struct nftb *b)
{
	struct nftb_rule rb;

	if (nftb_rule_start(&rb, b, CH_REJECT)) {
		x_l4proto(&rb, IPPROTO_TCP);
		x_reject(&rb, NFT_REJECT_TCP_RST, 0);
		nftb_rule_end(&rb);
	}
	if (nftb_rule_start(&rb, b, CH_REJECT)) {
		x_reject(&rb, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH);
		nftb_rule_end(&rb);
	}
}

/* mark-for-masquerade: meta mark set meta mark | 0x4000 */
static void mark_rule(struct nftb *b)
{
	struct nftb_rule rb;

	if (nftb_rule_start(&rb, b, CH_MARK)) {
		x_mark_masq(&rb);
		nftb_rule_end(&rb);
	}
}

/* ct status dnat */
static void x_ct_dnat(struct nftb_rule *rb)
{
	const uint32_t dnat = IPS_DST_NAT, zero = 0;
	struct nftnl_expr *x = nftb_rule_expr(rb, "ct");

	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATUS);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	nftb_bitwise(rb, NFT_REG_1, 4, &dnat, &zero);
	nftb_cmp(rb, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
}

/* ClusterIP connections are masqueraded from outside the cluster CIDR
 * (always with masquerade_all; never without either): a DNATed connection
 * whose original destination is a ClusterIP gets the mark. One rule per
 * family, not one in every ClusterIP frontend's chain (a full sync of
 * 10,000 services sent 10,000 rules of 8 expressions for it). */
static void cluster_ip_masq_rules(const struct nftp *p, struct nftb *b)
{
	struct nftb_rule rb;

	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;
		const struct ipcidr *c = f ? (p->have_cidr6 ? &p->cidr6 : NULL)
					   : (p->have_cidr4 ? &p->cidr4 : NULL);
		struct nftnl_expr *x;

		if (p->masquerade_all)
			c = NULL;
		else if (!c)
			continue;
		if (!nftb_rule_start(&rb, b, CH_MASQ))
			continue;
		nftb_nfproto(&rb, fam);
		x_ct_dnat(&rb);
		x = nftb_rule_expr(&rb, "ct");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, f ? NFT_CT_DST_IP6 : NFT_CT_DST_IP);
			nftnl_expr_set_u8(x, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		}
		x_lookup(&rb, NFT_REG_1, false, f ? "cluster-ips6" : "cluster-ips", 0);
		if (c) {
			nftb_saddr(&rb, fam, NFT_REG_1);
			nftb_prefix_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, c->addr.bytes,
					ipaddr_family_len(fam), c->len);
		}
		nftb_verdict(&rb, NFT_JUMP, CH_MARK);
		nftb_rule_end(&rb);
	}
}

/* masquerading: hairpin connections and ClusterIP ones from outside get
 * the mark; only marked packets are masqueraded, and the mark is cleared. */
static void masq_rules(const struct nftp *p, struct nftb *b)
{
	const uint32_t mark = NFTP_MASQ_MARK, zero = 0, keep = ~NFTP_MASQ_MARK;
	struct nftb_rule rb;

	/* Hairpin: a connection DNATed to its own source (an endpoint
	 * reaching itself through a service) is masqueraded too. */
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;

		if (!nftb_rule_start(&rb, b, CH_MASQ))
			continue;
		nftb_nfproto(&rb, fam);
		x_ct_dnat(&rb);
		nftb_saddr(&rb, fam, NFT_REG32_00);
		nftb_daddr(&rb, fam, NFT_REG32_00 + ipaddr_family_len(fam) / 4);
		x_lookup(&rb, NFT_REG32_00, false, f ? SET_HAIRPIN6 : SET_HAIRPIN, 0);
		nftb_verdict(&rb, NFT_JUMP, CH_MARK);
		nftb_rule_end(&rb);
	}
	cluster_ip_masq_rules(p, b);
	if (nftb_rule_start(&rb, b, CH_MASQ)) {
		nftb_meta(&rb, NFT_META_MARK, NFT_REG_1);
		nftb_bitwise(&rb, NFT_REG_1, 4, &mark, &zero);
		nftb_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &zero, 4);
		nftb_verdict(&rb, NFT_RETURN, NULL);
		nftb_rule_end(&rb);
	}
	if (nftb_rule_start(&rb, b, CH_MASQ)) {
		nftb_meta(&rb, NFT_META_MARK, NFT_REG_1);
		nftb_bitwise(&rb, NFT_REG_1, 4, &keep, &zero);
		nftb_meta_set(&rb, NFT_META_MARK, NFT_REG_1);
		nftb_rule_end(&rb);
	}
	if (nftb_rule_start(&rb, b, CH_MASQ)) {
		struct nftnl_expr *x = nftb_rule_expr(&rb, "masq");

		if (x)
			nftnl_expr_set_u32(x, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		nftb_rule_end(&rb);
	}
}

/* endpoints-check: frontends without endpoints are refused, and so is a
 * ClusterIP still the destination after DNAT (an unknown port). */
static void check_rules(struct nftb *b)
{
	struct nftb_rule rb;

	vmap_rules(b, CH_CHECK, "no-endpoint-services", "no-endpoint-nodeports");
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;

		if (!nftb_rule_start(&rb, b, CH_CHECK))
			continue;
		nftb_nfproto(&rb, fam);
		nftb_daddr(&rb, fam, NFT_REG_1);
		x_lookup(&rb, NFT_REG_1, false, f ? "cluster-ips6" : "cluster-ips", 0);
		nftb_verdict(&rb, NFT_GOTO, CH_REJECT);
		nftb_rule_end(&rb);
	}
}

/* shard 0 (the main table): the whole fixed part; else a shard's: the
 * service maps, the services chain and the nat base chains that jump to
 * it. */
void nftp_base_add(const struct nftp *p, struct nftb *b, unsigned shard)
{
	base_sets_chains(p, b, shard);
	vmap_rules(b, CH_SERVICES, "service-ips", "service-nodeports");
	if (shard != 0)
		return;
	reject_rules(b);
	mark_rule(b);
	masq_rules(p, b);
	check_rules(b);
}
