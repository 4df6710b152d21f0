# test/e2e/conversation/lib.sh - what the three-party tests share: TAP counters and checks,
# and the parties' lifecycle (start in a temp dir, logs on failure, stop on exit).
# Usage, from a test:  . "$HERE/lib.sh"; conversation_start NAME
# shellcheck shell=bash

N=0 PASSED=0 FAILED=0
ok() { N=$((N + 1)); PASSED=$((PASSED + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
check_eq() { if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi; }
# q_error PARTY SQL: the SQLSTATE of the error the statement raises there; empty when it succeeds.
q_error() {
    psql_at "$1" -Xq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$2" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' | head -n 1
}

# The parties and their helpers (q, qv, wait_for, example, answer...) are shared with the demo.
# shellcheck source=scripts/lib/parties.sh
. "$REPO/scripts/lib/parties.sh"

conversation_cleanup() {
    local rc=$? p
    if ((FAILED > 0)); then
        for p in esp tsp hub; do
            [[ -f $BASE/$p/pg.log ]] || continue
            echo "# last lines of the $p log:"
            tail -n 15 "$BASE/$p/pg.log" | sed 's/^/#   /'
        done
    fi
    parties_stop "$BASE" || true
    [[ -n ${KEEP_STACK:-} ]] || rm -rf "$BASE"
    exit "$rc"
}

# conversation_start NAME: the three parties in a new temp dir ($BASE), stopped on exit, each
# worker connected to the broker (one TAP line per party).
conversation_start() {
    local p
    BASE=$(mktemp -d "/tmp/hublink-e2e-$1.XXXXXX")
    chmod 0755 "$BASE"
    trap conversation_cleanup EXIT
    trap 'exit 130' INT TERM
    parties_start "$BASE" || { echo "Bail out! the three parties did not start (see above)"; exit 1; }
    for p in hub tsp esp; do
        if wait_connected "$p" 30; then
            ok "the $p worker is connected to the broker"
        else
            echo "Bail out! the $p worker did not connect: $(q "$p" "SELECT last_error FROM hublink.worker_status")"
            exit 1
        fi
    done
}
