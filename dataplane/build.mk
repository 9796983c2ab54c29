# skiff-agent: the node agent (the service proxy: manifests or the API
# server's watches -> model -> desired state -> eBPF datapath or nftables
# table; node networking; cluster DNS; L2 announcements; the kubelet: its
# Node, pods and API). Links the modules of dataplane/lb.mk, nftproxy.mk, node.mk,
# dns.mk and kubelet.mk; `=` because this fragment is read before those.
PROGRAMS += skiff-agent
skiff-agent_SRCS = dataplane/agent.c dataplane/proxy_agent.c dataplane/agent_metrics.c dataplane/proxy_lb.c \
	dataplane/proxy.c dataplane/manifest.c dataplane/api_source.c dataplane/l2_announce.c \
	dataplane/l2_frame.c $(LB_SRCS) $(NFTP_SRCS) $(NODE_NET_SRCS) $(DNS_AGENT_SRCS) \
	$(KUBELET_SRCS)
skiff-agent_PKGS = jansson yaml-0.1 libcurl $(LB_PKGS) $(NFTP_PKGS) $(NODE_NET_PKGS) $(DNS_PKGS) \
	$(KUBELET_PKGS)
