/* The kubelet's threads (see kubelet.h): one loop thread runs the pod
 * informer (this node's pods only) and the runtime relist, and feeds a
 * work queue of pod keys; the workers reconcile one key each at a time. */
#include "dataplane/kubelet_int.h"

#include "lib/kube_informer.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Every map entry of the generated code is {base, key, value}. */
const char *kl_kv_find(size_t n, void **entries, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		Runtime__V1__PodSandbox__LabelsEntry *e = entries[i];

		if (streq(e->key, key))
			return e->value;
	}
	return NULL;
}

/* ---- the pod cache and per-pod memory (shared with the workers) ---- */

json_t *kl_pod_get(struct kubelet *k, const char *key)
{
	json_t *pod;

	pthread_mutex_lock(&k->lock);
	pod = json_deep_copy(json_object_get(k->pods, key));
	pthread_mutex_unlock(&k->lock);
	return pod;
}

json_t *kl_mem_get(struct kubelet *k, const char *key)
{
	json_t *m;

	pthread_mutex_lock(&k->lock);
	m = json_object_get(k->mem, key);
	if (!m) {
		m = json_object();
		json_object_set_new(k->mem, key, m);
	}
	json_incref(m);
	pthread_mutex_unlock(&k->lock);
	return m;
}

void kl_mem_drop(struct kubelet *k, const char *key)
{
	pthread_mutex_lock(&k->lock);
	json_object_del(k->mem, key);
	pthread_mutex_unlock(&k->lock);
}

void kl_requeue(struct kl_sync *s, unsigned long long after_ns)
{
	if (!s->requeue_ns || after_ns < s->requeue_ns)
		s->requeue_ns = after_ns;
}

void kl_event_post(struct kubelet *k, json_t *obj, const char *type, const char *reason,
		   const char *msg)
{
	uint64_t one = 1;

	pthread_mutex_lock(&k->lock);
	if (json_array_size(k->events) < 1000) /* the recorder's own queue bound */
		json_array_append_new(k->events, json_pack("{so ss ss ss}", "obj", json_deep_copy(obj),
							   "type", type, "reason", reason, "msg", msg));
	pthread_mutex_unlock(&k->lock);
	if (write(k->event_fd, &one, sizeof(one)) < 0)
		log_debug("kubelet: cannot wake the loop for an event: %m");
}

/* The loop thread hands the posted events to its recorder. */
static void send_events(struct kubelet *k, struct kc_recorder *rec)
{
	json_t *evs, *e;
	uint64_t n;
	size_t i;

	if (read(k->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&k->lock);
	evs = k->events;
	k->events = json_array();
	pthread_mutex_unlock(&k->lock);
	json_array_foreach(evs, i, e)
		if (kc_event(rec, kc_resource_find("pods"), json_object_get(e, "obj"),
			     json_path_str(e, "type"), json_path_str(e, "reason"), "%s",
			     json_path_str(e, "msg")) < 0)
			log_debug("kubelet: event %s not recorded", json_path_str(e, "reason"));
	json_decref(evs);
}

static void cache_set(struct kubelet *k, json_t *pod, bool sync)
{
	char key[512];

	if (kc_object_key(pod, key, sizeof(key)) < 0)
		return;
	pthread_mutex_lock(&k->lock);
	json_object_set_new(k->pods, key, json_deep_copy(pod));
	pthread_mutex_unlock(&k->lock);
	if (sync)
		kc_wq_add(k->wq, key);
}

/* obj without what the kubelet's own status writes change. */
static json_t *without_status(json_t *obj)
{
	json_t *c = json_copy(obj), *md = json_copy(json_object_get(obj, "metadata"));

	json_object_del(c, "status");
	json_object_del(md, "resourceVersion");
	json_object_del(md, "managedFields");
	json_object_set_new(c, "metadata", md);
	return c;
}

static void on_add(void *ud, json_t *obj) { cache_set(ud, obj, true); }
/* A change of the status alone (mostly the kubelet's own patch) updates
 * the cache but needs no sync: the relist and requeues drive those. */
static void on_update(void *ud, json_t *old_obj, json_t *obj)
{
	json_t *a = without_status(old_obj), *b = without_status(obj);

	cache_set(ud, obj, !json_equal(a, b));
	json_decref(a);
	json_decref(b);
}
static void on_delete(void *ud, json_t *obj)
{
	struct kubelet *k = ud;
	char key[512];

	if (kc_object_key(obj, key, sizeof(key)) < 0)
		return;
	pthread_mutex_lock(&k->lock);
	json_object_del(k->pods, key);
	pthread_mutex_unlock(&k->lock);
	kc_wq_add(k->wq, key);
}

/* ---- the relist (upstream's PLEG): what changed in the runtime ---- */

static void enqueue_pod(struct kubelet *k, const char *ns, const char *name)
{
	char key[512];

	if (ns && name && snprintf(key, sizeof(key), "%s/%s", ns, name) < (int)sizeof(key))
		kc_wq_add(k->wq, key);
}

/* Containers whose state changed since the last relist, and sandboxes no
 * cached pod owns, get their pod key queued. seen: id -> state. */
static void relist(struct kubelet *k, struct cri_client *cri, json_t *seen)
{
	Runtime__V1__ListContainersResponse *cl = NULL;
	Runtime__V1__ListPodSandboxResponse *sl = NULL;
	json_t *now = json_object();

	if (cri_list_containers(cri, NULL, &cl) == 0) {
		for (size_t i = 0; i < cl->n_containers; i++) {
			Runtime__V1__Container *c = cl->containers[i];
			json_t *old = json_object_get(seen, c->id);

			json_object_set_new(now, c->id, json_integer(c->state));
			if (!old || json_integer_value(old) != c->state)
				enqueue_pod(k, KL_LABEL(c, KL_LABEL_POD_NS),
					    KL_LABEL(c, KL_LABEL_POD_NAME));
		}
		json_object_clear(seen); /* removed containers are forgotten */
		json_object_update(seen, now);
		cri_msg_free(cl);
	}
	json_decref(now);
	if (!k->synced || cri_list_pod_sandbox(cri, NULL, &sl) < 0)
		return;
	for (size_t i = 0; i < sl->n_items; i++) {
		Runtime__V1__PodSandbox *p = sl->items[i];
		const char *uid = KL_LABEL(p, KL_LABEL_POD_UID);
		json_t *pod;
		char key[512];

		if (!p->metadata || !uid)
			continue; /* not made by a kubelet: not ours to remove */
		snprintf(key, sizeof(key), "%s/%s", p->metadata->namespace_, p->metadata->name);
		pthread_mutex_lock(&k->lock);
		pod = json_object_get(k->pods, key);
		if (pod && !streq(kc_meta_str(pod, "uid"), uid))
			pod = NULL;
		pthread_mutex_unlock(&k->lock);
		if (!pod)
			kc_wq_add(k->wq, key);
	}
	cri_msg_free(sl);
}

/* ---- the loop thread ---- */

static int open_informer(struct kubelet *k, struct kc_client *c, struct kc_informer **out)
{
	char sel[300];
	struct kc_informer_opts io = { .field_selector = sel };
	int r;

	snprintf(sel, sizeof(sel), "spec.nodeName=%s", k->o.node_name);
	r = kc_informer_new(c, kc_resource_find("pods"), &io, out);
	if (r < 0)
		return r;
	kc_informer_add_handlers(*out, &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_delete, .ud = k });
	return kc_informer_start(*out);
}

static void *loop_main(void *arg)
{
	struct kubelet *k = arg;
	struct kc_client_opts co = { .user_agent = "skiff-kubelet" };
	struct kc_client *c = NULL;
	struct kc_informer *inf = NULL;
	struct kc_recorder *rec = NULL;
	struct cri_client *cri = NULL;
	json_t *seen = json_object();
	unsigned long long next_relist = 0;
	int r;

	r = kc_client_new(k->cfg, &co, &c);
	if (r == 0)
		r = open_informer(k, c, &inf);
	if (r == 0)
		r = cri_client_new(k->o.runtime_endpoint, 10000, &cri);
	if (r == 0)
		r = kc_recorder_new(c, "kubelet", k->o.node_name, &rec);
	if (r < 0)
		log_error("kubelet: cannot start the pod informer of node %s: %s", k->o.node_name,
			  strerror(-r));
	while (r == 0) {
		struct pollfd fds[64];
		int timeout = KL_RELIST_MS;
		size_t n;

		fds[0] = (struct pollfd){ .fd = k->stop_fd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = k->event_fd, .events = POLLIN };
		n = 2 + kc_client_pollfds(c, fds + 2, ARRAY_SIZE(fds) - 2, &timeout);
		if (poll(fds, n, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (fds[1].revents)
			send_events(k, rec);
		kc_client_dispatch(c, fds + 2, n - 2);
		if (!k->synced && kc_informer_synced(inf)) {
			pthread_mutex_lock(&k->lock);
			k->synced = true;
			pthread_mutex_unlock(&k->lock);
			log_info("kubelet: node %s: %zu pods bound here", k->o.node_name,
				 json_object_size(k->pods));
		}
		if (now_ns() >= next_relist) {
			relist(k, cri, seen);
			next_relist = now_ns() + KL_RELIST_MS * 1000000ULL;
		}
	}
	kc_informer_free(inf);
	kc_recorder_free(rec);
	kc_client_free(c);
	cri_client_free(cri);
	json_decref(seen);
	return NULL;
}

/* ---- the workers ---- */

static void *worker_main(void *arg)
{
	struct kl_worker *w = arg;
	char *key;

	while (kc_wq_get(w->k->wq, -1, &key) == 0) {
		int r = kl_sync_pod(w, key);

		if (r < 0) {
			log_warn("kubelet: pod %s: %s (retrying)", key, strerror(-r));
			kc_wq_add_rate_limited(w->k->wq, key);
		} else {
			kc_wq_forget(w->k->wq, key);
		}
		kc_wq_done(w->k->wq, key);
		free(key);
	}
	kc_client_free(w->kc);
	cri_client_free(w->cri);
	free(w);
	return NULL;
}

static int worker_new(struct kubelet *k, struct kl_worker **out)
{
	struct kc_client_opts co = { .user_agent = "skiff-kubelet" };
	struct kl_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->k = k;
	r = cri_client_new(k->o.runtime_endpoint, 0, &w->cri);
	if (r == 0)
		r = kc_client_new(k->cfg, &co, &w->kc);
	if (r < 0) {
		kc_client_free(w->kc);
		cri_client_free(w->cri);
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

/* ---- start and stop ---- */

static void defaults(struct kubelet_options *o)
{
	if (!o->cluster_dns)
		o->cluster_dns = "10.96.0.10";
	if (!o->cluster_domain)
		o->cluster_domain = "cluster.local";
	if (!o->pod_log_root)
		o->pod_log_root = "/var/log/pods";
	if (!o->root_dir)
		o->root_dir = "/var/lib/kubelet";
	if (!o->cgroup_root)
		o->cgroup_root = "/";
	if (o->workers <= 0)
		o->workers = 16;
	if (o->log_max_size == 0)
		o->log_max_size = 10 << 20;
	if (o->log_max_files < 2)
		o->log_max_files = 5;
	if (o->log_monitor_interval_s <= 0)
		o->log_monitor_interval_s = 10;
}

/* The runtime answers Version, or the agent says so at once. */
static int check_runtime(const char *endpoint, char *err, size_t errlen)
{
	struct cri_client *cri;
	Runtime__V1__VersionResponse *v = NULL;
	int r = cri_client_new(endpoint, 5000, &cri);

	if (r == 0)
		r = cri_version(cri, &v);
	if (r < 0)
		set_err(err, errlen, r, "container runtime %s: %s", endpoint,
			cri ? cri_last_status(cri)->message : strerror(-r));
	else
		log_info("kubelet: runtime %s %s (CRI %s)", v->runtime_name, v->runtime_version,
			 v->runtime_api_version);
	cri_msg_free(v);
	cri_client_free(cri);
	return r;
}

static void block_signals(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int kubelet_start(const struct kubelet_options *o, struct kubelet **out, char *err,
		  size_t errlen)
{
	struct kubelet *k = calloc(1, sizeof(*k));
	sigset_t old;
	int r;

	if (!k)
		return -ENOMEM;
	k->o = *o;
	defaults(&k->o);
	pthread_mutex_init(&k->lock, NULL);
	k->pods = json_object();
	k->mem = json_object();
	k->events = json_array();
	k->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	k->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = k->stop_fd < 0 || k->event_fd < 0 ? -errno : 0;
	if (r == 0)
		r = api_source_config(&k->o.api, &k->cfg, err, errlen);
	if (r == 0)
		r = check_runtime(k->o.runtime_endpoint, err, errlen);
	if (r == 0)
		r = kc_wq_new(&(struct kc_wq_opts){ .base_delay_ns = 500000000ULL,
						    .max_delay_ns = 30000000000ULL,
						    .no_bucket = true }, &k->wq);
	if (r < 0) {
		kubelet_stop(k);
		return r;
	}
	/* The threads take no signals: the agent's main thread handles them. */
	pthread_sigmask(SIG_SETMASK, NULL, &old);
	block_signals();
	k->workers = calloc(k->o.workers, sizeof(*k->workers));
	for (int i = 0; r == 0 && i < k->o.workers; i++) {
		struct kl_worker *w;

		r = worker_new(k, &w);
		if (r == 0)
			r = -pthread_create(&k->workers[i], NULL, worker_main, w);
		if (r == 0)
			k->n_workers++;
	}
	if (r == 0)
		r = kl_prober_start(k, &k->prober);
	if (r == 0 && k->o.log_max_size > 0)
		r = -pthread_create(&k->logrotate, NULL, kl_logrotate_main, k);
	if (r == 0)
		r = -pthread_create(&k->loop, NULL, loop_main, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		set_err(err, errlen, r, "kubelet threads: %s", strerror(-r));
		kubelet_stop(k);
		return r;
	}
	*out = k;
	return 0;
}

void kubelet_stop(struct kubelet *k)
{
	uint64_t one = 1;

	if (!k)
		return;
	if (k->loop) {
		if (write(k->stop_fd, &one, sizeof(one)) < 0)
			log_warn("kubelet: cannot wake the loop: %m");
		pthread_join(k->loop, NULL);
	}
	if (k->logrotate) {
		if (write(k->stop_fd, &one, sizeof(one)) < 0)
			log_warn("kubelet: cannot wake the log rotation: %m");
		pthread_join(k->logrotate, NULL);
	}
	if (k->wq)
		kc_wq_shutdown(k->wq);
	for (int i = 0; i < k->n_workers; i++)
		pthread_join(k->workers[i], NULL);
	kl_prober_stop(k->prober); /* after the workers, which read it */
	free(k->workers);
	kc_wq_free(k->wq);
	kc_config_free(k->cfg);
	json_decref(k->pods);
	json_decref(k->mem);
	json_decref(k->events);
	if (k->stop_fd >= 0)
		close(k->stop_fd);
	if (k->event_fd >= 0)
		close(k->event_fd);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
