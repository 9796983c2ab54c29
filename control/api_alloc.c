/* Service ClusterIP and NodePort allocation. Each allocated address or
 * port is a key in the store (/registry/ranges/serviceips/<ip>,
 * /registry/ranges/servicenodeports/<port>) created with store_create, so
 * two services can never hold the same one, even across restarts. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "control/api_internal.h"
#include "util.h"

#define IP_PREFIX "/registry/ranges/serviceips/"
#define PORT_PREFIX "/registry/ranges/servicenodeports/"

static int claim(struct api_server *s, const char *key, json_t *svc)
{
	char owner[600];

	snprintf(owner, sizeof(owner), "%s/%s", api_jstr(svc, "metadata.namespace") ?: "",
		 api_jstr(svc, "metadata.name") ?: "");
	return store_create(s->store, key, owner, strlen(owner), NULL);
}

static void release_key(struct api_server *s, const char *key)
{
	store_delete(s->store, key, 0, NULL, NULL);
}

static bool key_taken(struct api_server *s, const char *key)
{
	struct store_kv kv = { 0 };

	if (store_get(s->store, key, &kv) < 0)
		return false;
	store_kv_clear(&kv);
	return true;
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)now_ns();
	return v;
}

static bool in_range(struct api_server *s, const char *ip)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	h = ntohl(a.s_addr);
	return h > s->svc_base && h < s->svc_base + s->svc_size - 1;
}

static int alloc_ip(struct api_server *s, json_t *svc, bool dry, char *out, size_t len)
{
	uint32_t usable = s->svc_size - 3; /* network, .1 (kubernetes), broadcast */
	uint32_t start = rnd32() % usable;

	for (uint32_t i = 0; i < usable; i++) {
		uint32_t h = s->svc_base + 2 + (start + i) % usable;
		struct in_addr a = { .s_addr = htonl(h) };
		char key[128];
		int r;

		inet_ntop(AF_INET, &a, out, (socklen_t)len);
		snprintf(key, sizeof(key), IP_PREFIX "%s", out);
		r = dry ? (key_taken(s, key) ? -EEXIST : 0) : claim(s, key, svc);
		if (r == 0)
			return 0;
		if (r != -EEXIST)
			return r;
	}
	return -ENOSPC;
}

static int alloc_port(struct api_server *s, json_t *svc, bool dry, int *out)
{
	int lo = s->cfg.node_port_min, hi = s->cfg.node_port_max;
	int n = hi - lo + 1, start = (int)(rnd32() % (uint32_t)n);

	for (int i = 0; i < n; i++) {
		int p = lo + (start + i) % n;
		char key[128];
		int r;

		snprintf(key, sizeof(key), PORT_PREFIX "%d", p);
		r = dry ? (key_taken(s, key) ? -EEXIST : 0) : claim(s, key, svc);
		if (r == 0) {
			*out = p;
			return 0;
		}
		if (r != -EEXIST)
			return r;
	}
	return -ENOSPC;
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

static void invalid(struct api_err *e, json_t *svc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void invalid(struct api_err *e, json_t *svc, const char *field, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	json_t *causes = json_array();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_cause(causes, "FieldValueInvalid", field, "%s", msg);
	api_err_set(e, 422, "Invalid", "Service \"%s\" is invalid: %s: %s",
		    api_jstr(svc, "metadata.name") ?: "", field, msg);
	e->kind = "Service";
	snprintf(e->name, sizeof(e->name), "%s", api_jstr(svc, "metadata.name") ?: "");
	e->causes = causes;
}

int api_alloc_service(struct api_server *s, json_t *svc, json_t *old, bool dry_run,
		      struct api_err *e)
{
	json_t *spec = json_object_get(svc, "spec"), *p;
	const char *type = api_jstr(spec, "type");
	const char *ip = api_jstr(spec, "clusterIP");
	const char *old_ip = old ? api_jstr(old, "spec.clusterIP") : NULL;
	bool want_ports = streq(type, "NodePort") || streq(type, "LoadBalancer");
	char buf[64];
	size_t i;
	int r;

	if (!json_is_object(spec))
		return 0;
	if (streq(type, "ExternalName")) {
		json_object_del(spec, "clusterIP");
		json_object_del(spec, "clusterIPs");
	} else if (old_ip && (!ip || !*ip)) {
		json_object_set_new(spec, "clusterIP", json_string(old_ip));
		json_object_set(spec, "clusterIPs", api_jget(old, "spec.clusterIPs"));
	} else if (old_ip && !streq(ip, old_ip)) {
		invalid(e, svc, "spec.clusterIPs[0]", "Invalid value: []string{\"%s\"}: may not change once set", ip);
		return -EINVAL;
	} else if (!old_ip && (!ip || !*ip)) {
		r = alloc_ip(s, svc, dry_run, buf, sizeof(buf));
		if (r < 0) {
			api_err_set(e, 500, "InternalError",
				    "Internal error occurred: failed to allocate a serviceIP: %s",
				    r == -ENOSPC ? "range is full" : strerror(-r));
			return r;
		}
		json_object_set_new(spec, "clusterIP", json_string(buf));
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", buf));
	} else if (!old_ip && !streq(ip, "None")) {
		char key[128];

		if (!in_range(s, ip)) {
			invalid(e, svc, "spec.clusterIPs", "Invalid value: []string{\"%s\"}: failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s",
				ip, ip, s->cfg.service_cidr ? s->cfg.service_cidr : "10.43.0.0/16");
			return -EINVAL;
		}
		snprintf(key, sizeof(key), IP_PREFIX "%s", ip);
		r = dry_run ? (key_taken(s, key) ? -EEXIST : 0) : claim(s, key, svc);
		if (r == -EEXIST) {
			invalid(e, svc, "spec.clusterIPs", "Invalid value: []string{\"%s\"}: failed to allocate IP %s: provided IP is already allocated", ip, ip);
			return r;
		}
		if (r < 0)
			return r;
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
	} else if (streq(ip, "None")) {
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", "None"));
	}
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		json_t *np = json_object_get(p, "nodePort");
		json_t *op = old ? find_port(old, p) : NULL;
		json_int_t want = json_integer_value(np);
		char key[128], field[64];

		if (!want_ports) {
			json_object_del(p, "nodePort");
			continue;
		}
		if (!want && op && json_integer_value(json_object_get(op, "nodePort"))) {
			json_object_set(p, "nodePort", json_object_get(op, "nodePort"));
			continue;
		}
		if (want && old && has_node_port(old, want))
			continue;
		snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
		if (want) {
			if (want < s->cfg.node_port_min || want > s->cfg.node_port_max) {
				invalid(e, svc, field, "Invalid value: %lld: provided port is not in the valid range. The range of valid ports is %d-%d",
					(long long)want, s->cfg.node_port_min, s->cfg.node_port_max);
				goto undo;
			}
			snprintf(key, sizeof(key), PORT_PREFIX "%lld", (long long)want);
			r = dry_run ? (key_taken(s, key) ? -EEXIST : 0) : claim(s, key, svc);
			if (r == -EEXIST) {
				invalid(e, svc, field, "Invalid value: %lld: provided port is already allocated",
					(long long)want);
				goto undo;
			}
		} else {
			int port = 0;

			r = alloc_port(s, svc, dry_run, &port);
			if (r == 0)
				json_object_set_new(p, "nodePort", json_integer(port));
			else
				api_err_set(e, 500, "InternalError",
					    "Internal error occurred: failed to allocate a nodePort: %s",
					    strerror(-r));
		}
		if (r < 0)
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
	const char *ip = api_jstr(svc, "spec.clusterIP");
	json_t *p;
	size_t i;
	char key[128];

	if (ip && *ip && !streq(ip, "None") && !(keep && streq(api_jstr(keep, "spec.clusterIP"), ip))) {
		snprintf(key, sizeof(key), IP_PREFIX "%s", ip);
		release_key(s, key);
	}
	json_array_foreach(api_jget(svc, "spec.ports"), i, p) {
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

		if (!np || (keep && has_node_port(keep, np)))
			continue;
		snprintf(key, sizeof(key), PORT_PREFIX "%lld", (long long)np);
		release_key(s, key);
	}
}
