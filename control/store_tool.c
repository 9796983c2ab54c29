/* store-tool: drives a skiff store from the shell, for tests and
 * benchmarks. Usage: store-tool --help */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store.h"
#include "log.h"
#include "util.h"

static void usage(FILE *f)
{
	fputs("Usage: store-tool [--store URL] COMMAND [ARGS]\n"
	      "  URL: a SQLite file (sqlite:///path or a plain path) or etcd://host:port[,...][/ns]\n"
	      "       (default: $SKIFF_STORE)\n"
	      "Commands:\n"
	      "  revision                      the current revision\n"
	      "  get KEY                       the value (and revisions on stderr)\n"
	      "  create KEY VALUE              prints the new revision\n"
	      "  update KEY VALUE [EXPECT]     CAS on mod revision EXPECT (0: none)\n"
	      "  delete KEY [EXPECT]\n"
	      "  list PREFIX [LIMIT]           KEY<TAB>MOD_REVISION<TAB>VALUE lines\n"
	      "  count PREFIX\n"
	      "  watch PREFIX AFTER N          prints N events (TYPE REV KEY VALUE), then exits\n"
	      "  compact REVISION\n"
	      "  compacted                     the compacted revision\n"
	      "  snapshot save|restore FILE\n"
	      "  bench N [VALUE_BYTES]         N creates, gets and updates; latency p50/p99 in us\n"
	      "Exit status: 0 ok, 1 error (named on stderr), 2 usage.\n",
	      f);
}

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

static int run(struct store *s, int argc, char **argv)
{
	const char *cmd = argv[0];
	int64_t rev = 0, expect = 0;
	int r;

	if (streq(cmd, "revision") && argc == 1) {
		rev = store_revision(s);
		if (rev < 0)
			return (int)rev;
		printf("%" PRId64 "\n", rev);
		return 0;
	}
	if (streq(cmd, "get") && argc == 2) {
		struct store_kv kv = { 0 };

		r = store_get(s, argv[1], &kv);
		if (r < 0)
			return r;
		fwrite(kv.value, 1, kv.value_len, stdout);
		putchar('\n');
		fprintf(stderr, "create_revision=%" PRId64 " mod_revision=%" PRId64 "\n",
			kv.create_revision, kv.mod_revision);
		store_kv_clear(&kv);
		return 0;
	}
	if (streq(cmd, "create") && argc == 3) {
		r = store_create(s, argv[1], argv[2], strlen(argv[2]), &rev);
		if (r == 0)
			printf("%" PRId64 "\n", rev);
		return r;
	}
	if (streq(cmd, "update") && (argc == 3 || argc == 4)) {
		if (argc == 4 && parse_i64(argv[3], "EXPECT", &expect) < 0)
			return -EINVAL;
		r = store_update(s, argv[1], argv[2], strlen(argv[2]), expect, &rev);
		if (r == 0)
			printf("%" PRId64 "\n", rev);
		return r;
	}
	if (streq(cmd, "delete") && (argc == 2 || argc == 3)) {
		if (argc == 3 && parse_i64(argv[2], "EXPECT", &expect) < 0)
			return -EINVAL;
		r = store_delete(s, argv[1], expect, NULL, &rev);
		if (r == 0)
			printf("%" PRId64 "\n", rev);
		return r;
	}
	if (streq(cmd, "list") && (argc == 2 || argc == 3)) {
		struct store_kv *items = NULL;
		size_t n = 0;
		int64_t limit = 0;

		if (argc == 3 && parse_i64(argv[2], "LIMIT", &limit) < 0)
			return -EINVAL;
		r = store_list(s, argv[1], NULL, (size_t)limit, &items, &n, &rev, NULL);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			printf("%s\t%" PRId64 "\t%s\n", items[i].key, items[i].mod_revision,
			       items[i].value);
		store_kvs_free(items, n);
		return 0;
	}
	if (streq(cmd, "count") && argc == 2) {
		size_t n = 0;

		r = store_count(s, argv[1], &n);
		if (r == 0)
			printf("%zu\n", n);
		return r;
	}
	if (streq(cmd, "watch") && argc == 4) {
		struct store_watch *w = NULL;
		int64_t want = 0, got = 0;

		if (parse_i64(argv[2], "AFTER", &rev) < 0 || parse_i64(argv[3], "N", &want) < 0)
			return -EINVAL;
		r = store_watch_open(s, argv[1], rev, &w);
		if (r < 0)
			return r;
		while (got < want) {
			struct store_event *ev = NULL;
			size_t n = 0;

			r = store_watch_next(w, -1, &ev, &n);
			if (r < 0)
				break;
			for (size_t i = 0; i < n; i++)
				printf("%s %" PRId64 " %s %s\n",
				       ev[i].type == STORE_EVENT_PUT ? "PUT" : "DELETE",
				       ev[i].revision, ev[i].kv.key, ev[i].kv.value);
			fflush(stdout);
			got += (int64_t)n;
			store_events_free(ev, n);
		}
		store_watch_close(w);
		return r < 0 ? r : 0;
	}
	if (streq(cmd, "compact") && argc == 2) {
		if (parse_i64(argv[1], "REVISION", &rev) < 0)
			return -EINVAL;
		return store_compact(s, rev);
	}
	if (streq(cmd, "compacted") && argc == 1) {
		rev = store_compacted_revision(s);
		if (rev < 0)
			return (int)rev;
		printf("%" PRId64 "\n", rev);
		return 0;
	}
	if (streq(cmd, "snapshot") && argc == 3 && streq(argv[1], "save"))
		return store_snapshot_save(s, argv[2]);
	if (streq(cmd, "snapshot") && argc == 3 && streq(argv[1], "restore"))
		return store_snapshot_restore(s, argv[2]);
	if (streq(cmd, "bench") && (argc == 2 || argc == 3)) {
		int64_t n = 0, vlen = 1024;

		if (parse_i64(argv[1], "N", &n) < 0 ||
		    (argc == 3 && parse_i64(argv[2], "VALUE_BYTES", &vlen) < 0))
			return -EINVAL;
		return bench(s, (size_t)n, (size_t)vlen);
	}
	return -EOPNOTSUPP;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = getenv("SKIFF_STORE");
	struct store *s = NULL;
	int c, r;

	log_init("store-tool", LOG_LEVEL_INFO);
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			url = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc || !url) {
		usage(stderr);
		return 2;
	}
	r = store_open(url, &s);
	if (r < 0) {
		log_error("cannot open store %s: %s", url, strerror(-r));
		return 1;
	}
	r = run(s, argc - optind, argv + optind);
	store_close(s);
	if (r == -EOPNOTSUPP) {
		usage(stderr);
		return 2;
	}
	if (r < 0) {
		log_error("%s %s: %s", argv[optind], optind + 1 < argc ? argv[optind + 1] : "",
			  strerror(-r));
		return 1;
	}
	return 0;
}
