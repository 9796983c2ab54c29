/* The Kubernetes API client: blocking calls, the multi-interface event
 * loop (watches, async requests, timers) and the resource registry. See
 * kube_client.h. */
#include "lib/kube_client.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"

#define KC_BODY_MAX (256u << 20) /* a List of 10,000 pods is ~50 MB */
#define KC_SOCKS_MAX 1024
#define KC_CONNECTIONS_DEFAULT 64 /* a client's streams' connections */

/* ---- the resource registry ---- */

static const struct kc_resource kc_resources[] = {
	{ "pods", "", "v1", "Pod", true },
	{ "services", "", "v1", "Service", true },
	{ "endpoints", "", "v1", "Endpoints", true },
	{ "namespaces", "", "v1", "Namespace", false },
	{ "nodes", "", "v1", "Node", false },
	{ "configmaps", "", "v1", "ConfigMap", true },
	{ "secrets", "", "v1", "Secret", true },
	{ "serviceaccounts", "", "v1", "ServiceAccount", true },
	{ "events", "", "v1", "Event", true },
	{ "persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", true },
	{ "deployments", "apps", "v1", "Deployment", true },
	{ "replicasets", "apps", "v1", "ReplicaSet", true },
	{ "daemonsets", "apps", "v1", "DaemonSet", true },
	{ "statefulsets", "apps", "v1", "StatefulSet", true },
	{ "controllerrevisions", "apps", "v1", "ControllerRevision", true },
	{ "jobs", "batch", "v1", "Job", true },
	{ "cronjobs", "batch", "v1", "CronJob", true },
	{ "endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", true },
	{ "leases", "coordination.k8s.io", "v1", "Lease", true },
	{ "poddisruptionbudgets", "policy", "v1", "PodDisruptionBudget", true },
	{ "priorityclasses", "scheduling.k8s.io", "v1", "PriorityClass", false },
	{ "networkpolicies", "networking.k8s.io", "v1", "NetworkPolicy", true },
	{ "ingresses", "networking.k8s.io", "v1", "Ingress", true },
	{ "events", "events.k8s.io", "v1", "Event", true },
};

const struct kc_resource *kc_resource_find(const char *name)
{
	const char *dot = strchr(name, '.');
	size_t n = dot ? (size_t)(dot - name) : strlen(name);

	for (size_t i = 0; i < ARRAY_SIZE(kc_resources); i++) {
		const struct kc_resource *r = &kc_resources[i];

		if (strlen(r->name) == n && strncmp(r->name, name, n) == 0 &&
		    (!dot || streq(r->group, dot + 1)))
			return r;
	}
	return NULL;
}

int kc_path(const struct kc_resource *res, const char *ns, const char *name, const char *sub,
	    const char *query, char *buf, size_t size)
{
	int n;

	if (res->group[0])
		n = snprintf(buf, size, "/apis/%s/%s", res->group, res->version);
	else
		n = snprintf(buf, size, "/api/%s", res->version);
	if (res->namespaced && ns && *ns)
		n += snprintf(buf + n, size > (size_t)n ? size - n : 0, "/namespaces/%s", ns);
	n += snprintf(buf + n, size > (size_t)n ? size - n : 0, "/%s", res->name);
	if (name && *name)
		n += snprintf(buf + n, size > (size_t)n ? size - n : 0, "/%s", name);
	if (name && *name && sub && *sub)
		n += snprintf(buf + n, size > (size_t)n ? size - n : 0, "/%s", sub);
	if (query && *query)
		n += snprintf(buf + n, size > (size_t)n ? size - n : 0, "?%s", query);
	return (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Appends "&key=escaped(value)" (no '&' first) to q; skipped when value is
 * NULL or empty. */
static int query_add(char *q, size_t size, const char *key, const char *value)
{
	size_t len = strlen(q);
	char *esc;
	int n;

	if (!value || !*value)
		return 0;
	esc = curl_easy_escape(NULL, value, 0);
	if (!esc)
		return -ENOMEM;
	n = snprintf(q + len, size - len, "%s%s=%s", len ? "&" : "", key, esc);
	curl_free(esc);
	return (size_t)n < size - len ? 0 : -ENAMETOOLONG;
}

/* ---- the client ---- */

struct kc_timer {
	unsigned long long at;
	kc_timer_fn fn;
	void *ud;
	struct kc_timer *next;
};

/* One transfer in the multi handle: a watch or an async request. */
struct kc_stream {
	struct kc_client *c;
	CURL *h;
	struct curl_slist *hdrs;
	char *req_body;
	char *buf;
	size_t len, cap;
	long code; /* HTTP status, once known */
	bool is_watch, stopped, failed;
	bool outcome_only; /* a 2xx answer's body is not parsed */
	int fail_err;
	kc_watch_event_fn event;
	kc_watch_done_fn wdone;
	kc_async_fn adone;
	void *ud;
	struct kc_stream *next;
};

/* Handles kept for reuse: a new handle per request was ~1.5% of
 * skiff-server's CPU in bench_sched_api (the scheduler's bindings, up to
 * SCHED_PARALLEL_BINDS = 64 at once). A client keeps no more than it
 * had in flight at once. */
#define HANDLES_IDLE_MAX 64

struct kc_sock {
	curl_socket_t fd;
	short events;
};

struct kc_client {
	char *server;
	struct curl_blob ca, cert, key;
	bool has_ca, has_cert;
	bool insecure;
	char *auth_header; /* "Authorization: Bearer ..." */
	char *username, *password;
	char *user_agent;
	long timeout_ms;
	double qps, tokens;
	int burst;
	unsigned long long bucket_ns;
	CURLSH *share;
	CURL *easy;   /* blocking calls */
	CURLM *multi; /* streams */
	CURL *idle[HANDLES_IDLE_MAX]; /* finished streams' handles, reset, for the next */
	size_t n_idle;
	struct kc_stream *streams;
	struct kc_sock socks[KC_SOCKS_MAX];
	size_t n_socks;
	long long curl_deadline; /* monotonic ns; -1: none */
	struct kc_timer *timers; /* sorted by at */
	bool dispatching;
	int callbacks;
	unsigned long requests, connections;
	struct kc_status status;
	const atomic_bool *cancel;
};

const struct kc_status *kc_last_status(const struct kc_client *c)
{
	return &c->status;
}

unsigned long kc_client_requests(const struct kc_client *c)
{
	return c->requests;
}

unsigned long kc_client_connections(const struct kc_client *c)
{
	return c->connections;
}

/* Counts the connections a finished transfer had to open. */
static void count_connects(struct kc_client *c, CURL *h)
{
	long n = 0;

	if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
		c->connections += (unsigned long)n;
}

int kc_errno_from_status(int code, const char *reason)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 405:
		return -EOPNOTSUPP;
	case 409:
		return streq(reason, "AlreadyExists") ? -EEXIST : -ESTALE;
	case 410:
		return -ERANGE;
	case 413:
		return -E2BIG;
	case 415:
		return -EPROTO;
	case 429:
		return -EBUSY;
	case 503:
		return -EAGAIN;
	case 504:
		return -ETIMEDOUT;
	default:
		return code >= 200 && code < 300 ? 0 : -EIO;
	}
}

static int errno_from_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* The answer's body as JSON (NULL when empty or not JSON): parsed once,
 * for its Status and for the caller. */
static json_t *answer_json(const char *body, size_t len)
{
	return body && len ? json_loadb(body, len, 0, NULL) : NULL;
}

/* Fills st from an answer (j: its body parsed, or NULL): its Status when
 * it is one, else the code. */
static void status_from_answer(struct kc_status *st, long code, json_t *j, const char *body,
			       size_t len)
{
	const char *reason = json_string_value(json_object_get(j, "reason"));
	const char *msg = json_string_value(json_object_get(j, "message"));

	memset(st, 0, sizeof(*st));
	st->code = (int)code;
	if (streq(json_string_value(json_object_get(j, "kind")), "Status") &&
	    json_integer_value(json_object_get(j, "code")))
		st->code = (int)json_integer_value(json_object_get(j, "code"));
	snprintf(st->reason, sizeof(st->reason), "%s", reason ? reason : "");
	if (msg)
		snprintf(st->message, sizeof(st->message), "%s", msg);
	else if (body && code >= 300)
		snprintf(st->message, sizeof(st->message), "%.*s", (int)(len < 400 ? len : 400), body);
}

static void status_from_transport(struct kc_status *st, CURLcode cc, const char *detail)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->message, sizeof(st->message), "%s%s%s", curl_easy_strerror(cc),
		 detail && *detail ? ": " : "", detail ? detail : "");
}

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud);

struct kc_buf {
	char *data;
	size_t len, cap;
};

static int buf_append(char **data, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		char *nd;

		while (ncap < *len + n + 1)
			ncap *= 2;
		if (ncap > KC_BODY_MAX)
			return -EFBIG;
		nd = realloc(*data, ncap);
		if (!nd)
			return -ENOMEM;
		*data = nd;
		*cap = ncap;
	}
	memcpy(*data + *len, p, n);
	*len += n;
	(*data)[*len] = '\0';
	return 0;
}

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct kc_buf *b = ud;

	return buf_append(&b->data, &b->len, &b->cap, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

/* libcurl's progress callback, about once a second at least: ends the
 * transfer once the client's cancel flag is set. */
static int cancel_check(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	const atomic_bool *cancel = ud;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(cancel) ? 1 : 0;
}

/* The options every transfer shares: URL, TLS, credentials, headers. */
static int handle_setup(struct kc_client *c, CURL *h, const char *method, const char *path,
			const char *content_type, const char *body, struct curl_slist **hdrs)
{
	_cleanup_free_ char *url = NULL, *ct = NULL;
	struct curl_slist *l = NULL;

	if (asprintf(&url, "%s%s", c->server, path) < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (c->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_check);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, c->cancel);
	}
	if (c->has_ca)
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &c->ca);
	if (c->has_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c->cert);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &c->key);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
	}
	l = curl_slist_append(l, "Accept: application/json");
	if (c->auth_header)
		l = curl_slist_append(l, c->auth_header);
	if (body) {
		if (asprintf(&ct, "Content-Type: %s", content_type ? content_type : "application/json") < 0) {
			curl_slist_free_all(l);
			return -ENOMEM;
		}
		l = curl_slist_append(l, ct);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (streq(method, "GET"))
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	*hdrs = l;
	c->requests++;
	return 0;
}

/* Waits for a token of the QPS bucket (no wait when qps is 0). */
static void rate_limit_wait(struct kc_client *c)
{
	unsigned long long now;

	if (c->qps <= 0)
		return;
	now = now_ns();
	c->tokens += (double)(now - c->bucket_ns) / 1e9 * c->qps;
	if (c->tokens > c->burst)
		c->tokens = c->burst;
	c->bucket_ns = now;
	if (c->tokens < 1) {
		double wait = (1 - c->tokens) / c->qps;
		struct timespec ts = { (time_t)wait, (long)((wait - floor(wait)) * 1e9) };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		c->tokens = 1;
		c->bucket_ns = now_ns();
	}
	c->tokens -= 1;
}

int kc_request(struct kc_client *c, const char *method, const char *path,
	       const char *content_type, json_t *body, json_t **out)
{
	_cleanup_free_ char *req = NULL;
	struct kc_buf b = { 0 };
	struct curl_slist *hdrs = NULL;
	json_t *j;
	long code = 0;
	CURLcode cc;
	int r;

	if (c->cancel && atomic_load(c->cancel))
		return -ECANCELED;
	if (body && !(req = json_dumps(body, JSON_COMPACT)))
		return -ENOMEM;
	rate_limit_wait(c);
	curl_easy_reset(c->easy);
	r = handle_setup(c, c->easy, method, path, content_type, req, &hdrs);
	if (r < 0)
		return r;
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c->easy);
	curl_slist_free_all(hdrs);
	count_connects(c, c->easy);
	if (cc != CURLE_OK) {
		status_from_transport(&c->status, cc, NULL);
		free(b.data);
		return errno_from_curl(cc);
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
	j = answer_json(b.data, b.len);
	status_from_answer(&c->status, code, j, b.data, b.len);
	r = kc_errno_from_status(c->status.code, c->status.reason);
	if (r == 0 && code >= 300)
		r = -EIO;
	if (r == 0 && out) {
		*out = b.len ? json_incref(j) : json_object();
		if (!*out) {
			snprintf(c->status.message, sizeof(c->status.message),
				 "%s %s: the answer is not JSON", method, path);
			r = -EBADMSG;
		}
	}
	json_decref(j);
	free(b.data);
	return r;
}

/* A copy the client owns (libcurl copies it again per handle). */
static int blob_dup(struct curl_blob *b, const struct kc_blob *from)
{
	b->data = malloc(from->len + 1);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, from->data, from->len);
	b->len = from->len;
	b->flags = CURL_BLOB_COPY;
	return 0;
}

static void loop_init(struct kc_client *c, long max_connections);

int kc_client_new(const struct kc_config *cfg, const struct kc_client_opts *opts,
		  struct kc_client **out)
{
	struct kc_client *c = calloc(1, sizeof(*c));
	static const struct kc_client_opts defaults = { 0 };

	if (!c)
		return -ENOMEM;
	if (!opts)
		opts = &defaults;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->server = strdup(cfg->server);
	c->user_agent = strdup(opts->user_agent ? opts->user_agent : "skiff");
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	c->cancel = opts->cancel;
	c->qps = opts->qps;
	c->burst = opts->burst > 0 ? opts->burst : (opts->qps >= 1 ? (int)opts->qps : 1);
	c->tokens = c->burst;
	c->bucket_ns = now_ns();
	c->insecure = cfg->insecure;
	c->curl_deadline = -1;
	c->has_ca = cfg->ca.data != NULL;
	c->has_cert = cfg->cert.data && cfg->key.data;
	if ((c->has_ca && blob_dup(&c->ca, &cfg->ca) < 0) ||
	    (c->has_cert && (blob_dup(&c->cert, &cfg->cert) < 0 || blob_dup(&c->key, &cfg->key) < 0))) {
		kc_client_free(c);
		return -ENOMEM;
	}
	if (cfg->token && asprintf(&c->auth_header, "Authorization: Bearer %s", cfg->token) < 0)
		c->auth_header = NULL;
	c->username = cfg->username ? strdup(cfg->username) : NULL;
	c->password = cfg->password ? strdup(cfg->password) : NULL;
	c->share = curl_share_init();
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->server || !c->user_agent || !c->share || !c->easy || !c->multi ||
	    (cfg->token && !c->auth_header)) {
		kc_client_free(c);
		return -ENOMEM;
	}
	/* Trailing slashes would double in every path. */
	while (strlen(c->server) > 1 && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	loop_init(c, opts->max_connections > 0 ? opts->max_connections : KC_CONNECTIONS_DEFAULT);
	*out = c;
	return 0;
}

/* ---- the event loop ---- */

static int on_socket(CURL *h, curl_socket_t fd, int what, void *ud, void *sockp)
{
	struct kc_client *c = ud;
	size_t i;

	(void)h;
	(void)sockp;
	for (i = 0; i < c->n_socks && c->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < c->n_socks)
			c->socks[i] = c->socks[--c->n_socks];
		return 0;
	}
	if (i == c->n_socks) {
		if (c->n_socks == KC_SOCKS_MAX)
			return -1;
		c->n_socks++;
	}
	c->socks[i].fd = fd;
	c->socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
				     ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
	struct kc_client *c = ud;

	(void)m;
	c->curl_deadline = timeout_ms < 0 ? -1 : (long long)(now_ns() + timeout_ms * 1000000ULL);
	return 0;
}

static void loop_init(struct kc_client *c, long max_connections)
{
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, max_connections);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
}

int kc_timer_add(struct kc_client *c, unsigned long long at, kc_timer_fn fn, void *ud,
		 struct kc_timer **out)
{
	struct kc_timer *t = calloc(1, sizeof(*t)), **p;

	if (!t)
		return -ENOMEM;
	t->at = at;
	t->fn = fn;
	t->ud = ud;
	for (p = &c->timers; *p && (*p)->at <= at; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	if (out)
		*out = t;
	return 0;
}

void kc_timer_cancel(struct kc_client *c, struct kc_timer *t)
{
	struct kc_timer **p;

	for (p = &c->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			free(t);
			return;
		}
	}
}

/* A handle for a new stream: an idle one (options reset) or a new one. */
static CURL *handle_get(struct kc_client *c)
{
	return c->n_idle ? c->idle[--c->n_idle] : curl_easy_init();
}

/* A handle whose stream is over (off the multi handle), kept or freed. */
static void handle_put(struct kc_client *c, CURL *h)
{
	if (c->n_idle < HANDLES_IDLE_MAX) {
		curl_easy_reset(h);
		c->idle[c->n_idle++] = h;
	} else {
		curl_easy_cleanup(h);
	}
}

static void stream_free(struct kc_stream *s)
{
	if (!s)
		return;
	if (s->h) {
		curl_multi_remove_handle(s->c->multi, s->h);
		handle_put(s->c, s->h);
	}
	curl_slist_free_all(s->hdrs);
	free(s->req_body);
	free(s->buf);
	free(s);
}

static void stream_unlink(struct kc_client *c, struct kc_stream *s)
{
	struct kc_stream **p;

	for (p = &c->streams; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

/* Stops a stream from a callback or from outside the loop: the transfer
 * ends now; the memory goes at the end of the dispatch that is running. */
static void stream_stop(struct kc_client *c, struct kc_stream *s)
{
	if (!s || s->stopped)
		return;
	s->stopped = true;
	curl_multi_remove_handle(c->multi, s->h);
	if (!c->dispatching) {
		stream_unlink(c, s);
		stream_free(s);
	}
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct kc_stream *s = ud;

	if (!s->code)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->code);
	if (buf_append(&s->buf, &s->len, &s->cap, ptr, size * nmemb) < 0) {
		s->fail_err = -EFBIG;
		return 0;
	}
	return size * nmemb;
}

static int stream_start(struct kc_client *c, const char *method, const char *path,
			const char *content_type, json_t *body, struct kc_stream **out)
{
	struct kc_stream *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->c = c;
	s->h = handle_get(c);
	if (!s->h || (body && !(s->req_body = json_dumps(body, JSON_COMPACT)))) {
		stream_free(s);
		return -ENOMEM;
	}
	r = handle_setup(c, s->h, method, path, content_type, s->req_body, &s->hdrs);
	if (r < 0) {
		stream_free(s);
		return r;
	}
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	if (curl_multi_add_handle(c->multi, s->h) != CURLM_OK) {
		stream_free(s);
		return -ENOMEM;
	}
	s->next = c->streams;
	c->streams = s;
	*out = s;
	return 0;
}

/* Delivers the complete lines of a 2xx watch stream; stops at the first
 * line that is not an event (the stream is then failed, -EBADMSG). */
static void watch_deliver(struct kc_client *c, struct kc_stream *s)
{
	size_t off = 0;

	if (!s->is_watch || s->code < 200 || s->code >= 300)
		return;
	while (!s->stopped && !s->failed && off < s->len) {
		char *nl = memchr(s->buf + off, '\n', s->len - off);
		size_t n;
		json_t *ev;

		if (!nl)
			break;
		n = (size_t)(nl - (s->buf + off));
		ev = n ? json_loadb(s->buf + off, n, 0, NULL) : NULL;
		off += n + 1;
		if (!n)
			continue;
		if (!json_is_string(json_object_get(ev, "type")) ||
		    !json_is_object(json_object_get(ev, "object"))) {
			s->failed = true;
			s->fail_err = -EBADMSG;
			json_decref(ev);
			break;
		}
		c->callbacks++;
		s->event(s->ud, json_string_value(json_object_get(ev, "type")),
			 json_object_get(ev, "object"));
		json_decref(ev);
	}
	if (off) {
		memmove(s->buf, s->buf + off, s->len - off);
		s->len -= off;
	}
}

/* A transfer ended (msg) or was failed by us: its callback, once. */
static void stream_finish(struct kc_client *c, struct kc_stream *s, CURLcode cc)
{
	struct kc_status st = { 0 };
	json_t *body = NULL, *j = NULL;
	int err;

	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->code);
	count_connects(c, s->h);
	watch_deliver(c, s);
	if (s->stopped)
		return;
	if (s->fail_err) {
		err = s->fail_err;
		snprintf(st.message, sizeof(st.message), "%s", strerror(-err));
	} else if (cc != CURLE_OK) {
		status_from_transport(&st, cc, NULL);
		err = errno_from_curl(cc);
	} else {
		if (!s->outcome_only || s->code < 200 || s->code >= 300)
			j = answer_json(s->buf, s->len);
		status_from_answer(&st, s->code, j, s->buf, s->len);
		err = kc_errno_from_status(st.code, st.reason);
		if (!err && s->code >= 300)
			err = -EIO;
	}
	stream_stop(c, s);
	c->callbacks++;
	if (s->is_watch) {
		json_decref(j);
		s->wdone(s->ud, err, &st);
		return;
	}
	if (!err && s->len && !s->outcome_only && !(body = json_incref(j)))
		err = -EBADMSG;
	json_decref(j);
	s->adone(s->ud, err, &st, err ? NULL : body);
	json_decref(body);
}

size_t kc_client_pollfds(struct kc_client *c, struct pollfd *fds, size_t max,
			 int *timeout_ms)
{
	unsigned long long now = now_ns();
	long long at = c->curl_deadline;
	size_t i, n = 0;

	for (i = 0; i < c->n_socks && n < max; i++)
		fds[n++] = (struct pollfd){ .fd = c->socks[i].fd, .events = c->socks[i].events };
	if (c->timers && (at < 0 || (long long)c->timers->at < at))
		at = (long long)c->timers->at;
	if (at >= 0) {
		long long ms = at <= (long long)now ? 0 : (at - (long long)now + 999999) / 1000000;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = (int)ms;
	}
	return n;
}

static void run_timers(struct kc_client *c)
{
	unsigned long long now = now_ns();

	while (c->timers && c->timers->at <= now) {
		struct kc_timer *t = c->timers;

		c->timers = t->next;
		c->callbacks++;
		t->fn(t->ud);
		free(t);
	}
}

void kc_client_dispatch(struct kc_client *c, const struct pollfd *fds, size_t n)
{
	struct kc_sock ready[KC_SOCKS_MAX];
	size_t n_ready = 0, i, j;
	struct kc_stream *s, **p;
	CURLMsg *msg;
	int running, left;

	c->dispatching = true;
	for (i = 0; i < c->n_socks; i++) {
		for (j = 0; j < n; j++) {
			if (fds[j].fd == c->socks[i].fd && fds[j].revents) {
				ready[n_ready].fd = fds[j].fd;
				ready[n_ready++].events = fds[j].revents;
				break;
			}
		}
	}
	for (i = 0; i < n_ready; i++) {
		int ev = ((ready[i].events & POLLIN) ? CURL_CSELECT_IN : 0) |
			 ((ready[i].events & POLLOUT) ? CURL_CSELECT_OUT : 0) |
			 ((ready[i].events & (POLLERR | POLLHUP)) ? CURL_CSELECT_ERR : 0);

		curl_multi_socket_action(c->multi, ready[i].fd, ev, &running);
	}
	if (c->curl_deadline >= 0 && (unsigned long long)c->curl_deadline <= now_ns()) {
		long ms;

		c->curl_deadline = -1;
		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		/* The next deadline from libcurl itself: its timer is one-shot
		 * and it does not always call on_timer once nothing is due (a
		 * deadline a minute past made every poll of an idle
		 * skiff-agent return at once, 16,000 times a second). */
		if (curl_multi_timeout(c->multi, &ms) == CURLM_OK)
			on_timer(c->multi, ms, c);
	}
	for (s = c->streams; s; s = s->next)
		watch_deliver(c, s);
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		stream_finish(c, s, msg->data.result);
	}
	for (s = c->streams; s; s = s->next) {
		if (s->failed && !s->stopped)
			stream_finish(c, s, CURLE_OK);
	}
	run_timers(c);
	c->dispatching = false;
	for (p = &c->streams; *p;) {
		s = *p;
		if (s->stopped) {
			*p = s->next;
			stream_free(s);
		} else {
			p = &s->next;
		}
	}
}

int kc_client_run_once(struct kc_client *c, int timeout_ms)
{
	struct pollfd fds[KC_SOCKS_MAX];
	size_t n = kc_client_pollfds(c, fds, ARRAY_SIZE(fds), &timeout_ms);

	if (poll(fds, n, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	c->callbacks = 0;
	kc_client_dispatch(c, fds, n);
	return c->callbacks;
}

void kc_client_free(struct kc_client *c)
{
	if (!c)
		return;
	while (c->streams) {
		struct kc_stream *s = c->streams;

		c->streams = s->next;
		stream_free(s);
	}
	while (c->timers) {
		struct kc_timer *t = c->timers;

		c->timers = t->next;
		free(t);
	}
	while (c->n_idle)
		curl_easy_cleanup(c->idle[--c->n_idle]);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->share)
		curl_share_cleanup(c->share);
	free(c->ca.data);
	free(c->cert.data);
	free(c->key.data);
	free(c->server);
	free(c->user_agent);
	free(c->auth_header);
	free(c->username);
	free(c->password);
	free(c);
}

int kc_request_async_type(struct kc_client *c, const char *method, const char *path,
			  const char *content_type, json_t *body, kc_async_fn done, void *ud,
			  struct kc_async **out)
{
	struct kc_stream *s;
	int r = stream_start(c, method, path, content_type, body, &s);

	if (r < 0)
		return r;
	s->adone = done;
	s->ud = ud;
	/* Watches may be silent for long; a plain request may not. */
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (out)
		*out = (struct kc_async *)s;
	return 0;
}

int kc_request_async(struct kc_client *c, const char *method, const char *path,
		     json_t *body, kc_async_fn done, void *ud, struct kc_async **out)
{
	return kc_request_async_type(c, method, path, NULL, body, done, ud, out);
}

int kc_request_async_outcome(struct kc_client *c, const char *method, const char *path,
			     json_t *body, kc_async_fn done, void *ud, struct kc_async **out)
{
	struct kc_async *a;
	int r = kc_request_async_type(c, method, path, NULL, body, done, ud, &a);

	if (r == 0)
		((struct kc_stream *)a)->outcome_only = true;
	if (r == 0 && out)
		*out = a;
	return r;
}

void kc_async_cancel(struct kc_client *c, struct kc_async *a)
{
	stream_stop(c, (struct kc_stream *)a);
}

int kc_watch_start(struct kc_client *c, const struct kc_resource *res, const char *ns,
		   const struct kc_watch_opts *o, kc_watch_event_fn event, kc_watch_done_fn done,
		   void *ud, struct kc_watch **out)
{
	static const struct kc_watch_opts none = { 0 };
	char q[4096] = "watch=true", path[4600], to[32];
	struct kc_stream *s;
	int r;

	if (!o)
		o = &none;
	snprintf(to, sizeof(to), "%d", o->timeout_seconds);
	if ((r = query_add(q, sizeof(q), "labelSelector", o->label_selector)) < 0 ||
	    (r = query_add(q, sizeof(q), "fieldSelector", o->field_selector)) < 0 ||
	    (r = query_add(q, sizeof(q), "resourceVersion", o->resource_version)) < 0 ||
	    (r = query_add(q, sizeof(q), "allowWatchBookmarks", o->bookmarks ? "true" : NULL)) < 0 ||
	    (r = query_add(q, sizeof(q), "timeoutSeconds", o->timeout_seconds > 0 ? to : NULL)) < 0 ||
	    (r = kc_path(res, ns, NULL, NULL, q, path, sizeof(path))) < 0)
		return r;
	r = stream_start(c, "GET", path, NULL, NULL, &s);
	if (r < 0)
		return r;
	s->is_watch = true;
	s->event = event;
	s->wdone = done;
	s->ud = ud;
	if (out)
		*out = (struct kc_watch *)s;
	return 0;
}

void kc_watch_stop(struct kc_client *c, struct kc_watch *w)
{
	stream_stop(c, (struct kc_stream *)w);
}

/* ---- blocking REST verbs ---- */

const char *kc_meta_str(json_t *obj, const char *field)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

int kc_object_key(json_t *obj, char *buf, size_t size)
{
	const char *ns = kc_meta_str(obj, "namespace"), *name = kc_meta_str(obj, "name");
	int n;

	if (!name)
		return -EINVAL;
	n = ns && *ns ? snprintf(buf, size, "%s/%s", ns, name) : snprintf(buf, size, "%s", name);
	return (size_t)n < size ? 0 : -ENAMETOOLONG;
}

void kc_timestamp(long long t, char buf[32])
{
	time_t tt = t ? (time_t)t : time(NULL);
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kc_get(struct kc_client *c, const struct kc_resource *res, const char *ns,
	   const char *name, json_t **out)
{
	char path[1024];
	int r = kc_path(res, ns, name, NULL, NULL, path, sizeof(path));

	return r < 0 ? r : kc_request(c, "GET", path, NULL, NULL, out);
}

int kc_list_query(const struct kc_list_opts *o, char *q, size_t size)
{
	char limit[32];
	int r;

	q[0] = '\0';
	snprintf(limit, sizeof(limit), "%ld", o->limit);
	if ((r = query_add(q, size, "labelSelector", o->label_selector)) < 0 ||
	    (r = query_add(q, size, "fieldSelector", o->field_selector)) < 0 ||
	    (r = query_add(q, size, "limit", o->limit > 0 ? limit : NULL)) < 0 ||
	    (r = query_add(q, size, "continue", o->continue_token)) < 0 ||
	    (r = query_add(q, size, "resourceVersion", o->resource_version)) < 0)
		return r;
	return 0;
}

int kc_list(struct kc_client *c, const struct kc_resource *res, const char *ns,
	    const struct kc_list_opts *o, json_t **out)
{
	static const struct kc_list_opts none = { 0 };
	char q[4096], path[4600];
	int r = kc_list_query(o ? o : &none, q, sizeof(q));

	if (r == 0)
		r = kc_path(res, ns, NULL, NULL, q, path, sizeof(path));
	return r < 0 ? r : kc_request(c, "GET", path, NULL, NULL, out);
}

int kc_list_all(struct kc_client *c, const struct kc_resource *res, const char *ns,
		const struct kc_list_opts *o, json_t **items, char **rv)
{
	struct kc_list_opts page = o ? *o : (struct kc_list_opts){ 0 };
	json_t *all = json_array(), *list = NULL;
	char *cont = NULL;
	int r;

	if (!all)
		return -ENOMEM;
	if (page.limit <= 0)
		page.limit = 500;
	for (;;) {
		const char *next, *lrv;

		r = kc_list(c, res, ns, &page, &list);
		if (r < 0)
			break;
		json_array_extend(all, json_object_get(list, "items"));
		next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
		free(cont);
		cont = next && *next ? strdup(next) : NULL;
		if (!cont) {
			lrv = json_string_value(json_object_get(json_object_get(list, "metadata"),
								"resourceVersion"));
			if (rv && !(*rv = strdup(lrv ? lrv : "")))
				r = -ENOMEM;
			break;
		}
		page.continue_token = cont;
		page.resource_version = NULL; /* the token pins the snapshot */
		json_decref(list);
		list = NULL;
	}
	json_decref(list);
	free(cont);
	if (r < 0) {
		json_decref(all);
		return r;
	}
	*items = all;
	return 0;
}

int kc_create(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      json_t *obj, json_t **out)
{
	char path[1024];
	int r = kc_path(res, ns ? ns : kc_meta_str(obj, "namespace"), NULL, NULL, NULL, path,
			sizeof(path));

	return r < 0 ? r : kc_request(c, "POST", path, NULL, obj, out);
}

static int put_object(struct kc_client *c, const struct kc_resource *res, const char *ns,
		      const char *sub, json_t *obj, json_t **out)
{
	const char *name = kc_meta_str(obj, "name");
	char path[1024];
	int r;

	if (!name)
		return -EINVAL;
	r = kc_path(res, ns ? ns : kc_meta_str(obj, "namespace"), name, sub, NULL, path,
		    sizeof(path));
	return r < 0 ? r : kc_request(c, "PUT", path, NULL, obj, out);
}

int kc_update(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      json_t *obj, json_t **out)
{
	return put_object(c, res, ns, NULL, obj, out);
}

int kc_update_status(struct kc_client *c, const struct kc_resource *res, const char *ns,
		     json_t *obj, json_t **out)
{
	return put_object(c, res, ns, "status", obj, out);
}

static const char *const patch_types[] = {
	[KC_PATCH_MERGE] = "application/merge-patch+json",
	[KC_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
	[KC_PATCH_JSON] = "application/json-patch+json",
};

int kc_patch(struct kc_client *c, const struct kc_resource *res, const char *ns,
	     const char *name, const char *sub, enum kc_patch_type type, json_t *patch,
	     json_t **out)
{
	char path[1024];
	int r;

	if ((unsigned)type >= ARRAY_SIZE(patch_types))
		return -EINVAL;
	r = kc_path(res, ns, name, sub, NULL, path, sizeof(path));
	return r < 0 ? r : kc_request(c, "PATCH", path, patch_types[type], patch, out);
}

int kc_patch_async(struct kc_client *c, const struct kc_resource *res, const char *ns,
		   const char *name, const char *sub, enum kc_patch_type type, json_t *patch,
		   kc_async_fn done, void *ud, struct kc_async **out)
{
	char path[1024];
	int r;

	if ((unsigned)type >= ARRAY_SIZE(patch_types))
		return -EINVAL;
	r = kc_path(res, ns, name, sub, NULL, path, sizeof(path));
	return r < 0 ? r : kc_request_async_type(c, "PATCH", path, patch_types[type], patch, done,
						 ud, out);
}

int kc_delete(struct kc_client *c, const struct kc_resource *res, const char *ns,
	      const char *name, const struct kc_delete_opts *o, json_t **out)
{
	char path[1024];
	json_t *body = NULL, *pre;
	int r = kc_path(res, ns, name, NULL, NULL, path, sizeof(path));

	if (r < 0)
		return r;
	if (o) {
		body = json_pack("{s:s,s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
		if (!body)
			return -ENOMEM;
		if (o->propagation_policy)
			json_object_set_new(body, "propagationPolicy",
					    json_string(o->propagation_policy));
		if (o->has_grace_period)
			json_object_set_new(body, "gracePeriodSeconds",
					    json_integer(o->grace_period_seconds));
		if (o->precondition_uid || o->precondition_rv) {
			pre = json_object();
			if (o->precondition_uid)
				json_object_set_new(pre, "uid", json_string(o->precondition_uid));
			if (o->precondition_rv)
				json_object_set_new(pre, "resourceVersion",
						    json_string(o->precondition_rv));
			json_object_set_new(body, "preconditions", pre);
		}
	}
	r = kc_request(c, "DELETE", path, NULL, body, out);
	json_decref(body);
	return r;
}

int kc_update_retry(struct kc_client *c, const struct kc_resource *res, const char *ns,
		    const char *name, const char *sub, kc_mutate_fn mutate, void *ud, int tries,
		    json_t **out)
{
	int r = -ESTALE;

	if (tries <= 0)
		tries = 5;
	for (int i = 0; i < tries && r == -ESTALE; i++) {
		json_t *obj = NULL, *written = NULL;

		r = kc_get(c, res, ns, name, &obj);
		if (r < 0)
			return r;
		r = mutate(obj, ud);
		if (r < 0) {
			json_decref(obj);
			return r;
		}
		if (r == 1) {
			if (out)
				*out = obj;
			else
				json_decref(obj);
			return 0;
		}
		r = put_object(c, res, ns, sub, obj, &written);
		json_decref(obj);
		if (r == 0) {
			if (out)
				*out = written;
			else
				json_decref(written);
		}
	}
	return r;
}
