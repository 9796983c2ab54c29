/* Inside the etcd backend (control/store_etcd*.c): the store, its Watch
 * streams, and what its two files call in each other.
 *
 *   store_etcd.c        calls with failover; get, list, count, writes,
 *                       compaction, snapshots; open and close
 *   store_etcd_watch.c  Watch streams (feeds), the hub thread that feeds
 *                       the watch window, watches */
#ifndef SKIFF_STORE_ETCD_H
#define SKIFF_STORE_ETCD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/etcd.pb-c.h"
#include "control/store_backend.h"
#include "control/store_ring.h"
#include "lib/grpc.h"

#define ETCD_CALL_TIMEOUT_MS 5000
#define ETCD_TXN_MAX_OPS 100 /* etcd's --max-txn-ops is 128 */
#define ETCD_PAGE 1000
#define ETCD_ROUNDS 4 /* passes over the endpoints before giving up */
#define ETCD_ROUND_PAUSE_MS 300
#define ETCD_CONNS 4 /* concurrent unary calls per endpoint */

#define ETCD_KV "/etcdserverpb.KV/"
#define ETCD_WATCH "/etcdserverpb.Watch/Watch"

/* One Watch stream; see store_etcd_watch.c. */
struct etcd_feed {
	struct etcd_store *s;
	struct grpc_channel *ch;
	struct grpc_stream *stream;
	size_t endpoint;
	char *key;       /* namespaced prefix */
	char *range_end; /* "" + NUL: everything from key on */
	int64_t cursor;  /* last revision received */
};

struct etcd_store {
	struct store base;
	pthread_mutex_t lock; /* guards cur, ch, busy */
	pthread_cond_t conn_cond;
	char **endpoints;
	size_t n_endpoints;
	size_t cur;
	struct grpc_channel **ch; /* ETCD_CONNS per endpoint */
	bool *busy;
	char *ns;
	size_t ns_len;

	/* The watch window and the hub that feeds it (store_etcd_watch.c);
	 * the hub's fields are under ring.lock. */
	struct store_ring ring;
	struct etcd_feed hub;
	bool hub_live; /* the hub's reader thread runs */
	bool hub_stop; /* asks it to end (store closing) */
	int hub_err;
};

static inline struct etcd_store *es(struct store *s)
{
	return (struct etcd_store *)s;
}

static inline ProtobufCBinaryData bin(const char *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)p };
}

/* store_etcd.c */
/* ns + key, as a malloc'd string. */
char *etcd_key(struct etcd_store *s, const char *key);
/* The range [*key, *end) of keys with prefix under the namespace; end is
 * "\0" (all keys from key on) when the prefix has no upper bound. */
int etcd_prefix_range(struct etcd_store *s, const char *prefix, char **key, char **end,
		      size_t *end_len);
int etcd_kv_out(struct etcd_store *s, const Etcdserverpb__KeyValue *kv, struct store_kv *out);
/* Maps an etcd error status to the store's errno vocabulary. */
int etcd_errno(const struct grpc_status *st);
/* Whether a read at revision is still possible: etcd refuses reads below
 * its compaction revision. 1 yes, 0 compacted, negative errno. */
int etcd_readable_at(struct etcd_store *s, int64_t revision);

/* store_etcd_watch.c */
int etcd_watch_open(struct store *store, const char *prefix, int64_t after_revision,
		    struct store_watch **out);
int etcd_watch_next(struct store_watch *base, int timeout_ms, struct store_event **events,
		    size_t *n);
void etcd_watch_close(struct store_watch *base);
int etcd_set_ring_size(struct store *store, size_t events);
/* Ends the hub's reader thread (store closing) and frees its stream. */
void etcd_hub_stop(struct etcd_store *s);

#endif
