/* store-tool: drives a skiff store from the shell, for tests and
 * benchmarks. Usage: store-tool --help */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/util.h"

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return (x > y) - (x < y);
}

static void print_lat(const char *what, unsigned long long *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_ull);
	printf("%s p50_us=%llu p99_us=%llu\n", what, ns[n / 2] / 1000,
	       ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000);
}

static int bench(struct store *s, size_t n, size_t vlen)
{
	_cleanup_free_ unsigned long long *lat = calloc(n, sizeof(*lat));
	_cleanup_free_ char *value = malloc(vlen + 1);
	_cleanup_free_ int64_t *revs = calloc(n, sizeof(*revs));
	char key[64];
	int r;

	if (!lat || !value || !revs || !n)
		return -ENOMEM;
	memset(value, 'x', vlen);
	value[vlen] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/bench/%zu", i);
		r = store_create(s, key, value, vlen, &revs[i]);
		if (r < 0)
			return r;
		lat[i] = now_ns() - t;
	}
	print_lat("create", lat, n);
	for (size_t i = 0; i < n; i++) {
		struct store_kv kv = { 0 };
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/bench/%zu", i);
		r = store_get(s, key, &kv);
		if (r < 0)
			return r;
		lat[i] = now_ns() - t;
		store_kv_clear(&kv);
	}
	print_lat("get", lat, n);
	for (size_t i = 0; i < n; i++) {
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/bench/%zu", i);
		r = store_update(s, key, value, vlen, revs[i], NULL);
		if (r < 0)
			return r;
		lat[i] = now_ns() - t;
	}
	print_lat("update", lat, n);
	{
		struct store_kv *items = NULL;
		size_t cnt = 0;
		unsigned long long t = now_ns();

		r = store_list(s, "/bench/", NULL, 0, &items, &cnt, NULL, NULL);
		if (r < 0)
			return r;
		printf("list n=%zu ms=%llu\n", cnt, (now_ns() - t) / 1000000);
		store_kvs_free(items, cnt);
	}
	return 0;
}

static int parse_i64(const char *s, const char *what, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		log_error("%s: not a revision: \"%s\"", what, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* ---- commands: argv[0] is the command's name, argc counts it ---- */

static int print_rev(int64_t rev)
{
	printf("%" PRId64 "\n", rev);
	return 0;
}

static int cmd_revision(struct store *s, int argc, char **argv)
{
	int64_t rev = store_revision(s);

	(void)argc;
	(void)argv;
	return rev < 0 ? (int)rev : print_rev(rev);
}

static int cmd_get(struct store *s, int argc, char **argv)
{
	struct store_kv kv = { 0 };
	int r = store_get(s, argv[1], &kv);

	(void)argc;
	if (r < 0)
		return r;
	fwrite(kv.value, 1, kv.value_len, stdout);
	putchar('\n');
	fprintf(stderr, "create_revision=%" PRId64 " mod_revision=%" PRId64 "\n",
		kv.create_revision, kv.mod_revision);
	store_kv_clear(&kv);
	return 0;
}

static int cmd_create(struct store *s, int argc, char **argv)
{
	int64_t rev = 0;
	int r = store_create(s, argv[1], argv[2], strlen(argv[2]), &rev);

	(void)argc;
	return r < 0 ? r : print_rev(rev);
}

static int cmd_update(struct store *s, int argc, char **argv)
{
	int64_t rev = 0, expect = 0;

	int r;

	if (argc == 4 && parse_i64(argv[3], "EXPECT", &expect) < 0)
		return -EINVAL;
	r = store_update(s, argv[1], argv[2], strlen(argv[2]), expect, &rev);
	return r < 0 ? r : print_rev(rev);
}

static int cmd_delete(struct store *s, int argc, char **argv)
{
	int64_t rev = 0, expect = 0;

	int r;

	if (argc == 3 && parse_i64(argv[2], "EXPECT", &expect) < 0)
		return -EINVAL;
	r = store_delete(s, argv[1], expect, NULL, &rev);
	return r < 0 ? r : print_rev(rev);
}

static int cmd_list(struct store *s, int argc, char **argv)
{
	struct store_kv *items = NULL;
	size_t n = 0;
	int64_t limit = 0, rev = 0;
	int r;

	if (argc == 3 && parse_i64(argv[2], "LIMIT", &limit) < 0)
		return -EINVAL;
	r = store_list(s, argv[1], NULL, (size_t)limit, &items, &n, &rev, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		printf("%s\t%" PRId64 "\t%s\n", items[i].key, items[i].mod_revision, items[i].value);
	store_kvs_free(items, n);
	return 0;
}

static int cmd_count(struct store *s, int argc, char **argv)
{
	size_t n = 0;
	int r = store_count(s, argv[1], &n);

	(void)argc;
	if (r == 0)
		printf("%zu\n", n);
	return r;
}

static int cmd_watch(struct store *s, int argc, char **argv)
{
	struct store_watch *w = NULL;
	int64_t after = 0, want = 0, got = 0;
	int r;

	(void)argc;
	if (parse_i64(argv[2], "AFTER", &after) < 0 || parse_i64(argv[3], "N", &want) < 0)
		return -EINVAL;
	r = store_watch_open(s, argv[1], after, &w);
	if (r < 0)
		return r;
	while (got < want) {
		struct store_event *ev = NULL;
		size_t n = 0;

		r = store_watch_next(w, -1, &ev, &n);
		if (r < 0)
			break;
		for (size_t i = 0; i < n; i++)
			printf("%s %" PRId64 " %s %s\n", ev[i].type == STORE_EVENT_PUT ? "PUT" : "DELETE",
			       ev[i].revision, ev[i].kv.key, ev[i].kv.value);
		fflush(stdout);
		got += (int64_t)n;
		store_events_free(ev, n);
	}
	store_watch_close(w);
	return r < 0 ? r : 0;
}

static int cmd_compact(struct store *s, int argc, char **argv)
{
	int64_t rev = 0;

	(void)argc;
	if (parse_i64(argv[1], "REVISION", &rev) < 0)
		return -EINVAL;
	return store_compact(s, rev);
}

static int cmd_compacted(struct store *s, int argc, char **argv)
{
	int64_t rev = store_compacted_revision(s);

	(void)argc;
	(void)argv;
	return rev < 0 ? (int)rev : print_rev(rev);
}

static int cmd_snapshot(struct store *s, int argc, char **argv)
{
	(void)argc;
	if (streq(argv[1], "save"))
		return store_snapshot_save(s, argv[2]);
	if (streq(argv[1], "restore"))
		return store_snapshot_restore(s, argv[2]);
	return -EOPNOTSUPP;
}

static int cmd_bench(struct store *s, int argc, char **argv)
{
	int64_t n = 0, vlen = 1024;

	if (parse_i64(argv[1], "N", &n) < 0 ||
	    (argc == 3 && parse_i64(argv[2], "VALUE_BYTES", &vlen) < 0))
		return -EINVAL;
	return bench(s, (size_t)n, (size_t)vlen);
}

/* One row per command: its operands (how many, their names), what it
 * does, and the function. */
static const struct command {
	const char *name, *args, *help;
	int min, max; /* operands after the name */
	int (*run)(struct store *s, int argc, char **argv);
} commands[] = {
	{ "revision", "", "the current revision", 0, 0, cmd_revision },
	{ "get", "KEY", "the value (and revisions on stderr)", 1, 1, cmd_get },
	{ "create", "KEY VALUE", "prints the new revision", 2, 2, cmd_create },
	{ "update", "KEY VALUE [EXPECT]", "CAS on mod revision EXPECT (0: none)", 2, 3, cmd_update },
	{ "delete", "KEY [EXPECT]", "prints the revision of the delete; CAS as update", 1, 2,
	  cmd_delete },
	{ "list", "PREFIX [LIMIT]", "KEY<TAB>MOD_REVISION<TAB>VALUE lines", 1, 2, cmd_list },
	{ "count", "PREFIX", "the number of keys under PREFIX", 1, 1, cmd_count },
	{ "watch", "PREFIX AFTER N", "prints N events (TYPE REV KEY VALUE), then exits", 3, 3,
	  cmd_watch },
	{ "compact", "REVISION", "drops the history before REVISION", 1, 1, cmd_compact },
	{ "compacted", "", "the compacted revision", 0, 0, cmd_compacted },
	{ "snapshot", "save|restore FILE", "the whole store to or from one portable file", 2, 2,
	  cmd_snapshot },
	{ "bench", "N [VALUE_BYTES]", "N creates, gets and updates; latency p50/p99 in us", 1, 2,
	  cmd_bench },
};

/* The command argv names with a count of operands it takes, or NULL. */
static const struct command *command_find(int argc, char **argv)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(argv[0], commands[i].name) && argc - 1 >= commands[i].min &&
		    argc - 1 <= commands[i].max)
			return &commands[i];
	return NULL;
}

struct tool_args {
	const char *url;
	bool help;
};

static const struct opt options[] = {
	{ .name = "store", .short_name = 's', .arg = "URL",
	  .help = "a SQLite file (sqlite:///path or a plain path) or etcd://host:port[,...][/ns]\n"
		  "(default: $SKIFF_STORE)",
	  .set = opt_string, .offset = offsetof(struct tool_args, url) },
	{ .name = "help", .short_name = 'h', .help = "this text", .set = opt_flag,
	  .offset = offsetof(struct tool_args, help) },
};

static void usage(FILE *f)
{
	fputs("Usage: store-tool [--store URL] COMMAND [ARGS]\n"
	      "Drives a skiff store from the shell, for tests and benchmarks.\n\n"
	      "Options:\n",
	      f);
	opts_usage(f, options, ARRAY_SIZE(options));
	fputs("Commands:\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%s%s", commands[i].name, *commands[i].args ? " " : "",
			 commands[i].args);
		fprintf(f, "  %-31s %s\n", left, commands[i].help);
	}
	fputs("Exit status: 0 ok, 1 error (named on stderr), 2 usage.\n", f);
}

int main(int argc, char **argv)
{
	struct tool_args a = { .url = getenv("SKIFF_STORE") };
	const struct command *cmd;
	struct store *s = NULL;
	char err[256];
	int first, r;

	log_init("store-tool", LOG_LEVEL_INFO);
	first = opts_parse(options, ARRAY_SIZE(options), argc, argv, &a, OPTS_STOP_AT_OPERAND, err,
			   sizeof(err));
	if (first >= 0 && a.help) {
		usage(stdout);
		return 0;
	}
	cmd = first >= 0 && first < argc ? command_find(argc - first, argv + first) : NULL;
	if (first < 0)
		log_error("%s", err);
	if (!cmd || !a.url) {
		usage(stderr);
		return 2;
	}
	r = store_open(a.url, &s);
	if (r < 0) {
		log_error("cannot open store %s: %s", a.url, strerror(-r));
		return 1;
	}
	r = cmd->run(s, argc - first, argv + first);
	store_close(s);
	if (r == -EOPNOTSUPP) {
		usage(stderr);
		return 2;
	}
	if (r < 0) {
		log_error("%s %s: %s", argv[first], first + 1 < argc ? argv[first + 1] : "",
			  strerror(-r));
		return 1;
	}
	return 0;
}
