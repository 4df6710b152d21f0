#!/usr/bin/env bash
# 1,000 messages in flight while the postmaster is killed with SIGKILL and started again
# (issue 3, section 6), twice on one stack:
#   run 1 (removals 1..1000): the message worker applies every delivery itself
#     (hublink.appliers = 1, the single-process path); it comes back with two appliers;
#   run 2 (removals 1001..2000): two appliers apply them; it comes back with one again.
# hublink.appliers is read at start only: ALTER SYSTEM before each kill picks the setting the
# restart comes back with, so both paths are killed and both recover, at the cost of one
# stack (docs/worker.md "Durable before acked").
#
# Before each kill the WAL writer is stopped (SIGSTOP) until two more batches have committed,
# and killed with the postmaster: a commit the committing process did not flush itself is then
# lost, as in a power cut, where only what was flushed survives. The stack commits
# asynchronously (synchronous_commit = off), and the handler here, like an author tuning for
# speed, turns synchronous_commit off for its whole session (the worker's or an applier's): a
# worker that acks a batch before its commit is on disk loses it here on every run (before the
# fix it lost one only when the kill came within the WAL writer's 200 ms, about half the runs).
# Acks must depend neither on the WAL writer nor on what a handler sets. Run 3 names a
# synchronous standby that is away: the worker's ack waits for it, whatever the handler set.
. "$(dirname "$0")/lib.sh"
export HUBLINK_PG_EXTRA='hublink.appliers = 1'
worker_stack_up
NEXT_APPLIERS=''
kill_postmaster() {
    local pm children i
    # A restart setting: the restart below reads it (postgresql.auto.conf, after the stack's file).
    sql "ALTER SYSTEM SET hublink.appliers = $NEXT_APPLIERS" >/dev/null
    pm=$(head -1 "$HUBLINK_PG_DATA/postmaster.pid")
    children=$(pgrep -P "$pm" | tr '\n' ' ')
    stop_wal_writer
    note "SIGKILL to the postmaster, pid $pm, and to the stopped WAL writer"
    check "SIGKILL is delivered to the postmaster (pid $pm)" kill -KILL "$pm"
    kill -KILL "${WALWRITER:-none}" 2>/dev/null
    IN_FLIGHT=$(queue_count escort-quote-request)
    # Its children notice the postmaster's death and exit; wait for every one of them.
    for ((i = 0; i < 300; i++)); do
        alive=0
        for c in $children; do kill -0 "$c" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    "$REPO/scripts/stack" start "$STACK_DIR" >/dev/null 2>&1 || not_ok "restarting PostgreSQL"
    wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status" ||
        not_ok "the worker came back after the restart"
}
# appliers_running N: the setting is N, and N appliers run (none with 1: the worker applies).
appliers_running() {
    check_eq "the worker runs with hublink.appliers = $1" "$1|$(($1 > 1 ? $1 : 0))" \
        "$(wait_for 30 "SELECT appliers_running = (CASE WHEN appliers > 1 THEN appliers ELSE 0 END)
                          FROM hublink.worker_status"
           sql "SELECT appliers || '|' || appliers_running FROM hublink.worker_status")"
}

# The careless handler (lib.sh): the ack must still wait for a commit that is on disk.
install_careless_handler || not_ok "the careless handler is installed"

note "run 1: hublink.appliers = 1 (the message worker applies)"
appliers_running 1
NEXT_APPLIERS=2
crash_run kill_postmaster 1

note "run 2: hublink.appliers = 2 (two appliers apply)"
appliers_running 2
NEXT_APPLIERS=1
crash_run kill_postmaster 1001
appliers_running 1

# Run 3, no kill: a synchronous standby is named and away. The careless handler has left the
# worker's session at synchronous_commit = off, which would also skip the wait for the standby:
# acked here, lost after a failover. The ack must wait for the standby, at the level the worker
# set at start (bgworker/worker_txn.c, the fifth pass's review).
note "run 3: a synchronous standby named and away (hublink.appliers = 1)"
sql "ALTER SYSTEM SET synchronous_standby_names = 'hublink_absent_standby'" >/dev/null
reload_conf
# A probe commits a write (a temporary table's catalog rows) at synchronous_commit = on: once it
# waits, the server waits for the standby.
PGAPPNAME=hublink_syncprobe psql -XqAt -c "SET synchronous_commit = on" -c "CREATE TEMP TABLE syncprobe ()" >/dev/null 2>&1 &
probe=$!
check "a commit waits for the absent standby" wait_for 30 \
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'hublink_syncprobe' AND wait_event = 'SyncRep'"
gen 1 3001 >"$STACK_DIR/request-3001"
hub --timestamp publish escort-quote-request <"$STACK_DIR/request-3001" 2>/dev/null || not_ok "publishing a request"
check "the worker's commit waits for the standby too, though its handler set synchronous_commit off" wait_for 30 \
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'hublink worker' AND wait_event = 'SyncRep'"
check_eq "its delivery is not acked while it waits" "0 1" "$(queue_state escort-quote-request)"
sql "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait "$probe"
check "with the standby no longer required, the request is applied" wait_for 30 \
    "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-003001' AND status = 'applied'"
check_eq "and then acked" "0 0" "$(wait_queue_state escort-quote-request '0 0')"
finish
