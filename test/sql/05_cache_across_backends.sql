-- A registry change made and committed in one backend reaches the compiled-schema cache of
-- another backend (issue 2, section 6). The other backend is a dblink connection.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(4);

SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
       split_part(current_setting('unix_socket_directories'), ',', 1),
       current_setting('port'), current_database(), current_user));

SELECT hublink.register_schema('TravelCancellation', '9.5',
    '{"type":"object","required":["messageType","schemaVersion","mustBeHere"]}');

CREATE FUNCTION pg_temp.problems_seen_by_other() RETURNS int LANGUAGE sql AS $$
    SELECT n FROM dblink('other', $q$SELECT jsonb_array_length(hublink.validate_message(
        '{"messageType":"TravelCancellation","schemaVersion":"9.5"}'))$q$) AS t(n int)
$$;

SELECT is(pg_temp.problems_seen_by_other(), 1, 'the other backend compiles and uses version 9.5');
SELECT is(pg_temp.problems_seen_by_other(), 1, 'and keeps using it (cached)');

UPDATE hublink.message_schema SET schema = '{"type":"object"}'
 WHERE message_type = 'TravelCancellation' AND schema_version = '9.5';
SELECT is(pg_temp.problems_seen_by_other(), 0, 'after a committed change the other backend uses the new schema');

DELETE FROM hublink.message_schema WHERE message_type = 'TravelCancellation' AND schema_version = '9.5';
SELECT alike((SELECT e->>'error' FROM dblink('other', $q$SELECT hublink.validate_message(
        '{"messageType":"TravelCancellation","schemaVersion":"9.5"}')->0$q$) AS t(e jsonb)),
        '%no schema version%', 'and forgets a deleted version');

SELECT dblink_disconnect('other');
SELECT * FROM finish();
