-- hublink update script 0.1.0--0.2.0, built by scripts/build-install-sql from sql/updates/0.1.0--0.2.0/*.sql
-- and schemas/*.json; do not edit by hand.

\echo Use "ALTER EXTENSION hublink UPDATE" to load this file. \quit

-- from sql/updates/0.1.0--0.2.0/01_install_shipped_schema.sql
-- 0.2.0: the update scripts load the shipped schemas again, so the loader leaves an unchanged
-- schema alone and replaces a changed one (CHANGELOG.md).
-- hublink.install_shipped_schema: defined once, at the mention that needs it (docs/upgrades.md)

-- from sql/updates/0.1.0--0.2.0/02_renumbered_parts.sql
-- 0.2.0: every part of sql/parts has a number of its own (issue 13 section 3), and the comments
-- and function bodies that name a renumbered part say its new name.
-- hublink.esp_copy_plan, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_copy_plan(plan_id bigint, at timestamptz) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
BEGIN
    -- returnees is sealed (76_crypto_seal_esp.sql): the copy takes the sealed value and its key
    -- scope, which the seal trigger re-seals without anyone reading it.
    INSERT INTO hublink.esp_plan (removal_ref, key_scope, sealed, international, escort_on_transport, location,
                                  destination, duty_days, currency, segments, created_at)
    SELECT p.removal_ref, p.key_scope, p.sealed, p.international, p.escort_on_transport, p.location,
           p.destination, p.duty_days, p.currency, p.segments, at
      FROM hublink.esp_plan p WHERE p.plan_id = esp_copy_plan.plan_id
    RETURNING esp_plan.plan_id INTO pid;
    -- So is a position's sex (gender): copied sealed, under the same key.
    INSERT INTO hublink.esp_plan_position (plan_id, escort_number, role, gender, physique, languages, medic,
                                           for_returnee, key_scope, sealed)
    SELECT pid, p.escort_number, p.role, NULL, p.physique, p.languages, p.medic, p.for_returnee, p.key_scope, p.sealed
      FROM hublink.esp_plan_position p WHERE p.plan_id = esp_copy_plan.plan_id;
    RETURN pid;
END;
$$;
COMMENT ON FUNCTION hublink.esp_copy_plan(bigint, timestamptz) IS 'A copy of a plan and its positions, for an amendment to change.';
-- hublink.esp_fill_team, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_fill_team(plan_id bigint, first_day date, keep_booking bigint DEFAULT NULL,
                                      sexes jsonb DEFAULT NULL)
    RETURNS TABLE (escort_number integer, escort_id text)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    days   constant integer := (SELECT pl.duty_days FROM hublink.esp_plan pl WHERE pl.plan_id = esp_fill_team.plan_id);
    -- The positions with their sex decrypted (sealed, 76_crypto_seal_esp.sql; audited when any
    -- position asks for a sex), once per call.
    positions constant hublink.esp_plan_position[] :=
        ARRAY(SELECT x FROM hublink.esp_plan_positions(esp_fill_team.plan_id) x);
    cands  text[];
    elig   jsonb;
    assign jsonb := '{}';
    p      hublink.esp_plan_position;
    pick   text;
    r      jsonb;
BEGIN
    cands := ARRAY(SELECT e.escort_id FROM hublink.esp_escort e
                    WHERE e.active AND hublink.esp_free(e.escort_id, first_day, days, keep_booking));
    -- The sex is sealed: decrypted only when a position asks for one, only for the free escorts
    -- (unless the caller, hublink.esp_quote, decrypted it once for every date).
    IF sexes IS NULL AND EXISTS (SELECT FROM unnest(positions) x WHERE x.gender IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(cands, (SELECT pl.removal_ref FROM hublink.esp_plan pl
                                                   WHERE pl.plan_id = esp_fill_team.plan_id));
    END IF;
    -- Per position its fit free escorts, best first: the booking's own escort for it, then the
    -- least qualified (fit for the fewest positions of the plan, weakest physique, not a
    -- leader, fewest languages, then by ID), so that scarce skills stay free.
    SELECT coalesce(jsonb_object_agg(x.escort_number::text, coalesce(
               (SELECT jsonb_agg(c.escort_id ORDER BY
                        NOT EXISTS (SELECT FROM hublink.esp_booking_escort b
                                     WHERE b.booking_id = keep_booking AND b.escort_number = x.escort_number
                                       AND b.escort_id = c.escort_id),
                        (SELECT count(*) FROM unnest(positions) y
                          WHERE hublink.esp_eligible(y, c, sexes ->> c.escort_id)),
                        (SELECT ph.strength FROM hublink.esp_physique ph WHERE ph.physique = c.physique),
                        c.team_leader, cardinality(c.languages), c.escort_id)
                  FROM hublink.esp_escort c WHERE c.escort_id = ANY (cands) AND hublink.esp_eligible(x, c, sexes ->> c.escort_id)), '[]')), '{}')
      INTO elig
      FROM unnest(positions) x;
    -- Greedy first, most constrained position first, each taking its best free candidate ...
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id
              ORDER BY jsonb_array_length(elig -> x.escort_number::text), x.escort_number LOOP
        SELECT c INTO pick FROM jsonb_array_elements_text(elig -> p.escort_number::text) WITH ORDINALITY y(c, o)
         WHERE NOT EXISTS (SELECT FROM jsonb_each_text(assign) z(k, v) WHERE v = c)
         ORDER BY o LIMIT 1;
        IF FOUND THEN
            assign := assign || jsonb_build_object(p.escort_number::text, pick);
        END IF;
    END LOOP;
    -- ... then an augmenting path for each position left, so that a team is found whenever
    -- one exists (a maximum matching of positions to escorts).
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id AND NOT assign ? x.escort_number::text
              ORDER BY x.escort_number LOOP
        r := hublink.esp_augment(elig, assign, p.escort_number::text, '{}');
        IF jsonb_typeof(r -> 'assign') = 'object' THEN
            assign := r -> 'assign';
        END IF;
    END LOOP;
    RETURN QUERY SELECT k::integer, v FROM jsonb_each_text(assign) z(k, v) ORDER BY k::integer;
END;
$$;
COMMENT ON FUNCTION hublink.esp_fill_team(bigint, date, bigint, jsonb) IS
    'Assigns free escorts (hublink.esp_free) to the positions of a plan for the duty days from '
    'first_day (sexes: {escort_id: sex} already decrypted, else decrypted here for the free '
    'escorts when a position asks for a sex): greedily, most constrained position first, each taking keep_booking''s own escort '
    'when fit, else the least qualified fit escort (fewest positions fit, weakest physique, not a '
    'leader, fewest languages, then ID); then augmenting paths for the positions left, so the '
    'result is a maximum matching: fewer rows than positions means no team exists.';
-- hublink.esp_quote: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.record_escorts: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.unseal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.unseal(p_scope text, p_sealed bytea) RETURNS jsonb
    LANGUAGE plpgsql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN pg_catalog.convert_from(hublink.crypto_decrypt(p_sealed, hublink.data_key_for(p_scope, false)),
                                   'UTF8')::jsonb;
END;
$$;
COMMENT ON FUNCTION hublink.unseal(text, bytea) IS
    'Opens a value sealed by hublink.seal. Not audited by itself: the authorised reads '
    '(hublink.unsealed and the functions of 74_crypto_seal.sql) audit. Internal.';
COMMENT ON COLUMN hublink.removal.notes IS
    'PERSONAL DATA: free text passed to the providers (it can name people or places). Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.esp_plan_position.gender IS
    'PERSONAL DATA: the sex the escort must be, or NULL when any; a same-sex position tells the sex of '
    'the returnee it escorts (for_returnee). Sealed (76_crypto_seal_esp.sql): read with '
    'hublink.esp_plan_positions(plan_id), which audits.';
COMMENT ON COLUMN hublink.inbox.message IS
    'The message''s envelope, when it was JSON at all; its body is sealed in sealed_body (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.raw IS
    'PERSONAL DATA: the bytes as received (at most hublink.max_message_bytes), only when they were '
    'not JSON; a garbled message can still carry names or document numbers. Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.problems IS
    'PERSONAL DATA: why the message was rejected, the problems sent in the Error message; they can '
    'quote the message''s values. Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.last_error IS
    'PERSONAL DATA: the handler''s last error message, which can quote the message''s values. '
    'Sealed (74_crypto_seal.sql); cleared when a retry applies the message.';
COMMENT ON COLUMN hublink.outbox.message IS
    'The message''s envelope; its body is sealed in sealed_body (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.returnee.location IS
    'PERSONAL DATA: where the returnee is likely to be at departure (detention centre, prison, '
    'address), as in the messages. Sealed (74_crypto_seal.sql).';
COMMENT ON TABLE hublink.tsp_passenger IS
    'Passenger details for ticketing (escort names, API, meals). The PERSONAL DATA columns are '
    'sealed under the removal''s data key (74_crypto_seal.sql).';

-- from sql/updates/0.1.0--0.2.0/10_security_definer_data.sql
-- 0.2.0, issue 12 sections 1, 4 and 6 (docs/security-access.md "Code stored as data",
-- docs/security-crypto.md "Personal data and the server log").

-- Section 1: functions named by rows an admin writes run only if they are the extension's own.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_stored_function_refused', 'critical', 'monitoring',
     'A function named in a table and run with the extension owner''s rights (a timer''s check '
     'or action, a worker job) is not one of the extension''s own, and was refused when written '
     'or when called (docs/security-access.md "Code stored as data"). Investigate the role named: '
     'it may have tried to gain the owner''s rights.')
ON CONFLICT (kind) DO NOTHING;
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('stored_function_refused', 'security_stored_function_refused', 'Stored function refused')
ON CONFLICT (kind) DO NOTHING;
-- hublink.stored_function_allowed, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.stored_function_allowed(p_function oid) RETURNS boolean
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
-- hublink.require_stored_function, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.require_stored_function(p_function regprocedure, p_place text, p_at text)
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
-- hublink.check_stored_functions, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.check_stored_functions() RETURNS trigger
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
-- hublink.run_worker_jobs, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.run_worker_jobs() RETURNS timestamptz
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
-- hublink.fire_timer: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.security_event_alert, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.security_event_alert(e hublink.security_event) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k hublink.security_event_kind;
BEGIN
    SELECT * INTO k FROM hublink.security_event_kind WHERE kind = e.kind;
    IF NOT FOUND THEN
        k.alert_kind := 'security_event_unclassified';
        k.description := 'Unclassified security event ' || e.kind;
    END IF;
    IF k.alert_kind IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        k.alert_kind,
        -- The role responsible, when the event names one (a refused stored function: its
        -- writer or owner, not the worker that found it), else the session's.
        format('%s (role %s)', k.description, coalesce(e.detail ->> 'responsible_role', e.role_name, 'unknown')),
        NULL,
        jsonb_build_object('security_event_id', e.security_event_id, 'event_kind', e.kind,
                           'role_name', e.role_name, 'recorded_at', e.recorded_at)
            || (e.detail - 'client_addr'));
END;
$$;
COMMENT ON FUNCTION hublink.security_event_alert(hublink.security_event) IS
    'Raises the alert a flushed security event calls for (hublink.security_event_kind), if '
    'any; returns its alert_id.';
-- hublink.timer_kind.stored_functions, as defined in sql/parts
CREATE TRIGGER stored_functions BEFORE INSERT OR UPDATE ON hublink.timer_kind
    FOR EACH ROW EXECUTE FUNCTION hublink.check_stored_functions('still_due_function');
COMMENT ON TRIGGER stored_functions ON hublink.timer_kind IS
    'still_due_function runs as the owner: only the extension''s own functions (hublink.check_stored_functions).';
-- hublink.timer_rule.stored_functions, as defined in sql/parts
CREATE TRIGGER stored_functions BEFORE INSERT OR UPDATE ON hublink.timer_rule
    FOR EACH ROW EXECUTE FUNCTION hublink.check_stored_functions('action');
COMMENT ON TRIGGER stored_functions ON hublink.timer_rule IS
    'action runs as the owner: only the extension''s own functions (hublink.check_stored_functions).';


-- Section 6: 4.22 holds under concurrency (an advisory lock per returnee in create_removal).
-- hublink.create_removal: defined once, at the mention that needs it (docs/upgrades.md)

-- Section 6: one error for a removal or message the login may not see and for one that does
-- not exist, naming only what the caller gave.
-- hublink.require_removal_access, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.require_removal_access(removal_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT coalesce(hublink.removal_access_allowed(removal_id), false) THEN
        -- The same words for a removal that exists and one that does not: no existence leak.
        RAISE EXCEPTION 'removal % is not accessible', coalesce(removal_id::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The removal does not exist or its sensitivity is above the clearance of this login.',
                  HINT = 'An admin sets clearances with hublink.set_clearance().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(bigint) IS
    'Raises insufficient_privilege unless the login may see the removal (hublink.removal_access_allowed). '
    'Every SECURITY DEFINER function that takes a removal and that a caseworker may call '
    'PERFORMs it first: such functions bypass row-level security.';
CREATE OR REPLACE FUNCTION hublink.require_removal_access(removal_reference text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Its own error, naming only the reference the caller gave: the removal's internal id (or
    -- a -1 for one that does not exist) would tell the two apart.
    IF NOT coalesce(hublink.removal_access_allowed(
                        (SELECT r.removal_id FROM hublink.removal r
                          WHERE r.removal_reference = require_removal_access.removal_reference)), false) THEN
        RAISE EXCEPTION 'removal % is not accessible', coalesce(removal_reference, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The removal does not exist or its sensitivity is above the clearance of this login.',
                  HINT = 'An admin sets clearances with hublink.set_clearance().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(text) IS
    'hublink.require_removal_access by removal reference (RMV-...); an unknown reference is refused '
    'to a caseworker like an invisible one, with the same error naming only the reference given.';
-- hublink.require_message_access, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.require_message_access(p_log regclass, p_id bigint, p_key_scope text,
                                               p_removal_id text, p_missing boolean)
    RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_missing AND coalesce(hublink.removal_access_allowed(NULL), false) THEN
        RETURN;
    END IF;
    IF NOT p_missing THEN
        BEGIN
            PERFORM hublink.require_key_scope_access(coalesce(p_key_scope, p_removal_id, ''));
            RETURN;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL; -- the same error as a missing row, below
        END;
    END IF;
    RAISE EXCEPTION '% row % is not accessible', pg_catalog.replace(p_log::text, 'hublink.', ''), p_id
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'The message does not exist, or it belongs to a removal above the clearance of this login.',
              HINT = 'An admin sets clearances with hublink.set_clearance().';
END;
$$;
COMMENT ON FUNCTION hublink.require_message_access(regclass, bigint, text, text, boolean) IS
    'Raises insufficient_privilege ("<log> row <id> is not accessible") unless the login may open '
    'row p_id of the inbox or outbox (hublink.require_key_scope_access of its key scope); the same '
    'error for a row that does not exist (p_missing), except for the owner, superusers and the worker.';
-- hublink.message_document: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.inbox_failure, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_failure(p_id bigint, OUT raw bytea, OUT problems jsonb, OUT last_error text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    i hublink.inbox;
BEGIN
    SELECT * INTO i FROM hublink.inbox x WHERE x.id = p_id;
    PERFORM hublink.require_message_access('hublink.inbox', p_id, i.key_scope, i.removal_id, NOT FOUND);
    IF i.id IS NULL THEN
        RETURN;
    END IF;
    i := hublink.unsealed(i); -- audits the decryption
    raw := i.raw;
    problems := i.problems;
    last_error := i.last_error;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_failure(bigint) IS
    'What went wrong with inbox row p_id, decrypted: the bytes of a delivery that was not JSON, the '
    'problems of its Error message, the handler''s last error; audited (action decrypt, through '
    'hublink.unsealed). Needs a clearance for its removal; a message that named no removal, hublink_admin.';

-- Section 6: every opening of a sealed message body by the worker's role is audited.
-- hublink.open_message, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.open_message(p_message jsonb, p_key_scope text, p_sealed_body bytea) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_sealed_body IS NULL THEN
        RETURN p_message;
    END IF;
    -- Audited like every other read of a sealed value: hublink_worker reads every message at
    -- every clearance, so whoever holds that role (the worker, or a login granted it) leaves a
    -- row per body opened (docs/security-access.md "Who may hold hublink_worker").
    PERFORM hublink.audit_note('decrypt',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_key_scope),
        pg_catalog.jsonb_build_object('function', 'hublink.open_message', 'key_scope', p_key_scope,
                                      'message_id', p_message ->> 'messageId',
                                      'message_type', p_message ->> 'messageType'));
    RETURN p_message || pg_catalog.jsonb_build_object('body', hublink.unseal(p_key_scope, p_sealed_body));
END;
$$;
COMMENT ON FUNCTION hublink.open_message(jsonb, text, bytea) IS
    'The whole message of an inbox or outbox row (envelope and decrypted body), for the worker '
    'that publishes or retries it. Audited (action decrypt: key scope, messageId, type, and the '
    'login) whenever it decrypts a body, whoever calls it. Revoked from PUBLIC; hublink_worker.';

-- Section 6: renames of the audit store are security events (extension/security_utility.c).
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('audit_rename', 'security_audit_tampering', 'Rename or SET SCHEMA of an audit table, its column, constraint or trigger, or its schema')
ON CONFLICT (kind) DO NOTHING;

-- New functions get their grants (none but the loop's defaults).
SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/20_broker_contract.sql
-- 0.2.0: the broker contract (issue 12 section 2, issue 14 sections 2 and 3; docs/worker.md).
-- Each party publishes through an exchange of its own; the broker users and the parties they
-- speak for are rows; Errors received on the error queues of the queues a party sends on are
-- kept as error reports that need attention; a reused messageId is answered with an Error.

-- hublink.party.exchange (10_reference.sql), at the end of the table as in a fresh install.
ALTER TABLE hublink.party ADD COLUMN exchange text;
UPDATE hublink.party SET exchange = 'hublink.' || party;
ALTER TABLE hublink.party ALTER COLUMN exchange SET NOT NULL;
ALTER TABLE hublink.party ADD CONSTRAINT party_exchange_key UNIQUE (exchange);
ALTER TABLE hublink.party ADD CONSTRAINT party_exchange_check CHECK (exchange ~ '^[a-z][a-z0-9.-]*$');
COMMENT ON COLUMN hublink.party.exchange IS
    'The broker exchange this party publishes through (direct, routing key = queue name): bound '
    'to the queues it sends on and to the error queues of the queues it consumes, and the only '
    'exchange its broker users may write (hublink.broker_definitions, docs/worker.md).';

-- hublink.error_report (31_outbox.sql)
CREATE TABLE hublink.error_report (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    error_message_id    text NOT NULL UNIQUE,
    reported_by         text NOT NULL REFERENCES hublink.party,
    queue               text NOT NULL,
    failed_message_id   text,
    failed_message_type text,
    removal_reference   text,
    outbox_id           bigint REFERENCES hublink.outbox ON DELETE SET NULL,
    matched             boolean NOT NULL,
    problem_count       integer NOT NULL CHECK (problem_count >= 0),
    problem_locations   jsonb NOT NULL CHECK (jsonb_typeof(problem_locations) = 'array'),
    received_at         timestamptz NOT NULL DEFAULT now(),
    cleared_at          timestamptz,
    cleared_by          text,
    clear_note          text,
    CHECK ((cleared_at IS NULL) = (cleared_by IS NULL))
);
COMMENT ON TABLE hublink.error_report IS
    'Each Error message received on the error queue of a queue this party sends on: which of our '
    'outbox rows it names (NULL when none), where the problems are, and whether a person has '
    'cleared it. The Error itself (with the problems'' texts, sealed) is its row of hublink.inbox.';
COMMENT ON COLUMN hublink.error_report.id IS 'Key.';
COMMENT ON COLUMN hublink.error_report.error_message_id IS 'The Error message''s messageId (its row of hublink.inbox).';
COMMENT ON COLUMN hublink.error_report.reported_by IS 'The party that rejected our message (the broker-validated sender of the Error).';
COMMENT ON COLUMN hublink.error_report.queue IS 'The queue our message was consumed from (the Error''s body.queue).';
COMMENT ON COLUMN hublink.error_report.failed_message_id IS 'The Error''s body.failedMessageId, when it had one.';
COMMENT ON COLUMN hublink.error_report.failed_message_type IS 'The Error''s body.failedMessageType, when it had one.';
COMMENT ON COLUMN hublink.error_report.removal_reference IS 'The Error''s removalId (the removal reference), when it had one.';
COMMENT ON COLUMN hublink.error_report.outbox_id IS 'Our outbox row the Error names (same messageId, same queue); NULL when it names no message of ours, or once retention purged the row.';
COMMENT ON COLUMN hublink.error_report.matched IS 'True when the Error named a message we sent on that queue (kept when retention purges the outbox row).';
COMMENT ON COLUMN hublink.error_report.problem_count IS 'How many problems the Error lists.';
COMMENT ON COLUMN hublink.error_report.problem_locations IS
    'Where each problem is: instanceLocation, keywordLocation and code of each, without the '
    'error texts (they can quote personal data; read them with hublink.message_document on the '
    'Error''s inbox row).';
COMMENT ON COLUMN hublink.error_report.received_at IS 'When the Error was applied.';
COMMENT ON COLUMN hublink.error_report.cleared_at IS 'When a person cleared it (hublink.clear_attention); NULL while it needs attention.';
COMMENT ON COLUMN hublink.error_report.cleared_by IS 'Who cleared it.';
COMMENT ON COLUMN hublink.error_report.clear_note IS 'What was done about it.';
CREATE INDEX error_report_open ON hublink.error_report (received_at) WHERE cleared_at IS NULL;
COMMENT ON INDEX hublink.error_report_open IS 'The reports that still need attention.';
CREATE INDEX error_report_outbox ON hublink.error_report (outbox_id);
COMMENT ON INDEX hublink.error_report_outbox IS 'The reports of one outbox row.';
SELECT pg_catalog.pg_extension_config_dump('hublink.error_report', '');

-- hublink.worker_status and hublink.mi_worker gain needs_attention (32_worker_status.sql,
-- 86_mi_views.sql): a column added at the end, so CREATE OR REPLACE keeps the dependants.
CREATE OR REPLACE VIEW hublink.worker_status AS
SELECT s.pid,
       current_setting('hublink.party', true) AS party,
       s.state,
       s.state_since,
       s.last_error,
       s.last_error_at,
       s.started_at,
       c.received, c.applied, c.duplicates, c.rejected, c.retried, c.acked, c.published,
       o.backlog AS outbox_backlog,
       o.oldest_unsent_age,
       (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'retrying') AS retrying,
       (SELECT count(*) FROM hublink.error_report r WHERE r.cleared_at IS NULL) AS needs_attention
  FROM hublink.worker_state() s
 CROSS JOIN (SELECT coalesce(sum(q.received), 0)::bigint AS received,
                    coalesce(sum(q.applied), 0)::bigint AS applied,
                    coalesce(sum(q.duplicates), 0)::bigint AS duplicates,
                    coalesce(sum(q.rejected), 0)::bigint AS rejected,
                    coalesce(sum(q.retried), 0)::bigint AS retried,
                    coalesce(sum(q.acked), 0)::bigint AS acked,
                    coalesce(sum(q.published), 0)::bigint AS published
               FROM hublink.worker_queue_counters() q) c
 CROSS JOIN (SELECT count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL) o;
COMMENT ON VIEW hublink.worker_status IS
    'One row: the worker''s process and broker connection state, since when, its last error, '
    'totals of its per-queue counters (hublink.worker_queue_status), the outbox backlog and the '
    'age of its oldest unsent message, how many messages wait for a handler retry, and how many '
    'Errors received for our messages still need attention.';
COMMENT ON COLUMN hublink.worker_status.needs_attention IS
    'Errors received for our messages (or naming none of ours) not yet cleared: rows of hublink.needs_attention.';
-- hublink.mi_worker, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.mi_worker AS
SELECT w.party, w.state, w.state_since, w.state = 'connected' AS connected,
       round(extract(epoch FROM now() - w.state_since)::numeric, 3) AS seconds_in_state,
       w.last_error_at, w.started_at,
       w.received, w.applied, w.duplicates, w.rejected, w.retried, w.published,
       w.outbox_backlog,
       round(extract(epoch FROM w.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       w.retrying,
       w.needs_attention
  FROM hublink.worker_status w;
COMMENT ON VIEW hublink.mi_worker IS
    'Worker availability and the message backlog now (one row, from hublink.worker_status; '
    'the error text is left out).';
COMMENT ON COLUMN hublink.mi_worker.needs_attention IS 'Errors received for our messages not yet cleared (hublink.needs_attention).';
-- hublink.mi_report_html, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.mi_report_html(months integer DEFAULT 24, last_month date DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    AS $$
DECLARE
    tz          text := (SELECT c.time_zone FROM hublink.mi_reporting_settings c);
    since       date;
    until       date;
    month_list  date[];
    report_currency char(3);
    volume      jsonb;
    sla         jsonb;
    money       jsonb;
    e2e         jsonb;
    html        text;
BEGIN
    IF months IS NULL OR months < 1 THEN
        RAISE EXCEPTION 'months must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The report was asked for %s months.', coalesce(months::text, 'NULL')),
                  HINT = 'Give the number of months the charts and tables cover, e.g. 24.';
    END IF;
    until := date_trunc('month', coalesce(last_month, (now() AT TIME ZONE tz)::date))::date;
    since := (until - make_interval(months => months - 1))::date;
    month_list := ARRAY(SELECT generate_series(since, until, interval '1 month')::date);

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(m, 'YYYY-MM') ORDER BY m) FROM unnest(month_list) m),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Removal requests', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removal_requests'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Travel bookings', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'bookings' AND v.booking = 'travel'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Completed removals', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removals_completed'), 0) ORDER BY m)
                          FROM unnest(month_list) m))))
      INTO volume;

    SELECT jsonb_build_object(
               'labels', coalesce(jsonb_agg(s.request_type ORDER BY s.request_type), '[]'),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.median_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', '95th percentile (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.p95_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', 'Target (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.target_seconds / 3600, 2) ORDER BY s.request_type), '[]'))))
      INTO sla
      FROM hublink.mi_sla_compliance s
     WHERE s.month IS NULL;

    SELECT m.currency INTO report_currency
      FROM hublink.mi_money m WHERE m.month BETWEEN since AND until
     GROUP BY m.currency ORDER BY sum(m.ticket_spend) DESC, m.currency LIMIT 1;
    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Ticket spend', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.ticket_spend FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Refunds owed', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.refunds_owed FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Lost to non-refundable fares', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.lost_non_refundable FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO money;

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median hours to booked', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_booked FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Median hours to departure', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_departure FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO e2e;

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<title>Removals Hub: management information</title>'
        || '<style>body{font:13px sans-serif;margin:24px;color:#111;background:#fff}'
        || 'h1{font-size:20px}h2{font-size:16px;margin-top:28px}'
        || 'table{border-collapse:collapse;margin:8px 0 16px}caption{text-align:left;font-weight:bold;padding:4px 0}'
        || 'th,td{border:1px solid #999;padding:2px 5px;text-align:right;font-size:11px}th{background:#eee}td.null{background:#f6f6f6}'
        || 'svg{display:block;margin:8px 0;page-break-inside:avoid}'
        || '@media print{body{margin:0}h2{page-break-before:auto}}</style></head><body>' || E'\n'
        || '<h1>Removals Hub: management information</h1>' || E'\n'
        || '<p>Generated ' || hublink.html_escape(to_char(now() AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI'))
        || ' (' || hublink.html_escape(tz) || '), covering the ' || months || ' months from '
        || hublink.html_escape(to_char(since, 'YYYY-MM')) || ' to ' || hublink.html_escape(to_char(until, 'YYYY-MM'))
        || '. No personal data. Definitions: docs/mi.md.</p>' || E'\n'
        || '<h2>Volumes</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-volume', 'Removals per month', 'bar', volume) || E'\n'
        || '<h2>Response times against the SLA (Appendix D)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-sla', 'Response time by request, whole history', 'bar', sla, 'h') || E'\n'
        || hublink.mi_html_table('SLA compliance, whole history',
               'SELECT request_type, provider, target_seconds, requests, answered, unanswered, median_response_seconds, '
               || 'p95_response_seconds, breaches, within_target_percent FROM hublink.mi_sla_compliance '
               || 'WHERE month IS NULL ORDER BY request_type')
        || '<h2>End-to-end times (GSO 8)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-end-to-end', 'Request to booked and to departure (hours)', 'line', e2e, 'h') || E'\n'
        || hublink.mi_html_table('End-to-end times per month of request',
               format('SELECT * FROM hublink.mi_end_to_end WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Money</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-money', 'Money per month (' || coalesce(report_currency, 'no spend') || ')', 'bar', money) || E'\n'
        || hublink.mi_html_table('Money per month and currency',
               format('SELECT * FROM hublink.mi_money WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || hublink.mi_html_table('Best value against cheapest fare',
               format('SELECT * FROM hublink.mi_best_value WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || '<h2>Outcomes and escorting</h2>' || E'\n'
        || hublink.mi_html_table('Removals that ended',
               format('SELECT * FROM hublink.mi_removal_outcome WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || hublink.mi_html_table('Escorting',
               format('SELECT * FROM hublink.mi_escorting WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Service now</h2>' || E'\n'
        || hublink.mi_html_table('Worker', 'SELECT party, state, connected, outbox_backlog, oldest_unsent_seconds, retrying, needs_attention FROM hublink.mi_worker')
        || hublink.mi_html_table('Backlog per queue', 'SELECT * FROM hublink.mi_message_backlog ORDER BY queue')
        || '</body></html>' || E'\n';
    RETURN html;
END;
$$;
COMMENT ON FUNCTION hublink.mi_report_html(integer, date) IS
    'The printable management-information report: one HTML document with SVG charts drawn '
    'here (volumes, SLA response times, end-to-end times, money) and the tables of the MI '
    'views over months months ending with the month of last_month (default: this month). Open it in a browser; print it to PDF from there '
    '(Schedule R SEC 019 c). scripts/mi-report writes it to a file.';

-- sql/parts/36_broker_contract.sql is wholly new in 0.2.0 (the broker users, the routes, the
-- broker's definitions, the worker's alerts, the Errors that need attention): copied verbatim.
-- sql/parts/36_broker_contract.sql, verbatim (a part wholly new in this version)
-- The broker contract (issue 12 section 2, issue 14 sections 2 and 3; docs/worker.md "Who may
-- do what on the broker", "Errors read by their sender", "Nothing dropped in silence").
--
-- Which broker user speaks for which party is a row here; the worker compares each delivery's
-- AMQP user_id (which RabbitMQ checks against the connection's login) with the envelope's
-- sender. The broker's permissions, exchanges and bindings are derived from
-- hublink.message_type by hublink.broker_definitions(), which scripts/broker-permissions
-- applies. An Error a party receives on the error queue of a queue it sends on is matched to
-- its outbox row and kept as a hublink.error_report until a person clears it.

CREATE TABLE hublink.broker_identity (
    broker_user text PRIMARY KEY CHECK (broker_user <> '' AND broker_user !~ '[[:cntrl:]]'),
    party       text NOT NULL REFERENCES hublink.party,
    description text
);
COMMENT ON TABLE hublink.broker_identity IS
    'The broker users (the user name RabbitMQ validated: the certificate''s CN, or the password '
    'login) and the party each speaks for. The worker rejects a message whose AMQP user_id is '
    'missing, unknown here, or mapped to another party than the envelope''s sender; '
    'hublink.broker_definitions grants each user its party''s permissions.';
COMMENT ON COLUMN hublink.broker_identity.broker_user IS
    'User name as the broker knows it (with ssl_cert_login_from = common_name, the client '
    'certificate''s CN).';
COMMENT ON COLUMN hublink.broker_identity.party IS 'The party whose messages this user may send.';
COMMENT ON COLUMN hublink.broker_identity.description IS 'Whose login it is, for the operator.';

-- The users of the local stack (scripts/stack: certificates CN=hub, tsp, esp). A real
-- deployment replaces these rows with its own users (docs/worker.md).
INSERT INTO hublink.broker_identity VALUES
    ('hub', 'hub', 'The Home Office Hub''s certificate (CN=hub) on the local test stack.'),
    ('tsp', 'tsp', 'The travel provider''s certificate (CN=tsp) on the local test stack.'),
    ('esp', 'esp', 'The escort provider''s certificate (CN=esp) on the local test stack.');

-- RabbitMQ permissions are regular expressions on resource names: quote every character that
-- is not a letter, digit, '_' or '-', so a name matches only itself.
CREATE FUNCTION hublink.broker_name_pattern(p_names text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN cardinality(p_names) = 0 THEN '^$'
                ELSE '^(' || (SELECT string_agg(regexp_replace(n, '([^A-Za-z0-9_-])', '\\\1', 'g'), '|' ORDER BY n)
                                FROM unnest(p_names) n) || ')$' END;
COMMENT ON FUNCTION hublink.broker_name_pattern(text[]) IS
    'An anchored RabbitMQ permission pattern matching exactly the given names (''^$'' for none).';

-- Who reaches which queue, from the queue table: the sender of a queue's messages publishes
-- them through its exchange and reads the queue's error queue; the consumer reads the queue
-- and publishes its Error messages to the error queue through its own exchange.
CREATE VIEW hublink.broker_route AS
SELECT t.sender_party AS party, p.exchange, t.queue, 'send'::text AS role, t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.sender_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, p.exchange, t.queue || '-error', 'report', t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.receiver_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, NULL, t.queue, 'consume', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.sender_party, NULL, t.queue || '-error', 'read errors', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL;
COMMENT ON VIEW hublink.broker_route IS
    'Every queue a party reaches on the broker, derived from hublink.message_type: "send" and '
    '"report" (an Error to the error queue of a queue it consumes) are writes through the '
    'party''s exchange, "consume" and "read errors" (the error queue of a queue it sends on) are '
    'reads. The worker and hublink.broker_definitions use the same rows.';
COMMENT ON COLUMN hublink.broker_route.party IS 'The party.';
COMMENT ON COLUMN hublink.broker_route.exchange IS 'The party''s exchange for writes; NULL for reads.';
COMMENT ON COLUMN hublink.broker_route.queue IS 'The queue (an error queue ends in -error).';
COMMENT ON COLUMN hublink.broker_route.role IS 'send, report, consume or read errors.';
COMMENT ON COLUMN hublink.broker_route.message_type IS 'The message type of the queue (or of the failed messages an error queue reports on).';

CREATE FUNCTION hublink.broker_definitions(p_vhost text DEFAULT '/') RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (
    SELECT jsonb_build_object(
        'exchanges', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'name', p.exchange, 'vhost', p_vhost, 'type', 'direct', 'durable', true,
                          'auto_delete', false, 'internal', false, 'arguments', '{}'::jsonb) ORDER BY p.exchange), '[]')
                        FROM hublink.party p),
        'queues', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'name', q.queue, 'vhost', p_vhost, 'durable', true, 'auto_delete', false,
                       'arguments', '{}'::jsonb) ORDER BY q.queue), '[]')
                     FROM (SELECT DISTINCT r.queue FROM hublink.broker_route r) q),
        'bindings', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'source', r.exchange, 'vhost', p_vhost, 'destination', r.queue,
                         'destination_type', 'queue', 'routing_key', r.queue, 'arguments', '{}'::jsonb)
                         ORDER BY r.exchange, r.queue), '[]')
                       FROM hublink.broker_route r WHERE r.exchange IS NOT NULL),
        'permissions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'user', i.broker_user, 'vhost', p_vhost,
                            'configure', '^$',
                            'write', hublink.broker_name_pattern(ARRAY[p.exchange]),
                            'read', hublink.broker_name_pattern(ARRAY(
                                SELECT DISTINCT r.queue FROM hublink.broker_route r
                                 WHERE r.party = i.party AND r.exchange IS NULL)))
                            ORDER BY i.broker_user), '[]')
                          FROM hublink.broker_identity i JOIN hublink.party p ON p.party = i.party),
        -- The exchanges are direct: topic permissions do not apply to them. An empty pattern
        -- on amq.topic keeps every party off the one topic exchange a vhost always has.
        'topic_permissions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'user', i.broker_user, 'vhost', p_vhost, 'exchange', 'amq.topic',
                                  'write', '^$', 'read', '^$') ORDER BY i.broker_user), '[]')
                                FROM hublink.broker_identity i)));
COMMENT ON FUNCTION hublink.broker_definitions(text) IS
    'The broker''s side of the contract as a RabbitMQ definitions document (rabbitmqctl '
    'import_definitions, or POST /api/definitions): one direct exchange per party, the durable '
    'queues and error queues, a binding from each party''s exchange to each queue it writes '
    '(hublink.broker_route), and per broker user (hublink.broker_identity) configure nothing, '
    'write only its party''s exchange, read only the queues it consumes and the error queues of '
    'the queues it sends on. scripts/broker-permissions applies it.';

-- The worker's only way to raise an alert: kinds whose source is the worker.
CREATE FUNCTION hublink.worker_alert(p_kind text, p_subject text, p_detail jsonb DEFAULT '{}',
                                     p_removal_reference text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.alert_kind k WHERE k.kind = p_kind AND k.source = 'worker') THEN
        RAISE EXCEPTION 'alert kind "%" is not raised by the worker', p_kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'hublink.worker_alert raises only the kinds of hublink.alert_kind whose source is worker.';
    END IF;
    RETURN hublink.raise_alert(p_kind, p_subject,
                               (SELECT r.removal_id FROM hublink.removal r
                                 WHERE r.removal_reference = p_removal_reference),
                               coalesce(p_detail, '{}'));
END;
$$;
COMMENT ON FUNCTION hublink.worker_alert(text, text, jsonb, text) IS
    'Raises an alert of a kind whose source is the worker (hublink.alert_kind), naming the removal '
    'by its reference when this database has it. For the worker role, which may not raise other '
    'kinds.';
REVOKE ALL ON FUNCTION hublink.worker_alert(text, text, jsonb, text) FROM PUBLIC;

-- Whether the person behind the call may see an Error naming this removal reference: one naming
-- none, or a removal within its clearance (hublink.removal_access_allowed, 90_access.sql, run
-- when called). SECURITY DEFINER: the view below runs it as its reader, and an admin may not
-- read hublink.removal itself. It answers yes or no for a reference the caller names, as the
-- caller's own reads would.
CREATE FUNCTION hublink.error_report_visible(p_removal_reference text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN p_removal_reference IS NULL
        OR coalesce(hublink.removal_access_allowed((SELECT r.removal_id FROM hublink.removal r
                                                     WHERE r.removal_reference = p_removal_reference)), false);
END;
$$;
COMMENT ON FUNCTION hublink.error_report_visible(text) IS
    'True when the login (hublink.acting_login()) may see an Error naming this removal reference: '
    'it names none, or a removal the login is cleared for (the owner, superusers and the worker see '
    'all). For hublink.needs_attention.';
REVOKE ALL ON FUNCTION hublink.error_report_visible(text) FROM PUBLIC;

-- With the owner's rights (an admin clears Errors and reads no removal data), so it filters
-- itself (the attacker pass of 0.2.0: a caseworker or admin of low clearance read the Errors of
-- a restricted removal here).
CREATE VIEW hublink.needs_attention AS
SELECT r.id AS report_id, r.received_at, r.reported_by, r.queue, r.removal_reference,
       r.failed_message_id, r.failed_message_type, r.outbox_id, o.sent_at,
       NOT r.matched AS unmatched, r.problem_count, r.problem_locations
  FROM hublink.error_report r
  LEFT JOIN hublink.outbox o ON o.id = r.outbox_id
 WHERE r.cleared_at IS NULL AND hublink.error_report_visible(r.removal_reference);
COMMENT ON VIEW hublink.needs_attention IS
    'The cases that need a person: each Error received and not yet cleared, with the outbox row '
    'it names (unmatched when it names no message of ours). Each login sees the Errors of the '
    'removals it is cleared for (hublink.error_report_visible) and those naming no removal; the owner, superusers and the worker see every one. '
    'Clear one with hublink.clear_attention.';
COMMENT ON COLUMN hublink.needs_attention.report_id IS 'hublink.error_report.id.';
COMMENT ON COLUMN hublink.needs_attention.received_at IS 'When the Error arrived.';
COMMENT ON COLUMN hublink.needs_attention.reported_by IS 'The party that rejected our message.';
COMMENT ON COLUMN hublink.needs_attention.queue IS 'The queue our message was rejected on.';
COMMENT ON COLUMN hublink.needs_attention.removal_reference IS 'The removal reference, when the Error had one.';
COMMENT ON COLUMN hublink.needs_attention.failed_message_id IS 'Our messageId the Error names.';
COMMENT ON COLUMN hublink.needs_attention.failed_message_type IS 'Its type, as the Error says.';
COMMENT ON COLUMN hublink.needs_attention.outbox_id IS 'Our outbox row; NULL when unmatched or purged by retention.';
COMMENT ON COLUMN hublink.needs_attention.sent_at IS 'When that row was confirmed by the broker.';
COMMENT ON COLUMN hublink.needs_attention.unmatched IS 'True when the Error names no message we sent on that queue.';
COMMENT ON COLUMN hublink.needs_attention.problem_count IS 'How many problems.';
COMMENT ON COLUMN hublink.needs_attention.problem_locations IS 'Where they are (JSON pointers and codes, no texts).';

-- The handler of Error messages (hublink.message_handler row 'Error'): the worker calls it for
-- an Error consumed from the error queue of a queue this party sends on, after checking that
-- its broker user is the party that consumes that queue and storing it in the inbox.
CREATE FUNCTION hublink.receive_error(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b         jsonb := message -> 'body';
    v_outbox  hublink.outbox;
    v_report  bigint;
    v_party   text := (SELECT p.party FROM hublink.party p WHERE p.sender_code = message ->> 'sender');
BEGIN
    SELECT * INTO v_outbox FROM hublink.outbox o
     WHERE o.message_id = b ->> 'failedMessageId' AND o.queue = b ->> 'queue';
    INSERT INTO hublink.error_report (error_message_id, reported_by, queue, failed_message_id,
                                      failed_message_type, removal_reference, outbox_id, matched,
                                      problem_count, problem_locations)
    VALUES (message ->> 'messageId', v_party, b ->> 'queue', b ->> 'failedMessageId',
            b ->> 'failedMessageType', message ->> 'removalId', v_outbox.id, v_outbox.id IS NOT NULL,
            jsonb_array_length(b -> 'problems'),
            (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'instanceLocation', p -> 'instanceLocation',
                        'keywordLocation', p -> 'keywordLocation', 'code', p -> 'code')) ORDER BY n), '[]')
               FROM jsonb_array_elements(b -> 'problems') WITH ORDINALITY e(p, n)))
    ON CONFLICT (error_message_id) DO NOTHING
    RETURNING id INTO v_report;
    IF v_report IS NULL THEN
        RETURN;
    END IF;
    IF v_outbox.id IS NOT NULL THEN
        PERFORM hublink.worker_alert('error_received',
            format('%s rejected our %s %s on queue %s (%s problem(s)): the case needs attention',
                   upper(v_party), v_outbox.message_type, v_outbox.message_id, v_outbox.queue,
                   jsonb_array_length(b -> 'problems')),
            jsonb_build_object('report_id', v_report, 'outbox_id', v_outbox.id,
                               'message_id', v_outbox.message_id, 'queue', v_outbox.queue,
                               'removal_reference', message ->> 'removalId'),
            message ->> 'removalId');
    ELSE
        PERFORM hublink.worker_alert('error_unmatched',
            format('%s sent an Error on %s-error naming %s, which is no message we sent there',
                   upper(v_party), b ->> 'queue', coalesce(b ->> 'failedMessageId', 'no message')),
            jsonb_build_object('report_id', v_report, 'failed_message_id', b ->> 'failedMessageId',
                               'queue', b ->> 'queue', 'error_message_id', message ->> 'messageId'),
            message ->> 'removalId');
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.receive_error(jsonb) IS
    'The handler of Error messages read from the error queues of the queues this party sends on: '
    'matches the Error to our outbox row by the failed messageId and queue, records a '
    'hublink.error_report (the case then shows in hublink.needs_attention and worker_status) and '
    'raises an alert; an Error naming no message of ours is kept and alerted too.';
REVOKE ALL ON FUNCTION hublink.receive_error(jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.clear_attention(p_report_id bigint, p_note text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF coalesce(btrim(p_note), '') = '' THEN
        RAISE EXCEPTION 'a note is required to clear an error report'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say what was done, e.g. ''sent again as message ...''.';
    END IF;
    UPDATE hublink.error_report
       SET cleared_at = clock_timestamp(), cleared_by = session_user, clear_note = p_note
     WHERE id = p_report_id AND cleared_at IS NULL
       -- only one the caller sees (a removal it is cleared for, or none): a hidden report is
       -- refused like a missing one
       AND id IN (SELECT a.report_id FROM hublink.needs_attention a);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no open error report %', p_report_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT report_id FROM hublink.needs_attention lists the open ones.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.clear_attention(bigint, text) IS
    'Marks an error report as dealt with, by the session user, with a note saying what was done. '
    'Only a report the caller sees in hublink.needs_attention (its removal within the caller''s '
    'clearance, or none); any other is refused as not open.';
REVOKE ALL ON FUNCTION hublink.clear_attention(bigint, text) FROM PUBLIC;

-- end of sql/parts/36_broker_contract.sql
-- Also new in 0.2.0, and part of the broker contract, but kept with every other change of an
-- inbox row in 38_inbox_state.sql (issue 15 section 2): by definition, not by include.
-- hublink.inbox_duplicate, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_duplicate(p_queue text, p_message jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prior   record;
    v_text  text;
BEGIN
    SELECT i.id, i.queue, i.status, i.processed_at,
           hublink.open_message(i.message, i.key_scope, i.sealed_body) AS document
      INTO prior
      FROM hublink.inbox i WHERE i.message_id = p_message ->> 'messageId';
    IF NOT FOUND OR (prior.queue = p_queue AND prior.document = p_message) THEN
        RETURN true;
    END IF;
    v_text := CASE
        WHEN prior.queue <> p_queue THEN
            format('messageId %s was already used on queue %s at %s (%s); every message needs a '
                   'messageId of its own: send this one again with a new messageId',
                   p_message ->> 'messageId', prior.queue,
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), prior.status)
        WHEN prior.status = 'rejected' THEN
            format('messageId %s was rejected at %s and is not processed again; send the corrected '
                   'message with a new messageId',
                   p_message ->> 'messageId',
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        ELSE
            format('messageId %s was already received at %s (%s) with other content; a changed '
                   'message needs a new messageId',
                   p_message ->> 'messageId',
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), prior.status)
        END;
    PERFORM hublink.enqueue_error(p_queue, p_message, jsonb_build_array(jsonb_build_object(
        'instanceLocation', '/messageId', 'keywordLocation', '', 'error', v_text, 'code', 'DUPLICATE')));
    PERFORM hublink.worker_alert('message_id_reused',
        format('messageId %s reused on queue %s (first seen on %s, %s): answered with an Error',
               p_message ->> 'messageId', p_queue, prior.queue, prior.status),
        jsonb_build_object('message_id', p_message ->> 'messageId', 'queue', p_queue,
                           'first_queue', prior.queue, 'first_status', prior.status,
                           'first_inbox_id', prior.id));
    RETURN false;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_duplicate(text, jsonb) IS
    'For a delivery whose messageId is already in the inbox: true when it is the same message on '
    'the same queue (a redelivery, no effect); otherwise writes an Error saying what happened and '
    'what to do (a new messageId), raises message_id_reused and returns false. Used by the worker.';
-- hublink.inbox_reject_retrying, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_reject_retrying(p_inbox_id bigint, p_problems jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.inbox;
BEGIN
    UPDATE hublink.inbox i
       SET status = 'rejected', attempts = i.attempts + 1, next_attempt_at = NULL,
           processed_at = now(), problems = p_problems
     WHERE i.id = p_inbox_id AND i.status = 'retrying'
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM hublink.enqueue_error(r.queue, r.message, p_problems);
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) IS
    'Rejects a retrying inbox message at once with the given problems and writes its Error '
    'message: its handler failed in a way that will fail every attempt. False when the row is '
    'not retrying. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_duplicate(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) FROM PUBLIC;
-- hublink.enqueue_error, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.enqueue_error(queue text, failed jsonb, problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id          text := gen_random_uuid()::text;
    version     text;
    schema      jsonb;
    max_items   int;
    max_length  int;
    body        jsonb;
    document    jsonb;
    problem     jsonb;
BEGIN
    -- An Error is never answered with an Error (nobody reads <queue>-error-error, and two
    -- parties could bounce Errors for ever): the bad Error stays rejected in the inbox and a
    -- person is told.
    IF EXISTS (SELECT FROM hublink.message_type t WHERE t.queue || '-error' = enqueue_error.queue) THEN
        PERFORM hublink.worker_alert('error_not_processable',
            format('a message on error queue %s could not be processed (%s problem(s)); no Error is sent back for it',
                   queue, jsonb_array_length(problems)),
            jsonb_build_object('queue', queue, 'message_id', failed ->> 'messageId',
                               'problem_locations', (SELECT jsonb_agg(p -> 'instanceLocation')
                                                       FROM jsonb_array_elements(problems) p)));
        RETURN NULL;
    END IF;
    SELECT s.schema_version, s.schema INTO version, schema
      FROM hublink.message_schema s
     WHERE s.message_type = 'Error' AND s.active
     ORDER BY string_to_array(s.schema_version, '.')::int[] DESC
     LIMIT 1;
    max_items := coalesce((schema #>> '{properties,body,properties,problems,maxItems}')::int, 100);
    max_length := coalesce((schema #>> '{properties,body,properties,problems,items,properties,error,maxLength}')::int, 1000);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'instanceLocation', coalesce(p ->> 'instanceLocation', ''),
               'keywordLocation', coalesce(p ->> 'keywordLocation', ''),
               'error', left(coalesce(nullif(p ->> 'error', ''), 'unknown problem'), max_length))
               -- the problem class (FORBIDDEN_SENDER, DUPLICATE...), when it is a valid code
               || CASE WHEN p ->> 'code' ~ '^[A-Z][A-Z0-9_]{1,39}$' THEN jsonb_build_object('code', p -> 'code')
                       ELSE '{}' END
               ORDER BY n), '[]')
      INTO problems
      FROM jsonb_array_elements(problems) WITH ORDINALITY AS e(p, n)
     WHERE n <= max_items;
    IF jsonb_array_length(problems) = 0 THEN
        problems := jsonb_build_array(jsonb_build_object(
            'instanceLocation', '', 'keywordLocation', '', 'error', 'the message could not be processed'));
    END IF;
    body := jsonb_build_object('queue', queue, 'problems', problems);
    IF jsonb_typeof(failed -> 'messageId') = 'string' THEN
        body := body || jsonb_build_object('failedMessageId', failed -> 'messageId');
    END IF;
    IF jsonb_typeof(failed -> 'messageType') = 'string' THEN
        body := body || jsonb_build_object('failedMessageType', failed -> 'messageType');
    END IF;
    IF jsonb_typeof(failed -> 'sentAt') = 'string' THEN
        body := body || jsonb_build_object('failedSentAt', failed -> 'sentAt');
    END IF;
    document := jsonb_build_object(
        'messageId', id,
        'messageType', 'Error',
        'schemaVersion', coalesce(version, '1.0'),
        'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
        'sender', (SELECT p.sender_code FROM hublink.party p
                    WHERE p.party = current_setting('hublink.party', true)),
        'body', body);
    IF jsonb_typeof(failed -> 'removalId') = 'string' THEN
        document := document || jsonb_build_object('removalId', failed -> 'removalId');
    END IF;
    -- Drop the copied values the Error schema does not accept (a malformed messageId, say).
    IF version IS NOT NULL THEN
        FOR problem IN SELECT * FROM jsonb_array_elements(hublink.validate_message(document)) LOOP
            CASE problem ->> 'instanceLocation'
                WHEN '/removalId' THEN document := document - 'removalId';
                WHEN '/body/failedMessageId' THEN document := document #- '{body,failedMessageId}';
                WHEN '/body/failedMessageType' THEN document := document #- '{body,failedMessageType}';
                WHEN '/body/failedSentAt' THEN document := document #- '{body,failedSentAt}';
                ELSE NULL;
            END CASE;
        END LOOP;
    END IF;
    INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message)
    VALUES (id, 'Error', queue || '-error', document ->> 'removalId', document);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.enqueue_error(text, jsonb, jsonb) IS
    'Writes the Error message for a message from queue that cannot be processed to the outbox, '
    'for queue-error: a new messageId, the failed messageId, type, sentAt and removalId where '
    'readable, the time, the queue and the problems. Used by the worker. A message from an error '
    'queue is never answered with an Error: it raises error_not_processable instead (returns NULL).';

-- Integers read from messages through one helper (issue 14 section 3): a part new in 0.2.0.
-- sql/parts/12_json_integer.sql, verbatim (a part wholly new in this version)
-- Integers from messages (issue 14 section 3): JSON Schema counts 1.0, -0.0, 1e2 and even
-- 1.0e-400 (which a double rounds to 0) as integers, and the validator accepts them where a
-- schema says "integer". A handler that read them with (x ->> 'k')::int would fail on the text
-- "1.0" after the message was accepted. Every handler reads an integer through this one helper,
-- which reads exactly what the validator accepted.

CREATE FUNCTION hublink.json_integer(v jsonb) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n numeric;
    d double precision;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'number' THEN
        RAISE EXCEPTION 'expected an integer, got a JSON %', jsonb_typeof(v)
            USING ERRCODE = 'invalid_text_representation';
    END IF;
    n := v::numeric;
    IF n = trunc(n) THEN
        RETURN n::bigint; -- numeric_value_out_of_range beyond bigint
    END IF;
    -- Not integral as a decimal: the validator reads JSON numbers as doubles, so a value a
    -- double rounds to an integer (1.0e-400 is 0) is an integer to it, and must be to us.
    BEGIN
        d := n::double precision;
    EXCEPTION WHEN numeric_value_out_of_range THEN
        d := 0; -- too small for a double: it rounds to zero
    END;
    IF d = trunc(d) THEN
        RETURN d::bigint;
    END IF;
    RAISE EXCEPTION 'expected an integer, got %', v::text
        USING ERRCODE = 'invalid_text_representation';
END;
$$;
COMMENT ON FUNCTION hublink.json_integer(jsonb) IS
    'A JSON integer as every spelling JSON Schema accepts (1, 1.0, -0.0, 1e2, 1.0e-400), for the '
    'handlers: NULL for a missing value or JSON null; invalid_text_representation for a value that '
    'is not an integer, numeric_value_out_of_range beyond bigint.';
-- end of sql/parts/12_json_integer.sql
-- hublink.record_returnees, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.record_returnees(removal_id bigint, returnees jsonb, audience text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    x   jsonb;
    pd  jsonb;
    ra  jsonb;
    rid bigint;
    doc jsonb;
BEGIN
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        pd := x -> 'personalDetails';
        ra := coalesce(x -> 'escortRiskAssessment', x -> 'travelRiskAssessment');
        SELECT t.returnee_id INTO rid FROM hublink.returnee t
         WHERE t.removal_id = record_returnees.removal_id
           AND t.ho_returnee_reference = pd ->> 'hoReturneeReference';
        IF NOT FOUND THEN
            INSERT INTO hublink.returnee (removal_id, ho_returnee_reference, location)
            VALUES (removal_id, pd ->> 'hoReturneeReference', x -> 'location')
            RETURNING returnee_id INTO rid;
            -- The fields hublink.returnee_details_json writes.
            INSERT INTO hublink.returnee_personal (returnee_id, title, given_names, family_name,
                                                   date_of_birth, nationality, gender, conditions)
            VALUES (rid, pd #>> '{name,title}', pd #>> '{name,givenNames}', pd #>> '{name,familyName}',
                    (pd ->> 'dateOfBirth')::date, pd ->> 'nationality', pd ->> 'gender',
                    coalesce(pd -> 'conditions', '[]'));
        ELSIF audience <> 'hub' THEN
            UPDATE hublink.returnee t SET location = x -> 'location' WHERE t.returnee_id = rid;
        END IF;
        IF audience = 'hub' THEN
            CONTINUE; -- the Hub keeps its own full assessment; what it sent is in the outbox
        END IF;
        IF x ? 'travelDocuments' THEN
            DELETE FROM hublink.travel_document d WHERE d.returnee_id = rid;
            FOR doc IN SELECT * FROM jsonb_array_elements(x -> 'travelDocuments') LOOP
                INSERT INTO hublink.travel_document (returnee_id, document_type, document_number,
                                                     issuing_country, expiry_date)
                VALUES (rid, doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry',
                        (doc ->> 'expiryDate')::date);
            END LOOP;
        END IF;
        IF ra IS NOT NULL THEN
            UPDATE hublink.risk_assessment a SET current = false
             WHERE a.returnee_id = rid AND a.audience = record_returnees.audience AND a.current;
            INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required, notes)
            VALUES (rid, audience, ARRAY(SELECT jsonb_array_elements_text(ra -> 'flags')),
                    hublink.json_integer(ra -> 'escortsRequired')::int, ra ->> 'notes');
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_returnees(bigint, jsonb, text) IS
    'Records the returnees of a quote request at the party that receives it (audience esp or '
    'tsp): personal details, travel documents and the risk assessment it was given; a re-quote '
    'replaces the assessment and location. At the Hub (audience hub) it only adds returnees it '
    'does not know.';
-- hublink.record_escorts, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.record_escorts(removal_id bigint, escorts jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e   jsonb;
    pid bigint;
    api jsonb;
BEGIN
    FOR e IN SELECT * FROM jsonb_array_elements(coalesce(escorts, '[]')) LOOP
        api := coalesce(e -> 'advancePassengerInfo', '{}');
        INSERT INTO hublink.escort_person AS p (removal_id, escort_id, escort_number, special_meal)
        VALUES (removal_id, e ->> 'escortId', hublink.json_integer(e -> 'escortNumber')::int, e ->> 'specialMeal')
        ON CONFLICT ON CONSTRAINT escort_person_removal_id_escort_id_key DO UPDATE
           SET escort_number = coalesce(EXCLUDED.escort_number, p.escort_number),
               special_meal = coalesce(EXCLUDED.special_meal, p.special_meal), active = true
        RETURNING escort_person_id INTO pid;
        INSERT INTO hublink.escort_personal AS q (escort_person_id, title, given_names, family_name,
                                                  date_of_birth, nationality, gender, document_type,
                                                  document_number, document_issuing_country,
                                                  document_expiry_date)
        VALUES (pid, e #>> '{name,title}', e #>> '{name,givenNames}', e #>> '{name,familyName}',
                (api ->> 'dateOfBirth')::date, api ->> 'nationality', api ->> 'gender',
                api #>> '{travelDocument,type}', api #>> '{travelDocument,number}',
                api #>> '{travelDocument,issuingCountry}', (api #>> '{travelDocument,expiryDate}')::date)
        -- The details are sealed (74_crypto_seal.sql): EXCLUDED holds them encrypted, and the
        -- seal trigger merges them into the stored ones, the values given replacing the old.
        ON CONFLICT (escort_person_id) DO UPDATE
           SET key_scope = EXCLUDED.key_scope, sealed = EXCLUDED.sealed;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_escorts(bigint, jsonb) IS
    'Records named escorts and their advance passenger information; later details of the same '
    'escortId complete or replace earlier ones.';
-- hublink.record_message_rows, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.record_message_rows(removal_id bigint, message jsonb, direction text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    b       jsonb := message -> 'body';
    mid     text := message ->> 'messageId';
    rid     bigint := removal_id;
    resp_id bigint;
    q_id    bigint;
    x       jsonb;
    y       jsonb;
    i       int;
    bad     boolean;
    st      hublink.removal;
BEGIN
    SELECT * INTO st FROM hublink.removal r WHERE r.removal_id = rid;
    CASE message ->> 'messageType'
    WHEN 'EscortQuoteRequest', 'TravelQuoteRequest' THEN
        IF party <> 'hub' THEN
            UPDATE hublink.removal r
               SET international = coalesce((b ->> 'international')::boolean, r.international),
                   escort_on_transport = coalesce((b ->> 'escortOnTransport')::boolean, r.escort_on_transport),
                   earliest_leave_date = coalesce((b #>> '{dates,earliestLeaveDate}')::date, r.earliest_leave_date),
                   latest_leave_date = coalesce((b #>> '{dates,latestLeaveDate}')::date, r.latest_leave_date),
                   exclusion_dates = coalesce(ARRAY(SELECT jsonb_array_elements_text(b #> '{dates,exclusionDates}'))::date[],
                                              r.exclusion_dates),
                   destination = coalesce(b -> 'destination', r.destination),
                   constraints = coalesce(b -> 'constraints', r.constraints),
                   notes = coalesce(b ->> 'notes', r.notes)
             WHERE r.removal_id = rid;
        END IF;
        PERFORM hublink.record_returnees(rid, b -> 'returnees', party);
        IF message ->> 'messageType' = 'EscortQuoteRequest' THEN
            UPDATE hublink.escort_quote q SET superseded = true WHERE q.removal_id = rid;
        ELSE
            UPDATE hublink.travel_quote q SET superseded = true WHERE q.removal_id = rid;
        END IF;

    WHEN 'EscortQuoteResponse' THEN
        INSERT INTO hublink.escort_quote_response (removal_id, message_id, notes)
        VALUES (rid, mid, b ->> 'notes') RETURNING escort_quote_response_id INTO resp_id;
        INSERT INTO hublink.escort_position
        SELECT resp_id, hublink.json_integer(p -> 'escortNumber')::int, p ->> 'role', p ->> 'gender', p ->> 'physique',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'languages', '[]'))),
               coalesce((p ->> 'medic')::boolean, false)
          FROM jsonb_array_elements(b -> 'escortPositions') p;
        UPDATE hublink.escort_segment s SET current = false WHERE s.removal_id = rid;
        INSERT INTO hublink.escort_segment (escort_quote_response_id, removal_id, segment_id,
                                            start_point, finish_point, transport_type, returnee_present)
        SELECT resp_id, rid, s ->> 'segmentId', s -> 'startPoint', s -> 'finishPoint',
               s ->> 'transportType', (s ->> 'returneePresent')::boolean
          FROM jsonb_array_elements(b -> 'segments') s;
        INSERT INTO hublink.escort_effort
        SELECT resp_id, e ->> 'segmentId', hublink.json_integer(e -> 'escortNumber')::int, hublink.money(e -> 'cost'),
               e #>> '{cost,currency}', hublink.json_integer(e -> 'durationMinutes')::int
          FROM jsonb_array_elements(b -> 'effort') e;
        FOR i IN 0 .. jsonb_array_length(b -> 'quotes') - 1 LOOP
            x := b -> 'quotes' -> i;
            PERFORM hublink.require_new_quote(rid, 'escort', x ->> 'escortQuoteReference',
                                              format('/body/quotes/%s/escortQuoteReference', i));
            INSERT INTO hublink.escort_quote (escort_quote_response_id, removal_id, escort_quote_reference,
                                              escort_date, total_amount, currency, notes)
            VALUES (resp_id, rid, x ->> 'escortQuoteReference', (x ->> 'escortDate')::date,
                    hublink.money(x -> 'totalCost'), x #>> '{totalCost,currency}', x ->> 'notes');
        END LOOP;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
        END IF;

    WHEN 'TravelQuoteResponse' THEN
        INSERT INTO hublink.travel_quote_response (removal_id, message_id, no_quote_reason_code,
                                                   no_quote_reason_text)
        VALUES (rid, mid, b #>> '{noQuoteReason,code}', b #>> '{noQuoteReason,text}')
        RETURNING travel_quote_response_id INTO resp_id;
        -- The checks first, the first bad quote in array order named as before: a reference
        -- issued already or repeated within the response, then an escort quote the Hub never
        -- received. Then the quotes, their costs and their segments in ONE statement: the
        -- quote_expiry trigger ranks the removal's quotes once per statement
        -- (hublink.timer_on_travel_quote), after the statement, so it sees every quote of the
        -- response with its departure; a loop of inserts ranked them once per quote.
        SELECT a.n - 1, a.x, a.dup INTO i, x, bad
          FROM (SELECT e.x, e.n,
                       count(*) OVER (PARTITION BY e.x ->> 'travelQuoteReference' ORDER BY e.n) > 1 AS dup
                  FROM jsonb_array_elements(b -> 'quotes') WITH ORDINALITY e(x, n)) a
         WHERE a.dup OR hublink.quote_issued(rid, 'travel', a.x ->> 'travelQuoteReference')
            OR (party = 'hub' AND a.x ? 'escortQuoteReference'
                AND NOT hublink.quote_issued(rid, 'escort', a.x ->> 'escortQuoteReference'))
         ORDER BY a.n
         LIMIT 1;
        IF FOUND THEN
            IF bad OR hublink.quote_issued(rid, 'travel', x ->> 'travelQuoteReference') THEN
                PERFORM hublink.impossible(format('/body/quotes/%s/travelQuoteReference', i),
                    format('travel quote "%s" was already issued', x ->> 'travelQuoteReference'));
            END IF;
            PERFORM hublink.impossible(format('/body/quotes/%s/escortQuoteReference', i),
                format('escort quote "%s" is unknown', x ->> 'escortQuoteReference'));
        END IF;
        WITH quote AS (
            SELECT e.x, e.n FROM jsonb_array_elements(b -> 'quotes') WITH ORDINALITY e(x, n)
        ), inserted AS (
            INSERT INTO hublink.travel_quote (travel_quote_response_id, removal_id, travel_quote_reference,
                                              escort_quote_reference, total_amount, expected_amount,
                                              currency, refundable, hand_baggage_only, expires_at,
                                              conditions)
            SELECT resp_id, rid, q.x ->> 'travelQuoteReference', q.x ->> 'escortQuoteReference',
                   hublink.money(q.x #> '{costs,total}'), hublink.money(q.x #> '{costs,expectedCost}'),
                   q.x #>> '{costs,total,currency}',
                   (q.x #>> '{conditions,refundable}')::boolean,
                   (q.x #>> '{conditions,handBaggageOnly}')::boolean,
                   (q.x #>> '{conditions,expiresAt}')::timestamptz, q.x -> 'conditions'
              FROM quote q ORDER BY q.n
            RETURNING travel_quote_id, travel_quote_reference
        ), costs AS (
            INSERT INTO hublink.travel_quote_cost
            SELECT t.travel_quote_id, c -> 'traveller', hublink.money(c -> 'cost'), c #>> '{cost,currency}'
              FROM inserted t JOIN quote q ON q.x ->> 'travelQuoteReference' = t.travel_quote_reference,
                   jsonb_array_elements(q.x #> '{costs,perTraveller}') c
        )
        INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                               provider_name, carrier_code, flight_number,
                                               start_point, end_point, start_time, end_time,
                                               travellers)
        SELECT t.travel_quote_id, g.s ->> 'segmentId', g.s ->> 'segmentType', g.s ->> 'providerName',
               g.s ->> 'carrierCode', g.s ->> 'flightNumber', g.s -> 'startPoint', g.s -> 'endPoint',
               (g.s ->> 'startTime')::timestamptz, (g.s ->> 'endTime')::timestamptz, g.s -> 'travellers'
          FROM inserted t JOIN quote q ON q.x ->> 'travelQuoteReference' = t.travel_quote_reference,
               jsonb_array_elements(q.x -> 'itinerary') WITH ORDINALITY g(s, m)
         ORDER BY q.n, g.m;

    WHEN 'EscortBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'escort', b ->> 'escortQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('escort quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'escortQuoteReference'));
        END IF;
        INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, travel_quote_reference,
                                            request_message_id)
        VALUES (rid, b ->> 'escortQuoteReference', b ->> 'travelQuoteReference', mid);

    WHEN 'TravelBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'travel', b ->> 'travelQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('travel quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id)
        VALUES (rid, b ->> 'travelQuoteReference', mid);
        PERFORM hublink.record_escorts(rid, b -> 'escorts');

    WHEN 'EscortBookingResponse' THEN
        UPDATE hublink.escort_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               response_message_id = mid, responded_at = now()
         WHERE k.escort_booking_id = (SELECT max(k2.escort_booking_id) FROM hublink.escort_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.escort_quote_reference = b ->> 'escortQuoteReference');
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('no booking of escort quote "%s" waits for an answer', b ->> 'escortQuoteReference'));
        END IF;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
            INSERT INTO hublink.escort_assignment
            SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
              FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
            ON CONFLICT DO NOTHING;
        END IF;

    WHEN 'TravelBookingResponse' THEN
        UPDATE hublink.travel_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               total_amount = hublink.money(b #> '{confirmation,totalCost}'),
               currency = b #>> '{confirmation,totalCost,currency}',
               confirmation = b -> 'confirmation', response_message_id = mid, responded_at = now()
         WHERE k.travel_booking_id = (SELECT max(k2.travel_booking_id) FROM hublink.travel_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.travel_quote_reference = b ->> 'travelQuoteReference')
        RETURNING k.travel_booking_id INTO q_id;
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('no booking of travel quote "%s" waits for an answer', b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller, segment_ids, message_id)
        SELECT rid, q_id, t ->> 'ticketNumber', t -> 'traveller',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(t -> 'segmentIds', '[]'))), mid
          FROM jsonb_array_elements(coalesce(b #> '{confirmation,tickets}', '[]')) t;

    WHEN 'EscortAmendment', 'TravelAmendment' THEN
        IF message ->> 'messageType' = 'EscortAmendment' THEN
            PERFORM hublink.require_booked(rid, 'escort', b ->> 'escortQuoteReference', '/body/escortQuoteReference');
        ELSE
            PERFORM hublink.require_booked(rid, 'travel', b ->> 'travelQuoteReference', '/body/travelQuoteReference');
            FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b -> 'passengerUpdates', '[]')) LOOP
                IF x ? 'escortId' AND x ? 'name' THEN
                    PERFORM hublink.record_escorts(rid, jsonb_build_array(
                        jsonb_strip_nulls(jsonb_build_object('escortId', x -> 'escortId',
                            'escortNumber', x #> '{traveller,escortNumber}', 'name', x -> 'name',
                            'advancePassengerInfo', x -> 'advancePassengerInfo'))));
                END IF;
            END LOOP;
        END IF;
        INSERT INTO hublink.amendment (removal_id, booking, message_id, quote_reference, details)
        VALUES (rid, CASE WHEN message ->> 'messageType' = 'EscortAmendment' THEN 'escort' ELSE 'travel' END,
                mid, coalesce(CASE WHEN message ->> 'messageType' = 'EscortAmendment'
                                   THEN b ->> 'escortQuoteReference' ELSE b ->> 'travelQuoteReference' END, ''),
                b);

    WHEN 'EscortUpdate', 'TravelUpdate' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortUpdate' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
            v_sect    text;
            v_kind    text;
        BEGIN
            PERFORM hublink.require_booked(rid, v_booking, v_ref,
                                           CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                          ELSE '/body/travelQuoteReference' END);
            FOR v_sect, v_kind IN VALUES ('completed', 'completed'), ('cancellation', 'cancellation'),
                                     ('unsuccessful', 'unsuccessful'), ('delayed', 'delayed'),
                                     ('escortChanges', 'escort-change'), ('escortDetails', 'details'),
                                     ('amendmentOutcome', 'amendment-outcome'),
                                     ('flightChanges', 'flight-change'), ('financial', 'financial'),
                                     ('other', 'other') LOOP
                CONTINUE WHEN NOT b ? v_sect;
                IF jsonb_typeof(b -> v_sect) = 'array' THEN
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    SELECT rid, v_booking, mid, v_kind, e #>> '{reason,code}', e #>> '{reason,text}', e
                      FROM jsonb_array_elements(b -> v_sect) e;
                ELSE
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    VALUES (rid, v_booking, mid, v_kind, b #>> ARRAY[v_sect, 'reason', 'code'],
                            b #>> ARRAY[v_sect, 'reason', 'text'], b -> v_sect);
                END IF;
            END LOOP;
            IF b ? 'amendmentOutcome' THEN
                UPDATE hublink.amendment a
                   SET outcome_accepted = (b #>> '{amendmentOutcome,accepted}')::boolean,
                       outcome_reason_code = b #>> '{amendmentOutcome,reason,code}',
                       outcome_reason_text = b #>> '{amendmentOutcome,reason,text}',
                       outcome_message_id = mid, outcome_at = now()
                 WHERE a.removal_id = rid AND a.booking = v_booking
                   AND a.message_id = b #>> '{amendmentOutcome,amendmentMessageId}';
                IF NOT FOUND THEN
                    PERFORM hublink.impossible('/body/amendmentOutcome/amendmentMessageId',
                        format('no %s amendment "%s" was sent for this removal', v_booking,
                               b #>> '{amendmentOutcome,amendmentMessageId}'));
                END IF;
                IF v_booking = 'escort' THEN
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,segments}', '[]')) LOOP
                        UPDATE hublink.escort_segment s SET current = false
                         WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                        INSERT INTO hublink.escort_segment (removal_id, segment_id, start_point, finish_point,
                                                            transport_type, returnee_present, planned_start,
                                                            planned_finish, escort_numbers)
                        VALUES (rid, x ->> 'segmentId', x -> 'startPoint', x -> 'finishPoint',
                                x ->> 'transportType', (x ->> 'returneePresent')::boolean,
                                (x ->> 'plannedStart')::timestamptz, (x ->> 'plannedFinish')::timestamptz,
                                ARRAY(SELECT hublink.json_integer(n)::int FROM jsonb_array_elements(coalesce(x -> 'escortNumbers', '[]')) n));
                    END LOOP;
                ELSE
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,tickets}', '[]')) LOOP
                        UPDATE hublink.ticket t SET current = false
                         WHERE t.removal_id = rid AND t.traveller = x -> 'traveller' AND t.current;
                        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller,
                                                    segment_ids, message_id)
                        VALUES (rid, (SELECT max(k.travel_booking_id) FROM hublink.travel_booking k
                                       WHERE k.removal_id = rid AND k.outcome = 'ACCEPTED'),
                                x ->> 'ticketNumber', x -> 'traveller',
                                ARRAY(SELECT jsonb_array_elements_text(coalesce(x -> 'segmentIds', '[]'))), mid);
                    END LOOP;
                END IF;
            END IF;
            IF b ? 'delayed' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b #> '{delayed,segments}') LOOP
                    UPDATE hublink.escort_segment s
                       SET planned_start = (x ->> 'newStart')::timestamptz,
                           planned_finish = (x ->> 'newFinish')::timestamptz
                     WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                END LOOP;
            END IF;
            IF b ? 'escortChanges' THEN
                UPDATE hublink.escort_person p SET active = false
                 WHERE p.removal_id = rid
                   AND p.escort_id IN (SELECT e ->> 'removedEscortId' FROM jsonb_array_elements(b -> 'escortChanges') e)
                   AND p.escort_id NOT IN (SELECT coalesce(e ->> 'addedEscortId', '')
                                             FROM jsonb_array_elements(b -> 'escortChanges') e);
                DELETE FROM hublink.escort_assignment a
                 USING jsonb_array_elements(b -> 'escortChanges') e
                 WHERE a.removal_id = rid AND a.segment_id = e ->> 'segmentId'
                   AND a.escort_id = e ->> 'removedEscortId';
            END IF;
            IF b ? 'escortDetails' THEN
                PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
                INSERT INTO hublink.escort_assignment
                SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
                  FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
                ON CONFLICT ON CONSTRAINT escort_assignment_pkey DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id;
            END IF;
            IF b ? 'flightChanges' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b -> 'flightChanges') LOOP
                    SELECT s.travel_quote_id INTO q_id FROM hublink.itinerary_segment s
                      JOIN hublink.travel_quote q USING (travel_quote_id)
                     WHERE q.removal_id = rid AND q.travel_quote_reference = v_ref
                       AND s.segment_id = x #>> '{oldSegment,segmentId}' AND s.current;
                    IF FOUND THEN
                        UPDATE hublink.itinerary_segment s SET current = false
                         WHERE s.travel_quote_id = q_id AND s.segment_id = x #>> '{oldSegment,segmentId}';
                        y := x -> 'newSegment';
                        INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                                               provider_name, carrier_code, flight_number,
                                                               start_point, end_point, start_time, end_time,
                                                               travellers)
                        VALUES (q_id, y ->> 'segmentId', y ->> 'segmentType', y ->> 'providerName',
                                y ->> 'carrierCode', y ->> 'flightNumber', y -> 'startPoint', y -> 'endPoint',
                                (y ->> 'startTime')::timestamptz, (y ->> 'endTime')::timestamptz,
                                y -> 'travellers');
                    END IF;
                END LOOP;
            END IF;
            IF b ? 'financial' THEN
                PERFORM hublink.record_financial(rid, v_booking, mid, b -> 'financial');
            END IF;
            IF b ? 'cancellation' AND NOT EXISTS (SELECT FROM hublink.cancellation c WHERE c.message_id = mid) THEN
                INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                                  reason_code, reason_text, before_booking)
                VALUES (rid, v_booking, CASE v_booking WHEN 'escort' THEN 'esp' ELSE 'tsp' END, mid, v_ref,
                        b #>> '{cancellation,reason,code}', b #>> '{cancellation,reason,text}', false);
            END IF;
        END;

    WHEN 'EscortCancellation', 'TravelCancellation' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortCancellation' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
        BEGIN
            IF v_ref IS NOT NULL AND NOT hublink.quote_issued(rid, v_booking, v_ref) THEN
                PERFORM hublink.impossible(CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                        ELSE '/body/travelQuoteReference' END,
                                           format('%s quote "%s" was never issued for this removal', v_booking, v_ref));
            END IF;
            INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                              reason_code, reason_text, retain_for_reuse, before_booking)
            VALUES (rid, v_booking, 'hub', mid, v_ref, b #>> '{reason,code}', b #>> '{reason,text}',
                    (b ->> 'retainForReuse')::boolean,
                    (CASE v_booking WHEN 'escort' THEN st.escort_state ELSE st.travel_state END)
                        NOT IN ('booked', 'amended'));
        END;
    ELSE
        PERFORM hublink.impossible('/messageType',
            format('message type "%s" has no place in a removal conversation', message ->> 'messageType'));
    END CASE;
END;
$$;
COMMENT ON FUNCTION hublink.record_message_rows(bigint, jsonb, text) IS
    'Records what a message says as rows of the domain tables, at the party that sends or '
    'receives it. Raises HL001 for references the conversation does not know (a booking of a '
    'quote never issued or superseded, an update of a booking never confirmed, the outcome of '
    'an amendment never sent, a quote reference issued twice).';
-- hublink.tsp_quote: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.apply_reference_list, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.apply_reference_list(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body     jsonb := message -> 'body';
    lst      text := body ->> 'list';
    seq      bigint := hublink.json_integer(body -> 'sequence')::bigint;
    state    hublink.reference_list_state;
BEGIN
    INSERT INTO hublink.reference_list_state (list, sequence, codes, changed_at)
    VALUES (lst, 0, '[]', '-infinity')
    ON CONFLICT ON CONSTRAINT reference_list_state_pkey DO NOTHING;
    SELECT * INTO state FROM hublink.reference_list_state s WHERE s.list = lst FOR UPDATE;
    IF state.sequence >= seq THEN
        RAISE LOG 'hublink: ignored % of reason list "%" with sequence %: sequence % is applied',
            message ->> 'messageType', lst, seq, state.sequence;
        RETURN;
    END IF;
    INSERT INTO hublink.reason_list AS l (list, description) VALUES (lst, body ->> 'description')
    ON CONFLICT (list) DO UPDATE SET description = excluded.description
     WHERE l.description IS DISTINCT FROM excluded.description;
    DELETE FROM hublink.reason_code c
     WHERE c.list = lst
       AND c.code NOT IN (SELECT x ->> 'code' FROM jsonb_array_elements(body -> 'codes') x);
    INSERT INTO hublink.reason_code AS c (list, code, description, active, changed_at, changed_by)
    SELECT lst, x ->> 'code', x ->> 'text', (x ->> 'active')::boolean,
           (body ->> 'changedAt')::timestamptz, message ->> 'sender'
      FROM jsonb_array_elements(body -> 'codes') x
    ON CONFLICT (list, code) DO UPDATE
       SET description = excluded.description, active = excluded.active,
           changed_at = excluded.changed_at, changed_by = excluded.changed_by
     WHERE (c.description, c.active) IS DISTINCT FROM (excluded.description, excluded.active);
    UPDATE hublink.reference_list_state s
       SET description = body ->> 'description', sequence = seq, codes = body -> 'codes',
           changed_at = (body ->> 'changedAt')::timestamptz, recorded_at = now(),
           message_id = message ->> 'messageId'
     WHERE s.list = lst;
END;
$$;
COMMENT ON FUNCTION hublink.apply_reference_list(jsonb) IS
    'The handler of TravelReferenceListUpdate and EscortReferenceListUpdate at a provider: '
    'replaces the local reason list with the full state received (codes not in the message are '
    'deleted, the others inserted or updated), unless the list already holds this sequence or a '
    'later one, in which case the message changes nothing. Outside the removal state machine.';
-- hublink.esp_effort, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_effort(plan_id bigint)
    RETURNS TABLE (seq integer, segment_id text, escort_number integer, minutes integer, cost numeric)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.ord::integer, s.seg #>> '{segment,segmentId}', p.escort_number, hublink.json_integer(s.seg -> 'minutes')::integer,
           round(r.hourly_rate * (s.seg ->> 'minutes')::numeric / 60, 2) + (s.seg ->> 'allowance')::numeric
      FROM hublink.esp_plan pl
     CROSS JOIN LATERAL jsonb_array_elements(pl.segments) WITH ORDINALITY s(seg, ord)
      JOIN hublink.esp_plan_position p ON p.plan_id = pl.plan_id
      JOIN hublink.esp_role r ON r.role = p.role
     WHERE pl.plan_id = esp_effort.plan_id
       AND (NOT s.seg -> 'segment' ? 'escortNumbers'
            OR s.seg #> '{segment,escortNumbers}' @> to_jsonb(p.escort_number))
     ORDER BY s.ord, p.escort_number
$$;
COMMENT ON FUNCTION hublink.esp_effort(bigint) IS
    'Escort effort of a plan: per segment and position on it (all positions unless the segment '
    'names escortNumbers), minutes and cost = role hourly rate x minutes / 60 (rounded half away '
    'from zero to the penny) + the segment''s allowance.';
-- hublink.esp_quote, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_quote(request jsonb, removal_id text DEFAULT NULL, at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tz        constant text := hublink.esp_setting('date_time_zone');
    notice    constant interval := hublink.esp_setting('min_notice_hours')::integer * interval '1 hour';
    maxdates  constant integer := hublink.esp_setting('max_escort_dates')::integer;
    cur       constant char(3) := hublink.esp_setting('currency');
    expires   constant timestamptz := at + hublink.esp_setting('quote_validity_minutes')::integer * interval '1 minute';
    profiles  jsonb;
    segs      jsonb;
    pid       bigint;
    npos      integer;
    total     numeric;
    serial    text;
    d         date;
    quotes    jsonb := '[]';
    skipped   text[] := '{}';
    ref       text;
    body      jsonb;
    sexes     jsonb;
BEGIN
    -- What the rules read of each returnee: no names, no dates of birth.
    SELECT jsonb_agg(jsonb_build_object(
               'hoReturneeReference', r #>> '{personalDetails,hoReturneeReference}',
               'gender', r #>> '{personalDetails,gender}',
               'nationality', r #>> '{personalDetails,nationality}',
               'flags', coalesce(r #> '{escortRiskAssessment,flags}', '[]'),
               'conditions', coalesce((SELECT jsonb_agg(c -> 'code')
                                         FROM jsonb_array_elements(r #> '{personalDetails,conditions}') c), '[]'),
               'location', r -> 'location') ORDER BY o)
      INTO profiles
      FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY x(r, o);
    segs := hublink.esp_segments((request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
                                 request #> '{returnees,0,location}', request -> 'destination');
    INSERT INTO hublink.esp_plan (removal_ref, returnees, international, escort_on_transport, location, destination,
                                  duty_days, currency, segments, created_at)
    VALUES (removal_id, profiles, (request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
            request #> '{returnees,0,location}', request -> 'destination',
            (SELECT max(hublink.json_integer(s -> 'dayOffset')::integer) + 1 FROM jsonb_array_elements(segs) s), cur, segs, at)
    RETURNING plan_id INTO pid;
    INSERT INTO hublink.esp_plan_position
    SELECT pid, p.* FROM hublink.esp_positions(profiles) p;
    GET DIAGNOSTICS npos = ROW_COUNT;
    total := hublink.esp_plan_cost(pid);
    serial := lpad(nextval('hublink.esp_quote_serial')::text, 6, '0');
    -- Escorts' sex is sealed: decrypt it once per quote, and only when a position asks for a sex,
    -- for the escorts who could serve on some date of the range (active, named, rostered then).
    -- (A position sealed a sex exactly when it asks for one: 76_crypto_seal_esp.sql.)
    IF EXISTS (SELECT FROM hublink.esp_plan_position p WHERE p.plan_id = pid AND p.sealed IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(ARRAY(
            SELECT DISTINCT r.escort_id FROM hublink.esp_roster r JOIN hublink.esp_escort e USING (escort_id)
             WHERE e.active AND r.duty_date BETWEEN (request #>> '{dates,earliestLeaveDate}')::date
                                                AND (request #>> '{dates,latestLeaveDate}')::date
                                                    + (SELECT pl.duty_days - 1 FROM hublink.esp_plan pl WHERE pl.plan_id = pid)
               AND EXISTS (SELECT FROM hublink.esp_escort_personal x WHERE x.escort_id = e.escort_id)), removal_id);
    END IF;

    FOR d IN SELECT g::date FROM generate_series((request #>> '{dates,earliestLeaveDate}')::date,
                                                 (request #>> '{dates,latestLeaveDate}')::date, interval '1 day') g LOOP
        EXIT WHEN jsonb_array_length(quotes) >= maxdates;
        IF coalesce(request #> '{dates,exclusionDates}', '[]') ? d::text THEN
            CONTINUE;
        ELSIF d::timestamp AT TIME ZONE tz < at + notice THEN
            skipped := skipped || (d || ' (less than ' || hublink.esp_setting('min_notice_hours') || ' hours'' notice)');
        ELSIF (SELECT count(*) FROM hublink.esp_fill_team(pid, d, NULL, sexes)) < npos THEN
            skipped := skipped || (d || ' (escorts unavailable)');
        ELSE
            ref := hublink.esp_setting('quote_reference_prefix') || serial || '-' || chr(65 + jsonb_array_length(quotes));
            INSERT INTO hublink.esp_quote VALUES (ref, pid, d, total, cur, at, expires);
            quotes := quotes || jsonb_build_object('escortQuoteReference', ref, 'escortDate', d,
                'totalCost', hublink.esp_money(total, cur),
                'notes', 'Bookable until ' || to_char(expires AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' UK time.');
        END IF;
    END LOOP;

    body := hublink.esp_plan_body(pid) || jsonb_build_object('quotes', quotes, 'notes',
        (SELECT count(*) FILTER (WHERE NOT p.medic) || ' escort officer(s)'
                || CASE WHEN bool_or(p.medic) THEN ' and a medic' ELSE '' END
           FROM hublink.esp_plan_position p WHERE p.plan_id = pid)
        || ' for ' || (SELECT string_agg(x ->> 'hoReturneeReference' || coalesce(' (' || nullif(
                                   (SELECT string_agg(f, ', ') FROM jsonb_array_elements_text((x -> 'flags') || (x -> 'conditions')) f),
                                   '') || ')', ''), ', ' ORDER BY o)
                         FROM jsonb_array_elements(profiles) WITH ORDINALITY y(x, o))
        || CASE WHEN cardinality(skipped) > 0 THEN '. Not offered: ' || array_to_string(skipped, ', ') ELSE '' END
        || '.');
    RETURN body;
END;
$$;
COMMENT ON FUNCTION hublink.esp_quote(jsonb, text, timestamptz) IS
    'Quotes an EscortQuoteRequest body at instant at: makes the plan (positions by the escort '
    'rules, segments by the templates, effort and cost by the role rates) and offers each date '
    'of the range, without exclusion dates, starting at least min_notice_hours after at, on which '
    'the roster can staff the team (up to max_escort_dates). Returns the EscortQuoteResponse '
    'body; quotes is empty when no date can be staffed, and notes name the dates not offered.';
-- hublink.esp_amend, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_amend(request jsonb, amendment_message_id uuid, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k       hublink.esp_booking := hublink.esp_booking_of(request ->> 'escortQuoteReference');
    pid     bigint := hublink.esp_copy_plan(k.plan_id, at);
    pl      hublink.esp_plan;
    c       jsonb;
    r       jsonb;
    x       jsonb;
    segs    jsonb;
    missing text;
    reason  text;
    team    jsonb;
    npos    integer;
    hours   numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee     numeric;
    new_total numeric;
    outcome jsonb := jsonb_build_object('amendmentMessageId', amendment_message_id::text);

BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = pid;
    IF request ? 'returneeChanges' THEN
        pl.returnees := hublink.esp_plan_returnees(pid); -- sealed: decrypted (audited) only when changed
    END IF;
    -- Returnee changes: new risk or conditions change the positions, a new location of the
    -- first returnee the segments (rebuilt from the templates).
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'returneeChanges', '[]')) LOOP
        SELECT jsonb_agg(CASE WHEN p ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
                   p || jsonb_strip_nulls(jsonb_build_object(
                       'flags', r #> '{escortRiskAssessment,flags}',
                       'conditions', (SELECT jsonb_agg(y -> 'code') FROM jsonb_array_elements(r -> 'conditions') y),
                       'location', r -> 'location'))
                   ELSE p END ORDER BY o)
          INTO pl.returnees FROM jsonb_array_elements(pl.returnees) WITH ORDINALITY z(p, o);
        IF r ? 'location' AND pl.returnees -> 0 ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
            pl.location := r -> 'location';
            pl.segments := hublink.esp_segments(pl.international, pl.escort_on_transport, pl.location, pl.destination);
            reason := coalesce(reason, 'LOCATION_CHANGE');
        END IF;
        reason := coalesce(reason, 'RISK_CHANGED');
    END LOOP;
    IF request ? 'returneeChanges' THEN
        DELETE FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
        INSERT INTO hublink.esp_plan_position SELECT pid, p.* FROM hublink.esp_positions(pl.returnees) p;
    END IF;
    -- Segment changes: cancel, replace, add or amend in place.
    FOR c IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'segmentChanges', '[]')) LOOP
        reason := coalesce(reason, c #>> '{reason,code}');
        SELECT string_agg(a, ', ') INTO missing FROM jsonb_array_elements_text(c -> 'affectedSegmentIds') a
         WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(pl.segments) s WHERE s #>> '{segment,segmentId}' = a);
        IF missing IS NOT NULL THEN
            DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
            RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
                'escortQuoteReference', k.quote_ref,
                'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason',
                    jsonb_build_object('code', 'OTHER', 'text', 'The booking has no segment ' || missing || '; nothing was changed.'))), at);
        END IF;
        IF (c ->> 'cancelled')::boolean THEN
            SELECT coalesce(jsonb_agg(s ORDER BY o), '[]') INTO segs FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o)
             WHERE NOT c -> 'affectedSegmentIds' ? (s #>> '{segment,segmentId}');
            pl.segments := segs || coalesce((SELECT jsonb_agg(jsonb_build_object('segment', n, 'kind', 'REPLACEMENT',
                    'minutes', coalesce(extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                        hublink.esp_setting('default_segment_minutes')::integer),
                    'allowance', 0, 'dayOffset', 0) ORDER BY o)
                FROM jsonb_array_elements(c -> 'replacementSegments') WITH ORDINALITY z(n, o)), '[]');
        ELSE
            SELECT jsonb_agg(coalesce(
                       (SELECT s || jsonb_build_object('segment', n, 'minutes', coalesce(
                                   extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                   hublink.json_integer(s -> 'minutes')::integer))
                          FROM jsonb_array_elements(c -> 'replacementSegments') n
                         WHERE n ->> 'segmentId' = s #>> '{segment,segmentId}'), s) ORDER BY o)
              INTO pl.segments FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o);
        END IF;
    END LOOP;
    IF NOT (request ? 'returneeChanges' OR request ? 'segmentChanges') THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'OTHER', 'text', 'Free-text amendments are handled by escort staff; nothing was changed.'))), at);
    END IF;
    -- pl.returnees is NULL unless returnees changed: the seal trigger then keeps the sealed value.
    UPDATE hublink.esp_plan p SET returnees = pl.returnees, location = pl.location, segments = pl.segments
     WHERE p.plan_id = pid;

    -- The amended plan must be staffed on the same days, keeping the booking's own escorts.
    PERFORM hublink.esp_lock_days(k.escort_date, pl.duty_days);
    SELECT count(*) INTO npos FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
    SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO team FROM hublink.esp_fill_team(pid, k.escort_date, k.booking_id) t;
    IF jsonb_array_length(team) < npos THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'STAFF_UNAVAILABLE', 'text', 'The roster cannot staff the amended team on '
                        || k.escort_date || '; the booking is unchanged.'))), at);
    END IF;
    new_total := hublink.esp_plan_cost(pid);
    fee := hublink.esp_fee('AMENDMENT', new_total, hours);
    UPDATE hublink.esp_booking b SET plan_id = pid, total = new_total, fees = b.fees + fee
     WHERE b.booking_id = k.booking_id;
    PERFORM hublink.esp_take_team(k.booking_id, team);
    RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'amendmentOutcome', outcome || jsonb_build_object('accepted', true,
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'segments', (SELECT jsonb_agg(s -> 'segment' ORDER BY o) FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o))),
        'escortDetails', hublink.esp_escort_details(k.booking_id),
        'financial', jsonb_build_object(
            'changeFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'notes', 'Amended ' || hublink.esp_fee_note('AMENDMENT', new_total, hours) || ' Escort cost was '
                     || to_char(k.total, 'FM999999999990.00') || ', now ' || to_char(new_total, 'FM999999999990.00')
                     || ' ' || k.currency || '.')), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_amend(jsonb, uuid, timestamptz) IS
    'Applies an EscortAmendment body at instant at to the active booking: returnee changes '
    'recompute the positions (and, for a new location, the segments), segment changes cancel, '
    'replace, add or amend segments (duration from planned times, else default_segment_minutes); '
    'the amended plan is staffed on the same days keeping the booking''s escorts where it can. '
    'Accepted: new cost, AMENDMENT fee by notice, escortDetails. Not accepted (nothing changes): '
    'an unknown segment (OTHER), free text only (OTHER), the roster cannot staff it '
    '(STAFF_UNAVAILABLE). No active booking: no_data_found.';

-- sql/parts/49_broker_alerts.sql (new in 0.2.0): the alert kinds, and the handler of Error messages.
-- sql/parts/49_broker_alerts.sql, verbatim (a part wholly new in this version)
-- The alert kinds of the broker contract (36_broker_contract.sql; docs/worker.md), here because
-- hublink.alert_kind is made by 46_alerts.sql, and the handler of Error messages, here because
-- 43_conversation.sql sets the handlers of every queue's type.

INSERT INTO hublink.alert_kind VALUES
    ('broker_sender_mismatch', 'critical', 'worker',
     'A delivery''s envelope sender is not the party of the broker user that published it (or it '
     'has no AMQP user_id, or a user hublink.broker_identity does not map): someone may be '
     'speaking for another party. It was rejected to its error queue. Check the broker''s '
     'permissions (scripts/broker-permissions) and who holds that user''s certificate.'),
    ('error_received', 'warning', 'worker',
     'A party rejected one of our messages and said why on the error queue: the case needs '
     'attention (hublink.needs_attention). Correct it and send a new message with a new '
     'messageId, then hublink.clear_attention.'),
    ('error_unmatched', 'warning', 'worker',
     'An Error arrived on the error queue of a queue we send on but names no message we sent '
     'there: it is kept in hublink.needs_attention. Find out who sent what.'),
    ('error_not_processable', 'warning', 'worker',
     'A message received on an error queue could not be processed (invalid, forged or unknown '
     'type). It is stored as rejected in hublink.inbox; no Error is sent back for an Error.'),
    ('message_id_reused', 'warning', 'worker',
     'A message reused a messageId we had already received (a corrected resend of a rejected '
     'message, or the same id on another queue). It was not applied; an Error told its sender '
     'to send it again with a new messageId.');


INSERT INTO hublink.message_handler VALUES
    ('Error', 'hublink.receive_error(jsonb)'::regprocedure,
     'An Error on the error queue of a queue we send on: matched to our outbox row, kept as an '
     'error report that needs attention, alerted.');
-- end of sql/parts/49_broker_alerts.sql

-- The grants of 91_access_policy.sql for what this part adds.
DO $$
BEGIN
    INSERT INTO hublink.access_table_override VALUES
        ('error_report', 'reference', 'Errors received for our messages: ids, queue names, JSON pointers and '
                         'counts, no message content (36_broker_contract.sql); written only by hublink.receive_error.'),
        ('needs_attention', 'reference_view', 'The open error reports with their outbox row''s id and send time: '
                            'no message content, for the people who clear them.');
    GRANT EXECUTE ON FUNCTION hublink.worker_alert(text, text, jsonb, text) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_duplicate(text, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.receive_error(jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.clear_attention(bigint, text) TO hublink_admin;
END;
$$;
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/30_lockout_and_keys.sql
-- 0.2.0, issue 12 sections 3 and 5 (docs/security-monitoring.md "Lock-out",
-- docs/security-crypto.md "Erasure and backups").
--
-- Lock-out: the logon table counts only roles that exist and never evicts a counting entry;
-- protected roles (superuser, CREATEROLE, REPLICATION, hublink_admin, hublink.lockout_service_roles)
-- are locked out per client address, for a while, never everywhere. security_logon_state()
-- gains the address column (a new result type: dropped first).
DROP FUNCTION hublink.security_logon_state();
-- hublink.security_logon_state, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.security_logon_state()
    RETURNS TABLE (role_name text, consecutive_failures integer, locked boolean,
                   locked_at timestamptz, last_seen timestamptz, client_addr text)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_logon_state';
COMMENT ON FUNCTION hublink.security_logon_state() IS
    'The logon hook''s table in shared memory, entries still counting: consecutive failed logons '
    'and lock-out of each existing role that failed since the server started (or since a '
    'lock-out was restored); client_addr is NULL for a role-wide entry (an ordinary role), else '
    'the address a protected role failed from (docs/security-monitoring.md, "Lock-out").';
REVOKE ALL ON FUNCTION hublink.security_logon_state() FROM PUBLIC;
-- hublink.unlock_role: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.sync_security_shared_memory, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.sync_security_shared_memory() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Only logins that exist: a lock-out of a name that is not one (recorded before 0.2.0, or of
    -- a role dropped since) would only take a slot of the logon hook's table.
    PERFORM hublink.security_set_lockout(l.role_name, true, l.locked_at)
       FROM hublink.security_lockout l
      WHERE l.unlocked_at IS NULL
        AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = l.role_name AND r.rolcanlogin);
    PERFORM hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));
END;
$$;
COMMENT ON FUNCTION hublink.sync_security_shared_memory() IS
    'Makes shared memory agree with the tables: the lock-outs in hublink.security_lockout of '
    'logins that exist and the text of hublink.security_login_warning (both are lost when the '
    'server restarts).';
INSERT INTO hublink.alert_kind (kind, default_severity, source, description)
SELECT kind, default_severity, source, description FROM (VALUES
    ('security_source_locked', 'critical', 'monitoring',
     'A protected role (superuser, CREATEROLE, REPLICATION, hublink_admin or '
     'hublink.lockout_service_roles) was locked out from one client address after '
     'hublink.lockout_failures consecutive failed logons from it, for '
     'hublink.lockout_source_duration (NFR 0020 3d). It may still log on from elsewhere. A '
     'replica or service with a stale password stops until its password is fixed; otherwise '
     'find out who tried (hublink.logon, hublink.security_event name the address).'),
    ('security_lockout_untracked', 'critical', 'monitoring',
     'A failed logon of an existing role could not be counted towards lock-out: the logon '
     'table (hublink.lockout_slots) is full of counting entries. Many roles or addresses are '
     'failing at once: investigate, raise '
     'hublink.lockout_slots (restart).')) v (kind, default_severity, source, description)
ON CONFLICT (kind) DO NOTHING;
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('source_locked', 'security_source_locked', 'Protected role locked out from one address'),
    ('lockout_untracked', 'security_lockout_untracked', 'Failed logon not counted: logon table full')
ON CONFLICT (kind) DO NOTHING;

-- Keys and erasure against copies: the master keys that ever wrapped a data key, the erasure
-- status per destruction, and the record of a retired master key's destruction. The key file
-- itself moves out of the data directory by the operator (docs/upgrades.md): the new library's
-- default is ../hublink_master.key, and a key file inside the data directory is refused.
CREATE TABLE hublink.data_key_master (
    master_key_id text PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    retired_at    timestamptz,
    destroyed_at  timestamptz,
    destroyed_by  text,
    CHECK ((destroyed_at IS NULL) = (destroyed_by IS NULL)),
    CHECK (destroyed_at IS NULL OR retired_at IS NOT NULL)
);
COMMENT ON TABLE hublink.data_key_master IS
    'Each master key that wrapped a data key (by its id, never the key): when it was first used, '
    'when hublink.rotate_master_key left no data key wrapped by it, and when an admin confirmed '
    'with hublink.master_key_destroyed that it is gone from the key file and from every copy of it. '
    'hublink.data_key_erasure reads it.';
COMMENT ON COLUMN hublink.data_key_master.master_key_id IS 'hublink.crypto_key_id of the master key.';
COMMENT ON COLUMN hublink.data_key_master.first_used_at IS 'When it first wrapped a data key.';
COMMENT ON COLUMN hublink.data_key_master.retired_at IS
    'When a rotation re-wrapped the last data key it wrapped; NULL while it is in use.';
COMMENT ON COLUMN hublink.data_key_master.destroyed_at IS
    'When an admin recorded its destruction (hublink.master_key_destroyed); NULL: it may still exist.';
COMMENT ON COLUMN hublink.data_key_master.destroyed_by IS 'Who recorded it.';
REVOKE ALL ON hublink.data_key_master FROM PUBLIC;
GRANT SELECT ON hublink.data_key_master TO hublink_admin;
SELECT pg_catalog.pg_extension_config_dump('hublink.data_key_master', '');
-- The master keys in use before this version tracked them: assumed in use since the first data
-- key or purge recorded, so no earlier erasure is reported complete before they are destroyed.
INSERT INTO hublink.data_key_master (master_key_id, first_used_at)
SELECT d.master_key_id,
       least(pg_catalog.min(d.created_at), (SELECT pg_catalog.min(l.purged_at) FROM hublink.purge_log l))
  FROM hublink.data_key d
 GROUP BY d.master_key_id;
INSERT INTO hublink.audit_action VALUES
    ('master_key_destroyed', 'An admin recorded that a retired master key is destroyed (hublink.master_key_destroyed).')
ON CONFLICT DO NOTHING;
-- hublink.data_key_for, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.data_key_for(p_scope text, p_create boolean) RETURNS bytea
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k       hublink.data_key;
    m       record;
    fresh   bytea;
    wrapped bytea;
BEGIN
    SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    IF NOT FOUND AND p_create THEN
        m := hublink.master_key(NULL);
        fresh := hublink.crypto_random_key();
        wrapped := hublink.crypto_encrypt(fresh, m.key);
        INSERT INTO hublink.data_key (key_scope, wrapped_key, master_key_id)
        VALUES (p_scope, wrapped, m.key_id)
        ON CONFLICT (key_scope) DO NOTHING;
        IF FOUND THEN
            -- The erasure status needs every master key that ever wrapped a data key.
            INSERT INTO hublink.data_key_master (master_key_id) VALUES (m.key_id)
            ON CONFLICT (master_key_id) DO NOTHING;
            PERFORM hublink.data_key_remember(p_scope, m.key_id, wrapped, fresh);
            RETURN fresh;
        END IF;
        -- Another transaction made it first: use theirs.
        SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    END IF;
    IF k.key_scope IS NULL THEN
        RAISE EXCEPTION 'no data key for "%"', p_scope
            USING ERRCODE = 'HL060',
                  DETAIL = 'The personal data sealed under it was destroyed by the retention purge, or never existed.',
                  HINT = 'hublink.purge_log tells when and under which policy a removal was purged.';
    END IF;
    -- Only for the row just read, and only while its master key is in the key file.
    fresh := hublink.data_key_cached(k.key_scope, k.master_key_id, k.wrapped_key);
    IF fresh IS NULL THEN
        fresh := hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key);
        PERFORM hublink.data_key_remember(k.key_scope, k.master_key_id, k.wrapped_key, fresh);
    END IF;
    RETURN fresh;
END;
$$;
COMMENT ON FUNCTION hublink.data_key_for(text, boolean) IS
    'The data key of a scope (a removal reference), unwrapped; made when missing and p_create. '
    'Raises HL060 when it was destroyed. Keeps the unwrapped key for the rest of the transaction '
    '(hublink.data_key_cached). Internal.';
-- hublink.rotate_master_key, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.rotate_master_key() RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m     record := hublink.master_key(NULL);
    k     hublink.data_key;
    n     integer := 0;
    used  jsonb;
BEGIN
    SELECT pg_catalog.jsonb_object_agg(s.master_key_id, s.n) INTO used
      FROM (SELECT d.master_key_id, pg_catalog.count(*) AS n FROM hublink.data_key d
             WHERE d.master_key_id <> m.key_id GROUP BY 1) s;
    FOR k IN SELECT * FROM hublink.data_key d WHERE d.master_key_id <> m.key_id FOR UPDATE LOOP
        UPDATE hublink.data_key d
           SET wrapped_key = hublink.crypto_encrypt(
                   hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key), m.key),
               master_key_id = m.key_id, rewrapped_at = pg_catalog.now()
         WHERE d.key_scope = k.key_scope;
        n := n + 1;
    END LOOP;
    INSERT INTO hublink.data_key_master (master_key_id) VALUES (m.key_id)
    ON CONFLICT (master_key_id) DO UPDATE SET retired_at = NULL
        WHERE hublink.data_key_master.destroyed_at IS NULL;
    -- The keys it replaced now wrap nothing: copies made from now on no longer need them.
    UPDATE hublink.data_key_master g SET retired_at = pg_catalog.clock_timestamp()
     WHERE g.retired_at IS NULL AND g.master_key_id <> m.key_id
       AND NOT EXISTS (SELECT FROM hublink.data_key d WHERE d.master_key_id = g.master_key_id);
    PERFORM hublink.audit_note('master_key_rotation', NULL,
        pg_catalog.jsonb_build_object('new_master_key_id', m.key_id, 'rewrapped', n,
                                      'previous_master_key_ids', coalesce(used, '{}')));
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.rotate_master_key() IS
    'Re-wraps every data key not wrapped by the current master key (the last line of '
    'hublink.master_key_file) with it; the sealed data is not touched. The older keys must '
    'still be in the file; remove them after this returns. Marks the keys it replaced retired in '
    'hublink.data_key_master. Returns how many keys it re-wrapped; audited (master_key_rotation).';
-- hublink.data_key_erasure, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.data_key_erasure AS
SELECT l.purge_id, l.removal_reference AS key_scope, l.data_class, l.purged_at, l.reason,
       coalesce(pending.ids, '{}') AS master_keys_to_destroy,
       pending.ids IS NULL AS complete,
       done.at AS complete_since
  FROM hublink.purge_log l
  LEFT JOIN LATERAL (
        SELECT pg_catalog.array_agg(g.master_key_id ORDER BY g.first_used_at) AS ids
          FROM hublink.data_key_master g
         WHERE (g.first_used_at <= l.purged_at OR l.removed->'master_key_ids' ? g.master_key_id)
           AND g.destroyed_at IS NULL) pending ON true
  LEFT JOIN LATERAL (
        SELECT pg_catalog.max(g.destroyed_at) AS at
          FROM hublink.data_key_master g
         WHERE g.first_used_at <= l.purged_at OR l.removed->'master_key_ids' ? g.master_key_id) done
    ON pending.ids IS NULL
 WHERE (l.removed->>'data_keys_destroyed')::integer > 0;
COMMENT ON VIEW hublink.data_key_erasure IS
    'Each destruction of data keys (an erasure on direction or a retention purge, from '
    'hublink.purge_log) and how far it holds against copies of the database made before it '
    '(base backups, archived WAL, standbys, dumps): master_keys_to_destroy lists the master keys '
    'in use up to then whose destruction is not yet recorded; while one remains, such a copy and '
    'that key still open the data. complete: none remains, and since when. Read by hublink_admin.';
COMMENT ON COLUMN hublink.data_key_erasure.purge_id IS 'The purge (hublink.purge_log).';
COMMENT ON COLUMN hublink.data_key_erasure.key_scope IS 'The removal reference, or the day key, destroyed.';
COMMENT ON COLUMN hublink.data_key_erasure.data_class IS 'The class whose purge destroyed the keys.';
COMMENT ON COLUMN hublink.data_key_erasure.purged_at IS 'When: from then on the live database and copies made after cannot open the data.';
COMMENT ON COLUMN hublink.data_key_erasure.reason IS '"retention", or the reason given to hublink.erase_removal.';
COMMENT ON COLUMN hublink.data_key_erasure.master_keys_to_destroy IS
    'Ids of the master keys first used up to the purge, or recorded by it as wrapping a key it '
    'destroyed, and not yet recorded destroyed: any of them may have wrapped the destroyed key in '
    'an older copy (rotate, then destroy them).';
COMMENT ON COLUMN hublink.data_key_erasure.complete IS
    'True when every master key that can have wrapped the destroyed key is recorded destroyed.';
COMMENT ON COLUMN hublink.data_key_erasure.complete_since IS 'When the last of them was recorded destroyed.';
REVOKE ALL ON hublink.data_key_erasure FROM PUBLIC;
GRANT SELECT ON hublink.data_key_erasure TO hublink_admin;
-- hublink.master_key_destroyed, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.master_key_destroyed(p_master_key_id text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    g hublink.data_key_master;
BEGIN
    SELECT * INTO g FROM hublink.data_key_master x WHERE x.master_key_id = p_master_key_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'master key % never wrapped a data key here', p_master_key_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'hublink.data_key_master lists the master keys that did.',
                  HINT = 'A master key id is the first 16 hex digits of the key''s SHA-256.';
    END IF;
    IF g.destroyed_at IS NOT NULL THEN
        RETURN g.destroyed_at;
    END IF;
    IF EXISTS (SELECT FROM hublink.data_key d WHERE d.master_key_id = p_master_key_id) THEN
        RAISE EXCEPTION 'master key % still wraps data keys', p_master_key_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Destroying it would make the personal data of those keys unreadable.',
                  HINT = 'Append a new key to the key file and run hublink.rotate_master_key() first.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(hublink.master_keys()) k
                WHERE hublink.crypto_key_id(k) = p_master_key_id) THEN
        RAISE EXCEPTION 'master key % is still in the master key file', p_master_key_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'A key in hublink.master_key_file is not destroyed.',
                  HINT = 'Remove its line from the file and from every copy of the file, reload, then call this again.';
    END IF;
    UPDATE hublink.data_key_master x
       SET destroyed_at = pg_catalog.clock_timestamp(), destroyed_by = session_user,
           retired_at = coalesce(x.retired_at, pg_catalog.clock_timestamp())
     WHERE x.master_key_id = p_master_key_id
    RETURNING * INTO g;
    PERFORM hublink.audit_note('master_key_destroyed', NULL,
        pg_catalog.jsonb_build_object('master_key_id', p_master_key_id, 'first_used_at', g.first_used_at,
            'erasures_completed', (SELECT pg_catalog.count(*) FROM hublink.data_key_erasure e
                                    WHERE e.complete_since = g.destroyed_at)));
    RETURN g.destroyed_at;
END;
$$;
COMMENT ON FUNCTION hublink.master_key_destroyed(text) IS
    'Records that a retired master key is destroyed: gone from hublink.master_key_file (checked) '
    'and, on the admin''s word, from every copy of the key file. Refused while a data key is '
    'wrapped by it or the file holds it. Completes the erasures of hublink.data_key_erasure that '
    'waited on it; audited (master_key_destroyed). Returns when. For hublink_admin.';
-- An escort erased at an escort provider is logged in purge_log too, so the view tracks it.
-- hublink.esp_erase_escort, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_erase_escort(p_escort_id text, p_reason text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tz constant text := hublink.esp_setting('date_time_zone');
    wrapped_by text;
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.esp_escort e WHERE e.escort_id = p_escort_id) THEN
        RAISE EXCEPTION 'escort % does not exist', p_escort_id
            USING ERRCODE = 'no_data_found', DETAIL = 'Only an escort of hublink.esp_escort can be erased.',
                  HINT = 'Check the escort ID.';
    END IF;
    IF EXISTS (SELECT FROM hublink.esp_duty d JOIN hublink.esp_booking k USING (booking_id)
                WHERE d.escort_id = p_escort_id AND k.status = 'ACTIVE'
                  AND d.duty_date >= (pg_catalog.now() AT TIME ZONE tz)::date) THEN
        RAISE EXCEPTION 'escort % is on duty for an active booking', p_escort_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The booking would lose the name and passport it sent to the Home Office.',
                  HINT = 'Replace the escort first with hublink.esp_change_escort.';
    END IF;
    PERFORM hublink.audit_note('escort_erased', NULL,
        pg_catalog.jsonb_build_object('escort_id', p_escort_id, 'key_scope', 'escort ' || p_escort_id, 'reason', p_reason));
    -- Not escorting any more; the row stays for the history of bookings (esp_booking_escort).
    UPDATE hublink.esp_escort e SET active = false WHERE e.escort_id = p_escort_id;
    DELETE FROM hublink.esp_roster r
     WHERE r.escort_id = p_escort_id AND NOT EXISTS (SELECT FROM hublink.esp_duty d
                                                      WHERE d.escort_id = r.escort_id AND d.duty_date = r.duty_date);
    DELETE FROM hublink.esp_escort_personal p WHERE p.escort_id = p_escort_id;
    -- Crypto-shredding: the sealed sex left in esp_escort can no longer be decrypted here; copies
    -- made before (backups, WAL) once the master keys in use are destroyed. Logged like a
    -- removal's purge, so hublink.data_key_erasure tracks that condition for it too.
    DELETE FROM hublink.data_key k WHERE k.key_scope = 'escort ' || p_escort_id
    RETURNING k.master_key_id INTO wrapped_by;
    INSERT INTO hublink.purge_log (removal_reference, data_class, reason, removed)
    VALUES ('escort ' || p_escort_id, 'escort', coalesce(nullif(p_reason, ''), 'escort erased'),
            pg_catalog.jsonb_build_object('data_keys_destroyed', (wrapped_by IS NOT NULL)::integer,
                'master_key_ids', CASE WHEN wrapped_by IS NULL THEN '[]'::jsonb
                                       ELSE pg_catalog.jsonb_build_array(wrapped_by) END));
END;
$$;
COMMENT ON FUNCTION hublink.esp_erase_escort(text, text) IS
    'The provider erases an escort who left (its staff data policy): audited (escort_erased), the '
    'escort made inactive, its free roster days and its name and passport deleted, and its data '
    'key destroyed, so its sealed sex is unreadable here at once, and in older copies once the '
    'master keys in use are destroyed (logged in hublink.purge_log, class escort; '
    'hublink.data_key_erasure). Refused while the escort is on duty for an active booking from '
    'today on. Granted to hublink_admin.';
-- The purges record the ids of the master keys that wrapped the keys they destroy.
-- hublink.purge_personal_data: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.purge_message_days, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.purge_message_days(p_policy hublink.retention_policy) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cutoff constant timestamptz := pg_catalog.now() - pg_catalog.make_interval(days => p_policy.retain_days);
    k      record;
    n_in   bigint;
    n_out  bigint;
    n      integer := 0;
    wrapped_by text;
BEGIN
    -- Every message whose key belongs to no removal here: a day's ("messages <date>"), or a
    -- reference no removal has (rejected as unknown), which no removal's purge would reach.
    DELETE FROM hublink.inbox i
     WHERE i.processed_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(i.key_scope, i.removal_id));
    DELETE FROM hublink.outbox o
     WHERE o.sent_at IS NOT NULL AND o.created_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(o.key_scope, o.removal_id));
    -- The keys: each day's once the day is past the period, each orphan reference's once it was
    -- made before the cutoff; and only when no row of theirs is left.
    FOR k IN SELECT x.key_scope, x.ended AS day_end
               FROM (SELECT d.key_scope,
                            (pg_catalog.substr(d.key_scope, 10)::date + 1)::timestamp AT TIME ZONE 'UTC' AS ended
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^messages [0-9]{4}-[0-9]{2}-[0-9]{2}$'
                     UNION ALL
                     SELECT d.key_scope, d.created_at
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^RMV-[0-9]{4}-[0-9]{6}$' -- as hublink.message_key_scope
                        AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = d.key_scope)) x
              WHERE x.ended <= cutoff
              ORDER BY 1 LOOP
        CONTINUE WHEN EXISTS (SELECT FROM hublink.inbox i WHERE i.key_scope = k.key_scope)
                   OR EXISTS (SELECT FROM hublink.outbox o WHERE o.key_scope = k.key_scope);
        PERFORM hublink.audit_note('purge', NULL,
            pg_catalog.jsonb_build_object('key_scope', k.key_scope, 'data_class', p_policy.data_class,
                                          'retain_days', p_policy.retain_days, 'reason', 'retention'));
        DELETE FROM hublink.data_key d WHERE d.key_scope = k.key_scope RETURNING d.master_key_id INTO wrapped_by;
        INSERT INTO hublink.purge_log (removal_reference, data_class, retain_days, closed_at, reason, removed)
        VALUES (k.key_scope, p_policy.data_class, p_policy.retain_days, k.day_end, 'retention',
                pg_catalog.jsonb_build_object('data_keys_destroyed', 1,
                                              'master_key_ids', pg_catalog.jsonb_build_array(wrapped_by)));
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.purge_message_days(hublink.retention_policy) IS
    'The messages retention of messages that named no removal, or a removal reference no removal '
    'here has (rejected as unknown): deletes them after the period, and destroys the data key of '
    'each day ("messages <YYYY-MM-DD>") past the period and of each such reference made before it, '
    'once no row of it is left, audited (purge) and logged (purge_log, the key scope as '
    'removal_reference). Returns the number of keys destroyed. Internal to hublink.retention_purge.';
COMMENT ON COLUMN hublink.purge_log.removal_reference IS
    'The removal purged; for messages that named no removal, the day key destroyed ("messages '
    '<YYYY-MM-DD>"); for an escort erased at an escort provider, its key ("escort <id>").';
COMMENT ON COLUMN hublink.purge_log.data_class IS
    'The class purged (hublink.retention_policy), or escort for hublink.esp_erase_escort.';
REVOKE ALL ON FUNCTION hublink.master_key_destroyed(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.master_key_destroyed(text) TO hublink_admin;
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/40_backup_restore.sql
-- 0.2.0: backup and restore that is exact (issue 13 section 1; docs/operations.md "Backup and
-- restore"; sql/parts/97_backup.sql): every table but the product tables of
-- hublink.backup_exclusion is dumped whole with its sequences; a restore with
-- hublink.restoring = on empties what CREATE EXTENSION shipped, writes and seals no audit row
-- and loads no shipped schema; the role hublink_backup takes the dumps.

-- The audit triggers and the schema loader stay quiet while a dump is restored.
-- hublink.audit_seal_needed: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.audit_row_change: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.audit_truncate, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.audit_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('hublink.restoring', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO hublink.audit_log (role_name, action, table_name)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            'truncate', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.audit_truncate() IS
    'Statement trigger of every audited table: one hublink.audit_log row for a TRUNCATE '
    '(none while a dump is restored: hublink.restoring).';
-- hublink.install_shipped_schema, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.install_shipped_schema(schema_name text, schema jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    message_type text;
BEGIN
    -- A restore brings the schemas as they were in the dump (hublink.restore_prepare).
    IF pg_catalog.current_setting('hublink.restoring', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT t.message_type INTO message_type
      FROM hublink.message_type t WHERE t.schema_name = install_shipped_schema.schema_name;
    IF message_type IS NULL THEN
        IF NOT EXISTS (SELECT FROM hublink.schema_document d
                        WHERE d.uri = schema->>'$id' AND d.document = schema) THEN
            PERFORM hublink.register_schema_document(schema->>'$id', schema);
        END IF;
    ELSE
        -- The version is the last segment of the $id: https://.../schemas/<name>/<version>
        INSERT INTO hublink.message_schema AS m (message_type, schema_version, schema)
        VALUES (message_type, substring(schema->>'$id' from '/([0-9]+\.[0-9]+)$'), schema)
        ON CONFLICT ON CONSTRAINT message_schema_pkey
        DO UPDATE SET schema = excluded.schema, registered_at = now(), registered_by = current_user
        WHERE m.schema IS DISTINCT FROM excluded.schema;
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.install_shipped_schema(text, jsonb) IS
    'Used by the install and update scripts to load the schemas shipped in schemas/: adds a new '
    'one, replaces a changed one, leaves an unchanged one alone. Does nothing while a dump is '
    'restored (hublink.restoring): the dump holds the schemas.';

-- sql/parts/97_backup.sql is wholly new in 0.2.0: the build copies it verbatim (the table of
-- product tables, backup_register, restore_prepare, the role hublink_backup).
-- sql/parts/97_backup.sql, verbatim (a part wholly new in this version)
-- Backup and restore (issue 13 section 1; docs/operations.md "Backup and restore").
--
-- pg_dump writes an extension's tables only if they are registered with
-- pg_extension_config_dump; everything else comes back from CREATE EXTENSION. The rule here is
-- the reverse of a list of site tables: every table of schema hublink is the site's and is
-- dumped whole, rows and sequences, except the product tables of hublink.backup_exclusion,
-- whose rows are the code's (what the install ships and only an upgrade changes). A table a
-- later part adds is therefore dumped unless someone says why not.
--
-- A table that ships rows the site may edit, delete or add to (reason codes, timer rules, engine
-- settings, the message schemas) is dumped whole too, shipped rows included. A restore must then
-- not keep the rows the new CREATE EXTENSION shipped: with hublink.restoring on (a superuser-only
-- setting, extension/restoring.c) the install empties every dumped table at its end
-- (hublink.restore_prepare) and the shipped schemas are not loaded, so COPY brings the rows
-- exactly as they were: an edited shipped row keeps its edit, a deleted one stays deleted, a
-- site row comes back once. A WHERE condition on pg_extension_config_dump (dump only the site's
-- rows) could not keep edits or deletions of shipped rows, so it is not used.
--
-- The restore runs with session_replication_role = replica as well: the business triggers
-- (timers, MI marks, sealing, reference-list announcements) and the foreign key checks are
-- ENABLE ORIGIN and do not fire over restored rows; the audit triggers are ENABLE ALWAYS and
-- write and seal nothing while hublink.restoring is on, so the audit trail comes back as the
-- chain it was, and hublink.verify_audit checks it against an anchor taken at backup time.

CREATE TABLE hublink.backup_exclusion (
    table_name text PRIMARY KEY,
    reason     text NOT NULL
);
COMMENT ON TABLE hublink.backup_exclusion IS
    'Tables of schema hublink that pg_dump leaves out (reference data): product tables whose rows '
    'the install ships and no site role or function changes, so CREATE EXTENSION recreates them '
    'exactly. Every other table is registered with pg_extension_config_dump by '
    'hublink.backup_register() (docs/operations.md "What a dump holds").';
COMMENT ON COLUMN hublink.backup_exclusion.table_name IS 'Table name in schema hublink.';
COMMENT ON COLUMN hublink.backup_exclusion.reason IS 'Why its rows are the code''s, not the site''s.';
INSERT INTO hublink.backup_exclusion VALUES
    ('backup_exclusion', 'This list: the code''s.'),
    ('access_class', 'The access policy''s classes (91_access_policy.sql).'),
    ('access_grant', 'The access policy: what each group role gets (91_access_policy.sql).'),
    ('access_public_function', 'The functions PUBLIC may run (91_access_policy.sql).'),
    ('access_table_override', 'The access policy''s exceptions (91_access_policy.sql).'),
    ('audit_action', 'The actions an audit row may record (70_audit.sql).'),
    ('audit_exclusion', 'Which tables are not audited (71_audit_rows.sql).'),
    ('audit_table_rule', 'How inserts of some tables are audited (71_audit_rows.sql).'),
    ('sealed_table', 'Which tables hold sealed personal data and how (74_crypto_seal.sql).'),
    ('message_type', 'The message types of the interface and their queues (20_schema_registry.sql).'),
    ('party', 'The three parties of the interface.'),
    ('reason_code_location', 'Where each message type carries a reason code (42_reference_codes.sql).'),
    ('inbox_status', 'The states of an inbound message.'),
    ('enqueue_time_source', 'Where an inbound message''s enqueue time came from.'),
    ('alert_severity', 'The severities of an alert.'),
    ('alert_kind', 'The kinds of alert each part raises.'),
    ('logon_outcome', 'The outcomes of a logon.'),
    ('security_event_kind', 'The kinds of security event and their alerts.'),
    ('timer_status', 'The states of a timer.'),
    ('timer_kind_party', 'Which party keeps timers of each kind.'),
    ('esp_booking_status', 'The states of an escort booking.'),
    ('esp_fee_kind', 'What an ESP fee rule charges for.'),
    ('esp_place_kind', 'Where an escort segment starts or ends.'),
    ('tsp_tig_rule_kind', 'The kinds of Travel Information Guide rule quoting enforces.'),
    ('export_format', 'The formats hublink.export_mi writes.'),
    ('report_granularity', 'The periods hublink.mi_volume counts in.'),
    ('rollup_mi_source', 'The MI rollup''s source tables and the SQL a change runs (85_mi_rollup.sql): code.');

CREATE FUNCTION hublink.backup_register() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel regclass;
    n   integer := 0;
BEGIN
    -- Tables: every one of the schema but the product tables, whole (no WHERE condition).
    FOR rel IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
                WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
                  AND NOT c.relispartition
                  AND c.relname NOT IN (SELECT x.table_name FROM hublink.backup_exclusion x)
                ORDER BY c.relname LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
        n := n + 1;
    END LOOP;
    -- Sequences: those owned by a dumped table (serial and identity columns) and those owned by
    -- none (hublink.removal_serial), so restored rows and new ones never share a key.
    FOR rel IN SELECT s.oid::regclass FROM pg_catalog.pg_class s
                WHERE s.relnamespace = 'hublink'::regnamespace AND s.relkind = 'S'
                  AND NOT EXISTS (
                      SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
                       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND t.relname IN (SELECT x.table_name FROM hublink.backup_exclusion x))
                ORDER BY s.relname LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.backup_register() IS
    'Registers with pg_extension_config_dump every table of schema hublink not in '
    'hublink.backup_exclusion (all rows) and the sequences they own, and the sequences no table '
    'owns. Only callable from the install or update script (pg_extension_config_dump refuses '
    'otherwise); run by 97_backup.sql and by any later part or update that adds tables. Returns '
    'the number of tables.';
REVOKE ALL ON FUNCTION hublink.backup_register() FROM PUBLIC;

CREATE FUNCTION hublink.restore_prepare() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel regclass;
    n   integer := 0;
BEGIN
    IF pg_catalog.current_setting('hublink.restoring') <> 'on' THEN
        -- pg_restore names itself in application_name: a restore without the restore settings
        -- would duplicate the shipped rows, write a new audit chain and run the business
        -- triggers over the restored rows. Refuse before anything is loaded.
        IF pg_catalog.current_setting('application_name') = 'pg_restore' THEN
            RAISE EXCEPTION 'restoring hublink needs hublink.restoring = on and session_replication_role = replica'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Without them the restored rows would meet the rows CREATE EXTENSION ships, '
                               'the audit chain would be rebuilt and the triggers would run again.',
                      HINT = 'Run pg_restore with PGOPTIONS=''-c hublink.restoring=on -c session_replication_role=replica'' '
                             'as a superuser (docs/operations.md "Restore").';
        END IF;
        RETURN 0;
    END IF;
    IF pg_catalog.current_setting('session_replication_role') <> 'replica' THEN
        RAISE EXCEPTION 'hublink.restoring needs session_replication_role = replica'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The timer, MI and sealing triggers would run again over the restored rows.',
                  HINT = 'Add -c session_replication_role=replica to PGOPTIONS (docs/operations.md "Restore").';
    END IF;
    -- The audit triggers wrote nothing during this install; the dump brings the chain.
    IF EXISTS (SELECT FROM hublink.audit_log) OR EXISTS (SELECT FROM hublink.audit_chain) THEN
        RAISE EXCEPTION 'the audit trail of a database being restored is not empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The restored chain must be the only chain.',
                  HINT = 'Restore into a new, empty database (docs/operations.md "Restore").';
    END IF;
    -- The rows CREATE EXTENSION shipped into dumped tables make way for the dump's. Replica
    -- mode: no foreign key check or cascade, no trigger but the audit's (quiet while restoring).
    FOR rel IN SELECT c.oid::regclass FROM pg_catalog.pg_extension e
                CROSS JOIN LATERAL pg_catalog.unnest(e.extconfig) AS x(oid)
                JOIN pg_catalog.pg_class c ON c.oid = x.oid
               WHERE e.extname = 'hublink' AND c.relkind IN ('r', 'p')
                 AND c.relname NOT IN ('audit_log', 'audit_chain')
               ORDER BY c.relname LOOP
        EXECUTE pg_catalog.format('DELETE FROM %s', rel);
        n := n + 1;
    END LOOP;
    -- Visible to protective monitoring: the audit triggers were quiet in this session.
    PERFORM hublink.record_security_event('database_restored', pg_catalog.jsonb_build_object(
        'database', pg_catalog.current_database(), 'session_user', session_user::text,
        'backend_pid', pg_catalog.pg_backend_pid(), 'client_addr', pg_catalog.inet_client_addr()::text));
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.restore_prepare() IS
    'Run at the end of CREATE EXTENSION hublink. With hublink.restoring on (pg_restore, docs/operations.md): '
    'requires session_replication_role = replica and an empty audit trail, empties every table '
    'pg_dump dumps so the dump''s rows replace the shipped ones, and records a security event '
    'database_restored. Off: refuses when the client is pg_restore (a restore without the '
    'settings), else does nothing. Returns the number of tables emptied.';
REVOKE ALL ON FUNCTION hublink.restore_prepare() FROM PUBLIC;

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('database_restored', NULL, 'A dump was restored with hublink.restoring on: the audit triggers were quiet in that session');

-- The role backups are taken as (docs/operations.md "The backup role"): reads every row of the
-- database, personal data only sealed, and writes nothing. BYPASSRLS is a role attribute that
-- membership does not pass on, so pg_dump runs with --role=hublink_backup; a login holding it
-- (NOINHERIT) has no privilege of its own. NOLOGIN: nobody logs in as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_backup') THEN
        CREATE ROLE hublink_backup NOLOGIN BYPASSRLS;
    END IF;
END;
$$;
GRANT pg_read_all_data TO hublink_backup;

-- The table above gets its grants like every table (93_access_apply.sql ran before it).
SELECT hublink.apply_access_policy();
SELECT hublink.backup_register();
SELECT hublink.restore_prepare();
-- end of sql/parts/97_backup.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
SELECT hublink.backup_register();

-- from sql/updates/0.1.0--0.2.0/50_tests.sql
-- 0.2.0: hublink.schema_cache_stats(), the counters of a backend's compiled-schema cache, so a
-- test tells a cache hit from a recompile (issue 18 section 4).
-- hublink.schema_cache_stats, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.schema_cache_stats(OUT registry_loads bigint, OUT message_compiles bigint,
                                           OUT message_hits bigint)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_schema_cache_stats';
COMMENT ON FUNCTION hublink.schema_cache_stats() IS
    'This backend''s compiled-schema cache since it started: how often the registry was loaded '
    '(after a start or a registry change), how many message schemas were compiled, and how many '
    'were found already compiled. Tells a cache hit from a recompile (test/sql/05_cache_across_backends.sql).';
SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/60_hot_path.sql
-- 0.2.0: the message hot path (issue 15). Functions the worker calls on every message are
-- PL/pgSQL rather than SQL (a SQL function with SET or SECURITY DEFINER is parsed and planned
-- again in every subtransaction; PL/pgSQL keeps its plans for the session).
-- hublink.removal_access_allowed: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.message_key_scope, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.message_key_scope(p_message jsonb, p_at timestamptz) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN CASE WHEN p_message ->> 'removalId' ~ '^RMV-[0-9]{4}-[0-9]{6}$' THEN p_message ->> 'removalId'
                ELSE 'messages ' || pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END;
END;
$$;
COMMENT ON FUNCTION hublink.message_key_scope(jsonb, timestamptz) IS
    'The data key sealing an inbox or outbox row: the envelope''s removalId when it is a removal '
    'reference, else "messages <YYYY-MM-DD>", the UTC day p_at the row was stored.';
-- hublink.seal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.seal(p_scope text, p_value jsonb) RETURNS bytea
    LANGUAGE plpgsql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.crypto_encrypt(pg_catalog.convert_to(p_value::text, 'UTF8'),
                                  hublink.data_key_for(p_scope, true));
END;
$$;
COMMENT ON FUNCTION hublink.seal(text, jsonb) IS
    'Seals a JSON value under the data key of p_scope (made on first use). Internal: the seal '
    'triggers call it.';
-- hublink.reason_code_valid, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.reason_code_valid(list text, code text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN EXISTS (SELECT FROM hublink.reason_code r
                    WHERE r.list = reason_code_valid.list AND r.code = reason_code_valid.code
                      AND r.active);
END;
$$;
COMMENT ON FUNCTION hublink.reason_code_valid(text, text) IS
    'True when code is an active code of the reason list.';
-- hublink.reason_code_problems, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.reason_code_problems(message jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'instanceLocation', v.pointer || '/code',
                       'keywordLocation', '',
                       'error', format('reason code "%s" is not in the %s list',
                                       v.value ->> 'code', l.list))
                       ORDER BY v.pointer), '[]')
              FROM hublink.reason_code_location l,
                   hublink.json_pointer_values(message, (string_to_array(l.path, '/'))[2:]) v
             WHERE l.message_type = message ->> 'messageType'
               AND NOT hublink.reason_code_valid(l.list, v.value ->> 'code'));
END;
$$;
COMMENT ON FUNCTION hublink.reason_code_problems(jsonb) IS
    'The reason codes of a message that are not active codes of their list '
    '(hublink.reason_code_location), as Error message problems; [] when all are.';

-- hublink.reason_code_problems once per message: hublink.handle_message checks the codes and
-- applies through conversation_apply_codes_checked, which does not check them again.
-- hublink.conversation_apply_codes_checked, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.conversation_apply_codes_checked(message jsonb, direction text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    ref     text := message ->> 'removalId';
    event   text := hublink.message_event(message);
    rid     bigint;
BEGIN
    IF ref IS NULL THEN
        PERFORM hublink.impossible('/removalId', 'the message names no removal');
    END IF;
    SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    IF NOT FOUND THEN
        IF party = 'hub' OR direction <> 'in' THEN
            PERFORM hublink.impossible('/removalId', format('removal "%s" is unknown', ref));
        END IF;
        -- a provider hears of a removal first through a message of the Hub
        INSERT INTO hublink.removal (removal_reference, state)
        VALUES (ref, NULL)
        ON CONFLICT (removal_reference) DO NOTHING;
        SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    END IF;
    PERFORM hublink.transition(rid, event, direction, message ->> 'messageId');
    PERFORM hublink.record_message_rows(rid, message, direction);
    PERFORM hublink.confirm_if_booked(rid);
    RETURN rid;
END;
$$;
COMMENT ON FUNCTION hublink.conversation_apply_codes_checked(jsonb, text) IS
    'hublink.conversation_apply without the reason-code check, for a caller that made it '
    '(hublink.handle_message). Granted as hublink.conversation_apply is (an invoker''s function: '
    'the caller''s own rights on the domain tables apply).';
-- hublink.conversation_apply, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.conversation_apply(message jsonb, direction text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb;
BEGIN
    IF message ->> 'removalId' IS NULL THEN
        PERFORM hublink.impossible('/removalId', 'the message names no removal');
    END IF;
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) > 0 THEN
        PERFORM hublink.impossible(problems -> 0 ->> 'instanceLocation', problems -> 0 ->> 'error');
    END IF;
    RETURN hublink.conversation_apply_codes_checked(message, direction);
END;
$$;
COMMENT ON FUNCTION hublink.conversation_apply(jsonb, text) IS
    'Applies one message (direction in or out) to its removal: checks its reason codes, moves '
    'the state machines (hublink.transition), records its rows (hublink.record_message_rows) '
    'and, at the Hub, confirms the removal when every booking is. A provider creates the '
    'removal when the first message of the Hub arrives. Raises HL001 or HL002 as '
    'hublink.transition. Returns the removal_id.';
-- hublink.handle_message: defined once, at the mention that needs it (docs/upgrades.md)

-- A handler's rejection is read from its inbox row (bgworker/inbox.c): no flag, so
-- reject_message no longer calls hublink.note_handler_rejection, which goes.
-- hublink.reject_message: defined once, at the mention that needs it (docs/upgrades.md)
DROP FUNCTION hublink.note_handler_rejection();

-- Sub-second SLA times: the worker publishes the enqueue time in microseconds beside the AMQP
-- timestamp (whole seconds), and records it as this source (bgworker/broker.c, inbox.c).
INSERT INTO hublink.enqueue_time_source VALUES
    ('amqp-timestamp-us', 'The AMQP timestamp to the microsecond, from the header hublink-enqueued-us that a '
                          'hublink worker publishes beside it (used only when it falls within the timestamp''s second).');

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/61_inbox_home.sql
-- 0.2.0: the inbox's one home (issue 15 section 2). Every change of an inbox row is a function
-- of 38_inbox_state.sql; the worker calls them (bgworker/inbox.c) and writes no inbox SQL of its
-- own, and a handler's rejection goes through hublink.inbox_handler_rejected.
-- hublink.inbox_store_applied, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_store_applied(p_queue text, p_message jsonb, p_enqueued_at timestamptz,
                                            p_enqueued_at_source text, p_received_at timestamptz,
                                            p_redelivered boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO hublink.inbox (queue, message, status, attempts, enqueued_at, enqueued_at_source,
                               received_at, redelivered)
    VALUES (p_queue, p_message, 'applied', 1, p_enqueued_at, p_enqueued_at_source, p_received_at,
            p_redelivered)
    ON CONFLICT ON CONSTRAINT inbox_message_id_key DO NOTHING
    RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) IS
    'Stores a valid delivery as applied, before its handler runs in the same subtransaction; '
    'returns its inbox id, NULL when its messageId is already in the inbox (nothing stored: see '
    'hublink.inbox_duplicate). Used by the worker.';
-- hublink.inbox_retry_applied, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_retry_applied(p_inbox_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.inbox i
       SET status = 'applied', attempts = i.attempts + 1, last_error = NULL, next_attempt_at = NULL,
           processed_at = now(), sealed = NULL
     WHERE i.id = p_inbox_id AND i.status = 'retrying';
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_retry_applied(bigint) IS
    'Marks a retrying inbox message applied once a retry''s handler returned, dropping its error '
    'and the sealed copy of it. False when the row is not retrying: the handler rejected it '
    '(hublink.reject_message), and it stays rejected. Used by the worker.';
-- hublink.inbox_handler_rejected, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.inbox_handler_rejected(p_message jsonb, p_problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_queue text;
BEGIN
    UPDATE hublink.inbox i
       SET status = 'rejected', problems = p_problems, next_attempt_at = NULL,
           last_error = p_problems -> 0 ->> 'error'
     WHERE i.message_id = p_message ->> 'messageId'
    RETURNING i.queue INTO v_queue;
    RETURN v_queue;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_handler_rejected(jsonb, jsonb) IS
    'Marks the inbox row of a message its handler rejects as rejected, with the problems; returns '
    'the queue it came from, NULL when the message is not in the inbox (a handler called by hand). '
    'Called by hublink.reject_message, which writes the Error.';
-- hublink.reject_message, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.reject_message(message jsonb, problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q text;
BEGIN
    -- The row's change is the inbox's (38_inbox_state.sql); the worker reads it from the row.
    q := hublink.inbox_handler_rejected(reject_message.message, reject_message.problems);
    IF q IS NULL THEN
        SELECT t.queue INTO q FROM hublink.message_type t
         WHERE t.message_type = reject_message.message ->> 'messageType';
    END IF;
    RETURN hublink.enqueue_error(q, reject_message.message, reject_message.problems);
END;
$$;
COMMENT ON FUNCTION hublink.reject_message(jsonb, jsonb) IS
    'Marks an inbound message rejected in hublink.inbox (when it is there) and writes its Error '
    'message for <queue>-error with the problems. Returns the Error''s messageId.';

-- The compensating trigger goes: hublink.inbox_retry_applied clears the sealed error itself.
DROP TRIGGER inbox_applied_clears_error ON hublink.inbox;
DROP FUNCTION hublink.inbox_applied_clears_error();

-- One dispatch table: the responders of hublink.message_responder become a column of
-- hublink.message_handler, which now holds site data (a provider engine's switch) and is dumped.
ALTER TABLE hublink.message_handler
    ADD COLUMN responder regprocedure,
    ADD COLUMN responder_description text,
    ADD CONSTRAINT message_handler_check CHECK (responder IS NOT NULL OR responder_description IS NULL);
COMMENT ON COLUMN hublink.message_handler.responder IS
    'Optional: a function called as responder(message jsonb) after hublink.handle_message applied '
    'the message to its conversation, in the same transaction (e.g. a provider''s booking logic '
    'answering a request with hublink.send_message); its result is ignored. NULL: the message is '
    'only applied, and a party answers by hand (docs/hub.md). Other handlers do not call it. '
    'Set by hublink.tsp_auto_answer and hublink.esp_auto_answer; only the owner writes it '
    '(docs/security-access.md "Code stored as data").';
COMMENT ON COLUMN hublink.message_handler.responder_description IS 'What the responder does.';
UPDATE hublink.message_handler h
   SET responder = r.responder, responder_description = r.description
  FROM hublink.message_responder r
 WHERE r.message_type = h.message_type;
DO $$
BEGIN
    -- A responder of a type no handler row names was never called (only hublink.handle_message
    -- calls responders); say so rather than drop it in silence.
    IF EXISTS (SELECT FROM hublink.message_responder r
                WHERE NOT EXISTS (SELECT FROM hublink.message_handler h WHERE h.message_type = r.message_type)) THEN
        RAISE WARNING 'hublink.message_responder rows of message types without a handler were not kept: %',
            (SELECT string_agg(r.message_type || ' ' || r.responder::text, ', ')
               FROM hublink.message_responder r
              WHERE NOT EXISTS (SELECT FROM hublink.message_handler h WHERE h.message_type = r.message_type));
    END IF;
END;
$$;
DROP FUNCTION hublink.set_engine_responders(text, text, hublink.message_responder[], boolean);
-- Out of the extension first: that also takes it off pg_dump's list (extconfig), which a
-- plain DROP TABLE leaves naming a table that is gone.
ALTER EXTENSION hublink DROP TABLE hublink.message_responder;
DROP TABLE hublink.message_responder;
CREATE TYPE hublink.engine_responder AS (
    message_type text,
    responder    regprocedure,
    description  text
);
COMMENT ON TYPE hublink.engine_responder IS
    'One responder a provider engine registers (hublink.set_engine_responders): the inbound '
    'message type, the function that answers it, and what it does.';
-- hublink.set_engine_responders, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.set_engine_responders(p_party text, p_requests text,
                                              p_wanted hublink.engine_responder[], p_enabled boolean)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    other text;
    n     integer;
BEGIN
    IF NOT coalesce(p_enabled, false) THEN
        -- Only the engine's responders: one someone else registered for these types stays.
        UPDATE hublink.message_handler m SET responder = NULL, responder_description = NULL
          FROM unnest(p_wanted) t
         WHERE m.message_type = t.message_type AND m.responder = t.responder;
        RETURN 0;
    END IF;
    IF hublink.current_party() <> p_party THEN
        RAISE EXCEPTION 'only the % answers % requests automatically',
                        (SELECT lower(x.name) FROM hublink.party x WHERE x.party = p_party), p_requests
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('hublink.party is "%s".', hublink.current_party()),
                  HINT = format('Set hublink.party to %s in postgresql.conf, or answer by hand with hublink.send_message.', p_party);
    END IF;
    SELECT string_agg(format('%s (%s)', m.message_type, m.responder), ', ' ORDER BY m.message_type) INTO other
      FROM hublink.message_handler m JOIN unnest(p_wanted) t USING (message_type)
     WHERE m.responder <> t.responder;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'another responder answers some % requests', p_requests
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Registered in hublink.message_handler.responder: %s.', other),
                  HINT = 'Set those responders of hublink.message_handler to NULL first if the engine should answer instead.';
    END IF;
    UPDATE hublink.message_handler m SET responder = t.responder, responder_description = t.description
      FROM unnest(p_wanted) t
     WHERE m.message_type = t.message_type;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.set_engine_responders(text, text, hublink.engine_responder[], boolean) IS
    'Registers (p_enabled) or removes a provider engine''s responders in '
    'hublink.message_handler.responder. Enabling needs hublink.party = p_party '
    '(object_not_in_prerequisite_state) and refuses to replace another responder of those types '
    '(unique_violation); disabling removes only the engine''s responders. Returns the responders '
    'registered, or 0 when disabled. p_requests names the requests in messages ("travel", "escort").';
REVOKE ALL ON FUNCTION hublink.set_engine_responders(text, text, hublink.engine_responder[], boolean) FROM PUBLIC;
-- hublink.tsp_auto_answer, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_auto_answer(enabled boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- The engine's responders, one per inbound message type of the tsp.
    wanted constant hublink.engine_responder[] := ARRAY[
        ('TravelQuoteRequest', 'hublink.tsp_answer_quote_request(jsonb)',
         'tsp: quote with hublink.tsp_quote, send the TravelQuoteResponse (hublink.tsp_auto_answer).'),
        ('TravelBookingRequest', 'hublink.tsp_answer_booking_request(jsonb)',
         'tsp: book with hublink.tsp_book, send the TravelBookingResponse (hublink.tsp_auto_answer).'),
        ('TravelAmendment', 'hublink.tsp_answer_amendment(jsonb)',
         'tsp: amend with hublink.tsp_amend, send the TravelUpdate (hublink.tsp_auto_answer).'),
        ('TravelCancellation', 'hublink.tsp_answer_cancellation(jsonb)',
         'tsp: cancel with hublink.tsp_cancel, send the TravelUpdate (hublink.tsp_auto_answer).')
    ]::hublink.engine_responder[];
BEGIN
    RETURN hublink.set_engine_responders('tsp', 'travel', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_auto_answer(boolean) IS
    'Makes the travel provider answer automatically (true, the default) or by hand again '
    '(false): registers or removes the engine''s responders in hublink.message_handler.responder for '
    'TravelQuoteRequest, TravelBookingRequest, TravelAmendment and TravelCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = tsp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s responders. Returns the number of responders registered (4), or 0 when disabled.';
-- hublink.esp_auto_answer, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.esp_auto_answer(enabled boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wanted constant hublink.engine_responder[] := ARRAY[
        ('EscortQuoteRequest', 'hublink.esp_answer_quote_request(jsonb)',
         'esp: quote with hublink.esp_quote, send the EscortQuoteResponse (hublink.esp_auto_answer).'),
        ('EscortBookingRequest', 'hublink.esp_answer_booking_request(jsonb)',
         'esp: book with hublink.esp_book, send the EscortBookingResponse (hublink.esp_auto_answer).'),
        ('EscortAmendment', 'hublink.esp_answer_amendment(jsonb)',
         'esp: amend with hublink.esp_amend, send the EscortUpdate (hublink.esp_auto_answer).'),
        ('EscortCancellation', 'hublink.esp_answer_cancellation(jsonb)',
         'esp: cancel with hublink.esp_cancel, send the EscortUpdate (hublink.esp_auto_answer).')
    ]::hublink.engine_responder[];
BEGIN
    RETURN hublink.set_engine_responders('esp', 'escort', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.esp_auto_answer(boolean) IS
    'Makes the escort provider answer automatically (true, the default) or by hand again (false): '
    'registers or removes the engine''s responders in hublink.message_handler.responder for '
    'EscortQuoteRequest, EscortBookingRequest, EscortAmendment and EscortCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = esp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s responders. Returns the number of responders registered (4), or 0 when disabled.';
-- hublink.handle_message, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.handle_message(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems  jsonb;
    errtext   text;
    pointer   text;
    responder regprocedure;
BEGIN
    -- Once per message: the codes checked here are not checked again.
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) = 0 THEN
        BEGIN
            PERFORM hublink.conversation_apply_codes_checked(message, 'in');
            -- the one dispatch table: the worker found the handler there, this its responder
            SELECT h.responder INTO responder FROM hublink.message_handler h
             WHERE h.message_type = message ->> 'messageType';
            IF responder IS NOT NULL THEN
                EXECUTE format('SELECT %s($1)', responder::regproc) USING message;
            END IF;
            RETURN;
        EXCEPTION WHEN SQLSTATE 'HL001' THEN
            GET STACKED DIAGNOSTICS errtext = MESSAGE_TEXT, pointer = COLUMN_NAME;
            problems := jsonb_build_array(jsonb_build_object(
                'instanceLocation', coalesce(nullif(pointer, ''), '/messageType'),
                'keywordLocation', '', 'error', errtext));
        END;
    END IF;
    PERFORM hublink.reject_message(message, problems);
END;
$$;
COMMENT ON FUNCTION hublink.handle_message(jsonb) IS
    'The handler of every inbound message type (hublink.message_handler): applies the message '
    'to its conversation (hublink.conversation_apply). A message impossible in the '
    'conversation (HL001: wrong state, unknown reference, reason code not in its list) is '
    'rejected at once to <queue>-error with the reason; a premature one (HL002) and any other '
    'error propagate, so the worker retries it. Then the responder of hublink.message_handler '
    'for its type, if any, answers it in the same transaction (an HL001 it raises rejects the '
    'message too). SECURITY DEFINER: the worker''s role (hublink_worker) reads no removal data '
    'itself, it applies messages only through this function.';
DELETE FROM hublink.backup_exclusion WHERE table_name = 'message_handler';
SELECT hublink.backup_register();

-- The grants of 91_access_policy.sql for what this part adds (an @function line brings the
-- definition and comment, not the REVOKE).
REVOKE ALL ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_retry_applied(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_handler_rejected(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.inbox_retry_applied(bigint) TO hublink_worker;

-- Jobs off the message path (issue 15 section 4): the jobs worker's state in worker_status.
-- hublink.jobs_worker_state, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.jobs_worker_state(
    OUT pid integer, OUT state text, OUT state_since timestamptz, OUT started_at timestamptz)
    RETURNS record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_jobs_worker_state';
COMMENT ON FUNCTION hublink.jobs_worker_state() IS
    'The jobs worker''s process (bgworker/jobs_worker.c: hublink.worker_job runs there when '
    'hublink.jobs_worker is on), its state and since when, and when it started.';
-- hublink.worker_status, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.worker_status AS
SELECT s.pid,
       current_setting('hublink.party', true) AS party,
       s.state,
       s.state_since,
       s.last_error,
       s.last_error_at,
       s.started_at,
       c.received, c.applied, c.duplicates, c.rejected, c.retried, c.acked, c.published,
       o.backlog AS outbox_backlog,
       o.oldest_unsent_age,
       (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'retrying') AS retrying,
       (SELECT count(*) FROM hublink.error_report r WHERE r.cleared_at IS NULL) AS needs_attention,
       j.pid AS jobs_pid,
       j.state AS jobs_state,
       j.state_since AS jobs_state_since,
       current_setting('hublink.appliers', true)::integer AS appliers,
       (SELECT count(*) FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'hublink applier') AS appliers_running
  FROM hublink.worker_state() s
 CROSS JOIN hublink.jobs_worker_state() j
 CROSS JOIN (SELECT coalesce(sum(q.received), 0)::bigint AS received,
                    coalesce(sum(q.applied), 0)::bigint AS applied,
                    coalesce(sum(q.duplicates), 0)::bigint AS duplicates,
                    coalesce(sum(q.rejected), 0)::bigint AS rejected,
                    coalesce(sum(q.retried), 0)::bigint AS retried,
                    coalesce(sum(q.acked), 0)::bigint AS acked,
                    coalesce(sum(q.published), 0)::bigint AS published
               FROM hublink.worker_queue_counters() q) c
 CROSS JOIN (SELECT count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL) o;
COMMENT ON VIEW hublink.worker_status IS
    'One row: the worker''s process and broker connection state, since when, its last error, '
    'totals of its per-queue counters (hublink.worker_queue_status), the outbox backlog and the '
    'age of its oldest unsent message, how many messages wait for a handler retry, and how many '
    'Errors received for our messages still need attention.';
COMMENT ON COLUMN hublink.worker_status.jobs_pid IS
    'Process id of the jobs worker (hublink.worker_job runs there when hublink.jobs_worker is on); NULL when it is not running.';
COMMENT ON COLUMN hublink.worker_status.jobs_state IS
    'What the jobs worker does: idle, running jobs, waiting for the message worker''s configuration, or off (the message worker runs the jobs).';
COMMENT ON COLUMN hublink.worker_status.jobs_state_since IS 'When the jobs worker entered that state.';

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/62_hot_path_aims.sql
-- 0.2.0: hublink.mi_sla_compliance from the MI rollup (issue 15 section 5; docs/performance.md,
-- docs/mi.md "The rollup"): its month rows folded per month, its whole-history percentiles read
-- from exact counts of the folded response times, the rest computed live; the SLA rules join
-- the configuration the rollup depends on (a rollup folded before this update is rebuilt by the
-- job's next runs, as after any change of configuration). Further down: the quote engine's
-- faster functions (same answers).

-- hublink.rollup_mi_config, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_config AS
SELECT c.time_zone,
       (SELECT string_agg(l::text, ';' ORDER BY l.band) FROM hublink.lead_time_band l)
       || ' ' || (SELECT string_agg(g.granularity, ';' ORDER BY g.granularity) FROM hublink.report_granularity g)
       || ' ' || coalesce((SELECT string_agg(a::text, ';' ORDER BY a.request_type, a.answer_event)
                             FROM hublink.timer_answer a), '')
       || ' ' || coalesce((SELECT string_agg(format('%s %s %s %s %s %s', r.message_type, r.provider, r.destination,
                                                    r.fire_offset, r.enabled, r.timer_rule_id), ';'
                                             ORDER BY r.timer_rule_id)
                             FROM hublink.timer_rule r WHERE r.kind = 'response_sla'), '')
       || ' ' || coalesce((SELECT string_agg(format('%s %s %s', m.message_type, m.sender_party, m.receiver_party), ';'
                                             ORDER BY m.message_type)
                             FROM hublink.message_type m
                            WHERE m.message_type IN (SELECT a.request_type FROM hublink.timer_answer a)), '')
       AS config
  FROM hublink.reporting_config c;
COMMENT ON VIEW hublink.rollup_mi_config IS
    'The configuration the MI rollup depends on now: the reporting time zone, the lead-time '
    'bands, the granularities and the response SLA rules (as text).';

COMMENT ON COLUMN hublink.rollup_mi_config.time_zone IS 'hublink.reporting_config.time_zone.';
COMMENT ON COLUMN hublink.rollup_mi_config.config IS
    'The lead-time bands, the granularities, hublink.timer_answer, the response_sla rules of '
    'hublink.timer_rule and the parties of the request types, as text.';

-- hublink.rollup_mi_sla_request, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_request AS
WITH pairing AS (
    SELECT a.request_type, string_agg(DISTINCT a.answer_type, ' ') AS response_type
      FROM hublink.timer_answer a
     GROUP BY a.request_type
)
SELECT o.message_type AS request_type, p.response_type, g.provider, g.fire_offset AS target,
       round(extract(epoch FROM g.fire_offset), 3) AS target_seconds,
       o.sent_at, a.answered_at,
       CASE WHEN a.answered_at IS NOT NULL
            THEN greatest(extract(epoch FROM a.answered_at - o.sent_at), 0) END AS seconds
  FROM pairing p
  JOIN hublink.message_type m ON m.message_type = p.request_type
  JOIN hublink.outbox o ON o.message_type = p.request_type AND o.sent_at IS NOT NULL
 CROSS JOIN LATERAL (
       SELECT coalesce(nullif(m.receiver_party, 'hub'), nullif(m.sender_party, 'hub')) AS provider) v
 -- the rule of hublink.timer_rule_for: lateral, once per request
 CROSS JOIN LATERAL (
       SELECT v.provider, r.fire_offset, r.enabled
         FROM hublink.timer_rule r
        WHERE r.kind = 'response_sla'
          AND (r.message_type IS NULL OR r.message_type = o.message_type)
          AND (r.provider IS NULL OR r.provider = v.provider)
          AND (r.destination IS NULL
               OR r.destination = (SELECT d.destination ->> 'country' FROM hublink.removal d
                                    WHERE d.removal_reference = o.removal_id))
        ORDER BY r.destination IS NULL, r.provider IS NULL, r.message_type IS NULL
        LIMIT 1) g
 -- a lateral join, not a scalar subquery: the answer is looked up once per request, however
 -- many aggregates read it
 CROSS JOIN LATERAL (
       SELECT min(i.enqueued_at) AS answered_at
         FROM hublink.timer_answer x
         JOIN hublink.inbox i ON i.removal_id = o.removal_id AND i.message_type = x.answer_type
                             AND i.status <> 'rejected'
                             AND i.enqueued_at >= date_trunc('second', o.sent_at)
        WHERE x.request_type = o.message_type
          AND (x.answer_event = x.answer_type || '%'
               OR EXISTS (SELECT FROM hublink.state_transition s
                           WHERE s.message_id = i.message_id AND s.event LIKE x.answer_event))) a
 WHERE g.enabled;
COMMENT ON VIEW hublink.rollup_mi_sla_request IS
    'Every request with a response SLA, with its answer (the live definition of hublink.mi_sla_compliance).';

COMMENT ON COLUMN hublink.rollup_mi_sla_request.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.target IS 'The target, as the timer rule''s fire_offset.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.sent_at IS 'When the request was confirmed on its queue (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.answered_at IS 'When its answer was enqueued; NULL: unanswered.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.seconds IS 'Seconds from the request to its answer; NULL: unanswered.';

CREATE TABLE hublink.rollup_mi_sla_compliance_month (
    month                   date,
    request_type            text,
    response_type           text,
    provider                text,
    target_seconds          numeric,
    requests                bigint,
    answered                bigint,
    unanswered              bigint,
    median_response_seconds numeric,
    p95_response_seconds    numeric,
    max_response_seconds    numeric,
    late_responses          bigint,
    open_breaches           bigint,
    settled_at              timestamptz
);

-- hublink.rollup_mi_sla_live_month, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_live_month AS
SELECT m.month FROM hublink.rollup_mi_live_month m CROSS JOIN hublink.rollup_mi_window w
 WHERE m.month < w.months_until
UNION
SELECT r.month FROM hublink.rollup_mi_sla_compliance_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.settled_at >= now();
COMMENT ON VIEW hublink.rollup_mi_sla_live_month IS
    'Folded months that hublink.mi_sla_compliance computes live: a dirty day in them, or a request '
    'unanswered and not yet past its target.';

COMMENT ON COLUMN hublink.rollup_mi_sla_live_month.month IS 'First day of the month.';

-- hublink.rollup_mi_sla_live_range, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_live_range AS
SELECT coalesce(w.months_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT m.month::timestamp AT TIME ZONE w.time_zone, (m.month + interval '1 month') AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_sla_live_month m CROSS JOIN hublink.rollup_mi_window w;
COMMENT ON VIEW hublink.rollup_mi_sla_live_range IS
    'The instants whose requests hublink.mi_sla_compliance computes live: the months from the '
    'watermark''s on and hublink.rollup_mi_sla_live_month.';

COMMENT ON COLUMN hublink.rollup_mi_sla_live_range.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_range.hi IS 'To (exclusive).';

-- hublink.rollup_mi_sla_live_request, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_live_request AS
SELECT (date_trunc('month', y.sent_at AT TIME ZONE w.time_zone))::date AS month, y.*
  FROM hublink.rollup_mi_window w
 CROSS JOIN hublink.rollup_mi_sla_live_range l
 CROSS JOIN LATERAL (SELECT q.* FROM hublink.rollup_mi_sla_request q
                      WHERE q.sent_at >= l.lo AND q.sent_at < l.hi OFFSET 0) y;
COMMENT ON VIEW hublink.rollup_mi_sla_live_request IS
    'The requests of the months hublink.mi_sla_compliance computes live (hublink.rollup_mi_sla_live_range).';

COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.month IS 'First day of the month the request was sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.request_type IS 'As hublink.rollup_mi_sla_request.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.response_type IS 'As hublink.rollup_mi_sla_request.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.provider IS 'As hublink.rollup_mi_sla_request.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.target IS 'As hublink.rollup_mi_sla_request.target.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.target_seconds IS 'As hublink.rollup_mi_sla_request.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.sent_at IS 'As hublink.rollup_mi_sla_request.sent_at.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.answered_at IS 'As hublink.rollup_mi_sla_request.answered_at.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.seconds IS 'As hublink.rollup_mi_sla_request.seconds.';

-- The live months' aggregates of both kinds, which the two views below and
-- hublink.mi_sla_compliance_rows read (one definition).
-- hublink.rollup_mi_sla_live_groups, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_live_groups AS
WITH r AS MATERIALIZED (
    SELECT x.month, x.request_type, x.response_type, x.provider, x.target, x.target_seconds, x.sent_at,
           x.answered_at, x.seconds
      FROM hublink.rollup_mi_sla_live_request x
)
SELECT 'month'::text AS kind, x.month, x.request_type, x.response_type, x.provider, x.target_seconds,
       count(*) AS requests,
       count(x.answered_at) AS answered,
       count(*) FILTER (WHERE x.answered_at IS NULL) AS unanswered,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS median_response_seconds,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS p95_response_seconds,
       round(max(x.seconds), 3) AS max_response_seconds,
       count(*) FILTER (WHERE x.seconds > x.target_seconds) AS late_responses,
       count(*) FILTER (WHERE x.answered_at IS NULL AND now() - x.sent_at > x.target) AS open_breaches,
       -- now() - sent_at > target compares spans (a day 24 hours, a month 30 days): the same
       -- span in seconds added to the last unanswered request, and a second more, is an
       -- instant after which every unanswered request of the group is past its target
       max(x.sent_at) FILTER (WHERE x.answered_at IS NULL)
           + make_interval(secs => max((extract(year FROM x.target) * 360 + extract(month FROM x.target) * 30
                                        + extract(day FROM x.target)) * 86400
                                       + extract(hour FROM x.target) * 3600 + extract(minute FROM x.target) * 60
                                       + extract(second FROM x.target)) FILTER (WHERE x.answered_at IS NULL) + 1)
           AS settled_at,
       NULL::numeric AS seconds, NULL::bigint AS n
  FROM r x
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds
UNION ALL
SELECT 'time', x.month, x.request_type, x.response_type, x.provider, x.target_seconds,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, x.seconds, count(*)
  FROM r x
 WHERE x.seconds IS NOT NULL
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds;
COMMENT ON VIEW hublink.rollup_mi_sla_live_groups IS
    'The aggregates of the months hublink.mi_sla_compliance computes live, from one reading of their requests: '
    'kind month, the rows of hublink.rollup_mi_sla_compliance_live; kind time, those of hublink.rollup_mi_sla_live_times.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.kind IS
    'month: a group''s row (the columns from requests to settled_at); time: how many of its requests took one exact time (seconds, n).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.requests IS 'As hublink.mi_sla_compliance.requests (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.answered IS 'As hublink.mi_sla_compliance.answered (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.unanswered IS 'As hublink.mi_sla_compliance.unanswered (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.median_response_seconds IS 'As hublink.mi_sla_compliance.median_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.p95_response_seconds IS 'As hublink.mi_sla_compliance.p95_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.max_response_seconds IS 'As hublink.mi_sla_compliance.max_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.late_responses IS 'As hublink.mi_sla_compliance.late_responses (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.open_breaches IS 'As hublink.mi_sla_compliance.open_breaches (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.settled_at IS 'As hublink.rollup_mi_sla_compliance_live.settled_at (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.seconds IS 'A response time, exact (seconds; kind time).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.n IS 'How many requests were answered in that time (kind time).';

-- hublink.rollup_mi_sla_compliance_live, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_compliance_live AS
SELECT g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.requests, g.answered,
       g.unanswered, g.median_response_seconds, g.p95_response_seconds, g.max_response_seconds,
       g.late_responses, g.open_breaches, g.settled_at
  FROM hublink.rollup_mi_sla_live_groups g
 WHERE g.kind = 'month';

CREATE TABLE hublink.rollup_mi_sla_month_times (
    month          date NOT NULL,
    request_type   text NOT NULL,
    response_type  text NOT NULL,
    provider       text,
    target_seconds numeric NOT NULL,
    seconds        numeric NOT NULL,
    n              bigint NOT NULL
);

CREATE INDEX rollup_mi_sla_month_times_start ON hublink.rollup_mi_sla_month_times (month);
COMMENT ON INDEX hublink.rollup_mi_sla_month_times_start IS 'The counts of a month.';

COMMENT ON TABLE hublink.rollup_mi_sla_month_times IS
    'hublink.mi_sla_compliance folded per month: how many answered requests took each exact '
    'response time (hublink.rollup_mi_sla_live_times for the folded months).';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.n IS 'How many requests of the month were answered in that time.';

CREATE TABLE hublink.rollup_mi_sla_times (
    request_type   text NOT NULL,
    response_type  text NOT NULL,
    provider       text,
    target_seconds numeric NOT NULL,
    seconds        numeric NOT NULL,
    n              bigint NOT NULL,
    CONSTRAINT rollup_mi_sla_times_key UNIQUE NULLS NOT DISTINCT
        (request_type, response_type, provider, target_seconds, seconds)
);

COMMENT ON TABLE hublink.rollup_mi_sla_times IS
    'hublink.rollup_mi_sla_month_times summed over every folded month: how many answered requests '
    'took each exact response time (the whole-history percentiles of hublink.mi_sla_compliance).';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.n IS 'How many requests of the folded months were answered in that time.';

-- hublink.rollup_mi_sla_live_times, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_sla_live_times AS
SELECT g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.seconds, g.n
  FROM hublink.rollup_mi_sla_live_groups g
 WHERE g.kind = 'time';
COMMENT ON VIEW hublink.rollup_mi_sla_live_times IS
    'How many answered requests of the months computed live took each exact response time.';

COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.n IS 'How many requests were answered in that time.';

-- Same columns: the view keeps its grants and comments. It is a call of mi_sla_compliance_rows(),
-- which runs with jit = off (part 68 says why).

-- hublink.mi_sla_compliance_rows, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.mi_sla_compliance_rows()
    RETURNS TABLE (month date, request_type text, response_type text, provider text,
                   target_seconds numeric, requests bigint, answered bigint, unanswered bigint,
                   median_response_seconds numeric, p95_response_seconds numeric,
                   max_response_seconds numeric, late_responses bigint, open_breaches bigint,
                   breaches bigint, within_target_percent numeric)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    ROWS 100
    BEGIN ATOMIC
WITH live_month AS MATERIALIZED (
    SELECT m.month FROM hublink.rollup_mi_sla_live_month m
), live_groups AS MATERIALIZED (
    -- The live months' aggregates, both kinds: their requests read once, each answer looked up
    -- once (read through rollup_mi_sla_compliance_live and rollup_mi_sla_live_times, every answer
    -- was looked up twice). In service, the current month alone is a month of requests.
    SELECT g.kind, g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.requests,
           g.answered, g.unanswered, g.median_response_seconds, g.p95_response_seconds,
           g.max_response_seconds, g.late_responses, g.open_breaches, g.seconds, g.n
      FROM hublink.rollup_mi_sla_live_groups g
), months AS (
    SELECT r.month, r.request_type, r.response_type, r.provider, r.target_seconds, r.requests, r.answered,
           r.unanswered, r.median_response_seconds, r.p95_response_seconds, r.max_response_seconds,
           r.late_responses, r.unanswered AS open_breaches
      FROM hublink.rollup_mi_sla_compliance_month r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM live_month m)
    UNION ALL
    SELECT v.month, v.request_type, v.response_type, v.provider, v.target_seconds, v.requests, v.answered,
           v.unanswered, v.median_response_seconds, v.p95_response_seconds, v.max_response_seconds,
           v.late_responses, v.open_breaches
      FROM live_groups v
     WHERE v.kind = 'month'
), times AS (
    SELECT t.request_type, t.response_type, t.provider, t.target_seconds, t.seconds, sum(t.n) AS n
      FROM (SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, s.n
              FROM hublink.rollup_mi_sla_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE w.months_until IS NOT NULL
            UNION ALL
            SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, -s.n
              FROM hublink.rollup_mi_sla_month_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE s.month >= w.months_until
            UNION ALL
            SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, -s.n
              FROM hublink.rollup_mi_sla_month_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE s.month < w.months_until AND s.month IN (SELECT m.month FROM live_month m)
            UNION ALL
            SELECT x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds, x.n
              FROM live_groups x
             WHERE x.kind = 'time') t
     GROUP BY t.request_type, t.response_type, t.provider, t.target_seconds, t.seconds
    HAVING sum(t.n) <> 0
), ranked AS (
    -- (the groups compared bytewise: the same groups, a cheaper sort)
    SELECT t.*, sum(t.n) OVER (PARTITION BY t.request_type COLLATE "C", t.response_type COLLATE "C",
                                            t.provider COLLATE "C", t.target_seconds
                                ORDER BY t.seconds) AS upto,
           sum(t.n) OVER (PARTITION BY t.request_type COLLATE "C", t.response_type COLLATE "C",
                                       t.provider COLLATE "C", t.target_seconds) AS total
      FROM times t
), ranks AS (
    SELECT r.*, 0.5::float8 * (r.total - 1) AS pos50, 0.95::float8 * (r.total - 1) AS pos95 FROM ranked r
), percentile AS (
    -- grouped by the windows' bytewise keys, so the rows come in their order and are not sorted again
    SELECT r.request_type COLLATE "C" AS request_type, r.response_type COLLATE "C" AS response_type,
           r.provider COLLATE "C" AS provider, r.target_seconds,
           min(r.pos50) AS pos50, min(r.pos95) AS pos95,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos50))::float8 AS lo50,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos50))::float8 AS hi50,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos95))::float8 AS lo95,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos95))::float8 AS hi95
      FROM ranks r
     GROUP BY r.request_type COLLATE "C", r.response_type COLLATE "C", r.provider COLLATE "C", r.target_seconds
), history AS (
    SELECT m.request_type, m.response_type, m.provider, m.target_seconds,
           sum(m.requests)::bigint AS requests, sum(m.answered)::bigint AS answered,
           sum(m.unanswered)::bigint AS unanswered, max(m.max_response_seconds) AS max_response_seconds,
           sum(m.late_responses)::bigint AS late_responses, sum(m.open_breaches)::bigint AS open_breaches
      FROM months m
     GROUP BY m.request_type, m.response_type, m.provider, m.target_seconds
), rows AS (
    SELECT m.month, m.request_type, m.response_type, m.provider, m.target_seconds, m.requests, m.answered,
           m.unanswered, m.median_response_seconds, m.p95_response_seconds, m.max_response_seconds,
           m.late_responses, m.open_breaches
      FROM months m
    UNION ALL
    SELECT NULL::date, h.request_type, h.response_type, h.provider, h.target_seconds, h.requests, h.answered,
           h.unanswered,
           round((p.lo50 + (p.hi50 - p.lo50) * (p.pos50 - floor(p.pos50)))::numeric, 3),
           round((p.lo95 + (p.hi95 - p.lo95) * (p.pos95 - floor(p.pos95)))::numeric, 3),
           h.max_response_seconds, h.late_responses, h.open_breaches
      FROM history h
      LEFT JOIN percentile p ON p.request_type = h.request_type COLLATE "C"
                            AND p.response_type = h.response_type COLLATE "C"
                            AND p.provider IS NOT DISTINCT FROM h.provider COLLATE "C"
                            AND p.target_seconds = h.target_seconds
)
SELECT x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.requests, x.answered,
       x.unanswered, x.median_response_seconds, x.p95_response_seconds, x.max_response_seconds,
       x.late_responses, x.open_breaches, x.late_responses + x.open_breaches AS breaches,
       round(100.0 * (x.answered - x.late_responses) / nullif(x.answered + x.open_breaches, 0), 2)
           AS within_target_percent
  FROM rows x;
    END;
COMMENT ON FUNCTION hublink.mi_sla_compliance_rows() IS
    'The rows of hublink.mi_sla_compliance, computed with jit = off (the view is a call of it); '
    'executable by the roles that read the MI views.';

REVOKE EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() TO hublink_reporting, hublink_admin;

-- hublink.mi_sla_compliance, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.mi_sla_compliance AS
SELECT r.month, r.request_type, r.response_type, r.provider, r.target_seconds, r.requests, r.answered,
       r.unanswered, r.median_response_seconds, r.p95_response_seconds, r.max_response_seconds,
       r.late_responses, r.open_breaches, r.breaches, r.within_target_percent
  FROM hublink.mi_sla_compliance_rows() r;
COMMENT ON VIEW hublink.mi_sla_compliance IS
    'Response-time SLA compliance per request message type and provider (Appendix D: from the '
    'request put on its queue to the response put on the Hub''s queue), per month of the '
    'request and over the whole history (month NULL), against the target of the response_sla '
    'timer rule (hublink.timer_rule) and the answers of hublink.timer_answer, as the timers count.';

-- The comments 86_mi_views.sql gives every live view and month table of the rollup (its view
-- named as the install names it, with hublink on its search_path).
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS rel, c.relkind
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace
                AND c.relname IN ('rollup_mi_sla_compliance_live', 'rollup_mi_sla_compliance_month') LOOP
        EXECUTE format('COMMENT ON %s %s IS %L', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel,
                       CASE o.relkind WHEN 'v' THEN 'mi_sla_compliance for the months the rollup does not cover (computed live).'
                            ELSE 'mi_sla_compliance folded per month: its rows for the months hublink.rollup_mi_fold() has folded.' END);
        EXECUTE (SELECT string_agg(format('COMMENT ON COLUMN %s.%I IS %L', o.rel, a.attname,
                                          'As mi_sla_compliance.' || a.attname || '.'), '; ')
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = o.rel AND a.attnum > 0 AND NOT a.attisdropped);
    END LOOP;
END;
$$;

COMMENT ON COLUMN hublink.rollup_mi_sla_compliance_live.settled_at IS
    'After this instant every request of the group still unanswered is past its target (the last '
    'one''s send time plus the longest target, a second more): its open breaches no longer change with '
    'the clock, and the folded row can be read. NULL: none unanswered.';

COMMENT ON COLUMN hublink.rollup_mi_sla_compliance_month.settled_at IS
    'As hublink.rollup_mi_sla_compliance_live.settled_at.';

-- The job folds them; the marks of the SLA's source rows.
-- hublink.rollup_mi_fold, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.rollup_mi_fold() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s          hublink.rollup_mi_state;
    c          record;
    old_until  date;
    new_until  date;
    old_months date;
    new_months date;
    h_at       timestamptz;
    h_xmax     xid8;
    t          record;
BEGIN
    SELECT * INTO s FROM hublink.rollup_mi_state FOR UPDATE;
    SELECT * INTO c FROM hublink.rollup_mi_config;
    IF s.time_zone IS DISTINCT FROM c.time_zone OR s.config IS DISTINCT FROM c.config THEN
        -- first run, a changed configuration or a reset: start again from nothing
        DELETE FROM hublink.rollup_mi_volume_day;
        DELETE FROM hublink.rollup_mi_volume_period;
        DELETE FROM hublink.rollup_mi_sla_month_times;
        DELETE FROM hublink.rollup_mi_sla_times;
        FOR t IN SELECT x.oid::regclass AS rel FROM pg_catalog.pg_class x
                  WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                    AND x.relname ~ '^rollup_mi_.*_month$' LOOP
            EXECUTE format('DELETE FROM %s', t.rel);
        END LOOP;
        UPDATE hublink.rollup_mi_state SET time_zone = c.time_zone, config = c.config, folded_until = NULL;
        s.folded_until := NULL;
    END IF;
    old_until := s.folded_until;
    new_until := old_until;
    IF s.horizon_xmax IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) >= s.horizon_xmax THEN
        new_until := greatest(old_until, (s.horizon_at AT TIME ZONE c.time_zone)::date);
    END IF;
    -- the next horizon: the clock first, then the transactions that may have written before it
    h_at := clock_timestamp();
    h_xmax := pg_snapshot_xmax(pg_current_snapshot());
    UPDATE hublink.rollup_mi_state SET horizon_at = h_at, horizon_xmax = h_xmax;
    IF new_until IS NULL THEN
        RETURN h_at + interval '1 minute';
    END IF;

    -- Fold: the claimed dirty days before the old watermark, and every day from it to the new.
    UPDATE hublink.rollup_mi_dirty_day SET claimed = true WHERE day < new_until AND NOT claimed;
    old_until := coalesce(old_until, '-infinity');
    DELETE FROM hublink.rollup_mi_volume_day r
     WHERE r.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed)
        OR (r.day >= old_until AND r.day < new_until);
    INSERT INTO hublink.rollup_mi_volume_day
    SELECT v.day, v.measure, v.booking, v.reason_code, v.lead_time_band, v.count
      FROM hublink.rollup_mi_volume_live v
     WHERE v.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < old_until)
        OR (v.day >= old_until AND v.day < new_until);
    -- the longer periods wholly folded now that have a day folded in this run: sums of their days
    WITH fold AS (
        SELECT g.granularity, date_trunc(g.granularity, old_until::timestamp)::date AS from_start,
               date_trunc(g.granularity, new_until::timestamp)::date AS until
          FROM hublink.rollup_mi_granularity g WHERE NOT g.daily
    ), period AS (
        SELECT f.granularity, f.from_start, f.until, date_trunc(f.granularity, d.day::timestamp)::date AS period_start
          FROM fold f CROSS JOIN hublink.rollup_mi_dirty_day d WHERE d.claimed
    ), gone AS (
        DELETE FROM hublink.rollup_mi_volume_period p USING fold f
         WHERE p.granularity = f.granularity AND p.period_start < f.until
           AND (p.period_start >= f.from_start
                OR p.period_start IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
    )
    INSERT INTO hublink.rollup_mi_volume_period
    SELECT f.granularity, date_trunc(f.granularity, r.day::timestamp)::date, r.measure, r.booking, r.reason_code,
           r.lead_time_band, sum(r.count)
      FROM fold f CROSS JOIN hublink.rollup_mi_volume_day r
     WHERE date_trunc(f.granularity, r.day::timestamp)::date < f.until
       AND (date_trunc(f.granularity, r.day::timestamp)::date >= f.from_start
            OR date_trunc(f.granularity, r.day::timestamp)::date
               IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
     GROUP BY 1, 2, 3, 4, 5, 6;

    -- Whole months only: those before the new watermark's month that are new or had a dirty day.
    old_months := coalesce(date_trunc('month', old_until::timestamp)::date, '-infinity');
    new_months := date_trunc('month', new_until::timestamp)::date;
    FOR t IN SELECT x.oid::regclass AS rel, (regexp_replace(x.oid::regclass::text, '_month$', '_live'))::regclass AS live
               FROM pg_catalog.pg_class x
              WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                AND x.relname ~ '^rollup_mi_.*_month$' LOOP
        EXECUTE format($q$
            WITH fold AS (
                SELECT date_trunc('month', d.day::timestamp)::date AS month
                  FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < $1
            ), gone AS (
                DELETE FROM %1$s r
                 WHERE (r.month IN (SELECT f.month FROM fold f) OR r.month >= $2) AND r.month < $3
            )
            INSERT INTO %1$s SELECT v.* FROM %2$s v
             WHERE (v.month IN (SELECT f.month FROM fold f) OR v.month >= $2) AND v.month < $3$q$, t.rel, t.live)
        USING old_until, old_months, new_months;
    END LOOP;

    -- The SLA response times of the same months: each month's counts anew, and the whole
    -- history's less the months' old counts plus their new ones.
    WITH fold AS (
        SELECT date_trunc('month', d.day::timestamp)::date AS month
          FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < old_until
    ), gone AS (
        DELETE FROM hublink.rollup_mi_sla_month_times r
         WHERE (r.month IN (SELECT f.month FROM fold f) OR r.month >= old_months) AND r.month < new_months
        RETURNING r.request_type, r.response_type, r.provider, r.target_seconds, r.seconds, -r.n AS n
    ), fresh AS (
        INSERT INTO hublink.rollup_mi_sla_month_times
        SELECT v.* FROM hublink.rollup_mi_sla_live_times v
         WHERE (v.month IN (SELECT f.month FROM fold f) OR v.month >= old_months) AND v.month < new_months
        RETURNING request_type, response_type, provider, target_seconds, seconds, n
    )
    INSERT INTO hublink.rollup_mi_sla_times AS total
    SELECT x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds, sum(x.n)
      FROM (SELECT * FROM gone UNION ALL SELECT * FROM fresh) x
     GROUP BY x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds
    HAVING sum(x.n) <> 0
        ON CONFLICT (request_type, response_type, provider, target_seconds, seconds)
        DO UPDATE SET n = total.n + excluded.n;
    DELETE FROM hublink.rollup_mi_sla_times WHERE n = 0;

    DELETE FROM hublink.rollup_mi_dirty_day WHERE claimed;
    UPDATE hublink.rollup_mi_state SET folded_until = new_until;
    -- The views' plans depend on these small tables' sizes (a stale estimate of thousands of
    -- dirty days would make them plan, and JIT-compile, for a full live computation).
    IF new_until IS DISTINCT FROM s.folded_until THEN
        ANALYZE hublink.rollup_mi_state, hublink.rollup_mi_dirty_day, hublink.rollup_mi_volume_day,
                hublink.rollup_mi_volume_period, hublink.rollup_mi_sla_compliance_month,
                hublink.rollup_mi_sla_month_times, hublink.rollup_mi_sla_times;
    END IF;
    -- behind (a day ended since the horizon, or its writers had not ended): again in a minute
    RETURN CASE WHEN new_until < (h_at AT TIME ZONE c.time_zone)::date THEN h_at + interval '1 minute' END;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_fold() IS
    'The worker job mi_rollup (docs/mi.md "The rollup"): folds the ended days from the watermark '
    'and the days marked dirty into the MI rollup tables. Returns when it wants to run again.';
-- hublink.rollup_mi_mark_sla, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.rollup_mi_mark_sla() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
    AS $$
DECLARE
    tz    text := (SELECT c.time_zone FROM hublink.reporting_config c);
    today timestamptz := date_trunc('day', clock_timestamp() AT TIME ZONE tz) AT TIME ZONE tz;
    refs  text[] := '{}';
BEGIN
    IF TG_TABLE_NAME = 'outbox' THEN
        -- (a row inserted as sent: hublink.rollup_mi_mark_sla_sent)
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT (t.sent_at AT TIME ZONE tz)::date FROM rollup_old t
             WHERE t.sent_at < today AND t.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
        END IF;
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT (t.sent_at AT TIME ZONE tz)::date FROM rollup_new t
             WHERE t.sent_at < today AND t.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
        END IF;
        RETURN NULL;
    ELSIF TG_TABLE_NAME = 'inbox' THEN
        IF TG_OP = 'INSERT' THEN
            refs := ARRAY(SELECT t.removal_id FROM rollup_new t WHERE t.removal_id IS NOT NULL);
        ELSIF TG_OP = 'DELETE' THEN
            refs := ARRAY(SELECT t.removal_id FROM rollup_old t WHERE t.removal_id IS NOT NULL);
        ELSE
            refs := ARRAY(SELECT x.removal_id
                            FROM rollup_old o JOIN rollup_new n ON n.id = o.id
                           CROSS JOIN LATERAL (VALUES (o.removal_id), (n.removal_id)) x(removal_id)
                           WHERE x.removal_id IS NOT NULL
                             AND ((o.status = 'rejected') IS DISTINCT FROM (n.status = 'rejected')
                                  OR o.enqueued_at IS DISTINCT FROM n.enqueued_at
                                  OR o.message IS DISTINCT FROM n.message));
        END IF;
    ELSIF TG_TABLE_NAME = 'state_transition' THEN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            refs := ARRAY(SELECT r.removal_reference FROM rollup_old t JOIN hublink.removal r ON r.removal_id = t.removal_id
                           WHERE t.message_id IS NOT NULL);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            refs := refs || ARRAY(SELECT r.removal_reference FROM rollup_new t JOIN hublink.removal r ON r.removal_id = t.removal_id
                                   WHERE t.message_id IS NOT NULL);
        END IF;
    ELSIF TG_TABLE_NAME = 'removal' THEN
        IF TG_OP = 'DELETE' THEN
            refs := ARRAY(SELECT t.removal_reference FROM rollup_old t);
        ELSE
            refs := ARRAY(SELECT x.ref
                            FROM rollup_old o JOIN rollup_new n ON n.removal_id = o.removal_id
                           CROSS JOIN LATERAL (VALUES (o.removal_reference), (n.removal_reference)) x(ref)
                           WHERE o.destination IS DISTINCT FROM n.destination
                              OR o.removal_reference IS DISTINCT FROM n.removal_reference);
        END IF;
    END IF;
    IF cardinality(refs) > 0 THEN
        -- each removal's messages sent before today, by hublink.outbox_mi_removal_sent: an
        -- answer to a request of today (the usual case) reads no row
        INSERT INTO hublink.rollup_mi_dirty_day (day)
        SELECT DISTINCT (o.sent_at AT TIME ZONE tz)::date
          FROM (SELECT DISTINCT x.ref FROM unnest(refs) x(ref)) r
          JOIN LATERAL (SELECT m.sent_at, m.message_type FROM hublink.outbox m
                         WHERE m.removal_id = r.ref AND m.sent_at < today OFFSET 0) o ON true
         WHERE o.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_mark_sla() IS
    'Statement trigger on hublink.outbox, inbox, state_transition and removal: marks in '
    'hublink.rollup_mi_dirty_day the ended days on which the requests whose SLA figures the '
    'changed rows touch were sent (hublink.mi_sla_compliance).';
CREATE INDEX outbox_mi_removal_sent ON hublink.outbox (removal_id, sent_at) WHERE sent_at IS NOT NULL;
COMMENT ON INDEX hublink.outbox_mi_removal_sent IS
    'hublink.rollup_mi_mark_sla: the requests of a removal sent before a day (the days an answer touches).';

-- hublink.rollup_mi_mark_sla_sent, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.rollup_mi_mark_sla_sent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tz  text := (SELECT c.time_zone FROM hublink.reporting_config c);
    sent_day date := (NEW.sent_at AT TIME ZONE tz)::date;
BEGIN
    IF sent_day < (clock_timestamp() AT TIME ZONE tz)::date
       AND NEW.message_type IN (SELECT a.request_type FROM hublink.timer_answer a)
       AND NOT EXISTS (SELECT FROM hublink.rollup_mi_dirty_day d WHERE d.day = sent_day AND NOT d.claimed) THEN
        INSERT INTO hublink.rollup_mi_dirty_day (day) VALUES (sent_day);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_mark_sla_sent() IS
    'Row trigger on hublink.outbox for rows inserted already sent: marks the ended day the request '
    'was sent in hublink.rollup_mi_dirty_day (hublink.mi_sla_compliance), once.';
-- hublink.outbox.rollup_mi_mark_sla_insert, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.outbox
    FOR EACH ROW WHEN (NEW.sent_at IS NOT NULL) EXECUTE FUNCTION hublink.rollup_mi_mark_sla_sent();
-- hublink.outbox.rollup_mi_mark_sla_update, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.outbox
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.outbox.rollup_mi_mark_sla_delete, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.outbox REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.inbox.rollup_mi_mark_sla_insert, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.inbox REFERENCING NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.inbox.rollup_mi_mark_sla_update, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.inbox
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.inbox.rollup_mi_mark_sla_delete, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.inbox REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.state_transition.rollup_mi_mark_sla_insert, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.state_transition REFERENCING NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.state_transition.rollup_mi_mark_sla_update, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.state_transition
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.state_transition.rollup_mi_mark_sla_delete, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.state_transition REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.removal.rollup_mi_mark_sla_update, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.removal
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- hublink.removal.rollup_mi_mark_sla_delete, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.removal REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- TRUNCATE of the outbox or the inbox (the other two already have it): the rollup starts again.
-- hublink.outbox.rollup_mi_mark_truncate, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON hublink.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset();
-- hublink.inbox.rollup_mi_mark_truncate, as defined in sql/parts
CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON hublink.inbox
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset();

-- The quote engine (docs/performance.md "Quotes"): the same answers, faster. The itinerary search
-- picks each leg's best fare with one sort instead of sixteen ordered aggregates; the fare and
-- local-time helpers are PL/pgSQL (their plans kept for the session).
-- hublink.tsp_itineraries: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.tsp_fare_amount, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_fare_amount(fare bigint, traveller_type text) RETURNS numeric
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur_type text := traveller_type;
    price    numeric;
BEGIN
    -- the type itself, then its fallback, then the fallback's, at most five steps
    FOR depth IN 0..5 LOOP
        SELECT p.amount INTO price FROM hublink.tsp_fare_price p
         WHERE p.fare_id = fare AND p.traveller_type = cur_type;
        IF FOUND THEN
            RETURN price;
        END IF;
        EXIT WHEN depth = 5;
        SELECT t.fallback INTO cur_type FROM hublink.tsp_traveller_type t WHERE t.code = cur_type;
        EXIT WHEN cur_type IS NULL;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_fare_amount(bigint, text) IS
    'Price of one ticket of a traveller type on a fare, following the type''s fallback chain; '
    'NULL when the fare has no price for it.';
-- hublink.tsp_local_time, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_local_time(at timestamptz, tz text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN to_char(at AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN (at AT TIME ZONE tz) < (at AT TIME ZONE 'UTC') THEN '-' ELSE '+' END
        || to_char(abs(extract(epoch FROM (at AT TIME ZONE tz) - (at AT TIME ZONE 'UTC')))
                   * interval '1 second', 'HH24:MI');
END;
$$;
COMMENT ON FUNCTION hublink.tsp_local_time(timestamptz, text) IS
    'RFC 3339 local time of an instant in a time zone, with that zone''s offset at that instant, '
    'e.g. 2026-03-17T18:25:00+01:00 for Lagos: what itinerary segments carry.';

INSERT INTO hublink.audit_exclusion VALUES
    ('rollup_mi_sla_compliance_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_month_times', 'MI rollup: counts derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_times', 'MI rollup: counts derived from audited tables, rewritten by the job.');

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/63_quote_expiry_rank.sql
-- 0.2.0: quote_expiry ranks a removal's quotes once per statement, not once per quote (issue 15
-- section 1, issue 17 section 3; docs/performance.md "Quote expiry: one ranking per response").
-- The row trigger ran hublink.removal_quotes for every quote a TravelQuoteResponse inserted (40
-- rankings for 40 quotes); a statement trigger with a transition table ranks each removal once,
-- and the handler inserts a response's quotes, costs and segments in one statement. The
-- itinerary trigger that re-anchors timers at a flight change ran once per segment inserted (a
-- query for the quote's first departure each time): once per statement too. And the ranking
-- itself computed the Hub's cancellation estimate twice per quote (80 times for 40 quotes), not
-- once as its comment said: a MATERIALIZED CTE now (same signature and rows; below).

DROP TRIGGER timer_on_travel_quote ON hublink.travel_quote;
-- hublink.timer_on_travel_quote, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.timer_on_travel_quote() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid  bigint;
    best record;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    -- In removal_id order: start_timer locks each removal row, always in one order.
    FOR rid IN SELECT DISTINCT n.removal_id FROM new_quotes n ORDER BY n.removal_id LOOP
        SELECT q.travel_quote_reference, q.expires_at INTO best
          FROM hublink.removal r, hublink.removal_quotes(r.removal_reference) q
         WHERE r.removal_id = rid AND q.expires_at IS NOT NULL
         LIMIT 1;
        IF FOUND THEN
            PERFORM hublink.start_timer('quote_expiry', rid, 'travel', 'best-value quote',
                                        best.expires_at, 'TravelQuoteResponse', 'tsp', NULL,
                                        jsonb_build_object('travelQuoteReference', best.travel_quote_reference,
                                                           'expiresAt', best.expires_at));
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_travel_quote() IS
    'Statement trigger on hublink.travel_quote at the Hub: for each removal the statement inserted '
    'quotes of (transition table new_quotes), ranks its quotes once and (re)starts quote_expiry on '
    'the expiry of the best-value quote that can still be booked.';
-- hublink.travel_quote.timer_on_travel_quote, as defined in sql/parts
CREATE TRIGGER timer_on_travel_quote AFTER INSERT ON hublink.travel_quote
    REFERENCING NEW TABLE AS new_quotes
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_travel_quote();
COMMENT ON TRIGGER timer_on_travel_quote ON hublink.travel_quote IS
    'New quotes re-arm quote_expiry: one ranking per removal and statement.';

-- hublink.record_message_rows (one statement per response) comes in its current form with
-- update part 20, which already names it.

DROP TRIGGER timer_on_itinerary ON hublink.itinerary_segment;
-- hublink.timer_on_itinerary, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.timer_on_itinerary() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A flight change retires the old segment before it inserts the new one: in between no
    -- segment is current (no departure), and the insert's own firing re-anchors the timers.
    -- In timer_id order: reanchor_timer locks each timer's removal row, always in one order.
    -- The departure is looked up for the watched quotes only (the join's output rows): none
    -- for a quote response's new quotes.
    PERFORM hublink.reanchor_timer(w.timer_id, w.departure)
       FROM (SELECT x.timer_id, hublink.timer_first_departure(q.removal_id, q.travel_quote_reference) AS departure
               FROM (SELECT DISTINCT n.travel_quote_id FROM new_segments n) n
               JOIN hublink.travel_quote q ON q.travel_quote_id = n.travel_quote_id
               JOIN hublink.timer x ON x.removal_id = q.removal_id
                                   AND x.detail ->> 'travelQuoteReference' = q.travel_quote_reference
              WHERE x.status = 'pending' AND x.detail ? 'firstDeparture'
             OFFSET 0) w
      WHERE w.departure IS NOT NULL
      ORDER BY w.timer_id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_itinerary() IS
    'Statement trigger on hublink.itinerary_segment: after a flight change, the pending timers '
    'anchored at the first departure of a quote whose segments the statement inserted or updated '
    '(transition table new_segments) count from the new one.';
-- hublink.itinerary_segment.timer_on_itinerary_insert, as defined in sql/parts
CREATE TRIGGER timer_on_itinerary_insert AFTER INSERT ON hublink.itinerary_segment
    REFERENCING NEW TABLE AS new_segments
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_itinerary();
COMMENT ON TRIGGER timer_on_itinerary_insert ON hublink.itinerary_segment IS
    'New segments (a flight change''s new segment) re-anchor the timers counted from their quote''s first departure.';
-- hublink.itinerary_segment.timer_on_itinerary_update, as defined in sql/parts
CREATE TRIGGER timer_on_itinerary_update AFTER UPDATE ON hublink.itinerary_segment
    REFERENCING NEW TABLE AS new_segments
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_itinerary();
COMMENT ON TRIGGER timer_on_itinerary_update ON hublink.itinerary_segment IS
    'Changed segments (a flight change retiring the old segment) re-anchor the timers counted from their quote''s first departure.';

-- hublink.removal_quotes: its definition (one estimate per ranking) comes with update part 85,
-- which creates the estimate's tables and names the function.

-- from sql/updates/0.1.0--0.2.0/64_appliers.sql
-- 0.2.0: the message worker's appliers (issue 15 sections 1 and 3; docs/worker.md "Appliers"):
-- hublink.appliers processes apply messages in parallel, each the removals that hash to it.
-- hublink.worker_appliers() shows each; hublink.worker_status (its current definition, copied
-- by 61_inbox_home.sql) shows the setting and how many run.

-- hublink.worker_appliers, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.worker_appliers(
    OUT applier integer, OUT pid integer, OUT state text, OUT state_since timestamptz,
    OUT started_at timestamptz)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_appliers';
COMMENT ON FUNCTION hublink.worker_appliers() IS
    'One row per applier process (hublink.appliers >= 2, docs/worker.md "Appliers"; none when the '
    'message worker applies every message itself): its partition, process, state (starting, idle, '
    'applying messages, stopped) and since when, and when it started.';

COMMENT ON COLUMN hublink.worker_status.appliers IS
    'The hublink.appliers setting: 1, the worker applies every message itself; N >= 2, N applier '
    'processes apply them, each the removals that hash to it (hublink.worker_appliers()).';
COMMENT ON COLUMN hublink.worker_status.appliers_running IS
    'Applier processes running now (pg_stat_activity backend_type ''hublink applier'').';

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/65_message_cost.sql
-- 0.2.0: the cost of applying one message, third pass (issue 15 section 3; docs/performance.md
-- "Per-message cost, third pass", docs/security-crypto.md "What is cached").

-- The master keys in C, kept while the key file is unchanged; unwrapped data keys kept for the
-- rest of the transaction, matched to the row they came from and wiped by any change of
-- hublink.data_key and at the end of the transaction. hublink.master_key changes language (it
-- was PL/pgSQL, SECURITY DEFINER): the C function reads only the key file, so it runs with the
-- caller's rights; it stays revoked from PUBLIC.
-- The pgcrypto wrappers in PL/pgSQL (sealing calls them several times per message; as SQL with
-- SET each call read its stored body and planned it again). Made by the same block as in
-- sql/parts/73_crypto_keys.sql, which names pgcrypto's schema (not known when the script is
-- written, so the build's -- @function cannot copy them); their comments and grants stay.
DO $$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_encrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE plpgsql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.pgp_sym_encrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'),
                                              'cipher-algo=aes256, compress-algo=0, s2k-mode=1');
        END;
        $b$
        $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_decrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE plpgsql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.pgp_sym_decrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'));
        END;
        $b$
        $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_key_id(p_key bytea) RETURNS text
            LANGUAGE sql STRICT IMMUTABLE
            SET search_path = pg_catalog, pg_temp
            RETURN pg_catalog.left(pg_catalog.encode(%1$I.digest(p_key, 'sha256'), 'hex'), 16)$f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_random_key() RETURNS bytea
            LANGUAGE plpgsql VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.gen_random_bytes(32);
        END;
        $b$
        $f$, s);
END;
$$;

-- hublink.master_key, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.master_key(p_key_id text, OUT key_id text, OUT key bytea)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_master_key';
COMMENT ON FUNCTION hublink.master_key(text) IS
    'A master key read from hublink.master_key_file, by id, or the current one for NULL. Raises '
    'when the file no longer holds it. Internal.';
-- hublink.data_key_cached, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.data_key_cached(p_scope text, p_master_key_id text, p_wrapped bytea) RETURNS bytea
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_data_key_cached';
COMMENT ON FUNCTION hublink.data_key_cached(text, text, bytea) IS
    'The data key this transaction already unwrapped or made for exactly this row of '
    'hublink.data_key, or NULL. Raises when the master key is no longer in the key file. Internal.';
-- hublink.data_key_remember, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.data_key_remember(p_scope text, p_master_key_id text, p_wrapped bytea, p_key bytea)
    RETURNS void
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_data_key_remember';
COMMENT ON FUNCTION hublink.data_key_remember(text, text, bytea, bytea) IS
    'Keeps the unwrapped key of a row of hublink.data_key until the end of the transaction '
    '(hublink.data_key_cached finds it). Internal.';
-- hublink.data_key_cache_wipe, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.data_key_cache_wipe() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_data_key_cache_wipe';
COMMENT ON FUNCTION hublink.data_key_cache_wipe() IS
    'Statement trigger on hublink.data_key: wipes every data key this backend keeps, so an '
    'erased or re-wrapped key is not held for the rest of the transaction.';
-- hublink.crypto_cache_stats, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.crypto_cache_stats(OUT master_key_file_reads bigint, OUT master_key_reuses bigint,
                                           OUT data_key_hits bigint, OUT data_key_misses bigint,
                                           OUT data_key_wipes bigint, OUT data_keys_held integer)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_crypto_cache_stats';
COMMENT ON FUNCTION hublink.crypto_cache_stats() IS
    'This backend''s key caches since it started: master key file reads and reuses, data key '
    'hits and misses, wipes, and the data keys it holds now (none outside a transaction). For '
    'tests and benchmarks; no key material. Internal.';
-- hublink.data_key_for, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.data_key_for(p_scope text, p_create boolean) RETURNS bytea
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k       hublink.data_key;
    m       record;
    fresh   bytea;
    wrapped bytea;
BEGIN
    SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    IF NOT FOUND AND p_create THEN
        m := hublink.master_key(NULL);
        fresh := hublink.crypto_random_key();
        wrapped := hublink.crypto_encrypt(fresh, m.key);
        INSERT INTO hublink.data_key (key_scope, wrapped_key, master_key_id)
        VALUES (p_scope, wrapped, m.key_id)
        ON CONFLICT (key_scope) DO NOTHING;
        IF FOUND THEN
            -- The erasure status needs every master key that ever wrapped a data key.
            INSERT INTO hublink.data_key_master (master_key_id) VALUES (m.key_id)
            ON CONFLICT (master_key_id) DO NOTHING;
            PERFORM hublink.data_key_remember(p_scope, m.key_id, wrapped, fresh);
            RETURN fresh;
        END IF;
        -- Another transaction made it first: use theirs.
        SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    END IF;
    IF k.key_scope IS NULL THEN
        RAISE EXCEPTION 'no data key for "%"', p_scope
            USING ERRCODE = 'HL060',
                  DETAIL = 'The personal data sealed under it was destroyed by the retention purge, or never existed.',
                  HINT = 'hublink.purge_log tells when and under which policy a removal was purged.';
    END IF;
    -- Only for the row just read, and only while its master key is in the key file.
    fresh := hublink.data_key_cached(k.key_scope, k.master_key_id, k.wrapped_key);
    IF fresh IS NULL THEN
        fresh := hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key);
        PERFORM hublink.data_key_remember(k.key_scope, k.master_key_id, k.wrapped_key, fresh);
    END IF;
    RETURN fresh;
END;
$$;
COMMENT ON FUNCTION hublink.data_key_for(text, boolean) IS
    'The data key of a scope (a removal reference), unwrapped; made when missing and p_create. '
    'Raises HL060 when it was destroyed. Keeps the unwrapped key for the rest of the transaction '
    '(hublink.data_key_cached). Internal.';
REVOKE ALL ON FUNCTION hublink.data_key_cached(text, text, bytea), hublink.data_key_remember(text, text, bytea, bytea),
    hublink.data_key_cache_wipe(), hublink.crypto_cache_stats() FROM PUBLIC;
-- hublink.data_key.data_key_cache_wipe, as defined in sql/parts
CREATE TRIGGER data_key_cache_wipe AFTER UPDATE OR DELETE ON hublink.data_key
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.data_key_cache_wipe();
COMMENT ON TRIGGER data_key_cache_wipe ON hublink.data_key IS
    'Wipes the unwrapped data keys kept by this transaction after any change or erasure of a key.';
ALTER TABLE hublink.data_key ENABLE ALWAYS TRIGGER data_key_cache_wipe;

-- The audit trigger and the seal's WHEN condition in C (extension/audit_trigger.c): the same rows,
-- byte for byte (test/sql/71_audit_trigger_c.sql), without interpreting PL/pgSQL on every row.
-- The triggers that call them keep their arguments.
-- hublink.audit_seal_needed, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.audit_seal_needed() RETURNS boolean
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_audit_seal_needed';
COMMENT ON FUNCTION hublink.audit_seal_needed() IS
    'WHEN condition of the sealing trigger: true for the first audit row since the last seal of '
    'this transaction, so one deferred event seals the whole batch; false while restoring a dump '
    '(hublink.restoring), whose audit rows come with their links.';
-- hublink.audit_row_change, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.audit_row_change() RETURNS trigger
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    AS 'MODULE_PATHNAME', 'hublink_audit_row_change';
COMMENT ON FUNCTION hublink.audit_row_change() IS
    'Row trigger of every audited table (attached by hublink.audit_attach): writes one '
    'hublink.audit_log row with who, when, the table, the operation (or the table''s insert '
    'action), the removal, the primary key, the changed column names and SHA-256 digests of '
    'to_jsonb(row)::text before and after (TimeZone UTC). No column value is copied except the '
    'key and the detail columns of hublink.audit_table_rule. Writes nothing while a dump is '
    'restored (hublink.restoring).';

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/66_quote_speed.sql
-- 0.2.0: the quote engine's third pass (issue 15 section 5; docs/performance.md "Quotes, third
-- pass"). The itinerary search and the quote's JSON helpers become PL/pgSQL, whose plans are kept
-- for the session (a SQL function that pins search_path is parsed and planned again at every
-- call); tsp_quote writes a request's quotes and their segments with one INSERT per table.
-- Same arguments, same results, same rows.

-- hublink.tsp_quote: defined once, at the mention that needs it (docs/upgrades.md)

-- hublink.tsp_itineraries: defined once, at the mention that needs it (docs/upgrades.md)

-- hublink.tsp_segment_json, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_segment_json(flight bigint, segment_id text, travellers jsonb)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL for its kept plan, as tsp_itineraries (a quote calls it per flight).
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'segmentId', segment_id,
        'segmentType', 'PLANE',
        'providerName', left(a.name, 100),
        'carrierCode', f.carrier,
        'flightNumber', f.flight_number,
        'startPoint', jsonb_build_object('airportCode', f.origin, 'terminal', f.origin_terminal, 'name', left(o.name, 200)),
        'endPoint', jsonb_build_object('airportCode', f.destination, 'terminal', f.destination_terminal, 'name', left(d.name, 200)),
        'startTime', hublink.tsp_local_time(f.departs_at, o.tz),
        'endTime', hublink.tsp_local_time(f.arrives_at, d.tz),
        'travellers', travellers))
      INTO result
      FROM hublink.tsp_flight f
      JOIN hublink.tsp_airline a ON a.iata = f.carrier
      JOIN hublink.tsp_airport o ON o.iata = f.origin
      JOIN hublink.tsp_airport d ON d.iata = f.destination
     WHERE f.flight_id = flight;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_segment_json(bigint, text, jsonb) IS
    'The itinerarySegment of a flight: airline name, airports with terminals and names, local '
    'start and end times with their offsets, the travellers on it.';

-- hublink.tsp_money, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_money(amount numeric, currency text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object('amount', to_char(amount, 'FM999999999990.00'), 'currency', currency);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_money(numeric, text) IS 'A money object: amount with two decimals as a string, and currency.';

-- hublink.tsp_conditions_text, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_conditions_text(fare1 bigint, fare2 bigint, q_price numeric,
                                            q_expected numeric, q_currency text,
                                            p_cancel numeric, q_hours numeric, q_rank integer)
    RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $f$
-- PL/pgSQL for its kept plan, as tsp_itineraries (called once per quote).
DECLARE
    result text;
BEGIN
    SELECT format('Rank %s by expected cost. Price %s %s; expected cost %s %s (price + %s x loss if '
                  'cancelled %s h before departure). ', q_rank, q_currency, to_char(q_price, 'FM999999999990.00'),
                  q_currency, to_char(q_expected, 'FM999999999990.00'), p_cancel, q_hours)
        || string_agg(format('%s%s class %s: %s, change fee %s %s, cancellation fee %s %s per ticket%s.',
                             f.carrier, f.flight_number, fa.fare_class,
                             CASE WHEN fa.refundable THEN 'refundable (' || fa.refund_rule_set || ')' ELSE 'non-refundable' END,
                             fa.currency, to_char(fa.change_fee, 'FM999999999990.00'),
                             fa.currency, to_char(fa.cancellation_fee, 'FM999999999990.00'),
                             CASE WHEN fa.baggage_kg IS NOT NULL THEN ', ' || fa.baggage_kg || ' kg baggage' ELSE '' END),
                      ' ' ORDER BY f.departs_at)
      INTO result
      FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
     WHERE fa.fare_id IN (fare1, fare2);
    RETURN result;
END;
$f$;
COMMENT ON FUNCTION hublink.tsp_conditions_text(bigint, bigint, numeric, numeric, text, numeric, numeric, integer) IS
    'conditions.notes of a quote: its rank, price and expected cost, and each fare''s refundability, fees and baggage.';

-- from sql/updates/0.1.0--0.2.0/67_quote_tail.sql
-- 0.2.0: the quote engine's seventh pass (issue 15 section 5; docs/performance.md "Quotes,
-- seventh pass"). tsp_quote reads its settings in one query, the destination's TIG cost limits
-- once per request instead of once per candidate, and each traveller's fare amounts once instead
-- of three times. Same arguments, same answers, same rows.

-- hublink.tsp_quote: defined once, at the mention that needs it (docs/upgrades.md)

-- from sql/updates/0.1.0--0.2.0/68_mi_quote.sql
-- 0.2.0: mi_sla_compliance at full size (issue 15 section 5; docs/performance.md "MI at full
-- size"). The requests of the months computed live are read once (a materialized CTE) for both
-- the live month rows and the live counts of response times, instead of once through each of
-- two views; the whole-history percentiles are grouped by the windows' bytewise keys, so their
-- rows are not sorted again. Same columns and rows. Part 62 already emits the current
-- definition (its @view and @function lines): mi_sla_compliance_rows(), which runs with
-- jit = off so that a reporting tool reading the view with PostgreSQL's defaults is not slowed
-- by JIT compilation, and the view as a call of it, which keeps its grants and comments.

-- The product's MI readers run without JIT: at full size compiling mi_sla_compliance's plan took
-- longer than running it.

-- hublink.export_mi, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.export_mi(view_name text, format text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    SET "IntervalStyle" = 'iso_8601'
    AS $$
DECLARE
    v        regclass;
    columns  text[];
    order_by text;
    result   text;
    caption  text;
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.mi_export_formats f WHERE f.format = export_mi.format) THEN
        RAISE EXCEPTION 'unknown export format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The formats are the rows of hublink.mi_export_formats.',
                  HINT = 'Use csv, xml or html.';
    END IF;
    v := hublink.mi_view(view_name);
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(a.attnum::text, ', ' ORDER BY a.attnum)
      INTO columns, order_by
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v AND a.attnum > 0 AND NOT a.attisdropped;
    IF format = 'csv' THEN
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(concat_ws('','', %s), E''\r\n'' ORDER BY %s) || E''\r\n'', '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format('hublink.csv_field(x.%I::text)', c), ', ') FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN (SELECT string_agg(hublink.csv_field(c), ',') FROM unnest(columns) c) || E'\r\n' || result;
    ELSIF format = 'xml' THEN
        RETURN '<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
            || pg_catalog.query_to_xml(pg_catalog.format('SELECT * FROM %s ORDER BY %s', v, order_by),
                                       true, false, '')::text;
    ELSE
        caption := pg_catalog.obj_description(v, 'pg_class');
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(''<tr>'' || %s || ''</tr>'', E''\n'' ORDER BY %s), '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format(
                        'CASE WHEN x.%1$I IS NULL THEN ''<td class="null"></td>'' '
                        'ELSE ''<td>'' || hublink.html_escape(x.%1$I::text) || ''</td>'' END', c), ' || ')
               FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8"><title>'
            || hublink.html_escape(view_name) || '</title>'
            || '<style>table{border-collapse:collapse;font:12px sans-serif}th,td{border:1px solid #999;padding:2px 6px}'
            || 'td.null{background:#eee}</style></head><body>' || E'\n'
            || '<table><caption>' || hublink.html_escape(view_name) || ': '
            || hublink.html_escape(coalesce(caption, '')) || '</caption>' || E'\n<thead><tr>'
            || (SELECT string_agg('<th>' || hublink.html_escape(c) || '</th>', '') FROM unnest(columns) c)
            || '</tr></thead>' || E'\n<tbody>\n' || result || E'\n</tbody></table>\n</body></html>\n';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.export_mi(text, text) IS
    'Exports a hublink.mi_* view (name without schema) as csv, xml or html '
    '(hublink.export_format), rows ordered by every column, timestamps in UTC ISO 8601. '
    'Runs as the caller, so SELECT on the view is all it needs (Schedule R SEC 019 c).';

-- (mi_report_html's current definition, jit = off included, is already emitted by part 20.)


-- from sql/updates/0.1.0--0.2.0/69_review_leftovers.sql
-- 0.2.0: the leftovers of the 8 December 2026 reviews (update part 69).
--
-- Hub erasure (docs/security-crypto.md "Erasure of a removal with live bookings"): only an
-- update that answers the Hub's cancellation (a cancellation section, or a financial section
-- for the reason CANCELLED_BY_HO) counts as the provider's answer, and an admin can record an
-- answer settled outside the interface (hublink.hub_record_settled). The new table and the
-- function that erasure_blockers now calls come here, before parts 90 and 94 bring
-- erasure_blockers and erase_removal in their current form.
-- hublink.hub_settlement, as defined in sql/parts
CREATE TABLE hublink.hub_settlement (
    settlement_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id      bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking         text NOT NULL CHECK (booking IN ('escort', 'travel')),
    kind            text NOT NULL CHECK (kind IN ('cancellation', 'completion')),
    cancellation_id bigint UNIQUE REFERENCES hublink.cancellation ON DELETE CASCADE,
    note            text NOT NULL CHECK (btrim(note) <> ''),
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'cancellation') = (cancellation_id IS NOT NULL))
);
COMMENT ON TABLE hublink.hub_settlement IS
    'At the Hub: a provider''s answer to the Hub''s cancellation, or a travel completion, settled outside the '
    'interface and recorded by an admin (hublink.hub_record_settled); it clears that erasure blocker.';
COMMENT ON COLUMN hublink.hub_settlement.settlement_id IS 'Internal key.';
COMMENT ON COLUMN hublink.hub_settlement.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.hub_settlement.booking IS 'escort or travel: the provider''s booking.';
COMMENT ON COLUMN hublink.hub_settlement.kind IS 'cancellation (the Hub''s cancellation answered outside the interface) or completion (a completed removal''s booking, ended outside it).';
COMMENT ON COLUMN hublink.hub_settlement.cancellation_id IS 'For a cancellation: the Hub''s cancellation it answers.';
COMMENT ON COLUMN hublink.hub_settlement.note IS
    'How it was settled, as the admin wrote it: a reference (ticket or e-mail id), how and when, not names. Free '
    'text, not sealed: hublink.purge_personal_data clears it with the removal''s personal data (730 days).';
COMMENT ON COLUMN hublink.hub_settlement.recorded_by IS 'The login that recorded it (hublink.acting_login()).';
COMMENT ON COLUMN hublink.hub_settlement.recorded_at IS 'When it was recorded.';
CREATE INDEX hub_settlement_removal ON hublink.hub_settlement (removal_id);
COMMENT ON INDEX hublink.hub_settlement_removal IS 'A removal''s settlements (erasure_blockers; the foreign key when a removal is deleted).';
-- The personal-data purge clears the settlements' notes (free text that may name people).
-- hublink.purge_personal_data, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.purge_personal_data(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ids jsonb;
    n   bigint;
BEGIN
    WITH gone AS (
        DELETE FROM hublink.data_key k
         WHERE k.key_scope = p_removal_reference
            OR k.key_scope IN (SELECT 'booking ' || b.booking_ref FROM hublink.tsp_booking b
                                WHERE b.removal_id = p_removal_reference)
        RETURNING k.master_key_id)
    SELECT pg_catalog.jsonb_build_object('data_keys_destroyed', pg_catalog.count(*),
               'master_key_ids', coalesce(pg_catalog.jsonb_agg(DISTINCT g.master_key_id), '[]'))
      INTO ids FROM gone g;
    -- At the Hub, the notes of answers settled outside the interface (hublink.hub_settlement):
    -- free text an admin wrote, which may name people whatever its hint asks, and is not sealed;
    -- cleared here with the rest of the removal's personal data, the settlement itself kept.
    UPDATE hublink.hub_settlement h
       SET note = pg_catalog.format('(cleared by the personal-data purge on %s)', pg_catalog.now()::date)
      FROM hublink.removal r
     WHERE r.removal_id = h.removal_id AND r.removal_reference = p_removal_reference
       AND h.note NOT LIKE '(cleared by the personal-data purge on %)';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        ids := ids || pg_catalog.jsonb_build_object('settlement_notes_cleared', n);
    END IF;
    RETURN ids;
END;
$$;
COMMENT ON FUNCTION hublink.purge_personal_data(text) IS
    'Purge of class personal_data: destroys the removal''s data keys (crypto-shredding), and at the Hub clears '
    'the free-text notes of its answers settled outside the interface (hublink.hub_settlement.note). Its '
    'sealed columns and message bodies stay as bytes nobody can decrypt; they read as NULL. '
    'Returns how many keys it destroyed and the ids of the master keys that wrapped them '
    '(hublink.data_key_erasure), and settlement_notes_cleared when it cleared any.';
REVOKE ALL ON FUNCTION hublink.purge_personal_data(text) FROM PUBLIC;
-- hublink.hub_unanswered_cancellations, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.hub_unanswered_cancellations(p_removal_id bigint) RETURNS SETOF hublink.cancellation
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT c.* FROM hublink.cancellation c
     WHERE c.removal_id = p_removal_id AND c.cancelled_by = 'hub'
       AND (NOT c.before_booking
            OR CASE c.booking
               WHEN 'escort' THEN EXISTS (SELECT FROM hublink.escort_booking k
                                           WHERE k.removal_id = c.removal_id AND k.outcome = 'ACCEPTED')
               ELSE EXISTS (SELECT FROM hublink.travel_booking k
                             WHERE k.removal_id = c.removal_id AND k.outcome = 'ACCEPTED') END)
       -- Only the provider's update that answers the cancellation: one with a cancellation
       -- section (the booking cancelled at the provider: tsp_cancel's TravelUpdate), or with a
       -- financial section for the reason CANCELLED_BY_HO (the fee of the Hub's cancellation:
       -- esp_cancel's EscortUpdate). An acceptance crossing the cancellation, or an invoice
       -- crossing it (a fee for another reason), is recorded as an inbound transition too, and
       -- is no answer: the provider may not have seen the cancellation yet.
       AND NOT EXISTS (SELECT FROM hublink.state_transition t
                         JOIN hublink.booking_update u
                           ON u.removal_id = t.removal_id AND u.booking = t.machine AND u.message_id = t.message_id
                        WHERE t.removal_id = c.removal_id AND t.machine = c.booking AND t.direction = 'in'
                          AND t.event LIKE CASE c.booking WHEN 'escort' THEN 'EscortUpdate.%' ELSE 'TravelUpdate.%' END
                          AND t.at >= c.cancelled_at
                          AND (u.kind = 'cancellation' OR (u.kind = 'financial' AND u.reason_code = 'CANCELLED_BY_HO')))
       -- nor an answer an admin recorded as settled outside the interface
       AND NOT EXISTS (SELECT FROM hublink.hub_settlement h WHERE h.cancellation_id = c.cancellation_id)
$$;
COMMENT ON FUNCTION hublink.hub_unanswered_cancellations(bigint) IS
    'At the Hub: the Hub''s cancellations of this removal''s bookings that their provider accepted (after booking, '
    'or crossing an accepted booking response) and has not answered by an update with a cancellation section or '
    'a financial section for the reason CANCELLED_BY_HO since, nor an admin recorded settled outside the interface '
    '(hublink.hub_settlement).';
REVOKE ALL ON FUNCTION hublink.hub_unanswered_cancellations(bigint) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('hub_record_settled', 'An admin recorded a provider''s answer settled outside the interface (hublink.hub_record_settled).');
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_settled_outside', 'warning', 'monitoring',
     'An admin recorded a provider''s cancellation answer or completion as settled outside the interface '
     '(hublink.hub_record_settled), which lets the removal be erased. Check it was authorised and that '
     'the provider really released its seats or escorts (hublink.hub_settlement holds the note).');
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('hub_settled_outside', 'security_settled_outside', 'Provider answer recorded as settled outside the interface');
-- hublink.hub_record_settled, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.hub_record_settled(p_removal_reference text, p_party text, p_note text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    machine text := CASE p_party WHEN 'esp' THEN 'escort' WHEN 'tsp' THEN 'travel' END;
    c       hublink.cancellation;
    kind    text;
    id      bigint;
    o       hublink.outbox;
    wait    interval;
BEGIN
    IF coalesce(btrim(p_note), '') = '' THEN
        RAISE EXCEPTION 'a settlement outside the interface needs a note'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The note is the only record of how the provider''s answer was given.',
                  HINT = 'Give a reference (a ticket or e-mail id, the provider''s letter reference), how and when: no names, '
                         'which the note is not protected for (it is cleared only by the personal-data purge).';
    END IF;
    IF machine IS NULL THEN
        RAISE EXCEPTION 'party "%" is not a provider: give esp or tsp', p_party
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A settlement records the answer of the escort provider (esp) or the travel provider (tsp).',
                  HINT = 'Name the provider whose answer was settled outside the interface.';
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = p_removal_reference AND x.state IS NOT NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the Hub has no removal %', p_removal_reference
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Settlements are recorded at the Hub, for a removal its removal machine tracks.',
                  HINT = 'Check the removal reference.';
    END IF;
    -- The one reason that may be settled: the Hub's cancellation of this provider's accepted
    -- booking with no answer yet (as hublink.erasure_blockers names it) ...
    SELECT * INTO c FROM hublink.hub_unanswered_cancellations(r.removal_id) x
     WHERE x.booking = machine ORDER BY x.cancelled_at DESC LIMIT 1;
    IF FOUND THEN
        kind := 'cancellation';
        -- ... but only once its answer is overdue: a cancellation still unsent in the outbox
        -- (the erasure would then purge it, and the provider never hear of it) or sent moments
        -- ago (its answer may be on its way) is no unanswered cancellation yet. Overdue: sent
        -- (broker-confirmed) at least the response SLA of its message type ago (the most
        -- specific enabled response_sla hublink.timer_rule, else the longest enabled response
        -- SLA: the contract's targets, edited by the admin).
        SELECT * INTO o FROM hublink.outbox x WHERE x.message_id = c.message_id;
        wait := coalesce((SELECT t.fire_offset FROM hublink.timer_rule_for('response_sla', o.message_type, p_party, NULL) t
                           WHERE t.enabled),
                         (SELECT pg_catalog.max(t.fire_offset) FROM hublink.timer_rule t
                           WHERE t.kind = 'response_sla' AND t.enabled AND t.fire_offset > interval '0'),
                         interval '24 hours');
        IF o.sent_at IS NULL OR o.sent_at + wait > pg_catalog.now() THEN
            RAISE EXCEPTION 'the Hub''s % cancellation of removal % is not yet overdue for an answer: nothing was recorded',
                            machine, p_removal_reference
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN o.message_id IS NULL
                                    THEN pg_catalog.format('Its message %s is not in the outbox, so there is no record that it was sent.', c.message_id)
                                    WHEN o.sent_at IS NULL
                                    THEN pg_catalog.format('Its message %s is not yet sent: the broker has not confirmed it, so the provider has not heard of the cancellation.', c.message_id)
                                    ELSE pg_catalog.format('Its message %s was sent at %s; the provider''s answer is due within %s of that (its response SLA), until %s.',
                                                           c.message_id, o.sent_at, wait, o.sent_at + wait) END,
                      HINT = 'Wait for the message to be sent and for its answer to be overdue, then settle it outside the interface if the provider still has not answered.';
        END IF;
    -- ... or a completed removal whose booking with this provider is still held: the Hub can no
    -- longer cancel it (a removal not completed is cancelled through the interface instead).
    ELSIF r.state = 'completed'
          AND (CASE machine WHEN 'escort' THEN r.escort_state ELSE r.travel_state END) IN ('booked', 'amended')
          AND NOT EXISTS (SELECT FROM hublink.hub_settlement h
                           WHERE h.removal_id = r.removal_id AND h.booking = machine AND h.kind = 'completion') THEN
        kind := 'completion';
    ELSE
        RAISE EXCEPTION 'removal % is not kept from erasure by a cancellation or completion of the % that is settled outside the interface: nothing was recorded',
                        p_removal_reference, p_party
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('What keeps it: ' || (SELECT pg_catalog.string_agg(b, '; ') FROM hublink.erasure_blockers(p_removal_reference) b),
                                    'Nothing keeps it from erasure.'),
                  HINT = 'Only the Hub''s cancellation that provider has not answered, or the booking of a completed removal it still '
                         'holds, can be settled outside the interface; a live booking is cancelled with hublink.cancel_booking.';
    END IF;
    INSERT INTO hublink.hub_settlement (removal_id, booking, kind, cancellation_id, note, recorded_by)
    VALUES (r.removal_id, machine, kind, c.cancellation_id, btrim(p_note), hublink.acting_login())
    RETURNING settlement_id INTO id;
    PERFORM hublink.audit_note('hub_record_settled', r.removal_id,
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'party', p_party, 'kind', kind,
                                      'settlement_id', id, 'cancellation_message_id', c.message_id));
    PERFORM hublink.record_security_event('hub_settled_outside',
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'party', p_party, 'kind', kind,
                                      'settlement_id', id, 'login', hublink.acting_login()));
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.hub_record_settled(text, text, text) IS
    'At the Hub, for hublink_admin: records that the escort (esp) or travel (tsp) provider''s answer was settled '
    'outside the interface, with a note saying how: the Hub''s cancellation of its accepted booking that it never '
    'answered by message once that answer is overdue (the cancellation sent, broker-confirmed, at least its '
    'response SLA ago: hublink.timer_rule response_sla of its message type, else the longest one), or its booking of a completed removal that it never completed by message. That '
    'erasure blocker then goes (hublink.erasure_blockers). Refused, recording nothing, for any other removal or '
    'provider (a live booking is cancelled through the interface). Audited (hub_record_settled), and a '
    'hub_settled_outside security event (alerted). Returns the hublink.hub_settlement id.';
REVOKE ALL ON FUNCTION hublink.hub_record_settled(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.hub_record_settled(text, text, text) TO hublink_admin;

-- The TSP's drift check (docs/tsp.md "The fares of a flight, in one row"): the chosen
-- itineraries' derived rows are compared whole with the exact derivation, in the same
-- statement (snapshot) as the search, and fare_row_drift is raised once per drift episode.
-- tsp_quote and tsp_flight_fares_drift_alert come in their current form with parts 20, 66 and
-- 98 (PL/pgSQL: the tables they read may come later); so does this one.
-- hublink.tsp_flight_fares_stale, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_stale(flights bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL for its kept plan (called once per quoted date), as tsp_itineraries.
BEGIN
    IF coalesce(cardinality(array_remove(flights, NULL)), 0) = 0 THEN
        RETURN '{}';  -- a date with nothing chosen: no derivation to plan
    END IF;
    RETURN (SELECT coalesce(array_agg(u.id ORDER BY u.id), '{}')
              FROM (SELECT DISTINCT x.id FROM unnest(flights) x(id) WHERE x.id IS NOT NULL) u
              LEFT JOIN hublink.tsp_flight_fares s ON s.flight_id = u.id
              LEFT JOIN hublink.tsp_flight_fares_of(flights) c ON c.flight_id = u.id
             WHERE s.fares IS DISTINCT FROM c.fares);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_stale(bigint[]) IS
    'Those of these flights whose tsp_flight_fares row (or its absence) differs from hublink.tsp_flight_fares_of, '
    'the exact derivation from tsp_fare and tsp_fare_price; empty when none. Internal: tsp_quote calls it on the '
    'flights of the itineraries it returns.';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_stale(bigint[]) FROM PUBLIC;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/70_web_identity.sql
-- 0.2.0: the caseworkers' web interface (issue 16, docs/web.md). The web login (a member of
-- hublink_web) acts for the person it SET ROLE to (hublink.acting_login()), whose clearance
-- then applies; single sign-on identities map to roles as rows; web sign-ins, failures and
-- sign-outs are recorded like database logons (NFR 0020).
-- sql/parts/79_web_identity.sql is wholly new in 0.2.0: the build copies it verbatim.
-- sql/parts/79_web_identity.sql, verbatim (a part wholly new in this version)
-- The caseworkers' web interface (issue 16; docs/web.md): who a web request acts as, the
-- mapping of single sign-on identities to database roles (rows), and the sign-in, failure and
-- sign-out records, which go into the same security events, alerts and lock-out as database
-- logons (NFR 0020 3c-e; docs/security-monitoring.md).
--
-- The web server logs in as one pooled login role, a member of hublink_web, NOINHERIT, holding
-- nothing of its own: it is granted each person's role (GRANT alice TO web_login) and runs
-- every request in a transaction after SET LOCAL ROLE to the person's role. So row-level
-- security, grants and the audit trail's "role" see the person. Clearances are decided by the
-- login (session_user) for everyone else; for a member of hublink_web they are decided by the
-- role it has SET ROLE to (hublink.acting_login()), which PostgreSQL lets it change only to a
-- role it was granted, and never inside a SECURITY DEFINER function.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_web') THEN
        CREATE ROLE hublink_web NOLOGIN;
    END IF;
END;
$$;
-- No USAGE grant of its own: PUBLIC has USAGE on schema hublink (93_access_apply.sql).

-- Invoker rights: it reads only the caller's own session, and SECURITY DEFINER functions
-- (which run as the owner) call it to learn the person behind the call. current_setting('role')
-- is the role of the last SET ROLE; a SECURITY DEFINER function changes current_user but not
-- that setting, and may not SET ROLE itself. Membership of hublink_web is read from
-- pg_auth_members (granted directly), not pg_has_role, for which a superuser is a member of
-- every role: a superuser's SET ROLE keeps the superuser's rights, as before.
-- PL/pgSQL, not SQL: a SQL function with SET is never inlined and is parsed and planned again
-- in every statement and subtransaction that calls it (0.5 ms: pg_roles is a view). Pages call
-- it several times for every name they decrypt (removal_access_allowed, cleared_levels in each
-- row-level security policy) and the worker's clearance check once per message, each message in
-- a subtransaction of its own; PL/pgSQL keeps its plan for the session (docs/performance.md
-- "The web pages" and "Per-message cost, third pass").
CREATE FUNCTION hublink.acting_login() RETURNS name
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('role') <> 'none'
       AND EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = (SELECT g.oid FROM pg_catalog.pg_roles g WHERE g.rolname = 'hublink_web')
                      AND m.member = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)) THEN
        RETURN pg_catalog.current_setting('role')::name;
    END IF;
    RETURN session_user;
END;
$$;
COMMENT ON FUNCTION hublink.acting_login() IS
    'The person a call acts for, whose clearance applies: the login (session_user), except for '
    'the web interface''s login (a member of hublink_web), which acts for the role it SET ROLE '
    'to for the request (docs/web.md). Without a SET ROLE that is the web login itself, which '
    'has no clearance.';

CREATE TABLE hublink.security_web_identity (
    issuer       text NOT NULL CHECK (issuer ~ '^https?://'),
    subject      text NOT NULL CHECK (subject <> '' AND octet_length(subject) <= 255),
    role_name    name NOT NULL,
    display_name text NOT NULL CHECK (display_name <> ''),
    added_by     name NOT NULL DEFAULT hublink.acting_login(),
    added_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_by name,
    confirmed_at timestamptz,
    PRIMARY KEY (issuer, subject),
    CONSTRAINT security_web_identity_confirmed CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL))
);
COMMENT ON TABLE hublink.security_web_identity IS
    'Single sign-on identities allowed into the web interface and the database role each acts '
    'as (docs/web.md). The role''s memberships (hublink_caseworker, hublink_admin, ...) and its '
    'clearance (hublink.role_clearance) decide what the person may do and see. Edited by '
    'hublink_admin; an identity without a row is refused (a failed sign-in).';
COMMENT ON COLUMN hublink.security_web_identity.issuer IS 'The OpenID provider''s issuer URL (the id token''s iss).';
COMMENT ON COLUMN hublink.security_web_identity.subject IS 'The person''s subject at that provider (the id token''s sub).';
COMMENT ON COLUMN hublink.security_web_identity.role_name IS
    'The database role the person acts as; the web login must be granted it (GRANT role TO web login).';
COMMENT ON COLUMN hublink.security_web_identity.display_name IS 'The person''s name, shown in the interface.';
COMMENT ON COLUMN hublink.security_web_identity.added_by IS 'Who added the row.';
COMMENT ON COLUMN hublink.security_web_identity.added_at IS 'When.';
COMMENT ON COLUMN hublink.security_web_identity.confirmed_by IS
    'The second admin who confirmed the mapping (hublink.confirm_web_identity), or the superuser '
    'or extension owner who made it; NULL: not confirmed, and the identity cannot sign in.';
COMMENT ON COLUMN hublink.security_web_identity.confirmed_at IS 'When it was confirmed.';
SELECT pg_catalog.pg_extension_config_dump('hublink.security_web_identity', '');
-- Columns, not the table: added_by and confirmed_by are set by the trigger and by
-- hublink.confirm_web_identity only.
GRANT SELECT, DELETE ON hublink.security_web_identity TO hublink_admin;
GRANT INSERT (issuer, subject, role_name, display_name), UPDATE (issuer, subject, role_name, display_name)
    ON hublink.security_web_identity TO hublink_admin;

-- Four eyes on who may sign in as whom (the attacker pass of 0.2.0: an admin could map its own
-- identity to any person's role). An admin may map an identity only to a role that exists and
-- is neither its own nor a privileged one (hublink.web_identity_role_protected); the mapping
-- works only once a different admin confirms it; superusers and the extension owner map any
-- role, confirmed at once. Every change is a critical alert (hublink.security_config_changed).
-- docs/security-access.md "Web identities: four eyes".
CREATE FUNCTION hublink.web_identity_role_protected(p_role_name name) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM pg_catalog.pg_roles r
                    WHERE r.rolname = p_role_name
                      AND (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication
                           OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                           OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                                       WHERE g.rolname IN ('hublink_admin', 'hublink_worker', 'hublink_web',
                                                           'hublink_backup', 'hublink_audit_reader')
                                         AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER'))));
COMMENT ON FUNCTION hublink.web_identity_role_protected(name) IS
    'True for a role only the owner may map a web identity to: a superuser, CREATEROLE, BYPASSRLS '
    'or REPLICATION role, the extension owner, or a member of hublink_admin, hublink_worker, '
    'hublink_web, hublink_backup or hublink_audit_reader.';

CREATE FUNCTION hublink.web_identity_privileged() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM pg_catalog.pg_roles r
                    WHERE r.rolname = hublink.acting_login()
                      AND (r.rolsuper
                           OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')));
COMMENT ON FUNCTION hublink.web_identity_privileged() IS
    'True when the person behind the call (hublink.acting_login()) is a superuser or the extension '
    'owner, who map any web identity, confirmed at once.';

CREATE FUNCTION hublink.web_identity_guard() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who  name := hublink.acting_login();
    boss boolean := hublink.web_identity_privileged();
    moved boolean := TG_OP = 'INSERT'
                     OR (NEW.issuer, NEW.subject, NEW.role_name) IS DISTINCT FROM (OLD.issuer, OLD.subject, OLD.role_name);
BEGIN
    IF NOT moved THEN
        RETURN NEW; -- the display name, or a confirmation (hublink.confirm_web_identity)
    END IF;
    IF NOT boss THEN
        IF NEW.role_name = who THEN
            RAISE EXCEPTION 'an admin may not map a web identity to its own role'
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('%s tried to map identity %s at %s to its own role.', who, NEW.subject, NEW.issuer),
                      HINT = 'Another admin maps it, and a third confirms it.';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role_name) THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.role_name
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'A web identity is mapped to an existing role.',
                      HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker, then GRANT it to the web login.';
        END IF;
        IF hublink.web_identity_role_protected(NEW.role_name) THEN
            RAISE EXCEPTION 'an admin may not map a web identity to the privileged role "%"', NEW.role_name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Admin, worker, backup, audit reader, web login, superuser and owner roles are mapped by the extension''s owner only.',
                      HINT = 'Ask the owner (a superuser) to map it.';
        END IF;
        NEW.added_by := who;
        NEW.added_at := now();
        NEW.confirmed_by := NULL;
        NEW.confirmed_at := NULL;
    ELSIF TG_OP = 'UPDATE' OR NEW.confirmed_by IS NULL THEN
        NEW.added_by := CASE WHEN TG_OP = 'UPDATE' THEN who ELSE NEW.added_by END;
        NEW.confirmed_by := who;
        NEW.confirmed_at := now();
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.web_identity_guard() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.security_web_identity: a mapping an admin adds or '
    'moves (issuer, subject, role) must name an existing role that is not its own nor privileged '
    '(hublink.web_identity_role_protected), is recorded as added by it and is unconfirmed until '
    'another admin confirms it (hublink.confirm_web_identity); one a superuser or the owner adds '
    'or moves is confirmed by them at once.';
REVOKE ALL ON FUNCTION hublink.web_identity_guard() FROM PUBLIC;
CREATE TRIGGER web_identity_guard BEFORE INSERT OR UPDATE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.web_identity_guard();
COMMENT ON TRIGGER web_identity_guard ON hublink.security_web_identity IS
    'Four eyes on mappings (hublink.web_identity_guard).';
-- Every change is alerted: 95_config_alerts.sql.

CREATE FUNCTION hublink.confirm_web_identity(p_issuer text, p_subject text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who name := hublink.acting_login();
    w   hublink.security_web_identity;
BEGIN
    SELECT * INTO w FROM hublink.security_web_identity i
     WHERE i.issuer = p_issuer AND i.subject = p_subject AND i.confirmed_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no unconfirmed web identity % at %', p_subject, p_issuer
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT issuer, subject, role_name, added_by FROM hublink.security_web_identity WHERE confirmed_at IS NULL.';
    END IF;
    IF w.added_by = who THEN
        RAISE EXCEPTION 'an admin may not confirm a web identity it mapped itself'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s mapped identity %s at %s to role %s.', who, p_subject, p_issuer, w.role_name),
                  HINT = 'A second admin confirms it.';
    END IF;
    IF w.role_name = who OR hublink.web_identity_role_protected(w.role_name) THEN
        RAISE EXCEPTION 'an admin may not confirm a web identity for its own or a privileged role'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The identity is mapped to role %s.', w.role_name),
                  HINT = 'The extension''s owner maps privileged roles.';
    END IF;
    UPDATE hublink.security_web_identity i SET confirmed_by = who, confirmed_at = now()
     WHERE i.issuer = p_issuer AND i.subject = p_subject;
END;
$$;
COMMENT ON FUNCTION hublink.confirm_web_identity(text, text) IS
    'A second admin confirms a web identity mapping another admin added or moved: only then may '
    'the identity sign in. Refused to the admin who mapped it, and for its own or a privileged '
    'role. Alerted like every change of the mapping.';
REVOKE ALL ON FUNCTION hublink.confirm_web_identity(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.confirm_web_identity(text, text) TO hublink_admin;

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('web_sign_out', NULL, 'A person signed out of the web interface, or its session timed out');

CREATE FUNCTION hublink.security_web_logon(p_role_name text, p_ok boolean, p_client_addr text,
                                           p_extra text) RETURNS text
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_web_logon';
COMMENT ON FUNCTION hublink.security_web_logon(text, boolean, text, text) IS
    'Counts and records a web sign-in of a role like a database logon (same lock-out table, a '
    'logon event with method oidc); p_extra is a JSON object added to the detail. Returns '
    'succeeded, failed or refused_locked.';
REVOKE ALL ON FUNCTION hublink.security_web_logon(text, boolean, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.security_web_sign_out(p_role_name text, p_detail text) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_web_sign_out';
COMMENT ON FUNCTION hublink.security_web_sign_out(text, text) IS
    'Records a web_sign_out security event for the role (p_detail: a JSON object).';
REVOKE ALL ON FUNCTION hublink.security_web_sign_out(text, text) FROM PUBLIC;

-- The role name a failed sign-in counts against: the mapped role when the identity is known
-- (so web and database failures lock out the same role), else the subject, marked.
CREATE FUNCTION hublink.web_sign_in_role(p_issuer text, p_subject text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN coalesce((SELECT w.role_name::text FROM hublink.security_web_identity w
                      WHERE w.issuer = p_issuer AND w.subject = p_subject),
                    left('oidc:' || coalesce(nullif(p_subject, ''), 'unknown'), 63));
COMMENT ON FUNCTION hublink.web_sign_in_role(text, text) IS
    'The role a web sign-in of this identity counts against: its mapped role, or "oidc:" and '
    'the subject for an identity without a row.';
REVOKE ALL ON FUNCTION hublink.web_sign_in_role(text, text) FROM PUBLIC;

CREATE FUNCTION hublink.web_sign_in(p_issuer text, p_subject text, p_client_addr text)
    RETURNS TABLE (outcome text, role_name name, display_name text, groups text[],
                   clearance text, reason text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w hublink.security_web_identity;
    why text;
BEGIN
    SELECT * INTO w FROM hublink.security_web_identity i
     WHERE i.issuer = p_issuer AND i.subject = p_subject;
    IF NOT FOUND THEN
        why := 'identity not mapped to a role';
    ELSIF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = w.role_name) THEN
        why := 'mapped role does not exist';
    ELSIF NOT pg_catalog.pg_has_role(session_user, w.role_name, 'MEMBER') THEN
        why := 'web login is not granted the mapped role';
    ELSIF (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = w.role_name) THEN
        why := 'mapped role is a superuser or bypasses row-level security';
    ELSIF w.confirmed_at IS NULL THEN
        why := 'identity mapping not yet confirmed by a second admin';
    -- a privileged role only when a superuser or the owner confirmed it (it may have become
    -- privileged after an admin's mapping was confirmed)
    ELSIF hublink.web_identity_role_protected(w.role_name)
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                           WHERE r.rolname = w.confirmed_by
                             AND (r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                          WHERE e.extname = 'hublink'))) THEN
        why := 'mapping of a privileged role not confirmed by the owner';
    END IF;
    outcome := hublink.security_web_logon(hublink.web_sign_in_role(p_issuer, p_subject), why IS NULL,
                                          p_client_addr,
                                          jsonb_build_object('issuer', p_issuer, 'subject', p_subject,
                                                             'reason', why)::text);
    reason := coalesce(why, CASE WHEN outcome = 'refused_locked' THEN 'role is locked out' END);
    IF outcome = 'succeeded' THEN
        role_name := w.role_name;
        display_name := w.display_name;
        groups := ARRAY(SELECT g FROM unnest(ARRAY['hublink_admin', 'hublink_caseworker', 'hublink_reporting']) g
                         WHERE pg_catalog.pg_has_role(w.role_name, g, 'USAGE') ORDER BY g);
        clearance := (SELECT c.level FROM hublink.role_clearance c WHERE c.role_name = w.role_name);
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_sign_in(text, text, text) IS
    'A person signed in at the OpenID provider (issuer, subject verified by the web server): '
    'maps the identity to its role, counts and records the sign-in like a database logon '
    '(NFR 0020; lock-out) and returns the outcome (succeeded, failed, refused_locked), and on '
    'success the role, name, group roles and clearance. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_in(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in(text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_sign_in_failed(p_issuer text, p_subject text, p_reason text,
                                           p_client_addr text) RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.security_web_logon(hublink.web_sign_in_role(p_issuer, p_subject), false, p_client_addr,
                                      jsonb_build_object('issuer', p_issuer, 'subject', p_subject,
                                                         'reason', left(p_reason, 200))::text);
COMMENT ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) IS
    'Records a web sign-in that failed before an identity was established or verified (the '
    'provider refused, a forged or replayed callback, a token that did not verify), against '
    'the mapped role if the subject is known. Returns failed. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_sign_out(p_role_name text, p_reason text, p_client_addr text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.security_web_sign_out(p_role_name,
                                         jsonb_build_object('reason', left(p_reason, 200),
                                                            'client_addr', p_client_addr)::text);
COMMENT ON FUNCTION hublink.web_sign_out(text, text, text) IS
    'Records that a person''s web session ended (reason: signed out, timed out). For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_out(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_out(text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_login_warning() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT w.warning_text FROM hublink.security_login_warning w);
COMMENT ON FUNCTION hublink.web_login_warning() IS
    'The login warning (NFR 0014, hublink.security_login_warning), which the web interface shows '
    'before sign-in. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_login_warning() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_login_warning() TO hublink_web;
-- end of sql/parts/79_web_identity.sql

-- The clearance and the records of who did what follow hublink.acting_login().
-- hublink.cleared_levels, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cleared_levels() RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    me name := hublink.acting_login();
BEGIN
    RETURN ARRAY(SELECT l.level FROM hublink.sensitivity_level l
                  WHERE l.rank <= (SELECT m.rank FROM hublink.role_clearance c
                                     JOIN hublink.sensitivity_level m ON m.level = c.level
                                    WHERE c.role_name = me)
                  ORDER BY l.rank);
END;
$$;
COMMENT ON FUNCTION hublink.cleared_levels() IS
    'The sensitivity levels the login (hublink.acting_login(): session_user, or the person the '
    'web interface acts for) is cleared for; empty without a clearance.';
-- hublink.removal_access_allowed: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.set_clearance, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.set_clearance(role_name name, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = set_clearance.role_name AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'role "%" is not a login role', role_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'A clearance belongs to a login role (one per person).',
                  HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker first.';
    END IF;
    -- Two people for a clearance: an admin cleared by itself could read any removal's personal
    -- data through the audited readers (the attacker pass of issue 12). Superusers excepted.
    IF set_clearance.role_name = hublink.acting_login()
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()) THEN
        RAISE EXCEPTION 'a login may not set its own clearance'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s tried to set the clearance of its own login.', hublink.acting_login()),
                  HINT = 'Another admin sets it; each change is audited.';
    END IF;
    IF level IS NULL THEN
        DELETE FROM hublink.role_clearance c WHERE c.role_name = set_clearance.role_name;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_clearance.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Clearances are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    INSERT INTO hublink.role_clearance AS c (role_name, level, granted_by)
    VALUES (set_clearance.role_name, set_clearance.level, hublink.acting_login())
    ON CONFLICT ON CONSTRAINT role_clearance_pkey
    DO UPDATE SET level = excluded.level, granted_by = excluded.granted_by, granted_at = now();
END;
$$;
COMMENT ON FUNCTION hublink.set_clearance(name, text) IS
    'Sets the clearance of a login role to a sensitivity level (NULL removes it: the login then '
    'sees no removal). For hublink_admin (Appendix B 4.16: the service administrator manages users); '
    'never a login''s own, except a superuser''s.';
-- hublink.set_removal_sensitivity: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.create_removal: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.acknowledge_alert, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.acknowledge_alert(p_alert_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a hublink.alert;
BEGIN
    SELECT * INTO a FROM hublink.alert WHERE alert_id = p_alert_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert %', p_alert_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'hublink.alert has no row with that alert_id.',
                  HINT = 'SELECT alert_id, subject FROM hublink.alert WHERE acknowledged_at IS NULL lists the open alerts.';
    END IF;
    -- It runs as the owner: the person (a caseworker, from the web interface's alerts page)
    -- acknowledges only an alert of a removal they may see; an alert of no removal
    -- (monitoring) only an admin or the owner.
    IF a.removal_id IS NOT NULL THEN
        PERFORM hublink.require_removal_access(a.removal_id);
    ELSIF NOT (SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                      OR pg_catalog.pg_has_role(r.oid, 'hublink_admin', 'USAGE')
                 FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()) THEN
        RAISE EXCEPTION 'alert % belongs to no removal', p_alert_id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Alerts of no removal (protective monitoring, the worker) are acknowledged by an admin.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
    UPDATE hublink.alert SET acknowledged_at = clock_timestamp(), acknowledged_by = hublink.acting_login()
     WHERE alert_id = p_alert_id AND acknowledged_at IS NULL;
END;
$$;
COMMENT ON FUNCTION hublink.acknowledge_alert(bigint) IS
    'Marks an alert as seen by the person (hublink.acting_login()); acknowledging twice keeps the '
    'first. A caseworker acknowledges alerts of removals it may see; alerts of no removal, an admin.';
-- hublink.unlock_role, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.unlock_role(p_role_name text) RETURNS boolean
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    was_locked boolean;
BEGIN
    -- Copy a lock-out the worker has not flushed yet, so it is lifted too.
    PERFORM hublink.flush_security_events();
    UPDATE hublink.security_lockout SET unlocked_at = clock_timestamp(), unlocked_by = hublink.acting_login()
     WHERE role_name = p_role_name AND unlocked_at IS NULL;
    was_locked := FOUND;
    PERFORM hublink.security_set_lockout(p_role_name, false, clock_timestamp());
    IF NOT was_locked AND NOT EXISTS (SELECT 1 FROM hublink.security_logon_state() s
                                       WHERE s.role_name = p_role_name) THEN
        RAISE EXCEPTION 'role "%" is not locked out', p_role_name
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Neither hublink.security_lockout nor the logon hook has a lock-out or failures for it.',
                  HINT = 'SELECT role_name FROM hublink.security_lockout WHERE unlocked_at IS NULL lists the roles locked out.';
    END IF;
    PERFORM hublink.record_security_event('account_unlocked',
        jsonb_build_object('unlocked_role', p_role_name, 'was_locked', was_locked));
    RETURN was_locked;
END;
$$;
COMMENT ON FUNCTION hublink.unlock_role(text) IS
    'Lifts the lock-out of a role (NFR 0020 3d), its address locks, and clears its counts of '
    'failed logons; records an account_unlocked event. Returns whether it was locked out '
    'everywhere. For hublink_admin.';
-- A reference list an admin edits is announced by a message of no removal: hublink.send has no
-- removal to check for it (it refused every admin but a superuser before).
-- hublink.send, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.send(message jsonb) RETURNS text
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb;
    kind     hublink.message_type;
    party    text := current_setting('hublink.party', true);
    -- Need-to-know first (90_access.sql). A message of no removal (a reference list an admin's
    -- edit announces, 4.17) has no removal to check.
BEGIN
    IF message ? 'removalId' THEN
        PERFORM hublink.require_removal_access(message ->> 'removalId');
    END IF;
    problems := hublink.validate_message(message);
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'message is not valid against its schema'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s problem(s); the first is at "%s": %s.',
                                  jsonb_array_length(problems),
                                  problems -> 0 ->> 'instanceLocation',
                                  problems -> 0 ->> 'error'),
                  HINT = 'Check the message with hublink.validate_message(), which lists every problem.';
    END IF;
    SELECT * INTO kind FROM hublink.message_type t WHERE t.message_type = message ->> 'messageType';
    IF kind.queue IS NULL THEN
        RAISE EXCEPTION 'message type "%" cannot be sent with hublink.send()', message ->> 'messageType'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Error messages are written by the worker when a message cannot be processed.';
    END IF;
    IF kind.sender_party IS DISTINCT FROM party THEN
        RAISE EXCEPTION 'party "%" does not send % messages', coalesce(party, ''), kind.message_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s messages are sent by party "%s".', kind.message_type, kind.sender_party),
                  HINT = 'Check the hublink.party setting.';
    END IF;
    INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message)
    VALUES (message ->> 'messageId', kind.message_type, kind.queue, message ->> 'removalId', message);
    PERFORM hublink.wake_worker_at_commit();
    RETURN message ->> 'messageId';
END;
$$;
COMMENT ON FUNCTION hublink.send(jsonb) IS
    'Validates a message and writes it to hublink.outbox in the caller''s transaction; the worker '
    'publishes it to its queue after the transaction commits. Returns its messageId.';
ALTER POLICY own_clearance ON hublink.role_clearance
    USING (role_name = hublink.acting_login()
           OR pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE'));
-- Caseworkers acknowledge the alerts of their removals from the web interface's alerts page
-- (the function checks the clearance); admins the alerts of no removal.
GRANT EXECUTE ON FUNCTION hublink.acknowledge_alert(bigint) TO hublink_admin, hublink_caseworker;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/71_web_speed_sessions.sql
-- 0.2.0: the web interface's speed and stateless sessions (issue 16, docs/web.md "Figures",
-- "Sessions"). hublink.find_removals pages the cases list before it decrypts names (44_hub.sql);
-- the sessions live in hublink.web_session behind SECURITY DEFINER functions for the web login
-- (94_web_sessions.sql, wholly new: included verbatim).

-- hublink.find_removals, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.find_removals(removal text DEFAULT NULL, case_ref text DEFAULT NULL,
                                      returnee text DEFAULT NULL, in_state text DEFAULT NULL,
                                      leave_from date DEFAULT NULL, leave_to date DEFAULT NULL,
                                      going_to text DEFAULT NULL, page_size integer DEFAULT 50,
                                      page_offset integer DEFAULT 0)
    RETURNS TABLE (removal_reference text, case_reference text, state text, escort_state text,
                   travel_state text, returnees text, created_at timestamptz, updated_at timestamptz,
                   sensitivity text, earliest_leave_date date, latest_leave_date date,
                   destination text, more boolean)
    LANGUAGE plpgsql VOLATILE -- it decrypts names, and each decryption is audited
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    name_like text;
    dest_like text;
    r         hublink.removal;
    rows      hublink.removal[] := '{}';
    names     text[] := '{}';
    matched   boolean;
    v_names   text;
    skipped   integer := 0;
    found_more boolean := false;
BEGIN
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 500 OR page_offset IS NULL OR page_offset < 0 THEN
        RAISE EXCEPTION 'page_size must be 1 to 500 and page_offset 0 or more, not % and %', page_size, page_offset
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Ask for the next page with page_offset = page_offset + page_size.';
    END IF;
    name_like := '%' || replace(replace(replace(nullif(find_removals.returnee, ''), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    dest_like := '%' || replace(replace(replace(nullif(find_removals.going_to, ''), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    -- Row-level security: only removals the caller is cleared for. The removal_created index
    -- gives them newest first without a sort.
    FOR r IN SELECT x.* FROM hublink.removal x
              WHERE (find_removals.removal IS NULL OR x.removal_reference = find_removals.removal)
                AND (find_removals.case_ref IS NULL OR x.case_reference = find_removals.case_ref)
                AND (find_removals.in_state IS NULL OR x.state = find_removals.in_state)
                AND (find_removals.leave_from IS NULL OR x.latest_leave_date >= find_removals.leave_from)
                AND (find_removals.leave_to IS NULL OR x.earliest_leave_date <= find_removals.leave_to)
                AND (dest_like IS NULL OR x.destination::text ILIKE dest_like)
              ORDER BY x.created_at DESC, x.removal_id DESC LOOP
        v_names := NULL;
        IF name_like IS NOT NULL THEN
            SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                              ', ' ORDER BY t.returnee_id),
                   bool_or((p.given_names || ' ' || p.family_name) ILIKE name_like)
              INTO v_names, matched
              FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
             WHERE t.removal_id = r.removal_id;
            CONTINUE WHEN NOT coalesce(matched, false);
        END IF;
        IF skipped < page_offset THEN
            skipped := skipped + 1;
            CONTINUE;
        END IF;
        IF cardinality(rows) = page_size THEN
            found_more := true;
            EXIT;
        END IF;
        IF name_like IS NULL THEN
            SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                              ', ' ORDER BY t.returnee_id)
              INTO v_names
              FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
             WHERE t.removal_id = r.removal_id;
        END IF;
        rows := rows || r;
        names := names || v_names;
    END LOOP;
    FOR i IN 1 .. cardinality(rows) LOOP
        r := rows[i];
        removal_reference := r.removal_reference;
        case_reference := r.case_reference;
        state := r.state;
        escort_state := r.escort_state;
        travel_state := r.travel_state;
        returnees := names[i];
        created_at := r.created_at;
        updated_at := r.updated_at;
        sensitivity := r.sensitivity;
        earliest_leave_date := r.earliest_leave_date;
        latest_leave_date := r.latest_leave_date;
        destination := r.destination ->> 'description';
        more := found_more;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.find_removals(text, text, text, text, date, date, text, integer, integer) IS
    'One page of the removals the caller may see (Appendix B 4.19), newest first, filtered by '
    'removal reference, case reference (case_ref), part of a returnee''s name (returnee, case '
    'insensitive), state (in_state), leave dates (a removal whose window meets '
    'leave_from..leave_to) and part of the destination (going_to). '
    'Decrypts (and audits) the names of the rows returned only, or with returnee_name those of '
    'the removals it had to look at; more says whether another page follows.';
-- The clearance check behind every decryption, ten times cheaper (90_access.sql).
-- hublink.removal_access_allowed, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_access_allowed(removal_id bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- Once, into a variable: called inside the queries below it cost ten times the whole check
    -- (a SQL function with SET is planned again at every call; docs/web.md "Figures"), and
    -- every decryption of a name on a web page runs this check.
    me name := hublink.acting_login();
BEGIN
    RETURN (SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                   OR pg_catalog.pg_has_role(me, 'hublink_worker', 'USAGE')
              FROM pg_catalog.pg_roles r WHERE r.rolname = me)
        OR EXISTS (SELECT FROM hublink.removal x
                     JOIN hublink.sensitivity_level s ON s.level = x.sensitivity
                     JOIN hublink.role_clearance c ON c.role_name = me
                     JOIN hublink.sensitivity_level m ON m.level = c.level
                    WHERE x.removal_id = removal_access_allowed.removal_id AND s.rank <= m.rank);
END;
$$;
COMMENT ON FUNCTION hublink.removal_access_allowed(bigint) IS
    'True when the login (hublink.acting_login()) may see the removal: it is cleared at the removal''s '
    'sensitivity or above, or it is the extension owner, a superuser or a hublink_worker member.';
CREATE INDEX removal_created ON hublink.removal (created_at DESC, removal_id DESC);
COMMENT ON INDEX hublink.removal_created IS 'Removals newest first: the cases list pages (hublink.find_removals).';

-- The sessions' part is wholly new: copied verbatim.
-- sql/parts/94_web_sessions.sql, verbatim (a part wholly new in this version)
-- Web sessions in the database (issue 16; docs/web.md "Sessions"): the web tier is stateless,
-- so any number of web server processes share the sessions, and a restart signs nobody out.
-- The web login reaches the table only through the SECURITY DEFINER functions below (as
-- hublink_web, like web_sign_in): it cannot list, read or change a session whose id it was not
-- given by the browser. The id is made here (never chosen by the web tier, so never planted)
-- and stored only as its SHA-256: a copy of the table, a backup or a look by an admin gives no
-- cookie that works. The idle and absolute time-outs are checked here on every read, and an
-- ended session's row is deleted; its end is a web_sign_out security event (NFR 0020).

CREATE TABLE hublink.web_session (
    id_hash      bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    role_name    name,
    csrf_token   text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    client_addr  text,
    idle_seconds integer NOT NULL CHECK (idle_seconds BETWEEN 1 AND 28800),
    max_seconds  integer NOT NULL CHECK (max_seconds BETWEEN 1 AND 86400),
    created_at   timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.web_session IS
    'The web interface''s sessions (docs/web.md "Sessions"): written and read only through the '
    'hublink.web_session_* functions; the id is kept as its SHA-256 only.';
COMMENT ON COLUMN hublink.web_session.id_hash IS 'SHA-256 of the session id (the cookie''s value); the id itself is not stored.';
COMMENT ON COLUMN hublink.web_session.role_name IS 'The signed-in person''s role; NULL while the sign-in is under way.';
COMMENT ON COLUMN hublink.web_session.csrf_token IS 'The token every form of this session carries (CSRF).';
COMMENT ON COLUMN hublink.web_session.data IS
    'What the web tier keeps between requests: the sign-in under way (PKCE verifier, state, nonce, '
    'where to go), the person''s name, groups and clearance at sign-in, a message for the next page.';
COMMENT ON COLUMN hublink.web_session.client_addr IS 'The address the person signed in from (security events).';
COMMENT ON COLUMN hublink.web_session.idle_seconds IS 'The session ends after this long without a request.';
COMMENT ON COLUMN hublink.web_session.max_seconds IS 'The session ends this long after it started, whatever.';
COMMENT ON COLUMN hublink.web_session.created_at IS 'When it started.';
COMMENT ON COLUMN hublink.web_session.seen_at IS 'Its last request.';
CREATE INDEX web_session_seen ON hublink.web_session (seen_at);
COMMENT ON INDEX hublink.web_session_seen IS 'The sweep of idle sessions.';
REVOKE ALL ON hublink.web_session FROM PUBLIC;

INSERT INTO hublink.access_table_override VALUES
    ('web\_session', 'own_grants', 'Web sessions (94_web_sessions.sql, docs/web.md): no role reads '
                     'or writes them but through the web_session_* functions.');
INSERT INTO hublink.audit_exclusion VALUES
    ('web_session', 'Web sessions: every request touches its row; sign-ins and sign-outs are security '
                    'events (hublink.logon, web_sign_out), and the pages'' reads and writes are audited '
                    'as the person.');

-- The hash of a session id as the browser sent it; NULL for anything that is not an id made
-- by web_session_start (43 base64url characters), so a stored hash given as an id matches nothing.
CREATE FUNCTION hublink.web_session_hash(p_id text) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN p_id ~ '^[A-Za-z0-9_-]{43}$' THEN pg_catalog.sha256(pg_catalog.convert_to(p_id, 'UTF8')) END;
COMMENT ON FUNCTION hublink.web_session_hash(text) IS
    'SHA-256 of a session id of the right form, else NULL. Internal (web_session_*).';
REVOKE ALL ON FUNCTION hublink.web_session_hash(text) FROM PUBLIC;

CREATE FUNCTION hublink.web_session_start(p_role_name text, p_data jsonb, p_client_addr text,
                                          p_idle_seconds integer, p_max_seconds integer)
    RETURNS TABLE (session_id text, csrf_token text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A session acts for a person only if the web login may act for them (web_sign_in's checks
    -- on the mapped role: it was granted, it is no superuser and obeys row-level security).
    IF p_role_name IS NOT NULL AND NOT EXISTS (
           SELECT FROM hublink.security_web_identity w JOIN pg_catalog.pg_roles r ON r.rolname = w.role_name
            WHERE w.role_name = p_role_name AND NOT r.rolsuper AND NOT r.rolbypassrls
              AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'no web session for role "%"', p_role_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The role is not mapped from a web identity, the web login was not granted it, or it is a superuser or bypasses row-level security.',
                  HINT = 'Start a session for a person after hublink.web_sign_in succeeded for them.';
    END IF;
    session_id := pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(hublink.crypto_random_key(), 'base64'), '='), '+/', '-_');
    csrf_token := pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(hublink.crypto_random_key(), 'base64'), '='), '+/', '-_');
    INSERT INTO hublink.web_session (id_hash, role_name, csrf_token, data, client_addr, idle_seconds, max_seconds)
    VALUES (hublink.web_session_hash(session_id), p_role_name, csrf_token, coalesce(p_data, '{}'), p_client_addr,
            p_idle_seconds, p_max_seconds);
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) IS
    'Starts a web session, for a sign-in under way (p_role_name NULL) or for a person signed in '
    '(a role mapped from a web identity, granted to the web login): returns a new random id for '
    'the cookie and the session''s CSRF token. The id is stored as its SHA-256 only. For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_start(text, jsonb, text, integer, integer) TO hublink_web;

-- Deletes a session and records the end of a signed-in one (sign-out, time-out) as a
-- web_sign_out security event. Internal.
CREATE FUNCTION hublink.web_session_close(s hublink.web_session, p_reason text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM hublink.web_session w WHERE w.id_hash = s.id_hash;
    IF FOUND AND s.role_name IS NOT NULL THEN
        PERFORM hublink.web_sign_out(s.role_name, p_reason, coalesce(s.client_addr, ''));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_close(hublink.web_session, text) IS
    'Deletes a web session; a signed-in one''s end is recorded (hublink.web_sign_out). Internal.';
REVOKE ALL ON FUNCTION hublink.web_session_close(hublink.web_session, text) FROM PUBLIC;

CREATE FUNCTION hublink.web_session_get(p_id text, p_touch boolean DEFAULT true)
    RETURNS TABLE (outcome text, role_name name, csrf_token text, data jsonb, client_addr text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
BEGIN
    SELECT * INTO s FROM hublink.web_session w WHERE w.id_hash = hublink.web_session_hash(p_id) FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
    ELSIF pg_catalog.now() - s.seen_at > pg_catalog.make_interval(secs => s.idle_seconds)
          OR pg_catalog.now() - s.created_at > pg_catalog.make_interval(secs => s.max_seconds) THEN
        PERFORM hublink.web_session_close(s, 'timed out');
        outcome := 'ended';
    ELSE
        UPDATE hublink.web_session w SET seen_at = pg_catalog.now() WHERE w.id_hash = s.id_hash AND p_touch;
        outcome := 'live';
        role_name := s.role_name;
        csrf_token := s.csrf_token;
        data := s.data;
        client_addr := s.client_addr;
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_get(text, boolean) IS
    'The web session of the id a browser sent, touched unless p_touch is false (outcome live), '
    'or unknown, or ended: one idle longer than its idle_seconds or older than its max_seconds '
    'is deleted and its end recorded (timed out). For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_get(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_get(text, boolean) TO hublink_web;

CREATE FUNCTION hublink.web_session_save(p_id text, p_data jsonb) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        UPDATE hublink.web_session w SET data = coalesce(p_data, '{}'::jsonb)
         WHERE w.id_hash = hublink.web_session_hash(p_id)
           AND pg_catalog.now() - w.seen_at <= pg_catalog.make_interval(secs => w.idle_seconds)
           AND pg_catalog.now() - w.created_at <= pg_catalog.make_interval(secs => w.max_seconds)
        RETURNING true;
    END;
COMMENT ON FUNCTION hublink.web_session_save(text, jsonb) IS
    'Replaces what the web tier keeps in a live session (hublink.web_session.data); NULL when the '
    'id names no live session. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_save(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_save(text, jsonb) TO hublink_web;

CREATE FUNCTION hublink.web_session_end(p_id text, p_reason text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
BEGIN
    SELECT * INTO s FROM hublink.web_session w WHERE w.id_hash = hublink.web_session_hash(p_id) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM hublink.web_session_close(s, left(coalesce(p_reason, 'signed out'), 200));
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_end(text, text) IS
    'Ends a web session (sign-out, or the sign-in session replaced at sign-in): deletes it and '
    'records a signed-in one''s end with the reason. False when there was none. For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_end(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_end(text, text) TO hublink_web;

CREATE FUNCTION hublink.web_session_sweep() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s hublink.web_session;
    n integer := 0;
BEGIN
    FOR s IN SELECT * FROM hublink.web_session w
              WHERE pg_catalog.now() - w.seen_at > pg_catalog.make_interval(secs => w.idle_seconds)
                 OR pg_catalog.now() - w.created_at > pg_catalog.make_interval(secs => w.max_seconds)
              FOR UPDATE SKIP LOCKED LOOP
        PERFORM hublink.web_session_close(s, 'timed out');
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.web_session_sweep() IS
    'Ends every web session past its idle or absolute time-out (each recorded as timed out); '
    'returns how many. The web servers call it every 30 seconds. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_session_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_session_sweep() TO hublink_web;
-- end of sql/parts/94_web_sessions.sql

-- hublink.monitoring_alerts (alerts of no removal for admins) is in 92_alert_access.sql, which
-- 80_alert_delivery_and_tokens.sql includes whole.

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/72_web_actions.sql
-- 0.2.0: the web interface's page actions (issue 16; docs/web.md): set_risk refuses risk
-- flags hublink.risk_flag does not know; removal_quotes leaves out quotes asked for before the
-- latest risk assessment (4.18: they were priced on another risk profile); cancel_booking
-- checks its reason code and refuses plainly when that booking was never requested or is over
-- (test/sql/44_hub_web_actions.sql); create_removal refuses the same returnee twice in one
-- removal (its second entry was dropped while its documents and risk went to the first); the
-- quote_expiry timer no longer warns of a quote a risk change made unbookable.
-- hublink.set_risk, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.set_risk(removal_reference text, ho_returnee_reference text, flags text[],
                                 notes text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    rid     bigint;
    unknown text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT t.returnee_id INTO rid FROM hublink.returnee t
     WHERE t.removal_id = r.removal_id AND t.ho_returnee_reference = set_risk.ho_returnee_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'returnee % is not part of removal %', ho_returnee_reference, removal_reference
            USING ERRCODE = 'no_data_found';
    END IF;
    -- Profiling reads only the flags hublink.risk_flag knows: an unknown one would be kept in
    -- the Hub's record yet never reach a provider or make the removal escorted.
    SELECT string_agg(f, ', ') INTO unknown FROM unnest(coalesce(set_risk.flags, '{NULL}')) f
     WHERE f IS NULL OR NOT EXISTS (SELECT FROM hublink.risk_flag k WHERE k.flag = f);
    IF unknown IS NOT NULL OR flags IS NULL THEN
        RAISE EXCEPTION 'risk flags must be flags of hublink.risk_flag'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Not a risk flag: %s.', coalesce(unknown, 'NULL')),
                  HINT = 'SELECT flag FROM hublink.risk_flag lists them; an empty array means none apply.';
    END IF;
    UPDATE hublink.risk_assessment a SET current = false WHERE a.returnee_id = rid AND a.audience = 'hub' AND a.current;
    -- clock_timestamp(): hublink.removal_quotes compares it with the time of the quote
    -- requests, which may come later in the same transaction.
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes, assessed_at)
    VALUES (rid, 'hub', coalesce((SELECT array_agg(DISTINCT f ORDER BY f) FROM unnest(flags) f), '{}'), notes, clock_timestamp());
    PERFORM hublink.profile_risk(removal_reference);
END;
$$;
COMMENT ON FUNCTION hublink.set_risk(text, text, text[], text) IS
    'Records a new full risk assessment of a returnee (flags of hublink.risk_flag only, else '
    'invalid_parameter_value) and profiles the removal again (Appendix B 4.18). Quotes asked for '
    'before it can no longer be booked (hublink.removal_quotes): before booking, follow it with '
    'hublink.requote (Appendix A 4.5); after booking, with an amendment.';
-- (removal_quotes with that filter comes in 85_cancellation_risk.sql, which changes its result type.)
-- hublink.cancel_booking, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_booking(removal_reference text, booking text, reason_code text,
                                       reason_text text DEFAULT NULL,
                                       retain_for_reuse boolean DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    reason jsonb := jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', reason_text));
    state  text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF booking IS DISTINCT FROM 'travel' AND booking IS DISTINCT FROM 'escort' THEN
        RAISE EXCEPTION 'booking must be escort or travel, not "%"', booking USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT hublink.reason_code_valid('cancellation', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the cancellation list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''cancellation'' AND active.';
    END IF;
    -- A cancellation names the booked quote: say so plainly when there is none, rather than
    -- let the message fail its schema.
    state := CASE booking WHEN 'travel' THEN r.travel_state ELSE r.escort_state END;
    IF hublink.booked_reference(r, booking) IS NULL
       OR state IN ('none', 'cancelled', 'completed', 'unsuccessful') THEN
        RAISE EXCEPTION 'removal % has no % booking to cancel', removal_reference, booking
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The %s booking is %s.', booking, replace(state, '_', ' ')),
                  HINT = 'Before a booking is requested, hublink.cancel_removal cancels the quotes.';
    END IF;
    IF booking = 'travel' THEN
        RETURN hublink.send_message(hublink.new_message('TravelCancellation', r.removal_reference,
            jsonb_build_object('travelQuoteReference', hublink.booked_reference(r, 'travel'), 'command', 'CANCEL',
                               'retainForReuse', retain_for_reuse, 'reason', reason)));
    ELSIF booking = 'escort' THEN
        RETURN hublink.send_message(hublink.new_message('EscortCancellation', r.removal_reference,
            jsonb_build_object('escortQuoteReference', hublink.booked_reference(r, 'escort'), 'command', 'CANCEL',
                               'reason', reason)));
    END IF;
    RAISE EXCEPTION 'booking must be escort or travel, not "%"', booking USING ERRCODE = 'invalid_parameter_value';
END;
$$;
COMMENT ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) IS
    'Cancels one booking of a removal (escort or travel, Appendix B 4.20), e.g. the travel after '
    'an unsuccessful escorting, with a reason from the cancellation list. Refused '
    '(object_not_in_prerequisite_state) when that booking was never requested or is already '
    'over. Returns the messageId.';
-- hublink.create_removal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.create_removal(case_reference text, returnees jsonb,
                                       earliest_leave_date date, latest_leave_date date,
                                       destination jsonb,
                                       exclusion_dates date[] DEFAULT '{}',
                                       international boolean DEFAULT true,
                                       escort_on_transport boolean DEFAULT true,
                                       constraints jsonb DEFAULT NULL,
                                       notes text DEFAULT NULL,
                                       sensitivity text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ref       text;
    rid       bigint;
    x         jsonb;
    live      record;
    new_level text := coalesce(sensitivity, hublink.lowest_sensitivity());
BEGIN
    -- SECURITY DEFINER: the caller needs no privilege on the tables. It may create a removal
    -- only at a sensitivity it is cleared for, checked before anything else (even the 4.22
    -- check below) is read. The owner, superusers and the worker pass, as in
    -- hublink.removal_access_allowed.
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = new_level)
       OR NOT (new_level = ANY (hublink.cleared_levels()) OR hublink.removal_access_allowed(NULL)) THEN
        RAISE EXCEPTION 'sensitivity "%" is not one this login is cleared for', new_level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker creates removals at a sensitivity level at or below its clearance.',
                  HINT = 'SELECT hublink.cleared_levels() lists them; an admin sets clearances with hublink.set_clearance().';
    END IF;
    IF hublink.current_party() <> 'hub' THEN
        RAISE EXCEPTION 'only the hub creates removals' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF jsonb_typeof(returnees) IS DISTINCT FROM 'array' OR jsonb_array_length(returnees) = 0 THEN
        RAISE EXCEPTION 'a removal needs at least one returnee' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Each returnee once: a second entry with the same reference would be dropped by
    -- record_returnees while its documents and risk went to the first.
    SELECT y.ref INTO live FROM (SELECT e.value #>> '{personalDetails,hoReturneeReference}' AS ref
                                   FROM jsonb_array_elements(returnees) e) y
     GROUP BY y.ref HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'returnee % is named more than once in this removal', live.ref
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each returnee of a removal has its own Home Office returnee reference.';
    END IF;
    -- 4.22 under concurrency: one transaction at a time checks and creates a removal for a
    -- returnee. A second one waits on this lock until the first ends, and its check below then
    -- sees the first one's removal: under READ COMMITTED each statement takes a new snapshot,
    -- under SERIALIZABLE a conflict fails one of them. REPEATABLE READ would check against the
    -- snapshot taken before the wait, so it is refused. The references follow the pattern of
    -- hublink.returnee's CHECK (upper case), so the text is its own normal form; sorted, so two
    -- removals of the same returnees never deadlock.
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'hublink.create_removal cannot run under REPEATABLE READ'
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'Its check for a live removal of the same returnee (Appendix B 4.22) needs to see '
                           'removals committed while it waited, which a REPEATABLE READ snapshot hides.',
                  HINT = 'Call it in a READ COMMITTED (the default) or SERIALIZABLE transaction.';
    END IF;
    FOR x IN SELECT DISTINCT to_jsonb(y #>> '{personalDetails,hoReturneeReference}') AS r
               FROM jsonb_array_elements(returnees) y
              WHERE y #>> '{personalDetails,hoReturneeReference}' IS NOT NULL
              ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(422, hashtext(x #>> '{}'));
    END LOOP;
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        -- As the owner this sees every live removal, whatever the caller's clearance (4.22
        -- holds across sensitivities). The caller learns only that one exists: its reference
        -- and state are told only when the caller is cleared for it.
        SELECT l.ho_returnee_reference, l.removal_reference, l.state,
               coalesce(hublink.removal_access_allowed(m.removal_id), false) AS visible
          INTO live
          FROM hublink.live_returnee l JOIN hublink.removal m USING (removal_reference)
         WHERE l.ho_returnee_reference = x #>> '{personalDetails,hoReturneeReference}'
         ORDER BY 4 DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'returnee % already has a live removal', live.ho_returnee_reference
                USING ERRCODE = 'unique_violation',
                      DETAIL = CASE WHEN live.visible THEN format('Removal %s is %s.', live.removal_reference, live.state)
                                    ELSE 'The live removal is not shown: it is above the clearance of this login.' END,
                      HINT = 'Appendix B 4.22: cancel or complete that removal first, or amend it.';
        END IF;
    END LOOP;
    ref := format('RMV-%s-%s', extract(year FROM now())::int, lpad(nextval('hublink.removal_serial')::text, 6, '0'));
    INSERT INTO hublink.removal (removal_reference, case_reference, international, escort_on_transport,
                                 earliest_leave_date, latest_leave_date, exclusion_dates, destination,
                                 constraints, notes, state, sensitivity, created_by)
    VALUES (ref, case_reference, international, escort_on_transport, earliest_leave_date,
            latest_leave_date, coalesce(exclusion_dates, '{}'), destination, constraints, notes, 'new',
            new_level, hublink.acting_login())
    RETURNING removal_id INTO rid;
    PERFORM hublink.require_removal_access(rid);
    PERFORM hublink.record_returnees(rid, returnees, 'hub');
    INSERT INTO hublink.travel_document (returnee_id, document_type, document_number, issuing_country, expiry_date)
    SELECT t.returnee_id, d ->> 'type', d ->> 'number', d ->> 'issuingCountry', (d ->> 'expiryDate')::date
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}'
     CROSS JOIN jsonb_array_elements(coalesce(y -> 'travelDocuments', '[]')) d;
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes)
    SELECT t.returnee_id, 'hub', ARRAY(SELECT jsonb_array_elements_text(coalesce(y #> '{risk,flags}', '[]'))),
           y #>> '{risk,notes}'
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}';
    PERFORM hublink.profile_risk(ref);
    PERFORM pg_notify('hublink_status', json_build_object('removalReference', ref, 'machine', 'removal',
                                                          'from', NULL, 'to', 'new')::text);
    RETURN ref;
END;
$$;
COMMENT ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) IS
    'Creates a removal request with its returnees and returns its new reference (RMV-<year>-<serial>). '
    'returnees is an array of {personalDetails, travelDocuments, location, risk: {flags, notes}} '
    '(shapes as in the messages), each returnee once (invalid_parameter_value otherwise). sensitivity: the lowest level when NULL, else a level the login is '
    'cleared for (insufficient_privilege otherwise). Refuses (unique_violation) when a returnee '
    'already has a live removal at any sensitivity (Appendix B 4.22), naming it only to a login '
    'cleared for it, also against a concurrent call for the same returnee (an advisory lock per '
    'returnee reference; refused under REPEATABLE READ). Runs hublink.profile_risk. SECURITY '
    'DEFINER, for hublink_caseworker.';
-- hublink.timer_quote_still_due, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.timer_quote_still_due(p_timer_id bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT EXISTS (SELECT FROM hublink.timer t
                         JOIN hublink.travel_quote q ON q.removal_id = t.removal_id
                                                    AND q.travel_quote_reference = t.detail ->> 'travelQuoteReference'
                        WHERE t.timer_id = p_timer_id AND NOT q.superseded
                          AND NOT EXISTS (SELECT FROM hublink.travel_booking k
                                           WHERE k.removal_id = t.removal_id AND k.requested_at >= t.created_at)
                          -- still bookable (not asked for before a risk change, 4.18), unless
                          -- it lapsed already: a late check still warns of that.
                          AND (q.expires_at <= now()
                               OR EXISTS (SELECT FROM hublink.removal r CROSS JOIN LATERAL hublink.removal_quotes(r.removal_reference) x
                                           WHERE r.removal_id = t.removal_id AND x.travel_quote_reference = q.travel_quote_reference)));
    END;
COMMENT ON FUNCTION hublink.timer_quote_still_due(bigint) IS
    'still_due_function of quote_expiry: the quote watched is not superseded, can still be '
    'booked (hublink.removal_quotes: not asked for before a risk change) unless it lapsed '
    'already, and no travel booking was requested since the timer started.';

-- from sql/updates/0.1.0--0.2.0/73_web_perf.sql
-- 0.2.0: the web pages' database time (issue 16; docs/performance.md "The web pages").
-- The decrypting functions' row estimates: their default of 1000 rows, joined LATERAL per
-- returnee, lifted a message body's plan over jit_above_cost, and each quote request compiled
-- it (0.4-0.6 s) (41_domain.sql).
-- hublink.returnee_personal_of, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.returnee_personal_of(p_returnee_id bigint)
    RETURNS SETOF hublink.returnee_personal
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.returnee_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.returnee_id = p_returnee_id;
END;
$$;
COMMENT ON FUNCTION hublink.returnee_personal_of(bigint) IS
    'A returnee''s personal details, decrypted (audited: hublink.unsealed).';
-- hublink.travel_documents_of, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.travel_documents_of(p_returnee_id bigint)
    RETURNS SETOF hublink.travel_document
    LANGUAGE plpgsql VOLATILE ROWS 2
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.travel_document d CROSS JOIN LATERAL hublink.unsealed(d) u
                 WHERE d.returnee_id = p_returnee_id
                 ORDER BY d.travel_document_id;
END;
$$;
COMMENT ON FUNCTION hublink.travel_documents_of(bigint) IS
    'A returnee''s travel documents, decrypted, in the order recorded (audited: hublink.unsealed).';
-- hublink.risk_assessment_of, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.risk_assessment_of(p_returnee_id bigint, p_audience text)
    RETURNS SETOF hublink.risk_assessment
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.risk_assessment a CROSS JOIN LATERAL hublink.unsealed(a) u
                 WHERE a.returnee_id = p_returnee_id AND a.audience = p_audience AND a.current;
END;
$$;
COMMENT ON FUNCTION hublink.risk_assessment_of(bigint, text) IS
    'A returnee''s current risk assessment for an audience (hub, esp, tsp), decrypted (audited: '
    'hublink.unsealed).';
-- hublink.escort_personal_of, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.escort_personal_of(p_escort_person_id bigint)
    RETURNS SETOF hublink.escort_personal
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.escort_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.escort_person_id = p_escort_person_id;
END;
$$;
COMMENT ON FUNCTION hublink.escort_personal_of(bigint) IS
    'An escort''s name and passport details, decrypted (audited: hublink.unsealed).';
-- The person behind a call and their levels in PL/pgSQL, whose plans are kept for the session:
-- as SQL functions with SET they were planned again in every statement, several times for each
-- name a page decrypts (79_web_identity.sql, 90_access.sql).
-- hublink.acting_login, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.acting_login() RETURNS name
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('role') <> 'none'
       AND EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = (SELECT g.oid FROM pg_catalog.pg_roles g WHERE g.rolname = 'hublink_web')
                      AND m.member = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)) THEN
        RETURN pg_catalog.current_setting('role')::name;
    END IF;
    RETURN session_user;
END;
$$;
COMMENT ON FUNCTION hublink.acting_login() IS
    'The person a call acts for, whose clearance applies: the login (session_user), except for '
    'the web interface''s login (a member of hublink_web), which acts for the role it SET ROLE '
    'to for the request (docs/web.md). Without a SET ROLE that is the web login itself, which '
    'has no clearance.';
-- hublink.cleared_levels, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cleared_levels() RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    me name := hublink.acting_login();
BEGIN
    RETURN ARRAY(SELECT l.level FROM hublink.sensitivity_level l
                  WHERE l.rank <= (SELECT m.rank FROM hublink.role_clearance c
                                     JOIN hublink.sensitivity_level m ON m.level = c.level
                                    WHERE c.role_name = me)
                  ORDER BY l.rank);
END;
$$;
COMMENT ON FUNCTION hublink.cleared_levels() IS
    'The sensitivity levels the login (hublink.acting_login(): session_user, or the person the '
    'web interface acts for) is cleared for; empty without a clearance.';

-- "Escorted removals ask the ESP first, else travel" and the departure airports were the web
-- server's (an environment variable): now one Hub function and a reference table an admin
-- keeps (44_hub.sql; docs/hub.md "Departure airports").
CREATE TABLE hublink.departure_airport (
    airport_code text PRIMARY KEY CHECK (airport_code ~ '^[A-Z]{3}$'),
    name         text NOT NULL CHECK (pg_catalog.btrim(name) <> ''),
    active       boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.departure_airport IS
    'The UK airports removals may depart from (Appendix A 4.3 departureAirports), edited by '
    'hublink_admin (audited): the active ones go in each travel quote request of '
    'hublink.request_quotes and hublink.requote; none active: the request names none (any airport).';
COMMENT ON COLUMN hublink.departure_airport.airport_code IS 'IATA code of the airport.';
COMMENT ON COLUMN hublink.departure_airport.name IS 'Its name, for people.';
COMMENT ON COLUMN hublink.departure_airport.active IS 'Whether quote requests name it now.';
INSERT INTO hublink.departure_airport VALUES ('LHR', 'London Heathrow', true);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.departure_airport TO hublink_admin;
-- hublink.departure_airports, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.departure_airports() RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN (SELECT array_agg(a.airport_code ORDER BY a.airport_code)
              FROM hublink.departure_airport a WHERE a.active);
END;
$$;
COMMENT ON FUNCTION hublink.departure_airports() IS
    'The active rows of hublink.departure_airport, by code; NULL when none is active (a quote '
    'request then names no airport: any).';
-- hublink.requote, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.requote(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    PERFORM hublink.profile_risk(removal_reference);
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = r.removal_id;
    IF coalesce(r.escorted, false) THEN
        RETURN hublink.request_escort_quotes(removal_reference);
    END IF;
    RETURN hublink.request_travel_quotes(removal_reference, hublink.departure_airports());
END;
$$;
COMMENT ON FUNCTION hublink.requote(text) IS
    'Re-quote before booking (Appendix A 4.5) after the returnee''s details or risk changed: '
    'profiles the risk again and goes back to message 1 (escort quote request) for an escorted '
    'removal, or to message 3 for an unescorted one (from hublink.departure_airport); earlier '
    'quotes are superseded. Returns the messageId.';
-- hublink.request_quotes, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.request_quotes(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);   -- locked: one request at a time
    -- The state machine's own rule (hublink.state_machine()), asked first for a plain refusal.
    IF NOT EXISTS (SELECT FROM hublink.state_machine() m
                    WHERE m.machine = 'removal' AND m.event = 'TravelQuoteRequest' AND m.from_state = r.state) THEN
        RAISE EXCEPTION 'removal % is %: quotes cannot be requested', removal_reference, r.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE WHEN r.state IN ('booking', 'booked')
                              THEN 'Amend or cancel the booking instead.'
                              ELSE 'A removal that has ended cannot be quoted again; create a new removal.' END;
    END IF;
    IF coalesce(r.escorted, false) AND r.escort_state = 'none' THEN
        RETURN hublink.request_escort_quotes(removal_reference);
    END IF;
    IF coalesce(r.escorted, false) AND NOT EXISTS (SELECT FROM hublink.escort_quote q
                                                    WHERE q.removal_id = r.removal_id AND NOT q.superseded) THEN
        RAISE EXCEPTION 'removal % is waiting for the escort quotes', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The escort is %s: travel is quoted on the dates of the escort quotes.',
                                  replace(r.escort_state, '_', ' ')),
                  HINT = 'Request travel quotes once the ESP has quoted, or ask for new quotes (hublink.requote).';
    END IF;
    RETURN hublink.request_travel_quotes(removal_reference, hublink.departure_airports());
END;
$$;
COMMENT ON FUNCTION hublink.request_quotes(text) IS
    'Sends the next quote request of a removal the caller is cleared for: escort quotes (4.1) '
    'for an escorted removal not yet asked, else travel quotes (4.3) on the current escort '
    'quotes'' dates (escorted) or the removal''s dates, from the active rows of '
    'hublink.departure_airport. Refuses (object_not_in_prerequisite_state) a removal that is '
    'booking, booked or ended, and an escorted one whose escort quotes have not come. Returns '
    'the messageId.';
REVOKE ALL ON FUNCTION hublink.request_quotes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_quotes(text) TO hublink_caseworker;

-- Row-level security of the tables below hublink.removal: a correlated probe of the row's
-- parent instead of reading every visible parent row per statement (91_access_policy.sql);
-- the call below makes the policies again.
-- hublink.apply_access_policy, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.apply_access_policy() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o       record;
    g       record;
    p       record;
    f       record;
    visible text;
    n       integer := 0;
BEGIN
    FOR o IN SELECT a.object_name, a.relkind, a.class FROM hublink.access_object a ORDER BY a.object_name::text LOOP
        IF o.class IN ('removal_data', 'message_log') THEN
            IF o.object_name = 'hublink.removal'::regclass THEN
                visible := 'sensitivity IN (SELECT l.l FROM pg_catalog.unnest(hublink.cleared_levels()) l)';
            ELSE
                SELECT * INTO p FROM hublink.removal_data_path d WHERE d.table_name = o.object_name;
                -- Correlated: a row is checked by an index probe of its parent (whose own
                -- policy applies in turn). "key IN (SELECT parent_column FROM parent)" read
                -- every visible row of the parent (and of its parents) for each statement,
                -- so reading one returnee's name cost a scan of every removal
                -- (docs/performance.md "The web pages"); a scan of the whole table still
                -- gets a hashed subplan from the planner.
                visible := format('EXISTS (SELECT FROM %s x WHERE x.%I = %I.%I)', p.parent, p.parent_column,
                                  (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = o.object_name),
                                  p.key_column);
            END IF;
            -- Not FORCE: the extension owner (the worker, SECURITY DEFINER functions) sees every row.
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', o.object_name);
            IF EXISTS (SELECT FROM pg_catalog.pg_policy x WHERE x.polrelid = o.object_name AND x.polname = 'need_to_know') THEN
                EXECUTE format('DROP POLICY need_to_know ON %s', o.object_name);
            END IF;
            EXECUTE format('CREATE POLICY need_to_know ON %s USING (%s) WITH CHECK (%s)', o.object_name, visible, visible);
            EXECUTE format('COMMENT ON POLICY need_to_know ON %s IS %L', o.object_name,
                           'Rows of removals whose sensitivity the login is cleared for (NFR 0015; hublink.cleared_levels).');
            IF EXISTS (SELECT FROM pg_catalog.pg_policy x WHERE x.polrelid = o.object_name AND x.polname = 'worker_processes') THEN
                EXECUTE format('DROP POLICY worker_processes ON %s', o.object_name);
            END IF;
            IF o.class = 'message_log' THEN
                EXECUTE format('CREATE POLICY worker_processes ON %s TO hublink_worker USING (true) WITH CHECK (true)',
                               o.object_name);
                EXECUTE format('COMMENT ON POLICY worker_processes ON %s IS %L', o.object_name,
                               'The worker processes every message.');
            END IF;
        ELSIF o.class IN ('removal_view', 'message_view') THEN
            EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', o.object_name);
        END IF;
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = o.class LOOP
            EXECUTE format('GRANT %s ON %s TO %I', array_to_string(g.privileges, ', '), o.object_name, g.role_name);
        END LOOP;
        n := n + 1;
    END LOOP;
    -- Free-standing sequences (hublink.removal_serial); identity columns need no grant. Not to
    -- caseworkers: hublink.create_removal (SECURITY DEFINER) takes the number as the owner.
    FOR o IN SELECT c.oid::regclass AS seq FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'S'
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO hublink_worker', o.seq);
    END LOOP;
    -- Functions: EXECUTE is PUBLIC's by default. Every function of the schema that PUBLIC may
    -- execute and hublink.access_public_function does not list goes to the group roles instead
    -- (trigger functions to none: firing a trigger checks no EXECUTE).
    FOR f IN SELECT fn.oid::regprocedure AS sig,
                    CASE WHEN fn.prosecdef THEN 'definer_function' ELSE 'invoker_function' END AS class,
                    fn.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger
               FROM pg_catalog.pg_proc fn
              WHERE fn.pronamespace = 'hublink'::regnamespace
                AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(fn.proacl, pg_catalog.acldefault('f', fn.proowner))) a
                             WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
                AND NOT EXISTS (SELECT FROM hublink.access_public_function x
                                 WHERE x.function_name = fn.oid::regprocedure::text)
              ORDER BY 1 LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', f.sig);
        CONTINUE WHEN f.is_trigger;
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = f.class LOOP
            EXECUTE format('GRANT %s ON ROUTINE %s TO %I', array_to_string(g.privileges, ', '), f.sig, g.role_name);
        END LOOP;
    END LOOP;
    -- Types: USAGE is PUBLIC's by default; an array type follows its element type.
    FOR f IN SELECT ty.oid::regtype AS typ
               FROM pg_catalog.pg_type ty
              WHERE ty.typnamespace = 'hublink'::regnamespace
                AND NOT (ty.typelem <> 0 AND ty.typsubscript = 'pg_catalog.array_subscript_handler'::regproc)
                AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(ty.typacl, pg_catalog.acldefault('T', ty.typowner))) a
                             WHERE a.grantee = 0 AND a.privilege_type = 'USAGE')
              ORDER BY 1 LOOP
        EXECUTE format('REVOKE USAGE ON TYPE %s FROM PUBLIC', f.typ);
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = 'schema_type' LOOP
            EXECUTE format('GRANT %s ON TYPE %s TO %I', array_to_string(g.privileges, ', '), f.typ, g.role_name);
        END LOOP;
    END LOOP;
    -- Only now, with no function or type left to PUBLIC but the functions listed: a login
    -- without a hublink role looks names up and is refused by each object's own privileges
    -- (never CREATE).
    GRANT USAGE ON SCHEMA hublink TO PUBLIC;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.apply_access_policy() IS
    'Applies row-level security and the grants of hublink.access_grant to every table and view of '
    'the schema by its class (hublink.access_object); idempotent. Run at install after every part '
    '(93_access_apply.sql) and again after any upgrade that adds tables or views. Returns the '
    'number of objects. Row-level security is enabled but not forced: the owner (the '
    'SECURITY DEFINER functions) sees every row. Functions that PUBLIC may execute, but those of '
    'hublink.access_public_function, are revoked from PUBLIC and granted by hublink.access_grant '
    '(classes invoker_function, definer_function), and so is USAGE on types (class schema_type); '
    'then PUBLIC gets USAGE on the schema.';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/74_case_features.sql
-- 0.2.0: the web interface's later case features (issue 16, docs/web.md "Changing a case's
-- sensitivity"). A removal's sensitivity changed with a reason, a confirmation before hiding it
-- from oneself, each change kept and alerted (96_case_sensitivity.sql, wholly new: included
-- verbatim); set_removal_sensitivity keeps and alerts its changes too (90_access.sql).
-- sql/parts/96_case_sensitivity.sql, verbatim (a part wholly new in this version)
-- Changing a removal's sensitivity with a reason, as the caseworkers' web interface does it
-- (issue 16; docs/web.md "Changing a case's sensitivity"; NFR 0015, Appendix B 4.19). The rules
-- of hublink.set_removal_sensitivity (90_access.sql) hold: a caseworker changes only a removal it
-- sees, and only to a level it is cleared for (so never above its clearance, and never hides
-- the removal from itself); an admin changes any removal to any level. Added here: a reason,
-- a confirmation before a change that would hide the removal from the person making it (an
-- admin who is also a caseworker), every change kept with who, when and why, and an alert on
-- each: a warning when the sensitivity goes down (more people now see the case's personal
-- data), for the record when it goes up. After the access policy is applied (93_access_apply.sql):
-- it applies it again at its end for its new table and functions.

CREATE TABLE hublink.sensitivity_change (
    sensitivity_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    from_level            text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    to_level              text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    reason                text,
    changed_by            name NOT NULL,
    changed_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.sensitivity_change IS
    'Every change of a removal''s sensitivity (hublink.change_sensitivity, hublink.set_removal_sensitivity): '
    'from, to, why, who and when. Row-level security as the removal''s other rows.';
COMMENT ON COLUMN hublink.sensitivity_change.sensitivity_change_id IS 'Identity.';
COMMENT ON COLUMN hublink.sensitivity_change.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.sensitivity_change.from_level IS 'Its sensitivity before.';
COMMENT ON COLUMN hublink.sensitivity_change.to_level IS 'Its sensitivity after.';
COMMENT ON COLUMN hublink.sensitivity_change.reason IS 'Why (NULL: set with hublink.set_removal_sensitivity, which takes none).';
COMMENT ON COLUMN hublink.sensitivity_change.changed_by IS 'The person (hublink.acting_login()).';
COMMENT ON COLUMN hublink.sensitivity_change.changed_at IS 'When.';
CREATE INDEX sensitivity_change_removal ON hublink.sensitivity_change (removal_id);
COMMENT ON INDEX hublink.sensitivity_change_removal IS 'The changes of one removal.';

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('removal_sensitivity_changed', 'warning', 'hub',
     'A removal''s sensitivity was changed (detail: from, to, by, reason). Lowered: a warning, more '
     'people now see the case''s personal data; check the reason with the person. Raised: for the record.');

-- Keeps a change and raises its alert; called by the two functions that change a sensitivity.
CREATE FUNCTION hublink.record_sensitivity_change(p_removal_id bigint, p_from text, p_to text, p_reason text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who   name := hublink.acting_login();
    ref   text := (SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = p_removal_id);
    down  boolean := (SELECT t.rank < f.rank FROM hublink.sensitivity_level f, hublink.sensitivity_level t
                       WHERE f.level = p_from AND t.level = p_to);
BEGIN
    INSERT INTO hublink.sensitivity_change (removal_id, from_level, to_level, reason, changed_by)
    VALUES (p_removal_id, p_from, p_to, p_reason, who);
    PERFORM hublink.raise_alert('removal_sensitivity_changed',
        pg_catalog.format('Removal %s: sensitivity %s from %s to %s by %s', ref,
                          CASE WHEN down THEN 'lowered' ELSE 'raised' END, p_from, p_to, who),
        p_removal_id,
        jsonb_build_object('removal_reference', ref, 'from', p_from, 'to', p_to, 'by', who,
                           'reason', p_reason, 'lowered', down),
        CASE WHEN down THEN 'warning' ELSE 'info' END);
END;
$$;
COMMENT ON FUNCTION hublink.record_sensitivity_change(bigint, text, text, text) IS
    'Records a change of a removal''s sensitivity in hublink.sensitivity_change and raises a '
    'removal_sensitivity_changed alert: warning when lowered, info when raised.';
REVOKE ALL ON FUNCTION hublink.record_sensitivity_change(bigint, text, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.sensitivity_choices(removal_reference text)
    RETURNS TABLE (level text, description text, current boolean, allowed boolean, hides_from_me boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin   boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    cleared text[] := hublink.cleared_levels();
    r       hublink.removal;
    sees    boolean;
BEGIN
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(sensitivity_choices.removal_reference);
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = sensitivity_choices.removal_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', sensitivity_choices.removal_reference USING ERRCODE = 'no_data_found',
            DETAIL = 'No removal has this reference.', HINT = 'hublink.find_removals() finds removals.';
    END IF;
    sees := coalesce(hublink.removal_access_allowed(r.removal_id), false);
    RETURN QUERY
    SELECT l.level, l.description, l.level = r.sensitivity,
           admin OR l.level = ANY (cleared),
           admin AND sees AND NOT (l.level = ANY (cleared)) AND NOT coalesce(hublink.removal_access_allowed(NULL), false)
      FROM hublink.sensitivity_level l ORDER BY l.rank;
END;
$$;
COMMENT ON FUNCTION hublink.sensitivity_choices(text) IS
    'The levels a removal''s sensitivity could be changed to by the person calling, in rank order: '
    'whether it is the current one, whether hublink.change_sensitivity would allow it (a caseworker: '
    'the levels it is cleared for, on a removal it sees; an admin: every level), and whether it '
    'would hide the removal from the person (they see it now and are not cleared for that level: '
    'change_sensitivity then asks for hide_from_me).';
REVOKE ALL ON FUNCTION hublink.sensitivity_choices(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.sensitivity_choices(text) TO hublink_admin, hublink_caseworker;

CREATE FUNCTION hublink.change_sensitivity(removal_reference text, level text, reason text,
                                           hide_from_me boolean DEFAULT false)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    r     hublink.removal;
    c     record;
BEGIN
    -- The same order as set_removal_sensitivity: nothing about the removal is told to a
    -- caseworker who may not see it.
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(change_sensitivity.removal_reference);
    END IF;
    IF nullif(btrim(coalesce(reason, '')), '') IS NULL THEN
        RAISE EXCEPTION 'a change of sensitivity needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The reason is kept with the change and sent with its alert.',
                  HINT = 'Say why the case is more or less sensitive now.';
    END IF;
    SELECT * INTO c FROM hublink.sensitivity_choices(change_sensitivity.removal_reference) s
     WHERE s.level = change_sensitivity.level;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', change_sensitivity.level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sensitivities are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    IF c.current THEN
        RAISE EXCEPTION 'removal % is already %', change_sensitivity.removal_reference, change_sensitivity.level
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing was changed.';
    END IF;
    IF NOT c.allowed THEN
        RAISE EXCEPTION 'sensitivity "%" is above the clearance of this login', change_sensitivity.level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker sets a sensitivity at or below its own clearance: it may not hide a removal from itself.',
                  HINT = 'Ask an admin (hublink_admin) to set it.';
    END IF;
    IF c.hides_from_me AND NOT coalesce(hide_from_me, false) THEN
        RAISE EXCEPTION 'sensitivity "%" would hide removal % from you', change_sensitivity.level, change_sensitivity.removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'You are not cleared for that level: once it is set you will no longer see this case.',
                  HINT = 'Confirm that you mean to hide it from yourself (hide_from_me => true), or choose a level you are cleared for.';
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = change_sensitivity.removal_reference FOR UPDATE;
    UPDATE hublink.removal x SET sensitivity = change_sensitivity.level WHERE x.removal_id = r.removal_id;
    PERFORM hublink.record_sensitivity_change(r.removal_id, r.sensitivity, change_sensitivity.level, btrim(reason));
    RETURN r.sensitivity;
END;
$$;
COMMENT ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) IS
    'Changes a removal''s sensitivity with a reason (the web interface''s way): a caseworker on a '
    'removal it sees, to a level it is cleared for; an admin on any removal, to any level. A change '
    'that would hide the removal from the person (hublink.sensitivity_choices) needs hide_from_me. '
    'Kept in hublink.sensitivity_change and alerted (removal_sensitivity_changed: warning when '
    'lowered). Returns the level before.';
REVOKE ALL ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) TO hublink_admin, hublink_caseworker;

SELECT hublink.apply_access_policy();
-- end of sql/parts/96_case_sensitivity.sql
-- hublink.set_removal_sensitivity, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.set_removal_sensitivity(removal_reference text, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    x     record;
BEGIN
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(removal_reference);
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_removal_sensitivity.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sensitivities are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    IF NOT admin AND NOT level = ANY (hublink.cleared_levels()) THEN
        RAISE EXCEPTION 'sensitivity "%" is above the clearance of this login', level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker may not hide a removal from itself.',
                  HINT = 'Ask an admin (hublink_admin) to set it.';
    END IF;
    SELECT r.removal_id, r.sensitivity INTO x FROM hublink.removal r
     WHERE r.removal_reference = set_removal_sensitivity.removal_reference FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', removal_reference USING ERRCODE = 'no_data_found',
            DETAIL = 'No removal has this reference.', HINT = 'hublink.search_removals() finds removals.';
    END IF;
    UPDATE hublink.removal r SET sensitivity = set_removal_sensitivity.level WHERE r.removal_id = x.removal_id;
    -- Kept and alerted like a change from the web interface (96_case_sensitivity.sql), without a reason.
    IF x.sensitivity <> set_removal_sensitivity.level THEN
        PERFORM hublink.record_sensitivity_change(x.removal_id, x.sensitivity, set_removal_sensitivity.level, NULL);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.set_removal_sensitivity(text, text) IS
    'Sets the sensitivity of a removal. A caseworker may set it on a removal it sees, up to its own '
    'clearance; an admin on any removal, to any level. Each change is kept (hublink.sensitivity_change, '
    'no reason) and alerted (removal_sensitivity_changed); hublink.change_sensitivity takes a reason.';
-- A structured travel amendment: a new date or arrival airport with a reason from the change
-- list (48_case_amendments.sql, wholly new).
-- sql/parts/48_case_amendments.sql, verbatim (a part wholly new in this version)
-- Case changes after creation (issue 16). First, a structured travel amendment (Appendix A
-- 4.11, Appendix B 4.20; docs/web.md "Amending the travel booking"): a new travel date and/or
-- a new arrival airport with a reason
-- from the change list, sent as the TravelAmendment's itineraryChanges. The body is built here
-- from the booked itinerary, so the caseworker (in the web interface or in psql) gives only
-- what changes and why; hublink.amend_travel still takes a free-form body.

CREATE FUNCTION hublink.amend_travel_itinerary(removal_reference text, reason_code text,
                                               new_date date DEFAULT NULL, new_airport text DEFAULT NULL,
                                               reason_text text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        hublink.removal;
    booked   text;
    first    hublink.itinerary_segment;
    last     hublink.itinerary_segment;
    affected jsonb;
    airport  text := upper(btrim(new_airport));
    waiting  hublink.amendment;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    booked := hublink.booked_reference(r, 'travel');
    IF r.travel_state NOT IN ('booked', 'amended') OR booked IS NULL THEN
        RAISE EXCEPTION 'removal % has no confirmed travel booking to amend', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Its travel is %s.', replace(r.travel_state, '_', ' ')),
                  HINT = 'Before booking, ask for new quotes instead (hublink.requote).';
    END IF;
    IF NOT hublink.reason_code_valid('change', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the change list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''change'' AND active.';
    END IF;
    IF new_date IS NULL AND nullif(airport, '') IS NULL THEN
        RAISE EXCEPTION 'a travel amendment needs a new date or a new destination airport'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Anything else goes in a free-text amendment (hublink.amend_travel).';
    END IF;
    IF airport IS NOT NULL AND airport !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'destination airport "%" is not an IATA airport code', new_airport
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Three letters, like LOS.';
    END IF;
    IF new_date < current_date THEN
        RAISE EXCEPTION 'the new travel date % is in the past', new_date USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF new_date = ANY (r.exclusion_dates) THEN
        RAISE EXCEPTION 'the new travel date % is one of the removal''s exclusion dates', new_date
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The Home Office said the returnees may not travel on those days.';
    END IF;
    -- One change at a time: a second request (a button pressed twice) before the provider
    -- answered the first would be a second, perhaps charged, change.
    SELECT * INTO waiting FROM hublink.amendment a
     WHERE a.removal_id = r.removal_id AND a.booking = 'travel' AND a.outcome_at IS NULL
     ORDER BY a.sent_at DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a travel amendment of removal % is waiting for the provider''s answer', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Amendment %s was sent at %s.', waiting.message_id, waiting.sent_at),
                  HINT = 'Wait for the answer on the case''s timeline.';
    END IF;
    -- The returnees' flights as booked now (the current PLANE segments a returnee travels on)
    -- are replaced by one requested flight from the first one's departure airport to the (new)
    -- arrival airport of the last one, on the (new) date. Escorts' return legs and hotels are the
    -- provider's to rearrange: its answer carries the itinerary as now booked.
    SELECT s.* INTO first FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference')
     ORDER BY s.start_time, s.segment_id LIMIT 1;
    SELECT s.* INTO last FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference')
     ORDER BY s.start_time DESC, s.segment_id DESC LIMIT 1;
    SELECT jsonb_agg(s.segment_id ORDER BY s.start_time, s.segment_id) INTO affected
      FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference');
    IF affected IS NULL THEN
        RAISE EXCEPTION 'the travel booking of removal % has no itinerary to amend', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF coalesce(new_date, (first.start_time AT TIME ZONE 'UTC')::date) = (first.start_time AT TIME ZONE 'UTC')::date
       AND coalesce(airport, last.end_point ->> 'airportCode') = last.end_point ->> 'airportCode' THEN
        RAISE EXCEPTION 'the travel booking of removal % already goes to % on %', removal_reference,
                        last.end_point ->> 'airportCode', (first.start_time AT TIME ZONE 'UTC')::date
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing would change.';
    END IF;
    RETURN hublink.amend_travel(removal_reference, jsonb_build_object('itineraryChanges', jsonb_build_array(
        jsonb_build_object(
            'affectedSegmentIds', affected,
            'requestedSegments', jsonb_build_array(jsonb_build_object(
                'segmentType', 'PLANE',
                'startPoint', jsonb_strip_nulls(jsonb_build_object('airportCode', first.start_point ->> 'airportCode')),
                'endPoint', CASE WHEN airport IS NULL OR airport = last.end_point ->> 'airportCode'
                                 THEN jsonb_strip_nulls(jsonb_build_object('airportCode', last.end_point ->> 'airportCode'))
                                 ELSE jsonb_build_object('airportCode', airport) END,
                'date', coalesce(new_date, (first.start_time AT TIME ZONE 'UTC')::date))),
            'reason', jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', nullif(btrim(reason_text), '')))))));
END;
$$;
COMMENT ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) IS
    'Sends a structured travel amendment (4.11) of a confirmed travel booking: the returnees'' '
    'booked flights replaced by one flight from the first one''s departure airport to new_airport '
    '(or the same arrival) on new_date (or the same date), with a reason from the '
    'change list. Refused before booking, with no change, a date in the past or excluded, and '
    'while an earlier travel amendment waits for its answer. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) TO hublink_caseworker;

-- Editing a returnee's details after the removal was created (issue 16; docs/web.md "Editing a
-- returnee"): name, date of birth, nationality, sex, travel document and, while nothing has
-- been sent to a provider, the Home Office returnee reference (with Appendix B 4.22 checked
-- again for the new one). The providers were given the details in the quote request, so the
-- change must reach them or they would book and ticket the old ones: while quotes are being
-- asked for or compared, the edit asks for new quotes (hublink.requote); once the travel is
-- booked, it sends the TSP a travel amendment with the passenger's new details (4.11); while
-- a booking request or an earlier travel amendment waits for its answer, it is refused. Each
-- edit is kept in hublink.returnee_change (which fields, why, who, the message it sent: no
-- values) and the row audit records the sealed rows it changed.

CREATE TABLE hublink.returnee_change (
    returnee_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id         bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    fields             text[] NOT NULL,
    reason             text NOT NULL,
    message_id         text,
    changed_by         name NOT NULL,
    changed_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.returnee_change IS
    'Every edit of a returnee''s details after creation (hublink.edit_returnee): which fields, why, '
    'who, when and the message that told the providers. No values: those are sealed in their tables.';
COMMENT ON COLUMN hublink.returnee_change.returnee_change_id IS 'Identity.';
COMMENT ON COLUMN hublink.returnee_change.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.returnee_change.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.returnee_change.fields IS 'The details changed (hoReturneeReference, givenNames, familyName, dateOfBirth, nationality, gender, document).';
COMMENT ON COLUMN hublink.returnee_change.reason IS 'Why.';
COMMENT ON COLUMN hublink.returnee_change.message_id IS 'The re-quote or travel amendment sent for it; NULL before any quote was asked for.';
COMMENT ON COLUMN hublink.returnee_change.changed_by IS 'The person (hublink.acting_login()).';
COMMENT ON COLUMN hublink.returnee_change.changed_at IS 'When.';
CREATE INDEX returnee_change_removal ON hublink.returnee_change (removal_id);
COMMENT ON INDEX hublink.returnee_change_removal IS 'The edits of one removal.';

CREATE FUNCTION hublink.edit_returnee(removal_reference text, ho_returnee_reference text, changes jsonb, reason text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    t       hublink.returnee;
    p       hublink.returnee_personal;
    d       hublink.travel_document;
    doc     jsonb := changes -> 'document';
    k       text;
    fields  text[] := '{}';
    new_ref text := upper(btrim(changes ->> 'hoReturneeReference'));
    live    record;
    sent    text;
    booked  boolean;
    api     jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO t FROM hublink.returnee x
     WHERE x.removal_id = r.removal_id AND x.ho_returnee_reference = edit_returnee.ho_returnee_reference FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal % has no returnee %', removal_reference, ho_returnee_reference
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.state IN ('cancelled', 'completed', 'unsuccessful') THEN
        RAISE EXCEPTION 'removal % is %: its returnees'' details are kept as they were', removal_reference, r.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF nullif(btrim(coalesce(reason, '')), '') IS NULL THEN
        RAISE EXCEPTION 'an edit of a returnee''s details needs a reason'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The reason is kept with the edit.';
    END IF;
    IF jsonb_typeof(changes) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'changes must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k IN SELECT jsonb_object_keys(changes) LOOP
        IF k NOT IN ('hoReturneeReference', 'givenNames', 'familyName', 'dateOfBirth', 'nationality', 'gender', 'document') THEN
            RAISE EXCEPTION 'a returnee has no detail "%" that can be edited', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'hoReturneeReference, givenNames, familyName, dateOfBirth, nationality, gender, document.';
        END IF;
    END LOOP;
    -- The values, checked as the messages' JSON Schema would (schemas/common.json).
    IF changes ? 'givenNames' AND NOT coalesce(length(btrim(changes ->> 'givenNames')) BETWEEN 1 AND 100, false)
       OR changes ? 'familyName' AND NOT coalesce(length(btrim(changes ->> 'familyName')) BETWEEN 1 AND 100, false) THEN
        RAISE EXCEPTION 'a name must have 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'nationality' AND coalesce(changes ->> 'nationality', '') !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'nationality "%" is not a 3-letter country code', changes ->> 'nationality' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'gender' AND coalesce(changes ->> 'gender', '') !~ '^[MFX]$' THEN
        RAISE EXCEPTION 'sex "%" is not M, F or X', changes ->> 'gender' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'dateOfBirth' AND (changes ->> 'dateOfBirth' !~ '^\d{4}-\d{2}-\d{2}$'
                                    OR (changes ->> 'dateOfBirth')::date > current_date) THEN
        RAISE EXCEPTION 'date of birth "%" is not a date in the past', changes ->> 'dateOfBirth' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doc IS NOT NULL AND (jsonb_typeof(doc) <> 'object'
            OR coalesce(doc ->> 'type', '') NOT IN ('PASSPORT', 'NATIONAL_IDENTITY_CARD', 'EMERGENCY_TRAVEL_DOCUMENT')
            OR coalesce(doc ->> 'number', '') !~ '^[A-Z0-9]{5,20}$'
            OR coalesce(doc ->> 'issuingCountry', '') !~ '^[A-Z]{3}$'
            OR (doc ? 'expiryDate' AND coalesce(doc ->> 'expiryDate', '') !~ '^\d{4}-\d{2}-\d{2}$')) THEN
        RAISE EXCEPTION 'the travel document is not valid'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A document has a type (PASSPORT, NATIONAL_IDENTITY_CARD, EMERGENCY_TRAVEL_DOCUMENT), a number of 5 to 20 capital letters and digits, a 3-letter issuing country and optionally an expiry date.';
    END IF;
    IF new_ref IS NOT NULL AND new_ref !~ '^[A-Z0-9][A-Z0-9/-]{2,29}$' THEN
        RAISE EXCEPTION 'returnee reference "%" is not a Home Office returnee reference', changes ->> 'hoReturneeReference'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- What really changes, against the details as they are (decrypted here, audited).
    SELECT * INTO p FROM hublink.returnee_personal_of(t.returnee_id);
    SELECT * INTO d FROM hublink.travel_documents_of(t.returnee_id) ORDER BY travel_document_id DESC LIMIT 1;
    IF new_ref IS DISTINCT FROM t.ho_returnee_reference AND new_ref IS NOT NULL THEN fields := fields || 'hoReturneeReference'::text; END IF;
    IF changes ? 'givenNames' AND btrim(changes ->> 'givenNames') IS DISTINCT FROM p.given_names THEN fields := fields || 'givenNames'::text; END IF;
    IF changes ? 'familyName' AND btrim(changes ->> 'familyName') IS DISTINCT FROM p.family_name THEN fields := fields || 'familyName'::text; END IF;
    IF changes ? 'dateOfBirth' AND (changes ->> 'dateOfBirth')::date IS DISTINCT FROM p.date_of_birth THEN fields := fields || 'dateOfBirth'::text; END IF;
    IF changes ? 'nationality' AND changes ->> 'nationality' IS DISTINCT FROM p.nationality::text THEN fields := fields || 'nationality'::text; END IF;
    IF changes ? 'gender' AND changes ->> 'gender' IS DISTINCT FROM p.gender THEN fields := fields || 'gender'::text; END IF;
    IF doc IS NOT NULL AND (doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry', (doc ->> 'expiryDate')::date)
                           IS DISTINCT FROM (d.document_type, d.document_number, d.issuing_country::text, d.expiry_date) THEN
        fields := fields || 'document'::text;
    END IF;
    IF cardinality(fields) = 0 THEN
        RAISE EXCEPTION 'the details of returnee % are already so', ho_returnee_reference
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing was changed.';
    END IF;

    booked := r.travel_state IN ('booked', 'amended');
    -- Where the removal is decides how the providers hear of it.
    IF 'hoReturneeReference' = ANY (fields) AND (r.state <> 'new' OR r.escort_state <> 'none' OR r.travel_state <> 'none') THEN
        RAISE EXCEPTION 'the returnee reference of removal % can no longer be changed', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The providers know the returnee by this reference since the first quote request.',
                  HINT = 'Cancel this removal and create one for the right returnee.';
    END IF;
    IF r.escort_state IN ('booking_requested') OR r.travel_state IN ('booking_requested')
       OR (r.escort_state IN ('booked', 'amended') AND NOT booked) THEN
        RAISE EXCEPTION 'removal % is being booked: its returnees'' details cannot change until the booking is confirmed', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Once the travel is booked, the edit is sent to the travel provider as an amendment.';
    END IF;
    IF booked AND EXISTS (SELECT FROM hublink.amendment a WHERE a.removal_id = r.removal_id AND a.booking = 'travel' AND a.outcome_at IS NULL) THEN
        RAISE EXCEPTION 'a travel amendment of removal % is waiting for the provider''s answer', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Wait for the answer on the case''s timeline.';
    END IF;

    -- 4.22 for a new reference, as in create_removal: one transaction at a time per reference.
    IF 'hoReturneeReference' = ANY (fields) THEN
        PERFORM pg_advisory_xact_lock(422, hashtext(new_ref));
        SELECT l.removal_reference, l.state, coalesce(hublink.removal_access_allowed(m.removal_id), false) AS visible
          INTO live
          FROM hublink.live_returnee l JOIN hublink.removal m USING (removal_reference)
         WHERE l.ho_returnee_reference = new_ref ORDER BY 3 DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'returnee % already has a live removal', new_ref
                USING ERRCODE = 'unique_violation',
                      DETAIL = CASE WHEN live.visible THEN format('Removal %s is %s.', live.removal_reference, live.state)
                                    ELSE 'The live removal is not shown: it is above the clearance of this login.' END,
                      HINT = 'Appendix B 4.22: a returnee has one live removal.';
        END IF;
        UPDATE hublink.returnee x SET ho_returnee_reference = new_ref WHERE x.returnee_id = t.returnee_id;
    END IF;
    IF fields && ARRAY['givenNames', 'familyName', 'dateOfBirth', 'nationality', 'gender'] THEN
        UPDATE hublink.returnee_personal x
           SET given_names = coalesce(btrim(changes ->> 'givenNames'), p.given_names),
               family_name = coalesce(btrim(changes ->> 'familyName'), p.family_name),
               date_of_birth = coalesce((changes ->> 'dateOfBirth')::date, p.date_of_birth),
               nationality = coalesce(changes ->> 'nationality', p.nationality),
               gender = coalesce(changes ->> 'gender', p.gender),
               title = p.title, conditions = p.conditions
         WHERE x.returnee_id = t.returnee_id;
    END IF;
    -- The document corrected replaces the latest one (a wrong number must not travel on).
    IF 'document' = ANY (fields) AND d.travel_document_id IS NOT NULL THEN
        UPDATE hublink.travel_document x
           SET document_type = doc ->> 'type', document_number = doc ->> 'number',
               issuing_country = doc ->> 'issuingCountry', expiry_date = (doc ->> 'expiryDate')::date
         WHERE x.travel_document_id = d.travel_document_id;
    ELSIF 'document' = ANY (fields) THEN
        INSERT INTO hublink.travel_document (returnee_id, document_type, document_number, issuing_country, expiry_date)
        VALUES (t.returnee_id, doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry', (doc ->> 'expiryDate')::date);
    END IF;

    IF booked THEN
        api := jsonb_strip_nulls(jsonb_build_object(
                   'dateOfBirth', CASE WHEN 'dateOfBirth' = ANY (fields) THEN changes -> 'dateOfBirth' END,
                   'nationality', CASE WHEN 'nationality' = ANY (fields) THEN changes -> 'nationality' END,
                   'gender', CASE WHEN 'gender' = ANY (fields) THEN changes -> 'gender' END));
        sent := hublink.amend_travel(removal_reference, jsonb_build_object(
            'passengerUpdates', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'traveller', jsonb_build_object('hoReturneeReference', t.ho_returnee_reference),
                'name', CASE WHEN fields && ARRAY['givenNames', 'familyName'] THEN jsonb_strip_nulls(jsonb_build_object(
                            'title', p.title,
                            'givenNames', coalesce(btrim(changes ->> 'givenNames'), p.given_names),
                            'familyName', coalesce(btrim(changes ->> 'familyName'), p.family_name))) END,
                'advancePassengerInfo', nullif(api, '{}'),
                'travelDocument', CASE WHEN 'document' = ANY (fields) THEN jsonb_strip_nulls(doc) END))),
            'other', left('Returnee details corrected: ' || btrim(reason), 500)));
    ELSIF r.state <> 'new' THEN
        -- Quotes asked for with the old details: ask again with the new ones.
        sent := hublink.requote(removal_reference);
    END IF;
    INSERT INTO hublink.returnee_change (removal_id, returnee_id, fields, reason, message_id, changed_by)
    VALUES (r.removal_id, t.returnee_id, fields, btrim(reason), sent, hublink.acting_login());
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) IS
    'Edits a returnee''s details with a reason: changes is an object of givenNames, familyName, '
    'dateOfBirth, nationality, gender, document {type, number, issuingCountry, expiryDate} and, '
    'before any quote request, hoReturneeReference (Appendix B 4.22 checked for it). Before any '
    'quote request it only records; while quotes are asked for or compared it asks for new quotes '
    '(hublink.requote); once the travel is booked it sends a travel amendment with the passenger''s '
    'new details (4.11). Refused while a booking or a travel amendment waits for its answer, on a '
    'removal that is over, with nothing to change. Kept in hublink.returnee_change. Returns the '
    'messageId sent, or NULL.';
REVOKE ALL ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) TO hublink_caseworker;
-- end of sql/parts/48_case_amendments.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/80_alert_delivery_and_tokens.sql
-- 0.2.0: alerts that reach people (issue 14 section 4; docs/alerts.md): alert channels as rows,
-- deliveries with idempotency keys sent by the worker with libcurl, operational checks against
-- thresholds as rows, availability reports; and the alert kind of the worker's broker token.
-- The three parts are wholly new in 0.2.0: the build copies them verbatim (@include).

-- sql/parts/82_alert_delivery.sql, verbatim (a part wholly new in this version)
-- Alert delivery (docs/alerts.md "Delivery"; NFR 0008, NFR 0020, GSO 80-84): alerts, security
-- events and availability reports go out to people and to the Home Office's tools over HTTPS.
-- Channels are rows; every event a channel wants becomes one row of hublink.alert_delivery in
-- the transaction that raised it, with the request body rendered and an idempotency key drawn
-- once, so every attempt sends the same bytes under the same key. The worker sends due rows
-- with libcurl (bgworker/alert_delivery.c) and records each outcome; a row stays pending, and
-- is retried with backoff, until the receiver answered 2xx. Nothing here runs stored names.

CREATE DOMAIN hublink.credential_file AS text
    CHECK (VALUE ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$');
COMMENT ON DOMAIN hublink.credential_file IS
    'A file name in the directory of the hublink.alert_credentials_dir setting: no directory '
    'part, not hidden, so a channel row can name only files the server''s administrator put '
    'there (never the master key or another secret of the server).';

CREATE TABLE hublink.alert_format (
    format       text PRIMARY KEY,
    content_type text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE hublink.alert_format IS
    'The request bodies a channel can send (reference data); hublink.alert_render draws them.';
COMMENT ON COLUMN hublink.alert_format.format IS 'Name of the format.';
COMMENT ON COLUMN hublink.alert_format.content_type IS 'The Content-Type header sent with it.';
COMMENT ON COLUMN hublink.alert_format.description IS 'What receives it and what it looks like.';
INSERT INTO hublink.alert_format VALUES
    ('generic_json', 'application/json',
     'The structured event itself (schema hublink.event/1): any JSON receiver, a log pipeline.'),
    ('chat', 'application/json',
     'An incoming-webhook message {"text": ...} as Slack, Mattermost, Rocket.Chat and Teams '
     'workflows accept: one line for a person.'),
    ('ticket', 'application/json',
     'An incident record for a ticketing system (ServiceNow table API field names: '
     'short_description, description, urgency, impact, category, correlation_id = the '
     'idempotency key, so a resend updates rather than duplicates).'),
    ('siem_hec', 'application/json',
     'A Splunk HTTP Event Collector event {"time", "host", "source", "sourcetype", "event"} '
     'with the structured event inside; other SIEMs (Elastic, Sentinel) ingest the same JSON.');

CREATE TABLE hublink.alert_channel (
    channel_name     text PRIMARY KEY CHECK (channel_name ~ '^[a-z][a-z0-9_]*$'),
    url              text NOT NULL CHECK (url ~ '^https://[^/@[:space:]]+(/[^[:space:]]*)?$'),
    format           text NOT NULL REFERENCES hublink.alert_format,
    event_types      text[] NOT NULL DEFAULT '{alert}'
                     CHECK (cardinality(event_types) > 0
                            AND event_types <@ '{alert,security_event,availability}'::text[]),
    kinds            text[],
    min_severity     text NOT NULL DEFAULT 'warning' REFERENCES hublink.alert_severity,
    client_cert_file hublink.credential_file,
    client_key_file  hublink.credential_file,
    ca_file          hublink.credential_file,
    header_file      hublink.credential_file,
    timeout_ms       integer NOT NULL DEFAULT 5000 CHECK (timeout_ms BETWEEN 100 AND 60000),
    retry_min_delay  interval NOT NULL DEFAULT '5 seconds' CHECK (retry_min_delay > interval '0'),
    retry_max_delay  interval NOT NULL DEFAULT '1 hour',
    enabled          boolean NOT NULL DEFAULT true,
    description      text NOT NULL DEFAULT '',
    CHECK ((client_cert_file IS NULL) = (client_key_file IS NULL)),
    CHECK (retry_max_delay >= retry_min_delay)
);
COMMENT ON TABLE hublink.alert_channel IS
    'Where alerts, security events and availability reports are sent (docs/alerts.md '
    '"Delivery"): one HTTPS endpoint each, with its format and its filter. Edited by admins; '
    'files are named inside hublink.alert_credentials_dir only.';
COMMENT ON COLUMN hublink.alert_channel.channel_name IS 'Name of the channel (lower case, underscores).';
COMMENT ON COLUMN hublink.alert_channel.url IS
    'The HTTPS URL events are POSTed to (no user:password part: credentials go in header_file). '
    'Redirects are not followed.';
COMMENT ON COLUMN hublink.alert_channel.format IS 'The request body (hublink.alert_format).';
COMMENT ON COLUMN hublink.alert_channel.event_types IS
    'Which events it gets: alert (hublink.alert), security_event (hublink.security_event and '
    'hublink.logon, NFR 0020), availability (hublink.availability_report, GSO 80-81).';
COMMENT ON COLUMN hublink.alert_channel.kinds IS
    'Only these kinds (alert kinds, security event kinds, or logon); NULL: every kind.';
COMMENT ON COLUMN hublink.alert_channel.min_severity IS
    'Alerts and security events below this severity are not sent; availability reports always are.';
COMMENT ON COLUMN hublink.alert_channel.client_cert_file IS
    'PEM client certificate presented to the receiver (mutual TLS), a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.client_key_file IS 'Its private key, a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.ca_file IS
    'PEM certificate authorities that sign the receiver''s certificate, a file in '
    'hublink.alert_credentials_dir; NULL: the system''s. The host name is always verified.';
COMMENT ON COLUMN hublink.alert_channel.header_file IS
    'A file in hublink.alert_credentials_dir whose lines are extra HTTP headers (for example '
    '"Authorization: Splunk <token>"), so no secret is a table value.';
COMMENT ON COLUMN hublink.alert_channel.timeout_ms IS 'Longest time one attempt may take, connection included.';
COMMENT ON COLUMN hublink.alert_channel.retry_min_delay IS 'Delay before the first retry; doubles after each failed attempt.';
COMMENT ON COLUMN hublink.alert_channel.retry_max_delay IS 'Longest delay between two attempts.';
COMMENT ON COLUMN hublink.alert_channel.enabled IS 'False: nothing is queued for it, and its queued deliveries wait.';
COMMENT ON COLUMN hublink.alert_channel.description IS 'Who reads it, for the admin.';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.alert_channel TO hublink_admin;

-- A header file holds a secret (a SIEM's token) that goes to whatever URL the channel names:
-- an admin who may edit the channel must not be able to send it elsewhere. Each header file is
-- bound to one host (the URL's authority, host[:port]) by the extension's owner, who put the
-- file in hublink.alert_credentials_dir in the first place; a channel may name it only with a
-- URL on that host (the attacker pass of 0.2.0; docs/alerts.md "Credentials and their host").
CREATE TABLE hublink.alert_header_binding (
    header_file hublink.credential_file PRIMARY KEY,
    host        text NOT NULL CHECK (host ~ '^[a-z0-9.-]+(:[0-9]{1,5})?$'),
    bound_by    name NOT NULL DEFAULT session_user,
    bound_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.alert_header_binding IS
    'The host each alert channel header file may be sent to (docs/alerts.md "Credentials and '
    'their host"). Written by the extension''s owner only; an admin reads it.';
COMMENT ON COLUMN hublink.alert_header_binding.header_file IS 'The file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_header_binding.host IS
    'The only host (lower case, with :port when the URL names one) a channel naming the file may POST to.';
COMMENT ON COLUMN hublink.alert_header_binding.bound_by IS 'Who bound it.';
COMMENT ON COLUMN hublink.alert_header_binding.bound_at IS 'When.';
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_header_binding', '');
GRANT SELECT ON hublink.alert_header_binding TO hublink_admin;

CREATE FUNCTION hublink.alert_url_host(p_url text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN pg_catalog.lower(pg_catalog.substring(p_url, '^https://([^/@[:space:]]+)'));
COMMENT ON FUNCTION hublink.alert_url_host(text) IS
    'The authority (host, and :port if given) of an alert channel URL, lower case.';

CREATE FUNCTION hublink.alert_header_allowed(p_header_file text, p_url text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN p_header_file IS NULL
        OR EXISTS (SELECT FROM hublink.alert_header_binding b
                    WHERE b.header_file = p_header_file AND b.host = hublink.alert_url_host(p_url));
COMMENT ON FUNCTION hublink.alert_header_allowed(text, text) IS
    'True when a channel may send the header file to the URL: no header file, or one bound to '
    'the URL''s host (hublink.alert_header_binding).';

-- A kind that exists nowhere would silently filter out everything: refuse it. A header file
-- goes only to the host it is bound to.
CREATE FUNCTION hublink.alert_channel_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    unknown text;
BEGIN
    IF NOT hublink.alert_header_allowed(NEW.header_file, NEW.url) THEN
        RAISE EXCEPTION 'header file "%" of alert channel "%" is not bound to host %', NEW.header_file,
                        NEW.channel_name, hublink.alert_url_host(NEW.url)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A header file holds a secret; it is sent only to the host the extension''s '
                           'owner bound it to (hublink.alert_header_binding).',
                  HINT = 'The owner binds it: INSERT INTO hublink.alert_header_binding (header_file, host) '
                         'VALUES (''file'', ''host'') ON CONFLICT (header_file) DO UPDATE SET host = excluded.host.';
    END IF;
    SELECT string_agg(k, ', ') INTO unknown
      FROM unnest(NEW.kinds) k
     WHERE k NOT IN (SELECT kind FROM hublink.alert_kind)
       AND k NOT IN (SELECT kind FROM hublink.security_event_kind);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown kinds in alert channel "%": %', NEW.channel_name, unknown
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Every kind a channel filters on is an alert kind (hublink.alert_kind) '
                           'or a security event kind (hublink.security_event_kind).',
                  HINT = 'SELECT kind FROM hublink.alert_kind UNION SELECT kind FROM hublink.security_event_kind lists them.';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.alert_channel_check() IS
    'Trigger: refuses a channel whose kinds filter names a kind that exists nowhere, or whose '
    'header file is not bound to its URL''s host (hublink.alert_header_binding).';
CREATE TRIGGER alert_channel_check BEFORE INSERT OR UPDATE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_check();
COMMENT ON TRIGGER alert_channel_check ON hublink.alert_channel IS
    'Checks the kinds filter and the header file''s host (hublink.alert_channel_check).';

CREATE TABLE hublink.availability_report (
    report_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    figures      jsonb NOT NULL CHECK (jsonb_typeof(figures) = 'object'),
    CHECK (period_end >= period_start)
);
COMMENT ON TABLE hublink.availability_report IS
    'Availability and performance figures per period (Schedule R GSO 80-81), written by the '
    'availability_report job and sent to the channels that want availability events.';
COMMENT ON COLUMN hublink.availability_report.report_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.availability_report.period_start IS 'Start of the period reported.';
COMMENT ON COLUMN hublink.availability_report.period_end IS 'End of the period reported.';
COMMENT ON COLUMN hublink.availability_report.figures IS
    'The figures as JSON (docs/alerts.md "Availability"): broker connectivity, traffic, backlog, '
    'failing jobs, open alerts.';

CREATE TABLE hublink.alert_delivery (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_name    text REFERENCES hublink.alert_channel ON UPDATE CASCADE ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('alert', 'security_event', 'logon', 'availability_report')),
    event_id        bigint NOT NULL,
    event_type      text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL REFERENCES hublink.alert_severity,
    idempotency_key uuid NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    channel_as_was  jsonb,
    UNIQUE (channel_name, source, event_id),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL)),
    CONSTRAINT alert_delivery_channel_or_as_was CHECK ((channel_name IS NULL) = (channel_as_was IS NOT NULL))
);
COMMENT ON TABLE hublink.alert_delivery IS
    'One row per event per channel that wants it: the request body and idempotency key fixed '
    'when the event was raised, and the state of its delivery. Pending rows are sent by the '
    'worker until the receiver answers 2xx (at least once); they survive restarts.';
COMMENT ON COLUMN hublink.alert_delivery.delivery_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.alert_delivery.channel_name IS
    'The channel (hublink.alert_channel); NULL for an announcement sent to a channel as it was '
    'before a change (channel_as_was).';
COMMENT ON COLUMN hublink.alert_delivery.source IS 'The table the event is a row of: alert, security_event, logon, availability_report.';
COMMENT ON COLUMN hublink.alert_delivery.event_id IS 'The key of that row.';
COMMENT ON COLUMN hublink.alert_delivery.event_type IS 'alert, security_event or availability (the channel filter).';
COMMENT ON COLUMN hublink.alert_delivery.kind IS 'The alert or security event kind.';
COMMENT ON COLUMN hublink.alert_delivery.severity IS 'Its severity.';
COMMENT ON COLUMN hublink.alert_delivery.idempotency_key IS
    'Sent as the Idempotency-Key header and inside the body; the same on every attempt, so a '
    'receiver drops the copies an at-least-once delivery may send.';
COMMENT ON COLUMN hublink.alert_delivery.payload IS 'The request body, rendered once (hublink.alert_render).';
COMMENT ON COLUMN hublink.alert_delivery.state IS 'pending until a 2xx answer, then delivered.';
COMMENT ON COLUMN hublink.alert_delivery.attempts IS 'Attempts started (an attempt cut short by a crash counts).';
COMMENT ON COLUMN hublink.alert_delivery.created_at IS 'When the event was queued for this channel.';
COMMENT ON COLUMN hublink.alert_delivery.next_attempt_at IS 'When the worker next tries (backoff after a failure).';
COMMENT ON COLUMN hublink.alert_delivery.last_attempt_at IS 'When the last attempt started.';
COMMENT ON COLUMN hublink.alert_delivery.last_status IS 'HTTP status of the last answer; NULL when none came (refused, timed out).';
COMMENT ON COLUMN hublink.alert_delivery.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN hublink.alert_delivery.delivered_at IS 'When the receiver accepted it.';
COMMENT ON COLUMN hublink.alert_delivery.channel_as_was IS
    'For the alert announcing a change to a channel: the channel''s row as it was before the change '
    '(URL, files, format), where the alert is sent whatever the channel now is or whether it still '
    'exists, so a redirect, a disable or a delete is told to whoever listened there (docs/alerts.md).';
CREATE INDEX alert_delivery_due ON hublink.alert_delivery (next_attempt_at, delivery_id) WHERE state = 'pending';
COMMENT ON INDEX hublink.alert_delivery_due IS 'The pending deliveries in the order the worker sends them.';
-- Read by admins (delivery state); written only by the triggers and the worker's functions.
GRANT SELECT ON hublink.alert_delivery, hublink.availability_report TO hublink_admin;

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('alert_channel_test', 'info', 'delivery',
     'A test event sent by hublink.test_alert_channel to check that a channel reaches its receiver.');

-- The structured event every format is drawn from (docs/alerts.md "The event").
CREATE FUNCTION hublink.alert_event(p_event_type text, p_event_id bigint, p_kind text,
                                    p_severity text, p_subject text, p_occurred_at timestamptz,
                                    p_detail jsonb, p_idempotency_key uuid)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_build_object(
    'schema', 'hublink.event/1',
    'idempotency_key', p_idempotency_key,
    'event_type', p_event_type,
    'event_id', p_event_id,
    'kind', p_kind,
    'severity', p_severity,
    'subject', p_subject,
    'occurred_at', p_occurred_at,
    'party', current_setting('hublink.party', true),
    'database', current_database(),
    'source', 'hublink',
    'detail', coalesce(p_detail, '{}'));
$$;
COMMENT ON FUNCTION hublink.alert_event(text, bigint, text, text, text, timestamptz, jsonb, uuid) IS
    'The structured event (schema hublink.event/1) every channel format is drawn from.';

CREATE FUNCTION hublink.alert_render(p_format text, p_event jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rank smallint := (SELECT s.rank FROM hublink.alert_severity s WHERE s.severity = p_event ->> 'severity');
BEGIN
    CASE p_format
    WHEN 'generic_json' THEN
        RETURN p_event;
    WHEN 'chat' THEN
        RETURN jsonb_build_object('text', format('[hublink %s] %s %s: %s (%s %s)',
            coalesce(p_event ->> 'party', '?'), upper(p_event ->> 'severity'), p_event ->> 'kind',
            p_event ->> 'subject', p_event ->> 'event_type', p_event ->> 'event_id'));
    WHEN 'ticket' THEN
        RETURN jsonb_build_object(
            'short_description', left(format('hublink %s: %s', p_event ->> 'kind', p_event ->> 'subject'), 160),
            'description', format(E'%s\n\n%s', p_event ->> 'subject', jsonb_pretty(p_event)),
            'urgency', CASE WHEN rank >= 3 THEN '1' WHEN rank = 2 THEN '2' ELSE '3' END,
            'impact', CASE WHEN rank >= 3 THEN '1' WHEN rank = 2 THEN '2' ELSE '3' END,
            'category', 'hublink',
            'subcategory', p_event ->> 'kind',
            'correlation_id', p_event ->> 'idempotency_key',
            'correlation_display', 'hublink');
    WHEN 'siem_hec' THEN
        RETURN jsonb_build_object(
            'time', round(extract(epoch FROM (p_event ->> 'occurred_at')::timestamptz), 3),
            'host', coalesce(p_event ->> 'party', current_database()),
            'source', 'hublink',
            'sourcetype', 'hublink:' || (p_event ->> 'event_type'),
            'event', p_event);
    ELSE
        RAISE EXCEPTION 'unknown alert format "%"', p_format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'hublink.alert_render draws the formats of hublink.alert_format.',
                  HINT = 'Use generic_json, chat, ticket or siem_hec.';
    END CASE;
END;
$$;
COMMENT ON FUNCTION hublink.alert_render(text, jsonb) IS
    'The request body of a channel format for a structured event (hublink.alert_event).';

-- Queues one event for every enabled channel whose filter takes it; wakes the worker at commit.
CREATE FUNCTION hublink.alert_enqueue(p_source text, p_event_type text, p_event_id bigint,
                                      p_kind text, p_severity text, p_subject text,
                                      p_occurred_at timestamptz, p_detail jsonb,
                                      p_only_channel text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c     hublink.alert_channel;
    k     uuid;
    n     integer := 0;
    floor smallint;
    rank  smallint := (SELECT s.rank FROM hublink.alert_severity s WHERE s.severity = p_severity);
BEGIN
    FOR c IN SELECT * FROM hublink.alert_channel ch
              WHERE ch.enabled
                AND (p_only_channel IS NULL OR ch.channel_name = p_only_channel)
                AND (p_only_channel IS NOT NULL OR p_event_type = ANY (ch.event_types))
                AND (p_only_channel IS NOT NULL OR ch.kinds IS NULL OR p_kind = ANY (ch.kinds))
              ORDER BY ch.channel_name
    LOOP
        SELECT s.rank INTO floor FROM hublink.alert_severity s WHERE s.severity = c.min_severity;
        CONTINUE WHEN p_only_channel IS NULL AND p_event_type <> 'availability' AND rank < floor;
        k := gen_random_uuid();
        INSERT INTO hublink.alert_delivery (channel_name, source, event_id, event_type, kind, severity,
                                            idempotency_key, payload)
        VALUES (c.channel_name, p_source, p_event_id, p_event_type, p_kind, p_severity, k,
                hublink.alert_render(c.format,
                    hublink.alert_event(p_event_type, p_event_id, p_kind, p_severity, p_subject,
                                        p_occurred_at, p_detail, k)))
        ON CONFLICT (channel_name, source, event_id) DO NOTHING;
        IF FOUND THEN
            n := n + 1;
        END IF;
    END LOOP;
    IF n > 0 THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    END IF;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.alert_enqueue(text, text, bigint, text, text, text, timestamptz, jsonb, text) IS
    'Queues an event (a row of hublink.alert, security_event, logon or availability_report) for '
    'every enabled channel whose event types, kinds and minimum severity take it (or for one '
    'named channel, whatever its filter), rendering the body and drawing the idempotency key '
    'once; an event already queued for a channel is not queued again. Wakes the worker at '
    'commit (hublink.wake_worker_for_jobs_at_commit, which also makes it look for due deliveries). Returns how many deliveries it queued.';
REVOKE ALL ON FUNCTION hublink.alert_enqueue(text, text, bigint, text, text, text, timestamptz, jsonb, text) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_on_alert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.alert_enqueue('alert', 'alert', NEW.alert_id, NEW.kind, NEW.severity, NEW.subject,
                                  NEW.raised_at,
                                  NEW.detail || jsonb_strip_nulls(jsonb_build_object(
                                      'alert_id', NEW.alert_id, 'removal_id', NEW.removal_id,
                                      'due_at', NEW.due_at, 'raised_by', NEW.raised_by)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_alert() IS
    'Trigger: queues a new alert for the channels that want it.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.alert
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_alert();
COMMENT ON TRIGGER alert_delivery ON hublink.alert IS 'Queues the alert for delivery (hublink.alert_enqueue).';

-- Security events go out whole (NFR 0020, GSO 82-84): the client address too, for the SOC;
-- the severity is that of the alert the kind raises, else info.
CREATE FUNCTION hublink.alert_delivery_on_security_event() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k hublink.security_event_kind;
BEGIN
    SELECT * INTO k FROM hublink.security_event_kind WHERE kind = NEW.kind;
    PERFORM hublink.alert_enqueue('security_event', 'security_event', NEW.security_event_id, NEW.kind,
                                  coalesce((SELECT a.default_severity FROM hublink.alert_kind a
                                             WHERE a.kind = k.alert_kind), 'info'),
                                  format('%s (role %s)', coalesce(k.description, 'security event ' || NEW.kind),
                                         coalesce(NEW.role_name, 'unknown')),
                                  NEW.recorded_at,
                                  jsonb_build_object('security_event_id', NEW.security_event_id,
                                                     'role_name', NEW.role_name, 'pid', NEW.pid,
                                                     'database_oid', NEW.database_oid) || NEW.detail);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_security_event() IS
    'Trigger: queues a new security event for the channels that want security events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.security_event
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_security_event();
COMMENT ON TRIGGER alert_delivery ON hublink.security_event IS 'Queues the event for delivery (hublink.alert_enqueue).';

CREATE FUNCTION hublink.alert_delivery_on_logon() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    failure boolean := (SELECT o.failure FROM hublink.logon_outcome o WHERE o.outcome = NEW.outcome);
BEGIN
    PERFORM hublink.alert_enqueue('logon', 'security_event', NEW.logon_id, 'logon',
                                  CASE WHEN failure THEN 'warning' ELSE 'info' END,
                                  format('logon %s for role %s', NEW.outcome, NEW.role_name),
                                  NEW.logon_at,
                                  jsonb_build_object('logon_id', NEW.logon_id, 'role_name', NEW.role_name,
                                                     'database_name', NEW.database_name,
                                                     'client_addr', NEW.client_addr, 'method', NEW.method,
                                                     'outcome', NEW.outcome));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_logon() IS
    'Trigger: queues a logon (kind logon; warning when it failed) for the channels that want security events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.logon
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_logon();
COMMENT ON TRIGGER alert_delivery ON hublink.logon IS 'Queues the logon for delivery (hublink.alert_enqueue).';

CREATE FUNCTION hublink.alert_delivery_on_availability() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.alert_enqueue('availability_report', 'availability', NEW.report_id, 'availability_report',
                                  'info',
                                  format('availability %s%% from %s to %s',
                                         coalesce(NEW.figures ->> 'broker_connected_percent', '?'),
                                         NEW.period_start, NEW.period_end),
                                  NEW.period_end,
                                  NEW.figures || jsonb_build_object('report_id', NEW.report_id,
                                                                    'period_start', NEW.period_start,
                                                                    'period_end', NEW.period_end));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_availability() IS
    'Trigger: queues an availability report for the channels that want availability events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.availability_report
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_availability();
COMMENT ON TRIGGER alert_delivery ON hublink.availability_report IS 'Queues the report for delivery (hublink.alert_enqueue).';

-- Where a delivery goes: its channel as it is now, or as it was before a change (the
-- announcement of that change, hublink.alert_channel_changed).
CREATE FUNCTION hublink.alert_delivery_target(d hublink.alert_delivery) RETURNS SETOF hublink.alert_channel
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT * FROM hublink.alert_channel c WHERE c.channel_name = d.channel_name
UNION ALL
SELECT * FROM pg_catalog.jsonb_populate_record(NULL::hublink.alert_channel, d.channel_as_was)
 WHERE d.channel_as_was IS NOT NULL;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_target(hublink.alert_delivery) IS
    'The channel a delivery goes to: its row of hublink.alert_channel, or the row as it was '
    '(alert_delivery.channel_as_was) for the announcement of a change.';

-- The worker's side (bgworker/alert_delivery.c). Claiming schedules the next attempt at once,
-- so a delivery whose attempt is cut short by a crash waits its backoff, never loops hot.
CREATE FUNCTION hublink.alert_deliveries_claim(p_limit integer)
    RETURNS TABLE (delivery_id bigint, url text, content_type text, body text, idempotency_key uuid,
                   client_cert_file text, client_key_file text, ca_file text, header_file text,
                   timeout_ms integer)
    LANGUAGE sql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
WITH due AS (
    SELECT d.delivery_id, c.*
      FROM hublink.alert_delivery d
     CROSS JOIN LATERAL hublink.alert_delivery_target(d) c
     WHERE d.state = 'pending' AND d.next_attempt_at <= clock_timestamp() AND c.enabled
       -- checked again at each send: a binding the owner moved, or a row written around the
       -- trigger, never sends the secret to another host
       AND hublink.alert_header_allowed(c.header_file, c.url)
     ORDER BY d.next_attempt_at, d.delivery_id
     LIMIT p_limit
       FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE hublink.alert_delivery d
       SET attempts = d.attempts + 1,
           last_attempt_at = clock_timestamp(),
           next_attempt_at = clock_timestamp()
               + least(due.retry_min_delay * power(2, least(d.attempts, 30)), due.retry_max_delay)
      FROM due
     WHERE d.delivery_id = due.delivery_id
    RETURNING d.delivery_id, d.payload, d.idempotency_key
)
SELECT x.delivery_id, c.url, f.content_type, x.payload::text, x.idempotency_key,
       c.client_cert_file, c.client_key_file, c.ca_file, c.header_file, c.timeout_ms
  FROM claimed x
  JOIN due c USING (delivery_id)
  JOIN hublink.alert_format f ON f.format = c.format
 ORDER BY x.delivery_id;
$$;
COMMENT ON FUNCTION hublink.alert_deliveries_claim(integer) IS
    'For the worker: up to p_limit due pending deliveries of enabled channels (or of a channel '
    'as it was, for the announcement of its change), each counted as an attempt and given its '
    'next attempt time (backoff) before it is sent. A delivery whose header file is not bound to '
    'its URL''s host is never claimed.';
REVOKE ALL ON FUNCTION hublink.alert_deliveries_claim(integer) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_result(p_delivery_id bigint, p_http_status integer, p_error text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_http_status BETWEEN 200 AND 299 THEN
        UPDATE hublink.alert_delivery
           SET state = 'delivered', delivered_at = clock_timestamp(), last_status = p_http_status,
               last_error = NULL
         WHERE delivery_id = p_delivery_id AND state = 'pending';
    ELSE
        UPDATE hublink.alert_delivery
           SET last_status = p_http_status,
               last_error = left(coalesce(p_error, format('HTTP status %s', p_http_status)), 500)
         WHERE delivery_id = p_delivery_id AND state = 'pending';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) IS
    'For the worker: records the outcome of an attempt. 2xx: delivered. Anything else (an HTTP '
    'error, no answer): stays pending until its next attempt time, with the status and error.';
REVOKE ALL ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_next() RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT min(d.next_attempt_at)
  FROM hublink.alert_delivery d CROSS JOIN LATERAL hublink.alert_delivery_target(d) c
 WHERE d.state = 'pending' AND c.enabled AND hublink.alert_header_allowed(c.header_file, c.url);
$$;
COMMENT ON FUNCTION hublink.alert_delivery_next() IS
    'For the worker: when the next pending delivery is due (NULL: none), so it sleeps until then.';
REVOKE ALL ON FUNCTION hublink.alert_delivery_next() FROM PUBLIC;

-- For admins.
CREATE FUNCTION hublink.test_alert_channel(p_channel_name text) RETURNS bigint
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hublink.alert_channel WHERE channel_name = p_channel_name AND enabled) THEN
        RAISE EXCEPTION 'no enabled alert channel "%"', p_channel_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'hublink.alert_channel has no enabled row with that channel_name.',
                  HINT = 'SELECT channel_name, enabled FROM hublink.alert_channel lists the channels.';
    END IF;
    id := hublink.raise_alert('alert_channel_test', format('test of alert channel %s', p_channel_name),
                              NULL, jsonb_build_object('channel_name', p_channel_name));
    PERFORM hublink.alert_enqueue('alert', 'alert', id, 'alert_channel_test', 'info',
                                  format('test of alert channel %s', p_channel_name), clock_timestamp(),
                                  jsonb_build_object('channel_name', p_channel_name, 'alert_id', id),
                                  p_channel_name);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.test_alert_channel(text) IS
    'Raises an alert_channel_test alert and queues it for the named channel whatever its '
    'filter (other channels get it only if their filter takes it); returns the alert_id. '
    'Watch hublink.alert_delivery for its outcome.';
REVOKE ALL ON FUNCTION hublink.test_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.test_alert_channel(text) TO hublink_admin;

CREATE FUNCTION hublink.retry_alert_channel(p_channel_name text) RETURNS integer
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    UPDATE hublink.alert_delivery SET next_attempt_at = clock_timestamp()
     WHERE channel_name = p_channel_name AND state = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    END IF;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.retry_alert_channel(text) IS
    'Makes every pending delivery of a channel due now (after the receiver was fixed) and wakes '
    'the worker at commit; returns how many.';
REVOKE ALL ON FUNCTION hublink.retry_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.retry_alert_channel(text) TO hublink_admin;

CREATE VIEW hublink.alert_channel_status AS
SELECT c.channel_name, c.enabled, c.format, c.url,
       count(*) FILTER (WHERE d.state = 'pending') AS pending,
       count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
       clock_timestamp() - min(d.created_at) FILTER (WHERE d.state = 'pending') AS oldest_pending_age,
       max(d.delivered_at) AS last_delivered_at,
       (SELECT x.last_error FROM hublink.alert_delivery x
         WHERE x.channel_name = c.channel_name AND x.last_error IS NOT NULL
         ORDER BY x.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error
  FROM hublink.alert_channel c
  LEFT JOIN hublink.alert_delivery d USING (channel_name)
 GROUP BY c.channel_name;
COMMENT ON VIEW hublink.alert_channel_status IS
    'One row per channel: deliveries pending and delivered, how long the oldest pending one has '
    'waited, when the receiver last accepted one, and the last error.';
COMMENT ON COLUMN hublink.alert_channel_status.channel_name IS 'The channel.';
COMMENT ON COLUMN hublink.alert_channel_status.enabled IS 'Whether it is enabled.';
COMMENT ON COLUMN hublink.alert_channel_status.format IS 'Its format.';
COMMENT ON COLUMN hublink.alert_channel_status.url IS 'Its URL.';
COMMENT ON COLUMN hublink.alert_channel_status.pending IS 'Deliveries not yet accepted by the receiver.';
COMMENT ON COLUMN hublink.alert_channel_status.delivered IS 'Deliveries accepted.';
COMMENT ON COLUMN hublink.alert_channel_status.oldest_pending_age IS 'How long the oldest pending delivery has waited; NULL when none.';
COMMENT ON COLUMN hublink.alert_channel_status.last_delivered_at IS 'When the receiver last accepted a delivery.';
COMMENT ON COLUMN hublink.alert_channel_status.last_error IS 'The error of the latest failed attempt, if any.';
GRANT SELECT ON hublink.alert_channel_status TO hublink_admin;

-- Every change to a channel is announced: 95_config_alerts.sql.

-- The site's own rows: channels an admin made, deliveries still pending, reports sent.
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_channel', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.availability_report', '');
-- end of sql/parts/82_alert_delivery.sql
-- sql/parts/83_alert_checks.sql, verbatim (a part wholly new in this version)
-- Operational alerts (NFR 0008 "early alerting"; docs/alerts.md "Operational alerts"): the
-- operational_checks job looks at the worker's state, the backlogs, the rejections, the jobs,
-- the timers and the alert channels, and raises an alert once per episode when a threshold (a
-- row of hublink.alert_threshold) is passed; when the condition clears it raises an
-- operational_recovered alert. The same job samples the broker connection for the
-- availability_report job (GSO 80-81).

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('broker_unreachable', 'critical', 'operations',
     'The worker has had no broker connection for longer than the threshold: nothing is received '
     'or sent. See hublink.worker_status.last_error; check the broker, the network, the certificates.'),
    ('outbox_backlog', 'warning', 'operations',
     'An outbound message has waited longer than the threshold for the broker''s confirm. See '
     'hublink.worker_queue_status.'),
    ('inbox_backlog', 'warning', 'operations',
     'An inbound message has waited for a handler retry longer than the threshold. See '
     'hublink.inbox rows with status retrying and their last_error.'),
    ('rejections_high', 'warning', 'operations',
     'More inbound messages were rejected within the window than the threshold allows: a '
     'sender may be broken or hostile. See hublink.inbox rows with status rejected.'),
    ('worker_job_failed', 'warning', 'operations',
     'A worker job''s last run failed. See hublink.worker_job.last_error.'),
    ('timers_late', 'warning', 'operations',
     'Workflow timers fired later than the threshold after they were due (the worker was down '
     'or busy). See hublink.timer.lateness.'),
    ('alert_delivery_failing', 'critical', 'operations',
     'An alert channel has had a delivery pending longer than the threshold: its receiver does '
     'not accept them. See hublink.alert_channel_status.'),
    ('broker_token_failed', 'critical', 'operations',
     'The worker could not obtain or renew its broker access token (docs/worker.md "Access '
     'tokens"). See hublink.worker_status.last_error.'),
    ('operational_recovered', 'info', 'operations',
     'A condition an operational alert reported has cleared (detail.recovered names the alert).');

CREATE TABLE hublink.alert_threshold (
    check_name  text PRIMARY KEY,
    alert_kind  text NOT NULL REFERENCES hublink.alert_kind,
    after       interval CHECK (after >= interval '0'),
    max_count   integer CHECK (max_count >= 0),
    within      interval CHECK (within > interval '0'),
    severity    text REFERENCES hublink.alert_severity,
    enabled     boolean NOT NULL DEFAULT true,
    description text NOT NULL,
    CHECK (CASE check_name
               WHEN 'rejections' THEN max_count IS NOT NULL AND within IS NOT NULL
               WHEN 'worker_job_failed' THEN true
               ELSE after IS NOT NULL END)
);
COMMENT ON TABLE hublink.alert_threshold IS
    'The thresholds of the operational checks (NFR 0008), one row per check; admins change '
    'them. The checks themselves are code (hublink.operational_checks): a row names no function.';
COMMENT ON COLUMN hublink.alert_threshold.check_name IS 'The check (see description).';
COMMENT ON COLUMN hublink.alert_threshold.alert_kind IS 'The alert it raises.';
COMMENT ON COLUMN hublink.alert_threshold.after IS 'How long the condition must last (or how old, how late) before the alert.';
COMMENT ON COLUMN hublink.alert_threshold.max_count IS 'For rates: the most events allowed within the window.';
COMMENT ON COLUMN hublink.alert_threshold.within IS 'For rates: the window.';
COMMENT ON COLUMN hublink.alert_threshold.severity IS 'The alert''s severity; NULL: the kind''s default.';
COMMENT ON COLUMN hublink.alert_threshold.enabled IS 'False: the check does not run.';
COMMENT ON COLUMN hublink.alert_threshold.description IS 'What the check looks at.';
INSERT INTO hublink.alert_threshold (check_name, alert_kind, after, max_count, within, description) VALUES
    ('broker_unreachable', 'broker_unreachable', '2 minutes', NULL, NULL,
     'The worker is not connected to the broker (worker_status.state) for longer than after.'),
    ('outbox_backlog', 'outbox_backlog', '10 minutes', NULL, NULL,
     'The oldest unconfirmed outbox row is older than after.'),
    ('inbox_backlog', 'inbox_backlog', '10 minutes', NULL, NULL,
     'The oldest inbox row waiting for a handler retry was received longer than after ago.'),
    ('rejections', 'rejections_high', NULL, 10, '1 hour',
     'More than max_count inbound messages rejected within the last within.'),
    ('worker_job_failed', 'worker_job_failed', NULL, NULL, NULL,
     'A worker job''s last run failed (one alert per job until a run succeeds).'),
    ('timers_late', 'timers_late', '5 minutes', NULL, NULL,
     'Timers fired since the last check with a lateness above after (one alert per check run).'),
    ('alert_delivery_failing', 'alert_delivery_failing', '15 minutes', NULL, NULL,
     'A channel''s oldest pending delivery is older than after (one alert per channel).');
GRANT SELECT, UPDATE ON hublink.alert_threshold TO hublink_admin;
-- Every change is alerted: 95_config_alerts.sql.

CREATE TABLE hublink.alert_check_state (
    check_name text NOT NULL REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    subject    text NOT NULL DEFAULT '',
    since      timestamptz NOT NULL,
    alert_id   bigint REFERENCES hublink.alert ON DELETE SET NULL,
    PRIMARY KEY (check_name, subject)
);
COMMENT ON TABLE hublink.alert_check_state IS
    'The conditions the operational checks see now, one row per episode: since when, and the '
    'alert raised for it (NULL while under the threshold). Written by the checks only.';
COMMENT ON COLUMN hublink.alert_check_state.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_state.subject IS 'What it is about (a job, a channel), or empty.';
COMMENT ON COLUMN hublink.alert_check_state.since IS 'When the condition started (as well as the check can tell).';
COMMENT ON COLUMN hublink.alert_check_state.alert_id IS 'The alert raised for this episode, once the threshold was passed.';

CREATE TABLE hublink.alert_check_watermark (
    check_name text PRIMARY KEY REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    checked_to timestamptz NOT NULL
);
COMMENT ON TABLE hublink.alert_check_watermark IS
    'For checks that count events (timers_late): up to when events were already looked at.';
COMMENT ON COLUMN hublink.alert_check_watermark.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_watermark.checked_to IS 'Events up to this time were counted.';

CREATE TABLE hublink.availability_sample (
    sampled_at timestamptz PRIMARY KEY,
    state      text NOT NULL,
    connected  boolean NOT NULL
);
COMMENT ON TABLE hublink.availability_sample IS
    'The worker''s broker connection state as each operational_checks run saw it, for the '
    'availability figures (GSO 80); kept 35 days.';
COMMENT ON COLUMN hublink.availability_sample.sampled_at IS 'When it was sampled.';
COMMENT ON COLUMN hublink.availability_sample.state IS 'hublink.worker_status.state then.';
COMMENT ON COLUMN hublink.availability_sample.connected IS 'True when the worker was connected to the broker.';

-- One episode of one check: start it, alert once it lasted `after`, end it (with a recovery
-- alert if it had alerted). Returns the alert raised now, if any.
CREATE FUNCTION hublink.alert_episode(p_check text, p_subject text, p_active boolean,
                                      p_since timestamptz, p_text text, p_detail jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t  hublink.alert_threshold;
    s  hublink.alert_check_state;
    id bigint;
BEGIN
    SELECT * INTO t FROM hublink.alert_threshold WHERE check_name = p_check;
    SELECT * INTO s FROM hublink.alert_check_state WHERE check_name = p_check AND subject = p_subject;
    IF NOT p_active THEN
        IF FOUND THEN
            DELETE FROM hublink.alert_check_state WHERE check_name = p_check AND subject = p_subject;
            IF s.alert_id IS NOT NULL THEN
                PERFORM hublink.raise_alert('operational_recovered',
                    format('recovered: %s%s', p_check, CASE WHEN p_subject <> '' THEN ' ' || p_subject ELSE '' END),
                    NULL, jsonb_build_object('recovered', s.alert_id, 'check', p_check, 'subject', p_subject,
                                             'since', s.since, 'lasted', clock_timestamp() - s.since));
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    IF NOT FOUND THEN
        s := ROW(p_check, p_subject, least(coalesce(p_since, clock_timestamp()), clock_timestamp()), NULL);
        INSERT INTO hublink.alert_check_state VALUES (s.*);
    END IF;
    IF s.alert_id IS NULL AND clock_timestamp() - s.since >= coalesce(t.after, interval '0') THEN
        id := hublink.raise_alert(t.alert_kind, p_text, NULL,
                                  coalesce(p_detail, '{}') || jsonb_build_object(
                                      'check', p_check, 'since', s.since, 'threshold', t.after),
                                  t.severity);
        UPDATE hublink.alert_check_state SET alert_id = id WHERE check_name = p_check AND subject = p_subject;
    END IF;
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.alert_episode(text, text, boolean, timestamptz, text, jsonb) IS
    'One episode of an operational check: starts it when the condition appears, raises the '
    'check''s alert once when it has lasted the threshold''s after, and ends it (with an '
    'operational_recovered alert when it had alerted) when the condition clears.';
REVOKE ALL ON FUNCTION hublink.alert_episode(text, text, boolean, timestamptz, text, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.operational_checks() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t       hublink.alert_threshold;
    w       record;
    r       record;
    n       bigint;
    oldest  timestamptz;
    since   timestamptz;
BEGIN
    SELECT * INTO w FROM hublink.worker_state();
    INSERT INTO hublink.availability_sample VALUES (clock_timestamp(), coalesce(w.state, 'stopped'),
                                                    w.state IS NOT DISTINCT FROM 'connected')
        ON CONFLICT DO NOTHING;
    DELETE FROM hublink.availability_sample WHERE sampled_at < clock_timestamp() - interval '35 days';

    FOR t IN SELECT * FROM hublink.alert_threshold ORDER BY check_name LOOP
        IF NOT t.enabled THEN
            DELETE FROM hublink.alert_check_state WHERE check_name = t.check_name;
            CONTINUE;
        END IF;
        CASE t.check_name
        WHEN 'broker_unreachable' THEN
            PERFORM hublink.alert_episode(t.check_name, '', w.state IS DISTINCT FROM 'connected', w.state_since,
                format('the worker has had no broker connection since %s (%s)',
                       to_char(w.state_since, 'YYYY-MM-DD HH24:MI:SSOF'), coalesce(w.last_error, w.state)),
                jsonb_build_object('state', w.state, 'last_error', w.last_error));
        WHEN 'outbox_backlog' THEN
            SELECT min(o.created_at), count(*) INTO oldest, n FROM hublink.outbox o WHERE o.sent_at IS NULL;
            PERFORM hublink.alert_episode(t.check_name, '',
                oldest IS NOT NULL AND clock_timestamp() - oldest > t.after, oldest,
                format('%s outbound messages wait for the broker, the oldest since %s', n,
                       to_char(oldest, 'YYYY-MM-DD HH24:MI:SSOF')),
                jsonb_build_object('backlog', n, 'oldest_created_at', oldest));
        WHEN 'inbox_backlog' THEN
            SELECT min(i.received_at), count(*) INTO oldest, n FROM hublink.inbox i WHERE i.status = 'retrying';
            PERFORM hublink.alert_episode(t.check_name, '',
                oldest IS NOT NULL AND clock_timestamp() - oldest > t.after, oldest,
                format('%s inbound messages wait for a handler retry, the oldest received %s', n,
                       to_char(oldest, 'YYYY-MM-DD HH24:MI:SSOF')),
                jsonb_build_object('retrying', n, 'oldest_received_at', oldest));
        WHEN 'rejections' THEN
            SELECT count(*) INTO n FROM hublink.inbox i
             WHERE i.status = 'rejected' AND i.processed_at > clock_timestamp() - t.within;
            PERFORM hublink.alert_episode(t.check_name, '', n > t.max_count, clock_timestamp(),
                format('%s inbound messages rejected within %s (threshold %s)', n, t.within, t.max_count),
                jsonb_build_object('rejected', n, 'within', t.within, 'max_count', t.max_count));
        WHEN 'worker_job_failed' THEN
            FOR r IN SELECT j.job_name, j.last_error, j.last_error_at, j.failures,
                            j.enabled AND j.last_error_at IS NOT NULL
                            AND j.last_error_at >= coalesce(j.last_started_at, '-infinity') AS failing
                       FROM hublink.worker_job j
                      UNION ALL
                     SELECT s.subject, NULL, NULL, NULL, false
                       FROM hublink.alert_check_state s
                      WHERE s.check_name = t.check_name
                        AND s.subject NOT IN (SELECT job_name FROM hublink.worker_job) LOOP
                PERFORM hublink.alert_episode(t.check_name, r.job_name, r.failing, r.last_error_at,
                    format('worker job %s failed: %s', r.job_name, left(r.last_error, 200)),
                    jsonb_build_object('job_name', r.job_name, 'last_error', r.last_error,
                                       'failures', r.failures));
            END LOOP;
        WHEN 'timers_late' THEN
            SELECT checked_to INTO since FROM hublink.alert_check_watermark WHERE check_name = t.check_name;
            oldest := clock_timestamp();
            SELECT count(*), max(tm.lateness) INTO r
              FROM hublink.timer tm
             WHERE tm.fired_at > coalesce(since, '-infinity') AND tm.fired_at <= oldest
               AND tm.lateness > t.after;
            IF r.count > 0 THEN
                PERFORM hublink.raise_alert(t.alert_kind,
                    format('%s timers fired more than %s late (the latest by %s)', r.count, t.after, r.max),
                    NULL, jsonb_build_object('check', t.check_name, 'timers', r.count,
                                             'max_lateness', r.max, 'threshold', t.after),
                    t.severity);
            END IF;
            INSERT INTO hublink.alert_check_watermark VALUES (t.check_name, oldest)
                ON CONFLICT (check_name) DO UPDATE SET checked_to = EXCLUDED.checked_to;
        WHEN 'alert_delivery_failing' THEN
            FOR r IN SELECT c.channel_name, min(d.created_at) AS oldest, count(d.delivery_id) AS pending,
                            (array_agg(d.last_error ORDER BY d.last_attempt_at DESC NULLS LAST))[1] AS last_error
                       FROM hublink.alert_channel c
                       LEFT JOIN hublink.alert_delivery d ON d.channel_name = c.channel_name AND d.state = 'pending'
                      WHERE c.enabled
                      GROUP BY c.channel_name
                      UNION ALL
                     SELECT s.subject, NULL, 0, NULL
                       FROM hublink.alert_check_state s
                      WHERE s.check_name = t.check_name
                        AND s.subject NOT IN (SELECT channel_name FROM hublink.alert_channel WHERE enabled) LOOP
                PERFORM hublink.alert_episode(t.check_name, r.channel_name,
                    r.oldest IS NOT NULL AND clock_timestamp() - r.oldest > t.after, r.oldest,
                    format('alert channel %s has %s deliveries pending since %s: %s', r.channel_name, r.pending,
                           to_char(r.oldest, 'YYYY-MM-DD HH24:MI:SSOF'), coalesce(r.last_error, 'no attempt yet')),
                    jsonb_build_object('channel_name', r.channel_name, 'pending', r.pending,
                                       'last_error', r.last_error));
            END LOOP;
        ELSE
            NULL; -- a row for a check this version does not know: nothing to run
        END CASE;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.operational_checks() IS
    'The operational_checks job (NFR 0008): samples the broker connection for the availability '
    'figures, then runs each enabled check of hublink.alert_threshold and raises its alert once '
    'per episode (hublink.alert_episode).';
REVOKE ALL ON FUNCTION hublink.operational_checks() FROM PUBLIC;

CREATE FUNCTION hublink.availability_report_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p_start timestamptz := coalesce((SELECT max(period_end) FROM hublink.availability_report),
                                    (SELECT min(sampled_at) FROM hublink.availability_sample),
                                    clock_timestamp());
    p_end   timestamptz := clock_timestamp();
    s       record;
    ws      record;
BEGIN
    SELECT count(*) AS samples, count(*) FILTER (WHERE connected) AS connected
      INTO s FROM hublink.availability_sample WHERE sampled_at > p_start AND sampled_at <= p_end;
    SELECT * INTO ws FROM hublink.worker_status;
    INSERT INTO hublink.availability_report (period_start, period_end, figures)
    VALUES (p_start, p_end, jsonb_build_object(
        'samples', s.samples,
        'broker_connected_percent',
            CASE WHEN s.samples > 0 THEN round(100.0 * s.connected / s.samples, 2) END,
        'state', ws.state,
        'state_since', ws.state_since,
        'worker_started_at', ws.started_at,
        'received_since_start', ws.received,
        'applied_since_start', ws.applied,
        'rejected_since_start', ws.rejected,
        'published_since_start', ws.published,
        'inbox_received_in_period', (SELECT count(*) FROM hublink.inbox i
                                      WHERE i.received_at > p_start AND i.received_at <= p_end),
        'inbox_rejected_in_period', (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'rejected'
                                        AND i.processed_at > p_start AND i.processed_at <= p_end),
        'outbox_sent_in_period', (SELECT count(*) FROM hublink.outbox o
                                   WHERE o.sent_at > p_start AND o.sent_at <= p_end),
        'outbox_backlog', ws.outbox_backlog,
        'oldest_unsent_seconds', extract(epoch FROM ws.oldest_unsent_age),
        'retrying', ws.retrying,
        'failing_jobs', (SELECT count(*) FROM hublink.worker_job j WHERE j.enabled
                            AND j.last_error_at >= coalesce(j.last_started_at, '-infinity')),
        'open_alerts', (SELECT count(*) FROM hublink.alert a WHERE a.acknowledged_at IS NULL)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.availability_report_job() IS
    'The availability_report job (GSO 80-81): writes the availability and performance figures of '
    'the period since the last report to hublink.availability_report, which queues them for the '
    'channels that want availability events.';
REVOKE ALL ON FUNCTION hublink.availability_report_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('operational_checks', 'hublink.operational_checks()', interval '30 seconds',
     'Operational alerts (NFR 0008): broker unreachable, backlogs, rejections, failing jobs, late '
     'timers, failing alert channels, against hublink.alert_threshold (docs/alerts.md).'),
    ('availability_report', 'hublink.availability_report_job()', interval '15 minutes',
     'Availability and performance figures to hublink.availability_report and the channels that '
     'want them (GSO 80-81, docs/alerts.md).');

-- The worker reports a failed token fetch (bgworker/token.c) once per run of failures; it may
-- not raise alerts of its own choosing, so this names the kind.
CREATE FUNCTION hublink.report_broker_token_failure(p_error text) RETURNS bigint
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.raise_alert('broker_token_failed',
                               'the worker could not obtain a broker access token: ' || left(p_error, 300),
                               NULL, jsonb_build_object('error', left(p_error, 1000),
                                                        'token_url', current_setting('hublink.broker_token_url', true)));
END;
$$;
COMMENT ON FUNCTION hublink.report_broker_token_failure(text) IS
    'For the worker: raises broker_token_failed with the error of a failed token fetch '
    '(docs/worker.md "Access tokens"). Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.report_broker_token_failure(text) FROM PUBLIC;
-- end of sql/parts/83_alert_checks.sql
-- sql/parts/92_alert_access.sql, verbatim (a part wholly new in this version)
-- Access classes of the alert delivery tables (82_alert_delivery.sql, 83_alert_checks.sql):
-- their own parts grant every privilege; security events and logons inside the bodies are for
-- admins only, like the monitoring records themselves.
INSERT INTO hublink.access_table_override VALUES
    ('alert\_delivery', 'own_grants', 'Alert delivery (82_alert_delivery.sql, docs/alerts.md): admins read '
                        'the state; only its triggers and the worker''s functions write it.'),
    ('alert\_channel\_status', 'own_grants', 'Delivery state per channel, for admins (82_alert_delivery.sql).'),
    ('availability\_report', 'own_grants', 'Availability figures for admins and the channels (82_alert_delivery.sql).'),
    ('alert\_header\_binding', 'own_grants', 'The host each header file may go to: the owner writes it, '
                                  'admins read it (82_alert_delivery.sql).');

-- The worker claims, records and sleeps through these (bgworker/alert_delivery.c); its role
-- exists from 90_access.sql on.
GRANT EXECUTE ON FUNCTION hublink.alert_deliveries_claim(integer) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_next() TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.report_broker_token_failure(text) TO hublink_worker;

-- Alerts of no removal (protective monitoring, the worker, the broker; docs/web.md "Alerts"):
-- hublink.alert is removal data, so row-level security shows an admin none of its rows, and
-- these alerts belong to no removal a clearance could open. Admins (the same rule as
-- acknowledge_alert: a member of hublink_admin, the owner or a superuser, as
-- hublink.acting_login(), so the person behind the web login) read them here.
CREATE FUNCTION hublink.monitoring_alerts(open_only boolean DEFAULT true, max_rows integer DEFAULT 200)
    RETURNS TABLE (alert_id bigint, kind text, severity text, subject text, raised_at timestamptz,
                   acknowledged_at timestamptz, acknowledged_by text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT coalesce((SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                            OR pg_catalog.pg_has_role(r.oid, 'hublink_admin', 'USAGE')
                       FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()), false) THEN
        RAISE EXCEPTION 'alerts of no removal are for admins'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Alerts of no removal (protective monitoring, the worker) name roles and systems, not cases.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
    RETURN QUERY
        SELECT a.alert_id, a.kind, a.severity, a.subject, a.raised_at, a.acknowledged_at, a.acknowledged_by
          FROM hublink.alert a
         WHERE a.removal_id IS NULL AND (NOT coalesce(open_only, true) OR a.acknowledged_at IS NULL)
         ORDER BY a.raised_at DESC, a.alert_id DESC
         LIMIT greatest(1, least(coalesce(max_rows, 200), 1000));
END;
$$;
COMMENT ON FUNCTION hublink.monitoring_alerts(boolean, integer) IS
    'The alerts of no removal (protective monitoring, the worker, the broker), newest first, open '
    'ones only unless open_only is false: for admins (hublink.acting_login() a member of '
    'hublink_admin), whom row-level security shows no row of hublink.alert.';
REVOKE ALL ON FUNCTION hublink.monitoring_alerts(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.monitoring_alerts(boolean, integer) TO hublink_admin;
-- end of sql/parts/92_alert_access.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/85_cancellation_risk.sql
-- 0.1.0 -> 0.2.0, issue 17 (the simulation's findings): the lock order of the workflow timers
-- (docs/timers.md "Locks": the removal row before its timers, in every path; the soak's
-- deadlock between cancel_removal and the fire_timers job).

-- hublink.cancel_timers, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_timers(p_removal_id bigint, p_kind text, p_watches text, p_reason text,
                                      p_machine text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    -- Lock order: the removal row before its timers, in every path (docs/timers.md "Locks").
    PERFORM FROM hublink.removal r WHERE r.removal_id = p_removal_id FOR NO KEY UPDATE;
    UPDATE hublink.timer t
       SET status = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = p_reason
     WHERE t.removal_id = p_removal_id AND t.status = 'pending'
       AND (p_kind IS NULL OR t.kind = p_kind)
       AND (p_watches IS NULL OR t.watches = p_watches)
       AND (p_machine IS NULL OR t.machine = p_machine);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_timers(bigint, text, text, text, text) IS
    'Cancels the pending timers of a removal (of a kind, watching a thing, of a machine; NULL: '
    'any) because their cause went away, with the reason. Returns how many.';
-- hublink.start_timer, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.start_timer(p_kind text, p_removal_id bigint, p_machine text, p_watches text,
                                    p_anchor_at timestamptz, p_message_type text DEFAULT NULL,
                                    p_provider text DEFAULT NULL, p_cause_message_id text DEFAULT NULL,
                                    p_detail jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_party text := current_setting('hublink.party', true);
    dest   text;
    rule   hublink.timer_rule;
    id     bigint;
    due    timestamptz;
BEGIN
    IF p_anchor_at IS NULL
       OR NOT EXISTS (SELECT FROM hublink.timer_kind_party k WHERE k.kind = p_kind AND k.party = v_party) THEN
        RETURN NULL;
    END IF;
    -- Lock order: the removal row before its timers (docs/timers.md "Locks").
    SELECT r.destination ->> 'country' INTO dest FROM hublink.removal r WHERE r.removal_id = p_removal_id
       FOR NO KEY UPDATE;
    rule := hublink.timer_rule_for(p_kind, p_message_type, p_provider, dest);
    IF rule.timer_rule_id IS NULL OR NOT rule.enabled THEN
        RETURN NULL;
    END IF;
    due := p_anchor_at + rule.fire_offset;
    -- The same timer again (each quote of a response re-arms quote_expiry): keep the pending one.
    SELECT t.timer_id INTO id FROM hublink.timer t
     WHERE t.kind = p_kind AND t.removal_id = p_removal_id AND t.watches = p_watches AND t.status = 'pending'
       AND t.due_at = due AND t.detail = coalesce(p_detail, '{}') AND t.timer_rule_id = rule.timer_rule_id;
    IF FOUND THEN
        RETURN id;
    END IF;
    PERFORM hublink.cancel_timers(p_removal_id, p_kind, p_watches, 'replaced by a newer timer for the same thing');
    INSERT INTO hublink.timer (kind, party, removal_id, machine, watches, message_type, provider,
                               destination, timer_rule_id, cause_message_id, anchor_at, due_at, detail)
    VALUES (p_kind, v_party, p_removal_id, p_machine, p_watches, p_message_type, p_provider,
            dest, rule.timer_rule_id, p_cause_message_id, p_anchor_at, due, coalesce(p_detail, '{}'))
    RETURNING timer_id INTO id;
    PERFORM hublink.schedule_worker_job('fire_timers', due);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.start_timer(text, bigint, text, text, timestamptz, text, text, text, jsonb) IS
    'Starts a timer of a kind on a removal when this party holds that kind and a rule matches: '
    'due at p_anchor_at plus the rule''s offset; replaces the pending timer of the same kind, '
    'removal and thing watched; brings the worker''s fire_timers job forward to the due time '
    '(woken at commit). Returns the timer_id, NULL when no timer is kept.';
-- hublink.reanchor_timer, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.reanchor_timer(p_timer_id bigint, p_anchor_at timestamptz) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    due timestamptz;
BEGIN
    -- Lock order: the removal row before its timers (docs/timers.md "Locks").
    PERFORM FROM hublink.removal r
      WHERE r.removal_id = (SELECT x.removal_id FROM hublink.timer x WHERE x.timer_id = p_timer_id)
        FOR NO KEY UPDATE;
    UPDATE hublink.timer t
       SET anchor_at = p_anchor_at, due_at = p_anchor_at + r.fire_offset
      FROM hublink.timer_rule r
     WHERE t.timer_id = p_timer_id AND t.status = 'pending' AND r.timer_rule_id = t.timer_rule_id
       AND t.anchor_at IS DISTINCT FROM p_anchor_at
    RETURNING t.due_at INTO due;
    IF due IS NOT NULL THEN
        PERFORM hublink.schedule_worker_job('fire_timers', due);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.reanchor_timer(bigint, timestamptz) IS
    'Moves a pending timer to a new anchor, keeping its rule''s offset (e.g. an SLA re-counted '
    'from the broker''s confirm of the request, a refund deadline after a flight change).';
-- hublink.fire_timer, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.fire_timer(p_timer_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t       hublink.timer;
    k       hublink.timer_kind;
    rule    hublink.timer_rule;
    ref     text;
    still   boolean := true;
    now_    timestamptz;
    v_lateness interval;
    alert   bigint;
    sent    text;
BEGIN
    -- Lock order: the removal row, then the timer, as every path that writes a removal's timers
    -- does (cancel_timers, start_timer, reanchor_timer; the caseworker's and the worker's
    -- transactions update the removal first). Both SKIP LOCKED: the job never waits for a
    -- removal another transaction is changing (it would hold this timer meanwhile, and that
    -- transaction may want it: the deadlock the soak found, docs/timers.md "Locks"); the timer
    -- stays pending and the next run fires it.
    PERFORM FROM hublink.removal r
      WHERE r.removal_id = (SELECT x.removal_id FROM hublink.timer x WHERE x.timer_id = p_timer_id)
        FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO t FROM hublink.timer x WHERE x.timer_id = p_timer_id AND x.status = 'pending'
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO k FROM hublink.timer_kind x WHERE x.kind = t.kind;
    SELECT * INTO rule FROM hublink.timer_rule x WHERE x.timer_rule_id = t.timer_rule_id;
    SELECT r.removal_reference INTO ref FROM hublink.removal r WHERE r.removal_id = t.removal_id;
    IF k.still_due_function IS NOT NULL THEN
        PERFORM hublink.require_stored_function(k.still_due_function, 'hublink.timer_kind.still_due_function', 'call');
        EXECUTE format('SELECT %s($1)', k.still_due_function::regproc) USING t.timer_id INTO still;
    END IF;
    IF NOT coalesce(still, false) THEN
        PERFORM hublink.cancel_timers(t.removal_id, t.kind, t.watches, 'its cause was gone when it was due');
        RETURN false;
    END IF;
    -- Lateness counts from when the timer could first fire: one started already overdue (a
    -- deadline nearer than its warning) is not late, one held up by downtime is.
    now_ := clock_timestamp();
    v_lateness := now_ - greatest(t.due_at, t.created_at);
    alert := hublink.raise_alert(
        k.alert_kind, format(k.subject_template, ref, t.watches), t.removal_id,
        t.detail || jsonb_build_object(
            'timerId', t.timer_id, 'timerKind', t.kind, 'watches', t.watches,
            'causeMessageId', t.cause_message_id, 'anchorAt', t.anchor_at, 'dueAt', t.due_at,
            'firedAt', now_, 'late', v_lateness > k.late_after,
            'latenessSeconds', round(extract(epoch FROM v_lateness)::numeric, 3),
            'timerRuleId', t.timer_rule_id),
        rule.severity, t.due_at);
    UPDATE hublink.timer x
       SET status = 'fired', fired_at = now_, lateness = v_lateness,
           late = v_lateness > k.late_after, alert_id = alert
     WHERE x.timer_id = t.timer_id;
    -- After the timer is marked fired, so a message the action sends (a re-quote) stops the
    -- other timers it concerns, not this one.
    IF rule.action IS NOT NULL THEN
        PERFORM hublink.require_stored_function(rule.action, 'hublink.timer_rule.action', 'call');
        EXECUTE format('SELECT %s($1)', rule.action::regproc) USING t.timer_id INTO sent;
        UPDATE hublink.timer x SET action_message_id = sent WHERE x.timer_id = t.timer_id;
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.fire_timer(bigint) IS
    'Fires one pending timer: cancels it instead when its kind''s still_due_function says its '
    'cause is gone; otherwise raises its alert (hublink.raise_alert: row and NOTIFY '
    'hublink_alert) with its due time and lateness, marks it fired (late when its lateness, '
    'counted from greatest(due_at, created_at), exceeds the kind''s late_after), then runs its '
    'rule''s action. Locks the removal row, then the timer, skipping either when another '
    'transaction holds it (the next run fires it): the lock order of every timer path. True when it fired.';
-- hublink.fire_due_timers, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.fire_due_timers(p_limit integer DEFAULT 500) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id      bigint;
    fired   integer := 0;
    message text;
BEGIN
    FOR id IN SELECT t.timer_id FROM hublink.timer t
               WHERE t.status = 'pending' AND t.due_at <= clock_timestamp()
               ORDER BY t.due_at, t.timer_id
               LIMIT p_limit
    LOOP
        -- Not locked here: fire_timer locks the removal first, then the timer (lock order).
        BEGIN
            IF hublink.fire_timer(id) THEN
                fired := fired + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            RAISE WARNING 'hublink timer % failed to fire: %', id, message
                USING DETAIL = 'Its effects were rolled back; it stays pending and is tried at the next run.',
                      HINT = 'See hublink.timer.last_error.';
            UPDATE hublink.timer t SET attempts = t.attempts + 1, last_error = message WHERE t.timer_id = id;
        END;
    END LOOP;
    RETURN fired;
END;
$$;
COMMENT ON FUNCTION hublink.fire_due_timers(integer) IS
    'Fires the pending timers that are due, oldest due time first (at most p_limit), each in a '
    'subtransaction with its alert and action, skipping timers whose removal or row another '
    'transaction holds. A '
    'timer whose firing fails stays pending and is retried. Returns how many fired.';
-- hublink.timer_job, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.timer_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    next_due timestamptz;
BEGIN
    PERFORM hublink.fire_due_timers();
    SELECT min(t.due_at) INTO next_due FROM hublink.timer t
     WHERE t.status = 'pending' AND (t.attempts = 0 OR t.due_at > clock_timestamp());
    -- Still due now: skipped (its removal was locked) or beyond the batch. Again in a second,
    -- not at once, so a removal held open does not spin the worker.
    RETURN CASE WHEN next_due IS NOT NULL THEN greatest(next_due, clock_timestamp() + interval '1 second') END;
END;
$$;
COMMENT ON FUNCTION hublink.timer_job() IS
    'The worker job fire_timers: fires the due timers and returns when the next one is due '
    '(timers that failed to fire wait for the job''s run_every).';

-- The Hub's per-removal chance of cancellation in the best-value ranking (docs/hub.md "Best
-- value"): the factors, the configuration, the estimate; removal_quotes gains a column.
CREATE TABLE hublink.cancel_factor (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z_]*$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.cancel_factor IS
    'What a caseworker may record about a case that bears on its chance of cancellation (reference data).';
COMMENT ON COLUMN hublink.cancel_factor.code IS 'The factor''s code.';
COMMENT ON COLUMN hublink.cancel_factor.description IS 'What it means, for the caseworker recording it.';
INSERT INTO hublink.cancel_factor VALUES
    ('LEGAL_CHALLENGE_PENDING', 'A judicial review, appeal or injunction application is pending or announced.'),
    ('PRIOR_FAILED_REMOVAL', 'An earlier removal of the returnee was cancelled or failed.'),
    ('MEDICAL_CONCERN', 'A medical or fitness-to-fly concern is recorded and not yet resolved.');

CREATE TABLE hublink.removal_cancel_factor (
    removal_id  bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    factor      text NOT NULL REFERENCES hublink.cancel_factor,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text NOT NULL,
    PRIMARY KEY (removal_id, factor)
);
COMMENT ON TABLE hublink.removal_cancel_factor IS
    'The cancellation factors recorded for a removal (hublink.record_cancel_factors): the case '
    'attributes the Hub''s estimate of its chance of cancellation is made from.';
COMMENT ON COLUMN hublink.removal_cancel_factor.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.removal_cancel_factor.factor IS 'The factor (hublink.cancel_factor).';
COMMENT ON COLUMN hublink.removal_cancel_factor.recorded_at IS 'When it was recorded.';
COMMENT ON COLUMN hublink.removal_cancel_factor.recorded_by IS 'Who recorded it (hublink.acting_login).';

CREATE TABLE hublink.cancel_estimate_config (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    prior_probability    numeric(5,4) NOT NULL CHECK (prior_probability BETWEEN 0 AND 1),
    prior_weight         numeric(8,2) NOT NULL CHECK (prior_weight BETWEEN 0.01 AND 999999.99),
    min_probability      numeric(5,4) NOT NULL CHECK (min_probability >= 0),
    max_probability      numeric(5,4) NOT NULL CHECK (max_probability <= 1),
    provider_probability numeric(5,4) NOT NULL CHECK (provider_probability > 0 AND provider_probability <= 1),
    CHECK (min_probability <= max_probability)
);
COMMENT ON TABLE hublink.cancel_estimate_config IS
    'How the Hub estimates a removal''s chance of cancellation after booking (one row; docs/hub.md "Best value").';
COMMENT ON COLUMN hublink.cancel_estimate_config.only_row IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.cancel_estimate_config.prior_probability IS
    'The rate assumed with no history (the published 40 %; also the TSP''s constant, so that with '
    'no history the ranking is the TSP''s).';
COMMENT ON COLUMN hublink.cancel_estimate_config.prior_weight IS
    'How many closed removals the prior counts as: a rate from fewer removals than this is pulled '
    'toward the prior (the global rate toward prior_probability, a profile''s rate toward the global).';
COMMENT ON COLUMN hublink.cancel_estimate_config.min_probability IS 'The estimate is never below this.';
COMMENT ON COLUMN hublink.cancel_estimate_config.max_probability IS 'The estimate is never above this.';
COMMENT ON COLUMN hublink.cancel_estimate_config.provider_probability IS
    'The probability the TSP prices its expectedCost with (its conditions notes state it: "price + P x '
    'loss"): the Hub recovers the quote''s loss on cancellation as (expectedCost - total) / P.';
INSERT INTO hublink.cancel_estimate_config
    (prior_probability, prior_weight, min_probability, max_probability, provider_probability)
VALUES (0.4, 20, 0.05, 0.95, 0.4);
GRANT SELECT, UPDATE ON hublink.cancel_estimate_config TO hublink_admin;

CREATE TABLE hublink.cancel_history_count (
    profile   text[] PRIMARY KEY,
    booked    bigint NOT NULL CHECK (booked >= 0),
    cancelled bigint NOT NULL CHECK (cancelled >= 0 AND cancelled <= booked)
);
COMMENT ON TABLE hublink.cancel_history_count IS
    'The Hub''s history for the cancellation estimate: per profile (the sorted factors recorded '
    'when the removal closed), the closed removals whose travel booking had been accepted, and how '
    'many of them were cancelled. Kept by the trigger cancel_history_on_close.';
COMMENT ON COLUMN hublink.cancel_history_count.profile IS 'The sorted hublink.cancel_factor codes recorded; {} for none.';
COMMENT ON COLUMN hublink.cancel_history_count.booked IS 'Closed removals of the profile whose travel was booked, or whose booking was held (hublink.booking_hold).';
COMMENT ON COLUMN hublink.cancel_history_count.cancelled IS 'Of them, cancelled (after booking, or while held).';
-- hublink.cancel_history_on_close, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_history_on_close() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prof text[];
    lead numeric;
    band numeric;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub'
       OR (NOT EXISTS (SELECT FROM hublink.travel_booking k
                        WHERE k.removal_id = NEW.removal_id AND k.outcome = 'ACCEPTED')
           AND NOT EXISTS (SELECT FROM hublink.booking_hold b WHERE b.removal_id = NEW.removal_id)) THEN
        RETURN NULL;
    END IF;
    prof := coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                       WHERE f.removal_id = NEW.removal_id), '{}');
    INSERT INTO hublink.cancel_history_count AS h (profile, booked, cancelled)
    VALUES (prof, 1, (NEW.state = 'cancelled')::int)
    ON CONFLICT (profile) DO UPDATE SET booked = h.booked + 1, cancelled = h.cancelled + excluded.cancelled;
    IF NEW.state = 'cancelled' THEN
        -- How long before its first departure it was cancelled, in the market's bands. Sooner
        -- than every band (e.g. after departure, or the admin kept no band below 72 h): 0, so a
        -- late cancellation is never counted as an early one whatever bands the market has
        -- (the history is owner-only: nobody could correct it). No band at all, no count.
        lead := extract(epoch FROM hublink.removal_first_departure(NEW.removal_id) - now()) / 3600;
        SELECT CASE WHEN count(*) > 0 THEN coalesce(max(m.hours_before) FILTER (WHERE m.hours_before <= lead), 0) END
          INTO band FROM hublink.booking_market m;
        IF band IS NOT NULL THEN
            INSERT INTO hublink.cancel_history_lead AS l (profile, hours_before, cancelled)
            VALUES (prof, band, 1)
            ON CONFLICT (profile, hours_before) DO UPDATE SET cancelled = l.cancelled + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_history_on_close() IS
    'Trigger on hublink.removal at the Hub: a removal that reaches completed or cancelled after its '
    'travel booking was accepted, or after the Hub advised holding its booking (hublink.booking_hold), '
    'counts once in hublink.cancel_history_count under its profile; a cancelled one also counts in '
    'hublink.cancel_history_lead, in the band of how long before its first departure '
    '(hublink.removal_first_departure) it was cancelled (sooner than every band: 0).';
REVOKE ALL ON FUNCTION hublink.cancel_history_on_close() FROM PUBLIC;
-- hublink.removal.cancel_history_on_close, as defined in sql/parts
CREATE TRIGGER cancel_history_on_close AFTER UPDATE OF state ON hublink.removal
    FOR EACH ROW WHEN (NEW.state IN ('completed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION hublink.cancel_history_on_close();
COMMENT ON TRIGGER cancel_history_on_close ON hublink.removal IS
    'Counts a closed, booked removal in hublink.cancel_history_count (the cancellation estimate''s history).';
-- The history a 0.1.0 Hub already has: its closed removals whose travel was booked (no factor
-- was recorded before 0.2.0: all under the empty profile).
INSERT INTO hublink.cancel_history_count (profile, booked, cancelled)
SELECT '{}', count(*), count(*) FILTER (WHERE r.state = 'cancelled')
  FROM hublink.removal r
 WHERE current_setting('hublink.party', true) = 'hub' AND r.state IN ('completed', 'cancelled')
   AND EXISTS (SELECT FROM hublink.travel_booking k WHERE k.removal_id = r.removal_id AND k.outcome = 'ACCEPTED')
HAVING count(*) > 0;
-- hublink.cancel_history, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_history()
    RETURNS TABLE (profile text[], booked bigint, cancelled bigint)
    LANGUAGE sql STABLE SECURITY DEFINER ROWS 8
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        SELECT h.profile, h.booked, h.cancelled FROM hublink.cancel_history_count h;
    END;
COMMENT ON FUNCTION hublink.cancel_history() IS
    'The Hub''s history for the cancellation estimate (hublink.cancel_history_count): per profile, '
    'the closed removals whose travel was booked and how many were cancelled. Aggregates only; '
    'SECURITY DEFINER so the estimate is the same whoever ranks.';
-- hublink.removal_cancel_probability, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_cancel_probability(p_removal_id bigint) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT * FROM hublink.cancel_estimate_config),
        mine AS (SELECT coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                                   WHERE f.removal_id = p_removal_id), '{}') AS profile),
        hist AS (SELECT * FROM hublink.cancel_history()),
        g AS (SELECT (coalesce(sum(h.cancelled), 0) + cfg.prior_weight * cfg.prior_probability)
                     / (coalesce(sum(h.booked), 0) + cfg.prior_weight) AS p
                FROM cfg LEFT JOIN hist h ON true GROUP BY cfg.prior_weight, cfg.prior_probability),
        s AS (SELECT coalesce(sum(h.booked), 0) AS n, coalesce(sum(h.cancelled), 0) AS c
                FROM mine LEFT JOIN hist h ON h.profile = mine.profile)
        SELECT round(least(cfg.max_probability, greatest(cfg.min_probability,
                     (s.c + cfg.prior_weight * g.p) / (s.n + cfg.prior_weight))), 4)
          FROM cfg, g, s;
    END;
COMMENT ON FUNCTION hublink.removal_cancel_probability(bigint) IS
    'The Hub''s estimate of the chance that a removal is cancelled after booking: of the closed '
    'booked removals with the same recorded factors (hublink.cancel_history), c cancelled of n, '
    '(c + w x G) / (n + w), where G = (C + w x prior) / (N + w) over all N of them, w = '
    'prior_weight; bounded by min_probability and max_probability (hublink.cancel_estimate_config), '
    'rounded to 4 places. The removal itself counts once it is closed.';
-- hublink.record_cancel_factors, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.record_cancel_factors(removal_reference text, factors text[])
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r   hublink.removal;
    bad text[];
    n   integer;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT array_agg(x) INTO bad FROM unnest(factors) x
     WHERE x IS NULL OR NOT EXISTS (SELECT FROM hublink.cancel_factor f WHERE f.code = x);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown cancellation factor %', array_to_string(bad, ', ', 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nothing was recorded.',
                  HINT = 'SELECT code, description FROM hublink.cancel_factor lists the factors.';
    END IF;
    INSERT INTO hublink.removal_cancel_factor (removal_id, factor, recorded_by)
    SELECT DISTINCT r.removal_id, x, hublink.acting_login() FROM unnest(factors) x
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.record_cancel_factors(text, text[]) IS
    'Records cancellation factors of a removal (hublink.cancel_factor codes; already recorded ones '
    'are kept as they were). Returns how many were new. The caseworker records facts of the case, '
    'never the estimate: hublink.removal_cancel_probability makes it from the history.';
REVOKE ALL ON FUNCTION hublink.cancel_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_history() TO hublink_caseworker, hublink_admin;
REVOKE ALL ON FUNCTION hublink.record_cancel_factors(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.record_cancel_factors(text, text[]) TO hublink_caseworker;
-- removal_quotes gains cancel_probability: a new result type. timer_quote_still_due (72) calls
-- it in its body: dropped first and made again, and the timer kind that names it (by oid)
-- pointed at the new one.
DROP FUNCTION hublink.timer_quote_still_due(bigint);
DROP FUNCTION hublink.removal_quotes(text);
-- hublink.removal_quotes, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_quotes(removal_reference text)
    RETURNS TABLE (rank bigint, travel_quote_reference text, escort_quote_reference text,
                   escort_date date, departs_at timestamptz, travel_amount numeric,
                   escort_amount numeric, total_amount numeric, expected_total numeric,
                   currency char(3), refundable boolean, expires_at timestamptz,
                   cancel_probability numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    -- No JIT: the estimate's functions lift the plan's cost estimate over jit_above_cost, and
    -- compiling it took 2 to 3 s per call on a busy machine (the simulation's worker stalled
    -- on it); the query itself takes milliseconds.
    SET jit = off
    BEGIN ATOMIC
        -- Best value is the expected cost (issue 5), re-priced with the Hub's own estimate of
        -- this removal's chance of cancellation (issue 17, hublink.removal_cancel_probability):
        -- the TSP's expected cost is price + P_tsp x loss, so the loss is (expected - price) /
        -- P_tsp (cancel_estimate_config.provider_probability) and the Hub's expected cost is
        -- price + P_removal x loss; a quote without an expected cost counts its price. The
        -- estimate is computed once per call, not once per quote: a MATERIALIZED CTE. As a
        -- subquery in FROM the planner pulled it up, and the function call went into every
        -- expression that used it (twice per quote), or, fenced, was rescanned per quote; with
        -- 40 quotes that was 80 estimates, most of a ranking's time.
        WITH p AS MATERIALIZED (
            SELECT hublink.removal_cancel_probability(
                       (SELECT x.removal_id FROM hublink.removal x
                         WHERE x.removal_reference = removal_quotes.removal_reference)) AS p,
                   c.provider_probability AS p_tsp
              FROM hublink.cancel_estimate_config c)
        SELECT rank() OVER (ORDER BY coalesce(round(t.total_amount + p.p * greatest(t.expected_amount - t.total_amount, 0)
                                                                    / p.p_tsp, 2), t.total_amount)
                                     + coalesce(e.total_amount, 0),
                                     (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                                       WHERE s.travel_quote_id = t.travel_quote_id)),
               t.travel_quote_reference, t.escort_quote_reference, e.escort_date,
               (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                 WHERE s.travel_quote_id = t.travel_quote_id AND s.current),
               t.total_amount, e.total_amount, t.total_amount + coalesce(e.total_amount, 0),
               coalesce(round(t.total_amount + p.p * greatest(t.expected_amount - t.total_amount, 0) / p.p_tsp, 2),
                        t.total_amount) + coalesce(e.total_amount, 0), t.currency,
               t.refundable, t.expires_at, p.p
          FROM hublink.removal r
          JOIN hublink.travel_quote t ON t.removal_id = r.removal_id AND NOT t.superseded
          LEFT JOIN hublink.escort_quote e ON e.removal_id = r.removal_id
                                          AND e.escort_quote_reference = t.escort_quote_reference
         CROSS JOIN p
         WHERE r.removal_reference = removal_quotes.removal_reference
           AND (t.expires_at IS NULL OR t.expires_at > now())
           -- 4.18: a quote asked for before the latest risk assessment was priced on another
           -- risk profile (escorts, flags the provider saw): re-quote (Appendix A 4.5).
           AND NOT EXISTS (
                SELECT FROM hublink.returnee x
                  JOIN hublink.risk_assessment a ON a.returnee_id = x.returnee_id AND a.audience = 'hub' AND a.current
                 WHERE x.removal_id = r.removal_id
                   AND (a.assessed_at > (SELECT max(h.at) FROM hublink.state_transition h
                                          WHERE h.removal_id = r.removal_id AND h.event = 'TravelQuoteRequest')
                        OR (t.escort_quote_reference IS NOT NULL
                            AND a.assessed_at > (SELECT max(h.at) FROM hublink.state_transition h
                                                  WHERE h.removal_id = r.removal_id AND h.event = 'EscortQuoteRequest'))))
           AND (t.escort_quote_reference IS NULL OR NOT e.superseded)
           AND (e.currency IS NULL OR e.currency = t.currency)
         ORDER BY 1, 2;
    END;
COMMENT ON FUNCTION hublink.removal_quotes(text) IS
    'The quotes that can be booked, travel quotes joined to their escort quote, ranked by best '
    'value: lowest expected total (the travel price plus the Hub''s estimate of this removal''s '
    'chance of cancellation, cancel_probability from hublink.removal_cancel_probability, times '
    'the quote''s loss on cancellation as the TSP''s expected cost states it; a quote without one '
    'counts its price; plus the escort quote), then earliest departure. Superseded and expired '
    'quotes are left out, and so are quotes asked for before the latest risk assessment of a '
    'returnee (hublink.set_risk, 4.18: re-quote).';
-- hublink.timer_quote_still_due, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.timer_quote_still_due(p_timer_id bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT EXISTS (SELECT FROM hublink.timer t
                         JOIN hublink.travel_quote q ON q.removal_id = t.removal_id
                                                    AND q.travel_quote_reference = t.detail ->> 'travelQuoteReference'
                        WHERE t.timer_id = p_timer_id AND NOT q.superseded
                          AND NOT EXISTS (SELECT FROM hublink.travel_booking k
                                           WHERE k.removal_id = t.removal_id AND k.requested_at >= t.created_at)
                          -- still bookable (not asked for before a risk change, 4.18), unless
                          -- it lapsed already: a late check still warns of that.
                          AND (q.expires_at <= now()
                               OR EXISTS (SELECT FROM hublink.removal r CROSS JOIN LATERAL hublink.removal_quotes(r.removal_reference) x
                                           WHERE r.removal_id = t.removal_id AND x.travel_quote_reference = q.travel_quote_reference)));
    END;
COMMENT ON FUNCTION hublink.timer_quote_still_due(bigint) IS
    'still_due_function of quote_expiry: the quote watched is not superseded, can still be '
    'booked (hublink.removal_quotes: not asked for before a risk change) unless it lapsed '
    'already, and no travel booking was requested since the timer started.';
UPDATE hublink.timer_kind SET still_due_function = 'hublink.timer_quote_still_due(bigint)'::regprocedure
 WHERE kind = 'quote_expiry';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/86_burst_batch.sql
-- 0.2.0: the cost of a burst, sixth pass (issue 15 section 3; docs/performance.md "Sixth pass").

-- The worker's publishing fetch opens a batch of replies with one decrypt audit row naming
-- every message, where hublink.open_message wrote one row per reply.
-- hublink.open_outbox, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.open_outbox(p_after bigint, p_limit integer)
    RETURNS TABLE (id bigint, queue text, message_id text, message_type text, document text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       record;
    -- arrays appended in place (PL/pgSQL expands them), where a jsonb array grown row by row
    -- would be copied whole at every row of a batch of hundreds
    scopes  text[] := '{}';
    ids     text[] := '{}';
    types   text[] := '{}';
BEGIN
    -- One audit row names every body opened: the batch is bounded, so the row is too (the
    -- worker asks for at most 500, OUTBOX_FETCH_MAX in bgworker/worker_main.c).
    IF p_after IS NULL OR p_limit IS NULL OR p_limit NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'open_outbox takes an id and a limit from 0 to 1000, not % and %',
                        coalesce(p_after::text, 'NULL'), coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Its one decrypt audit row names every message it opens.',
                  HINT = 'Fetch in batches of at most 1000, from the last id read.';
    END IF;
    FOR r IN SELECT o.id, o.queue, o.message_id, o.message_type, o.message, o.key_scope, o.sealed_body
               FROM hublink.outbox o
              WHERE o.sent_at IS NULL AND o.id > p_after
              ORDER BY o.id LIMIT p_limit
    LOOP
        id := r.id;
        queue := r.queue;
        message_id := r.message_id;
        message_type := r.message_type;
        IF r.sealed_body IS NULL THEN
            document := r.message::text;
        ELSE
            document := (r.message || pg_catalog.jsonb_build_object('body', hublink.unseal(r.key_scope, r.sealed_body)))::text;
            scopes := scopes || r.key_scope;
            ids := ids || (r.message ->> 'messageId');
            types := types || (r.message ->> 'messageType');
        END IF;
        RETURN NEXT;
    END LOOP;
    IF pg_catalog.cardinality(ids) > 0 THEN
        -- Written in the transaction that decrypted: the rows are handed out only if it commits
        -- (the worker publishes after its commit), and an abort takes both away.
        PERFORM hublink.audit_note('decrypt',
            CASE WHEN scopes[1] = ALL (scopes)
                 THEN (SELECT x.removal_id FROM hublink.removal x WHERE x.removal_reference = scopes[1]) END,
            pg_catalog.jsonb_build_object('function', 'hublink.open_outbox',
                'count', pg_catalog.cardinality(ids),
                'messages', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                        'key_scope', m.key_scope, 'message_id', m.message_id,
                                        'message_type', m.message_type) ORDER BY m.n)
                               FROM ROWS FROM (pg_catalog.unnest(scopes), pg_catalog.unnest(ids),
                                               pg_catalog.unnest(types)) WITH ORDINALITY
                                    AS m (key_scope, message_id, message_type, n))));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.open_outbox(bigint, integer) IS
    'The worker''s publishing fetch: up to p_limit (at most 1000) unsent outbox rows with id > p_after, in id '
    'order, each as its whole message text (body decrypted). Writes one decrypt audit row per '
    'call naming every message whose body it opened (key scope, messageId, type) and the login. '
    'Revoked from PUBLIC; hublink_worker.';
GRANT EXECUTE ON FUNCTION hublink.open_outbox(bigint, integer) TO hublink_worker;

-- The outbox's seal trigger fires on an update only when it names message, key_scope or
-- sealed_body: the worker's SET sent_at on every reply no longer calls it.
DROP TRIGGER seal_message_body ON hublink.outbox;
-- hublink.outbox.seal_message_body, as defined in sql/parts
CREATE TRIGGER seal_message_body BEFORE INSERT OR UPDATE OF message, key_scope, sealed_body ON hublink.outbox
    FOR EACH ROW EXECUTE FUNCTION hublink.seal_message_body();

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/87_booking_choice_and_timing.sql
-- 0.1.0 -> 0.2.0, issue 17 (the simulation, third pass; docs/simulation.md): the TSP offers the
-- cheapest and the best refundable itinerary of each date beside its ranking (offer_choice),
-- and the Hub advises when to book a removal likely to be cancelled (hublink.plan_booking,
-- hublink.booking_hold), counting held removals in the estimate's history.

-- The TSP: a new setting, and the quote that reads it.
INSERT INTO hublink.tsp_config VALUES
    ('offer_choice', 'true', 'true: also offer, per date, the cheapest and the best refundable itinerary when they are not among the quotes_per_date best (the buyer weighs refundability with its own chance of cancellation).')
ON CONFLICT (key) DO NOTHING;
-- hublink.tsp_quote: defined once, at the mention that needs it (docs/upgrades.md)

-- The Hub: when to book. The columns are added without a default and filled, then given their
-- default and NOT NULL, so that the table is as a fresh install makes it (an ADD COLUMN with a
-- default leaves a "missing value" in the catalog that a fresh CREATE TABLE has not).
ALTER TABLE hublink.cancel_estimate_config
    ADD COLUMN hold_from_probability numeric(5,4) CHECK (hold_from_probability BETWEEN 0 AND 1),
    ADD COLUMN hold_hours_before numeric(6,2) CHECK (hold_hours_before BETWEEN 0.01 AND 9999.99);
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0.5, hold_hours_before = 72;
ALTER TABLE hublink.cancel_estimate_config
    ALTER COLUMN hold_from_probability SET DEFAULT 0.5,
    ALTER COLUMN hold_from_probability SET NOT NULL,
    ALTER COLUMN hold_hours_before SET DEFAULT 72,
    ALTER COLUMN hold_hours_before SET NOT NULL;
-- Its body (SELECT * FROM the configuration) was bound to the columns of its time: made again.
-- hublink.removal_cancel_probability, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_cancel_probability(p_removal_id bigint) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT * FROM hublink.cancel_estimate_config),
        mine AS (SELECT coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                                   WHERE f.removal_id = p_removal_id), '{}') AS profile),
        hist AS (SELECT * FROM hublink.cancel_history()),
        g AS (SELECT (coalesce(sum(h.cancelled), 0) + cfg.prior_weight * cfg.prior_probability)
                     / (coalesce(sum(h.booked), 0) + cfg.prior_weight) AS p
                FROM cfg LEFT JOIN hist h ON true GROUP BY cfg.prior_weight, cfg.prior_probability),
        s AS (SELECT coalesce(sum(h.booked), 0) AS n, coalesce(sum(h.cancelled), 0) AS c
                FROM mine LEFT JOIN hist h ON h.profile = mine.profile)
        SELECT round(least(cfg.max_probability, greatest(cfg.min_probability,
                     (s.c + cfg.prior_weight * g.p) / (s.n + cfg.prior_weight))), 4)
          FROM cfg, g, s;
    END;
COMMENT ON FUNCTION hublink.removal_cancel_probability(bigint) IS
    'The Hub''s estimate of the chance that a removal is cancelled after booking: of the closed '
    'booked removals with the same recorded factors (hublink.cancel_history), c cancelled of n, '
    '(c + w x G) / (n + w), where G = (C + w x prior) / (N + w) over all N of them, w = '
    'prior_weight; bounded by min_probability and max_probability (hublink.cancel_estimate_config), '
    'rounded to 4 places. The removal itself counts once it is closed.';
COMMENT ON COLUMN hublink.cancel_estimate_config.hold_from_probability IS
    'hublink.plan_booking considers holding the booking of a removal only when its estimate is at '
    'least this (default 0: whenever holding costs less in expectation than booking now).';
COMMENT ON COLUMN hublink.cancel_estimate_config.hold_hours_before IS
    'How long before its first departure a held removal is booked, in hours (default 72: after the '
    'refundable fares'' 48-hour ticketing deadline and the escort provider''s 48 hours'' notice, '
    'before the refund rules'' 72-hour band).';
CREATE TABLE hublink.booking_hold (
    removal_id         bigint PRIMARY KEY REFERENCES hublink.removal ON DELETE CASCADE,
    cancel_probability numeric(5,4) NOT NULL,
    book_from          timestamptz NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    decided_by         text NOT NULL
);
COMMENT ON TABLE hublink.booking_hold IS
    'Removals whose booking hublink.plan_booking advised holding: the estimate it saw and when to '
    'book (the latest advice per removal).';
COMMENT ON COLUMN hublink.booking_hold.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.booking_hold.cancel_probability IS 'The estimate the advice was made with (hublink.removal_cancel_probability).';
COMMENT ON COLUMN hublink.booking_hold.book_from IS 'When to book: hold_hours_before the first departure quoted.';
COMMENT ON COLUMN hublink.booking_hold.decided_at IS 'When the advice was given.';
COMMENT ON COLUMN hublink.booking_hold.decided_by IS 'Who asked (hublink.acting_login).';
COMMENT ON COLUMN hublink.cancel_history_count.booked IS 'Closed removals of the profile whose travel was booked, or whose booking was held (hublink.booking_hold).';
COMMENT ON COLUMN hublink.cancel_history_count.cancelled IS 'Of them, cancelled (after booking, or while held).';
-- hublink.cancel_history_on_close: defined once, at the mention that needs it (docs/upgrades.md)
-- hublink.plan_booking, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.plan_booking(removal_reference text)
    RETURNS TABLE (cancel_probability numeric, hold boolean, book_from timestamptz,
                   travel_quote_reference text, cancel_after_now numeric, cancel_before_hold numeric,
                   expected_now numeric, expected_hold numeric)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    r       hublink.removal;
    cfg     hublink.cancel_estimate_config;
    prof    text[];
    p       numeric;
    dep     timestamptz;
    lead    numeric;
    s_now   numeric;
    s_hold  numeric;
    p_now   numeric;
    p_early numeric;
    p_late  numeric;
    f_now   numeric;
    f_hold  numeric;
    gone    numeric;
    rise    numeric;
    q_now   text;
    q_hold  text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO cfg FROM hublink.cancel_estimate_config;
    p := hublink.removal_cancel_probability(r.removal_id);
    prof := coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                       WHERE f.removal_id = r.removal_id), '{}');
    -- The first departure the removal can book: its earliest quoted departure still ahead, else
    -- the start of its earliest leave date (UK).
    SELECT min(q.departs_at) INTO dep FROM hublink.removal_quotes(removal_reference) q WHERE q.departs_at > now();
    dep := coalesce(dep, r.earliest_leave_date::timestamp AT TIME ZONE 'Europe/London');
    lead := extract(epoch FROM dep - now()) / 3600;
    s_now := hublink.cancel_lead_share(prof, lead);
    s_hold := greatest(hublink.cancel_lead_share(prof, cfg.hold_hours_before), s_now);
    -- Conditioned on not being cancelled yet: P (1 - s) / (1 - P s). Both P and s are rounded to
    -- 4 places, so 1 - P s can be 0 (an admin's max_probability of 1 and a history of early
    -- cancellations only): then the history says nothing about a removal still open, and the
    -- estimate is taken as it stands, with nothing known of when.
    IF 1 - p * s_now > 0 THEN
        p_now := round(p * (1 - s_now) / (1 - p * s_now), 4);
        p_early := CASE WHEN lead > cfg.hold_hours_before
                        THEN least(p_now, round(p * (s_hold - s_now) / (1 - p * s_now), 4)) ELSE 0.0000 END;
    ELSE
        p_now := p;
        p_early := 0.0000;
    END IF;
    p_late := p_now - p_early;
    -- The market now and at the hold's end.
    SELECT m.fare_factor INTO f_now FROM hublink.booking_market_at(lead) m;
    SELECT m.fare_factor, m.sold_out INTO f_hold, gone FROM hublink.booking_market_at(cfg.hold_hours_before) m;
    rise := f_hold / f_now;
    cancel_probability := p;
    cancel_after_now := p_now;
    cancel_before_hold := p_early;
    -- Each choice's best quote on the first date with a flight ahead (UK): the advice chooses the
    -- fare and the moment, not the day. E_now and E_hold as above (ties: the ranking's order).
    WITH q AS (
        SELECT x.rank, x.travel_quote_reference AS ref, x.travel_amount AS price, coalesce(x.escort_amount, 0) AS escort,
               x.travel_amount - least(x.travel_amount,
                   coalesce(greatest(t.expected_amount - t.total_amount, 0) / cfg.provider_probability, x.travel_amount)) AS refund
          FROM hublink.removal_quotes(removal_reference) x
          JOIN hublink.travel_quote t ON t.removal_id = r.removal_id AND t.travel_quote_reference = x.travel_quote_reference
         WHERE x.departs_at > now()
           AND (x.departs_at AT TIME ZONE 'Europe/London')::date = (dep AT TIME ZONE 'Europe/London')::date)
    SELECT (SELECT round(q.price + q.escort - p_now * q.refund, 2) AS e FROM q ORDER BY 1, q.rank LIMIT 1),
           (SELECT q.ref FROM q ORDER BY round(q.price + q.escort - p_now * q.refund, 2), q.rank LIMIT 1),
           (SELECT round((1 - p_early) * (rise * q.price + q.escort) - p_late * rise * q.refund, 2) FROM q
             ORDER BY 1, q.rank LIMIT 1),
           (SELECT q.ref FROM q ORDER BY round((1 - p_early) * (rise * q.price + q.escort) - p_late * rise * q.refund, 2), q.rank LIMIT 1)
      INTO expected_now, q_now, expected_hold, q_hold;
    IF NOT (lead > cfg.hold_hours_before AND gone <= cfg.max_sold_out AND p >= cfg.hold_from_probability) THEN
        expected_hold := NULL;
    END IF;
    hold := coalesce(expected_hold < expected_now, false);
    book_from := dep - make_interval(secs => cfg.hold_hours_before * 3600);
    travel_quote_reference := CASE WHEN hold THEN q_hold ELSE q_now END;
    IF hold THEN
        INSERT INTO hublink.booking_hold AS b (removal_id, cancel_probability, book_from, decided_by)
        VALUES (r.removal_id, p, book_from, hublink.acting_login())
        ON CONFLICT (removal_id) DO UPDATE
           SET cancel_probability = excluded.cancel_probability, book_from = excluded.book_from,
               decided_at = excluded.decided_at, decided_by = excluded.decided_by;
    ELSE
        book_from := least(book_from, now());
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.plan_booking(text) IS
    'What and when to book a removal: the expected money out of booking each bookable quote now '
    '(expected_now, the best of them) and of holding until hold_hours_before its first departure '
    'and booking then (expected_hold: the fare scaled by hublink.booking_market, nothing spent when '
    'the removal is cancelled before), with the Hub''s estimate (cancel_probability), conditioned '
    'on the time left (cancel_after_now; cancel_before_hold: cancelled before the hold ends) by '
    'hublink.cancel_lead_share. hold is true when holding costs less, the first departure is more '
    'than hold_hours_before away, the chance of a sold-out flight then is within max_sold_out and '
    'the estimate is at least hold_from_probability (hublink.cancel_estimate_config); the hold is '
    'recorded in hublink.booking_hold. travel_quote_reference is the quote to book (now, or the '
    'flight to ask for again at book_from). expected_hold is NULL when holding is not possible. '
    'Only quotes of the first date with a flight ahead (UK) are weighed. Advice only: choose_quote '
    'is not blocked.';
REVOKE ALL ON FUNCTION hublink.plan_booking(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.plan_booking(text) TO hublink_caseworker;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/88_soak_findings.sql
-- 0.1.0 -> 0.2.0, issue 17 (the soak; docs/simulation.md "Soak"), two things it found.
--
-- 1. The purge of a removal's
-- retention class `removal` also deletes a provider engine's own rows of it (the TSP's quotes,
-- bookings, tickets, passengers, refunds and updates; the ESP's plans, quotes, bookings, duties
-- and updates), keyed by the removal's reference and cascading from nothing: before, they were
-- kept for ever. Same signature and result type (jsonb, with two more counts).
-- hublink.purge_removal: defined once, at the mention that needs it (docs/upgrades.md)

-- 2. Every segment of a travel quote by an index: the ranking's tie-break (removal_quotes) and
-- the cascade from travel_quote scanned the whole itinerary_segment table once per quote.
CREATE INDEX itinerary_segment_travel_quote ON hublink.itinerary_segment (travel_quote_id);
COMMENT ON INDEX hublink.itinerary_segment_travel_quote IS
    'Every segment of a quote, current or not (the ranking''s tie-break, the cascade from travel_quote).';

-- from sql/updates/0.1.0--0.2.0/89_booking_advice.sql
-- 0.1.0 -> 0.2.0, issue 17 (the simulation, fourth pass; docs/hub.md "When to book"): the Hub
-- weighs booking now against holding with the fare rise and sell-out it expects
-- (hublink.booking_market) and with how long before departure its profiles' cancellations come
-- (hublink.cancel_history_lead); ESCORTED is a cancellation factor.

INSERT INTO hublink.cancel_factor VALUES
    ('ESCORTED', 'The returnee travels escorted (a risk flag is set).')
ON CONFLICT (code) DO NOTHING;

-- The hold is now decided by expected cost; hold_from_probability stays as the admin's floor
-- (0: none). 0.1.0 had no such column (part 87 added it), so no admin's value is overwritten.
ALTER TABLE hublink.cancel_estimate_config ALTER COLUMN hold_from_probability SET DEFAULT 0;
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0;
-- Added without a default and filled, then given its default and NOT NULL, so that the table is
-- as a fresh install makes it (part 87 explains).
ALTER TABLE hublink.cancel_estimate_config
    ADD COLUMN max_sold_out numeric(5,4) CHECK (max_sold_out BETWEEN 0 AND 1);
UPDATE hublink.cancel_estimate_config SET max_sold_out = 0.05;
ALTER TABLE hublink.cancel_estimate_config
    ALTER COLUMN max_sold_out SET DEFAULT 0.05,
    ALTER COLUMN max_sold_out SET NOT NULL;
COMMENT ON COLUMN hublink.cancel_estimate_config.hold_from_probability IS
    'hublink.plan_booking considers holding the booking of a removal only when its estimate is at '
    'least this (default 0: whenever holding costs less in expectation than booking now).';
COMMENT ON COLUMN hublink.cancel_estimate_config.max_sold_out IS
    'hublink.plan_booking never advises holding when the chance that the flight has no seat left '
    'hold_hours_before departure (hublink.booking_market.sold_out) is above this (default 0.05): '
    'a missed date is not a price.';

-- hublink.booking_market, as defined in sql/parts
CREATE TABLE hublink.booking_market (
    hours_before numeric(6,2) PRIMARY KEY CHECK (hours_before BETWEEN 0 AND 9999.99),
    fare_factor  numeric(6,4) NOT NULL CHECK (fare_factor BETWEEN 0.0001 AND 99.9999),
    sold_out     numeric(5,4) NOT NULL CHECK (sold_out BETWEEN 0 AND 1)
);
COMMENT ON TABLE hublink.booking_market IS
    'The fares and seats the Hub expects by how long before departure it books (reference data, '
    'admin-kept): a booking made h hours before departure falls in the band with the largest '
    'hours_before not above h (below every band: the lowest band).';
COMMENT ON COLUMN hublink.booking_market.hours_before IS 'The band''s lower bound, in hours before the first departure.';
COMMENT ON COLUMN hublink.booking_market.fare_factor IS
    'The fare of a booking made in this band relative to one made in the earliest band: prices '
    'quoted now are scaled by fare_factor(then) / fare_factor(now).';
COMMENT ON COLUMN hublink.booking_market.sold_out IS
    'The chance that the flight a removal would book has no seat left when booked in this band.';
INSERT INTO hublink.booking_market (hours_before, fare_factor, sold_out) VALUES
    (0, 1.8000, 0.1500), (24, 1.4500, 0.0800), (72, 1.2500, 0.0300), (168, 1.1000, 0.0000),
    (336, 1.0000, 0.0000);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.booking_market TO hublink_admin;

-- The lead history starts empty on an upgraded Hub: the cancellation's time was not kept
-- against the first departure before (cancellation.cancelled_at is, but the departure of a
-- removal closed long ago may be purged); until it fills, holding is never advised on
-- evidence the Hub does not have (hublink.cancel_lead_share shrinks toward 0).
-- hublink.cancel_history_lead, as defined in sql/parts
CREATE TABLE hublink.cancel_history_lead (
    profile      text[] NOT NULL,
    hours_before numeric(6,2) NOT NULL CHECK (hours_before >= 0),
    cancelled    bigint NOT NULL CHECK (cancelled >= 0),
    PRIMARY KEY (profile, hours_before)
);
COMMENT ON TABLE hublink.cancel_history_lead IS
    'The Hub''s history of how long before the first departure its closed removals were cancelled: '
    'per profile and band (hublink.booking_market.hours_before at the time), how many. Kept by the '
    'trigger cancel_history_on_close.';
COMMENT ON COLUMN hublink.cancel_history_lead.profile IS 'The sorted hublink.cancel_factor codes recorded; {} for none.';
COMMENT ON COLUMN hublink.cancel_history_lead.hours_before IS 'The band: the cancellation came at least this many hours before the first departure.';
COMMENT ON COLUMN hublink.cancel_history_lead.cancelled IS 'How many.';

-- hublink.removal_first_departure, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_first_departure(p_removal_id bigint) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        SELECT coalesce(
            (SELECT (SELECT min(s.start_time) FROM hublink.travel_quote t
                       JOIN hublink.itinerary_segment s ON s.travel_quote_id = t.travel_quote_id AND s.current
                      WHERE t.removal_id = k.removal_id AND t.travel_quote_reference = k.travel_quote_reference)
               FROM hublink.travel_booking k
              WHERE k.removal_id = p_removal_id AND k.outcome = 'ACCEPTED'
              ORDER BY k.travel_booking_id DESC LIMIT 1),
            (SELECT min(s.start_time) FROM hublink.travel_quote t
               JOIN hublink.itinerary_segment s ON s.travel_quote_id = t.travel_quote_id AND s.current
              WHERE t.removal_id = p_removal_id AND NOT t.superseded),
            (SELECT r.earliest_leave_date::timestamp AT TIME ZONE 'Europe/London' FROM hublink.removal r
              WHERE r.removal_id = p_removal_id));
    END;
COMMENT ON FUNCTION hublink.removal_first_departure(bigint) IS
    'The first departure of a removal: the earliest current segment of its latest accepted travel '
    'booking, else of its quotes not superseded, else the start (UK) of its earliest leave date.';
-- hublink.cancel_history_on_close, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_history_on_close() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prof text[];
    lead numeric;
    band numeric;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub'
       OR (NOT EXISTS (SELECT FROM hublink.travel_booking k
                        WHERE k.removal_id = NEW.removal_id AND k.outcome = 'ACCEPTED')
           AND NOT EXISTS (SELECT FROM hublink.booking_hold b WHERE b.removal_id = NEW.removal_id)) THEN
        RETURN NULL;
    END IF;
    prof := coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                       WHERE f.removal_id = NEW.removal_id), '{}');
    INSERT INTO hublink.cancel_history_count AS h (profile, booked, cancelled)
    VALUES (prof, 1, (NEW.state = 'cancelled')::int)
    ON CONFLICT (profile) DO UPDATE SET booked = h.booked + 1, cancelled = h.cancelled + excluded.cancelled;
    IF NEW.state = 'cancelled' THEN
        -- How long before its first departure it was cancelled, in the market's bands. Sooner
        -- than every band (e.g. after departure, or the admin kept no band below 72 h): 0, so a
        -- late cancellation is never counted as an early one whatever bands the market has
        -- (the history is owner-only: nobody could correct it). No band at all, no count.
        lead := extract(epoch FROM hublink.removal_first_departure(NEW.removal_id) - now()) / 3600;
        SELECT CASE WHEN count(*) > 0 THEN coalesce(max(m.hours_before) FILTER (WHERE m.hours_before <= lead), 0) END
          INTO band FROM hublink.booking_market m;
        IF band IS NOT NULL THEN
            INSERT INTO hublink.cancel_history_lead AS l (profile, hours_before, cancelled)
            VALUES (prof, band, 1)
            ON CONFLICT (profile, hours_before) DO UPDATE SET cancelled = l.cancelled + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_history_on_close() IS
    'Trigger on hublink.removal at the Hub: a removal that reaches completed or cancelled after its '
    'travel booking was accepted, or after the Hub advised holding its booking (hublink.booking_hold), '
    'counts once in hublink.cancel_history_count under its profile; a cancelled one also counts in '
    'hublink.cancel_history_lead, in the band of how long before its first departure '
    '(hublink.removal_first_departure) it was cancelled (sooner than every band: 0).';
-- hublink.cancel_lead_share, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.cancel_lead_share(p_profile text[], p_hours numeric) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT c.prior_weight AS w FROM hublink.cancel_estimate_config c),
        a AS (SELECT coalesce(sum(l.cancelled), 0) AS n,
                     coalesce(sum(l.cancelled) FILTER (WHERE l.hours_before >= p_hours), 0) AS ge
                FROM hublink.cancel_history_lead l),
        m AS (SELECT coalesce(sum(l.cancelled), 0) AS n,
                     coalesce(sum(l.cancelled) FILTER (WHERE l.hours_before >= p_hours), 0) AS ge
                FROM hublink.cancel_history_lead l WHERE l.profile = p_profile)
        SELECT round(least(1, greatest(0, (m.ge + cfg.w * a.ge / (a.n + cfg.w)) / (m.n + cfg.w))), 4)
          FROM cfg, a, m;
    END;
COMMENT ON FUNCTION hublink.cancel_lead_share(text[], numeric) IS
    'Of a profile''s cancellations in hublink.cancel_history_lead, the share that came in a band at '
    'least p_hours before the first departure: (g + w x S) / (n + w), S = G / (N + w) over all '
    'profiles, w = prior_weight; 0 with no history; to 4 places. Run by hublink.plan_booking '
    '(SECURITY DEFINER); it runs with the caller''s rights.';
-- hublink.booking_market_at, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.booking_market_at(p_hours numeric, OUT fare_factor numeric, OUT sold_out numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH lo AS (SELECT m.* FROM hublink.booking_market m WHERE m.hours_before <= p_hours ORDER BY m.hours_before DESC LIMIT 1),
        hi AS (SELECT m.* FROM hublink.booking_market m WHERE m.hours_before > p_hours ORDER BY m.hours_before LIMIT 1),
        w AS (SELECT (SELECT lo.hours_before FROM lo) AS lh, (SELECT lo.fare_factor FROM lo) AS lf, (SELECT lo.sold_out FROM lo) AS ls,
                     (SELECT hi.hours_before FROM hi) AS hh, (SELECT hi.fare_factor FROM hi) AS hf, (SELECT hi.sold_out FROM hi) AS hs)
        SELECT CASE WHEN w.lh IS NULL THEN w.hf WHEN w.hh IS NULL THEN w.lf
                    ELSE w.lf + (w.hf - w.lf) * (p_hours - w.lh) / (w.hh - w.lh) END,
               CASE WHEN w.lh IS NULL THEN w.hs WHEN w.hh IS NULL THEN w.ls
                    ELSE w.ls + (w.hs - w.ls) * (p_hours - w.lh) / (w.hh - w.lh) END
          FROM w;
    END;
COMMENT ON FUNCTION hublink.booking_market_at(numeric) IS
    'The fare factor and the chance of a full flight the Hub expects at p_hours before departure '
    '(hublink.booking_market): linear between the bands around it, the nearest band''s beyond them, '
    'NULLs with no rows.';
-- hublink.plan_booking's new result columns: part 87 already makes its current definition, with
-- its grants (every @function copy is the current one; a drop and a second copy here changed
-- nothing).
-- Their bodies (SELECT * FROM the configuration) were bound to the columns of their time.
-- hublink.removal_cancel_probability, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.removal_cancel_probability(p_removal_id bigint) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT * FROM hublink.cancel_estimate_config),
        mine AS (SELECT coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                                   WHERE f.removal_id = p_removal_id), '{}') AS profile),
        hist AS (SELECT * FROM hublink.cancel_history()),
        g AS (SELECT (coalesce(sum(h.cancelled), 0) + cfg.prior_weight * cfg.prior_probability)
                     / (coalesce(sum(h.booked), 0) + cfg.prior_weight) AS p
                FROM cfg LEFT JOIN hist h ON true GROUP BY cfg.prior_weight, cfg.prior_probability),
        s AS (SELECT coalesce(sum(h.booked), 0) AS n, coalesce(sum(h.cancelled), 0) AS c
                FROM mine LEFT JOIN hist h ON h.profile = mine.profile)
        SELECT round(least(cfg.max_probability, greatest(cfg.min_probability,
                     (s.c + cfg.prior_weight * g.p) / (s.n + cfg.prior_weight))), 4)
          FROM cfg, g, s;
    END;
COMMENT ON FUNCTION hublink.removal_cancel_probability(bigint) IS
    'The Hub''s estimate of the chance that a removal is cancelled after booking: of the closed '
    'booked removals with the same recorded factors (hublink.cancel_history), c cancelled of n, '
    '(c + w x G) / (n + w), where G = (C + w x prior) / (N + w) over all N of them, w = '
    'prior_weight; bounded by min_probability and max_probability (hublink.cancel_estimate_config), '
    'rounded to 4 places. The removal itself counts once it is closed.';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/90_review_defects.sql
-- 0.1.0 -> 0.2.0, the defects the last hostile review left open (docs/security-crypto.md
-- "Erasure of a removal with live bookings", docs/upgrades.md).
--
-- 1. An erasure on direction no longer deletes a provider's live bookings or unpaid refunds:
-- hublink.erase_removal refuses, erasing nothing, while hublink.erasure_blockers names seats on
-- flights not yet departed, escorts on duty today or later, or a refund not yet received.
-- hublink.erasure_blockers, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.erasure_blockers(p_removal_reference text) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH booking AS (
        SELECT b.* FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference
        UNION
        SELECT b.* FROM hublink.tsp_booking b JOIN hublink.tsp_quote q USING (quote_ref)
         WHERE q.removal_id = p_removal_reference)
    -- Seats on a flight not yet flown; or on one the carrier cancelled, which leaves the booking
    -- ACTIVE and its tickets unused until the Hub cancels: no refund row exists yet, and the
    -- booking is the only record that one is due.
    SELECT CASE f.status
           WHEN 'SCHEDULED' THEN pg_catalog.format('travel booking %s holds %s seat(s) on flights not yet departed (the first %s)',
                                                   b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at))
           ELSE pg_catalog.format('travel booking %s holds %s seat(s) on flights the carrier cancelled (the first %s), no refund recorded yet',
                                  b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at)) END
      FROM booking b
      JOIN hublink.tsp_booking_segment s ON s.booking_ref = b.booking_ref AND s.status = 'ACTIVE'
      JOIN hublink.tsp_flight f ON f.flight_id = s.flight_id
       AND (f.status = 'CANCELLED' OR f.departs_at > pg_catalog.now())
     WHERE b.status = 'ACTIVE'
     GROUP BY b.booking_ref, f.status
    UNION ALL
    SELECT pg_catalog.format('refund %s of travel booking %s, %s %s owed since %s, is not yet received',
                             r.refund_id, b.booking_ref, r.amount, r.currency, r.owed_since)
      FROM booking b JOIN hublink.tsp_refund r ON r.booking_ref = b.booking_ref AND r.received_at IS NULL
    UNION ALL
    SELECT pg_catalog.format('escort booking of quote %s has escorts on duty from %s',
                             e.quote_ref, pg_catalog.min(d.duty_date))
      FROM hublink.esp_booking e
      JOIN hublink.esp_booking_status st ON st.status = e.status AND st.holds_duty
      JOIN hublink.esp_duty d ON d.booking_id = e.booking_id
       AND d.duty_date >= (pg_catalog.now() AT TIME ZONE hublink.esp_setting('date_time_zone'))::date
     WHERE (e.removal_ref = p_removal_reference
            OR e.plan_id IN (SELECT l.plan_id FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference))
     GROUP BY e.quote_ref
    UNION ALL
    -- At the Hub (its removal machine has a state): a booking the Hub requested or holds, which
    -- the provider keeps (seats, escorts) until the Hub cancels it; erased, the Hub could never
    -- cancel it, and the provider's updates would name a removal the Hub no longer knows.
    SELECT pg_catalog.format('the Hub''s %s booking of removal %s is %s: the provider holds it until it is cancelled',
                             m.machine, r.removal_reference, pg_catalog.replace(m.state, '_', ' '))
      FROM hublink.removal r
     CROSS JOIN LATERAL (VALUES ('escort', r.escort_state), ('travel', r.travel_state)) m(machine, state)
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
       AND m.state IN ('booking_requested', 'booked', 'amended')
       -- a completed removal's booking that an admin recorded ended outside the interface
       AND NOT EXISTS (SELECT FROM hublink.hub_settlement h
                        WHERE h.removal_id = r.removal_id AND h.booking = m.machine AND h.kind = 'completion')
    UNION ALL
    -- and a cancellation the Hub sent of a booking the provider accepted, until the provider's
    -- update answers it (seats or escorts released, the refund or fee recorded at the Hub).
    SELECT pg_catalog.format('the Hub''s %s cancellation of removal %s (message %s, sent %s) has no answer from the provider yet',
                             c.booking, r.removal_reference, c.message_id, c.cancelled_at)
      FROM hublink.removal r
     CROSS JOIN LATERAL hublink.hub_unanswered_cancellations(r.removal_id) c
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
    UNION ALL
    -- and, at any party, a message about it not yet published: the erasure would purge it from
    -- the outbox, and its receiver (e.g. the provider of a Hub's cancellation) never hear of it.
    SELECT pg_catalog.format('outbox message %s (%s) is not yet sent', o.message_id, o.message_type)
      FROM hublink.outbox o
     WHERE o.removal_id = p_removal_reference AND o.sent_at IS NULL
    ORDER BY 1
$$;
COMMENT ON FUNCTION hublink.erasure_blockers(text) IS
    'What a provider engine still holds or is owed for a removal, one line each (no personal data): '
    'an active travel booking''s seats on flights not yet departed or cancelled by the carrier '
    '(no refund recorded yet), a refund not yet received, an escort booking''s duties today or later; '
    'at the Hub, an escort or travel booking requested, booked or amended (unless an admin recorded a completed '
    'removal''s booking ended outside the interface), and a cancellation of an accepted booking not yet answered '
    'by its provider''s update (a cancellation section, or a financial section for the reason CANCELLED_BY_HO) '
    'nor recorded settled outside the interface (hublink.hub_record_settled); and, at any party, an outbox message '
    'of the removal not yet sent (the erasure would purge it unpublished). hublink.erase_removal refuses while '
    'any is left (docs/security-crypto.md "Erasure of a removal with live bookings").';
REVOKE ALL ON FUNCTION hublink.erasure_blockers(text) FROM PUBLIC;
-- hublink.erase_removal: defined once, at the mention that needs it (docs/upgrades.md)

-- 2. The purge of a removal finds a provider's rows of it by index: the removal reference
-- columns, and the referencing columns its deletes (and their foreign key checks) look up,
-- were scanned whole once per purged removal. Its deletes are one list (hublink.purge_rows).
CREATE INDEX tsp_quote_removal ON hublink.tsp_quote (removal_id);
COMMENT ON INDEX hublink.tsp_quote_removal IS 'A removal''s quotes (its purge and erasure, hublink.purge_removal).';
CREATE INDEX tsp_booking_removal ON hublink.tsp_booking (removal_id);
COMMENT ON INDEX hublink.tsp_booking_removal IS 'A removal''s bookings (its purge and erasure, hublink.purge_removal).';
CREATE INDEX tsp_ticket_booking ON hublink.tsp_ticket (booking_ref);
COMMENT ON INDEX hublink.tsp_ticket_booking IS 'A booking''s tickets (its purge; the foreign key check when a booking is deleted).';
CREATE INDEX tsp_ticket_replaces ON hublink.tsp_ticket (replaces);
COMMENT ON INDEX hublink.tsp_ticket_replaces IS 'The ticket reissued from one (the foreign key check when a ticket is deleted).';
CREATE INDEX tsp_refund_booking ON hublink.tsp_refund (booking_ref);
COMMENT ON INDEX hublink.tsp_refund_booking IS 'A booking''s refunds (its purge; the foreign key check when a booking is deleted).';
CREATE INDEX tsp_update_quote ON hublink.tsp_update (quote_ref);
COMMENT ON INDEX hublink.tsp_update_quote IS 'A quote''s updates (its purge; the foreign key check when a quote is deleted).';
CREATE INDEX esp_plan_removal ON hublink.esp_plan (removal_ref);
COMMENT ON INDEX hublink.esp_plan_removal IS 'A removal''s escort plans (its purge and erasure, hublink.purge_removal).';
CREATE INDEX esp_quote_plan ON hublink.esp_quote (plan_id);
COMMENT ON INDEX hublink.esp_quote_plan IS 'A plan''s quotes (its purge; the foreign key check when a plan is deleted).';
CREATE INDEX esp_booking_removal ON hublink.esp_booking (removal_ref);
COMMENT ON INDEX hublink.esp_booking_removal IS 'A removal''s escort bookings (its purge and erasure, hublink.purge_removal).';
CREATE INDEX esp_booking_plan ON hublink.esp_booking (plan_id);
COMMENT ON INDEX hublink.esp_booking_plan IS 'The booking of a plan (its purge; the foreign key check when a plan is deleted).';
CREATE INDEX esp_update_booking ON hublink.esp_update (booking_id);
COMMENT ON INDEX hublink.esp_update_booking IS 'A booking''s updates (its purge; the foreign key check when a booking is deleted).';
-- hublink.purge_rows, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.purge_rows(p_table regclass, p_column name, p_keys text[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = p_table AND a.attname = p_column AND NOT a.attisdropped);
    n        bigint;
BEGIN
    IF key_type IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', p_table, p_column
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'hublink.purge_removal names a provider table''s key column that does not exist.',
                  HINT = 'Correct the list of provider tables in hublink.purge_removal.';
    END IF;
    EXECUTE pg_catalog.format('DELETE FROM %s x WHERE x.%I = ANY ($1::%s[])', p_table, p_column, key_type)
      USING p_keys;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.purge_rows(regclass, name, text[]) IS
    'Deletes the rows of a provider engine''s table whose key column is one of the keys (cast to '
    'the column''s type, so its index serves); returns how many. Internal to '
    'hublink.purge_removal, which alone names the tables.';
REVOKE ALL ON FUNCTION hublink.purge_rows(regclass, name, text[]) FROM PUBLIC;
-- hublink.purge_removal: defined once, at the mention that needs it (docs/upgrades.md)

-- 3. A change to the money advice (booking_market, cancel_estimate_config, escort_rule) is a
-- critical security_config_changed alert naming the person: the triggers are in
-- sql/parts/95_config_alerts.sql, which update part 96 includes whole (after these tables exist).

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/93_burst_cost.sql
-- 0.2.0: the cost of a burst, fifth pass (issue 15 section 3; docs/performance.md "Fifth pass").

-- The audit chain's canonical text in PL/pgSQL (the same expression, so the same text and the
-- same hashes): the seal calls it for every audit row at commit, and as a SQL function with
-- SET it set up an executor for each row. The seal finds its rows by the primary key even when
-- audit_log's statistics are stale (it scanned the whole log at every commit of a burst).
-- hublink.audit_canonical, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.audit_canonical(a hublink.audit_log) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- jsonb's text form is canonical (keys sorted, fixed spacing); the time is epoch seconds
    -- so the text does not depend on the session's TimeZone or DateStyle.
    RETURN pg_catalog.jsonb_build_object(
               'audit_id', a.audit_id,
               'at', EXTRACT(epoch FROM a.at),
               'xact_id', a.xact_id::text,
               'session_user', a.session_user_name,
               'role', a.role_name,
               'backend_pid', a.backend_pid,
               'client_addr', a.client_addr::text,
               'action', a.action,
               'table', a.table_name,
               'removal_id', a.removal_id,
               'removal_reference', a.removal_reference,
               'row_key', a.row_key,
               'changed_columns', pg_catalog.to_jsonb(a.changed_columns),
               'before_digest', pg_catalog.encode(a.before_digest, 'hex'),
               'after_digest', pg_catalog.encode(a.after_digest, 'hex'),
               'detail', a.detail)::text;
END;
$$;
COMMENT ON FUNCTION hublink.audit_canonical(hublink.audit_log) IS
    'The text an audit row''s hash covers: every column as canonical jsonb text, independent of '
    'session settings. Changing it changes every hash: verify_audit would report the whole chain.';
-- hublink.audit_seal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.audit_seal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
    AS $$
DECLARE
    last   record;
    seq    bigint;
    prev   bytea;
    r      record;
    seqs   bigint[] := '{}';
    ids    bigint[] := '{}';
    prevs  bytea[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    -- Serialise sealing across transactions so seq and prev_hash are well defined. Held to
    -- the end of the commit (docs/security-audit.md "Cost"). The key is audit_chain's oid.
    PERFORM pg_catalog.pg_advisory_xact_lock('hublink.audit_chain'::regclass::oid::bigint);
    SELECT c.seq, c.row_hash INTO last FROM hublink.audit_chain c ORDER BY c.seq DESC LIMIT 1;
    seq := coalesce(last.seq, 0);
    prev := coalesce(last.row_hash, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));
    -- This transaction's rows from the one that queued the event on, not sealed yet.
    FOR r IN SELECT l.audit_id, hublink.audit_canonical(l) AS canonical FROM hublink.audit_log l
              WHERE l.audit_id >= NEW.audit_id AND l.xact_id = pg_catalog.pg_current_xact_id()
                AND NOT EXISTS (SELECT FROM hublink.audit_chain c WHERE c.audit_id = l.audit_id)
              ORDER BY l.audit_id LOOP
        seq := seq + 1;
        seqs := seqs || seq;
        ids := ids || r.audit_id;
        prevs := prevs || prev;
        prev := pg_catalog.sha256(prev || pg_catalog.convert_to(r.canonical, 'UTF8'));
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO hublink.audit_chain (seq, audit_id, prev_hash, row_hash)
    SELECT * FROM ROWS FROM (pg_catalog.unnest(seqs), pg_catalog.unnest(ids), pg_catalog.unnest(prevs),
                             pg_catalog.unnest(hashes));
    -- Rows written after this (by later deferred triggers, or after a SET CONSTRAINTS
    -- IMMEDIATE statement) queue a new event.
    PERFORM pg_catalog.set_config('hublink_audit.seal_queued', '', true);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.audit_seal() IS
    'Deferred constraint trigger on hublink.audit_log: at commit, appends this transaction''s '
    'unsealed audit rows to hublink.audit_chain in order, under a transaction advisory lock.';

-- from sql/updates/0.1.0--0.2.0/94_review_leftovers.sql
-- 0.2.0: defects left over from the last hostile reviews (docs/security-crypto.md "Erasure keeps
-- the money in MI").

-- An erasure (or the removal purge) keeps the removal's MI money amounts, without the removal,
-- so that hublink.mi_money's totals do not change; the escort fees of its bookings are logged.
-- hublink.mi_money_erased, as defined in sql/parts
CREATE TABLE hublink.mi_money_erased (
    mi_money_erased_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference  text NOT NULL,
    item               text NOT NULL,
    currency           char(3) NOT NULL,
    amount             numeric NOT NULL,
    at                 timestamptz,
    erased_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.mi_money_erased IS
    'The amounts hublink.mi_money counted for removals since erased or purged (written by '
    'hublink.purge_removal before it deletes the rows): spend, fees, refunds owed and received, '
    'losses, without personal data, so that MI money totals do not change on erasure.';
COMMENT ON COLUMN hublink.mi_money_erased.mi_money_erased_id IS 'Internal key.';
COMMENT ON COLUMN hublink.mi_money_erased.removal_reference IS 'The removal erased (as in hublink.purge_log).';
COMMENT ON COLUMN hublink.mi_money_erased.item IS 'What the amount was (hublink.rollup_mi_money_item.item).';
COMMENT ON COLUMN hublink.mi_money_erased.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.mi_money_erased.amount IS 'The amount.';
COMMENT ON COLUMN hublink.mi_money_erased.at IS 'Its instant, as MI had it (it decides the month).';
COMMENT ON COLUMN hublink.mi_money_erased.erased_at IS 'When the removal was erased.';
SELECT pg_catalog.pg_extension_config_dump('hublink.mi_money_erased', '');
-- hublink.rollup_mi_money_item, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_money_item AS
SELECT 'ticket_spend'::text AS item, b.currency, b.total_amount AS amount, b.responded_at AS at, b.removal_id
  FROM hublink.travel_booking b
 WHERE b.outcome = 'ACCEPTED' AND b.total_amount IS NOT NULL
UNION ALL
SELECT 'escort_spend', q.currency, q.total_amount, b.responded_at, b.removal_id
  FROM hublink.escort_booking b
  JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                             AND q.escort_quote_reference = b.escort_quote_reference
 WHERE b.outcome = 'ACCEPTED' AND q.total_amount IS NOT NULL
UNION ALL
SELECT f.kind, f.currency, f.amount, f.recorded_at, f.removal_id
  FROM hublink.financial_consequence f
UNION ALL
SELECT 'refund_received', r.currency, r.amount, r.received_at, f.removal_id
  FROM hublink.refund_receipt r
  JOIN hublink.financial_consequence f USING (financial_consequence_id)
UNION ALL
-- The amounts of removals since erased, kept by hublink.purge_removal.
SELECT e.item, e.currency, e.amount, e.at, NULL
  FROM hublink.mi_money_erased e
UNION ALL
-- A non-refundable fare booked and then cancelled: what was paid, less any refund the
-- provider announced for the removal's travel, is lost.
SELECT 'lost_non_refundable', l.currency, l.lost, x.cancelled_at, x.removal_id
  FROM hublink.cancellation x
  JOIN LATERAL (
        SELECT tb.currency,
               greatest(tb.total_amount
                        - coalesce((SELECT sum(f.amount) FROM hublink.financial_consequence f
                                     WHERE f.removal_id = tb.removal_id AND f.booking = 'travel'
                                       AND f.kind = 'refund' AND f.currency = tb.currency), 0),
                        0) AS lost
          FROM hublink.travel_booking tb
          JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                     AND q.travel_quote_reference = tb.travel_quote_reference
         WHERE tb.removal_id = x.removal_id AND tb.outcome = 'ACCEPTED'
           AND tb.responded_at <= x.cancelled_at AND NOT q.refundable
         ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
         LIMIT 1) l ON true
 WHERE x.booking = 'travel' AND NOT x.before_booking;
COMMENT ON VIEW hublink.rollup_mi_money_item IS
    'The amounts hublink.mi_money sums, one row each with its instant (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.removal_id IS
    'The removal it was spent on; NULL for a removal since erased (hublink.mi_money_erased).';
-- hublink.rollup_mi_money_live, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.rollup_mi_money_live AS
SELECT (date_trunc('month', i.at AT TIME ZONE w.time_zone))::date AS month, i.currency,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'ticket_spend'), 0)::numeric(14,2) AS ticket_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'escort_spend'), 0)::numeric(14,2) AS escort_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund'), 0)::numeric(14,2) AS refunds_owed,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund_received'), 0)::numeric(14,2) AS refunds_received,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'change_fee'), 0)::numeric(14,2) AS change_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'cancellation_fee'), 0)::numeric(14,2) AS cancellation_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'lost_non_refundable'), 0)::numeric(14,2) AS lost_non_refundable
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_money_item y
                             WHERE y.at >= l.lo AND y.at < l.hi OFFSET 0) v
       UNION ALL
       SELECT y.* FROM hublink.rollup_mi_money_item y WHERE y.at IS NULL) i
 GROUP BY 1, 2;
-- hublink.purge_removal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.purge_removal(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n        bigint;
    counts   jsonb := '{"tsp_rows": 0, "esp_rows": 0}';
    quotes   text[];
    bookings text[];
    esp_ids  text[];
    plans    text[];
    d        record;
    gone     jsonb;
    gone_fees jsonb;
BEGIN
    -- Messages and data keys first: the keys of a booking are found through its tsp_booking row.
    gone := hublink.purge_messages(p_removal_reference) || hublink.purge_personal_data(p_removal_reference);
    -- The Hub's MI money (spend, fees, refunds, losses) keeps the removal's amounts, without
    -- the removal: its totals do not change on erasure (hublink.mi_money_erased).
    INSERT INTO hublink.mi_money_erased (removal_reference, item, currency, amount, at)
    SELECT p_removal_reference, i.item, i.currency, i.amount, i.at
      FROM hublink.rollup_mi_money_item i
     WHERE i.removal_id = (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference);
    GET DIAGNOSTICS n = ROW_COUNT;
    gone := gone || pg_catalog.jsonb_build_object('mi_money_kept', n);
    DELETE FROM hublink.removal r WHERE r.removal_reference = p_removal_reference;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- A provider engine keeps its own rows of the removal (quotes, bookings, tickets, updates)
    -- keyed by the reference, not by a foreign key to hublink.removal, so nothing cascaded to
    -- them and they outlived the removal's retention for ever (found by the soak,
    -- docs/simulation.md "Soak"). Their keys first, each found by an index (update part 90).
    SELECT coalesce(pg_catalog.array_agg(q.quote_ref), '{}') INTO quotes
      FROM (SELECT t.quote_ref FROM hublink.tsp_quote t WHERE t.removal_id = p_removal_reference
            UNION SELECT b.quote_ref FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference) q;
    SELECT coalesce(pg_catalog.array_agg(b.booking_ref::text), '{}') INTO bookings
      FROM hublink.tsp_booking b WHERE b.quote_ref = ANY (quotes);
    SELECT coalesce(pg_catalog.array_agg(p.plan_id::text), '{}') INTO plans
      FROM (SELECT l.plan_id FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference
            UNION SELECT b.plan_id FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) p;
    SELECT coalesce(pg_catalog.array_agg(b.booking_id::text), '{}') INTO esp_ids
      FROM (SELECT b.booking_id FROM hublink.esp_booking b WHERE b.plan_id = ANY (plans::bigint[])
            UNION SELECT b.booking_id FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) b;
    -- The fees an escort provider charged on the removal's bookings (cancelled, amended or
    -- unsuccessful ones keep them) are money the Home Office owes: their totals per currency
    -- stay in hublink.purge_log, without the bookings.
    SELECT coalesce(pg_catalog.jsonb_object_agg(f.currency, f.fees), '{}') INTO gone_fees
      FROM (SELECT b.currency, pg_catalog.sum(b.fees) AS fees FROM hublink.esp_booking b
             WHERE b.booking_id = ANY (esp_ids::bigint[]) AND b.fees > 0 GROUP BY b.currency) f;
    counts := counts || pg_catalog.jsonb_build_object('esp_fees', gone_fees);
    -- Then the rows, children first, in the order of their foreign keys; what the list does not
    -- name cascades from its parent.
    FOR d IN SELECT v.* FROM (VALUES
            (1, 'tsp_rows', 'hublink.tsp_update'::regclass, 'quote_ref'::name, quotes),
            (2, 'tsp_rows', 'hublink.tsp_ticket', 'booking_ref', bookings),
            (3, 'tsp_rows', 'hublink.tsp_passenger', 'booking_ref', bookings),
            (4, 'tsp_rows', 'hublink.tsp_refund', 'booking_ref', bookings),
            (5, 'tsp_rows', 'hublink.tsp_booking_segment', 'booking_ref', bookings),
            (6, 'tsp_rows', 'hublink.tsp_booking', 'booking_ref', bookings),
            (7, 'tsp_rows', 'hublink.tsp_quote', 'quote_ref', quotes),      -- its segments are in its row
            (8, 'esp_rows', 'hublink.esp_update', 'booking_id', esp_ids),
            (9, 'esp_rows', 'hublink.esp_booking', 'booking_id', esp_ids),  -- escorts and duties cascade
            (10, 'esp_rows', 'hublink.esp_quote', 'plan_id', plans),
            (11, 'esp_rows', 'hublink.esp_plan', 'plan_id', plans)         -- its positions cascade
         ) v(step, counted_as, tbl, key_column, keys)
         ORDER BY v.step LOOP
        counts := counts || pg_catalog.jsonb_build_object(d.counted_as,
                      (counts ->> d.counted_as)::bigint + hublink.purge_rows(d.tbl, d.key_column, d.keys));
    END LOOP;
    RETURN gone || pg_catalog.jsonb_build_object('removal_rows', n) || counts;
END;
$$;
COMMENT ON FUNCTION hublink.purge_removal(text) IS
    'Purge of class removal: deletes the removal (its rows cascade), a provider engine''s own '
    'rows of it (quotes, bookings, tickets, passengers, refunds, updates; escort plans, quotes, '
    'bookings, duties, updates), its messages and its data keys. Money stays: the amounts MI '
    'money counted for it go to hublink.mi_money_erased first, and the escort fees of its '
    'bookings are returned per currency (esp_fees, logged in hublink.purge_log).';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
-- Its removal_reference makes it removal data (as purge_log) only once part 96 has taught
-- hublink.removal_data_path that column; until then the policy just applied took it for
-- reference data, and apply_access_policy grants, never revokes. Part 96's run grants what a
-- fresh install has.
REVOKE ALL ON hublink.mi_money_erased FROM hublink_admin, hublink_caseworker, hublink_worker;

-- The Hub refuses to erase a removal while a provider holds a booking of it or has not
-- answered its cancellation (docs/security-crypto.md "Erasure of a removal with live bookings").
-- hublink.erasure_blockers, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.erasure_blockers(p_removal_reference text) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH booking AS (
        SELECT b.* FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference
        UNION
        SELECT b.* FROM hublink.tsp_booking b JOIN hublink.tsp_quote q USING (quote_ref)
         WHERE q.removal_id = p_removal_reference)
    -- Seats on a flight not yet flown; or on one the carrier cancelled, which leaves the booking
    -- ACTIVE and its tickets unused until the Hub cancels: no refund row exists yet, and the
    -- booking is the only record that one is due.
    SELECT CASE f.status
           WHEN 'SCHEDULED' THEN pg_catalog.format('travel booking %s holds %s seat(s) on flights not yet departed (the first %s)',
                                                   b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at))
           ELSE pg_catalog.format('travel booking %s holds %s seat(s) on flights the carrier cancelled (the first %s), no refund recorded yet',
                                  b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at)) END
      FROM booking b
      JOIN hublink.tsp_booking_segment s ON s.booking_ref = b.booking_ref AND s.status = 'ACTIVE'
      JOIN hublink.tsp_flight f ON f.flight_id = s.flight_id
       AND (f.status = 'CANCELLED' OR f.departs_at > pg_catalog.now())
     WHERE b.status = 'ACTIVE'
     GROUP BY b.booking_ref, f.status
    UNION ALL
    SELECT pg_catalog.format('refund %s of travel booking %s, %s %s owed since %s, is not yet received',
                             r.refund_id, b.booking_ref, r.amount, r.currency, r.owed_since)
      FROM booking b JOIN hublink.tsp_refund r ON r.booking_ref = b.booking_ref AND r.received_at IS NULL
    UNION ALL
    SELECT pg_catalog.format('escort booking of quote %s has escorts on duty from %s',
                             e.quote_ref, pg_catalog.min(d.duty_date))
      FROM hublink.esp_booking e
      JOIN hublink.esp_booking_status st ON st.status = e.status AND st.holds_duty
      JOIN hublink.esp_duty d ON d.booking_id = e.booking_id
       AND d.duty_date >= (pg_catalog.now() AT TIME ZONE hublink.esp_setting('date_time_zone'))::date
     WHERE (e.removal_ref = p_removal_reference
            OR e.plan_id IN (SELECT l.plan_id FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference))
     GROUP BY e.quote_ref
    UNION ALL
    -- At the Hub (its removal machine has a state): a booking the Hub requested or holds, which
    -- the provider keeps (seats, escorts) until the Hub cancels it; erased, the Hub could never
    -- cancel it, and the provider's updates would name a removal the Hub no longer knows.
    SELECT pg_catalog.format('the Hub''s %s booking of removal %s is %s: the provider holds it until it is cancelled',
                             m.machine, r.removal_reference, pg_catalog.replace(m.state, '_', ' '))
      FROM hublink.removal r
     CROSS JOIN LATERAL (VALUES ('escort', r.escort_state), ('travel', r.travel_state)) m(machine, state)
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
       AND m.state IN ('booking_requested', 'booked', 'amended')
       -- a completed removal's booking that an admin recorded ended outside the interface
       AND NOT EXISTS (SELECT FROM hublink.hub_settlement h
                        WHERE h.removal_id = r.removal_id AND h.booking = m.machine AND h.kind = 'completion')
    UNION ALL
    -- and a cancellation the Hub sent of a booking the provider accepted, until the provider's
    -- update answers it (seats or escorts released, the refund or fee recorded at the Hub).
    SELECT pg_catalog.format('the Hub''s %s cancellation of removal %s (message %s, sent %s) has no answer from the provider yet',
                             c.booking, r.removal_reference, c.message_id, c.cancelled_at)
      FROM hublink.removal r
     CROSS JOIN LATERAL hublink.hub_unanswered_cancellations(r.removal_id) c
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
    UNION ALL
    -- and, at any party, a message about it not yet published: the erasure would purge it from
    -- the outbox, and its receiver (e.g. the provider of a Hub's cancellation) never hear of it.
    SELECT pg_catalog.format('outbox message %s (%s) is not yet sent', o.message_id, o.message_type)
      FROM hublink.outbox o
     WHERE o.removal_id = p_removal_reference AND o.sent_at IS NULL
    ORDER BY 1
$$;
COMMENT ON FUNCTION hublink.erasure_blockers(text) IS
    'What a provider engine still holds or is owed for a removal, one line each (no personal data): '
    'an active travel booking''s seats on flights not yet departed or cancelled by the carrier '
    '(no refund recorded yet), a refund not yet received, an escort booking''s duties today or later; '
    'at the Hub, an escort or travel booking requested, booked or amended (unless an admin recorded a completed '
    'removal''s booking ended outside the interface), and a cancellation of an accepted booking not yet answered '
    'by its provider''s update (a cancellation section, or a financial section for the reason CANCELLED_BY_HO) '
    'nor recorded settled outside the interface (hublink.hub_record_settled); and, at any party, an outbox message '
    'of the removal not yet sent (the erasure would purge it unpublished). hublink.erase_removal refuses while '
    'any is left (docs/security-crypto.md "Erasure of a removal with live bookings").';
-- hublink.erase_removal, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.erase_removal(p_removal_reference text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p       hublink.retention_policy;
    removed jsonb := '{}';
    closed  timestamptz := (SELECT c.closed_at FROM hublink.closed_removal c
                             WHERE c.removal_reference = p_removal_reference);
    blockers text;
BEGIN
    IF coalesce(p_reason, '') = '' THEN
        RAISE EXCEPTION 'an erasure needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Erasure on direction is recorded with the reason it was directed.',
                  HINT = 'Give the direction''s reference, e.g. the Authority''s instruction number.';
    END IF;
    -- A provider engine's rows count too: its messages (and their key) may be purged already.
    IF NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.tsp_quote q WHERE q.removal_id = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) THEN
        RAISE EXCEPTION 'removal % has nothing to erase', p_removal_reference
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'This database has neither the removal, nor a data key, nor a provider''s rows for it.',
                  HINT = 'hublink.purge_log lists what was purged before.';
    END IF;
    -- Never lose live seats, duties or money owed without a trace: they are settled first, by
    -- the ordinary paths that give seats and escorts back and record the money.
    blockers := (SELECT pg_catalog.string_agg(x, E'\n') FROM hublink.erasure_blockers(p_removal_reference) x);
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'removal % still has live provider bookings or refunds owed: nothing was erased', p_removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = blockers,
                  HINT = 'At the Hub, cancel the removal (hublink.cancel_removal or hublink.cancel_booking) and '
                         'wait for each provider''s update answering the cancellation. At a provider, the '
                         'Hub''s cancellation or hublink.esp_provider_cancel gives the seats and escorts back '
                         'and records any refund; mark refunds received with hublink.tsp_refund_received. '
                         'A provider''s answer settled outside the interface is recorded at the Hub with '
                         'hublink.hub_record_settled. Then erase again.';
    END IF;
    PERFORM hublink.audit_note('erase_direction',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference),
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'reason', p_reason));
    FOR p IN SELECT * FROM hublink.retention_policy x ORDER BY x.retain_days, x.data_class LOOP
        removed := removed || pg_catalog.jsonb_build_object(p.data_class,
                                  hublink.purge_class(p_removal_reference, p, closed, p_reason));
    END LOOP;
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION hublink.erase_removal(text, text) IS
    'Erases a removal now, open or closed, when the Authority directs that its data is no longer '
    'required (NFR 0011): every class of hublink.retention_policy is purged, audited and logged '
    'with the reason. Refused, erasing nothing, while a provider engine still holds live seats or '
    'duties or is owed a refund for it, or, at the Hub, while a provider holds a booking of it or '
    'has not answered its cancellation (hublink.erasure_blockers). Returns what each class removed.';

-- from sql/updates/0.1.0--0.2.0/95_attacker_pass.sql
-- 0.2.0: found by the fresh attacker pass (issue 12): message_document read FOUND after EXECUTE
-- (never set there), so no admin or caseworker could open a message; an admin could set its own
-- clearance and then decrypt personal data (test/sql/94_attacker_pass.sql).
-- hublink.message_document, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.message_document(p_log regclass, p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m record;
    found_rows bigint;
BEGIN
    IF p_log NOT IN ('hublink.inbox'::regclass, 'hublink.outbox'::regclass) THEN
        RAISE EXCEPTION '% is not a message log', p_log
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use hublink.inbox or hublink.outbox.';
    END IF;
    EXECUTE format('SELECT message, key_scope, removal_id, message_id, message_type, sealed_body '
                   'FROM %s WHERE id = $1', p_log) INTO m USING p_id;
    -- EXECUTE does not set FOUND: the row count says whether the row exists.
    GET DIAGNOSTICS found_rows = ROW_COUNT;
    -- need-to-know (90_access.sql): the removal's clearance, or an admin for a day's messages;
    -- one answer for a row that does not exist and one the login may not open
    PERFORM hublink.require_message_access(p_log, p_id, m.key_scope, m.removal_id, found_rows = 0);
    IF m.sealed_body IS NOT NULL THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = m.key_scope),
            pg_catalog.jsonb_build_object('table', p_log::text, 'key_scope', m.key_scope,
                                          'message_id', m.message_id, 'message_type', m.message_type));
    END IF;
    -- Not through hublink.open_message: audited above, with the table.
    RETURN CASE WHEN m.sealed_body IS NULL THEN m.message
                ELSE m.message || pg_catalog.jsonb_build_object('body', hublink.unseal(m.key_scope, m.sealed_body)) END;
END;
$$;
COMMENT ON FUNCTION hublink.message_document(regclass, bigint) IS
    'The whole message of row p_id of the inbox or the outbox, its body decrypted; audited (action '
    'decrypt) when it had a sealed body. Checks the clearance for its removal (a message that named '
    'no removal: hublink_admin). Behind hublink.inbox_document and hublink.outbox_document.';
-- hublink.set_clearance, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.set_clearance(role_name name, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = set_clearance.role_name AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'role "%" is not a login role', role_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'A clearance belongs to a login role (one per person).',
                  HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker first.';
    END IF;
    -- Two people for a clearance: an admin cleared by itself could read any removal's personal
    -- data through the audited readers (the attacker pass of issue 12). Superusers excepted.
    IF set_clearance.role_name = hublink.acting_login()
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()) THEN
        RAISE EXCEPTION 'a login may not set its own clearance'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s tried to set the clearance of its own login.', hublink.acting_login()),
                  HINT = 'Another admin sets it; each change is audited.';
    END IF;
    IF level IS NULL THEN
        DELETE FROM hublink.role_clearance c WHERE c.role_name = set_clearance.role_name;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_clearance.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Clearances are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    INSERT INTO hublink.role_clearance AS c (role_name, level, granted_by)
    VALUES (set_clearance.role_name, set_clearance.level, hublink.acting_login())
    ON CONFLICT ON CONSTRAINT role_clearance_pkey
    DO UPDATE SET level = excluded.level, granted_by = excluded.granted_by, granted_at = now();
END;
$$;
COMMENT ON FUNCTION hublink.set_clearance(name, text) IS
    'Sets the clearance of a login role to a sensitivity level (NULL removes it: the login then '
    'sees no removal). For hublink_admin (Appendix B 4.16: the service administrator manages users); '
    'never a login''s own, except a superuser''s.';

-- from sql/updates/0.1.0--0.2.0/96_attacker_gaps.sql
-- 0.2.0: the gaps the attacker pass of 0.2.0 left open (issue 12; docs/security.md "After the
-- attacker passes of 0.2.0"). The parts wholly new in 0.2.0 bring their own changes through
-- their @include (36 by 20: needs_attention filtered, error_report_visible; 79 by 70: web
-- identities four eyes; 82, 83, 92 by 80: header files bound to a host, announcements to a
-- channel as it was). Numbered after them: this part changes what 20 made (error_report's
-- class) and adds the triggers on their tables (95_config_alerts.sql).

-- 1. Provider tables keyed by a removal reference (removal_ref, removal_reference) get
-- row-level security like every other table of removal data (91_access_policy.sql).
-- hublink.removal_data_path, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.removal_data_path AS
WITH RECURSIVE
tables AS (
    SELECT c.oid AS relid
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
),
direct AS (
    SELECT DISTINCT ON (t.relid) t.relid, a.attname AS key_column,
           CASE WHEN a.atttypid = 'pg_catalog.text'::regtype THEN 'removal_reference' ELSE 'removal_id' END AS parent_column
      FROM tables t
      JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND NOT a.attisdropped
                                    AND (a.attname = 'removal_id'
                                         OR (a.attname IN ('removal_ref', 'removal_reference')
                                             AND a.atttypid = 'pg_catalog.text'::regtype))
     WHERE t.relid <> 'hublink.removal'::regclass
     ORDER BY t.relid, a.attname = 'removal_id' DESC, a.attname
),
path (relid, key_column, parent, parent_column, depth) AS (
    SELECT d.relid, d.key_column, 'hublink.removal'::regclass::oid, d.parent_column::name COLLATE "C", 1 FROM direct d
    UNION ALL
    SELECT f.conrelid, ka.attname, f.confrelid, pa.attname, p.depth + 1
      FROM path p
      JOIN pg_catalog.pg_constraint f ON f.contype = 'f' AND f.confrelid = p.relid
                                      AND pg_catalog.cardinality(f.conkey) = 1
      JOIN pg_catalog.pg_attribute ka ON ka.attrelid = f.conrelid AND ka.attnum = f.conkey[1]
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = f.confkey[1]
     WHERE f.conrelid IN (SELECT t.relid FROM tables t)
       AND f.conrelid NOT IN (SELECT d.relid FROM direct d)
       AND f.conrelid <> 'hublink.removal'::regclass
       AND p.depth < 8
)
SELECT DISTINCT ON (p.relid)
       p.relid::regclass AS table_name, p.key_column, p.parent::regclass AS parent, p.parent_column, p.depth
  FROM path p
 ORDER BY p.relid, p.depth, p.key_column;
COMMENT ON VIEW hublink.removal_data_path IS
    'Every table holding removal data and how a row reaches its removal, derived from the catalog: '
    'key_column of the table references parent_column of parent (hublink.removal itself for a '
    'removal_id column). Row-level security follows these paths.';
DELETE FROM hublink.access_table_override WHERE table_name = 'error_report';
UPDATE hublink.access_table_override
   SET class = 'own_grants',
       reason = 'The open error reports with their outbox row''s id and send time: '
                'no message content, for the admins who clear them (granted below); it shows each '
                'login only the reports of removals it is cleared for (hublink.error_report_visible), '
                'and those naming no removal.'
 WHERE table_name = 'needs_attention';
-- They were reference tables, read by admins, caseworkers and the worker: now removal data,
-- read by caseworkers within their clearance (apply_access_policy grants it back).
REVOKE ALL ON hublink.esp_plan, hublink.esp_plan_position, hublink.esp_quote, hublink.esp_booking,
              hublink.esp_booking_escort, hublink.esp_duty, hublink.esp_update, hublink.error_report,
              hublink.purge_log
    FROM hublink_admin, hublink_caseworker, hublink_worker;
-- hublink.needs_attention and hublink.error_report_visible come with 36_broker_contract.sql
-- (included by 20_broker_contract.sql); the grants of 91_access_policy.sql:
GRANT EXECUTE ON FUNCTION hublink.error_report_visible(text) TO hublink_admin;
-- For the admins who clear Errors only (it was a reference view, read by caseworkers and the worker).
REVOKE ALL ON hublink.needs_attention FROM hublink_caseworker, hublink_worker;
GRANT SELECT ON hublink.needs_attention TO hublink_admin;

-- Changes to the rows that decide who is alerted, who signs in and what a clearance sees are
-- critical alerts (77_security_events.sql).
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_config_changed', 'critical', 'monitoring',
     'A row that decides who is alerted (alert channels, thresholds), who may sign in on the web '
     '(web identities), what a clearance sees (sensitivity levels) or what money is advised or '
     'spent (booking market, cancellation estimate, escort rules, risk flags) was added, changed or '
     'removed. Check that the role named was authorised to make the change.');
-- hublink.security_config_alert, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.security_config_alert(p_operation text, p_table text, p_old jsonb, p_new jsonb,
                                              p_shown text[]) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    changed text[];
    who     text := hublink.acting_login();
BEGIN
    SELECT pg_catalog.array_agg(k.k ORDER BY k.k) INTO changed
      FROM pg_catalog.jsonb_object_keys(coalesce(p_new, p_old)) k (k)
     WHERE (p_old -> k.k) IS DISTINCT FROM (p_new -> k.k);
    IF changed IS NULL THEN
        RETURN NULL; -- an UPDATE that changed nothing
    END IF;
    RETURN hublink.raise_alert('security_config_changed',
        pg_catalog.format('%s of %s %s by role %s%s', p_operation, p_table,
                          coalesce(coalesce(p_new, p_old) ->> p_shown[1], ''), who,
                          CASE WHEN who <> session_user THEN pg_catalog.format(' (login %s)', session_user) ELSE '' END),
        NULL,
        pg_catalog.jsonb_build_object(
            'table', p_table, 'operation', p_operation,
            'role_name', who, 'session_user', session_user::text, 'changed', pg_catalog.to_jsonb(changed),
            'old', (SELECT pg_catalog.jsonb_object_agg(k.k, p_old -> k.k) FROM pg_catalog.unnest(p_shown) k (k) WHERE p_old ? k.k),
            'new', (SELECT pg_catalog.jsonb_object_agg(k.k, p_new -> k.k) FROM pg_catalog.unnest(p_shown) k (k) WHERE p_new ? k.k)));
END;
$$;
COMMENT ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) IS
    'Raises the critical security_config_changed alert for a change (insert, update, delete) of a '
    'row of p_table from p_old to p_new (as JSON), naming the person (hublink.acting_login()) and '
    'the login, the columns changed, and the old and new values of the columns p_shown only (never '
    'personal data; the first names the row in the subject). NULL, and no alert, when nothing '
    'changed. Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) FROM PUBLIC;
-- hublink.security_config_changed, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.security_config_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.security_config_alert(pg_catalog.lower(TG_OP), 'hublink.' || TG_TABLE_NAME,
                                          CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                                          CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END,
                                          TG_ARGV[0:TG_NARGS - 1]); -- numbered from 1
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_config_changed() IS
    'AFTER ROW trigger: a critical security_config_changed alert for every insert, update (that '
    'changes a value) and delete of the row (hublink.security_config_alert); the trigger''s '
    'arguments are the columns the alert may show, the first naming the row.';
REVOKE ALL ON FUNCTION hublink.security_config_changed() FROM PUBLIC;

-- 4. Sensitivity levels: the owner's, but the wording (90_access.sql).
REVOKE INSERT, UPDATE, DELETE ON hublink.sensitivity_level FROM hublink_admin;
GRANT UPDATE (description) ON hublink.sensitivity_level TO hublink_admin;

-- The triggers: a part wholly new in 0.2.0.
-- sql/parts/95_config_alerts.sql, verbatim (a part wholly new in this version)
-- Changes that are alerts (the attacker pass of 0.2.0; docs/security-access.md "Changes that
-- are alerts"): every change to the rows that decide who is alerted (alert channels and
-- thresholds, 82/83), who may sign in on the web (web identities, 79) and what each clearance
-- sees (sensitivity levels, 90), and what money is advised or spent (booking market,
-- cancellation estimate, escort rules: 44, 47) raises a critical alert naming the person, in the same
-- transaction (hublink.security_config_alert, 77_security_events.sql). Here, after every part
-- that makes those tables, so that an update script can take this part whole.

-- Every change to a channel is a critical alert naming the person (hublink.security_config_alert),
-- sent to the channels as they now are and, when the change moved, muted or deleted this
-- channel, also to the channel as it was: a redirect or a disable is announced where people
-- were listening (the attacker pass of 0.2.0; docs/alerts.md "Changes to channels").
CREATE FUNCTION hublink.alert_channel_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a  hublink.alert;
    id bigint;
    k  uuid;
BEGIN
    id := hublink.security_config_alert(
        lower(TG_OP), 'hublink.alert_channel',
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
        ARRAY['channel_name', 'url', 'enabled', 'format', 'event_types', 'kinds', 'min_severity',
              'header_file', 'client_cert_file', 'client_key_file', 'ca_file']);
    IF id IS NULL OR TG_OP = 'INSERT' OR NOT OLD.enabled THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (NEW.url, NEW.format, NEW.enabled, NEW.event_types, NEW.kinds, NEW.min_severity, NEW.client_cert_file,
            NEW.client_key_file, NEW.ca_file, NEW.header_file)
           IS NOT DISTINCT FROM
           (OLD.url, OLD.format, OLD.enabled, OLD.event_types, OLD.kinds, OLD.min_severity, OLD.client_cert_file,
            OLD.client_key_file, OLD.ca_file, OLD.header_file) THEN
        RETURN NULL; -- where and what it sends is unchanged: the alert reaches it as it is
    END IF;
    SELECT * INTO a FROM hublink.alert x WHERE x.alert_id = id;
    k := gen_random_uuid();
    INSERT INTO hublink.alert_delivery (channel_name, channel_as_was, source, event_id, event_type, kind, severity,
                                        idempotency_key, payload)
    VALUES (NULL, to_jsonb(OLD), 'alert', a.alert_id, 'alert', a.kind, a.severity, k,
            hublink.alert_render(OLD.format,
                hublink.alert_event('alert', a.alert_id, a.kind, a.severity, a.subject, a.raised_at,
                                    a.detail || jsonb_build_object('alert_id', a.alert_id, 'raised_by', a.raised_by,
                                                                   'sent_to_channel_as_was', OLD.channel_name),
                                    k)));
    PERFORM hublink.wake_worker_for_jobs_at_commit();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_channel_changed() IS
    'AFTER ROW trigger of hublink.alert_channel: a critical security_config_changed alert for every '
    'change, and when an enabled channel was redirected, muted, refiltered or deleted, a delivery '
    'of that alert to the channel as it was (alert_delivery.channel_as_was), whatever its filter.';
REVOKE ALL ON FUNCTION hublink.alert_channel_changed() FROM PUBLIC;
CREATE TRIGGER alert_channel_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_changed();
COMMENT ON TRIGGER alert_channel_changed ON hublink.alert_channel IS
    'Announces every change (hublink.alert_channel_changed).';

-- Raising a threshold or disabling a check silences it (docs/alerts.md "Changes to channels").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_threshold
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('check_name', 'alert_kind', 'after',
                                                                  'max_count', 'within', 'severity', 'enabled');
COMMENT ON TRIGGER security_config_changed ON hublink.alert_threshold IS
    'Every change of a threshold is a critical alert (hublink.security_config_changed).';

-- Who may sign in as whom (docs/security-access.md "Web identities: four eyes").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('role_name', 'issuer', 'added_by', 'confirmed_by');
COMMENT ON TRIGGER security_config_changed ON hublink.security_web_identity IS
    'Every change of a mapping is a critical alert (hublink.security_config_changed).';

-- What each clearance sees (docs/security-access.md "Clearances and sensitivities").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.sensitivity_level
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('level', 'rank');
COMMENT ON TRIGGER security_config_changed ON hublink.sensitivity_level IS
    'Every change of a level is a critical alert (hublink.security_config_changed).';

-- What money the Hub is advised to spend or spends (the hostile review of 7 December 2026): the
-- fares and seats expected as departure nears (booking_market) and the cancellation estimate's
-- prior and bounds (cancel_estimate_config) decide which quote the advice ranks best and when
-- to book; the escorts every returnee needs at least (escort_rule) decide how many escorts are
-- bought. Audited already; an admin's change is now also an alert naming the person.
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.booking_market
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('hours_before', 'fare_factor', 'sold_out');
COMMENT ON TRIGGER security_config_changed ON hublink.booking_market IS
    'Every change of a market band is a critical alert (hublink.security_config_changed): it moves the booking advice.';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.cancel_estimate_config
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed(
        'only_row', 'prior_probability', 'prior_weight', 'min_probability', 'max_probability',
        'provider_probability', 'hold_from_probability', 'hold_hours_before', 'max_sold_out');
COMMENT ON TRIGGER security_config_changed ON hublink.cancel_estimate_config IS
    'Every change of the estimate''s settings is a critical alert (hublink.security_config_changed): it moves the booking advice.';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.escort_rule
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('rule', 'value');
COMMENT ON TRIGGER security_config_changed ON hublink.escort_rule IS
    'Every change of an escort rule is a critical alert (hublink.security_config_changed): it changes how many escorts are bought.';
-- A risk flag decides the same (escorted, min_escorts) and what a provider is told of the
-- returnee (share_with_esp, share_with_tsp): its change is as much an alert (review of the
-- fifth pass).
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.risk_flag
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed(
        'flag', 'escorted', 'min_escorts', 'share_with_esp', 'share_with_tsp');
COMMENT ON TRIGGER security_config_changed ON hublink.risk_flag IS
    'Every change of a risk flag is a critical alert (hublink.security_config_changed): it changes how many escorts are bought and what a provider sees.';
-- end of sql/parts/95_config_alerts.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- from sql/updates/0.1.0--0.2.0/97_test_waits.sql
-- 0.2.0: what tests (and operators) wait on instead of sleeping (test/README.md "Ordering"):
-- hublink.worker_processes() shows, per process of the worker, when it last read its settings
-- (after a reload) and, for the message worker, the publisher confirms not yet marked sent.

-- hublink.worker_processes, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.worker_processes(
    OUT process text, OUT applier integer, OUT pid integer, OUT state text,
    OUT state_since timestamptz, OUT started_at timestamptz, OUT settings_loaded_at timestamptz,
    OUT confirms_unmarked integer)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_processes';
COMMENT ON FUNCTION hublink.worker_processes() IS
    'One row per process of the worker: the message worker (process messages), the jobs worker '
    '(jobs) and each applier hublink.appliers asks for (applier, with its partition in applier): '
    'its pid (NULL when it does not run), state and since when, when it started; '
    'settings_loaded_at, when the settings it runs with were read (its PgReloadTime: inherited '
    'from the postmaster when it started, then each time it handled a reload), so that after '
    'pg_reload_conf() one can wait until every running process has read the new settings '
    '(settings_loaded_at later than a clock_timestamp() taken before the reload); and for the '
    'message worker confirms_unmarked, the publisher confirms it received whose outbox rows are '
    'not yet committed as sent (they are within 250 ms or with the next batch, docs/worker.md '
    '"Batches and latency"). Tests wait on these rather than sleep (test/README.md "Ordering").';

SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/98_quote_search.sql
-- 0.2.0: the itinerary search reads each flight's fares from one row (issue 15 section 5;
-- docs/performance.md "Quotes, sixth pass"; docs/tsp.md "The fares of a flight, in one row").
-- tsp_flight_fares is derived from tsp_fare and tsp_fare_price and kept equal to them by
-- triggers; the search reads it instead of one index look-up per fare and per price list.

CREATE TYPE hublink.tsp_fare_brief AS (
    fare_id bigint, currency char(3), refundable boolean, hand_baggage_only boolean, available boolean,
    refund_rule_set text, cancellation_fee numeric(14,2), price_types text[], price_amounts numeric(14,2)[]);
COMMENT ON TYPE hublink.tsp_fare_brief IS
    'What the itinerary search reads of one fare: tsp_fare''s columns it uses, and the fare''s '
    'prices as two arrays in traveller type order (price_amounts[n] is the price for price_types[n]).';

CREATE TABLE hublink.tsp_flight_fares (
    flight_id bigint PRIMARY KEY REFERENCES hublink.tsp_flight ON DELETE CASCADE,
    fares     hublink.tsp_fare_brief[] NOT NULL
);
COMMENT ON TABLE hublink.tsp_flight_fares IS
    'Derived from tsp_fare and tsp_fare_price, kept equal to them by triggers: one row per flight '
    'that has fares, with every fare of it (available or not) and its prices, in fare_id order. '
    'Read by the itinerary search (hublink.tsp_itineraries); never written by hand: only the owner '
    'can write it, and its triggers put a top-level write back to the truth (docs/tsp.md says what '
    'the owner can still break, and how to rebuild it).';
COMMENT ON COLUMN hublink.tsp_flight_fares.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_flight_fares.fares IS 'Its fares with their prices (hublink.tsp_fare_brief), in fare_id order.';
INSERT INTO hublink.audit_exclusion VALUES
    ('tsp_flight_fares', 'Derived from tsp_fare and tsp_fare_price (both audited) by triggers, for the itinerary '
                         'search: auditing it would record every fare change twice.');

-- hublink.tsp_flight_fares_of, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_of(flights bigint[])
    RETURNS TABLE (flight_id bigint, fares hublink.tsp_fare_brief[])
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT fa.flight_id,
           array_agg(ROW(fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only, fa.available, fa.refund_rule_set,
                         fa.cancellation_fee, coalesce(p.types, '{}'), coalesce(p.amounts, '{}'))::hublink.tsp_fare_brief
                     ORDER BY fa.fare_id)
      FROM (SELECT DISTINCT u.id FROM unnest(flights) u(id)) u
      JOIN hublink.tsp_fare fa ON fa.flight_id = u.id
      LEFT JOIN LATERAL (SELECT array_agg(x.traveller_type ORDER BY x.traveller_type) AS types,
                                array_agg(x.amount ORDER BY x.traveller_type) AS amounts
                           FROM hublink.tsp_fare_price x WHERE x.fare_id = fa.fare_id) p ON true
     GROUP BY fa.flight_id
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_of(bigint[]) IS
    'The fares of these flights as hublink.tsp_flight_fares holds them, read from tsp_fare and tsp_fare_price '
    '(no row for a flight without fares).';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_of(bigint[]) FROM PUBLIC;
-- hublink.tsp_flight_fares_refresh, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_refresh(flights bigint[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT DISTINCT u.id FROM unnest(flights) u(id));
BEGIN
    -- (joins with the unnested list, not "= ANY (ids)": a loader's statement touches tens of
    -- thousands of flights, and ANY over a parameter array is a linear search per row)
    DELETE FROM hublink.tsp_flight_fares s
     USING unnest(ids) u(id)
     WHERE s.flight_id = u.id AND NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.flight_id = u.id);
    -- Every row of these flights written or locked (ON CONFLICT locks a row it leaves as it is) ...
    INSERT INTO hublink.tsp_flight_fares AS s (flight_id, fares)
    SELECT c.flight_id, c.fares FROM hublink.tsp_flight_fares_of(ids) c
    ON CONFLICT (flight_id) DO UPDATE SET fares = excluded.fares WHERE s.fares IS DISTINCT FROM excluded.fares;
    -- ... then computed again by a statement of its own, whose snapshot sees what a concurrent
    -- transaction changing the same flights committed while this one waited for a row: the two
    -- transactions' edits are both kept (test/sql/55_tsp_flight_fares_race.sh).
    UPDATE hublink.tsp_flight_fares s SET fares = c.fares
      FROM hublink.tsp_flight_fares_of(ids) c
     WHERE s.flight_id = c.flight_id AND s.fares IS DISTINCT FROM c.fares;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_refresh(bigint[]) IS
    'Brings the tsp_flight_fares rows of these flights to the truth of tsp_fare and tsp_fare_price.';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_refresh(bigint[]) FROM PUBLIC;
-- hublink.tsp_flight_fares_derive, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_derive() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.flight_id <> OLD.flight_id THEN
        RAISE EXCEPTION 'tsp_flight_fares rows are derived: flight % cannot become flight %', OLD.flight_id, NEW.flight_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A row of tsp_flight_fares lists the fares of its own flight, from tsp_fare and tsp_fare_price.',
                  HINT = 'Change tsp_fare or tsp_fare_price; tsp_flight_fares follows them.';
    END IF;
    IF pg_trigger_depth() > 1 THEN
        RETURN NEW;  -- tsp_flight_fares_refresh, from a trigger: computed there
    END IF;
    NEW.fares := coalesce((SELECT c.fares FROM hublink.tsp_flight_fares_of(ARRAY[NEW.flight_id]) c), '{}');
    IF cardinality(NEW.fares) = 0 THEN
        RETURN NULL;  -- a flight without fares has no row
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_derive() IS
    'Row trigger on tsp_flight_fares: a row written other than by tsp_flight_fares_refresh from a trigger gets '
    'its fares computed from tsp_fare and tsp_fare_price, whatever was written; a flight without fares gets no '
    'row; a row cannot move to another flight.';
-- hublink.tsp_flight_fares_follow, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_follow() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    flights bigint[];
BEGIN
    -- (each trigger has only the transition tables of its event: one query per event)
    IF TG_OP = 'TRUNCATE' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa
                         UNION SELECT s.flight_id FROM hublink.tsp_flight_fares s);
    ELSIF TG_TABLE_NAME = 'tsp_fare' AND TG_OP = 'INSERT' THEN
        flights := ARRAY(SELECT DISTINCT n.flight_id FROM new_rows n);
    ELSIF TG_TABLE_NAME = 'tsp_fare' AND TG_OP = 'UPDATE' THEN
        flights := ARRAY(SELECT o.flight_id FROM old_rows o UNION SELECT n.flight_id FROM new_rows n);
    ELSIF TG_TABLE_NAME = 'tsp_fare' THEN
        flights := ARRAY(SELECT DISTINCT o.flight_id FROM old_rows o);
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' AND TG_OP = 'INSERT' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa WHERE fa.fare_id IN (SELECT n.fare_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' AND TG_OP = 'UPDATE' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa
                          WHERE fa.fare_id IN (SELECT o.fare_id FROM old_rows o UNION SELECT n.fare_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'tsp_fare_price' THEN
        flights := ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa WHERE fa.fare_id IN (SELECT o.fare_id FROM old_rows o));
    ELSE  -- tsp_flight_fares itself: rows deleted by hand come back when their flight has fares
        flights := ARRAY(SELECT o.flight_id FROM old_rows o);
    END IF;
    IF cardinality(flights) > 0 THEN
        PERFORM hublink.tsp_flight_fares_refresh(flights);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_follow() IS
    'Statement trigger on tsp_fare, tsp_fare_price and tsp_flight_fares: refreshes the tsp_flight_fares '
    'rows of the flights whose fares or prices changed (or whose derived row was deleted).';

-- The rows of the schedule 0.1.0 holds, in one statement, before the triggers exist.
INSERT INTO hublink.tsp_flight_fares (flight_id, fares)
SELECT c.flight_id, c.fares FROM hublink.tsp_flight_fares_of(ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa)) c;

-- hublink.tsp_flight_fares.tsp_flight_fares_derive, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_derive BEFORE INSERT OR UPDATE ON hublink.tsp_flight_fares
    FOR EACH ROW EXECUTE FUNCTION hublink.tsp_flight_fares_derive();
COMMENT ON TRIGGER tsp_flight_fares_derive ON hublink.tsp_flight_fares IS
    'Every written row holds its flight''s true fares (hublink.tsp_flight_fares_derive).';
-- hublink.tsp_fare.tsp_flight_fares_fare_insert, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_fare_insert AFTER INSERT ON hublink.tsp_fare
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_fare_insert ON hublink.tsp_fare IS 'tsp_flight_fares follows new fares.';
-- hublink.tsp_fare.tsp_flight_fares_fare_update, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_fare_update AFTER UPDATE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_fare_update ON hublink.tsp_fare IS 'tsp_flight_fares follows changed fares (both flights of a moved one).';
-- hublink.tsp_fare.tsp_flight_fares_fare_delete, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_fare_delete AFTER DELETE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_fare_delete ON hublink.tsp_fare IS 'tsp_flight_fares follows deleted fares (also by a flight''s cascade).';
-- hublink.tsp_fare.tsp_flight_fares_fare_truncate, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_fare_truncate AFTER TRUNCATE ON hublink.tsp_fare
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_fare_truncate ON hublink.tsp_fare IS 'tsp_flight_fares follows a truncate of the fares.';
-- hublink.tsp_fare_price.tsp_flight_fares_price_insert, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_price_insert AFTER INSERT ON hublink.tsp_fare_price
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_price_insert ON hublink.tsp_fare_price IS 'tsp_flight_fares follows new prices.';
-- hublink.tsp_fare_price.tsp_flight_fares_price_update, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_price_update AFTER UPDATE ON hublink.tsp_fare_price
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_price_update ON hublink.tsp_fare_price IS 'tsp_flight_fares follows changed prices (also a traveller type renamed by cascade).';
-- hublink.tsp_fare_price.tsp_flight_fares_price_delete, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_price_delete AFTER DELETE ON hublink.tsp_fare_price
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_price_delete ON hublink.tsp_fare_price IS 'tsp_flight_fares follows deleted prices.';
-- hublink.tsp_fare_price.tsp_flight_fares_price_truncate, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_price_truncate AFTER TRUNCATE ON hublink.tsp_fare_price
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_price_truncate ON hublink.tsp_fare_price IS 'tsp_flight_fares follows a truncate of the prices.';
-- hublink.tsp_flight_fares.tsp_flight_fares_self_delete, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_self_delete AFTER DELETE ON hublink.tsp_flight_fares
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_self_delete ON hublink.tsp_flight_fares IS 'A derived row deleted by hand comes back while its flight has fares.';
-- hublink.tsp_flight_fares.tsp_flight_fares_self_truncate, as defined in sql/parts
CREATE TRIGGER tsp_flight_fares_self_truncate AFTER TRUNCATE ON hublink.tsp_flight_fares
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_flight_fares_follow();
COMMENT ON TRIGGER tsp_flight_fares_self_truncate ON hublink.tsp_flight_fares IS 'Derived rows truncated by hand come back for every flight with fares.';

-- The search reads it.
-- hublink.tsp_itineraries, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_itineraries(
        origins char(3)[], destinations char(3)[], window_start timestamptz, window_end timestamptz,
        returnees integer, escorts integer, excluded_carriers text[], no_transit char(3)[],
        refundable_only boolean, cancel_probability numeric, cancel_hours_before numeric)
    RETURNS SETOF hublink.tsp_itinerary
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL, not SQL, for its plan: a SQL function that pins search_path is parsed and planned
-- again at every call; PL/pgSQL keeps the plan for the session (on the world schedule, 3.0 ms of
-- CPU per request as SQL, 1.2 ms as PL/pgSQL: docs/performance.md "Quotes, third pass").
BEGIN
    RETURN QUERY
    WITH RECURSIVE
    first_leg AS (
        SELECT f.* FROM hublink.tsp_flight f
         WHERE f.origin = ANY (origins) AND f.departs_at >= window_start AND f.departs_at < window_end
           AND f.status = 'SCHEDULED' AND f.carrier <> ALL (excluded_carriers)
           AND f.destination <> ALL (origins)),
    -- Connections: the second flight leaves the connecting airport no sooner than its minimum
    -- connection time after the first lands, and no later than the longest wait allowed.
    -- Settings read once, not once per candidate pair.
    cfg AS MATERIALIZED (
        SELECT make_interval(mins => hublink.tsp_setting('default_min_connection_minutes')::int) AS mct,
               make_interval(mins => hublink.tsp_setting('max_connection_minutes')::int) AS max_wait),
    hub AS MATERIALIZED (
        SELECT a.*, a.arrives_at + coalesce(make_interval(mins => m.minutes), cfg.mct) AS ready_at,
               a.arrives_at + cfg.max_wait AS last_at
          FROM first_leg a CROSS JOIN cfg
          LEFT JOIN hublink.tsp_min_connection m ON m.airport = a.destination
         WHERE a.destination <> ALL (destinations) AND a.destination <> ALL (no_transit)),
    routes AS (
        SELECT a.flight_id AS flight1, NULL::bigint AS flight2, a.departs_at, a.arrives_at,
               a.seats_total - a.seats_sold AS seats_free, NULL::timestamptz AS departs2
          FROM first_leg a WHERE a.destination = ANY (destinations)
        UNION ALL
        SELECT a.flight_id, b.flight_id, a.departs_at, b.arrives_at,
               least(a.seats_total - a.seats_sold, b.seats_total - b.seats_sold), b.departs_at
          FROM hub a
          JOIN hublink.tsp_flight b ON b.origin = a.destination
               AND b.departs_at >= a.ready_at AND b.departs_at <= a.last_at
         WHERE b.destination = ANY (destinations)
           AND b.status = 'SCHEDULED' AND b.carrier <> ALL (excluded_carriers)),
    -- Price and loss of every fare on every leg: the loss if the removal is cancelled at the
    -- expected time (cancel_hours_before the first departure) is what the refund rules keep.
    -- Each flight used, read once (a first flight pairs with many second flights), its fares and
    -- their prices from its one row of tsp_flight_fares (one index look-up per flight, not one
    -- per fare and per price list: docs/performance.md "Quotes, sixth pass"). Written inline
    -- (not hublink.tsp_fare_amount: functions that pin search_path are never inlined); one
    -- fallback level, as the shipped traveller types have.
    fallback AS MATERIALIZED (
        SELECT (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'RETURNEE') AS ret,
               (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'ESCORT') AS esc),
    fare_info AS MATERIALIZED (
        SELECT s.flight_id, fa.fare_id, fa.currency, fa.refundable, fa.hand_baggage_only,
               fa.refund_rule_set, fa.cancellation_fee,
               coalesce(fa.price_amounts[array_position(fa.price_types, 'RETURNEE')],
                        fa.price_amounts[array_position(fa.price_types, fb.ret)]) AS ret,
               coalesce(fa.price_amounts[array_position(fa.price_types, 'ESCORT')],
                        fa.price_amounts[array_position(fa.price_types, fb.esc)]) AS esc
          FROM (SELECT DISTINCT x.flight_id FROM routes r
                 CROSS JOIN LATERAL (VALUES (r.flight1), (r.flight2)) x(flight_id)
                 WHERE x.flight_id IS NOT NULL) u
          JOIN hublink.tsp_flight_fares s ON s.flight_id = u.flight_id
          CROSS JOIN fallback fb
          CROSS JOIN LATERAL unnest(s.fares) fa
         WHERE fa.available AND (fa.refundable OR NOT refundable_only)),
    leg_fare AS (
        SELECT r.flight1, r.flight2, r.departs_at, r.arrives_at, r.seats_free, leg.seq, leg.flight_id, fi.fare_id,
               fi.currency, fi.refundable, fi.hand_baggage_only, p.price,
               p.price - returnees * greatest(0, coalesce(least(fi.ret, coalesce(round(fi.ret * rule.refund_percent / 100, 2), rule.refund_amount, 0)), 0) - fi.cancellation_fee)
                       - escorts * greatest(0, coalesce(least(fi.esc, coalesce(round(fi.esc * rule.refund_percent / 100, 2), rule.refund_amount, 0)), 0) - fi.cancellation_fee) AS loss
          FROM routes r
          -- each leg's departure carried from routes, not looked up again
          CROSS JOIN LATERAL (VALUES (1, r.flight1, r.departs_at), (2, r.flight2, r.departs2)) leg(seq, flight_id, departs_at)
          JOIN fare_info fi ON fi.flight_id = leg.flight_id
          CROSS JOIN LATERAL (SELECT CASE WHEN returnees = 0 THEN 0 ELSE returnees * fi.ret END
                                   + CASE WHEN escorts = 0 THEN 0 ELSE escorts * fi.esc END AS price) p
          -- The refund rule in force at the expected cancellation time, as in tsp_refund_amount;
          -- none in force (the time is below the set's lowest threshold) refunds nothing: the
          -- ", 0" above, since least() skips NULLs and would count a full refund.
          LEFT JOIN LATERAL (SELECT rr.refund_percent, rr.refund_amount FROM hublink.tsp_refund_rule rr
                              WHERE rr.rule_set = fi.refund_rule_set
                                AND rr.from_hours_before <= cancel_hours_before
                                    + extract(epoch FROM leg.departs_at - r.departs_at) / 3600
                              ORDER BY rr.from_hours_before DESC LIMIT 1) rule ON true
         WHERE p.price IS NOT NULL),
    -- Costs add up over the legs, so the best combination per itinerary is made of the best
    -- fare of each leg per currency and refundability (least expected cost, then price, then
    -- fare): one sort picks them (not an ordered aggregate per column, 16 sorts per
    -- itinerary), then one row per itinerary and currency holds the four.
    best_leg AS (
        SELECT DISTINCT ON (l.flight1, l.flight2, l.currency, l.seq, l.refundable)
               l.flight1, l.flight2, l.currency, l.seq, l.refundable, l.departs_at, l.arrives_at,
               l.seats_free, l.fare_id, l.price, l.loss, l.hand_baggage_only
          FROM (SELECT lf.*, lf.price + cancel_probability * lf.loss AS ec FROM leg_fare lf) l
         ORDER BY l.flight1, l.flight2, l.currency, l.seq, l.refundable, l.ec, l.price, l.fare_id),
    best AS (
        SELECT l.flight1, l.flight2, l.currency, min(l.departs_at) AS departs_at,
               min(l.arrives_at) AS arrives_at, min(l.seats_free) AS seats_free,
               max(l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1,
               max(l.price) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_price,
               max(l.loss) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 1 AND l.refundable) AS r1_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1,
               max(l.price) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_price,
               max(l.loss) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 1 AND NOT l.refundable) AS n1_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2,
               max(l.price) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_price,
               max(l.loss) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 2 AND l.refundable) AS r2_hbo,
               max(l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2,
               max(l.price) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_price,
               max(l.loss) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_loss,
               bool_or(l.hand_baggage_only) FILTER (WHERE l.seq = 2 AND NOT l.refundable) AS n2_hbo
          FROM best_leg l
         GROUP BY l.flight1, l.flight2, l.currency),
    combined AS (
        SELECT b.flight1, b.flight2, b.departs_at, b.arrives_at, b.seats_free, c.fare1, c.fare2, b.currency,
               c.refundable, c.hbo1 OR coalesce(c.hbo2, false) AS hand_baggage_only,
               c.price1 + coalesce(c.price2, 0) AS price, c.loss1 + coalesce(c.loss2, 0) AS loss
          FROM best b
          CROSS JOIN LATERAL (VALUES
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, true),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, false),
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false))
              c(fare1, price1, loss1, hbo1, fare2, price2, loss2, hbo2, refundable)
         WHERE c.fare1 IS NOT NULL AND (b.flight2 IS NULL) = (c.fare2 IS NULL)
           -- a direct flight has no second leg: its refundability is its one fare's
           -- (IS NOT DISTINCT FROM: a flight with no refundable fare has r1 NULL, and "=" dropped
           -- its non-refundable fare)
           AND (b.flight2 IS NOT NULL OR c.refundable = (c.fare1 IS NOT DISTINCT FROM b.r1)))
    SELECT DISTINCT ON (c.flight1, c.flight2, c.refundable)
           c.flight1, c.fare1, c.flight2, c.fare2, c.currency, c.refundable, c.hand_baggage_only,
           c.departs_at, c.arrives_at, c.price,
           round(c.price + cancel_probability * c.loss, 2) AS expected_cost, c.seats_free
      FROM combined c
     ORDER BY c.flight1, c.flight2, c.refundable, c.price + cancel_probability * c.loss, c.price, c.fare1, c.fare2;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_itineraries(char(3)[], char(3)[], timestamptz, timestamptz, integer, integer, text[], char(3)[], boolean, numeric, numeric) IS
    'The itinerary search: direct and one-connection itineraries leaving origins in '
    '[window_start, window_end) for destinations, with the seats left (seats_free: the caller '
    'asks for one seat per traveller, and can tell "no seats" from "no flights"), minimum '
    'connection times, no excluded carrier and no forbidden transit airport; for each itinerary '
    'and refundability, the fare combination (same currency) with the least expected cost = '
    'price + cancel_probability x (price - refunds if cancelled cancel_hours_before the first departure).';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
SELECT hublink.backup_register();

-- A quote never priced from a stale derived row (docs/tsp.md "The fares of a flight, in one
-- row"): tsp_quote leaves out an itinerary whose price is not the sum of its per-traveller
-- costs from tsp_fare_price, and raises fare_row_drift.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('fare_row_drift', 'critical', 'tsp',
     'The itinerary search priced an itinerary from a row of hublink.tsp_flight_fares that disagrees '
     'with tsp_fare and tsp_fare_price (detail: flights); hublink.tsp_quote left it out of its answer. '
     'Only the extension''s owner can write that table past its triggers (replica mode, or from inside '
     'another trigger): find who did, then rebuild the rows with hublink.tsp_flight_fares_refresh '
     '(docs/tsp.md "The fares of a flight, in one row").');
-- hublink.tsp_flight_fares_drift_alert, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_flight_fares_drift_alert(flights bigint[]) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stale    bigint[] := hublink.tsp_flight_fares_stale(flights);
    versions jsonb;
    attempt  integer;
BEGIN
    IF cardinality(stale) = 0 THEN
        RETURN NULL;
    END IF;
    -- Twice at most: without a lock (an episode alerted already ends here), then, holding the
    -- lock, again in a statement of its own (its snapshot sees an alert committed meanwhile).
    FOR attempt IN 1 .. 2 LOOP
        SELECT jsonb_agg(jsonb_build_object('flight', s.flight_id, 'row_version', s.xmin::text || ':' || s.ctid::text) ORDER BY s.flight_id)
          INTO versions
          FROM hublink.tsp_flight_fares s
         WHERE s.flight_id = ANY (stale)
           AND NOT EXISTS (SELECT FROM hublink.alert a
                            WHERE a.kind = 'fare_row_drift'
                              AND a.detail -> 'rows' @> jsonb_build_array(jsonb_build_object('flight', s.flight_id,
                                                                                             'row_version', s.xmin::text || ':' || s.ctid::text)));
        -- A stale flight without a row (its row deleted past the triggers) is named by flight alone.
        versions := coalesce(versions, '[]') || coalesce((
            SELECT jsonb_agg(jsonb_build_object('flight', u.id, 'row_version', NULL) ORDER BY u.id)
              FROM unnest(stale) u(id)
             WHERE NOT EXISTS (SELECT FROM hublink.tsp_flight_fares s WHERE s.flight_id = u.id)
               AND NOT EXISTS (SELECT FROM hublink.alert a
                                WHERE a.kind = 'fare_row_drift' AND a.acknowledged_at IS NULL
                                  AND a.detail -> 'rows' @> jsonb_build_array(jsonb_build_object('flight', u.id)))), '[]');
        IF jsonb_array_length(versions) = 0 THEN
            RETURN NULL;  -- this episode was alerted already
        END IF;
        IF attempt = 1 AND NOT pg_try_advisory_xact_lock(pg_catalog.hashtext('hublink.fare_row_drift')) THEN
            RETURN NULL;  -- another request is alerting a drift now: never wait for it
        END IF;
    END LOOP;
    RETURN hublink.raise_alert('fare_row_drift',
        format('%s flight(s) priced from a stale row of tsp_flight_fares: itineraries left out of quotes until it is rebuilt',
               jsonb_array_length(versions)),
        NULL, jsonb_build_object('flights', (SELECT jsonb_agg(v -> 'flight') FROM jsonb_array_elements(versions) v),
                                 'rows', versions));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_fares_drift_alert(bigint[]) IS
    'Raises a fare_row_drift alert naming those of these flights whose tsp_flight_fares row differs from '
    'tsp_fare and tsp_fare_price (hublink.tsp_flight_fares_stale), once per drift episode: a stale row version '
    '(detail rows: flight and row_version, its xmin:ctid) already named by a fare_row_drift alert is not alerted again. '
    'Never waits for a lock: an episode already alerted returns without one, and a request racing another to alert '
    'a new one returns if it cannot take the advisory lock at once. Returns the '
    'alert_id, NULL when nothing new is stale (or another request is alerting it). Internal: tsp_quote calls it.';
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_drift_alert(bigint[]) FROM PUBLIC;
-- hublink.tsp_quote, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_quote(request jsonb, removal_id text DEFAULT NULL,
                                  at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- The settings of a quote in one read (a call of tsp_setting per setting cost more than the
    -- read: docs/performance.md "Quotes, seventh pass"); a missing one is still tsp_setting's
    -- error, raised in the same order as before (value is NOT NULL, so NULL here means missing).
    cfg          jsonb := (SELECT jsonb_object_agg(c.key, c.value) FROM hublink.tsp_config c
                            WHERE c.key IN ('date_time_zone', 'cancel_probability', 'expected_cancel_hours_before',
                                            'quotes_per_date', 'offer_choice', 'quote_validity_minutes',
                                            'quote_reference_prefix'));
    origins      char(3)[] := hublink.tsp_origin_airports(request -> 'returnees', request -> 'departureAirports');
    dests        char(3)[];
    dest_country char(3) := request #>> '{destination,country}';
    zone         text := coalesce(cfg ->> 'date_time_zone', hublink.tsp_setting('date_time_zone'));
    p_cancel     numeric := coalesce(cfg ->> 'cancel_probability', hublink.tsp_setting('cancel_probability'))::numeric;
    h_cancel     numeric := coalesce(cfg ->> 'expected_cancel_hours_before', hublink.tsp_setting('expected_cancel_hours_before'))::numeric;
    per_date     integer := coalesce(cfg ->> 'quotes_per_date', hublink.tsp_setting('quotes_per_date'))::int;
    choice       boolean := coalesce(cfg ->> 'offer_choice', hublink.tsp_setting('offer_choice'))::boolean;
    validity     interval := make_interval(mins => coalesce(cfg ->> 'quote_validity_minutes', hublink.tsp_setting('quote_validity_minutes'))::int);
    prefix       text := coalesce(cfg ->> 'quote_reference_prefix', hublink.tsp_setting('quote_reference_prefix'))
                         || nextval('hublink.tsp_quote_serial') || '-';
    -- The destination's cost limits (TIG COST_LIMIT rules), read once, not once per candidate.
    cost_cur     char(3)[];
    cost_amt     numeric[];
    n_ret        integer := jsonb_array_length(request -> 'returnees');
    excluded     text[];
    no_transit   char(3)[];
    refund_only  boolean;
    notice_hours integer;
    limit_amount numeric;
    limit_cur    text;
    d            record;
    it           record;
    quotes       jsonb := '[]';
    problems     text[] := '{}';
    codes        text[] := '{}';
    travellers   jsonb;
    n            integer := 0;
    k            integer;
    earliest     timestamptz;
    qref         text;
    q            jsonb;
    segs         jsonb;
    costs        jsonb;
    dropped      integer;
    drift_flights bigint[] := '{}';
    expires      timestamptz;
    quota_left   integer;
    n_cands      bigint;
    n_seated     bigint;
    -- The quotes' rows, written by one INSERT once every date is quoted.
    new_quotes   hublink.tsp_quote[] := '{}';
BEGIN
    IF request #>> '{destination,airportCode}' IS NOT NULL THEN
        dests := ARRAY[request #>> '{destination,airportCode}'];
    ELSE
        SELECT array_agg(a.iata) INTO dests FROM hublink.tsp_airport a
          JOIN hublink.tsp_country c ON c.iso2 = a.country WHERE c.iso3 = dest_country;
    END IF;

    -- The Travel Information Guide for this destination, merged with the request's constraints.
    SELECT array_agg(DISTINCT x) INTO excluded FROM (
        SELECT jsonb_array_elements_text(coalesce(request #> '{constraints,excludedCarriers}', '[]')) x
        UNION SELECT r.carrier FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'CARRIER_EXCLUSION' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    SELECT array_agg(DISTINCT x) INTO no_transit FROM (
        SELECT r.airport x FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND r.airport IS NOT NULL
           AND coalesce(r.destination_country, dest_country) = dest_country
        UNION SELECT a.iata FROM hublink.tsp_tig_rule r
          JOIN hublink.tsp_country c ON c.iso3 = r.transit_country
          JOIN hublink.tsp_airport a ON a.country = c.iso2
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    refund_only := coalesce((request #>> '{constraints,refundableOnly}')::boolean, false)
        OR EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'REFUNDABLE_REQUIRED'
                      AND coalesce(r.destination_country, dest_country) = dest_country);
    SELECT max(r.hours) INTO notice_hours FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'NOTIFICATION_PERIOD' AND coalesce(r.destination_country, dest_country) = dest_country;
    SELECT array_agg(r.currency), array_agg(r.amount) INTO cost_cur, cost_amt FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'COST_LIMIT' AND coalesce(r.destination_country, dest_country) = dest_country;
    limit_amount := (request #>> '{constraints,costLimit,amount}')::numeric;
    limit_cur := request #>> '{constraints,costLimit,currency}';

    FOR d IN
        SELECT e ->> 'escortQuoteReference' AS eq_ref, (e ->> 'date')::date AS day,
               hublink.json_integer(e -> 'escortCount')::int AS escorts, (e ->> 'earliestDeparture')::timestamptz AS earliest
          FROM jsonb_array_elements(request -> 'escortDates') WITH ORDINALITY e(e, i)
        UNION ALL
        SELECT NULL, g::date, 0, NULL
          FROM generate_series((request #>> '{travelDates,earliestLeaveDate}')::date,
                               least((request #>> '{travelDates,latestLeaveDate}')::date,
                                     (request #>> '{travelDates,earliestLeaveDate}')::date
                                     + hublink.tsp_setting('max_travel_dates')::int - 1),
                               interval '1 day') g
         WHERE request ? 'travelDates'
           AND NOT coalesce(request #> '{travelDates,exclusionDates}', '[]') ? g::date::text
    LOOP
        IF EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'BLOCKED_DATES'
                      AND coalesce(r.destination_country, dest_country) = dest_country
                      AND d.day BETWEEN r.date_from AND r.date_to) THEN
            problems := problems || (format('%s: travel to %s cannot be booked on this date (TIG)', d.day, dest_country))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;
        SELECT min(r.max_returnees - coalesce((
                   SELECT sum(b.returnees) FROM hublink.tsp_booking b
                    WHERE b.status = 'ACTIVE' AND b.destination_country = dest_country
                      AND b.travel_date BETWEEN r.date_from AND r.date_to), 0))
          INTO quota_left
          FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'QUOTA' AND coalesce(r.destination_country, dest_country) = dest_country
           AND d.day BETWEEN r.date_from AND r.date_to;
        IF quota_left < n_ret THEN
            problems := problems || (format('%s: the TIG quota for %s leaves room for %s returnee(s)', d.day, dest_country, greatest(quota_left, 0)))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;

        earliest := greatest(d.day::timestamp AT TIME ZONE zone, d.earliest,
                             at + make_interval(hours => coalesce(notice_hours, 0)));
        travellers := (SELECT jsonb_agg(t ORDER BY o) FROM (
            SELECT jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', r.x #>> '{personalDetails,hoReturneeReference}'),
                                      'type', 'RETURNEE') t, i o
              FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY r(x, i)
            UNION ALL
            SELECT jsonb_build_object('traveller', jsonb_build_object('escortNumber', g), 'type', 'ESCORT'), 1000 + g
              FROM generate_series(1, d.escorts) g) s);
        k := 0;
        dropped := 0;
        -- One statement per date: the search, the choice, the check of the chosen itineraries'
        -- derived rows and their per-traveller costs all read one snapshot (the search and the
        -- check are STABLE functions of this query). A price load committing while the date is
        -- quoted is therefore seen by all of them or by none: it cannot make the check disagree
        -- with the search and drop an itinerary unreported (test/sql/55_tsp_flight_fares_quote_race.sh).
        -- The quotes_per_date best by expected cost; with offer_choice, also the cheapest and
        -- the best refundable itinerary of the date when they are not among them: the TSP ranks
        -- with one constant chance of cancellation, the buyer knows its removal's (the Hub
        -- re-ranks with its own, docs/hub.md "Best value"), so each kind is on offer. The first
        -- row always comes, with the counts that say why a date has no quote (flight1 NULL:
        -- nothing chosen).
        FOR it IN
            WITH cands AS MATERIALIZED (
                SELECT * FROM hublink.tsp_itineraries(origins, dests, earliest,
                                                      (d.day + 1)::timestamp AT TIME ZONE zone,
                                                      n_ret, d.escorts, coalesce(excluded, '{}'),
                                                      coalesce(no_transit, '{}'), refund_only,
                                                      p_cancel, h_cancel)),
            ranked AS (
                SELECT i.*,
                       row_number() OVER (ORDER BY i.expected_cost, i.price, i.departs_at, i.flight1, i.flight2) AS by_cost,
                       row_number() OVER (ORDER BY i.price, i.expected_cost, i.departs_at, i.flight1, i.flight2) AS by_price,
                       row_number() OVER (PARTITION BY i.refundable
                                          ORDER BY i.expected_cost, i.price, i.departs_at, i.flight1, i.flight2) AS by_kind
                  FROM cands i
                 WHERE i.seats_free >= n_ret + d.escorts
                   AND (limit_amount IS NULL OR (i.currency = limit_cur AND i.price <= limit_amount))
                   AND (cost_cur IS NULL
                        OR NOT EXISTS (SELECT FROM unnest(cost_cur, cost_amt) r(currency, amount)
                                        WHERE r.currency <> i.currency OR i.price > r.amount))),
            chosen AS MATERIALIZED (
                SELECT o.* FROM ranked o
                 WHERE o.by_cost <= per_date
                    OR (choice AND (o.by_price = 1 OR (o.refundable AND o.by_kind = 1)))),
            -- The derived rows of the chosen itineraries' flights only, against the exact
            -- derivation: a stale flag, fare, rule or price leaves its itineraries out.
            stale AS MATERIALIZED (
                SELECT hublink.tsp_flight_fares_stale(ARRAY(
                           SELECT c.flight1 FROM chosen c UNION SELECT c.flight2 FROM chosen c)) AS flights),
            counts AS (
                SELECT count(*) AS n_cands, count(*) FILTER (WHERE i.seats_free >= n_ret + d.escorts) AS n_seated
                  FROM cands i)
            SELECT cnt.n_cands, cnt.n_seated, y.*
              FROM counts cnt
              LEFT JOIN (
                  SELECT c.*, st.flights && ARRAY[c.flight1, c.flight2] AS row_stale, pt.costs, pt.true_price
                    FROM chosen c CROSS JOIN stale st
                   -- The per-traveller costs read from tsp_fare_price (what the quote shows and
                   -- tsp_book charges), which must add up to the price the search read.
                   CROSS JOIN LATERAL (
                       SELECT jsonb_agg(jsonb_build_object('traveller', t -> 'traveller',
                                                           'cost', hublink.tsp_money(a.amount, c.currency))) AS costs,
                              CASE WHEN bool_and(a.amount IS NOT NULL) THEN sum(a.amount) END AS true_price
                         FROM jsonb_array_elements(travellers) t
                        CROSS JOIN LATERAL (SELECT hublink.tsp_fare_amount(c.fare1, t ->> 'type')
                                                   + coalesce(hublink.tsp_fare_amount(c.fare2, t ->> 'type'), 0) AS amount
                                            -- OFFSET 0: computed once per traveller; pulled up, the
                                            -- expression was evaluated for each of its three uses
                                            OFFSET 0) a) pt
              ) y ON true
             ORDER BY y.by_cost
        LOOP
            n_cands := it.n_cands;
            n_seated := it.n_seated;
            CONTINUE WHEN it.flight1 IS NULL;
            -- An itinerary read from a stale derived row (any of its fares' columns, or a price
            -- that is not the sum of its per-traveller costs) is left out (its place is not given
            -- to the next one: the ranking was made on the stale row) and alerted below.
            costs := it.costs;
            IF it.row_stale OR it.true_price IS DISTINCT FROM it.price THEN
                dropped := dropped + 1;
                drift_flights := drift_flights || it.flight1 || it.flight2;
                CONTINUE;
            END IF;
            k := k + 1;
            n := n + 1;
            qref := prefix || n;
            segs := jsonb_build_array(hublink.tsp_segment_json(it.flight1, 'S1',
                        jsonb_path_query_array(travellers, '$[*].traveller')));
            IF it.flight2 IS NOT NULL THEN
                segs := segs || hublink.tsp_segment_json(it.flight2, 'S2',
                        jsonb_path_query_array(travellers, '$[*].traveller'));
            END IF;
            SELECT least(at + validity, min(f.departs_at - make_interval(hours => fa.ticketing_deadline_hours)))
              INTO expires
              FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
             WHERE fa.fare_id IN (it.fare1, it.fare2);
            q := jsonb_strip_nulls(jsonb_build_object(
                'travelQuoteReference', qref,
                'escortQuoteReference', d.eq_ref,
                'costs', jsonb_build_object('perTraveller', costs, 'total', hublink.tsp_money(it.price, it.currency),
                                      'expectedCost', hublink.tsp_money(it.expected_cost, it.currency)),
                'itinerary', segs,
                'conditions', jsonb_build_object(
                    'refundable', it.refundable,
                    'handBaggageOnly', it.hand_baggage_only,
                    'expiresAt', hublink.tsp_local_time(expires, zone),
                    'notes', hublink.tsp_conditions_text(it.fare1, it.fare2, it.price, it.expected_cost,
                                                        it.currency, p_cancel, h_cancel, k))));
            quotes := quotes || q;
            -- Its flights and fares in its own row (S1, then S2 for a connection).
            new_quotes := new_quotes || ROW(qref, removal_id, d.eq_ref, d.day, at, expires, it.currency,
                it.price, it.expected_cost, it.refundable, dest_country, travellers, q, 'QUOTED',
                CASE WHEN it.flight2 IS NULL THEN ARRAY[it.flight1] ELSE ARRAY[it.flight1, it.flight2] END,
                CASE WHEN it.flight2 IS NULL THEN ARRAY[it.fare1] ELSE ARRAY[it.fare1, it.fare2] END)::hublink.tsp_quote;
        END LOOP;
        IF k = 0 THEN
            -- Say why: with seats enough only the cost limits can have removed them.
            IF dropped > 0 THEN
                problems := problems || (format('%s: no itinerary could be priced (the fares the search read disagree with the price tables)', d.day))::text;
                codes := codes || 'OTHER'::text;
            ELSIF n_seated > 0 THEN
                problems := problems || (format('%s: no itinerary within the cost limit', d.day))::text;
                codes := codes || 'COST_LIMIT_EXCEEDED'::text;
            ELSIF n_cands > 0 THEN
                problems := problems || (format('%s: fewer than %s seats on every itinerary', d.day, n_ret + d.escorts))::text;
                codes := codes || 'NO_SEATS'::text;
            ELSE
                problems := problems || (format('%s: no flights fit the date and constraints', d.day))::text;
                codes := codes || 'NO_FLIGHTS'::text;
            END IF;
        END IF;
    END LOOP;

    IF cardinality(drift_flights) > 0 THEN
        PERFORM hublink.tsp_flight_fares_drift_alert(drift_flights);
    END IF;
    -- Set-wise: one statement per request, one audited row per quote (its segments in it).
    INSERT INTO hublink.tsp_quote SELECT * FROM unnest(new_quotes);

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'quotes', quotes,
        'noQuoteReason', CASE WHEN cardinality(problems) > 0 THEN jsonb_build_object(
            -- One code for the response: the one shared by every date, else OTHER.
            'code', CASE WHEN (SELECT count(DISTINCT c) FROM unnest(codes) c) = 1 THEN codes[1] ELSE 'OTHER' END,
            'text', left(array_to_string(problems, '; '), 4000)) END));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quote(jsonb, text, timestamptz) IS
    'Quotes a TravelQuoteRequest body: for each escort date (or travel date), up to '
    'quotes_per_date itineraries ranked by expected cost, and with offer_choice the cheapest and '
    'the best refundable itinerary of the date when they are not among them, obeying the TIG '
    'rules and the request''s constraints; stores them in tsp_quote and returns the '
    'TravelQuoteResponse body, with noQuoteReason (a decline code) naming the dates without quotes. '
    'An itinerary whose flights'' tsp_flight_fares rows differ from the exact derivation '
    '(hublink.tsp_flight_fares_stale: any fare id, flag, rule, fee or price), or whose searched price is not '
    'the sum of its per-traveller costs read from tsp_fare_price, is left out, and raises a fare_row_drift '
    'alert once per drift episode. Each date is searched, chosen and checked in one statement (one snapshot): '
    'a concurrent price load is seen by all of it or none.';
SELECT hublink.apply_access_policy();

-- from sql/updates/0.1.0--0.2.0/99_quote_compact.sql
-- 0.2.0: a quote's segments in the quote's own row (issue 15 section 5; docs/performance.md
-- "Quotes, fifth pass"). tsp_quote_segment (a row per flight, each audited, with a primary key
-- and three foreign keys) becomes a view over tsp_quote.flight_ids and fare_ids, so that its
-- readers (booking, purge, the demo) read the same rows; statement triggers replace the
-- foreign keys. One audited row per quote instead of two or three.

ALTER TABLE hublink.tsp_quote ADD COLUMN flight_ids bigint[], ADD COLUMN fare_ids bigint[];

-- Every quote 0.1.0 stored has one or two segments S1, S2 in travel order (its tsp_quote wrote
-- them so); anything else stops the update before it changes a row, rather than losing one.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT q.quote_ref INTO bad
      FROM hublink.tsp_quote q
      LEFT JOIN LATERAL (SELECT count(*) AS n,
                                bool_and(s.segment_id = 'S' || s.seq AND s.seq BETWEEN 1 AND 2) AS ok,
                                count(DISTINCT s.seq) AS seqs, max(s.seq) AS top
                           FROM hublink.tsp_quote_segment s WHERE s.quote_ref = q.quote_ref) s ON true
     WHERE s.n NOT BETWEEN 1 AND 2 OR NOT s.ok OR s.seqs <> s.n OR s.top <> s.n
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'quote % has segments that the compact form cannot hold', bad
            USING ERRCODE = 'data_exception',
                  DETAIL = 'A quote must have one or two segments S1 and S2 in travel order; nothing was changed.',
                  HINT = 'Delete or repair that quote''s rows in hublink.tsp_quote_segment, then update again.';
    END IF;
END;
$$;

UPDATE hublink.tsp_quote q
   SET flight_ids = s.flights, fare_ids = s.fares
  FROM (SELECT s.quote_ref, array_agg(s.flight_id ORDER BY s.seq) AS flights, array_agg(s.fare_id ORDER BY s.seq) AS fares
          FROM hublink.tsp_quote_segment s GROUP BY s.quote_ref) s
 WHERE s.quote_ref = q.quote_ref;

ALTER TABLE hublink.tsp_quote ALTER COLUMN flight_ids SET NOT NULL, ALTER COLUMN fare_ids SET NOT NULL,
    ADD CONSTRAINT tsp_quote_segments_shape CHECK (
        array_ndims(flight_ids) = 1 AND array_lower(flight_ids, 1) = 1
        AND cardinality(flight_ids) BETWEEN 1 AND 2
        AND array_ndims(fare_ids) = 1 AND array_lower(fare_ids, 1) = 1
        AND cardinality(fare_ids) = cardinality(flight_ids)
        AND array_position(flight_ids, NULL) IS NULL AND array_position(fare_ids, NULL) IS NULL);
COMMENT ON COLUMN hublink.tsp_quote.flight_ids IS
    'The flights of the quote in travel order (segment n is Sn; hublink.tsp_quote_segment lists them): 1 or 2, no NULL.';
COMMENT ON COLUMN hublink.tsp_quote.fare_ids IS
    'The fare quoted on each flight of flight_ids, at the same position; each belongs to its flight.';
COMMENT ON CONSTRAINT tsp_quote_segments_shape ON hublink.tsp_quote IS
    'flight_ids and fare_ids: one dimension from 1, one or two segments, as many fares as flights, no NULL.';

-- Out of the extension first: that also takes it out of the extension's list of tables that
-- pg_dump dumps (0.1.0 registered it), which a plain DROP TABLE leaves naming a table that is gone.
ALTER EXTENSION hublink DROP TABLE hublink.tsp_quote_segment;
DROP TABLE hublink.tsp_quote_segment;

-- hublink.tsp_quote_check_segments, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_quote_check_segments() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    -- Lock the quoted fares as the foreign keys did (FOR KEY SHARE): a fare deleted by another
    -- transaction still open would pass the check below, and that transaction's own check
    -- (tsp_quoted_keep) cannot see this quote before it commits; with the lock the delete
    -- waits for this commit and then sees the quote (test/sql/54_tsp_quote_lock.sh).
    PERFORM FROM hublink.tsp_fare fa
     WHERE fa.fare_id IN (SELECT u.fare_id FROM new_rows n CROSS JOIN LATERAL unnest(n.fare_ids) u(fare_id))
     ORDER BY fa.fare_id FOR KEY SHARE OF fa;
    SELECT n.quote_ref, s.seq, s.flight_id, s.fare_id INTO bad
      FROM new_rows n
      CROSS JOIN LATERAL unnest(n.flight_ids, n.fare_ids) WITH ORDINALITY s(flight_id, fare_id, seq)
     WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.fare_id = s.fare_id AND fa.flight_id = s.flight_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'quote % segment S%: fare % is not a fare of flight %', bad.quote_ref, bad.seq, bad.fare_id, bad.flight_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Every segment of a quote names an existing flight and one of that flight''s fares.',
                  HINT = 'Quote with hublink.tsp_quote, which takes flights and fares from the schedule.';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quote_check_segments() IS
    'Statement trigger on tsp_quote: every (flight_ids[n], fare_ids[n]) names an existing fare of that flight.';
-- hublink.tsp_quote.tsp_quote_check_segments_insert, as defined in sql/parts
CREATE TRIGGER tsp_quote_check_segments_insert AFTER INSERT ON hublink.tsp_quote
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quote_check_segments();
COMMENT ON TRIGGER tsp_quote_check_segments_insert ON hublink.tsp_quote IS
    'The quoted fares exist and belong to their flights (in place of foreign keys on array elements).';
-- hublink.tsp_quote.tsp_quote_check_segments_update, as defined in sql/parts
CREATE TRIGGER tsp_quote_check_segments_update AFTER UPDATE ON hublink.tsp_quote
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quote_check_segments();
COMMENT ON TRIGGER tsp_quote_check_segments_update ON hublink.tsp_quote IS
    'The quoted fares exist and belong to their flights (in place of foreign keys on array elements).';

-- The rows just migrated pass the check the trigger makes from now on.
DO $$
BEGIN
    IF EXISTS (SELECT FROM hublink.tsp_quote q
                CROSS JOIN LATERAL unnest(q.flight_ids, q.fare_ids) s(flight_id, fare_id)
                WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.fare_id = s.fare_id AND fa.flight_id = s.flight_id)) THEN
        RAISE EXCEPTION 'a stored quote names a fare that is not a fare of its flight'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'tsp_quote_segment held a fare of another flight; nothing was changed.',
                  HINT = 'Repair the quote''s segments in 0.1.0, then update again.';
    END IF;
END;
$$;

-- hublink.tsp_quoted_keep, as defined in sql/parts
CREATE OR REPLACE FUNCTION hublink.tsp_quoted_keep() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
-- The fares that are gone (deleted, or changed by an update; an update of availability, the
-- usual one, finds none by index look-ups and stops there), then one scan of tsp_quote only
-- when there are some: no index on the arrays is kept on the quoting path.
DECLARE
    gone bigint[];
    bad  record;
BEGIN
    gone := ARRAY(SELECT o.fare_id FROM old_rows o
                   WHERE TG_OP = 'DELETE' OR NOT EXISTS (SELECT FROM hublink.tsp_fare f
                                                          WHERE f.fare_id = o.fare_id AND f.flight_id = o.flight_id));
    IF cardinality(gone) = 0 THEN
        RETURN NULL;
    END IF;
    SELECT q.quote_ref, x.id INTO bad
      FROM hublink.tsp_quote q CROSS JOIN LATERAL unnest(q.fare_ids) x(id)
     WHERE x.id = ANY (gone) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'fare % is named by quote %', bad.id, bad.quote_ref
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A quote keeps the flights and fares it quoted, so that its booking takes exactly them.',
                  HINT = 'Purge the removal''s quotes first (hublink.purge_removal), or make the fare unavailable or cancel the flight instead.';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quoted_keep() IS
    'Statement trigger on tsp_fare: refuses to delete a fare (also by a flight''s cascade), or change its id or flight, '
    'while a tsp_quote names it.';
-- hublink.tsp_fare.tsp_quoted_keep_delete, as defined in sql/parts
CREATE TRIGGER tsp_quoted_keep_delete AFTER DELETE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quoted_keep();
COMMENT ON TRIGGER tsp_quoted_keep_delete ON hublink.tsp_fare IS 'No quoted fare is deleted (hublink.tsp_quoted_keep).';
-- hublink.tsp_fare.tsp_quoted_keep_update, as defined in sql/parts
CREATE TRIGGER tsp_quoted_keep_update AFTER UPDATE ON hublink.tsp_fare
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hublink.tsp_quoted_keep();
COMMENT ON TRIGGER tsp_quoted_keep_update ON hublink.tsp_fare IS 'No quoted fare''s id or flight changes (hublink.tsp_quoted_keep).';

-- hublink.tsp_quote_segment, as defined in sql/parts
CREATE OR REPLACE VIEW hublink.tsp_quote_segment AS
    SELECT q.quote_ref, 'S' || s.seq AS segment_id, s.seq::integer AS seq, s.flight_id, s.fare_id
      FROM hublink.tsp_quote q
      CROSS JOIN LATERAL unnest(q.flight_ids, q.fare_ids) WITH ORDINALITY s(flight_id, fare_id, seq);
COMMENT ON VIEW hublink.tsp_quote_segment IS
    'The flights and fares of a quote, one row per PLANE segment (read from tsp_quote.flight_ids and fare_ids).';
COMMENT ON COLUMN hublink.tsp_quote_segment.quote_ref IS 'The quote.';
COMMENT ON COLUMN hublink.tsp_quote_segment.segment_id IS 'segmentId in the quote (S1, S2).';
COMMENT ON COLUMN hublink.tsp_quote_segment.seq IS 'Travel order.';
COMMENT ON COLUMN hublink.tsp_quote_segment.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_quote_segment.fare_id IS 'The fare quoted on it.';

-- tsp_quote and tsp_book (current definitions, parts 66 and earlier) already write and read
-- the new form.
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();

-- What pg_dump dumps, as in a fresh install (sql/parts/97_backup.sql)
SELECT hublink.backup_register();

-- The shipped schemas, from schemas/*.json
SELECT hublink.install_shipped_schema('common', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/common/1.0",
  "title": "Common definitions",
  "description": "Data sets shared by several messages of Schedule R Appendix A (returnee, travel document, risk assessment, location, escort, escort segment, itinerary segment, money, reason). Not a message: the message schemas reference these by absolute URI, e.g. https://hublink.example/schemas/common/1.0#/$defs/money.",
  "$comment": "Conventions. (1) Every object is closed with additionalProperties:false. (2) Codes that are reference data (reasons, conditions, risk flags, transport types, detention centre and prison IDs) are strings matching ^[A-Z][A-Z0-9_]{1,39}$ and are checked against tables by the extension, never enums here: the lists change without a schema version. enum/const are used only where Appendix A fixes the list. (3) Patterns use only the subset shared by ECMA-262 and POSIX ERE ([...], {m,n}, ^, $, |, ?) so that ajv and the C validator agree. (4) Conditional subschemas repeat \"properties\": {\"x\": true} next to \"required\": [\"x\"] so that ajv's strictRequired accepts them; they change nothing for validation.",
  "$defs": {
    "removalId": {
      "type": "string",
      "pattern": "^RMV-[0-9]{4}-[0-9]{6}$",
      "description": "Travel request identifier (Appendix A 'Removal reference'), issued by the Hub: RMV-, the year the removal was opened, a hyphen and a six-digit serial, e.g. RMV-2026-000123. The business key of the whole conversation."
    },
    "code": {
      "type": "string",
      "pattern": "^[A-Z][A-Z0-9_]{1,39}$",
      "description": "A reference-data code: upper-case letters, digits and underscores, 2 to 40 characters, starting with a letter. Valid values are rows in the extension's reference tables, not part of the schema."
    },
    "reason": {
      "type": "object",
      "additionalProperties": false,
      "required": ["code"],
      "description": "A reason from a predefined, changeable list (reference data), with optional free text. Appendix A 4.8 'one of a list of predefined options (that realistically will be modified over time)'.",
      "properties": {
        "code": { "$ref": "#/$defs/code", "description": "Reason code, e.g. FLIGHT_CANCELLED, RETURNEE_ILL, LEGAL_CHALLENGE; checked against the reason-code table." },
        "text": { "$ref": "#/$defs/freeText", "description": "Free-text detail of the reason, for the case worker; not used for reporting." }
      }
    },
    "codedValue": {
      "type": "object",
      "additionalProperties": false,
      "required": ["code"],
      "description": "A coded value from reference data with optional free-text detail (e.g. a medical or noted condition).",
      "properties": {
        "code": { "$ref": "#/$defs/code", "description": "The code, e.g. WHEELCHAIR, BLIND." },
        "text": { "$ref": "#/$defs/freeText", "description": "Free-text detail." }
      }
    },
    "freeText": {
      "type": "string",
      "minLength": 1,
      "maxLength": 4000,
      "description": "Free text (Appendix A fall-back fields 'Other', 'Free text'), 1 to 4000 characters."
    },
    "name": {
      "type": "string",
      "minLength": 1,
      "maxLength": 100,
      "description": "A name part, 1 to 100 characters, as written on the travel document."
    },
    "providerReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "A reference issued by a party: upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "escortQuoteReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "Escort quote reference (Appendix A 4.2 'Escort quote ID'), issued by the Escort Service Provider, one per escort quote (per date); upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "travelQuoteReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "Travel quote reference (Appendix A 4.4), issued by the Travel Service Provider, one per travel quote; upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "hoReturneeReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/-]{2,29}$",
      "description": "Home Office returnee reference (HO returnee ID), e.g. HO-7731904."
    },
    "segmentId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9_-]{0,15}$",
      "description": "Segment ID, unique within the quote that defines it (escort segments: the Escort Service Provider's; itinerary segments: the Travel Service Provider's), e.g. S1."
    },
    "escortId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9_-]{1,19}$",
      "description": "The Escort Service Provider's identifier of one escort officer (a person), e.g. ESC-40117."
    },
    "escortNumber": {
      "type": "integer",
      "minimum": 1,
      "maximum": 99,
      "description": "Ordinal of an escort position in the escort quote (escort 1, escort 2, ...), the key that links escort types, effort, seats and names."
    },
    "vehicleId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9 -]{1,19}$",
      "description": "Vehicle identifier: registration mark or fleet number, e.g. LX24 EKU."
    },
    "date": {
      "type": "string",
      "format": "date",
      "description": "A calendar date, RFC 3339 full-date (YYYY-MM-DD), in UK local terms."
    },
    "dateTime": {
      "type": "string",
      "format": "date-time",
      "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$",
      "description": "A timestamp with its UTC offset, RFC 3339 date-time with an upper-case T, seconds, at most six fractional digits (PostgreSQL timestamptz precision) and a mandatory offset, e.g. 2026-03-17T11:10:00+00:00. Local times carry the local offset of the place."
    },
    "uuid": {
      "type": "string",
      "format": "uuid",
      "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
      "description": "A UUID (RFC 4122) in canonical lower-case hyphenated form, so that equal IDs are equal strings (no urn:uuid: prefix, no upper case)."
    },
    "countryCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "Country, ISO 3166-1 alpha-3, e.g. GBR, NGA."
    },
    "languageCode": {
      "type": "string",
      "pattern": "^[a-z]{2,3}$",
      "description": "Language, ISO 639-1 (two letters) or ISO 639-3 (three letters) code, e.g. en, yo."
    },
    "gender": {
      "type": "string",
      "pattern": "^[MFX]$",
      "description": "Sex as shown on travel documents, ICAO Doc 9303 marker: M, F or X (unspecified)."
    },
    "iataAirportCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "IATA airport (location) code, e.g. LHR, LOS."
    },
    "iataCarrierCode": {
      "type": "string",
      "pattern": "^[A-Z0-9]{2}$",
      "description": "IATA airline designator (two characters), e.g. BA, VS, W3."
    },
    "flightNumber": {
      "type": "string",
      "pattern": "^[0-9]{1,4}[A-Z]?$",
      "description": "Flight number without the carrier designator: 1 to 4 digits and an optional operational suffix letter, e.g. 75 (with carrierCode BA: BA75)."
    },
    "currencyCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "Currency, ISO 4217 alphabetic code, e.g. GBP."
    },
    "money": {
      "type": "object",
      "additionalProperties": false,
      "required": ["amount", "currency"],
      "description": "An amount of money: a decimal string and an ISO 4217 currency. Strings avoid binary floating-point error; the extension stores them as numeric(14,2).",
      "properties": {
        "amount": {
          "type": "string",
          "pattern": "^(0|[1-9][0-9]{0,11})[.][0-9]{2}$",
          "description": "Non-negative decimal amount as a string with exactly two fractional digits and no sign, exponent or thousands separator, e.g. \"1234.50\". Direction (charge, refund) is given by the field that holds it."
        },
        "currency": { "$ref": "#/$defs/currencyCode", "description": "ISO 4217 currency of the amount, e.g. GBP." }
      }
    },
    "personName": {
      "type": "object",
      "additionalProperties": false,
      "required": ["givenNames", "familyName"],
      "description": "A person's name in parts, as on the travel document.",
      "properties": {
        "title": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Title or honorific, e.g. Mr, Ms." },
        "givenNames": { "$ref": "#/$defs/name", "description": "All given names, space-separated, in document order." },
        "familyName": { "$ref": "#/$defs/name", "description": "Family name (surname)." }
      }
    },
    "personalDetails": {
      "type": "object",
      "additionalProperties": false,
      "required": ["hoReturneeReference", "name", "dateOfBirth", "nationality", "gender"],
      "description": "Personal, static information about one returnee (Appendix A 4.1 and 4.3 'Personal Details').",
      "properties": {
        "hoReturneeReference": { "$ref": "#/$defs/hoReturneeReference", "description": "Home Office returnee reference." },
        "name": { "$ref": "#/$defs/personName", "description": "The returnee's name." },
        "dateOfBirth": { "$ref": "#/$defs/date", "description": "Date of birth." },
        "nationality": { "$ref": "#/$defs/countryCode", "description": "Nationality, ISO 3166-1 alpha-3." },
        "gender": { "$ref": "#/$defs/gender", "description": "Sex as on the travel document (M, F, X)." },
        "conditions": {
          "type": "array",
          "items": { "$ref": "#/$defs/codedValue" },
          "description": "Medical or noted conditions the providers must plan for, e.g. {\"code\": \"WHEELCHAIR\"}, {\"code\": \"BLIND\"}; empty or absent when none."
        }
      }
    },
    "travelDocument": {
      "type": "object",
      "additionalProperties": false,
      "required": ["type", "number", "issuingCountry"],
      "description": "A document that lets the holder travel (Appendix A 4.3 'Travel Document').",
      "properties": {
        "type": {
          "type": "string",
          "enum": ["PASSPORT", "NATIONAL_IDENTITY_CARD", "EMERGENCY_TRAVEL_DOCUMENT"],
          "description": "Document type, the list fixed by Appendix A 4.3: passport, national identity card, emergency travel document."
        },
        "number": {
          "type": "string",
          "pattern": "^[A-Z0-9]{5,20}$",
          "description": "Document number, upper-case letters and digits, 5 to 20 characters."
        },
        "issuingCountry": { "$ref": "#/$defs/countryCode", "description": "Issuing state, ISO 3166-1 alpha-3." },
        "expiryDate": { "$ref": "#/$defs/date", "description": "Date of expiry, when known." }
      }
    },
    "riskFlags": {
      "type": "array",
      "uniqueItems": true,
      "items": { "$ref": "#/$defs/code" },
      "description": "A set of risk flag codes (reference data), e.g. VIOLENT, DISRUPTIVE, SEXUAL_OFFENDER, SELF_HARM; empty when none apply."
    },
    "escortRiskAssessment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["flags"],
      "description": "Escort risk assessment of one returnee (Appendix A 4.1): the variable attributes the Escort Service Provider needs, more than the Travel Service Provider sees but not the Home Office's full risk record.",
      "properties": {
        "flags": { "$ref": "#/$defs/riskFlags", "description": "Risk flags for escorting, e.g. VIOLENT, DISRUPTIVE, SEXUAL_OFFENDER." },
        "notes": { "$ref": "#/$defs/freeText", "description": "Free-text detail the escorts need." }
      }
    },
    "travelRiskAssessment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["flags"],
      "description": "Travel risk assessment of one returnee (Appendix A 4.3): the small subset of risk information carriers may refuse travel on.",
      "properties": {
        "flags": { "$ref": "#/$defs/riskFlags", "description": "Risk flags for carriers, a subset of the escort flags, e.g. VIOLENT, DISRUPTIVE; which flags may be passed to a TSP is reference data." },
        "escortsRequired": { "type": "integer", "minimum": 0, "maximum": 20, "description": "Number of escorts who travel with this returnee (0 for unescorted)." }
      }
    },
    "address": {
      "type": "object",
      "additionalProperties": false,
      "required": ["lines", "town", "country"],
      "description": "A postal address.",
      "properties": {
        "lines": {
          "type": "array",
          "minItems": 1,
          "maxItems": 4,
          "items": { "type": "string", "minLength": 1, "maxLength": 100 },
          "description": "Address lines before the town, 1 to 4."
        },
        "town": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Post town or city." },
        "postcode": { "type": "string", "pattern": "^[A-Z0-9][A-Z0-9 -]{1,9}$", "description": "Postcode in upper case, e.g. UB7 0HB." },
        "country": { "$ref": "#/$defs/countryCode", "description": "Country, ISO 3166-1 alpha-3." }
      }
    },
    "returneeLocation": {
      "description": "Where a returnee is most likely to be at departure (Appendix A 4.1, 4.3 'Returnee Location'): exactly one of a detention centre, a prison or a specific address.",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["detentionCentreId"],
          "title": "Detention centre",
          "properties": {
            "detentionCentreId": { "$ref": "#/$defs/code", "description": "Immigration removal centre ID (reference data), e.g. HARMONDSWORTH_IRC." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["prisonId"],
          "title": "Prison",
          "properties": {
            "prisonId": { "$ref": "#/$defs/code", "description": "Prison ID (reference data), e.g. HMP_WANDSWORTH." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["address"],
          "title": "Specific address",
          "properties": {
            "address": { "$ref": "#/$defs/address", "description": "A specific address." }
          }
        }
      ]
    },
    "place": {
      "description": "A start or finish point of an escort segment: a returnee location (detention centre, prison, address), an airport, or another named place.",
      "oneOf": [
        { "$ref": "#/$defs/returneeLocation" },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["airportCode"],
          "title": "Airport",
          "properties": {
            "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "IATA airport code." },
            "terminal": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Terminal, e.g. 5." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["description"],
          "title": "Other place",
          "properties": {
            "description": { "type": "string", "minLength": 1, "maxLength": 200, "description": "A place named in free text (station, port, escort base)." }
          }
        }
      ]
    },
    "dateRange": {
      "type": "object",
      "additionalProperties": false,
      "required": ["earliestLeaveDate", "latestLeaveDate"],
      "description": "The dates over which the returnee(s) may travel (Appendix A 4.1 'Dates'). latestLeaveDate >= earliestLeaveDate is checked by the extension.",
      "properties": {
        "earliestLeaveDate": { "$ref": "#/$defs/date", "description": "Earliest leave date." },
        "latestLeaveDate": { "$ref": "#/$defs/date", "description": "Latest leave date." },
        "exclusionDates": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/date" },
          "description": "Dates within the range on which travel must not take place."
        }
      }
    },
    "destination": {
      "type": "object",
      "additionalProperties": false,
      "required": ["description", "country"],
      "description": "Where the returnee(s) are to go (Appendix A 4.3 'Destination', free text location), with the country and, when known, the airport.",
      "properties": {
        "description": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Free-text destination, e.g. Lagos, Nigeria." },
        "country": { "$ref": "#/$defs/countryCode", "description": "Destination country, ISO 3166-1 alpha-3." },
        "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "Preferred arrival airport, IATA code." }
      }
    },
    "escortPosition": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortNumber", "medic"],
      "description": "One escort position and its type (Appendix A 4.2 'Escort Info': escort number and type by gender, physique, language, medic).",
      "properties": {
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "Escort number: the position's ordinal, 1 for escort 1." },
        "gender": { "$ref": "#/$defs/gender", "description": "Required gender of the escort, when it matters." },
        "physique": { "$ref": "#/$defs/code", "description": "Physique category (reference data), e.g. STANDARD, ENHANCED." },
        "languages": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/languageCode" },
          "description": "Languages the escort must speak, ISO 639 codes."
        },
        "medic": { "type": "boolean", "description": "True when this position is a medic (paramedic, nurse) rather than an escort officer." },
        "role": { "$ref": "#/$defs/code", "description": "Role in the team (reference data), e.g. TEAM_LEADER, ESCORT, MEDIC." }
      }
    },
    "escortSegment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "startPoint", "finishPoint", "transportType", "returneePresent"],
      "description": "One journey of the escorting (Appendix A 4.2 'Escort Segment'): segments vary by means of transport, by whether the returnee is present and by escort team (hand-overs).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "Segment ID, unique in the escort quote response." },
        "startPoint": { "$ref": "#/$defs/place", "description": "Start point." },
        "finishPoint": { "$ref": "#/$defs/place", "description": "Finish point." },
        "transportType": { "$ref": "#/$defs/code", "description": "Means of transport (reference data), e.g. ESCORT_VEHICLE, SCHEDULED_FLIGHT, CHARTER_FLIGHT, TRAIN, FERRY." },
        "returneePresent": { "type": "boolean", "description": "True when the returnee travels on this segment (false e.g. for the escorts' journey home)." },
        "plannedStart": { "$ref": "#/$defs/dateTime", "description": "Planned start, local time with offset, when known." },
        "plannedFinish": { "$ref": "#/$defs/dateTime", "description": "Planned finish, local time with offset, when known." },
        "escortNumbers": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/escortNumber" },
          "description": "The escort positions on this segment; all when absent."
        }
      }
    },
    "escortEffort": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "escortNumber"],
      "description": "Effort of one escort on one segment (Appendix A 4.2 'Escort Effort': per segment per escort a cost or a time duration); at least one of cost and durationMinutes.",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The escort segment." },
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position." },
        "cost": { "$ref": "#/$defs/money", "description": "Cost of this escort on this segment." },
        "durationMinutes": { "type": "integer", "minimum": 0, "maximum": 10080, "description": "Time this escort spends on this segment, in minutes." }
      },
      "anyOf": [
        { "properties": { "cost": true }, "required": ["cost"] },
        { "properties": { "durationMinutes": true }, "required": ["durationMinutes"] }
      ]
    },
    "advancePassengerInfo": {
      "type": "object",
      "additionalProperties": false,
      "minProperties": 1,
      "description": "Advance passenger information (API) of an escort; optional and possibly partial until travel (Appendix A 4.2, 4.7, 4.10, 4.11).",
      "properties": {
        "dateOfBirth": { "$ref": "#/$defs/date", "description": "Date of birth." },
        "nationality": { "$ref": "#/$defs/countryCode", "description": "Nationality, ISO 3166-1 alpha-3." },
        "gender": { "$ref": "#/$defs/gender", "description": "Sex as on the travel document." },
        "travelDocument": { "$ref": "#/$defs/travelDocument", "description": "The escort's travel document (passport number, issuing country, expiry)." }
      }
    },
    "escort": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortId", "name"],
      "description": "One named escort (officer or medic).",
      "properties": {
        "escortId": { "$ref": "#/$defs/escortId", "description": "The Escort Service Provider's ID of the person." },
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position this person fills, when assigned to one." },
        "name": { "$ref": "#/$defs/personName", "description": "Name as on the travel document (mandatory for ticketing)." },
        "specialMeal": { "type": "string", "pattern": "^[A-Z]{4}$", "description": "In-flight meal request, IATA SSR special meal code, e.g. VGML (vegetarian)." },
        "advancePassengerInfo": { "$ref": "#/$defs/advancePassengerInfo", "description": "Advance passenger information, when available." }
      }
    },
    "escortAssignment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "escortId"],
      "description": "Which escort works on which segment, and in which vehicle (Appendix A 4.2 'Escort details': per segment, the names of the escorts and the vehicle ID).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The escort segment." },
        "escortId": { "$ref": "#/$defs/escortId", "description": "The escort, one of escortDetails/escorts." },
        "vehicleId": { "$ref": "#/$defs/vehicleId", "description": "Vehicle for road segments." }
      }
    },
    "escortDetails": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escorts"],
      "description": "Named escorts and their segment assignments for one escort quote (Appendix A 4.2 'Escort details', 4.6).",
      "properties": {
        "escorts": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "#/$defs/escort" },
          "description": "The named escorts."
        },
        "assignments": {
          "type": "array",
          "items": { "$ref": "#/$defs/escortAssignment" },
          "description": "Per segment, the escorts and vehicle."
        }
      }
    },
    "travellerRef": {
      "description": "One traveller on a travel quote or booking: a returnee (by HO reference) or an escort position (by escort number).",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["hoReturneeReference"],
          "title": "Returnee",
          "properties": {
            "hoReturneeReference": { "$ref": "#/$defs/hoReturneeReference", "description": "The returnee." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["escortNumber"],
          "title": "Escort",
          "properties": {
            "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position." }
          }
        }
      ]
    },
    "itineraryPoint": {
      "type": "object",
      "additionalProperties": false,
      "minProperties": 1,
      "description": "Start or end point of an itinerary segment: an airport (IATA code) for PLANE segments, otherwise a named station, port or hotel.",
      "properties": {
        "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "IATA airport code (required for PLANE segments)." },
        "terminal": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Terminal, when known." },
        "name": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Name of the station, port, hotel or airport." }
      }
    },
    "itinerarySegment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "segmentType", "providerName", "startPoint", "startTime", "endTime"],
      "description": "One segment of a travel itinerary (Appendix A 4.4 'Travel itinerary': start and end times and locations, reference IDs, carrier ID, segment type). For HOTEL, startTime/endTime are check-in/check-out and endPoint is absent. PLANE segments require carrierCode, flightNumber and airport codes at both ends.",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "Segment ID, unique in the travel quote." },
        "segmentType": {
          "type": "string",
          "enum": ["PLANE", "FERRY", "TRAIN", "COACH", "HOTEL"],
          "description": "Segment type (Appendix A 4.4 'plane, ferry etc.'): PLANE, FERRY, TRAIN, COACH, HOTEL. An enum because the required fields depend on it; a new type is a new schema version."
        },
        "providerName": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Provider name, e.g. British Airways, Marriott." },
        "carrierCode": { "$ref": "#/$defs/iataCarrierCode", "description": "IATA designator of the marketing carrier (PLANE)." },
        "flightNumber": { "$ref": "#/$defs/flightNumber", "description": "Flight number (PLANE), with carrierCode the flight designator." },
        "providerReference": { "$ref": "#/$defs/providerReference", "description": "The provider's own reference for the segment (e.g. hotel reservation number), when it has one." },
        "startPoint": { "$ref": "#/$defs/itineraryPoint", "description": "Departure point (the hotel for HOTEL)." },
        "endPoint": { "$ref": "#/$defs/itineraryPoint", "description": "Arrival point; absent for HOTEL." },
        "startTime": { "$ref": "#/$defs/dateTime", "description": "Local departure (check-in) time with the offset of startPoint." },
        "endTime": { "$ref": "#/$defs/dateTime", "description": "Local arrival (check-out) time with the offset of endPoint." },
        "travellers": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "#/$defs/travellerRef" },
          "description": "Who travels on this segment; everyone on the quote when absent."
        }
      },
      "if": {
        "properties": { "segmentType": { "const": "PLANE" } },
        "required": ["segmentType"]
      },
      "then": {
        "properties": {
          "carrierCode": true,
          "flightNumber": true,
          "startPoint": { "type": "object", "properties": { "airportCode": true }, "required": ["airportCode"] },
          "endPoint": { "type": "object", "properties": { "airportCode": true }, "required": ["airportCode"] }
        },
        "required": ["carrierCode", "flightNumber", "endPoint"]
      },
      "else": {
        "if": {
          "properties": { "segmentType": { "const": "HOTEL" } },
          "required": ["segmentType"]
        },
        "then": { "properties": { "endPoint": false } },
        "else": { "properties": { "endPoint": true }, "required": ["endPoint"] }
      }
    },
    "segmentActuals": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "departedAt", "arrivedAt"],
      "description": "Actual times of one completed segment (Appendix A 4.10, 4.12 'Completed info': date time leave, date time arrive).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The segment completed." },
        "departedAt": { "$ref": "#/$defs/dateTime", "description": "Actual departure, local time with offset." },
        "arrivedAt": { "$ref": "#/$defs/dateTime", "description": "Actual arrival, local time with offset." }
      }
    },
    "financial": {
      "type": "object",
      "additionalProperties": false,
      "required": ["reason"],
      "description": "Financial consequence of post-booking changes (Appendix A 4.12 'Financial': refund info, fee info, reason); at least one amount.",
      "properties": {
        "refund": { "$ref": "#/$defs/money", "description": "Amount refunded to the Home Office." },
        "changeFee": { "$ref": "#/$defs/money", "description": "Change fee charged." },
        "cancellationFee": { "$ref": "#/$defs/money", "description": "Cancellation fee charged." },
        "reason": { "$ref": "#/$defs/reason", "description": "Why the amounts arise, e.g. NAME_CHANGE, CANCELLED_BY_HO." },
        "notes": { "$ref": "#/$defs/freeText", "description": "Free-text detail." }
      },
      "anyOf": [
        { "properties": { "refund": true }, "required": ["refund"] },
        { "properties": { "changeFee": true }, "required": ["changeFee"] },
        { "properties": { "cancellationFee": true }, "required": ["cancellationFee"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('envelope', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/envelope/1.0",
  "title": "Message envelope",
  "description": "The envelope every Hub message shares (docs/architecture.md 'The message contract'; Schedule R Appendix D 'Message format'): identity, type, schema version, time, sender and removal, with the message's Appendix A data set in body. Not a message of its own: each message schema references it and narrows messageType, schemaVersion, sender and body.",
  "$comment": "The envelope declares all seven properties and is closed with additionalProperties:false. A message schema is {\"$ref\": envelope, \"properties\": {messageType: const, schemaVersion: const, sender: const, body: the message's body}}: it only narrows properties the envelope already declares and never adds one, so additionalProperties:false here is correct under 2020-12 (and draft-07) without unevaluatedProperties, whose annotation tracking every validator would need. body is closed by the message schema's own additionalProperties:false.",
  "type": "object",
  "additionalProperties": false,
  "required": ["messageId", "messageType", "schemaVersion", "sentAt", "sender", "removalId", "body"],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the sender; the idempotency key: a message seen twice has one effect."
    },
    "messageType": {
      "type": "string",
      "pattern": "^[A-Z][A-Za-z]{2,63}$",
      "description": "Message type in PascalCase, e.g. TravelQuoteRequest; each message schema fixes it with const."
    },
    "schemaVersion": {
      "type": "string",
      "pattern": "^[0-9]+[.][0-9]+$",
      "description": "Version of the message schema the sender used, major.minor, e.g. 1.0; the last segment of the schema's $id."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the sender published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "type": "string",
      "enum": ["HUB", "TSP", "ESP"],
      "description": "The party that sent the message: HUB (Home Office), TSP (Travel Service Provider) or ESP (Escort Service Provider); each message schema fixes it with const."
    },
    "removalId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/removalId",
      "description": "Travel request identifier (removal reference), the business key of the conversation, e.g. RMV-2026-000123."
    },
    "body": {
      "type": "object",
      "description": "The message's data set from Schedule R Appendix A; its shape is defined by each message schema."
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('error', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/error/1.0",
  "title": "Error",
  "description": "Schedule R Appendix D 'Error handling' (docs/architecture.md 'The message contract'). The consumer of a queue Q answers a message it cannot process (not JSON, invalid against its schema, unknown references, impossible in the conversation's state) on Q-error, with a new messageId, the failed message's messageId and removalId where they could be read, the time, the queue and one entry per problem. Business refusals (no flights, escorts unavailable, quote expired) are not errors: they are declines in the business messages.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema: removalId is optional here (absent when the failed message could not be read), whereas the envelope requires it.",
  "x-hublink-section": "D",
  "x-hublink-queue": "<queue>-error",
  "x-hublink-recipient": "the party that published the failed message",
  "type": "object",
  "additionalProperties": false,
  "required": ["messageId", "messageType", "schemaVersion", "sentAt", "sender", "body"],
  "properties": {
    "messageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "New, unique ID of this error message." },
    "messageType": { "const": "Error", "description": "Always Error." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sentAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When the problem was found and this error published." },
    "sender": { "type": "string", "enum": ["HUB", "TSP", "ESP"], "description": "The party that consumed the failed message and reports the error." },
    "removalId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/removalId", "description": "removalId of the failed message, when it could be read; absent otherwise." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["queue", "problems"],
      "description": "What failed and why.",
      "properties": {
        "failedMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the failed message, when it could be read; absent otherwise." },
        "failedMessageType": { "type": "string", "pattern": "^[A-Z][A-Za-z]{2,63}$", "description": "messageType of the failed message, when it could be read." },
        "failedSentAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "sentAt (time stamp) of the failed message, when it could be read." },
        "queue": {
          "type": "string",
          "pattern": "^(escort|travel)-(quote-request|quote-response|booking-request|booking-response|amendment|update|cancellation|reference-list-update)$",
          "description": "The queue the failed message was consumed from (this error is published on <queue>-error)."
        },
        "problems": {
          "type": "array",
          "minItems": 1,
          "maxItems": 100,
          "description": "One entry per problem found (at most 100; validation stops there).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["instanceLocation", "keywordLocation", "error"],
            "description": "One problem.",
            "properties": {
              "instanceLocation": {
                "type": "string",
                "pattern": "^(/([^~/]|~[01])*)*$",
                "description": "JSON pointer (RFC 6901) to the offending value in the failed message; \"\" for the whole message (e.g. not JSON)."
              },
              "keywordLocation": {
                "type": "string",
                "pattern": "^(/([^~/]|~[01])*)*$",
                "description": "JSON pointer into the message's schema to the keyword that failed, e.g. /properties/body/properties/quotes/items/required; \"\" when the problem is not a schema violation (not JSON, unknown reference, state)."
              },
              "error": { "type": "string", "minLength": 1, "maxLength": 1000, "description": "Readable description of the problem, lower case, e.g. \"must have required property 'travelQuoteReference'\"." },
              "code": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code", "description": "Problem class, e.g. NOT_JSON, SCHEMA, UNKNOWN_REFERENCE, INVALID_STATE, DUPLICATE." }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-amendment', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-amendment/1.0",
  "title": "Escort amendment",
  "description": "Schedule R Appendix A 4.9 (Message 9). The Home Office asks the Escort Service Provider to change a confirmed booking: segments affected are identified and their new detail specified (a segment cancelled, two segments replaced by one), returnee changes (location, risk profile) passed on, and anything else in free text. Most amendments are answered by an escort update.",
  "$comment": "At least one of segmentChanges, returneeChanges and other.",
  "x-hublink-section": "4.9",
  "x-hublink-queue": "escort-amendment",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortAmendment", "description": "Always EscortAmendment." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference"],
      "description": "The requested changes.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote to amend." },
        "segmentChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Escort request details: changes by segment.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["affectedSegmentIds", "cancelled"],
            "description": "One change: the affected segments are cancelled (cancelled true), replaced by replacementSegments (cancelled true with replacements), or amended in place (cancelled false: replacementSegments carry the same segment IDs with the new detail). No affected segment and a replacement adds a segment.",
            "properties": {
              "affectedSegmentIds": {
                "type": "array",
                "uniqueItems": true,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                "description": "The booked segments this change affects; empty when a segment is added."
              },
              "cancelled": { "type": "boolean", "description": "True when the affected segments are cancelled (and, with replacementSegments, replaced)." },
              "replacementSegments": {
                "type": "array",
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
                "description": "New segment details: locations, times, transport. New segment IDs when replacing, the same IDs when amending in place."
              },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the change is needed." }
            },
            "if": {
              "properties": { "cancelled": { "const": false } },
              "required": ["cancelled"]
            },
            "then": {
              "properties": { "replacementSegments": { "type": "array", "minItems": 1 } },
              "required": ["replacementSegments"]
            }
          }
        },
        "returneeChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Changes to returnee information the escorting depends on.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["hoReturneeReference"],
            "minProperties": 2,
            "description": "New information about one returnee; only what changed.",
            "properties": {
              "hoReturneeReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/hoReturneeReference", "description": "The returnee." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "New location." },
              "escortRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortRiskAssessment", "description": "New escort risk assessment (replaces the previous one)." },
              "conditions": {
                "type": "array",
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/codedValue" },
                "description": "New list of medical or noted conditions (replaces the previous one)."
              }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other: catch-all free text for scenarios out of scope." }
      },
      "anyOf": [
        { "properties": { "segmentChanges": true }, "required": ["segmentChanges"] },
        { "properties": { "returneeChanges": true }, "required": ["returneeChanges"] },
        { "properties": { "other": true }, "required": ["other"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-booking-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-booking-request/1.0",
  "title": "Escort booking request",
  "description": "Schedule R Appendix A 4.5 (Message 5). Having checked that the returnee information is unchanged since the quotes were sourced, the Home Office asks the Escort Service Provider to book against one of its escort quotes.",
  "x-hublink-section": "4.5",
  "x-hublink-queue": "escort-booking-request",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortBookingRequest", "description": "Always EscortBookingRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "command"],
      "description": "The booking command.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote to book." },
        "command": { "type": "string", "const": "BOOK", "description": "Booking command: always BOOK." },
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The travel quote chosen with it, for the escorts' planning." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-booking-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-booking-response/1.0",
  "title": "Escort booking response",
  "description": "Schedule R Appendix A 4.6 (Message 6, 'Escort confirmation response'). The Escort Service Provider confirms the booking with the names of the escorts and as much as it can tell now about its people and vehicles, or declines it and says why.",
  "$comment": "outcome DECLINED requires declineReason; ACCEPTED forbids declineReason and declineDetails.",
  "x-hublink-section": "4.6",
  "x-hublink-queue": "escort-booking-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortBookingResponse", "description": "Always EscortBookingResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "outcome"],
      "description": "The confirmation or decline.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote the booking request referred to." },
        "outcome": { "type": "string", "enum": ["ACCEPTED", "DECLINED"], "description": "ACCEPTED: the booking is made (Appendix A 'Confirmed'); DECLINED: it cannot be." },
        "declineReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the booking is declined (reason code from the predefined list), e.g. ESCORTS_UNAVAILABLE." },
        "declineDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "A fuller reason for the decline, free text." },
        "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "Accepted: the named escorts, their segments and vehicles, with advance passenger information where available." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      },
      "if": {
        "properties": { "outcome": { "const": "DECLINED" } },
        "required": ["outcome"]
      },
      "then": {
        "properties": { "declineReason": true, "escortDetails": false },
        "required": ["declineReason"]
      },
      "else": {
        "properties": { "declineReason": false, "declineDetails": false }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-cancellation', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-cancellation/1.0",
  "title": "Escort cancellation",
  "description": "Schedule R Appendix A 4.14 (Message 14). The Home Office tells the Escort Service Provider that the escort booking is to be cancelled. May be answered by an escort update with the financial consequences.",
  "x-hublink-section": "4.14",
  "x-hublink-queue": "escort-cancellation",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortCancellation", "description": "Always EscortCancellation." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "command"],
      "description": "The cancel command.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote to cancel." },
        "command": { "type": "string", "const": "CANCEL", "description": "Cancel command: always CANCEL." },
        "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escort is cancelled, e.g. LEGAL_CHALLENGE." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-quote-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-quote-request/1.0",
  "title": "Escort quote request",
  "description": "Schedule R Appendix A 4.1 (Message 1). The Home Office case worker gives the Escort Service Provider the details of a removal (returnees, escort risk assessment, locations, dates) so that it can answer with the escort options it can fulfil. For escorted removals the workflow starts here.",
  "$comment": "Complete document: the envelope (closed, see envelope.json) plus messageType, schemaVersion and sender fixed by const and the body of Appendix A 4.1.",
  "x-hublink-section": "4.1",
  "x-hublink-queue": "escort-quote-request",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortQuoteRequest", "description": "Always EscortQuoteRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["returnees", "international", "escortOnTransport", "dates"],
      "description": "The removal to quote for.",
      "properties": {
        "returnees": {
          "type": "array",
          "minItems": 1,
          "description": "The returnees of this removal (there may be more than one, e.g. a family group).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["personalDetails", "escortRiskAssessment", "location"],
            "description": "One returnee.",
            "properties": {
              "personalDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personalDetails", "description": "Personal, static information: HO returnee reference, name, date of birth, nationality, gender, medical conditions." },
              "escortRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortRiskAssessment", "description": "The escort risk assessment of this returnee." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "Where this returnee is most likely to be at departure (per returnee: a family may be held apart)." }
            }
          }
        },
        "international": { "type": "boolean", "description": "International indicator: true for an out-of-country removal, false for an in-country move." },
        "escortOnTransport": { "type": "boolean", "description": "Escort on transport indicator: true when escorts travel on the transport; false in low-risk cases where escorts leave the returnee at the gate and wait for departure." },
        "dates": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateRange", "description": "The range of dates the returnee(s) may travel over, with exclusion dates." },
        "destination": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/destination", "description": "Where the returnee(s) are to go, when known (not in Appendix A 4.1, but escorting depends on it)." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes for the Escort Service Provider." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-quote-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-quote-response/1.0",
  "title": "Escort quote response",
  "description": "Schedule R Appendix A 4.2 (Message 2). The Escort Service Provider answers an escort quote request with its risk evaluation (how many escorts of which types, medics), its segments and effort, and one escort quote per date it can support: the more dates, the better the chance of a cheaper removal.",
  "$comment": "Escort info, segments and effort are a function of the returnees and the route, so they are given once for the response and are common to all quotes (Appendix A 4.2); each quote adds its date and, optionally, named escorts.",
  "x-hublink-section": "4.2",
  "x-hublink-queue": "escort-quote-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortQuoteResponse", "description": "Always EscortQuoteResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortPositions", "segments", "effort", "quotes"],
      "description": "The escort options.",
      "properties": {
        "escortPositions": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortPosition" },
          "description": "Escort info: one entry per escort needed (the escort number is the length of this list), with the type of each (gender, physique, language, medic)."
        },
        "segments": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
          "description": "Escort segments: the journeys of the escorting, with start and finish points, transport type and whether the returnee is present."
        },
        "effort": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortEffort" },
          "description": "Escort effort: per segment per escort, a cost and/or a duration."
        },
        "quotes": {
          "type": "array",
          "minItems": 1,
          "description": "The escort quotes, one per date the Escort Service Provider can support.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["escortQuoteReference", "escortDate"],
            "description": "One escort quote.",
            "properties": {
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "Escort quote ID; a new one whenever the quote changes (the risk profile may change for the same removal)." },
              "escortDate": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "The date this escort quote is valid for." },
              "totalCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total escort cost of this quote, when priced." },
              "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "Escort names and vehicles per segment, with advance passenger information if available now (not mandatory: may follow in the booking response or an escort update)." },
              "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes on this quote." }
            }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes on the risk evaluation." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-reference-list-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-reference-list-update/1.0",
  "title": "Escort reference list update",
  "description": "Schedule R Appendix B 4.17 (not a message of Appendix A). The Home Office announces to the Escort Service Provider the new content of one reason-code list (decline, cancellation, delay, change, unsuccessful) after its system administrator edited it: \"the system administrator role will have the ability to edit these lists of options which will prompt communication to the Travel Service Provider of the new data\". The body is the full state of the list, not the change, so a provider that missed a message converges on the next one; sequence orders the announcements of one list, and a provider ignores one older than the list it holds.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema like the Error message: a reference list belongs to no removal, so there is no removalId (the envelope requires it). One message type per receiving provider, because each queue has one consumer.",
  "x-hublink-section": "B 4.17 ESP",
  "x-hublink-queue": "escort-reference-list-update",
  "x-hublink-recipient": "ESP",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "messageId",
    "messageType",
    "schemaVersion",
    "sentAt",
    "sender",
    "body"
  ],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the Hub; the idempotency key."
    },
    "messageType": {
      "const": "EscortReferenceListUpdate",
      "description": "Always EscortReferenceListUpdate."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the Hub published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "list",
        "description",
        "sequence",
        "changedAt",
        "codes"
      ],
      "description": "The full new content of one reason-code list.",
      "properties": {
        "list": {
          "type": "string",
          "pattern": "^[a-z]{1,63}$",
          "description": "Name of the reason-code list, lower case, e.g. decline, cancellation, delay, change, unsuccessful. Lists are reference data: a name the provider does not know yet is a new list."
        },
        "description": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Where the list's codes are used."
        },
        "sequence": {
          "type": "integer",
          "minimum": 1,
          "maximum": 9007199254740991,
          "description": "Version of this list at the Hub, 1 for its first announcement and one more for each later one. A provider applies a message only when its sequence is higher than that of the list it holds, so a redelivered or late message changes nothing."
        },
        "changedAt": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
          "description": "When the change was committed at the Hub (the time of the transaction that made it)."
        },
        "codes": {
          "type": "array",
          "maxItems": 1000,
          "description": "Every code of the list, in code order, active or not; a code that is not here was deleted. Empty when the list has no codes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "code",
              "text",
              "active"
            ],
            "description": "One code of the list.",
            "properties": {
              "code": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code",
                "description": "The code as sent in messages, e.g. FLIGHT_CANCELLED."
              },
              "text": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
                "description": "What the code means."
              },
              "active": {
                "type": "boolean",
                "description": "Whether the code may be used in new messages; an inactive code is kept for the history of earlier messages."
              }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-update/1.0",
  "title": "Escort update",
  "description": "Schedule R Appendix A 4.10 (Message 10). The Escort Service Provider's flexible exception message: escorting completed, cancelled, unsuccessful or delayed, an escort changed, new or later escort information (e.g. passport numbers), the consequence of a Home Office amendment, or the financial consequence of a cancellation. It may be sent before the escorts depart, during the escort, at the airport or in the air.",
  "$comment": "Each update carries one or more sections; at least one besides notes. completed, cancellation and unsuccessful are outcomes and exclude each other (dependentSchemas).",
  "x-hublink-section": "4.10",
  "x-hublink-queue": "escort-update",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortUpdate", "description": "Always EscortUpdate." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference"],
      "description": "The update.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote this update is about." },
        "completed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["segments"],
          "description": "Completed info: the escorting was completed successfully (confirmed), per segment with actual times.",
          "properties": {
            "segments": {
              "type": "array",
              "minItems": 1,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentActuals" },
              "description": "Per segment: date-time left, date-time arrived."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "cancellation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason"],
          "description": "Cancellation: the escorting is aborted before it starts.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Cancellation reason, e.g. ESCORTS_UNAVAILABLE." },
            "returneeRedirectedTo": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/place", "description": "Where the returnee is taken instead of the starting location, when redirected." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "unsuccessful": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason"],
          "description": "Unsuccessful: the escorting started and was abandoned (returnee disruptive or ill, serious delay). Likely to make the Home Office cancel the travel booking.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escorting was abandoned, e.g. RETURNEE_DISRUPTIVE, RETURNEE_ILL." },
            "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "The segment during which it was abandoned." },
            "occurredAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When it was abandoned." },
            "returneeLocation": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/place", "description": "Where the returnee is now." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "delayed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason", "segments"],
          "description": "Delayed: where the escort is delayed and the new itinerary; a delay to one segment may knock on to others.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Delay reason, e.g. TRAFFIC, VEHICLE_BREAKDOWN." },
            "segments": {
              "type": "array",
              "minItems": 1,
              "description": "The affected segments with their new times (the delayed one first, then knock-on effects).",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["segmentId", "newStart", "newFinish"],
                "description": "One affected segment.",
                "properties": {
                  "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "Affected segment ID." },
                  "newStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "New start time." },
                  "newFinish": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "New end time." }
                }
              }
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "escortChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Escort change: per segment, the escort removed and/or the escort added. Almost certainly requires a name change on flight tickets.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["segmentId"],
            "description": "One change on one segment; at least one of removedEscortId and addedEscortId.",
            "properties": {
              "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "The escort segment." },
              "removedEscortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "Escort ID to be removed." },
              "addedEscortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "Escort ID to be added; the person's details are in escortDetails when new to the Home Office." },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escort changes." }
            },
            "anyOf": [
              { "properties": { "removedEscortId": true }, "required": ["removedEscortId"] },
              { "properties": { "addedEscortId": true }, "required": ["addedEscortId"] }
            ]
          }
        },
        "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "New or later information about the escorts (names, vehicles, advance passenger information such as passport numbers); escorts listed here replace earlier details of the same escortId." },
        "amendmentOutcome": {
          "type": "object",
          "additionalProperties": false,
          "required": ["amendmentMessageId", "accepted"],
          "description": "The consequence of a Home Office escort amendment.",
          "properties": {
            "amendmentMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the escort amendment answered." },
            "accepted": { "type": "boolean", "description": "True when the amendment is carried out, false when it cannot be." },
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why it cannot be carried out, or what it entails." },
            "segments": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
              "description": "The segments as now booked, when they changed."
            }
          }
        },
        "financial": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/financial", "description": "Financial consequence, e.g. of an escort cancellation (Appendix A 4.14)." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text for anything else." }
      },
      "anyOf": [
        { "properties": { "completed": true }, "required": ["completed"] },
        { "properties": { "cancellation": true }, "required": ["cancellation"] },
        { "properties": { "unsuccessful": true }, "required": ["unsuccessful"] },
        { "properties": { "delayed": true }, "required": ["delayed"] },
        { "properties": { "escortChanges": true }, "required": ["escortChanges"] },
        { "properties": { "escortDetails": true }, "required": ["escortDetails"] },
        { "properties": { "amendmentOutcome": true }, "required": ["amendmentOutcome"] },
        { "properties": { "financial": true }, "required": ["financial"] }
      ],
      "dependentSchemas": {
        "completed": { "properties": { "cancellation": false, "unsuccessful": false } },
        "cancellation": { "properties": { "completed": false, "unsuccessful": false } },
        "unsuccessful": { "properties": { "completed": false, "cancellation": false } }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-amendment', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-amendment/1.0",
  "title": "Travel amendment",
  "description": "Schedule R Appendix A 4.11 (Message 11). The Home Office asks the Travel Service Provider to change a confirmed booking: add or amend passenger details (e.g. an escort's passport number or expiry date, a name change) or change the itinerary (the old affected section and the new specification). Some changes incur charges or are impossible; most are answered by a travel update.",
  "$comment": "At least one of passengerUpdates, itineraryChanges and other. Appendix A 4.11 names the 'escort quote reference' but means the booked quote; the travel quote reference is required and the escort quote reference optional.",
  "x-hublink-section": "4.11",
  "x-hublink-queue": "travel-amendment",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelAmendment", "description": "Always TravelAmendment." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office (or routed from the Escort Service Provider through it)." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference"],
      "description": "The requested changes.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote to amend." },
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote booked with it, when escorted." },
        "passengerUpdates": {
          "type": "array",
          "minItems": 1,
          "description": "Travel details update: passenger details to add or amend.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["traveller"],
            "minProperties": 2,
            "description": "New details of one traveller; only what changed.",
            "properties": {
              "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position concerned." },
              "escortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "The escort now filling the position (with name: a name change)." },
              "name": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personName", "description": "New name on the ticket (a name change; may incur a fee or be refused)." },
              "specialMeal": { "type": "string", "pattern": "^[A-Z]{4}$", "description": "Meal request, IATA SSR special meal code, e.g. VGML." },
              "advancePassengerInfo": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/advancePassengerInfo", "description": "Advance passenger information to add or replace (passport number, expiry date...)." },
              "travelDocument": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelDocument", "description": "A returnee's new or corrected travel document." }
            }
          }
        },
        "itineraryChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Flight details update: changes to the routing.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["affectedSegmentIds", "requestedSegments"],
            "description": "One change: the old affected itinerary section and the new specification (an empty specification cancels the section).",
            "properties": {
              "affectedSegmentIds": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": true,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                "description": "Old affected itinerary section: the booked segment IDs."
              },
              "requestedSegments": {
                "type": "array",
                "items": { "$ref": "#/$defs/segmentSpecification" },
                "description": "New itinerary specification, in travel order; empty to drop the section."
              },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the change is requested." }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other: catch-all free text for scenarios out of scope." }
      },
      "anyOf": [
        { "properties": { "passengerUpdates": true }, "required": ["passengerUpdates"] },
        { "properties": { "itineraryChanges": true }, "required": ["itineraryChanges"] },
        { "properties": { "other": true }, "required": ["other"] }
      ]
    }
  },
  "$defs": {
    "segmentSpecification": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentType", "startPoint", "endPoint", "date"],
      "description": "A requested itinerary segment, before the Travel Service Provider books it.",
      "properties": {
        "segmentType": {
          "type": "string",
          "enum": ["PLANE", "FERRY", "TRAIN", "COACH", "HOTEL"],
          "description": "Segment type, as in itinerary segments."
        },
        "startPoint": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itineraryPoint", "description": "Departure point." },
        "endPoint": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itineraryPoint", "description": "Arrival point (the hotel for HOTEL)." },
        "date": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "Travel date (check-in date for HOTEL)." },
        "earliestStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Earliest acceptable departure." },
        "latestStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Latest acceptable departure." },
        "carrierCode": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode", "description": "Requested carrier, when a specific flight is wanted." },
        "flightNumber": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/flightNumber", "description": "Requested flight number, with carrierCode." },
        "travellers": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef" },
          "description": "Who travels on it; the same travellers as the affected section when absent."
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-booking-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-booking-request/1.0",
  "title": "Travel booking request",
  "description": "Schedule R Appendix A 4.7 (Message 7). The Home Office asks the Travel Service Provider to book one of its travel quotes, with the escorts' names (mandatory) and advance passenger information (not mandatory yet). It may be sent at the same time as the escort booking request.",
  "x-hublink-section": "4.7",
  "x-hublink-queue": "travel-booking-request",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": {
      "const": "TravelBookingRequest",
      "description": "Always TravelBookingRequest."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "travelQuoteReference",
        "command"
      ],
      "description": "The booking command and the escorts to ticket.",
      "properties": {
        "travelQuoteReference": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference",
          "description": "The travel quote to book."
        },
        "command": {
          "type": "string",
          "const": "BOOK",
          "description": "Booking command: always BOOK."
        },
        "escorts": {
          "type": "array",
          "items": {
            "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escort",
            "type": "object",
            "properties": {
              "escortNumber": true
            },
            "required": [
              "escortNumber"
            ]
          },
          "description": "Escort details for ticketing: one entry per escort position (escortNumber), name mandatory, advance passenger information and meal request optional. Absent for unescorted removals."
        },
        "notes": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Free-text notes."
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-booking-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-booking-response/1.0",
  "title": "Travel booking response",
  "description": "Schedule R Appendix A 4.8 (Message 8). The Travel Service Provider confirms the booking and sends what was booked (booking references, e-ticket numbers), or declines it (e.g. it could, but no longer can, deliver the quote) with a reason code and details.",
  "$comment": "outcome ACCEPTED requires confirmation; DECLINED requires declineReason and forbids confirmation.",
  "x-hublink-section": "4.8",
  "x-hublink-queue": "travel-booking-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelBookingResponse", "description": "Always TravelBookingResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference", "outcome"],
      "description": "The confirmation or decline.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The travel quote the booking request referred to." },
        "outcome": { "type": "string", "enum": ["ACCEPTED", "DECLINED"], "description": "ACCEPTED: booked; DECLINED: the booking cannot be made (Appendix A 'Booked', 'Declined')." },
        "declineReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Decline reason, one of a predefined and changing list, e.g. FLIGHT_CANCELLED, QUOTE_EXPIRED, FARE_UNAVAILABLE." },
        "declineDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Decline details: a fuller reason, free text." },
        "confirmation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["bookingReferences", "tickets"],
          "description": "Travel confirmation details: what has been booked.",
          "properties": {
            "bookingReferences": {
              "type": "array",
              "minItems": 1,
              "description": "Booking references (PNR record locators), per provider.",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["reference", "segmentIds"],
                "description": "One booking reference.",
                "properties": {
                  "reference": { "type": "string", "pattern": "^[A-Z0-9]{6}$", "description": "Booking reference (record locator), six upper-case letters or digits, e.g. X7K2PQ." },
                  "carrierCode": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode", "description": "Carrier holding the booking, for airline references." },
                  "segmentIds": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                    "description": "The itinerary segments of the quote covered by this reference."
                  }
                }
              }
            },
            "tickets": {
              "type": "array",
              "description": "E-tickets issued, one per traveller per ticket; empty when nothing is ticketed (e.g. hotel only).",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["ticketNumber", "traveller"],
                "description": "One e-ticket.",
                "properties": {
                  "ticketNumber": { "type": "string", "pattern": "^[0-9]{13}$", "description": "E-ticket number, 13 digits (3-digit airline prefix and 10-digit serial), e.g. 1252400123456." },
                  "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position ticketed." },
                  "segmentIds": {
                    "type": "array",
                    "uniqueItems": true,
                    "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                    "description": "The segments the ticket covers; all PLANE segments when absent."
                  }
                }
              }
            },
            "totalCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total booked cost, when it differs from the quote's or for the record." },
            "ticketingDeadline": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When bookings not yet ticketed will lapse." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other confirmation details in free text (e.g. where e-ticket documents can be collected)." }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      },
      "if": {
        "properties": { "outcome": { "const": "DECLINED" } },
        "required": ["outcome"]
      },
      "then": {
        "properties": { "declineReason": true, "confirmation": false },
        "required": ["declineReason"]
      },
      "else": {
        "properties": { "confirmation": true, "declineReason": false, "declineDetails": false },
        "required": ["confirmation"]
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-cancellation', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-cancellation/1.0",
  "title": "Travel cancellation",
  "description": "Schedule R Appendix A 4.13 (Message 13). The Home Office tells the Travel Service Provider that the booked travel is to be cancelled; possibly only some segments, keeping the tickets for reuse where the carrier's terms allow. Likely to be answered by a travel update with the financial consequences. Appendix A notes the structure is subject to change.",
  "x-hublink-section": "4.13",
  "x-hublink-queue": "travel-cancellation",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelCancellation", "description": "Always TravelCancellation." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference", "command"],
      "description": "The cancel command.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote to cancel." },
        "command": { "type": "string", "const": "CANCEL", "description": "Cancel command: always CANCEL." },
        "segmentIds": {
          "type": "array",
          "minItems": 1,
          "uniqueItems": true,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
          "description": "Only these segments are cancelled; the whole booking when absent."
        },
        "retainForReuse": { "type": "boolean", "description": "True to keep the unused tickets for reuse on a later removal where the carrier's terms allow." },
        "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the travel is cancelled, e.g. LEGAL_CHALLENGE, RETURNEE_ILL." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-quote-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-quote-request/1.0",
  "title": "Travel quote request",
  "description": "Schedule R Appendix A 4.3 (Message 3). The Home Office tells the Travel Service Provider what travel is needed and for whom. For escorted removals the escort dates come from the Escort Service Provider's quotes; for unescorted removals the workflow starts here and the Home Office gives the travel dates.",
  "$comment": "Exactly one of escortDates (escorted) and travelDates (unescorted).",
  "x-hublink-section": "4.3",
  "x-hublink-queue": "travel-quote-request",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelQuoteRequest", "description": "Always TravelQuoteRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["returnees", "destination", "constraints"],
      "description": "The travel to quote for.",
      "properties": {
        "returnees": {
          "type": "array",
          "minItems": 1,
          "description": "The returnees (there may be more than one).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["personalDetails", "travelDocuments", "travelRiskAssessment", "location"],
            "description": "One returnee.",
            "properties": {
              "personalDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personalDetails", "description": "Personal, static information: HO returnee ID, name, date of birth, nationality, gender, noted conditions (blind, wheelchair...)." },
              "travelDocuments": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelDocument" },
                "description": "The document(s) this returnee will travel on."
              },
              "travelRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelRiskAssessment", "description": "The travel risk assessment: only what carriers need (violent, disruptive, number of escorts)." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "Where this returnee is most likely to be at departure, so that local airports can be considered." }
            }
          }
        },
        "escortDates": {
          "type": "array",
          "minItems": 1,
          "description": "Escorted removals: the dates returned by the Escort Service Provider, each with its escort quote.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["escortQuoteReference", "date", "escortCount"],
            "description": "One escort date.",
            "properties": {
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote the date comes from; travel quotes refer back to it." },
              "date": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "The escort date." },
              "escortCount": { "type": "integer", "minimum": 0, "maximum": 20, "description": "Number of escorts travelling (seats needed besides the returnees)." },
              "earliestDeparture": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Earliest departure the escorting allows on this date, when constrained." }
            }
          }
        },
        "travelDates": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateRange", "description": "Unescorted removals: the travel dates specified by the Home Office user." },
        "departureAirports": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataAirportCode" },
          "description": "UK airports the escorting can reach, IATA codes; any when absent."
        },
        "destination": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/destination", "description": "Where the returnee(s) are to go." },
        "constraints": {
          "type": "object",
          "additionalProperties": false,
          "required": ["refundableOnly"],
          "description": "Constraints from the Travel Information Guide (TIG) that apply to this request.",
          "properties": {
            "refundableOnly": { "type": "boolean", "description": "True when only refundable fares may be quoted." },
            "excludedCarriers": {
              "type": "array",
              "uniqueItems": true,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode" },
              "description": "Airlines that must not be used, IATA designators."
            },
            "costLimit": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Maximum total cost of a quote." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other TIG constraints in free text." }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes for the Travel Service Provider." }
      },
      "oneOf": [
        { "properties": { "escortDates": true }, "required": ["escortDates"] },
        { "properties": { "travelDates": true }, "required": ["travelDates"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-quote-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-quote-response/1.0",
  "title": "Travel quote response",
  "description": "Schedule R Appendix A 4.4 (Message 4). The Travel Service Provider answers a travel quote request with travel quotes for each of the Escort Service Provider's dates: itinerary, cost per traveller and total, and conditions, for the Home Office to choose from.",
  "x-hublink-section": "4.4",
  "x-hublink-queue": "travel-quote-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelQuoteResponse", "description": "Always TravelQuoteResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["quotes"],
      "description": "The travel quotes. An empty list means no travel can be offered (with noQuoteReason).",
      "properties": {
        "quotes": {
          "type": "array",
          "description": "The travel quotes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["travelQuoteReference", "costs", "itinerary", "conditions"],
            "description": "One travel quote.",
            "properties": {
              "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "Unique reference of this quote." },
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote (date) this travel quote matches; absent for unescorted removals." },
              "costs": {
                "type": "object",
                "additionalProperties": false,
                "required": ["perTraveller", "total"],
                "description": "Travel cost: per traveller and in total (Appendix A 4.4 'Travel Cost').",
                "properties": {
                  "perTraveller": {
                    "type": "array",
                    "minItems": 1,
                    "description": "Cost for each returnee and each escort.",
                    "items": {
                      "type": "object",
                      "additionalProperties": false,
                      "required": ["traveller", "cost"],
                      "description": "Cost of one traveller.",
                      "properties": {
                        "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position." },
                        "cost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Cost for this traveller." }
                      }
                    }
                  },
                  "total": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total cost of the quote, all travellers, taxes and fees included." },
                  "expectedCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Expected cost: the total plus the expected loss if the removal is cancelled (the provider's cancellation probability times what the fare's refund rules would keep). The best-value ranking key; optional, a provider that does not compute it leaves it out." }
                }
              },
              "itinerary": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
                "description": "Travel itinerary: the segments in travel order (flights, ferries, trains, coaches, hotels)."
              },
              "conditions": {
                "type": "object",
                "additionalProperties": false,
                "required": ["refundable", "handBaggageOnly", "expiresAt"],
                "description": "Travel conditions of this quote (Appendix A 4.4): refundability, fare restrictions, expiry.",
                "properties": {
                  "refundable": { "type": "boolean", "description": "False for a non-refundable fare." },
                  "handBaggageOnly": { "type": "boolean", "description": "True for a hand-baggage-only fare." },
                  "expiresAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When the quote expires: a booking request after this time may be declined." },
                  "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other conditions in free text." }
                }
              }
            }
          }
        },
        "noQuoteReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why no (or fewer) quotes are offered, e.g. NO_FLIGHTS." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-reference-list-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-reference-list-update/1.0",
  "title": "Travel reference list update",
  "description": "Schedule R Appendix B 4.17 (not a message of Appendix A). The Home Office announces to the Travel Service Provider the new content of one reason-code list (decline, cancellation, delay, change, unsuccessful) after its system administrator edited it: \"the system administrator role will have the ability to edit these lists of options which will prompt communication to the Travel Service Provider of the new data\". The body is the full state of the list, not the change, so a provider that missed a message converges on the next one; sequence orders the announcements of one list, and a provider ignores one older than the list it holds.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema like the Error message: a reference list belongs to no removal, so there is no removalId (the envelope requires it). One message type per receiving provider, because each queue has one consumer.",
  "x-hublink-section": "B 4.17 TSP",
  "x-hublink-queue": "travel-reference-list-update",
  "x-hublink-recipient": "TSP",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "messageId",
    "messageType",
    "schemaVersion",
    "sentAt",
    "sender",
    "body"
  ],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the Hub; the idempotency key."
    },
    "messageType": {
      "const": "TravelReferenceListUpdate",
      "description": "Always TravelReferenceListUpdate."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the Hub published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "list",
        "description",
        "sequence",
        "changedAt",
        "codes"
      ],
      "description": "The full new content of one reason-code list.",
      "properties": {
        "list": {
          "type": "string",
          "pattern": "^[a-z]{1,63}$",
          "description": "Name of the reason-code list, lower case, e.g. decline, cancellation, delay, change, unsuccessful. Lists are reference data: a name the provider does not know yet is a new list."
        },
        "description": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Where the list's codes are used."
        },
        "sequence": {
          "type": "integer",
          "minimum": 1,
          "maximum": 9007199254740991,
          "description": "Version of this list at the Hub, 1 for its first announcement and one more for each later one. A provider applies a message only when its sequence is higher than that of the list it holds, so a redelivered or late message changes nothing."
        },
        "changedAt": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
          "description": "When the change was committed at the Hub (the time of the transaction that made it)."
        },
        "codes": {
          "type": "array",
          "maxItems": 1000,
          "description": "Every code of the list, in code order, active or not; a code that is not here was deleted. Empty when the list has no codes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "code",
              "text",
              "active"
            ],
            "description": "One code of the list.",
            "properties": {
              "code": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code",
                "description": "The code as sent in messages, e.g. FLIGHT_CANCELLED."
              },
              "text": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
                "description": "What the code means."
              },
              "active": {
                "type": "boolean",
                "description": "Whether the code may be used in new messages; an inactive code is kept for the history of earlier messages."
              }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-update/1.0",
  "title": "Travel update",
  "description": "Schedule R Appendix A 4.12 (Message 12). The Travel Service Provider's exception message: travel completed, a flight changed (retimed, new terminal, delayed), travel cancelled, the financial consequence of post-booking changes, the outcome of a Home Office amendment, or anything else in free text.",
  "$comment": "Each update carries one or more sections; at least one besides notes. completed and cancellation exclude each other (dependentSchemas).",
  "x-hublink-section": "4.12",
  "x-hublink-queue": "travel-update",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelUpdate", "description": "Always TravelUpdate." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference"],
      "description": "The update.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote this update is about." },
        "completed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["segments"],
          "description": "Completed info: the travel took place (confirmed), with actual times where known.",
          "properties": {
            "segments": {
              "type": "array",
              "minItems": 1,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentActuals" },
              "description": "Per segment: date-time left, date-time arrived."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "flightChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Flight change: which flight changed and by how much (a formal change of time or terminal, or a delay).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["reason", "oldSegment", "newSegment"],
            "description": "One changed segment.",
            "properties": {
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Change reason, e.g. SCHEDULE_CHANGE, DELAY, TERMINAL_CHANGE." },
              "oldSegment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment", "description": "Old flight details, as booked." },
              "newSegment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment", "description": "New flight details (same segmentId when the flight is retimed, a new one when replaced)." }
            }
          }
        },
        "cancellation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason", "segmentIds"],
          "description": "Cancellation details: like a flight change but more serious; which references are cancelled (probably all).",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Cancellation reason, e.g. FLIGHT_CANCELLED, CARRIER_REFUSED." },
            "segmentIds": {
              "type": "array",
              "minItems": 1,
              "uniqueItems": true,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
              "description": "The cancelled segments."
            },
            "oldSegments": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
              "description": "Old flight details of the cancelled segments."
            },
            "bookingReferences": {
              "type": "array",
              "uniqueItems": true,
              "items": { "type": "string", "pattern": "^[A-Z0-9]{6}$", "description": "A cancelled booking reference." },
              "description": "The booking references cancelled."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "financial": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/financial", "description": "Financial: refund, change fee or cancellation fee and the reason, for Home Office requested changes." },
        "amendmentOutcome": {
          "type": "object",
          "additionalProperties": false,
          "required": ["amendmentMessageId", "accepted"],
          "description": "The outcome of a Home Office travel amendment.",
          "properties": {
            "amendmentMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the travel amendment answered." },
            "accepted": { "type": "boolean", "description": "True when the amendment was made, false when it cannot be." },
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why it cannot be made, or what it entailed." },
            "itinerary": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
              "description": "The itinerary as now booked, when it changed."
            },
            "tickets": {
              "type": "array",
              "description": "E-tickets reissued.",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["ticketNumber", "traveller"],
                "description": "One reissued e-ticket.",
                "properties": {
                  "ticketNumber": { "type": "string", "pattern": "^[0-9]{13}$", "description": "E-ticket number, 13 digits." },
                  "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position ticketed." }
                }
              }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Unknown other exceptions: free-text fall-back for emergencies." }
      },
      "anyOf": [
        { "properties": { "completed": true }, "required": ["completed"] },
        { "properties": { "flightChanges": true }, "required": ["flightChanges"] },
        { "properties": { "cancellation": true }, "required": ["cancellation"] },
        { "properties": { "financial": true }, "required": ["financial"] },
        { "properties": { "amendmentOutcome": true }, "required": ["amendmentOutcome"] },
        { "properties": { "other": true }, "required": ["other"] }
      ],
      "dependentSchemas": {
        "completed": { "properties": { "cancellation": false } }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
