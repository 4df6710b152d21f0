#!/usr/bin/env bash
# A quote's fares are locked as the foreign keys locked them (sql/parts/54_tsp_quote.sql,
# tsp_quote_check_segments): a fare deleted while a quote naming it is not yet committed must
# not leave the quote naming a fare that no longer exists (the fifth pass's hostile review).
# Two sessions: the quote's transaction stays open while another deletes its fare. Run by
# test/sql/run against its database (PGDATABASE); TAP with a plan. Its rows are removed after.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PGOPTIONS="-c client_min_messages=warning"
echo "1..3"
"$top/scripts/tsp-load-inventory" reference >/dev/null 2>&1
"$top/scripts/tsp-load-inventory" inventory "$top/data/demo-inventory" today >/dev/null 2>&1
ids=$(psql -XAtq -c "SELECT f.flight_id || ' ' || fa.fare_id FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
                      WHERE NOT EXISTS (SELECT FROM hublink.tsp_quote q WHERE fa.fare_id = ANY (q.fare_ids)) ORDER BY fa.fare_id LIMIT 1")
read -r flight fare <<<"$ids"
if [ -z "${fare:-}" ]; then echo "not ok 1 - the demo inventory loaded (no fare found)"; exit 1; fi
# Session 1: the quote, held open for 3 s after its check ran.
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
INSERT INTO hublink.tsp_quote (quote_ref, travel_date, created_at, expires_at, currency, price, expected_cost,
                               refundable, travellers, quote, flight_ids, fare_ids)
VALUES ('TSP-TQ-LOCK-1', current_date, now(), now() + interval '1 day', 'GBP', 100, 100, false, '[]', '{}',
        ARRAY[$flight]::bigint[], ARRAY[$fare]::bigint[]);
SELECT pg_sleep(3);
COMMIT;
SQL
quoter=$!
sleep 1
# Session 2: deletes the fare while the quote is not yet committed.
start=$(date +%s)
out=$(psql -XAtq -v ON_ERROR_STOP=1 -c "DELETE FROM hublink.tsp_fare WHERE fare_id = $fare" 2>&1)
rc=$?
waited=$(( $(date +%s) - start ))
wait "$quoter"
if [ $rc -ne 0 ] && [[ $out == *"is named by quote TSP-TQ-LOCK-1"* ]]; then echo "ok 1 - the fare's delete is refused once the quote commits"; else echo "not ok 1 - the fare's delete went through ($out)"; fi
if [ "$waited" -ge 1 ]; then echo "ok 2 - the delete waited for the quote's transaction"; else echo "not ok 2 - the delete did not wait (${waited} s)"; fi
dangling=$(psql -XAtq -c "SELECT count(*) FROM hublink.tsp_quote q CROSS JOIN LATERAL unnest(q.fare_ids) u(fare_id)
                          WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.fare_id = u.fare_id)")
if [ "$dangling" = 0 ]; then echo "ok 3 - no quote names a fare that no longer exists"; else echo "not ok 3 - $dangling quoted fare(s) gone"; fi
psql -XAtq -c "DELETE FROM hublink.tsp_quote WHERE quote_ref = 'TSP-TQ-LOCK-1'" >/dev/null 2>&1
