/* The kubelet API server: TLS with required client certificates, one
 * thread per connection, routing, and the streaming endpoints (exec,
 * attach, portForward) passed through to the runtime's streaming server.
 * See kubelet_server.h. */
#include "dataplane/kubelet_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dataplane/kubelet_server_int.h"
#include "lib/kube_param.h"
#include "lib/log.h"
#include "lib/util.h"

#define HEAD_MAX 16384
#define HEAD_TIMEOUT_MS 30000
#define CRI_TIMEOUT_MS 30000
#define STREAM_CONNECT_MS 10000

struct kubelet_server {
	struct kubelet_server_config cfg;
	char *address, *client_cn, *cri_endpoint;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	int listen_fd;
	int stop_pipe[2];
	pthread_t acceptor;
	bool running;
	unsigned conns;	 /* connections being served (atomic) */
	bool at_cap;	 /* the acceptor's: refusals since the last one served */
};

struct kl_conn {
	struct kubelet_server *srv;
	int fd;
	char peer[INET6_ADDRSTRLEN + 8];
};

/* ---- requests: query parameters and replies ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX and '+' in place. */
static void url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*o++ = *s == '+' ? ' ' : *s;
		}
	}
	*o = 0;
}

static void parse_query(struct kl_req *q)
{
	char *save = NULL;

	snprintf(q->query, sizeof(q->query), "%s", q->raw_query);
	for (char *kv = strtok_r(q->query, "&", &save); kv && q->n_params < KL_MAX_PARAMS;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');

		if (eq)
			*eq++ = 0;
		url_decode(kv);
		if (eq)
			url_decode(eq);
		q->params[q->n_params].key = kv;
		q->params[q->n_params++].value = eq ? eq : (char *)"";
	}
}

const char *kl_param(const struct kl_req *q, const char *key)
{
	for (size_t i = 0; i < q->n_params; i++)
		if (streq(q->params[i].key, key))
			return q->params[i].value;
	return NULL;
}

bool kl_param_true(const struct kl_req *q, const char *key)
{
	return kube_param_bool(kl_param(q, key));
}

static const char *reason_phrase(unsigned code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	default: return "Error";
	}
}

int kl_reply_status(struct kl_req *q, unsigned code, const char *reason, const char *fmt, ...)
{
	char msg[1024];
	_cleanup_free_ char *body = NULL;
	json_t *st;
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
		       "metadata", "status", "Failure", "message", msg, "reason", reason, "code",
		       (int)code);
	body = st ? json_dumps(st, JSON_COMPACT) : NULL;
	json_decref(st);
	if (!body)
		return -ENOMEM;
	r = tls_stream_printf(q->client,
			      "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			      code, reason_phrase(code), strlen(body), body);
	return r < 0 ? r : -(int)code;
}

/* ---- CRI lookups ---- */

static int cri_open(const struct kl_req *q, struct cri_client **c)
{
	return cri_client_new(q->cfg->cri_endpoint, CRI_TIMEOUT_MS, c);
}

/* A label selector of the pod (and container, when given) as upstream's
 * kubelet labels CRI objects. */
struct pod_labels {
	Runtime__V1__ContainerFilter__LabelSelectorEntry e[3];
	Runtime__V1__ContainerFilter__LabelSelectorEntry *p[3];
	size_t n;
};

static void pod_labels_init(struct pod_labels *l, const char *ns, const char *pod,
			    const char *container)
{
	static const char *const keys[] = { "io.kubernetes.pod.namespace", "io.kubernetes.pod.name",
					    "io.kubernetes.container.name" };
	const char *vals[] = { ns, pod, container };

	l->n = container ? 3 : 2;
	for (size_t i = 0; i < l->n; i++) {
		runtime__v1__container_filter__label_selector_entry__init(&l->e[i]);
		l->e[i].key = (char *)keys[i];
		l->e[i].value = (char *)vals[i];
		l->p[i] = &l->e[i];
	}
}

int kl_find_container(struct cri_client *c, const char *ns, const char *pod, const char *name,
		      bool running, char *id, size_t len)
{
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue st = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	Runtime__V1__ListContainersResponse *resp = NULL;
	const Runtime__V1__Container *best = NULL;
	struct pod_labels l;
	int r;

	pod_labels_init(&l, ns, pod, name);
	f.label_selector = l.p;
	f.n_label_selector = l.n;
	if (running) {
		st.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
		f.state = &st;
	}
	r = cri_list_containers(c, &f, &resp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < resp->n_containers; i++)
		if (!best || resp->containers[i]->created_at > best->created_at)
			best = resp->containers[i];
	r = best ? strscpy(id, best->id, len) : -ENOENT;
	cri_msg_free(resp);
	return r;
}

/* The ready sandbox of NS/POD. */
static int find_sandbox(struct cri_client *c, const char *ns, const char *pod, char *id, size_t len)
{
	Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__PodSandboxStateValue st = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
	Runtime__V1__ListPodSandboxResponse *resp = NULL;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry e[2], *p[2] = { &e[0], &e[1] };
	const Runtime__V1__PodSandbox *best = NULL;
	int r;

	for (size_t i = 0; i < 2; i++)
		runtime__v1__pod_sandbox_filter__label_selector_entry__init(&e[i]);
	e[0].key = "io.kubernetes.pod.namespace";
	e[0].value = (char *)ns;
	e[1].key = "io.kubernetes.pod.name";
	e[1].value = (char *)pod;
	f.label_selector = p;
	f.n_label_selector = 2;
	st.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
	f.state = &st;
	r = cri_list_pod_sandbox(c, &f, &resp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < resp->n_items; i++)
		if (!best || resp->items[i]->created_at > best->created_at)
			best = resp->items[i];
	r = best ? strscpy(id, best->id, len) : -ENOENT;
	cri_msg_free(resp);
	return r;
}

/* ---- streaming: the client's connection to the runtime's URL ---- */

/* Splits http://HOST:PORT/PATH (the runtime's streaming URL). */
static int url_split(const char *url, char *host, size_t hl, char *port, size_t pl, const char **path)
{
	const char *h, *slash, *colon;

	if (strncmp(url, "http://", 7) != 0)
		return -EPROTONOSUPPORT;
	h = url + 7;
	slash = strchr(h, '/');
	if (!slash)
		return -EINVAL;
	colon = memrchr(h, ':', (size_t)(slash - h));
	if (!colon || (size_t)(colon - h) >= hl || (size_t)(slash - colon - 1) >= pl)
		return -EINVAL;
	if (*h == '[') { /* [v6]:port */
		h++;
		snprintf(host, hl, "%.*s", (int)(colon - h - 1), h);
	} else {
		snprintf(host, hl, "%.*s", (int)(colon - h), h);
	}
	snprintf(port, pl, "%.*s", (int)(slash - colon - 1), colon + 1);
	*path = slash;
	return 0;
}

/* The client's head to the runtime: its method, the URL's path and the
 * client's query, every header but Host; then what followed the head. */
static int forward_head(struct kl_req *q, struct tls_stream *rt, const char *host,
			const char *port, const char *path)
{
	const char *line;
	int r;

	r = tls_stream_printf(rt, "%s %s%s%s HTTP/1.1\r\nHost: %s:%s\r\n", q->method, path,
			      q->raw_query[0] ? (strchr(path, '?') ? "&" : "?") : "", q->raw_query,
			      host, port);
	for (line = tls_stream_next_line(q->head, q->head_len, q->head); r >= 0 && line;
	     line = tls_stream_next_line(q->head, q->head_len, line)) {
		if (strncasecmp(line, "Host:", 5) == 0)
			continue;
		r = tls_stream_printf(rt, "%s\r\n", line);
	}
	if (r >= 0)
		r = tls_stream_write_all(rt, "\r\n", 2);
	if (r >= 0 && q->have > q->head_len)
		r = tls_stream_write_all(rt, q->head + q->head_len, q->have - q->head_len);
	return r;
}

/* The runtime's answer to the client: after a 101 the bytes both ways
 * until either side closes; any other answer (a refused upgrade) as it
 * came, its body by Content-Length or to the end, and then the end (the
 * runtime would keep the connection for another request). */
static int relay_answer(struct kl_req *q, struct tls_stream *rt)
{
	char head[HEAD_MAX], buf[16384];
	size_t head_len, have;
	long long left = -1;
	unsigned code = 0;
	int r = tls_stream_read_head(rt, head, sizeof(head), HEAD_TIMEOUT_MS, &head_len, &have);

	if (r < 0)
		return kl_reply_status(q, 502, "ServiceUnavailable",
				       "the runtime's streaming server did not answer: %s", strerror(-r));
	sscanf(head, "HTTP/1.%*d %u", &code);
	for (const char *l = tls_stream_next_line(head, head_len, head); l;
	     l = tls_stream_next_line(head, head_len, l))
		if (strncasecmp(l, "Content-Length:", 15) == 0)
			left = atoll(l + 15);
	tls_stream_head_restore(head, head_len);
	r = tls_stream_write_all(q->client, head, have);
	if (r < 0 || code == 101)
		return r < 0 ? r : tls_stream_relay(q->client, rt);
	if (left >= 0)
		left -= (long long)(have - head_len);
	while (left != 0) {
		ssize_t n = tls_stream_read(rt, buf, left > 0 && left < (long long)sizeof(buf) ?
							     (size_t)left : sizeof(buf));

		if (n <= 0 || tls_stream_write_all(q->client, buf, (size_t)n) < 0)
			break;
		if (left > 0)
			left -= n;
	}
	return 0;
}

static int stream_to(struct kl_req *q, const char *what, const char *url)
{
	char host[256], port[16];
	const char *path;
	_cleanup_close_ int fd = -1;
	struct tls_stream rt = { .fd = -1 };
	int r = url_split(url, host, sizeof(host), port, sizeof(port), &path);

	if (r < 0)
		return kl_reply_status(q, 500, "InternalError",
				       "%s: the runtime's streaming URL %s is not usable", what, url);
	r = tls_stream_tcp_connect(host, port, STREAM_CONNECT_MS, &fd);
	if (r < 0)
		return kl_reply_status(q, 502, "ServiceUnavailable",
				       "%s: cannot reach the runtime's streaming server at %s:%s: %s",
				       what, host, port, strerror(-r));
	rt.fd = fd;
	r = forward_head(q, &rt, host, port, path);
	if (r < 0)
		return r;
	log_debug("kubelet: %s through %s", what, url);
	return relay_answer(q, &rt);
}

static int cri_failed(struct kl_req *q, struct cri_client *c, const char *call, int r)
{
	const struct grpc_status *st = cri_last_status(c);

	return kl_reply_status(q, 500, "InternalError", "%s: %s%s%s", call, strerror(-r),
			       st->message[0] ? ": " : "", st->message);
}

/* exec and attach: the options as the API server passes them on (input,
 * output, error, tty; the kubelet also takes stdin/stdout/stderr). */
static void stream_opts(const struct kl_req *q, struct cri_stream_opts *o)
{
	o->in = kl_param_true(q, "input") || kl_param_true(q, "stdin");
	o->out = kl_param_true(q, "output") || kl_param_true(q, "stdout");
	o->err = kl_param_true(q, "error") || kl_param_true(q, "stderr");
	o->tty = kl_param_true(q, "tty");
	if (o->tty)
		o->err = false; /* a terminal has one output stream */
}

static int serve_exec_attach(struct kl_req *q, bool exec, const char *ns, const char *pod,
			     const char *container)
{
	struct cri_client *c = NULL;
	struct cri_stream_opts o;
	char id[128];
	char *cmd[KL_MAX_PARAMS];
	size_t n_cmd = 0;
	_cleanup_free_ char *url = NULL;
	int r;

	stream_opts(q, &o);
	if (!o.in && !o.out && !o.err)
		return kl_reply_status(q, 400, "BadRequest",
				       "you must specify at least 1 of stdin, stdout, stderr");
	for (size_t i = 0; i < q->n_params; i++)
		if (streq(q->params[i].key, "command"))
			cmd[n_cmd++] = q->params[i].value;
	if (exec && !n_cmd)
		return kl_reply_status(q, 400, "BadRequest", "you must specify at least one command");
	r = cri_open(q, &c);
	if (r < 0)
		return kl_reply_status(q, 500, "InternalError", "cannot reach the runtime at %s: %s",
				       q->cfg->cri_endpoint, strerror(-r));
	r = kl_find_container(c, ns, pod, container, true, id, sizeof(id));
	if (r == -ENOENT)
		r = kl_reply_status(q, 404, "NotFound",
				    "container \"%s\" in pod \"%s/%s\" is not running", container, ns,
				    pod);
	else if (r < 0)
		r = cri_failed(q, c, "ListContainers", r);
	else if ((r = exec ? cri_exec(c, id, cmd, n_cmd, &o, &url) : cri_attach(c, id, &o, &url)) < 0)
		r = cri_failed(q, c, exec ? "Exec" : "Attach", r);
	cri_client_free(c);
	if (!url)
		return r;
	return stream_to(q, exec ? "exec" : "attach", url);
}

static int serve_port_forward(struct kl_req *q, const char *ns, const char *pod)
{
	struct cri_client *c = NULL;
	char id[128];
	_cleanup_free_ char *url = NULL;
	int r = cri_open(q, &c);

	if (r < 0)
		return kl_reply_status(q, 500, "InternalError", "cannot reach the runtime at %s: %s",
				       q->cfg->cri_endpoint, strerror(-r));
	r = find_sandbox(c, ns, pod, id, sizeof(id));
	if (r == -ENOENT)
		r = kl_reply_status(q, 404, "NotFound", "pod \"%s/%s\" has no ready sandbox", ns, pod);
	else if (r < 0)
		r = cri_failed(q, c, "ListPodSandbox", r);
	else if ((r = cri_port_forward(c, id, NULL, 0, &url)) < 0)
		r = cri_failed(q, c, "PortForward", r);
	cri_client_free(c);
	if (!url)
		return r;
	return stream_to(q, "port-forward", url);
}

/* ---- routing ---- */

static int split_path(char *path, char **segs, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return -E2BIG;
		url_decode(s);
		segs[n++] = s;
	}
	return (int)n;
}

static int route(struct kl_req *q)
{
	char path[sizeof(q->path)], *seg[6];
	bool get = streq(q->method, "GET"), post = streq(q->method, "POST");
	int n;

	snprintf(path, sizeof(path), "%s", q->path);
	n = split_path(path, seg, ARRAY_SIZE(seg));
	if (n == 1 && streq(seg[0], "healthz") && get)
		return tls_stream_printf(q->client, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				  "Content-Length: 2\r\nConnection: close\r\n\r\nok");
	if (n == 4 && streq(seg[0], "containerLogs") && get)
		return kl_serve_logs(q, seg[1], seg[2], seg[3]);
	if (n == 2 && streq(seg[0], "stats") && streq(seg[1], "summary") && get)
		return kl_serve_stats_summary(q);
	/* /exec/NS/POD/CONTAINER and /exec/NS/POD/UID/CONTAINER */
	if ((n == 4 || n == 5) && (get || post) &&
	    (streq(seg[0], "exec") || streq(seg[0], "attach")))
		return serve_exec_attach(q, streq(seg[0], "exec"), seg[1], seg[2], seg[n - 1]);
	if ((n == 3 || n == 4) && (get || post) && streq(seg[0], "portForward"))
		return serve_port_forward(q, seg[1], seg[2]);
	if (n >= 1 && (streq(seg[0], "healthz") || streq(seg[0], "containerLogs")))
		return kl_reply_status(q, 405, "MethodNotAllowed", "%s is not allowed on %s",
				       q->method, q->path);
	return kl_reply_status(q, 404, "NotFound", "%s: no such kubelet endpoint", q->path);
}

/* "METHOD PATH?QUERY HTTP/1.x" of the head. */
static int parse_request_line(struct kl_req *q)
{
	char target[sizeof(q->path) + sizeof(q->raw_query)];
	char *qm;

	if (sscanf(q->head, "%7s %3071s HTTP/1.", q->method, target) != 2 || target[0] != '/')
		return -EBADMSG;
	qm = strchr(target, '?');
	if (qm)
		*qm++ = 0;
	if (strscpy(q->path, target, sizeof(q->path)) < 0 ||
	    strscpy(q->raw_query, qm ? qm : "", sizeof(q->raw_query)) < 0)
		return -EMSGSIZE;
	parse_query(q);
	return 0;
}

/* ---- TLS: the client must be the API server ---- */

/* 0 when the peer's certificate chains to the client CA and has the
 * accepted CN; its CN (or the problem) in who. */
static int check_client(struct kubelet_server *s, gnutls_session_t tls, char *who, size_t len)
{
	const gnutls_datum_t *certs;
	unsigned n = 0, status = 0;
	gnutls_x509_crt_t crt;
	size_t cl = len;
	int r = -EACCES;

	certs = gnutls_certificate_get_peers(tls, &n);
	if (!certs || !n) {
		snprintf(who, len, "no client certificate");
		return -EACCES;
	}
	if (gnutls_certificate_verify_peers2(tls, &status) < 0 || status) {
		snprintf(who, len, "a client certificate the client CA did not sign");
		return -EACCES;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, who, &cl) == 0)
		r = streq(who, s->client_cn) ? 0 : -EACCES;
	else
		snprintf(who, len, "a client certificate without a CN");
	gnutls_x509_crt_deinit(crt);
	return r;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int tls_accept(struct kl_conn *k, gnutls_session_t *out)
{
	struct kubelet_server *s = k->srv;
	gnutls_session_t tls;
	int r;

	if (gnutls_init(&tls, GNUTLS_SERVER) < 0)
		return -ENOMEM;
	if (gnutls_priority_set(tls, s->prio) < 0 ||
	    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, s->cred) < 0) {
		gnutls_deinit(tls);
		return -EINVAL;
	}
	gnutls_certificate_server_set_request(tls, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(tls, k->fd);
	gnutls_handshake_set_timeout(tls, HEAD_TIMEOUT_MS);
	do
		r = gnutls_handshake(tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		log_debug("kubelet: TLS handshake with %s failed: %s", k->peer, gnutls_strerror(r));
		gnutls_deinit(tls);
		return -EPROTO;
	}
	*out = tls;
	return 0;
}

static void serve_conn(struct kl_conn *k)
{
	gnutls_session_t tls = NULL;
	struct tls_stream client = { .fd = k->fd };
	struct kl_req *q = NULL;
	char head[HEAD_MAX], who[256];
	int r;

	set_timeout(k->fd, HEAD_TIMEOUT_MS);
	if (tls_accept(k, &tls) < 0)
		return;
	client.tls = tls;
	q = calloc(1, sizeof(*q));
	if (!q)
		goto out;
	q->cfg = &k->srv->cfg;
	q->client = &client;
	q->head = head;
	r = tls_stream_read_head(&client, head, sizeof(head), HEAD_TIMEOUT_MS, &q->head_len, &q->have);
	if (r < 0 || parse_request_line(q) < 0)
		goto out;
	r = check_client(k->srv, tls, who, sizeof(who));
	if (r < 0) {
		log_warn("kubelet: refused %s %s from %s: %s", q->method, q->path, k->peer, who);
		kl_reply_status(q, 403, "Forbidden", "%s is not allowed to use the kubelet API",
				r == -EACCES ? who : "the client");
		goto out;
	}
	set_timeout(k->fd, 0); /* streams and follows may idle for long */
	log_debug("kubelet: %s %s from %s (%s)", q->method, q->path, k->peer, who);
	route(q);
	gnutls_bye(tls, GNUTLS_SHUT_WR);
out:
	free(q);
	gnutls_deinit(tls);
}

/* A connection counted by conn_admit has ended. */
static void conn_release(struct kubelet_server *s)
{
	__atomic_sub_fetch(&s->conns, 1, __ATOMIC_RELEASE);
}

static void *conn_thread(void *arg)
{
	struct kl_conn *k = arg;

	serve_conn(k);
	close(k->fd);
	conn_release(k->srv);
	free(k);
	return NULL;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		inet_ntop(ss.ss_family,
			  ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
						   : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
			  a, sizeof(a));
	snprintf(buf, len, "%s", a);
}

/* Whether one more connection may be served: below the cap it is
 * counted; over it, the first refusal of a run is logged. */
static bool conn_admit(struct kubelet_server *s, int fd)
{
	char peer[INET6_ADDRSTRLEN + 8];

	if (__atomic_add_fetch(&s->conns, 1, __ATOMIC_ACQ_REL) <= s->cfg.max_conns) {
		s->at_cap = false;
		return true;
	}
	conn_release(s);
	if (!s->at_cap) {
		peer_name(fd, peer, sizeof(peer));
		log_warn("kubelet: connection from %s closed: %u connections served already "
			 "(the cap; further refusals not logged until one is served)",
			 peer, s->cfg.max_conns);
	}
	s->at_cap = true;
	return false;
}

static void *acceptor(void *arg)
{
	struct kubelet_server *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
				       { .fd = s->stop_pipe[0], .events = POLLIN } };
		struct kl_conn *k;
		pthread_attr_t at;
		pthread_t t;
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (!conn_admit(s, fd)) {
			close(fd);
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (!k) {
			conn_release(s);
			close(fd);
			continue;
		}
		k->srv = s;
		k->fd = fd;
		peer_name(fd, k->peer, sizeof(k->peer));
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_thread, k) != 0) {
			conn_release(s);
			close(fd);
			free(k);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

/* ---- lifecycle ---- */

static int listen_on(const char *address, uint16_t port, int *out)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr *sa = (struct sockaddr *)&sin;
	socklen_t sl = sizeof(sin);
	int one = 1, fd;

	if (inet_pton(AF_INET, address, &sin.sin_addr) != 1) {
		if (inet_pton(AF_INET6, address, &sin6.sin6_addr) != 1)
			return -EINVAL;
		sa = (struct sockaddr *)&sin6;
		sl = sizeof(sin6);
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, sl) < 0 || listen(fd, 128) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static int tls_setup(struct kubelet_server *s)
{
	const struct kubelet_server_config *c = &s->cfg;

	if (gnutls_certificate_allocate_credentials(&s->cred) < 0)
		return -ENOMEM;
	if (gnutls_certificate_set_x509_key_file(s->cred, c->cert_file, c->key_file,
						 GNUTLS_X509_FMT_PEM) < 0)
		return -EKEYREJECTED;
	if (gnutls_certificate_set_x509_trust_file(s->cred, c->client_ca_file,
						   GNUTLS_X509_FMT_PEM) <= 0)
		return -ENOKEY;
	return gnutls_priority_init(&s->prio, NULL, NULL) < 0 ? -EINVAL : 0;
}

/* The acceptor and the connection threads it starts take no signals: the
 * agent's loop takes them, and a write to a closed peer fails with EPIPE
 * instead of SIGPIPE ending the agent. */
static int start_thread(struct kubelet_server *s)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&s->acceptor, NULL, acceptor, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int kubelet_server_start(const struct kubelet_server_config *cfg, struct kubelet_server **out)
{
	struct kubelet_server *s;
	int r;

	if (!cfg->cert_file || !cfg->key_file || !cfg->client_ca_file || !cfg->cri_endpoint)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->listen_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->cfg = *cfg;
	s->address = strdup(cfg->address ? cfg->address : "0.0.0.0");
	s->client_cn = strdup(cfg->client_cn ? cfg->client_cn : KUBELET_DEFAULT_CLIENT_CN);
	s->cri_endpoint = strdup(cfg->cri_endpoint);
	if (!s->address || !s->client_cn || !s->cri_endpoint) {
		r = -ENOMEM;
		goto fail;
	}
	s->cfg.address = s->address;
	s->cfg.client_cn = s->client_cn;
	s->cfg.cri_endpoint = s->cri_endpoint;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = KUBELET_DEFAULT_MAX_CONNS;
	if ((r = tls_setup(s)) < 0 || (r = listen_on(s->address, cfg->port, &s->listen_fd)) < 0)
		goto fail;
	/* The files are read: the caller's strings are not kept. */
	s->cfg.cert_file = s->cfg.key_file = s->cfg.client_ca_file = NULL;
	if (pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	r = start_thread(s);
	if (r < 0)
		goto fail;
	s->running = true;
	*out = s;
	return 0;
fail:
	kubelet_server_stop(s);
	return r;
}

void kubelet_server_stop(struct kubelet_server *s)
{
	if (!s)
		return;
	if (s->running) {
		(void)!write(s->stop_pipe[1], "x", 1);
		pthread_join(s->acceptor, NULL);
	}
	/* Connections still served hold the credentials: they live as long
	 * as the process (the agent stops only at exit). */
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_pipe[0] >= 0)
		close(s->stop_pipe[0]);
	if (s->stop_pipe[1] >= 0)
		close(s->stop_pipe[1]);
	if (!s->running) {
		if (s->cred)
			gnutls_certificate_free_credentials(s->cred);
		if (s->prio)
			gnutls_priority_deinit(s->prio);
		free(s->address);
		free(s->client_cn);
		free(s->cri_endpoint);
		free(s);
	}
}
