-- A registry change made and committed in one backend reaches the compiled-schema cache of
-- another backend (issue 2, section 6). The other backend is a dblink connection. Its
-- hublink.schema_cache_stats() tells a cache hit from a recompile (the verdicts are the same).
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(7);

SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
       split_part(current_setting('unix_socket_directories'), ',', 1),
       current_setting('port'), current_database(), current_user));

SELECT hublink.register_schema('TravelCancellation', '9.5',
    '{"type":"object","required":["messageType","schemaVersion","mustBeHere"]}');

CREATE FUNCTION pg_temp.problems_seen_by_other() RETURNS int LANGUAGE sql AS $$
    SELECT n FROM dblink('other', $q$SELECT jsonb_array_length(hublink.validate_message(
        '{"messageType":"TravelCancellation","schemaVersion":"9.5"}'))$q$) AS t(n int)
$$;

-- the other backend's counters: registry loads, message schemas compiled, found compiled
CREATE FUNCTION pg_temp.other_stats() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[l, c, h] FROM dblink('other', $q$SELECT * FROM hublink.schema_cache_stats()$q$)
        AS t(l bigint, c bigint, h bigint)
$$;
CREATE TEMP TABLE stats (step text PRIMARY KEY, s bigint[]);
INSERT INTO stats VALUES ('start', pg_temp.other_stats());

SELECT is(pg_temp.problems_seen_by_other(), 1, 'the other backend compiles and uses version 9.5');
INSERT INTO stats VALUES ('first', pg_temp.other_stats());
SELECT is(pg_temp.problems_seen_by_other(), 1, 'and keeps using it');
INSERT INTO stats VALUES ('second', pg_temp.other_stats());
SELECT is((SELECT s[2] - (SELECT s[2] FROM stats WHERE step = 'start') FROM stats WHERE step = 'first'), 1::bigint,
          'the first use compiled the schema (hublink.schema_cache_stats)');
SELECT is((SELECT ARRAY[s[1] - f[1], s[2] - f[2], s[3] - f[3]]
             FROM (SELECT s FROM stats WHERE step = 'second') a, (SELECT s AS f FROM stats WHERE step = 'first') b),
          '{0,0,1}'::bigint[], 'the second was a cache hit: no reload, no compile, one hit');

UPDATE hublink.message_schema SET schema = '{"type":"object"}'
 WHERE message_type = 'TravelCancellation' AND schema_version = '9.5';
SELECT is(pg_temp.problems_seen_by_other(), 0, 'after a committed change the other backend uses the new schema');
INSERT INTO stats VALUES ('changed', pg_temp.other_stats());
SELECT is((SELECT ARRAY[s[1] - f[1], s[2] - f[2]]
             FROM (SELECT s FROM stats WHERE step = 'changed') a, (SELECT s AS f FROM stats WHERE step = 'second') b),
          '{1,1}'::bigint[], 'the change made it reload the registry and recompile');

DELETE FROM hublink.message_schema WHERE message_type = 'TravelCancellation' AND schema_version = '9.5';
SELECT alike((SELECT e->>'error' FROM dblink('other', $q$SELECT hublink.validate_message(
        '{"messageType":"TravelCancellation","schemaVersion":"9.5"}')->0$q$) AS t(e jsonb)),
        '%no schema version%', 'and forgets a deleted version');

SELECT dblink_disconnect('other');
SELECT * FROM finish();
