/* Image archives and the registry's HTTP API v2 (skiff image load).
 *
 * An archive is an OCI image layout (oci-layout, index.json, blobs/) or a
 * docker-archive (`docker save`: manifest.json with RepoTags) in a tar,
 * read through one mapping of the file. img_archive_open checks all of it
 * before anything is sent: every blob's sha256 and size against its
 * descriptor, every layer's uncompressed sha256 against the config's
 * diff_ids, and that each image carries a name. img_archive_push then sends
 * each image as the distribution API wants it: per blob a HEAD (present:
 * skipped), a POST that opens an upload and a PUT of the bytes with their
 * digest; then the manifest, PUT under the tag, its digest checked against
 * the registry's answer. Names map to repositories as in img_ref_parse. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "cmd/skiff.h"
#include "lib/util.h"

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MAX_REFS 16
#define IMG_MAX_LAYERS 128

struct tar_entry {
	char *name, *link;             /* link: a symlink's target, resolved by tar_find */
	const unsigned char *data;
	size_t size;
};

struct img_blob {
	char digest[72];               /* "sha256:" + 64 hex */
	const unsigned char *data;
	size_t size;
	char media_type[96];
};

struct img {
	char *refs[IMG_MAX_REFS];
	size_t nrefs;
	struct img_blob config, layers[IMG_MAX_LAYERS];
	size_t nlayers;
	char *manifest;                /* the bytes pushed (and digested) */
	size_t manifest_len;
	char manifest_type[96], digest[72];
};

struct img_archive {
	void *map, *mem;               /* map: owned mapping of a file; mem: the caller's */
	size_t map_len;
	const char *format;
	struct tar_entry *e;
	size_t ne;
	struct img *imgs;
	size_t nimgs;
};

/* ---- names ---- */

int img_ref_parse(const char *ref, char domain[256], char repo[256], char tag[128])
{
	const char *slash = strchr(ref, '/'), *path = ref, *colon;
	size_t n;

	if (!*ref || strchr(ref, '@') || strlen(ref) >= 256)
		return -EINVAL;
	if (slash && (memchr(ref, '.', slash - ref) || memchr(ref, ':', slash - ref) ||
		      (slash - ref == 9 && !strncmp(ref, "localhost", 9)))) {
		snprintf(domain, 256, "%.*s", (int)(slash - ref), ref);
		path = slash + 1;
	} else {
		strscpy(domain, "docker.io", 256);
	}
	colon = strrchr(path, ':');
	if (colon && strchr(colon, '/'))
		colon = NULL;
	n = colon ? (size_t)(colon - path) : strlen(path);
	if (!n || (colon && !colon[1]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-/", path[i]))
			return -EINVAL;
	snprintf(repo, 256, "%s%.*s", streq(domain, "docker.io") && !memchr(path, '/', n) ? "library/" : "",
		 (int)n, path);
	strscpy(tag, colon ? colon + 1 : "latest", 128);
	return 0;
}

/* ---- tar ---- */

static unsigned long long tar_num(const unsigned char *f, size_t len)
{
	unsigned long long v = 0;

	if (f[0] & 0x80) { /* base-256 */
		for (size_t i = 1; i < len; i++)
			v = v << 8 | f[i];
		return v;
	}
	for (size_t i = 0; i < len && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (f[i] - '0');
	return v;
}

static bool tar_header_ok(const unsigned char *h)
{
	unsigned long sum = 0;

	for (int i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	return sum == tar_num(h + 148, 8);
}

static char *tar_clean_name(const char *n, size_t len)
{
	while (len >= 2 && !strncmp(n, "./", 2))
		n += 2, len -= 2;
	while (len && n[len - 1] == '/')
		len--;
	return strndup(n, len);
}

/* The path of a pax header's records ("LEN path=VALUE\n"), or NULL. */
static char *pax_path(const unsigned char *d, size_t size)
{
	for (size_t off = 0; off < size;) {
		char *end;
		unsigned long len = strtoul((const char *)d + off, &end, 10);
		if (!len || off + len > size)
			return NULL;
		if (!strncmp(end, " path=", 6))
			return tar_clean_name(end + 6, (const char *)d + off + len - 1 - (end + 6));
		off += len;
	}
	return NULL;
}

static int tar_index(struct img_archive *a, char *err, size_t errlen)
{
	const unsigned char *base = a->mem ? a->mem : a->map, *p = base, *end = p + a->map_len;
	_cleanup_free_ char *longname = NULL;
	size_t cap = 0;

	while (p + 512 <= end) {
		const unsigned char *h = p;
		unsigned long long size;

		static const unsigned char zero[512];
		if (!memcmp(h, zero, 512))
			return a->ne ? 0 : set_err(err, errlen, -EINVAL, "an empty tar");
		if (!tar_header_ok(h))
			return set_err(err, errlen, -EINVAL, "not a tar (bad header at byte %zu)",
				       (size_t)(h - base));
		size = tar_num(h + 124, 12);
		p += 512;
		if (size > (size_t)(end - p))
			return set_err(err, errlen, -EINVAL, "a truncated tar (%.100s)", (const char *)h);
		if (h[156] == 'L' || h[156] == 'x') {
			free(longname);
			longname = h[156] == 'L' ? tar_clean_name((const char *)p, strnlen((const char *)p, size))
						 : pax_path(p, size);
		} else if (h[156] == '0' || h[156] == 0 || h[156] == '2') {
			char name[260];
			if (a->ne == cap) {
				struct tar_entry *e = realloc(a->e, (cap = cap ? 2 * cap : 64) * sizeof(*e));
				if (!e)
					return -ENOMEM;
				a->e = e;
			}
			snprintf(name, sizeof(name), "%.155s%s%.100s", (const char *)h + 345,
				 h[345] ? "/" : "", (const char *)h);
			a->e[a->ne] = (struct tar_entry){
				.name = longname ? TAKE_PTR(longname) : tar_clean_name(name, strlen(name)),
				.link = h[156] == '2' ? strndup((const char *)h + 157, strnlen((const char *)h + 157, 100)) : NULL,
				.data = p, .size = size };
			a->ne++;
		}
		p += (size + 511) / 512 * 512;
	}
	return a->ne ? 0 : set_err(err, errlen, -EINVAL, "not a tar");
}

/* The regular file at name, through symlinks (relative to its folder). */
static const struct tar_entry *tar_find(const struct img_archive *a, const char *name)
{
	char buf[1024];

	for (int hops = 0; hops < 8; hops++) {
		const struct tar_entry *e = NULL;
		for (size_t i = 0; i < a->ne && !e; i++)
			if (streq(a->e[i].name, name))
				e = &a->e[i];
		if (!e || !e->link)
			return e;
		const char *slash = strrchr(e->name, '/');
		char joined[1024], *parts[64];
		int np = 0;
		snprintf(joined, sizeof(joined), "%.*s%s%s", slash ? (int)(slash - e->name) : 0, e->name,
			 slash && e->link[0] != '/' ? "/" : "", e->link);
		for (char *t = strtok(joined, "/"); t && np < 64; t = strtok(NULL, "/"))
			if (streq(t, ".."))
				np -= np > 0;
			else if (!streq(t, "."))
				parts[np++] = t;
		buf[0] = 0;
		for (int i = 0, n = 0; i < np; i++)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "/" : "", parts[i]);
		name = buf;
	}
	return NULL;
}

/* ---- digests ---- */

static void digest_str(const unsigned char d[32], char out[72])
{
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

static void sha256_hex(const void *data, size_t len, char out[72])
{
	unsigned char d[32];
	unsigned int n = 0;

	EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
	digest_str(d, out);
}

/* sha256 of a layer's tar: the bytes, or gunzipped when they are gzip. */
static int diff_id(const unsigned char *data, size_t len, char out[72])
{
	unsigned char buf[65536], d[32];
	unsigned int n = 0;
	z_stream z = { .next_in = (unsigned char *)data, .avail_in = len };
	EVP_MD_CTX *md;
	int r;

	if (len < 2 || data[0] != 0x1f || data[1] != 0x8b) {
		sha256_hex(data, len, out);
		return 0;
	}
	md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		r = inflate(&z, Z_NO_FLUSH);
		EVP_DigestUpdate(md, buf, sizeof(buf) - z.avail_out);
	} while (r == Z_OK);
	inflateEnd(&z);
	EVP_DigestFinal_ex(md, d, &n);
	EVP_MD_CTX_free(md);
	if (r != Z_STREAM_END)
		return -EBADMSG;
	digest_str(d, out);
	return 0;
}

/* blob from a file of the archive, its digest computed. */
static int blob_of(const struct img_archive *a, const char *file, const char *media_type,
		   struct img_blob *b, char *err, size_t errlen)
{
	const struct tar_entry *e = tar_find(a, file);

	if (!e)
		return set_err(err, errlen, -ENOENT, "%s is missing", file);
	b->data = e->data;
	b->size = e->size;
	sha256_hex(e->data, e->size, b->digest);
	strscpy(b->media_type, media_type, sizeof(b->media_type));
	return 0;
}

/* blob named by an OCI descriptor: present in blobs/, digest and size as said. */
static int blob_of_desc(const struct img_archive *a, json_t *desc, struct img_blob *b, char *err,
			size_t errlen)
{
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	char file[128];
	int r;

	if (!dg || strncmp(dg, "sha256:", 7) || strlen(dg) != 71)
		return set_err(err, errlen, -EINVAL, "a descriptor without a sha256 digest");
	snprintf(file, sizeof(file), "blobs/sha256/%s", dg + 7);
	r = blob_of(a, file, mt ? mt : "", b, err, errlen);
	if (r < 0)
		return r;
	if (!streq(b->digest, dg))
		return set_err(err, errlen, -EBADMSG, "%s is corrupt: its content has digest %s", file, b->digest);
	if (json_is_integer(json_object_get(desc, "size")) &&
	    (size_t)json_integer_value(json_object_get(desc, "size")) != b->size)
		return set_err(err, errlen, -EBADMSG, "%s: %zu bytes, its descriptor says %lld", file,
			       b->size, (long long)json_integer_value(json_object_get(desc, "size")));
	return 0;
}

/* Each layer's uncompressed sha256 is the config's rootfs.diff_ids[i]. */
static int check_diff_ids(const struct img *im, char *err, size_t errlen)
{
	json_t *cfg = json_loadb((const char *)im->config.data, im->config.size, 0, NULL);
	json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	char d[72];
	int r = 0;

	if (!json_is_array(ids))
		r = set_err(err, errlen, -EBADMSG, "the image config (%s) is not JSON with rootfs.diff_ids",
			    im->config.digest);
	else if (json_array_size(ids) != im->nlayers)
		r = set_err(err, errlen, -EBADMSG, "%zu layers, the config lists %zu", im->nlayers,
			    json_array_size(ids));
	for (size_t i = 0; r == 0 && i < im->nlayers; i++) {
		r = diff_id(im->layers[i].data, im->layers[i].size, d);
		if (r < 0)
			r = set_err(err, errlen, r, "layer %zu (%s) is corrupt gzip", i + 1, im->layers[i].digest);
		else if (!streq(d, json_string_value(json_array_get(ids, i)) ?: ""))
			r = set_err(err, errlen, -EBADMSG, "layer %zu is corrupt: its content has digest %s, the config says %s", i + 1,
				    d, json_string_value(json_array_get(ids, i)) ?: "nothing");
	}
	json_decref(cfg);
	return r;
}

static int img_add_ref(struct img *im, const char *ref, char *err, size_t errlen)
{
	char d[256], repo[256], tag[128];

	if (img_ref_parse(ref, d, repo, tag) < 0)
		return set_err(err, errlen, -EINVAL, "\"%s\" is not an image name", ref);
	if (im->nrefs < IMG_MAX_REFS)
		im->refs[im->nrefs++] = strdup(ref);
	return 0;
}

/* ---- OCI image layout ---- */

/* The image manifest under desc: itself, or from an index the linux/amd64
 * (or only) one. */
static int oci_manifest(const struct img_archive *a, json_t *desc, struct img *im, int depth,
			char *err, size_t errlen)
{
	struct img_blob b;
	json_t *m, *l;
	size_t i;
	int r = blob_of_desc(a, desc, &b, err, errlen);

	if (r < 0)
		return r;
	m = json_loadb((const char *)b.data, b.size, 0, NULL);
	if (!m)
		return set_err(err, errlen, -EBADMSG, "manifest %s is not JSON", b.digest);
	const char *mt = json_string_value(json_object_get(m, "mediaType")) ?: b.media_type;
	if ((streq(mt, OCI_INDEX) || streq(mt, DOCKER_LIST)) && depth == 0) {
		json_t *pick = NULL, *c;
		json_array_foreach(json_object_get(m, "manifests"), i, c) {
			json_t *pl = json_object_get(c, "platform");
			if (streq(json_string_value(json_object_get(pl, "architecture")) ?: "amd64", "amd64") &&
			    streq(json_string_value(json_object_get(pl, "os")) ?: "linux", "linux"))
				pick = pick ? pick : c;
		}
		r = pick ? oci_manifest(a, pick, im, 1, err, errlen)
			 : set_err(err, errlen, -ENOENT, "index %s has no linux/amd64 image", b.digest);
		json_decref(m);
		return r;
	}
	if (!streq(mt, OCI_MANIFEST) && !streq(mt, DOCKER_MANIFEST)) {
		json_decref(m);
		return set_err(err, errlen, -EINVAL, "manifest %s has media type \"%s\", not an image", b.digest, mt);
	}
	strscpy(im->manifest_type, mt, sizeof(im->manifest_type));
	r = blob_of_desc(a, json_object_get(m, "config"), &im->config, err, errlen);
	if (r == 0 && json_array_size(json_object_get(m, "layers")) > IMG_MAX_LAYERS)
		r = set_err(err, errlen, -E2BIG, "manifest %s has more than %d layers", b.digest, IMG_MAX_LAYERS);
	json_array_foreach(json_object_get(m, "layers"), i, l) {
		if (r < 0)
			break;
		r = blob_of_desc(a, l, &im->layers[im->nlayers++], err, errlen);
	}
	json_decref(m);
	if (r < 0)
		return r;
	im->manifest = strndup((const char *)b.data, b.size);
	im->manifest_len = b.size;
	strscpy(im->digest, b.digest, sizeof(im->digest));
	return check_diff_ids(im, err, errlen);
}

static int oci_open(struct img_archive *a, char *err, size_t errlen)
{
	const struct tar_entry *e = tar_find(a, "index.json");
	json_t *idx = e ? json_loadb((const char *)e->data, e->size, 0, NULL) : NULL, *d;
	size_t i;
	int r = 0;

	a->format = "OCI image layout";
	if (!json_is_array(json_object_get(idx, "manifests")) || !json_array_size(json_object_get(idx, "manifests"))) {
		json_decref(idx);
		return set_err(err, errlen, -EINVAL, "index.json lists no manifests");
	}
	a->imgs = calloc(json_array_size(json_object_get(idx, "manifests")), sizeof(*a->imgs));
	if (!a->imgs) {
		json_decref(idx);
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(idx, "manifests"), i, d) {
		json_t *ann = json_object_get(d, "annotations");
		const char *name = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		struct img *im = &a->imgs[a->nimgs++];
		if (!name)
			name = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		if (!name || !strpbrk(name, "/:"))
			r = set_err(err, errlen, -EINVAL, "manifest %zu of index.json carries no image name "
				    "(annotation org.opencontainers.image.ref.name)", i + 1);
		if (r == 0)
			r = img_add_ref(im, name, err, errlen);
		if (r == 0)
			r = oci_manifest(a, d, im, 0, err, errlen);
		if (r < 0)
			break;
	}
	json_decref(idx);
	return r;
}

/* ---- docker-archive ---- */

/* An OCI manifest for a docker-archive image: its config and layers. */
static void docker_manifest(struct img *im)
{
	json_t *m = json_pack("{si ss s{ss ss sI}}", "schemaVersion", 2, "mediaType", OCI_MANIFEST,
			      "config", "mediaType", OCI_CONFIG, "digest", im->config.digest, "size",
			      (json_int_t)im->config.size);
	json_t *layers = json_array();

	for (size_t i = 0; i < im->nlayers; i++)
		json_array_append_new(layers, json_pack("{ss ss sI}", "mediaType", im->layers[i].media_type,
							"digest", im->layers[i].digest, "size",
							(json_int_t)im->layers[i].size));
	json_object_set_new(m, "layers", layers);
	im->manifest = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	im->manifest_len = strlen(im->manifest);
	strscpy(im->manifest_type, OCI_MANIFEST, sizeof(im->manifest_type));
	sha256_hex(im->manifest, im->manifest_len, im->digest);
	json_decref(m);
}

static int docker_open(struct img_archive *a, char *err, size_t errlen)
{
	const struct tar_entry *e = tar_find(a, "manifest.json");
	json_t *list = json_loadb((const char *)e->data, e->size, 0, NULL), *it, *v;
	size_t i, j;
	int r = 0;

	a->format = "docker-archive";
	if (!json_is_array(list) || !json_array_size(list)) {
		json_decref(list);
		return set_err(err, errlen, -EINVAL, "manifest.json is not a list of images");
	}
	a->imgs = calloc(json_array_size(list), sizeof(*a->imgs));
	if (!a->imgs) {
		json_decref(list);
		return -ENOMEM;
	}
	json_array_foreach(list, i, it) {
		struct img *im = &a->imgs[a->nimgs++];
		const char *cfg = json_string_value(json_object_get(it, "Config"));
		if (!json_array_size(json_object_get(it, "RepoTags")))
			r = set_err(err, errlen, -EINVAL, "image %zu of manifest.json carries no name (RepoTags)", i + 1);
		json_array_foreach(json_object_get(it, "RepoTags"), j, v)
			if (r == 0)
				r = img_add_ref(im, json_string_value(v) ?: "", err, errlen);
		if (r == 0)
			r = cfg ? blob_of(a, cfg, OCI_CONFIG, &im->config, err, errlen)
				: set_err(err, errlen, -EINVAL, "image %zu of manifest.json has no Config", i + 1);
		if (r == 0 && json_array_size(json_object_get(it, "Layers")) > IMG_MAX_LAYERS)
			r = set_err(err, errlen, -E2BIG, "image %zu has more than %d layers", i + 1, IMG_MAX_LAYERS);
		json_array_foreach(json_object_get(it, "Layers"), j, v) {
			if (r < 0)
				break;
			struct img_blob *b = &im->layers[im->nlayers++];
			r = blob_of(a, json_string_value(v) ?: "", OCI_LAYER, b, err, errlen);
			if (r == 0 && b->size >= 2 && b->data[0] == 0x1f && b->data[1] == 0x8b)
				strscpy(b->media_type, OCI_LAYER_GZ, sizeof(b->media_type));
		}
		if (r == 0)
			r = check_diff_ids(im, err, errlen);
		if (r < 0)
			break;
		docker_manifest(im);
	}
	json_decref(list);
	return r;
}

/* ---- the archive ---- */

void img_archive_free(struct img_archive *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ne; i++) {
		free(a->e[i].name);
		free(a->e[i].link);
	}
	for (size_t i = 0; i < a->nimgs; i++) {
		for (size_t j = 0; j < a->imgs[i].nrefs; j++)
			free(a->imgs[i].refs[j]);
		free(a->imgs[i].manifest);
	}
	free(a->imgs);
	free(a->e);
	if (a->map && a->map != MAP_FAILED)
		munmap(a->map, a->map_len);
	free(a);
}

/* The archive in a->map: its tar entries, then its images. */
static int archive_parse(struct img_archive *a, char *err, size_t errlen)
{
	int r = tar_index(a, err, errlen);

	if (r == 0 && tar_find(a, "manifest.json"))
		r = docker_open(a, err, errlen);
	else if (r == 0 && tar_find(a, "index.json") && tar_find(a, "oci-layout"))
		r = oci_open(a, err, errlen);
	else if (r == 0)
		r = set_err(err, errlen, -EINVAL, "a tar, but neither an OCI image layout (oci-layout, "
			    "index.json) nor a docker-archive (manifest.json)");
	return r;
}

int img_archive_open(const char *path, struct img_archive **out, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct img_archive *a;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return set_err(err, errlen, -errno, "%m");
	if (!S_ISREG(st.st_mode) || st.st_size < 1024)
		return set_err(err, errlen, -EINVAL, "not an image archive (%s)",
			       S_ISREG(st.st_mode) ? "too short for a tar" : "not a file");
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->map_len = st.st_size;
	a->map = mmap(NULL, a->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	r = a->map == MAP_FAILED ? set_err(err, errlen, -errno, "mmap: %m") : archive_parse(a, err, errlen);
	if (r < 0) {
		img_archive_free(a);
		return r;
	}
	*out = a;
	return 0;
}

int img_archive_parse(const void *buf, size_t len, struct img_archive **out, char *err,
		      size_t errlen)
{
	struct img_archive *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->mem = (void *)buf;
	a->map_len = len;
	r = archive_parse(a, err, errlen);
	if (r < 0) {
		img_archive_free(a);
		return r;
	}
	*out = a;
	return 0;
}

size_t img_archive_count(const struct img_archive *a) { return a->nimgs; }
const char *img_archive_format(const struct img_archive *a) { return a->format; }

/* ---- the registry's HTTP API v2 ---- */

struct reg_call {
	CURL *h;
	const unsigned char *body;
	size_t len, off;
	char location[2048], digest[80];
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct reg_call *c = arg;
	size_t k = size * n < c->len - c->off ? size * n : c->len - c->off;
	memcpy(buf, c->body + c->off, k);
	c->off += k;
	return k;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct reg_call *c = arg;
	size_t len = size * n;
	char *dst = !strncasecmp(buf, "Location:", 9) ? c->location :
		    !strncasecmp(buf, "Docker-Content-Digest:", 22) ? c->digest : NULL;
	if (dst) {
		const char *v = strchr(buf, ':') + 1;
		size_t l = len - (v - buf);
		while (l && (*v == ' '))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'))
			l--;
		snprintf(dst, dst == c->location ? sizeof(c->location) : sizeof(c->digest), "%.*s", (int)l, v);
	}
	return len;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return size * n;
}

/* method url [body, content type]: the HTTP status, or a negative errno. */
static long reg_do(struct reg_call *c, const char *method, const char *url, const void *body,
		   size_t len, const char *type)
{
	struct curl_slist *hdr = NULL;
	char ct[160];
	long code = 0;
	CURLcode rc;

	curl_easy_reset(c->h);
	c->body = body;
	c->len = len;
	c->off = 0;
	c->location[0] = c->digest[0] = 0;
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->h, CURLOPT_NOBODY, (long)streq(method, "HEAD"));
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 3L);
	curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "skiff");
	if (streq(method, "PUT") || streq(method, "POST")) {
		curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->h, CURLOPT_READDATA, c);
		curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		snprintf(ct, sizeof(ct), "Content-Type: %s", type ? type : "application/octet-stream");
		hdr = curl_slist_append(hdr, ct);
		hdr = curl_slist_append(hdr, "Expect:");
	} else {
		hdr = curl_slist_append(hdr, "Accept: " OCI_MANIFEST ", " DOCKER_MANIFEST ", " OCI_INDEX
					     ", " DOCKER_LIST);
	}
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(c->h);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK)
		return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static int reg_blob(struct reg_call *c, const char *base, const char *repo, const struct img_blob *b,
		    char *err, size_t errlen)
{
	char url[4096];
	long code;

	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", base, repo, b->digest);
	if ((code = reg_do(c, "HEAD", url, NULL, 0, NULL)) == 200)
		return 0;
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", base, repo);
	code = reg_do(c, "POST", url, "", 0, NULL);
	if (code != 202 || !c->location[0])
		return set_err(err, errlen, code < 0 ? code : -EPROTO, "POST %s: %s %ld", url,
			       code < 0 ? "no answer" : "HTTP", code);
	if (strncmp(c->location, "http", 4))
		snprintf(url, sizeof(url), "%s%s%cdigest=%s", base, c->location,
			 strchr(c->location, '?') ? '&' : '?', b->digest);
	else
		snprintf(url, sizeof(url), "%s%cdigest=%s", c->location,
			 strchr(c->location, '?') ? '&' : '?', b->digest);
	code = reg_do(c, "PUT", url, b->data, b->size, NULL);
	if (code != 201)
		return set_err(err, errlen, code < 0 ? code : -EPROTO, "PUT blob %s: HTTP %ld", b->digest, code);
	return 0;
}

static int reg_image(struct reg_call *c, const char *base, const struct img *im, const char *ref,
		     char *err, size_t errlen)
{
	char d[256], repo[256], tag[128], url[4096];
	long code;
	int r;

	img_ref_parse(ref, d, repo, tag);
	r = reg_blob(c, base, repo, &im->config, err, errlen);
	for (size_t i = 0; r == 0 && i < im->nlayers; i++)
		r = reg_blob(c, base, repo, &im->layers[i], err, errlen);
	if (r < 0)
		return r;
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", base, repo, tag);
	code = reg_do(c, "PUT", url, im->manifest, im->manifest_len, im->manifest_type);
	if (code != 201)
		return set_err(err, errlen, code < 0 ? code : -EPROTO, "PUT manifest %s: HTTP %ld", url, code);
	if (c->digest[0] && !streq(c->digest, im->digest))
		return set_err(err, errlen, -EBADMSG, "the registry stored manifest %s, not %s", c->digest,
			       im->digest);
	return 0;
}

/* Pushes every image of a under each of its names; progress (may be NULL)
 * gets a line per name. */
int img_archive_push(const struct img_archive *a, const char *base, FILE *progress, char *err,
		     size_t errlen)
{
	struct reg_call c = { .h = curl_easy_init() };
	int r = c.h ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < a->nimgs; i++) {
		const struct img *im = &a->imgs[i];
		size_t bytes = im->config.size;
		for (size_t j = 0; j < im->nlayers; j++)
			bytes += im->layers[j].size;
		for (size_t j = 0; r == 0 && j < im->nrefs; j++) {
			if (progress)
				fprintf(progress, "  %s: %zu layer(s), %.1f MB ...", im->refs[j], im->nlayers,
					bytes / 1e6), fflush(progress);
			r = reg_image(&c, base, im, im->refs[j], err, errlen);
			if (progress)
				fprintf(progress, r ? " failed\n" : " pushed (%.19s)\n", im->digest);
		}
	}
	curl_easy_cleanup(c.h);
	return r;
}

/* GET /v2/ at base is 200: the registry answers. */
int img_registry_ping(const char *base)
{
	char url[4096];
	struct reg_call c = { .h = curl_easy_init() };
	long code = -ENOMEM;

	snprintf(url, sizeof(url), "%s/v2/", base);
	if (c.h)
		code = reg_do(&c, "GET", url, NULL, 0, NULL);
	curl_easy_cleanup(c.h);
	return code == 200 ? 0 : code < 0 ? (int)code : -EPROTO;
}

/* The registry at base has every name of a, each with a's manifest. */
bool img_archive_in_registry(const struct img_archive *a, const char *base)
{
	char d[256], repo[256], tag[128], url[4096];
	struct reg_call c = { .h = curl_easy_init() };
	bool ok = c.h != NULL;

	for (size_t i = 0; ok && i < a->nimgs; i++)
		for (size_t j = 0; ok && j < a->imgs[i].nrefs; j++) {
			img_ref_parse(a->imgs[i].refs[j], d, repo, tag);
			snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", base, repo, tag);
			ok = reg_do(&c, "HEAD", url, NULL, 0, NULL) == 200 &&
			     streq(c.digest, a->imgs[i].digest);
		}
	curl_easy_cleanup(c.h);
	return ok;
}

/* Each domain the archive's names carry, for the hosts config. */
void img_archive_domains(const struct img_archive *a, void (*fn)(const char *domain, void *arg),
			 void *arg)
{
	char d[256], repo[256], tag[128];

	for (size_t i = 0; i < a->nimgs; i++)
		for (size_t j = 0; j < a->imgs[i].nrefs; j++)
			if (img_ref_parse(a->imgs[i].refs[j], d, repo, tag) == 0)
				fn(d, arg);
}
