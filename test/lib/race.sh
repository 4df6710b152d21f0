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
