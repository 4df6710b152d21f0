#!/usr/bin/env bash
# test/e2e/conversation/02_reference_lists.sh - a reason-code list changed at the Hub reaches
# the providers over the broker (Appendix B 4.17; docs/hub.md "Announcing a list to the
# providers"): Hub, TSP and ESP each its own PostgreSQL cluster and worker on one RabbitMQ
# (scripts/lib/parties.sh). The Hub's admin edits the delay list; the TravelReferenceListUpdate
# and EscortReferenceListUpdate it sends are applied by each provider's worker, outside any
# removal. TAP; closing line "N passed, M failed".
#
#   test/e2e/conversation/02_reference_lists.sh     (needs make install; KEEP_STACK=1 keeps it)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
. "$HERE/lib.sh"
check_wait() { if wait_for "$2" "${4:-20}" "$3"; then ok "$1"; else not_ok "$1 (not within ${4:-20} s: $3)"; fi; }
conversation_start ref

# One admin change at the Hub: one message per provider, published.
q hub "INSERT INTO hublink.reason_code (list, code, description) VALUES ('delay', 'SNOW', 'Snow or ice on the roads.')"
check_wait "the hub publishes one update per provider" hub \
    "SELECT count(*) = 2 AND bool_and(sent_at IS NOT NULL) FROM hublink.outbox WHERE message_type LIKE '%ReferenceListUpdate'"
for p in tsp esp; do
    check_wait "the $p applies sequence 1 of the delay list" "$p" \
        "SELECT sequence = 1 FROM hublink.reference_list_state WHERE list = 'delay'"
    check_eq "the $p accepts the new code" "t" "$(q "$p" "SELECT hublink.reason_code_valid('delay', 'SNOW')")"
    check_eq "the $p's inbox holds it applied, without a removal" "applied|" \
        "$(q "$p" "SELECT status || '|' || coalesce(removal_id, '') FROM hublink.inbox WHERE message_type LIKE '%ReferenceListUpdate'")"
done

# A second change in one transaction: the providers converge on the Hub's list.
q hub "BEGIN; UPDATE hublink.reason_code SET active = false WHERE list = 'delay' AND code = 'SNOW';
       DELETE FROM hublink.reason_code WHERE list = 'delay' AND code = 'TRAFFIC'; COMMIT;"
for p in tsp esp; do
    check_wait "the $p applies sequence 2" "$p" \
        "SELECT sequence = 2 FROM hublink.reference_list_state WHERE list = 'delay'"
    check_eq "the $p's delay list is the hub's" "$(q hub "SELECT hublink.reason_list_codes('delay')")" \
        "$(q "$p" "SELECT hublink.reason_list_codes('delay')")"
done
check_eq "no removal was created anywhere" "0|0|0" \
    "$(for p in hub tsp esp; do q "$p" "SELECT count(*) FROM hublink.removal"; done | paste -sd'|')"
check_eq "no error message was sent" "0" \
    "$(for p in hub tsp esp; do q "$p" "SELECT count(*) FROM hublink.outbox WHERE message_type = 'Error'"; done | paste -sd+ | bc)"

echo "$PASSED passed, $FAILED failed"
((FAILED == 0 && N > 0))
