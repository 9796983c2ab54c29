# skiff-server's API over plain HTTP with curl, for the control tests that
# drive it by hand (source after PORT is known; needs curl and jq).

URL() { echo "http://127.0.0.1:$PORT$1"; }
# api METHOD PATH [BODY [CONTENT-TYPE]]: prints the body, then the HTTP code
# on the last line.
api() {
	local m=$1 p=$2 body=${3:-} ct=${4:-application/json}
	if [ -n "$body" ]; then
		curl -s -X "$m" -H "Content-Type: $ct" --data-binary "$body" -w '\n%{http_code}' "$(URL "$p")"
	else
		curl -s -X "$m" -w '\n%{http_code}' "$(URL "$p")"
	fi
}
code() { tail -n 1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
jqr() { body "$1" | jq -r "$2"; }
