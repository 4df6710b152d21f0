#!/usr/bin/env bash
# Sub-second enqueue times (issue 15 §5): the header hublink-enqueued-us that a hublink worker
# publishes beside the AMQP timestamp is recorded to the microsecond; a header outside the
# timestamp's own second (a sender moving its time) is ignored, and so is one without a
# timestamp. That the worker publishes the header is checked between two workers, in
# test/e2e/conversation/01_three_parties.sh.
. "$(dirname "$0")/lib.sh"
worker_stack_up

source_and_fraction() { # N: the row's enqueued_at_source and its microseconds within the second
    wait_for 20 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-0000$1'" || true
    sql "SELECT enqueued_at_source || '|' || (extract(microseconds FROM enqueued_at)::bigint % 1000000)
           FROM hublink.inbox WHERE removal_id = 'RMV-2026-0000$1'"
}

gen 1 41 | hub --timestamp --enqueued-us 250123 publish escort-quote-request 2>/dev/null
check_eq "a header within the timestamp's second is the enqueue time, to the microsecond" \
    "amqp-timestamp-us|250123" "$(source_and_fraction 41)"
gen 1 42 | hub --timestamp --enqueued-us -10000000 publish escort-quote-request 2>/dev/null
check_eq "a header ten seconds before its own timestamp is ignored: the whole second stands" \
    "amqp-timestamp|0" "$(source_and_fraction 42)"
gen 1 43 | hub --timestamp --enqueued-us 1000000 publish escort-quote-request 2>/dev/null
check_eq "a header in the next second is ignored too" "amqp-timestamp|0" "$(source_and_fraction 43)"
gen 1 44 | hub --enqueued-us 5 publish escort-quote-request 2>/dev/null
check_eq "a header without an AMQP timestamp is ignored: the envelope's sentAt is used" \
    "sent-at" "$(source_and_fraction 44 | cut -d'|' -f1)"

finish
