/* Kubernetes label and field selectors.
 *
 * Label selectors: "a=b,c==d,e!=f,g in (x,y),h notin (z),i,!j".
 * Field selectors: "metadata.name=x,spec.nodeName!=y" matched against the
 * dotted path in the object (numbers and booleans compared as text). */
#ifndef SKIFF_KUBE_SELECTOR_H
#define SKIFF_KUBE_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum kube_sel_op {
	KUBE_SEL_EQ,
	KUBE_SEL_NE,
	KUBE_SEL_IN,
	KUBE_SEL_NOTIN,
	KUBE_SEL_EXISTS,
	KUBE_SEL_NOTEXISTS,
};

struct kube_sel_req {
	char *key;
	enum kube_sel_op op;
	char **values;
	size_t n_values;
};

struct kube_selector {
	struct kube_sel_req *reqs;
	size_t n;
};

/* NULL or "" is the empty selector (matches everything). -EINVAL with a
 * message in err on a malformed selector. */
int kube_label_selector_parse(const char *s, struct kube_selector **out, char *err,
			      size_t errlen);
int kube_field_selector_parse(const char *s, struct kube_selector **out, char *err,
			      size_t errlen);
void kube_selector_free(struct kube_selector *sel);

/* labels: the metadata.labels object (NULL: none). */
bool kube_selector_match_labels(const struct kube_selector *sel, json_t *labels);
bool kube_selector_match_fields(const struct kube_selector *sel, json_t *obj);

/* Builds a selector from a LabelSelector object (matchLabels +
 * matchExpressions). */
int kube_selector_from_json(json_t *ls, struct kube_selector **out);

/* Valid label key ([prefix/]name) and value. */
bool kube_label_key_valid(const char *k);
bool kube_label_value_valid(const char *v);

#endif
