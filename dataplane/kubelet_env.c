/* A container's environment, as upstream's kubelet makes it: envFrom
 * (configMapRef, secretRef, with prefix and optional) then env (value with
 * $(VAR) expansion, fieldRef, resourceFieldRef, configMapKeyRef and
 * secretKeyRef with optional), a later name replacing an earlier one; and
 * $(VAR) expansion of command and args with the result. Also the
 * downward API's values (fieldRef, resourceFieldRef) and the reads of
 * ConfigMaps and Secrets the volumes share. */
#include "dataplane/kubelet_int.h"

#include "lib/kube_quantity.h"
#include "lib/base64.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- ConfigMaps and Secrets ---- */

int kl_object_get(struct kl_sync *s, const char *resource, const char *name, json_t **out,
		  char *err, size_t errlen)
{
	int r = kc_get(s->w->kc, kc_resource_find(resource), s->ns, name, out);

	if (r < 0)
		return set_err(err, errlen, r, "%s", kc_last_status(s->w->kc)->message ?: strerror(-r));
	return 0;
}

int kl_object_value(json_t *obj, bool secret, const char *key, char **out, size_t *len)
{
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));

	if (v && !secret) {
		*len = strlen(v);
		*out = strdup(v);
		return *out ? 0 : -ENOMEM;
	}
	if (!v && !secret)
		v = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key));
	return v ? b64_decode(v, strlen(v), B64_STD, out, len) : -ENOENT;
}

json_t *kl_object_keys(json_t *obj, bool secret)
{
	json_t *keys = json_array(), *v;
	const char *key;

	json_object_foreach(json_object_get(obj, "data"), key, v)
		json_array_append_new(keys, json_string(key));
	if (!secret)
		json_object_foreach(json_object_get(obj, "binaryData"), key, v)
			json_array_append_new(keys, json_string(key));
	return keys;
}

/* ---- the downward API ---- */

/* metadata.labels['k'] and metadata.annotations['k']. */
static const char *field_map(json_t *pod, const char *path)
{
	static const char *const maps[] = { "metadata.labels", "metadata.annotations" };
	char key[256];

	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		size_t n = strlen(maps[i]), len;

		if (strncmp(path, maps[i], n) || strncmp(path + n, "['", 2))
			continue;
		len = strlen(path + n + 2);
		if (len < 2 || strcmp(path + n + 2 + len - 2, "']") || len - 2 >= sizeof(key))
			return NULL;
		snprintf(key, sizeof(key), "%.*s", (int)(len - 2), path + n + 2);
		return json_string_value(json_object_get(json_path_get(pod, maps[i]), key)) ?: "";
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* metadata.labels / annotations whole: k="v" lines, sorted (a volume file). */
static int field_map_all(json_t *pod, const char *path, char *buf, size_t size)
{
	json_t *m = json_path_get(pod, path), *v;
	const char **keys;
	size_t n = 0, off = 0;
	const char *key;

	keys = calloc(json_object_size(m) + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	json_object_foreach(m, key, v)
		keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s=\"%s\"", i ? "\n" : "", keys[i],
				json_string_value(json_object_get(m, keys[i])) ?: "");
	free(keys);
	return off < size ? 0 : -ENAMETOOLONG;
}

static void pod_ips(struct kl_sync *s, char *buf, size_t size)
{
	json_t *ip;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(s->pod_ips, i, ip)
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "",
					json_path_str(ip, "ip") ?: "");
}

int kl_field_ref(struct kl_sync *s, json_t *ref, bool volume, char *buf, size_t size, char *err,
		 size_t errlen)
{
	const char *path = json_path_str(ref, "fieldPath"), *v = NULL;

	if (!path)
		return set_err(err, errlen, -EINVAL, "fieldRef without fieldPath");
	if (volume && (streq(path, "metadata.labels") || streq(path, "metadata.annotations")))
		return field_map_all(s->pod, path, buf, size);
	if (streq(path, "status.podIPs")) {
		pod_ips(s, buf, size);
		return 0;
	}
	if (streq(path, "metadata.name"))
		v = s->name;
	else if (streq(path, "metadata.namespace"))
		v = s->ns;
	else if (streq(path, "metadata.uid"))
		v = s->uid;
	else if (streq(path, "spec.nodeName"))
		v = s->k->o.node_name;
	else if (streq(path, "spec.serviceAccountName"))
		v = json_path_str(s->pod, "spec.serviceAccountName") ?: "default";
	else if (streq(path, "status.podIP"))
		v = s->pod_ip;
	else if (streq(path, "status.hostIP") || streq(path, "status.hostIPs"))
		v = s->k->o.host_ip ?: "";
	else if (!(v = field_map(s->pod, path)))
		return set_err(err, errlen, -EINVAL, "unsupported fieldRef fieldPath \"%s\"", path);
	strscpy(buf, v, size);
	return 0;
}

/* The node's capacity: what a resource without a limit is limited to. */
static int64_t node_capacity(bool cpu)
{
	long v = sysconf(cpu ? _SC_NPROCESSORS_ONLN : _SC_PHYS_PAGES);

	return cpu ? (int64_t)v * 1000 : (int64_t)v * sysconf(_SC_PAGESIZE);
}

static json_t *container_named(json_t *pod, const char *name)
{
	static const char *const lists[] = { "spec.containers", "spec.initContainers" };
	json_t *c;
	size_t j;

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		json_array_foreach(json_path_get(pod, lists[i]), j, c)
			if (streq(json_path_str(c, "name"), name))
				return c;
	return NULL;
}

/* limits.cpu, requests.memory, ...: ceil(value / divisor), cpu in
 * millicores; a missing limit is the node's capacity. */
int kl_resource_ref(struct kl_sync *s, json_t *spec, json_t *ref, char *buf, size_t size,
		    char *err, size_t errlen)
{
	const char *res = json_path_str(ref, "resource"), *cn = json_path_str(ref, "containerName");
	json_t *c = cn && *cn ? container_named(s->pod, cn) : spec, *div = json_object_get(ref, "divisor");
	const char *dot = res ? strchr(res, '.') : NULL;
	char group[64];
	int64_t v = 0, d = 1;
	bool cpu, limit;
	json_t *q;

	if (!dot || !c)
		return set_err(err, errlen, -EINVAL, "resourceFieldRef: bad resource \"%s\"%s",
			       res ?: "", c ? "" : " (no such container)");
	cpu = streq(dot + 1, "cpu");
	limit = !strncmp(res, "limits", (size_t)(dot - res));
	if ((!cpu && !streq(dot + 1, "memory") && !streq(dot + 1, "ephemeral-storage")) ||
	    (!limit && strncmp(res, "requests", (size_t)(dot - res))))
		return set_err(err, errlen, -EINVAL, "resourceFieldRef: unsupported resource \"%s\"", res);
	snprintf(group, sizeof(group), "resources.%.*s", (int)(dot - res), res);
	q = json_object_get(json_path_get(c, group), dot + 1);
	if (!q && !limit) /* requests default to limits */
		q = json_object_get(json_path_get(c, "resources.limits"), dot + 1);
	if (q && (cpu ? kube_quantity_json_milli(q, &v) : kube_quantity_json_value(q, &v)) < 0)
		return set_err(err, errlen, -EINVAL, "resourceFieldRef %s: not a quantity", res);
	if (!q && limit)
		v = node_capacity(cpu);
	if (cpu)
		d = 1000;
	if (div && (cpu ? kube_quantity_json_milli(div, &d) : kube_quantity_json_value(div, &d)) < 0)
		return set_err(err, errlen, -EINVAL, "resourceFieldRef %s: bad divisor", res);
	if (d <= 0)
		return set_err(err, errlen, -EINVAL, "resourceFieldRef %s: divisor must be positive", res);
	if (cpu && !q && !limit)
		v = 0;
	snprintf(buf, size, "%lld", (long long)((v + d - 1) / d));
	return 0;
}

/* ---- env ---- */

/* Sets name=value in envs (a later one replaces an earlier one). */
static void env_set(json_t *envs, const char *name, const char *value)
{
	json_t *e;
	size_t i;

	json_array_foreach(envs, i, e)
		if (streq(json_path_str(e, "key"), name)) {
			json_object_set_new(e, "value", json_string(value));
			return;
		}
	json_array_append_new(envs, json_pack("{ss ss}", "key", name, "value", value));
}

static const char *env_get(json_t *envs, const char *name, size_t len)
{
	json_t *e;
	size_t i;

	json_array_foreach(envs, i, e) {
		const char *k = json_path_str(e, "key");

		if (strlen(k) == len && !strncmp(k, name, len))
			return json_path_str(e, "value");
	}
	return NULL;
}

/* Appends n bytes of add to the growing string *out. */
static int append(char **out, size_t *len, size_t *cap, const char *add, size_t n)
{
	if (*len + n + 1 > *cap) {
		char *o = realloc(*out, *cap = (*len + n + 1) * 2);

		if (!o)
			return -ENOMEM;
		*out = o;
	}
	memcpy(*out + *len, add, n);
	*len += n;
	(*out)[*len] = '\0';
	return 0;
}

char *kl_expand(const char *in, json_t *envs)
{
	size_t cap = strlen(in) + 1, len = 0;
	char *out = malloc(cap);
	const char *p = in;

	if (out)
		out[0] = '\0';
	while (out && *p) {
		const char *add = p, *end = NULL;
		size_t n = 1;

		if (p[0] == '$' && p[1] == '$') {
			p += 2; /* $$: a literal $ */
		} else if (p[0] == '$' && p[1] == '(' && (end = strchr(p + 2, ')'))) {
			const char *v = env_get(envs, p + 2, (size_t)(end - p - 2));

			n = v ? strlen(v) : (size_t)(end - p + 1); /* unknown: kept as written */
			add = v ? v : p;
			p = end + 1;
		} else {
			p++;
		}
		if (append(&out, &len, &cap, add, n) < 0) {
			free(out);
			return NULL;
		}
	}
	return out;
}

static bool env_name_ok(const char *n)
{
	if (!*n || isdigit((unsigned char)*n))
		return false;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' && *n != '.')
			return false;
	return true;
}

/* envFrom: every key of a ConfigMap or Secret, with prefix. */
static int env_from(struct kl_sync *s, json_t *src, json_t *envs, char *err, size_t errlen)
{
	json_t *ref = json_object_get(src, "configMapRef"), *obj = NULL, *keys, *k;
	bool secret = !ref;
	const char *prefix = json_path_str(src, "prefix") ?: "", *name;
	size_t i;
	int r;

	if (!ref)
		ref = json_object_get(src, "secretRef");
	name = json_path_str(ref, "name");
	if (!name)
		return set_err(err, errlen, -EINVAL, "envFrom without configMapRef or secretRef name");
	r = kl_object_get(s, secret ? "secrets" : "configmaps", name, &obj, err, errlen);
	if (r == -ENOENT && json_is_true(json_object_get(ref, "optional"))) {
		*err = '\0';
		return 0;
	}
	if (r < 0)
		return r;
	keys = kl_object_keys(obj, secret);
	json_array_foreach(keys, i, k) {
		char full[512], *v = NULL;
		size_t len;

		snprintf(full, sizeof(full), "%s%s", prefix, json_string_value(k));
		if (!env_name_ok(full)) {
			kl_event(s, "Warning", "InvalidEnvironmentVariableNames",
				 "Keys [%s] from the EnvFrom %s %s/%s were skipped since they are "
				 "considered invalid environment variable names.", json_string_value(k),
				 secret ? "secret" : "configMap", s->ns, name);
			continue;
		}
		if (kl_object_value(obj, secret, json_string_value(k), &v, &len) == 0)
			env_set(envs, full, v);
		free(v);
	}
	json_decref(keys);
	json_decref(obj);
	return 0;
}

/* configMapKeyRef, secretKeyRef: 1 when set, 0 when an optional one is
 * missing. */
static int key_ref(struct kl_sync *s, json_t *ref, bool secret, const char *env, json_t *envs,
		   char *err, size_t errlen)
{
	const char *name = json_path_str(ref, "name"), *key = json_path_str(ref, "key");
	bool optional = json_is_true(json_object_get(ref, "optional"));
	json_t *obj = NULL;
	char *v = NULL;
	size_t len;
	int r;

	if (!name || !key)
		return set_err(err, errlen, -EINVAL, "env %s: %s needs name and key", env,
			       secret ? "secretKeyRef" : "configMapKeyRef");
	r = kl_object_get(s, secret ? "secrets" : "configmaps", name, &obj, err, errlen);
	if (r == -ENOENT && optional) {
		*err = '\0';
		return 0;
	}
	if (r < 0)
		return r;
	r = kl_object_value(obj, secret, key, &v, &len);
	json_decref(obj);
	if (r == -ENOENT && optional)
		return 0;
	if (r == -ENOENT)
		return set_err(err, errlen, r, "couldn't find key %s in %s %s/%s", key,
			       secret ? "Secret" : "ConfigMap", s->ns, name);
	if (r < 0)
		return set_err(err, errlen, r, "%s %s/%s key %s: %s", secret ? "Secret" : "ConfigMap",
			       s->ns, name, key, strerror(-r));
	env_set(envs, env, v);
	free(v);
	return 1;
}

static int env_one(struct kl_sync *s, json_t *spec, json_t *e, json_t *envs, char *err,
		   size_t errlen)
{
	const char *name = json_path_str(e, "name"), *v = json_path_str(e, "value");
	json_t *from = json_object_get(e, "valueFrom");
	char buf[4096];
	int r;

	if (!from) {
		char *x = kl_expand(v ?: "", envs);

		if (!x)
			return -ENOMEM;
		env_set(envs, name, x);
		free(x);
		return 0;
	}
	if (json_object_get(from, "configMapKeyRef"))
		return key_ref(s, json_object_get(from, "configMapKeyRef"), false, name, envs, err, errlen);
	if (json_object_get(from, "secretKeyRef"))
		return key_ref(s, json_object_get(from, "secretKeyRef"), true, name, envs, err, errlen);
	if (json_object_get(from, "fieldRef"))
		r = kl_field_ref(s, json_object_get(from, "fieldRef"), false, buf, sizeof(buf), err,
				 errlen);
	else if (json_object_get(from, "resourceFieldRef"))
		r = kl_resource_ref(s, spec, json_object_get(from, "resourceFieldRef"), buf,
				    sizeof(buf), err, errlen);
	else
		r = set_err(err, errlen, -EINVAL, "env %s: unsupported valueFrom", name);
	if (r == 0)
		env_set(envs, name, buf);
	return r;
}

int kl_container_env(struct kl_sync *s, json_t *spec, json_t *envs, char *err, size_t errlen)
{
	json_t *e;
	size_t i;
	int r;

	json_array_foreach(json_object_get(spec, "envFrom"), i, e) {
		r = env_from(s, e, envs, err, errlen);
		if (r < 0)
			return r;
	}
	json_array_foreach(json_object_get(spec, "env"), i, e) {
		const char *name = json_path_str(e, "name");

		if (!name || !*name)
			return set_err(err, errlen, -EINVAL, "env[%zu] has no name", i);
		r = env_one(s, spec, e, envs, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

json_t *kl_expand_all(json_t *strings, json_t *envs)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(strings, i, v) {
		char *x = kl_expand(json_string_value(v) ?: "", envs);

		if (!x) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, json_string(x));
		free(x);
	}
	return out;
}
