/* skiff image load's reader (cmd/skiff_image.c): image names to registry
 * repositories, and archives built here byte by byte, good and bad —
 * docker-archive (symlinked and long-named layers, gzip layers), OCI image
 * layout — each checked whole before anything would be pushed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "cmd/skiff.h"
#include "lib/util.h"
#include "tests/harness/test.h"

/* ---- a tar writer, for the archives under test ---- */

struct tarbuf {
	unsigned char *b;
	size_t len;
};

static void tar_header(struct tarbuf *t, const char *name, size_t size, char type, const char *link)
{
	unsigned char *h;
	unsigned sum = 0;

	t->b = realloc(t->b, t->len + 512);
	h = t->b + t->len;
	memset(h, 0, 512);
	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = type;
	if (link)
		strncpy((char *)h + 157, link, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	t->len += 512;
}

static void tar_data(struct tarbuf *t, const void *data, size_t size)
{
	size_t padded = (size + 511) / 512 * 512;

	t->b = realloc(t->b, t->len + padded);
	memset(t->b + t->len, 0, padded);
	memcpy(t->b + t->len, data, size);
	t->len += padded;
}

static void tar_file(struct tarbuf *t, const char *name, const void *data, size_t size)
{
	if (strlen(name) > 99) { /* GNU long name */
		tar_header(t, "././@LongLink", strlen(name) + 1, 'L', NULL);
		tar_data(t, name, strlen(name) + 1);
	}
	tar_header(t, name, size, '0', NULL);
	tar_data(t, data, size);
}

static void tar_str(struct tarbuf *t, const char *name, const char *text)
{
	tar_file(t, name, text, strlen(text));
}

static void tar_end(struct tarbuf *t)
{
	t->b = realloc(t->b, t->len + 1024);
	memset(t->b + t->len, 0, 1024);
	t->len += 1024;
}

static void hex256(const void *data, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned n;

	EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A layer: a tar of one file. */
static struct tarbuf layer(void)
{
	struct tarbuf l = {0};
	tar_str(&l, "hello.txt", "hello from a layer\n");
	tar_end(&l);
	return l;
}

static size_t gzip_of(const struct tarbuf *l, unsigned char *out, size_t cap)
{
	z_stream z = { .next_in = l->b, .avail_in = l->len, .next_out = out, .avail_out = cap };
	deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	deflate(&z, Z_FINISH);
	deflateEnd(&z);
	return cap - z.avail_out;
}

static char *config_for(const char *diff_id_hex)
{
	char *c = NULL;
	if (asprintf(&c, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", diff_id_hex) < 0)
		abort();
	return c;
}

/* A docker-archive: layer at layer_path (symlinked from link_path when
 * set), config naming diff_id (the layer's own when NULL), RepoTags. */
static struct tarbuf docker_archive(const char *layer_path, const char *link_path, const char *diff_id,
				    const char *repo_tags, bool gzip)
{
	struct tarbuf t = {0}, l = layer();
	unsigned char gz[8192];
	char lh[65], ch[65], cfgname[80], *cfg, *man = NULL;
	size_t gzlen = gzip ? gzip_of(&l, gz, sizeof(gz)) : 0;

	hex256(l.b, l.len, lh);
	cfg = config_for(diff_id ? diff_id : lh);
	hex256(cfg, strlen(cfg), ch);
	snprintf(cfgname, sizeof(cfgname), "%s.json", ch);
	if (asprintf(&man, "[{\"Config\":\"%s\",\"RepoTags\":%s,\"Layers\":[\"%s\"]}]", cfgname, repo_tags,
		     link_path ? link_path : layer_path) < 0)
		abort();
	tar_str(&t, "manifest.json", man);
	tar_str(&t, cfgname, cfg);
	if (gzip)
		tar_file(&t, layer_path, gz, gzlen);
	else
		tar_file(&t, layer_path, l.b, l.len);
	if (link_path)
		tar_header(&t, link_path, 0, '2', "../l1/layer.tar");
	tar_end(&t);
	free(cfg);
	free(man);
	free(l.b);
	return t;
}

/* An OCI image layout named ref, its layer gzipped; corrupt: one byte of
 * the layer blob changed after its digest was taken. */
static struct tarbuf oci_layout(const char *ref, bool corrupt)
{
	struct tarbuf t = {0}, l = layer();
	unsigned char gz[8192];
	size_t gzlen = gzip_of(&l, gz, sizeof(gz));
	char lh[65], dh[65], ch[65], mh[65], path[128], *cfg, *man = NULL, *idx = NULL;

	hex256(l.b, l.len, dh);
	hex256(gz, gzlen, lh);
	cfg = config_for(dh);
	hex256(cfg, strlen(cfg), ch);
	if (asprintf(&man, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
		     "\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		     "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
		     ch, strlen(cfg), lh, gzlen) < 0)
		abort();
	hex256(man, strlen(man), mh);
	if (asprintf(&idx, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		     "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu,"
		     "\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
		     mh, strlen(man), ref) < 0)
		abort();
	tar_str(&t, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	tar_str(&t, "index.json", idx);
	snprintf(path, sizeof(path), "blobs/sha256/%s", mh);
	tar_str(&t, path, man);
	snprintf(path, sizeof(path), "blobs/sha256/%s", ch);
	tar_str(&t, path, cfg);
	if (corrupt)
		gz[gzlen / 2] ^= 0xff;
	snprintf(path, sizeof(path), "blobs/sha256/%s", lh);
	tar_file(&t, path, gz, gzlen);
	tar_end(&t);
	free(cfg);
	free(man);
	free(idx);
	free(l.b);
	return t;
}

static int parse(struct tarbuf t, char *err, size_t errlen, const char **format)
{
	struct img_archive *a = NULL;
	int r = img_archive_parse(t.b, t.len, &a, err, errlen);

	if (r == 0) {
		static char fmt[64];
		strscpy(fmt, img_archive_format(a), sizeof(fmt));
		if (format)
			*format = fmt;
		r = (int)img_archive_count(a);
		img_archive_free(a);
	}
	free(t.b);
	return r;
}

/* ---- names ---- */

TEST(image_names_map_to_repositories_as_docker_does)
{
	static const struct { const char *ref, *domain, *repo, *tag; } ok[] = {
		{ "busybox", "docker.io", "library/busybox", "latest" },
		{ "busybox:1.36", "docker.io", "library/busybox", "1.36" },
		{ "team/app:v1", "docker.io", "team/app", "v1" },
		{ "skiff.local/busybox:1.35", "skiff.local", "busybox", "1.35" },
		{ "localhost/app", "localhost", "app", "latest" },
		{ "172.31.250.1:5001/app:v2", "172.31.250.1:5001", "app", "v2" },
		{ "ghcr.io/org/tools/app", "ghcr.io", "org/tools/app", "latest" },
	};
	static const char *const bad[] = { "", "Busybox", "app@sha256:00", "app:", ":v1", "a b" };
	char d[256], repo[256], tag[128];

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		CHECK_INT_EQ(img_ref_parse(ok[i].ref, d, repo, tag), 0);
		CHECK_STR_EQ(d, ok[i].domain);
		CHECK_STR_EQ(repo, ok[i].repo);
		CHECK_STR_EQ(tag, ok[i].tag);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_INT_EQ(img_ref_parse(bad[i], d, repo, tag), -EINVAL);
}

/* ---- docker-archive ---- */

static void collect(const char *domain, void *arg)
{
	strcat(arg, domain);
	strcat(arg, " ");
}

TEST(docker_archive_is_read_with_its_names)
{
	struct tarbuf t = docker_archive("l1/layer.tar", NULL, NULL, "[\"app:v1\",\"example.test/x/app:v1\"]", false);
	struct img_archive *a = NULL;
	char err[512] = "", domains[256] = "";

	CHECK_INT_EQ(img_archive_parse(t.b, t.len, &a, err, sizeof(err)), 0);
	CHECK_STR_EQ(img_archive_format(a), "docker-archive");
	CHECK_INT_EQ((int)img_archive_count(a), 1);
	img_archive_domains(a, collect, domains);
	CHECK_STR_EQ(domains, "docker.io example.test ");
	img_archive_free(a);
	free(t.b);
}

TEST(docker_archive_layers_may_be_symlinks_long_names_or_gzip)
{
	char err[512] = "", longpath[200];

	CHECK_INT_EQ(parse(docker_archive("l1/layer.tar", "l2/layer.tar", NULL, "[\"a:1\"]", false), err,
			   sizeof(err), NULL), 1);
	memset(longpath, 'x', 150);
	strcpy(longpath + 150, "/layer.tar");
	CHECK_INT_EQ(parse(docker_archive(longpath, NULL, NULL, "[\"a:1\"]", false), err, sizeof(err), NULL), 1);
	/* a gzip layer: its diff_id is the digest of what it unpacks to */
	CHECK_INT_EQ(parse(docker_archive("l1/layer.tar", NULL, NULL, "[\"a:1\"]", true), err, sizeof(err), NULL), 1);
}

TEST(docker_archive_whose_layer_is_not_its_diff_id_is_refused)
{
	char err[512] = "";
	int r = parse(docker_archive("l1/layer.tar", NULL,
				     "0000000000000000000000000000000000000000000000000000000000000000",
				     "[\"a:1\"]", false), err, sizeof(err), NULL);

	CHECK_INT_EQ(r, -EBADMSG);
	CHECK(strstr(err, "layer 1 is corrupt"));
}

TEST(docker_archive_without_a_name_or_a_layer_is_refused)
{
	char err[512] = "";

	CHECK_INT_EQ(parse(docker_archive("l1/layer.tar", NULL, NULL, "[]", false), err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "carries no name"));
	CHECK_INT_EQ(parse(docker_archive("l1/layer.tar", NULL, NULL, "[\"Bad Name\"]", false), err, sizeof(err),
			   NULL), -EINVAL);
	CHECK(strstr(err, "is not an image name"));
	/* the manifest names a layer the archive lacks (a dangling symlink) */
	struct tarbuf t = docker_archive("l1/layer.tar", NULL, NULL, "[\"a:1\"]", false);
	char *p = memmem(t.b, t.len, "l1/layer.tar\"", 13);
	CHECK(p);
	p[0] = 'z';
	CHECK_INT_EQ(parse(t, err, sizeof(err), NULL), -ENOENT);
	CHECK(strstr(err, "z1/layer.tar is missing"));
}

/* ---- OCI image layout ---- */

TEST(oci_layout_is_read_and_its_blobs_checked)
{
	char err[512] = "";
	const char *fmt = NULL;

	CHECK_INT_EQ(parse(oci_layout("skiff.local/app:v1", false), err, sizeof(err), &fmt), 1);
	CHECK_STR_EQ(fmt, "OCI image layout");
	CHECK_INT_EQ(parse(oci_layout("skiff.local/app:v1", true), err, sizeof(err), NULL), -EBADMSG);
	CHECK(strstr(err, "is corrupt: its content has digest"));
	/* a ref.name that is only a tag names no image */
	CHECK_INT_EQ(parse(oci_layout("v1", false), err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "carries no image name"));
}

/* ---- not archives ---- */

TEST(what_is_not_an_image_archive_says_so)
{
	struct tarbuf t = oci_layout("a:1", false), cut, noise = {0}, other = {0};
	char err[512] = "";

	cut.len = t.len - 1024 - 512 + 20; /* into the last blob's data */
	cut.b = malloc(cut.len);
	memcpy(cut.b, t.b, cut.len);
	CHECK_INT_EQ(parse(cut, err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "truncated"));
	t.b[200] ^= 0x55; /* a header byte: the checksum no longer holds */
	CHECK_INT_EQ(parse(t, err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "not a tar"));
	noise.len = 4096;
	noise.b = malloc(noise.len);
	for (size_t i = 0; i < noise.len; i++)
		noise.b[i] = (unsigned char)(i * 7 + 3);
	CHECK_INT_EQ(parse(noise, err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "not a tar"));
	tar_str(&other, "README", "a tar of something else\n");
	tar_end(&other);
	CHECK_INT_EQ(parse(other, err, sizeof(err), NULL), -EINVAL);
	CHECK(strstr(err, "neither an OCI image layout"));
}
