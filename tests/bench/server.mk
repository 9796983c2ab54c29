# The API server benchmark's driver (tests/bench/bench_server.sh; make bench):
# server-bench times skiff-server's pod API over HTTP (libcurl).
TOOLS += server-bench
server-bench_SRCS := tests/bench/server_bench.c
server-bench_PKGS := libcurl jansson
