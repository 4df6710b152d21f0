#!/usr/bin/env bash
# The derived fares of a flight under concurrent edits (sql/parts/51_tsp_inventory.sql,
# tsp_flight_fares): two sessions changing fares of the same flight at once must leave its row
# with both changes, never the last writer's stale view. Session 1 holds its change open while
# session 2 changes another fare of the flight (a price, then a new fare and a withdrawal), then
# both commit. The order is exact, not timed: session 1 writes, then waits inside its open
# transaction on an advisory lock this script holds; only then does session 2 start, and only
# once session 2 is seen waiting for session 1's row lock (pg_stat_activity, wait_event_type
# 'Lock') is the advisory lock released; each round checks that session 2 really waited, so a
# run where the sessions did not overlap fails instead of passing. A refresh of one statement
# (the INSERT ... ON CONFLICT alone) fails checks 2 and 5. Run by test/sql/run against its
# database (PGDATABASE); TAP with a plan. The rows it changes are put back after.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# Bounded: a session stuck on some other session's lock fails the script instead of hanging it.
export PGOPTIONS="-c client_min_messages=warning -c lock_timeout=120s -c statement_timeout=180s"
echo "1..6"
"$top/scripts/tsp-load-inventory" reference >/dev/null 2>&1
"$top/scripts/tsp-load-inventory" inventory "$top/data/demo-inventory" today >/dev/null 2>&1
ids=$(psql -XAtq -c "SELECT fa.flight_id || ' ' || min(fa.fare_id) || ' ' || max(fa.fare_id) FROM hublink.tsp_fare fa
                      GROUP BY fa.flight_id HAVING count(*) >= 2 ORDER BY fa.flight_id LIMIT 1")
read -r flight fare1 fare2 <<<"$ids"
if [ -z "${fare2:-}" ]; then echo "not ok 1 - the demo inventory loaded (no flight with two fares)"; exit 1; fi
saved=$(psql -XAtq -c "SELECT string_agg(format('(%s, %L, %s)', fare_id, traveller_type, amount), ', ')
                         FROM hublink.tsp_fare_price WHERE fare_id IN ($fare1, $fare2)")
# The row of the flight against the truth of tsp_fare and tsp_fare_price (computed here).
check() {
    psql -XAtq -c "SELECT (SELECT s.fares::text FROM hublink.tsp_flight_fares s WHERE s.flight_id = $flight)
                          IS NOT DISTINCT FROM
                          (SELECT array_agg(ROW(fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only, fa.available,
                                   fa.refund_rule_set, fa.cancellation_fee,
                                   coalesce((SELECT array_agg(p.traveller_type ORDER BY p.traveller_type) FROM hublink.tsp_fare_price p WHERE p.fare_id = fa.fare_id), '{}'),
                                   coalesce((SELECT array_agg(p.amount ORDER BY p.traveller_type) FROM hublink.tsp_fare_price p WHERE p.fare_id = fa.fare_id), '{}')
                                  )::hublink.tsp_fare_brief ORDER BY fa.fare_id)::text
                             FROM hublink.tsp_fare fa WHERE fa.flight_id = $flight)"
}
# The gate: a session of this script holds an advisory lock that session 1 waits for after its
# write; session 1 commits when the lock is released.
gate="55, 1"
coproc HOLDER { psql -XAtq -v ON_ERROR_STOP=1 >/dev/null; }
holder_in=${HOLDER[1]}
echo "SELECT pg_advisory_lock($gate);" >&"$holder_in"
. "$(dirname "$0")/include/tsp_race.sh"  # wait_for: polls an SQL condition
wait_for "EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND classid = 55 AND objid = 1 AND granted)" ||
    { echo "not ok 1 - the script could not take its advisory lock"; exit 1; }
waiting() {  # the session named $1 waits on a lock of kind $2 (advisory: the gate; else: a row)
    local cond="wait_event_type = 'Lock' AND wait_event = 'advisory'"
    [ "$2" = row ] && cond="wait_event_type = 'Lock' AND wait_event <> 'advisory'"
    echo "EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND application_name = '$1' AND $cond)"
}
# One round: session 1 runs $1 and waits at the gate; session 2 runs $2 once session 1 is there;
# the gate opens once session 2 waits on a row. Sets rc, out, waited.
round() {
    PGAPPNAME=race_first psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
$1
SELECT pg_advisory_lock($gate);
SELECT pg_advisory_unlock($gate);
COMMIT;
SQL
    local first=$! second
    wait_for "$(waiting race_first advisory)" || echo "# session 1 never reached the gate"
    PGAPPNAME=race_second psql -XAtq -v ON_ERROR_STOP=1 -c "$2" >"$tmp" 2>&1 &
    second=$!
    if wait_for "$(waiting race_second row)"; then waited=yes; else waited=no; fi
    echo "SELECT pg_advisory_unlock($gate); SELECT pg_advisory_lock($gate);" >&"$holder_in"
    wait "$second"; rc=$?
    out=$(cat "$tmp")
    wait "$first"
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# Round 1: two prices of one flight, one per session.
round "UPDATE hublink.tsp_fare_price SET amount = 1.11 WHERE fare_id = $fare1;" \
      "UPDATE hublink.tsp_fare_price SET amount = 2.22 WHERE fare_id = $fare2"
if [ $rc -eq 0 ]; then echo "ok 1 - the second session's price change went through"; else echo "not ok 1 - the second session failed: $out"; fi
if [ "$(check)" = t ]; then echo "ok 2 - the flight's row holds both sessions' prices"; else echo "not ok 2 - the flight's row lost a concurrent price change"; fi
if [ $waited = yes ]; then echo "ok 3 - the second session waited for the first one's open price change"; else echo "not ok 3 - the second session never waited on the first: the sessions did not overlap"; fi
# Round 2: a new fare held open in one session while the other withdraws a fare.
round "INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
SELECT $flight, 'ZRACE', currency, refundable, refund_rule_set, 0, 0, 24 FROM hublink.tsp_fare WHERE fare_id = $fare1;
INSERT INTO hublink.tsp_fare_price SELECT fare_id, 'ADULT', 3.33 FROM hublink.tsp_fare WHERE flight_id = $flight AND fare_class = 'ZRACE';" \
      "UPDATE hublink.tsp_fare SET available = false WHERE fare_id = $fare2"
if [ $rc -eq 0 ]; then echo "ok 4 - the withdrawal went through beside the new fare"; else echo "not ok 4 - the withdrawal failed: $out"; fi
if [ "$(check)" = t ]; then echo "ok 5 - the flight's row holds the new fare and the withdrawal"; else echo "not ok 5 - the flight's row lost a concurrent fare change"; fi
if [ $waited = yes ]; then echo "ok 6 - the second session waited for the first one's open new fare"; else echo "not ok 6 - the second session never waited on the first: the sessions did not overlap"; fi
holder_pid=$HOLDER_PID
eval "exec $holder_in>&-"
wait "$holder_pid" 2>/dev/null
# Put the demo inventory back.
psql -XAtq -c "DELETE FROM hublink.tsp_fare WHERE flight_id = $flight AND fare_class = 'ZRACE'" \
           -c "UPDATE hublink.tsp_fare SET available = true WHERE fare_id = $fare2" \
           -c "UPDATE hublink.tsp_fare_price p SET amount = v.a FROM (VALUES $saved) v(f, t, a) WHERE p.fare_id = v.f AND p.traveller_type = v.t" >/dev/null 2>&1
