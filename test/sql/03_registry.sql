-- The schema registry and message validation (issue 2, sections 4 and 6; docs/architecture.md "The message contract").
BEGIN;
SELECT plan(15);

SELECT is((SELECT count(*)::int FROM hublink_test.example WHERE valid), 17,
          'one shipped example per message type (14 of Appendix A, 2 reference-list updates) and the error message');
SELECT is_empty($$
    SELECT name, hublink.validate_message(body::jsonb) FROM hublink_test.example
     WHERE valid AND hublink.validate_message(body::jsonb) <> '[]'
$$, 'every shipped example is valid against its registered schema');
SELECT is_empty($$
    SELECT name FROM hublink_test.example
     WHERE NOT valid AND hublink.validate_message_bytes(convert_to(body, 'UTF8')) = '[]'
$$, 'every deliberately broken example is reported');

-- Choosing the schema.
SELECT is(hublink.validate_message('{"messageType":"NoSuchThing","schemaVersion":"1.0"}')->0->>'instanceLocation',
          '/messageType', 'unknown messageType is reported at /messageType');
SELECT is(hublink.validate_message('{"messageType":"TravelUpdate","schemaVersion":"7.3"}')->0->>'instanceLocation',
          '/schemaVersion', 'unknown schemaVersion is reported at /schemaVersion');
SELECT is(jsonb_array_length(hublink.validate_message('{"schemaVersion":"1.0"}')), 1,
          'a message without messageType is reported, not raised');
SELECT is(hublink.validate_message_bytes('\xc328'::bytea)->0->>'error' LIKE 'not valid JSON%', true,
          'invalid UTF-8 is a problem, not a crash');
SELECT is(hublink.validate_message_text('{"messageType": ')->0->>'error' LIKE 'not valid JSON%', true,
          'text that is not JSON is a problem');
SELECT is(hublink.validate_message_text('["' || repeat('x', 100 * 1024 * 1024) || '"]')->0->>'error' LIKE 'not valid JSON%', true,
          'a 100 MB document is refused by hublink.max_message_bytes');

-- A new version is registered without a rebuild, and takes effect in this backend at once.
SELECT lives_ok($$SELECT hublink.register_schema('TravelCancellation', '9.0',
    '{"type":"object","required":["messageType","schemaVersion","reference"]}')$$, 'register a new version');
SELECT is(jsonb_array_length(hublink.validate_message('{"messageType":"TravelCancellation","schemaVersion":"9.0"}')), 1,
          'the new version is used');
UPDATE hublink.message_schema SET schema = '{"type":"object"}'
 WHERE message_type = 'TravelCancellation' AND schema_version = '9.0';
SELECT is(hublink.validate_message('{"messageType":"TravelCancellation","schemaVersion":"9.0"}'), '[]',
          'a changed schema replaces the compiled one (cache invalidated)');
UPDATE hublink.message_schema SET active = false
 WHERE message_type = 'TravelCancellation' AND schema_version = '9.0';
SELECT ok(hublink.validate_message('{"messageType":"TravelCancellation","schemaVersion":"9.0"}')->0->>'error' LIKE '%not active%',
          'an inactive version is refused');
SELECT throws_like($$SELECT hublink.register_schema('TravelCancellation', '9.1', '{"$ref":"urn:missing"}')$$,
                   '%cannot be compiled%', 'a schema that does not compile is not registered');
SELECT throws_ok($$SELECT hublink.register_schema('NoSuchType', '1.0', '{}')$$,
                 '23503', NULL, 'a schema for an unknown message type is refused');

SELECT * FROM finish();
ROLLBACK;
