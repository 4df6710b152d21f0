-- 0.2.0: the cost of a burst, sixth pass (issue 15 section 3; docs/performance.md "Sixth pass").

-- The worker's publishing fetch opens a batch of replies with one decrypt audit row naming
-- every message, where hublink.open_message wrote one row per reply.
-- @function hublink.open_outbox
GRANT EXECUTE ON FUNCTION hublink.open_outbox(bigint, integer) TO hublink_worker;

-- The outbox's seal trigger fires on an update only when it names message, key_scope or
-- sealed_body: the worker's SET sent_at on every reply no longer calls it.
DROP TRIGGER seal_message_body ON hublink.outbox;
-- @trigger hublink.outbox.seal_message_body

SELECT hublink.apply_access_policy();
