-- The inbox (issue 3, section 2): every delivery the worker takes off the broker is stored
-- here in the same transaction as its effect, and acked only after that transaction commits.
-- The unique messageId makes a redelivered message a no-op: exactly-once effects.

CREATE TABLE hublink.inbox_status (
    status      text PRIMARY KEY CHECK (status ~ '^[a-z]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.inbox_status IS 'What can become of a message taken off the broker.';
COMMENT ON COLUMN hublink.inbox_status.status IS 'The value of hublink.inbox.status.';
COMMENT ON COLUMN hublink.inbox_status.description IS 'What the status means.';

INSERT INTO hublink.inbox_status VALUES
    ('applied',  'Valid, and its handler ran and committed in the same transaction as this row.'),
    ('retrying', 'Valid, but its handler raised an error; the worker tries again at next_attempt_at.'),
    ('rejected', 'Not processable (bad input or a handler that kept failing); an Error message was '
                 'written to the outbox for the queue''s error queue.');

CREATE TABLE hublink.enqueue_time_source (
    source      text PRIMARY KEY CHECK (source ~ '^[a-z-]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.enqueue_time_source IS
    'Where hublink.inbox.enqueued_at came from. SLAs count from the moment a request is put on '
    'a queue (Schedule R Appendix D), so the broker''s own time is preferred.';
COMMENT ON COLUMN hublink.enqueue_time_source.source IS 'The value of hublink.inbox.enqueued_at_source.';
COMMENT ON COLUMN hublink.enqueue_time_source.description IS 'What the source is.';

INSERT INTO hublink.enqueue_time_source VALUES
    ('amqp-timestamp', 'The AMQP timestamp property of the delivery (whole seconds).'),
    ('amqp-timestamp-us', 'The AMQP timestamp to the microsecond, from the header hublink-enqueued-us that a '
                          'hublink worker publishes beside it (used only when it falls within the timestamp''s second).'),
    ('sent-at',        'The envelope''s sentAt: the delivery had no AMQP timestamp.');

CREATE TABLE hublink.inbox (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue              text NOT NULL,
    message            jsonb,
    raw                bytea,
    message_id         text GENERATED ALWAYS AS (
                           CASE WHEN jsonb_typeof(message -> 'messageId') = 'string'
                                THEN message ->> 'messageId' END) STORED,
    message_type       text GENERATED ALWAYS AS (
                           CASE WHEN jsonb_typeof(message -> 'messageType') = 'string'
                                THEN message ->> 'messageType' END) STORED,
    removal_id         text GENERATED ALWAYS AS (
                           CASE WHEN jsonb_typeof(message -> 'removalId') = 'string'
                                THEN message ->> 'removalId' END) STORED,
    status             text NOT NULL REFERENCES hublink.inbox_status,
    problems           jsonb CHECK (problems IS NULL OR jsonb_typeof(problems) = 'array'),
    attempts           integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
    last_error         text,
    next_attempt_at    timestamptz,
    enqueued_at        timestamptz,
    enqueued_at_source text REFERENCES hublink.enqueue_time_source,
    received_at        timestamptz NOT NULL,
    processed_at       timestamptz NOT NULL DEFAULT now(),
    redelivered        boolean NOT NULL DEFAULT false,
    CONSTRAINT inbox_message_id_key UNIQUE (message_id),
    CHECK ((status = 'retrying') = (next_attempt_at IS NOT NULL)),
    CHECK (message IS NOT NULL OR status = 'rejected')
);
COMMENT ON TABLE hublink.inbox IS
    'Every message the worker took off the broker, stored in the transaction of its effect; '
    'unique on messageId, so a redelivery has no second effect.';
COMMENT ON COLUMN hublink.inbox.id IS 'Arrival order.';
COMMENT ON COLUMN hublink.inbox.queue IS 'The queue the message was consumed from.';
COMMENT ON COLUMN hublink.inbox.message IS
    'The message''s envelope, when it was JSON at all; its body is sealed in sealed_body (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.raw IS
    'PERSONAL DATA: the bytes as received (at most hublink.max_message_bytes), only when they were '
    'not JSON; a garbled message can still carry names or document numbers. Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.message_id IS 'The envelope''s messageId where readable: the idempotency key.';
COMMENT ON COLUMN hublink.inbox.message_type IS 'The envelope''s messageType where readable.';
COMMENT ON COLUMN hublink.inbox.removal_id IS 'The envelope''s removalId where readable.';
COMMENT ON COLUMN hublink.inbox.status IS 'applied, retrying or rejected (hublink.inbox_status).';
COMMENT ON COLUMN hublink.inbox.problems IS
    'PERSONAL DATA: why the message was rejected, the problems sent in the Error message; they can '
    'quote the message''s values. Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.attempts IS 'How many times the handler ran (0 when rejected before it).';
COMMENT ON COLUMN hublink.inbox.last_error IS
    'PERSONAL DATA: the handler''s last error message, which can quote the message''s values. '
    'Sealed (74_crypto_seal.sql); cleared when a retry applies the message.';
COMMENT ON COLUMN hublink.inbox.next_attempt_at IS 'When a retrying message is tried again.';
COMMENT ON COLUMN hublink.inbox.enqueued_at IS
    'When the message was put on the queue: the AMQP timestamp, else the envelope''s sentAt.';
COMMENT ON COLUMN hublink.inbox.enqueued_at_source IS 'Where enqueued_at came from.';
COMMENT ON COLUMN hublink.inbox.received_at IS 'When the worker read the delivery off the socket.';
COMMENT ON COLUMN hublink.inbox.processed_at IS 'When the transaction that stored the row started.';
COMMENT ON COLUMN hublink.inbox.redelivered IS 'The broker flagged the delivery as a redelivery.';

CREATE INDEX inbox_retry_due ON hublink.inbox (next_attempt_at) WHERE status = 'retrying';
COMMENT ON INDEX hublink.inbox_retry_due IS 'Finds the retrying messages that are due.';
CREATE INDEX inbox_removal_id ON hublink.inbox (removal_id);
COMMENT ON INDEX hublink.inbox_removal_id IS 'The messages of one conversation.';

-- The handler seam (issue 3, section 2): the worker dispatches each valid message to the
-- function registered for its type. The conversation issue replaces rows here; the worker
-- is not touched.
-- One table, one lookup (issue 15 section 2): the responder that answers an applied message
-- (issue 4's seam, once a table of its own) is a column here.
CREATE TABLE hublink.message_handler (
    message_type text PRIMARY KEY REFERENCES hublink.message_type,
    handler      regprocedure NOT NULL,
    description  text,
    responder    regprocedure,
    responder_description text,
    CONSTRAINT message_handler_check CHECK (responder IS NOT NULL OR responder_description IS NULL)
);
COMMENT ON TABLE hublink.message_handler IS
    'The seam between the worker and the business logic: the function that applies each '
    'message type. It is called as handler(message jsonb) inside the worker''s transaction, '
    'after the message was validated and stored in hublink.inbox; it may call hublink.send() '
    'for its replies. An error it raises rolls back its effects and is retried '
    '(hublink.handler_max_retries).';
COMMENT ON COLUMN hublink.message_handler.message_type IS 'The envelope''s messageType.';
COMMENT ON COLUMN hublink.message_handler.handler IS
    'A function taking one jsonb argument (SQL, PL/pgSQL or C); its result is ignored.';
COMMENT ON COLUMN hublink.message_handler.description IS 'What the handler does.';
COMMENT ON COLUMN hublink.message_handler.responder IS
    'Optional: a function called as responder(message jsonb) after hublink.handle_message applied '
    'the message to its conversation, in the same transaction (e.g. a provider''s booking logic '
    'answering a request with hublink.send_message); its result is ignored. NULL: the message is '
    'only applied, and a party answers by hand (docs/hub.md). Other handlers do not call it. '
    'Set by hublink.tsp_auto_answer and hublink.esp_auto_answer; only the owner writes it '
    '(docs/security-access.md "Code stored as data").';
COMMENT ON COLUMN hublink.message_handler.responder_description IS 'What the responder does.';

CREATE FUNCTION hublink.record_message(message jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ BEGIN NULL; END $$;
COMMENT ON FUNCTION hublink.record_message(jsonb) IS
    'The default handler: the message was already validated and recorded in hublink.inbox by '
    'the worker, so there is nothing more to do until the conversation''s state machine plugs in.';

INSERT INTO hublink.message_handler
SELECT message_type, 'hublink.record_message(jsonb)'::regprocedure,
       'Default: validate and record only.'
  FROM hublink.message_type WHERE queue IS NOT NULL;

-- Operational data, not part of the extension's definition: pg_dump must keep it.
SELECT pg_catalog.pg_extension_config_dump('hublink.inbox', '');

