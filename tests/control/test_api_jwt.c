/* Service-account token signing (control/api_jwt.c): a key made once and
 * kept, tokens that verify under it and under no other, tampering and
 * malformed tokens refused, and the registered claims' checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/api_jwt.h"
#include "lib/util.h"
#include "tests/harness/test.h"

static struct api_jwt_key *key_at(const char *name)
{
	char path[600];
	struct api_jwt_key *k = NULL;

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	CHECK_OK(api_jwt_key_load(path, true, &k));
	return k;
}

static json_t *claims(long long exp)
{
	return json_pack("{s:s,s:[s],s:I,s:I,s:s}", "iss", "https://issuer", "aud", "https://aud",
			 "exp", (json_int_t)exp, "nbf", (json_int_t)1000, "sub",
			 "system:serviceaccount:ns:sa");
}

TEST(key_is_made_once_and_kept)
{
	char path[600];
	struct api_jwt_key *a = key_at("sa.key"), *b = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/sa.key", test_tmpdir());
	CHECK_OK(stat(path, &st));
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	CHECK_OK(api_jwt_key_load(path, true, &b));
	CHECK_STR_EQ(api_jwt_key_id(a), api_jwt_key_id(b));
	CHECK_INT_EQ(strlen(api_jwt_key_id(a)), 43); /* base64url of 32 bytes */
	api_jwt_key_free(a);
	api_jwt_key_free(b);
	snprintf(path, sizeof(path), "%s/none.key", test_tmpdir());
	CHECK_INT_EQ(api_jwt_key_load(path, false, &b), -ENOENT);
}

TEST(signed_token_verifies_and_carries_its_claims)
{
	struct api_jwt_key *k = key_at("sa.key");
	json_t *c = claims(5000), *got = NULL;
	char *tok = NULL, *dot;
	unsigned dots = 0;

	CHECK_OK(api_jwt_sign(k, c, &tok));
	for (const char *p = tok; *p; p++) {
		dots += *p == '.';
		CHECK(*p != '=' && *p != '+' && *p != '/');
	}
	CHECK_INT_EQ(dots, 2);
	CHECK_OK(api_jwt_verify(k, tok, &got));
	CHECK(json_equal(got, c));
	/* The header names the algorithm, then the key: {"alg":"RS256","kid": */
	CHECK(strncmp(tok, "eyJhbGciOiJSUzI1NiIsImtpZCI6", 28) == 0);
	dot = strchr(tok, '.');
	CHECK(dot != NULL);
	json_decref(got);
	json_decref(c);
	free(tok);
	api_jwt_key_free(k);
}

TEST(another_key_or_a_changed_byte_is_rejected)
{
	struct api_jwt_key *k = key_at("a.key"), *other = key_at("b.key");
	json_t *c = claims(5000), *got = NULL;
	char *tok = NULL;
	char *payload;

	CHECK_OK(api_jwt_sign(k, c, &tok));
	CHECK_INT_EQ(api_jwt_verify(other, tok, &got), -EKEYREJECTED);
	/* One character of the claims changed: the signature no longer holds. */
	payload = strchr(tok, '.') + 1;
	payload[3] = payload[3] == 'A' ? 'B' : 'A';
	CHECK_INT_EQ(api_jwt_verify(k, tok, &got), -EKEYREJECTED);
	json_decref(c);
	free(tok);
	api_jwt_key_free(k);
	api_jwt_key_free(other);
}

TEST(malformed_tokens_are_bad_messages)
{
	struct api_jwt_key *k = key_at("sa.key");
	json_t *got = NULL;
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "!!!.e30.AAAA",
		"eyJhbGciOiJub25lIn0.e30.", /* {"alg":"none"} */
		"eyJhbGciOiJIUzI1NiJ9.e30.AAAA", /* {"alg":"HS256"} */
		"eyJhbGciOiJSUzI1NiJ9.e30.AB", /* RS256, a signature with stray low bits */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_INT_EQ(api_jwt_verify(k, bad[i], &got), -EBADMSG);
	api_jwt_key_free(k);
}

TEST(registered_claims_are_checked)
{
	json_t *c = claims(5000);

	CHECK_OK(api_jwt_check(c, "https://issuer", "https://aud", 2000, 0));
	CHECK_INT_EQ(api_jwt_check(c, "https://issuer", "https://aud", 5001, 0), -EKEYEXPIRED);
	CHECK_OK(api_jwt_check(c, "https://issuer", "https://aud", 5050, 60));
	CHECK_INT_EQ(api_jwt_check(c, "https://issuer", "https://aud", 999, 0), -EKEYEXPIRED);
	CHECK_INT_EQ(api_jwt_check(c, "https://other", "https://aud", 2000, 0), -EACCES);
	CHECK_INT_EQ(api_jwt_check(c, "https://issuer", "https://other", 2000, 0), -EACCES);
	json_object_del(c, "exp");
	CHECK_INT_EQ(api_jwt_check(c, "https://issuer", "https://aud", 2000, 0), -EBADMSG);
	json_decref(c);
}
