/* skiff-ipam (cni/ipam.c, cni/ipam_store.c): configuration, allocation
 * order, requested addresses, dual-stack, DEL, GC, exhaustion, and the
 * store under 64 concurrent processes and SIGKILL. The lease database is
 * read back with SQLite directly, not through the code under test. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cni/ipam.h"
#include "tests/harness/test.h"
#include "lib/util.h"

/* Builds {"cniVersion","name":"net","ipam":{type, dataDir=<tmp>, ...ipam}}
 * merged with the top-level keys of extra, and parses it. */
static int load(const char *ipam, const char *extra, const char *cni_args,
		struct ipam_config **out, struct cni_error *err)
{
	json_error_t jerr;
	json_t *conf, *ij, *ej = NULL;
	struct cni_env env = { .cmd = CNI_CMD_ADD, .args = cni_args };
	int r;

	ij = json_loads(ipam, 0, &jerr);
	if (!ij)
		test_fail(__FILE__, __LINE__, "bad test JSON %s: %s", ipam, jerr.text);
	if (!json_object_get(ij, "dataDir"))
		json_object_set_new(ij, "dataDir", json_string(test_tmpdir()));
	json_object_set_new(ij, "type", json_string("skiff-ipam"));
	conf = json_pack("{s:s, s:s, s:o}", "cniVersion", "1.0.0", "name", "net", "ipam", ij);
	if (extra) {
		ej = json_loads(extra, 0, &jerr);
		if (!ej)
			test_fail(__FILE__, __LINE__, "bad test JSON %s: %s", extra, jerr.text);
		json_object_update(conf, ej);
		json_decref(ej);
	}
	memset(err, 0, sizeof(*err));
	r = ipam_config_parse(conf, &env, out, err);
	json_decref(conf);
	return r;
}

static struct ipam_config *must_load(const char *ipam)
{
	struct ipam_config *c = NULL;
	struct cni_error err;
	int r = load(ipam, NULL, NULL, &c, &err);

	if (r < 0)
		test_fail(__FILE__, __LINE__, "config %s: %s", ipam, err.msg);
	return c;
}

/* ADD for (id, eth0); buf gets the addresses joined by a space. */
static int add_ifname(struct ipam_config *c, const char *id, const char *ifname, char *buf,
		      size_t size, struct cni_error *err)
{
	struct cni_result res = { 0 };
	int r;

	memset(err, 0, sizeof(*err));
	buf[0] = '\0';
	r = ipam_add(c, id, ifname, &res, err);
	for (int i = 0; r == 0 && i < res.n_ips; i++) {
		char a[64];

		if (res.ips[i].interface != -1)
			test_fail(__FILE__, __LINE__, "ips[%d].interface is %d, not -1", i,
				  res.ips[i].interface);
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? " " : "",
			 ipcidr_str(&res.ips[i].address, a, sizeof(a)));
	}
	cni_result_clear(&res);
	return r;
}

static int add(struct ipam_config *c, const char *id, char *buf, size_t size,
	       struct cni_error *err)
{
	return add_ifname(c, id, "eth0", buf, size, err);
}

/* Asserts that ADD for id gives exactly want. */
#define CHECK_ADD(c, id, want)                                                 \
	do {                                                                   \
		char _got[512];                                                \
		struct cni_error _e;                                           \
		int _r = add(c, id, _got, sizeof(_got), &_e);                  \
		if (_r < 0)                                                    \
			test_fail(__FILE__, __LINE__, "ADD %s: %d %s", id, _e.code, _e.msg); \
		CHECK_STR_EQ(_got, want);                                      \
	} while (0)

static sqlite3 *db_open(void)
{
	char path[512];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/net/leases.db", test_tmpdir());
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		test_fail(__FILE__, __LINE__, "cannot open %s", path);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static long long db_int(const char *sql)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		test_fail(__FILE__, __LINE__, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* ---- configuration ---- */

TEST(config_accepts_ranges_legacy_routes_and_resolvconf)
{
	char rc[512], ipam[1024];
	struct ipam_config *c = NULL;
	struct cni_result res = { 0 };
	struct cni_error err;
	json_t *ns;

	snprintf(rc, sizeof(rc), "%s/resolv.conf", test_tmpdir());
	write_file(rc, "# comment\nnameserver 10.96.0.10\nnameserver fd00::a\n"
		       "search svc.cluster.local cluster.local\ndomain example.org\n"
		       "options ndots:5 edns0\n");
	snprintf(ipam, sizeof(ipam),
		 "{\"subnet\":\"10.1.0.0/24\",\"gateway\":\"10.1.0.254\","
		 "\"ranges\":[[{\"subnet\":\"fd00:1::/64\"}]],"
		 "\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"192.168.0.0/16\",\"gw\":\"10.1.0.9\"}],"
		 "\"resolvConf\":\"%s\"}", rc);
	CHECK_OK(load(ipam, NULL, NULL, &c, &err));
	CHECK_OK(ipam_add(c, "c1", "eth0", &res, &err));
	CHECK_INT_EQ(res.n_ips, 2);
	{
		char a[64];

		/* The legacy range is range set 0; the gateway is the configured one. */
		CHECK_STR_EQ(ipcidr_str(&res.ips[0].address, a, sizeof(a)), "10.1.0.1/24");
		CHECK(res.ips[0].has_gateway);
		CHECK_STR_EQ(ipaddr_str(&res.ips[0].gateway, a, sizeof(a)), "10.1.0.254");
		CHECK_STR_EQ(ipcidr_str(&res.ips[1].address, a, sizeof(a)), "fd00:1::2/64");
		CHECK_STR_EQ(ipaddr_str(&res.ips[1].gateway, a, sizeof(a)), "fd00:1::1");
		CHECK_INT_EQ(res.n_routes, 2);
		CHECK_STR_EQ(ipcidr_str(&res.routes[1].dst, a, sizeof(a)), "192.168.0.0/16");
		CHECK(res.routes[1].has_gw);
		CHECK(!res.routes[0].has_gw);
	}
	CHECK(res.dns != NULL);
	ns = json_object_get(res.dns, "nameservers");
	CHECK_INT_EQ(json_array_size(ns), 2);
	CHECK_STR_EQ(json_string_value(json_array_get(ns, 1)), "fd00::a");
	CHECK_STR_EQ(json_string_value(json_object_get(res.dns, "domain")), "example.org");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(res.dns, "search"), 1)),
		     "cluster.local");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(res.dns, "options"), 0)),
		     "ndots:5");
	cni_result_clear(&res);
	ipam_config_free(c);
}

struct bad_config {
	const char *ipam, *extra, *args;
	int code;
	const char *msg;
};

TEST(config_errors_name_the_field)
{
	static const struct bad_config cases[] = {
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"10.0.0.0/33\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][1].subnet: \"10.0.0.0/33\" is not a CIDR" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/31\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: 10.0.0.0/31 is too small" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.1/32\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: 10.0.0.1/32 is too small" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::/127\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: fd00::/127 is too small" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::1/128\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: fd00::1/128 is too small" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.5/24\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: 10.0.0.5/24 has host bits set (the network is 10.0.0.0/24)" },
		{ "{\"ranges\":[[{\"subnet\":42}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: expected a string" },
		{ "{\"ranges\":[[{\"gateway\":\"10.0.0.1\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].subnet: missing" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"10.0.1.5\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].rangeStart: 10.0.1.5 is not a usable address of subnet 10.0.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeEnd\":\"10.0.0.255\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].rangeEnd: 10.0.0.255 is not a usable address" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"10.0.0.9\",\"rangeEnd\":\"10.0.0.5\"}]]}",
		  NULL, NULL, 7, "ipam.ranges[0][0].rangeEnd: 10.0.0.5 is before rangeStart 10.0.0.9" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"fd00::1\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].rangeStart: fd00::1 is not of the family" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"gateway\":\"ten\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0].gateway: \"ten\" is not an IP address" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"fd00::/64\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][1].subnet: family differs from ipam.ranges[0][0]" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"10.0.0.0/25\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[1][0]: overlaps ipam.ranges[0][0]" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"ranges\":[[{\"subnet\":\"10.0.0.128/25\"}]]}", NULL, NULL, 7,
		  "ipam.ranges[0][0]: overlaps ipam.subnet" },
		{ "{\"subnet\":\"10.0.0.0/40\"}", NULL, NULL, 7, "ipam.subnet: \"10.0.0.0/40\" is not a CIDR" },
		{ "{}", NULL, NULL, 7, "ipam.ranges: no IP ranges specified" },
		{ "{\"ranges\":{}}", NULL, NULL, 7, "ipam.ranges: expected an array" },
		{ "{\"ranges\":[{\"subnet\":\"10.0.0.0/24\"}]}", NULL, NULL, 7,
		  "ipam.ranges[0]: expected an array of ranges" },
		{ "{\"ranges\":[[]]}", NULL, NULL, 7, "ipam.ranges[0]: empty range set" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"10.0.0.0\"}]}", NULL, NULL, 7,
		  "ipam.routes[0].dst: \"10.0.0.0\" is not a CIDR" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"gw\":\"1.1.1.1\"}]}", NULL, NULL, 7,
		  "ipam.routes[1].dst: missing" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"fd00::1\"}]}", NULL, NULL, 7,
		  "ipam.routes[0].gw: family differs from dst" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"resolvConf\":\"/nonexistent/skiff/resolv.conf\"}", NULL, NULL, 7,
		  "ipam.resolvConf: cannot read \"/nonexistent/skiff/resolv.conf\"" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"resolvConf\":\"/dev/null\"}", NULL, NULL, 7,
		  "ipam.resolvConf: \"/dev/null\" is not a regular file" },
		{ "{\"subnet\":\"10.0.0.0/24\",\"dataDir\":7}", NULL, NULL, 7, "ipam.dataDir: expected a path" },
		{ "{\"subnet\":\"10.0.0.0/24\"}", "{\"name\":\"a/b\"}", NULL, 7, "name: \"a/b\" cannot name a folder" },
		{ "{\"subnet\":\"10.0.0.0/24\"}", "{\"args\":{\"cni\":{\"ips\":[\"10.0.0.5\",\"ten\"]}}}", NULL, 7,
		  "args.cni.ips[1]: \"ten\" is not an IP address" },
		{ "{\"subnet\":\"10.0.0.0/24\"}", "{\"runtimeConfig\":{\"ips\":\"10.0.0.5\"}}", NULL, 7,
		  "runtimeConfig.ips: expected an array" },
		{ "{\"subnet\":\"10.0.0.0/24\"}", NULL, "IP=10.0.0.5,nope", 7,
		  "CNI_ARGS IP: \"nope\" is not an IP address" },
		{ "{\"subnet\":\"10.0.0.0/24\"}", NULL, "FOO=bar", 4, "unknown key \"FOO\"" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ipam_config *c = NULL;
		struct cni_error err;
		int r = load(cases[i].ipam, cases[i].extra, cases[i].args, &c, &err);

		if (r >= 0)
			test_fail(__FILE__, __LINE__, "case %zu (%s) was accepted", i, cases[i].ipam);
		CHECK(c == NULL);
		if (err.code != cases[i].code || !strstr(err.msg, cases[i].msg))
			test_fail(__FILE__, __LINE__, "case %zu: got %d \"%s\", want %d \"%s\"", i,
				  err.code, err.msg, cases[i].code, cases[i].msg);
	}
}

TEST(config_missing_ipam_and_name)
{
	struct ipam_config *c = NULL;
	struct cni_error err = { 0 };
	json_t *conf = json_pack("{s:s, s:s}", "cniVersion", "1.0.0", "name", "n");

	CHECK_INT_EQ(ipam_config_parse(conf, NULL, &c, &err), -EINVAL);
	CHECK_INT_EQ(err.code, 7);
	CHECK_STR_EQ(err.msg, "ipam: missing");
	json_decref(conf);
	conf = json_pack("{s:s, s:{s:s}}", "cniVersion", "1.0.0", "ipam", "subnet", "10.0.0.0/24");
	CHECK_INT_EQ(ipam_config_parse(conf, NULL, &c, &err), -EINVAL);
	CHECK_STR_EQ(err.msg, "name: missing");
	json_decref(conf);
}

TEST(cni_args_known_keys_and_ignore_unknown)
{
	struct ipam_config *c = NULL;
	struct cni_error err;

	CHECK_OK(load("{\"subnet\":\"10.0.0.0/24\"}", NULL,
		      "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u",
		      &c, &err));
	ipam_config_free(c);
	CHECK_OK(load("{\"subnet\":\"10.0.0.0/24\"}", NULL, "IgnoreUnknown=1;FOO=bar", &c, &err));
	ipam_config_free(c);
}

/* ---- allocation ---- */

TEST(allocates_round_robin_and_wraps_around)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/29\"}]]}");
	struct cni_error err;
	char got[128];

	/* .1 is the gateway, .7 the broadcast. */
	CHECK_ADD(c, "c1", "10.0.0.2/29");
	CHECK_ADD(c, "c2", "10.0.0.3/29");
	CHECK_ADD(c, "c3", "10.0.0.4/29");
	CHECK_ADD(c, "c4", "10.0.0.5/29");
	CHECK_OK(ipam_del(c, "c2", "eth0", &err));
	CHECK_ADD(c, "c5", "10.0.0.6/29");
	/* Wraps around to the freed .3. */
	CHECK_ADD(c, "c6", "10.0.0.3/29");
	/* Round robin: after .3 comes .5 (freed) before .2 (freed earlier). */
	CHECK_OK(ipam_del(c, "c1", "eth0", &err));
	CHECK_OK(ipam_del(c, "c4", "eth0", &err));
	CHECK_ADD(c, "c7", "10.0.0.5/29");
	CHECK_ADD(c, "c8", "10.0.0.2/29");
	CHECK_INT_EQ(add(c, "c9", got, sizeof(got), &err), -ENOSPC);
	ipam_config_free(c);
}

TEST(gateway_is_never_allocated)
{
	struct ipam_config *c = must_load(
		"{\"ranges\":[[{\"subnet\":\"10.0.0.0/29\",\"gateway\":\"10.0.0.3\"}]]}");

	CHECK_ADD(c, "c1", "10.0.0.1/29");
	CHECK_ADD(c, "c2", "10.0.0.2/29");
	CHECK_ADD(c, "c3", "10.0.0.4/29");
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE ip = x'0a000003'"), 0);
	ipam_config_free(c);
}

TEST(range_start_and_end_are_honoured_and_exhaustion_is_code_11)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\","
					  "\"rangeStart\":\"10.0.0.10\",\"rangeEnd\":\"10.0.0.12\"}]]}");
	struct cni_error err;
	char got[128];

	CHECK_ADD(c, "c1", "10.0.0.10/24");
	CHECK_ADD(c, "c2", "10.0.0.11/24");
	CHECK_ADD(c, "c3", "10.0.0.12/24");
	CHECK_INT_EQ(add(c, "c4", got, sizeof(got), &err), -ENOSPC);
	CHECK_INT_EQ(err.code, CNI_ERR_TRY_AGAIN);
	CHECK_STR_CONTAINS(err.msg, "10.0.0.10-10.0.0.12");
	/* No lease was left for the failed ADD. */
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE container_id = 'c4'"), 0);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 3);
	ipam_config_free(c);
}

TEST(ipv6_range_includes_last_address)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"fd00:5::/126\"}]]}");
	struct cni_error err;
	char got[128];

	CHECK_ADD(c, "c1", "fd00:5::2/126");
	CHECK_ADD(c, "c2", "fd00:5::3/126");
	CHECK_INT_EQ(add(c, "c3", got, sizeof(got), &err), -ENOSPC);
	ipam_config_free(c);
}

TEST(requested_ip_free_taken_out_of_range_gateway)
{
	const char *ipam = "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeEnd\":\"10.0.0.100\"}]]}";
	struct ipam_config *c = NULL;
	struct cni_error err;
	char got[128];

	CHECK_OK(load(ipam, NULL, "IP=10.0.0.50", &c, &err));
	CHECK_ADD(c, "c1", "10.0.0.50/24");
	/* Taken by c1. */
	CHECK(add(c, "c2", got, sizeof(got), &err) < 0);
	CHECK_STR_CONTAINS(err.msg, "CNI_ARGS IP: 10.0.0.50 is already leased to c1/eth0");
	ipam_config_free(c);

	CHECK_OK(load(ipam, "{\"args\":{\"cni\":{\"ips\":[\"10.0.0.51\"]}}}", NULL, &c, &err));
	CHECK_ADD(c, "c3", "10.0.0.51/24");
	ipam_config_free(c);
	CHECK_OK(load(ipam, "{\"runtimeConfig\":{\"ips\":[\"10.0.0.52/24\"]}}", NULL, &c, &err));
	CHECK_ADD(c, "c4", "10.0.0.52/24");
	ipam_config_free(c);

	/* In the subnet but past rangeEnd: no range holds it. */
	CHECK_OK(load(ipam, NULL, "IP=10.0.0.200", &c, &err));
	CHECK_INT_EQ(add(c, "c5", got, sizeof(got), &err), -EINVAL);
	CHECK_INT_EQ(err.code, CNI_ERR_INVALID_CONFIG);
	CHECK_STR_CONTAINS(err.msg, "CNI_ARGS IP: 10.0.0.200 is in no range of ipam.ranges");
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE container_id = 'c5'"), 0);
	ipam_config_free(c);

	/* Two requests for one range set: the second is refused, nothing leased. */
	CHECK_OK(load(ipam, "{\"runtimeConfig\":{\"ips\":[\"10.0.0.60\",\"10.0.0.61\"]}}", NULL, &c,
		      &err));
	CHECK_INT_EQ(add(c, "c8", got, sizeof(got), &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "runtimeConfig.ips[1]: 10.0.0.61 is a second address in range set 0");
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE container_id = 'c8'"), 0);
	ipam_config_free(c);

	CHECK_OK(load(ipam, NULL, "IP=10.0.0.1", &c, &err));
	CHECK(add(c, "c6", got, sizeof(got), &err) < 0);
	CHECK_STR_CONTAINS(err.msg, "is the gateway");
	ipam_config_free(c);

	/* Round robin goes on after the requested ones. */
	c = must_load(ipam);
	CHECK_ADD(c, "c7", "10.0.0.53/24");
	ipam_config_free(c);
}

TEST(dual_stack_gets_one_address_per_range_set)
{
	struct ipam_config *c = must_load(
		"{\"ranges\":[[{\"subnet\":\"10.0.0.0/30\"},{\"subnet\":\"10.0.1.0/30\"}],"
		"[{\"subnet\":\"fd00:1::/120\"}]]}");
	struct cni_error err;
	char got[128];

	/* Set 0 has two ranges of one usable address each (.1 is the gateway). */
	CHECK_ADD(c, "c1", "10.0.0.2/30 fd00:1::2/120");
	CHECK_ADD(c, "c2", "10.0.1.2/30 fd00:1::3/120");
	CHECK_INT_EQ(add(c, "c3", got, sizeof(got), &err), -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "range set 0 (10.0.0.1-10.0.0.2, 10.0.1.1-10.0.1.2)");
	/* All or nothing: no v6 lease for the failed ADD. */
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 4);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE length(ip) = 16"), 2);
	ipam_config_free(c);
}

TEST(add_is_idempotent_per_attachment)
{
	struct ipam_config *c = must_load(
		"{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]}");
	struct cni_error err;
	char got[128];

	CHECK_ADD(c, "c1", "10.0.0.2/24 fd00::2/64");
	CHECK_ADD(c, "c1", "10.0.0.2/24 fd00::2/64");
	/* Another interface of the same container is another attachment. */
	CHECK_OK(add_ifname(c, "c1", "net1", got, sizeof(got), &err));
	CHECK_STR_EQ(got, "10.0.0.3/24 fd00::3/64");
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 4);
	ipam_config_free(c);
}

TEST(del_frees_and_is_idempotent)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}]]}");
	struct cni_error err;
	char path[512];
	struct stat st;

	/* DEL before anything was stored: success, and no folder is made. */
	CHECK_OK(ipam_del(c, "c0", "eth0", &err));
	snprintf(path, sizeof(path), "%s/net", test_tmpdir());
	CHECK(stat(path, &st) < 0);
	CHECK_ADD(c, "c1", "10.0.0.2/24");
	CHECK_ADD(c, "c2", "10.0.0.3/24");
	CHECK_OK(ipam_del(c, "c1", "eth0", &err));
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE container_id = 'c1'"), 0);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 1);
	CHECK_OK(ipam_del(c, "c1", "eth0", &err));
	CHECK_OK(ipam_del(c, "never", "eth0", &err));
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 1);
	ipam_config_free(c);
}

TEST(check_needs_a_lease_in_every_range_set)
{
	struct ipam_config *c = must_load(
		"{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]}");
	struct ipam_config *v4 = NULL;
	struct cni_error err;
	char got[128];

	CHECK_INT_EQ(ipam_check(c, "c1", "eth0", &err), -ENOENT);
	CHECK_OK(add(c, "c1", got, sizeof(got), &err));
	CHECK_OK(ipam_check(c, "c1", "eth0", &err));
	CHECK(ipam_check(c, "c1", "eth1", &err) < 0);
	CHECK_STR_CONTAINS(err.msg, "c1/eth1 holds no lease in range set 0");
	/* A config with a second range set the attachment has no lease in. */
	v4 = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}],"
		       "[{\"subnet\":\"10.5.0.0/24\"}]]}");
	CHECK(ipam_check(v4, "c1", "eth0", &err) < 0);
	CHECK_STR_CONTAINS(err.msg, "range set 2 (10.5.0.1-10.5.0.254)");
	CHECK_OK(ipam_del(c, "c1", "eth0", &err));
	CHECK(ipam_check(c, "c1", "eth0", &err) < 0);
	ipam_config_free(v4);
	ipam_config_free(c);
}

TEST(gc_releases_attachments_not_in_the_valid_list)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}]]}");
	struct cni_error err;
	json_t *valid;
	char got[128];

	CHECK_OK(add(c, "c1", got, sizeof(got), &err));
	CHECK_OK(add(c, "c2", got, sizeof(got), &err));
	CHECK_OK(add_ifname(c, "c2", "net1", got, sizeof(got), &err));
	CHECK_OK(add(c, "c3", got, sizeof(got), &err));
	valid = json_pack("[{s:s, s:s}, {s:s, s:s}]", "containerID", "c2", "ifname", "eth0",
			  "containerID", "gone", "ifname", "eth0");
	CHECK_INT_EQ(ipam_gc(c, valid, &err), 3);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 1);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases WHERE container_id = 'c2' AND ifname = 'eth0'"), 1);
	CHECK_INT_EQ(ipam_gc(c, valid, &err), 0);
	json_decref(valid);

	valid = json_pack("[{s:s}]", "containerID", "c2");
	CHECK_INT_EQ(ipam_gc(c, valid, &err), -EINVAL);
	CHECK_INT_EQ(err.code, 7);
	CHECK_STR_CONTAINS(err.msg, "cni.dev/valid-attachments[0].ifname");
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 1);
	json_decref(valid);
	ipam_config_free(c);
}

TEST(status_reports_exhaustion)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/30\"}]]}");
	struct cni_error err;

	CHECK_OK(ipam_status(c, &err));
	CHECK_ADD(c, "c1", "10.0.0.2/30");
	CHECK(ipam_status(c, &err) < 0);
	CHECK_INT_EQ(err.code, CNI_ERR_NOT_AVAILABLE);
	CHECK_STR_CONTAINS(err.msg, "no free address in range set 0");
	ipam_config_free(c);
}

TEST(leases_persist_across_reopen)
{
	const char *ipam = "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}]]}";
	struct ipam_config *c = must_load(ipam);

	CHECK_ADD(c, "c1", "10.0.0.2/24");
	CHECK_ADD(c, "c2", "10.0.0.3/24");
	ipam_config_free(c);
	c = must_load(ipam);
	CHECK_ADD(c, "c1", "10.0.0.2/24");
	/* The round-robin position survived too. */
	CHECK_ADD(c, "c3", "10.0.0.4/24");
	ipam_config_free(c);
}

TEST(store_files_stay_small_over_many_cycles)
{
	struct ipam_config *c = must_load("{\"ranges\":[[{\"subnet\":\"10.0.0.0/16\"}]]}");
	struct cni_error err;
	char got[128], id[32], path[512];
	struct stat st;

	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "cycle%d", i);
		CHECK_OK(add(c, id, got, sizeof(got), &err));
		if (i % 2)
			CHECK_OK(ipam_del(c, id, "eth0", &err));
	}
	/* Each run checkpoints its WAL on close: none is left to replay. */
	snprintf(path, sizeof(path), "%s/net/leases.db-wal", test_tmpdir());
	if (stat(path, &st) == 0 && st.st_size > 256 * 1024)
		test_fail(__FILE__, __LINE__, "WAL grew to %lld bytes", (long long)st.st_size);
	snprintf(path, sizeof(path), "%s/net/leases.db", test_tmpdir());
	CHECK_OK(stat(path, &st));
	CHECK(st.st_size < 256 * 1024);
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), 150);
	ipam_config_free(c);
}

/* ---- many processes ---- */

#define N_PROCS 64

TEST(concurrent_adds_from_64_processes_get_distinct_addresses)
{
	const char *ipam = "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/120\"}]]}";
	int results[2], gate[2];
	pid_t pids[N_PROCS];
	char seen[N_PROCS][128];
	char buf[N_PROCS * 128 + 1];
	size_t off = 0;
	ssize_t n;
	int ok = 0;

	CHECK_OK(pipe(results));
	CHECK_OK(pipe(gate));
	for (int i = 0; i < N_PROCS; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ipam_config *c = NULL;
			struct cni_error err;
			char id[32], got[128], line[128];
			char g;

			close(results[0]);
			close(gate[1]);
			snprintf(id, sizeof(id), "pod%d", i);
			if (load(ipam, NULL, NULL, &c, &err) < 0)
				_exit(2);
			/* Every process starts at once. */
			if (read(gate[0], &g, 1) < 0)
				_exit(2);
			if (add(c, id, got, sizeof(got), &err) < 0) {
				snprintf(line, sizeof(line), "ERR %.100s\n", err.msg);
			} else {
				snprintf(line, sizeof(line), "%.120s\n", got);
			}
			/* One write below PIPE_BUF is atomic. */
			if (write(results[1], line, strlen(line)) < 0)
				_exit(2);
			_exit(0);
		}
	}
	close(results[1]);
	close(gate[0]);
	close(gate[1]);
	while ((n = read(results[0], buf + off, sizeof(buf) - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	close(results[0]);
	for (int i = 0; i < N_PROCS; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "ERR", 3) == 0)
			test_fail(__FILE__, __LINE__, "an ADD failed: %s", line);
		CHECK(ok < N_PROCS);
		for (int j = 0; j < ok; j++) {
			char a[64], b[64], *sp;

			/* Compare each family separately. */
			snprintf(a, sizeof(a), "%.60s", line);
			snprintf(b, sizeof(b), "%.60s", seen[j]);
			if ((sp = strchr(a, ' ')))
				*sp = '\0';
			if ((sp = strchr(b, ' ')))
				*sp = '\0';
			if (streq(a, b) || streq(strchr(line, ' '), strchr(seen[j], ' ')))
				test_fail(__FILE__, __LINE__, "duplicate: \"%s\" and \"%s\"", line, seen[j]);
		}
		snprintf(seen[ok++], sizeof(seen[0]), "%s", line);
	}
	CHECK_INT_EQ(ok, N_PROCS);
	CHECK_INT_EQ(db_int("SELECT count(DISTINCT ip) FROM leases"), 2 * N_PROCS);
	CHECK_INT_EQ(db_int("SELECT count(DISTINCT container_id) FROM leases"), N_PROCS);
}

/* Children that ADD as fast as they can are SIGKILLed at random moments;
 * the store must stay consistent: every dual-stack attachment holds both
 * of its addresses or none, no address twice, and later ADDs work and
 * give addresses nobody holds. */
TEST(sigkill_during_adds_leaves_a_consistent_store)
{
	const char *ipam = "{\"ranges\":[[{\"subnet\":\"10.0.0.0/16\"}],[{\"subnet\":\"fd00::/112\"}]]}";
	struct ipam_config *c;
	long long before, total = 0;
	char got[128];
	struct cni_error err;

	srand((unsigned)getpid());
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();
		int status;

		CHECK(pid >= 0);
		if (pid == 0) {
			struct ipam_config *cc = NULL;

			if (load(ipam, NULL, NULL, &cc, &err) < 0)
				_exit(2);
			for (int i = 0; i < 100000; i++) {
				char id[64], a[128];

				snprintf(id, sizeof(id), "r%d-%d", round, i);
				if (add(cc, id, a, sizeof(a), &err) < 0)
					_exit(3);
				/* Release some so DEL gets killed too. */
				if (i % 3 == 0)
					ipam_del(cc, id, "eth0", &err);
			}
			_exit(0);
		}
		usleep(20000 + (useconds_t)(rand() % 80000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	CHECK_INT_EQ(db_int("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
	total = db_int("SELECT count(*) FROM leases");
	CHECK(total > 0);
	CHECK_INT_EQ(db_int("SELECT count(DISTINCT ip) FROM leases"), total);
	/* No half-done dual-stack ADD survived. */
	CHECK_INT_EQ(db_int("SELECT count(*) FROM (SELECT container_id FROM leases "
			    "GROUP BY container_id HAVING count(*) != 2 "
			    "OR count(DISTINCT length(ip)) != 2)"), 0);

	c = must_load(ipam);
	before = total;
	for (int i = 0; i < 20; i++) {
		char id[32], q[256], v4[64], *sp;
		struct in_addr in;

		snprintf(id, sizeof(id), "after%d", i);
		CHECK_OK(add(c, id, got, sizeof(got), &err));
		snprintf(v4, sizeof(v4), "%.60s", got);
		if ((sp = strchr(v4, '/')))
			*sp = '\0';
		CHECK(inet_pton(AF_INET, v4, &in) == 1);
		snprintf(q, sizeof(q),
			 "SELECT count(*) FROM leases WHERE ip = x'%08x' AND container_id != '%s'",
			 ntohl(in.s_addr), id);
		CHECK_INT_EQ(db_int(q), 0);
	}
	CHECK_INT_EQ(db_int("SELECT count(*) FROM leases"), before + 40);
	CHECK_INT_EQ(db_int("SELECT count(DISTINCT ip) FROM leases"), before + 40);
	ipam_config_free(c);
}
