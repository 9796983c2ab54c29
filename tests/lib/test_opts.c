/* lib/opts.c: the option table drives parsing, defaults and --help. */
#include "tests/harness/test.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg {
	const char *name;
	int port;
	size_t bytes;
	bool verbose;
	enum log_level level;
	uint16_t u16;
	uint32_t u32;
	int color;
	const char *table;
};

static const struct opt_choice colors[] = { { "red", 1 }, { "green", 2 }, { "blue", 3 }, { NULL, 0 } };

#define AT(f) offsetof(struct cfg, f)

static const struct opt table[] = {
	{ .name = "name", .short_name = 'n', .arg = "NAME", .help = "a name", .def = "anon",
	  .set = opt_string, .offset = AT(name) },
	{ .name = "port", .arg = "PORT", .help = "a port", .def = "6443", .set = opt_int,
	  .offset = AT(port), .min = 1, .max = 65535 },
	{ .name = "bytes", .arg = "N", .help = "a size", .set = opt_size, .offset = AT(bytes),
	  .min = 1024, .max = 1 << 20 },
	{ .name = "verbose", .short_name = 'v', .help = "say more", .set = opt_flag,
	  .offset = AT(verbose) },
	{ .name = "log-level", .arg = "LEVEL", .help = "a level", .def = "warn",
	  .set = opt_log_level, .offset = AT(level) },
	{ .name = "u16", .arg = "N", .help = "a short", .set = opt_u16, .offset = AT(u16), .min = 1,
	  .max = 65535 },
	{ .name = "u32", .arg = "N", .help = "a word", .set = opt_u32, .offset = AT(u32), .min = 1,
	  .max = 0xffffff },
	{ .name = "color", .arg = "C", .help = "a color", .def = "green", .set = opt_choice,
	  .offset = AT(color), .choices = colors },
	{ .name = "table", .arg = "NAME", .help = "a table", .set = opt_string, .offset = AT(table),
	  .max = 4 },
};

static int parse(struct cfg *c, int flags, char *err, size_t errlen, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	*c = (struct cfg){ 0 };
	return opts_parse(table, ARRAY_SIZE(table), argc, argv, c, flags, err, errlen);
}

TEST(defaults_then_flags)
{
	char *argv[] = { "prog", "--port", "8080", "-v", "operand", NULL };
	char err[128] = "";
	struct cfg c;

	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), argv), 4);
	CHECK_STR_EQ(c.name, "anon");
	CHECK_INT_EQ(c.port, 8080);
	CHECK_INT_EQ((int)c.bytes, 0);
	CHECK(c.verbose);
	CHECK_INT_EQ(c.level, LOG_LEVEL_WARN);
	CHECK_STR_EQ(err, "");
}

TEST(short_options_and_stop_at_operand)
{
	char *argv[] = { "prog", "-n", "x", "get", "--port", "1", NULL };
	char err[128];
	struct cfg c;

	CHECK_INT_EQ(parse(&c, OPTS_STOP_AT_OPERAND, err, sizeof(err), argv), 3);
	CHECK_STR_EQ(c.name, "x");
	CHECK_INT_EQ(c.port, 6443);
}

TEST(errors_name_the_flag)
{
	char *bad_port[] = { "prog", "--port", "70000", NULL };
	char *bad_size[] = { "prog", "--bytes", "12k", NULL };
	char *unknown[] = { "prog", "--nope", NULL };
	char *missing[] = { "prog", "--name", NULL };
	char *level[] = { "prog", "--log-level", "loud", NULL };
	char err[128];
	struct cfg c;

	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), bad_port), -EINVAL);
	CHECK_STR_EQ(err, "--port: \"70000\" is not a number from 1 to 65535");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), bad_size), -EINVAL);
	CHECK_STR_EQ(err, "--bytes: \"12k\" is not a number from 1024 to 1048576");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), unknown), -EINVAL);
	CHECK_STR_EQ(err, "unknown option --nope");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), missing), -EINVAL);
	CHECK_STR_EQ(err, "--name needs an argument");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), level), -EINVAL);
	CHECK_STR_EQ(err, "--log-level: \"loud\" is not one of error, warn, info, debug");
}

TEST(usage_lists_every_flag_with_its_default)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	opts_usage(f, table, ARRAY_SIZE(table));
	fclose(f);
	CHECK_STR_CONTAINS(buf, "  -n, --name NAME");
	CHECK_STR_CONTAINS(buf, "a name (default anon)\n");
	CHECK_STR_CONTAINS(buf, "      --port PORT");
	CHECK_STR_CONTAINS(buf, "a port (1-65535, default 6443)\n");
	CHECK_STR_CONTAINS(buf, "a word (1-16777215)\n");
	CHECK_STR_CONTAINS(buf, "a color (default green)\n");
	CHECK_STR_CONTAINS(buf, "  -v, --verbose");
	CHECK_STR_CONTAINS(buf, "a level (default warn)\n");
	free(buf);
}

TEST(sized_numbers_choices_and_bounded_strings)
{
	char *good[] = { "prog", "--u16", "8472", "--u32", "16777215", "--color", "blue",
			 "--table", "abcd", NULL };
	char *bad_u32[] = { "prog", "--u32", "0", NULL };
	char *bad_color[] = { "prog", "--color", "pink", NULL };
	char *long_table[] = { "prog", "--table", "abcde", NULL };
	char *empty_table[] = { "prog", "--table", "", NULL };
	char err[128];
	struct cfg c;

	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), good), 9);
	CHECK_INT_EQ(c.u16, 8472);
	CHECK_INT_EQ((long)c.u32, 16777215);
	CHECK_INT_EQ(c.color, 3);
	CHECK_STR_EQ(c.table, "abcd");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), bad_u32), -EINVAL);
	CHECK_STR_EQ(err, "--u32: \"0\" is not a number from 1 to 16777215");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), bad_color), -EINVAL);
	CHECK_STR_EQ(err, "--color: \"pink\" is not red, green or blue");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), long_table), -EINVAL);
	CHECK_STR_EQ(err, "--table: \"abcde\": 1 to 4 characters");
	CHECK_INT_EQ(parse(&c, 0, err, sizeof(err), empty_table), -EINVAL);
	CHECK_STR_EQ(err, "--table: \"\": 1 to 4 characters");
}
