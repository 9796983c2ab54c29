/* Service-account token signing and verification: see api_jwt.h. */
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/api_jwt.h"
#include "lib/base64.h"
#include "lib/util.h"

#define KEY_BITS 2048
#define PEM_MAX (1 << 20)

struct api_jwt_key {
	gnutls_privkey_t priv;
	gnutls_pubkey_t pub;
	char kid[64];
};

/* ---- the key ---- */

static int gt_err(int r)
{
	return r >= 0 ? 0 : r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;
}

/* A new RSA key written to path as PKCS#8 PEM, only if none is there. */
static int key_create(const char *path)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t pem = { 0 };
	_cleanup_close_ int fd = -1;
	int r;

	if (gnutls_x509_privkey_init(&key) < 0)
		return -ENOMEM;
	r = gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, KEY_BITS, 0);
	if (r >= 0)
		r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
						      GNUTLS_PKCS_PLAIN, &pem);
	gnutls_x509_privkey_deinit(key);
	if (r < 0)
		return gt_err(r);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	r = fd < 0 ? (errno == EEXIST ? 0 : -errno) : write_all(fd, pem.data, pem.size);
	gnutls_free(pem.data);
	if (r == 0 && fd >= 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	return r;
}

static int key_id(struct api_jwt_key *k)
{
	gnutls_datum_t der = { 0 };
	unsigned char sum[32];
	char *enc;
	int r = gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_DER, &der);

	if (r < 0)
		return gt_err(r);
	r = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, sum);
	gnutls_free(der.data);
	if (r < 0)
		return gt_err(r);
	enc = b64_encode(sum, sizeof(sum), B64_URL);
	if (!enc)
		return -ENOMEM;
	snprintf(k->kid, sizeof(k->kid), "%s", enc);
	free(enc);
	return 0;
}

int api_jwt_key_load(const char *path, bool create, struct api_jwt_key **out)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct api_jwt_key *k;
	gnutls_datum_t d;
	size_t len;
	int r;

	if (create && access(path, F_OK) < 0 && (r = key_create(path)) < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_all(fd, PEM_MAX, &buf, &len);
	if (r < 0)
		return r;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	d = (gnutls_datum_t){ .data = (unsigned char *)buf, .size = (unsigned)len };
	if (gnutls_privkey_init(&k->priv) < 0 || gnutls_pubkey_init(&k->pub) < 0) {
		api_jwt_key_free(k);
		return -ENOMEM;
	}
	if (gnutls_privkey_import_x509_raw(k->priv, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
	    gnutls_privkey_get_pk_algorithm(k->priv, NULL) != GNUTLS_PK_RSA ||
	    gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0) < 0) {
		api_jwt_key_free(k);
		return -EINVAL;
	}
	r = key_id(k);
	if (r < 0) {
		api_jwt_key_free(k);
		return r;
	}
	*out = k;
	return 0;
}

void api_jwt_key_free(struct api_jwt_key *k)
{
	if (!k)
		return;
	if (k->priv)
		gnutls_privkey_deinit(k->priv);
	if (k->pub)
		gnutls_pubkey_deinit(k->pub);
	free(k);
}

const char *api_jwt_key_id(const struct api_jwt_key *k)
{
	return k->kid;
}

/* ---- tokens ---- */

static char *b64url_json(json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);

	return s ? b64_encode(s, strlen(s), B64_URL) : NULL;
}

int api_jwt_sign(const struct api_jwt_key *k, json_t *claims, char **out)
{
	json_t *hdr = json_pack("{s:s,s:s}", "alg", "RS256", "kid", k->kid);
	_cleanup_free_ char *h = b64url_json(hdr), *c = b64url_json(claims), *sig = NULL;
	gnutls_datum_t data, s = { 0 };
	char *input = NULL, *tok;
	int r;

	json_decref(hdr);
	if (!h || !c || asprintf(&input, "%s.%s", h, c) < 0)
		return -ENOMEM;
	data = (gnutls_datum_t){ .data = (unsigned char *)input, .size = (unsigned)strlen(input) };
	r = gnutls_privkey_sign_data(k->priv, GNUTLS_DIG_SHA256, 0, &data, &s);
	if (r < 0) {
		free(input);
		return gt_err(r);
	}
	sig = b64_encode(s.data, s.size, B64_URL);
	gnutls_free(s.data);
	if (!sig || asprintf(&tok, "%s.%s", input, sig) < 0) {
		free(input);
		return -ENOMEM;
	}
	free(input);
	*out = tok;
	return 0;
}

/* The JSON object in the base64url segment s[0..n). */
static json_t *segment_json(const char *s, size_t n)
{
	char *raw = NULL;
	size_t len = 0;
	json_t *j;

	if (b64_decode(s, n, B64_URL, &raw, &len) < 0)
		return NULL;
	j = json_loadb(raw, len, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int api_jwt_verify(const struct api_jwt_key *k, const char *token, json_t **claims)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	char *sig = NULL;
	size_t sig_len = 0;
	gnutls_datum_t data, s;
	json_t *hdr, *body;
	int r;

	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return -EBADMSG;
	hdr = segment_json(token, (size_t)(d1 - token));
	r = hdr && streq(json_string_value(json_object_get(hdr, "alg")), "RS256") ? 0 : -EBADMSG;
	json_decref(hdr);
	if (r == 0)
		r = b64_decode(d2 + 1, strlen(d2 + 1), B64_URL, &sig, &sig_len);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	data = (gnutls_datum_t){ .data = (unsigned char *)token, .size = (unsigned)(d2 - token) };
	s = (gnutls_datum_t){ .data = (unsigned char *)sig, .size = (unsigned)sig_len };
	r = gnutls_pubkey_verify_data2(k->pub, GNUTLS_SIGN_RSA_SHA256, 0, &data, &s);
	free(sig);
	if (r < 0)
		return -EKEYREJECTED;
	body = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!body)
		return -EBADMSG;
	*claims = body;
	return 0;
}

static bool audience_has(json_t *aud, const char *want)
{
	json_t *a;
	size_t i;

	if (json_is_string(aud))
		return streq(json_string_value(aud), want);
	json_array_foreach(aud, i, a)
		if (streq(json_string_value(a), want))
			return true;
	return false;
}

int api_jwt_check(json_t *claims, const char *iss, const char *aud, time_t now, long leeway)
{
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");

	if (!json_is_integer(exp) || (nbf && !json_is_integer(nbf)) ||
	    !json_is_string(json_object_get(claims, "iss")))
		return -EBADMSG;
	if (!streq(json_string_value(json_object_get(claims, "iss")), iss) ||
	    !audience_has(json_object_get(claims, "aud"), aud))
		return -EACCES;
	if ((json_int_t)now > json_integer_value(exp) + leeway ||
	    (nbf && (json_int_t)now < json_integer_value(nbf) - leeway))
		return -EKEYEXPIRED;
	return 0;
}
