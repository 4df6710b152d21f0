-- Exports of the MI views and the printable report (sql/parts/87_mi_export.sql; docs/mi.md;
-- Schedule R SEC 019 c): CSV parses back to the view's values (RFC 4180 quoting), XML is
-- well-formed and gives back the values, HTML escapes, only hublink.mi_* views can be
-- exported, and the report carries its four SVG charts. test/mi/run renders it in Chromium.
BEGIN;
SELECT plan(23);
SET LOCAL "DateStyle" = 'ISO, YMD';

\o /dev/null
\ir ../mi/scenario.sql
\o
-- A queue name with every character the formats must quote or escape.
INSERT INTO hublink.outbox (message_id, message_type, queue, message)
VALUES ('mi-export-test', 'TravelUpdate', E'we,ird "q" <b>& ''x''\r\nline2 ', '{}');

-- An independent RFC 4180 reader: fields (quoted with "" for a quote, or bare) each ended by
-- a comma or CRLF; returns one text[] per record, NULL for the empty bare field.
CREATE FUNCTION pg_temp.parse_csv(doc text) RETURNS SETOF text[] LANGUAGE sql AS $$
    WITH token AS (
        SELECT t.n, t.m[1] AS field, t.m[2] AS sep
          FROM regexp_matches(doc, '("(?:[^"]|"")*"|[^,"\r\n]*)(,|\r\n)', 'g') WITH ORDINALITY AS t(m, n)
    ), placed AS (
        SELECT n, field,
               coalesce(sum(CASE WHEN sep = E'\r\n' THEN 1 ELSE 0 END)
                            OVER (ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS record
          FROM token
    )
    SELECT array_agg(CASE WHEN field LIKE '"%' THEN replace(substr(field, 2, length(field) - 2), '""', '"')
                          ELSE nullif(field, '') END ORDER BY n)
      FROM placed GROUP BY record ORDER BY record
$$;
CREATE FUNCTION pg_temp.view_rows(query text) RETURNS SETOF text[] LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT (SELECT array_agg(e.value ORDER BY e.n) FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS e(k, value, n)) FROM (%s) x',
        query);
END;
$$;

SELECT is((SELECT length(regexp_replace(hublink.export_mi('mi_message_backlog', 'csv'),
                                        '("(?:[^"]|"")*"|[^,"\r\n]*)(,|\r\n)', '', 'g'))), 0,
          'the CSV is entirely fields ended by commas and CRLF');
SELECT is((SELECT r FROM pg_temp.parse_csv(hublink.export_mi('mi_message_backlog', 'csv')) r LIMIT 1),
          ARRAY['queue', 'outbox_backlog', 'oldest_unsent_seconds', 'retrying', 'received', 'applied', 'rejected', 'published'],
          'the CSV header names the columns in order');
SELECT set_eq($$SELECT r::text FROM pg_temp.parse_csv(hublink.export_mi('mi_message_backlog', 'csv')) r OFFSET 1$$,
              $$SELECT r::text FROM pg_temp.view_rows('SELECT * FROM hublink.mi_message_backlog') r$$,
              'the CSV parses back to the rows of mi_message_backlog (comma, quote, CR LF, < & in a value)');
SELECT ok(E'we,ird "q" <b>& ''x''\r\nline2 ' IN (SELECT r[1] FROM pg_temp.parse_csv(hublink.export_mi('mi_message_backlog', 'csv')) r),
          'the awkward value comes back unchanged');
SELECT results_eq($$SELECT r::text FROM pg_temp.parse_csv(hublink.export_mi('mi_money', 'csv')) r OFFSET 1$$,
                  $$SELECT r::text FROM pg_temp.view_rows('SELECT * FROM hublink.mi_money ORDER BY 1, 2') r$$,
                  'mi_money as CSV: the rows in order, money to the penny');
SELECT is((SELECT count(*)::int FROM pg_temp.parse_csv(hublink.export_mi('mi_removal_outcome', 'csv')) r
            WHERE r[6] IS NULL), 1, 'NULL is the empty bare field');

SELECT ok(xml_is_well_formed_document(hublink.export_mi('mi_message_backlog', 'xml')), 'the XML is well-formed');
SELECT ok(E'we,ird "q" <b>& ''x''\r\nline2 ' IN (
              SELECT x.queue FROM XMLTABLE('/table/row' PASSING CAST(hublink.export_mi('mi_message_backlog', 'xml') AS xml)
                                           COLUMNS queue text PATH 'queue') x),
          'the XML gives the awkward value back');
SELECT results_eq($$SELECT x.month, x.currency, x.lost_non_refundable
                      FROM XMLTABLE('/table/row' PASSING CAST(hublink.export_mi('mi_money', 'xml') AS xml)
                                    COLUMNS month date PATH 'month', currency text PATH 'currency',
                                            lost_non_refundable numeric PATH 'lost_non_refundable') x$$,
                  $$VALUES (date '2025-01-01', 'EUR', 0.00), (date '2025-01-01', 'GBP', 700.00), (date '2025-02-01', 'GBP', 0.00)$$,
                  'mi_money as XML');

SELECT ok(strpos(hublink.export_mi('mi_message_backlog', 'html'),
                 'we,ird &quot;q&quot; &lt;b&gt;&amp; &#39;x&#39;') > 0, 'the HTML escapes & < > " and ''');
SELECT ok(strpos(hublink.export_mi('mi_message_backlog', 'html'), '<b>') = 0, 'no markup comes through from a value');
SELECT ok(hublink.export_mi('mi_money', 'html') ~ '<tr><td>2025-01-01</td><td>GBP</td><td>1950.00</td>',
          'the HTML table carries the values');

SELECT throws_ok($$SELECT hublink.export_mi('removal', 'csv')$$, '42P01', 'no MI view named "removal"',
                 'a base table cannot be exported');
SELECT throws_ok($$SELECT hublink.export_mi('worker_status', 'csv')$$, '42P01', NULL,
                 'nor a view not named mi_*');
SELECT throws_ok($$SELECT hublink.export_mi('mi_money; DROP TABLE hublink.removal', 'csv')$$, '42P01', NULL,
                 'a name is looked up in the catalog, never spliced into SQL');
SELECT throws_ok($$SELECT hublink.export_mi('mi_money', 'pdf')$$, '22023', 'unknown export format "pdf"',
                 'formats are the rows of hublink.export_format');

-- --- the report ----------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM regexp_matches(hublink.mi_report_html(24),
               '<svg id="(chart-volume|chart-sla|chart-end-to-end|chart-money)"', 'g')), 4,
          'the report has its four SVG charts');
SELECT ok(xml_is_well_formed_content(hublink.mi_svg_chart('c', 'A <title> & more', 'bar',
              '{"labels": ["a<", "b&"], "series": [{"name": "s\"1", "values": [1, null]}, {"name": "s2", "values": [2.5, 3]}]}')),
          'a chart is well-formed SVG, labels escaped');
SELECT ok(strpos(hublink.mi_report_html(24), '<b>') = 0 AND strpos(hublink.mi_report_html(24), 'we,ird &quot;q&quot; &lt;b&gt;') > 0,
          'the report escapes values');
SELECT throws_ok($$SELECT hublink.mi_report_html(0)$$, '22023', 'months must be at least 1', 'a report covers at least a month');

-- The reporting role: what hublink_reporting holds (SELECT on the mi_* views, the invoker
-- functions) is all the exports and the report need.
-- a member of hublink_reporting: the functions the mi_* views call are the group roles', not
-- PUBLIC's (docs/security-access.md)
CREATE ROLE hublink_mi_test_reader NOLOGIN IN ROLE hublink_reporting;
DO $$
DECLARE
    v text;
BEGIN
    FOR v IN SELECT relname FROM pg_class WHERE relnamespace = 'hublink'::regnamespace AND relkind = 'v'
                AND relname LIKE 'mi\_%' LOOP
        EXECUTE format('GRANT SELECT ON hublink.%I TO hublink_mi_test_reader', v);
    END LOOP;
    EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO hublink_mi_test_reader', pg_my_temp_schema()::regnamespace);
    EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO hublink_mi_test_reader', pg_my_temp_schema()::regnamespace);
END;
$$;
SET LOCAL ROLE hublink_mi_test_reader;
SELECT ok(strpos(hublink.export_mi('mi_money', 'csv'), '2025-01-01,GBP,1950.00,5000.00') > 0
          AND strpos(hublink.mi_report_html(), 'chart-money') > 0,
          'a role with SELECT on the mi_* views only can export and render the report');
RESET ROLE;

-- The MI readers of the product run without JIT (docs/performance.md "MI at full size"): at full
-- size compiling mi_sla_compliance cost more than running it.
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'hublink'::regnamespace
              AND p.proname IN ('export_mi', 'mi_report_html') AND 'jit=off' = ANY (p.proconfig)),
          ARRAY['export_mi', 'mi_report_html'],
          'export_mi and mi_report_html read the MI views with jit = off');

-- And a reporting tool reading hublink.mi_sla_compliance itself with JIT on: the view is a call
-- of mi_sla_compliance_rows(), which runs with jit = off. With every JIT threshold at 0 the view's
-- plan compiles nothing, while a query over the same rows does (so JIT is really on here).
CREATE FUNCTION pg_temp.jit_functions(query text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    p json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO p;
    RETURN coalesce((p -> 0 -> 'JIT' ->> 'Functions')::integer, 0);
END;
$$;
SET LOCAL jit = on;
SET LOCAL jit_above_cost = 0;
SET LOCAL jit_optimize_above_cost = 0;
SET LOCAL jit_inline_above_cost = 0;
SELECT CASE WHEN pg_jit_available()
            THEN ok(pg_temp.jit_functions('SELECT * FROM hublink.mi_sla_compliance') = 0
                    AND pg_temp.jit_functions('SELECT count(*) FROM hublink.rollup_mi_sla_live_request') > 0,
                    'hublink.mi_sla_compliance compiles nothing with JIT on and every threshold at 0')
            ELSE skip('this PostgreSQL has no JIT provider (llvmjit)', 1) END;
RESET jit;
RESET jit_above_cost;
RESET jit_optimize_above_cost;
RESET jit_inline_above_cost;

SELECT * FROM finish();
ROLLBACK;
