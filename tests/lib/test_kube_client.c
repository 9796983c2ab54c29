/* The API client against a real skiff-server (HTTPS, the kubeconfig it
 * writes): kubeconfig loading, CRUD, the three patch types, the status
 * subresource, delete options, error mapping with the Kubernetes Status,
 * conflict retries against a concurrent writer, the QPS limiter, a watch
 * on the event loop. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_client.h"
#include "tests/harness/test.h"
#include "tests/lib/kube_test_server.h"
#include "lib/util.h"

static const char kubeconfig_text[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: b\n"
	"clusters:\n"
	"- name: one\n"
	"  cluster: {server: 'https://10.0.0.1:6443', certificate-authority: ca.pem}\n"
	"- name: two\n"
	"  cluster: {server: 'https://10.0.0.2', insecure-skip-tls-verify: true}\n"
	"contexts:\n"
	"- name: a\n"
	"  context: {cluster: one, user: certs, namespace: kube-system}\n"
	"- name: b\n"
	"  context: {cluster: two, user: tok}\n"
	"- name: c\n"
	"  context: {cluster: nope, user: tok}\n"
	"- name: d\n"
	"  context: {cluster: one, user: plugin}\n"
	"users:\n"
	"- name: certs\n"
	"  user: {client-certificate: sub/crt.pem, client-key-data: a2V5LWJ5dGVz}\n"
	"- name: tok\n"
	"  user: {tokenFile: tok.txt}\n"
	"- name: plugin\n"
	"  user: {exec: {command: x}}\n";

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

TEST(kubeconfig_contexts_files_and_errors)
{
	const char *d = test_tmpdir();
	struct kc_config *cfg = NULL;
	char err[256], dir2[300], path[400];

	snprintf(dir2, sizeof(dir2), "%s/sub", d);
	CHECK_OK(mkdir(dir2, 0700));
	write_file(d, "ca.pem", "CA-PEM");
	write_file(d, "sub/crt.pem", "CRT-PEM");
	write_file(d, "tok.txt", "s3cret\n");
	write_file(d, "config", kubeconfig_text);
	snprintf(path, sizeof(path), "%s/config", d);

	/* The current context: a token file (newline stripped), insecure. */
	CHECK_OK(kc_config_load(path, NULL, &cfg, err, sizeof(err)));
	CHECK_STR_EQ(cfg->server, "https://10.0.0.2");
	CHECK_STR_EQ(cfg->token, "s3cret");
	CHECK_STR_EQ(cfg->namespace, "default");
	CHECK(cfg->insecure);
	kc_config_free(cfg);

	/* A named context: files relative to the kubeconfig, inline base64. */
	CHECK_OK(kc_config_load(path, "a", &cfg, err, sizeof(err)));
	CHECK_STR_EQ(cfg->ca.data, "CA-PEM");
	CHECK_STR_EQ(cfg->cert.data, "CRT-PEM");
	CHECK_STR_EQ(cfg->key.data, "key-bytes");
	CHECK_STR_EQ(cfg->namespace, "kube-system");
	CHECK(!cfg->insecure && !cfg->token);
	kc_config_free(cfg);

	CHECK_INT_EQ(kc_config_load(path, "c", &cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "cluster \"nope\" of context \"c\" not found");
	CHECK_INT_EQ(kc_config_load(path, "zz", &cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "context \"zz\" not found");
	CHECK_INT_EQ(kc_config_load(path, "d", &cfg, err, sizeof(err)), -EOPNOTSUPP);

	/* $KUBECONFIG: the first file of the list that exists. */
	char env[900];
	snprintf(env, sizeof(env), "%s/missing:%s", d, path);
	setenv("KUBECONFIG", env, 1);
	CHECK_OK(kc_config_load(NULL, "a", &cfg, err, sizeof(err)));
	CHECK_STR_EQ(cfg->server, "https://10.0.0.1:6443");
	kc_config_free(cfg);
	snprintf(env, sizeof(env), "%s/missing", d);
	setenv("KUBECONFIG", env, 1);
	CHECK_INT_EQ(kc_config_load(NULL, NULL, &cfg, err, sizeof(err)), -ENOENT);
}

static json_t *configmap(const char *name, const char *label)
{
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s}}", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", name, "labels", "grp", label, "data", "k",
			 "v0");
}

static void make_namespace(struct kc_client *c, const char *ns)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
			      "metadata", "name", ns);

	CHECK_OK(kc_create(c, kc_resource_find("namespaces"), NULL, o, NULL));
	json_decref(o);
}

TEST(crud_paging_and_errors)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	const char *ns = test_unique("ns");
	struct kc_client *c;
	json_t *o, *got, *items, *page;
	char *rv = NULL;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	for (int i = 0; i < 5; i++) {
		char name[32];

		snprintf(name, sizeof(name), "cm%d", i);
		o = configmap(name, i < 4 ? "a" : "b");
		CHECK_OK(kc_create(c, cm, ns, o, NULL));
		json_decref(o);
	}
	/* AlreadyExists: -EEXIST and the Status kept. */
	o = configmap("cm0", "a");
	CHECK_INT_EQ(kc_create(c, cm, ns, o, NULL), -EEXIST);
	CHECK_INT_EQ(kc_last_status(c)->code, 409);
	CHECK_STR_EQ(kc_last_status(c)->reason, "AlreadyExists");
	CHECK_STR_CONTAINS(kc_last_status(c)->message, "\"cm0\" already exists");
	json_decref(o);

	/* A page of 3 with a continue token, then everything across pages. */
	struct kc_list_opts lo = { .label_selector = "grp in (a)", .limit = 3 };
	CHECK_OK(kc_list(c, cm, ns, &lo, &page));
	CHECK_INT_EQ(json_array_size(json_object_get(page, "items")), 3);
	CHECK(kc_meta_str(page, "continue") && *kc_meta_str(page, "continue"));
	json_decref(page);
	lo.limit = 1;
	CHECK_OK(kc_list_all(c, cm, ns, &lo, &items, &rv));
	CHECK_INT_EQ(json_array_size(items), 4);
	CHECK(atoll(rv) > 0);
	json_decref(items);
	free(rv);
	lo = (struct kc_list_opts){ .field_selector = "metadata.name=cm4" };
	CHECK_OK(kc_list_all(c, cm, ns, &lo, &items, NULL));
	CHECK_INT_EQ(json_array_size(items), 1);
	CHECK_STR_EQ(kc_meta_str(json_array_get(items, 0), "name"), "cm4");
	json_decref(items);

	/* PUT, then the same stale object again: -ESTALE, reason Conflict. */
	CHECK_OK(kc_get(c, cm, ns, "cm0", &got));
	json_object_set_new(json_object_get(got, "data"), "k", json_string("v1"));
	CHECK_OK(kc_update(c, cm, NULL, got, &o));
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "data"), "k")), "v1");
	json_decref(o);
	CHECK_INT_EQ(kc_update(c, cm, NULL, got, NULL), -ESTALE);
	CHECK_STR_EQ(kc_last_status(c)->reason, "Conflict");
	json_decref(got);

	/* The three patch types. */
	o = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "m", "1");
	CHECK_OK(kc_patch(c, cm, ns, "cm0", NULL, KC_PATCH_MERGE, o, NULL));
	json_decref(o);
	o = json_pack("{s:{s:s}}", "data", "k2", "smp");
	CHECK_OK(kc_patch(c, cm, ns, "cm0", NULL, KC_PATCH_STRATEGIC, o, NULL));
	json_decref(o);
	o = json_pack("[{s:s,s:s,s:s}]", "op", "replace", "path", "/data/k", "value", "jp");
	CHECK_OK(kc_patch(c, cm, ns, "cm0", NULL, KC_PATCH_JSON, o, &got));
	json_decref(o);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "data"), "k")), "jp");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "data"), "k2")), "smp");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(json_object_get(got, "metadata"), "labels"), "m")), "1");
	json_decref(got);
	o = json_pack("[{s:s,s:s}]", "op", "remove", "path", "/nope");
	CHECK_INT_EQ(kc_patch(c, cm, ns, "cm0", NULL, KC_PATCH_JSON, o, NULL), -EINVAL);
	CHECK_INT_EQ(kc_last_status(c)->code, 422);
	json_decref(o);

	/* Delete: a wrong UID precondition is a conflict; then gone. */
	struct kc_delete_opts d = { .precondition_uid = "00000000-0000-4000-8000-000000000000" };
	CHECK_INT_EQ(kc_delete(c, cm, ns, "cm1", &d, NULL), -ESTALE);
	d = (struct kc_delete_opts){ .propagation_policy = "Background", .has_grace_period = true };
	CHECK_OK(kc_delete(c, cm, ns, "cm1", &d, NULL));
	CHECK_INT_EQ(kc_get(c, cm, ns, "cm1", NULL), -ENOENT);
	CHECK_INT_EQ(kc_last_status(c)->code, 404);
	CHECK_STR_EQ(kc_last_status(c)->reason, "NotFound");
	/* Every blocking call above went over one reused connection. */
	CHECK(kc_client_requests(c) >= 15);
	CHECK_INT_EQ(kc_client_connections(c), 1);
	kc_client_free(c);
}

TEST(status_subresource)
{
	/* no scheduler: it writes the new pod's status (Unschedulable, no
	 * nodes) and the status update below, made with the create's
	 * resourceVersion, met a 409 when it came first (once at load 45) */
	struct test_server s = { .extra = "--no-scheduler" };
	const struct kc_resource *pods = kc_resource_find("pods");
	const char *ns = test_unique("ns");
	struct kc_client *c;
	json_t *pod, *got;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	pod = json_pack("{s:s,s:s,s:{s:s},s:{s:[{s:s,s:s}]}}", "apiVersion", "v1", "kind", "Pod",
			"metadata", "name", "p", "spec", "containers", "name", "c", "image", "busybox");
	CHECK_OK(kc_create(c, pods, ns, pod, &got));
	json_decref(pod);
	json_object_set_new(json_object_get(got, "status"), "phase", json_string("Running"));
	CHECK_OK(kc_update_status(c, pods, ns, got, NULL));
	json_decref(got);
	pod = json_pack("{s:{s:s}}", "status", "podIP", "10.1.2.3");
	CHECK_OK(kc_patch(c, pods, ns, "p", "status", KC_PATCH_MERGE, pod, NULL));
	json_decref(pod);
	CHECK_OK(kc_get(c, pods, ns, "p", &got));
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "status"), "phase")),
		     "Running");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(got, "status"), "podIP")),
		     "10.1.2.3");
	json_decref(got);
	kc_client_free(c);
}

struct race {
	struct kc_client *other;
	const char *ns;
	int calls;
	int round; /* makes every concurrent write a change */
};

/* Sets data.mine; on the first call a second client writes first. */
static int mutate_racing(json_t *obj, void *ud)
{
	struct race *r = ud;

	if (r->calls++ == 0) {
		json_t *p = json_pack("{s:{s:s}}", "data", "theirs", r->round++ ? "again" : "yes");

		CHECK_OK(kc_patch(r->other, kc_resource_find("configmaps"), r->ns, "cm", NULL,
				  KC_PATCH_MERGE, p, NULL));
		json_decref(p);
	}
	json_object_set_new(json_object_get(obj, "data"), "mine", json_string("yes"));
	return 0;
}

TEST(update_retry_survives_a_concurrent_writer)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	struct race race = { .ns = test_unique("ns") };
	struct kc_client *c;
	json_t *o, *data;

	test_server_start(&s);
	c = test_client(&s);
	race.other = test_client(&s);
	make_namespace(c, race.ns);
	o = configmap("cm", "a");
	CHECK_OK(kc_create(c, cm, race.ns, o, NULL));
	json_decref(o);
	CHECK_OK(kc_update_retry(c, cm, race.ns, "cm", NULL, mutate_racing, &race, 5, &o));
	CHECK_INT_EQ(race.calls, 2); /* one conflict, one retry */
	data = json_object_get(o, "data");
	CHECK_STR_EQ(json_string_value(json_object_get(data, "mine")), "yes");
	CHECK_STR_EQ(json_string_value(json_object_get(data, "theirs")), "yes");
	json_decref(o);
	/* With one try only, the same race is returned as -ESTALE. */
	race.calls = 0;
	CHECK_INT_EQ(kc_update_retry(c, cm, race.ns, "cm", NULL, mutate_racing, &race, 1, NULL),
		     -ESTALE);
	kc_client_free(race.other);
	kc_client_free(c);
}

TEST(token_auth_and_rate_limit)
{
	struct test_server s = { 0 };
	struct kc_config cfg = { 0 };
	struct kc_client *c;
	struct kc_client_opts opts = { .qps = 20, .burst = 1 };
	char tokens[512];
	unsigned long long t0;

	snprintf(tokens, sizeof(tokens), "%s/tokens.csv", test_tmpdir());
	write_file(test_tmpdir(), "tokens.csv", "tok-alice-123,alice,1001\n");
	snprintf(s.extra, sizeof(s.extra), "--token-auth-file %s", tokens);
	test_server_start(&s);
	/* A token and no CA check: alice is known (403), a stranger is not (401). */
	char server[64];
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", s.port);
	cfg.server = server;
	cfg.insecure = true;
	cfg.token = "tok-alice-123";
	CHECK_OK(kc_client_new(&cfg, &opts, &c));
	CHECK_INT_EQ(kc_list(c, kc_resource_find("secrets"), "default", NULL, NULL), -EPERM);
	CHECK_STR_CONTAINS(kc_last_status(c)->message, "User \"alice\" cannot list");
	/* 20 qps with a burst of 1: five more calls need at least 4 intervals. */
	t0 = now_ns();
	for (int i = 0; i < 5; i++)
		kc_list(c, kc_resource_find("secrets"), "default", NULL, NULL);
	CHECK(now_ns() - t0 >= 4 * 50000000ULL * 9 / 10);
	kc_client_free(c);
	cfg.token = "nobody";
	CHECK_OK(kc_client_new(&cfg, NULL, &c));
	CHECK_INT_EQ(kc_get(c, kc_resource_find("namespaces"), NULL, "default", NULL), -EACCES);
	CHECK_INT_EQ(kc_last_status(c)->code, 401);
	kc_client_free(c);
	/* Without insecure and without the CA, TLS verification fails. */
	cfg.insecure = false;
	CHECK_OK(kc_client_new(&cfg, NULL, &c));
	CHECK_INT_EQ(kc_get(c, kc_resource_find("namespaces"), NULL, "default", NULL), -EPROTO);
	kc_client_free(c);
}

struct seen {
	char log[2048];
	int events, done;
	int done_err;
	struct kc_client *c; /* set: ADDED handlers read the object back */
	int read_back;       /* ... and get the server's answer (404: gone by then) */
};

static void on_event(void *ud, const char *type, json_t *obj)
{
	struct seen *s = ud;
	size_t n = strlen(s->log);

	if (streq(type, "BOOKMARK"))
		return;
	const char *name = kc_meta_str(obj, "name") ?: "?";

	snprintf(s->log + n, sizeof(s->log) - n, "%s%s %s", n ? "," : "", type, name);
	s->events++;
	/* Handlers run outside libcurl: a blocking call from one works. */
	if (s->c && streq(type, "ADDED") &&
	    kc_get(s->c, kc_resource_find("configmaps"), kc_meta_str(obj, "namespace"), name,
		   NULL) == -ENOENT &&
	    kc_last_status(s->c)->code == 404)
		s->read_back++;
}

static void on_done(void *ud, int err, const struct kc_status *st)
{
	struct seen *s = ud;

	(void)st;
	s->done++;
	s->done_err = err;
}

static int three_events(void *ud)
{
	return ((struct seen *)ud)->events >= 3;
}

static int watch_done(void *ud)
{
	return ((struct seen *)ud)->done > 0;
}

TEST(watch_streams_events_in_order)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	const char *ns = test_unique("ns");
	/* the test's ConfigMap only (the server's root-CA publisher adds
	 * kube-root-ca.crt to every namespace meanwhile) */
	struct kc_watch_opts wo = { .bookmarks = true, .field_selector = "metadata.name=w" };
	struct seen seen = { 0 };
	struct kc_client *c;
	char *rv = NULL;
	json_t *o, *items;

	test_server_start(&s);
	c = test_client(&s);
	seen.c = c;
	make_namespace(c, ns);
	CHECK_OK(kc_list_all(c, cm, ns, NULL, &items, &rv));
	json_decref(items);
	wo.resource_version = rv;
	CHECK_OK(kc_watch_start(c, cm, ns, &wo, on_event, on_done, &seen, NULL));
	o = configmap("w", "a");
	CHECK_OK(kc_create(c, cm, ns, o, NULL));
	json_decref(o);
	o = json_pack("{s:{s:s}}", "data", "k", "v2");
	CHECK_OK(kc_patch(c, cm, ns, "w", NULL, KC_PATCH_MERGE, o, NULL));
	json_decref(o);
	CHECK_OK(kc_delete(c, cm, ns, "w", NULL, NULL));
	CHECK(test_run_until(c, three_events, &seen, 10000));
	CHECK_STR_EQ(seen.log, "ADDED w,MODIFIED w,DELETED w");
	CHECK_INT_EQ(seen.read_back, 1);
	/* A watch with a bad selector ends at once with the 400 Status. */
	struct seen bad = { 0 };
	wo = (struct kc_watch_opts){ .label_selector = "a in (" };
	CHECK_OK(kc_watch_start(c, cm, ns, &wo, on_event, on_done, &bad, NULL));
	CHECK(test_run_until(c, watch_done, &bad, 10000));
	CHECK_INT_EQ(bad.done_err, -EINVAL);
	/* The server ending a watch (timeoutSeconds) is a clean end: 0. */
	struct seen timed = { 0 };
	wo = (struct kc_watch_opts){ .resource_version = rv, .timeout_seconds = 1,
				     .field_selector = "metadata.name=w" };
	CHECK_OK(kc_watch_start(c, cm, ns, &wo, on_event, on_done, &timed, NULL));
	CHECK(test_run_until(c, watch_done, &timed, 10000));
	CHECK_INT_EQ(timed.done_err, 0);
	CHECK_STR_EQ(timed.log, "ADDED w,MODIFIED w,DELETED w");
	free(rv);
	kc_client_free(c);
}

struct many {
	int got[10];
	int total;
};

static void many_event(void *ud, const char *type, json_t *obj)
{
	struct many *m = ud;
	const char *name = kc_meta_str(obj, "name");

	if (streq(type, "ADDED") && name && name[0] == 'm') {
		m->got[atoi(name + 1)]++;
		m->total++;
	}
}

static void many_done(void *ud, int err, const struct kc_status *st)
{
	(void)ud;
	(void)err;
	(void)st;
	CHECK(!"a watch ended early");
}

static int all_ten(void *ud)
{
	return ((struct many *)ud)->total >= 10;
}

TEST(many_watches_share_one_loop)
{
	struct test_server s = { 0 };
	const struct kc_resource *cm = kc_resource_find("configmaps");
	const char *ns = test_unique("ns");
	struct many m = { 0 };
	struct kc_watch *w[10];
	struct kc_client *c;
	char sel[32], name[16];
	char *rv;
	json_t *items, *o;

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	CHECK_OK(kc_list_all(c, cm, ns, NULL, &items, &rv));
	json_decref(items);
	/* Ten watches, each selecting one object by name, on one loop. */
	for (int i = 0; i < 10; i++) {
		snprintf(sel, sizeof(sel), "metadata.name=m%d", i);
		struct kc_watch_opts wo = { .field_selector = sel, .resource_version = rv };
		CHECK_OK(kc_watch_start(c, cm, ns, &wo, many_event, many_done, &m, &w[i]));
	}
	for (int i = 9; i >= 0; i--) {
		snprintf(name, sizeof(name), "m%d", i);
		o = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			      "metadata", "name", name);
		CHECK_OK(kc_create(c, cm, ns, o, NULL));
		json_decref(o);
	}
	CHECK(test_run_until(c, all_ten, &m, 10000));
	for (int i = 0; i < 10; i++)
		CHECK_INT_EQ(m.got[i], 1);
	/* Blocking calls reused one connection; each watch holds its own. */
	CHECK_INT_EQ(kc_client_connections(c), 1);
	for (int i = 0; i < 10; i++)
		kc_watch_stop(c, w[i]);
	free(rv);
	kc_client_free(c);
}

static void async_done(void *ud, int err, const struct kc_status *st, json_t *body)
{
	(void)st;
	(void)body;
	*(int *)ud = err < 0 ? err : 1;
}

static int answered(void *ud)
{
	return *(int *)ud != 0;
}

/* A request that ended by its timeout (libcurl's one-shot timer, the last
 * one it had) leaves an idle loop that sleeps: a deadline kept after it
 * fired made every poll return at once (an idle skiff-agent polled 16,000
 * times a second, from its watches' connect timeout on). */
TEST(idle_loop_sleeps_after_a_request_timed_out)
{
	struct test_server s = { 0 };
	struct kc_config *cfg = NULL;
	struct kc_client *c = NULL;
	unsigned long long end;
	char err[256] = "";
	int done = 0, turns = 0;

	test_server_start(&s);
	CHECK_OK(kc_config_load(s.kubeconfig, NULL, &cfg, err, sizeof(err)));
	CHECK_OK(kc_client_new(cfg, &(struct kc_client_opts){ .timeout_ms = 300 }, &c));
	kc_config_free(cfg);
	/* a watch as a plain request: the server streams, the client times out */
	CHECK_OK(kc_request_async(c, "GET", "/api/v1/namespaces/default/configmaps?watch=true",
				  NULL, async_done, &done, NULL));
	CHECK(test_run_until(c, answered, &done, 10000));
	CHECK_INT_EQ(done, -ETIMEDOUT);
	/* idle turns of at most 50 ms each */
	end = now_ns() + 300 * 1000000ULL;
	while (now_ns() < end && turns < 1000) {
		kc_client_run_once(c, 50);
		turns++;
	}
	CHECK(turns < 100);
	kc_client_free(c);
}

struct answer {
	int err;
	bool had_body;
	char reason[64];
	char name[64];
};

static void answer_done(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct answer *a = ud;

	a->err = err < 0 ? err : 1;
	a->had_body = body != NULL;
	snprintf(a->reason, sizeof(a->reason), "%s", st ? st->reason : "");
	snprintf(a->name, sizeof(a->name), "%s", body ? kc_meta_str(body, "name") ?: "" : "");
}

static int answer_in(void *ud)
{
	return ((struct answer *)ud)->err != 0;
}

/* kc_request_async_outcome: a 2xx answer's body is not handed over, an
 * error's Status is; and requests on the handles finished ones left (a
 * POST then GETs, more than the handles kept) are what they say. */
TEST(async_outcome_only_and_reused_handles)
{
	struct test_server s = { 0 };
	const char *ns = test_unique("ns");
	struct kc_client *c;
	char path[256];

	test_server_start(&s);
	c = test_client(&s);
	make_namespace(c, ns);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
	for (int i = 0; i < 20; i++) {
		char name[32], get[300];
		json_t *o;
		struct answer a = { 0 };

		snprintf(name, sizeof(name), "cm%d", i);
		o = configmap(name, "a");
		CHECK_OK(kc_request_async_outcome(c, "POST", path, o, answer_done, &a, NULL));
		CHECK(test_run_until(c, answer_in, &a, 10000));
		CHECK_INT_EQ(a.err, 1);
		CHECK(!a.had_body);
		a = (struct answer){ 0 };
		CHECK_OK(kc_request_async_outcome(c, "POST", path, o, answer_done, &a, NULL));
		CHECK(test_run_until(c, answer_in, &a, 10000));
		CHECK_INT_EQ(a.err, -EEXIST);
		CHECK_STR_EQ(a.reason, "AlreadyExists");
		json_decref(o);
		a = (struct answer){ 0 };
		snprintf(get, sizeof(get), "%s/%s", path, name);
		CHECK_OK(kc_request_async(c, "GET", get, NULL, answer_done, &a, NULL));
		CHECK(test_run_until(c, answer_in, &a, 10000));
		CHECK_INT_EQ(a.err, 1);
		CHECK(a.had_body);
		CHECK_STR_EQ(a.name, name);
	}
	kc_client_free(c);
}
