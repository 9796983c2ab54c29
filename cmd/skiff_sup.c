/* The supervisor of one data dir: starts the registry (seeding it with the
 * build's images) and skiff-server, then per node a
 * containerd (in the node's namespace and a private mount namespace) and
 * skiff-agent joined with the node token; restarts any that exits, with
 * backoff (1 s doubling to 30 s, reset after a minute up); records each
 * part's PID, start time and restarts in DIR/run/PART.pid; logs to
 * DIR/logs/PART.log. SIGTERM stops the agents, the runtimes, the server. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/skiff.h"
#include "lib/util.h"

enum part_kind { PART_REGISTRY, PART_SERVER, PART_CONTAINERD, PART_AGENT };

struct part {
	char name[32];
	enum part_kind kind;
	int node;
	pid_t pid;
	time_t started, next;
	long restarts;
};

static volatile sig_atomic_t stopping;
static void on_term(int sig) { (void)sig; stopping = 1; }

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
		if (mount(p, p, NULL, MS_BIND, NULL) < 0 || mount(NULL, p, NULL, MS_SHARED | MS_REC, NULL) < 0)
			return set_err(err, errlen, -errno, "bind mount %s: %m", p);
	}
	return 0;
}

/* ---- the children ---- */

static void exec_part(const struct skiff *s, const struct part *p)
{
	char d[4096], a[16][4200], tok[512] = "", logp[4096];
	char *argv[40];
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
	case PART_SERVER:
		ARG("%s/skiff-server", s->bin);
		ARG("--data-dir"); ARG("%s/server", s->data_dir);
		ARG("--bind-address"); ARG("%s.1", s->bridge);
		ARG("--advertise-address"); ARG("%s.1", s->bridge);
		ARG("--tls-san"); ARG("%s.1", s->bridge);
		ARG("--secure-port"); ARG("%d", s->port);
		ARG("--cluster-cidr"); ARG("%s", s->cluster_cidr);
		break;
	case PART_CONTAINERD:
		if (skiff_netns_enter(s, p->node) < 0 || unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			_exit(126);
		ARG("containerd"); ARG("--config"); ARG("%s/containerd.toml", d);
		break;
	case PART_AGENT: {
		char tp[4096];
		_cleanup_fclose_ FILE *f = NULL;
		skiff_path(s, tp, sizeof(tp), "server/token");
		f = fopen(tp, "re");
		if (!f || !fgets(tok, sizeof(tok), f))
			_exit(125);
		tok[strcspn(tok, "\n")] = 0;
		if (skiff_netns_enter(s, p->node) < 0)
			_exit(126);
		ARG("%s/skiff-agent", s->bin);
		ARG("--server"); ARG("https://%s.1:%d", s->bridge, s->port);
		ARG("--token"); ARG("%s", tok);
		ARG("--data-dir"); ARG("%s/agent", d);
		ARG("--node-name"); ARG("n%d", p->node);
		ARG("--node-ip"); ARG("%s.%d", s->bridge, 1 + p->node);
		ARG("--proxy-mode"); ARG("nftables");
		ARG("--nft-table"); ARG("skiff-proxy");
		ARG("--bpffs"); ARG(SKIFF_BPFFS_FMT, s->name);
		ARG("--cluster-cidr"); ARG("%s", s->cluster_cidr);
		ARG("--node-routing"); ARG("native");
		ARG("--cni-conf-dir"); ARG("%s/cni-conf", d);
		ARG("--cni-ipam-data-dir"); ARG("%s/ipam", d);
		ARG("--container-runtime-endpoint"); ARG("unix:%s/containerd.sock", d);
		ARG("--root-dir"); ARG("%s/kubelet", d);
		ARG("--pod-log-root"); ARG("%s/pod-logs", d);
		ARG("--cgroup-root"); ARG("/" SKIFF_CGROUP_FMT "/n%d", s->name, p->node);
		ARG("--dns-listen"); ARG("169.254.20.10:53");
		ARG("--dns-device"); ARG("skiff-dns");
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
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		exec_part(s, p);
	}
	p->pid = pid > 0 ? pid : 0;
	p->started = time(NULL);
	part_record(s, p);
}

static bool file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Waits up to secs for path to exist (a socket, a token). */
static bool wait_path(const char *path, int secs)
{
	for (int i = 0; i < secs * 10 && !stopping; i++) {
		if (file_exists(path))
			return true;
		usleep(100000);
	}
	return file_exists(path);
}

/* Waits for the registry, then pushes the build's images it lacks. */
static void seed_registry(const struct skiff *s)
{
	char err[512];
	int i;

	for (i = 0; i < 100 && !stopping && !skiff_registry_answers(s); i++)
		usleep(100000);
	if (skiff_registry_seed(s, err, sizeof(err)) < 0)
		fprintf(stderr, "registry: cannot push the build's images: %s\n", err);
}

static void stop_parts(struct part *parts, int n)
{
	/* agents, then runtimes, then the server, the registry: reverse start order */
	for (int i = n - 1; i >= 0; i--) {
		if (parts[i].pid <= 0)
			continue;
		kill(parts[i].pid, SIGTERM);
		for (int t = 0; t < 50 && waitpid(parts[i].pid, NULL, WNOHANG) == 0; t++)
			usleep(100000);
		kill(parts[i].pid, SIGKILL);
		waitpid(parts[i].pid, NULL, 0);
		parts[i].pid = 0;
	}
}

static void supervise(const struct skiff *s)
{
	struct part parts[2 + 2 * SKIFF_MAX_NODES] = {0};
	char path[4096];
	int n = 0;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
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
	/* first start, in order: the registry's images and the server's
	 * token before any agent, each runtime's socket before its agent */
	part_start(s, &parts[0]);
	part_start(s, &parts[1]);
	seed_registry(s);
	skiff_path(s, path, sizeof(path), "server/token");
	wait_path(path, 30);
	for (int i = 2; i < 2 + s->nodes && !stopping; i++) {
		part_start(s, &parts[i]);
		skiff_path(s, path, sizeof(path), "nodes/n%d/containerd.sock", parts[i].node);
		if (wait_path(path, 30))
			usleep(300000);
	}
	for (int i = 2 + s->nodes; i < n && !stopping; i++)
		part_start(s, &parts[i]);

	while (!stopping) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		time_t now = time(NULL);
		for (int i = 0; pid > 0 && i < n; i++) {
			if (parts[i].pid != pid)
				continue;
			long delay = now - parts[i].started > 60 ? 1 : 1L << (parts[i].restarts < 5 ? parts[i].restarts : 5);
			fprintf(stderr, "%s (pid %d) exited (status 0x%x); restart in %ld s\n",
				parts[i].name, (int)pid, st, delay > 30 ? 30 : delay);
			parts[i].pid = 0;
			parts[i].next = now + (delay > 30 ? 30 : delay);
		}
		for (int i = 0; i < n; i++) {
			if (parts[i].pid == 0 && parts[i].next && now >= parts[i].next) {
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
