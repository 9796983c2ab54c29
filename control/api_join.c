/* Joining nodes, k3s style (see api_join.h): the node token in the data
 * dir, GET /cacerts, and the two certificate endpoints a token opens. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/api_internal.h"
#include "control/api_join.h"
#include "lib/kube_names.h"
#include "lib/log.h"
#include "lib/base64.h"
#include "lib/util.h"

#define SECRET_BYTES 16
#define NODE_PASSWORD_NS "kube-system"

/* ---- the token ---- */

static int file_read(const char *path, char **buf, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return read_all(fd, 1 << 20, buf, len);
}

static int file_write(const char *path, const char *text, mode_t mode)
{
	char tmp[4200];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r < 0)
		return r;
	if (close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* The secret of DIR/token when it holds a token, else a new one. */
static int secret_load_or_make(const char *path, char *secret, size_t size)
{
	_cleanup_free_ char *old = NULL;
	unsigned char rnd[SECRET_BYTES];
	char hash[65];
	const char *s;
	size_t len;

	if (file_read(path, &old, &len) == 0) {
		old[strcspn(old, "\r\n")] = 0;
		if (join_token_parse(old, hash, &s) == 0)
			return strscpy(secret, s, size) < 0 ? -ENAMETOOLONG : 0;
	}
	if (gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof(rnd)) < 0)
		return -EIO;
	if (size < 2 * sizeof(rnd) + 1)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(secret + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

int api_join_token_ensure(const char *data_dir, char *token, size_t size)
{
	char path[4200], secret[256], hash[65], line[512];
	_cleanup_free_ char *ca = NULL;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/tls/ca.crt", data_dir);
	if ((r = file_read(path, &ca, &len)) < 0 || (r = join_sha256_hex(ca, len, hash)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/token", data_dir);
	r = secret_load_or_make(path, secret, sizeof(secret));
	if (r < 0)
		return r;
	if ((size_t)snprintf(token, size, "%s%s::server:%s", JOIN_TOKEN_PREFIX, hash, secret) >=
	    size)
		return -ENAMETOOLONG;
	snprintf(line, sizeof(line), "%s\n", token);
	if ((r = file_write(path, line, 0600)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/node-token", data_dir);
	return file_write(path, line, 0600);
}

/* ---- the endpoints ---- */

bool api_join_path(const char *url)
{
	return streq(url, JOIN_PATH_CACERTS) || streq(url, JOIN_PATH_CLIENT_CERT) ||
	       streq(url, JOIN_PATH_SERVING_CERT);
}

static const char *header(struct api_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

/* The peer's address, for the log. */
static const char *remote(struct api_req *q, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, size, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  (socklen_t)size);
	return buf;
}

static bool same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char diff = n != strlen(b);

	for (size_t i = 0; i < n && b[i]; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* The request proves the token: Basic "node:<secret>" (or the whole
 * token as the password), or "Bearer <token>". */
static bool token_ok(struct api_req *q)
{
	const char *auth = header(q, "Authorization"), *secret, *given = NULL;
	_cleanup_free_ char *file = NULL;
	_cleanup_free_ char *plain = NULL;
	char path[4200], hash[65], ghash[65];
	size_t len;

	snprintf(path, sizeof(path), "%s/token", q->srv->cfg.data_dir);
	if (!auth || file_read(path, &file, &len) < 0)
		return false;
	file[strcspn(file, "\r\n")] = 0;
	if (join_token_parse(file, hash, &secret) < 0)
		return false;
	if (strncasecmp(auth, "Bearer ", 7) == 0) {
		given = auth + 7;
	} else if (strncasecmp(auth, "Basic ", 6) == 0) {
		size_t n;
		char *colon;

		if (b64_decode(auth + 6, strlen(auth + 6), B64_STD, &plain, &n) < 0)
			return false;
		colon = strlen(plain) == n ? strchr(plain, ':') : NULL;
		if (!colon || strncmp(plain, "node:", 5) != 0)
			return false;
		given = colon + 1;
	}
	if (!given)
		return false;
	if (join_token_parse(given, ghash, &given) == 0 && !streq(ghash, hash))
		return false;
	return same_secret(secret, given);
}

static enum MHD_Result refuse(struct api_req *q, unsigned code, const char *reason,
			      const char *url, const char *why)
{
	struct api_err e = { 0 };
	char addr[INET6_ADDRSTRLEN];

	log_warn("join: %s from %s refused: %s", url, remote(q, addr, sizeof(addr)), why);
	api_err_set(&e, code, reason, "%s", why);
	return api_reply_err(q, &e);
}

/* k3s's node password: the first join of a name stores the hash of the
 * password the agent keeps in its data dir, in the Secret
 * kube-system/<name>.node-password.skiff; later joins of the name must
 * give the same password, so one node cannot take another's name. */
static int node_password_check(struct api_req *q, const char *node, const char *password)
{
	const struct api_resource *secrets = api_resource_find("", "v1", "secrets");
	char name[320], hex[65];
	struct api_err e = { 0 };
	json_t *obj = NULL, *out = NULL;
	_cleanup_free_ char *b64 = NULL;
	int r;

	snprintf(name, sizeof(name), "%s.node-password.skiff", node);
	if (join_sha256_hex(password, strlen(password), hex) < 0)
		return -EIO;
	b64 = b64_encode(hex, 64, B64_STD);
	if (!b64)
		return -ENOMEM;
	r = api_obj_get(q->srv, secrets, NODE_PASSWORD_NS, name, &obj, &e);
	api_err_free(&e);
	if (r == 0) {
		const char *stored = api_jstr(obj, "data.hash");

		r = stored && strlen(stored) == strlen(b64) && same_secret(stored, b64) ? 0 : -EPERM;
		json_decref(obj);
		return r;
	}
	if (r != -ENOENT)
		return r;
	obj = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:{s:s%}}", "apiVersion", "v1", "kind", "Secret",
			"metadata", "name", name, "namespace", NODE_PASSWORD_NS, "type",
			"skiff.io/node-password", "data", "hash", b64, strlen(b64));
	r = obj ? api_obj_create(q->srv, secrets, NODE_PASSWORD_NS, obj, NULL, &out, &e) : -ENOMEM;
	json_decref(obj);
	json_decref(out);
	api_err_free(&e);
	return r;
}

/* Skiff-Node-IP: addresses only, comma-separated; into hosts after the
 * node's name. */
static int node_hosts(const char *node, const char *ips, char *hosts, size_t size)
{
	char buf[512], *save = NULL;
	unsigned char a[16];
	size_t n;

	n = (size_t)snprintf(hosts, size, "%s", node);
	if (!ips || !*ips)
		return n < size ? 0 : -E2BIG;
	if (strlen(ips) >= sizeof(buf))
		return -E2BIG;
	snprintf(buf, sizeof(buf), "%s", ips);
	for (char *ip = strtok_r(buf, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
		if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1)
			return -EINVAL;
		n += (size_t)snprintf(hosts + n, n < size ? size - n : 0, ",%s", ip);
	}
	return n < size ? 0 : -E2BIG;
}

/* GET /v1-skiff/{client,serving}-kubelet.crt with the token. */
static enum MHD_Result serve_cert(struct api_req *q, const char *url)
{
	const char *node = header(q, JOIN_HDR_NAME), *pw = header(q, JOIN_HDR_PASSWORD);
	const char *ips = header(q, JOIN_HDR_IP), *bad;
	bool serving = streq(url, JOIN_PATH_SERVING_CERT);
	_cleanup_free_ char *pem = NULL;
	char hosts[1024], why[512], addr[INET6_ADDRSTRLEN];
	int r;

	if (!token_ok(q))
		return refuse(q, 401, "Unauthorized", url, "the node token is not this server's");
	if (!node || !pw || !*pw)
		return refuse(q, 400, "BadRequest", url,
			      "the " JOIN_HDR_NAME " and " JOIN_HDR_PASSWORD
			      " headers are required");
	bad = kube_dns1123_subdomain_error(node);
	if (bad) {
		snprintf(why, sizeof(why), "node name \"%s\": %s", node, bad);
		return refuse(q, 400, "BadRequest", url, why);
	}
	if (node_hosts(node, ips, hosts, sizeof(hosts)) < 0) {
		snprintf(why, sizeof(why), JOIN_HDR_IP " \"%s\" is not a list of addresses", ips);
		return refuse(q, 400, "BadRequest", url, why);
	}
	r = node_password_check(q, node, pw);
	if (r == -EPERM) {
		snprintf(why, sizeof(why),
			 "node %s joined before with another password (Secret %s/%s.node-password.skiff)",
			 node, NODE_PASSWORD_NS, node);
		return refuse(q, 403, "Forbidden", url, why);
	}
	if (r >= 0)
		r = api_tls_node_pair(q->srv->cfg.data_dir, serving, node, hosts, &pem);
	if (r < 0) {
		struct api_err e = { 0 };

		log_error("join: %s for node %s: %s", url, node, strerror(-r));
		api_err_set(&e, 500, "InternalError", "cannot make the certificate: %s",
			    strerror(-r));
		return api_reply_err(q, &e);
	}
	log_info("join: node %s from %s: %s certificate issued (%s)", node,
		 remote(q, addr, sizeof(addr)), serving ? "serving" : "client", hosts);
	return api_reply_text(q, 200, "application/x-pem-file", pem);
}

enum MHD_Result api_join_serve(struct api_req *q, const char *url)
{
	if (!streq(q->method, "GET")) {
		struct api_err e = { 0 };

		api_err_set(&e, 405, "MethodNotAllowed", "%s answers GET only", url);
		return api_reply_err(q, &e);
	}
	if (streq(url, JOIN_PATH_CACERTS))
		return api_reply_text(q, 200, "application/x-pem-file", q->srv->tls_ca);
	return serve_cert(q, url);
}
