# skiff-agent: the node agent (the service proxy: manifests or the API
# server's watches -> model -> desired state -> eBPF datapath or nftables
# table; node networking; cluster DNS; the kubelet API over CRI). Links the modules of dataplane/lb.mk,
# nftproxy.mk, node.mk and
# dns.mk; `=` because this fragment is read before those.
PROGRAMS += skiff-agent
skiff-agent_SRCS = dataplane/agent.c dataplane/proxy_agent.c dataplane/proxy_lb.c \
	dataplane/proxy.c dataplane/manifest.c dataplane/api_source.c $(LB_SRCS) $(NFTP_SRCS) \
	$(NODE_NET_SRCS) $(DNS_AGENT_SRCS) $(KUBELET_SERVER_SRCS)
skiff-agent_PKGS = jansson yaml-0.1 libcurl gnutls $(LB_PKGS) $(NFTP_PKGS) $(NODE_NET_PKGS) \
	$(DNS_PKGS) $(CRI_PKGS)

# The kubelet API (dataplane/kubelet_server.h): TLS, logs, and exec /
# attach / port-forward passed through to the runtime's streaming server.
KUBELET_SERVER_SRCS = dataplane/kubelet_server.c dataplane/kubelet_server_logs.c $(CRI_SRCS)
$(OBJ)/dataplane/kubelet_server.o $(OBJ)/dataplane/kubelet_server_logs.o: \
	$(GEN)/dataplane/cri/api.pb-c.h
