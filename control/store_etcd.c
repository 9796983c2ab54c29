/* The etcd v3 backend: "etcd://host:port[,host:port...][/namespace]".
 *
 * Every call is gRPC over HTTP/2 (lib/grpc) with protobuf-c messages from
 * control/etcd.proto. Writes are single Txn calls whose compare carries the
 * precondition (absent for create, mod_revision for CAS), so they are
 * atomic in etcd; revisions are etcd's own. An optional namespace is put in
 * front of every key, so several stores (or test runs) share one cluster.
 *
 * Calls: up to ETCD_CONNS at once per endpoint, each on a connection of
 * its own (lib/grpc runs one call at a time per channel). Failover: calls
 * go to one endpoint until it fails at the transport level or answers
 * UNAVAILABLE (no leader, stopping); then the next endpoint is tried, in
 * ETCD_ROUNDS passes over all of them with a pause between passes (for an
 * election to finish). A write whose answer was lost may have been
 * applied: a retried create can then report -EEXIST.
 *
 * Watches share one Watch stream per store (see "Watch" below), resumed on
 * the next endpoint after the last revision seen when its member goes away.
 *
 * Snapshots are logical: every key under the namespace at one revision,
 * written as a SQLite store file (the same format store_snapshot_save
 * writes for SQLite, so a snapshot moves between backends). Restoring into
 * etcd writes the keys again, so they get new revisions. */
#include "control/store_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/etcd.pb-c.h"
#include "grpc.h"
#include "util.h"

#define ETCD_CALL_TIMEOUT_MS 5000
#define ETCD_TXN_MAX_OPS 100 /* etcd's --max-txn-ops is 128 */
#define ETCD_PAGE 1000
#define ETCD_ROUNDS 4 /* passes over the endpoints before giving up */
#define ETCD_ROUND_PAUSE_MS 300
#define ETCD_RING 4096 /* events the watch hub keeps */
#define ETCD_CONNS 4   /* concurrent unary calls per endpoint */

#define ETCD_KV "/etcdserverpb.KV/"
#define ETCD_WATCH "/etcdserverpb.Watch/Watch"

/* One Watch stream; see "Watch" below. */
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

	/* The watch hub (see "Watch" below). */
	pthread_mutex_t hub_lock;
	pthread_cond_t hub_cond;
	struct etcd_feed hub;
	struct store_event *ring;
	size_t ring_cap, ring_head, ring_len;
	uint64_t ring_total; /* events ever pushed */
	int64_t ring_base;   /* the ring holds every event after it */
	size_t watchers;
	bool hub_live; /* the hub's reader thread runs */
	bool hub_stop; /* asks it to end (store closing) */
	int hub_err;
};


static struct etcd_store *es(struct store *s)
{
	return (struct etcd_store *)s;
}

static ProtobufCBinaryData bin(const char *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)p };
}

/* ns + key, as a malloc'd string. */
static char *etcd_key(struct etcd_store *s, const char *key)
{
	char *k;

	if (asprintf(&k, "%s%s", s->ns, key) < 0)
		return NULL;
	return k;
}

/* The range [*key, *end) of keys with prefix under the namespace; end is
 * "\0" (all keys from key on) when the prefix has no upper bound. */
static int etcd_prefix_range(struct etcd_store *s, const char *prefix, char **key, char **end,
			     size_t *end_len)
{
	_cleanup_free_ char *k = etcd_key(s, prefix);
	char *e = NULL;
	int r;

	if (!k)
		return -ENOMEM;
	r = store_prefix_end(k, &e);
	if (r < 0)
		return r;
	if (e) {
		*end_len = strlen(e);
	} else {
		e = calloc(1, 1);
		if (!e)
			return -ENOMEM;
		*end_len = 1;
	}
	*key = TAKE_PTR(k);
	*end = e;
	return 0;
}

static int etcd_kv_out(struct etcd_store *s, const Etcdserverpb__KeyValue *kv,
		       struct store_kv *out)
{
	size_t klen = kv->key.len;
	const char *k = (const char *)kv->key.data;

	if (klen < s->ns_len || (s->ns_len && memcmp(k, s->ns, s->ns_len) != 0))
		return -EPROTO;
	return store_kv_set(out, k + s->ns_len, klen - s->ns_len, kv->value.data, kv->value.len,
			    kv->create_revision, kv->mod_revision);
}

/* Maps an etcd error status to the store's errno vocabulary. */
static int etcd_errno(const struct grpc_status *st)
{
	switch (st->code) {
	case GRPC_OUT_OF_RANGE:
		if (strstr(st->message, "compacted"))
			return -ERANGE;
		return -EINVAL; /* "required revision is a future revision" */
	case GRPC_INVALID_ARGUMENT:
	case GRPC_FAILED_PRECONDITION:
		return -EINVAL;
	case GRPC_RESOURCE_EXHAUSTED:
		return -EFBIG;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/* Whether a failure says "try another member". */
static bool etcd_retryable(int r, const struct grpc_status *st)
{
	if (r == -EREMOTEIO)
		return st->code == GRPC_UNAVAILABLE || st->code == GRPC_DEADLINE_EXCEEDED;
	return r != -ENOMEM && r != -EFBIG && r != -EINVAL;
}

/* Takes a free connection to endpoint ep (waiting while all of its
 * ETCD_CONNS are busy). s->lock held. */
static int etcd_conn_take(struct etcd_store *s, size_t ep, size_t *slot)
{
	for (;;) {
		for (size_t i = ep * ETCD_CONNS; i < (ep + 1) * ETCD_CONNS; i++) {
			if (s->busy[i])
				continue;
			if (!s->ch[i]) {
				int r = grpc_channel_new(s->endpoints[ep], &s->ch[i]);

				if (r < 0)
					return r;
			}
			s->busy[i] = true;
			*slot = i;
			return 0;
		}
		pthread_cond_wait(&s->conn_cond, &s->lock);
	}
}

/* One unary call with failover; up to ETCD_CONNS calls per endpoint run
 * at once, each on a connection of its own. */
static int etcd_call(struct etcd_store *s, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	struct grpc_status st = { 0 };
	int r = -EIO;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(req, buf);
	for (size_t attempt = 0; attempt < ETCD_ROUNDS * s->n_endpoints; attempt++) {
		_cleanup_free_ uint8_t *out = NULL;
		size_t out_len = 0, slot = 0, ep;

		/* Every member refused: give an election time to finish. */
		if (attempt && attempt % s->n_endpoints == 0)
			usleep(ETCD_ROUND_PAUSE_MS * 1000);
		pthread_mutex_lock(&s->lock);
		ep = s->cur;
		r = etcd_conn_take(s, ep, &slot);
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			return r;
		r = grpc_unary(s->ch[slot], method, buf, len, ETCD_CALL_TIMEOUT_MS, &out, &out_len,
			       &st);
		pthread_mutex_lock(&s->lock);
		s->busy[slot] = false;
		pthread_cond_signal(&s->conn_cond);
		if (r != 0 && etcd_retryable(r, &st) && s->cur == ep)
			s->cur = (ep + 1) % s->n_endpoints; /* others follow */
		pthread_mutex_unlock(&s->lock);
		if (r == 0) {
			*resp = protobuf_c_message_unpack(desc, NULL, out_len, out);
			return *resp ? 0 : -EPROTO;
		}
		if (!etcd_retryable(r, &st))
			break;
	}
	if (r == -EREMOTEIO)
		return etcd_errno(&st);
	return r == -ENOMEM || r == -EFBIG || r == -EINVAL ? r : -EIO;
}

static int etcd_range(struct etcd_store *s, Etcdserverpb__RangeRequest *req,
		      Etcdserverpb__RangeResponse **resp)
{
	return etcd_call(s, ETCD_KV "Range", &req->base, &etcdserverpb__range_response__descriptor,
			 (ProtobufCMessage **)resp);
}

static int64_t etcd_revision(struct store *store)
{
	struct etcd_store *s = es(store);
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	_cleanup_free_ char *k = etcd_key(s, "\x01revision-probe");
	int64_t rev;
	int r;

	if (!k)
		return -ENOMEM;
	req.key = bin(k, strlen(k));
	req.count_only = true;
	r = etcd_range(s, &req, &resp);
	if (r < 0)
		return r;
	rev = resp->header ? resp->header->revision : -EPROTO;
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return rev;
}

static int etcd_get(struct store *store, const char *key, struct store_kv *out)
{
	struct etcd_store *s = es(store);
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	_cleanup_free_ char *k = etcd_key(s, key);
	int r;

	if (!k)
		return -ENOMEM;
	req.key = bin(k, strlen(k));
	r = etcd_range(s, &req, &resp);
	if (r < 0)
		return r;
	r = resp->n_kvs ? etcd_kv_out(s, resp->kvs[0], out) : -ENOENT;
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return r;
}

/* Every key in [from, end) (at most limit; 0: all), read in pages of
 * ETCD_PAGE at the first page's revision, so the whole answer is one
 * consistent view however large (a single response is capped in size). */
static int etcd_range_all_at(struct etcd_store *s, const char *from, size_t from_len,
			     const char *end, size_t end_len, size_t limit, int64_t at,
			     struct store_kv **items, size_t *n, int64_t *revision, bool *more)
{
	_cleanup_free_ char *key = malloc(from_len + 1);
	struct store_kv *kvs = NULL;
	size_t cnt = 0, cap = 0, key_len = from_len;
	int64_t rev = at;
	bool left = false;
	int r = 0;

	if (!key)
		return -ENOMEM;
	memcpy(key, from, from_len);
	for (;;) {
		Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
		Etcdserverpb__RangeResponse *resp = NULL;
		size_t want = ETCD_PAGE;

		if (limit && limit - cnt < want)
			want = limit - cnt;
		req.key = bin(key, key_len);
		req.range_end = bin(end, end_len);
		req.limit = (int64_t)want;
		req.revision = rev;
		r = etcd_range(s, &req, &resp);
		if (r < 0)
			break;
		if (!rev)
			rev = resp->header ? resp->header->revision : 0;
		if (cnt + resp->n_kvs > cap) {
			size_t ncap = cap ? cap : 64;
			struct store_kv *t;

			while (ncap < cnt + resp->n_kvs)
				ncap *= 2;
			t = realloc(kvs, ncap * sizeof(*kvs));
			if (!t)
				r = -ENOMEM;
			else
				kvs = t, cap = ncap;
		}
		for (size_t i = 0; r == 0 && i < resp->n_kvs; i++) {
			r = etcd_kv_out(s, resp->kvs[i], &kvs[cnt]);
			if (r == 0)
				cnt++;
		}
		left = resp->more;
		if (r == 0 && left && resp->n_kvs && (!limit || cnt < limit)) {
			/* Next page: from the key right after the last one. */
			const Etcdserverpb__KeyValue *last = resp->kvs[resp->n_kvs - 1];
			char *t = realloc(key, last->key.len + 1);

			if (!t) {
				r = -ENOMEM;
			} else {
				key = t;
				memcpy(key, last->key.data, last->key.len);
				key[last->key.len] = '\0';
				key_len = last->key.len + 1;
			}
		} else {
			left = left && (!resp->n_kvs || (limit && cnt >= limit));
			etcdserverpb__range_response__free_unpacked(resp, NULL);
			break;
		}
		etcdserverpb__range_response__free_unpacked(resp, NULL);
		if (r < 0)
			break;
	}
	if (r < 0) {
		store_kvs_free(kvs, cnt);
		return r;
	}
	*items = kvs;
	*n = cnt;
	if (revision)
		*revision = rev;
	if (more)
		*more = left;
	return 0;
}

static int etcd_range_all(struct etcd_store *s, const char *from, size_t from_len,
			  const char *end, size_t end_len, size_t limit, struct store_kv **items,
			  size_t *n, int64_t *revision, bool *more)
{
	return etcd_range_all_at(s, from, from_len, end, end_len, limit, 0, items, n, revision,
				 more);
}

static int etcd_list_at(struct store *store, const char *prefix, const char *start_after,
			size_t limit, int64_t at, struct store_kv **items, size_t *n,
			int64_t *revision, bool *more)
{
	struct etcd_store *s = es(store);
	_cleanup_free_ char *key = NULL, *end = NULL, *from = NULL;
	size_t end_len = 0, from_len;
	int r;

	r = etcd_prefix_range(s, prefix, &key, &end, &end_len);
	if (r < 0)
		return r;
	if (start_after && strcmp(start_after, prefix) >= 0) {
		/* The smallest key after start_after: start_after + "\0". */
		size_t l = s->ns_len + strlen(start_after);

		from = malloc(l + 1);
		if (!from)
			return -ENOMEM;
		memcpy(from, s->ns, s->ns_len);
		memcpy(from + s->ns_len, start_after, l - s->ns_len);
		from[l] = '\0';
		from_len = l + 1;
		return etcd_range_all_at(s, from, from_len, end, end_len, limit, at, items, n,
					 revision, more);
	}
	/* "" is "\0": from the first key. */
	return etcd_range_all_at(s, key, strlen(key) ? strlen(key) : 1, end, end_len, limit, at,
				 items, n, revision, more);
}

static int etcd_list(struct store *store, const char *prefix, const char *start_after,
		     size_t limit, struct store_kv **items, size_t *n, int64_t *revision,
		     bool *more)
{
	return etcd_list_at(store, prefix, start_after, limit, 0, items, n, revision, more);
}

static int etcd_list_at_op(struct store *store, const char *prefix, const char *start_after,
			   size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more)
{
	return etcd_list_at(store, prefix, start_after, limit, at, items, n, NULL, more);
}

static int etcd_count(struct store *store, const char *prefix, size_t *n)
{
	struct etcd_store *s = es(store);
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	_cleanup_free_ char *key = NULL, *end = NULL;
	size_t end_len = 0;
	int r;

	r = etcd_prefix_range(s, prefix, &key, &end, &end_len);
	if (r < 0)
		return r;
	req.key = bin(key, strlen(key) ? strlen(key) : 1);
	req.range_end = bin(end, end_len);
	req.count_only = true;
	r = etcd_range(s, &req, &resp);
	if (r < 0)
		return r;
	*n = (size_t)resp->count;
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return 0;
}

enum etcd_write {
	ETCD_CREATE,
	ETCD_UPDATE,
	ETCD_DELETE,
};

/* One write as one Txn: compare the precondition, write on success,
 * read the key on failure to tell "absent" from "changed". */
static int etcd_write(struct etcd_store *s, enum etcd_write op, const char *key,
		      const char *value, size_t len, int64_t expect, struct store_kv *prev,
		      int64_t *revision)
{
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT, *cmps[1] = { &cmp };
	Etcdserverpb__RequestOp ok = ETCDSERVERPB__REQUEST_OP__INIT, *oks[1] = { &ok };
	Etcdserverpb__RequestOp fail = ETCDSERVERPB__REQUEST_OP__INIT, *fails[1] = { &fail };
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__TxnResponse *resp = NULL;
	_cleanup_free_ char *k = etcd_key(s, key);
	int r;

	if (!k)
		return -ENOMEM;
	cmp.key = bin(k, strlen(k));
	if (op == ETCD_CREATE) {
		cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
		cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		cmp.create_revision = 0;
	} else if (expect) {
		cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
		cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		cmp.mod_revision = expect;
	} else {
		cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
		cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		cmp.create_revision = 0;
	}
	if (op == ETCD_DELETE) {
		del.key = bin(k, strlen(k));
		del.prev_kv = true;
		ok.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		ok.request_delete_range = &del;
	} else {
		put.key = bin(k, strlen(k));
		put.value = bin(value, len);
		ok.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		ok.request_put = &put;
	}
	get.key = bin(k, strlen(k));
	get.keys_only = true;
	fail.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	fail.request_range = &get;
	txn.n_compare = 1;
	txn.compare = cmps;
	txn.n_success = 1;
	txn.success = oks;
	if (op != ETCD_CREATE) {
		txn.n_failure = 1;
		txn.failure = fails;
	}

	r = etcd_call(s, ETCD_KV "Txn", &txn.base, &etcdserverpb__txn_response__descriptor,
		      (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (!resp->succeeded) {
		if (op == ETCD_CREATE)
			r = -EEXIST;
		else if (resp->n_responses == 1 &&
			 resp->responses[0]->response_case ==
				 ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
			 resp->responses[0]->response_range->n_kvs)
			r = -ESTALE;
		else
			r = -ENOENT;
		goto out;
	}
	if (op == ETCD_DELETE && prev) {
		const Etcdserverpb__ResponseOp *ro = resp->n_responses ? resp->responses[0] : NULL;

		if (!ro || ro->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE ||
		    !ro->response_delete_range->n_prev_kvs) {
			r = -EPROTO;
			goto out;
		}
		r = etcd_kv_out(s, ro->response_delete_range->prev_kvs[0], prev);
		if (r < 0)
			goto out;
	}
	if (revision)
		*revision = resp->header ? resp->header->revision : 0;
out:
	etcdserverpb__txn_response__free_unpacked(resp, NULL);
	return r;
}

static int etcd_create(struct store *s, const char *key, const char *value, size_t len,
		       int64_t *revision)
{
	return etcd_write(es(s), ETCD_CREATE, key, value, len, 0, NULL, revision);
}

static int etcd_update(struct store *s, const char *key, const char *value, size_t len,
		       int64_t expect, int64_t *revision)
{
	return etcd_write(es(s), ETCD_UPDATE, key, value, len, expect, NULL, revision);
}

static int etcd_delete(struct store *s, const char *key, int64_t expect, struct store_kv *prev,
		       int64_t *revision)
{
	return etcd_write(es(s), ETCD_DELETE, key, NULL, 0, expect, prev, revision);
}

/* Whether a read at revision is still possible: etcd refuses reads below
 * its compaction revision. 1 yes, 0 compacted, negative errno. */
static int etcd_readable_at(struct etcd_store *s, int64_t revision)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	_cleanup_free_ char *k = etcd_key(s, "\x01revision-probe");
	int r;

	if (!k)
		return -ENOMEM;
	req.key = bin(k, strlen(k));
	req.count_only = true;
	req.revision = revision;
	r = etcd_range(s, &req, &resp);
	if (r == -ERANGE)
		return 0;
	if (r < 0)
		return r;
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return 1;
}

/* etcd does not say where it compacted; the answer is the lowest
 * revision still readable, found by bisection (about log2(revision)
 * small reads). */
static int64_t etcd_compacted_revision(struct store *store)
{
	struct etcd_store *s = es(store);
	int64_t lo = 1, hi = etcd_revision(store);
	int r;

	if (hi < 0)
		return hi;
	if (hi <= 1)
		return 0;
	r = etcd_readable_at(s, 1);
	if (r != 0)
		return r < 0 ? r : 0;
	/* Invariant: lo unreadable, hi readable. */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		r = etcd_readable_at(s, mid);
		if (r < 0)
			return r;
		if (r)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

static int etcd_compact(struct store *store, int64_t revision)
{
	struct etcd_store *s = es(store);
	Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	Etcdserverpb__CompactionResponse *resp = NULL;
	int r;

	if (revision == 0)
		return 0;
	req.revision = revision;
	req.physical = true;
	r = etcd_call(s, ETCD_KV "Compact", &req.base,
		      &etcdserverpb__compaction_response__descriptor, (ProtobufCMessage **)&resp);
	if (r == -ERANGE && etcd_readable_at(s, revision) == 1)
		return 0; /* compacted there already */
	if (r < 0)
		return r;
	etcdserverpb__compaction_response__free_unpacked(resp, NULL);
	return 0;
}

/* Watch.
 *
 * A feed is one Watch stream over a key range from a revision on, resumed
 * on the next endpoint from the revision after the last event when its
 * member goes away, so no event is lost or repeated.
 *
 * Watches share one feed per store over the whole namespace (the hub):
 * a thread of its own reads the stream into a ring, each watch filters
 * the ring by its prefix. 1,000 watches cost one etcd stream, and a
 * watch busy sending never holds up the others. The thread ends when the
 * last watch has gone (seen after its next read, within ETCD_PUMP_MS). A watch that asks for history older than the hub's start, or
 * falls behind the ring, gets a feed of its own instead. */

static void etcd_feed_disconnect(struct etcd_feed *f)
{
	grpc_stream_free(f->stream);
	f->stream = NULL;
	grpc_channel_free(f->ch);
	f->ch = NULL;
}

static void etcd_feed_clear(struct etcd_feed *f)
{
	etcd_feed_disconnect(f);
	free(f->key);
	free(f->range_end);
	f->key = f->range_end = NULL;
}

static int etcd_feed_init(struct etcd_feed *f, struct etcd_store *s, const char *prefix,
			  int64_t after)
{
	size_t end_len = 0;

	memset(f, 0, sizeof(*f));
	f->s = s;
	f->cursor = after;
	pthread_mutex_lock(&s->lock);
	f->endpoint = s->cur;
	pthread_mutex_unlock(&s->lock);
	return etcd_prefix_range(s, prefix, &f->key, &f->range_end, &end_len);
}

/* Opens the Watch stream at cursor + 1 on some endpoint, starting with
 * f->endpoint, and waits for etcd to confirm it. */
static int etcd_feed_connect(struct etcd_feed *f)
{
	struct etcd_store *s = f->s;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	_cleanup_free_ uint8_t *buf = NULL;
	struct grpc_status st = { 0 };
	size_t len;
	int r = -EIO;

	cr.key = bin(f->key, strlen(f->key) ? strlen(f->key) : 1);
	cr.range_end = bin(f->range_end, strlen(f->range_end) ? strlen(f->range_end) : 1);
	cr.start_revision = f->cursor + 1;
	cr.prev_kv = true;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	len = protobuf_c_message_get_packed_size(&req.base);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(&req.base, buf);

	for (size_t attempt = 0; attempt < ETCD_ROUNDS * s->n_endpoints; attempt++) {
		Etcdserverpb__WatchResponse *resp = NULL;
		uint8_t *msg = NULL;
		size_t msg_len = 0;

		if (attempt && attempt % s->n_endpoints == 0)
			usleep(ETCD_ROUND_PAUSE_MS * 1000);
		etcd_feed_disconnect(f);
		r = grpc_channel_new(s->endpoints[f->endpoint], &f->ch);
		if (r < 0)
			return r;
		r = grpc_stream_open(f->ch, ETCD_WATCH, buf, len, ETCD_CALL_TIMEOUT_MS, &f->stream,
				     &st);
		if (r == 0)
			r = grpc_stream_recv(f->stream, ETCD_CALL_TIMEOUT_MS, &msg, &msg_len, &st);
		if (r == 0) {
			resp = etcdserverpb__watch_response__unpack(NULL, msg_len, msg);
			free(msg);
			if (!resp) {
				etcd_feed_disconnect(f);
				return -EPROTO;
			}
			r = resp->created && !resp->canceled ? 0
			    : resp->compact_revision ? -ERANGE : -EIO;
			etcdserverpb__watch_response__free_unpacked(resp, NULL);
			if (r == 0)
				return 0;
			if (r == -ERANGE) {
				etcd_feed_disconnect(f);
				return r;
			}
		}
		f->endpoint = (f->endpoint + 1) % s->n_endpoints;
	}
	etcd_feed_disconnect(f);
	return r == -EREMOTEIO ? etcd_errno(&st) : -EIO;
}

static int etcd_event_out(struct etcd_store *s, const Etcdserverpb__Event *e,
			  struct store_event *ev)
{
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!e->kv)
		return -EPROTO;
	ev->type = e->type == ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE ? STORE_EVENT_DELETE
								       : STORE_EVENT_PUT;
	ev->revision = e->kv->mod_revision;
	r = etcd_kv_out(s, e->kv, &ev->kv);
	if (r == 0 && ev->type == STORE_EVENT_DELETE) {
		ev->kv.create_revision = 0;
		ev->kv.value_len = 0;
		ev->kv.value[0] = '\0';
	}
	if (r == 0 && e->prev_kv)
		r = etcd_kv_out(s, e->prev_kv, &ev->prev);
	if (r < 0)
		store_event_clear(ev);
	return r;
}

static int events_grow(struct store_event **evs, size_t cnt, size_t *cap)
{
	size_t ncap;
	struct store_event *t;

	if (cnt < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	t = realloc(*evs, ncap * sizeof(**evs));
	if (!t)
		return -ENOMEM;
	*evs = t;
	*cap = ncap;
	return 0;
}

/* Appends the events of one WatchResponse newer than the cursor. */
static int etcd_feed_take(struct etcd_feed *f, const Etcdserverpb__WatchResponse *resp,
			  struct store_event **evs, size_t *cnt, size_t *cap)
{
	for (size_t i = 0; i < resp->n_events; i++) {
		int r;

		/* After a reconnect etcd may send what we already had. */
		if (resp->events[i]->kv && resp->events[i]->kv->mod_revision <= f->cursor)
			continue;
		r = events_grow(evs, *cnt, cap);
		if (r == 0)
			r = etcd_event_out(f->s, resp->events[i], &(*evs)[*cnt]);
		if (r < 0)
			return r;
		f->cursor = (*evs)[*cnt].revision;
		(*cnt)++;
	}
	return 0;
}

/* Waits up to timeout_ms (< 0: forever) for events, then takes what else
 * has already arrived, up to max. Appends to *evs; 0 with none on timeout.
 * A negative return after some events were taken leaves them in *evs. */
static int etcd_feed_read(struct etcd_feed *f, int timeout_ms, size_t max,
			  struct store_event **evs, size_t *cnt, size_t *cap)
{
	unsigned long long deadline = timeout_ms < 0 ? 0
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	size_t first = *cnt;
	struct grpc_status st;
	int r = 0;

	while (*cnt - first < max) {
		Etcdserverpb__WatchResponse *resp = NULL;
		uint8_t *msg = NULL;
		size_t msg_len = 0;
		int left = -1;

		if (*cnt > first) {
			left = 0;
		} else if (timeout_ms >= 0) {
			unsigned long long now = now_ns();

			left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL);
		}
		if (!f->stream) {
			r = etcd_feed_connect(f);
			if (r < 0)
				return r;
		}
		r = grpc_stream_recv(f->stream, left, &msg, &msg_len, &st);
		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0) {
			/* The member went away: resume on the next one. */
			etcd_feed_disconnect(f);
			f->endpoint = (f->endpoint + 1) % f->s->n_endpoints;
			if (*cnt > first)
				return 0;
			continue;
		}
		resp = etcdserverpb__watch_response__unpack(NULL, msg_len, msg);
		free(msg);
		if (!resp)
			return -EPROTO;
		if (resp->canceled || resp->compact_revision)
			r = resp->compact_revision ? -ERANGE : -EIO;
		else
			r = etcd_feed_take(f, resp, evs, cnt, cap);
		etcdserverpb__watch_response__free_unpacked(resp, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

struct etcd_watch {
	struct store_watch base;
	struct etcd_store *s;
	bool shared;
	uint64_t scanned;    /* shared: ring events looked at (by index) */
	struct etcd_feed feed; /* not shared: a feed of its own */
	char *prefix;
	size_t prefix_len;
	int64_t cursor; /* last revision delivered */
	int err;        /* to report after the events already delivered */
};

#define ETCD_BATCH 1024
#define ETCD_PUMP_MS 200

static struct store_event *hub_at(struct etcd_store *s, size_t i)
{
	return &s->ring[(s->ring_head + i) % s->ring_cap];
}

static void hub_clear(struct etcd_store *s)
{
	for (size_t i = 0; i < s->ring_len; i++)
		store_event_clear(hub_at(s, i));
	s->ring_head = 0;
	s->ring_len = 0;
}

static void hub_push(struct etcd_store *s, struct store_event *ev)
{
	if (s->ring_len == s->ring_cap) {
		struct store_event *old = hub_at(s, 0);

		s->ring_base = old->revision;
		store_event_clear(old);
		s->ring_head = (s->ring_head + 1) % s->ring_cap;
		s->ring_len--;
	}
	*hub_at(s, s->ring_len) = *ev;
	s->ring_len++;
	s->ring_total++;
	memset(ev, 0, sizeof(*ev));
}

/* Leaves the hub; after the last watch out the reader thread closes
 * its stream. hub_lock held. */
static void hub_leave(struct etcd_store *s)
{
	s->watchers--;
}

/* The hub's reader: the stream into the ring, until no watch is left, the
 * store closes or the stream fails (then every watch gets the error). */
static void *hub_reader(void *arg)
{
	struct etcd_store *s = arg;

	pthread_mutex_lock(&s->hub_lock);
	while (s->watchers > 0 && !s->hub_stop && !s->hub_err) {
		struct store_event *got = NULL;
		size_t n = 0, gcap = 0;
		int r;

		pthread_mutex_unlock(&s->hub_lock);
		r = etcd_feed_read(&s->hub, ETCD_PUMP_MS, ETCD_BATCH, &got, &n, &gcap);
		pthread_mutex_lock(&s->hub_lock);
		for (size_t i = 0; i < n; i++)
			hub_push(s, &got[i]);
		free(got);
		if (r < 0)
			s->hub_err = r;
		if (n || r < 0)
			pthread_cond_broadcast(&s->hub_cond);
	}
	etcd_feed_clear(&s->hub);
	if (!s->watchers) {
		hub_clear(s);
		s->hub_err = 0;
	}
	s->hub_live = false;
	pthread_cond_broadcast(&s->hub_cond);
	pthread_mutex_unlock(&s->hub_lock);
	return NULL;
}

static void etcd_watch_close(struct store_watch *base)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	struct etcd_store *s = w->s;

	if (w->shared) {
		pthread_mutex_lock(&s->hub_lock);
		hub_leave(s);
		pthread_mutex_unlock(&s->hub_lock);
	}
	etcd_feed_clear(&w->feed);
	free(w->prefix);
	free(w);
}

/* Gives w a feed of its own from its cursor on. */
static int etcd_watch_go_private(struct etcd_watch *w)
{
	int r = etcd_feed_init(&w->feed, w->s, w->prefix, w->cursor);

	if (r == 0)
		r = etcd_feed_connect(&w->feed);
	return r;
}

static int etcd_watch_open(struct store *store, const char *prefix, int64_t after_revision,
			   struct store_watch **out)
{
	struct etcd_store *s = es(store);
	struct etcd_watch *w;
	int r;

	/* etcd accepts a watch below its compaction and only then cancels
	 * it; ask first, so the caller gets -ERANGE here. */
	r = etcd_readable_at(s, after_revision > 0 ? after_revision : 1);
	if (r == 0)
		return -ERANGE;
	if (r < 0 && r != -EINVAL) /* -EINVAL: a future revision, fine */
		return r;
	r = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.store = store;
	w->s = s;
	w->cursor = after_revision;
	w->prefix = strdup(prefix);
	if (!w->prefix) {
		free(w);
		return -ENOMEM;
	}
	w->prefix_len = strlen(prefix);

	pthread_mutex_lock(&s->hub_lock);
	/* A failed hub ends its thread; the next watch after the last of
	 * its watches starts anew. */
	while (s->hub_live && s->hub_err && s->watchers == 0)
		pthread_cond_wait(&s->hub_cond, &s->hub_lock);
	if (!s->hub_live && s->watchers == 0) {
		/* The first watch starts the hub at its own revision. */
		pthread_t t;
		pthread_attr_t attr;

		r = etcd_feed_init(&s->hub, s, "", after_revision);
		if (r == 0)
			r = etcd_feed_connect(&s->hub);
		if (r == 0) {
			hub_clear(s);
			s->ring_base = after_revision;
			s->hub_err = 0;
			s->watchers++; /* so the thread does not end at once */
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			r = -pthread_create(&t, &attr, hub_reader, s);
			pthread_attr_destroy(&attr);
			s->watchers--;
			if (r == 0)
				s->hub_live = true;
		}
		if (r < 0)
			etcd_feed_clear(&s->hub);
	}
	if (r == 0 && s->hub_live && after_revision >= s->ring_base && !s->hub_err) {
		/* The thread checks watchers under hub_lock: held here. */
		w->shared = true;
		w->scanned = s->ring_total - s->ring_len;
		s->watchers++;
	}
	pthread_mutex_unlock(&s->hub_lock);
	if (r == 0 && !w->shared)
		r = etcd_watch_go_private(w);
	if (r < 0) {
		etcd_watch_close(&w->base);
		return r;
	}
	*out = &w->base;
	return 0;
}

/* Copies the ring's events for w. hub_lock held. 1 when w fell behind
 * the ring (and must go private), else 0 or negative errno. */
static int hub_collect(struct etcd_watch *w, struct store_event **evs, size_t *cnt, size_t *cap)
{
	struct etcd_store *s = w->s;
	uint64_t oldest = s->ring_total - s->ring_len;

	if (w->scanned < oldest)
		return 1;
	for (size_t i = (size_t)(w->scanned - oldest); i < s->ring_len && *cnt < ETCD_BATCH; i++) {
		struct store_event *ev = hub_at(s, i);
		int r;

		w->scanned++;
		if (ev->revision <= w->cursor ||
		    !store_key_has_prefix(ev->kv.key, w->prefix, w->prefix_len))
			continue;
		r = events_grow(evs, *cnt, cap);
		if (r == 0)
			r = store_event_copy(&(*evs)[*cnt], ev);
		if (r < 0)
			return r;
		w->cursor = ev->revision;
		(*cnt)++;
	}
	return 0;
}

/* A shared watch: from the ring, waiting for the hub's reader. 1 when w
 * must go private. */
static int hub_next(struct etcd_watch *w, unsigned long long deadline, bool forever,
		    struct store_event **evs, size_t *cnt, size_t *cap)
{
	struct etcd_store *s = w->s;
	int r = 0;

	pthread_mutex_lock(&s->hub_lock);
	for (;;) {
		unsigned long long now, wake;
		struct timespec ts;

		r = hub_collect(w, evs, cnt, cap);
		if (r != 0 || *cnt)
			break;
		if (s->hub_err) {
			r = s->hub_err;
			break;
		}
		if (!s->hub_live) {
			r = -EIO;
			break;
		}
		now = now_ns();
		if (!forever && now >= deadline)
			break;
		wake = now + ETCD_PUMP_MS * 1000000ULL;
		if (!forever && wake > deadline)
			wake = deadline;
		ts.tv_sec = (time_t)(wake / 1000000000ULL);
		ts.tv_nsec = (long)(wake % 1000000000ULL);
		pthread_cond_timedwait(&s->hub_cond, &s->hub_lock, &ts);
	}
	if (r == 1) {
		w->shared = false;
		hub_leave(s);
	}
	pthread_mutex_unlock(&s->hub_lock);
	return r;
}

static int etcd_watch_next(struct store_watch *base, int timeout_ms, struct store_event **events,
			   size_t *n)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	unsigned long long deadline = timeout_ms < 0 ? 0
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	struct store_event *evs = NULL;
	size_t cnt = 0, cap = 0;
	int r;

	*events = NULL;
	*n = 0;
	if (w->err)
		return w->err;
	if (w->shared) {
		r = hub_next(w, deadline, timeout_ms < 0, &evs, &cnt, &cap);
		if (r == 1)
			r = etcd_watch_go_private(w);
	} else {
		r = 0;
	}
	if (!w->shared && r == 0 && !cnt) {
		int left = -1;

		if (timeout_ms >= 0) {
			unsigned long long now = now_ns();

			left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL);
		}
		w->feed.cursor = w->cursor;
		r = etcd_feed_read(&w->feed, left, ETCD_BATCH, &evs, &cnt, &cap);
		if (cnt)
			w->cursor = evs[cnt - 1].revision;
	}
	if (r < 0 && !cnt) {
		free(evs);
		return r;
	}
	/* Events already taken are delivered; an error shows next call. */
	if (r < 0)
		w->err = r;
	if (!cnt) {
		free(evs);
		return 0;
	}
	*events = evs;
	*n = cnt;
	return (int)cnt;
}

static int etcd_set_ring_size(struct store *store, size_t events)
{
	struct etcd_store *s = es(store);
	struct store_event *ring = calloc(events, sizeof(*ring));
	int r = 0;

	if (!ring)
		return -ENOMEM;
	pthread_mutex_lock(&s->hub_lock);
	while (!s->watchers && s->hub_live)
		pthread_cond_wait(&s->hub_cond, &s->hub_lock);
	if (s->watchers) {
		r = -EBUSY;
	} else {
		hub_clear(s);
		free(s->ring);
		s->ring = TAKE_PTR(ring);
		s->ring_cap = events;
	}
	pthread_mutex_unlock(&s->hub_lock);
	free(ring);
	return r;
}

/* Snapshots. */

static int etcd_snapshot_save(struct store *store, const char *path)
{
	struct etcd_store *s = es(store);
	_cleanup_free_ char *key = NULL, *end = NULL;
	struct store_kv *kvs = NULL;
	size_t n = 0, end_len = 0;
	int64_t rev = 0;
	int r;

	r = etcd_prefix_range(s, "", &key, &end, &end_len);
	if (r < 0)
		return r;
	r = etcd_range_all(s, key, strlen(key) ? strlen(key) : 1, end, end_len, 0, &kvs, &n, &rev,
			   NULL);
	if (r < 0)
		return r;
	r = store_sqlite_snapshot_write(path, kvs, n, rev);
	store_kvs_free(kvs, n);
	return r;
}

static int etcd_snapshot_restore(struct store *store, const char *path)
{
	struct etcd_store *s = es(store);
	struct store_kv *kvs = NULL;
	size_t n = 0, have = 0;
	int64_t rev = 0;
	int r;

	r = store_sqlite_snapshot_read(path, &kvs, &n, &rev);
	if (r < 0)
		return r;
	r = etcd_count(store, "", &have);
	if (r == 0 && have)
		r = -ENOTEMPTY;
	/* Batches of puts, each batch one Txn that also checks the keys are
	 * still absent. */
	for (size_t i = 0; r == 0 && i < n; i += ETCD_TXN_MAX_OPS / 2) {
		size_t m = n - i < ETCD_TXN_MAX_OPS / 2 ? n - i : ETCD_TXN_MAX_OPS / 2;
		Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
		Etcdserverpb__Compare cmp[ETCD_TXN_MAX_OPS / 2], *cmps[ETCD_TXN_MAX_OPS / 2];
		Etcdserverpb__RequestOp op[ETCD_TXN_MAX_OPS / 2], *ops[ETCD_TXN_MAX_OPS / 2];
		Etcdserverpb__PutRequest put[ETCD_TXN_MAX_OPS / 2];
		char *keys[ETCD_TXN_MAX_OPS / 2] = { 0 };
		Etcdserverpb__TxnResponse *resp = NULL;

		for (size_t j = 0; j < m; j++) {
			const struct store_kv *kv = &kvs[i + j];

			keys[j] = etcd_key(s, kv->key);
			if (!keys[j]) {
				r = -ENOMEM;
				break;
			}
			etcdserverpb__compare__init(&cmp[j]);
			cmp[j].key = bin(keys[j], strlen(keys[j]));
			cmp[j].result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
			cmp[j].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
			cmp[j].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
			cmps[j] = &cmp[j];
			etcdserverpb__put_request__init(&put[j]);
			put[j].key = cmp[j].key;
			put[j].value = bin(kv->value, kv->value_len);
			etcdserverpb__request_op__init(&op[j]);
			op[j].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			op[j].request_put = &put[j];
			ops[j] = &op[j];
		}
		if (r == 0) {
			txn.n_compare = m;
			txn.compare = cmps;
			txn.n_success = m;
			txn.success = ops;
			r = etcd_call(s, ETCD_KV "Txn", &txn.base,
				      &etcdserverpb__txn_response__descriptor,
				      (ProtobufCMessage **)&resp);
		}
		if (r == 0) {
			if (!resp->succeeded)
				r = -ENOTEMPTY;
			etcdserverpb__txn_response__free_unpacked(resp, NULL);
		}
		for (size_t j = 0; j < m; j++)
			free(keys[j]);
	}
	store_kvs_free(kvs, n);
	return r;
}

/* Open and close. */

static void etcd_close(struct store *store)
{
	struct etcd_store *s = es(store);

	/* The hub's reader ends within one read. */
	pthread_mutex_lock(&s->hub_lock);
	s->hub_stop = true;
	while (s->hub_live)
		pthread_cond_wait(&s->hub_cond, &s->hub_lock);
	pthread_mutex_unlock(&s->hub_lock);
	for (size_t i = 0; s->ch && i < s->n_endpoints * ETCD_CONNS; i++)
		grpc_channel_free(s->ch[i]);
	for (size_t i = 0; i < s->n_endpoints; i++)
		free(s->endpoints[i]);
	free(s->ch);
	free(s->busy);
	pthread_cond_destroy(&s->conn_cond);
	free(s->endpoints);
	free(s->ns);
	etcd_feed_clear(&s->hub);
	hub_clear(s);
	free(s->ring);
	pthread_cond_destroy(&s->hub_cond);
	pthread_mutex_destroy(&s->hub_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct store_ops etcd_ops;

int store_etcd_open(const char *url, struct store **out)
{
	_cleanup_free_ char *copy = strdup(url);
	struct etcd_store *s;
	char *slash, *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &etcd_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->conn_cond, NULL);
	pthread_mutex_init(&s->hub_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->hub_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->ring_cap = ETCD_RING;
	s->ring = calloc(s->ring_cap, sizeof(*s->ring));
	if (!s->ring) {
		r = -ENOMEM;
		goto fail;
	}

	slash = strchr(copy, '/');
	if (slash) {
		size_t l = strlen(slash);

		while (l > 1 && slash[l - 1] == '/')
			slash[--l] = '\0';
		s->ns = strdup(l > 1 ? slash : "");
		*slash = '\0';
	} else {
		s->ns = strdup("");
	}
	if (!s->ns) {
		r = -ENOMEM;
		goto fail;
	}
	s->ns_len = strlen(s->ns);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **t;

		/* host:port, nothing else: no scheme, no unix sockets. */
		if (!strchr(tok, ':') || strchr(tok, ':')[1] == '\0' || strstr(tok, "://")) {
			r = -EINVAL;
			goto fail;
		}
		t = realloc(s->endpoints, (s->n_endpoints + 1) * sizeof(*t));
		if (!t) {
			r = -ENOMEM;
			goto fail;
		}
		s->endpoints = t;
		s->endpoints[s->n_endpoints] = strdup(tok);
		if (!s->endpoints[s->n_endpoints]) {
			r = -ENOMEM;
			goto fail;
		}
		s->n_endpoints++;
	}
	if (!s->n_endpoints) {
		r = -EINVAL;
		goto fail;
	}
	s->ch = calloc(s->n_endpoints * ETCD_CONNS, sizeof(*s->ch));
	s->busy = calloc(s->n_endpoints * ETCD_CONNS, sizeof(*s->busy));
	if (!s->ch || !s->busy) {
		r = -ENOMEM;
		goto fail;
	}
	/* Reach the cluster once, so a wrong address fails here. */
	{
		int64_t rev = etcd_revision(&s->base);

		if (rev < 0) {
			r = (int)rev;
			goto fail;
		}
	}
	*out = &s->base;
	return 0;
fail:
	etcd_close(&s->base);
	return r;
}

static const struct store_ops etcd_ops = {
	.name = "etcd",
	.close = etcd_close,
	.revision = etcd_revision,
	.get = etcd_get,
	.list = etcd_list,
	.list_at = etcd_list_at_op,
	.count = etcd_count,
	.create = etcd_create,
	.update = etcd_update,
	.del = etcd_delete,
	.watch_open = etcd_watch_open,
	.watch_next = etcd_watch_next,
	.watch_close = etcd_watch_close,
	.compact = etcd_compact,
	.compacted_revision = etcd_compacted_revision,
	.snapshot_save = etcd_snapshot_save,
	.snapshot_restore = etcd_snapshot_restore,
	.set_ring_size = etcd_set_ring_size,
};
