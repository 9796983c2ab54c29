/* Informers against a real skiff-server: adds/updates/deletes in order, a
 * cache equal to a fresh list, indexes, a watch that survives the server's
 * restart without loss or duplicates, and a relist after 410 Gone that
 * delivers the deletes of objects removed meanwhile. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_informer.h"
#include "tests/harness/test.h"
#include "tests/lib/kube_test_server.h"
#include "lib/util.h"

/* What the handlers saw, as "add a,update a,delete b". */
struct rec {
	char log[4096];
	int n;
};

static void rec_add(struct rec *r, const char *what, json_t *obj)
{
	size_t len = strlen(r->log);

	snprintf(r->log + len, sizeof(r->log) - len, "%s%s %s", len ? "," : "", what,
		 kc_meta_str(obj, "name"));
	r->n++;
}

static void on_add(void *ud, json_t *obj)
{
	rec_add(ud, "add", obj);
}

static void on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
	/* An update always carries a newer object than the one it replaces. */
	CHECK(atoll(kc_meta_str(new_obj, "resourceVersion")) >
	      atoll(kc_meta_str(old_obj, "resourceVersion")));
	rec_add(ud, "update", new_obj);
}

static void on_delete(void *ud, json_t *obj)
{
	rec_add(ud, "delete", obj);
}

static const struct kc_resource *cm_res(void)
{
	return kc_resource_find("configmaps");
}

static void cm_create(struct kc_client *c, const char *ns, const char *name, const char *grp)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s}}", "apiVersion", "v1", "kind",
			      "ConfigMap", "metadata", "name", name, "labels", "grp", grp, "data",
			      "k", "0");

	CHECK_OK(kc_create(c, cm_res(), ns, o, NULL));
	json_decref(o);
}

static void cm_set(struct kc_client *c, const char *ns, const char *name, const char *value)
{
	json_t *p = json_pack("{s:{s:s}}", "data", "k", value);

	CHECK_OK(kc_patch(c, cm_res(), ns, name, NULL, KC_PATCH_MERGE, p, NULL));
	json_decref(p);
}

static void cm_delete(struct kc_client *c, const char *ns, const char *name)
{
	CHECK_OK(kc_delete(c, cm_res(), ns, name, NULL, NULL));
}

static void make_namespace(struct kc_client *c, const char *ns)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
			      "metadata", "name", ns);

	CHECK_OK(kc_create(c, kc_resource_find("namespaces"), NULL, o, NULL));
	json_decref(o);
}

struct wait_n {
	struct rec *rec;
	int n;
	struct kc_informer *inf;
};

static int rec_has(void *ud)
{
	struct wait_n *w = ud;

	return w->rec->n >= w->n;
}

static int is_synced(void *ud)
{
	return kc_informer_synced(ud);
}

/* Runs c until the recorder has n entries; fails the test otherwise. */
static void wait_events(struct kc_client *c, struct rec *r, int n)
{
	struct wait_n w = { r, n, NULL };

	if (!test_run_until(c, rec_has, &w, 15000))
		test_fail(__FILE__, __LINE__, "waited for %d events, have %d: %s", n, r->n, r->log);
}

/* The cache holds exactly what a fresh list returns, at the same
 * resourceVersions. */
static void check_cache_equals_list(struct kc_client *c, struct kc_informer *inf,
				    const char *ns)
{
	json_t *items, *obj;
	char key[512];
	size_t i;

	CHECK_OK(kc_list_all(c, cm_res(), ns, NULL, &items, NULL));
	CHECK_INT_EQ(kc_informer_count(inf), json_array_size(items));
	json_array_foreach(items, i, obj) {
		CHECK_OK(kc_object_key(obj, key, sizeof(key)));
		CHECK(kc_informer_has(inf, key));
		CHECK_STR_EQ(kc_informer_version(inf, key), kc_meta_str(obj, "resourceVersion"));
		if (json_object_size(kc_informer_items(inf))) /* not versions_only */
			CHECK(kc_informer_get(inf, key) != NULL);
	}
	json_decref(items);
}

/* data.k of the cached ns/name. */
static const char *cm_value(struct kc_informer *inf, const char *ns, const char *name)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return json_string_value(json_object_get(json_object_get(kc_informer_get(inf, key), "data"), "k"));
}

/* An informer on ns in pages of 2; versions: with versions_only and
 * first_list_by_page (skiff-agent's). */
static struct kc_informer *start_informer_with(struct kc_client *c, const char *ns,
					       struct rec *r, bool versions)
{
	struct kc_informer_opts o = { .namespace = ns, .page_size = 2, .backoff_initial_ms = 20,
				      .backoff_max_ms = 200, .versions_only = versions,
				      .first_list_by_page = versions };
	struct kc_informer *inf;

	CHECK_OK(kc_informer_new(c, cm_res(), &o, &inf));
	if (versions)
		CHECK_INT_EQ(kc_informer_add_index(inf, "ns", kc_index_namespace), -EINVAL);
	CHECK_OK(kc_informer_add_handlers(inf, &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_delete, .ud = r }));
	CHECK_OK(kc_informer_start(inf));
	CHECK(test_run_until(c, is_synced, inf, 15000));
	return inf;
}

static struct kc_informer *start_informer(struct kc_client *c, const char *ns, struct rec *r)
{
	return start_informer_with(c, ns, r, false);
}

TEST(informer_delivers_changes_in_order_and_matches_a_list)
{
	struct test_server s = { 0 };
	const char *ns = test_unique("ns");
	struct rec r = { 0 };
	struct kc_informer *inf;
	struct kc_informer_stats st;
	struct kc_client *c;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	cm_create(c, ns, "a", "x");
	cm_create(c, ns, "b", "x");
	cm_create(c, ns, "c", "y");
	inf = start_informer(c, ns, &r); /* pages of 2: two list requests */
	CHECK_STR_EQ(r.log, "add a,add b,add c");
	check_cache_equals_list(c, inf, ns);

	cm_set(c, ns, "a", "1");
	cm_delete(c, ns, "b");
	cm_create(c, ns, "d", "y");
	cm_set(c, ns, "a", "2");
	wait_events(c, &r, 7);
	CHECK_STR_EQ(r.log, "add a,add b,add c,update a,delete b,add d,update a");
	CHECK_STR_EQ(cm_value(inf, ns, "a"), "2");
	check_cache_equals_list(c, inf, ns);
	kc_informer_get_stats(inf, &st);
	CHECK_INT_EQ(st.lists, 1);
	CHECK_INT_EQ(st.events, 4);
	kc_informer_free(inf);
	kc_client_free(c);
}

static json_t *pod(const char *name, const char *node, const char *owner_uid, const char *app)
{
	json_t *p = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:[{s:s,s:s}]}}", "apiVersion", "v1",
			      "kind", "Pod", "metadata", "name", name, "labels", "app", app, "spec",
			      "containers", "name", "c", "image", "busybox");

	if (node)
		json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
	if (owner_uid)
		json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
				    json_pack("[{s:s,s:s,s:s,s:s}]", "apiVersion", "apps/v1", "kind",
					      "ReplicaSet", "name", "rs", "uid", owner_uid));
	return p;
}

/* The sorted names of the objects an index lookup returns, "a,b". */
static const char *names_by(struct kc_informer *inf, const char *index, const char *value)
{
	static char buf[512];
	json_t *arr, *o;
	size_t i;
	const char *names[32];
	size_t n = 0;

	CHECK_OK(kc_informer_by_index(inf, index, value, &arr));
	json_array_foreach(arr, i, o) {
		if (n < 32)
			names[n++] = kc_meta_str(o, "name");
	}
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(names[a], names[b]) > 0) {
				const char *t = names[a];
				names[a] = names[b];
				names[b] = t;
			}
	buf[0] = '\0';
	for (size_t k = 0; k < n; k++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", k ? "," : "", names[k]);
	json_decref(arr);
	return buf;
}

TEST(informer_indexes_by_node_owner_and_label)
{
	struct test_server s = { 0 };
	const struct kc_resource *pods = kc_resource_find("pods");
	const char *ns = test_unique("ns");
	const char *uid = "6a0e3c1c-0000-4000-8000-000000000001";
	struct kc_informer_opts o = { .namespace = ns };
	struct kc_informer *inf;
	struct kc_client *c;
	struct rec r = { 0 };
	json_t *p, *keys;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	p = pod("p1", "n1", uid, "web");
	CHECK_OK(kc_create(c, pods, ns, p, NULL));
	json_decref(p);
	p = pod("p2", "n1", NULL, "web");
	CHECK_OK(kc_create(c, pods, ns, p, NULL));
	json_decref(p);
	CHECK_OK(kc_informer_new(c, pods, &o, &inf));
	CHECK_OK(kc_informer_add_index(inf, "node", kc_index_node_name));
	CHECK_INT_EQ(kc_informer_add_index(inf, "node", kc_index_node_name), -EEXIST);
	CHECK_OK(kc_informer_add_handlers(inf, &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_delete, .ud = &r }));
	CHECK_OK(kc_informer_start(inf));
	CHECK(test_run_until(c, is_synced, inf, 15000));
	/* Indexes added after the cache is full index it at once. */
	CHECK_OK(kc_informer_add_index(inf, "owner", kc_index_owner_uid));
	CHECK_OK(kc_informer_add_index(inf, "label", kc_index_labels));
	CHECK_STR_EQ(names_by(inf, "node", "n1"), "p1,p2");
	CHECK_STR_EQ(names_by(inf, "owner", uid), "p1");
	CHECK_STR_EQ(names_by(inf, "label", "app=web"), "p1,p2");
	CHECK_INT_EQ(kc_informer_by_index(inf, "nope", "x", &keys), -ENOENT);

	/* Changes move objects between index values. */
	p = pod("p3", "n2", uid, "db");
	CHECK_OK(kc_create(c, pods, ns, p, NULL));
	json_decref(p);
	p = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "app", "db");
	CHECK_OK(kc_patch(c, pods, ns, "p2", NULL, KC_PATCH_MERGE, p, NULL));
	json_decref(p);
	CHECK_OK(kc_delete(c, pods, ns, "p1", &(struct kc_delete_opts){ .has_grace_period = true },
			   NULL));
	wait_events(c, &r, 5);
	CHECK_STR_EQ(r.log, "add p1,add p2,add p3,update p2,delete p1");
	CHECK_STR_EQ(names_by(inf, "node", "n1"), "p2");
	CHECK_STR_EQ(names_by(inf, "node", "n2"), "p3");
	CHECK_STR_EQ(names_by(inf, "owner", uid), "p3");
	CHECK_STR_EQ(names_by(inf, "label", "app=web"), "");
	CHECK_STR_EQ(names_by(inf, "label", "app=db"), "p2,p3");
	CHECK_OK(kc_informer_keys_by_index(inf, "node", "n2", &keys));
	CHECK_INT_EQ(json_array_size(keys), 1);
	CHECK_STR_CONTAINS(json_string_value(json_array_get(keys, 0)), "/p3");
	json_decref(keys);
	kc_informer_free(inf);
	kc_client_free(c);
}

TEST(informer_resumes_after_a_server_restart_without_loss_or_duplicates)
{
	struct test_server s = { .extra = "--compaction-interval 0" };
	const char *ns = test_unique("ns");
	struct kc_informer_stats st;
	struct kc_informer *inf;
	struct kc_client *c, *w;
	struct rec r = { 0 };

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	cm_create(c, ns, "x1", "a");
	inf = start_informer(c, ns, &r);
	cm_create(c, ns, "x2", "a");
	wait_events(c, &r, 2);

	/* The server dies under the open watch, and comes back. */
	test_server_stop(&s, SIGKILL);
	for (int i = 0; i < 5; i++)
		kc_client_run_once(c, 20); /* the watch fails; retries are refused */
	test_server_start(&s);
	w = test_client(&s);
	cm_set(w, ns, "x1", "1");
	cm_delete(w, ns, "x2");
	cm_create(w, ns, "x3", "b");
	wait_events(c, &r, 5);
	for (int i = 0; i < 10; i++)
		kc_client_run_once(c, 20); /* nothing more must come */
	CHECK_STR_EQ(r.log, "add x1,add x2,update x1,delete x2,add x3");
	kc_informer_get_stats(inf, &st);
	CHECK_INT_EQ(st.lists, 1);    /* resumed from the last version, no relist */
	CHECK(st.watches >= 2);
	CHECK(st.failures >= 1);
	check_cache_equals_list(w, inf, ns);
	kc_informer_free(inf);
	kc_client_free(w);
	kc_client_free(c);
}

struct expired {
	int done;
	bool gone;
};

static void probe_event(void *ud, const char *type, json_t *obj)
{
	struct expired *e = ud;

	if (streq(type, "ERROR") && json_integer_value(json_object_get(obj, "code")) == 410)
		e->gone = true;
}

static void probe_done(void *ud, int err, const struct kc_status *st)
{
	struct expired *e = ud;

	(void)st;
	if (err == -ERANGE)
		e->gone = true;
	e->done = 1;
}

static int probe_finished(void *ud)
{
	struct expired *e = ud;

	return e->done || e->gone;
}

/* Whether a watch from rv is answered with 410 Gone (history compacted). */
static bool rv_expired(struct kc_client *c, const char *ns, const char *rv)
{
	struct kc_watch_opts o = { .resource_version = rv, .timeout_seconds = 1 };
	struct expired e = { 0 };
	struct kc_watch *wt;

	CHECK_OK(kc_watch_start(c, cm_res(), ns, &o, probe_event, probe_done, &e, &wt));
	test_run_until(c, probe_finished, &e, 5000);
	if (!e.done)
		kc_watch_stop(c, wt);
	return e.gone;
}

/* versions: the cache keeps resourceVersions only (skiff-agent's
 * informers); the handlers see the same events, a vanished object's
 * delete with its namespace and name. */
static void relist_after_410(bool versions)
{
	/* no controllers: the root-CA publisher's kube-root-ca.crt would join
	 * the namespace's ConfigMaps at any moment */
	struct test_server s = { .extra = "--compaction-interval 1 --controllers none" };
	const char *ns = test_unique("ns");
	struct kc_informer_stats st;
	struct kc_informer *inf;
	struct kc_client *c, *w;
	struct rec r = { 0 };
	char key_y3[256];
	char *rv;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	cm_create(c, ns, "y1", "a");
	cm_create(c, ns, "y2", "a");
	cm_create(c, ns, "y3", "a");
	inf = start_informer_with(c, ns, &r, versions);
	snprintf(key_y3, sizeof(key_y3), "%s/y3", ns);
	rv = strdup(kc_informer_resource_version(inf));

	/* While the informer is cut off, objects change and the history
	 * behind its resourceVersion is compacted away. */
	test_server_stop(&s, SIGTERM);
	test_server_start(&s);
	w = test_client(&s);
	cm_delete(w, ns, "y2");
	cm_set(w, ns, "y3", "changed");
	cm_create(w, ns, "y4", "b");
	for (int i = 0; i < 150 && !rv_expired(w, ns, rv); i++)
		kc_client_run_once(w, 100);
	CHECK(rv_expired(w, ns, rv));

	wait_events(c, &r, 6);
	for (int i = 0; i < 10; i++)
		kc_client_run_once(c, 20);
	CHECK_STR_EQ(r.log, "add y1,add y2,add y3,delete y2,update y3,add y4");
	if (versions) /* a resourceVersion, not the object */
		CHECK(!kc_informer_get(inf, key_y3) && kc_informer_has(inf, key_y3));
	else
		CHECK_STR_EQ(cm_value(inf, ns, "y3"), "changed");
	kc_informer_get_stats(inf, &st);
	CHECK_INT_EQ(st.lists, 2);
	CHECK(st.expired >= 1);
	check_cache_equals_list(w, inf, ns);
	/* And it watches again from the new list: later changes arrive. */
	cm_set(w, ns, "y1", "later");
	wait_events(c, &r, 7);
	CHECK_STR_EQ(strrchr(r.log, ',') + 1, "update y1");
	free(rv);
	kc_informer_free(inf);
	kc_client_free(w);
	kc_client_free(c);
}

TEST(informer_relists_after_410_and_delivers_what_vanished)
{
	relist_after_410(false);
}

TEST(informer_keeping_versions_only_delivers_the_same_after_a_410)
{
	relist_after_410(true);
}
