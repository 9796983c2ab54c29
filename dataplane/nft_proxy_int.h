/* What the files of the nftables proxy mode share (nft_proxy.c the mode,
 * nft_proxy_rules.c chains and rules, nft_proxy_sets.c sets and maps,
 * nft_proxy_ct.c conntrack); not for other modules. */
#ifndef SKIFF_NFT_PROXY_INT_H
#define SKIFF_NFT_PROXY_INT_H

#include "dataplane/nft_batch.h"
#include "dataplane/nft_proxy.h"

#include <stdbool.h>
#include <stdint.h>

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
#define MAP_EPS "endpoints"
#define MAP_EPS6 "endpoints6"

/* Hairpin: the endpoint addresses of all frontends, counted, for the
 * sets hairpin{,6} (a . a: a connection DNATed to its own source). One
 * open-addressing table per family, of slots of the address and a word
 * of count and flags (HP_* in nft_proxy_sets.c): 8 bytes for IPv4, at
 * most 3/4 full (100,000 addresses: 2 MiB; struct ipaddr slots with a
 * count before and after, at most half full, were 8 MiB). */
struct hp_tab {
	uint8_t *v; /* cap slots */
	size_t cap, used;
	uint32_t *dirty; /* the slots this batch changed, in order */
	size_t n_dirty, cap_dirty;
};

struct hp {
	struct hp_tab t[2]; /* [IPv6] */
	uint32_t n_elems[2]; /* in the sets hairpin, hairpin6 */
	int err;
};

/* Endpoint ranges: a frontend without affinity owns the keys base ..
 * base + n - 1 of a map endpoints{,6}-<g> of its table (g = the group of
 * base: NFTP_EPS_GROUP keys each; its rule: dnat to numgen random mod n
 * offset base map @endpoints-<g>). Few maps, of a few frontends each: a
 * set per frontend made every set added or looked up by name walk the
 * table's thousand sets (10,000 services: ~60% of a full sync), and one
 * map for all made the kernel check every element added against every
 * rule that looks it up (and each new such rule against every element). */
struct eps_range {
	struct proxy_fe_key key;
	uint32_t base, n; /* n 0: freed (the slot stays for the probe chain) */
	uint8_t shard;
	bool used;
};

#define NFTP_EPS_GROUP 256u
/* Ranges of up to this many keys are reused once freed; longer ones are
 * not (the key space is 2^32; a full rebuild starts it over). */
#define NFTP_EPS_REUSE 64

/* One table's keys of one family. */
struct eps_pool {
	uint32_t next;   /* keys from here on were never handed out */
	uint32_t n_maps; /* the maps of groups 0 .. n_maps - 1 are there */
	struct eps_free {
		uint32_t *base;
		size_t n, cap;
	} free[NFTP_EPS_REUSE + 1]; /* by length */
};

struct eps_ranges {
	struct eps_range *v; /* by frontend key */
	size_t cap, used;
	struct eps_pool pool[NFTP_MAX_SHARDS][2]; /* [shard][IPv6] */
};

/* Added elements queued across frontends (nft_proxy_sets.c): a full sync
 * wrote a message per frontend for its endpoints and one for its service
 * map element. */
#define NFTP_PEND_SLOTS 6
struct nftp_pend;

/* The sets with many elements get their size when created (a full
 * sync): the kernel then gives them a hash table of that size, where an
 * unsized set's table grew by rehashing, element by element (10,000
 * services: ~15% of a full sync in rhashtable_insert_slow). A size is
 * also the set's limit: a change that would pass one is made as a full
 * sync, which sizes the sets anew (nftp_sizes_plan). */
enum { NFTP_SVC_MAPS = 4 }; /* service-ips{,6}, service-nodeports{,6} */

struct nftp_sizes {
	uint32_t hairpin[2], cluster_ips[2]; /* [IPv6] */
	uint32_t svc[NFTP_MAX_SHARDS][NFTP_SVC_MAPS];
};

struct nftp {
	char *table;
	struct hp hp;
	struct eps_ranges eps;
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
	struct nftp_sizes size;  /* the sets' sizes, from the last full sync */
	struct nftp_sizes count; /* their elements now (hairpin: hp.n_elems) */
	/* Backends a change made as a full sync removed: their UDP conntrack
	 * entries go after it. */
	struct proxy_removed *ct_pending;
	size_t n_ct_pending;
	struct ipcidr cidr4, cidr6;
	bool have_cidr4, have_cidr6;
	bool masquerade_all;
	struct nftb_sock *sock; /* the batches' socket, open across syncs */
	/* During a batch: elements to add, per shard, in up to
	 * NFTP_PEND_SLOTS sets each (nftp_elem_queue, nftp_elems_flush). */
	struct nftp_pend *pend[NFTP_MAX_SHARDS][NFTP_PEND_SLOTS];
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
	uint32_t size; /* at most this many elements (0: no limit) */
};

/* One element: key, and for a verdict map a goto to chain. */
struct elem {
	uint8_t key[40];
	uint32_t key_len;
	const char *chain; /* NULL: a plain set element (or data below) */
	uint8_t data[20];
	uint32_t data_len; /* a data map's value */
};

/* nft_proxy_sets.c */
uint32_t nftp_set_add(struct nftb *b, const struct setdef *d);
void nftp_set_del(struct nftb *b, const char *name);
void nftp_elems(struct nftb *b, uint16_t type, const char *set, uint32_t set_id,
		const struct elem *e, size_t n);
void nftp_elem_queue(struct nftp *p, struct nftb *b, unsigned shard, const char *set,
		     const struct elem *e, size_t n);
void nftp_elems_flush(struct nftp *p, struct nftb *b);
void nftp_hairpin_ref(struct nftp *p, const struct ipaddr *a, int d);
void nftp_hairpin_reset(struct hp *h);
void nftp_hairpin_flush(struct nftp *p, struct nftb *b);
int nftp_cluster_ips_sync(struct nftp *p, struct nftb *b, const struct proxy_state *prev,
			  const struct proxy_state *now);
uint32_t nftp_size_for(uint32_t n);
int nftp_cluster_ips_count(const struct proxy_state *s, uint32_t out[2]);
void nftp_hairpin_count(const struct hp *h, uint32_t out[2]);

void nftp_eps_map_name(const struct proxy_fe_key *k, uint32_t base, char *buf, size_t size);
int nftp_eps_alloc(struct nftb *b, struct eps_ranges *r, const struct proxy_fe_key *k,
		   unsigned shard, uint32_t n, uint32_t *base);
const struct eps_range *nftp_eps_find(const struct eps_ranges *r, const struct proxy_fe_key *k);
void nftp_eps_free(struct eps_ranges *r, const struct proxy_fe_key *k);
void nftp_eps_reset(struct eps_ranges *r);

/* nft_proxy_rules.c */
/* hairpin false: fe's endpoints were referenced already (nftp_fe_hairpin;
 * a full sync counts them first, to size the sets). */
void nftp_fe_add(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe,
		 bool hairpin);
void nftp_fe_hairpin(struct nftp *p, const struct proxy_frontend *fe, int d);
void nftp_fe_del(struct nftp *p, struct nftb *b, const struct proxy_frontend *fe);
bool nftp_fe_update(struct nftp *p, struct nftb *b, const struct proxy_frontend *was,
		    const struct proxy_frontend *fe);
void nftp_base_add(const struct nftp *p, struct nftb *b, unsigned shard);
int nftp_sizes_plan(struct nftp *p, const struct proxy_state *next);
bool nftp_sizes_passed(const struct nftp *p);

#endif
