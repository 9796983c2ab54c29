# The scheduler end to end through skiff-server's API (issue 10):
# sched-api-bench URL NODES PODS.
TOOLS += sched-api-bench
sched-api-bench_SRCS := tests/bench/sched_api_bench.c
sched-api-bench_PKGS := libcurl jansson yaml-0.1
# jemalloc, as skiff-server and hollow-nodes: the load on the server's cores.
sched-api-bench_PKGS += $(if $(SANITIZE),,jemalloc)
