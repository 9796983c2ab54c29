# Stopping processes by PID, for lib.sh (tests) and leftovers.sh (run.sh).

# kill_tree PID...: sends TERM to each PID and every process below it,
# and KILL to what is still there 5 s later, so nothing outlives the test.
kill_tree() {
	local pids=("$@") i=0 c
	while [ "$i" -lt "${#pids[@]}" ]; do
		for c in $(ps -o pid= --ppid "${pids[$i]}"); do pids+=("$c"); done
		i=$((i + 1))
	done
	kill "${pids[@]}" 2>/dev/null
	for (( i = 0; i < 50; i++ )); do
		for c in "${pids[@]}"; do kill -0 "$c" 2>/dev/null && break; c=; done
		[ -z "$c" ] && return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null
}
