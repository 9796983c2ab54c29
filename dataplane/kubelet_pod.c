/* One pod's reconcile (level-triggered): the pod as the informer last saw
 * it against the sandboxes and containers CRI reports.
 *
 *   gone           -> stop and remove its sandboxes (deleted while the
 *                     agent was down, or a sandbox no pod owns)
 *   another uid    -> the old pod's sandboxes go first
 *   deleting       -> preStop hooks, SIGTERM with the grace left, the
 *                     sandbox; then the pod object is deleted (grace 0)
 *   terminal       -> its sandbox stays stopped
 *   otherwise      -> sandbox (adopted or made), init containers in
 *                     order, app containers with restarts, status */
#include "dataplane/kubelet_int.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool exited(const Runtime__V1__Container *c)
{
	return c && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
}

/* Exit code of an exited instance (-1 when unknown); *st (may be NULL)
 * keeps its status for the caller to free. */
static int exit_code(struct kl_sync *s, const Runtime__V1__Container *c,
		     Runtime__V1__ContainerStatusResponse **st)
{
	Runtime__V1__ContainerStatusResponse *resp = NULL;
	int code;

	if (cri_container_status(s->w->cri, c->id, false, &resp) < 0)
		return -1;
	code = resp->status->exit_code;
	if (st)
		*st = resp;
	else
		cri_msg_free(resp);
	return code;
}

/* An exited instance that may run again: the next attempt, after the
 * backoff. */
static void maybe_restart(struct kl_sync *s, json_t *spec, bool init,
			  const Runtime__V1__Container *c)
{
	Runtime__V1__ContainerStatusResponse *st = NULL;
	int code = exit_code(s, c, &st);

	if (code >= 0 && kl_should_restart(s->pod, code) &&
	    kl_restart_allowed(s, c->metadata->name, st->status))
		kl_container_run(s, spec, init, c->metadata->attempt + 1);
	cri_msg_free(st);
}

/* Init containers one after another: 1 when all exited 0. */
static int run_init_containers(struct kl_sync *s)
{
	json_t *spec;
	size_t i;

	json_array_foreach(json_path_get(s->pod, "spec.initContainers"), i, spec) {
		const char *name = json_path_str(spec, "name");
		Runtime__V1__Container *c = name ? kl_instance(s, name, 0) : NULL;

		if (!name)
			return 0;
		if (!c) {
			kl_container_run(s, spec, true, 0);
			return 0;
		}
		if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
			cri_start_container(s->w->cri, c->id);
		if (!exited(c))
			return 0;
		if (exit_code(s, c, NULL) != 0) {
			/* restartPolicy Never: the pod fails (kl_status_update) */
			if (!streq(json_path_str(s->pod, "spec.restartPolicy") ?: "Always", "Never"))
				maybe_restart(s, spec, true, c);
			return 0;
		}
	}
	return 1;
}

static void run_app_containers(struct kl_sync *s)
{
	json_t *spec;
	size_t i;

	json_array_foreach(json_path_get(s->pod, "spec.containers"), i, spec) {
		const char *name = json_path_str(spec, "name");
		Runtime__V1__Container *c = name ? kl_instance(s, name, 0) : NULL;

		if (!name)
			continue;
		if (!c)
			kl_container_run(s, spec, false, 0);
		else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
			cri_start_container(s->w->cri, c->id); /* the agent died in between */
		else if (exited(c))
			maybe_restart(s, spec, false, c);
	}
}

/* Instances older than the newest two of each container (the newest's
 * predecessor is lastState) are removed. */
static void remove_old_instances(struct kl_sync *s)
{
	if (!s->ctrs)
		return;
	for (size_t i = 0; i < s->ctrs->n_containers; i++) {
		Runtime__V1__Container *c = s->ctrs->containers[i];
		const char *name = KL_LABEL(c, KL_LABEL_CONTAINER_NAME);
		Runtime__V1__Container *keep = name ? kl_instance(s, name, 1) : NULL;

		if (!keep || !exited(c) || !c->metadata || c->metadata->attempt >= keep->metadata->attempt)
			continue;
		if (kl_logs_clean(s->w->cri, c->id) < 0)
			log_debug("kubelet: pod %s: cannot remove the logs of container %s", s->key, c->id);
		cri_remove_container(s->w->cri, c->id);
	}
}

/* The pod is being deleted: stop it, then delete the object (grace 0,
 * this uid only), as upstream's kubelet does. */
static int kill_pod(struct kl_sync *s)
{
	long long grace = json_path_int(s->pod, "metadata.deletionGracePeriodSeconds",
				 kl_grace_seconds(s->pod));
	struct kc_delete_opts d = { .grace_period_seconds = 0, .has_grace_period = true,
				    .precondition_uid = s->uid };
	int r;

	kl_probe_forget(s->k, s->key);
	if (grace > 0)
		grace = kl_pre_stop(s, grace); /* preStop hooks first: SIGTERM gets what is left */
	r = kl_sandboxes_remove(s, NULL, grace);
	if (r < 0)
		return r;
	r = kc_delete(s->w->kc, kc_resource_find("pods"), s->ns, s->name, &d, NULL);
	if (r < 0 && r != -ENOENT && r != -ESTALE) {
		log_warn("kubelet: pod %s: delete: %s", s->key, kc_last_status(s->w->kc)->message);
		return r;
	}
	log_info("kubelet: pod %s: stopped and deleted", s->key);
	return 0;
}

/* A terminal pod keeps its containers (logs, status) but not its sandbox
 * (its address goes back to the pool). */
static void stop_terminal(struct kl_sync *s)
{
	if (s->sandbox_id)
		kl_sandbox_stop(s, s->sandbox_id, 0, KL_STOP);
}

static bool phase_terminal(json_t *pod)
{
	const char *phase = json_path_str(pod, "status.phase");

	return phase && (streq(phase, "Succeeded") || streq(phase, "Failed"));
}

/* The pod's sandbox and containers, as they should be. */
static int run_pod(struct kl_sync *s)
{
	char err[512] = "";
	int r;

	r = kl_sandbox_config(s, err, sizeof(err));
	if (r < 0) {
		kl_event(s, "Warning", "FailedCreatePodSandBox", "Invalid pod spec: %s", err);
		log_warn("kubelet: pod %s: invalid spec: %s", s->key, err);
		return 0; /* a spec change brings it back */
	}
	r = kl_sandbox_ensure(s);
	if (r < 0) {
		kl_status_update(s); /* Pending, PodReadyToStartContainers False */
		return r;
	}
	r = kl_list_containers(s);
	if (r == 0 && kl_probe_kill(s) > 0) /* a liveness (startup) probe failed */
		r = kl_list_containers(s);
	if (r < 0)
		return r;
	if (run_init_containers(s))
		run_app_containers(s);
	r = kl_list_containers(s);
	if (r < 0)
		return r;
	remove_old_instances(s);
	kl_probe_sync(s);
	r = kl_status_update(s);
	if (s->terminal)
		stop_terminal(s);
	return r;
}

int kl_sync_pod(struct kl_worker *w, const char *key)
{
	struct kl_sync s = { .w = w, .k = w->k, .key = key };
	int r;

	s.pod = kl_pod_get(w->k, key);
	if (!s.pod) {
		bool synced;

		pthread_mutex_lock(&w->k->lock);
		synced = w->k->synced;
		pthread_mutex_unlock(&w->k->lock);
		if (!synced)
			return 0; /* gone or not listed yet: only a full list can tell */
		kl_probe_forget(w->k, key);
		r = kl_sandboxes_remove(&s, NULL, -1);
		if (r == 0)
			kl_mem_drop(w->k, key);
		return r;
	}
	s.mem = kl_mem_get(w->k, key);
	s.ns = kc_meta_str(s.pod, "namespace");
	s.name = kc_meta_str(s.pod, "name");
	s.uid = kc_meta_str(s.pod, "uid");
	r = s.ns && s.name && s.uid ? kl_sandboxes_remove(&s, s.uid, -1) : -EINVAL;
	if (r < 0)
		goto out;
	if (kc_meta_str(s.pod, "deletionTimestamp"))
		r = kill_pod(&s);
	else if (phase_terminal(s.pod))
		r = 0; /* done: its sandbox was stopped when it turned terminal */
	else
		r = run_pod(&s);
out:
	if (s.requeue_ns)
		kc_wq_add_after(w->k->wq, key, s.requeue_ns);
	cri_msg_free(s.sb_config);
	cri_msg_free(s.sandboxes);
	cri_msg_free(s.ctrs);
	json_decref(s.sandbox_json);
	json_decref(s.pod_ips);
	json_decref(s.waiting);
	json_decref(s.mem);
	json_decref(s.pod);
	free(s.sandbox_id);
	return r;
}
