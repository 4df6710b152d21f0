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
-- @view hublink.mi_worker
-- @comment COLUMN hublink.mi_worker.needs_attention
-- @function hublink.mi_report_html

-- sql/parts/36_broker_contract.sql is wholly new in 0.2.0 (the broker users, the routes, the
-- broker's definitions, the worker's alerts, the Errors that need attention): copied verbatim.
-- @include sql/parts/36_broker_contract.sql
-- Also new in 0.2.0, and part of the broker contract, but kept with every other change of an
-- inbox row in 38_inbox_state.sql (issue 15 section 2): by definition, not by include.
-- @function hublink.inbox_duplicate
-- @function hublink.inbox_reject_retrying
REVOKE ALL ON FUNCTION hublink.inbox_duplicate(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) FROM PUBLIC;
-- @function hublink.enqueue_error

-- Integers read from messages through one helper (issue 14 section 3): a part new in 0.2.0.
-- @include sql/parts/12_json_integer.sql
-- @function hublink.record_returnees
-- @function hublink.record_escorts
-- @function hublink.record_message_rows
-- @function hublink.tsp_quote
-- @function hublink.apply_reference_list
-- @function hublink.esp_effort
-- @function hublink.esp_quote
-- @function hublink.esp_amend

-- sql/parts/49_broker_alerts.sql (new in 0.2.0): the alert kinds, and the handler of Error messages.
-- @include sql/parts/49_broker_alerts.sql

-- The grants of 91_access_policy.sql for what this part adds.
DO $$
BEGIN
    INSERT INTO hublink.access_table_override VALUES
        ('error_report', 'reference', 'Errors received for our messages: ids, queue names, JSON pointers and '
                         'counts, no message content (36_broker_contract.sql); written only by hublink.receive_error.'),
        ('needs_attention', 'reference_view', 'The open error reports with their outbox row''s id and send time: '
                            'no message content, for the people who clear them.');
    GRANT EXECUTE ON FUNCTION hublink.worker_alert(text, text, jsonb, text) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_duplicate(text, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.receive_error(jsonb) TO hublink_worker;
    GRANT EXECUTE ON FUNCTION hublink.clear_attention(bigint, text) TO hublink_admin;
END;
$$;
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
