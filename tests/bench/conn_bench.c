/* conn-bench: a small TCP load generator and its server, for the service
 * proxy benchmark (tests/bench/bench_proxy.sh).
 *
 *   conn-bench serve [--port P] [--threads N]
 *       epoll server, one SO_REUSEPORT listener and epoll loop per thread.
 *       The protocol is one line per request, "C\n" or "K\n", each
 *       answered with a 64-byte line; the server closes when the client
 *       does.
 *
 *       A short connection ("C") is ended by the client with a reset
 *       (SO_LINGER 0), so neither side keeps a TIME_WAIT socket: at tens of
 *       thousands of connections per second those would exhaust the
 *       client's ports, and a reused port meeting an old TIME_WAIT through
 *       a DNAT (different ISN and timestamp offsets per tuple) stalls the
 *       SYN for a second and would measure that instead of the proxy.
 *
 *   conn-bench rate [--duration S] [--workers W] [--timeout-ms T] [--random]
 *                   TARGET...
 *       W threads, each in a loop for S seconds: connect, send "C\n", read
 *       the reply, close (reset). Connections go round robin over the
 *       TARGETs (ADDR:PORT, [v6]:PORT), or with --random each to a target
 *       picked at random, as a service's random load balancing picks its
 *       backend (the baseline a ClusterIP is compared with: round robin
 *       keeps every server exactly as busy as the others, which the
 *       service's random pick does not).
 *       Prints: rate conns=N errors=E seconds=S per_sec=R p50_us=.. p99_us=..
 *       (the p50/p99 of one whole connection).
 *
 *   conn-bench latency [--duration S] [--warmup N] TARGET
 *       one kept-alive connection, "K\n" and its reply back to back.
 *       Prints: latency requests=N errors=E p50_us=.. p99_us=.. p999_us=..
 *
 * Exit status 0 when the run completed with at least one good request and
 * no more than 1% errors, 1 otherwise, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"

#define CB_MAX_TARGETS 64
#define CB_MAX_THREADS 256
#define CB_REPLY "skiff-conn-bench-reply-0123456789abcdef0123456789abcdef0123456\n"
#define CB_REPLY_LEN (sizeof(CB_REPLY) - 1)
/* Latency samples kept per thread; beyond it the rest are counted only. */
#define CB_MAX_SAMPLES (4u << 20)

struct cb_target {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct cb_opts {
	unsigned port;
	unsigned threads;
	double duration_s;
	unsigned workers;
	unsigned timeout_ms;
	unsigned warmup;
	bool random; /* rate: a random target per connection */
	struct cb_target targets[CB_MAX_TARGETS];
	unsigned n_targets;
};

/* One client thread's results. */
struct cb_worker {
	const struct cb_opts *o;
	unsigned index;
	unsigned long long deadline_ns;
	uint32_t *samples; /* microseconds */
	size_t n_samples;
	unsigned long long ok;
	unsigned long long errors;
	int first_error; /* errno of the first failure, for the report */
};

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: conn-bench serve [--port P] [--threads N]\n"
		"       conn-bench rate [--duration S] [--workers W] [--timeout-ms T] [--random]\n"
		"                       TARGET...\n"
		"       conn-bench latency [--duration S] [--warmup N] [--timeout-ms T] TARGET\n"
		"TCP short-connection rate and kept-alive request latency, and the\n"
		"epoll server both talk to. TARGET is ADDR:PORT or [IPv6]:PORT.\n"
		"\n"
		"  --port P        serve: port to listen on, all addresses (default 8080)\n"
		"  --threads N     serve: listener threads (default: number of CPUs)\n"
		"  --duration S    seconds of traffic, may be fractional (default 5)\n"
		"  --workers W     rate: concurrent connecting threads (default 4)\n"
		"  --timeout-ms T  connect/reply timeout per request (default 2000)\n"
		"  --random        rate: each connection to a random TARGET (default: round robin)\n"
		"  --warmup N      latency: untimed requests first (default 100)\n"
		"  -h, --help      this text\n"
		"Output: one line of key=value pairs (see the source's header).\n");
	return status;
}

static int parse_target(const char *s, struct cb_target *t)
{
	struct ipaddr a;
	uint16_t port;

	if (ipaddr_port_parse(s, &a, &port) < 0)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->sa;

		sin->sin_family = AF_INET;
		sin->sin_addr = a.v4;
		sin->sin_port = htons(port);
		t->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->sa;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a.v6;
		sin6->sin6_port = htons(port);
		t->len = sizeof(*sin6);
	}
	return 0;
}

static int parse_uint(const char *name, const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		log_error("%s: expected a number from %u to %u, got '%s'", name, min, max, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* ---- server ---------------------------------------------------------- */

struct cb_server {
	const struct cb_opts *o;
	int lfd;
};

static int server_listen(unsigned port)
{
	_cleanup_close_ int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0 || listen(fd, 4096) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/* Answers every complete request line in buf; 0, or -errno on a write
 * error. */
static int server_answer(int fd, const char *buf, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		int r = write_all(fd, CB_REPLY, CB_REPLY_LEN);

		if (r < 0)
			return r;
	}
	return 0;
}

static void *server_thread(void *arg)
{
	struct cb_server *s = arg;
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->lfd }, evs[256];

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		log_error("serve: epoll: %m");
		return NULL;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, (int)ARRAY_SIZE(evs), -1);

		if (n < 0 && errno != EINTR) {
			log_error("serve: epoll_wait: %m");
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[512];
			ssize_t r;

			if (fd == s->lfd) {
				for (;;) {
					int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
					int one = 1;

					if (c < 0)
						break;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						close(c);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || server_answer(fd, buf, r) != 0)
				close(fd); /* also leaves the epoll set */
		}
	}
	return NULL;
}

static int cmd_serve(const struct cb_opts *o)
{
	pthread_t tids[CB_MAX_THREADS];
	struct cb_server servers[CB_MAX_THREADS];
	unsigned n = o->threads;

	for (unsigned i = 0; i < n; i++) {
		int fd = server_listen(o->port);

		if (fd < 0) {
			log_error("serve: cannot listen on port %u: %s", o->port, strerror(-fd));
			return 1;
		}
		servers[i] = (struct cb_server){ .o = o, .lfd = fd };
	}
	for (unsigned i = 0; i < n; i++) {
		int r = pthread_create(&tids[i], NULL, server_thread, &servers[i]);

		if (r) {
			log_error("serve: cannot start a thread: %s", strerror(r));
			return 1;
		}
	}
	log_info("serving on port %u with %u threads", o->port, n);
	for (unsigned i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	return 1; /* threads only return on error */
}

/* ---- client ---------------------------------------------------------- */

static int set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int client_connect(const struct cb_target *t, unsigned timeout_ms)
{
	_cleanup_close_ int fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (set_timeouts(fd, timeout_ms) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&t->sa, t->len) < 0)
		return errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	return TAKE_FD(fd);
}

/* Reads one whole reply line (CB_REPLY_LEN bytes). */
static int read_reply(int fd)
{
	char buf[CB_REPLY_LEN];
	size_t got = 0;

	while (got < CB_REPLY_LEN) {
		ssize_t r = read(fd, buf + got, CB_REPLY_LEN - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
	}
	return buf[CB_REPLY_LEN - 1] == '\n' ? 0 : -EPROTO;
}

/* One short connection: connect, "C\n", the reply, close with a reset. */
static int short_conn(const struct cb_target *t, unsigned timeout_ms)
{
	_cleanup_close_ int fd = client_connect(t, timeout_ms);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int r;

	if (fd < 0)
		return fd;
	r = write_all(fd, "C\n", 2);
	if (r == 0)
		r = read_reply(fd);
	if (r == 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		r = -errno;
	return r;
}

static void worker_record(struct cb_worker *w, unsigned long long t0, int r)
{
	if (r < 0) {
		if (!w->errors)
			w->first_error = -r;
		w->errors++;
		return;
	}
	w->ok++;
	if (w->n_samples < CB_MAX_SAMPLES) {
		unsigned long long us = (now_ns() - t0) / 1000;

		w->samples[w->n_samples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
}

static void *rate_thread(void *arg)
{
	struct cb_worker *w = arg;
	unsigned next = w->index, seed = (unsigned)now_ns() ^ w->index;

	while (now_ns() < w->deadline_ns) {
		unsigned long long t0 = now_ns();
		unsigned i = w->o->random ? (unsigned)rand_r(&seed) : next++;
		int r = short_conn(&w->o->targets[i % w->o->n_targets], w->o->timeout_ms);

		worker_record(w, t0, r);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted samples (nearest rank). */
static uint32_t quantile(const uint32_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(q * (double)n);
	return v[i >= n ? n - 1 : i];
}

static int workers_alloc(struct cb_worker *ws, unsigned n, const struct cb_opts *o,
			 size_t samples_each)
{
	for (unsigned i = 0; i < n; i++) {
		ws[i] = (struct cb_worker){ .o = o, .index = i };
		ws[i].samples = malloc(samples_each * sizeof(uint32_t));
		if (!ws[i].samples)
			return -ENOMEM;
	}
	return 0;
}

/* Merges the workers' samples, sorted, into *out. */
static int workers_merge(struct cb_worker *ws, unsigned n, uint32_t **out, size_t *len)
{
	size_t total = 0, at = 0;
	uint32_t *all;

	for (unsigned i = 0; i < n; i++)
		total += ws[i].n_samples;
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		memcpy(all + at, ws[i].samples, ws[i].n_samples * sizeof(*all));
		at += ws[i].n_samples;
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	*out = all;
	*len = total;
	return 0;
}

static int report_errors(const char *what, struct cb_worker *ws, unsigned n,
			 unsigned long long ok, unsigned long long errors)
{
	if (errors) {
		for (unsigned i = 0; i < n; i++)
			if (ws[i].errors) {
				log_warn("%s: %llu of %llu requests failed, first: %s", what, errors,
					 ok + errors, strerror(ws[i].first_error));
				break;
			}
	}
	if (!ok) {
		log_error("%s: no request succeeded", what);
		return 1;
	}
	return errors * 100 > ok + errors ? 1 : 0;
}

static int cmd_rate(const struct cb_opts *o)
{
	struct cb_worker ws[CB_MAX_THREADS];
	pthread_t tids[CB_MAX_THREADS];
	_cleanup_free_ uint32_t *all = NULL;
	unsigned long long t0, elapsed, ok = 0, errors = 0;
	size_t n_all = 0;
	int r, status;

	r = workers_alloc(ws, o->workers, o, CB_MAX_SAMPLES / 4);
	if (r < 0) {
		log_error("rate: %s", strerror(-r));
		return 1;
	}
	t0 = now_ns();
	for (unsigned i = 0; i < o->workers; i++) {
		ws[i].deadline_ns = t0 + (unsigned long long)(o->duration_s * 1e9);
		r = pthread_create(&tids[i], NULL, rate_thread, &ws[i]);
		if (r) {
			log_error("rate: cannot start a thread: %s", strerror(r));
			return 1;
		}
	}
	for (unsigned i = 0; i < o->workers; i++)
		pthread_join(tids[i], NULL);
	elapsed = now_ns() - t0;
	for (unsigned i = 0; i < o->workers; i++)
		ok += ws[i].ok, errors += ws[i].errors;
	r = workers_merge(ws, o->workers, &all, &n_all);
	for (unsigned i = 0; i < o->workers; i++)
		free(ws[i].samples);
	if (r < 0) {
		log_error("rate: %s", strerror(-r));
		return 1;
	}
	status = report_errors("rate", ws, o->workers, ok, errors);
	printf("rate conns=%llu errors=%llu seconds=%.3f per_sec=%.1f p50_us=%" PRIu32
	       " p99_us=%" PRIu32 "\n",
	       ok, errors, (double)elapsed / 1e9, (double)ok * 1e9 / (double)elapsed,
	       quantile(all, n_all, 0.50), quantile(all, n_all, 0.99));
	return status;
}

static int cmd_latency(const struct cb_opts *o)
{
	struct cb_worker w;
	_cleanup_free_ uint32_t *all = NULL;
	_cleanup_close_ int fd = -1;
	unsigned long long deadline;
	size_t n_all = 0;
	int r, status;

	fd = client_connect(&o->targets[0], o->timeout_ms);
	if (fd < 0) {
		log_error("latency: cannot connect: %s", strerror(-fd));
		return 1;
	}
	for (unsigned i = 0; i < o->warmup; i++)
		if (write_all(fd, "K\n", 2) < 0 || read_reply(fd) < 0) {
			log_error("latency: warmup request %u failed: %m", i);
			return 1;
		}
	r = workers_alloc(&w, 1, o, CB_MAX_SAMPLES);
	if (r < 0) {
		log_error("latency: %s", strerror(-r));
		return 1;
	}
	deadline = now_ns() + (unsigned long long)(o->duration_s * 1e9);
	while (now_ns() < deadline) {
		unsigned long long t0 = now_ns();

		r = write_all(fd, "K\n", 2);
		if (r == 0)
			r = read_reply(fd);
		worker_record(&w, t0, r);
		if (r < 0)
			break; /* the one connection is gone */
	}
	r = workers_merge(&w, 1, &all, &n_all);
	free(w.samples);
	if (r < 0) {
		log_error("latency: %s", strerror(-r));
		return 1;
	}
	status = report_errors("latency", &w, 1, w.ok, w.errors);
	printf("latency requests=%llu errors=%llu p50_us=%" PRIu32 " p99_us=%" PRIu32
	       " p999_us=%" PRIu32 "\n",
	       w.ok, w.errors, quantile(all, n_all, 0.50), quantile(all, n_all, 0.99),
	       quantile(all, n_all, 0.999));
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "random", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cb_opts o = { .port = 8080, .duration_s = 5, .workers = 4, .timeout_ms = 2000,
			     .warmup = 100 };
	const char *cmd;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	int c;

	log_init("conn-bench", LOG_LEVEL_INFO);
	o.threads = cpus > 0 && cpus < CB_MAX_THREADS ? (unsigned)cpus : 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_uint("--port", optarg, 1, 65535, &o.port) < 0)
				return 2;
			break;
		case 't':
			if (parse_uint("--threads", optarg, 1, CB_MAX_THREADS, &o.threads) < 0)
				return 2;
			break;
		case 'w':
			if (parse_uint("--workers", optarg, 1, CB_MAX_THREADS, &o.workers) < 0)
				return 2;
			break;
		case 'T':
			if (parse_uint("--timeout-ms", optarg, 1, 600000, &o.timeout_ms) < 0)
				return 2;
			break;
		case 'W':
			if (parse_uint("--warmup", optarg, 0, 1000000, &o.warmup) < 0)
				return 2;
			break;
		case 'd':
			errno = 0;
			o.duration_s = strtod(optarg, &end);
			if (errno || *end || !*optarg || !(o.duration_s > 0 && o.duration_s <= 3600)) {
				log_error("--duration: expected seconds from 0 to 3600, got '%s'", optarg);
				return 2;
			}
			break;
		case 'r':
			o.random = true;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind >= argc) {
		log_error("missing command: serve, rate or latency");
		return usage(stderr, 2);
	}
	cmd = argv[optind++];
	for (; optind < argc; optind++) {
		if (streq(cmd, "serve")) {
			log_error("serve: unexpected argument '%s'", argv[optind]);
			return 2;
		}
		if (o.n_targets == CB_MAX_TARGETS) {
			log_error("TARGET: at most %d", CB_MAX_TARGETS);
			return 2;
		}
		if (parse_target(argv[optind], &o.targets[o.n_targets]) < 0) {
			log_error("TARGET: expected ADDR:PORT or [IPv6]:PORT, got '%s'", argv[optind]);
			return 2;
		}
		o.n_targets++;
	}
	signal(SIGPIPE, SIG_IGN);
	if (streq(cmd, "serve"))
		return cmd_serve(&o);
	if (!streq(cmd, "rate") && !streq(cmd, "latency")) {
		log_error("unknown command '%s' (serve, rate, latency)", cmd);
		return 2;
	}
	if (!o.n_targets) {
		log_error("%s: missing TARGET", cmd);
		return 2;
	}
	if (streq(cmd, "latency") && o.n_targets != 1) {
		log_error("latency: exactly one TARGET");
		return 2;
	}
	return streq(cmd, "rate") ? cmd_rate(&o) : cmd_latency(&o);
}
