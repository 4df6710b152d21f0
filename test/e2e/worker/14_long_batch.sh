#!/usr/bin/env bash
# A batch that takes longer than two heartbeat intervals (docs/worker.md "Heartbeats during long
# batches"; the soak's finding: "Acknowledging deliveries: a SSL error occurred" under load). The
# broker closes a connection it has heard nothing on for two heartbeat intervals; the worker's
# next ack then meets a reset socket. Here heartbeats are 2 s and one batch of 8 messages takes
# about 8 s: the connection must survive, and every message is applied once.
# Then adaptive batching (docs/worker.md "Batches and latency"): while the queue is shallow a
# batch commits after hublink.batch_time_limit, and a backlog keeps full batches.
. "$(dirname "$0")/lib.sh"
worker_stack_up

sql "ALTER SYSTEM SET hublink.broker_heartbeat = 2" >/dev/null
sql "ALTER SYSTEM SET hublink.batch_size = 8" >/dev/null
# The long batch needs the full batch whatever the queue's depth (the limit's off value).
sql "ALTER SYSTEM SET hublink.batch_time_limit = 0" >/dev/null
# current_setting() here is this new session's: the worker reads the file when it handles its
# SIGHUP, and reconnects then (a reconnection amid the batches below would redeliver).
reload_conf
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
# Acked after the applier's report, so after the rows above are visible.
check_eq "and the broker holds nothing unacked" "0 0" "$(wait_queue_state escort-quote-request "0 0")"
sql "ALTER SYSTEM RESET hublink.broker_heartbeat" >/dev/null

# batches FIRST N: publish N requests at once (removals FIRST..) to a handler taking 0.1 s each,
# wait until all are applied, and print the most messages one transaction applied (the inbox
# rows of one transaction share processed_at, its start).
batches() {
    local last=$(($1 + $2 - 1))
    gen "$2" "$1" >"$STACK_DIR/requests"
    hub --timestamp publish escort-quote-request <"$STACK_DIR/requests" 2>/dev/null
    wait_for 120 "SELECT count(*) = $2 FROM hublink.inbox WHERE status = 'applied'
                   AND removal_id BETWEEN 'RMV-2026-$(printf %06d "$1")' AND 'RMV-2026-$(printf %06d "$last")'" ||
        echo "not all applied"
    sql "SELECT max(n) FROM (SELECT count(*) AS n FROM hublink.inbox
          WHERE removal_id BETWEEN 'RMV-2026-$(printf %06d "$1")' AND 'RMV-2026-$(printf %06d "$last")'
          GROUP BY processed_at) b"
}
sql "INSERT INTO public.test_handler_delay VALUES (0.1)"
# Off, as before 0.2.0: the first delivery alone, then the rest of the 12 in one batch.
# A new session sees the file at once; the worker and its appliers read it when they handle
# their SIGHUP (a run saw a batch of 8 under batch_size 4 when the appliers had not yet):
# reload_conf waits until every one of them has.
reload_to() { sql "ALTER SYSTEM SET $1 = $2" >/dev/null; reload_conf
              wait_for 10 "SELECT current_setting('$1') = '$3'"; }
reload_to hublink.batch_time_limit 0 0
off=$(batches 101 12)
check "limit off: a shallow queue is applied in batches of more than 2 (the old way; got $off)" \
    test "${off:-0}" -gt 2
# 150 ms: the batch stops after the message that passes it, so at most 2 of 0.1 s.
reload_to hublink.batch_time_limit 150 150ms
on=$(batches 201 12)
check_eq "limit 150 ms: a shallow queue (fewer than batch_size behind the batch) commits every 2 messages at most" \
    "ok" "$( ((${on:-99} <= 2)) && echo ok || echo "a batch of $on")"
# A backlog deeper than batch_size behind the batch keeps full batches of batch_size.
reload_to hublink.batch_size 4 4
deep=$(batches 301 24)
check_eq "a backlog (24 at once, batch_size 4) keeps full batches despite the limit" "4" "$deep"
check_eq "every one of the 48 applied once" "48|0" \
    "$(sql "SELECT count(*) FROM hublink.inbox WHERE removal_id >= 'RMV-2026-000101'")|$(sql "SELECT duplicates FROM hublink.worker_status")"
sql "DELETE FROM public.test_handler_delay"
sql "ALTER SYSTEM RESET hublink.batch_size" >/dev/null
sql "ALTER SYSTEM RESET hublink.batch_time_limit" >/dev/null
finish
