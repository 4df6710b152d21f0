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
-- @view hublink.worker_status
-- @comment COLUMN hublink.worker_status.jobs_pid
-- @comment COLUMN hublink.worker_status.jobs_state
-- @comment COLUMN hublink.worker_status.jobs_state_since

SELECT hublink.apply_access_policy();
