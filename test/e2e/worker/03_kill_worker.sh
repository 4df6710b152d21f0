#!/usr/bin/env bash
# 1,000 messages in flight while the worker is killed with SIGKILL (issue 3, section 6).
# The postmaster treats it as a crash: every backend restarts, the worker too.
. "$(dirname "$0")/lib.sh"
worker_stack_up
kill_worker() {
    local pid
    pid=$(worker_pid)
    note "SIGKILL to the worker, pid $pid"
    kill -KILL "$pid"
    sleep 1
    wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status" ||
        not_ok "the worker came back after the crash"
}
crash_run kill_worker
check_eq "the worker is a new process" "t" \
    "$(sql "SELECT pid IS NOT NULL FROM hublink.worker_status")"
finish
