#include "tests/harness/test.h"
#include "lib/base64.h"
#include "lib/util.h"

#include <string.h>

/* s decoded in mode: the text, or NULL when refused with -EINVAL. */
static char *dec(const char *s, enum b64_mode mode, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	int r = b64_decode(s, strlen(s), mode, &out, &n);

	CHECK(r == 0 || r == -EINVAL);
	if (len)
		*len = n;
	return r == 0 ? out : NULL;
}

static void check_dec(const char *s, enum b64_mode mode, const char *want)
{
	_cleanup_free_ char *got = dec(s, mode, NULL);

	CHECK(got != NULL);
	if (got)
		CHECK_STR_EQ(got, want);
}

static void check_refused(const char *s, enum b64_mode mode)
{
	_cleanup_free_ char *got = dec(s, mode, NULL);

	CHECK(got == NULL);
}

/* RFC 4648 section 10, both ways. */
TEST(base64_rfc4648_vectors_round_trip)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };

	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		_cleanup_free_ char *s = b64_encode(plain[i], strlen(plain[i]), B64_STD);
		_cleanup_free_ char *u = b64_encode(plain[i], strlen(plain[i]), B64_URL);

		CHECK_STR_EQ(s, std[i]);
		CHECK_STR_EQ(u, url[i]);
		check_dec(std[i], B64_STD, plain[i]);
		check_dec(url[i], B64_URL, plain[i]);
		check_dec(std[i], B64_ANY, plain[i]);
		check_dec(url[i], B64_ANY, plain[i]);
	}
}

TEST(base64_binary_bytes_and_alphabets)
{
	const unsigned char bin[] = { 0xfb, 0xff, 0x00, 0xfe };
	_cleanup_free_ char *s = b64_encode(bin, sizeof(bin), B64_STD);
	_cleanup_free_ char *u = b64_encode(bin, sizeof(bin), B64_URL);
	_cleanup_free_ char *back = NULL;
	size_t len = 0;

	CHECK_STR_EQ(s, "+/8A/g==");
	CHECK_STR_EQ(u, "-_8A_g");
	back = dec(s, B64_STD, &len);
	CHECK(back && len == sizeof(bin) && memcmp(back, bin, len) == 0);
	/* Each strict mode refuses the other's alphabet; B64_ANY takes both. */
	check_refused("-_8A_g==", B64_STD);
	check_refused("+/8A/g", B64_URL);
	free(back);
	back = dec("-_8A/g==", B64_ANY, &len);
	CHECK(back && len == sizeof(bin) && memcmp(back, bin, len) == 0);
}

TEST(base64_std_requires_padding_and_refuses_junk)
{
	check_refused("Zg", B64_STD);	  /* padding missing */
	check_refused("Zg=", B64_STD);	  /* padding short */
	check_refused("Zg===", B64_STD);  /* padding long */
	check_refused("Zg==Zg==", B64_STD); /* data after padding */
	check_refused("Z===", B64_STD);	  /* one character never decodes */
	check_refused("Zm9v!", B64_STD);
	check_refused("Zm 9v", B64_STD);  /* only CR and LF are skipped */
	check_dec("Zm9v\r\nYmFy", B64_STD, "foobar");
}

TEST(base64_url_is_strict)
{
	check_refused("Zg==", B64_URL); /* no padding in base64url */
	check_refused("Zh", B64_URL);	/* unused bits set: a second spelling of "f" */
	check_refused("Z", B64_URL);
	check_refused("Zm9v\n", B64_URL);
}

TEST(base64_any_is_lenient_but_not_blind)
{
	check_dec(" Zm9v\n YmE \t", B64_ANY, "fooba");
	check_dec("Zm9vYmE=", B64_ANY, "fooba");
	check_refused("Zm9vYmE==", B64_ANY); /* wrong padding is still wrong */
	check_refused("Zm=9v", B64_ANY);
	check_refused("Zm9v*", B64_ANY);
}
