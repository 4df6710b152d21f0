/*
 * crypto_key.h - the master key file setting (extension/crypto_key.c).
 */
#ifndef HUBLINK_CRYPTO_KEY_H
#define HUBLINK_CRYPTO_KEY_H

/* hublink.master_key_file: where the master keys are read from. */
extern char *hublink_master_key_file;

/* Defines hublink.master_key_file; called by _PG_init before the prefix is reserved. */
extern void hublink_crypto_define_settings(void);

#endif /* HUBLINK_CRYPTO_KEY_H */
