/* The kubelet's parts, shared by dataplane/kubelet*.c (not a public API).
 *
 *   kubelet.c            threads: the informer and relist loop, the pod
 *                        workers, the pod cache and per-pod memory
 *   kubelet_pod.c        one pod's reconcile (kl_sync_pod) and its stop
 *   kubelet_sandbox.c    the pod sandbox: config (DNS, ports, cgroup by
 *                        QoS class, labels), create, adopt, stop, remove
 *   kubelet_container.c  containers: config (command, env, resources,
 *                        security), image pulls, starts, restart backoff
 *   kubelet_env.c        a container's environment; the downward API's
 *                        values; reads of ConfigMaps and Secrets
 *   kubelet_volume.c     the pod's volumes, /etc/hosts, volumeMounts
 *   kubelet_status.c     pod status from CRI, as a merge patch on change
 *   kubelet_probe.c      probes (their own threads) and lifecycle hooks
 *   kubelet_logrotate.c  container log rotation (its own thread) */
#ifndef SKIFF_KUBELET_INT_H
#define SKIFF_KUBELET_INT_H

#include "dataplane/cri/cri.h"
#include "dataplane/kubelet.h"
#include "dataplane/kubelet_probe.h"
#include "lib/json_path.h"
#include "lib/kube_client.h"
#include "lib/kube_events.h"
#include "lib/kube_workqueue.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* CRI labels and annotations, as upstream's kubelet writes them (so its
 * tools and ours read the same sandboxes). */
#define KL_LABEL_POD_NAME "io.kubernetes.pod.name"
#define KL_LABEL_POD_NS "io.kubernetes.pod.namespace"
#define KL_LABEL_POD_UID "io.kubernetes.pod.uid"
#define KL_LABEL_CONTAINER_NAME "io.kubernetes.container.name"
#define KL_ANN_GRACE "io.kubernetes.pod.terminationGracePeriod"
#define KL_ANN_RESTART_COUNT "io.kubernetes.container.restartCount"
#define KL_ANN_TERM_PATH "io.kubernetes.container.terminationMessagePath"
#define KL_ANN_INIT "skiff.io/init-container"

#define KL_BACKOFF_INITIAL_S 10
#define KL_BACKOFF_MAX_S 300
#define KL_BACKOFF_RESET_S 600 /* a container that ran this long starts over */
#define KL_RELIST_MS 1000

struct kubelet {
	struct kubelet_options o;
	struct kc_config *cfg;
	struct kc_wq *wq;
	pthread_t loop;
	pthread_t logrotate; /* 0: no rotation */
	pthread_t *workers;
	int n_workers;
	int stop_fd; /* eventfd: the loop ends when it turns readable */
	pthread_mutex_t lock; /* guards pods, mem and synced */
	json_t *pods;         /* "ns/name" -> the informer's pod (a copy) */
	json_t *mem;          /* "ns/name" -> what a worker remembers of it */
	bool synced;
	struct kl_prober *prober;
	json_t *events;       /* [{obj, type, reason, msg}]: for the loop's recorder */
	int event_fd;         /* eventfd: events are waiting */
};

/* One worker thread's clients (a kc_client and a CRI client belong to one
 * thread; its events go through kl_event_post). */
struct kl_worker {
	struct kubelet *k;
	struct cri_client *cri;
	struct kc_client *kc;
};

/* One reconcile of one pod. */
struct kl_sync {
	struct kl_worker *w;
	struct kubelet *k;
	const char *key;
	json_t *pod; /* owned copy; NULL when the pod is gone */
	json_t *mem; /* borrowed: the pod's memory (backoffs), kept across syncs */
	const char *ns, *name, *uid;
	json_t *sandbox_json;                       /* the sandbox config, as JSON */
	Runtime__V1__PodSandboxConfig *sb_config;   /* the same, for CRI */
	char *sandbox_id;                           /* the pod's ready sandbox */
	/* the pod's sandboxes as kl_sandboxes_remove listed them, when it
	 * removed none (kl_sandbox_ensure reads them instead of a new list) */
	Runtime__V1__ListPodSandboxResponse *sandboxes;
	char pod_ip[64];
	json_t *pod_ips;                            /* [{"ip": ...}] */
	Runtime__V1__ListContainersResponse *ctrs;  /* the pod's containers */
	json_t *waiting;    /* container name -> {"reason", "message"} */
	unsigned long long requeue_ns; /* > 0: look again after this long */
	bool terminal;      /* nothing more will run (phase Succeeded/Failed) */
};

/* The value of label (annotation) key of a CRI message with labels
 * (annotations), or NULL. */
#define KL_LABEL(m, k) kl_kv_find((m)->n_labels, (void **)(m)->labels, (k))
#define KL_ANNOTATION(m, k) kl_kv_find((m)->n_annotations, (void **)(m)->annotations, (k))
const char *kl_kv_find(size_t n, void **entries, const char *key);

/* kubelet.c */
json_t *kl_pod_get(struct kubelet *k, const char *key); /* a copy, or NULL */
json_t *kl_mem_get(struct kubelet *k, const char *key); /* a new reference */
void kl_mem_drop(struct kubelet *k, const char *key);
void kl_requeue(struct kl_sync *s, unsigned long long after_ns);
/* Records an event about obj (a pod) from any thread: the loop thread,
 * whose client's event loop runs, sends it. */
void kl_event_post(struct kubelet *k, json_t *obj, const char *type, const char *reason,
		   const char *msg);

/* kubelet_pod.c */
int kl_sync_pod(struct kl_worker *w, const char *key);

/* kubelet_sandbox.c */
int kl_sandbox_config(struct kl_sync *s, char *err, size_t errlen);
int kl_sandbox_ensure(struct kl_sync *s);
/* Stops (grace: seconds for the containers) and removes every sandbox of
 * key whose uid is not keep_uid (NULL: all of them). */
int kl_sandboxes_remove(struct kl_sync *s, const char *keep_uid, long long grace);
enum kl_stop {
	KL_STOP,       /* stop containers and sandbox (a terminal pod) */
	KL_REMOVE,     /* and remove them, and the pod's cgroup */
	KL_REMOVE_POD, /* and the pod's logs and files: the pod is gone */
};
int kl_sandbox_stop(struct kl_sync *s, const char *id, long long grace, enum kl_stop how);
const char *kl_qos_class(json_t *pod);
int kl_list_containers(struct kl_sync *s);

/* kubelet_container.c */
/* The newest (nth = 0) or older instances of container name. */
Runtime__V1__Container *kl_instance(struct kl_sync *s, const char *name, int nth);
int kl_container_run(struct kl_sync *s, json_t *spec, bool init, unsigned attempt);
/* An exited instance: 1 when it may restart now, 0 while in backoff
 * (waiting noted, requeue set). */
int kl_restart_allowed(struct kl_sync *s, const char *name,
		       const Runtime__V1__ContainerStatus *st);
void kl_set_waiting(struct kl_sync *s, const char *name, const char *reason, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
long long kl_grace_seconds(json_t *pod);
void kl_event(struct kl_sync *s, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* kubelet_env.c */
/* envFrom and env into envs ([{"key", "value"}]). */
int kl_container_env(struct kl_sync *s, json_t *spec, json_t *envs, char *err, size_t errlen);
/* $(VAR) of envs expanded ($$ is $, unknown ones kept): a new string. */
char *kl_expand(const char *in, json_t *envs);
json_t *kl_expand_all(json_t *strings, json_t *envs);
/* A fieldRef's value (volume: metadata.labels / annotations whole too). */
int kl_field_ref(struct kl_sync *s, json_t *ref, bool volume, char *buf, size_t size, char *err,
		 size_t errlen);
/* A resourceFieldRef's value; spec: the container (NULL: containerName). */
int kl_resource_ref(struct kl_sync *s, json_t *spec, json_t *ref, char *buf, size_t size,
		    char *err, size_t errlen);
/* GET of a ConfigMap or Secret of the pod's namespace (err: the server's
 * message). */
int kl_object_get(struct kl_sync *s, const char *resource, const char *name, json_t **out,
		  char *err, size_t errlen);
/* The decoded value of key (-ENOENT when absent): *out malloc'd, NUL-ended. */
int kl_object_value(json_t *obj, bool secret, const char *key, char **out, size_t *len);
json_t *kl_object_keys(json_t *obj, bool secret);

/* kubelet_volume.c */
/* The pod's volumes set up and the container's mounts (volumeMounts, the
 * service-account token, /etc/hosts) appended to mounts. */
int kl_volume_mounts(struct kl_sync *s, json_t *spec, json_t *mounts, char *err, size_t errlen);
/* Each sync of a running pod: the volumes' files brought up to date. */
void kl_volumes_sync(struct kl_sync *s);
/* Before the pod's files go: its tmpfs volumes (memory emptyDirs,
 * secret, projected) unmounted. */
void kl_volumes_teardown(struct kubelet *k, const char *uid);
/* When a service-account token issued at issued for ttl_s seconds is
 * renewed: after 80% of its life or 24 hours, whichever comes first (as
 * upstream's token manager). */
static inline time_t kl_token_renew_at(time_t issued, long long ttl_s)
{
	const long long max_age = 24 * 3600, after = ttl_s * 8 / 10;

	return issued + (time_t)(after < max_age ? after : max_age);
}

/* kubelet_logrotate.c: the rotation thread (ends when stop_fd turns
 * readable) */
void *kl_logrotate_main(void *arg);
/* Removes container id's log files, the rotated ones too (before the
 * container is removed, as upstream's log manager's Clean). */
int kl_logs_clean(struct cri_client *cri, const char *id);

/* kubelet_status.c */
int kl_status_update(struct kl_sync *s);
bool kl_should_restart(json_t *pod, int exit_code);


#endif
