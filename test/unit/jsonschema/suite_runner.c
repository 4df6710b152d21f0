/*
 * suite_runner.c - runs the official JSON-Schema-Test-Suite against the validator.
 *
 *   suite-runner SUITE_DIR draft2020-12|draft7 [--format] [--allow-failures FILE] [-v]
 *
 * Every file under SUITE_DIR/remotes is registered at http://localhost:1234/<path> (no
 * network). Without --format it runs every required test (tests/<draft>/NAME.json) with format
 * as an annotation; with --format it runs tests/<draft>/optional/format/{date-time, date, time,
 * email, uuid, uri, uri-reference, ipv4, ipv6}.json with format asserted. It prints
 * "file: N passed, M failed" per file, each failure, and a closing line "<draft>: N passed,
 * M failed". With --optional it runs the optional tests instead (tests/<draft>/optional/NAME.json,
 * then every optional/format file with format asserted): informational. Exit status 1 when a test
 * fails that the allow-failures file does not list (one "file | group description | test
 * description" per line, # comments).
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonschema.h"
#include "test_files.h"

static js_limits limits;
static char **allowed;
static int n_allowed;
static bool verbose;

static int
register_remotes(js_registry *reg, const char *dir, const char *rel)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int count = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		char path[4096], relpath[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(relpath, sizeof(relpath), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			count += register_remotes(reg, path, relpath);
		else if (strlen(e->d_name) > 5 && strcmp(e->d_name + strlen(e->d_name) - 5, ".json") == 0)
		{
			js_doc *doc = test_load_json(path, &limits);
			char uri[4200], *err = NULL;

			if (doc == NULL)
				continue;
			snprintf(uri, sizeof(uri), "http://localhost:1234/%s", relpath);
			if (js_registry_add(reg, uri, doc, &err) != 0)
			{
				fprintf(stderr, "%s: %s\n", uri, err);
				free(err);
			}
			else
				count++;
			js_doc_free(doc);
		}
	}
	closedir(d);
	return count;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
load_allowed(const char *path)
{
	size_t len;
	char *text = test_read_file(path, &len);
	char *line, *save = NULL;

	if (text == NULL)
	{
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		if (line[0] == '#' || line[0] == '\0')
			continue;
		allowed = realloc(allowed, (size_t) (n_allowed + 1) * sizeof(char *));
		allowed[n_allowed++] = strdup(line);
	}
	free(text);
}

static bool
is_allowed(const char *id)
{
	for (int i = 0; i < n_allowed; i++)
	{
		if (strcmp(allowed[i], id) == 0)
			return true;
	}
	return false;
}

typedef struct totals
{
	int passed, failed, unexpected;
} totals;

/*
 * A group's schema as a document of its own (js_compile takes a document); for draft7, an
 * object schema without "$schema" gets draft-07's, as the suite means.
 */
static js_doc *
schema_doc(const js_value *schema, bool draft7)
{
	js_builder *b = js_builder_new(4096);
	const char *d7 = "http://json-schema.org/draft-07/schema#";

	if (b == NULL)
		return NULL;
	if (draft7 && schema->type == JS_OBJECT && js_object_get(schema, "$schema") == NULL)
	{
		js_builder_begin_object(b);
		js_builder_key(b, "$schema", 7);
		js_builder_string(b, d7, strlen(d7));
		for (uint32_t i = 0; i < schema->len; i++)
		{
			js_builder_key(b, schema->u.members[i].key, schema->u.members[i].klen);
			js_builder_value(b, &schema->u.members[i].val);
		}
		js_builder_end(b);
	}
	else
		js_builder_value(b, schema);
	return js_builder_finish(b);
}

static void
run_file(js_registry *reg, const char *path, const char *name, const char *draft, totals *t)
{
	js_doc *doc = test_load_json(path, &limits);
	const js_value *groups = doc ? js_doc_root(doc) : NULL;
	int passed = 0, failed = 0;

	if (groups == NULL || groups->type != JS_ARRAY)
	{
		printf("%s: unreadable\n", name);
		t->failed++;
		t->unexpected++;
		js_doc_free(doc);
		return;
	}
	for (uint32_t g = 0; g < groups->len; g++)
	{
		const js_value *group = &groups->u.items[g];
		const js_value *schema = js_object_get(group, "schema");
		const js_value *tests = js_object_get(group, "tests");
		const char *gd = js_string_member(group, "description");
		js_doc *sdoc = schema ? schema_doc(schema, strcmp(draft, "draft7") == 0) : NULL;
		js_schema *s;
		char *err = NULL;

		s = sdoc ? js_compile(reg, sdoc, &limits, &err) : NULL;
		js_doc_free(sdoc);
		for (uint32_t i = 0; tests && i < tests->len; i++)
		{
			const js_value *test = &tests->u.items[i];
			const js_value *data = js_object_get(test, "data");
			const js_value *valid = js_object_get(test, "valid");
			const char *td = js_string_member(test, "description");
			js_result r;
			bool ok;
			char id[2048];

			snprintf(id, sizeof(id), "%s | %s | %s", name, gd ? gd : "", td ? td : "");
			if (s == NULL)
				ok = false;
			else
			{
				js_validate(s, data, &r);
				ok = valid && r.valid == valid->b;
				if ((!ok || verbose) && !r.valid)
				{
					for (int k = 0; k < r.n_errors; k++)
						printf("      error %s at \"%s\" (%s)\n", r.errors[k].message,
							   r.errors[k].instance_location, r.errors[k].keyword_location);
				}
				js_result_clear(&r);
			}
			if (ok)
				passed++;
			else
			{
				bool allow = is_allowed(id);

				failed++;
				if (!allow)
					t->unexpected++;
				printf("  FAIL%s %s%s%s\n", allow ? " (allowed)" : "", id,
					   s ? "" : " -- schema did not compile: ", s ? "" : err);
			}
		}
		free(err);
		js_schema_free(s);
	}
	printf("%s: %d passed, %d failed\n", name, passed, failed);
	t->passed += passed;
	t->failed += failed;
	js_doc_free(doc);
}

int
main(int argc, char **argv)
{
	const char *suite = NULL, *draft = NULL;
	bool format = false, optional = false;
	char path[4096];
	js_registry *reg;
	totals t = {0, 0, 0};

	js_limits_default(&limits);
	limits.max_document_bytes = 0;
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--format") == 0)
			format = true;
		else if (strcmp(argv[i], "--optional") == 0)
			optional = true;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--allow-failures") == 0 && i + 1 < argc)
			load_allowed(argv[++i]);
		else if (suite == NULL)
			suite = argv[i];
		else if (draft == NULL)
			draft = argv[i];
		else
		{
			suite = NULL;
			break;
		}
	}
	if (suite == NULL || draft == NULL ||
		(strcmp(draft, "draft2020-12") != 0 && strcmp(draft, "draft7") != 0))
	{
		fprintf(stderr,
				"usage: %s SUITE_DIR draft2020-12|draft7 [--format] "
				"[--allow-failures FILE] [-v]\n",
				argv[0]);
		return 2;
	}
	limits.format_assertion = format;
	reg = js_registry_new();
	snprintf(path, sizeof(path), "%s/remotes", suite);
	if (register_remotes(reg, path, "") == 0)
		fprintf(stderr, "warning: no remotes registered from %s\n", path);
	if (optional)
	{
		const char *subdirs[] = {"optional", "optional/format"};

		for (int k = 0; k < 2; k++)
		{
			DIR *d;
			struct dirent *e;
			char **names = NULL;
			int n = 0;

			limits.format_assertion = k == 1;
			snprintf(path, sizeof(path), "%s/tests/%s/%s", suite, draft, subdirs[k]);
			d = opendir(path);
			while (d && (e = readdir(d)) != NULL)
			{
				size_t l = strlen(e->d_name);

				if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
				{
					names = realloc(names, (size_t) (n + 1) * sizeof(char *));
					names[n++] = strdup(e->d_name);
				}
			}
			if (d)
				closedir(d);
			qsort(names, (size_t) n, sizeof(char *), cmp_str);
			for (int i = 0; i < n; i++)
			{
				char fpath[8192], name[512];

				snprintf(fpath, sizeof(fpath), "%s/%s", path, names[i]);
				snprintf(name, sizeof(name), "%s/%s", subdirs[k], names[i]);
				run_file(reg, fpath, name, draft, &t);
				free(names[i]);
			}
			free(names);
		}
	}
	else if (format)
	{
		static const char *formats[] = {"date-time", "date",          "time", "email", "uuid",
										"uri",       "uri-reference", "ipv4", "ipv6"};

		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		{
			char name[256];
			struct stat st;

			snprintf(name, sizeof(name), "optional/format/%s.json", formats[i]);
			snprintf(path, sizeof(path), "%s/tests/%s/%s", suite, draft, name);
			if (stat(path, &st) != 0)
			{
				printf("%s: not in this draft\n", name);
				continue;
			}
			run_file(reg, path, name, draft, &t);
		}
	}
	else
	{
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		int n = 0;

		snprintf(path, sizeof(path), "%s/tests/%s", suite, draft);
		d = opendir(path);
		if (d == NULL)
		{
			fprintf(stderr, "cannot open %s\n", path);
			js_registry_free(reg);
			return 2;
		}
		while ((e = readdir(d)) != NULL)
		{
			size_t l = strlen(e->d_name);

			if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			{
				names = realloc(names, (size_t) (n + 1) * sizeof(char *));
				names[n++] = strdup(e->d_name);
			}
		}
		closedir(d);
		qsort(names, (size_t) n, sizeof(char *), cmp_str);
		for (int i = 0; i < n; i++)
		{
			char fpath[8192];

			snprintf(fpath, sizeof(fpath), "%s/%s", path, names[i]);
			run_file(reg, fpath, names[i], draft, &t);
			free(names[i]);
		}
		free(names);
	}
	js_registry_free(reg);
	for (int i = 0; i < n_allowed; i++)
		free(allowed[i]);
	free(allowed);
	printf("%s: %d passed, %d failed\n", draft, t.passed, t.failed);
	return t.unexpected ? 1 : 0;
}
