# The nftables proxy mode (dataplane/nft_proxy.c) and skiff-nft-tool, which
# drives it from a manifests folder with the agent's own parsing code.
# Programs that link the mode list $(NFTP_SRCS) and $(NFTP_PKGS).
NFTP_SRCS = dataplane/nft_proxy.c dataplane/nft_batch.c
NFTP_PKGS = libnftnl libmnl

TOOLS += skiff-nft-tool
skiff-nft-tool_SRCS = dataplane/nft_tool.c $(NFTP_SRCS) dataplane/proxy.c dataplane/model.c \
	dataplane/manifest.c
skiff-nft-tool_PKGS = jansson yaml-0.1 $(NFTP_PKGS)
