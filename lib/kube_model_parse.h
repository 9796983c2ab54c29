/* Internal to lib/kube_model*.c: reading JSON fields with errors that
 * name the object and the field ("Service default/web: spec.ports[0].port:
 * 70000 is out of range 1-65535"), and each kind's fill and equality
 * functions for the kind table. */
#ifndef SKIFF_KUBE_MODEL_PARSE_H
#define SKIFF_KUBE_MODEL_PARSE_H

#include "lib/kube_model.h"

struct parse_ctx {
	const char *kind;
	char obj[200]; /* "ns/name" once known */
	struct model_error *e;
};

/* Fills c->e naming field; returns -EINVAL. */
int kp_err(struct parse_ctx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "an object", "a list", ... for messages. */
const char *kp_type_name(const json_t *v);

/* Optional members of parent[key] (parent may be NULL): absent and null
 * give NULL (kp_int: def); field names them in errors. */
int kp_object(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	      json_t **out);
int kp_array(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	     json_t **out);
int kp_string(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	      const char **out);
/* *present tells whether it was given (non-null). */
int kp_bool(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	    bool *out, bool *present);
/* An integer in [min, max]. */
int kp_int(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	   long long min, long long max, long long def, long long *out);

/* A string that names one of a few values. */
struct enum_name {
	const char *name;
	int value;
	bool alias; /* accepted, not listed in the error */
};
/* Optional string member that must be one of names (ended by { NULL });
 * absent leaves *out as it was (the default). */
int kp_enum(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
	    const struct enum_name *names, int *out);

/* strdup of s, "" for NULL. */
int kp_strdup(const char *s, char **out);
/* An array for the n elements of arr (esize bytes each, zeroed) with,
 * after it, room for a copy of each element's string members named in
 * keys (ended by NULL; an absent one: room for ""), so that the strings
 * live in the array's one allocation (at 10,000 Services, 100,000 small
 * strings cost more in malloc headers than in text). *strings: the room,
 * for kp_strput. NULL when out of memory. */
void *kp_array_with_strings(const json_t *arr, size_t esize, const char *const *keys,
			    char **strings);
/* Copies s ("" for NULL) to *strings (room from kp_array_with_strings)
 * and moves it on; returns the copy. */
char *kp_strput(char **strings, const char *s);
/* protocol, TCP when absent. */
int kp_proto(struct parse_ctx *c, const json_t *parent, const char *field, uint8_t *out);
/* metadata.name and, unless ns is NULL (cluster-scoped), metadata.namespace
 * (default "default"); names c's object. meta_out may be NULL. With ns,
 * *name is in *ns's allocation: free(*ns) frees both. */
int kp_meta(struct parse_ctx *c, const json_t *obj, char **ns, char **name, json_t **meta_out);
bool kp_addrs_equal(const struct ipaddr *a, size_t na, const struct ipaddr *b, size_t nb);

/* The kinds of kube_model_service.c, for the kind table. */
int kp_service_fill(struct parse_ctx *c, const json_t *obj, void *out);
bool kp_service_equal(const void *a, const void *b);
int kp_slice_fill(struct parse_ctx *c, const json_t *obj, void *out);
bool kp_slice_equal(const void *a, const void *b);

#endif
