# The kubelet's Node in skiff-agent (dataplane/kubelet_node.c: Node, Lease,
# CNI config; runtime version through CRI) and joining with a node token
# (dataplane/node_join.c: libcurl, GnuTLS for the CA's hash). Read after
# dataplane/build.mk, so += adds to its lists.
skiff-agent_SRCS += dataplane/kubelet_node.c dataplane/node_join.c $(CRI_SRCS)
skiff-agent_PKGS += gnutls $(CRI_PKGS)

$(OBJ)/dataplane/kubelet_node.o: $(CRI_GEN)/api.pb-c.h
