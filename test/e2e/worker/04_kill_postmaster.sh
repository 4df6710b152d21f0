#!/usr/bin/env bash
# 1,000 messages in flight while the postmaster is killed with SIGKILL and started again
# (issue 3, section 6).
. "$(dirname "$0")/lib.sh"
worker_stack_up
kill_postmaster() {
    local pm children i
    pm=$(head -1 "$HUBLINK_PG_DATA/postmaster.pid")
    children=$(pgrep -P "$pm" | tr '\n' ' ')
    note "SIGKILL to the postmaster, pid $pm"
    check "SIGKILL is delivered to the postmaster (pid $pm)" kill -KILL "$pm"
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
crash_run kill_postmaster
finish
