-- The audit trail (issue 6 section 3; NFR 0002, NFR 0020, NFR 0025, SEC 022, SEC 024;
-- docs/security-audit.md): one row per change of a domain row, per state transition, per
-- message in or out, per decryption or purge of personal data. Rows say who, when, what,
-- which removal, and carry SHA-256 digests of the row before and after, never the data.
--
-- Append-only: UPDATE, DELETE and TRUNCATE are revoked from every role (the owner included)
-- and refused by statement triggers that are ENABLE ALWAYS, so they also fire under
-- session_replication_role = replica; each refusal is first recorded through
-- hublink.record_security_event, which survives the rollback of the refused statement.
--
-- Tamper evidence: every row is sealed into hublink.audit_chain at commit, in commit order,
-- with a hash over its content and the previous link's hash; hublink.verify_audit (71_*)
-- recomputes the chain and names the first row where it breaks. Sealing at commit (a deferred
-- constraint trigger) rather than at insert keeps the serialising lock short: it is held from
-- the seal to the end of the commit, not for the whole transaction.

CREATE TABLE hublink.audit_action (
    action      text PRIMARY KEY CHECK (action ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.audit_action IS
    'What an audit row may record (reference data; parts of hublink that call '
    'hublink.audit_note add their actions here).';
COMMENT ON COLUMN hublink.audit_action.action IS 'Name of the action (lower case, underscores).';
COMMENT ON COLUMN hublink.audit_action.description IS 'When a row with this action is written.';

INSERT INTO hublink.audit_action VALUES
    ('insert', 'A row was inserted into an audited table.'),
    ('update', 'A row of an audited table was updated (changed_columns names the columns).'),
    ('delete', 'A row was deleted from an audited table.'),
    ('truncate', 'An audited table was truncated (one row for the statement).'),
    ('state_transition', 'A state machine moved (a row inserted into hublink.state_transition).'),
    ('message_in', 'A message taken off the broker was stored (a row inserted into hublink.inbox).'),
    ('message_out', 'A message was queued for sending (a row inserted into hublink.outbox).'),
    ('decrypt', 'Personal data was decrypted for a reader (hublink.audit_note).'),
    ('purge', 'Personal data was purged or erased (hublink.audit_note).'),
    ('note', 'Any other security-relevant act recorded through hublink.audit_note.');

CREATE TABLE hublink.audit_log (
    audit_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    xact_id           xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    session_user_name text NOT NULL DEFAULT session_user,
    role_name         text NOT NULL,
    backend_pid       integer NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    client_addr       inet DEFAULT pg_catalog.inet_client_addr(),
    action            text NOT NULL REFERENCES hublink.audit_action,
    table_name        text,
    removal_id        bigint,
    removal_reference text,
    row_key           jsonb,
    changed_columns   text[],
    before_digest     bytea,
    after_digest      bytea,
    detail            jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(detail) = 'object')
);
COMMENT ON TABLE hublink.audit_log IS
    'The audit trail (NFR 0002, 0020): append-only, one row per audited act, no personal data '
    '(digests, ids and names only). Sealed into hublink.audit_chain at commit; checked by '
    'hublink.verify_audit(); read by monitoring through hublink.audit_feed / hublink.audit_since.';
COMMENT ON COLUMN hublink.audit_log.audit_id IS 'Insertion order (commit order is hublink.audit_chain.seq).';
COMMENT ON COLUMN hublink.audit_log.at IS 'When the act happened (clock time, with time zone: NFR 0025).';
COMMENT ON COLUMN hublink.audit_log.xact_id IS 'The transaction that did it (finds its rows when sealing).';
COMMENT ON COLUMN hublink.audit_log.session_user_name IS 'Who: the login (session user).';
COMMENT ON COLUMN hublink.audit_log.role_name IS
    'Who: the role the session acted as (SET ROLE), else the login; SECURITY DEFINER functions do not change it.';
COMMENT ON COLUMN hublink.audit_log.backend_pid IS 'The backend process, to join with the server log.';
COMMENT ON COLUMN hublink.audit_log.client_addr IS 'The client''s address; NULL for a Unix socket or the worker.';
COMMENT ON COLUMN hublink.audit_log.action IS 'What (hublink.audit_action).';
COMMENT ON COLUMN hublink.audit_log.table_name IS 'The table acted on, schema-qualified; NULL for a note about no table.';
COMMENT ON COLUMN hublink.audit_log.removal_id IS 'Which removal (hublink.removal.removal_id), when known.';
COMMENT ON COLUMN hublink.audit_log.removal_reference IS 'Which removal by its reference (RMV-...), when known.';
COMMENT ON COLUMN hublink.audit_log.row_key IS
    'The primary key of the row acted on, as {column: value} (keys are ids and codes, never personal data).';
COMMENT ON COLUMN hublink.audit_log.changed_columns IS 'For an update, the names of the columns whose value changed.';
COMMENT ON COLUMN hublink.audit_log.before_digest IS
    'SHA-256 of the row before (to_jsonb(row)::text in UTC); NULL for an insert.';
COMMENT ON COLUMN hublink.audit_log.after_digest IS
    'SHA-256 of the row after (to_jsonb(row)::text in UTC); NULL for a delete.';
COMMENT ON COLUMN hublink.audit_log.detail IS
    'More about the act: ids, codes, states, names of columns; never personal data.';
CREATE INDEX audit_log_removal ON hublink.audit_log (removal_id) WHERE removal_id IS NOT NULL;
COMMENT ON INDEX hublink.audit_log_removal IS 'The audit history of one removal.';

CREATE TABLE hublink.audit_chain (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    audit_id   bigint NOT NULL UNIQUE,
    sealed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    prev_hash  bytea NOT NULL CHECK (pg_catalog.length(prev_hash) = 32),
    row_hash   bytea NOT NULL CHECK (pg_catalog.length(row_hash) = 32)
);
COMMENT ON TABLE hublink.audit_chain IS
    'The hash chain over hublink.audit_log, in commit order: link seq covers audit row audit_id '
    'and link seq - 1. Append-only like the log.';
COMMENT ON COLUMN hublink.audit_chain.seq IS 'Position in the chain, 1, 2, 3 ... without gaps; the feed''s cursor.';
COMMENT ON COLUMN hublink.audit_chain.audit_id IS 'The audit row this link seals.';
COMMENT ON COLUMN hublink.audit_chain.sealed_at IS 'When it was sealed (at the commit of its transaction).';
COMMENT ON COLUMN hublink.audit_chain.prev_hash IS 'row_hash of link seq - 1 (32 zero bytes for link 1).';
COMMENT ON COLUMN hublink.audit_chain.row_hash IS
    'SHA-256 of prev_hash followed by hublink.audit_canonical(audit row) in UTF-8.';

-- PL/pgSQL, not SQL: the seal calls it for every audit row at commit, and a SQL function with
-- SET is neither inlined nor kept planned (fmgr_sql set up an executor for each row, 4.5% of
-- the worker's CPU in a burst); PL/pgSQL evaluates the one expression as a simple expression.
-- The expression is unchanged, so the text (and every hash of the chain) is the same.
CREATE FUNCTION hublink.audit_canonical(a hublink.audit_log) RETURNS text
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

-- One seal per batch, not one trigger event per audit row: the WHEN function queues the
-- deferred event for the first unsealed row of the transaction only (a transaction-local
-- setting holding the transaction id; a subtransaction's abort undoes it with its rows).
-- In C (extension/audit_trigger.c): it runs for every audit row, and as PL/pgSQL with SET it
-- cost a setting's save and restore and an interpreted call each time.
CREATE FUNCTION hublink.audit_seal_needed() RETURNS boolean
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_audit_seal_needed';
COMMENT ON FUNCTION hublink.audit_seal_needed() IS
    'WHEN condition of the sealing trigger: true for the first audit row since the last seal of '
    'this transaction, so one deferred event seals the whole batch; false while restoring a dump '
    '(hublink.restoring), whose audit rows come with their links.';
REVOKE ALL ON FUNCTION hublink.audit_seal_needed() FROM PUBLIC;

-- enable_seqscan = off: the rows to seal are found by the primary key from NEW.audit_id on.
-- With statistics that are stale or absent (a new or fast-growing audit_log: every burst of
-- the worker) the planner chose a sequential scan of the whole log, calling
-- pg_current_xact_id() for every row, at every commit (docs/performance.md "Fifth pass").
CREATE FUNCTION hublink.audit_seal() RETURNS trigger
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
REVOKE ALL ON FUNCTION hublink.audit_seal() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER audit_log_seal AFTER INSERT ON hublink.audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (hublink.audit_seal_needed())
    EXECUTE FUNCTION hublink.audit_seal();
COMMENT ON TRIGGER audit_log_seal ON hublink.audit_log IS
    'Seals the transaction''s audit rows into hublink.audit_chain at commit.';
ALTER TABLE hublink.audit_log ENABLE ALWAYS TRIGGER audit_log_seal;

CREATE FUNCTION hublink.audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    what jsonb := pg_catalog.jsonb_build_object(
        'table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'operation', pg_catalog.lower(TG_OP),
        'session_user', session_user::text,
        'role', coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
        'backend_pid', pg_catalog.pg_backend_pid(),
        'client_addr', pg_catalog.inet_client_addr()::text,
        'session_replication_role', pg_catalog.current_setting('session_replication_role'));
BEGIN
    -- The statement is about to roll back, and this transaction's writes with it: the
    -- attempt is recorded outside the transaction (shared memory, flushed by the worker).
    IF pg_catalog.to_regprocedure('hublink.record_security_event(text,jsonb)') IS NOT NULL THEN
        PERFORM hublink.record_security_event('audit_' || pg_catalog.lower(TG_OP) || '_refused', what);
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'No role, superusers included, may update, delete or truncate audit rows; the attempt was recorded.',
              HINT = 'Audit rows are kept for their retention period; see docs/security-audit.md.';
END;
$$;
COMMENT ON FUNCTION hublink.audit_refuse_change() IS
    'Statement trigger on the audit tables: records the attempt with '
    'hublink.record_security_event, then refuses UPDATE, DELETE and TRUNCATE.';
REVOKE ALL ON FUNCTION hublink.audit_refuse_change() FROM PUBLIC;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_log', 'audit_chain'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON hublink.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION hublink.audit_refuse_change()', t || '_append_only', t);
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON hublink.%I IS %L', t || '_append_only', t,
                                  'Refuses (and records) any UPDATE, DELETE or TRUNCATE, even by a superuser.');
        EXECUTE pg_catalog.format('ALTER TABLE hublink.%I ENABLE ALWAYS TRIGGER %I', t, t || '_append_only');
        -- Every role, the owner included; a superuser passes privileges, not the trigger.
        EXECUTE pg_catalog.format('REVOKE ALL ON hublink.%I FROM PUBLIC', t);
        EXECUTE pg_catalog.format('REVOKE UPDATE, DELETE, TRUNCATE ON hublink.%I FROM CURRENT_USER', t);
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('hublink.%I', t)::regclass, '');
    END LOOP;
END;
$$;

CREATE FUNCTION hublink.audit_note(p_action text, p_removal_id bigint, p_detail jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.audit_action WHERE action = p_action) THEN
        RAISE EXCEPTION 'unknown audit action "%"', p_action
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every audit row has an action listed in hublink.audit_action.',
                  HINT = 'Add the action to hublink.audit_action in the part that records it.';
    END IF;
    IF p_detail IS NOT NULL AND pg_catalog.jsonb_typeof(p_detail) <> 'object' THEN
        RAISE EXCEPTION 'audit detail must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The detail given was a JSON %s.', pg_catalog.jsonb_typeof(p_detail)),
                  HINT = 'Pass ids, codes and column names in an object, never personal data.';
    END IF;
    INSERT INTO hublink.audit_log (role_name, action, table_name, removal_id, removal_reference, detail)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            p_action, p_detail ->> 'table', p_removal_id,
            (SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = p_removal_id),
            coalesce(p_detail, '{}'));
END;
$$;
COMMENT ON FUNCTION hublink.audit_note(text, bigint, jsonb) IS
    'Writes one audit row for an act that is not a row change: a decryption of personal data '
    '(action decrypt), a purge (purge), or another action of hublink.audit_action. p_detail '
    'holds ids, codes and names of tables or columns (its "table" key fills table_name), never '
    'personal data. SECURITY DEFINER: called by hublink''s own functions.';
REVOKE ALL ON FUNCTION hublink.audit_note(text, bigint, jsonb) FROM PUBLIC;
