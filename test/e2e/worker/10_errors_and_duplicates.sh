#!/usr/bin/env bash
# Errors are read by the party that sent the original (issue 14 section 2), and nothing is
# dropped in silence (section 3). The escort provider's worker consumes the error queues of the
# queues it sends on: an Error naming one of its replies is matched to the outbox row, kept as
# an error report that needs attention (worker_status, mi_worker), alerted; an Error naming
# nothing of ours is kept and alerted; a bad or forged Error is stored rejected and alerted,
# never answered. A messageId used again (a corrected resend, another queue) gets an Error
# saying what to do.
. "$(dirname "$0")/lib.sh"
worker_stack_up
W=$STACK_DIR/errors
mkdir -p "$W"
uuid() { cat /proc/sys/kernel/random/uuid; }
now() { date -u +%Y-%m-%dT%H:%M:%S.000+00:00; }
# error_for QUEUE FAILED_ID REMOVAL [SENDER]: an Error message as the Hub would send it.
error_for() {
    jq -nc --arg id "$(uuid)" --arg q "$1" --arg f "$2" --arg r "$3" --arg s "${4:-HUB}" --arg t "$(now)" \
        '{messageId: $id, messageType: "Error", schemaVersion: "1.0", sentAt: $t, sender: $s, removalId: $r,
          body: {queue: $q, failedMessageId: $f, failedMessageType: "EscortQuoteResponse",
                 problems: [{instanceLocation: "/body/quotes/0", keywordLocation: "",
                             error: "quote for an escort the Hub did not ask for", code: "INVALID_STATE"}]}}'
}
alerts() { sql "SELECT count(*) FROM hublink.alert WHERE kind = '$1'"; }
# publish_duplicate QUEUE FILE: publish a message the inbox already holds, and wait until the
# worker has counted it a duplicate (after its transaction committed): what it did with it is
# then visible.
publish_duplicate() {
    local before
    before=$(sql "SELECT duplicates FROM hublink.worker_status")
    hub publish "$1" "$2" 2>/dev/null
    check "the copy on $1 is counted a duplicate" \
        wait_for 20 "SELECT duplicates = $before + 1 FROM hublink.worker_status"
}

# --- an Error naming our reply ---------------------------------------------------------------
gen 1 920 | hub publish escort-quote-request 2>/dev/null
wait_for 20 "SELECT count(*) = 1 FROM hublink.outbox WHERE removal_id = 'RMV-2026-000920' AND sent_at IS NOT NULL" ||
    not_ok "the reply to request 920 was published"
reply=$(sql "SELECT message_id FROM hublink.outbox WHERE removal_id = 'RMV-2026-000920'")
hub --idle 2000 drain escort-quote-response >/dev/null 2>&1
error_for escort-quote-response "$reply" RMV-2026-000920 >"$W/e1"
hub publish escort-quote-response-error "$W/e1" 2>/dev/null
check "an Error naming our reply is read from escort-quote-response-error and matched to its outbox row" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.error_report r JOIN hublink.outbox o ON o.id = r.outbox_id
                 WHERE o.message_id = '$reply' AND r.reported_by = 'hub' AND r.problem_count = 1"
check_eq "the case needs attention: in hublink.needs_attention, worker_status and mi_worker" "$reply|false|1|1" \
    "$(sql "SELECT (SELECT failed_message_id || '|' || unmatched FROM hublink.needs_attention),
                   (SELECT needs_attention FROM hublink.worker_status), (SELECT needs_attention FROM hublink.mi_worker)")"
check_eq "the problems' locations are recorded, not their texts" '[{"code": "INVALID_STATE", "keywordLocation": "", "instanceLocation": "/body/quotes/0"}]' \
    "$(sql "SELECT problem_locations FROM hublink.error_report")"
check_eq "an error_received alert" "1" "$(alerts error_received)"
check_eq "the Error is stored applied in the inbox, no Error sent back" "applied|0" \
    "$(sql "SELECT status || '|' || (SELECT count(*) FROM hublink.outbox WHERE message_type = 'Error')
              FROM hublink.inbox WHERE queue = 'escort-quote-response-error'")"
publish_duplicate escort-quote-response-error "$W/e1"
check_eq "the same Error delivered again: still one report" "1" "$(sql "SELECT count(*) FROM hublink.error_report")"

# --- an Error naming no message of ours -------------------------------------------------------
error_for escort-quote-response "$(uuid)" RMV-2026-000921 >"$W/e2"
hub publish escort-quote-response-error "$W/e2" 2>/dev/null
check "an Error naming no message of ours is kept" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.needs_attention WHERE unmatched"
check_eq "and alerted (error_unmatched)" "1" "$(alerts error_unmatched)"

# --- a bad Error, and a forged one: rejected, alerted, never answered -------------------------
jq -c 'del(.body.problems) | .messageId = "'"$(uuid)"'"' "$W/e1" >"$W/e3"
hub publish escort-quote-response-error "$W/e3" 2>/dev/null
check "an invalid Error is stored rejected" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE queue = 'escort-quote-response-error' AND status = 'rejected'"
check_eq "an invalid Error is alerted, and no Error goes back" "1|0" \
    "$(sql "SELECT (SELECT count(*) FROM hublink.alert WHERE kind = 'error_not_processable'),
                   (SELECT count(*) FROM hublink.outbox WHERE message_type = 'Error')")"
error_for escort-quote-response "$reply" RMV-2026-000920 TSP >"$W/e4"
hub publish escort-quote-response-error "$W/e4" 2>/dev/null
check "an Error whose sender is not the broker user's party is rejected" \
    wait_for 20 "SELECT count(*) = 2 FROM hublink.inbox WHERE queue = 'escort-quote-response-error' AND status = 'rejected'"
check_eq "and alerted as a forged sender, no report made" "1|2" \
    "$(sql "SELECT (SELECT count(*) FROM hublink.alert WHERE kind = 'broker_sender_mismatch'),
                   (SELECT count(*) FROM hublink.error_report)")"

# --- clearing ---------------------------------------------------------------------------------
out=$(sql "SELECT hublink.clear_attention((SELECT report_id FROM hublink.needs_attention WHERE NOT unmatched), '')" 2>&1)
check "clearing needs a note" grep -q 'a note is required' <<<"$out"
sql "SELECT hublink.clear_attention((SELECT report_id FROM hublink.needs_attention WHERE NOT unmatched), 'sent a corrected quote')" >/dev/null
check_eq "a cleared report leaves needs_attention, who cleared it is kept" "1|postgres" \
    "$(sql "SELECT (SELECT needs_attention FROM hublink.worker_status), (SELECT cleared_by FROM hublink.error_report WHERE cleared_at IS NOT NULL)")"

# --- a messageId used again (issue 14 section 3) ----------------------------------------------
id=$(uuid)
gen 1 930 | jq -c --arg id "$id" '.messageId = $id | .body = {"bogus": 1}' >"$W/bad"
hub publish escort-quote-request "$W/bad" 2>/dev/null
hub --count 1 --idle 10000 drain escort-quote-request-error >/dev/null 2>&1
gen 1 930 | jq -c --arg id "$id" '.messageId = $id' >"$W/corrected"
hub publish escort-quote-request "$W/corrected" 2>/dev/null
err=$(hub --count 1 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check_eq "a corrected resend with a rejected messageId gets an Error saying to use a new messageId" \
    "$id|/messageId|DUPLICATE|true" \
    "$(jq -r '"\(.body.failedMessageId)|\(.body.problems[0].instanceLocation)|\(.body.problems[0].code)|\(.body.problems[0].error | test("was rejected at .*send the corrected message with a new messageId"))"' <<<"$err")"
check_eq "it is not applied, and alerted" "0|1" \
    "$(sql "SELECT (SELECT count(*) FROM hublink.outbox WHERE removal_id = 'RMV-2026-000930' AND message_type <> 'Error'),
                   (SELECT count(*) FROM hublink.alert WHERE kind = 'message_id_reused')")"
errors_out="SELECT count(*) FROM hublink.outbox WHERE queue = 'escort-quote-request-error'"
errors_before=$(sql "$errors_out")
publish_duplicate escort-quote-request "$W/bad"
check_eq "the rejected message itself again (a redelivery): no second Error" "$errors_before|" \
    "$(sql "$errors_out")|$(hub --count 1 --idle 2000 drain escort-quote-request-error 2>/dev/null)"

used=$(sql "SELECT message_id FROM hublink.inbox WHERE removal_id = 'RMV-2026-000920' AND message_type = 'EscortQuoteRequest'")
jq -c --arg id "$used" '.messageId = $id | .removalId = "RMV-2026-000920"' \
    "$REPO/schemas/examples/escort-booking-request.json" >"$W/other-queue"
hub publish escort-booking-request "$W/other-queue" 2>/dev/null
err=$(hub --count 1 --idle 10000 drain escort-booking-request-error 2>/dev/null)
check_eq "the messageId of a request reused on another queue gets an Error naming the first queue" \
    "$used|true" \
    "$(jq -r '"\(.body.failedMessageId)|\(.body.problems[0].error | test("already used on queue escort-quote-request"))"' <<<"$err")"
# --- a string PostgreSQL cannot store, named by its JSON pointer ------------------------------
gen 1 940 | jq -c '.body.returnees[0].escortRiskAssessment.notes = "cell\u0000B"' >"$W/nul"
gen 1 941 | jq -c '.body.notes = "LONE-SURROGATE"' | sed 's/LONE-SURROGATE/\\ud800 alone/' >"$W/surrogate"
hub publish escort-quote-request "$W/nul" "$W/surrogate" 2>/dev/null
errs=$(hub --count 2 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check_eq "\\u0000 in a free-text field: the Error names it by its JSON pointer" \
    "/body/returnees/0/escortRiskAssessment/notes|INVALID_STRING|true" \
    "$(jq -r 'select(.removalId == "RMV-2026-000940") | .body.problems[0] | "\(.instanceLocation)|\(.code)|\(.error | test("NUL character"))"' <<<"$errs")"
check_eq "a lone surrogate: named by its JSON pointer" "/body/notes|INVALID_STRING|true" \
    "$(jq -r 'select(.removalId == "RMV-2026-000941") | .body.problems[0] | "\(.instanceLocation)|\(.code)|\(.error | test("lone high surrogate"))"' <<<"$errs")"

# --- a handler failure that will recur is rejected at once, not retried -----------------------
psql -Xq -v ON_ERROR_STOP=1 <<'EOF2'
CREATE FUNCTION public.test_bad_data(msg jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM (msg #>> '{body,notes}')::integer; -- text that is no number: SQLSTATE 22P02
END $$;
GRANT EXECUTE ON FUNCTION public.test_bad_data(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_bad_data(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF2
retried=$(sql "SELECT retried FROM hublink.worker_status")
gen 1 950 | jq -c '.body.notes = "three"' | hub publish escort-quote-request 2>/dev/null
err=$(hub --count 1 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check_eq "a data exception in the handler: rejected at once with a clear problem" "DATA_ERROR|true|true" \
    "$(jq -r '.body.problems[0] | "\(.code)|\(.error | test("SQLSTATE 22P02"))|\(.error | test("every attempt"))"' <<<"$err")"
check_eq "never retried" "$retried|rejected" \
    "$(sql "SELECT (SELECT retried FROM hublink.worker_status) || '|' || status FROM hublink.inbox WHERE removal_id = 'RMV-2026-000950'")"
# A message first retried (its handler raised, e.g. it overtook its cause), whose retry then
# meets a data exception: rejected at that retry, not after hublink.handler_max_retries.
psql -Xq -v ON_ERROR_STOP=1 <<'EOF2'
CREATE FUNCTION public.test_late_bad_data(msg jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.inbox i WHERE i.message_id = msg ->> 'messageId' AND i.status = 'retrying') THEN
        RAISE EXCEPTION 'not yet: waiting for its cause'; -- P0001: retried
    END IF;
    PERFORM (msg #>> '{body,notes}')::integer; -- then 22P02
END $$;
GRANT EXECUTE ON FUNCTION public.test_late_bad_data(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_late_bad_data(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF2
gen 1 951 | jq -c '.body.notes = "four"' | hub publish escort-quote-request 2>/dev/null
err=$(hub --count 1 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check_eq "a retry that meets a data exception is rejected at that retry (attempt 2 of 4)" "rejected|2|DATA_ERROR" \
    "$(sql "SELECT status || '|' || attempts FROM hublink.inbox WHERE removal_id = 'RMV-2026-000951'")|$(jq -r '.body.problems[0].code' <<<"$err")"
finish
