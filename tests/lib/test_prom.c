/* The Prometheus library: the exact exposition text (HELP, TYPE, escaped
 * label values, cumulative buckets), re-registration, the NULL no-ops,
 * updates from several threads, promtool's verdict on the text, and the
 * HTTP listener. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/prom.h"
#include "lib/util.h"
#include "tests/harness/test.h"

static char *render(struct prom_registry *r)
{
	char *text = NULL;
	size_t len = 0;

	CHECK_OK(prom_render(r, &text, &len));
	CHECK_INT_EQ(strlen(text), len);
	return text;
}

TEST(prom_renders_counters_and_gauges_with_help_type_and_escaped_labels)
{
	struct prom_registry *r;
	struct prom_metric *c, *g;
	char *text;

	CHECK_OK(prom_registry_new(&r));
	c = prom_counter_new(r, "req_total", "Requests, \\ and\nnewline.",
			     (const char *[]){ "verb", "path", NULL });
	g = prom_gauge_new(r, "watchers", "Open watches.", NULL);
	CHECK(c && g);
	prom_inc(prom_with(c, "get", "a\"b\\c\nd"));
	prom_add(prom_with(c, "get", "a\"b\\c\nd"), 2);
	prom_add(prom_with(c, "list", ""), 0.5);
	prom_add(prom_with(c, "list", ""), -1); /* counters never go down */
	prom_set(prom_series_of(g, NULL), 7);
	prom_dec(prom_series_of(g, NULL));
	text = render(r);
	CHECK_STR_EQ(text, "# HELP req_total Requests, \\\\ and\\nnewline.\n"
			   "# TYPE req_total counter\n"
			   "req_total{verb=\"get\",path=\"a\\\"b\\\\c\\nd\"} 3\n"
			   "req_total{verb=\"list\",path=\"\"} 0.5\n"
			   "# HELP watchers Open watches.\n"
			   "# TYPE watchers gauge\n"
			   "watchers 6\n");
	free(text);
	prom_registry_free(r);
}

TEST(prom_histogram_buckets_are_cumulative_with_inf_sum_and_count)
{
	struct prom_registry *r;
	struct prom_metric *h;
	const double bounds[] = { 0.1, 1, 2.5 };
	struct prom_series *s;
	char *text;

	CHECK_OK(prom_registry_new(&r));
	h = prom_histogram_new(r, "op_seconds", "Latency.", (const char *[]){ "op", NULL }, bounds,
			       ARRAY_SIZE(bounds));
	CHECK(h);
	s = prom_with(h, "get");
	prom_observe(s, 0.05);
	prom_observe(s, 0.1); /* on a bound: counted in it (le) */
	prom_observe(s, 2);
	prom_observe(s, 100);
	CHECK(prom_value(s) == 4);
	text = render(r);
	CHECK_STR_EQ(text, "# HELP op_seconds Latency.\n"
			   "# TYPE op_seconds histogram\n"
			   "op_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"
			   "op_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
			   "op_seconds_bucket{op=\"get\",le=\"2.5\"} 3\n"
			   "op_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
			   "op_seconds_sum{op=\"get\"} 102.15\n"
			   "op_seconds_count{op=\"get\"} 4\n");
	free(text);
	prom_registry_free(r);
}

TEST(prom_registering_again_returns_the_metric_and_rejects_a_clash)
{
	struct prom_registry *r;
	const char *const labels[] = { "name", NULL };
	struct prom_metric *a;

	CHECK_OK(prom_registry_new(&r));
	a = prom_gauge_new(r, "workqueue_depth", "Depth.", labels);
	CHECK(a);
	CHECK(prom_gauge_new(r, "workqueue_depth", "Depth.", labels) == a);
	CHECK(prom_counter_new(r, "workqueue_depth", "Depth.", labels) == NULL);
	CHECK(prom_gauge_new(r, "workqueue_depth", "Depth.", NULL) == NULL);
	/* Bad names, a reserved label, le on a histogram, bounds not increasing. */
	CHECK(prom_counter_new(r, "9lives", "", NULL) == NULL);
	CHECK(prom_counter_new(r, "a-b", "", NULL) == NULL);
	CHECK(prom_counter_new(r, "ok_total", "", (const char *[]){ "__x", NULL }) == NULL);
	CHECK(prom_counter_new(r, "ok_total", "", (const char *[]){ "a", "a", NULL }) == NULL);
	CHECK(prom_histogram_new(r, "h", "", (const char *[]){ "le", NULL }, prom_buckets_default,
				 prom_n_buckets_default) == NULL);
	CHECK(prom_histogram_new(r, "h", "", NULL, (const double[]){ 2, 1 }, 2) == NULL);
	prom_registry_free(r);
}

TEST(prom_null_registry_metric_and_series_are_no_ops)
{
	struct prom_metric *m = prom_counter_new(NULL, "x_total", "", NULL);
	char *text;
	size_t len;

	CHECK(m == NULL);
	CHECK(prom_with(m, "a") == NULL);
	prom_inc(NULL);
	prom_set(NULL, 1);
	prom_observe(NULL, 1);
	CHECK(prom_value(NULL) == 0);
	CHECK_OK(prom_render(NULL, &text, &len));
	CHECK_INT_EQ(len, 0);
	free(text);
}

#define THREADS 4
#define ROUNDS 20000

static void *hammer(void *arg)
{
	struct prom_metric **m = arg;
	char label[8];

	for (int i = 0; i < ROUNDS; i++) {
		snprintf(label, sizeof(label), "k%d", i % 16);
		prom_inc(prom_with(m[0], label));
		prom_observe(prom_with(m[1], label), 0.001 * (i % 7));
	}
	return NULL;
}

TEST(prom_updates_from_threads_are_all_counted_while_rendered)
{
	struct prom_registry *r;
	struct prom_metric *m[2];
	pthread_t t[THREADS];
	double sum = 0, count = 0;

	CHECK_OK(prom_registry_new(&r));
	m[0] = prom_counter_new(r, "hits_total", "Hits.", (const char *[]){ "k", NULL });
	m[1] = prom_histogram_new(r, "lat_seconds", "Latency.", (const char *[]){ "k", NULL },
				  prom_buckets_default, prom_n_buckets_default);
	for (int i = 0; i < THREADS; i++)
		CHECK_INT_EQ(pthread_create(&t[i], NULL, hammer, m), 0);
	/* Scrapes while the series are made and updated. */
	for (int i = 0; i < 20; i++)
		free(render(r));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int k = 0; k < 16; k++) {
		char label[8];

		snprintf(label, sizeof(label), "k%d", k);
		sum += prom_value(prom_with(m[0], label));
		count += prom_value(prom_with(m[1], label));
	}
	CHECK(sum == THREADS * ROUNDS);
	CHECK(count == THREADS * ROUNDS);
	prom_registry_free(r);
}

TEST(prom_process_metrics_describe_this_process)
{
	struct prom_registry *r;
	time_t now = time(NULL);
	double rss, start, fds;

	CHECK_OK(prom_registry_new(&r));
	prom_process_update(r);
	rss = prom_value(prom_series_of(prom_gauge_new(r, "process_resident_memory_bytes", "", NULL), NULL));
	start = prom_value(prom_series_of(prom_gauge_new(r, "process_start_time_seconds", "", NULL), NULL));
	fds = prom_value(prom_series_of(prom_gauge_new(r, "process_open_fds", "", NULL), NULL));
	CHECK(rss > 100 * 1024 && rss < 1e10);
	CHECK(start > (double)now - 600 && start <= (double)now + 1);
	CHECK(fds >= 3);
	CHECK(prom_counter_new(r, "process_cpu_seconds_total", "", NULL) != NULL);
	prom_registry_free(r);
}

/* promtool (Debian's prometheus package) parses and lints the text. */
TEST(prom_text_passes_promtool_check_metrics)
{
	struct prom_registry *r;
	char *text, path[512], cmd[700];
	FILE *f;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		SKIP("promtool not installed (scripts/deps.sh installs prometheus)");
	CHECK_OK(prom_registry_new(&r));
	prom_inc(prom_with(prom_counter_new(r, "apiserver_request_total", "Requests.",
					    (const char *[]){ "verb", "code", NULL }),
			   "get", "200"));
	prom_observe(prom_with(prom_histogram_new(r, "apiserver_request_duration_seconds",
						  "Latency.", (const char *[]){ "verb", NULL },
						  prom_buckets_apiserver, prom_n_buckets_apiserver),
			       "get"),
		     0.003);
	prom_set(prom_with(prom_gauge_new(r, "workqueue_depth", "Depth.",
					  (const char *[]){ "name", NULL }),
			   "odd \"name\"\n"),
		 -2.5e-7);
	text = render(r);
	snprintf(path, sizeof(path), "%s/metrics.txt", test_tmpdir());
	f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	CHECK_INT_EQ(system(cmd), 0);
	free(text);
	prom_registry_free(r);
}

TEST(prom_http_serves_metrics_and_404_elsewhere)
{
	struct prom_registry *r;
	struct prom_http *h = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char addr[64], buf[4096];
	int port = 0;

	CHECK_OK(prom_registry_new(&r));
	prom_inc(prom_series_of(prom_counter_new(r, "x_total", "X.", NULL), NULL));
	CHECK(prom_http_start(r, "127.0.0.1", &h) == -EINVAL);
	CHECK(prom_http_start(r, "localhost:1", &h) == -EINVAL);
	/* A free port: bind 0, read it, close, then listen there. */
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
		CHECK(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
		port = ntohs(sin.sin_port);
		close(fd);
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	CHECK_OK(prom_http_start(r, addr, &h));
	/* The listener adds the process_* metrics at each scrape. */
	for (int i = 0; i < 2; i++) {
		const char *req = i ? "GET /nope HTTP/1.1\r\n\r\n" : "GET /metrics HTTP/1.1\r\n\r\n";
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		ssize_t n, len = 0;

		CHECK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
		CHECK_OK(write_all(fd, req, strlen(req)));
		while ((n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
			len += n;
		buf[len] = 0;
		close(fd);
		if (i) {
			CHECK_STR_CONTAINS(buf, "HTTP/1.1 404");
		} else {
			CHECK_STR_CONTAINS(buf, "HTTP/1.1 200 OK");
			CHECK_STR_CONTAINS(buf, "Content-Type: " PROM_CONTENT_TYPE);
			CHECK_STR_CONTAINS(buf, "\r\n\r\n# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
			CHECK_STR_CONTAINS(buf, "# TYPE process_resident_memory_bytes gauge\n");
		}
	}
	prom_http_stop(h);
	prom_registry_free(r);
}
