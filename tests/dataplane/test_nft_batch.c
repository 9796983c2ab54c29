/* The nftables batch module (dataplane/nft_batch.c) against the kernel, in
 * a network namespace of each test's own: a batch is applied and acked, a
 * refused one applies nothing and names the message the kernel refused,
 * and one socket carries batch after batch. */
#include "tests/harness/test.h"

#include "dataplane/nft_batch.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A fresh network namespace for this (forked) test, or a skip. */
static void own_netns(void)
{
	if (geteuid() != 0)
		SKIP("needs root (a network namespace of its own)");
	if (unshare(CLONE_NEWNET) < 0)
		SKIP("unshare(CLONE_NEWNET): %s", strerror(errno));
}

/* `nft list tables` in this namespace, as one string. */
static void list_tables(char *buf, size_t size)
{
	FILE *f = popen("nft list tables 2>&1", "r");
	size_t n = 0;

	CHECK(f != NULL);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	pclose(f);
}

/* Table t with a nat postrouting chain and one masquerade rule. */
static void build_table(struct nftb *b, const char *chain)
{
	static const struct nftb_hook post = { "nat", NF_INET_POST_ROUTING, 100 };
	struct nftb_rule rb;

	nftb_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	nftb_chain(b, NFT_MSG_NEWCHAIN, "postrouting", &post);
	if (nftb_rule_start(&rb, b, chain)) {
		nftb_nfproto(&rb, AF_INET);
		nftb_rule_expr(&rb, "masq");
		nftb_rule_end(&rb);
	}
}

TEST(batch_applied_and_acked_on_one_socket)
{
	struct nftb_sock *s = NULL;
	struct nftb b;
	char out[4096];

	own_netns();
	CHECK_OK(nftb_sock_open(&s));
	for (int i = 0; i < 3; i++) {
		nftb_begin(&b, s, "nftb-test");
		build_table(&b, "postrouting");
		CHECK_INT_EQ(b.n_msgs, 3);
		CHECK_INT_EQ(nftb_send(s, &b), 0);
		CHECK_STR_EQ(b.failed, "");
		nftb_free(&b);
		nftb_begin(&b, s, "nftb-test");
		nftb_table(&b, NFT_MSG_DELTABLE, 0);
		CHECK_INT_EQ(nftb_send(s, &b), 0);
		nftb_free(&b);
	}
	nftb_begin(&b, s, "nftb-test");
	build_table(&b, "postrouting");
	CHECK_INT_EQ(nftb_send(s, &b), 0);
	nftb_free(&b);
	list_tables(out, sizeof(out));
	CHECK_STR_EQ(out, "table inet nftb-test\n");
	nftb_sock_free(s);
}

TEST(refused_batch_applies_nothing_and_names_the_message)
{
	struct nftb_sock *s = NULL;
	struct nftb b;
	char out[4096];

	own_netns();
	CHECK_OK(nftb_sock_open(&s));
	nftb_begin(&b, s, "nftb-test");
	build_table(&b, "no-such-chain");
	CHECK_INT_EQ(nftb_send(s, &b), -ENOENT);
	CHECK_STR_EQ(b.failed, "add a rule to chain no-such-chain in table inet nftb-test");
	nftb_free(&b);
	list_tables(out, sizeof(out));
	CHECK_STR_EQ(out, "");
	/* The socket still works after a refused batch. */
	nftb_begin(&b, s, "nftb-test");
	nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	CHECK_INT_EQ(nftb_send(s, &b), 0);
	nftb_free(&b);
	list_tables(out, sizeof(out));
	CHECK_STR_EQ(out, "table inet nftb-test\n");
	nftb_sock_free(s);
}
