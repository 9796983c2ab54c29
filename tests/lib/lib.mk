TESTS += test_util
test_util_SRCS := tests/lib/test_util.c
TESTS += test_inet
test_inet_SRCS := tests/lib/test_inet.c
TESTS += test_kube_model
test_kube_model_SRCS := tests/lib/test_kube_model.c
test_kube_model_PKGS := jansson yaml-0.1
