/* The cluster's image registry: Debian's docker-registry (distribution
 * 2.8), supervised as the part "registry", listening on the bridge address
 * (A.B.C.1:REGPORT, plain HTTP) so every node's containerd reaches it, its
 * storage in DIR/registry/storage.
 *
 * Names: images keep the names they carry (skiff.local/busybox:1.35,
 * busybox:1.35 = docker.io/library/busybox:1.35, ghcr.io/x/y:1), as with
 * kind and k3d's registries.yaml mirrors. Each node's containerd reads
 * DIR/registry/hosts (its CRI registry config_path) before every pull:
 * there, per domain (skiff.local, docker.io, the registry's own
 * A.B.C.1:REGPORT, and any domain `skiff image load` met), a hosts.toml
 * whose server is the local registry; the repository is the name's path
 * (library/busybox for docker.io/library/busybox). A name of a domain
 * without a hosts.toml goes where the name says.
 *
 * `skiff image load` is here too: it checks every archive it is given
 * (skiff_image.c), then pushes each, adding hosts.toml for its domains. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/skiff.h"
#include "lib/opts.h"
#include "lib/util.h"

/* the images up seeds the registry with, from the build's images folder */
static const char *const seed_images[] = { "pause.tar", "busybox.tar" };

int skiff_registry_url(const struct skiff *s, char *buf, size_t size)
{
	int n = snprintf(buf, size, "http://%s.1:%d", s->bridge, s->reg_port);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_text(const char *path, const char *text)
{
	char tmp[4200];
	int fd, r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	return r;
}

/* DIR/registry/hosts/DOMAIN/hosts.toml: DOMAIN's pulls go to the registry. */
int skiff_registry_host_add(const struct skiff *s, const char *domain)
{
	char p[4096], url[128], toml[512];

	if (!*domain || strchr(domain, '/') || domain[0] == '.')
		return -EINVAL;
	skiff_registry_url(s, url, sizeof(url));
	skiff_path(s, p, sizeof(p), "registry/hosts/%s", domain);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* containerd 1.6 wants a [host] table; the server, the same registry,
	 * stands in for the domain's own (never asked) */
	snprintf(toml, sizeof(toml),
		 "# written by skiff: pulls of %s images go to the cluster's registry\n"
		 "server = \"%s\"\n\n[host.\"%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		 domain, url, url);
	strncat(p, "/hosts.toml", sizeof(p) - strlen(p) - 1);
	return write_text(p, toml);
}

/* DIR/registry/: config.yml, storage/, hosts/ with the cluster's domains. */
int skiff_registry_files(const struct skiff *s, char *err, size_t errlen)
{
	char p[4096], conf[8192], self[64];
	const char *domains[] = { "skiff.local", "docker.io", self };
	int r;

	snprintf(self, sizeof(self), "%s.1:%d", s->bridge, s->reg_port);
	for (const char *sub = "registry"; sub;
	     sub = streq(sub, "registry") ? "registry/storage" : streq(sub, "registry/storage") ? "registry/hosts" : NULL) {
		skiff_path(s, p, sizeof(p), "%s", sub);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return set_err(err, errlen, -errno, "mkdir %s: %m", p);
	}
	skiff_path(s, p, sizeof(p), "registry/storage");
	snprintf(conf, sizeof(conf),
		 "# written by skiff up: the cluster's registry (plain HTTP on the bridge)\n"
		 "version: 0.1\n"
		 "log:\n  level: info\n  accesslog:\n    disabled: true\n"
		 "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
		 "http:\n  addr: %s.1:%d\n  headers:\n    X-Content-Type-Options: [nosniff]\n",
		 p, s->bridge, s->reg_port);
	skiff_path(s, p, sizeof(p), "registry/config.yml");
	r = write_text(p, conf);
	if (r < 0)
		return set_err(err, errlen, r, "%s: %s", p, strerror(-r));
	for (size_t i = 0; i < ARRAY_SIZE(domains); i++) {
		r = skiff_registry_host_add(s, domains[i]);
		if (r < 0)
			return set_err(err, errlen, r, "hosts.toml for %s: %s", domains[i], strerror(-r));
	}
	return 0;
}

/* The registry answers its API (GET /v2/ is 200). */
bool skiff_registry_answers(const struct skiff *s)
{
	char url[128];

	skiff_registry_url(s, url, sizeof(url));
	return img_registry_ping(url) == 0;
}

static void host_add_cb(const char *domain, void *arg)
{
	skiff_registry_host_add(arg, domain);
}

/* Pushes an archive already opened (and checked) under its names. */
int skiff_registry_push(const struct skiff *s, const struct img_archive *a, FILE *progress,
			char *err, size_t errlen)
{
	char url[128];

	skiff_registry_url(s, url, sizeof(url));
	img_archive_domains(a, host_add_cb, (void *)s);
	return img_archive_push(a, url, progress, err, errlen);
}

/* The build's images (pause, busybox) into the registry, those it lacks. */
int skiff_registry_seed(const struct skiff *s, char *err, size_t errlen)
{
	char p[4200], url[128];

	skiff_registry_url(s, url, sizeof(url));
	for (size_t i = 0; i < ARRAY_SIZE(seed_images); i++) {
		struct img_archive *a = NULL;
		int r;

		snprintf(p, sizeof(p), "%s/../images/%s", s->bin, seed_images[i]);
		r = img_archive_open(p, &a, err, errlen);
		if (r < 0)
			return set_err(err, errlen, r, "%s: %s", p, err);
		if (!img_archive_in_registry(a, url))
			r = skiff_registry_push(s, a, NULL, err, errlen);
		img_archive_free(a);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The registry answers and holds every seed image. */
bool skiff_registry_seeded(const struct skiff *s)
{
	char p[4200], url[128], err[256];
	bool ok = skiff_registry_answers(s);

	skiff_registry_url(s, url, sizeof(url));
	for (size_t i = 0; ok && i < ARRAY_SIZE(seed_images); i++) {
		struct img_archive *a = NULL;
		snprintf(p, sizeof(p), "%s/../images/%s", s->bin, seed_images[i]);
		ok = img_archive_open(p, &a, err, sizeof(err)) == 0 && img_archive_in_registry(a, url);
		img_archive_free(a);
	}
	return ok;
}

/* ---- skiff image load ---- */

struct image_args {
	const char *data_dir;
	bool help;
};

static const struct opt image_opts[] = {
	{ .name = "data-dir", .short_name = 0, .arg = "DIR", .help = "the cluster's state, logs and kubeconfig", .def = "/var/lib/skiff", .set = opt_string, .offset = offsetof(struct image_args, data_dir) },
	{ .name = "help", .short_name = 'h', .arg = NULL, .help = "this text", .def = NULL, .set = opt_flag, .offset = offsetof(struct image_args, help) },
};

static const char image_usage[] =
	"Usage: skiff image load [--data-dir DIR] FILE...\n"
	"Pushes each image archive, an OCI image layout or a docker-archive tar (`docker save`,\n"
	"`skopeo copy ... docker-archive:` or `oci-archive:`), to the cluster's registry under the\n"
	"name it carries, so that every node can run it: a pod names it as it was named\n"
	"(busybox:1.36, example.org/app:v1). Every file is checked (its digests, and that each\n"
	"image has a name) before anything is pushed: a bad file loads nothing.";

/* argv: "load" [OPTION]... FILE... */
int skiff_image_cmd(struct skiff *s, int argc, char **argv)
{
	struct image_args a = {0};
	struct img_archive *arch[64] = {0};
	char err[512] = "", url[128];
	int first, nfiles, rc = 0;

	if (argc < 1 || (!streq(argv[0], "load") && !streq(argv[0], "--help") && !streq(argv[0], "-h"))) {
		fprintf(stderr, "%s\n", image_usage);
		return 2;
	}
	first = opts_parse(image_opts, ARRAY_SIZE(image_opts), argc, argv, &a, 0, err, sizeof(err));
	if (first < 0) {
		fprintf(stderr, "skiff image load: %s\n", err);
		return 2;
	}
	if (a.help || !streq(argv[0], "load")) {
		printf("%s\n\n", image_usage);
		opts_usage(stdout, image_opts, ARRAY_SIZE(image_opts));
		return 0;
	}
	nfiles = argc - first;
	if (nfiles < 1 || nfiles > (int)ARRAY_SIZE(arch)) {
		fprintf(stderr, "skiff image load: name 1 to %zu image files (--help)\n", ARRAY_SIZE(arch));
		return 2;
	}
	s->data_dir = a.data_dir;
	if (skiff_conf_read(s) < 0 || !s->reg_port) {
		fprintf(stderr, "skiff image load: no cluster with a registry in %s (skiff up --data-dir %s)\n",
			s->data_dir, s->data_dir);
		return 1;
	}
	/* every file checked before anything is sent */
	for (int i = 0; i < nfiles && rc == 0; i++) {
		if (img_archive_open(argv[first + i], &arch[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "skiff image load: %s: %s; nothing loaded\n", argv[first + i], err);
			rc = 1;
		}
	}
	skiff_registry_url(s, url, sizeof(url));
	if (rc == 0 && !skiff_registry_answers(s)) {
		fprintf(stderr, "skiff image load: the cluster's registry (%s) does not answer; "
			"`skiff status --data-dir %s` shows its state\n", url, s->data_dir);
		rc = 1;
	}
	for (int i = 0; i < nfiles && rc == 0; i++) {
		printf("%s: %s, %zu image(s), to %s\n", argv[first + i], img_archive_format(arch[i]),
		       img_archive_count(arch[i]), url);
		fflush(stdout);
		if (skiff_registry_push(s, arch[i], stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "skiff image load: %s: %s\n", argv[first + i], err);
			rc = 1;
		}
	}
	for (int i = 0; i < nfiles; i++)
		img_archive_free(arch[i]);
	return rc;
}
