# shellcheck shell=bash
# scripts/lib/parties.sh - the three hublink parties on one RabbitMQ: the Hub, the travel
# provider (tsp) and the escort provider (esp), each its own PostgreSQL cluster and worker,
# every worker logged in to the broker by its client certificate (mutual TLS). The
# conversation test (test/e2e/conversation/01_three_parties.sh) and the demo (scripts/demo)
# both source this, so the parties are set up one way only. Source it; it defines functions
# and variables, and runs nothing.
#
#   parties_start BASE             start hub (PostgreSQL + RabbitMQ), tsp and esp (PostgreSQL
#                                  only) in BASE/hub, BASE/tsp, BASE/esp (start logs in
#                                  BASE/<party>.log); point each worker at the hub's broker;
#                                  CREATE EXTENSION hublink at each; the broker's exchanges,
#                                  queues and permissions from the hub's queue table
#   parties_stop BASE              stop the three (by their own PIDs; safe when nothing runs);
#                                  HUBLINK_STACK_STOP=kill skips the clean shutdown
#   parties_load BASE              find the parties of BASE again (for psql_at and the rest)
#   psql_at PARTY PSQL-ARGS...     psql at a party, database postgres (where its worker runs)
#   q PARTY SQL                    one statement: unaligned, tuples only, stops at an error
#   qv PARTY SQL NAME VALUE        the same, with :'NAME' bound to VALUE
#   wait_for PARTY SECONDS SQL     until the query returns t; false after SECONDS
#   wait_connected PARTY SECONDS   until the party's worker is connected to the broker
#   states PARTY REF               removal REF's machines there: removal/escort/travel ('-' for
#                                  the removal machine, which only the Hub tracks)
#   wait_states PARTY REF STATES [SECONDS]   until states PARTY REF is STATES (default 20 s)
#   example NAME REF [JQ]          schemas/examples/NAME.json for removal REF, a new messageId,
#                                  then the jq filter JQ
#   answer PARTY JSON              a provider sends a message by hand (hublink.send_message:
#                                  state machine, rows, outbox), as docs/hub.md describes
#   parties_auto_answer FIRST_DATE the providers answer by themselves: the tsp loads the
#                                  OpenFlights reference and data/demo-inventory shifted to
#                                  start on FIRST_DATE, the esp the demo roster from today
#                                  (data/demo-escorts); then hublink.tsp_auto_answer() and
#                                  hublink.esp_auto_answer() (docs/tsp.md, docs/esp.md)
#   at_party PARTY COMMAND...      a command with the libpq environment of a party
#
# Every function returns non-zero on failure rather than exiting, so it suits both a TAP
# test (set -u, counts failures) and a script under set -e.

PARTIES_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PARTIES_STACK=$PARTIES_REPO/scripts/stack
PARTIES_EXAMPLES=$PARTIES_REPO/schemas/examples
# Where each party's PostgreSQL listens (unix socket directory, port); set by parties_start.
declare -gA PARTY_HOST=() PARTY_PORT=()

# parties_stack_var DIR NAME: one variable of a stack's env.sh, read in a subshell so the
# caller's environment (PGHOST, PGPORT...) is not changed as a side effect.
parties_stack_var() {
    (eval "$("$PARTIES_STACK" env "$1")" && printf '%s' "${!2}")
}

parties_start() {
    local base=$1 p components tls broker_port
    local -A pid=() failed=()
    mkdir -p "$base" || return 1
    # The hub's stack brings the broker; the providers' stacks only PostgreSQL, since in
    # production they too connect to the Hub's broker. The three start at once (the broker
    # alone takes ~15 s); scripts/stack gives concurrent stacks distinct ports. Only the very
    # first start as root, which creates the servers' system user, goes alone: two useradd
    # at once fail on the lock of /etc/passwd.
    for p in hub tsp esp; do
        components=pg
        [[ $p != hub ]] || components="pg rabbitmq"
        HUBLINK_STACK_COMPONENTS=$components "$PARTIES_STACK" start "$base/$p" >"$base/$p.log" 2>&1 &
        pid[$p]=$!
        if [[ $p == hub ]] && (($(id -u) == 0)) && ! id -u "${HUBLINK_STACK_USER:-hublink-test}" >/dev/null 2>&1; then
            wait "${pid[$p]}" || failed[$p]=1
            unset 'pid[$p]'
        fi
    done
    for p in "${!pid[@]}"; do
        wait "${pid[$p]}" || failed[$p]=1
    done
    for p in "${!failed[@]}"; do
        cat "$base/$p.log" >&2
        printf 'parties: the %s stack did not start (log: %s)\n' "$p" "$base/$p.log" >&2
    done
    ((${#failed[@]} == 0)) || return 1
    parties_load "$base" || return 1
    broker_port=$(parties_stack_var "$base/hub" AMQPS_PORT) || return 1
    tls=$(parties_stack_var "$base/hub" HUBLINK_TLS_DIR) || return 1
    for p in hub tsp esp; do
        # Each party logs in with its own client certificate from the hub stack's CA (the
        # broker takes the user name from its CN). Host name verification is off because
        # the broker is reached by address (docs/settings.md). The short retry delays make
        # a premature message (one that overtook its cause) apply soon after its cause.
        parties_write_conf "$base/$p" <<EOF
hublink.party = '$p'
hublink.broker_host = '127.0.0.1'
hublink.broker_port = $broker_port
hublink.broker_verify_hostname = off
hublink.broker_ca_file = '$tls/ca.pem'
hublink.broker_cert_file = '$tls/$p.pem'
hublink.broker_key_file = '$tls/$p.key'
hublink.reconnect_max_delay = 2s
hublink.handler_retry_delay = 100ms
hublink.handler_retry_max_delay = 400ms
hublink.handler_max_retries = 100
EOF
    done
    # Every hublink.broker_* setting applies on reload (docs/settings.md): no restart.
    for p in hub tsp esp; do
        q "$p" "SELECT pg_reload_conf()" >/dev/null || return 1
        if ! q "$p" "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS hublink CASCADE" >/dev/null; then
            printf 'parties: CREATE EXTENSION hublink failed at %s\n' "$p" >&2
            return 1
        fi
    done
    # The Hub's operator sets up the broker from the Hub's queue table: each party's exchange,
    # the queues, the bindings and each party's permissions (docs/worker.md).
    if ! "$PARTIES_STACK" broker-permissions "$base/hub" postgres >>"$base/hub.log" 2>&1; then
        printf 'parties: scripts/broker-permissions failed (log: %s)\n' "$base/hub.log" >&2
        return 1
    fi
}

parties_load() {
    local p
    for p in hub tsp esp; do
        PARTY_HOST[$p]=$(parties_stack_var "$1/$p" PGHOST) || return 1
        PARTY_PORT[$p]=$(parties_stack_var "$1/$p" PGPORT) || return 1
    done
}

# parties_write_conf DIR: stdin to the stack's postgresql.extra.conf (included last, so it
# wins), readable by the server's user: as root the stack runs PostgreSQL as an
# unprivileged user.
parties_write_conf() {
    local conf
    conf=$(parties_stack_var "$1" HUBLINK_PG_EXTRA_CONF) || return 1
    cat >"$conf" || return 1
    if (($(id -u) == 0)); then
        chown "$(parties_stack_var "$1" HUBLINK_STACK_USER)" "$conf" || return 1
    fi
}

parties_stop() {
    local base=$1 p rc=0
    for p in esp tsp hub; do
        [[ -d $base/$p ]] || continue
        "$PARTIES_STACK" stop "$base/$p" >>"$base/$p.log" 2>&1 || rc=1
    done
    return $rc
}

psql_at() {
    local p=$1
    shift
    # Scripts are no people: the login warning (NFR 0014, a NOTICE) is for people's sessions.
    PGHOST=${PARTY_HOST[$p]} PGPORT=${PARTY_PORT[$p]} PGUSER=postgres PGDATABASE=postgres \
        PGOPTIONS=${PGOPTIONS--c client_min_messages=warning} psql "$@"
}
q() { psql_at "$1" -XqAt -v ON_ERROR_STOP=1 -c "$2"; }
qv() { psql_at "$1" -XqAt -v ON_ERROR_STOP=1 -v "$3=$4" <<<"$2"; }

wait_for() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        [[ $(q "$1" "$3" 2>/dev/null) == t ]] && return 0
        sleep 0.2
    done
    return 1
}
wait_connected() { wait_for "$1" "$2" "SELECT state = 'connected' FROM hublink.worker_status"; }
parties_states_sql() {
    printf "SELECT concat_ws('/', coalesce(state, '-'), escort_state, travel_state) FROM hublink.removal WHERE removal_reference = '%s'" "$1"
}
states() { q "$1" "$(parties_states_sql "$2")"; }
wait_states() { wait_for "$1" "${4:-20}" "SELECT ($(parties_states_sql "$2")) = '$3'"; }

example() {
    jq -c --arg ref "$2" --arg id "$(cat /proc/sys/kernel/random/uuid)" \
        ".removalId = \$ref | .messageId = \$id | ${3:-.}" "$PARTIES_EXAMPLES/$1.json"
}
answer() { qv "$1" "SELECT hublink.send_message(:'m')" m "$2" >/dev/null; }

at_party() {
    local p=$1
    shift
    PGHOST=${PARTY_HOST[$p]} PGPORT=${PARTY_PORT[$p]} PGUSER=postgres PGDATABASE=postgres \
        PGOPTIONS=${PGOPTIONS--c client_min_messages=warning} "$@"
}

parties_auto_answer() {
    local out
    out=$({ at_party tsp "$PARTIES_REPO/scripts/tsp-load-inventory" reference &&
            at_party tsp "$PARTIES_REPO/scripts/tsp-load-inventory" inventory "$PARTIES_REPO/data/demo-inventory" "$1" &&
            at_party esp "$PARTIES_REPO/scripts/esp-load-roster" "$PARTIES_REPO/data/demo-escorts"; } 2>&1) ||
        { printf '%s\nparties: loading the providers'"'"' data failed\n' "$out" >&2; return 1; }
    [[ $(q tsp "SELECT hublink.tsp_auto_answer()") == 4 ]] || return 1
    [[ $(q esp "SELECT hublink.esp_auto_answer()") == 4 ]] || return 1
}
