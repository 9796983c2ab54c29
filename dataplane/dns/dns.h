/* skiff's cluster DNS (a module of skiff-agent): the cluster zone computed
 * from the model store by the Kubernetes DNS specification (schema 1.1.0),
 * answered node-locally over UDP and TCP; every other name forwarded to
 * upstream resolvers through a cache. Messages are parsed and built with
 * ldns; no packet code of our own.
 *
 *   dns_zone_compute(store, cfg)  -> zone (a hash by owner name, pure)
 *   dns_answer(zone, query)       -> response, or "forward upstream"
 *   dns_memo (dns_int.h)          -> the zone's answers kept by question:
 *                                    a repeated UDP query is a copy
 *   dns_server                    -> sockets, upstreams, cache; one fd
 *                                    (epoll) for the agent's poll loop
 *
 * Records (ZONE = cluster.local by default; TTL 5 s, as CoreDNS's
 * kubernetes plugin, also the SOA minimum, so the negative TTL):
 *   SVC.NS.svc.ZONE           A/AAAA ClusterIPs; headless: ready endpoints;
 *                             ExternalName: CNAME, followed by the upstream's
 *                             answer for its target
 *   HOST.SVC.NS.svc.ZONE      A/AAAA of a headless Service's ready endpoint
 *                             (HOST: its hostname, else its dashed address)
 *   _PORT._PROTO.SVC.NS.svc.ZONE  SRV per named port (N x M when headless),
 *                             targets' A/AAAA in the additional section
 *   reverse names             PTR for ClusterIPs and ready endpoints
 *   A-B-C-D.NS.pod.ZONE       A (deprecated but required by the spec)
 *   dns-version.ZONE          TXT "1.1.0";  ZONE: SOA
 * A name in the zone with no record of the type asked is NODATA, a name
 * that does not exist NXDOMAIN, both with the SOA in the authority section.
 */
#ifndef SKIFF_DNS_H
#define SKIFF_DNS_H

#include "lib/kube_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_DEFAULT_ZONE "cluster.local"
#define DNS_DEFAULT_TTL 5 /* CoreDNS kubernetes plugin's default */
#define DNS_SPEC_VERSION "1.1.0"
/* Largest UDP response we send, whatever EDNS0 offers (RFC 9715's 1232
 * would be safer across networks; the node-local path has no MTU issue). */
#define DNS_MAX_UDP 4096
#define DNS_MAX_UPSTREAMS 4
#define DNS_CACHE_DEFAULT_ENTRIES 10000
#define DNS_CACHE_MAX_TTL 3600
#define DNS_UPSTREAM_TRY_MS 1000 /* per upstream try */
#define DNS_UPSTREAM_TIMEOUT_MS 2000 /* then SERVFAIL */

struct dns_zone_config {
	const char *zone; /* NULL: DNS_DEFAULT_ZONE */
	uint32_t ttl;     /* 0: DNS_DEFAULT_TTL */
};

/* ---- the zone: records of the cluster (dns_zone.c) ---- */

struct dns_zone;
/* Computes every record from the store's Services and EndpointSlices. */
int dns_zone_compute(const struct model_store *st, const struct dns_zone_config *cfg,
		     struct dns_zone **out);
/* Recomputes the Services keys ("ns/name", as model_store_take_dirty_of
 * gives them) from the store, in place: only their records change. On
 * error the zone is incomplete: compute it again. */
int dns_zone_update(struct dns_zone *z, const struct model_store *st, char *const *keys, size_t n);
void dns_zone_free(struct dns_zone *z);
/* Every name (with how many records are at or below it) and record, one
 * a line, sorted: for tests. malloc'd; NULL when out of memory. */
char *dns_zone_dump(const struct dns_zone *z);
struct dns_zone_stats {
	size_t n_services, n_names, n_records;
};
void dns_zone_stats(const struct dns_zone *z, struct dns_zone_stats *out);
const char *dns_zone_name(const struct dns_zone *z);

/* ---- answering one query (dns_answer.c) ---- */

enum dns_rcode_counter {
	DNS_C_NOERROR,
	DNS_C_NXDOMAIN,
	DNS_C_SERVFAIL,
	DNS_C_FORMERR,
	DNS_C_REFUSED,
	DNS_C_OTHER, /* NOTIMP, BADVERS */
	DNS_C_COUNT,
};
const char *dns_rcode_counter_name(enum dns_rcode_counter c);
/* The counter of a response code (ldns_pkt_rcode values). */
enum dns_rcode_counter dns_rcode_counter_of(unsigned rcode);

enum dns_verdict {
	DNS_DROP,     /* not even a query header: no answer */
	DNS_REPLY,    /* *out holds the response */
	DNS_FORWARD,  /* ask upstream q->ask (query holds the parsed query) */
};

/* A parsed query: what the reply to it needs. */
struct dns_query {
	void *pkt;          /* ldns_pkt * of the query */
	size_t max_size;    /* largest response the client takes (UDP), or 65535 */
	/* What to ask upstream (ldns_pkt *): the query itself, or for an
	 * ExternalName Service the same type of its target, whose answer
	 * follows cname (ldns_rr *, owned; NULL otherwise) in the reply. */
	void *ask;
	void *cname;
};
void dns_query_clear(struct dns_query *q);

struct dns_reply {
	uint8_t *wire; /* malloc'd */
	size_t len;
	unsigned rcode;
	/* The same bytes answer the same question in any spelling (but its
	 * own, in the question section), id, RD and CD: built without name
	 * compression, not truncated, no record named after the query. */
	bool plain;
};
void dns_reply_clear(struct dns_reply *r);

/* Answers wire (len bytes, as received; tcp: no size limit) from z (NULL:
 * no zone yet, SERVFAIL for its names). DNS_FORWARD leaves the parsed
 * query in *q for the caller (dns_query_clear after); DNS_REPLY fills out. */
enum dns_verdict dns_answer(const struct dns_zone *z, const uint8_t *wire, size_t len, bool tcp,
			    struct dns_query *q, struct dns_reply *out);
/* A response to q with rcode (SERVFAIL, REFUSED) and nothing else. */
int dns_reply_rcode(const struct dns_query *q, unsigned rcode, struct dns_reply *out);
/* Serialises an upstream or cached response (ldns_pkt *resp, to q->ask)
 * for q: its id, its question as the client spelled it, q->cname first,
 * EDNS0 as the client asked, TC with nothing but the question when it
 * does not fit. */
int dns_reply_for(const struct dns_query *q, void *resp, struct dns_reply *out);

/* ---- the upstream cache (dns_cache.c) ---- */

struct dns_cache;
int dns_cache_new(size_t max_entries, struct dns_cache **out);
void dns_cache_free(struct dns_cache *c);
/* Keeps a copy of an upstream response (ldns_pkt *) to q's question for
 * its TTL (negative answers: the SOA's minimum); nothing when uncacheable
 * (SERVFAIL, no TTL, a negative answer without SOA). now in seconds. */
void dns_cache_put(struct dns_cache *c, const void *resp, uint64_t now);
/* The cached response (ldns_pkt *, TTLs aged to now) to the question of
 * query (ldns_pkt *), or NULL. Owned by the cache, valid until the next put. */
void *dns_cache_get(struct dns_cache *c, const void *query, uint64_t now);
size_t dns_cache_count(const struct dns_cache *c);

/* ---- the server (dns_server.c) ---- */

struct dns_server_options {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	struct sockaddr_storage upstreams[DNS_MAX_UPSTREAMS]; /* none: /etc/resolv.conf */
	size_t n_upstreams;
	const char *resolv_conf; /* NULL: /etc/resolv.conf */
	size_t cache_entries;    /* 0: DNS_CACHE_DEFAULT_ENTRIES */
	unsigned timeout_ms;     /* 0: DNS_UPSTREAM_TIMEOUT_MS */
};

struct dns_server;
/* Binds UDP and TCP on o->listen (non-blocking, no threads). */
int dns_server_new(const struct dns_server_options *o, struct dns_server **out);
void dns_server_free(struct dns_server *s);
/* Takes z (freeing the zone it replaces). */
void dns_server_set_zone(struct dns_server *s, struct dns_zone *z);
/* The zone served (NULL: none yet), for dns_zone_update in place. */
struct dns_zone *dns_server_zone(struct dns_server *s);
/* One fd for the caller's poll loop; when readable, dispatch. */
int dns_server_fd(const struct dns_server *s);
/* Serves what is ready (bounded work per call). */
int dns_server_dispatch(struct dns_server *s);
struct dns_server_stats {
	uint64_t responses[DNS_C_COUNT];
	uint64_t dropped, forwarded, cache_hits, upstream_timeouts;
	size_t cache_entries;
};
void dns_server_stats(const struct dns_server *s, struct dns_server_stats *out);
/* The upstreams in use ("10.0.0.2:53, ..."). */
void dns_server_upstreams(const struct dns_server *s, char *buf, size_t size);

/* ---- skiff-agent's consumer (dns_agent.c; logs) ---- */

struct dns_agent_options {
	const char *listen; /* "ADDR:PORT" */
	const char *zone;   /* NULL: DNS_DEFAULT_ZONE */
	const char *const *upstreams; /* "ADDR[:PORT]"; none: /etc/resolv.conf */
	size_t n_upstreams;
	uint32_t ttl; /* 0: DNS_DEFAULT_TTL */
	/* Node-local service (dns_local.c): the dummy device that holds the
	 * listen address (NULL: none, the address exists), the Service
	 * "ns/name" whose ClusterIP this server answers (NULL:
	 * DNS_DEFAULT_SERVICE), this node's name, and whether freeing
	 * removes the device. */
	const char *device;
	const char *service;
	const char *node_name;
	bool remove_device;
};
struct dns_agent;
/* Makes the device (if any), then binds the server. */
int dns_agent_new(const struct dns_agent_options *o, struct dns_agent **out);
/* Puts the node-local EndpointSlice of the cluster DNS Service into st
 * (when the listen address is one pods can reach; logs either way). */
int dns_agent_serve_service(struct dns_agent *a, struct model_store *st);
/* Brings the zone up to st: the Services changed since the last sync
 * (model_store_take_dirty_of MODEL_READER_DNS), or all at first. */
int dns_agent_sync(struct dns_agent *a, struct model_store *st);
int dns_agent_fd(const struct dns_agent *a);
void dns_agent_dispatch(struct dns_agent *a);
/* The server's totals (dns_server_stats). */
void dns_agent_stats(const struct dns_agent *a, struct dns_server_stats *out);
/* Logs the counters and stops serving. NULL-safe. */
void dns_agent_free(struct dns_agent *a);

/* ---- node-local service (dns_local.c) ---- */

#define DNS_DEFAULT_SERVICE "kube-system/kube-dns"
#define DNS_LOCAL_ORIGIN "node-local DNS" /* its slice's origin in the store */
/* Not loopback nor unspecified: an address another namespace can route to. */
bool dns_local_reachable(const struct sockaddr_storage *listen);
/* The EndpointSlice "NAME-node-local" of service ("ns/name") with one
 * ready endpoint on node: listen, its ports "dns" (UDP) and "dns-tcp"
 * (TCP) at listen's port. */
int dns_local_slice(const char *service, const char *node, const struct sockaddr_storage *listen,
		    struct model_slice **out);
/* The device name (a dummy, or where the kernel has none an empty
 * bridge), up, holding listen's address (/32 or /128). */
int dns_local_device(const char *name, const struct sockaddr_storage *listen);
int dns_local_device_remove(const char *name);

/* "ADDR:PORT", "[V6]:PORT" or "ADDR" (port def_port). -EINVAL otherwise. */
int dns_sockaddr_parse(const char *s, uint16_t def_port, struct sockaddr_storage *out,
		       socklen_t *len);

#endif
