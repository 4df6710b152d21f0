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
    # Between its attempts (a moment 'connecting' each) it is 'disconnected'.
    check "while the broker is down the worker says so (disconnected)" \
        wait_for 30 "SELECT state = 'disconnected' FROM hublink.worker_status"
    # At least one reconnection attempt fails while it is down ('connecting', then 'disconnected'
    # again since a later time), so that "no WARNING per failed reconnection attempt" below has
    # attempts to count.
    local down_since
    down_since=$(sql "SELECT state_since FROM hublink.worker_status")
    check "a reconnection attempt fails while the broker is down" \
        wait_for 30 "SELECT state = 'disconnected' AND state_since > '$down_since' FROM hublink.worker_status"
    "$RABBITMQCTL" start_app >/dev/null 2>&1
    check "the worker reconnects" wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status"
}
crash_run restart_broker
check_eq "one WARNING for the outage" "1" "$(grep -c 'WARNING:  hublink worker lost its connection' <(log_since_setup))"
check_eq "no WARNING per failed reconnection attempt" "0" \
    "$(grep -c 'WARNING:  hublink worker could not connect' <(log_since_setup))"
check "a LOG line when the connection is back" \
    test "$(grep -c 'LOG:  hublink worker connected to the broker' "$HUBLINK_PG_LOG")" -ge 2
finish
