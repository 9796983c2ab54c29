/* A compact table from object keys ("ns/name" or "name") to their
 * resourceVersions: what an informer with versions_only keeps
 * (kube_informer.h). One allocation per key, its version beside it, in
 * chained buckets: ~55 bytes a key at 10,000 keys, where a JSON object of
 * strings took ~180. */
#ifndef SKIFF_KUBE_VERSIONS_H
#define SKIFF_KUBE_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>

struct kc_versions;

int kc_versions_new(struct kc_versions **out);
void kc_versions_free(struct kc_versions *t); /* NULL-safe */
/* key's version (borrowed until key is set again or deleted), or NULL. */
const char *kc_versions_get(const struct kc_versions *t, const char *key);
/* Sets (adds or replaces) key's version. */
int kc_versions_set(struct kc_versions *t, const char *key, const char *rv);
/* Removes key; true when it was there. */
bool kc_versions_del(struct kc_versions *t, const char *key);
size_t kc_versions_count(const struct kc_versions *t);
/* fn for each key (in no order); fn must not change t. Stops at and
 * returns the first nonzero fn returns. */
int kc_versions_foreach(const struct kc_versions *t,
			int (*fn)(const char *key, const char *rv, void *ud), void *ud);

#endif
