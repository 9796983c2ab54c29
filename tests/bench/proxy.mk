# The service proxy benchmark's tools (tests/bench/bench_proxy.sh; make bench):
# proxy-gen writes the services (skiff manifests, kube-proxy iptables and
# nftables replicas), conn-bench drives and serves the TCP traffic, and
# map-watch times one change until skiff's pinned map shows it.
TOOLS += proxy-gen conn-bench map-watch
proxy-gen_SRCS := tests/bench/proxy_gen.c
proxy-gen_PKGS := openssl
conn-bench_SRCS := tests/bench/conn_bench.c
map-watch_SRCS := tests/bench/map_watch.c
map-watch_PKGS := libbpf libelf zlib libnftnl libmnl jansson libcurl yaml-0.1 ldns
