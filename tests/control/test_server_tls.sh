#!/usr/bin/env bash
# skiff-server's TLS material (control/api_tls.c, GnuTLS): the CA, serving
# and admin certificates it makes on first start, read back with
# `openssl x509 -text` (CA flag, key usages, SANs, subject); client
# certificates map CN to the user and O to the groups; a data dir whose CA
# OpenSSL wrote (as skiff-server did before it used GnuTLS) keeps
# working. kubectl 1.27 and 1.33 talk to each server through the
# kubeconfig it writes. Servers listen on 127.0.0.1 only, on free ports.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl openssl
require_kubectl

# start_server DATA_DIR [ARGS...]: HTTPS on a free loopback port; sets
# PORT and SERVER_PID, stops the server when the case ends.
start_server() { start_skiff_server "$1" "$1.log" tls "${@:2}"; }

# k VERSION DATA_DIR args...: kubectl.1.VERSION with the server's kubeconfig.
k() {
	local v=$1 data=$2; shift 2
	"$KDIR/kubectl.1.$v" --kubeconfig "$data/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# both_kubectl DATA_DIR: kubectl 1.27 and 1.33 list namespaces through
# the kubeconfig (server certificate checked against its CA, admin
# client certificate).
both_kubectl() {
	local v out
	for v in 27 33; do
		out=$(k "$v" "$1" get namespaces -o name 2>&1) || fail "kubectl 1.$v: $out"
		assert_contains "$out" "namespace/default" "kubectl 1.$v"
	done
}

# client_cert DATA_DIR NAME SUBJ: a client certificate for SUBJ signed by
# the server's CA, as an administrator would make one with openssl.
client_cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TMP/$2.key" -subj "$3" -out "$TMP/$2.csr" 2>/dev/null || fail "openssl req $3"
	printf 'extendedKeyUsage=clientAuth\n' >"$TMP/$2.ext"
	openssl x509 -req -in "$TMP/$2.csr" -CA "$1/tls/ca.crt" -CAkey "$1/tls/ca.key" \
		-CAcreateserial -days 1 -extfile "$TMP/$2.ext" -out "$TMP/$2.crt" 2>/dev/null ||
		fail "openssl x509 -req $3"
}

# as_cert DATA_DIR NAME PATH: "CODE BODY" of a GET with client certificate NAME.
as_cert() {
	curl -s -w '\n%{http_code}' --cacert "$1/tls/ca.crt" --cert "$TMP/$2.crt" \
		--key "$TMP/$2.key" "https://127.0.0.1:$PORT$3"
}

case_generated_certificates() {
	local d=$TMP/gen text
	start_server "$d" --tls-san "10.9.8.7,api-$RUN_ID.example,fd00::7"
	text=$(openssl x509 -in "$d/tls/ca.crt" -noout -text) || fail "ca.crt does not parse"
	assert_contains "$text" "Subject: CN = skiff-ca"
	assert_contains "$text" "Issuer: CN = skiff-ca"
	assert_contains "$text" "X509v3 Basic Constraints: critical"
	assert_contains "$text" "CA:TRUE"
	assert_contains "$text" "Digital Signature, Certificate Sign, CRL Sign"
	assert_contains "$text" "ASN1 OID: prime256v1"

	text=$(openssl x509 -in "$d/tls/server.crt" -noout -text) || fail "server.crt does not parse"
	assert_contains "$text" "Subject: CN = skiff-server"
	assert_contains "$text" "CA:FALSE"
	assert_contains "$text" "X509v3 Key Usage: critical"
	assert_contains "$text" "TLS Web Server Authentication"
	assert_contains "$text" "DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.9.8.7, DNS:api-$RUN_ID.example, IP Address:FD00:0:0:0:0:0:0:7"
	assert_eq "$(openssl verify -CAfile "$d/tls/ca.crt" "$d/tls/server.crt" 2>&1)" \
		"$d/tls/server.crt: OK"
	assert_ok openssl verify -CAfile "$d/tls/ca.crt" -purpose sslserver "$d/tls/server.crt"

	text=$(openssl x509 -in "$d/tls/admin.crt" -noout -text) || fail "admin.crt does not parse"
	assert_contains "$text" "Subject: O = system:masters, CN = system:admin"
	assert_contains "$text" "CA:FALSE"
	assert_contains "$text" "TLS Web Client Authentication"
	assert_not_contains "$text" "Subject Alternative Name"
	assert_ok openssl verify -CAfile "$d/tls/ca.crt" -purpose sslclient "$d/tls/admin.crt"

	# Keys: PKCS#8 PEM, readable by OpenSSL, private to root.
	assert_eq "$(head -n 1 "$d/tls/ca.key")" "-----BEGIN PRIVATE KEY-----"
	assert_ok openssl pkey -in "$d/tls/server.key" -noout
	assert_eq "$(stat -c %a "$d/tls/ca.key") $(stat -c %a "$d/tls/admin.key")" "600 600"
	both_kubectl "$d"
}

case_client_cert_identity() {
	local d=$TMP/ident out user=carol-$RUN_ID
	start_server "$d"
	client_cert "$d" carol "/O=team-a-$RUN_ID/O=team-b-$RUN_ID/CN=$user"
	out=$(as_cert "$d" carol /api/v1/namespaces/default/pods)
	assert_eq "${out##*$'\n'}" 403 "a user with no binding"
	assert_contains "$out" "User \\\"$user\\\" cannot list resource \\\"pods\\\""
	# The second O is a group: binding it lets carol read.
	out=$(k 33 "$d" create clusterrolebinding "team-b-$RUN_ID" --clusterrole=view \
		--group="team-b-$RUN_ID" 2>&1) || fail "create clusterrolebinding: $out"
	out=$(as_cert "$d" carol /api/v1/namespaces/default/pods)
	assert_eq "${out##*$'\n'}" 200 "group team-b from the certificate's O"
	# O=system:masters is a cluster admin, whatever the CN.
	client_cert "$d" root "/O=system:masters/CN=dave-$RUN_ID"
	out=$(as_cert "$d" root /api/v1/nodes)
	assert_eq "${out##*$'\n'}" 200 "O=system:masters"
	# A certificate from another CA is nobody.
	mkdir -p "$TMP/other/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=other-ca -keyout "$TMP/other/tls/ca.key" -out "$TMP/other/tls/ca.crt" 2>/dev/null
	client_cert "$TMP/other" mallory "/O=system:masters/CN=mallory"
	out=$(as_cert "$d" mallory /api/v1/nodes)
	assert_eq "${out##*$'\n'}" 401 "a certificate from another CA"
}

# A data dir whose CA OpenSSL wrote (PKCS#8 EC key, as the OpenSSL-based
# skiff-server did): the server signs its own certificates with it, and
# keeps every file on the next start.
case_existing_openssl_ca() {
	local d=$TMP/old sums
	mkdir -p "$d/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=skiff-ca -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-keyout "$d/tls/ca.key" -out "$d/tls/ca.crt" 2>/dev/null || fail "openssl req -x509"
	assert_eq "$(head -n 1 "$d/tls/ca.key")" "-----BEGIN PRIVATE KEY-----"
	start_server "$d"
	assert_ok openssl verify -CAfile "$d/tls/ca.crt" "$d/tls/server.crt" "$d/tls/admin.crt"
	both_kubectl "$d"
	sums=$(md5sum "$d"/tls/*)
	kill "$SERVER_PID" && wait "$SERVER_PID"
	start_server "$d"
	assert_eq "$(md5sum "$d"/tls/*)" "$sums" "certificates kept on restart"
	both_kubectl "$d"
}

run_case generated_certificates
run_case client_cert_identity
run_case existing_openssl_ca
finish
