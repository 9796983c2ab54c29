# Unit tests of the controllers' and scheduler's compute steps.
TESTS += test_ctrl_plan
test_ctrl_plan_SRCS = tests/control/test_ctrl_plan.c $(CTRL_SRCS)
test_ctrl_plan_PKGS = $(CTRL_PKGS)

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
