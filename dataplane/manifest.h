/* The --manifests DIR source: every *.yaml, *.yml and *.json file of a
 * folder (several objects per file with `---`, or `kind: List`), followed
 * with inotify as files are created, written, moved and deleted.
 *
 * A file is all or nothing: when any object in it is bad, the error is
 * reported with the file, the object and the field, and the objects the
 * file last loaded without error stay in the store, so nothing that forwards is
 * lost. Objects of kinds the proxy does not use are ignored. Hidden files
 * (".name", as editors and atomic writers use) are ignored.
 */
#ifndef SKIFF_MANIFEST_H
#define SKIFF_MANIFEST_H

#include "lib/kube_model.h"
#include "lib/log.h"

/* Largest manifest file read. */
#define MANIFEST_MAX_FILE (64u << 20)

/* A source over dir feeding store (which must outlive it). It never logs:
 * report (may be NULL) is called with ud for what it saw, a file that
 * cannot be read or is invalid (error), an object given twice (warn),
 * objects removed and files loaded again (info), object counts (debug). */
int manifest_source_new(const char *dir, struct model_store *store, log_report_fn report,
			void *ud, struct model_source *out);

/* Parses one file's bytes into a JSON array of objects; is_json picks the
 * JSON parser (else YAML). On error fills msg ("file:line:col: why") and
 * returns -EINVAL. Exposed for the fuzzer and tests. */
int manifest_parse_buffer(const char *label, const char *buf, size_t len, bool is_json,
			  json_t **out, char *msg, size_t msg_size);

/* The objects of one parsed file, checked: of the kinds the model parses,
 * in file order, ready to be put in a store. On error, msg names the file,
 * object and field. */
struct manifest_objects {
	struct model_object *v;
	size_t n;
	size_t n_ignored; /* objects of other kinds */
};
int manifest_objects_from_json(const char *label, json_t *objs, struct manifest_objects *out,
			       char *msg, size_t msg_size);
void manifest_objects_clear(struct manifest_objects *o);

#endif
