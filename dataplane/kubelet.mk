# The kubelet in skiff-agent: its Node (dataplane/kubelet_node.c: Node,
# Lease, CNI config; runtime version through CRI), joining with a node token
# (dataplane/node_join.c: libcurl, GnuTLS for the CA's hash), with
# --container-runtime-endpoint the pod lifecycle (dataplane/kubelet*.c)
# through the CRI client (cri.mk), and the kubelet API
# (dataplane/kubelet_server*.c: TLS, logs, and exec / attach /
# port-forward passed through to the runtime's streaming server). `=` because build.mk, read first, links
# these.
KUBELET_SRCS = dataplane/kubelet.c dataplane/kubelet_pod.c dataplane/kubelet_sandbox.c \
	dataplane/kubelet_container.c dataplane/kubelet_env.c dataplane/kubelet_volume.c \
	dataplane/kubelet_status.c dataplane/kubelet_probe.c dataplane/kubelet_node.c \
	dataplane/node_join.c dataplane/kubelet_server.c dataplane/kubelet_server_logs.c \
	dataplane/kubelet_server_stats.c dataplane/kubelet_logrotate.c \
	$(CRI_SRCS)
KUBELET_PKGS = $(CRI_PKGS) libcurl gnutls zlib

# They include the generated CRI header.
$(patsubst %.c,$(OBJ)/%.o,$(filter dataplane/kubelet%.c,$(KUBELET_SRCS))): \
	$(CRI_GEN)/api.pb-c.h
