/* CRI client over lib/grpc; see cri.h. */
#include "dataplane/cri/cri.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define RUNTIME_SERVICE "/runtime.v1.RuntimeService/"
#define IMAGE_SERVICE "/runtime.v1.ImageService/"

struct cri_client {
	struct grpc_channel *channel;
	int timeout_ms;
	struct grpc_status status;
};

int cri_client_new(const char *endpoint, int timeout_ms, struct cri_client **out)
{
	struct cri_client *c;
	int r;

	if (!endpoint || !*endpoint)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = grpc_channel_new(endpoint, &c->channel);
	if (r < 0) {
		free(c);
		return r;
	}
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CRI_DEFAULT_TIMEOUT_MS;
	c->status.code = -1;
	*out = c;
	return 0;
}

void cri_client_free(struct cri_client *c)
{
	if (!c)
		return;
	grpc_channel_free(c->channel);
	free(c);
}

const struct grpc_status *cri_last_status(const struct cri_client *c)
{
	return &c->status;
}

void cri_msg_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* Records an error found before or after the call (no gRPC status). */
__attribute__((format(printf, 2, 3)))
static void cri_local_error(struct cri_client *c, const char *fmt, ...)
{
	va_list ap;

	c->status.code = -1;
	va_start(ap, fmt);
	vsnprintf(c->status.message, sizeof(c->status.message), fmt, ap);
	va_end(ap);
}

/* One unary call: packs req, unpacks the answer as resp_desc. */
static int cri_call(struct cri_client *c, const char *method, const void *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **out)
{
	const ProtobufCMessage *m = req;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ uint8_t *resp = NULL;
	size_t len, resp_len = 0;
	ProtobufCMessage *msg;
	int r;

	len = protobuf_c_message_get_packed_size(m);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(m, buf);

	r = grpc_unary(c->channel, method, buf, len, c->timeout_ms, &resp, &resp_len, &c->status);
	if (r == -EREMOTEIO) {
		switch (c->status.code) {
		case GRPC_NOT_FOUND:
			return -ENOENT;
		case GRPC_DEADLINE_EXCEEDED:
			return -ETIMEDOUT;
		case GRPC_UNIMPLEMENTED:
			return -EOPNOTSUPP;
		default:
			return -EREMOTEIO;
		}
	}
	if (r < 0)
		return r;

	msg = protobuf_c_message_unpack(resp_desc, NULL, resp_len, resp);
	if (!msg) {
		cri_local_error(c, "%s: response does not decode as %s", method, resp_desc->name);
		return -EBADMSG;
	}
	if (out)
		*out = msg;
	else
		protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}

static bool bad_id(struct cri_client *c, const char *id, const char *what)
{
	if (id && *id)
		return false;
	cri_local_error(c, "%s must not be empty", what);
	return true;
}

/* Takes the id a Run/Create call answered with out of resp, which it frees. */
static int take_id(struct cri_client *c, void *resp, const char *resp_id, const char *method, char **id)
{
	bool empty = !resp_id || !*resp_id;
	char *s = empty ? NULL : strdup(resp_id);

	cri_msg_free(resp);
	if (empty) {
		cri_local_error(c, "%s returned no id", method);
		return -EBADMSG;
	}
	if (!s)
		return -ENOMEM;
	*id = s;
	return 0;
}

/* Fails (freeing resp) when a status call answered without its status. */
static int check_status(struct cri_client *c, void *resp, const void *status, const char *method)
{
	if (status)
		return 0;
	cri_msg_free(resp);
	cri_local_error(c, "%s without status", method);
	return -EBADMSG;
}

int cri_version(struct cri_client *c, Runtime__V1__VersionResponse **out)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;

	req.version = (char *)"v1";
	return cri_call(c, RUNTIME_SERVICE "Version", &req, &runtime__v1__version_response__descriptor,
			(ProtobufCMessage **)out);
}

int cri_run_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxConfig *config,
			const char *runtime_handler, char **id)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *resp = NULL;
	int r;

	if (!config || !config->metadata) {
		cri_local_error(c, "config.metadata is required");
		return -EINVAL;
	}
	req.config = (Runtime__V1__PodSandboxConfig *)config;
	if (runtime_handler)
		req.runtime_handler = (char *)runtime_handler;
	r = cri_call(c, RUNTIME_SERVICE "RunPodSandbox", &req,
		     &runtime__v1__run_pod_sandbox_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	return take_id(c, resp, resp->pod_sandbox_id, "RunPodSandbox", id);
}

int cri_stop_pod_sandbox(struct cri_client *c, const char *id)
{
	Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;

	if (bad_id(c, id, "pod sandbox id"))
		return -EINVAL;
	req.pod_sandbox_id = (char *)id;
	return cri_call(c, RUNTIME_SERVICE "StopPodSandbox", &req,
			&runtime__v1__stop_pod_sandbox_response__descriptor, NULL);
}

int cri_remove_pod_sandbox(struct cri_client *c, const char *id)
{
	Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;

	if (bad_id(c, id, "pod sandbox id"))
		return -EINVAL;
	req.pod_sandbox_id = (char *)id;
	return cri_call(c, RUNTIME_SERVICE "RemovePodSandbox", &req,
			&runtime__v1__remove_pod_sandbox_response__descriptor, NULL);
}

int cri_pod_sandbox_status(struct cri_client *c, const char *id, bool verbose,
			   Runtime__V1__PodSandboxStatusResponse **out)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	Runtime__V1__PodSandboxStatusResponse *resp = NULL;
	int r;

	if (bad_id(c, id, "pod sandbox id"))
		return -EINVAL;
	req.pod_sandbox_id = (char *)id;
	req.verbose = verbose;
	r = cri_call(c, RUNTIME_SERVICE "PodSandboxStatus", &req,
		     &runtime__v1__pod_sandbox_status_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	r = check_status(c, resp, resp->status, "PodSandboxStatus");
	if (r == 0)
		*out = resp;
	return r;
}

int cri_list_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxFilter *filter,
			 Runtime__V1__ListPodSandboxResponse **out)
{
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;

	req.filter = (Runtime__V1__PodSandboxFilter *)filter;
	return cri_call(c, RUNTIME_SERVICE "ListPodSandbox", &req,
			&runtime__v1__list_pod_sandbox_response__descriptor, (ProtobufCMessage **)out);
}

int cri_create_container(struct cri_client *c, const char *pod_id,
			 const Runtime__V1__ContainerConfig *config,
			 const Runtime__V1__PodSandboxConfig *sandbox_config, char **id)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__CreateContainerResponse *resp = NULL;
	int r;

	if (bad_id(c, pod_id, "pod sandbox id"))
		return -EINVAL;
	if (!config || !config->metadata || !config->image) {
		cri_local_error(c, "container config needs metadata and image");
		return -EINVAL;
	}
	req.pod_sandbox_id = (char *)pod_id;
	req.config = (Runtime__V1__ContainerConfig *)config;
	req.sandbox_config = (Runtime__V1__PodSandboxConfig *)sandbox_config;
	r = cri_call(c, RUNTIME_SERVICE "CreateContainer", &req,
		     &runtime__v1__create_container_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	return take_id(c, resp, resp->container_id, "CreateContainer", id);
}

int cri_start_container(struct cri_client *c, const char *id)
{
	Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	req.container_id = (char *)id;
	return cri_call(c, RUNTIME_SERVICE "StartContainer", &req,
			&runtime__v1__start_container_response__descriptor, NULL);
}

int cri_stop_container(struct cri_client *c, const char *id, int64_t timeout_s)
{
	Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	req.container_id = (char *)id;
	req.timeout = timeout_s;
	return cri_call(c, RUNTIME_SERVICE "StopContainer", &req,
			&runtime__v1__stop_container_response__descriptor, NULL);
}

int cri_remove_container(struct cri_client *c, const char *id)
{
	Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	req.container_id = (char *)id;
	return cri_call(c, RUNTIME_SERVICE "RemoveContainer", &req,
			&runtime__v1__remove_container_response__descriptor, NULL);
}

int cri_reopen_container_log(struct cri_client *c, const char *id)
{
	Runtime__V1__ReopenContainerLogRequest req = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	req.container_id = (char *)id;
	return cri_call(c, RUNTIME_SERVICE "ReopenContainerLog", &req,
			&runtime__v1__reopen_container_log_response__descriptor, NULL);
}

int cri_container_status(struct cri_client *c, const char *id, bool verbose,
			 Runtime__V1__ContainerStatusResponse **out)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	Runtime__V1__ContainerStatusResponse *resp = NULL;
	int r;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	req.container_id = (char *)id;
	req.verbose = verbose;
	r = cri_call(c, RUNTIME_SERVICE "ContainerStatus", &req,
		     &runtime__v1__container_status_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	r = check_status(c, resp, resp->status, "ContainerStatus");
	if (r == 0)
		*out = resp;
	return r;
}

int cri_list_containers(struct cri_client *c, const Runtime__V1__ContainerFilter *filter,
			Runtime__V1__ListContainersResponse **out)
{
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;

	req.filter = (Runtime__V1__ContainerFilter *)filter;
	return cri_call(c, RUNTIME_SERVICE "ListContainers", &req,
			&runtime__v1__list_containers_response__descriptor, (ProtobufCMessage **)out);
}

int cri_list_container_stats(struct cri_client *c, Runtime__V1__ListContainerStatsResponse **out)
{
	Runtime__V1__ListContainerStatsRequest req = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;

	return cri_call(c, RUNTIME_SERVICE "ListContainerStats", &req,
			&runtime__v1__list_container_stats_response__descriptor,
			(ProtobufCMessage **)out);
}

int cri_image_status(struct cri_client *c, const char *image, Runtime__V1__ImageStatusResponse **out)
{
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

	if (bad_id(c, image, "image"))
		return -EINVAL;
	spec.image = (char *)image;
	req.image = &spec;
	return cri_call(c, IMAGE_SERVICE "ImageStatus", &req,
			&runtime__v1__image_status_response__descriptor, (ProtobufCMessage **)out);
}

int cri_list_images(struct cri_client *c, Runtime__V1__ListImagesResponse **out)
{
	Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;

	return cri_call(c, IMAGE_SERVICE "ListImages", &req,
			&runtime__v1__list_images_response__descriptor, (ProtobufCMessage **)out);
}

/* ---- the kubelet's additions ---- */

int cri_pull_image(struct cri_client *c, const char *image,
		   const Runtime__V1__PodSandboxConfig *sandbox_config, char **image_ref)
{
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__PullImageResponse *resp = NULL;
	int r;

	if (bad_id(c, image, "image"))
		return -EINVAL;
	spec.image = (char *)image;
	req.image = &spec;
	req.sandbox_config = (Runtime__V1__PodSandboxConfig *)sandbox_config;
	r = cri_call(c, IMAGE_SERVICE "PullImage", &req, &runtime__v1__pull_image_response__descriptor,
		     (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (!image_ref) {
		cri_msg_free(resp);
		return 0;
	}
	return take_id(c, resp, resp->image_ref, "PullImage", image_ref);
}

/* ---- streaming: Exec, Attach, PortForward ---- */

int cri_exec(struct cri_client *c, const char *container_id, char *const *cmd, size_t n_cmd,
	     const struct cri_stream_opts *o, char **url)
{
	Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
	Runtime__V1__ExecResponse *resp = NULL;
	int r;

	if (bad_id(c, container_id, "container id"))
		return -EINVAL;
	if (!n_cmd) {
		cri_local_error(c, "Exec needs a command");
		return -EINVAL;
	}
	req.container_id = (char *)container_id;
	req.cmd = (char **)cmd;
	req.n_cmd = n_cmd;
	req.tty = o->tty;
	req.stdin = o->in;
	req.stdout = o->out;
	req.stderr = o->err;
	r = cri_call(c, RUNTIME_SERVICE "Exec", &req, &runtime__v1__exec_response__descriptor,
		     (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	return take_id(c, resp, resp->url, "Exec", url);
}

int cri_attach(struct cri_client *c, const char *container_id, const struct cri_stream_opts *o,
	       char **url)
{
	Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
	Runtime__V1__AttachResponse *resp = NULL;
	int r;

	if (bad_id(c, container_id, "container id"))
		return -EINVAL;
	req.container_id = (char *)container_id;
	req.tty = o->tty;
	req.stdin = o->in;
	req.stdout = o->out;
	req.stderr = o->err;
	r = cri_call(c, RUNTIME_SERVICE "Attach", &req, &runtime__v1__attach_response__descriptor,
		     (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	return take_id(c, resp, resp->url, "Attach", url);
}

int cri_port_forward(struct cri_client *c, const char *pod_id, const int32_t *ports,
		     size_t n_ports, char **url)
{
	Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
	Runtime__V1__PortForwardResponse *resp = NULL;
	int r;

	if (bad_id(c, pod_id, "pod sandbox id"))
		return -EINVAL;
	req.pod_sandbox_id = (char *)pod_id;
	req.port = (int32_t *)ports;
	req.n_port = n_ports;
	r = cri_call(c, RUNTIME_SERVICE "PortForward", &req,
		     &runtime__v1__port_forward_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	return take_id(c, resp, resp->url, "PortForward", url);
}

/* ---- ExecSync (the kubelet's probes and hooks) ---- */

int cri_exec_sync(struct cri_client *c, const char *id, char *const *cmd, size_t n_cmd,
		  int64_t timeout_s, Runtime__V1__ExecSyncResponse **out)
{
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	int saved = c->timeout_ms, r;

	if (bad_id(c, id, "container id"))
		return -EINVAL;
	if (!n_cmd || timeout_s <= 0) {
		cri_local_error(c, "ExecSync needs a command and a timeout");
		return -EINVAL;
	}
	req.container_id = (char *)id;
	req.cmd = (char **)cmd;
	req.n_cmd = n_cmd;
	req.timeout = timeout_s;
	/* the runtime ends the command at timeout_s; the call waits for its answer */
	c->timeout_ms = (int)(timeout_s * 1000 + 2000);
	r = cri_call(c, RUNTIME_SERVICE "ExecSync", &req, &runtime__v1__exec_sync_response__descriptor,
		     (ProtobufCMessage **)out);
	c->timeout_ms = saved;
	return r;
}

const char *cri_sandbox_state_name(Runtime__V1__PodSandboxState s)
{
	switch (s) {
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY:
		return "SANDBOX_READY";
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY:
		return "SANDBOX_NOTREADY";
	default:
		return "SANDBOX_UNKNOWN";
	}
}

const char *cri_container_state_name(Runtime__V1__ContainerState s)
{
	switch (s) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
		return "CONTAINER_CREATED";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
		return "CONTAINER_RUNNING";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
		return "CONTAINER_EXITED";
	default:
		return "CONTAINER_UNKNOWN";
	}
}
