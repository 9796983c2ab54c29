# What a test file leaves behind (sourced by tests/run.sh).
#
# run.sh runs each test file in a session of its own, with
# SKIFF_RUN_PREFIX set to a tag of that file (lib.sh starts RUN_ID with
# it, also in scripts a test runs), so what the file made can be told from
# what other runs on the machine make meanwhile. After the file ends,
# leftover_check reports as "FAIL <file>: left behind: ..." and removes:
#   - processes of its session, and new ones running a program of the build
#     folder (stopped by PID);
#   - network namespaces, host links, mounts, bpffs pins, cgroups and host
#     nftables tables whose name has the tag;
#   - new host routes of its guard_ranges (unreachable, its guard_metric).
# Anything else new since the file started (another run's, or a name
# without the tag) is printed as a note and left alone.

. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"
. "$(dirname "${BASH_SOURCE[0]}")/guard.sh"

# leftover_snapshot BUILD: one "kind key" line per thing, sorted.
leftover_snapshot() {
	local cg2
	{
		_leftover_procs "$1"
		ip netns list | awk '{ print "netns " $1 }'
		ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
		ip -4 route show table all | grep -v '^local \|^broadcast \|^multicast ' | sed 's/^/route4 /'
		ip -6 route show table all | grep -v '^local \|^multicast \|^anycast ' | sed 's/^/route6 /'
		# (a namespace's own mount is its "netns" line)
		awk '$2 !~ "^(/var)?/run/netns/" { print "mount " $2 }' /proc/self/mounts
		find /sys/fs/bpf -mindepth 1 -maxdepth 1 2>/dev/null | sed 's/^/pin /'
		cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
		[ -n "$cg2" ] && find "$cg2" -mindepth 1 -maxdepth 3 -type d 2>/dev/null | sed 's/^/cgroup /'
		nft list tables 2>/dev/null | awk '{ print "nft " $2 " " $3 }'
	} | LC_ALL=C sort -u
}


# _leftover_procs BUILD: the running processes of a program of BUILD.
_leftover_procs() {
	ps -e -o pid=,stat=,args= | B="$1/" awk '$2 !~ /^Z/ && index($0, ENVIRON["B"]) {
		$2 = ""; $1 = $1; print "proc " $0 }'
}

# _leftover_settle SID BUILD BEFORE: waits up to 5 s while a process of
# the session, or a new one of the build, is still running: one may be on
# its way out (the CNI plugin's detached link delete outlives the plugin
# by design, and takes longer on a loaded machine). What still runs after
# that is left behind.
_leftover_settle() {
	local i
	for ((i = 0; i < 50; i++)); do
		if ! ps -e -o sid=,stat= | awk -v s="$1" '$1 == s && $2 !~ /^Z/ { f = 1 } END { exit !f }' &&
		   ! LC_ALL=C comm -13 <(grep '^proc ' "$3") <(_leftover_procs "$2" | LC_ALL=C sort) | grep -q .; then
			return
		fi
		sleep 0.1
	done
}

# _leftover_ours KIND KEY TAG: whether the file of TAG made it.
_leftover_ours() {
	case $1 in
	proc) return 0 ;;
	route4|route6) [[ $2 == unreachable\ * && " $2 " == *" metric $(guard_metric "$3") "* ]] ;;
	*) [[ $2 == *"$3"* ]] ;;
	esac
}

# _leftover_remove KIND KEY
_leftover_remove() {
	case $1 in
	proc) kill_tree "${2%% *}" ;;
	netns) ip netns del "$2" ;;
	mount) umount -l "$2" ;;
	link) ip link del "$2" ;;
	route4) eval "ip -4 route del $2" ;;
	route6) eval "ip -6 route del $2" ;;
	nft) eval "nft delete table $2" ;;
	pin) rm -rf "$2" ;;
	cgroup) find "$2" -depth -type d -exec rmdir {} + ;;
	esac
}

# leftover_check NAME BUILD SID TAG BEFORE: reports and removes what the
# file NAME (session SID, tag TAG) left; BEFORE is the snapshot taken when
# it started.
leftover_check() {
	local name=$1 build=$2 sid=$3 tag=$4 before=$5 pids kind key
	local -a ours=() notes=()
	_leftover_settle "$sid" "$build" "$before"
	mapfile -t pids < <(ps -e -o pid=,sid=,stat=,args= |
		awk -v s="$sid" '$2 == s && $3 !~ /^Z/ { $2 = $3 = ""; $1 = $1; print }')
	for key in "${pids[@]}"; do
		echo "FAIL $name: left behind: process $key"
		kill_tree "${key%% *}"
	done
	while read -r kind key; do
		if _leftover_ours "$kind" "$key" "$tag"; then ours+=("$kind $key"); else notes+=("$kind $key"); fi
	done < <(LC_ALL=C comm -13 "$before" <(leftover_snapshot "$build"))
	# Processes first, namespaces before their mounts, cgroups last.
	for kind in proc netns mount link route4 route6 nft pin cgroup; do
		for key in "${ours[@]}"; do
			[ "${key%% *}" = "$kind" ] || continue
			echo "FAIL $name: left behind: $key"
			_leftover_remove "$kind" "${key#* }" >/dev/null 2>&1
		done
	done
	[ ${#notes[@]} -eq 0 ] && return
	echo "note: ${#notes[@]} new while $name ran, not named by it (another run's?), left alone:" \
		"$(printf '%s; ' "${notes[@]:0:4}")${notes[4]:+...}"
}
