/* YAML documents to JSON values (jansson), with libyaml.
 *
 *   json_t *docs;
 *   struct yamljson_error err;
 *   if (yamljson_parse(buf, len, &docs, &err) < 0)
 *       log_error("%s:%d:%d: %s", path, err.line, err.column, err.msg);
 *
 * A stream of documents (separated by `---`) becomes a JSON array with one
 * element per document. Scalars are typed as JSON would type them (YAML 1.2
 * core schema): plain `42` is an integer, `1.5` a real, `true`/`false`
 * booleans, `null`, `~` and an empty value null; anything quoted, block
 * literals and `!!str`-tagged scalars stay strings. Mapping keys must be
 * scalars and unique. Aliases are expanded (with a cap against alias bombs).
 *
 * The module prefix is yamljson_ because libyaml owns yaml_.
 */
#ifndef SKIFF_YAMLJSON_H
#define SKIFF_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

struct yamljson_error {
	int line;   /* 1-based; 0 when unknown */
	int column; /* 1-based; 0 when unknown */
	char msg[192];
};

/* Parses every document of buf[len] into a new JSON array (*out, owned by
 * the caller). Returns 0, or -EINVAL with err filled on a syntax or typing
 * error, -ENOMEM. */
int yamljson_parse(const char *buf, size_t len, json_t **out,
		   struct yamljson_error *err);

/* Like yamljson_parse, then flattens the stream into the Kubernetes objects
 * it holds: empty (null) documents are dropped and a document whose kind is
 * "List" (or ends in "List" with an items array) contributes its items.
 * Every result element is a JSON object; anything else is an error naming
 * the document. */
int yamljson_parse_objects(const char *buf, size_t len, json_t **out,
			   struct yamljson_error *err);

/* Flattens an already parsed array of documents the same way. */
int yamljson_flatten_objects(json_t *docs, json_t **out,
			     struct yamljson_error *err);

/* One document: v as block YAML (mappings and sequences in block style, a
 * string quoted where a plain scalar would read as another type), so
 * yamljson_parse gives v back. *out is malloc'd and NUL-terminated. 0,
 * -ENOMEM, -EINVAL; -ELOOP past 64 levels. */
int yamljson_emit(json_t *v, char **out, size_t *len);

#endif
