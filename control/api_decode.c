/* Request body decoding, shared by every verb and the fuzz harness: the
 * media types the API accepts, JSON parsing with a message that names the
 * position of the error; Kubernetes protobuf bodies go to api_proto.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "control/api.h"

static bool ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	return ctype && strncasecmp(ctype, want, n) == 0 && (ctype[n] == 0 || ctype[n] == ';');
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
	    !ctype_is(ctype, "application/apply-patch+yaml") && !ctype_is(ctype, "*/*")) {
		snprintf(err, errlen, "the body of the request was in an unknown format (%s) - "
			 "accepted media types include: application/json", ctype);
		return -EPROTONOSUPPORT;
	}
	if (!body || len == 0) {
		snprintf(err, errlen, "the request body is empty");
		return -EINVAL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(err, errlen, "error decoding the request body: line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

