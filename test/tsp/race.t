#!/usr/bin/env bash
# Concurrent bookings never oversell (issue 5 section 5): 12 sessions book 12 quotes of 3
# seats each at once on a flight of 200 seats with 190 sold (10 left). Exactly 3 must be
# accepted, 9 declined NO_SEATS, and seats_sold must end at 190 + 3 x 3 = 199. The sessions are
# held on a lock until all twelve are seen waiting in pg_locks, then released together; the
# test shows their calls overlapped (test/lib/race.sh). TAP output, closing line
# "N passed, M failed". Runs on its own throwaway stack (scripts/stack); needs hublink installed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/race.sh"
race_start hublink-race
psql -qX -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION hublink CASCADE;
INSERT INTO hublink.tsp_country VALUES ('GB', 'GBR', 'United Kingdom'), ('NG', 'NGA', 'Nigeria');
INSERT INTO hublink.tsp_airport VALUES ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('LOS', 'Lagos', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32);
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125');
INSERT INTO hublink.tsp_refund_rule_set VALUES ('R_FLEX', 'flex');
INSERT INTO hublink.tsp_refund_rule VALUES ('R_FLEX', 0, 100, NULL);
INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at, arrives_at, seats_total, seats_sold)
VALUES ('BA', '75', 'LHR', 'LOS', '2026-03-17 11:10+00', '2026-03-17 18:25+01', 200, 190);
INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee, cancellation_fee, ticketing_deadline_hours)
SELECT flight_id, 'Y', 'GBP', true, 'R_FLEX', 0, 0, 24 FROM hublink.tsp_flight;
INSERT INTO hublink.tsp_fare_price SELECT fare_id, 'ADULT', 1000 FROM hublink.tsp_fare;
SELECT hublink.tsp_quote(jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', 'HO-' || g),
                                                      'location', jsonb_build_object('detentionCentreId', 'X'))),
    'escortDates', jsonb_build_array(jsonb_build_object('escortQuoteReference', 'EQ-' || g, 'date', '2026-03-17', 'escortCount', 2)),
    'departureAirports', jsonb_build_array('LHR'),
    'destination', jsonb_build_object('description', 'Lagos', 'country', 'NGA', 'airportCode', 'LOS'),
    'constraints', jsonb_build_object('refundableOnly', false)), NULL, '2026-02-18 14:20+00')
  FROM generate_series(1, 12) g;
SQL
echo "1..9"
check "$(psql -XAtc 'SELECT count(*) FROM hublink.tsp_quote')" 12 "12 quotes of 3 seats on a flight with 10 left"
race_log_create
race_hold 4242 || echo "# the holder did not get the barrier lock"
for q in $(psql -XAtc 'SELECT quote_ref FROM hublink.tsp_quote ORDER BY quote_ref'); do
    race_session 4242 "$dir/$q.out" "hublink.tsp_book(jsonb_build_object('travelQuoteReference', '$q'), '2026-02-19 10:00+00') ->> 'outcome'"
done
check "$(race_wait_all 4242 12 && echo yes)" yes "all twelve sessions wait at the barrier together (pg_locks)"
check "$(psql -XAtc 'SELECT count(*) FROM race_log')" 0 "none booked before the barrier opened"
race_release
wait
overlap=$(race_overlap)
echo "# $overlap of the 12 bookings had begun when the first one ended"
check "$(psql -XAtc 'SELECT count(DISTINCT pid) FROM race_log')" 12 "twelve sessions booked, each in its own backend"
check "$([ "${overlap:-0}" -ge 2 ] && echo yes)" yes "the bookings overlapped (not one by one)"
check "$(psql -XAtc "SELECT count(*) FROM race_log WHERE result = 'ACCEPTED'")" 3 "exactly three bookings accepted"
check "$(psql -XAtc "SELECT count(*) FROM hublink.tsp_quote WHERE status = 'QUOTED'")" 9 "nine quotes left unbooked (declined NO_SEATS)"
check "$(psql -XAtc 'SELECT seats_sold FROM hublink.tsp_flight')" 199 "seats_sold 190 + 3 x 3 = 199, never above 200"
check "$(psql -XAtc 'SELECT count(*) FROM hublink.tsp_ticket')" 9 "nine tickets issued"
race_done
