-- Personal data encryption, the sealing layer (issue 6 section 2; NFR 0011, docs/security-crypto.md).
--
-- Every column whose COMMENT starts "PERSONAL DATA:" is sealed: a BEFORE INSERT OR UPDATE
-- trigger moves the row's personal values into its "sealed" column, encrypted under the
-- removal's data key (73_crypto_keys.sql), and sets the plaintext columns to NULL before the
-- row reaches the heap, so plaintext is never written to a page, live or dead. A CHECK
-- constraint "<column>_sealed" (column IS NULL) on each of them refuses a row that bypassed the
-- trigger. The handlers keep writing plain values to the plain columns; authorised reads go
-- through hublink.unsealed() (and the *_of functions of 41_domain.sql), each audited.

CREATE TABLE hublink.sealed_table (
    table_name  regclass PRIMARY KEY,
    scope_query text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.sealed_table IS
    'The tables whose PERSONAL DATA columns are sealed, and how a row finds the removal whose '
    'data key seals it. Filled by hublink.seal_personal_columns().';
COMMENT ON COLUMN hublink.sealed_table.table_name IS 'The table.';
COMMENT ON COLUMN hublink.sealed_table.scope_query IS
    'A query returning the key scope (the removal reference) of a row, given the row as jsonb in $1.';
COMMENT ON COLUMN hublink.sealed_table.description IS 'How the table relates to its removal.';

-- The trigger: its arguments are the table's personal columns.
CREATE FUNCTION hublink.seal_personal_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       jsonb := pg_catalog.to_jsonb(NEW);
    plain   jsonb;
    cleared jsonb;
    merged  jsonb := '{}';
    scope   text := r ->> 'key_scope';
BEGIN
    SELECT coalesce(pg_catalog.jsonb_object_agg(c, r -> c) FILTER (WHERE r -> c <> 'null'), '{}'),
           pg_catalog.jsonb_object_agg(c, NULL::jsonb)
      INTO plain, cleared
      FROM pg_catalog.unnest(TG_ARGV) c;
    IF TG_OP = 'UPDATE' THEN
        -- Plaintext columns read NULL, so an UPDATE that leaves them NULL keeps the sealed
        -- values (coalesce semantics); one that sets them replaces those values only.
        IF plain = '{}' AND NEW.sealed IS NOT DISTINCT FROM OLD.sealed
           AND scope IS NOT DISTINCT FROM OLD.key_scope THEN
            RETURN NEW;
        END IF;
        merged := coalesce(hublink.unseal(OLD.key_scope, OLD.sealed), '{}');
        IF NEW.sealed IS NOT NULL AND NEW.sealed IS DISTINCT FROM OLD.sealed THEN
            -- An upsert copying EXCLUDED.sealed: its values replace the old ones.
            merged := merged || pg_catalog.jsonb_strip_nulls(hublink.unseal(scope, NEW.sealed));
        END IF;
        scope := coalesce(scope, OLD.key_scope);
    ELSIF NEW.sealed IS NOT NULL THEN
        merged := hublink.unseal(scope, NEW.sealed);
    END IF;
    merged := merged || plain;
    IF scope IS NULL THEN
        EXECUTE (SELECT s.scope_query FROM hublink.sealed_table s WHERE s.table_name = TG_RELID::regclass)
           INTO scope USING r;
    END IF;
    IF scope IS NULL THEN
        RAISE EXCEPTION 'cannot seal a row of % without its removal', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Personal data is sealed under the data key of the removal it belongs to, and this row has none.',
                  HINT = 'Insert the row that links it to a removal first.';
    END IF;
    NEW := pg_catalog.jsonb_populate_record(NEW, cleared || pg_catalog.jsonb_build_object(
               'key_scope', scope, 'sealed', pg_catalog.to_jsonb(hublink.seal(scope, merged))));
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.seal_personal_row() IS
    'BEFORE INSERT OR UPDATE trigger of the sealed tables: encrypts the personal columns named '
    'by its arguments into "sealed" and sets them to NULL, so plaintext never reaches the heap. '
    'On UPDATE a personal column left NULL keeps its sealed value.';
REVOKE ALL ON FUNCTION hublink.seal_personal_row() FROM PUBLIC;

-- Seals a table: every column whose COMMENT starts "PERSONAL DATA:", read from the catalog.
CREATE FUNCTION hublink.seal_personal_columns(p_table regclass, p_scope_query text, p_description text)
    RETURNS text[]
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cols text[];
    c    text;
BEGIN
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) INTO cols
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_description d
        ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = a.attrelid AND d.objsubid = a.attnum
     WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped
       AND d.description LIKE 'PERSONAL DATA:%';
    IF cols IS NULL THEN
        RAISE EXCEPTION '% has no PERSONAL DATA column', p_table
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Only columns whose COMMENT starts "PERSONAL DATA:" are sealed.',
                  HINT = 'Comment the personal columns first.';
    END IF;
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN key_scope text, ADD COLUMN sealed bytea', p_table);
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.key_scope IS %L', p_table,
        'The removal whose data key seals this row (hublink.data_key.key_scope).');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.sealed IS %L', p_table,
        'The personal columns of this row as a JSON object, encrypted under the data key of key_scope '
        '(hublink.seal); read them with hublink.unsealed(row), which audits.');
    -- Sealed bytes are random: compressing them is wasted work.
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN sealed SET STORAGE EXTERNAL', p_table);
    FOREACH c IN ARRAY cols LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', p_table, c);
        EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IS NULL)', p_table, c || '_sealed', c);
    END LOOP;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON %s FOR EACH ROW '
        'EXECUTE FUNCTION hublink.seal_personal_row(%s)',
        p_table, (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x), ', ') FROM pg_catalog.unnest(cols) x));
    INSERT INTO hublink.sealed_table VALUES (p_table, p_scope_query, p_description);
    RETURN cols;
END;
$$;
COMMENT ON FUNCTION hublink.seal_personal_columns(regclass, text, text) IS
    'Seals the PERSONAL DATA columns of a table (from their COMMENTs): adds key_scope and sealed, '
    'a CHECK (column IS NULL) named <column>_sealed on each, and the seal_personal_data trigger. '
    'Run by the install script; a part that adds personal columns later calls it again after '
    'dropping the trigger. Returns the columns sealed.';
REVOKE ALL ON FUNCTION hublink.seal_personal_columns(regclass, text, text) FROM PUBLIC;

SELECT hublink.seal_personal_columns('hublink.returnee_personal',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.travel_document',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.risk_assessment',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.escort_personal',
    'SELECT r.removal_reference FROM hublink.escort_person e JOIN hublink.removal r USING (removal_id)
      WHERE e.escort_person_id = ($1 ->> ''escort_person_id'')::bigint',
    'Through hublink.escort_person.');
SELECT hublink.seal_personal_columns('hublink.tsp_passenger',
    'SELECT coalesce(b.removal_id, ''booking '' || b.booking_ref) FROM hublink.tsp_booking b
      WHERE b.booking_ref = $1 ->> ''booking_ref''',
    'Through hublink.tsp_booking: its removal reference, else the booking itself.');

-- Who may open what a key scope seals: a removal's data only with a clearance for it
-- (90_access.sql); the messages of a day that named no removal (rejected bytes, errors,
-- announcements; "messages <date>", below) only the worker, the owner and hublink_admin.
CREATE FUNCTION hublink.require_key_scope_access(p_scope text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_scope !~ '^messages [0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM hublink.require_removal_access(p_scope);
    ELSIF NOT (coalesce(hublink.removal_access_allowed(NULL), false)
               OR pg_catalog.pg_has_role(session_user, 'hublink_admin', 'USAGE')) THEN
        RAISE EXCEPTION 'the messages of % are not accessible', pg_catalog.substr(p_scope, 10)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Messages that name no removal are read by administrators only.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_key_scope_access(text) IS
    'Raises insufficient_privilege unless the login may open data sealed under the key scope: for '
    'a removal reference hublink.require_removal_access; for the day scope of messages that named '
    'no removal ("messages <date>") the owner, superusers, the worker and hublink_admin members.';
REVOKE ALL ON FUNCTION hublink.require_key_scope_access(text) FROM PUBLIC;

-- The removal's free-text notes and the returnees' locations: sealed only on rows that have one
-- (a WHEN clause), so the state machine's many updates of hublink.removal pay nothing.
SELECT hublink.seal_personal_columns('hublink.removal', 'SELECT $1 ->> ''removal_reference''',
    'The removal itself (removal_reference).');
DROP TRIGGER seal_personal_data ON hublink.removal;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.removal
    FOR EACH ROW WHEN (NEW.notes IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('notes');
SELECT hublink.seal_personal_columns('hublink.returnee',
    'SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = ($1 ->> ''removal_id'')::bigint',
    'Through hublink.removal.');
DROP TRIGGER seal_personal_data ON hublink.returnee;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.returnee
    FOR EACH ROW WHEN (NEW.location IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('location');

-- The authorised read.
CREATE FUNCTION hublink.unsealed(p_row anyelement) RETURNS anyelement
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     jsonb := pg_catalog.to_jsonb(p_row);
    scope text := r ->> 'key_scope';
    v     jsonb;
BEGIN
    PERFORM hublink.require_key_scope_access(scope) WHERE scope IS NOT NULL; -- need-to-know, 90_access.sql
    IF r ->> 'sealed' IS NULL
       OR NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = scope) THEN
        RETURN p_row; -- nothing sealed, or crypto-shredded by a purge: the columns read NULL
    END IF;
    v := hublink.unseal(scope, pg_catalog.decode(pg_catalog.substr(r ->> 'sealed', 3), 'hex'));
    PERFORM hublink.audit_note('decrypt',
        (SELECT x.removal_id FROM hublink.removal x WHERE x.removal_reference = scope),
        pg_catalog.jsonb_build_object(
            'table', pg_catalog.pg_typeof(p_row)::text,
            'key_scope', scope,
            'columns', (SELECT pg_catalog.jsonb_agg(k ORDER BY k) FROM pg_catalog.jsonb_object_keys(v) k)));
    RETURN pg_catalog.jsonb_populate_record(p_row, v);
END;
$$;
COMMENT ON FUNCTION hublink.unsealed(anyelement) IS
    'A row of a sealed table with its personal columns decrypted (NFR 0011), e.g. SELECT '
    '(hublink.unsealed(p)).given_names FROM hublink.returnee_personal p. Every call that '
    'decrypts writes an audit row (action decrypt: table, key scope, columns; never the values). '
    'After a purge destroyed the removal''s key the personal columns read NULL. Rows sealed under '
    'the day key of messages that named no removal: hublink_admin only.';
REVOKE ALL ON FUNCTION hublink.unsealed(anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.unsealed(anyelement) TO hublink_admin, hublink_caseworker;

CREATE VIEW hublink.personal_data_column AS
SELECT c.oid::regclass AS table_name, a.attname::text AS column_name, d.description,
       EXISTS (SELECT FROM pg_catalog.pg_constraint k
                WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conname = a.attname || '_sealed'
                  AND pg_catalog.pg_get_constraintdef(k.oid) = pg_catalog.format('CHECK ((%I IS NULL))', a.attname))
       AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = c.oid AND g.tgname = 'seal_personal_data' AND g.tgenabled <> 'D'
                      AND g.tgfoid = 'hublink.seal_personal_row()'::regprocedure
                      AND position(('\x00'::bytea || pg_catalog.convert_to(a.attname, 'UTF8') || '\x00'::bytea)
                                           IN ('\x00'::bytea || g.tgargs)) > 0)
       AS sealed
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = c.oid AND d.objsubid = a.attnum
 WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
   AND d.description LIKE 'PERSONAL DATA:%';
COMMENT ON VIEW hublink.personal_data_column IS
    'Every column of the hublink schema whose COMMENT starts "PERSONAL DATA:", from the catalog, '
    'and whether it is sealed (its <column>_sealed CHECK and the seal trigger naming it). A '
    'personal column added later without sealing shows sealed = false.';
COMMENT ON COLUMN hublink.personal_data_column.table_name IS 'The table.';
COMMENT ON COLUMN hublink.personal_data_column.column_name IS 'The column.';
COMMENT ON COLUMN hublink.personal_data_column.description IS 'Its COMMENT.';
COMMENT ON COLUMN hublink.personal_data_column.sealed IS 'True when no plaintext can be stored in it.';

-- --- messages ---------------------------------------------------------------------------------
-- The inbox and the outbox keep whole messages, whose bodies carry the same personal data, and
-- the inbox keeps what went wrong with them: the bytes of a delivery that was not JSON (raw),
-- the problems sent back in its Error message and the handler's last error, any of which can
-- quote a name or a passport number. All of it is sealed (issue 6 section 2, NFR 0011):
--
-- - The key scope of a row (hublink.message_key_scope) is the envelope's removalId when it is a
--   removal reference, so the removal's purge destroys the key with the rest of its data;
--   otherwise the UTC day the row was stored, "messages <YYYY-MM-DD>": reference list
--   announcements, Errors for input without a readable removalId, bytes that were not JSON
--   (a garbled delivery cannot be attributed to a removal: a removalId read from it may be
--   anybody's). One key per day, not per message: a busy day would otherwise write a key row
--   per delivery, and the messages retention (75_crypto_retention.sql) deletes by age, so a
--   day is the unit it can shred once every row of it is gone.
-- - A BEFORE trigger moves the body into sealed_body, so "message" keeps only the envelope (the
--   generated columns and indexes still work); raw, problems and last_error are sealed into
--   "sealed" by the generic seal_personal_row trigger, only on rows that have any of them.
--
-- The worker reads whole messages through hublink.open_message (bgworker/inbox.c, outbox.c);
-- people through the audited hublink.inbox_document / hublink.outbox_document /
-- hublink.inbox_failure. Every trigger here is SECURITY DEFINER: the worker's role
-- (hublink_worker) holds no key and no right on hublink.data_key.

-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.message_key_scope(p_message jsonb, p_at timestamptz) RETURNS text
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

ALTER TABLE hublink.inbox ADD COLUMN key_scope text, ADD COLUMN sealed_body bytea, ADD COLUMN sealed bytea;
COMMENT ON COLUMN hublink.inbox.key_scope IS
    'The data key sealing the row (hublink.message_key_scope): the envelope''s removalId, or the day '
    '"messages <YYYY-MM-DD>" when it names no removal. Set on insert, never changed.';
COMMENT ON COLUMN hublink.inbox.sealed_body IS
    'The message''s body, encrypted under key_scope''s data key; "message" holds the envelope only.';
COMMENT ON COLUMN hublink.inbox.sealed IS
    'raw, problems and last_error as a JSON object, encrypted under key_scope''s data key; NULL when '
    'the row has none. Read with hublink.inbox_failure(id) or hublink.unsealed(row), which audit.';
ALTER TABLE hublink.inbox ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE hublink.inbox ADD CONSTRAINT inbox_body_sealed CHECK (message IS NULL OR NOT message ? 'body');
ALTER TABLE hublink.outbox ADD COLUMN key_scope text, ADD COLUMN sealed_body bytea;
COMMENT ON COLUMN hublink.outbox.key_scope IS
    'The data key sealing the body (hublink.message_key_scope): the envelope''s removalId, or the day '
    '"messages <YYYY-MM-DD>" when it names no removal. Set on insert, never changed.';
COMMENT ON COLUMN hublink.outbox.sealed_body IS
    'The message''s body, encrypted under key_scope''s data key; "message" holds the envelope only.';
ALTER TABLE hublink.outbox ALTER COLUMN sealed_body SET STORAGE EXTERNAL;
ALTER TABLE hublink.outbox ADD CONSTRAINT outbox_body_sealed CHECK (NOT message ? 'body');

CREATE FUNCTION hublink.seal_message_body() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.key_scope IS NOT NULL THEN
        NEW.key_scope := OLD.key_scope; -- what is sealed stays under the key it was sealed with
    ELSIF TG_TABLE_NAME = 'inbox' THEN
        NEW.key_scope := hublink.message_key_scope(NEW.message, NEW.processed_at);
    ELSE
        NEW.key_scope := hublink.message_key_scope(NEW.message, NEW.created_at);
    END IF;
    IF NEW.message ? 'body' THEN
        NEW.sealed_body := hublink.seal(NEW.key_scope, NEW.message -> 'body');
        NEW.message := NEW.message - 'body';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.seal_message_body() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.inbox and hublink.outbox: sets key_scope on insert '
    '(hublink.message_key_scope) and seals the message''s body into sealed_body under its data key, '
    'keeping the envelope in "message". SECURITY DEFINER: the worker''s role holds no key.';
REVOKE ALL ON FUNCTION hublink.seal_message_body() FROM PUBLIC;
CREATE TRIGGER seal_message_body BEFORE INSERT OR UPDATE ON hublink.inbox
    FOR EACH ROW EXECUTE FUNCTION hublink.seal_message_body();
-- On the outbox, only an update that names a column the trigger guards: the worker's marking
-- of replies sent (SET sent_at, every reply) does not call it (docs/performance.md "Sixth
-- pass"). An outbox row's key_scope is set on insert from created_at, which is NOT NULL, so an
-- update never has a key scope to fill in; one that sets key_scope, sealed_body or message still
-- keeps the scope and seals a body (test/sql/72_crypto_seal.sql).
CREATE TRIGGER seal_message_body BEFORE INSERT OR UPDATE OF message, key_scope, sealed_body ON hublink.outbox
    FOR EACH ROW EXECUTE FUNCTION hublink.seal_message_body();

-- raw, problems and last_error: the generic seal (CHECK <column>_sealed, trigger
-- seal_personal_data, so hublink.personal_data_column lists them sealed). It fires after
-- seal_message_body (triggers fire in name order), which has set key_scope, and only on rows
-- that carry one of them: an applied message, the worker's every insert, pays nothing for it.
ALTER TABLE hublink.inbox ADD CONSTRAINT raw_sealed CHECK (raw IS NULL),
                          ADD CONSTRAINT problems_sealed CHECK (problems IS NULL),
                          ADD CONSTRAINT last_error_sealed CHECK (last_error IS NULL);
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.inbox
    FOR EACH ROW WHEN (NEW.raw IS NOT NULL OR NEW.problems IS NOT NULL OR NEW.last_error IS NOT NULL)
    EXECUTE FUNCTION hublink.seal_personal_row('raw', 'problems', 'last_error');
INSERT INTO hublink.sealed_table VALUES ('hublink.inbox',
    'SELECT hublink.message_key_scope($1 -> ''message'', ($1 ->> ''processed_at'')::timestamptz)',
    'The message''s removal (removalId), else the day it was stored ("messages <YYYY-MM-DD>").');

-- A retry that applies the message clears its error, the sealed copy included:
-- hublink.inbox_retry_applied (38_inbox_state.sql), the inbox's one home, does it.

-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.open_message(p_message jsonb, p_key_scope text, p_sealed_body bytea) RETURNS jsonb
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
REVOKE ALL ON FUNCTION hublink.open_message(jsonb, text, bytea) FROM PUBLIC;

-- The worker's publishing fetch (bgworker/outbox.c): the next unsent outbox rows after p_after,
-- each body opened, and ONE decrypt audit row for the batch naming every message it opened
-- (key scope, messageId, type), where hublink.open_message writes one row per message. The
-- record is the same (who, when, which messages, by which function); what a burst stops paying
-- for is an audit row, its insert and its link in the chain per reply (docs/performance.md
-- "Sixth pass"). The row names the removal only when every body opened was under one.
CREATE FUNCTION hublink.open_outbox(p_after bigint, p_limit integer)
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
REVOKE ALL ON FUNCTION hublink.open_outbox(bigint, integer) FROM PUBLIC;

-- One audited opener for both message logs: they share the columns it reads.
-- The check of the message readers: a row that does not exist and one of a removal the login
-- may not see get the same error, naming only the row id the caller gave (not the removal's
-- reference, which require_key_scope_access would name). The owner, superusers and the worker
-- get no error for a missing row (the readers then return NULL).
CREATE FUNCTION hublink.require_message_access(p_log regclass, p_id bigint, p_key_scope text,
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
REVOKE ALL ON FUNCTION hublink.require_message_access(regclass, bigint, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION hublink.message_document(p_log regclass, p_id bigint) RETURNS jsonb
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
REVOKE ALL ON FUNCTION hublink.message_document(regclass, bigint) FROM PUBLIC;

CREATE FUNCTION hublink.outbox_document(p_id bigint) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.message_document('hublink.outbox', p_id);
COMMENT ON FUNCTION hublink.outbox_document(bigint) IS
    'The whole message of outbox row p_id, its body decrypted; audited (action decrypt). Needs a '
    'clearance for its removal; a message that named no removal, hublink_admin.';
REVOKE ALL ON FUNCTION hublink.outbox_document(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.outbox_document(bigint) TO hublink_admin;

CREATE FUNCTION hublink.inbox_document(p_id bigint) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.message_document('hublink.inbox', p_id);
COMMENT ON FUNCTION hublink.inbox_document(bigint) IS
    'The whole message of inbox row p_id, its body decrypted (NULL for bytes that were not JSON: '
    'see hublink.inbox_failure); audited (action decrypt). Needs a clearance for its removal; a '
    'message that named no removal, hublink_admin.';
REVOKE ALL ON FUNCTION hublink.inbox_document(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_document(bigint) TO hublink_admin;

CREATE FUNCTION hublink.inbox_failure(p_id bigint, OUT raw bytea, OUT problems jsonb, OUT last_error text)
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
REVOKE ALL ON FUNCTION hublink.inbox_failure(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_failure(bigint) TO hublink_admin;
