# The controllers and the scheduler (issue 10): pure compute steps over
# cached objects (control/ctrl_*.c, control/sched*.c) that return a
# ctrl_plan, and the drivers that send plans through lib/kube_client.
# Programs and tests that link them list $(CTRL_SRCS) and $(CTRL_PKGS).
CTRL_SRCS = control/ctrl_plan.c control/ctrl_util.c
CTRL_PKGS = jansson

# Job (control/ctrl_job.c).
CTRL_SRCS += control/ctrl_job.c

# DaemonSet (control/ctrl_daemonset.c).
CTRL_SRCS += control/ctrl_daemonset.c

# StatefulSet (control/ctrl_statefulset.c).
CTRL_SRCS += control/ctrl_statefulset.c

# CronJob (control/ctrl_cronjob.c, cron schedules and time zones in
# control/ctrl_cronjob_sched.c).
CTRL_SRCS += control/ctrl_cronjob.c control/ctrl_cronjob_sched.c
