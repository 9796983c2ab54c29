# The nftables proxy mode benchmark's driver (tests/bench/bench_nftproxy.sh;
# make bench): nft-bench times skiff's nftables mode (dataplane/nft_proxy.c)
# for a full sync and one incremental sync per staged manifest.
TOOLS += nft-bench
nft-bench_SRCS := tests/bench/nft_bench.c $(NFTP_SRCS) dataplane/proxy.c \
	dataplane/manifest.c
nft-bench_PKGS := jansson yaml-0.1 $(NFTP_PKGS)

# nft-commit-cost: what one nf_tables commit costs by kind of change (an
# experiment behind the nftables layout, run by hand; built so it keeps
# compiling).
TOOLS += nft-commit-cost
nft-commit-cost_SRCS := tests/bench/nft_commit_cost.c
nft-commit-cost_PKGS := libnftnl libmnl
