/*
 * security.h - protective monitoring (docs/security-monitoring.md, NFR 0014, NFR 0020 3a-e):
 * a ring of security events in shared memory that survives the rollback of whatever caused
 * the event, the logon hook (logon events, lock-out, the login warning) and the role DDL hook.
 */
#ifndef HUBLINK_SECURITY_H
#define HUBLINK_SECURITY_H

#include "postgres.h"

/* Longest kind of event: an identifier, like a role name. */
#define SECURITY_KIND_LEN NAMEDATALEN
/* Longest detail kept, as JSON text; a longer detail is replaced by a note of its length. */
#define SECURITY_DETAIL_LEN 1024
/* Longest login warning kept in shared memory. */
#define SECURITY_WARNING_LEN 2048

/* Settings (security_settings.c). */
extern int hublink_security_event_slots;
extern int hublink_lockout_failures;
extern int hublink_lockout_slots;
extern int hublink_lockout_source_duration;
extern int hublink_lockout_sources_per_role;
extern char *hublink_lockout_service_roles;
extern char *hublink_audit_relations;

/* Called from _PG_init: settings always, shared memory and hooks only when preloaded. */
extern void hublink_security_setup(bool preloaded);

extern void hublink_security_define_settings(bool preloaded);

/* The ring (security_ring.c). */
extern Size hublink_security_ring_size(void);
extern void hublink_security_ring_attach(void);
extern void hublink_security_record(const char *kind, const char *role_name,
									const char *detail_json);

/* Logons (security_auth.c): lock-out table and login warning in shared memory. */
extern Size hublink_security_auth_size(void);
extern void hublink_security_auth_attach(void);
extern void hublink_security_auth_install(void);

/* Role and audit DDL (security_utility.c). */
extern void hublink_security_utility_install(void);

/* Refused UPDATE/DELETE of the audit store (security_dml.c). */
extern void hublink_security_dml_install(void);
extern bool hublink_security_is_audit_relid(Oid relid);
/* Whether schema.relname is one of hublink.audit_relations (false for a NULL schema). */
extern bool hublink_security_audit_listed(const char *schema, const char *relname);
extern char *hublink_security_refused_detail(Oid relid, const char *operation, Oid checked_role);

/* Appends s to buf as a JSON string literal (quotes and escapes). */
struct StringInfoData;
extern void hublink_security_json_string(struct StringInfoData *buf, const char *s);

#endif /* HUBLINK_SECURITY_H */
