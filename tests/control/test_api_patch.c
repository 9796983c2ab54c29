/* JSON merge patch, JSON patch and strategic merge patch (lib/json_patch). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "lib/json_patch.h"
#include "tests/harness/test.h"

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, JSON_DECODE_ANY, &e);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s: %s", s, e.text);
	return j;
}

/* Compares a result with the expected JSON text, printing both. */
#define CHECK_JSON(got, want)                                                          \
	do {                                                                           \
		json_t *_w = J(want);                                                  \
		char *_g = json_dumps((got), JSON_COMPACT | JSON_SORT_KEYS);           \
		char *_ws = json_dumps(_w, JSON_COMPACT | JSON_SORT_KEYS);             \
		if (!json_equal((got), _w))                                            \
			test_fail(__FILE__, __LINE__, "got %s, want %s", _g, _ws);     \
		free(_g);                                                              \
		free(_ws);                                                             \
		json_decref(_w);                                                       \
	} while (0)

TEST(merge_patch_rfc7386_examples)
{
	json_t *out;

	CHECK_OK(json_merge_patch(J("{\"a\":\"b\",\"c\":{\"d\":\"e\",\"f\":\"g\"}}"),
				  J("{\"a\":\"z\",\"c\":{\"f\":null}}"), &out));
	CHECK_JSON(out, "{\"a\":\"z\",\"c\":{\"d\":\"e\"}}");
	CHECK_OK(json_merge_patch(J("{\"a\":[{\"b\":\"c\"}]}"), J("{\"a\":[1]}"), &out));
	CHECK_JSON(out, "{\"a\":[1]}");
	CHECK_OK(json_merge_patch(J("{\"e\":null}"), J("{\"a\":1}"), &out));
	CHECK_JSON(out, "{\"e\":null,\"a\":1}");
	CHECK_OK(json_merge_patch(J("[1,2]"), J("{\"a\":{\"bb\":{\"ccc\":null}}}"), &out));
	CHECK_JSON(out, "{\"a\":{\"bb\":{}}}");
	CHECK_OK(json_merge_patch(J("{\"a\":\"foo\"}"), J("\"bar\""), &out));
	CHECK_JSON(out, "\"bar\"");
}

TEST(json_patch_ops)
{
	json_t *doc = J("{\"spec\":{\"replicas\":1,\"list\":[\"a\",\"c\"]},\"m\":{\"x/y\":1}}");
	json_t *out;
	char err[256];

	CHECK_OK(json_patch_apply(doc,
				  J("[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},"
				    "{\"op\":\"add\",\"path\":\"/spec/list/1\",\"value\":\"b\"},"
				    "{\"op\":\"add\",\"path\":\"/spec/list/-\",\"value\":\"d\"},"
				    "{\"op\":\"remove\",\"path\":\"/m/x~1y\"},"
				    "{\"op\":\"copy\",\"from\":\"/spec/replicas\",\"path\":\"/r\"},"
				    "{\"op\":\"move\",\"from\":\"/r\",\"path\":\"/m/r\"},"
				    "{\"op\":\"test\",\"path\":\"/m/r\",\"value\":3}]"),
				  err, sizeof(err), &out));
	CHECK_JSON(out, "{\"spec\":{\"replicas\":3,\"list\":[\"a\",\"b\",\"c\",\"d\"]},\"m\":{\"r\":3}}");
	/* The input is untouched. */
	CHECK_JSON(doc, "{\"spec\":{\"replicas\":1,\"list\":[\"a\",\"c\"]},\"m\":{\"x/y\":1}}");
}

TEST(json_patch_errors_name_the_operation)
{
	json_t *doc = J("{\"a\":{\"b\":1}}"), *out = NULL;
	char err[256] = "";

	CHECK_INT_EQ(json_patch_apply(doc, J("[{\"op\":\"remove\",\"path\":\"/nope\"}]"), err,
				      sizeof(err), &out), -ENOENT);
	CHECK_STR_CONTAINS(err, "/nope");
	CHECK_INT_EQ(json_patch_apply(doc, J("[{\"op\":\"test\",\"path\":\"/a/b\",\"value\":2}]"),
				      err, sizeof(err), &out), -EILSEQ);
	CHECK_INT_EQ(json_patch_apply(doc, J("[{\"op\":\"frob\",\"path\":\"/a\"}]"), err,
				      sizeof(err), &out), -EINVAL);
	CHECK_STR_CONTAINS(err, "unknown op \"frob\"");
	CHECK_INT_EQ(json_patch_apply(doc, J("{\"op\":\"add\"}"), err, sizeof(err), &out), -EINVAL);
	CHECK_INT_EQ(json_patch_apply(doc, J("[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":1}]"),
				      err, sizeof(err), &out), -ENOENT);
	CHECK_INT_EQ(json_patch_apply(doc, J("[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/x\"}]"),
				      err, sizeof(err), &out), -EINVAL);
}

TEST(smp_merges_containers_by_name)
{
	json_t *live = J("{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"a:1\",\"env\":"
			 "[{\"name\":\"X\",\"value\":\"1\"},{\"name\":\"Y\",\"value\":\"2\"}]},"
			 "{\"name\":\"b\",\"image\":\"b:1\"}]}}");
	json_t *out;
	char err[256];

	CHECK_OK(json_strategic_merge(live, J("{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":"
					      "\"b:2\"},{\"name\":\"a\",\"env\":[{\"name\":\"Y\",\"value\":\"3\"}]}]}}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"a:1\",\"env\":"
			"[{\"name\":\"X\",\"value\":\"1\"},{\"name\":\"Y\",\"value\":\"3\"}]},"
			"{\"name\":\"b\",\"image\":\"b:2\"}]}}");
}

TEST(smp_delete_replace_and_null)
{
	json_t *live = J("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"spec\":{\"containers\":"
			 "[{\"name\":\"a\",\"image\":\"a\"},{\"name\":\"b\",\"image\":\"b\"}],"
			 "\"tolerations\":[{\"key\":\"k\"}]}}");
	json_t *out;
	char err[256];

	CHECK_OK(json_strategic_merge(live,
				      J("{\"metadata\":{\"labels\":{\"a\":null}},\"spec\":{\"containers\":"
					"[{\"name\":\"a\",\"$patch\":\"delete\"}],\"tolerations\":[{\"key\":\"n\"}]}}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"metadata\":{\"labels\":{\"b\":\"2\"}},\"spec\":{\"containers\":"
			"[{\"name\":\"b\",\"image\":\"b\"}],\"tolerations\":[{\"key\":\"n\"}]}}");
	/* $patch: replace on a list and on a map. */
	CHECK_OK(json_strategic_merge(live,
				      J("{\"spec\":{\"containers\":[{\"name\":\"z\",\"image\":\"z\"},"
					"{\"$patch\":\"replace\"}]},\"metadata\":{\"labels\":{\"$patch\":"
					"\"replace\",\"c\":\"3\"}}}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"metadata\":{\"labels\":{\"c\":\"3\"}},\"spec\":{\"containers\":"
			"[{\"name\":\"z\",\"image\":\"z\"}],\"tolerations\":[{\"key\":\"k\"}]}}");
}

TEST(smp_ports_keys_and_order_directives)
{
	json_t *svc = J("{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"},{\"port\":443,\"name\":\"https\"}]}}");
	json_t *pod = J("{\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}]}");
	json_t *out;
	char err[256];

	/* Service ports merge on port, container ports on containerPort. */
	CHECK_OK(json_strategic_merge(svc, J("{\"spec\":{\"ports\":[{\"port\":443,\"targetPort\":8443}]}}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"},{\"port\":443,"
			"\"name\":\"https\",\"targetPort\":8443}]}}");
	CHECK_OK(json_strategic_merge(pod, J("{\"ports\":[{\"containerPort\":80,\"name\":\"web\"}]}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\",\"name\":\"web\"}]}");
	CHECK_OK(json_strategic_merge(svc, J("{\"spec\":{\"$setElementOrder/ports\":[{\"port\":443},"
					     "{\"port\":80}]}}"),
				      err, sizeof(err), &out));
	CHECK_JSON(out, "{\"spec\":{\"ports\":[{\"port\":443,\"name\":\"https\"},{\"port\":80,\"name\":\"http\"}]}}");
	CHECK_OK(json_strategic_merge(J("{\"s\":{\"a\":1,\"b\":2,\"c\":3}}"),
				      J("{\"s\":{\"$retainKeys\":[\"a\",\"d\"],\"d\":4}}"), err,
				      sizeof(err), &out));
	CHECK_JSON(out, "{\"s\":{\"a\":1,\"d\":4}}");
	CHECK_OK(json_strategic_merge(J("{\"finalizers\":[\"a\",\"b\"]}"),
				      J("{\"$deleteFromPrimitiveList/finalizers\":[\"a\"]}"), err,
				      sizeof(err), &out));
	CHECK_JSON(out, "{\"finalizers\":[\"b\"]}");
}

TEST(smp_rejects_bad_patches)
{
	json_t *out;
	char err[256] = "";

	CHECK_INT_EQ(json_strategic_merge(J("{}"), J("[1]"), err, sizeof(err), &out), -EINVAL);
	CHECK_INT_EQ(json_strategic_merge(J("{\"containers\":[{\"name\":\"a\"}]}"),
					  J("{\"containers\":[{\"image\":\"x\"}]}"), err, sizeof(err), &out),
		     -EINVAL);
	CHECK_STR_CONTAINS(err, "merge key \"name\"");
	CHECK_INT_EQ(json_strategic_merge(J("{}"), J("{\"a\":{\"$patch\":\"frob\"}}"), err,
					  sizeof(err), &out), -EINVAL);
	CHECK_STR_CONTAINS(err, "frob");
}
