-- Retention and crypto-shredding (issue 6 section 2, NFR 0011, 0012; docs/security-crypto.md):
-- the policy per data class, the worker job that purges closed removals past their periods
-- (messages deleted, data key destroyed, removal deleted), each purge audited and logged, and
-- erasure on the Authority's direction. After the purge the sealed bytes cannot be opened.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(38);

CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);
CREATE FUNCTION hublink_test.new_removal(passport text) RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal('CASE-73001', format($j$[
     {"personalDetails": {"hoReturneeReference": "HO-7300101", "name": {"givenNames": "Ingrid", "familyName": "Halvorsen"},
                          "dateOfBirth": "1977-07-07", "nationality": "NOR", "gender": "F"},
      "travelDocuments": [{"type": "PASSPORT", "number": "%s", "issuingCountry": "NOR", "expiryDate": "2031-01-31"}],
      "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": ["DISRUPTIVE"]}}]$j$, passport)::jsonb,
     '2026-03-16', '2026-03-20', '{"description": "Oslo, Norway", "country": "NOR", "airportCode": "OSL"}') $$;

SELECT is((SELECT string_agg(data_class || '=' || retain_days, ' ' ORDER BY data_class) FROM hublink.retention_policy),
          'messages=90 personal_data=730 removal=2190', 'a retention period per data class, in days after closing');
SELECT is((SELECT job_function::text FROM hublink.worker_job WHERE job_name = 'retention_purge'),
          'hublink.retention_purge()', 'the worker runs the purge as a periodic job');

INSERT INTO hublink_test.v VALUES ('r1', hublink_test.new_removal('P73RETAIN1'));
SELECT lives_ok($$SELECT hublink.request_escort_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))$$,
                'the removal is sent to the escort provider (a sealed outbox message)');
INSERT INTO hublink_test.v
SELECT 'sealed', encode(d.sealed, 'hex') FROM hublink.travel_document d
  JOIN hublink.returnee t USING (returnee_id)
  JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1');

SELECT is(hublink.retention_purge(), NULL, 'the job runs');
SELECT is((SELECT count(*)::int FROM hublink.purge_log), 0, 'an open removal is never purged');

-- Cancelled 100 days ago: past the messages period only.
UPDATE hublink.removal SET state = 'cancelled', updated_at = now() - interval '100 days'
 WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1');
SELECT is((SELECT count(*)::int FROM hublink.closed_removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1')),
          1, 'a cancelled removal is closed');
SELECT hublink.retention_purge();
SELECT is((SELECT string_agg(data_class || ' ' || reason || ' ' || retain_days || ' ' || removed::text, '; ') FROM hublink.purge_log),
          'messages retention 90 {"inbox_rows": 0, "outbox_rows": 1}', '100 days after closing its messages are deleted');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE removal_id = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 0,
          'the outbox keeps none of them');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 1,
          'its personal data is still kept');
SELECT hublink.retention_purge();
SELECT is((SELECT count(*)::int FROM hublink.purge_log), 1, 'a class is purged once per removal');

-- 800 days: past the personal data period.
UPDATE hublink.removal SET updated_at = now() - interval '800 days'
 WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1');
SELECT hublink.retention_purge();
SELECT is((SELECT data_class || ' ' || (removed - 'master_key_ids')::text FROM hublink.purge_log ORDER BY purge_id DESC LIMIT 1),
          'personal_data {"data_keys_destroyed": 1}', '800 days after closing its data key is destroyed');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 0,
          'no key is left for it');
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.v WHERE k = 'r1'),
                                         decode((SELECT v FROM hublink_test.v WHERE k = 'sealed'), 'hex'))$$,
                 'HL060', NULL, 'the passport''s sealed bytes cannot be opened any more (crypto-shredded)');
SELECT is((SELECT concat_ws('|', p.given_names, p.family_name, p.date_of_birth)
             FROM hublink.returnee t, hublink.returnee_personal_of(t.returnee_id) p
            WHERE t.ho_returnee_reference = 'HO-7300101'), '', 'its personal columns read NULL');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 1,
          'the removal record itself is kept until its own period');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'purge'), 2, 'each purge is audited');
SELECT is((SELECT detail ->> 'data_class' || ' ' || (detail ->> 'retain_days') || ' ' || (detail ->> 'reason') || ' '
                  || (removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1'))
             FROM hublink.audit_log WHERE action = 'purge' ORDER BY audit_id DESC LIMIT 1),
          'personal_data 730 retention true', 'with the removal, the class, the policy and why');
SELECT ok((SELECT bool_and(detail::text NOT LIKE '%P73RETAIN1%' AND detail::text NOT LIKE '%Halvorsen%')
             FROM hublink.audit_log WHERE action = 'purge'), 'and no personal data');

-- Past the removal period: the removal goes.
UPDATE hublink.removal SET updated_at = now() - interval '2200 days'
 WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1');
SELECT hublink.retention_purge();
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 0,
          '2200 days after closing the removal is deleted');
SELECT is((SELECT count(*)::int FROM hublink.returnee WHERE ho_returnee_reference = 'HO-7300101'), 0, 'with its rows');

-- Erasure on direction, of an open removal.
INSERT INTO hublink_test.v VALUES ('r2', hublink_test.new_removal('P73ERASE02'));
SELECT throws_ok($$SELECT hublink.erase_removal((SELECT v FROM hublink_test.v WHERE k = 'r2'), '')$$,
                 '22023', 'an erasure needs a reason', 'an erasure without a reason is refused');
SELECT is(hublink.erase_removal((SELECT v FROM hublink_test.v WHERE k = 'r2'), 'AUTH-DIR-0042') -> 'personal_data',
          jsonb_build_object('data_keys_destroyed', 1, 'master_key_ids', jsonb_build_array(hublink.crypto_key_id((hublink.master_keys())[1]))),
          'erasure on direction destroys the key at once (and names the master key that wrapped it)');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r2')), 0,
          'and deletes the removal');
SELECT is((SELECT string_agg(data_class || ' ' || reason, ', ' ORDER BY purge_id) FROM hublink.purge_log
            WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r2')),
          'messages AUTH-DIR-0042, personal_data AUTH-DIR-0042, removal AUTH-DIR-0042', 'logged with the direction');

-- Messages that named no removal (a delivery that was not JSON, an Error without removalId) are
-- sealed under the key of the UTC day they were stored, and shredded with it by age.
INSERT INTO hublink.inbox (queue, raw, status, problems, attempts, received_at, processed_at)
VALUES ('escort-quote-request', convert_to('{"name": "Oldgarbledname", "passport": "P73RAWOLD', 'UTF8'), 'rejected',
        '[{"instanceLocation": "", "keywordLocation": "", "error": "not valid JSON near P73RAWOLD"}]', 0,
        now() - interval '100 days', now() - interval '100 days');
INSERT INTO hublink.outbox (message_id, message_type, queue, message, created_at, sent_at)
SELECT id, 'Error', 'escort-quote-request-error',
       jsonb_build_object('messageId', id, 'messageType', 'Error', 'body', '{"problems": [{"error": "near P73RAWOLD"}]}'::jsonb),
       now() - interval '100 days', now() - interval '100 days'
  FROM (VALUES ('73-old-error-sent')) x(id);
INSERT INTO hublink.outbox (message_id, message_type, queue, message, created_at)
SELECT id, 'Error', 'escort-quote-request-error',
       jsonb_build_object('messageId', id, 'messageType', 'Error', 'body', '{"problems": [{"error": "unsent"}]}'::jsonb),
       now() - interval '101 days'
  FROM (VALUES ('73-old-error-unsent')) x(id);
INSERT INTO hublink_test.v VALUES
    ('day', 'messages ' || to_char((now() - interval '100 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD')),
    ('day_unsent', 'messages ' || to_char((now() - interval '101 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
SELECT is((SELECT key_scope || ' ' || (raw IS NULL AND problems IS NULL AND sealed IS NOT NULL)
             FROM hublink.inbox WHERE queue = 'escort-quote-request' AND message IS NULL),
          (SELECT v FROM hublink_test.v WHERE k = 'day') || ' true',
          'bytes that were not JSON and their problems are sealed under the key of the day they were stored');
SELECT is((SELECT key_scope || ' ' || (NOT message ? 'body' AND sealed_body IS NOT NULL)
             FROM hublink.outbox WHERE message_id = '73-old-error-sent'),
          (SELECT v FROM hublink_test.v WHERE k = 'day') || ' true', 'so is the body of an Error that names no removal');
INSERT INTO hublink_test.v
SELECT 'day_sealed', encode(sealed, 'hex') FROM hublink.inbox WHERE queue = 'escort-quote-request' AND message IS NULL;
SELECT hublink.retention_purge();
SELECT is((SELECT count(*)::int FROM hublink.inbox WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'day'))
          + (SELECT count(*)::int FROM hublink.outbox WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'day')), 0,
          'after the messages period they are deleted');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'day')), 0,
          'and the day''s key is destroyed');
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.v WHERE k = 'day'),
                                         decode((SELECT v FROM hublink_test.v WHERE k = 'day_sealed'), 'hex'))$$,
                 'HL060', NULL, 'so a copy of the sealed bytes (dead tuple, WAL, backup) cannot be opened');
SELECT is((SELECT reason || ' ' || data_class || ' ' || retain_days || ' ' || (removed - 'master_key_ids')::text FROM hublink.purge_log
            WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'day')),
          'retention messages 90 {"data_keys_destroyed": 1}', 'logged under the day''s key scope');
SELECT is((SELECT detail ->> 'data_class' FROM hublink.audit_log
            WHERE action = 'purge' AND detail ->> 'key_scope' = (SELECT v FROM hublink_test.v WHERE k = 'day')),
          'messages', 'and audited');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_id = '73-old-error-unsent'), 1,
          'an unsent message is kept past the period');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'day_unsent')), 1,
          'and so is its day''s key, which the worker needs to publish it');


-- A message naming a removal reference no removal here has (rejected as unknown) is sealed under
-- that reference's key, which no removal's purge would reach: the messages period does.
INSERT INTO hublink.inbox (queue, message, status, problems, attempts, received_at, processed_at)
SELECT 'escort-quote-request',
       jsonb_build_object('messageId', id, 'messageType', 'EscortQuoteRequest', 'removalId', ref,
                          'body', '{"name": "Orphanname P73ORPHAN"}'::jsonb),
       'rejected', '[{"instanceLocation": "/removalId", "keywordLocation": "", "error": "unknown removal"}]', 0,
       now() - age, now() - age
  FROM (VALUES ('73-orphan-old', 'RMV-2099-000073', interval '100 days'),
               ('73-orphan-new', 'RMV-2099-000074', interval '1 day')) x(id, ref, age);
UPDATE hublink.data_key SET created_at = now() - interval '100 days' WHERE key_scope = 'RMV-2099-000073';
SELECT is((SELECT key_scope || ' ' || (NOT message ? 'body') FROM hublink.inbox WHERE message_id = '73-orphan-old'),
          'RMV-2099-000073 true', 'a message naming an unknown removal is sealed under that reference''s key');
SELECT hublink.retention_purge();
SELECT is((SELECT count(*)::int FROM hublink.inbox WHERE message_id = '73-orphan-old'), 0,
          'after the messages period it is deleted, though no removal closed');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = 'RMV-2099-000073'), 0,
          'and the orphan reference''s key is destroyed');
SELECT is((SELECT reason || ' ' || data_class FROM hublink.purge_log WHERE removal_reference = 'RMV-2099-000073'),
          'retention messages', 'logged under the reference');
SELECT is((SELECT count(*)::int FROM hublink.inbox i JOIN hublink.data_key d USING (key_scope)
            WHERE i.message_id = '73-orphan-new'), 1,
          'a recent one keeps its row and its key');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
