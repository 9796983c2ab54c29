/* The network configuration of skiff-cni: one table of top-level keys,
 * each with its type and check, then the version rules of the spec. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cni/plugin.h"
#include "lib/util.h"

enum key_type { KEY_STRING, KEY_INT, KEY_OBJECT, KEY_ARRAY };

static int check_mtu(json_t *v, struct cni_error *err)
{
	json_int_t mtu = json_integer_value(v);

	if (mtu < 68 || mtu > 65535)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"mtu: %lld is out of range (68 to 65535)", (long long)mtu);
	return 0;
}

static int check_name(json_t *v, struct cni_error *err)
{
	const char *s = json_string_value(v);

	/* The spec's network name syntax: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
	if (!cni_container_id_valid(s))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"name \"%s\" is invalid: must start with a letter or digit, then only letters, digits, '_', '.' or '-'",
				s);
	return 0;
}

static int check_type(json_t *v, struct cni_error *err)
{
	if (json_string_length(v) == 0)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "type: must not be empty");
	return 0;
}

static int check_forwarding(json_t *v, struct cni_error *err)
{
	const char *s = json_string_value(v);

	if (!streq(s, "global") && !streq(s, "interface"))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"forwarding: \"%s\" is neither \"global\" nor \"interface\"", s);
	return 0;
}

static const struct netconf_key {
	const char *key;
	enum key_type type;
	bool required;
	int (*check)(json_t *v, struct cni_error *err);
} netconf_keys[] = {
	{ "name", KEY_STRING, true, check_name },
	{ "type", KEY_STRING, true, check_type },
	{ "mtu", KEY_INT, false, check_mtu },
	{ "forwarding", KEY_STRING, false, check_forwarding },
	{ "ipam", KEY_OBJECT, true, NULL },
	{ "dns", KEY_OBJECT, false, NULL },
	{ "args", KEY_OBJECT, false, NULL },
	{ "runtimeConfig", KEY_OBJECT, false, NULL },
	{ "capabilities", KEY_OBJECT, false, NULL },
	{ "prevResult", KEY_OBJECT, false, NULL },
	{ "cni.dev/valid-attachments", KEY_ARRAY, false, NULL },
	{ "cni.dev/attachments", KEY_ARRAY, false, NULL },
};

static const char *const key_type_names[] = {
	[KEY_STRING] = "a string",
	[KEY_INT] = "an integer",
	[KEY_OBJECT] = "an object",
	[KEY_ARRAY] = "an array",
};

static bool key_type_ok(json_t *v, enum key_type t)
{
	switch (t) {
	case KEY_STRING:
		return json_is_string(v);
	case KEY_INT:
		return json_is_integer(v);
	case KEY_OBJECT:
		return json_is_object(v);
	case KEY_ARRAY:
		return json_is_array(v);
	}
	return false;
}

static int check_keys(json_t *root, enum cni_cmd cmd, struct cni_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(netconf_keys); i++) {
		const struct netconf_key *k = &netconf_keys[i];
		json_t *v = json_object_get(root, k->key);
		int r;

		if (!v || json_is_null(v)) {
			/* STATUS and GC may come with a smaller config. */
			if (k->required && (cmd != CNI_CMD_STATUS || streq(k->key, "ipam")))
				return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
						"%s: required field missing", k->key);
			continue;
		}
		if (!key_type_ok(v, k->type))
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "%s: must be %s", k->key,
					key_type_names[k->type]);
		if (k->check && (r = k->check(v, err)) < 0)
			return r;
	}
	return 0;
}

/* Appends the entries of list (named key) to out after checking them. */
static int merge_attachments(json_t *list, const char *key, json_t *out, struct cni_error *err)
{
	size_t i;
	json_t *a;

	json_array_foreach(list, i, a) {
		json_t *id = json_object_get(a, "containerID");
		json_t *ifn = json_object_get(a, "ifname");

		if (!json_is_object(a))
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "%s[%zu]: must be an object",
					key, i);
		if (!json_is_string(id) || !cni_container_id_valid(json_string_value(id)))
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s[%zu].containerID: must be a valid container ID", key, i);
		if (!json_is_string(ifn) || !cni_ifname_valid(json_string_value(ifn)))
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s[%zu].ifname: must be a valid interface name", key, i);
		json_array_append_new(out, json_pack("{s:O, s:O}", "containerID", id, "ifname", ifn));
	}
	return 0;
}

static int parse_gc(struct cni_netconf *c, struct cni_error *err)
{
	static const char *const keys[] = { "cni.dev/valid-attachments", "cni.dev/attachments" };
	bool any = false;
	int r;

	c->valid_attachments = json_array();
	if (!c->valid_attachments)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *list = json_object_get(c->root, keys[i]);

		if (!list || json_is_null(list))
			continue;
		any = true;
		r = merge_attachments(list, keys[i], c->valid_attachments, err);
		if (r < 0)
			return r;
	}
	/* Without the list every attachment would look stale: refuse. */
	if (!any)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"cni.dev/valid-attachments: required field missing for GC");
	return 0;
}

static int parse_version(struct cni_netconf *c, enum cni_cmd cmd, struct cni_error *err)
{
	static const struct {
		enum cni_cmd cmd;
		const char *name, *since;
	} floors[] = {
		{ CNI_CMD_CHECK, "CHECK", "0.4.0" },
		{ CNI_CMD_GC, "GC", "1.1.0" },
		{ CNI_CMD_STATUS, "STATUS", "1.1.0" },
	};
	json_t *v = json_object_get(c->root, "cniVersion");
	char supported[64] = "";
	int r;

	if (!v || json_is_null(v))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "cniVersion: required field missing");
	if (!json_is_string(v))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "cniVersion: must be a string");
	c->version = json_string_value(v);
	if (!cni_version_supported(c->version)) {
		for (const char *const *s = cni_supported_versions; *s; s++) {
			strncat(supported, *s, sizeof(supported) - strlen(supported) - 2);
			if (s[1])
				strncat(supported, " ", sizeof(supported) - strlen(supported) - 1);
		}
		r = cni_fail(err, ENOTSUP, CNI_ERR_INCOMPATIBLE_VERSION,
			     "cniVersion: incompatible CNI version \"%.64s\"", c->version);
		cni_error_details(err, "skiff-cni supports %s", supported);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(floors); i++)
		if (cmd == floors[i].cmd && cni_version_cmp(c->version, floors[i].since) < 0) {
			r = cni_fail(err, ENOTSUP, CNI_ERR_INCOMPATIBLE_VERSION,
				     "config version does not allow %s", floors[i].name);
			cni_error_details(err, "cniVersion is %s; %s needs %s or later", c->version,
					  floors[i].name, floors[i].since);
			return r;
		}
	return 0;
}

int cni_netconf_parse(const char *text, size_t len, enum cni_cmd cmd,
		      struct cni_netconf *out, struct cni_error *err)
{
	struct cni_netconf c = { .raw = text, .raw_len = len };
	json_error_t jerr;
	json_t *v;
	int r;

	c.root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!c.root)
		return cni_fail(err, EBADMSG, CNI_ERR_DECODE,
				"config: invalid JSON at line %d column %d: %s", jerr.line,
				jerr.column, jerr.text);
	if (!json_is_object(c.root)) {
		r = cni_fail(err, EBADMSG, CNI_ERR_DECODE, "config: must be a JSON object");
		goto fail;
	}
	r = parse_version(&c, cmd, err);
	if (r < 0)
		goto fail;
	r = check_keys(c.root, cmd, err);
	if (r < 0)
		goto fail;

	c.name = json_string_value(json_object_get(c.root, "name"));
	c.type = json_string_value(json_object_get(c.root, "type"));
	v = json_object_get(c.root, "mtu");
	c.mtu = v ? (int)json_integer_value(v) : 0;
	c.forward_interface = streq(json_string_value(json_object_get(c.root, "forwarding")),
				    "interface");
	c.ipam = json_object_get(c.root, "ipam");
	v = json_object_get(c.ipam, "type");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		r = cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
			     "ipam.type: required field missing (e.g. \"%s\" or \"host-local\")",
			     CNI_INPROC_IPAM);
		goto fail;
	}
	c.ipam_type = json_string_value(v);
	if (strchr(c.ipam_type, '/')) {
		r = cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
			     "ipam.type \"%s\" must be a plugin name, not a path", c.ipam_type);
		goto fail;
	}
	c.prev_result = json_object_get(c.root, "prevResult");
	if (json_is_null(c.prev_result))
		c.prev_result = NULL;
	c.dns = json_object_get(c.root, "dns");
	if (json_is_null(c.dns))
		c.dns = NULL;
	if (cmd == CNI_CMD_GC) {
		r = parse_gc(&c, err);
		if (r < 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	json_decref(c.valid_attachments);
	json_decref(c.root);
	return r;
}

void cni_netconf_done(struct cni_netconf *c)
{
	json_decref(c->valid_attachments);
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}
