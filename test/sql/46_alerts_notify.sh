#!/usr/bin/env bash
# What 46_alerts.sql cannot see from inside its one transaction (docs/alerts.md), with a second
# session: hublink.raise_alert announces the alert on NOTIFY hublink_alert to a session that
# LISTENs (only once committed, and with the new alert_id), and when two people acknowledge the
# same alert at the same time the first acknowledgement wins.
# Run by test/sql/run against its database (PGDATABASE); TAP with a plan.
set -uo pipefail
dir=$(mktemp -d "${TMPDIR:-/tmp}/hublink-notify.XXXXXX")
chmod 755 "$dir"
trap 'exec 7>&- 8>&- 2>/dev/null; rm -rf "$dir"' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (want '$2', got '$3')"; fi
}
poll() { for _ in $(seq 300); do [ "$(q -c "$1")" = 1 ] && return 0; sleep 0.1; done; return 1; }
echo "1..6"

q <<'SQL' >/dev/null
INSERT INTO hublink.alert_kind VALUES ('notify_test', 'warning', 'test', 'raised by test/sql/46_alerts_notify.sh')
    ON CONFLICT DO NOTHING;
DROP ROLE IF EXISTS notify_ack_a;
DROP ROLE IF EXISTS notify_ack_b;
CREATE ROLE notify_ack_a LOGIN;
CREATE ROLE notify_ack_b LOGIN;
GRANT USAGE ON SCHEMA hublink TO notify_ack_a, notify_ack_b;
GRANT EXECUTE ON FUNCTION hublink.acknowledge_alert(bigint) TO notify_ack_a, notify_ack_b;
-- The test's alert names no removal: such alerts are acknowledged by admins (46_alerts.sql).
GRANT hublink_admin TO notify_ack_a, notify_ack_b;
SQL

# --- NOTIFY hublink_alert, seen by a listening session --------------------------------------
# psql prints the notifications it has received after each command it runs.
mkfifo "$dir/listener"
psql -XAt <"$dir/listener" >"$dir/listener.out" 2>&1 &
listener=$!
exec 7>"$dir/listener"
echo "LISTEN hublink_alert; SELECT 'listening';" >&7
for _ in $(seq 100); do grep -q '^listening$' "$dir/listener.out" && break; sleep 0.1; done
# a rolled-back alert announces nothing; a committed one announces its alert_id
q -c "BEGIN" -c "SELECT hublink.raise_alert('notify_test', 'rolled back')" -c "ROLLBACK" >/dev/null
id=$(q -c "SELECT hublink.raise_alert('notify_test', 'notify me', NULL, '{\"secret\": \"not in the payload\"}')")
echo "SELECT 'after the alert';" >&7
for _ in $(seq 100); do grep -q 'after the alert' "$dir/listener.out" && break; sleep 0.1; done
notes=$(grep -c 'Asynchronous notification "hublink_alert"' "$dir/listener.out")
payload=$(sed -nE 's/^Asynchronous notification "hublink_alert" with payload "(.*)" received from server process with PID [0-9]+\.$/\1/p' "$dir/listener.out" | tail -n 1)
check "the listening session received exactly one NOTIFY hublink_alert (none for the rolled-back alert)" 1 "$notes"
check "its payload names the committed alert's id, kind and subject" "$id|notify_test|notify me" \
    "$(q -c "SELECT j ->> 'alert_id', j ->> 'kind', j ->> 'subject' FROM (SELECT \$p\$$payload\$p\$::jsonb j) x")"
check "the payload leaves out the detail" "" "$(grep -o 'not in the payload' <<<"$payload")"
exec 7>&-
wait "$listener"

# --- first acknowledgement wins, at the same time -------------------------------------------
# A acknowledges in an open transaction; B acknowledges the same alert meanwhile and must wait
# for A's row lock; when A commits, B's acknowledgement changes nothing.
id=$(q -c "SELECT hublink.raise_alert('notify_test', 'two people at once')")
mkfifo "$dir/a"
psql -XAt -U notify_ack_a <"$dir/a" >"$dir/a.out" 2>&1 &
a=$!
exec 8>"$dir/a"
echo "BEGIN; SELECT hublink.acknowledge_alert($id); SELECT 'A acknowledged';" >&8
for _ in $(seq 100); do grep -q 'A acknowledged' "$dir/a.out" && break; sleep 0.1; done
q -U notify_ack_b -c "SELECT 'B acknowledges', hublink.acknowledge_alert($id)" >"$dir/b.out" 2>&1 &
b=$!
check "B waits for A's acknowledgement (a row lock in pg_locks)" yes \
    "$(poll "SELECT count(*) FROM pg_stat_activity WHERE usename = 'notify_ack_b' AND wait_event_type = 'Lock'" && echo yes)"
echo "COMMIT;" >&8
exec 8>&-
wait "$a"
wait "$b"
check "B's acknowledgement returned without error" 0 "$(grep -c ERROR "$dir/b.out")"
check "the first acknowledgement wins: the alert stays acknowledged by A" notify_ack_a \
    "$(q -c "SELECT acknowledged_by FROM hublink.alert WHERE alert_id = $id")"

q <<'SQL' >/dev/null
DELETE FROM hublink.alert WHERE kind = 'notify_test';
DELETE FROM hublink.alert_kind WHERE kind = 'notify_test';
REVOKE ALL ON FUNCTION hublink.acknowledge_alert(bigint) FROM notify_ack_a, notify_ack_b;
REVOKE ALL ON SCHEMA hublink FROM notify_ack_a, notify_ack_b;
DROP ROLE notify_ack_a;
DROP ROLE notify_ack_b;
SQL
