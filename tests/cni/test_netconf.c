/* skiff-cni's network configuration parser (cni/netconf.c) and the host
 * veth naming (cni/link.c): every refusal has the spec's code and names
 * the field. */
#include <stdlib.h>
#include <string.h>

#include "cni/plugin.h"
#include "tests/harness/test.h"
#include "lib/util.h"

#define BASE "\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"type\":\"skiff-cni\""
#define IPAM "\"ipam\":{\"type\":\"skiff-ipam\"}"

static int parse(const char *text, enum cni_cmd cmd, struct cni_netconf *c,
		 struct cni_error *err)
{
	memset(err, 0, sizeof(*err));
	return cni_netconf_parse(text, strlen(text), cmd, c, err);
}

TEST(valid_config_fields)
{
	const char *text = "{" BASE ",\"mtu\":1400," IPAM ",\"dns\":{\"nameservers\":[\"10.0.0.10\"]},"
			   "\"runtimeConfig\":{\"portMappings\":[{\"HostPort\":80}]},\"futureKey\":1}";
	struct cni_netconf c;
	struct cni_error err;

	CHECK_OK(parse(text, CNI_CMD_ADD, &c, &err));
	CHECK_STR_EQ(c.version, "1.0.0");
	CHECK_STR_EQ(c.name, "net");
	CHECK_STR_EQ(c.type, "skiff-cni");
	CHECK_INT_EQ(c.mtu, 1400);
	CHECK_STR_EQ(c.ipam_type, "skiff-ipam");
	CHECK(c.dns != NULL);
	CHECK(c.prev_result == NULL);
	CHECK(c.raw == text);
	cni_netconf_done(&c);
}

TEST(refusals_name_the_field)
{
	static const struct {
		const char *text;
		enum cni_cmd cmd;
		int code;
		const char *needle;
	} cases[] = {
		{ "{\"cniVersion\":", CNI_CMD_ADD, CNI_ERR_DECODE, "invalid JSON" },
		{ "[]", CNI_CMD_ADD, CNI_ERR_DECODE, "object" },
		{ "{\"name\":\"n\",\"type\":\"t\"," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "cniVersion" },
		{ "{\"cniVersion\":1," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "cniVersion" },
		{ "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"t\"," IPAM "}", CNI_CMD_ADD,
		  CNI_ERR_INCOMPATIBLE_VERSION, "0.2.0" },
		{ "{\"cniVersion\":\"1.0.0\",\"type\":\"t\"," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "name" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"a b\",\"type\":\"t\"," IPAM "}", CNI_CMD_ADD,
		  CNI_ERR_INVALID_CONFIG, "name" },
		{ "{" BASE "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "ipam" },
		{ "{" BASE ",\"ipam\":{}}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "ipam.type" },
		{ "{" BASE ",\"ipam\":{\"type\":\"../bin/x\"}}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "ipam.type" },
		{ "{" BASE ",\"ipam\":[]}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "ipam" },
		{ "{" BASE ",\"mtu\":\"1500\"," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "mtu" },
		{ "{" BASE ",\"mtu\":67," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "mtu" },
		{ "{" BASE ",\"mtu\":65536," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "mtu" },
		{ "{" BASE ",\"dns\":[]," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "dns" },
		{ "{" BASE ",\"runtimeConfig\":3," IPAM "}", CNI_CMD_ADD, CNI_ERR_INVALID_CONFIG, "runtimeConfig" },
		{ "{" BASE ",\"prevResult\":\"x\"," IPAM "}", CNI_CMD_CHECK, CNI_ERR_INVALID_CONFIG, "prevResult" },
		{ "{" BASE ",\"name\":\"again\"," IPAM "}", CNI_CMD_ADD, CNI_ERR_DECODE, "duplicate" },
		{ "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"t\"," IPAM "}", CNI_CMD_CHECK,
		  CNI_ERR_INCOMPATIBLE_VERSION, "does not allow CHECK" },
		{ "{" BASE "," IPAM "}", CNI_CMD_GC, CNI_ERR_INCOMPATIBLE_VERSION, "does not allow GC" },
		{ "{" BASE "," IPAM "}", CNI_CMD_STATUS, CNI_ERR_INCOMPATIBLE_VERSION, "does not allow STATUS" },
		{ "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\"," IPAM "}", CNI_CMD_GC,
		  CNI_ERR_INVALID_CONFIG, "cni.dev/valid-attachments" },
		{ "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\"," IPAM
		  ",\"cni.dev/valid-attachments\":[{\"containerID\":\"a\"}]}", CNI_CMD_GC,
		  CNI_ERR_INVALID_CONFIG, "cni.dev/valid-attachments[0].ifname" },
		{ "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\"," IPAM
		  ",\"cni.dev/attachments\":[{\"containerID\":\"-a\",\"ifname\":\"eth0\"}]}", CNI_CMD_GC,
		  CNI_ERR_INVALID_CONFIG, "cni.dev/attachments[0].containerID" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cni_netconf c;
		struct cni_error err;

		if (parse(cases[i].text, cases[i].cmd, &c, &err) >= 0)
			test_fail(__FILE__, __LINE__, "case %zu accepted: %s", i, cases[i].text);
		if (err.code != cases[i].code || !strstr(err.msg, cases[i].needle))
			test_fail(__FILE__, __LINE__, "case %zu: code %d msg \"%s\", want %d and \"%s\"",
				  i, err.code, err.msg, cases[i].code, cases[i].needle);
	}
}

TEST(gc_merges_both_attachment_keys)
{
	const char *text = "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\"," IPAM
			   ",\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]"
			   ",\"cni.dev/attachments\":[{\"containerID\":\"b\",\"ifname\":\"net1\"}]}";
	struct cni_netconf c;
	struct cni_error err;

	CHECK_OK(parse(text, CNI_CMD_GC, &c, &err));
	CHECK_INT_EQ(json_array_size(c.valid_attachments), 2);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(c.valid_attachments, 1), "ifname")),
		     "net1");
	cni_netconf_done(&c);
}

TEST(status_needs_only_version_and_ipam)
{
	struct cni_netconf c;
	struct cni_error err;

	CHECK_OK(parse("{\"cniVersion\":\"1.1.0\"," IPAM "}", CNI_CMD_STATUS, &c, &err));
	cni_netconf_done(&c);
}

TEST(host_ifname_is_stable_short_and_distinct)
{
	char a[16], b[16], c[16], d[16];

	cni_host_ifname("0123456789abcdef0123456789abcdef", "eth0", a);
	cni_host_ifname("0123456789abcdef0123456789abcdef", "eth0", b);
	cni_host_ifname("0123456789abcdef0123456789abcdef", "net1", c);
	cni_host_ifname("0123456789abcdef0123456789abcdee", "eth0", d);
	CHECK_STR_EQ(a, b);
	CHECK_INT_EQ(strlen(a), 15);
	CHECK(strncmp(a, CNI_HOST_PREFIX, 3) == 0);
	CHECK(strcmp(a, c) != 0);
	CHECK(strcmp(a, d) != 0);
	/* "id" + "/" + "ifname" is hashed with the separator: no ambiguity. */
	cni_host_ifname("ab", "c", c);
	cni_host_ifname("a", "bc", d);
	CHECK(strcmp(c, d) != 0);
}

TEST(host_alias_round_trip)
{
	char alias[256];
	const char *net, *id, *ifname;

	CHECK_OK(cni_host_alias("k8s-pod-network", "abc123", "eth0", alias, sizeof(alias)));
	CHECK_STR_EQ(alias, "skiff-cni k8s-pod-network abc123 eth0");
	CHECK_OK(cni_host_alias_parse(alias, &net, &id, &ifname));
	CHECK_STR_EQ(net, "k8s-pod-network");
	CHECK_STR_EQ(id, "abc123");
	CHECK_STR_EQ(ifname, "eth0");
	strcpy(alias, "something else entirely");
	CHECK_INT_EQ(cni_host_alias_parse(alias, &net, &id, &ifname), -EINVAL);
	strcpy(alias, "skiff-cni net id");
	CHECK_INT_EQ(cni_host_alias_parse(alias, &net, &id, &ifname), -EINVAL);
	strcpy(alias, "skiff-cni net id if extra");
	CHECK_INT_EQ(cni_host_alias_parse(alias, &net, &id, &ifname), -EINVAL);
}
