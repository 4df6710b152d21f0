# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# 07_operations "leaves the message on the queue (ready, not held unacked)": a consumer that holds
# the delivery without acking it (as a worker waiting for CREATE EXTENSION must not) fails it.
TARGET=test/e2e/worker/07_operations.sh
RUN=worker
BEFORE='^check_eq "and leaves the message on the queue'
WHAT="a consumer with the escort provider's certificate holds the message unacked (hubtool hold)"
SNIPPET=$(cat <<'SH'
"$HUBTOOL_BIN" --cert "$HUBLINK_TLS_ESP_CERT" --key "$HUBLINK_TLS_ESP_KEY" hold escort-quote-request 12 >/dev/null &
sleep 3
SH
)
EXPECT_FAIL=("and leaves the message on the queue (ready, not held unacked)")
EXPECT_PASS=("without the extension the worker still runs, waiting" "the message left on the queue is applied")
