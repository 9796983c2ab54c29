/* main() for every C test binary: runs each registered TEST in a forked
 * child and prints one PASS/FAIL/SKIP line per test.
 * Usage: test_x [-l] [substring]   (-l lists the tests) */
#include "tests/harness/test.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 512
#define EXIT_SKIP 4

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static char tmpdir[256];
static int report_fd = -1;

void test_register(const char *name, test_fn fn)
{
	if (n_tests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[n_tests].name = name;
	tests[n_tests].fn = fn;
	n_tests++;
}

static void report(const char *fmt, va_list ap)
{
	char buf[2048];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n > 0 && report_fd >= 0 && write(report_fd, buf, strlen(buf)) < 0)
		_exit(3);
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char head[512];

	snprintf(head, sizeof(head), "%s:%d: ", file, line);
	if (report_fd >= 0 && write(report_fd, head, strlen(head)) < 0)
		_exit(3);
	va_start(ap, fmt);
	report(fmt, ap);
	va_end(ap);
	exit(1);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(fmt, ap);
	va_end(ap);
	exit(EXIT_SKIP);
}

const char *test_tmpdir(void)
{
	return tmpdir;
}

/* Prints "VERDICT prog/test: msg" with every further line of msg indented
 * under it, so the FAIL line keeps the assertion's file:line first and a
 * multi-line value cannot pass for lines of its own. */
static void print_result(const char *verdict, const char *prog, const char *test, const char *msg)
{
	const char *nl;

	printf("%s %s/%s: ", verdict, prog, test);
	while ((nl = strchr(msg, '\n')) && nl[1]) {
		printf("%.*s\n    | ", (int)(nl - msg), msg);
		msg = nl + 1;
	}
	printf("%s%s", msg, nl ? "" : "\n");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static int run_one(const char *prog, int i)
{
	int pipefd[2], status;
	char msg[2048] = "";
	ssize_t n, off = 0;
	pid_t pid;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skiff-test-%d-%d", getpid(), i);
	if (mkdir(tmpdir, 0700) < 0 || pipe(pipefd) < 0) {
		printf("FAIL %s/%s: cannot set up: %s\n", prog, tests[i].name, strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		report_fd = pipefd[1];
		tests[i].fn();
		exit(0);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], msg + off, sizeof(msg) - 1 - (size_t)off)) > 0)
		off += n;
	msg[off] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("PASS %s/%s\n", prog, tests[i].name);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
		print_result("SKIP", prog, tests[i].name, msg);
		return 0;
	}
	if (WIFSIGNALED(status)) {
		char sig[2048 + 64];

		snprintf(sig, sizeof(sig), "killed by signal %d %s", WTERMSIG(status), msg);
		print_result("FAIL", prog, tests[i].name, sig);
	} else {
		print_result("FAIL", prog, tests[i].name, msg[0] ? msg : "exited non-zero");
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *prog = basename(argv[0]);
	const char *filter = NULL;
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "-l") == 0) {
		for (int i = 0; i < n_tests; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (argc > 1)
		filter = argv[1];
	for (int i = 0; i < n_tests; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		failed += run_one(prog, i);
	}
	return failed ? 1 : 0;
}
