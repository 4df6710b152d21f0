#!/usr/bin/env bash
# The unwrapped data keys a transaction kept are wiped when it ends, committed or rolled back
# (docs/security-crypto.md "What is cached"; 78_crypto_key_cache.sql tries the cache within a
# transaction). One session, since the cache is the backend's. Run by test/sql/run against its
# database (PGDATABASE); TAP with a plan.
set -uo pipefail
export PGOPTIONS="-c client_min_messages=warning"
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (want '$2', got '$3')"; fi
}
echo "1..4"
# held during, held after, for a rolled-back then a committed transaction; the committed key is
# removed at the end (the database is shared with the other test files).
out=$(psql -XAtq -v ON_ERROR_STOP=1 <<'SQL' 2>&1
BEGIN;
SELECT length(hublink.seal('RMV-78-END-A', '"a"')) > 0;
SELECT data_keys_held FROM hublink.crypto_cache_stats();
ROLLBACK;
SELECT data_keys_held FROM hublink.crypto_cache_stats();
BEGIN;
SELECT length(hublink.seal('RMV-78-END-B', '"b"')) > 0;
SELECT data_keys_held FROM hublink.crypto_cache_stats();
COMMIT;
SELECT data_keys_held FROM hublink.crypto_cache_stats();
DELETE FROM hublink.data_key WHERE key_scope = 'RMV-78-END-B';
SQL
)
mapfile -t v <<<"$out"
check "a transaction holds the key it made" "1" "${v[1]:-$out}"
check "none is held after a rollback" "0" "${v[2]:-$out}"
check "a committed transaction held its key" "1" "${v[4]:-$out}"
check "none is held after a commit" "0" "${v[5]:-$out}"
