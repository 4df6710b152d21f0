#!/usr/bin/env bash
# Quotes meeting a drift already alerted do not wait on each other (sql/parts/54_tsp_quote.sql,
# tsp_flight_fares_drift_alert; review of 8 December 2026). The drift alert took a global
# transaction advisory lock on every quote that met a stale flight, even when the episode was
# alerted already: quotes serialized across appliers for the whole drift, held until each
# quote's transaction ended, and a quote followed by an UPDATE of tsp_flight deadlocked with an
# UPDATE followed by a quote. Here session A quotes a flight whose derived row is stale (the
# episode alerted already) and keeps its transaction open; session B quotes the same flight
# with lock_timeout 2s and must answer, not time out; still exactly one alert for the episode.
# The overlap is exact: B starts only once A is seen idle in its open transaction
# (pg_stat_activity). Run by test/sql/run against its database (PGDATABASE); TAP with a plan.
# Its flight (BA 9077 on 2027-03-10), quotes and alert are deleted after.
set -uo pipefail
export PGOPTIONS="-c client_min_messages=warning -c lock_timeout=60s -c statement_timeout=120s"
echo "1..5"
. "$(dirname "$0")/include/tsp_race.sh"
load_lhr_los_flight DLOCK_FLEX 9077 2027-03-10
flight=$(psql -XAtq -c "SELECT f.flight_id FROM hublink.tsp_flight f
                         WHERE f.carrier = 'BA' AND f.flight_number = '9077' AND f.departs_at::date = '2027-03-10'")
if [ -z "$flight" ]; then echo "not ok 1 - the flight BA 9077 and its fare loaded"; exit 1; fi
# The drift: a price changed past the triggers (replica mode), the derived row left stale.
psql -XAtq -v ON_ERROR_STOP=1 -c "SET session_replication_role = replica" \
     -c "UPDATE hublink.tsp_fare_price p SET amount = 860.00 FROM hublink.tsp_fare fa
          WHERE fa.fare_id = p.fare_id AND fa.flight_id = $flight AND p.traveller_type = 'RETURNEE'" >/dev/null
request="jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-DL1'),
                                                      'location', jsonb_build_object('detentionCentreId', 'NONE'))),
    'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-DL', 'date', '2027-03-10', 'escortCount', 1)),
    'departureAirports', jsonb_build_array('LHR'),
    'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'))"
quote="SELECT hublink.tsp_quote($request, NULL, '2027-02-01 10:00+00') IS NOT NULL"
alerts() {
    psql -XAtq -c "SELECT count(*) FROM hublink.alert a
                    WHERE a.kind = 'fare_row_drift' AND a.detail -> 'flights' @> jsonb_build_array($flight)"
}
psql -XAtq -c "$quote" >/dev/null 2>&1
if [ "$(alerts)" = 1 ]; then echo "ok 1 - the first quote meeting the stale row raises one fare_row_drift alert"
else echo "not ok 1 - $(alerts) fare_row_drift alert(s) after the first quote, not 1"; fi
# Session A: quotes the stale flight again in a transaction it keeps open.
coproc SESSA { PGAPPNAME=drift_lock_a psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1; }
a_in=${SESSA[1]}
echo "BEGIN; $quote;" >&"$a_in"
if wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'drift_lock_a'
                      AND state = 'idle in transaction' AND query LIKE '%tsp_quote%')"; then
    echo "ok 2 - session A quoted the stale flight and holds its transaction open"
else
    echo "not ok 2 - session A never finished its quote"
fi
# Session B: the same quote, with a short lock_timeout, while A's transaction is open.
out=$(PGOPTIONS="-c client_min_messages=warning -c lock_timeout=2s -c statement_timeout=30s" \
      psql -XAtq -v ON_ERROR_STOP=1 -c "$quote" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = t ]; then echo "ok 3 - session B quotes the alerted drift without waiting on session A"
else echo "not ok 3 - session B waited on session A's open transaction: $(echo "$out" | head -c 200)"; fi
echo "COMMIT;" >&"$a_in"
eval "exec $a_in>&-"
wait "$SESSA_PID" 2>/dev/null
if [ "$(alerts)" = 1 ]; then echo "ok 4 - still exactly one fare_row_drift alert for the episode"
else echo "not ok 4 - $(alerts) fare_row_drift alerts for one episode"; fi
# A new episode (the row rebuilt, then stale again): one new alert, not one per quote.
psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE hublink.tsp_flight_fares SET fares = fares WHERE flight_id = $flight" \
     -c "SET session_replication_role = replica" \
     -c "UPDATE hublink.tsp_fare_price p SET amount = 870.00 FROM hublink.tsp_fare fa
          WHERE fa.fare_id = p.fare_id AND fa.flight_id = $flight AND p.traveller_type = 'RETURNEE'" >/dev/null
psql -XAtq -c "$quote" -c "$quote" >/dev/null 2>&1
if [ "$(alerts)" = 2 ]; then echo "ok 5 - a new drift episode raises one new alert, however many quotes meet it"
else echo "not ok 5 - $(alerts) fare_row_drift alerts after a second episode, not 2"; fi
# Put the database back: the quotes, the alerts, the flight (its fares and prices), the rule set.
psql -XAtq -c "DELETE FROM hublink.tsp_quote q WHERE q.fare_ids && ARRAY(SELECT fare_id FROM hublink.tsp_fare WHERE flight_id = $flight)" \
           -c "DELETE FROM hublink.alert a WHERE a.kind = 'fare_row_drift' AND a.detail -> 'flights' @> jsonb_build_array($flight)" \
           -c "DELETE FROM hublink.tsp_flight f WHERE f.flight_id = $flight" \
           -c "DELETE FROM hublink.tsp_refund_rule_set WHERE rule_set = 'DLOCK_FLEX'" >/dev/null 2>&1
