/*
 * crypto_key.h - the master key file setting (extension/crypto_key.c).
 */
#ifndef HUBLINK_CRYPTO_KEY_H
#define HUBLINK_CRYPTO_KEY_H

/* hublink.master_key_file: where the master keys are read from. */
extern char *hublink_master_key_file;

/* Defines hublink.master_key_file; called by _PG_init before the prefix is reserved. */
extern void hublink_crypto_define_settings(void);

/*
 * Whether hublink.master_key_file holds the master key with this id (hublink.crypto_key_id);
 * checks the file as hublink.master_key() does (this backend's copy while the file is unchanged).
 */
extern bool hublink_master_key_known(const char *key_id);

/* This backend's master key file reads and cache hits, for hublink.crypto_cache_stats(). */
extern void hublink_master_key_stats(int64 *file_reads, int64 *cache_hits);

#endif /* HUBLINK_CRYPTO_KEY_H */
