-- The worker's periodic jobs (docs/worker.md, "Jobs"): workflow timers, retention purges,
-- the flush of logon events, monitoring checks. Each job is a row naming a function; the
-- worker calls hublink.run_worker_jobs() in its own transaction whenever the earliest
-- next_run_at is due, and sleeps until then otherwise. A job that wants to run earlier (a new
-- timer due sooner) calls hublink.schedule_worker_job, which wakes the worker at commit.

CREATE TABLE hublink.worker_job (
    job_name        text PRIMARY KEY CHECK (job_name ~ '^[a-z][a-z0-9_]*$'),
    job_function    regprocedure NOT NULL,
    run_every       interval NOT NULL CHECK (run_every > interval '0'),
    enabled         boolean NOT NULL DEFAULT true,
    next_run_at     timestamptz NOT NULL DEFAULT '-infinity',
    last_started_at timestamptz,
    last_duration   interval,
    last_error      text,
    last_error_at   timestamptz,
    runs            bigint NOT NULL DEFAULT 0,
    failures        bigint NOT NULL DEFAULT 0,
    description     text NOT NULL
);
COMMENT ON TABLE hublink.worker_job IS
    'The background worker''s periodic jobs, one row each. The worker runs a job when its '
    'next_run_at is due, in a subtransaction of its own, so one failing job neither stops '
    'the others nor the message traffic. Admins may disable a job or change run_every.';
COMMENT ON COLUMN hublink.worker_job.job_name IS 'Name of the job (lower case, underscores).';
COMMENT ON COLUMN hublink.worker_job.job_function IS
    'The function the job runs: no arguments, returns timestamptz: when it next wants to run '
    '(NULL: after run_every). The worker runs it through hublink.run_worker_jobs, as the extension owner.';
COMMENT ON COLUMN hublink.worker_job.run_every IS
    'The longest wait between two runs; a job may ask to run sooner by its return value.';
COMMENT ON COLUMN hublink.worker_job.enabled IS 'False: the worker does not run this job.';
COMMENT ON COLUMN hublink.worker_job.next_run_at IS 'When the worker next runs the job.';
COMMENT ON COLUMN hublink.worker_job.last_started_at IS 'When the last run started.';
COMMENT ON COLUMN hublink.worker_job.last_duration IS 'How long the last run took.';
COMMENT ON COLUMN hublink.worker_job.last_error IS 'The error of the last failed run (kept after later successes).';
COMMENT ON COLUMN hublink.worker_job.last_error_at IS 'When the last failed run failed.';
COMMENT ON COLUMN hublink.worker_job.runs IS 'Runs since the extension was installed.';
COMMENT ON COLUMN hublink.worker_job.failures IS 'Failed runs since the extension was installed.';
COMMENT ON COLUMN hublink.worker_job.description IS 'What the job does, for the admin.';

CREATE FUNCTION hublink.wake_worker_for_jobs_at_commit() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_wake_worker_for_jobs_at_commit';
COMMENT ON FUNCTION hublink.wake_worker_for_jobs_at_commit() IS
    'Tells the worker, when this transaction commits, that hublink.worker_job changed, so it '
    're-reads when its next job is due.';
REVOKE ALL ON FUNCTION hublink.wake_worker_for_jobs_at_commit() FROM PUBLIC;

CREATE FUNCTION hublink.schedule_worker_job(p_job_name text, p_at timestamptz)
    RETURNS void
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.worker_job SET next_run_at = least(next_run_at, p_at)
     WHERE job_name = p_job_name AND next_run_at > p_at;
    IF FOUND THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    ELSIF NOT EXISTS (SELECT 1 FROM hublink.worker_job WHERE job_name = p_job_name) THEN
        RAISE EXCEPTION 'no worker job named "%"', p_job_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'hublink.worker_job has no row with that job_name.',
                  HINT = 'SELECT job_name FROM hublink.worker_job lists the jobs.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.schedule_worker_job(text, timestamptz) IS
    'Asks the worker to run a job no later than p_at (it never postpones one), waking the '
    'worker at commit; for example when a new timer is due before the job''s next run.';
REVOKE ALL ON FUNCTION hublink.schedule_worker_job(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.run_worker_jobs() RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j         hublink.worker_job;
    wanted    timestamptz;
    started   timestamptz;
    message   text;
BEGIN
    FOR j IN SELECT * FROM hublink.worker_job
              WHERE enabled AND next_run_at <= clock_timestamp()
              ORDER BY next_run_at, job_name
              FOR UPDATE SKIP LOCKED
    LOOP
        started := clock_timestamp();
        BEGIN
            -- This function runs as its owner for the worker's role; so does every job. Only
            -- the owner's own functions may be jobs, so a job row cannot lend its rights.
            IF (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = j.job_function)
               IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
                PERFORM hublink.record_security_event('stored_function_refused', jsonb_build_object(
                    'place', 'hublink.worker_job.job_function', 'function', j.job_function::text,
                    'at', 'call', 'function_owner', (SELECT p.proowner::regrole::text FROM pg_catalog.pg_proc p
                                                       WHERE p.oid = j.job_function),
                    'responsible_role', coalesce((SELECT p.proowner::regrole::text FROM pg_catalog.pg_proc p
                                                   WHERE p.oid = j.job_function), session_user)));
                RAISE EXCEPTION 'job function % is not owned by %', j.job_function, current_user
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Jobs run with the rights of the owner of hublink.run_worker_jobs.',
                          HINT = 'Create the job function as that role, or ALTER FUNCTION ... OWNER TO it.';
            END IF;
            EXECUTE format('SELECT %s()', j.job_function::regproc) INTO wanted;
            UPDATE hublink.worker_job
               SET next_run_at = least(coalesce(wanted, started + run_every), started + run_every),
                   last_started_at = started,
                   last_duration = clock_timestamp() - started,
                   runs = runs + 1
             WHERE job_name = j.job_name;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            RAISE WARNING 'hublink worker job "%" failed: %', j.job_name, message
                USING DETAIL = 'The job runs again after its run_every.',
                      HINT = 'See hublink.worker_job.last_error.';
            UPDATE hublink.worker_job
               SET next_run_at = started + run_every,
                   last_started_at = started,
                   last_duration = clock_timestamp() - started,
                   last_error = message,
                   last_error_at = clock_timestamp(),
                   runs = runs + 1,
                   failures = failures + 1
             WHERE job_name = j.job_name;
        END;
    END LOOP;
    RETURN (SELECT min(next_run_at) FROM hublink.worker_job WHERE enabled);
END;
$$;
COMMENT ON FUNCTION hublink.run_worker_jobs() IS
    'Runs every enabled worker job that is due, each in its own subtransaction, and returns '
    'when the next one is due (NULL: no job enabled). Called by the worker; callable by an '
    'admin to run due jobs at once. SECURITY DEFINER, so the worker''s role needs no right on '
    'what the jobs touch; a job whose function another role owns fails (insufficient_privilege).';
REVOKE ALL ON FUNCTION hublink.run_worker_jobs() FROM PUBLIC;

-- Code stored as data (issue 12 section 1; docs/security-access.md "Code stored as data"): a
-- function named by a row that someone other than the owner may write (hublink.timer_kind,
-- hublink.timer_rule: hublink_admin) and that runs later with the owner's rights must be one
-- of the extension's own: owned by the extension's owner, in the extension's schema. Checked
-- when the row is written (a trigger of each such table) and again when the function is
-- called, by its oid, so neither a function the admin makes in pg_temp nor one of the owner's
-- elsewhere (every pg_catalog function belongs to the bootstrap superuser) ever runs.
CREATE FUNCTION hublink.stored_function_allowed(p_function oid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                         JOIN pg_catalog.pg_extension e ON e.extname = 'hublink'
                        WHERE p.oid = p_function AND p.proowner = e.extowner
                          AND p.pronamespace = e.extnamespace);
    END;
COMMENT ON FUNCTION hublink.stored_function_allowed(oid) IS
    'True when the function may be named by a row and run with the owner''s rights: it is owned '
    'by the extension''s owner and lives in the extension''s schema (docs/security-access.md '
    '"Code stored as data").';

CREATE FUNCTION hublink.require_stored_function(p_function regprocedure, p_place text, p_at text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    fn    text;
    owner text;
BEGIN
    IF p_function IS NULL OR hublink.stored_function_allowed(p_function) THEN
        RETURN;
    END IF;
    -- pg_temp_7.f(bigint) reads pg_temp.f(bigint): the number is only the session's.
    fn := regexp_replace(p_function::text, '^pg_temp_[0-9]+\.', 'pg_temp.');
    SELECT p.proowner::regrole::text INTO owner FROM pg_catalog.pg_proc p WHERE p.oid = p_function;
    -- Kept even though the statement fails. Whoever wrote the row is responsible when it is
    -- written; when it is called (by the worker), the function's owner is, who made it.
    PERFORM hublink.record_security_event('stored_function_refused', jsonb_build_object(
        'place', p_place, 'function', fn, 'function_owner', owner, 'at', p_at,
        'responsible_role', CASE WHEN p_at = 'write' THEN session_user::text
                                 ELSE coalesce(owner, session_user::text) END));
    RAISE EXCEPTION 'function % may % %', fn,
                    CASE WHEN p_at = 'write' THEN 'not be stored in' ELSE 'not be run from' END, p_place
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('It runs with the rights of the extension''s owner, so it must be owned by %s and '
                              'in schema %s; it is owned by %s.',
                              (SELECT e.extowner::regrole::text FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink'),
                              (SELECT e.extnamespace::regnamespace::text FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink'),
                              coalesce(owner, 'nobody (it was dropped)')),
              HINT = 'Name one of the extension''s functions (docs/timers.md lists them), or ask the '
                     'extension''s owner to add one to its schema.';
END;
$$;
COMMENT ON FUNCTION hublink.require_stored_function(regprocedure, text, text) IS
    'Raises insufficient_privilege, after recording a stored_function_refused security event '
    'naming the role responsible, unless hublink.stored_function_allowed(p_function) (NULL '
    'passes). p_place names the column; p_at is write (a row being written) or call.';
REVOKE ALL ON FUNCTION hublink.require_stored_function(regprocedure, text, text) FROM PUBLIC;

-- The write check, a trigger of the tables an admin writes: its arguments name the columns.
CREATE FUNCTION hublink.check_stored_functions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col  text;
    fn   oid;
    old_ oid;
BEGIN
    FOREACH col IN ARRAY TG_ARGV LOOP
        EXECUTE format('SELECT ($1).%I::oid', col) INTO fn USING NEW;
        IF TG_OP = 'UPDATE' THEN
            EXECUTE format('SELECT ($1).%I::oid', col) INTO old_ USING OLD;
            CONTINUE WHEN fn IS NOT DISTINCT FROM old_;
        END IF;
        PERFORM hublink.require_stored_function(fn::regprocedure,
                                                format('%s.%I', TG_RELID::regclass, col), 'write');
    END LOOP;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.check_stored_functions() IS
    'BEFORE INSERT OR UPDATE trigger: every column named by its arguments (regprocedure) must '
    'name one of the extension''s own functions (hublink.require_stored_function), else the '
    'write fails with insufficient_privilege and a security event names the writer.';
REVOKE ALL ON FUNCTION hublink.check_stored_functions() FROM PUBLIC;
