#!/usr/bin/env bash
# The cluster's registry and `skiff image load`: skiff up starts Debian's
# docker-registry on the bridge, seeded with the build's images, and every
# pull goes through containerd's pull path to it (no ctr import): a pod
# with imagePullPolicy Always runs; a name the registry lacks is
# ErrImagePull, then ImagePullBackOff; a docker-archive built here and
# loaded with `skiff image load` runs under its plain name (docker.io,
# mapped to the registry) and under another domain's; the registry's own
# address:port names its images too; a corrupt archive
# loads nothing; kill -9 of the registry is undone by the supervisor; and
# skiff down stops it.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
UP_PREFIX=i up_require docker-registry

REG=http://$BRIDGE.1:$REGPORT
TAG=v$(echo "$RUN_ID" | tr -cd 'a-z0-9')

load() { "$BIN/skiff" image load --data-dir "$DATA" "$@"; }
catalog() { curl -s --noproxy '*' "$REG/v2/_catalog?n=1000"; }

# docker_archive OUT TAG...: a `docker save` layout of the busybox image
# (uncompressed layer under ID/layer.tar, its config, RepoTags).
docker_archive() {
	local out=$1 d=$TMP/da-$RANDOM oci=$TMP/oci man cfg lay
	shift
	mkdir -p "$d/l1" "$oci"
	tar -xf "$SKIFF_BUILD/images/busybox.tar" -C "$oci"
	man=$(jq -r '.manifests[0].digest' "$oci/index.json" | cut -d: -f2)
	cfg=$(jq -r .config.digest "$oci/blobs/sha256/$man" | cut -d: -f2)
	lay=$(jq -r '.layers[0].digest' "$oci/blobs/sha256/$man" | cut -d: -f2)
	gunzip -c "$oci/blobs/sha256/$lay" >"$d/l1/layer.tar"
	cp "$oci/blobs/sha256/$cfg" "$d/$cfg.json"
	jq -cn --arg c "$cfg.json" '[{Config: $c, RepoTags: $ARGS.positional, Layers: ["l1/layer.tar"]}]' \
		--args "$@" >"$d/manifest.json"
	tar -cf "$out" -C "$d" manifest.json "$cfg.json" l1
}

# pod_yaml NAME IMAGE: a pod that pulls IMAGE every time and says so.
pod_yaml() {
	cat <<-YAML
	apiVersion: v1
	kind: Pod
	metadata: {name: $1}
	spec:
	  restartPolicy: Never
	  containers:
	  - name: c
	    image: $2
	    imagePullPolicy: Always
	    command: [sh, -c, "echo ran-$1"]
	---
	YAML
}

waiting_is() {
	[ "$(k get pod "$1" -o 'jsonpath={.status.containerStatuses[0].state.waiting.reason}')" = "$2" ]
}

case_registry_pulls_and_image_load() {
	local out old new
	up_case
	assert_contains "$UP_OUT" "registry on $REG"
	out=$(catalog)
	assert_contains "$out" '"busybox"' "the registry's catalog after up"
	assert_contains "$out" '"pause"' "the registry's catalog after up"
	out=$("$BIN/skiff" status --data-dir "$DATA")
	[[ $out =~ registry\ +[0-9]+ ]] || fail "status shows no registry: $out"

	# loads: a good docker-archive under two names; a corrupt one, nothing
	docker_archive "$TMP/app.tar" "app:$TAG" "example.test/tools/app:$TAG"
	out=$(load "$TMP/app.tar" 2>&1) || fail "skiff image load failed: $out"
	assert_contains "$out" "docker-archive, 1 image(s)"
	assert_contains "$out" "app:$TAG: 1 layer(s)"
	docker_archive "$TMP/bad.tar" "corrupt/app:$TAG"
	printf 'X' | dd of="$TMP/bad.tar" bs=1 seek=$(( $(stat -c %s "$TMP/bad.tar") / 2 )) conv=notrunc 2>/dev/null
	out=$(load "$TMP/app.tar" "$TMP/bad.tar" 2>&1) && fail "a corrupt archive loaded: $out"
	assert_contains "$out" "is corrupt"
	assert_contains "$out" "nothing loaded"
	head -c 4096 /dev/urandom >"$TMP/noise.tar"
	out=$(load "$TMP/noise.tar" 2>&1) && fail "noise loaded: $out"
	assert_contains "$out" "not a tar"
	out=$(catalog)
	assert_contains "$out" '"library/app"' "the catalog after loading app:$TAG"
	assert_not_contains "$out" "corrupt/app" "the catalog after a corrupt load"

	# every pull through the registry, policy Always; a missing image
	{
		pod_yaml always skiff.local/busybox:1.35
		pod_yaml loaded "app:$TAG"
		pod_yaml otherdomain "example.test/tools/app:$TAG"
		pod_yaml byaddress "$BRIDGE.1:$REGPORT/busybox:1.35"
		pod_yaml missing "skiff.local/nope:$TAG"
	} | k apply -f - >/dev/null || fail "kubectl apply failed"
	for p in always loaded otherdomain byaddress; do
		wait_for 60 phase_is $p Succeeded || fail "pod $p did not run: $(k describe pod $p | tail -8)
$(logs)"
		assert_eq "$(k logs $p)" "ran-$p" "pod $p's output"
	done
	# (ErrImagePull and ImagePullBackOff alternate, each with its own
	# message: the pull's error is read while the reason is ErrImagePull)
	wait_for 30 eval 'waiting_is missing ErrImagePull && k get pod missing -o "jsonpath={.status.containerStatuses[0].state.waiting.message}" | grep -q "not found"' ||
		fail "missing is not ErrImagePull with the registry's not found: $(k get pod missing -o yaml | tail -15)"
	wait_for 20 waiting_is missing ImagePullBackOff || fail "missing never turned ImagePullBackOff"

	# kill -9 of the registry: restarted, its images still there
	old=$(part_pid registry)
	kill -9 "$old"
	wait_for 15 eval '[ "$(part_pid registry)" != "'"$old"'" ] && curl -sf --noproxy "*" "$REG/v2/" >/dev/null' ||
		fail "the registry was not restarted: $(tail -3 "$DATA/logs/supervisor.log")"
	assert_contains "$(catalog)" '"library/app"' "the catalog after the registry's restart"

	new=$(part_pid registry)
	out=$("$BIN/skiff" down --data-dir "$DATA" --purge 2>&1) || fail "skiff down: $out"
	kill -0 "$new" 2>/dev/null && fail "the registry (pid $new) outlived skiff down"
	out=$(ps -eo pid=,args= | grep -F "$DATA" | grep -v grep)
	[ -z "$out" ] || fail "skiff down left: $out"
	curl -s --noproxy '*' -m 2 "$REG/v2/" >/dev/null && fail "a registry still answers on $REG"
	return 0
}

run_case registry_pulls_and_image_load
finish
