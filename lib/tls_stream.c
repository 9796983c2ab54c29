/* TLS-or-plain byte streams and the relay between two of them; see
 * tls_stream.h. */
#include "lib/tls_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"

ssize_t tls_stream_read(struct tls_stream *s, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = s->tls ? gnutls_record_recv(s->tls, buf, len) : read(s->fd, buf, len);

		if (!s->tls) {
			if (n < 0 && errno == EINTR)
				continue;
			return n < 0 ? -errno : n;
		}
		if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
			continue;
		/* A peer that closes without close_notify has still ended. */
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		return n < 0 ? -ECONNRESET : n;
	}
}

int tls_stream_write_all(struct tls_stream *s, const void *buf, size_t len)
{
	const char *p = buf;

	if (!s->tls)
		return write_all(s->fd, buf, len);
	while (len) {
		ssize_t n = gnutls_record_send(s->tls, p, len);

		if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
			continue;
		if (n < 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tls_stream_printf(struct tls_stream *s, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EMSGSIZE;
	return tls_stream_write_all(s, buf, (size_t)n);
}

int tls_stream_wait(struct tls_stream *s, int timeout_ms)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int r;

	if (s->tls && gnutls_record_check_pending(s->tls))
		return 1;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int tls_stream_read_head(struct tls_stream *s, char *buf, size_t cap, int timeout_ms,
			 size_t *head, size_t *have)
{
	size_t n = 0;

	while (n + 1 < cap) {
		char *end;
		ssize_t r;
		int w = tls_stream_wait(s, timeout_ms);

		if (w <= 0)
			return w < 0 ? w : -ETIMEDOUT;
		r = tls_stream_read(s, buf + n, cap - 1 - n);
		if (r <= 0)
			return r < 0 ? (int)r : -ECONNRESET;
		n += (size_t)r;
		buf[n] = 0;
		end = memmem(buf, n, "\r\n\r\n", 4);
		if (end) {
			*head = (size_t)(end - buf) + 4;
			*have = n;
			/* Each line ends in a NUL (its "\r\n" becomes "\0\n"). */
			for (char *p = buf; p < end + 4; p++)
				if (p[0] == '\r' && p[1] == '\n')
					p[0] = 0;
			return 0;
		}
	}
	return -EMSGSIZE;
}

const char *tls_stream_next_line(const char *head, size_t head_len, const char *line)
{
	const char *next = line + strlen(line) + 2;

	return next < head + head_len && *next ? next : NULL;
}

void tls_stream_head_restore(char *head, size_t head_len)
{
	for (size_t i = 0; i + 1 < head_len; i++)
		if (head[i] == 0 && head[i + 1] == '\n')
			head[i] = '\r';
}

int tls_stream_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int r = getaddrinfo(host, port, &hints, &ai);

	if (r != 0)
		return -EHOSTUNREACH;
	r = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct pollfd p = { .fd = s, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof(err);

		if (s < 0)
			continue;
		if (connect(s, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			r = -errno;
			close(s);
			continue;
		}
		if (poll(&p, 1, timeout_ms) != 1 ||
		    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			r = err ? -err : -ETIMEDOUT;
			close(s);
			continue;
		}
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
		*fd = s;
		r = 0;
		break;
	}
	freeaddrinfo(ai);
	return r;
}

/* Moves what from has to to; 0 when from ended, 1 when bytes moved. */
static int relay_once(struct tls_stream *from, struct tls_stream *to)
{
	char buf[16384];
	ssize_t n = tls_stream_read(from, buf, sizeof(buf));

	if (n <= 0)
		return (int)n;
	return tls_stream_write_all(to, buf, (size_t)n) < 0 ? -EPIPE : 1;
}

int tls_stream_relay(struct tls_stream *a, struct tls_stream *b)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = a->fd, .events = POLLIN }, { .fd = b->fd, .events = POLLIN } };
		bool ra = a->tls && gnutls_record_check_pending(a->tls);
		bool rb = b->tls && gnutls_record_check_pending(b->tls);
		int r;

		if (!ra && !rb) {
			r = poll(p, 2, -1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			ra = p[0].revents;
			rb = p[1].revents;
		}
		if (ra && (r = relay_once(a, b)) <= 0)
			return r;
		if (rb && (r = relay_once(b, a)) <= 0)
			return r;
	}
}
