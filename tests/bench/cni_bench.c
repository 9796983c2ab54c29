/* cni-bench: times CNI plugins the way a runtime calls them.
 *
 * Each call fork/execs the plugin (found by the config's "type" in
 * CNI_PATH, as runtimes do) with the CNI_* environment and the network
 * config on stdin, and is timed with CLOCK_MONOTONIC from before the spawn
 * to after the child is reaped. Two measurements per plugin (config):
 *
 *   sequential   N ADD/DEL pairs over a few reused pod namespaces, one
 *                unique container ID per iteration: ADD, DEL and ADD+DEL
 *                median and p99. With several configs the pairs are
 *                interleaved, one pair of each plugin per iteration, so
 *                they are measured side by side under the same load;
 *   concurrent   C ADDs started at once into C distinct namespaces: total
 *                wall time, every call must succeed and every returned
 *                address must be distinct; then C DELs, also at once.
 *
 * Output is one machine-readable line per plugin and measurement:
 *   seq config=FILE iterations=N ok=N failures=F add_p50_us=.. add_p99_us=..
 *       del_p50_us=.. del_p99_us=.. adddel_p50_us=.. adddel_p99_us=..
 *   conc config=FILE count=C failures=F addresses=A distinct=D
 *       add_total_us=.. del_total_us=.. del_failures=F
 * Failures are logged on stderr with the plugin's CNI error. Exit status:
 * 0 when every call succeeded and addresses were distinct, 1 otherwise,
 * 2 on bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

extern char **environ;

#define BENCH_MAX_NETNS 1024
#define BENCH_MAX_OUTPUT (1 << 20)
#define BENCH_MAX_CONFIG (1 << 20)
#define BENCH_MAX_PLUGINS 16

struct bench_opts {
	const char *config_paths[BENCH_MAX_PLUGINS];
	int n_configs;
	const char *cni_path;
	const char *ifname;
	const char *cni_args;
	const char *id_prefix;
	const char *netns[BENCH_MAX_NETNS];
	int n_netns;
	long iterations;
	long concurrency;
	long warmup;
	long timeout_s;
};

/* What every call of one plugin shares: the binary, its config, the
 * container ID prefix. */
struct bench_ctx {
	const struct bench_opts *opts;
	const char *config_path;
	char plugin[PATH_MAX];
	char *config;
	size_t config_len;
	char id_prefix[64];
};

/* One plugin invocation in flight or done. */
struct bench_call {
	pid_t pid;
	int out_fd;
	char *out;
	size_t out_len;
	size_t out_cap;
	int status;
	bool timed_out;
	unsigned long long start_ns;
	unsigned long long end_ns;
	char container_id[96];
	const char *netns;
};

static void bench_call_done(struct bench_call *c)
{
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
}

static int bench_find_plugin(const char *cni_path, const char *type, char *out, size_t size)
{
	_cleanup_free_ char *dirs = strdup(cni_path);
	char *save = NULL;

	if (!dirs)
		return -ENOMEM;
	if (strchr(type, '/'))
		return -EINVAL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX];

		if (snprintf(p, sizeof(p), "%s/%s", d, type) >= (int)sizeof(p))
			continue;
		if (access(p, X_OK) == 0)
			return strscpy(out, p, size);
	}
	return -ENOENT;
}

static int bench_ctx_init(struct bench_ctx *ctx, const struct bench_opts *opts, int index)
{
	_cleanup_close_ int fd = -1;
	json_error_t jerr;
	json_t *conf, *type;
	int r;

	ctx->opts = opts;
	ctx->config_path = opts->config_paths[index];
	fd = open(ctx->config_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("config %s: %s", ctx->config_path, strerror(-r));
		return r;
	}
	r = read_all(fd, BENCH_MAX_CONFIG, &ctx->config, &ctx->config_len);
	if (r < 0) {
		log_error("config %s: %s", ctx->config_path, strerror(-r));
		return r;
	}
	conf = json_loadb(ctx->config, ctx->config_len, 0, &jerr);
	if (!conf) {
		log_error("config %s: line %d: %s", ctx->config_path, jerr.line, jerr.text);
		return -EINVAL;
	}
	type = json_object_get(conf, "type");
	if (!json_is_string(type)) {
		log_error("config %s: field \"type\" missing or not a string", ctx->config_path);
		json_decref(conf);
		return -EINVAL;
	}
	r = bench_find_plugin(opts->cni_path, json_string_value(type), ctx->plugin,
			      sizeof(ctx->plugin));
	if (r < 0)
		log_error("config %s: plugin \"%s\" not found in CNI_PATH %s", ctx->config_path,
			  json_string_value(type), opts->cni_path);
	json_decref(conf);
	if (r < 0)
		return r;
	if (opts->id_prefix)
		r = snprintf(ctx->id_prefix, sizeof(ctx->id_prefix), "%s-%d", opts->id_prefix, index);
	else
		r = snprintf(ctx->id_prefix, sizeof(ctx->id_prefix), "bench-%d-%d", (int)getpid(),
			     index);
	if (r < 0 || r >= (int)sizeof(ctx->id_prefix)) {
		log_error("--id-prefix is longer than %zu characters", sizeof(ctx->id_prefix) - 8);
		return -EINVAL;
	}
	return 0;
}

/* Starts the plugin for command on c->container_id / c->netns, writes the
 * config to its stdin and leaves its stdout in c->out_fd. */
static int bench_call_start(const struct bench_ctx *ctx, struct bench_call *c, const char *command)
{
	char e_cmd[64], e_id[128], e_netns[PATH_MAX + 16], e_if[64], e_path[PATH_MAX + 16];
	char e_args[1024];
	const char *path = getenv("PATH");
	char e_syspath[PATH_MAX + 8];
	char *argv[] = { (char *)ctx->plugin, NULL };
	char *envp[8];
	int n = 0, in[2], out[2], r;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t def;

	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", command);
	snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", c->container_id);
	snprintf(e_netns, sizeof(e_netns), "CNI_NETNS=%s", c->netns ? c->netns : "");
	snprintf(e_if, sizeof(e_if), "CNI_IFNAME=%s", ctx->opts->ifname);
	snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", ctx->opts->cni_path);
	snprintf(e_syspath, sizeof(e_syspath), "PATH=%s",
		 path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	envp[n++] = e_cmd;
	envp[n++] = e_id;
	envp[n++] = e_netns;
	envp[n++] = e_if;
	envp[n++] = e_path;
	envp[n++] = e_syspath;
	if (ctx->opts->cni_args) {
		snprintf(e_args, sizeof(e_args), "CNI_ARGS=%s", ctx->opts->cni_args);
		envp[n++] = e_args;
	}
	envp[n] = NULL;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		close(in[0]);
		close(in[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);

	/* The driver ignores SIGPIPE; the plugin gets the default back. */
	posix_spawnattr_init(&attr);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

	c->start_ns = now_ns();
	r = -posix_spawn(&c->pid, ctx->plugin, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	if (r < 0) {
		close(in[1]);
		close(out[0]);
		return r;
	}
	/* A plugin that exits without reading all of stdin gives EPIPE; one
	 * that got a short config fails on its own. Either way the child
	 * runs and is reaped by the caller, so a write error is not ours. */
	(void)write_all(in[1], ctx->config, ctx->config_len);
	close(in[1]);
	c->out_fd = out[0];
	c->status = -1;
	return 0;
}

/* Reads what is available on c->out_fd; 1 at EOF, 0 for more, <0 on error. */
static int bench_call_read(struct bench_call *c)
{
	ssize_t k;

	if (c->out_cap - c->out_len < 4096) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 8192;
		char *p;

		if (cap > BENCH_MAX_OUTPUT)
			return -EFBIG;
		p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	k = read(c->out_fd, c->out + c->out_len, c->out_cap - c->out_len - 1);
	if (k < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	c->out_len += (size_t)k;
	c->out[c->out_len] = '\0';
	return k == 0;
}

static int bench_call_reap(struct bench_call *c)
{
	int status;

	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	c->end_ns = now_ns();
	c->status = status;
	close(c->out_fd);
	c->out_fd = -1;
	return 0;
}

/* Runs calls[0..n) to completion, reading all their outputs in parallel.
 * A call still running timeout_ns after its start is killed (it is our own
 * child, by PID) and marked timed out. */
static int bench_calls_wait(struct bench_call *calls, int n, unsigned long long timeout_ns)
{
	_cleanup_free_ struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	_cleanup_free_ int *idx = calloc((size_t)n, sizeof(*idx));
	int left = 0, r;

	if (!pfd || !idx)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (calls[i].out_fd >= 0)
			left++;
	while (left > 0) {
		unsigned long long now = now_ns(), first = ULLONG_MAX;
		int m = 0;

		for (int i = 0; i < n; i++) {
			struct bench_call *c = &calls[i];

			if (c->out_fd < 0)
				continue;
			if (now - c->start_ns >= timeout_ns) {
				/* Reaped without waiting for EOF: a grandchild
				 * may still hold the pipe. */
				kill(c->pid, SIGKILL);
				c->timed_out = true;
				r = bench_call_reap(c);
				if (r < 0)
					return r;
				left--;
				continue;
			}
			if (c->start_ns + timeout_ns < first)
				first = c->start_ns + timeout_ns;
			pfd[m] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
			idx[m++] = i;
		}
		if (m == 0)
			break;
		if (poll(pfd, (nfds_t)m, (int)((first - now) / 1000000 + 1)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int k = 0; k < m; k++) {
			struct bench_call *c = &calls[idx[k]];

			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = bench_call_read(c);
			if (r < 0)
				return r;
			if (r == 1) {
				r = bench_call_reap(c);
				if (r < 0)
					return r;
				left--;
			}
		}
	}
	return 0;
}

static bool bench_call_ok(const struct bench_call *c)
{
	return c->status >= 0 && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

/* Logs why a call failed: the plugin's CNI error if it printed one. */
static void bench_call_log_failure(const struct bench_call *c, const char *command)
{
	json_t *j = c->out ? json_loads(c->out, 0, NULL) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "msg")) : NULL;
	const char *details = j ? json_string_value(json_object_get(j, "details")) : NULL;
	long long code = j ? json_integer_value(json_object_get(j, "code")) : 0;
	char how[64];

	if (c->timed_out)
		snprintf(how, sizeof(how), "still running after --timeout, killed");
	else if (c->status < 0)
		snprintf(how, sizeof(how), "did not run");
	else if (WIFEXITED(c->status))
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(c->status));
	else
		snprintf(how, sizeof(how), "signal %d", WTERMSIG(c->status));
	if (msg)
		log_error("%s %s (netns %s) failed: %s: code %lld: %s%s%s", command,
			  c->container_id, c->netns ? c->netns : "-", how, code, msg,
			  details ? ": " : "", details ? details : "");
	else
		log_error("%s %s (netns %s) failed: %s: %.200s", command, c->container_id,
			  c->netns ? c->netns : "-", how, c->out ? c->out : "");
	json_decref(j);
}

/* Appends the addresses (without prefix length) of an ADD result to
 * addrs[*n]; returns how many it added, or <0 when the result has none or
 * is not a result. */
static int bench_result_addresses(const struct bench_call *c, char ***addrs, size_t *n)
{
	json_t *j = c->out ? json_loads(c->out, 0, NULL) : NULL;
	json_t *ips, *ip, *a;
	const char *list[2 * 8];
	size_t k = 0, i;
	int r = 0;

	if (!j)
		return -EBADMSG;
	ips = json_object_get(j, "ips");
	if (json_is_array(ips)) {
		json_array_foreach(ips, i, ip) {
			a = json_object_get(ip, "address");
			if (json_is_string(a) && k < ARRAY_SIZE(list))
				list[k++] = json_string_value(a);
		}
	} else {
		/* 0.1.0/0.2.0 results */
		a = json_object_get(json_object_get(j, "ip4"), "ip");
		if (json_is_string(a))
			list[k++] = json_string_value(a);
		a = json_object_get(json_object_get(j, "ip6"), "ip");
		if (json_is_string(a))
			list[k++] = json_string_value(a);
	}
	if (k == 0) {
		json_decref(j);
		return -ENODATA;
	}
	for (i = 0; i < k; i++) {
		char **p = realloc(*addrs, (*n + 1) * sizeof(**addrs));
		char *s;

		if (!p) {
			r = -ENOMEM;
			break;
		}
		*addrs = p;
		s = strndup(list[i], strcspn(list[i], "/"));
		if (!s) {
			r = -ENOMEM;
			break;
		}
		(*addrs)[(*n)++] = s;
		r++;
	}
	json_decref(j);
	return r;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static int bench_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Nearest-rank percentile of sorted v[n], in microseconds. */
static unsigned long long bench_percentile_us(const unsigned long long *v, size_t n, int pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (n * (size_t)pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return v[rank - 1] / 1000;
}

/* Runs one call to completion. */
static int bench_run_one(const struct bench_ctx *ctx, struct bench_call *c, const char *command)
{
	int r = bench_call_start(ctx, c, command);

	if (r < 0)
		return r;
	return bench_calls_wait(c, 1, (unsigned long long)ctx->opts->timeout_s * 1000000000ULL);
}

static void bench_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The sequential samples of one plugin. */
struct bench_samples {
	unsigned long long *add, *del, *sum;
	size_t ok;
	long failures;
};

static void bench_samples_free(struct bench_samples *s)
{
	free(s->add);
	free(s->del);
	free(s->sum);
}

/* One ADD/DEL pair of iteration i (negative: warm-up, not recorded). */
static int bench_pair(const struct bench_ctx *ctx, long i, struct bench_samples *s)
{
	const struct bench_opts *o = ctx->opts;
	struct bench_call a = { .out_fd = -1, .status = -1 };
	struct bench_call d = { .out_fd = -1, .status = -1 };
	long slot = i < 0 ? -i - 1 : i;
	bool add_ok, del_ok;
	int r;

	snprintf(a.container_id, sizeof(a.container_id), "%s-%s%ld", ctx->id_prefix,
		 i < 0 ? "w" : "s", slot);
	a.netns = o->netns[slot % o->n_netns];
	memcpy(d.container_id, a.container_id, sizeof(d.container_id));
	d.netns = a.netns;

	/* A call that cannot even start (the binary being rebuilt, say)
	 * counts as a failed call; the run goes on. */
	r = bench_run_one(ctx, &a, "ADD");
	if (r < 0)
		log_error("ADD %s: cannot run %s: %s", a.container_id, ctx->plugin, strerror(-r));
	add_ok = r >= 0 && bench_call_ok(&a);
	if (r >= 0 && !add_ok)
		bench_call_log_failure(&a, "ADD");
	/* DEL even after a failed ADD: the spec asks runtimes to. */
	r = bench_run_one(ctx, &d, "DEL");
	if (r < 0)
		log_error("DEL %s: cannot run %s: %s", d.container_id, ctx->plugin, strerror(-r));
	del_ok = r >= 0 && bench_call_ok(&d);
	if (r >= 0 && !del_ok)
		bench_call_log_failure(&d, "DEL");
	s->failures += !add_ok + !del_ok;
	if (add_ok && del_ok && i >= 0) {
		s->add[s->ok] = a.end_ns - a.start_ns;
		s->del[s->ok] = d.end_ns - d.start_ns;
		s->sum[s->ok] = s->add[s->ok] + s->del[s->ok];
		s->ok++;
	}
	bench_call_done(&a);
	bench_call_done(&d);
	return 0;
}

/* Sequential ADD/DEL pairs of every plugin, interleaved: iteration i runs
 * one pair of each plugin, starting with a different plugin each time, so
 * the machine's drifting load falls on all of them alike. Prints one "seq"
 * line per plugin. Returns the number of failed calls, or <0 when the
 * driver itself failed. */
static int bench_sequential(const struct bench_ctx *ctxs, int n_ctx)
{
	const struct bench_opts *o = ctxs[0].opts;
	long n = o->iterations, failures = 0;
	struct bench_samples s[BENCH_MAX_PLUGINS] = {};
	int r = 0;

	for (int k = 0; k < n_ctx; k++) {
		s[k].add = calloc((size_t)n, sizeof(*s[k].add));
		s[k].del = calloc((size_t)n, sizeof(*s[k].del));
		s[k].sum = calloc((size_t)n, sizeof(*s[k].sum));
		if (!s[k].add || !s[k].del || !s[k].sum) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (long i = -o->warmup; i < n; i++) {
		for (int k = 0; k < n_ctx; k++) {
			int j = (int)(((i % n_ctx) + n_ctx + k) % n_ctx);

			r = bench_pair(&ctxs[j], i, &s[j]);
			if (r < 0)
				goto out;
		}
	}
	for (int k = 0; k < n_ctx; k++) {
		size_t ok = s[k].ok;

		qsort(s[k].add, ok, sizeof(*s[k].add), bench_cmp_u64);
		qsort(s[k].del, ok, sizeof(*s[k].del), bench_cmp_u64);
		qsort(s[k].sum, ok, sizeof(*s[k].sum), bench_cmp_u64);
		printf("seq config=%s iterations=%ld ok=%zu failures=%ld add_p50_us=%llu "
		       "add_p99_us=%llu del_p50_us=%llu del_p99_us=%llu adddel_p50_us=%llu "
		       "adddel_p99_us=%llu\n",
		       ctxs[k].config_path, n, ok, s[k].failures,
		       bench_percentile_us(s[k].add, ok, 50), bench_percentile_us(s[k].add, ok, 99),
		       bench_percentile_us(s[k].del, ok, 50), bench_percentile_us(s[k].del, ok, 99),
		       bench_percentile_us(s[k].sum, ok, 50), bench_percentile_us(s[k].sum, ok, 99));
		failures += s[k].failures;
	}
	fflush(stdout);
out:
	for (int k = 0; k < n_ctx; k++)
		bench_samples_free(&s[k]);
	if (r < 0)
		return r;
	return (int)(failures > INT_MAX ? INT_MAX : failures);
}

/* Starts count calls of command at once and waits for all; *total_ns is
 * the wall time from the first spawn to the last reap. */
static int bench_burst(const struct bench_ctx *ctx, struct bench_call *calls, long count,
		       const char *command, unsigned long long *total_ns)
{
	unsigned long long t0 = now_ns();
	int r = 0;

	/* A call that cannot start stays "did not run" (a failure); the
	 * others go on. */
	for (long i = 0; i < count; i++) {
		r = bench_call_start(ctx, &calls[i], command);
		if (r < 0)
			log_error("%s %s: cannot run %s: %s", command, calls[i].container_id,
				  ctx->plugin, strerror(-r));
	}
	r = bench_calls_wait(calls, (int)count,
			     (unsigned long long)ctx->opts->timeout_s * 1000000000ULL);
	*total_ns = now_ns() - t0;
	return r;
}

/* C concurrent ADDs then C concurrent DELs; prints the "conc" line.
 * Returns the number of failures (failed calls plus duplicate addresses). */
static int bench_concurrent(const struct bench_ctx *ctx)
{
	const struct bench_opts *o = ctx->opts;
	long c = o->concurrency, add_fail = 0, del_fail = 0;
	_cleanup_free_ struct bench_call *calls = calloc((size_t)c, sizeof(*calls));
	unsigned long long add_ns = 0, del_ns = 0;
	char **addrs = NULL;
	size_t n_addrs = 0, distinct = 0;
	int r;

	if (!calls)
		return -ENOMEM;
	for (long i = 0; i < c; i++) {
		calls[i] = (struct bench_call){ .out_fd = -1, .status = -1, .netns = o->netns[i] };
		snprintf(calls[i].container_id, sizeof(calls[i].container_id), "%s-c%ld",
			 ctx->id_prefix, i);
	}
	r = bench_burst(ctx, calls, c, "ADD", &add_ns);
	for (long i = 0; i < c; i++) {
		if (!bench_call_ok(&calls[i])) {
			bench_call_log_failure(&calls[i], "ADD");
			add_fail++;
		} else if (bench_result_addresses(&calls[i], &addrs, &n_addrs) < 0) {
			log_error("ADD %s: result has no address: %.200s", calls[i].container_id,
				  calls[i].out ? calls[i].out : "");
			add_fail++;
		}
		bench_call_done(&calls[i]);
		calls[i].status = -1;
		calls[i].timed_out = false;
	}
	if (n_addrs > 0) {
		qsort(addrs, n_addrs, sizeof(*addrs), bench_cmp_str);
		distinct = 1;
		for (size_t i = 1; i < n_addrs; i++) {
			if (strcmp(addrs[i], addrs[i - 1]) != 0)
				distinct++;
			else
				log_error("address %s was handed out more than once", addrs[i]);
		}
	}
	/* DEL every pod, failed ADDs included, as a runtime would. */
	if (r == 0)
		r = bench_burst(ctx, calls, c, "DEL", &del_ns);
	for (long i = 0; i < c; i++) {
		if (r == 0 && !bench_call_ok(&calls[i])) {
			bench_call_log_failure(&calls[i], "DEL");
			del_fail++;
		}
		bench_call_done(&calls[i]);
	}
	printf("conc config=%s count=%ld failures=%ld addresses=%zu distinct=%zu add_total_us=%llu "
	       "del_total_us=%llu del_failures=%ld\n",
	       ctx->config_path, c, add_fail, n_addrs, distinct, add_ns / 1000, del_ns / 1000, del_fail);
	fflush(stdout);
	bench_free_strv(addrs, n_addrs);
	if (r < 0)
		return r;
	return (int)(add_fail + del_fail + (long)(n_addrs - distinct));
}

static void bench_help(void)
{
	printf("Usage: cni-bench --config FILE [--config FILE]... --netns PATH [--netns PATH]...\n"
	       "                 [options]\n"
	       "Times CNI plugins as a runtime calls them: fork/exec with the CNI_*\n"
	       "environment and the config on stdin, CLOCK_MONOTONIC around each call.\n"
	       "Run it inside the namespace the plugins should treat as the host.\n"
	       "With several configs, the sequential pairs are interleaved (one pair of\n"
	       "each plugin per iteration) so that they are measured side by side.\n"
	       "\n"
	       "  --config FILE        network config (JSON), repeatable (at most 16); its\n"
	       "                       \"type\" is looked up in CNI_PATH\n"
	       "  --cni-path DIRS      plugin directories, colon-separated (default $CNI_PATH,\n"
	       "                       else /opt/cni/bin)\n"
	       "  --netns PATH         a pod network namespace (repeatable; sequential mode uses\n"
	       "                       them round-robin, concurrent mode needs one per ADD)\n"
	       "  --ifname NAME        CNI_IFNAME (default eth0)\n"
	       "  --args K=V;...       CNI_ARGS for every call\n"
	       "  --iterations N       sequential ADD/DEL pairs (default 200, 0 skips)\n"
	       "  --warmup N           untimed ADD/DEL pairs first (default 2)\n"
	       "  --concurrency C      concurrent ADDs, then DELs (default 0 skips)\n"
	       "  --id-prefix STR      container ID prefix (default bench-<pid>); the IDs are\n"
	       "                       STR-<config index>-s<iteration> and STR-<index>-c<n>\n"
	       "  --timeout SEC        kill a plugin call still running after SEC seconds and\n"
	       "                       count it as failed (default 60)\n"
	       "  --log-level LEVEL    error, warn, info, debug (default info)\n"
	       "  -h, --help           this text\n"
	       "\n"
	       "Output, one line per plugin and measurement:\n"
	       "  seq config=FILE iterations=N ok=N failures=N add_p50_us= add_p99_us=\n"
	       "      del_p50_us= del_p99_us= adddel_p50_us= adddel_p99_us=\n"
	       "  conc config=FILE count=C failures=N addresses=N distinct=N add_total_us=\n"
	       "      del_total_us= del_failures=N\n"
	       "Exit 0 when every call succeeded and all concurrent addresses were distinct,\n"
	       "1 otherwise, 2 on bad usage.\n");
}

static int bench_parse_long(const char *name, const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max) {
		log_error("%s: expected an integer from 0 to %ld, got \"%s\"", name, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int bench_parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "cni-path", required_argument, NULL, 'p' },
		{ "netns", required_argument, NULL, 'n' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "args", required_argument, NULL, 'a' },
		{ "iterations", required_argument, NULL, 'N' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "id-prefix", required_argument, NULL, 'x' },
		{ "timeout", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	enum log_level level;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (o->n_configs == BENCH_MAX_PLUGINS) {
				log_error("--config: at most %d configs", BENCH_MAX_PLUGINS);
				return -EINVAL;
			}
			o->config_paths[o->n_configs++] = optarg;
			break;
		case 'p': o->cni_path = optarg; break;
		case 'n':
			if (o->n_netns == BENCH_MAX_NETNS) {
				log_error("--netns: at most %d namespaces", BENCH_MAX_NETNS);
				return -EINVAL;
			}
			o->netns[o->n_netns++] = optarg;
			break;
		case 'i': o->ifname = optarg; break;
		case 'a': o->cni_args = optarg; break;
		case 'N':
			if (bench_parse_long("--iterations", optarg, 1000000, &o->iterations) < 0)
				return -EINVAL;
			break;
		case 'w':
			if (bench_parse_long("--warmup", optarg, 1000, &o->warmup) < 0)
				return -EINVAL;
			break;
		case 'C':
			if (bench_parse_long("--concurrency", optarg, BENCH_MAX_NETNS,
					     &o->concurrency) < 0)
				return -EINVAL;
			break;
		case 'x': o->id_prefix = optarg; break;
		case 't':
			if (bench_parse_long("--timeout", optarg, 3600, &o->timeout_s) < 0)
				return -EINVAL;
			if (o->timeout_s == 0) {
				log_error("--timeout: must be at least 1 second");
				return -EINVAL;
			}
			break;
		case 'l':
			if (log_level_parse(optarg, &level) < 0) {
				log_error("--log-level: unknown level \"%s\"", optarg);
				return -EINVAL;
			}
			log_set_level(level);
			break;
		case 'h':
			bench_help();
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\" (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (o->n_configs == 0) {
		log_error("--config is required (see --help)");
		return -EINVAL;
	}
	if (o->n_netns == 0) {
		log_error("--netns is required (see --help)");
		return -EINVAL;
	}
	if (o->concurrency > o->n_netns) {
		log_error("--concurrency %ld needs as many --netns, got %d", o->concurrency,
			  o->n_netns);
		return -EINVAL;
	}
	if (!o->cni_path)
		o->cni_path = getenv("CNI_PATH") ? getenv("CNI_PATH") : "/opt/cni/bin";
	return 0;
}

static void bench_ctxs_free(struct bench_ctx *ctxs, int n)
{
	for (int k = 0; k < n; k++)
		free(ctxs[k].config);
}

int main(int argc, char **argv)
{
	struct bench_opts opts = {
		.ifname = "eth0",
		.iterations = 200,
		.warmup = 2,
		.timeout_s = 60,
	};
	struct bench_ctx ctxs[BENCH_MAX_PLUGINS] = {};
	int failures = 0, r;

	log_init("cni-bench", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (bench_parse_args(argc, argv, &opts) < 0)
		return 2;
	for (int k = 0; k < opts.n_configs; k++) {
		if (bench_ctx_init(&ctxs[k], &opts, k) < 0) {
			bench_ctxs_free(ctxs, opts.n_configs);
			return 2;
		}
	}
	if (opts.iterations > 0) {
		r = bench_sequential(ctxs, opts.n_configs);
		if (r < 0) {
			log_error("sequential run: %s", strerror(-r));
			bench_ctxs_free(ctxs, opts.n_configs);
			return 1;
		}
		failures += r;
	}
	for (int k = 0; k < opts.n_configs && opts.concurrency > 0; k++) {
		r = bench_concurrent(&ctxs[k]);
		if (r < 0) {
			log_error("concurrent run of %s: %s", ctxs[k].plugin, strerror(-r));
			bench_ctxs_free(ctxs, opts.n_configs);
			return 1;
		}
		failures += r;
	}
	bench_ctxs_free(ctxs, opts.n_configs);
	return failures ? 1 : 0;
}
