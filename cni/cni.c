/* The CNI protocol: environment, CNI_ARGS, versions, results, errors and
 * delegation to other plugins (see cni.h). */
#include "cni/cni.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

extern char **environ;

/* Largest output we accept from a delegated plugin. */
#define CNI_DELEGATE_MAX_OUTPUT (4u << 20)

int cni_fail(struct cni_error *err, int errno_value, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->details[0] = '\0';
	}
	return errno_value > 0 ? -errno_value : (errno_value < 0 ? errno_value : -EINVAL);
}

void cni_error_details(struct cni_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->details, sizeof(err->details), fmt, ap);
	va_end(ap);
}

/* ---- environment ---- */

static const struct {
	const char *name;
	enum cni_cmd cmd;
} cni_commands[] = {
	{ "ADD", CNI_CMD_ADD },	      { "DEL", CNI_CMD_DEL },
	{ "CHECK", CNI_CMD_CHECK },   { "VERSION", CNI_CMD_VERSION },
	{ "STATUS", CNI_CMD_STATUS }, { "GC", CNI_CMD_GC },
};

bool cni_ifname_valid(const char *ifname)
{
	size_t n;

	if (!ifname)
		return false;
	n = strlen(ifname);
	if (n == 0 || n > 15 || streq(ifname, ".") || streq(ifname, ".."))
		return false;
	for (const char *p = ifname; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}

bool cni_container_id_valid(const char *id)
{
	if (!id || !isalnum((unsigned char)id[0]))
		return false;
	for (const char *p = id + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int cni_env_parse(struct cni_env *env, struct cni_error *err)
{
	struct cni_env e = { 0 };
	bool found = false, need_id, need_netns, need_ifname, need_path;

	e.command = env_get("CNI_COMMAND");
	if (!e.command)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_COMMAND is not set (one of ADD, DEL, CHECK, VERSION, STATUS, GC)");
	for (size_t i = 0; i < ARRAY_SIZE(cni_commands); i++) {
		if (streq(e.command, cni_commands[i].name)) {
			e.cmd = cni_commands[i].cmd;
			found = true;
		}
	}
	if (!found)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_COMMAND: unknown command \"%s\"", e.command);

	e.container_id = env_get("CNI_CONTAINERID");
	e.netns = env_get("CNI_NETNS");
	e.ifname = env_get("CNI_IFNAME");
	e.args = env_get("CNI_ARGS");
	e.path = env_get("CNI_PATH");

	need_id = e.cmd == CNI_CMD_ADD || e.cmd == CNI_CMD_DEL || e.cmd == CNI_CMD_CHECK;
	need_netns = e.cmd == CNI_CMD_ADD || e.cmd == CNI_CMD_CHECK;
	need_ifname = need_id;
	need_path = e.cmd != CNI_CMD_VERSION;

	if (need_id && !e.container_id)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_CONTAINERID is required for %s", e.command);
	if (e.container_id && !cni_container_id_valid(e.container_id))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_CONTAINERID \"%s\" is invalid: must start with a letter or digit, then only letters, digits, '_', '.' or '-'",
				e.container_id);
	if (need_netns && !e.netns)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_NETNS is required for %s", e.command);
	if (need_ifname && !e.ifname)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_IFNAME is required for %s", e.command);
	if (e.ifname && !cni_ifname_valid(e.ifname))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_IFNAME \"%s\" is invalid: 1 to 15 characters, not \".\" or \"..\", no '/', ':' or whitespace",
				e.ifname);
	if (need_path && !e.path)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_PATH is required for %s", e.command);
	if (e.args) {
		/* Syntax only; which keys are allowed is the plugin's business. */
		int r = cni_args_validate(e.args, NULL, NULL);

		if (r == -EINVAL)
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
					"CNI_ARGS \"%s\" is malformed: expected KEY=VALUE pairs separated by ';'",
					e.args);
	}
	*env = e;
	return 0;
}

/* ---- CNI_ARGS ---- */

/* Walks "K=V;K=V": calls fn for each pair; -EINVAL on a pair without '='
 * or with an empty key. Empty segments (";;", trailing ';') are skipped. */
typedef int (*args_pair_fn)(const char *key, size_t klen, const char *val, size_t vlen,
			    void *data);

static int args_walk(const char *args, args_pair_fn fn, void *data)
{
	const char *p = args;

	while (p && *p) {
		const char *end = strchrnul(p, ';');
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int r;

		if (end == p) {
			p = end + 1;
			continue;
		}
		if (!eq || eq == p)
			return -EINVAL;
		r = fn(p, (size_t)(eq - p), eq + 1, (size_t)(end - eq - 1), data);
		if (r != 0)
			return r;
		p = *end ? end + 1 : end;
	}
	return 0;
}

struct args_lookup {
	const char *key;
	char *buf;
	size_t size;
	int found;
};

static int args_lookup_pair(const char *key, size_t klen, const char *val, size_t vlen,
			    void *data)
{
	struct args_lookup *l = data;

	/* The first occurrence wins; keep walking so a malformed pair later
	 * in the string is still reported. */
	if (l->found || strlen(l->key) != klen || strncmp(key, l->key, klen) != 0)
		return 0;
	if (vlen >= l->size) {
		l->found = -ENAMETOOLONG;
		return 0;
	}
	memcpy(l->buf, val, vlen);
	l->buf[vlen] = '\0';
	l->found = 1;
	return 0;
}

int cni_args_get(const char *args, const char *key, char *buf, size_t size)
{
	struct args_lookup l = { .key = key, .buf = buf, .size = size };
	int r;

	if (!args)
		return -ENOENT;
	r = args_walk(args, args_lookup_pair, &l);
	if (r < 0)
		return r;
	if (l.found < 0)
		return l.found;
	return l.found ? 0 : -ENOENT;
}

struct args_check {
	const char *const *known;
	char unknown[128];
};

static int args_check_pair(const char *key, size_t klen, const char *val, size_t vlen,
			   void *data)
{
	struct args_check *c = data;

	(void)val;
	(void)vlen;
	if (!c->known)
		return 0;
	if (klen == strlen("IgnoreUnknown") && strncmp(key, "IgnoreUnknown", klen) == 0)
		return 0;
	for (const char *const *k = c->known; *k; k++)
		if (strlen(*k) == klen && strncmp(*k, key, klen) == 0)
			return 0;
	if (!c->unknown[0])
		snprintf(c->unknown, sizeof(c->unknown), "%.*s", (int)klen, key);
	return 0;
}

int cni_args_validate(const char *args, const char *const *known, struct cni_error *err)
{
	struct args_check c = { .known = known };
	char ignore[16];
	int r;

	if (!args)
		return 0;
	r = args_walk(args, args_check_pair, &c);
	if (r < 0)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_ARGS \"%s\" is malformed: expected KEY=VALUE pairs separated by ';'",
				args);
	if (!c.unknown[0])
		return 0;
	if (cni_args_get(args, "IgnoreUnknown", ignore, sizeof(ignore)) == 0 &&
	    (streq(ignore, "1") || strcasecmp(ignore, "true") == 0))
		return 0;
	return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV,
			"CNI_ARGS: unknown key \"%s\" (set IgnoreUnknown=1 to ignore unknown keys)",
			c.unknown);
}

/* ---- versions ---- */

const char *const cni_supported_versions[] = {
	"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL,
};

bool cni_version_supported(const char *version)
{
	for (const char *const *v = cni_supported_versions; *v; v++)
		if (streq(*v, version))
			return true;
	return false;
}

/* Parses "X.Y.Z" (1 to 3 numeric parts); false when anything else. */
static bool version_parse(const char *s, long parts[3])
{
	int n = 0;

	parts[0] = parts[1] = parts[2] = 0;
	if (!s || !*s)
		return false;
	while (n < 3) {
		char *end;

		if (!isdigit((unsigned char)*s))
			return false;
		parts[n++] = strtol(s, &end, 10);
		if (*end == '\0')
			return true;
		if (*end != '.')
			return false;
		s = end + 1;
	}
	return false;
}

int cni_version_cmp(const char *a, const char *b)
{
	long pa[3], pb[3];
	bool oka = version_parse(a, pa), okb = version_parse(b, pb);

	if (!oka || !okb)
		return (int)oka - (int)okb;
	for (int i = 0; i < 3; i++)
		if (pa[i] != pb[i])
			return pa[i] < pb[i] ? -1 : 1;
	return 0;
}

json_t *cni_version_info(const char *config_version)
{
	const char *const *v;
	json_t *list = json_array(), *out;

	if (!list)
		return NULL;
	for (v = cni_supported_versions; *v; v++)
		json_array_append_new(list, json_string(*v));
	if (!config_version || !cni_version_supported(config_version))
		config_version = v[-1];
	out = json_pack("{s:s, s:o}", "cniVersion", config_version, "supportedVersions", list);
	return out;
}

/* ---- results ---- */

void cni_result_clear(struct cni_result *r)
{
	json_decref(r->dns);
	memset(r, 0, sizeof(*r));
}

static json_t *addr_json(const struct ipaddr *a)
{
	char buf[IPADDR_STRLEN];

	return json_string(ipaddr_str(a, buf, sizeof(buf)));
}

static json_t *cidr_json(const struct ipcidr *c)
{
	char buf[IPCIDR_STRLEN];

	return json_string(ipcidr_str(c, buf, sizeof(buf)));
}

json_t *cni_result_encode(const struct cni_result *r, const char *version)
{
	bool legacy = cni_version_cmp(version, "1.0.0") < 0;
	bool has_mtu = cni_version_cmp(version, "1.1.0") >= 0;
	json_t *out = json_object(), *ifaces, *ips, *routes;

	if (!out)
		return NULL;
	json_object_set_new(out, "cniVersion", json_string(version));
	if (r->n_interfaces > 0) {
		ifaces = json_array();
		for (int i = 0; i < r->n_interfaces; i++) {
			const struct cni_interface *f = &r->interfaces[i];
			json_t *o = json_pack("{s:s}", "name", f->name);

			if (f->mac[0])
				json_object_set_new(o, "mac", json_string(f->mac));
			if (has_mtu && f->mtu > 0)
				json_object_set_new(o, "mtu", json_integer(f->mtu));
			if (f->sandbox[0])
				json_object_set_new(o, "sandbox", json_string(f->sandbox));
			json_array_append_new(ifaces, o);
		}
		json_object_set_new(out, "interfaces", ifaces);
	}
	ips = json_array();
	for (int i = 0; i < r->n_ips; i++) {
		const struct cni_ip *ip = &r->ips[i];
		json_t *o = json_object();

		if (legacy)
			json_object_set_new(o, "version",
					    json_string(ip->address.addr.family == AF_INET6 ? "6" : "4"));
		json_object_set_new(o, "address", cidr_json(&ip->address));
		if (ip->has_gateway)
			json_object_set_new(o, "gateway", addr_json(&ip->gateway));
		if (ip->interface >= 0)
			json_object_set_new(o, "interface", json_integer(ip->interface));
		json_array_append_new(ips, o);
	}
	json_object_set_new(out, "ips", ips);
	if (r->n_routes > 0) {
		routes = json_array();
		for (int i = 0; i < r->n_routes; i++) {
			const struct cni_route *rt = &r->routes[i];
			json_t *o = json_object();

			json_object_set_new(o, "dst", cidr_json(&rt->dst));
			if (rt->has_gw)
				json_object_set_new(o, "gw", addr_json(&rt->gw));
			json_array_append_new(routes, o);
		}
		json_object_set_new(out, "routes", routes);
	}
	json_object_set_new(out, "dns", r->dns ? json_deep_copy(r->dns) : json_object());
	return out;
}

static int decode_string(json_t *o, const char *key, const char *where, bool required,
			 const char **out, struct cni_error *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.%s is required", where, key);
		return 0;
	}
	if (!json_is_string(v))
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.%s must be a string", where, key);
	*out = json_string_value(v);
	return 0;
}

static int decode_addr(json_t *o, const char *key, const char *where, bool *present,
		       struct ipaddr *out, struct cni_error *err)
{
	const char *s;
	int r = decode_string(o, key, where, false, &s, err);

	*present = false;
	if (r < 0 || !s)
		return r;
	if (ipaddr_parse(s, out) < 0)
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.%s: invalid IP address \"%s\"", where,
				key, s);
	*present = true;
	return 0;
}

/* A required address with its prefix ("10.244.0.5/24"). */
static int decode_cidr(json_t *o, const char *key, const char *where, struct ipcidr *out,
		       struct cni_error *err)
{
	const char *s, *why;
	int r = decode_string(o, key, where, true, &s, err);

	if (r < 0)
		return r;
	if (ipcidr_parse_ifaddr(s, out, &why) < 0)
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.%s: invalid CIDR \"%s\": %s", where,
				key, s, why);
	return 0;
}

static int decode_list(json_t *j, const char *key, size_t max, json_t **out,
		       struct cni_error *err)
{
	json_t *v = json_object_get(j, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s must be an array", key);
	if (json_array_size(v) > max)
		return cni_fail(err, E2BIG, CNI_ERR_DECODE, "%s has %zu entries, at most %zu supported",
				key, json_array_size(v), max);
	*out = v;
	return 0;
}

static int decode_interfaces(json_t *list, struct cni_result *res, struct cni_error *err)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		struct cni_interface *f = &res->interfaces[i];
		const char *s;
		char where[48];
		json_t *mtu;
		int r;

		snprintf(where, sizeof(where), "interfaces[%zu]", i);
		if (!json_is_object(o))
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s must be an object", where);
		r = decode_string(o, "name", where, true, &s, err);
		if (r < 0)
			return r;
		if (strscpy(f->name, s, sizeof(f->name)) < 0)
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.name \"%s\" is too long", where, s);
		r = decode_string(o, "mac", where, false, &s, err);
		if (r < 0)
			return r;
		if (s && strscpy(f->mac, s, sizeof(f->mac)) < 0)
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.mac \"%s\" is invalid", where, s);
		r = decode_string(o, "sandbox", where, false, &s, err);
		if (r < 0)
			return r;
		if (s && strscpy(f->sandbox, s, sizeof(f->sandbox)) < 0)
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s.sandbox is too long", where);
		mtu = json_object_get(o, "mtu");
		if (mtu && !json_is_null(mtu)) {
			if (!json_is_integer(mtu) || json_integer_value(mtu) < 0 ||
			    json_integer_value(mtu) > 65535)
				return cni_fail(err, EINVAL, CNI_ERR_DECODE,
						"%s.mtu must be an integer from 0 to 65535", where);
			f->mtu = (int)json_integer_value(mtu);
		}
		res->n_interfaces++;
	}
	return 0;
}

static int decode_ips(json_t *list, struct cni_result *res, struct cni_error *err)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		struct cni_ip *ip = &res->ips[i];
		char where[48];
		json_t *idx;
		int r;

		snprintf(where, sizeof(where), "ips[%zu]", i);
		if (!json_is_object(o))
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s must be an object", where);
		r = decode_cidr(o, "address", where, &ip->address, err);
		if (r < 0)
			return r;
		r = decode_addr(o, "gateway", where, &ip->has_gateway, &ip->gateway, err);
		if (r < 0)
			return r;
		if (ip->has_gateway && ip->gateway.family != ip->address.addr.family)
			return cni_fail(err, EINVAL, CNI_ERR_DECODE,
					"%s.gateway is not of the address's family", where);
		ip->interface = -1;
		idx = json_object_get(o, "interface");
		if (idx && !json_is_null(idx)) {
			if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
			    json_integer_value(idx) >= res->n_interfaces)
				return cni_fail(err, EINVAL, CNI_ERR_DECODE,
						"%s.interface must index interfaces (0 to %d)", where,
						res->n_interfaces - 1);
			ip->interface = (int)json_integer_value(idx);
		}
		res->n_ips++;
	}
	return 0;
}

static int decode_routes(json_t *list, struct cni_result *res, struct cni_error *err)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		struct cni_route *rt = &res->routes[i];
		char where[48];
		int r;

		snprintf(where, sizeof(where), "routes[%zu]", i);
		if (!json_is_object(o))
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "%s must be an object", where);
		r = decode_cidr(o, "dst", where, &rt->dst, err);
		if (r < 0)
			return r;
		r = decode_addr(o, "gw", where, &rt->has_gw, &rt->gw, err);
		if (r < 0)
			return r;
		res->n_routes++;
	}
	return 0;
}

int cni_result_decode(json_t *j, struct cni_result *out, struct cni_error *err)
{
	struct cni_result res = { 0 };
	json_t *ifaces, *ips, *routes, *dns, *ver;
	int r;

	if (!json_is_object(j))
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "result must be a JSON object");
	ver = json_object_get(j, "cniVersion");
	if (ver && !json_is_string(ver))
		return cni_fail(err, EINVAL, CNI_ERR_DECODE, "result cniVersion must be a string");
	if (ver && !cni_version_supported(json_string_value(ver)))
		return cni_fail(err, EINVAL, CNI_ERR_INCOMPATIBLE_VERSION,
				"result cniVersion \"%s\" is not supported", json_string_value(ver));
	r = decode_list(j, "interfaces", CNI_MAX_IFACES, &ifaces, err);
	if (r < 0)
		return r;
	r = decode_list(j, "ips", CNI_MAX_IPS, &ips, err);
	if (r < 0)
		return r;
	r = decode_list(j, "routes", CNI_MAX_ROUTES, &routes, err);
	if (r < 0)
		return r;
	if (ifaces && (r = decode_interfaces(ifaces, &res, err)) < 0)
		return r;
	if (ips && (r = decode_ips(ips, &res, err)) < 0)
		return r;
	if (routes && (r = decode_routes(routes, &res, err)) < 0)
		return r;
	dns = json_object_get(j, "dns");
	if (dns && !json_is_null(dns)) {
		if (!json_is_object(dns))
			return cni_fail(err, EINVAL, CNI_ERR_DECODE, "dns must be an object");
		if (json_object_size(dns) > 0)
			res.dns = json_deep_copy(dns);
	}
	*out = res;
	return 0;
}

/* ---- output ---- */

int cni_print_json(json_t *j)
{
	if (!j || json_dumpf(j, stdout, JSON_INDENT(4)) < 0)
		return -EIO;
	fputc('\n', stdout);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

void cni_print_error(const char *version, const struct cni_error *err)
{
	json_t *j = json_object();

	if (!j)
		return;
	json_object_set_new(j, "cniVersion",
			    json_string(version && *version ? version : "1.1.0"));
	json_object_set_new(j, "code", json_integer(err->code ? err->code : CNI_ERR_INTERNAL));
	json_object_set_new(j, "msg", json_string(err->msg));
	if (err->details[0])
		json_object_set_new(j, "details", json_string(err->details));
	cni_print_json(j);
	json_decref(j);
}

/* ---- delegation ---- */

static int find_plugin(const char *type, const char *path, char *out, size_t size)
{
	const char *p = path;

	while (p && *p) {
		const char *end = strchrnul(p, ':');
		int n;

		if (end > p) {
			n = snprintf(out, size, "%.*s/%s", (int)(end - p), p, type);
			if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
				return 0;
		}
		p = *end ? end + 1 : end;
	}
	return -ENOENT;
}

/* environ with CNI_COMMAND replaced by cmd_var ("CNI_COMMAND=..."); the
 * array is the caller's, the strings are not. */
static char **delegate_environ(char *cmd_var)
{
	size_t n = 0, k = 0;
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CNI_COMMAND=", 12) != 0)
			envp[k++] = environ[i];
	envp[k] = cmd_var;
	return envp;
}

/* Writes conf to in_fd and reads out_fd to EOF at the same time. */
static int delegate_io(int in_fd, int out_fd, const char *conf, char **out, size_t *outlen)
{
	size_t clen = strlen(conf), off = 0, len = 0, cap = 4096;
	_cleanup_free_ char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = out_fd, .events = POLLIN },
			{ .fd = in_fd, .events = POLLOUT },
		};
		int n = poll(pfd, in_fd >= 0 ? 2 : 1, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (in_fd >= 0 && pfd[1].revents) {
			ssize_t w = off < clen ? write(in_fd, conf + off, clen - off) : 0;

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				off = clen; /* the plugin closed stdin; just read */
			else if (w > 0)
				off += (size_t)w;
			if (off >= clen) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (pfd[0].revents) {
			ssize_t rd;

			if (len == cap) {
				char *nb;

				if (cap >= CNI_DELEGATE_MAX_OUTPUT) {
					if (in_fd >= 0)
						close(in_fd);
					return -EFBIG;
				}
				nb = realloc(buf, cap * 2 + 1);
				if (!nb)
					return -ENOMEM;
				buf = nb;
				cap *= 2;
			}
			rd = read(out_fd, buf + len, cap - len);
			if (rd < 0 && errno != EINTR && errno != EAGAIN) {
				int e = errno;

				if (in_fd >= 0)
					close(in_fd);
				return -e;
			}
			if (rd == 0)
				break;
			if (rd > 0)
				len += (size_t)rd;
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	buf[len] = '\0';
	*outlen = len;
	*out = TAKE_PTR(buf);
	return 0;
}

static bool all_space(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* Starts plugin with envp, its stdin and stdout pipes in *in_fd and
 * *out_fd (close-on-exec). -errno, and nothing open, on failure. */
static int delegate_spawn(char *plugin, char **envp, pid_t *pid, int *in_fd, int *out_fd)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, r;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		goto fail;
	*pid = fork();
	if (*pid < 0)
		goto fail;
	if (*pid == 0) {
		char *argv[] = { plugin, NULL };

		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
			_exit(127);
		execve(plugin, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	*in_fd = in[1];
	*out_fd = outp[0];
	return 0;
fail:
	r = -errno;
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return r;
}

/* Runs plugin with conf on its stdin: its output and exit status. A
 * negative errno: it could not be started (*started false), or its
 * output could not be read. */
static int delegate_run(char *plugin, char **envp, const char *conf, char **output,
			size_t *outlen, int *status, bool *started)
{
	int in_fd = -1, out_fd = -1, r;
	pid_t pid = -1;

	*started = false;
	r = delegate_spawn(plugin, envp, &pid, &in_fd, &out_fd);
	if (r < 0)
		return r;
	*started = true;
	/* Never block writing the config while the plugin blocks writing. */
	fcntl(in_fd, F_SETFL, O_NONBLOCK);
	/* A plugin that exits without reading stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = delegate_io(in_fd, out_fd, conf ? conf : "", output, outlen);
	close(out_fd);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			break;
	return r;
}

/* A plugin that failed: its error JSON into err when it printed one, its
 * exit status or signal otherwise. */
static int delegate_failed(const char *type, const char *command, int status,
			   const char *output, size_t outlen, struct cni_error *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(output, outlen, 0, &jerr);

	if (j && json_is_object(j) && json_is_integer(json_object_get(j, "code"))) {
		const char *msg = json_string_value(json_object_get(j, "msg"));
		const char *details = json_string_value(json_object_get(j, "details"));

		cni_fail(err, EIO, (int)json_integer_value(json_object_get(j, "code")), "%s: %s",
			 type, msg ? msg : "(no message)");
		if (details)
			cni_error_details(err, "%s", details);
		json_decref(j);
		return -EIO;
	}
	json_decref(j);
	if (WIFEXITED(status))
		return cni_fail(err, EIO, CNI_ERR_INTERNAL, "plugin \"%s\" %s exited with status %d",
				type, command, WEXITSTATUS(status));
	return cni_fail(err, EIO, CNI_ERR_INTERNAL, "plugin \"%s\" %s killed by signal %d", type,
			command, WTERMSIG(status));
}

/* A successful plugin's output: its result, or NULL when it printed none. */
static int delegate_result(const char *type, const char *command, const char *output,
			   size_t outlen, json_t **out, struct cni_error *err)
{
	json_error_t jerr;
	json_t *j;

	if (all_space(output)) {
		*out = NULL;
		return 0;
	}
	j = json_loadb(output, outlen, 0, &jerr);
	if (!j)
		return cni_fail(err, EBADMSG, CNI_ERR_DECODE,
				"plugin \"%s\" %s printed invalid JSON: %s (line %d)", type, command,
				jerr.text, jerr.line);
	*out = j;
	return 0;
}

int cni_delegate(const char *type, const struct cni_env *env, const char *command,
		 const char *conf, json_t **out, struct cni_error *err)
{
	char plugin[4096];
	_cleanup_free_ char **envp = NULL;
	_cleanup_free_ char *output = NULL, *cmd_var = NULL;
	size_t outlen = 0;
	int status = 0, r;
	bool started;

	if (!type || !*type || strchr(type, '/'))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"plugin type \"%s\" is invalid", type ? type : "");
	if (find_plugin(type, env->path, plugin, sizeof(plugin)) < 0)
		return cni_fail(err, ENOENT, CNI_ERR_INVALID_CONFIG,
				"failed to find plugin \"%s\" in path [%s]", type,
				env->path ? env->path : "");
	if (asprintf(&cmd_var, "CNI_COMMAND=%s", command) < 0) {
		cmd_var = NULL;
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	}
	envp = delegate_environ(cmd_var);
	if (!envp)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	r = delegate_run(plugin, envp, conf, &output, &outlen, &status, &started);
	if (r < 0 && !started)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "cannot run plugin \"%s\": %s", type,
				strerror(-r));
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_IO, "reading output of plugin \"%s\": %s", type,
				strerror(-r));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return delegate_failed(type, command, status, output, outlen, err);
	return delegate_result(type, command, output, outlen, out, err);
}
