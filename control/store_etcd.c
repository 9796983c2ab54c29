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
 * Watches share one Watch stream per store (store_etcd_watch.c), resumed
 * on the next endpoint after the last revision seen when its member goes
 * away.
 *
 * Snapshots are logical: every key under the namespace at one revision,
 * written as a SQLite store file (the same format store_snapshot_save
 * writes for SQLite, so a snapshot moves between backends). Restoring into
 * etcd writes the keys again, so they get new revisions. */
#include "control/store_etcd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

char *etcd_key(struct etcd_store *s, const char *key)
{
	char *k;

	if (asprintf(&k, "%s%s", s->ns, key) < 0)
		return NULL;
	return k;
}

int etcd_prefix_range(struct etcd_store *s, const char *prefix, char **key, char **end,
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

int etcd_kv_out(struct etcd_store *s, const Etcdserverpb__KeyValue *kv,
		       struct store_kv *out)
{
	size_t klen = kv->key.len;
	const char *k = (const char *)kv->key.data;

	if (klen < s->ns_len || (s->ns_len && memcmp(k, s->ns, s->ns_len) != 0))
		return -EPROTO;
	return store_kv_set(out, k + s->ns_len, klen - s->ns_len, kv->value.data, kv->value.len,
			    kv->create_revision, kv->mod_revision);
}

int etcd_errno(const struct grpc_status *st)
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

int etcd_readable_at(struct etcd_store *s, int64_t revision)
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
	pthread_mutex_lock(&s->ring.lock);
	store_ring_compacted_locked(&s->ring, revision);
	pthread_mutex_unlock(&s->ring.lock);
	return 0;
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

	if (s->ring.ev)
		etcd_hub_stop(s);
	for (size_t i = 0; s->ch && i < s->n_endpoints * ETCD_CONNS; i++)
		grpc_channel_free(s->ch[i]);
	for (size_t i = 0; i < s->n_endpoints; i++)
		free(s->endpoints[i]);
	free(s->ch);
	free(s->busy);
	pthread_cond_destroy(&s->conn_cond);
	free(s->endpoints);
	free(s->ns);
	store_ring_destroy(&s->ring);
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
	r = store_ring_init(&s->ring);
	if (r < 0)
		goto fail;

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
