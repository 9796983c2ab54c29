/* The nftables proxy mode (see nft_proxy.h for the table layout). */
#include "dataplane/nft_proxy.h"
#include "dataplane/nft_batch.h"

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

/* nft's datatype ids, so `nft list` prints the key types. */
enum {
	NFTP_T_INTEGER = 4,
	NFTP_T_IPADDR = 7,
	NFTP_T_IP6ADDR = 8,
	NFTP_T_INET_PROTO = 12,
	NFTP_T_INET_SERVICE = 13,
	NFTP_T_MARK = 19, /* a named map keyed on numgen: printed as a mark */
	NFTP_TYPE_BITS = 6,
	NFTP_BYTEORDER_HOST = 1, /* nft: BYTEORDER_HOST_ENDIAN */
};

#define NFTP_CONCAT2(a, b) (((a) << NFTP_TYPE_BITS) | (b))
#define NFTP_CONCAT3(a, b, c) ((NFTP_CONCAT2(a, b) << NFTP_TYPE_BITS) | (c))

#define CH_REJECT "reject-chain"
#define CH_MARK "mark-for-masquerade"
#define CH_MASQ "masquerading"
#define CH_SERVICES "services"
#define CH_CHECK "endpoints-check"
#define SET_HAIRPIN "hairpin"
/* Shards: one per this many frontends (at the full rebuild), at most
 * NFTP_MAX_SHARDS tables. */
#define NFTP_SHARD_FES 1024
#define NFTP_MAX_SHARDS 16
#define SET_HAIRPIN6 "hairpin6"

/* Hairpin: the endpoint addresses of all frontends, counted, for the
 * sets hairpin{,6} (a . a: a connection DNATed to its own source). */
struct hp_ent {
	struct model_addr a;
	uint32_t n, n0; /* now, and before this batch (when dirty) */
	bool used, dirty;
};

struct hp {
	struct hp_ent *v;
	size_t cap, used;
	struct model_addr *dirty;
	size_t n_dirty, cap_dirty;
	int err;
};

struct nftp {
	char *table;
	struct hp hp;
	/* Anonymous maps get names of ours ("__map<n>", never reused in a
	 * table): the kernel then neither scans every set for a free
	 * "__map%d" number nor the batch for the set id. */
	uint64_t anon_seq;
	/* Shards: tables "<table>-s<k>" (k >= 1; shard 0 is the main table)
	 * holding the service maps and chains of a part of the services, so
	 * that a commit validates a part of them only. Their number is chosen
	 * at each full rebuild from the number of frontends. */
	char *shard_names[NFTP_MAX_SHARDS];
	unsigned n_shards;
	struct model_cidr cidr4, cidr6;
	bool have_cidr4, have_cidr6;
	bool masquerade_all;
	struct nftb_sock *sock; /* the batches' socket, open across syncs */
	struct proxy_state *applied;
	struct nftp_stats stats;
	void (*on_changes)(const struct proxy_state *now, const struct proxy_changes *c, void *ud);
	void *ud;
};

struct setdef {
	const char *name;
	uint32_t flags;
	uint32_t key_type, key_len;
	bool vmap;
	uint32_t data_type, data_len; /* a data map (vmap false) */
	uint64_t timeout_ms;
	bool host_order_key;
};

static struct nftnl_set *set_new(struct nftb *b, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		b->err = -ENOMEM;
		return NULL;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	return s;
}

/* Adds a set; returns its batch id (for anonymous sets). */
static uint32_t nb_set_add(struct nftb *b, const struct setdef *d)
{
	struct nftnl_set *s = set_new(b, d->name);
	struct nlmsghdr *nlh;
	uint32_t id = ++b->set_id;

	if (!s)
		return 0;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags | (d->vmap ? NFT_SET_MAP : 0));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	if (d->vmap) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (d->data_len) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags | NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, d->data_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, d->data_len);
	}
	if (d->timeout_ms)
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, d->timeout_ms);
	if (d->host_order_key) {
		struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(64);

		if (!u) {
			b->err = -ENOMEM;
		} else {
			nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, NFTP_BYTEORDER_HOST);
			nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u),
					   nftnl_udata_buf_len(u));
			nftnl_udata_buf_free(u);
		}
	}
	nlh = nftb_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, 1024);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftb_done(b, nlh);
	}
	nftnl_set_free(s);
	return id;
}

static void nb_set_del(struct nftb *b, const char *name)
{
	struct nftnl_set *s = set_new(b, name);
	struct nlmsghdr *nlh;

	if (!s)
		return;
	nlh = nftb_msg(b, NFT_MSG_DELSET, 0, 512);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftb_done(b, nlh);
	}
	nftnl_set_free(s);
}

/* One element: key, and for a verdict map a goto to chain. */
struct elem {
	uint8_t key[40];
	uint32_t key_len;
	const char *chain; /* NULL: a plain set element (or data below) */
	uint8_t data[20];
	uint32_t data_len; /* a data map's value */
};

static void nb_elems(struct nftb *b, uint16_t type, const char *set, uint32_t set_id,
		     const struct elem *e, size_t n)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if (n == 0)
		return;
	s = set_new(b, set);
	if (!s)
		return;
	if (set_id)
		nftnl_set_set_u32(s, NFTNL_SET_ID, set_id);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *el = nftnl_set_elem_alloc();

		if (!el) {
			b->err = -ENOMEM;
			break;
		}
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, e[i].key, e[i].key_len);
		if (e[i].chain && type == NFT_MSG_NEWSETELEM) {
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
			nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, e[i].chain);
		} else if (e[i].data_len && type == NFT_MSG_NEWSETELEM) {
			nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, e[i].data, e[i].data_len);
		}
		nftnl_set_elem_add(s, el);
	}
	nlh = nftb_msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, 512 + n * 400);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftb_done(b, nlh);
	}
	nftnl_set_free(s);
}

/* ---- expressions of the proxy ---- */

/* vmap: the set maps to a verdict; else a plain membership test. */
static void x_lookup(struct nftb_rule *rb, uint32_t sreg, bool vmap, const char *set, uint32_t set_id)
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
		model_addr_str(&fe->key.addr, a, sizeof(a));
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
	model_addr_str(&be->addr, a, sizeof(a));
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

/* The map key in 32-bit register layout: addr . l4proto . port. */
static void fe_elem(const struct proxy_frontend *fe, struct elem *e)
{
	uint16_t port = htons(fe->key.port);
	uint32_t n = 0;

	memset(e, 0, sizeof(*e));
	if (!fe_any(&fe->key)) {
		n = nftb_addr_len(fe->key.addr.family);
		memcpy(e->key, fe->key.addr.family == AF_INET ? (const void *)&fe->key.addr.v4
							      : (const void *)&fe->key.addr.v6,
		       n);
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

static const void *addr_bytes(const struct model_addr *a)
{
	return a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6;
}

/* ---- one frontend ---- */

static void fe_masq_rule(struct nftp *p, struct nftb *b, const char *chain,
			 const struct proxy_frontend *fe)
{
	const struct model_cidr *c = NULL;
	struct nftb_rule rb;
	int fam = fe->key.addr.family;

	if (fe->key.kind != PROXY_KIND_CLUSTER_IP) {
		if (fe->flags & PROXY_F_LOCAL)
			return;
	} else if (!p->masquerade_all) {
		c = fam == AF_INET ? (p->have_cidr4 ? &p->cidr4 : NULL)
				   : (p->have_cidr6 ? &p->cidr6 : NULL);
		if (!c)
			return;
	}
	if (!nftb_rule_start(&rb, b, chain))
		return;
	if (c) {
		nftb_nfproto(&rb, fam);
		nftb_saddr(&rb, fam, NFT_REG_1);
		nftb_prefix_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, addr_bytes(&c->addr), nftb_addr_len(fam),
				c->len);
	}
	/* The mark set inline, not `jump mark-for-masquerade`: every commit
	 * that must validate the table walks this rule once per frontend
	 * and base chain, and a jump would walk the target chain too. */
	x_mark_masq(&rb);
	nftb_rule_end(&rb);
}

/* ---- hairpin set ---- */

static uint64_t hp_hash(const struct model_addr *a)
{
	const uint8_t *k = addr_bytes(a);
	uint64_t h = 1469598103934665603ull ^ (uint64_t)a->family;

	for (uint32_t i = 0; i < nftb_addr_len(a->family); i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

static struct hp_ent *hp_slot(struct hp_ent *v, size_t cap, const struct model_addr *a)
{
	size_t i = (size_t)hp_hash(a) & (cap - 1);

	while (v[i].used && model_addr_cmp(&v[i].a, a) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static struct hp_ent *hp_get(struct hp *h, const struct model_addr *a, bool create)
{
	struct hp_ent *e;

	if (create && (h->used + 1) * 2 > h->cap) {
		/* Grow; addresses no frontend uses any more are dropped. */
		size_t cap = h->cap ? h->cap : 1024, live = 0;
		struct hp_ent *v;

		for (size_t i = 0; i < h->cap; i++)
			live += h->v[i].used && (h->v[i].n || h->v[i].dirty);
		while ((live + 1) * 4 > cap)
			cap *= 2;
		v = calloc(cap, sizeof(*v));
		if (!v)
			return NULL;
		for (size_t i = 0; i < h->cap; i++)
			if (h->v[i].used && (h->v[i].n || h->v[i].dirty))
				*hp_slot(v, cap, &h->v[i].a) = h->v[i];
		free(h->v);
		h->v = v;
		h->cap = cap;
		h->used = live;
	}
	if (!h->cap)
		return NULL;
	e = hp_slot(h->v, h->cap, a);
	if (!e->used) {
		if (!create)
			return NULL;
		memset(e, 0, sizeof(*e));
		e->a = *a;
		e->used = true;
		h->used++;
	}
	return e;
}

static void hp_ref(struct nftp *p, const struct model_addr *a, int d)
{
	struct hp *h = &p->hp;
	struct hp_ent *e = hp_get(h, a, true);

	if (!e) {
		h->err = -ENOMEM;
		return;
	}
	if (!e->dirty) {
		if (h->n_dirty == h->cap_dirty) {
			size_t cap = h->cap_dirty ? h->cap_dirty * 2 : 256;
			struct model_addr *v = realloc(h->dirty, cap * sizeof(*v));

			if (!v) {
				h->err = -ENOMEM;
				return;
			}
			h->dirty = v;
			h->cap_dirty = cap;
		}
		h->dirty[h->n_dirty++] = *a;
		e->dirty = true;
		e->n0 = e->n;
	}
	if (d > 0)
		e->n++;
	else if (e->n)
		e->n--;
}

static void hp_reset(struct hp *h)
{
	free(h->v);
	free(h->dirty);
	memset(h, 0, sizeof(*h));
}

/* The batch's hairpin set changes: an address now used and not before
 * is added, one no longer used deleted (in messages of up to 256). */
static void hp_flush(struct nftp *p, struct nftb *b)
{
	struct hp *h = &p->hp;
	enum { CHUNK = 256 };
	struct elem q[4][CHUNK]; /* add v4, add v6, del v4, del v6 */
	size_t nq[4] = { 0 };

	if (h->err && !b->err)
		b->err = h->err;
	for (size_t i = 0; i <= h->n_dirty; i++) {
		struct hp_ent *e = i < h->n_dirty ? hp_get(h, &h->dirty[i], false) : NULL;
		int k = -1;

		if (e && e->dirty) {
			bool v6 = e->a.family == AF_INET6;
			uint32_t len = nftb_addr_len(e->a.family);

			e->dirty = false;
			if (!e->n0 && e->n)
				k = v6;
			else if (e->n0 && !e->n)
				k = 2 + v6;
			if (k >= 0) {
				struct elem *x = &q[k][nq[k]++];

				memset(x, 0, sizeof(*x));
				memcpy(x->key, addr_bytes(&e->a), len);
				memcpy(x->key + len, addr_bytes(&e->a), len);
				x->key_len = 2 * len;
			}
		}
		for (int j = 0; j < 4; j++) {
			if (nq[j] && (nq[j] == CHUNK || i == h->n_dirty)) {
				nb_elems(b, j < 2 ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
					 j % 2 ? SET_HAIRPIN6 : SET_HAIRPIN, 0, q[j], nq[j]);
				nq[j] = 0;
			}
		}
	}
	h->n_dirty = 0;
}

static void anon_name(struct nftp *p, char *buf, size_t size)
{
	snprintf(buf, size, "__map%" PRIu64, p->anon_seq++);
}

/* The frontend chain's last rule (no affinity): meta nfproto, l4proto,
 * dnat to numgen random mod n map @eps-<chain> { i : addr . port }. A
 * named map, not an anonymous one: binding an anonymous set makes the
 * kernel walk the whole transaction, which made a full sync quadratic
 * (10,000 services: 10 s, 1.8 s with named maps). Keyed as a mark (a
 * 32-bit host-order number nft prints; it has no plain integer type). */
static void fe_dnat_map(struct nftb *b, const char *chain, const struct proxy_frontend *fe, size_t n)
{
	char map[420];
	int fam = fe->key.addr.family;
	uint32_t alen = nftb_addr_len(fam);
	struct setdef d = {
		.name = map,
		.flags = NFT_SET_CONSTANT,
		.key_type = NFTP_T_MARK,
		.key_len = 4,
		.host_order_key = true,
		.data_type = NFTP_CONCAT2(fam == AF_INET ? NFTP_T_IPADDR : NFTP_T_IP6ADDR,
					  NFTP_T_INET_SERVICE),
		.data_len = alen + 4,
	};
	_cleanup_free_ struct elem *m = calloc(n ? n : 1, sizeof(*m));
	struct nftnl_expr *x;
	struct nftb_rule rb;
	uint32_t id;
	size_t k = 0;

	if (!m) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < fe->n_backends && k < n; i++) {
		const struct proxy_backend *be = &fe->backends[i];
		uint16_t port = htons(be->port);

		if (be->state == PROXY_BACKEND_QUARANTINED)
			continue;
		memcpy(m[k].key, &(uint32_t){ (uint32_t)k }, 4);
		m[k].key_len = 4;
		memcpy(m[k].data, addr_bytes(&be->addr), alen);
		memcpy(m[k].data + alen, &port, 2);
		m[k].data_len = alen + 4;
		k++;
	}
	snprintf(map, sizeof(map), "eps-%s", chain);
	id = nb_set_add(b, &d);
	nb_elems(b, NFT_MSG_NEWSETELEM, map, id, m, k);
	if (!nftb_rule_start(&rb, b, chain))
		return;
	nftb_nfproto(&rb, fam);
	x_l4proto(&rb, fe->key.proto);
	x = nftb_rule_expr(&rb, "numgen");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_MODULUS, (uint32_t)k);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NG_OFFSET, 0);
	}
	x = nftb_rule_expr(&rb, "lookup");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
		nftnl_expr_set_str(x, NFTNL_EXPR_LOOKUP_SET, map);
		nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SET_ID, id);
	}
	x = nftb_rule_expr(&rb, "nat");
	if (x) {
		nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FAMILY,
				   fam == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_PROTO_MIN,
				   NFT_REG32_00 + alen / 4);
		nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	}
	nftb_rule_end(&rb);
}

static void fe_add_in(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	size_t n = n_selected(fe), k = 0;
	int fam = fe->key.addr.family;
	char chain[400], name[480];
	_cleanup_free_ struct elem *vm = NULL;
	struct elem e;
	struct nftb_rule rb;

	fe_elem(fe, &e);
	if (n == 0) {
		e.chain = CH_REJECT;
		nb_elems(b, NFT_MSG_NEWSETELEM, fe_map(fe, true), 0, &e, 1);
		return;
	}
	vm = calloc(n, sizeof(*vm));
	if (!vm) {
		b->err = -ENOMEM;
		return;
	}
	fe_chain_name(fe, chain, sizeof(chain));
	nftb_chain(b, NFT_MSG_NEWCHAIN, chain, NULL);
	for (size_t i = 0; i < fe->n_backends; i++)
		if (fe->backends[i].state != PROXY_BACKEND_QUARANTINED)
			hp_ref(p, &fe->backends[i].addr, 1);
	if (!fe->affinity_timeout) {
		/* No endpoint chains: numgen picks the DNAT target from a map. */
		fe_masq_rule(p, b, chain, fe);
		fe_dnat_map(b, chain, fe, n);
		e.chain = chain;
		nb_elems(b, NFT_MSG_NEWSETELEM, fe_map(fe, false), 0, &e, 1);
		return;
	}

	for (size_t i = 0; i < fe->n_backends; i++) {
		const struct proxy_backend *be = &fe->backends[i];
		uint16_t port = htons(be->port);
		char aff[480];
		struct nftnl_expr *x;

		if (be->state == PROXY_BACKEND_QUARANTINED)
			continue;
		be_name("ep", fe, be, name, sizeof(name));
		nftb_chain(b, NFT_MSG_NEWCHAIN, name, NULL);
		if (fe->affinity_timeout) {
			struct setdef d = {
				.flags = NFT_SET_TIMEOUT | NFT_SET_EVAL,
				.key_type = fam == AF_INET ? NFTP_T_IPADDR : NFTP_T_IP6ADDR,
				.key_len = nftb_addr_len(fam),
				.timeout_ms = (uint64_t)fe->affinity_timeout * 1000,
			};

			be_name("aff", fe, be, aff, sizeof(aff));
			d.name = aff;
			nb_set_add(b, &d);
		}
		if (fe->affinity_timeout && nftb_rule_start(&rb, b, name)) {
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
			nftb_imm(&rb, NFT_REG_1, addr_bytes(&be->addr), nftb_addr_len(fam));
			nftb_imm(&rb, NFT_REG_2, &port, sizeof(port));
			x = nftb_rule_expr(&rb, "nat");
			if (x) {
				nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
				nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FAMILY,
						   fam == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
				nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
				nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
				nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FLAGS,
						   NF_NAT_RANGE_PROTO_SPECIFIED);
			}
			nftb_rule_end(&rb);
		}
		/* The frontend chain's choice: element k goes to this endpoint. */
		memcpy(vm[k].key, &(uint32_t){ (uint32_t)k }, 4);
		vm[k].key_len = 4;
		vm[k].chain = NULL; /* set below, names are rebuilt */
		k++;
	}

	fe_masq_rule(p, b, chain, fe);
	/* Affinity: a client seen recently goes back to the same endpoint. */
	for (size_t i = 0; fe->affinity_timeout && i < fe->n_backends; i++) {
		const struct proxy_backend *be = &fe->backends[i];
		char aff[480];

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

	/* numgen random mod n vmap { 0 : goto ep-..., ... } */
	{
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
		uint32_t id;
		size_t j = 0;

		if (!names) {
			b->err = -ENOMEM;
			return;
		}
		for (size_t i = 0; i < fe->n_backends; i++) {
			if (fe->backends[i].state == PROXY_BACKEND_QUARANTINED)
				continue;
			be_name("ep", fe, &fe->backends[i], names + j * 480, 480);
			vm[j].chain = names + j * 480;
			j++;
		}
		anon_name(p, anon, sizeof(anon));
		id = nb_set_add(b, &d);
		nb_elems(b, NFT_MSG_NEWSETELEM, anon, id, vm, n);
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

	e.chain = chain;
	nb_elems(b, NFT_MSG_NEWSETELEM, fe_map(fe, false), 0, &e, 1);
}

static void fe_del_in(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	size_t n = n_selected(fe);
	char chain[400], name[480];
	struct elem e;

	fe_elem(fe, &e);
	nb_elems(b, NFT_MSG_DELSETELEM, fe_map(fe, n == 0), 0, &e, 1);
	if (n == 0)
		return;
	fe_chain_name(fe, chain, sizeof(chain));
	nftb_chain(b, NFT_MSG_DELCHAIN, chain, NULL);
	if (!fe->affinity_timeout) {
		snprintf(name, sizeof(name), "eps-%s", chain);
		nb_set_del(b, name);
	}
	for (size_t i = 0; i < fe->n_backends; i++)
		if (fe->backends[i].state != PROXY_BACKEND_QUARANTINED)
			hp_ref(p, &fe->backends[i].addr, -1);
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
		nb_set_del(b, name);
	}
}

/* ---- shards ---- */

/* The table of a frontend with endpoints: its service's shard (all the
 * frontends of a service share one); without endpoints the main table
 * (the no-endpoint maps). */
static const char *fe_table(const struct nftp *p, const struct proxy_frontend *fe)
{
	const char *name = fe->name, *end = strchr(name, ':');
	uint64_t h = 1469598103934665603ull;

	if (p->n_shards <= 1 || n_selected(fe) == 0)
		return p->table;
	for (const char *c = name; *c && c != end; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	return p->shard_names[h % p->n_shards];
}

static void fe_add(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	const char *main = b->table;

	b->table = fe_table(p, fe);
	fe_add_in(p, b, fe);
	b->table = main;
}

static void fe_del(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe)
{
	const char *main = b->table;

	b->table = fe_table(p, fe);
	fe_del_in(p, b, fe);
	b->table = main;
}

/* ---- the fixed part of the table ---- */

static void vmap_rule(struct nftb *b, const char *chain, int family, const char *map, bool any)
{
	struct nftb_rule rb;

	if (!nftb_rule_start(&rb, b, chain))
		return;
	if (any) {
		uint8_t p = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

		nftb_meta(&rb, NFT_META_NFPROTO, NFT_REG_1);
		nftb_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &p, 1);
		x_fib_daddr_local(&rb);
		nftb_meta(&rb, NFT_META_L4PROTO, NFT_REG32_00);
		nftb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
	} else {
		uint32_t n = nftb_addr_len(family) / 4;

		nftb_nfproto(&rb, family);
		nftb_daddr(&rb, family, NFT_REG32_00);
		nftb_meta(&rb, NFT_META_L4PROTO, NFT_REG32_00 + n);
		nftb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + n + 1);
	}
	x_lookup(&rb, NFT_REG32_00, true, map, 0);
	nftb_rule_end(&rb);
}

/* main: the whole fixed part; else a shard's: the service maps, the
 * services chain and the nat base chains that jump to it. */
static void base_add(struct nftb *b, bool main)
{
	static const struct nftb_hook h_nat_pre = { "nat", NF_INET_PRE_ROUTING, -100 };
	static const struct nftb_hook h_nat_out = { "nat", NF_INET_LOCAL_OUT, -100 };
	static const struct nftb_hook h_nat_post = { "nat", NF_INET_POST_ROUTING, 100 };
	static const struct nftb_hook h_in = { "filter", NF_INET_LOCAL_IN, 0 };
	static const struct nftb_hook h_fwd = { "filter", NF_INET_FORWARD, 0 };
	static const struct nftb_hook h_out = { "filter", NF_INET_LOCAL_OUT, 0 };
	static const struct {
		const char *name;
		const struct nftb_hook *hook;
		const char *jump;
	} chains[] = {
		{ CH_REJECT, NULL, NULL },
		{ CH_MARK, NULL, NULL },
		{ CH_MASQ, NULL, NULL },
		{ CH_SERVICES, NULL, NULL },
		{ CH_CHECK, NULL, NULL },
		{ "nat-prerouting", &h_nat_pre, CH_SERVICES },
		{ "nat-output", &h_nat_out, CH_SERVICES },
		{ "nat-postrouting", &h_nat_post, CH_MASQ },
		{ "filter-input", &h_in, CH_CHECK },
		{ "filter-forward", &h_fwd, CH_CHECK },
		{ "filter-output", &h_out, CH_CHECK },
	};
	const uint32_t t4 = NFTP_CONCAT3(NFTP_T_IPADDR, NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE);
	const uint32_t t6 = NFTP_CONCAT3(NFTP_T_IP6ADDR, NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE);
	const uint32_t tp = NFTP_CONCAT2(NFTP_T_INET_PROTO, NFTP_T_INET_SERVICE);
	const struct setdef sets[] = {
		{ .name = "cluster-ips", .key_type = NFTP_T_IPADDR, .key_len = 4 },
		{ .name = "cluster-ips6", .key_type = NFTP_T_IP6ADDR, .key_len = 16 },
		{ .name = "service-ips", .key_type = t4, .key_len = 12, .vmap = true },
		{ .name = "service-ips6", .key_type = t6, .key_len = 24, .vmap = true },
		{ .name = "service-nodeports", .key_type = tp, .key_len = 8, .vmap = true },
		{ .name = "service-nodeports6", .key_type = tp, .key_len = 8, .vmap = true },
		{ .name = "no-endpoint-services", .key_type = t4, .key_len = 12, .vmap = true },
		{ .name = "no-endpoint-services6", .key_type = t6, .key_len = 24, .vmap = true },
		{ .name = "no-endpoint-nodeports", .key_type = tp, .key_len = 8, .vmap = true },
		{ .name = "no-endpoint-nodeports6", .key_type = tp, .key_len = 8, .vmap = true },
		{ .name = SET_HAIRPIN, .key_type = NFTP_CONCAT2(NFTP_T_IPADDR, NFTP_T_IPADDR),
		  .key_len = 8 },
		{ .name = SET_HAIRPIN6, .key_type = NFTP_CONCAT2(NFTP_T_IP6ADDR, NFTP_T_IP6ADDR),
		  .key_len = 32 },
	};
	const uint32_t mark = NFTP_MASQ_MARK, zero = 0, keep = ~NFTP_MASQ_MARK;
	struct nftb_rule rb;

#define IN_SHARD(c) (!strcmp((c).name, CH_SERVICES) || (c).hook == &h_nat_pre || (c).hook == &h_nat_out)
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		if (main || !strncmp(sets[i].name, "service-", 8))
			nb_set_add(b, &sets[i]);
	for (size_t i = 0; i < ARRAY_SIZE(chains); i++)
		if (main || IN_SHARD(chains[i]))
			nftb_chain(b, NFT_MSG_NEWCHAIN, chains[i].name, chains[i].hook);
	for (size_t i = 0; i < ARRAY_SIZE(chains); i++) {
		if (!chains[i].jump || !(main || IN_SHARD(chains[i])) ||
		    !nftb_rule_start(&rb, b, chains[i].name))
			continue;
		nftb_verdict(&rb, NFT_JUMP, chains[i].jump);
		nftb_rule_end(&rb);
	}
#undef IN_SHARD
	vmap_rule(b, CH_SERVICES, AF_INET, "service-ips", false);
	vmap_rule(b, CH_SERVICES, AF_INET6, "service-ips6", false);
	vmap_rule(b, CH_SERVICES, AF_INET, "service-nodeports", true);
	vmap_rule(b, CH_SERVICES, AF_INET6, "service-nodeports6", true);
	if (!main)
		return;

	/* reject-chain: TCP gets a reset, the rest ICMP port unreachable. */
	if (nftb_rule_start(&rb, b, CH_REJECT)) {
		x_l4proto(&rb, IPPROTO_TCP);
		x_reject(&rb, NFT_REJECT_TCP_RST, 0);
		nftb_rule_end(&rb);
	}
	if (nftb_rule_start(&rb, b, CH_REJECT)) {
		x_reject(&rb, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH);
		nftb_rule_end(&rb);
	}
	/* mark-for-masquerade: meta mark set meta mark | 0x4000 */
	if (nftb_rule_start(&rb, b, CH_MARK)) {
		nftb_meta(&rb, NFT_META_MARK, NFT_REG_1);
		nftb_bitwise(&rb, NFT_REG_1, 4, &keep, &mark);
		nftb_meta_set(&rb, NFT_META_MARK, NFT_REG_1);
		nftb_rule_end(&rb);
	}
	/* Hairpin: a connection DNATed to its own source (an endpoint
	 * reaching itself through a service) is masqueraded too. */
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;
		const uint32_t dnat = IPS_DST_NAT;
		struct nftnl_expr *x;

		if (!nftb_rule_start(&rb, b, CH_MASQ))
			continue;
		nftb_nfproto(&rb, fam);
		x = nftb_rule_expr(&rb, "ct");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATUS);
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		}
		nftb_bitwise(&rb, NFT_REG_1, 4, &dnat, &zero);
		nftb_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
		nftb_saddr(&rb, fam, NFT_REG32_00);
		nftb_daddr(&rb, fam, NFT_REG32_00 + nftb_addr_len(fam) / 4);
		x_lookup(&rb, NFT_REG32_00, false, f ? SET_HAIRPIN6 : SET_HAIRPIN, 0);
		nftb_verdict(&rb, NFT_JUMP, CH_MARK);
		nftb_rule_end(&rb);
	}
	/* masquerading: only marked packets; the mark is cleared. */
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

	vmap_rule(b, CH_CHECK, AF_INET, "no-endpoint-services", false);
	vmap_rule(b, CH_CHECK, AF_INET6, "no-endpoint-services6", false);
	vmap_rule(b, CH_CHECK, AF_INET, "no-endpoint-nodeports", true);
	vmap_rule(b, CH_CHECK, AF_INET6, "no-endpoint-nodeports6", true);
	/* A ClusterIP still the destination after DNAT: an unknown port. */
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

/* ---- cluster-ips: the distinct ClusterIPs of a state ---- */

static int addr_qcmp(const void *a, const void *b)
{
	return model_addr_cmp(a, b);
}

static int cluster_ips(const struct proxy_state *s, struct model_addr **out, size_t *n)
{
	struct model_addr *v = NULL;
	size_t k = 0;

	if (s && s->n_fes) {
		v = calloc(s->n_fes, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_fes; i++)
			if (s->fes[i].key.kind == PROXY_KIND_CLUSTER_IP)
				v[k++] = s->fes[i].key.addr;
		qsort(v, k, sizeof(*v), addr_qcmp);
		size_t u = 0;
		for (size_t i = 0; i < k; i++)
			if (u == 0 || model_addr_cmp(&v[u - 1], &v[i]) != 0)
				v[u++] = v[i];
		k = u;
	}
	*out = v;
	*n = k;
	return 0;
}

static void cip_elem(struct nftb *b, uint16_t type, const struct model_addr *a)
{
	struct elem e = { .key_len = nftb_addr_len(a->family) };

	memcpy(e.key, addr_bytes(a), e.key_len);
	nb_elems(b, type, a->family == AF_INET ? "cluster-ips" : "cluster-ips6", 0, &e, 1);
}

static int cluster_ips_sync(struct nftb *b, const struct proxy_state *prev,
			    const struct proxy_state *next)
{
	_cleanup_free_ struct model_addr *a = NULL, *z = NULL;
	size_t na, nz, i = 0, j = 0;
	int r;

	r = cluster_ips(prev, &a, &na);
	if (r == 0)
		r = cluster_ips(next, &z, &nz);
	if (r < 0)
		return r;
	while (i < na || j < nz) {
		int c = i == na ? 1 : j == nz ? -1 : model_addr_cmp(&a[i], &z[j]);

		if (c < 0)
			cip_elem(b, NFT_MSG_DELSETELEM, &a[i++]);
		else if (c > 0)
			cip_elem(b, NFT_MSG_NEWSETELEM, &z[j++]);
		else
			i++, j++;
	}
	return 0;
}

/* The batch's counters (and what the kernel refused) for nftp_last_stats. */
static void batch_done(struct nftp *p, struct nftb *b)
{
	p->stats.n_msgs = b->n_msgs;
	p->stats.n_bytes = b->len;
	memcpy(p->stats.failed, b->failed, sizeof(p->stats.failed));
	nftb_free(b);
}

/* Deletes the UDP conntrack entries of the backends ch removed. */
static void ct_cleanup(struct nftp *p, const struct proxy_changes *ch)
{
	for (size_t i = 0; i < ch->n_removed; i++) {
		if (ch->removed[i].proto != IPPROTO_UDP)
			continue;
		int n = nftp_conntrack_delete_udp(&ch->removed[i].be.addr, ch->removed[i].be.port);

		if (n > 0)
			p->stats.n_ct_deleted += (size_t)n;
	}
}

/* The batch for the changes ch from old to now: frontends deleted, set
 * (replaced: the old chain goes first), and the cluster-ips set. */
static int changes_add(struct nftp *p, struct nftb *b, const struct proxy_state *old,
		       const struct proxy_state *now, const struct proxy_changes *ch)
{
	for (size_t i = 0; i < ch->n_del; i++)
		fe_del(p, b, ch->del[i]);
	for (size_t i = 0; i < ch->n_set; i++) {
		const struct proxy_frontend *was = proxy_state_find(old, &ch->set[i]->key);

		if (was)
			fe_del(p, b, was);
		fe_add(p, b, ch->set[i]);
	}
	hp_flush(p, b);
	return cluster_ips_sync(b, old, now);
}

int nftp_apply(struct nftp *p, struct proxy_state *next)
{
	struct proxy_changes ch = { 0 };
	struct proxy_state *empty = NULL;
	bool full = !p->applied;
	struct nftb b;
	int r = 0;

	nftb_begin(&b, p->sock, p->table);
	if (full) {
		p->n_shards = (unsigned)((next->n_fes + NFTP_SHARD_FES - 1) / NFTP_SHARD_FES);
		if (p->n_shards < 1)
			p->n_shards = 1;
		if (p->n_shards > NFTP_MAX_SHARDS)
			p->n_shards = NFTP_MAX_SHARDS;
		/* Every possible shard of an earlier run goes. */
		for (unsigned k = 0; k < NFTP_MAX_SHARDS; k++) {
			b.table = p->shard_names[k];
			nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
			nftb_table(&b, NFT_MSG_DELTABLE, 0);
			if (k < p->n_shards) {
				nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
				base_add(&b, k == 0);
			}
		}
		b.table = p->table;
		r = cluster_ips_sync(&b, NULL, next);
		hp_reset(&p->hp);
		for (size_t i = 0; r == 0 && i < next->n_fes; i++)
			fe_add(p, &b, &next->fes[i]);
		hp_flush(p, &b);
		/* For the caller's log: everything is new. */
		if (r == 0 && p->on_changes) {
			r = proxy_state_new_empty(&empty);
			if (r == 0)
				r = proxy_diff(empty, next, NULL, &ch);
		}
	} else {
		r = proxy_diff(p->applied, next, NULL, &ch);
		if (r == 0)
			r = changes_add(p, &b, p->applied, next, &ch);
	}
	if (r == 0 && b.err)
		r = b.err;
	if (r == 0 && b.n_msgs)
		r = nftb_send(p->sock, &b);
	batch_done(p, &b);
	p->stats.full = full;
	p->stats.n_ct_deleted = 0;
	if (r < 0) {
		proxy_changes_clear(&ch);
		proxy_state_free(empty);
		proxy_state_free(next);
		/* The kernel has the old state or, after a failed first
		 * batch, nothing: the next apply rebuilds it all. */
		proxy_state_free(p->applied);
		p->applied = NULL;
		return r;
	}
	if (!full)
		ct_cleanup(p, &ch);
	if (p->on_changes)
		p->on_changes(next, &ch, p->ud);
	proxy_changes_clear(&ch);
	proxy_state_free(empty);
	proxy_state_free(p->applied);
	p->applied = next;
	return 0;
}

int nftp_apply_services(struct nftp *p, char *const *keys, size_t n, struct proxy_state *part)
{
	struct proxy_changes ch = { 0 };
	struct proxy_state *old = NULL;
	struct nftb b;
	int r;

	if (!p->applied) {
		proxy_state_free(part);
		return -EAGAIN;
	}
	r = proxy_state_take_services(p->applied, keys, n, part, &old);
	if (r < 0) {
		proxy_state_free(part);
		if (r == -EEXIST)
			return -EAGAIN; /* nothing moved */
		proxy_state_free(p->applied);
		p->applied = NULL;
		return r;
	}
	nftb_begin(&b, p->sock, p->table);
	/* What the other services still use is not "removed". */
	r = proxy_diff(old, part, p->applied, &ch);
	if (r == 0)
		r = changes_add(p, &b, old, part, &ch);
	if (r == 0 && b.err)
		r = b.err;
	if (r == 0 && b.n_msgs)
		r = nftb_send(p->sock, &b);
	batch_done(p, &b);
	p->stats.full = false;
	p->stats.n_ct_deleted = 0;
	if (r == 0) {
		ct_cleanup(p, &ch);
		if (p->on_changes)
			p->on_changes(part, &ch, p->ud);
	}
	proxy_changes_clear(&ch);
	proxy_state_free(old);
	if (r < 0) {
		proxy_state_free(part);
		proxy_state_free(p->applied);
		p->applied = NULL;
		return r;
	}
	r = proxy_state_merge(p->applied, part);
	if (r < 0) {
		proxy_state_free(p->applied);
		p->applied = NULL;
	}
	return r;
}

const struct proxy_state *nftp_applied(const struct nftp *p)
{
	return p->applied;
}

void nftp_last_stats(const struct nftp *p, struct nftp_stats *out)
{
	*out = p->stats;
}

static int open_nl(struct mnl_socket **out, uint32_t *portid)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int sz = 4 << 20;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(nl);
		return r;
	}
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	*portid = mnl_socket_get_portid(nl);
	*out = nl;
	return 0;
}

int nftp_open(const struct nftp_options *o, struct nftp **out)
{
	struct nftp *p;
	const char *table = o->table ? o->table : NFTP_DEFAULT_TABLE;
	int r;

	if (!*table || strlen(table) > 250) /* room for "-s<k>" */
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->table = strdup(table);
	if (!p->table) {
		free(p);
		return -ENOMEM;
	}
	p->shard_names[0] = p->table;
	for (unsigned k = 1; k < NFTP_MAX_SHARDS; k++) {
		if (asprintf(&p->shard_names[k], "%s-s%u", table, k) < 0) {
			p->shard_names[k] = NULL;
			nftp_free(p);
			return -ENOMEM;
		}
	}
	p->n_shards = 1;
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		const struct model_cidr *c = &o->cluster_cidrs[i];

		if (c->addr.family == AF_INET && c->len <= 32 && !p->have_cidr4) {
			p->cidr4 = *c;
			p->have_cidr4 = true;
		} else if (c->addr.family == AF_INET6 && c->len <= 128 && !p->have_cidr6) {
			p->cidr6 = *c;
			p->have_cidr6 = true;
		} else {
			nftp_free(p);
			return -EINVAL;
		}
	}
	p->masquerade_all = o->masquerade_all;
	p->on_changes = o->on_changes;
	p->ud = o->ud;
	r = nftb_sock_open(&p->sock);
	if (r < 0) {
		nftp_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void nftp_free(struct nftp *p)
{
	if (!p)
		return;
	nftb_sock_free(p->sock);
	proxy_state_free(p->applied);
	hp_reset(&p->hp);
	for (unsigned k = 1; k < NFTP_MAX_SHARDS; k++)
		free(p->shard_names[k]);
	free(p->table);
	free(p);
}

static int delete_table(struct nftp *p)
{
	struct nftb b;
	int r;

	nftb_begin(&b, p->sock, p->table);
	for (unsigned k = 0; k < NFTP_MAX_SHARDS; k++) {
		b.table = p->shard_names[k];
		nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftb_table(&b, NFT_MSG_DELTABLE, 0);
	}
	r = b.err ? b.err : nftb_send(p->sock, &b);
	batch_done(p, &b);
	return r;
}

int nftp_destroy(struct nftp *p)
{
	int r = delete_table(p);

	proxy_state_free(p->applied);
	p->applied = NULL;
	return r;
}

int nftp_delete_table(const char *table)
{
	struct nftp_options o = { .table = table };
	struct nftp *p;
	int r = nftp_open(&o, &p);

	if (r < 0)
		return r;
	r = delete_table(p);
	nftp_free(p);
	return r;
}

/* ---- conntrack: UDP flows of a removed endpoint ---- */

struct ct_match {
	const struct model_addr *addr;
	uint16_t port;
	/* The CTA_TUPLE_ORIG attributes of matching entries, back to back. */
	char *tuples;
	size_t len, cap;
	size_t n;
};

/* Fills src address, src port and l4 protocol from a CTA_TUPLE_* nest. */
static bool ct_tuple(const struct nlattr *nest, int family, uint8_t addr[16], uint16_t *port,
		     uint8_t *proto)
{
	const struct nlattr *a, *b;
	bool have_addr = false, have_port = false;

	*proto = 0;
	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_IP:
			mnl_attr_for_each_nested(b, a) {
				int t = mnl_attr_get_type(b);

				if (family == AF_INET && t == CTA_IP_V4_SRC &&
				    mnl_attr_get_payload_len(b) == 4) {
					memcpy(addr, mnl_attr_get_payload(b), 4);
					have_addr = true;
				} else if (family == AF_INET6 && t == CTA_IP_V6_SRC &&
					   mnl_attr_get_payload_len(b) == 16) {
					memcpy(addr, mnl_attr_get_payload(b), 16);
					have_addr = true;
				}
			}
			break;
		case CTA_TUPLE_PROTO:
			mnl_attr_for_each_nested(b, a) {
				if (mnl_attr_get_type(b) == CTA_PROTO_NUM)
					*proto = mnl_attr_get_u8(b);
				else if (mnl_attr_get_type(b) == CTA_PROTO_SRC_PORT) {
					*port = mnl_attr_get_u16(b);
					have_port = true;
				}
			}
			break;
		}
	}
	return have_addr && have_port;
}

static int ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_match *m = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *orig = NULL, *reply = NULL;
	uint8_t addr[16], proto;
	uint16_t port = 0;

	if (g->nfgen_family != m->addr->family)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			orig = a;
		else if (mnl_attr_get_type(a) == CTA_TUPLE_REPLY)
			reply = a;
	}
	if (!orig || !reply || !ct_tuple(reply, g->nfgen_family, addr, &port, &proto))
		return MNL_CB_OK;
	if (proto != IPPROTO_UDP || port != htons(m->port) ||
	    memcmp(addr, addr_bytes(m->addr), nftb_addr_len(m->addr->family)) != 0)
		return MNL_CB_OK;
	if (m->cap - m->len < orig->nla_len) {
		size_t cap = m->cap ? m->cap * 2 : 4096;
		char *n = realloc(m->tuples, cap);

		if (!n)
			return MNL_CB_ERROR;
		m->tuples = n;
		m->cap = cap;
	}
	memcpy(m->tuples + m->len, orig, orig->nla_len);
	m->len += NLA_ALIGN(orig->nla_len);
	m->n++;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint16_t type, uint16_t flags, int family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = (uint8_t)family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

int nftp_conntrack_delete_udp(const struct model_addr *addr, uint16_t port)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ct_match m = { .addr = addr, .port = port };
	struct mnl_socket *nl = NULL;
	uint32_t portid = 0, seq = (uint32_t)time(NULL);
	struct nlmsghdr *nlh;
	int r, deleted = 0;
	ssize_t n;

	r = open_nl(&nl, &portid);
	if (r < 0)
		return r;
	nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, addr->family, seq);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			goto out;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, ct_dump_cb, &m);
		if (r < 0) {
			r = -errno;
			goto out;
		}
		if (r == MNL_CB_STOP)
			break;
	}
	for (size_t off = 0; off < m.len;) {
		const struct nlattr *orig = (const struct nlattr *)(m.tuples + off);

		nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, addr->family, ++seq);
		mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, orig->nla_len - sizeof(*orig),
			     mnl_attr_get_payload(orig));
		off += NLA_ALIGN(orig->nla_len);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
			r = -errno;
			goto out;
		}
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			goto out;
		}
		/* ENOENT: the entry ended meanwhile, fine. */
		if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) >= 0)
			deleted++;
		else if (errno != ENOENT) {
			r = -errno;
			goto out;
		}
	}
	r = deleted;
out:
	free(m.tuples);
	mnl_socket_close(nl);
	return r;
}
