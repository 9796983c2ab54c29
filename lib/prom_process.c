/* The process_* metrics every Prometheus client library exports (the Go
 * client's process collector): CPU time, memory, descriptors, start time,
 * read from /proc/self at each scrape. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/prom.h"
#include "lib/util.h"

/* utime, stime (ticks), starttime (ticks after boot), vsize, rss (pages)
 * of /proc/self/stat. */
struct self_stat {
	unsigned long long utime, stime, start, vsize;
	long long rss;
};

static int read_self_stat(struct self_stat *st)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/stat", "re");
	char buf[1024], *p;

	if (!f || !fgets(buf, sizeof(buf), f))
		return -EIO;
	/* after "pid (comm) ": the comm may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
			 "%*d %*d %*d %llu %llu %lld", &st->utime, &st->stime, &st->start,
			 &st->vsize, &st->rss) != 5)
		return -EIO;
	return 0;
}

/* Seconds since the epoch at boot (btime of /proc/stat). */
static long long boot_time(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	char line[256];
	long long t = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &t) == 1)
			break;
	return t;
}

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n ? n - 1 : 0; /* not the directory's own descriptor */
}

static void set(struct prom_registry *r, bool counter, const char *name, const char *help,
		double v)
{
	struct prom_metric *m = counter ? prom_counter_new(r, name, help, NULL)
					: prom_gauge_new(r, name, help, NULL);

	prom_set(prom_series_of(m, NULL), v);
}

void prom_process_update(struct prom_registry *r)
{
	double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	struct self_stat st;
	struct rlimit rl;

	if (!r || hz <= 0 || read_self_stat(&st) < 0)
		return;
	set(r, true, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
	    (double)(st.utime + st.stime) / hz);
	set(r, false, "process_resident_memory_bytes", "Resident memory size in bytes.",
	    (double)st.rss * page);
	set(r, false, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
	    (double)st.vsize);
	set(r, false, "process_start_time_seconds",
	    "Start time of the process since unix epoch in seconds.",
	    (double)boot_time() + (double)st.start / hz);
	set(r, false, "process_open_fds", "Number of open file descriptors.", (double)open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		set(r, false, "process_max_fds", "Maximum number of open file descriptors.",
		    (double)rl.rlim_cur);
}
