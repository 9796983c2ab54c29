/* The correlator alone (client-go's EventCorrelator rules: repeats,
 * aggregation of similar events, the spam filter), then the recorder
 * against a real skiff-server: a repeated event is one Event with count
 * N, its firstTimestamp kept; a new message, reason or object is a new
 * Event; an Event deleted meanwhile is created again; recording does not
 * wait for the server. */
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_events.h"
#include "tests/harness/test.h"
#include "tests/lib/kube_test_server.h"
#include "lib/util.h"

/* An Event as kc_event builds it, about ConfigMap ns/name. */
static json_t *event_of(const char *name, const char *reason, const char *msg, int serial)
{
	char evname[300];

	snprintf(evname, sizeof(evname), "%s.%x", name, serial);
	return json_pack("{s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,"
			 "s:s}",
			 "metadata", "name", evname, "namespace", "default", "involvedObject", "kind",
			 "ConfigMap", "apiVersion", "v1", "namespace", "default", "name", name, "uid",
			 "0b6a1f9e-0000-4000-8000-000000000001", "type", "Normal", "reason", reason,
			 "message", msg, "source", "component", "test", "firstTimestamp",
			 "2026-12-07T08:00:00Z", "lastTimestamp", "2026-12-07T08:00:00Z", "count", 1,
			 "reportingComponent", "test");
}

/* event_of correlated at now: its kind must be want. */
static json_t *correlated(struct kc_correlator *k, const char *name, const char *reason,
			  const char *msg, int serial, double now, int want)
{
	json_t *ev = event_of(name, reason, msg, serial);

	CHECK_INT_EQ(kc_correlate(k, ev, now, NULL), want);
	return ev;
}

static const char *str_of(json_t *ev, const char *field)
{
	return json_string_value(json_object_get(ev, field));
}

TEST(correlator_turns_repeats_into_a_count_on_the_first_event)
{
	struct kc_correlator *k;
	char *key1, *key2;
	json_t *ev;

	CHECK_OK(kc_correlator_new(&k));
	ev = event_of("web", "Synced", "synced", 1);
	CHECK_INT_EQ(kc_correlate(k, ev, 100, &key1), KC_EVENT_CREATE);
	json_decref(ev);
	ev = event_of("web", "Synced", "synced", 2);
	json_object_set_new(ev, "firstTimestamp", json_string("2026-12-07T08:00:05Z"));
	CHECK_INT_EQ(kc_correlate(k, ev, 105, NULL), KC_EVENT_PATCH);
	json_decref(ev);
	ev = event_of("web", "Synced", "synced", 3);
	CHECK_INT_EQ(kc_correlate(k, ev, 110, &key2), KC_EVENT_PATCH);
	CHECK_STR_EQ(key1, key2);
	CHECK_STR_EQ(kc_meta_str(ev, "name"), "web.1"); /* the first Event's */
	CHECK_INT_EQ(json_integer_value(json_object_get(ev, "count")), 3);
	CHECK_STR_EQ(str_of(ev, "firstTimestamp"), "2026-12-07T08:00:00Z");
	json_decref(ev);
	/* Another reason is another Event. */
	ev = correlated(k, "web", "Failed", "synced", 4, 111, KC_EVENT_CREATE);
	CHECK_STR_EQ(kc_meta_str(ev, "name"), "web.4");
	json_decref(ev);
	free(key1);
	free(key2);
	kc_correlator_free(k);
}

TEST(correlator_combines_the_tenth_similar_message_within_ten_minutes)
{
	struct kc_correlator *k;
	char msg[64];
	json_t *ev;

	CHECK_OK(kc_correlator_new(&k));
	for (int i = 1; i <= 9; i++) {
		snprintf(msg, sizeof(msg), "Created pod: web-%d", i);
		ev = correlated(k, "web", "SuccessfulCreate", msg, i, 100 + i, KC_EVENT_CREATE);
		CHECK_STR_EQ(str_of(ev, "message"), msg);
		json_decref(ev);
	}
	ev = correlated(k, "web", "SuccessfulCreate", "Created pod: web-10", 10, 110, KC_EVENT_CREATE);
	CHECK_STR_EQ(str_of(ev, "message"), "(combined from similar events): Created pod: web-10");
	CHECK_STR_EQ(kc_meta_str(ev, "name"), "web.a");
	json_decref(ev);
	/* The next ones repeat the combined Event, with their message. */
	ev = correlated(k, "web", "SuccessfulCreate", "Created pod: web-11", 11, 111, KC_EVENT_PATCH);
	CHECK_STR_EQ(kc_meta_str(ev, "name"), "web.a");
	CHECK_INT_EQ(json_integer_value(json_object_get(ev, "count")), 2);
	CHECK_STR_EQ(str_of(ev, "message"), "(combined from similar events): Created pod: web-11");
	json_decref(ev);
	/* Another type, reason or object is another group. */
	ev = correlated(k, "db", "SuccessfulCreate", "Created pod: db-1", 12, 112, KC_EVENT_CREATE);
	CHECK_STR_EQ(str_of(ev, "message"), "Created pod: db-1");
	json_decref(ev);
	/* More than ten minutes after the group's last event: a fresh group. */
	ev = correlated(k, "web", "SuccessfulCreate", "Created pod: web-12", 13, 111 + 601, KC_EVENT_CREATE);
	CHECK_STR_EQ(str_of(ev, "message"), "Created pod: web-12");
	json_decref(ev);
	kc_correlator_free(k);
}

TEST(correlator_spam_filter_allows_25_per_object_then_one_per_5_minutes)
{
	struct kc_correlator *k;
	char reason[32];
	json_t *ev;
	int allowed = 0;

	CHECK_OK(kc_correlator_new(&k));
	/* Reasons differ (no aggregation): the bucket is per source + object. */
	for (int i = 0; i < 30; i++) {
		snprintf(reason, sizeof(reason), "Reason%d", i);
		ev = event_of("web", reason, "m", i);
		allowed += kc_correlate(k, ev, 1000, NULL) != KC_EVENT_SKIP;
		json_decref(ev);
	}
	CHECK_INT_EQ(allowed, 25);
	ev = event_of("db", "Reason0", "m", 100); /* another object: its own bucket */
	CHECK_INT_EQ(kc_correlate(k, ev, 1000, NULL), KC_EVENT_CREATE);
	json_decref(ev);
	ev = event_of("web", "Reason0", "m", 101); /* a repeat is filtered too */
	CHECK_INT_EQ(kc_correlate(k, ev, 1100, NULL), KC_EVENT_SKIP);
	json_decref(ev);
	ev = event_of("web", "Late", "m", 102); /* 5 minutes refill one token */
	CHECK_INT_EQ(kc_correlate(k, ev, 1300, NULL), KC_EVENT_CREATE);
	json_decref(ev);
	ev = correlated(k, "web", "Later", "m", 103, 1301, KC_EVENT_SKIP);
	json_decref(ev);
	kc_correlator_free(k);
}

static json_t *events_in(struct kc_client *c, const char *ns)
{
	json_t *items;

	CHECK_OK(kc_list_all(c, kc_resource_find("events"), ns, NULL, &items, NULL));
	return items;
}

static json_t *find_event(json_t *items, const char *reason, const char *msg)
{
	json_t *ev;
	size_t i;

	json_array_foreach(items, i, ev) {
		if (streq(json_string_value(json_object_get(ev, "reason")), reason) &&
		    streq(json_string_value(json_object_get(ev, "message")), msg))
			return ev;
	}
	return NULL;
}

static long long count_of(json_t *ev)
{
	return json_integer_value(json_object_get(ev, "count"));
}

TEST(recorder_aggregates_repeats_into_a_count)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	const char *ns = test_unique("ns");
	struct kc_recorder *rec;
	struct kc_client *c;
	json_t *obj, *items, *ev, *nsobj;

	test_server_start(&s);
	c = test_client(&s);
	nsobj = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
			  "name", ns);
	CHECK_OK(kc_create(c, kc_resource_find("namespaces"), NULL, nsobj, NULL));
	json_decref(nsobj);
	obj = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
			"name", "web");
	CHECK_OK(kc_create(c, cm, ns, obj, NULL));
	json_decref(obj);
	CHECK_OK(kc_get(c, cm, ns, "web", &obj));
	CHECK_OK(kc_recorder_new(c, "test-controller", "node-1", &rec));

	for (int i = 0; i < 5; i++)
		CHECK_OK(kc_event(rec, cm, obj, "Normal", "Synced", "synced %d keys", 3));
	CHECK_OK(kc_event(rec, cm, obj, "Normal", "Synced", "synced %d keys", 4));
	CHECK_OK(kc_event(rec, cm, obj, "Warning", "Failed", "synced %d keys", 3));
	CHECK_OK(kc_recorder_flush(rec, 10000));

	items = events_in(c, ns);
	CHECK_INT_EQ(json_array_size(items), 3);
	ev = find_event(items, "Synced", "synced 3 keys");
	CHECK(ev != NULL);
	CHECK_INT_EQ(count_of(ev), 5);
	CHECK_STR_EQ(json_string_value(json_object_get(ev, "type")), "Normal");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(ev, "source"), "component")),
		     "test-controller");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(ev, "source"), "host")),
		     "node-1");
	json_t *io = json_object_get(ev, "involvedObject");
	CHECK_STR_EQ(json_string_value(json_object_get(io, "kind")), "ConfigMap");
	CHECK_STR_EQ(json_string_value(json_object_get(io, "name")), "web");
	CHECK_STR_EQ(json_string_value(json_object_get(io, "uid")), kc_meta_str(obj, "uid"));
	CHECK(strcmp(json_string_value(json_object_get(ev, "lastTimestamp")),
		     json_string_value(json_object_get(ev, "firstTimestamp"))) >= 0);
	CHECK_STR_CONTAINS(kc_meta_str(ev, "name"), "web.");
	CHECK_INT_EQ(count_of(find_event(items, "Synced", "synced 4 keys")), 1);
	CHECK_INT_EQ(count_of(find_event(items, "Failed", "synced 3 keys")), 1);

	/* The Event expires (deleted); the next repeat makes it again. */
	CHECK_OK(kc_delete(c, kc_resource_find("events"), ns, kc_meta_str(ev, "name"), NULL, NULL));
	json_decref(items);
	CHECK_OK(kc_event(rec, cm, obj, "Normal", "Synced", "synced %d keys", 3));
	CHECK_OK(kc_recorder_flush(rec, 10000));
	items = events_in(c, ns);
	CHECK_INT_EQ(json_array_size(items), 3);
	CHECK_INT_EQ(count_of(find_event(items, "Synced", "synced 3 keys")), 6);
	json_decref(items);

	/* A cluster-scoped object's events go to "default". */
	json_t *node = json_pack("{s:{s:s,s:s}}", "metadata", "name", test_unique("node"), "uid",
				 "0b6a1f9e-0000-4000-8000-00000000000a");
	CHECK_OK(kc_event(rec, kc_resource_find("nodes"), node, "Normal", "Ready", "node ready"));
	CHECK_OK(kc_recorder_flush(rec, 10000));
	items = events_in(c, "default");
	ev = find_event(items, "Ready", "node ready");
	CHECK(ev != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(ev, "involvedObject"), "kind")),
		     "Node");
	json_decref(items);
	json_decref(node);
	json_t *nameless = json_object();
	CHECK_INT_EQ(kc_event(rec, cm, nameless, "Normal", "X", "no name"), -EINVAL);
	json_decref(nameless);

	kc_recorder_free(rec);
	json_decref(obj);
	kc_client_free(c);
}

/* kc_event returns before the server has the Event; a burst of repeats,
 * of similar events and of spam ends, once sent, as client-go's recorder
 * leaves it: one Event with the full count, nine plain ones and one
 * combined, 25 events of one object and no more. */
static json_t *configmap(struct kc_client *c, const char *prefix)
{
	const struct kc_resource *cm = kc_resource_find("configmaps");
	const char *name = test_unique(prefix);
	json_t *obj = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
				"metadata", "name", name);

	CHECK_OK(kc_create(c, cm, "default", obj, NULL));
	json_decref(obj);
	CHECK_OK(kc_get(c, cm, "default", name, &obj));
	return obj;
}

/* The Events in default about obj (by uid, as kubectl describe asks). */
static json_t *events_about(struct kc_client *c, json_t *obj)
{
	char sel[200];
	json_t *items;

	snprintf(sel, sizeof(sel), "involvedObject.uid=%s", kc_meta_str(obj, "uid"));
	CHECK_OK(kc_list_all(c, kc_resource_find("events"), "default",
			     &(struct kc_list_opts){ .field_selector = sel }, &items, NULL));
	return items;
}

TEST(recorder_sends_without_waiting_and_folds_bursts)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	struct kc_recorder_stats st;
	struct kc_recorder *rec;
	struct kc_client *c;
	json_t *a, *b, *items, *ev;
	unsigned long before;

	test_server_start(&s);
	c = test_client(&s);
	a = configmap(c, "spammy");
	b = configmap(c, "similar");
	CHECK_OK(kc_recorder_new(c, "burst-controller", NULL, &rec));

	before = kc_client_requests(c);
	for (int i = 0; i < 20; i++)
		CHECK_OK(kc_event(rec, cm, a, "Normal", "Synced", "synced"));
	for (int i = 0; i < 10; i++)
		CHECK_OK(kc_event(rec, cm, a, "Warning", "Failed", "failed %d", i % 2));
	for (int i = 1; i <= 12; i++)
		CHECK_OK(kc_event(rec, cm, b, "Normal", "SuccessfulCreate", "Created pod: p-%d", i));
	/* Nothing answered yet: the writes wait for the client's loop. */
	kc_recorder_stats(rec, &st);
	CHECK_INT_EQ(st.written, 0);
	CHECK_INT_EQ(st.recorded, 42);
	CHECK_OK(kc_recorder_flush(rec, 10000));
	kc_recorder_stats(rec, &st);
	CHECK_INT_EQ(st.aggregated, 3);
	CHECK_INT_EQ(st.spam, 5); /* a's bucket: 25 of its 30 pass */
	CHECK_INT_EQ(st.failed, 0);
	CHECK(st.written < 20); /* repeats behind a write in flight were folded */
	CHECK_INT_EQ(kc_client_requests(c) - before, st.written);

	items = events_about(c, a);
	CHECK_INT_EQ(json_array_size(items), 3);
	CHECK_INT_EQ(count_of(find_event(items, "Synced", "synced")), 20);
	CHECK_INT_EQ(count_of(find_event(items, "Failed", "failed 0")) +
			     count_of(find_event(items, "Failed", "failed 1")), 5);
	json_decref(items);

	items = events_about(c, b);
	CHECK_INT_EQ(json_array_size(items), 10);
	CHECK_INT_EQ(count_of(find_event(items, "SuccessfulCreate", "Created pod: p-9")), 1);
	ev = find_event(items, "SuccessfulCreate",
			"(combined from similar events): Created pod: p-12");
	CHECK(ev != NULL);
	CHECK_INT_EQ(count_of(ev), 3);
	json_decref(items);

	kc_recorder_free(rec);
	json_decref(a);
	json_decref(b);
	kc_client_free(c);
}
