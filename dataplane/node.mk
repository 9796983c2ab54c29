# Node networking (dataplane/node_net.c: routes, VXLAN entries, masquerade)
# and skiff-nodenet-tool, which drives it from a JSON peers file. Programs
# that link the module list $(NODE_NET_SRCS) and $(NODE_NET_PKGS).
NODE_NET_SRCS = dataplane/node_net.c dataplane/nft_batch.c
NODE_NET_PKGS = libnl-3.0 libnl-route-3.0 libnftnl libmnl

TOOLS += skiff-nodenet-tool
skiff-nodenet-tool_SRCS = dataplane/node_tool.c $(NODE_NET_SRCS)
skiff-nodenet-tool_PKGS = jansson $(NODE_NET_PKGS)
