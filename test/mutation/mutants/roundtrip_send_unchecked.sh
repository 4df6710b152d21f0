# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# 01_roundtrip's two refusals of hublink.send fail when hublink.send checks neither the schema
# nor the party (issue 18 section 4).
TARGET=test/e2e/worker/01_roundtrip.sh
RUN=worker
BEFORE='^check "send: the request is valid'
WHAT="hublink.send checks neither the message against its schema nor the sending party"
SNIPPET=$(cat <<'SH'
sql "$(psql -XAtq -c "SELECT pg_get_functiondef('hublink.send(jsonb)'::regprocedure)" |
       perl -0pe "s/IF jsonb_array_length\(problems\) > 0 THEN/IF false THEN/; s/IF kind.sender_party IS DISTINCT FROM party THEN/IF false THEN/")" >/dev/null
SH
)
EXPECT_FAIL=("send: an invalid message is refused (22023" "send: a message this party does not send is refused (22023")
EXPECT_PASS=("send: the request is valid")
