/* pods/log, pods/exec, pods/attach and pods/portforward: the request goes
 * on to the kubelet of the pod's node (its InternalIP and
 * daemonEndpoints.kubeletEndpoint.Port) over TLS with the server's kubelet
 * client certificate, as kube-apiserver proxies them. A log's body is
 * relayed as it comes (chunked, endless while following); an SPDY/3.1
 * upgrade is answered with the kubelet's 101 and its headers, and then the
 * bytes pass both ways, in a thread of their own, until either side
 * closes. kubectl's WebSocket (v5.channel.k8s.io, or port-forward's SPDY
 * tunnel) becomes an SPDY upgrade to the kubelet and is translated in
 * that thread (api_proxy_ws.h). Any other answer of the kubelet (a
 * refused upgrade, an error Status) reaches the client as the kubelet
 * gave it, so kubectl's WebSocket-to-SPDY fallback sees the same refusal
 * it would see from kube-apiserver. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control/api_internal.h"
#include "control/api_proxy_ws.h"
#include "lib/kube_param.h"
#include "lib/log.h"
#include "lib/tls_stream.h"
#include "lib/util.h"

#define KUBELET_DEFAULT_PORT 10250
#define CONNECT_MS 10000
#define HEAD_MS 30000
#define HEAD_MAX 16384

struct proxy_call;

/* The server's kubelet client identity, loaded on first use, and the
 * upgraded connections being relayed (ended when the server stops). */
struct api_proxy {
	pthread_mutex_t lock;
	pthread_cond_t idle;
	gnutls_certificate_credentials_t cred;
	int err; /* of the last load, 0 when cred is ready */
	struct proxy_call *relays;
	bool stopping;
};

/* One proxied call, from the pod lookup to the last relayed byte. */
struct proxy_call {
	struct api_server *srv;
	char node[256], addr[64], port[8];
	char target[8192]; /* the kubelet's path and query */
	gnutls_session_t tls;
	struct tls_stream kubelet;
	int client_fd;     /* kubectl's socket: its hang-up ends a log */
	char head[HEAD_MAX];
	size_t head_len, have, sent; /* body bytes read with the head, and passed on */
	struct api_ws ws; /* a WebSocket translated to SPDY (api_proxy_ws.h) */
	char *client_extra; /* ws: the client's bytes after its request */
	size_t client_extra_len;
	/* the upgrade, once MHD hands the client's socket over */
	int sock;
	struct MHD_UpgradeResponseHandle *urh;
	struct proxy_call *next, **pprev; /* in api_proxy.relays while relaying */
};

int api_proxy_new(struct api_proxy **out)
{
	struct api_proxy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->err = -EAGAIN;
	*out = p;
	return 0;
}

void api_proxy_free(struct api_proxy *p)
{
	if (!p)
		return;
	if (p->cred)
		gnutls_certificate_free_credentials(p->cred);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void api_proxy_shutdown(struct api_proxy *p)
{
	struct timespec until;

	if (!p)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	for (struct proxy_call *pc = p->relays; pc; pc = pc->next)
		shutdown(pc->kubelet.fd, SHUT_RDWR);
	while (p->relays && pthread_cond_timedwait(&p->idle, &p->lock, &until) == 0)
		;
	pthread_mutex_unlock(&p->lock);
}

/* Adds pc to the relays; false when the server is stopping. */
static bool relay_add(struct api_proxy *p, struct proxy_call *pc)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = !p->stopping;
	if (ok) {
		pc->next = p->relays;
		if (p->relays)
			p->relays->pprev = &pc->next;
		pc->pprev = &p->relays;
		p->relays = pc;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void relay_remove(struct api_proxy *p, struct proxy_call *pc)
{
	pthread_mutex_lock(&p->lock);
	*pc->pprev = pc->next;
	if (pc->next)
		pc->next->pprev = pc->pprev;
	if (!p->relays)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
}

/* data_dir/tls: the client pair, and the CA the kubelets' serving
 * certificates must chain to. */
static int proxy_cred(struct api_server *s, gnutls_certificate_credentials_t *out)
{
	struct api_proxy *p = s->proxy;
	char crt[4200], key[4200], ca[4200];
	int r;

	pthread_mutex_lock(&p->lock);
	if (p->err) {
		snprintf(crt, sizeof(crt), "%s/tls/%s.crt", s->cfg.data_dir, API_KUBELET_CLIENT_CN);
		snprintf(key, sizeof(key), "%s/tls/%s.key", s->cfg.data_dir, API_KUBELET_CLIENT_CN);
		snprintf(ca, sizeof(ca), "%s/tls/ca.crt", s->cfg.data_dir);
		if (!p->cred && gnutls_certificate_allocate_credentials(&p->cred) < 0)
			p->err = -ENOMEM;
		else if (!s->cfg.data_dir ||
			 gnutls_certificate_set_x509_key_file(p->cred, crt, key, GNUTLS_X509_FMT_PEM) < 0)
			p->err = -ENOKEY;
		else if (gnutls_certificate_set_x509_trust_file(p->cred, ca, GNUTLS_X509_FMT_PEM) <= 0)
			p->err = -ENOKEY;
		else
			p->err = 0;
	}
	r = p->err;
	*out = p->cred;
	pthread_mutex_unlock(&p->lock);
	return r;
}

bool api_proxy_wants(const struct api_req *q)
{
	return q->res && !*q->res->group && streq(q->res->plural, "pods") && q->name[0] &&
	       (streq(q->sub, "log") || streq(q->sub, "exec") || streq(q->sub, "attach") ||
		streq(q->sub, "portforward"));
}

/* ---- where the call goes ---- */

static void call_free(struct proxy_call *pc)
{
	if (!pc)
		return;
	if (pc->tls)
		gnutls_deinit(pc->tls);
	if (pc->kubelet.fd >= 0)
		close(pc->kubelet.fd);
	free(pc->client_extra);
	free(pc);
}

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
static void append_enc(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", c);
	}
	buf[n] = 0;
}

static void append_param(char *buf, size_t size, const char *key, const char *value)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s=", strchr(buf, '?') ? "&" : "?", key);
	append_enc(buf, size, value);
}

struct query_copy {
	char *target;
	size_t size;
	bool stream; /* exec/attach: stdin->input, stdout->output, stderr->error */
};

/* Each query parameter of exec, attach and portforward the kubelet
 * takes, renamed as kube-apiserver passes them on. */
static enum MHD_Result copy_param(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	static const char *const io[][2] = { { "stdin", "input" }, { "stdout", "output" },
					     { "stderr", "error" }, { "tty", "tty" } };
	struct query_copy *c = cls;

	(void)kind;
	if (!value)
		value = ""; /* ?stdin, without '=': there, and true */
	if (c->stream) {
		if (streq(key, "command"))
			append_param(c->target, c->size, key, value);
		for (size_t i = 0; i < ARRAY_SIZE(io); i++)
			if (streq(key, io[i][0]) && kube_param_bool(value))
				append_param(c->target, c->size, io[i][1], "1");
		return MHD_YES;
	}
	if (streq(key, "ports"))
		append_param(c->target, c->size, "port", value);
	return MHD_YES;
}

/* The pods/log options as kube-apiserver parses and validates them
 * (PodLogOptions: 400 for a number that is not one, 422 for one out of
 * range), passed on to the kubelet in its terms. */
static int copy_log_params(struct api_req *q, char *target, size_t size, struct api_err *e)
{
	static const char *const flags[] = { "follow", "previous", "timestamps" };
	static const struct {
		const char *key;
		int64_t min;
		const char *why;
	} nums[] = {
		{ "tailLines", 0, "must be greater than or equal to 0" },
		{ "sinceSeconds", 1, "must be greater than 0" },
		{ "limitBytes", 1, "must be greater than 0" },
	};
	const char *since = api_query(q, "sinceTime");
	char text[24];

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		if (api_query_bool(q, flags[i]))
			append_param(target, size, flags[i], "true");
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		int64_t n;
		int r = api_query_int64(q, nums[i].key, &n, e);

		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (n < nums[i].min) {
			api_err_set(e, 422, "Invalid",
				    "PodLogOptions \"%s\" is invalid: %s: Invalid value: %lld: %s",
				    q->name, nums[i].key, (long long)n, nums[i].why);
			return -EINVAL;
		}
		snprintf(text, sizeof(text), "%lld", (long long)n);
		append_param(target, size, nums[i].key, text);
	}
	if (since && api_query(q, "sinceSeconds")) {
		api_err_set(e, 422, "Invalid",
			    "PodLogOptions \"%s\" is invalid: sinceSeconds: Forbidden: at most one of "
			    "sinceTime or sinceSeconds may be specified", q->name);
		return -EINVAL;
	}
	if (since)
		append_param(target, size, "sinceTime", since);
	return 0;
}

/* The container a log, exec or attach is for: ?container=, else the
 * pod's only container or its kubectl.kubernetes.io/default-container. */
static int pick_container(struct api_req *q, json_t *pod, const char **out, struct api_err *e)
{
	static const char *const lists[] = { "spec.containers", "spec.initContainers",
					     "spec.ephemeralContainers" };
	const char *want = api_query(q, "container");
	json_t *cs = api_jget(pod, "spec.containers"), *c;
	char names[512] = "";
	size_t i;

	if (!want || !*want)
		want = json_string_value(json_object_get(api_jget(pod, "metadata.annotations"),
							 "kubectl.kubernetes.io/default-container"));
	if ((!want || !*want) && json_array_size(cs) == 1)
		want = api_jstr(json_array_get(cs, 0), "name");
	for (size_t l = 0; want && *want && l < ARRAY_SIZE(lists); l++)
		json_array_foreach(api_jget(pod, lists[l]), i, c)
			if (streq(api_jstr(c, "name"), want)) {
				*out = want;
				return 0;
			}
	json_array_foreach(cs, i, c) {
		size_t n = strlen(names);

		snprintf(names + n, sizeof(names) - n, "%s%s", i ? " " : "", api_jstr(c, "name"));
	}
	if (want && *want)
		api_err_set(e, 400, "BadRequest", "container %s is not valid for pod %s", want, q->name);
	else
		api_err_set(e, 400, "BadRequest", "a container name must be specified for pod %s, "
			    "choose one of: [%s]", q->name, names);
	return -EINVAL;
}

/* The node's address and kubelet port (InternalIP, else ExternalIP). */
static int node_endpoint(struct api_server *s, struct proxy_call *pc, struct api_err *e)
{
	static const char *const types[] = { "InternalIP", "ExternalIP" };
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	json_t *node = NULL, *a;
	long long port;
	size_t i;

	if (api_obj_get(s, nodes, NULL, pc->node, &node, e) < 0)
		return -ENOENT;
	for (size_t t = 0; t < ARRAY_SIZE(types) && !pc->addr[0]; t++)
		json_array_foreach(api_jget(node, "status.addresses"), i, a)
			if (streq(api_jstr(a, "type"), types[t]) && api_jstr(a, "address")) {
				snprintf(pc->addr, sizeof(pc->addr), "%s", api_jstr(a, "address"));
				break;
			}
	port = json_integer_value(api_jget(node, "status.daemonEndpoints.kubeletEndpoint.Port"));
	json_decref(node);
	if (!pc->addr[0]) {
		api_err_set(e, 502, "ServiceUnavailable", "node \"%s\" has no InternalIP or ExternalIP "
			    "address to reach its kubelet at", pc->node);
		return -EHOSTUNREACH;
	}
	snprintf(pc->port, sizeof(pc->port), "%lld",
		 port > 0 && port < 65536 ? port : KUBELET_DEFAULT_PORT);
	return 0;
}

/* The node and the kubelet's path for q. */
static int target(struct api_req *q, struct proxy_call *pc, struct api_err *e)
{
	const struct api_resource *pods = q->res;
	const char *container = NULL;
	bool pf = streq(q->sub, "portforward");
	struct query_copy qc = { pc->target, sizeof(pc->target), false };
	json_t *pod = NULL;
	int r;

	if (api_obj_get(q->srv, pods, q->ns, q->name, &pod, e) < 0)
		return -ENOENT;
	snprintf(pc->node, sizeof(pc->node), "%s", api_jstr(pod, "spec.nodeName") ?: "");
	r = pc->node[0] ? 0 : -EINVAL;
	if (r < 0)
		api_err_set(e, 400, "BadRequest", "pod %s does not have a host assigned", q->name);
	else if (!pf)
		r = pick_container(q, pod, &container, e);
	if (r == 0) {
		snprintf(pc->target, sizeof(pc->target), "/%s/",
			 pf ? "portForward" : streq(q->sub, "log") ? "containerLogs" : q->sub);
		append_enc(pc->target, sizeof(pc->target), q->ns);
		strncat(pc->target, "/", sizeof(pc->target) - strlen(pc->target) - 1);
		append_enc(pc->target, sizeof(pc->target), q->name);
		if (container) {
			strncat(pc->target, "/", sizeof(pc->target) - strlen(pc->target) - 1);
			append_enc(pc->target, sizeof(pc->target), container);
		}
		qc.stream = streq(q->sub, "exec") || streq(q->sub, "attach");
		if (streq(q->sub, "log"))
			r = copy_log_params(q, pc->target, sizeof(pc->target), e);
		else
			MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, copy_param, &qc);
	}
	json_decref(pod);
	return r < 0 ? r : node_endpoint(q->srv, pc, e);
}

/* ---- the kubelet connection ---- */

static int dial(struct api_server *s, struct proxy_call *pc, char *why, size_t len)
{
	gnutls_certificate_credentials_t cred;
	int fd = -1, r = proxy_cred(s, &cred);

	if (r < 0) {
		snprintf(why, len, "the server has no kubelet client certificate (%s/tls/%s.crt)",
			 s->cfg.data_dir ? s->cfg.data_dir : "<no data dir>", API_KUBELET_CLIENT_CN);
		return r;
	}
	r = tls_stream_tcp_connect(pc->addr, pc->port, CONNECT_MS, &fd);
	if (r < 0) {
		snprintf(why, len, "%s", strerror(-r));
		return r;
	}
	pc->kubelet.fd = fd;
	if (gnutls_init(&pc->tls, GNUTLS_CLIENT) < 0)
		return -ENOMEM;
	if (gnutls_set_default_priority(pc->tls) < 0 ||
	    gnutls_credentials_set(pc->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		return -EINVAL;
	/* The serving certificate must chain to the cluster CA. */
	gnutls_session_set_verify_cert(pc->tls, NULL, 0);
	gnutls_transport_set_int(pc->tls, fd);
	gnutls_handshake_set_timeout(pc->tls, HEAD_MS);
	do
		r = gnutls_handshake(pc->tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		snprintf(why, len, "TLS: %s", gnutls_strerror(r));
		return -EPROTO;
	}
	pc->kubelet.tls = pc->tls;
	return 0;
}

struct head_copy {
	struct tls_stream *to;
	bool ws; /* the upgrade is this side's: the client's is not passed on */
	int err;
};

/* The client's headers that go on: not its credentials, not Host. */
static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct head_copy *h = cls;

	(void)kind;
	if (!value || h->err || strcasecmp(key, "Host") == 0 ||
	    strcasecmp(key, "Authorization") == 0 || strncasecmp(key, "Impersonate-", 12) == 0 ||
	    strcasecmp(key, "Content-Length") == 0 || strcasecmp(key, "Transfer-Encoding") == 0)
		return MHD_YES;
	if (h->ws && (strcasecmp(key, "Connection") == 0 || strcasecmp(key, "Upgrade") == 0 ||
		      strncasecmp(key, "Sec-WebSocket-", 14) == 0 ||
		      strcasecmp(key, "X-Stream-Protocol-Version") == 0))
		return MHD_YES;
	h->err = tls_stream_printf(h->to, "%s: %s\r\n", key, value);
	return MHD_YES;
}

static int send_request(struct api_req *q, struct proxy_call *pc)
{
	struct head_copy h = { .to = &pc->kubelet, .ws = pc->ws.mode != API_WS_NONE };
	bool v6 = strchr(pc->addr, ':');
	int r;

	r = tls_stream_printf(&pc->kubelet, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n",
			      streq(q->sub, "log") ? "GET" : h.ws ? "POST" : q->method, pc->target,
			      v6 ? "[" : "", pc->addr, v6 ? "]" : "", pc->port);
	if (r == 0 && h.ws)
		r = api_ws_kubelet_headers(&pc->ws, &pc->kubelet);
	if (r < 0)
		return r;
	MHD_get_connection_values(q->conn, MHD_HEADER_KIND, copy_header, &h);
	return h.err ? h.err : tls_stream_write_all(&pc->kubelet, "\r\n", 2);
}

/* ---- the answer: a body relayed, or an upgrade handed over ---- */

/* The next bytes of the kubelet's body; ends when it does or when the
 * client hangs up. */
static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct proxy_call *pc = cls;
	ssize_t n;

	(void)pos;
	if (pc->head_len + pc->sent < pc->have) {
		n = (ssize_t)(pc->have - pc->head_len - pc->sent);
		n = n > (ssize_t)max ? (ssize_t)max : n;
		memcpy(buf, pc->head + pc->head_len + pc->sent, (size_t)n);
		pc->sent += (size_t)n;
		return n;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = pc->kubelet.fd, .events = POLLIN },
				       { .fd = pc->client_fd, .events = POLLRDHUP } };

		if (gnutls_record_check_pending(pc->tls))
			break;
		if (poll(p, pc->client_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (p[0].revents)
			break;
	}
	n = tls_stream_read(&pc->kubelet, buf, max);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void body_done(void *cls)
{
	call_free(cls);
}

static void *relay_thread(void *arg)
{
	struct proxy_call *pc = arg;
	struct tls_stream client = { .fd = pc->sock };
	int r = 0;

	fcntl(pc->sock, F_SETFL, fcntl(pc->sock, F_GETFL) & ~O_NONBLOCK);
	if (pc->ws.mode != API_WS_NONE)
		r = api_ws_relay(&pc->ws, pc->sock, pc->client_extra, pc->client_extra_len,
				 &pc->kubelet, pc->head + pc->head_len, pc->have - pc->head_len);
	else if (pc->have > pc->head_len)
		r = tls_stream_write_all(&client, pc->head + pc->head_len, pc->have - pc->head_len);
	if (r == 0 && pc->ws.mode == API_WS_NONE)
		r = tls_stream_relay(&client, &pc->kubelet);
	log_debug("%s relay with node %s ended: %s", pc->target, pc->node, r < 0 ? strerror(-r) : "closed");
	MHD_upgrade_action(pc->urh, MHD_UPGRADE_ACTION_CLOSE);
	relay_remove(pc->srv->proxy, pc);
	call_free(pc);
	return NULL;
}

/* MHD hands the client's connection over (after the 101 went out): the
 * bytes it read past the request go to the kubelet, then a thread
 * relays, so MHD's own thread returns at once. */
static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
		     size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct proxy_call *pc = cls;
	pthread_t t;

	(void)conn;
	(void)req_cls;
	pc->sock = sock;
	pc->urh = urh;
	if (extra_len && pc->ws.mode != API_WS_NONE) {
		/* WebSocket frames: the relay reads them first */
		pc->client_extra = malloc(extra_len);
		if (pc->client_extra)
			memcpy(pc->client_extra, extra, extra_len);
		pc->client_extra_len = pc->client_extra ? extra_len : 0;
		extra_len = 0;
	}
	if ((extra_len && tls_stream_write_all(&pc->kubelet, extra, extra_len) < 0) ||
	    !relay_add(pc->srv->proxy, pc)) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		call_free(pc);
		return;
	}
	if (pthread_create(&t, NULL, relay_thread, pc) != 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		relay_remove(pc->srv->proxy, pc);
		call_free(pc);
		return;
	}
	pthread_detach(t);
}

/* The kubelet's response headers onto resp, but those MHD writes. */
static void copy_response_headers(struct proxy_call *pc, struct MHD_Response *resp)
{
	for (char *line = (char *)tls_stream_next_line(pc->head, pc->head_len, pc->head); line;
	     line = (char *)tls_stream_next_line(pc->head, pc->head_len, line)) {
		char *colon = strchr(line, ':'), *v;

		if (!colon)
			continue;
		*colon = 0;
		for (v = colon + 1; *v == ' '; v++)
			;
		if (strcasecmp(line, "Connection") && strcasecmp(line, "Content-Length") &&
		    strcasecmp(line, "Transfer-Encoding") && strcasecmp(line, "Date"))
			MHD_add_response_header(resp, line, v);
		*colon = ':';
	}
}

static enum MHD_Result answer(struct api_req *q, struct proxy_call *pc, unsigned code)
{
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (code == 101) {
		resp = MHD_create_response_for_upgrade(upgraded, pc);
	} else {
		ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		pc->client_fd = ci ? ci->connect_fd : -1;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, body_read, pc,
							 body_done);
	}
	if (!resp) {
		call_free(pc);
		return MHD_NO;
	}
	if (code == 101 && pc->ws.mode != API_WS_NONE)
		api_ws_response_headers(&pc->ws, resp);
	else
		copy_response_headers(pc, resp);
	ret = MHD_queue_response(q->conn, code, resp);
	q->code = code;
	MHD_destroy_response(resp); /* a body's call is freed with it */
	if (ret == MHD_NO && code == 101)
		call_free(pc); /* no upgrade will hand it to a relay */
	return ret;
}

enum MHD_Result api_proxy_pod(struct api_req *q)
{
	struct proxy_call *pc = calloc(1, sizeof(*pc));
	struct api_err e = { 0 };
	char why[256] = "";
	unsigned code = 0;
	int r;

	if (!pc)
		return MHD_NO;
	pc->srv = q->srv;
	pc->kubelet.fd = pc->sock = pc->client_fd = -1;
	if (target(q, pc, &e) < 0) {
		call_free(pc);
		return api_reply_err(q, &e);
	}
	api_ws_detect(q, &pc->ws);
	r = dial(q->srv, pc, why, sizeof(why));
	if (r == 0 && (r = send_request(q, pc)) < 0)
		snprintf(why, sizeof(why), "sending the request: %s", strerror(-r));
	if (r == 0 && (r = tls_stream_read_head(&pc->kubelet, pc->head, sizeof(pc->head), HEAD_MS,
					       &pc->head_len, &pc->have)) < 0)
		snprintf(why, sizeof(why), "no answer: %s", strerror(-r));
	if (r == 0 && (sscanf(pc->head, "HTTP/1.%*d %u", &code) != 1 || code < 100 || code > 599)) {
		snprintf(why, sizeof(why), "not an HTTP answer");
		r = -EBADMSG;
	}
	if (r < 0) {
		log_warn("pods/%s of %s/%s: kubelet of node %s at %s:%s: %s", q->sub, q->ns, q->name,
			 pc->node, pc->addr, pc->port, why);
		api_err_set(&e, 502, "BadGateway", "error dialing backend: the kubelet of node \"%s\" "
			    "at %s:%s: %s", pc->node, pc->addr, pc->port, why);
		call_free(pc);
		return api_reply_err(q, &e);
	}
	if (pc->ws.mode != API_WS_NONE)
		log_info("pods/%s of %s/%s: WebSocket (%s) to SPDY for the kubelet of node %s: %u",
			 q->sub, q->ns, q->name, pc->ws.proto[0] ? pc->ws.proto : "no subprotocol",
			 pc->node, code);
	return answer(q, pc, code);
}

/* ---- a plain GET, for the server's own use (metrics.k8s.io) ---- */

#define GET_BODY_MAX (64u << 20)

/* The rest of a response whose head was read: until the kubelet closes. */
static int read_body(struct proxy_call *pc, char **body, size_t *len)
{
	size_t n = pc->have - pc->head_len, cap = n + 65536;
	char *b = malloc(cap + 1);
	ssize_t got;

	if (!b)
		return -ENOMEM;
	memcpy(b, pc->head + pc->head_len, n);
	for (;;) {
		if (cap - n < 16384) {
			char *nb = cap < GET_BODY_MAX ? realloc(b, cap * 2 + 1) : NULL;

			if (!nb) {
				free(b);
				return -EFBIG;
			}
			b = nb;
			cap *= 2;
		}
		if (tls_stream_wait(&pc->kubelet, HEAD_MS) <= 0) {
			free(b);
			return -ETIMEDOUT;
		}
		got = tls_stream_read(&pc->kubelet, b + n, cap - n);
		if (got < 0) {
			free(b);
			return (int)got;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	b[n] = 0;
	*body = b;
	*len = n;
	return 0;
}

int api_proxy_get(struct api_server *s, const char *node, const char *path, char **body,
		  size_t *len, char *why, size_t why_len)
{
	struct proxy_call *pc = calloc(1, sizeof(*pc));
	struct api_err e = { 0 };
	bool v6;
	unsigned code = 0;
	int r;

	if (!pc)
		return -ENOMEM;
	pc->srv = s;
	pc->kubelet.fd = pc->sock = pc->client_fd = -1;
	snprintf(pc->node, sizeof(pc->node), "%s", node);
	r = node_endpoint(s, pc, &e);
	if (r < 0)
		snprintf(why, why_len, "%s", e.message[0] ? e.message : strerror(-r));
	api_err_free(&e);
	if (r == 0)
		r = dial(s, pc, why, why_len);
	v6 = strchr(pc->addr, ':');
	if (r == 0 && (r = tls_stream_printf(&pc->kubelet,
					     "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
					     "Connection: close\r\n\r\n",
					     path, v6 ? "[" : "", pc->addr, v6 ? "]" : "", pc->port)) < 0)
		snprintf(why, why_len, "sending the request: %s", strerror(-r));
	if (r == 0 && (r = tls_stream_read_head(&pc->kubelet, pc->head, sizeof(pc->head), HEAD_MS,
					       &pc->head_len, &pc->have)) < 0)
		snprintf(why, why_len, "no answer: %s", strerror(-r));
	if (r == 0 && (sscanf(pc->head, "HTTP/1.%*d %u", &code) != 1 || code < 100 || code > 599)) {
		snprintf(why, why_len, "not an HTTP answer");
		r = -EBADMSG;
	}
	if (r == 0 && (r = read_body(pc, body, len)) < 0)
		snprintf(why, why_len, "reading the body: %s", strerror(-r));
	call_free(pc);
	return r < 0 ? r : (int)code;
}
