/* A plain-HTTP /metrics listener on its own thread (see prom.h): one
 * request per connection, served in turn; a client that sends nothing
 * for 2 s is dropped, so a stuck one holds the others up that long at
 * most. */
#include "lib/prom.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util.h"

#define PROM_HTTP_TIMEOUT_MS 2000

struct prom_http {
	struct prom_registry *reg;
	int fd;
	int stop[2]; /* a pipe: written to stop the thread */
	pthread_t thread;
};

/* "IP:PORT" or "[IPv6]:PORT" into ss. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char *end;
	long port;
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/* Reads until the end of the request head (or timeout / 4 KiB). */
static ssize_t read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, PROM_HTTP_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return (ssize_t)len;
	}
	return (ssize_t)len;
}

static void reply(int fd, int code, const char *reason, const char *ctype, const char *body,
		  size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, ctype, len);

	if (write_all(fd, head, (size_t)n) == 0)
		write_all(fd, body, len);
}

static void serve_one(struct prom_http *h, int fd)
{
	char req[4096], *text = NULL;
	size_t len;
	bool head_only;

	if (read_head(fd, req, sizeof(req)) <= 0)
		return;
	head_only = strncmp(req, "HEAD ", 5) == 0;
	if (strncmp(req, "GET ", 4) != 0 && !head_only) {
		reply(fd, 405, "Method Not Allowed", "text/plain", "", 0);
		return;
	}
	if (strncmp(req + (head_only ? 5 : 4), "/healthz ", 9) == 0) {
		reply(fd, 200, "OK", "text/plain", "ok", head_only ? 0 : 2);
		return;
	}
	if (strncmp(req + (head_only ? 5 : 4), "/metrics ", 9) != 0 &&
	    strncmp(req + (head_only ? 5 : 4), "/metrics?", 9) != 0) {
		reply(fd, 404, "Not Found", "text/plain", "404 page not found\n", 19);
		return;
	}
	prom_process_update(h->reg);
	if (prom_render(h->reg, &text, &len) < 0) {
		reply(fd, 500, "Internal Server Error", "text/plain", "", 0);
		return;
	}
	reply(fd, 200, "OK", PROM_CONTENT_TYPE, text, head_only ? 0 : len);
	free(text);
}

static void *serve(void *arg)
{
	struct prom_http *h = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = h->fd, .events = POLLIN },
				       { .fd = h->stop[0], .events = POLLIN } };
		int c;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(h, c);
		close(c);
	}
	return NULL;
}

int prom_http_start(struct prom_registry *r, const char *addr, struct prom_http **out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct prom_http *h;
	int one = 1, ret;

	ret = parse_addr(addr, &ss, &sl);
	if (ret < 0)
		return ret;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->reg = r;
	h->stop[0] = h->stop[1] = -1;
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->fd, (struct sockaddr *)&ss, sl) < 0 || listen(h->fd, 16) < 0 ||
	    pipe2(h->stop, O_CLOEXEC) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&h->thread, NULL, serve, h);
	if (ret < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	if (h->fd >= 0)
		close(h->fd);
	if (h->stop[0] >= 0) {
		close(h->stop[0]);
		close(h->stop[1]);
	}
	free(h);
	return ret;
}

void prom_http_stop(struct prom_http *h)
{
	if (!h)
		return;
	if (write(h->stop[1], "x", 1) < 0) {
		/* a pipe with room: cannot fail */
	}
	pthread_join(h->thread, NULL);
	close(h->fd);
	close(h->stop[0]);
	close(h->stop[1]);
	free(h);
}
