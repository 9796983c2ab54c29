/* JSON <-> CRI messages; see cri_json.h. Messages built here own every
 * string and sub-message through malloc, so protobuf-c's
 * free_unpacked (cri_msg_free) releases them. */
#include "dataplane/cri/cri_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct jctx {
	char *err;
	size_t err_size;
	int r;
};

__attribute__((format(printf, 2, 3)))
static int jfail(struct jctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->r == 0) {
		va_start(ap, fmt);
		vsnprintf(x->err, x->err_size, fmt, ap);
		va_end(ap);
		/* top-level fields are formatted as "" "." key */
		if (x->err[0] == '.')
			memmove(x->err, x->err + 1, strlen(x->err));
		x->r = -EINVAL;
	}
	return x->r;
}

/* Rejects keys of obj not in allowed (NULL-terminated). */
static int check_keys(struct jctx *x, const json_t *obj, const char *where, const char *const *allowed)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return jfail(x, "%s: must be an object", where);
	json_object_foreach((json_t *)obj, key, v) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (streq(*a, key))
				break;
		if (!*a)
			return jfail(x, "%s%s%s: unknown field", where, *where ? "." : "", key);
	}
	return 0;
}

/* Checks that v (the field key of where) is an array and allocates a
 * NULL-terminated vector of elem-sized entries for it; NULL on failure. */
static void *new_vec(struct jctx *x, const json_t *v, size_t elem, const char *where, const char *key,
		     const char *of)
{
	void *vec;

	if (!json_is_array(v)) {
		jfail(x, "%s.%s: must be an array%s", where, key, of);
		return NULL;
	}
	vec = calloc(json_array_size(v) + 1, elem);
	if (!vec)
		x->r = -ENOMEM;
	return vec;
}

static char *xstrdup(struct jctx *x, const char *s)
{
	char *d = strdup(s);

	if (!d && !x->r) {
		x->r = -ENOMEM;
		snprintf(x->err, x->err_size, "out of memory");
	}
	return d;
}

/* Optional string field: leaves *dst (the empty default) when absent. */
static void get_str(struct jctx *x, const json_t *obj, const char *where, const char *key, char **dst,
		    bool required)
{
	json_t *v = json_object_get(obj, key);
	char *s;

	if (x->r)
		return;
	if (!v) {
		if (required)
			jfail(x, "%s.%s: required", where, key);
		return;
	}
	if (!json_is_string(v)) {
		jfail(x, "%s.%s: must be a string", where, key);
		return;
	}
	if (required && !*json_string_value(v)) {
		jfail(x, "%s.%s: must not be empty", where, key);
		return;
	}
	s = xstrdup(x, json_string_value(v));
	if (s)
		*dst = s;
}

static long long get_int(struct jctx *x, const json_t *obj, const char *where, const char *key,
			 long long min, long long max)
{
	json_t *v = json_object_get(obj, key);
	long long n;

	if (x->r || !v)
		return 0;
	if (!json_is_integer(v)) {
		jfail(x, "%s.%s: must be an integer", where, key);
		return 0;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		jfail(x, "%s.%s: %lld is out of range [%lld, %lld]", where, key, n, min, max);
		return 0;
	}
	return n;
}

static bool get_bool(struct jctx *x, const json_t *obj, const char *where, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (x->r || !v)
		return false;
	if (!json_is_boolean(v)) {
		jfail(x, "%s.%s: must be true or false", where, key);
		return false;
	}
	return json_is_true(v);
}

static void get_str_array(struct jctx *x, const json_t *obj, const char *where, const char *key,
			  size_t *n, char ***dst)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t i;

	if (x->r || !v)
		return;
	*dst = new_vec(x, v, sizeof(char *), where, key, " of strings");
	if (!*dst)
		return;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			jfail(x, "%s.%s[%zu]: must be a string", where, key, i);
			return;
		}
		(*dst)[*n] = xstrdup(x, json_string_value(e));
		if (!(*dst)[*n])
			return;
		(*n)++;
	}
}

/* A map<string,string> field: entries are messages with key and value. */
#define DEFINE_GET_MAP(fn, Entry, INIT)                                                      \
	static void fn(struct jctx *x, const json_t *obj, const char *where, const char *key,  \
		       size_t *n, Entry ***dst)                                                \
	{                                                                                      \
		json_t *v = json_object_get(obj, key), *e;                                     \
		const char *k;                                                                 \
                                                                                               \
		if (x->r || !v)                                                                \
			return;                                                                \
		if (!json_is_object(v)) {                                                      \
			jfail(x, "%s.%s: must be an object of strings", where, key);           \
			return;                                                                \
		}                                                                              \
		*dst = calloc(json_object_size(v) + 1, sizeof(Entry *));                       \
		if (!*dst) {                                                                   \
			x->r = -ENOMEM;                                                        \
			return;                                                                \
		}                                                                              \
		json_object_foreach(v, k, e) {                                                 \
			Entry *ent;                                                            \
                                                                                               \
			if (!json_is_string(e)) {                                              \
				jfail(x, "%s.%s.%s: must be a string", where, key, k);         \
				return;                                                        \
			}                                                                      \
			ent = malloc(sizeof(*ent));                                            \
			if (!ent) {                                                            \
				x->r = -ENOMEM;                                                \
				return;                                                        \
			}                                                                      \
			*ent = (Entry)INIT;                                                    \
			(*dst)[(*n)++] = ent;                                                  \
			ent->key = xstrdup(x, k);                                              \
			ent->value = xstrdup(x, json_string_value(e));                         \
			if (!ent->key || !ent->value)                                          \
				return;                                                        \
		}                                                                              \
	}

DEFINE_GET_MAP(get_pod_labels, Runtime__V1__PodSandboxConfig__LabelsEntry,
	       RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT)
DEFINE_GET_MAP(get_pod_annotations, Runtime__V1__PodSandboxConfig__AnnotationsEntry,
	       RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT)
DEFINE_GET_MAP(get_sysctls, Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry,
	       RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT)
DEFINE_GET_MAP(get_ctr_labels, Runtime__V1__ContainerConfig__LabelsEntry,
	       RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT)
DEFINE_GET_MAP(get_ctr_annotations, Runtime__V1__ContainerConfig__AnnotationsEntry,
	       RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT)

/* An enum given by name; returns the value or -1 after an error. */
static int get_enum(struct jctx *x, const json_t *obj, const char *where, const char *key,
		    const ProtobufCEnumDescriptor *desc)
{
	json_t *v = json_object_get(obj, key);
	const ProtobufCEnumValue *ev;

	if (x->r || !v)
		return 0;
	if (!json_is_string(v)) {
		jfail(x, "%s.%s: must be a string naming a %s", where, key, desc->short_name);
		return -1;
	}
	ev = protobuf_c_enum_descriptor_get_value_by_name(desc, json_string_value(v));
	if (!ev) {
		jfail(x, "%s.%s: \"%s\" is not a %s", where, key, json_string_value(v), desc->short_name);
		return -1;
	}
	return ev->value;
}

static void *new_msg(struct jctx *x, size_t size, const void *init)
{
	void *m = malloc(size);

	if (!m) {
		x->r = -ENOMEM;
		snprintf(x->err, x->err_size, "out of memory");
		return NULL;
	}
	memcpy(m, init, size);
	return m;
}
#define NEW(x, Type, INIT) ((Type *)new_msg(x, sizeof(Type), &(Type)INIT))

/* Element i of the array key, named in where[size], its fields checked
 * against allowed: a new message for it (msg_size bytes, copied from init). */
static void *new_elem(struct jctx *x, const json_t *e, const char *key, size_t i, char *where,
		      size_t size, const char *const *allowed, size_t msg_size, const void *init)
{
	snprintf(where, size, "%s[%zu]", key, i);
	if (check_keys(x, e, where, allowed))
		return NULL;
	return new_msg(x, msg_size, init);
}
#define NEW_ELEM(x, e, key, i, where, allowed, Type, INIT) \
	((Type *)new_elem(x, e, key, i, where, sizeof(where), allowed, sizeof(Type), &(Type)INIT))

static Runtime__V1__NamespaceOption *parse_ns_options(struct jctx *x, const json_t *j, const char *where)
{
	static const char *const keys[] = { "network", "pid", "ipc", "target_id", NULL };
	Runtime__V1__NamespaceOption *o;

	if (check_keys(x, j, where, keys))
		return NULL;
	o = NEW(x, Runtime__V1__NamespaceOption, RUNTIME__V1__NAMESPACE_OPTION__INIT);
	if (!o)
		return NULL;
	o->network = get_enum(x, j, where, "network", &runtime__v1__namespace_mode__descriptor);
	o->pid = get_enum(x, j, where, "pid", &runtime__v1__namespace_mode__descriptor);
	o->ipc = get_enum(x, j, where, "ipc", &runtime__v1__namespace_mode__descriptor);
	get_str(x, j, where, "target_id", &o->target_id, false);
	return o;
}

static Runtime__V1__Int64Value *get_int64_value(struct jctx *x, const json_t *j, const char *where,
						const char *key)
{
	Runtime__V1__Int64Value *v;

	if (x->r || !json_object_get(j, key))
		return NULL;
	v = NEW(x, Runtime__V1__Int64Value, RUNTIME__V1__INT64_VALUE__INIT);
	if (v)
		v->value = get_int(x, j, where, key, 0, INT32_MAX);
	return v;
}

static void parse_pod_linux(struct jctx *x, const json_t *j, Runtime__V1__PodSandboxConfig *cfg)
{
	static const char *const keys[] = { "cgroup_parent", "security_context", "sysctls", NULL };
	static const char *const sc_keys[] = { "namespace_options", "run_as_user", "run_as_group",
					       "readonly_rootfs", "supplemental_groups", "privileged",
					       NULL };
	Runtime__V1__LinuxPodSandboxConfig *l;
	json_t *sc;

	if (check_keys(x, j, "linux", keys))
		return;
	l = cfg->linux = NEW(x, Runtime__V1__LinuxPodSandboxConfig, RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT);
	if (!l)
		return;
	get_str(x, j, "linux", "cgroup_parent", &l->cgroup_parent, false);
	get_sysctls(x, j, "linux", "sysctls", &l->n_sysctls, &l->sysctls);
	sc = json_object_get(j, "security_context");
	if (!sc || x->r)
		return;
	if (check_keys(x, sc, "linux.security_context", sc_keys))
		return;
	l->security_context = NEW(x, Runtime__V1__LinuxSandboxSecurityContext,
				  RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT);
	if (!l->security_context)
		return;
	if (json_object_get(sc, "namespace_options"))
		l->security_context->namespace_options = parse_ns_options(
			x, json_object_get(sc, "namespace_options"), "linux.security_context.namespace_options");
	l->security_context->run_as_user = get_int64_value(x, sc, "linux.security_context", "run_as_user");
	l->security_context->run_as_group = get_int64_value(x, sc, "linux.security_context", "run_as_group");
	l->security_context->readonly_rootfs = get_bool(x, sc, "linux.security_context", "readonly_rootfs");
	l->security_context->privileged = get_bool(x, sc, "linux.security_context", "privileged");
	if (json_object_get(sc, "supplemental_groups")) {
		json_t *a = json_object_get(sc, "supplemental_groups"), *e;
		size_t i;

		l->security_context->supplemental_groups =
			new_vec(x, a, sizeof(int64_t), "linux.security_context", "supplemental_groups", " of integers");
		if (!l->security_context->supplemental_groups)
			return;
		json_array_foreach(a, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 0) {
				jfail(x, "linux.security_context.supplemental_groups[%zu]: must be a group id", i);
				return;
			}
			l->security_context->supplemental_groups[l->security_context->n_supplemental_groups++] =
				json_integer_value(e);
		}
	}
}

static void parse_port_mappings(struct jctx *x, const json_t *a, Runtime__V1__PodSandboxConfig *cfg)
{
	static const char *const keys[] = { "protocol", "container_port", "host_port", "host_ip", NULL };
	json_t *e;
	size_t i;

	cfg->port_mappings = new_vec(x, a, sizeof(*cfg->port_mappings), "", "port_mappings", "");
	if (!cfg->port_mappings)
		return;
	json_array_foreach(a, i, e) {
		char where[48];
		Runtime__V1__PortMapping *pm;

		pm = NEW_ELEM(x, e, "port_mappings", i, where, keys, Runtime__V1__PortMapping,
			      RUNTIME__V1__PORT_MAPPING__INIT);
		if (!pm)
			return;
		cfg->port_mappings[cfg->n_port_mappings++] = pm;
		pm->protocol = get_enum(x, e, where, "protocol", &runtime__v1__protocol__descriptor);
		pm->container_port = (int32_t)get_int(x, e, where, "container_port", 1, 65535);
		pm->host_port = (int32_t)get_int(x, e, where, "host_port", 0, 65535);
		get_str(x, e, where, "host_ip", &pm->host_ip, false);
		if (!x->r && !json_object_get(e, "container_port"))
			jfail(x, "%s.container_port: required", where);
	}
}

int cri_json_pod_config(const json_t *j, Runtime__V1__PodSandboxConfig **out, char *err, size_t err_size)
{
	static const char *const keys[] = { "metadata", "hostname", "log_directory", "dns_config",
					    "port_mappings", "labels", "annotations", "linux", NULL };
	static const char *const md_keys[] = { "name", "uid", "namespace", "attempt", NULL };
	static const char *const dns_keys[] = { "servers", "searches", "options", NULL };
	struct jctx x = { .err = err, .err_size = err_size };
	Runtime__V1__PodSandboxConfig *cfg;
	json_t *md, *v;

	if (check_keys(&x, j, "", keys))
		return x.r;
	md = json_object_get(j, "metadata");
	if (!md)
		return jfail(&x, "metadata: required");
	if (check_keys(&x, md, "metadata", md_keys))
		return x.r;

	cfg = NEW(&x, Runtime__V1__PodSandboxConfig, RUNTIME__V1__POD_SANDBOX_CONFIG__INIT);
	if (!cfg)
		return x.r;
	cfg->metadata = NEW(&x, Runtime__V1__PodSandboxMetadata, RUNTIME__V1__POD_SANDBOX_METADATA__INIT);
	if (cfg->metadata) {
		get_str(&x, md, "metadata", "name", &cfg->metadata->name, true);
		get_str(&x, md, "metadata", "namespace", &cfg->metadata->namespace_, true);
		get_str(&x, md, "metadata", "uid", &cfg->metadata->uid, true);
		cfg->metadata->attempt = (uint32_t)get_int(&x, md, "metadata", "attempt", 0, UINT32_MAX);
	}
	get_str(&x, j, "", "hostname", &cfg->hostname, false);
	get_str(&x, j, "", "log_directory", &cfg->log_directory, false);
	v = json_object_get(j, "dns_config");
	if (v && !x.r && !check_keys(&x, v, "dns_config", dns_keys)) {
		cfg->dns_config = NEW(&x, Runtime__V1__DNSConfig, RUNTIME__V1__DNSCONFIG__INIT);
		if (cfg->dns_config) {
			get_str_array(&x, v, "dns_config", "servers", &cfg->dns_config->n_servers,
				      &cfg->dns_config->servers);
			get_str_array(&x, v, "dns_config", "searches", &cfg->dns_config->n_searches,
				      &cfg->dns_config->searches);
			get_str_array(&x, v, "dns_config", "options", &cfg->dns_config->n_options,
				      &cfg->dns_config->options);
		}
	}
	v = json_object_get(j, "port_mappings");
	if (v && !x.r)
		parse_port_mappings(&x, v, cfg);
	get_pod_labels(&x, j, "", "labels", &cfg->n_labels, &cfg->labels);
	get_pod_annotations(&x, j, "", "annotations", &cfg->n_annotations, &cfg->annotations);
	v = json_object_get(j, "linux");
	if (v && !x.r)
		parse_pod_linux(&x, v, cfg);

	if (x.r) {
		cri_msg_free(cfg);
		return x.r;
	}
	*out = cfg;
	return 0;
}

/* ContainerConfig.metadata: name and attempt. */
static void ctr_metadata(struct jctx *x, const json_t *md, Runtime__V1__ContainerConfig *cfg)
{
	cfg->metadata = NEW(x, Runtime__V1__ContainerMetadata, RUNTIME__V1__CONTAINER_METADATA__INIT);
	if (cfg->metadata) {
		get_str(x, md, "metadata", "name", &cfg->metadata->name, true);
		cfg->metadata->attempt = (uint32_t)get_int(x, md, "metadata", "attempt", 0, UINT32_MAX);
	}
}

/* ContainerConfig.image: a reference, or {"image": reference}. */
static void ctr_image(struct jctx *x, const json_t *v, Runtime__V1__ContainerConfig *cfg)
{
	cfg->image = NEW(x, Runtime__V1__ImageSpec, RUNTIME__V1__IMAGE_SPEC__INIT);
	if (!cfg->image)
		return;
	if (json_is_string(v) && *json_string_value(v))
		cfg->image->image = xstrdup(x, json_string_value(v));
	else if (json_is_object(v))
		get_str(x, v, "image", "image", &cfg->image->image, true);
	else
		jfail(x, "image: must be an image reference or {\"image\": reference}");
}

/* ContainerConfig.envs: [{"key", "value"}]. */
static void ctr_envs(struct jctx *x, const json_t *v, Runtime__V1__ContainerConfig *cfg)
{
	static const char *const env_keys[] = { "key", "value", NULL };
	json_t *e;
	size_t i;

	cfg->envs = new_vec(x, v, sizeof(*cfg->envs), "", "envs", " of {\"key\", \"value\"}");
	if (!cfg->envs)
		return;
	json_array_foreach(v, i, e) {
		char where[48];
		Runtime__V1__KeyValue *kv;

		kv = NEW_ELEM(x, e, "envs", i, where, env_keys, Runtime__V1__KeyValue,
			      RUNTIME__V1__KEY_VALUE__INIT);
		if (!kv)
			return;
		cfg->envs[cfg->n_envs++] = kv;
		get_str(x, e, where, "key", &kv->key, true);
		get_str(x, e, where, "value", &kv->value, false);
	}
}

/* ContainerConfig.mounts: [{"container_path", "host_path", "readonly"}]. */
static void ctr_mounts(struct jctx *x, const json_t *v, Runtime__V1__ContainerConfig *cfg)
{
	static const char *const mount_keys[] = { "container_path", "host_path", "readonly", NULL };
	json_t *e;
	size_t i;

	cfg->mounts = new_vec(x, v, sizeof(*cfg->mounts), "", "mounts", "");
	if (!cfg->mounts)
		return;
	json_array_foreach(v, i, e) {
		char where[48];
		Runtime__V1__Mount *m;

		m = NEW_ELEM(x, e, "mounts", i, where, mount_keys, Runtime__V1__Mount,
			      RUNTIME__V1__MOUNT__INIT);
		if (!m)
			return;
		cfg->mounts[cfg->n_mounts++] = m;
		get_str(x, e, where, "container_path", &m->container_path, true);
		get_str(x, e, where, "host_path", &m->host_path, true);
		m->readonly = get_bool(x, e, where, "readonly");
	}
}

/* ContainerConfig.linux.security_context.capabilities:
 * {"add_capabilities": [...], "drop_capabilities": [...]}. */
static Runtime__V1__Capability *ctr_capabilities(struct jctx *x, const json_t *v)
{
	static const char *const keys[] = { "add_capabilities", "drop_capabilities", NULL };
	static const char *const where = "linux.security_context.capabilities";
	Runtime__V1__Capability *c;

	if (check_keys(x, v, where, keys))
		return NULL;
	c = NEW(x, Runtime__V1__Capability, RUNTIME__V1__CAPABILITY__INIT);
	if (!c)
		return NULL;
	get_str_array(x, v, where, "add_capabilities", &c->n_add_capabilities, &c->add_capabilities);
	get_str_array(x, v, where, "drop_capabilities", &c->n_drop_capabilities,
		      &c->drop_capabilities);
	return c;
}

/* ContainerConfig.linux.resources: {"cpu_period", "cpu_quota",
 * "cpu_shares", "memory_limit_in_bytes", "oom_score_adj"}. */
static Runtime__V1__LinuxContainerResources *ctr_resources(struct jctx *x, const json_t *v)
{
	static const char *const keys[] = { "cpu_period", "cpu_quota", "cpu_shares",
					    "memory_limit_in_bytes", "oom_score_adj", NULL };
	static const char *const where = "linux.resources";
	Runtime__V1__LinuxContainerResources *res;

	if (check_keys(x, v, where, keys))
		return NULL;
	res = NEW(x, Runtime__V1__LinuxContainerResources,
		  RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT);
	if (!res)
		return NULL;
	res->cpu_period = get_int(x, v, where, "cpu_period", 0, INT64_MAX);
	res->cpu_quota = get_int(x, v, where, "cpu_quota", -1, INT64_MAX);
	res->cpu_shares = get_int(x, v, where, "cpu_shares", 0, INT64_MAX);
	res->memory_limit_in_bytes = get_int(x, v, where, "memory_limit_in_bytes", 0, INT64_MAX);
	res->oom_score_adj = get_int(x, v, where, "oom_score_adj", -1000, 1000);
	return res;
}

/* ContainerConfig.linux: {"resources": {...}, "security_context": {...}}. */
static void ctr_linux(struct jctx *x, const json_t *v, Runtime__V1__ContainerConfig *cfg)
{
	static const char *const linux_keys[] = { "resources", "security_context", NULL };
	static const char *const sc_keys[] = { "privileged", "namespace_options", "run_as_user",
					       "run_as_group", "readonly_rootfs", "capabilities",
					       NULL };
	static const char *const where = "linux.security_context";
	Runtime__V1__LinuxContainerSecurityContext *s;
	json_t *sc = json_object_get(v, "security_context");

	if (check_keys(x, v, "linux", linux_keys))
		return;
	cfg->linux = NEW(x, Runtime__V1__LinuxContainerConfig,
			 RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT);
	if (cfg->linux && json_object_get(v, "resources"))
		cfg->linux->resources = ctr_resources(x, json_object_get(v, "resources"));
	if (!cfg->linux || !sc || check_keys(x, sc, where, sc_keys))
		return;
	s = cfg->linux->security_context = NEW(x, Runtime__V1__LinuxContainerSecurityContext,
					       RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT);
	if (!s)
		return;
	s->privileged = get_bool(x, sc, where, "privileged");
	s->readonly_rootfs = get_bool(x, sc, where, "readonly_rootfs");
	s->run_as_user = get_int64_value(x, sc, where, "run_as_user");
	s->run_as_group = get_int64_value(x, sc, where, "run_as_group");
	if (json_object_get(sc, "capabilities"))
		s->capabilities = ctr_capabilities(x, json_object_get(sc, "capabilities"));
	if (json_object_get(sc, "namespace_options"))
		s->namespace_options = parse_ns_options(x, json_object_get(sc, "namespace_options"),
							"linux.security_context.namespace_options");
}

int cri_json_container_config(const json_t *j, Runtime__V1__ContainerConfig **out, char *err,
			      size_t err_size)
{
	static const char *const keys[] = { "metadata", "image", "command", "args", "working_dir",
					    "envs", "mounts", "labels", "annotations", "log_path",
					    "stdin", "stdin_once", "tty", "linux", NULL };
	static const char *const md_keys[] = { "name", "attempt", NULL };
	struct jctx x = { .err = err, .err_size = err_size };
	Runtime__V1__ContainerConfig *cfg;
	json_t *md, *image, *v;

	if (check_keys(&x, j, "", keys))
		return x.r;
	md = json_object_get(j, "metadata");
	if (!md)
		return jfail(&x, "metadata: required");
	if (check_keys(&x, md, "metadata", md_keys))
		return x.r;
	image = json_object_get(j, "image");
	if (!image)
		return jfail(&x, "image: required");

	cfg = NEW(&x, Runtime__V1__ContainerConfig, RUNTIME__V1__CONTAINER_CONFIG__INIT);
	if (!cfg)
		return x.r;
	ctr_metadata(&x, md, cfg);
	ctr_image(&x, image, cfg);
	get_str_array(&x, j, "", "command", &cfg->n_command, &cfg->command);
	get_str_array(&x, j, "", "args", &cfg->n_args, &cfg->args);
	get_str(&x, j, "", "working_dir", &cfg->working_dir, false);
	get_str(&x, j, "", "log_path", &cfg->log_path, false);
	cfg->stdin = get_bool(&x, j, "", "stdin");
	cfg->stdin_once = get_bool(&x, j, "", "stdin_once");
	cfg->tty = get_bool(&x, j, "", "tty");
	get_ctr_labels(&x, j, "", "labels", &cfg->n_labels, &cfg->labels);
	get_ctr_annotations(&x, j, "", "annotations", &cfg->n_annotations, &cfg->annotations);
	if ((v = json_object_get(j, "envs")) && !x.r)
		ctr_envs(&x, v, cfg);
	if ((v = json_object_get(j, "mounts")) && !x.r)
		ctr_mounts(&x, v, cfg);
	if ((v = json_object_get(j, "linux")) && !x.r)
		ctr_linux(&x, v, cfg);
	if (x.r) {
		cri_msg_free(cfg);
		return x.r;
	}
	*out = cfg;
	return 0;
}

/* ---- out ---- */

static json_t *metadata_json(const Runtime__V1__PodSandboxMetadata *m)
{
	if (!m)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:I}", "name", m->name, "namespace", m->namespace_, "uid",
			 m->uid, "attempt", (json_int_t)m->attempt);
}

#define MAP_JSON(n, entries)                                                   \
	({                                                                     \
		json_t *_o = json_object();                                    \
		for (size_t _i = 0; _o && _i < (n); _i++)                      \
			json_object_set_new(_o, (entries)[_i]->key,            \
					    json_string((entries)[_i]->value)); \
		_o;                                                            \
	})

/* containerd's verbose "info" value: {"pid": N, "runtimeSpec": {"linux":
 * {"namespaces": [{"type": "network", "path": ...}]}}, ...}. */
static void add_verbose_info(json_t *o, size_t n, Runtime__V1__PodSandboxStatusResponse__InfoEntry **info)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		json_t *root, *pid, *nss, *e;

		if (!streq(info[i]->key, "info"))
			continue;
		root = json_loads(info[i]->value, 0, NULL);
		if (!root)
			continue;
		pid = json_object_get(root, "pid");
		if (json_is_integer(pid))
			json_object_set(o, "pid", pid);
		nss = json_object_get(json_object_get(json_object_get(root, "runtimeSpec"), "linux"),
				      "namespaces");
		json_array_foreach(nss, k, e) {
			json_t *path = json_object_get(e, "path");

			if (streq(json_string_value(json_object_get(e, "type")), "network") &&
			    json_is_string(path))
				json_object_set(o, "netns", path);
		}
		json_decref(root);
	}
}

json_t *cri_json_sandbox_status(const Runtime__V1__PodSandboxStatusResponse *resp)
{
	const Runtime__V1__PodSandboxStatus *s = resp->status;
	json_t *o, *net, *ips;
	size_t i;

	if (!s)
		return NULL;
	ips = json_array();
	if (s->network)
		for (i = 0; i < s->network->n_additional_ips; i++)
			json_array_append_new(ips, json_string(s->network->additional_ips[i]->ip));
	net = json_pack("{s:s, s:o}", "ip", s->network ? s->network->ip : "", "additional_ips", ips);
	o = json_pack("{s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:s}", "id", s->id, "metadata",
		      metadata_json(s->metadata), "state", cri_sandbox_state_name(s->state), "created_at",
		      (json_int_t)s->created_at, "network", net, "labels", MAP_JSON(s->n_labels, s->labels),
		      "annotations", MAP_JSON(s->n_annotations, s->annotations), "runtime_handler",
		      s->runtime_handler);
	if (o)
		add_verbose_info(o, resp->n_info, resp->info);
	return o;
}

json_t *cri_json_sandbox_list(const Runtime__V1__ListPodSandboxResponse *resp)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < resp->n_items; i++) {
		const Runtime__V1__PodSandbox *p = resp->items[i];

		json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:I, s:o}", "id", p->id, "metadata",
						   metadata_json(p->metadata), "state",
						   cri_sandbox_state_name(p->state), "created_at",
						   (json_int_t)p->created_at, "labels",
						   MAP_JSON(p->n_labels, p->labels)));
	}
	return a;
}

static json_t *ctr_metadata_json(const Runtime__V1__ContainerMetadata *m)
{
	if (!m)
		return json_null();
	return json_pack("{s:s, s:I}", "name", m->name, "attempt", (json_int_t)m->attempt);
}

json_t *cri_json_container_status(const Runtime__V1__ContainerStatusResponse *resp)
{
	const Runtime__V1__ContainerStatus *s = resp->status;
	json_t *o;
	size_t i;

	if (!s)
		return NULL;
	o = json_pack("{s:s, s:o, s:s, s:I, s:I, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:o}", "id", s->id,
		      "metadata", ctr_metadata_json(s->metadata), "state",
		      cri_container_state_name(s->state), "created_at", (json_int_t)s->created_at,
		      "started_at", (json_int_t)s->started_at, "finished_at", (json_int_t)s->finished_at,
		      "exit_code", (int)s->exit_code, "image", s->image ? s->image->image : "",
		      "image_ref", s->image_ref, "reason", s->reason, "message", s->message, "log_path",
		      s->log_path, "labels", MAP_JSON(s->n_labels, s->labels));
	for (i = 0; o && i < resp->n_info; i++) {
		json_t *root, *pid;

		if (!streq(resp->info[i]->key, "info"))
			continue;
		root = json_loads(resp->info[i]->value, 0, NULL);
		pid = json_object_get(root, "pid");
		if (json_is_integer(pid))
			json_object_set(o, "pid", pid);
		json_decref(root);
	}
	return o;
}

json_t *cri_json_container_list(const Runtime__V1__ListContainersResponse *resp)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < resp->n_containers; i++) {
		const Runtime__V1__Container *c = resp->containers[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:s, s:s, s:I}", "id", c->id,
						   "pod_sandbox_id", c->pod_sandbox_id, "metadata",
						   ctr_metadata_json(c->metadata), "image",
						   c->image ? c->image->image : "", "state",
						   cri_container_state_name(c->state), "created_at",
						   (json_int_t)c->created_at));
	}
	return a;
}

json_t *cri_json_version(const Runtime__V1__VersionResponse *v)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "version", v->version, "runtime_name", v->runtime_name,
			 "runtime_version", v->runtime_version, "runtime_api_version",
			 v->runtime_api_version);
}

json_t *cri_json_image(const Runtime__V1__Image *img)
{
	json_t *tags = json_array(), *digests = json_array();
	size_t i;

	if (!img)
		return json_null();
	for (i = 0; i < img->n_repo_tags; i++)
		json_array_append_new(tags, json_string(img->repo_tags[i]));
	for (i = 0; i < img->n_repo_digests; i++)
		json_array_append_new(digests, json_string(img->repo_digests[i]));
	return json_pack("{s:s, s:o, s:o, s:I}", "id", img->id, "repo_tags", tags, "repo_digests",
			 digests, "size", (json_int_t)img->size);
}
