# CRI client (runtime.v1 over lib/grpc), cri-tool, and the local images.
#
# api.proto -> $(GEN)/dataplane/cri/api.pb-c.{c,h} with protoc-c. The
# generated code has a struct field named "linux", a macro in GNU C, so it
# is compiled with -Ulinux (and cri.h undefines it for its includers).
# Programs that talk CRI list $(CRI_SRCS) and $(CRI_PKGS).

CRI_GEN := $(GEN)/dataplane/cri
CRI_SRCS := dataplane/cri/cri.c dataplane/cri/cri_json.c $(CRI_GEN)/api.pb-c.c
CRI_PKGS := libprotobuf-c libnghttp2 jansson

$(CRI_GEN)/api.pb-c.c $(CRI_GEN)/api.pb-c.h &: dataplane/cri/api.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I. $<

api.pb-c_CFLAGS := -Ulinux

# Every object that includes the generated header waits for it.
$(OBJ)/dataplane/cri/cri.o $(OBJ)/dataplane/cri/cri_json.o $(OBJ)/dataplane/cri/cri_tool.o: \
	$(CRI_GEN)/api.pb-c.h

TOOLS += cri-tool
cri-tool_SRCS := dataplane/cri/cri_tool.c $(CRI_SRCS)
cri-tool_PKGS := $(CRI_PKGS)

# Local OCI images (no registry): build/images/{pause,busybox}.tar.
IMAGES_DIR := $(O)/images
IMAGES := $(IMAGES_DIR)/pause.tar $(IMAGES_DIR)/busybox.tar

# pause is static and built without sanitizers (it runs inside the image).
$(IMAGES_DIR)/pause: dataplane/images/pause.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<

$(IMAGES) &: $(IMAGES_DIR)/pause dataplane/images/build.sh
	dataplane/images/build.sh $(IMAGES_DIR) $(IMAGES_DIR)/pause >/dev/null

.PHONY: images
images: $(IMAGES)
test-bins: images
