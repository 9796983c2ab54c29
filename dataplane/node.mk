# Node networking (dataplane/node_net.c: routes, VXLAN entries, masquerade
# through dataplane/nft_batch.c). Programs that link the module list
# $(NODE_NET_SRCS) and $(NODE_NET_PKGS); skiff-agent --node-routing runs it.
NODE_NET_SRCS = dataplane/node_net.c dataplane/nft_batch.c
NODE_NET_PKGS = libnl-3.0 libnl-route-3.0 libnftnl libmnl
