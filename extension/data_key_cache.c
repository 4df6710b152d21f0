/*
 * data_key_cache.c - unwrapped data keys kept for the rest of one transaction
 * (docs/security-crypto.md "What is cached"; docs/performance.md "Per-message cost, third pass").
 *
 * A message's data key is needed three times in its transaction (sealing the message in,
 * opening it for the handler, sealing the reply), and each time hublink.data_key_for unwrapped
 * it again (pgcrypto, under the master key). hublink.data_key_for now remembers each key it
 * unwrapped or made, and asks here before unwrapping.
 *
 * Why a kept key can never outlive its row:
 * - An entry is found by the scope AND the wrapped bytes AND the master key id of the row that
 *   hublink.data_key_for has just read from hublink.data_key. A destroyed key has no row to
 *   read (HL060 before the cache is asked), and a key made again gets new wrapped bytes
 *   (OpenPGP encryption is randomised), so an old entry never matches it. The same holds after
 *   a rolled-back savepoint, and whatever a superuser does with the table's triggers disabled.
 * - An entry is used only while hublink.master_key_file still holds its master key
 *   (hublink_master_key_known): a master key removed from the file stops the data it wraps from
 *   opening in the same transaction, as without the cache.
 * - Every DELETE or UPDATE of hublink.data_key wipes every entry (a statement trigger,
 *   ENABLE ALWAYS): an erased key does not stay in memory until the end of the transaction.
 * - Every entry is wiped (explicit_bzero) at the end of the transaction, committed or not:
 *   keys live no longer than the transaction that used them.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "crypto_key.h"

#define DATA_KEY_BYTES    32
#define DATA_KEY_ENTRIES  16
#define MASTER_KEY_ID_MAX 64

typedef struct DataKeyEntry
{
	bool used;
	uint8 tag[PG_SHA256_DIGEST_LENGTH]; /* SHA-256 of scope, master key id, wrapped bytes */
	char master_key_id[MASTER_KEY_ID_MAX + 1];
	uint8 key[DATA_KEY_BYTES];
} DataKeyEntry;

static DataKeyEntry entries[DATA_KEY_ENTRIES];
static int next_entry = 0;
static bool callback_registered = false;

static int64 data_key_hits = 0;
static int64 data_key_misses = 0;
static int64 data_key_wipes = 0;

static void
wipe_entries(void)
{
	explicit_bzero(entries, sizeof(entries));
	next_entry = 0;
}

static void
data_key_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			wipe_entries();
			break;
		default:
			break;
	}
}

static void
append_part(pg_cryptohash_ctx *ctx, const void *data, uint32 len)
{
	/* Length-prefixed, so ("ab", "c") and ("a", "bc") never give the same tag. */
	if (pg_cryptohash_update(ctx, (const uint8 *) &len, sizeof(len)) < 0 ||
		pg_cryptohash_update(ctx, data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute the tag of a data key"),
				 errdetail("SHA-256 failed in this backend.")));
}

static void
entry_tag(text *scope, text *master_key_id, bytea *wrapped, uint8 *tag)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute the tag of a data key"),
				 errdetail("SHA-256 failed in this backend.")));
	append_part(ctx, VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope));
	append_part(ctx, VARDATA_ANY(master_key_id), VARSIZE_ANY_EXHDR(master_key_id));
	append_part(ctx, VARDATA_ANY(wrapped), VARSIZE_ANY_EXHDR(wrapped));
	if (pg_cryptohash_final(ctx, tag, PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute the tag of a data key"),
				 errdetail("SHA-256 failed in this backend.")));
	pg_cryptohash_free(ctx);
}

PG_FUNCTION_INFO_V1(hublink_data_key_cached);

/*
 * hublink.data_key_cached(scope text, master_key_id text, wrapped bytea) returns bytea: the
 * data key this transaction already unwrapped or made for exactly this row of hublink.data_key,
 * or NULL. Raises as hublink.master_key does when the key file no longer holds the master key.
 */
Datum
hublink_data_key_cached(PG_FUNCTION_ARGS)
{
	text *scope = PG_GETARG_TEXT_PP(0);
	text *master_key_id = PG_GETARG_TEXT_PP(1);
	bytea *wrapped = PG_GETARG_BYTEA_PP(2);
	char *id = text_to_cstring(master_key_id);
	uint8 tag[PG_SHA256_DIGEST_LENGTH];

	if (!hublink_master_key_known(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("master key %s is not in the master key file", id),
				 errdetail("A data key was wrapped by a master key that hublink.master_key_file "
						   "no longer holds."),
				 errhint("Put the old key back in the file (before the current one) and run "
						 "hublink.rotate_master_key().")));
	entry_tag(scope, master_key_id, wrapped, tag);
	for (int i = 0; i < DATA_KEY_ENTRIES; i++)
		if (entries[i].used && memcmp(entries[i].tag, tag, sizeof(tag)) == 0 &&
			strcmp(entries[i].master_key_id, id) == 0)
		{
			bytea *key = palloc(VARHDRSZ + DATA_KEY_BYTES);

			SET_VARSIZE(key, VARHDRSZ + DATA_KEY_BYTES);
			memcpy(VARDATA(key), entries[i].key, DATA_KEY_BYTES);
			data_key_hits++;
			PG_RETURN_BYTEA_P(key);
		}
	data_key_misses++;
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(hublink_data_key_remember);

/*
 * hublink.data_key_remember(scope text, master_key_id text, wrapped bytea, key bytea): keep the
 * unwrapped key of that row of hublink.data_key until the end of the transaction. A key that is
 * not 256 bits, or an id longer than an id, is not kept.
 */
Datum
hublink_data_key_remember(PG_FUNCTION_ARGS)
{
	text *scope = PG_GETARG_TEXT_PP(0);
	text *master_key_id = PG_GETARG_TEXT_PP(1);
	bytea *wrapped = PG_GETARG_BYTEA_PP(2);
	bytea *key = PG_GETARG_BYTEA_PP(3);
	DataKeyEntry *e;

	if (VARSIZE_ANY_EXHDR(key) != DATA_KEY_BYTES ||
		VARSIZE_ANY_EXHDR(master_key_id) > MASTER_KEY_ID_MAX || !IsTransactionState())
		PG_RETURN_VOID();
	if (!callback_registered)
	{
		RegisterXactCallback(data_key_xact_callback, NULL);
		callback_registered = true;
	}
	e = &entries[next_entry];
	next_entry = (next_entry + 1) % DATA_KEY_ENTRIES;
	explicit_bzero(e, sizeof(*e));
	entry_tag(scope, master_key_id, wrapped, e->tag);
	memcpy(e->master_key_id, VARDATA_ANY(master_key_id), VARSIZE_ANY_EXHDR(master_key_id));
	memcpy(e->key, VARDATA_ANY(key), DATA_KEY_BYTES);
	e->used = true;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hublink_data_key_cache_wipe);

/*
 * Statement trigger AFTER DELETE OR UPDATE on hublink.data_key: forget every kept key, so an
 * erased key is not held in memory for the rest of the transaction.
 */
Datum
hublink_data_key_cache_wipe(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("hublink_data_key_cache_wipe() must be called as a trigger")));
	wipe_entries();
	data_key_wipes++;
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(hublink_crypto_cache_stats);

/*
 * hublink.crypto_cache_stats(): this backend's master key file reads and reuses, data key hits
 * and misses, wipes, and how many data keys it holds now. Tests tell a reuse from a read by
 * these (the results are the same either way).
 */
Datum
hublink_crypto_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[6];
	bool nulls[6] = {false, false, false, false, false, false};
	int64 file_reads;
	int64 file_hits;
	int held = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("hublink.crypto_cache_stats() must return a record")));
	hublink_master_key_stats(&file_reads, &file_hits);
	for (int i = 0; i < DATA_KEY_ENTRIES; i++)
		held += entries[i].used ? 1 : 0;
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(file_reads);
	values[1] = Int64GetDatum(file_hits);
	values[2] = Int64GetDatum(data_key_hits);
	values[3] = Int64GetDatum(data_key_misses);
	values[4] = Int64GetDatum(data_key_wipes);
	values[5] = Int32GetDatum(held);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
