/* fanout-floor: the kernel's own cost of a watch fan-out, the floor under
 * any server's watch delivery on this machine (issue 15; bench_server.sh
 * runs it beside skiff-server and etcd).
 *
 * Opens --conns TCP connections over 127.0.0.1 (a listener of its own),
 * then forks: the parent keeps the accepted sockets and is the sender, the
 * child keeps the client sockets and is the receiver, so CPU is split as
 * between a server and server-bench's watch client. Every --interval-ms
 * the sender takes a timestamp t0 and writes one message of --msg-bytes
 * (an event of about a 2 KiB pod in HTTP chunked framing, carrying the
 * event number) to every connection, one plain send() per connection,
 * the connections spread over --senders threads. The receiver (--receivers
 * threads, each with an epoll set over its share) reads and notes when each
 * connection has a whole message. Latency = receive time - t0, over
 * conns x events deliveries; one warm-up event before is not counted. No
 * HTTP, JSON or store: what is left is what every server pays.
 *
 * Output, one line in server-bench's form (bench_server.sh reads it):
 *   LABEL watch-delivery n= p50_us= p99_us= max_us= [more fields]
 * server_cpu_ms / client_cpu_ms are the sender's and the receiver's CPU
 * over the measured events (on loopback the receiving TCP stack runs in
 * the sender's send()); others_cpus what other work on the machine took
 * meanwhile (a disturbed run says so). Exit 1 when a connection fails or a message is
 * missing or out of order; 2 on bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "lib/opts.h"
#include "lib/util.h"

#define HDR_KEEP 48	/* bytes of a message's start kept to read its number */
#define SEQ_TAG "{\"seq\":"

struct opts {
	const char *label;
	size_t conns, events, msg_bytes, senders, receivers;
	uint32_t interval_ms, timeout_s;
	uint16_t port;
	bool nodelay, help;
};

/* What the receiver hands back to the sender, in memory both share. */
struct shared {
	_Atomic bool measuring;		/* the sender is past the warm-up */
	unsigned long long cpu_ns;	/* receiver CPU over the measured events */
	int status;			/* 0, or a negative errno */
	char err[160];
	unsigned long long recv[];	/* recv[c * events + seq - 1], ns */
};

struct floor {
	struct opts o;
	int *snd, *rcv;		/* accepted (sender) and client (receiver) sockets */
	char *msg;		/* the message, its number rewritten per event */
	size_t seq_at;		/* offset of the number in msg */
	struct shared *sh;
	size_t sh_size;
	pthread_barrier_t go, done;
	_Atomic size_t stalls;	/* sends that found a full socket buffer */
	unsigned long long busy0, wall0; /* machine's busy CPU and time at event 1 */
	_Atomic bool quit;
};

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return (x > y) - (x < y);
}

/* CPU time in ns of this process (all threads) or this thread. */
static unsigned long long cpu_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* CPU time in ns the whole machine spent busy (a VM's steal included),
 * from /proc/stat: less this run's own, what other work took. */
static unsigned long long busy_ns(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = { 0 };

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			 &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return 0;
	/* user nice system idle iowait irq softirq steal */
	return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000000000ULL /
	       (unsigned long long)sysconf(_SC_CLK_TCK);
}

/* Share k of n parts of [0, total): [*from, *to). */
static void share(size_t total, size_t n, size_t k, size_t *from, size_t *to)
{
	*from = total * k / n;
	*to = total * (k + 1) / n;
}

/* One event as a watch stream sends it, msg_bytes in all: an HTTP chunk
 * whose size is written as 6 zero-padded hex digits, holding one JSON
 * line with the event's number (8 digits) and a padding string of 'x'
 * characters up to the size. */
static int message_new(struct floor *f)
{
	size_t m = f->o.msg_bytes;
	int n;

	f->msg = malloc(m);
	if (!f->msg)
		return -ENOMEM;
	memset(f->msg, 'x', m);
	n = snprintf(f->msg, m, "%06zx\r\n" SEQ_TAG "%08u,\"pad\":\"", m - 10, 0u);
	f->seq_at = (size_t)n - strlen("00000000,\"pad\":\"");
	memcpy(f->msg + m - 5, "\"}\n\r\n", 5);
	return 0;
}

static void message_number(struct floor *f, size_t seq)
{
	char num[24];

	snprintf(num, sizeof(num), "%08zu", seq % 100000000);
	memcpy(f->msg + f->seq_at, num, 8);
}

/* Says what went wrong to the sender (which prints it) and returns r. */
static int receiver_fail(struct floor *f, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int receiver_fail(struct floor *f, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->sh->err, sizeof(f->sh->err), fmt, ap);
	va_end(ap);
	return r;
}

/* The listener on 127.0.0.1 (--port, or one the kernel picks); *a is
 * its address. The backlog as deep as the connections: the receiver
 * connects while the sender accepts. */
static int listen_on(struct floor *f, struct sockaddr_in *a)
{
	socklen_t alen = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	*a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = htons(f->o.port) };
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)a, sizeof(*a)) < 0 || listen(l, (int)f->o.conns) < 0 ||
	    getsockname(l, (struct sockaddr *)a, &alen) < 0) {
		int r = -errno;

		fprintf(stderr, "fanout-floor: listen on 127.0.0.1:%u: %m\n", f->o.port);
		if (l >= 0)
			close(l);
		return r;
	}
	return l;
}

/* The sender's side: --conns accepted sockets, nonblocking; stops when
 * the receiver's end of `child` closes (it failed). */
static int accept_all(struct floor *f, int l, int child)
{
	int one = 1;

	for (size_t i = 0; i < f->o.conns; i++) {
		struct pollfd p[2] = { { .fd = l, .events = POLLIN }, { .fd = child, .events = POLLIN } };

		if (poll(p, 2, (int)f->o.timeout_s * 1000) <= 0 || !(p[0].revents & POLLIN))
			return -ECHILD;
		f->snd[i] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (f->snd[i] < 0) {
			fprintf(stderr, "fanout-floor: accept %zu of %zu: %m\n", i, f->o.conns);
			return -errno;
		}
		if (f->o.nodelay && setsockopt(f->snd[i], IPPROTO_TCP, TCP_NODELAY, &one,
					       sizeof(one)) < 0)
			return -errno;
	}
	return 0;
}

/* The receiver's side: --conns connections to a, then nonblocking. */
static int connect_all(struct floor *f, const struct sockaddr_in *a)
{
	for (size_t i = 0; i < f->o.conns; i++) {
		f->rcv[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->rcv[i] < 0 || connect(f->rcv[i], (const struct sockaddr *)a, sizeof(*a)) < 0 ||
		    fcntl(f->rcv[i], F_SETFL, O_NONBLOCK) < 0)
			return receiver_fail(f, -errno, "connection %zu of %zu: %s", i, f->o.conns,
					     strerror(errno));
	}
	return 0;
}

/* One send() of the whole message; a full socket buffer (a receiver
 * behind) is waited out with poll, as a server's event loop would. */
static int send_one(struct floor *f, int fd)
{
	size_t off = 0, m = f->o.msg_bytes;

	while (off < m) {
		ssize_t n = send(fd, f->msg + off, m - off, MSG_NOSIGNAL);
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		atomic_fetch_add(&f->stalls, 1);
		if (poll(&p, 1, (int)f->o.timeout_s * 1000) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

struct sender {
	struct floor *f;
	size_t from, to;
	int r;
};

static int send_share(struct sender *s)
{
	for (size_t i = s->from; i < s->to; i++) {
		int r = send_one(s->f, s->f->snd[i]);

		if (r < 0) {
			fprintf(stderr, "fanout-floor: send on connection %zu: %s\n", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Sender threads 1..S-1: one share per event, between the two barriers. */
static void *sender_loop(void *cls)
{
	struct sender *s = cls;

	for (;;) {
		pthread_barrier_wait(&s->f->go);
		if (atomic_load(&s->f->quit))
			return NULL;
		if (s->r == 0)
			s->r = send_share(s);
		pthread_barrier_wait(&s->f->done);
	}
}

/* The events, --interval-ms apart from the warm-up (seq 0) on: t0[seq]
 * before the first send, pass[seq] the whole fan-out's duration; *cpu
 * the sender's CPU (ns) over events 1..E. */
static int sender_run(struct floor *f, unsigned long long *t0, unsigned long long *pass,
		      unsigned long long *cpu)
{
	size_t ns = f->o.senders, started = 1;
	_cleanup_free_ struct sender *s = calloc(ns, sizeof(*s));
	_cleanup_free_ pthread_t *th = calloc(ns, sizeof(*th));
	unsigned long long start = now_ns(), cpu0 = 0;
	int r = 0;

	if (!s || !th)
		return -ENOMEM;
	pthread_barrier_init(&f->go, NULL, (unsigned)ns);
	pthread_barrier_init(&f->done, NULL, (unsigned)ns);
	for (size_t k = 0; k < ns; k++) {
		s[k] = (struct sender){ .f = f };
		share(f->o.conns, ns, k, &s[k].from, &s[k].to);
	}
	for (; started < ns; started++)
		if (pthread_create(&th[started], NULL, sender_loop, &s[started]) != 0)
			break;
	/* Those started wait at a barrier that never fills: main() exits. */
	if (started < ns)
		return -EAGAIN;
	for (size_t seq = 0; seq <= f->o.events && r == 0; seq++) {
		unsigned long long at = start + seq * f->o.interval_ms * 1000000ULL;
		struct timespec ts = { (time_t)(at / 1000000000ULL), (long)(at % 1000000000ULL) };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		if (seq == 1) {
			cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
			f->busy0 = busy_ns();
			f->wall0 = now_ns();
			atomic_store(&f->sh->measuring, true);
		}
		message_number(f, seq);
		t0[seq] = now_ns();
		pthread_barrier_wait(&f->go);
		r = send_share(&s[0]);
		pthread_barrier_wait(&f->done);
		pass[seq] = now_ns() - t0[seq];
		for (size_t k = 1; k < ns && r == 0; k++)
			r = s[k].r;
	}
	*cpu = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	atomic_store(&f->quit, true);
	pthread_barrier_wait(&f->go);
	for (size_t k = 1; k < ns; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&f->go);
	pthread_barrier_destroy(&f->done);
	return r;
}

/* Receiver: per connection, how far into the current message it is and
 * which event comes next. */
struct rconn {
	unsigned off, next;
	char hdr[HDR_KEEP];
};

struct receiver {
	struct floor *f;
	struct rconn *c;	/* indexed by connection */
	size_t from, to, left;	/* messages still to come */
	int ep;
	unsigned long long cpu0, cpu_ns; /* thread CPU from the first measured event */
	bool measuring;
	char buf[65536];
};

/* n bytes of connection i read at time t: each message completed is
 * checked (its number, in order) and its time noted. */
static int consume(struct receiver *rv, size_t i, const char *p, size_t n,
		   unsigned long long t)
{
	struct floor *f = rv->f;
	struct rconn *c = &rv->c[i];
	size_t m = f->o.msg_bytes;

	while (n) {
		size_t take = m - c->off < n ? m - c->off : n;
		const char *tag;

		if (c->off < HDR_KEEP - 1)
			memcpy(c->hdr + c->off, p,
			       take < HDR_KEEP - 1 - c->off ? take : HDR_KEEP - 1 - c->off);
		c->off += (unsigned)take;
		p += take;
		n -= take;
		if (c->off < m)
			continue;
		tag = strstr(c->hdr, SEQ_TAG);
		if (!tag || (unsigned)atoi(tag + strlen(SEQ_TAG)) != c->next)
			return receiver_fail(rv->f, -EPROTO, "connection %zu: event %u where %u was due",
					     i, tag ? (unsigned)atoi(tag + strlen(SEQ_TAG)) : 0,
					     c->next);
		if (c->next > 0)
			f->sh->recv[i * f->o.events + c->next - 1] = t;
		c->next++;
		c->off = 0;
		memset(c->hdr, 0, sizeof(c->hdr));
		rv->left--;
	}
	return 0;
}

/* Reads connection i until the socket is empty. */
static int drain(struct receiver *rv, size_t i)
{
	for (;;) {
		ssize_t n = recv(rv->f->rcv[i], rv->buf, sizeof(rv->buf), 0);
		int r;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		/* The sender closes when it is done: the end, after every event. */
		if (n == 0 && rv->c[i].next > rv->f->o.events)
			return epoll_ctl(rv->ep, EPOLL_CTL_DEL, rv->f->rcv[i], NULL) < 0 ? -errno : 0;
		if (n <= 0)
			return receiver_fail(rv->f, n < 0 ? -errno : -ECONNRESET,
					     "connection %zu: %s before event %u", i,
					     n < 0 ? strerror(errno) : "closed", rv->c[i].next);
		r = consume(rv, i, rv->buf, (size_t)n, now_ns());
		if (r < 0 || (size_t)n < sizeof(rv->buf))
			return r;
	}
}

static void *receiver_loop(void *cls)
{
	struct receiver *rv = cls;
	struct floor *f = rv->f;
	unsigned long long end = now_ns() + ((f->o.events + 1) * f->o.interval_ms +
					     f->o.timeout_s * 1000ULL) * 1000000ULL;
	struct epoll_event ev[512];
	int r = 0;

	while (rv->left && r == 0) {
		int n = epoll_wait(rv->ep, ev, (int)ARRAY_SIZE(ev), 1000);

		if (!rv->measuring && atomic_load(&f->sh->measuring)) {
			rv->measuring = true;
			rv->cpu0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		}
		if (n < 0 && errno != EINTR)
			r = -errno;
		for (int k = 0; k < n && r == 0; k++)
			r = drain(rv, ev[k].data.u32);
		if (r == 0 && now_ns() > end)
			r = receiver_fail(rv->f, -ETIMEDOUT, "timed out: %zu messages missing",
					  rv->left);
	}
	if (r < 0 && !f->sh->status)
		f->sh->status = r;
	rv->cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - rv->cpu0;
	return NULL;
}

/* The child: every client socket in --receivers epoll sets, a byte on
 * `ready` once they are, then reads until every message came. */
static int receiver_run(struct floor *f, int ready)
{
	size_t nr = f->o.receivers, started = 1;
	_cleanup_free_ struct receiver *rv = calloc(nr, sizeof(*rv));
	_cleanup_free_ struct rconn *c = calloc(f->o.conns, sizeof(*c));
	_cleanup_free_ pthread_t *th = calloc(nr, sizeof(*th));

	if (!rv || !c || !th)
		return -ENOMEM;
	for (size_t k = 0; k < nr; k++) {
		rv[k] = (struct receiver){ .f = f, .c = c };
		share(f->o.conns, nr, k, &rv[k].from, &rv[k].to);
		rv[k].left = (rv[k].to - rv[k].from) * (f->o.events + 1);
		rv[k].ep = epoll_create1(EPOLL_CLOEXEC);
		if (rv[k].ep < 0)
			return -errno;
		for (size_t i = rv[k].from; i < rv[k].to; i++) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

			if (epoll_ctl(rv[k].ep, EPOLL_CTL_ADD, f->rcv[i], &ev) < 0)
				return -errno;
		}
	}
	if (write(ready, "r", 1) != 1)
		return -EPIPE;
	for (; started < nr; started++)
		if (pthread_create(&th[started], NULL, receiver_loop, &rv[started]) != 0)
			break;
	if (started < nr)
		f->sh->status = -EAGAIN;
	receiver_loop(&rv[0]);
	for (size_t k = 1; k < started; k++)
		pthread_join(th[k], NULL);
	for (size_t k = 0; k < nr; k++) {
		f->sh->cpu_ns += rv[k].cpu_ns;
		close(rv[k].ep);
	}
	return f->sh->status;
}

/* "load1=L runnable=R" before the run, from /proc/loadavg: the load
 * average lags (a server's 10,000 threads just gone still weigh on it),
 * the count of runnable threads does not. others_cpus is added after. */
static void load_now(char *out, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/loadavg", "re");
	double l1 = -1;
	int run = -1;

	if (!f || fscanf(f, "%lf %*f %*f %d/", &l1, &run) != 2)
		l1 = -1;
	snprintf(out, size, "load1=%.2f runnable=%d", l1, run);
}

/* LABEL watch-delivery n= p50_us= p99_us= max_us= and the rest; lat[]
 * = receive time - t0 of every delivery. */
static int report(const struct floor *f, const unsigned long long *t0, unsigned long long *lat,
		  unsigned long long *pass, unsigned long long snd_cpu, const char *load)
{
	size_t n = f->o.conns * f->o.events, e = f->o.events;
	double per = (double)n;

	for (size_t k = 0; k < n; k++) {
		if (f->sh->recv[k] < t0[k % e + 1]) {
			fprintf(stderr, "fanout-floor: connection %zu: event %zu not received\n",
				k / e, k % e + 1);
			return -EIO;
		}
		lat[k] = f->sh->recv[k] - t0[k % e + 1];
	}
	qsort(lat, n, sizeof(*lat), cmp_ull);
	qsort(pass + 1, e, sizeof(*pass), cmp_ull);
	printf("%s watch-delivery n=%zu p50_us=%llu p99_us=%llu max_us=%llu conns=%zu events=%zu "
	       "msg_bytes=%zu senders=%zu receivers=%zu nodelay=%d send_pass_min_us=%llu "
	       "send_pass_p50_us=%llu send_pass_max_us=%llu send_stalls=%zu server_cpu_ms=%llu client_cpu_ms=%llu "
	       "sender_cpu_ns_per_delivery=%.0f receiver_cpu_ns_per_delivery=%.0f "
	       "%s\n",
	       f->o.label, n, lat[n / 2] / 1000, lat[n * 99 / 100] / 1000, lat[n - 1] / 1000,
	       f->o.conns, e, f->o.msg_bytes, f->o.senders, f->o.receivers, f->o.nodelay,
	       pass[1] / 1000, pass[1 + e / 2] / 1000, pass[e] / 1000, (size_t)atomic_load(&f->stalls),
	       snd_cpu / 1000000ULL, f->sh->cpu_ns / 1000000ULL, (double)snd_cpu / per,
	       (double)f->sh->cpu_ns / per, load);
	fflush(stdout);
	return 0;
}

/* A descriptor per connection in each process, and some: the soft limit
 * raised up to the hard one (bench_server.sh raises both). */
static int raise_nofile(size_t conns)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < conns + 64 && rl.rlim_max >= conns + 64) {
		rl.rlim_cur = conns + 64;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	if (rl.rlim_cur >= conns + 64)
		return 0;
	fprintf(stderr, "fanout-floor: %zu connections need %zu descriptors per process; the "
		"limit is %llu (hard %llu)\n", conns, conns + 64, (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max);
	return -EMFILE;
}

#define OPT(field) offsetof(struct opts, field)
static const struct opt options[] = {
	{ "conns", 0, "N", "connections, i.e. watchers", "10000", opt_size, OPT(conns), 1, 1000000,
	  NULL },
	{ "events", 0, "N", "events, after one warm-up", "100", opt_size, OPT(events), 1, 100000, NULL },
	{ "interval-ms", 0, "N", "between events", "100", opt_u32, OPT(interval_ms), 0, 600000, NULL },
	{ "msg-bytes", 0, "N", "bytes per event and connection (2300: the watch event of a 2 KiB "
	  "pod in HTTP chunked framing)", "2300", opt_size, OPT(msg_bytes), 64, 1 << 20, NULL },
	{ "senders", 0, "N", "sending threads, each owning conns/N connections; 0: one per CPU",
	  "0", opt_size, OPT(senders), 0, 256, NULL },
	{ "receivers", 0, "N", "receiving threads, each with an epoll set", "1", opt_size,
	  OPT(receivers), 1, 256, NULL },
	{ "port", 0, "N", "the listener's port on 127.0.0.1; 0: any free", "0", opt_u16, OPT(port),
	  0, 65535, NULL },
	{ "nodelay", 0, NULL, "TCP_NODELAY on the sending sockets", NULL, opt_flag, OPT(nodelay),
	  0, 0, NULL },
	{ "timeout", 0, "SECS", "for the receiver, beyond the events' span", "60", opt_u32,
	  OPT(timeout_s), 1, 3600, NULL },
	{ "label", 0, "NAME", "first word of the output line", "floor", opt_string, OPT(label),
	  0, 0, NULL },
	{ "help", 'h', NULL, "this text", NULL, opt_flag, OPT(help), 0, 0, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: fanout-floor [OPTIONS]\n"
		"The kernel's floor under a watch fan-out: one message per event to every one\n"
		"of --conns loopback TCP connections (one send() each), sender and receiver in\n"
		"two processes; prints the delivery latency and each side's CPU.\n\n");
	opts_usage(f, options, ARRAY_SIZE(options));
}

/* Connected sockets, shared memory, fork; the child receives, this
 * process sends, then reports. */
static int run(struct floor *f)
{
	size_t e = f->o.events;
	_cleanup_free_ unsigned long long *t0 = calloc(e + 1, sizeof(*t0));
	_cleanup_free_ unsigned long long *pass = calloc(e + 1, sizeof(*pass));
	_cleanup_free_ unsigned long long *lat = calloc(f->o.conns * e, sizeof(*lat));
	unsigned long long snd_cpu = 0;
	char load[96];
	double others;
	struct sockaddr_in a;
	int pipefd[2], status = 0, l, r;
	pid_t pid;
	char c;

	load_now(load, sizeof(load));
	if (!t0 || !pass || !lat)
		return -ENOMEM;
	l = listen_on(f, &a);
	if (l < 0)
		return l;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pipefd[0]);
		close(l);
		r = connect_all(f, &a);
		if (r == 0)
			r = receiver_run(f, pipefd[1]);
		close_all(f->rcv, f->o.conns);
		_exit(r < 0 ? 1 : 0);
	}
	close(pipefd[1]);
	r = accept_all(f, l, pipefd[0]);
	close(l);
	if (r == 0)
		r = read(pipefd[0], &c, 1) == 1 ? sender_run(f, t0, pass, &snd_cpu) : -ECHILD;
	close(pipefd[0]);
	/* Closed, the sockets tell a receiver still waiting that nothing comes. */
	close_all(f->snd, f->o.conns);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	/* Other work on the machine while the events ran, in CPUs. */
	others = (double)(busy_ns() - f->busy0) - (double)snd_cpu - (double)f->sh->cpu_ns;
	snprintf(load + strlen(load), sizeof(load) - strlen(load), " others_cpus=%.2f",
		 others > 0 && f->wall0 ? others / (double)(now_ns() - f->wall0) : 0);
	if ((r == 0 || r == -ECHILD) && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		fprintf(stderr, "fanout-floor: receiver: %s\n",
			f->sh->err[0] ? f->sh->err : strerror(-f->sh->status));
		return -EIO;
	}
	if (r < 0)
		return r;
	return report(f, t0, lat, pass, snd_cpu, load);
}

int main(int argc, char **argv)
{
	struct floor f = { 0 };
	char err[256];
	int r;

	r = opts_parse(options, ARRAY_SIZE(options), argc, argv, &f.o, 0, err, sizeof(err));
	if (r >= 0 && r < argc) {
		snprintf(err, sizeof(err), "unexpected argument '%s'", argv[r]);
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "fanout-floor: %s\n", err);
		usage(stderr);
		return 2;
	}
	if (f.o.help) {
		usage(stdout);
		return 0;
	}
	if (!f.o.senders) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		f.o.senders = n > 0 ? (size_t)n : 1;
	}
	if (f.o.senders > f.o.conns)
		f.o.senders = f.o.conns;
	if (f.o.receivers > f.o.conns)
		f.o.receivers = f.o.conns;
	if (raise_nofile(f.o.conns) < 0)
		return 1;
	f.sh_size = sizeof(*f.sh) + f.o.conns * f.o.events * sizeof(f.sh->recv[0]);
	f.sh = mmap(NULL, f.sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	f.snd = malloc(f.o.conns * sizeof(int));
	f.rcv = malloc(f.o.conns * sizeof(int));
	if (f.sh == MAP_FAILED || !f.snd || !f.rcv || message_new(&f) < 0) {
		fprintf(stderr, "fanout-floor: out of memory\n");
		return 1;
	}
	memset(f.snd, -1, f.o.conns * sizeof(int));
	memset(f.rcv, -1, f.o.conns * sizeof(int));
	r = run(&f);
	if (r < 0 && r != -EIO)
		fprintf(stderr, "fanout-floor: %s\n", strerror(-r));
	close_all(f.snd, f.o.conns);
	close_all(f.rcv, f.o.conns);
	munmap(f.sh, f.sh_size);
	free(f.snd);
	free(f.rcv);
	free(f.msg);
	return r < 0 ? 1 : 0;
}
