/* Table-driven command-line options (redis config.c style): one row per
 * flag with its argument, help text, default and the handler that stores
 * it, so --help is written from the same table the parser reads and a
 * default is applied by the same handler as the flag.
 *
 *   static const struct opt opts[] = {
 *       { "secure-port", 0, "PORT", "HTTPS port; 0 disables HTTPS", "6443",
 *         opt_int, offsetof(struct cfg, port), 0, 65535 },
 *       { "help", 'h', NULL, "this text", NULL, opt_flag, offsetof(struct cfg, help) },
 *   };
 *   r = opts_parse(opts, ARRAY_SIZE(opts), argc, argv, &cfg, 0, err, sizeof(err));
 */
#ifndef SKIFF_OPTS_H
#define SKIFF_OPTS_H

#include <stddef.h>
#include <stdio.h>

struct opt;

/* Stores arg (NULL for a flag without argument) at dst; a negative errno
 * with err saying what is wrong with arg (without the flag's name). */
typedef int (*opt_set_fn)(const struct opt *o, const char *arg, void *dst, char *err,
			  size_t errlen);

struct opt {
	const char *name;  /* long name, without "--" */
	char short_name;   /* 0: none */
	const char *arg;   /* the argument's name in --help; NULL: the flag takes none */
	const char *help;  /* one sentence; a default that is not a value says so here */
	const char *def;   /* applied through set before argv and shown in --help; NULL: none */
	opt_set_fn set;
	size_t offset;     /* dst = (char *)ctx + offset */
	long min, max;     /* bounds of a number; opt_string: max > 0 allows 1 to max characters */
	const struct opt_choice *choices; /* opt_choice: the names, ending with { NULL } */
};

/* One name opt_choice accepts and the int it stores. */
struct opt_choice {
	const char *name;
	int value;
};

/* Handlers: a string (const char *), an int, a size_t, a uint16_t or a
 * uint32_t within [min, max], one of choices (an int or an enum), a bool
 * set to true (a flag), a log level (enum log_level, also made the current
 * level). */
int opt_string(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_int(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_size(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_u16(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_u32(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_choice(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_flag(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);
int opt_log_level(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen);

/* Stop at the first operand (a command and its own arguments follow). */
#define OPTS_STOP_AT_OPERAND 1

/* Applies every row's default, then the options of argv. Returns the
 * index of the first operand, or a negative errno with err naming the
 * flag ("--secure-port: \"x\" is not a number from 0 to 65535", "unknown
 * option --x"). */
int opts_parse(const struct opt *t, size_t n, int argc, char **argv, void *ctx, int flags,
	       char *err, size_t errlen);

/* The options part of --help: one line per row, with the range of a
 * bounded number and its default. */
void opts_usage(FILE *f, const struct opt *t, size_t n);

#endif
