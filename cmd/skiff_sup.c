/* The supervisor of one data dir: starts etcd (--store etcd), then at once
 * the registry, per node a containerd (node 1's in the machine's network
 * namespace, the others' in their node's; each in a private mount
 * namespace, the node's, which a restarted containerd enters again) and
 * skiff-server; seeds the registry with the build's images; then per
 * node skiff-agent joined with the node token;
 * restarts any that exits, with backoff (1 s doubling to 30 s, reset
 * after a minute up); records each part's PID, start time and restarts in
 * DIR/run/PART.pid; logs to DIR/logs/PART.log. A part still running
 * from an earlier supervisor (one that was killed) is adopted, watched
 * through a pidfd, not started twice.
 * SIGUSR1 starts at once every part waiting for its backoff (a second
 * `skiff up`). SIGTERM stops the agents, the runtimes, the server, the
 * registry, etcd. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/skiff.h"
#include "lib/util.h"

enum part_kind { PART_ETCD, PART_REGISTRY, PART_SERVER, PART_CONTAINERD, PART_AGENT };

struct part {
	char name[32];
	enum part_kind kind;
	int node;
	pid_t pid;
	int pidfd;      /* an adopted part's (not our child): poll says it exited */
	int mntns;      /* containerd's mount namespace (the node's), kept for its restarts */
	time_t started, next;
	long restarts;
};

static volatile sig_atomic_t stopping, hurry;
static void on_term(int sig) { (void)sig; stopping = 1; }
static void on_usr1(int sig) { (void)sig; hurry = 1; }

int skiff_path(const struct skiff *s, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, size, "%s/", s->data_dir);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
	return (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int skiff_part_read(const struct skiff *s, const char *part, long *pid, long *start,
		    long *restarts)
{
	char p[4096];
	_cleanup_fclose_ FILE *f = NULL;

	skiff_path(s, p, sizeof(p), "run/%s.pid", part);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	return fscanf(f, "%ld %ld %ld", pid, start, restarts) == 3 ? 0 : -EINVAL;
}

static void part_record(const struct skiff *s, const struct part *p)
{
	char path[4096], tmp[4200];
	FILE *f;

	skiff_path(s, path, sizeof(path), "run/%s.pid", p->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d %ld %ld\n", (int)p->pid, (long)p->started, p->restarts);
	fclose(f);
	rename(tmp, path);
}

static int write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	return write_all(fd, text, strlen(text));
}

/* Whether path is a mount point (a second up finds its bind mounts). */
static bool is_mount(const char *path)
{
	char line[4096], mnt[4096];
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s", mnt) == 1 && streq(mnt, path))
			return true;
	return false;
}

/* DIR/registry/ (skiff_registry_files); DIR/nodes/nI/: containerd's
 * config, the CNI bin folder, the kubelet's root (a shared bind mount,
 * before containerd's private mount namespace copies it, so memory
 * emptyDirs reach the containers). */
int skiff_node_files(const struct skiff *s, char *err, size_t errlen)
{
	static const char *const plugins[] = { "skiff-cni", "skiff-ipam", NULL };
	static const char *const sys_plugins[] = { "/usr/lib/cni/loopback", "/usr/lib/cni/portmap", NULL };
	char d[1024], p[1200], toml[16384], target[4200], hosts[1024];
	int r = skiff_registry_files(s, err, errlen);

	if (r < 0)
		return r;
	skiff_path(s, hosts, sizeof(hosts), "registry/hosts");
	for (int i = 1; i <= s->nodes; i++) {
		skiff_path(s, d, sizeof(d), "nodes/n%d", i);
		static const char *const sub[] = { "", "/root", "/state", "/cni-bin", "/cni-conf", "/opt",
						   "/runc", "/kubelet", "/agent", "/ipam", "/pod-logs" };
		for (size_t k = 0; k < ARRAY_SIZE(sub); k++) {
			snprintf(p, sizeof(p), "%s%s", d, sub[k]);
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return set_err(err, errlen, -errno, "mkdir %s: %m", p);
		}
		for (int k = 0; k < 4; k++) {
			const char *src = k < 2 ? target : sys_plugins[k - 2];
			if (k < 2)
				snprintf(target, sizeof(target), "%s/%s", s->bin, plugins[k]);
			snprintf(p, sizeof(p), "%s/cni-bin/%s", d, strrchr(src, '/') + 1);
			unlink(p);
			if (symlink(src, p) < 0)
				return set_err(err, errlen, -errno, "symlink %s: %m", p);
		}
		snprintf(toml, sizeof(toml),
			 "version = 2\nroot = \"%1$s/root\"\nstate = \"%1$s/state\"\n"
			 "disabled_plugins = [\"io.containerd.snapshotter.v1.btrfs\", "
			 "\"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.aufs\", "
			 "\"io.containerd.snapshotter.v1.devmapper\", "
			 "\"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\"]\n"
			 "[grpc]\n  address = \"%1$s/containerd.sock\"\n"
			 "[ttrpc]\n  address = \"%1$s/containerd.sock.ttrpc\"\n"
			 "[debug]\n  address = \"\"\n  level = \"info\"\n[metrics]\n  address = \"\"\n"
			 "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"%1$s/opt\"\n"
			 "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
			 "  sandbox_image = \"skiff.local/pause:3.9\"\n"
			 "  restrict_oom_score_adj = true\n  disable_apparmor = true\n"
			 "  stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n"
			 "  enable_selinux = false\n  netns_mounts_under_state_dir = true\n"
			 "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
			 "    snapshotter = \"overlayfs\"\n    default_runtime_name = \"runc\"\n"
			 "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
			 "      runtime_type = \"io.containerd.runc.v2\"\n"
			 "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
			 "        Root = \"%1$s/runc\"\n"
			 "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
			 "    bin_dir = \"%1$s/cni-bin\"\n    conf_dir = \"%1$s/cni-conf\"\n"
			 "    max_conf_num = 1\n"
			 "  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
			 "    config_path = \"%2$s\"\n", d, hosts);
		snprintf(p, sizeof(p), "%s/containerd.toml", d);
		r = write_file(p, toml);
		if (r < 0)
			return set_err(err, errlen, r, "%s: %s", p, strerror(-r));
		snprintf(p, sizeof(p), "%s/kubelet", d);
		if (is_mount(p))
			continue;
		if (mount(p, p, NULL, MS_BIND, NULL) < 0 || mount(NULL, p, NULL, MS_SHARED | MS_REC, NULL) < 0)
			return set_err(err, errlen, -errno, "bind mount %s: %m", p);
	}
	return 0;
}

/* ---- the children ---- */

/* The cgroup v2 mount (hybrid machines have it at /sys/fs/cgroup/unified). */
static int cgroup2_mount(char *buf, size_t size)
{
	char line[4096], mnt[4096], type[64];
	_cleanup_fclose_ FILE *f = fopen("/proc/mounts", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %63s", mnt, type) == 2 && streq(type, "cgroup2"))
			return strscpy(buf, mnt, size);
	return -ENOENT;
}

/* --proxy-mode bpf: node's socket hooks attach to its pods' cgroup v2
 * subtree (the kubelet's --cgroup-root), so each node balances its own
 * pods' connections only; its pins go in a folder of its own. */
static int agent_bpf_dirs(const struct skiff *s, int node, char *cg, size_t cgsize)
{
	char p[4200];
	int r = cgroup2_mount(cg, cgsize);

	if (r < 0)
		return r;
	snprintf(p, sizeof(p), "%s/" SKIFF_CGROUP_FMT, cg, s->name);
	mkdir(p, 0755);
	snprintf(cg + strlen(cg), cgsize - strlen(cg), "/" SKIFF_CGROUP_FMT "/n%d", s->name, node);
	if (mkdir(cg, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(p, sizeof(p), SKIFF_BPFFS_FMT, s->name);
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* The cluster DNS Service's address: the 10th of the service range, as
 * the server picks it (kubeadm's 10.96.0.10). */
/* The cluster's VXLAN network identifier: B*256+C of its bridge A.B.C
 * (never 0), so clusters on one machine, whose bridges differ, never
 * share one. */
static unsigned bridge_vni(const struct skiff *s)
{
	unsigned a, b, c;

	if (sscanf(s->bridge, "%u.%u.%u", &a, &b, &c) != 3)
		return 1;
	return (b << 8 | c) ?: 1;
}

static int service_dns_ip(const struct skiff *s, char *buf, size_t size)
{
	unsigned a, b, c, d, len;
	uint32_t ip;

	if (sscanf(s->service_cidr, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &len) != 5 || len > 28)
		return -EINVAL;
	ip = (a << 24 | b << 16 | c << 8 | d) & (uint32_t)(0xffffffffULL << (32 - len));
	ip += 10;
	snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255);
	return 0;
}

/* containerd's mount namespace: the node's, made at its first start (a
 * slave of the machine's: what containerd mounts stays in it) and entered
 * again by a restarted containerd, as a machine's containerd restarts
 * among the mounts of the one before. Among them the network namespaces
 * of its sandboxes (under its state dir): a containerd that cannot see
 * them reports its running sandboxes without an IP, and the kubelet
 * replaces each, a serving pod killed and made again with a new IP. */
static int node_mounts_enter(const struct part *p)
{
	if (p->mntns >= 0)
		return setns(p->mntns, CLONE_NEWNS);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return -1;
	return 0;
}

/* Keeps containerd p's mount namespace (pid's) for its next start. */
static void node_mounts_keep(struct part *p, pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	p->mntns = open(path, O_RDONLY | O_CLOEXEC);
}

static void exec_part(const struct skiff *s, const struct part *p)
{
	char d[4096], a[16][4200], tok[512] = "", logp[4096];
	char *argv[80];
	int n = 0, fd;

	skiff_path(s, logp, sizeof(logp), "logs/%s.log", p->name);
	fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	setsid();
	skiff_path(s, d, sizeof(d), "nodes/n%d", p->node);
#define ARG(...) (snprintf(a[n % 16], sizeof(a[0]), __VA_ARGS__), argv[n] = strdup(a[n % 16]), n++)
	switch (p->kind) {
	case PART_REGISTRY:
		ARG("docker-registry"); ARG("serve"); ARG("%s/registry/config.yml", s->data_dir);
		break;
	case PART_ETCD:
		ARG("etcd"); ARG("--name"); ARG("%s", s->name);
		ARG("--data-dir"); ARG("%s/etcd", s->data_dir);
		ARG("--listen-client-urls"); ARG("http://127.0.0.1:%d", s->port + 1);
		ARG("--advertise-client-urls"); ARG("http://127.0.0.1:%d", s->port + 1);
		ARG("--listen-peer-urls"); ARG("http://127.0.0.1:%d", s->port + 2);
		ARG("--initial-advertise-peer-urls"); ARG("http://127.0.0.1:%d", s->port + 2);
		ARG("--initial-cluster"); ARG("%s=http://127.0.0.1:%d", s->name, s->port + 2);
		ARG("--initial-cluster-token"); ARG("%s", s->name);
		break;
	case PART_SERVER:
		ARG("%s/skiff-server", s->bin);
		ARG("--data-dir"); ARG("%s/server", s->data_dir);
		ARG("--bind-address"); ARG("%s.1", s->bridge);
		ARG("--advertise-address"); ARG("%s.1", s->bridge);
		ARG("--tls-san"); ARG("%s.1", s->bridge);
		ARG("--secure-port"); ARG("%d", s->port);
		ARG("--cluster-cidr"); ARG("%s", s->cluster_cidr);
		ARG("--service-cluster-ip-range"); ARG("%s", s->service_cidr);
		ARG("--lb-cidr"); ARG(SKIFF_LB_FMT, s->bridge);
		if (streq(s->store, "etcd")) {
			ARG("--store"); ARG("etcd://127.0.0.1:%d/skiff", s->port + 1);
		}
		break;
	case PART_CONTAINERD: /* node 1's in the machine's network namespace */
		if (skiff_netns_enter(s, p->node) < 0 || node_mounts_enter(p) < 0)
			_exit(126);
		ARG("containerd"); ARG("--config"); ARG("%s/containerd.toml", d);
		break;
	case PART_AGENT: {
		char tp[4096], cg[4096], ip[32], dns[32];
		bool machine = p->node == 1;
		_cleanup_fclose_ FILE *f = NULL;
		skiff_path(s, tp, sizeof(tp), "server/token");
		f = fopen(tp, "re");
		if (!f || !fgets(tok, sizeof(tok), f))
			_exit(125);
		tok[strcspn(tok, "\n")] = 0;
		if (skiff_netns_enter(s, p->node) < 0 || service_dns_ip(s, dns, sizeof(dns)) < 0)
			_exit(126);
		skiff_node_ip(s, p->node, ip, sizeof(ip));
		ARG("%s/skiff-agent", s->bin);
		ARG("--server"); ARG("https://%s.1:%d", s->bridge, s->port);
		ARG("--token"); ARG("%s", tok);
		ARG("--data-dir"); ARG("%s/agent", d);
		ARG("--node-name"); ARG("n%d", p->node);
		ARG("--node-ip"); ARG("%s", ip);
		ARG("--proxy-mode"); ARG("%s", s->proxy_mode);
		ARG("--nft-table"); ARG("%s-proxy", s->name);
		ARG("--nat-table"); ARG("%s-nat", s->name);
		ARG("--vxlan-name"); ARG("%s-vx", s->name);
		ARG("--bpffs"); ARG(SKIFF_BPFFS_FMT "/n%d", s->name, p->node);
		if (streq(s->proxy_mode, "bpf")) {
			int r = agent_bpf_dirs(s, p->node, cg, sizeof(cg));
			if (r < 0) {
				fprintf(stderr, "skiff: node %d's cgroup v2 folder or bpffs pins folder: "
					"%s\n", p->node, strerror(-r));
				_exit(124);
			}
			ARG("--cgroup"); ARG("%s", cg);
			ARG("--nodeport-device");
			if (machine)
				ARG("%s-br", s->name);
			else
				ARG("eth0");
			if (machine && cgroup2_mount(cg, sizeof(cg)) == 0) {
				ARG("--host-cgroup"); ARG("%s", cg);
			}
		}
		ARG("--l2-announce");
		ARG("--cluster-cidr"); ARG("%s", s->cluster_cidr);
		ARG("--service-cidr"); ARG("%s", s->service_cidr);
		ARG("--cluster-dns"); ARG("%s", dns);
		ARG("--node-routing"); ARG("%s", s->node_routing);
		/* a VNI of the cluster's own (from its bridge /24): node 1's vxlan
		 * device shares the machine's UDP port with other clusters' */
		ARG("--vni"); ARG("%u", bridge_vni(s));
		ARG("--cni-conf-dir"); ARG("%s/cni-conf", d);
		ARG("--cni-ipam-data-dir"); ARG("%s/ipam", d);
		ARG("--container-runtime-endpoint"); ARG("unix:%s/containerd.sock", d);
		ARG("--root-dir"); ARG("%s/kubelet", d);
		ARG("--pod-log-root"); ARG("%s/pod-logs", d);
		ARG("--cgroup-root"); ARG("/" SKIFF_CGROUP_FMT "/n%d", s->name, p->node);
		if (machine) {
			/* the machine's own ports stay free: the cluster's address,
			 * a port of the cluster's */
			ARG("--forwarding"); ARG("interfaces");
			ARG("--kubelet-address"); ARG("%s", ip);
			ARG("--kubelet-port"); ARG("%d", s->port + SKIFF_KUBELET_PORT_OFFSET);
			ARG("--dns-listen"); ARG("%s:53", ip);
		} else {
			ARG("--dns-listen"); ARG("169.254.20.10:53");
			ARG("--dns-device"); ARG("skiff-dns");
		}
		break;
	}
	}
#undef ARG
	argv[n] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

static void part_start(const struct skiff *s, struct part *p)
{
	/* closed by containerd's exec (or exit): its mount namespace is made */
	int made[2] = { -1, -1 };
	bool keep = p->kind == PART_CONTAINERD && p->mntns < 0 && pipe2(made, O_CLOEXEC) == 0;
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		exec_part(s, p);
	}
	if (keep) {
		char c;

		close(made[1]);
		if (pid > 0 && read(made[0], &c, 1) == 0)
			node_mounts_keep(p, pid);
		close(made[0]);
	}
	p->pid = pid > 0 ? pid : 0;
	p->started = time(NULL);
	part_record(s, p);
}

static bool file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Waits up to secs for path to exist (a socket, a token), looking every
 * 20 ms (an agent starts as soon as its runtime's socket is there). */
static bool wait_path(const char *path, int secs)
{
	for (int i = 0; i < secs * 50 && !stopping; i++) {
		if (file_exists(path))
			return true;
		usleep(20000);
	}
	return file_exists(path);
}

/* Waits for the registry, then pushes the build's images it lacks. */
static void seed_registry(const struct skiff *s)
{
	char err[512];
	int i;

	for (i = 0; i < 500 && !stopping && !skiff_registry_answers(s); i++)
		usleep(20000);
	if (skiff_registry_seed(s, err, sizeof(err)) < 0)
		fprintf(stderr, "registry: cannot push the build's images: %s\n", err);
}

/* What a part's command line holds, and no other part's: its own path. */
static void part_marker(const struct skiff *s, const struct part *p, char *buf, size_t size)
{
	switch (p->kind) {
	case PART_ETCD: skiff_path(s, buf, size, "etcd"); break;
	case PART_REGISTRY: skiff_path(s, buf, size, "registry/config.yml"); break;
	case PART_SERVER: skiff_path(s, buf, size, "server"); break;
	case PART_CONTAINERD: skiff_path(s, buf, size, "nodes/n%d/containerd.toml", p->node); break;
	case PART_AGENT: skiff_path(s, buf, size, "nodes/n%d/agent", p->node); break;
	}
}

/* A part an earlier supervisor started and left running: its recorded
 * PID alive with the part's own argument. Watched through a pidfd. */
static bool part_adopt(const struct skiff *s, struct part *p)
{
	char path[64], mark[4096];
	_cleanup_free_ char *cmd = NULL;
	_cleanup_close_ int fd = -1;
	long pid, start, restarts;
	size_t len = 0;

	if (skiff_part_read(s, p->name, &pid, &start, &restarts) < 0 || pid <= 1)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read_all(fd, 65536, &cmd, &len) < 0)
		return false;
	part_marker(s, p, mark, sizeof(mark));
	for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
		if (!streq(cmd + i, mark))
			continue;
		p->pidfd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (p->pidfd < 0)
			return false;
		p->pid = pid;
		p->started = start;
		p->restarts = restarts;
		if (p->kind == PART_CONTAINERD)
			node_mounts_keep(p, pid);
		fprintf(stderr, "%s (pid %ld) runs already: adopted\n", p->name, pid);
		return true;
	}
	return false;
}

/* Whether p's process is gone (reaped when it was our child). */
static bool part_gone(struct part *p, int *st)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };

	*st = -1;
	if (p->pidfd < 0)
		return waitpid(p->pid, st, WNOHANG) != 0;
	if (poll(&pf, 1, 0) == 0)
		return false;
	close(p->pidfd);
	p->pidfd = -1;
	return true;
}

static void stop_parts(struct part *parts, int n)
{
	int st;

	/* agents, then runtimes, then the server, the registry, etcd: reverse start order */
	for (int i = n - 1; i >= 0; i--) {
		if (parts[i].pid <= 0)
			continue;
		kill(parts[i].pid, SIGTERM);
		for (int t = 0; t < 50 && !part_gone(&parts[i], &st); t++)
			usleep(100000);
		if (parts[i].pidfd >= 0 || waitpid(parts[i].pid, NULL, WNOHANG) == 0) {
			kill(parts[i].pid, SIGKILL);
			while (!part_gone(&parts[i], &st))
				usleep(10000);
		}
		parts[i].pid = 0;
	}
}

/* Waits up to secs for something to accept on 127.0.0.1:port (etcd). */
static bool wait_port_at(const char *addr, int port, int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return false;
	for (int i = 0; i < secs * 50 && !stopping; i++) {
		_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return true;
		usleep(20000);
	}
	return false;
}

static bool wait_port(int port, int secs)
{
	return wait_port_at("127.0.0.1", port, secs);
}

static int parts_list(const struct skiff *s, struct part *parts)
{
	int n = 0;

	if (streq(s->store, "etcd"))
		parts[n++] = (struct part){ .name = "etcd", .kind = PART_ETCD };
	parts[n++] = (struct part){ .name = "registry", .kind = PART_REGISTRY };
	parts[n++] = (struct part){ .name = "server", .kind = PART_SERVER };
	for (int i = 1; i <= s->nodes; i++) {
		parts[n] = (struct part){ .kind = PART_CONTAINERD, .node = i };
		snprintf(parts[n++].name, sizeof(parts[0].name), "n%d-containerd", i);
	}
	for (int i = 1; i <= s->nodes; i++) {
		parts[n] = (struct part){ .kind = PART_AGENT, .node = i };
		snprintf(parts[n++].name, sizeof(parts[0].name), "n%d-agent", i);
	}
	for (int i = 0; i < n; i++) {
		parts[i].pidfd = -1;
		parts[i].mntns = -1;
	}
	return n;
}

/* Starts p unless an earlier supervisor's p runs (adopted). */
static void part_start_or_adopt(const struct skiff *s, struct part *p)
{
	if (part_adopt(s, p))
		part_record(s, p);
	else
		part_start(s, p);
}

/* First start of every part not adopted. What waits for nothing starts at
 * once: etcd (its port before the server), the registry, the runtimes,
 * the server; the registry is seeded while the server boots; then each
 * agent, once the server listens and its runtime's socket is there. */
static void parts_first_start(const struct skiff *s, struct part *parts, int n)
{
	static const enum part_kind order[] = { PART_ETCD, PART_REGISTRY, PART_CONTAINERD, PART_SERVER };
	char path[4096];

	for (size_t k = 0; k < ARRAY_SIZE(order); k++)
		for (int i = 0; i < n && !stopping; i++) {
			if (parts[i].kind != order[k])
				continue;
			part_start_or_adopt(s, &parts[i]);
			if (parts[i].kind == PART_ETCD)
				wait_port(s->port + 1, 30);
		}
	if (stopping)
		return;
	seed_registry(s);
	skiff_path(s, path, sizeof(path), "server/token");
	wait_path(path, 30);
	/* the server writes its token before it listens: an agent started in
	 * between fails its join and exits, to be restarted a second later */
	snprintf(path, sizeof(path), "%s.1", s->bridge);
	wait_port_at(path, s->port, 30);
	for (int i = 0; i < n && !stopping; i++) {
		if (parts[i].kind != PART_AGENT)
			continue;
		skiff_path(s, path, sizeof(path), "nodes/n%d/containerd.sock", parts[i].node);
		wait_path(path, 30);
		part_start_or_adopt(s, &parts[i]);
	}
}

static void part_exited(struct part *p, int st, time_t now)
{
	long delay = now - p->started > 60 ? 1 : 1L << (p->restarts < 5 ? p->restarts : 5);

	if (delay > 30)
		delay = 30;
	if (st < 0)
		fprintf(stderr, "%s (pid %d, adopted) exited; restart in %ld s\n", p->name,
			(int)p->pid, delay);
	else
		fprintf(stderr, "%s (pid %d) exited (status 0x%x); restart in %ld s\n", p->name,
			(int)p->pid, st, delay);
	p->pid = 0;
	p->next = now + delay;
}

static void supervise(const struct skiff *s)
{
	struct part parts[3 + 2 * SKIFF_MAX_NODES] = {0};
	int n = parts_list(s, parts);

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGUSR1, on_usr1);
	parts_first_start(s, parts, n);

	while (!stopping) {
		int st;
		bool now_all = hurry; /* taken before any restart, so none is lost */
		pid_t pid = waitpid(-1, &st, WNOHANG);
		time_t now = time(NULL);

		hurry = 0;
		for (int i = 0; i < n; i++) {
			if (parts[i].pid > 0 && parts[i].pidfd < 0 && parts[i].pid == pid)
				part_exited(&parts[i], st, now);
			else if (parts[i].pid > 0 && parts[i].pidfd >= 0 && part_gone(&parts[i], &st))
				part_exited(&parts[i], -1, now);
		}
		for (int i = 0; i < n; i++) {
			if (parts[i].pid == 0 && parts[i].next && (now >= parts[i].next || now_all)) {
				parts[i].restarts++;
				parts[i].next = 0;
				part_start(s, &parts[i]);
			}
		}
		if (pid <= 0)
			usleep(200000);
	}
	fprintf(stderr, "stopping\n");
	stop_parts(parts, n);
}

int skiff_supervisor_start(const struct skiff *s)
{
	char path[4096], buf[32];
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		return 0;
	}
	/* the middle child: a new session, then the supervisor outlives it */
	setsid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0);
	skiff_path(s, path, sizeof(path), "logs/supervisor.log");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && nul >= 0) {
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	skiff_path(s, path, sizeof(path), "run/supervisor.pid");
	snprintf(buf, sizeof(buf), "%d %ld 0\n", (int)getpid(), (long)time(NULL));
	write_file(path, buf);
	supervise(s);
	unlink(path);
	_exit(0);
}
