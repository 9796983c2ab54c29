/* The nftables proxy's hairpin counts (dataplane/nft_proxy_sets.c): batch
 * after batch of random references taken and dropped, over IPv4 and IPv6
 * addresses and through the tables' growth mid-batch, each batch's
 * element messages (parsed back from the batch buffer, never sent) add
 * exactly the addresses that became used and delete those no longer
 * used; a reset then references from nothing counts the distinct
 * addresses. The reference is a plain array of counts. */
#include "tests/harness/test.h"

#include "dataplane/nft_proxy_int.h"
#include "lib/inet.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

enum { N_ADDRS = 6000 };

struct model {
	int refs[N_ADDRS];
	bool in_set[N_ADDRS];
	int bad; /* elements that were no transition of the model */
};

/* Address i: every third IPv6, the others IPv4. */
static struct ipaddr addr_of(int i)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	if (i % 3 == 2) {
		a.family = AF_INET6;
		a.bytes[0] = 0xfd;
		a.bytes[14] = (uint8_t)(i >> 8);
		a.bytes[15] = (uint8_t)i;
	} else {
		a.family = AF_INET;
		a.bytes[0] = 10;
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
	}
	return a;
}

/* The address whose a . a is the key k of len bytes, or -1. */
static int addr_index(const uint8_t *k, size_t len)
{
	int i = len == 32 ? k[14] << 8 | k[15] : len == 8 ? k[2] << 8 | k[3] : -1;
	struct ipaddr a;
	size_t l;

	if (i < 0 || i >= N_ADDRS)
		return -1;
	a = addr_of(i);
	l = ipaddr_family_len(a.family);
	return 2 * l == len && !memcmp(k, a.bytes, l) && !memcmp(k + l, a.bytes, l) ? i : -1;
}

/* One element of a NEWSETELEM (add) or DELSETELEM message, applied. */
static void apply_elem(struct model *m, const struct nlattr *elem, bool add)
{
	const struct nlattr *k, *v;

	mnl_attr_for_each_nested(k, elem) {
		if (mnl_attr_get_type(k) != NFTA_SET_ELEM_KEY)
			continue;
		mnl_attr_for_each_nested(v, k) {
			int i = addr_index(mnl_attr_get_payload(v), mnl_attr_get_payload_len(v));

			if (i < 0 || m->in_set[i] == add)
				m->bad++;
			else
				m->in_set[i] = add;
		}
	}
}

/* The batch's element messages applied to m->in_set. */
static void apply_batch(struct model *m, const struct nftb *b)
{
	for (size_t off = 0; off < b->len;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(b->buf + off);
		unsigned t = NFNL_MSG_TYPE(nlh->nlmsg_type);
		const struct nlattr *a, *e;

		off += NLMSG_ALIGN(nlh->nlmsg_len);
		if (t != NFT_MSG_NEWSETELEM && t != NFT_MSG_DELSETELEM)
			continue;
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
				mnl_attr_for_each_nested(e, a)
					apply_elem(m, e, t == NFT_MSG_NEWSETELEM);
	}
}

static void ref(struct nftp *p, struct model *m, int i, int d)
{
	struct ipaddr a = addr_of(i);

	m->refs[i] += d;
	nftp_hairpin_ref(p, &a, d);
}

TEST(hairpin_elements_follow_the_references)
{
	static struct model m;
	struct nftp p;
	struct nftb_sock *s = NULL;

	memset(&p, 0, sizeof(p));
	CHECK_OK(nftb_sock_open(&s));
	srand(15);
	for (int round = 0; round < 300; round++) {
		/* Large batches over all addresses, small ones over a few. */
		int n = rand() % 3 ? rand() % 40 : rand() % 20000;
		int range = round % 40 < 20 ? N_ADDRS : 200;
		uint32_t want[2] = { 0, 0 };
		struct nftb b;

		nftb_begin(&b, s, "t");
		for (int k = 0; k < n; k++) {
			int i = rand() % range;

			if (rand() % 2)
				ref(&p, &m, i, 1);
			else if (m.refs[i])
				ref(&p, &m, i, -1);
		}
		nftp_hairpin_flush(&p, &b);
		CHECK_INT_EQ(b.err, 0);
		apply_batch(&m, &b);
		nftb_free(&b);
		CHECK_INT_EQ(m.bad, 0);
		for (int i = 0; i < N_ADDRS; i++) {
			CHECK_INT_EQ(m.in_set[i], m.refs[i] > 0);
			want[addr_of(i).family == AF_INET6] += m.refs[i] > 0;
		}
		CHECK_INT_EQ(p.hp.n_elems[0], want[0]);
		CHECK_INT_EQ(p.hp.n_elems[1], want[1]);
	}
	nftp_hairpin_reset(&p.hp);
	nftb_sock_free(s);
}

TEST(hairpin_count_from_nothing_is_the_distinct_addresses)
{
	struct nftp p;
	uint32_t got[2];

	memset(&p, 0, sizeof(p));
	/* 3,000 addresses, each referenced 1-3 times: the tables grow. */
	for (int i = 0; i < 3000; i++)
		for (int k = 0; k <= i % 3; k++) {
			struct ipaddr a = addr_of(i);

			nftp_hairpin_ref(&p, &a, 1);
		}
	nftp_hairpin_count(&p.hp, got);
	CHECK_INT_EQ(got[0], 2000);
	CHECK_INT_EQ(got[1], 1000);
	nftp_hairpin_reset(&p.hp);
}
