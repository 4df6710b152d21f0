#!/usr/bin/env bash
# The broker contract (issue 12 section 2): with the permissions scripts/broker-permissions
# derives from the queue table, the broker refuses each party's certificate every read, write,
# purge, declare, delete, bind and consume outside its own queues, and a user_id that is not
# its own; the worker (the escort provider here) rejects and alerts a message whose envelope
# sender is not the party of the broker-validated user, or that has no user_id. Then the attacker
# pass over the broker and the certificates (broker_attacks.sh).
. "$(dirname "$0")/lib.sh"
worker_stack_up
W=$STACK_DIR/contract
mkdir -p "$W"

# refused NAME COMMAND...: the command fails and the broker said 403 ACCESS_REFUSED.
refused() {
    local what=$1 out rc
    shift
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    if ((rc != 0)) && [[ $out == *"403"*"ACCESS_REFUSED"* ]]; then
        ok "refused by the broker: $what"
    else
        not_ok "refused by the broker: $what (exit $rc: $out)"
    fi
}
allowed() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1 </dev/null); then ok "allowed: $what"; else not_ok "allowed: $what ($out)"; fi
}
request() { gen 1 "$1" | tr -d '\n' >"$W/req-$1"; printf '%s' "$W/req-$1"; }

# --- what the broker refuses the travel provider's certificate (it has nothing to do with the
# escort queues, and may only publish through hublink.tsp) ------------------------------------
gen 2 900 | hub publish escort-quote-request 2>/dev/null # the requests tsp would steal
refused "tsp reads (basic.get) escort-quote-request" tsp get escort-quote-request
refused "tsp consumes escort-quote-request" tsp --idle 500 drain escort-quote-request
refused "tsp purges escort-quote-request" tsp purge escort-quote-request
refused "tsp deletes escort-quote-request" tsp delete escort-quote-request
refused "tsp declares escort-quote-request" tsp declare escort-quote-request
refused "tsp declares a queue of its own" tsp declare tsp-private
refused "tsp declares an exchange" tsp declare-exchange tsp-exchange
refused "tsp binds escort-quote-request to its exchange" tsp bind escort-quote-request hublink.tsp escort-quote-request
refused "tsp publishes through the default exchange (amq.default)" \
    tsp --exchange '' publish escort-quote-request "$(request 902)"
refused "tsp publishes through the Hub's exchange" \
    tsp --exchange hublink.hub publish escort-quote-request "$(request 903)"
refused "tsp reads the escort provider's error queue escort-quote-response-error" tsp get escort-quote-response-error
refused "esp reads travel-quote-request" "$HUBTOOL_BIN" --cert "$HUBLINK_TLS_ESP_CERT" --key "$HUBLINK_TLS_ESP_KEY" get travel-quote-request
refused "the Hub purges escort-quote-request (it writes it, never reads it)" hub purge escort-quote-request
refused "the Hub consumes escort-quote-request" hub --idle 500 drain escort-quote-request
out=$(tsp publish escort-quote-request "$(request 904)" 2>&1)
check_eq "tsp's exchange does not route to escort-quote-request (returned unroutable)" "3" "$?"
out=$(tsp --user-id hub publish travel-quote-response "$W/req-904" 2>&1)
if [[ $out == *"406"*"PRECONDITION_FAILED"* && $out == *"user_id"* ]]; then
    ok "refused by the broker: tsp publishing with user_id hub"
else
    not_ok "refused by the broker: tsp publishing with user_id hub ($out)"
fi
allowed "tsp publishes to travel-quote-response through hublink.tsp" tsp publish travel-quote-response "$W/req-904"
allowed "tsp reads travel-quote-request" tsp get travel-quote-request
allowed "tsp reads travel-quote-response-error (the error queue of a queue it sends on)" tsp get travel-quote-response-error
check "nothing was stolen: both escort requests applied by the escort provider" \
    wait_for 20 "SELECT count(*) = 2 FROM hublink.inbox WHERE status = 'applied'"

# --- the sender is who the broker says --------------------------------------------------------
alerts() { sql "SELECT count(*) FROM hublink.alert WHERE kind = 'broker_sender_mismatch'"; }
# A broker wrongly configured (tsp may write the Hub's exchange): the worker still refuses a
# request that says "sender": "HUB" from tsp's connection.
"$RABBITMQCTL" -q set_permissions -p / tsp '^$' '^(hublink\.hub|hublink\.tsp)$' '^$' >/dev/null
gen 1 910 | tsp --exchange hublink.hub publish escort-quote-request 2>/dev/null ||
    not_ok "tsp could publish through a wrongly granted hublink.hub"
check "forged sender: HUB from tsp's connection is rejected" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000910' AND status = 'rejected'"
check_eq "forged sender: no reply, no effect" "0" \
    "$(sql "SELECT count(*) FROM hublink.outbox WHERE removal_id = 'RMV-2026-000910' AND message_type <> 'Error'")"
check_eq "forged sender: a critical broker_sender_mismatch alert names the broker user" "1|critical|tsp|HUB" \
    "$(sql "SELECT count(*), min(severity), min(detail ->> 'broker_user'), min(detail ->> 'sender')
              FROM hublink.alert WHERE kind = 'broker_sender_mismatch'")"
err=$(hub --count 1 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check_eq "forged sender: the Error says the sender is not the broker user's party, at /sender" \
    "/sender|FORBIDDEN_SENDER|true" \
    "$(jq -r '.body.problems[0] | "\(.instanceLocation)|\(.code)|\(.error | test("sender \"HUB\" is not ESP|speaks for party tsp"))"' <<<"$err")"
"$REPO/scripts/stack" broker-permissions "$STACK_DIR" postgres >/dev/null 2>&1 ||
    not_ok "scripts/broker-permissions puts tsp's permissions back"
refused "after broker-permissions again, tsp no longer writes the Hub's exchange" \
    tsp --exchange hublink.hub publish escort-quote-request "$(request 911)"

# No user_id: the broker vouched for nobody.
"$HUBTOOL_BIN" --cert "$HUBLINK_TLS_HUB_CERT" --key "$HUBLINK_TLS_HUB_KEY" --exchange hublink.hub \
    publish escort-quote-request "$(request 912)" 2>/dev/null
check "no user_id: rejected" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000912' AND status = 'rejected'"
check_eq "no user_id: alerted" "2" "$(alerts)"
err=$(hub --count 1 --idle 10000 drain escort-quote-request-error 2>/dev/null)
check "no user_id: the Error says so" grep -q 'no AMQP user_id' <<<"$err"

# A broker user the table does not map to the sending party.
sql "UPDATE hublink.broker_identity SET party = 'tsp' WHERE broker_user = 'hub'" >/dev/null
gen 1 913 | hub publish escort-quote-request 2>/dev/null
check "a user mapped to another party: rejected" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000913' AND status = 'rejected'"
sql "UPDATE hublink.broker_identity SET party = 'hub' WHERE broker_user = 'hub'" >/dev/null
check_eq "and alerted" "3" "$(alerts)"
gen 1 914 | hub publish escort-quote-request 2>/dev/null
check "the Hub's own messages are applied" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000914' AND status = 'applied'"
check "the worker publishes with its own user_id through its own exchange (the broker accepted it)" \
    wait_for 20 "SELECT count(*) > 0 FROM hublink.outbox WHERE message_type = 'EscortQuoteResponse' AND sent_at IS NOT NULL"

# The attacker pass over the broker and the certificates, on the same stack.
. "$E2E_DIR/broker_attacks.sh"
check "after the attacks the worker is still connected" wait_for 10 "SELECT state = 'connected' FROM hublink.worker_status"
finish
