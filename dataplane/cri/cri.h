/* CRI client: the Kubernetes Container Runtime Interface (runtime.v1, as
 * containerd 1.6 serves it) over lib/grpc. Requests and responses are the
 * protobuf-c messages generated from dataplane/cri/api.proto; responses
 * are owned by the caller and freed with cri_msg_free().
 *
 *   struct cri_client *c;
 *   cri_client_new("unix:/run/containerd/containerd.sock", 0, &c);
 *   cri_run_pod_sandbox(c, &config, NULL, &id);
 *
 * Errors are negative errno: -ENOENT when the runtime answered NOT_FOUND,
 * -ETIMEDOUT (DEADLINE_EXCEEDED or no answer), -EOPNOTSUPP
 * (UNIMPLEMENTED), -EREMOTEIO for any other non-OK gRPC status, or the
 * transport's error. cri_last_status() then holds the gRPC status code and
 * message (or the transport problem) for the caller's log line. */
#ifndef SKIFF_CRI_H
#define SKIFF_CRI_H

/* The generated code has a field named "linux", which GNU C predefines. */
#undef linux

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/cri/api.pb-c.h"
#include "lib/grpc.h"

struct cri_client;

/* endpoint: a unix socket path or any grpc_channel_new() target.
 * timeout_ms <= 0 selects CRI_DEFAULT_TIMEOUT_MS. */
#define CRI_DEFAULT_TIMEOUT_MS 120000
int cri_client_new(const char *endpoint, int timeout_ms, struct cri_client **out);
void cri_client_free(struct cri_client *c);
const struct grpc_status *cri_last_status(const struct cri_client *c);

/* Frees any response message (NULL-safe). */
void cri_msg_free(void *msg);

/* RuntimeService: version and pod sandboxes. */
int cri_version(struct cri_client *c, Runtime__V1__VersionResponse **out);
int cri_run_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxConfig *config,
			const char *runtime_handler, char **id);
int cri_stop_pod_sandbox(struct cri_client *c, const char *id);
int cri_remove_pod_sandbox(struct cri_client *c, const char *id);
int cri_pod_sandbox_status(struct cri_client *c, const char *id, bool verbose,
			   Runtime__V1__PodSandboxStatusResponse **out);
/* filter may be NULL (all sandboxes). */
int cri_list_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxFilter *filter,
			 Runtime__V1__ListPodSandboxResponse **out);

/* RuntimeService: containers. */
int cri_create_container(struct cri_client *c, const char *pod_id,
			 const Runtime__V1__ContainerConfig *config,
			 const Runtime__V1__PodSandboxConfig *sandbox_config, char **id);
int cri_start_container(struct cri_client *c, const char *id);
int cri_stop_container(struct cri_client *c, const char *id, int64_t timeout_s);
int cri_remove_container(struct cri_client *c, const char *id);
int cri_container_status(struct cri_client *c, const char *id, bool verbose,
			 Runtime__V1__ContainerStatusResponse **out);
int cri_list_containers(struct cri_client *c, const Runtime__V1__ContainerFilter *filter,
			Runtime__V1__ListContainersResponse **out);
/* The runtime opens the log file at the container's log path anew (after
 * the kubelet renamed it to rotate it); the container must be running. */
int cri_reopen_container_log(struct cri_client *c, const char *id);
/* The cumulative CPU time and working set of every running container. */
int cri_list_container_stats(struct cri_client *c, Runtime__V1__ListContainerStatsResponse **out);

/* ImageService. image_status: (*out)->image is NULL when the image is absent. */
int cri_image_status(struct cri_client *c, const char *image, Runtime__V1__ImageStatusResponse **out);
int cri_list_images(struct cri_client *c, Runtime__V1__ListImagesResponse **out);

/* ---- the kubelet's additions ---- */

/* ImageService.PullImage: *image_ref (may be NULL) gets the reference the
 * runtime resolved (free()). sandbox_config may be NULL. */
int cri_pull_image(struct cri_client *c, const char *image,
		   const Runtime__V1__PodSandboxConfig *sandbox_config, char **image_ref);

/* Streaming: each answers the URL on the runtime's streaming server that
 * the client's upgraded connection goes to (once: the URL's token is
 * consumed by its first request). */
struct cri_stream_opts {
	bool in, out, err, tty;
};
int cri_exec(struct cri_client *c, const char *container_id, char *const *cmd, size_t n_cmd,
	     const struct cri_stream_opts *o, char **url);
int cri_attach(struct cri_client *c, const char *container_id, const struct cri_stream_opts *o,
	       char **url);
int cri_port_forward(struct cri_client *c, const char *pod_id, const int32_t *ports,
		     size_t n_ports, char **url);

/* RuntimeService.ExecSync: runs cmd (argv) in container id and waits at
 * most timeout_s (> 0) for it, the call itself a little longer. -ETIMEDOUT
 * when the runtime gave up on it (DEADLINE_EXCEEDED) or the call did.
 * (*out)->exit_code, ->stdout and ->stderr say how it ended. */
int cri_exec_sync(struct cri_client *c, const char *id, char *const *cmd, size_t n_cmd,
		  int64_t timeout_s, Runtime__V1__ExecSyncResponse **out);

/* Names of enum values ("SANDBOX_READY", "CONTAINER_RUNNING", ...). */
const char *cri_sandbox_state_name(Runtime__V1__PodSandboxState s);
const char *cri_container_state_name(Runtime__V1__ContainerState s);

#endif
