/* Prometheus metrics: counters, gauges and histograms with labels, and
 * their text exposition (format 0.0.4, with HELP and TYPE). Shared by
 * skiff-server and skiff-agent.
 *
 *   struct prom_registry *reg;
 *   prom_registry_new(&reg);
 *   struct prom_metric *req = prom_counter_new(reg, "apiserver_request_total",
 *           "Requests by verb and code.", (const char *[]){ "verb", "code", NULL });
 *   prom_inc(prom_with(req, "get", "200"));          // the hot path
 *   char *text; size_t len;
 *   prom_render(reg, &text, &len);                   // GET /metrics
 *
 * Hot path: a label set's series is found without a lock (buckets of an
 * append-only hash table, published with release stores) and its values
 * are atomics; only the first use of a label set takes the metric's
 * mutex. Resolve a series once with prom_with where the labels are fixed.
 *
 * NULL everywhere means "no metrics": a NULL registry makes NULL metrics,
 * a NULL metric NULL series, and every update of a NULL series is a no-op,
 * so callers never test whether metrics are on. */
#ifndef SKIFF_PROM_H
#define SKIFF_PROM_H

#include <stddef.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_MAX_LABELS 8

struct prom_registry;
struct prom_metric;
struct prom_series;

int prom_registry_new(struct prom_registry **out);
void prom_registry_free(struct prom_registry *r);

/* A metric named name (snake_case, [a-zA-Z_:][a-zA-Z0-9_:]*) with the
 * label names of the NULL-terminated labels (may be NULL: none). Asking
 * again for a name already registered with the same type and labels
 * returns that metric; NULL on a mismatch, a bad name or no memory (or
 * when r is NULL). Metrics live as long as the registry. */
struct prom_metric *prom_counter_new(struct prom_registry *r, const char *name, const char *help,
				     const char *const *labels);
struct prom_metric *prom_gauge_new(struct prom_registry *r, const char *name, const char *help,
				   const char *const *labels);
/* bounds: the upper bounds, increasing (+Inf is implied). */
struct prom_metric *prom_histogram_new(struct prom_registry *r, const char *name,
				       const char *help, const char *const *labels,
				       const double *bounds, size_t n_bounds);

/* Upstream's bucket sets: kube-apiserver's request latency, client-go's
 * workqueue durations (1 µs .. 10 s), and the default (5 ms .. 10 s). */
extern const double prom_buckets_apiserver[];
extern const size_t prom_n_buckets_apiserver;
extern const double prom_buckets_workqueue[];
extern const size_t prom_n_buckets_workqueue;
extern const double prom_buckets_default[];
extern const size_t prom_n_buckets_default;

/* The series of one label set: as many values as the metric has labels
 * (NULL counts as ""). Created on first use; NULL when m is NULL or out
 * of memory. */
struct prom_series *prom_series_of(struct prom_metric *m, const char *const *values);
/* The same with the values as arguments: prom_with(m, "get", "200"). */
#define prom_with(m, ...) prom_series_of((m), (const char *const[]){ __VA_ARGS__, NULL })

void prom_inc(struct prom_series *s);
void prom_add(struct prom_series *s, double v); /* counters: v >= 0 */
void prom_dec(struct prom_series *s);           /* gauges */
/* Gauges; and counters that copy a total another part keeps. */
void prom_set(struct prom_series *s, double v);
void prom_observe(struct prom_series *s, double v); /* histograms */
/* Observes the seconds since start_ns (a now_ns() reading). */
void prom_observe_since(struct prom_series *s, unsigned long long start_ns);
/* The current value (counters, gauges) or count (histograms); 0 for NULL. */
double prom_value(const struct prom_series *s);

/* Sets the process_* metrics of the Go client's process collector
 * (process_cpu_seconds_total, _resident_memory_bytes, ...) from
 * /proc/self; call before rendering. */
void prom_process_update(struct prom_registry *r);

/* The text exposition of every metric, in registration order (a
 * malloc'd, NUL-terminated buffer). -ENOMEM. */
int prom_render(struct prom_registry *r, char **out, size_t *len);

/* A plain-HTTP listener that answers GET /metrics (and /healthz) from a
 * registry, on its own thread: skiff-agent's --metrics-bind-address.
 * addr "IP:PORT" or "[IPv6]:PORT". -EINVAL for a bad address, or the
 * bind's error. */
struct prom_http;
int prom_http_start(struct prom_registry *r, const char *addr, struct prom_http **out);
void prom_http_stop(struct prom_http *h);

#endif
