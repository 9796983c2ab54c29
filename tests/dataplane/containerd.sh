# A private containerd for one test: its own root, state, sockets, runc
# root and CNI folders, running inside the test's node network namespace so
# the CNI plugin's host-side veths and routes land there and never on the
# real host. Source after tests/harness/lib.sh:
#
#   . "$SKIFF_ROOT/tests/dataplane/containerd.sh"
#   setup_ns node
#   ctrd_start node "$conflist_file"      # sets CTRD_SOCK, CTRD_PID, CTRD_DIR
#   ctrd_import "$SKIFF_BUILD/images/pause.tar"
#   cri runp pod.json                     # cri-tool on CTRD_SOCK
#   ...                                   # ctrd_stop runs from the cleanup trap
#
# containerd also gets a private mount namespace (slave of the host's), so
# the sandbox netns bind mounts (kept under its state folder, not
# /var/run/netns) and the snapshot mounts exist only there; the test
# reaches a sandbox's network namespace through its pause process
# (/proc/PID/ns/net, `cri inspectp` prints the pid).

CTRD_DIR=
# Pods of the test set linux.cgroup_parent to this, so everything runc
# starts sits in one cgroup tree that ctrd_stop can end and remove.
CTRD_CGROUP_PARENT="/skiff-$RUN_ID"
CTRD_SOCK=
CTRD_PID=
CTRD_MNTNS=
CTRD_SNAPSHOTTER=

# cri ARGS...: cri-tool against this test's containerd.
cri() { "$TESTBIN/cri-tool" --socket "$CTRD_SOCK" --timeout 30 "$@"; }

# ctrd_snapshotter DIR: overlayfs when it mounts on DIR's filesystem, else native.
ctrd_snapshotter() {
	local d="$1/ovl-probe" ok=native
	mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
	if unshare -m sh -c "mount -t overlay overlay -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m" 2>/dev/null; then
		ok=overlayfs
	fi
	rm -rf "$d"
	echo "$ok"
}

# ctrd_start NODE CONFLIST: starts containerd in namespace NODE (from
# setup_ns) with CONFLIST as its only CNI network configuration.
ctrd_start() {
	local node=$1 conflist=$2 p i
	CTRD_DIR="$TMP/ctrd"
	mkdir -p "$CTRD_DIR"/{root,state,cni-bin,cni-conf,opt,runc,logs}
	CTRD_SOCK="$CTRD_DIR/containerd.sock"
	CTRD_SNAPSHOTTER=$(ctrd_snapshotter "$CTRD_DIR")

	for p in "$BIN/skiff-cni" "$BIN/skiff-ipam" /usr/lib/cni/loopback /usr/lib/cni/portmap \
		 /usr/lib/cni/ptp /usr/lib/cni/host-local; do
		[ -x "$p" ] && ln -sf "$p" "$CTRD_DIR/cni-bin/$(basename "$p")"
	done
	cp "$conflist" "$CTRD_DIR/cni-conf/10-skiff.conflist"

	cat >"$CTRD_DIR/config.toml" <<-TOML
	version = 2
	root = "$CTRD_DIR/root"
	state = "$CTRD_DIR/state"
	disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
	  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
	  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
	[grpc]
	  address = "$CTRD_SOCK"
	[ttrpc]
	  address = "$CTRD_SOCK.ttrpc"
	[debug]
	  address = ""
	  level = "info"
	[metrics]
	  address = ""
	[plugins."io.containerd.internal.v1.opt"]
	  path = "$CTRD_DIR/opt"
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "skiff.local/pause:3.9"
	  restrict_oom_score_adj = true
	  disable_apparmor = true
	  stream_server_address = "127.0.0.1"
	  stream_server_port = "0"
	  enable_selinux = false
	  netns_mounts_under_state_dir = true
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    snapshotter = "$CTRD_SNAPSHOTTER"
	    default_runtime_name = "runc"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
	        Root = "$CTRD_DIR/runc"
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "$CTRD_DIR/cni-bin"
	    conf_dir = "$CTRD_DIR/cni-conf"
	    max_conf_num = 1
	TOML

	# Only the network namespace changes (not `ip netns exec`, which also
	# remounts /sys and so hides the cgroup mounts runc needs); a private
	# mount namespace keeps the snapshot and netns mounts out of the host's
	# and ends them with containerd's last process.
	nsenter --net="/var/run/netns/$(ns "$node")" unshare --mount --propagation slave \
		containerd --config "$CTRD_DIR/config.toml" >"$CTRD_DIR/logs/containerd.log" 2>&1 &
	CTRD_PID=$!
	defer ctrd_stop
	for (( i=0; i<100; i++ )); do
		[ -S "$CTRD_SOCK" ] && ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 && break
		kill -0 "$CTRD_PID" 2>/dev/null || { ctrd_log_tail >&2; fail "containerd exited at start"; }
		sleep 0.1
	done
	[ -S "$CTRD_SOCK" ] || { ctrd_log_tail >&2; fail "containerd did not open $CTRD_SOCK"; }
	CTRD_MNTNS=$(readlink "/proc/$CTRD_PID/ns/mnt")
}

ctrd_log_tail() { tail -n 20 "$CTRD_DIR/logs/containerd.log" 2>/dev/null | sed 's/^/containerd: /'; }

# ctrd_import TARBALL: imports an OCI image tarball into the k8s.io namespace.
ctrd_import() {
	ctr --address "$CTRD_SOCK" -n k8s.io images import --snapshotter "$CTRD_SNAPSHOTTER" "$1" >/dev/null
}

# ctrd_stop: removes every sandbox through CRI (which runs CNI DEL and
# releases addresses), stops containerd by PID, ends what it left (shims,
# in containerd's own mount namespace) and removes its folders.
ctrd_stop() {
	local id pid p
	[ -n "$CTRD_PID" ] || return 0
	if kill -0 "$CTRD_PID" 2>/dev/null; then
		for id in $(cri pods --quiet 2>/dev/null); do
			pid=$(cri inspectp "$id" 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
			cri stopp "$id" >/dev/null 2>&1
			cri rmp "$id" >/dev/null 2>&1
			# A sandbox that never started reports pid 0: never kill that.
			[ "${pid:-0}" -gt 1 ] && kill -9 "$pid" 2>/dev/null
		done
		kill "$CTRD_PID" 2>/dev/null
		for (( p=0; p<50; p++ )); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CTRD_PID" 2>/dev/null
	fi
	wait "$CTRD_PID" 2>/dev/null
	# Shims that outlived containerd share its private mount namespace
	# (never ours: then nothing is matched).
	if [ -n "$CTRD_MNTNS" ] && [ "$CTRD_MNTNS" != "$(readlink /proc/self/ns/mnt)" ]; then
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$CTRD_MNTNS" ] && kill -9 "${p#/proc/}" 2>/dev/null
		done
	fi
	CTRD_PID=
	ctrd_cgroup_cleanup
	rm -rf "$CTRD_DIR"
}

# ctrd_cgroup_cleanup: ends what is left in the test's cgroup tree (only
# when a test failed before removing its pods) and removes the tree.
ctrd_cgroup_cleanup() {
	local m pid
	for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts); do
		[ -d "$m$CTRD_CGROUP_PARENT" ] || continue
		for pid in $(find "$m$CTRD_CGROUP_PARENT" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			[ "$pid" -gt 1 ] && [ "$pid" != $$ ] && kill -9 "$pid" 2>/dev/null
		done
	done
	sleep 0.1
	for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts); do
		[ -d "$m$CTRD_CGROUP_PARENT" ] || continue
		find "$m$CTRD_CGROUP_PARENT" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
}

# ctrd_restart: stops containerd (SIGTERM) and starts it again on the same
# config, in the same network and mount namespaces (entered through a
# shim, which outlives it with the containers): what a runtime upgrade or
# crash looks like to its clients. From a case's subshell, the new PID
# stays there: the file's ctrd_stop still ends it, with the shims, by
# the mount namespace it shares with them.
ctrd_restart() {
	local node=$1 p shim= i
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$CTRD_PID" ] || continue
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$CTRD_MNTNS" ] && { shim=${p#/proc/}; break; }
	done
	[ -n "$shim" ] || fail "ctrd_restart: no shim holds containerd's mount namespace"
	kill "$CTRD_PID"
	for (( i=0; i<100; i++ )); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$CTRD_PID" 2>/dev/null
	nsenter --net="/var/run/netns/$(ns "$node")" --mount="/proc/$shim/ns/mnt" \
		containerd --config "$CTRD_DIR/config.toml" >>"$CTRD_DIR/logs/containerd.log" 2>&1 &
	CTRD_PID=$!
	for (( i=0; i<100; i++ )); do
		ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	ctrd_log_tail >&2
	fail "containerd did not come back"
}
