/* Small helpers every program uses: ownership through cleanup attributes
 * (systemd alloc-util.h style), array sizes, string copies that cannot
 * overflow, error messages for the caller. */
#ifndef SKIFF_UTIL_H
#define SKIFF_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hands ownership out of a cleanup-owned local. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* Copies src into dst[size]; -ENAMETOOLONG when it does not fit. */
static inline int strscpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Reads a whole stream into a NUL-terminated buffer of at most max bytes;
 * -EFBIG when larger. */
int read_all(int fd, size_t max, char **out, size_t *len);
/* Writes all of buf, retrying on short writes and EINTR. */
int write_all(int fd, const void *buf, size_t len);
/* Removes path and everything below it, deepest first, best effort (goes
 * on past what it cannot remove); never crosses into another mount. */
void remove_tree(const char *path);
/* Writes value to a /proc/sys path, e.g. "net/ipv4/ip_forward". */
int sysctl_write(const char *key, const char *value);
int sysctl_read(const char *key, char *buf, size_t size);
/* Formats a message for the caller into err[size] (nothing when err is
 * NULL) and returns r, so a parser can fail in one line:
 * `return set_err(err, errlen, -EINVAL, "bad key \"%s\"", key);` */
int set_err(char *err, size_t size, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Monotonic clock in nanoseconds. */
unsigned long long now_ns(void);

#endif
