# skiff-server: the API server (control/api*.c) over the store backends
# that control/store.mk lists in STORE_SRCS.
PROGRAMS += skiff-server
skiff-server_SRCS = control/main.c control/api_http.c control/api_rest.c \
	control/api_resources.c control/api_alloc.c control/api_openapi.c \
	control/api_tls.c control/api_decode.c control/api_table.c control/api_rbac.c \
	control/api_watch.c $(STORE_SRCS)
skiff-server_PKGS = libmicrohttpd jansson openssl gnutls $(STORE_PKGS)
