/* Container probes and lifecycle hooks; see kubelet_probe.h.
 *
 * The prober holds one entry per (pod, container instance, kind). Its
 * threads take the entry due first, run it outside the lock (bounded by
 * timeoutSeconds), fold the result into the thresholds and queue the pod
 * when a result flipped; the pod's worker reads the results for the
 * status and performs the kills. */
#include "dataplane/kubelet_probe.h"

#include "dataplane/kubelet_int.h"

#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KL_PROBERS 2              /* probe threads: a slow probe holds one */
#define KL_PROBE_MSG_MAX 1024
#define KL_POST_START_TIMEOUT_S 30
#define KL_MIN_GRACE_S 2          /* what preStop leaves SIGTERM at least */
#define NEVER ULLONG_MAX

enum kind { STARTUP, LIVENESS, READINESS, KINDS };
static const char *const field[KINDS] = { "startupProbe", "livenessProbe", "readinessProbe" };
static const char *const title[KINDS] = { "Startup", "Liveness", "Readiness" };
static const char *const lower[KINDS] = { "startup", "liveness", "readiness" };

struct probe {
	struct probe *next;
	char *key, *name, *id; /* pod key, container name, instance id */
	enum kind kind;
	json_t *spec;          /* the probe (a copy) */
	json_t *ports;         /* the container's ports, for named ports */
	json_t *ref;           /* the pod, as much as an event needs */
	char ip[64];
	unsigned long long due; /* monotonic ns; NEVER: done */
	int period_s, timeout_s, success_th, failure_th;
	int successes, failures;
	bool result, seen, busy, removed, kill, kill_sent;
};

struct kl_prober {
	struct kubelet *k;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct probe *list;
	bool stop;
	pthread_t threads[KL_PROBERS];
	int n_threads;
};

/* ---- actions: exec, httpGet, tcpSocket, grpc ---- */

struct action {
	struct cri_client *cri;
	const char *id;   /* the container (exec) */
	const char *ip;   /* the pod's IP: the default host */
	json_t *ports;    /* the container's ports */
	int timeout_s;
};

/* A port by number or by the container's port name; < 0 with msg. */
static int resolve_port(json_t *port, json_t *ports, char *msg, size_t size)
{
	long long p = -1;
	json_t *e;
	size_t i;

	if (json_is_integer(port))
		p = json_integer_value(port);
	if (json_is_string(port)) {
		json_array_foreach(ports, i, e)
			if (streq(json_path_str(e, "name"), json_string_value(port)))
				p = json_path_int(e, "containerPort", -1);
		if (p < 0) {
			char *end;

			p = strtoll(json_string_value(port), &end, 10);
			if (*end)
				p = -1;
		}
	}
	if (p <= 0 || p > 65535)
		return set_err(msg, size, -EINVAL, "invalid port: %s",
			       json_is_string(port) ? json_string_value(port) : "not a port");
	return (int)p;
}

/* "host:port", IPv6 in brackets. */
static void host_port(char *buf, size_t size, const char *host, int port)
{
	bool v6 = strchr(host, ':') != NULL;

	snprintf(buf, size, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

static const char *action_host(const struct action *a, json_t *h, char *msg, size_t size)
{
	const char *host = json_path_str(h, "host");

	if (host && *host)
		return host;
	if (!a->ip || !*a->ip)
		set_err(msg, size, -EADDRNOTAVAIL, "the pod has no IP yet");
	return a->ip && *a->ip ? a->ip : NULL;
}

/* The command's stdout and stderr, as upstream reports them. */
static void exec_output(const Runtime__V1__ExecSyncResponse *resp, char *msg, size_t size)
{
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		const ProtobufCBinaryData *d = i ? &resp->stderr : &resp->stdout;
		size_t take = d->len < size - 1 - n ? d->len : size - 1 - n;

		memcpy(msg + n, d->data, take);
		n += take;
	}
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\0'))
		n--;
	msg[n] = '\0';
}

static int act_exec(const struct action *a, json_t *exec, char *msg, size_t size)
{
	json_t *cmd = json_object_get(exec, "command"), *v;
	size_t n = json_array_size(cmd), i;
	Runtime__V1__ExecSyncResponse *resp = NULL;
	char **argv;
	int r;

	if (!n)
		return set_err(msg, size, -EINVAL, "exec without a command");
	argv = calloc(n, sizeof(*argv));
	if (!argv)
		return set_err(msg, size, -ENOMEM, "out of memory");
	json_array_foreach(cmd, i, v)
		argv[i] = (char *)(json_string_value(v) ?: "");
	r = cri_exec_sync(a->cri, a->id, argv, n, a->timeout_s, &resp);
	free(argv);
	if (r == -ETIMEDOUT)
		return set_err(msg, size, 1, "command timed out after %ds", a->timeout_s);
	if (r < 0)
		return set_err(msg, size, r, "%s", cri_last_status(a->cri)->message);
	exec_output(resp, msg, size);
	r = resp->exit_code == 0 ? 0 : 1;
	if (r && !*msg)
		snprintf(msg, size, "command exited with %d", resp->exit_code);
	cri_msg_free(resp);
	return r;
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * n;
}

/* httpHeaders, and upstream's User-Agent and Accept unless they name them. */
static struct curl_slist *http_headers(json_t *h)
{
	struct curl_slist *l = NULL;
	bool ua = false, accept = false;
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(h, "httpHeaders"), i, e) {
		const char *name = json_path_str(e, "name"), *value = json_path_str(e, "value");
		char line[1024];

		if (!name || !*name)
			continue;
		ua |= !strcasecmp(name, "User-Agent");
		accept |= !strcasecmp(name, "Accept");
		snprintf(line, sizeof(line), value && *value ? "%s: %s" : "%s;", name, value);
		l = curl_slist_append(l, line);
	}
	if (!ua)
		l = curl_slist_append(l, "User-Agent: kube-probe/1.27");
	if (!accept)
		l = curl_slist_append(l, "Accept: */*");
	return l;
}

static int act_http(const struct action *a, json_t *h, char *msg, size_t size)
{
	const char *scheme = json_path_str(h, "scheme") ?: "HTTP", *path = json_path_str(h, "path") ?: "";
	const char *host = action_host(a, h, msg, size);
	int port = resolve_port(json_object_get(h, "port"), a->ports, msg, size);
	char url[1200], hp[128], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs;
	long code = 0;
	CURLcode rc;
	CURL *c;

	if (!host)
		return -EADDRNOTAVAIL;
	if (port < 0)
		return port;
	host_port(hp, sizeof(hp), host, port);
	snprintf(url, sizeof(url), "%s://%s%s%s", strcasecmp(scheme, "HTTPS") ? "http" : "https", hp,
		 path[0] == '/' ? "" : "/", path);
	c = curl_easy_init();
	if (!c)
		return set_err(msg, size, -ENOMEM, "cannot make a curl handle");
	hdrs = http_headers(h);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)a->timeout_s * 1000L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	/* upstream's prober does not verify the pod's certificate either */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK)
		return set_err(msg, size, 1, "Get \"%s\": %s", url,
			       errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (code >= 200 && code < 400)
		return 0;
	return set_err(msg, size, 1, "HTTP probe failed with statuscode: %ld", code);
}

/* Connects within timeout_ms: 0 or a positive errno. */
static int connect_within(const char *host, int port, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST }, *ai = NULL;
	char ps[16];
	int fd, err = 0;
	socklen_t len = sizeof(err);

	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &ai) != 0)
		return EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		err = errno;
	else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		err = errno;
	else {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n = poll(&pfd, 1, timeout_ms);

		if (n == 0)
			err = ETIMEDOUT;
		else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return err;
}

static int act_tcp(const struct action *a, json_t *t, char *msg, size_t size)
{
	const char *host = action_host(a, t, msg, size);
	int port = resolve_port(json_object_get(t, "port"), a->ports, msg, size), err;
	char hp[128], why[128];

	if (!host)
		return -EADDRNOTAVAIL;
	if (port < 0)
		return port;
	err = connect_within(host, port, a->timeout_s * 1000);
	if (!err)
		return 0;
	host_port(hp, sizeof(hp), host, port);
	if (err == ETIMEDOUT)
		return set_err(msg, size, 1, "dial tcp %s: i/o timeout", hp);
	strscpy(why, strerror(err), sizeof(why));
	why[0] = (char)tolower((unsigned char)why[0]); /* as Go words it */
	return set_err(msg, size, 1, "dial tcp %s: connect: %s", hp, why);
}

/* grpc.health.v1.HealthCheckResponse.status of a response message. */
static int health_status(const uint8_t *m, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (m[i] == 0x08) /* field 1, varint: the enum fits one byte */
			return m[i + 1];
	return 0; /* proto3: an absent field is its zero, UNKNOWN */
}

static int act_grpc(const struct action *a, json_t *g, char *msg, size_t size)
{
	static const char *const names[] = { "UNKNOWN", "SERVING", "NOT_SERVING",
					     "SERVICE_UNKNOWN" };
	const char *service = json_path_str(g, "service") ?: "";
	size_t slen = strlen(service), rlen = 0;
	uint8_t req[2 + 127], *resp = NULL;
	struct grpc_status st = { .code = -1 };
	struct grpc_channel *ch = NULL;
	char target[128];
	int r, status;

	if (!a->ip || !*a->ip)
		return set_err(msg, size, -EADDRNOTAVAIL, "the pod has no IP yet");
	if (slen > 127)
		return set_err(msg, size, -EINVAL, "grpc service name longer than 127 bytes");
	req[0] = 0x0a; /* HealthCheckRequest.service: field 1, length-delimited */
	req[1] = (uint8_t)slen;
	memcpy(req + 2, service, slen);
	host_port(target, sizeof(target), a->ip, (int)json_path_int(g, "port", 0));
	r = grpc_channel_new(target, &ch);
	if (r == 0)
		r = grpc_unary(ch, "/grpc.health.v1.Health/Check", req, slen ? slen + 2 : 0,
			       a->timeout_s * 1000, &resp, &rlen, &st);
	grpc_channel_free(ch);
	if (r == -ETIMEDOUT)
		return set_err(msg, size, 1, "timeout: health rpc did not complete within %ds",
			       a->timeout_s);
	if (r == -EREMOTEIO)
		return set_err(msg, size, 1, "rpc error: code = %s desc = %s",
			       grpc_code_name(st.code), st.message);
	if (r < 0)
		return set_err(msg, size, 1, "failed to connect service \"%s\" within %ds: %s",
			       target, a->timeout_s, st.message[0] ? st.message : strerror(-r));
	status = health_status(resp, rlen);
	free(resp);
	if (status == 1)
		return 0;
	return set_err(msg, size, 1, "service unhealthy (responded with \"%s\")",
		       status < (int)ARRAY_SIZE(names) ? names[status] : "UNKNOWN");
}

/* 0: success; 1: failure, msg says why; < 0: the probe could not run. */
static int run_action(const struct action *a, json_t *h, char *msg, size_t size)
{
	json_t *v;

	msg[0] = '\0';
	if ((v = json_object_get(h, "exec")))
		return act_exec(a, v, msg, size);
	if ((v = json_object_get(h, "httpGet")))
		return act_http(a, v, msg, size);
	if ((v = json_object_get(h, "tcpSocket")))
		return act_tcp(a, v, msg, size);
	if ((v = json_object_get(h, "grpc")))
		return act_grpc(a, v, msg, size);
	return set_err(msg, size, -EINVAL, "no handler (exec, httpGet, tcpSocket or grpc)");
}

/* ---- the entries ---- */

static unsigned long long secs(long long s)
{
	return s > 0 ? (unsigned long long)s * 1000000000ULL : 0;
}

static int at_least(json_t *p, const char *f, int def, int min)
{
	long long v = json_path_int(p, f, def);

	return v < min ? min : v > 86400 ? 86400 : (int)v;
}

static void probe_free(struct probe *e)
{
	free(e->key);
	free(e->name);
	free(e->id);
	json_decref(e->spec);
	json_decref(e->ports);
	json_decref(e->ref);
	free(e);
}

/* What the pod's status last said of instance id: an agent that restarts
 * keeps ready and started instead of flapping them. */
static bool status_says(struct kl_sync *s, const char *name, const char *id, const char *what)
{
	json_t *cs;
	size_t i;
	char cid[160];

	snprintf(cid, sizeof(cid), "containerd://%s", id);
	json_array_foreach(json_path_get(s->pod, "status.containerStatuses"), i, cs)
		if (streq(json_path_str(cs, "name"), name) &&
		    streq(json_path_str(cs, "containerID"), cid))
			return json_is_true(json_object_get(cs, what));
	return false;
}

static struct probe *probe_new(struct kl_sync *s, json_t *cspec, const Runtime__V1__Container *c,
			       enum kind kind, json_t *pspec)
{
	const char *name = json_path_str(cspec, "name");
	struct probe *e = calloc(1, sizeof(*e));
	struct timespec ts;
	long long since, delay = json_path_int(pspec, "initialDelaySeconds", 0);

	if (!e)
		return NULL;
	e->key = strdup(s->key);
	e->name = strdup(name);
	e->id = strdup(c->id);
	e->kind = kind;
	e->spec = json_deep_copy(pspec);
	e->ports = json_deep_copy(json_object_get(cspec, "ports")) ?: json_array();
	e->ref = json_pack("{ss ss s{ss ss ss}}", "apiVersion", "v1", "kind", "Pod", "metadata",
			   "name", s->name, "namespace", s->ns, "uid", s->uid);
	if (!e->key || !e->name || !e->id || !e->spec || !e->ref) {
		probe_free(e);
		return NULL;
	}
	e->period_s = at_least(pspec, "periodSeconds", 10, 1);
	e->timeout_s = at_least(pspec, "timeoutSeconds", 1, 1);
	e->success_th = kind == READINESS ? at_least(pspec, "successThreshold", 1, 1) : 1;
	e->failure_th = at_least(pspec, "failureThreshold", 3, 1);
	e->result = kind == LIVENESS;
	if (kind == READINESS)
		e->result = status_says(s, name, c->id, "ready");
	if (kind == STARTUP)
		e->result = status_says(s, name, c->id, "started");
	/* initialDelaySeconds counts from the container's start (its creation
	 * here, which precedes it by milliseconds) */
	clock_gettime(CLOCK_REALTIME, &ts);
	since = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec - c->created_at;
	e->due = now_ns() + (since < (long long)secs(delay) ? secs(delay) - since : 0);
	if (kind == STARTUP && e->result)
		e->due = NEVER;
	return e;
}

static struct probe *probe_find(struct kl_prober *p, const char *key, const char *id,
				enum kind kind)
{
	for (struct probe *e = p->list; e; e = e->next)
		if (e->kind == kind && streq(e->id, id) && streq(e->key, key))
			return e;
	return NULL;
}

/* Unlinks the entries of key that match (all, or those not seen); a busy
 * one is freed by its thread. */
static void sweep(struct kl_prober *p, const char *key, bool all)
{
	struct probe **pp = &p->list;

	while (*pp) {
		struct probe *e = *pp;

		if (!streq(e->key, key) || (!all && e->seen)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		if (e->busy)
			e->removed = true;
		else
			probe_free(e);
	}
}

static void add_container(struct kl_sync *s, struct kl_prober *p, json_t *spec)
{
	const char *name = json_path_str(spec, "name");
	Runtime__V1__Container *c = name ? kl_instance(s, name, 0) : NULL;

	if (!c || c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
		return;
	for (int kind = 0; kind < KINDS; kind++) {
		json_t *pspec = json_object_get(spec, field[kind]);
		struct probe *e;

		if (!json_is_object(pspec))
			continue;
		e = probe_find(p, s->key, c->id, kind);
		if (!e && (e = probe_new(s, spec, c, kind, pspec))) {
			e->next = p->list;
			p->list = e;
		}
		if (!e)
			continue;
		e->seen = true;
		if (s->pod_ip[0])
			strscpy(e->ip, s->pod_ip, sizeof(e->ip));
	}
}

void kl_probe_sync(struct kl_sync *s)
{
	struct kl_prober *p = s->k->prober;
	json_t *spec;
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (struct probe *e = p->list; e; e = e->next)
		if (streq(e->key, s->key))
			e->seen = false;
	json_array_foreach(json_path_get(s->pod, "spec.containers"), i, spec)
		add_container(s, p, spec);
	sweep(p, s->key, false);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void kl_probe_forget(struct kubelet *k, const char *key)
{
	struct kl_prober *p = k->prober;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	sweep(p, key, true);
	pthread_mutex_unlock(&p->lock);
}

void kl_probe_status(struct kl_sync *s, json_t *spec, const char *id, bool *started, bool *ready)
{
	struct kl_prober *p = s->k->prober;

	*started = !json_is_object(json_object_get(spec, "startupProbe"));
	*ready = !json_is_object(json_object_get(spec, "readinessProbe"));
	if (p) {
		pthread_mutex_lock(&p->lock);
		for (struct probe *e = p->list; e; e = e->next) {
			if (!streq(e->id, id) || !streq(e->key, s->key))
				continue;
			if (e->kind == STARTUP)
				*started = e->result;
			else if (e->kind == READINESS)
				*ready = e->result;
		}
		pthread_mutex_unlock(&p->lock);
	}
	*ready = *ready && *started;
}

int kl_probe_kill(struct kl_sync *s)
{
	struct kl_prober *p = s->k->prober;
	json_t *kills = json_array(), *e;
	size_t i;
	int n;

	if (!p || !kills) {
		json_decref(kills);
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	for (struct probe *q = p->list; q; q = q->next) {
		if (!q->kill || q->kill_sent || !streq(q->key, s->key))
			continue;
		q->kill_sent = true;
		json_array_append_new(kills, json_pack("{ss ss si sI}", "id", q->id, "name", q->name,
						      "kind", q->kind, "grace",
						      json_path_int(q->spec, "terminationGracePeriodSeconds",
								    kl_grace_seconds(s->pod))));
	}
	pthread_mutex_unlock(&p->lock);
	json_array_foreach(kills, i, e) {
		const char *name = json_path_str(e, "name");
		const char *kind = lower[json_path_int(e, "kind", 0)];

		kl_event(s, "Normal", "Killing", "Container %s failed %s probe, will be restarted",
			 name, kind);
		log_info("kubelet: pod %s: container %s failed its %s probe: stopping it", s->key,
			 name, kind);
		if (cri_stop_container(s->w->cri, json_path_str(e, "id"),
				       json_path_int(e, "grace", 30)) < 0)
			log_warn("kubelet: pod %s: container %s: stop: %s", s->key, name,
				 cri_last_status(s->w->cri)->message);
	}
	n = (int)json_array_size(kills);
	json_decref(kills);
	return n;
}

/* ---- the probe threads ---- */

/* Liveness and readiness wait while the instance's startup probe has not
 * passed. */
static bool held(struct kl_prober *p, const struct probe *e)
{
	const struct probe *st = e->kind == STARTUP ? NULL : probe_find(p, e->key, e->id, STARTUP);

	return st && !st->result;
}

/* The entry due first, now (marked busy); else NULL and *wake. */
static struct probe *next_due(struct kl_prober *p, unsigned long long *wake)
{
	unsigned long long now = now_ns();

	*wake = now + secs(1);
	for (struct probe *e = p->list; e; e = e->next) {
		if (e->busy || e->due == NEVER)
			continue;
		if (e->due <= now && held(p, e))
			e->due = now + secs(e->period_s);
		if (e->due <= now) {
			e->busy = true;
			return e;
		}
		if (e->due < *wake)
			*wake = e->due;
	}
	return NULL;
}

/* Folds one result into the thresholds: true when the pod must look. */
static bool apply(struct kl_prober *p, struct probe *e, bool ok)
{
	bool was = e->result;

	if (ok) {
		e->failures = 0;
		if (++e->successes >= e->success_th)
			e->result = true;
	} else {
		e->successes = 0;
		if (++e->failures >= e->failure_th) {
			e->result = false;
			e->kill = e->kind != READINESS;
		}
	}
	e->due = e->kill ? NEVER : now_ns() + secs(e->period_s);
	if (e->kind == STARTUP && e->result) {
		e->due = NEVER; /* done; liveness and readiness start now */
		for (struct probe *q = p->list; q; q = q->next)
			if (q != e && streq(q->id, e->id) && streq(q->key, e->key))
				q->due = now_ns();
	}
	return e->result != was || e->kill;
}

struct prober_thread {
	struct kl_prober *p;
	struct cri_client *cri; /* a CRI client belongs to one thread */
};

static void wait_until(struct kl_prober *p, unsigned long long wake)
{
	struct timespec ts = { .tv_sec = (time_t)(wake / 1000000000ULL),
			       .tv_nsec = (long)(wake % 1000000000ULL) };

	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void *prober_main(void *arg)
{
	struct prober_thread *t = arg;
	struct kl_prober *p = t->p;
	unsigned long long wake;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct probe *e = next_due(p, &wake);
		char msg[KL_PROBE_MSG_MAX], ip[64];
		struct action a;
		int r;

		if (!e) {
			wait_until(p, wake);
			continue;
		}
		strscpy(ip, e->ip, sizeof(ip));
		a = (struct action){ .cri = t->cri, .id = e->id, .ip = ip, .ports = e->ports,
				     .timeout_s = e->timeout_s };
		pthread_mutex_unlock(&p->lock);
		r = run_action(&a, e->spec, msg, sizeof(msg)); /* e stays: it is busy */
		pthread_mutex_lock(&p->lock);
		e->busy = false;
		if (e->removed) {
			probe_free(e);
			continue;
		}
		if (r != 0) {
			char ev[KL_PROBE_MSG_MAX + 64];

			snprintf(ev, sizeof(ev), "%s probe %s: %s", title[e->kind],
				 r > 0 ? "failed" : "errored", msg);
			kl_event_post(p->k, e->ref, "Warning", "Unhealthy", ev);
			log_debug("kubelet: pod %s: container %s: %s probe failed: %s", e->key,
				  e->name, lower[e->kind], msg);
		}
		if (apply(p, e, r == 0)) {
			log_info("kubelet: pod %s: container %s: %s probe %s", e->key, e->name,
				 lower[e->kind], e->kill ? "failed: kill" : e->result ? "passed" : "failed");
			kc_wq_add(p->k->wq, e->key);
		}
	}
	pthread_mutex_unlock(&p->lock);
	cri_client_free(t->cri);
	free(t);
	return NULL;
}

static int thread_new(struct kl_prober *p, struct prober_thread **out)
{
	struct prober_thread *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->p = p;
	r = cri_client_new(p->k->o.runtime_endpoint, 0, &t->cri);
	if (r < 0) {
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

int kl_prober_start(struct kubelet *k, struct kl_prober **out)
{
	struct kl_prober *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->k = k;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; r == 0 && i < KL_PROBERS; i++) {
		struct prober_thread *t;

		r = thread_new(p, &t);
		if (r == 0) {
			r = -pthread_create(&p->threads[i], NULL, prober_main, t);
			if (r < 0)
				free(t);
		}
		if (r == 0)
			p->n_threads++;
	}
	if (r < 0) {
		kl_prober_stop(p);
		return r;
	}
	*out = p;
	return 0;
}

void kl_prober_stop(struct kl_prober *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->list) {
		struct probe *e = p->list;

		p->list = e->next;
		probe_free(e);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- lifecycle hooks ---- */

/* The command of an exec handler, as Go prints a slice: [sh -c ...]. */
static void command_text(json_t *h, char *buf, size_t size)
{
	json_t *v;
	size_t i, n = 0;

	n += snprintf(buf, size, "[");
	json_array_foreach(json_path_get(h, "exec.command"), i, v)
		if (n < size)
			n += snprintf(buf + n, size - n, "%s%s", i ? " " : "",
				      json_string_value(v) ?: "");
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

/* 0, or -EIO with msg worded as upstream's handler runner words it. */
static int run_hook(struct kl_sync *s, json_t *spec, const char *id, json_t *h, int timeout_s,
		    char *msg, size_t size)
{
	struct action a = { .cri = s->w->cri, .id = id,
			    .ip = s->pod_ip[0] ? s->pod_ip : json_path_str(s->pod, "status.podIP"),
			    .ports = json_object_get(spec, "ports"), .timeout_s = timeout_s };
	const char *name = json_path_str(spec, "name");
	char out[KL_PROBE_MSG_MAX], what[512];

	if (run_action(&a, h, out, sizeof(out)) == 0)
		return 0;
	if (json_object_get(h, "exec")) {
		command_text(h, what, sizeof(what));
		snprintf(msg, size, "Exec lifecycle hook (%s) for Container \"%s\" in Pod \"%s_%s(%s)\" "
			 "failed - error: %s", what, name, s->name, s->ns, s->uid, out);
	} else {
		snprintf(msg, size, "HTTP lifecycle hook (%s) for Container \"%s\" in Pod \"%s_%s(%s)\" "
			 "failed - error: %s", json_path_str(h, "httpGet.path") ?: "", name, s->name,
			 s->ns, s->uid, out);
	}
	return -EIO;
}

static json_t *container_spec(json_t *pod, const char *name)
{
	json_t *spec;
	size_t i;

	json_array_foreach(json_path_get(pod, "spec.containers"), i, spec)
		if (streq(json_path_str(spec, "name"), name))
			return spec;
	return NULL;
}

long long kl_pre_stop(struct kl_sync *s, long long grace)
{
	Runtime__V1__ListContainersResponse *cl = NULL;
	unsigned long long t0 = now_ns();
	long long left_after;
	bool ran = false;

	if (grace <= 0 || !s->pod || cri_list_containers(s->w->cri, NULL, &cl) < 0)
		return 0;
	for (size_t i = 0; i < cl->n_containers; i++) {
		Runtime__V1__Container *c = cl->containers[i];
		const char *name = KL_LABEL(c, KL_LABEL_CONTAINER_NAME);
		json_t *spec = name ? container_spec(s->pod, name) : NULL;
		json_t *h = json_path_get(spec, "lifecycle.preStop");
		long long left = grace - (long long)((now_ns() - t0) / 1000000000ULL);
		char msg[2048];

		if (!h || c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
		    !streq(KL_LABEL(c, KL_LABEL_POD_UID), s->uid))
			continue;
		if (left <= 0)
			break;
		ran = true;
		if (run_hook(s, spec, c->id, h, (int)left, msg, sizeof(msg)) < 0) {
			kl_event(s, "Warning", "FailedPreStopHook", "%s", msg);
			log_warn("kubelet: pod %s: %s", s->key, msg);
		}
	}
	cri_msg_free(cl);
	if (!ran)
		return grace;
	left_after = grace - (long long)((now_ns() - t0) / 1000000000ULL);
	/* upstream leaves SIGTERM at least 2 s after the hooks */
	return left_after < KL_MIN_GRACE_S ? KL_MIN_GRACE_S : left_after;
}

int kl_post_start(struct kl_sync *s, json_t *spec, const char *id)
{
	json_t *h = json_path_get(spec, "lifecycle.postStart");
	char msg[2048];

	if (!h || run_hook(s, spec, id, h, KL_POST_START_TIMEOUT_S, msg, sizeof(msg)) == 0)
		return 0;
	kl_event(s, "Warning", "FailedPostStartHook", "%s", msg);
	log_warn("kubelet: pod %s: %s", s->key, msg);
	cri_stop_container(s->w->cri, id, kl_grace_seconds(s->pod));
	return -EIO;
}
