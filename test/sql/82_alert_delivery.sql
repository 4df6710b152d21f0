-- Alert delivery and operational alerts (sql/parts/82_alert_delivery.sql, 83_alert_checks.sql,
-- docs/alerts.md): channels refuse what a careless or hostile admin would write; each event is
-- queued once per channel whose filter takes it, with its body and key fixed; claiming counts
-- the attempt and backs off; only a 2xx delivers; security events, logons and availability
-- reports reach the channels that want them; the checks alert once per episode and recover.
-- The worker sending over HTTPS is tested against a real receiver in test/e2e/alerts.
BEGIN;
SELECT plan(59);

UPDATE hublink.worker_job SET enabled = false;
INSERT INTO hublink.alert_kind VALUES ('test_kind_a', 'warning', 'test', 'test/sql/82_alert_delivery.sql'),
                                      ('test_kind_b', 'warning', 'test', 'test/sql/82_alert_delivery.sql');

-- What an admin may not write into a channel.
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format) VALUES ('x', 'http://example.org/', 'generic_json')$$,
                 '23514', NULL, 'a plain-HTTP URL is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format) VALUES ('x', 'https://user:pw@example.org/', 'generic_json')$$,
                 '23514', NULL, 'a URL with credentials in it is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, header_file) VALUES ('x', 'https://example.org/', 'generic_json', '../../data/hublink_master.key')$$,
                 '23514', NULL, 'a header file outside the credentials directory is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, ca_file) VALUES ('x', 'https://example.org/', 'generic_json', '/etc/shadow')$$,
                 '23514', NULL, 'an absolute file name is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, header_file) VALUES ('x', 'https://example.org/', 'generic_json', '.pgpass')$$,
                 '23514', NULL, 'a hidden file is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, client_cert_file) VALUES ('x', 'https://example.org/', 'generic_json', 'c.pem')$$,
                 '23514', NULL, 'a client certificate without its key is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, kinds) VALUES ('x', 'https://example.org/', 'generic_json', '{test_kind_a,no_such_kind}')$$,
                 '23503', 'unknown kinds in alert channel "x": no_such_kind', 'a kinds filter naming no kind is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, event_types) VALUES ('x', 'https://example.org/', 'generic_json', '{alerts}')$$,
                 '23514', NULL, 'an unknown event type is refused');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format) VALUES ('x', 'https://example.org/', 'xml')$$,
                 '23503', NULL, 'an unknown format is refused');

INSERT INTO hublink.alert_channel (channel_name, url, format, min_severity, kinds, event_types, retry_min_delay, retry_max_delay) VALUES
    ('c_all', 'https://r.example/all', 'generic_json', 'info', NULL, '{alert}', '1 second', '3 seconds'),
    ('c_crit', 'https://r.example/crit', 'chat', 'critical', NULL, '{alert}', '1 second', '1 hour'),
    ('c_kind', 'https://r.example/kind', 'ticket', 'info', '{test_kind_a}', '{alert}', '1 second', '1 hour'),
    ('c_sec', 'https://r.example/sec', 'siem_hec', 'info', NULL, '{security_event}', '1 second', '1 hour'),
    ('c_avail', 'https://r.example/avail', 'generic_json', 'critical', NULL, '{availability}', '1 second', '1 hour'),
    ('c_off', 'https://r.example/off', 'generic_json', 'info', NULL, '{alert,security_event,availability}', '1 second', '1 hour');
UPDATE hublink.alert_channel SET enabled = false WHERE channel_name = 'c_off';
-- Making and muting channels is announced (critical alerts, test/sql/95_attacker_gaps.sql):
-- start from no alert and no delivery.
DELETE FROM hublink.alert_delivery;
DELETE FROM hublink.alert WHERE kind = 'security_config_changed';

SELECT hublink.raise_alert('test_kind_a', 'warning a', NULL, '{"n": 1}') AS a1 \gset
SELECT hublink.raise_alert('test_kind_b', 'critical b', NULL, '{"n": 2}', 'critical') AS a2 \gset
SELECT hublink.raise_alert('test_kind_b', 'info b', NULL, '{}', 'info') AS a3 \gset

SELECT is((SELECT array_agg(event_id ORDER BY event_id) FROM hublink.alert_delivery WHERE channel_name = 'c_all'),
          ARRAY[:a1, :a2, :a3]::bigint[], 'a channel with min_severity info gets every alert');
SELECT is((SELECT array_agg(event_id) FROM hublink.alert_delivery WHERE channel_name = 'c_crit'),
          ARRAY[:a2]::bigint[], 'a critical-only channel gets only the critical one');
SELECT is((SELECT array_agg(event_id) FROM hublink.alert_delivery WHERE channel_name = 'c_kind'),
          ARRAY[:a1]::bigint[], 'a channel filtered by kind gets only that kind');
SELECT is((SELECT count(*) FROM hublink.alert_delivery WHERE channel_name IN ('c_sec', 'c_avail', 'c_off')), 0::bigint,
          'channels for other event types, and disabled channels, get no alert');
SELECT is(hublink.alert_enqueue('alert', 'alert', :a1, 'test_kind_a', 'warning', 'again', now(), '{}'), 0,
          'an event already queued for a channel is not queued twice');

SELECT is((SELECT payload ->> 'idempotency_key' FROM hublink.alert_delivery WHERE channel_name = 'c_all' AND event_id = :a1),
          (SELECT idempotency_key::text FROM hublink.alert_delivery WHERE channel_name = 'c_all' AND event_id = :a1),
          'the generic body carries the row''s idempotency key');
SELECT is((SELECT payload - 'idempotency_key' - 'occurred_at' - 'database' FROM hublink.alert_delivery WHERE channel_name = 'c_all' AND event_id = :a1),
          jsonb_build_object('schema', 'hublink.event/1', 'event_type', 'alert', 'event_id', :a1, 'kind', 'test_kind_a',
                             'severity', 'warning', 'subject', 'warning a', 'party', current_setting('hublink.party', true),
                             'source', 'hublink', 'detail', jsonb_build_object('n', 1, 'alert_id', :a1, 'raised_by', session_user)),
          'the generic body is the structured event with the alert''s detail');
SELECT is((SELECT count(DISTINCT idempotency_key) FROM hublink.alert_delivery), (SELECT count(*) FROM hublink.alert_delivery),
          'every delivery has a key of its own');
SELECT matches((SELECT payload ->> 'text' FROM hublink.alert_delivery WHERE channel_name = 'c_crit'),
               '^\[hublink .*\] CRITICAL test_kind_b: critical b \(alert \d+\)$', 'the chat body is one line with severity, kind and subject');
SELECT is((SELECT payload ->> 'correlation_id' FROM hublink.alert_delivery WHERE channel_name = 'c_kind'),
          (SELECT idempotency_key::text FROM hublink.alert_delivery WHERE channel_name = 'c_kind'),
          'the ticket''s correlation_id is the idempotency key, so a resend updates the same ticket');
SELECT is((SELECT payload ->> 'urgency' FROM hublink.alert_delivery WHERE channel_name = 'c_kind'), '2',
          'a warning is a ticket of urgency 2');

-- Claiming and outcomes.
SELECT is((SELECT count(*) FROM hublink.alert_deliveries_claim(100)), 5::bigint, 'the five due deliveries are claimed');
SELECT is((SELECT count(*) FROM hublink.alert_deliveries_claim(100)), 0::bigint, 'a claimed delivery is not due again at once');
SELECT ok((SELECT bool_and(attempts = 1 AND next_attempt_at > last_attempt_at) FROM hublink.alert_delivery),
          'claiming counts the attempt and schedules the next one');
SELECT is((SELECT body::jsonb FROM hublink.alert_delivery d,
                LATERAL (SELECT c.body FROM hublink.alert_deliveries_claim(100) c) x LIMIT 1), NULL,
          'still nothing due');
SELECT ok(hublink.alert_delivery_next() > clock_timestamp(), 'the next due time is in the future');

SELECT delivery_id AS d1 FROM hublink.alert_delivery WHERE channel_name = 'c_all' AND event_id = :a1 \gset
SELECT hublink.alert_delivery_result(:d1, 500, 'HTTP status 500: oops');
SELECT is((SELECT state || '/' || last_status || '/' || last_error FROM hublink.alert_delivery WHERE delivery_id = :d1),
          'pending/500/HTTP status 500: oops', 'a 500 leaves the delivery pending with the status and error');
SELECT hublink.alert_delivery_result(:d1, NULL, 'Operation timed out after 200 milliseconds');
SELECT is((SELECT state || '/' || coalesce(last_status::text, 'none') FROM hublink.alert_delivery WHERE delivery_id = :d1),
          'pending/none', 'no answer (a timeout) leaves it pending');
-- Backoff: 1 s, 2 s, then capped at 3 s.
UPDATE hublink.alert_delivery SET next_attempt_at = '-infinity' WHERE delivery_id = :d1;
SELECT count(*) FROM hublink.alert_deliveries_claim(100);
SELECT ok((SELECT next_attempt_at - last_attempt_at BETWEEN interval '1.9 seconds' AND interval '2.1 seconds' FROM hublink.alert_delivery WHERE delivery_id = :d1),
          'the second attempt waits twice the first delay');
UPDATE hublink.alert_delivery SET next_attempt_at = '-infinity' WHERE delivery_id = :d1;
SELECT count(*) FROM hublink.alert_deliveries_claim(100);
SELECT ok((SELECT next_attempt_at - last_attempt_at BETWEEN interval '2.9 seconds' AND interval '3.1 seconds' FROM hublink.alert_delivery WHERE delivery_id = :d1),
          'the delay is capped at retry_max_delay');
SELECT hublink.alert_delivery_result(:d1, 204, NULL);
SELECT is((SELECT state || '/' || attempts FROM hublink.alert_delivery WHERE delivery_id = :d1), 'delivered/3',
          'a 2xx delivers it');
SELECT hublink.alert_delivery_result(:d1, 500, 'late copy');
SELECT is((SELECT state || '/' || last_status FROM hublink.alert_delivery WHERE delivery_id = :d1), 'delivered/204',
          'a late outcome of a copy does not undo a delivery');
UPDATE hublink.alert_delivery SET next_attempt_at = '-infinity';
SELECT is((SELECT count(*) FROM hublink.alert_deliveries_claim(100) c WHERE c.delivery_id = :d1), 0::bigint,
          'a delivered row is never claimed again');
UPDATE hublink.alert_channel SET enabled = false WHERE channel_name = 'c_crit';
SELECT is((SELECT count(*) FROM hublink.alert_deliveries_claim(100) c JOIN hublink.alert_delivery d USING (delivery_id)
            WHERE d.channel_name = 'c_crit'), 0::bigint, 'a disabled channel''s deliveries wait');
UPDATE hublink.alert_channel SET enabled = true WHERE channel_name = 'c_crit';
SELECT is(hublink.retry_alert_channel('c_crit'), 2,
          'retry_alert_channel makes a channel''s pending deliveries due (the critical alert, and the one announcing that it was enabled again)');

-- Security events, logons, availability.
INSERT INTO hublink.security_event (server_started_at, seq, recorded_at, kind, role_name, detail)
VALUES (now(), -1, now(), 'admin_role_change', 'mallory', '{"action": "ALTER ROLE", "client_addr": "192.0.2.7"}');
SELECT is((SELECT payload -> 'event' ->> 'severity' FROM hublink.alert_delivery WHERE channel_name = 'c_sec' AND source = 'security_event'),
          'critical', 'a security event goes to the SIEM channel with the severity of the alert its kind raises');
SELECT is((SELECT payload -> 'event' -> 'detail' ->> 'client_addr' FROM hublink.alert_delivery WHERE channel_name = 'c_sec' AND source = 'security_event'),
          '192.0.2.7', 'with the client address, for the SOC');
SELECT is((SELECT payload ->> 'sourcetype' FROM hublink.alert_delivery WHERE channel_name = 'c_sec' AND source = 'security_event'),
          'hublink:security_event', 'as an HTTP Event Collector event');
INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, database_name, client_addr, method, outcome)
VALUES (now(), -1, now(), 'mallory', 'x', '192.0.2.7', 'scram-sha-256', 'failed');
SELECT is((SELECT kind || '/' || severity FROM hublink.alert_delivery WHERE channel_name = 'c_sec' AND source = 'logon'),
          'logon/warning', 'a failed logon goes out as a warning security event');
SELECT is(hublink.availability_report_job(), NULL, 'the availability job runs');
SELECT ok((SELECT payload -> 'detail' ? 'broker_connected_percent' AND payload ->> 'event_type' = 'availability'
             FROM hublink.alert_delivery WHERE channel_name = 'c_avail'),
          'an availability report reaches its channel whatever its minimum severity');

-- Operational checks: once per episode, then recovered.
UPDATE hublink.alert_threshold SET after = '0';
SELECT is(hublink.operational_checks(), NULL, 'the checks run');
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'broker_unreachable'), 1::bigint,
          'no worker connected: broker_unreachable raised');
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'broker_unreachable'), 1::bigint,
          'and not again while the episode lasts');
SELECT hublink.alert_episode('broker_unreachable', '', false, NULL, 'x', '{}');
SELECT is((SELECT detail ->> 'check' FROM hublink.alert WHERE kind = 'operational_recovered'), 'broker_unreachable',
          'when the condition clears, operational_recovered is raised');
UPDATE hublink.alert_threshold SET after = '1 hour' WHERE check_name = 'broker_unreachable';
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'broker_unreachable'), 1::bigint,
          'a new episode under its threshold raises nothing yet');
CREATE FUNCTION public.job_fails() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'job says no'; END $$;
INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES ('t_fails', 'public.job_fails()', '1 hour', 'test');
SELECT hublink.run_worker_jobs();
SELECT hublink.operational_checks();
SELECT is((SELECT subject FROM hublink.alert WHERE kind = 'worker_job_failed'), 'worker job t_fails failed: job says no',
          'a failing worker job is alerted with its error');
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'worker_job_failed'), 1::bigint, 'once');
UPDATE hublink.alert_threshold SET max_count = 0, within = '1 hour' WHERE check_name = 'rejections';
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'rejections_high'), 0::bigint, 'no rejections, no rejection alert');
UPDATE hublink.alert_threshold SET after = '0' WHERE check_name = 'alert_delivery_failing';
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'alert_delivery_failing'), 5::bigint,
          'each enabled channel with a pending delivery is alerted once');
SELECT throws_ok($$INSERT INTO hublink.alert_threshold (check_name, alert_kind, description) VALUES ('outbox_backlog2', 'outbox_backlog', 'x')$$,
                 '23514', NULL, 'a threshold row for an age check needs its after');

-- Backlogs, rejections and late timers, on rows made directly (replica role: no sealing, no
-- foreign keys), so each check sees exactly its condition.
SET session_replication_role = replica;
INSERT INTO hublink.outbox (message_id, message_type, queue, message, created_at)
VALUES ('t-out-1', 'EscortQuoteRequest', 'escort-quote-request', '{}', now() - interval '1 hour');
INSERT INTO hublink.inbox (queue, message, status, next_attempt_at, received_at)
VALUES ('escort-quote-request', '{"messageId": "t-in-1"}', 'retrying', now() + interval '1 minute', now() - interval '1 hour');
INSERT INTO hublink.inbox (queue, message, status, received_at)
SELECT 'escort-quote-request', jsonb_build_object('messageId', 't-rej-' || g), 'rejected', now() FROM generate_series(1, 3) g;
INSERT INTO hublink.timer (kind, party, removal_id, machine, watches, anchor_at, due_at, status, fired_at, lateness, late)
VALUES ((SELECT kind FROM hublink.timer_kind LIMIT 1), 'hub', -1, 'removal', 't', now() - interval '2 hours',
        now() - interval '2 hours', 'fired', clock_timestamp(), interval '2 hours', true),
       ((SELECT kind FROM hublink.timer_kind LIMIT 1), 'hub', -1, 'removal', 't2', now() - interval '1 minute',
        now() - interval '1 minute', 'fired', clock_timestamp(), interval '1 minute', false);
SET session_replication_role = origin;
UPDATE hublink.alert_threshold SET after = '10 minutes' WHERE check_name IN ('outbox_backlog', 'inbox_backlog', 'timers_late');
UPDATE hublink.alert_threshold SET max_count = 2, within = '1 hour' WHERE check_name = 'rejections';
SELECT hublink.operational_checks();
SELECT is((SELECT detail ->> 'backlog' FROM hublink.alert WHERE kind = 'outbox_backlog'), '1',
          'an outbound message waiting an hour raises outbox_backlog');
SELECT is((SELECT detail ->> 'retrying' FROM hublink.alert WHERE kind = 'inbox_backlog'), '1',
          'an inbound message waiting an hour for a retry raises inbox_backlog');
SELECT is((SELECT detail ->> 'rejected' FROM hublink.alert WHERE kind = 'rejections_high'), '3',
          '3 rejections within the hour, above the threshold of 2, raise rejections_high');
SELECT is((SELECT detail ->> 'timers' FROM hublink.alert WHERE kind = 'timers_late'), '1',
          'a timer fired two hours late raises timers_late; the one a minute late does not count');
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind IN ('outbox_backlog', 'inbox_backlog', 'rejections_high', 'timers_late')),
          4::bigint, 'the next run raises none of them again');
UPDATE hublink.outbox SET sent_at = now() WHERE message_id = 't-out-1';
SELECT hublink.operational_checks();
SELECT is((SELECT count(*) FROM hublink.alert WHERE kind = 'operational_recovered' AND detail ->> 'check' = 'outbox_backlog'),
          1::bigint, 'the backlog sent: outbox_backlog recovered');

-- A hostile admin: may edit channels and thresholds, not the queue or the worker's functions.
CREATE ROLE test_alert_admin IN ROLE hublink_admin;
SET ROLE test_alert_admin;
SELECT lives_ok($$UPDATE hublink.alert_threshold SET after = '5 minutes' WHERE check_name = 'outbox_backlog'$$,
                'an admin changes a threshold');
SELECT throws_ok($$UPDATE hublink.alert_delivery SET state = 'delivered', delivered_at = now()$$, '42501', NULL,
                 'an admin cannot mark deliveries delivered');
SELECT throws_ok($$SELECT * FROM hublink.alert_deliveries_claim(1)$$, '42501', NULL,
                 'an admin cannot claim deliveries');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
