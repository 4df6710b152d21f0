/*
 * log_privacy.h - the emit_log_hook that keeps personal data out of the server log
 * (log_privacy.c; docs/security-crypto.md "Personal data and the server log").
 */
#ifndef HUBLINK_LOG_PRIVACY_H
#define HUBLINK_LOG_PRIVACY_H

/* Called from _PG_init when hublink is preloaded. */
extern void hublink_log_privacy_install(void);

#endif /* HUBLINK_LOG_PRIVACY_H */
