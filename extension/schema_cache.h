/*
 * schema_cache.h - this backend's compiled schemas, rebuilt when the registry tables change.
 */
#ifndef HUBLINK_SCHEMA_CACHE_H
#define HUBLINK_SCHEMA_CACHE_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

#include "jsonschema/jsonschema.h"

/* The limits of the hublink.* settings, for parsing messages. */
extern void hublink_message_limits(js_limits *limits);

/*
 * The compiled schema for (message_type, schema_version), or NULL with *problem set to a
 * palloc'd, lower-case sentence when there is no active schema for them.
 */
extern const js_schema *hublink_message_schema(const char *message_type, const char *schema_version,
											   char **problem);

/*
 * A compiled ad-hoc schema given as JSON text, resolved against the registered documents.
 * Errors (not a schema, unresolvable $ref) are raised with ereport.
 */
extern const js_schema *hublink_adhoc_schema(const char *schema_text, size_t len);

/*
 * The same for a schema given as jsonb, kept per call site in flinfo->fn_extra (flinfo may be
 * NULL) and keyed by the argument's bytes: no text is made of it once it is compiled.
 */
extern const js_schema *hublink_adhoc_schema_jsonb(FmgrInfo *flinfo, Jsonb *schema);

#endif /* HUBLINK_SCHEMA_CACHE_H */
