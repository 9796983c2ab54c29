# The BPF service load balancer library (dataplane/lb) and lb-tool, the
# command line that programs it by hand. Programs that link the library
# list $(LB_SRCS) in their SRCS (use `=`, not `:=`, if their fragment is
# read before this one) and libbpf libelf zlib in their PKGS.
LB_SRCS = dataplane/lb/lb.c dataplane/lb/lb_table.c dataplane/lb/lb_frontend.c \
	dataplane/lb/lb_sockets.c dataplane/lb/maglev.c
LB_PKGS = libbpf libelf zlib

# The library's files include the skeletons: build them first.
$(patsubst %.c,$(OBJ)/%.o,$(filter dataplane/lb/lb%.c,$(LB_SRCS))): $(GEN)/sock.skel.h \
	$(GEN)/sock_iter.skel.h $(GEN)/tc_nodeport.skel.h

TOOLS += lb-tool
lb-tool_SRCS = dataplane/lb/lb_tool.c $(LB_SRCS)
lb-tool_PKGS = $(LB_PKGS)
