/* The object layer's entries (control/api_obj.h), called without any
 * HTTP request the way the in-process controllers will, against a real
 * SQLite store: admission, defaulting and allocation on create, the
 * conflict of a stale update, deletes (propagation policies become the
 * garbage collector's finalizers; a namespace terminates until
 * finalized), status writes. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "control/api_internal.h"
#include "tests/harness/test.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

struct env {
	struct api_server srv;
	const struct api_resource *ns, *pods, *svcs, *cms, *deploys, *nodes;
};

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
	return j;
}

/* A server context over a fresh store, with the "default" namespace
 * created through the entries. */
static void env_open(struct env *t)
{
	char url[600];
	json_t *out = NULL, *ns;
	struct api_err e = { 0 };

	memset(t, 0, sizeof(*t));
	snprintf(url, sizeof(url), "sqlite://%s/store.db", test_tmpdir());
	CHECK_OK(store_open(url, &t->srv.store));
	CHECK_OK(api_svc_ranges_parse("10.43.0.0/16", t->srv.ranges, &t->srv.n_ranges));
	t->srv.cfg.node_port_min = 30000;
	t->srv.cfg.node_port_max = 32767;
	t->ns = api_resource_find("", "v1", "namespaces");
	t->pods = api_resource_find("", "v1", "pods");
	t->svcs = api_resource_find("", "v1", "services");
	t->cms = api_resource_find("", "v1", "configmaps");
	t->nodes = api_resource_find("", "v1", "nodes");
	t->deploys = api_resource_find("apps", "v1", "deployments");
	ns = J("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"default\"}}");
	CHECK_OK(api_obj_create(&t->srv, t->ns, NULL, ns, NULL, &out, &e));
	json_decref(ns);
	json_decref(out);
}

static void env_close(struct env *t)
{
	store_close(t->srv.store);
}

/* Creates text in "default"; returns the stored object. */
static json_t *create(struct env *t, const struct api_resource *r, const char *text)
{
	struct api_err e = { 0 };
	json_t *obj = J(text), *out = NULL;
	int ret = api_obj_create(&t->srv, r, "default", obj, NULL, &out, &e);

	json_decref(obj);
	if (ret < 0)
		test_fail(__FILE__, __LINE__, "create %s: %d %s", text, ret, e.message);
	return out;
}

static bool exists(struct env *t, const struct api_resource *r, const char *name)
{
	return api_obj_exists(&t->srv, r, r->namespaced ? "default" : NULL, name);
}

static size_t count(struct env *t, const char *prefix)
{
	size_t n = 0;

	CHECK_OK(store_count(t->srv.store, prefix, &n));
	return n;
}

static const char pod_text[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"%s},"
	"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]%s}}";

/* A pod named name, with extra metadata and spec fields (",..."). */
static json_t *create_pod(struct env *t, const char *name, const char *meta, const char *spec)
{
	char text[1024];

	snprintf(text, sizeof(text), pod_text, name, meta, spec);
	return create(t, t->pods, text);
}

TEST(create_defaults_and_allocates_cluster_ip)
{
	struct env t;
	json_t *svc, *got = NULL;
	struct api_err e = { 0 };
	const char *ip;
	char key[128];

	env_open(&t);
	/* A namespace's "default" ServiceAccount is the serviceaccount
	 * controller's to create, not the server's. */
	CHECK(!api_obj_exists(&t.srv, api_resource_find("", "v1", "serviceaccounts"), "default",
			      "default"));
	svc = create(&t, t.svcs, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
				 "{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":80}]}}");
	CHECK_STR_EQ(api_jstr(svc, "spec.type"), "ClusterIP");
	CHECK_STR_EQ(api_jstr(svc, "metadata.namespace"), "default");
	CHECK(api_jstr(svc, "metadata.uid") != NULL);
	ip = api_jstr(svc, "spec.clusterIP");
	CHECK(ip != NULL);
	CHECK(strncmp(ip, "10.43.", 6) == 0);
	snprintf(key, sizeof(key), "/registry/ranges/serviceips/%s", ip);
	CHECK_INT_EQ(count(&t, key), 1);
	/* What the entry answered is what a read finds. */
	CHECK_OK(api_obj_get(&t.srv, t.svcs, "default", "web", &got, &e));
	CHECK(json_equal(got, svc));
	json_decref(got);
	json_decref(svc);
	env_close(&t);
}

TEST(invalid_object_is_422_naming_the_field_and_stores_nothing)
{
	struct env t;
	struct api_err e = { 0 };
	json_t *pod, *svc, *out = NULL;
	int64_t rev;
	char *causes;

	env_open(&t);
	rev = store_revision(t.srv.store);
	pod = J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
		"\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
	CHECK_INT_EQ(api_obj_create(&t.srv, t.pods, "default", pod, NULL, &out, &e), -EINVAL);
	CHECK_INT_EQ(e.code, 422);
	CHECK_STR_EQ(e.reason, "Invalid");
	CHECK_STR_CONTAINS(e.message, "Pod \"p\" is invalid: spec.containers[0].image");
	causes = json_dumps(e.causes, JSON_COMPACT);
	CHECK_STR_CONTAINS(causes, "\"field\":\"spec.containers[0].image\"");
	free(causes);
	api_err_free(&e);
	CHECK(out == NULL);
	CHECK(!exists(&t, t.pods, "p"));
	/* An invalid service takes no address either. */
	svc = J("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"Bad_Name\"},"
		"\"spec\":{\"ports\":[{\"port\":80}]}}");
	CHECK_INT_EQ(api_obj_create(&t.srv, t.svcs, "default", svc, NULL, &out, &e), -EINVAL);
	CHECK_INT_EQ(e.code, 422);
	CHECK_STR_CONTAINS(e.message, "metadata.name");
	api_err_free(&e);
	CHECK_INT_EQ(count(&t, "/registry/ranges/"), 0);
	CHECK_INT_EQ(store_revision(t.srv.store), rev);
	json_decref(pod);
	json_decref(svc);
	env_close(&t);
}

TEST(update_with_a_stale_resource_version_is_409)
{
	struct env t;
	struct api_err e = { 0 };
	json_t *cm, *v2, *v3, *out = NULL, *got = NULL;
	char *rv1;

	env_open(&t);
	cm = create(&t, t.cms, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
			       "{\"name\":\"c\"},\"data\":{\"k\":\"1\"}}");
	rv1 = strdup(api_jstr(cm, "metadata.resourceVersion"));
	v2 = json_deep_copy(cm);
	json_object_set_new(json_object_get(v2, "data"), "k", json_string("2"));
	CHECK_OK(api_obj_update(&t.srv, t.cms, "default", "c", v2, NULL, &out, &e));
	CHECK(!streq(api_jstr(out, "metadata.resourceVersion"), rv1));
	json_decref(out);
	out = NULL;
	/* A writer that read before that update loses. */
	v3 = json_deep_copy(cm);
	json_object_set_new(json_object_get(v3, "data"), "k", json_string("3"));
	CHECK_INT_EQ(api_obj_update(&t.srv, t.cms, "default", "c", v3, NULL, &out, &e), -EBUSY);
	CHECK_INT_EQ(e.code, 409);
	CHECK_STR_EQ(e.reason, "Conflict");
	CHECK(out == NULL);
	CHECK_OK(api_obj_get(&t.srv, t.cms, "default", "c", &got, &e));
	CHECK_STR_EQ(api_jstr(got, "data.k"), "2");
	free(rv1);
	json_decref(got);
	json_decref(v3);
	json_decref(v2);
	json_decref(cm);
	env_close(&t);
}

/* Deletes name of r with propagation p; returns what the entry answered. */
static json_t *delete(struct env *t, const struct api_resource *r, const char *name,
		      enum api_propagation p)
{
	struct api_delete_opts o = { .propagation = p };
	struct api_err e = { 0 };
	json_t *out = NULL;
	int ret = api_obj_delete(&t->srv, r, "default", name, &o, &out, &e);

	if (ret < 0)
		test_fail(__FILE__, __LINE__, "delete %s: %d %s", name, ret, e.message);
	return out;
}

/* A ConfigMap "owner" and a pod named pod that it owns. */
static void create_owned_pod(struct env *t, const char *pod)
{
	json_t *owner = create(t, t->cms, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
					   "\"metadata\":{\"name\":\"owner\"}}");
	char meta[256];

	snprintf(meta, sizeof(meta),
		 ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		 "\"name\":\"owner\",\"uid\":\"%s\"}]",
		 api_jstr(owner, "metadata.uid"));
	json_decref(create_pod(t, pod, meta, ""));
	json_decref(owner);
}

static const char *finalizers(json_t *obj, char *buf, size_t len)
{
	json_t *f;
	size_t i, off = 0;

	buf[0] = 0;
	json_array_foreach(api_jget(obj, "metadata.finalizers"), i, f)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
					json_string_value(f));
	return buf;
}

static json_t *get(struct env *t, const struct api_resource *r, const char *ns, const char *name)
{
	struct api_err e = { 0 };
	json_t *out = NULL;

	CHECK_OK(api_obj_get(&t->srv, r, ns, name, &out, &e));
	return out;
}

TEST(delete_turns_the_propagation_policy_into_finalizers)
{
	const struct api_resource *jobs = api_resource_find("batch", "v1", "jobs");
	struct env t;
	struct api_err e = { 0 };
	json_t *owner, *out = NULL;
	char buf[128];

	env_open(&t);
	create_owned_pod(&t, "child");
	/* Orphan: the owner stays with "orphan"; the dependent is the
	 * garbage collector's, untouched here. */
	owner = delete(&t, t.cms, "owner", API_PROPAGATE_ORPHAN);
	CHECK_STR_EQ(finalizers(owner, buf, sizeof(buf)), "orphan");
	CHECK(api_jstr(owner, "metadata.deletionTimestamp") != NULL);
	json_decref(owner);
	out = get(&t, t.pods, "default", "child");
	CHECK_INT_EQ(json_array_size(api_jget(out, "metadata.ownerReferences")), 1);
	json_decref(out);
	/* A second delete changes the policy: Foreground. */
	owner = delete(&t, t.cms, "owner", API_PROPAGATE_FOREGROUND);
	CHECK_STR_EQ(finalizers(owner, buf, sizeof(buf)), "foregroundDeletion");
	json_decref(owner);
	/* The collector's last finalizer removed: the owner is gone. */
	owner = get(&t, t.cms, "default", "owner");
	json_object_del(api_obj_meta(owner), "finalizers");
	out = NULL;
	CHECK_OK(api_obj_update(&t.srv, t.cms, "default", "owner", owner, NULL, &out, &e));
	json_decref(out);
	json_decref(owner);
	CHECK(!exists(&t, t.cms, "owner"));
	/* Background: the owner goes at once, the dependent stays for the
	 * collector. */
	create_owned_pod(&t, "child2");
	json_decref(delete(&t, t.cms, "owner", API_PROPAGATE_BACKGROUND));
	CHECK(!exists(&t, t.cms, "owner"));
	CHECK(exists(&t, t.pods, "child2"));
	/* No policy: the row's default, Orphan for a batch/v1 Job. */
	json_decref(create(&t, jobs, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":"
				      "{\"name\":\"j\"},\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":"
				      "\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}"));
	owner = delete(&t, jobs, "j", API_PROPAGATE_DEFAULT);
	CHECK_STR_EQ(finalizers(owner, buf, sizeof(buf)), "orphan");
	json_decref(owner);
	env_close(&t);
}

/* A Job selects its own pods by its uid, as upstream generates it, and
 * an update without the selector keeps it; manualSelector leaves both
 * alone. */
static const char *key_of(json_t *obj, const char *path, const char *key)
{
	return json_string_value(json_object_get(api_jget(obj, path), key));
}

TEST(a_job_gets_a_selector_of_its_uid)
{
	const struct api_resource *jobs = api_resource_find("batch", "v1", "jobs");
	static const char tmpl[] = "\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
				   "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}";
	struct env t;
	struct api_err e = { 0 };
	json_t *job, *out = NULL;
	char text[512];
	const char *uid;

	env_open(&t);
	snprintf(text, sizeof(text), "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":"
		 "{\"name\":\"j\"},\"spec\":{%s}}", tmpl);
	job = create(&t, jobs, text);
	uid = api_jstr(job, "metadata.uid");
	CHECK_STR_EQ(key_of(job, "spec.selector.matchLabels", "batch.kubernetes.io/controller-uid"), uid);
	CHECK_STR_EQ(key_of(job, "spec.template.metadata.labels", "batch.kubernetes.io/controller-uid"), uid);
	CHECK_STR_EQ(key_of(job, "spec.template.metadata.labels", "controller-uid"), uid);
	CHECK_STR_EQ(key_of(job, "spec.template.metadata.labels", "batch.kubernetes.io/job-name"), "j");
	CHECK_STR_EQ(key_of(job, "spec.template.metadata.labels", "job-name"), "j");
	json_object_del(json_object_get(job, "spec"), "selector");
	CHECK_OK(api_obj_update(&t.srv, jobs, "default", "j", job, NULL, &out, &e));
	CHECK_STR_EQ(key_of(out, "spec.selector.matchLabels", "batch.kubernetes.io/controller-uid"), uid);
	json_decref(out);
	json_decref(job);
	snprintf(text, sizeof(text), "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":"
		 "{\"name\":\"m\"},\"spec\":{\"manualSelector\":true,\"selector\":{\"matchLabels\":"
		 "{\"a\":\"b\"}},%s}}", tmpl);
	job = create(&t, jobs, text);
	CHECK_STR_EQ(api_jstr(job, "spec.selector.matchLabels.a"), "b");
	CHECK(api_jget(job, "spec.template.metadata.labels") == NULL);
	json_decref(job);
	env_close(&t);
}

TEST(a_deleted_namespace_terminates_until_finalized)
{
	const struct api_subresource *fin;
	struct env t;
	struct api_err e = { 0 };
	json_t *ns, *body, *out = NULL;

	env_open(&t);
	fin = api_subresource_find(t.ns, "finalize");
	ns = J("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"gone\"}}");
	CHECK_OK(api_obj_create(&t.srv, t.ns, NULL, ns, NULL, &out, &e));
	json_decref(out);
	json_decref(ns);
	body = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}");
	CHECK_OK(api_obj_create(&t.srv, t.cms, "gone", body, NULL, &out, &e));
	json_decref(out);
	/* Terminating, kept by spec.finalizers; the contents are the
	 * namespace controller's. */
	CHECK_OK(api_obj_delete(&t.srv, t.ns, NULL, "gone", NULL, &out, &e));
	CHECK_STR_EQ(api_jstr(out, "status.phase"), "Terminating");
	CHECK(api_jstr(out, "metadata.deletionTimestamp") != NULL);
	json_decref(out);
	CHECK(api_obj_exists(&t.srv, t.cms, "gone", "c"));
	/* Nothing new in it: 403, as upstream's NamespaceLifecycle. */
	json_object_set_new(api_obj_meta(body), "name", json_string("c2"));
	CHECK_INT_EQ(api_obj_create(&t.srv, t.cms, "gone", body, NULL, &out, &e), -EPERM);
	CHECK_INT_EQ(e.code, 403);
	CHECK_STR_EQ(e.message, "configmaps \"c2\" is forbidden: unable to create new content in "
				"namespace gone because it is being terminated");
	api_err_free(&e);
	/* A repeated delete while it empties: 409. */
	CHECK_INT_EQ(api_obj_delete(&t.srv, t.ns, NULL, "gone", NULL, &out, &e), -EBUSY);
	CHECK_INT_EQ(e.code, 409);
	/* Finalized: gone. */
	json_decref(body);
	body = J("{\"spec\":{\"finalizers\":[]}}");
	CHECK_OK(fin->write(&t.srv, t.ns, NULL, "gone", body, NULL, &out, &e));
	json_decref(out);
	json_decref(body);
	CHECK(!api_obj_exists(&t.srv, t.ns, NULL, "gone"));
	env_close(&t);
}

TEST(delete_waits_for_a_live_nodes_kubelet_and_refuses_protected_namespaces)
{
	struct env t;
	struct api_err e = { 0 };
	json_t *pod, *node, *out = NULL;

	env_open(&t);
	node = J("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}");
	CHECK_OK(api_obj_create(&t.srv, t.nodes, NULL, node, NULL, &out, &e));
	json_decref(out);
	json_decref(create_pod(&t, "bound", "", ",\"nodeName\":\"n1\""));
	pod = delete(&t, t.pods, "bound", API_PROPAGATE_BACKGROUND);
	CHECK(api_jstr(pod, "metadata.deletionTimestamp") != NULL);
	CHECK_INT_EQ(json_integer_value(api_jget(pod, "metadata.deletionGracePeriodSeconds")), 30);
	CHECK(exists(&t, t.pods, "bound"));
	json_decref(pod);
	out = NULL;
	CHECK_INT_EQ(api_obj_delete(&t.srv, t.ns, NULL, "default", NULL, &out, &e), -EPERM);
	CHECK_INT_EQ(e.code, 403);
	CHECK(exists(&t, t.ns, "default"));
	json_decref(node);
	env_close(&t);
}

TEST(deleting_a_service_gives_back_its_address)
{
	struct env t;

	env_open(&t);
	json_decref(create(&t, t.svcs, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
				       "{\"name\":\"web\"},\"spec\":{\"type\":\"NodePort\","
				       "\"ports\":[{\"port\":80}]}}"));
	CHECK_INT_EQ(count(&t, "/registry/ranges/serviceips/"), 1);
	CHECK_INT_EQ(count(&t, "/registry/ranges/servicenodeports/"), 1);
	json_decref(delete(&t, t.svcs, "web", API_PROPAGATE_BACKGROUND));
	CHECK_INT_EQ(count(&t, "/registry/ranges/"), 0);
	env_close(&t);
}

TEST(status_write_changes_only_status)
{
	struct env t;
	struct api_err e = { 0 };
	json_t *d, *w, *out = NULL;

	env_open(&t);
	d = create(&t, t.deploys,
		   "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
		   "\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		   "\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":"
		   "[{\"name\":\"c\",\"image\":\"busybox\"}]}}},\"status\":{\"replicas\":9}}");
	/* Create drops the status a client sent. */
	CHECK(json_object_get(d, "status") == NULL);
	w = json_deep_copy(d);
	json_object_set_new(json_object_get(w, "spec"), "replicas", json_integer(5));
	json_object_set_new(api_obj_meta(w), "labels", json_pack("{s:s}", "x", "y"));
	json_object_set_new(w, "status", json_pack("{s:i}", "replicas", 3));
	CHECK_OK(api_obj_update_status(&t.srv, t.deploys, "default", "d", w, NULL, &out, &e));
	CHECK_INT_EQ(json_integer_value(api_jget(out, "status.replicas")), 3);
	CHECK_INT_EQ(json_integer_value(api_jget(out, "spec.replicas")), 1);
	CHECK(api_jget(out, "metadata.labels") == NULL);
	CHECK_INT_EQ(json_integer_value(api_jget(out, "metadata.generation")), 1);
	json_decref(out);
	out = NULL;
	/* And a main write keeps the stored status. */
	json_object_del(w, "status");
	json_object_del(api_obj_meta(w), "resourceVersion");
	CHECK_OK(api_obj_update(&t.srv, t.deploys, "default", "d", w, NULL, &out, &e));
	CHECK_INT_EQ(json_integer_value(api_jget(out, "status.replicas")), 3);
	CHECK_INT_EQ(json_integer_value(api_jget(out, "spec.replicas")), 5);
	CHECK_INT_EQ(json_integer_value(api_jget(out, "metadata.generation")), 2);
	json_decref(out);
	json_decref(w);
	json_decref(d);
	env_close(&t);
}

TEST(dry_run_create_stores_nothing)
{
	struct env t;
	struct api_write_opts o = { .dry_run = true };
	struct api_err e = { 0 };
	json_t *svc, *out = NULL;
	int64_t rev;

	env_open(&t);
	rev = store_revision(t.srv.store);
	svc = J("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"
		"\"spec\":{\"ports\":[{\"port\":80}]}}");
	CHECK_OK(api_obj_create(&t.srv, t.svcs, "default", svc, &o, &out, &e));
	CHECK(api_jstr(out, "spec.clusterIP") != NULL);
	CHECK(!exists(&t, t.svcs, "web"));
	CHECK_INT_EQ(store_revision(t.srv.store), rev);
	json_decref(out);
	json_decref(svc);
	env_close(&t);
}

TEST(an_address_of_a_family_the_cluster_lacks_is_422)
{
	struct env t;
	struct api_err e = { 0 };
	json_t *svc, *out = NULL;

	env_open(&t);
	svc = J("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"
		"\"spec\":{\"clusterIP\":\"fd00:43::10\",\"ports\":[{\"port\":80}]}}");
	CHECK_INT_EQ(api_obj_create(&t.srv, t.svcs, "default", svc, NULL, &out, &e), -EINVAL);
	CHECK_INT_EQ(e.code, 422);
	CHECK_STR_CONTAINS(e.message, "spec.clusterIPs[0]");
	api_err_free(&e);
	CHECK(!exists(&t, t.svcs, "web"));
	json_decref(svc);
	env_close(&t);
}

/* api_obj_render_kv's splice: the same bytes as parsing and dumping,
 * and NULL (the caller parses) for text it cannot splice safely. */
static void check_render(const struct api_resource *r, const char *stored, bool spliced)
{
	json_t *obj = api_obj_from_kv(r, stored, strlen(stored), 42);
	char *want = obj ? json_dumps(obj, JSON_COMPACT) : NULL, *got;
	size_t len = 0;

	got = api_obj_render_kv(r, stored, strlen(stored), 42, &len);
	if (!spliced) {
		CHECK(got == NULL);
	} else {
		CHECK(got != NULL && want != NULL);
		CHECK_STR_EQ(got, want);
		CHECK_INT_EQ(len, strlen(want));
	}
	free(got);
	free(want);
	json_decref(obj);
}

TEST(render_kv_splices_the_resource_version_as_parsing_would)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	const struct api_resource *deploys = api_resource_find("apps", "v1", "deployments");

	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\","
			   "\"labels\":{\"x\":\"}\\\"{\"}},\"spec\":{\"n\":[1,{\"a\":[]}],\"b\":true}}",
		     true);
	check_render(pods, "{\"kind\":\"Pod\",\"metadata\":{},\"apiVersion\":\"v1\",\"s\":null}", true);
	check_render(deploys, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
			      "\"metadata\":{\"name\":\"d\"},\"status\":{\"r\":1.5}}",
		     true);
	/* Left to parsing: a type to set, metadata to create or with a
	 * resourceVersion, whitespace, trailing bytes, not an object. */
	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{}}", false);
	check_render(pods, "{\"kind\":\"Pod\",\"metadata\":{}}", false);
	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}", false);
	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
			   "{\"resourceVersion\":\"7\"}}", false);
	check_render(pods, "{\"apiVersion\": \"v1\",\"kind\":\"Pod\",\"metadata\":{}}", false);
	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{}}x", false);
	check_render(pods, "[1,2]", false);
	check_render(pods, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"a\":\"x}", false);
}

/* What api_obj_matches (api_rest.c, not linked here) decides. */
static bool sel_match(json_t *obj, const struct kube_selector *ls, const struct kube_selector *fs)
{
	return kube_selector_match_labels(ls, json_object_get(json_object_get(obj, "metadata"),
							      "labels")) &&
	       kube_selector_match_fields(fs, obj);
}

/* api_obj_project keeps what the selectors read: the same answers as
 * matching the whole object. */
TEST(projection_matches_as_the_whole_object)
{
	const char *text = "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"web\"}},"
			   "\"spec\":{\"nodeName\":\"n1\",\"x\":[{\"nodeName\":\"no\"}]},"
			   "\"status\":{\"phase\":\"Running\",\"n\":3,\"ok\":true}}";
	const char *sels[][2] = {
		{ "app=web", "spec.nodeName=n1" },   { "app!=web", "" },
		{ "", "spec.nodeName!=" },           { "", "spec.nodeName=no" },
		{ "", "status.phase=Running,status.n=3" }, { "", "status.ok=true" },
		{ "", "spec.missing.deep=" },        { "", "metadata.name=q" },
		{ "tier in (a,b)", "" },             { "!app", "" },
	};
	json_t *whole = J(text);

	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		struct kube_selector *ls = NULL, *fs = NULL;
		json_t *mini;

		CHECK_OK(kube_label_selector_parse(sels[i][0], &ls, NULL, 0));
		CHECK_OK(kube_field_selector_parse(sels[i][1], &fs, NULL, 0));
		mini = api_obj_project(text, strlen(text), ls, fs);
		CHECK(mini != NULL);
		CHECK_INT_EQ(sel_match(mini, ls, fs), sel_match(whole, ls, fs));
		json_decref(mini);
		kube_selector_free(ls);
		kube_selector_free(fs);
	}
	{
		struct kube_selector *fs = NULL;

		CHECK_OK(kube_field_selector_parse("a=1", &fs, NULL, 0));
		CHECK(api_obj_project("{\"a\":", 5, NULL, fs) == NULL);
		kube_selector_free(fs);
	}
	json_decref(whole);
}
