/*
 * bench_validate.c - hublink's C core side of the validation benchmark: parse + validate per
 * message, schemas compiled once.
 *
 * Usage: bench_validate SCHEMAS_DIR CORPUS VERDICTS_OUT ROUNDS
 * Prints "c-core <validations per second>" and writes one verdict per line (1 valid, 0 not).
 * Which schema serves which messageType is read from SCHEMAS_DIR/examples/<name>.json.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonschema/jsonschema.h"
#include "test_files.h"

#define MAX_TYPES 64

typedef struct
{
	char *message_type;
	js_schema *schema;
} type_schema;

/* A file we cannot use ends the benchmark. */
static js_doc *
load_json(const char *path)
{
	js_limits limits;
	js_doc *doc;

	js_limits_default(&limits);
	doc = test_load_json(path, &limits);
	if (doc == NULL)
		exit(2);
	return doc;
}

static int
is_json_file(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

int
main(int argc, char **argv)
{
	const char *dir = argv[1];
	type_schema types[MAX_TYPES];
	int n_types = 0;
	js_registry *reg = js_registry_new();
	js_limits limits;
	char path[4096];
	DIR *d;
	struct dirent *e;
	size_t corpus_len;
	char *corpus;
	char **lines = NULL;
	size_t n_lines = 0, cap = 0;
	unsigned char *verdicts;
	int rounds;
	struct timespec t0, t1;
	double seconds;
	FILE *out;

	if (argc != 5)
	{
		fprintf(stderr, "usage: bench_validate SCHEMAS_DIR CORPUS VERDICTS_OUT ROUNDS\n");
		return 2;
	}
	rounds = atoi(argv[4]);
	js_limits_default(&limits);
	limits.format_assertion = true;
	limits.max_errors = 1; /* stop at the first problem, as ajv does without allErrors */

	/* Every schema file is reachable by its $id, as in the database's registry. */
	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL)
	{
		js_doc *doc;
		const char *id;
		char *err = NULL;

		if (!is_json_file(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		doc = load_json(path);
		if ((id = js_string_member(js_doc_root(doc), "$id")) != NULL &&
			js_registry_add(reg, id, doc, &err) != 0)
		{
			fprintf(stderr, "%s: %s\n", path, err);
			return 2;
		}
		js_doc_free(doc);
	}
	if (d)
		closedir(d);

	snprintf(path, sizeof(path), "%s/examples", dir);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL && n_types < MAX_TYPES)
	{
		js_doc *example, *schema;
		char *err = NULL;

		if (!is_json_file(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/examples/%s", dir, e->d_name);
		example = load_json(path);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		schema = load_json(path);
		types[n_types].message_type = strdup(js_string_member(js_doc_root(example), "messageType"));
		types[n_types].schema = js_compile(reg, schema, &limits, &err);
		if (types[n_types].schema == NULL)
		{
			fprintf(stderr, "%s: %s\n", path, err);
			return 2;
		}
		n_types++;
		js_doc_free(example);
		js_doc_free(schema);
	}
	if (d)
		closedir(d);

	corpus = test_read_file(argv[2], &corpus_len);
	if (corpus == NULL)
	{
		fprintf(stderr, "cannot read %s\n", argv[2]);
		return 2;
	}
	for (char *p = corpus, *nl; *p; p = nl + 1)
	{
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		if (n_lines == cap)
		{
			cap = cap ? cap * 2 : 1024;
			lines = realloc(lines, cap * sizeof(char *));
		}
		lines[n_lines++] = p;
	}
	verdicts = calloc(n_lines, 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < rounds; r++)
	{
		for (size_t i = 0; i < n_lines; i++)
		{
			char *err = NULL;
			js_doc *doc = js_parse(lines[i], strlen(lines[i]), &limits, &err);
			const char *type;
			const js_schema *schema = NULL;
			js_result result;

			verdicts[i] = 0;
			if (doc == NULL)
			{
				free(err);
				continue;
			}
			type = js_string_member(js_doc_root(doc), "messageType");
			for (int t = 0; type && t < n_types; t++)
				if (strcmp(types[t].message_type, type) == 0)
					schema = types[t].schema;
			if (schema && js_validate(schema, js_doc_root(doc), &result) == 0)
			{
				verdicts[i] = result.valid;
				js_result_clear(&result);
			}
			js_doc_free(doc);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	seconds = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;

	out = fopen(argv[3], "w");
	for (size_t i = 0; i < n_lines; i++)
		fprintf(out, "%d\n", verdicts[i]);
	fclose(out);
	printf("c-core %.0f\n", (double) n_lines * rounds / seconds);

	for (int t = 0; t < n_types; t++)
	{
		js_schema_free(types[t].schema);
		free(types[t].message_type);
	}
	js_registry_free(reg);
	free(verdicts);
	free(lines);
	free(corpus);
	return 0;
}
