/*
 * jsonb_to_json.h - a jsonb value as the validator's document, without a text round trip.
 */
#ifndef HUBLINK_JSONB_TO_JSON_H
#define HUBLINK_JSONB_TO_JSON_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonschema/jsonschema.h"

/*
 * The document js_parse would make of the jsonb's text form (JsonbToCString), built straight
 * from the jsonb. The limits apply as js_parse applies them to that text: when it would be
 * longer than max_document_bytes, or nest deeper than max_depth, the result is NULL and
 * *problem is set (palloc'd, the words js_parse uses). A JSON null is NULL with no problem.
 * The caller releases the document with js_json_free.
 */
extern struct json_object *hublink_jsonb_to_json(Jsonb *jb, const js_limits *limits,
												 char **problem);

#endif /* HUBLINK_JSONB_TO_JSON_H */
