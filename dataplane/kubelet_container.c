/* Containers: the CRI config of a pod's container (command, env,
 * resources, security context, the termination-message file), its image
 * per imagePullPolicy, create + start, and the restart backoff
 * (CrashLoopBackOff: 10 s doubling to 300 s, reset after 10 minutes).
 *
 * The environment is kubelet_env.c's, the volumes kubelet_volume.c's. */
#include "dataplane/kubelet_int.h"

#include "dataplane/cri/cri_json.h"
#include "lib/kube_quantity.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KL_ANN_TERM_FILE "skiff.io/termination-message-file"

static unsigned long long wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

long long kl_grace_seconds(json_t *pod)
{
	long long g = json_path_int(pod, "spec.terminationGracePeriodSeconds", 30);

	return g < 0 ? 30 : g;
}

void kl_event(struct kl_sync *s, const char *type, const char *reason, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!s->pod)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_event_post(s->k, s->pod, type, reason, msg); /* the loop thread sends it */
}

void kl_set_waiting(struct kl_sync *s, const char *name, const char *reason, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s->waiting)
		s->waiting = json_object();
	json_object_set_new(s->waiting, name, json_pack("{ss ss}", "reason", reason, "message", msg));
}

Runtime__V1__Container *kl_instance(struct kl_sync *s, const char *name, int nth)
{
	Runtime__V1__Container *best = NULL;
	unsigned below = UINT32_MAX;

	if (!s->ctrs)
		return NULL;
	for (int k = 0; k <= nth; k++) {
		best = NULL;
		for (size_t i = 0; i < s->ctrs->n_containers; i++) {
			Runtime__V1__Container *c = s->ctrs->containers[i];

			if (!c->metadata || !streq(KL_LABEL(c, KL_LABEL_CONTAINER_NAME), name) ||
			    c->metadata->attempt >= below)
				continue;
			if (!best || c->metadata->attempt > best->metadata->attempt)
				best = c;
		}
		if (!best)
			return NULL;
		below = best->metadata->attempt;
	}
	return best;
}

/* ---- mounts ---- */

/* The host file behind terminationMessagePath (as upstream's kubelet
 * makes one per container instance). */
static int termination_file(struct kl_sync *s, const char *name, unsigned attempt, char *path,
			    size_t size)
{
	char dir[1024];
	int fd;

	snprintf(dir, sizeof(dir), "%s/pods/%s/containers/%s", s->k->o.root_dir, s->uid, name);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (snprintf(path, size, "%s/%u-termination-log", dir, attempt) >= (int)size)
		return -ENAMETOOLONG;
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0666); /* writable by any runAsUser */
	close(fd);
	return 0;
}

/* ---- resources and security ---- */

static json_t *container_resources(json_t *spec, char *err, size_t errlen)
{
	json_t *req = json_path_get(spec, "resources.requests");
	json_t *lim = json_path_get(spec, "resources.limits");
	json_t *out = json_object(), *v;
	int64_t m;

	/* requests default to limits, as the API server's defaulting does */
	v = json_object_get(req, "cpu") ?: json_object_get(lim, "cpu");
	m = 0;
	if (v && kube_quantity_json_milli(v, &m) < 0)
		goto bad;
	json_object_set_new(out, "cpu_shares", json_integer(m > 0 ? (m * 1024 / 1000 ?: 2) : 2));
	if ((v = json_object_get(lim, "cpu"))) {
		if (kube_quantity_json_milli(v, &m) < 0)
			goto bad;
		json_object_set_new(out, "cpu_period", json_integer(100000));
		json_object_set_new(out, "cpu_quota", json_integer(m * 100 < 1000 ? 1000 : m * 100));
	}
	if ((v = json_object_get(lim, "memory"))) {
		if (kube_quantity_json_value(v, &m) < 0)
			goto bad;
		json_object_set_new(out, "memory_limit_in_bytes", json_integer(m));
	}
	return out;
bad:
	set_err(err, errlen, -EINVAL, "resources: %s is not a quantity",
		json_is_string(v) ? json_string_value(v) : "a value");
	json_decref(out);
	return NULL;
}

static void copy_int(json_t *dst, const char *to, json_t *pod_sc, json_t *sc, const char *from)
{
	json_t *v = json_object_get(sc, from) ?: json_object_get(pod_sc, from);

	if (json_is_integer(v))
		json_object_set(dst, to, v);
}

/* The container's securityContext over the pod's (runAsUser, runAsGroup). */
static json_t *container_security(struct kl_sync *s, json_t *spec)
{
	json_t *sc = json_object_get(spec, "securityContext");
	json_t *pod_sc = json_path_get(s->pod, "spec.securityContext");
	json_t *caps = json_object_get(sc, "capabilities");
	json_t *out = json_object();

	copy_int(out, "run_as_user", pod_sc, sc, "runAsUser");
	copy_int(out, "run_as_group", pod_sc, sc, "runAsGroup");
	if (json_is_true(json_object_get(sc, "privileged")))
		json_object_set_new(out, "privileged", json_true());
	if (json_is_true(json_object_get(sc, "readOnlyRootFilesystem")))
		json_object_set_new(out, "readonly_rootfs", json_true());
	if (caps) {
		json_t *c = json_object();

		if (json_is_array(json_object_get(caps, "add")))
			json_object_set(c, "add_capabilities", json_object_get(caps, "add"));
		if (json_is_array(json_object_get(caps, "drop")))
			json_object_set(c, "drop_capabilities", json_object_get(caps, "drop"));
		json_object_set_new(out, "capabilities", c);
	}
	if (json_is_true(json_path_get(s->pod, "spec.hostNetwork")))
		json_object_set_new(out, "namespace_options",
				    json_pack("{ss}", "network", "NODE"));
	return out;
}

/* ---- the config ---- */

static void copy_strings(json_t *dst, const char *to, json_t *spec, const char *from)
{
	json_t *v = json_object_get(spec, from);

	if (v)
		json_object_set(dst, to, v);
}

/* command and args, with $(VAR) of the container's environment. */
static void expand_strings(json_t *dst, const char *to, json_t *spec, const char *from,
			   json_t *envs)
{
	json_t *v = json_object_get(spec, from);

	if (v)
		json_object_set_new(dst, to, kl_expand_all(v, envs));
}

static json_t *container_json(struct kl_sync *s, json_t *spec, bool init, unsigned attempt,
			      char *err, size_t errlen)
{
	const char *name = json_path_str(spec, "name"), *image = json_path_str(spec, "image");
	const char *tpath = json_path_str(spec, "terminationMessagePath") ?: "/dev/termination-log";
	json_t *envs = json_array(), *mounts = json_array(), *res, *j;
	char log_path[512], tfile[1100], n[32];
	int r;

	r = kl_container_env(s, spec, envs, err, errlen);
	if (r == 0)
		r = kl_volume_mounts(s, spec, mounts, err, errlen);
	if (r == 0)
		r = termination_file(s, name, attempt, tfile, sizeof(tfile));
	res = r == 0 ? container_resources(spec, err, errlen) : NULL;
	if (!res) {
		if (r == 0)
			r = -EINVAL;
		else if (!*err)
			set_err(err, errlen, r, "termination message file: %s", strerror(-r));
		json_decref(envs);
		json_decref(mounts);
		return NULL;
	}
	json_array_append_new(mounts, json_pack("{ss ss}", "container_path", tpath, "host_path",
						tfile));
	snprintf(log_path, sizeof(log_path), "%s/%u.log", name, attempt);
	snprintf(n, sizeof(n), "%u", attempt);
	j = json_pack("{s{ss sI} ss so so ss s{ss ss ss ss} s{ss ss ss ss} s{so so}}",
		      "metadata", "name", name, "attempt", (json_int_t)attempt, "image", image,
		      "envs", envs, "mounts", mounts, "log_path", log_path,
		      "labels", KL_LABEL_POD_NAME, s->name, KL_LABEL_POD_NS, s->ns,
		      KL_LABEL_POD_UID, s->uid, KL_LABEL_CONTAINER_NAME, name,
		      "annotations", KL_ANN_RESTART_COUNT, n, KL_ANN_TERM_PATH, tpath,
		      KL_ANN_TERM_FILE, tfile, KL_ANN_INIT, init ? "true" : "false",
		      "linux", "resources", res, "security_context", container_security(s, spec));
	if (!j)
		return NULL;
	expand_strings(j, "command", spec, "command", envs);
	expand_strings(j, "args", spec, "args", envs);
	copy_strings(j, "working_dir", spec, "workingDir");
	if (json_is_true(json_object_get(spec, "stdin")))
		json_object_set_new(j, "stdin", json_true());
	if (json_is_true(json_object_get(spec, "stdinOnce")))
		json_object_set_new(j, "stdin_once", json_true());
	if (json_is_true(json_object_get(spec, "tty")))
		json_object_set_new(j, "tty", json_true());
	return j;
}

/* ---- images ---- */

/* Always for :latest or no tag, else IfNotPresent, unless the spec says. */
static const char *pull_policy(json_t *spec)
{
	const char *p = json_path_str(spec, "imagePullPolicy"), *img = json_path_str(spec, "image");
	const char *slash = strrchr(img, '/'), *tag = strchr(slash ? slash : img, ':');

	if (p && *p)
		return p;
	if (strchr(img, '@'))
		return "IfNotPresent";
	return !tag || streq(tag, ":latest") ? "Always" : "IfNotPresent";
}

static long long backoff_next(long long delay)
{
	return delay ? (delay * 2 > KL_BACKOFF_MAX_S ? KL_BACKOFF_MAX_S : delay * 2) :
		       KL_BACKOFF_INITIAL_S;
}

/* 0 when the image is there; -EAGAIN when not (waiting noted). */
static int ensure_image(struct kl_sync *s, const char *name, const char *image, json_t *spec)
{
	const char *policy = pull_policy(spec);
	Runtime__V1__ImageStatusResponse *st = NULL;
	json_t *pulls = json_object_get(s->mem, "pulls"), *b;
	unsigned long long t0, now = now_ns();
	bool present = false;
	int r;

	if (!streq(policy, "Always")) {
		if (cri_image_status(s->w->cri, image, &st) == 0)
			present = st->image != NULL;
		cri_msg_free(st);
		if (present) {
			kl_event(s, "Normal", "Pulled", "Container image \"%s\" already present on "
				 "machine", image);
			return 0;
		}
		if (streq(policy, "Never")) {
			kl_set_waiting(s, name, "ErrImageNeverPull", "Container image \"%s\" is not "
				       "present with pull policy of Never", image);
			kl_event(s, "Warning", "ErrImageNeverPull", "Container image \"%s\" is not "
				 "present with pull policy of Never", image);
			return -EAGAIN;
		}
	}
	if (!pulls) {
		pulls = json_object();
		json_object_set_new(s->mem, "pulls", pulls);
	}
	b = json_object_get(pulls, image);
	if (b && now < (unsigned long long)json_path_int(b, "until", 0)) {
		kl_set_waiting(s, name, "ImagePullBackOff", "Back-off pulling image \"%s\"", image);
		kl_event(s, "Normal", "BackOff", "Back-off pulling image \"%s\"", image);
		kl_requeue(s, json_path_int(b, "until", 0) - now);
		return -EAGAIN;
	}
	kl_event(s, "Normal", "Pulling", "Pulling image \"%s\"", image);
	t0 = now_ns();
	r = cri_pull_image(s->w->cri, image, s->sb_config, NULL);
	if (r == 0) {
		kl_event(s, "Normal", "Pulled", "Successfully pulled image \"%s\" in %.3fs", image,
			 (now_ns() - t0) / 1e9);
		json_object_del(pulls, image);
		return 0;
	}
	{
		long long delay = backoff_next(json_path_int(b, "delay", 0));
		const char *why = cri_last_status(s->w->cri)->message;

		json_object_set_new(pulls, image, json_pack("{sI sI}", "delay", delay, "until",
							    (json_int_t)(now_ns() + delay * 1000000000ULL)));
		kl_set_waiting(s, name, "ErrImagePull", "failed to pull image \"%s\": %s", image, why);
		kl_event(s, "Warning", "Failed", "Failed to pull image \"%s\": %s", image, why);
		kl_event(s, "Warning", "Failed", "Error: ErrImagePull");
		/* halfway: ImagePullBackOff; at the end: the next pull */
		kl_requeue(s, delay * 500000000ULL);
	}
	return -EAGAIN;
}

/* ---- run ---- */

int kl_container_run(struct kl_sync *s, json_t *spec, bool init, unsigned attempt)
{
	const char *name = json_path_str(spec, "name"), *image = json_path_str(spec, "image");
	Runtime__V1__ContainerConfig *cfg = NULL;
	char err[512] = "", *id = NULL;
	json_t *j;
	int r;

	if (!name || !image || !*image) {
		kl_set_waiting(s, name ? name : "", "InvalidImageName", "no image");
		kl_event(s, "Warning", "InspectFailed", "container %s has no image", name ?: "");
		return -EINVAL;
	}
	if (ensure_image(s, name, image, spec) < 0)
		return -EAGAIN;
	j = container_json(s, spec, init, attempt, err, sizeof(err));
	r = j ? cri_json_container_config(j, &cfg, err, sizeof(err)) : -EINVAL;
	json_decref(j);
	if (r < 0) {
		kl_set_waiting(s, name, "CreateContainerConfigError", "%s", err);
		kl_event(s, "Warning", "Failed", "Error: %s", err);
		kl_requeue(s, KL_BACKOFF_INITIAL_S * 1000000000ULL);
		return r;
	}
	r = cri_create_container(s->w->cri, s->sandbox_id, cfg, s->sb_config, &id);
	cri_msg_free(cfg);
	if (r < 0) {
		kl_set_waiting(s, name, "CreateContainerError", "%s", cri_last_status(s->w->cri)->message);
		kl_event(s, "Warning", "Failed", "Error: %s", cri_last_status(s->w->cri)->message);
		kl_requeue(s, KL_BACKOFF_INITIAL_S * 1000000000ULL);
		return r;
	}
	kl_event(s, "Normal", "Created", "Created container %s", name);
	r = cri_start_container(s->w->cri, id);
	if (r < 0) {
		kl_event(s, "Warning", "Failed", "Error: %s", cri_last_status(s->w->cri)->message);
		log_warn("kubelet: pod %s: container %s: start: %s", s->key, name,
			 cri_last_status(s->w->cri)->message);
	} else {
		kl_event(s, "Normal", "Started", "Started container %s", name);
		log_info("kubelet: pod %s: container %s started (%.12s, attempt %u)", s->key, name, id,
			 attempt);
		r = kl_post_start(s, spec, id); /* kubelet_probe.c */
	}
	free(id);
	return r;
}

int kl_restart_allowed(struct kl_sync *s, const char *name, const Runtime__V1__ContainerStatus *st)
{
	json_t *backoffs = json_object_get(s->mem, "backoff");
	long long delay;
	unsigned long long until, now = wall_ns();

	if (!backoffs) {
		backoffs = json_object();
		json_object_set_new(s->mem, "backoff", backoffs);
	}
	delay = json_path_int(json_object_get(backoffs, name), "delay", 0);
	if (st->finished_at - st->started_at >= KL_BACKOFF_RESET_S * 1000000000LL)
		delay = 0;
	until = (unsigned long long)st->finished_at + (unsigned long long)delay * 1000000000ULL;
	if (delay && now < until) {
		kl_set_waiting(s, name, "CrashLoopBackOff",
			       "back-off %llds restarting failed container=%s pod=%s_%s(%s)", delay,
			       name, s->name, s->ns, s->uid);
		kl_event(s, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
			 name, s->name, s->ns, s->uid);
		kl_requeue(s, until - now);
		return 0;
	}
	json_object_set_new(backoffs, name, json_pack("{sI}", "delay", backoff_next(delay)));
	return 1;
}
