/* Kubeconfig loading: see kube_config.h. */
#include "lib/kube_config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/base64.h"
#include "lib/util.h"
#include "lib/yamljson.h"

#define KC_FILE_MAX (16u << 20)

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int read_file(const char *dir, const char *path, struct kc_blob *out)
{
	_cleanup_free_ char *full = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (path[0] != '/' && dir && asprintf(&full, "%s/%s", dir, path) < 0)
		return -ENOMEM;
	fd = open(full ? full : path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_all(fd, KC_FILE_MAX, &out->data, &out->len);
	return r < 0 ? r : 0;
}

/* The element of a named list ("clusters", "users", "contexts") called
 * name, and its inner object under key. */
static json_t *named_entry(json_t *doc, const char *list, const char *name, const char *key)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(doc, list), i, e) {
		if (streq(json_string_value(json_object_get(e, "name")), name))
			return json_object_get(e, key);
	}
	return NULL;
}

static int str_field(json_t *o, const char *key, char **out)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s || !*s)
		return 0;
	*out = strdup(s);
	return *out ? 1 : -ENOMEM;
}

/* One credential: the inline *-data (base64) wins over the file. */
static int blob_field(json_t *o, const char *dir, const char *file_key, const char *data_key,
		      struct kc_blob *out, char *err, size_t errlen)
{
	const char *data = json_string_value(json_object_get(o, data_key));
	const char *file = json_string_value(json_object_get(o, file_key));
	int r;

	if (data && *data) {
		r = b64_decode(data, strlen(data), B64_ANY, &out->data, &out->len);
		return r < 0 ? fail(err, errlen, r, "%s: not base64", data_key) : 0;
	}
	if (file && *file) {
		r = read_file(dir, file, out);
		return r < 0 ? fail(err, errlen, r, "%s %s: %s", file_key, file, strerror(-r)) : 0;
	}
	return 0;
}

static int load_user(struct kc_config *c, json_t *user, const char *dir, char *err,
		     size_t errlen)
{
	const char *tf = json_string_value(json_object_get(user, "tokenFile"));
	struct kc_blob tok = { 0 };
	int r;

	if (json_object_get(user, "exec") || json_object_get(user, "auth-provider"))
		return fail(err, errlen, -EOPNOTSUPP,
			    "user of context \"%s\": exec and auth-provider plugins are not supported",
			    c->context);
	r = blob_field(user, dir, "client-certificate", "client-certificate-data", &c->cert, err,
		       errlen);
	if (r >= 0)
		r = blob_field(user, dir, "client-key", "client-key-data", &c->key, err, errlen);
	if (r < 0)
		return r;
	if (!!c->cert.data != !!c->key.data)
		return fail(err, errlen, -EINVAL, "user of context \"%s\": a client certificate needs its key",
			    c->context);
	if (str_field(user, "token", &c->token) < 0 || str_field(user, "username", &c->username) < 0 ||
	    str_field(user, "password", &c->password) < 0)
		return -ENOMEM;
	if (!c->token && tf && *tf) {
		r = read_file(dir, tf, &tok);
		if (r < 0)
			return fail(err, errlen, r, "tokenFile %s: %s", tf, strerror(-r));
		while (tok.len && (tok.data[tok.len - 1] == '\n' || tok.data[tok.len - 1] == '\r'))
			tok.data[--tok.len] = '\0';
		c->token = tok.data;
	}
	return 0;
}

static int load_cluster(struct kc_config *c, json_t *cl, const char *dir, char *err,
			size_t errlen)
{
	json_t *skip = json_object_get(cl, "insecure-skip-tls-verify");
	int r;

	if (str_field(cl, "server", &c->server) < 0 ||
	    str_field(cl, "tls-server-name", &c->tls_server_name) < 0)
		return -ENOMEM;
	if (!c->server)
		return fail(err, errlen, -EINVAL, "cluster of context \"%s\" has no server", c->context);
	c->insecure = json_is_true(skip) || streq(json_string_value(skip), "true");
	r = blob_field(cl, dir, "certificate-authority", "certificate-authority-data", &c->ca, err,
		       errlen);
	return r;
}

static int config_from_doc(json_t *doc, const char *dir, const char *context,
			   struct kc_config *c, char *err, size_t errlen)
{
	const char *ctx_name = context ? context :
				  json_string_value(json_object_get(doc, "current-context"));
	json_t *ctx, *cl, *user;
	const char *cl_name, *user_name;
	int r;

	if (!ctx_name || !*ctx_name)
		return fail(err, errlen, -EINVAL, "no context given and no current-context");
	c->context = strdup(ctx_name);
	if (!c->context)
		return -ENOMEM;
	ctx = named_entry(doc, "contexts", ctx_name, "context");
	if (!json_is_object(ctx))
		return fail(err, errlen, -EINVAL, "context \"%s\" not found", ctx_name);
	cl_name = json_string_value(json_object_get(ctx, "cluster"));
	user_name = json_string_value(json_object_get(ctx, "user"));
	cl = cl_name ? named_entry(doc, "clusters", cl_name, "cluster") : NULL;
	if (!json_is_object(cl))
		return fail(err, errlen, -EINVAL, "cluster \"%s\" of context \"%s\" not found",
			    cl_name ? cl_name : "", ctx_name);
	if (str_field(ctx, "namespace", &c->namespace) < 0)
		return -ENOMEM;
	if (!c->namespace && !(c->namespace = strdup("default")))
		return -ENOMEM;
	r = load_cluster(c, cl, dir, err, errlen);
	if (r < 0)
		return r;
	if (!user_name || !*user_name)
		return 0; /* anonymous */
	user = named_entry(doc, "users", user_name, "user");
	if (!json_is_object(user))
		return fail(err, errlen, -EINVAL, "user \"%s\" of context \"%s\" not found", user_name,
			    ctx_name);
	return load_user(c, user, dir, err, errlen);
}

int kc_config_parse(const char *buf, size_t len, const char *dir, const char *context,
		    struct kc_config **out, char *err, size_t errlen)
{
	struct yamljson_error yerr;
	json_t *docs = NULL, *doc;
	struct kc_config *c;
	int r;

	r = yamljson_parse(buf, len, &docs, &yerr);
	if (r < 0)
		return fail(err, errlen, r, "%d:%d: %s", yerr.line, yerr.column, yerr.msg);
	doc = json_array_get(docs, 0);
	if (!json_is_object(doc)) {
		json_decref(docs);
		return fail(err, errlen, -EINVAL, "not a kubeconfig (no mapping)");
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(docs);
		return -ENOMEM;
	}
	r = config_from_doc(doc, dir, context, c, err, errlen);
	json_decref(docs);
	if (r < 0) {
		kc_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* The file to read: path, else the first existing $KUBECONFIG entry,
 * else ~/.kube/config. */
static int pick_path(const char *path, char **out)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");

	if (path)
		return (*out = strdup(path)) ? 0 : -ENOMEM;
	if (env && *env) {
		_cleanup_free_ char *list = strdup(env);
		char *save = NULL, *p;

		if (!list)
			return -ENOMEM;
		for (p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
			if (access(p, R_OK) == 0)
				return (*out = strdup(p)) ? 0 : -ENOMEM;
		}
		return -ENOENT;
	}
	if (!home)
		return -ENOENT;
	return asprintf(out, "%s/.kube/config", home) < 0 ? -ENOMEM : 0;
}

int kc_config_load(const char *path, const char *context, struct kc_config **out,
		   char *err, size_t errlen)
{
	_cleanup_free_ char *file = NULL, *dir = NULL;
	struct kc_blob data = { 0 };
	char *slash;
	int r;

	r = pick_path(path, &file);
	if (r < 0)
		return fail(err, errlen, r, "no kubeconfig (path, $KUBECONFIG or ~/.kube/config)");
	r = read_file(NULL, file, &data);
	if (r < 0)
		return fail(err, errlen, r, "%s: %s", file, strerror(-r));
	dir = strdup(file);
	if (!dir) {
		free(data.data);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	r = kc_config_parse(data.data, data.len, slash ? dir : NULL, context, out, err, errlen);
	free(data.data);
	return r;
}

void kc_config_free(struct kc_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->context);
	free(cfg->server);
	free(cfg->namespace);
	free(cfg->tls_server_name);
	free(cfg->ca.data);
	free(cfg->cert.data);
	free(cfg->key.data);
	free(cfg->token);
	free(cfg->username);
	free(cfg->password);
	free(cfg);
}
