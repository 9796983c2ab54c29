# The scheduler's core, in-process (tests/bench/bench_sched.sh; make bench):
# sched-bench NODES PODS OWNERS, SchedulingBasic's shape (issue 10).
TOOLS += sched-bench
sched-bench_SRCS := tests/bench/sched_bench.c $(CTRL_SRCS)
sched-bench_PKGS := $(CTRL_PKGS)
