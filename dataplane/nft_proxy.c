/* The nftables proxy mode (see nft_proxy.h for the table layout). */
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

/* The batch's counters (and what the kernel refused) for nftp_last_stats. */
static void batch_done(struct nftp *p, struct nftb *b)
{
	p->stats.n_msgs = b->n_msgs;
	p->stats.n_bytes = b->len;
	memcpy(p->stats.failed, b->failed, sizeof(p->stats.failed));
	nftb_free(b);
}

/* Deletes the UDP conntrack entries of the backends ch removed, and of
 * those a change made as a full sync removed (p->ct_pending). */
static void ct_cleanup(struct nftp *p, const struct proxy_changes *ch)
{
	for (int k = 0; k < 2; k++) {
		const struct proxy_removed *v = k ? p->ct_pending : ch->removed;
		size_t n_v = k ? p->n_ct_pending : ch->n_removed;

		for (size_t i = 0; i < n_v; i++) {
			if (v[i].proto != IPPROTO_UDP)
				continue;
			int n = nftp_conntrack_delete_udp(&v[i].be.addr, v[i].be.port);

			if (n > 0)
				p->stats.n_ct_deleted += (size_t)n;
		}
	}
	free(p->ct_pending);
	p->ct_pending = NULL;
	p->n_ct_pending = 0;
}

/* ch's removed backends, for ct_cleanup after the full sync that makes
 * ch instead (earlier ones still pending are cleaned up now). */
static void ct_defer(struct nftp *p, struct proxy_changes *ch)
{
	if (p->ct_pending)
		ct_cleanup(p, &(struct proxy_changes){ 0 });
	p->ct_pending = ch->removed;
	p->n_ct_pending = ch->n_removed;
	ch->removed = NULL;
	ch->n_removed = 0;
}

/* The batch for the changes ch from old to now: frontends deleted, set
 * (their map elements changed in place when that is all that changed,
 * else replaced: the old chain goes first), and the cluster-ips set. */
static int changes_add(struct nftp *p, struct nftb *b, const struct proxy_state *old,
		       const struct proxy_state *now, const struct proxy_changes *ch)
{
	for (size_t i = 0; i < ch->n_del; i++)
		nftp_fe_del(p, b, ch->del[i]);
	for (size_t i = 0; i < ch->n_set; i++) {
		const struct proxy_frontend *was = proxy_state_find(old, &ch->set[i]->key);

		if (was && nftp_fe_update(p, b, was, ch->set[i]))
			continue;
		if (was)
			nftp_fe_del(p, b, was);
		nftp_fe_add(p, b, ch->set[i], true);
	}
	nftp_elems_flush(p, b);
	nftp_hairpin_flush(p, b);
	return nftp_cluster_ips_sync(p, b, old, now);
}

/* The batch replacing the tables with next: the shards chosen, the sets
 * sized for next. */
static int full_add(struct nftp *p, struct nftb *b, const struct proxy_state *next)
{
	int r;

	p->n_shards = (unsigned)((next->n_fes + NFTP_SHARD_FES - 1) / NFTP_SHARD_FES);
	if (p->n_shards < 1)
		p->n_shards = 1;
	if (p->n_shards > NFTP_MAX_SHARDS)
		p->n_shards = NFTP_MAX_SHARDS;
	nftp_hairpin_reset(&p->hp);
	nftp_eps_reset(&p->eps);
	for (size_t i = 0; i < next->n_fes; i++)
		if (next->fes[i].n_backends)
			nftp_fe_hairpin(p, &next->fes[i], 1);
	r = nftp_sizes_plan(p, next);
	if (r < 0)
		return r;
	/* Every possible shard of an earlier run goes. */
	for (unsigned k = 0; k < NFTP_MAX_SHARDS; k++) {
		b->table = p->shard_names[k];
		nftb_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftb_table(b, NFT_MSG_DELTABLE, 0);
		if (k < p->n_shards) {
			nftb_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
			nftp_base_add(p, b, k);
		}
	}
	b->table = p->table;
	r = nftp_cluster_ips_sync(p, b, NULL, next);
	for (size_t i = 0; r == 0 && i < next->n_fes; i++)
		nftp_fe_add(p, b, &next->fes[i], false);
	nftp_elems_flush(p, b);
	nftp_hairpin_flush(p, b);
	return r;
}

int nftp_apply(struct nftp *p, struct proxy_state *next)
{
	struct proxy_changes ch = { 0 };
	struct proxy_state *empty = NULL;
	bool full = !p->applied, log_all = full;
	struct nftb b;
	int r = 0;

	nftb_begin(&b, p->sock, p->table);
	if (!full) {
		r = proxy_diff(p->applied, next, NULL, &ch);
		if (r == 0)
			r = changes_add(p, &b, p->applied, next, &ch);
		if (r == 0 && !b.err && nftp_sizes_passed(p)) {
			/* A set would pass its size: all anew, sized for now
			 * (ch stays what the caller hears of). */
			nftb_free(&b);
			nftb_begin(&b, p->sock, p->table);
			full = true;
		}
	}
	if (full)
		r = full_add(p, &b, next);
	/* For the caller's log: everything is new. */
	if (r == 0 && log_all && p->on_changes) {
		r = proxy_state_new_empty(&empty);
		if (r == 0)
			r = proxy_diff(empty, next, NULL, &ch);
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
	if (!log_all)
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
	if (r == 0 && !b.err && nftp_sizes_passed(p)) {
		/* A set would pass its size: the caller syncs all anew. */
		ct_defer(p, &ch);
		r = -EAGAIN;
	}
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
		const struct ipcidr *c = &o->cluster_cidrs[i];

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
	free(p->ct_pending);
	proxy_state_free(p->applied);
	nftp_hairpin_reset(&p->hp);
	nftp_eps_reset(&p->eps);
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

static const struct proxy_state *mode_applied(const void *m)
{
	return nftp_applied(m);
}

static int mode_apply_services(void *m, char **keys, size_t n, struct proxy_state *part)
{
	return nftp_apply_services(m, keys, n, part);
}

static int mode_apply(void *m, struct proxy_state *next)
{
	return nftp_apply(m, next);
}

static void mode_failed(const void *m, char *buf, size_t size)
{
	const struct nftp *p = m;

	if (p->stats.failed[0])
		snprintf(buf, size, "%s: ", p->stats.failed);
}

const struct proxy_mode_ops nftp_mode_ops = {
	.applied = mode_applied,
	.apply_services = mode_apply_services,
	.apply = mode_apply,
	.failed = mode_failed,
};
