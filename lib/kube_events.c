/* The event recorder: see kube_events.h. */
#include "lib/kube_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"

#define KC_EVENTS_REMEMBERED 4096 /* keys per generation of each memory */
#define KC_EVENT_MESSAGE_MAX 1024
#define KC_AGGREGATE_MAX_EVENTS 10
#define KC_AGGREGATE_INTERVAL_S 600.0
#define KC_SPAM_BURST 25.0
#define KC_SPAM_REFILL_S 300.0 /* one token every 5 minutes */
#define KC_AGGREGATE_PREFIX "(combined from similar events): "
#define KC_EVENTS_QUEUE 1000
#define KC_EVENTS_IN_FLIGHT 8

/* ---- a bounded memory: two generations of a map ---- */

/* A key not used during a whole generation (KC_EVENTS_REMEMBERED newer
 * keys) is forgotten: a cheap stand-in for client-go's LRU. */
struct gen_map {
	json_t *cur, *old;
};

static int gen_init(struct gen_map *m)
{
	m->cur = json_object();
	m->old = json_object();
	return m->cur && m->old ? 0 : -ENOMEM;
}

static void gen_fini(struct gen_map *m)
{
	json_decref(m->cur);
	json_decref(m->old);
}

/* Stores v (stolen) under key in the current generation. */
static int gen_set(struct gen_map *m, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	if (!json_object_get(m->cur, key) && json_object_size(m->cur) >= KC_EVENTS_REMEMBERED) {
		json_t *fresh = json_object();

		if (!fresh) {
			json_decref(v);
			return -ENOMEM;
		}
		json_decref(m->old);
		m->old = m->cur;
		m->cur = fresh;
	}
	return json_object_set_new(m->cur, key, v) < 0 ? -ENOMEM : 0;
}

/* The value under key (borrowed, moved to the current generation), or NULL. */
static json_t *gen_get(struct gen_map *m, const char *key)
{
	json_t *v = json_object_get(m->cur, key);

	if (v || !(v = json_object_get(m->old, key)))
		return v;
	json_incref(v);
	json_object_del(m->old, key);
	return gen_set(m, key, v) < 0 ? NULL : v;
}

/* ---- the correlator ---- */

struct kc_correlator {
	struct gen_map groups;  /* aggregation key -> { msgs: {message: true}, last } */
	struct gen_map seen;    /* event key -> { name, first, count } */
	struct gen_map buckets; /* spam key -> { tokens, at } */
};

int kc_correlator_new(struct kc_correlator **out)
{
	struct kc_correlator *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	if (gen_init(&k->groups) < 0 || gen_init(&k->seen) < 0 || gen_init(&k->buckets) < 0) {
		kc_correlator_free(k);
		return -ENOMEM;
	}
	*out = k;
	return 0;
}

void kc_correlator_free(struct kc_correlator *k)
{
	if (!k)
		return;
	gen_fini(&k->groups);
	gen_fini(&k->seen);
	gen_fini(&k->buckets);
	free(k);
}

/* ev.a.b (b NULL: ev.a) as a string, "" when absent. */
static const char *ev_str(json_t *ev, const char *a, const char *b)
{
	json_t *v = json_object_get(ev, a);
	const char *s = json_string_value(b ? json_object_get(v, b) : v);

	return s ? s : "";
}

/* The fields of ev named by paths ("a.b" or "a"), joined by newlines. */
static char *key_of(json_t *ev, const char *const *paths, size_t n)
{
	size_t len = 1;
	char *key, *p;

	for (size_t pass = 0; pass < 2; pass++) {
		p = key = pass ? malloc(len) : NULL;
		if (pass && !key)
			return NULL;
		for (size_t i = 0; i < n; i++) {
			char a[64];
			const char *dot = strchr(paths[i], '.'), *v;

			snprintf(a, sizeof(a), "%.*s", dot ? (int)(dot - paths[i]) : (int)strlen(paths[i]),
				 paths[i]);
			v = ev_str(ev, a, dot ? dot + 1 : NULL);
			if (pass)
				p += sprintf(p, "%s%s", i ? "\n" : "", v);
			else
				len += strlen(v) + 1;
		}
	}
	return key;
}

/* What client-go's getSpamKey reads: the source and the object. */
static const char *const spam_fields[] = {
	"source.component", "source.host", "involvedObject.kind", "involvedObject.namespace",
	"involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
};

/* EventAggregatorByReasonFunc's group: the same, with type, reason and
 * the reporting component; the message tells the members apart. */
static const char *const group_fields[] = {
	"source.component", "source.host", "involvedObject.kind", "involvedObject.namespace",
	"involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "type", "reason",
	"reportingComponent", "reportingInstance",
};

/* The aggregation step: *key gets the event's own key, or the group's
 * when ev becomes (or repeats) the group's combined Event. */
static int aggregate(struct kc_correlator *k, json_t *ev, double now, char **key)
{
	_cleanup_free_ char *group = key_of(ev, group_fields, ARRAY_SIZE(group_fields));
	const char *msg = ev_str(ev, "message", NULL);
	json_t *g, *msgs;
	char *combined;

	if (!group)
		return -ENOMEM;
	g = gen_get(&k->groups, group);
	if (!g || now - json_real_value(json_object_get(g, "last")) > KC_AGGREGATE_INTERVAL_S) {
		if (gen_set(&k->groups, group, json_pack("{s:{},s:f}", "msgs", "last", now)) < 0)
			return -ENOMEM;
		g = json_object_get(k->groups.cur, group);
	}
	msgs = json_object_get(g, "msgs");
	json_object_set_new(msgs, msg, json_true());
	json_object_set_new(g, "last", json_real(now));
	if (json_object_size(msgs) < KC_AGGREGATE_MAX_EVENTS) {
		if (asprintf(key, "%s\n%s", group, msg) < 0)
			return -ENOMEM;
		return 0;
	}
	json_object_del(msgs, json_object_iter_key(json_object_iter(msgs))); /* keep it bounded */
	if (asprintf(&combined, KC_AGGREGATE_PREFIX "%s", msg) < 0)
		return -ENOMEM;
	json_object_set_new(ev, "message", json_string(combined));
	free(combined);
	*key = TAKE_PTR(group);
	return 0;
}

/* The repeat step: an Event written before under key takes its name,
 * firstTimestamp and count + 1. */
static int observe(struct kc_correlator *k, json_t *ev, const char *key)
{
	json_t *seen = gen_get(&k->seen, key);
	json_int_t count;

	if (!seen)
		return gen_set(&k->seen, key,
			       json_pack("{s:s,s:s,s:I}", "name", kc_meta_str(ev, "name"), "first",
					 ev_str(ev, "firstTimestamp", NULL), "count", (json_int_t)1)) < 0
			       ? -ENOMEM
			       : KC_EVENT_CREATE;
	count = json_integer_value(json_object_get(seen, "count")) + 1;
	json_object_set_new(seen, "count", json_integer(count));
	json_object_set(json_object_get(ev, "metadata"), "name", json_object_get(seen, "name"));
	json_object_set(ev, "firstTimestamp", json_object_get(seen, "first"));
	json_object_set_new(ev, "count", json_integer(count));
	return KC_EVENT_PATCH;
}

/* The spam filter: 1 when the object's bucket has a token to spend. */
static int spam_allows(struct kc_correlator *k, json_t *ev, double now)
{
	_cleanup_free_ char *key = key_of(ev, spam_fields, ARRAY_SIZE(spam_fields));
	json_t *b;
	double tokens;
	bool allowed;

	if (!key)
		return -ENOMEM;
	b = gen_get(&k->buckets, key);
	tokens = b ? json_real_value(json_object_get(b, "tokens")) +
			     (now - json_real_value(json_object_get(b, "at"))) / KC_SPAM_REFILL_S
		   : KC_SPAM_BURST;
	if (tokens > KC_SPAM_BURST)
		tokens = KC_SPAM_BURST;
	allowed = tokens >= 1;
	if (allowed)
		tokens -= 1;
	if (gen_set(&k->buckets, key, json_pack("{s:f,s:f}", "tokens", tokens, "at", now)) < 0)
		return -ENOMEM;
	return allowed;
}

int kc_correlate(struct kc_correlator *k, json_t *ev, double now, char **key)
{
	_cleanup_free_ char *ckey = NULL;
	int kind, allowed;

	if (aggregate(k, ev, now, &ckey) < 0 || (kind = observe(k, ev, ckey)) < 0 ||
	    (allowed = spam_allows(k, ev, now)) < 0)
		return -ENOMEM;
	if (!allowed)
		return KC_EVENT_SKIP;
	if (key)
		*key = TAKE_PTR(ckey);
	return kind;
}

/* ---- the recorder ---- */

/* One write in flight. */
struct sending {
	struct kc_recorder *r;
	char *key;     /* NULL: the slot is free */
	char *name;    /* of the Event written */
	bool patch;    /* a patch (else a create) */
	struct kc_async *a;
};

struct kc_recorder {
	struct kc_client *c;
	char *component, *host;
	struct kc_correlator *k;
	/* key -> { event: the newest state, patch: whether the next write is
	 * a patch, flying, dirty: changed since its write left } */
	json_t *outbox;
	char *queue[KC_EVENTS_QUEUE]; /* keys of the outbox waiting, a ring */
	size_t head, len;
	struct sending flying[KC_EVENTS_IN_FLIGHT];
	struct kc_recorder_stats stats;
};

int kc_recorder_new(struct kc_client *c, const char *component, const char *host,
		    struct kc_recorder **out)
{
	struct kc_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->c = c;
	r->component = strdup(component);
	r->host = host ? strdup(host) : NULL;
	r->outbox = json_object();
	if (!r->component || (host && !r->host) || !r->outbox || kc_correlator_new(&r->k) < 0) {
		kc_recorder_free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < KC_EVENTS_IN_FLIGHT; i++)
		r->flying[i].r = r;
	*out = r;
	return 0;
}

static void slot_clear(struct sending *s)
{
	free(s->key);
	free(s->name);
	s->key = s->name = NULL;
	s->a = NULL;
}

void kc_recorder_free(struct kc_recorder *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < KC_EVENTS_IN_FLIGHT; i++) {
		if (r->flying[i].key)
			kc_async_cancel(r->c, r->flying[i].a);
		slot_clear(&r->flying[i]);
	}
	for (size_t i = 0; i < r->len; i++)
		free(r->queue[(r->head + i) % KC_EVENTS_QUEUE]);
	kc_correlator_free(r->k);
	json_decref(r->outbox);
	free(r->component);
	free(r->host);
	free(r);
}

void kc_recorder_stats(const struct kc_recorder *r, struct kc_recorder_stats *out)
{
	*out = r->stats;
}

static void sent(void *ud, int err, const struct kc_status *st, json_t *body);

/* Starts the write of the outbox entry e (key) in the free slot s. */
static int send_one(struct kc_recorder *r, struct sending *s, const char *key, json_t *e)
{
	const struct kc_resource *events = kc_resource_find("events");
	json_t *ev = json_object_get(e, "event"), *patch;
	const char *ns = kc_meta_str(ev, "namespace");
	char path[1024];
	int ret;

	s->patch = json_is_true(json_object_get(e, "patch"));
	s->key = strdup(key);
	s->name = strdup(kc_meta_str(ev, "name"));
	if (!s->key || !s->name) {
		slot_clear(s);
		return -ENOMEM;
	}
	if (s->patch) {
		patch = json_pack("{s:O,s:O,s:O}", "count", json_object_get(ev, "count"),
				  "lastTimestamp", json_object_get(ev, "lastTimestamp"), "message",
				  json_object_get(ev, "message"));
		ret = patch ? kc_patch_async(r->c, events, ns, s->name, NULL, KC_PATCH_STRATEGIC, patch,
					     sent, s, &s->a)
			    : -ENOMEM;
		json_decref(patch);
	} else {
		ret = kc_path(events, ns, NULL, NULL, NULL, path, sizeof(path));
		if (ret == 0)
			ret = kc_request_async_outcome(r->c, "POST", path, ev, sent, s, &s->a);
	}
	if (ret < 0) {
		slot_clear(s);
		return ret;
	}
	json_object_set_new(e, "flying", json_true());
	json_object_set_new(e, "dirty", json_false());
	return 0;
}

/* Writes entry key again from slot s, or forgets it when that fails. */
static void resend(struct kc_recorder *r, struct sending *s, const char *key, json_t *e)
{
	if (send_one(r, s, key, e) < 0) {
		r->stats.failed++;
		json_object_del(r->outbox, key);
	}
}

/* Fills the free slots from the queue. */
static void pump(struct kc_recorder *r)
{
	for (size_t i = 0; i < KC_EVENTS_IN_FLIGHT && r->len > 0; i++) {
		struct sending *s = &r->flying[i];

		while (!s->key && r->len > 0) {
			_cleanup_free_ char *key = r->queue[r->head];
			json_t *e = json_object_get(r->outbox, key);

			r->head = (r->head + 1) % KC_EVENTS_QUEUE;
			r->len--;
			if (e && !json_is_true(json_object_get(e, "flying")))
				resend(r, s, key, e);
		}
	}
}

/* A write answered: done with the entry, or its next write (the repeats
 * that came meanwhile; a create when a patched Event has expired). */
static void sent(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct sending *s = ud;
	struct kc_recorder *r = s->r;
	_cleanup_free_ char *key = TAKE_PTR(s->key), *name = TAKE_PTR(s->name);
	json_t *e = json_object_get(r->outbox, key);
	bool ok = err == 0 || (err == -EEXIST && !s->patch);
	bool dirty, same;

	(void)st;
	(void)body;
	s->a = NULL;
	if (!e) {
		pump(r);
		return;
	}
	dirty = json_is_true(json_object_get(e, "dirty"));
	same = streq(kc_meta_str(json_object_get(e, "event"), "name"), name);
	json_object_set_new(e, "flying", json_false());
	if (ok)
		r->stats.written++;
	if (err == -ENOENT && s->patch) {
		json_object_set_new(e, "patch", json_false()); /* expired: create it again */
		resend(r, s, key, e);
	} else if (!ok && !dirty) {
		r->stats.failed++;
		json_object_del(r->outbox, key);
	} else if (dirty) {
		if (!ok)
			r->stats.failed++;
		json_object_set_new(e, "patch", json_boolean(same && (ok || s->patch)));
		resend(r, s, key, e);
	} else {
		json_object_del(r->outbox, key);
	}
	pump(r);
}

/* Puts ev (stolen) in the outbox under key: a new entry at the end of the
 * queue, or the newer state of one waiting or being written. */
static void enqueue(struct kc_recorder *r, const char *key, json_t *ev, bool patch)
{
	json_t *e = json_object_get(r->outbox, key);
	char *k;

	if (e) {
		const char *before = kc_meta_str(json_object_get(e, "event"), "name");

		if (json_is_true(json_object_get(e, "flying")))
			json_object_set_new(e, "dirty", json_true());
		else if (!streq(before, kc_meta_str(ev, "name")))
			json_object_set_new(e, "patch", json_boolean(patch));
		json_object_set_new(e, "event", ev);
		return;
	}
	if (r->len == KC_EVENTS_QUEUE || !(k = strdup(key))) {
		r->stats.overflow++;
		json_decref(ev);
		return;
	}
	if (json_object_set_new(r->outbox, key, json_pack("{s:o,s:b}", "event", ev, "patch", patch)) < 0) {
		r->stats.overflow++;
		free(k);
		return;
	}
	r->queue[(r->head + r->len++) % KC_EVENTS_QUEUE] = k;
}

static json_t *involved_object(const struct kc_resource *res, json_t *obj)
{
	char api_version[128];
	json_t *ref;
	const char *fields[] = { "namespace", "name", "uid", "resourceVersion" };

	if (res->group[0])
		snprintf(api_version, sizeof(api_version), "%s/%s", res->group, res->version);
	else
		snprintf(api_version, sizeof(api_version), "%s", res->version);
	ref = json_pack("{s:s,s:s}", "kind", res->kind, "apiVersion", api_version);
	for (size_t i = 0; ref && i < ARRAY_SIZE(fields); i++) {
		const char *v = kc_meta_str(obj, fields[i]);

		if (v && *v)
			json_object_set_new(ref, fields[i], json_string(v));
	}
	return ref;
}

/* A new Event (count 1) about ref (stolen), named <object>.<hex ns>. */
static json_t *new_event(struct kc_recorder *r, json_t *ref, const char *type, const char *reason,
			 const char *msg)
{
	const char *ns = json_string_value(json_object_get(ref, "namespace"));
	struct timespec ts;
	char name[400], now[32];
	json_t *source;

	clock_gettime(CLOCK_REALTIME, &ts);
	kc_timestamp(0, now);
	snprintf(name, sizeof(name), "%s.%llx", json_string_value(json_object_get(ref, "name")),
		 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
	source = json_pack("{s:s}", "component", r->component);
	if (source && r->host)
		json_object_set_new(source, "host", json_string(r->host));
	return json_pack("{s:s,s:s,s:{s:s,s:s},s:o,s:s,s:s,s:s,s:o,s:s,s:s,s:I,s:s,s:s}",
			 "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
			 ns && *ns ? ns : "default", "involvedObject", ref, "type", type, "reason",
			 reason, "message", msg, "source", source, "firstTimestamp", now,
			 "lastTimestamp", now, "count", (json_int_t)1, "reportingComponent",
			 r->component, "reportingInstance", r->host ? r->host : "");
}

int kc_event(struct kc_recorder *r, const struct kc_resource *res, json_t *obj,
	     const char *type, const char *reason, const char *fmt, ...)
{
	_cleanup_free_ char *key = NULL;
	char msg[KC_EVENT_MESSAGE_MAX];
	bool combined;
	json_t *ev;
	va_list ap;
	int kind;

	if (!kc_meta_str(obj, "name"))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev = new_event(r, involved_object(res, obj), type, reason, msg);
	if (!ev)
		return -ENOMEM;
	kind = kc_correlate(r->k, ev, (double)now_ns() / 1e9, &key);
	if (kind < 0) {
		json_decref(ev);
		return kind;
	}
	r->stats.recorded++;
	combined = strncmp(json_string_value(json_object_get(ev, "message")), KC_AGGREGATE_PREFIX,
			   strlen(KC_AGGREGATE_PREFIX)) == 0;
	r->stats.aggregated += combined;
	if (kind == KC_EVENT_SKIP) {
		r->stats.spam++;
		json_decref(ev);
		return 0;
	}
	enqueue(r, key, ev, kind == KC_EVENT_PATCH);
	pump(r);
	return 0;
}

int kc_recorder_flush(struct kc_recorder *r, int timeout_ms)
{
	unsigned long long deadline = now_ns() + (unsigned long long)timeout_ms * 1000000ULL;

	while (json_object_size(r->outbox) > 0) {
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		kc_client_run_once(r->c, 50);
	}
	return 0;
}
