# skiff-ipam: the IPAM library (linked in-process by skiff-cni) and the
# standalone IPAM plugin binary.
IPAM_SRCS = cni/ipam.c cni/ipam_store.c

PROGRAMS += skiff-ipam
CNI_PROGRAMS += skiff-ipam
skiff-ipam_SRCS = cni/ipam_main.c cni/cni.c $(IPAM_SRCS)
skiff-ipam_PKGS = jansson sqlite3
skiff-ipam_STATIC = yes
