# Writing Service and EndpointSlice manifests into an agent's folder (source
# after lib.sh; $M is the folder).
#
#   put FILE                 stdin into $M/FILE atomically (a hidden
#                            temporary, then a rename, as editors do)
#   service NAME LINE...     a Service in namespace default; each LINE is a
#                            line of its spec
#   slice NAME SERVICE FAMILY PORTS ENDPOINT...
#                            an EndpointSlice of SERVICE; each ENDPOINT is
#                            "ip[,ready[,serving[,terminating[,node]]]]"
#   change CMD...            runs CMD (which edits $M) and waits for the
#                            agent's next "sync:" line in its log, $ALOG

put() { cat >"$M/.$1.tmp" && mv "$M/.$1.tmp" "$M/$1"; }

service() {
	local name=$1
	shift
	printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\nspec:\n' "$name"
	printf '  %s\n' "$@"
}

slice() {
	local name=$1 svc=$2 fam=$3 ports=$4 ep ip ready serving term node
	shift 4
	printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n'
	printf '  name: %s\n  namespace: default\n  labels: {kubernetes.io/service-name: %s}\naddressType: %s\nports: %s\nendpoints:\n' \
		"$name" "$svc" "$fam" "$ports"
	[ $# -gt 0 ] || printf '  []\n'
	for ep in "$@"; do
		IFS=, read -r ip ready serving term node <<<"$ep"
		printf -- '- addresses: ["%s"]\n' "$ip"
		[ -n "$ready" ] && printf '  conditions: {ready: %s, serving: %s, terminating: %s}\n' \
			"$ready" "${serving:-$ready}" "${term:-false}"
		[ -n "$node" ] && printf '  nodeName: %s\n' "$node"
	done
	return 0
}

nsync() { grep -c "sync: " "$ALOG"; }
synced_since() { [ "$(nsync)" -gt "$1" ]; }
change() {
	local before
	before=$(nsync)
	"$@"
	wait_for 10 synced_since "$before" || fail "agent did not sync after: $* ($(tail -3 "$ALOG"))"
}
