# Unit tests of the controllers' and scheduler's compute steps.
TESTS += test_ctrl_plan
test_ctrl_plan_SRCS = tests/control/test_ctrl_plan.c $(CTRL_SRCS)
test_ctrl_plan_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_util
test_ctrl_util_SRCS = tests/control/test_ctrl_util.c $(CTRL_SRCS)
test_ctrl_util_PKGS = $(CTRL_PKGS)
# The scheduler's core: filters, scores, the assumed cache, the queue.
TESTS += test_sched test_sched_queue test_sched_preempt
test_sched_SRCS = tests/control/test_sched.c $(CTRL_SRCS)
test_sched_PKGS = $(CTRL_PKGS)
test_sched_queue_SRCS = tests/control/test_sched_queue.c $(CTRL_SRCS)
test_sched_queue_PKGS = $(CTRL_PKGS)
test_sched_preempt_SRCS = tests/control/test_sched_preempt.c $(CTRL_SRCS)
test_sched_preempt_PKGS = $(CTRL_PKGS)
FUZZERS += fuzz_sched_objects
fuzz_sched_objects_SRCS = tests/control/fuzz_sched_objects.c $(CTRL_SRCS)
fuzz_sched_objects_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_gc
test_ctrl_gc_SRCS = tests/control/test_ctrl_gc.c $(CTRL_SRCS)
test_ctrl_gc_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_nodelifecycle
test_ctrl_nodelifecycle_SRCS = tests/control/test_ctrl_nodelifecycle.c $(CTRL_SRCS)
test_ctrl_nodelifecycle_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_ipalloc
test_ctrl_ipalloc_SRCS = tests/control/test_ctrl_ipalloc.c $(CTRL_SRCS)
test_ctrl_ipalloc_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_nodeipam
test_ctrl_nodeipam_SRCS = tests/control/test_ctrl_nodeipam.c $(CTRL_SRCS)
test_ctrl_nodeipam_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_namespace
test_ctrl_namespace_SRCS = tests/control/test_ctrl_namespace.c $(CTRL_SRCS)
test_ctrl_namespace_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_lbipam
test_ctrl_lbipam_SRCS = tests/control/test_ctrl_lbipam.c $(CTRL_SRCS)
test_ctrl_lbipam_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_serviceaccount
test_ctrl_serviceaccount_SRCS = tests/control/test_ctrl_serviceaccount.c $(CTRL_SRCS)
test_ctrl_serviceaccount_PKGS = $(CTRL_PKGS)
TESTS += test_ctrl_rootca
test_ctrl_rootca_SRCS = tests/control/test_ctrl_rootca.c $(CTRL_SRCS)
test_ctrl_rootca_PKGS = $(CTRL_PKGS)

TESTS += test_ctrl_podgc
test_ctrl_podgc_SRCS = tests/control/test_ctrl_podgc.c $(CTRL_SRCS)
test_ctrl_podgc_PKGS = $(CTRL_PKGS)
# EndpointSlice / Endpoints, ReplicaSet, Deployment compute steps (h/ctrl).
TESTS += test_ctrl_endpointslice
test_ctrl_endpointslice_SRCS = tests/control/test_ctrl_endpointslice.c $(CTRL_SRCS)
test_ctrl_endpointslice_PKGS = $(CTRL_PKGS)
TESTS += test_ctrl_endpoints
test_ctrl_endpoints_SRCS = tests/control/test_ctrl_endpoints.c $(CTRL_SRCS)
test_ctrl_endpoints_PKGS = $(CTRL_PKGS)
TESTS += test_ctrl_replicaset
test_ctrl_replicaset_SRCS = tests/control/test_ctrl_replicaset.c $(CTRL_SRCS)
test_ctrl_replicaset_PKGS = $(CTRL_PKGS)
TESTS += test_ctrl_deployment
test_ctrl_deployment_SRCS = tests/control/test_ctrl_deployment.c $(CTRL_SRCS)
test_ctrl_deployment_PKGS = $(CTRL_PKGS)

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
fuzz_sched_objects_LDLIBS = $(CTRL_LDLIBS)
# The disruption controller's compute step (PodDisruptionBudget status).
TESTS += test_ctrl_disruption
test_ctrl_disruption_SRCS = tests/control/test_ctrl_disruption.c $(CTRL_SRCS)
test_ctrl_disruption_PKGS = $(CTRL_PKGS)
test_ctrl_disruption_LDLIBS = $(CTRL_LDLIBS)

# The shared informers of skiff-server's loops, against a real server.
TESTS += test_ctrl_hub
test_ctrl_hub_SRCS = tests/control/test_ctrl_hub.c control/ctrl_hub.c $(KUBE_TEST_SERVER)
test_ctrl_hub_PKGS = libcurl jansson yaml-0.1
