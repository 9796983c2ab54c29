# The controllers end to end through skiff-server's API with hollow nodes
# (issue 10): ctrl-bench deploy | eps, for bench_deploy.sh and bench_eps_latency.sh.
TOOLS += ctrl-bench
ctrl-bench_SRCS := tests/bench/ctrl_bench.c
ctrl-bench_PKGS := libcurl jansson yaml-0.1
