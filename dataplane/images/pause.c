/* pause: the process that holds a pod sandbox's namespaces open.
 *
 * Sleeps until SIGINT or SIGTERM, then exits 0; reaps every child that is
 * reparented to it (it is PID 1 of the sandbox's PID namespace). Built as
 * a static binary into the local image skiff.local/pause (see build.sh). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pause_usage(FILE *f)
{
	fputs("Usage: pause [--help]\n"
	      "Holds a pod sandbox's namespaces: sleeps until SIGINT or SIGTERM,\n"
	      "reaping any child process that exits meanwhile.\n", f);
}

int main(int argc, char **argv)
{
	sigset_t set;
	int sig;

	if (argc > 1) {
		int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		pause_usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}

	/* Signals are taken synchronously with sigwait: no handler, no race. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		fprintf(stderr, "pause: sigprocmask: %s\n", strerror(errno));
		return 1;
	}

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			continue;
		}
		return 0;
	}
}
