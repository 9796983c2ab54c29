# skiff-server: the API server (control/api*.c) over the store backends
# that control/store.mk lists in STORE_SRCS.

# The object layer (control/api_obj.h): the resource table and its hooks,
# admission and the write entries, errors; no HTTP. Links $(STORE_SRCS)
# and GnuTLS (service-account tokens are signed in it).
API_OBJ_SRCS = control/api_resources.c control/api_table.c control/api_hooks.c \
	control/api_obj.c control/api_delete.c control/api_alloc.c control/api_err.c \
	control/api_crd.c control/api_crd_schema.c \
	control/api_policy.c control/api_token.c control/api_jwt.c control/api_schema.c

PROGRAMS += skiff-server
skiff-server_SRCS = control/main.c control/api_http.c control/api_rest.c control/api_write.c \
	$(API_OBJ_SRCS) control/api_openapi.c control/api_crd_openapi.c \
	control/api_tls.c control/api_decode.c control/api_params.c control/api_rbac.c control/api_join.c \
	control/api_join_authz.c control/api_proxy.c control/api_proxy_ws.c control/api_review.c control/api_impersonate.c \
	control/api_metrics.c control/api_top.c control/api_discovery.c control/api_kubesvc.c \
	control/api_watch.c control/api_list.c control/api_proto.c $(API_PROTO_GEN)/k8s.pb-c.c $(STORE_SRCS)
skiff-server_PKGS = libmicrohttpd jansson gnutls libcurl yaml-0.1 zlib $(STORE_PKGS)
# jemalloc in place of glibc's malloc (every library's allocations too):
# the server's JSON objects are many small short-lived blocks allocated on
# one thread and freed on another (bench_sched_api: see its commit). Not
# under sanitizers, which bring their own allocator.
skiff-server_PKGS += $(if $(SANITIZE),,jemalloc)

# The controller manager and the scheduler's driver, in skiff-server
# (control/ctrl_manager.h), over the compute steps of control/ctrl.mk.
CTRL_MGR_SRCS = control/ctrl_manager.c control/ctrl_manager_opts.c control/ctrl_controllers.c \
	control/ctrl_hub.c control/ctrl_leader.c control/sched_driver.c
skiff-server_SRCS += $(CTRL_MGR_SRCS) $(CTRL_SRCS)

# k8s.proto -> $(GEN)/control/k8s.pb-c.{c,h}: the Kubernetes protobuf
# messages api_proto.c decodes.
API_PROTO_GEN := $(GEN)/control

$(API_PROTO_GEN)/k8s.pb-c.c $(API_PROTO_GEN)/k8s.pb-c.h &: control/k8s.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I. $<

$(OBJ)/control/api_proto.o: $(API_PROTO_GEN)/k8s.pb-c.h

# api_schema.def -> $(GEN)/control/api_schema_def.h: the schemas' text as
# one C string, which control/api_schema.c reads.
$(GEN)/control/api_schema_def.h: control/api_schema.def
	@mkdir -p $(dir $@)
	sed -e 's/\\/\\\\/g; s/"/\\"/g; s/.*/"&\\n"/' $< > $@

$(OBJ)/control/api_schema.o: $(GEN)/control/api_schema_def.h
