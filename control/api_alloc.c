/* Service ClusterIP (IPv4, IPv6, dual-stack) and NodePort allocation.
 * Each allocated address or port is a key in the store
 * (/registry/ranges/serviceips/<ip>, /registry/ranges/servicenodeports/<port>)
 * created with store_create, so two services can never hold the same one,
 * even across restarts and between servers on one store; deleting the
 * service deletes the keys. The repair pass gives back keys no service
 * holds (a server stopped between claiming and creating, say). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define IP_PREFIX "/registry/ranges/serviceips/"
#define PORT_PREFIX "/registry/ranges/servicenodeports/"

/* ---- ranges ---- */

static int range_parse(const char *cidr, struct api_svc_range *r)
{
	char buf[64];
	char *slash, *end;
	long bits;

	if (strscpy(buf, cidr, sizeof(buf)) < 0)
		return -EINVAL;
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	bits = strtol(slash + 1, &end, 10);
	if (*end)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	snprintf(r->text, sizeof(r->text), "%s", cidr);
	if (inet_pton(AF_INET, buf, r->base) == 1) {
		uint32_t h;

		if (bits < 12 || bits > 30)
			return -EINVAL;
		r->family = AF_INET;
		memcpy(&h, r->base, 4);
		h = htonl(ntohl(h) & (0xffffffffu << (32 - bits)));
		memcpy(r->base, &h, 4);
		r->size = 1u << (32 - bits);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, r->base) == 1) {
		if (bits < 108 || bits > 126)
			return -EINVAL;
		r->family = AF_INET6;
		for (int i = 0; i < 16; i++) {
			int keep = (int)bits - i * 8;

			if (keep <= 0)
				r->base[i] = 0;
			else if (keep < 8)
				r->base[i] &= (unsigned char)(0xff << (8 - keep));
		}
		r->size = 1u << (128 - bits);
		return 0;
	}
	return -EINVAL;
}

int api_svc_ranges_parse(const char *csv, struct api_svc_range *out, size_t *n)
{
	char buf[160];
	char *save = NULL;
	size_t count = 0;

	if (strscpy(buf, csv, sizeof(buf)) < 0)
		return -EINVAL;
	for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		if (count == 2 || range_parse(c, &out[count]) < 0)
			return -EINVAL;
		count++;
	}
	if (count == 0 || (count == 2 && out[0].family == out[1].family))
		return -EINVAL;
	*n = count;
	return 0;
}

void api_svc_range_addr(const struct api_svc_range *r, uint32_t k, char *buf, size_t len)
{
	unsigned char a[16];
	int last = r->family == AF_INET ? 3 : 15;

	memcpy(a, r->base, 16);
	for (int i = last; i >= 0 && k; i--) {
		uint32_t sum = a[i] + (k & 0xff);

		a[i] = (unsigned char)sum;
		k = (k >> 8) + (sum >> 8);
	}
	inet_ntop(r->family, a, buf, (socklen_t)len);
}

/* The offset of ip in the range, or -1 outside it. Ranges are at most
 * 2^20 addresses, so only the last four bytes vary. */
static int64_t range_offset(const struct api_svc_range *r, const char *ip)
{
	unsigned char a[16] = { 0 };
	int n = r->family == AF_INET ? 4 : 16;
	uint32_t off = 0, base = 0;

	if (inet_pton(r->family, ip, a) != 1 || memcmp(a, r->base, (size_t)(n - 4)) != 0)
		return -1;
	for (int i = n - 4; i < n; i++) {
		off = (off << 8) | a[i];
		base = (base << 8) | r->base[i];
	}
	if (off < base || off - base >= r->size)
		return -1;
	return (int64_t)(off - base);
}

static int family_of(const char *ip)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, ip, a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, ip, a) == 1)
		return AF_INET6;
	return 0;
}

static const char *family_name(int f)
{
	return f == AF_INET6 ? "IPv6" : "IPv4";
}

static const struct api_svc_range *range_for(struct api_server *s, int family)
{
	for (size_t i = 0; i < s->n_ranges; i++)
		if (s->ranges[i].family == family)
			return &s->ranges[i];
	return NULL;
}

/* ---- keys ---- */

static int claim(struct api_server *s, const char *key, json_t *svc)
{
	char owner[600];

	snprintf(owner, sizeof(owner), "%s/%s", api_jstr(svc, "metadata.namespace") ?: "",
		 api_jstr(svc, "metadata.name") ?: "");
	return store_create(s->store, key, owner, strlen(owner), NULL);
}

static bool key_taken(struct api_server *s, const char *key)
{
	struct store_kv kv = { 0 };

	if (store_get(s->store, key, &kv) < 0)
		return false;
	store_kv_clear(&kv);
	return true;
}

static int take(struct api_server *s, const char *key, json_t *svc, bool dry)
{
	return dry ? (key_taken(s, key) ? -EEXIST : 0) : claim(s, key, svc);
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)now_ns();
	return v;
}

/* Where a dynamic allocation looks, as upstream's allocators
 * (KEP-3070 for ClusterIPs, KEP-3668 for NodePorts): the range's first
 * min(max(16, n/step), max) offsets (step 16 and max 256 for addresses,
 * 32 and 128 for ports) are a band kept for what users ask for, tried
 * last. A few random offsets of the upper band first, since a
 * linear probe from a random start walks a whole block of taken offsets
 * (10,000 Services made one after another are one block, and each probe
 * is a store write); then every offset, upper band then lower, so a
 * nearly full range still finds its last free one. */
#define RANDOM_TRIES 16

struct probe {
	uint32_t step, max; /* of the static band */
	int (*take_at)(struct api_server *s, json_t *svc, bool dry, uint32_t off, void *ctx);
	void *ctx;
};

static int scan_band(struct api_server *s, json_t *svc, bool dry, const struct probe *p,
		     uint32_t lo, uint32_t hi)
{
	uint32_t n = hi - lo, start;

	if (!n)
		return -EEXIST;
	start = rnd32() % n;
	for (uint32_t i = 0; i < n; i++) {
		int r = p->take_at(s, svc, dry, lo + (start + i) % n, p->ctx);

		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

static int probe_range(struct api_server *s, json_t *svc, bool dry, const struct probe *p,
		       uint32_t n)
{
	uint32_t band = n / p->step < 16 ? 16 : n / p->step > p->max ? p->max : n / p->step;
	int r;

	if (band >= n)
		band = 0;
	for (int i = 0; i < RANDOM_TRIES && n - band > 0; i++) {
		r = p->take_at(s, svc, dry, band + rnd32() % (n - band), p->ctx);
		if (r != -EEXIST)
			return r;
	}
	r = scan_band(s, svc, dry, p, band, n);
	if (r == -EEXIST)
		r = scan_band(s, svc, dry, p, 0, band);
	return r == -EEXIST ? -ENOSPC : r;
}

struct ip_out {
	const struct api_svc_range *r;
	char *out;
	size_t len;
};

/* Usable offset i is the range's address 2 + i: not the network
 * address, not offset 1 (the kubernetes service), not the IPv4
 * broadcast address. */
static int take_ip(struct api_server *s, json_t *svc, bool dry, uint32_t i, void *ctx)
{
	struct ip_out *o = ctx;
	char key[128];

	api_svc_range_addr(o->r, 2 + i, o->out, o->len);
	snprintf(key, sizeof(key), IP_PREFIX "%s", o->out);
	return take(s, key, svc, dry);
}

static int alloc_ip(struct api_server *s, const struct api_svc_range *r, json_t *svc, bool dry,
		    char *out, size_t len)
{
	struct ip_out o = { r, out, len };
	struct probe p = { 16, 256, take_ip, &o };

	return probe_range(s, svc, dry, &p, r->size - (r->family == AF_INET ? 3 : 2));
}

static int take_port(struct api_server *s, json_t *svc, bool dry, uint32_t i, void *ctx)
{
	int *out = ctx;
	char key[128];

	*out = s->cfg.node_port_min + (int)i;
	snprintf(key, sizeof(key), PORT_PREFIX "%d", *out);
	return take(s, key, svc, dry);
}

static int alloc_port(struct api_server *s, json_t *svc, bool dry, int *out)
{
	struct probe p = { 32, 128, take_port, out };

	return probe_range(s, svc, dry, &p,
			   (uint32_t)(s->cfg.node_port_max - s->cfg.node_port_min + 1));
}

static json_t *find_port(json_t *svc, json_t *p)
{
	json_t *q;
	size_t i;

	json_array_foreach(api_jget(svc, "spec.ports"), i, q) {
		if (json_equal(json_object_get(q, "port"), json_object_get(p, "port")) &&
		    json_equal(json_object_get(q, "protocol"), json_object_get(p, "protocol")))
			return q;
	}
	return NULL;
}

static bool has_node_port(json_t *svc, json_int_t port)
{
	json_t *p;
	size_t i;

	json_array_foreach(api_jget(svc, "spec.ports"), i, p) {
		if (json_integer_value(json_object_get(p, "nodePort")) == port)
			return true;
	}
	return false;
}

static bool has_ip(json_t *svc, const char *ip)
{
	json_t *e;
	size_t i;

	if (!svc)
		return false;
	if (streq(api_jstr(svc, "spec.clusterIP"), ip))
		return true;
	json_array_foreach(api_jget(svc, "spec.clusterIPs"), i, e) {
		if (streq(json_string_value(e), ip))
			return true;
	}
	return false;
}

static void invalid(struct api_err *e, json_t *svc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void invalid(struct api_err *e, json_t *svc, const char *field, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	json_t *causes = json_array();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_cause(causes, "FieldValueInvalid", field, "%s", msg);
	api_err_invalid(e, api_resource_find("", "v1", "services"), api_jstr(svc, "metadata.name"),
			causes);
}

/* ---- cluster IPs ---- */

/* Decides ipFamilies from the policy, the addresses asked for and the
 * ranges this server has; fills want[] (families in order). */
static int families(struct api_server *s, json_t *spec, int want[2], size_t *n, json_t *svc,
		    struct api_err *e)
{
	char pbuf[32];
	const char *policy = api_jstr(spec, "ipFamilyPolicy");
	json_t *fams = json_object_get(spec, "ipFamilies"), *ips = json_object_get(spec, "clusterIPs");
	json_t *x;
	size_t i;

	*n = 0;
	if (!policy)
		policy = json_array_size(fams) > 1 || json_array_size(ips) > 1 ? "RequireDualStack"
									       : "SingleStack";
	if (!streq(policy, "SingleStack") && !streq(policy, "PreferDualStack") &&
	    !streq(policy, "RequireDualStack")) {
		invalid(e, svc, "spec.ipFamilyPolicy", "Unsupported value: \"%s\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"", policy);
		return -EINVAL;
	}
	/* Copied first: setting the field frees the string policy points to. */
	snprintf(pbuf, sizeof(pbuf), "%s", policy);
	policy = pbuf;
	json_object_set_new(spec, "ipFamilyPolicy", json_string(policy));
	json_array_foreach(fams, i, x) {
		const char *f = json_string_value(x);
		int fam = streq(f, "IPv4") ? AF_INET : streq(f, "IPv6") ? AF_INET6 : 0;
		char field[48];

		snprintf(field, sizeof(field), "spec.ipFamilies[%zu]", i);
		if (!fam) {
			invalid(e, svc, field, "Unsupported value: \"%s\": supported values: \"IPv4\", \"IPv6\"", f ? f : "");
			return -EINVAL;
		}
		if (!range_for(s, fam)) {
			invalid(e, svc, field, "Invalid value: \"%s\": not configured on this cluster", f);
			return -EINVAL;
		}
		if (*n < 2 && (*n == 0 || want[0] != fam))
			want[(*n)++] = fam;
	}
	json_array_foreach(ips, i, x) {
		int fam = family_of(json_string_value(x) ?: "");

		if (*n <= i && fam && (*n == 0 || want[0] != fam))
			want[(*n)++] = fam;
	}
	if (*n == 0)
		want[(*n)++] = s->ranges[0].family;
	if (!streq(policy, "SingleStack") && *n == 1 && s->n_ranges == 2)
		want[(*n)++] = s->ranges[0].family == want[0] ? s->ranges[1].family : s->ranges[0].family;
	if (streq(policy, "RequireDualStack") && *n < 2) {
		invalid(e, svc, "spec.ipFamilyPolicy", "Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services");
		return -EINVAL;
	}
	if (streq(policy, "SingleStack"))
		*n = 1;
	return 0;
}

static bool in_cluster_ips(json_t *svc, const char *ip)
{
	json_t *e;
	size_t i;

	json_array_foreach(api_jget(svc, "spec.clusterIPs"), i, e) {
		if (streq(json_string_value(e), ip))
			return true;
	}
	return false;
}

/* Gives back the addresses of svc not held by keep. */
static void release_ips(struct api_server *s, json_t *svc, json_t *keep)
{
	json_t *e;
	size_t i;
	char key[128];
	const char *ip = api_jstr(svc, "spec.clusterIP");

	json_array_foreach(api_jget(svc, "spec.clusterIPs"), i, e) {
		const char *x = json_string_value(e);

		if (!x || streq(x, "None") || has_ip(keep, x))
			continue;
		snprintf(key, sizeof(key), IP_PREFIX "%s", x);
		store_delete(s->store, key, 0, NULL, NULL);
	}
	if (ip && *ip && !streq(ip, "None") && !has_ip(keep, ip) && !in_cluster_ips(svc, ip)) {
		snprintf(key, sizeof(key), IP_PREFIX "%s", ip);
		store_delete(s->store, key, 0, NULL, NULL);
	}
}

/* Address i of svc from range rg: the one asked for (req), or a free one. */
static int alloc_cluster_ip(struct api_server *s, json_t *svc, const struct api_svc_range *rg,
			    const char *req, size_t i, bool dry, char *out, size_t len,
			    struct api_err *e)
{
	char field[48], key[128];
	int r;

	snprintf(field, sizeof(field), "spec.clusterIPs[%zu]", i);
	if (!rg) {
		/* A family only the address asked for named. */
		invalid(e, svc, field, "Invalid value: \"%s\": %s is not configured on this cluster",
			req ? req : "", family_name(family_of(req ? req : "")));
		return -EINVAL;
	}
	if (!req || !*req) {
		r = alloc_ip(s, rg, svc, dry, out, len);
		if (r < 0)
			api_err_set(e, 500, "InternalError",
				    "Internal error occurred: failed to allocate a serviceIP: %s",
				    r == -ENOSPC ? "range is full" : strerror(-r));
		return r;
	}
	if (family_of(req) != rg->family || range_offset(rg, req) < 1 ||
	    (rg->family == AF_INET && range_offset(rg, req) >= (int64_t)rg->size - 1)) {
		invalid(e, svc, field, "Invalid value: \"%s\": failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s",
			req, req, rg->text);
		return -EINVAL;
	}
	snprintf(key, sizeof(key), IP_PREFIX "%s", req);
	r = take(s, key, svc, dry);
	if (r == -EEXIST) {
		invalid(e, svc, field, "Invalid value: \"%s\": failed to allocate IP %s: provided IP is already allocated", req, req);
		return -EINVAL;
	}
	if (r < 0)
		api_err_store(e, r);
	snprintf(out, len, "%s", req);
	return r;
}

static int alloc_cluster_ips(struct api_server *s, json_t *svc, json_t *old, bool dry,
			     struct api_err *e)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *ip = api_jstr(spec, "clusterIP");
	json_t *asked = json_object_get(spec, "clusterIPs"), *ips, *fams;
	int want[2];
	size_t n, i;
	int r;

	if (old && api_jstr(old, "spec.clusterIP")) {
		/* Kept as they are: changing them is not allowed. */
		const char *old_ip = api_jstr(old, "spec.clusterIP");

		if (ip && *ip && !streq(ip, old_ip)) {
			invalid(e, svc, "spec.clusterIPs[0]", "Invalid value: []string{\"%s\"}: may not change once set", ip);
			return -EINVAL;
		}
		json_object_set(spec, "clusterIP", api_jget(old, "spec.clusterIP"));
		json_object_set(spec, "clusterIPs", api_jget(old, "spec.clusterIPs"));
		json_object_set(spec, "ipFamilies", api_jget(old, "spec.ipFamilies"));
		json_object_set(spec, "ipFamilyPolicy", api_jget(old, "spec.ipFamilyPolicy"));
		return 0;
	}
	if (ip && *ip && !json_array_size(asked)) {
		asked = json_pack("[s]", ip);
		json_object_set_new(spec, "clusterIPs", asked);
	}
	if (streq(ip, "None") || streq(json_string_value(json_array_get(asked, 0)), "None")) {
		json_object_set_new(spec, "clusterIP", json_string("None"));
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", "None"));
		if (families(s, spec, want, &n, svc, e) < 0)
			return -EINVAL;
		fams = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(fams, json_string(family_name(want[i])));
		json_object_set_new(spec, "ipFamilies", fams);
		return 0;
	}
	if (families(s, spec, want, &n, svc, e) < 0)
		return -EINVAL;
	ips = json_array();
	fams = json_array();
	for (i = 0; i < n; i++) {
		const char *req = json_string_value(json_array_get(asked, i));
		char buf[INET6_ADDRSTRLEN];

		r = alloc_cluster_ip(s, svc, range_for(s, want[i]), req, i, dry, buf, sizeof(buf), e);
		if (r < 0)
			goto undo;
		json_array_append_new(ips, json_string(buf));
		json_array_append_new(fams, json_string(family_name(want[i])));
	}
	json_object_set_new(spec, "clusterIP", json_string(json_string_value(json_array_get(ips, 0))));
	json_object_set_new(spec, "clusterIPs", ips);
	json_object_set_new(spec, "ipFamilies", fams);
	return 0;
undo:
	if (!dry) {
		json_t *partial = json_pack("{s:{s:O}}", "spec", "clusterIPs", ips);

		release_ips(s, partial, NULL);
		json_decref(partial);
	}
	json_decref(ips);
	json_decref(fams);
	return r;
}

/* ---- the entry points ---- */

/* The node port of port p (index i) of svc: kept from old, the one asked
 * for, or a free one. */
static int alloc_node_port(struct api_server *s, json_t *svc, json_t *old, json_t *p, size_t i,
			   bool dry, struct api_err *e)
{
	json_t *op = old ? find_port(old, p) : NULL;
	json_int_t want = json_integer_value(json_object_get(p, "nodePort"));
	char key[128], field[64];
	int port = 0, r;

	if (!want && op && json_integer_value(json_object_get(op, "nodePort"))) {
		json_object_set(p, "nodePort", json_object_get(op, "nodePort"));
		return 0;
	}
	if (want && old && has_node_port(old, want))
		return 0;
	if (!want) {
		r = alloc_port(s, svc, dry, &port);
		if (r == 0)
			json_object_set_new(p, "nodePort", json_integer(port));
		else
			api_err_set(e, 500, "InternalError",
				    "Internal error occurred: failed to allocate a nodePort: %s",
				    r == -ENOSPC ? "range is full" : strerror(-r));
		return r;
	}
	snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
	if (want < s->cfg.node_port_min || want > s->cfg.node_port_max) {
		invalid(e, svc, field, "Invalid value: %lld: provided port is not in the valid range. The range of valid ports is %d-%d",
			(long long)want, s->cfg.node_port_min, s->cfg.node_port_max);
		return -EINVAL;
	}
	snprintf(key, sizeof(key), PORT_PREFIX "%lld", (long long)want);
	r = take(s, key, svc, dry);
	if (r == -EEXIST)
		invalid(e, svc, field, "Invalid value: %lld: provided port is already allocated",
			(long long)want);
	else if (r < 0)
		api_err_store(e, r);
	return r;
}

int api_alloc_service(struct api_server *s, json_t *svc, json_t *old, bool dry_run,
		      struct api_err *e)
{
	json_t *spec = json_object_get(svc, "spec"), *p;
	const char *type = api_jstr(spec, "type");
	bool want_ports = streq(type, "NodePort") || streq(type, "LoadBalancer");
	size_t i;
	int r;

	if (!json_is_object(spec))
		return 0;
	if (streq(type, "ExternalName")) {
		json_object_del(spec, "clusterIP");
		json_object_del(spec, "clusterIPs");
	} else {
		r = alloc_cluster_ips(s, svc, old, dry_run, e);
		if (r < 0)
			return r;
	}
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		if (!want_ports)
			json_object_del(p, "nodePort");
		else if (alloc_node_port(s, svc, old, p, i, dry_run, e) < 0)
			goto undo;
	}
	return 0;
undo:
	/* Give back what this call took (those not held by old). */
	if (!dry_run) {
		json_t *partial = json_deep_copy(svc), *pp;
		size_t j;

		json_array_foreach(api_jget(partial, "spec.ports"), j, pp) {
			if (j >= i)
				json_object_del(pp, "nodePort");
		}
		api_alloc_release(s, partial, old);
		json_decref(partial);
	}
	return -EINVAL;
}

void api_alloc_release(struct api_server *s, json_t *svc, json_t *keep)
{
	json_t *p;
	size_t i;
	char key[128];

	release_ips(s, svc, keep);
	json_array_foreach(api_jget(svc, "spec.ports"), i, p) {
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

		if (!np || (keep && has_node_port(keep, np)))
			continue;
		snprintf(key, sizeof(key), PORT_PREFIX "%lld", (long long)np);
		store_delete(s->store, key, 0, NULL, NULL);
	}
}

/* ---- repair ---- */

/* Whether the service named by owner ("ns/name") holds the allocation
 * key (an address of spec.clusterIPs or a spec.ports[].nodePort). */
static bool owner_holds(struct api_server *s, const char *owner, const char *key)
{
	const struct api_resource *r = api_resource_find("", "v1", "services");
	char skey[700];
	struct store_kv kv = { 0 };
	json_t *svc, *v;
	bool held = false;
	size_t i;

	snprintf(skey, sizeof(skey), "/registry/core/services/%s", owner);
	if (!strchr(owner, '/') || store_get(s->store, skey, &kv) < 0)
		return false;
	svc = api_obj_from_kv(r, kv.value, kv.value_len, kv.mod_revision);
	store_kv_clear(&kv);
	if (strncmp(key, IP_PREFIX, strlen(IP_PREFIX)) == 0) {
		json_array_foreach(api_jget(svc, "spec.clusterIPs"), i, v)
			held = held || streq(json_string_value(v), key + strlen(IP_PREFIX));
	} else {
		long port = strtol(key + strlen(PORT_PREFIX), NULL, 10);

		json_array_foreach(api_jget(svc, "spec.ports"), i, v)
			held = held || json_integer_value(json_object_get(v, "nodePort")) == port;
	}
	json_decref(svc);
	return held;
}

static bool suspect_seen(const struct api_alloc_suspect *v, size_t n, const char *key,
			 int64_t mod_revision)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].mod_revision == mod_revision && streq(v[i].key, key))
			return true;
	return false;
}

int api_alloc_repair(struct api_server *s, struct api_alloc_repair *rep, size_t *released)
{
	static const char *const prefixes[] = { IP_PREFIX, PORT_PREFIX };
	struct api_alloc_suspect *next = NULL;
	size_t n_next = 0, freed = 0;
	int r = 0;

	for (size_t p = 0; r == 0 && p < ARRAY_SIZE(prefixes); p++) {
		struct store_kv *kvs = NULL;
		size_t n = 0;
		bool more;

		r = store_list(s->store, prefixes[p], NULL, 0, &kvs, &n, NULL, &more);
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (owner_holds(s, kvs[i].value, kvs[i].key))
				continue;
			/* Unheld twice, unchanged in between: nobody's claim in
			 * flight. The delete is conditional on that. */
			if (suspect_seen(rep->v, rep->n, kvs[i].key, kvs[i].mod_revision)) {
				if (store_delete(s->store, kvs[i].key, kvs[i].mod_revision, NULL,
						 NULL) == 0)
					freed++;
				continue;
			}
			{
				struct api_alloc_suspect *t = realloc(next, (n_next + 1) * sizeof(*t));

				if (!t) {
					r = -ENOMEM;
					break;
				}
				next = t;
				next[n_next].key = strdup(kvs[i].key);
				next[n_next].mod_revision = kvs[i].mod_revision;
				if (next[n_next].key)
					n_next++;
			}
		}
		store_kvs_free(kvs, n);
	}
	api_alloc_repair_clear(rep);
	rep->v = next;
	rep->n = n_next;
	if (released)
		*released = freed;
	return r;
}

void api_alloc_repair_clear(struct api_alloc_repair *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		free(rep->v[i].key);
	free(rep->v);
	rep->v = NULL;
	rep->n = 0;
}
