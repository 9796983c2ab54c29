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
#include <zlib.h>

#include "control/api_proxy_ws.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define PROTO_V5 "v5.channel.k8s.io"
#define PROTO_PF "SPDY/3.1+portforward.k8s.io"
#define FRAME_MAX (1u << 20) /* the largest frame either side may send */
#define CHUNK 65536

enum { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BIN = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xa };
enum { CH_STDIN, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, CH_N, CH_CLOSE = 255 };
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
	struct buf cin, kin;    /* bytes read that do not make a whole frame yet */
	uint32_t stream[CH_N];  /* v5: a channel's SPDY stream (0: not open) */
	bool closed[CH_N];      /* v5: the client ended it (CLOSE) */
	int msg_channel;        /* v5: the channel of the message being continued */
	z_stream z;             /* SPDY header compression, one context a connection */
	bool z_ready, done;
};

/* ---- the upgrade ---- */

static bool has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = list; p && *p;) {
		p += strspn(p, " \t,");
		if (strncmp(p, tok, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

static const char *header(struct api_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

void api_ws_detect(struct api_req *q, struct api_ws *ws)
{
	const char *up = header(q, "Upgrade"), *proto = header(q, "Sec-WebSocket-Protocol");
	const char *key = header(q, "Sec-WebSocket-Key");
	unsigned char digest[20];
	char in[128];
	_cleanup_free_ char *acc = NULL;
	enum api_ws_mode mode = API_WS_NONE;

	memset(ws, 0, sizeof(*ws));
	if (!streq(q->method, "GET") || !up || strcasecmp(up, "websocket") != 0 || !proto || !key)
		return;
	if ((streq(q->sub, "exec") || streq(q->sub, "attach")) && has_token(proto, PROTO_V5))
		mode = API_WS_CHANNEL_V5;
	else if (streq(q->sub, "portforward") && has_token(proto, PROTO_PF))
		mode = API_WS_PF_TUNNEL;
	if (mode == API_WS_NONE || snprintf(in, sizeof(in), "%s" WS_GUID, key) >= (int)sizeof(in) ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA1, in, strlen(in), digest) < 0 ||
	    !(acc = b64_encode(digest, sizeof(digest), B64_STD)) ||
	    strlen(acc) >= sizeof(ws->accept))
		return;
	strcpy(ws->accept, acc);
	ws->mode = mode;
	ws->in = api_query_bool(q, "stdin");
	ws->out = api_query_bool(q, "stdout");
	ws->err = api_query_bool(q, "stderr");
	ws->tty = api_query_bool(q, "tty");
}

int api_ws_kubelet_headers(const struct api_ws *ws, struct tls_stream *kubelet)
{
	return tls_stream_printf(kubelet, "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
				 "X-Stream-Protocol-Version: %s\r\n",
				 ws->mode == API_WS_PF_TUNNEL ? "portforward.k8s.io" :
								"v4.channel.k8s.io");
}

void api_ws_response_headers(const struct api_ws *ws, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Upgrade", "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", ws->accept);
	MHD_add_response_header(resp, "Sec-WebSocket-Protocol",
				ws->mode == API_WS_PF_TUNNEL ? PROTO_PF : PROTO_V5);
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

/* SYN_STREAM id with the one header streamtype: type. */
static int spdy_open(struct relay *r, uint32_t id, const char *type)
{
	unsigned char block[64], f[18 + 128];
	size_t tl = strlen(type), zl;

	put32(block, 1);
	put32(block + 4, 10);
	memcpy(block + 8, "streamtype", 10);
	put32(block + 18, (uint32_t)tl);
	memcpy(block + 22, type, tl);
	r->z.next_in = block;
	r->z.avail_in = (uInt)(22 + tl);
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
static int open_streams(struct relay *r)
{
	static const char *const names[CH_N] = { "stdin", "stdout", "stderr", "error", "resize" };
	static const int order[] = { CH_ERROR, CH_STDIN, CH_STDOUT, CH_STDERR, CH_RESIZE };
	const struct api_ws *ws = r->ws;
	bool want[CH_N] = { ws->in, ws->out, ws->err && !ws->tty, true, ws->tty };
	uint32_t id = 1;
	int e = 0;

	if (deflateInit(&r->z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return -ENOMEM;
	r->z_ready = true;
	for (size_t i = 0; e == 0 && i < ARRAY_SIZE(order); i++) {
		if (!want[order[i]])
			continue;
		r->stream[order[i]] = id;
		e = spdy_open(r, id, names[order[i]]);
		id += 2;
	}
	return e;
}

/* ---- frames in ---- */

static int channel_of(const struct relay *r, uint32_t id)
{
	for (int c = 0; c < CH_N; c++)
		if (r->stream[c] == id)
			return c;
	return -1;
}

/* v5 data of the client on channel ch: stdin and resize go on, CLOSE
 * ends the client's side of the streams it names. */
static int channel_data(struct relay *r, int ch, const unsigned char *p, size_t n)
{
	if (ch == CH_CLOSE) {
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
	if (ch >= CH_N || !r->stream[ch] || r->closed[ch] || !n)
		return 0; /* a stream not asked for: dropped, as upstream does */
	return spdy_data(r, r->stream[ch], p, n, false);
}

static int client_frame(struct relay *r, int op, unsigned char *p, size_t n)
{
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
		e = client_frame(r, f[0] & 0x0f, f + hl, n);
		off += hl + n;
	}
	memmove(r->cin.p, r->cin.p + off, r->cin.len - off);
	r->cin.len -= off;
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
			return ws_send(r, WS_CLOSE, -1, "\x03\xe8", 2);
		}
		if (type == SPDY_RST_STREAM && n >= 8)
			log_debug("kubelet reset SPDY stream %u (status %u)", get32(f + 8) & 0x7fffffff,
				  get32(f + 12));
		return 0; /* SYN_REPLY, SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do */
	}
	ch = channel_of(r, get32(f) & 0x7fffffff);
	return ch < 0 || !n ? 0 : ws_send(r, WS_BIN, ch, f + 8, n);
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
				return ws_send(r, WS_CLOSE, -1, "\x03\xe8", 2);
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
	if (e == 0 && ws->mode == API_WS_CHANNEL_V5)
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
	return e;
}
