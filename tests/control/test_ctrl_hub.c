/* The shared informers (control/ctrl_hub.h) against a real skiff-server:
 * one informer per resource however often it is named or started, every
 * subscriber of a resource sees its events, a subscriber that comes after
 * the first list gets the cached objects as adds, and one that leaves
 * gets nothing more while the others go on. */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "control/ctrl_hub.h"
#include "lib/util.h"
#include "tests/harness/test.h"
#include "tests/lib/kube_test_server.h"

/* What one subscriber saw in the test's namespace, as "add a,update a". */
struct rec {
	const char *ns;
	char log[1024];
	int n;
};

static void rec_add(struct rec *r, const char *what, json_t *obj)
{
	size_t len = strlen(r->log);

	if (!streq(kc_meta_str(obj, "namespace"), r->ns))
		return;
	snprintf(r->log + len, sizeof(r->log) - len, "%s%s %s", len ? "," : "", what,
		 kc_meta_str(obj, "name"));
	r->n++;
}

static void on_add(void *ud, json_t *obj)
{
	rec_add(ud, "add", obj);
}

static void on_update(void *ud, json_t *old, json_t *obj)
{
	(void)old;
	rec_add(ud, "update", obj);
}

static void on_del(void *ud, json_t *obj)
{
	rec_add(ud, "delete", obj);
}

static const struct kc_resource *cm_res(void)
{
	return kc_resource_find("configmaps");
}

static void cm_create(struct kc_client *c, const char *ns, const char *name)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			      "metadata", "name", name, "data", "k", "0");

	CHECK_OK(kc_create(c, cm_res(), ns, o, NULL));
	json_decref(o);
}

static void cm_set(struct kc_client *c, const char *ns, const char *name, const char *value)
{
	json_t *p = json_pack("{s:{s:s}}", "data", "k", value);

	CHECK_OK(kc_patch(c, cm_res(), ns, name, NULL, KC_PATCH_MERGE, p, NULL));
	json_decref(p);
}

static void subscribe(struct ctrl_hub *h, struct rec *r)
{
	pthread_rwlock_wrlock(ctrl_hub_lock(h));
	CHECK_OK(ctrl_hub_subscribe(h, "configmaps", &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_del, .ud = r }));
	pthread_rwlock_unlock(ctrl_hub_lock(h));
}

/* Waits (generously) until r has seen n events; its log then. */
static const char *wait_n(struct ctrl_hub *h, struct rec *r, int n)
{
	unsigned long long end = now_ns() + 20000000000ULL;
	int have;

	for (;;) {
		pthread_rwlock_rdlock(ctrl_hub_lock(h));
		have = r->n;
		pthread_rwlock_unlock(ctrl_hub_lock(h));
		if (have >= n || now_ns() > end)
			break;
		usleep(10000);
	}
	if (have < n)
		test_fail(__FILE__, __LINE__, "waited for %d events, have %d: %s", n, have, r->log);
	return r->log;
}

static int hub_synced(struct ctrl_hub *h)
{
	int synced;

	pthread_rwlock_rdlock(ctrl_hub_lock(h));
	synced = kc_informer_synced(ctrl_hub_informer(h, "configmaps"));
	pthread_rwlock_unlock(ctrl_hub_lock(h));
	return synced;
}

TEST(subscribers_share_one_informer_late_ones_get_the_cache)
{
	static const char *const resources[] = { "configmaps", "configmaps", "secrets" };
	struct test_server s = { 0 };
	const char *ns = test_unique("hub");
	struct rec early = { .ns = ns }, late = { .ns = ns };
	struct kc_config *kc;
	struct kc_informer *inf;
	struct kc_client *c;
	struct ctrl_hub *h;
	json_t *ns_obj = json_pack("{s:{s:s}}", "metadata", "name", ns);
	char err[256];
	int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;

	test_server_start(&s);
	c = test_client(&s);
	CHECK_OK(kc_create(c, kc_resource_find("namespaces"), NULL, ns_obj, NULL));
	json_decref(ns_obj);
	cm_create(c, ns, "a");
	cm_create(c, ns, "b");
	CHECK_OK(kc_config_load(s.kubeconfig, NULL, &kc, err, sizeof(err)));
	CHECK_OK(ctrl_hub_new(resources, ARRAY_SIZE(resources), stop_fd, &h));
	CHECK(ctrl_hub_informer(h, "configmaps") == NULL); /* nothing watched before start */
	CHECK(ctrl_hub_informer(h, "pods") == NULL);       /* not one of the hub's */
	subscribe(h, &early);
	CHECK_OK(ctrl_hub_start(h, kc));
	inf = ctrl_hub_informer(h, "configmaps");
	CHECK(inf != NULL);
	CHECK_OK(ctrl_hub_start(h, kc)); /* once */
	CHECK(ctrl_hub_informer(h, "configmaps") == inf);
	CHECK(ctrl_hub_informer(h, "secrets") != NULL);
	CHECK_STR_EQ(wait_n(h, &early, 2), "add a,add b");
	for (int i = 0; i < 2000 && !hub_synced(h); i++)
		usleep(10000);
	CHECK(hub_synced(h));

	subscribe(h, &late); /* the cache replayed at once */
	CHECK_INT_EQ(late.n, 2);
	CHECK(strstr(late.log, "add a") && strstr(late.log, "add b"));
	cm_set(c, ns, "a", "1");
	CHECK_STR_EQ(wait_n(h, &early, 3), "add a,add b,update a");
	CHECK_STR_CONTAINS(wait_n(h, &late, 3), ",update a");

	pthread_rwlock_wrlock(ctrl_hub_lock(h));
	ctrl_hub_unsubscribe(h, &early);
	pthread_rwlock_unlock(ctrl_hub_lock(h));
	CHECK_OK(kc_delete(c, cm_res(), ns, "b", NULL, NULL));
	CHECK_STR_CONTAINS(wait_n(h, &late, 4), ",delete b");
	pthread_rwlock_rdlock(ctrl_hub_lock(h));
	CHECK_INT_EQ(early.n, 3);
	pthread_rwlock_unlock(ctrl_hub_lock(h));

	CHECK(write(stop_fd, &one, sizeof(one)) == sizeof(one));
	ctrl_hub_free(h);
	kc_config_free(kc);
	kc_client_free(c);
	close(stop_fd);
}
