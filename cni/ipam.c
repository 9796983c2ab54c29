/* skiff-ipam: host-local's configuration keys on a SQLite lease store
 * (ipam_store.h says why SQLite). */
#include "cni/ipam.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/ipam_store.h"
#include "lib/util.h"

#define IPAM_MAX_RANGES 16
#define IPAM_DEFAULT_DATA_DIR "/var/lib/cni/networks"
#define IPAM_RESOLV_MAX (64 * 1024)

struct ipam_range {
	struct ipcidr subnet;  /* network address, with prefix */
	struct ipaddr start;   /* first allocatable, inclusive */
	struct ipaddr end;     /* last allocatable, inclusive */
	struct ipaddr gateway; /* never allocated */
};

struct ipam_rangeset {
	struct ipam_range ranges[IPAM_MAX_RANGES];
	int n;
};

struct ipam_request {
	struct ipaddr ip;
	char field[48]; /* where it came from, for error messages */
};

struct ipam_config {
	char dir[4096]; /* <dataDir>/<name> */
	struct ipam_rangeset sets[CNI_MAX_IPS];
	int n_sets;
	struct cni_route routes[CNI_MAX_ROUTES];
	int n_routes;
	json_t *dns;
	struct ipam_request requested[CNI_MAX_IPS];
	int n_requested;
};

/* CNI_ARGS keys skiff-ipam understands; K8S_POD_* are what runtimes send. */
static const char *const ipam_known_args[] = {
	"IP", "IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME",
	"K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID", NULL,
};

void ipam_config_free(struct ipam_config *c)
{
	if (!c)
		return;
	json_decref(c->dns);
	free(c);
}

static void ipam_config_freep(struct ipam_config **c)
{
	ipam_config_free(*c);
}

static int invalid(struct cni_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int invalid(struct cni_error *err, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "%s", msg);
}

static bool range_contains(const struct ipam_range *r, const struct ipaddr *a)
{
	return a->family == r->start.family && ipaddr_cmp(a, &r->start) >= 0 &&
	       ipaddr_cmp(a, &r->end) <= 0;
}

/* Index of the range of set s holding a, or -1. */
static int rangeset_find(const struct ipam_rangeset *s, const struct ipaddr *a)
{
	for (int i = 0; i < s->n; i++)
		if (range_contains(&s->ranges[i], a))
			return i;
	return -1;
}

static int parse_ip_field(json_t *obj, const char *key, const char *path,
			  const struct ipam_range *r, struct ipaddr *out, bool *present,
			  struct cni_error *err)
{
	json_t *v = json_object_get(obj, key);
	char buf[64];
	const char *s;

	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return invalid(err, "%s.%s: expected a string", path, key);
	s = json_string_value(v);
	if (ipaddr_parse(s, out) < 0)
		return invalid(err, "%s.%s: \"%s\" is not an IP address", path, key, s);
	if (out->family != r->subnet.addr.family)
		return invalid(err, "%s.%s: %s is not of the family of subnet %s", path, key, s,
			       ipcidr_str(&r->subnet, buf, sizeof(buf)));
	*present = true;
	return 0;
}

/* One range {subnet, rangeStart, rangeEnd, gateway}; path names it in errors. */
static int parse_range(json_t *obj, const char *path, struct ipam_range *r,
		       struct cni_error *err)
{
	struct ipaddr net, last;
	char buf[IPCIDR_STRLEN], buf2[IPCIDR_STRLEN];
	json_t *v;
	const char *s;
	bool present;
	int r2, maxp;

	if (!json_is_object(obj))
		return invalid(err, "%s: expected an object", path);
	v = json_object_get(obj, "subnet");
	if (!v)
		return invalid(err, "%s.subnet: missing", path);
	if (!json_is_string(v))
		return invalid(err, "%s.subnet: expected a string", path);
	s = json_string_value(v);
	if (ipcidr_parse_ifaddr(s, &r->subnet, NULL) < 0)
		return invalid(err, "%s.subnet: \"%s\" is not a CIDR", path, s);
	maxp = (int)ipaddr_len(&r->subnet.addr) * 8 - 2;
	if (r->subnet.len > maxp)
		return invalid(err, "%s.subnet: %s is too small to allocate from (longest prefix is /%d)",
			       path, s, maxp);
	ipcidr_edge(&r->subnet, false, &net);
	if (!ipaddr_eq(&net, &r->subnet.addr)) {
		struct ipcidr network = { .addr = net, .len = r->subnet.len };

		return invalid(err, "%s.subnet: %s has host bits set (the network is %s)", path, s,
			       ipcidr_str(&network, buf, sizeof(buf)));
	}

	/* Defaults as host-local: from network+1 to the last address (v4:
	 * broadcast-1); the gateway is network+1. */
	ipcidr_edge(&r->subnet, true, &last);
	if (r->subnet.addr.family == AF_INET)
		ipam_addr_dec(&last);
	r->start = net;
	ipam_addr_inc(&r->start);
	r->end = last;

	r2 = parse_ip_field(obj, "rangeStart", path, r, &r->start, &present, err);
	if (r2 < 0)
		return r2;
	if (present && (!ipcidr_contains(&r->subnet, &r->start) ||
			ipaddr_cmp(&r->start, &net) == 0 || ipaddr_cmp(&r->start, &last) > 0))
		return invalid(err, "%s.rangeStart: %s is not a usable address of subnet %s", path,
			       ipaddr_str(&r->start, buf, sizeof(buf)),
			       ipcidr_str(&r->subnet, buf2, sizeof(buf2)));
	r2 = parse_ip_field(obj, "rangeEnd", path, r, &r->end, &present, err);
	if (r2 < 0)
		return r2;
	if (present && (!ipcidr_contains(&r->subnet, &r->end) ||
			ipaddr_cmp(&r->end, &net) == 0 || ipaddr_cmp(&r->end, &last) > 0))
		return invalid(err, "%s.rangeEnd: %s is not a usable address of subnet %s", path,
			       ipaddr_str(&r->end, buf, sizeof(buf)),
			       ipcidr_str(&r->subnet, buf2, sizeof(buf2)));
	if (ipaddr_cmp(&r->start, &r->end) > 0)
		return invalid(err, "%s.rangeEnd: %s is before rangeStart %s", path,
			       ipaddr_str(&r->end, buf, sizeof(buf)),
			       ipaddr_str(&r->start, buf2, sizeof(buf2)));
	r2 = parse_ip_field(obj, "gateway", path, r, &r->gateway, &present, err);
	if (r2 < 0)
		return r2;
	if (!present) {
		r->gateway = net;
		ipam_addr_inc(&r->gateway);
	}
	return 0;
}

static bool ranges_overlap(const struct ipam_range *a, const struct ipam_range *b)
{
	return a->start.family == b->start.family && ipaddr_cmp(&a->start, &b->end) <= 0 &&
	       ipaddr_cmp(&b->start, &a->end) <= 0;
}

static int parse_rangeset(json_t *arr, int idx, struct ipam_rangeset *set,
			  struct cni_error *err)
{
	char path[64];
	size_t i;
	json_t *v;
	int r;

	if (!json_is_array(arr))
		return invalid(err, "ipam.ranges[%d]: expected an array of ranges", idx);
	if (json_array_size(arr) == 0)
		return invalid(err, "ipam.ranges[%d]: empty range set", idx);
	if (json_array_size(arr) > IPAM_MAX_RANGES)
		return invalid(err, "ipam.ranges[%d]: more than %d ranges", idx, IPAM_MAX_RANGES);
	json_array_foreach(arr, i, v) {
		snprintf(path, sizeof(path), "ipam.ranges[%d][%zu]", idx, i);
		r = parse_range(v, path, &set->ranges[i], err);
		if (r < 0)
			return r;
		if (set->ranges[i].subnet.addr.family != set->ranges[0].subnet.addr.family)
			return invalid(err, "%s.subnet: family differs from ipam.ranges[%d][0]", path,
				       idx);
		set->n++;
	}
	return 0;
}

static int check_overlaps(const struct ipam_config *c, bool legacy, struct cni_error *err)
{
	char a[64], b[64];

	for (int s1 = 0; s1 < c->n_sets; s1++)
		for (int r1 = 0; r1 < c->sets[s1].n; r1++)
			for (int s2 = s1; s2 < c->n_sets; s2++)
				for (int r2 = s2 == s1 ? r1 + 1 : 0; r2 < c->sets[s2].n; r2++) {
					const struct ipam_range *x = &c->sets[s1].ranges[r1];
					const struct ipam_range *y = &c->sets[s2].ranges[r2];

					if (!ranges_overlap(x, y))
						continue;
					if (legacy && s1 == 0)
						snprintf(a, sizeof(a), "ipam.subnet");
					else
						snprintf(a, sizeof(a), "ipam.ranges[%d][%d]",
							 s1 - legacy, r1);
					return invalid(err, "ipam.ranges[%d][%d]: overlaps %s (%s)",
						       s2 - legacy, r2, a,
						       ipcidr_str(&x->subnet, b, sizeof(b)));
				}
	return 0;
}

static int parse_routes(json_t *ipam, struct ipam_config *c, struct cni_error *err)
{
	json_t *routes = json_object_get(ipam, "routes"), *v;
	size_t i;

	if (!routes || json_is_null(routes))
		return 0;
	if (!json_is_array(routes))
		return invalid(err, "ipam.routes: expected an array");
	if (json_array_size(routes) > CNI_MAX_ROUTES)
		return invalid(err, "ipam.routes: more than %d routes", CNI_MAX_ROUTES);
	json_array_foreach(routes, i, v) {
		struct cni_route *rt = &c->routes[c->n_routes];
		json_t *dst, *gw;

		if (!json_is_object(v))
			return invalid(err, "ipam.routes[%zu]: expected an object", i);
		dst = json_object_get(v, "dst");
		if (!dst)
			return invalid(err, "ipam.routes[%zu].dst: missing", i);
		if (!json_is_string(dst))
			return invalid(err, "ipam.routes[%zu].dst: expected a string", i);
		if (ipcidr_parse_ifaddr(json_string_value(dst), &rt->dst, NULL) < 0)
			return invalid(err, "ipam.routes[%zu].dst: \"%s\" is not a CIDR", i,
				       json_string_value(dst));
		gw = json_object_get(v, "gw");
		if (gw && !json_is_null(gw)) {
			if (!json_is_string(gw))
				return invalid(err, "ipam.routes[%zu].gw: expected a string", i);
			if (ipaddr_parse(json_string_value(gw), &rt->gw) < 0)
				return invalid(err, "ipam.routes[%zu].gw: \"%s\" is not an IP address", i,
					       json_string_value(gw));
			if (rt->gw.family != rt->dst.addr.family)
				return invalid(err, "ipam.routes[%zu].gw: family differs from dst", i);
			rt->has_gw = true;
		}
		c->n_routes++;
	}
	return 0;
}

static int dns_append(json_t *dns, const char *key, const char *value)
{
	json_t *arr = json_object_get(dns, key);

	if (!arr) {
		arr = json_array();
		if (!arr || json_object_set_new(dns, key, arr) < 0)
			return -ENOMEM;
	}
	return json_array_append_new(arr, json_string(value)) < 0 ? -ENOMEM : 0;
}

/* resolv.conf(5): nameserver, domain, search and options lines. */
static int parse_resolv_conf(const char *path, json_t **out, struct cni_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	json_t *dns;
	char *line, *save = NULL;
	struct stat st;
	size_t len;
	int r;

	/* O_NONBLOCK and a regular file only: a FIFO or a device never hangs ADD. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return invalid(err, "ipam.resolvConf: cannot read \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return invalid(err, "ipam.resolvConf: \"%s\" is not a regular file", path);
	r = read_all(fd, IPAM_RESOLV_MAX, &text, &len);
	if (r < 0)
		return invalid(err, "ipam.resolvConf: cannot read \"%s\": %s", path, strerror(-r));
	dns = json_object();
	if (!dns)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok, *lsave = NULL, *key;

		key = strtok_r(line, " \t\r", &lsave);
		if (!key || key[0] == '#' || key[0] == ';')
			continue;
		if (streq(key, "domain")) {
			tok = strtok_r(NULL, " \t\r", &lsave);
			if (tok && json_object_set_new(dns, "domain", json_string(tok)) < 0)
				r = -ENOMEM;
			continue;
		}
		if (!streq(key, "nameserver") && !streq(key, "search") && !streq(key, "options"))
			continue;
		while ((tok = strtok_r(NULL, " \t\r", &lsave))) {
			if (tok[0] == '#' || tok[0] == ';')
				break;
			if (dns_append(dns, streq(key, "nameserver") ? "nameservers" : key, tok) < 0)
				r = -ENOMEM;
			if (streq(key, "nameserver"))
				break;
		}
	}
	if (r < 0) {
		json_decref(dns);
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	}
	*out = dns;
	return 0;
}

static int add_request(struct ipam_config *c, const char *s, const char *field,
		       struct cni_error *err)
{
	struct ipcidr with_prefix;
	struct ipaddr a;

	if (ipaddr_parse(s, &a) == 0)
		;
	else if (ipcidr_parse_ifaddr(s, &with_prefix, NULL) == 0)
		a = with_prefix.addr;
	else
		return invalid(err, "%s: \"%s\" is not an IP address", field, s);
	for (int i = 0; i < c->n_requested; i++)
		if (ipaddr_cmp(&c->requested[i].ip, &a) == 0)
			return 0;
	if (c->n_requested == CNI_MAX_IPS)
		return invalid(err, "%s: more than %d requested addresses", field, CNI_MAX_IPS);
	c->requested[c->n_requested].ip = a;
	snprintf(c->requested[c->n_requested].field, sizeof(c->requested[0].field), "%s", field);
	c->n_requested++;
	return 0;
}

static int parse_request_array(struct ipam_config *c, json_t *arr, const char *path,
			       struct cni_error *err)
{
	char field[48];
	size_t i;
	json_t *v;
	int r;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return invalid(err, "%s: expected an array of addresses", path);
	json_array_foreach(arr, i, v) {
		snprintf(field, sizeof(field), "%s[%zu]", path, i);
		if (!json_is_string(v))
			return invalid(err, "%s: expected a string", field);
		r = add_request(c, json_string_value(v), field, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* IP=a,b from CNI_ARGS, args.cni.ips and runtimeConfig.ips. */
static int parse_requests(json_t *netconf, const struct cni_env *env, struct ipam_config *c,
			  struct cni_error *err)
{
	json_t *args, *cni;
	char buf[1024];
	int r;

	if (env && env->args) {
		r = cni_args_validate(env->args, ipam_known_args, err);
		if (r < 0)
			return r;
		r = cni_args_get(env->args, "IP", buf, sizeof(buf));
		if (r == -EINVAL)
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_ARGS: malformed");
		if (r == 0) {
			char *save = NULL;

			for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				r = add_request(c, t, "CNI_ARGS IP", err);
				if (r < 0)
					return r;
			}
		} else if (r != -ENOENT) {
			return cni_fail(err, -r, CNI_ERR_INVALID_ENV, "CNI_ARGS IP: %s", strerror(-r));
		}
	}
	args = json_object_get(netconf, "args");
	if (args && !json_is_object(args))
		return invalid(err, "args: expected an object");
	cni = json_object_get(args, "cni");
	if (cni && !json_is_object(cni))
		return invalid(err, "args.cni: expected an object");
	r = parse_request_array(c, json_object_get(cni, "ips"), "args.cni.ips", err);
	if (r < 0)
		return r;
	args = json_object_get(netconf, "runtimeConfig");
	if (args && !json_is_object(args))
		return invalid(err, "runtimeConfig: expected an object");
	return parse_request_array(c, json_object_get(args, "ips"), "runtimeConfig.ips", err);
}

static int parse_dir(json_t *netconf, json_t *ipam, struct ipam_config *c,
		     struct cni_error *err)
{
	json_t *name = json_object_get(netconf, "name");
	json_t *dd = json_object_get(ipam, "dataDir");
	const char *n, *dir = IPAM_DEFAULT_DATA_DIR;

	if (!name)
		return invalid(err, "name: missing");
	if (!json_is_string(name))
		return invalid(err, "name: expected a string");
	n = json_string_value(name);
	if (!n[0] || streq(n, ".") || streq(n, "..") || strchr(n, '/') || strlen(n) > 255)
		return invalid(err, "name: \"%s\" cannot name a folder", n);
	if (dd && !json_is_null(dd)) {
		if (!json_is_string(dd) || !json_string_value(dd)[0])
			return invalid(err, "ipam.dataDir: expected a path");
		dir = json_string_value(dd);
	}
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/%s", dir, n) >= sizeof(c->dir))
		return invalid(err, "ipam.dataDir: too long");
	return 0;
}

int ipam_config_parse(json_t *netconf, const struct cni_env *env, struct ipam_config **out,
		      struct cni_error *err)
{
	_cleanup_(ipam_config_freep) struct ipam_config *c = NULL;
	json_t *ipam, *ranges, *rc;
	bool legacy = false;
	int r;

	if (!json_is_object(netconf))
		return invalid(err, "network configuration: expected an object");
	ipam = json_object_get(netconf, "ipam");
	if (!ipam)
		return invalid(err, "ipam: missing");
	if (!json_is_object(ipam))
		return invalid(err, "ipam: expected an object");
	c = calloc(1, sizeof(*c));
	if (!c)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	r = parse_dir(netconf, ipam, c, err);
	if (r < 0)
		return r;

	/* The legacy top-level range becomes the first range set. */
	if (json_object_get(ipam, "subnet")) {
		r = parse_range(ipam, "ipam", &c->sets[0].ranges[0], err);
		if (r < 0)
			return r;
		c->sets[0].n = 1;
		c->n_sets = 1;
		legacy = true;
	}
	ranges = json_object_get(ipam, "ranges");
	if (ranges && !json_is_null(ranges)) {
		size_t i;
		json_t *v;

		if (!json_is_array(ranges))
			return invalid(err, "ipam.ranges: expected an array of range sets");
		if (json_array_size(ranges) + (size_t)c->n_sets > CNI_MAX_IPS)
			return invalid(err, "ipam.ranges: more than %d range sets", CNI_MAX_IPS);
		json_array_foreach(ranges, i, v) {
			r = parse_rangeset(v, (int)i, &c->sets[c->n_sets], err);
			if (r < 0)
				return r;
			c->n_sets++;
		}
	}
	if (c->n_sets == 0)
		return invalid(err, "ipam.ranges: no IP ranges specified (and no ipam.subnet)");
	r = check_overlaps(c, legacy, err);
	if (r < 0)
		return r;
	r = parse_routes(ipam, c, err);
	if (r < 0)
		return r;
	rc = json_object_get(ipam, "resolvConf");
	if (rc && !json_is_null(rc)) {
		if (!json_is_string(rc))
			return invalid(err, "ipam.resolvConf: expected a path");
		if (json_string_value(rc)[0]) {
			r = parse_resolv_conf(json_string_value(rc), &c->dns, err);
			if (r < 0)
				return r;
		}
	}
	r = parse_requests(netconf, env, c, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(c);
	return 0;
}

static void rangeset_describe(const struct ipam_rangeset *s, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < s->n && off < size; i++) {
		char a[64], b[64];
		int n = snprintf(buf + off, size - off, "%s%s-%s", i ? ", " : "",
				 ipaddr_str(&s->ranges[i].start, a, sizeof(a)),
				 ipaddr_str(&s->ranges[i].end, b, sizeof(b)));

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int store_open(const struct ipam_config *c, struct ipam_store **s, struct cni_error *err)
{
	char msg[512];
	int r = ipam_store_open(c->dir, s, msg, sizeof(msg));

	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_IO, "lease store in %s: %s", c->dir,
				msg[0] ? msg : strerror(-r));
	return 0;
}

static int store_fail(struct ipam_store *s, int r, const char *what, struct cni_error *err)
{
	if (r == -EBUSY)
		return cni_fail(err, EBUSY, CNI_ERR_TRY_AGAIN, "lease store busy while %s", what);
	return cni_fail(err, -r, CNI_ERR_IO, "lease store failed while %s: %s", what,
			ipam_store_errmsg(s));
}

/* Picks a free address in set idx, round robin from after the last
 * reserved one as host-local does: the rest of that range, the other
 * ranges in order, then the start of that range up to the last reserved. */
static int allocate(struct ipam_store *s, const struct ipam_rangeset *set, int idx,
		    struct ipaddr *out)
{
	struct ipaddr last, from;
	int k = -1, r;

	r = ipam_store_last_reserved(s, idx, &last);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0)
		k = rangeset_find(set, &last);
	if (k < 0) {
		for (int i = 0; i < set->n; i++) {
			const struct ipam_range *rg = &set->ranges[i];

			r = ipam_store_next_free(s, &rg->start, &rg->end, &rg->gateway, out);
			if (r != -ENOSPC)
				return r;
		}
		return -ENOSPC;
	}
	from = last;
	if (ipaddr_cmp(&last, &set->ranges[k].end) < 0 && ipam_addr_inc(&from)) {
		r = ipam_store_next_free(s, &from, &set->ranges[k].end, &set->ranges[k].gateway, out);
		if (r != -ENOSPC)
			return r;
	}
	for (int j = 1; j < set->n; j++) {
		const struct ipam_range *rg = &set->ranges[(k + j) % set->n];

		r = ipam_store_next_free(s, &rg->start, &rg->end, &rg->gateway, out);
		if (r != -ENOSPC)
			return r;
	}
	return ipam_store_next_free(s, &set->ranges[k].start, &last, &set->ranges[k].gateway, out);
}

static int request_in_set(const struct ipam_config *c, int set, bool *used)
{
	for (int i = 0; i < c->n_requested; i++)
		if (!used[i] && rangeset_find(&c->sets[set], &c->requested[i].ip) >= 0)
			return i;
	return -1;
}

/* The body of ADD, inside the transaction; got[set] is the address. */
static int add_locked(struct ipam_config *c, struct ipam_store *s, const char *container_id,
		      const char *ifname, struct ipaddr *got, struct cni_error *err)
{
	struct ipam_lease held[CNI_MAX_IPS * 2];
	bool used[CNI_MAX_IPS] = { false };
	char a[64], b[256];
	int n_held, r;

	n_held = ipam_store_owner_leases(s, container_id, ifname, held, (int)ARRAY_SIZE(held));
	if (n_held < 0)
		return store_fail(s, n_held, "reading leases", err);

	for (int set = 0; set < c->n_sets; set++) {
		const struct ipam_rangeset *rs = &c->sets[set];
		int req = request_in_set(c, set, used), h;
		struct ipam_lease owner;

		if (req >= 0)
			used[req] = true;
		for (h = 0; h < n_held; h++)
			if (rangeset_find(rs, &held[h].ip) >= 0)
				break;
		if (h < n_held) {
			/* Idempotent ADD: the attachment keeps what it has. */
			if (req >= 0 && ipaddr_cmp(&held[h].ip, &c->requested[req].ip) != 0)
				return cni_fail(err, EEXIST, CNI_ERR_INTERNAL,
						"%s: %s requested, but %s/%s already holds %s",
						c->requested[req].field,
						ipaddr_str(&c->requested[req].ip, a, sizeof(a)),
						container_id, ifname,
						ipaddr_str(&held[h].ip, b, sizeof(b)));
			got[set] = held[h].ip;
			continue;
		}
		if (req >= 0) {
			const struct ipaddr *want = &c->requested[req].ip;
			int k = rangeset_find(rs, want);

			if (ipaddr_cmp(want, &rs->ranges[k].gateway) == 0)
				return invalid(err, "%s: %s is the gateway of the range",
					       c->requested[req].field, ipaddr_str(want, a, sizeof(a)));
			r = ipam_store_lookup(s, want, &owner);
			if (r < 0)
				return store_fail(s, r, "looking up a lease", err);
			if (r > 0)
				return cni_fail(err, EADDRINUSE, CNI_ERR_INTERNAL,
						"%s: %s is already leased to %s/%s",
						c->requested[req].field, ipaddr_str(want, a, sizeof(a)),
						owner.container_id, owner.ifname);
			got[set] = *want;
		} else {
			r = allocate(s, rs, set, &got[set]);
			if (r == -ENOSPC) {
				rangeset_describe(rs, b, sizeof(b));
				return cni_fail(err, ENOSPC, CNI_ERR_TRY_AGAIN,
						"no free address in range set %d (%s)", set, b);
			}
			if (r < 0)
				return store_fail(s, r, "allocating", err);
		}
		r = ipam_store_insert(s, &got[set], set, container_id, ifname);
		if (r == 0)
			r = ipam_store_set_last_reserved(s, set, &got[set]);
		if (r < 0)
			return store_fail(s, r, "writing a lease", err);
	}
	for (int i = 0; i < c->n_requested; i++) {
		if (used[i])
			continue;
		for (int set = 0; set < c->n_sets; set++)
			if (rangeset_find(&c->sets[set], &c->requested[i].ip) >= 0)
				return invalid(err, "%s: %s is a second address in range set %d "
					       "(one address per range set)", c->requested[i].field,
					       ipaddr_str(&c->requested[i].ip, a, sizeof(a)), set);
		return invalid(err, "%s: %s is in no range of ipam.ranges", c->requested[i].field,
			       ipaddr_str(&c->requested[i].ip, a, sizeof(a)));
	}
	return 0;
}

int ipam_add(struct ipam_config *c, const char *container_id, const char *ifname,
	     struct cni_result *out, struct cni_error *err)
{
	_cleanup_(ipam_store_closep) struct ipam_store *s = NULL;
	struct ipaddr got[CNI_MAX_IPS];
	int r;

	if (!container_id || !container_id[0])
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID: missing");
	if (!ifname || !ifname[0])
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_IFNAME: missing");
	if (out->n_ips + c->n_sets > CNI_MAX_IPS ||
	    out->n_routes + c->n_routes > CNI_MAX_ROUTES)
		return cni_fail(err, E2BIG, CNI_ERR_INTERNAL, "result has no room for the addresses");
	r = store_open(c, &s, err);
	if (r < 0)
		return r;
	r = ipam_store_begin(s);
	if (r < 0)
		return store_fail(s, r, "locking", err);
	r = add_locked(c, s, container_id, ifname, got, err);
	if (r == 0) {
		r = ipam_store_commit(s);
		if (r < 0)
			r = store_fail(s, r, "committing", err);
	}
	if (r < 0) {
		ipam_store_rollback(s);
		return r;
	}

	for (int set = 0; set < c->n_sets; set++) {
		const struct ipam_rangeset *rs = &c->sets[set];
		const struct ipam_range *rg = &rs->ranges[rangeset_find(rs, &got[set])];
		struct cni_ip *ip = &out->ips[out->n_ips++];

		memset(ip, 0, sizeof(*ip));
		ip->address.addr = got[set];
		ip->address.len = rg->subnet.len;
		ip->has_gateway = true;
		ip->gateway = rg->gateway;
		ip->interface = -1;
	}
	for (int i = 0; i < c->n_routes; i++)
		out->routes[out->n_routes++] = c->routes[i];
	if (c->dns && !out->dns)
		out->dns = json_deep_copy(c->dns);
	return 0;
}

static bool store_exists(const struct ipam_config *c)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/leases.db", c->dir);
	return stat(path, &st) == 0;
}

int ipam_del(struct ipam_config *c, const char *container_id, const char *ifname,
	     struct cni_error *err)
{
	_cleanup_(ipam_store_closep) struct ipam_store *s = NULL;
	int r;

	if (!container_id || !container_id[0])
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID: missing");
	if (!ifname || !ifname[0])
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_IFNAME: missing");
	/* Nothing was ever leased: nothing to release, and no folder made. */
	if (!store_exists(c))
		return 0;
	r = store_open(c, &s, err);
	if (r < 0)
		return r;
	r = ipam_store_release(s, container_id, ifname);
	if (r < 0)
		return store_fail(s, r, "releasing", err);
	return 0;
}

int ipam_check(struct ipam_config *c, const char *container_id, const char *ifname,
	       struct cni_error *err)
{
	_cleanup_(ipam_store_closep) struct ipam_store *s = NULL;
	struct ipam_lease held[CNI_MAX_IPS * 2];
	char desc[256];
	int n, r;

	if (!container_id || !ifname)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID and CNI_IFNAME are required");
	if (!store_exists(c))
		return cni_fail(err, ENOENT, CNI_ERR_INTERNAL, "%s/%s holds no lease (no store in %s)",
				container_id, ifname, c->dir);
	r = store_open(c, &s, err);
	if (r < 0)
		return r;
	n = ipam_store_owner_leases(s, container_id, ifname, held, (int)ARRAY_SIZE(held));
	if (n < 0)
		return store_fail(s, n, "reading leases", err);
	for (int set = 0; set < c->n_sets; set++) {
		int h;

		for (h = 0; h < n; h++)
			if (rangeset_find(&c->sets[set], &held[h].ip) >= 0)
				break;
		if (h == n) {
			rangeset_describe(&c->sets[set], desc, sizeof(desc));
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"%s/%s holds no lease in range set %d (%s)", container_id,
					ifname, set, desc);
		}
	}
	return 0;
}

int ipam_gc(struct ipam_config *c, json_t *valid, struct cni_error *err)
{
	_cleanup_(ipam_store_closep) struct ipam_store *s = NULL;
	_cleanup_free_ struct ipam_attachment *keep = NULL;
	size_t i, n;
	json_t *v;
	int r;

	if (!json_is_array(valid))
		return invalid(err, "cni.dev/valid-attachments: expected an array");
	n = json_array_size(valid);
	keep = calloc(n ? n : 1, sizeof(*keep));
	if (!keep)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	json_array_foreach(valid, i, v) {
		json_t *cid = json_object_get(v, "containerID");
		json_t *ifn = json_object_get(v, "ifname");

		if (!json_is_object(v))
			return invalid(err, "cni.dev/valid-attachments[%zu]: expected an object", i);
		if (!json_is_string(cid))
			return invalid(err, "cni.dev/valid-attachments[%zu].containerID: expected a string", i);
		if (!json_is_string(ifn))
			return invalid(err, "cni.dev/valid-attachments[%zu].ifname: expected a string", i);
		keep[i].container_id = json_string_value(cid);
		keep[i].ifname = json_string_value(ifn);
	}
	if (!store_exists(c))
		return 0;
	r = store_open(c, &s, err);
	if (r < 0)
		return r;
	r = ipam_store_gc(s, keep, n);
	if (r < 0)
		return store_fail(s, r, "collecting garbage", err);
	return r;
}

int ipam_status(struct ipam_config *c, struct cni_error *err)
{
	_cleanup_(ipam_store_closep) struct ipam_store *s = NULL;
	char desc[256];
	char msg[512];
	int r = ipam_store_open(c->dir, &s, msg, sizeof(msg));

	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_NOT_AVAILABLE, "lease store in %s: %s", c->dir,
				msg[0] ? msg : strerror(-r));
	/* ADD needs one address in every range set. */
	for (int set = 0; set < c->n_sets; set++) {
		const struct ipam_rangeset *rs = &c->sets[set];
		struct ipaddr free_ip;

		r = -ENOSPC;
		for (int i = 0; i < rs->n && r == -ENOSPC; i++)
			r = ipam_store_next_free(s, &rs->ranges[i].start, &rs->ranges[i].end,
						 &rs->ranges[i].gateway, &free_ip);
		if (r == -ENOSPC) {
			rangeset_describe(rs, desc, sizeof(desc));
			return cni_fail(err, ENOSPC, CNI_ERR_NOT_AVAILABLE,
					"no free address in range set %d (%s)", set, desc);
		}
		if (r < 0)
			return cni_fail(err, -r, CNI_ERR_NOT_AVAILABLE, "lease store: %s",
					ipam_store_errmsg(s));
	}
	return 0;
}
