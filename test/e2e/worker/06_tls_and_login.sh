#!/usr/bin/env bash
# Mutual TLS: a connection without a valid client certificate is refused; the worker logs
# in by certificate (EXTERNAL) or by password file; settings reload on SIGHUP (issue 3,
# sections 1, 5 and 6).
. "$(dirname "$0")/lib.sh"
# This test alone needs the plain AMQP listener (hublink.broker_plaintext, below).
export HUBLINK_STACK_PLAIN_AMQP=1
worker_stack_up

# count: a passive declare, which needs a login and no permission.
"$HUBTOOL_BIN" --cert "$HUBLINK_TLS_ROGUE_CERT" --key "$HUBLINK_TLS_ROGUE_KEY" count escort-quote-request >/dev/null 2>&1
check_eq "a certificate from an unknown CA is refused" "2" "$?"
"$HUBTOOL_BIN" count escort-quote-request >/dev/null 2>&1
check_eq "a connection without a client certificate is refused" "2" "$?"
hub count escort-quote-request >/dev/null 2>&1
check_eq "the Hub's certificate is accepted" "0" "$?"

# The worker with the rogue certificate: refused, one WARNING, the reason in worker_status.
worker_conf "$HUBLINK_TLS_ROGUE_CERT" "$HUBLINK_TLS_ROGUE_KEY"
t_rogue=$(sql "SELECT clock_timestamp()")
reload_conf
# last_error_at after the reload: the setup left an error of its own (the broker's permissions
# came after the worker's first attempt).
check "worker with a rogue certificate: disconnected, with the reason" \
    wait_for 20 "SELECT state = 'disconnected' AND last_error_at > '$t_rogue' FROM hublink.worker_status"
note "last_error: $(sql "SELECT last_error FROM hublink.worker_status")"
# Two more attempts fail (each 'connecting', then 'disconnected' again since a later time).
for attempt in 2 3; do
    since=$(sql "SELECT state_since FROM hublink.worker_status")
    check "rogue certificate: attempt $attempt fails too" \
        wait_for 20 "SELECT state = 'disconnected' AND state_since > '$since' FROM hublink.worker_status"
done
check_eq "one WARNING however many attempts fail" "1" \
    "$(grep -c 'WARNING:  hublink worker could not connect' <(log_since_setup))"

# Messages sent while disconnected wait in the outbox and go out once connected.
gen 1 7 | jq -c '.messageType = "EscortQuoteResponse" | .sender = "ESP" | .body = input.body' \
    - "$REPO/schemas/examples/escort-quote-response.json" >"$STACK_DIR/reply"
send_file "$STACK_DIR/reply"
check_eq "a message sent while disconnected waits in the outbox" "1" \
    "$(sql "SELECT outbox_backlog FROM hublink.worker_status")"

# Back to the right certificate by a reload: reconnects, and the backlog is published.
worker_conf
reload_conf
check "after a reload with the right certificate: connected" \
    wait_for 20 "SELECT state = 'connected' FROM hublink.worker_status"
check "the waiting message is published" \
    wait_for 20 "SELECT outbox_backlog = 0 FROM hublink.worker_status"
check_eq "it arrives" "RMV-2026-000007" \
    "$(hub --count 1 --idle 5000 drain escort-quote-response 2>/dev/null | jq -r .removalId)"

# Login by user and password file, over TLS (the broker still wants a client certificate).
worker_conf
cat >>"$HUBLINK_PG_EXTRA_CONF" <<EOC
hublink.broker_login = 'password'
hublink.broker_user = 'esp'
hublink.broker_password_file = '$HUBLINK_ESP_PASSWORD_FILE'
EOC
reload_conf
check "password login over TLS: connected" \
    wait_for 20 "SELECT state = 'connected' FROM hublink.worker_status"

# Plain AMQP only when hublink.broker_plaintext allows it.
cat >>"$HUBLINK_PG_EXTRA_CONF" <<EOC
hublink.broker_port = $AMQP_PORT
EOC
reload_conf
check "plain port without hublink.broker_plaintext: not connected" \
    wait_for 20 "SELECT state = 'disconnected' FROM hublink.worker_status"
echo "hublink.broker_plaintext = on" >>"$HUBLINK_PG_EXTRA_CONF"
reload_conf
check "plain AMQP with hublink.broker_plaintext = on: connected" \
    wait_for 20 "SELECT state = 'connected' FROM hublink.worker_status"
gen 1 8 | hub publish escort-quote-request 2>/dev/null
check "and messages flow" wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000008'"
finish
