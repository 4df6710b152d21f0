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
 * *problem is set (palloc'd, the words js_parse uses). The caller releases the document with
 * js_doc_free (it is malloc'd: release it before anything that can ereport).
 */
extern js_doc *hublink_jsonb_to_doc(Jsonb *jb, const js_limits *limits, char **problem);

#endif /* HUBLINK_JSONB_TO_JSON_H */
