# Shared shell library for skiff's network tests (kernel selftests/net
# lib.sh style). Source it, define cases as functions, run them:
#
#   . "$(dirname "$0")/../harness/lib.sh"
#   require_root; require_cmd ip
#   case_pods_reach_each_other() { setup_ns a b; ...; assert_eq "$x" 1; }
#   run_case pods_reach_each_other
#   finish
#
# Every namespace, link, folder and process made through this library has a
# name unique to this run and is removed by the cleanup trap. Prints
# "PASS file/case", "FAIL file/case: file:line: why" or "SKIP ...: why";
# exits 0 when nothing failed, 4 when the whole file was skipped.

set -u

SKIFF_ROOT=${SKIFF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SKIFF_BUILD=${SKIFF_BUILD:-build}
case "$SKIFF_BUILD" in /*) ;; *) SKIFF_BUILD="$SKIFF_ROOT/$SKIFF_BUILD" ;; esac
BIN="$SKIFF_BUILD/bin"
TESTBIN="$SKIFF_BUILD/tests"
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"
. "$(dirname "${BASH_SOURCE[0]}")/guard.sh"
# A short id unique to this run: namespaces, links and tables carry it.
# Under tests/run.sh it starts with the file's tag (SKIFF_RUN_PREFIX, also
# seen by scripts the test runs), so run.sh can find what the file left.
if [ -z "${RUN_ID:-}" ] && [ -n "${SKIFF_RUN_PREFIX:-}" ]; then
	RUN_ID=$SKIFF_RUN_PREFIX$(printf '%03x' $(( $$ & 0xfff )))
fi
RUN_ID=${RUN_ID:-$(printf '%04x%02x' $(( $$ & 0xffff )) $(( RANDOM & 0xff )))}
TEST_FILE=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
TMP=$(mktemp -d "/tmp/skiff-${TEST_FILE}-XXXXXX")

_cleanup_cmds=()
_failed=0
_passed=0
_skipped=0

# Runs "$@" (a command line) at exit, last registered first.
defer() { _cleanup_cmds+=("$*"); }

_cleanup() {
	local i
	for (( i=${#_cleanup_cmds[@]}-1; i>=0; i-- )); do
		eval "${_cleanup_cmds[$i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# Skips the whole file.
skip() { echo "SKIP $TEST_FILE: $*"; exit 4; }

require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
require_cmd() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "needs $c (run scripts/deps.sh)"; done
}
require_bin() {
	local b
	for b in "$@"; do [ -x "$BIN/$b" ] || [ -x "$TESTBIN/$b" ] || skip "$b not built (run make)"; done
}

# require_kubectl: KDIR, the folder of Debian's per-version kubectl
# binaries (kubectl.1.27 ... kubectl.1.33); skips the file without them.
require_kubectl() {
	KDIR=$(dpkg -L kubectl 2>/dev/null | grep -m1 '/kubectl\.1\.33$' | xargs -r dirname)
	[ -n "$KDIR" ] && [ -x "$KDIR/kubectl.1.27" ] ||
		skip "needs kubectl.1.27 and kubectl.1.33 (Debian package kubectl)"
}

# ns NAME: the unique name of the test's namespace NAME.
ns() { echo "sk-$RUN_ID-$1"; }

# setup_ns NAME...: creates namespaces sk-<run>-NAME with lo up.
setup_ns() {
	local n
	for n in "$@"; do
		ip netns add "$(ns "$n")" || fail "cannot create netns $(ns "$n")"
		defer ip netns del "$(ns "$n")"
		ip -n "$(ns "$n")" link set lo up
	done
}

# guard_ranges CIDR...: while the test runs, the host routes each CIDR
# nowhere (type unreachable, metric 4000-4999 by run: any real route wins), so should a
# route of the test's own vanish, traffic to its addresses fails here
# instead of leaving the machine. Call it for every range the test sends to,
# before the first packet; removed at exit (a guard already there, another
# test's, is left to its owner).
guard_ranges() {
	local c f m
	m=$(guard_metric "${SKIFF_RUN_PREFIX:-$RUN_ID}")
	for c in "$@"; do
		f=-4; [[ $c == *:* ]] && f=-6
		if ip "$f" route add unreachable "$c" metric "$m" 2>/dev/null; then
			defer ip "$f" route del unreachable "$c" metric "$m"
		else
			ip "$f" route show exact "$c" type unreachable | grep -q "metric $m" ||
				fail "cannot guard $c"
		fi
	done
}

# in_ns NAME cmd...: runs cmd inside the test namespace NAME.
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

# bg_ns NAME VAR cmd...: starts cmd in namespace NAME in the background,
# stores its PID in VAR and stops it and its children at cleanup (by PID:
# a forking server's children would outlive it).
bg_ns() {
	local n=$1 var=$2; shift 2
	ip netns exec "$(ns "$n")" "$@" &
	printf -v "$var" '%s' "$!"
	defer kill_tree "$!"
}


# ct_count NAME ARGS...: how many conntrack entries namespace NAME holds
# that match conntrack -L ARGS; fails the case when conntrack itself fails
# (so "none left" cannot pass because nothing could be listed).
ct_count() {
	local n=$1 out; shift
	out=$(ip netns exec "$(ns "$n")" conntrack -L "$@" 2>/dev/null) ||
		_assert_fail "conntrack -L $* in $(ns "$n") failed"
	printf '%s' "$out" | awk 'END { print NR }'
}

# free_port [N]: a port P such that P..P+N-1 (N=1) are free loopback TCP
# ports of no socket at all, picked at random in 10000-29999: below the
# kernel's ephemeral range (a port there can be the local port of a
# client's connection, or its TIME_WAIT, which makes a server's bind fail)
# and below the NodePort range 30000-32767 (a cluster's socket hooks take
# those).
free_port() {
	local n=${1:-1} low p i j busy
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$low" -gt $(( 11000 + n )) ] || low=32768
	[ "$low" -le 30000 ] || low=30000
	for (( i=0; i<100; i++ )); do
		p=$(( 10000 + RANDOM % (low - 10000 - n) ))
		busy=0
		for (( j=p; j<p+n; j++ )); do
			[ -z "$(ss -Htan "sport = :$j")" ] || { busy=1; break; }
		done
		[ $busy -eq 0 ] && { echo "$p"; return 0; }
	done
	fail "no $n free ports below $low"
}

# await_ready PID SECONDS cmd...: retries cmd every 0.1 s until it succeeds
# (0), the process PID has exited (1: its port was taken, say) or SECONDS
# of time pass (2). For a server's start, which a loaded machine can make
# take many seconds (its first start makes keys).
await_ready() {
	local pid=$1 end=$(( SECONDS + $2 )); shift 2
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$end" ] || return 2
		sleep 0.1
	done
}

# wait_for SECONDS cmd...: retries cmd every 0.1 s until it succeeds.
wait_for() {
	local t=$1 i; shift
	for (( i=0; i<t*10; i++ )); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

# _assert_fail MESSAGE: ends the case. MESSAGE goes to stderr after the
# file:line that called the assertion (the caller of the caller of this);
# that location and MESSAGE's first line are also kept in $TMP/.where, so
# the FAIL line names them however many lines a "got" value has.
_assert_fail() {
	local where="${BASH_SOURCE[2]##*/}:${BASH_LINENO[1]}"
	echo "$where: $1" >&2
	printf '%s: %.300s\n' "$where" "${1%%$'\n'*}" >"$TMP/.where"
	exit 1
}

fail() { _assert_fail "$*"; }
# env_number VAR ENV DEFAULT: VAR gets $ENV, or DEFAULT when it is unset or
# empty; fails naming ENV unless that is a whole number.
env_number() {
	local v=${!2:-$3}
	[[ $v =~ ^[0-9]+$ ]] || fail "$2: expected a number, got '$v'"
	printf -v "$1" '%s' "$v"
}

assert_eq() {
	[ "$1" = "$2" ] || _assert_fail "expected '$2', got '$1'${3:+ ($3)}"
}
assert_ne() {
	[ "$1" != "$2" ] || _assert_fail "expected not '$2'${3:+ ($3)}"
}
assert_contains() {
	case "$1" in *"$2"*) ;; *) _assert_fail "expected to contain '$2', got '$1'${3:+ ($3)}" ;; esac
}
assert_not_contains() {
	case "$1" in *"$2"*) _assert_fail "expected not to contain '$2', got '$1'${3:+ ($3)}" ;; esac
}
# assert_ok cmd...: the command must succeed.
assert_ok() {
	local out
	out=$("$@" 2>&1) || _assert_fail "'$*' failed: $out"
}
# assert_fails cmd...: the command must fail.
assert_fails() {
	"$@" >/dev/null 2>&1 && _assert_fail "'$*' succeeded, expected failure"
	return 0
}

# workload_yaml KIND NAME REPLICAS <POD_SPEC: an apps/v1 KIND (Deployment,
# ReplicaSet, ...) of REPLICAS pods labelled app=NAME, whose spec is the
# block YAML on stdin.
workload_yaml() {
	cat <<-YAML
	apiVersion: apps/v1
	kind: $1
	metadata: {name: $2}
	spec:
	  replicas: $3
	  selector: {matchLabels: {app: $2}}
	  template:
	    metadata: {labels: {app: $2}}
	    spec:
	YAML
	sed 's/^/      /'
}

# run_case NAME: runs case_NAME in a subshell with its own cleanup list.
# A case may call skip_case "why" to be reported as skipped.
skip_case() { echo "$*" >"$TMP/.skip"; exit 4; }
run_case() {
	local name=$1 rc
	rm -f "$TMP/.err" "$TMP/.skip" "$TMP/.where"
	( _cleanup_cmds=(); trap _case_cleanup EXIT; "case_$name" ) 2>"$TMP/.err"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS $TEST_FILE/$name"; _passed=$((_passed+1))
	elif [ $rc -eq 4 ]; then
		echo "SKIP $TEST_FILE/$name: $(cat "$TMP/.skip" 2>/dev/null)"; _skipped=$((_skipped+1))
	else
		_report_failure "$name"; _failed=$((_failed+1))
	fi
}
# _report_failure NAME: the FAIL line names the failed assertion's file:line
# (or, without one, the last line of stderr); below it the case's stderr,
# its head and tail when it is long.
_report_failure() {
	local err=$TMP/.err n
	n=$(wc -l <"$err")
	if [ -s "$TMP/.where" ]; then
		echo "FAIL $TEST_FILE/$1: $(cat "$TMP/.where")"
	else
		echo "FAIL $TEST_FILE/$1: $(tail -n 1 "$err")"
	fi
	[ "$n" -gt 1 ] || return 0
	if [ "$n" -le 40 ]; then
		sed 's/^/    | /' "$err"
	else
		head -n 10 "$err" | sed 's/^/    | /'
		echo "    | ... ($((n - 30)) lines) ..."
		tail -n 20 "$err" | sed 's/^/    | /'
	fi
}
_case_cleanup() {
	local i
	for (( i=${#_cleanup_cmds[@]}-1; i>=0; i-- )); do
		eval "${_cleanup_cmds[$i]}" >/dev/null 2>&1 || true
	done
}

finish() {
	[ $_failed -eq 0 ] || exit 1
	[ $_passed -eq 0 ] && [ $_skipped -gt 0 ] && exit 4
	exit 0
}
