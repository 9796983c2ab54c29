/* The CNI protocol layer (cni/cni.c): environment, CNI_ARGS, versions,
 * result encoding and decoding, error JSON, delegation. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/cni.h"
#include "tests/harness/test.h"
#include "lib/util.h"

static void env_set(const char *cmd, const char *id, const char *netns, const char *ifname,
		    const char *path)
{
	const char *names[] = { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME",
				"CNI_PATH", "CNI_ARGS" };
	const char *vals[] = { cmd, id, netns, ifname, path, NULL };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (vals[i])
			setenv(names[i], vals[i], 1);
		else
			unsetenv(names[i]);
	}
}

TEST(env_add_complete)
{
	struct cni_env env;
	struct cni_error err = { 0 };

	env_set("ADD", "abc123", "/var/run/netns/x", "eth0", "/opt/cni/bin");
	CHECK_OK(cni_env_parse(&env, &err));
	CHECK_INT_EQ(env.cmd, CNI_CMD_ADD);
	CHECK_STR_EQ(env.container_id, "abc123");
	CHECK_STR_EQ(env.netns, "/var/run/netns/x");
	CHECK_STR_EQ(env.ifname, "eth0");
	CHECK(env.args == NULL);
}

TEST(env_missing_and_invalid_name_the_variable)
{
	struct cni_env env;
	struct cni_error err = { 0 };

	env_set(NULL, NULL, NULL, NULL, NULL);
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_INT_EQ(err.code, CNI_ERR_INVALID_ENV);
	CHECK_STR_CONTAINS(err.msg, "CNI_COMMAND");

	env_set("FROB", "abc", "/n", "eth0", "/p");
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "FROB");

	env_set("ADD", "abc", NULL, "eth0", "/p");
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_INT_EQ(err.code, 4);
	CHECK_STR_CONTAINS(err.msg, "CNI_NETNS");

	env_set("ADD", "-bad", "/n", "eth0", "/p");
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "CNI_CONTAINERID");

	env_set("ADD", "abc", "/n", "a/b", "/p");
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "CNI_IFNAME");

	env_set("ADD", "abc", "/n", "eth0", NULL);
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "CNI_PATH");

	env_set("ADD", "abc", "/n", "eth0", "/p");
	setenv("CNI_ARGS", "novalue", 1);
	CHECK_INT_EQ(cni_env_parse(&env, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "CNI_ARGS");
}

TEST(env_del_without_netns_and_version_alone)
{
	struct cni_env env;
	struct cni_error err = { 0 };

	env_set("DEL", "abc", "", "eth0", "/p");
	CHECK_OK(cni_env_parse(&env, &err));
	CHECK(env.netns == NULL);

	env_set("VERSION", NULL, NULL, NULL, NULL);
	CHECK_OK(cni_env_parse(&env, &err));
	CHECK_INT_EQ(env.cmd, CNI_CMD_VERSION);

	env_set("GC", NULL, NULL, NULL, "/p");
	CHECK_OK(cni_env_parse(&env, &err));
	CHECK_INT_EQ(env.cmd, CNI_CMD_GC);
}

TEST(ifname_and_container_id_syntax)
{
	CHECK(cni_ifname_valid("eth0"));
	CHECK(cni_ifname_valid("a23456789012345"));
	CHECK(!cni_ifname_valid("a234567890123456"));
	CHECK(!cni_ifname_valid(""));
	CHECK(!cni_ifname_valid("."));
	CHECK(!cni_ifname_valid(".."));
	CHECK(!cni_ifname_valid("eth 0"));
	CHECK(!cni_ifname_valid("eth:0"));
	CHECK(!cni_ifname_valid("eth\t0"));
	CHECK(cni_container_id_valid("a"));
	CHECK(cni_container_id_valid("0abc_def.ghi-jkl"));
	CHECK(!cni_container_id_valid("_abc"));
	CHECK(!cni_container_id_valid("abc/def"));
	CHECK(!cni_container_id_valid(""));
}

TEST(args_get_values)
{
	const char *args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;IP=10.0.0.9";
	char buf[64];

	CHECK_OK(cni_args_get(args, "K8S_POD_NAME", buf, sizeof(buf)));
	CHECK_STR_EQ(buf, "web-1");
	CHECK_OK(cni_args_get(args, "IP", buf, sizeof(buf)));
	CHECK_STR_EQ(buf, "10.0.0.9");
	CHECK_INT_EQ(cni_args_get(args, "K8S_POD", buf, sizeof(buf)), -ENOENT);
	CHECK_INT_EQ(cni_args_get(args, "IP", buf, 4), -ENAMETOOLONG);
	CHECK_INT_EQ(cni_args_get("A=1;B", "A", buf, sizeof(buf)), -EINVAL);
	CHECK_INT_EQ(cni_args_get("=1", "A", buf, sizeof(buf)), -EINVAL);
	CHECK_OK(cni_args_get("A=;B=2;", "A", buf, sizeof(buf)));
	CHECK_STR_EQ(buf, "");
	CHECK_INT_EQ(cni_args_get(NULL, "A", buf, sizeof(buf)), -ENOENT);
}

TEST(args_validate_ignore_unknown)
{
	static const char *const known[] = { "IP", NULL };
	struct cni_error err = { 0 };

	CHECK_OK(cni_args_validate("IP=10.0.0.2", known, &err));
	CHECK_INT_EQ(cni_args_validate("IP=10.0.0.2;K8S_POD_NAME=x", known, &err), -EINVAL);
	CHECK_INT_EQ(err.code, CNI_ERR_INVALID_ENV);
	CHECK_STR_CONTAINS(err.msg, "K8S_POD_NAME");
	CHECK_OK(cni_args_validate("IgnoreUnknown=1;K8S_POD_NAME=x", known, &err));
	CHECK_OK(cni_args_validate("K8S_POD_NAME=x;IgnoreUnknown=true", known, &err));
	CHECK_INT_EQ(cni_args_validate("IgnoreUnknown=0;K8S_POD_NAME=x", known, &err), -EINVAL);
	CHECK_INT_EQ(cni_args_validate("IgnoreUnknown=1;junk", known, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "malformed");
}

TEST(version_compare_and_support)
{
	CHECK(cni_version_cmp("0.3.1", "0.4.0") < 0);
	CHECK(cni_version_cmp("1.0.0", "0.4.0") > 0);
	CHECK(cni_version_cmp("1.1.0", "1.1.0") == 0);
	CHECK(cni_version_cmp("1.10.0", "1.9.0") > 0);
	CHECK(cni_version_cmp("1.0", "1.0.0") == 0);
	CHECK(cni_version_cmp("garbage", "0.1.0") < 0);
	CHECK(cni_version_cmp("0.1.0", "x.y") > 0);
	CHECK(cni_version_supported("0.3.0"));
	CHECK(cni_version_supported("0.3.1"));
	CHECK(cni_version_supported("0.4.0"));
	CHECK(cni_version_supported("1.0.0"));
	CHECK(cni_version_supported("1.1.0"));
	CHECK(!cni_version_supported("0.2.0"));
	CHECK(!cni_version_supported("2.0.0"));
	CHECK(!cni_version_supported(NULL));
}

TEST(version_info_lists_all)
{
	json_t *j = cni_version_info("0.4.0");
	json_t *list = json_object_get(j, "supportedVersions");
	char *s;

	CHECK_STR_EQ(json_string_value(json_object_get(j, "cniVersion")), "0.4.0");
	CHECK_INT_EQ(json_array_size(list), 5);
	s = json_dumps(list, JSON_COMPACT);
	CHECK_STR_EQ(s, "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]");
	free(s);
	json_decref(j);
	j = cni_version_info("9.9.9");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	json_decref(j);
}

static void sample_result(struct cni_result *r)
{
	memset(r, 0, sizeof(*r));
	r->n_interfaces = 2;
	strcpy(r->interfaces[0].name, "skf0123456789ab");
	strcpy(r->interfaces[0].mac, "aa:bb:cc:dd:ee:01");
	r->interfaces[0].mtu = 1400;
	strcpy(r->interfaces[1].name, "eth0");
	strcpy(r->interfaces[1].mac, "aa:bb:cc:dd:ee:02");
	r->interfaces[1].mtu = 1400;
	strcpy(r->interfaces[1].sandbox, "/var/run/netns/p");
	r->n_ips = 2;
	ipcidr_parse_ifaddr("10.244.0.5/32", &r->ips[0].address, NULL);
	r->ips[0].has_gateway = true;
	ipaddr_parse("10.244.0.1", &r->ips[0].gateway);
	r->ips[0].interface = 1;
	ipcidr_parse_ifaddr("fd00:244::5/128", &r->ips[1].address, NULL);
	r->ips[1].interface = -1;
	r->n_routes = 1;
	ipcidr_parse_ifaddr("0.0.0.0/0", &r->routes[0].dst, NULL);
	r->routes[0].has_gw = true;
	ipaddr_parse("10.244.0.1", &r->routes[0].gw);
}

static const char *ip_field(json_t *j, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(j, "ips"), i), key));
}

TEST(encode_legacy_versions_add_ip_version)
{
	static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0" };
	struct cni_result r;

	sample_result(&r);
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		json_t *j = cni_result_encode(&r, versions[i]);
		json_t *if0 = json_array_get(json_object_get(j, "interfaces"), 0);

		CHECK_STR_EQ(json_string_value(json_object_get(j, "cniVersion")), versions[i]);
		CHECK_STR_EQ(ip_field(j, 0, "version"), "4");
		CHECK_STR_EQ(ip_field(j, 1, "version"), "6");
		CHECK_STR_EQ(ip_field(j, 0, "address"), "10.244.0.5/32");
		CHECK_STR_EQ(ip_field(j, 0, "gateway"), "10.244.0.1");
		CHECK(json_object_get(if0, "mtu") == NULL);
		json_decref(j);
	}
}

TEST(encode_current_versions)
{
	struct cni_result r;
	json_t *j, *ip0, *ip1, *if1;
	char *s;

	sample_result(&r);
	j = cni_result_encode(&r, "1.0.0");
	CHECK(ip_field(j, 0, "version") == NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "interfaces"), 1), "mtu") == NULL);
	json_decref(j);

	j = cni_result_encode(&r, "1.1.0");
	ip0 = json_array_get(json_object_get(j, "ips"), 0);
	ip1 = json_array_get(json_object_get(j, "ips"), 1);
	if1 = json_array_get(json_object_get(j, "interfaces"), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	CHECK_INT_EQ(json_integer_value(json_object_get(ip0, "interface")), 1);
	CHECK(json_object_get(ip1, "interface") == NULL);
	CHECK(json_object_get(ip1, "gateway") == NULL);
	CHECK_INT_EQ(json_integer_value(json_object_get(if1, "mtu")), 1400);
	CHECK_STR_EQ(json_string_value(json_object_get(if1, "sandbox")), "/var/run/netns/p");
	s = json_dumps(json_object_get(j, "routes"), JSON_COMPACT);
	CHECK_STR_EQ(s, "[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.0.1\"}]");
	free(s);
	CHECK(json_is_object(json_object_get(j, "dns")));
	json_decref(j);
}

TEST(encode_ipam_result_omits_interfaces)
{
	struct cni_result r;
	json_t *j;

	sample_result(&r);
	r.n_interfaces = 0;
	r.ips[0].interface = -1;
	j = cni_result_encode(&r, "1.0.0");
	CHECK(json_object_get(j, "interfaces") == NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "ips"), 0), "interface") == NULL);
	json_decref(j);
}

TEST(decode_031_result)
{
	const char *text =
		"{\"cniVersion\":\"0.3.1\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:00:05\","
		"\"sandbox\":\"/var/run/netns/p\"}],\"ips\":[{\"version\":\"4\",\"address\":\"10.244.0.5/24\","
		"\"gateway\":\"10.244.0.1\",\"interface\":0}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
		"\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";
	json_t *j = json_loads(text, 0, NULL);
	struct cni_result r;
	struct cni_error err = { 0 };
	char buf[64];

	CHECK(j);
	CHECK_OK(cni_result_decode(j, &r, &err));
	CHECK_INT_EQ(r.n_interfaces, 1);
	CHECK_STR_EQ(r.interfaces[0].name, "eth0");
	CHECK_STR_EQ(r.interfaces[0].sandbox, "/var/run/netns/p");
	CHECK_INT_EQ(r.n_ips, 1);
	CHECK_STR_EQ(ipcidr_str(&r.ips[0].address, buf, sizeof(buf)), "10.244.0.5/24");
	CHECK(r.ips[0].has_gateway);
	CHECK_INT_EQ(r.ips[0].interface, 0);
	CHECK_INT_EQ(r.n_routes, 1);
	CHECK(!r.routes[0].has_gw);
	CHECK(r.dns != NULL);
	cni_result_clear(&r);
	json_decref(j);
}

TEST(decode_100_result_roundtrip)
{
	struct cni_result in, out;
	struct cni_error err = { 0 };
	json_t *j, *j2;

	sample_result(&in);
	j = cni_result_encode(&in, "1.0.0");
	CHECK_OK(cni_result_decode(j, &out, &err));
	CHECK_INT_EQ(out.n_interfaces, 2);
	CHECK_INT_EQ(out.n_ips, 2);
	CHECK_INT_EQ(out.ips[1].interface, -1);
	CHECK_INT_EQ(out.ips[1].address.addr.family, AF_INET6);
	CHECK(ipcidr_eq(&out.ips[1].address, &in.ips[1].address));
	j2 = cni_result_encode(&out, "1.0.0");
	CHECK(json_equal(j, j2));
	json_decref(j);
	json_decref(j2);
}

TEST(decode_errors_name_the_field)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{ "[]", "object" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1\"}]}", "ips[0].address" },
		{ "{\"ips\":[{}]}", "ips[0].address" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":3}]}", "ips[0].interface" },
		{ "{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"x\"}]}", "routes[0].gw" },
		{ "{\"interfaces\":[{\"name\":\"0123456789abcdef0\"}]}", "interfaces[0].name" },
		{ "{\"ips\":{}}", "ips" },
		{ "{\"cniVersion\":\"0.1.0\"}", "0.1.0" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		struct cni_result r;
		struct cni_error err = { 0 };

		CHECK(j);
		CHECK(cni_result_decode(j, &r, &err) < 0);
		CHECK_STR_CONTAINS(err.msg, cases[i].needle);
		json_decref(j);
	}
}

/* Runs fn with stdout redirected to a file; returns what it printed. */
static char *capture_stdout(void (*fn)(void))
{
	char path[256];
	int fd, saved;
	char *buf = NULL;

	snprintf(path, sizeof(path), "%s/out", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	saved = dup(STDOUT_FILENO);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	fn();
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	if (read_all(fd, 1 << 20, &buf, NULL) < 0)
		buf = NULL;
	close(fd);
	return buf;
}

static void print_sample_error(void)
{
	struct cni_error err;

	cni_fail(&err, EINVAL, CNI_ERR_INVALID_CONFIG, "mtu: must be between %d and %d", 68, 65535);
	cni_error_details(&err, "got %d", 70000);
	cni_print_error("1.0.0", &err);
}

TEST(error_json_shape)
{
	struct cni_error err;
	_cleanup_free_ char *out = NULL;
	json_t *j;

	CHECK_INT_EQ(cni_fail(&err, ENOENT, CNI_ERR_TRY_AGAIN, "x %s", "y"), -ENOENT);
	CHECK_INT_EQ(err.code, 11);
	CHECK_STR_EQ(err.msg, "x y");
	CHECK_STR_EQ(err.details, "");
	CHECK_INT_EQ(cni_fail(NULL, EIO, 5, "ignored"), -EIO);

	out = capture_stdout(print_sample_error);
	CHECK(out);
	j = json_loads(out, 0, NULL);
	CHECK(j);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "cniVersion")), "1.0.0");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "code")), 7);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "msg")), "mtu: must be between 68 and 65535");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "details")), "got 70000");
	json_decref(j);
}

/* Writes an executable shell script named name into dir. */
static void write_plugin(const char *dir, const char *name, const char *body)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	CHECK_OK(chmod(path, 0755));
}

TEST(delegate_runs_plugin_and_parses_output)
{
	const char *dir = test_tmpdir();
	struct cni_env env = { .path = dir };
	struct cni_error err = { 0 };
	json_t *out = NULL;

	/* Echoes its command and the "name" from stdin back as JSON. */
	write_plugin(dir, "echo-ipam",
		     "name=$(sed -n 's/.*\"name\": *\"\\([^\"]*\\)\".*/\\1/p')\n"
		     "printf '{\"cmd\":\"%s\",\"name\":\"%s\"}' \"$CNI_COMMAND\" \"$name\"");
	setenv("CNI_COMMAND", "DEL", 1);
	CHECK_OK(cni_delegate("echo-ipam", &env, "ADD", "{\"name\": \"net1\"}", &out, &err));
	CHECK(out);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "cmd")), "ADD");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "name")), "net1");
	json_decref(out);

	write_plugin(dir, "quiet", "cat >/dev/null");
	out = (json_t *)1;
	CHECK_OK(cni_delegate("quiet", &env, "DEL", "{}", &out, &err));
	CHECK(out == NULL);
}

TEST(delegate_reports_plugin_errors)
{
	const char *dir = test_tmpdir();
	struct cni_env env = { .path = dir };
	struct cni_error err = { 0 };
	json_t *out = NULL;

	write_plugin(dir, "failing",
		     "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"range full\",\"details\":\"10.0.0.0/30\"}'\n"
		     "exit 1");
	CHECK(cni_delegate("failing", &env, "ADD", "{}", &out, &err) < 0);
	CHECK_INT_EQ(err.code, 11);
	CHECK_STR_CONTAINS(err.msg, "range full");
	CHECK_STR_EQ(err.details, "10.0.0.0/30");

	write_plugin(dir, "crashing", "exit 3");
	CHECK(cni_delegate("crashing", &env, "ADD", "{}", &out, &err) < 0);
	CHECK_INT_EQ(err.code, CNI_ERR_INTERNAL);
	CHECK_STR_CONTAINS(err.msg, "status 3");

	write_plugin(dir, "garbage", "echo 'not json'");
	CHECK(cni_delegate("garbage", &env, "ADD", "{}", &out, &err) < 0);
	CHECK_INT_EQ(err.code, CNI_ERR_DECODE);

	CHECK_INT_EQ(cni_delegate("missing", &env, "ADD", "{}", &out, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "missing");
	CHECK(cni_delegate("../etc/x", &env, "ADD", "{}", &out, &err) < 0);
}

/* A plugin that echoes a config larger than a pipe while we still write:
 * neither side may block the other. */
TEST(delegate_large_config_through_echoing_plugin)
{
	const char *dir = test_tmpdir();
	struct cni_env env = { .path = dir };
	struct cni_error err = { 0 };
	size_t n = 300 * 1024;
	char *conf = malloc(n + 32);
	json_t *out = NULL;

	CHECK(conf);
	write_plugin(dir, "echo-all", "exec cat");
	strcpy(conf, "{\"pad\":\"");
	memset(conf + 8, 'x', n);
	strcpy(conf + 8 + n, "\"}");
	CHECK_OK(cni_delegate("echo-all", &env, "ADD", conf, &out, &err));
	CHECK_INT_EQ(json_string_length(json_object_get(out, "pad")), n);
	json_decref(out);
	free(conf);
}
