#!/usr/bin/env bash
# Installs every Debian package skiff needs to build, run and test.
# Idempotent: the full list is passed to apt-get every time, because a
# package can be present but unconfigured.
set -euo pipefail

packages=(
	# build
	build-essential pkg-config clang llvm bpftool libclang-rt-14-dev
	libbpf-dev libelf-dev zlib1g-dev linux-libc-dev
	libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
	libjansson-dev libyaml-dev libsqlite3-dev libssl-dev
	libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev
	libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libldns-dev
	libjemalloc-dev # skiff-server's allocator
	# runtime and test peers
	iproute2 nftables iptables conntrack containerd containernetworking-plugins
	busybox-static tzdata etcd-server etcd-client kubectl docker-registry curl
	iperf3 hyperfine wrk socat netcat-openbsd iputils-ping iputils-arping ndisc6 procps psmisc util-linux jq
	bind9-dnsutils dnsperf dnsmasq-base unbound
	prometheus # promtool: checks the /metrics text (tests)
	# official clients the tests drive (tests/clients/)
	python3-kubernetes nodejs
)

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: must run as root (apt-get install)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/skiff-update-stamp
if [ ! -e "$stamp" ] || [ -n "$(find /var/lib/apt/lists -maxdepth 0 -mmin +1440 2>/dev/null)" ]; then
	echo "deps: apt-get update"
	apt-get update -qq
	mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
echo "deps: installing ${#packages[@]} packages"
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# @kubernetes/client-node for tests/clients/test_node_client.sh: from the
# npm registry, pinned, into a cache outside the tree (the test skips,
# saying why, when it is not there). npm comes with the machine's nodejs
# (Debian's npm package conflicts with a nodejs that bundles it).
npm_dir=/var/cache/skiff-npm
client_node=1.4.0
if command -v npm >/dev/null && ! grep -qs "\"version\": \"$client_node\"" \
	"$npm_dir/node_modules/@kubernetes/client-node/package.json"; then
	echo "deps: npm install @kubernetes/client-node@$client_node"
	mkdir -p "$npm_dir"
	(cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error \
		"@kubernetes/client-node@$client_node" >/dev/null) ||
		echo "deps: npm install failed: tests/clients/test_node_client.sh will skip" >&2
fi
echo "deps: done"
