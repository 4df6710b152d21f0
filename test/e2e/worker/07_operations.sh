#!/usr/bin/env bash
# SIGTERM exits promptly; DROP EXTENSION and DROP DATABASE are not blocked by the worker;
# the worker waits for CREATE EXTENSION; it is woken at commit, not by polling (issue 3,
# section 5).
. "$(dirname "$0")/lib.sh"
worker_stack_up

pid=$(worker_pid)
t0=$(date +%s%N)
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
ms=$((($(date +%s%N) - t0) / 1000000))
check "SIGTERM: the worker exits promptly (${ms} ms)" test "$ms" -lt 1000
check "and the postmaster starts it again" \
    wait_for 20 "SELECT state = 'connected' AND pid <> $pid FROM hublink.worker_status"

# Woken at commit: an idle worker publishes a sent message at once, not on a timer. With
# heartbeats off the idle worker's only timer is the jobs' idle recheck (60 s), so a
# confirmation within 10 s can only come from the wake-up at commit; the bound is generous
# on purpose (a loaded machine), it tells a wake-up from a timer, it does not time anything.
sql "ALTER SYSTEM SET hublink.broker_heartbeat = 0" >/dev/null
reload_conf # the worker reconnects (its connection's settings changed), without heartbeats
check "reconnected with heartbeats off" wait_for 30 "SELECT state = 'connected' FROM hublink.worker_status"
gen 1 3 | jq -c '.messageType = "EscortQuoteResponse" | .sender = "ESP" | .body = input.body' \
    - "$REPO/schemas/examples/escort-quote-response.json" >"$STACK_DIR/reply"
t0=$(date +%s%N)
send_file "$STACK_DIR/reply"
woken=0
wait_for 10 "SELECT outbox_backlog = 0 FROM hublink.worker_status" && woken=1
ms=$((($(date +%s%N) - t0) / 1000000))
check "hublink.send wakes the worker at commit: confirmed in ${ms} ms, with no timer due" test "$woken" = 1
sql "ALTER SYSTEM RESET hublink.broker_heartbeat" >/dev/null
reload_conf
wait_for 30 "SELECT state = 'connected' FROM hublink.worker_status" || true

check "DROP DATABASE of another database is not blocked" \
    timeout 10 bash -c "psql -Xq -c 'CREATE DATABASE scratch' && psql -Xq -c 'DROP DATABASE scratch'"
check "DROP EXTENSION is not blocked by the worker" \
    timeout 10 psql -Xq -c "DROP EXTENSION hublink"
gen 1 4 | hub publish escort-quote-request 2>/dev/null
check "without the extension the worker still runs, waiting" \
    wait_for 30 "SELECT true FROM pg_stat_activity WHERE backend_type = 'hublink worker'"
# It says so once it waits (the setup's start said it first); then, given time to misbehave, it
# must not have taken the message (a window for a wrong outcome, not a synchronisation).
waits_logged() { [[ $(grep -c 'waiting for CREATE EXTENSION hublink' "$HUBLINK_PG_LOG") == 2 ]]; }
for _ in $(seq 150); do waits_logged && break; sleep 0.2; done
check "it said it waits for CREATE EXTENSION" waits_logged
sleep 5
check_eq "and leaves the message on the queue (ready, not held unacked)" "1 0" "$(queue_state escort-quote-request)"
sql "CREATE EXTENSION hublink" >/dev/null
check "CREATE EXTENSION wakes it, and it connects" \
    wait_for 30 "SELECT state = 'connected' FROM hublink.worker_status"
check "the message left on the queue is applied" \
    wait_for 30 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000004'"
finish
