# skiff-cni: the CNI plugin (routed veth) with skiff-ipam in-process.
# IPAM_SRCS comes from cni/ipam.mk (the IPAM owner's fragment); recursive
# assignment so the order in which fragments are included does not matter.
PROGRAMS += skiff-cni
CNI_PROGRAMS += skiff-cni
CNI_PLUGIN_SRCS = cni/plugin.c cni/netconf.c cni/link.c cni/cni.c
skiff-cni_SRCS = cni/main.c $(CNI_PLUGIN_SRCS) $(IPAM_SRCS)
skiff-cni_PKGS = jansson libnl-3.0 libnl-route-3.0 sqlite3
skiff-cni_STATIC = yes
