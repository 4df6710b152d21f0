-- The official JSON-Schema-Test-Suite run through hublink.jsonschema_is_valid (issue 2, section 7).
-- Fixtures come from test/sql/load-fixtures; the suite's remotes are registered under
-- http://localhost:1234/ as the suite expects, with no network.
BEGIN;
SELECT plan(8);

SELECT lives_ok($$SELECT hublink.register_schema_document(uri, document) FROM hublink_test.suite_remote$$,
                'the suite''s remotes are registered');

CREATE TEMP TABLE outcome AS
SELECT c.*, hublink.jsonschema_is_valid(c.schema, c.data) AS got
  FROM hublink_test.suite_case c WHERE c.kind = 'required';
SET LOCAL hublink.jsonschema_format_assertion = on;
INSERT INTO outcome
SELECT c.*, hublink.jsonschema_is_valid(c.schema, c.data) FROM hublink_test.suite_case c WHERE c.kind = 'format';
RESET hublink.jsonschema_format_assertion;

SELECT diag(format('%s %s: %s passed, %s failed (%s skipped: U+0000 cannot be stored in jsonb)',
                   d.draft, d.kind, count(*) FILTER (WHERE got = valid), count(*) FILTER (WHERE got <> valid),
                   (SELECT count(*) FROM hublink_test.suite_skipped s WHERE s.draft = d.draft AND s.kind = d.kind)))
  FROM outcome d GROUP BY d.draft, d.kind ORDER BY 1;
SELECT diag(format('FAIL %s %s / %s / %s', draft, file, grp, test)) FROM outcome WHERE got <> valid ORDER BY id;

SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'required' AND draft = 'draft2020-12')
          + (SELECT count(*)::int FROM hublink_test.suite_skipped WHERE draft = 'draft2020-12' AND kind = 'required'), 1299,
          'all 1299 required draft2020-12 tests are run or counted as skipped');
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'required' AND draft = 'draft7')
          + (SELECT count(*)::int FROM hublink_test.suite_skipped WHERE draft = 'draft7' AND kind = 'required'), 927,
          'all 927 required draft7 tests are run or counted as skipped');
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'required' AND draft = 'draft2020-12' AND got <> valid), 0,
          'every required draft2020-12 test passes');
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'required' AND draft = 'draft7' AND got <> valid), 0,
          'every required draft7 test passes');
-- the format files' tests, counted in the suite's files (jq '[.[].tests | length] | add'): a
-- vacuous "every format test passes" over no rows would prove nothing
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'format' AND draft = 'draft2020-12')
          + (SELECT count(*)::int FROM hublink_test.suite_skipped WHERE draft = 'draft2020-12' AND kind = 'format'), 373,
          'all 373 draft2020-12 format tests of the nine formats are run or counted as skipped');
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'format' AND draft = 'draft7')
          + (SELECT count(*)::int FROM hublink_test.suite_skipped WHERE draft = 'draft7' AND kind = 'format'), 338,
          'all 338 draft7 format tests (no uuid in draft7) are run or counted as skipped');
SELECT is((SELECT count(*)::int FROM outcome WHERE kind = 'format' AND got <> valid), 0,
          'every format test (date-time, date, time, email, uuid, uri, uri-reference, ipv4, ipv6) passes with assertion on');

SELECT * FROM finish();
ROLLBACK;
