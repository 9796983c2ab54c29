/* Object keys -> resourceVersions (see kube_versions.h). */
#include "lib/kube_versions.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct kc_version {
	struct kc_version *next;
	uint32_t hash;
	char kv[]; /* key NUL rv NUL */
};

struct kc_versions {
	struct kc_version **buckets;
	size_t n_buckets; /* a power of two, or 0 */
	size_t count;
};

/* FNV-1a, 32 bits. */
static uint32_t key_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h;
}

static struct kc_version **find(const struct kc_versions *t, const char *key, uint32_t h)
{
	struct kc_version **p;

	if (!t->n_buckets)
		return NULL;
	for (p = &t->buckets[h & (t->n_buckets - 1)]; *p; p = &(*p)->next)
		if ((*p)->hash == h && strcmp((*p)->kv, key) == 0)
			return p;
	return NULL;
}

/* Doubles the buckets once there are as many keys as buckets. */
static int grow(struct kc_versions *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct kc_version **b;

	if (t->count < t->n_buckets)
		return 0;
	b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct kc_version *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

int kc_versions_new(struct kc_versions **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void kc_versions_free(struct kc_versions *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct kc_version *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	free(t);
}

const char *kc_versions_get(const struct kc_versions *t, const char *key)
{
	struct kc_version **p = find(t, key, key_hash(key));

	return p ? (*p)->kv + strlen((*p)->kv) + 1 : NULL;
}

int kc_versions_set(struct kc_versions *t, const char *key, const char *rv)
{
	uint32_t h = key_hash(key);
	struct kc_version **p = find(t, key, h), *e;
	size_t kl = strlen(key), rl = strlen(rv);

	if (p && strcmp((*p)->kv + kl + 1, rv) == 0)
		return 0;
	e = malloc(sizeof(*e) + kl + rl + 2);
	if (!e)
		return -ENOMEM;
	e->hash = h;
	memcpy(e->kv, key, kl + 1);
	memcpy(e->kv + kl + 1, rv, rl + 1);
	if (p) { /* in its place */
		e->next = (*p)->next;
		free(*p);
		*p = e;
		return 0;
	}
	if (grow(t) < 0) {
		free(e);
		return -ENOMEM;
	}
	e->next = t->buckets[h & (t->n_buckets - 1)];
	t->buckets[h & (t->n_buckets - 1)] = e;
	t->count++;
	return 0;
}

bool kc_versions_del(struct kc_versions *t, const char *key)
{
	struct kc_version **p = find(t, key, key_hash(key)), *e;

	if (!p)
		return false;
	e = *p;
	*p = e->next;
	free(e);
	t->count--;
	return true;
}

size_t kc_versions_count(const struct kc_versions *t)
{
	return t->count;
}

int kc_versions_foreach(const struct kc_versions *t,
			int (*fn)(const char *key, const char *rv, void *ud), void *ud)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (const struct kc_version *e = t->buckets[i]; e; e = e->next) {
			int r = fn(e->kv, e->kv + strlen(e->kv) + 1, ud);

			if (r)
				return r;
		}
	}
	return 0;
}
