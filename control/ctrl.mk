# The controllers and the scheduler (issue 10): pure compute steps over
# cached objects (control/ctrl_*.c, control/sched*.c) that return a
# ctrl_plan, and the drivers that send plans through lib/kube_client.
# Programs and tests that link them list $(CTRL_SRCS) and $(CTRL_PKGS).
# The scheduler's core (snapshot, filters, scores, queue): see control/sched.h.
SCHED_SRCS = control/sched.c control/sched_parse.c control/sched_snapshot.c \
	control/sched_filter.c control/sched_score.c control/sched_queue.c
CTRL_SRCS = control/ctrl_plan.c control/ctrl_util.c $(SCHED_SRCS)
CTRL_PKGS = jansson
CTRL_LDLIBS = -lm
# The disruption controller's compute step (control/ctrl_disruption.h).
CTRL_SRCS += control/ctrl_disruption.c
