/*
 * bench.c - throughput of js_parse + js_validate on the project's message examples.
 *
 *   bench SCHEMAS_DIR [ITERATIONS]
 *
 * Registers every SCHEMAS_DIR/NAME.json under its $id, compiles the schema of each example in
 * SCHEMAS_DIR/examples/NAME.json, checks that the example is valid, then times ITERATIONS rounds
 * of parse + validate over all examples and prints microseconds per message. The invalid
 * examples (SCHEMAS_DIR/examples/invalid/TYPE.CASE.json) are validated once and their errors
 * printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonschema.h"
#include "test_files.h"

typedef struct example
{
	char *name;
	char *text;
	size_t len;
	js_schema *schema;
} example;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static js_schema *
schema_for(js_registry *reg, const char *dir, const char *type)
{
	char path[4096], *err = NULL;
	js_doc *doc;
	js_schema *s;

	snprintf(path, sizeof(path), "%s/%s.json", dir, type);
	doc = test_load_json(path, NULL);
	if (doc == NULL)
		return NULL;
	s = js_compile(reg, doc, NULL, &err);
	if (s == NULL)
		fprintf(stderr, "%s: %s\n", path, err);
	free(err);
	js_doc_free(doc);
	return s;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "schemas";
	long iterations = argc > 2 ? atol(argv[2]) : 20000;
	js_registry *reg = js_registry_new();
	example ex[64];
	int n_ex = 0, bad = 0;
	char path[4096];
	DIR *d;
	struct dirent *e;
	double t0, t1;
	size_t bytes = 0;

	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL)
	{
		js_doc *doc;
		const char *id;
		char *err = NULL;

		if (strstr(e->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		doc = test_load_json(path, NULL);
		if (doc && (id = js_string_member(js_doc_root(doc), "$id")) != NULL &&
			js_registry_add(reg, id, doc, &err) != 0)
		{
			fprintf(stderr, "%s: %s\n", path, err);
			free(err);
		}
		js_doc_free(doc);
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/examples", dir);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL && n_ex < 64)
	{
		char *dot = strstr(e->d_name, ".json");
		example *x = &ex[n_ex];

		if (dot == NULL || dot[5] != '\0')
			continue;
		x->name = strndup(e->d_name, (size_t) (dot - e->d_name));
		snprintf(path, sizeof(path), "%s/examples/%s", dir, e->d_name);
		x->text = test_read_file(path, &x->len);
		x->schema = schema_for(reg, dir, x->name);
		if (x->text == NULL || x->schema == NULL)
		{
			free(x->name);
			free(x->text);
			js_schema_free(x->schema);
			bad++;
			continue;
		}
		n_ex++;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n_ex; i++)
	{
		char *err = NULL;
		js_doc *o = js_parse(ex[i].text, ex[i].len, NULL, &err);
		js_result r;

		js_validate(ex[i].schema, js_doc_root(o), &r);
		printf("%-28s %6zu bytes  %s\n", ex[i].name, ex[i].len, r.valid ? "valid" : "INVALID");
		for (int k = 0; k < r.n_errors; k++)
			printf("    %s: %s (%s)\n", r.errors[k].instance_location, r.errors[k].message,
				   r.errors[k].keyword_location);
		bad += !r.valid;
		bytes += ex[i].len;
		js_result_clear(&r);
		js_doc_free(o);
		free(err);
	}
	/* the invalid examples: show the errors a sender would get */
	snprintf(path, sizeof(path), "%s/examples/invalid", dir);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL)
	{
		char *dot = strchr(e->d_name, '.'), type[256], *text, *err = NULL;
		size_t len;
		js_doc *o;
		js_schema *s;
		js_result r;

		if (dot == NULL || strstr(e->d_name, ".json") == NULL)
			continue;
		snprintf(type, sizeof(type), "%.*s", (int) (dot - e->d_name), e->d_name);
		snprintf(path, sizeof(path), "%s/examples/invalid/%s", dir, e->d_name);
		text = test_read_file(path, &len);
		s = schema_for(reg, dir, type);
		o = text ? js_parse(text, len, NULL, &err) : NULL;
		if (s && o)
		{
			js_validate(s, js_doc_root(o), &r);
			printf("invalid/%-40s %s\n", e->d_name, r.valid ? "VALID (unexpected)" : "invalid");
			for (int k = 0; k < r.n_errors; k++)
				printf("    %s: %s (%s)\n", r.errors[k].instance_location, r.errors[k].message,
					   r.errors[k].keyword_location);
			js_result_clear(&r);
		}
		else if (err)
			printf("invalid/%-40s parse error: %s\n", e->d_name, err);
		js_doc_free(o);
		js_schema_free(s);
		free(text);
		free(err);
	}
	if (d)
		closedir(d);

	t0 = now();
	for (long it = 0; it < iterations; it++)
	{
		for (int i = 0; i < n_ex; i++)
		{
			char *err = NULL;
			js_doc *o = js_parse(ex[i].text, ex[i].len, NULL, &err);
			js_result r;

			js_validate(ex[i].schema, js_doc_root(o), &r);
			js_result_clear(&r);
			js_doc_free(o);
		}
	}
	t1 = now();
	printf("parse+validate: %d messages (avg %zu bytes) x %ld: %.2f us/message\n", n_ex,
		   n_ex ? bytes / (size_t) n_ex : 0, iterations,
		   (t1 - t0) * 1e6 / ((double) iterations * n_ex));
	t0 = now();
	for (long it = 0; it < iterations; it++)
	{
		for (int i = 0; i < n_ex; i++)
		{
			char *err = NULL;
			js_doc *o = js_parse(ex[i].text, ex[i].len, NULL, &err);

			js_doc_free(o);
		}
	}
	t1 = now();
	printf("parse only:     %.2f us/message\n", (t1 - t0) * 1e6 / ((double) iterations * n_ex));
	for (int i = 0; i < n_ex; i++)
	{
		free(ex[i].name);
		free(ex[i].text);
		js_schema_free(ex[i].schema);
	}
	js_registry_free(reg);
	return bad ? 1 : 0;
}
