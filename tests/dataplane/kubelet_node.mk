# The pure parts of the kubelet's Node (dataplane/kubelet_node.h).
TESTS += test_kubelet_node_status
test_kubelet_node_status_SRCS := tests/dataplane/test_kubelet_node_status.c \
	dataplane/kubelet_node.c $(CRI_SRCS)
test_kubelet_node_status_PKGS := jansson libcurl yaml-0.1 $(CRI_PKGS)

$(OBJ)/tests/dataplane/test_kubelet_node_status.o: $(CRI_GEN)/api.pb-c.h
# The service-account token's renewal rule (dataplane/kubelet_int.h).
TESTS += test_kubelet_token
test_kubelet_token_SRCS := tests/dataplane/test_kubelet_token.c

$(OBJ)/tests/dataplane/test_kubelet_token.o: $(CRI_GEN)/api.pb-c.h
