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


void nftp_elems(struct nftb *b, uint16_t type, const char *set, uint32_t set_id,
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

/* ---- hairpin set ---- */

static uint64_t hp_hash(const struct ipaddr *a)
{
	const uint8_t *k = a->bytes;
	uint64_t h = 1469598103934665603ull ^ (uint64_t)a->family;

	for (uint32_t i = 0; i < ipaddr_family_len(a->family); i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

static struct hp_ent *hp_slot(struct hp_ent *v, size_t cap, const struct ipaddr *a)
{
	size_t i = (size_t)hp_hash(a) & (cap - 1);

	while (v[i].used && ipaddr_cmp(&v[i].a, a) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static struct hp_ent *hp_get(struct hp *h, const struct ipaddr *a, bool create)
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

void nftp_hairpin_ref(struct nftp *p, const struct ipaddr *a, int d)
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
			struct ipaddr *v = realloc(h->dirty, cap * sizeof(*v));

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

void nftp_hairpin_reset(struct hp *h)
{
	free(h->v);
	free(h->dirty);
	memset(h, 0, sizeof(*h));
}

/* The batch's hairpin set changes: an address now used and not before
 * is added, one no longer used deleted (in messages of up to 256). */
void nftp_hairpin_flush(struct nftp *p, struct nftb *b)
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
			uint32_t len = ipaddr_family_len(e->a.family);

			e->dirty = false;
			if (!e->n0 && e->n)
				k = v6;
			else if (e->n0 && !e->n)
				k = 2 + v6;
			if (k >= 0) {
				struct elem *x = &q[k][nq[k]++];

				memset(x, 0, sizeof(*x));
				memcpy(x->key, e->a.bytes, len);
				memcpy(x->key + len, e->a.bytes, len);
				x->key_len = 2 * len;
			}
		}
		for (int j = 0; j < 4; j++) {
			if (nq[j] && (nq[j] == CHUNK || i == h->n_dirty)) {
				nftp_elems(b, j < 2 ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
					 j % 2 ? SET_HAIRPIN6 : SET_HAIRPIN, 0, q[j], nq[j]);
				nq[j] = 0;
			}
		}
	}
	h->n_dirty = 0;
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

static void cip_elem(struct nftb *b, uint16_t type, const struct ipaddr *a)
{
	struct elem e = { .key_len = ipaddr_family_len(a->family) };

	memcpy(e.key, a->bytes, e.key_len);
	nftp_elems(b, type, a->family == AF_INET ? "cluster-ips" : "cluster-ips6", 0, &e, 1);
}

int nftp_cluster_ips_sync(struct nftb *b, const struct proxy_state *prev,
			  const struct proxy_state *next)
{
	_cleanup_free_ struct ipaddr *a = NULL, *z = NULL;
	size_t na, nz, i = 0, j = 0;
	int r;

	r = cluster_ips(prev, &a, &na);
	if (r == 0)
		r = cluster_ips(next, &z, &nz);
	if (r < 0)
		return r;
	while (i < na || j < nz) {
		int c = i == na ? 1 : j == nz ? -1 : ipaddr_cmp(&a[i], &z[j]);

		if (c < 0)
			cip_elem(b, NFT_MSG_DELSETELEM, &a[i++]);
		else if (c > 0)
			cip_elem(b, NFT_MSG_NEWSETELEM, &z[j++]);
		else
			i++, j++;
	}
	return 0;
}
