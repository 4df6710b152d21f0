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
# Acks must depend neither on the WAL writer nor on what a handler sets.
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
    walwriter=$(ps -o pid=,args= --ppid "$pm" | awk '$0 ~ /walwriter/ { print $1 }')
    applied=$(sql "SELECT count(*) FROM hublink.inbox")
    check "SIGSTOP is delivered to the WAL writer (pid ${walwriter:-none})" kill -STOP "${walwriter:-none}"
    check "two more batches committed while the WAL writer is stopped" \
        wait_for 30 "SELECT count(*) >= $applied + 64 FROM hublink.inbox"
    note "SIGKILL to the postmaster, pid $pm, and to the stopped WAL writer"
    check "SIGKILL is delivered to the postmaster (pid $pm)" kill -KILL "$pm"
    kill -KILL "${walwriter:-none}" 2>/dev/null
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

# A handler may run any SQL: this one leaves its session (the message worker's, an applier's)
# committing asynchronously. The ack must still wait for a commit that is on disk.
psql -Xq -v ON_ERROR_STOP=1 <<'EOF' >/dev/null || not_ok "the careless handler is installed"
CREATE FUNCTION public.test_reply_careless(msg jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', false);
    PERFORM public.test_reply(msg);
END $$;
REVOKE ALL ON FUNCTION public.test_reply_careless(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.test_reply_careless(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_reply_careless(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF

note "run 1: hublink.appliers = 1 (the message worker applies)"
appliers_running 1
NEXT_APPLIERS=2
crash_run kill_postmaster 1

note "run 2: hublink.appliers = 2 (two appliers apply)"
appliers_running 2
NEXT_APPLIERS=1
crash_run kill_postmaster 1001
appliers_running 1
finish
