/* YAML -> JSON: scalar typing, streams, lists, errors with line:column. */
#include "tests/harness/test.h"
#include "lib/yamljson.h"

#include <errno.h>

static json_t *parse_ok(const char *text)
{
	struct yamljson_error err;
	json_t *docs = NULL;
	int r = yamljson_parse(text, strlen(text), &docs, &err);

	if (r < 0)
		test_fail(__FILE__, __LINE__, "parse failed: %d:%d: %s", err.line, err.column, err.msg);
	return docs;
}

static char *dump(json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

TEST(yaml_scalars_typed_like_json)
{
	json_t *docs = parse_ok("i: 42\nneg: -7\nhex: 0x1f\noct: 0o17\nf: 1.5\ne: 1e3\n"
				"t: true\nF: False\nn: null\ntilde: ~\nempty:\n"
				"qs: \"42\"\nsq: 'true'\nstr: hello world\nver: 1.2.3\n"
				"forced: !!str 80\nlit: |\n  a\n  b\n");
	json_t *o = json_array_get(docs, 0);

	CHECK(json_is_integer(json_object_get(o, "i")));
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "i")), 42);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "neg")), -7);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "hex")), 31);
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "oct")), 15);
	CHECK(json_is_real(json_object_get(o, "f")));
	CHECK(json_real_value(json_object_get(o, "f")) == 1.5);
	CHECK(json_real_value(json_object_get(o, "e")) == 1000.0);
	CHECK(json_is_true(json_object_get(o, "t")));
	CHECK(json_is_false(json_object_get(o, "F")));
	CHECK(json_is_null(json_object_get(o, "n")));
	CHECK(json_is_null(json_object_get(o, "tilde")));
	CHECK(json_is_null(json_object_get(o, "empty")));
	CHECK_STR_EQ(json_string_value(json_object_get(o, "qs")), "42");
	CHECK_STR_EQ(json_string_value(json_object_get(o, "sq")), "true");
	CHECK_STR_EQ(json_string_value(json_object_get(o, "str")), "hello world");
	CHECK_STR_EQ(json_string_value(json_object_get(o, "ver")), "1.2.3");
	CHECK_STR_EQ(json_string_value(json_object_get(o, "forced")), "80");
	CHECK_STR_EQ(json_string_value(json_object_get(o, "lit")), "a\nb\n");
	json_decref(docs);
}

TEST(yaml_block_and_flow_styles_nest)
{
	json_t *docs = parse_ok("spec:\n  ports:\n  - {name: http, port: 80}\n  - name: dns\n"
				"    port: 53\n  ips: [10.0.0.1, \"fd00::1\"]\n");
	char *s = dump(docs);

	CHECK_STR_EQ(s, "[{\"spec\":{\"ips\":[\"10.0.0.1\",\"fd00::1\"],\"ports\":"
			"[{\"name\":\"http\",\"port\":80},{\"name\":\"dns\",\"port\":53}]}}]");
	free(s);
	json_decref(docs);
}

TEST(yaml_multi_document_stream)
{
	json_t *docs = parse_ok("a: 1\n---\nb: 2\n---\n---\nc: [1]\n...\n");

	CHECK_INT_EQ(json_array_size(docs), 4);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(docs, 1), "b")), 2);
	CHECK(json_is_null(json_array_get(docs, 2)));
	json_decref(docs);
}

TEST(yaml_json_text_parses)
{
	json_t *docs = parse_ok("{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80}]}}");
	char *s = dump(docs);

	CHECK_STR_EQ(s, "[{\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":80}]}}]");
	free(s);
	json_decref(docs);
}

TEST(yaml_objects_flatten_list_and_drop_empty)
{
	const char *text = "kind: List\nitems:\n- kind: Service\n- kind: EndpointSlice\n---\n"
			   "---\nkind: Service\nmetadata: {name: x}\n";
	struct yamljson_error err;
	json_t *objs = NULL;

	CHECK_OK(yamljson_parse_objects(text, strlen(text), &objs, &err));
	CHECK_INT_EQ(json_array_size(objs), 3);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(objs, 1), "kind")),
		     "EndpointSlice");
	json_decref(objs);

	text = "- 1\n- 2\n";
	CHECK_INT_EQ(yamljson_parse_objects(text, strlen(text), &objs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "document 1: expected an object");
}

TEST(yaml_syntax_error_has_line_and_column)
{
	const char *text = "a: 1\nb: [1, 2\nc: 3\n";
	struct yamljson_error err;
	json_t *docs = NULL;

	CHECK_INT_EQ(yamljson_parse(text, strlen(text), &docs, &err), -EINVAL);
	CHECK(docs == NULL);
	CHECK_INT_EQ(err.line, 3);
	CHECK(err.column >= 1);
	CHECK(err.msg[0] != '\0');

	text = "a: 1\n  b: 2\n";
	CHECK_INT_EQ(yamljson_parse(text, strlen(text), &docs, &err), -EINVAL);
	CHECK_INT_EQ(err.line, 2);
}

TEST(yaml_duplicate_key_and_complex_key_rejected)
{
	const char *text = "metadata:\n  name: a\n  name: b\n";
	struct yamljson_error err;
	json_t *docs = NULL;

	CHECK_INT_EQ(yamljson_parse(text, strlen(text), &docs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "duplicate key \"name\"");
	CHECK_INT_EQ(err.line, 3);

	text = "? [a]\n: 1\n";
	CHECK_INT_EQ(yamljson_parse(text, strlen(text), &docs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "mapping key must be a scalar");
}

TEST(yaml_aliases_expand_and_bombs_stop)
{
	json_t *docs = parse_ok("base: &b {port: 80}\ncopy: *b\n");
	json_t *o = json_array_get(docs, 0);

	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(o, "copy"), "port")), 80);
	json_decref(docs);

	/* 10 levels of 10 aliases each: 10^10 nodes. */
	char text[2048];
	size_t n = (size_t)snprintf(text, sizeof(text), "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
	for (int i = 1; i < 10; i++) {
		int p = i - 1;
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n",
				      i, i, p, p, p, p, p, p, p, p, p, p);
	}
	struct yamljson_error err;
	CHECK_INT_EQ(yamljson_parse(text, n, &docs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "expands to more than");

	const char *unknown = "a: *nope\n";
	CHECK_INT_EQ(yamljson_parse(unknown, strlen(unknown), &docs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "unknown alias");
}

TEST(yaml_bad_tagged_value_rejected)
{
	const char *text = "port: !!int eighty\n";
	struct yamljson_error err;
	json_t *docs = NULL;

	CHECK_INT_EQ(yamljson_parse(text, strlen(text), &docs, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "does not match its tag");
	CHECK_INT_EQ(err.line, 1);
}

/* What yamljson_emit writes reads back as the same JSON: strings that look
 * like numbers, booleans or null stay strings; nesting, empties, odd keys. */
TEST(yaml_emit_round_trips)
{
	const char *in = "{\"apiVersion\":\"v1\",\"clusters\":[{\"cluster\":{\"server\":"
			 "\"https://10.0.0.1:6443\",\"certificate-authority-data\":\"LS0t\"},"
			 "\"name\":\"skiff\"}],\"s\":[\"42\",\"true\",\"null\",\"\",\"1.5\",\"a: b\","
			 "\"- x\",\"line\\nbreak\",\"# not a comment\"],\"n\":7,\"f\":1.5,\"b\":false,"
			 "\"z\":null,\"e\":{},\"ea\":[],\"42\":\"key\",\"current-context\":\"\"}";
	json_t *v = json_loads(in, 0, NULL), *docs;
	char *yaml = NULL, *a, *b;
	size_t len = 0;

	CHECK(v != NULL);
	CHECK_INT_EQ(yamljson_emit(v, &yaml, &len), 0);
	CHECK_INT_EQ(len, strlen(yaml));
	docs = parse_ok(yaml);
	a = dump(v);
	b = dump(json_array_get(docs, 0));
	CHECK_STR_EQ(b, a);
	CHECK(strstr(yaml, "name: skiff") != NULL); /* block style, plain where plain reads back */
	free(a);
	free(b);
	free(yaml);
	json_decref(docs);
	json_decref(v);
}
