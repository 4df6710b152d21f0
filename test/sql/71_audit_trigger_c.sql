-- The audit trigger in C (issue 15 section 3; extension/audit_trigger.c, docs/security-audit.md)
-- writes, for every row change, the row the PL/pgSQL trigger it replaced wrote: the same who,
-- action, table, removal, key, changed columns, digests and detail, byte for byte. That
-- PL/pgSQL definition is kept below as the reference: attached beside the C trigger on every
-- audited table and on probe tables of many column types, it writes its rows to a copy of
-- hublink.audit_log, and the two are compared pair by pair, under a session whose TimeZone,
-- DateStyle, IntervalStyle and extra_float_digits differ from the trigger's, and as another
-- role. A removal's flow (create_removal, a message handled, an update, a delete) and the
-- probes' inserts, updates and deletes are the rows compared.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(7);
SET LOCAL TimeZone = 'America/St_Johns';
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL IntervalStyle = 'iso_8601';
SET LOCAL extra_float_digits = -3;

CREATE TABLE hublink_test.audit_ref_log (LIKE hublink.audit_log INCLUDING DEFAULTS INCLUDING IDENTITY);
-- The PL/pgSQL trigger as it was before the C one (sql/parts/71_audit_rows.sql at 0132a49),
-- writing to the copy.
CREATE FUNCTION hublink_test.audit_row_change_reference() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- The digests hash to_jsonb(row)::text; these make that text the same in every session.
    SET TimeZone = 'UTC'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    AS $$
DECLARE
    -- Arguments (set by hublink.audit_attach): 0 action of an insert, 1 primary key columns
    -- (a text[] literal), 2 detail columns (a text[] literal), 3 how to find the removal (id,
    -- reference, lookup, none), 4 the column that leads to it, 5 the lookup query ($1 text).
    newj    jsonb;
    oldj    jsonb;
    rowj    jsonb;
    rowkey  jsonb;
    detail  jsonb := '{}';
    changed text[];
    rid     bigint;
    rref    text;
    k       text;
BEGIN
    -- A restore (hublink.restoring, superuser only; docs/operations.md) loads rows whose audit
    -- rows the dump brings: recording them again would fork the chain.
    IF pg_catalog.current_setting('hublink.restoring', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        newj := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        oldj := pg_catalog.to_jsonb(OLD);
    END IF;
    rowj := coalesce(newj, oldj);
    -- Simple expressions only (no query per row): they run without the executor.
    FOREACH k IN ARRAY TG_ARGV[1]::text[] LOOP
        rowkey := coalesce(rowkey, '{}') || pg_catalog.jsonb_build_object(k, rowj -> k);
    END LOOP;
    FOREACH k IN ARRAY TG_ARGV[2]::text[] LOOP
        detail := detail || pg_catalog.jsonb_build_object(k, rowj -> k);
    END LOOP;
    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(pg_catalog.array_agg(n.key ORDER BY n.key), '{}') INTO changed
          FROM pg_catalog.jsonb_each(newj) n WHERE n.value IS DISTINCT FROM oldj -> n.key;
    END IF;
    IF TG_ARGV[3] = 'id' THEN
        rid := (rowj ->> TG_ARGV[4])::bigint;
    ELSIF TG_ARGV[3] = 'reference' THEN
        rref := rowj ->> TG_ARGV[4];
        SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = rref;
    ELSIF TG_ARGV[3] = 'lookup' AND rowj ->> TG_ARGV[4] IS NOT NULL THEN
        EXECUTE TG_ARGV[5] INTO rid, rref USING rowj ->> TG_ARGV[4];
    END IF;
    INSERT INTO hublink_test.audit_ref_log (role_name, action, table_name, removal_id, removal_reference, row_key,
                                   changed_columns, before_digest, after_digest, detail)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            CASE WHEN TG_OP = 'INSERT' THEN TG_ARGV[0] ELSE pg_catalog.lower(TG_OP) END,
            TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, rid, rref, rowkey, changed,
            pg_catalog.sha256(pg_catalog.convert_to(oldj::text, 'UTF8')),
            pg_catalog.sha256(pg_catalog.convert_to(newj::text, 'UTF8')),
            coalesce(detail, '{}'));
    RETURN NULL;
END;
$$;

-- The reference beside the C trigger, with its arguments, on every audited table.
-- Probe tables: many column types (removal by id), a removal by reference, a lookup through a
-- foreign key, a composite key with detail columns, column names that sort differently by
-- collation and bytewise.
CREATE TABLE hublink.audit_c_probe (
    id bigint PRIMARY KEY, removal_id bigint, at timestamptz, day date, local timestamp, span interval,
    f8 double precision, f4 real, n numeric, b bytea, j jsonb, js json, ints integer[], texts text[],
    words text, flag boolean, u uuid, addr inet, "a_b" text, "ab" text, "A_c" text, "aa" text);
CREATE TABLE hublink.audit_c_probe_ref (code text PRIMARY KEY, removal_id text, note text);
CREATE TABLE hublink.audit_c_probe_child (child_id integer PRIMARY KEY,
    probe_id bigint REFERENCES hublink.audit_c_probe, note text);
INSERT INTO hublink.audit_table_rule VALUES
    ('audit_c_probe_ref', 'note', '{note,missing_column}', 'Test: detail columns, one missing.');
\o /dev/null
SELECT hublink.audit_attach();
\o
DO $$
DECLARE
    t record;
    args text[];
BEGIN
    FOR t IN SELECT tg.tgrelid::regclass AS tab, tg.tgnargs, encode(tg.tgargs, 'escape') AS a
               FROM pg_trigger tg WHERE tg.tgname = 'audit_row' LOOP
        args := (string_to_array(t.a, '\000'))[1:t.tgnargs];
        EXECUTE format('CREATE TRIGGER audit_ref AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION hublink_test.audit_row_change_reference(%s)', t.tab,
                       (SELECT string_agg(quote_literal(replace(x, '\\', '\')), ', ') FROM unnest(args) x));
    END LOOP;
END;
$$;
CREATE TEMP TABLE t_start AS SELECT coalesce(max(audit_id), 0) AS audit_id FROM hublink.audit_log;
SELECT ok((SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_ref') >= 20, 'the reference is attached to every audited table');

-- A removal's flow.
CREATE TEMP TABLE t_removal AS SELECT hublink.create_removal('CASE-71C01', $j$[
 {"personalDetails": {"hoReturneeReference": "HO-71C0101", "name": {"givenNames": "Zoë", "familyName": "Ångström"},
                      "dateOfBirth": "1990-02-03", "nationality": "SWE", "gender": "F"},
  "travelDocuments": [{"type": "PASSPORT", "number": "P71C0101", "issuingCountry": "SWE", "expiryDate": "2031-01-31"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]$j$::jsonb,
 '2026-03-16', '2026-03-20', '{"description": "Stockholm", "country": "SWE", "airportCode": "ARN"}') AS ref;
UPDATE hublink.removal SET notes = 'changed by 71' WHERE removal_reference = (SELECT ref FROM t_removal);
UPDATE hublink.outbox SET sent_at = clock_timestamp() WHERE removal_id = (SELECT ref FROM t_removal);

-- The probes, as another role.
SELECT r.removal_id AS rid, r.removal_reference AS rref FROM hublink.removal r
 WHERE r.removal_reference = (SELECT ref FROM t_removal) \gset
CREATE ROLE audit_c_clerk;
GRANT USAGE ON SCHEMA hublink, hublink_test TO audit_c_clerk;
GRANT ALL ON hublink.audit_c_probe, hublink.audit_c_probe_ref, hublink.audit_c_probe_child TO audit_c_clerk;
SET LOCAL ROLE audit_c_clerk;
INSERT INTO hublink.audit_c_probe VALUES
    (1, :rid,
     '2026-03-16 10:11:12.345678+05:30', '2026-02-28', '2026-03-16 23:59:59.999999', '1 year 2 mons 3 days 04:05:06.7',
     0.1, 1.1, 123456789.123456789000, '\x00ff10', '{"b": [1, 2.50, "x"], "a": null}', '{"b":1,  "a" : [2]}',
     '{1,2,NULL}', '{"a b",NULL,"\\"}', E'caf\u00e9 \u2603 "quote" \\ back', true,
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.1.2.3/24', 'x', 'y', 'z', 'w'),
    (2, NULL, NULL, NULL, NULL, NULL, 'NaN', '-Infinity', 'NaN', '', '[]', 'null', '{}', '{}', '', false,
     NULL, '::1', NULL, NULL, NULL, NULL),
    (3, 42, '-infinity', 'infinity', '1999-12-31 00:00', '-1 day -00:00:00.000001', 1e300, 3.4e38, -0.0, NULL, '"s"', '1',
     NULL, NULL, repeat('long ', 400), NULL, NULL, NULL, 'a', 'b', 'c', 'd'),
    -- Every character JSON text escapes, in keys and values (the C trigger writes the text it
    -- hashes itself: docs/performance.md "Fifth pass").
    (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x0a0d5c22',
     '{"k\n\u0001\"": "v\t\"\\\u001f\b\f\r/\u007f", "\u00e9\t": ["\u0002", "a\\b"]}', '{"x\ty": "\u0003"}',
     NULL, E'{"tab\there","nl\nhere","q\\"q"}', E'ctl \n \t \b \f \r \001 \037 \177 " \\ / end ' || repeat('\', 300),
     NULL, NULL, NULL, E'\r', E'\f', E'\b', E'\001');
UPDATE hublink.audit_c_probe SET f8 = f8 * 3, at = at + interval '1 second', "a_b" = 'x2', "ab" = 'y2', "A_c" = 'z2',
       "aa" = 'w2', j = j || '{"c": 1}' WHERE id IN (1, 3, 4);
UPDATE hublink.audit_c_probe SET words = words WHERE id = 2;  -- nothing changed
INSERT INTO hublink.audit_c_probe_ref VALUES ('R1', :'rref', 'noted'), ('R2', 'RMV-NONE', NULL),
                                             ('R3', NULL, 'no removal');
UPDATE hublink.audit_c_probe_ref SET note = 'renoted', removal_id = NULL WHERE code = 'R1';
INSERT INTO hublink.audit_c_probe_child VALUES (10, 1, 'child of 1'), (11, NULL, 'orphan'), (12, 3, 'child of 3');
UPDATE hublink.audit_c_probe_child SET probe_id = 3 WHERE child_id = 10;
DELETE FROM hublink.audit_c_probe_child WHERE child_id IN (10, 11);
DELETE FROM hublink.audit_c_probe_ref WHERE code = 'R2';
DELETE FROM hublink.audit_c_probe WHERE id = 2;
RESET ROLE;

CREATE TEMP TABLE t_pairs AS
WITH r AS (SELECT row_number() OVER (ORDER BY audit_id) AS n, * FROM hublink_test.audit_ref_log),
     c AS (SELECT row_number() OVER (ORDER BY audit_id) AS n, * FROM hublink.audit_log
            WHERE audit_id > (SELECT audit_id FROM t_start) AND (before_digest IS NOT NULL OR after_digest IS NOT NULL))
SELECT n, r.action AS r_action, c.action AS c_action, r.table_name AS r_table, c.table_name AS c_table,
       (r.xact_id, r.session_user_name, r.role_name, r.backend_pid, r.client_addr, r.action, r.table_name, r.removal_id,
        r.removal_reference, r.row_key, r.changed_columns, r.before_digest, r.after_digest, r.detail)::text AS r_row,
       (c.xact_id, c.session_user_name, c.role_name, c.backend_pid, c.client_addr, c.action, c.table_name, c.removal_id,
        c.removal_reference, c.row_key, c.changed_columns, c.before_digest, c.after_digest, c.detail)::text AS c_row
  FROM r FULL JOIN c USING (n);

SELECT cmp_ok((SELECT count(*) FROM t_pairs WHERE r_row IS NOT NULL AND c_row IS NOT NULL), '>=', 25::bigint,
              'the reference and the C trigger each wrote a row for every change (25 or more)');
SELECT is((SELECT count(*)::int FROM t_pairs WHERE r_row IS NULL OR c_row IS NULL), 0, 'as many rows from each');
SELECT is((SELECT count(*)::int FROM t_pairs WHERE r_row IS DISTINCT FROM c_row), 0,
          'every row is the same, column by column (digests, key, changed columns, detail, removal, who)');
SELECT is((SELECT coalesce(min(n || ': ' || r_row || ' <> ' || c_row), '') FROM t_pairs WHERE r_row IS DISTINCT FROM c_row), '',
          'so no first difference to show');
SELECT ok((SELECT array_agg(DISTINCT c_action) FROM t_pairs) @> '{insert,update,delete,note}',
          'the compared rows cover inserts, updates, deletes and a named insert action');
SELECT ok((SELECT bool_and(c_row LIKE '%audit_c_clerk%') FROM t_pairs WHERE c_table LIKE 'hublink.audit_c_probe%'),
          'the probes'' rows name the role that acted');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
