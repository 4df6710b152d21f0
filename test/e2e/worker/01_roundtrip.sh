#!/usr/bin/env bash
# Round trip, duplicate delivery, handler retries and poison messages (issue 3, sections 2-4, 6).
. "$(dirname "$0")/lib.sh"
worker_stack_up
R=$STACK_DIR/replies

# Round trip: a request on escort-quote-request is stored, and its reply arrives.
gen 1 1 >"$STACK_DIR/one"
hub --timestamp publish escort-quote-request <"$STACK_DIR/one" 2>/dev/null
hub --count 1 --idle 10000 drain escort-quote-response >"$R.1" 2>/dev/null
check_eq "round trip: the reply arrives on escort-quote-response" "RMV-2026-000001" \
    "$(jq -r .removalId "$R.1")"
check "round trip: the reply is valid against its schema" \
    test "$(sql "SELECT hublink.validate_message_text(\$j\$$(cat "$R.1")\$j\$)")" = "[]"
check_eq "round trip: the request is in the inbox, applied, enqueue time from the AMQP timestamp" \
    "applied|amqp-timestamp|t" \
    "$(sql "SELECT status, enqueued_at_source, received_at >= enqueued_at FROM hublink.inbox
            WHERE removal_id = 'RMV-2026-000001'")"
check_eq "round trip: the reply is marked sent after its confirm" "t" \
    "$(wait_for 10 "SELECT bool_and(sent_at IS NOT NULL) FROM hublink.outbox" && echo t)"

# Without an AMQP timestamp the enqueue time is the envelope's sentAt.
gen 1 2 | hub publish escort-quote-request 2>/dev/null
wait_for 10 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000002'"
check_eq "no AMQP timestamp: enqueued_at is the envelope's sentAt" "sent-at|t" \
    "$(sql "SELECT enqueued_at_source, enqueued_at = (message->>'sentAt')::timestamptz
            FROM hublink.inbox WHERE removal_id = 'RMV-2026-000002'")"

# Duplicate delivery: the same messageId three times has one effect, and every copy is acked.
hub publish escort-quote-request "$STACK_DIR/one" "$STACK_DIR/one" "$STACK_DIR/one" 2>/dev/null
check "duplicates: all three copies counted as duplicates" \
    wait_for 10 "SELECT duplicates = 3 FROM hublink.worker_status"
check_eq "duplicates: still one inbox row and one reply" "1|1" \
    "$(sql "SELECT (SELECT count(*) FROM hublink.inbox WHERE removal_id = 'RMV-2026-000001'),
                   (SELECT count(*) FROM hublink.outbox WHERE removal_id = 'RMV-2026-000001')")"
# Counted at the applier's commit; acked by the message worker after the applier's report.
check_eq "duplicates: nothing left on the queue, ready or unacked" "0 0" \
    "$(wait_queue_state escort-quote-request "0 0")"

# A handler that fails twice is retried with backoff and then succeeds.
sql "INSERT INTO public.test_handler_failures VALUES ('RMV-2026-000010', 2)"
gen 1 10 | hub publish escort-quote-request 2>/dev/null
check "retry: a handler failing twice succeeds on its third attempt" \
    wait_for 20 "SELECT status = 'applied' AND attempts = 3 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000010'"
check_eq "retry: its effects happened once" "1" \
    "$(sql "SELECT count(*) FROM hublink.outbox WHERE removal_id = 'RMV-2026-000010'")"

# A poison message (the handler always fails) is rejected after the retries and does not
# block the messages behind it.
sql "INSERT INTO public.test_handler_failures VALUES ('RMV-2026-000020', 1000)"
gen 5 20 | hub publish escort-quote-request 2>/dev/null
check "poison: the messages behind it are applied" \
    wait_for 10 "SELECT count(*) = 4 FROM hublink.inbox WHERE removal_id BETWEEN 'RMV-2026-000021' AND 'RMV-2026-000024' AND status = 'applied'"
check "poison: rejected after hublink.handler_max_retries retries" \
    wait_for 20 "SELECT status = 'rejected' AND attempts = 4 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000020'"
hub --count 1 --idle 10000 drain escort-quote-request-error >"$R.err" 2>/dev/null
check_eq "poison: its Error message names the failed messageId" \
    "$(sql "SELECT message_id FROM hublink.inbox WHERE removal_id = 'RMV-2026-000020'")" \
    "$(jq -r .body.failedMessageId "$R.err")"

# hublink.send validates, and checks the party.
check "send: the request is valid (so the refusal below is for the party)" \
    test "$(sql "SELECT hublink.validate_message_text(\$j\$$(cat "$STACK_DIR/one")\$j\$)")" = "[]"
check_eq "send: an invalid message is refused (22023, not valid against its schema)" \
    "22023: message is not valid against its schema" \
    "$(sql_error "SELECT hublink.send('{\"messageType\": \"EscortQuoteResponse\"}')")"
head -1 "$STACK_DIR/one" >"$STACK_DIR/request"
check_eq "send: a message this party does not send is refused (22023, the party)" \
    '22023: party "esp" does not send EscortQuoteRequest messages' \
    "$(sql_error "SELECT hublink.send(\$j\$$(cat "$STACK_DIR/request")\$j\$)")"

# The Error just published is marked sent by the next batch or within 250 ms (docs/worker.md
# "Batches and latency"), and a delivery is counted received at its applier's commit but acked
# only after the applier's report: wait for all of it, then read everything at once.
wait_for 10 "SELECT outbox_backlog = 0 AND acked = received
                AND (SELECT confirms_unmarked FROM hublink.worker_processes() WHERE process = 'messages') = 0
               FROM hublink.worker_status" >/dev/null
check_eq "worker_status: counters and backlog" "connected|0|t|0" \
    "$(sql "SELECT state, outbox_backlog, received >= 11 AND acked = received,
                   (SELECT confirms_unmarked FROM hublink.worker_processes() WHERE process = 'messages')
              FROM hublink.worker_status")"
finish
