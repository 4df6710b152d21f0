-- hublink.jsonschema_is_valid / jsonschema_errors and bad input (issue 2, sections 5, 6, "Bad input").
BEGIN;
SELECT plan(16);

SELECT ok(hublink.jsonschema_is_valid('{"type":"object","required":["a"]}', '{"a":1}'), 'valid instance');
SELECT ok(NOT hublink.jsonschema_is_valid('{"type":"object","required":["a"]}', '{"b":1}'), 'missing required property');
SELECT ok(hublink.jsonschema_is_valid('true', '[1,2]'), 'boolean schema true accepts anything');
SELECT ok(NOT hublink.jsonschema_is_valid('false', 'null'), 'boolean schema false accepts nothing');

SELECT is(hublink.jsonschema_errors('{"type":"object"}', '{}'), '[]'::jsonb, 'no errors for a valid instance');

SELECT is(jsonb_array_length(hublink.jsonschema_errors(
    '{"properties":{"a":{"type":"integer"},"b":{"type":"string"}}}', '{"a":"x","b":2}')), 2,
    'one error per problem');
SELECT is((SELECT array_agg(e->>'instanceLocation' ORDER BY e->>'instanceLocation')
             FROM jsonb_array_elements(hublink.jsonschema_errors(
                 '{"properties":{"a":{"type":"integer"},"b":{"type":"string"}}}', '{"a":"x","b":2}')) e),
          ARRAY['/a', '/b'], 'each error has the instance location as a JSON pointer');
SELECT is((SELECT e->>'keywordLocation'
             FROM jsonb_array_elements(hublink.jsonschema_errors(
                 '{"properties":{"a":{"items":{"type":"integer"}}}}', '{"a":[1,"x"]}')) e),
          '/properties/a/items/type', 'and the schema keyword location');
SELECT ok((SELECT bool_and(e ? 'error' AND length(e->>'error') > 0)
             FROM jsonb_array_elements(hublink.jsonschema_errors('{"minimum":3}', '1')) e),
          'and a readable message');

-- Format is an annotation unless asked for (draft 2020-12).
SELECT ok(hublink.jsonschema_is_valid('{"format":"date-time"}', '"yesterday"'), 'format is an annotation by default');
SET LOCAL hublink.jsonschema_format_assertion = on;
SELECT ok(NOT hublink.jsonschema_is_valid('{"format":"date-time"}', '"yesterday"'), 'format asserted when the setting is on');
RESET hublink.jsonschema_format_assertion;

-- Bad input: each gives a clear error, none crashes the backend.
SELECT throws_like(
    $$SELECT hublink.jsonschema_is_valid('{}', (repeat('[', 10000) || repeat(']', 10000))::jsonb)$$,
    '%limits%', '10,000-deep nesting is refused with a clear error');
SELECT ok(hublink.jsonschema_is_valid('{"$defs":{"x":{"unknownKeyword":5}},"anotherUnknown":true}', '1'),
          'unknown keywords are ignored');
SELECT throws_like(
    $$SELECT hublink.jsonschema_is_valid('{"$ref":"http://nowhere.example/x.json"}', '1')$$,
    '%cannot be compiled%', 'an unresolvable $ref is a clear error');
-- A $ref cycle may be refused at compile time or at validation; it must never hang.
CREATE FUNCTION pg_temp.outcome(query text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    SET LOCAL statement_timeout = '20s';
    EXECUTE query;
    RETURN 'completed';
EXCEPTION
    WHEN query_canceled THEN RETURN 'hung';
    WHEN OTHERS THEN RETURN 'error: ' || SQLERRM;
END
$f$;
SELECT isnt(pg_temp.outcome($$SELECT hublink.jsonschema_is_valid(
    '{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}', '1')$$),
    'hung', 'a $ref cycle terminates');
SELECT ok(hublink.jsonschema_is_valid('{"type":"integer"}', '1') , 'the backend is still alive');

SELECT * FROM finish();
ROLLBACK;
