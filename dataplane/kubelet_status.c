/* The pod's status from what CRI reports, written as a merge patch of
 * pods/NAME/status only when it differs from what the server holds:
 * phase, conditions, IPs, startTime, qosClass and the statuses of the
 * (init) containers, as upstream's kubelet computes them. */
#include "dataplane/kubelet_int.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KL_ANN_TERM_FILE "skiff.io/termination-message-file"
#define KL_TERM_MESSAGE_MAX 4096

bool kl_should_restart(json_t *pod, int exit_code)
{
	const char *p = json_path_str(pod, "spec.restartPolicy");

	if (!p || streq(p, "Always"))
		return true;
	return streq(p, "OnFailure") && exit_code != 0;
}

static json_t *timestamp(long long ns)
{
	char buf[32];

	kc_timestamp(ns > 0 ? ns / 1000000000LL : 0, buf);
	return json_string(buf);
}

/* The file behind terminationMessagePath, at most 4 KiB (upstream's cap). */
static json_t *termination_message(const Runtime__V1__ContainerStatus *st)
{
	const char *path = KL_ANNOTATION(st, KL_ANN_TERM_FILE);
	char buf[KL_TERM_MESSAGE_MAX + 1];
	ssize_t n = -1;
	int fd;

	if (st->message && *st->message)
		return json_string(st->message);
	fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = read(fd, buf, KL_TERM_MESSAGE_MAX);
		close(fd);
	}
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return json_stringn_nocheck(buf, strlen(buf));
}

static json_t *terminated(const Runtime__V1__ContainerStatus *st)
{
	const char *reason = st->reason && *st->reason ? st->reason :
			     st->exit_code == 0 ? "Completed" : "Error";
	json_t *t = json_pack("{si ss so so ss+}", "exitCode", st->exit_code, "reason", reason,
			      "startedAt", timestamp(st->started_at), "finishedAt",
			      timestamp(st->finished_at), "containerID", "containerd://", st->id);
	json_t *msg = termination_message(st);

	if (msg)
		json_object_set_new(t, "message", msg);
	return t;
}

static Runtime__V1__ContainerStatusResponse *status_of(struct kl_sync *s,
						       const Runtime__V1__Container *c)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;

	if (!c || cri_container_status(s->w->cri, c->id, false, &st) < 0)
		return NULL;
	return st;
}

/* What one container reports: state, lastState, ready, started,
 * restartCount, image, imageID, containerID. */
static json_t *container_status(struct kl_sync *s, json_t *spec, bool init, const char *pending)
{
	const char *name = json_path_str(spec, "name");
	Runtime__V1__ContainerStatusResponse *cur = status_of(s, kl_instance(s, name, 0));
	Runtime__V1__ContainerStatusResponse *prev = status_of(s, kl_instance(s, name, 1));
	json_t *waiting = json_object_get(s->waiting, name);
	json_t *cs = json_pack("{ss ss ss sb sb si s{}}", "name", name, "image",
			       json_path_str(spec, "image") ?: "", "imageID", "", "ready", false,
			       "started", false, "restartCount", 0, "lastState");
	json_t *state = NULL, *last = NULL;

	if (prev)
		last = json_pack("{so}", "terminated", terminated(prev->status));
	if (cur) {
		Runtime__V1__ContainerStatus *st = cur->status;
		char id[128];

		snprintf(id, sizeof(id), "containerd://%s", st->id);
		json_object_set_new(cs, "containerID", json_string(id));
		json_object_set_new(cs, "imageID", json_string(st->image_ref ?: ""));
		json_object_set_new(cs, "restartCount", json_integer(st->metadata ? st->metadata->attempt : 0));
		if (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
			bool started, ready;

			/* probes: ready after readiness passed, started after startup */
			kl_probe_status(s, spec, st->id, &started, &ready);
			state = json_pack("{s{so}}", "running", "startedAt", timestamp(st->started_at));
			json_object_set_new(cs, "ready", json_boolean(!init && ready));
			json_object_set_new(cs, "started", json_boolean(started));
		} else if (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED && waiting) {
			json_decref(last);
			last = json_pack("{so}", "terminated", terminated(st));
		} else if (st->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
			state = json_pack("{so}", "terminated", terminated(st));
			json_object_set_new(cs, "ready", json_boolean(init && st->exit_code == 0));
		}
	}
	if (!state && waiting)
		state = json_pack("{s{sO}}", "waiting", "reason", json_object_get(waiting, "reason"));
	if (waiting && state && json_object_get(state, "waiting"))
		json_object_set(json_object_get(state, "waiting"), "message",
				json_object_get(waiting, "message"));
	if (!state)
		state = json_pack("{s{ss}}", "waiting", "reason", pending);
	json_object_set_new(cs, "state", state);
	if (last)
		json_object_set_new(cs, "lastState", last);
	cri_msg_free(cur);
	cri_msg_free(prev);
	return cs;
}

/* ---- phase and conditions ---- */

struct counts {
	int running, waiting, stopped, succeeded, unready;
	char unready_names[512];
};

static void count(struct counts *n, json_t *cs)
{
	json_t *st = json_object_get(cs, "state");
	json_t *term = json_object_get(st, "terminated");

	if (json_object_get(st, "running"))
		n->running++;
	else if (term) {
		n->stopped++;
		if (json_path_int(term, "exitCode", 1) == 0)
			n->succeeded++;
	} else if (json_object_get(json_object_get(cs, "lastState"), "terminated")) {
		n->stopped++; /* waiting to restart */
	} else {
		n->waiting++;
	}
	if (!json_is_true(json_object_get(cs, "ready"))) {
		size_t l = strlen(n->unready_names);

		snprintf(n->unready_names + l, sizeof(n->unready_names) - l, "%s%s", l ? " " : "",
			 json_path_str(cs, "name"));
		n->unready++;
	}
}

/* upstream's getPhase. init_failed: an init container failed for good. */
static const char *phase(json_t *pod, const struct counts *n, bool init_done, bool init_failed)
{
	const char *policy = json_path_str(pod, "spec.restartPolicy") ?: "Always";

	if (!init_done)
		return init_failed ? "Failed" : "Pending";
	if (n->waiting > 0)
		return "Pending";
	if (n->running > 0)
		return "Running";
	if (n->stopped > 0) {
		if (streq(policy, "Always"))
			return "Running";
		if (n->stopped == n->succeeded)
			return "Succeeded";
		return streq(policy, "OnFailure") ? "Running" : "Failed";
	}
	return "Pending";
}

/* A condition; its lastTransitionTime kept from the pod's when its status
 * did not change. */
static json_t *condition(json_t *pod, const char *type, bool ok, const char *reason,
			 const char *msg)
{
	json_t *old = NULL, *c, *e;
	size_t i;

	json_array_foreach(json_path_get(pod, "status.conditions"), i, e)
		if (streq(json_path_str(e, "type"), type))
			old = e;
	c = json_pack("{ss ss sn}", "type", type, "status", ok ? "True" : "False", "lastProbeTime");
	if (old && streq(json_path_str(old, "status"), ok ? "True" : "False") &&
	    json_object_get(old, "lastTransitionTime"))
		json_object_set(c, "lastTransitionTime", json_object_get(old, "lastTransitionTime"));
	else
		json_object_set_new(c, "lastTransitionTime", timestamp(0));
	if (!ok && reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (!ok && msg)
		json_object_set_new(c, "message", json_string(msg));
	return c;
}

static json_t *conditions(struct kl_sync *s, const struct counts *app, bool init_done,
			  const char *init_pending, const char *ph)
{
	bool ready = app->unready == 0 && init_done, done = streq(ph, "Succeeded");
	char msg[600];
	json_t *a = json_array();

	snprintf(msg, sizeof(msg), "containers with unready status: [%s]", app->unready_names);
	json_array_append_new(a, condition(s->pod, "PodReadyToStartContainers",
					   !s->terminal && s->sandbox_id, NULL, NULL));
	json_array_append_new(a, condition(s->pod, "Initialized", init_done || done,
					   "ContainersNotInitialized", init_pending));
	json_array_append_new(a, condition(s->pod, "Ready", ready,
					   done ? "PodCompleted" : "ContainersNotReady",
					   done ? NULL : msg));
	json_array_append_new(a, condition(s->pod, "ContainersReady", ready,
					   done ? "PodCompleted" : "ContainersNotReady",
					   done ? NULL : msg));
	json_array_append_new(a, condition(s->pod, "PodScheduled", true, NULL, NULL));
	return a;
}

/* The init containers' statuses; *done when all exited 0, *failed when
 * one failed and restartPolicy Never keeps it failed; pending names the
 * unfinished ones. */
static json_t *init_statuses(struct kl_sync *s, bool *done, bool *failed, char *pending,
			     size_t size)
{
	bool never = streq(json_path_str(s->pod, "spec.restartPolicy") ?: "Always", "Never");
	json_t *out = json_array(), *spec;
	size_t i;

	*done = true;
	*failed = false;
	pending[0] = '\0';
	json_array_foreach(json_path_get(s->pod, "spec.initContainers"), i, spec) {
		json_t *cs = container_status(s, spec, true, *done ? "PodInitializing" : "Waiting");
		json_t *term = json_path_get(cs, "state.terminated");

		if (!term || json_path_int(term, "exitCode", 1) != 0) {
			size_t l = strlen(pending);

			if (term && never)
				*failed = true;
			if (*done)
				snprintf(pending + l, size - l, "containers with incomplete status: [%s",
					 json_path_str(cs, "name"));
			else
				snprintf(pending + l, size - l, " %s", json_path_str(cs, "name"));
			*done = false;
		}
		json_array_append_new(out, cs);
	}
	if (pending[0] && strlen(pending) + 2 < size)
		strcat(pending, "]");
	return out;
}

static json_t *pod_status(struct kl_sync *s)
{
	char init_pending[600];
	bool init_done, init_failed;
	json_t *inits = init_statuses(s, &init_done, &init_failed, init_pending,
				      sizeof(init_pending));
	json_t *apps = json_array(), *spec, *st, *host_ips = json_array();
	struct counts n = { 0 };
	const char *ph;
	size_t i;

	json_array_foreach(json_path_get(s->pod, "spec.containers"), i, spec) {
		json_t *cs = container_status(s, spec, false,
					      init_done ? "ContainerCreating" : "PodInitializing");

		count(&n, cs);
		json_array_append_new(apps, cs);
	}
	ph = phase(s->pod, &n, init_done, init_failed);
	s->terminal = streq(ph, "Succeeded") || streq(ph, "Failed");
	st = json_pack("{ss so ss so so}", "phase", ph, "conditions",
		       conditions(s, &n, init_done, init_pending, ph), "qosClass",
		       kl_qos_class(s->pod), "containerStatuses", apps, "startTime",
		       json_incref(json_path_get(s->pod, "status.startTime")) ?: timestamp(0));
	if (json_array_size(inits))
		json_object_set_new(st, "initContainerStatuses", inits);
	else
		json_decref(inits);
	if (s->pod_ip[0]) {
		json_object_set_new(st, "podIP", json_string(s->pod_ip));
		json_object_set(st, "podIPs", s->pod_ips);
	}
	if (s->k->o.host_ip) {
		json_object_set_new(st, "hostIP", json_string(s->k->o.host_ip));
		json_array_append_new(host_ips, json_pack("{ss}", "ip", s->k->o.host_ip));
		json_object_set(st, "hostIPs", host_ips);
	}
	json_decref(host_ips);
	return st;
}

/* Every field of want equal in have. */
static bool subset_equal(json_t *want, json_t *have)
{
	const char *k;
	json_t *v;

	json_object_foreach(want, k, v)
		if (!json_equal(v, json_object_get(have, k)))
			return false;
	return true;
}

int kl_status_update(struct kl_sync *s)
{
	json_t *st = pod_status(s), *patch;
	int r = 0;

	if (!st)
		return -ENOMEM;
	if (subset_equal(st, json_object_get(s->pod, "status"))) {
		json_decref(st);
		return 0;
	}
	log_debug("kubelet: pod %s: phase %s", s->key, json_path_str(st, "phase"));
	patch = json_pack("{so}", "status", st);
	r = kc_patch(s->w->kc, kc_resource_find("pods"), s->ns, s->name, "status", KC_PATCH_MERGE,
		     patch, NULL);
	if (r == -ENOENT)
		r = 0; /* deleted meanwhile: the next sync stops it */
	else if (r < 0)
		log_warn("kubelet: pod %s: status: %s", s->key, kc_last_status(s->w->kc)->message);
	json_decref(patch);
	return r;
}
