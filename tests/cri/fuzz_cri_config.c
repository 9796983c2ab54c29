/* Fuzzes what cri-tool reads from users and runtimes: pod sandbox and
 * container configuration JSON (cri_json_*_config), and runtime answers
 * (PodSandboxStatusResponse / ContainerStatusResponse wire bytes, decoded
 * and turned into JSON, including containerd's verbose info). */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "dataplane/cri/cri.h"
#include "dataplane/cri/cri_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Runtime__V1__PodSandboxConfig *pod = NULL;
	Runtime__V1__ContainerConfig *ctr = NULL;
	Runtime__V1__PodSandboxStatusResponse *ps;
	Runtime__V1__ContainerStatusResponse *cs;
	char err[256];
	json_t *j, *out;

	j = json_loadb((const char *)data, size, 0, NULL);
	if (j) {
		if (cri_json_pod_config(j, &pod, err, sizeof(err)) == 0) {
			uint8_t *buf = malloc(protobuf_c_message_get_packed_size(&pod->base) + 1);

			if (buf) {
				protobuf_c_message_pack(&pod->base, buf);
				free(buf);
			}
			cri_msg_free(pod);
		}
		if (cri_json_container_config(j, &ctr, err, sizeof(err)) == 0)
			cri_msg_free(ctr);
		json_decref(j);
	}

	ps = runtime__v1__pod_sandbox_status_response__unpack(NULL, size, data);
	if (ps) {
		out = cri_json_sandbox_status(ps);
		json_decref(out);
		cri_msg_free(ps);
	}
	cs = runtime__v1__container_status_response__unpack(NULL, size, data);
	if (cs) {
		out = cri_json_container_status(cs);
		json_decref(out);
		cri_msg_free(cs);
	}
	return 0;
}
