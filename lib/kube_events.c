/* The event recorder: see kube_events.h. */
#include "lib/kube_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"

#define KC_EVENTS_REMEMBERED 4096
#define KC_EVENT_MESSAGE_MAX 1024

struct kc_recorder {
	struct kc_client *c;
	char *component, *host;
	json_t *seen; /* correlation key -> { name, namespace, count, firstTimestamp } */
};

int kc_recorder_new(struct kc_client *c, const char *component, const char *host,
		    struct kc_recorder **out)
{
	struct kc_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->c = c;
	r->component = strdup(component);
	r->host = host ? strdup(host) : NULL;
	r->seen = json_object();
	if (!r->component || (host && !r->host) || !r->seen) {
		kc_recorder_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void kc_recorder_free(struct kc_recorder *r)
{
	if (!r)
		return;
	free(r->component);
	free(r->host);
	json_decref(r->seen);
	free(r);
}

static json_t *involved_object(const struct kc_resource *res, json_t *obj)
{
	char api_version[128];
	json_t *ref;
	const char *fields[] = { "namespace", "name", "uid", "resourceVersion" };

	if (res->group[0])
		snprintf(api_version, sizeof(api_version), "%s/%s", res->group, res->version);
	else
		snprintf(api_version, sizeof(api_version), "%s", res->version);
	ref = json_pack("{s:s,s:s}", "kind", res->kind, "apiVersion", api_version);
	for (size_t i = 0; ref && i < ARRAY_SIZE(fields); i++) {
		const char *v = kc_meta_str(obj, fields[i]);

		if (v && *v)
			json_object_set_new(ref, fields[i], json_string(v));
	}
	return ref;
}

/* What makes two events the same one (client-go's getEventKey). */
static char *correlation_key(struct kc_recorder *r, json_t *ref, const char *type,
			     const char *reason, const char *msg)
{
	const char *parts[] = {
		r->component,
		r->host ? r->host : "",
		json_string_value(json_object_get(ref, "kind")),
		json_string_value(json_object_get(ref, "apiVersion")),
		json_string_value(json_object_get(ref, "namespace")),
		json_string_value(json_object_get(ref, "name")),
		json_string_value(json_object_get(ref, "uid")),
		type,
		reason,
		msg,
	};
	size_t len = 0;
	char *key, *p;

	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		len += (parts[i] ? strlen(parts[i]) : 0) + 1;
	key = p = malloc(len);
	if (!key)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		p += sprintf(p, "%s%s", i ? "\n" : "", parts[i] ? parts[i] : "");
	return key;
}

static json_t *new_event(struct kc_recorder *r, json_t *ref, const char *ns, const char *type,
			 const char *reason, const char *msg, json_t *prev, const char *now)
{
	struct timespec ts;
	char name[400];
	json_t *ev, *source;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%s.%llx", json_string_value(json_object_get(ref, "name")),
		 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
	source = json_pack("{s:s}", "component", r->component);
	if (source && r->host)
		json_object_set_new(source, "host", json_string(r->host));
	ev = json_pack("{s:s,s:s,s:{s:s,s:s},s:O,s:s,s:s,s:s,s:o,s:s,s:s,s:I,s:s,s:s}",
		       "apiVersion", "v1", "kind", "Event", "metadata", "name",
		       prev ? json_string_value(json_object_get(prev, "name")) : name, "namespace",
		       ns, "involvedObject", ref, "type", type, "reason", reason, "message", msg,
		       "source", source, "firstTimestamp",
		       prev ? json_string_value(json_object_get(prev, "firstTimestamp")) : now,
		       "lastTimestamp", now, "count",
		       prev ? json_integer_value(json_object_get(prev, "count")) : (json_int_t)1,
		       "reportingComponent", r->component, "reportingInstance",
		       r->host ? r->host : "");
	return ev;
}

/* Records a repeat on the Event we made before: count + 1, lastTimestamp;
 * -ENOENT when that Event is gone. */
static int patch_repeat(struct kc_recorder *r, json_t *prev, const char *now)
{
	json_t *patch = json_pack("{s:I,s:s}", "count", json_integer_value(json_object_get(prev, "count")),
				  "lastTimestamp", now);
	int ret;

	if (!patch)
		return -ENOMEM;
	ret = kc_patch(r->c, kc_resource_find("events"), json_string_value(json_object_get(prev, "namespace")),
		       json_string_value(json_object_get(prev, "name")), NULL, KC_PATCH_STRATEGIC,
		       patch, NULL);
	json_decref(patch);
	return ret;
}

static int record(struct kc_recorder *r, json_t *ref, const char *type, const char *reason,
		  const char *msg)
{
	_cleanup_free_ char *key = correlation_key(r, ref, type, reason, msg);
	const char *ns = json_string_value(json_object_get(ref, "namespace"));
	json_t *prev, *ev;
	char now[32];
	int ret;

	if (!key)
		return -ENOMEM;
	kc_timestamp(0, now);
	prev = json_object_get(r->seen, key);
	if (prev) {
		json_object_set_new(prev, "count",
				    json_integer(json_integer_value(json_object_get(prev, "count")) + 1));
		ret = patch_repeat(r, prev, now);
		if (ret != -ENOENT)
			return ret;
	}
	ev = new_event(r, ref, ns && *ns ? ns : "default", type, reason, msg, prev, now);
	if (!ev)
		return -ENOMEM;
	ret = kc_create(r->c, kc_resource_find("events"), NULL, ev, NULL);
	if (ret == 0 && !prev) {
		if (json_object_size(r->seen) >= KC_EVENTS_REMEMBERED)
			json_object_clear(r->seen);
		json_object_set_new(r->seen, key,
				    json_pack("{s:s,s:s,s:I,s:s}", "name", kc_meta_str(ev, "name"),
					      "namespace", kc_meta_str(ev, "namespace"), "count",
					      (json_int_t)1, "firstTimestamp", now));
	}
	json_decref(ev);
	return ret;
}

int kc_event(struct kc_recorder *r, const struct kc_resource *res, json_t *obj,
	     const char *type, const char *reason, const char *fmt, ...)
{
	char msg[KC_EVENT_MESSAGE_MAX];
	json_t *ref;
	va_list ap;
	int ret;

	if (!kc_meta_str(obj, "name"))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ref = involved_object(res, obj);
	if (!ref)
		return -ENOMEM;
	ret = record(r, ref, type, reason, msg);
	json_decref(ref);
	return ret;
}
