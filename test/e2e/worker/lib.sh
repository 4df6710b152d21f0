# test/e2e/worker/lib.sh - shared helpers of the worker's end-to-end tests.  Source it.
#
# worker_stack_up starts a private stack (scripts/stack) in a temporary directory, stops it
# on exit, configures hublink as the escort provider (party esp: it consumes
# escort-quote-request and replies on escort-quote-response) with a client certificate, and
# installs a test handler in the seam that replies with hublink.send().
# TAP: ok/not_ok print "ok N - ..." lines; finish prints "N passed, M failed" and sets the
# exit status.
# shellcheck shell=bash

set -uo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../../.." && pwd)
HUBTOOL_BIN=$REPO/test/e2e/tools/hubtool
TEST_N=0
TEST_PASSED=0
TEST_FAILED=0

ok() { TEST_N=$((TEST_N + 1)); TEST_PASSED=$((TEST_PASSED + 1)); echo "ok $TEST_N - $*"; }
not_ok() { TEST_N=$((TEST_N + 1)); TEST_FAILED=$((TEST_FAILED + 1)); echo "not ok $TEST_N - $*"; }
# check "description" command...: ok when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# check_eq "description" expected actual
check_eq() {
    if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
note() { echo "# $*"; }
finish() {
    echo "$TEST_PASSED passed, $TEST_FAILED failed"
    ((TEST_FAILED == 0 && TEST_N > 0))
    exit $?
}

# Everything the test starts is stopped, whatever happens.
STACK_DIR=''
cleanup() {
    local rc=$?
    if [[ -n $STACK_DIR ]]; then
        if ((TEST_FAILED > 0 || rc != 0)) && [[ -n ${HUBLINK_PG_LOG:-} ]]; then
            echo "# last lines of the PostgreSQL log:"
            tail -n 25 "$HUBLINK_PG_LOG" 2>/dev/null | sed 's/^/#   /'
        fi
        "$REPO/scripts/stack" stop "$STACK_DIR" >/dev/null 2>&1 || true
        [[ -n ${KEEP_STACK:-} ]] || rm -rf "$STACK_DIR"
    fi
    exit "$rc"
}

sql() { psql -XqAt -v ON_ERROR_STOP=1 -c "$1"; }
# sql_error SQL: "SQLSTATE: message" of the error the statement raises; empty when it succeeds.
sql_error() {
    psql -Xq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1: /p' | head -n 1
}

# send_file FILE: hublink.send() of the message in FILE, in its own transaction.
send_file() { psql -Xq -v ON_ERROR_STOP=1 -v m="$(cat "$1")" <<<"SELECT hublink.send(:'m')" >/dev/null; }

# hub: traffic as the Home Office, by certificate, through the Hub's exchange and with its
# broker user as user_id, as the Hub's worker publishes (docs/worker.md).
hub() { "$HUBTOOL_BIN" --cert "$HUBLINK_TLS_HUB_CERT" --key "$HUBLINK_TLS_HUB_KEY" --exchange hublink.hub --user-id hub "$@"; }
# tsp: the travel provider's certificate, for the tests of what it may not do.
tsp() { "$HUBTOOL_BIN" --cert "$HUBLINK_TLS_TSP_CERT" --key "$HUBLINK_TLS_TSP_KEY" --exchange hublink.tsp --user-id tsp "$@"; }

# wait_for SECONDS SQL: until the query returns t.
wait_for() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        [[ $(sql "$2" 2>/dev/null) == t ]] && return 0
        sleep 0.2
    done
    return 1
}

# reload_conf: pg_reload_conf(), then wait until every running process of the worker (message
# worker, jobs worker, each applier) has read the settings: its settings_loaded_at in
# hublink.worker_processes() later than a clock_timestamp() taken before the call. A new session
# sees the new settings at once; the worker's processes only once they handle their SIGHUP, and a
# check made before that meets the old settings (test/README.md "Ordering").
reload_conf() {
    local t0
    t0=$(sql "SELECT clock_timestamp()")
    sql "SELECT pg_reload_conf()" >/dev/null
    wait_for 30 "SELECT coalesce(bool_and(settings_loaded_at > '$t0'), false)
                   FROM hublink.worker_processes() WHERE pid IS NOT NULL" ||
        not_ok "every worker process read the new settings within 30 s of pg_reload_conf() (reload at $t0: $(
            sql "SELECT string_agg(process || coalesce(' ' || applier, '') || ' at ' || settings_loaded_at, ', ')
                   FROM hublink.worker_processes() WHERE pid IS NOT NULL"))"
}

# wait_queue_state QUEUE EXPECTED [SECONDS]: until queue_state QUEUE is EXPECTED ("READY UNACKED"),
# at most SECONDS (30); prints the last state read, for check_eq. The worker acks a delivery after
# its transaction committed and its applier reported it: rows, counters and replies are visible
# before the broker has the ack (test/README.md "Ordering").
wait_queue_state() {
    local deadline=$((SECONDS + ${3:-30})) state
    while :; do
        state=$(queue_state "$1")
        [[ $state == "$2" ]] || ((SECONDS >= deadline)) && break
        sleep 0.3
    done
    echo "$state"
}

# Lines of postgresql.conf for the worker, written where a reload picks them up.
worker_conf() {
    cat >"$HUBLINK_PG_EXTRA_CONF" <<EOF
hublink.party = 'esp'
hublink.broker_host = '127.0.0.1'
hublink.broker_port = $AMQPS_PORT
hublink.broker_verify_hostname = off
hublink.broker_ca_file = '$HUBLINK_TLS_CA'
hublink.broker_cert_file = '${1:-$HUBLINK_TLS_ESP_CERT}'
hublink.broker_key_file = '${2:-$HUBLINK_TLS_ESP_KEY}'
hublink.reconnect_max_delay = 2s
hublink.handler_retry_delay = 100ms
hublink.handler_retry_max_delay = 400ms
EOF
    chown "$HUBLINK_STACK_USER" "$HUBLINK_PG_EXTRA_CONF" 2>/dev/null || true
}

worker_stack_up() {
    # make rebuilds it when hubtool.c changed (a stale binary lacks options the tests use)
    make -s -C "$REPO" -f test/e2e/e2e.mk e2e-tools >/dev/null
    STACK_DIR=$(mktemp -d /tmp/hublink-e2e-worker.XXXXXX)
    chmod 0755 "$STACK_DIR"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    if ! "$REPO/scripts/stack" start "$STACK_DIR" >"$STACK_DIR.start.log" 2>&1; then
        cat "$STACK_DIR.start.log" >&2
        echo "Bail out! the stack did not start"
        exit 1
    fi
    rm -f "$STACK_DIR.start.log"
    eval "$("$REPO/scripts/stack" env "$STACK_DIR")"
    worker_conf
    sql "SELECT pg_reload_conf()" >/dev/null
    sql "CREATE EXTENSION hublink CASCADE" >/dev/null 2>&1 || { echo "Bail out! CREATE EXTENSION failed"; exit 1; }
    # The Hub operator's step: exchanges, queues, bindings and each party's permissions.
    "$REPO/scripts/stack" broker-permissions "$STACK_DIR" postgres >"$STACK_DIR/permissions.log" 2>&1 ||
        { sed 's/^/# /' "$STACK_DIR/permissions.log"; echo "Bail out! scripts/broker-permissions failed"; exit 1; }
    install_test_handler
    if ! wait_for 30 "SELECT state = 'connected' FROM hublink.worker_status"; then
        echo "Bail out! the worker did not connect: $(sql "SELECT last_error FROM hublink.worker_status")"
        exit 1
    fi
    # The worker met the broker before the operator's permissions were there (one WARNING):
    # the tests read the log from here on (log_since_setup).
    SETUP_LOG_LINES=$(wc -l <"$HUBLINK_PG_LOG")
}

# The PostgreSQL log written since worker_stack_up finished.
log_since_setup() { tail -n +"$((SETUP_LOG_LINES + 1))" "$HUBLINK_PG_LOG"; }

# The seam's test handler: reply to each escort quote request with the example response,
# under a new messageId and the request's removalId.
install_test_handler() {
    jq -c '.messageId = "@@MESSAGE_ID@@" | .removalId = "@@REMOVAL_ID@@" | .sentAt = "@@SENT_AT@@"' \
        "$REPO/schemas/examples/escort-quote-request.json" >"$STACK_DIR/request.template"
    psql -Xq -v ON_ERROR_STOP=1 -v reply="$(jq -c . "$REPO/schemas/examples/escort-quote-response.json")" <<'EOF'
CREATE TABLE public.test_reply_template (doc jsonb NOT NULL);
INSERT INTO public.test_reply_template VALUES (:'reply');
CREATE TABLE public.test_handler_failures (removal_id text PRIMARY KEY, failures_left int NOT NULL);
CREATE TABLE public.test_handler_delay (seconds float8 NOT NULL);
-- SECURITY DEFINER and granted to hublink_worker, as docs/worker.md tells a handler's author:
-- the worker runs as hublink_worker, which reads none of these tables itself.
CREATE FUNCTION public.test_reply(msg jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    left_ int;
BEGIN
    -- Fail the first failures_left attempts of a removal (the retry tests). A failed attempt
    -- rolls back, so the earlier failures are counted from the inbox row of a retrying message.
    SELECT failures_left INTO left_ FROM public.test_handler_failures
     WHERE removal_id = msg ->> 'removalId';
    IF left_ > coalesce((SELECT CASE WHEN i.status = 'retrying' THEN i.attempts ELSE 0 END
                           FROM hublink.inbox i WHERE i.message_id = msg ->> 'messageId'), 0) THEN
        RAISE EXCEPTION 'test handler told to fail for %', msg ->> 'removalId';
    END IF;
    -- Slows the crash tests down, so the kill lands while messages are in flight.
    PERFORM pg_sleep(seconds) FROM public.test_handler_delay;
    PERFORM hublink.send(jsonb_set(jsonb_set(jsonb_set(t.doc,
                '{messageId}', to_jsonb(gen_random_uuid()::text)),
                '{removalId}', msg -> 'removalId'),
                '{sentAt}', to_jsonb(to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'))))
      FROM public.test_reply_template t;
END $$;
REVOKE ALL ON FUNCTION public.test_reply(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.test_reply(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_reply(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF
}

# A handler may run any SQL: this one, like an author tuning for speed, leaves its session (the
# message worker's, an applier's) committing asynchronously. The crash tests install it: an ack
# must still wait for a commit that is on disk (docs/worker.md "Durable before acked").
install_careless_handler() {
    psql -Xq -v ON_ERROR_STOP=1 <<'EOF' >/dev/null
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
}

# stop_wal_writer: SIGSTOP to the WAL writer (its pid in WALWRITER), then waits until two more
# batches (64 messages) have committed: what the committing processes did not flush themselves
# is then only in shared memory, and a crash loses it, as a power cut would. The caller kills
# the WAL writer (SIGKILL) with whatever it kills: a stopped process would not take the
# postmaster's SIGQUIT, and a continued one would flush first.
stop_wal_writer() {
    local pm applied
    pm=$(head -1 "$HUBLINK_PG_DATA/postmaster.pid")
    WALWRITER=$(ps -o pid=,args= --ppid "$pm" | awk '$0 ~ /walwriter/ { print $1 }')
    applied=$(sql "SELECT count(*) FROM hublink.inbox")
    check "SIGSTOP is delivered to the WAL writer (pid ${WALWRITER:-none})" kill -STOP "${WALWRITER:-none}"
    check "two more batches committed while the WAL writer is stopped" \
        wait_for 30 "SELECT count(*) >= $applied + 64 FROM hublink.inbox"
}

# gen N FIRST: N request messages, one per line, removalIds RMV-2026-<FIRST..>.
gen() { "$HUBTOOL_BIN" gen "$STACK_DIR/request.template" "$1" "${2:-1}"; }

# The worker's process id, once it runs.
worker_pid() { sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'hublink worker'"; }

# queue_state QUEUE: "READY UNACKED", as the broker itself counts them (rabbitmqctl
# list_queues). A delivery a consumer holds and has not acked is unacked, not ready: AMQP's
# queue.declare (hubtool count) sees only the ready ones, so "nothing left" needs both.
queue_state() {
    "$RABBITMQCTL" -q list_queues --no-table-headers name messages_ready messages_unacknowledged 2>/dev/null |
        awk -v q="$1" '$1 == q { print $2, $3; found = 1 } END { if (!found) print "no such queue" }'
}
# queue_count QUEUE: messages on the queue, ready or delivered and not yet acked.
queue_count() { queue_state "$1" | awk 'NF == 2 { print $1 + $2; next } { print }'; }

# reconcile N FIRST REPLIES_FILE: every request applied exactly once, every reply published
# at least once, checked by messageId and removalId.
reconcile() {
    local n=$1 first=$2 replies=$3 last=$(($1 + $2 - 1))
    local range="removal_id BETWEEN format('RMV-2026-%s', lpad('$first', 6, '0'))
                               AND format('RMV-2026-%s', lpad('$last', 6, '0'))"
    check_eq "every request stored once in the inbox, applied" "$n" \
        "$(sql "SELECT count(*) FROM hublink.inbox WHERE status = 'applied' AND $range")"
    check_eq "exactly one reply written per request (exactly-once effects)" "$n|$n" \
        "$(sql "SELECT count(*), count(DISTINCT removal_id) FROM hublink.outbox
                WHERE message_type = 'EscortQuoteResponse' AND $range")"
    check "every reply confirmed by the broker" \
        wait_for 60 "SELECT count(*) = 0 FROM hublink.outbox WHERE sent_at IS NULL"
    hub --idle 3000 drain escort-quote-response >>"$replies" 2>/dev/null
    local got
    got=$(jq -r '.messageId' "$replies" | sort -u >"$replies.ids"; wc -l <"$replies.ids")
    sql "SELECT message_id FROM hublink.outbox WHERE message_type = 'EscortQuoteResponse' AND $range
         ORDER BY 1" >"$replies.expected"
    # Whose cause committed: any reply row, of this range or of an earlier run on the stack
    # (a late duplicate of an earlier run's reply is not a reply without a cause).
    sql "SELECT message_id FROM hublink.outbox WHERE message_type = 'EscortQuoteResponse'
         ORDER BY 1" >"$replies.committed"
    check_eq "every reply published at least once (by messageId)" "" \
        "$(comm -23 "$replies.expected" "$replies.ids" | head -3)"
    check_eq "no reply published whose cause did not commit" "" \
        "$(comm -13 "$replies.committed" "$replies.ids" | head -3)"
    note "replies received: $(wc -l <"$replies") lines, $got distinct messageIds for $n requests"
}

# crash_run KILL_FUNCTION [FIRST]: 1,000 requests in flight (removals FIRST.., default 1);
# KILL_FUNCTION runs once 200 of them are applied; then every request must be applied exactly
# once and every reply published at least once. KILL_FUNCTION sets IN_FLIGHT, read from the
# broker right after its kill (just before it, when the broker itself is stopped): the requests
# not yet acked (so not yet committed) then. A second run on the same stack takes the next FIRST.
crash_run() {
    local kill_fn=$1 first=${2:-1} n=1000
    local range="removal_id >= format('RMV-2026-%s', lpad('$first', 6, '0'))
                 AND removal_id <= format('RMV-2026-%s', lpad('$((first + n - 1))', 6, '0'))"
    IN_FLIGHT=''
    # Slow enough that the kill lands with hundreds in flight while two appliers apply in
    # parallel (hublink.appliers = 2): the broker's count below is read a few seconds after it.
    sql "INSERT INTO public.test_handler_delay VALUES (0.01)"
    gen $n "$first" >"$STACK_DIR/requests.$first"
    hub --timestamp publish escort-quote-request <"$STACK_DIR/requests.$first" 2>/dev/null ||
        not_ok "publishing $n requests"
    if wait_for 60 "SELECT count(*) >= 200 FROM hublink.inbox WHERE $range"; then
        "$kill_fn"
        check "the kill landed with messages in flight ($IN_FLIGHT of $n not yet acked on the broker)" \
            test "${IN_FLIGHT:-0}" -gt 0 -a "${IN_FLIGHT:-0}" -lt "$n"
    else
        not_ok "the worker applied 200 messages within 60 s"
    fi
    sql "DELETE FROM public.test_handler_delay" 2>/dev/null || true
    check "all $n requests applied after the recovery" \
        wait_for 180 "SELECT count(*) = $n FROM hublink.inbox WHERE status = 'applied' AND $range"
    reconcile $n "$first" "$STACK_DIR/replies.$first"
}
