/* lb-client: a small TCP/UDP client for the load balancer's tests. Prints,
 * per connection, the first line the server sent and the peer address the
 * socket reports (getpeername, or recvfrom's source for unconnected UDP):
 *
 *   b2 10.96.0.10:80
 *   ERR connect: Connection refused (0.000s)
 *
 * and exits 1 when any connection failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *host;
	const char *port;
	int count;
	bool udp;
	bool connected;
	bool hold;
	bool hold_all;
	int interval_ms;
	int timeout_ms;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: lb-client [--udp [--connected]] [--count N] [--interval-ms N]\n"
		   "                 [--timeout-ms N] [--hold] HOST PORT\n"
		   "Connects (or sends one datagram) COUNT times; prints the server's\n"
		   "first line and the peer address per connection.\n"
		   "  --hold   keep the first connection open and report when it ends\n"
		   "  --hold-all  keep every connection open; at the end (timeout) print\n"
		   "           per connection, by local port, \"closed PORT: why\" or \"open PORT\"\n"
		   "       lb-client --serve-udp NAME PORT\n"
		   "Answers every datagram on PORT with NAME.\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	}
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Reads the first line; returns its length or -errno. */
static int read_line(int fd, char *buf, size_t size, bool datagram,
		     struct sockaddr_storage *from)
{
	socklen_t fl = sizeof(*from);
	size_t n = 0;
	ssize_t r;

	if (datagram) {
		r = recvfrom(fd, buf, size - 1, 0, (struct sockaddr *)from, &fl);
		if (r < 0)
			return -errno;
		n = (size_t)r;
	} else {
		while (n < size - 1) {
			r = read(fd, buf + n, 1);
			if (r < 0)
				return -errno;
			if (r == 0 || buf[n] == '\n')
				break;
			n++;
		}
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	return (int)n;
}

/* Waits until the open connection ends; prints how. */
static int hold(const struct opts *o, int fd)
{
	char buf[256];
	int i;

	for (i = 0; i < o->timeout_ms / 200; i++) {
		socklen_t el = sizeof(int);
		int soerr = 0;
		ssize_t r;

		/* an ended socket reports its error before anything else */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 && soerr) {
			printf("closed: %s\n", strerror(soerr));
			return 0;
		}
		if (o->udp && send(fd, "x\n", 2, 0) < 0) {
			printf("closed: %s\n", strerror(errno));
			return 0;
		}
		r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0) {
			printf("closed: eof\n");
			return 0;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
			printf("closed: %s\n", strerror(errno));
			return 0;
		}
		if (o->udp)
			usleep(200000);
	}
	printf("still open\n");
	return 1;
}

/* --hold-all: waits the timeout out, noting which connections end and how;
 * then prints one line per connection, by local port. */
static void hold_all(const struct opts *o, const int *fds, int n)
{
	char (*why)[128] = calloc((size_t)n, sizeof(*why));
	char buf[256];

	if (!why)
		return;
	for (int t = 0; t < o->timeout_ms / 100; t++) {
		for (int i = 0; i < n; i++) {
			socklen_t el = sizeof(int);
			int soerr = 0;
			ssize_t r;

			if (fds[i] < 0 || why[i][0])
				continue;
			if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 && soerr) {
				snprintf(why[i], sizeof(why[i]), "%s", strerror(soerr));
				continue;
			}
			r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0)
				snprintf(why[i], sizeof(why[i]), "eof");
			else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				snprintf(why[i], sizeof(why[i]), "%s", strerror(errno));
		}
		usleep(100000);
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage me = { 0 };
		socklen_t ml = sizeof(me);
		unsigned port = 0;

		if (fds[i] < 0)
			continue;
		if (getsockname(fds[i], (struct sockaddr *)&me, &ml) == 0)
			port = ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
							     : ((struct sockaddr_in6 *)&me)->sin6_port);
		if (why[i][0])
			printf("closed %u: %s\n", port, why[i]);
		else
			printf("open %u\n", port);
		close(fds[i]);
	}
	free(why);
}

static int one(const struct opts *o, const struct addrinfo *ai, bool *held, int *kept)
{
	struct sockaddr_storage peer = { 0 };
	socklen_t pl = sizeof(peer);
	char line[256], pa[80];
	double t0 = now_s();
	const char *step = "socket";
	int fd, r;

	fd = socket(ai->ai_family, o->udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0)
		goto fail;
	set_timeout(fd, o->timeout_ms);
	if (!o->udp || o->connected) {
		step = "connect";
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			goto fail;
		if (o->udp) {
			step = "send";
			if (send(fd, "x\n", 2, 0) < 0)
				goto fail;
		}
	} else {
		step = "sendto";
		if (sendto(fd, "x\n", 2, 0, ai->ai_addr, ai->ai_addrlen) < 0)
			goto fail;
	}
	step = "read";
	r = read_line(fd, line, sizeof(line), o->udp, &peer);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	if (!o->udp || o->connected) {
		step = "getpeername";
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
			goto fail;
	}
	fmt_addr(&peer, pa, sizeof(pa));
	printf("%s %s\n", line, pa);
	fflush(stdout);
	if (o->hold_all) {
		*kept = fd;
		return 0;
	}
	if (o->hold) {
		*held = true;
		r = hold(o, fd);
		close(fd);
		return r;
	}
	close(fd);
	return 0;
fail:
	printf("ERR %s: %s (%.3fs)\n", step, strerror(errno), now_s() - t0);
	fflush(stdout);
	if (fd >= 0)
		close(fd);
	return 1;
}

/* A UDP server that answers every datagram with "NAME\n", on :: (IPv4
 * too) port PORT: socat's UDP fork mode loses datagrams that arrive while
 * a child runs. */
static int serve_udp(const char *name, const char *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), off = 0;
	char reply[64], buf[512];

	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "lb-client: udp server on %s: %s\n", port, strerror(errno));
		return 1;
	}
	snprintf(reply, sizeof(reply), "%s\n", name);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);

		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) < 0)
			continue;
		sendto(fd, reply, strlen(reply), 0, (struct sockaddr *)&from, fl);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "udp", no_argument, NULL, 'u' },
		{ "connected", no_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "hold", no_argument, NULL, 'H' },
		{ "hold-all", no_argument, NULL, 'A' },
		{ "serve-udp", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *serve = NULL;
	struct opts o = { .count = 1, .timeout_ms = 2000 };
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int c, i, failed = 0, *kept;
	bool held = false;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o.udp = true; break;
		case 'c': o.connected = true; break;
		case 'n': o.count = atoi(optarg); break;
		case 'i': o.interval_ms = atoi(optarg); break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'H': o.hold = true; break;
		case 'A': o.hold_all = true; break;
		case 'S': serve = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (serve && argc - optind == 1)
		return serve_udp(serve, argv[optind]);
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	o.host = argv[optind];
	o.port = argv[optind + 1];
	if (getaddrinfo(o.host, o.port, &hints, &ai) != 0) {
		fprintf(stderr, "lb-client: '%s' '%s' is not a numeric address and port\n",
			o.host, o.port);
		return 2;
	}
	kept = calloc((size_t)(o.count > 0 ? o.count : 1), sizeof(*kept));
	if (!kept)
		return 1;
	for (i = 0; i < o.count && !held; i++) {
		kept[i] = -1;
		failed += one(&o, ai, &held, &kept[i]);
		if (o.interval_ms)
			usleep((useconds_t)o.interval_ms * 1000);
	}
	if (o.hold_all) {
		fflush(stdout);
		hold_all(&o, kept, i);
	}
	free(kept);
	freeaddrinfo(ai);
	return failed ? 1 : 0;
}
