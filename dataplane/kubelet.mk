# The kubelet's pod lifecycle (dataplane/kubelet*.c): skiff-agent
# --container-runtime-endpoint runs the pods bound to its node through the
# CRI client (cri.mk). `=` because build.mk, read first, links these.
KUBELET_SRCS = dataplane/kubelet.c dataplane/kubelet_pod.c dataplane/kubelet_sandbox.c \
	dataplane/kubelet_container.c dataplane/kubelet_env.c dataplane/kubelet_volume.c \
	dataplane/kubelet_status.c $(CRI_SRCS)
KUBELET_PKGS = $(CRI_PKGS) libcurl libcrypto

# They include the generated CRI header.
$(patsubst %.c,$(OBJ)/%.o,$(filter dataplane/kubelet%.c,$(KUBELET_SRCS))): \
	$(CRI_GEN)/api.pb-c.h
