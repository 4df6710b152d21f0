-- 0.2.0: the inbox's one home (issue 15 section 2). Every change of an inbox row is a function
-- of 38_inbox_state.sql; the worker calls them (bgworker/inbox.c) and writes no inbox SQL of its
-- own, and a handler's rejection goes through hublink.inbox_handler_rejected.
-- @function hublink.inbox_store_applied
-- @function hublink.inbox_retry_applied
-- @function hublink.inbox_handler_rejected
-- @function hublink.reject_message

-- The compensating trigger goes: hublink.inbox_retry_applied clears the sealed error itself.
DROP TRIGGER inbox_applied_clears_error ON hublink.inbox;
DROP FUNCTION hublink.inbox_applied_clears_error();

-- One dispatch table: the responders of hublink.message_responder become a column of
-- hublink.message_handler, which now holds site data (a provider engine's switch) and is dumped.
ALTER TABLE hublink.message_handler
    ADD COLUMN responder regprocedure,
    ADD COLUMN responder_description text,
    ADD CONSTRAINT message_handler_check CHECK (responder IS NOT NULL OR responder_description IS NULL);
-- @comment COLUMN hublink.message_handler.responder
-- @comment COLUMN hublink.message_handler.responder_description
UPDATE hublink.message_handler h
   SET responder = r.responder, responder_description = r.description
  FROM hublink.message_responder r
 WHERE r.message_type = h.message_type;
DO $$
BEGIN
    -- A responder of a type no handler row names was never called (only hublink.handle_message
    -- calls responders); say so rather than drop it in silence.
    IF EXISTS (SELECT FROM hublink.message_responder r
                WHERE NOT EXISTS (SELECT FROM hublink.message_handler h WHERE h.message_type = r.message_type)) THEN
        RAISE WARNING 'hublink.message_responder rows of message types without a handler were not kept: %',
            (SELECT string_agg(r.message_type || ' ' || r.responder::text, ', ')
               FROM hublink.message_responder r
              WHERE NOT EXISTS (SELECT FROM hublink.message_handler h WHERE h.message_type = r.message_type));
    END IF;
END;
$$;
DROP FUNCTION hublink.set_engine_responders(text, text, hublink.message_responder[], boolean);
-- Out of the extension first: that also takes it off pg_dump's list (extconfig), which a
-- plain DROP TABLE leaves naming a table that is gone.
ALTER EXTENSION hublink DROP TABLE hublink.message_responder;
DROP TABLE hublink.message_responder;
CREATE TYPE hublink.engine_responder AS (
    message_type text,
    responder    regprocedure,
    description  text
);
-- @comment TYPE hublink.engine_responder
-- @function hublink.set_engine_responders
REVOKE ALL ON FUNCTION hublink.set_engine_responders(text, text, hublink.engine_responder[], boolean) FROM PUBLIC;
-- @function hublink.tsp_auto_answer
-- @function hublink.esp_auto_answer
-- @function hublink.handle_message
DELETE FROM hublink.backup_exclusion WHERE table_name = 'message_handler';
SELECT hublink.backup_register();

-- The grants of 91_access_policy.sql for what this part adds (an @function line brings the
-- definition and comment, not the REVOKE).
REVOKE ALL ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_retry_applied(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.inbox_handler_rejected(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) TO hublink_worker;
GRANT EXECUTE ON FUNCTION hublink.inbox_retry_applied(bigint) TO hublink_worker;

-- Jobs off the message path (issue 15 section 4): the jobs worker's state in worker_status.
-- @function hublink.jobs_worker_state
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
       (SELECT count(*) FROM hublink.error_report r WHERE r.cleared_at IS NULL) AS needs_attention,
       j.pid AS jobs_pid,
       j.state AS jobs_state,
       j.state_since AS jobs_state_since
  FROM hublink.worker_state() s
 CROSS JOIN hublink.jobs_worker_state() j
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
-- @comment COLUMN hublink.worker_status.jobs_pid
-- @comment COLUMN hublink.worker_status.jobs_state
-- @comment COLUMN hublink.worker_status.jobs_state_since

SELECT hublink.apply_access_policy();
