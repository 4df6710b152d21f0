# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# 07_operations "leaves the message on the queue" reads the queue (queue_state), not only the
# worker process: a message consumed and acked while the extension is missing fails it.
TARGET=test/e2e/worker/07_operations.sh
RUN=worker
BEFORE='^check_eq "and leaves the message on the queue'
WHAT="the message is taken off the queue while the extension is missing (a worker that consumed and acked it)"
SNIPPET=$(cat <<'SH'
"$RABBITMQCTL" -q purge_queue escort-quote-request >/dev/null
SH
)
EXPECT_FAIL=("and leaves the message on the queue (ready, not held unacked)")
EXPECT_PASS=("without the extension the worker still runs, waiting")
