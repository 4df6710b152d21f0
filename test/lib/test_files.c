/*
 * test_files.c - see test_files.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test_files.h"

char *
test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		(buf = malloc((size_t) size + 1)) != NULL)
	{
		if (fread(buf, 1, (size_t) size, f) == (size_t) size)
		{
			buf[size] = '\0';
			*len = (size_t) size;
		}
		else
		{
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

js_doc *
test_load_json(const char *path, const js_limits *limits)
{
	size_t len;
	char *text = test_read_file(path, &len);
	char *err = NULL;
	js_doc *doc;

	if (text == NULL)
	{
		fprintf(stderr, "cannot read %s\n", path);
		return NULL;
	}
	doc = js_parse(text, len, limits, &err);
	if (doc == NULL && err != NULL)
		fprintf(stderr, "%s: %s\n", path, err);
	free(err);
	free(text);
	return doc;
}
