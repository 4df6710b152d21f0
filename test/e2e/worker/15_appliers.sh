#!/usr/bin/env bash
# The message worker's appliers (issue 15 sections 1 and 3; docs/worker.md "Appliers"): with
# hublink.appliers = 2 (the default; set here explicitly) two processes apply messages, each the removals that hash
# to it. What a careless operator or a crash must not break:
#   - the messages of one removal, interleaved with others', are applied in the order sent,
#     all by one applier, each exactly once;
#   - a message that holds its applier (a handler waiting on a lock) stalls only its own
#     partition: the other applier goes on, and its deliveries are acked meanwhile;
#   - an applier terminated mid-batch loses nothing and applies nothing twice or out of order;
#   - hublink.appliers = 1 is the old way: the worker applies everything itself.
. "$(dirname "$0")/lib.sh"
export HUBLINK_PG_EXTRA='hublink.appliers = 2'  # a restart setting: in postgresql.conf from the start
worker_stack_up

# Every application in order, by the process that ran the handler (a rolled-back one leaves no
# row); a removal in public.test_block waits for the test's advisory lock 4343.
psql -Xq -v ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE public.test_apply_log (seq bigserial PRIMARY KEY, removal_id text NOT NULL,
                                    message_id text NOT NULL, pid integer NOT NULL);
CREATE TABLE public.test_block (removal_id text PRIMARY KEY);
CREATE FUNCTION public.test_ordered(msg jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM public.test_block b WHERE b.removal_id = msg ->> 'removalId') THEN
        PERFORM pg_advisory_lock_shared(4343);
        PERFORM pg_advisory_unlock_shared(4343);
    END IF;
    INSERT INTO public.test_apply_log (removal_id, message_id, pid)
    VALUES (msg ->> 'removalId', msg ->> 'messageId', pg_backend_pid());
    PERFORM public.test_reply(msg);
END $$;
REVOKE ALL ON FUNCTION public.test_ordered(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.test_ordered(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_ordered(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF

# interleaved N FIRST: N requests (messageIds numbered FIRST..), message i for removal
# RMV-2026-7000xx with xx = i mod 16: sixteen removals, each's messages interleaved with the others'.
interleaved() {
    gen "$1" "$2" | jq -c '.removalId as $r
        | ($r | ltrimstr("RMV-2026-") | tonumber % 16) as $k
        | .removalId = ("RMV-2026-7000" + (if $k < 10 then "0" else "" end) + ($k | tostring))'
}
# The message's number, from the last group of its messageId (hubtool gen writes it there).
num="('x' || lpad(right(message_id, 12), 16, '0'))::bit(64)::bigint"
out_of_order() {
    sql "SELECT count(*) FROM (SELECT $num AS i, lag($num) OVER (PARTITION BY removal_id ORDER BY seq) AS prev
                                 FROM public.test_apply_log WHERE $num BETWEEN $1 AND $2) t
          WHERE t.prev > t.i"
}

check_eq "worker_status: 2 appliers asked for, 2 running" "2|2" \
    "$(wait_for 30 "SELECT appliers_running = 2 FROM hublink.worker_status"
       sql "SELECT appliers || '|' || appliers_running FROM hublink.worker_status")"
check_eq "worker_appliers(): two processes of their own, not the worker's" "2|2|0" \
    "$(sql "SELECT count(*) || '|' || count(DISTINCT a.pid) || '|' || count(*) FILTER (WHERE a.pid = w.pid)
            FROM hublink.worker_appliers() a, hublink.worker_status w")"

# A reload reaches every process, an idle applier too (it waits on its latch, not inside its
# queue): each one's settings_loaded_at passes the reload's time with no delivery to wake it.
received=$(sql "SELECT received FROM hublink.worker_status")
t0=$(sql "SELECT clock_timestamp()")
sql "SELECT pg_reload_conf()" >/dev/null
check "worker_processes(): the message worker, the jobs worker and both idle appliers read a reload" \
    wait_for 30 "SELECT count(*) = 4 AND bool_and(settings_loaded_at > '$t0')
                   FROM hublink.worker_processes() WHERE pid IS NOT NULL"
check_eq "with no delivery meanwhile" "$received|0" \
    "$(sql "SELECT received FROM hublink.worker_status")|$(sql "SELECT count(*) FROM hublink.worker_processes()
                                                             WHERE process = 'applier' AND state <> 'idle'")"

# --- order within a removal, across two appliers -------------------------------------------
sql "INSERT INTO public.test_handler_delay VALUES (0.005)"
interleaved 320 1 | hub --timestamp publish escort-quote-request 2>/dev/null
check "320 interleaved requests of 16 removals applied" \
    wait_for 120 "SELECT count(*) = 320 FROM public.test_apply_log"
check_eq "each exactly once" "320" "$(sql "SELECT count(DISTINCT message_id) FROM public.test_apply_log")"
check_eq "no removal's messages applied out of the order sent" "0" "$(out_of_order 1 320)"
check_eq "both appliers applied messages; every removal by one only" "2|0" \
    "$(sql "SELECT count(DISTINCT pid) FROM public.test_apply_log")|$(
       sql "SELECT count(*) FROM (SELECT removal_id FROM public.test_apply_log GROUP BY removal_id
                                  HAVING count(DISTINCT pid) > 1) r")"
check_eq "none applied by the message worker itself" "0" \
    "$(sql "SELECT count(*) FROM public.test_apply_log l, hublink.worker_status w WHERE l.pid = w.pid")"

# The partition is the removalId as jsonb reads it: the same removal written with an escape
# ("RMV-2026-70000\u0033") goes to the same applier, after the removal's earlier messages.
interleaved 16 401 | sed 's/"removalId":"RMV-2026-7000\([0-9]\)\([0-9]\)"/"removalId":"RMV-2026-7000\1\\u003\2"/' |
    hub --timestamp publish escort-quote-request 2>/dev/null
check "16 more, each removalId written with an escape, applied" \
    wait_for 60 "SELECT count(*) = 16 FROM public.test_apply_log WHERE $num BETWEEN 401 AND 416"
check_eq "each by the applier of its removal, after its earlier messages" "0|0" \
    "$(sql "SELECT count(*) FROM public.test_apply_log e
             WHERE $num BETWEEN 401 AND 416
               AND e.pid <> (SELECT l.pid FROM public.test_apply_log l WHERE l.removal_id = e.removal_id
                             ORDER BY l.seq LIMIT 1)")|$(out_of_order 1 416)"

# --- a removal that holds its applier stalls only its own partition -------------------------
blocked=RMV-2026-700000
mine=$(sql "SELECT pid FROM public.test_apply_log WHERE removal_id = '$blocked' LIMIT 1")
other=$(sql "SELECT removal_id FROM public.test_apply_log WHERE pid <> $mine LIMIT 1")
# Each removal gets 10 of the next 160 messages; the other applier's removals, 10 each.
expected=$(($(sql "SELECT count(DISTINCT removal_id) FROM public.test_apply_log WHERE pid <> $mine") * 10))
sql "INSERT INTO public.test_block VALUES ('$blocked')"
PGAPPNAME=test_gate psql -XqAt -c "SELECT pg_advisory_lock(4343), pg_sleep(120)" >/dev/null 2>&1 &
wait_for 10 "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                             WHERE a.application_name = 'test_gate' AND l.locktype = 'advisory' AND l.granted)"
interleaved 160 1001 | hub --timestamp publish escort-quote-request 2>/dev/null
check "while $blocked waits for a lock, the other applier applies its removals' messages" \
    wait_for 60 "SELECT count(*) = $expected FROM public.test_apply_log l
                  WHERE $num BETWEEN 1001 AND 1160
                    AND l.removal_id IN (SELECT removal_id FROM public.test_apply_log WHERE pid <> $mine)"
note "applied meanwhile: $(sql "SELECT count(*) FROM public.test_apply_log WHERE $num BETWEEN 1001 AND 1160") of 160 ($expected expected; removal $other is the other applier's)"
check_eq "and nothing of the blocked removal passed it" "0" \
    "$(sql "SELECT count(*) FROM public.test_apply_log WHERE removal_id = '$blocked' AND $num BETWEEN 1001 AND 1160")"
# Acked after the applier's report, which follows its commit: wait for the broker's count.
for _ in $(seq 60); do
    unacked=$(queue_state escort-quote-request | awk '{print $2}')
    ((${unacked:-160} < 160)) && break
    sleep 0.5
done
check "the other applier's deliveries are acked meanwhile (unacked on the broker: $unacked of 160)" \
    test "${unacked:-160}" -lt 160
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test_gate'" >/dev/null
wait
check "released, all 160 applied" wait_for 60 "SELECT count(*) = 496 FROM public.test_apply_log"
check_eq "still in order within every removal" "0" "$(out_of_order 1001 1160)"
sql "DELETE FROM public.test_block"

# --- an applier terminated mid-batch --------------------------------------------------------
victim=$(sql "SELECT pid FROM hublink.worker_appliers() WHERE applier = 0")
interleaved 600 2001 | hub --timestamp publish escort-quote-request 2>/dev/null
wait_for 60 "SELECT count(*) >= 100 FROM public.test_apply_log WHERE $num BETWEEN 2001 AND 2600"
sql "SELECT pg_terminate_backend($victim)" >/dev/null
at_kill=$(sql "SELECT count(*) FROM public.test_apply_log WHERE $num BETWEEN 2001 AND 2600")
check "applier 0 (pid $victim) terminated with messages in flight ($at_kill of 600 applied)" \
    test "$at_kill" -lt 600
sql "DELETE FROM public.test_handler_delay"
check "all 600 applied after it" \
    wait_for 120 "SELECT count(*) = 600 FROM public.test_apply_log WHERE $num BETWEEN 2001 AND 2600"
check_eq "each exactly once, in order within every removal" "600|0" \
    "$(sql "SELECT count(DISTINCT message_id) FROM public.test_apply_log WHERE $num BETWEEN 2001 AND 2600")|$(out_of_order 2001 2600)"
check_eq "a new applier 0 runs" "t" \
    "$(wait_for 30 "SELECT count(*) = 2 AND bool_and(pid IS NOT NULL) AND NOT bool_or(pid = $victim)
                     FROM hublink.worker_appliers()" && echo t)"
check "every request has its inbox row and the broker holds nothing" \
    wait_for 30 "SELECT (SELECT count(*) FROM hublink.inbox WHERE status = 'applied') = 1096"
note "worker_status after the kill: $(sql "SELECT row(received, applied, duplicates, acked)::text FROM hublink.worker_status")"
check_eq "the broker holds nothing unacked" "0 0" "$(wait_queue_state escort-quote-request "0 0")"

# --- hublink.appliers = 1: the message worker applies everything itself ----------------------
sql "ALTER SYSTEM SET hublink.appliers = 1" >/dev/null
"$REPO/scripts/stack" restart "$STACK_DIR" >/dev/null 2>&1 || echo "Bail out! restart failed"
wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status" || echo "Bail out! no worker after the restart"
check_eq "appliers = 1: none runs, worker_appliers() is empty" "1|0|0" \
    "$(sql "SELECT appliers || '|' || appliers_running FROM hublink.worker_status")|$(sql "SELECT count(*) FROM hublink.worker_appliers()")"
interleaved 64 3001 | hub --timestamp publish escort-quote-request 2>/dev/null
check "appliers = 1: 64 interleaved requests applied" \
    wait_for 60 "SELECT count(*) = 64 FROM public.test_apply_log WHERE $num BETWEEN 3001 AND 3064"
check_eq "all by the message worker, in order" "1|0" \
    "$(sql "SELECT count(*) FROM (SELECT DISTINCT l.pid FROM public.test_apply_log l, hublink.worker_status w
                                   WHERE $num BETWEEN 3001 AND 3064 AND l.pid = w.pid) p")|$(out_of_order 3001 3064)"
sql "ALTER SYSTEM RESET hublink.appliers" >/dev/null
finish
