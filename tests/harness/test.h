/* The one assertion vocabulary of skiff's C tests.
 *
 *   TEST(ipam_allocates_round_robin) {
 *       CHECK_INT_EQ(ipam_add(...), 0);
 *       CHECK_STR_EQ(addr, "10.0.0.2/24");
 *   }
 *
 * Each TEST runs in its own forked child, so a crash fails one test, not
 * the binary. A failed CHECK prints file:line and the two values and ends
 * that test. SKIP("why") ends it as skipped. Output, one line per test:
 *   PASS <binary>/<test>   FAIL <binary>/<test>: file:line: ...   SKIP ...: why
 */
#ifndef SKIFF_TEST_H
#define SKIFF_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A scratch directory unique to this test, removed afterwards. */
const char *test_tmpdir(void);

#define TEST(name)                                                             \
	static void test_##name(void);                                         \
	__attribute__((constructor)) static void test_register_##name(void)    \
	{                                                                      \
		test_register(#name, test_##name);                             \
	}                                                                      \
	static void test_##name(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                     \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a != _b)                                                  \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", \
				  #a, #b, _a, _b);                             \
	} while (0)

#define CHECK_INT_NE(a, b)                                                     \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a == _b)                                                  \
			test_fail(__FILE__, __LINE__, "%s != %s: both %lld",   \
				  #a, #b, _a);                                 \
	} while (0)

/* expr returns >= 0 on success, negative errno on failure. */
#define CHECK_OK(expr)                                                         \
	do {                                                                   \
		long long _r = (long long)(expr);                              \
		if (_r < 0)                                                    \
			test_fail(__FILE__, __LINE__, "%s failed: %lld (%s)",  \
				  #expr, _r, strerror((int)-_r));              \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                     \
	do {                                                                   \
		const char *_a = (a), *_b = (b);                               \
		if (!_a || !_b || strcmp(_a, _b) != 0)                         \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
				  #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                        \
	do {                                                                   \
		const char *_h = (hay), *_n = (needle);                        \
		if (!_h || !strstr(_h, _n))                                    \
			test_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", \
				  #hay, _n, _h ? _h : "(null)");               \
	} while (0)

#define SKIP(...) test_skip(__VA_ARGS__)

#endif
