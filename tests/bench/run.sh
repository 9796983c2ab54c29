#!/usr/bin/env bash
# make bench: runs every benchmark tests/bench/bench_<area>.sh, after a
# header with the facts that matter for reading the numbers (kernel, cores,
# load). Each bench prints its own table, measured side by side with its
# peers in one run; absolute times drift between runs and machines.
#
# Usage: tests/bench/run.sh [PATTERN]   (only benches whose name has PATTERN)
# A bench exits 0 when it ran, 4 when skipped (and why), anything else when
# a measured call failed; this script exits 1 when any bench failed.
set -u
case "${1:-}" in
-h|--help)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac
cd "$(dirname "$0")/../.."
export SKIFF_ROOT=$PWD
export SKIFF_BUILD=${SKIFF_BUILD:-build}
pattern=${1:-}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "skiff bench $(date -u '+%Y-%m-%d %H:%M:%S UTC')," \
	"commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "kernel $(uname -r) ($(uname -m)), $(nproc) cores (${cpu:-unknown cpu}), $mem"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine adds noise)"

ran=0 failed=0 skipped=0
failed_names=()
shopt -s nullglob
for b in tests/bench/bench_*.sh; do
	name=$(basename "$b" .sh)
	[[ "$name" == *"$pattern"* ]] || continue
	echo
	echo "== ${name#bench_}"
	start=$(date +%s)
	bash "$b"
	rc=$?
	case $rc in
	0) ran=$((ran + 1)) ;;
	4) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failed_names+=("$name (exit $rc)") ;;
	esac
	echo "   ($(( $(date +%s) - start ))s)"
done

echo
[ ${#failed_names[@]} -eq 0 ] || printf 'failed: %s\n' "${failed_names[@]}"
echo "benches: $ran ran, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
