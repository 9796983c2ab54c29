#include "tests/lib/kube_test_server.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"
#include "lib/util.h"

/* The servers running, by PID (not by a pointer into the test's stack,
 * which is gone when exit handlers run). */
static pid_t running[8];

static void track(pid_t pid, bool add)
{
	for (size_t i = 0; i < ARRAY_SIZE(running); i++) {
		if (add ? running[i] == 0 : running[i] == pid) {
			running[i] = add ? pid : 0;
			return;
		}
	}
}

static void stop_at_exit(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(running); i++) {
		if (running[i] > 0) {
			kill(running[i], SIGTERM);
			waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
	}
}

static pid_t spawn(struct test_server *s, const char *bin)
{
	char port[16], log[600];
	char *argv[32], *extra, *save = NULL, *tok;
	int n = 0;
	pid_t pid;

	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(log, sizeof(log), "%s/../server.log", s->data_dir);
	argv[n++] = (char *)bin;
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n++] = "--bind-address";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--secure-port";
	argv[n++] = port;
	argv[n++] = "--log-level";
	argv[n++] = "warn";
	/* The client library's tests count what they made: no controller
	 * adds objects beside them (kube-root-ca.crt in every namespace)
	 * unless a test asks for them. */
	if (!strstr(s->extra, "--controllers")) {
		argv[n++] = "--controllers";
		argv[n++] = "none";
	}
	extra = strdup(s->extra);
	for (tok = strtok_r(extra, " ", &save); tok && n < 30; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, argv);
		_exit(127);
	}
	free(extra);
	return pid;
}

static int ready(struct test_server *s)
{
	struct kc_config *cfg = NULL;
	struct kc_client *c = NULL;
	int r;

	if (kc_config_load(s->kubeconfig, NULL, &cfg, NULL, 0) < 0)
		return 0;
	r = strstr(cfg->server, "127.0.0.1:") &&
	    atoi(strstr(cfg->server, "127.0.0.1:") + 10) == s->port &&
	    kc_client_new(cfg, NULL, &c) == 0 && kc_request(c, "GET", "/readyz", NULL, NULL, NULL) == 0;
	kc_client_free(c);
	kc_config_free(cfg);
	return r;
}

void test_server_start(struct test_server *s)
{
	const char *build = getenv("SKIFF_BUILD");
	char bin[512];
	bool fixed = s->port != 0;

	snprintf(bin, sizeof(bin), "%s/bin/skiff-server", build ? build : "build");
	if (access(bin, X_OK) < 0)
		SKIP("%s not built (run make)", bin);
	if (!s->data_dir[0]) {
		snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", test_tmpdir());
		snprintf(s->kubeconfig, sizeof(s->kubeconfig), "%s/kubeconfig", s->data_dir);
	}
	srand((unsigned)(getpid() ^ now_ns()));
	for (int try = 0; try < 5; try++) {
		if (!fixed)
			s->port = 20000 + rand() % 20000;
		s->pid = spawn(s, bin);
		if (s->pid > 0)
			track(s->pid, true);
		for (int i = 0; i < 200; i++) {
			struct timespec ts = { 0, 25 * 1000000 };
			int st;

			if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
				track(s->pid, false);
				s->pid = 0;
				break;
			}
			if (ready(s)) {
				static bool registered;

				if (!registered && atexit(stop_at_exit) == 0)
					registered = true;
				return;
			}
			nanosleep(&ts, NULL);
		}
		if (s->pid > 0)
			test_server_stop(s, SIGKILL);
	}
	test_fail(__FILE__, __LINE__, "skiff-server did not start (see %s/../server.log)",
		  s->data_dir);
}

void test_server_stop(struct test_server *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	track(s->pid, false);
	s->pid = 0;
}

struct kc_client *test_client(struct test_server *s)
{
	struct kc_config *cfg = NULL;
	struct kc_client *c = NULL;
	char err[256] = "";

	if (kc_config_load(s->kubeconfig, NULL, &cfg, err, sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "kubeconfig %s: %s", s->kubeconfig, err);
	if (kc_client_new(cfg, NULL, &c) < 0)
		test_fail(__FILE__, __LINE__, "kc_client_new failed");
	kc_config_free(cfg);
	return c;
}

int test_run_until(struct kc_client *c, int (*cond)(void *ud), void *ud, int timeout_ms)
{
	unsigned long long end = now_ns() + (unsigned long long)timeout_ms * 1000000ULL;

	while (!cond(ud)) {
		if (now_ns() > end)
			return 0;
		kc_client_run_once(c, 50);
	}
	return 1;
}

const char *test_unique(const char *prefix)
{
	static char buf[8][128];
	static int n;
	char *b = buf[n++ % 8];

	snprintf(b, 128, "%s-%d-%d", prefix, (int)getpid(), n);
	return b;
}
