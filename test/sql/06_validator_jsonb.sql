-- Validation straight from jsonb, with the compiled schema kept at the call site (issue 15,
-- section 3). The answers must be the text round trip's: the same limits at the same byte,
-- the same numbers, and never a schema compiled before the registry changed.
BEGIN;
SELECT plan(18);

-- hublink.max_message_bytes counts the instance's text form (jsonb::text) to the byte, as when
-- the instance was printed and parsed again: accepted at its length, refused one byte below.
CREATE TEMP TABLE doc (label text, d jsonb);
INSERT INTO doc VALUES
    ('an object with escapes and control characters',
     jsonb_build_object('pad', repeat('x', 1100), 'q', E'a"b\\c', 'c', E'\n\t\r\b\f' || chr(1) || chr(31),
                        'u', 'é€😀', 'k"ey', 1)),
    ('nested arrays, numbers, booleans, null and empty containers',
     jsonb_build_array(repeat('y', 1100), 1.50, -0.0, 1e30, 18446744073709551616, true, false, null,
                       '[]'::jsonb, '{}'::jsonb, jsonb_build_array(jsonb_build_array(1, 2), '{"a": [3]}'::jsonb))),
    ('a string alone', to_jsonb(repeat('z', 1030) || E'\u0001"'));
CREATE FUNCTION pg_temp.limit_outcome(d jsonb, bytes int) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM set_config('hublink.max_message_bytes', bytes::text, true);
    PERFORM hublink.jsonschema_is_valid('true', d);
    RETURN 'accepted';
EXCEPTION WHEN program_limit_exceeded THEN
    DECLARE detail text;
    BEGIN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        RETURN detail;
    END;
END
$f$;
SELECT is(pg_temp.limit_outcome(d, octet_length(d::text)), 'accepted',
          'accepted at exactly its text length: ' || label) FROM doc ORDER BY label;
SELECT is(pg_temp.limit_outcome(d, octet_length(d::text) - 1),
          format('document of %s bytes exceeds the limit of %s bytes', octet_length(d::text), octet_length(d::text) - 1),
          'refused one byte below, naming its text length: ' || label) FROM doc ORDER BY label;
RESET hublink.max_message_bytes;

-- hublink.max_json_depth counts levels as before.
SET LOCAL hublink.max_json_depth = 4;
SELECT ok(hublink.jsonschema_is_valid('true', '[[[{"a": 1}]]]'), 'four levels are within a depth of 4');
SELECT throws_like($$SELECT hublink.jsonschema_is_valid('true', '[[[{"a": [1]}]]]')$$,
                   '%limits%', 'five levels are refused at a depth of 4');
RESET hublink.max_json_depth;

-- Numbers read from jsonb as js_parse reads their text: 64-bit integers, past them doubles.
SELECT ok(hublink.jsonschema_is_valid('{"type":"integer","minimum":9223372036854775807}', '18446744073709551615'),
          'an unsigned 64-bit integer is an integer above the largest signed one');
SELECT ok(NOT hublink.jsonschema_is_valid('{"maximum":9223372036854775807}', '9223372036854775808'),
          'and compares exactly with it');
SELECT ok(hublink.jsonschema_is_valid('{"type":"integer"}', '1e30') AND hublink.jsonschema_is_valid('{"type":"integer"}', '2.0'),
          'a number with no fraction is an integer however it is written');
SELECT ok(NOT hublink.jsonschema_is_valid('{"multipleOf":0.01}', '0.005'), 'a decimal fraction is kept');
SELECT ok(hublink.jsonschema_is_valid('{"const":{"a":[1,"x",null,true]}}', '{"a":[1.0,"x",null,true]}'),
          'a whole document compares equal to its const');

-- A call site keeps pointers to compiled schemas that the backend's table owns. Another call
-- site in the same query pushing them out of that table (16 slots) must not leave a stale
-- one behind: site a keeps its schema while site b goes through 40 others.
CREATE TEMP TABLE churn AS
SELECT n, '{"maximum": 5}'::jsonb AS a, jsonb_build_object('maximum', 1000 + n) AS b
  FROM generate_series(1, 40) n;
SELECT is((SELECT count(*)::int FROM churn
            WHERE hublink.jsonschema_is_valid(a, '7') OR NOT hublink.jsonschema_is_valid(b, to_jsonb(1000 + n))),
          0, 'a call site''s schema stays right while another call site churns the backend''s table');

-- More schemas at one call site than it keeps: every row still gets its own schema.
SELECT is((SELECT string_agg(hublink.jsonschema_is_valid(jsonb_build_object('maximum', m), '5')::text, ',' ORDER BY m)
             FROM generate_series(1, 9) m),
          'false,false,false,false,true,true,true,true,true', 'nine schemas through one call site');

-- The format setting is part of what a call site keeps.
CREATE FUNCTION pg_temp.format_both() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    s        text;
    schema   jsonb := '{"format":"date"}';
    verdicts text := '';
BEGIN
    FOREACH s IN ARRAY ARRAY['off', 'on'] LOOP
        PERFORM set_config('hublink.jsonschema_format_assertion', s, true);
        verdicts := verdicts || hublink.jsonschema_is_valid(schema, '"soon"')::text || ' ';
    END LOOP;
    RETURN verdicts;
END
$f$;
SELECT is(pg_temp.format_both(), 'true false ', 'turning format assertion on is seen by the same call site');
RESET hublink.jsonschema_format_assertion;

-- validate_message(jsonb) reads the jsonb; its answers are validate_message_text's on the text.
CREATE FUNCTION pg_temp.as_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$f$;
SELECT is((SELECT count(*)::int FROM hublink_test.example e, pg_temp.as_jsonb(e.body) j
            WHERE hublink.validate_message(j) IS DISTINCT FROM hublink.validate_message_text(j::text)),
          0, 'validate_message(jsonb) agrees with validate_message_text on every example, valid and broken');
SELECT cmp_ok((SELECT count(*)::int FROM hublink_test.example e, pg_temp.as_jsonb(e.body) j
                WHERE j IS NOT NULL AND jsonb_array_length(hublink.validate_message(j)) > 0), '>', 0,
              'and some of them are invalid, so the comparison covers problems too');

SELECT * FROM finish();
ROLLBACK;
