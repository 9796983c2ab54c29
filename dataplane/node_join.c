/* Joining the cluster with a node token (see node_join.h). */
#include "dataplane/node_join.h"
#include "lib/join_token.h"
#include "lib/log.h"
#include "lib/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEM_MAX (1 << 20)
#define PASSWORD_BYTES 16
#define JOIN_TIMEOUT_S 30

/* ---- files ---- */

static int file_read(const char *dir, const char *name, char **buf, size_t *len)
{
	char path[4200];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_all(fd, PEM_MAX, buf, len);
}

/* dir/name holds data (len bytes), written whole or not at all. */
static int file_write(const char *dir, const char *name, const char *data, size_t len,
		      mode_t mode)
{
	char path[4200], tmp[4300];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r < 0)
		return r;
	if (close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static bool file_exists(const char *dir, const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, R_OK) == 0;
}

/* The node password of dir, made on the first join. */
static int password_load_or_make(const char *dir, char *pw, size_t size)
{
	_cleanup_free_ char *buf = NULL;
	unsigned char rnd[PASSWORD_BYTES];
	size_t len;
	int r;

	if (file_read(dir, "node-password", &buf, &len) == 0 && len > 0) {
		buf[strcspn(buf, "\r\n")] = 0;
		return strscpy(pw, buf, size) < 0 ? -ENAMETOOLONG : 0;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	if (size < 2 * sizeof(rnd) + 2)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	strcat(pw, "\n");
	r = file_write(dir, "node-password", pw, strlen(pw), 0600);
	pw[strlen(pw) - 1] = 0;
	return r;
}

/* ---- HTTP ---- */

struct body {
	char *buf;
	size_t len;
};

static size_t body_add(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t add = size * n;
	char *nb;

	if (b->len + add > PEM_MAX || !(nb = realloc(b->buf, b->len + add + 1)))
		return 0;
	memcpy(nb + b->len, p, add);
	b->len += add;
	nb[b->len] = 0;
	b->buf = nb;
	return add;
}

/* A refusal's message: the Status the server answered, else its code. */
static void refusal(const struct body *b, long code, char *err, size_t errlen)
{
	json_t *st = b->buf ? json_loadb(b->buf, b->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));

	snprintf(err, errlen, "HTTP %ld%s%s", code, msg ? ": " : "", msg ? msg : "");
	json_decref(st);
}

/* GET server+path; cafile NULL: the server is not verified (the caller
 * checks what it answered). userpwd and headers may be NULL. */
static int get(const char *server, const char *path, const char *cafile, const char *userpwd,
	       struct curl_slist *headers, struct body *out, char *err, size_t errlen)
{
	char url[4300];
	CURL *h = curl_easy_init();
	long code = 0;
	CURLcode cr;

	if (!h)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", server, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_add);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)JOIN_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "skiff-agent");
	if (cafile) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
	} else {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (userpwd)
		curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
	if (headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	cr = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (cr != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cr));
		return cr == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
	}
	if (code != 200) {
		refusal(out, code, err, errlen);
		return code == 401 ? -EACCES : code == 403 ? -EPERM : -EIO;
	}
	return 0;
}

/* ---- the steps ---- */

/* Step 1: the CA whose hash the token names, into dir/ca.crt. */
static int fetch_ca(const struct node_join_options *o, const char *dir, const char *hash,
		    char *err, size_t errlen)
{
	struct body b = { 0 };
	char got[65];
	int r = get(o->server, JOIN_PATH_CACERTS, NULL, NULL, NULL, &b, err, errlen);

	if (r == 0)
		r = join_sha256_hex(b.buf, b.len, got);
	if (r == 0 && !streq(got, hash)) {
		snprintf(err, errlen, "the CA at %s" JOIN_PATH_CACERTS " has sha256 %s, the token names %s: "
			 "not the server of this token", o->server, got, hash);
		r = -EPERM;
	}
	if (r == 0)
		r = file_write(dir, "ca.crt", b.buf, b.len, 0644);
	free(b.buf);
	return r;
}

/* The private key block of a PEM text (certificate, then key). */
static const char *key_block(const char *pem)
{
	const char *p = pem;

	while ((p = strstr(p, "-----BEGIN ")) != NULL) {
		const char *eol = strchr(p, '\n');

		if (eol && memmem(p, (size_t)(eol - p), "PRIVATE KEY", 11))
			return p;
		p += 11;
	}
	return NULL;
}

/* The node's comma-separated addresses, for Skiff-Node-IP. */
static void addrs_csv(const struct node_join_options *o, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < o->n_addrs && n < size; i++) {
		char a[64];

		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "",
				      ipaddr_str(&o->addrs[i], a, sizeof(a)));
	}
}

/* Step 2: one certificate endpoint's answer, into dir/<base>.crt/.key. */
static int fetch_pair(const struct node_join_options *o, const char *dir, const char *path,
		      const char *base, const char *secret, const char *password, char *err,
		      size_t errlen)
{
	char ca[4200], userpwd[512], hdr[3][600], ips[1024], name[64];
	struct curl_slist *headers = NULL;
	struct body b = { 0 };
	const char *key;
	int r;

	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(userpwd, sizeof(userpwd), "node:%s", secret);
	addrs_csv(o, ips, sizeof(ips));
	snprintf(hdr[0], sizeof(hdr[0]), JOIN_HDR_NAME ": %s", o->node_name);
	snprintf(hdr[1], sizeof(hdr[1]), JOIN_HDR_PASSWORD ": %s", password);
	snprintf(hdr[2], sizeof(hdr[2]), JOIN_HDR_IP ": %s", ips);
	for (size_t i = 0; i < ARRAY_SIZE(hdr); i++) {
		struct curl_slist *l = curl_slist_append(headers, hdr[i]);

		if (!l) {
			curl_slist_free_all(headers);
			return -ENOMEM;
		}
		headers = l;
	}
	r = get(o->server, path, ca, userpwd, headers, &b, err, errlen);
	curl_slist_free_all(headers);
	key = r == 0 ? key_block(b.buf) : NULL;
	if (r == 0 && !key) {
		snprintf(err, errlen, "%s%s: the answer holds no private key", o->server, path);
		r = -EPROTO;
	}
	if (r == 0) {
		snprintf(name, sizeof(name), "%s.crt", base);
		r = file_write(dir, name, b.buf, (size_t)(key - b.buf), 0644);
	}
	if (r == 0) {
		snprintf(name, sizeof(name), "%s.key", base);
		r = file_write(dir, name, key, strlen(key), 0600);
	}
	free(b.buf);
	return r;
}

/* Step 3: the kubeconfig, with paths relative to it. */
static int kubeconfig_write(const struct node_join_options *o, const char *dir)
{
	char user[300];
	json_t *doc;
	char *text;
	int r;

	snprintf(user, sizeof(user), "system:node:%s", o->node_name);
	doc = json_pack("{s:s,s:s,s:[{s:s,s:{s:s,s:s}}],s:[{s:s,s:{s:s,s:s}}],"
			"s:[{s:s,s:{s:s,s:s}}],s:s}",
			"apiVersion", "v1", "kind", "Config", "clusters", "name", "skiff", "cluster",
			"server", o->server, "certificate-authority", "ca.crt", "users", "name",
			user, "user", "client-certificate", "client.crt", "client-key", "client.key",
			"contexts", "name", "skiff", "context", "cluster", "skiff", "user", user,
			"current-context", "skiff");
	text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	r = file_write(dir, "kubeconfig", text, strlen(text), 0600);
	free(text);
	return r;
}

/* The files of an earlier join of this node with this token's CA. */
static bool joined_before(const char *dir, const char *node, const char *hash)
{
	static const char *const files[] = { "client.crt", "client.key", "serving.crt",
					     "serving.key" };
	_cleanup_free_ char *ca = NULL, *name = NULL;
	char got[65];
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (!file_exists(dir, files[i]))
			return false;
	if (file_read(dir, "node-name", &name, &len) < 0 || !streq(name, node))
		return false;
	return file_read(dir, "ca.crt", &ca, &len) == 0 && join_sha256_hex(ca, len, got) == 0 &&
	       streq(got, hash);
}

int node_join(const struct node_join_options *o, char *kubeconfig, size_t size, char *err,
	      size_t errlen)
{
	const char *dir = o->data_dir ? o->data_dir : NODE_JOIN_DEFAULT_DATA_DIR, *secret;
	char hash[65], password[128];
	int r;

	err[0] = 0;
	if (join_token_parse(o->token, hash, &secret) < 0) {
		snprintf(err, errlen, "the token is not a node token (K10<sha256>::server:<secret>)");
		return -EINVAL;
	}
	if ((size_t)snprintf(kubeconfig, size, "%s/kubeconfig", dir) >= size)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create the data dir %s: %s", dir, strerror(-r));
		return r;
	}
	if (joined_before(dir, o->node_name, hash)) {
		log_info("join: node %s: reusing the certificates in %s", o->node_name, dir);
		return kubeconfig_write(o, dir);
	}
	r = password_load_or_make(dir, password, sizeof(password));
	if (r < 0) {
		snprintf(err, errlen, "cannot keep the node password in %s: %s", dir, strerror(-r));
		return r;
	}
	if ((r = fetch_ca(o, dir, hash, err, errlen)) < 0 ||
	    (r = fetch_pair(o, dir, JOIN_PATH_CLIENT_CERT, "client", secret, password, err,
			    errlen)) < 0 ||
	    (r = fetch_pair(o, dir, JOIN_PATH_SERVING_CERT, "serving", secret, password,
			    err, errlen)) < 0 ||
	    (r = file_write(dir, "node-name", o->node_name, strlen(o->node_name), 0644)) < 0)
		return r;
	log_info("join: node %s joined %s; certificates in %s", o->node_name, o->server, dir);
	return kubeconfig_write(o, dir);
}
