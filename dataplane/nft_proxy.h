/* The nftables proxy mode: applies the service proxy's desired state
 * (proxy.h) to one nftables table of skiff's own, laid out like
 * kube-proxy's nftables mode (KEP-3866):
 *
 *   table inet skiff-proxy
 *     map service-ips{,6}        daddr . l4proto . dport : goto <frontend chain>
 *     map service-nodeports{,6}  l4proto . dport : goto ...  (NodePort on every
 *                                local address, when no node address is given)
 *     map no-endpoint-services{,6}, no-endpoint-nodeports{,6}: goto reject-chain
 *     set cluster-ips{,6}        ClusterIPs: unknown ports are refused
 *     set hairpin{,6}            addr . addr of every endpoint: postrouting
 *                                masquerades a connection DNATed to its own
 *                                source (kube-proxy marks it in the endpoint
 *                                chain; the effect is the same)
 *     chain <kind>-<ns/name:port>-<proto>-<addr>:<port>  the frontend:
 *                                masquerade mark (set inline; not for a
 *                                ClusterIP: postrouting marks a connection
 *                                DNATed from a ClusterIP, from outside the
 *                                cluster CIDR, in one rule), then without
 *                                affinity: dnat to numgen random mod N
 *                                offset B map @endpoints-<g> (no endpoint
 *                                chains);
 *                                with ClientIP affinity: affinity lookups,
 *                                numgen random mod N vmap { i : goto ep-... }
 *     map endpoints{,6}-<g>     B + i : addr . port, the endpoints of the
 *                                frontends (no affinity) whose keys B ..
 *                                B + N - 1 are in group g (256 keys a map)
 *     chain ep-<frontend>-<backend addr>:<port>  (affinity only) affinity
 *                                update, dnat
 *     set aff-<frontend>-<backend>  source addresses with a timeout (ClientIP)
 *
 * Shards: with more than 1,024 frontends (counted at a full rebuild) the
 * services are spread over tables <table>-s1 .. -s15 (one per 1,024
 * frontends, a service's frontends together, by a hash of "ns/name"):
 * each has its own nat-prerouting/nat-output chains, services chain and
 * service-ips/nodeports maps; the main table keeps the rest (no-endpoint
 * maps, cluster-ips, hairpin, masquerading, filter chains) and shard 0's
 * services. The kernel validates only the tables a commit touched, so a
 * service add walks ~1,000 services at most. Up to 1,024 frontends there
 * is one table, as above. The table name is at most 250 characters.
 *
 * Sizes: cluster-ips, hairpin and the service maps are created with a
 * size (half again their elements at the full rebuild, +256), which gives
 * them a hash table of that size from the start; a change that would pass
 * a size is made as a full rebuild.
 *
 * Why so few chains: a commit that adds a rule with a jump, goto, lookup
 * or nat (any service add) makes the kernel validate the whole table,
 * walking every chain reachable from each base chain; every chain also
 * costs each commit. Endpoint chains for every service made one service
 * add at 10,000 services cost ~150 ms; see tests/bench/nft_commit_cost.c.
 *
 *   nftp_open(&opts, &p);
 *   nftp_apply(p, next);     // takes next; one atomic, acked batch
 *   nftp_apply_services(p, keys, n, part);  // only the services keys[]
 *   nftp_free(p);            // the table stays (nftp_destroy removes it)
 *
 * The first apply replaces the whole table in one batch (so a restarted
 * agent never leaves a gap); later ones change only the map elements,
 * chains and sets of frontends that changed. UDP conntrack entries whose
 * reply comes from a removed backend are deleted after the batch.
 */
#ifndef SKIFF_NFT_PROXY_H
#define SKIFF_NFT_PROXY_H

#include "dataplane/proxy.h"

#define NFTP_DEFAULT_TABLE "skiff-proxy"
/* The packet mark bit that asks postrouting to masquerade (kube-proxy's). */
#define NFTP_MASQ_MARK 0x4000u

struct nftp_options {
	const char *table; /* NULL: NFTP_DEFAULT_TABLE */
	/* ClusterIP traffic from outside these (one per family at most) is
	 * masqueraded, as kube-proxy's --cluster-cidr does. */
	const struct ipcidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	bool masquerade_all; /* every serviced connection is masqueraded */
	/* Called after every batch the kernel took, with its changes (for
	 * the first, every frontend is new) and the new state of at least
	 * the services they belong to: for log lines. */
	void (*on_changes)(const struct proxy_state *now, const struct proxy_changes *c, void *ud);
	void *ud;
};

struct nftp;

int nftp_open(const struct nftp_options *o, struct nftp **out);
void nftp_free(struct nftp *p);

/* Applies next (ownership taken, also on failure) in one atomic batch.
 * Returns 0 or a negative errno; after a failure the next apply rebuilds
 * the whole table. */
int nftp_apply(struct nftp *p, struct proxy_state *next);
/* Applies the new state part of the services keys[] ("ns/name", sorted,
 * as proxy_compute_services leaves them) only: the cost of a change grows
 * with what changed, not with the number of services. part is taken.
 * -EAGAIN when only nftp_apply can do it (nothing applied yet, services
 * conflict over a frontend, or a set would pass its size); otherwise as
 * nftp_apply. */
int nftp_apply_services(struct nftp *p, char *const *keys, size_t n, struct proxy_state *part);
/* The state last applied (NULL before the first apply). */
const struct proxy_state *nftp_applied(const struct nftp *p);
/* Removes the table (0 when it was not there). */
int nftp_destroy(struct nftp *p);
/* Removes a table by name, e.g. the other proxy mode's leftovers. */
int nftp_delete_table(const char *table);

/* Deletes the UDP conntrack entries whose reply source is addr:port (the
 * flows a removed endpoint served). Returns how many were deleted. */
int nftp_conntrack_delete_udp(const struct ipaddr *addr, uint16_t port);

/* Counters of the last apply, for logs and benchmarks. */
struct nftp_stats {
	size_t n_msgs;     /* netlink messages in the batch */
	size_t n_bytes;    /* its size */
	bool full;         /* the whole table was rebuilt */
	size_t n_ct_deleted;
	char failed[320]; /* after a refused batch: the message, e.g. "add chain ..." */
};
void nftp_last_stats(const struct nftp *p, struct nftp_stats *out);

/* The nftables mode for proxy_mode_sync (m: a struct nftp). */
extern const struct proxy_mode_ops nftp_mode_ops;

#endif
