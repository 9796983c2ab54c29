/* The tc NodePort programs through bpf_prog_test_run_opts: crafted packets
 * in, the translated packet and the conntrack map out. Each test runs in a
 * network namespace of its own, with a node device "ext" (clients and
 * other nodes behind it) and a pod device "pod" (local backends), so the
 * programs' fib lookups see a real routing table. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/lb.h"
#include "tests/harness/test.h"
#include "lib/util.h"

#define NODE_IP "192.168.50.1"
#define CLIENT_IP "192.168.50.100"
#define REMOTE_BE "192.168.50.20"
#define LOCAL_BE "10.244.1.5"
#define LOCAL_BE2 "10.244.1.6"
#define NODE_IP6 "fd00:50::1"
#define CLIENT_IP6 "fd00:50::100"
#define REMOTE_BE6 "fd00:50::20"

static char g_dir[128], g_cgroup[512];

static void cleanup(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *de;
	char p[512];

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
			unlink(p);
		}
		closedir(d);
		rmdir(g_dir);
	}
	if (g_cgroup[0])
		rmdir(g_cgroup);
}

static int silent(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l;
	(void)f;
	(void)ap;
	return 0;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		test_fail(__FILE__, __LINE__, "setup command failed: %s", cmd);
}

/* New netns with ext and pod devices, routes and permanent neighbours;
 * the load balancer opened with tc on ext. */
static struct lb *setup(void)
{
	_cleanup_fclose_ FILE *m = NULL;
	char line[1024], dev[256], path[256] = "", type[64] = "";
	const char *devs[] = { "ext" };
	struct lb_options o = { 0 };
	struct lb *lb = NULL;

	if (geteuid() != 0)
		SKIP("needs root");
	libbpf_set_print(silent);
	if (unshare(CLONE_NEWNET) < 0)
		SKIP("cannot create a network namespace: %s", strerror(errno));
	sh("ip link set lo up && "
	   "ip link add ext type veth peer name ext-peer && "
	   "ip link set ext address 02:00:00:00:00:01 && "
	   "ip addr add " NODE_IP "/24 dev ext && ip link set ext up && ip link set ext-peer up && "
	   "ip link add pod type veth peer name pod-peer && "
	   "ip link set pod address 02:00:00:00:01:01 && "
	   "ip addr add 10.244.1.1/24 dev pod && ip link set pod up && ip link set pod-peer up && "
	   "ip neigh add " REMOTE_BE " lladdr 02:00:00:00:00:20 dev ext nud permanent && "
	   "ip neigh add " CLIENT_IP " lladdr 02:00:00:00:00:64 dev ext nud permanent && "
	   "ip neigh add " LOCAL_BE " lladdr 02:00:00:00:01:05 dev pod nud permanent && "
	   "ip addr add " NODE_IP6 "/64 dev ext nodad && "
	   "ip neigh add " REMOTE_BE6 " lladdr 02:00:00:00:00:20 dev ext nud permanent && "
	   "ip neigh add " CLIENT_IP6 " lladdr 02:00:00:00:00:64 dev ext nud permanent");
	CHECK_OK(sysctl_write("net/ipv4/conf/all/forwarding", "1"));
	CHECK_OK(sysctl_write("net/ipv6/conf/all/forwarding", "1"));
	CHECK_OK(sysctl_write("net/ipv4/conf/ext/forwarding", "1"));

	m = fopen("/proc/mounts", "re");
	CHECK(m);
	while (fgets(line, sizeof(line), m))
		if (sscanf(line, "%255s %255s %63s", dev, path, type) == 3 && streq(type, "cgroup2"))
			break;
	if (!streq(type, "cgroup2"))
		SKIP("no cgroup v2 mount");
	snprintf(g_dir, sizeof(g_dir), "/sys/fs/bpf/skiff-test-tc-%d", getpid());
	snprintf(g_cgroup, sizeof(g_cgroup), "%s/skiff-test-tc-%d", path, getpid());
	CHECK_INT_EQ(mkdir(g_cgroup, 0755), 0);
	atexit(cleanup);
	o.bpffs_dir = g_dir;
	o.cgroup_path = g_cgroup;
	o.nodeport_devices = devs;
	o.n_nodeport_devices = 1;
	CHECK_OK(lb_open(&o, &lb));
	return lb;
}

/* The program our loader attached at that point of ext. */
static int attached_prog(enum bpf_tc_attach_point at)
{
	struct bpf_tc_hook h = { .sz = sizeof(h), .attach_point = at };
	struct bpf_tc_opts t = { .sz = sizeof(t), .handle = 0x5f1f, .priority = 0x5f1f };
	int fd;

	h.ifindex = (int)if_nametoindex("ext");
	CHECK_OK(bpf_tc_query(&h, &t));
	fd = bpf_prog_get_fd_by_id(t.prog_id);
	CHECK(fd >= 0);
	return fd;
}

struct pkt {
	struct ethhdr eth;
	struct iphdr ip;
	union {
		struct tcphdr tcp;
		struct udphdr udp;
	};
	char payload[8];
} __attribute__((packed));

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)(b[n - 1] << 8);
	return s;
}

static uint16_t l4_csum(const struct pkt *p)
{
	size_t l4len = ntohs(p->ip.tot_len) - sizeof(p->ip);
	uint32_t s = 0;

	s = csum_add(s, &p->ip.saddr, 4);
	s = csum_add(s, &p->ip.daddr, 4);
	s += p->ip.protocol;
	s += (uint32_t)l4len;
	s = csum_add(s, &p->tcp, l4len);
	return csum_fold(s);
}

static struct pkt make_pkt(uint8_t proto, const char *src, uint16_t sport, const char *dst,
			   uint16_t dport)
{
	struct pkt p = { 0 };
	size_t l4 = proto == IPPROTO_TCP ? sizeof(p.tcp) : sizeof(p.udp);

	memcpy(p.eth.h_dest, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(p.eth.h_source, "\x02\x00\x00\x00\x00\x64", 6);
	p.eth.h_proto = htons(ETH_P_IP);
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.ttl = 64;
	p.ip.protocol = proto;
	p.ip.tot_len = htons((uint16_t)(sizeof(p.ip) + l4 + sizeof(p.payload)));
	inet_pton(AF_INET, src, &p.ip.saddr);
	inet_pton(AF_INET, dst, &p.ip.daddr);
	memcpy(p.payload, "skiff!\n", 8);
	if (proto == IPPROTO_TCP) {
		p.tcp.source = htons(sport);
		p.tcp.dest = htons(dport);
		p.tcp.doff = 5;
		p.tcp.syn = 1;
		p.tcp.window = htons(1000);
	} else {
		p.udp.source = htons(sport);
		p.udp.dest = htons(dport);
		p.udp.len = htons((uint16_t)(l4 + sizeof(p.payload)));
	}
	p.ip.check = htons(csum_fold(csum_add(0, &p.ip, sizeof(p.ip))));
	if (proto == IPPROTO_TCP)
		p.tcp.check = htons(l4_csum(&p));
	else
		p.udp.check = htons(l4_csum(&p));
	return p;
}

static void check_csums(const struct pkt *p)
{
	CHECK_INT_EQ(csum_fold(csum_add(0, &p->ip, sizeof(p->ip))), 0);
	CHECK_INT_EQ(l4_csum(p), 0);
}

/* Runs the program on *p in place; returns the tc verdict and, in *len,
 * the length of the packet that came out. */
static int run_len(int prog, struct pkt *p, uint32_t *len)
{
	struct __sk_buff ctx = { 0 };
	struct pkt out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p, .data_size_in = sizeof(*p),
		    .data_out = &out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	ctx.ifindex = (int)if_nametoindex("ext");
	ctx.ingress_ifindex = ctx.ifindex;
	CHECK_OK(bpf_prog_test_run_opts(prog, &o));
	*len = o.data_size_out;
	*p = out;
	return (int)o.retval;
}

static int run(int prog, struct pkt *p)
{
	uint32_t len;
	int r = run_len(prog, p, &len);

	CHECK_INT_EQ(len, sizeof(*p));
	return r;
}

static uint32_t ip4(const char *s)
{
	uint32_t a;

	CHECK_INT_EQ(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void set_nodeport(struct lb *lb, uint8_t proto, const char *be_ip, size_t n,
			 uint32_t flags)
{
	struct lb_frontend fe = { .port = 30080, .proto = proto, .kind = LB_KIND_NODE_PORT };
	struct lb_backend be = { .port = 8080 };
	struct lb_frontend_params prm = { .name = "default/web:http", .flags = flags };

	CHECK_OK(ipaddr_parse(NODE_IP, &fe.addr));
	CHECK_OK(ipaddr_parse(be_ip, &be.addr));
	CHECK_OK(lb_frontend_set(lb, &fe, &be, n, &prm));
}

static int ct_entries(void)
{
	char path[256];
	struct lb_ct_key k, nk;
	int fd, n = 0;
	void *prev = NULL;

	snprintf(path, sizeof(path), "%s/%s", g_dir, LB_MAP_CT);
	fd = bpf_obj_get(path);
	CHECK(fd >= 0);
	while (bpf_map_get_next_key(fd, prev, &nk) == 0) {
		k = nk;
		prev = &k;
		n++;
	}
	close(fd);
	return n;
}

/* p leaves for the client from the NodePort, through the client's router,
 * with its checksums right. */
#define CHECK_TCP_TO_CLIENT(p, client_port)                                          \
	do {                                                                         \
		CHECK_INT_EQ((p).ip.saddr, ip4(NODE_IP));                            \
		CHECK_INT_EQ(ntohs((p).tcp.source), 30080);                          \
		CHECK_INT_EQ((p).ip.daddr, ip4(CLIENT_IP));                          \
		CHECK_INT_EQ(ntohs((p).tcp.dest), client_port);                      \
		CHECK(memcmp((p).eth.h_dest, "\x02\x00\x00\x00\x00\x64", 6) == 0); \
		check_csums(&(p));                                                   \
	} while (0)

TEST(remote_backend_is_dnated_and_snated_and_the_reply_returns)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct pkt p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40000, NODE_IP, 30080);
	struct lb_frontend fe = { .port = 30080, .proto = IPPROTO_TCP, .kind = LB_KIND_NODE_PORT };
	struct lb_counters c;
	uint16_t snat_port;

	set_nodeport(lb, IPPROTO_TCP, REMOTE_BE, 1, 0);
	CHECK_INT_EQ(run(in, &p), TC_ACT_REDIRECT);
	CHECK_INT_EQ(p.ip.daddr, ip4(REMOTE_BE));
	CHECK_INT_EQ(ntohs(p.tcp.dest), 8080);
	CHECK_INT_EQ(p.ip.saddr, ip4(NODE_IP));
	snat_port = ntohs(p.tcp.source);
	CHECK(snat_port >= LB_SNAT_PORT_MIN && snat_port <= LB_SNAT_PORT_MAX);
	CHECK(memcmp(p.eth.h_dest, "\x02\x00\x00\x00\x00\x20", 6) == 0);
	check_csums(&p);
	CHECK_INT_EQ(ct_entries(), 2);

	/* the backend answers the node; the client gets it from the NodePort */
	p = make_pkt(IPPROTO_TCP, REMOTE_BE, 8080, NODE_IP, snat_port);
	CHECK_INT_EQ(run(in, &p), TC_ACT_REDIRECT);
	CHECK_TCP_TO_CLIENT(p, 40000);

	/* the next packet of the connection takes the same path */
	p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40000, NODE_IP, 30080);
	CHECK_INT_EQ(run(in, &p), TC_ACT_REDIRECT);
	CHECK_INT_EQ(ntohs(p.tcp.source), snat_port);
	CHECK_INT_EQ(ct_entries(), 2);

	CHECK_OK(ipaddr_parse(NODE_IP, &fe.addr));
	CHECK_OK(lb_frontend_stats(lb, &fe, &c));
	CHECK_INT_EQ(c.connections, 1);
	CHECK_INT_EQ(c.packets, 3);
	CHECK(c.bytes >= 3 * sizeof(p));
	lb_close(lb);
}

TEST(local_backend_keeps_the_client_address)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS), eg = attached_prog(BPF_TC_EGRESS);
	struct pkt p = make_pkt(IPPROTO_UDP, CLIENT_IP, 40001, NODE_IP, 30080);

	set_nodeport(lb, IPPROTO_UDP, LOCAL_BE, 1, 0);
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4(LOCAL_BE));
	CHECK_INT_EQ(ntohs(p.udp.dest), 8080);
	CHECK_INT_EQ(p.ip.saddr, ip4(CLIENT_IP));
	CHECK_INT_EQ(ntohs(p.udp.source), 40001);
	check_csums(&p);

	/* the pod's reply leaves through ext: source back to the NodePort */
	p = make_pkt(IPPROTO_UDP, LOCAL_BE, 8080, CLIENT_IP, 40001);
	CHECK_INT_EQ(run(eg, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.saddr, ip4(NODE_IP));
	CHECK_INT_EQ(ntohs(p.udp.source), 30080);
	CHECK_INT_EQ(p.ip.daddr, ip4(CLIENT_IP));
	check_csums(&p);
	lb_close(lb);
}

/* A client port used again after its connection's backend left, and the
 * backend's id went to a new one: the new connection goes to the new
 * backend, not to the address the old conntrack entry kept (a pod gone). */
TEST(a_reused_client_port_follows_no_backend_whose_id_was_reused)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct pkt p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40020, NODE_IP, 30080);
	struct lb_backend old = { .port = 8080 }, new = { .port = 8080 };
	uint32_t old_id, new_id;

	CHECK_OK(ipaddr_parse(LOCAL_BE, &old.addr));
	CHECK_OK(ipaddr_parse(LOCAL_BE2, &new.addr));
	set_nodeport(lb, IPPROTO_TCP, LOCAL_BE, 1, 0);
	CHECK_OK(lb_backend_id(lb, &old, IPPROTO_TCP, &old_id));
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4(LOCAL_BE));

	set_nodeport(lb, IPPROTO_TCP, LOCAL_BE, 0, 0); /* the pod left */
	set_nodeport(lb, IPPROTO_TCP, LOCAL_BE2, 1, 0);
	CHECK_OK(lb_backend_id(lb, &new, IPPROTO_TCP, &new_id));
	CHECK_INT_EQ(new_id, old_id); /* what this case is about */
	p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40020, NODE_IP, 30080);
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4(LOCAL_BE2));
	check_csums(&p);
	lb_close(lb);
}

/* 40 backends fill three lb_slots blocks: new flows reach every one of
 * them, the last block's included. */
TEST(random_selection_reaches_every_slot_block)
{
	enum { N = 40, FLOWS = 1000 };
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct lb_frontend fe = { .port = 30080, .proto = IPPROTO_UDP, .kind = LB_KIND_NODE_PORT };
	struct lb_backend be[N];
	bool seen[N] = { false };
	int i, n_seen = 0;

	CHECK_OK(ipaddr_parse(NODE_IP, &fe.addr));
	for (i = 0; i < N; i++) {
		be[i] = (struct lb_backend){ .port = (uint16_t)(8080 + i) };
		CHECK_OK(ipaddr_parse(LOCAL_BE, &be[i].addr));
	}
	CHECK_OK(lb_frontend_set(lb, &fe, be, N, NULL));
	for (i = 0; i < FLOWS; i++) {
		struct pkt p = make_pkt(IPPROTO_UDP, CLIENT_IP, (uint16_t)(10000 + i), NODE_IP, 30080);
		int port;

		CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
		port = ntohs(p.udp.dest) - 8080;
		CHECK(port >= 0 && port < N);
		if (!seen[port])
			n_seen++;
		seen[port] = true;
	}
	/* a backend missed by 1,000 uniform picks: 40 * (39/40)^1000, ~1e-9 */
	CHECK_INT_EQ(n_seen, N);
	lb_close(lb);
}

TEST(local_policy_never_snats_a_remote_backend)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct pkt p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40002, NODE_IP, 30080);

	set_nodeport(lb, IPPROTO_TCP, REMOTE_BE, 1, LB_F_LOCAL);
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4(REMOTE_BE));
	CHECK_INT_EQ(p.ip.saddr, ip4(CLIENT_IP));
	check_csums(&p);
	lb_close(lb);
}

TEST(no_backend_refuses_and_other_traffic_passes_untouched)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct lb_frontend cip = { .port = 80, .proto = IPPROTO_TCP, .kind = LB_KIND_CLUSTER_IP };
	struct lb_backend be = { .port = 8080 };
	struct pkt p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40003, NODE_IP, 30080), q;
	char path[256];
	uint64_t drops[512] = { 0 }, sum = 0;
	uint32_t key = 1;
	int fd, i, ncpu = libbpf_num_possible_cpus();

	uint32_t len;

	/* a SYN is answered with an RST from the NodePort: refused at once */
	set_nodeport(lb, IPPROTO_TCP, REMOTE_BE, 0, 0);
	CHECK_INT_EQ(run_len(in, &p, &len), TC_ACT_REDIRECT);
	CHECK_INT_EQ(len, sizeof(p.eth) + sizeof(p.ip) + sizeof(p.tcp));
	CHECK(p.tcp.rst && p.tcp.ack && !p.tcp.syn);
	CHECK_INT_EQ(ntohl(p.tcp.ack_seq), 1 + sizeof(p.payload));
	CHECK_TCP_TO_CLIENT(p, 40003);
	/* a datagram is dropped */
	set_nodeport(lb, IPPROTO_UDP, REMOTE_BE, 0, 0);
	p = make_pkt(IPPROTO_UDP, CLIENT_IP, 40003, NODE_IP, 30080);
	CHECK_INT_EQ(run(in, &p), TC_ACT_SHOT);
	snprintf(path, sizeof(path), "%s/%s", g_dir, LB_MAP_DROPS);
	fd = bpf_obj_get(path);
	CHECK(fd >= 0 && ncpu > 0 && ncpu <= 512);
	CHECK_OK(bpf_map_lookup_elem(fd, &key, drops));
	for (i = 0; i < ncpu; i++)
		sum += drops[i];
	CHECK_INT_EQ(sum, 2);
	close(fd);

	/* a ClusterIP is not reachable from outside through tc */
	CHECK_OK(ipaddr_parse("10.96.0.10", &cip.addr));
	CHECK_OK(ipaddr_parse(LOCAL_BE, &be.addr));
	CHECK_OK(lb_frontend_set(lb, &cip, &be, 1, NULL));
	p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40004, "10.96.0.10", 80);
	q = p;
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	/* nor is any other port of the node */
	p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40005, NODE_IP, 22);
	q = p;
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	CHECK_INT_EQ(ct_entries(), 0);
	lb_close(lb);
}

struct pkt6 {
	struct ethhdr eth;
	struct ipv6hdr ip;
	struct tcphdr tcp;
	char payload[8];
} __attribute__((packed));

static uint16_t l4_csum6(const struct pkt6 *p)
{
	uint32_t len = ntohs(p->ip.payload_len), s = 0;

	s = csum_add(s, &p->ip.saddr, 16);
	s = csum_add(s, &p->ip.daddr, 16);
	s += len;
	s += p->ip.nexthdr;
	s = csum_add(s, &p->tcp, len);
	return csum_fold(s);
}

static struct pkt6 make_pkt6(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct pkt6 p = { 0 };

	memcpy(p.eth.h_dest, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(p.eth.h_source, "\x02\x00\x00\x00\x00\x64", 6);
	p.eth.h_proto = htons(ETH_P_IPV6);
	p.ip.version = 6;
	p.ip.nexthdr = IPPROTO_TCP;
	p.ip.hop_limit = 64;
	p.ip.payload_len = htons(sizeof(p.tcp) + sizeof(p.payload));
	CHECK_INT_EQ(inet_pton(AF_INET6, src, &p.ip.saddr), 1);
	CHECK_INT_EQ(inet_pton(AF_INET6, dst, &p.ip.daddr), 1);
	memcpy(p.payload, "skiff!\n", 8);
	p.tcp.source = htons(sport);
	p.tcp.dest = htons(dport);
	p.tcp.doff = 5;
	p.tcp.syn = 1;
	p.tcp.window = htons(1000);
	p.tcp.check = htons(l4_csum6(&p));
	return p;
}

static int run6(int prog, struct pkt6 *p)
{
	struct __sk_buff ctx = { 0 };
	struct pkt6 out;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p, .data_size_in = sizeof(*p),
		    .data_out = &out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	ctx.ifindex = (int)if_nametoindex("ext");
	ctx.ingress_ifindex = ctx.ifindex;
	CHECK_OK(bpf_prog_test_run_opts(prog, &o));
	CHECK_INT_EQ(o.data_size_out, sizeof(out));
	*p = out;
	return (int)o.retval;
}

static void check_addr6(const void *a, const char *want)
{
	char got[INET6_ADDRSTRLEN];
	struct in6_addr copy;

	memcpy(&copy, a, sizeof(copy));
	inet_ntop(AF_INET6, &copy, got, sizeof(got));
	CHECK_STR_EQ(got, want);
}

TEST(ipv6_remote_backend_is_dnated_and_snated_and_the_reply_returns)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct lb_frontend fe = { .port = 30080, .proto = IPPROTO_TCP, .kind = LB_KIND_NODE_PORT };
	struct lb_backend be = { .port = 8080 };
	struct pkt6 p = make_pkt6(CLIENT_IP6, 40000, NODE_IP6, 30080);
	uint16_t snat_port;

	CHECK_OK(ipaddr_parse(NODE_IP6, &fe.addr));
	CHECK_OK(ipaddr_parse(REMOTE_BE6, &be.addr));
	CHECK_OK(lb_frontend_set(lb, &fe, &be, 1, NULL));
	CHECK_INT_EQ(run6(in, &p), TC_ACT_REDIRECT);
	check_addr6((const char *)&p + offsetof(struct pkt6, ip.daddr), REMOTE_BE6);
	check_addr6((const char *)&p + offsetof(struct pkt6, ip.saddr), NODE_IP6);
	CHECK_INT_EQ(ntohs(p.tcp.dest), 8080);
	snat_port = ntohs(p.tcp.source);
	CHECK(snat_port >= LB_SNAT_PORT_MIN && snat_port <= LB_SNAT_PORT_MAX);
	CHECK_INT_EQ(l4_csum6(&p), 0);
	CHECK(memcmp(p.eth.h_dest, "\x02\x00\x00\x00\x00\x20", 6) == 0);

	p = make_pkt6(REMOTE_BE6, 8080, NODE_IP6, snat_port);
	CHECK_INT_EQ(run6(in, &p), TC_ACT_REDIRECT);
	check_addr6((const char *)&p + offsetof(struct pkt6, ip.saddr), NODE_IP6);
	check_addr6((const char *)&p + offsetof(struct pkt6, ip.daddr), CLIENT_IP6);
	CHECK_INT_EQ(ntohs(p.tcp.source), 30080);
	CHECK_INT_EQ(ntohs(p.tcp.dest), 40000);
	CHECK_INT_EQ(l4_csum6(&p), 0);
	lb_close(lb);
}

TEST(ipv6_no_backend_is_refused_with_an_rst)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct lb_frontend fe = { .port = 30080, .proto = IPPROTO_TCP, .kind = LB_KIND_NODE_PORT };
	struct pkt6 p = make_pkt6(CLIENT_IP6, 40000, NODE_IP6, 30080);
	struct __sk_buff ctx = { 0 };
	struct pkt6 out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &p, .data_size_in = sizeof(p),
		    .data_out = &out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	CHECK_OK(ipaddr_parse(NODE_IP6, &fe.addr));
	CHECK_OK(lb_frontend_set(lb, &fe, NULL, 0, NULL));
	ctx.ifindex = (int)if_nametoindex("ext");
	ctx.ingress_ifindex = ctx.ifindex;
	CHECK_OK(bpf_prog_test_run_opts(in, &o));
	CHECK_INT_EQ(o.retval, TC_ACT_REDIRECT);
	CHECK_INT_EQ(o.data_size_out, sizeof(out) - sizeof(out.payload));
	CHECK(out.tcp.rst && out.tcp.ack);
	CHECK_INT_EQ(ntohl(out.tcp.ack_seq), 1 + sizeof(out.payload));
	check_addr6((const char *)&out + offsetof(struct pkt6, ip.saddr), NODE_IP6);
	check_addr6((const char *)&out + offsetof(struct pkt6, ip.daddr), CLIENT_IP6);
	CHECK_INT_EQ(ntohs(out.ip.payload_len), sizeof(out.tcp));
	CHECK_INT_EQ(l4_csum6(&out), 0);
	lb_close(lb);
}

TEST(wildcard_nodeport_answers_on_the_node_address)
{
	struct lb *lb = setup();
	int in = attached_prog(BPF_TC_INGRESS);
	struct lb_frontend fe = { .port = 30080, .proto = IPPROTO_TCP, .kind = LB_KIND_NODE_PORT };
	struct lb_backend be = { .port = 8080 };
	struct pkt p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40010, NODE_IP, 30080);

	/* no node addresses configured: the namespace's own, NODE_IP among them */
	CHECK_OK(ipaddr_parse("0.0.0.0", &fe.addr));
	CHECK_OK(ipaddr_parse(LOCAL_BE, &be.addr));
	CHECK_OK(lb_frontend_set(lb, &fe, &be, 1, NULL));
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4(LOCAL_BE));
	check_csums(&p);
	/* a port on an address that is not the node's passes untouched */
	p = make_pkt(IPPROTO_TCP, CLIENT_IP, 40011, "192.168.50.77", 30080);
	CHECK_INT_EQ(run(in, &p), TC_ACT_OK);
	CHECK_INT_EQ(p.ip.daddr, ip4("192.168.50.77"));
	lb_close(lb);
}
