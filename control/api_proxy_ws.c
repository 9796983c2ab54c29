/* WebSocket (RFC 6455) from kubectl, SPDY/3.1 to the kubelet: see
 * api_proxy_ws.h. The SPDY side is the little a remote-command client
 * needs: SYN_STREAM for the streams it opens (headers zlib-compressed
 * without the SPDY dictionary, which a reader only needs when the stream
 * names it), DATA both ways, PING answered, GOAWAY ending; the kubelet's
 * header blocks (SYN_REPLY) are skipped unread. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <zlib.h>

#include "control/api_proxy_ws.h"
#include "lib/base64.h"
#include "lib/json_path.h"
#include "lib/log.h"
#include "lib/util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define PROTO_PF "SPDY/3.1+portforward.k8s.io"
#define FRAME_MAX (1u << 20) /* the largest frame either side may send */
#define STATUS_MAX 65536     /* the most of a v1 error channel kept */
#define CHUNK 65536

enum { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BIN = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xa };
enum { CH_STDIN, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, CH_N, CH_CLOSE = 255 };
enum { CH_MAX = 2 * API_WS_PORTS_MAX }; /* portforward: a data and an error channel a port */
enum { SPDY_SYN_STREAM = 1, SPDY_RST_STREAM = 3, SPDY_PING = 6, SPDY_GOAWAY = 7 };
#define SPDY_FIN 0x01

struct buf {
	unsigned char *p;
	size_t len;
};

struct relay {
	const struct api_ws *ws;
	struct tls_stream client;
	struct tls_stream *kubelet;
	struct buf cin, kin;     /* bytes read that do not make a whole frame yet */
	struct buf msg;          /* base64: the client's message so far */
	struct buf status;       /* v1: the kubelet's error stream so far */
	uint32_t stream[CH_MAX]; /* a channel's SPDY stream (0: not open) */
	bool closed[CH_MAX];     /* v5: the client ended it (CLOSE) */
	unsigned pf_open;        /* portforward: data streams the kubelet has not ended */
	int msg_channel;         /* binary: the channel of the message being continued */
	z_stream z;              /* SPDY header compression, one context a connection */
	bool z_ready, done;
};

/* ---- the upgrade ---- */

/* The subprotocols a subresource takes over WebSocket, as upstream's
 * kubelet (remotecommand and portforward websocket.go) and
 * kube-apiserver's translator (v5, the SPDY tunnel) take them. */
struct ws_proto {
	const char *name;
	bool pf; /* portforward (else exec, attach) */
	enum api_ws_mode mode;
	bool base64, v1_status, stream_close;
};

static const struct ws_proto protos[] = {
	{ "v5.channel.k8s.io", false, API_WS_CHANNEL, false, false, true },
	{ "v4.channel.k8s.io", false, API_WS_CHANNEL, false, false, false },
	{ "v4.base64.channel.k8s.io", false, API_WS_CHANNEL, true, false, false },
	{ "channel.k8s.io", false, API_WS_CHANNEL, false, true, false },
	{ "base64.channel.k8s.io", false, API_WS_CHANNEL, true, true, false },
	{ "", false, API_WS_CHANNEL, false, true, false },
	{ PROTO_PF, true, API_WS_PF_TUNNEL, false, false, false },
	{ "v4.channel.k8s.io", true, API_WS_PF_CHANNEL, false, false, false },
	{ "v4.base64.channel.k8s.io", true, API_WS_PF_CHANNEL, true, false, false },
	{ "", true, API_WS_PF_CHANNEL, false, false, false },
};

static const struct ws_proto *proto_find(bool pf, const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (protos[i].pf == pf && strlen(protos[i].name) == n &&
		    strncmp(protos[i].name, name, n) == 0)
			return &protos[i];
	return NULL;
}

/* The first of the client's subprotocols (a comma-separated list, maybe
 * in several headers) that pf's subresource takes; "" when it asks none. */
struct proto_pick {
	bool pf, asked;
	const struct ws_proto *p;
};

static enum MHD_Result pick_proto(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct proto_pick *pk = cls;

	(void)kind;
	if (strcasecmp(key, "Sec-WebSocket-Protocol") != 0 || !value)
		return MHD_YES;
	for (const char *p = value; *p && !pk->p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n) {
			pk->asked = true;
			pk->p = proto_find(pk->pf, p, n);
		}
		p += n;
	}
	return pk->p ? MHD_NO : MHD_YES;
}

static const char *header(struct api_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

/* The ?ports= of a portforward (PodPortForwardOptions, which upstream's
 * API server hands the kubelet as ?port=): each 1-65535, at least one. */
static enum MHD_Result add_port(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct api_ws *ws = cls;
	char *end;
	unsigned long v;

	(void)kind;
	if (strcmp(key, "ports") != 0)
		return MHD_YES;
	v = value ? strtoul(value, &end, 10) : 0;
	if (!value || !*value || *end || v == 0 || v > 65535 || ws->nports == API_WS_PORTS_MAX) {
		ws->nports = API_WS_PORTS_MAX + 1; /* refused */
		return MHD_NO;
	}
	ws->ports[ws->nports++] = (uint16_t)v;
	return MHD_YES;
}

void api_ws_detect(struct api_req *q, struct api_ws *ws)
{
	const char *up = header(q, "Upgrade"), *key = header(q, "Sec-WebSocket-Key");
	struct proto_pick pk = { .pf = streq(q->sub, "portforward") };
	unsigned char digest[20];
	char in[128];
	_cleanup_free_ char *acc = NULL;

	memset(ws, 0, sizeof(*ws));
	if (!streq(q->method, "GET") || !up || strcasecmp(up, "websocket") != 0 || !key ||
	    !(pk.pf || streq(q->sub, "exec") || streq(q->sub, "attach")))
		return;
	MHD_get_connection_values(q->conn, MHD_HEADER_KIND, pick_proto, &pk);
	if (!pk.asked)
		pk.p = proto_find(pk.pf, "", 0);
	if (!pk.p)
		return;
	if (pk.p->mode == API_WS_PF_CHANNEL) {
		MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, add_port, ws);
		if (ws->nports == 0 || ws->nports > API_WS_PORTS_MAX) {
			memset(ws, 0, sizeof(*ws));
			return; /* the kubelet answers it (upstream: 400) */
		}
	}
	if (snprintf(in, sizeof(in), "%s" WS_GUID, key) >= (int)sizeof(in) ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA1, in, strlen(in), digest) < 0 ||
	    !(acc = b64_encode(digest, sizeof(digest), B64_STD)) ||
	    strlen(acc) >= sizeof(ws->accept))
		return;
	strcpy(ws->accept, acc);
	ws->mode = pk.p->mode;
	ws->proto = pk.p->name;
	ws->base64 = pk.p->base64;
	ws->v1_status = pk.p->v1_status;
	ws->stream_close = pk.p->stream_close;
	ws->in = api_query_bool(q, "stdin");
	ws->out = api_query_bool(q, "stdout");
	ws->err = api_query_bool(q, "stderr");
	ws->tty = api_query_bool(q, "tty");
}

int api_ws_kubelet_headers(const struct api_ws *ws, struct tls_stream *kubelet)
{
	return tls_stream_printf(kubelet, "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
				 "X-Stream-Protocol-Version: %s\r\n",
				 ws->mode == API_WS_CHANNEL ? "v4.channel.k8s.io" :
							      "portforward.k8s.io");
}

void api_ws_response_headers(const struct api_ws *ws, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Upgrade", "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", ws->accept);
	if (ws->proto[0])
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol", ws->proto);
}

/* ---- frames out ---- */

static void put24(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 16);
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	put24(p + 1, v & 0xffffff);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One unmasked WebSocket frame (a whole message): op, then the channel
 * byte (ch >= 0) and n bytes of p. */
static int ws_send(struct relay *r, int op, int ch, const void *p, size_t n)
{
	unsigned char h[11];
	size_t total = n + (ch >= 0), hl = 2;
	int e;

	h[0] = (unsigned char)(0x80 | op);
	if (total < 126) {
		h[1] = (unsigned char)total;
	} else if (total < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(total >> 8);
		h[3] = (unsigned char)total;
		hl = 4;
	} else {
		h[1] = 127;
		put32(h + 2, 0);
		put32(h + 6, (uint32_t)total);
		hl = 10;
	}
	if (ch >= 0)
		h[hl++] = (unsigned char)ch;
	e = tls_stream_write_all(&r->client, h, hl);
	return e < 0 || !n ? e : tls_stream_write_all(&r->client, p, n);
}

/* Data on channel ch, as the subprotocol writes it: binary, or text with
 * the channel as a digit and the data base64-encoded. */
static int ws_channel(struct relay *r, int ch, const void *p, size_t n)
{
	_cleanup_free_ char *t = NULL;

	if (!r->ws->base64)
		return ws_send(r, WS_BIN, ch, p, n);
	t = b64_encode(p, n, B64_STD);
	return t ? ws_send(r, WS_TEXT, '0' + ch, t, strlen(t)) : -ENOMEM;
}

static int spdy_data(struct relay *r, uint32_t id, const void *p, size_t n, bool fin)
{
	unsigned char h[8];
	int e;

	put32(h, id & 0x7fffffff);
	h[4] = fin ? SPDY_FIN : 0;
	put24(h + 5, n);
	e = tls_stream_write_all(r->kubelet, h, sizeof(h));
	return e < 0 || !n ? e : tls_stream_write_all(r->kubelet, p, n);
}

/* SYN_STREAM id with the n headers kv (name, value, name, value...;
 * names in lower case, as SPDY/3 requires: Go's framer ends the session
 * on another). */
static int spdy_open(struct relay *r, uint32_t id, const char *const *kv, size_t n)
{
	unsigned char block[256], f[18 + 320];
	size_t bl = 4, zl;

	put32(block, (uint32_t)n);
	for (size_t i = 0; i < 2 * n; i++) {
		size_t l = strlen(kv[i]);

		if (bl + 4 + l > sizeof(block))
			return -E2BIG;
		put32(block + bl, (uint32_t)l);
		memcpy(block + bl + 4, kv[i], l);
		bl += 4 + l;
	}
	r->z.next_in = block;
	r->z.avail_in = (uInt)bl;
	r->z.next_out = f + 18;
	r->z.avail_out = sizeof(f) - 18;
	if (deflate(&r->z, Z_SYNC_FLUSH) != Z_OK || r->z.avail_in)
		return -EIO;
	zl = sizeof(f) - 18 - r->z.avail_out;
	f[0] = 0x80;
	f[1] = 3;
	f[2] = 0;
	f[3] = SPDY_SYN_STREAM;
	f[4] = 0;
	put24(f + 5, 10 + zl);
	put32(f + 8, id);
	put32(f + 12, 0);
	f[16] = 0; /* priority */
	f[17] = 0; /* slot */
	return tls_stream_write_all(r->kubelet, f, 18 + zl);
}

/* The streams of a v4.channel.k8s.io session, in the order upstream's
 * client opens them (the kubelet waits for each one the query asked). */
static int open_exec_streams(struct relay *r)
{
	static const char *const names[CH_N] = { "stdin", "stdout", "stderr", "error", "resize" };
	static const int order[] = { CH_ERROR, CH_STDIN, CH_STDOUT, CH_STDERR, CH_RESIZE };
	const struct api_ws *ws = r->ws;
	bool want[CH_N] = { ws->in, ws->out, ws->err && !ws->tty, true, ws->tty };
	uint32_t id = 1;
	int e = 0;

	for (size_t i = 0; e == 0 && i < ARRAY_SIZE(order); i++) {
		const char *kv[] = { "streamtype", names[order[i]] };

		if (!want[order[i]])
			continue;
		r->stream[order[i]] = id;
		e = spdy_open(r, id, kv, 1);
		id += 2;
	}
	return e;
}

/* A portforward.k8s.io error and data stream for each port, as
 * upstream's client makes them (its side of the error stream ended at
 * once); the port, little-endian, first on both channels of each. */
static int open_pf_streams(struct relay *r)
{
	const struct api_ws *ws = r->ws;
	uint32_t id = 1;
	int e = 0;

	for (unsigned i = 0; e == 0 && i < ws->nports; i++) {
		unsigned char le[2] = { (unsigned char)ws->ports[i], (unsigned char)(ws->ports[i] >> 8) };
		char port[8], req[16];
		const char *err[] = { "streamtype", "error", "port", port, "requestid", req };
		const char *data[] = { "streamtype", "data", "port", port, "requestid", req };

		snprintf(port, sizeof(port), "%u", ws->ports[i]);
		snprintf(req, sizeof(req), "%u", i);
		r->stream[2 * i + 1] = id;
		e = spdy_open(r, id, err, 3);
		if (e == 0)
			e = spdy_data(r, id, NULL, 0, true);
		r->stream[2 * i] = id + 2;
		if (e == 0)
			e = spdy_open(r, id + 2, data, 3);
		id += 4;
		if (e == 0)
			e = ws_channel(r, (int)(2 * i), le, 2);
		if (e == 0)
			e = ws_channel(r, (int)(2 * i + 1), le, 2);
	}
	r->pf_open = ws->nports;
	return e;
}

/* Upstream's server says it is ready with an empty message on the
 * lowest channel it writes. */
static int open_streams(struct relay *r)
{
	const struct api_ws *ws = r->ws;
	int e;

	if (deflateInit(&r->z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return -ENOMEM;
	r->z_ready = true;
	if (ws->mode == API_WS_PF_CHANNEL)
		return open_pf_streams(r);
	e = open_exec_streams(r);
	return e < 0 ? e : ws_channel(r, ws->out ? CH_STDOUT : ws->err ? CH_STDERR : CH_ERROR, NULL, 0);
}

/* ---- frames in ---- */

static int channel_of(const struct relay *r, uint32_t id)
{
	for (int c = 0; c < CH_MAX; c++)
		if (r->stream[c] == id)
			return c;
	return -1;
}

/* Whether the client may write channel ch: stdin and resize of exec and
 * attach, the data channels of a portforward (upstream drops the rest). */
static bool client_writes(const struct relay *r, int ch)
{
	if (ch >= CH_MAX || !r->stream[ch] || r->closed[ch])
		return false;
	return r->ws->mode == API_WS_PF_CHANNEL ? ch % 2 == 0 : ch == CH_STDIN || ch == CH_RESIZE;
}

/* Data of the client on channel ch: stdin, resize and port data go on,
 * v5's CLOSE ends the client's side of the streams it names. */
static int channel_data(struct relay *r, int ch, const unsigned char *p, size_t n)
{
	if (ch == CH_CLOSE && r->ws->stream_close) {
		for (size_t i = 0; i < n; i++) {
			int c = p[i];

			if (c < CH_N && r->stream[c] && !r->closed[c]) {
				r->closed[c] = true;
				if (spdy_data(r, r->stream[c], NULL, 0, true) < 0)
					return -EIO;
			}
		}
		return 0;
	}
	if (!client_writes(r, ch) || !n)
		return 0; /* a stream not asked for: dropped, as upstream does */
	return spdy_data(r, r->stream[ch], p, n, false);
}

static int buf_add(struct buf *b, size_t max, const void *p, size_t n)
{
	unsigned char *m;

	if (n > max - b->len)
		return -EMSGSIZE;
	m = realloc(b->p, b->len + n + 1);
	if (!m)
		return -ENOMEM;
	memcpy(m + b->len, p, n);
	b->p = m;
	b->len += n;
	return 0;
}

/* A whole base64 message: its channel digit, then the data encoded. */
static int base64_message(struct relay *r)
{
	_cleanup_free_ char *d = NULL;
	size_t n;
	int e;

	if (!r->msg.len)
		return 0;
	e = b64_decode((char *)r->msg.p + 1, r->msg.len - 1, B64_STD, &d, &n);
	if (e < 0) {
		log_debug("a base64 WebSocket message on channel %c that does not decode", r->msg.p[0]);
		return 0; /* dropped, as upstream does */
	}
	return channel_data(r, r->msg.p[0] - '0', (unsigned char *)d, n);
}

static int client_frame(struct relay *r, int op, bool fin, unsigned char *p, size_t n)
{
	int e;

	switch (op) {
	case WS_PING:
		return ws_send(r, WS_PONG, -1, p, n);
	case WS_PONG:
		return 0;
	case WS_CLOSE:
		r->done = true;
		return ws_send(r, WS_CLOSE, -1, p, n >= 2 ? 2 : 0);
	case WS_CONT:
	case WS_TEXT:
	case WS_BIN:
		break;
	default:
		return -EPROTO;
	}
	if (r->ws->mode == API_WS_PF_TUNNEL)
		return n ? tls_stream_write_all(r->kubelet, p, n) : 0;
	if (r->ws->base64) { /* whole messages: a group of 4 may span frames */
		if (op != WS_CONT)
			r->msg.len = 0;
		e = buf_add(&r->msg, FRAME_MAX, p, n);
		if (e < 0 || !fin)
			return e;
		e = base64_message(r);
		r->msg.len = 0;
		return e;
	}
	if (op != WS_CONT) {
		if (!n)
			return 0;
		r->msg_channel = p[0];
		p++;
		n--;
	}
	return channel_data(r, r->msg_channel, p, n);
}

/* The whole frames in r->cin, handled; a partial one is kept. */
static int client_frames(struct relay *r)
{
	size_t off = 0;
	int e = 0;

	while (e == 0 && !r->done && r->cin.len - off >= 2) {
		unsigned char *f = r->cin.p + off;
		size_t avail = r->cin.len - off, hl = 2, n = f[1] & 0x7f;

		if (n == 126) {
			if (avail < 4)
				break;
			n = (size_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (n == 127) {
			if (avail < 10)
				break;
			n = get32(f + 2) ? SIZE_MAX : get32(f + 6);
			hl = 10;
		}
		if (f[1] & 0x80)
			hl += 4;
		if (n > FRAME_MAX)
			return -EMSGSIZE;
		if (avail < hl + n)
			break;
		for (size_t i = 0; (f[1] & 0x80) && i < n; i++)
			f[hl + i] ^= f[hl - 4 + (i & 3)];
		e = client_frame(r, f[0] & 0x0f, f[0] & 0x80, f + hl, n);
		off += hl + n;
	}
	memmove(r->cin.p, r->cin.p + off, r->cin.len - off);
	r->cin.len -= off;
	return e;
}

/* v1 (channel.k8s.io): the kubelet's v4 Status, as upstream's v1 server
 * writes it: nothing for Success, else its message as text. */
static int flush_status(struct relay *r)
{
	json_t *j;
	const char *st, *msg;
	int e = 0;

	if (!r->ws->v1_status || !r->status.len)
		return 0;
	j = json_loadb((char *)r->status.p, r->status.len, 0, NULL);
	st = j ? json_path_str(j, "status") : NULL;
	msg = j ? json_path_str(j, "message") : NULL;
	if (!j)
		e = ws_channel(r, CH_ERROR, r->status.p, r->status.len);
	else if (!st || !streq(st, "Success"))
		e = ws_channel(r, CH_ERROR, msg ? msg : "", msg ? strlen(msg) : 0);
	json_decref(j);
	r->status.len = 0;
	return e;
}

/* Data (or its end) of the kubelet on channel ch. */
static int kubelet_data(struct relay *r, int ch, const unsigned char *p, size_t n, bool fin)
{
	int e = 0;

	if (r->ws->mode == API_WS_CHANNEL && ch == CH_ERROR && r->ws->v1_status) {
		if (n && buf_add(&r->status, STATUS_MAX, p, n) < 0)
			log_debug("the kubelet's error stream: more than %u bytes", STATUS_MAX);
		return fin ? flush_status(r) : 0;
	}
	if (n)
		e = ws_channel(r, ch, p, n);
	if (e == 0 && fin && r->ws->mode == API_WS_PF_CHANNEL && ch % 2 == 0 && r->pf_open &&
	    --r->pf_open == 0) {
		r->done = true; /* every port's connection ended: so does the WebSocket */
		e = ws_send(r, WS_CLOSE, -1, "\x03\xe8", 2);
	}
	return e;
}

static int kubelet_frame(struct relay *r, unsigned char *f, size_t n)
{
	int ch;

	if (f[0] & 0x80) {
		unsigned type = (unsigned)f[2] << 8 | f[3];

		if (type == SPDY_PING)
			return tls_stream_write_all(r->kubelet, f, 8 + n);
		if (type == SPDY_GOAWAY) {
			r->done = true; /* the kubelet ends the session: so does the client */
			return flush_status(r) ?: ws_send(r, WS_CLOSE, -1, "\x03\xe8", 2);
		}
		if (type == SPDY_RST_STREAM && n >= 8)
			log_debug("kubelet reset SPDY stream %u (status %u)", get32(f + 8) & 0x7fffffff,
				  get32(f + 12));
		return 0; /* SYN_REPLY, SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do */
	}
	ch = channel_of(r, get32(f) & 0x7fffffff);
	return ch < 0 ? 0 : kubelet_data(r, ch, f + 8, n, f[4] & SPDY_FIN);
}

/* The whole SPDY frames in r->kin, handled; a partial one is kept. */
static int kubelet_frames(struct relay *r)
{
	size_t off = 0;
	int e = 0;

	while (e == 0 && !r->done && r->kin.len - off >= 8) {
		unsigned char *f = r->kin.p + off;
		size_t n = (size_t)f[5] << 16 | (size_t)f[6] << 8 | f[7];

		if (8 + n > FRAME_MAX)
			return -EMSGSIZE;
		if (r->kin.len - off < 8 + n)
			break;
		e = kubelet_frame(r, f, n);
		off += 8 + n;
	}
	memmove(r->kin.p, r->kin.p + off, r->kin.len - off);
	r->kin.len -= off;
	return e;
}

/* ---- the relay ---- */

/* Appends n bytes read from s to b (FRAME_MAX + 16 of room); 0 at the end
 * of the stream. */
static ssize_t fill(struct tls_stream *s, struct buf *b)
{
	if (b->len >= FRAME_MAX + 16)
		return -EMSGSIZE;
	return tls_stream_read(s, b->p + b->len, FRAME_MAX + 16 - b->len);
}

static int from_kubelet(struct relay *r)
{
	ssize_t n;

	if (r->ws->mode == API_WS_PF_TUNNEL) {
		n = tls_stream_read(r->kubelet, r->kin.p, CHUNK);
		if (n <= 0)
			return n < 0 ? (int)n : 1;
		return ws_send(r, WS_BIN, -1, r->kin.p, (size_t)n);
	}
	n = fill(r->kubelet, &r->kin);
	if (n <= 0)
		return n < 0 ? (int)n : 1;
	r->kin.len += (size_t)n;
	return kubelet_frames(r);
}

static int from_client(struct relay *r)
{
	ssize_t n = fill(&r->client, &r->cin);

	if (n <= 0)
		return n < 0 ? (int)n : 1;
	r->cin.len += (size_t)n;
	return client_frames(r);
}

static int relay_loop(struct relay *r)
{
	int e = 0;

	while (e == 0 && !r->done) {
		struct pollfd p[2] = { { .fd = r->client.fd, .events = POLLIN },
				       { .fd = r->kubelet->fd, .events = POLLIN } };
		bool pending = r->kubelet->tls && gnutls_record_check_pending(r->kubelet->tls);

		if (!pending && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pending || p[1].revents) {
			e = from_kubelet(r);
			if (e == 1) /* the kubelet ended the session: so does the client */
				return flush_status(r) ?: ws_send(r, WS_CLOSE, -1, "\x03\xe8", 2);
		}
		if (e == 0 && p[0].revents)
			e = from_client(r);
	}
	return e == 1 ? 0 : e;
}

int api_ws_relay(const struct api_ws *ws, int client, const char *client_extra,
		 size_t client_extra_len, struct tls_stream *kubelet, const char *kubelet_extra,
		 size_t kubelet_extra_len)
{
	struct relay r = { .ws = ws, .client = { .fd = client }, .kubelet = kubelet };
	int e = 0;

	r.cin.p = malloc(FRAME_MAX + 16);
	r.kin.p = malloc(FRAME_MAX + 16);
	if (!r.cin.p || !r.kin.p || client_extra_len > FRAME_MAX || kubelet_extra_len > FRAME_MAX)
		e = -ENOMEM;
	if (e == 0 && ws->mode != API_WS_PF_TUNNEL)
		e = open_streams(&r);
	if (e == 0 && kubelet_extra_len) {
		if (ws->mode == API_WS_PF_TUNNEL) {
			e = ws_send(&r, WS_BIN, -1, kubelet_extra, kubelet_extra_len);
		} else {
			memcpy(r.kin.p, kubelet_extra, kubelet_extra_len);
			r.kin.len = kubelet_extra_len;
			e = kubelet_frames(&r);
		}
	}
	if (e == 0 && client_extra_len) {
		memcpy(r.cin.p, client_extra, client_extra_len);
		r.cin.len = client_extra_len;
		e = client_frames(&r);
	}
	if (e == 0)
		e = relay_loop(&r);
	if (r.z_ready)
		deflateEnd(&r.z);
	free(r.cin.p);
	free(r.kin.p);
	free(r.msg.p);
	free(r.status.p);
	return e;
}
