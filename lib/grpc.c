/* gRPC unary client over HTTP/2 with nghttp2; see grpc.h. The session is
 * driven with nghttp2_session_mem_send / mem_recv on a blocking socket and
 * poll() for the deadline, so everything happens inside grpc_unary(). */
#include "lib/grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "lib/util.h"

#define GRPC_DEFAULT_TIMEOUT_MS 30000

struct grpc_channel {
	bool is_unix;
	char *path;      /* unix socket path */
	char *host;      /* TCP host */
	char *port;      /* TCP port */
	char *authority; /* :authority header */
	int fd;
	nghttp2_session *session;
};

struct grpc_call {
	const uint8_t *body; /* framed request */
	size_t body_len;
	size_t body_off;
	uint8_t *resp;
	size_t resp_len;
	size_t resp_cap;
	int http_status;
	int grpc_code;
	char grpc_message[512];
	bool have_message;
	bool closed;
	uint32_t close_error;
	int err;
};

static const char *const grpc_code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
	if (code < 0 || (size_t)code >= ARRAY_SIZE(grpc_code_names))
		return "UNKNOWN_CODE";
	return grpc_code_names[code];
}

int grpc_frame_encode(const uint8_t *msg, size_t len, uint8_t *out, size_t out_size)
{
	if (len > UINT32_MAX || out_size < len + 5)
		return -ENOBUFS;
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	if (len)
		memcpy(out + 5, msg, len);
	return 0;
}

int grpc_frame_decode(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len)
{
	uint32_t n;

	if (len < 5 || buf[0] != 0)
		return -EPROTO;
	n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if ((size_t)n != len - 5)
		return -EPROTO;
	*msg = buf + 5;
	*msg_len = n;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void grpc_percent_decode(const char *in, size_t len, char *out, size_t out_size)
{
	size_t i, o = 0;

	if (!out_size)
		return;
	for (i = 0; i < len && o + 1 < out_size; i++) {
		int hi, lo;

		if (in[i] == '%' && i + 2 < len && (hi = hexval(in[i + 1])) >= 0 &&
		    (lo = hexval(in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

/* The status message of a failed call. */
#define status_set(st, ...) set_err((st)->message, sizeof((st)->message), 0, __VA_ARGS__)

/* ---- channel ---- */

void grpc_channel_free(struct grpc_channel *ch)
{
	if (!ch)
		return;
	if (ch->session)
		nghttp2_session_del(ch->session);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->path);
	free(ch->host);
	free(ch->port);
	free(ch->authority);
	free(ch);
}

static void grpc_channel_freep(struct grpc_channel **ch)
{
	grpc_channel_free(*ch);
}

int grpc_channel_new(const char *target, struct grpc_channel **out)
{
	__attribute__((cleanup(grpc_channel_freep))) struct grpc_channel *ch = NULL;
	const char *p;

	if (!target || !*target)
		return -EINVAL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->fd = -1;

	if (strncmp(target, "unix://", 7) == 0)
		p = target + 7;
	else if (strncmp(target, "unix:", 5) == 0)
		p = target + 5;
	else if (target[0] == '/')
		p = target;
	else
		p = NULL;

	if (p) {
		if (p[0] != '/' || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -EINVAL;
		ch->is_unix = true;
		ch->path = strdup(p);
		ch->authority = strdup("localhost");
		if (!ch->path || !ch->authority)
			return -ENOMEM;
	} else {
		const char *colon;

		if (strncmp(target, "dns:///", 7) == 0)
			target += 7;
		if (target[0] == '[') {
			const char *end = strchr(target, ']');

			if (!end || end[1] != ':')
				return -EINVAL;
			ch->host = strndup(target + 1, (size_t)(end - target - 1));
			colon = end + 1;
		} else {
			colon = strrchr(target, ':');
			if (!colon)
				return -EINVAL;
			ch->host = strndup(target, (size_t)(colon - target));
		}
		if (!ch->host)
			return -ENOMEM;
		if (!*ch->host || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return -EINVAL;
		ch->port = strdup(colon + 1);
		ch->authority = strdup(target);
		if (!ch->port || !ch->authority)
			return -ENOMEM;
	}
	*out = TAKE_PTR(ch);
	return 0;
}

static void grpc_channel_disconnect(struct grpc_channel *ch)
{
	if (ch->session) {
		nghttp2_session_del(ch->session);
		ch->session = NULL;
	}
	if (ch->fd >= 0) {
		close(ch->fd);
		ch->fd = -1;
	}
}

static int connect_deadline(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int flags, err = 0, r;
	socklen_t elen = sizeof(err);

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return -errno;
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

static int grpc_socket_connect(struct grpc_channel *ch, int timeout_ms, struct grpc_status *st)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (ch->is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		strscpy(sun.sun_path, ch->path, sizeof(sun.sun_path));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r = connect_deadline(fd, (struct sockaddr *)&sun, sizeof(sun), timeout_ms);
		if (r < 0) {
			status_set(st, "connect to unix:%s: %s", ch->path, strerror(-r));
			return r;
		}
	} else {
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
		struct addrinfo *res = NULL, *ai;

		r = getaddrinfo(ch->host, ch->port, &hints, &res);
		if (r != 0) {
			status_set(st, "resolve %s: %s", ch->host, gai_strerror(r));
			return -EHOSTUNREACH;
		}
		r = -ENOENT;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (fd < 0) {
				r = -errno;
				continue;
			}
			r = connect_deadline(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
			if (r == 0)
				break;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (r < 0) {
			status_set(st, "connect to %s: %s", ch->authority, strerror(-r));
			return r;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	}
	return TAKE_FD(fd);
}

/* ---- nghttp2 callbacks ---- */

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct grpc_call *call;
	char buf[16];

	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call)
		return 0;

	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(valuelen < 8 ? valuelen : 8), value);
		call->http_status = atoi(buf);
	} else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(valuelen < 8 ? valuelen : 8), value);
		call->grpc_code = strspn(buf, "0123456789") == strlen(buf) && *buf ? atoi(buf) : GRPC_UNKNOWN;
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		grpc_percent_decode((const char *)value, valuelen, call->grpc_message,
				    sizeof(call->grpc_message));
		call->have_message = true;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user_data)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)flags;
	(void)user_data;
	if (!call || call->err)
		return 0;
	if (call->resp_len + len > (size_t)GRPC_MAX_MESSAGE + 5) {
		call->err = -EFBIG;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
		return 0;
	}
	if (call->resp_len + len > call->resp_cap) {
		size_t cap = call->resp_cap ? call->resp_cap : 4096;
		uint8_t *n;

		while (cap < call->resp_len + len)
			cap *= 2;
		n = realloc(call->resp, cap);
		if (!n) {
			call->err = -ENOMEM;
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
			return 0;
		}
		call->resp = n;
		call->resp_cap = cap;
	}
	memcpy(call->resp + call->resp_len, data, len);
	call->resp_len += len;
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)user_data;
	if (call) {
		call->closed = true;
		call->close_error = error_code;
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct grpc_call *call = source->ptr;
	size_t n = call->body_len - call->body_off;

	(void)session;
	(void)stream_id;
	(void)user_data;
	if (n > length)
		n = length;
	memcpy(buf, call->body + call->body_off, n);
	call->body_off += n;
	if (call->body_off == call->body_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int grpc_session_new(struct grpc_channel *ch, struct grpc_status *st)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry settings[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20 },
	};
	int r;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	r = nghttp2_session_client_new(&ch->session, cbs, ch);
	nghttp2_session_callbacks_del(cbs);
	if (r != 0) {
		status_set(st, "nghttp2 session: %s", nghttp2_strerror(r));
		return -ENOMEM;
	}
	r = nghttp2_submit_settings(ch->session, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings));
	if (r != 0) {
		status_set(st, "nghttp2 settings: %s", nghttp2_strerror(r));
		return -EPROTO;
	}
	return 0;
}

static int deadline_left_ms(unsigned long long deadline)
{
	unsigned long long now = now_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/* Sends everything nghttp2 has queued. */
static int grpc_flush(struct grpc_channel *ch, struct grpc_status *st)
{
	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(ch->session, &data);
		size_t off = 0;

		if (n < 0) {
			status_set(st, "HTTP/2 send: %s", nghttp2_strerror((int)n));
			return -EPROTO;
		}
		if (n == 0)
			return 0;
		while (off < (size_t)n) {
			ssize_t w = send(ch->fd, data + off, (size_t)n - off, MSG_NOSIGNAL);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				status_set(st, "send to %s: %s", ch->authority, strerror(errno));
				return -errno;
			}
			off += (size_t)w;
		}
	}
}

/* Reads what the socket has (waiting up to timeout_ms) and feeds nghttp2.
 * Returns 0 after feeding, -ETIMEDOUT, -ECONNRESET on EOF, or -errno. */
static int grpc_pump(struct grpc_channel *ch, int timeout_ms, struct grpc_status *st)
{
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	uint8_t buf[16384];
	ssize_t n, used;
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	do
		n = recv(ch->fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		status_set(st, "receive from %s: %s", ch->authority, strerror(errno));
		return -errno;
	}
	if (n == 0) {
		status_set(st, "%s closed the connection", ch->authority);
		return -ECONNRESET;
	}
	used = nghttp2_session_mem_recv(ch->session, buf, (size_t)n);
	if (used < 0) {
		status_set(st, "HTTP/2 from %s: %s", ch->authority, nghttp2_strerror((int)used));
		return -EPROTO;
	}
	return 0;
}

/* Makes sure the channel has a live connection: reads whatever the server
 * sent since the last call (GOAWAY, PING, EOF) and reconnects when needed. */
static int grpc_channel_ready(struct grpc_channel *ch, int timeout_ms, struct grpc_status *st)
{
	int r;

	while (ch->session) {
		r = grpc_pump(ch, 0, st);
		if (r == -ETIMEDOUT)
			break; /* nothing pending */
		if (r < 0 || !nghttp2_session_want_read(ch->session)) {
			grpc_channel_disconnect(ch);
			break;
		}
	}
	if (ch->session)
		return 0;

	r = grpc_socket_connect(ch, timeout_ms, st);
	if (r < 0)
		return r;
	ch->fd = r;
	r = grpc_session_new(ch, st);
	if (r < 0) {
		grpc_channel_disconnect(ch);
		return r;
	}
	return 0;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

/* grpc-timeout: at most 8 digits and a unit. */
static void timeout_header(int timeout_ms, char *buf, size_t size)
{
	if (timeout_ms <= 99999999)
		snprintf(buf, size, "%dm", timeout_ms);
	else
		snprintf(buf, size, "%dS", timeout_ms / 1000);
}

/* The request as one gRPC frame, the body call sends (*body owns it). */
static int call_body(struct grpc_call *call, const uint8_t *req, size_t req_len,
		      uint8_t **body)
{
	int r;

	*body = malloc(req_len + 5);
	if (!*body)
		return -ENOMEM;
	r = grpc_frame_encode(req, req_len, *body, req_len + 5);
	if (r < 0)
		return r;
	call->body = *body;
	call->body_len = req_len + 5;
	return 0;
}

/* The HEADERS of the call's stream (with grpc-timeout unless timeout_hdr
 * is NULL); its id, or a negative errno. */
static int32_t call_submit(struct grpc_channel *ch, const char *path, const char *timeout_hdr,
			   struct grpc_call *call, struct grpc_status *st)
{
	nghttp2_data_provider prov = { .source.ptr = call, .read_callback = read_body };
	const nghttp2_nv hdrs[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", path),
		NV(":authority", ch->authority),
		NV("content-type", "application/grpc+proto"),
		NV("te", "trailers"),
		NV("user-agent", "skiff-grpc/1"),
		NV("grpc-timeout", timeout_hdr ? timeout_hdr : ""),
	};
	int32_t stream_id;

	stream_id = nghttp2_submit_request(ch->session, NULL, hdrs,
					   ARRAY_SIZE(hdrs) - (timeout_hdr ? 0 : 1), &prov, call);
	if (stream_id < 0) {
		status_set(st, "HTTP/2 request: %s", nghttp2_strerror(stream_id));
		grpc_channel_disconnect(ch);
		return -EPROTO;
	}
	return stream_id;
}

/* Past the deadline: cancels the stream; the connection stays usable. */
static int unary_cancel(struct grpc_channel *ch, const char *path, int32_t stream_id,
			int timeout_ms, struct grpc_status *st)
{
	nghttp2_session_set_stream_user_data(ch->session, stream_id, NULL);
	nghttp2_submit_rst_stream(ch->session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
	if (grpc_flush(ch, st) < 0)
		grpc_channel_disconnect(ch);
	status_set(st, "%s: no response within %d ms", path, timeout_ms);
	return -ETIMEDOUT;
}

/* Sends and receives until the stream is closed. On an error other than
 * the deadline the connection is dropped. */
static int unary_wait(struct grpc_channel *ch, const char *path, struct grpc_call *call,
		      int32_t stream_id, unsigned long long deadline, int timeout_ms,
		      struct grpc_status *st)
{
	int r = 0;

	while (!call->closed) {
		r = grpc_flush(ch, st);
		if (r < 0 || call->closed)
			break;
		r = grpc_pump(ch, deadline_left_ms(deadline), st);
		if (r == -ETIMEDOUT)
			return unary_cancel(ch, path, stream_id, timeout_ms, st);
		if (r < 0)
			break;
		if (!call->closed && !nghttp2_session_want_read(ch->session)) {
			status_set(st, "%s ended the connection (GOAWAY) during %s", ch->authority, path);
			r = -ECONNRESET;
			break;
		}
	}
	if (r < 0) {
		grpc_channel_disconnect(ch);
		return r;
	}
	/* Let the server's WINDOW_UPDATE / RST acks go out; errors show next call. */
	if (grpc_flush(ch, st) < 0)
		grpc_channel_disconnect(ch);
	return 0;
}

/* The closed call's outcome: its grpc-status into st, the one message
 * it carried into call->resp (moved to its start, *len). */
static int unary_result(const char *path, struct grpc_call *call, size_t *len,
			struct grpc_status *st)
{
	const uint8_t *msg;

	if (call->err) {
		status_set(st, "%s: response larger than %u bytes or out of memory", path,
			   GRPC_MAX_MESSAGE);
		return call->err;
	}
	if (call->grpc_code >= 0) {
		st->code = call->grpc_code;
		snprintf(st->message, sizeof(st->message), "%s",
			 call->have_message ? call->grpc_message : "");
	}
	if (call->grpc_code > 0)
		return -EREMOTEIO;
	if (call->close_error != NGHTTP2_NO_ERROR) {
		status_set(st, "%s: stream reset by server (%s)", path,
			   nghttp2_http2_strerror(call->close_error));
		return -EPROTO;
	}
	if (call->grpc_code < 0) {
		if (call->http_status != 200)
			status_set(st, "%s: HTTP status %d, not a gRPC response", path,
				   call->http_status);
		else
			status_set(st, "%s: response without grpc-status", path);
		return -EPROTO;
	}
	if (grpc_frame_decode(call->resp, call->resp_len, &msg, len) < 0) {
		status_set(st, "%s: response is not one uncompressed gRPC message (%zu bytes)", path,
			   call->resp_len);
		return -EPROTO;
	}
	memmove(call->resp, msg, *len);
	return 0;
}

int grpc_unary(struct grpc_channel *ch, const char *path, const uint8_t *req, size_t req_len,
	       int timeout_ms, uint8_t **resp, size_t *resp_len, struct grpc_status *status)
{
	struct grpc_status st_local;
	struct grpc_status *st = status ? status : &st_local;
	struct grpc_call call = { .grpc_code = -1 };
	_cleanup_free_ uint8_t *body = NULL;
	unsigned long long deadline;
	char timeout_hdr[24];
	int32_t stream_id;
	size_t len = 0;
	int r;

	st->code = -1;
	st->message[0] = '\0';
	if (!ch || !path || path[0] != '/' || (!req && req_len)) {
		status_set(st, "invalid call arguments");
		return -EINVAL;
	}
	if (timeout_ms <= 0)
		timeout_ms = GRPC_DEFAULT_TIMEOUT_MS;
	deadline = now_ns() + (unsigned long long)timeout_ms * 1000000ull;
	timeout_header(timeout_ms, timeout_hdr, sizeof(timeout_hdr));
	r = call_body(&call, req, req_len, &body);
	if (r < 0)
		return r;
	r = grpc_channel_ready(ch, timeout_ms, st);
	if (r < 0)
		return r;
	stream_id = call_submit(ch, path, timeout_hdr, &call, st);
	if (stream_id < 0)
		return stream_id;
	r = unary_wait(ch, path, &call, stream_id, deadline, timeout_ms, st);
	if (r == 0)
		r = unary_result(path, &call, &len, st);
	if (r < 0) {
		free(call.resp);
		return r;
	}
	*resp = call.resp;
	*resp_len = len;
	return 0;
}

/* ---- server streaming (grpc_stream_*) ---- */

struct grpc_stream {
	struct grpc_channel *ch;
	int32_t id;
	struct grpc_call call;
	uint8_t *body;
};

void grpc_stream_free(struct grpc_stream *s)
{
	struct grpc_status st;

	if (!s)
		return;
	if (s->ch->session && !s->call.closed) {
		nghttp2_session_set_stream_user_data(s->ch->session, s->id, NULL);
		nghttp2_submit_rst_stream(s->ch->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		if (grpc_flush(s->ch, &st) < 0)
			grpc_channel_disconnect(s->ch);
	}
	free(s->call.resp);
	free(s->body);
	free(s);
}

int grpc_stream_open(struct grpc_channel *ch, const char *path, const uint8_t *req,
		     size_t req_len, int timeout_ms, struct grpc_stream **out,
		     struct grpc_status *status)
{
	struct grpc_status st_local;
	struct grpc_status *st = status ? status : &st_local;
	struct grpc_stream *s;
	int r;

	st->code = -1;
	st->message[0] = '\0';
	if (!ch || !path || path[0] != '/' || (!req && req_len) || !out) {
		status_set(st, "invalid call arguments");
		return -EINVAL;
	}
	if (timeout_ms <= 0)
		timeout_ms = GRPC_DEFAULT_TIMEOUT_MS;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ch = ch;
	s->call.grpc_code = -1;
	s->call.closed = true; /* nothing to cancel until submitted */
	r = call_body(&s->call, req, req_len, &s->body);
	if (r < 0)
		goto fail;
	r = grpc_channel_ready(ch, timeout_ms, st);
	if (r < 0)
		goto fail;
	s->id = call_submit(ch, path, NULL, &s->call, st);
	if (s->id < 0) {
		r = s->id;
		goto fail;
	}
	s->call.closed = false;
	r = grpc_flush(ch, st);
	if (r < 0) {
		grpc_channel_disconnect(ch);
		s->call.closed = true;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	grpc_stream_free(s);
	return r;
}

/* Takes one whole message off the front of the received bytes. */
static int grpc_stream_take(struct grpc_stream *s, uint8_t **msg, size_t *msg_len)
{
	struct grpc_call *c = &s->call;
	size_t len;
	uint8_t *m;

	if (c->resp_len < 5)
		return -EAGAIN;
	if (c->resp[0] != 0)
		return -EPROTO; /* compressed: never negotiated */
	len = ((size_t)c->resp[1] << 24) | ((size_t)c->resp[2] << 16) |
	      ((size_t)c->resp[3] << 8) | c->resp[4];
	if (len > GRPC_MAX_MESSAGE)
		return -EFBIG;
	if (c->resp_len < 5 + len)
		return -EAGAIN;
	m = malloc(len ? len : 1);
	if (!m)
		return -ENOMEM;
	memcpy(m, c->resp + 5, len);
	memmove(c->resp, c->resp + 5 + len, c->resp_len - 5 - len);
	c->resp_len -= 5 + len;
	*msg = m;
	*msg_len = len;
	return 0;
}

int grpc_stream_recv(struct grpc_stream *s, int timeout_ms, uint8_t **msg, size_t *msg_len,
		     struct grpc_status *status)
{
	struct grpc_status st_local;
	struct grpc_status *st = status ? status : &st_local;
	unsigned long long deadline = timeout_ms < 0 ? 0
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ull;
	int r;

	st->code = -1;
	st->message[0] = '\0';
	for (;;) {
		r = grpc_stream_take(s, msg, msg_len);
		if (r != -EAGAIN) {
			if (r < 0)
				status_set(st, "malformed message on the stream");
			return r;
		}
		if (s->call.err) {
			status_set(st, "message larger than %u bytes or out of memory",
				   GRPC_MAX_MESSAGE);
			return s->call.err;
		}
		if (s->call.closed) {
			if (s->call.grpc_code >= 0) {
				st->code = s->call.grpc_code;
				snprintf(st->message, sizeof(st->message), "%s",
					 s->call.have_message ? s->call.grpc_message : "");
			}
			if (s->call.grpc_code > 0)
				return -EREMOTEIO;
			if (s->call.close_error != NGHTTP2_NO_ERROR || s->call.grpc_code < 0) {
				status_set(st, "stream ended without a status");
				return -ECONNRESET;
			}
			return -ENODATA;
		}
		if (!s->ch->session) {
			status_set(st, "connection lost");
			return -ECONNRESET;
		}
		r = grpc_flush(s->ch, st);
		if (r < 0)
			goto broken;
		r = grpc_pump(s->ch, timeout_ms < 0 ? -1 : deadline_left_ms(deadline), st);
		if (r == -ETIMEDOUT)
			return r;
		if (r < 0)
			goto broken;
		/* Window updates for what we just read. */
		r = grpc_flush(s->ch, st);
		if (r < 0)
			goto broken;
		if (!s->call.closed && !nghttp2_session_want_read(s->ch->session)) {
			status_set(st, "%s ended the connection (GOAWAY)", s->ch->authority);
			r = -ECONNRESET;
			goto broken;
		}
	}
broken:
	s->call.closed = true;
	grpc_channel_disconnect(s->ch);
	return r;
}
