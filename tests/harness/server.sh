# Starting skiff-server for a test, for lib.sh.

# start_skiff_server DATA LOG MODE [FLAG...]: starts skiff-server on DATA
# (its data dir) at a random loopback port, five tries, logging to LOG;
# sets PORT and SERVER_PID and has the cleanup stop it (kill_tree).
# MODE tls: HTTPS on PORT, ready when /readyz answers with DATA's CA;
# MODE plain: --secure-port 0 --insecure-port PORT. SERVER_PORT=N asks
# for port N (a restart on the port clients know).
start_skiff_server() {
	local data=$1 log=$2 mode=$3 try pid url
	shift 3
	for try in 1 2 3 4 5; do
		PORT=${SERVER_PORT:-$(free_port)}
		if [ "$mode" = tls ]; then
			"$BIN/skiff-server" --data-dir "$data" --bind-address 127.0.0.1 \
				--secure-port "$PORT" --log-level warn "$@" >>"$log" 2>&1 &
			pid=$!
			url=(--cacert "$data/tls/ca.crt" "https://127.0.0.1:$PORT/readyz")
		else
			"$BIN/skiff-server" --data-dir "$data" --secure-port 0 --insecure-port "$PORT" \
				--log-level warn "$@" >>"$log" 2>&1 &
			pid=$!
			url=("http://127.0.0.1:$PORT/readyz")
		fi
		if await_ready "$pid" 60 curl -sf "${url[@]}"; then
			SERVER_PID=$pid
			defer "kill_tree $pid"
			return 0
		fi
		kill_tree "$pid"
	done
	fail "skiff-server did not start on $data: $(tail -n 3 "$log")"
}

# start_etcd PORT: a one-member etcd for the test, clients on
# 127.0.0.1:PORT, peers on PORT + 1, data under $TMP/etcd; sets ETCD_PID
# and has the cleanup stop it (resumed first, should a test have paused
# it with SIGSTOP).
start_etcd() {
	local pid
	mkdir -p "$TMP/etcd"
	etcd --name e1 --data-dir "$TMP/etcd/data" \
		--listen-client-urls "http://127.0.0.1:$1" --advertise-client-urls "http://127.0.0.1:$1" \
		--listen-peer-urls "http://127.0.0.1:$(($1 + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$(($1 + 1))" \
		--initial-cluster "e1=http://127.0.0.1:$(($1 + 1))" --initial-cluster-state new \
		--initial-cluster-token "skiff-$RUN_ID" >"$TMP/etcd/log" 2>&1 &
	pid=$!
	ETCD_PID=$pid
	defer "kill -CONT $pid; kill_tree $pid"
	wait_for 20 etcdctl --endpoints="127.0.0.1:$1" endpoint health ||
		fail "etcd did not start: $(tail -n 5 "$TMP/etcd/log")"
}

# kubelet_serving_cert NODE IP: $TMP/kubelet.{key,crt}, the serving
# certificate of node NODE's kubelet API at IP, signed by the cluster CA in
# $DATA/tls (as joining would issue it).
kubelet_serving_cert() {
	require_cmd openssl
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/kubelet.key" \
		-subj "/O=system:nodes/CN=system:node:$1" -out "$TMP/kubelet.csr" 2>/dev/null ||
		fail "openssl req"
	printf 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:%s\n' "$2" >"$TMP/kubelet.ext"
	openssl x509 -req -in "$TMP/kubelet.csr" -CA "$DATA/tls/ca.crt" -CAkey "$DATA/tls/ca.key" \
		-CAcreateserial -days 1 -extfile "$TMP/kubelet.ext" -out "$TMP/kubelet.crt" 2>/dev/null ||
		fail "openssl x509"
}
