/* server-bench: skiff-server's numbers for issue 5's table, through its
 * HTTP API (tests/bench/bench_server.sh runs it against skiff-server on
 * SQLite and on etcd, side by side with etcd itself).
 *
 * Creates --pods pod objects of about 2 KiB (POST, one by one, over one
 * kept-alive connection), then times GET and PUT of a sample of them,
 * lists every pod (GET /api/v1/pods) a few times, and opens --watchers
 * concurrent watches (GET /api/v1/pods?watch=1&resourceVersion=RV, one
 * connection each, all driven by one libcurl multi handle). Then --events
 * updates are written --interval-ms apart; each carries a sequence number
 * in an annotation, and the delivery latency is the time from the write's
 * acknowledgement (the PUT's response) to the event reaching each watcher.
 * An event that reaches a watcher before the PUT's response counts as 0.
 *
 * Output, one line per measure (the script turns them into its table):
 *   LABEL MEASURE n=<samples> p50_us=<> p99_us=<> [more fields]
 * Exit 1 when a call fails, a list misses pods or a watcher misses an
 * event; 2 on bad usage. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/util.h"

#define SEQ_KEY "skiff-bench/seq"

struct opts {
	const char *url, *label;
	size_t pods, namespaces, samples, lists, watchers, events;
	unsigned interval_ms, timeout_s;
	long server_pid;
	bool existing;
	bool etcd_watch; /* --etcd-watch: the watch phase against etcd's gateway */
	size_t writers[8], n_writers; /* --writers: in-flight counts of the write phase */
	size_t write_pods;
};

struct buf {
	char *p;
	size_t len, cap;
};

struct watcher {
	CURL *h;
	struct buf line;	/* bytes after the last newline */
	size_t got;		/* events with a sequence number seen */
	bool ended;
	long http;
	CURLcode res;
	char url[512];
};

struct bench {
	struct opts o;
	CURL *h;		/* the single-object and list calls */
	struct curl_slist *json_hdr;
	struct buf resp;
	char *body;		/* request body scratch */
	size_t body_cap;
	/* Watch phase: recv[w * (events + 1) + seq] is when watcher w saw the
	 * update with that sequence number (0: not yet); seq 0 is a warm-up
	 * that proves every stream is live. */
	struct watcher *ws;
	_Atomic unsigned long long *recv;
	_Atomic size_t warm;	/* watchers that saw seq 0 */
	_Atomic size_t done;	/* watchers that saw every seq */
	_Atomic size_t ended;	/* watch streams that closed */
	_Atomic bool stop;
	char etcd_watch_body[256]; /* --etcd-watch: the watches' create request */
	unsigned long long srv_cpu0, cli_cpu0; /* CPU ms at the phase's start */
};

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return (x > y) - (x < y);
}

/* CPU time (user + system) in ms of the server, from /proc/PID/stat, and
 * of this process: who burnt the time of a phase. */
static unsigned long long server_cpu_ms(const struct opts *o)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	if (o->server_pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", o->server_pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	p = p ? strrchr(line, ')') : NULL;
	/* after "(comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	return (ut + st) * 1000ULL / (unsigned long long)sysconf(_SC_CLK_TCK);
}

static unsigned long long self_cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000ULL +
	       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000ULL;
}

static void phase_begin(struct bench *b)
{
	b->srv_cpu0 = server_cpu_ms(&b->o);
	b->cli_cpu0 = self_cpu_ms();
}

/* "server_cpu_ms=S client_cpu_ms=C" since phase_begin, then more. */
static const char *phase_cpu(struct bench *b, char *out, size_t size, const char *more)
{
	snprintf(out, size, "server_cpu_ms=%llu client_cpu_ms=%llu%s%s",
		 server_cpu_ms(&b->o) - b->srv_cpu0, self_cpu_ms() - b->cli_cpu0, more ? " " : "",
		 more ? more : "");
	return out;
}

/* LABEL MEASURE n= p50_us= p99_us= max_us= [extra] */
static void report(const struct opts *o, const char *what, unsigned long long *ns, size_t n,
		   const char *extra)
{
	size_t p99 = (n * 99) / 100;

	if (!n) {
		printf("%s %s n=0\n", o->label, what);
		return;
	}
	qsort(ns, n, sizeof(*ns), cmp_ull);
	printf("%s %s n=%zu p50_us=%llu p99_us=%llu max_us=%llu%s%s\n", o->label, what, n,
	       ns[n / 2] / 1000, ns[p99 < n ? p99 : n - 1] / 1000, ns[n - 1] / 1000,
	       extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

static size_t buf_write(char *data, size_t size, size_t nmemb, void *cls)
{
	struct buf *b = cls;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* A pod of about 2 KiB, shaped like a real Deployment's: labels,
 * annotations, two containers with env, ports, probes, resources and
 * mounts, volumes, tolerations. */
static int pod_json_into(const struct opts *o, char *body, size_t cap, const char *name,
			 size_t i, const char *seqs, bool bound)
{
	char ns[32];
	int n;

	snprintf(ns, sizeof(ns), "bench-%zu", i % o->namespaces);
	n = snprintf(body, cap,
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		"\"namespace\":\"%s\",\"labels\":{\"app\":\"web\",\"tier\":\"frontend\","
		"\"pod-template-hash\":\"7d4b9c8f6b\",\"release\":\"stable\",\"shard\":\"%zu\"},"
		"\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9102\","
		"\"kubectl.kubernetes.io/restartedAt\":\"2026-01-01T00:00:00Z\"%s}},"
		"\"spec\":{\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
		"\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\","
		"%s%.*zu%s\"schedulerName\":\"default-scheduler\","
		"\"securityContext\":{\"runAsNonRoot\":true,\"runAsUser\":1000,\"fsGroup\":2000},"
		"\"containers\":[{\"name\":\"web\",\"image\":\"registry.example.com/web/frontend:v1.24.3\","
		"\"imagePullPolicy\":\"IfNotPresent\",\"args\":[\"--listen=:8080\",\"--metrics=:9102\","
		"\"--log-level=info\",\"--cache-size=256Mi\"],"
		"\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"},"
		"{\"name\":\"metrics\",\"containerPort\":9102,\"protocol\":\"TCP\"}],"
		"\"env\":[{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
		"{\"name\":\"POD_IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},"
		"{\"name\":\"UPSTREAM\",\"value\":\"http://backend.bench-%zu.svc.cluster.local:8080\"},"
		"{\"name\":\"FEATURE_FLAGS\",\"value\":\"compression,http2,tracing\"}],"
		"\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"},"
		"\"limits\":{\"cpu\":\"1\",\"memory\":\"512Mi\"}},"
		"\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080},"
		"\"initialDelaySeconds\":5,\"periodSeconds\":10},"
		"\"livenessProbe\":{\"httpGet\":{\"path\":\"/livez\",\"port\":8080},"
		"\"initialDelaySeconds\":15,\"periodSeconds\":20},"
		"\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":\"/etc/web\",\"readOnly\":true},"
		"{\"name\":\"cache\",\"mountPath\":\"/var/cache/web\"}]},"
		"{\"name\":\"log-shipper\",\"image\":\"registry.example.com/infra/log-shipper:2.8.1\","
		"\"args\":[\"--input=/var/log/web\",\"--output=collector.logging.svc:24224\"],"
		"\"resources\":{\"requests\":{\"cpu\":\"50m\",\"memory\":\"64Mi\"},"
		"\"limits\":{\"cpu\":\"200m\",\"memory\":\"128Mi\"}},"
		"\"volumeMounts\":[{\"name\":\"logs\",\"mountPath\":\"/var/log/web\"}]}],"
		"\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"web-config\"}},"
		"{\"name\":\"cache\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}},"
		"{\"name\":\"logs\",\"emptyDir\":{}}],"
		"\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
		"\"effect\":\"NoExecute\",\"tolerationSeconds\":300},"
		"{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
		"\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]}}",
		name, ns, i % 16, seqs, bound ? "\"nodeName\":\"node-" : "", bound ? 3 : 0, bound ? i % 100 : 0,
		bound ? "\"," : "", i % o->namespaces);
	return n > 0 && (size_t)n < cap ? n : -ENOSPC;
}

static int pod_json(struct bench *b, size_t i, size_t seq, bool with_seq)
{
	char name[32], seqs[64] = "";

	snprintf(name, sizeof(name), "web-%06zu", i);
	if (with_seq)
		snprintf(seqs, sizeof(seqs), ",\"" SEQ_KEY "\":\"%zu\"", seq);
	return pod_json_into(&b->o, b->body, b->body_cap, name, i, seqs, true);
}

/* One call over the kept-alive handle; the body lands in b->resp.
 * Returns the HTTP status, or a negative errno when the call failed. */
static long call_on(const char *base, CURL *h, struct buf *resp, const char *method,
		    const char *path, const char *body, size_t body_len)
{
	char url[512];
	CURLcode c;
	long code = 0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	resp->len = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	}
	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		fprintf(stderr, "server-bench: %s %s: %s\n", method, url, curl_easy_strerror(c));
		return -EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static long call(struct bench *b, const char *method, const char *path, const char *body,
		 size_t body_len)
{
	return call_on(b->o.url, b->h, &b->resp, method, path, body, body_len);
}

/* A kept-alive handle of the bench's settings, writing into resp. */
static CURL *handle_new(struct curl_slist *hdr, struct buf *resp)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	return h;
}

static int expect(struct bench *b, const char *what, const char *path, long code, long want)
{
	if (code == want)
		return 0;
	if (code >= 0)
		fprintf(stderr, "server-bench: %s %s: HTTP %ld, want %ld: %.300s\n", what, path,
			code, want, b->resp.p ? b->resp.p : "");
	return -EIO;
}

static void pod_path(struct bench *b, size_t i, char *out, size_t size)
{
	snprintf(out, size, "/api/v1/namespaces/bench-%zu/pods/web-%06zu", i % b->o.namespaces, i);
}

static int create_namespaces(struct bench *b)
{
	for (size_t i = 0; i < b->o.namespaces; i++) {
		char body[160];
		long code;

		snprintf(body, sizeof(body),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"bench-%zu\"}}",
			 i);
		code = call(b, "POST", "/api/v1/namespaces", body, strlen(body));
		if (code != 201 && code != 409)
			return expect(b, "POST", "/api/v1/namespaces", code, 201);
	}
	return 0;
}

static int phase_create(struct bench *b, unsigned long long *lat)
{
	char path[128], cpu[96];

	phase_begin(b);
	for (size_t i = 0; i < b->o.pods; i++) {
		int n = pod_json(b, i, 0, false);
		unsigned long long t;
		long code;

		if (n < 0)
			return n;
		snprintf(path, sizeof(path), "/api/v1/namespaces/bench-%zu/pods", i % b->o.namespaces);
		t = now_ns();
		code = call(b, "POST", path, b->body, (size_t)n);
		lat[i] = now_ns() - t;
		if (expect(b, "POST", path, code, 201) < 0)
			return -EIO;
	}
	report(&b->o, "create", lat, b->o.pods, phase_cpu(b, cpu, sizeof(cpu), NULL));
	return 0;
}

/* The sample: every pod when there are at most --samples, else a spread
 * of them in a scrambled order (a stride prime to the count). */
static size_t sample_index(const struct bench *b, size_t k)
{
	return b->o.samples >= b->o.pods ? k : (k * 7919) % b->o.pods;
}

static int phase_get(struct bench *b, unsigned long long *lat)
{
	size_t n = b->o.samples < b->o.pods ? b->o.samples : b->o.pods;
	char path[128], cpu[96];

	phase_begin(b);
	for (size_t k = 0; k < n; k++) {
		unsigned long long t;
		long code;

		pod_path(b, sample_index(b, k), path, sizeof(path));
		t = now_ns();
		code = call(b, "GET", path, NULL, 0);
		lat[k] = now_ns() - t;
		if (expect(b, "GET", path, code, 200) < 0)
			return -EIO;
	}
	report(&b->o, "get", lat, n, phase_cpu(b, cpu, sizeof(cpu), NULL));
	return 0;
}

/* etcd itself (--etcd-watch): a put of ETCD_VALUE_BYTES, "seq%06zu"
 * first, through the gateway. */
#define ETCD_WATCH_KEY "/peer-watch/pod"
#define ETCD_VALUE_BYTES 2048
static long etcd_put(struct bench *b, size_t seq)
{
	char value[ETCD_VALUE_BYTES + 1];
	_cleanup_free_ char *k = b64_encode(ETCD_WATCH_KEY, strlen(ETCD_WATCH_KEY), B64_STD);
	_cleanup_free_ char *v = NULL;
	int n;

	memset(value, 'x', ETCD_VALUE_BYTES);
	snprintf(value, sizeof(value), "seq%06zu", seq);
	value[9] = 'x';
	v = b64_encode(value, ETCD_VALUE_BYTES, B64_STD);
	if (!k || !v)
		return -ENOMEM;
	n = snprintf(b->body, b->body_cap, "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
	if (n < 0 || (size_t)n >= b->body_cap)
		return -ENOSPC;
	return call(b, "POST", "/v3/kv/put", b->body, (size_t)n);
}

/* PUT of the whole object without a resourceVersion (an unconditional
 * update, as Kubernetes allows for pods) with one annotation changed. */
static long put_pod(struct bench *b, size_t i, size_t seq)
{
	char path[128];
	int n = pod_json(b, i, seq, true);

	if (n < 0)
		return n;
	pod_path(b, i, path, sizeof(path));
	return call(b, "PUT", path, b->body, (size_t)n);
}

/* The update of watched event seq: a pod's, or etcd's own put. */
static long put_watched(struct bench *b, size_t seq)
{
	return b->o.etcd_watch ? etcd_put(b, seq) : put_pod(b, seq % b->o.pods, seq);
}

static int phase_update(struct bench *b, unsigned long long *lat)
{
	size_t n = b->o.samples < b->o.pods ? b->o.samples : b->o.pods;
	char path[128], cpu[96];

	phase_begin(b);
	for (size_t k = 0; k < n; k++) {
		size_t i = sample_index(b, k);
		unsigned long long t = now_ns();
		long code = put_pod(b, i, 1000000 + k);

		lat[k] = now_ns() - t;
		pod_path(b, i, path, sizeof(path));
		if (expect(b, "PUT", path, code, 200) < 0)
			return -EIO;
	}
	report(&b->o, "update", lat, n, phase_cpu(b, cpu, sizeof(cpu), NULL));
	return 0;
}

/* Lists every pod --lists times; checks the count once (untimed) and
 * returns the list's resourceVersion for the watches. */
static int phase_list(struct bench *b, unsigned long long *lat, char *rv, size_t rv_size)
{
	json_t *doc, *items;
	json_error_t err;
	char extra[192], cpu[96];
	size_t bytes = 0, count;

	phase_begin(b);
	for (size_t k = 0; k < b->o.lists; k++) {
		unsigned long long t = now_ns();
		long code = call(b, "GET", "/api/v1/pods", NULL, 0);

		lat[k] = now_ns() - t;
		if (expect(b, "GET", "/api/v1/pods", code, 200) < 0)
			return -EIO;
		bytes = b->resp.len;
	}
	phase_cpu(b, cpu, sizeof(cpu), NULL);
	doc = json_loadb(b->resp.p, b->resp.len, 0, &err);
	if (!doc) {
		fprintf(stderr, "server-bench: list: invalid JSON: %s\n", err.text);
		return -EIO;
	}
	items = json_object_get(doc, "items");
	count = json_array_size(items);
	snprintf(rv, rv_size, "%s",
		 json_string_value(json_object_get(json_object_get(doc, "metadata"),
						   "resourceVersion")) ?: "");
	json_decref(doc);
	if (count != b->o.pods || !*rv) {
		fprintf(stderr, "server-bench: list: %zu items (want %zu), resourceVersion '%s'\n",
			count, b->o.pods, rv);
		return -EIO;
	}
	snprintf(extra, sizeof(extra), "items=%zu bytes=%zu %s", count, bytes, cpu);
	report(&b->o, "list-all", lat, b->o.lists, extra);
	return 0;
}

static void server_memory(const struct opts *o, const char *what)
{
	char path[64], line[256];
	long rss = -1, hwm = -1, threads = -1;
	FILE *f;

	if (o->server_pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/status", o->server_pid);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "server-bench: %s: %s\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld kB", &rss);
		sscanf(line, "VmHWM: %ld kB", &hwm);
		sscanf(line, "Threads: %ld", &threads);
	}
	fclose(f);
	printf("%s %s rss_kib=%ld hwm_kib=%ld threads=%ld\n", o->label, what, rss, hwm, threads);
	fflush(stdout);
}

/* A watcher's bytes: each complete line is one event; the ones carrying
 * our annotation are stamped with the time they arrived. */
struct wctx {
	struct bench *b;
	size_t idx;
};

/* etcd's gateway: the sequence number from the start of the (base64)
 * value of an event, "seq%06zu", into buf; NULL when the line has none. */
static const char *etcd_seq(const char *line, char *buf)
{
	const char *p = strstr(line, "\"value\":\"");
	_cleanup_free_ char *v = NULL;
	size_t n;

	if (!p || strlen(p + 9) < 12 || b64_decode(p + 9, 12, B64_STD, &v, &n) < 0 || n != 9 ||
	    strncmp(v, "seq", 3))
		return NULL;
	memcpy(buf, v + 3, 6);
	buf[6] = 0;
	return buf;
}

static void watch_line(struct bench *b, struct watcher *w, size_t idx, const char *line,
		       unsigned long long t)
{
	const char *p = strstr(line, "\"" SEQ_KEY "\"");
	char seqbuf[16];
	size_t seq;

	if (b->o.etcd_watch) {
		p = etcd_seq(line, seqbuf);
	} else if (p) {
		p += strlen(SEQ_KEY) + 2;
		while (*p == ':' || *p == ' ' || *p == '"')
			p++;
	}
	if (!p)
		return;
	seq = strtoul(p, NULL, 10);
	if (seq > b->o.events)
		return;	/* an update-phase write replayed from history */
	if (atomic_load(&b->recv[idx * (b->o.events + 1) + seq]))
		return;
	atomic_store(&b->recv[idx * (b->o.events + 1) + seq], t);
	if (seq == 0)
		atomic_fetch_add(&b->warm, 1);
	if (++w->got == b->o.events + 1)
		atomic_fetch_add(&b->done, 1);
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *cls)
{
	struct wctx *c = cls;
	struct watcher *w = &c->b->ws[c->idx];
	size_t n = size * nmemb, start = 0;
	unsigned long long t = now_ns();

	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n')
			continue;
		if (buf_write(data + start, 1, i - start, &w->line) != i - start)
			return 0;
		if (w->line.len)
			watch_line(c->b, w, c->idx, w->line.p, t);
		w->line.len = 0;
		start = i + 1;
	}
	if (start < n && buf_write(data + start, 1, n - start, &w->line) != n - start)
		return 0;
	return n;
}

static void *watch_loop(void *cls)
{
	struct bench *b = cls;
	CURLM *m = curl_multi_init();
	struct wctx *ctx = calloc(b->o.watchers, sizeof(*ctx));
	int running = 0;

	if (!m || !ctx) {
		atomic_store(&b->ended, b->o.watchers);
		free(ctx);
		return NULL;
	}
	for (size_t i = 0; i < b->o.watchers; i++) {
		struct watcher *w = &b->ws[i];

		ctx[i] = (struct wctx){ b, i };
		w->h = curl_easy_init();
		curl_easy_setopt(w->h, CURLOPT_URL, w->url);
		curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(w->h, CURLOPT_WRITEDATA, &ctx[i]);
		curl_easy_setopt(w->h, CURLOPT_PRIVATE, w);
		curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT, 60L);
		curl_easy_setopt(w->h, CURLOPT_TCP_NODELAY, 1L);
		if (b->o.etcd_watch) {
			curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, b->json_hdr);
			curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, b->etcd_watch_body);
		}
		curl_multi_add_handle(m, w->h);
	}
	while (!atomic_load(&b->stop)) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct watcher *w = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
			w->ended = true;
			w->res = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &w->http);
			atomic_fetch_add(&b->ended, 1);
		}
		if (!running)
			break;
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < b->o.watchers; i++) {
		curl_multi_remove_handle(m, b->ws[i].h);
		curl_easy_cleanup(b->ws[i].h);
		free(b->ws[i].line.p);
	}
	curl_multi_cleanup(m);
	free(ctx);
	return NULL;
}

static int wait_until(struct bench *b, _Atomic size_t *counter, size_t want, unsigned secs)
{
	unsigned long long end = now_ns() + secs * 1000000000ULL;

	while (atomic_load(counter) < want) {
		if (now_ns() > end || atomic_load(&b->ended))
			return -ETIMEDOUT;
		usleep(2000);
	}
	return 0;
}

static void watch_failure(struct bench *b, const char *when)
{
	size_t ended = 0, shown = 0;

	for (size_t i = 0; i < b->o.watchers; i++) {
		struct watcher *w = &b->ws[i];

		if (!w->ended)
			continue;
		ended++;
		if (shown++ < 3)
			fprintf(stderr, "server-bench: watcher %zu ended: HTTP %ld, %s\n", i,
				w->http, curl_easy_strerror(w->res));
	}
	fprintf(stderr, "server-bench: %s: %zu of %zu watchers live at the start, %zu got every "
		"event, %zu streams ended\n", when, (size_t)atomic_load(&b->warm), b->o.watchers,
		(size_t)atomic_load(&b->done), ended);
}

/* --etcd-watch: the watches' create request, from the revision after
 * the current one, so the warm-up put reaches every stream however late
 * it opens (as the API's watches start at the list's resourceVersion). */
static int etcd_watch_request(struct bench *b)
{
	_cleanup_free_ char *k = b64_encode(ETCD_WATCH_KEY, strlen(ETCD_WATCH_KEY), B64_STD);
	const char *rev;
	long long next;
	json_t *doc;
	int n;

	if (!k)
		return -ENOMEM;
	n = snprintf(b->body, b->body_cap, "{\"key\":\"%s\"}", k);
	if (expect(b, "POST", "/v3/kv/range", call(b, "POST", "/v3/kv/range", b->body, (size_t)n),
		   200) < 0)
		return -EIO;
	doc = json_loadb(b->resp.p, b->resp.len, 0, NULL);
	rev = json_string_value(json_object_get(json_object_get(doc, "header"), "revision"));
	next = rev ? atoll(rev) + 1 : 0;
	json_decref(doc);
	if (next <= 0) {
		fprintf(stderr, "server-bench: etcd's range answered no revision: %.300s\n",
			b->resp.p ? b->resp.p : "");
		return -EIO;
	}
	snprintf(b->etcd_watch_body, sizeof(b->etcd_watch_body),
		 "{\"create_request\":{\"key\":\"%s\",\"start_revision\":\"%lld\"}}", k, next);
	return 0;
}

static int phase_watch(struct bench *b, const char *rv)
{
	size_t nw = b->o.watchers, ne = b->o.events, total = 0, early = 0;
	_cleanup_free_ unsigned long long *ack = calloc(ne + 1, sizeof(*ack));
	_cleanup_free_ unsigned long long *lat = calloc(nw * ne, sizeof(*lat));
	unsigned long long t0;
	pthread_t th;
	char extra[256], cpu[96];
	int r = 0;

	b->ws = calloc(nw, sizeof(*b->ws));
	b->recv = calloc(nw * (ne + 1), sizeof(*b->recv));
	if (!ack || !lat || !b->ws || !b->recv)
		return -ENOMEM;
	for (size_t i = 0; i < nw; i++)
		if (b->o.etcd_watch)
			snprintf(b->ws[i].url, sizeof(b->ws[i].url), "%s/v3/watch", b->o.url);
		else
			snprintf(b->ws[i].url, sizeof(b->ws[i].url),
				 "%s/api/v1/pods?watch=1&resourceVersion=%s", b->o.url, rv);
	if (b->o.etcd_watch) {
		r = etcd_watch_request(b);
		if (r < 0)
			return r;
	}
	t0 = now_ns();
	r = -pthread_create(&th, NULL, watch_loop, b);
	if (r < 0)
		return r;

	/* Warm-up: seq 0 reaches a watcher only through a live stream. */
	if (expect(b, "PUT", "(warm-up)", put_watched(b, 0), 200) < 0) {
		r = -EIO;
		goto out;
	}
	if (wait_until(b, &b->warm, nw, b->o.timeout_s) < 0) {
		watch_failure(b, "warm-up");
		r = -ETIMEDOUT;
		goto out;
	}
	printf("%s watch-connect n=%zu all_live_ms=%llu\n", b->o.label, nw, (now_ns() - t0) / 1000000);
	server_memory(&b->o, "memory-watching");
	phase_begin(b);
	for (size_t s = 1; s <= ne; s++) {
		long code = put_watched(b, s);

		ack[s] = now_ns();
		if (expect(b, "PUT", "(watched update)", code, 200) < 0) {
			r = -EIO;
			goto out;
		}
		usleep(b->o.interval_ms * 1000);
	}
	if (wait_until(b, &b->done, nw, b->o.timeout_s) < 0) {
		watch_failure(b, "events");
		r = -ETIMEDOUT;
		goto out;
	}
	phase_cpu(b, cpu, sizeof(cpu), NULL);
	for (size_t w = 0; w < nw; w++)
		for (size_t s = 1; s <= ne; s++) {
			unsigned long long t = atomic_load(&b->recv[w * (ne + 1) + s]);

			if (t < ack[s])
				early++;
			lat[total++] = t > ack[s] ? t - ack[s] : 0;
		}
	snprintf(extra, sizeof(extra), "watchers=%zu events=%zu before_ack=%zu %s", nw, ne, early,
		 cpu);
	report(&b->o, "watch-delivery", lat, total, extra);
out:
	atomic_store(&b->stop, true);
	pthread_join(th, NULL);
	free(b->ws);
	free((void *)b->recv);
	b->ws = NULL;
	b->recv = NULL;
	return r;
}

/* The write phase (--writers): the writes a controller and a scheduler
 * make, from `conc` connections at once, each step over all --write-pods
 * pods before the next: create (POST, no nodeName), bind (POST
 * pods/NAME/binding) and status (PATCH pods/NAME/status, merge patch to
 * Running and Ready). Each connection takes the next pod of the step. */
enum wstep { W_CREATE, W_BIND, W_STATUS, W_STEPS };
static const char *const wstep_name[W_STEPS] = { "create", "bind", "status" };

struct wphase {
	struct bench *b;
	enum wstep step;
	size_t conc;
	_Atomic size_t next;
	_Atomic bool failed;
	unsigned long long *lat;
};

/* One write of the step for pod i on this connection; the HTTP status. */
static long write_one(struct wphase *p, CURL *h, struct buf *resp, char *body, size_t cap,
		      size_t i)
{
	const struct opts *o = &p->b->o;
	char name[32], path[160];
	size_t ns = i % o->namespaces;
	int n;

	snprintf(name, sizeof(name), "wr%zu-%06zu", p->conc, i);
	switch (p->step) {
	case W_CREATE:
		n = pod_json_into(o, body, cap, name, i, "", false);
		snprintf(path, sizeof(path), "/api/v1/namespaces/bench-%zu/pods", ns);
		return n < 0 ? n : call_on(o->url, h, resp, "POST", path, body, (size_t)n);
	case W_BIND:
		n = snprintf(body, cap,
			     "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"%s\"},"
			     "\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"node-%03zu\"}}",
			     name, i % 100);
		snprintf(path, sizeof(path), "/api/v1/namespaces/bench-%zu/pods/%s/binding", ns, name);
		return call_on(o->url, h, resp, "POST", path, body, (size_t)n);
	default:
		n = snprintf(body, cap,
			     "{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.%zu.%zu.%zu\","
			     "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
			     i >> 16 & 255, i >> 8 & 255, i & 255);
		snprintf(path, sizeof(path), "/api/v1/namespaces/bench-%zu/pods/%s/status", ns, name);
		return call_on(o->url, h, resp, "PATCH", path, body, (size_t)n);
	}
}

static void *write_loop(void *cls)
{
	struct wphase *p = cls;
	const char *ctype = p->step == W_STATUS ? "Content-Type: application/merge-patch+json"
						: "Content-Type: application/json";
	struct curl_slist *hdr = curl_slist_append(NULL, ctype);
	struct buf resp = { 0 };
	CURL *h = hdr ? handle_new(hdr, &resp) : NULL;
	char *body = malloc(8192);
	long want = p->step == W_STATUS ? 200 : 201;
	size_t i;

	if (!h || !body)
		atomic_store(&p->failed, true);
	while (!atomic_load(&p->failed) && (i = atomic_fetch_add(&p->next, 1)) < p->b->o.write_pods) {
		unsigned long long t = now_ns();
		long code = write_one(p, h, &resp, body, 8192, i);

		p->lat[i] = now_ns() - t;
		if (code != want) {
			fprintf(stderr, "server-bench: %s of pod %zu at %zu in flight: HTTP %ld: %.300s\n",
				wstep_name[p->step], i, p->conc, code, resp.p ? resp.p : "");
			atomic_store(&p->failed, true);
		}
	}
	free(body);
	free(resp.p);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	return NULL;
}

/* LABEL STEP-cN ... writes_per_s= server_cpu_us_per_write= for each step. */
static int phase_writes(struct bench *b, size_t conc)
{
	size_t n = b->o.write_pods;
	_cleanup_free_ unsigned long long *lat = calloc(n, sizeof(*lat));
	_cleanup_free_ pthread_t *th = calloc(conc, sizeof(*th));

	if (!lat || !th)
		return -ENOMEM;
	for (enum wstep st = W_CREATE; st < W_STEPS; st++) {
		struct wphase p = { .b = b, .step = st, .conc = conc, .lat = lat };
		char what[32], extra[192], cpu[96];
		unsigned long long t0, wall, srv0;
		size_t started = 0;

		phase_begin(b);
		srv0 = b->srv_cpu0;
		t0 = now_ns();
		for (; started < conc; started++)
			if (pthread_create(&th[started], NULL, write_loop, &p) != 0) {
				atomic_store(&p.failed, true);
				break;
			}
		for (size_t k = 0; k < started; k++)
			pthread_join(th[k], NULL);
		wall = now_ns() - t0;
		if (atomic_load(&p.failed))
			return -EIO;
		snprintf(extra, sizeof(extra), "in_flight=%zu writes_per_s=%.0f server_cpu_us_per_write=%.0f",
			 conc, (double)n * 1e9 / (double)wall,
			 (double)(server_cpu_ms(&b->o) - srv0) * 1000.0 / (double)n);
		snprintf(what, sizeof(what), "%s-c%zu", wstep_name[st], conc);
		report(&b->o, what, lat, n, phase_cpu(b, cpu, sizeof(cpu), extra));
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: server-bench --url URL [OPTIONS]\n"
		"Times skiff-server's pod API: create, get, update, list-all, watch delivery.\n\n"
		"  --url URL            the server, e.g. http://127.0.0.1:8080 (required)\n"
		"  --label NAME         first word of every output line (default skiff)\n"
		"  --pods N             pods created (default 10000)\n"
		"  --namespaces N       spread over this many namespaces bench-0.. (default 4)\n"
		"  --samples N          gets and updates timed (default 2000; all when pods fewer)\n"
		"  --lists N            list-all calls (default 5)\n"
		"  --watchers N         concurrent watch connections (default 1000; 0: no watch phase)\n"
		"  --events N           updates delivered to the watchers (default 100)\n"
		"  --interval-ms N      pause between those updates (default 20)\n"
		"  --timeout SECS       wait for watchers to connect and receive (default 120)\n"
		"  --server-pid PID     report the server's VmRSS/VmHWM and CPU time from /proc\n"
		"  --writers N[,N...]   only the write phase, at each of these in-flight counts:\n"
		"                       create, bind, status of --write-pods pods, N connections\n"
		"  --write-pods N       pods per in-flight count of the write phase (default 2000)\n"
		"  --etcd-watch         only the watch phase, against etcd's gateway at --url\n"
		"                       (POST /v3/watch, /v3/kv/put of 2 KiB values): the peer\n"
		"  --existing           the pods exist already (an earlier run): no creates, e.g.\n"
		"                       to profile one phase again on a loaded server\n"
		"  -h, --help           this text\n");
}

static int parse_num(const char *name, const char *s, size_t min, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min) {
		fprintf(stderr, "server-bench: %s: expected an integer >= %zu, got '%s'\n", name, min,
			s);
		return -EINVAL;
	}
	*out = (size_t)v;
	return 0;
}

/* "1,4,16": at most max numbers >= 1. */
static int parse_list(const char *name, const char *s, size_t *out, size_t max, size_t *n)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == max) {
			fprintf(stderr, "server-bench: %s: at most %zu numbers\n", name, max);
			return -EINVAL;
		}
		if (parse_num(name, t, 1, &out[(*n)++]) < 0)
			return -EINVAL;
	}
	return *n ? 0 : parse_num(name, s, 1, out);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "label", required_argument, NULL, 'l' },
		{ "pods", required_argument, NULL, 'p' },
		{ "namespaces", required_argument, NULL, 'n' },
		{ "samples", required_argument, NULL, 's' },
		{ "lists", required_argument, NULL, 'L' },
		{ "watchers", required_argument, NULL, 'w' },
		{ "events", required_argument, NULL, 'e' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "existing", no_argument, NULL, 'x' },
		{ "etcd-watch", no_argument, NULL, 'E' },
		{ "writers", required_argument, NULL, 'W' },
		{ "write-pods", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	size_t v;
	int c;

	*o = (struct opts){ .label = "skiff", .pods = 10000, .namespaces = 4, .samples = 2000,
			    .lists = 5, .watchers = 1000, .events = 100, .interval_ms = 20,
			    .timeout_s = 120, .write_pods = 2000 };
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		int r = 0;

		switch (c) {
		case 'u': o->url = optarg; break;
		case 'l': o->label = optarg; break;
		case 'p': r = parse_num("--pods", optarg, 1, &o->pods); break;
		case 'n': r = parse_num("--namespaces", optarg, 1, &o->namespaces); break;
		case 's': r = parse_num("--samples", optarg, 1, &o->samples); break;
		case 'L': r = parse_num("--lists", optarg, 1, &o->lists); break;
		case 'w': r = parse_num("--watchers", optarg, 0, &o->watchers); break;
		case 'e': r = parse_num("--events", optarg, 1, &o->events); break;
		case 'i':
			r = parse_num("--interval-ms", optarg, 0, &v);
			o->interval_ms = (unsigned)v;
			break;
		case 't':
			r = parse_num("--timeout", optarg, 1, &v);
			o->timeout_s = (unsigned)v;
			break;
		case 'P':
			r = parse_num("--server-pid", optarg, 1, &v);
			o->server_pid = (long)v;
			break;
		case 'x': o->existing = true; break;
		case 'E': o->etcd_watch = true; break;
		case 'W': r = parse_list("--writers", optarg, o->writers, 8, &o->n_writers); break;
		case 'X': r = parse_num("--write-pods", optarg, 1, &o->write_pods); break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "server-bench: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->url || strncmp(o->url, "http", 4)) {
		fprintf(stderr, "server-bench: --url is required (http://HOST:PORT)\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	_cleanup_free_ unsigned long long *lat = NULL;
	struct rlimit rl;
	char rv[32];
	size_t n;
	int r = -EIO;

	if (parse_opts(argc, argv, &b.o) < 0) {
		usage(stderr);
		return 2;
	}
	/* One descriptor per watcher. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < b.o.watchers + 64) {
		fprintf(stderr, "server-bench: open-file limit %llu is too low for %zu watchers\n",
			(unsigned long long)rl.rlim_cur, b.o.watchers);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	n = b.o.pods > b.o.lists ? b.o.pods : b.o.lists;
	lat = calloc(n, sizeof(*lat));
	b.body_cap = 8192;
	b.body = malloc(b.body_cap);
	b.json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	b.h = b.json_hdr ? handle_new(b.json_hdr, &b.resp) : NULL;
	if (!lat || !b.body || !b.h || !b.json_hdr)
		goto out;
	if (b.o.etcd_watch) {
		r = phase_watch(&b, "");
		if (r == 0)
			server_memory(&b.o, "memory-end");
		goto out;
	}
	if (b.o.n_writers) {
		r = create_namespaces(&b);
		for (size_t k = 0; r == 0 && k < b.o.n_writers; k++)
			r = phase_writes(&b, b.o.writers[k]);
		goto out;
	}

	if (!b.o.existing) {
		r = create_namespaces(&b);
		if (r < 0)
			goto out;
		r = phase_create(&b, lat);
		if (r < 0)
			goto out;
		server_memory(&b.o, "memory-created");
	}
	r = phase_get(&b, lat);
	if (r < 0)
		goto out;
	r = phase_update(&b, lat);
	if (r < 0)
		goto out;
	r = phase_list(&b, lat, rv, sizeof(rv));
	if (r < 0)
		goto out;
	server_memory(&b.o, "memory-loaded");
	if (b.o.watchers)
		r = phase_watch(&b, rv);
	if (r < 0)
		goto out;
	server_memory(&b.o, "memory-end");
out:
	if (r < 0 && r != -EIO)
		fprintf(stderr, "server-bench: %s\n", strerror(-r));
	curl_slist_free_all(b.json_hdr);
	curl_easy_cleanup(b.h);
	free(b.body);
	free(b.resp.p);
	curl_global_cleanup();
	return r < 0 ? 1 : 0;
}
