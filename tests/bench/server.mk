# The API server benchmark's driver (tests/bench/bench_server.sh; make bench):
# server-bench times skiff-server's pod API over HTTP (libcurl).
TOOLS += server-bench
server-bench_SRCS := tests/bench/server_bench.c
server-bench_PKGS := libcurl jansson
# fanout-floor: the kernel's floor under the watch fan-out (loopback TCP,
# one send per watcher and event, no HTTP), the last column of the table.
TOOLS += fanout-floor
fanout-floor_SRCS := tests/bench/fanout_floor.c
