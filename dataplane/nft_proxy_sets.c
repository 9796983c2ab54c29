/* The nftables proxy mode: sets and maps, their elements, and the hairpin
 * and cluster-ips sets (see nft_proxy.h). */
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
uint32_t nftp_set_add(struct nftb *b, const struct setdef *d)
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
	if (d->size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, d->size);
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

void nftp_set_del(struct nftb *b, const char *name)
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


/* The value nest (NFTA_DATA_VALUE) of attribute type. */
static void put_value(struct nlmsghdr *nlh, uint16_t type, const void *v, uint32_t len)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, n);
}

/* One element of a NEWSETELEM / DELSETELEM message: its key, and for an
 * add its goto verdict or data. */
static void put_elem(struct nlmsghdr *nlh, uint16_t type, const struct elem *e, uint16_t i)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, i);

	put_value(nlh, NFTA_SET_ELEM_KEY, e->key, e->key_len);
	if (e->chain && type == NFT_MSG_NEWSETELEM) {
		struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		struct nlattr *v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);

		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
		mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, e->chain);
		mnl_attr_nest_end(nlh, v);
		mnl_attr_nest_end(nlh, d);
	} else if (e->data_len && type == NFT_MSG_NEWSETELEM) {
		put_value(nlh, NFTA_SET_ELEM_DATA, e->data, e->data_len);
	}
	mnl_attr_nest_end(nlh, n);
}

/* Written with libmnl directly, not an nftnl_set_elem per element: a full
 * sync sends some 200,000 elements. */
void nftp_elems(struct nftb *b, uint16_t type, const char *set, uint32_t set_id,
		const struct elem *e, size_t n)
{
	size_t need = 512 + strlen(set) + strlen(b->table);
	struct nlmsghdr *nlh;
	struct nlattr *list;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		need += 96 + e[i].key_len + e[i].data_len + (e[i].chain ? strlen(e[i].chain) : 0);
	nlh = nftb_msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, need);
	if (!nlh)
		return;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	if (set_id)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(set_id));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, b->table);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < n; i++)
		put_elem(nlh, type, &e[i], (uint16_t)(i + 1));
	mnl_attr_nest_end(nlh, list);
	nftb_done(b, nlh);
}

/* ---- added elements queued across frontends ---- */

/* The elements to add to one set of one table, sent PEND_CHUNK a message
 * (with the chain names of a verdict map's elements: v[i].chain is unset
 * until the flush, name_off[i] is the name's offset in names). */
enum { PEND_CHUNK = 256 };

struct nftp_pend {
	const char *table;
	char set[32];
	size_t n;
	struct elem v[PEND_CHUNK];
	size_t name_off[PEND_CHUNK];
	char *names;
	size_t names_len, names_cap;
};

static void pend_flush(struct nftb *b, struct nftp_pend *q)
{
	const char *table = b->table;

	for (size_t i = 0; i < q->n; i++)
		if (q->name_off[i] != SIZE_MAX)
			q->v[i].chain = q->names + q->name_off[i];
	b->table = q->table;
	nftp_elems(b, NFT_MSG_NEWSETELEM, q->set, 0, q->v, q->n);
	b->table = table;
	q->n = 0;
	q->names_len = 0;
}

/* The queue of set in shard's table: its own, else a free one, else the
 * first, flushed. NULL: no memory. */
static struct nftp_pend *pend_get(struct nftp *p, struct nftb *b, unsigned shard,
				  const char *set)
{
	struct nftp_pend **qs = p->pend[shard % NFTP_MAX_SHARDS], *q = NULL;

	for (size_t i = 0; i < NFTP_PEND_SLOTS && qs[i]; i++)
		if (!strcmp(qs[i]->set, set))
			return qs[i];
	for (size_t i = 0; i < NFTP_PEND_SLOTS && !q; i++) {
		if (!qs[i])
			qs[i] = calloc(1, sizeof(*qs[i]));
		else if (qs[i]->n)
			continue;
		q = qs[i];
	}
	if (!q && qs[0]) {
		q = qs[0];
		pend_flush(b, q);
	}
	if (!q || strlen(set) >= sizeof(q->set))
		return NULL;
	q->table = p->shard_names[shard % NFTP_MAX_SHARDS];
	snprintf(q->set, sizeof(q->set), "%s", set);
	return q;
}

static int pend_push(struct nftb *b, struct nftp_pend *q, const struct elem *e)
{
	size_t off = SIZE_MAX;

	if (e->chain) {
		size_t len = strlen(e->chain) + 1;

		if (q->names_cap - q->names_len < len) {
			size_t cap = q->names_cap ? q->names_cap * 2 : 16384;
			char *v;

			while (cap - q->names_len < len)
				cap *= 2;
			v = realloc(q->names, cap);
			if (!v)
				return -ENOMEM;
			q->names = v;
			q->names_cap = cap;
		}
		off = q->names_len;
		memcpy(q->names + off, e->chain, len);
		q->names_len += len;
	}
	q->v[q->n] = *e;
	q->v[q->n].chain = NULL;
	q->name_off[q->n++] = off;
	if (q->n == PEND_CHUNK)
		pend_flush(b, q);
	return 0;
}

/* Adds the n elements e to set of shard's table with the batch's other
 * elements of that set (nftp_elems_flush writes the rest). Not for a
 * delete: those go at once, before any add of the batch. */
void nftp_elem_queue(struct nftp *p, struct nftb *b, unsigned shard, const char *set,
		     const struct elem *e, size_t n)
{
	struct nftp_pend *q = n ? pend_get(p, b, shard, set) : NULL;

	if (n && !q && !b->err)
		b->err = -ENOMEM;
	for (size_t i = 0; q && i < n && !b->err; i++) {
		int r = pend_push(b, q, &e[i]);

		if (r < 0)
			b->err = r;
	}
}

/* The queued elements written, the queues freed. */
void nftp_elems_flush(struct nftp *p, struct nftb *b)
{
	for (size_t s = 0; s < NFTP_MAX_SHARDS; s++) {
		for (size_t i = 0; i < NFTP_PEND_SLOTS; i++) {
			struct nftp_pend *q = p->pend[s][i];

			if (!q)
				continue;
			if (q->n)
				pend_flush(b, q);
			free(q->names);
			free(q);
			p->pend[s][i] = NULL;
		}
	}
}

/* ---- open-addressing tables (hairpin counts, endpoint ranges) ---- */

/* A table of cap slots with used taken (live or freed) needs to grow
 * before one more: past 3/4 full. */
static bool tab_full(size_t used, size_t cap)
{
	return (used + 1) * 4 > cap * 3;
}

/* The slots for live entries and one more: at most 5/8 full, so that
 * the table does not fill again after a few adds. */
static size_t tab_cap(size_t live)
{
	size_t cap = 1024;

	while ((live + 1) * 8 > cap * 5)
		cap *= 2;
	return cap;
}

/* ---- hairpin set ---- */

/* A slot of struct hp_tab: the address (4 or 16 bytes), then a word of
 * its reference count and these flags. */
#define HP_USED (1u << 31)
#define HP_DIRTY (1u << 30) /* changed in this batch: in the dirty list */
#define HP_WAS (1u << 29)   /* in the set before this batch (when dirty) */
#define HP_COUNT (HP_WAS - 1)

static uint64_t hash_bytes(int family, const uint8_t *k, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)family;

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

static uint64_t hp_hash(const struct ipaddr *a)
{
	return hash_bytes(a->family, a->bytes, ipaddr_family_len(a->family));
}

static size_t hp_alen(bool v6)
{
	return v6 ? 16 : 4;
}

static uint32_t hp_word(const uint8_t *slot, bool v6)
{
	uint32_t w;

	memcpy(&w, slot + hp_alen(v6), sizeof(w));
	return w;
}

static void hp_word_set(uint8_t *slot, bool v6, uint32_t w)
{
	memcpy(slot + hp_alen(v6), &w, sizeof(w));
}

/* The slot of address k in v (cap slots): its own, or the empty one it
 * would take. */
static size_t hp_find(const uint8_t *v, size_t cap, bool v6, const uint8_t *k)
{
	size_t alen = hp_alen(v6), sz = alen + 4;
	size_t i = (size_t)hash_bytes(v6 ? AF_INET6 : AF_INET, k, alen) & (cap - 1);

	while ((hp_word(v + i * sz, v6) & HP_USED) && memcmp(v + i * sz, k, alen) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

/* Room for one more address (tab_full, tab_cap): the addresses no
 * frontend uses and not dirty are dropped, the dirty list's slots moved
 * along. */
static int hp_grow(struct hp_tab *t, bool v6)
{
	size_t sz = hp_alen(v6) + 4, cap, live = 0;
	uint8_t *v;

	if (!tab_full(t->used, t->cap))
		return 0;
	for (size_t i = 0; i < t->cap; i++)
		live += (hp_word(t->v + i * sz, v6) & HP_USED) &&
			(hp_word(t->v + i * sz, v6) & (HP_COUNT | HP_DIRTY));
	cap = tab_cap(live);
	if (cap > UINT32_MAX)
		return -ENOMEM;
	v = calloc(cap, sz);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		const uint8_t *o = t->v + i * sz;

		if ((hp_word(o, v6) & HP_USED) && (hp_word(o, v6) & (HP_COUNT | HP_DIRTY)))
			memcpy(v + hp_find(v, cap, v6, o) * sz, o, sz);
	}
	for (size_t i = 0; i < t->n_dirty; i++)
		t->dirty[i] = (uint32_t)hp_find(v, cap, v6, t->v + (size_t)t->dirty[i] * sz);
	free(t->v);
	t->v = v;
	t->cap = cap;
	t->used = live;
	return 0;
}

static int hp_dirty_push(struct hp_tab *t, size_t i)
{
	if (t->n_dirty == t->cap_dirty) {
		size_t cap = t->cap_dirty ? t->cap_dirty * 2 : 256;
		uint32_t *v = realloc(t->dirty, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->dirty = v;
		t->cap_dirty = cap;
	}
	t->dirty[t->n_dirty++] = (uint32_t)i;
	return 0;
}

void nftp_hairpin_ref(struct nftp *p, const struct ipaddr *a, int d)
{
	bool v6 = a->family == AF_INET6;
	struct hp_tab *t = &p->hp.t[v6];
	size_t alen = hp_alen(v6), i;
	uint8_t *slot;
	uint32_t w, n;

	if (hp_grow(t, v6) < 0) {
		p->hp.err = -ENOMEM;
		return;
	}
	i = hp_find(t->v, t->cap, v6, a->bytes);
	slot = t->v + i * (alen + 4);
	w = hp_word(slot, v6);
	if (!(w & HP_USED)) {
		memcpy(slot, a->bytes, alen);
		w = HP_USED;
		t->used++;
	}
	if (!(w & HP_DIRTY)) {
		if (hp_dirty_push(t, i) < 0) {
			p->hp.err = -ENOMEM;
			hp_word_set(slot, v6, w);
			return;
		}
		w |= HP_DIRTY | (w & HP_COUNT ? HP_WAS : 0);
	}
	n = w & HP_COUNT;
	if (d > 0 && n < HP_COUNT)
		n++;
	else if (d < 0 && n)
		n--;
	hp_word_set(slot, v6, (w & ~HP_COUNT) | n);
}

void nftp_hairpin_reset(struct hp *h)
{
	for (size_t f = 0; f < 2; f++) {
		free(h->t[f].v);
		free(h->t[f].dirty);
	}
	memset(h, 0, sizeof(*h));
}

/* Elements of one set, sent in messages of up to ELEMQ_CHUNK (one message
 * per element made a full sync send 10,000 for the ClusterIPs alone). */
enum { ELEMQ_CHUNK = 256 };

struct elemq {
	struct nftb *b;
	uint16_t type; /* NFT_MSG_NEWSETELEM or _DELSETELEM */
	const char *set;
	size_t n;
	struct elem v[ELEMQ_CHUNK];
};

static void elemq_flush(struct elemq *q)
{
	if (q->n)
		nftp_elems(q->b, q->type, q->set, 0, q->v, q->n);
	q->n = 0;
}

/* key: len bytes, twice when pair (the hairpin sets' a . a). */
static void elemq_push(struct elemq *q, const struct ipaddr *a, bool pair)
{
	struct elem *x = &q->v[q->n++];
	uint32_t len = ipaddr_family_len(a->family);

	memset(x, 0, sizeof(*x));
	memcpy(x->key, a->bytes, len);
	if (pair)
		memcpy(x->key + len, a->bytes, len);
	x->key_len = pair ? 2 * len : len;
	if (q->n == ELEMQ_CHUNK)
		elemq_flush(q);
}

/* Four queues: add v4, add v6, delete v4, delete v6 of the sets set4/6. */
static void elemqs_init(struct elemq q[4], struct nftb *b, const char *set4, const char *set6)
{
	for (int j = 0; j < 4; j++) {
		q[j].b = b;
		q[j].type = j < 2 ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;
		q[j].set = j % 2 ? set6 : set4;
		q[j].n = 0;
	}
}

static struct elemq *elemqs_pick(struct elemq q[4], const struct ipaddr *a, bool del)
{
	return &q[(del ? 2 : 0) + (a->family == AF_INET6)];
}

/* The batch's hairpin set changes: an address now used and not before
 * is added, one no longer used deleted. */
void nftp_hairpin_flush(struct nftp *p, struct nftb *b)
{
	struct hp *h = &p->hp;
	_cleanup_free_ struct elemq *q = calloc(4, sizeof(*q));

	if (h->err && !b->err)
		b->err = h->err;
	if (!q) {
		b->err = -ENOMEM;
		return;
	}
	elemqs_init(q, b, SET_HAIRPIN, SET_HAIRPIN6);
	for (size_t f = 0; f < 2; f++) {
		struct hp_tab *t = &h->t[f];
		size_t alen = hp_alen(f), sz = alen + 4;

		for (size_t i = 0; i < t->n_dirty; i++) {
			uint8_t *slot = t->v + (size_t)t->dirty[i] * sz;
			uint32_t w = hp_word(slot, f);
			struct ipaddr a = { .family = f ? AF_INET6 : AF_INET };

			if (!(w & HP_DIRTY))
				continue;
			hp_word_set(slot, f, w & ~(HP_DIRTY | HP_WAS));
			if (!(w & HP_WAS) == !(w & HP_COUNT))
				continue;
			h->n_elems[f] = w & HP_COUNT ? h->n_elems[f] + 1 : h->n_elems[f] - 1;
			memcpy(a.bytes, slot, alen);
			elemq_push(elemqs_pick(q, &a, !(w & HP_COUNT)), &a, true);
		}
		t->n_dirty = 0;
		if (t->cap_dirty > 4096) { /* a full sync's: not kept for small changes */
			free(t->dirty);
			t->dirty = NULL;
			t->cap_dirty = 0;
		}
	}
	for (int j = 0; j < 4; j++)
		elemq_flush(&q[j]);
}

/* ---- endpoint ranges ---- */

static uint64_t key_hash(const struct proxy_fe_key *k)
{
	uint64_t h = hp_hash(&k->addr);

	h = (h ^ k->port) * 1099511628211ull;
	h = (h ^ k->proto) * 1099511628211ull;
	return (h ^ k->kind) * 1099511628211ull;
}

static struct eps_range *eps_slot(struct eps_range *v, size_t cap, const struct proxy_fe_key *k)
{
	size_t i = (size_t)key_hash(k) & (cap - 1);

	while (v[i].used && proxy_fe_key_cmp(&v[i].key, k) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

/* Room for one more key (tab_full, tab_cap; freed slots are dropped when
 * the table grows). */
static int eps_grow(struct eps_ranges *r)
{
	size_t cap, live = 0;
	struct eps_range *v;

	if (!tab_full(r->used, r->cap))
		return 0;
	for (size_t i = 0; i < r->cap; i++)
		live += r->v[i].used && r->v[i].n;
	cap = tab_cap(live);
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->cap; i++)
		if (r->v[i].used && r->v[i].n)
			*eps_slot(v, cap, &r->v[i].key) = r->v[i];
	free(r->v);
	r->v = v;
	r->cap = cap;
	r->used = live;
	return 0;
}

/* "endpoints-<g>" or "endpoints6-<g>": the map of the group of base. */
void nftp_eps_map_name(const struct proxy_fe_key *k, uint32_t base, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%u", k->addr.family == AF_INET6 ? MAP_EPS6 : MAP_EPS,
		 base / NFTP_EPS_GROUP);
}

/* Adds the maps of the groups up to g to b->table (the pool's). */
static void eps_maps_add(struct nftb *b, struct eps_pool *pool, bool v6, uint32_t g, uint32_t n)
{
	char name[32];
	struct setdef d = {
		.name = name,
		.key_type = NFTP_T_MARK, /* a 32-bit host-order number nft prints */
		.key_len = 4,
		.host_order_key = true,
		.data_type = NFTP_CONCAT2(v6 ? NFTP_T_IP6ADDR : NFTP_T_IPADDR, NFTP_T_INET_SERVICE),
		.data_len = v6 ? 20 : 8,
	};

	for (; pool->n_maps <= g; pool->n_maps++) {
		d.size = pool->n_maps == g && n > NFTP_EPS_GROUP ? n : NFTP_EPS_GROUP;
		snprintf(name, sizeof(name), "%s-%u", v6 ? MAP_EPS6 : MAP_EPS, pool->n_maps);
		nftp_set_add(b, &d);
	}
}

/* n keys (1 .. 2^31) for frontend k (which has none) in shard's pool of
 * its family (b->table): a freed range of that length, or new keys, in one
 * group unless n is longer; the group's map is added to the batch when it
 * is new. -ENOSPC when the key space is used up (a full rebuild starts it
 * over). */
int nftp_eps_alloc(struct nftb *b, struct eps_ranges *r, const struct proxy_fe_key *k,
		   unsigned shard, uint32_t n, uint32_t *base)
{
	bool v6 = k->addr.family == AF_INET6;
	struct eps_pool *pool = &r->pool[shard % NFTP_MAX_SHARDS][v6];
	struct eps_range *e;
	uint32_t at = pool->next;
	int ret = eps_grow(r);

	if (ret < 0)
		return ret;
	if (n <= NFTP_EPS_REUSE && pool->free[n].n) {
		at = pool->free[n].base[--pool->free[n].n];
	} else {
		if (at % NFTP_EPS_GROUP && at % NFTP_EPS_GROUP + n > NFTP_EPS_GROUP)
			at += NFTP_EPS_GROUP - at % NFTP_EPS_GROUP; /* the next group */
		if (at < pool->next || n > UINT32_MAX - at)
			return -ENOSPC;
		pool->next = at + n;
	}
	eps_maps_add(b, pool, v6, at / NFTP_EPS_GROUP, n);
	e = eps_slot(r->v, r->cap, k);
	if (!e->used)
		r->used++;
	*e = (struct eps_range){
		.key = *k, .base = at, .n = n, .shard = (uint8_t)shard, .used = true
	};
	*base = at;
	return 0;
}

const struct eps_range *nftp_eps_find(const struct eps_ranges *r, const struct proxy_fe_key *k)
{
	const struct eps_range *e = r->cap ? eps_slot(r->v, r->cap, k) : NULL;

	return e && e->used && e->n ? e : NULL;
}

/* Frontend k's keys go back (when it had any). */
void nftp_eps_free(struct eps_ranges *r, const struct proxy_fe_key *k)
{
	struct eps_range *e = r->cap ? eps_slot(r->v, r->cap, k) : NULL;

	if (!e || !e->used || !e->n)
		return;
	if (e->n <= NFTP_EPS_REUSE) {
		struct eps_pool *pool = &r->pool[e->shard][e->key.addr.family == AF_INET6];
		struct eps_free *f = &pool->free[e->n];

		if (f->n == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 64;
			uint32_t *v = realloc(f->base, cap * sizeof(*v));

			if (v) {
				f->base = v;
				f->cap = cap;
			}
		}
		if (f->n < f->cap) /* else the range is not reused */
			f->base[f->n++] = e->base;
	}
	e->n = 0;
}

void nftp_eps_reset(struct eps_ranges *r)
{
	free(r->v);
	for (size_t s = 0; s < NFTP_MAX_SHARDS; s++)
		for (size_t f = 0; f < 2; f++)
			for (size_t i = 0; i <= NFTP_EPS_REUSE; i++)
				free(r->pool[s][f].free[i].base);
	memset(r, 0, sizeof(*r));
}

/* ---- cluster-ips: the distinct ClusterIPs of a state ---- */

static int addr_qcmp(const void *a, const void *b)
{
	return ipaddr_cmp(a, b);
}

static int cluster_ips(const struct proxy_state *s, struct ipaddr **out, size_t *n)
{
	struct ipaddr *v = NULL;
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
			if (u == 0 || ipaddr_cmp(&v[u - 1], &v[i]) != 0)
				v[u++] = v[i];
		k = u;
	}
	*out = v;
	*n = k;
	return 0;
}

/* The number of distinct addresses of family (AF_INET6 or not) in
 * v[0 .. n - 1], sorted. */
static uint32_t n_family(const struct ipaddr *v, size_t n, bool v6)
{
	uint32_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (v[i].family == AF_INET6) == v6;
	return k;
}

int nftp_cluster_ips_sync(struct nftp *p, struct nftb *b, const struct proxy_state *prev,
			  const struct proxy_state *next)
{
	_cleanup_free_ struct ipaddr *a = NULL, *z = NULL;
	_cleanup_free_ struct elemq *q = calloc(4, sizeof(*q));
	size_t na, nz, i = 0, j = 0;
	int r;

	if (!q)
		return -ENOMEM;
	r = cluster_ips(prev, &a, &na);
	if (r == 0)
		r = cluster_ips(next, &z, &nz);
	if (r < 0)
		return r;
	p->count.cluster_ips[0] = n_family(z, nz, false);
	p->count.cluster_ips[1] = n_family(z, nz, true);
	elemqs_init(q, b, "cluster-ips", "cluster-ips6");
	while (i < na || j < nz) {
		int c = i == na ? 1 : j == nz ? -1 : ipaddr_cmp(&a[i], &z[j]);

		if (c < 0)
			elemq_push(elemqs_pick(q, &a[i], true), &a[i], false), i++;
		else if (c > 0)
			elemq_push(elemqs_pick(q, &z[j], false), &z[j], false), j++;
		else
			i++, j++;
	}
	for (int k = 0; k < 4; k++)
		elemq_flush(&q[k]);
	return 0;
}

/* ---- set sizes ---- */

/* The size of a set of n elements now: room to grow by half before a
 * full sync sizes it anew (and a little more for small sets). */
uint32_t nftp_size_for(uint32_t n)
{
	uint64_t v = (uint64_t)n + n / 2 + 256;

	return v > INT32_MAX ? INT32_MAX : (uint32_t)v;
}

/* The elements the sets cluster-ips{,6} will have for s. */
int nftp_cluster_ips_count(const struct proxy_state *s, uint32_t out[2])
{
	_cleanup_free_ struct ipaddr *c = NULL;
	size_t nc;
	int r = cluster_ips(s, &c, &nc);

	if (r < 0)
		return r;
	out[0] = n_family(c, nc, false);
	out[1] = n_family(c, nc, true);
	return 0;
}

/* The elements the sets hairpin{,6} will have after references were
 * taken from nothing (nftp_hairpin_reset): the distinct addresses. */
void nftp_hairpin_count(const struct hp *h, uint32_t out[2])
{
	for (size_t f = 0; f < 2; f++)
		out[f] = (uint32_t)h->t[f].n_dirty;
}
