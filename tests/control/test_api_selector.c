/* Label and field selectors (lib/kube_selector). */
#include <errno.h>
#include <jansson.h>

#include "lib/kube_selector.h"
#include "tests/harness/test.h"

static bool match(const char *sel, const char *labels)
{
	struct kube_selector *s = NULL;
	json_t *l = json_loads(labels, 0, NULL);
	bool ok;

	if (kube_label_selector_parse(sel, &s, NULL, 0) < 0)
		test_fail(__FILE__, __LINE__, "selector %s did not parse", sel);
	ok = kube_selector_match_labels(s, l);
	kube_selector_free(s);
	json_decref(l);
	return ok;
}

TEST(label_selector_operators)
{
	const char *l = "{\"app\":\"web\",\"tier\":\"front\",\"env\":\"prod\"}";

	CHECK(match("", l));
	CHECK(match("app=web", l));
	CHECK(match("app==web,tier=front", l));
	CHECK(!match("app=api", l));
	CHECK(match("app!=api", l));
	CHECK(!match("app!=web", l));
	CHECK(match("env in (prod, staging)", l));
	CHECK(!match("env notin (prod)", l));
	CHECK(match("tier", l));
	CHECK(!match("!tier", l));
	CHECK(match("!missing", l));
	CHECK(match("missing!=x", l));
	CHECK(!match("missing in (x)", l));
	CHECK(match("missing notin (x)", l));
	CHECK(match(" app = web , env in (a,prod) ", l));
	CHECK(match("example.com/role!=db", l));
}

TEST(label_selector_syntax_errors)
{
	static const char *const bad[] = { "a in (", "a in b", ",", "a,", "a=b c", "=b",
					   "-a=b", "a=-b-", "a notin x", "a=(b)", "!a=b" };
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kube_selector *s = NULL;

		err[0] = 0;
		if (kube_label_selector_parse(bad[i], &s, err, sizeof(err)) != -EINVAL)
			test_fail(__FILE__, __LINE__, "selector \"%s\" accepted", bad[i]);
		CHECK(err[0] != 0);
	}
}

TEST(field_selector_matches_paths)
{
	json_t *pod = json_loads("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},"
				 "\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"phase\":\"Running\"}}",
				 0, NULL);
	struct kube_selector *s = NULL;

	CHECK_OK(kube_field_selector_parse("metadata.name=p,spec.nodeName!=n2,status.phase==Running",
					   &s, NULL, 0));
	CHECK(kube_selector_match_fields(s, pod));
	kube_selector_free(s);
	CHECK_OK(kube_field_selector_parse("spec.nodeName=", &s, NULL, 0));
	CHECK(!kube_selector_match_fields(s, pod));
	kube_selector_free(s);
	/* Absent fields compare as "". */
	CHECK_OK(kube_field_selector_parse("spec.hostname=", &s, NULL, 0));
	CHECK(kube_selector_match_fields(s, pod));
	kube_selector_free(s);
	CHECK_INT_EQ(kube_field_selector_parse("spec.nodeName", &s, NULL, 0), -EINVAL);
	CHECK_INT_EQ(kube_field_selector_parse("a in (b)", &s, NULL, 0), -EINVAL);
	json_decref(pod);
}

TEST(selector_from_label_selector_object)
{
	json_t *ls = json_loads("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":"
				"[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
				"{\"key\":\"x\",\"operator\":\"DoesNotExist\"}]}", 0, NULL);
	json_t *yes = json_loads("{\"app\":\"web\",\"env\":\"b\"}", 0, NULL);
	json_t *no = json_loads("{\"app\":\"web\",\"env\":\"b\",\"x\":\"1\"}", 0, NULL);
	struct kube_selector *s = NULL;

	CHECK_OK(kube_selector_from_json(ls, &s));
	CHECK(kube_selector_match_labels(s, yes));
	CHECK(!kube_selector_match_labels(s, no));
	kube_selector_free(s);
	json_decref(ls);
	json_decref(yes);
	json_decref(no);
}
