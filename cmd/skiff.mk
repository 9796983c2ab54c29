PROGRAMS += skiff
skiff_SRCS := cmd/skiff.c cmd/skiff_net.c cmd/skiff_sup.c cmd/skiff_registry.c cmd/skiff_image.c
skiff_SRCS += cmd/skiff_check.c cmd/skiff_service.c cmd/skiff_kubeconfig.c dataplane/nft_batch.c
skiff_PKGS := jansson libnl-3.0 libnl-route-3.0 libmnl libnftnl libcurl openssl yaml-0.1 libnghttp2 libprotobuf-c zlib
