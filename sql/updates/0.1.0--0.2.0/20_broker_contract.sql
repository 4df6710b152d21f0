-- 0.2.0: the broker contract (issue 12 section 2, issue 14 sections 2 and 3; docs/worker.md).
-- Each party publishes through an exchange of its own; the broker users and the parties they
-- speak for are rows; Errors received on the error queues of the queues a party sends on are
-- kept as error reports that need attention; a reused messageId is answered with an Error.

-- hublink.party.exchange (10_reference.sql), at the end of the table as in a fresh install.
ALTER TABLE hublink.party ADD COLUMN exchange text;
UPDATE hublink.party SET exchange = 'hublink.' || party;
ALTER TABLE hublink.party ALTER COLUMN exchange SET NOT NULL;
ALTER TABLE hublink.party ADD CONSTRAINT party_exchange_key UNIQUE (exchange);
ALTER TABLE hublink.party ADD CONSTRAINT party_exchange_check CHECK (exchange ~ '^[a-z][a-z0-9.-]*$');
-- @comment COLUMN hublink.party.exchange

-- hublink.error_report (31_outbox.sql)
CREATE TABLE hublink.error_report (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    error_message_id    text NOT NULL UNIQUE,
    reported_by         text NOT NULL REFERENCES hublink.party,
    queue               text NOT NULL,
    failed_message_id   text,
    failed_message_type text,
    removal_reference   text,
    outbox_id           bigint REFERENCES hublink.outbox ON DELETE SET NULL,
    matched             boolean NOT NULL,
    problem_count       integer NOT NULL CHECK (problem_count >= 0),
    problem_locations   jsonb NOT NULL CHECK (jsonb_typeof(problem_locations) = 'array'),
    received_at         timestamptz NOT NULL DEFAULT now(),
    cleared_at          timestamptz,
    cleared_by          text,
    clear_note          text,
    CHECK ((cleared_at IS NULL) = (cleared_by IS NULL))
);
-- @comment TABLE hublink.error_report
-- @comment COLUMN hublink.error_report.id
-- @comment COLUMN hublink.error_report.error_message_id
-- @comment COLUMN hublink.error_report.reported_by
-- @comment COLUMN hublink.error_report.queue
-- @comment COLUMN hublink.error_report.failed_message_id
-- @comment COLUMN hublink.error_report.failed_message_type
-- @comment COLUMN hublink.error_report.removal_reference
-- @comment COLUMN hublink.error_report.outbox_id
-- @comment COLUMN hublink.error_report.matched
-- @comment COLUMN hublink.error_report.problem_count
-- @comment COLUMN hublink.error_report.problem_locations
-- @comment COLUMN hublink.error_report.received_at
-- @comment COLUMN hublink.error_report.cleared_at
-- @comment COLUMN hublink.error_report.cleared_by
-- @comment COLUMN hublink.error_report.clear_note
CREATE INDEX error_report_open ON hublink.error_report (received_at) WHERE cleared_at IS NULL;
-- @comment INDEX hublink.error_report_open
CREATE INDEX error_report_outbox ON hublink.error_report (outbox_id);
-- @comment INDEX hublink.error_report_outbox
SELECT pg_catalog.pg_extension_config_dump('hublink.error_report', '');

-- hublink.worker_status and hublink.mi_worker gain needs_attention (32_worker_status.sql,
-- 86_mi_views.sql): a column added at the end, so CREATE OR REPLACE keeps the dependants.
CREATE OR REPLACE VIEW hublink.worker_status AS
SELECT s.pid,
       current_setting('hublink.party', true) AS party,
       s.state,
       s.state_since,
       s.last_error,
       s.last_error_at,
       s.started_at,
       c.received, c.applied, c.duplicates, c.rejected, c.retried, c.acked, c.published,
       o.backlog AS outbox_backlog,
       o.oldest_unsent_age,
       (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'retrying') AS retrying,
       (SELECT count(*) FROM hublink.error_report r WHERE r.cleared_at IS NULL) AS needs_attention
  FROM hublink.worker_state() s
 CROSS JOIN (SELECT coalesce(sum(q.received), 0)::bigint AS received,
                    coalesce(sum(q.applied), 0)::bigint AS applied,
                    coalesce(sum(q.duplicates), 0)::bigint AS duplicates,
                    coalesce(sum(q.rejected), 0)::bigint AS rejected,
                    coalesce(sum(q.retried), 0)::bigint AS retried,
                    coalesce(sum(q.acked), 0)::bigint AS acked,
                    coalesce(sum(q.published), 0)::bigint AS published
               FROM hublink.worker_queue_counters() q) c
 CROSS JOIN (SELECT count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL) o;
-- @comment VIEW hublink.worker_status
-- @comment COLUMN hublink.worker_status.needs_attention
CREATE OR REPLACE VIEW hublink.mi_worker AS
SELECT w.party, w.state, w.state_since, w.state = 'connected' AS connected,
       round(extract(epoch FROM now() - w.state_since)::numeric, 3) AS seconds_in_state,
       w.last_error_at, w.started_at,
       w.received, w.applied, w.duplicates, w.rejected, w.retried, w.published,
       w.outbox_backlog,
       round(extract(epoch FROM w.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       w.retrying,
       w.needs_attention
  FROM hublink.worker_status w;
-- @comment COLUMN hublink.mi_worker.needs_attention
-- @function hublink.mi_report_html

-- The rest of 36_broker_contract.sql: the broker users, the routes, the broker's definitions.
CREATE TABLE hublink.broker_identity (
    broker_user text PRIMARY KEY CHECK (broker_user <> '' AND broker_user !~ '[[:cntrl:]]'),
    party       text NOT NULL REFERENCES hublink.party,
    description text
);
-- @comment TABLE hublink.broker_identity
-- @comment COLUMN hublink.broker_identity.broker_user
-- @comment COLUMN hublink.broker_identity.party
-- @comment COLUMN hublink.broker_identity.description
INSERT INTO hublink.broker_identity VALUES
    ('hub', 'hub', 'The Home Office Hub''s certificate (CN=hub) on the local test stack.'),
    ('tsp', 'tsp', 'The travel provider''s certificate (CN=tsp) on the local test stack.'),
    ('esp', 'esp', 'The escort provider''s certificate (CN=esp) on the local test stack.');
-- @function hublink.broker_name_pattern

CREATE VIEW hublink.broker_route AS
SELECT t.sender_party AS party, p.exchange, t.queue, 'send'::text AS role, t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.sender_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, p.exchange, t.queue || '-error', 'report', t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.receiver_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, NULL, t.queue, 'consume', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.sender_party, NULL, t.queue || '-error', 'read errors', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL;
-- @comment VIEW hublink.broker_route
-- @comment COLUMN hublink.broker_route.party
-- @comment COLUMN hublink.broker_route.exchange
-- @comment COLUMN hublink.broker_route.queue
-- @comment COLUMN hublink.broker_route.role
-- @comment COLUMN hublink.broker_route.message_type
-- @function hublink.broker_definitions
-- @function hublink.worker_alert

CREATE VIEW hublink.needs_attention AS
SELECT r.id AS report_id, r.received_at, r.reported_by, r.queue, r.removal_reference,
       r.failed_message_id, r.failed_message_type, r.outbox_id, o.sent_at,
       NOT r.matched AS unmatched, r.problem_count, r.problem_locations
  FROM hublink.error_report r
  LEFT JOIN hublink.outbox o ON o.id = r.outbox_id
 WHERE r.cleared_at IS NULL;
-- @comment VIEW hublink.needs_attention
-- @comment COLUMN hublink.needs_attention.report_id
-- @comment COLUMN hublink.needs_attention.received_at
-- @comment COLUMN hublink.needs_attention.reported_by
-- @comment COLUMN hublink.needs_attention.queue
-- @comment COLUMN hublink.needs_attention.removal_reference
-- @comment COLUMN hublink.needs_attention.failed_message_id
-- @comment COLUMN hublink.needs_attention.failed_message_type
-- @comment COLUMN hublink.needs_attention.outbox_id
-- @comment COLUMN hublink.needs_attention.sent_at
-- @comment COLUMN hublink.needs_attention.unmatched
-- @comment COLUMN hublink.needs_attention.problem_count
-- @comment COLUMN hublink.needs_attention.problem_locations
-- @function hublink.receive_error
-- @function hublink.clear_attention
-- @function hublink.inbox_duplicate
-- @function hublink.inbox_reject_retrying
-- @function hublink.enqueue_error

-- Integers read from messages through one helper (12_json_integer.sql, issue 14 section 3).
-- @function hublink.json_integer
-- @function hublink.record_returnees
-- @function hublink.record_escorts
-- @function hublink.record_message_rows
-- @function hublink.tsp_quote
-- @function hublink.apply_reference_list
-- @function hublink.esp_effort
-- @function hublink.esp_quote
-- @function hublink.esp_amend

-- 49_broker_alerts.sql: the alert kinds, and the handler of Error messages.
INSERT INTO hublink.alert_kind VALUES
    ('broker_sender_mismatch', 'critical', 'worker',
     'A delivery''s envelope sender is not the party of the broker user that published it (or it '
     'has no AMQP user_id, or a user hublink.broker_identity does not map): someone may be '
     'speaking for another party. It was rejected to its error queue. Check the broker''s '
     'permissions (scripts/broker-permissions) and who holds that user''s certificate.'),
    ('error_received', 'warning', 'worker',
     'A party rejected one of our messages and said why on the error queue: the case needs '
     'attention (hublink.needs_attention). Correct it and send a new message with a new '
     'messageId, then hublink.clear_attention.'),
    ('error_unmatched', 'warning', 'worker',
     'An Error arrived on the error queue of a queue we send on but names no message we sent '
     'there: it is kept in hublink.needs_attention. Find out who sent what.'),
    ('error_not_processable', 'warning', 'worker',
     'A message received on an error queue could not be processed (invalid, forged or unknown '
     'type). It is stored as rejected in hublink.inbox; no Error is sent back for an Error.'),
    ('message_id_reused', 'warning', 'worker',
     'A message reused a messageId we had already received (a corrected resend of a rejected '
     'message, or the same id on another queue). It was not applied; an Error told its sender '
     'to send it again with a new messageId.');
INSERT INTO hublink.message_handler VALUES
    ('Error', 'hublink.receive_error(jsonb)'::regprocedure,
     'An Error on the error queue of a queue we send on: matched to our outbox row, kept as an '
     'error report that needs attention, alerted.');

-- The grants of 91_access_policy.sql for what this part adds.
DO $$
BEGIN
    INSERT INTO hublink.access_table_override VALUES
        ('error_report', 'reference', 'Errors received for our messages: ids, queue names, JSON pointers and '
                         'counts, no message content (36_broker_contract.sql); written only by hublink.receive_error.'),
        ('needs_attention', 'reference_view', 'The open error reports with their outbox row''s id and send time: '
                            'no message content, for the people who clear them.');
    -- As their parts do: an @function line brings the definition and comment, not the REVOKE.
    REVOKE ALL ON FUNCTION hublink.worker_alert(text, text, jsonb, text) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hublink.inbox_duplicate(text, jsonb) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hublink.receive_error(jsonb) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hublink.clear_attention(bigint, text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION hublink.worker_alert(text, text, jsonb, text) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_duplicate(text, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.receive_error(jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.clear_attention(bigint, text) TO hublink_admin;
END;
$$;
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
