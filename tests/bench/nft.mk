# The nftables proxy mode benchmark's driver (tests/bench/bench_nftproxy.sh;
# make bench): nft-bench times skiff's nftables mode (dataplane/nft_proxy.c)
# for a full sync and one incremental sync per staged manifest.
TOOLS += nft-bench
nft-bench_SRCS := tests/bench/nft_bench.c $(NFTP_SRCS) dataplane/proxy.c dataplane/model.c \
	dataplane/manifest.c
nft-bench_PKGS := jansson yaml-0.1 $(NFTP_PKGS)
