/* TLS material of skiff-server, generated with OpenSSL on first start
 * (k3s style): a CA, a serving certificate for the given hosts, an admin
 * client certificate (CN system:admin, O system:masters), and an admin
 * kubeconfig that embeds all three. Existing files are kept; the
 * kubeconfig is rewritten on every start so it names the current URL. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/api.h"
#include "util.h"

static void pkeyp(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static void x509p(X509 **p)
{
	X509_free(*p);
}

#define _cleanup_pkey_ _cleanup_(pkeyp)
#define _cleanup_x509_ _cleanup_(x509p)

static int write_pem(const char *path, EVP_PKEY *key, X509 *crt, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(TAKE_FD(fd), "w");
	if (!f)
		return -errno;
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_X509(f, crt);
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}

static int read_pem(const char *path, EVP_PKEY **key, X509 **crt)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (key)
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	else
		*crt = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return (key ? *key != NULL : *crt != NULL) ? 0 : -EINVAL;
}

static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* A certificate for key, signed by (ca_crt, ca_key), or self-signed when
 * ca_crt is NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *org, X509 *ca_crt,
		       EVP_PKEY *ca_key, bool is_ca, const char *san, const char *eku)
{
	X509 *crt = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn;

	if (!crt)
		return NULL;
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt));
	BN_free(bn);
	X509_set_version(crt, 2);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), (long)3650 * 24 * 3600);
	X509_set_pubkey(crt, key);
	name = X509_get_subject_name(crt);
	if (org)
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)org, -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(crt, ca_crt ? X509_get_subject_name(ca_crt) : name);
	if (add_ext(crt, ca_crt ? ca_crt : crt, NID_basic_constraints,
		    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") < 0 ||
	    add_ext(crt, ca_crt ? ca_crt : crt, NID_key_usage,
		    is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
			  : "critical,digitalSignature,keyEncipherment") < 0 ||
	    (eku && add_ext(crt, ca_crt ? ca_crt : crt, NID_ext_key_usage, eku) < 0) ||
	    (san && add_ext(crt, ca_crt ? ca_crt : crt, NID_subject_alt_name, san) < 0) ||
	    !X509_sign(crt, ca_key ? ca_key : key, EVP_sha256())) {
		X509_free(crt);
		return NULL;
	}
	return crt;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int pair(const char *dir, const char *base, const char *cn, const char *org, X509 *ca,
		EVP_PKEY *ca_key, const char *san, const char *eku)
{
	char kp[4300], cp[4300];
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_ X509 *crt = NULL;
	int r;

	snprintf(kp, sizeof(kp), "%s/%s.key", dir, base);
	snprintf(cp, sizeof(cp), "%s/%s.crt", dir, base);
	if (exists(kp) && exists(cp))
		return 0;
	key = EVP_EC_gen("P-256");
	if (!key)
		return -EIO;
	crt = make_cert(key, cn, org, ca, ca_key, false, san, eku);
	if (!crt)
		return -EIO;
	r = write_pem(kp, key, NULL, 0600);
	if (r == 0)
		r = write_pem(cp, NULL, crt, 0644);
	return r;
}

static char *b64_file(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *data = NULL;
	size_t len;
	char *out;

	if (fd < 0 || read_all(fd, 1 << 20, &data, &len) < 0)
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return out;
}

static int write_kubeconfig(const char *data_dir, const char *tls, const char *url,
			    const char *token)
{
	char path[4200], tmp[4300], p[4200];
	_cleanup_free_ char *ca = NULL, *crt = NULL, *key = NULL;
	_cleanup_close_ int fd = -1;
	FILE *f;

	snprintf(p, sizeof(p), "%s/ca.crt", tls);
	ca = b64_file(p);
	snprintf(p, sizeof(p), "%s/admin.crt", tls);
	crt = b64_file(p);
	snprintf(p, sizeof(p), "%s/admin.key", tls);
	key = b64_file(p);
	if (!ca || !crt || !key)
		return -EIO;
	snprintf(path, sizeof(path), "%s/kubeconfig", data_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(TAKE_FD(fd), "w");
	if (!f)
		return -errno;
	fprintf(f,
		"apiVersion: v1\n"
		"kind: Config\n"
		"clusters:\n"
		"- cluster:\n"
		"    certificate-authority-data: %s\n"
		"    server: %s\n"
		"  name: skiff\n"
		"contexts:\n"
		"- context:\n"
		"    cluster: skiff\n"
		"    user: skiff-admin\n"
		"  name: skiff\n"
		"current-context: skiff\n"
		"preferences: {}\n"
		"users:\n"
		"- name: skiff-admin\n"
		"  user:\n",
		ca, url);
	if (token && *token)
		fprintf(f, "    token: %s\n", token);
	else
		fprintf(f, "    client-certificate-data: %s\n    client-key-data: %s\n", crt, key);
	if (fclose(f) != 0)
		return -EIO;
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

int api_tls_ensure(const char *data_dir, const char *hosts_csv, const char *server_url,
		   const char *token)
{
	char tls[4096], kp[4200], cp[4200], san[2048];
	_cleanup_pkey_ EVP_PKEY *ca_key = NULL;
	_cleanup_x509_ X509 *ca = NULL;
	size_t off;
	int r;

	snprintf(tls, sizeof(tls), "%s/tls", data_dir);
	if (mkdir(tls, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(kp, sizeof(kp), "%s/ca.key", tls);
	snprintf(cp, sizeof(cp), "%s/ca.crt", tls);
	if (exists(kp) && exists(cp)) {
		if ((r = read_pem(kp, &ca_key, NULL)) < 0 || (r = read_pem(cp, NULL, &ca)) < 0)
			return r;
	} else {
		ca_key = EVP_EC_gen("P-256");
		if (!ca_key)
			return -EIO;
		ca = make_cert(ca_key, "skiff-ca", NULL, NULL, NULL, true, NULL, NULL);
		if (!ca)
			return -EIO;
		if ((r = write_pem(kp, ca_key, NULL, 0600)) < 0 ||
		    (r = write_pem(cp, NULL, ca, 0644)) < 0)
			return r;
	}
	off = (size_t)snprintf(san, sizeof(san),
			       "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
			       "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,"
			       "IP:127.0.0.1,IP:::1");
	if (hosts_csv) {
		_cleanup_free_ char *copy = strdup(hosts_csv);
		char *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *h = strtok_r(copy, ",", &save); h && off < sizeof(san);
		     h = strtok_r(NULL, ",", &save)) {
			bool ip = strspn(h, "0123456789.:abcdefABCDEF") == strlen(h) &&
				  (strchr(h, '.') || strchr(h, ':'));

			off += (size_t)snprintf(san + off, sizeof(san) - off, ",%s:%s",
						ip ? "IP" : "DNS", h);
		}
	}
	r = pair(tls, "server", "skiff-server", NULL, ca, ca_key, san, "serverAuth");
	if (r == 0)
		r = pair(tls, "admin", "system:admin", "system:masters", ca, ca_key, NULL, "clientAuth");
	if (r == 0 && server_url)
		r = write_kubeconfig(data_dir, tls, server_url, token);
	return r;
}
