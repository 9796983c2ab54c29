/* Request body decoding, shared by every verb and the fuzz harness: the
 * media types the API accepts, JSON parsing with a message that names the
 * position of the error; YAML for application/yaml and apply patches;
 * Kubernetes protobuf bodies go to api_proto.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "control/api.h"
#include "lib/yamljson.h"

static bool ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	return ctype && strncasecmp(ctype, want, n) == 0 && (ctype[n] == 0 || ctype[n] == ';');
}

/* A body in YAML (application/yaml, or an apply patch: kubectl sends
 * JSON, other clients YAML): one document, a JSON value after. */
static int decode_yaml(const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
	struct yamljson_error yerr = { 0 };
	json_t *docs;

	if (yamljson_parse(body, len, &docs, &yerr) < 0) {
		snprintf(err, errlen, "error decoding YAML: line %d column %d: %s", yerr.line,
			 yerr.column, yerr.msg);
		return -EINVAL;
	}
	if (json_array_size(docs) != 1) {
		json_decref(docs);
		snprintf(err, errlen, "error decoding YAML: the body must be one document");
		return -EINVAL;
	}
	*out = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return 0;
}

/* A body with a member given twice (jerr: the strict parse's error,
 * "duplicate object key near '"x"'"): parsed again, the last value
 * winning; 1 with err naming the member. */
static int decode_duplicates(const char *body, size_t len, const json_error_t *jerr,
			     json_t **out, char *err, size_t errlen)
{
	const char *key = strstr(jerr->text, "near '\"");
	json_error_t again;
	int n = 0;

	if (key) {
		key += 7;
		n = (int)strcspn(key, "\"");
	}
	*out = json_loadb(body, len, 0, &again);
	if (!*out) {
		snprintf(err, errlen, "error decoding the request body: line %d column %d: %s",
			 again.line, again.column, again.text);
		return -EINVAL;
	}
	snprintf(err, errlen, "duplicate field \"%.*s\"", n, key ? key : "");
	return 1;
}

int api_decode_body(const char *body, size_t len, const char *ctype, json_t **out, char *err,
		    size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	if (ctype_is(ctype, "application/vnd.kubernetes.protobuf") && api_proto_body(body, len))
		return api_proto_decode(body, len, out, err, errlen);
	if (ctype && (ctype_is(ctype, "application/vnd.kubernetes.protobuf") ||
		      strstr(ctype, "protobuf"))) {
		snprintf(err, errlen, "the body of the request was in an unknown format - accepted "
			 "media types include: application/json, application/merge-patch+json, "
			 "application/json-patch+json, application/strategic-merge-patch+json, "
			 "application/apply-patch+yaml");
		return -EPROTONOSUPPORT;
	}
	if (ctype && !ctype_is(ctype, "application/json") &&
	    !ctype_is(ctype, "application/merge-patch+json") &&
	    !ctype_is(ctype, "application/json-patch+json") &&
	    !ctype_is(ctype, "application/strategic-merge-patch+json") &&
	    !ctype_is(ctype, "application/apply-patch+yaml") && !ctype_is(ctype, "application/yaml") &&
	    !ctype_is(ctype, "*/*")) {
		snprintf(err, errlen, "the body of the request was in an unknown format (%s) - "
			 "accepted media types include: application/json, application/yaml", ctype);
		return -EPROTONOSUPPORT;
	}
	if (!body || len == 0) {
		snprintf(err, errlen, "the request body is empty");
		return -EINVAL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j && (ctype_is(ctype, "application/apply-patch+yaml") ||
		   ctype_is(ctype, "application/yaml")))
		return decode_yaml(body, len, out, err, errlen);
	if (!j && strncmp(jerr.text, "duplicate object key", 20) == 0)
		return decode_duplicates(body, len, &jerr, out, err, errlen);
	if (!j) {
		snprintf(err, errlen, "error decoding the request body: line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

