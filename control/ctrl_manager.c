/* The controller manager's driver (see ctrl_manager.h): credentials,
 * elections, and while it leads, the shared informers on one thread and
 * every enabled controller of ctrl_defs on workers of its own; the
 * scheduler runs in a thread of its own (control/sched_driver.c). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "control/api.h"
#include "control/ctrl_hub.h"
#include "control/ctrl_leader.h"
#include "control/ctrl_manager.h"
#include "control/sched_driver.h"
#include "lib/kube_events.h"
#include "lib/kube_workqueue.h"
#include "lib/log.h"
#include "lib/util.h"

/* One loop: its election and its thread. */
struct ctrl_loop {
	const char *what; /* "controller manager", "scheduler" */
	struct ctrl_manager *m;
	struct kc_config *kc;
	struct ctrl_leader *leader;
	pthread_t thread;
	bool running;
	void (*session)(struct ctrl_loop *l);
};

struct ctrl_manager {
	struct ctrl_manager_config cfg;
	struct prom_registry *metrics; /* the server's (may be NULL) */
	char identity[300]; /* this process's, in both Leases */
	int stop_fd; /* eventfd: readable once stopping */
	struct ctrl_loop loops[2];
	struct ctrl_hub *hub; /* the informers both loops share */
};

bool ctrl_manager_stopping(const struct ctrl_manager *m)
{
	struct pollfd p = { .fd = m->stop_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* The shared informers' credentials: the controller manager's, which may
 * read every resource, or the scheduler's when it runs alone. */
static const struct kc_config *hub_config(const struct ctrl_manager *m)
{
	return m->loops[0].kc ? m->loops[0].kc : m->loops[1].kc;
}

/* ---- a session: the loops of one term as leader ----
 *
 * Threads, as kube-controller-manager's goroutines: the process's
 * shared informers (control/ctrl_hub.h, which the scheduler reads too)
 * run on a thread of their own: the caches change and the controllers'
 * handlers run there, under cache_lock (the hub's) for writing; the
 * loop's own thread runs the resync timer; each controller has its own workers
 * (--concurrent-*-syncs, one by default), each reconciling a key under
 * cache_lock for reading and sending the plan through a client of its
 * own, so a ReplicaSet's creates never hold up an EndpointSlice; the
 * Events of every worker go through one relay thread and its recorder. */

#define INFORMERS_MAX 24
#define CREATE_CONNECTIONS 32 /* a worker's creates at once (ctrl_run_create_many) */
#define EVENTS_QUEUED_MAX 10000

struct shared_informer {
	const char *resource;
	struct kc_informer *inf;
	struct ctrl_session *sess;
};

/* One controller of a session: its queue, its state, its threads. */
struct ctrl_ctl {
	const struct ctrl_def *def;
	struct kc_wq *q;
	void *state;
	struct ctrl_run *runs; /* [0] its handlers' (the informer thread), then its workers */
	size_t n_runs;
	pthread_mutex_t written_lock;
	json_t *written; /* key -> [[resource, object key, resourceVersion, at ns, created]] */
};

/* What one thread of a controller works with. */
struct ctrl_run {
	struct ctrl_ctl *ctl;
	struct ctrl_session *sess;
	struct kc_client *c;  /* reads and one write at a time */
	struct kc_client *wc; /* creates sent together (made on first use) */
	json_t **arr[INFORMERS_MAX]; /* ctrl_objects' arrays, per informer */
	size_t cap[INFORMERS_MAX];
	pthread_t thread;
	bool started;
	bool cache_locked; /* in a reconcile, until ctrl_cache_release */
	const char *key;   /* the key being synced, for the writes it makes */
};

/* An Event a worker asked for, on its way to the relay thread. */
struct relayed_event {
	struct relayed_event *next;
	struct ctrl_action a; /* no body; message owned */
	char *created_name;
};

struct event_relay {
	pthread_mutex_t lock;
	struct relayed_event *head, **tail;
	size_t n, dropped;
	int fd; /* eventfd: an Event queued, or stopping */
	struct kc_client *c;
	struct kc_recorder *rec;
	pthread_t thread;
	bool started;
};

struct ctrl_session {
	struct ctrl_loop *loop;
	struct kc_client *c; /* the loop thread's: the resync timer, runs[0] */
	pthread_rwlock_t *cache_lock; /* the hub's */
	atomic_bool stopping;
	struct shared_informer inf[INFORMERS_MAX];
	size_t n_inf;
	struct ctrl_ctl ctls[CTRL_MAX];
	size_t n_ctls;
	struct event_relay ev;
	struct kc_timer *resync;
};

static size_t informer_index(const struct ctrl_session *s, const char *resource)
{
	size_t i;

	for (i = 0; i < s->n_inf && !streq(s->inf[i].resource, resource); i++)
		;
	return i;
}

struct kc_informer *ctrl_informer(struct ctrl_run *c, const char *resource)
{
	size_t i = informer_index(c->sess, resource);

	return i < c->sess->n_inf ? c->sess->inf[i].inf : NULL;
}

void ctrl_enqueue(struct ctrl_run *c, const char *key)
{
	kc_wq_add(c->ctl->q, key);
}

void ctrl_enqueue_after(struct ctrl_run *c, const char *key, double seconds)
{
	kc_wq_add_after(c->ctl->q, key, seconds > 0 ? (unsigned long long)(seconds * 1e9) : 0);
}

const struct ctrl_manager_config *ctrl_run_config(struct ctrl_run *c)
{
	return &c->sess->loop->m->cfg;
}

struct kc_client *ctrl_run_client(struct ctrl_run *c)
{
	return c->c;
}

char *ctrl_run_root_ca(struct ctrl_run *c)
{
	const struct kc_blob *ca = &c->sess->loop->kc->ca;

	return ca->data && ca->len ? strndup(ca->data, ca->len) : NULL;
}

void *ctrl_run_state(struct ctrl_run *c)
{
	return c->ctl->state;
}

void ctrl_run_set_state(struct ctrl_run *c, void *state)
{
	c->ctl->state = state;
}

json_t *ctrl_cached(struct ctrl_run *c, const char *resource, const char *key)
{
	struct kc_informer *inf = ctrl_informer(c, resource);

	return inf ? kc_informer_get(inf, key) : NULL;
}

json_t **ctrl_indexed(struct ctrl_run *c, const char *resource, const char *index,
		      const char *value, size_t *n)
{
	struct kc_informer *inf = ctrl_informer(c, resource);
	_cleanup_json_ json_t *a = NULL;
	json_t **v;

	*n = 0;
	if (!inf || kc_informer_by_index(inf, index, value, &a) < 0 || !json_array_size(a))
		return NULL;
	v = malloc(json_array_size(a) * sizeof(*v));
	if (!v)
		return NULL;
	*n = json_array_size(a);
	for (size_t i = 0; i < *n; i++)
		v[i] = json_array_get(a, i); /* the cache holds them */
	return v;
}

void ctrl_cache_release(struct ctrl_run *c)
{
	if (!c->cache_locked)
		return;
	c->cache_locked = false;
	pthread_rwlock_unlock(c->sess->cache_lock);
}

int ctrl_objects(struct ctrl_run *c, const char *resource, json_t *const **objs, size_t *n)
{
	size_t i = informer_index(c->sess, resource), len = 0;
	json_t *items, *o;
	const char *k;

	*objs = NULL; /* not served: none */
	*n = 0;
	if (i == c->sess->n_inf || !c->sess->inf[i].inf)
		return 0;
	items = kc_informer_items(c->sess->inf[i].inf);
	if (json_object_size(items) > c->cap[i]) {
		size_t cap = json_object_size(items) * 2;
		json_t **a = realloc(c->arr[i], cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		c->arr[i] = a;
		c->cap[i] = cap;
	}
	json_object_foreach(items, k, o)
		c->arr[i][len++] = o;
	*objs = c->arr[i];
	*n = len;
	return 0;
}

/* ---- sending plans ---- */

static bool loop_leading(void *ud);

/* Sends one write; *out (may be NULL) gets the server's answer. */
static int write_send(struct kc_client *c, const struct ctrl_action *a, json_t **out)
{
	const struct kc_resource *res = kc_resource_find(a->resource);
	const char *sub = a->subresource, *method;
	const char *ctype = NULL;
	char path[1024];
	int r;

	if (!res)
		return -EINVAL;
	switch (a->verb) {
	case CTRL_CREATE:
		method = "POST";
		break;
	case CTRL_UPDATE:
		method = "PUT";
		break;
	case CTRL_UPDATE_STATUS:
		method = "PUT";
		sub = "status";
		break;
	case CTRL_PATCH:
		method = "PATCH";
		ctype = "application/merge-patch+json";
		break;
	default:
		method = "DELETE";
		break;
	}
	r = kc_path(res, a->ns, a->verb == CTRL_CREATE && !sub ? NULL : a->name, sub, NULL, path,
		    sizeof(path));
	if (r < 0)
		return r;
	r = kc_request(c, method, path, ctype, a->body, out);
	if ((r == -EEXIST && a->verb == CTRL_CREATE) || (r == -ENOENT && a->verb == CTRL_DELETE))
		return 0; /* the caches will show it */
	if (r < 0)
		log_info("%s %s %s/%s%s%s: %s", method, a->resource, a->ns, a->name, sub ? "/" : "",
			 sub ? sub : "", kc_last_status(c)->message[0] ? kc_last_status(c)->message
								      : strerror(-r));
	return r;
}

/* The object an Event is about, as the session's cache holds it (its uid
 * and resourceVersion go into involvedObject, which `kubectl describe`
 * selects by), or NULL. */
static json_t *event_subject(struct ctrl_session *s, const struct ctrl_action *a)
{
	char key[400];

	if (!s)
		return NULL;
	snprintf(key, sizeof(key), "%s%s%s", a->ns, a->ns[0] ? "/" : "", a->name);
	for (size_t i = 0; i < s->n_inf; i++)
		if (streq(s->inf[i].resource, a->resource) && s->inf[i].inf)
			return kc_informer_get(s->inf[i].inf, key);
	return NULL;
}

/* An Event: about (resource, ns, name), the cached object when s has it;
 * created_name, when the message ends in ": " (a create's "Created pod:
 * "), completes it. */
static int event_send(struct kc_recorder *rec, struct ctrl_session *s, const struct ctrl_action *a,
		      const char *created_name)
{
	const struct kc_resource *res = kc_resource_find(a->resource);
	json_t *cached = event_subject(s, a);
	_cleanup_json_ json_t *obj = cached ? json_incref(cached)
					    : json_pack("{s:{s:s,s:s}}", "metadata", "name", a->name,
							"namespace", a->ns);
	size_t len = a->message ? strlen(a->message) : 0;
	bool complete = created_name && len >= 2 && streq(a->message + len - 2, ": ");

	if (!res || !rec)
		return res ? 0 : -EINVAL;
	return kc_event(rec, res, obj, a->event_type, a->reason, "%s%s", a->message ? a->message : "",
			complete ? created_name : "");
}

/* ---- writes the caches must show before a key syncs again ----
 *
 * A worker may sync a key again before the informers have seen what its
 * last sync wrote (an EndpointSlice created a moment ago is not cached
 * yet: a second sync would create its endpoints again). As upstream's
 * EndpointSliceTracker, each write answered is noted under its key with
 * the resourceVersion the server gave; the key syncs again once every
 * cache shows at least that version, or no longer has an object it
 * updated (or after WRITTEN_TTL_NS). */

#define WRITTEN_TTL_NS (10 * 1000000000ULL)
#define WRITTEN_RETRY_S 0.02

static unsigned long long rv_of(json_t *obj)
{
	const char *rv = kc_meta_str(obj, "resourceVersion");

	return rv ? strtoull(rv, NULL, 10) : 0;
}

static void written_note(struct ctrl_run *c, const struct ctrl_action *a, json_t *answer)
{
	struct ctrl_ctl *ctl = c->ctl;
	char okey[320];
	json_t *list;

	if (!c->key || !rv_of(answer) || !ctrl_informer(c, a->resource) ||
	    (a->subresource && a->verb == CTRL_CREATE) || kc_object_key(answer, okey, sizeof(okey)) < 0)
		return;
	pthread_mutex_lock(&ctl->written_lock);
	list = json_object_get(ctl->written, c->key);
	if (!list)
		json_object_set_new(ctl->written, c->key, list = json_array());
	json_array_append_new(list, json_pack("[s,s,I,I,b]", a->resource, okey, (json_int_t)rv_of(answer),
					      (json_int_t)now_ns(), a->verb == CTRL_CREATE));
	pthread_mutex_unlock(&ctl->written_lock);
}

/* Whether the caches show every write of key's last syncs (the caches
 * read-locked). */
static bool written_seen(struct ctrl_run *c, const char *key)
{
	struct ctrl_ctl *ctl = c->ctl;
	unsigned long long now = now_ns();
	json_t *list, *w;
	size_t i = 0;

	pthread_mutex_lock(&ctl->written_lock);
	list = json_object_get(ctl->written, key);
	while (list && (w = json_array_get(list, i))) {
		json_t *obj = ctrl_cached(c, json_string_value(json_array_get(w, 0)),
					  json_string_value(json_array_get(w, 1)));
		unsigned long long rv = (unsigned long long)json_integer_value(json_array_get(w, 2));
		unsigned long long at = (unsigned long long)json_integer_value(json_array_get(w, 3));

		bool created = json_is_true(json_array_get(w, 4));

		/* an updated object gone meanwhile has nothing more to show */
		if ((obj && rv_of(obj) >= rv) || (!obj && !created) || now - at > WRITTEN_TTL_NS)
			json_array_remove(list, i);
		else
			i++;
	}
	if (list && !json_array_size(list))
		json_object_del(ctl->written, key);
	pthread_mutex_unlock(&ctl->written_lock);
	return !list || !i;
}

int ctrl_run_write(struct ctrl_run *c, const struct ctrl_action *a, json_t **out)
{
	_cleanup_json_ json_t *answer = NULL;
	int r;

	if (!loop_leading(c->sess->loop))
		return -ECANCELED;
	r = write_send(c->c, a, a->verb == CTRL_DELETE ? out : &answer);
	if (r == 0 && answer)
		written_note(c, a, answer);
	if (out && a->verb != CTRL_DELETE)
		*out = r == 0 ? json_incref(answer) : NULL;
	return r;
}

/* ctrl_run_create_many's requests in flight. */
struct create_many {
	size_t pending;
	int *rets;
	json_t **outs;
	char *err;
	size_t errlen;
};

struct create_one {
	struct create_many *m;
	const struct ctrl_action *a;
	size_t i;
};

static void create_answered(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct create_one *o = ud;
	struct create_many *m = o->m;

	if (err == -EEXIST)
		err = 0; /* the caches will show it */
	if (err < 0) {
		log_info("POST %s %s/%s: %s", o->a->resource, o->a->ns, o->a->name,
			 st && st->message[0] ? st->message : strerror(-err));
		if (m->err && !m->err[0])
			snprintf(m->err, m->errlen, "%s",
				 st && st->message[0] ? st->message : strerror(-err));
	}
	m->rets[o->i] = err;
	if (m->outs)
		m->outs[o->i] = err == 0 && body ? json_incref(body) : NULL;
	m->pending--;
	free(o);
}


int ctrl_run_create_many(struct ctrl_run *c, const struct ctrl_action *const *v, size_t n,
			 json_t **outs, int *rets, char *err, size_t errlen)
{
	struct create_many m = { .rets = rets, .outs = outs, .err = err, .errlen = errlen };
	char path[1024];
	int r;

	if (!loop_leading(c->sess->loop))
		return -ECANCELED;
	if (!c->wc && (r = kc_client_new(c->sess->loop->kc, &(struct kc_client_opts){
						 .user_agent = "skiff-controller-manager",
						 .max_connections = CREATE_CONNECTIONS,
						 .cancel = &c->sess->stopping }, &c->wc)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct kc_resource *res = kc_resource_find(v[i]->resource);
		struct create_one *o = calloc(1, sizeof(*o));

		rets[i] = -ENOMEM;
		if (outs)
			outs[i] = NULL;
		if (o)
			*o = (struct create_one){ .m = &m, .a = v[i], .i = i };
		if (!o || !res || (r = kc_path(res, v[i]->ns, NULL, NULL, NULL, path, sizeof(path))) < 0 ||
		    (r = kc_request_async(c->wc, "POST", path, v[i]->body, create_answered, o, NULL)) < 0) {
			rets[i] = !o ? -ENOMEM : !res ? -EINVAL : r;
			free(o);
			continue;
		}
		m.pending++;
	}
	while (m.pending > 0)
		kc_client_run_once(c->wc, 100);
	return 0;
}

/* Queues the Event for the relay thread (a copy: the plan goes first). */
void ctrl_run_event(struct ctrl_run *c, const struct ctrl_action *a, const char *created_name)
{
	struct event_relay *ev = &c->sess->ev;
	struct relayed_event *e = calloc(1, sizeof(*e));
	uint64_t one = 1;

	if (!e)
		return;
	e->a = *a;
	e->a.body = NULL;
	e->a.message = a->message ? strdup(a->message) : NULL;
	e->created_name = created_name ? strdup(created_name) : NULL;
	pthread_mutex_lock(&ev->lock);
	if (ev->n >= EVENTS_QUEUED_MAX) {
		ev->dropped++;
		pthread_mutex_unlock(&ev->lock);
		free(e->a.message);
		free(e->created_name);
		free(e);
		return;
	}
	*ev->tail = e;
	ev->tail = &e->next;
	ev->n++;
	pthread_mutex_unlock(&ev->lock);
	if (write(ev->fd, &one, sizeof(one)) < 0)
		log_debug("controller manager: cannot wake the event relay: %m");
}

int ctrl_action_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_action *a)
{
	return a->verb == CTRL_EVENT ? event_send(rec, NULL, a, NULL) : write_send(c, a, NULL);
}

/* How a plan goes out: through a client and a recorder (ctrl_plan_send),
 * or a worker's (ctrl_run_write, ctrl_run_event). */
struct plan_sender {
	int (*write)(void *ud, const struct ctrl_action *a, json_t **out);
	void (*event)(void *ud, const struct ctrl_action *a, const char *created_name);
	bool (*leading)(void *ud);
	void *ud, *leading_ud;
};

static int plan_send(const struct plan_sender *s, const struct ctrl_plan *p)
{
	char created[254] = "";
	int first = 0, last = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct ctrl_action *a = &p->v[i];
		_cleanup_json_ json_t *out = NULL;

		if (s->leading && !s->leading(s->leading_ud))
			return -ECANCELED;
		if (a->verb == CTRL_EVENT) {
			if (last == 0) /* an Event after a failed write is not recorded */
				s->event(s->ud, a, i && p->v[i - 1].verb == CTRL_CREATE ? created : NULL);
			continue;
		}
		last = s->write(s->ud, a, a->verb == CTRL_CREATE ? &out : NULL);
		snprintf(created, sizeof(created), "%s", kc_meta_str(out, "name") ?: a->name);
		if (last == -ESTALE)
			return last;
		if (last < 0 && !first)
			first = last;
	}
	return first;
}

struct client_sender {
	struct kc_client *c;
	struct kc_recorder *rec;
};

static int client_write(void *ud, const struct ctrl_action *a, json_t **out)
{
	return write_send(((struct client_sender *)ud)->c, a, out);
}

static void client_event(void *ud, const struct ctrl_action *a, const char *created_name)
{
	event_send(((struct client_sender *)ud)->rec, NULL, a, created_name);
}

int ctrl_plan_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_plan *p,
		   bool (*leading)(void *ud), void *ud)
{
	struct client_sender cs = { .c = c, .rec = rec };

	return plan_send(&(struct plan_sender){ .write = client_write, .event = client_event,
						.leading = leading, .ud = &cs, .leading_ud = ud },
			 p);
}

static int run_write(void *ud, const struct ctrl_action *a, json_t **out)
{
	return ctrl_run_write(ud, a, out);
}

static void run_event(void *ud, const struct ctrl_action *a, const char *created_name)
{
	ctrl_run_event(ud, a, created_name);
}

/* ---- the event relay: one thread, one recorder, for every worker ---- */

static void relay_drain(struct ctrl_session *s)
{
	struct event_relay *ev = &s->ev;
	struct relayed_event *e;
	uint64_t v;

	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("controller manager: event relay: %m");
	pthread_mutex_lock(&ev->lock);
	e = ev->head;
	ev->head = NULL;
	ev->tail = &ev->head;
	ev->n = 0;
	if (ev->dropped) {
		log_warn("controller manager: %zu Events dropped (over %d waiting)", ev->dropped,
			 EVENTS_QUEUED_MAX);
		ev->dropped = 0;
	}
	pthread_mutex_unlock(&ev->lock);
	while (e) {
		struct relayed_event *next = e->next;

		if (!atomic_load(&s->stopping) && loop_leading(s->loop)) {
			pthread_rwlock_rdlock(s->cache_lock); /* event_subject reads them */
			event_send(ev->rec, s, &e->a, e->created_name);
			pthread_rwlock_unlock(s->cache_lock);
		}
		free(e->a.message);
		free(e->created_name);
		free(e);
		e = next;
	}
}

/* The relay's loop: its client's (a recorder may write asynchronously)
 * and the queue's eventfd. */
static void *relay_main(void *arg)
{
	struct ctrl_session *s = arg;

	while (!atomic_load(&s->stopping)) {
		struct pollfd fds[64];
		int timeout = 1000;
		size_t n = kc_client_pollfds(s->ev.c, fds, ARRAY_SIZE(fds) - 1, &timeout);

		fds[n] = (struct pollfd){ .fd = s->ev.fd, .events = POLLIN };
		if (poll(fds, n + 1, timeout) < 0 && errno != EINTR)
			break;
		kc_client_dispatch(s->ev.c, fds, n);
		if (fds[n].revents)
			relay_drain(s);
	}
	return NULL;
}

static int relay_start(struct ctrl_session *s)
{
	struct event_relay *ev = &s->ev;
	int r;

	ev->tail = &ev->head;
	r = kc_client_new(s->loop->kc, &(struct kc_client_opts){ .user_agent = "skiff-controller-manager",
								 .cancel = &s->stopping },
			  &ev->c);
	if (r < 0 || (r = kc_recorder_new(ev->c, "controller-manager", NULL, &ev->rec)) < 0)
		return r;
	r = -pthread_create(&ev->thread, NULL, relay_main, s);
	if (r == 0) {
		ev->started = true;
		pthread_setname_np(ev->thread, "ctrl-events");
	}
	return r;
}

static void relay_stop(struct ctrl_session *s)
{
	struct event_relay *ev = &s->ev;
	uint64_t one = 1;

	if (ev->started) {
		if (write(ev->fd, &one, sizeof(one)) < 0)
			log_warn("controller manager: cannot stop the event relay: %m");
		pthread_join(ev->thread, NULL);
	}
	relay_drain(s); /* frees what is left (stopping: nothing sent) */
	kc_recorder_free(ev->rec);
	kc_client_free(ev->c);
}

/* ---- informers and queues ---- */

static void fan_out(struct shared_informer *si, json_t *old, json_t *obj)
{
	struct ctrl_session *s = si->sess;

	for (size_t i = 0; i < s->n_ctls; i++) {
		const struct ctrl_def *d = s->ctls[i].def;

		for (size_t j = 0; j < ARRAY_SIZE(d->informers) && d->informers[j]; j++)
			if (streq(d->informers[j], si->resource))
				d->event(&s->ctls[i].runs[0], si->resource, old, obj);
	}
}

static void on_add(void *ud, json_t *obj)
{
	fan_out(ud, NULL, obj);
}

static void on_update(void *ud, json_t *old, json_t *obj)
{
	fan_out(ud, old, obj);
}

static void on_del(void *ud, json_t *obj)
{
	fan_out(ud, obj, NULL);
}

/* The hub's informer of resource for this session (none when the API
 * does not serve it: its controllers see it empty). */
static int informer_ensure(struct ctrl_session *s, const char *resource)
{
	if (informer_index(s, resource) < s->n_inf)
		return 0;
	if (s->n_inf == INFORMERS_MAX)
		return -EINVAL;
	s->inf[s->n_inf++] = (struct shared_informer){
		.resource = resource, .sess = s, .inf = ctrl_hub_informer(s->loop->m->hub, resource) };
	return 0;
}

static bool all_synced(const struct ctrl_session *s)
{
	bool synced = true;

	pthread_rwlock_rdlock(s->cache_lock);
	for (size_t i = 0; i < s->n_inf; i++)
		synced &= !s->inf[i].inf || kc_informer_synced(s->inf[i].inf);
	pthread_rwlock_unlock(s->cache_lock);
	return synced;
}

/* Every cached object offered again to its controllers (client-go's
 * resync), then the timer armed for the next period. */
static void resync(void *ud)
{
	struct ctrl_session *s = ud;
	unsigned long long period = (unsigned long long)s->loop->m->cfg.resync_s * 1000000000ULL;

	s->resync = NULL;
	for (size_t i = 0; i < s->n_inf; i++) {
		json_t *o;
		const char *k;

		if (!s->inf[i].inf)
			continue;
		json_object_foreach(kc_informer_items(s->inf[i].inf), k, o)
			fan_out(&s->inf[i], o, o);
	}
	if (period)
		kc_timer_add(s->c, now_ns() + period, resync, s, &s->resync);
}

static bool loop_leading(void *ud)
{
	struct ctrl_loop *l = ud;

	return ctrl_leader_leading(l->leader);
}

/* One key of one controller: reconcile from the caches (read-locked),
 * send, requeue as the outcome says. */
static void process_key(struct ctrl_run *run, const char *key)
{
	struct ctrl_session *s = run->sess;
	const struct ctrl_def *def = run->ctl->def;
	struct kc_wq *q = run->ctl->q;
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	int r;

	pthread_rwlock_rdlock(s->cache_lock);
	run->cache_locked = true;
	if (!written_seen(run, key)) { /* the informers will catch up */
		ctrl_cache_release(run);
		kc_wq_add_after(q, key, (unsigned long long)(WRITTEN_RETRY_S * 1e9));
		kc_wq_done(q, key);
		return;
	}
	run->key = key;
	r = def->reconcile(run, key, &plan);
	ctrl_cache_release(run);
	if (r >= 0 && def->send)
		r = def->send(run, key, &plan);
	else if (r >= 0)
		r = plan_send(&(struct plan_sender){ .write = run_write, .event = run_event,
						     .leading = loop_leading, .ud = run,
						     .leading_ud = s->loop }, &plan);
	ctrl_plan_clear(&plan);
	run->key = NULL;
	if (r == -ESTALE) {
		kc_wq_forget(q, key);
		kc_wq_add(q, key);
	} else if (r < 0 && r != -ECANCELED) {
		log_debug("%s: %s: %s (retrying)", def->name, key, strerror(-r));
		kc_wq_add_rate_limited(q, key);
	} else {
		kc_wq_forget(q, key);
	}
	kc_wq_done(q, key);
}

/* A worker: keys of its controller's queue until the session stops. */
static void *worker_main(void *arg)
{
	struct ctrl_run *run = arg;
	char *key;

	while (kc_wq_get(run->ctl->q, -1, &key) == 0) {
		if (!atomic_load(&run->sess->stopping) && loop_leading(run->sess->loop))
			process_key(run, key);
		else
			kc_wq_done(run->ctl->q, key);
		free(key);
	}
	return NULL;
}

/* The controller's --concurrent-*-syncs, or 1. */
static int ctl_workers(const struct ctrl_manager_config *cfg, const struct ctrl_def *d)
{
	int n = d->syncs ? *(const int *)((const char *)cfg + d->syncs) : 1;

	return n > 0 ? n : 1;
}

static int ctl_setup(struct ctrl_session *s, struct ctrl_ctl *ctl, const struct ctrl_def *def)
{
	size_t workers = (size_t)ctl_workers(&s->loop->m->cfg, def);
	int r;

	*ctl = (struct ctrl_ctl){ .def = def, .written = json_object() };
	pthread_mutex_init(&ctl->written_lock, NULL);
	ctl->runs = calloc(1 + workers, sizeof(*ctl->runs));
	if (!ctl->runs || !ctl->written)
		return -ENOMEM;
	ctl->n_runs = 1 + workers;
	for (size_t i = 0; i < ctl->n_runs; i++) {
		ctl->runs[i] = (struct ctrl_run){ .ctl = ctl, .sess = s, .c = s->c };
		if (i > 0 && (r = kc_client_new(s->loop->kc, &(struct kc_client_opts){
							.user_agent = "skiff-controller-manager",
							.cancel = &s->stopping },
						&ctl->runs[i].c)) < 0)
			return r;
	}
	return kc_wq_new(&(struct kc_wq_opts){ .metrics = s->loop->m->metrics, .name = def->name },
			 &ctl->q);
}

/* One controller: its queue and clients, its informers, its indexes
 * (the caches locked for writing). */
static int ctl_add(struct ctrl_session *s, const struct ctrl_def *def)
{
	struct ctrl_ctl *ctl = &s->ctls[s->n_ctls++];
	int r = ctl_setup(s, ctl, def);

	for (size_t j = 0; r == 0 && j < ARRAY_SIZE(def->informers) && def->informers[j]; j++)
		r = informer_ensure(s, def->informers[j]);
	if (r == 0 && def->init)
		r = def->init(&ctl->runs[0]);
	return r;
}

static int workers_start(struct ctrl_session *s)
{
	for (size_t i = 0; i < s->n_ctls; i++) {
		struct ctrl_ctl *ctl = &s->ctls[i];

		for (size_t j = 1; j < ctl->n_runs; j++) {
			char name[16];
			int r = -pthread_create(&ctl->runs[j].thread, NULL, worker_main, &ctl->runs[j]);

			if (r < 0)
				return r;
			ctl->runs[j].started = true;
			snprintf(name, sizeof(name), "c-%.10s", ctl->def->name);
			pthread_setname_np(ctl->runs[j].thread, name);
		}
	}
	return 0;
}

static int session_setup(struct ctrl_session *s)
{
	const struct ctrl_manager_config *cfg = &s->loop->m->cfg;
	int r;

	pthread_mutex_init(&s->ev.lock, NULL);
	s->ev.tail = &s->ev.head;
	s->ev.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ev.fd < 0)
		return -errno;
	r = kc_client_new(s->loop->kc, &(struct kc_client_opts){ .user_agent = "skiff-controller-manager" },
			  &s->c);
	if (r < 0)
		return r;
	if ((r = ctrl_hub_start(s->loop->m->hub, hub_config(s->loop->m))) < 0)
		return r;
	s->cache_lock = ctrl_hub_lock(s->loop->m->hub);
	/* Every controller first, then the cached objects replayed to them
	 * as the session subscribes (client-go's late handler). */
	pthread_rwlock_wrlock(s->cache_lock);
	for (size_t i = 0; r == 0 && i < ctrl_n_defs; i++)
		if (cfg->enabled[i])
			r = ctl_add(s, &ctrl_defs[i]);
	for (size_t i = 0; r == 0 && i < s->n_inf; i++)
		r = ctrl_hub_subscribe(s->loop->m->hub, s->inf[i].resource,
				       &(struct kc_informer_handlers){ .add = on_add, .update = on_update,
								       .del = on_del, .ud = &s->inf[i] });
	pthread_rwlock_unlock(s->cache_lock);
	if (r < 0)
		return r;
	if (cfg->resync_s > 0)
		kc_timer_add(s->c, now_ns() + (unsigned long long)cfg->resync_s * 1000000000ULL, resync,
			     s, &s->resync);
	return relay_start(s);
}

static void session_teardown(struct ctrl_session *s)
{
	if (s->cache_lock) { /* no handler of ours runs from here on */
		pthread_rwlock_wrlock(s->cache_lock);
		for (size_t i = 0; i < s->n_inf; i++)
			ctrl_hub_unsubscribe(s->loop->m->hub, &s->inf[i]);
		pthread_rwlock_unlock(s->cache_lock);
	}
	atomic_store(&s->stopping, true);
	for (size_t i = 0; i < s->n_ctls; i++)
		if (s->ctls[i].q)
			kc_wq_shutdown(s->ctls[i].q);
	for (size_t i = 0; i < s->n_ctls; i++)
		for (size_t j = 1; j < s->ctls[i].n_runs; j++)
			if (s->ctls[i].runs[j].started)
				pthread_join(s->ctls[i].runs[j].thread, NULL);
	if (s->ev.fd >= 0)
		relay_stop(s);
	for (size_t i = 0; i < s->n_ctls; i++) {
		struct ctrl_ctl *ctl = &s->ctls[i];

		if (ctl->def->fini && ctl->runs)
			ctl->def->fini(&ctl->runs[0]);
		kc_wq_free(ctl->q);
		for (size_t j = 0; j < ctl->n_runs; j++) {
			for (size_t k = 0; k < INFORMERS_MAX; k++)
				free(ctl->runs[j].arr[k]);
			kc_client_free(ctl->runs[j].wc);
			if (j > 0)
				kc_client_free(ctl->runs[j].c);
		}
		free(ctl->runs);
		json_decref(ctl->written);
		pthread_mutex_destroy(&ctl->written_lock);
	}
	if (s->resync)
		kc_timer_cancel(s->c, s->resync);
	kc_client_free(s->c);
	if (s->ev.fd >= 0)
		close(s->ev.fd);
	pthread_mutex_destroy(&s->ev.lock);
}

/* poll() over the session's client, the leader and the stop fd; then
 * its events, with the caches locked for writing. The shared informers
 * sync on the hub's thread, which does not wake this poll: until the
 * workers start (synced), it looks every 10 ms (client-go's
 * WaitForCacheSync looks every 100 ms), not every second. */
static void session_wait(struct ctrl_session *s, bool working)
{
	struct pollfd fds[1100];
	int timeout = working ? 1000 : 10;
	size_t n = kc_client_pollfds(s->c, fds, ARRAY_SIZE(fds) - 2, &timeout);
	size_t n_client = n;

	fds[n++] = (struct pollfd){ .fd = s->loop->m->stop_fd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = ctrl_leader_fd(s->loop->leader), .events = POLLIN };
	if (poll(fds, n, timeout) < 0 && errno != EINTR)
		return;
	pthread_rwlock_wrlock(s->cache_lock);
	kc_client_dispatch(s->c, fds, n_client);
	pthread_rwlock_unlock(s->cache_lock);
}

static void manager_session(struct ctrl_loop *l)
{
	struct ctrl_session s = { .loop = l, .ev.fd = -1 };
	bool working = false;
	int r = session_setup(&s);

	if (r < 0) {
		log_error("controller manager: cannot start: %s", strerror(-r));
		session_teardown(&s);
		sleep(1);
		return;
	}
	log_info("controller manager: %zu controllers running", s.n_ctls);
	while (loop_leading(l)) {
		session_wait(&s, working);
		if (ctrl_manager_stopping(l->m))
			break;
		if (!working && all_synced(&s)) {
			if ((r = workers_start(&s)) < 0) {
				log_error("controller manager: cannot start workers: %s", strerror(-r));
				break;
			}
			working = true;
		}
	}
	session_teardown(&s);
}

/* ---- the loops' threads ---- */

static void *loop_main(void *arg)
{
	struct ctrl_loop *l = arg;

	while (!ctrl_manager_stopping(l->m)) {
		struct pollfd fds[2] = {
			{ .fd = l->m->stop_fd, .events = POLLIN },
			{ .fd = ctrl_leader_fd(l->leader), .events = POLLIN },
		};
		uint64_t v;

		if (!ctrl_leader_leading(l->leader)) {
			poll(fds, 2, 1000);
			if (read(fds[1].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
			continue;
		}
		if (read(fds[1].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		log_info("%s: leading (%s)", l->what, ctrl_leader_identity(l->leader));
		l->session(l);
		if (!ctrl_manager_stopping(l->m))
			log_warn("%s: stopped (no longer leading)", l->what);
	}
	return NULL;
}

/* The client configuration of one loop: its kubeconfig over loopback
 * HTTPS, or the trusted plain port when the server has no HTTPS. */
static int loop_config(const struct api_config *api, const char *base, const char *cn,
		       struct kc_config **out)
{
	const char *host = api->bind_address;
	char url[300], path[4300], buf[512], err[256];
	int r;

	if (!host || streq(host, "0.0.0.0") || streq(host, "::"))
		host = "127.0.0.1";
	if (!api->secure_port) {
		snprintf(buf, sizeof(buf),
			 "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n"
			 "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user: {}\n"
			 "contexts:\n- name: c\n  context: {cluster: s, user: u}\ncurrent-context: c\n",
			 api->insecure_port);
		r = kc_config_parse(buf, strlen(buf), NULL, NULL, out, err, sizeof(err));
	} else {
		snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%d" : "https://%s:%d",
			 host, api->secure_port);
		r = api_tls_component(api->data_dir, base, cn, url, path, sizeof(path));
		if (r < 0)
			return r;
		r = kc_config_load(path, NULL, out, err, sizeof(err));
	}
	if (r < 0)
		log_error("%s: kubeconfig: %s", cn, err);
	return r;
}

static int loop_start(struct ctrl_manager *m, struct ctrl_loop *l, const struct api_config *api,
		      const char *what, const char *lease, const char *base, const char *cn,
		      const char *thread_name, void (*session)(struct ctrl_loop *l))
{
	bool elect = !streq(m->cfg.leader_elect, "false");
	int r;

	*l = (struct ctrl_loop){ .what = what, .m = m, .session = session };
	r = loop_config(api, base, cn, &l->kc);
	if (r < 0)
		return r;
	r = ctrl_leader_new(l->kc, &(struct ctrl_leader_opts){ .name = lease, .identity = m->identity,
								 .disabled = !elect },
			    &l->leader);
	if (r < 0 || (r = ctrl_leader_start(l->leader)) < 0)
		return r;
	r = -pthread_create(&l->thread, NULL, loop_main, l);
	if (r == 0) {
		l->running = true;
		pthread_setname_np(l->thread, thread_name); /* for top -H and perf */
	}
	return r;
}

static void sched_session(struct ctrl_loop *l)
{
	struct sched_driver_opts o = {
		.hub = l->m->hub,
		.parallel_binds = l->m->cfg.sched_parallel_binds,
		.stop_fd = l->m->stop_fd,
		.leader_fd = ctrl_leader_fd(l->leader),
		.leading = loop_leading,
		.ud = l,
		.metrics = l->m->metrics,
	};
	int r = ctrl_hub_start(l->m->hub, hub_config(l->m));

	if (r == 0)
		r = sched_driver_run(l->kc, &o);
	if (r < 0) {
		log_error("scheduler: %s", strerror(-r));
		sleep(1);
	}
}

/* The shared informers: every resource of the enabled controllers and
 * the scheduler's (started by the first loop to lead). */
static int hub_new(struct ctrl_manager *m)
{
	static const char *const sched_resources[] = { "nodes", "poddisruptionbudgets.policy",
						       "namespaces", "pods" };
	const char *res[CTRL_MAX * 12 + ARRAY_SIZE(sched_resources)];
	size_t n = 0;

	for (size_t i = 0; i < ctrl_n_defs; i++)
		for (size_t j = 0; m->cfg.enabled[i] && j < ARRAY_SIZE(ctrl_defs[i].informers) &&
				   ctrl_defs[i].informers[j]; j++)
			res[n++] = ctrl_defs[i].informers[j];
	for (size_t i = 0; !m->cfg.no_scheduler && i < ARRAY_SIZE(sched_resources); i++)
		res[n++] = sched_resources[i];
	return ctrl_hub_new(res, n, m->stop_fd, &m->hub);
}

int ctrl_manager_start(const struct ctrl_manager_config *cfg, const struct api_config *api,
		       struct ctrl_manager **out)
{
	struct ctrl_manager *m = calloc(1, sizeof(*m));
	bool any = false;
	int r;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->metrics = api->metrics;
	ctrl_leader_identity_new(m->identity, sizeof(m->identity));
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0) {
		free(m);
		return -errno;
	}
	for (size_t i = 0; i < ctrl_n_defs; i++)
		any |= cfg->enabled[i];
	r = hub_new(m);
	if (r == 0)
		r = any ? loop_start(m, &m->loops[0], api, "controller manager", "kube-controller-manager",
			     "controller-manager", "system:kube-controller-manager", "ctrl-manager", manager_session)
		: 0;
	if (r == 0 && !cfg->no_scheduler)
		r = loop_start(m, &m->loops[1], api, "scheduler", "kube-scheduler", "scheduler",
			       "system:kube-scheduler", "scheduler", sched_session);
	if (r < 0) {
		ctrl_manager_free(m);
		return r;
	}
	*out = m;
	return 0;
}

void ctrl_manager_free(struct ctrl_manager *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (write(m->stop_fd, &one, sizeof(one)) < 0)
		log_warn("controller manager: cannot signal stop: %m");
	for (size_t i = 0; i < ARRAY_SIZE(m->loops); i++) {
		struct ctrl_loop *l = &m->loops[i];

		if (l->running)
			pthread_join(l->thread, NULL);
		ctrl_leader_free(l->leader);
	}
	ctrl_hub_free(m->hub); /* its thread has seen stop_fd too */
	for (size_t i = 0; i < ARRAY_SIZE(m->loops); i++)
		kc_config_free(m->loops[i].kc);
	close(m->stop_fd);
	free(m);
}
