#!/usr/bin/env bash
# 1,000 messages in flight while the worker is killed with SIGKILL (issue 3, section 6).
# The postmaster treats it as a crash: every backend restarts, the worker too.
. "$(dirname "$0")/lib.sh"
# Two appliers (the default; set explicitly): the kill then lands on a worker with deliveries dispatched to
# processes of their own, the harder case.
export HUBLINK_PG_EXTRA='hublink.appliers = 2'
worker_stack_up
kill_worker() {
    local i
    OLD_PID=$(worker_pid)
    note "SIGKILL to the worker, pid $OLD_PID"
    check "the worker runs before the kill (pid $OLD_PID)" test -n "$OLD_PID"
    check "SIGKILL is delivered to it" kill -KILL "${OLD_PID:-none}"
    IN_FLIGHT=$(queue_count escort-quote-request)
    for ((i = 0; i < 100; i++)); do kill -0 "$OLD_PID" 2>/dev/null || break; sleep 0.05; done
    check "the killed process is gone" bash -c "! kill -0 ${OLD_PID:-0} 2>/dev/null"
    wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status" ||
        not_ok "the worker came back after the crash"
}
crash_run kill_worker
new_pid=$(worker_pid)
check_eq "the worker is a new process (old pid $OLD_PID, new pid $new_pid), as worker_status says" "t|t" \
    "$(sql "SELECT ${new_pid:-0} <> ${OLD_PID:-0}, pid = ${new_pid:-0} FROM hublink.worker_status")"
finish
