# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# 01_roundtrip's two refusals of hublink.send must name their SQLSTATE (issue 18 section 4): the
# same texts raised with another SQLSTATE (P0001, raise_exception) fail both checks.
TARGET=test/e2e/worker/01_roundtrip.sh
RUN=worker
BEFORE='^check "send: the request is valid'
WHAT="hublink.send raises its refusals with SQLSTATE P0001 instead of 22023, the texts unchanged"
SNIPPET=$(cat <<'SH'
sql "$(psql -XAtq -c "SELECT pg_get_functiondef('hublink.send(jsonb)'::regprocedure)" |
       perl -0pe "s/ERRCODE = 'invalid_parameter_value'/ERRCODE = 'raise_exception'/g")" >/dev/null
SH
)
EXPECT_FAIL=("send: an invalid message is refused (22023" "send: a message this party does not send is refused (22023")
EXPECT_PASS=("send: the request is valid" "worker_status: counters and backlog")
