# The kubelet in skiff-agent: its Node (dataplane/kubelet_node.c: Node,
# Lease, CNI config; runtime version through CRI), joining with a node token
# (dataplane/node_join.c: libcurl, GnuTLS for the CA's hash) and, with
# --container-runtime-endpoint, the pod lifecycle (dataplane/kubelet*.c)
# through the CRI client (cri.mk). `=` because build.mk, read first, links
# these.
KUBELET_SRCS = dataplane/kubelet.c dataplane/kubelet_pod.c dataplane/kubelet_sandbox.c \
	dataplane/kubelet_container.c dataplane/kubelet_status.c dataplane/kubelet_node.c \
	dataplane/node_join.c $(CRI_SRCS)
KUBELET_PKGS = $(CRI_PKGS) libcurl gnutls

# They include the generated CRI header.
$(patsubst %.c,$(OBJ)/%.o,$(filter dataplane/kubelet%.c,$(KUBELET_SRCS))): \
	$(CRI_GEN)/api.pb-c.h
