/* Container log rotation, as upstream's container log manager does it:
 * every monitor interval each running container's CRI log file is looked
 * at, and one at or over --container-log-max-size is rotated:
 *
 *   1. leftovers of an interrupted rotation go (LOG.*.tmp, and LOG.X
 *      whose LOG.X.gz exists);
 *   2. the oldest rotated files go until max-files - 2 are left (the
 *      current file and the one rotated now make max-files);
 *   3. the rotated files not yet compressed are gzipped (LOG.X.gz), so
 *      only the newest rotated file stays plain;
 *   4. LOG is renamed LOG.YYYYMMDD-hhmmss and the runtime reopens LOG
 *      (CRI ReopenContainerLog); when it cannot, the rename is undone.
 *
 * The kubelet API serves the current file (LOG) only; a follow crosses a
 * rotation (kubelet_server_logs.c). */
#include "dataplane/kubelet_int.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define GZ_SUFFIX ".gz"
#define TMP_SUFFIX ".tmp"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

/* Upstream's isInUse: not a temporary file, and not a plain file whose
 * compressed copy exists. */
static bool in_use(const char *f, char **all, size_t n)
{
	size_t len = strlen(f);

	if (ends_with(f, TMP_SUFFIX))
		return false;
	if (ends_with(f, GZ_SUFFIX))
		return true;
	for (size_t i = 0; i < n; i++)
		if (all[i] && strlen(all[i]) == len + strlen(GZ_SUFFIX) &&
		    strncmp(all[i], f, len) == 0 && ends_with(all[i], GZ_SUFFIX))
			return false;
	return true;
}

/* path gzipped into path.gz (through path.gz.tmp), then removed. */
static int compress_file(const char *path)
{
	char tmp[PATH_MAX], gz[PATH_MAX], buf[65536];
	_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	gzFile out;
	ssize_t n;
	int fd, r = 0;

	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	if (snprintf(tmp, sizeof(tmp), "%s" GZ_SUFFIX TMP_SUFFIX, path) >= (int)sizeof(tmp) ||
	    snprintf(gz, sizeof(gz), "%s" GZ_SUFFIX, path) >= (int)sizeof(gz))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
	if (fd < 0)
		return -errno;
	out = gzdopen(fd, "wb");
	if (!out) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	while (r == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0)
			r = -errno;
		else if (gzwrite(out, buf, (unsigned)n) != (int)n)
			r = -EIO;
	}
	if (gzclose(out) != Z_OK && r == 0)
		r = -EIO;
	if (r == 0 && rename(tmp, gz) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return unlink(path) < 0 ? -errno : 0;
}

/* Steps 1-3 over the rotated files of log (glob sorts them oldest first:
 * the suffix is a timestamp). */
static int prune(const struct kubelet *k, const char *log)
{
	char pattern[PATH_MAX];
	glob_t g = { 0 };
	size_t keep = k->o.log_max_files > 2 ? (size_t)k->o.log_max_files - 2 : 0;
	size_t n = 0, i;
	char **live;
	int r = 0;

	if (snprintf(pattern, sizeof(pattern), "%s.*", log) >= (int)sizeof(pattern))
		return -ENAMETOOLONG;
	if (glob(pattern, GLOB_NOESCAPE, NULL, &g) != 0)
		return 0; /* none yet */
	live = calloc(g.gl_pathc, sizeof(*live));
	for (i = 0; live && i < g.gl_pathc; i++) {
		if (in_use(g.gl_pathv[i], g.gl_pathv, g.gl_pathc))
			live[n++] = g.gl_pathv[i];
		else if (unlink(g.gl_pathv[i]) < 0 && errno != ENOENT)
			r = -errno;
	}
	for (i = 0; live && r == 0 && i + keep < n; i++)
		if (unlink(live[i]) < 0 && errno != ENOENT)
			r = -errno;
	for (; live && r == 0 && i < n; i++)
		if (!ends_with(live[i], GZ_SUFFIX))
			r = compress_file(live[i]);
	if (!live)
		r = -ENOMEM;
	free(live);
	globfree(&g);
	return r;
}

/* Step 4: log renamed away with the time as suffix, the runtime writes a
 * new one. */
static int rotate_latest(struct cri_client *cri, const char *id, const char *log)
{
	char rotated[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime_r(&now, &tm));
	if (snprintf(rotated, sizeof(rotated), "%s.%s", log, stamp) >= (int)sizeof(rotated))
		return -ENAMETOOLONG;
	if (rename(log, rotated) < 0)
		return -errno;
	r = cri_reopen_container_log(cri, id);
	if (r < 0 && rename(rotated, log) < 0)
		log_error("kubelet: container %s: cannot put its log %s back after a failed "
			  "reopen: %m", id, rotated);
	return r;
}

/* One running container: its log rotated when it reached the size. */
static void check_container(struct kubelet *k, struct cri_client *cri, const char *id)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;
	const char *path;
	struct stat sb;
	int r;

	if (cri_container_status(cri, id, false, &st) < 0)
		return; /* gone since the list */
	path = st->status ? st->status->log_path : NULL;
	if (!path || !*path)
		goto out;
	if (stat(path, &sb) < 0) {
		/* removed under it: the runtime opens it again */
		if (errno != ENOENT || cri_reopen_container_log(cri, id) < 0 || stat(path, &sb) < 0) {
			log_warn("kubelet: container %s: cannot find or reopen its log %s", id, path);
			goto out;
		}
	}
	if (sb.st_size < k->o.log_max_size)
		goto out;
	r = prune(k, path);
	if (r == 0)
		r = rotate_latest(cri, id, path);
	if (r < 0)
		log_warn("kubelet: container %s: cannot rotate its log %s: %s", id, path,
			 strerror(-r));
	else
		log_debug("kubelet: container %s: log %s rotated at %lld bytes", id, path,
			  (long long)sb.st_size);
out:
	cri_msg_free(st);
}

static void rotate_all(struct kubelet *k, struct cri_client *cri)
{
	Runtime__V1__ContainerStateValue running = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ListContainersResponse *cl = NULL;

	running.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	f.state = &running;
	if (cri_list_containers(cri, &f, &cl) < 0)
		return;
	for (size_t i = 0; i < cl->n_containers; i++)
		if (cl->containers[i]->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
			check_container(k, cri, cl->containers[i]->id);
	cri_msg_free(cl);
}

int kl_logs_clean(struct cri_client *cri, const char *id)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;
	char pattern[PATH_MAX];
	glob_t g = { 0 };
	int r = cri_container_status(cri, id, false, &st);

	if (r < 0)
		return r;
	if (st->status && st->status->log_path && *st->status->log_path &&
	    snprintf(pattern, sizeof(pattern), "%s*", st->status->log_path) < (int)sizeof(pattern) &&
	    glob(pattern, GLOB_NOESCAPE, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (unlink(g.gl_pathv[i]) < 0 && errno != ENOENT)
				r = -errno;
		globfree(&g);
	}
	cri_msg_free(st);
	return r;
}

void *kl_logrotate_main(void *arg)
{
	struct kubelet *k = arg;
	struct cri_client *cri = NULL;
	struct pollfd p = { .fd = k->stop_fd, .events = POLLIN };
	int r = cri_client_new(k->o.runtime_endpoint, 30000, &cri);

	if (r < 0) {
		log_error("kubelet: node %s: no container log rotation: runtime %s: %s",
			  k->o.node_name, k->o.runtime_endpoint, strerror(-r));
		return NULL;
	}
	while (poll(&p, 1, k->o.log_monitor_interval_s * 1000) == 0) /* else: stopping */
		rotate_all(k, cri);
	cri_client_free(cri);
	return NULL;
}
