-- 0.2.0: the message hot path (issue 15). Functions the worker calls on every message are
-- PL/pgSQL rather than SQL (a SQL function with SET or SECURITY DEFINER is parsed and planned
-- again in every subtransaction; PL/pgSQL keeps its plans for the session).
-- @function hublink.removal_access_allowed
-- @function hublink.message_key_scope
-- @function hublink.seal
-- @function hublink.reason_code_valid
-- @function hublink.reason_code_problems

-- hublink.reason_code_problems once per message: hublink.handle_message checks the codes and
-- applies through conversation_apply_codes_checked, which does not check them again.
-- @function hublink.conversation_apply_codes_checked
-- @function hublink.conversation_apply
-- @function hublink.handle_message

-- A handler's rejection is read from its inbox row (bgworker/inbox.c): no flag, so
-- reject_message no longer calls hublink.note_handler_rejection, which goes.
-- @function hublink.reject_message
DROP FUNCTION hublink.note_handler_rejection();

-- Sub-second SLA times: the worker publishes the enqueue time in microseconds beside the AMQP
-- timestamp (whole seconds), and records it as this source (bgworker/broker.c, inbox.c).
INSERT INTO hublink.enqueue_time_source VALUES
    ('amqp-timestamp-us', 'The AMQP timestamp to the microsecond, from the header hublink-enqueued-us that a '
                          'hublink worker publishes beside it (used only when it falls within the timestamp''s second).');

SELECT hublink.apply_access_policy();
