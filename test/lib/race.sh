# Shared by the race tests (test/tsp/race.t, test/esp/race.t): a throwaway stack with
# PostgreSQL only, a database "race", and the TAP counting. Source it after setting $top:
#   race_start NAME   start the stack in a temporary directory ($dir), stopped and removed on
#                     exit; on failure prints a failed test and exits
#   check HAVE WANT DESCRIPTION   one TAP line, counted
#   race_done         the closing line "N passed, M failed"; exit status 0 only when none failed
# Each test then runs its own setup SQL and checks.

race_start() {
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$dir"
    trap '"$top/scripts/stack" stop "$dir/stack" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
    HUBLINK_STACK_COMPONENTS=pg "$top/scripts/stack" start "$dir/stack" >/dev/null 2>&1 ||
        { echo "not ok 1 - stack"; echo "0 passed, 1 failed"; exit 1; }
    eval "$("$top/scripts/stack" env "$dir/stack")"
    export PGDATABASE=race
    createdb race
    pass=0 fail=0 n=0
}

check() {
    n=$((n + 1))
    if [ "$1" = "$2" ]; then
        echo "ok $n - $3"
        pass=$((pass + 1))
    else
        echo "not ok $n - $3 (have $1, want $2)"
        fail=$((fail + 1))
    fi
}

race_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

# --- a real barrier ------------------------------------------------------------------------
# The sessions of a race are held on an advisory lock until every one of them is seen waiting
# for it in pg_locks, then released together; each records in race_log when its call began
# and ended, so the test can show the calls overlapped (they did not run one by one).
#   race_log_create          CREATE TABLE race_log (the sessions' records)
#   race_hold KEY            a holder session takes advisory lock KEY and keeps it
#   race_session KEY OUT EXPR   in the background: wait for KEY (shared), then record
#                            (pid, start, EXPR, end) in race_log; psql's output goes to OUT
#   race_wait_all KEY N      true once N sessions wait for KEY (at most 60 s)
#   race_release             the holder lets go; the sessions run at once
#   race_overlap             how many calls had begun when the first one ended

# race_poll SQL: true once SQL returns 1 (at most 60 s).
race_poll() { for _ in $(seq 600); do [ "$(psql -XAtc "$1")" = 1 ] && return 0; sleep 0.1; done; return 1; }

race_log_create() {
    psql -qX -v ON_ERROR_STOP=1 -c 'CREATE TABLE race_log (pid int, started timestamptz, result text, ended timestamptz)' >/dev/null
}

race_hold() {
    rm -f "$dir/barrier"
    mkfifo "$dir/barrier"
    psql -qXAt <"$dir/barrier" >"$dir/barrier.out" 2>&1 &
    exec 7>"$dir/barrier"
    echo "SELECT pg_advisory_lock($1);" >&7
    race_poll "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted AND mode = 'ExclusiveLock'"
}

race_session() {
    psql -XAt -v ON_ERROR_STOP=1 -c "SELECT pg_advisory_lock_shared($1)" \
         -c "INSERT INTO race_log SELECT pg_backend_pid(), s.t0, ($3), clock_timestamp()
               FROM (SELECT clock_timestamp() AS t0 OFFSET 0) s" >"$2" 2>&1 &
}

race_wait_all() {
    race_poll "SELECT (count(*) = $2)::int FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted"
}

race_release() {
    echo "SELECT pg_advisory_unlock_all();" >&7
    exec 7>&-
}

race_overlap() {
    psql -XAtc 'SELECT count(*) FROM race_log WHERE started < (SELECT min(ended) FROM race_log)'
}
