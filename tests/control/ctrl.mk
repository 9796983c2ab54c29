# Unit tests of the controllers' and scheduler's compute steps.
TESTS += test_ctrl_plan
test_ctrl_plan_SRCS = tests/control/test_ctrl_plan.c $(CTRL_SRCS)
test_ctrl_plan_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_util
test_ctrl_util_SRCS = tests/control/test_ctrl_util.c $(CTRL_SRCS)
test_ctrl_util_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_job
test_ctrl_job_SRCS = tests/control/test_ctrl_job.c $(CTRL_SRCS)
test_ctrl_job_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_daemonset
test_ctrl_daemonset_SRCS = tests/control/test_ctrl_daemonset.c $(CTRL_SRCS)
test_ctrl_daemonset_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_statefulset
test_ctrl_statefulset_SRCS = tests/control/test_ctrl_statefulset.c $(CTRL_SRCS)
test_ctrl_statefulset_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_cronjob
test_ctrl_cronjob_SRCS = tests/control/test_ctrl_cronjob.c $(CTRL_SRCS)
test_ctrl_cronjob_PKGS = $(CTRL_PKGS)
