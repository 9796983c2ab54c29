# skiff: one build for every program, BPF object, test and benchmark.
#
#   make                      build every program into build/bin
#   make SANITIZE=address,undefined   the same under sanitizers (build/sanitize)
#   make test                 install deps if missing, build, run every test
#   make bench                benchmarks, side by side with their peers
#   make up                   deps, build, images, then a local cluster (build/bin/skiff up)
#   make demo                 the README's first kubectl session, on a fresh cluster
#   make install              CNI plugins into $(CNI_BIN_DIR), the rest into $(PREFIX)/bin
#
# Each folder adds its programs and tests through its own *.mk fragments
# (one per owner: cni/build.mk, cni/ipam.mk, tests/cni/build.mk, ...):
#   PROGRAMS += name;  name_SRCS := ...;  name_PKGS := <pkg-config names>
#   TESTS    += test_x; test_x_SRCS := ...; test_x_PKGS := ...   (run by make test)
#   TOOLS    += tool;   tool_SRCS := ...                        (helpers for tests, build/tests)
#   FUZZERS  += fuzz_x; fuzz_x_SRCS := ...; fuzz_x_PKGS := ...  (corpus: tests/fuzz/corpus/x)

O ?= build
ifneq ($(SANITIZE),)
O := build/sanitize
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
BIN := $(O)/bin
OBJ := $(O)/obj
TESTBIN := $(O)/tests
GEN := $(O)/gen

PREFIX ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin
CLANG ?= clang
BPFTOOL ?= bpftool

# Every library skiff links, found with pkg-config here and nowhere else.
PKG_ALL := libbpf libnl-3.0 libnl-route-3.0 libmnl libnftnl jansson yaml-0.1 \
	sqlite3 openssl gnutls libprotobuf-c libnghttp2 libmicrohttpd libcurl libelf zlib ldns
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_ALL) 2>/dev/null)
pkg_libs = $(shell pkg-config --libs $(1) 2>/dev/null)
# name_STATIC = yes links a program statically (not under sanitizers, which
# need the shared runtime): a CNI plugin is copied between hosts and exec'd
# twice per pod, and a static binary depends on nothing there and starts in
# half the time (no dynamic loader). --no-warnings: glibc warns that libnl's
# name-resolution helpers (getaddrinfo, getprotobyname), which skiff never
# calls, would need glibc's shared NSS modules at run time.
is_static = $(if $(SANITIZE),,$($(1)_STATIC))
link_libs = $(if $(call is_static,$(1)),-static -Wl$(comma)--no-warnings \
	$(shell pkg-config --static --libs $($(1)_PKGS) 2>/dev/null),$(call pkg_libs,$($(1)_PKGS)))
comma := ,

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) -MMD -MP \
	-I. -I$(GEN) $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)

PROGRAMS :=
TESTS :=
TOOLS :=
FUZZERS :=
CNI_PROGRAMS :=
LIB_SRCS := $(wildcard lib/*.c)

.PHONY: all
all: programs

include $(sort $(wildcard */*.mk))
include $(sort $(wildcard tests/*/*.mk))

LIBSKIFF := $(O)/libskiff.a
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJ)/%.o)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $($(notdir $*)_CFLAGS) -c $< -o $@

$(LIBSKIFF): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# program_rule(name, output dir, extra objects)
define link_rule
$(2)/$(1): $$(patsubst %.c,$$(OBJ)/%.o,$$($(1)_SRCS)) $(3) $$(LIBSKIFF)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LIBSKIFF) \
		$$(call link_libs,$(1)) $$($(1)_LDLIBS) -lm -lpthread
endef

TEST_MAIN := $(OBJ)/tests/harness/test_main.o
FUZZ_MAIN := $(OBJ)/tests/harness/fuzz_main.o

$(foreach p,$(PROGRAMS),$(eval $(call link_rule,$(p),$(BIN),)))
$(foreach t,$(TESTS),$(eval $(call link_rule,$(t),$(TESTBIN),$(TEST_MAIN))))
$(foreach t,$(TOOLS),$(eval $(call link_rule,$(t),$(TESTBIN),)))
$(foreach f,$(FUZZERS),$(eval $(call link_rule,$(f),$(TESTBIN),$(FUZZ_MAIN))))

.PHONY: programs test-bins deps test bench demo install clean fuzz up
programs: $(addprefix $(BIN)/,$(PROGRAMS))
test-bins: programs $(addprefix $(TESTBIN)/,$(TESTS) $(TOOLS) $(FUZZERS))

# Installs Debian packages when run as root; safe to repeat.
deps:
	@if [ "$$(id -u)" = 0 ]; then scripts/deps.sh; \
	else echo "deps: not root, skipping package install"; fi

test: deps
	@$(MAKE) --no-print-directory test-bins
	@SKIFF_BUILD=$(O) tests/run.sh $(T)

bench: deps
	@$(MAKE) --no-print-directory test-bins
	@SKIFF_BUILD=$(O) tests/bench/run.sh $(B)

# A local cluster in /var/lib/skiff (SKIFF_UP_FLAGS: more `skiff up` options).
up: deps
	@$(MAKE) --no-print-directory programs images
	$(BIN)/skiff up $(SKIFF_UP_FLAGS)

# The README's walkthrough on a cluster of its own (skiff up, then down --purge).
demo: deps
	@$(MAKE) --no-print-directory programs images
	@SKIFF_BUILD=$(O) scripts/demo.sh

install: programs
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(PREFIX)/bin
	$(if $(CNI_PROGRAMS),install -m 0755 $(addprefix $(BIN)/,$(CNI_PROGRAMS)) $(DESTDIR)$(CNI_BIN_DIR))
	$(if $(filter-out $(CNI_PROGRAMS),$(PROGRAMS)),install -m 0755 $(addprefix $(BIN)/,$(filter-out $(CNI_PROGRAMS),$(PROGRAMS))) $(DESTDIR)$(PREFIX)/bin)

# libFuzzer builds of every harness (clang), for long runs by hand:
#   make fuzz && build/fuzz/fuzz_cni_config -max_total_time=60 tests/fuzz/corpus/cni_config
fuzz:
	@$(MAKE) --no-print-directory O=build/fuzz CC=$(CLANG) \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
		LDFLAGS="-fsanitize=fuzzer,address,undefined" FUZZ_MAIN= \
		$(addprefix build/fuzz/tests/,$(FUZZERS))

clean:
	rm -rf build

-include $(shell find $(O) -name '*.d' 2>/dev/null)
