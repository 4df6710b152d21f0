#!/usr/bin/env bash
# The derived fares of a flight under concurrent edits (sql/parts/51_tsp_inventory.sql,
# tsp_flight_fares): two sessions changing fares of the same flight at once must leave its row
# with both changes, never the last writer's stale view. Session 1 holds its change open while
# session 2 changes another fare of the flight (a price, then a new fare and a withdrawal), then
# both commit. Run by test/sql/run against its database (PGDATABASE); TAP with a plan. The
# rows it changes are put back after.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PGOPTIONS="-c client_min_messages=warning"
echo "1..4"
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
# Round 1: two prices of one flight, one per session.
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
UPDATE hublink.tsp_fare_price SET amount = 1.11 WHERE fare_id = $fare1;
SELECT pg_sleep(2);
COMMIT;
SQL
first=$!
sleep 0.5
out=$(psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE hublink.tsp_fare_price SET amount = 2.22 WHERE fare_id = $fare2" 2>&1)
rc=$?
wait "$first"
if [ $rc -eq 0 ]; then echo "ok 1 - the second session's price change went through"; else echo "not ok 1 - the second session failed: $out"; fi
if [ "$(check)" = t ]; then echo "ok 2 - the flight's row holds both sessions' prices"; else echo "not ok 2 - the flight's row lost a concurrent price change"; fi
# Round 2: a new fare held open in one session while the other withdraws a fare.
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
SELECT $flight, 'ZRACE', currency, refundable, refund_rule_set, 0, 0, 24 FROM hublink.tsp_fare WHERE fare_id = $fare1;
INSERT INTO hublink.tsp_fare_price SELECT fare_id, 'ADULT', 3.33 FROM hublink.tsp_fare WHERE flight_id = $flight AND fare_class = 'ZRACE';
SELECT pg_sleep(2);
COMMIT;
SQL
first=$!
sleep 0.5
out=$(psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE hublink.tsp_fare SET available = false WHERE fare_id = $fare2" 2>&1)
rc=$?
wait "$first"
if [ $rc -eq 0 ]; then echo "ok 3 - the withdrawal went through beside the new fare"; else echo "not ok 3 - the withdrawal failed: $out"; fi
if [ "$(check)" = t ]; then echo "ok 4 - the flight's row holds the new fare and the withdrawal"; else echo "not ok 4 - the flight's row lost a concurrent fare change"; fi
# Put the demo inventory back.
psql -XAtq -c "DELETE FROM hublink.tsp_fare WHERE flight_id = $flight AND fare_class = 'ZRACE'" \
           -c "UPDATE hublink.tsp_fare SET available = true WHERE fare_id = $fare2" \
           -c "UPDATE hublink.tsp_fare_price p SET amount = v.a FROM (VALUES $saved) v(f, t, a) WHERE p.fare_id = v.f AND p.traveller_type = v.t" >/dev/null 2>&1
