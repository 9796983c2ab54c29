#include "lib/opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

#define OPTS_MAX 64

static int parse_long(const struct opt *o, const char *arg, long *out, char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < o->min || v > o->max)
		return o->max == LONG_MAX
			       ? set_err(err, errlen, -EINVAL, "\"%s\" is not a number of at least %ld",
					 arg, o->min)
			       : set_err(err, errlen, -EINVAL, "\"%s\" is not a number from %ld to %ld",
					 arg, o->min, o->max);
	*out = v;
	return 0;
}

int opt_string(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	if (o->max > 0 && (!*arg || strlen(arg) > (size_t)o->max))
		return set_err(err, errlen, -EINVAL, "\"%s\": 1 to %ld characters", arg, o->max);
	*(const char **)dst = arg;
	return 0;
}

int opt_int(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	long v;
	int r = parse_long(o, arg, &v, err, errlen);

	if (r == 0)
		*(int *)dst = (int)v;
	return r;
}

int opt_size(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	long v;
	int r = parse_long(o, arg, &v, err, errlen);

	if (r == 0)
		*(size_t *)dst = (size_t)v;
	return r;
}

int opt_u16(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	long v;
	int r = parse_long(o, arg, &v, err, errlen);

	if (r == 0)
		*(uint16_t *)dst = (uint16_t)v;
	return r;
}

int opt_u32(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	long v;
	int r = parse_long(o, arg, &v, err, errlen);

	if (r == 0)
		*(uint32_t *)dst = (uint32_t)v;
	return r;
}

int opt_choice(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	char names[256] = "";
	size_t n = 0, len;

	for (const struct opt_choice *c = o->choices; c->name; c++, n++)
		if (streq(c->name, arg)) {
			*(int *)dst = c->value;
			return 0;
		}
	for (size_t i = 0; i < n; i++) {
		len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s",
			 i == 0 ? "" : i + 1 == n ? " or " : ", ", o->choices[i].name);
	}
	return set_err(err, errlen, -EINVAL, "\"%s\" is not %s", arg, names);
}

int opt_flag(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	(void)o;
	(void)arg;
	(void)err;
	(void)errlen;
	*(bool *)dst = true;
	return 0;
}

int opt_log_level(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	enum log_level level;

	(void)o;
	if (log_level_parse(arg, &level) < 0)
		return set_err(err, errlen, -EINVAL,
			       "\"%s\" is not one of error, warn, info, debug", arg);
	*(enum log_level *)dst = level;
	log_set_level(level);
	return 0;
}

/* Runs row o's handler, prefixing its message with the flag's name. */
static int opt_apply(const struct opt *o, const char *arg, void *ctx, char *err, size_t errlen)
{
	char why[256] = "";
	int r = o->set(o, arg, (char *)ctx + o->offset, why, sizeof(why));

	if (r < 0)
		return set_err(err, errlen, r, "--%s: %s", o->name, why[0] ? why : strerror(-r));
	return 0;
}

/* getopt_long's tables from ours: the long options (val = row index +
 * 256) and the short ones ("+:" then "x" or "x:"). */
static int getopt_tables(const struct opt *t, size_t n, int flags, struct option *longs,
			 char *shorts, size_t shorts_size)
{
	size_t k = 0;

	if (n >= OPTS_MAX)
		return -E2BIG;
	if (flags & OPTS_STOP_AT_OPERAND)
		shorts[k++] = '+';
	shorts[k++] = ':';
	for (size_t i = 0; i < n; i++) {
		longs[i] = (struct option){ t[i].name, t[i].arg ? required_argument : no_argument,
					    NULL, (int)(256 + i) };
		if (!t[i].short_name)
			continue;
		if (k + 3 > shorts_size)
			return -E2BIG;
		shorts[k++] = t[i].short_name;
		if (t[i].arg)
			shorts[k++] = ':';
	}
	longs[n] = (struct option){ 0 };
	shorts[k] = '\0';
	return 0;
}

/* The row getopt_long's answer c stands for, or NULL. */
static const struct opt *row_of(const struct opt *t, size_t n, int c)
{
	if (c >= 256 && (size_t)(c - 256) < n)
		return &t[c - 256];
	for (size_t i = 0; i < n; i++)
		if (t[i].short_name && t[i].short_name == c)
			return &t[i];
	return NULL;
}

int opts_parse(const struct opt *t, size_t n, int argc, char **argv, void *ctx, int flags,
	       char *err, size_t errlen)
{
	struct option longs[OPTS_MAX + 1];
	char shorts[2 * OPTS_MAX + 3];
	const struct opt *o;
	int c, r;

	r = getopt_tables(t, n, flags, longs, shorts, sizeof(shorts));
	if (r < 0)
		return set_err(err, errlen, r, "too many options");
	for (size_t i = 0; i < n; i++)
		if (t[i].def && (r = opt_apply(&t[i], t[i].def, ctx, err, errlen)) < 0)
			return r;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == ':')
			return set_err(err, errlen, -EINVAL, "%s needs an argument", argv[optind - 1]);
		o = row_of(t, n, c);
		if (!o)
			return set_err(err, errlen, -EINVAL, "unknown option %s", argv[optind - 1]);
		r = opt_apply(o, o->arg ? optarg : NULL, ctx, err, errlen);
		if (r < 0)
			return r;
	}
	return optind;
}

#define USAGE_HELP_COL 34
#define USAGE_WIDTH 100

/* text from column USAGE_HELP_COL, wrapped at USAGE_WIDTH and at its
 * own line breaks. */
static void usage_text(FILE *f, const char *text)
{
	int col = USAGE_HELP_COL;

	while (*text) {
		size_t word = strcspn(text, " \n");

		if (col > USAGE_HELP_COL && col + 1 + (int)word > USAGE_WIDTH) {
			fprintf(f, "\n%*s", USAGE_HELP_COL, "");
			col = USAGE_HELP_COL;
		} else if (col > USAGE_HELP_COL) {
			fputc(' ', f);
			col++;
		}
		fwrite(text, 1, word, f);
		col += (int)word;
		text += word;
		if (*text == '\n')
			col = USAGE_WIDTH; /* the next word starts a line */
		if (*text)
			text++;
	}
	fputc('\n', f);
}

static bool is_number(const struct opt *o)
{
	return o->set == opt_int || o->set == opt_size || o->set == opt_u16 || o->set == opt_u32;
}

/* o's help, then "(MIN-MAX, default DEF)" as far as o has them (a number
 * bounded below INT_MAX shows its range). */
static void usage_row_text(const struct opt *o, char *text, size_t size)
{
	bool range = is_number(o) && o->max < INT_MAX;
	size_t len;

	len = (size_t)snprintf(text, size, "%s", o->help);
	if (len < size && range)
		len += (size_t)snprintf(text + len, size - len, " (%ld-%ld%s", o->min, o->max,
					o->def ? ", " : ")");
	if (len < size && o->def)
		snprintf(text + len, size - len, "%sdefault %s)", range ? "" : " (", o->def);
}

void opts_usage(FILE *f, const struct opt *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char left[96], text[1024], shrt[8] = "    ";
		int w;

		if (t[i].short_name)
			snprintf(shrt, sizeof(shrt), "-%c, ", t[i].short_name);
		w = snprintf(left, sizeof(left), "  %s--%s%s%s", shrt, t[i].name,
			     t[i].arg ? " " : "", t[i].arg ? t[i].arg : "");
		/* A long flag gets its help on the next line. */
		if (w < USAGE_HELP_COL)
			fprintf(f, "%-*s", USAGE_HELP_COL, left);
		else
			fprintf(f, "%s\n%*s", left, USAGE_HELP_COL, "");
		usage_row_text(&t[i], text, sizeof(text));
		usage_text(f, text);
	}
}
