/* The event recorder against a real skiff-server: a repeated event is one
 * Event with count N, its firstTimestamp kept; a new message, reason or
 * object is a new Event; an Event deleted meanwhile is created again. */
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_events.h"
#include "tests/harness/test.h"
#include "tests/lib/kube_test_server.h"
#include "lib/util.h"

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
	items = events_in(c, ns);
	CHECK_INT_EQ(json_array_size(items), 3);
	CHECK_INT_EQ(count_of(find_event(items, "Synced", "synced 3 keys")), 6);
	json_decref(items);

	/* A cluster-scoped object's events go to "default". */
	json_t *node = json_pack("{s:{s:s,s:s}}", "metadata", "name", test_unique("node"), "uid",
				 "0b6a1f9e-0000-4000-8000-00000000000a");
	CHECK_OK(kc_event(rec, kc_resource_find("nodes"), node, "Normal", "Ready", "node ready"));
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
