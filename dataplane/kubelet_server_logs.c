/* GET /containerLogs/NS/POD/CONTAINER: a container's log from the CRI log
 * file the runtime writes (/var/log/pods/NS_NAME_UID/CONTAINER/N.log, one
 * file per attempt N), in the CRI log format, one record a line:
 *
 *   2026-12-07T08:51:21.123456789Z stdout F the message
 *
 * TIMESTAMP (RFC 3339, nanoseconds) STREAM (stdout|stderr) TAG (F: the
 * line ends here; P: a partial line, joined with the records after it up
 * to the F) MESSAGE. Query: follow, previous, tailLines, sinceSeconds,
 * sinceTime, timestamps, limitBytes, as the kubelet reads them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/kubelet_server_int.h"
#include "lib/kube_param.h"
#include "lib/log.h"
#include "lib/util.h"

#define LOG_FILE_MAX (256u << 20)
#define FOLLOW_CHECK_MS 1000
#define ROTATE_WAIT_MS 2000 /* at most, for the runtime to close a rotated log */

struct log_opts {
	bool follow, previous, timestamps;
	long long tail;     /* -1: every line */
	long long since_ns; /* 0: from the start */
	long long limit;    /* -1: no limit */
};

/* The logical line being assembled and where output stands. */
struct log_out {
	struct tls_stream *c;
	const struct log_opts *o;
	long long skip;    /* logical lines still to drop (tail) */
	long long written;
	char *line;        /* timestamp " " message of a line in progress */
	size_t len, cap;
	long long line_ns;
	bool in_line;
	bool full;         /* limitBytes reached or the client is gone */
	char out[65536];   /* written in TLS records of up to this much */
	size_t out_len;
};

/* RFC 3339 with optional fraction and zone -> ns since the epoch; -1 when
 * it does not parse. */
static long long parse_time(const char *s, size_t n)
{
	char buf[64], *p;
	struct tm tm = { 0 };
	long long ns = 0, scale = 100000000;
	int off = 0;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ns += (*p - '0') * scale;
	if (*p == '+' || *p == '-') {
		int h, m;

		if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
			return -1;
		off = (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
	} else if (*p != 'Z') {
		return -1;
	}
	return ((long long)timegm(&tm) - off) * 1000000000LL + ns;
}

/* Sends what is buffered; a client gone ends the output. */
static void out_flush(struct log_out *w)
{
	if (w->out_len && tls_stream_write_all(w->c, w->out, w->out_len) < 0)
		w->full = true;
	w->out_len = 0;
}

static void out_write(struct log_out *w, const char *p, size_t n)
{
	if (w->full)
		return;
	if (w->o->limit >= 0 && w->written + (long long)n > w->o->limit) {
		n = (size_t)(w->o->limit - w->written);
		w->full = true;
	}
	w->written += (long long)n;
	if (w->out_len + n > sizeof(w->out))
		out_flush(w);
	if (n > sizeof(w->out)) {
		if (tls_stream_write_all(w->c, p, n) < 0)
			w->full = true;
		return;
	}
	memcpy(w->out + w->out_len, p, n);
	w->out_len += n;
}

static int line_add(struct log_out *w, const char *p, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = (w->len + n + 1) * 2;
		char *b = realloc(w->line, cap);

		if (!b)
			return -ENOMEM;
		w->line = b;
		w->cap = cap;
	}
	memcpy(w->line + w->len, p, n);
	w->len += n;
	return 0;
}

/* One record (without its newline). Joins partial records; a finished
 * line is written unless tail or since drop it. */
static int record(struct log_out *w, const char *rec, size_t n)
{
	const char *ts = rec, *sp1, *sp2, *sp3, *end = rec + n;
	bool partial;

	sp1 = memchr(rec, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp2)
		return 0; /* not a CRI record: skipped, as the kubelet does */
	sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1));
	if (!sp3)
		sp3 = end; /* an empty message */
	partial = sp3 - sp2 - 1 >= 1 && sp2[1] == 'P';
	if (!w->in_line) {
		w->in_line = true;
		w->len = 0;
		w->line_ns = parse_time(ts, (size_t)(sp1 - ts));
		if (w->o->timestamps && (line_add(w, ts, (size_t)(sp1 - ts)) < 0 || line_add(w, " ", 1) < 0))
			return -ENOMEM;
	}
	if (sp3 < end && line_add(w, sp3 + 1, (size_t)(end - sp3 - 1)) < 0)
		return -ENOMEM;
	if (partial)
		return 0;
	w->in_line = false;
	if (line_add(w, "\n", 1) < 0)
		return -ENOMEM;
	if (w->skip > 0) {
		w->skip--;
		return 0;
	}
	if (w->o->since_ns && w->line_ns >= 0 && w->line_ns < w->o->since_ns)
		return 0;
	out_write(w, w->line, w->len);
	return 0;
}

/* The complete records of buf[0..n); the bytes used (a trailing record
 * without its newline is left for later). */
static size_t records(struct log_out *w, const char *buf, size_t n)
{
	size_t used = 0;

	while (used < n && !w->full) {
		const char *nl = memchr(buf + used, '\n', n - used);

		if (!nl)
			break;
		if (record(w, buf + used, (size_t)(nl - buf - used)) < 0)
			w->full = true;
		used = (size_t)(nl - buf) + 1;
	}
	out_flush(w);
	return used;
}

/* How many complete logical lines buf holds (F records). */
static long long count_lines(const char *buf, size_t n)
{
	long long lines = 0;

	for (const char *p = buf, *end = buf + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp1, *sp2;

		if (!nl)
			break;
		sp1 = memchr(p, ' ', (size_t)(nl - p));
		sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
		if (sp2 && sp2 + 1 < nl && sp2[1] != 'P')
			lines++;
		p = nl + 1;
	}
	return lines;
}

/* ---- which file ---- */

/* The attempt number of DIR/N.log, or -1. */
static long attempt_of(const char *name)
{
	char *end;
	long n = strtol(name, &end, 10);

	return end != name && streq(end, ".log") && n >= 0 ? n : -1;
}

/* The file of the attempt before path's in its folder (previous). */
static int previous_file(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	long cur = attempt_of(slash ? slash + 1 : path), best = -1;
	DIR *d;
	struct dirent *e;

	if (!slash || cur < 0)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		long a = attempt_of(e->d_name);

		if (a >= 0 && a < cur && a > best)
			best = a;
	}
	closedir(d);
	if (best < 0)
		return -ENOENT;
	return (size_t)snprintf(out, len, "%s/%ld.log", dir, best) >= len ? -ENAMETOOLONG : 0;
}

static int parse_opts(struct kl_req *q, struct log_opts *o)
{
	const char *v;
	int64_t n;

	*o = (struct log_opts){ .tail = -1, .limit = -1 };
	o->follow = kl_param_true(q, "follow");
	o->previous = kl_param_true(q, "previous");
	o->timestamps = kl_param_true(q, "timestamps");
	if ((v = kl_param(q, "tailLines")) && (kube_param_int64(v, &n) < 0 || (o->tail = n) < 0))
		return -EINVAL;
	if ((v = kl_param(q, "limitBytes")) && (kube_param_int64(v, &n) < 0 || (o->limit = n) <= 0))
		return -EINVAL;
	if ((v = kl_param(q, "sinceSeconds"))) {
		struct timespec now;
		int64_t s;

		if (kube_param_int64(v, &s) < 0 || s <= 0)
			return -EINVAL;
		clock_gettime(CLOCK_REALTIME, &now);
		o->since_ns = (now.tv_sec - s) * 1000000000LL + now.tv_nsec;
	}
	if ((v = kl_param(q, "sinceTime")) && (o->since_ns = parse_time(v, strlen(v))) < 0)
		return -EINVAL;
	if (o->previous)
		o->follow = false;
	return 0;
}

/* The container's id and current log file. */
static int locate(struct kl_req *q, struct cri_client *c, const char *ns, const char *pod,
		  const char *container, char *id, size_t idlen, char *path, size_t plen)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;
	int r = kl_find_container(c, ns, pod, container, false, id, idlen);

	if (r == -ENOENT)
		return kl_reply_status(q, 404, "NotFound", "container \"%s\" in pod \"%s/%s\" not found",
				       container, ns, pod);
	if (r < 0 || (r = cri_container_status(c, id, false, &st)) < 0)
		return kl_reply_status(q, 500, "InternalError", "cannot read container \"%s\" of pod "
				       "\"%s/%s\" through CRI: %s", container, ns, pod, strerror(-r));
	r = st->status->log_path && *st->status->log_path ?
		    strscpy(path, st->status->log_path, plen) : -ENOENT;
	cri_msg_free(st);
	if (r < 0)
		return kl_reply_status(q, 400, "BadRequest", "container \"%s\" in pod \"%s/%s\" has no "
				       "log file", container, ns, pod);
	return 0;
}

static bool running(struct cri_client *c, const char *id)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;
	bool run;

	if (cri_container_status(c, id, false, &st) < 0)
		return false;
	run = st->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	cri_msg_free(st);
	return run;
}

/* ---- follow ---- */

/* Reads what was appended to fd since *off and writes its records;
 * pending holds a record not yet ended. */
static int drain(int fd, struct log_out *w, char **pending, size_t *plen)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = realloc(*pending, *plen + (size_t)n);
		size_t used;

		if (!p)
			return -ENOMEM;
		memcpy(p + *plen, buf, (size_t)n);
		*pending = p;
		*plen += (size_t)n;
		used = records(w, *pending, *plen);
		memmove(*pending, *pending + used, *plen - used);
		*plen -= used;
	}
	return n < 0 ? -errno : 0;
}

/* The log at path is another file than the one open at fd: the kubelet
 * rotated it and the runtime writes a new one (kubelet_logrotate.c). The
 * new file, open, or -1 while there is none (mid-rotation) or no change. */
static int rotated(const char *path, int fd)
{
	struct stat a, b;

	if (stat(path, &a) < 0 || fstat(fd, &b) < 0 || (a.st_ino == b.st_ino && a.st_dev == b.st_dev))
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The inotify events waiting on in: whether one says wd was closed by a
 * writer. */
static bool events_close(int in, int wd)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool closed = false;
	ssize_t n;

	while ((n = read(in, ev, sizeof(ev))) > 0)
		for (char *p = ev; p < ev + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			closed |= e->wd == wd && (e->mask & IN_CLOSE_WRITE);
			p += sizeof(*e) + e->len;
		}
	return closed;
}

/* A follow of one file, and of the next once the log is rotated. */
struct follow_state {
	int in, wd;        /* inotify, and the watch of the file read */
	int next;          /* the new file at path, open, until the old one ends */
	bool old_closed;   /* the runtime closed the file read (it reopened the log) */
	unsigned long long since; /* when next was found */
};

/* The runtime creates the new file before it stops writing to the old
 * one: the old one is read to its end (the runtime closed it, or after
 * ROTATE_WAIT_MS) before the new one. 1 when the follow moved on. */
static int follow_rotation(struct follow_state *f, const char *path, int *fd)
{
	if (f->next < 0) {
		f->next = rotated(path, *fd);
		if (f->next < 0)
			return 0;
		f->since = now_ns();
	}
	if (!f->old_closed && now_ns() - f->since < ROTATE_WAIT_MS * 1000000ULL)
		return 0;
	inotify_rm_watch(f->in, f->wd);
	f->wd = inotify_add_watch(f->in, path, IN_MODIFY | IN_CLOSE_WRITE);
	close(*fd);
	*fd = f->next;
	f->next = -1;
	f->old_closed = false;
	return f->wd < 0 ? -errno : 1;
}

/* Writes what is appended to the file until the container stops or the
 * client leaves; when the log is rotated, the old file is read to its end
 * and the new one from its start. */
static void follow(struct kl_req *q, struct cri_client *c, const char *id, const char *path,
		   int *fd, struct log_out *w)
{
	struct follow_state f = { .in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), .next = -1 };
	_cleanup_free_ char *pending = NULL;
	size_t plen = 0;
	bool stopped = false;
	int r = 0;

	if (f.in < 0 || (f.wd = inotify_add_watch(f.in, path, IN_MODIFY | IN_CLOSE_WRITE)) < 0)
		goto out;
	while (!w->full && !stopped && r >= 0) {
		struct pollfd p[2] = { { .fd = f.in, .events = POLLIN },
				       { .fd = q->client->fd, .events = POLLIN | POLLRDHUP } };

		r = poll(p, 2, f.next >= 0 ? 100 : FOLLOW_CHECK_MS);
		if (r < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break; /* the client sends nothing more: it left */
		if (p[0].revents)
			f.old_closed |= events_close(f.in, f.wd);
		else if (f.next < 0)
			stopped = !running(c, id);
		r = drain(*fd, w, &pending, &plen);
		if (r == 0 && (r = follow_rotation(&f, path, fd)) == 1) {
			stopped = false;
			plen = 0; /* a record the old file did not end is not continued */
			r = drain(*fd, w, &pending, &plen);
		}
	}
out:
	if (f.next >= 0)
		close(f.next);
	if (f.in >= 0)
		close(f.in);
}

int kl_serve_logs(struct kl_req *q, const char *ns, const char *pod, const char *container)
{
	struct cri_client *c = NULL;
	struct log_opts o;
	struct log_out w = { .c = q->client, .o = &o };
	char id[128], path[PATH_MAX], prev[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0, used;
	int r;

	if (parse_opts(q, &o) < 0)
		return kl_reply_status(q, 400, "BadRequest", "invalid log options: %s", q->raw_query);
	r = cri_client_new(q->cfg->cri_endpoint, 30000, &c);
	if (r < 0)
		return kl_reply_status(q, 500, "InternalError", "cannot reach the runtime at %s: %s",
				       q->cfg->cri_endpoint, strerror(-r));
	r = locate(q, c, ns, pod, container, id, sizeof(id), path, sizeof(path));
	if (r < 0)
		goto out;
	if (o.previous && previous_file(path, prev, sizeof(prev)) < 0) {
		r = kl_reply_status(q, 400, "BadRequest",
				    "previous terminated container \"%s\" in pod \"%s\" not found",
				    container, pod);
		goto out;
	}
	fd = open(o.previous ? prev : path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (r = read_all(fd, LOG_FILE_MAX, &buf, &len)) < 0) {
		r = kl_reply_status(q, 500, "InternalError", "cannot read the log of container \"%s\" "
				    "in pod \"%s/%s\": %s", container, ns, pod, strerror(errno));
		goto out;
	}
	/* read_all stopped at the end: what is appended later is read from
	 * the same offset. */
	if (o.tail >= 0)
		w.skip = count_lines(buf, len) - o.tail;
	r = tls_stream_printf(q->client, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			      "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
	if (r < 0)
		goto out;
	used = records(&w, buf, len);
	if (o.follow && !w.full) {
		/* A record not yet ended is read again with what follows it. */
		lseek(fd, (off_t)used, SEEK_SET);
		follow(q, c, id, path, &fd, &w);
	}
	log_debug("kubelet: log of %s/%s/%s: %lld bytes", ns, pod, container, w.written);
out:
	free(w.line);
	cri_client_free(c);
	return r;
}
