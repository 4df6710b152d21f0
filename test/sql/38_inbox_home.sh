#!/usr/bin/env bash
# The inbox has one home (issue 15 section 2; docs/worker.md "One home for the inbox"): every
# change of a row of hublink.inbox is a function of sql/parts/38_inbox_state.sql. Checked where a
# careless change would put another writer: the catalogue (a function, a trigger), the C of the
# worker, and the dispatch (one table, and hublink.reason_code_problems once per message).
# Run by test/sql/run against its database (PGDATABASE); TAP with a plan.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
part=$top/sql/parts/38_inbox_state.sql
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (want '$2', got '$3')"; fi
}
echo "1..7"

# The functions the part creates, from the part itself (not a list kept here).
home=$( [ -r "$part" ] && grep -oE '^CREATE FUNCTION hublink\.[a-z_0-9]+' "$part" | sed 's/^CREATE FUNCTION //' | sort -u | paste -sd, -)
check "the inbox part exists and creates the inbox's functions" "yes" \
    "$( [ -n "$home" ] && echo yes || echo "no functions in $part")"

# A writer is any function whose source inserts into or updates hublink.inbox (the table, not
# hublink.inbox_status or a view): with or without an alias, in any case, over line breaks.
writers=$(q -v home="${home:-none}" <<'SQL'
SELECT coalesce(string_agg(p.oid::regprocedure::text, ' ' ORDER BY 1), '')
  FROM pg_proc p
 WHERE p.pronamespace = 'hublink'::regnamespace
   AND p.prosrc ~* '(insert\s+into|update)\s+(only\s+)?hublink\.inbox(?![a-z_0-9])'
   AND NOT (p.oid::regproc::text = ANY (string_to_array(:'home', ',')));
SQL
)
check "no function outside 38_inbox_state.sql inserts into or updates hublink.inbox" "" "$writers"

home_writes=$(q -v home="${home:-none}" <<'SQL'
SELECT count(*) FROM pg_proc p
 WHERE p.oid::regproc::text = ANY (string_to_array(:'home', ','))
   AND p.prosrc ~* '(insert\s+into|update)\s+hublink\.inbox(?![a-z_0-9])';
SQL
)
check "the part's functions are the ones that write it (the check above can see a writer)" "t" \
    "$( [ "${home_writes:-0}" -ge 6 ] && echo t || echo "only ${home_writes:-0} writer(s) in the part")"

# A trigger of the inbox alone is a state rule outside the home: every trigger function on
# hublink.inbox is a generic one also used by another table (sealing, audit).
own=$(q -c "SELECT coalesce(string_agg(t.tgname || ':' || t.tgfoid::regproc::text, ' ' ORDER BY 1), '')
              FROM pg_trigger t
             WHERE t.tgrelid = 'hublink.inbox'::regclass AND NOT t.tgisinternal
               AND NOT EXISTS (SELECT FROM pg_trigger o WHERE o.tgfoid = t.tgfoid
                                                         AND o.tgrelid <> 'hublink.inbox'::regclass)")
check "no trigger of hublink.inbox alone changes its rows" "" "$own"

# The worker's C: it calls the API and holds no SQL that writes the inbox (comments included:
# a comment that names such a statement is as misleading as the statement).
c_writers=$(grep -rniE '(insert[[:space:]]+into|update|delete[[:space:]]+from)[[:space:]]+hublink\.inbox([^a-z_0-9]|$)' \
                "$top/bgworker" "$top/extension" --include='*.c' --include='*.h' | sed "s|$top/||" | paste -sd' ' -)
check "no C file of bgworker/ or extension/ writes hublink.inbox" "" "$c_writers"

# One dispatch table: a single table of the schema, keyed by message type, names code.
tables=$(q -c "SELECT string_agg(DISTINCT c.relname, ' ' ORDER BY c.relname)
                 FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnkeyatts = 1
                 JOIN pg_attribute k ON k.attrelid = c.oid AND k.attnum = i.indkey[0] AND k.attname = 'message_type'
                WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
                  AND a.atttypid = 'regprocedure'::regtype")
check "one dispatch table names the code of a message type" "message_handler" "$tables"

# hublink.reason_code_problems runs once per message that hublink.handle_message applies or
# rejects (counted by the statistics of this transaction: track_functions). At the Hub, a
# response for a removal it does not know is rejected (HL001).
trap 'q -c "ALTER SYSTEM RESET hublink.party" -c "SELECT pg_reload_conf()" >/dev/null' EXIT
q -c "ALTER SYSTEM SET hublink.party = 'hub'" -c "SELECT pg_reload_conf()" >/dev/null
# Each q is a new session: it starts with the settings the postmaster has read. Wait for that
# (bounded), rather than sleep (test/README.md "Ordering").
for _ in $(seq 100); do [[ $(q -c "SHOW hublink.party") == hub ]] && break; sleep 0.1; done
calls=$(q <<'SQL'
BEGIN;
SET LOCAL track_functions = 'all';
SELECT hublink.handle_message(jsonb_set(jsonb_set(e.body::jsonb, '{messageId}', to_jsonb(gen_random_uuid()::text)),
                                        '{removalId}', '"RMV-2026-999991"'))
  FROM hublink_test.example e WHERE e.name = 'escort-quote-response.json';
SELECT coalesce(sum(f.calls), 0) FROM pg_stat_xact_user_functions f
 WHERE f.schemaname = 'hublink' AND f.funcname = 'reason_code_problems';
ROLLBACK;
SQL
)
check "hublink.reason_code_problems runs once for a message handle_message handles" "1" "$(tail -n 1 <<<"$calls")"
