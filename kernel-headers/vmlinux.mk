# vmlinux.h: every kernel type of the running kernel, generated from its BTF
# at build time (never committed). BPF programs include it through
# kernel-headers/skiff_bpf.h.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
VMLINUX_H := $(GEN)/vmlinux.h

$(VMLINUX_H):
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	mv $@.tmp $@
