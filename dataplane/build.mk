# skiff-agent: the node agent (today the service proxy: manifests -> model
# -> desired state -> eBPF datapath). Links the lb library of dataplane/lb.mk;
# `=` because this fragment is read before that one.
PROGRAMS += skiff-agent
skiff-agent_SRCS = dataplane/agent.c dataplane/proxy_agent.c dataplane/proxy_lb.c \
	dataplane/proxy.c dataplane/model.c dataplane/manifest.c $(LB_SRCS)
skiff-agent_PKGS = jansson yaml-0.1 $(LB_PKGS)
