#!/usr/bin/env bash
# Jobs off the message path (issue 15 section 4; docs/worker.md "Jobs"): the worker's jobs run
# in a background worker of their own, as the worker's role, so a job that runs long (a first
# MI fold, a large purge) does not stop message handling. A job here blocks on a lock the test
# holds; messages must still be applied meanwhile. With the jobs in the message loop
# (hublink.jobs_worker = off, 0.1.0's way) the same message waits for the job.
. "$(dirname "$0")/lib.sh"
worker_stack_up

check_eq "worker_status shows the jobs worker, a process of its own" "t|t" \
    "$(wait_for 20 "SELECT jobs_state IN ('idle', 'running jobs') FROM hublink.worker_status" && echo t)|$(
        sql "SELECT jobs_pid IS NOT NULL AND jobs_pid <> pid FROM hublink.worker_status")"
# A job that waits for the test's advisory lock: owned by the extension's owner, as every job.
psql -Xq -v ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE public.test_job_ran (pid integer NOT NULL);
CREATE FUNCTION public.test_gated_job() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.test_job_ran VALUES (pg_backend_pid());
    PERFORM pg_advisory_lock_shared(4242);
    PERFORM pg_advisory_unlock_shared(4242);
    RETURN NULL;
END $$;
INSERT INTO hublink.worker_job (job_name, job_function, run_every, next_run_at, description)
VALUES ('test_gated', 'public.test_gated_job()', '1 hour', 'infinity', 'test: waits for the test''s lock');
EOF

# blocked_job FIRST: hold the lock in a session of its own, run the job now, publish request
# FIRST while the job waits; prints whether the request was applied while the job still waited.
blocked_job() {
    PGAPPNAME=test_job_gate psql -XqAt -c "SELECT pg_advisory_lock(4242), pg_sleep(120)" >/dev/null 2>&1 &
    wait_for 10 "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                                 WHERE a.application_name = 'test_job_gate' AND l.locktype = 'advisory' AND l.granted)"
    sql "SELECT hublink.schedule_worker_job('test_gated', now())" >/dev/null
    wait_for 20 "SELECT EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted)"
    gen 1 "$1" | hub publish escort-quote-request 2>/dev/null
    if wait_for 15 "SELECT EXISTS (SELECT FROM hublink.inbox WHERE removal_id = 'RMV-2026-0000$1')"; then
        echo "applied while the job waited: $(sql "SELECT EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted)")"
    else
        echo "not applied while the job waited"
    fi
    sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test_job_gate'" >/dev/null
    wait
    wait_for 20 "SELECT NOT EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'advisory')"
}

check_eq "jobs worker on: a message is applied while a job waits" "applied while the job waited: t" \
    "$(blocked_job 51)"
check_eq "and the job then finishes, run by the jobs worker's process" "t|t" \
    "$(wait_for 20 "SELECT runs = 1 AND failures = 0 FROM hublink.worker_job WHERE job_name = 'test_gated'" && echo t)|$(
        sql "SELECT bool_and(r.pid = w.jobs_pid) FROM public.test_job_ran r, hublink.worker_status w")"

# The comparison: jobs in the message loop. The message waits for the job (released after
# 15 s here); that is what the jobs worker removes.
echo "hublink.jobs_worker = off" >>"$HUBLINK_PG_EXTRA_CONF"
# Both workers must have read it: the jobs worker stops running jobs, the message worker starts.
reload_conf
check_eq "jobs worker off: it says so" "t" \
    "$(wait_for 20 "SELECT jobs_state LIKE 'off%' FROM hublink.worker_status" && echo t)"
check_eq "jobs worker off: the same message waits for the job in the message loop" \
    "not applied while the job waited" "$(blocked_job 52)"
check_eq "and is applied once the job, run by the message worker, is done" "t|t" \
    "$(wait_for 30 "SELECT EXISTS (SELECT FROM hublink.inbox WHERE removal_id = 'RMV-2026-000052')" && echo t)|$(
        sql "SELECT count(*) = 2 AND bool_or(r.pid = w.pid) FROM public.test_job_ran r, hublink.worker_status w")"
sed -i '/^hublink.jobs_worker = off$/d' "$HUBLINK_PG_EXTRA_CONF"
reload_conf
check_eq "jobs worker on again after a reload" "t" \
    "$(wait_for 20 "SELECT jobs_state IN ('idle', 'running jobs') FROM hublink.worker_status" && echo t)"
finish
