/* The load balancer library against the real kernel: what lb_frontend_set,
 * the mark-and-sweep sync, restart and destroy leave in the pinned maps,
 * read back through bpffs as bpftool would. Runs as root; each test uses
 * its own bpffs folder and cgroup. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/lb.h"
#include "dataplane/lb/maglev.h"
#include "tests/harness/test.h"
#include "lib/util.h"

struct fixture {
	char dir[128];
	char cgroup[512];
	struct lb_options o;
};

static struct fixture fx;

static void fixture_cleanup(void)
{
	DIR *d = opendir(fx.dir);
	struct dirent *de;
	char p[512];

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", fx.dir, de->d_name);
			unlink(p);
		}
		closedir(d);
		rmdir(fx.dir);
	}
	if (fx.cgroup[0])
		rmdir(fx.cgroup);
}

static int libbpf_silent(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l;
	(void)f;
	(void)ap;
	return 0;
}

static void fixture_setup(void)
{
	_cleanup_fclose_ FILE *m = NULL;
	char line[1024], dev[256], path[256], type[64];

	if (geteuid() != 0)
		SKIP("needs root (bpf, cgroup)");
	libbpf_set_print(libbpf_silent);
	m = fopen("/proc/mounts", "re");
	CHECK(m);
	path[0] = 0;
	while (fgets(line, sizeof(line), m))
		if (sscanf(line, "%255s %255s %63s", dev, path, type) == 3 && streq(type, "cgroup2"))
			break;
	if (!streq(type, "cgroup2"))
		SKIP("no cgroup v2 mount");
	snprintf(fx.dir, sizeof(fx.dir), "/sys/fs/bpf/skiff-test-lb-%d", getpid());
	snprintf(fx.cgroup, sizeof(fx.cgroup), "%s/skiff-test-lb-%d", path, getpid());
	CHECK_INT_EQ(mkdir(fx.cgroup, 0755), 0);
	atexit(fixture_cleanup);
	fx.o.bpffs_dir = fx.dir;
	fx.o.cgroup_path = fx.cgroup;
}

static struct lb *open_lb(void)
{
	struct lb *lb = NULL;

	CHECK_OK(lb_open(&fx.o, &lb));
	CHECK(lb);
	return lb;
}

static int map_fd(const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", fx.dir, name);
	fd = bpf_obj_get(p);
	if (fd < 0)
		test_fail(__FILE__, __LINE__, "map %s not pinned: %s", name, strerror(errno));
	return fd;
}

static int map_count(const char *name, size_t key_size)
{
	_cleanup_close_ int fd = map_fd(name);
	char k[64], nk[64];
	int n = 0;
	void *prev = NULL;

	CHECK(key_size <= sizeof(k));
	while (bpf_map_get_next_key(fd, prev, nk) == 0) {
		memcpy(k, nk, key_size);
		prev = k;
		n++;
	}
	return n;
}

static struct lb_frontend fe4(const char *addr, uint16_t port, uint8_t proto)
{
	struct lb_frontend f = { .port = port, .proto = proto, .kind = LB_KIND_CLUSTER_IP };

	CHECK_OK(ipaddr_parse(addr, &f.addr));
	return f;
}

static struct lb_backend be(const char *addr, uint16_t port)
{
	struct lb_backend b = { .port = port };

	CHECK_OK(ipaddr_parse(addr, &b.addr));
	return b;
}

static struct lb_fe_val fe_value(const char *addr, uint16_t port, uint8_t proto)
{
	_cleanup_close_ int fd = map_fd(LB_MAP_FRONTENDS);
	struct lb_fe_key k = { .port = port, .proto = proto };
	struct lb_fe_val v;

	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	CHECK_INT_EQ(inet_pton(AF_INET, addr, k.addr + 12), 1);
	if (bpf_map_lookup_elem(fd, &k, &v) < 0)
		test_fail(__FILE__, __LINE__, "frontend %s:%u not in %s", addr, port, LB_MAP_FRONTENDS);
	return v;
}

/* The backend id in slot of generation gen, read from its block; 0 when
 * the block is not there. */
static uint32_t slot_backend(uint32_t fe_id, uint32_t gen, uint32_t slot)
{
	_cleanup_close_ int fd = map_fd(LB_MAP_SLOTS);
	struct lb_slot_key k = { .fe_id = fe_id, .gen = gen,
				 .slot = slot / LB_SLOT_BLOCK * LB_SLOT_BLOCK };
	struct lb_slot_val v;

	if (bpf_map_lookup_elem(fd, &k, &v) < 0)
		return 0;
	return v.backend_id[slot % LB_SLOT_BLOCK];
}

TEST(set_replaces_the_whole_generation)
{
	struct lb_backend b3[] = { be("10.1.0.1", 80), be("10.1.0.2", 80), be("10.1.0.3", 80) };
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct lb_frontend_params p = { .name = "default/web:http", .affinity_timeout = 60 };
	struct lb_fe_val v;
	uint32_t id2;
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, b3, 3, &p));
	v = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	CHECK_INT_EQ(v.count, 3);
	CHECK_OK(lb_backend_id(lb, &b3[2], LB_PROTO_TCP, &id2));
	CHECK(slot_backend(v.id, v.gen, 0) != 0);
	CHECK_INT_EQ(slot_backend(v.id, v.gen, 2), id2);
	CHECK_INT_EQ(slot_backend(v.id, v.gen, 3), 0); /* past count: zero */
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 1); /* one block */
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 3);
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 3);

	/* two of three: the new generation only, the third backend gone */
	CHECK_OK(lb_frontend_set(lb, &f, b3 + 1, 2, &p));
	{
		struct lb_fe_val w = fe_value("10.96.0.1", 80, IPPROTO_TCP);

		CHECK_INT_EQ(w.id, v.id);
		CHECK_INT_EQ(w.gen, v.gen + 1);
		CHECK_INT_EQ(w.count, 2);
		CHECK_INT_EQ(slot_backend(v.id, v.gen, 0), 0);
		CHECK_INT_EQ(slot_backend(w.id, w.gen, 1), id2);
	}
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 1);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 2);
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 2);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 1);

	/* without affinity nothing reads members: none are kept */
	p.affinity_timeout = 0;
	CHECK_OK(lb_frontend_set(lb, &f, b3 + 1, 2, &p));
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 0);
	p.affinity_timeout = 60;
	CHECK_OK(lb_frontend_set(lb, &f, b3, 3, &p));
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 3);
	CHECK_OK(lb_frontend_delete(lb, &f));
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 0);
	lb_close(lb);
}

/* 40 backends: three blocks of LB_SLOT_BLOCK slots, each slot where the
 * datapath looks for it. */
TEST(slots_are_blocks)
{
	struct lb_backend b[40];
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct lb_fe_val v;
	struct lb *lb;
	char a[32];
	int i;

	fixture_setup();
	for (i = 0; i < 40; i++) {
		snprintf(a, sizeof(a), "10.1.0.%d", i + 1);
		b[i] = be(a, 80);
	}
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, b, 40, NULL));
	v = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	CHECK_INT_EQ(v.count, 40);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 3);
	for (i = 0; i < 40; i++) {
		uint32_t id;

		CHECK_OK(lb_backend_id(lb, &b[i], LB_PROTO_TCP, &id));
		CHECK_INT_EQ(slot_backend(v.id, v.gen, (uint32_t)i), id);
	}
	CHECK_INT_EQ(slot_backend(v.id, v.gen, 40), 0);
	CHECK_OK(lb_frontend_set(lb, &f, b, 17, NULL));
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 2);
	lb_close(lb);
}

TEST(backend_ids_are_stable_across_updates_and_restarts)
{
	struct lb_backend a[] = { be("10.1.0.1", 80), be("10.1.0.2", 80) };
	struct lb_backend b[] = { be("10.1.0.9", 80), be("10.1.0.2", 80) };
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	uint32_t id1 = 0, id2 = 0, id3 = 0;
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, a, 2, NULL));
	CHECK_OK(lb_backend_id(lb, &a[1], LB_PROTO_TCP, &id1));
	CHECK_OK(lb_frontend_set(lb, &f, b, 2, NULL));
	CHECK_OK(lb_backend_id(lb, &a[1], LB_PROTO_TCP, &id2));
	CHECK_INT_EQ(id1, id2);
	CHECK_INT_EQ(lb_backend_id(lb, &a[0], LB_PROTO_TCP, &id3), -ENOENT);
	lb_close(lb);
	lb = open_lb();
	CHECK_OK(lb_backend_id(lb, &a[1], LB_PROTO_TCP, &id3));
	CHECK_INT_EQ(id1, id3);
	lb_close(lb);
}

TEST(restart_reuses_maps_and_sync_sweeps_the_rest)
{
	struct lb_backend a[] = { be("10.1.0.1", 80) };
	struct lb_backend b[] = { be("10.1.0.2", 53) };
	struct lb_frontend fa = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct lb_frontend fb = fe4("10.96.0.2", 53, LB_PROTO_UDP);
	struct lb_fe_val before, after;
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &fa, a, 1, NULL));
	CHECK_OK(lb_frontend_set(lb, &fb, b, 1, NULL));
	before = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	lb_close(lb);

	/* nothing is flushed by a restart */
	lb = open_lb();
	after = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	CHECK_INT_EQ(after.id, before.id);
	CHECK_INT_EQ(after.gen, before.gen);
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 2);

	CHECK_OK(lb_sync_begin(lb));
	CHECK_OK(lb_frontend_set(lb, &fa, a, 1, NULL));
	CHECK_OK(lb_sync_end(lb));
	after = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	CHECK_INT_EQ(after.id, before.id);
	CHECK_INT_EQ(after.gen, before.gen + 1);
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 1);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 1);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 1);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 1);
	lb_close(lb);
}

/* An lb_slots pinned by an older agent (one entry per slot, a backend id
 * each) and members kept for a frontend without affinity: a restart
 * carries the slots into blocks and drops the members. */
TEST(restart_migrates_an_older_slot_layout)
{
	struct lb_backend b[] = { be("10.1.0.1", 80), be("10.1.0.2", 80), be("10.1.0.3", 80) };
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info), ids[3];
	struct lb_fe_val v;
	char path[256];
	struct lb *lb;
	int fd, mfd, i;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, b, 3, NULL));
	for (i = 0; i < 3; i++)
		CHECK_OK(lb_backend_id(lb, &b[i], LB_PROTO_TCP, &ids[i]));
	v = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	lb_close(lb);

	snprintf(path, sizeof(path), "%s/%s", fx.dir, LB_MAP_SLOTS);
	CHECK_INT_EQ(unlink(path), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, LB_MAP_SLOTS, sizeof(struct lb_slot_key),
			    sizeof(uint32_t), 1024, NULL);
	CHECK(fd >= 0);
	mfd = map_fd(LB_MAP_MEMBERS);
	for (i = 0; i < 3; i++) {
		struct lb_slot_key k = { .fe_id = v.id, .gen = v.gen, .slot = (uint32_t)i };
		struct lb_member_key mk = { .fe_id = v.id, .backend_id = ids[i] };
		struct lb_member_val mv = { .gen = v.gen };

		CHECK_INT_EQ(bpf_map_update_elem(fd, &k, &ids[i], BPF_ANY), 0);
		CHECK_INT_EQ(bpf_map_update_elem(mfd, &mk, &mv, BPF_ANY), 0);
	}
	CHECK_INT_EQ(bpf_obj_pin(fd, path), 0);
	close(fd);
	close(mfd);

	lb = open_lb();
	fd = map_fd(LB_MAP_SLOTS);
	CHECK_INT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	CHECK_INT_EQ(info.value_size, sizeof(struct lb_slot_val));
	for (i = 0; i < 3; i++)
		CHECK_INT_EQ(slot_backend(v.id, v.gen, (uint32_t)i), ids[i]);
	CHECK_INT_EQ(map_count(LB_MAP_MEMBERS, sizeof(struct lb_member_key)), 0);
	/* the backends' references came back from the migrated slots */
	CHECK_OK(lb_frontend_delete(lb, &f));
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 0);
	lb_close(lb);
}

/* lb_frontend_set_many: new frontends go through the batch, a known one
 * and a Maglev one through lb_frontend_set, the same frontend twice in
 * one call takes the second set; each request has its own result. */
TEST(set_many_writes_what_set_writes)
{
	struct lb_backend b[] = { be("10.1.0.1", 80), be("10.1.0.2", 80), be("10.1.0.3", 80) };
	struct lb_frontend_req q[5] = {
		{ .fe = fe4("10.96.0.1", 80, LB_PROTO_TCP), .backends = b, .n = 3,
		  .params = { .name = "default/a:http" } },
		{ .fe = fe4("10.96.0.1", 443, LB_PROTO_TCP), .backends = b + 1, .n = 2 },
		{ .fe = fe4("10.96.0.2", 80, LB_PROTO_TCP), .backends = b, .n = 1,
		  .params = { .algorithm = LB_ALG_MAGLEV } },
		{ .fe = fe4("10.96.0.1", 80, LB_PROTO_TCP), .backends = b, .n = 2 },
		{ .fe = fe4("10.96.0.3", 0, LB_PROTO_TCP), .backends = b, .n = 1 },
	};
	int res[5];
	struct lb_fe_val v;
	struct lb *lb;
	uint32_t id0;

	fixture_setup();
	lb = open_lb();
	CHECK_INT_EQ(lb_frontend_set_many(lb, q, 5, res), 1);
	CHECK_INT_EQ(res[0], 0);
	CHECK_INT_EQ(res[1], 0);
	CHECK_INT_EQ(res[2], 0);
	CHECK_INT_EQ(res[3], 0);
	CHECK_INT_EQ(res[4], -EINVAL); /* port 0 */
	v = fe_value("10.96.0.1", 80, IPPROTO_TCP);
	CHECK_INT_EQ(v.count, 2); /* the second set of it */
	CHECK_INT_EQ(v.gen, 2);
	CHECK_OK(lb_backend_id(lb, &b[0], LB_PROTO_TCP, &id0));
	CHECK_INT_EQ(slot_backend(v.id, v.gen, 0), id0);
	CHECK_INT_EQ(fe_value("10.96.0.1", 443, IPPROTO_TCP).count, 2);
	CHECK_INT_EQ(fe_value("10.96.0.2", 80, IPPROTO_TCP).algo, LB_FE_ALGO_MAGLEV);
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 3);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 3);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 3);
	CHECK_INT_EQ(map_count(LB_MAP_NAMES, sizeof(struct lb_id_key)), 1);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 2);
	{
		_cleanup_close_ int fd = map_fd(LB_MAP_SVC_IPS);
		struct lb_ip_key k = { .addr = { [10] = 0xff, [11] = 0xff, 10, 96, 0, 1 } };
		struct lb_ip_val iv;

		CHECK_INT_EQ(bpf_map_lookup_elem(fd, &k, &iv), 0);
		CHECK_INT_EQ(iv.refs, 2); /* ports 80 and 443 */
	}
	/* removing them leaves nothing: the references were counted right */
	CHECK_OK(lb_frontend_delete(lb, &q[0].fe));
	CHECK_OK(lb_frontend_delete(lb, &q[1].fe));
	CHECK_OK(lb_frontend_delete(lb, &q[2].fe));
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 0);
	lb_close(lb);
}

/* A batch the maps cannot hold: the frontends refused are undone (no
 * entry, no reference), the others are set. */
TEST(set_many_undoes_what_the_maps_refuse)
{
	struct lb_backend b[8];
	struct lb_frontend_req q[8];
	int res[8], i, failed;
	struct lb *lb;
	char a[32];

	fixture_setup();
	fx.o.max_frontends = 5;
	lb = open_lb();
	for (i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "10.1.0.%d", i + 1);
		b[i] = be(a, 80);
		snprintf(a, sizeof(a), "10.96.0.%d", i + 1);
		q[i] = (struct lb_frontend_req){ .fe = fe4(a, 80, LB_PROTO_TCP), .backends = &b[i],
						 .n = 1 };
	}
	failed = lb_frontend_set_many(lb, q, 8, res);
	CHECK_INT_EQ(failed, 3);
	for (i = 0; i < 8; i++) {
		uint32_t id;

		CHECK(res[i] == 0 || res[i] < 0);
		CHECK_INT_EQ(lb_backend_id(lb, &b[i], LB_PROTO_TCP, &id), res[i] ? -ENOENT : 0);
	}
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 5);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 5);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 5);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 5);
	lb_close(lb);
	fx.o.max_frontends = 0;
}

TEST(bad_input_is_refused)
{
	struct lb_backend v6 = be("fd00::1", 80);
	struct lb_backend ok = be("10.1.0.1", 80);
	struct lb_backend port0 = be("10.1.0.1", 0);
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct lb_frontend bad;
	struct lb_frontend_params maglev9 = { .algorithm = 9 };
	struct ipaddr a;
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_INT_EQ(lb_frontend_set(lb, &f, &v6, 1, NULL), -EINVAL);
	CHECK_INT_EQ(lb_frontend_set(lb, &f, &port0, 1, NULL), -EINVAL);
	CHECK_INT_EQ(lb_frontend_set(lb, &f, &ok, 1, &maglev9), -EINVAL);
	bad = f;
	bad.port = 0;
	CHECK_INT_EQ(lb_frontend_set(lb, &bad, &ok, 1, NULL), -EINVAL);
	bad = f;
	bad.proto = 99;
	CHECK_INT_EQ(lb_frontend_set(lb, &bad, &ok, 1, NULL), -EINVAL);
	CHECK_INT_EQ(lb_frontend_delete(lb, &f), -ENOENT);
	bad = fe4("0.0.0.0", 80, LB_PROTO_TCP); /* a wildcard is for NodePorts only */
	CHECK_INT_EQ(lb_frontend_set(lb, &bad, &ok, 1, NULL), -EINVAL);
	bad.kind = LB_KIND_NODE_PORT;
	CHECK_OK(lb_frontend_set(lb, &bad, &ok, 1, NULL));
	CHECK_OK(lb_frontend_delete(lb, &bad));
	CHECK_INT_EQ(ipaddr_parse("10.96.0.300", &a), -EINVAL);
	/* nothing half-written */
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 0);
	lb_close(lb);
}

TEST(zero_and_quarantined_backends)
{
	struct lb_backend b[] = { be("10.1.0.1", 80), be("10.1.0.2", 80), be("10.1.0.3", 80) };
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, NULL, 0, NULL));
	CHECK_INT_EQ(fe_value("10.96.0.1", 80, IPPROTO_TCP).count, 0);
	b[1].state = LB_BACKEND_QUARANTINED;
	CHECK_OK(lb_frontend_set(lb, &f, b, 3, NULL));
	CHECK_INT_EQ(fe_value("10.96.0.1", 80, IPPROTO_TCP).count, 2);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 3);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 1);
	CHECK_OK(lb_frontend_delete(lb, &f));
	CHECK_INT_EQ(map_count(LB_MAP_FRONTENDS, sizeof(struct lb_fe_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_BACKENDS, sizeof(struct lb_be_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_SLOTS, sizeof(struct lb_slot_key)), 0);
	CHECK_INT_EQ(map_count(LB_MAP_SVC_IPS, sizeof(struct lb_ip_key)), 0);
	lb_close(lb);
}

TEST(destroy_removes_every_pin)
{
	struct lb_backend b = be("10.1.0.1", 80);
	struct lb_frontend f = fe4("10.96.0.1", 80, LB_PROTO_TCP);
	struct stat st;
	struct lb *lb;

	fixture_setup();
	lb = open_lb();
	CHECK_OK(lb_frontend_set(lb, &f, &b, 1, NULL));
	CHECK_INT_EQ(stat(fx.dir, &st), 0);
	CHECK_OK(lb_destroy(lb));
	CHECK_INT_EQ(stat(fx.dir, &st), -1);
}

/* Maglev: each backend owns about m/n entries, and removing one backend
 * moves only the entries it owned. */
TEST(maglev_is_balanced_and_minimally_disruptive)
{
	enum { N = 5 };
	static uint32_t before[LB_MAGLEV_M], after[LB_MAGLEV_M];
	struct lb_maglev_backend mb[N];
	uint8_t names[N][4];
	int own[N + 1] = { 0 }, moved = 0, i;

	for (i = 0; i < N; i++) {
		names[i][0] = 10;
		names[i][1] = 1;
		names[i][2] = 0;
		names[i][3] = (uint8_t)(i + 1);
		mb[i] = (struct lb_maglev_backend){ names[i], 4, (uint32_t)(i + 1) };
	}
	CHECK_OK(lb_maglev_fill(mb, N, before, LB_MAGLEV_M));
	for (i = 0; i < LB_MAGLEV_M; i++) {
		CHECK(before[i] >= 1 && before[i] <= N);
		own[before[i]]++;
	}
	for (i = 1; i <= N; i++)
		CHECK(own[i] >= LB_MAGLEV_M / N - 5 && own[i] <= LB_MAGLEV_M / N + 5);
	/* drop backend 3 */
	mb[2] = mb[N - 1];
	CHECK_OK(lb_maglev_fill(mb, N - 1, after, LB_MAGLEV_M));
	for (i = 0; i < LB_MAGLEV_M; i++) {
		CHECK(after[i] != 3);
		if (before[i] != 3 && before[i] != after[i])
			moved++;
	}
	CHECK(moved < LB_MAGLEV_M / 10);
	CHECK_INT_EQ(lb_maglev_fill(mb, 0, after, LB_MAGLEV_M), -EINVAL);
}
