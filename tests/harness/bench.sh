# Small helpers the benchmark scripts share; source after lib.sh.

# ms_since START: milliseconds since $EPOCHREALTIME value START.
ms_since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (e - s) * 1000 }'; }
# median NUMBER...: "-" when none.
median() {
	[ $# -gt 0 ] || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# sum NUMBER...: their sum, "%.1f".
sum() { awk 'BEGIN { s = 0; for (i = 1; i < ARGC; i++) s += ARGV[i]; printf "%.1f", s }' "$@"; }
# kv KEY LINE: the value of KEY=... in a key=value line ("" when absent).
kv() { local w; for w in $2; do [[ $w == "$1="* ]] && { echo "${w#*=}"; return; }; done; echo ""; }
# svc_ip I: ClusterIP of generated service I (proxy-gen: 10.96.0.0/16 + 1 + I).
svc_ip() { echo "10.96.$(( (1 + $1) / 256 )).$(( (1 + $1) % 256 ))"; }
# err WHAT: records a failed measurement (the script exits with $status).
err() { echo "error: $*"; status=1; }
