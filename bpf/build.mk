# BPF programs: bpf/<name>.bpf.c -> $(GEN)/bpf/<name>.bpf.o (clang -target
# bpf) -> $(GEN)/<name>.skel.h (bpftool gen skeleton). A user-space object
# that includes a skeleton lists it as a prerequisite (dataplane/lb.mk).
BPF_OBJS_NAMES := sock sock_iter tc_nodeport
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
	-Wno-unused-function -I$(GEN) -Ikernel-headers -I. -Ibpf
BPF_HDRS := bpf/lb.h $(wildcard bpf/lib/*.h) kernel-headers/skiff_bpf.h
BPF_SKELS := $(BPF_OBJS_NAMES:%=$(GEN)/%.skel.h)

$(GEN)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(GEN)/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(GEN)/%.skel.h: $(GEN)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp
	mv $@.tmp $@

.PHONY: bpf
bpf: $(BPF_SKELS)

# keep the objects: tests and people load them with bpftool too
.SECONDARY: $(BPF_OBJS_NAMES:%=$(GEN)/bpf/%.bpf.o)
