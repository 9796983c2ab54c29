# The nftables proxy mode (dataplane/nft_proxy.c) over one nftables batch
# path (dataplane/nft_batch.c). Programs that link the mode list
# $(NFTP_SRCS) and $(NFTP_PKGS); skiff-agent --proxy-mode nftables runs it.
NFTP_SRCS = dataplane/nft_proxy.c dataplane/nft_proxy_rules.c dataplane/nft_proxy_sets.c \
	dataplane/nft_proxy_ct.c dataplane/nft_batch.c
NFTP_PKGS = libnftnl libmnl
