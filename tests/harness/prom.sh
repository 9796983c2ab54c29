# Reading Prometheus text in tests (source after lib.sh).
#
#   prom_sample TEXT NAME [LABELS]   the value of the series NAME{LABELS}
#                                    (LABELS as the text writes them,
#                                    'verb="GET",code="200"'), 0 when absent

prom_sample() {
	local s=$2
	[ -n "${3:-}" ] && s="$2{$3}"
	awk -v s="$s" 'index($0, s " ") == 1 { v = $2 } END { print v + 0 }' <<<"$1"
}
