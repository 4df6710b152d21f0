#!/usr/bin/env bash
# Each kind of bad input ends on Q-error with the failed messageId where readable, is stored
# in the inbox as rejected, and is acked (issue 3, section 3).
. "$(dirname "$0")/lib.sh"
worker_stack_up
B=$STACK_DIR/bad
mkdir -p "$B"
one() { gen 1 "$1"; }
printf 'this is not json {' >"$B/not-json"
one 101 | sed 's/"Chinedu"/"\xff\xfeChinedu"/' | tr -d '\n' >"$B/invalid-utf8"
one 102 | jq -c '.body = {"bogus": 1}' | tr -d '\n' >"$B/fails-schema"
one 103 | jq -c '.messageType = "EscortTeleportRequest"' | tr -d '\n' >"$B/unknown-type"
one 104 | jq -c '.schemaVersion = "9.9"' | tr -d '\n' >"$B/unknown-version"
one 105 | jq -c '.messageType = "EscortQuoteResponse" | .sender = "ESP"' | tr -d '\n' >"$B/wrong-queue"
# Larger than hublink.max_message_bytes (1 MB by default).
{ one 106 | tr -d '\n' | sed 's/}$//'; printf ',"padding":"'; head -c 1100000 /dev/zero | tr '\0' a; printf '"}'; } >"$B/oversize"

kinds=(not-json invalid-utf8 fails-schema unknown-type unknown-version wrong-queue oversize)
for k in "${kinds[@]}"; do hub publish escort-quote-request "$B/$k" 2>/dev/null; done
hub --count ${#kinds[@]} --idle 15000 drain escort-quote-request-error >"$B/errors" 2>/dev/null
check_eq "one Error message per bad input" "${#kinds[@]}" "$(wc -l <"$B/errors")"
check "every Error message is valid against the Error schema" \
    test "$(while read -r l; do sql "SELECT hublink.validate_message_text(\$j\$$l\$j\$)"; done <"$B/errors" | sort -u)" = "[]"
for k in invalid-utf8 fails-schema unknown-type unknown-version wrong-queue oversize; do
    id=$(grep -ao '"messageId":"[^"]*"' "$B/$k" | head -1 | cut -d'"' -f4)
    removal=$(grep -ao '"removalId":"[^"]*"' "$B/$k" | head -1 | cut -d'"' -f4)
    check_eq "$k: on escort-quote-request-error with the failed messageId and removalId" \
        "escort-quote-request|$id|$removal" \
        "$(jq -r --arg id "$id" 'select(.body.failedMessageId == $id) | "\(.body.queue)|\(.body.failedMessageId)|\(.removalId)"' "$B/errors")"
done
check_eq "not-json: on escort-quote-request-error, without a messageId to name" "1" \
    "$(jq -r 'select(.body.failedMessageId == null and (.body.problems[0].error | test("not valid JSON"))) | .body.queue' "$B/errors" | grep -c escort-quote-request)"
# The raw bytes and the problems are sealed (NFR 0011, docs/security-crypto.md): read back
# through the audited hublink.inbox_failure; the columns themselves hold nothing in clear.
for k in not-json invalid-utf8 oversize; do
    check_eq "$k: stored as rejected with its problem, the raw bytes kept (sealed)" "1" \
        "$(sql "SELECT count(*) FROM hublink.inbox i, hublink.inbox_failure(i.id) f
                WHERE i.status = 'rejected' AND i.message IS NULL AND i.raw IS NULL AND i.problems IS NULL
                AND f.raw IS NOT NULL AND f.problems::text LIKE '%not valid JSON%'
                AND length(f.raw) = least($(stat -c %s "$B/$k"), 1048576)")"
done
check_eq "fails-schema: one problem per schema violation" "t" \
    "$(sql "SELECT jsonb_array_length(f.problems) > 1 FROM hublink.inbox i, hublink.inbox_failure(i.id) f
            WHERE i.removal_id = 'RMV-2026-000102'")"
check_eq "all bad input stored rejected, no handler effects" "${#kinds[@]}|0" \
    "$(sql "SELECT count(*) FILTER (WHERE status = 'rejected'),
                   (SELECT count(*) FROM hublink.outbox WHERE message_type <> 'Error')
              FROM hublink.inbox")"
# The Errors are published once their transaction committed, maybe before the acks (after the
# applier's report) reach the broker.
check_eq "nothing left on the queue, ready or unacked: every bad delivery was acked" "0 0" \
    "$(wait_queue_state escort-quote-request "0 0")"
# A good message behind the bad ones still goes through.
gen 1 1 | hub publish escort-quote-request 2>/dev/null
check "a good message after the bad ones is applied" \
    wait_for 10 "SELECT count(*) = 1 FROM hublink.inbox WHERE status = 'applied'"
finish
