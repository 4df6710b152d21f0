-- The alert kinds of the broker contract (36_broker_contract.sql; docs/worker.md), here because
-- hublink.alert_kind is made by 46_alerts.sql, and the handler of Error messages, here because
-- 43_conversation.sql sets the handlers of every queue's type.

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
