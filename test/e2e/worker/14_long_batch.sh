#!/usr/bin/env bash
# A batch that takes longer than two heartbeat intervals (docs/worker.md "Heartbeats during long
# batches"; the soak's finding: "Acknowledging deliveries: a SSL error occurred" under load). The
# broker closes a connection it has heard nothing on for two heartbeat intervals; the worker's
# next ack then meets a reset socket. Here heartbeats are 2 s and one batch of 8 messages takes
# about 8 s: the connection must survive, and every message is applied once.
. "$(dirname "$0")/lib.sh"
worker_stack_up

sql "ALTER SYSTEM SET hublink.broker_heartbeat = 2" >/dev/null
sql "ALTER SYSTEM SET hublink.batch_size = 8" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
check "the worker reconnects with 2 s heartbeats" wait_for 30 \
    "SELECT state = 'connected' AND current_setting('hublink.broker_heartbeat') = '2s' FROM hublink.worker_status"
lost_before=$(grep -c "lost its connection to the broker" "$HUBLINK_PG_LOG")
sql "INSERT INTO public.test_handler_delay VALUES (1.0)"
gen 16 1 >"$STACK_DIR/requests"
hub --timestamp publish escort-quote-request <"$STACK_DIR/requests" 2>/dev/null
check "16 requests applied in batches of about 8 s each" \
    wait_for 90 "SELECT count(*) = 16 FROM hublink.inbox WHERE status = 'applied'"
sql "DELETE FROM public.test_handler_delay"
lost=$(($(grep -c "lost its connection to the broker" "$HUBLINK_PG_LOG") - lost_before))
note "connections lost during the run: $lost"
grep -A2 "lost its connection to the broker" "$HUBLINK_PG_LOG" | sed 's/^/#   /' | tail -6
check_eq "the connection held through batches longer than two heartbeat intervals" "0" "$lost"
check_eq "no delivery was applied twice (no redelivery after a lost connection)" "0" \
    "$(sql "SELECT duplicates FROM hublink.worker_status")"
sleep 1
check_eq "and the broker holds nothing unacked" "0" "$(queue_count escort-quote-request)"
sql "ALTER SYSTEM RESET hublink.broker_heartbeat" >/dev/null
sql "ALTER SYSTEM RESET hublink.batch_size" >/dev/null
finish
