# The revisioned store behind skiff-server (control/store.h): SQLite and
# etcd v3 backends. A program that stores links $(STORE_SRCS) and lists
# $(STORE_PKGS) in its _PKGS (lib/grpc, in libskiff.a, needs nghttp2).
#
# etcd.proto -> $(GEN)/control/etcd.pb-c.{c,h} with protoc-c.

STORE_GEN := $(GEN)/control
STORE_SRCS = control/store.c control/store_ring.c control/store_sqlite.c control/store_sqlite_rw.c \
	control/store_sqlite_watch.c control/store_sqlite_snapshot.c control/store_etcd.c control/store_etcd_watch.c \
	$(STORE_GEN)/etcd.pb-c.c
STORE_PKGS = sqlite3 libprotobuf-c libnghttp2

$(STORE_GEN)/etcd.pb-c.c $(STORE_GEN)/etcd.pb-c.h &: control/etcd.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I. $<

$(OBJ)/control/store_etcd.o $(OBJ)/control/store_etcd_watch.o: $(STORE_GEN)/etcd.pb-c.h

TOOLS += store-tool
store-tool_SRCS = control/store_tool.c $(STORE_SRCS)
store-tool_PKGS = $(STORE_PKGS)
