# Tests of the BPF load balancer: lb-client, the client the netns tests
# drive through the socket hooks (tests/bpf/test_*.sh).
TOOLS += lb-client
lb-client_SRCS := tests/bpf/lb_client.c
