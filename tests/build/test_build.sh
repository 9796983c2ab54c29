#!/usr/bin/env bash
# The build's promises to users: `make install` honours DESTDIR, PREFIX and
# CNI_BIN_DIR and puts the CNI plugins apart from the other programs; every
# program answers --help with a usage text and exit 0; the CNI plugins are
# static (no program interpreter), so they run on any host they are copied
# to, outside sanitizer builds.
. "$(dirname "$0")/../harness/lib.sh"
require_cmd make readelf

case_install_honours_destdir_prefix_and_cni_bin_dir() {
	local d="$TMP/root"
	make -s -C "$SKIFF_ROOT" O="$SKIFF_BUILD" install DESTDIR="$d" PREFIX=/usr \
		CNI_BIN_DIR=/usr/libexec/cni >"$TMP/install.log" 2>&1 || fail "make install: $(tail -3 "$TMP/install.log")"
	[ -x "$d/usr/libexec/cni/skiff-cni" ] || fail "skiff-cni not in CNI_BIN_DIR"
	[ -x "$d/usr/libexec/cni/skiff-ipam" ] || fail "skiff-ipam not in CNI_BIN_DIR"
	[ ! -e "$d/usr/bin/skiff-cni" ] || fail "skiff-cni also installed into PREFIX/bin"
	local p
	for p in "$BIN"/*; do
		p=$(basename "$p")
		case "$p" in skiff-cni|skiff-ipam) continue ;; esac
		[ -x "$d/usr/bin/$p" ] || fail "$p not installed into PREFIX/bin"
	done
}

case_every_program_has_help() {
	local p out n=0
	for p in "$BIN"/*; do
		out=$(env -u CNI_COMMAND "$p" --help 2>&1) || fail "$(basename "$p") --help exited non-zero"
		assert_contains "$out" "sage" "$(basename "$p") --help prints a usage text"
		n=$((n + 1))
	done
	[ "$n" -ge 2 ] || fail "no programs found in $BIN"
}

case_cni_plugins_are_static() {
	local p
	case "$SKIFF_BUILD" in *sanitize*) skip_case "sanitizer builds link dynamically" ;; esac
	for p in skiff-cni skiff-ipam; do
		[ -x "$BIN/$p" ] || fail "$p not built"
		LC_ALL=C readelf -l "$BIN/$p" | grep -q "INTERP" && fail "$p is dynamically linked"
		env CNI_COMMAND=VERSION "$BIN/$p" </dev/null | grep -q '"1.1.0"' || fail "$p does not run"
	done
	return 0
}

run_case install_honours_destdir_prefix_and_cni_bin_dir
run_case every_program_has_help
run_case cni_plugins_are_static
finish
