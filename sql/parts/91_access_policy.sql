-- Need-to-know access, applied from the catalog (issue 6 section 1; NFR 0015): which tables
-- hold removal data and how each row reaches its removal (derived from the columns and the
-- foreign keys, so tables that later parts add are covered), which class every table and view
-- of the schema belongs to, and which role gets what on each class, as rows.
-- hublink.apply_access_policy() applies them; 93_access_apply.sql runs it last.

CREATE TABLE hublink.access_class (
    class       text PRIMARY KEY CHECK (class ~ '^[a-z_]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.access_class IS
    'Classes of tables and views for access control (docs/security-access.md): each object of the '
    'schema falls in one (hublink.access_object), and hublink.access_grant says what each role gets on it.';
COMMENT ON COLUMN hublink.access_class.class IS 'Name of the class.';
COMMENT ON COLUMN hublink.access_class.description IS 'What falls in it.';
INSERT INTO hublink.access_class VALUES
    ('removal_data', 'Tables whose rows belong to one removal (a removal_id column, or a foreign key '
                     'path to such a table): row-level security by the removal''s sensitivity.'),
    ('message_log', 'The inbox and the outbox: whole messages the worker processes; row-level security '
                    'as removal data, and the worker sees every row.'),
    ('reference', 'Every other table: reference data, rules, configuration; no personal data.'),
    ('removal_view', 'Views that read removal data: made security_invoker, so the reader''s row-level '
                     'security applies.'),
    ('message_view', 'Views that read the inbox or the outbox and no removal data (the worker''s '
                     'status): made security_invoker.'),
    ('mi_view', 'The management information views hublink.mi_*: aggregates without personal data, read '
                'with the owner''s rights by reporting.'),
    ('reference_view', 'Every other view.'),
    ('own_grants', 'Tables and views whose own part decides every privilege (the audit trail, the data '
                   'keys, the security events): apply_access_policy grants nothing on them and enables '
                   'no row-level security.'),
    ('invoker_function', 'Functions of the schema that run with the caller''s rights and that their part left '
                         'executable by PUBLIC: apply_access_policy revokes EXECUTE from PUBLIC and grants it '
                         'to the group roles of hublink.access_grant.'),
    ('definer_function', 'SECURITY DEFINER functions that their part left executable by PUBLIC (trigger '
                         'functions): EXECUTE revoked from PUBLIC; their part grants them by name.'),
    ('schema_type', 'Types of the schema (the row types of its tables and views, composite types): USAGE, '
                    'which lets a role create a column or function of the type, revoked from PUBLIC '
                    '(such objects would pin the tables'' definitions) and granted to the group roles.');

CREATE TABLE hublink.access_table_override (
    table_name text PRIMARY KEY,
    class      text NOT NULL REFERENCES hublink.access_class,
    reason     text NOT NULL
);
COMMENT ON COLUMN hublink.access_table_override.table_name IS
    'Table or view name in schema hublink, or a LIKE pattern of names (the longest match wins).';
COMMENT ON TABLE hublink.access_table_override IS
    'Tables and views whose class is not the one derived from the catalog (hublink.access_object).';
COMMENT ON COLUMN hublink.access_table_override.class IS 'Its class.';
COMMENT ON COLUMN hublink.access_table_override.reason IS 'Why.';
INSERT INTO hublink.access_table_override VALUES
    ('inbox', 'message_log', 'Whole inbound messages: the worker processes them; caseworkers read the domain tables.'),
    ('outbox', 'message_log', 'Whole outbound messages: the worker publishes them.'),
    ('removal_data_path', 'reference_view', 'Catalog only: it names hublink.removal, it reads no row of it.'),
    ('access_object', 'reference_view', 'Catalog only: it names hublink.removal, it reads no row of it.'),
    ('audit\_%', 'own_grants', 'The audit trail (70_audit*.sql, docs/security-audit.md) grants its own privileges.'),
    ('data\_key%', 'own_grants', 'Data keys (73_crypto_keys.sql, docs/security-crypto.md): no role reads them.'),
    ('security\_%', 'own_grants', 'Protective monitoring (77_security_events.sql, docs/security-monitoring.md).'),
    ('logon%', 'own_grants', 'Logon records (77_security_events.sql): protective monitoring.'),
    ('rollup\_mi\_%', 'own_grants', 'The MI rollup (85_mi_rollup.sql, docs/mi.md): read with the owner''s '
                      'rights by the hublink.mi_* views, written by its job and triggers only.'),
    ('worker%status', 'reference_view', 'Counts and queue names, no message content: read with the '
                      'owner''s rights by hublink.mi_worker and hublink.mi_message_backlog for reporting.'),
    ('needs_attention', 'own_grants', 'The open error reports with their outbox row''s id and send time: '
                        'no message content, for the admins who clear them (granted below); it shows each '
                        'login only the reports of removals it is cleared for (hublink.error_report_visible), '
                        'and those naming no removal.');
-- The admins clear Errors (hublink.clear_attention); the view checks their clearance.
GRANT SELECT ON hublink.needs_attention TO hublink_admin;

CREATE TABLE hublink.access_grant (
    class      text NOT NULL REFERENCES hublink.access_class,
    role_name  name NOT NULL,
    privileges text[] NOT NULL,
    PRIMARY KEY (class, role_name)
);
COMMENT ON TABLE hublink.access_grant IS
    'What each group role is granted on each class of object (Appendix B 4.16); a class or role '
    'without a row gets nothing.';
COMMENT ON COLUMN hublink.access_grant.class IS 'The class.';
COMMENT ON COLUMN hublink.access_grant.role_name IS 'The group role.';
COMMENT ON COLUMN hublink.access_grant.privileges IS 'Privileges granted on each object of the class.';
INSERT INTO hublink.access_grant VALUES
    -- SELECT only: a caseworker changes a removal through the Hub's SECURITY DEFINER functions
    -- (44_hub.sql), which run the state machine and check its clearance, never by DML.
    ('removal_data', 'hublink_caseworker', '{SELECT}'),
    ('message_log', 'hublink_worker', '{SELECT,INSERT,UPDATE,DELETE}'),
    ('reference', 'hublink_admin', '{SELECT}'),
    ('reference', 'hublink_caseworker', '{SELECT}'),
    ('reference', 'hublink_worker', '{SELECT}'),
    ('removal_view', 'hublink_caseworker', '{SELECT}'),
    ('reference_view', 'hublink_admin', '{SELECT}'),
    ('reference_view', 'hublink_caseworker', '{SELECT}'),
    ('reference_view', 'hublink_worker', '{SELECT}'),
    ('message_view', 'hublink_worker', '{SELECT}'),
    ('mi_view', 'hublink_reporting', '{SELECT}'),
    ('mi_view', 'hublink_admin', '{SELECT}'),
    -- what PUBLIC had before apply_access_policy revoked it: the roles that use the schema
    ('invoker_function', 'hublink_admin', '{EXECUTE}'),
    ('invoker_function', 'hublink_caseworker', '{EXECUTE}'),
    ('invoker_function', 'hublink_reporting', '{EXECUTE}'),
    ('invoker_function', 'hublink_worker', '{EXECUTE}'),
    ('invoker_function', 'hublink_audit_reader', '{EXECUTE}'),
    ('schema_type', 'hublink_admin', '{USAGE}'),
    ('schema_type', 'hublink_caseworker', '{USAGE}'),
    ('schema_type', 'hublink_reporting', '{USAGE}'),
    ('schema_type', 'hublink_worker', '{USAGE}'),
    ('schema_type', 'hublink_audit_reader', '{USAGE}');

-- PUBLIC has USAGE on the schema (apply_access_policy), so that a login holding no hublink role
-- is refused by the privilege check of the very table it names, where the monitoring's hooks
-- see an attempt on the audit store (docs/security-monitoring.md). Hence no function of the
-- schema is executable by PUBLIC but these.
CREATE TABLE hublink.access_public_function (
    function_name text PRIMARY KEY,
    reason        text NOT NULL
);
COMMENT ON TABLE hublink.access_public_function IS
    'The functions of schema hublink that PUBLIC may execute (docs/security-access.md "Logins '
    'without a hublink role"); apply_access_policy revokes EXECUTE from PUBLIC on every other one.';
COMMENT ON COLUMN hublink.access_public_function.function_name IS
    'The function as regprocedure text with search_path pg_catalog (hublink.name(argument types)).';
COMMENT ON COLUMN hublink.access_public_function.reason IS 'Why PUBLIC may execute it.';
INSERT INTO hublink.access_public_function VALUES
    ('hublink.cleared_levels()', 'The row-level security policies call it for every reader; it returns only '
                                 'the caller''s own levels (none for a login without a clearance).');

-- How each table reaches its removal: a removal_id column (bigint: the key; text: the
-- reference), a text column removal_ref or removal_reference (the reference: the escort
-- provider's plans and bookings, Errors received, the purge log), or a one-column foreign key
-- to a table that does. Not key_scope: it names a data key, which is a removal's reference or
-- something else ("escort <id>", "esp plan <id>", "messages <day>"); every table whose
-- key_scope can be a removal's reference reaches it by one of the ways above.
CREATE VIEW hublink.removal_data_path AS
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
COMMENT ON COLUMN hublink.removal_data_path.table_name IS 'The table.';
COMMENT ON COLUMN hublink.removal_data_path.key_column IS 'Its column that leads to the removal.';
COMMENT ON COLUMN hublink.removal_data_path.parent IS 'The table that column references.';
COMMENT ON COLUMN hublink.removal_data_path.parent_column IS 'The column referenced.';
COMMENT ON COLUMN hublink.removal_data_path.depth IS 'Steps from hublink.removal.';

-- The class of every table and view of the schema.
CREATE VIEW hublink.access_object AS
WITH RECURSIVE
objects AS (
    SELECT c.oid AS relid, c.relname, c.relkind
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
),
overrides AS (
    SELECT DISTINCT ON (o.relid) o.relid, x.class
      FROM objects o JOIN hublink.access_table_override x ON o.relname LIKE x.table_name
     ORDER BY o.relid, length(x.table_name) DESC
),
table_class AS (
    SELECT o.relid,
           coalesce(x.class,
                    CASE WHEN o.relid = 'hublink.removal'::regclass
                              OR o.relid IN (SELECT p.table_name FROM hublink.removal_data_path p)
                         THEN 'removal_data' ELSE 'reference' END) AS class
      FROM objects o LEFT JOIN overrides x ON x.relid = o.relid
     WHERE o.relkind IN ('r', 'p')
),
-- views and what they read, through other views
reads (view_id, relid) AS (
    SELECT DISTINCT r.ev_class, d.refobjid
      FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
     WHERE r.ev_class IN (SELECT o.relid FROM objects o WHERE o.relkind IN ('v', 'm'))
    UNION
    SELECT v.view_id, d.refobjid
      FROM reads v
      JOIN pg_catalog.pg_rewrite r ON r.ev_class = v.relid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
)
SELECT o.relid::regclass AS object_name, o.relkind,
       CASE WHEN o.relkind IN ('r', 'p') THEN t.class
            WHEN x.class IS NOT NULL THEN x.class
            WHEN o.relname LIKE 'mi\_%' THEN 'mi_view'
            WHEN EXISTS (SELECT FROM reads v JOIN table_class u ON u.relid = v.relid
                          WHERE v.view_id = o.relid AND u.class = 'removal_data')
            THEN 'removal_view'
            WHEN EXISTS (SELECT FROM reads v JOIN table_class u ON u.relid = v.relid
                          WHERE v.view_id = o.relid AND u.class = 'message_log')
            THEN 'message_view'
            ELSE 'reference_view' END AS class
  FROM objects o LEFT JOIN table_class t ON t.relid = o.relid
  LEFT JOIN overrides x ON x.relid = o.relid;
COMMENT ON VIEW hublink.access_object IS
    'The access class of every table and view of schema hublink, from the catalog: removal data by '
    'hublink.removal_data_path, overrides from hublink.access_table_override, views by what they read '
    '(mi_* views by name).';
COMMENT ON COLUMN hublink.access_object.object_name IS 'The table or view.';
COMMENT ON COLUMN hublink.access_object.relkind IS 'pg_class.relkind: r table, p partitioned table, v view, m materialized view.';
COMMENT ON COLUMN hublink.access_object.class IS 'Its class (hublink.access_class).';

CREATE FUNCTION hublink.apply_access_policy() RETURNS integer
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
REVOKE ALL ON FUNCTION hublink.apply_access_policy() FROM PUBLIC;

-- The functions the worker role runs (docs/worker.md). Not hublink.send to caseworkers: it
-- writes the outbox without the state machine; the Hub functions (SECURITY DEFINER, 44_hub.sql)
-- call it as the owner.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT x.sig, x.role_name FROM (VALUES
        ('hublink.send(jsonb)', 'hublink_worker'),
        ('hublink.enqueue_error(text,jsonb,jsonb)', 'hublink_worker'),
        ('hublink.inbox_reject(text,jsonb,bytea,jsonb,timestamptz,text,timestamptz,boolean,jsonb)', 'hublink_worker'),
        ('hublink.inbox_defer(text,jsonb,text,timestamptz,text,timestamptz,boolean)', 'hublink_worker'),
        ('hublink.inbox_retry_failed(bigint,text)', 'hublink_worker'),
        -- the inbox's one home (38_inbox_state.sql): the rows the worker stores and retries
        ('hublink.inbox_store_applied(text,jsonb,timestamptz,text,timestamptz,boolean)', 'hublink_worker'),
        ('hublink.inbox_retry_applied(bigint)', 'hublink_worker'),
        -- the sealed bodies it publishes (bgworker/outbox.c) and retries (bgworker/inbox.c)
        ('hublink.open_message(jsonb,text,bytea)', 'hublink_worker'),
        ('hublink.open_outbox(bigint,integer)', 'hublink_worker'),
        ('hublink.run_worker_jobs()', 'hublink_worker'),
        -- the broker contract (36_broker_contract.sql): alerts, reused messageIds, Errors received
        ('hublink.worker_alert(text,text,jsonb,text)', 'hublink_worker'),
        ('hublink.inbox_duplicate(text,jsonb)', 'hublink_worker'),
        ('hublink.inbox_reject_retrying(bigint,jsonb)', 'hublink_worker'),
        ('hublink.receive_error(jsonb)', 'hublink_worker'),
        ('hublink.clear_attention(bigint,text)', 'hublink_admin'),
        -- hublink.needs_attention calls it as its reader
        ('hublink.error_report_visible(text)', 'hublink_admin'),
        -- The handlers (hublink.message_handler; the worker checks EXECUTE before it calls one)
        -- and the opener of sealed message bodies it publishes or retries.
        ('hublink.handle_message(jsonb)', 'hublink_worker'),
        ('hublink.apply_reference_list(jsonb)', 'hublink_worker'),
        ('hublink.record_message(jsonb)', 'hublink_worker'),
        ('hublink.open_message(jsonb,text,bytea)', 'hublink_worker')) AS x (sig, role_name)
    LOOP
        IF pg_catalog.to_regprocedure(f.sig) IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', pg_catalog.to_regprocedure(f.sig), f.role_name);
        END IF;
    END LOOP;
END;
$$;
