/* JSON patches on jansson values: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and Kubernetes strategic merge patch.
 *
 * Every function leaves its inputs untouched and returns a new reference
 * in *out on success, or a negative errno:
 *   -EINVAL  the patch is malformed (a message names the path in err)
 *   -ENOENT  a JSON patch path does not exist / "test" failed (-EILSEQ)
 */
#ifndef SKIFF_JSON_PATCH_H
#define SKIFF_JSON_PATCH_H

#include <jansson.h>
#include <stddef.h>

int json_merge_patch(json_t *target, json_t *patch, json_t **out);

int json_patch_apply(json_t *target, json_t *patch, char *err, size_t errlen,
		     json_t **out);

/* Strategic merge: lists under known field names merge by a key
 * (containers/env/volumes by name, ports by containerPort or port,
 * volumeMounts by mountPath); honours $patch (delete/replace/merge),
 * $retainKeys, $setElementOrder/<field>, $deleteFromPrimitiveList/<field>;
 * null deletes a field. */
int json_strategic_merge(json_t *target, json_t *patch, char *err,
			 size_t errlen, json_t **out);

/* The merge key of a list field in a strategic patch, or NULL when the
 * list is replaced as a whole. sample is an element of the list. */
const char *json_smp_merge_key(const char *field, json_t *sample);

#endif
