/* Prometheus metrics and their text exposition (see prom.h). */
#include "lib/prom.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define PROM_BUCKETS 64 /* hash buckets of a metric's series */

const double prom_buckets_apiserver[] = { 0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,
					  1,     1.25,  1.5,  2,   3,   4,   5,   6,
					  8,     10,    15,   20,  30,  45,  60 };
const size_t prom_n_buckets_apiserver = ARRAY_SIZE(prom_buckets_apiserver);
const double prom_buckets_workqueue[] = { 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10 };
const size_t prom_n_buckets_workqueue = ARRAY_SIZE(prom_buckets_workqueue);
const double prom_buckets_default[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
const size_t prom_n_buckets_default = ARRAY_SIZE(prom_buckets_default);

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

static const char *const type_names[] = { "counter", "gauge", "histogram" };

struct prom_series {
	struct prom_series *next;     /* in its hash bucket; set before publishing */
	struct prom_series *next_all; /* in creation order; under the metric's lock */
	struct prom_metric *m;
	uint64_t hash;
	_Atomic uint64_t value; /* a double's bits: counter, gauge, histogram sum */
	_Atomic uint64_t count; /* histograms */
	_Atomic uint64_t *buckets; /* histograms: per bound, not cumulative */
	char *values[];            /* m->n_labels */
};

struct prom_metric {
	struct prom_metric *next;
	enum prom_type type;
	char *name, *help;
	char *labels[PROM_MAX_LABELS];
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	pthread_mutex_t lock; /* creation of series */
	struct prom_series *_Atomic table[PROM_BUCKETS];
	struct prom_series *first, *last;
};

struct prom_registry {
	pthread_mutex_t lock;
	struct prom_metric *first, *last;
};

int prom_registry_new(struct prom_registry **out)
{
	struct prom_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

static void metric_free(struct prom_metric *m)
{
	struct prom_series *s = m->first;

	while (s) {
		struct prom_series *n = s->next_all;

		for (size_t i = 0; i < m->n_labels; i++)
			free(s->values[i]);
		free(s->buckets);
		free(s);
		s = n;
	}
	for (size_t i = 0; i < m->n_labels; i++)
		free(m->labels[i]);
	free(m->name);
	free(m->help);
	free(m->bounds);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void prom_registry_free(struct prom_registry *r)
{
	struct prom_metric *m;

	if (!r)
		return;
	m = r->first;
	while (m) {
		struct prom_metric *n = m->next;

		metric_free(m);
		m = n;
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- registration ---- */

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (colon && c == ':')))
			return false;
	}
	return true;
}

static bool labels_ok(const char *const *labels, enum prom_type type, size_t *n)
{
	size_t i = 0;

	for (; labels && labels[i]; i++) {
		if (i == PROM_MAX_LABELS || !name_ok(labels[i], false) ||
		    strncmp(labels[i], "__", 2) == 0 || (type == PROM_HISTOGRAM && streq(labels[i], "le")))
			return false;
		for (size_t j = 0; j < i; j++)
			if (streq(labels[i], labels[j]))
				return false;
	}
	*n = i;
	return true;
}

static bool same_shape(const struct prom_metric *m, enum prom_type type, const char *const *labels,
		       size_t n_labels, const double *bounds, size_t n_bounds)
{
	if (m->type != type || m->n_labels != n_labels || m->n_bounds != n_bounds)
		return false;
	for (size_t i = 0; i < n_labels; i++)
		if (!streq(m->labels[i], labels[i]))
			return false;
	return n_bounds == 0 || memcmp(m->bounds, bounds, n_bounds * sizeof(*bounds)) == 0;
}

static struct prom_metric *metric_alloc(enum prom_type type, const char *name, const char *help,
					const char *const *labels, size_t n_labels,
					const double *bounds, size_t n_bounds)
{
	struct prom_metric *m = calloc(1, sizeof(*m));
	bool ok;

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->type = type;
	m->name = strdup(name);
	m->help = strdup(help ? help : "");
	ok = m->name && m->help;
	for (size_t i = 0; i < n_labels; i++) {
		m->labels[i] = strdup(labels[i]);
		ok = ok && m->labels[i];
	}
	m->n_labels = n_labels;
	if (n_bounds) {
		m->bounds = malloc(n_bounds * sizeof(*bounds));
		if (m->bounds)
			memcpy(m->bounds, bounds, n_bounds * sizeof(*bounds));
		ok = ok && m->bounds;
	}
	m->n_bounds = n_bounds;
	if (!ok) {
		metric_free(m);
		return NULL;
	}
	return m;
}

static struct prom_metric *metric_new(struct prom_registry *r, enum prom_type type,
				      const char *name, const char *help,
				      const char *const *labels, const double *bounds,
				      size_t n_bounds)
{
	struct prom_metric *m;
	size_t n_labels;

	if (!r || !name_ok(name, true) || !labels_ok(labels, type, &n_labels))
		return NULL;
	for (size_t i = 1; i < n_bounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	pthread_mutex_lock(&r->lock);
	for (m = r->first; m; m = m->next)
		if (streq(m->name, name))
			break;
	if (m) {
		if (!same_shape(m, type, labels, n_labels, bounds, n_bounds))
			m = NULL;
	} else {
		m = metric_alloc(type, name, help, labels, n_labels, bounds, n_bounds);
		if (m) {
			if (r->last)
				r->last->next = m;
			else
				r->first = m;
			r->last = m;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return m;
}

struct prom_metric *prom_counter_new(struct prom_registry *r, const char *name, const char *help,
				     const char *const *labels)
{
	return metric_new(r, PROM_COUNTER, name, help, labels, NULL, 0);
}

struct prom_metric *prom_gauge_new(struct prom_registry *r, const char *name, const char *help,
				   const char *const *labels)
{
	return metric_new(r, PROM_GAUGE, name, help, labels, NULL, 0);
}

struct prom_metric *prom_histogram_new(struct prom_registry *r, const char *name,
				       const char *help, const char *const *labels,
				       const double *bounds, size_t n_bounds)
{
	if (n_bounds && isinf(bounds[n_bounds - 1]))
		n_bounds--; /* +Inf is always there */
	return metric_new(r, PROM_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

/* ---- series ---- */

static uint64_t hash_values(const char *const *values, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		for (const char *p = values[i] ? values[i] : ""; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* separator: ("a","b") != ("ab","") */
	}
	return h;
}

static bool series_is(const struct prom_series *s, uint64_t h, const char *const *values, size_t n)
{
	if (s->hash != h)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
			return false;
	return true;
}

static struct prom_series *bucket_find(struct prom_series *s, uint64_t h,
				       const char *const *values, size_t n)
{
	for (; s; s = s->next)
		if (series_is(s, h, values, n))
			return s;
	return NULL;
}

static struct prom_series *series_alloc(struct prom_metric *m, uint64_t h, const char *const *values)
{
	struct prom_series *s = calloc(1, sizeof(*s) + m->n_labels * sizeof(char *));
	bool ok = s != NULL;

	if (!s)
		return NULL;
	s->m = m;
	s->hash = h;
	for (size_t i = 0; i < m->n_labels; i++) {
		s->values[i] = strdup(values[i] ? values[i] : "");
		ok = ok && s->values[i];
	}
	if (m->type == PROM_HISTOGRAM) {
		s->buckets = calloc(m->n_bounds + 1, sizeof(*s->buckets));
		ok = ok && s->buckets;
	}
	if (!ok) {
		for (size_t i = 0; i < m->n_labels; i++)
			free(s->values[i]);
		free(s->buckets);
		free(s);
		return NULL;
	}
	return s;
}

struct prom_series *prom_series_of(struct prom_metric *m, const char *const *values)
{
	uint64_t h;
	struct prom_series *_Atomic *slot;
	struct prom_series *s;

	if (!m)
		return NULL;
	h = hash_values(values, m->n_labels);
	slot = &m->table[h % PROM_BUCKETS];
	s = bucket_find(atomic_load_explicit(slot, memory_order_acquire), h, values, m->n_labels);
	if (s)
		return s;
	pthread_mutex_lock(&m->lock);
	s = bucket_find(atomic_load_explicit(slot, memory_order_relaxed), h, values, m->n_labels);
	if (!s) {
		s = series_alloc(m, h, values);
		if (s) {
			s->next = atomic_load_explicit(slot, memory_order_relaxed);
			if (m->last)
				m->last->next_all = s;
			else
				m->first = s;
			m->last = s;
			atomic_store_explicit(slot, s, memory_order_release);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return s;
}

/* ---- updates ---- */

static double bits_to_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, double_to_bits(bits_to_double(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

void prom_add(struct prom_series *s, double v)
{
	if (!s || s->m->type == PROM_HISTOGRAM || (s->m->type == PROM_COUNTER && !(v >= 0)))
		return;
	atomic_add_double(&s->value, v);
}

void prom_inc(struct prom_series *s)
{
	prom_add(s, 1);
}

void prom_dec(struct prom_series *s)
{
	if (s && s->m->type == PROM_GAUGE)
		atomic_add_double(&s->value, -1);
}

void prom_set(struct prom_series *s, double v)
{
	if (s && s->m->type != PROM_HISTOGRAM)
		atomic_store_explicit(&s->value, double_to_bits(v), memory_order_relaxed);
}

void prom_observe(struct prom_series *s, double v)
{
	const struct prom_metric *m;
	size_t i = 0;

	if (!s || s->m->type != PROM_HISTOGRAM)
		return;
	m = s->m;
	while (i < m->n_bounds && v > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&s->value, v);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void prom_observe_since(struct prom_series *s, unsigned long long start_ns)
{
	if (s)
		prom_observe(s, (double)(now_ns() - start_ns) / 1e9);
}

double prom_value(const struct prom_series *s)
{
	if (!s)
		return 0;
	if (s->m->type == PROM_HISTOGRAM)
		return (double)atomic_load_explicit(&s->count, memory_order_relaxed);
	return bits_to_double(atomic_load_explicit(&s->value, memory_order_relaxed));
}

/* ---- exposition ---- */

/* The text goes to an open_memstream FILE: its errors are checked once, at
 * the end. */
static void puts_(FILE *b, const char *s)
{
	fputs(s, b);
}

/* Escapes \ and newline, and " when quoted (label values). */
static void put_escaped(FILE *b, const char *s, bool quoted)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (quoted && *s == '"')
			puts_(b, "\\\"");
		else
			fputc(*s, b);
	}
}

/* A float as Go's strconv.FormatFloat(v, 'g', -1, 64) would, nearly:
 * the shortest form that reads back the same; +Inf, -Inf, NaN. */
static void put_double(FILE *b, double v)
{
	char s[40];

	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (isinf(v))
		snprintf(s, sizeof(s), v > 0 ? "+Inf" : "-Inf");
	else {
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(s, sizeof(s), "%.*g", prec, v);
			if (strtod(s, NULL) == v)
				break;
		}
	}
	puts_(b, s);
}

static void put_u64(FILE *b, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	puts_(b, s);
}

/* name{l1="v1",...,extra="x"} : extra (may be NULL) is the histogram's le. */
static void put_sample_name(FILE *b, const struct prom_metric *m, const char *suffix,
			    const struct prom_series *s, const char *extra, double le)
{
	bool any = false;

	puts_(b, m->name);
	puts_(b, suffix);
	for (size_t i = 0; i < m->n_labels; i++) {
		puts_(b, any ? "," : "{");
		puts_(b, m->labels[i]);
		puts_(b, "=\"");
		put_escaped(b, s->values[i], true);
		puts_(b, "\"");
		any = true;
	}
	if (extra) {
		puts_(b, any ? "," : "{");
		puts_(b, extra);
		puts_(b, "=\"");
		put_double(b, le);
		puts_(b, "\"");
		any = true;
	}
	if (any)
		puts_(b, "}");
	puts_(b, " ");
}

static void render_histogram(FILE *b, const struct prom_metric *m,
			     const struct prom_series *s)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= m->n_bounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		put_sample_name(b, m, "_bucket", s, "le", i < m->n_bounds ? m->bounds[i] : INFINITY);
		put_u64(b, cum);
		puts_(b, "\n");
	}
	put_sample_name(b, m, "_sum", s, NULL, 0);
	put_double(b, bits_to_double(atomic_load_explicit(&s->value, memory_order_relaxed)));
	puts_(b, "\n");
	/* The count is the +Inf bucket's, read above, so the two agree even
	 * while observations land. */
	put_sample_name(b, m, "_count", s, NULL, 0);
	put_u64(b, cum);
	puts_(b, "\n");
}

static void render_metric(FILE *b, struct prom_metric *m)
{
	puts_(b, "# HELP ");
	puts_(b, m->name);
	puts_(b, " ");
	put_escaped(b, m->help, false);
	puts_(b, "\n# TYPE ");
	puts_(b, m->name);
	puts_(b, " ");
	puts_(b, type_names[m->type]);
	puts_(b, "\n");
	pthread_mutex_lock(&m->lock);
	for (const struct prom_series *s = m->first; s; s = s->next_all) {
		if (m->type == PROM_HISTOGRAM) {
			render_histogram(b, m, s);
			continue;
		}
		put_sample_name(b, m, "", s, NULL, 0);
		put_double(b, bits_to_double(atomic_load_explicit(&s->value, memory_order_relaxed)));
		puts_(b, "\n");
	}
	pthread_mutex_unlock(&m->lock);
}

int prom_render(struct prom_registry *r, char **out, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *b = open_memstream(&text, &n);
	bool failed;

	if (!b)
		return -ENOMEM;
	if (r) {
		pthread_mutex_lock(&r->lock);
		for (struct prom_metric *m = r->first; m; m = m->next)
			render_metric(b, m);
		pthread_mutex_unlock(&r->lock);
	}
	failed = ferror(b);
	if (fclose(b) != 0 || failed) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	*len = n;
	return 0;
}
