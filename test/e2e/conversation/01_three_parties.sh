#!/usr/bin/env bash
# test/e2e/conversation/01_three_parties.sh - the removal conversation across the three
# parties on one RabbitMQ (issue 4, section 5): a Hub, a TSP and an ESP, each its own
# PostgreSQL cluster with its own worker, all connected by certificate to one broker.
# The Hub is driven by its caseworker functions; the providers answer automatically with
# their engines (hublink.tsp_auto_answer, hublink.esp_auto_answer: docs/tsp.md, docs/esp.md)
# on the demo inventory, shifted to start 20 days from today, and the demo escort roster, so
# it runs whatever day it is. Only what no engine produces is sent by hand: the TSP's report
# that a flight was flown, and messages sent around the state machine on purpose. Every state
# is asserted on every side. TAP; closing line "N passed, M failed".
#
#   test/e2e/conversation/01_three_parties.sh      (needs make install; KEEP_STACK=1 keeps it)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
EX=$REPO/schemas/examples
. "$HERE/lib.sh"
conversation_start conv

# expect PARTY REF STATES SECONDS DESCRIPTION: the party reaches the states in time.
expect() {
    if wait_states "$1" "$2" "$3" "${4:-20}"; then
        ok "$5: $1 is $3"
    else
        not_ok "$5: $1 is $3 (it is '$(states "$1" "$2")')"
    fi
}


# D, the first day of the removals: the demo inventory's first day (16 March) is moved there.
D=$(TZ=Europe/London date -d '+20 days' +%F)
day() { TZ=Europe/London date -d "$D +$1 days" +%F; }
if parties_auto_answer "$D"; then
    ok "the tsp has the demo inventory from $D, the esp the demo roster; both answer automatically"
else
    echo "Bail out! the providers' data did not load"
    exit 1
fi
DEST='{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}'

# --- an escorted removal: all fourteen message types ------------------------------------------
R=$(q hub "SELECT hublink.create_removal('CASE-77319', '[
 {\"personalDetails\": {\"hoReturneeReference\": \"HO-7731904\", \"name\": {\"givenNames\": \"Emeka Chukwudi\", \"familyName\": \"Okafor\"},
   \"dateOfBirth\": \"1979-06-14\", \"nationality\": \"NGA\", \"gender\": \"M\", \"conditions\": [{\"code\": \"WHEELCHAIR\"}]},
  \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"A08123456\", \"issuingCountry\": \"NGA\"}],
  \"location\": {\"detentionCentreId\": \"HARMONDSWORTH_IRC\"}, \"risk\": {\"flags\": []}},
 {\"personalDetails\": {\"hoReturneeReference\": \"HO-7731905\", \"name\": {\"givenNames\": \"Chinedu\", \"familyName\": \"Okafor\"},
   \"dateOfBirth\": \"2005-11-02\", \"nationality\": \"NGA\", \"gender\": \"M\"},
  \"travelDocuments\": [{\"type\": \"EMERGENCY_TRAVEL_DOCUMENT\", \"number\": \"ETD26004417\", \"issuingCountry\": \"NGA\"}],
  \"location\": {\"detentionCentreId\": \"HARMONDSWORTH_IRC\"}, \"risk\": {\"flags\": [\"DISRUPTIVE\", \"SELF_HARM\"]}}]',
 '$D', '$(day 4)', '$DEST', exclusion_dates => '{$(day 2)}', constraints => '{\"refundableOnly\": true}')")
check_eq "the hub creates an escorted removal" "t" "$(q hub "SELECT escorted FROM hublink.removal WHERE removal_reference = '$R'")"

q hub "SELECT hublink.request_escort_quotes('$R')" >/dev/null
expect hub "$R" "quoting/quoted/none" 20 "messages 1 and 2 (the esp quotes)"
expect esp "$R" "-/quoted/none" 5 "the esp"
check_eq "the esp has the returnees and their escort risk" "2|2" \
    "$(q esp "SELECT (SELECT count(*) FROM hublink.returnee_personal), (SELECT count(*) FROM hublink.risk_assessment WHERE audience = 'esp')")"
# A male leader, two enhanced officers, a medic; 30 road and 390 flight minutes (docs/esp.md).
check_eq "escort quotes: 4 positions on the days the roster allows, the excluded day skipped, 4775.50 each" \
    "4|0:4775.50,1:4775.50,3:4775.50,4:4775.50" \
    "$(q hub "SELECT (SELECT count(*) FROM hublink.escort_position),
                     string_agg((escort_date - '$D'::date) || ':' || total_amount, ',' ORDER BY escort_date)
                FROM hublink.escort_quote")"
q hub "SELECT hublink.request_travel_quotes('$R', '{LHR}')" >/dev/null
expect hub "$R" "quoted/quoted/quoted" 20 "messages 3 and 4 (the tsp quotes)"
check_eq "the tsp sees the travel risk subset only" "DISRUPTIVE" \
    "$(q tsp "SELECT string_agg(array_to_string((hublink.unsealed(a)).flags, ','), '') FROM hublink.risk_assessment a WHERE audience = 'tsp'")"
check_eq "travel quotes for 6 travellers on the escort dates with flights and seats (not D: 2 seats left; not D+4: no flight)" "1,3" \
    "$(q hub "SELECT string_agg(DISTINCT (e.escort_date - '$D'::date)::text, ',') FROM hublink.travel_quote t
              JOIN hublink.escort_quote e USING (removal_id, escort_quote_reference)")"

TQ=$(q hub "SELECT travel_quote_reference FROM hublink.removal_quotes('$R') WHERE rank = 1")
q hub "SELECT hublink.choose_quote('$R', '$TQ')" >/dev/null
expect hub "$R" "booked/booked/booked" 30 "messages 5 to 8: the best-ranked quote booked by both providers"
expect esp "$R" "-/booked/none" 5 "the esp"
expect tsp "$R" "-/none/booked" 5 "the tsp"
EQ=$(q hub "SELECT escort_quote_reference FROM hublink.escort_booking WHERE outcome = 'ACCEPTED'")
check_eq "the hub has the four named escorts and six e-tickets" "4|6" \
    "$(q hub "SELECT (SELECT count(*) FROM hublink.escort_person WHERE active), (SELECT count(*) FROM hublink.ticket)")"
check_eq "the esp holds the team on duty two days" "8" "$(q esp "SELECT count(*) FROM hublink.esp_duty")"

q hub "SELECT hublink.amend_escort('$R', '$(jq -c '.body | del(.escortQuoteReference)' "$EX/escort-amendment.json" | sed "s/'/''/g")')" >/dev/null
if wait_for hub 20 "SELECT outcome_accepted FROM hublink.amendment WHERE booking = 'escort'"; then
    ok "messages 9 and 10: the esp carries out the amendment"
else
    not_ok "messages 9 and 10: the esp carries out the amendment"
fi
expect hub "$R" "booked/booked/booked" 20 "after the escort amendment"

q hub "SELECT hublink.amend_travel('$R', '$(jq -c '.body | del(.travelQuoteReference, .escortQuoteReference)' "$EX/travel-amendment.json" | sed "s/'/''/g")')" >/dev/null
if wait_for hub 20 "SELECT outcome_accepted FROM hublink.amendment WHERE booking = 'travel'"; then
    ok "messages 11 and 12: the tsp changes the escort's name on the tickets"
else
    not_ok "messages 11 and 12: the tsp changes the escort's name on the tickets"
fi
expect hub "$R" "booked/booked/booked" 20 "after the travel amendment"
check_eq "the hub has the fees: none for the escort amendment 20 days ahead, the fare's change fees for the name change" \
    "0.00|t" "$(q hub "SELECT (SELECT sum(f.amount) FROM hublink.financial_consequence f JOIN hublink.amendment a
                                 ON a.outcome_message_id = f.message_id WHERE a.booking = 'escort'),
                               (SELECT sum(f.amount) > 0 FROM hublink.financial_consequence f JOIN hublink.amendment a
                                 ON a.outcome_message_id = f.message_id WHERE a.booking = 'travel')")"

# Completion: the esp's staff report it with the engine; the flight's completion is sent by hand.
q esp "SELECT hublink.esp_send_update(hublink.esp_completed('$EQ', '[{\"segmentId\": \"S1\", \"departedAt\": \"$(day 1)T06:35:00+00:00\", \"arrivedAt\": \"$(day 1)T07:25:00+00:00\"}]'))" >/dev/null
T1=$(q hub "SELECT s.segment_id FROM hublink.itinerary_segment s JOIN hublink.travel_quote t USING (travel_quote_id)
            WHERE t.travel_quote_reference = '$TQ' AND s.current ORDER BY s.start_time LIMIT 1")
answer tsp "$(example travel-update "$R" ".body = {travelQuoteReference: \"$TQ\", completed: {segments: [{segmentId: \"$T1\", departedAt: \"$(day 1)T11:52:00+00:00\", arrivedAt: \"$(day 1)T19:01:00+01:00\"}]}}")"
expect hub "$R" "completed/completed/completed" 20 "completed"
expect esp "$R" "-/completed/none" 5 "the esp"
expect tsp "$R" "-/none/completed" 5 "the tsp"
check_eq "the hub recorded every transition of the conversation" "8|15|8" \
    "$(q hub "SELECT (SELECT count(DISTINCT message_id) FROM hublink.state_transition WHERE direction = 'in'),
                     (SELECT count(*) FROM hublink.state_transition WHERE machine = 'removal'),
                     (SELECT count(*) FROM hublink.inbox WHERE status = 'applied')")"

# An impossible message (sent around the state machine with the raw hublink.send) is rejected.
qv esp "SELECT hublink.send(:'m')" m "$(example escort-update "$R" ".body = {escortQuoteReference: \"$EQ\", delayed: {reason: {code: \"TRAFFIC\"}, segments: [{segmentId: \"S1\", newStart: \"$(day 1)T07:00:00+00:00\", newFinish: \"$(day 1)T08:00:00+00:00\"}]}}")" >/dev/null
if wait_for hub 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE status = 'rejected' AND message_type = 'EscortUpdate'"; then
    ok "an escort delay after completion is rejected by the hub"
else
    not_ok "an escort delay after completion is rejected by the hub"
fi
# Rejected as impossible by the state machine (SQLSTATE HL001 in hublink.handle_message, whose
# reason is the problem), not for any other error.
check_eq "rejected because the state machine found it impossible (HL001's reason)" \
    "EscortUpdate.delayed is impossible: the escort booking is completed" \
    "$(q hub "SELECT substring(f.problems -> 0 ->> 'error' FROM '^[^(]*[^ (]')
               FROM hublink.inbox i, hublink.inbox_failure(i.id) f
              WHERE i.status = 'rejected' AND i.message_type = 'EscortUpdate'")"
check_eq "with an Error message for escort-update-error" "escort-update-error" \
    "$(q hub "SELECT queue FROM hublink.outbox WHERE message_type = 'Error'")"

# --- an unescorted removal ----------------------------------------------------------------
R2=$(q hub "SELECT hublink.create_removal('CASE-88001', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-5550001\",
   \"name\": {\"givenNames\": \"Ngozi\", \"familyName\": \"Adebayo\"}, \"dateOfBirth\": \"1990-01-01\", \"nationality\": \"NGA\", \"gender\": \"F\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"B04412871\", \"issuingCountry\": \"NGA\"}],
   \"location\": {\"prisonId\": \"HMP_WANDSWORTH\"}, \"risk\": {\"flags\": []}}]',
   '$D', '$(day 4)', '$DEST')")
OUT=$(psql_at hub -XqAt -c "LISTEN hublink_status" \
          -c "SELECT hublink.request_travel_quotes('$R2')" 2>&1)
if grep "notification \"hublink_status\"" <<<"$OUT" | grep "$R2" | grep -q '"to" : "quoting"'; then
    ok "a status change raises NOTIFY hublink_status with the removal reference"
else
    not_ok "a status change raises NOTIFY hublink_status with the removal reference: $OUT"
fi
expect hub "$R2" "quoted/none/quoted" 20 "unescorted: messages 3 and 4"
TQ2=$(q hub "SELECT travel_quote_reference FROM hublink.removal_quotes('$R2') WHERE rank = 1")
q hub "SELECT hublink.choose_quote('$R2', '$TQ2')" >/dev/null
expect hub "$R2" "booked/none/booked" 20 "unescorted: messages 7 and 8, booked"
# The carrier delays the flight by 90 minutes: tsp staff enter it, the Hub applies the
# TravelUpdate, and its timers counted from the departure (TIG notice, refund deadline) move.
DEP_SQL="SELECT min(s.start_time) FROM hublink.itinerary_segment s JOIN hublink.travel_quote t USING (travel_quote_id)
          WHERE t.travel_quote_reference = '$TQ2' AND s.current"
DEP0=$(q hub "$DEP_SQL")
check_eq "a flight delay entered at the tsp sends one TravelUpdate" "1" \
    "$(q tsp "SELECT count(*) FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking b USING (booking_ref)
                JOIN hublink.tsp_flight f USING (flight_id),
                LATERAL hublink.tsp_report_flight_event(f.flight_id, 'DELAY', f.departs_at + interval '90 minutes',
                                                        f.arrives_at + interval '90 minutes', 'Late inbound aircraft') m
               WHERE b.quote_ref = '$TQ2' AND s.seq = 1")"
if wait_for hub 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = '$R2' AND message_type = 'TravelUpdate' AND status = 'applied'"; then
    ok "the hub applies the flight change"
else
    not_ok "the hub applies the flight change"
fi
check_eq "the first departure moved by 90 minutes, and the timers counted from it moved with it" "01:30:00|t|t" \
    "$(q hub "SELECT ($DEP_SQL) - '$DEP0'::timestamptz, count(*) > 0, bool_and(t.anchor_at = ($DEP_SQL))
                FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
               WHERE r.removal_reference = '$R2' AND t.status = 'pending' AND t.detail ? 'firstDeparture'")"
T1=$(q hub "SELECT s.segment_id FROM hublink.itinerary_segment s JOIN hublink.travel_quote t USING (travel_quote_id)
            WHERE t.travel_quote_reference = '$TQ2' AND s.current ORDER BY s.start_time LIMIT 1")
answer tsp "$(example travel-update "$R2" ".body = {travelQuoteReference: \"$TQ2\", completed: {segments: [{segmentId: \"$T1\", departedAt: \"${D}T11:52:00+00:00\", arrivedAt: \"${D}T19:01:00+01:00\"}]}}")"
expect hub "$R2" "completed/none/completed" 20 "unescorted: completed"

# --- re-quote, then cancellation after booking (escorted) --------------------------------------
R3=$(q hub "SELECT hublink.create_removal('CASE-90001', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-6660001\",
   \"name\": {\"givenNames\": \"Jon\", \"familyName\": \"Doe\"}, \"dateOfBirth\": \"1985-01-01\", \"nationality\": \"NGA\", \"gender\": \"M\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"A01234567\", \"issuingCountry\": \"NGA\"}],
   \"location\": {\"detentionCentreId\": \"HARMONDSWORTH_IRC\"}, \"risk\": {\"flags\": [\"ABSCONDER\"]}}]',
   '$D', '$(day 4)', '$DEST')")
q hub "SELECT hublink.request_escort_quotes('$R3')" >/dev/null
expect hub "$R3" "quoting/quoted/none" 20 "re-quote: messages 1 and 2"
q hub "SELECT hublink.request_travel_quotes('$R3')" >/dev/null
expect hub "$R3" "quoted/quoted/quoted" 20 "re-quote: messages 3 and 4"
q hub "SELECT hublink.set_risk('$R3', 'HO-6660001', '{ABSCONDER,VIOLENT}'); SELECT hublink.requote('$R3')" >/dev/null
expect hub "$R3" "quoting/quoted/quoted" 20 "re-quote (4.5): back to message 1, answered at once"
check_eq "re-quote: the esp sees the new risk" "ABSCONDER,VIOLENT" \
    "$(q esp "SELECT array_to_string((hublink.unsealed(a)).flags, ',') FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
              WHERE t.ho_returnee_reference = 'HO-6660001' AND a.audience = 'esp' AND a.current")"
check_eq "re-quote: the new risk asks for enhanced escorts" "ENHANCED,ENHANCED" \
    "$(q hub "SELECT string_agg(p.physique, ',' ORDER BY p.escort_number) FROM hublink.escort_position p
              WHERE p.escort_quote_response_id = (SELECT max(escort_quote_response_id) FROM hublink.escort_quote_response r
                                                   JOIN hublink.removal x USING (removal_id) WHERE x.removal_reference = '$R3')")"
q hub "SELECT hublink.request_travel_quotes('$R3')" >/dev/null
expect hub "$R3" "quoted/quoted/quoted" 20 "re-quote: new travel quotes"
check_eq "re-quote: only quotes of the new escort quotes can be booked" "t" \
    "$(q hub "SELECT bool_and(NOT e.superseded) FROM hublink.removal_quotes('$R3') q
              JOIN hublink.travel_quote t USING (travel_quote_reference)
              JOIN hublink.escort_quote e ON e.removal_id = t.removal_id AND e.escort_quote_reference = t.escort_quote_reference")"
# An escort update that overtakes the booking response: the esp answers this booking request
# by a call to its engine, after sending the update around its machine.
q esp "SELECT hublink.esp_auto_answer(false)" >/dev/null
TQ3=$(q hub "SELECT travel_quote_reference FROM hublink.removal_quotes('$R3') WHERE rank = 1")
q hub "SELECT hublink.choose_quote('$R3', '$TQ3')" >/dev/null
expect esp "$R3" "-/booking_requested/none" 20 "re-quote: message 5"
expect hub "$R3" "booking/booking_requested/booked" 20 "re-quote: messages 7 and 8, the escort booking still open"
EQ3=$(q esp "SELECT escort_quote_reference FROM hublink.escort_booking WHERE outcome IS NULL")
qv esp "SELECT hublink.send(:'m')" m "$(example escort-update "$R3" ".body = {escortQuoteReference: \"$EQ3\", escortDetails: {escorts: [{escortId: \"ESC-40117\", escortNumber: 1, name: {givenNames: \"Daniel\", familyName: \"Hughes\"}}]}}")" >/dev/null
if wait_for hub 20 "SELECT status = 'retrying' FROM hublink.inbox WHERE message_type = 'EscortUpdate' AND removal_id = '$R3'"; then
    ok "an escort update ahead of the booking response is premature: the hub retries it"
else
    not_ok "an escort update ahead of the booking response is premature: the hub retries it"
fi
q esp "SELECT hublink.send_message(hublink.new_message('EscortBookingResponse', '$R3',
           hublink.esp_book('{\"escortQuoteReference\": \"$EQ3\", \"command\": \"BOOK\"}')))" >/dev/null
q esp "SELECT hublink.esp_auto_answer()" >/dev/null
if wait_for hub 20 "SELECT status = 'applied' AND attempts > 1 FROM hublink.inbox WHERE message_type = 'EscortUpdate' AND removal_id = '$R3'"; then
    ok "and applies it once the booking response is in"
else
    not_ok "and applies it once the booking response is in"
fi
expect hub "$R3" "booked/booked/booked" 20 "re-quote: booked"
q hub "SELECT hublink.cancel_removal('$R3', 'LEGAL_CHALLENGE', 'JR lodged.', true)" >/dev/null
expect hub "$R3" "cancelled/cancelled/cancelled" 5 "cancellation after booking (messages 13, 14)"
expect esp "$R3" "-/cancelled/none" 20 "cancellation after booking"
expect tsp "$R3" "-/none/cancelled" 20 "cancellation after booking"
if wait_for hub 20 "SELECT count(*) = 3 FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = '$R3'"; then
    ok "the tsp's refund and cancellation fee and the esp's cancellation fee reach the hub"
else
    not_ok "the tsp's refund and cancellation fee and the esp's cancellation fee reach the hub"
fi
check_eq "the esp released the escorts, free of charge 20 days ahead" "0|0.00" \
    "$(q esp "SELECT (SELECT count(*) FROM hublink.esp_duty d JOIN hublink.esp_booking k USING (booking_id) WHERE k.quote_ref = '$EQ3'),
                     (SELECT fees FROM hublink.esp_booking WHERE quote_ref = '$EQ3')")"
check_eq "no amendment after cancellation: refused by the state machine as impossible (HL001)" "HL001" \
    "$(q_error hub "SELECT hublink.amend_travel('$R3', '{\"other\": \"too late\"}')")"

# --- cancellation before booking (unescorted) -----------------------------------------------
R4=$(q hub "SELECT hublink.create_removal('CASE-90002', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-6660002\",
   \"name\": {\"givenNames\": \"Mia\", \"familyName\": \"Roe\"}, \"dateOfBirth\": \"1992-01-01\", \"nationality\": \"NGA\", \"gender\": \"F\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"FP654321\", \"issuingCountry\": \"NGA\"}],
   \"location\": {\"prisonId\": \"HMP_WANDSWORTH\"}, \"risk\": {\"flags\": []}}]',
   '$D', '$(day 4)', '$DEST')")
q hub "SELECT hublink.request_travel_quotes('$R4')" >/dev/null
expect hub "$R4" "quoted/none/quoted" 20 "before booking: messages 3 and 4"
q hub "SELECT hublink.cancel_removal('$R4', 'RETURNEE_RELEASED')" >/dev/null
expect hub "$R4" "cancelled/none/cancelled" 5 "cancellation before booking"
expect tsp "$R4" "-/none/cancelled" 20 "cancellation before booking"
check_eq "the tsp records it as before booking, and has nothing to answer" "t|0" \
    "$(q tsp "SELECT c.before_booking, (SELECT count(*) FROM hublink.outbox o WHERE o.removal_id = '$R4' AND o.message_type = 'TravelUpdate')
              FROM hublink.cancellation c JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = '$R4'")"

# Sub-second SLA times (issue 15 §5): what a hublink worker publishes carries its enqueue time
# to the microsecond beside the AMQP timestamp, and the receiver records it.
check_eq "the providers' messages reach the hub with their enqueue time to the microsecond" "t|t" \
    "$(q hub "SELECT count(*) FILTER (WHERE enqueued_at_source = 'amqp-timestamp-us') > 0,
                     bool_or(extract(microseconds FROM enqueued_at)::bigint % 1000000 <> 0)
                FROM hublink.inbox WHERE enqueued_at_source = 'amqp-timestamp-us'")"
check_eq "and the SLA compliance figures count below the second" "t" \
    "$(q hub "SELECT bool_or(max_response_seconds <> round(max_response_seconds))
                FROM hublink.mi_sla_compliance WHERE month IS NULL")"

echo "$PASSED passed, $FAILED failed"
((FAILED == 0 && N > 0))
