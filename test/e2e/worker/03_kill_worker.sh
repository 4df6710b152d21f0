#!/usr/bin/env bash
# 1,000 messages in flight while the worker is killed with SIGKILL (issue 3, section 6).
# The postmaster treats it as a crash: every backend restarts, the worker too, and shared
# memory (with the WAL not yet written out) is thrown away. As in 04_kill_postmaster.sh, the
# WAL writer is stopped (SIGSTOP) until two more batches have committed and killed with the
# worker, and the handler turns synchronous_commit off for its session (install_careless_handler):
# a worker that acks a batch before its commit is on disk loses it here on every run, not only
# when the kill falls within the WAL writer's 200 ms.
. "$(dirname "$0")/lib.sh"
# Two appliers (the default; set explicitly): the kill then lands on a worker with deliveries dispatched to
# processes of their own, the harder case.
export HUBLINK_PG_EXTRA='hublink.appliers = 2'
worker_stack_up
install_careless_handler || not_ok "the careless handler is installed"
kill_worker() {
    local i
    OLD_PID=$(worker_pid)
    stop_wal_writer
    note "SIGKILL to the worker, pid $OLD_PID, and to the stopped WAL writer"
    check "the worker runs before the kill (pid $OLD_PID)" test -n "$OLD_PID"
    check "SIGKILL is delivered to it" kill -KILL "${OLD_PID:-none}"
    kill -KILL "${WALWRITER:-none}" 2>/dev/null
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
