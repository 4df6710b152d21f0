/*
 * test_files.h - reading files in the C test programs and benchmarks (suite runner, bench,
 * bench_validate): one implementation instead of one per program.
 */
#ifndef HUBLINK_TEST_FILES_H
#define HUBLINK_TEST_FILES_H

#include <stddef.h>

#include "jsonschema.h"

/* The whole file, NUL-terminated, malloc'd; NULL when it cannot be read. */
char *test_read_file(const char *path, size_t *len);

/* The file parsed with js_parse under limits (NULL: defaults); NULL, with a message on stderr,
 * when it cannot be read or parsed. */
js_doc *test_load_json(const char *path, const js_limits *limits);

#endif /* HUBLINK_TEST_FILES_H */
