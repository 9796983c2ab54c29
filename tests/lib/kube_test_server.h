/* A real skiff-server for the client library's tests: started from
 * $SKIFF_BUILD/bin/skiff-server (default build/) on a free loopback port
 * with HTTPS and its own data dir under the test's tmpdir, stopped by PID
 * at exit (and by PR_SET_PDEATHSIG if the test dies). */
#ifndef SKIFF_KUBE_TEST_SERVER_H
#define SKIFF_KUBE_TEST_SERVER_H

#include <sys/types.h>

#include "lib/kube_client.h"

struct test_server {
	pid_t pid;
	int port;
	char data_dir[512];
	char kubeconfig[600];
	char extra[1024]; /* extra arguments, space-separated */
};

/* Starts the server (on s->port when set, else a free one); SKIPs the test
 * when the binary is not built. Registers the stop at exit once. */
void test_server_start(struct test_server *s);
/* SIGKILL (hard) or SIGTERM, then waits. */
void test_server_stop(struct test_server *s, int sig);
/* A client over the server's kubeconfig (test fails on error). */
struct kc_client *test_client(struct test_server *s);
/* Runs the client's loop until cond(ud) or timeout_ms; returns cond. */
int test_run_until(struct kc_client *c, int (*cond)(void *ud), void *ud, int timeout_ms);
/* A name unique to this run: prefix-<pid>-<n>. */
const char *test_unique(const char *prefix);

#endif
