-- Announcing the reason-code lists (issue 4, section 1; Schedule R Appendix B 4.17): at the
-- Hub an admin's change sends the list's full state to each provider at commit
-- (TravelReferenceListUpdate, EscortReferenceListUpdate); at a provider the handler replaces
-- the local list and ignores an older sequence. The announcement is sent by a deferred
-- trigger, at commit, so this file runs without an enclosing transaction and puts back what
-- it changed at the end. hublink.party is a SIGHUP setting: set with ALTER SYSTEM.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
SELECT plan(27);

CREATE TEMP TABLE mark AS
SELECT (SELECT coalesce(max(id), 0) FROM hublink.outbox) AS outbox_id,
       (SELECT coalesce(max(reference_change_id), 0) FROM hublink.reference_change) AS change_id;
CREATE TEMP TABLE saved_delay AS SELECT * FROM hublink.reason_code WHERE list = 'delay';
-- Bodies are sealed, also of messages that name no removal (docs/security-crypto.md): open them.
CREATE TEMP VIEW sent AS
SELECT o.id, o.message_id, o.message_type, o.queue, o.removal_id, o.created_at, o.sent_at,
       hublink.open_message(o.message, o.key_scope, o.sealed_body) AS message
  FROM hublink.outbox o, mark WHERE o.id > mark.outbox_id AND o.message_type LIKE '%ReferenceListUpdate';

SELECT is(current_setting('hublink.party'), 'hub', 'this database plays the hub');

-- --- the message types -----------------------------------------------------------------------
SELECT is((SELECT string_agg(message_type || ' ' || queue || ' ' || sender_party || '->' || receiver_party, ', '
                             ORDER BY message_type)
             FROM hublink.message_type WHERE appendix_section = 'B 4.17'),
          'EscortReferenceListUpdate escort-reference-list-update hub->esp, '
          'TravelReferenceListUpdate travel-reference-list-update hub->tsp',
          'one reference-list update per provider, each on its own queue');
SELECT is((SELECT string_agg(DISTINCT handler::text, ',') FROM hublink.message_handler
            WHERE message_type LIKE '%ReferenceListUpdate'),
          'hublink.apply_reference_list(jsonb)',
          'their handler is apply_reference_list, outside the removal conversation');
SELECT is_empty($$SELECT message_type FROM hublink.message_handler
                   WHERE handler = 'hublink.handle_message(jsonb)'::regprocedure
                     AND message_type IN (SELECT message_type FROM hublink.message_type
                                           WHERE appendix_section NOT LIKE '4.%')$$,
                'hublink.handle_message handles the Appendix A messages only');

-- --- at the Hub: one admin change, one message per provider -----------------------------------
INSERT INTO hublink.reason_code (list, code, description) VALUES ('delay', 'SNOW', 'Snow or ice on the roads.');

SELECT is((SELECT string_agg(message_type || ' ' || queue, ', ' ORDER BY message_type) FROM sent),
          'EscortReferenceListUpdate escort-reference-list-update, '
          'TravelReferenceListUpdate travel-reference-list-update',
          'an admin''s change of a list writes one outbox message per provider at commit');
SELECT is_empty($$SELECT message_id, hublink.validate_message(message) FROM sent
                   WHERE hublink.validate_message(message) <> '[]'$$,
                'each is valid against its registered schema');
SELECT ok((SELECT bool_and(removal_id IS NULL AND NOT message ? 'removalId') FROM sent),
          'they belong to no removal: no removalId');
SELECT is((SELECT string_agg(DISTINCT (message -> 'body' ->> 'list') || ' ' || (message -> 'body' ->> 'sequence'), ',') FROM sent),
          'delay 1', 'the first announcement of the delay list has sequence 1');
SELECT is((SELECT message -> 'body' -> 'codes' FROM sent WHERE message_type = 'TravelReferenceListUpdate'),
          hublink.reason_list_codes('delay'), 'the body carries the full list');
SELECT ok((SELECT message -> 'body' -> 'codes' @> '[{"code": "SNOW", "text": "Snow or ice on the roads.", "active": true}]'
             FROM sent WHERE message_type = 'EscortReferenceListUpdate'),
          'including the new code');
SELECT is((SELECT count(*)::int FROM hublink.reference_change, mark
            WHERE reference_change_id > mark.change_id AND code = 'SNOW'), 1,
          'the change is still recorded in hublink.reference_change');

-- Several rows in one transaction: one message per provider, with the final state.
BEGIN;
UPDATE hublink.reason_code SET active = false WHERE list = 'delay' AND code IN ('SNOW', 'TRAFFIC');
INSERT INTO hublink.reason_code (list, code, description) VALUES ('delay', 'FLOODING', 'Flooded roads.');
COMMIT;
SELECT is((SELECT count(*)::int FROM sent WHERE message -> 'body' ->> 'sequence' = '2'), 2,
          'a transaction changing three rows sends one message per provider');
SELECT is((SELECT count(*)::int FROM sent), 4, 'and no more');
SELECT is((SELECT jsonb_path_query_array(message, '$.body.codes[*] ? (@.active == false).code')
             FROM sent WHERE message_type = 'TravelReferenceListUpdate' AND message -> 'body' ->> 'sequence' = '2'),
          '["SNOW", "TRAFFIC"]', 'with the final state of the list');

-- A change that leaves what providers see as it was is not announced.
UPDATE hublink.reason_code SET changed_at = now() WHERE list = 'delay' AND code = 'SNOW';
SELECT is((SELECT count(*)::int FROM sent), 4, 'touching a row without changing code, text or active sends nothing');
SELECT is((SELECT sequence FROM hublink.reference_list_state WHERE list = 'delay'), 2::bigint,
          'the Hub keeps the sequence last announced');

-- --- at a provider ---------------------------------------------------------------------------
\o /dev/null
ALTER SYSTEM SET hublink.party = 'tsp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value tsp
\ir include/wait_setting.sql
\o
SELECT is(current_setting('hublink.party'), 'tsp', 'this database now plays the tsp');
CREATE TEMP TABLE received AS
SELECT (message -> 'body' ->> 'sequence')::int AS sequence, message FROM sent
 WHERE message_type = 'TravelReferenceListUpdate';
-- The tsp's own copy before the Hub's news: as installed, and the Hub's state forgotten.
DELETE FROM hublink.reason_code WHERE list = 'delay';
INSERT INTO hublink.reason_code SELECT * FROM saved_delay;
DELETE FROM hublink.reference_list_state;
SELECT is((SELECT count(*)::int FROM sent), 4, 'a provider''s admin edit of its local copy is not announced');

SELECT lives_ok($$SELECT hublink.apply_reference_list(message) FROM received WHERE sequence = 2$$,
                'the handler applies sequence 2');
SELECT is(hublink.reason_list_codes('delay'),
          (SELECT message -> 'body' -> 'codes' FROM received WHERE sequence = 2),
          'the local list is now the Hub''s');
SELECT is((SELECT (sequence, message_id)::text FROM hublink.reference_list_state WHERE list = 'delay'),
          (SELECT (2, message ->> 'messageId')::text FROM received WHERE sequence = 2),
          'and the applied sequence is recorded');
SELECT is((hublink.reason_code_valid('delay', 'FLOODING'), hublink.reason_code_valid('delay', 'SNOW'))::text,
          '(t,f)', 'new codes are accepted, deactivated codes refused');

SELECT lives_ok($$SELECT hublink.apply_reference_list(message) FROM received WHERE sequence = 1$$,
                'an older sequence arriving late');
SELECT is(hublink.reason_list_codes('delay'),
          (SELECT message -> 'body' -> 'codes' FROM received WHERE sequence = 2),
          'is ignored: the list stays at sequence 2');
SELECT lives_ok($$SELECT hublink.apply_reference_list(message) FROM received WHERE sequence = 2$$,
                'the same sequence again is a no-op');

-- Full state: codes not in the message are deleted; a list the provider did not know is created.
SELECT is_empty($$SELECT hublink.validate_message(m) FROM (SELECT jsonb_set(jsonb_set(message,
                      '{body}', '{"list": "weather", "description": "Weather.", "sequence": 1,
                                  "changedAt": "2026-11-23T10:00:00+00:00",
                                  "codes": [{"code": "FOG", "text": "Fog.", "active": true}]}'),
                      '{messageId}', '"0b6a4b58-1b1f-4f52-9a43-0d7d3c1f5e01"') m FROM received WHERE sequence = 2) x
                   WHERE hublink.validate_message(m) <> '[]'$$,
                'a message for a new list is valid');
SELECT hublink.apply_reference_list(jsonb_set(message, '{body}',
           '{"list": "weather", "description": "Weather.", "sequence": 1, "changedAt": "2026-11-23T10:00:00+00:00",
             "codes": [{"code": "FOG", "text": "Fog.", "active": true}]}'))
  FROM received WHERE sequence = 2;
SELECT hublink.apply_reference_list(jsonb_set(message, '{body}',
           '{"list": "delay", "description": "Delays.", "sequence": 3, "changedAt": "2026-11-23T10:00:00+00:00",
             "codes": [{"code": "OTHER", "text": "Another reason.", "active": true}]}'))
  FROM received WHERE sequence = 2;
SELECT is((SELECT string_agg(list || ':' || code, ',' ORDER BY list, code) FROM hublink.reason_code
            WHERE list IN ('delay', 'weather')),
          'delay:OTHER,weather:FOG', 'the local lists are replaced by the full state received');

-- Put back what this file changed (as the tsp, so nothing is announced).
DELETE FROM hublink.reason_code WHERE list IN ('delay', 'weather');
DELETE FROM hublink.reason_list WHERE list = 'weather';
INSERT INTO hublink.reason_code SELECT * FROM saved_delay;
UPDATE hublink.reason_list SET description = 'Why an escort is delayed (4.10 delayed).' WHERE list = 'delay';
DELETE FROM hublink.reference_list_state;
DELETE FROM hublink.outbox o USING mark WHERE o.id > mark.outbox_id;
DELETE FROM hublink.reference_change c USING mark WHERE c.reference_change_id > mark.change_id;

SELECT * FROM finish();
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
