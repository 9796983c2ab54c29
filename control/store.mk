# The revisioned store behind skiff-server (control/store.h). The API
# server links $(STORE_SRCS); store-tool drives a store from tests and
# benchmarks.
STORE_SRCS := control/store.c control/store_sqlite.c control/store_etcd.c
STORE_PKGS := sqlite3
