#!/usr/bin/env bash
# Builds skiff's local container images as OCI image-layout tarballs that
# `ctr -n k8s.io images import` reads (no registry is needed):
#
#   OUT/pause.tar     skiff.local/pause:3.9     (the static pause binary)
#   OUT/busybox.tar   skiff.local/busybox:1.35  (/bin/busybox of busybox-static)
#
# Usage: dataplane/images/build.sh OUT_DIR PAUSE_BINARY
# Each tarball holds oci-layout, index.json (with the
# org.opencontainers.image.ref.name annotation), and blobs/sha256/ with the
# manifest, the config and one gzip layer. Output is reproducible: the
# layer's files have mtime 0 and owner 0:0.
set -euo pipefail

usage() { echo "Usage: $0 OUT_DIR PAUSE_BINARY" >&2; exit 2; }
[ "${1:-}" = "--help" ] && { echo "Usage: $0 OUT_DIR PAUSE_BINARY"; exit 0; }
[ $# -eq 2 ] || usage
out=$1 pause_bin=$2
[ -x "$pause_bin" ] || { echo "$0: pause binary '$pause_bin' not found" >&2; exit 1; }
busybox=${BUSYBOX:-/bin/busybox}
file "$busybox" 2>/dev/null | grep -q 'statically linked' || {
	# `file` may be missing; ldd says "not a dynamic executable" for static ones
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
		{ echo "$0: $busybox is not static (install busybox-static)" >&2; exit 1; }
}

mkdir -p "$out"
work=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# image NAME REF ROOTFS_DIR ENTRYPOINT_JSON CMD_JSON
image() {
	local name=$1 ref=$2 rootfs=$3 entrypoint=$4 cmd=$5
	local lay="$work/$name" layer_tar diff_id layer_gz layer_digest cfg cfg_digest man man_digest
	mkdir -p "$lay/blobs/sha256"

	layer_tar="$work/$name-layer.tar"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$rootfs" -cf "$layer_tar" .
	diff_id=$(sha "$layer_tar")
	gzip -n -9 "$layer_tar"
	layer_gz="$layer_tar.gz"
	layer_digest=$(sha "$layer_gz")
	mv "$layer_gz" "$lay/blobs/sha256/$layer_digest"

	cfg="$work/$name-config.json"
	printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",%s' \
		'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],' >"$cfg"
	printf '"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},' "$entrypoint" "$cmd" >>"$cfg"
	printf '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" >>"$cfg"
	cfg_digest=$(sha "$cfg")
	printf -v cfg_size '%s' "$(size "$cfg")"
	mv "$cfg" "$lay/blobs/sha256/$cfg_digest"

	man="$work/$name-manifest.json"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' >"$man"
	printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},' \
		"$cfg_digest" "$cfg_size" >>"$man"
	printf '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
		"$layer_digest" "$(size "$lay/blobs/sha256/$layer_digest")" >>"$man"
	man_digest=$(sha "$man")
	printf -v man_size '%s' "$(size "$man")"
	mv "$man" "$lay/blobs/sha256/$man_digest"

	printf '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' >"$lay/index.json"
	printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,' \
		"$man_digest" "$man_size" >>"$lay/index.json"
	printf '"platform":{"architecture":"amd64","os":"linux"},' >>"$lay/index.json"
	printf '"annotations":{"org.opencontainers.image.ref.name":"%s","io.containerd.image.name":"%s"}}]}' \
		"$ref" "$ref" >>"$lay/index.json"

	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$lay" -cf "$work/$name.tar" oci-layout index.json blobs
	mv "$work/$name.tar" "$out/$name.tar"
	echo "$out/$name.tar: $ref (manifest sha256:$man_digest)"
}

# pause: one static binary at /pause.
root="$work/pause-root"
mkdir -p "$root"
install -m 0755 "$pause_bin" "$root/pause"
image pause skiff.local/pause:3.9 "$root" '["/pause"]' 'null'

# busybox: /bin/busybox with symlinks for the common applets (tar: kubectl cp).
root="$work/busybox-root"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"
install -m 0755 "$busybox" "$root/bin/busybox"
for a in sh ash cat echo ls ps sleep ip ping wget nc hostname ifconfig route \
	 true false env id mkdir rm cp mv ln grep sed awk head tail wc date \
	 httpd nslookup netstat kill uname sort uniq tr cut printf test seq \
	 nohup timeout tar; do
	ln -s busybox "$root/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
image busybox skiff.local/busybox:1.35 "$root" 'null' '["/bin/sh"]'
