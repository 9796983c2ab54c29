/* The kubelet's container probes and lifecycle hooks (not a public API).
 *
 * Probes (startupProbe, livenessProbe, readinessProbe) run on the
 * prober's own threads, never on the pod workers: a probe is one entry
 * per container instance and kind, due at start + initialDelaySeconds and
 * then every periodSeconds, each run bounded by timeoutSeconds. Upstream's
 * semantics: readiness is false until its first success; liveness and
 * readiness wait for the startup probe; successThreshold consecutive
 * successes turn a result on, failureThreshold failures off; a liveness
 * (startup) failure past its threshold asks the pod's worker to kill the
 * container, which restarts per restartPolicy. A changed result queues
 * the pod at once, so its status (Ready, EndpointSlices) follows.
 *
 *   kl_probe_sync(s)      a worker's view of a pod's running containers:
 *                         entries made for new instances, dropped for gone
 *   kl_probe_kill(s)      stops the containers a probe failed (Killing)
 *   kl_probe_status()     started and ready of one container instance
 *   kl_pre_stop(s, grace) preStop hooks of the running containers: the
 *                         grace left
 *   kl_post_start()       a container's postStart hook
 *
 * Actions: exec (CRI ExecSync), httpGet (libcurl: 200-399 succeeds),
 * tcpSocket (a connect), grpc (grpc.health.v1.Health/Check). */
#ifndef SKIFF_KUBELET_PROBE_H
#define SKIFF_KUBELET_PROBE_H

#include <jansson.h>
#include <stdbool.h>

struct kubelet;
struct kl_sync;
struct kl_prober;

int kl_prober_start(struct kubelet *k, struct kl_prober **out);
void kl_prober_stop(struct kl_prober *p); /* NULL-safe */

void kl_probe_sync(struct kl_sync *s);
void kl_probe_forget(struct kubelet *k, const char *key);
int kl_probe_kill(struct kl_sync *s); /* how many containers it stopped */
/* A running instance id of container spec: started (startup probe passed)
 * and ready (readiness too). */
void kl_probe_status(struct kl_sync *s, json_t *spec, const char *id, bool *started, bool *ready);

/* Runs the preStop hooks of the pod's running containers within grace
 * seconds; returns the grace left for SIGTERM (at least 2 s, upstream's
 * minimum). */
long long kl_pre_stop(struct kl_sync *s, long long grace);
/* Runs spec's postStart hook in the container just started (id); a
 * failure stops it (FailedPostStartHook) and returns < 0. */
int kl_post_start(struct kl_sync *s, json_t *spec, const char *id);

#endif
