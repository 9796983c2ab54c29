# The controllers and the scheduler (issue 10): pure compute steps over
# cached objects (control/ctrl_*.c, control/sched*.c) that return a
# ctrl_plan, and the drivers that send plans through lib/kube_client.
# Programs and tests that link them list $(CTRL_SRCS) and $(CTRL_PKGS).
# The scheduler's core (snapshot, filters, scores, queue): see control/sched.h.
SCHED_SRCS = control/sched.c control/sched_parse.c control/sched_snapshot.c \
	control/sched_filter.c control/sched_score.c control/sched_queue.c control/sched_preempt.c
CTRL_SRCS = control/ctrl_plan.c control/ctrl_util.c $(SCHED_SRCS)
CTRL_PKGS = jansson

# Garbage collector (ctrl_gc.h).
CTRL_SRCS += control/ctrl_gc.c

# Node lifecycle: health, taints, eviction; DefaultTolerationSeconds (ctrl_nodelifecycle.h).
CTRL_SRCS += control/ctrl_nodelifecycle.c

# Node IPAM (ctrl_nodeipam.h) and the CIDR block allocator it shares with
# LoadBalancer IPs (ctrl_ipalloc.h).
CTRL_SRCS += control/ctrl_ipalloc.c control/ctrl_nodeipam.c

# Namespace deletion (ctrl_namespace.h).
CTRL_SRCS += control/ctrl_namespace.c

# LoadBalancer IPs from --lb-cidr (ctrl_lbipam.h).
CTRL_SRCS += control/ctrl_lbipam.c

# The default ServiceAccount of every namespace (ctrl_serviceaccount.h).
CTRL_SRCS += control/ctrl_serviceaccount.c
# kube-root-ca.crt in every namespace (ctrl_rootca.h).
CTRL_SRCS += control/ctrl_rootca.c

# Pod garbage collection (ctrl_podgc.h).
CTRL_SRCS += control/ctrl_podgc.c
# EndpointSlice / Endpoints, ReplicaSet, Deployment compute steps (h/ctrl).
CTRL_SRCS += control/ctrl_endpointslice.c control/ctrl_endpoints.c \
	control/ctrl_replicaset.c control/ctrl_deployment.c
# Job (control/ctrl_job.c).
CTRL_SRCS += control/ctrl_job.c

# DaemonSet (control/ctrl_daemonset.c).
CTRL_SRCS += control/ctrl_daemonset.c

# StatefulSet (control/ctrl_statefulset.c).
CTRL_SRCS += control/ctrl_statefulset.c

# CronJob (control/ctrl_cronjob.c, cron schedules and time zones in
# control/ctrl_cronjob_sched.c).
CTRL_SRCS += control/ctrl_cronjob.c control/ctrl_cronjob_sched.c
CTRL_LDLIBS = -lm
# The disruption controller's compute step (control/ctrl_disruption.h).
CTRL_SRCS += control/ctrl_disruption.c
