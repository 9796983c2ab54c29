/* One atomic nftables batch: netlink messages built with libnftnl into one
 * growing buffer between nftnl_batch_begin and nftnl_batch_end, sent on a
 * socket that stays open across syncs, and acked. The whole batch goes in
 * one sendmsg: the kernel ends a transaction with its message buffer, and
 * aborts one without its end message there (each message acked 0, none
 * applied), so a batch cannot be sent in parts. The nftables proxy mode
 * (nft_proxy.c) and node networking's masquerade table (node_net.c) both
 * write through it.
 *
 *   struct nftb_sock *s;  nftb_sock_open(&s);       // once
 *   struct nftb b;
 *   nftb_begin(&b, s, "skiff-proxy");               // every sync
 *   nftb_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
 *   nftb_chain(&b, NFT_MSG_NEWCHAIN, "postrouting", &hook);
 *   struct nftb_rule rb;
 *   if (nftb_rule_start(&rb, &b, "postrouting")) {
 *           nftb_meta(&rb, NFT_META_NFPROTO, NFT_REG_1); ...
 *           nftb_rule_end(&rb);
 *   }
 *   r = nftb_send(s, &b);     // -errno; b.failed names the failing message
 *   nftb_free(&b);
 *
 * Builders never fail on their own: the first error (-ENOMEM) is kept in
 * b->err and returned by nftb_send, so a batch reads as a list of what it
 * does. Every message is in the inet family.
 */
#ifndef SKIFF_NFT_BATCH_H
#define SKIFF_NFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;
struct nftnl_expr;
struct nftnl_rule;

/* How long nftb_send waits for the kernel's acks. */
#define NFTB_ACK_TIMEOUT_MS 10000

/* A NETLINK_NETFILTER socket and its sequence numbers. */
struct nftb_sock;

int nftb_sock_open(struct nftb_sock **out);
void nftb_sock_free(struct nftb_sock *s);

struct nftb {
	char *buf;
	size_t len, cap;
	uint32_t seq, first_seq;
	uint32_t set_id; /* the last NFTNL_SET_ID handed out */
	size_t n_msgs;   /* messages between begin and end */
	int err;         /* the first builder error */
	const char *table; /* the table the next messages are about */
	/* After nftb_send failed on a message the kernel refused: which one,
	 * e.g. "add chain svc-x in table inet skiff-proxy". */
	char failed[320];
};

/* Starts a batch of messages about table (change b->table to write to
 * another one). */
void nftb_begin(struct nftb *b, struct nftb_sock *s, const char *table);
/* Room for a message of up to need bytes of payload, its header built;
 * NULL after an error. nftb_done counts it in. */
struct nlmsghdr *nftb_msg(struct nftb *b, uint16_t type, uint16_t flags, size_t need);
void nftb_done(struct nftb *b, struct nlmsghdr *nlh);
/* Ends the batch, sends it and reads the acks (at most
 * NFTB_ACK_TIMEOUT_MS). 0, or the first error: a builder's, or the
 * kernel's for a message (named in b->failed), or -ETIMEDOUT. Nothing of
 * a refused batch is applied. */
int nftb_send(struct nftb_sock *s, struct nftb *b);
/* Frees the buffer (b can be begun again). */
void nftb_free(struct nftb *b);

/* NEWTABLE / DELTABLE of b->table. */
void nftb_table(struct nftb *b, uint16_t type, uint16_t flags);

/* A base chain's hook (policy accept). */
struct nftb_hook {
	const char *type; /* "nat", "filter" */
	uint32_t num;     /* NF_INET_* */
	int32_t prio;
};
/* NEWCHAIN / DELCHAIN name in b->table; h NULL: a regular chain. */
void nftb_chain(struct nftb *b, uint16_t type, const char *name, const struct nftb_hook *h);

/* ---- rules, expression by expression ---- */

struct nftb_rule {
	struct nftb *b;
	struct nftnl_rule *r;
};

/* A rule appended to chain of b->table; false after an error (then
 * neither expressions nor nftb_rule_end). */
bool nftb_rule_start(struct nftb_rule *rb, struct nftb *b, const char *chain);
/* A new expression of kind, added to the rule (NULL: out of memory). */
struct nftnl_expr *nftb_rule_expr(struct nftb_rule *rb, const char *kind);
void nftb_rule_end(struct nftb_rule *rb);

void nftb_payload(struct nftb_rule *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg);
void nftb_meta(struct nftb_rule *rb, uint32_t key, uint32_t dreg);
void nftb_meta_set(struct nftb_rule *rb, uint32_t key, uint32_t sreg);
void nftb_cmp(struct nftb_rule *rb, uint32_t sreg, uint32_t op, const void *data, uint32_t len);
/* reg = (reg & mask) ^ xor over len bytes. */
void nftb_bitwise(struct nftb_rule *rb, uint32_t reg, uint32_t len, const void *mask,
		  const void *xor);
/* NFT_ACCEPT, NFT_RETURN, NFT_JUMP/NFT_GOTO chain, ... */
void nftb_verdict(struct nftb_rule *rb, int verdict, const char *chain);
void nftb_imm(struct nftb_rule *rb, uint32_t dreg, const void *data, uint32_t len);

/* meta nfproto ipv4|ipv6 (family AF_INET or AF_INET6). */
void nftb_nfproto(struct nftb_rule *rb, int family);
/* ip/ip6 saddr or daddr into dreg (the family was matched before). */
void nftb_saddr(struct nftb_rule *rb, int family, uint32_t dreg);
void nftb_daddr(struct nftb_rule *rb, int family, uint32_t dreg);
/* reg, holding an address of len bytes, compared (op NFT_CMP_EQ or _NEQ)
 * with the network addr/prefix: masked first when prefix < len * 8. */
void nftb_prefix_cmp(struct nftb_rule *rb, uint32_t reg, uint32_t op, const void *addr,
		     uint32_t len, unsigned prefix);

#endif
