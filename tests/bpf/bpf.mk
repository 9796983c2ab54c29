# Tests of the BPF load balancer: lb-client, the client the netns tests
# drive through the socket hooks (tests/bpf/test_*.sh).
TOOLS += lb-client
lb-client_SRCS := tests/bpf/lb_client.c

# The library against the real kernel (root): maps after set/sync/restart.
TESTS += test_lb
test_lb_SRCS = tests/bpf/test_lb.c $(LB_SRCS)
test_lb_PKGS = $(LB_PKGS)

# The tc NodePort programs with crafted packets (bpf_prog_test_run_opts).
TESTS += test_tc_nodeport
test_tc_nodeport_SRCS = tests/bpf/test_tc_nodeport.c $(LB_SRCS)
test_tc_nodeport_PKGS = $(LB_PKGS)
