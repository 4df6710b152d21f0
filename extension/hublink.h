/*
 * hublink.h - what the extension's C files share: settings and the hooks _PG_init wires.
 */
#ifndef HUBLINK_H
#define HUBLINK_H

#include "postgres.h"

/* True when the library was loaded through shared_preload_libraries. */
extern bool hublink_preloaded;

/* Settings of the message validator (extension/settings.c). */
extern int hublink_max_message_bytes;
extern int hublink_max_json_depth;
extern int hublink_max_validation_errors;
extern bool hublink_jsonschema_format_assertion;

extern void hublink_define_settings(void);

/* hublink.restoring: the session restores a dump (extension/restoring.c). */
extern bool hublink_restoring;
extern void hublink_define_restoring_setting(void);

/* The schema cache's invalidation hook (extension/schema_cache.c). */
extern void hublink_schema_cache_init(void);

/*
 * The background worker's entry points (bgworker/). hublink_worker_define_settings defines
 * the worker's hublink.* settings; hublink_worker_register registers the worker and requests
 * its shared memory. Both run from _PG_init, only when preloaded.
 */
extern void hublink_worker_define_settings(void);
extern void hublink_worker_register(void);

#endif /* HUBLINK_H */
