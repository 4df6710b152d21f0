-- Audit of row changes (issue 6 section 3; NFR 0020; docs/security-audit.md "Which tables"):
-- a generic row trigger writes one hublink.audit_log row per insert, update and delete of an
-- audited table, and a statement trigger one per truncate. Which tables are audited is
-- derived from the catalog by hublink.audit_attach(), run last (98_audit_attach.sql), so
-- tables that other parts add are covered without a list here: every table of schema
-- hublink, less the tables of hublink.audit_exclusion (the audit stores themselves and
-- bookkeeping rewritten all the time). hublink.audit_coverage says for each why it matters:
--   (a) it holds removal or message data: a removal_id column (bigint: the key; text: the
--       reference, as in the inbox and the outbox), or a one-column foreign key, directly or
--       through other tables, to a table that has one;
--   (b) hublink_admin may write it (the reference and rule tables admins edit);
--   (c) it is registered with pg_extension_config_dump (the site's own data);
--   otherwise it is reference data, rules or configuration changed by the owner.

CREATE TABLE hublink.audit_exclusion (
    table_name text PRIMARY KEY,
    reason     text NOT NULL
);
COMMENT ON TABLE hublink.audit_exclusion IS
    'Tables of schema hublink that hublink.audit_attach() does not audit, each with the reason '
    '(reference data): the audit stores themselves and bookkeeping rewritten all the time.';
COMMENT ON COLUMN hublink.audit_exclusion.table_name IS 'Table name in schema hublink (it need not exist).';
COMMENT ON COLUMN hublink.audit_exclusion.reason IS 'Why it is not audited.';
INSERT INTO hublink.audit_exclusion VALUES
    ('audit_log', 'The audit trail itself: auditing it would recurse; the hash chain protects it.'),
    ('audit_chain', 'The hash chain of the audit trail: written only by the sealing trigger.'),
    ('security_event', 'The protective-monitoring event store, flushed from shared memory by the '
                       'worker: an audit store itself.'),
    ('security_ring_flushed', 'Bookkeeping of the monitoring flush, rewritten at every flush.'),
    ('logon', 'Every logon attempt, copied by the worker from the monitoring ring: an audit store itself.'),
    ('worker_job', 'The worker rewrites next_run_at at every run of every job: one audit row per run '
                   'would bury the rest. Known gap: an admin disabling a job is not audited here.'),
    ('data_key', 'Wrapped data keys, one per removal: creating one is part of sealing the removal''s '
                 'first message, and a row audit cost 70% of it; the purges and rotations that '
                 'change or destroy keys are audited by audit_note (docs/security-crypto.md).'),
    ('tsp_flight_fares', 'Derived from tsp_fare and tsp_fare_price (both audited) by triggers, for the itinerary '
                         'search: auditing it would record every fare change twice.');

CREATE TABLE hublink.audit_table_rule (
    table_name     text PRIMARY KEY,
    insert_action  text NOT NULL REFERENCES hublink.audit_action,
    detail_columns text[] NOT NULL DEFAULT '{}',
    reason         text NOT NULL
);
COMMENT ON TABLE hublink.audit_table_rule IS
    'Audited tables whose inserts are recorded as a named action, and the columns copied into '
    'the audit row''s detail (never a column whose comment starts PERSONAL DATA; '
    'hublink.audit_attach() refuses one).';
COMMENT ON COLUMN hublink.audit_table_rule.table_name IS 'Table name in schema hublink.';
COMMENT ON COLUMN hublink.audit_table_rule.insert_action IS 'The action an insert is recorded as (updates and deletes stay update and delete).';
COMMENT ON COLUMN hublink.audit_table_rule.detail_columns IS 'Columns whose values go into the audit row''s detail, for every operation.';
COMMENT ON COLUMN hublink.audit_table_rule.reason IS 'Why.';
INSERT INTO hublink.audit_table_rule VALUES
    ('state_transition', 'state_transition',
     '{machine,from_state,to_state,event,direction,party,message_id}', 'Every state transition (issue 6 section 3).'),
    ('inbox', 'message_in', '{message_id,message_type,queue,status}', 'Every message in.'),
    ('outbox', 'message_out', '{message_id,message_type,queue}', 'Every message out; its update sets sent_at.');

-- In C (extension/audit_trigger.c): the same statements as the PL/pgSQL it replaced, whose
-- interpretation was a third of the trigger's time on every audited row (docs/performance.md
-- "Per-message cost, third pass"); test/sql/71_audit_trigger_c.sql compares its rows with that
-- definition's, column by column. The digests hash to_jsonb(row)::text; the SET options make
-- that text the same in every session.
CREATE FUNCTION hublink.audit_row_change() RETURNS trigger
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
REVOKE ALL ON FUNCTION hublink.audit_row_change() FROM PUBLIC;

CREATE FUNCTION hublink.audit_truncate() RETURNS trigger
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
REVOKE ALL ON FUNCTION hublink.audit_truncate() FROM PUBLIC;

-- How an audited table's row leads to its removal, from the catalog.
CREATE FUNCTION hublink.audit_removal_path(p_table regclass, p_depth integer DEFAULT 0,
                                           OUT mode text, OUT key_column text, OUT lookup text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ     regtype;
    f       record;
    parent  record;
    a       text := 'p' || p_depth;
BEGIN
    SELECT a.atttypid::regtype INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_table AND a.attname = 'removal_id' AND NOT a.attisdropped;
    IF typ = 'bigint'::regtype THEN
        mode := 'id'; key_column := 'removal_id';
        RETURN;
    ELSIF typ = 'text'::regtype THEN
        mode := 'reference'; key_column := 'removal_id';
        RETURN;
    END IF;
    mode := 'none';
    IF p_depth >= 6 THEN
        RETURN;
    END IF;
    -- A one-column foreign key to a table that leads to a removal; the shortest such path.
    FOR f IN SELECT ka.attname AS kcol, pa.attname AS pcol, k.confrelid::regclass AS ptab,
                    pg_catalog.format_type(pa.atttypid, pa.atttypmod) AS ptype
               FROM pg_catalog.pg_constraint k
               JOIN pg_catalog.pg_attribute ka ON ka.attrelid = k.conrelid AND ka.attnum = k.conkey[1]
               JOIN pg_catalog.pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
              WHERE k.conrelid = p_table AND k.contype = 'f' AND pg_catalog.cardinality(k.conkey) = 1
                AND k.confrelid <> p_table
              ORDER BY k.conname LOOP
        parent := hublink.audit_removal_path(f.ptab, p_depth + 1);
        IF parent.mode = 'id' THEN
            lookup := pg_catalog.format('SELECT %1$s.removal_id, NULL::text FROM %2$s %1$s WHERE %1$s.%3$I = ($1)::%4$s',
                                        a, f.ptab, f.pcol, f.ptype);
        ELSIF parent.mode = 'reference' THEN
            lookup := pg_catalog.format('SELECT r.removal_id, %1$s.removal_id FROM %2$s %1$s '
                                        'LEFT JOIN hublink.removal r ON r.removal_reference = %1$s.removal_id '
                                        'WHERE %1$s.%3$I = ($1)::%4$s', a, f.ptab, f.pcol, f.ptype);
        ELSIF parent.mode = 'lookup' THEN
            lookup := pg_catalog.format('SELECT q.* FROM %2$s %1$s CROSS JOIN LATERAL (%5$s) q WHERE %1$s.%3$I = ($1)::%4$s',
                                        a, f.ptab, f.pcol, f.ptype,
                                        pg_catalog.replace(parent.lookup, '($1)', pg_catalog.format('(%s.%I)', a, parent.key_column)));
        ELSE
            CONTINUE;
        END IF;
        mode := 'lookup'; key_column := f.kcol;
        RETURN;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.audit_removal_path(regclass, integer) IS
    'How a row of the table leads to its removal: mode id (its removal_id), reference (its '
    'removal_id is the removal reference), lookup (a query over one-column foreign keys taking '
    'key_column''s value as $1 and returning removal_id, removal_reference) or none.';

CREATE VIEW hublink.audit_coverage AS
SELECT c.oid::regclass AS table_name, p.mode AS removal_path, p.key_column,
       (p.mode <> 'none') AS holds_removal_data,
       pg_catalog.has_table_privilege('hublink_admin', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS admin_edits,
       c.oid IN (SELECT pg_catalog.unnest(e.extconfig) FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink') AS site_data
  FROM pg_catalog.pg_class c
 CROSS JOIN LATERAL hublink.audit_removal_path(c.oid::regclass) p
 WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relname NOT IN (SELECT x.table_name FROM hublink.audit_exclusion x);
COMMENT ON VIEW hublink.audit_coverage IS
    'The tables hublink.audit_attach() audits: every table of schema hublink less '
    'hublink.audit_exclusion, with why each matters (docs/security-audit.md "Which tables").';
COMMENT ON COLUMN hublink.audit_coverage.table_name IS 'The audited table.';
COMMENT ON COLUMN hublink.audit_coverage.removal_path IS 'How its rows lead to a removal: id, reference, lookup or none.';
COMMENT ON COLUMN hublink.audit_coverage.key_column IS 'The column that leads to the removal.';
COMMENT ON COLUMN hublink.audit_coverage.holds_removal_data IS '(a) It holds removal or message data.';
COMMENT ON COLUMN hublink.audit_coverage.admin_edits IS '(b) hublink_admin may write it.';
COMMENT ON COLUMN hublink.audit_coverage.site_data IS '(c) It is registered with pg_extension_config_dump.';

CREATE FUNCTION hublink.audit_attach() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tab   regclass;
    t     record;
    p     record;
    rule  hublink.audit_table_rule;
    pk    text[];
    bad   text;
    n     integer := 0;
BEGIN
    -- The list first: ALTER TABLE below may touch a table the query reads (audit_exclusion).
    FOREACH tab IN ARRAY ARRAY(SELECT v.table_name FROM hublink.audit_coverage v ORDER BY v.table_name::text) LOOP
        SELECT tab AS table_name, c.relname INTO t FROM pg_catalog.pg_class c WHERE c.oid = tab;
        p := hublink.audit_removal_path(t.table_name);
        SELECT * INTO rule FROM hublink.audit_table_rule r WHERE r.table_name = t.relname;
        SELECT pg_catalog.col_description(t.table_name, a.attnum) INTO bad
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = t.table_name AND a.attname = ANY (rule.detail_columns)
           AND pg_catalog.col_description(t.table_name, a.attnum) LIKE 'PERSONAL DATA:%';
        IF FOUND THEN
            RAISE EXCEPTION 'audit detail of % names a personal data column', t.table_name
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Audit rows must never hold personal data.',
                      HINT = 'Remove the column from hublink.audit_table_rule.detail_columns.';
        END IF;
        -- The primary key identifies the row; a key column that is personal data is left out.
        SELECT coalesce(pg_catalog.array_agg(a.attname::text ORDER BY a.attnum), '{}') INTO pk
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = t.table_name AND i.indisprimary
           AND coalesce(pg_catalog.col_description(t.table_name, a.attnum), '') NOT LIKE 'PERSONAL DATA:%';
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION hublink.audit_row_change(%L, %L, %L, %L, %L, %L)',
            t.table_name, coalesce(rule.insert_action, 'insert'), pk::text,
            coalesce(rule.detail_columns, '{}')::text,
            p.mode, coalesce(p.key_column, ''), coalesce(p.lookup, ''));
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER audit_row ON %s IS %L', t.table_name,
                                  'Audit: one hublink.audit_log row per inserted, updated or deleted row (hublink.audit_attach).');
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_row', t.table_name);
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER audit_truncate AFTER TRUNCATE ON %s '
            'FOR EACH STATEMENT EXECUTE FUNCTION hublink.audit_truncate()', t.table_name);
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER audit_truncate ON %s IS %L', t.table_name,
                                  'Audit: one hublink.audit_log row per TRUNCATE (hublink.audit_attach).');
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_truncate', t.table_name);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.audit_attach() IS
    'Attaches the audit triggers (ENABLE ALWAYS, so also under session_replication_role = '
    'replica) to every table of hublink.audit_coverage; idempotent. Run at install after every '
    'part (98_audit_attach.sql) and again by any later part or upgrade that adds tables. '
    'Returns the number of tables.';
REVOKE ALL ON FUNCTION hublink.audit_attach() FROM PUBLIC;
