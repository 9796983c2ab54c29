/* The controller manager's driver (see ctrl_manager.h): credentials,
 * elections, and one thread that runs every enabled controller of
 * ctrl_defs over shared informers while it leads; the scheduler runs in
 * a second thread (control/sched_driver.c). */
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
#include "control/ctrl_leader.h"
#include "control/ctrl_manager.h"
#include "control/sched_driver.h"
#include "lib/kube_events.h"
#include "lib/kube_workqueue.h"
#include "lib/log.h"
#include "lib/util.h"

#define INFORMERS_MAX 24
#define KEYS_PER_TURN 64

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
	char identity[300]; /* this process's, in both Leases */
	int stop_fd; /* eventfd: readable once stopping */
	struct ctrl_loop loops[2];
};

bool ctrl_manager_stopping(const struct ctrl_manager *m)
{
	struct pollfd p = { .fd = m->stop_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* ---- a session: the loops of one term as leader ---- */

struct shared_informer {
	const char *resource;
	struct kc_informer *inf;
	json_t **arr; /* ctrl_objects' array */
	size_t cap;
	struct ctrl_session *sess;
};

struct ctrl_run {
	const struct ctrl_def *def;
	struct ctrl_session *sess;
	struct kc_wq *q;
	void *state;
};

struct ctrl_session {
	struct ctrl_loop *loop;
	struct kc_client *c;
	struct kc_client *wc; /* creates sent together (no watches: a nested
			       * loop over it runs only their answers) */
	struct kc_recorder *rec;
	struct shared_informer inf[INFORMERS_MAX];
	size_t n_inf;
	struct ctrl_run runs[CTRL_MAX];
	size_t n_runs;
	struct kc_timer *resync;
};

struct kc_informer *ctrl_informer(struct ctrl_run *c, const char *resource)
{
	for (size_t i = 0; i < c->sess->n_inf; i++)
		if (streq(c->sess->inf[i].resource, resource))
			return c->sess->inf[i].inf;
	return NULL;
}

void ctrl_enqueue(struct ctrl_run *c, const char *key)
{
	kc_wq_add(c->q, key);
}

void ctrl_enqueue_after(struct ctrl_run *c, const char *key, double seconds)
{
	kc_wq_add_after(c->q, key, seconds > 0 ? (unsigned long long)(seconds * 1e9) : 0);
}

const struct ctrl_manager_config *ctrl_run_config(struct ctrl_run *c)
{
	return &c->sess->loop->m->cfg;
}

struct kc_client *ctrl_run_client(struct ctrl_run *c)
{
	return c->sess->c;
}

char *ctrl_run_root_ca(struct ctrl_run *c)
{
	const struct kc_blob *ca = &c->sess->loop->kc->ca;

	return ca->data && ca->len ? strndup(ca->data, ca->len) : NULL;
}

void *ctrl_run_state(struct ctrl_run *c)
{
	return c->state;
}

void ctrl_run_set_state(struct ctrl_run *c, void *state)
{
	c->state = state;
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

int ctrl_objects(struct ctrl_run *c, const char *resource, json_t *const **objs, size_t *n)
{
	for (size_t i = 0; i < c->sess->n_inf; i++) {
		struct shared_informer *si = &c->sess->inf[i];
		json_t *items, *o;
		const char *k;
		size_t len = 0;

		if (!streq(si->resource, resource) || !si->inf)
			continue;
		items = kc_informer_items(si->inf);
		if (json_object_size(items) > si->cap) {
			size_t cap = json_object_size(items) * 2;
			json_t **a = realloc(si->arr, cap * sizeof(*a));

			if (!a)
				return -ENOMEM;
			si->arr = a;
			si->cap = cap;
		}
		json_object_foreach(items, k, o)
			si->arr[len++] = o;
		*objs = si->arr;
		*n = len;
		return 0;
	}
	*objs = NULL; /* not served: none */
	*n = 0;
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

int ctrl_run_write(struct ctrl_run *c, const struct ctrl_action *a, json_t **out)
{
	if (!loop_leading(c->sess->loop))
		return -ECANCELED;
	return write_send(c->sess->c, a, out);
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
	struct ctrl_session *s = c->sess;
	struct create_many m = { .rets = rets, .outs = outs, .err = err, .errlen = errlen };
	char path[1024];
	int r;

	if (!loop_leading(s->loop))
		return -ECANCELED;
	if (!s->wc && (r = kc_client_new(s->loop->kc, &(struct kc_client_opts){
						 .user_agent = "skiff-controller-manager" }, &s->wc)) < 0)
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
		    (r = kc_request_async(s->wc, "POST", path, v[i]->body, create_answered, o, NULL)) < 0) {
			rets[i] = !o ? -ENOMEM : !res ? -EINVAL : r;
			free(o);
			continue;
		}
		m.pending++;
	}
	while (m.pending > 0)
		kc_client_run_once(s->wc, 100);
	return 0;
}

void ctrl_run_event(struct ctrl_run *c, const struct ctrl_action *a, const char *created_name)
{
	event_send(c->sess->rec, c->sess, a, created_name);
}

int ctrl_action_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_action *a)
{
	return a->verb == CTRL_EVENT ? event_send(rec, NULL, a, NULL) : write_send(c, a, NULL);
}

/* ctrl_plan_send, with the session whose caches name the Events' objects
 * (NULL: none). */
static int plan_send(struct ctrl_session *s, struct kc_client *c, struct kc_recorder *rec,
		     const struct ctrl_plan *p, bool (*leading)(void *ud), void *ud)
{
	char created[254] = "";
	int first = 0, last = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct ctrl_action *a = &p->v[i];
		_cleanup_json_ json_t *out = NULL;

		if (leading && !leading(ud))
			return -ECANCELED;
		if (a->verb == CTRL_EVENT) {
			if (last == 0) /* an Event after a failed write is not recorded */
				event_send(rec, s, a, i && p->v[i - 1].verb == CTRL_CREATE ? created : NULL);
			continue;
		}
		last = write_send(c, a, a->verb == CTRL_CREATE ? &out : NULL);
		snprintf(created, sizeof(created), "%s", kc_meta_str(out, "name") ?: a->name);
		if (last == -ESTALE)
			return last;
		if (last < 0 && !first)
			first = last;
	}
	return first;
}

int ctrl_plan_send(struct kc_client *c, struct kc_recorder *rec, const struct ctrl_plan *p,
		   bool (*leading)(void *ud), void *ud)
{
	return plan_send(NULL, c, rec, p, leading, ud);
}

/* ---- informers and queues ---- */

static void fan_out(struct shared_informer *si, json_t *old, json_t *obj)
{
	struct ctrl_session *s = si->sess;

	for (size_t i = 0; i < s->n_runs; i++) {
		const struct ctrl_def *d = s->runs[i].def;

		for (size_t j = 0; j < ARRAY_SIZE(d->informers) && d->informers[j]; j++)
			if (streq(d->informers[j], si->resource))
				d->event(&s->runs[i], si->resource, old, obj);
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

static int informer_ensure(struct ctrl_session *s, const char *resource)
{
	const struct kc_resource *res = kc_resource_find(resource);
	struct shared_informer *si;
	int r;

	for (size_t i = 0; i < s->n_inf; i++)
		if (streq(s->inf[i].resource, resource))
			return 0;
	if (!res || s->n_inf == INFORMERS_MAX)
		return -EINVAL;
	/* A resource the API does not serve would never sync: its
	 * controllers see it empty instead. */
	si = &s->inf[s->n_inf];
	*si = (struct shared_informer){ .resource = resource, .sess = s };
	r = kc_list(s->c, res, NULL, &(struct kc_list_opts){ .limit = 1 }, NULL);
	if (r == -ENOENT) {
		log_warn("controller manager: the API serves no %s; its controllers see none", resource);
		s->n_inf++; /* known, without an informer */
		return 0;
	}
	r = kc_informer_new(s->c, res, NULL, &si->inf);
	if (r < 0)
		return r;
	s->n_inf++;
	return kc_informer_add_handlers(si->inf, &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_del, .ud = si });
}

static bool all_synced(const struct ctrl_session *s)
{
	for (size_t i = 0; i < s->n_inf; i++)
		if (s->inf[i].inf && !kc_informer_synced(s->inf[i].inf))
			return false;
	return true;
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

/* One key of one controller: reconcile, send, requeue as the outcome says. */
static void process_key(struct ctrl_run *run, const char *key)
{
	struct ctrl_session *s = run->sess;
	struct ctrl_plan plan = CTRL_PLAN_INIT;
	int r = run->def->reconcile(run, key, &plan);

	if (r >= 0 && run->def->send)
		r = run->def->send(run, key, &plan);
	else if (r >= 0)
		r = plan_send(s, s->c, s->rec, &plan, loop_leading, s->loop);
	ctrl_plan_clear(&plan);
	if (r == -ESTALE) {
		kc_wq_forget(run->q, key);
		kc_wq_add(run->q, key);
	} else if (r < 0 && r != -ECANCELED) {
		log_debug("%s: %s: %s (retrying)", run->def->name, key, strerror(-r));
		kc_wq_add_rate_limited(run->q, key);
	} else {
		kc_wq_forget(run->q, key);
	}
	kc_wq_done(run->q, key);
}

static void drain_queues(struct ctrl_session *s)
{
	for (size_t i = 0; i < s->n_runs && loop_leading(s->loop); i++) {
		char *key;

		for (int k = 0; k < KEYS_PER_TURN && kc_wq_get(s->runs[i].q, 0, &key) == 0; k++) {
			process_key(&s->runs[i], key);
			free(key);
		}
	}
}

static int session_setup(struct ctrl_session *s)
{
	const struct ctrl_manager_config *cfg = &s->loop->m->cfg;
	int r;

	r = kc_client_new(s->loop->kc, &(struct kc_client_opts){ .user_agent = "skiff-controller-manager" },
			  &s->c);
	if (r < 0 || (r = kc_recorder_new(s->c, "controller-manager", NULL, &s->rec)) < 0)
		return r;
	for (size_t i = 0; i < ctrl_n_defs; i++) {
		struct ctrl_run *run;

		if (!cfg->enabled[i])
			continue;
		run = &s->runs[s->n_runs];
		*run = (struct ctrl_run){ .def = &ctrl_defs[i], .sess = s };
		r = kc_wq_new(NULL, &run->q);
		if (r < 0)
			return r;
		s->n_runs++;
		for (size_t j = 0; j < ARRAY_SIZE(run->def->informers) && run->def->informers[j]; j++)
			if ((r = informer_ensure(s, run->def->informers[j])) < 0)
				return r;
		if (run->def->init && (r = run->def->init(run)) < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_inf; i++)
		if (s->inf[i].inf && (r = kc_informer_start(s->inf[i].inf)) < 0)
			return r;
	if (cfg->resync_s > 0)
		kc_timer_add(s->c, now_ns() + (unsigned long long)cfg->resync_s * 1000000000ULL, resync,
			     s, &s->resync);
	return 0;
}

static void session_teardown(struct ctrl_session *s)
{
	for (size_t i = 0; i < s->n_runs; i++) {
		if (s->runs[i].def->fini)
			s->runs[i].def->fini(&s->runs[i]);
		kc_wq_shutdown(s->runs[i].q);
		kc_wq_free(s->runs[i].q);
	}
	for (size_t i = 0; i < s->n_inf; i++) {
		kc_informer_free(s->inf[i].inf);
		free(s->inf[i].arr);
	}
	if (s->resync)
		kc_timer_cancel(s->c, s->resync);
	kc_recorder_free(s->rec);
	kc_client_free(s->wc);
	kc_client_free(s->c);
}

/* poll() over the client, the queues, the leader and the stop fd. */
static void session_wait(struct ctrl_session *s, bool synced)
{
	struct pollfd fds[1100];
	int timeout = 1000;
	size_t n = kc_client_pollfds(s->c, fds, ARRAY_SIZE(fds) - CTRL_MAX - 2, &timeout);
	size_t n_client = n;

	fds[n++] = (struct pollfd){ .fd = s->loop->m->stop_fd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = ctrl_leader_fd(s->loop->leader), .events = POLLIN };
	for (size_t i = 0; synced && i < s->n_runs; i++) {
		int t = kc_wq_timeout_ms(s->runs[i].q);

		fds[n++] = (struct pollfd){ .fd = kc_wq_fd(s->runs[i].q), .events = POLLIN };
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
	}
	if (poll(fds, n, timeout) < 0 && errno != EINTR)
		return;
	kc_client_dispatch(s->c, fds, n_client);
}

static void manager_session(struct ctrl_loop *l)
{
	struct ctrl_session s = { .loop = l };
	int r = session_setup(&s);

	if (r < 0) {
		log_error("controller manager: cannot start: %s", strerror(-r));
		session_teardown(&s);
		sleep(1);
		return;
	}
	log_info("controller manager: %zu controllers running", s.n_runs);
	while (loop_leading(l)) {
		bool synced = all_synced(&s);

		session_wait(&s, synced);
		if (ctrl_manager_stopping(l->m))
			break;
		if (synced)
			drain_queues(&s);
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
		      void (*session)(struct ctrl_loop *l))
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
	if (r == 0)
		l->running = true;
	return r;
}

static void sched_session(struct ctrl_loop *l)
{
	struct sched_driver_opts o = {
		.parallel_binds = l->m->cfg.sched_parallel_binds,
		.stop_fd = l->m->stop_fd,
		.leader_fd = ctrl_leader_fd(l->leader),
		.leading = loop_leading,
		.ud = l,
	};
	int r = sched_driver_run(l->kc, &o);

	if (r < 0) {
		log_error("scheduler: %s", strerror(-r));
		sleep(1);
	}
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
	ctrl_leader_identity_new(m->identity, sizeof(m->identity));
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0) {
		free(m);
		return -errno;
	}
	for (size_t i = 0; i < ctrl_n_defs; i++)
		any |= cfg->enabled[i];
	r = any ? loop_start(m, &m->loops[0], api, "controller manager", "kube-controller-manager",
			     "controller-manager", "system:kube-controller-manager", manager_session)
		: 0;
	if (r == 0 && !cfg->no_scheduler)
		r = loop_start(m, &m->loops[1], api, "scheduler", "kube-scheduler", "scheduler",
			       "system:kube-scheduler", sched_session);
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
		kc_config_free(l->kc);
	}
	close(m->stop_fd);
	free(m);
}
