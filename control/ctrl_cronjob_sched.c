/* Cron schedules and time zones: see ctrl_cronjob_sched.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/ctrl_cronjob_sched.h"
#include "lib/util.h"

/* ---- parsing (robfig/cron v3 ParseStandard) ---- */

struct field_range {
	unsigned min, max;
	const char *const *names; /* names[i] is the value min + i, NULL: none */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field_range ranges[5] = {
	{ 0, 59, NULL }, { 0, 23, NULL }, { 1, 31, NULL }, { 1, 12, month_names }, { 0, 6, dow_names },
};

static int parse_value(const char *s, size_t n, const struct field_range *r, unsigned *out,
		       char *err, size_t len)
{
	char buf[32];
	char *end;
	unsigned long v;

	if (n == 0 || n >= sizeof(buf))
		return set_err(err, len, -EINVAL, "failed to parse int from %.*s", (int)n, s);
	memcpy(buf, s, n);
	buf[n] = 0;
	for (size_t i = 0; r->names && r->names[i]; i++)
		if (strcasecmp(buf, r->names[i]) == 0) {
			*out = r->min + (unsigned)i;
			return 0;
		}
	if (!isdigit((unsigned char)buf[0]))
		return set_err(err, len, -EINVAL, "failed to parse int from %s", buf);
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || *end || v > 1000)
		return set_err(err, len, -EINVAL, "failed to parse int from %s", buf);
	*out = (unsigned)v;
	return 0;
}

/* One comma-separated part of a field: robfig's getRange. */
static int parse_range(const char *s, size_t n, const struct field_range *r, uint64_t *bits,
		       char *err, size_t len)
{
	const char *slash = memchr(s, '/', n), *dash;
	size_t rn = slash ? (size_t)(slash - s) : n;
	unsigned start, end, step = 1;
	uint64_t extra = 0;
	int e;

	dash = memchr(s, '-', rn);
	if (rn == 1 && (s[0] == '*' || s[0] == '?')) {
		start = r->min;
		end = r->max;
		extra = CRON_STAR;
	} else {
		e = parse_value(s, dash ? (size_t)(dash - s) : rn, r, &start, err, len);
		if (e == 0 && dash && memchr(dash + 1, '-', rn - (size_t)(dash + 1 - s)))
			return set_err(err, len, -EINVAL, "too many hyphens: %.*s", (int)n, s);
		end = start;
		if (e == 0 && dash)
			e = parse_value(dash + 1, rn - (size_t)(dash + 1 - s), r, &end, err, len);
		if (e < 0)
			return e;
	}
	if (slash) {
		if (memchr(slash + 1, '/', n - rn - 1))
			return set_err(err, len, -EINVAL, "too many slashes: %.*s", (int)n, s);
		e = parse_value(slash + 1, n - rn - 1, &(struct field_range){ 0, 0, NULL }, &step,
				err, len);
		if (e < 0)
			return e;
		if (!dash && !extra)
			end = r->max; /* "N/step" is "N-max/step" */
		if (step > 1)
			extra = 0;
	}
	if (start < r->min)
		return set_err(err, len, -EINVAL, "beginning of range (%u) below minimum (%u): %.*s",
			       start, r->min, (int)n, s);
	if (end > r->max)
		return set_err(err, len, -EINVAL, "end of range (%u) above maximum (%u): %.*s", end,
			       r->max, (int)n, s);
	if (start > end)
		return set_err(err, len, -EINVAL,
			       "beginning of range (%u) beyond end of range (%u): %.*s", start, end,
			       (int)n, s);
	if (step == 0)
		return set_err(err, len, -EINVAL, "step of range should be a positive number: %.*s",
			       (int)n, s);
	for (unsigned v = start; v <= end; v += step)
		*bits |= 1ULL << v;
	*bits |= extra;
	return 0;
}

static int parse_field(const char *s, size_t n, const struct field_range *r, uint64_t *bits,
		       char *err, size_t len)
{
	*bits = 0;
	while (n > 0) {
		const char *comma = memchr(s, ',', n);
		size_t part = comma ? (size_t)(comma - s) : n;
		int e = parse_range(s, part, r, bits, err, len);

		if (e < 0)
			return e;
		s += part + (comma ? 1 : 0);
		n -= part + (comma ? 1 : 0);
		if (comma && n == 0)
			return set_err(err, len, -EINVAL, "failed to parse int from ");
	}
	return 0;
}

static int parse_descriptor(const char *spec, struct cron_schedule *out, char *err, size_t len)
{
	static const struct {
		const char *name, *fields;
	} descriptors[] = {
		{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
		{ "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(descriptors); i++)
		if (streq(spec, descriptors[i].name))
			return cron_parse(descriptors[i].fields, out, err, len);
	return set_err(err, len, -EINVAL, "unrecognized descriptor: %s", spec);
}

int cron_parse(const char *spec, struct cron_schedule *out, char *err, size_t len)
{
	uint64_t *fields[5] = { &out->minute, &out->hour, &out->dom, &out->month, &out->dow };
	const char *p = spec;
	size_t n = 0;

	while (spec && isspace((unsigned char)*p))
		p++;
	if (!spec || !*p)
		return set_err(err, len, -EINVAL, "empty spec string");
	if (strstr(p, "TZ"))
		return set_err(err, len, -EINVAL,
			       "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
	if (*p == '@')
		return parse_descriptor(p, out, err, len);
	while (*p) {
		size_t w = strcspn(p, " \t");
		int e;

		if (n == 5)
			return set_err(err, len, -EINVAL, "expected exactly 5 fields, found %zu: %s",
				       n + 1, spec);
		e = parse_field(p, w, &ranges[n], fields[n], err, len);
		if (e < 0)
			return e;
		n++;
		p += w;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (n != 5)
		return set_err(err, len, -EINVAL, "expected exactly 5 fields, found %zu: %s", n, spec);
	return 0;
}

/* ---- time zones (TZif, RFC 8536) ---- */

struct cron_zone {
	size_t n_trans;
	int64_t *trans;  /* transition times, ascending */
	int32_t *offset; /* offset in force from each transition */
	int32_t first;   /* offset before the first transition */
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The version 2 data block, after the version 1 block it skips. */
static int tzif_parse(const unsigned char *b, size_t n, struct cron_zone *z)
{
	const unsigned char *h = b, *p, *idx, *types;
	uint32_t c[6], typecnt;
	size_t v1;

	if (n < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		c[i] = be32(b + 20 + 4 * i);
	v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
	if (44 + v1 + 44 > n)
		return -EINVAL;
	h = b + 44 + v1;
	if (memcmp(h, "TZif", 4) != 0)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		c[i] = be32(h + 20 + 4 * i);
	typecnt = c[4];
	p = h + 44;
	if (typecnt == 0 || (size_t)(p - b) + (size_t)c[3] * 9 + (size_t)typecnt * 6 > n)
		return -EINVAL;
	idx = p + (size_t)c[3] * 8;
	types = idx + c[3];
	z->trans = calloc(c[3] + 1, sizeof(*z->trans));
	z->offset = calloc(c[3] + 1, sizeof(*z->offset));
	if (!z->trans || !z->offset)
		return -ENOMEM;
	for (uint32_t i = 0; i < c[3]; i++) {
		if (idx[i] >= typecnt)
			return -EINVAL;
		z->trans[i] = be64(p + 8 * i);
		z->offset[i] = (int32_t)be32(types + 6 * idx[i]);
	}
	z->n_trans = c[3];
	z->first = (int32_t)be32(types);
	return 0;
}

int cron_zone_load(const char *name, struct cron_zone **out)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct cron_zone *z;
	char path[512];
	size_t n;
	int r;

	if (name && (streq(name, "Local") || strstr(name, "..") || name[0] == '/' ||
		     name[0] == '\\'))
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	if (!name || !*name || streq(name, "UTC")) {
		*out = z;
		return 0;
	}
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	r = fd < 0 ? -ENOENT : read_all(fd, 1 << 20, &buf, &n);
	if (r == 0)
		r = tzif_parse((unsigned char *)buf, n, z);
	if (r < 0) {
		cron_zone_free(z);
		return r == -EISDIR ? -ENOENT : r;
	}
	*out = z;
	return 0;
}

void cron_zone_free(struct cron_zone *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->offset);
	free(z);
}

long cron_zone_offset(const struct cron_zone *z, time_t t)
{
	size_t lo = 0, hi;

	if (!z || z->n_trans == 0 || t < z->trans[0])
		return z ? z->first : 0;
	hi = z->n_trans;
	while (hi - lo > 1) { /* the last transition at or before t */
		size_t mid = (lo + hi) / 2;

		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->offset[lo];
}

/* ---- the next time (robfig's SpecSchedule.Next on wall-clock time) ---- */

static struct tm local_tm(const struct cron_zone *z, time_t t)
{
	time_t l = t + cron_zone_offset(z, t);
	struct tm tm;

	gmtime_r(&l, &tm);
	return tm;
}

/* Go's time.Date: the instant of a wall-clock time (normalised). */
static time_t from_local(const struct cron_zone *z, int year, int mon, int mday, int hour, int min)
{
	struct tm tm = { .tm_year = year, .tm_mon = mon, .tm_mday = mday, .tm_hour = hour,
			 .tm_min = min };
	time_t l = timegm(&tm);
	long off = cron_zone_offset(z, l);

	if (cron_zone_offset(z, l - off) != off)
		off = cron_zone_offset(z, l - off);
	return l - off;
}

static bool day_matches(const struct cron_schedule *s, const struct tm *tm)
{
	bool dom = s->dom & (1ULL << tm->tm_mday), dow = s->dow & (1ULL << tm->tm_wday);

	if ((s->dom & CRON_STAR) || (s->dow & CRON_STAR))
		return dom && dow;
	return dom || dow;
}

/* Walks months, then days, then hours and minutes, restarting from the
 * month whenever a field wraps; returns 0 past the year limit. */
static time_t next_walk(const struct cron_schedule *s, const struct cron_zone *z, time_t t,
			int year_limit)
{
	bool added = false;
	struct tm tm;

wrap:
	tm = local_tm(z, t);
	if (tm.tm_year + 1900 > year_limit)
		return 0;
	while (!(s->month & (1ULL << (tm.tm_mon + 1)))) {
		if (!added) {
			added = true;
			t = from_local(z, tm.tm_year, tm.tm_mon, 1, 0, 0);
			tm = local_tm(z, t);
		}
		t = from_local(z, tm.tm_year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
		tm = local_tm(z, t);
		if (tm.tm_mon == 0)
			goto wrap;
	}
	while (!day_matches(s, &tm)) {
		if (!added) {
			added = true;
			t = from_local(z, tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0);
			tm = local_tm(z, t);
		}
		t = from_local(z, tm.tm_year, tm.tm_mon, tm.tm_mday + 1, tm.tm_hour, tm.tm_min);
		tm = local_tm(z, t);
		/* robfig: back to midnight when DST moved the hour */
		if (tm.tm_hour != 0)
			t += tm.tm_hour > 12 ? (24 - tm.tm_hour) * 3600L : -tm.tm_hour * 3600L;
		tm = local_tm(z, t);
		if (tm.tm_mday == 1)
			goto wrap;
	}
	while (!(s->hour & (1ULL << tm.tm_hour))) {
		if (!added) {
			added = true;
			t = from_local(z, tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, 0);
		}
		t += 3600;
		tm = local_tm(z, t);
		if (tm.tm_hour == 0)
			goto wrap;
	}
	while (!(s->minute & (1ULL << tm.tm_min))) {
		if (!added) {
			added = true;
			t -= t % 60;
		}
		t += 60;
		tm = local_tm(z, t);
		if (tm.tm_min == 0)
			goto wrap;
	}
	if (tm.tm_sec != 0) { /* second 0 only: on to the next minute */
		t += 60 - tm.tm_sec;
		goto wrap;
	}
	return t;
}

time_t cron_next(const struct cron_schedule *s, const struct cron_zone *z, time_t t)
{
	t += 1;
	return next_walk(s, z, t, local_tm(z, t).tm_year + 1900 + 5);
}
