# The controllers and the scheduler (issue 10): pure compute steps over
# cached objects (control/ctrl_*.c, control/sched*.c) that return a
# ctrl_plan, and the drivers that send plans through lib/kube_client.
# Programs and tests that link them list $(CTRL_SRCS) and $(CTRL_PKGS).
CTRL_SRCS = control/ctrl_plan.c
CTRL_PKGS = jansson

# EndpointSlice / Endpoints, ReplicaSet, Deployment compute steps (h/ctrl).
CTRL_SRCS += control/ctrl_util.c control/ctrl_endpointslice.c control/ctrl_endpoints.c \
	control/ctrl_replicaset.c control/ctrl_deployment.c
