# Unit tests of the controllers' and scheduler's compute steps.
TESTS += test_ctrl_plan
test_ctrl_plan_SRCS = tests/control/test_ctrl_plan.c $(CTRL_SRCS)
test_ctrl_plan_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_util
test_ctrl_util_SRCS = tests/control/test_ctrl_util.c $(CTRL_SRCS)
test_ctrl_util_PKGS = $(CTRL_PKGS)
test_ctrl_util_LDLIBS = $(CTRL_LDLIBS)
test_ctrl_plan_LDLIBS = $(CTRL_LDLIBS)
# The scheduler's core: filters, scores, the assumed cache, the queue.
TESTS += test_sched test_sched_queue
test_sched_SRCS = tests/control/test_sched.c $(CTRL_SRCS)
test_sched_PKGS = $(CTRL_PKGS)
test_sched_LDLIBS = $(CTRL_LDLIBS)
test_sched_queue_SRCS = tests/control/test_sched_queue.c $(CTRL_SRCS)
test_sched_queue_PKGS = $(CTRL_PKGS)
test_sched_queue_LDLIBS = $(CTRL_LDLIBS)
FUZZERS += fuzz_sched_objects
fuzz_sched_objects_SRCS = tests/control/fuzz_sched_objects.c $(CTRL_SRCS)
fuzz_sched_objects_PKGS = $(CTRL_PKGS)
fuzz_sched_objects_LDLIBS = $(CTRL_LDLIBS)
# The disruption controller's compute step (PodDisruptionBudget status).
TESTS += test_ctrl_disruption
test_ctrl_disruption_SRCS = tests/control/test_ctrl_disruption.c $(CTRL_SRCS)
test_ctrl_disruption_PKGS = $(CTRL_PKGS)
test_ctrl_disruption_LDLIBS = $(CTRL_LDLIBS)
