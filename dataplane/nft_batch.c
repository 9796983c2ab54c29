/* One atomic nftables batch, built, sent and acked (see nft_batch.h). */
#include "dataplane/nft_batch.h"

#include "lib/inet.h"
#include "lib/util.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

struct nftb_sock {
	struct mnl_socket *nl;
	uint32_t seq;
};

int nftb_sock_open(struct nftb_sock **out)
{
	struct nftb_sock *s = calloc(1, sizeof(*s));
	int sz = 4 << 20, r;

	if (!s)
		return -ENOMEM;
	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->nl) {
		r = -errno;
		free(s);
		return r;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		nftb_sock_free(s);
		return r;
	}
	/* A full rebuild's errors and acks must fit. */
	(void)setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	s->seq = (uint32_t)time(NULL);
	*out = s;
	return 0;
}

void nftb_sock_free(struct nftb_sock *s)
{
	if (!s)
		return;
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s);
}

/* ---- the buffer ---- */

/* The buffer is mapped by itself, not malloc'd: it grows by mremap
 * without a copy, and nftb_free hands it back to the system at once. A
 * full sync's 10 MB from malloc, freed, raised glibc's mmap threshold to
 * their size: later allocations of up to that size then came from the
 * heap and stayed resident after their free. */
static char *reserve(struct nftb *b, size_t need)
{
	if (b->err)
		return NULL;
	if (b->cap - b->len < need) {
		size_t cap = b->cap ? b->cap : 1u << 16;
		void *n;

		while (cap - b->len < need)
			cap *= 2;
		/* Not zeroed: every message is written whole (libmnl pads), and
		 * untouched pages of a full rebuild's buffer stay unused. */
		n = b->buf ? mremap(b->buf, b->cap, cap, MREMAP_MAYMOVE)
			   : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (n == MAP_FAILED) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->buf = n;
		b->cap = cap;
	}
	return b->buf + b->len;
}

void nftb_begin(struct nftb *b, struct nftb_sock *s, const char *table)
{
	struct nlmsghdr *nlh;
	char *at;

	memset(b, 0, sizeof(*b));
	b->table = table;
	b->seq = s->seq;
	b->first_seq = b->seq;
	at = reserve(b, 64);
	if (!at)
		return;
	nlh = nftnl_batch_begin(at, b->seq++);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

struct nlmsghdr *nftb_msg(struct nftb *b, uint16_t type, uint16_t flags, size_t need)
{
	char *at = reserve(b, need + 256);

	if (!at)
		return NULL;
	b->n_msgs++;
	return nftnl_nlmsg_build_hdr(at, type, NFPROTO_INET, flags, b->seq++);
}

void nftb_done(struct nftb *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

void nftb_free(struct nftb *b)
{
	if (b->buf)
		munmap(b->buf, b->cap);
	b->buf = NULL;
	b->len = b->cap = 0;
}

/* ---- naming a refused message ---- */

static const struct msg_name {
	const char *verb;
	uint16_t name_attr; /* the object's name; the table is attribute 1 */
	const char *what;
} msg_names[NFT_MSG_MAX] = {
	[NFT_MSG_NEWTABLE] = { "add", NFTA_TABLE_NAME, NULL },
	[NFT_MSG_DELTABLE] = { "delete", NFTA_TABLE_NAME, NULL },
	[NFT_MSG_NEWCHAIN] = { "add", NFTA_CHAIN_NAME, "chain" },
	[NFT_MSG_DELCHAIN] = { "delete", NFTA_CHAIN_NAME, "chain" },
	[NFT_MSG_NEWRULE] = { "add", NFTA_RULE_CHAIN, "a rule to chain" },
	[NFT_MSG_DELRULE] = { "delete", NFTA_RULE_CHAIN, "a rule of chain" },
	[NFT_MSG_NEWSET] = { "add", NFTA_SET_NAME, "set" },
	[NFT_MSG_DELSET] = { "delete", NFTA_SET_NAME, "set" },
	[NFT_MSG_NEWSETELEM] = { "add", NFTA_SET_ELEM_LIST_SET, "elements to set" },
	[NFT_MSG_DELSETELEM] = { "delete", NFTA_SET_ELEM_LIST_SET, "elements of set" },
};

static const char *str_attr(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	return "?";
}

/* b->failed: what the message of seq (in b's buffer) asked for. */
static void name_failed(struct nftb *b, uint32_t seq)
{
	for (size_t off = 0; off < b->len;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(b->buf + off);
		unsigned t = NFNL_MSG_TYPE(nlh->nlmsg_type);

		off += NLMSG_ALIGN(nlh->nlmsg_len);
		if (nlh->nlmsg_seq != seq)
			continue;
		if (seq == b->first_seq) {
			snprintf(b->failed, sizeof(b->failed), "the batch");
		} else if (t < ARRAY_SIZE(msg_names) && msg_names[t].verb && !msg_names[t].what) {
			snprintf(b->failed, sizeof(b->failed), "%s table inet %s", msg_names[t].verb,
				 str_attr(nlh, msg_names[t].name_attr));
		} else if (t < ARRAY_SIZE(msg_names) && msg_names[t].verb) {
			snprintf(b->failed, sizeof(b->failed), "%s %s %s in table inet %s",
				 msg_names[t].verb, msg_names[t].what,
				 str_attr(nlh, msg_names[t].name_attr), str_attr(nlh, 1));
		} else {
			snprintf(b->failed, sizeof(b->failed), "message type %u", t);
		}
		return;
	}
}

/* ---- sending ---- */

/* Reads acks until the one of last (or the timeout). The first error of
 * this batch wins; replies to earlier batches (a timed-out one) are
 * skipped by their sequence number. */
static int read_acks(struct nftb_sock *s, struct nftb *b, uint32_t last)
{
	char rbuf[MNL_SOCKET_BUFFER_SIZE * 4];
	int fd = mnl_socket_get_fd(s->nl), err = 0;
	unsigned long long deadline = now_ns() + NFTB_ACK_TIMEOUT_MS * 1000000ULL;

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		unsigned long long now = now_ns();
		/* After an error the kernel may stop answering: wait a little. */
		int ms = err ? 100 : now < deadline ? (int)((deadline - now) / 1000000ULL) + 1 : 0;
		int pr = poll(&pf, 1, ms);
		struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return err ? err : -ETIMEDOUT;
		n = mnl_socket_recvfrom(s->nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return -errno;
		len = (int)n;
		for (nlh = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq - b->first_seq > last - b->first_seq)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error && !err) {
				err = e->error < 0 ? e->error : -e->error;
				name_failed(b, nlh->nlmsg_seq);
			}
			if (nlh->nlmsg_seq == last)
				return err;
		}
	}
}

int nftb_send(struct nftb_sock *s, struct nftb *b)
{
	uint32_t last = b->seq - 1;
	struct nlmsghdr *nlh;
	char *at;
	int sz;

	/* An ack for the last message only: errors come anyway. */
	for (size_t off = 0; off < b->len;) {
		nlh = (struct nlmsghdr *)(b->buf + off);
		if (nlh->nlmsg_seq == last)
			nlh->nlmsg_flags |= NLM_F_ACK;
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	at = reserve(b, 64);
	if (!at)
		return b->err;
	nlh = nftnl_batch_end(at, b->seq++);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	s->seq = b->seq;

	sz = (int)(b->len + 65536);
	if (sz < 0)
		return -E2BIG;
	(void)setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	if (mnl_socket_sendto(s->nl, b->buf, b->len) < 0)
		return -errno;
	return read_acks(s, b, last);
}

/* ---- tables and chains ---- */

void nftb_table(struct nftb *b, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = nftb_msg(b, type, flags, 512);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		nftb_done(b, nlh);
	}
	nftnl_table_free(t);
}

void nftb_chain(struct nftb *b, uint16_t type, const char *name, const struct nftb_hook *h)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (h) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, h->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, h->num);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, h->prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nftb_msg(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, 1024);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftb_done(b, nlh);
	}
	nftnl_chain_free(c);
}

/* ---- rules ---- */

bool nftb_rule_start(struct nftb_rule *rb, struct nftb *b, const char *chain)
{
	rb->b = b;
	rb->r = b->err ? NULL : nftnl_rule_alloc();
	if (!rb->r) {
		if (!b->err)
			b->err = -ENOMEM;
		return false;
	}
	nftnl_rule_set_str(rb->r, NFTNL_RULE_TABLE, b->table);
	nftnl_rule_set_str(rb->r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(rb->r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return true;
}

struct nftnl_expr *nftb_rule_expr(struct nftb_rule *rb, const char *kind)
{
	struct nftnl_expr *e = nftnl_expr_alloc(kind);

	if (!e) {
		rb->b->err = -ENOMEM;
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	return e;
}

void nftb_rule_end(struct nftb_rule *rb)
{
	struct nlmsghdr *nlh = nftb_msg(rb->b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, 4096);

	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, rb->r);
		nftb_done(rb->b, nlh);
	}
	nftnl_rule_free(rb->r);
	rb->r = NULL;
}

/* ---- expressions ---- */

void nftb_payload(struct nftb_rule *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

/* meta key loaded into (NFTNL_EXPR_META_DREG) or set from (_SREG) reg. */
static void nftb_meta_reg(struct nftb_rule *rb, uint32_t key, uint16_t which, uint32_t reg)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, which, reg);
}

void nftb_meta(struct nftb_rule *rb, uint32_t key, uint32_t dreg)
{
	nftb_meta_reg(rb, key, NFTNL_EXPR_META_DREG, dreg);
}

void nftb_meta_set(struct nftb_rule *rb, uint32_t key, uint32_t sreg)
{
	nftb_meta_reg(rb, key, NFTNL_EXPR_META_SREG, sreg);
}

void nftb_cmp(struct nftb_rule *rb, uint32_t sreg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

void nftb_bitwise(struct nftb_rule *rb, uint32_t reg, uint32_t len, const void *mask,
		  const void *xor)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "bitwise");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

void nftb_verdict(struct nftb_rule *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

void nftb_imm(struct nftb_rule *rb, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftb_rule_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

void nftb_nfproto(struct nftb_rule *rb, int family)
{
	uint8_t p = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	nftb_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	nftb_cmp(rb, NFT_REG_1, NFT_CMP_EQ, &p, 1);
}

void nftb_saddr(struct nftb_rule *rb, int family, uint32_t dreg)
{
	nftb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, family == AF_INET ? 12 : 8,
		     (uint32_t)ipaddr_family_len(family), dreg);
}

void nftb_daddr(struct nftb_rule *rb, int family, uint32_t dreg)
{
	nftb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, family == AF_INET ? 16 : 24,
		     (uint32_t)ipaddr_family_len(family), dreg);
}

void nftb_prefix_cmp(struct nftb_rule *rb, uint32_t reg, uint32_t op, const void *addr,
		     uint32_t len, unsigned prefix)
{
	uint8_t mask[16] = { 0 }, zero[16] = { 0 }, net[16] = { 0 };

	if (len > sizeof(net))
		len = sizeof(net);
	for (unsigned i = 0; i < prefix && i < len * 8; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	memcpy(net, addr, len);
	for (unsigned i = 0; i < len; i++)
		net[i] &= mask[i];
	if (prefix < len * 8)
		nftb_bitwise(rb, reg, len, mask, zero);
	nftb_cmp(rb, reg, op, net, len);
}
