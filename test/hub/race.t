#!/usr/bin/env bash
# One live removal per returnee under concurrency (Appendix B 4.22; issue 12 section 6): eight
# sessions call hublink.create_removal for the same returnee at once. They are held on a barrier
# (an advisory lock held here) and released only once all eight are seen waiting on it in
# pg_locks, so their calls overlap: exactly one removal is created, seven are refused
# (unique_violation, "already has a live removal"). Then deterministically: A creates a removal
# and keeps its transaction open; B, for the same returnee, must wait on A (seen in pg_locks),
# and is refused once A commits. Without the lock B succeeds at once: two live removals. A call
# in a REPEATABLE READ transaction is refused (its snapshot predates the wait). TAP
# output, closing line "N passed, M failed". Runs on its own throwaway stack.
# Then the soak's deadlock (docs/timers.md "Locks"): the worker's fire_timers job holds a
# removal's due timer (held on a barrier inside its still_due_function) while a caseworker's
# cancel_removal of the same removal waits for that timer; the job's rule action (a re-quote)
# then needs the removal row. With the old lock order (timer, then removal in the job; removal,
# then timer in the caseworker's call) PostgreSQL detects a deadlock; with the removal row
# first in both, the caseworker waits for the job and both succeed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/race.sh"
# The party from the start (postgresql.conf), not by ALTER SYSTEM and a reload: the worker and
# this session would read it when they handle their SIGHUP, which nothing here can wait for
# before CREATE EXTENSION (test/README.md "Ordering").
export HUBLINK_PG_EXTRA="hublink.party = 'hub'"
race_start hublink-hub-race
export PGOPTIONS='-c client_min_messages=warning'
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "not ok 1 - setup"; echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION hublink CASCADE;
-- One returnee, as a caseworker would give it.
CREATE FUNCTION public.create_for(ho text) RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal('CASE-RACE', jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', ho,
            'name', jsonb_build_object('givenNames', 'Race', 'familyName', 'Returnee'),
            'dateOfBirth', '1980-01-01', 'nationality', 'NGA', 'gender', 'M'),
        'travelDocuments', '[]'::jsonb,
        'location', jsonb_build_object('detentionCentreId', 'HARMONDSWORTH_IRC'),
        'risk', jsonb_build_object('flags', '[]'::jsonb))),
        current_date + 10, current_date + 13, jsonb_build_object('description', 'Lagos', 'country', 'NGA')) $$;
SQL
# Poll until a query returns the wanted value (at most 60 s).
wait_for() { for _ in $(seq 600); do [ "$(psql -XAtc "$1")" = "${2:-1}" ] && return 0; sleep 0.1; done; return 1; }
echo "1..14"
sessions=8
mkfifo "$dir/barrier"
psql -qXAt <"$dir/barrier" >/dev/null 2>&1 &
exec 3>"$dir/barrier"
echo "SELECT pg_advisory_lock(4222);" >&3
wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4222 AND granted"
for i in $(seq "$sessions"); do
    psql -XAt -c "SELECT pg_advisory_lock_shared(4222)" -c "SELECT 'created', public.create_for('HO-RACE1')" \
         >"$dir/s$i.out" 2>"$dir/s$i.err" &
done
check "$(wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4222 AND NOT granted" "$sessions" && echo all)" \
      all "all $sessions sessions are seen waiting on the barrier before it is released"
echo "SELECT pg_advisory_unlock(4222);" >&3
exec 3>&-
wait
check "$(cat "$dir"/s*.out | grep -c '^created|RMV-')" 1 "exactly one of the $sessions overlapping calls creates a removal"
check "$(cat "$dir"/s*.err | grep -c 'returnee HO-RACE1 already has a live removal')" $((sessions - 1)) \
      "the other $((sessions - 1)) are refused: already has a live removal"
check "$(psql -XAtc "SELECT count(*) FROM hublink.live_returnee WHERE ho_returnee_reference = 'HO-RACE1'")" 1 \
      "one live removal for the returnee"

# Deterministically: A's transaction stays open after its create_removal; B must wait for it.
mkfifo "$dir/holder"
psql -qXAt <"$dir/holder" >/dev/null 2>&1 &
exec 4>"$dir/holder"
echo "SELECT pg_advisory_lock(5252);" >&4
wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 5252 AND granted"
psql -XAt -c "BEGIN" -c "SELECT 'A', public.create_for('HO-RACE2') IS NOT NULL" \
     -c "SELECT 'A waits', pg_advisory_lock(5252)" -c "COMMIT" >"$dir/A.out" 2>"$dir/A.err" &
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%A waits%' AND wait_event = 'advisory'"
psql -XAt -c "SELECT 'B', public.create_for('HO-RACE2')" >"$dir/B.out" 2>"$dir/B.err" &
check "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%''B'', public.create_for%' AND wait_event_type = 'Lock'" && echo waiting)" \
      waiting "B waits on a lock while A's removal of the same returnee is not committed"
echo "SELECT pg_advisory_unlock(5252);" >&4
exec 4>&-
wait
check "$(grep -c '^A|t$' "$dir/A.out")" 1 "A creates its removal"
check "$(grep -c 'returnee HO-RACE2 already has a live removal' "$dir/B.err")" 1 \
      "B, run while A was open, is refused once A commits"
check "$(psql -XAtc "SELECT count(*) FROM hublink.live_returnee WHERE ho_returnee_reference = 'HO-RACE2'")" 1 \
      "one live removal for that returnee too"
check "$(psql -XAt -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT public.create_for('HO-RACE3')" 2>&1 | grep -c 'cannot run under REPEATABLE READ')" 1 \
      "refused in a REPEATABLE READ transaction, whose snapshot would hide a removal committed while it waited"
# --- fire_timers against cancel_removal on the same removal (the soak's deadlock) -------------
ref4=$(psql -XAtc "SELECT hublink.create_removal('CASE-RACE4', '[{\"personalDetails\": {\"hoReturneeReference\": \"HO-RACE4\",
    \"name\": {\"givenNames\": \"Race\", \"familyName\": \"Returnee\"}, \"dateOfBirth\": \"1980-01-01\", \"nationality\": \"NGA\", \"gender\": \"M\"},
    \"travelDocuments\": [{\"type\": \"PASSPORT\", \"number\": \"A09999998\", \"issuingCountry\": \"NGA\"}],
    \"location\": {\"detentionCentreId\": \"HARMONDSWORTH_IRC\"}, \"risk\": {\"flags\": []}}]',
    current_date + 10, current_date + 13, '{\"description\": \"Lagos\", \"country\": \"NGA\", \"airportCode\": \"LOS\"}')")
quote=$(python3 - "$top/schemas/examples/travel-quote-response.json" "$ref4" <<'PY'
import json, sys, uuid
m = json.load(open(sys.argv[1]))
q = m["body"]["quotes"][0]
q.pop("escortQuoteReference", None)
q["conditions"]["expiresAt"] = "2099-01-01T00:00:00+00:00"
m["body"]["quotes"] = [q]
m["removalId"], m["messageId"] = sys.argv[2], str(uuid.uuid4())
print(json.dumps(m))
PY
)
psql -qX -v ON_ERROR_STOP=1 -v ref="$ref4" -v quote="$quote" >/dev/null <<'SQL' || echo "# setup of the timer race failed"
SELECT hublink.request_travel_quotes(:'ref');
SELECT hublink.handle_message(:'quote'::jsonb);
-- As an admin may: re-quote when the best quote is about to lapse (docs/timers.md).
UPDATE hublink.timer_rule SET action = 'hublink.timer_requote(bigint)' WHERE kind = 'quote_expiry';
-- The barrier, inside the job: the real still-due check after an advisory lock the test holds.
CREATE FUNCTION hublink.race_quote_still_due(p_timer_id bigint) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_lock_shared(6363);
    RETURN hublink.timer_quote_still_due(p_timer_id);
END $$;
UPDATE hublink.timer_kind SET still_due_function = 'hublink.race_quote_still_due(bigint)' WHERE kind = 'quote_expiry';
UPDATE hublink.worker_job SET enabled = (job_name = 'fire_timers'), next_run_at = now() - interval '1 second';
UPDATE hublink.timer SET due_at = now() - interval '1 minute'
 WHERE kind = 'quote_expiry' AND status = 'pending'
   AND removal_id = (SELECT removal_id FROM hublink.removal WHERE removal_reference = :'ref');
SQL
deadlocks() { psql -XAtc "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"; }
d0=$(deadlocks)
mkfifo "$dir/timer-barrier"
psql -qXAt <"$dir/timer-barrier" >/dev/null 2>&1 &
exec 5>"$dir/timer-barrier"
echo "SELECT pg_advisory_lock(6363);" >&5
wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 6363 AND granted"
psql -XAt -c "SELECT 'J', hublink.run_worker_jobs() IS NOT NULL" >"$dir/J.out" 2>"$dir/J.err" &
check "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%''J'', hublink.run_worker_jobs%' AND wait_event = 'advisory'" && echo held)" \
      held "the fire_timers job holds the removal's due timer, stopped on the barrier in its still_due_function"
psql -XAt -c "SELECT 'K', cardinality(hublink.cancel_removal('$ref4', 'LEGAL_CHALLENGE'))" >"$dir/K.out" 2>"$dir/K.err" &
check "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%''K'', cardinality(hublink.cancel_removal%' AND wait_event_type = 'Lock'" && echo waiting)" \
      waiting "the caseworker's cancel_removal of that removal waits for the job"
echo "SELECT pg_advisory_unlock(6363);" >&5
exec 5>&-
wait
check "$(($(deadlocks) - d0)) $(cat "$dir/J.err" "$dir/K.err" | grep -c 'deadlock detected')" "0 0" \
      "no deadlock between the job and the caseworker (pg_stat_database.deadlocks, both sessions' messages)"
# K runs once the job has committed, and sees its re-quote: the travel quotes are superseded and
# a new request is out (quote_requested), so there is nothing to cancel yet (the product's answer).
check "$(grep -c 'travel booking quote_requested; a cancellation names a quote' "$dir/K.err")" 1 \
      "the caseworker's call runs after the job commits and sees the job's re-quote"
check "$(psql -XAtc "SELECT t.status || ' ' || (t.action_message_id IS NOT NULL) FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
                     WHERE r.removal_reference = '$ref4' AND t.kind = 'quote_expiry' AND t.status <> 'cancelled' ORDER BY t.timer_id LIMIT 1")" \
      "fired true" "the timer fired and its action (the re-quote) was sent"
[ "$fail" -eq 0 ] || { cat "$dir"/*.err | grep -v NOTICE | sort | uniq -c | sed 's/^/# /'; }
race_done
