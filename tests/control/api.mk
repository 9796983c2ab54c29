# Tests of skiff-server's API layer (the kubectl and API shell tests need
# only build/bin/skiff-server).
# The resource table's rows point at the object layer's hooks, so what
# links the table links the object layer and the store.
TESTS += test_api_patch test_api_selector test_api_validate test_api_obj
test_api_patch_SRCS := tests/control/test_api_patch.c
test_api_patch_PKGS := jansson
test_api_selector_SRCS := tests/control/test_api_selector.c
test_api_selector_PKGS := jansson
test_api_validate_SRCS := tests/control/test_api_validate.c $(API_OBJ_SRCS) $(STORE_SRCS)
test_api_validate_PKGS := jansson gnutls $(STORE_PKGS)
test_api_obj_SRCS := tests/control/test_api_obj.c $(API_OBJ_SRCS) $(STORE_SRCS)
test_api_obj_PKGS := jansson gnutls $(STORE_PKGS)
TESTS += test_api_crd
test_api_crd_SRCS := tests/control/test_api_crd.c $(API_OBJ_SRCS) $(STORE_SRCS)
test_api_crd_PKGS := jansson gnutls $(STORE_PKGS)

FUZZERS += fuzz_api_body
fuzz_api_body_SRCS := tests/control/fuzz_api_body.c control/api_decode.c control/api_proto.c \
	$(GEN)/control/k8s.pb-c.c $(API_OBJ_SRCS) $(STORE_SRCS)
fuzz_api_body_PKGS := jansson libprotobuf-c gnutls yaml-0.1 $(STORE_PKGS)
# Service-account token signing and the JWT checks (control/api_jwt.c).
TESTS += test_api_jwt
test_api_jwt_SRCS := tests/control/test_api_jwt.c control/api_jwt.c
test_api_jwt_PKGS := jansson gnutls
# The schemas and the unknown-field walk (control/api_schema.c).
TESTS += test_api_schema
test_api_schema_SRCS := tests/control/test_api_schema.c $(API_OBJ_SRCS) $(STORE_SRCS)
test_api_schema_PKGS := jansson gnutls $(STORE_PKGS)
# The OpenAPI documents (control/api_openapi.c), with the server's objects.
TESTS += test_api_openapi
test_api_openapi_SRCS = tests/control/test_api_openapi.c $(filter-out control/main.c,$(skiff-server_SRCS))
test_api_openapi_PKGS = $(skiff-server_PKGS)
