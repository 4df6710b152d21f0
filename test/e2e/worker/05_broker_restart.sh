#!/usr/bin/env bash
# The broker restarted while 1,000 messages are in flight: same figures, one WARNING for the
# lost connection, then a LOG when it is back (issue 3, sections 5 and 6).
. "$(dirname "$0")/lib.sh"
worker_stack_up
restart_broker() {
    note "restarting the RabbitMQ application"
    # read just before the stop: a stopped broker counts nothing
    IN_FLIGHT=$(queue_count escort-quote-request)
    "$RABBITMQCTL" stop_app >/dev/null 2>&1
    sleep 3
    check_eq "while the broker is down the worker says so" "disconnected" \
        "$(sql "SELECT state FROM hublink.worker_status")"
    "$RABBITMQCTL" start_app >/dev/null 2>&1
    check "the worker reconnects" wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status"
}
crash_run restart_broker
check_eq "one WARNING for the outage" "1" "$(grep -c 'WARNING:  hublink worker lost its connection' "$HUBLINK_PG_LOG")"
check_eq "no WARNING per failed reconnection attempt" "0" \
    "$(grep -c 'WARNING:  hublink worker could not connect' "$HUBLINK_PG_LOG")"
check "a LOG line when the connection is back" \
    test "$(grep -c 'LOG:  hublink worker connected to the broker' "$HUBLINK_PG_LOG")" -ge 2
finish
