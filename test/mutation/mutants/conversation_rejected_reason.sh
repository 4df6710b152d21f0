# shellcheck shell=bash disable=SC2034  # sourced by test/mutation/run, which reads these variables
# 01_three_parties: the impossible EscortUpdate must be rejected because the state machine found
# it impossible (HL001's reason), not for any other error. hublink.send refuses an invalid
# message, so the other reason is made at the Hub instead: its delay reason code TRAFFIC is
# deactivated before the message arrives, so the Hub rejects it for the code.
TARGET=test/e2e/conversation/01_three_parties.sh
RUN=direct
BEFORE='^qv esp "SELECT hublink.send\(:.m.\)" m .*delayed: \{reason: \{code: \\"TRAFFIC'
WHAT="the Hub's delay reason code TRAFFIC is inactive, so the EscortUpdate is rejected for its code"
SNIPPET=$(cat <<'SH'
q hub "UPDATE hublink.reason_code SET active = false WHERE list = 'delay' AND code = 'TRAFFIC'" >/dev/null
SH
)
EXPECT_FAIL=("rejected because the state machine found it impossible (HL001's reason)")
EXPECT_PASS=("an escort delay after completion is rejected by the hub")
