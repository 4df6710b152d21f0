# The Hub flow of a caseworker over its real login (sourced by test/security/access/run after
# the matrix, with its logins, seed and as_login; docs/security-access.md "Caseworkers act
# through the Hub functions"; NFR 0015, Appendix B 4.16, 4.19, 4.22). The caseworker holds
# only SELECT on removal data: it creates a removal, requests travel quotes, books one and
# cancels, all through the SECURITY DEFINER Hub functions (44_hub.sql), while the provider's
# answers are applied by the superuser with hublink.handle_message as the worker would. It
# cannot UPDATE hublink.removal or call hublink.send itself, and every Hub function refuses a
# removal above its clearance. Prints "hub flow: N passed, M failed"; returns 1 on a failure.

flow_pass=0
flow_fail=0
check() { # check DESCRIPTION WANT GOT
  if [ "$2" = "$3" ]; then flow_pass=$((flow_pass + 1)); echo "ok - $1"
  else flow_fail=$((flow_fail + 1)); echo "not ok - $1: want [$2], got [$3]"; fi
}
cw() { as_login "$1" -qAt -c "$2" 2>/dev/null; }
as_su() { psql -qXAt -v ON_ERROR_STOP=1 "$@" 2>/dev/null; }
# The SQLSTATE a statement of a login ends with ('none' when it succeeds), and its error text.
sqlstate() {
  local out
  if out=$(as_login "$1" -qAt -v VERBOSITY=verbose -c "$2" 2>&1 >/dev/null); then echo none; return; fi
  sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' <<<"$out" | head -1
}
errtext() { as_login "$1" -qAt -v VERBOSITY=verbose -c "$2" 2>&1 >/dev/null | grep -v '^NOTICE\|^Activity\|^Unauthorised' || true; }
states() { as_su -c "SELECT concat_ws('/', state, escort_state, travel_state) FROM hublink.removal WHERE removal_reference = '$1'"; }

cwl=acc_cw_standard
returnees='[{"personalDetails": {"hoReturneeReference": "HO-FLOW1", "name": {"givenNames": "Flow", "familyName": "Tester"},
             "dateOfBirth": "1979-06-14", "nationality": "NGA", "gender": "M"},
             "travelDocuments": [{"type": "PASSPORT", "number": "A08120001", "issuingCountry": "NGA", "expiryDate": "2029-08-31"}],
             "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]'
create_sql() { # create_sql RETURNEES [EXTRA ARGUMENTS]
  printf "SELECT hublink.create_removal('CASE-FLOW', '%s', current_date + 10, current_date + 20, '{\"description\": \"Lagos, Nigeria\", \"country\": \"NGA\", \"airportCode\": \"LOS\"}'%s)" "$1" "${2:-}"
}

# 1. create, through the function, with SELECT only
ref=$(cw $cwl "$(create_sql "$returnees")" || true)
check "the caseworker creates a removal (hublink.create_removal)" yes "$([[ $ref =~ ^RMV-[0-9]{4}-[0-9]{6}$ ]] && echo yes || echo "no: $ref")"
check "it is its own, at the lowest sensitivity, new" "$cwl standard new/none/none" \
  "$(as_su -c "SELECT created_by || ' ' || sensitivity FROM hublink.removal WHERE removal_reference = '$ref'") $(states "$ref")"
check "it sets a risk assessment (hublink.set_risk)" none "$(sqlstate $cwl "SELECT hublink.set_risk('$ref', 'HO-FLOW1', '{}')")"

# 2. travel quotes requested by the caseworker, answered by the TSP
check "it requests travel quotes (hublink.request_travel_quotes)" none "$(sqlstate $cwl "SELECT hublink.request_travel_quotes('$ref', '{LHR}')")"
check "the removal is quoting, travel quote requested" quoting/none/quote_requested "$(states "$ref")"
m=$(jq -c --arg r "$ref" '.removalId = $r | .messageId = "6d1c1f3e-0000-4000-8000-000000000001"
      | .body.quotes |= map(del(.escortQuoteReference) | .conditions.expiresAt = "2099-01-01T00:00:00+00:00"
          | .costs.perTraveller |= map(select(.traveller.hoReturneeReference == "HO-7731904") | .traveller.hoReturneeReference = "HO-FLOW1")
          | .itinerary |= map(.travellers |= map(select(.hoReturneeReference == "HO-7731904") | .hoReturneeReference = "HO-FLOW1")))' \
    "$top/schemas/examples/travel-quote-response.json")
as_su -v m="$m" <<<"SELECT hublink.handle_message(:'m');" >/dev/null
check "the TSP's quotes are applied" quoted/none/quoted "$(states "$ref")"

# 3. the caseworker reads the quotes and books the best
q=$(cw $cwl "SELECT travel_quote_reference FROM hublink.removal_quotes('$ref') ORDER BY rank, travel_quote_reference LIMIT 1" || true)
check "it sees the quotes (hublink.removal_quotes)" yes "$([ -n "$q" ] && echo yes || echo no)"
check "it books the best (hublink.choose_quote)" none "$(sqlstate $cwl "SELECT hublink.choose_quote('$ref', '$q')")"
check "the travel booking is requested" booking/none/booking_requested "$(states "$ref")"
m=$(jq -c --arg r "$ref" --arg q "$q" '.removalId = $r | .messageId = "6d1c1f3e-0000-4000-8000-000000000002"
      | .body.travelQuoteReference = $q
      | .body.confirmation.tickets |= map(select(.traveller.hoReturneeReference == "HO-7731904") | .traveller.hoReturneeReference = "HO-FLOW1")' \
    "$top/schemas/examples/travel-booking-response.json")
as_su -v m="$m" <<<"SELECT hublink.handle_message(:'m');" >/dev/null
check "the TSP's booking is applied" booked/none/booked "$(states "$ref")"

# 4. the caseworker cancels
check "it cancels the removal (hublink.cancel_removal)" none "$(sqlstate $cwl "SELECT hublink.cancel_removal('$ref', 'RETURNEE_ILL')")"
check "the removal is cancelled" cancelled/none/cancelled "$(states "$ref")"
check "the outbox holds the three Hub messages, no Error" "TravelQuoteRequest,TravelBookingRequest,TravelCancellation 0" \
  "$(as_su -c "SELECT string_agg(message_type, ',' ORDER BY id) FROM hublink.outbox WHERE removal_id = '$ref'") $(as_su -c "SELECT count(*) FROM hublink.outbox WHERE message_type = 'Error'")"

# 5. not past the state machine
check "it cannot UPDATE hublink.removal directly" 42501 "$(sqlstate $cwl "UPDATE hublink.removal SET state = 'completed' WHERE removal_reference = '$ref'")"
check "nor INSERT a state transition" 42501 \
  "$(sqlstate $cwl "INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party) SELECT removal_id, 'removal', 'cancelled', 'completed', 'x', 'local', 'hub' FROM hublink.removal WHERE removal_reference = '$ref'")"
check "nor write the outbox through hublink.send" 42501 \
  "$(sqlstate $cwl "SELECT hublink.send(hublink.new_message('TravelCancellation', '$ref', '{}'))")"
check "and the removal is still cancelled" cancelled/none/cancelled "$(states "$ref")"

# 6. not above its clearance, through the functions either
sens=$(as_su -c "SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-ACC-SENSITIVE'")
restr=$(as_su -c "SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-ACC-RESTRICTED'")
before=$(states "$restr")
for f in "hublink.request_travel_quotes('$restr')" "hublink.request_escort_quotes('$restr')" "hublink.requote('$restr')" \
         "hublink.set_risk('$restr', 'HO-ACC30', '{}')" "hublink.profile_risk('$restr')" \
         "hublink.choose_quote('$restr', 'TSP-TQ-88412-1')" "hublink.amend_travel('$restr', '{}')" \
         "hublink.amend_escort('$restr', '{}')" "hublink.cancel_removal('$sens', 'RETURNEE_ILL')" \
         "hublink.cancel_booking('$sens', 'travel', 'RETURNEE_ILL')"; do
  check "$cwl: $f above its clearance is refused" 42501 "$(sqlstate $cwl "SELECT $f")"
done
check "a removal that does not exist is refused alike (no existence leak)" 42501 \
  "$(sqlstate $cwl "SELECT hublink.request_travel_quotes('RMV-1999-999999')")"
check "the restricted removal did not change" "$before" "$(states "$restr")"
above_sql=$(create_sql "${returnees//HO-FLOW1/HO-FLOW2}" ", sensitivity => 'sensitive'")
check "it may not create a removal above its clearance" 42501 "$(sqlstate $cwl "$above_sql")"
none_sql=$(create_sql "${returnees//HO-FLOW1/HO-FLOW3}")
check "a caseworker without a clearance creates none" 42501 "$(sqlstate acc_cw_none "$none_sql")"
sens_sql=$(create_sql "${returnees//HO-FLOW1/HO-FLOW4}" ", sensitivity => 'sensitive'")
sref=$(cw acc_cw_sensitive "$sens_sql" || true)
check "a sensitive caseworker creates a sensitive removal" sensitive \
  "$(as_su -c "SELECT sensitivity FROM hublink.removal WHERE removal_reference = '$sref'")"

# 7. 4.22 across clearances: refused, and only yes/no about a removal it may not see
dup=$(create_sql "${returnees//HO-FLOW1/HO-ACC30}")
check "4.22: a returnee with a live restricted removal is refused to a standard caseworker" 23505 "$(sqlstate $cwl "$dup")"
std_text=$(errtext $cwl "$dup")
restricted_text=$(errtext acc_cw_restricted "$dup")
check "without naming that removal" no "$(case $std_text in *"$restr"*) echo yes ;; *) echo no ;; esac)"
check "while the restricted caseworker is told which" yes "$(case $restricted_text in *"$restr"*) echo yes ;; *) echo no ;; esac)"
check "no removal was created by the refused calls" 2 "$(as_su -c "SELECT count(*) FROM hublink.removal WHERE case_reference = 'CASE-FLOW'")"

echo "hub flow: $flow_pass passed, $flow_fail failed"
[ "$flow_fail" -eq 0 ]
