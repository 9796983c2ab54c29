/* Byte streams that may be TLS (GnuTLS) or plain sockets, for the two
 * ends of a relayed connection: the API server between kubectl and a
 * kubelet, the kubelet between the API server and the runtime's
 * streaming server. An upgraded connection (SPDY/3.1 or WebSocket) passes
 * through as bytes (the API server's WebSocket translation,
 * control/api_proxy_ws.c, reads frames over these streams).
 *
 *   struct tls_stream up = { .tls = session, .fd = fd }, down = { .fd = sock };
 *   tls_stream_read_head(&up, buf, sizeof(buf), &head, &have);
 *   ... send a rewritten head down, then the bytes after it ...
 *   tls_stream_relay(&up, &down);
 */
#ifndef SKIFF_TLS_STREAM_H
#define SKIFF_TLS_STREAM_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_stream {
	gnutls_session_t tls; /* NULL: a plain socket */
	int fd;
};

/* Up to len bytes; 0 at the end of the stream, negative errno on error. */
ssize_t tls_stream_read(struct tls_stream *s, void *buf, size_t len);
/* All of buf, or negative errno. */
int tls_stream_write_all(struct tls_stream *s, const void *buf, size_t len);
/* Writes a formatted string (at most 8 KiB). */
int tls_stream_printf(struct tls_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Whether a read would not block: bytes buffered in the TLS layer, or the
 * socket readable within timeout_ms (-1: wait). 0 when the time passed. */
int tls_stream_wait(struct tls_stream *s, int timeout_ms);

/* Reads an HTTP head (request or response) into buf until the blank line;
 * *head is its length (through the blank line), *have the bytes read (the
 * body's first bytes follow the head). Each line of the head then ends in
 * a NUL: "\r\n" becomes "\0\n", so buf is the first line as a string.
 * -EMSGSIZE when the head does not fit, -ECONNRESET when the stream ends
 * first, -ETIMEDOUT after timeout_ms. */
int tls_stream_read_head(struct tls_stream *s, char *buf, size_t cap, int timeout_ms,
			 size_t *head, size_t *have);
/* The header line after line in such a head (the first: after head
 * itself, the request or status line); NULL after the last. */
const char *tls_stream_next_line(const char *head, size_t head_len, const char *line);
/* Turns such a head back into the bytes read (to pass it on). */
void tls_stream_head_restore(char *head, size_t head_len);

/* A TCP connection to host (an IP address or a name) and port, within
 * timeout_ms; the socket (O_CLOEXEC, blocking) in *fd. */
int tls_stream_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd);

/* Copies bytes both ways until either side ends or fails; 0 when a side
 * ended the stream. */
int tls_stream_relay(struct tls_stream *a, struct tls_stream *b);

#endif
