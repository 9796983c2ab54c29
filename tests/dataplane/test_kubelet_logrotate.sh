#!/usr/bin/env bash
# Container log rotation (issue 11), as upstream's container log manager:
# skiff-agent with --container-log-max-size 16Ki --container-log-max-files
# 3 and a 1 s look at the sizes; a container writes numbered lines fast.
# Its CRI log is rotated (LOG.YYYYMMDD-hhmmss, the runtime reopening LOG),
# the older rotated files gzipped, at most 3 files kept; no line is lost
# across the files; kubectl logs serves the current file and a follow goes
# on through rotations.
SUBNET_PREFIX=10.64.0
. "$(dirname "$0")/../harness/lib.sh"
require_cmd openssl gzip

KUBELET_API=1
KUBELET_AGENT_FLAGS="--container-log-max-size 16Ki --container-log-max-files 3"
KUBELET_AGENT_FLAGS+=" --container-log-monitor-interval 1"
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"

LINE_PAD=$(printf '%0160d' 0)
# up to 100 KiB a second (a loaded machine's shell writes far less)
TALK="i=0; while :; do echo n\$i $LINE_PAD; i=\$((i+1)); usleep 2000; done"

# log_files DIR: the container's log files, .tmp ones aside (a compression
# under way), oldest first.
log_files() { ls "$1" | grep -v '\.tmp$' | sort; }
# numbers: the line numbers of CRI records or kubectl output on stdin.
numbers() { grep -oE '(^| )n[0-9]+ ' | tr -d ' n'; }
# consecutive WHAT [MIN]: its numbers on stdin go up by one each, and
# there are MIN of them at least (default 10).
consecutive() {
	awk -v what="$1" -v min="${2:-10}" \
		'NR > 1 && $1 != prev + 1 { printf "%s: %d after %d\n", what, $1, prev; bad = 1 }
		{ prev = $1 } END { if (NR < min) { printf "%s: %d lines only\n", what, NR; bad = 1 }
		exit bad }'
}
gz_count() { log_files "$1" | grep -c '\.gz$'; }
# crossed DIR FIRST LAST: one of the log files begins with a line after
# FIRST and at most LAST.
crossed() {
	local f n
	for f in $(log_files "$1"); do
		case $f in
		*.gz) n=$(gzip -dc "$1/$f" 2>/dev/null | head -1 | numbers) ;;
		*) n=$(head -1 "$1/$f" | numbers) ;;
		esac
		[ -n "$n" ] && [ -n "$2" ] && [ "$n" -gt "$2" ] && [ "$n" -le "$3" ] && return 0
	done
	return 1
}

case_rotated_bounded_and_served() {
	local dir uid i files out pid rc
	agent_up
	pod chatty "containers:" "$(sh_container talk "$TALK")"
	wait_for 30 ready chatty || fail "chatty never Ready: $(jp chatty '{.status}')"
	uid=$(jp chatty '{.metadata.uid}')
	dir="$TMP/logs/default_chatty_$uid/talk"
	# Two rotations at least: the first rotated file is gzipped at the second.
	wait_for 60 eval '[ "$(gz_count "$dir")" -ge 1 ]' ||
		fail "no compressed rotated log: $(ls -l "$dir"); $(grep -i rotat "$ALOG" | tail -3)"
	for (( i = 0; i < 4; i++ )); do
		files=$(log_files "$dir")
		[ "$(wc -l <<<"$files")" -le 3 ] || fail "more than 3 log files: $files"
		[ "$(grep -Ec '\.[0-9]{8}-[0-9]{6}$' <<<"$files")" -le 1 ] || fail "more than one plain rotated file: $files"
		sleep 0.7
	done
	[[ $(log_files "$dir" | grep -v '^0\.log$' | head -1) =~ ^0\.log\.[0-9]{8}-[0-9]{6}(\.gz)?$ ]] ||
		fail "rotated files named otherwise: $(log_files "$dir")"

	# kubectl logs: the current file's lines, consecutive, the first ones
	# rotated away.
	out=$(k logs chatty) || fail "kubectl logs: $out"
	numbers <<<"$out" | consecutive "kubectl logs" 1 || fail "kubectl logs lost lines"
	assert_not_contains "$out" "n0 $LINE_PAD" "kubectl logs after rotations"
	# A follow goes on through a rotation: some file begins after the
	# follow's first line and at most at its last.
	ip netns exec "$(ns node)" "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" \
		logs -f chatty --tail 1 >"$TMP/follow.out" 2>&1 </dev/null &
	pid=$!
	wait_for 60 eval 'crossed "$dir" "$(numbers <"$TMP/follow.out" | head -1)" \
		"$(numbers <"$TMP/follow.out" | tail -1)"'
	rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ "$rc" = 0 ] || fail "kubectl logs -f did not go on through a rotation: lines" \
		"$(numbers <"$TMP/follow.out" | sed -n '1p;$p' | tr '\n' ' ')files $(log_files "$dir" | tr '\n' ' ')"
	numbers <"$TMP/follow.out" | consecutive "kubectl logs -f" || fail "kubectl logs -f lost lines"

	# The agent stopped, nothing rotates: the files hold every line, once
	# (gzipped ones first, then the newest rotated one, then the current
	# one; the kill may fall inside a rotation, between its steps).
	agent_kill
	files=$(log_files "$dir")
	[ "$(wc -l <<<"$files")" -le 3 ] || fail "more than 3 log files: $files"
	[ "$(grep -Ec '\.[0-9]{8}-[0-9]{6}$' <<<"$files")" -le 1 ] || fail "more than one plain rotated file: $files"
	: >"$TMP/all.log"
	for f in $(grep '\.gz$' <<<"$files"); do
		gzip -dc "$dir/$f" >>"$TMP/all.log" || fail "$f is not gzip"
	done
	for f in $(grep -E '\.[0-9]{8}-[0-9]{6}$' <<<"$files") $(grep '^0\.log$' <<<"$files"); do
		cat "$dir/$f" >>"$TMP/all.log"
	done
	numbers <"$TMP/all.log" | consecutive "rotated files" || fail "lines lost across the rotated files"
	agent_start
	delete_pod chatty
}

run_case rotated_bounded_and_served
finish
