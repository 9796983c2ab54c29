/* The scheduler's driver (see sched_driver.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "control/ctrl_hub.h"
#include "control/ctrl_manager.h"
#include "control/sched.h"
#include "control/sched_driver.h"
#include "lib/kube_events.h"
#include "lib/kube_informer.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "lib/util.h"

#define SCHEDULER_NAME "default-scheduler"
#define EXPIRE_EVERY_NS 1000000000ULL

enum feed { FEED_NODES, FEED_PDBS, FEED_NAMESPACES, FEED_PODS, FEEDS };

/* The subscription to one resource of the shared informers. */
struct feed_sub {
	struct sdrv *d;
	enum feed f;
};

/* An informer event on its way from the shared informers' thread. */
struct feed_event {
	struct feed_event *next;
	enum feed f;
	json_t *old, *obj; /* referenced; old only for an update */
	bool del;
};

struct sdrv {
	const struct sched_driver_opts *o;
	struct kc_client *c;
	struct kc_recorder *rec;
	struct sched *s;
	struct feed_sub subs[FEEDS];
	bool subscribed;
	pthread_mutex_t mb_lock; /* the mailbox: events not yet applied */
	struct feed_event *mb_head, **mb_tail;
	int mb_fd; /* eventfd: the mailbox turned non-empty */
	int in_flight, max_in_flight;
	struct bind_req *flying;
	unsigned long long next_expire;
	unsigned long bound, failed;
	struct prom_metric *attempts, *attempt_seconds; /* NULL without metrics */
};

/* A binding in flight, and the Scheduled Event to record once it lands. */
struct bind_req {
	struct sdrv *d;
	struct bind_req *prev, *next; /* in flight, freed at teardown */
	char ns[64], name[254], uid[64];
	char *message;
};

/* ---- informers in ---- */

static void pod_upsert(struct sdrv *d, json_t *pod)
{
	int r = sched_pod_upsert(d->s, pod, now_ns());

	if (r < 0)
		log_debug("scheduler: pod %s/%s: %s", kc_meta_str(pod, "namespace"),
			  kc_meta_str(pod, "name"), strerror(-r));
}

static bool pod_placed(json_t *pod)
{
	const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));

	return node && *node;
}

static void pod_add(void *ud, json_t *pod)
{
	pod_upsert(ud, pod);
}

static void pod_update(void *ud, json_t *old, json_t *pod)
{
	struct sdrv *d = ud;

	pod_upsert(d, pod);
	if (pod_placed(old) &&
	    !json_equal(json_object_get(json_object_get(old, "metadata"), "labels"),
			json_object_get(json_object_get(pod, "metadata"), "labels")))
		sched_queue_move_all(d->s, now_ns());
}

static void pod_del(void *ud, json_t *pod)
{
	struct sdrv *d = ud;

	sched_pod_delete(d->s, kc_meta_str(pod, "namespace"), kc_meta_str(pod, "name"));
	if (pod_placed(pod))
		sched_queue_move_all(d->s, now_ns());
}

static void node_add(void *ud, json_t *node)
{
	struct sdrv *d = ud;

	if (sched_node_upsert(d->s, node) == 0)
		sched_queue_move_all(d->s, now_ns());
}

static void node_update(void *ud, json_t *old, json_t *node)
{
	(void)old;
	node_add(ud, node);
}

static void node_del(void *ud, json_t *node)
{
	struct sdrv *d = ud;

	sched_node_delete(d->s, kc_meta_str(node, "name"));
}

/* PodDisruptionBudgets, for preemption's choice of victims. */
static void pdb_add(void *ud, json_t *pdb)
{
	struct sdrv *d = ud;

	if (sched_pdb_upsert(d->s, pdb) < 0)
		log_debug("scheduler: poddisruptionbudget %s/%s not kept",
			  kc_meta_str(pdb, "namespace"), kc_meta_str(pdb, "name"));
}

static void pdb_update(void *ud, json_t *old, json_t *pdb)
{
	(void)old;
	pdb_add(ud, pdb);
}

static void pdb_del(void *ud, json_t *pdb)
{
	struct sdrv *d = ud;

	sched_pdb_delete(d->s, kc_meta_str(pdb, "namespace") ?: "", kc_meta_str(pdb, "name") ?: "");
}

/* Namespaces: their labels, for namespaceSelector in pod affinity terms;
 * a change may let parked pods fit. */
static void ns_add(void *ud, json_t *ns)
{
	struct sdrv *d = ud;

	if (sched_namespace_upsert(d->s, ns) == 0)
		sched_queue_move_all(d->s, now_ns());
}

static void ns_update(void *ud, json_t *old, json_t *ns)
{
	if (!json_equal(json_object_get(json_object_get(old, "metadata"), "labels"),
			json_object_get(json_object_get(ns, "metadata"), "labels")))
		ns_add(ud, ns);
}

static void ns_del(void *ud, json_t *ns)
{
	struct sdrv *d = ud;

	sched_namespace_delete(d->s, kc_meta_str(ns, "name") ?: "");
}

/* ---- bindings out ---- */

/* The pod an Event is about: as the informer holds it (uid and
 * resourceVersion for involvedObject), else by name and uid. */
static json_t *event_pod(struct sdrv *d, const char *ns, const char *name, const char *uid)
{
	char key[400];
	json_t *pod;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	pthread_rwlock_rdlock(ctrl_hub_lock(d->o->hub));
	pod = json_incref(kc_informer_get(ctrl_hub_informer(d->o->hub, "pods"), key));
	pthread_rwlock_unlock(ctrl_hub_lock(d->o->hub));
	return pod ? pod
		   : json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", name, "namespace", ns, "uid",
			       uid ? uid : "");
}

/* The Scheduled Event, recorded without waiting. */
static void scheduled_event(struct sdrv *d, const struct bind_req *b)
{
	_cleanup_json_ json_t *pod = event_pod(d, b->ns, b->name, b->uid);

	if (pod)
		kc_event(d->rec, kc_resource_find("pods"), pod, "Normal", "Scheduled", "%s", b->message);
}

static void bind_unlink(struct sdrv *d, struct bind_req *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		d->flying = b->next;
	if (b->next)
		b->next->prev = b->prev;
}

static void bind_done(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct bind_req *b = ud;
	struct sdrv *d = b->d;

	(void)body;
	d->in_flight--;
	bind_unlink(d, b);
	sched_bind_done(d->s, b->ns, b->name, err, now_ns());
	if (err == 0) {
		d->bound++;
		scheduled_event(d, b);
	} else {
		d->failed++;
		log_info("scheduler: binding %s/%s: %s", b->ns, b->name,
			 st && st->message[0] ? st->message : strerror(-err));
	}
	free(b->message);
	free(b);
}

static int bind_send(struct sdrv *d, const struct ctrl_action *a, const struct ctrl_action *ev)
{
	struct bind_req *b = calloc(1, sizeof(*b));
	struct sched_pod *p = sched_pod_find(d->s, a->ns, a->name);
	char path[1024];
	int r;

	if (!b)
		return -ENOMEM;
	b->d = d;
	snprintf(b->ns, sizeof(b->ns), "%s", a->ns);
	snprintf(b->name, sizeof(b->name), "%s", a->name);
	snprintf(b->uid, sizeof(b->uid), "%s", p && p->uid ? p->uid : "");
	b->message = strdup(ev ? ev->message : "");
	r = kc_path(kc_resource_find("pods"), a->ns, a->name, "binding", NULL, path, sizeof(path));
	if (r == 0 && b->message)
		r = kc_request_async_outcome(d->c, "POST", path, a->body, bind_done, b, NULL);
	else if (r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(b->message);
		free(b);
		return r;
	}
	d->in_flight++;
	b->next = d->flying;
	if (b->next)
		b->next->prev = b;
	d->flying = b;
	return 0;
}

/* An Event sched_cycle planned about a pod (FailedScheduling). */
static void pod_event(struct sdrv *d, const struct ctrl_action *a)
{
	_cleanup_json_ json_t *pod = event_pod(d, a->ns, a->name, NULL);

	if (pod)
		kc_event(d->rec, kc_resource_find("pods"), pod, a->event_type, a->reason, "%s",
			 a->message ? a->message : "");
}

/* A pod's status patch (PodScheduled=False, a victim's DisruptionTarget)
 * as a strategic merge patch, as upstream's PatchPodStatus: conditions
 * merge by type, so a running victim keeps its others. */
static void status_patch(struct sdrv *d, const struct ctrl_action *a)
{
	int r = kc_patch(d->c, kc_resource_find("pods"), a->ns, a->name, "status",
			 KC_PATCH_STRATEGIC, a->body, NULL);

	if (r < 0 && r != -ENOENT)
		log_info("scheduler: status of pod %s/%s: %s", a->ns, a->name,
			 kc_last_status(d->c)->message[0] ? kc_last_status(d->c)->message
							  : strerror(-r));
}

/* Sends what sched_cycle planned: the binding without waiting (its Event
 * after it), the rest (FailedScheduling, PodScheduled=False, the
 * victims' conditions and deletes) at once, in order. */
static void plan_send(struct sdrv *d, const struct ctrl_plan *plan)
{
	const struct ctrl_action *bind = NULL, *ev = NULL;

	for (size_t i = 0; i < plan->n; i++) {
		const struct ctrl_action *a = &plan->v[i];

		if (a->verb == CTRL_CREATE && a->subresource && streq(a->subresource, "binding"))
			bind = a;
		else if (a->verb == CTRL_EVENT && streq(a->reason, "Scheduled"))
			ev = a;
		else if (a->verb == CTRL_EVENT && streq(a->resource, "pods"))
			pod_event(d, a);
		else if (a->verb == CTRL_PATCH && streq(a->resource, "pods") &&
			 streq(a->subresource, "status"))
			status_patch(d, a);
		else
			ctrl_action_send(d->c, d->rec, a);
	}
	if (bind && bind_send(d, bind, ev) < 0)
		sched_bind_done(d->s, bind->ns, bind->name, -EIO, now_ns());
}

/* Counts one attempt as kube-scheduler does: scheduled (a binding was
 * planned), unschedulable, or error. */
static void attempt_done(struct sdrv *d, int r, const struct ctrl_plan *plan,
			 unsigned long long start)
{
	const char *result = r < 0 ? "error" : "unschedulable";

	for (size_t i = 0; r == 0 && i < plan->n; i++)
		if (plan->v[i].verb == CTRL_CREATE && streq(plan->v[i].subresource, "binding"))
			result = "scheduled";
	prom_inc(prom_with(d->attempts, result, SCHEDULER_NAME));
	prom_observe_since(prom_with(d->attempt_seconds, result, SCHEDULER_NAME), start);
}

static void schedule_ready(struct sdrv *d)
{
	unsigned long long now = now_ns();
	struct sched_pod *p;

	if (now >= d->next_expire) {
		size_t n = sched_expire_assumed(d->s, now);

		if (n)
			log_info("scheduler: %zu assumed pod(s) expired without their binding", n);
		d->next_expire = now + EXPIRE_EVERY_NS;
	}
	while (d->in_flight < d->max_in_flight && d->o->leading(d->o->ud) &&
	       (p = sched_queue_pop(d->s, now))) {
		struct ctrl_plan plan = CTRL_PLAN_INIT;
		unsigned long long start = now_ns();
		int r = sched_cycle(d->s, p, now, &plan, NULL);

		attempt_done(d, r, &plan, start);
		if (r == 0)
			plan_send(d, &plan);
		ctrl_plan_clear(&plan);
	}
}

/* ---- the loop ---- */

/* What each feed's events do here, and the resource it is. */
static const struct {
	const char *resource;
	void (*add)(void *ud, json_t *obj);
	void (*update)(void *ud, json_t *old, json_t *obj);
	void (*del)(void *ud, json_t *obj);
} feeds[FEEDS] = {
	[FEED_NODES] = { "nodes", node_add, node_update, node_del },
	[FEED_PDBS] = { "poddisruptionbudgets.policy", pdb_add, pdb_update, pdb_del },
	[FEED_NAMESPACES] = { "namespaces", ns_add, ns_update, ns_del },
	[FEED_PODS] = { "pods", pod_add, pod_update, pod_del },
};

/* ---- the shared informers' events, through the mailbox ----
 * The hub calls these on its thread (or on ours, replaying its cache as
 * we subscribe) with its lock held for writing: they only queue the event
 * and wake the loop, which applies it on the scheduler's thread. */

static void mb_push(struct feed_sub *fs, json_t *old, json_t *obj, bool del)
{
	struct sdrv *d = fs->d;
	struct feed_event *e = malloc(sizeof(*e));
	uint64_t one = 1;
	bool was_empty;

	if (!e) {
		log_error("scheduler: out of memory: a %s event lost", feeds[fs->f].resource);
		return;
	}
	*e = (struct feed_event){ .f = fs->f, .old = json_incref(old), .obj = json_incref(obj), .del = del };
	pthread_mutex_lock(&d->mb_lock);
	was_empty = !d->mb_head;
	*d->mb_tail = e;
	d->mb_tail = &e->next;
	pthread_mutex_unlock(&d->mb_lock);
	if (was_empty && write(d->mb_fd, &one, sizeof(one)) < 0)
		log_debug("scheduler: cannot wake the loop: %m");
}

static void tap_add(void *ud, json_t *obj)
{
	mb_push(ud, NULL, obj, false);
}

static void tap_update(void *ud, json_t *old, json_t *obj)
{
	mb_push(ud, old, obj, false);
}

static void tap_del(void *ud, json_t *obj)
{
	mb_push(ud, NULL, obj, true);
}

/* The events queued so far, applied in order (apply false: dropped). */
static void mb_drain(struct sdrv *d, bool apply)
{
	struct feed_event *e;
	uint64_t v;

	if (read(d->mb_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("scheduler: mailbox: %m");
	pthread_mutex_lock(&d->mb_lock);
	e = d->mb_head;
	d->mb_head = NULL;
	d->mb_tail = &d->mb_head;
	pthread_mutex_unlock(&d->mb_lock);
	while (e) {
		struct feed_event *next = e->next;

		if (apply && e->del)
			feeds[e->f].del(d, e->obj);
		else if (apply && e->old)
			feeds[e->f].update(d, e->old, e->obj);
		else if (apply)
			feeds[e->f].add(d, e->obj);
		json_decref(e->old);
		json_decref(e->obj);
		free(e);
		e = next;
	}
}

static int subscribe(struct sdrv *d)
{
	struct ctrl_hub *h = d->o->hub;
	int r = 0;

	pthread_rwlock_wrlock(ctrl_hub_lock(h));
	for (int f = 0; r == 0 && f < FEEDS; f++) {
		d->subs[f] = (struct feed_sub){ .d = d, .f = f };
		r = ctrl_hub_subscribe(h, feeds[f].resource, &(struct kc_informer_handlers){
			.add = tap_add, .update = tap_update, .del = tap_del, .ud = &d->subs[f] });
	}
	d->subscribed = true;
	pthread_rwlock_unlock(ctrl_hub_lock(h));
	return r;
}

static void unsubscribe(struct sdrv *d)
{
	if (!d->subscribed)
		return;
	pthread_rwlock_wrlock(ctrl_hub_lock(d->o->hub));
	for (int f = 0; f < FEEDS; f++)
		ctrl_hub_unsubscribe(d->o->hub, &d->subs[f]);
	pthread_rwlock_unlock(ctrl_hub_lock(d->o->hub));
	d->subscribed = false;
}

/* Whether every feed's first list is in (read before the mailbox is
 * drained: what came before it is queued by then). One the API does not
 * serve counts as synced, empty. */
static bool feeds_synced(struct sdrv *d)
{
	bool synced = true;

	pthread_rwlock_rdlock(ctrl_hub_lock(d->o->hub));
	for (int f = 0; f < FEEDS; f++) {
		struct kc_informer *inf = ctrl_hub_informer(d->o->hub, feeds[f].resource);

		synced &= !inf || kc_informer_synced(inf);
	}
	pthread_rwlock_unlock(ctrl_hub_lock(d->o->hub));
	return synced;
}

static int setup(struct sdrv *d, const struct kc_config *cfg)
{
	const char *const labels[] = { "result", "profile", NULL };
	int r;

	d->attempts = prom_counter_new(d->o->metrics, "scheduler_schedule_attempts_total",
				       "Number of attempts to schedule pods, by the result.", labels);
	d->attempt_seconds = prom_histogram_new(
		d->o->metrics, "scheduler_scheduling_attempt_duration_seconds",
		"Scheduling attempt latency in seconds (the scheduling cycle; bindings are sent asynchronously).", labels,
		(const double[]){ 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
				  0.512, 1.024, 2.048, 4.096, 8.192, 16.384 },
		15);
	r = kc_client_new(cfg, &(struct kc_client_opts){ .user_agent = SCHEDULER_NAME }, &d->c);
	if (r < 0 || (r = kc_recorder_new(d->c, SCHEDULER_NAME, NULL, &d->rec)) < 0 ||
	    (r = sched_new(NULL, &d->s)) < 0)
		return r;
	d->mb_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->mb_fd < 0)
		return -errno;
	return subscribe(d);
}

static void wait_once(struct sdrv *d, bool synced)
{
	struct pollfd fds[1100];
	int timeout = 1000;
	size_t n = kc_client_pollfds(d->c, fds, ARRAY_SIZE(fds) - 3, &timeout);
	size_t n_client = n;

	if (synced && d->in_flight < d->max_in_flight) {
		unsigned long long now = now_ns(), at = sched_queue_next_ready(d->s, now);

		if (at != UINT64_MAX) {
			long long ms = at <= now ? 0 : (long long)((at - now + 999999) / 1000000);

			if (ms < timeout)
				timeout = (int)ms;
		}
	}
	fds[n++] = (struct pollfd){ .fd = d->o->stop_fd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = d->o->leader_fd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = d->mb_fd, .events = POLLIN };
	if (poll(fds, n, timeout) < 0 && errno != EINTR)
		return;
	kc_client_dispatch(d->c, fds, n_client);
}

static bool stopping(const struct sdrv *d)
{
	struct pollfd p = { .fd = d->o->stop_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 || !d->o->leading(d->o->ud);
}

int sched_driver_run(const struct kc_config *cfg, const struct sched_driver_opts *o)
{
	struct sdrv d = { .o = o, .mb_fd = -1, .max_in_flight = o->parallel_binds > 0 ? o->parallel_binds : SCHED_PARALLEL_BINDS };
	int r;

	pthread_mutex_init(&d.mb_lock, NULL);
	d.mb_tail = &d.mb_head;
	r = setup(&d, cfg);
	while (r == 0 && !stopping(&d)) {
		bool synced = feeds_synced(&d);

		mb_drain(&d, true);
		if (synced)
			schedule_ready(&d);
		wait_once(&d, synced);
	}
	log_info("scheduler: stopping (%lu bound, %lu failed bindings)", d.bound, d.failed);
	unsubscribe(&d);
	if (d.mb_fd >= 0) {
		mb_drain(&d, false);
		close(d.mb_fd);
	}
	pthread_mutex_destroy(&d.mb_lock);
	kc_recorder_free(d.rec);
	kc_client_free(d.c); /* cancels the bindings in flight, without callbacks */
	while (d.flying) {
		struct bind_req *b = d.flying;

		d.flying = b->next;
		free(b->message);
		free(b);
	}
	sched_free(d.s);
	return r;
}
