/* JSON forms of CRI messages, for cri-tool and tests: pod sandbox and
 * container configurations in (snake_case field names, as crictl's
 * config files use), statuses and lists out. */
#ifndef SKIFF_CRI_JSON_H
#define SKIFF_CRI_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "dataplane/cri/cri.h"

/* Builds a PodSandboxConfig from j. metadata.name, metadata.namespace and
 * metadata.uid are required; unknown fields and wrong types are errors.
 * On error returns -EINVAL and writes a message naming the field into
 * err[err_size]. Free *out with cri_msg_free(). */
int cri_json_pod_config(const json_t *j, Runtime__V1__PodSandboxConfig **out, char *err,
			size_t err_size);

/* Builds a ContainerConfig: metadata.name and image (a string or
 * {"image": ...}) required; command, args, working_dir, envs
 * ([{"key","value"}]), mounts, labels, annotations, log_path, linux. */
int cri_json_container_config(const json_t *j, Runtime__V1__ContainerConfig **out, char *err,
			      size_t err_size);

/* {"id","metadata":{...},"state","created_at","network":{"ip",
 *  "additional_ips":[...]},"labels","annotations","runtime_handler"}
 * plus "pid" and "netns" when the verbose info of containerd has them. */
json_t *cri_json_sandbox_status(const Runtime__V1__PodSandboxStatusResponse *resp);
json_t *cri_json_sandbox_list(const Runtime__V1__ListPodSandboxResponse *resp);
json_t *cri_json_container_status(const Runtime__V1__ContainerStatusResponse *resp);
json_t *cri_json_container_list(const Runtime__V1__ListContainersResponse *resp);
json_t *cri_json_version(const Runtime__V1__VersionResponse *resp);
json_t *cri_json_image(const Runtime__V1__Image *img);

#endif
