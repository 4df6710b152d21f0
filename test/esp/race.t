#!/usr/bin/env bash
# Concurrent escort bookings never take an escort twice on a day (issue 5 section 4): 12
# sessions book 12 quotes of 12 removals at once, each needing a leader and an officer for two
# days, on the 16th or the 17th (so every pair of bookings shares a day), with two leaders and
# three officers rostered. Exactly two can be staffed: 2 accepted, 10 declined
# ESCORTS_UNAVAILABLE, no session fails (no deadlock, no unique violation: the roster locks make
# the later sessions wait and see the duties taken), and every escort has at most one booking a
# day. The sessions are held on a lock until all twelve are seen waiting in pg_locks, then
# released together, and the test shows their calls overlapped (test/lib/race.sh). TAP output,
# closing line "N passed, M failed". Runs on its own throwaway stack.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/race.sh"
race_start hublink-esp-race
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "not ok 1 - setup"; echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION hublink CASCADE;
INSERT INTO hublink.esp_escort (escort_id, team_leader, gender) VALUES
    ('L-1', true, 'M'), ('L-2', true, 'F'), ('O-1', false, 'M'), ('O-2', false, 'F'), ('O-3', false, 'M');
INSERT INTO hublink.esp_escort_personal (escort_id, given_names, family_name)
SELECT escort_id, 'Given', 'Family' FROM hublink.esp_escort;
INSERT INTO hublink.esp_roster
SELECT e.escort_id, d::date FROM hublink.esp_escort e, generate_series('2026-03-16'::date, '2026-03-18', '1 day') d;
-- Twelve removals, one returnee of no particular risk each (X: no sex required): a leader and
-- an officer; six on the 16th-17th and six on the 17th-18th.
SELECT hublink.esp_quote(jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-' || g, 'gender', 'X', 'nationality', 'NGA'),
        'escortRiskAssessment', jsonb_build_object('flags', '[]'::jsonb),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'))),
    'international', true, 'escortOnTransport', true,
    'dates', jsonb_build_object('earliestLeaveDate', '2026-03-16'::date + g % 2, 'latestLeaveDate', '2026-03-16'::date + g % 2)),
    'RMV-' || g, '2026-03-01 10:00+00')
  FROM generate_series(1, 12) g;
SQL
# Poll until a query returns 1 (at most 60 s: a session that never gets there fails the check).
wait_for() { race_poll "$1"; }
echo "1..14"
check "$(psql -XAtc 'SELECT count(*) FROM hublink.esp_quote')" 12 "12 quotes, each staffable alone"
# The sessions wait on a barrier (an advisory lock held here) until all twelve are seen
# waiting in pg_locks; then they are released together (test/lib/race.sh).
race_log_create
race_hold 4343 || echo "# the holder did not get the barrier lock"
for q in $(psql -XAtc 'SELECT quote_ref FROM hublink.esp_quote ORDER BY quote_ref'); do
    race_session 4343 "$dir/$q.out" "coalesce(hublink.esp_book(jsonb_build_object('escortQuoteReference', '$q', 'command', 'BOOK'), '2026-03-02 10:00+00') #>> '{declineReason,code}', 'ACCEPTED')"
done
check "$(race_wait_all 4343 12 && echo yes)" yes "all twelve sessions wait at the barrier together (pg_locks)"
check "$(psql -XAtc 'SELECT count(*) FROM race_log')" 0 "none booked before the barrier opened"
race_release
wait
overlap=$(race_overlap)
echo "# $overlap of the 12 bookings had begun when the first one ended"
check "$(psql -XAtc "SELECT count(*) FROM race_log WHERE result = 'ACCEPTED'")" 2 "exactly two bookings accepted"
check "$(psql -XAtc "SELECT count(*) FROM race_log WHERE result = 'ESCORTS_UNAVAILABLE'")" 10 "ten declined ESCORTS_UNAVAILABLE"
check "$(psql -XAtc 'SELECT count(DISTINCT pid) FROM race_log')" 12 "twelve sessions booked, each in its own backend"
check "$([ "${overlap:-0}" -ge 2 ] && echo yes)" yes "the bookings overlapped (not one by one)"
check "$(cat "$dir"/ESP-*.out | grep -ci 'error')" 0 "no session failed (no deadlock, no unique violation)"
check "$(psql -XAtc "SELECT count(*) FROM hublink.esp_booking")" 2 "two bookings held"
check "$(psql -XAtc "SELECT count(*) FROM (SELECT escort_id, duty_date FROM hublink.esp_duty GROUP BY 1, 2 HAVING count(DISTINCT booking_id) > 1) x")" 0 \
      "no escort on two bookings the same day"
check "$(psql -XAtc "SELECT count(*) FILTER (WHERE n = 4) FROM (SELECT count(*) n FROM hublink.esp_duty GROUP BY booking_id) x")" 2 \
      "each booking holds its two escorts for two days"

# Deterministically: session A books and keeps its transaction open; session B books another
# quote of the same day and must wait on the roster lock, then see A's duties and decline. Without
# the lock B would pick the same escorts and fail on esp_duty's primary key when A commits.
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO hublink.esp_escort (escort_id, team_leader, gender) VALUES ('L-9', true, 'M'), ('O-9', false, 'M');
INSERT INTO hublink.esp_escort_personal (escort_id, given_names, family_name) VALUES ('L-9', 'Given', 'Family'), ('O-9', 'Given', 'Family');
INSERT INTO hublink.esp_roster VALUES ('L-9', '2026-03-25'), ('L-9', '2026-03-26'), ('O-9', '2026-03-25'), ('O-9', '2026-03-26');
CREATE TABLE late AS SELECT g, hublink.esp_quote(jsonb_build_object(
    'returnees', jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-L' || g, 'gender', 'X', 'nationality', 'NGA'),
        'escortRiskAssessment', jsonb_build_object('flags', '[]'::jsonb),
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'))),
    'international', true, 'escortOnTransport', true,
    'dates', jsonb_build_object('earliestLeaveDate', '2026-03-25', 'latestLeaveDate', '2026-03-25')),
    'RMV-L' || g, '2026-03-01 10:00+00') #>> '{quotes,0,escortQuoteReference}' AS ref
  FROM generate_series(1, 2) g;
SQL
mkfifo "$dir/holder"
psql -qXAt <"$dir/holder" >"$dir/holder.out" 2>&1 &
exec 3>"$dir/holder"
echo "SELECT pg_advisory_lock(5151);" >&3
wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 5151 AND granted"
refA=$(psql -XAtc "SELECT ref FROM late WHERE g = 1") refB=$(psql -XAtc "SELECT ref FROM late WHERE g = 2")
psql -XAt -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT hublink.esp_book(jsonb_build_object('escortQuoteReference', '$refA', 'command', 'BOOK'), '2026-03-02 10:00+00') ->> 'outcome'" \
     -c "SELECT 'A waits', pg_advisory_lock(5151)" -c "COMMIT" >"$dir/A.out" 2>"$dir/A.err" &
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%A waits%' AND wait_event = 'advisory'"
psql -XAt -c "SELECT 'B', hublink.esp_book(jsonb_build_object('escortQuoteReference', '$refB', 'command', 'BOOK'), '2026-03-02 10:00+00') #>> '{declineReason,code}'" \
     >"$dir/B.out" 2>"$dir/B.err" &
check "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%''B'', hublink.esp_book%' AND wait_event_type = 'Lock'" && echo waiting)" \
      waiting "B waits on a lock while A's booking of the same day is open"
echo "SELECT pg_advisory_unlock(5151);" >&3
exec 3>&-
wait
# stdout only: stderr carries the login banner (78_security_monitor.sql) and, on failure, the error.
check "$(sed -n 2p "$dir/A.out")" ACCEPTED "A is accepted"
check "$(cat "$dir/B.out")" "B|ESCORTS_UNAVAILABLE" "B, run while A was open, declines ESCORTS_UNAVAILABLE instead of failing"
[ "$fail" -eq 0 ] || grep -h ERROR "$dir/A.err" "$dir/B.err" | sed 's/^/# /'
race_done
