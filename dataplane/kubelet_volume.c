/* A pod's volumes under ROOT/pods/UID/volumes/kubernetes.io~KIND/NAME, as
 * upstream's kubelet lays them out: emptyDir (medium Memory: a tmpfs with
 * sizeLimit), hostPath (with its type checks), configMap, secret,
 * downwardAPI and projected (configMap, secret, downwardAPI,
 * serviceAccountToken sources) written atomically (a ..data symlink
 * swapped to a new timestamped folder) and rewritten when their objects
 * change (looked at again every VOLUME_RESYNC_NS); the service-account
 * volume (kube-api-access) at /var/run/secrets/kubernetes.io/serviceaccount
 * unless automountServiceAccountToken is false, its token from the
 * TokenRequest subresource, renewed after 80% of its life or 24 hours;
 * secret and projected volumes on tmpfs; the pod's /etc/hosts. Then each
 * container's volumeMounts (readOnly, subPath) as CRI mounts, and the
 * unmounts before the pod's files go. */
#include "dataplane/kubelet_int.h"

#include "lib/kube_quantity.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SA_MOUNT "/var/run/secrets/kubernetes.io/serviceaccount"
#define SA_VOLUME "kube-api-access"
#define SA_EXPIRATION_S 3607
#define ROOT_CA_CM "kube-root-ca.crt"
#define VOLUME_RESYNC_NS (20ULL * 1000000000ULL) /* objects are looked at again */
#define PATH_SIZE 1024
#define TMP_SIZE (PATH_SIZE * 2 + 64) /* a volume folder and a name in it */

/* ---- files ---- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_SIZE];

	if (strscpy(buf, path, sizeof(buf)) < 0)
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int volume_dir(struct kl_sync *s, const char *kind, const char *name, char *buf,
		      size_t size)
{
	if (snprintf(buf, size, "%s/pods/%s/volumes/kubernetes.io~%s/%s", s->k->o.root_dir, s->uid,
		     kind, name) >= (int)size)
		return -ENAMETOOLONG;
	return mkdir_p(buf, 0777);
}

/* A relative path without "..": a volume item's or a subPath. */
static bool path_ok(const char *p)
{
	const char *c = p;

	if (!p || !*p || *p == '/')
		return false;
	while (c) {
		if (!strncmp(c, "..", 2) && (c[2] == '/' || !c[2]))
			return false;
		c = strchr(c, '/');
		if (c)
			c++;
	}
	return true;
}

static int write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode), r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* ---- payloads: path -> {"data", "mode"}, written atomically ---- */

static void payload_add(json_t *payload, const char *path, const char *data, size_t len,
			long long mode)
{
	json_object_set_new(payload, path, json_pack("{ss# sI}", "data", data, (int)len, "mode",
						     (json_int_t)mode));
}

static int payload_files(const char *dir, const char *ts, json_t *payload)
{
	char p[TMP_SIZE];
	const char *path;
	json_t *f;
	int r;

	snprintf(p, sizeof(p), "%s/%s", dir, ts);
	if (mkdir(p, 0755) < 0)
		return -errno;
	json_object_foreach(payload, path, f) {
		char *slash;

		snprintf(p, sizeof(p), "%s/%s/%s", dir, ts, path);
		slash = strrchr(p, '/');
		*slash = '\0';
		r = mkdir_p(p, 0755);
		*slash = '/';
		if (r == 0)
			r = write_file(p, json_path_str(f, "data"),
				       json_string_length(json_object_get(f, "data")),
				       (mode_t)json_path_int(f, "mode", 0644));
		if (r < 0)
			return r;
	}
	return 0;
}

/* The visible names: a symlink through ..data for each top-level name of
 * the payload, and none for names it no longer has. */
static int payload_links(const char *dir, json_t *payload)
{
	char p[TMP_SIZE], top[PATH_SIZE], target[PATH_SIZE + 8];
	const char *path;
	struct dirent *de;
	json_t *f;
	DIR *d;

	json_object_foreach(payload, path, f) {
		snprintf(top, sizeof(top), "%.*s", (int)strcspn(path, "/"), path);
		snprintf(target, sizeof(target), "..data/%s", top);
		snprintf(p, sizeof(p), "%s/%s", dir, top);
		if (symlink(target, p) < 0 && errno != EEXIST)
			return -errno;
	}
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		bool keep = de->d_name[0] == '.';

		json_object_foreach(payload, path, f)
			if (!strncmp(path, de->d_name, n) && (!path[n] || path[n] == '/'))
				keep = true;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!keep)
			unlink(p);
	}
	if (d)
		closedir(d);
	return 0;
}

/* The atomic writer: the files into a new ..TIMESTAMP folder, ..data (a
 * symlink) swapped to it with a rename, the old folder removed. Nothing
 * is written when the payload is the one written last (s->mem). */
static int payload_write(struct kl_sync *s, const char *dir, json_t *payload)
{
	json_t *written = json_object_get(s->mem, "written");
	char ts[64], p[TMP_SIZE], old[PATH_SIZE] = "", tmp[TMP_SIZE];
	struct timespec now;
	ssize_t l;
	int r;

	if (!written) {
		written = json_object();
		json_object_set_new(s->mem, "written", written);
	}
	snprintf(p, sizeof(p), "%s/..data", dir);
	l = readlink(p, old, sizeof(old) - 1);
	old[l > 0 ? l : 0] = '\0';
	if (*old && json_equal(json_object_get(written, dir), payload))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(ts, sizeof(ts), "..%lld_%09ld", (long long)now.tv_sec, now.tv_nsec);
	r = payload_files(dir, ts, payload);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	unlink(tmp);
	if (symlink(ts, tmp) < 0 || rename(tmp, p) < 0)
		return -errno;
	r = payload_links(dir, payload);
	if (r < 0)
		return r;
	if (*old && strcmp(old, ts)) {
		snprintf(p, sizeof(p), "%s/%s", dir, old);
		remove_tree(p);
	}
	json_object_set(written, dir, payload);
	return 0;
}

/* ---- sources ---- */

/* A configMap or secret source: its items (or every key); an optional
 * one missing writes nothing. */
static int source_object(struct kl_sync *s, json_t *src, bool secret, long long mode,
			 json_t *payload, char *err, size_t errlen)
{
	const char *name = json_path_str(src, secret ? "secretName" : "name");
	bool optional = json_is_true(json_object_get(src, "optional"));
	json_t *obj = NULL, *items = json_object_get(src, "items"), *keys, *it;
	size_t i;
	int r;

	if (!name)
		name = json_path_str(src, "name");
	if (!name)
		return set_err(err, errlen, -EINVAL, "%s volume source without a name",
			       secret ? "secret" : "configMap");
	r = kl_object_get(s, secret ? "secrets" : "configmaps", name, &obj, err, errlen);
	if (r == -ENOENT && optional) {
		*err = '\0';
		return 0;
	}
	if (r < 0)
		return r;
	keys = items ? json_incref(items) : kl_object_keys(obj, secret);
	json_array_foreach(keys, i, it) {
		const char *key = json_is_string(it) ? json_string_value(it) : json_path_str(it, "key");
		const char *path = json_is_string(it) ? key : json_path_str(it, "path");
		char *v = NULL;
		size_t len;

		if (!key || !path_ok(path)) {
			r = set_err(err, errlen, -EINVAL, "volume item %s: bad path", key ?: "");
			break;
		}
		r = kl_object_value(obj, secret, key, &v, &len);
		if (r == -ENOENT && optional) {
			r = 0;
			continue;
		}
		if (r < 0) {
			set_err(err, errlen, r, "%s references non-existent %s key: %s",
				secret ? "secret" : "configmap", secret ? "secret" : "config", key);
			break;
		}
		payload_add(payload, path, v, len,
			    json_is_string(it) ? mode : json_path_int(it, "mode", mode));
		free(v);
	}
	json_decref(keys);
	json_decref(obj);
	return r < 0 ? r : 0;
}

static int source_downward(struct kl_sync *s, json_t *src, long long mode, json_t *payload,
			   char *err, size_t errlen)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(src, "items"), i, it) {
		const char *path = json_path_str(it, "path");
		char buf[8192];
		int r;

		if (!path_ok(path))
			return set_err(err, errlen, -EINVAL, "downwardAPI item: bad path");
		if (json_object_get(it, "fieldRef"))
			r = kl_field_ref(s, json_object_get(it, "fieldRef"), true, buf, sizeof(buf), err,
					 errlen);
		else
			r = kl_resource_ref(s, NULL, json_object_get(it, "resourceFieldRef"), buf,
					    sizeof(buf), err, errlen);
		if (r < 0)
			return r;
		payload_add(payload, path, buf, strlen(buf), json_path_int(it, "mode", mode));
	}
	return 0;
}

/* A new bound token from TokenRequest, remembered in t. */
static int token_request(struct kl_sync *s, const char *sa, const char *aud, long long exp_s,
			 json_t *t, char *err, size_t errlen)
{
	json_t *body, *out = NULL;
	char url[1024];
	int r;

	body = json_pack("{ss ss s{sI s{ss ss ss ss}}}", "apiVersion", "authentication.k8s.io/v1",
			 "kind", "TokenRequest", "spec", "expirationSeconds", (json_int_t)exp_s,
			 "boundObjectRef", "kind", "Pod", "apiVersion", "v1", "name", s->name, "uid",
			 s->uid);
	if (aud)
		json_object_set_new(json_object_get(body, "spec"), "audiences", json_pack("[s]", aud));
	r = kc_path(kc_resource_find("serviceaccounts"), s->ns, sa, "token", NULL, url,
		    sizeof(url));
	if (r == 0)
		r = kc_request(s->w->kc, "POST", url, NULL, body, &out);
	json_decref(body);
	if (r < 0 || !json_path_str(out, "status.token")) {
		json_decref(out);
		return set_err(err, errlen, r < 0 ? r : -EPROTO, "failed to fetch token: %s",
			       r < 0 ? kc_last_status(s->w->kc)->message ?: strerror(-r) : "no token");
	}
	json_object_set_new(t, "token", json_string(json_path_str(out, "status.token")));
	json_object_set_new(t, "renew", json_integer(kl_token_renew_at(time(NULL), exp_s)));
	json_decref(out);
	log_info("kubelet: pod %s: token for service account %s/%s issued", s->key, s->ns, sa);
	return 0;
}

/* The pod's service-account token: the one remembered until
 * kl_token_renew_at (the volume is looked at every VOLUME_RESYNC_NS, so
 * the file changes at most that long after). */
static int source_token(struct kl_sync *s, json_t *src, long long mode, json_t *payload,
			char *err, size_t errlen)
{
	const char *sa = json_path_str(s->pod, "spec.serviceAccountName") ?: "default";
	const char *aud = json_path_str(src, "audience"), *path = json_path_str(src, "path");
	long long exp_s = json_path_int(src, "expirationSeconds", SA_EXPIRATION_S);
	json_t *tokens = json_object_get(s->mem, "tokens"), *t;
	char key[512];
	int r;

	if (!path_ok(path))
		return set_err(err, errlen, -EINVAL, "serviceAccountToken: bad path");
	if (!tokens) {
		tokens = json_object();
		json_object_set_new(s->mem, "tokens", tokens);
	}
	snprintf(key, sizeof(key), "%s|%s|%lld", sa, aud ?: "", exp_s);
	t = json_object_get(tokens, key);
	if (!t || time(NULL) >= json_path_int(t, "renew", 0)) {
		t = json_object();
		r = token_request(s, sa, aud, exp_s, t, err, errlen);
		if (r < 0) {
			json_decref(t);
			return r;
		}
		json_object_set_new(tokens, key, t);
	}
	payload_add(payload, path, json_path_str(t, "token"), strlen(json_path_str(t, "token")),
		    mode);
	return 0;
}

static int projected(struct kl_sync *s, json_t *vol, json_t *payload, char *err, size_t errlen)
{
	long long mode = json_path_int(vol, "defaultMode", 0644);
	json_t *src;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(vol, "sources"), i, src) {
		if (json_object_get(src, "configMap"))
			r = source_object(s, json_object_get(src, "configMap"), false, mode, payload,
					  err, errlen);
		else if (json_object_get(src, "secret"))
			r = source_object(s, json_object_get(src, "secret"), true, mode, payload, err,
					  errlen);
		else if (json_object_get(src, "downwardAPI"))
			r = source_downward(s, json_object_get(src, "downwardAPI"), mode, payload, err,
					    errlen);
		else if (json_object_get(src, "serviceAccountToken"))
			r = source_token(s, json_object_get(src, "serviceAccountToken"), mode, payload,
					 err, errlen);
		else
			r = set_err(err, errlen, -EOPNOTSUPP, "projected volume source %zu unsupported", i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the kinds ---- */

static int host_path_check(const char *path, const char *type, const struct stat *st, char *err,
			   size_t errlen)
{
	static const struct { const char *type; mode_t fmt; const char *what; } checks[] = {
		{ "Directory", S_IFDIR, "a directory" }, { "DirectoryOrCreate", S_IFDIR, "a directory" },
		{ "File", S_IFREG, "a file" }, { "FileOrCreate", S_IFREG, "a file" },
		{ "Socket", S_IFSOCK, "a socket file" }, { "CharDevice", S_IFCHR, "a character device" },
		{ "BlockDevice", S_IFBLK, "a block device" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
		if (streq(type, checks[i].type) && (st->st_mode & S_IFMT) != checks[i].fmt)
			return set_err(err, errlen, -EINVAL, "hostPath type check failed: %s is not %s",
				       path, checks[i].what);
	return 0;
}

static int host_path(json_t *hp, char *err, size_t errlen)
{
	const char *path = json_path_str(hp, "path"), *type = json_path_str(hp, "type") ?: "";
	struct stat st;
	int r;

	if (!path || *path != '/')
		return set_err(err, errlen, -EINVAL, "hostPath without an absolute path");
	r = stat(path, &st) < 0 ? -errno : 0;
	if (streq(type, "DirectoryOrCreate") && r == -ENOENT) {
		r = mkdir_p(path, 0755);
		return r < 0 ? set_err(err, errlen, r, "hostPath %s: %s", path, strerror(-r)) : 0;
	}
	if (streq(type, "FileOrCreate") && r == -ENOENT) {
		int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

		if (fd < 0)
			return set_err(err, errlen, -errno, "hostPath %s: %s", path, strerror(errno));
		close(fd);
		return 0;
	}
	if (!*type)
		return 0;
	if (r < 0)
		return set_err(err, errlen, r, "hostPath type check failed: %s does not exist", path);
	return host_path_check(path, type, &st, err, errlen);
}

static bool mounted_here(const char *dir)
{
	struct stat a, b;
	char parent[TMP_SIZE];

	snprintf(parent, sizeof(parent), "%s/..", dir);
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* A tmpfs on dir (a volume kept in memory, never on the node's disk),
 * unless one is there already. */
static int tmpfs_mount(struct kl_sync *s, const char *what, const char *dir, const char *opts,
		       char *err, size_t errlen)
{
	if (mounted_here(dir))
		return 0;
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return set_err(err, errlen, -errno, "%s: mount tmpfs: %s", what, strerror(errno));
	log_info("kubelet: pod %s: %s: tmpfs (%s)", s->key, what, opts);
	return 0;
}

static int empty_dir(struct kl_sync *s, const char *name, json_t *ed, char *dir, size_t size,
		     char *err, size_t errlen)
{
	const char *medium = json_path_str(ed, "medium") ?: "";
	json_t *limit = json_object_get(ed, "sizeLimit");
	char opts[128] = "mode=0777", what[320];
	int64_t bytes;
	int r = volume_dir(s, "empty-dir", name, dir, size);

	if (r < 0)
		return set_err(err, errlen, r, "emptyDir %s: %s", name, strerror(-r));
	chmod(dir, 0777);
	if (!streq(medium, "Memory"))
		return 0;
	if (limit && kube_quantity_json_value(limit, &bytes) == 0 && bytes > 0)
		snprintf(opts, sizeof(opts), "mode=0777,size=%lld", (long long)bytes);
	snprintf(what, sizeof(what), "emptyDir %s", name);
	return tmpfs_mount(s, what, dir, opts, err, errlen);
}

/* Secret and projected volumes live in memory, as upstream's kubelet
 * keeps them (an emptyDir of medium Memory under each): a Secret never
 * reaches the node's disk. A folder an older agent already filled on
 * disk (..data there) is left as it is: the running containers hold it. */
static int payload_tmpfs(struct kl_sync *s, const char *kind, const char *name, const char *dir,
			 char *err, size_t errlen)
{
	char what[320], data[TMP_SIZE];
	struct stat st;

	if (!streq(kind, "secret") && !streq(kind, "projected"))
		return 0;
	snprintf(data, sizeof(data), "%s/..data", dir);
	if (!mounted_here(dir) && lstat(data, &st) == 0)
		return 0;
	snprintf(what, sizeof(what), "%s volume %s", kind, name);
	return tmpfs_mount(s, what, dir, "mode=0755", err, errlen);
}

/* A volume written from a payload (configMap, secret, downwardAPI,
 * projected). */
static int payload_volume(struct kl_sync *s, const char *kind, const char *name, json_t *vol,
			  char *dir, size_t size, char *err, size_t errlen)
{
	json_t *payload = json_object();
	long long mode = json_path_int(vol, "defaultMode", 0644);
	int r = volume_dir(s, kind, name, dir, size);

	if (r < 0)
		set_err(err, errlen, r, "volume %s: %s", name, strerror(-r));
	if (r == 0)
		r = payload_tmpfs(s, kind, name, dir, err, errlen);
	if (r == 0 && streq(kind, "configmap"))
		r = source_object(s, vol, false, mode, payload, err, errlen);
	else if (r == 0 && streq(kind, "secret"))
		r = source_object(s, vol, true, mode, payload, err, errlen);
	else if (r == 0 && streq(kind, "downward-api"))
		r = source_downward(s, vol, mode, payload, err, errlen);
	else if (r == 0)
		r = projected(s, vol, payload, err, errlen);
	if (r == 0) {
		r = payload_write(s, dir, payload);
		if (r < 0)
			set_err(err, errlen, r, "volume %s: writing: %s", name, strerror(-r));
	}
	json_decref(payload);
	kl_requeue(s, VOLUME_RESYNC_NS); /* its objects may change */
	return r;
}

/* The service-account volume upstream's admission adds (kube-api-access). */
static json_t *sa_volume(void)
{
	return json_pack("{ss s{s[{s{sI ss}} {s{ss s[{ss ss}]}} {s{s[{ss s{ss ss}}]}}]}}",
			 "name", SA_VOLUME, "projected", "sources",
			 "serviceAccountToken", "expirationSeconds", (json_int_t)SA_EXPIRATION_S,
			 "path", "token",
			 "configMap", "name", ROOT_CA_CM, "items", "key", "ca.crt", "path", "ca.crt",
			 "downwardAPI", "items", "path", "namespace", "fieldRef", "apiVersion", "v1",
			 "fieldPath", "metadata.namespace");
}

static bool sa_automount(struct kl_sync *s)
{
	return !json_is_false(json_path_get(s->pod, "spec.automountServiceAccountToken"));
}

/* One volume, set up: dir gets its host path. */
static int volume_setup(struct kl_sync *s, json_t *vol, char *dir, size_t size, char *err,
			size_t errlen)
{
	static const struct { const char *field, *kind; } kinds[] = {
		{ "configMap", "configmap" }, { "secret", "secret" },
		{ "downwardAPI", "downward-api" }, { "projected", "projected" },
	};
	const char *name = json_path_str(vol, "name");

	if (!name || !path_ok(name) || strchr(name, '/'))
		return set_err(err, errlen, -EINVAL, "volume without a valid name");
	if (json_object_get(vol, "emptyDir"))
		return empty_dir(s, name, json_object_get(vol, "emptyDir"), dir, size, err, errlen);
	if (json_object_get(vol, "hostPath")) {
		strscpy(dir, json_path_str(vol, "hostPath.path") ?: "", size);
		return host_path(json_object_get(vol, "hostPath"), err, errlen);
	}
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (json_object_get(vol, kinds[i].field))
			return payload_volume(s, kinds[i].kind, name, json_object_get(vol, kinds[i].field),
					      dir, size, err, errlen);
	return set_err(err, errlen, -EOPNOTSUPP, "volume %s: unsupported volume type", name);
}

/* ---- /etc/hosts ---- */

static void hosts_aliases(struct kl_sync *s, char *buf, size_t size, size_t *n)
{
	json_t *alias, *h;
	size_t i, j;

	json_array_foreach(json_path_get(s->pod, "spec.hostAliases"), i, alias) {
		if (*n >= size || !json_path_str(alias, "ip"))
			return;
		*n += (size_t)snprintf(buf + *n, size - *n, "%s# Entries added by HostAliases.\n%s",
				       i ? "" : "\n", json_path_str(alias, "ip"));
		json_array_foreach(json_object_get(alias, "hostnames"), j, h)
			if (*n < size)
				*n += (size_t)snprintf(buf + *n, size - *n, "\t%s",
						       json_string_value(h) ?: "");
		if (*n < size)
			*n += (size_t)snprintf(buf + *n, size - *n, "\n");
	}
}

/* The pod's /etc/hosts (not with hostNetwork: that is the node's). */
static int etc_hosts(struct kl_sync *s, char *path, size_t size)
{
	const char *hostname = json_path_str(s->pod, "spec.hostname") ?: s->name;
	const char *sub = json_path_str(s->pod, "spec.subdomain");
	char buf[8192];
	size_t n;

	if (json_is_true(json_path_get(s->pod, "spec.hostNetwork")) || !*s->pod_ip)
		return -ENOENT;
	n = (size_t)snprintf(buf, sizeof(buf), "# Kubernetes-managed hosts file.\n"
			     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			     "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
			     "fe00::2\tip6-allrouters\n");
	if (sub && *sub)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\t%s.%s.%s.svc.%s\t%s\n", s->pod_ip,
				      hostname, sub, s->ns, s->k->o.cluster_domain, hostname);
	else
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\t%s\n", s->pod_ip, hostname);
	hosts_aliases(s, buf, sizeof(buf), &n);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	if (snprintf(path, size, "%s/pods/%s", s->k->o.root_dir, s->uid) >= (int)size ||
	    mkdir_p(path, 0750) < 0 ||
	    snprintf(path, size, "%s/pods/%s/etc-hosts", s->k->o.root_dir, s->uid) >= (int)size)
		return -ENAMETOOLONG;
	return write_file(path, buf, n, 0644);
}

/* ---- the mounts ---- */

/* Sets up every volume of the pod (and the service-account one): *out
 * maps each name to its host path. The service-account volume the
 * kubelet adds itself is best effort: without the ServiceAccount, its
 * token or kube-root-ca.crt (a cluster running without those controllers,
 * a node not allowed to read them) the pod runs, the folder filled on a
 * later sync, and a FailedMount event says why. */
static int volumes_ensure(struct kl_sync *s, json_t **out, char *err, size_t errlen)
{
	json_t *spec_vols = json_path_get(s->pod, "spec.volumes");
	json_t *vols = spec_vols ? json_copy(spec_vols) : json_array();
	json_t *vol, *paths = json_object();
	size_t i, n_spec = json_array_size(vols);
	int r = 0;

	if (sa_automount(s))
		json_array_append_new(vols, sa_volume());
	json_array_foreach(vols, i, vol) {
		char dir[PATH_SIZE];

		r = volume_setup(s, vol, dir, sizeof(dir), err, errlen);
		if (r < 0)
			kl_event(s, "Warning", "FailedMount",
				 "MountVolume.SetUp failed for volume \"%s\" : %s",
				 json_path_str(vol, "name") ?: "", err);
		if (r < 0 && i >= n_spec && volume_dir(s, "projected", SA_VOLUME, dir, sizeof(dir)) == 0) {
			log_warn("kubelet: pod %s: service-account volume: %s", s->key, err);
			*err = '\0';
			r = 0;
		}
		if (r < 0)
			break;
		json_object_set_new(paths, json_path_str(vol, "name"), json_string(dir));
	}
	json_decref(vols);
	if (r < 0) {
		json_decref(paths);
		return r;
	}
	*out = paths;
	return 0;
}

static int one_mount(json_t *paths, json_t *vm, json_t *mounts, char *err, size_t errlen)
{
	const char *name = json_path_str(vm, "name"), *cpath = json_path_str(vm, "mountPath");
	const char *sub = json_path_str(vm, "subPath"), *host = json_path_str(paths, name);
	char hp[TMP_SIZE];

	if (!name || !cpath || !*cpath)
		return set_err(err, errlen, -EINVAL, "volumeMount without name or mountPath");
	if (!host)
		return set_err(err, errlen, -ENOENT, "volumeMount %s: no volume of that name", name);
	strscpy(hp, host, sizeof(hp));
	if (sub && *sub) {
		struct stat st;

		if (!path_ok(sub))
			return set_err(err, errlen, -EINVAL, "volumeMount %s: subPath \"%s\" is not a "
				       "relative path inside the volume", name, sub);
		snprintf(hp, sizeof(hp), "%s/%s", host, sub);
		if (lstat(hp, &st) < 0 && mkdir_p(hp, 0777) < 0)
			return set_err(err, errlen, -errno, "volumeMount %s: subPath %s: %s", name, sub,
				       strerror(errno));
	}
	json_array_append_new(mounts, json_pack("{ss ss sb}", "container_path", cpath, "host_path",
						hp, "readonly",
						json_is_true(json_object_get(vm, "readOnly"))));
	return 0;
}

static bool mounts_at(json_t *mounts, const char *cpath)
{
	json_t *m;
	size_t i;

	json_array_foreach(mounts, i, m)
		if (streq(json_path_str(m, "container_path"), cpath))
			return true;
	return false;
}

int kl_volume_mounts(struct kl_sync *s, json_t *spec, json_t *mounts, char *err, size_t errlen)
{
	json_t *paths = NULL, *vm;
	char hosts[PATH_SIZE];
	size_t i;
	int r = 0;

	/* a pod's volumes never change: the paths of this sync's
	 * kl_volumes_sync serve, else (it failed) the error is found again */
	paths = json_incref(json_object_get(s->mem, "volume_paths"));
	if (!paths)
		r = volumes_ensure(s, &paths, err, errlen);
	json_array_foreach(json_object_get(spec, "volumeMounts"), i, vm) {
		if (r < 0)
			break;
		r = one_mount(paths, vm, mounts, err, errlen);
	}
	if (r == 0 && sa_automount(s) && !mounts_at(mounts, SA_MOUNT))
		json_array_append_new(mounts, json_pack("{ss ss sb}", "container_path", SA_MOUNT,
							"host_path", json_path_str(paths, SA_VOLUME),
							"readonly", 1));
	if (r == 0 && !mounts_at(mounts, "/etc/hosts") && etc_hosts(s, hosts, sizeof(hosts)) == 0)
		json_array_append_new(mounts, json_pack("{ss ss}", "container_path", "/etc/hosts",
							"host_path", hosts));
	json_decref(paths);
	return r;
}

void kl_volumes_sync(struct kl_sync *s)
{
	char err[512] = "";
	json_t *paths = NULL;

	if (volumes_ensure(s, &paths, err, sizeof(err)) < 0) {
		log_warn("kubelet: pod %s: volumes: %s", s->key, err);
		json_object_del(s->mem, "volume_paths");
		return;
	}
	json_object_set_new(s->mem, "volume_paths", paths);
}

/* The tmpfs volumes of a pod (emptyDir of medium Memory, secret,
 * projected), unmounted before its folder goes. */
void kl_volumes_teardown(struct kubelet *k, const char *uid)
{
	static const char *const kinds[] = { "empty-dir", "secret", "projected" };
	char dir[PATH_SIZE], p[TMP_SIZE];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		snprintf(dir, sizeof(dir), "%s/pods/%s/volumes/kubernetes.io~%s", k->o.root_dir, uid,
			 kinds[i]);
		d = opendir(dir);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (mounted_here(p) && umount2(p, MNT_DETACH) < 0)
				log_warn("kubelet: pod uid %s: unmounting %s: %s", uid, p, strerror(errno));
		}
		if (d)
			closedir(d);
	}
}
