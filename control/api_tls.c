/* TLS material of skiff-server, generated with GnuTLS (the library that
 * serves it, through libmicrohttpd) on first start, k3s style: a CA, a
 * serving certificate for the given hosts, an admin client certificate
 * (CN system:admin, O system:masters), and an admin kubeconfig that
 * embeds all three; and, for the in-process controller manager and
 * scheduler, client certificates of their own (CN
 * system:kube-controller-manager, system:kube-scheduler) with a
 * kubeconfig each, as k3s keeps them. Keys are ECDSA P-256 in PKCS#8 PEM. Existing files
 * are kept (whatever wrote them: any PEM key GnuTLS reads); the
 * kubeconfig is rewritten on every start so it names the current URL. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "control/api.h"
#include "lib/base64.h"
#include "lib/util.h"

#define CERT_DAYS 3650
#define PEM_MAX (1 << 20)

static void crtp(gnutls_x509_crt_t *p)
{
	if (*p)
		gnutls_x509_crt_deinit(*p);
}

static void keyp(gnutls_x509_privkey_t *p)
{
	if (*p)
		gnutls_x509_privkey_deinit(*p);
}

static void datump(gnutls_datum_t *d)
{
	gnutls_free(d->data);
}

#define _cleanup_crt_ _cleanup_(crtp)
#define _cleanup_key_ _cleanup_(keyp)
#define _cleanup_datum_ _cleanup_(datump)

/* A GnuTLS error as a negative errno. */
static int gt_err(int r)
{
	if (r >= 0)
		return 0;
	return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;
}

/* What a certificate says: its subject, whether it is a CA, what it is
 * for (an extended key usage OID) and, for a server, its names. */
struct cert_spec {
	const char *cn, *org;
	bool is_ca;
	const char *purpose;
	const char *hosts_csv; /* extra names/IPs after the built-in ones */
	bool server_names;
	bool hosts_only; /* server_names: hosts_csv alone (a kubelet's) */
};

static const char *const server_dns[] = {
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
};
static const char *const server_ips[] = { "127.0.0.1", "::1" };

/* ---- files ---- */

static int write_datum(const char *path, const gnutls_datum_t *d, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, d->data, d->size);
	if (r < 0)
		return r;
	return close(TAKE_FD(fd)) < 0 ? -errno : 0;
}

static int read_datum(const char *path, char **buf, gnutls_datum_t *d)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len;
	int r;

	if (fd < 0)
		return -errno;
	r = read_all(fd, PEM_MAX, buf, &len);
	if (r < 0)
		return r;
	*d = (gnutls_datum_t){ .data = (unsigned char *)*buf, .size = (unsigned)len };
	return 0;
}

static int key_write(const char *path, gnutls_x509_privkey_t key)
{
	_cleanup_datum_ gnutls_datum_t d = { 0 };
	int r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
						  GNUTLS_PKCS_PLAIN, &d);

	return r < 0 ? gt_err(r) : write_datum(path, &d, 0600);
}

static int crt_write(const char *path, gnutls_x509_crt_t crt)
{
	_cleanup_datum_ gnutls_datum_t d = { 0 };
	int r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);

	return r < 0 ? gt_err(r) : write_datum(path, &d, 0644);
}

/* ---- certificates ---- */

static int key_new(gnutls_x509_privkey_t *out)
{
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	int r;

	if (gnutls_x509_privkey_init(&key) < 0)
		return -ENOMEM;
	r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (r < 0)
		return gt_err(r);
	*out = TAKE_PTR(key);
	return 0;
}

/* One subjectAltName: an IP address when host parses as one, else a DNS name. */
static int san_add(gnutls_x509_crt_t crt, const char *host)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, host, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
							    GNUTLS_FSAN_APPEND);
	if (inet_pton(AF_INET6, host, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
							    GNUTLS_FSAN_APPEND);
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
						    (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
}

/* The serving certificate's names: the built-in ones (unless
 * hosts_only), then hosts_csv. */
static int sans_add(gnutls_x509_crt_t crt, const char *hosts_csv, bool hosts_only)
{
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;
	int r = 0;

	for (size_t i = 0; !hosts_only && i < ARRAY_SIZE(server_dns) && r >= 0; i++)
		r = san_add(crt, server_dns[i]);
	for (size_t i = 0; !hosts_only && i < ARRAY_SIZE(server_ips) && r >= 0; i++)
		r = san_add(crt, server_ips[i]);
	if (r < 0 || !hosts_csv)
		return r;
	copy = strdup(hosts_csv);
	if (!copy)
		return GNUTLS_E_MEMORY_ERROR;
	for (char *h = strtok_r(copy, ",", &save); h && r >= 0; h = strtok_r(NULL, ",", &save))
		r = san_add(crt, h);
	return r;
}

/* Serial, validity (from an hour ago, for clocks behind ours), subject
 * and key. The serial is 16 random bytes, positive and minimally encoded
 * (Go's x509 parser rejects anything else). */
static int cert_basics(gnutls_x509_crt_t crt, const struct cert_spec *spec,
		       gnutls_x509_privkey_t key)
{
	unsigned char serial[16];
	time_t now = time(NULL);
	int r;

	r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	if (r < 0)
		return r;
	serial[0] = 0x40 | (serial[0] & 0x3f);
	if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CERT_DAYS * 86400)) < 0 ||
	    (r = gnutls_x509_crt_set_key(crt, key)) < 0)
		return r;
	if (spec->org && (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME,
							     0, spec->org,
							     (unsigned)strlen(spec->org))) < 0)
		return r;
	return gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, spec->cn,
					     (unsigned)strlen(spec->cn));
}

/* Basic constraints and key usage (both critical), extended key usage and
 * names. */
static int cert_extensions(gnutls_x509_crt_t crt, const struct cert_spec *spec)
{
	unsigned usage = spec->is_ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
					       GNUTLS_KEY_DIGITAL_SIGNATURE
				     : GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT;
	int r;

	if ((r = gnutls_x509_crt_set_basic_constraints(crt, spec->is_ca, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(crt, usage)) < 0)
		return r;
	if (spec->purpose && (r = gnutls_x509_crt_set_key_purpose_oid(crt, spec->purpose, 0)) < 0)
		return r;
	return spec->server_names ? sans_add(crt, spec->hosts_csv, spec->hosts_only) : 0;
}

/* A certificate for key, signed by (ca, ca_key), or self-signed when ca
 * is NULL. */
static int cert_make(const struct cert_spec *spec, gnutls_x509_privkey_t key,
		     gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key, gnutls_x509_crt_t *out)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	int r;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if ((r = cert_basics(crt, spec, key)) < 0 || (r = cert_extensions(crt, spec)) < 0 ||
	    (r = gnutls_x509_crt_sign2(crt, ca ? ca : crt, ca ? ca_key : key, GNUTLS_DIG_SHA256,
				       0)) < 0)
		return gt_err(r);
	*out = TAKE_PTR(crt);
	return 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* dir/base.key and dir/base.crt for spec, signed by the CA, unless both
 * exist already. */
static int pair(const char *dir, const char *base, const struct cert_spec *spec,
		gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key)
{
	char kp[4300], cp[4300];
	_cleanup_key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	int r;

	snprintf(kp, sizeof(kp), "%s/%s.key", dir, base);
	snprintf(cp, sizeof(cp), "%s/%s.crt", dir, base);
	if (exists(kp) && exists(cp))
		return 0;
	if ((r = key_new(&key)) < 0 || (r = cert_make(spec, key, ca, ca_key, &crt)) < 0 ||
	    (r = key_write(kp, key)) < 0)
		return r;
	return crt_write(cp, crt);
}

/* The CA of dir from ca.key (a PEM private key: PKCS#8, SEC1 or PKCS#1, as
 * OpenSSL or GnuTLS wrote it) and ca.crt. */
static int ca_load(const char *kp, const char *cp, gnutls_x509_crt_t *ca,
		   gnutls_x509_privkey_t *ca_key)
{
	_cleanup_free_ char *kbuf = NULL, *cbuf = NULL;
	gnutls_datum_t kd, cd;
	int r;

	if ((r = read_datum(kp, &kbuf, &kd)) < 0 || (r = read_datum(cp, &cbuf, &cd)) < 0)
		return r;
	if (gnutls_x509_privkey_init(ca_key) < 0 || gnutls_x509_crt_init(ca) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_import2(*ca_key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
	    gnutls_x509_crt_import(*ca, &cd, GNUTLS_X509_FMT_PEM) < 0)
		return -EINVAL;
	return 0;
}

/* The CA of dir: read when both files exist, else made and written. */
static int ca_load_or_make(const char *dir, gnutls_x509_crt_t *ca, gnutls_x509_privkey_t *ca_key)
{
	static const struct cert_spec spec = { .cn = "skiff-ca", .is_ca = true };
	char kp[4200], cp[4200];
	int r;

	snprintf(kp, sizeof(kp), "%s/ca.key", dir);
	snprintf(cp, sizeof(cp), "%s/ca.crt", dir);
	if (exists(kp) && exists(cp))
		return ca_load(kp, cp, ca, ca_key);
	if ((r = key_new(ca_key)) < 0 || (r = cert_make(&spec, *ca_key, NULL, NULL, ca)) < 0 ||
	    (r = key_write(kp, *ca_key)) < 0)
		return r;
	return crt_write(cp, *ca);
}

/* ---- kubeconfig ---- */

/* The file at path as one line of base64 (as kubeconfig's *-data fields
 * hold it). */
static char *b64_file(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	gnutls_datum_t d;

	if (read_datum(path, &buf, &d) < 0)
		return NULL;
	return b64_encode(d.data, d.size, B64_STD);
}

/* path: a kubeconfig for url with the client pair tls/<base>.crt/.key (or
 * token, when given) and the CA. */
static int write_kubeconfig(const char *path, const char *tls, const char *base, const char *url,
			    const char *token)
{
	char tmp[4300], p[4200];
	_cleanup_free_ char *ca = NULL, *crt = NULL, *key = NULL;
	_cleanup_close_ int fd = -1;
	FILE *f;

	snprintf(p, sizeof(p), "%s/ca.crt", tls);
	ca = b64_file(p);
	snprintf(p, sizeof(p), "%s/%s.crt", tls, base);
	crt = b64_file(p);
	snprintf(p, sizeof(p), "%s/%s.key", tls, base);
	key = b64_file(p);
	if (!ca || !crt || !key)
		return -EIO;
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
		"    user: skiff-%s\n"
		"  name: skiff\n"
		"current-context: skiff\n"
		"preferences: {}\n"
		"users:\n"
		"- name: skiff-%s\n"
		"  user:\n",
		ca, url, base, base);
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

/* tls/kube-apiserver-kubelet-client.crt/.key: the identity the server
 * shows the kubelets (logs, exec, attach, port-forward), as
 * kube-apiserver's --kubelet-client-certificate; kubelets accept only this
 * CN. */
static int kubelet_client_pair(const char *tls, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key)
{
	static const struct cert_spec spec = { .cn = API_KUBELET_CLIENT_CN,
					       .org = "system:masters",
					       .purpose = GNUTLS_KP_TLS_WWW_CLIENT };

	return pair(tls, API_KUBELET_CLIENT_CN, &spec, ca, ca_key);
}

int api_tls_ensure(const char *data_dir, const char *hosts_csv, const char *server_url,
		   const char *token)
{
	const struct cert_spec server = { .cn = "skiff-server",
					  .purpose = GNUTLS_KP_TLS_WWW_SERVER,
					  .server_names = true,
					  .hosts_csv = hosts_csv };
	static const struct cert_spec admin = { .cn = "system:admin",
						.org = "system:masters",
						.purpose = GNUTLS_KP_TLS_WWW_CLIENT };
	_cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL;
	char tls[4096], kc[4200];
	int r;

	snprintf(tls, sizeof(tls), "%s/tls", data_dir);
	if (mkdir(tls, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((r = ca_load_or_make(tls, &ca, &ca_key)) < 0 ||
	    (r = pair(tls, "server", &server, ca, ca_key)) < 0 ||
	    (r = pair(tls, "admin", &admin, ca, ca_key)) < 0 ||
	    (r = kubelet_client_pair(tls, ca, ca_key)) < 0)
		return r;
	if (!server_url)
		return 0;
	snprintf(kc, sizeof(kc), "%s/kubeconfig", data_dir);
	return write_kubeconfig(kc, tls, "admin", server_url, token);
}

int api_tls_component(const char *data_dir, const char *base, const char *cn,
		      const char *server_url, char *kubeconfig, size_t size)
{
	const struct cert_spec spec = { .cn = cn, .purpose = GNUTLS_KP_TLS_WWW_CLIENT };
	_cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL;
	char tls[4096];
	int r;

	snprintf(tls, sizeof(tls), "%s/tls", data_dir);
	if ((r = ca_load_or_make(tls, &ca, &ca_key)) < 0 || (r = pair(tls, base, &spec, ca, ca_key)) < 0)
		return r;
	if ((size_t)snprintf(kubeconfig, size, "%s/cred", data_dir) >= size)
		return -ENAMETOOLONG;
	if (mkdir(kubeconfig, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(kubeconfig, size, "%s/cred/%s.kubeconfig", data_dir, base) >= size)
		return -ENAMETOOLONG;
	return write_kubeconfig(kubeconfig, tls, base, server_url, NULL);
}

/* One PEM export (a certificate or a PKCS#8 key) appended to *buf. */
static int pem_append(char **buf, size_t *len, const gnutls_datum_t *d)
{
	char *b = realloc(*buf, *len + d->size + 1);

	if (!b)
		return -ENOMEM;
	memcpy(b + *len, d->data, d->size);
	*len += d->size;
	b[*len] = 0;
	*buf = b;
	return 0;
}

int api_tls_node_pair(const char *data_dir, bool serving, const char *node,
		      const char *hosts_csv, char **pem)
{
	char cn[300], tls[4096];
	const struct cert_spec spec = {
		.cn = cn,
		.org = serving ? NULL : "system:nodes",
		.purpose = serving ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT,
		.server_names = serving,
		.hosts_only = true,
		.hosts_csv = hosts_csv,
	};
	_cleanup_key_ gnutls_x509_privkey_t ca_key = NULL, key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
	_cleanup_datum_ gnutls_datum_t c = { 0 };
	_cleanup_datum_ gnutls_datum_t k = { 0 };
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	int r;

	snprintf(cn, sizeof(cn), serving ? "%s" : "system:node:%s", node);
	snprintf(tls, sizeof(tls), "%s/tls", data_dir);
	if ((r = ca_load_or_make(tls, &ca, &ca_key)) < 0 || (r = key_new(&key)) < 0 ||
	    (r = cert_make(&spec, key, ca, ca_key, &crt)) < 0)
		return r;
	if ((r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c)) < 0 ||
	    (r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
						   GNUTLS_PKCS_PLAIN, &k)) < 0)
		return gt_err(r);
	if ((r = pem_append(&out, &len, &c)) < 0 || (r = pem_append(&out, &len, &k)) < 0)
		return r;
	*pem = TAKE_PTR(out);
	return 0;
}
