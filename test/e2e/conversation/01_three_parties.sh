#!/usr/bin/env bash
# test/e2e/conversation/01_three_parties.sh - the removal conversation across the three
# parties on one RabbitMQ (issue 4, section 5): a Hub, a TSP and an ESP, each its own
# PostgreSQL cluster with its own worker, all connected by certificate to one broker.
# The Hub is driven by its caseworker functions; the providers answer by hand with
# hublink.send_message (their booking logic comes later). Every state is asserted on every
# side. TAP; closing line "N passed, M failed".
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


FRESH='.body.quotes |= map(.conditions.expiresAt = "2099-01-01T00:00:00+00:00")'

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
 '2026-03-16', '2026-03-20', '{\"description\": \"Lagos, Nigeria\", \"country\": \"NGA\", \"airportCode\": \"LOS\"}',
 constraints => '{\"refundableOnly\": true}')")
check_eq "the hub creates an escorted removal" "t" "$(q hub "SELECT escorted FROM hublink.removal WHERE removal_reference = '$R'")"

q hub "SELECT hublink.request_escort_quotes('$R')" >/dev/null
expect hub "$R" "quoting/quote_requested/none" 5 "message 1 sent"
expect esp "$R" "-/quote_requested/none" 20 "message 1 received"
check_eq "the esp has the returnees and their escort risk" "2|2" \
    "$(q esp "SELECT (SELECT count(*) FROM hublink.returnee_personal), (SELECT count(*) FROM hublink.risk_assessment WHERE audience = 'esp')")"

answer esp "$(example escort-quote-response "$R")"
expect hub "$R" "quoting/quoted/none" 20 "message 2"
q hub "SELECT hublink.request_travel_quotes('$R', '{LHR}')" >/dev/null
expect tsp "$R" "-/none/quote_requested" 20 "message 3"
check_eq "the tsp sees the travel risk subset only" "DISRUPTIVE" \
    "$(q tsp "SELECT string_agg(array_to_string(flags, ','), '') FROM hublink.risk_assessment WHERE audience = 'tsp'")"
answer tsp "$(example travel-quote-response "$R" "$FRESH")"
expect hub "$R" "quoted/quoted/quoted" 20 "message 4"
check_eq "the quotes are ranked by best value" "TSP-TQ-88412-2" \
    "$(q hub "SELECT travel_quote_reference FROM hublink.removal_quotes('$R') WHERE rank = 1")"

q hub "SELECT hublink.choose_quote('$R', 'TSP-TQ-88412-1')" >/dev/null
expect hub "$R" "booking/booking_requested/booking_requested" 5 "messages 5 and 7 sent"
expect esp "$R" "-/booking_requested/none" 20 "message 5"
expect tsp "$R" "-/none/booking_requested" 20 "message 7"
answer esp "$(example escort-booking-response "$R")"
answer tsp "$(example travel-booking-response "$R")"
expect hub "$R" "booked/booked/booked" 20 "messages 6 and 8: booked"
expect esp "$R" "-/booked/none" 5 "the esp"
expect tsp "$R" "-/none/booked" 5 "the tsp"

q hub "SELECT hublink.amend_escort('$R', '$(jq -c '.body | del(.escortQuoteReference)' "$EX/escort-amendment.json" | sed "s/'/''/g")')" >/dev/null
expect esp "$R" "-/amended/none" 20 "message 9"
AM=$(q esp "SELECT message_id FROM hublink.amendment WHERE booking = 'escort'")
answer esp "$(example escort-update "$R" ".body.amendmentOutcome.amendmentMessageId = \"$AM\"")"
expect hub "$R" "booked/booked/booked" 20 "message 10: amendment outcome and an escort change"
check_eq "the hub sees the escort change" "ESC-40117,ESC-40388,ESC-40502" \
    "$(q hub "SELECT string_agg(escort_id, ',' ORDER BY escort_id) FROM hublink.escort_person WHERE active")"

q hub "SELECT hublink.amend_travel('$R', '$(jq -c '.body | del(.travelQuoteReference, .escortQuoteReference)' "$EX/travel-amendment.json" | sed "s/'/''/g")')" >/dev/null
expect tsp "$R" "-/none/amended" 20 "message 11"
AM=$(q tsp "SELECT message_id FROM hublink.amendment WHERE booking = 'travel'")
answer tsp "$(example travel-update "$R" ".body.amendmentOutcome.amendmentMessageId = \"$AM\"")"
expect hub "$R" "booked/booked/booked" 20 "message 12: a flight delay, the outcome and a change fee"
check_eq "the hub has the new flight time and the fee" "2026-03-17 11:40:00+00|75.00" \
    "$(q hub "SELECT (SELECT start_time FROM hublink.itinerary_segment s JOIN hublink.travel_quote t USING (travel_quote_id)
                       WHERE t.travel_quote_reference = 'TSP-TQ-88412-1' AND s.segment_id = 'T1' AND s.current),
                     (SELECT amount FROM hublink.financial_consequence)")"

answer tsp "$(example travel-update "$R" '.body = {travelQuoteReference: "TSP-TQ-88412-1", completed: {segments: [{segmentId: "T1", departedAt: "2026-03-17T11:52:00+00:00", arrivedAt: "2026-03-17T19:01:00+01:00"}]}}')"
answer esp "$(example escort-update "$R" '.body = {escortQuoteReference: "ESP-EQ-000123-B", completed: {segments: [{segmentId: "S1", departedAt: "2026-03-17T06:35:00+00:00", arrivedAt: "2026-03-17T07:25:00+00:00"}]}}')"
expect hub "$R" "completed/completed/completed" 20 "completed"
expect esp "$R" "-/completed/none" 5 "the esp"
expect tsp "$R" "-/none/completed" 5 "the tsp"
check_eq "the hub recorded every transition of the conversation" "8|15|8" \
    "$(q hub "SELECT (SELECT count(DISTINCT message_id) FROM hublink.state_transition WHERE direction = 'in'),
                     (SELECT count(*) FROM hublink.state_transition WHERE machine = 'removal'),
                     (SELECT count(*) FROM hublink.inbox WHERE status = 'applied')")"

# An impossible message (sent around the state machine with the raw hublink.send) is rejected.
qv esp "SELECT hublink.send(:'m')" m "$(example escort-update "$R" '.body = {escortQuoteReference: "ESP-EQ-000123-B", delayed: {reason: {code: "TRAFFIC"}, segments: [{segmentId: "S1", newStart: "2026-03-17T07:00:00+00:00", newFinish: "2026-03-17T08:00:00+00:00"}]}}')" >/dev/null
if wait_for hub 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE status = 'rejected' AND message_type = 'EscortUpdate'"; then
    ok "an escort delay after completion is rejected by the hub"
else
    not_ok "an escort delay after completion is rejected by the hub"
fi
check_eq "with an Error message for escort-update-error" "escort-update-error" \
    "$(q hub "SELECT queue FROM hublink.outbox WHERE message_type = 'Error'")"

# --- an unescorted removal ----------------------------------------------------------------
R2=$(q hub "SELECT hublink.create_removal('CASE-88001', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-5550001\",
   \"name\": {\"givenNames\": \"Ana\", \"familyName\": \"Pereira\"}, \"dateOfBirth\": \"1990-01-01\", \"nationality\": \"BRA\", \"gender\": \"F\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"FP123456\", \"issuingCountry\": \"BRA\"}],
   \"location\": {\"prisonId\": \"HMP_BRONZEFIELD\"}, \"risk\": {\"flags\": []}}]',
   '2026-05-01', '2026-05-10', '{\"description\": \"Sao Paulo\", \"country\": \"BRA\", \"airportCode\": \"GRU\"}')")
OUT=$(psql_at hub -XqAt -c "LISTEN hublink_status" \
          -c "SELECT hublink.request_travel_quotes('$R2')" 2>&1)
if grep "notification \"hublink_status\"" <<<"$OUT" | grep "$R2" | grep -q '"to" : "quoting"'; then
    ok "a status change raises NOTIFY hublink_status with the removal reference"
else
    not_ok "a status change raises NOTIFY hublink_status with the removal reference: $OUT"
fi
expect tsp "$R2" "-/none/quote_requested" 20 "unescorted: message 3"
answer tsp "$(example travel-quote-response "$R2" "$FRESH | .body.quotes |= map(del(.escortQuoteReference)) | .body.quotes |= map(.travelQuoteReference |= sub(\"TSP-TQ-88412\"; \"TSP-TQ-99001\"))")"
expect hub "$R2" "quoted/none/quoted" 20 "unescorted: message 4"
q hub "SELECT hublink.choose_quote('$R2', 'TSP-TQ-99001-1')" >/dev/null
expect tsp "$R2" "-/none/booking_requested" 20 "unescorted: message 7"
answer tsp "$(example travel-booking-response "$R2" '.body.travelQuoteReference = "TSP-TQ-99001-1"')"
expect hub "$R2" "booked/none/booked" 20 "unescorted: booked"
answer tsp "$(example travel-update "$R2" '.body = {travelQuoteReference: "TSP-TQ-99001-1", completed: {segments: [{segmentId: "T1", departedAt: "2026-05-01T11:52:00+00:00", arrivedAt: "2026-05-01T19:01:00+01:00"}]}}')"
expect hub "$R2" "completed/none/completed" 20 "unescorted: completed"

# --- re-quote, then cancellation after booking (escorted) --------------------------------------
R3=$(q hub "SELECT hublink.create_removal('CASE-90001', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-6660001\",
   \"name\": {\"givenNames\": \"Jon\", \"familyName\": \"Doe\"}, \"dateOfBirth\": \"1985-01-01\", \"nationality\": \"NGA\", \"gender\": \"M\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"A01234567\", \"issuingCountry\": \"NGA\"}],
   \"location\": {\"detentionCentreId\": \"HARMONDSWORTH_IRC\"}, \"risk\": {\"flags\": [\"ABSCONDER\"]}}]',
   '2026-03-16', '2026-03-20', '{\"description\": \"Lagos\", \"country\": \"NGA\", \"airportCode\": \"LOS\"}')")
q hub "SELECT hublink.request_escort_quotes('$R3')" >/dev/null
expect esp "$R3" "-/quote_requested/none" 20 "re-quote: message 1"
answer esp "$(example escort-quote-response "$R3" | sed 's/ESP-EQ-000123-/ESP-EQ-000300-/g')"
expect hub "$R3" "quoting/quoted/none" 20 "re-quote: message 2"
q hub "SELECT hublink.request_travel_quotes('$R3')" >/dev/null
expect tsp "$R3" "-/none/quote_requested" 20 "re-quote: message 3"
answer tsp "$(example travel-quote-response "$R3" "$FRESH" | sed 's/ESP-EQ-000123-/ESP-EQ-000300-/g; s/TSP-TQ-88412-/TSP-TQ-30000-/g')"
expect hub "$R3" "quoted/quoted/quoted" 20 "re-quote: message 4"
q hub "SELECT hublink.set_risk('$R3', 'HO-6660001', '{ABSCONDER,VIOLENT}'); SELECT hublink.requote('$R3')" >/dev/null
expect hub "$R3" "quoting/quote_requested/quoted" 5 "re-quote (4.5): back to message 1"
expect esp "$R3" "-/quote_requested/none" 20 "re-quote: the esp is asked again"
check_eq "re-quote: the esp sees the new risk" "ABSCONDER,VIOLENT" \
    "$(q esp "SELECT array_to_string(a.flags, ',') FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
              WHERE t.ho_returnee_reference = 'HO-6660001' AND a.audience = 'esp' AND a.current")"
answer esp "$(example escort-quote-response "$R3" | sed 's/ESP-EQ-000123-/ESP-EQ-000301-/g')"
expect hub "$R3" "quoting/quoted/quoted" 20 "re-quote: new escort quotes"
q hub "SELECT hublink.request_travel_quotes('$R3')" >/dev/null
expect tsp "$R3" "-/none/quote_requested" 20 "re-quote: the tsp is asked again"
answer tsp "$(example travel-quote-response "$R3" "$FRESH" | sed 's/ESP-EQ-000123-/ESP-EQ-000301-/g; s/TSP-TQ-88412-/TSP-TQ-30001-/g')"
expect hub "$R3" "quoted/quoted/quoted" 20 "re-quote: new travel quotes"
check_eq "re-quote: only the new quotes can be booked" "TSP-TQ-30001-1,TSP-TQ-30001-2" \
    "$(q hub "SELECT string_agg(travel_quote_reference, ',' ORDER BY travel_quote_reference) FROM hublink.removal_quotes('$R3')")"
q hub "SELECT hublink.choose_quote('$R3', 'TSP-TQ-30001-1')" >/dev/null
expect esp "$R3" "-/booking_requested/none" 20 "re-quote: message 5"
expect tsp "$R3" "-/none/booking_requested" 20 "re-quote: message 7"
# An escort update that overtakes the booking response (sent raw, around the ESP's machine).
qv esp "SELECT hublink.send(:'m')" m "$(example escort-update "$R3" '.body = {escortQuoteReference: "ESP-EQ-000301-B", escortDetails: {escorts: [{escortId: "ESC-40117", escortNumber: 1, name: {givenNames: "Daniel", familyName: "Hughes"}}]}}')" >/dev/null
if wait_for hub 20 "SELECT status = 'retrying' FROM hublink.inbox WHERE message_type = 'EscortUpdate' AND removal_id = '$R3'"; then
    ok "an escort update ahead of the booking response is premature: the hub retries it"
else
    not_ok "an escort update ahead of the booking response is premature: the hub retries it"
fi
answer esp "$(example escort-booking-response "$R3" | sed 's/ESP-EQ-000123-/ESP-EQ-000301-/g')"
if wait_for hub 20 "SELECT status = 'applied' AND attempts > 1 FROM hublink.inbox WHERE message_type = 'EscortUpdate' AND removal_id = '$R3'"; then
    ok "and applies it once the booking response is in"
else
    not_ok "and applies it once the booking response is in"
fi
answer tsp "$(example travel-booking-response "$R3" | sed 's/TSP-TQ-88412-/TSP-TQ-30001-/g')"
expect hub "$R3" "booked/booked/booked" 20 "re-quote: booked"
q hub "SELECT hublink.cancel_removal('$R3', 'LEGAL_CHALLENGE', 'JR lodged.', true)" >/dev/null
expect hub "$R3" "cancelled/cancelled/cancelled" 5 "cancellation after booking (messages 13, 14)"
expect esp "$R3" "-/cancelled/none" 20 "cancellation after booking"
expect tsp "$R3" "-/none/cancelled" 20 "cancellation after booking"
answer tsp "$(example travel-update "$R3" '.body = {travelQuoteReference: "TSP-TQ-30001-1", financial: {refund: {amount: "6305.00", currency: "GBP"}, cancellationFee: {amount: "150.00", currency: "GBP"}, reason: {code: "CANCELLED_BY_HO"}}}')"
if wait_for hub 20 "SELECT count(*) = 2 FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = '$R3'"; then
    ok "the tsp's refund and cancellation fee reach the hub"
else
    not_ok "the tsp's refund and cancellation fee reach the hub"
fi
if q hub "SELECT hublink.amend_travel('$R3', '{\"other\": \"too late\"}')" >/dev/null 2>&1; then
    not_ok "no amendment after cancellation"
else
    ok "no amendment after cancellation"
fi

# --- cancellation before booking (unescorted) -----------------------------------------------
R4=$(q hub "SELECT hublink.create_removal('CASE-90002', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-6660002\",
   \"name\": {\"givenNames\": \"Mia\", \"familyName\": \"Roe\"}, \"dateOfBirth\": \"1992-01-01\", \"nationality\": \"BRA\", \"gender\": \"F\"},
   \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"FP654321\", \"issuingCountry\": \"BRA\"}],
   \"location\": {\"prisonId\": \"HMP_BRONZEFIELD\"}, \"risk\": {\"flags\": []}}]',
   '2026-05-01', '2026-05-10', '{\"description\": \"Sao Paulo\", \"country\": \"BRA\", \"airportCode\": \"GRU\"}')")
q hub "SELECT hublink.request_travel_quotes('$R4')" >/dev/null
expect tsp "$R4" "-/none/quote_requested" 20 "before booking: message 3"
answer tsp "$(example travel-quote-response "$R4" "$FRESH | .body.quotes |= map(del(.escortQuoteReference))" | sed 's/TSP-TQ-88412-/TSP-TQ-40000-/g')"
expect hub "$R4" "quoted/none/quoted" 20 "before booking: quoted"
q hub "SELECT hublink.cancel_removal('$R4', 'RETURNEE_RELEASED')" >/dev/null
expect hub "$R4" "cancelled/none/cancelled" 5 "cancellation before booking"
expect tsp "$R4" "-/none/cancelled" 20 "cancellation before booking"
check_eq "the tsp records it as before booking" "t" \
    "$(q tsp "SELECT before_booking FROM hublink.cancellation c JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = '$R4'")"

echo "$PASSED passed, $FAILED failed"
((FAILED == 0 && N > 0))
