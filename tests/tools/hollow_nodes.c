/* hollow-nodes: registers N nodes on skiff-server and plays their
 * kubelets' part on the API (see hollow.h): options, the event loop, the
 * request pump, the control file, progress lines and a clean exit. */
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/hollow.h"
#include "lib/opts.h"
#include "lib/util.h"

#define HOLLOW_TICK_MS 20
#define HOLLOW_WARN_MAX 5   /* warnings per kind of failure */
#define HOLLOW_FAIR_SHARE 4 /* one pick in 4 for the requests that are not urgent */

/* ---- options ---- */

static int opt_pick(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct hollow_picks *p = dst;
	char *end;
	long v;

	(void)o;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > 10000000)
		return set_err(err, errlen, -EINVAL, "\"%s\" is not a node number", arg);
	if (p->n == HOLLOW_MAX_PICKS)
		return set_err(err, errlen, -E2BIG, "given more than %d times", HOLLOW_MAX_PICKS);
	p->v[p->n++] = (int)v;
	return 0;
}

static int opt_taint(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct hollow_strs *s = dst;
	const char *colon = strrchr(arg, ':');

	(void)o;
	if (!colon || colon == arg ||
	    (!streq(colon + 1, "NoSchedule") && !streq(colon + 1, "PreferNoSchedule") &&
	     !streq(colon + 1, "NoExecute")))
		return set_err(err, errlen, -EINVAL,
			       "\"%s\" is not KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute", arg);
	if (s->n == HOLLOW_MAX_PICKS)
		return set_err(err, errlen, -E2BIG, "given more than %d times", HOLLOW_MAX_PICKS);
	s->v[s->n++] = arg;
	return 0;
}

#define OPT(f) offsetof(struct hollow_opts, f)

static const struct opt options[] = {
	{ "kubeconfig", 0, "FILE", "the API server and credentials (default $KUBECONFIG, ~/.kube/config)",
	  NULL, opt_string, OPT(kubeconfig), 0, 0, NULL },
	{ "context", 0, "NAME", "kubeconfig context (default the current one)", NULL, opt_string,
	  OPT(context), 0, 0, NULL },
	{ "nodes", 'n', "N", "nodes to register", "10", opt_int, OPT(nodes), 1, 32000, NULL },
	{ "prefix", 0, "NAME", "nodes are hollow-NAME-I; their label " HOLLOW_LABEL "=NAME", "h",
	  opt_string, OPT(prefix), 0, 0, NULL },
	{ "first-index", 0, "I", "number of the first node (two runs: disjoint ranges, so "
	  "disjoint addresses)", "0", opt_int, OPT(first_index), 0, 60000, NULL },
	{ "zones", 0, "K", "spread nodes over K topology.kubernetes.io/zone labels; 0: none", "0",
	  opt_int, OPT(zones), 0, 1000, NULL },
	{ "cpu", 0, "Q", "cpu capacity and allocatable", "4", opt_string, OPT(cpu), 0, 0, NULL },
	{ "memory", 0, "Q", "memory capacity and allocatable", "16Gi", opt_string, OPT(memory), 0, 0, NULL },
	{ "max-pods", 0, "N", "pods capacity", "110", opt_int, OPT(max_pods), 1, 253, NULL },
	{ "arch", 0, "ARCH", "kubernetes.io/arch label and nodeInfo", "amd64", opt_string,
	  OPT(arch), 0, 0, NULL },
	{ "kubelet-version", 0, "V", "nodeInfo.kubeletVersion", "v1.33.0", opt_string,
	  OPT(kubelet_version), 0, 0, NULL },
	{ "taint", 0, "KEY[=VAL]:EFFECT", "a taint on every node (repeatable)", NULL, opt_taint,
	  OPT(taints), 0, 0, NULL },
	{ "lease-interval", 0, "S", "Lease renewal period, spread over the nodes", "10", opt_int,
	  OPT(lease_interval_s), 1, 3600, NULL },
	{ "lease-duration", 0, "S", "spec.leaseDurationSeconds", "40", opt_int,
	  OPT(lease_duration_s), 1, 3600, NULL },
	{ "no-lease", 0, "I", "node I never gets a Lease (repeatable)", NULL, opt_pick,
	  OPT(no_lease), 0, 0, NULL },
	{ "silent", 0, "I", "node I registers, then is silent: no renewals, no status (repeatable)",
	  NULL, opt_pick, OPT(silent), 0, 0, NULL },
	{ "control", 0, "FILE", "lines \"silent NAME|I\": those nodes go silent while listed "
	  "(re-read when it changes and on SIGHUP)", NULL, opt_string, OPT(control_file), 0, 0, NULL },
	{ "node-status-interval", 0, "S", "node status heartbeat, as nodeStatusReportFrequency; "
	  "0: only at registration and on change", "300", opt_int, OPT(node_status_s), 0, 86400, NULL },
	{ "ready-delay", 0, "MS", "a pod turns Ready this long after it starts", "0", opt_int,
	  OPT(ready_delay_ms), 0, 3600000, NULL },
	{ "stop-delay", 0, "MS", "a deleted pod is removed (grace 0) this long after its deletion",
	  "0", opt_int, OPT(stop_delay_ms), 0, 3600000, NULL },
	{ "exit-delay", 0, "MS", "a pod annotated " HOLLOW_EXIT_KEY " (restartPolicy Never or "
	  "OnFailure) exits this long after it starts", "1000", opt_int, OPT(exit_delay_ms), 0,
	  3600000, NULL },
	{ "inflight", 0, "N", "requests in flight at once", "32", opt_int, OPT(inflight), 1, 512, NULL },
	{ "progress", 0, "S", "seconds between progress lines; 0: none", "5", opt_int,
	  OPT(progress_s), 0, 3600, NULL },
	{ "keep-nodes", 0, NULL, "on exit, leave the nodes and leases (default: delete them)", NULL,
	  opt_flag, OPT(keep_nodes), 0, 0, NULL },
	{ "exit-wait", 0, "S", "on exit, how long to wait for the deletes", "60", opt_int,
	  OPT(exit_wait_s), 1, 3600, NULL },
	{ "log-level", 0, "LEVEL", "error, warn, info or debug", "warn", opt_log_level,
	  OPT(log_level), 0, 0, NULL },
	{ "help", 'h', NULL, "this text", NULL, opt_flag, OPT(help), 0, 0, NULL },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hollow-nodes [OPTIONS]\n"
		"\n"
		"Registers N nodes hollow-PREFIX-I on the API server and plays their kubelets'\n"
		"part there, like Kubernetes' kubemark: Leases in kube-node-lease renewed every\n"
		"--lease-interval (spread over the interval), and for each pod bound to one of\n"
		"them: status Running and Ready with an address from the node's pod /24\n"
		"(spec.podCIDR, else made up), containerStatuses, hostIP, startTime. Pods\n"
		"labelled or annotated " HOLLOW_READY_KEY "=\"false\" stay unready; pods with\n"
		"restartPolicy Never/OnFailure annotated " HOLLOW_EXIT_KEY "=\"N\" end Succeeded\n"
		"(0) or Failed after --exit-delay; deleted pods are removed with grace 0 after\n"
		"--stop-delay. No containers, no network: addresses are never routed.\n"
		"Prints progress lines, \"registered N nodes ...\" once all are in, and a\n"
		"\"summary\" line at exit. SIGTERM/SIGINT: deletes its nodes and leases (unless\n"
		"--keep-nodes) and exits 0.\n"
		"\n"
		"Options:\n");
	opts_usage(f, options, ARRAY_SIZE(options));
}

/* ---- the request pump ---- */

struct hreq {
	struct hollow *h;
	char method[8];
	char *path;
	json_t *body;
	hreq_fn fn;
	void *ud;
	bool parsed; /* fn reads the answer's object (else: the outcome only) */
	struct hreq *next;
};

static void hreq_free(struct hreq *r)
{
	if (!r)
		return;
	free(r->path);
	json_decref(r->body);
	free(r);
}

static void pump(struct hollow *h);

static void on_answer(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct hreq *r = ud;
	struct hollow *h = r->h;

	h->inflight--;
	if (r->fn)
		r->fn(h, r->ud, err, st, body);
	hreq_free(r);
	pump(h);
}

/* The oldest urgent request, else the oldest other one; NULL when none.
 * Every HOLLOW_FAIR_SHARE-th pick prefers the other queue, so registration
 * and pod status move on while renewals saturate the server (as API
 * Priority and Fairness gives every flow a share). */
static struct hreq *dequeue(struct hollow *h)
{
	int first = ++h->picks % HOLLOW_FAIR_SHARE == 0 ? 1 : 0;

	for (int i = 0; i < 2; i++) {
		int q = (first + i) % 2;
		struct hreq *r = h->queue_head[q];

		if (!r)
			continue;
		h->queue_head[q] = r->next;
		if (!r->next)
			h->queue_tail[q] = NULL;
		h->queued--;
		return r;
	}
	return NULL;
}

static void pump(struct hollow *h)
{
	struct hreq *r;

	while (h->inflight < h->o.inflight && (r = dequeue(h))) {
		int err;

		err = r->parsed ? kc_request_async(h->c, r->method, r->path, r->body, on_answer, r, NULL)
				: kc_request_async_outcome(h->c, r->method, r->path, r->body, on_answer,
							   r, NULL);
		if (err < 0) {
			struct kc_status st = { 0 };

			snprintf(st.message, sizeof(st.message), "%s", strerror(-err));
			if (r->fn)
				r->fn(h, r->ud, err, &st, NULL);
			hreq_free(r);
			continue;
		}
		h->inflight++;
	}
}

static int queue_request(struct hollow *h, bool urgent, const char *method, const char *path,
			 json_t *body, hreq_fn fn, void *ud, bool parsed)
{
	struct hreq *r = calloc(1, sizeof(*r));

	if (!r || !(r->path = strdup(path))) {
		free(r);
		json_decref(body);
		return -ENOMEM;
	}
	r->h = h;
	strscpy(r->method, method, sizeof(r->method));
	r->body = body;
	r->fn = fn;
	r->ud = ud;
	r->parsed = parsed;
	if (h->queue_tail[!urgent])
		h->queue_tail[!urgent]->next = r;
	else
		h->queue_head[!urgent] = r;
	h->queue_tail[!urgent] = r;
	h->queued++;
	pump(h);
	return 0;
}

int hollow_send(struct hollow *h, bool urgent, const char *method, const char *path,
		json_t *body, hreq_fn fn, void *ud)
{
	return queue_request(h, urgent, method, path, body, fn, ud, false);
}

int hollow_send_parsed(struct hollow *h, bool urgent, const char *method, const char *path,
		       json_t *body, hreq_fn fn, void *ud)
{
	return queue_request(h, urgent, method, path, body, fn, ud, true);
}

bool hollow_has_room(const struct hollow *h)
{
	return !h->stopping && !h->queue_head[1];
}

void hollow_request_failed(struct hollow *h, const char *what, const char *method,
			   const char *path, int err, const struct kc_status *st)
{
	size_t i;

	h->st.errors++;
	for (i = 0; i < ARRAY_SIZE(h->warn_kinds) && h->warn_kinds[i] && h->warn_kinds[i] != what;
	     i++)
		;
	if (i < ARRAY_SIZE(h->warn_kinds)) {
		h->warn_kinds[i] = what;
		if (h->warn_counts[i]++ >= HOLLOW_WARN_MAX)
			return;
	}
	log_warn("%s: %s %s: %s (HTTP %d%s%s)", what, method, path, strerror(-err),
		 st ? st->code : 0, st && st->message[0] ? ": " : "", st ? st->message : "");
}

/* ---- small helpers ---- */

unsigned long long hollow_ms_ns(int ms)
{
	return (unsigned long long)ms * 1000000ULL;
}

void hollow_micro_time(char buf[40])
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 40, "%s.%06dZ", base, (int)(ts.tv_nsec / 1000) % 1000000);
}

static double secs(unsigned long long ns)
{
	return (double)ns / 1e9;
}

/* ---- the control file ---- */

/* Re-reads the control file when it changed (or force): the nodes it lists
 * as silent go silent, every other node speaks. A missing file lists none. */
static void control_read(struct hollow *h, bool force)
{
	_cleanup_fclose_ FILE *f = NULL;
	json_t *silent;
	struct stat sb;
	char line[256];
	long mtime = 0, size = -1;

	if (!h->o.control_file)
		return;
	if (stat(h->o.control_file, &sb) == 0) {
		mtime = sb.st_mtim.tv_sec * 1000000000L + sb.st_mtim.tv_nsec;
		size = (long)sb.st_size;
	}
	if (!force && mtime == h->control_mtime_ns && size == h->control_size)
		return;
	h->control_mtime_ns = mtime;
	h->control_size = size;
	silent = json_array();
	f = size >= 0 ? fopen(h->o.control_file, "re") : NULL;
	while (f && fgets(line, sizeof(line), f)) {
		char verb[32], arg[200];

		if (sscanf(line, "%31s %199s", verb, arg) != 2 || line[0] == '#')
			continue;
		if (streq(verb, "silent"))
			json_array_append_new(silent, json_string(arg));
		else
			log_warn("control file %s: unknown line \"%s\"", h->o.control_file, verb);
	}
	hollow_nodes_set_control(h, silent);
	json_decref(silent);
}

/* ---- progress ---- */

/* One line: totals, and renewals per second with their latency since the
 * previous line. */
static void progress(struct hollow *h, unsigned long long now)
{
	unsigned long pods, running, ready;
	double dt = secs(now - h->t_last_progress);
	unsigned long renewed = h->st.renewals - h->st.renewals_at_last_progress;

	hollow_pods_count(h, &pods, &running, &ready);
	printf("hollow-nodes: %.1fs nodes %lu/%d leases %lu renewals %lu (%.1f/s, avg %.1f ms,"
	       " max %.1f ms; late %lu, errors %lu) pods %lu running %lu ready %lu"
	       " status-writes %lu deletes %lu inflight %d queued %zu connections %lu errors %lu\n",
	       secs(now - h->t_start), h->st.registered, h->n, h->st.leases_created,
	       h->st.renewals, dt > 0 ? renewed / dt : 0.0,
	       renewed ? secs(h->st.win_lat_sum_ns) * 1e3 / renewed : 0.0,
	       secs(h->st.win_lat_max_ns) * 1e3, h->st.renew_late, h->st.renew_errors, pods,
	       running, ready, h->st.pod_status_writes, h->st.pod_deletes, h->inflight, h->queued,
	       kc_client_connections(h->c), h->st.errors);
	fflush(stdout);
	h->st.renewals_at_last_progress = h->st.renewals;
	h->st.win_lat_sum_ns = h->st.win_lat_max_ns = 0;
	h->t_last_progress = now;
}

static void summary(struct hollow *h, unsigned long long now)
{
	printf("hollow-nodes: summary nodes=%d registered=%lu register_s=%.3f leases=%lu"
	       " renewals=%lu renew_late=%lu renew_errors=%lu renew_avg_ms=%.2f renew_max_ms=%.2f"
	       " node_status_writes=%lu pod_status_writes=%lu pod_deletes=%lu conflicts=%lu"
	       " errors=%lu deleted_nodes=%lu deleted_leases=%lu requests=%lu connections=%lu"
	       " run_s=%.1f\n",
	       h->n, h->st.registered,
	       h->t_registered ? secs(h->t_registered - h->t_start) : -1.0, h->st.leases_created,
	       h->st.renewals, h->st.renew_late, h->st.renew_errors,
	       h->st.renewals ? secs(h->st.renew_lat_sum_ns) * 1e3 / h->st.renewals : 0.0,
	       secs(h->st.renew_lat_max_ns) * 1e3, h->st.node_status_writes,
	       h->st.pod_status_writes, h->st.pod_deletes, h->st.conflicts, h->st.errors,
	       h->st.deleted_nodes, h->st.deleted_leases, kc_client_requests(h->c),
	       kc_client_connections(h->c), secs(now - h->t_start));
	fflush(stdout);
}

/* ---- the loop ---- */

static int signals_open(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* One poll over the client's fds and sfd (may be -1); returns the signal
 * that arrived, or 0. */
static int loop_once(struct hollow *h, int sfd, int timeout_ms)
{
	struct pollfd fds[1100];
	size_t n = kc_client_pollfds(h->c, fds + 1, ARRAY_SIZE(fds) - 1, &timeout_ms);
	struct signalfd_siginfo si;
	int sig = 0;

	fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	if (poll(fds, n + 1, timeout_ms) < 0 && errno != EINTR)
		return 0;
	if (sfd >= 0 && (fds[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si))
		sig = (int)si.ssi_signo;
	kc_client_dispatch(h->c, fds + 1, n);
	return sig;
}

static void tick(struct hollow *h)
{
	unsigned long long now = now_ns();

	control_read(h, false);
	hollow_nodes_tick(h, now);
	hollow_pods_tick(h);
	if (!h->registered_all && h->registered_pending == 0) {
		h->registered_all = true;
		h->t_registered = now;
		printf("hollow-nodes: registered %d nodes (%lu leases) in %.3f s, %.0f nodes/s\n",
		       h->n, h->st.leases_created, secs(now - h->t_start),
		       h->n / (secs(now - h->t_start) ?: 1e-9));
		fflush(stdout);
	}
	if (h->o.progress_s && now - h->t_last_progress >= hollow_ms_ns(h->o.progress_s * 1000))
		progress(h, now);
}

static int run(struct hollow *h, int sfd)
{
	int sig;

	for (;;) {
		sig = loop_once(h, sfd, HOLLOW_TICK_MS);
		if (sig == SIGHUP)
			control_read(h, true);
		else if (sig)
			break;
		tick(h);
	}
	log_info("%s: stopping, %d requests in flight", strsignal(sig), h->inflight);
	return 0;
}

/* Stops the loops, deletes what was made (unless --keep-nodes) and waits
 * for the answers, at most --exit-wait seconds (a second signal: at once). */
static void shutdown_all(struct hollow *h, int sfd)
{
	unsigned long long t0 = now_ns(), end = t0 + hollow_ms_ns(h->o.exit_wait_s * 1000);
	struct hreq *r;

	h->stopping = true;
	hollow_pods_free(h);
	kc_informer_free(h->node_inf);
	h->node_inf = NULL;
	while ((r = dequeue(h))) {
		if (r->fn)
			r->fn(h, r->ud, -ECANCELED, NULL, NULL);
		hreq_free(r);
	}
	if (!h->o.keep_nodes)
		hollow_nodes_cleanup(h);
	while ((h->inflight || h->queued) && now_ns() < end)
		if (loop_once(h, sfd, 100))
			break;
	if (h->inflight || h->queued)
		log_warn("exit: %d requests unanswered after %.1f s", h->inflight + (int)h->queued,
			 secs(now_ns() - t0));
}

int main(int argc, char **argv)
{
	struct hollow h = { 0 };
	struct kc_config *cfg = NULL;
	_cleanup_close_ int sfd = -1;
	char err[512] = "";
	int r;

	log_init("hollow-nodes", LOG_LEVEL_WARN);
	r = opts_parse(options, ARRAY_SIZE(options), argc, argv, &h.o, 0, err, sizeof(err));
	if (r < 0 || r != argc) {
		fprintf(stderr, "hollow-nodes: %s (see --help)\n",
			r < 0 ? err : "unexpected operand");
		return 2;
	}
	if (h.o.help) {
		usage(stdout);
		return 0;
	}
	r = hollow_nodes_init(&h);
	if (r < 0) {
		hollow_nodes_free(&h);
		return r == -EINVAL ? 2 : 1;
	}
	r = kc_config_load(h.o.kubeconfig, h.o.context, &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "hollow-nodes: kubeconfig: %s\n", err[0] ? err : strerror(-r));
		hollow_nodes_free(&h);
		return 1;
	}
	sfd = signals_open();
	r = sfd < 0 ? sfd : kc_client_new(cfg, &(struct kc_client_opts){ .user_agent = "hollow-nodes" },
					  &h.c);
	if (r < 0) {
		hollow_nodes_free(&h);
		fprintf(stderr, "hollow-nodes: %s\n", strerror(-r));
		kc_client_free(h.c);
		kc_config_free(cfg);
		return 1;
	}
	h.t_start = h.t_last_progress = now_ns();
	control_read(&h, true);
	r = hollow_nodes_start(&h);
	if (r >= 0)
		r = hollow_pods_start(&h);
	if (r >= 0)
		r = run(&h, sfd);
	else
		log_error("start: %s", strerror(-r));
	shutdown_all(&h, sfd);
	summary(&h, now_ns());
	hollow_nodes_free(&h);
	kc_client_free(h.c);
	kc_config_free(cfg);
	return r < 0 ? 1 : 0;
}
