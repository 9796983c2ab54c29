/* `skiff up --update-kubeconfig`: the cluster's admin kubeconfig merged
 * into the user's (the first file of $KUBECONFIG, else ~/.kube/config) as
 * a cluster, a user and a context named --name ("skiff"), made current,
 * as kind and k3d do; every other entry is kept. The file merged into is
 * recorded in DIR/kubeconfig.merged, and `skiff down` removes the three
 * entries again (and the current context when it is ours). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/skiff.h"
#include "lib/util.h"
#include "lib/yamljson.h"

/* The user's kubeconfig: $KUBECONFIG's first file, else ~/.kube/config. */
static int user_kubeconfig(char *buf, size_t size)
{
	const char *kc = getenv("KUBECONFIG"), *home = getenv("HOME");
	struct passwd *pw;

	if (kc && *kc) {
		size_t n = strcspn(kc, ":");
		if (n >= size)
			return -ENAMETOOLONG;
		memcpy(buf, kc, n);
		buf[n] = 0;
		return 0;
	}
	if (!home || !*home) {
		pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return -ENOENT;
	return snprintf(buf, size, "%s/.kube/config", home) >= (int)size ? -ENAMETOOLONG : 0;
}

/* The first document of the YAML file at path; a missing or empty file
 * gives NULL and 0. */
static int yaml_load(const char *path, json_t **out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct yamljson_error e;
	json_t *docs = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = read_all(fd, 16 << 20, &buf, &len);
	if (r < 0)
		return r;
	r = yamljson_parse(buf, len, &docs, &e);
	if (r < 0)
		return r;
	*out = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	if (*out && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Writes doc to path through a temporary file (mode 0600, as kubectl). */
static int yaml_store(const char *path, json_t *doc)
{
	char tmp[4200];
	_cleanup_free_ char *yaml = NULL;
	size_t len = 0;
	int fd, r = yamljson_emit(doc, &yaml, &len);

	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s.skiff-tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, yaml, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The entry of list (clusters, users or contexts) named name, removed;
 * entry (stolen, may be NULL) appended in its place. */
static void entry_set(json_t *cfg, const char *list, const char *name, json_t *entry)
{
	json_t *a = json_object_get(cfg, list), *e;
	size_t i;

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(cfg, list, a);
	}
	json_array_foreach(a, i, e)
		if (streq(json_string_value(json_object_get(e, "name")), name)) {
			json_array_remove(a, i);
			break;
		}
	if (entry)
		json_array_append_new(a, entry);
}

/* The value ("cluster", "user") of the entry of list that the current
 * context of cfg names in field. */
static json_t *current_of(json_t *cfg, const char *list, const char *field)
{
	const char *ctx = json_string_value(json_object_get(cfg, "current-context")), *want;
	json_t *e, *c = NULL;
	size_t i;

	json_array_foreach(json_object_get(cfg, "contexts"), i, e)
		if (streq(json_string_value(json_object_get(e, "name")), ctx))
			c = json_object_get(e, "context");
	want = json_string_value(json_object_get(c, field));
	json_array_foreach(json_object_get(cfg, list), i, e)
		if (!want || streq(json_string_value(json_object_get(e, "name")), want))
			return json_object_get(e, field);
	return NULL;
}

int skiff_kubeconfig_merge(const struct skiff *s, char *where, size_t size)
{
	char p[4096];
	json_t *ours = NULL, *cfg = NULL, *cluster, *user;
	int r;

	r = user_kubeconfig(where, size);
	if (r < 0)
		return r;
	skiff_path(s, p, sizeof(p), "server/kubeconfig");
	r = yaml_load(p, &ours);
	if (r == 0 && !ours)
		r = -ENOENT;
	if (r == 0)
		r = yaml_load(where, &cfg);
	cluster = current_of(ours, "clusters", "cluster");
	user = current_of(ours, "users", "user");
	if (r == 0 && (!cluster || !user))
		r = -EINVAL;
	if (r < 0)
		goto out;
	if (!cfg)
		cfg = json_pack("{s:s, s:s, s:{}}", "apiVersion", "v1", "kind", "Config", "preferences");
	entry_set(cfg, "clusters", s->name, json_pack("{s:s, s:O}", "name", s->name, "cluster", cluster));
	entry_set(cfg, "users", s->name, json_pack("{s:s, s:O}", "name", s->name, "user", user));
	entry_set(cfg, "contexts", s->name, json_pack("{s:s, s:{s:s, s:s}}", "name", s->name,
						     "context", "cluster", s->name, "user", s->name));
	json_object_set_new(cfg, "current-context", json_string(s->name));
	snprintf(p, sizeof(p), "%s", where);
	if (strrchr(p, '/')) {
		*strrchr(p, '/') = 0;
		mkdir(p, 0700);
	}
	r = yaml_store(where, cfg);
	if (r == 0) {
		_cleanup_fclose_ FILE *f = NULL;
		skiff_path(s, p, sizeof(p), "kubeconfig.merged");
		f = fopen(p, "we");
		r = f && fprintf(f, "%s\n", where) > 0 ? 0 : -EIO;
	}
out:
	json_decref(ours);
	json_decref(cfg);
	return r;
}

int skiff_kubeconfig_unmerge(const struct skiff *s)
{
	char mark[4096], where[4096] = "";
	json_t *cfg = NULL;
	FILE *f;
	int r;

	skiff_path(s, mark, sizeof(mark), "kubeconfig.merged");
	f = fopen(mark, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(where, sizeof(where), f))
		where[0] = 0;
	fclose(f);
	where[strcspn(where, "\n")] = 0;
	r = where[0] ? yaml_load(where, &cfg) : 0;
	if (r < 0 || !cfg)
		goto out;
	entry_set(cfg, "clusters", s->name, NULL);
	entry_set(cfg, "users", s->name, NULL);
	entry_set(cfg, "contexts", s->name, NULL);
	if (streq(json_string_value(json_object_get(cfg, "current-context")), s->name))
		json_object_set_new(cfg, "current-context", json_string(""));
	r = yaml_store(where, cfg);
out:
	json_decref(cfg);
	if (r == 0)
		unlink(mark);
	return r;
}
