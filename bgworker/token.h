/*
 * token.h - the worker's broker access token, obtained over HTTPS by SPNEGO (GSS-API,
 * Kerberos) with libcurl and renewed before it expires (token.c, docs/worker.md "Access
 * tokens"). Used when hublink.broker_login = token.
 */
#ifndef HUBLINK_TOKEN_H
#define HUBLINK_TOKEN_H

#include "postgres.h"

/* Settings (hublink.broker_token_*), defined with the worker's. */
extern void hublink_token_define_settings(void);

/* A text that changes when a token setting changes (part of the connection signature). */
extern char *hublink_token_signature(void);

/* The token to log in with, or NULL when there is none that is still valid. */
extern const char *hublink_token_current(void);

/* Outside any transaction: start, drive (curl multi, never blocking) and finish a fetch. */
extern void hublink_token_drive(void);

/* True when a newer token than the connection's waits: the caller reconnects when quiet. */
extern bool hublink_token_renewed(void);

/* The connection now logged in with the current token. */
extern void hublink_token_used(void);

/* How long the worker may sleep for the token's sake: -1 for as long as it likes. */
extern long hublink_token_timeout_ms(void);

/* True when a failure waits to be alerted; hublink_token_report raises it (SPI connected). */
extern bool hublink_token_want_transaction(void);
extern void hublink_token_report(void);

#endif /* HUBLINK_TOKEN_H */
