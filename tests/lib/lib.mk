TESTS += test_util
test_util_SRCS := tests/lib/test_util.c
TESTS += test_inet
test_inet_SRCS := tests/lib/test_inet.c
TESTS += test_kube_model
test_kube_model_SRCS := tests/lib/test_kube_model.c
test_kube_model_PKGS := jansson yaml-0.1

# The Kubernetes API client (lib/kube_*) against a real skiff-server.
KUBE_TEST_SERVER := tests/lib/kube_test_server.c
TESTS += test_kube_client
test_kube_client_SRCS := tests/lib/test_kube_client.c $(KUBE_TEST_SERVER)
test_kube_client_PKGS := libcurl jansson yaml-0.1
TESTS += test_kube_informer
test_kube_informer_SRCS := tests/lib/test_kube_informer.c $(KUBE_TEST_SERVER)
test_kube_informer_PKGS := libcurl jansson yaml-0.1
TESTS += test_kube_workqueue
test_kube_workqueue_SRCS := tests/lib/test_kube_workqueue.c
test_kube_workqueue_PKGS := jansson
TESTS += test_kube_events
test_kube_events_SRCS := tests/lib/test_kube_events.c $(KUBE_TEST_SERVER)
test_kube_events_PKGS := libcurl jansson yaml-0.1
# kc-tool get|list|watch RESOURCE: the client library from a shell.
TOOLS += kc-tool
kc-tool_SRCS := tests/lib/kc_tool.c
kc-tool_PKGS := libcurl jansson yaml-0.1
FUZZERS += fuzz_kube_config
fuzz_kube_config_SRCS := tests/lib/fuzz_kube_config.c
fuzz_kube_config_PKGS := jansson yaml-0.1
TESTS += test_kube_quantity
test_kube_quantity_SRCS := tests/lib/test_kube_quantity.c
test_kube_quantity_PKGS := jansson
TESTS += test_prom
test_prom_SRCS := tests/lib/test_prom.c
TESTS += test_kube_param
test_kube_param_SRCS := tests/lib/test_kube_param.c
TESTS += test_base64
test_base64_SRCS := tests/lib/test_base64.c
