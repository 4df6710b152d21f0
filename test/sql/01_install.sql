-- Installation, catalogue hygiene and reference data (issue 2, sections 1 and 6).
BEGIN;
SELECT plan(9);

SELECT has_extension('hublink', 'hublink is installed');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'hublink'), '0.2.0', 'version 0.2.0');
SELECT ok(EXISTS (SELECT FROM pg_extension WHERE extname = 'pgcrypto'), 'pgcrypto is required and installed');

-- Every object of the extension has a COMMENT (house rule).
SELECT is_empty($$
    SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
      FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'hublink')
       AND d.deptype = 'e'
       AND d.classid <> 'pg_type'::regclass            -- row types come with their tables
       AND obj_description(d.objid, d.classid::regclass::text) IS NULL
       AND NOT (d.classid = 'pg_class'::regclass
                AND (SELECT relkind FROM pg_class WHERE oid = d.objid) IN ('S', 'i'))
$$, 'every extension object has a comment');

SELECT is_empty($$
    SELECT c.relname || '.' || a.attname
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'v', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped
       AND col_description(c.oid, a.attnum) IS NULL
$$, 'every column of every table and view has a comment');

SELECT is_empty($$
    SELECT c.relname || '.' || a.attname
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'hublink'::regnamespace AND a.attnum > 0
       AND a.atttypid = 'timestamp'::regtype
$$, 'no timestamp without time zone anywhere: timestamptz everywhere');

-- Functions that run as their owner pin search_path (house rule and NFR 0015).
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p
     WHERE p.pronamespace = 'hublink'::regnamespace
       AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
       AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
$$, 'every SQL and PL/pgSQL function sets search_path');

SELECT is((SELECT count(*)::int FROM hublink.message_type
            WHERE queue IS NOT NULL AND appendix_section LIKE '4.%'), 14,
          'the fourteen message types of Appendix A have a queue each');
SELECT is((SELECT count(*)::int FROM hublink.message_schema WHERE active), 17,
          'a shipped schema is registered for each of the 14 messages, the 2 reference-list updates and the error message');

SELECT * FROM finish();
ROLLBACK;
