/* The API server as a model source (see api_source.h). */
#include "dataplane/api_source.h"
#include "lib/kube_config.h"
#include "lib/kube_informer.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kinds watched: one informer per row. */
static const char *const watched[] = {
	"services",
	"endpointslices.discovery.k8s.io",
	"nodes",
};
#define N_WATCHED ARRAY_SIZE(watched)
/* While the server is away: how often it is asked whether it is back
 * (longer than an informer's first retry, so a watch that can resume, or
 * meets a 410, does so first). */
#define API_PROBE_MS 1000

struct api_source;

/* One informer, and the kind its objects are in the model. */
struct api_watch {
	struct api_source *s;
	const struct kc_resource *res;
	char api_version[64];
	enum model_kind kind;
};

struct api_source {
	struct kc_config *cfg;
	struct kc_client *c;
	struct kc_informer *inf[N_WATCHED];
	struct api_watch w[N_WATCHED];
	struct model_store *store;
	log_report_fn report;
	void *report_ud;
	bool started;
	bool changed; /* the store changed in this dispatch */
	/* An outage: the informers' failures grew. The server is probed
	 * every API_PROBE_MS; once it answers, every informer that has not
	 * listed since is made again (a server back may serve another state
	 * under the same revisions: restored from a snapshot, or another
	 * server) and, when a new informer's list is in, what the store has
	 * that it lacks is deleted in the same turn. */
	bool down;
	struct kc_timer *probe_timer;
	struct kc_async *probe;
	bool renew;
	bool replacing[N_WATCHED];
	unsigned long lists_at_down[N_WATCHED]; /* each informer's lists then */
	/* what the informers had counted at the last dispatch */
	unsigned long failures, expired, lists;
};

#define areport(s, ...) report_msg((s)->report, (s)->report_ud, __VA_ARGS__)

/* ---- informer events -> the store ---- */

/* obj, with the apiVersion and kind of its resource when it lacks them
 * (a list's items may): a shallow copy, the cache's object is shared. */
static json_t *with_kind(const struct api_watch *w, json_t *obj)
{
	json_t *c;

	if (json_object_get(obj, "kind"))
		return json_incref(obj);
	c = json_copy(obj);
	if (c && (json_object_set_new(c, "apiVersion", json_string(w->api_version)) < 0 ||
		  json_object_set_new(c, "kind", json_string(w->res->kind)) < 0))
		json_decref(TAKE_PTR(c));
	return c;
}

/* Parses obj through the model's kind table and puts it in the store. */
static void put_object(const struct api_watch *w, json_t *raw)
{
	struct api_source *s = w->s;
	json_t *obj = with_kind(w, raw);
	struct model_object o;
	struct model_error e;
	int r = obj ? model_object_parse(obj, &o, &e) : -ENOMEM;

	json_decref(obj);
	if (r == -EINVAL) {
		areport(s, LOG_LEVEL_ERROR, "API: %s (its last good copy, if any, is kept)", e.msg);
		return;
	}
	if (r == 0 && o.kind == MODEL_KIND_OTHER)
		return;
	if (r == 0)
		r = model_store_put(s->store, API_SOURCE_ORIGIN, o.kind, o.obj);
	if (r < 0)
		areport(s, LOG_LEVEL_ERROR, "API: %s %s/%s: cannot store: %s", w->res->kind,
			kc_meta_str(raw, "namespace"), kc_meta_str(raw, "name"), strerror(-r));
	else if (r > 0)
		s->changed = true;
}

static void on_add(void *ud, json_t *obj)
{
	put_object(ud, obj);
}

static void on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
	(void)old_obj;
	put_object(ud, new_obj);
}

static void on_del(void *ud, json_t *obj)
{
	const struct api_watch *w = ud;
	const char *ns = w->res->namespaced ? kc_meta_str(obj, "namespace") : "";
	const char *name = kc_meta_str(obj, "name");

	if (!ns || !name)
		return;
	if (model_store_delete(w->s->store, w->kind, API_SOURCE_ORIGIN, ns, name) > 0) {
		w->s->changed = true;
		areport(w->s, LOG_LEVEL_DEBUG, "API: %s %s%s%s deleted", w->res->kind, ns,
			*ns ? "/" : "", name);
	}
}

/* The row's resource and model kind; -ENOENT when either is unknown. */
static int watch_init(struct api_source *s, size_t i)
{
	struct api_watch *w = &s->w[i];
	struct model_error e;
	json_t *type_meta; /* {apiVersion, kind}: what model_kind_of reads */
	int r;

	w->s = s;
	w->res = kc_resource_find(watched[i]);
	if (!w->res)
		return -ENOENT;
	snprintf(w->api_version, sizeof(w->api_version), "%s%s%s", w->res->group,
		 *w->res->group ? "/" : "", w->res->version);
	type_meta = json_pack("{ssss}", "apiVersion", w->api_version, "kind", w->res->kind);
	if (!type_meta)
		return -ENOMEM;
	r = model_kind_of(type_meta, &w->kind, &e);
	json_decref(type_meta);
	return r < 0 ? r : w->kind == MODEL_KIND_OTHER ? -ENOENT : 0;
}

static bool synced_all(const struct api_source *s)
{
	for (size_t i = 0; i < N_WATCHED; i++)
		if (!kc_informer_synced(s->inf[i]))
			return false;
	return true;
}

/* ---- a server with an older state ---- */

/* An informer for row i. The model keeps what the agent reads of each
 * object: the cache keeps only resourceVersions (a cache of the objects'
 * JSON took ~125 MiB at 10,000 Services of 10 endpoints), and the agent's
 * first lists go to the store page by page. A list made again after an
 * outage (again) is applied whole when it is in, with its sweep. */
static int informer_open(struct api_source *s, size_t i, bool again)
{
	/* Backoff as client-go's reflector, capped low: a restarted server is
	 * found again within a few seconds. */
	const struct kc_informer_opts io = { .backoff_initial_ms = 200, .backoff_max_ms = 5000,
					     .versions_only = true, .first_list_by_page = !again };
	const struct kc_informer_handlers h = {
		.add = on_add, .update = on_update, .del = on_del, .ud = &s->w[i],
	};
	int r = kc_informer_new(s->c, s->w[i].res, &io, &s->inf[i]);

	if (r == 0)
		r = kc_informer_add_handlers(s->inf[i], &h);
	return r;
}

struct sweep {
	const struct kc_informer *inf; /* the new one */
	const struct api_watch *w;
	json_t *gone;  /* [[ns, name]...] */
};

static int sweep_one(const void *obj, const char *origin, void *ud)
{
	struct sweep *sw = ud;
	const char *ns, *name;
	char key[512];

	if (!streq(origin, API_SOURCE_ORIGIN))
		return 0;
	model_object_key(sw->w->kind, obj, &ns, &name);
	snprintf(key, sizeof(key), "%s%s%s", ns, *ns ? "/" : "", name);
	if (!kc_informer_has(sw->inf, key))
		json_array_append_new(sw->gone, json_pack("[ss]", ns, name));
	return 0;
}

/* A made-again informer's list is in: the objects it lacks go. */
static void sweep(struct api_source *s, size_t i)
{
	struct sweep sw = { s->inf[i], &s->w[i], json_array() };
	json_t *v;
	size_t j;

	if (!sw.gone)
		return;
	model_store_foreach(s->store, s->w[i].kind, sweep_one, &sw);
	json_array_foreach(sw.gone, j, v) {
		if (model_store_delete(s->store, s->w[i].kind, API_SOURCE_ORIGIN,
				       json_string_value(json_array_get(v, 0)),
				       json_string_value(json_array_get(v, 1))) > 0)
			s->changed = true;
	}
	json_decref(sw.gone);
	s->replacing[i] = false;
}

static unsigned long informer_lists(const struct kc_informer *inf)
{
	struct kc_informer_stats st;

	kc_informer_get_stats(inf, &st);
	return st.lists;
}

/* Makes again every informer that has not listed since the outage began
 * (one that met a 410 has the server's state already); each sweeps the
 * store when its list is in. */
static void informers_renew(struct api_source *s)
{
	s->renew = false;
	for (size_t i = 0; i < N_WATCHED; i++) {
		if (informer_lists(s->inf[i]) != s->lists_at_down[i])
			continue;
		kc_informer_free(s->inf[i]);
		s->inf[i] = NULL;
		if (informer_open(s, i, true) < 0 || kc_informer_start(s->inf[i]) < 0) {
			areport(s, LOG_LEVEL_ERROR, "API: cannot watch %s again", s->w[i].res->name);
			continue;
		}
		s->replacing[i] = true;
	}
}

static void probe_send(void *ud);

static void probe_later(struct api_source *s)
{
	if (kc_timer_add(s->c, now_ns() + API_PROBE_MS * 1000000ULL, probe_send, s,
			 &s->probe_timer) < 0)
		s->probe_timer = NULL;
}

static void probe_done(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct api_source *s = ud;

	(void)st;
	(void)body;
	s->probe = NULL;
	if (err < 0) {
		probe_later(s);
		return;
	}
	areport(s, LOG_LEVEL_INFO, "API %s: reachable again; listing again what was not "
		"relisted meanwhile (the difference is applied when the lists are in)", s->cfg->server);
	s->down = false;
	s->renew = true; /* informers are freed outside the client's dispatch */
}

/* Asks the server whether it is back: a list of one Service. */
static void probe_send(void *ud)
{
	struct api_source *s = ud;
	char path[256];

	s->probe_timer = NULL;
	if (kc_path(s->w[0].res, NULL, NULL, NULL, "limit=1", path, sizeof(path)) < 0 ||
	    kc_request_async(s->c, "GET", path, NULL, probe_done, s, &s->probe) < 0) {
		s->probe = NULL;
		probe_later(s);
	}
}

/* From the informers' counters: the server gone (then probed), a 410,
 * a relist. */
static void note_connection(struct api_source *s)
{
	unsigned long failures = 0, expired = 0, lists = 0;

	for (size_t i = 0; i < N_WATCHED; i++) {
		struct kc_informer_stats st;

		kc_informer_get_stats(s->inf[i], &st);
		failures += st.failures;
		expired += st.expired;
		lists += st.lists;
	}
	if (failures > s->failures && !s->down && s->started) {
		areport(s, LOG_LEVEL_WARN, "API %s: unreachable; serving the last state, retrying "
			"with backoff", s->cfg->server);
		s->down = true;
		for (size_t i = 0; i < N_WATCHED; i++)
			s->lists_at_down[i] = informer_lists(s->inf[i]);
		probe_later(s);
	}
	if (expired > s->expired)
		areport(s, LOG_LEVEL_INFO, "API %s: watch history expired (410): relisting",
			s->cfg->server);
	if (lists > s->lists && s->started)
		areport(s, LOG_LEVEL_INFO, "API %s: relisted; applying the difference",
			s->cfg->server);
	s->failures = failures;
	s->expired = expired;
	s->lists = lists;
}

/* ---- the model_source rows ---- */

static int api_start(void *ctx)
{
	struct api_source *s = ctx;
	unsigned long long t0 = now_ns(), said = t0;

	if (s->started)
		return 0; /* SIGHUP: the caches are current already */
	for (size_t i = 0; i < N_WATCHED; i++) {
		int r = kc_informer_start(s->inf[i]);

		if (r < 0)
			return r;
	}
	/* The first sync must see the whole cluster: wait for every list. */
	while (!synced_all(s)) {
		int r = kc_client_run_once(s->c, 1000);

		if (r < 0)
			return r;
		if (now_ns() - said > 5000000000ULL) {
			areport(s, LOG_LEVEL_WARN, "API %s: still waiting for the first lists "
				"(%.0f s)", s->cfg->server, (double)(now_ns() - t0) / 1e9);
			said = now_ns();
		}
	}
	note_connection(s);
	s->started = true;
	s->changed = false;
	return 0;
}

static int api_fd(void *ctx)
{
	(void)ctx;
	return -1; /* polled through api_source_pollfds */
}

static int api_on_readable(void *ctx)
{
	(void)ctx;
	return 0;
}

static int api_flush(void *ctx)
{
	(void)ctx;
	return 0; /* events reach the store as they are dispatched */
}

static void api_free(void *ctx)
{
	struct api_source *s = ctx;

	if (!s)
		return;
	for (size_t i = 0; i < N_WATCHED; i++)
		kc_informer_free(s->inf[i]);
	if (s->probe)
		kc_async_cancel(s->c, s->probe);
	if (s->probe_timer)
		kc_timer_cancel(s->c, s->probe_timer);
	kc_client_free(s->c);
	kc_config_free(s->cfg);
	free(s);
}

bool api_source_is(const struct model_source *src)
{
	return src && src->free == api_free;
}

size_t api_source_pollfds(const struct model_source *src, struct pollfd *fds, size_t max,
			  int *timeout_ms)
{
	struct api_source *s = src->ctx;

	return kc_client_pollfds(s->c, fds, max, timeout_ms);
}

int api_source_dispatch(const struct model_source *src, const struct pollfd *fds, size_t n)
{
	struct api_source *s = src->ctx;

	s->changed = false;
	kc_client_dispatch(s->c, fds, n);
	if (s->renew)
		informers_renew(s);
	for (size_t i = 0; i < N_WATCHED; i++)
		if (s->replacing[i] && kc_informer_synced(s->inf[i]))
			sweep(s, i);
	note_connection(s);
	return s->changed ? 1 : 0;
}

/* ---- construction ---- */

/* --server/--token: the same configuration a kubeconfig would give. */
static int config_from_flags(const struct api_source_options *o, struct kc_config **out,
			     char *err, size_t errlen)
{
	json_t *user = json_object(), *cluster = json_pack("{ss}", "server", o->server);
	json_t *doc;
	char *buf;
	int r;

	if (o->token)
		json_object_set_new(user, "token", json_string(o->token));
	if (o->ca_file)
		json_object_set_new(cluster, "certificate-authority", json_string(o->ca_file));
	doc = json_pack("{s:s, s:[{s:s, s:o}], s:[{s:s, s:o}], s:[{s:s, s:{s:s, s:s}}]}",
			"current-context", "flags", "clusters", "name", "flags", "cluster", cluster,
			"users", "name", "flags", "user", user, "contexts", "name", "flags", "context",
			"cluster", "flags", "user", "flags");
	if (!doc)
		return -ENOMEM;
	buf = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!buf)
		return -ENOMEM;
	r = kc_config_parse(buf, strlen(buf), NULL, NULL, out, err, errlen);
	free(buf);
	return r;
}

int api_source_config(const struct api_source_options *o, struct kc_config **out, char *err,
		      size_t errlen)
{
	err[0] = '\0';
	if (o->server)
		return config_from_flags(o, out, err, errlen);
	return kc_config_load(o->kubeconfig, NULL, out, err, errlen);
}

int api_source_new(const struct api_source_options *o, struct model_store *store,
		   log_report_fn report, void *ud, struct model_source *out, char *err,
		   size_t errlen)
{
	struct api_source *s = calloc(1, sizeof(*s));
	struct kc_client_opts co = { .user_agent = "skiff-agent" };
	int r;

	if (!s)
		return -ENOMEM;
	s->store = store;
	s->report = report;
	s->report_ud = ud;
	r = api_source_config(o, &s->cfg, err, errlen);
	if (r == 0)
		r = kc_client_new(s->cfg, &co, &s->c);
	for (size_t i = 0; r == 0 && i < N_WATCHED; i++) {
		r = watch_init(s, i);
		if (r == 0)
			r = informer_open(s, i, false);
	}
	if (r < 0) {
		api_free(s);
		return r;
	}
	*out = (struct model_source){
		.name = "API",
		.ctx = s,
		.start = api_start,
		.fd = api_fd,
		.on_readable = api_on_readable,
		.flush = api_flush,
		.free = api_free,
	};
	return 0;
}
