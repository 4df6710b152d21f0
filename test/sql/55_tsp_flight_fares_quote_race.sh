#!/usr/bin/env bash
# A price load committing while a quote is being made (sql/parts/54_tsp_quote.sql, tsp_quote;
# review3 of 8 December 2026): the search reads prices from tsp_flight_fares and the check reads
# them from tsp_fare_price. When the check ran in a later statement than the search (its own
# snapshot), a load committing in between made them disagree and the itinerary was dropped with
# no alert and no reason but "could not be priced". Now each date is searched and checked in one
# statement: the quote holds the itinerary, priced whole as it was before the load (its total,
# per-traveller costs and stored price agree), and the next quote has the new price.
# The interleaving is exact, not timed: a gate session of this script holds an ACCESS EXCLUSIVE
# lock on tsp_min_connection, which only the itinerary search reads, so the quote stops inside
# the search, after the search's snapshot is taken; once it is seen waiting (pg_stat_activity,
# wait_event_type 'Lock') the gate session changes a price of the quoted fare and commits, which
# releases the lock. Check 2 fails if the quote never waited (no overlap). Bounded by lock and
# statement timeouts. Run by test/sql/run against its database (PGDATABASE); TAP with a plan.
# Its flight (BA 9075 on 2027-03-09) and quotes are deleted after.
set -uo pipefail
export PGOPTIONS="-c client_min_messages=warning -c lock_timeout=120s -c statement_timeout=180s"
echo "1..7"
. "$(dirname "$0")/include/tsp_race.sh"
load_lhr_los_flight QRACE_FLEX 9075 2027-03-09
fare=$(psql -XAtq -c "SELECT fa.fare_id FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
                       WHERE f.carrier = 'BA' AND f.flight_number = '9075' AND f.departs_at::date = '2027-03-09'")
if [ -z "$fare" ]; then echo "not ok 1 - the flight BA 9075 and its fare loaded"; exit 1; fi
echo "ok 1 - the flight BA 9075 and its fare loaded"
request="jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-QR1'),
                                                      'location', jsonb_build_object('detentionCentreId', 'NONE'))),
    'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-QR', 'date', '2027-03-09', 'escortCount', 1)),
    'departureAirports', jsonb_build_array('LHR'),
    'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'))"
quote="SELECT hublink.tsp_quote($request, NULL, '2027-02-01 10:00+00')"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# The gate: the lock the search needs, held by this script's session.
coproc GATE { PGAPPNAME=quote_race_gate psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1; }
gate_in=${GATE[1]}
echo "BEGIN; LOCK TABLE hublink.tsp_min_connection IN ACCESS EXCLUSIVE MODE;" >&"$gate_in"
wait_for "EXISTS (SELECT FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
                   WHERE a.application_name = 'quote_race_gate' AND l.relation = 'hublink.tsp_min_connection'::regclass
                     AND l.mode = 'AccessExclusiveLock' AND l.granted)" ||
    { echo "not ok 2 - the gate session could not take its lock"; exit 1; }
PGAPPNAME=quote_race psql -XAtq -v ON_ERROR_STOP=1 -c "$quote" >"$tmp" 2>&1 &
quoting=$!
if wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'quote_race'
                      AND wait_event_type = 'Lock' AND wait_event = 'relation')"; then waited=yes; else waited=no; fi
# The load, committed while the quote is inside its search.
echo "UPDATE hublink.tsp_fare_price SET amount = 860.00 WHERE fare_id = $fare AND traveller_type = 'RETURNEE'; COMMIT;" >&"$gate_in"
wait "$quoting"; rc=$?
answer=$(cat "$tmp")
eval "exec $gate_in>&-"
wait "$GATE_PID" 2>/dev/null
if [ $waited = yes ]; then echo "ok 2 - the quote waited inside its search while the price load committed"
else echo "not ok 2 - the quote never waited at the gate: the sessions did not overlap"; fi
# Facts of the answer: its quotes, its first total, the sum of that quote's per-traveller costs,
# its stored price, and fare_row_drift alerts naming the flight.
facts() {
    psql -XAtq -v ON_ERROR_STOP=1 -v "a=$1" <<SQL
SELECT jsonb_array_length(coalesce(b -> 'quotes', '[]')) || ' ' || coalesce(b #>> '{quotes,0,costs,total,amount}', '-') || ' '
       || coalesce((SELECT sum((c #>> '{cost,amount}')::numeric)::text FROM jsonb_array_elements(b #> '{quotes,0,costs,perTraveller}') c), '-') || ' '
       || coalesce((SELECT q.price::text FROM hublink.tsp_quote q WHERE q.quote_ref = b #>> '{quotes,0,travelQuoteReference}'), '-')
  FROM (SELECT :'a'::jsonb AS b) x;
SQL
}
if [ $rc -ne 0 ]; then
    echo "not ok 3 - the quote failed: $answer"; echo "not ok 4 # skipped"; echo "not ok 5 # skipped"
else
    read -r n total sum stored <<<"$(facts "$answer")"
    if [ "$n" -ge 1 ]; then echo "ok 3 - the load committing between the search and the check drops no itinerary"
    else echo "not ok 3 - the itinerary was dropped: $(echo "$answer" | head -c 300)"; fi
    if [ "$n" -ge 1 ] && [ "$total" = "$sum" ] && [ "$total" = "$stored" ]; then echo "ok 4 - its total, per-traveller costs and stored price agree ($total)"
    else echo "not ok 4 - total $total, per-traveller sum $sum, stored price $stored disagree"; fi
    if [ "$total" = "1750.00" ]; then echo "ok 5 - it is priced whole as before the load (850 + 900), the snapshot of its search"
    else echo "not ok 5 - priced $total, not 1750.00 (the search's snapshot)"; fi
fi
alerts=$(psql -XAtq -c "SELECT count(*) FROM hublink.alert a JOIN hublink.tsp_fare fa ON fa.fare_id = $fare
                         WHERE a.kind = 'fare_row_drift' AND a.detail -> 'flights' @> jsonb_build_array(fa.flight_id)")
if [ "$alerts" = 0 ]; then echo "ok 6 - no fare_row_drift alert: the derived row never drifted"
else echo "not ok 6 - $alerts fare_row_drift alert(s) for a load that was no drift"; fi
after=$(psql -XAtq -c "$quote")
read -r n total sum stored <<<"$(facts "$after")"
if [ "$total" = "1760.00" ] && [ "$sum" = "1760.00" ]; then echo "ok 7 - the next quote has the loaded price (860 + 900)"
else echo "not ok 7 - the next quote is priced $total (costs $sum), not 1760.00"; fi
# Put the database back: the quotes, the flight (its fares and prices), the rule set.
psql -XAtq -c "DELETE FROM hublink.tsp_quote q WHERE $fare = ANY (q.fare_ids)" \
           -c "DELETE FROM hublink.tsp_flight f WHERE f.carrier = 'BA' AND f.flight_number = '9075' AND f.departs_at::date = '2027-03-09'" \
           -c "DELETE FROM hublink.tsp_refund_rule_set WHERE rule_set = 'QRACE_FLEX'" >/dev/null 2>&1
