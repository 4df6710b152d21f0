-- 0.2.0: alerts that reach people (issue 14 section 4; docs/alerts.md): alert channels as rows,
-- deliveries with idempotency keys sent by the worker with libcurl, operational checks against
-- thresholds as rows, availability reports; and the alert kind of the worker's broker token.
-- Tables, triggers and grants are written here as in sql/parts/82_alert_delivery.sql,
-- 83_alert_checks.sql and 92_alert_access.sql; functions come from the parts (@function).

-- from 82_alert_delivery.sql
CREATE DOMAIN hublink.credential_file AS text
    CHECK (VALUE ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$');
COMMENT ON DOMAIN hublink.credential_file IS
    'A file name in the directory of the hublink.alert_credentials_dir setting: no directory '
    'part, not hidden, so a channel row can name only files the server''s administrator put '
    'there (never the master key or another secret of the server).';
CREATE TABLE hublink.alert_format (
    format       text PRIMARY KEY,
    content_type text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE hublink.alert_format IS
    'The request bodies a channel can send (reference data); hublink.alert_render draws them.';
COMMENT ON COLUMN hublink.alert_format.format IS 'Name of the format.';
COMMENT ON COLUMN hublink.alert_format.content_type IS 'The Content-Type header sent with it.';
COMMENT ON COLUMN hublink.alert_format.description IS 'What receives it and what it looks like.';
INSERT INTO hublink.alert_format VALUES
    ('generic_json', 'application/json',
     'The structured event itself (schema hublink.event/1): any JSON receiver, a log pipeline.'),
    ('chat', 'application/json',
     'An incoming-webhook message {"text": ...} as Slack, Mattermost, Rocket.Chat and Teams '
     'workflows accept: one line for a person.'),
    ('ticket', 'application/json',
     'An incident record for a ticketing system (ServiceNow table API field names: '
     'short_description, description, urgency, impact, category, correlation_id = the '
     'idempotency key, so a resend updates rather than duplicates).'),
    ('siem_hec', 'application/json',
     'A Splunk HTTP Event Collector event {"time", "host", "source", "sourcetype", "event"} '
     'with the structured event inside; other SIEMs (Elastic, Sentinel) ingest the same JSON.');
CREATE TABLE hublink.alert_channel (
    channel_name     text PRIMARY KEY CHECK (channel_name ~ '^[a-z][a-z0-9_]*$'),
    url              text NOT NULL CHECK (url ~ '^https://[^/@[:space:]]+(/[^[:space:]]*)?$'),
    format           text NOT NULL REFERENCES hublink.alert_format,
    event_types      text[] NOT NULL DEFAULT '{alert}'
                     CHECK (cardinality(event_types) > 0
                            AND event_types <@ '{alert,security_event,availability}'::text[]),
    kinds            text[],
    min_severity     text NOT NULL DEFAULT 'warning' REFERENCES hublink.alert_severity,
    client_cert_file hublink.credential_file,
    client_key_file  hublink.credential_file,
    ca_file          hublink.credential_file,
    header_file      hublink.credential_file,
    timeout_ms       integer NOT NULL DEFAULT 5000 CHECK (timeout_ms BETWEEN 100 AND 60000),
    retry_min_delay  interval NOT NULL DEFAULT '5 seconds' CHECK (retry_min_delay > interval '0'),
    retry_max_delay  interval NOT NULL DEFAULT '1 hour',
    enabled          boolean NOT NULL DEFAULT true,
    description      text NOT NULL DEFAULT '',
    CHECK ((client_cert_file IS NULL) = (client_key_file IS NULL)),
    CHECK (retry_max_delay >= retry_min_delay)
);
COMMENT ON TABLE hublink.alert_channel IS
    'Where alerts, security events and availability reports are sent (docs/alerts.md '
    '"Delivery"): one HTTPS endpoint each, with its format and its filter. Edited by admins; '
    'files are named inside hublink.alert_credentials_dir only.';
COMMENT ON COLUMN hublink.alert_channel.channel_name IS 'Name of the channel (lower case, underscores).';
COMMENT ON COLUMN hublink.alert_channel.url IS
    'The HTTPS URL events are POSTed to (no user:password part: credentials go in header_file). '
    'Redirects are not followed.';
COMMENT ON COLUMN hublink.alert_channel.format IS 'The request body (hublink.alert_format).';
COMMENT ON COLUMN hublink.alert_channel.event_types IS
    'Which events it gets: alert (hublink.alert), security_event (hublink.security_event and '
    'hublink.logon, NFR 0020), availability (hublink.availability_report, GSO 80-81).';
COMMENT ON COLUMN hublink.alert_channel.kinds IS
    'Only these kinds (alert kinds, security event kinds, or logon); NULL: every kind.';
COMMENT ON COLUMN hublink.alert_channel.min_severity IS
    'Alerts and security events below this severity are not sent; availability reports always are.';
COMMENT ON COLUMN hublink.alert_channel.client_cert_file IS
    'PEM client certificate presented to the receiver (mutual TLS), a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.client_key_file IS 'Its private key, a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.ca_file IS
    'PEM certificate authorities that sign the receiver''s certificate, a file in '
    'hublink.alert_credentials_dir; NULL: the system''s. The host name is always verified.';
COMMENT ON COLUMN hublink.alert_channel.header_file IS
    'A file in hublink.alert_credentials_dir whose lines are extra HTTP headers (for example '
    '"Authorization: Splunk <token>"), so no secret is a table value.';
COMMENT ON COLUMN hublink.alert_channel.timeout_ms IS 'Longest time one attempt may take, connection included.';
COMMENT ON COLUMN hublink.alert_channel.retry_min_delay IS 'Delay before the first retry; doubles after each failed attempt.';
COMMENT ON COLUMN hublink.alert_channel.retry_max_delay IS 'Longest delay between two attempts.';
COMMENT ON COLUMN hublink.alert_channel.enabled IS 'False: nothing is queued for it, and its queued deliveries wait.';
COMMENT ON COLUMN hublink.alert_channel.description IS 'Who reads it, for the admin.';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.alert_channel TO hublink_admin;
-- @function hublink.alert_channel_check
CREATE TRIGGER alert_channel_check BEFORE INSERT OR UPDATE OF kinds ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_check();
COMMENT ON TRIGGER alert_channel_check ON hublink.alert_channel IS
    'Checks the kinds filter (hublink.alert_channel_check).';
CREATE TABLE hublink.availability_report (
    report_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    figures      jsonb NOT NULL CHECK (jsonb_typeof(figures) = 'object'),
    CHECK (period_end >= period_start)
);
COMMENT ON TABLE hublink.availability_report IS
    'Availability and performance figures per period (Schedule R GSO 80-81), written by the '
    'availability_report job and sent to the channels that want availability events.';
COMMENT ON COLUMN hublink.availability_report.report_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.availability_report.period_start IS 'Start of the period reported.';
COMMENT ON COLUMN hublink.availability_report.period_end IS 'End of the period reported.';
COMMENT ON COLUMN hublink.availability_report.figures IS
    'The figures as JSON (docs/alerts.md "Availability"): broker connectivity, traffic, backlog, '
    'failing jobs, open alerts.';
CREATE TABLE hublink.alert_delivery (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_name    text NOT NULL REFERENCES hublink.alert_channel ON UPDATE CASCADE ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('alert', 'security_event', 'logon', 'availability_report')),
    event_id        bigint NOT NULL,
    event_type      text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL REFERENCES hublink.alert_severity,
    idempotency_key uuid NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (channel_name, source, event_id),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
COMMENT ON TABLE hublink.alert_delivery IS
    'One row per event per channel that wants it: the request body and idempotency key fixed '
    'when the event was raised, and the state of its delivery. Pending rows are sent by the '
    'worker until the receiver answers 2xx (at least once); they survive restarts.';
COMMENT ON COLUMN hublink.alert_delivery.delivery_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.alert_delivery.channel_name IS 'The channel (hublink.alert_channel).';
COMMENT ON COLUMN hublink.alert_delivery.source IS 'The table the event is a row of: alert, security_event, logon, availability_report.';
COMMENT ON COLUMN hublink.alert_delivery.event_id IS 'The key of that row.';
COMMENT ON COLUMN hublink.alert_delivery.event_type IS 'alert, security_event or availability (the channel filter).';
COMMENT ON COLUMN hublink.alert_delivery.kind IS 'The alert or security event kind.';
COMMENT ON COLUMN hublink.alert_delivery.severity IS 'Its severity.';
COMMENT ON COLUMN hublink.alert_delivery.idempotency_key IS
    'Sent as the Idempotency-Key header and inside the body; the same on every attempt, so a '
    'receiver drops the copies an at-least-once delivery may send.';
COMMENT ON COLUMN hublink.alert_delivery.payload IS 'The request body, rendered once (hublink.alert_render).';
COMMENT ON COLUMN hublink.alert_delivery.state IS 'pending until a 2xx answer, then delivered.';
COMMENT ON COLUMN hublink.alert_delivery.attempts IS 'Attempts started (an attempt cut short by a crash counts).';
COMMENT ON COLUMN hublink.alert_delivery.created_at IS 'When the event was queued for this channel.';
COMMENT ON COLUMN hublink.alert_delivery.next_attempt_at IS 'When the worker next tries (backoff after a failure).';
COMMENT ON COLUMN hublink.alert_delivery.last_attempt_at IS 'When the last attempt started.';
COMMENT ON COLUMN hublink.alert_delivery.last_status IS 'HTTP status of the last answer; NULL when none came (refused, timed out).';
COMMENT ON COLUMN hublink.alert_delivery.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN hublink.alert_delivery.delivered_at IS 'When the receiver accepted it.';
CREATE INDEX alert_delivery_due ON hublink.alert_delivery (next_attempt_at, delivery_id) WHERE state = 'pending';
COMMENT ON INDEX hublink.alert_delivery_due IS 'The pending deliveries in the order the worker sends them.';
GRANT SELECT ON hublink.alert_delivery, hublink.availability_report TO hublink_admin;
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('alert_channel_test', 'info', 'delivery',
     'A test event sent by hublink.test_alert_channel to check that a channel reaches its receiver.');
-- @function hublink.alert_event
-- @function hublink.alert_render
-- @function hublink.alert_enqueue
REVOKE ALL ON FUNCTION hublink.alert_enqueue(text, text, bigint, text, text, text, timestamptz, jsonb, text) FROM PUBLIC;
-- @function hublink.alert_delivery_on_alert
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.alert
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_alert();
COMMENT ON TRIGGER alert_delivery ON hublink.alert IS 'Queues the alert for delivery (hublink.alert_enqueue).';
-- @function hublink.alert_delivery_on_security_event
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.security_event
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_security_event();
COMMENT ON TRIGGER alert_delivery ON hublink.security_event IS 'Queues the event for delivery (hublink.alert_enqueue).';
-- @function hublink.alert_delivery_on_logon
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.logon
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_logon();
COMMENT ON TRIGGER alert_delivery ON hublink.logon IS 'Queues the logon for delivery (hublink.alert_enqueue).';
-- @function hublink.alert_delivery_on_availability
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.availability_report
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_availability();
COMMENT ON TRIGGER alert_delivery ON hublink.availability_report IS 'Queues the report for delivery (hublink.alert_enqueue).';
-- @function hublink.alert_deliveries_claim
REVOKE ALL ON FUNCTION hublink.alert_deliveries_claim(integer) FROM PUBLIC;
-- @function hublink.alert_delivery_result
REVOKE ALL ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) FROM PUBLIC;
-- @function hublink.alert_delivery_next
REVOKE ALL ON FUNCTION hublink.alert_delivery_next() FROM PUBLIC;
-- @function hublink.test_alert_channel
REVOKE ALL ON FUNCTION hublink.test_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.test_alert_channel(text) TO hublink_admin;
-- @function hublink.retry_alert_channel
REVOKE ALL ON FUNCTION hublink.retry_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.retry_alert_channel(text) TO hublink_admin;
CREATE VIEW hublink.alert_channel_status AS
SELECT c.channel_name, c.enabled, c.format, c.url,
       count(*) FILTER (WHERE d.state = 'pending') AS pending,
       count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
       clock_timestamp() - min(d.created_at) FILTER (WHERE d.state = 'pending') AS oldest_pending_age,
       max(d.delivered_at) AS last_delivered_at,
       (SELECT x.last_error FROM hublink.alert_delivery x
         WHERE x.channel_name = c.channel_name AND x.last_error IS NOT NULL
         ORDER BY x.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error
  FROM hublink.alert_channel c
  LEFT JOIN hublink.alert_delivery d USING (channel_name)
 GROUP BY c.channel_name;
COMMENT ON VIEW hublink.alert_channel_status IS
    'One row per channel: deliveries pending and delivered, how long the oldest pending one has '
    'waited, when the receiver last accepted one, and the last error.';
COMMENT ON COLUMN hublink.alert_channel_status.channel_name IS 'The channel.';
COMMENT ON COLUMN hublink.alert_channel_status.enabled IS 'Whether it is enabled.';
COMMENT ON COLUMN hublink.alert_channel_status.format IS 'Its format.';
COMMENT ON COLUMN hublink.alert_channel_status.url IS 'Its URL.';
COMMENT ON COLUMN hublink.alert_channel_status.pending IS 'Deliveries not yet accepted by the receiver.';
COMMENT ON COLUMN hublink.alert_channel_status.delivered IS 'Deliveries accepted.';
COMMENT ON COLUMN hublink.alert_channel_status.oldest_pending_age IS 'How long the oldest pending delivery has waited; NULL when none.';
COMMENT ON COLUMN hublink.alert_channel_status.last_delivered_at IS 'When the receiver last accepted a delivery.';
COMMENT ON COLUMN hublink.alert_channel_status.last_error IS 'The error of the latest failed attempt, if any.';
GRANT SELECT ON hublink.alert_channel_status TO hublink_admin;
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_channel', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.availability_report', '');

-- from 83_alert_checks.sql
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('broker_unreachable', 'critical', 'operations',
     'The worker has had no broker connection for longer than the threshold: nothing is received '
     'or sent. See hublink.worker_status.last_error; check the broker, the network, the certificates.'),
    ('outbox_backlog', 'warning', 'operations',
     'An outbound message has waited longer than the threshold for the broker''s confirm. See '
     'hublink.worker_queue_status.'),
    ('inbox_backlog', 'warning', 'operations',
     'An inbound message has waited for a handler retry longer than the threshold. See '
     'hublink.inbox rows with status retrying and their last_error.'),
    ('rejections_high', 'warning', 'operations',
     'More inbound messages were rejected within the window than the threshold allows: a '
     'sender may be broken or hostile. See hublink.inbox rows with status rejected.'),
    ('worker_job_failed', 'warning', 'operations',
     'A worker job''s last run failed. See hublink.worker_job.last_error.'),
    ('timers_late', 'warning', 'operations',
     'Workflow timers fired later than the threshold after they were due (the worker was down '
     'or busy). See hublink.timer.lateness.'),
    ('alert_delivery_failing', 'critical', 'operations',
     'An alert channel has had a delivery pending longer than the threshold: its receiver does '
     'not accept them. See hublink.alert_channel_status.'),
    ('broker_token_failed', 'critical', 'operations',
     'The worker could not obtain or renew its broker access token (docs/worker.md "Access '
     'tokens"). See hublink.worker_status.last_error.'),
    ('operational_recovered', 'info', 'operations',
     'A condition an operational alert reported has cleared (detail.recovered names the alert).');
CREATE TABLE hublink.alert_threshold (
    check_name  text PRIMARY KEY,
    alert_kind  text NOT NULL REFERENCES hublink.alert_kind,
    after       interval CHECK (after >= interval '0'),
    max_count   integer CHECK (max_count >= 0),
    within      interval CHECK (within > interval '0'),
    severity    text REFERENCES hublink.alert_severity,
    enabled     boolean NOT NULL DEFAULT true,
    description text NOT NULL,
    CHECK (CASE check_name
               WHEN 'rejections' THEN max_count IS NOT NULL AND within IS NOT NULL
               WHEN 'worker_job_failed' THEN true
               ELSE after IS NOT NULL END)
);
COMMENT ON TABLE hublink.alert_threshold IS
    'The thresholds of the operational checks (NFR 0008), one row per check; admins change '
    'them. The checks themselves are code (hublink.operational_checks): a row names no function.';
COMMENT ON COLUMN hublink.alert_threshold.check_name IS 'The check (see description).';
COMMENT ON COLUMN hublink.alert_threshold.alert_kind IS 'The alert it raises.';
COMMENT ON COLUMN hublink.alert_threshold.after IS 'How long the condition must last (or how old, how late) before the alert.';
COMMENT ON COLUMN hublink.alert_threshold.max_count IS 'For rates: the most events allowed within the window.';
COMMENT ON COLUMN hublink.alert_threshold.within IS 'For rates: the window.';
COMMENT ON COLUMN hublink.alert_threshold.severity IS 'The alert''s severity; NULL: the kind''s default.';
COMMENT ON COLUMN hublink.alert_threshold.enabled IS 'False: the check does not run.';
COMMENT ON COLUMN hublink.alert_threshold.description IS 'What the check looks at.';
INSERT INTO hublink.alert_threshold (check_name, alert_kind, after, max_count, within, description) VALUES
    ('broker_unreachable', 'broker_unreachable', '2 minutes', NULL, NULL,
     'The worker is not connected to the broker (worker_status.state) for longer than after.'),
    ('outbox_backlog', 'outbox_backlog', '10 minutes', NULL, NULL,
     'The oldest unconfirmed outbox row is older than after.'),
    ('inbox_backlog', 'inbox_backlog', '10 minutes', NULL, NULL,
     'The oldest inbox row waiting for a handler retry was received longer than after ago.'),
    ('rejections', 'rejections_high', NULL, 10, '1 hour',
     'More than max_count inbound messages rejected within the last within.'),
    ('worker_job_failed', 'worker_job_failed', NULL, NULL, NULL,
     'A worker job''s last run failed (one alert per job until a run succeeds).'),
    ('timers_late', 'timers_late', '5 minutes', NULL, NULL,
     'Timers fired since the last check with a lateness above after (one alert per check run).'),
    ('alert_delivery_failing', 'alert_delivery_failing', '15 minutes', NULL, NULL,
     'A channel''s oldest pending delivery is older than after (one alert per channel).');
GRANT SELECT, UPDATE ON hublink.alert_threshold TO hublink_admin;
CREATE TABLE hublink.alert_check_state (
    check_name text NOT NULL REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    subject    text NOT NULL DEFAULT '',
    since      timestamptz NOT NULL,
    alert_id   bigint REFERENCES hublink.alert ON DELETE SET NULL,
    PRIMARY KEY (check_name, subject)
);
COMMENT ON TABLE hublink.alert_check_state IS
    'The conditions the operational checks see now, one row per episode: since when, and the '
    'alert raised for it (NULL while under the threshold). Written by the checks only.';
COMMENT ON COLUMN hublink.alert_check_state.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_state.subject IS 'What it is about (a job, a channel), or empty.';
COMMENT ON COLUMN hublink.alert_check_state.since IS 'When the condition started (as well as the check can tell).';
COMMENT ON COLUMN hublink.alert_check_state.alert_id IS 'The alert raised for this episode, once the threshold was passed.';
CREATE TABLE hublink.alert_check_watermark (
    check_name text PRIMARY KEY REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    checked_to timestamptz NOT NULL
);
COMMENT ON TABLE hublink.alert_check_watermark IS
    'For checks that count events (timers_late): up to when events were already looked at.';
COMMENT ON COLUMN hublink.alert_check_watermark.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_watermark.checked_to IS 'Events up to this time were counted.';
CREATE TABLE hublink.availability_sample (
    sampled_at timestamptz PRIMARY KEY,
    state      text NOT NULL,
    connected  boolean NOT NULL
);
COMMENT ON TABLE hublink.availability_sample IS
    'The worker''s broker connection state as each operational_checks run saw it, for the '
    'availability figures (GSO 80); kept 35 days.';
COMMENT ON COLUMN hublink.availability_sample.sampled_at IS 'When it was sampled.';
COMMENT ON COLUMN hublink.availability_sample.state IS 'hublink.worker_status.state then.';
COMMENT ON COLUMN hublink.availability_sample.connected IS 'True when the worker was connected to the broker.';
-- @function hublink.alert_episode
REVOKE ALL ON FUNCTION hublink.alert_episode(text, text, boolean, timestamptz, text, jsonb) FROM PUBLIC;
-- @function hublink.operational_checks
REVOKE ALL ON FUNCTION hublink.operational_checks() FROM PUBLIC;
-- @function hublink.availability_report_job
REVOKE ALL ON FUNCTION hublink.availability_report_job() FROM PUBLIC;
INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('operational_checks', 'hublink.operational_checks()', interval '30 seconds',
     'Operational alerts (NFR 0008): broker unreachable, backlogs, rejections, failing jobs, late '
     'timers, failing alert channels, against hublink.alert_threshold (docs/alerts.md).'),
    ('availability_report', 'hublink.availability_report_job()', interval '15 minutes',
     'Availability and performance figures to hublink.availability_report and the channels that '
     'want them (GSO 80-81, docs/alerts.md).');
-- @function hublink.report_broker_token_failure
REVOKE ALL ON FUNCTION hublink.report_broker_token_failure(text) FROM PUBLIC;

-- from 92_alert_access.sql
INSERT INTO hublink.access_table_override VALUES
    ('alert\_delivery', 'own_grants', 'Alert delivery (82_alert_delivery.sql, docs/alerts.md): admins read '
                        'the state; only its triggers and the worker''s functions write it.'),
    ('alert\_channel\_status', 'own_grants', 'Delivery state per channel, for admins (82_alert_delivery.sql).'),
    ('availability\_report', 'own_grants', 'Availability figures for admins and the channels (82_alert_delivery.sql).');
GRANT EXECUTE ON FUNCTION hublink.alert_deliveries_claim(integer) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.alert_delivery_next() TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.report_broker_token_failure(text) TO hublink_worker;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
