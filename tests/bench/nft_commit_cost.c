/* nft-commit-cost: what one nf_tables commit costs in a table that is
 * already there, by kind of change (issue 4, the 10 ms goal). Each case is
 * one batch (begin, the messages, end) sent and acked, then undone by a
 * second batch; the median of --reps runs is printed, in ms, as a
 * markdown table. Run it inside a network namespace holding the table.
 *
 *   nft-commit-cost --table NAME [--vmap MAP] [--jump-to CHAIN]
 *                   [--set SET] [--reps N]
 *
 * Cases:
 *   chain, counter rule  a new regular chain with one `counter` rule
 *   chain, dnat rule     a new chain with `dnat ip to 10.99.0.1:80`
 *   chain, jump rule     a new chain with `jump CHAIN` (--jump-to)
 *   vmap goto element    an element of MAP (addr . proto . port : verdict)
 *                        `goto CHAIN` to an existing chain
 *   set element          an element of SET (ipv4_addr)
 *
 * Built by make test-bins (build/tests/nft-commit-cost); run by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct mnl_socket *nl;
static uint32_t seq = 1;
static const char *table = "skiff-proxy";

struct batch {
	char buf[1 << 16];
	size_t len;
};

static struct nlmsghdr *msg(struct batch *b, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
						   flags | NLM_F_ACK, seq++);
	return h;
}

static void done(struct batch *b, struct nlmsghdr *h)
{
	b->len += NLMSG_ALIGN(h->nlmsg_len);
}

static void begin(struct batch *b)
{
	b->len = 0;
	done(b, nftnl_batch_begin(b->buf, seq++));
}

static int send_batch(struct batch *b)
{
	char rbuf[1 << 16];
	uint32_t last;
	int err = 0;

	done(b, nftnl_batch_end(b->buf + b->len, seq++));
	last = seq - 2;
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		struct nlmsghdr *h;
		bool end = false;

		if (n < 0)
			return -errno;
		for (h = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (e->error && !err)
					err = e->error;
				if (h->nlmsg_seq >= last || e->error)
					end = true;
			}
		}
		if (end)
			return err;
	}
}

static void chain_msg(struct batch *b, uint16_t type, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *h;

	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	h = msg(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0);
	nftnl_chain_nlmsg_build_payload(h, c);
	done(b, h);
	nftnl_chain_free(c);
}

enum rkind { R_COUNTER, R_DNAT, R_JUMP };

static void rule_msg(struct batch *b, const char *chain, enum rkind k, const char *target)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	struct nlmsghdr *h;
	uint32_t a = htonl(0x0a630001);
	uint16_t port = htons(80);

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	switch (k) {
	case R_COUNTER:
		nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
		break;
	case R_DNAT:
		e = nftnl_expr_alloc("immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &a, 4);
		nftnl_rule_add_expr(r, e);
		e = nftnl_expr_alloc("immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_2);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &port, 2);
		nftnl_rule_add_expr(r, e);
		e = nftnl_expr_alloc("nat");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
		nftnl_rule_add_expr(r, e);
		break;
	case R_JUMP:
		e = nftnl_expr_alloc("immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, target);
		nftnl_rule_add_expr(r, e);
		break;
	}
	h = msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	nftnl_rule_nlmsg_build_payload(h, r);
	done(b, h);
	nftnl_rule_free(r);
}

/* key: 10.99.0.1 . tcp . 80 (vmap) or 10.99.0.1 (set). */
static void elem_msg(struct batch *b, uint16_t type, const char *set, bool vmap, const char *target)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();
	uint8_t key[12] = { 10, 99, 0, 1, IPPROTO_TCP, 0, 0, 0, 0, 80, 0, 0 };
	struct nlmsghdr *h;

	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, vmap ? 12 : 4);
	if (vmap && type == NFT_MSG_NEWSETELEM) {
		nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
		nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, target);
	}
	nftnl_set_elem_add(s, el);
	h = msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	nftnl_set_elems_nlmsg_build_payload(h, s);
	done(b, h);
	nftnl_set_free(s);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum kase { C_COUNTER, C_DNAT, C_JUMP, C_VMAP, C_SET, C_N };
static const char *const case_name[C_N] = {
	"new chain, counter rule", "new chain, dnat rule",
	"new chain, jump rule", "vmap element, goto chain", "set element (no verdict)",
};

static const char *vmap = "service-ips", *jump_to = "mark-for-masquerade", *set = "cluster-ips";

static int run(enum kase k, double *add_ms, double *del_ms)
{
	static struct batch b;
	const char *ch = "h6-exp";
	double t;
	int r;

	begin(&b);
	switch (k) {
	case C_COUNTER:
	case C_DNAT:
	case C_JUMP:
		chain_msg(&b, NFT_MSG_NEWCHAIN, ch);
		rule_msg(&b, ch, k == C_COUNTER ? R_COUNTER : k == C_DNAT ? R_DNAT : R_JUMP, jump_to);
		break;
	case C_VMAP:
		elem_msg(&b, NFT_MSG_NEWSETELEM, vmap, true, jump_to);
		break;
	case C_SET:
		elem_msg(&b, NFT_MSG_NEWSETELEM, set, false, NULL);
		break;
	default:
		break;
	}
	t = now_ms();
	r = send_batch(&b);
	*add_ms = now_ms() - t;
	if (r)
		return r;
	begin(&b);
	if (k == C_COUNTER || k == C_DNAT || k == C_JUMP) {
		/* a chain with rules: flush it, then delete */
		struct nftnl_rule *rr = nftnl_rule_alloc();
		struct nlmsghdr *h;

		nftnl_rule_set_str(rr, NFTNL_RULE_TABLE, table);
		nftnl_rule_set_str(rr, NFTNL_RULE_CHAIN, ch);
		nftnl_rule_set_u32(rr, NFTNL_RULE_FAMILY, NFPROTO_INET);
		h = msg(&b, NFT_MSG_DELRULE, 0);
		nftnl_rule_nlmsg_build_payload(h, rr);
		done(&b, h);
		nftnl_rule_free(rr);
		chain_msg(&b, NFT_MSG_DELCHAIN, ch);
	} else if (k == C_VMAP) {
		elem_msg(&b, NFT_MSG_DELSETELEM, vmap, true, NULL);
	} else if (k == C_SET) {
		elem_msg(&b, NFT_MSG_DELSETELEM, set, false, NULL);
	}
	t = now_ms();
	r = send_batch(&b);
	*del_ms = now_ms() - t;
	return r;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "table", 1, 0, 't' }, { "vmap", 1, 0, 'm' }, { "jump-to", 1, 0, 'j' },
		{ "set", 1, 0, 's' },	{ "reps", 1, 0, 'r' }, { "help", 0, 0, 'h' },
		{ 0 },
	};
	int reps = 5, c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't': table = optarg; break;
		case 'm': vmap = optarg; break;
		case 'j': jump_to = optarg; break;
		case 's': set = optarg; break;
		case 'r': reps = atoi(optarg); break;
		case 'h':
			printf("Usage: nft-commit-cost --table NAME [--vmap MAP] [--jump-to CHAIN] [--set SET] [--reps N]\n"
			       "Times one nf_tables commit per kind of change in an existing inet table\n"
			       "(median of N, ms). Run inside a network namespace holding the table.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (reps < 1 || reps > 1000) {
		fprintf(stderr, "--reps: expected 1 to 1000\n");
		return 2;
	}
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("netlink");
		return 1;
	}
	printf("| change (table %s) | commit ms (median of %d) | undo ms |\n|---|---:|---:|\n", table, reps);
	for (int k = 0; k < C_N; k++) {
		double a[1000], d[1000];

		for (int i = 0; i < reps; i++) {
			int r = run((enum kase)k, &a[i], &d[i]);

			if (r) {
				fprintf(stderr, "%s: %s\n", case_name[k], strerror(-r));
				return 1;
			}
		}
		qsort(a, (size_t)reps, sizeof(double), dcmp);
		qsort(d, (size_t)reps, sizeof(double), dcmp);
		printf("| %s | %.2f | %.2f |\n", case_name[k], a[reps / 2], d[reps / 2]);
	}
	mnl_socket_close(nl);
	return 0;
}
