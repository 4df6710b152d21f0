-- from sql/parts/00_preload.sql
-- hublink install script. Built by scripts/build-install-sql from sql/parts/*.sql and the
-- generated schema rows; do not edit sql/hublink--0.1.0.sql by hand.

\echo Use "CREATE EXTENSION hublink" to load this file. \quit

-- Refuse to install unless the library was preloaded: the worker cannot run otherwise.
CREATE FUNCTION hublink.assert_preloaded() RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_assert_preloaded';
COMMENT ON FUNCTION hublink.assert_preloaded() IS
    'Raises an error unless hublink is in shared_preload_libraries; run first by CREATE EXTENSION.';
SELECT hublink.assert_preloaded();

-- from sql/parts/10_reference.sql
-- Reference data: the parties and the message types of Appendix A, with their queues.
-- The worker, the schema registry and the docs read these rows; nothing in C lists them.

CREATE TABLE hublink.party (
    party       text PRIMARY KEY CHECK (party ~ '^[a-z]{2,10}$'),
    sender_code text NOT NULL UNIQUE CHECK (sender_code ~ '^[A-Z]{2,10}$'),
    name        text NOT NULL
);
COMMENT ON TABLE hublink.party IS
    'The parties of the Escort & Travel interface; hublink.party (the setting) names one of them.';
COMMENT ON COLUMN hublink.party.party IS 'The value of the hublink.party setting: hub, tsp or esp.';
COMMENT ON COLUMN hublink.party.sender_code IS 'The envelope''s "sender" for messages this party sends.';
COMMENT ON COLUMN hublink.party.name IS 'Readable name.';

INSERT INTO hublink.party VALUES
    ('hub', 'HUB', 'Home Office Hub'),
    ('tsp', 'TSP', 'Travel Service Provider'),
    ('esp', 'ESP', 'Escort Service Provider');

CREATE TABLE hublink.message_type (
    message_type     text PRIMARY KEY CHECK (message_type ~ '^[A-Z][A-Za-z]+$'),
    schema_name      text NOT NULL UNIQUE CHECK (schema_name ~ '^[a-z][a-z-]+$'),
    queue            text UNIQUE CHECK (queue ~ '^[a-z][a-z-]+$'),
    sender_party     text REFERENCES hublink.party,
    receiver_party   text REFERENCES hublink.party,
    appendix_section text,
    CHECK ((queue IS NULL) = (sender_party IS NULL) AND (queue IS NULL) = (receiver_party IS NULL))
);
COMMENT ON TABLE hublink.message_type IS
    'Every message type: its schema file, its queue on the Hub broker (each queue Q has an error '
    'queue Q-error), who sends and who consumes it, and its section of Schedule R (Appendix A, '
    'or B 4.17 for the reference-list updates of 45_reference_lists.sql).';
COMMENT ON COLUMN hublink.message_type.message_type IS 'The envelope''s "messageType".';
COMMENT ON COLUMN hublink.message_type.schema_name IS 'Name of the JSON Schema file in schemas/.';
COMMENT ON COLUMN hublink.message_type.queue IS
    'Durable queue carrying this type; NULL for the error message, which goes to <queue>-error.';
COMMENT ON COLUMN hublink.message_type.sender_party IS 'The party that publishes this type.';
COMMENT ON COLUMN hublink.message_type.receiver_party IS 'The party that consumes this type.';
COMMENT ON COLUMN hublink.message_type.appendix_section IS
    'Section of Schedule R: 4.1 to 4.14 for the messages of Appendix A, B 4.17 for the '
    'reference-list updates added for Appendix B, D for the error message.';

INSERT INTO hublink.message_type VALUES
    ('EscortQuoteRequest',    'escort-quote-request',    'escort-quote-request',    'hub', 'esp', '4.1'),
    ('EscortQuoteResponse',   'escort-quote-response',   'escort-quote-response',   'esp', 'hub', '4.2'),
    ('TravelQuoteRequest',    'travel-quote-request',    'travel-quote-request',    'hub', 'tsp', '4.3'),
    ('TravelQuoteResponse',   'travel-quote-response',   'travel-quote-response',   'tsp', 'hub', '4.4'),
    ('EscortBookingRequest',  'escort-booking-request',  'escort-booking-request',  'hub', 'esp', '4.5'),
    ('EscortBookingResponse', 'escort-booking-response', 'escort-booking-response', 'esp', 'hub', '4.6'),
    ('TravelBookingRequest',  'travel-booking-request',  'travel-booking-request',  'hub', 'tsp', '4.7'),
    ('TravelBookingResponse', 'travel-booking-response', 'travel-booking-response', 'tsp', 'hub', '4.8'),
    ('EscortAmendment',       'escort-amendment',        'escort-amendment',        'hub', 'esp', '4.9'),
    ('EscortUpdate',          'escort-update',           'escort-update',           'esp', 'hub', '4.10'),
    ('TravelAmendment',       'travel-amendment',        'travel-amendment',        'hub', 'tsp', '4.11'),
    ('TravelUpdate',          'travel-update',           'travel-update',           'tsp', 'hub', '4.12'),
    ('TravelCancellation',    'travel-cancellation',     'travel-cancellation',     'hub', 'tsp', '4.13'),
    ('EscortCancellation',    'escort-cancellation',     'escort-cancellation',     'hub', 'esp', '4.14'),
    ('Error',                 'error',                   NULL,                      NULL,  NULL,  'D');

-- from sql/parts/20_schema_registry.sql
-- The schema registry (issue 2, section 6). Schemas are data: a new version is registered
-- with hublink.register_schema() without a rebuild. Every change to these tables makes every
-- backend drop its compiled schemas (see extension/schema_cache.c).

CREATE TABLE hublink.schema_document (
    uri           text PRIMARY KEY CHECK (uri ~ '^[a-z][a-z0-9+.-]*:'),
    document      jsonb NOT NULL CHECK (jsonb_typeof(document) IN ('object', 'boolean')),
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.schema_document IS
    'JSON documents reachable by $ref from any schema, by absolute URI (shared definitions, the '
    'envelope, test-suite remotes). Message schemas are reachable by their $id without a row here.';
COMMENT ON COLUMN hublink.schema_document.uri IS 'Absolute URI the document is known by.';
COMMENT ON COLUMN hublink.schema_document.document IS 'The JSON Schema document.';
COMMENT ON COLUMN hublink.schema_document.registered_at IS 'When it was registered.';
COMMENT ON COLUMN hublink.schema_document.registered_by IS 'Who registered it.';

CREATE TABLE hublink.message_schema (
    message_type   text NOT NULL REFERENCES hublink.message_type,
    schema_version text NOT NULL CHECK (schema_version ~ '^[0-9]+\.[0-9]+$'),
    schema         jsonb NOT NULL CHECK (jsonb_typeof(schema) = 'object'),
    active         boolean NOT NULL DEFAULT true,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    registered_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (message_type, schema_version)
);
COMMENT ON TABLE hublink.message_schema IS
    'The JSON Schema of each message type and version; hublink.validate_message() picks the row '
    'from the message''s messageType and schemaVersion.';
COMMENT ON COLUMN hublink.message_schema.message_type IS 'The envelope''s messageType.';
COMMENT ON COLUMN hublink.message_schema.schema_version IS 'The envelope''s schemaVersion, major.minor.';
COMMENT ON COLUMN hublink.message_schema.schema IS 'The JSON Schema (draft 2020-12 or draft-07).';
COMMENT ON COLUMN hublink.message_schema.active IS
    'Messages of an inactive version are rejected as unsupported.';
COMMENT ON COLUMN hublink.message_schema.registered_at IS 'When it was registered.';
COMMENT ON COLUMN hublink.message_schema.registered_by IS 'Who registered it.';

CREATE FUNCTION hublink.schema_registry_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_schema_registry_changed';
COMMENT ON FUNCTION hublink.schema_registry_changed() IS
    'Statement trigger: makes every backend drop its compiled schemas after a registry change.';

CREATE TRIGGER schema_document_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hublink.schema_document
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.schema_registry_changed();
COMMENT ON TRIGGER schema_document_changed ON hublink.schema_document IS
    'Invalidates compiled schemas in every backend.';
CREATE TRIGGER message_schema_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hublink.message_schema
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.schema_registry_changed();
COMMENT ON TRIGGER message_schema_changed ON hublink.message_schema IS
    'Invalidates compiled schemas in every backend.';

CREATE FUNCTION hublink.jsonschema_is_valid(schema jsonb, instance jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_jsonschema_is_valid';
COMMENT ON FUNCTION hublink.jsonschema_is_valid(jsonb, jsonb) IS
    'True when instance is valid against schema (draft 2020-12, or draft-07 by its $schema). '
    '$refs to absolute URIs resolve to registered documents.';

CREATE FUNCTION hublink.jsonschema_errors(schema jsonb, instance jsonb) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_jsonschema_errors';
COMMENT ON FUNCTION hublink.jsonschema_errors(jsonb, jsonb) IS
    'The problems of instance against schema: an array of {instanceLocation, keywordLocation, '
    'error}, empty when valid.';

CREATE FUNCTION hublink.validate_message(message jsonb) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message';
COMMENT ON FUNCTION hublink.validate_message(jsonb) IS
    'Validates a message against the active schema of its messageType and schemaVersion; returns '
    'an array of {instanceLocation, keywordLocation, error}, empty when valid.';

CREATE FUNCTION hublink.validate_message_text(message text) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message_raw';
COMMENT ON FUNCTION hublink.validate_message_text(text) IS
    'As validate_message, for text that may not be JSON at all (as it came off the broker): '
    'parse failures and limits are reported as problems, not raised.';

CREATE FUNCTION hublink.check_schema(schema jsonb) RETURNS void
    LANGUAGE c STABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_check_schema';
COMMENT ON FUNCTION hublink.check_schema(jsonb) IS
    'Raises an error unless the schema compiles and all its $refs resolve.';

CREATE FUNCTION hublink.register_schema_document(uri text, document jsonb) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        INSERT INTO hublink.schema_document (uri, document)
        VALUES (register_schema_document.uri, register_schema_document.document)
        ON CONFLICT ON CONSTRAINT schema_document_pkey
        DO UPDATE SET document = excluded.document, registered_at = now(),
                      registered_by = current_user;
    END;
COMMENT ON FUNCTION hublink.register_schema_document(text, jsonb) IS
    'Makes a JSON document reachable by $ref under uri from any schema; replaces an earlier one.';

CREATE FUNCTION hublink.register_schema(message_type text, schema_version text, schema jsonb,
                                        active boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.check_schema(schema);
    INSERT INTO hublink.message_schema (message_type, schema_version, schema, active)
    VALUES (register_schema.message_type, register_schema.schema_version,
            register_schema.schema, register_schema.active)
    ON CONFLICT ON CONSTRAINT message_schema_pkey
    DO UPDATE SET schema = excluded.schema, active = excluded.active,
                  registered_at = now(), registered_by = current_user;
END;
$$;
COMMENT ON FUNCTION hublink.register_schema(text, text, jsonb, boolean) IS
    'Registers (or replaces) the schema of a message type and version, after checking it compiles.';

-- Installs a shipped schema file: message schemas by their type, the rest as documents.
CREATE FUNCTION hublink.install_shipped_schema(schema_name text, schema jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    message_type text;
BEGIN
    SELECT t.message_type INTO message_type
      FROM hublink.message_type t WHERE t.schema_name = install_shipped_schema.schema_name;
    IF message_type IS NULL THEN
        PERFORM hublink.register_schema_document(schema->>'$id', schema);
    ELSE
        -- The version is the last segment of the $id: https://.../schemas/<name>/<version>
        INSERT INTO hublink.message_schema (message_type, schema_version, schema)
        VALUES (message_type, substring(schema->>'$id' from '/([0-9]+\.[0-9]+)$'), schema);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.install_shipped_schema(text, jsonb) IS
    'Used by the install script to load the schemas shipped in schemas/.';

CREATE FUNCTION hublink.validate_message_bytes(message bytea) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message_raw';
COMMENT ON FUNCTION hublink.validate_message_bytes(bytea) IS
    'As validate_message, for raw bytes exactly as a broker delivered them: invalid UTF-8, text '
    'that is not JSON and documents over the limits are reported as problems, not raised.';

-- from sql/parts/30_inbox.sql
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
    'The message''s envelope, when it was JSON at all; its body is sealed in sealed_body (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.raw IS
    'PERSONAL DATA: the bytes as received (at most hublink.max_message_bytes), only when they were '
    'not JSON; a garbled message can still carry names or document numbers. Sealed (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.message_id IS 'The envelope''s messageId where readable: the idempotency key.';
COMMENT ON COLUMN hublink.inbox.message_type IS 'The envelope''s messageType where readable.';
COMMENT ON COLUMN hublink.inbox.removal_id IS 'The envelope''s removalId where readable.';
COMMENT ON COLUMN hublink.inbox.status IS 'applied, retrying or rejected (hublink.inbox_status).';
COMMENT ON COLUMN hublink.inbox.problems IS
    'PERSONAL DATA: why the message was rejected, the problems sent in the Error message; they can '
    'quote the message''s values. Sealed (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.inbox.attempts IS 'How many times the handler ran (0 when rejected before it).';
COMMENT ON COLUMN hublink.inbox.last_error IS
    'PERSONAL DATA: the handler''s last error message, which can quote the message''s values. '
    'Sealed (73_crypto_seal.sql); cleared when a retry applies the message.';
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
CREATE TABLE hublink.message_handler (
    message_type text PRIMARY KEY REFERENCES hublink.message_type,
    handler      regprocedure NOT NULL,
    description  text
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

-- The handler seam's way to reject: hublink.reject_message() calls this so the worker counts the
-- message as rejected and never marks it applied on a retry (bgworker/inbox.c).
CREATE FUNCTION hublink.note_handler_rejection() RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_note_handler_rejection';
COMMENT ON FUNCTION hublink.note_handler_rejection() IS
    'Tells the worker that the running handler rejected its message (called by hublink.reject_message).';
REVOKE ALL ON FUNCTION hublink.note_handler_rejection() FROM PUBLIC;

-- from sql/parts/31_outbox.sql
-- The outbox (issue 3, section 4): hublink.send() writes a message here in the caller's
-- transaction, so a reply is published if and only if its cause committed. The worker
-- publishes unsent rows in id order with publisher confirms and sets sent_at after the
-- broker confirmed them; a row published but not confirmed before a crash is published
-- again (at-least-once; consumers dedup on messageId).

CREATE TABLE hublink.outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   text NOT NULL,
    message_type text NOT NULL REFERENCES hublink.message_type,
    queue        text NOT NULL,
    removal_id   text,
    message      jsonb NOT NULL CHECK (jsonb_typeof(message) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    CONSTRAINT outbox_message_id_key UNIQUE (message_id)
);
COMMENT ON TABLE hublink.outbox IS
    'Messages to publish, written by hublink.send() (and by the worker for Error messages) in '
    'the transaction that caused them; the worker publishes them with publisher confirms.';
COMMENT ON COLUMN hublink.outbox.id IS 'Publication order.';
COMMENT ON COLUMN hublink.outbox.message_id IS 'The envelope''s messageId.';
COMMENT ON COLUMN hublink.outbox.message_type IS 'The envelope''s messageType.';
COMMENT ON COLUMN hublink.outbox.queue IS 'The queue it is published to (routing key on the default exchange).';
COMMENT ON COLUMN hublink.outbox.removal_id IS 'The envelope''s removalId, when it has one.';
COMMENT ON COLUMN hublink.outbox.message IS
    'The message''s envelope; its body is sealed in sealed_body (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.outbox.created_at IS 'When the transaction that wrote it started.';
COMMENT ON COLUMN hublink.outbox.sent_at IS
    'When the broker confirmed it (persistent, on a durable queue); NULL while unsent.';

-- Rows are short-lived (published in milliseconds, then purged by retention): compressing
-- them, or moving them to the TOAST table, would cost the worker more than the space is
-- worth. Messages up to a page stay inline and uncompressed.
ALTER TABLE hublink.outbox ALTER COLUMN message SET STORAGE EXTERNAL;
ALTER TABLE hublink.outbox SET (toast_tuple_target = 8160);

CREATE INDEX outbox_unsent ON hublink.outbox (id) WHERE sent_at IS NULL;
COMMENT ON INDEX hublink.outbox_unsent IS 'The backlog the worker publishes, in order.';
CREATE INDEX outbox_removal_id ON hublink.outbox (removal_id);
COMMENT ON INDEX hublink.outbox_removal_id IS 'The messages of one conversation.';

SELECT pg_catalog.pg_extension_config_dump('hublink.outbox', '');

CREATE FUNCTION hublink.wake_worker_at_commit() RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_wake_worker_at_commit';
COMMENT ON FUNCTION hublink.wake_worker_at_commit() IS
    'Sets the worker''s latch when the current transaction commits, so it publishes the rows '
    'this transaction wrote to hublink.outbox without polling.';

CREATE FUNCTION hublink.send(message jsonb) RETURNS text
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb;
    kind     hublink.message_type;
    party    text := current_setting('hublink.party', true);
BEGIN
    PERFORM hublink.require_removal_access(message ->> 'removalId'); -- need-to-know, 90_access.sql
    problems := hublink.validate_message(message);
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'message is not valid against its schema'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s problem(s); the first is at "%s": %s.',
                                  jsonb_array_length(problems),
                                  problems -> 0 ->> 'instanceLocation',
                                  problems -> 0 ->> 'error'),
                  HINT = 'Check the message with hublink.validate_message(), which lists every problem.';
    END IF;
    SELECT * INTO kind FROM hublink.message_type t WHERE t.message_type = message ->> 'messageType';
    IF kind.queue IS NULL THEN
        RAISE EXCEPTION 'message type "%" cannot be sent with hublink.send()', message ->> 'messageType'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Error messages are written by the worker when a message cannot be processed.';
    END IF;
    IF kind.sender_party IS DISTINCT FROM party THEN
        RAISE EXCEPTION 'party "%" does not send % messages', coalesce(party, ''), kind.message_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s messages are sent by party "%s".', kind.message_type, kind.sender_party),
                  HINT = 'Check the hublink.party setting.';
    END IF;
    INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message)
    VALUES (message ->> 'messageId', kind.message_type, kind.queue, message ->> 'removalId', message);
    PERFORM hublink.wake_worker_at_commit();
    RETURN message ->> 'messageId';
END;
$$;
COMMENT ON FUNCTION hublink.send(jsonb) IS
    'Validates a message and writes it to hublink.outbox in the caller''s transaction; the worker '
    'publishes it to its queue after the transaction commits. Returns its messageId.';
REVOKE ALL ON FUNCTION hublink.send(jsonb) FROM PUBLIC;

-- The Error message of DESIGN.md and schemas/error.json, for a message consumed from queue
-- that cannot be processed: written to the outbox for queue-error. failed is the message
-- where it was JSON at all. What could be read of it (messageId, messageType, sentAt,
-- removalId) is copied when it is valid in an Error message, dropped otherwise: the Error
-- must itself be valid, and the limits come from the registered Error schema, not from here.
CREATE FUNCTION hublink.enqueue_error(queue text, failed jsonb, problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id          text := gen_random_uuid()::text;
    version     text;
    schema      jsonb;
    max_items   int;
    max_length  int;
    body        jsonb;
    document    jsonb;
    problem     jsonb;
BEGIN
    SELECT s.schema_version, s.schema INTO version, schema
      FROM hublink.message_schema s
     WHERE s.message_type = 'Error' AND s.active
     ORDER BY string_to_array(s.schema_version, '.')::int[] DESC
     LIMIT 1;
    max_items := coalesce((schema #>> '{properties,body,properties,problems,maxItems}')::int, 100);
    max_length := coalesce((schema #>> '{properties,body,properties,problems,items,properties,error,maxLength}')::int, 1000);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'instanceLocation', coalesce(p ->> 'instanceLocation', ''),
               'keywordLocation', coalesce(p ->> 'keywordLocation', ''),
               'error', left(coalesce(nullif(p ->> 'error', ''), 'unknown problem'), max_length))
               ORDER BY n), '[]')
      INTO problems
      FROM jsonb_array_elements(problems) WITH ORDINALITY AS e(p, n)
     WHERE n <= max_items;
    IF jsonb_array_length(problems) = 0 THEN
        problems := jsonb_build_array(jsonb_build_object(
            'instanceLocation', '', 'keywordLocation', '', 'error', 'the message could not be processed'));
    END IF;
    body := jsonb_build_object('queue', queue, 'problems', problems);
    IF jsonb_typeof(failed -> 'messageId') = 'string' THEN
        body := body || jsonb_build_object('failedMessageId', failed -> 'messageId');
    END IF;
    IF jsonb_typeof(failed -> 'messageType') = 'string' THEN
        body := body || jsonb_build_object('failedMessageType', failed -> 'messageType');
    END IF;
    IF jsonb_typeof(failed -> 'sentAt') = 'string' THEN
        body := body || jsonb_build_object('failedSentAt', failed -> 'sentAt');
    END IF;
    document := jsonb_build_object(
        'messageId', id,
        'messageType', 'Error',
        'schemaVersion', coalesce(version, '1.0'),
        'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
        'sender', (SELECT p.sender_code FROM hublink.party p
                    WHERE p.party = current_setting('hublink.party', true)),
        'body', body);
    IF jsonb_typeof(failed -> 'removalId') = 'string' THEN
        document := document || jsonb_build_object('removalId', failed -> 'removalId');
    END IF;
    -- Drop the copied values the Error schema does not accept (a malformed messageId, say).
    IF version IS NOT NULL THEN
        FOR problem IN SELECT * FROM jsonb_array_elements(hublink.validate_message(document)) LOOP
            CASE problem ->> 'instanceLocation'
                WHEN '/removalId' THEN document := document - 'removalId';
                WHEN '/body/failedMessageId' THEN document := document #- '{body,failedMessageId}';
                WHEN '/body/failedMessageType' THEN document := document #- '{body,failedMessageType}';
                WHEN '/body/failedSentAt' THEN document := document #- '{body,failedSentAt}';
                ELSE NULL;
            END CASE;
        END LOOP;
    END IF;
    INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message)
    VALUES (id, 'Error', queue || '-error', document ->> 'removalId', document);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.enqueue_error(text, jsonb, jsonb) IS
    'Writes the Error message for a message from queue that cannot be processed to the outbox, '
    'for queue-error: a new messageId, the failed messageId, type, sentAt and removalId where '
    'readable, the time, the queue and the problems. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.enqueue_error(text, jsonb, jsonb) FROM PUBLIC;

-- Retry delay of the handler after its n-th failed attempt: doubling, capped.
CREATE FUNCTION hublink.handler_retry_delay(attempts integer) RETURNS interval
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN least(current_setting('hublink.handler_retry_delay')::interval
                     * power(2, least(greatest(attempts - 1, 0), 30)),
                 current_setting('hublink.handler_retry_max_delay')::interval);
COMMENT ON FUNCTION hublink.handler_retry_delay(integer) IS
    'How long the worker waits before running a failed handler again: hublink.handler_retry_delay, '
    'doubled after each failure, at most hublink.handler_retry_max_delay.';

CREATE FUNCTION hublink.inbox_reject(queue text, message jsonb, raw bytea, problems jsonb,
                                     enqueued_at timestamptz, enqueued_at_source text,
                                     received_at timestamptz, redelivered boolean,
                                     salvaged jsonb DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO hublink.inbox (queue, message, raw, status, problems, attempts, enqueued_at,
                               enqueued_at_source, received_at, redelivered)
    VALUES (queue, message, CASE WHEN message IS NULL THEN raw END, 'rejected', problems, 0,
            enqueued_at, enqueued_at_source, received_at, redelivered)
    ON CONFLICT ON CONSTRAINT inbox_message_id_key DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM hublink.enqueue_error(queue, coalesce(message, salvaged), problems);
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_reject(text, jsonb, bytea, jsonb, timestamptz, text, timestamptz, boolean, jsonb) IS
    'Stores a message that cannot be processed as rejected and writes its Error message; false '
    'when its messageId was seen before (no second effect). salvaged holds the envelope strings '
    'read from bytes that are not JSON, for the Error message. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_reject(text, jsonb, bytea, jsonb, timestamptz, text, timestamptz, boolean, jsonb) FROM PUBLIC;

-- Problems entry for a handler that kept failing.
CREATE FUNCTION hublink.handler_problem(attempts integer, error text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_array(jsonb_build_object(
        'instanceLocation', '', 'keywordLocation', '',
        'error', format('the message could not be applied after %s attempt(s): %s', attempts, error)));
COMMENT ON FUNCTION hublink.handler_problem(integer, text) IS
    'The problems array of the Error message sent for a message whose handler kept failing.';

CREATE FUNCTION hublink.inbox_defer(queue text, message jsonb, error text, enqueued_at timestamptz,
                                    enqueued_at_source text, received_at timestamptz,
                                    redelivered boolean)
    RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    next_at timestamptz;
BEGIN
    IF current_setting('hublink.handler_max_retries')::int = 0 THEN
        PERFORM hublink.inbox_reject(queue, message, NULL, hublink.handler_problem(1, error),
                                     enqueued_at, enqueued_at_source, received_at, redelivered);
        RETURN NULL;
    END IF;
    next_at := clock_timestamp() + hublink.handler_retry_delay(1);
    INSERT INTO hublink.inbox (queue, message, status, attempts, last_error, next_attempt_at,
                               enqueued_at, enqueued_at_source, received_at, redelivered)
    VALUES (queue, message, 'retrying', 1, error, next_at, enqueued_at, enqueued_at_source,
            received_at, redelivered)
    ON CONFLICT ON CONSTRAINT inbox_message_id_key DO NOTHING;
    RETURN CASE WHEN FOUND THEN next_at END;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_defer(text, jsonb, text, timestamptz, text, timestamptz, boolean) IS
    'Stores a valid message whose handler failed on first delivery for a later retry (or rejects '
    'it when hublink.handler_max_retries is 0); returns when to retry. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_defer(text, jsonb, text, timestamptz, text, timestamptz, boolean) FROM PUBLIC;

CREATE FUNCTION hublink.inbox_retry_failed(inbox_id bigint, error text) RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    row hublink.inbox;
BEGIN
    UPDATE hublink.inbox i SET attempts = i.attempts + 1, last_error = error
     WHERE i.id = inbox_id AND i.status = 'retrying'
    RETURNING * INTO row;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF row.attempts > current_setting('hublink.handler_max_retries')::int THEN
        UPDATE hublink.inbox i
           SET status = 'rejected', next_attempt_at = NULL, processed_at = now(),
               problems = hublink.handler_problem(row.attempts, error)
         WHERE i.id = inbox_id;
        PERFORM hublink.enqueue_error(row.queue, row.message,
                                      hublink.handler_problem(row.attempts, error));
        RETURN NULL;
    END IF;
    UPDATE hublink.inbox i
       SET next_attempt_at = clock_timestamp() + hublink.handler_retry_delay(row.attempts)
     WHERE i.id = inbox_id
    RETURNING i.next_attempt_at INTO row.next_attempt_at;
    RETURN row.next_attempt_at;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_retry_failed(bigint, text) IS
    'Records another failed handler attempt of a retrying message: schedules the next one, or '
    'after hublink.handler_max_retries retries rejects it with an Error message. Returns when '
    'to retry, NULL when rejected. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_retry_failed(bigint, text) FROM PUBLIC;

-- from sql/parts/32_worker_status.sql
-- What the worker is doing (issue 3, section 5), in the spirit of pg_stat_*: its state and
-- counters live in shared memory (since the server started), the backlog in hublink.outbox.

CREATE FUNCTION hublink.worker_state(
    OUT pid integer, OUT state text, OUT state_since timestamptz, OUT last_error text,
    OUT last_error_at timestamptz, OUT started_at timestamptz)
    RETURNS record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_state';
COMMENT ON FUNCTION hublink.worker_state() IS
    'The worker''s process, its broker connection state and since when, and its last error.';

CREATE FUNCTION hublink.worker_queue_counters(
    OUT queue text, OUT received bigint, OUT applied bigint, OUT duplicates bigint,
    OUT rejected bigint, OUT retried bigint, OUT acked bigint, OUT published bigint)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_queue_counters';
COMMENT ON FUNCTION hublink.worker_queue_counters() IS
    'Per queue, since the server started: deliveries received, applied, duplicates, rejected, '
    'handler retries, acked; and messages published (confirmed by the broker).';

CREATE VIEW hublink.worker_queue_status AS
SELECT coalesce(c.queue, o.queue) AS queue,
       coalesce(c.received, 0) AS received,
       coalesce(c.applied, 0) AS applied,
       coalesce(c.duplicates, 0) AS duplicates,
       coalesce(c.rejected, 0) AS rejected,
       coalesce(c.retried, 0) AS retried,
       coalesce(c.acked, 0) AS acked,
       coalesce(c.published, 0) AS published,
       coalesce(o.backlog, 0) AS outbox_backlog,
       o.oldest_unsent_age
  FROM hublink.worker_queue_counters() c
  FULL JOIN (SELECT b.queue, count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL GROUP BY b.queue) o
       ON o.queue = c.queue;
COMMENT ON VIEW hublink.worker_queue_status IS
    'One row per queue the worker consumed from or published to: counts since the server '
    'started, and the outbox backlog waiting for that queue.';
COMMENT ON COLUMN hublink.worker_queue_status.queue IS 'The queue name (an inbound queue consumed, or an outbound queue or error queue published to).';
COMMENT ON COLUMN hublink.worker_queue_status.received IS 'Deliveries received from this queue since the server started.';
COMMENT ON COLUMN hublink.worker_queue_status.applied IS 'Deliveries applied by their handler and committed.';
COMMENT ON COLUMN hublink.worker_queue_status.duplicates IS 'Deliveries whose messageId was already in hublink.inbox: acked with no second effect.';
COMMENT ON COLUMN hublink.worker_queue_status.rejected IS 'Deliveries rejected to the error queue (bad input, impossible in the conversation, or a handler that kept failing).';
COMMENT ON COLUMN hublink.worker_queue_status.retried IS 'Handler retries run for messages from this queue.';
COMMENT ON COLUMN hublink.worker_queue_status.acked IS 'Deliveries acknowledged to the broker after their transaction committed.';
COMMENT ON COLUMN hublink.worker_queue_status.published IS 'Messages published to this queue and confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_queue_status.outbox_backlog IS 'Outbox rows for this queue not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_queue_status.oldest_unsent_age IS 'Age of the oldest unconfirmed outbox row for this queue; NULL when none.';

CREATE VIEW hublink.worker_status AS
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
       (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'retrying') AS retrying
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
COMMENT ON VIEW hublink.worker_status IS
    'One row: the worker''s process and broker connection state, since when, its last error, '
    'totals of its per-queue counters (hublink.worker_queue_status), the outbox backlog and the '
    'age of its oldest unsent message, and how many messages wait for a handler retry.';
COMMENT ON COLUMN hublink.worker_status.pid IS 'Process id of the worker; NULL when it is not running.';
COMMENT ON COLUMN hublink.worker_status.party IS 'The hublink.party setting: hub, tsp or esp.';
COMMENT ON COLUMN hublink.worker_status.state IS 'The broker connection state (for example connected, disconnected, waiting for extension, misconfigured).';
COMMENT ON COLUMN hublink.worker_status.state_since IS 'When the worker entered that state.';
COMMENT ON COLUMN hublink.worker_status.last_error IS 'The last error the worker met, or NULL.';
COMMENT ON COLUMN hublink.worker_status.last_error_at IS 'When that error happened.';
COMMENT ON COLUMN hublink.worker_status.started_at IS 'When the worker process started.';
COMMENT ON COLUMN hublink.worker_status.received IS 'Deliveries received, all queues, since the server started.';
COMMENT ON COLUMN hublink.worker_status.applied IS 'Deliveries applied and committed.';
COMMENT ON COLUMN hublink.worker_status.duplicates IS 'Duplicate deliveries acked with no second effect.';
COMMENT ON COLUMN hublink.worker_status.rejected IS 'Deliveries rejected to an error queue.';
COMMENT ON COLUMN hublink.worker_status.retried IS 'Handler retries run.';
COMMENT ON COLUMN hublink.worker_status.acked IS 'Deliveries acknowledged to the broker.';
COMMENT ON COLUMN hublink.worker_status.published IS 'Messages published and confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_status.outbox_backlog IS 'Outbox rows not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_status.oldest_unsent_age IS 'Age of the oldest unconfirmed outbox row; NULL when none.';
COMMENT ON COLUMN hublink.worker_status.retrying IS 'Inbox messages waiting for a handler retry.';

-- CREATE EXTENSION wakes a worker that waits for it (docs/worker.md).
SELECT hublink.wake_worker_at_commit();

-- from sql/parts/33_worker_jobs.sql
-- The worker's periodic jobs (docs/worker.md, "Jobs"): workflow timers, retention purges,
-- the flush of logon events, monitoring checks. Each job is a row naming a function; the
-- worker calls hublink.run_worker_jobs() in its own transaction whenever the earliest
-- next_run_at is due, and sleeps until then otherwise. A job that wants to run earlier (a new
-- timer due sooner) calls hublink.schedule_worker_job, which wakes the worker at commit.

CREATE TABLE hublink.worker_job (
    job_name        text PRIMARY KEY CHECK (job_name ~ '^[a-z][a-z0-9_]*$'),
    job_function    regprocedure NOT NULL,
    run_every       interval NOT NULL CHECK (run_every > interval '0'),
    enabled         boolean NOT NULL DEFAULT true,
    next_run_at     timestamptz NOT NULL DEFAULT '-infinity',
    last_started_at timestamptz,
    last_duration   interval,
    last_error      text,
    last_error_at   timestamptz,
    runs            bigint NOT NULL DEFAULT 0,
    failures        bigint NOT NULL DEFAULT 0,
    description     text NOT NULL
);
COMMENT ON TABLE hublink.worker_job IS
    'The background worker''s periodic jobs, one row each. The worker runs a job when its '
    'next_run_at is due, in a subtransaction of its own, so one failing job neither stops '
    'the others nor the message traffic. Admins may disable a job or change run_every.';
COMMENT ON COLUMN hublink.worker_job.job_name IS 'Name of the job (lower case, underscores).';
COMMENT ON COLUMN hublink.worker_job.job_function IS
    'The function the job runs: no arguments, returns timestamptz: when it next wants to run '
    '(NULL: after run_every). The worker runs it through hublink.run_worker_jobs, as the extension owner.';
COMMENT ON COLUMN hublink.worker_job.run_every IS
    'The longest wait between two runs; a job may ask to run sooner by its return value.';
COMMENT ON COLUMN hublink.worker_job.enabled IS 'False: the worker does not run this job.';
COMMENT ON COLUMN hublink.worker_job.next_run_at IS 'When the worker next runs the job.';
COMMENT ON COLUMN hublink.worker_job.last_started_at IS 'When the last run started.';
COMMENT ON COLUMN hublink.worker_job.last_duration IS 'How long the last run took.';
COMMENT ON COLUMN hublink.worker_job.last_error IS 'The error of the last failed run (kept after later successes).';
COMMENT ON COLUMN hublink.worker_job.last_error_at IS 'When the last failed run failed.';
COMMENT ON COLUMN hublink.worker_job.runs IS 'Runs since the extension was installed.';
COMMENT ON COLUMN hublink.worker_job.failures IS 'Failed runs since the extension was installed.';
COMMENT ON COLUMN hublink.worker_job.description IS 'What the job does, for the admin.';

CREATE FUNCTION hublink.wake_worker_for_jobs_at_commit() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_wake_worker_for_jobs_at_commit';
COMMENT ON FUNCTION hublink.wake_worker_for_jobs_at_commit() IS
    'Tells the worker, when this transaction commits, that hublink.worker_job changed, so it '
    're-reads when its next job is due.';
REVOKE ALL ON FUNCTION hublink.wake_worker_for_jobs_at_commit() FROM PUBLIC;

CREATE FUNCTION hublink.schedule_worker_job(p_job_name text, p_at timestamptz)
    RETURNS void
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.worker_job SET next_run_at = least(next_run_at, p_at)
     WHERE job_name = p_job_name AND next_run_at > p_at;
    IF FOUND THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    ELSIF NOT EXISTS (SELECT 1 FROM hublink.worker_job WHERE job_name = p_job_name) THEN
        RAISE EXCEPTION 'no worker job named "%"', p_job_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'hublink.worker_job has no row with that job_name.',
                  HINT = 'SELECT job_name FROM hublink.worker_job lists the jobs.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.schedule_worker_job(text, timestamptz) IS
    'Asks the worker to run a job no later than p_at (it never postpones one), waking the '
    'worker at commit; for example when a new timer is due before the job''s next run.';
REVOKE ALL ON FUNCTION hublink.schedule_worker_job(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.run_worker_jobs() RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j         hublink.worker_job;
    wanted    timestamptz;
    started   timestamptz;
    message   text;
BEGIN
    FOR j IN SELECT * FROM hublink.worker_job
              WHERE enabled AND next_run_at <= clock_timestamp()
              ORDER BY next_run_at, job_name
              FOR UPDATE SKIP LOCKED
    LOOP
        started := clock_timestamp();
        BEGIN
            -- This function runs as its owner for the worker's role; so does every job. Only
            -- the owner's own functions may be jobs, so a job row cannot lend its rights.
            IF (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = j.job_function)
               IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
                RAISE EXCEPTION 'job function % is not owned by %', j.job_function, current_user
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Jobs run with the rights of the owner of hublink.run_worker_jobs.',
                          HINT = 'Create the job function as that role, or ALTER FUNCTION ... OWNER TO it.';
            END IF;
            EXECUTE format('SELECT %s()', j.job_function::regproc) INTO wanted;
            UPDATE hublink.worker_job
               SET next_run_at = least(coalesce(wanted, started + run_every), started + run_every),
                   last_started_at = started,
                   last_duration = clock_timestamp() - started,
                   runs = runs + 1
             WHERE job_name = j.job_name;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            RAISE WARNING 'hublink worker job "%" failed: %', j.job_name, message
                USING DETAIL = 'The job runs again after its run_every.',
                      HINT = 'See hublink.worker_job.last_error.';
            UPDATE hublink.worker_job
               SET next_run_at = started + run_every,
                   last_started_at = started,
                   last_duration = clock_timestamp() - started,
                   last_error = message,
                   last_error_at = clock_timestamp(),
                   runs = runs + 1,
                   failures = failures + 1
             WHERE job_name = j.job_name;
        END;
    END LOOP;
    RETURN (SELECT min(next_run_at) FROM hublink.worker_job WHERE enabled);
END;
$$;
COMMENT ON FUNCTION hublink.run_worker_jobs() IS
    'Runs every enabled worker job that is due, each in its own subtransaction, and returns '
    'when the next one is due (NULL: no job enabled). Called by the worker; callable by an '
    'admin to run due jobs at once. SECURITY DEFINER, so the worker''s role needs no right on '
    'what the jobs touch; a job whose function another role owns fails (insufficient_privilege).';
REVOKE ALL ON FUNCTION hublink.run_worker_jobs() FROM PUBLIC;

-- from sql/parts/40_statemachine.sql
-- The removal state machine (issue 4, section 2): the transition table is C
-- (extension/statemachine/), read here. docs/state-machine.md is generated from it.

CREATE FUNCTION hublink.next_state(machine text, state text, event text, direction text, party text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_next_state';
COMMENT ON FUNCTION hublink.next_state(text, text, text, text, text) IS
    'The state that machine (removal, escort, travel) moves to from state when party (hub, tsp, '
    'esp) sees event (a message type, or message type and variant such as '
    'EscortUpdate.completed, or BookingsConfirmed) in direction (in, out, local). Raises '
    'SQLSTATE HL001 when the event is impossible there (the message is rejected to the error '
    'queue) and HL002 when it is premature (an earlier message of the same sender, not yet '
    'applied, may make it possible: the message is retried).';

CREATE FUNCTION hublink.check_transition(machine text, state text, event text, direction text,
                                         party text,
                                         OUT verdict text, OUT next_state text, OUT reason text)
    RETURNS record
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_check_transition';
COMMENT ON FUNCTION hublink.check_transition(text, text, text, text, text) IS
    'hublink.next_state() without raising: verdict allowed, premature or forbidden, the next '
    'state when allowed, and the reason in words.';

CREATE FUNCTION hublink.state_machine(
    OUT machine text, OUT from_state text, OUT event text, OUT message_type text,
    OUT variant text, OUT sender text, OUT receiver text, OUT to_state text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine';
COMMENT ON FUNCTION hublink.state_machine() IS
    'The transition table: every allowed (machine, from state, event) and the state it leads to. '
    'Everything not listed is refused.';

CREATE FUNCTION hublink.state_machine_states(
    OUT machine text, OUT state text, OUT initial boolean, OUT terminal boolean,
    OUT description text, OUT tracked_by text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine_states';
COMMENT ON FUNCTION hublink.state_machine_states() IS
    'The states of each machine: initial, terminal (no way out but events that keep it), their '
    'meaning, and the parties that track the machine.';

CREATE FUNCTION hublink.state_machine_events(
    OUT event text, OUT message_type text, OUT variant text, OUT sender text, OUT receiver text,
    OUT description text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine_events';
COMMENT ON FUNCTION hublink.state_machine_events() IS
    'The events of the state machine: each message type, split by variant where the content '
    'of the message changes the flow, and the Hub''s local BookingsConfirmed.';

-- Which event a message is. The variant is read from the body: outcomes exclude each other
-- by schema; an update with several sections is classified by the one that matters most for
-- the flow (outcome, then amendment outcome, delay or change, details, money, other).
CREATE FUNCTION hublink.message_event(message jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE message ->> 'messageType'
        WHEN 'TravelQuoteResponse' THEN
            CASE WHEN jsonb_array_length(coalesce(message #> '{body,quotes}', '[]')) > 0
                 THEN 'TravelQuoteResponse.quoted' ELSE 'TravelQuoteResponse.no-quote' END
        WHEN 'EscortBookingResponse' THEN
            'EscortBookingResponse.' || lower(message #>> '{body,outcome}')
        WHEN 'TravelBookingResponse' THEN
            'TravelBookingResponse.' || lower(message #>> '{body,outcome}')
        WHEN 'EscortUpdate' THEN 'EscortUpdate.' ||
            CASE WHEN message #> '{body,completed}' IS NOT NULL THEN 'completed'
                 WHEN message #> '{body,cancellation}' IS NOT NULL THEN 'cancelled'
                 WHEN message #> '{body,unsuccessful}' IS NOT NULL THEN 'unsuccessful'
                 WHEN message #> '{body,amendmentOutcome}' IS NOT NULL THEN 'amendment-outcome'
                 WHEN message #> '{body,delayed}' IS NOT NULL THEN 'delayed'
                 WHEN message #> '{body,escortChanges}' IS NOT NULL THEN 'escort-change'
                 WHEN message #> '{body,escortDetails}' IS NOT NULL THEN 'details'
                 ELSE 'financial' END
        WHEN 'TravelUpdate' THEN 'TravelUpdate.' ||
            CASE WHEN message #> '{body,completed}' IS NOT NULL THEN 'completed'
                 WHEN message #> '{body,cancellation}' IS NOT NULL THEN 'cancelled'
                 WHEN message #> '{body,amendmentOutcome}' IS NOT NULL THEN 'amendment-outcome'
                 WHEN message #> '{body,flightChanges}' IS NOT NULL THEN 'flight-change'
                 WHEN message #> '{body,financial}' IS NOT NULL THEN 'financial'
                 ELSE 'other' END
        ELSE message ->> 'messageType'
    END;
COMMENT ON FUNCTION hublink.message_event(jsonb) IS
    'The state machine event of a message: its messageType, with the variant its body implies '
    'where that changes the flow (TravelQuoteResponse.no-quote, EscortBookingResponse.declined, '
    'EscortUpdate.completed, TravelUpdate.flight-change, ...).';

CREATE VIEW hublink.state_transition_table AS
SELECT t.machine, t.from_state, t.event, t.message_type, t.variant, t.sender, t.receiver, t.to_state
  FROM hublink.state_machine() t;
COMMENT ON VIEW hublink.state_transition_table IS
    'The transition table of hublink.state_machine(), for reports and ad hoc queries.';
COMMENT ON COLUMN hublink.state_transition_table.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.state_transition_table.from_state IS 'The state the event arrives in.';
COMMENT ON COLUMN hublink.state_transition_table.event IS 'The event (message type, variant).';
COMMENT ON COLUMN hublink.state_transition_table.message_type IS 'The message type; NULL for a local decision.';
COMMENT ON COLUMN hublink.state_transition_table.variant IS 'The variant of the message type, if any.';
COMMENT ON COLUMN hublink.state_transition_table.sender IS 'The party that sends it (or decides it).';
COMMENT ON COLUMN hublink.state_transition_table.receiver IS 'The party that receives it.';
COMMENT ON COLUMN hublink.state_transition_table.to_state IS 'The state it leads to.';

-- from sql/parts/41_domain.sql
-- The removal conversation (issue 4, section 1): what the fourteen messages of Appendix A
-- say, as rows. Every party's database keeps the same tables for the removals it takes part
-- in: the Hub all of them, a provider what it was sent and what it answered.
--
-- Personal data (names, dates of birth, nationality, gender, conditions, document numbers,
-- risk flags and notes, escorts' passports) is kept only in the tables and columns whose
-- COMMENT starts "PERSONAL DATA:" (hublink.returnee_personal, hublink.travel_document,
-- hublink.risk_assessment.flags/notes, hublink.escort_personal). 73_crypto_seal.sql seals
-- exactly those (NFR 0011): a trigger encrypts them under the removal's data key into the
-- row's "sealed" column before the row is stored, and they read NULL in the table (NOT NULL
-- below is dropped there). Read them with the *_of functions at the end of this file, which
-- decrypt and audit. Money is numeric(14,2) with a char(3) ISO 4217 currency.

CREATE SEQUENCE hublink.removal_serial;
COMMENT ON SEQUENCE hublink.removal_serial IS
    'Serial of the removal references the Hub issues (RMV-<year>-<serial>).';

CREATE TABLE hublink.removal (
    removal_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference   text NOT NULL UNIQUE CHECK (removal_reference ~ '^RMV-[0-9]{4}-[0-9]{6}$'),
    case_reference      text CHECK (case_reference ~ '^[A-Z0-9][A-Z0-9/-]{2,39}$'),
    escorted            boolean,
    escort_on_transport boolean,
    international       boolean NOT NULL DEFAULT true,
    earliest_leave_date date,
    latest_leave_date   date,
    exclusion_dates     date[] NOT NULL DEFAULT '{}',
    destination         jsonb CHECK (destination IS NULL OR jsonb_typeof(destination) = 'object'),
    constraints         jsonb CHECK (constraints IS NULL OR jsonb_typeof(constraints) = 'object'),
    notes               text,
    state               text,
    escort_state        text NOT NULL DEFAULT 'none',
    travel_state        text NOT NULL DEFAULT 'none',
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL DEFAULT current_user,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (latest_leave_date IS NULL OR earliest_leave_date IS NULL
           OR latest_leave_date >= earliest_leave_date)
);
COMMENT ON TABLE hublink.removal IS
    'One removal request (travel request), the conversation the messages of Appendix A belong '
    'to; removal_reference is the envelope''s removalId. Its three state machines are the '
    'state columns (docs/state-machine.md).';
COMMENT ON COLUMN hublink.removal.removal_id IS 'Internal key.';
COMMENT ON COLUMN hublink.removal.removal_reference IS
    'The travel request identifier, unique (Appendix B 4.22), issued by the Hub: the envelope''s removalId.';
COMMENT ON COLUMN hublink.removal.case_reference IS
    'The Home Office case this removal request belongs to (a case may have several requests over time).';
COMMENT ON COLUMN hublink.removal.escorted IS
    'True when escorts are needed (decided by hublink.profile_risk from hublink.risk_flag); NULL until profiled.';
COMMENT ON COLUMN hublink.removal.escort_on_transport IS
    'Escorts travel on the transport (4.1), false when they leave the returnee at the gate.';
COMMENT ON COLUMN hublink.removal.international IS 'International (true) or in-country move (4.1).';
COMMENT ON COLUMN hublink.removal.earliest_leave_date IS 'First date the returnees may travel (4.1 Dates).';
COMMENT ON COLUMN hublink.removal.latest_leave_date IS 'Last date the returnees may travel.';
COMMENT ON COLUMN hublink.removal.exclusion_dates IS 'Dates in the range that cannot be used.';
COMMENT ON COLUMN hublink.removal.destination IS 'Where the returnees go (4.3 Destination), as in the messages.';
COMMENT ON COLUMN hublink.removal.constraints IS 'TIG constraints for the travel quote request (4.3).';
COMMENT ON COLUMN hublink.removal.notes IS
    'PERSONAL DATA: free text passed to the providers (it can name people or places). Sealed (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.removal.state IS
    'State of the removal machine; tracked by the Hub only (NULL at a provider).';
COMMENT ON COLUMN hublink.removal.escort_state IS
    'State of the escort booking machine (Hub and ESP; stays none at a TSP).';
COMMENT ON COLUMN hublink.removal.travel_state IS
    'State of the travel booking machine (Hub and TSP; stays none at an ESP).';
COMMENT ON COLUMN hublink.removal.created_at IS 'When the removal was created (or first heard of at a provider).';
COMMENT ON COLUMN hublink.removal.created_by IS 'Who created it.';
COMMENT ON COLUMN hublink.removal.updated_at IS 'Last change of a state.';
CREATE INDEX removal_case_reference ON hublink.removal (case_reference);

CREATE TABLE hublink.returnee (
    returnee_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    ho_returnee_reference text NOT NULL CHECK (ho_returnee_reference ~ '^[A-Z0-9][A-Z0-9/-]{2,29}$'),
    location              jsonb CHECK (location IS NULL OR jsonb_typeof(location) = 'object'),
    UNIQUE (removal_id, ho_returnee_reference)
);
COMMENT ON TABLE hublink.returnee IS
    'The returnees of a removal (one or more, e.g. a family). Personal details are in '
    'hublink.returnee_personal.';
COMMENT ON COLUMN hublink.returnee.returnee_id IS 'Internal key.';
COMMENT ON COLUMN hublink.returnee.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.returnee.ho_returnee_reference IS 'Home Office returnee reference (HO returnee ID).';
COMMENT ON COLUMN hublink.returnee.location IS
    'PERSONAL DATA: where the returnee is likely to be at departure (detention centre, prison, '
    'address), as in the messages. Sealed (73_crypto_seal.sql).';
CREATE INDEX returnee_reference ON hublink.returnee (ho_returnee_reference);

CREATE TABLE hublink.returnee_personal (
    returnee_id   bigint PRIMARY KEY REFERENCES hublink.returnee ON DELETE CASCADE,
    title         text,
    given_names   text NOT NULL,
    family_name   text NOT NULL,
    date_of_birth date,
    nationality   char(3),
    gender        text,
    conditions    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array')
);
COMMENT ON TABLE hublink.returnee_personal IS
    'PERSONAL DATA: the personal, static details of a returnee (4.1, 4.3 Personal Details).';
COMMENT ON COLUMN hublink.returnee_personal.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.returnee_personal.title IS 'PERSONAL DATA: title.';
COMMENT ON COLUMN hublink.returnee_personal.given_names IS 'PERSONAL DATA: given names.';
COMMENT ON COLUMN hublink.returnee_personal.family_name IS 'PERSONAL DATA: family name.';
COMMENT ON COLUMN hublink.returnee_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.returnee_personal.nationality IS 'PERSONAL DATA: nationality, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.returnee_personal.gender IS 'PERSONAL DATA: sex as on the travel document.';
COMMENT ON COLUMN hublink.returnee_personal.conditions IS
    'PERSONAL DATA: medical or noted conditions ({code, text}, e.g. WHEELCHAIR).';

CREATE TABLE hublink.travel_document (
    travel_document_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    document_type      text NOT NULL CHECK (document_type IN ('PASSPORT', 'NATIONAL_IDENTITY_CARD',
                                                              'EMERGENCY_TRAVEL_DOCUMENT')),
    document_number    text NOT NULL,
    issuing_country    char(3),
    expiry_date        date
);
COMMENT ON TABLE hublink.travel_document IS
    'PERSONAL DATA: the documents a returnee travels on (4.3 Travel Document).';
COMMENT ON COLUMN hublink.travel_document.travel_document_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_document.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.travel_document.document_type IS 'Passport, national identity card or emergency travel document.';
COMMENT ON COLUMN hublink.travel_document.document_number IS 'PERSONAL DATA: document number.';
COMMENT ON COLUMN hublink.travel_document.issuing_country IS 'PERSONAL DATA: issuing state, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.travel_document.expiry_date IS 'PERSONAL DATA: date of expiry.';

CREATE TABLE hublink.risk_assessment (
    risk_assessment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    audience           text NOT NULL CHECK (audience IN ('hub', 'esp', 'tsp')),
    flags              text[] NOT NULL DEFAULT '{}',
    escorts_required   integer CHECK (escorts_required BETWEEN 0 AND 20),
    notes              text,
    assessed_at        timestamptz NOT NULL DEFAULT now(),
    current            boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.risk_assessment IS
    'Risk assessments of a returnee: the Hub''s full one (audience hub) and the subsets passed '
    'on (esp: escort risk assessment 4.1, tsp: travel risk assessment 4.3). A new assessment '
    'makes the earlier one of the same audience not current.';
COMMENT ON COLUMN hublink.risk_assessment.risk_assessment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.risk_assessment.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.risk_assessment.audience IS 'hub (full), esp or tsp (the subset that party sees).';
COMMENT ON COLUMN hublink.risk_assessment.flags IS 'PERSONAL DATA: risk flags (hublink.risk_flag), e.g. VIOLENT, DISRUPTIVE.';
COMMENT ON COLUMN hublink.risk_assessment.escorts_required IS 'Escorts travelling with this returnee (travel risk assessment).';
COMMENT ON COLUMN hublink.risk_assessment.notes IS 'PERSONAL DATA: free-text risk detail.';
COMMENT ON COLUMN hublink.risk_assessment.assessed_at IS 'When it was made.';
COMMENT ON COLUMN hublink.risk_assessment.current IS 'False once superseded by a later assessment.';
CREATE UNIQUE INDEX risk_assessment_current ON hublink.risk_assessment (returnee_id, audience) WHERE current;
COMMENT ON INDEX hublink.risk_assessment_current IS 'One current assessment per returnee and audience.';

-- --- escort quotes (4.1, 4.2) -------------------------------------------------------------

CREATE TABLE hublink.escort_quote_response (
    escort_quote_response_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    message_id               text NOT NULL UNIQUE,
    notes                    text,
    received_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.escort_quote_response IS
    'An escort quote response (4.2): the escort positions, segments and effort common to its quotes.';
COMMENT ON COLUMN hublink.escort_quote_response.escort_quote_response_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_quote_response.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_quote_response.message_id IS 'messageId of the EscortQuoteResponse.';
COMMENT ON COLUMN hublink.escort_quote_response.notes IS 'Free text of the response.';
COMMENT ON COLUMN hublink.escort_quote_response.received_at IS 'When it was recorded.';

CREATE TABLE hublink.escort_quote (
    escort_quote_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_quote_reference   text NOT NULL,
    escort_date              date NOT NULL,
    total_amount             numeric(14,2),
    currency                 char(3),
    notes                    text,
    superseded               boolean NOT NULL DEFAULT false,
    UNIQUE (removal_id, escort_quote_reference),
    CHECK ((total_amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.escort_quote IS
    'One escort quote: an option on one date (4.2 Escort quote ID, Escort Date).';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_response_id IS 'The response it came in.';
COMMENT ON COLUMN hublink.escort_quote.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_reference IS 'The ESP''s escort quote reference.';
COMMENT ON COLUMN hublink.escort_quote.escort_date IS 'The date the quote is valid for.';
COMMENT ON COLUMN hublink.escort_quote.total_amount IS 'Total cost of the escorting.';
COMMENT ON COLUMN hublink.escort_quote.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.escort_quote.notes IS 'Free text of the quote.';
COMMENT ON COLUMN hublink.escort_quote.superseded IS 'True after a re-quote (4.5): it can no longer be booked.';

CREATE TABLE hublink.escort_position (
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    escort_number            integer NOT NULL CHECK (escort_number BETWEEN 1 AND 99),
    role                     text,
    gender                   text,
    physique                 text,
    languages                text[] NOT NULL DEFAULT '{}',
    medic                    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (escort_quote_response_id, escort_number)
);
COMMENT ON TABLE hublink.escort_position IS 'Escort info (4.2): the number and type of escorts.';
COMMENT ON COLUMN hublink.escort_position.escort_quote_response_id IS 'The response.';
COMMENT ON COLUMN hublink.escort_position.escort_number IS 'Escort 1, 2, ...: the key that links types, effort, seats and names.';
COMMENT ON COLUMN hublink.escort_position.role IS 'Role, e.g. TEAM_LEADER, ESCORT, MEDIC.';
COMMENT ON COLUMN hublink.escort_position.gender IS 'Gender the position requires, if any.';
COMMENT ON COLUMN hublink.escort_position.physique IS 'Physique category, if any.';
COMMENT ON COLUMN hublink.escort_position.languages IS 'Languages required.';
COMMENT ON COLUMN hublink.escort_position.medic IS 'A medic.';

CREATE TABLE hublink.escort_segment (
    escort_segment_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    escort_quote_response_id bigint REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    segment_id               text NOT NULL,
    start_point              jsonb,
    finish_point             jsonb,
    transport_type           text,
    returnee_present         boolean,
    planned_start            timestamptz,
    planned_finish           timestamptz,
    escort_numbers           integer[],
    current                  boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.escort_segment IS
    'Escort segments (4.2): the journeys of the escorting. An amendment outcome or a delay '
    'replaces a segment (the earlier row is no longer current).';
COMMENT ON COLUMN hublink.escort_segment.escort_segment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_segment.escort_quote_response_id IS 'The quote response it came in (NULL when it came in an update).';
COMMENT ON COLUMN hublink.escort_segment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_segment.segment_id IS 'Segment ID.';
COMMENT ON COLUMN hublink.escort_segment.start_point IS 'Start point (place).';
COMMENT ON COLUMN hublink.escort_segment.finish_point IS 'Finish point (place).';
COMMENT ON COLUMN hublink.escort_segment.transport_type IS 'Means of transport, e.g. ESCORT_VEHICLE.';
COMMENT ON COLUMN hublink.escort_segment.returnee_present IS 'The returnee travels on it.';
COMMENT ON COLUMN hublink.escort_segment.planned_start IS 'Planned start, when known.';
COMMENT ON COLUMN hublink.escort_segment.planned_finish IS 'Planned finish, when known.';
COMMENT ON COLUMN hublink.escort_segment.escort_numbers IS 'Escort positions working on it, when given.';
COMMENT ON COLUMN hublink.escort_segment.current IS 'False once replaced.';

CREATE TABLE hublink.escort_effort (
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    segment_id               text NOT NULL,
    escort_number            integer NOT NULL,
    amount                   numeric(14,2),
    currency                 char(3),
    duration_minutes         integer,
    PRIMARY KEY (escort_quote_response_id, segment_id, escort_number),
    CHECK ((amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.escort_effort IS 'Escort effort (4.2): per segment per escort, a cost or a duration.';
COMMENT ON COLUMN hublink.escort_effort.escort_quote_response_id IS 'The response.';
COMMENT ON COLUMN hublink.escort_effort.segment_id IS 'The segment.';
COMMENT ON COLUMN hublink.escort_effort.escort_number IS 'The escort position.';
COMMENT ON COLUMN hublink.escort_effort.amount IS 'Cost.';
COMMENT ON COLUMN hublink.escort_effort.currency IS 'ISO 4217 currency of amount.';
COMMENT ON COLUMN hublink.escort_effort.duration_minutes IS 'Duration in minutes.';

-- --- travel quotes (4.3, 4.4) --------------------------------------------------------------

CREATE TABLE hublink.travel_quote_response (
    travel_quote_response_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    message_id               text NOT NULL UNIQUE,
    no_quote_reason_code     text,
    no_quote_reason_text     text,
    received_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.travel_quote_response IS 'A travel quote response (4.4).';
COMMENT ON COLUMN hublink.travel_quote_response.travel_quote_response_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_quote_response.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_quote_response.message_id IS 'messageId of the TravelQuoteResponse.';
COMMENT ON COLUMN hublink.travel_quote_response.no_quote_reason_code IS 'Why no (or fewer) quotes (decline list).';
COMMENT ON COLUMN hublink.travel_quote_response.no_quote_reason_text IS 'Free text of that reason.';
COMMENT ON COLUMN hublink.travel_quote_response.received_at IS 'When it was recorded.';

CREATE TABLE hublink.travel_quote (
    travel_quote_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    travel_quote_response_id bigint NOT NULL REFERENCES hublink.travel_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_quote_reference   text NOT NULL,
    escort_quote_reference   text,
    total_amount             numeric(14,2) NOT NULL,
    expected_amount          numeric(14,2),
    currency                 char(3) NOT NULL,
    refundable               boolean,
    hand_baggage_only        boolean,
    expires_at               timestamptz,
    conditions               jsonb,
    superseded               boolean NOT NULL DEFAULT false,
    UNIQUE (removal_id, travel_quote_reference)
);
COMMENT ON TABLE hublink.travel_quote IS 'One travel quote (4.4), matched to its escort quote when escorted.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_response_id IS 'The response it came in.';
COMMENT ON COLUMN hublink.travel_quote.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_reference IS 'The TSP''s travel quote reference.';
COMMENT ON COLUMN hublink.travel_quote.escort_quote_reference IS 'The escort quote it goes with (escorted removals).';
COMMENT ON COLUMN hublink.travel_quote.total_amount IS 'Total travel cost.';
COMMENT ON COLUMN hublink.travel_quote.expected_amount IS
    'The provider''s expected cost (total plus expected loss on cancellation), when stated: the best-value key.';
COMMENT ON COLUMN hublink.travel_quote.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.travel_quote.refundable IS 'Refundable fare (travel conditions).';
COMMENT ON COLUMN hublink.travel_quote.hand_baggage_only IS 'Hand baggage only fare.';
COMMENT ON COLUMN hublink.travel_quote.expires_at IS 'When the quote expires.';
COMMENT ON COLUMN hublink.travel_quote.conditions IS 'The travel conditions as sent.';
COMMENT ON COLUMN hublink.travel_quote.superseded IS 'True after a re-quote (4.5): it can no longer be booked.';

CREATE TABLE hublink.travel_quote_cost (
    travel_quote_id bigint NOT NULL REFERENCES hublink.travel_quote ON DELETE CASCADE,
    traveller       jsonb NOT NULL,
    amount          numeric(14,2) NOT NULL,
    currency        char(3) NOT NULL,
    PRIMARY KEY (travel_quote_id, traveller)
);
COMMENT ON TABLE hublink.travel_quote_cost IS 'Cost per traveller of a travel quote (4.4 Travel Cost).';
COMMENT ON COLUMN hublink.travel_quote_cost.travel_quote_id IS 'The quote.';
COMMENT ON COLUMN hublink.travel_quote_cost.traveller IS '{hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.travel_quote_cost.amount IS 'Cost for this traveller.';
COMMENT ON COLUMN hublink.travel_quote_cost.currency IS 'ISO 4217 currency.';

CREATE TABLE hublink.itinerary_segment (
    itinerary_segment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    travel_quote_id      bigint NOT NULL REFERENCES hublink.travel_quote ON DELETE CASCADE,
    segment_id           text NOT NULL,
    segment_type         text NOT NULL,
    provider_name        text,
    carrier_code         text,
    flight_number        text,
    start_point          jsonb,
    end_point            jsonb,
    start_time           timestamptz,
    end_time             timestamptz,
    travellers           jsonb,
    current              boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.itinerary_segment IS
    'The itinerary of a travel quote (4.4). A flight change (4.12) adds the new segment and '
    'makes the old one not current.';
COMMENT ON COLUMN hublink.itinerary_segment.itinerary_segment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.itinerary_segment.travel_quote_id IS 'The quote.';
COMMENT ON COLUMN hublink.itinerary_segment.segment_id IS 'Segment ID.';
COMMENT ON COLUMN hublink.itinerary_segment.segment_type IS 'PLANE, FERRY, TRAIN, COACH or HOTEL.';
COMMENT ON COLUMN hublink.itinerary_segment.provider_name IS 'Carrier or hotel name.';
COMMENT ON COLUMN hublink.itinerary_segment.carrier_code IS 'IATA carrier code.';
COMMENT ON COLUMN hublink.itinerary_segment.flight_number IS 'Flight number.';
COMMENT ON COLUMN hublink.itinerary_segment.start_point IS 'Start point.';
COMMENT ON COLUMN hublink.itinerary_segment.end_point IS 'End point.';
COMMENT ON COLUMN hublink.itinerary_segment.start_time IS 'Start time.';
COMMENT ON COLUMN hublink.itinerary_segment.end_time IS 'End time.';
COMMENT ON COLUMN hublink.itinerary_segment.travellers IS 'Travellers on the segment.';
COMMENT ON COLUMN hublink.itinerary_segment.current IS 'False once changed by a flight change.';

-- --- bookings (4.5 - 4.8) -------------------------------------------------------------------

CREATE TABLE hublink.escort_booking (
    escort_booking_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id             bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_quote_reference text NOT NULL,
    travel_quote_reference text,
    request_message_id     text NOT NULL UNIQUE,
    requested_at           timestamptz NOT NULL DEFAULT now(),
    outcome                text CHECK (outcome IN ('ACCEPTED', 'DECLINED')),
    decline_reason_code    text,
    decline_details        text,
    response_message_id    text UNIQUE,
    responded_at           timestamptz
);
COMMENT ON TABLE hublink.escort_booking IS 'An escort booking request (4.5) and its response (4.6).';
COMMENT ON COLUMN hublink.escort_booking.escort_booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_booking.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_booking.escort_quote_reference IS 'The escort quote booked.';
COMMENT ON COLUMN hublink.escort_booking.travel_quote_reference IS 'The travel quote chosen with it, if sent.';
COMMENT ON COLUMN hublink.escort_booking.request_message_id IS 'messageId of the EscortBookingRequest.';
COMMENT ON COLUMN hublink.escort_booking.requested_at IS 'When it was requested.';
COMMENT ON COLUMN hublink.escort_booking.outcome IS 'ACCEPTED or DECLINED; NULL while unanswered.';
COMMENT ON COLUMN hublink.escort_booking.decline_reason_code IS 'Decline reason (decline list).';
COMMENT ON COLUMN hublink.escort_booking.decline_details IS 'Free text of the decline.';
COMMENT ON COLUMN hublink.escort_booking.response_message_id IS 'messageId of the EscortBookingResponse.';
COMMENT ON COLUMN hublink.escort_booking.responded_at IS 'When the response was recorded.';

CREATE TABLE hublink.escort_person (
    escort_person_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_id        text NOT NULL,
    escort_number    integer,
    special_meal     text,
    active           boolean NOT NULL DEFAULT true,
    UNIQUE (removal_id, escort_id)
);
COMMENT ON TABLE hublink.escort_person IS
    'The named escorts of a removal (4.6, 4.10 escort details); their personal details are in '
    'hublink.escort_personal. An escort change makes the removed escort inactive.';
COMMENT ON COLUMN hublink.escort_person.escort_person_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_person.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_person.escort_id IS 'The ESP''s ID of the person.';
COMMENT ON COLUMN hublink.escort_person.escort_number IS 'The escort position filled.';
COMMENT ON COLUMN hublink.escort_person.special_meal IS 'IATA special meal code.';
COMMENT ON COLUMN hublink.escort_person.active IS 'False once removed by an escort change.';

CREATE TABLE hublink.escort_personal (
    escort_person_id         bigint PRIMARY KEY REFERENCES hublink.escort_person ON DELETE CASCADE,
    title                    text,
    given_names              text NOT NULL,
    family_name              text NOT NULL,
    date_of_birth            date,
    nationality              char(3),
    gender                   text,
    document_type            text,
    document_number          text,
    document_issuing_country char(3),
    document_expiry_date     date
);
COMMENT ON TABLE hublink.escort_personal IS
    'PERSONAL DATA: an escort''s name and advance passenger information (passport).';
COMMENT ON COLUMN hublink.escort_personal.escort_person_id IS 'The escort.';
COMMENT ON COLUMN hublink.escort_personal.title IS 'PERSONAL DATA: title.';
COMMENT ON COLUMN hublink.escort_personal.given_names IS 'PERSONAL DATA: given names.';
COMMENT ON COLUMN hublink.escort_personal.family_name IS 'PERSONAL DATA: family name.';
COMMENT ON COLUMN hublink.escort_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.escort_personal.nationality IS 'PERSONAL DATA: nationality.';
COMMENT ON COLUMN hublink.escort_personal.gender IS 'PERSONAL DATA: sex as on the travel document.';
COMMENT ON COLUMN hublink.escort_personal.document_type IS 'PERSONAL DATA: travel document type.';
COMMENT ON COLUMN hublink.escort_personal.document_number IS 'PERSONAL DATA: passport (document) number.';
COMMENT ON COLUMN hublink.escort_personal.document_issuing_country IS 'PERSONAL DATA: issuing state.';
COMMENT ON COLUMN hublink.escort_personal.document_expiry_date IS 'PERSONAL DATA: document expiry.';

CREATE TABLE hublink.escort_assignment (
    removal_id  bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    segment_id  text NOT NULL,
    escort_id   text NOT NULL,
    vehicle_id  text,
    PRIMARY KEY (removal_id, segment_id, escort_id)
);
COMMENT ON TABLE hublink.escort_assignment IS 'Which escort works on which segment, in which vehicle (4.2, 4.6).';
COMMENT ON COLUMN hublink.escort_assignment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_assignment.segment_id IS 'The escort segment.';
COMMENT ON COLUMN hublink.escort_assignment.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.escort_assignment.vehicle_id IS 'The vehicle, for road segments.';

CREATE TABLE hublink.travel_booking (
    travel_booking_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id             bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_quote_reference text NOT NULL,
    request_message_id     text NOT NULL UNIQUE,
    requested_at           timestamptz NOT NULL DEFAULT now(),
    outcome                text CHECK (outcome IN ('ACCEPTED', 'DECLINED')),
    decline_reason_code    text,
    decline_details        text,
    total_amount           numeric(14,2),
    currency               char(3),
    confirmation           jsonb,
    response_message_id    text UNIQUE,
    responded_at           timestamptz,
    CHECK ((total_amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.travel_booking IS 'A travel booking request (4.7) and its response (4.8).';
COMMENT ON COLUMN hublink.travel_booking.travel_booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_booking.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_booking.travel_quote_reference IS 'The travel quote booked.';
COMMENT ON COLUMN hublink.travel_booking.request_message_id IS 'messageId of the TravelBookingRequest.';
COMMENT ON COLUMN hublink.travel_booking.requested_at IS 'When it was requested.';
COMMENT ON COLUMN hublink.travel_booking.outcome IS 'ACCEPTED or DECLINED; NULL while unanswered.';
COMMENT ON COLUMN hublink.travel_booking.decline_reason_code IS 'Decline reason (decline list).';
COMMENT ON COLUMN hublink.travel_booking.decline_details IS 'Free text of the decline.';
COMMENT ON COLUMN hublink.travel_booking.total_amount IS 'Total booked cost.';
COMMENT ON COLUMN hublink.travel_booking.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.travel_booking.confirmation IS 'The confirmation details as sent (booking references, notes).';
COMMENT ON COLUMN hublink.travel_booking.response_message_id IS 'messageId of the TravelBookingResponse.';
COMMENT ON COLUMN hublink.travel_booking.responded_at IS 'When the response was recorded.';

CREATE TABLE hublink.ticket (
    ticket_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id        bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_booking_id bigint REFERENCES hublink.travel_booking ON DELETE CASCADE,
    ticket_number     text NOT NULL,
    traveller         jsonb NOT NULL,
    segment_ids       text[],
    message_id        text NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    current           boolean NOT NULL DEFAULT true,
    UNIQUE (removal_id, ticket_number)
);
COMMENT ON TABLE hublink.ticket IS
    'E-tickets (4.8 confirmation, 4.12 reissued after an amendment); a reissue makes the '
    'traveller''s earlier ticket not current.';
COMMENT ON COLUMN hublink.ticket.ticket_id IS 'Internal key.';
COMMENT ON COLUMN hublink.ticket.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.ticket.travel_booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.ticket.ticket_number IS 'Ticket number.';
COMMENT ON COLUMN hublink.ticket.traveller IS '{hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.ticket.segment_ids IS 'Segments it covers.';
COMMENT ON COLUMN hublink.ticket.message_id IS 'The message it came in.';
COMMENT ON COLUMN hublink.ticket.issued_at IS 'When it was recorded.';
COMMENT ON COLUMN hublink.ticket.current IS 'False once reissued.';

-- --- after booking (4.9 - 4.14) -------------------------------------------------------------

CREATE TABLE hublink.amendment (
    amendment_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking               text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id            text NOT NULL UNIQUE,
    quote_reference       text NOT NULL,
    details               jsonb NOT NULL,
    sent_at               timestamptz NOT NULL DEFAULT now(),
    outcome_accepted      boolean,
    outcome_reason_code   text,
    outcome_reason_text   text,
    outcome_message_id    text,
    outcome_at            timestamptz
);
COMMENT ON TABLE hublink.amendment IS 'Escort (4.9) and travel (4.11) amendments, and their outcome (4.10, 4.12).';
COMMENT ON COLUMN hublink.amendment.amendment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.amendment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.amendment.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.amendment.message_id IS 'messageId of the amendment.';
COMMENT ON COLUMN hublink.amendment.quote_reference IS 'The booked quote amended.';
COMMENT ON COLUMN hublink.amendment.details IS 'The amendment''s body (segment changes, passenger updates, other).';
COMMENT ON COLUMN hublink.amendment.sent_at IS 'When it was sent or received.';
COMMENT ON COLUMN hublink.amendment.outcome_accepted IS 'Whether the provider carried it out; NULL while unanswered.';
COMMENT ON COLUMN hublink.amendment.outcome_reason_code IS 'Reason of the outcome (change list).';
COMMENT ON COLUMN hublink.amendment.outcome_reason_text IS 'Free text of the outcome''s reason.';
COMMENT ON COLUMN hublink.amendment.outcome_message_id IS 'messageId of the update carrying the outcome.';
COMMENT ON COLUMN hublink.amendment.outcome_at IS 'When the outcome was recorded.';

CREATE TABLE hublink.booking_update (
    booking_update_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id        bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking           text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('completed', 'cancellation', 'unsuccessful',
                                                    'delayed', 'escort-change', 'details',
                                                    'amendment-outcome', 'flight-change',
                                                    'financial', 'other')),
    reason_code       text,
    reason_text       text,
    details           jsonb,
    received_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.booking_update IS
    'Escort updates (4.10) and travel updates (4.12), one row per section of the message: '
    'completed, cancellation, unsuccessful, delayed, escort change, details, amendment outcome, '
    'flight change, financial, other.';
COMMENT ON COLUMN hublink.booking_update.booking_update_id IS 'Internal key.';
COMMENT ON COLUMN hublink.booking_update.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.booking_update.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.booking_update.message_id IS 'messageId of the update.';
COMMENT ON COLUMN hublink.booking_update.kind IS 'Which section.';
COMMENT ON COLUMN hublink.booking_update.reason_code IS 'Reason code of the section, if any.';
COMMENT ON COLUMN hublink.booking_update.reason_text IS 'Free text of the reason.';
COMMENT ON COLUMN hublink.booking_update.details IS 'The section as sent.';
COMMENT ON COLUMN hublink.booking_update.received_at IS 'When it was recorded.';
CREATE INDEX booking_update_removal ON hublink.booking_update (removal_id);

CREATE TABLE hublink.cancellation (
    cancellation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking          text NOT NULL CHECK (booking IN ('escort', 'travel')),
    cancelled_by     text NOT NULL REFERENCES hublink.party,
    message_id       text NOT NULL UNIQUE,
    quote_reference  text,
    reason_code      text,
    reason_text      text,
    retain_for_reuse boolean,
    before_booking   boolean NOT NULL,
    cancelled_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.cancellation IS
    'Cancellations: by the Hub (4.13, 4.14) or by a provider (4.10, 4.12 cancellation sections).';
COMMENT ON COLUMN hublink.cancellation.cancellation_id IS 'Internal key.';
COMMENT ON COLUMN hublink.cancellation.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.cancellation.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.cancellation.cancelled_by IS 'hub, tsp or esp.';
COMMENT ON COLUMN hublink.cancellation.message_id IS 'The message that cancelled.';
COMMENT ON COLUMN hublink.cancellation.quote_reference IS 'The quote (booking) cancelled, if named.';
COMMENT ON COLUMN hublink.cancellation.reason_code IS 'Reason (cancellation list).';
COMMENT ON COLUMN hublink.cancellation.reason_text IS 'Free text of the reason.';
COMMENT ON COLUMN hublink.cancellation.retain_for_reuse IS 'Travel: keep the ticket for reuse where the carrier allows.';
COMMENT ON COLUMN hublink.cancellation.before_booking IS 'True when nothing was booked yet.';
COMMENT ON COLUMN hublink.cancellation.cancelled_at IS 'When it was recorded.';

CREATE TABLE hublink.financial_consequence (
    financial_consequence_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking                  text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id               text NOT NULL,
    kind                     text NOT NULL CHECK (kind IN ('refund', 'change_fee', 'cancellation_fee')),
    amount                   numeric(14,2) NOT NULL CHECK (amount >= 0),
    currency                 char(3) NOT NULL,
    reason_code              text,
    reason_text              text,
    recorded_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.financial_consequence IS
    'Refunds and fees (change fee, cancellation fee) of post-booking changes (4.10, 4.12 Financial).';
COMMENT ON COLUMN hublink.financial_consequence.financial_consequence_id IS 'Internal key.';
COMMENT ON COLUMN hublink.financial_consequence.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.financial_consequence.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.financial_consequence.message_id IS 'The update it came in.';
COMMENT ON COLUMN hublink.financial_consequence.kind IS 'refund, change_fee or cancellation_fee.';
COMMENT ON COLUMN hublink.financial_consequence.amount IS 'Amount (never negative; kind gives the direction).';
COMMENT ON COLUMN hublink.financial_consequence.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.financial_consequence.reason_code IS 'Why (change list).';
COMMENT ON COLUMN hublink.financial_consequence.reason_text IS 'Free text.';
COMMENT ON COLUMN hublink.financial_consequence.recorded_at IS 'When it was recorded.';

-- --- every transition (issue 4, section 2) ---------------------------------------------------

CREATE TABLE hublink.state_transition (
    state_transition_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id          bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    machine             text NOT NULL CHECK (machine IN ('removal', 'escort', 'travel')),
    from_state          text NOT NULL,
    to_state            text NOT NULL,
    event               text NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('in', 'out', 'local')),
    party               text NOT NULL REFERENCES hublink.party,
    message_id          text,
    at                  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE hublink.state_transition IS
    'Every transition of every machine, with the message (or local decision) that caused it, '
    'the party that recorded it and when.';
COMMENT ON COLUMN hublink.state_transition.state_transition_id IS 'Order of the transitions.';
COMMENT ON COLUMN hublink.state_transition.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.state_transition.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.state_transition.from_state IS 'State before.';
COMMENT ON COLUMN hublink.state_transition.to_state IS 'State after (may equal from_state).';
COMMENT ON COLUMN hublink.state_transition.event IS 'The event (hublink.message_event).';
COMMENT ON COLUMN hublink.state_transition.direction IS 'in (received), out (sent) or local.';
COMMENT ON COLUMN hublink.state_transition.party IS 'The party whose database recorded it (hublink.party setting).';
COMMENT ON COLUMN hublink.state_transition.message_id IS 'The message''s messageId; NULL for a local decision.';
COMMENT ON COLUMN hublink.state_transition.at IS 'When.';
CREATE INDEX state_transition_removal ON hublink.state_transition (removal_id, state_transition_id);
COMMENT ON INDEX hublink.state_transition_removal IS 'The history of one removal, in order.';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['removal', 'returnee', 'returnee_personal', 'travel_document',
                             'risk_assessment', 'escort_quote_response', 'escort_quote',
                             'escort_position', 'escort_segment', 'escort_effort',
                             'travel_quote_response', 'travel_quote', 'travel_quote_cost',
                             'itinerary_segment', 'escort_booking', 'escort_person',
                             'escort_personal', 'escort_assignment', 'travel_booking', 'ticket',
                             'amendment', 'booking_update', 'cancellation',
                             'financial_consequence', 'state_transition'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('hublink.%I', t)::regclass, '');
    END LOOP;
END;
$$;
SELECT pg_catalog.pg_extension_config_dump('hublink.removal_serial', '');

-- --- authorised reads of the personal data (sealed by 73_crypto_seal.sql) ----------------
-- Set-returning, so a missing row is no row, and called LATERAL per returnee or escort: only
-- the rows a query needs are decrypted, each audited by hublink.unsealed(). Each is one query:
-- the table's rows that match, each passed once through hublink.unsealed in FROM (LATERAL, so
-- it runs once per row: "(hublink.unsealed(p)).*" in a select list would run it, and audit,
-- once per column). PL/pgSQL, bound late: hublink.unsealed comes later in the script.

CREATE FUNCTION hublink.returnee_personal_of(p_returnee_id bigint)
    RETURNS SETOF hublink.returnee_personal
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.returnee_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.returnee_id = p_returnee_id;
END;
$$;
COMMENT ON FUNCTION hublink.returnee_personal_of(bigint) IS
    'A returnee''s personal details, decrypted (audited: hublink.unsealed).';

CREATE FUNCTION hublink.travel_documents_of(p_returnee_id bigint)
    RETURNS SETOF hublink.travel_document
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.travel_document d CROSS JOIN LATERAL hublink.unsealed(d) u
                 WHERE d.returnee_id = p_returnee_id
                 ORDER BY d.travel_document_id;
END;
$$;
COMMENT ON FUNCTION hublink.travel_documents_of(bigint) IS
    'A returnee''s travel documents, decrypted, in the order recorded (audited: hublink.unsealed).';

CREATE FUNCTION hublink.risk_assessment_of(p_returnee_id bigint, p_audience text)
    RETURNS SETOF hublink.risk_assessment
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.risk_assessment a CROSS JOIN LATERAL hublink.unsealed(a) u
                 WHERE a.returnee_id = p_returnee_id AND a.audience = p_audience AND a.current;
END;
$$;
COMMENT ON FUNCTION hublink.risk_assessment_of(bigint, text) IS
    'A returnee''s current risk assessment for an audience (hub, esp, tsp), decrypted (audited: '
    'hublink.unsealed).';

CREATE FUNCTION hublink.escort_personal_of(p_escort_person_id bigint)
    RETURNS SETOF hublink.escort_personal
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.escort_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.escort_person_id = p_escort_person_id;
END;
$$;
COMMENT ON FUNCTION hublink.escort_personal_of(bigint) IS
    'An escort''s name and passport details, decrypted (audited: hublink.unsealed).';

-- from sql/parts/42_reference_codes.sql
-- Reference data the conversation checks against (issue 4, section 1; Appendix B 4.17):
-- reason-code lists and risk flags, rows that hublink_admin edits, never constants in C.
-- A change to a list is announced: NOTIFY hublink_reference and a row in
-- hublink.reference_change here, and at the Hub a Travel/EscortReferenceListUpdate message to
-- each provider (Appendix B 4.17; 45_reference_lists.sql, docs/hub.md).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_admin') THEN
        CREATE ROLE hublink_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_caseworker') THEN
        CREATE ROLE hublink_caseworker NOLOGIN;
    END IF;
END;
$$;

CREATE TABLE hublink.reason_list (
    list        text PRIMARY KEY CHECK (list ~ '^[a-z]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.reason_list IS 'The reason-code lists (Appendix A 4.8 "one of a list of predefined options").';
COMMENT ON COLUMN hublink.reason_list.list IS 'Name of the list.';
COMMENT ON COLUMN hublink.reason_list.description IS 'Where its codes are used.';

INSERT INTO hublink.reason_list VALUES
    ('decline',      'Why a provider declines a booking (4.6, 4.8) or cannot quote (4.4 noQuoteReason).'),
    ('cancellation', 'Why a booking is cancelled, by the Hub (4.13, 4.14) or by a provider (4.10, 4.12).'),
    ('delay',        'Why an escort is delayed (4.10 delayed).'),
    ('change',       'Why something changes: amendments (4.9, 4.11), their outcome, escort changes, '
                     'flight changes (4.10, 4.12) and the financial consequences.'),
    ('unsuccessful', 'Why an escorting that started was abandoned (4.10 unsuccessful).');

CREATE TABLE hublink.reason_code (
    list        text NOT NULL REFERENCES hublink.reason_list ON UPDATE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (list, code)
);
COMMENT ON TABLE hublink.reason_code IS
    'The codes of each reason list. A message whose reason code is not an active row of its '
    'list is rejected to the error queue. hublink_admin edits it; every change is announced '
    '(hublink.reference_change, NOTIFY hublink_reference and, at the Hub, a reference-list '
    'update message to each provider at commit).';
COMMENT ON COLUMN hublink.reason_code.list IS 'The list.';
COMMENT ON COLUMN hublink.reason_code.code IS 'The code as sent in messages.';
COMMENT ON COLUMN hublink.reason_code.description IS 'What it means.';
COMMENT ON COLUMN hublink.reason_code.active IS 'Inactive codes are kept for history but refused in new messages.';
COMMENT ON COLUMN hublink.reason_code.changed_at IS 'Last change.';
COMMENT ON COLUMN hublink.reason_code.changed_by IS 'Who made it.';

INSERT INTO hublink.reason_code (list, code, description) VALUES
    ('decline', 'ESCORTS_UNAVAILABLE', 'No escort team is available for the date.'),
    ('decline', 'QUOTE_EXPIRED', 'The quote expired before it was booked.'),
    ('decline', 'FLIGHT_CANCELLED', 'The flight quoted was cancelled.'),
    ('decline', 'FARE_UNAVAILABLE', 'The fare quoted is no longer available.'),
    ('decline', 'NO_SEATS', 'Not enough seats on the services that fit.'),
    ('decline', 'NO_FLIGHTS', 'No flights fit the dates and constraints.'),
    ('decline', 'CARRIER_REFUSED', 'The carrier refused to carry the returnee.'),
    ('decline', 'COST_LIMIT_EXCEEDED', 'No option within the cost limit.'),
    ('decline', 'OTHER', 'Another reason, given in the text.'),
    ('cancellation', 'LEGAL_CHALLENGE', 'A legal challenge (e.g. judicial review) stops the removal.'),
    ('cancellation', 'RETURNEE_ILL', 'The returnee is not fit to travel.'),
    ('cancellation', 'RETURNEE_RELEASED', 'The returnee was released from detention.'),
    ('cancellation', 'RISK_CHANGED', 'The returnee''s risk changed; the removal is re-planned.'),
    ('cancellation', 'ESCORTS_UNAVAILABLE', 'The escort team is no longer available.'),
    ('cancellation', 'FLIGHT_CANCELLED', 'The carrier cancelled the flight.'),
    ('cancellation', 'CARRIER_REFUSED', 'The carrier refused to carry the returnee.'),
    ('cancellation', 'DOCUMENTS_INVALID', 'The travel documents are not valid for the journey.'),
    ('cancellation', 'ESCORT_UNSUCCESSFUL', 'The escorting was abandoned, so the travel is not used.'),
    ('cancellation', 'OTHER', 'Another reason, given in the text.'),
    ('delay', 'TRAFFIC', 'Road traffic.'),
    ('delay', 'VEHICLE_BREAKDOWN', 'The escort vehicle broke down.'),
    ('delay', 'RETURNEE_NOT_READY', 'The returnee was not ready at collection.'),
    ('delay', 'FLIGHT_DELAYED', 'A flight the escort is on is delayed.'),
    ('delay', 'OTHER', 'Another reason, given in the text.'),
    ('change', 'SCHEDULE_CHANGE', 'The carrier changed the schedule.'),
    ('change', 'DELAY', 'The flight is delayed.'),
    ('change', 'TERMINAL_CHANGE', 'The departure or arrival terminal changed.'),
    ('change', 'EARLIER_COLLECTION', 'The returnee must be collected earlier.'),
    ('change', 'LOCATION_CHANGE', 'The returnee was moved.'),
    ('change', 'RISK_CHANGED', 'The returnee''s risk profile changed.'),
    ('change', 'MEDIC_BRIEFED', 'The medic was briefed on the change.'),
    ('change', 'STAFF_UNAVAILABLE', 'An escort is no longer available.'),
    ('change', 'NAME_CHANGE', 'A name on a ticket changes (reissue).'),
    ('change', 'PASSENGER_DETAILS', 'Advance passenger information added or corrected.'),
    ('change', 'CANCELLED_BY_HO', 'The Home Office cancelled.'),
    ('change', 'OTHER', 'Another reason, given in the text.'),
    ('unsuccessful', 'RETURNEE_DISRUPTIVE', 'The returnee''s behaviour stopped the escort.'),
    ('unsuccessful', 'RETURNEE_ILL', 'The returnee became ill.'),
    ('unsuccessful', 'SERIOUS_DELAY', 'The journey was delayed too much to continue.'),
    ('unsuccessful', 'CARRIER_REFUSED', 'The carrier refused boarding.'),
    ('unsuccessful', 'LEGAL_CHALLENGE', 'A last-minute legal challenge.'),
    ('unsuccessful', 'OTHER', 'Another reason, given in the text.');

-- Risk flags and what they mean for the removal (issue 4, section 3): rules as rows.
CREATE TABLE hublink.risk_flag (
    flag          text PRIMARY KEY CHECK (flag ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description   text NOT NULL,
    escorted      boolean NOT NULL DEFAULT false,
    min_escorts   integer NOT NULL DEFAULT 0 CHECK (min_escorts BETWEEN 0 AND 20),
    share_with_esp boolean NOT NULL DEFAULT true,
    share_with_tsp boolean NOT NULL DEFAULT false,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    changed_by    text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.risk_flag IS
    'Risk profiling rules: per risk flag, whether it makes the removal escorted, the escorts a '
    'returnee with it needs at least, and which provider may see it (the escort risk '
    'assessment of 4.1 carries the flags shared with the ESP, the travel risk assessment of '
    '4.3 those shared with the TSP). hublink.profile_risk applies them.';
COMMENT ON COLUMN hublink.risk_flag.flag IS 'The flag code, as in the risk assessments.';
COMMENT ON COLUMN hublink.risk_flag.description IS 'What it means.';
COMMENT ON COLUMN hublink.risk_flag.escorted IS 'A returnee with this flag is removed with escorts.';
COMMENT ON COLUMN hublink.risk_flag.min_escorts IS 'Escorts a returnee with this flag needs at least.';
COMMENT ON COLUMN hublink.risk_flag.share_with_esp IS 'Passed to the ESP in the escort risk assessment.';
COMMENT ON COLUMN hublink.risk_flag.share_with_tsp IS 'Passed to the TSP in the travel risk assessment (carriers may refuse on it).';
COMMENT ON COLUMN hublink.risk_flag.changed_at IS 'Last change.';
COMMENT ON COLUMN hublink.risk_flag.changed_by IS 'Who made it.';

INSERT INTO hublink.risk_flag (flag, description, escorted, min_escorts, share_with_esp, share_with_tsp) VALUES
    ('VIOLENT', 'History of violence.', true, 2, true, true),
    ('DISRUPTIVE', 'Disruptive during detention or an earlier removal attempt.', true, 2, true, true),
    ('SEXUAL_OFFENDER', 'Convicted sexual offender.', true, 2, true, false),
    ('SELF_HARM', 'Self-harm history or an open ACDT plan.', true, 1, true, false),
    ('ABSCONDER', 'Has absconded before.', true, 1, true, false),
    ('MEDICAL_ESCORT', 'Needs a medic on the journey.', true, 1, true, false),
    ('HIGH_PROFILE', 'Press or public interest; Home Office only.', false, 0, false, false);

-- The announcement of a change (Appendix B 4.17).
CREATE TABLE hublink.reference_change (
    reference_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name          text NOT NULL,
    operation           text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    list                text,
    code                text NOT NULL,
    old_row             jsonb,
    new_row             jsonb,
    changed_at          timestamptz NOT NULL DEFAULT now(),
    changed_by          text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.reference_change IS
    'Every change to a reason list or the risk flags, for the other parties (Appendix B 4.17: '
    'an edit of a list prompts communication of the new data): a change log plus NOTIFY '
    'hublink_reference. At the Hub the reason lists are also sent to the providers '
    '(hublink.announce_reason_list, Travel/EscortReferenceListUpdate); risk flags are not sent.';
COMMENT ON COLUMN hublink.reference_change.reference_change_id IS 'Order of the changes.';
COMMENT ON COLUMN hublink.reference_change.table_name IS 'reason_code or risk_flag.';
COMMENT ON COLUMN hublink.reference_change.operation IS 'INSERT, UPDATE or DELETE.';
COMMENT ON COLUMN hublink.reference_change.list IS 'The reason list (NULL for a risk flag).';
COMMENT ON COLUMN hublink.reference_change.code IS 'The code or flag.';
COMMENT ON COLUMN hublink.reference_change.old_row IS 'The row before.';
COMMENT ON COLUMN hublink.reference_change.new_row IS 'The row after.';
COMMENT ON COLUMN hublink.reference_change.changed_at IS 'When.';
COMMENT ON COLUMN hublink.reference_change.changed_by IS 'Who.';
SELECT pg_catalog.pg_extension_config_dump('hublink.reference_change', '');

CREATE FUNCTION hublink.announce_reference_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    row     jsonb := coalesce(new_row, old_row);
BEGIN
    INSERT INTO hublink.reference_change (table_name, operation, list, code, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP, row ->> 'list', coalesce(row ->> 'code', row ->> 'flag'),
            old_row, new_row);
    PERFORM pg_notify('hublink_reference', json_build_object(
        'table', TG_TABLE_NAME, 'operation', TG_OP, 'list', row ->> 'list',
        'code', coalesce(row ->> 'code', row ->> 'flag'))::text);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.announce_reference_change() IS
    'Row trigger on the reference lists: records the change in hublink.reference_change and '
    'raises NOTIFY hublink_reference with {table, operation, list, code}.';

CREATE TRIGGER reason_code_announce AFTER INSERT OR UPDATE OR DELETE ON hublink.reason_code
    FOR EACH ROW EXECUTE FUNCTION hublink.announce_reference_change();
COMMENT ON TRIGGER reason_code_announce ON hublink.reason_code IS 'Announces every change of a reason list.';
CREATE TRIGGER risk_flag_announce AFTER INSERT OR UPDATE OR DELETE ON hublink.risk_flag
    FOR EACH ROW EXECUTE FUNCTION hublink.announce_reference_change();
COMMENT ON TRIGGER risk_flag_announce ON hublink.risk_flag IS 'Announces every change of the risk flags.';

GRANT USAGE ON SCHEMA hublink TO hublink_admin, hublink_caseworker;
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.reason_code, hublink.risk_flag TO hublink_admin;
GRANT SELECT ON hublink.reason_list, hublink.reason_code, hublink.risk_flag,
                hublink.reference_change TO hublink_admin, hublink_caseworker;

-- Is code an active member of list? (the handlers reject a message whose codes are not).
CREATE FUNCTION hublink.reason_code_valid(list text, code text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM hublink.reason_code r
                    WHERE r.list = reason_code_valid.list AND r.code = reason_code_valid.code
                      AND r.active);
COMMENT ON FUNCTION hublink.reason_code_valid(text, text) IS
    'True when code is an active code of the reason list.';

-- The body of a declined booking response, the same for both providers but for the name of
-- the quote reference (TravelBookingResponse: travelQuoteReference, EscortBookingResponse:
-- escortQuoteReference). A code that is not an active decline code is left out, so the body
-- fails validation rather than sending an unknown code.
CREATE FUNCTION hublink.declined_booking_body(quote_key text, quote_ref text, code text, details text)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object(quote_key, quote_ref, 'outcome', 'DECLINED',
        'declineReason', jsonb_build_object('code', CASE WHEN hublink.reason_code_valid('decline', code) THEN code END),
        'declineDetails', details);
COMMENT ON FUNCTION hublink.declined_booking_body(text, text, text, text) IS
    'A declined booking response body {<quote_key>, outcome DECLINED, declineReason {code}, '
    'declineDetails}; the code only when it is an active row of the decline list in '
    'hublink.reason_code (issue 4''s table), else the body lacks it and fails validation.';

-- from sql/parts/43_conversation.sql
-- Applying a message to the conversation (issue 4, sections 1, 2, 4): every message a party
-- sends or receives passes the state machine, is recorded as domain rows, and its transitions
-- are logged. Inbound messages come through the worker's handler seam
-- (hublink.handle_message); outbound ones through hublink.send_message, which the Hub's
-- functions and a provider's manual answers use.
--
-- Errors: SQLSTATE HL001 = impossible in the conversation (rejected to the error queue with
-- the reason), HL002 = premature (the worker retries it). Anything else is retried too.

-- Where each message type carries reason codes, and the list they must come from: rules as
-- data. A path is a JSON pointer in which * stands for every element of an array.
CREATE TABLE hublink.reason_code_location (
    message_type text NOT NULL REFERENCES hublink.message_type,
    path         text NOT NULL CHECK (path ~ '^(/[^/]+)+$'),
    list         text NOT NULL REFERENCES hublink.reason_list,
    PRIMARY KEY (message_type, path)
);
COMMENT ON TABLE hublink.reason_code_location IS
    'Where each message type carries a reason ({code, text}) and the reason list its code must '
    'be an active member of; a message with another code is rejected to the error queue.';
COMMENT ON COLUMN hublink.reason_code_location.message_type IS 'The message type.';
COMMENT ON COLUMN hublink.reason_code_location.path IS
    'JSON pointer of the reason object; * matches every element of an array.';
COMMENT ON COLUMN hublink.reason_code_location.list IS 'The reason list.';

INSERT INTO hublink.reason_code_location VALUES
    ('TravelQuoteResponse',   '/body/noQuoteReason', 'decline'),
    ('EscortBookingResponse', '/body/declineReason', 'decline'),
    ('TravelBookingResponse', '/body/declineReason', 'decline'),
    ('EscortAmendment',       '/body/segmentChanges/*/reason', 'change'),
    ('TravelAmendment',       '/body/itineraryChanges/*/reason', 'change'),
    ('EscortUpdate',          '/body/cancellation/reason', 'cancellation'),
    ('EscortUpdate',          '/body/unsuccessful/reason', 'unsuccessful'),
    ('EscortUpdate',          '/body/delayed/reason', 'delay'),
    ('EscortUpdate',          '/body/escortChanges/*/reason', 'change'),
    ('EscortUpdate',          '/body/amendmentOutcome/reason', 'change'),
    ('EscortUpdate',          '/body/financial/reason', 'change'),
    ('TravelUpdate',          '/body/cancellation/reason', 'cancellation'),
    ('TravelUpdate',          '/body/flightChanges/*/reason', 'change'),
    ('TravelUpdate',          '/body/amendmentOutcome/reason', 'change'),
    ('TravelUpdate',          '/body/financial/reason', 'change'),
    ('TravelCancellation',    '/body/reason', 'cancellation'),
    ('EscortCancellation',    '/body/reason', 'cancellation');

-- The values at a pointer pattern, with their concrete pointers.
CREATE FUNCTION hublink.json_pointer_values(doc jsonb, pattern text[], prefix text DEFAULT '')
    RETURNS TABLE (pointer text, value jsonb)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    head text;
    rest text[];
    i    int;
BEGIN
    IF doc IS NULL THEN
        RETURN;
    END IF;
    IF coalesce(cardinality(pattern), 0) = 0 THEN
        pointer := prefix;
        value := doc;
        RETURN NEXT;
        RETURN;
    END IF;
    head := pattern[1];
    rest := pattern[2:];
    IF head = '*' THEN
        IF jsonb_typeof(doc) = 'array' THEN
            FOR i IN 0 .. jsonb_array_length(doc) - 1 LOOP
                RETURN QUERY SELECT * FROM hublink.json_pointer_values(doc -> i, rest, prefix || '/' || i);
            END LOOP;
        END IF;
    ELSIF jsonb_typeof(doc) = 'object' THEN
        RETURN QUERY SELECT * FROM hublink.json_pointer_values(doc -> head, rest, prefix || '/' || head);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.json_pointer_values(jsonb, text[], text) IS
    'The members of doc at a JSON pointer pattern split into its tokens (* = every array '
    'element), each with its concrete JSON pointer.';

CREATE FUNCTION hublink.reason_code_problems(message jsonb) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'instanceLocation', v.pointer || '/code',
                       'keywordLocation', '',
                       'error', format('reason code "%s" is not in the %s list',
                                       v.value ->> 'code', l.list))
                       ORDER BY v.pointer), '[]')
              FROM hublink.reason_code_location l,
                   hublink.json_pointer_values(message, (string_to_array(l.path, '/'))[2:]) v
             WHERE l.message_type = message ->> 'messageType'
               AND NOT hublink.reason_code_valid(l.list, v.value ->> 'code'));
COMMENT ON FUNCTION hublink.reason_code_problems(jsonb) IS
    'The reason codes of a message that are not active codes of their list '
    '(hublink.reason_code_location), as Error message problems; [] when all are.';

-- The machines the current party tracks and the event moves; a column of hublink.removal each.
CREATE FUNCTION hublink.state_column(machine text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN CASE machine WHEN 'removal' THEN 'state' WHEN 'escort' THEN 'escort_state'
                        WHEN 'travel' THEN 'travel_state' END;
COMMENT ON FUNCTION hublink.state_column(text) IS 'The column of hublink.removal holding a machine''s state.';

CREATE FUNCTION hublink.current_party() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p text := current_setting('hublink.party', true);
BEGIN
    IF p IS NULL OR NOT EXISTS (SELECT FROM hublink.party x WHERE x.party = p) THEN
        RAISE EXCEPTION 'hublink.party is not set to a party'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is "%s".', coalesce(p, '')),
                  HINT = 'Set hublink.party to hub, tsp or esp in postgresql.conf.';
    END IF;
    RETURN p;
END;
$$;
COMMENT ON FUNCTION hublink.current_party() IS 'The hublink.party setting, checked.';

-- Move the machines of one removal by one event; raises HL001/HL002 when refused. Returns
-- true when some state changed. Records each transition and announces status changes.
CREATE FUNCTION hublink.transition(removal_id bigint, event text, direction text,
                                   message_id text DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party    text := hublink.current_party();
    r        hublink.removal;
    m        text;
    cur      text;
    chk      record;
    worst    text := 'allowed';
    reason   text;
    moves    jsonb := '{}';
    changed  boolean := false;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = transition.removal_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no removal %', removal_id USING ERRCODE = 'HL001';
    END IF;
    FOR m IN SELECT x.machine
               FROM (SELECT DISTINCT s.machine FROM hublink.state_machine_states() s
                      WHERE party = ANY (string_to_array(s.tracked_by, ','))
                        AND EXISTS (SELECT FROM hublink.state_machine() t
                                     WHERE t.machine = s.machine AND t.event = transition.event)) x
              ORDER BY x.machine = 'removal', x.machine LOOP  -- a booking's reason is the clearer one
        cur := to_jsonb(r) ->> hublink.state_column(m);
        chk := hublink.check_transition(m, coalesce(cur, 'new'), event, direction, party);
        IF (chk.verdict = 'forbidden' AND worst <> 'forbidden')
           OR (chk.verdict = 'premature' AND worst = 'allowed') THEN
            worst := chk.verdict;
            reason := chk.reason;
        END IF;
        moves := moves || jsonb_build_object(m, jsonb_build_array(coalesce(cur, 'new'), chk.next_state));
    END LOOP;
    IF moves = '{}' THEN
        -- the event concerns no machine this party tracks (e.g. a TSP and an escort message)
        PERFORM hublink.next_state(CASE party WHEN 'tsp' THEN 'travel' WHEN 'esp' THEN 'escort'
                                              ELSE 'removal' END,
                                   'none', event, direction, party);
        RAISE EXCEPTION '% does not concern party %', event, party USING ERRCODE = 'HL001';
    END IF;
    IF worst <> 'allowed' THEN
        RAISE EXCEPTION '%', reason
            USING ERRCODE = CASE worst WHEN 'premature' THEN 'HL002' ELSE 'HL001' END,
                  DETAIL = format('Removal %s, party %s, %s %s.', r.removal_reference, party,
                                  CASE direction WHEN 'in' THEN 'receiving' WHEN 'out' THEN 'sending'
                                                 ELSE 'deciding' END, event),
                  HINT = CASE worst WHEN 'premature'
                              THEN 'It can be applied once the earlier message has been.'
                              ELSE 'docs/state-machine.md shows what may follow what.' END;
    END IF;
    FOR m IN SELECT jsonb_object_keys(moves) LOOP
        INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event,
                                              direction, party, message_id)
        VALUES (r.removal_id, m, moves -> m ->> 0, moves -> m ->> 1, event, direction, party,
                transition.message_id);
        IF moves -> m ->> 0 <> moves -> m ->> 1 THEN
            changed := true;
            EXECUTE format('UPDATE hublink.removal SET %I = $1, updated_at = now() WHERE removal_id = $2',
                           hublink.state_column(m))
                USING moves -> m ->> 1, r.removal_id;
            PERFORM pg_notify('hublink_status', json_build_object(
                'removalReference', r.removal_reference, 'machine', m,
                'from', moves -> m ->> 0, 'to', moves -> m ->> 1, 'event', event)::text);
        END IF;
    END LOOP;
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION hublink.transition(bigint, text, text, text) IS
    'Moves every machine of a removal that the current party tracks and the event concerns, '
    'through hublink.check_transition: raises HL001 (impossible) or HL002 (premature) and '
    'changes nothing when any machine refuses; otherwise records each transition in '
    'hublink.state_transition and raises NOTIFY hublink_status {removalReference, machine, '
    'from, to, event} for every state that changed. True when a state changed.';

-- The Hub confirms the removal once every booking it needs is confirmed.
CREATE FUNCTION hublink.confirm_if_booked(removal_id bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = confirm_if_booked.removal_id;
    IF hublink.current_party() = 'hub' AND r.state = 'booking' AND r.travel_state = 'booked'
       AND (r.escort_state = 'booked' OR (NOT coalesce(r.escorted, false) AND r.escort_state = 'none')) THEN
        PERFORM hublink.transition(r.removal_id, 'BookingsConfirmed', 'local');
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.confirm_if_booked(bigint) IS
    'At the Hub: takes the removal from booking to booked (event BookingsConfirmed) when the '
    'travel booking, and the escort booking when escorted, are confirmed.';

-- An HL001 error with the JSON pointer of the offending value (carried in COLUMN).
CREATE FUNCTION hublink.impossible(pointer text, message text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'HL001', COLUMN = pointer;
END;
$$;
COMMENT ON FUNCTION hublink.impossible(text, text) IS
    'Raises SQLSTATE HL001 (impossible in the conversation: rejected to the error queue) with '
    'the JSON pointer of the offending value in the error''s column field.';

CREATE FUNCTION hublink.money(m jsonb) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (m ->> 'amount')::numeric(14,2);
COMMENT ON FUNCTION hublink.money(jsonb) IS 'The amount of a {amount, currency} object as numeric(14,2).';

-- The personal details as the Hub sends them (quote requests, 4.1 and 4.3; the escorts of a
-- booking, 4.7). The record functions below read the same fields back: keep the two sides alike.
CREATE FUNCTION hublink.person_name_json(title text, given_names text, family_name text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_strip_nulls(jsonb_build_object('title', title, 'givenNames', given_names,
                                                'familyName', family_name));
COMMENT ON FUNCTION hublink.person_name_json(text, text, text) IS
    'A person''s name object {title, givenNames, familyName} of the messages, the missing parts left out.';

CREATE FUNCTION hublink.returnee_details_json(returnee hublink.returnee, personal hublink.returnee_personal)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'hoReturneeReference', returnee.ho_returnee_reference,
        'name', hublink.person_name_json(personal.title, personal.given_names, personal.family_name),
        'dateOfBirth', personal.date_of_birth, 'nationality', personal.nationality,
        'gender', personal.gender, 'conditions', personal.conditions));
COMMENT ON FUNCTION hublink.returnee_details_json(hublink.returnee, hublink.returnee_personal) IS
    'The personalDetails object of a returnee in a quote request (4.1, 4.3), from its returnee row '
    'and its decrypted personal row (hublink.returnee_personal_of); hublink.record_returnees reads '
    'it back.';

-- Returnees as sent in a quote request: created at a provider, refreshed on a re-quote.
CREATE FUNCTION hublink.record_returnees(removal_id bigint, returnees jsonb, audience text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    x   jsonb;
    pd  jsonb;
    ra  jsonb;
    rid bigint;
    doc jsonb;
BEGIN
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        pd := x -> 'personalDetails';
        ra := coalesce(x -> 'escortRiskAssessment', x -> 'travelRiskAssessment');
        SELECT t.returnee_id INTO rid FROM hublink.returnee t
         WHERE t.removal_id = record_returnees.removal_id
           AND t.ho_returnee_reference = pd ->> 'hoReturneeReference';
        IF NOT FOUND THEN
            INSERT INTO hublink.returnee (removal_id, ho_returnee_reference, location)
            VALUES (removal_id, pd ->> 'hoReturneeReference', x -> 'location')
            RETURNING returnee_id INTO rid;
            -- The fields hublink.returnee_details_json writes.
            INSERT INTO hublink.returnee_personal (returnee_id, title, given_names, family_name,
                                                   date_of_birth, nationality, gender, conditions)
            VALUES (rid, pd #>> '{name,title}', pd #>> '{name,givenNames}', pd #>> '{name,familyName}',
                    (pd ->> 'dateOfBirth')::date, pd ->> 'nationality', pd ->> 'gender',
                    coalesce(pd -> 'conditions', '[]'));
        ELSIF audience <> 'hub' THEN
            UPDATE hublink.returnee t SET location = x -> 'location' WHERE t.returnee_id = rid;
        END IF;
        IF audience = 'hub' THEN
            CONTINUE; -- the Hub keeps its own full assessment; what it sent is in the outbox
        END IF;
        IF x ? 'travelDocuments' THEN
            DELETE FROM hublink.travel_document d WHERE d.returnee_id = rid;
            FOR doc IN SELECT * FROM jsonb_array_elements(x -> 'travelDocuments') LOOP
                INSERT INTO hublink.travel_document (returnee_id, document_type, document_number,
                                                     issuing_country, expiry_date)
                VALUES (rid, doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry',
                        (doc ->> 'expiryDate')::date);
            END LOOP;
        END IF;
        IF ra IS NOT NULL THEN
            UPDATE hublink.risk_assessment a SET current = false
             WHERE a.returnee_id = rid AND a.audience = record_returnees.audience AND a.current;
            INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required, notes)
            VALUES (rid, audience, ARRAY(SELECT jsonb_array_elements_text(ra -> 'flags')),
                    (ra ->> 'escortsRequired')::int, ra ->> 'notes');
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_returnees(bigint, jsonb, text) IS
    'Records the returnees of a quote request at the party that receives it (audience esp or '
    'tsp): personal details, travel documents and the risk assessment it was given; a re-quote '
    'replaces the assessment and location. At the Hub (audience hub) it only adds returnees it '
    'does not know.';

-- Named escorts (escortDetails or the escorts of a travel booking request / amendment).
CREATE FUNCTION hublink.record_escorts(removal_id bigint, escorts jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e   jsonb;
    pid bigint;
    api jsonb;
BEGIN
    FOR e IN SELECT * FROM jsonb_array_elements(coalesce(escorts, '[]')) LOOP
        api := coalesce(e -> 'advancePassengerInfo', '{}');
        INSERT INTO hublink.escort_person AS p (removal_id, escort_id, escort_number, special_meal)
        VALUES (removal_id, e ->> 'escortId', (e ->> 'escortNumber')::int, e ->> 'specialMeal')
        ON CONFLICT ON CONSTRAINT escort_person_removal_id_escort_id_key DO UPDATE
           SET escort_number = coalesce(EXCLUDED.escort_number, p.escort_number),
               special_meal = coalesce(EXCLUDED.special_meal, p.special_meal), active = true
        RETURNING escort_person_id INTO pid;
        INSERT INTO hublink.escort_personal AS q (escort_person_id, title, given_names, family_name,
                                                  date_of_birth, nationality, gender, document_type,
                                                  document_number, document_issuing_country,
                                                  document_expiry_date)
        VALUES (pid, e #>> '{name,title}', e #>> '{name,givenNames}', e #>> '{name,familyName}',
                (api ->> 'dateOfBirth')::date, api ->> 'nationality', api ->> 'gender',
                api #>> '{travelDocument,type}', api #>> '{travelDocument,number}',
                api #>> '{travelDocument,issuingCountry}', (api #>> '{travelDocument,expiryDate}')::date)
        -- The details are sealed (73_crypto_seal.sql): EXCLUDED holds them encrypted, and the
        -- seal trigger merges them into the stored ones, the values given replacing the old.
        ON CONFLICT (escort_person_id) DO UPDATE
           SET key_scope = EXCLUDED.key_scope, sealed = EXCLUDED.sealed;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_escorts(bigint, jsonb) IS
    'Records named escorts and their advance passenger information; later details of the same '
    'escortId complete or replace earlier ones.';

CREATE FUNCTION hublink.record_financial(removal_id bigint, booking text, message_id text,
                                         f jsonb)
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount,
                                                   currency, reason_code, reason_text)
        SELECT record_financial.removal_id, record_financial.booking, record_financial.message_id,
               k.kind, hublink.money(f -> k.member), f -> k.member ->> 'currency',
               f #>> '{reason,code}', f #>> '{reason,text}'
          FROM (VALUES ('refund', 'refund'), ('change_fee', 'changeFee'),
                       ('cancellation_fee', 'cancellationFee')) AS k(kind, member)
         WHERE f ? k.member;
    END;
COMMENT ON FUNCTION hublink.record_financial(bigint, text, text, jsonb) IS
    'Records the refund and fees of a financial section (4.10, 4.12).';

-- Whether the removal issued an escort or travel quote of this reference; with current_only,
-- one a re-quote has not superseded (a booking request may only name such a quote).
CREATE FUNCTION hublink.quote_issued(removal_id bigint, booking text, reference text,
                                     current_only boolean DEFAULT false)
    RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT CASE quote_issued.booking
               WHEN 'escort' THEN EXISTS (SELECT FROM hublink.escort_quote q
                                           WHERE q.removal_id = quote_issued.removal_id
                                             AND q.escort_quote_reference = quote_issued.reference
                                             AND NOT (quote_issued.current_only AND q.superseded))
               ELSE EXISTS (SELECT FROM hublink.travel_quote q
                             WHERE q.removal_id = quote_issued.removal_id
                               AND q.travel_quote_reference = quote_issued.reference
                               AND NOT (quote_issued.current_only AND q.superseded))
               END;
    END;
COMMENT ON FUNCTION hublink.quote_issued(bigint, text, text, boolean) IS
    'True when the removal issued an escort or travel quote (booking) of this reference; with '
    'current_only, only one not superseded by a re-quote.';

-- A quote response must not issue a reference again (nor repeat one within itself).
CREATE FUNCTION hublink.require_new_quote(removal_id bigint, booking text, reference text, pointer text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF hublink.quote_issued(removal_id, booking, reference) THEN
        PERFORM hublink.impossible(pointer, format('%s quote "%s" was already issued', booking, reference));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_new_quote(bigint, text, text, text) IS
    'Raises HL001 when the removal already issued a quote of this reference.';

-- The booked quote a post-booking message must name.
CREATE FUNCTION hublink.require_booked(removal_id bigint, booking text, reference text,
                                       pointer text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF booking = 'escort' AND NOT EXISTS (
           SELECT FROM hublink.escort_booking b
            WHERE b.removal_id = require_booked.removal_id AND b.escort_quote_reference = reference
              AND b.outcome = 'ACCEPTED')
       OR booking = 'travel' AND NOT EXISTS (
           SELECT FROM hublink.travel_booking b
            WHERE b.removal_id = require_booked.removal_id AND b.travel_quote_reference = reference
              AND b.outcome = 'ACCEPTED') THEN
        PERFORM hublink.impossible(pointer, format('%s quote "%s" is not booked', booking, reference));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_booked(bigint, text, text, text) IS
    'Raises HL001 unless reference names a confirmed booking of this removal.';

-- The domain rows of one message, sent or received.
CREATE FUNCTION hublink.record_message_rows(removal_id bigint, message jsonb, direction text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    b       jsonb := message -> 'body';
    mid     text := message ->> 'messageId';
    rid     bigint := removal_id;
    resp_id bigint;
    q_id    bigint;
    x       jsonb;
    y       jsonb;
    i       int;
    st      hublink.removal;
BEGIN
    SELECT * INTO st FROM hublink.removal r WHERE r.removal_id = rid;
    CASE message ->> 'messageType'
    WHEN 'EscortQuoteRequest', 'TravelQuoteRequest' THEN
        IF party <> 'hub' THEN
            UPDATE hublink.removal r
               SET international = coalesce((b ->> 'international')::boolean, r.international),
                   escort_on_transport = coalesce((b ->> 'escortOnTransport')::boolean, r.escort_on_transport),
                   earliest_leave_date = coalesce((b #>> '{dates,earliestLeaveDate}')::date, r.earliest_leave_date),
                   latest_leave_date = coalesce((b #>> '{dates,latestLeaveDate}')::date, r.latest_leave_date),
                   exclusion_dates = coalesce(ARRAY(SELECT jsonb_array_elements_text(b #> '{dates,exclusionDates}'))::date[],
                                              r.exclusion_dates),
                   destination = coalesce(b -> 'destination', r.destination),
                   constraints = coalesce(b -> 'constraints', r.constraints),
                   notes = coalesce(b ->> 'notes', r.notes)
             WHERE r.removal_id = rid;
        END IF;
        PERFORM hublink.record_returnees(rid, b -> 'returnees', party);
        IF message ->> 'messageType' = 'EscortQuoteRequest' THEN
            UPDATE hublink.escort_quote q SET superseded = true WHERE q.removal_id = rid;
        ELSE
            UPDATE hublink.travel_quote q SET superseded = true WHERE q.removal_id = rid;
        END IF;

    WHEN 'EscortQuoteResponse' THEN
        INSERT INTO hublink.escort_quote_response (removal_id, message_id, notes)
        VALUES (rid, mid, b ->> 'notes') RETURNING escort_quote_response_id INTO resp_id;
        INSERT INTO hublink.escort_position
        SELECT resp_id, (p ->> 'escortNumber')::int, p ->> 'role', p ->> 'gender', p ->> 'physique',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'languages', '[]'))),
               coalesce((p ->> 'medic')::boolean, false)
          FROM jsonb_array_elements(b -> 'escortPositions') p;
        UPDATE hublink.escort_segment s SET current = false WHERE s.removal_id = rid;
        INSERT INTO hublink.escort_segment (escort_quote_response_id, removal_id, segment_id,
                                            start_point, finish_point, transport_type, returnee_present)
        SELECT resp_id, rid, s ->> 'segmentId', s -> 'startPoint', s -> 'finishPoint',
               s ->> 'transportType', (s ->> 'returneePresent')::boolean
          FROM jsonb_array_elements(b -> 'segments') s;
        INSERT INTO hublink.escort_effort
        SELECT resp_id, e ->> 'segmentId', (e ->> 'escortNumber')::int, hublink.money(e -> 'cost'),
               e #>> '{cost,currency}', (e ->> 'durationMinutes')::int
          FROM jsonb_array_elements(b -> 'effort') e;
        FOR i IN 0 .. jsonb_array_length(b -> 'quotes') - 1 LOOP
            x := b -> 'quotes' -> i;
            PERFORM hublink.require_new_quote(rid, 'escort', x ->> 'escortQuoteReference',
                                              format('/body/quotes/%s/escortQuoteReference', i));
            INSERT INTO hublink.escort_quote (escort_quote_response_id, removal_id, escort_quote_reference,
                                              escort_date, total_amount, currency, notes)
            VALUES (resp_id, rid, x ->> 'escortQuoteReference', (x ->> 'escortDate')::date,
                    hublink.money(x -> 'totalCost'), x #>> '{totalCost,currency}', x ->> 'notes');
        END LOOP;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
        END IF;

    WHEN 'TravelQuoteResponse' THEN
        INSERT INTO hublink.travel_quote_response (removal_id, message_id, no_quote_reason_code,
                                                   no_quote_reason_text)
        VALUES (rid, mid, b #>> '{noQuoteReason,code}', b #>> '{noQuoteReason,text}')
        RETURNING travel_quote_response_id INTO resp_id;
        FOR i IN 0 .. jsonb_array_length(b -> 'quotes') - 1 LOOP
            x := b -> 'quotes' -> i;
            PERFORM hublink.require_new_quote(rid, 'travel', x ->> 'travelQuoteReference',
                                              format('/body/quotes/%s/travelQuoteReference', i));
            IF x ? 'escortQuoteReference' AND NOT hublink.quote_issued(rid, 'escort', x ->> 'escortQuoteReference')
               AND party = 'hub' THEN
                PERFORM hublink.impossible(format('/body/quotes/%s/escortQuoteReference', i),
                    format('escort quote "%s" is unknown', x ->> 'escortQuoteReference'));
            END IF;
            INSERT INTO hublink.travel_quote (travel_quote_response_id, removal_id, travel_quote_reference,
                                              escort_quote_reference, total_amount, expected_amount,
                                              currency, refundable, hand_baggage_only, expires_at,
                                              conditions)
            VALUES (resp_id, rid, x ->> 'travelQuoteReference', x ->> 'escortQuoteReference',
                    hublink.money(x #> '{costs,total}'), hublink.money(x #> '{costs,expectedCost}'),
                    x #>> '{costs,total,currency}',
                    (x #>> '{conditions,refundable}')::boolean,
                    (x #>> '{conditions,handBaggageOnly}')::boolean,
                    (x #>> '{conditions,expiresAt}')::timestamptz, x -> 'conditions')
            RETURNING travel_quote_id INTO q_id;
            INSERT INTO hublink.travel_quote_cost
            SELECT q_id, c -> 'traveller', hublink.money(c -> 'cost'), c #>> '{cost,currency}'
              FROM jsonb_array_elements(x #> '{costs,perTraveller}') c;
            INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                                   provider_name, carrier_code, flight_number,
                                                   start_point, end_point, start_time, end_time,
                                                   travellers)
            SELECT q_id, s ->> 'segmentId', s ->> 'segmentType', s ->> 'providerName',
                   s ->> 'carrierCode', s ->> 'flightNumber', s -> 'startPoint', s -> 'endPoint',
                   (s ->> 'startTime')::timestamptz, (s ->> 'endTime')::timestamptz, s -> 'travellers'
              FROM jsonb_array_elements(x -> 'itinerary') s;
        END LOOP;

    WHEN 'EscortBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'escort', b ->> 'escortQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('escort quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'escortQuoteReference'));
        END IF;
        INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, travel_quote_reference,
                                            request_message_id)
        VALUES (rid, b ->> 'escortQuoteReference', b ->> 'travelQuoteReference', mid);

    WHEN 'TravelBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'travel', b ->> 'travelQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('travel quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id)
        VALUES (rid, b ->> 'travelQuoteReference', mid);
        PERFORM hublink.record_escorts(rid, b -> 'escorts');

    WHEN 'EscortBookingResponse' THEN
        UPDATE hublink.escort_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               response_message_id = mid, responded_at = now()
         WHERE k.escort_booking_id = (SELECT max(k2.escort_booking_id) FROM hublink.escort_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.escort_quote_reference = b ->> 'escortQuoteReference');
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('no booking of escort quote "%s" waits for an answer', b ->> 'escortQuoteReference'));
        END IF;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
            INSERT INTO hublink.escort_assignment
            SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
              FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
            ON CONFLICT DO NOTHING;
        END IF;

    WHEN 'TravelBookingResponse' THEN
        UPDATE hublink.travel_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               total_amount = hublink.money(b #> '{confirmation,totalCost}'),
               currency = b #>> '{confirmation,totalCost,currency}',
               confirmation = b -> 'confirmation', response_message_id = mid, responded_at = now()
         WHERE k.travel_booking_id = (SELECT max(k2.travel_booking_id) FROM hublink.travel_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.travel_quote_reference = b ->> 'travelQuoteReference')
        RETURNING k.travel_booking_id INTO q_id;
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('no booking of travel quote "%s" waits for an answer', b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller, segment_ids, message_id)
        SELECT rid, q_id, t ->> 'ticketNumber', t -> 'traveller',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(t -> 'segmentIds', '[]'))), mid
          FROM jsonb_array_elements(coalesce(b #> '{confirmation,tickets}', '[]')) t;

    WHEN 'EscortAmendment', 'TravelAmendment' THEN
        IF message ->> 'messageType' = 'EscortAmendment' THEN
            PERFORM hublink.require_booked(rid, 'escort', b ->> 'escortQuoteReference', '/body/escortQuoteReference');
        ELSE
            PERFORM hublink.require_booked(rid, 'travel', b ->> 'travelQuoteReference', '/body/travelQuoteReference');
            FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b -> 'passengerUpdates', '[]')) LOOP
                IF x ? 'escortId' AND x ? 'name' THEN
                    PERFORM hublink.record_escorts(rid, jsonb_build_array(
                        jsonb_strip_nulls(jsonb_build_object('escortId', x -> 'escortId',
                            'escortNumber', x #> '{traveller,escortNumber}', 'name', x -> 'name',
                            'advancePassengerInfo', x -> 'advancePassengerInfo'))));
                END IF;
            END LOOP;
        END IF;
        INSERT INTO hublink.amendment (removal_id, booking, message_id, quote_reference, details)
        VALUES (rid, CASE WHEN message ->> 'messageType' = 'EscortAmendment' THEN 'escort' ELSE 'travel' END,
                mid, coalesce(CASE WHEN message ->> 'messageType' = 'EscortAmendment'
                                   THEN b ->> 'escortQuoteReference' ELSE b ->> 'travelQuoteReference' END, ''),
                b);

    WHEN 'EscortUpdate', 'TravelUpdate' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortUpdate' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
            v_sect    text;
            v_kind    text;
        BEGIN
            PERFORM hublink.require_booked(rid, v_booking, v_ref,
                                           CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                          ELSE '/body/travelQuoteReference' END);
            FOR v_sect, v_kind IN VALUES ('completed', 'completed'), ('cancellation', 'cancellation'),
                                     ('unsuccessful', 'unsuccessful'), ('delayed', 'delayed'),
                                     ('escortChanges', 'escort-change'), ('escortDetails', 'details'),
                                     ('amendmentOutcome', 'amendment-outcome'),
                                     ('flightChanges', 'flight-change'), ('financial', 'financial'),
                                     ('other', 'other') LOOP
                CONTINUE WHEN NOT b ? v_sect;
                IF jsonb_typeof(b -> v_sect) = 'array' THEN
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    SELECT rid, v_booking, mid, v_kind, e #>> '{reason,code}', e #>> '{reason,text}', e
                      FROM jsonb_array_elements(b -> v_sect) e;
                ELSE
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    VALUES (rid, v_booking, mid, v_kind, b #>> ARRAY[v_sect, 'reason', 'code'],
                            b #>> ARRAY[v_sect, 'reason', 'text'], b -> v_sect);
                END IF;
            END LOOP;
            IF b ? 'amendmentOutcome' THEN
                UPDATE hublink.amendment a
                   SET outcome_accepted = (b #>> '{amendmentOutcome,accepted}')::boolean,
                       outcome_reason_code = b #>> '{amendmentOutcome,reason,code}',
                       outcome_reason_text = b #>> '{amendmentOutcome,reason,text}',
                       outcome_message_id = mid, outcome_at = now()
                 WHERE a.removal_id = rid AND a.booking = v_booking
                   AND a.message_id = b #>> '{amendmentOutcome,amendmentMessageId}';
                IF NOT FOUND THEN
                    PERFORM hublink.impossible('/body/amendmentOutcome/amendmentMessageId',
                        format('no %s amendment "%s" was sent for this removal', v_booking,
                               b #>> '{amendmentOutcome,amendmentMessageId}'));
                END IF;
                IF v_booking = 'escort' THEN
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,segments}', '[]')) LOOP
                        UPDATE hublink.escort_segment s SET current = false
                         WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                        INSERT INTO hublink.escort_segment (removal_id, segment_id, start_point, finish_point,
                                                            transport_type, returnee_present, planned_start,
                                                            planned_finish, escort_numbers)
                        VALUES (rid, x ->> 'segmentId', x -> 'startPoint', x -> 'finishPoint',
                                x ->> 'transportType', (x ->> 'returneePresent')::boolean,
                                (x ->> 'plannedStart')::timestamptz, (x ->> 'plannedFinish')::timestamptz,
                                ARRAY(SELECT jsonb_array_elements_text(coalesce(x -> 'escortNumbers', '[]')))::int[]);
                    END LOOP;
                ELSE
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,tickets}', '[]')) LOOP
                        UPDATE hublink.ticket t SET current = false
                         WHERE t.removal_id = rid AND t.traveller = x -> 'traveller' AND t.current;
                        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller,
                                                    segment_ids, message_id)
                        VALUES (rid, (SELECT max(k.travel_booking_id) FROM hublink.travel_booking k
                                       WHERE k.removal_id = rid AND k.outcome = 'ACCEPTED'),
                                x ->> 'ticketNumber', x -> 'traveller',
                                ARRAY(SELECT jsonb_array_elements_text(coalesce(x -> 'segmentIds', '[]'))), mid);
                    END LOOP;
                END IF;
            END IF;
            IF b ? 'delayed' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b #> '{delayed,segments}') LOOP
                    UPDATE hublink.escort_segment s
                       SET planned_start = (x ->> 'newStart')::timestamptz,
                           planned_finish = (x ->> 'newFinish')::timestamptz
                     WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                END LOOP;
            END IF;
            IF b ? 'escortChanges' THEN
                UPDATE hublink.escort_person p SET active = false
                 WHERE p.removal_id = rid
                   AND p.escort_id IN (SELECT e ->> 'removedEscortId' FROM jsonb_array_elements(b -> 'escortChanges') e)
                   AND p.escort_id NOT IN (SELECT coalesce(e ->> 'addedEscortId', '')
                                             FROM jsonb_array_elements(b -> 'escortChanges') e);
                DELETE FROM hublink.escort_assignment a
                 USING jsonb_array_elements(b -> 'escortChanges') e
                 WHERE a.removal_id = rid AND a.segment_id = e ->> 'segmentId'
                   AND a.escort_id = e ->> 'removedEscortId';
            END IF;
            IF b ? 'escortDetails' THEN
                PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
                INSERT INTO hublink.escort_assignment
                SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
                  FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
                ON CONFLICT ON CONSTRAINT escort_assignment_pkey DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id;
            END IF;
            IF b ? 'flightChanges' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b -> 'flightChanges') LOOP
                    SELECT s.travel_quote_id INTO q_id FROM hublink.itinerary_segment s
                      JOIN hublink.travel_quote q USING (travel_quote_id)
                     WHERE q.removal_id = rid AND q.travel_quote_reference = v_ref
                       AND s.segment_id = x #>> '{oldSegment,segmentId}' AND s.current;
                    IF FOUND THEN
                        UPDATE hublink.itinerary_segment s SET current = false
                         WHERE s.travel_quote_id = q_id AND s.segment_id = x #>> '{oldSegment,segmentId}';
                        y := x -> 'newSegment';
                        INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                                               provider_name, carrier_code, flight_number,
                                                               start_point, end_point, start_time, end_time,
                                                               travellers)
                        VALUES (q_id, y ->> 'segmentId', y ->> 'segmentType', y ->> 'providerName',
                                y ->> 'carrierCode', y ->> 'flightNumber', y -> 'startPoint', y -> 'endPoint',
                                (y ->> 'startTime')::timestamptz, (y ->> 'endTime')::timestamptz,
                                y -> 'travellers');
                    END IF;
                END LOOP;
            END IF;
            IF b ? 'financial' THEN
                PERFORM hublink.record_financial(rid, v_booking, mid, b -> 'financial');
            END IF;
            IF b ? 'cancellation' AND NOT EXISTS (SELECT FROM hublink.cancellation c WHERE c.message_id = mid) THEN
                INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                                  reason_code, reason_text, before_booking)
                VALUES (rid, v_booking, CASE v_booking WHEN 'escort' THEN 'esp' ELSE 'tsp' END, mid, v_ref,
                        b #>> '{cancellation,reason,code}', b #>> '{cancellation,reason,text}', false);
            END IF;
        END;

    WHEN 'EscortCancellation', 'TravelCancellation' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortCancellation' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
        BEGIN
            IF v_ref IS NOT NULL AND NOT hublink.quote_issued(rid, v_booking, v_ref) THEN
                PERFORM hublink.impossible(CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                        ELSE '/body/travelQuoteReference' END,
                                           format('%s quote "%s" was never issued for this removal', v_booking, v_ref));
            END IF;
            INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                              reason_code, reason_text, retain_for_reuse, before_booking)
            VALUES (rid, v_booking, 'hub', mid, v_ref, b #>> '{reason,code}', b #>> '{reason,text}',
                    (b ->> 'retainForReuse')::boolean,
                    (CASE v_booking WHEN 'escort' THEN st.escort_state ELSE st.travel_state END)
                        NOT IN ('booked', 'amended'));
        END;
    ELSE
        PERFORM hublink.impossible('/messageType',
            format('message type "%s" has no place in a removal conversation', message ->> 'messageType'));
    END CASE;
END;
$$;
COMMENT ON FUNCTION hublink.record_message_rows(bigint, jsonb, text) IS
    'Records what a message says as rows of the domain tables, at the party that sends or '
    'receives it. Raises HL001 for references the conversation does not know (a booking of a '
    'quote never issued or superseded, an update of a booking never confirmed, the outcome of '
    'an amendment never sent, a quote reference issued twice).';

-- Apply one message in one direction: find (or, at a provider, create) its removal, move the
-- machines, record the rows, and confirm the removal when every booking is.
CREATE FUNCTION hublink.conversation_apply(message jsonb, direction text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    ref     text := message ->> 'removalId';
    event   text := hublink.message_event(message);
    problems jsonb;
    rid     bigint;
BEGIN
    IF ref IS NULL THEN
        PERFORM hublink.impossible('/removalId', 'the message names no removal');
    END IF;
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) > 0 THEN
        PERFORM hublink.impossible(problems -> 0 ->> 'instanceLocation', problems -> 0 ->> 'error');
    END IF;
    SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    IF NOT FOUND THEN
        IF party = 'hub' OR direction <> 'in' THEN
            PERFORM hublink.impossible('/removalId', format('removal "%s" is unknown', ref));
        END IF;
        -- a provider hears of a removal first through a message of the Hub
        INSERT INTO hublink.removal (removal_reference, state)
        VALUES (ref, NULL)
        ON CONFLICT (removal_reference) DO NOTHING;
        SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    END IF;
    PERFORM hublink.transition(rid, event, direction, message ->> 'messageId');
    PERFORM hublink.record_message_rows(rid, message, direction);
    PERFORM hublink.confirm_if_booked(rid);
    RETURN rid;
END;
$$;
COMMENT ON FUNCTION hublink.conversation_apply(jsonb, text) IS
    'Applies one message (direction in or out) to its removal: checks its reason codes, moves '
    'the state machines (hublink.transition), records its rows (hublink.record_message_rows) '
    'and, at the Hub, confirms the removal when every booking is. A provider creates the '
    'removal when the first message of the Hub arrives. Raises HL001 or HL002 as '
    'hublink.transition. Returns the removal_id.';

-- Reject an inbound message to its error queue from inside its handler.
CREATE FUNCTION hublink.reject_message(message jsonb, problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q text;
BEGIN
    UPDATE hublink.inbox i
       SET status = 'rejected', problems = reject_message.problems, next_attempt_at = NULL,
           last_error = reject_message.problems -> 0 ->> 'error'
     WHERE i.message_id = reject_message.message ->> 'messageId'
    RETURNING i.queue INTO q;
    IF NOT FOUND THEN
        SELECT t.queue INTO q FROM hublink.message_type t
         WHERE t.message_type = reject_message.message ->> 'messageType';
    END IF;
    PERFORM hublink.note_handler_rejection();
    RETURN hublink.enqueue_error(q, reject_message.message, reject_message.problems);
END;
$$;
COMMENT ON FUNCTION hublink.reject_message(jsonb, jsonb) IS
    'Marks an inbound message rejected in hublink.inbox (when it is there) and writes its Error '
    'message for <queue>-error with the problems. Returns the Error''s messageId.';
REVOKE ALL ON FUNCTION hublink.reject_message(jsonb, jsonb) FROM PUBLIC;

-- The providers' seam (issue 4, section 4): the booking logic answers an applied message.
CREATE TABLE hublink.message_responder (
    message_type text PRIMARY KEY REFERENCES hublink.message_type,
    responder    regprocedure NOT NULL,
    description  text
);
COMMENT ON TABLE hublink.message_responder IS
    'Optional: a function called as responder(message jsonb) after an inbound message was '
    'applied to its conversation by hublink.handle_message, in the same transaction (e.g. a '
    'provider''s booking logic answering a request with hublink.send_message). Without a row '
    'the message is only applied; a party then answers by hand (docs/hub.md).';
COMMENT ON COLUMN hublink.message_responder.message_type IS 'The inbound message type.';
COMMENT ON COLUMN hublink.message_responder.responder IS 'A function taking one jsonb argument; its result is ignored.';
COMMENT ON COLUMN hublink.message_responder.description IS 'What it does.';
SELECT pg_catalog.pg_extension_config_dump('hublink.message_responder', '');

-- One switch for a provider engine's responders (hublink.tsp_auto_answer, esp_auto_answer).
CREATE FUNCTION hublink.set_engine_responders(p_party text, p_requests text,
                                              p_wanted hublink.message_responder[], p_enabled boolean)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    other text;
    n     integer;
BEGIN
    IF NOT coalesce(p_enabled, false) THEN
        -- Only the engine's rows: a responder someone else registered for these types stays.
        DELETE FROM hublink.message_responder m USING unnest(p_wanted) t
         WHERE m.message_type = t.message_type AND m.responder = t.responder;
        RETURN 0;
    END IF;
    IF hublink.current_party() <> p_party THEN
        RAISE EXCEPTION 'only the % answers % requests automatically',
                        (SELECT lower(x.name) FROM hublink.party x WHERE x.party = p_party), p_requests
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('hublink.party is "%s".', hublink.current_party()),
                  HINT = format('Set hublink.party to %s in postgresql.conf, or answer by hand with hublink.send_message.', p_party);
    END IF;
    SELECT string_agg(format('%s (%s)', m.message_type, m.responder), ', ' ORDER BY m.message_type) INTO other
      FROM hublink.message_responder m JOIN unnest(p_wanted) t USING (message_type)
     WHERE m.responder <> t.responder;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'another responder answers some % requests', p_requests
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Registered in hublink.message_responder: %s.', other),
                  HINT = 'Delete those rows of hublink.message_responder first if the engine should answer instead.';
    END IF;
    INSERT INTO hublink.message_responder (message_type, responder, description)
    SELECT t.message_type, t.responder, t.description FROM unnest(p_wanted) t
    ON CONFLICT (message_type) DO UPDATE SET description = EXCLUDED.description;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.set_engine_responders(text, text, hublink.message_responder[], boolean) IS
    'Registers (p_enabled) or removes a provider engine''s responders in '
    'hublink.message_responder. Enabling needs hublink.party = p_party '
    '(object_not_in_prerequisite_state) and refuses to replace another responder of those types '
    '(unique_violation); disabling removes only the engine''s rows. Returns the rows registered, '
    'or 0 when disabled. p_requests names the requests in messages ("travel", "escort").';
REVOKE ALL ON FUNCTION hublink.set_engine_responders(text, text, hublink.message_responder[], boolean) FROM PUBLIC;

CREATE FUNCTION hublink.handle_message(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems  jsonb;
    errtext   text;
    pointer   text;
    responder regprocedure;
BEGIN
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) = 0 THEN
        BEGIN
            PERFORM hublink.conversation_apply(message, 'in');
            SELECT r.responder INTO responder FROM hublink.message_responder r
             WHERE r.message_type = message ->> 'messageType';
            IF FOUND THEN
                EXECUTE format('SELECT %s($1)', responder::regproc) USING message;
            END IF;
            RETURN;
        EXCEPTION WHEN SQLSTATE 'HL001' THEN
            GET STACKED DIAGNOSTICS errtext = MESSAGE_TEXT, pointer = COLUMN_NAME;
            problems := jsonb_build_array(jsonb_build_object(
                'instanceLocation', coalesce(nullif(pointer, ''), '/messageType'),
                'keywordLocation', '', 'error', errtext));
        END;
    END IF;
    PERFORM hublink.reject_message(message, problems);
END;
$$;
COMMENT ON FUNCTION hublink.handle_message(jsonb) IS
    'The handler of every inbound message type (hublink.message_handler): applies the message '
    'to its conversation (hublink.conversation_apply). A message impossible in the '
    'conversation (HL001: wrong state, unknown reference, reason code not in its list) is '
    'rejected at once to <queue>-error with the reason; a premature one (HL002) and any other '
    'error propagate, so the worker retries it. Then the responder of hublink.message_responder '
    'for its type, if any, answers it in the same transaction (an HL001 it raises rejects the '
    'message too). SECURITY DEFINER: the worker''s role (hublink_worker) reads no removal data '
    'itself, it applies messages only through this function.';
REVOKE ALL ON FUNCTION hublink.handle_message(jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.send_message(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb := hublink.validate_message(message);
BEGIN
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'message is not valid against its schema'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The first problem is at "%s": %s.',
                                  problems -> 0 ->> 'instanceLocation', problems -> 0 ->> 'error'),
                  HINT = 'hublink.validate_message() lists every problem.';
    END IF;
    PERFORM hublink.conversation_apply(message, 'out');
    RETURN hublink.send(message);
END;
$$;
COMMENT ON FUNCTION hublink.send_message(jsonb) IS
    'Sends a message of the conversation: validates it, moves the state machines (direction '
    'out), records its rows and writes it to the outbox (hublink.send), all in the caller''s '
    'transaction. Raises HL001 when the message is impossible in the conversation''s state. '
    'This is how a provider answers by hand until its booking logic exists (docs/hub.md).';

-- Plug into the worker's seam: the current party's inbound types. Types a party does not
-- receive keep the default handler (the worker rejects them: they are not on its queues).
UPDATE hublink.message_handler h
   SET handler = 'hublink.handle_message(jsonb)'::regprocedure,
       description = 'Apply to the removal conversation: state machine, domain rows, transitions.'
 WHERE h.message_type IN (SELECT t.message_type FROM hublink.message_type t WHERE t.queue IS NOT NULL);

-- from sql/parts/44_hub.sql
-- The Hub party (issue 4, section 3; Schedule R Appendix B): the caseworker's functions.
-- Each builds its message from the removal's rows and sends it with hublink.send_message
-- (state machine, rows, outbox, all in the caller's transaction). Examples in docs/hub.md.
-- The ones that change a removal are SECURITY DEFINER for hublink_caseworker (issue 6 section
-- 1, NFR 0015): caseworkers hold only SELECT on removal data, so the state machine is their
-- only way to change it. Each checks the login's clearance first (require_removal_access,
-- 90_access.sql; resolved at call time like the sensitivity column that part adds).

CREATE TABLE hublink.escort_rule (
    rule        text PRIMARY KEY CHECK (rule ~ '^[a-z_]+$'),
    value       integer NOT NULL CHECK (value >= 0),
    description text NOT NULL
);
COMMENT ON TABLE hublink.escort_rule IS
    'Escort rules that are not per risk flag (hublink.risk_flag holds those), edited by hublink_admin.';
COMMENT ON COLUMN hublink.escort_rule.rule IS 'Name of the rule.';
COMMENT ON COLUMN hublink.escort_rule.value IS 'Its value.';
COMMENT ON COLUMN hublink.escort_rule.description IS 'What it means.';
INSERT INTO hublink.escort_rule VALUES
    ('min_escorts_per_returnee', 1,
     'In an escorted removal, the escorts each returnee needs at least, whatever its flags.');
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.escort_rule TO hublink_admin;

-- An envelope from this party.
CREATE FUNCTION hublink.new_message(message_type text, removal_reference text, body jsonb)
    RETURNS jsonb
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object(
        'messageId', gen_random_uuid()::text,
        'messageType', message_type,
        'schemaVersion', coalesce((SELECT s.schema_version FROM hublink.message_schema s
                                    WHERE s.message_type = new_message.message_type AND s.active
                                    ORDER BY string_to_array(s.schema_version, '.')::int[] DESC
                                    LIMIT 1), '1.0'),
        'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
        'sender', (SELECT p.sender_code FROM hublink.party p WHERE p.party = hublink.current_party()),
        'removalId', removal_reference,
        'body', jsonb_strip_nulls(body));
COMMENT ON FUNCTION hublink.new_message(text, text, jsonb) IS
    'A message envelope from the current party: new messageId, the active schema version, '
    'sentAt now (UTC), the sender code, the removal reference and the body (nulls dropped).';

CREATE FUNCTION hublink.removal_by_reference(removal_reference text) RETURNS hublink.removal
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = removal_by_reference.removal_reference
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', removal_reference
            USING ERRCODE = 'no_data_found',
                  HINT = 'hublink.search_removals() finds removals by case reference or returnee name.';
    END IF;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION hublink.removal_by_reference(text) IS 'The removal with this reference, locked; raises when there is none.';

-- 4.22: a returnee with a live removal (not cancelled, completed or unsuccessful).
CREATE VIEW hublink.live_returnee AS
SELECT t.ho_returnee_reference, r.removal_reference, r.state
  FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
 WHERE r.state IS NOT NULL AND r.state NOT IN ('cancelled', 'completed', 'unsuccessful');
COMMENT ON VIEW hublink.live_returnee IS
    'Returnees with a live removal request at the Hub (Appendix B 4.22: no second removal for them).';
COMMENT ON COLUMN hublink.live_returnee.ho_returnee_reference IS 'The returnee.';
COMMENT ON COLUMN hublink.live_returnee.removal_reference IS 'Their live removal.';
COMMENT ON COLUMN hublink.live_returnee.state IS 'Its state.';

CREATE FUNCTION hublink.create_removal(case_reference text, returnees jsonb,
                                       earliest_leave_date date, latest_leave_date date,
                                       destination jsonb,
                                       exclusion_dates date[] DEFAULT '{}',
                                       international boolean DEFAULT true,
                                       escort_on_transport boolean DEFAULT true,
                                       constraints jsonb DEFAULT NULL,
                                       notes text DEFAULT NULL,
                                       sensitivity text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ref       text;
    rid       bigint;
    x         jsonb;
    live      record;
    new_level text := coalesce(sensitivity, hublink.lowest_sensitivity());
BEGIN
    -- SECURITY DEFINER: the caller needs no privilege on the tables. It may create a removal
    -- only at a sensitivity it is cleared for, checked before anything else (even the 4.22
    -- check below) is read. The owner, superusers and the worker pass, as in
    -- hublink.removal_access_allowed.
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = new_level)
       OR NOT (new_level = ANY (hublink.cleared_levels()) OR hublink.removal_access_allowed(NULL)) THEN
        RAISE EXCEPTION 'sensitivity "%" is not one this login is cleared for', new_level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker creates removals at a sensitivity level at or below its clearance.',
                  HINT = 'SELECT hublink.cleared_levels() lists them; an admin sets clearances with hublink.set_clearance().';
    END IF;
    IF hublink.current_party() <> 'hub' THEN
        RAISE EXCEPTION 'only the hub creates removals' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF jsonb_typeof(returnees) IS DISTINCT FROM 'array' OR jsonb_array_length(returnees) = 0 THEN
        RAISE EXCEPTION 'a removal needs at least one returnee' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        -- As the owner this sees every live removal, whatever the caller's clearance (4.22
        -- holds across sensitivities). The caller learns only that one exists: its reference
        -- and state are told only when the caller is cleared for it.
        SELECT l.ho_returnee_reference, l.removal_reference, l.state,
               coalesce(hublink.removal_access_allowed(m.removal_id), false) AS visible
          INTO live
          FROM hublink.live_returnee l JOIN hublink.removal m USING (removal_reference)
         WHERE l.ho_returnee_reference = x #>> '{personalDetails,hoReturneeReference}'
         ORDER BY 4 DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'returnee % already has a live removal', live.ho_returnee_reference
                USING ERRCODE = 'unique_violation',
                      DETAIL = CASE WHEN live.visible THEN format('Removal %s is %s.', live.removal_reference, live.state)
                                    ELSE 'The live removal is not shown: it is above the clearance of this login.' END,
                      HINT = 'Appendix B 4.22: cancel or complete that removal first, or amend it.';
        END IF;
    END LOOP;
    ref := format('RMV-%s-%s', extract(year FROM now())::int, lpad(nextval('hublink.removal_serial')::text, 6, '0'));
    INSERT INTO hublink.removal (removal_reference, case_reference, international, escort_on_transport,
                                 earliest_leave_date, latest_leave_date, exclusion_dates, destination,
                                 constraints, notes, state, sensitivity, created_by)
    VALUES (ref, case_reference, international, escort_on_transport, earliest_leave_date,
            latest_leave_date, coalesce(exclusion_dates, '{}'), destination, constraints, notes, 'new',
            new_level, session_user)
    RETURNING removal_id INTO rid;
    PERFORM hublink.require_removal_access(rid);
    PERFORM hublink.record_returnees(rid, returnees, 'hub');
    INSERT INTO hublink.travel_document (returnee_id, document_type, document_number, issuing_country, expiry_date)
    SELECT t.returnee_id, d ->> 'type', d ->> 'number', d ->> 'issuingCountry', (d ->> 'expiryDate')::date
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}'
     CROSS JOIN jsonb_array_elements(coalesce(y -> 'travelDocuments', '[]')) d;
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes)
    SELECT t.returnee_id, 'hub', ARRAY(SELECT jsonb_array_elements_text(coalesce(y #> '{risk,flags}', '[]'))),
           y #>> '{risk,notes}'
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}';
    PERFORM hublink.profile_risk(ref);
    PERFORM pg_notify('hublink_status', json_build_object('removalReference', ref, 'machine', 'removal',
                                                          'from', NULL, 'to', 'new')::text);
    RETURN ref;
END;
$$;
COMMENT ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) IS
    'Creates a removal request with its returnees and returns its new reference (RMV-<year>-<serial>). '
    'returnees is an array of {personalDetails, travelDocuments, location, risk: {flags, notes}} '
    '(shapes as in the messages). sensitivity: the lowest level when NULL, else a level the login is '
    'cleared for (insufficient_privilege otherwise). Refuses (unique_violation) when a returnee '
    'already has a live removal at any sensitivity (Appendix B 4.22), naming it only to a login '
    'cleared for it. Runs hublink.profile_risk. SECURITY DEFINER, for hublink_caseworker.';
REVOKE ALL ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) TO hublink_caseworker;

-- Risk profiling by the rows of hublink.risk_flag and hublink.escort_rule.
CREATE FUNCTION hublink.profile_risk(removal_reference text,
                                     OUT escorted boolean, OUT escorts_required integer)
    RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        hublink.removal;
    per_head integer := coalesce((SELECT e.value FROM hublink.escort_rule e
                                   WHERE e.rule = 'min_escorts_per_returnee'), 0);
    t        record;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT coalesce(bool_or(f.escorted), false) INTO escorted
      FROM hublink.returnee x
     CROSS JOIN LATERAL hublink.risk_assessment_of(x.returnee_id, 'hub') a
      JOIN hublink.risk_flag f ON f.flag = ANY (a.flags)
     WHERE x.removal_id = r.removal_id;
    escorts_required := 0;
    FOR t IN SELECT x.returnee_id, coalesce(a.flags, '{}') AS flags, a.notes
               FROM hublink.returnee x
               LEFT JOIN LATERAL hublink.risk_assessment_of(x.returnee_id, 'hub') a ON true
              WHERE x.removal_id = r.removal_id LOOP
        UPDATE hublink.risk_assessment a SET current = false
         WHERE a.returnee_id = t.returnee_id AND a.audience IN ('esp', 'tsp') AND a.current;
        INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required, notes)
        SELECT t.returnee_id, 'esp',
               ARRAY(SELECT f.flag FROM hublink.risk_flag f WHERE f.flag = ANY (t.flags) AND f.share_with_esp ORDER BY f.flag),
               NULL, t.notes
         WHERE escorted;
        INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required)
        SELECT t.returnee_id, 'tsp',
               ARRAY(SELECT f.flag FROM hublink.risk_flag f WHERE f.flag = ANY (t.flags) AND f.share_with_tsp ORDER BY f.flag),
               CASE WHEN escorted
                    THEN greatest(per_head, coalesce((SELECT max(f.min_escorts) FROM hublink.risk_flag f
                                                      WHERE f.flag = ANY (t.flags)), 0))
                    ELSE 0 END;
        escorts_required := escorts_required +
            coalesce((SELECT a.escorts_required FROM hublink.risk_assessment a
                       WHERE a.returnee_id = t.returnee_id AND a.audience = 'tsp' AND a.current), 0);
    END LOOP;
    UPDATE hublink.removal x SET escorted = profile_risk.escorted WHERE x.removal_id = r.removal_id;
END;
$$;
COMMENT ON FUNCTION hublink.profile_risk(text) IS
    'Risk profiling (Appendix B 4.18) by rules stored as rows: the removal is escorted when a '
    'returnee''s current full (hub) assessment has a flag marked escorted in hublink.risk_flag; '
    'writes the subsets each provider may see (esp: flags shared with the ESP and the notes, '
    'only when escorted; tsp: flags shared with the TSP and the escorts required, at least '
    'hublink.escort_rule min_escorts_per_returnee each when escorted). Returns whether '
    'escorted and the total escorts required.';
REVOKE ALL ON FUNCTION hublink.profile_risk(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.profile_risk(text) TO hublink_caseworker;

CREATE FUNCTION hublink.set_risk(removal_reference text, ho_returnee_reference text, flags text[],
                                 notes text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r   hublink.removal;
    rid bigint;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT t.returnee_id INTO rid FROM hublink.returnee t
     WHERE t.removal_id = r.removal_id AND t.ho_returnee_reference = set_risk.ho_returnee_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'returnee % is not part of removal %', ho_returnee_reference, removal_reference
            USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE hublink.risk_assessment a SET current = false WHERE a.returnee_id = rid AND a.audience = 'hub' AND a.current;
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes) VALUES (rid, 'hub', flags, notes);
    PERFORM hublink.profile_risk(removal_reference);
END;
$$;
COMMENT ON FUNCTION hublink.set_risk(text, text, text[], text) IS
    'Records a new full risk assessment of a returnee and profiles the removal again. Before '
    'booking, follow it with hublink.requote (Appendix A 4.5); after booking, with an amendment.';
REVOKE ALL ON FUNCTION hublink.set_risk(text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_risk(text, text, text[], text) TO hublink_caseworker;

CREATE FUNCTION hublink.request_escort_quotes(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF NOT coalesce(r.escorted, false) THEN
        RAISE EXCEPTION 'removal % is not escorted', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Unescorted removals start with hublink.request_travel_quotes.';
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortQuoteRequest', r.removal_reference,
        jsonb_build_object(
            'returnees', (SELECT jsonb_agg(jsonb_build_object(
                    'personalDetails', hublink.returnee_details_json(t, p),
                    'escortRiskAssessment', jsonb_strip_nulls(jsonb_build_object(
                        'flags', to_jsonb(coalesce(a.flags, '{}')), 'notes', a.notes)),
                    'location', (hublink.unsealed(t)).location) ORDER BY t.returnee_id)
                  FROM hublink.returnee t
                 CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                  LEFT JOIN LATERAL hublink.risk_assessment_of(t.returnee_id, 'esp') a ON true
                 WHERE t.removal_id = r.removal_id),
            'international', r.international,
            'escortOnTransport', coalesce(r.escort_on_transport, true),
            'dates', jsonb_build_object('earliestLeaveDate', r.earliest_leave_date,
                                        'latestLeaveDate', r.latest_leave_date,
                                        'exclusionDates', to_jsonb(r.exclusion_dates)),
            'destination', r.destination,
            'notes', (hublink.unsealed(r)).notes)));
END;
$$;
COMMENT ON FUNCTION hublink.request_escort_quotes(text) IS
    'Sends the escort quote request (4.1) of an escorted removal, with the escort risk '
    'assessment subset of each returnee. Also the re-quote of 4.5. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.request_escort_quotes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_escort_quotes(text) TO hublink_caseworker;

CREATE FUNCTION hublink.request_travel_quotes(removal_reference text,
                                              departure_airports text[] DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     hublink.removal;
    dates jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF coalesce(r.escorted, false) THEN
        SELECT jsonb_agg(jsonb_build_object('escortQuoteReference', q.escort_quote_reference,
                                            'date', q.escort_date,
                                            'escortCount', (SELECT count(*) FROM hublink.escort_position p
                                                             WHERE p.escort_quote_response_id = q.escort_quote_response_id))
                         ORDER BY q.escort_date)
          INTO dates
          FROM hublink.escort_quote q WHERE q.removal_id = r.removal_id AND NOT q.superseded;
        IF dates IS NULL THEN
            RAISE EXCEPTION 'removal % has no escort quotes to find travel for', removal_reference
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'An escorted removal asks the ESP first (hublink.request_escort_quotes).';
        END IF;
    END IF;
    RETURN hublink.send_message(hublink.new_message('TravelQuoteRequest', r.removal_reference,
        jsonb_build_object(
            'returnees', (SELECT jsonb_agg(jsonb_build_object(
                    'personalDetails', hublink.returnee_details_json(t, p),
                    'travelDocuments', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                            'type', d.document_type, 'number', d.document_number,
                            'issuingCountry', d.issuing_country, 'expiryDate', d.expiry_date)))
                          FROM hublink.travel_documents_of(t.returnee_id) d), '[]'),
                    'travelRiskAssessment', jsonb_strip_nulls(jsonb_build_object(
                        'flags', to_jsonb(coalesce(a.flags, '{}')), 'escortsRequired', a.escorts_required)),
                    'location', (hublink.unsealed(t)).location) ORDER BY t.returnee_id)
                  FROM hublink.returnee t
                 CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                  LEFT JOIN LATERAL hublink.risk_assessment_of(t.returnee_id, 'tsp') a ON true
                 WHERE t.removal_id = r.removal_id),
            'escortDates', dates,
            'travelDates', CASE WHEN dates IS NULL THEN jsonb_strip_nulls(jsonb_build_object(
                               'earliestLeaveDate', r.earliest_leave_date, 'latestLeaveDate', r.latest_leave_date,
                               'exclusionDates', to_jsonb(r.exclusion_dates))) END,
            'departureAirports', to_jsonb(departure_airports),
            'destination', r.destination,
            'constraints', coalesce(r.constraints, '{"refundableOnly": false}'),
            'notes', (hublink.unsealed(r)).notes)));
END;
$$;
COMMENT ON FUNCTION hublink.request_travel_quotes(text, text[]) IS
    'Sends the travel quote request (4.3): for an escorted removal with the dates of the '
    'current escort quotes, for an unescorted one with the removal''s dates; the travel risk '
    'assessment subset of each returnee. Also the re-quote of 4.5. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.request_travel_quotes(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_travel_quotes(text, text[]) TO hublink_caseworker;

CREATE FUNCTION hublink.removal_quotes(removal_reference text)
    RETURNS TABLE (rank bigint, travel_quote_reference text, escort_quote_reference text,
                   escort_date date, departs_at timestamptz, travel_amount numeric,
                   escort_amount numeric, total_amount numeric, expected_total numeric,
                   currency char(3), refundable boolean, expires_at timestamptz)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        -- Best value is the expected cost (issue 5): the TSP's expected cost when it states
        -- one, else its price, plus the escort quote.
        SELECT rank() OVER (ORDER BY coalesce(t.expected_amount, t.total_amount) + coalesce(e.total_amount, 0),
                                     (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                                       WHERE s.travel_quote_id = t.travel_quote_id)),
               t.travel_quote_reference, t.escort_quote_reference, e.escort_date,
               (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                 WHERE s.travel_quote_id = t.travel_quote_id AND s.current),
               t.total_amount, e.total_amount, t.total_amount + coalesce(e.total_amount, 0),
               coalesce(t.expected_amount, t.total_amount) + coalesce(e.total_amount, 0), t.currency,
               t.refundable, t.expires_at
          FROM hublink.removal r
          JOIN hublink.travel_quote t ON t.removal_id = r.removal_id AND NOT t.superseded
          LEFT JOIN hublink.escort_quote e ON e.removal_id = r.removal_id
                                          AND e.escort_quote_reference = t.escort_quote_reference
         WHERE r.removal_reference = removal_quotes.removal_reference
           AND (t.expires_at IS NULL OR t.expires_at > now())
           AND (t.escort_quote_reference IS NULL OR NOT e.superseded)
           AND (e.currency IS NULL OR e.currency = t.currency)
         ORDER BY 1, 2;
    END;
COMMENT ON FUNCTION hublink.removal_quotes(text) IS
    'The quotes that can be booked, travel quotes joined to their escort quote, ranked by best '
    'value: lowest expected total (the TSP''s expected cost, which prices in the chance of a '
    'cancellation and the fare''s refund rules, else its price; plus the escort quote), then '
    'earliest departure. Superseded and expired quotes are left out.';

CREATE FUNCTION hublink.choose_quote(removal_reference text, travel_quote_reference text,
                                     notes text DEFAULT NULL)
    RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    q      hublink.travel_quote;
    sent   text[] := '{}';
    escorts jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO q FROM hublink.travel_quote t
     WHERE t.removal_id = r.removal_id AND t.travel_quote_reference = choose_quote.travel_quote_reference;
    IF NOT FOUND OR NOT EXISTS (SELECT FROM hublink.removal_quotes(removal_reference) x
                                 WHERE x.travel_quote_reference = choose_quote.travel_quote_reference) THEN
        RAISE EXCEPTION 'travel quote % cannot be booked for removal %', travel_quote_reference, removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'hublink.removal_quotes() lists the quotes that can be booked.';
    END IF;
    IF coalesce(r.escorted, false) AND r.escort_state IN ('quoted', 'declined') THEN
        sent := sent || hublink.send_message(hublink.new_message('EscortBookingRequest', r.removal_reference,
            jsonb_build_object('escortQuoteReference', q.escort_quote_reference, 'command', 'BOOK',
                               'travelQuoteReference', q.travel_quote_reference, 'notes', notes)));
    END IF;
    SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'escortId', e.escort_id, 'escortNumber', e.escort_number,
               'name', hublink.person_name_json(p.title, p.given_names, p.family_name),
               'specialMeal', e.special_meal)) ORDER BY e.escort_number)
      INTO escorts
      FROM hublink.escort_person e CROSS JOIN LATERAL hublink.escort_personal_of(e.escort_person_id) p
     WHERE e.removal_id = r.removal_id AND e.active AND e.escort_number IS NOT NULL;
    sent := sent || hublink.send_message(hublink.new_message('TravelBookingRequest', r.removal_reference,
        jsonb_build_object('travelQuoteReference', q.travel_quote_reference, 'command', 'BOOK',
                           'escorts', escorts, 'notes', notes)));
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.choose_quote(text, text, text) IS
    'Books the chosen travel quote (4.5, 4.7): sends the escort booking request for its escort '
    'quote (escorted removals, unless the escort is already booked) and the travel booking '
    'request (with the escorts named so far; later names follow in a travel amendment). '
    'Returns the messageIds sent.';
REVOKE ALL ON FUNCTION hublink.choose_quote(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.choose_quote(text, text, text) TO hublink_caseworker;

CREATE FUNCTION hublink.requote(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    PERFORM hublink.profile_risk(removal_reference);
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = r.removal_id;
    IF coalesce(r.escorted, false) THEN
        RETURN hublink.request_escort_quotes(removal_reference);
    END IF;
    RETURN hublink.request_travel_quotes(removal_reference);
END;
$$;
COMMENT ON FUNCTION hublink.requote(text) IS
    'Re-quote before booking (Appendix A 4.5) after the returnee''s details or risk changed: '
    'profiles the risk again and goes back to message 1 (escort quote request) for an escorted '
    'removal, or to message 3 for an unescorted one; earlier quotes are superseded. Returns the '
    'messageId.';
REVOKE ALL ON FUNCTION hublink.requote(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.requote(text) TO hublink_caseworker;

CREATE FUNCTION hublink.booked_reference(r hublink.removal, booking text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE booking
        WHEN 'escort' THEN (SELECT k.escort_quote_reference FROM hublink.escort_booking k
                             WHERE k.removal_id = r.removal_id ORDER BY k.outcome = 'ACCEPTED' DESC NULLS LAST,
                                   k.escort_booking_id DESC LIMIT 1)
        ELSE (SELECT k.travel_quote_reference FROM hublink.travel_booking k
               WHERE k.removal_id = r.removal_id ORDER BY k.outcome = 'ACCEPTED' DESC NULLS LAST,
                     k.travel_booking_id DESC LIMIT 1)
    END;
COMMENT ON FUNCTION hublink.booked_reference(hublink.removal, text) IS
    'The quote reference of the removal''s (latest, preferably confirmed) escort or travel booking.';

CREATE FUNCTION hublink.amend_escort(removal_reference text, changes jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    RETURN hublink.send_message(hublink.new_message('EscortAmendment', r.removal_reference,
        jsonb_build_object('escortQuoteReference', hublink.booked_reference(r, 'escort')) || changes));
END;
$$;
COMMENT ON FUNCTION hublink.amend_escort(text, jsonb) IS
    'Sends an escort amendment (4.9) for the booked escort quote; changes is the rest of the '
    'body ({segmentChanges, returneeChanges, other}), reasons from the change list.';
REVOKE ALL ON FUNCTION hublink.amend_escort(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_escort(text, jsonb) TO hublink_caseworker;

CREATE FUNCTION hublink.amend_travel(removal_reference text, changes jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    RETURN hublink.send_message(hublink.new_message('TravelAmendment', r.removal_reference,
        jsonb_strip_nulls(jsonb_build_object('travelQuoteReference', hublink.booked_reference(r, 'travel'),
                                             'escortQuoteReference', hublink.booked_reference(r, 'escort')))
        || changes));
END;
$$;
COMMENT ON FUNCTION hublink.amend_travel(text, jsonb) IS
    'Sends a travel amendment (4.11) for the booked travel quote; changes is the rest of the '
    'body ({passengerUpdates, itineraryChanges, other}), reasons from the change list.';
REVOKE ALL ON FUNCTION hublink.amend_travel(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_travel(text, jsonb) TO hublink_caseworker;

CREATE FUNCTION hublink.cancel_removal(removal_reference text, reason_code text,
                                       reason_text text DEFAULT NULL,
                                       retain_for_reuse boolean DEFAULT NULL)
    RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    reason jsonb := jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', reason_text));
    ref    text;
    sent   text[] := '{}';
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF NOT hublink.reason_code_valid('cancellation', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the cancellation list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''cancellation'' AND active.';
    END IF;
    ref := coalesce(hublink.booked_reference(r, 'travel'),
                    (SELECT max(q.travel_quote_reference) FROM hublink.travel_quote q
                      WHERE q.removal_id = r.removal_id AND NOT q.superseded));
    IF r.travel_state NOT IN ('none', 'cancelled', 'completed') AND ref IS NOT NULL THEN
        sent := sent || hublink.send_message(hublink.new_message('TravelCancellation', r.removal_reference,
            jsonb_build_object('travelQuoteReference', ref, 'command', 'CANCEL',
                               'retainForReuse', retain_for_reuse, 'reason', reason)));
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = r.removal_id;
    ref := coalesce(hublink.booked_reference(r, 'escort'),
                    (SELECT max(q.escort_quote_reference) FROM hublink.escort_quote q
                      WHERE q.removal_id = r.removal_id AND NOT q.superseded));
    IF r.escort_state NOT IN ('none', 'cancelled', 'completed', 'unsuccessful') AND ref IS NOT NULL THEN
        sent := sent || hublink.send_message(hublink.new_message('EscortCancellation', r.removal_reference,
            jsonb_build_object('escortQuoteReference', ref, 'command', 'CANCEL', 'reason', reason)));
    END IF;
    IF cardinality(sent) = 0 THEN
        RAISE EXCEPTION 'removal % has nothing to cancel', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The removal is %s, the escort booking %s, the travel booking %s; '
                                  'a cancellation names a quote, and none was issued yet.',
                                  r.state, r.escort_state, r.travel_state);
    END IF;
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_removal(text, text, text, boolean) IS
    'Cancels a removal, before or after booking (4.13, 4.14, 4.20): sends the travel '
    'cancellation and the escort cancellation for whatever is quoted or booked, with a reason '
    'from the cancellation list. Returns the messageIds sent.';
REVOKE ALL ON FUNCTION hublink.cancel_removal(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_removal(text, text, text, boolean) TO hublink_caseworker;

CREATE FUNCTION hublink.cancel_booking(removal_reference text, booking text, reason_code text,
                                       reason_text text DEFAULT NULL,
                                       retain_for_reuse boolean DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    reason jsonb := jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', reason_text));
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF booking = 'travel' THEN
        RETURN hublink.send_message(hublink.new_message('TravelCancellation', r.removal_reference,
            jsonb_build_object('travelQuoteReference', hublink.booked_reference(r, 'travel'), 'command', 'CANCEL',
                               'retainForReuse', retain_for_reuse, 'reason', reason)));
    ELSIF booking = 'escort' THEN
        RETURN hublink.send_message(hublink.new_message('EscortCancellation', r.removal_reference,
            jsonb_build_object('escortQuoteReference', hublink.booked_reference(r, 'escort'), 'command', 'CANCEL',
                               'reason', reason)));
    END IF;
    RAISE EXCEPTION 'booking must be escort or travel, not "%"', booking USING ERRCODE = 'invalid_parameter_value';
END;
$$;
COMMENT ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) IS
    'Cancels one booking of a removal (escort or travel), e.g. the travel after an unsuccessful '
    'escorting. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) TO hublink_caseworker;

CREATE FUNCTION hublink.search_removals(case_reference text DEFAULT NULL, returnee_name text DEFAULT NULL)
    RETURNS TABLE (removal_reference text, case_reference text, state text, escort_state text,
                   travel_state text, returnees text, created_at timestamptz, updated_at timestamptz)
    LANGUAGE sql VOLATILE -- it decrypts names, and each decryption is audited
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT r.removal_reference, r.case_reference, r.state, r.escort_state, r.travel_state,
               (SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                                  ', ' ORDER BY t.returnee_id)
                  FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                 WHERE t.removal_id = r.removal_id),
               r.created_at, r.updated_at
          FROM hublink.removal r
         WHERE (search_removals.case_reference IS NULL OR r.case_reference = search_removals.case_reference)
           AND (search_removals.returnee_name IS NULL OR EXISTS (
                    SELECT FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                     WHERE t.removal_id = r.removal_id
                       AND (p.given_names || ' ' || p.family_name) ILIKE
                           '%' || replace(replace(replace(search_removals.returnee_name, '\', '\\'), '%', '\%'), '_', '\_') || '%'))
         ORDER BY r.created_at DESC, r.removal_id DESC;
    END;
COMMENT ON FUNCTION hublink.search_removals(text, text) IS
    'Search (Appendix B 4.19) by case reference and/or part of a returnee''s name (case '
    'insensitive): the removals with their states and returnees, newest first.';

CREATE VIEW hublink.removal_history AS
SELECT r.removal_reference, s.state_transition_id, s.machine, s.from_state, s.to_state, s.event,
       s.direction, s.party, s.message_id, s.at
  FROM hublink.state_transition s JOIN hublink.removal r USING (removal_id);
COMMENT ON VIEW hublink.removal_history IS 'Every transition of every removal, with its message (the activity of a case, 4.19).';
COMMENT ON COLUMN hublink.removal_history.removal_reference IS 'The removal.';
COMMENT ON COLUMN hublink.removal_history.state_transition_id IS 'Order.';
COMMENT ON COLUMN hublink.removal_history.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.removal_history.from_state IS 'State before.';
COMMENT ON COLUMN hublink.removal_history.to_state IS 'State after.';
COMMENT ON COLUMN hublink.removal_history.event IS 'The event.';
COMMENT ON COLUMN hublink.removal_history.direction IS 'in, out or local.';
COMMENT ON COLUMN hublink.removal_history.party IS 'The party that recorded it.';
COMMENT ON COLUMN hublink.removal_history.message_id IS 'The message.';
COMMENT ON COLUMN hublink.removal_history.at IS 'When.';

-- from sql/parts/45_reference_lists.sql
-- Announcing the reason-code lists (issue 4, section 1; Schedule R Appendix B 4.17: "the
-- system administrator role will have the ability to edit these lists of options which will
-- prompt communication to the Travel Service Provider of the new data").
--
-- Appendix A has no message for it, so two are added, one per receiving provider (each queue
-- has one consumer): TravelReferenceListUpdate (hub -> tsp) and EscortReferenceListUpdate
-- (hub -> esp). Each carries the full state of one list with a sequence number, so a provider
-- that missed one converges on the next. They belong to no removal (no removalId) and are
-- not part of a conversation: their handler is hublink.apply_reference_list, never
-- hublink.handle_message (this file runs after 43_conversation.sql, whose UPDATE of the
-- handlers therefore does not reach them).
--
-- At the Hub a deferred constraint trigger on hublink.reason_code sends, at commit, one
-- message per changed list and provider through hublink.send() (the transactional outbox).
-- At a provider an admin's edit of its local copy is recorded and NOTIFYed (42) but not sent.

INSERT INTO hublink.message_type VALUES
    ('EscortReferenceListUpdate', 'escort-reference-list-update', 'escort-reference-list-update', 'hub', 'esp', 'B 4.17'),
    ('TravelReferenceListUpdate', 'travel-reference-list-update', 'travel-reference-list-update', 'hub', 'tsp', 'B 4.17');

-- Each list's state as last announced (at the Hub) or last applied (at a provider).
CREATE TABLE hublink.reference_list_state (
    list        text PRIMARY KEY,
    description text,
    sequence    bigint NOT NULL CHECK (sequence >= 0),
    codes       jsonb NOT NULL CHECK (jsonb_typeof(codes) = 'array'),
    changed_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    message_id  text
);
COMMENT ON TABLE hublink.reference_list_state IS
    'Per reason-code list, the version exchanged with the other parties (Appendix B 4.17). At '
    'the Hub: the state last announced in a Travel/EscortReferenceListUpdate; an edit that '
    'leaves the list as announced sends nothing. At a provider: the state last applied from '
    'the Hub; an announcement with a sequence not higher than this one is ignored.';
COMMENT ON COLUMN hublink.reference_list_state.list IS 'The reason list.';
COMMENT ON COLUMN hublink.reference_list_state.description IS 'The list''s description as announced.';
COMMENT ON COLUMN hublink.reference_list_state.sequence IS 'The body''s sequence: 1 for the first announcement of the list, then one more each time.';
COMMENT ON COLUMN hublink.reference_list_state.codes IS 'The body''s codes: [{code, text, active}] in code order.';
COMMENT ON COLUMN hublink.reference_list_state.changed_at IS 'The body''s changedAt: when the change was made at the Hub.';
COMMENT ON COLUMN hublink.reference_list_state.recorded_at IS 'When this party announced (Hub) or applied (provider) it.';
COMMENT ON COLUMN hublink.reference_list_state.message_id IS 'At a provider, the messageId applied; NULL at the Hub (one message per provider).';
SELECT pg_catalog.pg_extension_config_dump('hublink.reference_list_state', '');

-- The codes of a list as a message carries them.
CREATE FUNCTION hublink.reason_list_codes(list text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('code', c.code, 'text', c.description,
                                                         'active', c.active) ORDER BY c.code), '[]')
              FROM hublink.reason_code c WHERE c.list = reason_list_codes.list);
COMMENT ON FUNCTION hublink.reason_list_codes(text) IS
    'The codes of a reason list as a reference-list update carries them: [{code, text, active}] in code order.';

CREATE FUNCTION hublink.announce_reason_list(list text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_codes       jsonb := hublink.reason_list_codes(announce_reason_list.list);
    v_description text;
    v_state       hublink.reference_list_state;
    v_kind        hublink.message_type;
    v_sent        integer := 0;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN 0;
    END IF;
    SELECT l.description INTO v_description FROM hublink.reason_list l
     WHERE l.list = announce_reason_list.list;
    IF NOT FOUND THEN
        RETURN 0;  -- the list itself is gone (renamed: its new name is announced)
    END IF;
    INSERT INTO hublink.reference_list_state (list, description, sequence, codes, changed_at)
    VALUES (announce_reason_list.list, NULL, 0, '[]', now())
    ON CONFLICT ON CONSTRAINT reference_list_state_pkey DO NOTHING;
    SELECT * INTO v_state FROM hublink.reference_list_state s
     WHERE s.list = announce_reason_list.list FOR UPDATE;
    IF v_state.sequence > 0 AND v_state.codes = v_codes AND v_state.description = v_description THEN
        RETURN 0;  -- as announced already (another row of the same change, or no visible change)
    END IF;
    UPDATE hublink.reference_list_state s
       SET description = v_description, sequence = s.sequence + 1, codes = v_codes,
           changed_at = now(), recorded_at = now()
     WHERE s.list = announce_reason_list.list
    RETURNING * INTO v_state;
    FOR v_kind IN SELECT * FROM hublink.message_type t
                   WHERE t.appendix_section = 'B 4.17' AND t.sender_party = 'hub'
                   ORDER BY t.message_type LOOP
        -- A reference list belongs to no removal: the envelope has no removalId.
        PERFORM hublink.send(hublink.new_message(v_kind.message_type, NULL, jsonb_build_object(
            'list', v_state.list,
            'description', v_state.description,
            'sequence', v_state.sequence,
            'changedAt', to_char(v_state.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
            'codes', v_state.codes)) - 'removalId');
        v_sent := v_sent + 1;
    END LOOP;
    RETURN v_sent;
END;
$$;
COMMENT ON FUNCTION hublink.announce_reason_list(text) IS
    'At the Hub: when the reason list differs from what was last announced, raises its sequence '
    'and sends its full state to every provider (TravelReferenceListUpdate to the TSP, '
    'EscortReferenceListUpdate to the ESP) through hublink.send(), in the caller''s transaction. '
    'Returns the number of messages written to the outbox (0 when nothing changed, or at a '
    'provider). Called by the trigger reason_code_publish; an admin may call it to re-send.';
REVOKE ALL ON FUNCTION hublink.announce_reason_list(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.announce_reason_list(text) TO hublink_admin;

CREATE FUNCTION hublink.publish_reason_list_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM hublink.announce_reason_list(NEW.list);
    END IF;
    IF TG_OP = 'DELETE' OR OLD.list IS DISTINCT FROM NEW.list THEN
        PERFORM hublink.announce_reason_list(OLD.list);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.publish_reason_list_change() IS
    'Deferred row trigger on hublink.reason_code: at the Hub, announces the list(s) the row '
    'belongs to with hublink.announce_reason_list (the first row of a transaction sends the '
    'final state, the others find it announced). Does nothing at a provider.';

CREATE CONSTRAINT TRIGGER reason_code_publish
    AFTER INSERT OR UPDATE OR DELETE ON hublink.reason_code
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION hublink.publish_reason_list_change();
COMMENT ON TRIGGER reason_code_publish ON hublink.reason_code IS
    'At the Hub, sends the changed lists to the providers at commit: one message per list and '
    'provider per transaction, with the list''s final state (Appendix B 4.17).';

-- At a provider: apply an announcement.
CREATE FUNCTION hublink.apply_reference_list(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body     jsonb := message -> 'body';
    lst      text := body ->> 'list';
    seq      bigint := (body ->> 'sequence')::bigint;
    state    hublink.reference_list_state;
BEGIN
    INSERT INTO hublink.reference_list_state (list, sequence, codes, changed_at)
    VALUES (lst, 0, '[]', '-infinity')
    ON CONFLICT ON CONSTRAINT reference_list_state_pkey DO NOTHING;
    SELECT * INTO state FROM hublink.reference_list_state s WHERE s.list = lst FOR UPDATE;
    IF state.sequence >= seq THEN
        RAISE LOG 'hublink: ignored % of reason list "%" with sequence %: sequence % is applied',
            message ->> 'messageType', lst, seq, state.sequence;
        RETURN;
    END IF;
    INSERT INTO hublink.reason_list AS l (list, description) VALUES (lst, body ->> 'description')
    ON CONFLICT (list) DO UPDATE SET description = excluded.description
     WHERE l.description IS DISTINCT FROM excluded.description;
    DELETE FROM hublink.reason_code c
     WHERE c.list = lst
       AND c.code NOT IN (SELECT x ->> 'code' FROM jsonb_array_elements(body -> 'codes') x);
    INSERT INTO hublink.reason_code AS c (list, code, description, active, changed_at, changed_by)
    SELECT lst, x ->> 'code', x ->> 'text', (x ->> 'active')::boolean,
           (body ->> 'changedAt')::timestamptz, message ->> 'sender'
      FROM jsonb_array_elements(body -> 'codes') x
    ON CONFLICT (list, code) DO UPDATE
       SET description = excluded.description, active = excluded.active,
           changed_at = excluded.changed_at, changed_by = excluded.changed_by
     WHERE (c.description, c.active) IS DISTINCT FROM (excluded.description, excluded.active);
    UPDATE hublink.reference_list_state s
       SET description = body ->> 'description', sequence = seq, codes = body -> 'codes',
           changed_at = (body ->> 'changedAt')::timestamptz, recorded_at = now(),
           message_id = message ->> 'messageId'
     WHERE s.list = lst;
END;
$$;
COMMENT ON FUNCTION hublink.apply_reference_list(jsonb) IS
    'The handler of TravelReferenceListUpdate and EscortReferenceListUpdate at a provider: '
    'replaces the local reason list with the full state received (codes not in the message are '
    'deleted, the others inserted or updated), unless the list already holds this sequence or a '
    'later one, in which case the message changes nothing. Outside the removal state machine.';
REVOKE ALL ON FUNCTION hublink.apply_reference_list(jsonb) FROM PUBLIC;

INSERT INTO hublink.message_handler
SELECT t.message_type, 'hublink.apply_reference_list(jsonb)'::regprocedure,
       'Replace the local reason list with the Hub''s (Appendix B 4.17); not part of a conversation.'
  FROM hublink.message_type t
 WHERE t.appendix_section = 'B 4.17';

-- from sql/parts/46_alerts.sql
-- Alerts (docs/alerts.md): what needs a person's attention, from the workflow timers (a
-- quote request unanswered past its SLA, a refund deadline near) and from protective
-- monitoring (failed logons, role changes, attempts on the audit store). Every alert is a row
-- of hublink.alert and a NOTIFY on channel hublink_alert, whose payload is the row as JSON
-- with no personal data, so a monitoring tool can LISTEN instead of polling.

CREATE TABLE hublink.alert_severity (
    severity    text PRIMARY KEY,
    rank        smallint NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE hublink.alert_severity IS 'The severities an alert may have, ranked (reference data).';
COMMENT ON COLUMN hublink.alert_severity.severity IS 'Name of the severity.';
COMMENT ON COLUMN hublink.alert_severity.rank IS 'Higher is more severe.';
COMMENT ON COLUMN hublink.alert_severity.description IS 'What the severity means for the person on duty.';
INSERT INTO hublink.alert_severity VALUES
    ('info', 1, 'For the record; nothing to do.'),
    ('warning', 2, 'Needs attention today.'),
    ('critical', 3, 'Needs attention now: money or a removal is at risk, or the system may be under attack.');

CREATE TABLE hublink.alert_kind (
    kind             text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    default_severity text NOT NULL REFERENCES hublink.alert_severity,
    source           text NOT NULL,
    description      text NOT NULL
);
COMMENT ON TABLE hublink.alert_kind IS
    'The kinds of alert, each with its default severity (reference data, one row per kind, '
    'added by the parts of hublink that raise them).';
COMMENT ON COLUMN hublink.alert_kind.kind IS 'Name of the kind (lower case, underscores).';
COMMENT ON COLUMN hublink.alert_kind.default_severity IS 'Severity of an alert of this kind unless its raiser says otherwise.';
COMMENT ON COLUMN hublink.alert_kind.source IS 'What raises it: timers, monitoring, worker.';
COMMENT ON COLUMN hublink.alert_kind.description IS 'When it is raised and what to do about it.';

CREATE TABLE hublink.alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL REFERENCES hublink.alert_kind,
    severity        text NOT NULL REFERENCES hublink.alert_severity,
    removal_id      bigint REFERENCES hublink.removal ON DELETE SET NULL,
    subject         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    due_at          timestamptz,
    raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    raised_by       text NOT NULL DEFAULT session_user,
    acknowledged_at timestamptz,
    acknowledged_by text,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
COMMENT ON TABLE hublink.alert IS
    'Alerts raised by hublink (timers, protective monitoring), newest last. Never holds '
    'personal data: it names removals by id and logins by role name.';
COMMENT ON COLUMN hublink.alert.alert_id IS 'Key, increasing: a monitoring tool may read alerts after the last id it saw.';
COMMENT ON COLUMN hublink.alert.kind IS 'What happened (hublink.alert_kind).';
COMMENT ON COLUMN hublink.alert.severity IS 'How urgent (hublink.alert_severity).';
COMMENT ON COLUMN hublink.alert.removal_id IS 'The removal it concerns, if any.';
COMMENT ON COLUMN hublink.alert.subject IS 'One line for a person: what happened and to what.';
COMMENT ON COLUMN hublink.alert.detail IS 'Facts as JSON for tools (ids, counts, role names), never personal data.';
COMMENT ON COLUMN hublink.alert.due_at IS 'For timer alerts, when the timer was due; raised_at - due_at is its lateness.';
COMMENT ON COLUMN hublink.alert.raised_at IS 'When the alert was raised.';
COMMENT ON COLUMN hublink.alert.raised_by IS 'The session user that raised it (the worker raises as hublink.worker_role, hublink_worker by default).';
COMMENT ON COLUMN hublink.alert.acknowledged_at IS 'When a person acknowledged it (hublink.acknowledge_alert).';
COMMENT ON COLUMN hublink.alert.acknowledged_by IS 'Who acknowledged it.';
CREATE INDEX alert_open ON hublink.alert (raised_at) WHERE acknowledged_at IS NULL;
CREATE INDEX alert_removal ON hublink.alert (removal_id) WHERE removal_id IS NOT NULL;

CREATE FUNCTION hublink.raise_alert(p_kind text, p_subject text, p_removal_id bigint DEFAULT NULL,
                                    p_detail jsonb DEFAULT '{}', p_severity text DEFAULT NULL,
                                    p_due_at timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a hublink.alert;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hublink.alert_kind WHERE kind = p_kind) THEN
        RAISE EXCEPTION 'unknown alert kind "%"', p_kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every alert has a kind listed in hublink.alert_kind.',
                  HINT = 'Add the kind to hublink.alert_kind first.';
    END IF;
    INSERT INTO hublink.alert (kind, severity, removal_id, subject, detail, due_at)
    VALUES (p_kind,
            coalesce(p_severity, (SELECT default_severity FROM hublink.alert_kind WHERE kind = p_kind)),
            p_removal_id, p_subject, coalesce(p_detail, '{}'), p_due_at)
    RETURNING * INTO a;
    PERFORM pg_notify('hublink_alert',
                      jsonb_build_object('alert_id', a.alert_id, 'kind', a.kind, 'severity', a.severity,
                                         'removal_id', a.removal_id, 'subject', left(a.subject, 200),
                                         'due_at', a.due_at, 'raised_at', a.raised_at)::text);
    RETURN a.alert_id;
END;
$$;
COMMENT ON FUNCTION hublink.raise_alert(text, text, bigint, jsonb, text, timestamptz) IS
    'Raises an alert: a row of hublink.alert and, at commit, NOTIFY hublink_alert with the row '
    '(without detail) as JSON. The severity defaults to the kind''s. Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.raise_alert(text, text, bigint, jsonb, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.acknowledge_alert(p_alert_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.alert SET acknowledged_at = clock_timestamp(), acknowledged_by = session_user
     WHERE alert_id = p_alert_id AND acknowledged_at IS NULL;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM hublink.alert WHERE alert_id = p_alert_id) THEN
        RAISE EXCEPTION 'no alert %', p_alert_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'hublink.alert has no row with that alert_id.',
                  HINT = 'SELECT alert_id, subject FROM hublink.alert WHERE acknowledged_at IS NULL lists the open alerts.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.acknowledge_alert(bigint) IS
    'Marks an alert as seen by the session user; acknowledging twice keeps the first.';
REVOKE ALL ON FUNCTION hublink.acknowledge_alert(bigint) FROM PUBLIC;

-- from sql/parts/50_tsp_reference.sql
-- Travel provider (tsp), issue 5 section 1: reference data (countries, airports, airlines,
-- traveller types) and the provider's settings. Rows, loaded from OpenFlights by
-- hublink.tsp_load_reference() or edited by hublink_admin; nothing here is a constant in code.

CREATE TABLE hublink.tsp_country (
    iso2 char(2) PRIMARY KEY CHECK (iso2 ~ '^[A-Z]{2}$'),
    iso3 char(3) UNIQUE CHECK (iso3 ~ '^[A-Z]{3}$'),
    name text NOT NULL UNIQUE
);
COMMENT ON TABLE hublink.tsp_country IS
    'Countries the travel provider knows (OpenFlights countries.dat, with the ISO 3166-1 alpha-3 '
    'code the messages use, from the iso-codes package when the loader is given it).';
COMMENT ON COLUMN hublink.tsp_country.iso2 IS 'ISO 3166-1 alpha-2 code, e.g. NG.';
COMMENT ON COLUMN hublink.tsp_country.iso3 IS 'ISO 3166-1 alpha-3 code as in messages, e.g. NGA; NULL when unknown.';
COMMENT ON COLUMN hublink.tsp_country.name IS 'Country name as OpenFlights spells it (airports refer to it by name).';

CREATE TABLE hublink.tsp_airport (
    iata     char(3) PRIMARY KEY CHECK (iata ~ '^[A-Z]{3}$'),
    name     text NOT NULL,
    city     text,
    country  char(2) REFERENCES hublink.tsp_country,
    tz       text NOT NULL,
    latitude  double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180)
);
COMMENT ON TABLE hublink.tsp_airport IS
    'Airports by IATA code with their IANA time zone: local times in messages carry the offset '
    'of this zone at that instant.';
COMMENT ON COLUMN hublink.tsp_airport.iata IS 'IATA location code, e.g. LHR.';
COMMENT ON COLUMN hublink.tsp_airport.name IS 'Airport name, e.g. London Heathrow Airport.';
COMMENT ON COLUMN hublink.tsp_airport.city IS 'City served.';
COMMENT ON COLUMN hublink.tsp_airport.country IS 'Country (ISO alpha-2); NULL when OpenFlights names a country it does not list.';
COMMENT ON COLUMN hublink.tsp_airport.tz IS 'IANA time zone name, e.g. Europe/London; checked against pg_timezone_names on load.';
COMMENT ON COLUMN hublink.tsp_airport.latitude IS 'Latitude in degrees (great-circle distances in the generator).';
COMMENT ON COLUMN hublink.tsp_airport.longitude IS 'Longitude in degrees.';

CREATE TABLE hublink.tsp_airline (
    iata          char(2) PRIMARY KEY CHECK (iata ~ '^[A-Z0-9]{2}$'),
    icao          char(3) CHECK (icao ~ '^[A-Z]{3}$'),
    name          text NOT NULL,
    ticket_prefix char(3) NOT NULL CHECK (ticket_prefix ~ '^[0-9]{3}$')
);
COMMENT ON TABLE hublink.tsp_airline IS
    'Airlines by IATA designator, with the three-digit ticketing prefix that starts their '
    'e-ticket numbers.';
COMMENT ON COLUMN hublink.tsp_airline.iata IS 'IATA designator, e.g. BA.';
COMMENT ON COLUMN hublink.tsp_airline.icao IS 'ICAO designator, e.g. BAW.';
COMMENT ON COLUMN hublink.tsp_airline.name IS 'Airline name, the providerName of its segments.';
COMMENT ON COLUMN hublink.tsp_airline.ticket_prefix IS
    'Three-digit IATA accounting (ticketing) prefix, e.g. 125 for BA. OpenFlights has none, so '
    'the loader derives a synthetic, stable one (hublink.tsp_synthetic_ticket_prefix); an admin '
    'may set the real one.';

CREATE FUNCTION hublink.tsp_synthetic_ticket_prefix(iata text) RETURNS char(3)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN lpad((100 + ('x' || substr(md5(iata), 1, 8))::bit(32)::bigint % 900)::text, 3, '0');
COMMENT ON FUNCTION hublink.tsp_synthetic_ticket_prefix(text) IS
    'A synthetic ticketing prefix 100-999 from the md5 of the designator: the same designator '
    'always gets the same prefix, on every load and every server (hashtext() is not stable across '
    'releases, md5 is). Prefixes may collide; ticket numbers stay unique by their serial.';

CREATE TABLE hublink.tsp_traveller_type (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{1,19}$'),
    fallback    text REFERENCES hublink.tsp_traveller_type,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_traveller_type IS
    'Traveller types fares are priced for. A fare without a price for a type uses the price of '
    'its fallback type.';
COMMENT ON COLUMN hublink.tsp_traveller_type.code IS 'Type code as in the fare price lists, e.g. RETURNEE.';
COMMENT ON COLUMN hublink.tsp_traveller_type.fallback IS 'Type whose price applies when a fare has none for this one.';
COMMENT ON COLUMN hublink.tsp_traveller_type.description IS 'Who travels at this price.';

INSERT INTO hublink.tsp_traveller_type (code, fallback, description) VALUES
    ('ADULT', NULL, 'An adult passenger at the public fare.'),
    ('RETURNEE', 'ADULT', 'A returnee (hoReturneeReference in messages), at the government fare when one is filed.'),
    ('ESCORT', 'ADULT', 'An escort officer or medic (escortNumber in messages).');

CREATE TABLE hublink.tsp_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_config IS
    'Settings of the travel provider engine, as rows an admin edits (no GUC, no rebuild).';
COMMENT ON COLUMN hublink.tsp_config.key IS 'Setting name.';
COMMENT ON COLUMN hublink.tsp_config.value IS 'Value as text, cast by hublink.tsp_setting() readers.';
COMMENT ON COLUMN hublink.tsp_config.description IS 'What it does and its unit.';

INSERT INTO hublink.tsp_config VALUES
    ('cancel_probability', '0.4', 'Probability that a planned removal is cancelled, for the expected cost of a quote (0..1).'),
    ('expected_cancel_hours_before', '72', 'When a cancellation is expected to happen, hours before the first departure; the refund rules are read at that time.'),
    ('default_min_connection_minutes', '90', 'Minimum connection time at an airport without a row in tsp_min_connection.'),
    ('max_connection_minutes', '720', 'Longest wait between two flights of a one-connection itinerary.'),
    ('quote_validity_minutes', '2880', 'How long a quote may be booked after it is issued (capped by the fares'' ticketing deadlines).'),
    ('quotes_per_date', '3', 'How many quotes to offer per date at most, best expected cost first.'),
    ('max_travel_dates', '14', 'Most dates of an unescorted travelDates range that are quoted.'),
    ('quote_reference_prefix', 'TSP-TQ-', 'Start of travel quote references.'),
    ('date_time_zone', 'Europe/London', 'Time zone in which escort and travel dates are UK calendar dates.');

CREATE FUNCTION hublink.tsp_setting(name text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT c.value INTO v FROM hublink.tsp_config c WHERE c.key = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tsp setting "%" is not defined', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Insert a row into hublink.tsp_config (docs/tsp.md lists the settings).';
    END IF;
    RETURN v;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_setting(text) IS
    'The value of a tsp_config row; an error names a missing one rather than guessing a default.';

CREATE FUNCTION hublink.tsp_local_time(at timestamptz, tz text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN to_char(at AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN (at AT TIME ZONE tz) < (at AT TIME ZONE 'UTC') THEN '-' ELSE '+' END
        || to_char(abs(extract(epoch FROM (at AT TIME ZONE tz) - (at AT TIME ZONE 'UTC')))
                   * interval '1 second', 'HH24:MI');
COMMENT ON FUNCTION hublink.tsp_local_time(timestamptz, text) IS
    'RFC 3339 local time of an instant in a time zone, with that zone''s offset at that instant, '
    'e.g. 2026-03-17T18:25:00+01:00 for Lagos: what itinerary segments carry.';

-- from sql/parts/51_tsp_inventory.sql
-- Travel provider (tsp), issue 5 section 1: the inventory. Flights with their seats; fares
-- with prices per traveller type, fees, ticketing deadline, baggage and refund rules.

CREATE TABLE hublink.tsp_flight (
    flight_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier              char(2) NOT NULL REFERENCES hublink.tsp_airline,
    flight_number        text NOT NULL CHECK (flight_number ~ '^[0-9]{1,4}[A-Z]?$'),
    origin               char(3) NOT NULL REFERENCES hublink.tsp_airport,
    destination          char(3) NOT NULL REFERENCES hublink.tsp_airport,
    departs_at           timestamptz NOT NULL,
    arrives_at           timestamptz NOT NULL,
    origin_terminal      text,
    destination_terminal text,
    seats_total          integer NOT NULL CHECK (seats_total BETWEEN 0 AND 1000),
    seats_sold           integer NOT NULL DEFAULT 0,
    status               text NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN ('SCHEDULED', 'CANCELLED')),
    CHECK (origin <> destination),
    CHECK (arrives_at > departs_at),
    CHECK (seats_sold BETWEEN 0 AND seats_total),
    UNIQUE (carrier, flight_number, departs_at)
);
COMMENT ON TABLE hublink.tsp_flight IS
    'One departure of a flight. Instants are timestamptz; the local times with offsets shown in '
    'messages come from the time zones of the origin and destination airports. seats_sold never '
    'exceeds seats_total (a CHECK, and bookings take seats with a conditional UPDATE).';
COMMENT ON COLUMN hublink.tsp_flight.flight_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_flight.carrier IS 'Marketing carrier, IATA designator.';
COMMENT ON COLUMN hublink.tsp_flight.flight_number IS 'Flight number without the designator, e.g. 75.';
COMMENT ON COLUMN hublink.tsp_flight.origin IS 'Departure airport.';
COMMENT ON COLUMN hublink.tsp_flight.destination IS 'Arrival airport.';
COMMENT ON COLUMN hublink.tsp_flight.departs_at IS 'Scheduled (or retimed) departure instant.';
COMMENT ON COLUMN hublink.tsp_flight.arrives_at IS 'Scheduled (or retimed) arrival instant.';
COMMENT ON COLUMN hublink.tsp_flight.origin_terminal IS 'Departure terminal, when known.';
COMMENT ON COLUMN hublink.tsp_flight.destination_terminal IS 'Arrival terminal, when known.';
COMMENT ON COLUMN hublink.tsp_flight.seats_total IS 'Seats the provider may sell on this departure.';
COMMENT ON COLUMN hublink.tsp_flight.seats_sold IS 'Seats already sold (booked and not cancelled).';
COMMENT ON COLUMN hublink.tsp_flight.status IS 'SCHEDULED, or CANCELLED by the carrier (hublink.tsp_flight_event).';

CREATE INDEX tsp_flight_origin_departs ON hublink.tsp_flight (origin, departs_at);
CREATE INDEX tsp_flight_destination_departs ON hublink.tsp_flight (destination, departs_at);
-- The second leg of a connection is looked up by both ends and a time window.
CREATE INDEX tsp_flight_route_departs ON hublink.tsp_flight (origin, destination, departs_at);

CREATE TABLE hublink.tsp_refund_rule_set (
    rule_set    text PRIMARY KEY CHECK (rule_set ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_refund_rule_set IS
    'A named set of refund rules that fares share (e.g. FLEX, SEMI, NONREF).';
COMMENT ON COLUMN hublink.tsp_refund_rule_set.rule_set IS 'Rule set code, as in fares.csv.';
COMMENT ON COLUMN hublink.tsp_refund_rule_set.description IS 'What the set means for the traveller.';

CREATE TABLE hublink.tsp_refund_rule (
    rule_set          text NOT NULL REFERENCES hublink.tsp_refund_rule_set ON UPDATE CASCADE ON DELETE CASCADE,
    from_hours_before integer NOT NULL CHECK (from_hours_before >= 0),
    refund_percent    numeric(5,2) CHECK (refund_percent BETWEEN 0 AND 100),
    refund_amount     numeric(14,2) CHECK (refund_amount >= 0),
    PRIMARY KEY (rule_set, from_hours_before),
    CHECK ((refund_percent IS NULL) <> (refund_amount IS NULL))
);
COMMENT ON TABLE hublink.tsp_refund_rule IS
    'Refund by time before departure: a ticket cancelled at least from_hours_before hours before '
    'its first departure gets the rule with the largest such from_hours_before; none means no '
    'refund. The refund is a percentage of the ticket price or a fixed amount per ticket (capped '
    'at the price), less the fare''s cancellation fee, never below zero.';
COMMENT ON COLUMN hublink.tsp_refund_rule.rule_set IS 'The rule set.';
COMMENT ON COLUMN hublink.tsp_refund_rule.from_hours_before IS 'Applies when cancelling at least this many hours before departure.';
COMMENT ON COLUMN hublink.tsp_refund_rule.refund_percent IS 'Refund as a percentage of the ticket price (or NULL).';
COMMENT ON COLUMN hublink.tsp_refund_rule.refund_amount IS 'Refund as a fixed amount per ticket in the fare currency (or NULL).';

CREATE TABLE hublink.tsp_fare (
    fare_id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flight_id                bigint NOT NULL REFERENCES hublink.tsp_flight ON DELETE CASCADE,
    fare_class               text NOT NULL CHECK (fare_class ~ '^[A-Z][A-Z0-9]{0,7}$'),
    currency                 char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    refundable               boolean NOT NULL,
    refund_rule_set          text NOT NULL REFERENCES hublink.tsp_refund_rule_set ON UPDATE CASCADE,
    change_fee               numeric(14,2) NOT NULL CHECK (change_fee >= 0),
    cancellation_fee         numeric(14,2) NOT NULL CHECK (cancellation_fee >= 0),
    ticketing_deadline_hours integer NOT NULL CHECK (ticketing_deadline_hours >= 0),
    hand_baggage_only        boolean NOT NULL DEFAULT false,
    baggage_kg               integer CHECK (baggage_kg >= 0),
    available                boolean NOT NULL DEFAULT true,
    UNIQUE (flight_id, fare_class)
);
COMMENT ON TABLE hublink.tsp_fare IS 'A fare on one flight: class, currency, conditions and fees.';
COMMENT ON COLUMN hublink.tsp_fare.fare_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_fare.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_fare.fare_class IS 'Fare class or basis, e.g. Y, M, GOVFLEX.';
COMMENT ON COLUMN hublink.tsp_fare.currency IS 'ISO 4217 currency of all its amounts.';
COMMENT ON COLUMN hublink.tsp_fare.refundable IS 'False for a non-refundable fare (its rule set should then refund nothing).';
COMMENT ON COLUMN hublink.tsp_fare.refund_rule_set IS 'Refund rules by time before departure.';
COMMENT ON COLUMN hublink.tsp_fare.change_fee IS 'Fee per ticket for a change of name, date or flight.';
COMMENT ON COLUMN hublink.tsp_fare.cancellation_fee IS 'Fee per ticket deducted from any refund on cancellation.';
COMMENT ON COLUMN hublink.tsp_fare.ticketing_deadline_hours IS 'Tickets must be issued at least this many hours before departure; a quote expires by then.';
COMMENT ON COLUMN hublink.tsp_fare.hand_baggage_only IS 'True for a hand-baggage-only fare.';
COMMENT ON COLUMN hublink.tsp_fare.baggage_kg IS 'Checked baggage allowance in kg, when any.';
COMMENT ON COLUMN hublink.tsp_fare.available IS 'False once the carrier withdraws the fare (bookings on it are declined FARE_UNAVAILABLE).';

CREATE TABLE hublink.tsp_fare_price (
    fare_id        bigint NOT NULL REFERENCES hublink.tsp_fare ON DELETE CASCADE,
    traveller_type text NOT NULL REFERENCES hublink.tsp_traveller_type ON UPDATE CASCADE,
    amount         numeric(14,2) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (fare_id, traveller_type)
);
COMMENT ON TABLE hublink.tsp_fare_price IS 'Price of a fare per traveller type, taxes and fees included, in the fare currency.';
COMMENT ON COLUMN hublink.tsp_fare_price.fare_id IS 'The fare.';
COMMENT ON COLUMN hublink.tsp_fare_price.traveller_type IS 'Traveller type.';
COMMENT ON COLUMN hublink.tsp_fare_price.amount IS 'Price of one ticket on this flight for this traveller type.';

CREATE FUNCTION hublink.tsp_fare_amount(fare bigint, traveller_type text) RETURNS numeric
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE chain(code, depth) AS (
        SELECT traveller_type, 0
        UNION ALL
        SELECT t.fallback, c.depth + 1
          FROM chain c JOIN hublink.tsp_traveller_type t ON t.code = c.code
         WHERE t.fallback IS NOT NULL AND c.depth < 5)
    SELECT p.amount FROM chain c JOIN hublink.tsp_fare_price p ON p.fare_id = fare AND p.traveller_type = c.code
     ORDER BY c.depth LIMIT 1
$$;
COMMENT ON FUNCTION hublink.tsp_fare_amount(bigint, text) IS
    'Price of one ticket of a traveller type on a fare, following the type''s fallback chain; '
    'NULL when the fare has no price for it.';

CREATE FUNCTION hublink.tsp_refund_amount(fare bigint, price numeric, hours_before numeric)
    RETURNS numeric
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT greatest(0, coalesce((
        SELECT least(price, coalesce(round(price * r.refund_percent / 100, 2), r.refund_amount))
          FROM hublink.tsp_refund_rule r
         WHERE r.rule_set = f.refund_rule_set AND r.from_hours_before <= hours_before
         ORDER BY r.from_hours_before DESC LIMIT 1), 0) - f.cancellation_fee)::numeric(14,2)
      FROM hublink.tsp_fare f WHERE f.fare_id = fare
$$;
COMMENT ON FUNCTION hublink.tsp_refund_amount(bigint, numeric, numeric) IS
    'Refund of one ticket of the given price on a fare cancelled hours_before hours before '
    'departure: the applicable rule (percentage rounded half away from zero to the penny, or '
    'fixed amount, at most the price) less the cancellation fee, at least zero. Zero after '
    'departure or when no rule applies.';

-- from sql/parts/52_tsp_rules.sql
-- Travel provider (tsp), issue 5 section 2: what quoting obeys, as rows admins edit:
-- airports serving returnee locations, minimum connection times and the Travel Information
-- Guide (TIG) rules.

CREATE TABLE hublink.tsp_location_airport (
    location_kind text NOT NULL CHECK (location_kind IN ('DETENTION_CENTRE', 'PRISON', 'POSTCODE_AREA', 'TOWN')),
    location_id   text NOT NULL,
    airport       char(3) NOT NULL REFERENCES hublink.tsp_airport,
    PRIMARY KEY (location_kind, location_id, airport)
);
COMMENT ON TABLE hublink.tsp_location_airport IS
    'Airports that serve a returnee location: a detention centre or prison by its ID, an address '
    'by its postcode area (the letters before the first digit, e.g. UB) or else its town in upper '
    'case. The location kinds are the shapes of returneeLocation in the schema.';
COMMENT ON COLUMN hublink.tsp_location_airport.location_kind IS 'DETENTION_CENTRE, PRISON, POSTCODE_AREA or TOWN.';
COMMENT ON COLUMN hublink.tsp_location_airport.location_id IS 'detentionCentreId, prisonId, postcode area or town.';
COMMENT ON COLUMN hublink.tsp_location_airport.airport IS 'An airport within reach of the location.';

CREATE TABLE hublink.tsp_min_connection (
    airport char(3) PRIMARY KEY REFERENCES hublink.tsp_airport,
    minutes integer NOT NULL CHECK (minutes BETWEEN 0 AND 1440)
);
COMMENT ON TABLE hublink.tsp_min_connection IS
    'Minimum connection time per airport; airports without a row use the setting '
    'default_min_connection_minutes.';
COMMENT ON COLUMN hublink.tsp_min_connection.airport IS 'Connecting airport.';
COMMENT ON COLUMN hublink.tsp_min_connection.minutes IS 'Least minutes between arrival and the next departure.';

CREATE TABLE hublink.tsp_tig_rule_kind (
    kind        text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_tig_rule_kind IS 'The kinds of Travel Information Guide rule quoting enforces.';
COMMENT ON COLUMN hublink.tsp_tig_rule_kind.kind IS 'Rule kind.';
COMMENT ON COLUMN hublink.tsp_tig_rule_kind.description IS 'What a rule of this kind does and which columns it uses.';

INSERT INTO hublink.tsp_tig_rule_kind VALUES
    ('CARRIER_EXCLUSION', 'Carrier must not be used for removals to the destination (carrier; destination_country NULL = everywhere).'),
    ('BLOCKED_DATES', 'No departure on dates date_from..date_to (UK dates) to the destination.'),
    ('NO_TRANSIT', 'No connection at airport, or in any airport of transit_country, on the way to the destination.'),
    ('QUOTA', 'At most max_returnees returnees booked to the destination with departures in date_from..date_to.'),
    ('NOTIFICATION_PERIOD', 'First departure at least hours hours after the quote is made.'),
    ('REFUNDABLE_REQUIRED', 'Only refundable fares to the destination.'),
    ('COST_LIMIT', 'Total cost of a quote at most amount (currency) to the destination.');

CREATE TABLE hublink.tsp_tig_rule (
    rule_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL REFERENCES hublink.tsp_tig_rule_kind,
    destination_country char(3),
    carrier             char(2),
    airport             char(3),
    transit_country     char(3),
    date_from           date,
    date_to             date,
    hours               integer CHECK (hours >= 0),
    max_returnees       integer CHECK (max_returnees >= 0),
    amount              numeric(14,2) CHECK (amount >= 0),
    currency            char(3),
    note                text,
    active              boolean NOT NULL DEFAULT true,
    CHECK (kind <> 'CARRIER_EXCLUSION' OR carrier IS NOT NULL),
    CHECK (kind NOT IN ('BLOCKED_DATES', 'QUOTA') OR (date_from IS NOT NULL AND date_to >= date_from)),
    CHECK (kind <> 'NO_TRANSIT' OR airport IS NOT NULL OR transit_country IS NOT NULL),
    CHECK (kind <> 'QUOTA' OR max_returnees IS NOT NULL),
    CHECK (kind <> 'NOTIFICATION_PERIOD' OR hours IS NOT NULL),
    CHECK (kind <> 'COST_LIMIT' OR (amount IS NOT NULL AND currency IS NOT NULL))
);
COMMENT ON TABLE hublink.tsp_tig_rule IS
    'Travel Information Guide rules, one row each, edited by hublink_admin; quoting applies every '
    'active rule whose destination_country is the destination''s or NULL.';
COMMENT ON COLUMN hublink.tsp_tig_rule.rule_id IS 'Surrogate key, quoted in rule notes.';
COMMENT ON COLUMN hublink.tsp_tig_rule.kind IS 'Rule kind (tsp_tig_rule_kind).';
COMMENT ON COLUMN hublink.tsp_tig_rule.destination_country IS 'Destination country (ISO alpha-3) it applies to; NULL for all.';
COMMENT ON COLUMN hublink.tsp_tig_rule.carrier IS 'CARRIER_EXCLUSION: the carrier.';
COMMENT ON COLUMN hublink.tsp_tig_rule.airport IS 'NO_TRANSIT: the transit airport.';
COMMENT ON COLUMN hublink.tsp_tig_rule.transit_country IS 'NO_TRANSIT: the transit country (ISO alpha-3).';
COMMENT ON COLUMN hublink.tsp_tig_rule.date_from IS 'BLOCKED_DATES, QUOTA: first date.';
COMMENT ON COLUMN hublink.tsp_tig_rule.date_to IS 'BLOCKED_DATES, QUOTA: last date (inclusive).';
COMMENT ON COLUMN hublink.tsp_tig_rule.hours IS 'NOTIFICATION_PERIOD: least hours between quote and departure.';
COMMENT ON COLUMN hublink.tsp_tig_rule.max_returnees IS 'QUOTA: most returnees in the period.';
COMMENT ON COLUMN hublink.tsp_tig_rule.amount IS 'COST_LIMIT: the limit.';
COMMENT ON COLUMN hublink.tsp_tig_rule.currency IS 'COST_LIMIT: its currency.';
COMMENT ON COLUMN hublink.tsp_tig_rule.note IS 'Why the rule exists (TIG paragraph).';
COMMENT ON COLUMN hublink.tsp_tig_rule.active IS 'Inactive rules are kept but not applied.';

-- from sql/parts/53_tsp_loader.sql
-- Travel provider (tsp), issue 5 section 1: the bulk loaders. scripts/tsp-load-inventory
-- COPYs the CSV files into session-private staging tables (hublink.tsp_stage_begin), then
-- hublink.tsp_load_staged() validates every row and inserts all of them or none: one bad row
-- raises an error that lists every bad line, and the caller's transaction rolls back.

CREATE FUNCTION hublink.tsp_stage_begin() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning
AS $$
BEGIN
    -- Temporary tables: concurrent loads do not see each other's rows, and nothing is left
    -- behind. line is the file line (the identity counts rows in COPY order; +1 for the header).
    DROP TABLE IF EXISTS pg_temp.tsp_stage_refund_rule, pg_temp.tsp_stage_flight,
                         pg_temp.tsp_stage_fare, pg_temp.tsp_stage_error;
    CREATE TEMP TABLE tsp_stage_refund_rule (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), rule_set text, description text,
        from_hours_before text, refund_percent text, refund_amount text);
    CREATE TEMP TABLE tsp_stage_flight (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), flight_ref text, carrier text,
        flight_number text, origin text, destination text, departure_local text,
        arrival_local text, origin_terminal text, destination_terminal text, seats_total text,
        seats_sold text, departs_at timestamptz, arrives_at timestamptz, flight_id bigint);
    CREATE TEMP TABLE tsp_stage_fare (
        line bigint GENERATED ALWAYS AS IDENTITY (START 2), flight_ref text, fare_class text,
        currency text, refundable text, refund_rule_set text, change_fee text,
        cancellation_fee text, ticketing_deadline_hours text, hand_baggage_only text,
        baggage_kg text, prices text, fare_id bigint);
    CREATE TEMP TABLE tsp_stage_error (file text, line bigint, problem text);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_stage_begin() IS
    'Creates the session''s empty staging tables pg_temp.tsp_stage_refund_rule, tsp_stage_flight '
    'and tsp_stage_fare (all text columns, in the CSV column order after line) for COPY.';

CREATE FUNCTION hublink.tsp_local_to_instant(local text, tz text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF local IS NULL OR local !~ '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?$' THEN
        RETURN NULL;
    END IF;
    IF local ~ '([+-]\d{2}:?\d{2}|Z)$' THEN
        RETURN local::timestamptz;            -- an explicit offset wins
    END IF;
    RETURN local::timestamp AT TIME ZONE tz;   -- wall-clock time at the airport
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN NULL;                               -- e.g. 2026-02-30: reported as a bad row
END;
$$;
COMMENT ON FUNCTION hublink.tsp_local_to_instant(text, text) IS
    'The instant of a local date-time text at an airport time zone (or of its explicit offset); '
    'NULL when the text is not a valid date-time, so that the loader can report the line.';

CREATE FUNCTION hublink.tsp_load_staged(progress_every integer DEFAULT 50000)
    RETURNS TABLE (refund_rules bigint, flights bigint, fares bigint, prices bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad     text;
    nbad    bigint;
    total   bigint;
    lo      bigint;
    int_re  constant text := '^[0-9]{1,6}$';
    amt_re  constant text := '^[0-9]{1,12}(\.[0-9]{1,2})?$';
    bool_re constant text := '^(true|false|t|f|yes|no|y|n|1|0)$';
BEGIN
    -- Staging tables have no statistics and no indexes; fares look flights up by flight_ref
    -- row by row, which without an index is quadratic on a world schedule.
    CREATE INDEX ON pg_temp.tsp_stage_flight (flight_ref);
    CREATE INDEX ON pg_temp.tsp_stage_fare (flight_ref, fare_class);
    CREATE INDEX ON pg_temp.tsp_stage_flight (line);
    CREATE INDEX ON pg_temp.tsp_stage_fare (line);
    ANALYZE pg_temp.tsp_stage_refund_rule;
    ANALYZE pg_temp.tsp_stage_flight;
    ANALYZE pg_temp.tsp_stage_fare;

    -- Refund rules.
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'refund_rules', s.line, p FROM pg_temp.tsp_stage_refund_rule s,
      LATERAL (VALUES
        (CASE WHEN s.rule_set IS NULL OR s.rule_set !~ '^[A-Z][A-Z0-9_]{1,39}$' THEN 'rule_set must be an upper-case code' END),
        (CASE WHEN s.from_hours_before IS NULL OR s.from_hours_before !~ int_re THEN 'from_hours_before must be a whole number of hours' END),
        (CASE WHEN (s.refund_percent IS NULL) = (s.refund_amount IS NULL) THEN 'exactly one of refund_percent and refund_amount is required' END),
        (CASE WHEN s.refund_percent IS NOT NULL AND (s.refund_percent !~ amt_re OR s.refund_percent::numeric > 100) THEN 'refund_percent must be 0 to 100' END),
        (CASE WHEN s.refund_amount IS NOT NULL AND s.refund_amount !~ amt_re THEN 'refund_amount must be an amount like 150.00' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'refund_rules', s.line, 'duplicate rule ' || s.rule_set || ' from ' || s.from_hours_before || ' hours'
      FROM (SELECT line, rule_set, from_hours_before,
                   count(*) OVER (PARTITION BY rule_set, from_hours_before) n
              FROM pg_temp.tsp_stage_refund_rule) s WHERE s.n > 1;

    -- Flights: codes, references, times (converted with the airports' zones), seats. Staged
    -- text is cast to bpchar to compare with the char(n) keys: text = char(n) compares as text
    -- and cannot use their indexes (a sequential scan per row on a world schedule).
    UPDATE pg_temp.tsp_stage_flight s
       SET departs_at = hublink.tsp_local_to_instant(s.departure_local, o.tz),
           arrives_at = hublink.tsp_local_to_instant(s.arrival_local, d.tz)
      FROM hublink.tsp_airport o, hublink.tsp_airport d
     WHERE o.iata = s.origin::bpchar AND d.iata = s.destination::bpchar;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, p FROM pg_temp.tsp_stage_flight s,
      LATERAL (VALUES
        (CASE WHEN s.flight_ref IS NULL THEN 'flight_ref is required' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airline a WHERE a.iata = s.carrier::bpchar) THEN 'unknown carrier ' || coalesce(s.carrier, '(empty)') END),
        (CASE WHEN s.flight_number IS NULL OR s.flight_number !~ '^[0-9]{1,4}[A-Z]?$' THEN 'flight_number must be 1-4 digits and an optional letter' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airport a WHERE a.iata = s.origin::bpchar) THEN 'unknown origin airport ' || coalesce(s.origin, '(empty)') END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_airport a WHERE a.iata = s.destination::bpchar) THEN 'unknown destination airport ' || coalesce(s.destination, '(empty)') END),
        (CASE WHEN s.origin = s.destination THEN 'origin and destination are the same airport' END),
        (CASE WHEN s.departs_at IS NULL THEN 'departure_local is not a valid local date-time (YYYY-MM-DD HH:MI)' END),
        (CASE WHEN s.arrives_at IS NULL THEN 'arrival_local is not a valid local date-time (YYYY-MM-DD HH:MI)' END),
        (CASE WHEN s.arrives_at <= s.departs_at THEN 'arrival is not after departure' END),
        (CASE WHEN s.seats_total IS NULL OR s.seats_total !~ int_re OR s.seats_total::int > 1000 THEN 'seats_total must be 0 to 1000' END),
        (CASE WHEN s.seats_sold IS NOT NULL AND (s.seats_sold !~ int_re
              OR (s.seats_total ~ int_re AND s.seats_sold::int > s.seats_total::int)) THEN 'seats_sold must be 0 to seats_total' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, 'duplicate ' || CASE WHEN s.n_ref > 1 THEN 'flight_ref ' || s.flight_ref
                                                   ELSE 'departure ' || s.carrier || s.flight_number || ' ' || s.departure_local END
      FROM (SELECT line, flight_ref, carrier, flight_number, departure_local,
                   count(*) OVER (PARTITION BY flight_ref) n_ref,
                   count(*) OVER (PARTITION BY carrier, flight_number, departs_at) n_dep
              FROM pg_temp.tsp_stage_flight) s
     WHERE s.n_ref > 1 OR (s.n_dep > 1 AND s.departure_local IS NOT NULL);
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'flights', s.line, 'departure ' || s.carrier || s.flight_number || ' ' || s.departure_local || ' is already loaded'
      FROM pg_temp.tsp_stage_flight s
     WHERE EXISTS (SELECT FROM hublink.tsp_flight f
                    WHERE f.carrier = s.carrier::bpchar AND f.flight_number = s.flight_number AND f.departs_at = s.departs_at);

    -- Fares.
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, p FROM pg_temp.tsp_stage_fare s,
      LATERAL (VALUES
        (CASE WHEN NOT EXISTS (SELECT FROM pg_temp.tsp_stage_flight f WHERE f.flight_ref = s.flight_ref) THEN 'unknown flight_ref ' || coalesce(s.flight_ref, '(empty)') END),
        (CASE WHEN s.fare_class IS NULL OR s.fare_class !~ '^[A-Z][A-Z0-9]{0,7}$' THEN 'fare_class must be 1-8 upper-case letters or digits' END),
        (CASE WHEN s.currency IS NULL OR s.currency !~ '^[A-Z]{3}$' THEN 'currency must be an ISO 4217 code' END),
        (CASE WHEN s.refundable IS NULL OR lower(s.refundable) !~ bool_re THEN 'refundable must be true or false' END),
        (CASE WHEN NOT EXISTS (SELECT FROM hublink.tsp_refund_rule_set r WHERE r.rule_set = s.refund_rule_set)
               AND NOT EXISTS (SELECT FROM pg_temp.tsp_stage_refund_rule r WHERE r.rule_set = s.refund_rule_set)
              THEN 'unknown refund_rule_set ' || coalesce(s.refund_rule_set, '(empty)') END),
        (CASE WHEN s.change_fee IS NULL OR s.change_fee !~ amt_re THEN 'change_fee must be an amount like 75.00' END),
        (CASE WHEN s.cancellation_fee IS NULL OR s.cancellation_fee !~ amt_re THEN 'cancellation_fee must be an amount like 75.00' END),
        (CASE WHEN s.ticketing_deadline_hours IS NULL OR s.ticketing_deadline_hours !~ int_re THEN 'ticketing_deadline_hours must be a whole number' END),
        (CASE WHEN s.hand_baggage_only IS NOT NULL AND lower(s.hand_baggage_only) !~ bool_re THEN 'hand_baggage_only must be true or false' END),
        (CASE WHEN s.baggage_kg IS NOT NULL AND s.baggage_kg !~ int_re THEN 'baggage_kg must be a whole number' END),
        (CASE WHEN s.prices IS NULL THEN 'prices is required (TYPE=amount;TYPE=amount)' END)) v(p)
     WHERE p IS NOT NULL;
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, 'price ' || coalesce(x.item, '') || ': ' || CASE
               WHEN x.item !~ '^[A-Z][A-Z0-9_]*=' THEN 'not TYPE=amount'
               WHEN NOT EXISTS (SELECT FROM hublink.tsp_traveller_type t WHERE t.code = split_part(x.item, '=', 1)) THEN 'unknown traveller type'
               ELSE 'amount must be like 1150.00' END
      FROM pg_temp.tsp_stage_fare s, string_to_table(s.prices, ';') x(item)
     WHERE x.item !~ '^[A-Z][A-Z0-9_]*=[0-9]{1,12}(\.[0-9]{1,2})?$'
        OR NOT EXISTS (SELECT FROM hublink.tsp_traveller_type t WHERE t.code = split_part(x.item, '=', 1));
    INSERT INTO pg_temp.tsp_stage_error
    SELECT 'fares', s.line, 'duplicate fare_class ' || s.fare_class || ' on flight_ref ' || s.flight_ref
      FROM (SELECT line, flight_ref, fare_class, count(*) OVER (PARTITION BY flight_ref, fare_class) n
              FROM pg_temp.tsp_stage_fare) s WHERE s.n > 1;

    SELECT count(*), string_agg(format('%s line %s: %s', e.file, e.line, e.problem), E'\n' ORDER BY e.file, e.line, e.problem)
      INTO nbad, bad FROM pg_temp.tsp_stage_error e;
    IF nbad > 0 THEN
        RAISE EXCEPTION 'inventory load rejected: % problems, nothing was loaded', nbad
            USING ERRCODE = 'bad_copy_file_format', DETAIL = bad,
                  HINT = 'Correct the lines listed and load the files again; docs/tsp.md describes the columns.';
    END IF;

    -- Every row is valid: insert, reporting progress on large loads.
    INSERT INTO hublink.tsp_refund_rule_set (rule_set, description)
    SELECT DISTINCT ON (rule_set) rule_set, coalesce(description, rule_set)
      FROM pg_temp.tsp_stage_refund_rule ORDER BY rule_set, line
    ON CONFLICT (rule_set) DO UPDATE SET description = excluded.description;
    DELETE FROM hublink.tsp_refund_rule r
     WHERE r.rule_set IN (SELECT rule_set FROM pg_temp.tsp_stage_refund_rule);
    INSERT INTO hublink.tsp_refund_rule
    SELECT rule_set, from_hours_before::int, refund_percent::numeric, refund_amount::numeric
      FROM pg_temp.tsp_stage_refund_rule;
    refund_rules := (SELECT count(*) FROM pg_temp.tsp_stage_refund_rule);

    SELECT count(*) INTO total FROM pg_temp.tsp_stage_flight;
    lo := 2;
    WHILE lo < total + 2 LOOP
        WITH ins AS (
            INSERT INTO hublink.tsp_flight (carrier, flight_number, origin, destination, departs_at,
                                            arrives_at, origin_terminal, destination_terminal,
                                            seats_total, seats_sold)
            SELECT carrier, flight_number, origin, destination, departs_at, arrives_at,
                   origin_terminal, destination_terminal, seats_total::int, coalesce(seats_sold::int, 0)
              FROM pg_temp.tsp_stage_flight WHERE line >= lo AND line < lo + progress_every
            RETURNING flight_id, carrier, flight_number, departs_at)
        UPDATE pg_temp.tsp_stage_flight s SET flight_id = ins.flight_id
          FROM ins WHERE s.carrier::bpchar = ins.carrier AND s.flight_number = ins.flight_number
                     AND s.departs_at = ins.departs_at;
        lo := lo + progress_every;
        RAISE NOTICE 'flights: % of % loaded', least(lo - 2, total), total;
    END LOOP;
    flights := total;

    SELECT count(*) INTO total FROM pg_temp.tsp_stage_fare;
    lo := 2;
    WHILE lo < total + 2 LOOP
        WITH ins AS (
            INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set,
                                          change_fee, cancellation_fee, ticketing_deadline_hours,
                                          hand_baggage_only, baggage_kg)
            SELECT f.flight_id, s.fare_class, s.currency, lower(s.refundable)::boolean, s.refund_rule_set,
                   s.change_fee::numeric, s.cancellation_fee::numeric, s.ticketing_deadline_hours::int,
                   coalesce(lower(s.hand_baggage_only)::boolean, false), s.baggage_kg::int
              FROM pg_temp.tsp_stage_fare s JOIN pg_temp.tsp_stage_flight f USING (flight_ref)
             WHERE s.line >= lo AND s.line < lo + progress_every
            RETURNING fare_id, flight_id, fare_class)
        INSERT INTO hublink.tsp_fare_price (fare_id, traveller_type, amount)
        SELECT ins.fare_id, split_part(x.item, '=', 1), split_part(x.item, '=', 2)::numeric
          FROM ins JOIN pg_temp.tsp_stage_flight f ON f.flight_id = ins.flight_id
          JOIN pg_temp.tsp_stage_fare s ON s.flight_ref = f.flight_ref AND s.fare_class = ins.fare_class,
               string_to_table(s.prices, ';') x(item);
        lo := lo + progress_every;
        RAISE NOTICE 'fares: % of % loaded', least(lo - 2, total), total;
    END LOOP;
    fares := total;
    prices := (SELECT count(*) FROM pg_temp.tsp_stage_fare s, string_to_table(s.prices, ';'));
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_load_staged(integer) IS
    'Validates every staged refund rule, flight and fare (hublink.tsp_stage_begin, then COPY) and '
    'inserts them all, or raises bad_copy_file_format listing every bad line (file, line, problem) '
    'and inserts nothing. Reports progress every progress_every rows. Returns the counts loaded.';

CREATE FUNCTION hublink.tsp_stage_reference_begin() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning
AS $$
BEGIN
    DROP TABLE IF EXISTS pg_temp.tsp_stage_country, pg_temp.tsp_stage_iso_country,
                         pg_temp.tsp_stage_airport, pg_temp.tsp_stage_airline;
    -- The columns of OpenFlights countries.dat, airports.dat and airlines.dat, in file order.
    CREATE TEMP TABLE tsp_stage_country (name text, iso2 text, dafif text);
    CREATE TEMP TABLE tsp_stage_iso_country (iso2 text, iso3 text);
    CREATE TEMP TABLE tsp_stage_airport (
        id text, name text, city text, country text, iata text, icao text, latitude text,
        longitude text, altitude text, utc_offset text, dst text, tz text, type text, source text);
    CREATE TEMP TABLE tsp_stage_airline (
        id text, name text, alias text, iata text, icao text, callsign text, country text, active text);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_stage_reference_begin() IS
    'Creates the session''s staging tables for OpenFlights countries.dat (tsp_stage_country), '
    'airports.dat (tsp_stage_airport), airlines.dat (tsp_stage_airline) and the ISO alpha-2 to '
    'alpha-3 map (tsp_stage_iso_country), columns in file order, for COPY ... CSV NULL ''\N''.';

CREATE FUNCTION hublink.tsp_load_reference_staged()
    RETURNS TABLE (countries bigint, airports bigint, airlines bigint, skipped_airports bigint, skipped_airlines bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- OpenFlights lists some countries twice and some with empty codes; those are skipped.
    INSERT INTO hublink.tsp_country (iso2, iso3, name)
    SELECT DISTINCT ON (c.iso2) c.iso2, i.iso3, c.name
      FROM pg_temp.tsp_stage_country c
      LEFT JOIN pg_temp.tsp_stage_iso_country i ON i.iso2 = c.iso2
     WHERE c.iso2 ~ '^[A-Z]{2}$' AND c.name IS NOT NULL
     ORDER BY c.iso2, c.name
    ON CONFLICT (iso2) DO UPDATE SET iso3 = coalesce(excluded.iso3, hublink.tsp_country.iso3),
                                     name = excluded.name;
    GET DIAGNOSTICS countries = ROW_COUNT;

    -- Newer OpenFlights rows (e.g. DOH, IST, ISB) lack a zone name but give the UTC offset:
    -- they take the commonest zone of the country's airports with that offset, else a fixed
    -- Etc/GMT zone (whose sign is inverted by POSIX convention).
    UPDATE pg_temp.tsp_stage_airport a SET tz = coalesce((
        SELECT b.tz FROM pg_temp.tsp_stage_airport b
         WHERE b.country = a.country AND b.utc_offset = a.utc_offset
           AND b.tz IN (SELECT z.name FROM pg_timezone_names z)
         GROUP BY b.tz ORDER BY count(*) DESC, b.tz LIMIT 1),
        CASE WHEN a.utc_offset ~ '^-?[0-9]{1,2}$' THEN
             'Etc/GMT' || CASE WHEN a.utc_offset::int <= 0 THEN '+' ELSE '-' END || abs(a.utc_offset::int) END)
     WHERE (a.tz IS NULL OR a.tz NOT IN (SELECT z.name FROM pg_timezone_names z)) AND a.iata ~ '^[A-Z]{3}$';

    -- Airports need an IATA code, coordinates and a time zone PostgreSQL knows; the first
    -- row of a code wins (OpenFlights repeats a few).
    INSERT INTO hublink.tsp_airport (iata, name, city, country, tz, latitude, longitude)
    SELECT DISTINCT ON (a.iata) a.iata, a.name, a.city, c.iso2, a.tz, a.latitude::float8, a.longitude::float8
      FROM pg_temp.tsp_stage_airport a
      LEFT JOIN hublink.tsp_country c ON c.name = a.country
     WHERE a.iata ~ '^[A-Z]{3}$' AND a.name IS NOT NULL
       AND a.latitude ~ '^-?[0-9.]+$' AND a.longitude ~ '^-?[0-9.]+$'
       AND a.tz IN (SELECT z.name FROM pg_timezone_names z)
     ORDER BY a.iata, a.id::int
    ON CONFLICT (iata) DO UPDATE SET name = excluded.name, city = excluded.city,
        country = excluded.country, tz = excluded.tz, latitude = excluded.latitude,
        longitude = excluded.longitude;
    GET DIAGNOSTICS airports = ROW_COUNT;
    skipped_airports := (SELECT count(*) FROM pg_temp.tsp_stage_airport) - airports;

    -- Airlines: active ones first when a designator is reused. The ticketing prefix is kept
    -- when the row exists (an admin may have set the real one).
    INSERT INTO hublink.tsp_airline (iata, icao, name, ticket_prefix)
    SELECT DISTINCT ON (a.iata) a.iata, CASE WHEN a.icao ~ '^[A-Z]{3}$' THEN a.icao END, a.name,
           hublink.tsp_synthetic_ticket_prefix(a.iata)
      FROM pg_temp.tsp_stage_airline a
     WHERE a.iata ~ '^[A-Z0-9]{2}$' AND a.name IS NOT NULL
     ORDER BY a.iata, (a.active = 'Y') DESC, a.id::int
    ON CONFLICT (iata) DO UPDATE SET icao = excluded.icao, name = excluded.name;
    GET DIAGNOSTICS airlines = ROW_COUNT;
    skipped_airlines := (SELECT count(*) FROM pg_temp.tsp_stage_airline) - airlines;
    RAISE NOTICE 'reference data: % countries, % airports (% skipped), % airlines (% skipped)',
        countries, airports, skipped_airports, airlines, skipped_airlines;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_load_reference_staged() IS
    'Upserts the staged OpenFlights countries, airports and airlines (hublink.'
    'tsp_stage_reference_begin). Rows that cannot be used (no IATA code, unknown time zone) are '
    'skipped and counted: reference data is partial by nature, unlike an inventory file.';

-- from sql/parts/54_tsp_quote.sql
-- Travel provider (tsp), issue 5 section 2: quoting. hublink.tsp_quote() turns a
-- TravelQuoteRequest body into a TravelQuoteResponse body and keeps what it quoted, so that a
-- booking request can take exactly that itinerary and fare.

CREATE SEQUENCE hublink.tsp_quote_serial;
COMMENT ON SEQUENCE hublink.tsp_quote_serial IS 'Numbers quote responses; quote references are prefix, serial, -n.';

CREATE TABLE hublink.tsp_quote (
    quote_ref         text PRIMARY KEY,
    removal_id        text,
    escort_quote_ref  text,
    travel_date       date NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    currency          char(3) NOT NULL,
    price             numeric(14,2) NOT NULL,
    expected_cost     numeric(14,2) NOT NULL,
    refundable        boolean NOT NULL,
    destination_country char(3),
    travellers        jsonb NOT NULL,
    quote             jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'QUOTED' CHECK (status IN ('QUOTED', 'BOOKED'))
);
COMMENT ON TABLE hublink.tsp_quote IS 'A travel quote the provider issued, with what the booking needs.';
COMMENT ON COLUMN hublink.tsp_quote.quote_ref IS 'travelQuoteReference.';
COMMENT ON COLUMN hublink.tsp_quote.removal_id IS 'The removal (conversation) it was quoted for, when known.';
COMMENT ON COLUMN hublink.tsp_quote.escort_quote_ref IS 'escortQuoteReference of the escort date, for escorted removals.';
COMMENT ON COLUMN hublink.tsp_quote.travel_date IS 'The UK date quoted for.';
COMMENT ON COLUMN hublink.tsp_quote.created_at IS 'When it was quoted.';
COMMENT ON COLUMN hublink.tsp_quote.expires_at IS 'conditions.expiresAt: booking requests after it are declined QUOTE_EXPIRED.';
COMMENT ON COLUMN hublink.tsp_quote.currency IS 'Currency of price and expected_cost.';
COMMENT ON COLUMN hublink.tsp_quote.price IS 'Total price, all travellers.';
COMMENT ON COLUMN hublink.tsp_quote.expected_cost IS 'price + P(cancel) x loss on cancellation at the expected time: the ranking key.';
COMMENT ON COLUMN hublink.tsp_quote.refundable IS 'True when every fare is refundable.';
COMMENT ON COLUMN hublink.tsp_quote.destination_country IS 'Destination country (alpha-3), for quotas.';
COMMENT ON COLUMN hublink.tsp_quote.travellers IS 'Array of {traveller: travellerRef, type: traveller type}, in quote order.';
COMMENT ON COLUMN hublink.tsp_quote.quote IS 'The quote object as sent in the response.';
COMMENT ON COLUMN hublink.tsp_quote.status IS 'QUOTED, or BOOKED once a booking took it.';

CREATE TABLE hublink.tsp_quote_segment (
    quote_ref  text NOT NULL REFERENCES hublink.tsp_quote ON DELETE CASCADE,
    segment_id text NOT NULL,
    seq        integer NOT NULL,
    flight_id  bigint NOT NULL REFERENCES hublink.tsp_flight,
    fare_id    bigint NOT NULL REFERENCES hublink.tsp_fare,
    PRIMARY KEY (quote_ref, segment_id)
);
COMMENT ON TABLE hublink.tsp_quote_segment IS 'The flights and fares of a quote, one row per PLANE segment.';
COMMENT ON COLUMN hublink.tsp_quote_segment.quote_ref IS 'The quote.';
COMMENT ON COLUMN hublink.tsp_quote_segment.segment_id IS 'segmentId in the quote (S1, S2).';
COMMENT ON COLUMN hublink.tsp_quote_segment.seq IS 'Travel order.';
COMMENT ON COLUMN hublink.tsp_quote_segment.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_quote_segment.fare_id IS 'The fare quoted on it.';

CREATE FUNCTION hublink.tsp_segment_json(flight bigint, segment_id text, travellers jsonb)
    RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'segmentId', segment_id,
        'segmentType', 'PLANE',
        'providerName', left(a.name, 100),
        'carrierCode', f.carrier,
        'flightNumber', f.flight_number,
        'startPoint', jsonb_build_object('airportCode', f.origin, 'terminal', f.origin_terminal, 'name', left(o.name, 200)),
        'endPoint', jsonb_build_object('airportCode', f.destination, 'terminal', f.destination_terminal, 'name', left(d.name, 200)),
        'startTime', hublink.tsp_local_time(f.departs_at, o.tz),
        'endTime', hublink.tsp_local_time(f.arrives_at, d.tz),
        'travellers', travellers))
      FROM hublink.tsp_flight f
      JOIN hublink.tsp_airline a ON a.iata = f.carrier
      JOIN hublink.tsp_airport o ON o.iata = f.origin
      JOIN hublink.tsp_airport d ON d.iata = f.destination
     WHERE f.flight_id = flight
$$;
COMMENT ON FUNCTION hublink.tsp_segment_json(bigint, text, jsonb) IS
    'The itinerarySegment of a flight: airline name, airports with terminals and names, local '
    'start and end times with their offsets, the travellers on it.';

CREATE FUNCTION hublink.tsp_money(amount numeric, currency text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object('amount', to_char(amount, 'FM999999999990.00'), 'currency', currency);
COMMENT ON FUNCTION hublink.tsp_money(numeric, text) IS 'A money object: amount with two decimals as a string, and currency.';

CREATE FUNCTION hublink.tsp_origin_airports(returnees jsonb, departure_airports jsonb)
    RETURNS char(3)[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    served char(3)[];
    wanted char(3)[];
BEGIN
    -- Airports that serve every returnee's location (they travel together).
    SELECT array_agg(airport) INTO served FROM (
        SELECT la.airport
          FROM jsonb_array_elements(returnees) r(x)
          CROSS JOIN LATERAL (VALUES (r.x -> 'location')) l(loc)
          JOIN hublink.tsp_location_airport la ON
               (la.location_kind = 'DETENTION_CENTRE' AND la.location_id = l.loc ->> 'detentionCentreId')
            OR (la.location_kind = 'PRISON' AND la.location_id = l.loc ->> 'prisonId')
            OR (la.location_kind = 'POSTCODE_AREA'
                AND la.location_id = substring(upper(l.loc #>> '{address,postcode}') FROM '^[A-Z]+'))
            OR (la.location_kind = 'TOWN' AND la.location_id = upper(l.loc #>> '{address,town}'))
         GROUP BY la.airport
        HAVING count(DISTINCT r.x) = jsonb_array_length(returnees)) s;
    SELECT array_agg(a.value) INTO wanted FROM jsonb_array_elements_text(departure_airports) a;
    IF served IS NULL THEN
        RETURN coalesce(wanted, '{}');
    ELSIF wanted IS NULL THEN
        RETURN served;
    END IF;
    RETURN ARRAY(SELECT unnest(served) INTERSECT SELECT unnest(wanted));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_origin_airports(jsonb, jsonb) IS
    'Departure airports for a quote: those serving every returnee''s location '
    '(tsp_location_airport), narrowed to departureAirports when the request gives them; '
    'departureAirports alone when no location is mapped.';

CREATE TYPE hublink.tsp_itinerary AS (flight1 bigint, fare1 bigint, flight2 bigint, fare2 bigint,
    currency char(3), refundable boolean, hand_baggage_only boolean, departs_at timestamptz,
    arrives_at timestamptz, price numeric, expected_cost numeric, seats_free integer);
COMMENT ON TYPE hublink.tsp_itinerary IS
    'One candidate of the itinerary search: first flight and fare, second (NULL when direct), '
    'currency, refundability, baggage, first departure, last arrival, price and expected cost for '
    'the travellers, and the seats left on its fullest flight.';

CREATE FUNCTION hublink.tsp_itineraries(
        origins char(3)[], destinations char(3)[], window_start timestamptz, window_end timestamptz,
        returnees integer, escorts integer, excluded_carriers text[], no_transit char(3)[],
        refundable_only boolean, cancel_probability numeric, cancel_hours_before numeric)
    RETURNS SETOF hublink.tsp_itinerary
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE
    first_leg AS (
        SELECT f.* FROM hublink.tsp_flight f
         WHERE f.origin = ANY (origins) AND f.departs_at >= window_start AND f.departs_at < window_end
           AND f.status = 'SCHEDULED' AND f.carrier <> ALL (excluded_carriers)
           AND f.destination <> ALL (origins)),
    -- Connections: the second flight leaves the connecting airport no sooner than its minimum
    -- connection time after the first lands, and no later than the longest wait allowed.
    -- Settings read once, not once per candidate pair.
    cfg AS MATERIALIZED (
        SELECT make_interval(mins => hublink.tsp_setting('default_min_connection_minutes')::int) AS mct,
               make_interval(mins => hublink.tsp_setting('max_connection_minutes')::int) AS max_wait),
    hub AS MATERIALIZED (
        SELECT a.*, a.arrives_at + coalesce(make_interval(mins => m.minutes), cfg.mct) AS ready_at,
               a.arrives_at + cfg.max_wait AS last_at
          FROM first_leg a CROSS JOIN cfg
          LEFT JOIN hublink.tsp_min_connection m ON m.airport = a.destination
         WHERE a.destination <> ALL (destinations) AND a.destination <> ALL (no_transit)),
    routes AS (
        SELECT a.flight_id AS flight1, NULL::bigint AS flight2, a.departs_at, a.arrives_at,
               a.seats_total - a.seats_sold AS seats_free
          FROM first_leg a WHERE a.destination = ANY (destinations)
        UNION ALL
        SELECT a.flight_id, b.flight_id, a.departs_at, b.arrives_at,
               least(a.seats_total - a.seats_sold, b.seats_total - b.seats_sold)
          FROM hub a
          JOIN hublink.tsp_flight b ON b.origin = a.destination
               AND b.departs_at >= a.ready_at AND b.departs_at <= a.last_at
         WHERE b.destination = ANY (destinations)
           AND b.status = 'SCHEDULED' AND b.carrier <> ALL (excluded_carriers)),
    -- Price and loss of every fare on every leg: the loss if the removal is cancelled at the
    -- expected time (cancel_hours_before the first departure) is what the refund rules keep.
    -- Prices per fare of every flight used, read once: a first flight pairs with many second
    -- flights. Written inline (not hublink.tsp_fare_amount: functions that pin search_path are
    -- never inlined); one fallback level, as the shipped traveller types have.
    fallback AS MATERIALIZED (
        SELECT (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'RETURNEE') AS ret,
               (SELECT t.fallback FROM hublink.tsp_traveller_type t WHERE t.code = 'ESCORT') AS esc),
    fare_info AS MATERIALIZED (
        SELECT fa.fare_id, fa.flight_id, fa.currency, fa.refundable, fa.hand_baggage_only,
               fa.refund_rule_set, fa.cancellation_fee,
               coalesce(pp.ret, pp.ret_fb) AS ret, coalesce(pp.esc, pp.esc_fb) AS esc
          FROM (SELECT DISTINCT x.flight_id FROM routes r
                 CROSS JOIN LATERAL (VALUES (r.flight1), (r.flight2)) x(flight_id)
                 WHERE x.flight_id IS NOT NULL) u
          JOIN hublink.tsp_fare fa ON fa.flight_id = u.flight_id AND fa.available
               AND (fa.refundable OR NOT refundable_only)
          CROSS JOIN fallback fb
          CROSS JOIN LATERAL (
              SELECT max(x.amount) FILTER (WHERE x.traveller_type = 'RETURNEE') AS ret,
                     max(x.amount) FILTER (WHERE x.traveller_type = fb.ret) AS ret_fb,
                     max(x.amount) FILTER (WHERE x.traveller_type = 'ESCORT') AS esc,
                     max(x.amount) FILTER (WHERE x.traveller_type = fb.esc) AS esc_fb
                FROM hublink.tsp_fare_price x WHERE x.fare_id = fa.fare_id) pp),
    leg_fare AS (
        SELECT r.flight1, r.flight2, r.departs_at, r.arrives_at, r.seats_free, leg.seq, leg.flight_id, fi.fare_id,
               fi.currency, fi.refundable, fi.hand_baggage_only, p.price,
               p.price - returnees * greatest(0, coalesce(least(fi.ret, coalesce(round(fi.ret * rule.refund_percent / 100, 2), rule.refund_amount)), 0) - fi.cancellation_fee)
                       - escorts * greatest(0, coalesce(least(fi.esc, coalesce(round(fi.esc * rule.refund_percent / 100, 2), rule.refund_amount)), 0) - fi.cancellation_fee) AS loss
          FROM routes r
          CROSS JOIN LATERAL (VALUES (1, r.flight1), (2, r.flight2)) leg(seq, flight_id)
          JOIN hublink.tsp_flight lf ON lf.flight_id = leg.flight_id
          JOIN fare_info fi ON fi.flight_id = leg.flight_id
          CROSS JOIN LATERAL (SELECT CASE WHEN returnees = 0 THEN 0 ELSE returnees * fi.ret END
                                   + CASE WHEN escorts = 0 THEN 0 ELSE escorts * fi.esc END AS price) p
          -- The refund rule in force at the expected cancellation time, as in tsp_refund_amount.
          LEFT JOIN LATERAL (SELECT rr.refund_percent, rr.refund_amount FROM hublink.tsp_refund_rule rr
                              WHERE rr.rule_set = fi.refund_rule_set
                                AND rr.from_hours_before <= cancel_hours_before
                                    + extract(epoch FROM lf.departs_at - r.departs_at) / 3600
                              ORDER BY rr.from_hours_before DESC LIMIT 1) rule ON true
         WHERE p.price IS NOT NULL),
    -- Costs add up over the legs, so the best combination per itinerary is made of the best
    -- fare of each leg per currency and refundability: one aggregate, no self-join.
    best AS (
        SELECT l.flight1, l.flight2, l.currency, min(l.departs_at) AS departs_at,
               min(l.arrives_at) AS arrives_at, min(l.seats_free) AS seats_free,
               (array_agg(l.fare_id ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable))[1] AS r1,
               (array_agg(l.price ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable))[1] AS r1_price,
               (array_agg(l.loss ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable))[1] AS r1_loss,
               (array_agg(l.hand_baggage_only ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND l.refundable))[1] AS r1_hbo,
               (array_agg(l.fare_id ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable))[1] AS n1,
               (array_agg(l.price ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable))[1] AS n1_price,
               (array_agg(l.loss ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable))[1] AS n1_loss,
               (array_agg(l.hand_baggage_only ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 1 AND NOT l.refundable))[1] AS n1_hbo,
               (array_agg(l.fare_id ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable))[1] AS r2,
               (array_agg(l.price ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable))[1] AS r2_price,
               (array_agg(l.loss ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable))[1] AS r2_loss,
               (array_agg(l.hand_baggage_only ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND l.refundable))[1] AS r2_hbo,
               (array_agg(l.fare_id ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable))[1] AS n2,
               (array_agg(l.price ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable))[1] AS n2_price,
               (array_agg(l.loss ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable))[1] AS n2_loss,
               (array_agg(l.hand_baggage_only ORDER BY l.ec, l.price, l.fare_id) FILTER (WHERE l.seq = 2 AND NOT l.refundable))[1] AS n2_hbo
          FROM (SELECT lf.*, lf.price + cancel_probability * lf.loss AS ec FROM leg_fare lf) l
         GROUP BY l.flight1, l.flight2, l.currency),
    combined AS (
        SELECT b.flight1, b.flight2, b.departs_at, b.arrives_at, b.seats_free, c.fare1, c.fare2, b.currency,
               c.refundable, c.hbo1 OR coalesce(c.hbo2, false) AS hand_baggage_only,
               c.price1 + coalesce(c.price2, 0) AS price, c.loss1 + coalesce(c.loss2, 0) AS loss
          FROM best b
          CROSS JOIN LATERAL (VALUES
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, true),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.r2, b.r2_price, b.r2_loss, b.r2_hbo, false),
              (b.r1, b.r1_price, b.r1_loss, b.r1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false),
              (b.n1, b.n1_price, b.n1_loss, b.n1_hbo, b.n2, b.n2_price, b.n2_loss, b.n2_hbo, false))
              c(fare1, price1, loss1, hbo1, fare2, price2, loss2, hbo2, refundable)
         WHERE c.fare1 IS NOT NULL AND (b.flight2 IS NULL) = (c.fare2 IS NULL)
           -- a direct flight has no second leg: its refundability is its one fare's
           AND (b.flight2 IS NOT NULL OR c.refundable = (c.fare1 = b.r1)))
    SELECT DISTINCT ON (c.flight1, c.flight2, c.refundable)
           c.flight1, c.fare1, c.flight2, c.fare2, c.currency, c.refundable, c.hand_baggage_only,
           c.departs_at, c.arrives_at, c.price,
           round(c.price + cancel_probability * c.loss, 2) AS expected_cost, c.seats_free
      FROM combined c
     ORDER BY c.flight1, c.flight2, c.refundable, c.price + cancel_probability * c.loss, c.price, c.fare1, c.fare2
$$;
COMMENT ON FUNCTION hublink.tsp_itineraries(char(3)[], char(3)[], timestamptz, timestamptz, integer, integer, text[], char(3)[], boolean, numeric, numeric) IS
    'The itinerary search: direct and one-connection itineraries leaving origins in '
    '[window_start, window_end) for destinations, with the seats left (seats_free: the caller '
    'asks for one seat per traveller, and can tell "no seats" from "no flights"), minimum '
    'connection times, no excluded carrier and no forbidden transit airport; for each itinerary '
    'and refundability, the fare combination (same currency) with the least expected cost = '
    'price + cancel_probability x (price - refunds if cancelled cancel_hours_before the first departure).';

CREATE FUNCTION hublink.tsp_conditions_text(fare1 bigint, fare2 bigint, q_price numeric,
                                            q_expected numeric, q_currency text,
                                            p_cancel numeric, q_hours numeric, q_rank integer)
    RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $f$
    SELECT format('Rank %s by expected cost. Price %s %s; expected cost %s %s (price + %s x loss if '
                  'cancelled %s h before departure). ', q_rank, q_currency, to_char(q_price, 'FM999999999990.00'),
                  q_currency, to_char(q_expected, 'FM999999999990.00'), p_cancel, q_hours)
        || string_agg(format('%s%s class %s: %s, change fee %s %s, cancellation fee %s %s per ticket%s.',
                             f.carrier, f.flight_number, fa.fare_class,
                             CASE WHEN fa.refundable THEN 'refundable (' || fa.refund_rule_set || ')' ELSE 'non-refundable' END,
                             fa.currency, to_char(fa.change_fee, 'FM999999999990.00'),
                             fa.currency, to_char(fa.cancellation_fee, 'FM999999999990.00'),
                             CASE WHEN fa.baggage_kg IS NOT NULL THEN ', ' || fa.baggage_kg || ' kg baggage' ELSE '' END),
                      ' ' ORDER BY f.departs_at)
      FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
     WHERE fa.fare_id IN (fare1, fare2)
$f$;
COMMENT ON FUNCTION hublink.tsp_conditions_text(bigint, bigint, numeric, numeric, text, numeric, numeric, integer) IS
    'conditions.notes of a quote: its rank, price and expected cost, and each fare''s refundability, fees and baggage.';

CREATE FUNCTION hublink.tsp_quote(request jsonb, removal_id text DEFAULT NULL,
                                  at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    origins      char(3)[] := hublink.tsp_origin_airports(request -> 'returnees', request -> 'departureAirports');
    dests        char(3)[];
    dest_country char(3) := request #>> '{destination,country}';
    zone         text := hublink.tsp_setting('date_time_zone');
    p_cancel     numeric := hublink.tsp_setting('cancel_probability')::numeric;
    h_cancel     numeric := hublink.tsp_setting('expected_cancel_hours_before')::numeric;
    per_date     integer := hublink.tsp_setting('quotes_per_date')::int;
    validity     interval := make_interval(mins => hublink.tsp_setting('quote_validity_minutes')::int);
    prefix       text := hublink.tsp_setting('quote_reference_prefix') || nextval('hublink.tsp_quote_serial') || '-';
    n_ret        integer := jsonb_array_length(request -> 'returnees');
    excluded     text[];
    no_transit   char(3)[];
    refund_only  boolean;
    notice_hours integer;
    limit_amount numeric;
    limit_cur    text;
    d            record;
    it           record;
    quotes       jsonb := '[]';
    problems     text[] := '{}';
    codes        text[] := '{}';
    travellers   jsonb;
    n            integer := 0;
    k            integer;
    earliest     timestamptz;
    qref         text;
    q            jsonb;
    segs         jsonb;
    costs        jsonb;
    expires      timestamptz;
    quota_left   integer;
    cands        hublink.tsp_itinerary[];
BEGIN
    IF request #>> '{destination,airportCode}' IS NOT NULL THEN
        dests := ARRAY[request #>> '{destination,airportCode}'];
    ELSE
        SELECT array_agg(a.iata) INTO dests FROM hublink.tsp_airport a
          JOIN hublink.tsp_country c ON c.iso2 = a.country WHERE c.iso3 = dest_country;
    END IF;

    -- The Travel Information Guide for this destination, merged with the request's constraints.
    SELECT array_agg(DISTINCT x) INTO excluded FROM (
        SELECT jsonb_array_elements_text(coalesce(request #> '{constraints,excludedCarriers}', '[]')) x
        UNION SELECT r.carrier FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'CARRIER_EXCLUSION' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    SELECT array_agg(DISTINCT x) INTO no_transit FROM (
        SELECT r.airport x FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND r.airport IS NOT NULL
           AND coalesce(r.destination_country, dest_country) = dest_country
        UNION SELECT a.iata FROM hublink.tsp_tig_rule r
          JOIN hublink.tsp_country c ON c.iso3 = r.transit_country
          JOIN hublink.tsp_airport a ON a.country = c.iso2
         WHERE r.active AND r.kind = 'NO_TRANSIT' AND coalesce(r.destination_country, dest_country) = dest_country) s;
    refund_only := coalesce((request #>> '{constraints,refundableOnly}')::boolean, false)
        OR EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'REFUNDABLE_REQUIRED'
                      AND coalesce(r.destination_country, dest_country) = dest_country);
    SELECT max(r.hours) INTO notice_hours FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'NOTIFICATION_PERIOD' AND coalesce(r.destination_country, dest_country) = dest_country;
    limit_amount := (request #>> '{constraints,costLimit,amount}')::numeric;
    limit_cur := request #>> '{constraints,costLimit,currency}';

    FOR d IN
        SELECT e ->> 'escortQuoteReference' AS eq_ref, (e ->> 'date')::date AS day,
               (e ->> 'escortCount')::int AS escorts, (e ->> 'earliestDeparture')::timestamptz AS earliest
          FROM jsonb_array_elements(request -> 'escortDates') WITH ORDINALITY e(e, i)
        UNION ALL
        SELECT NULL, g::date, 0, NULL
          FROM generate_series((request #>> '{travelDates,earliestLeaveDate}')::date,
                               least((request #>> '{travelDates,latestLeaveDate}')::date,
                                     (request #>> '{travelDates,earliestLeaveDate}')::date
                                     + hublink.tsp_setting('max_travel_dates')::int - 1),
                               interval '1 day') g
         WHERE request ? 'travelDates'
           AND NOT coalesce(request #> '{travelDates,exclusionDates}', '[]') ? g::date::text
    LOOP
        IF EXISTS (SELECT FROM hublink.tsp_tig_rule r WHERE r.active AND r.kind = 'BLOCKED_DATES'
                      AND coalesce(r.destination_country, dest_country) = dest_country
                      AND d.day BETWEEN r.date_from AND r.date_to) THEN
            problems := problems || (format('%s: travel to %s cannot be booked on this date (TIG)', d.day, dest_country))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;
        SELECT min(r.max_returnees - coalesce((
                   SELECT sum(b.returnees) FROM hublink.tsp_booking b
                    WHERE b.status = 'ACTIVE' AND b.destination_country = dest_country
                      AND b.travel_date BETWEEN r.date_from AND r.date_to), 0))
          INTO quota_left
          FROM hublink.tsp_tig_rule r
         WHERE r.active AND r.kind = 'QUOTA' AND coalesce(r.destination_country, dest_country) = dest_country
           AND d.day BETWEEN r.date_from AND r.date_to;
        IF quota_left < n_ret THEN
            problems := problems || (format('%s: the TIG quota for %s leaves room for %s returnee(s)', d.day, dest_country, greatest(quota_left, 0)))::text;
            codes := codes || 'OTHER'::text;
            CONTINUE;
        END IF;

        earliest := greatest(d.day::timestamp AT TIME ZONE zone, d.earliest,
                             at + make_interval(hours => coalesce(notice_hours, 0)));
        travellers := (SELECT jsonb_agg(t ORDER BY o) FROM (
            SELECT jsonb_build_object('traveller', jsonb_build_object('hoReturneeReference', r.x #>> '{personalDetails,hoReturneeReference}'),
                                      'type', 'RETURNEE') t, i o
              FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY r(x, i)
            UNION ALL
            SELECT jsonb_build_object('traveller', jsonb_build_object('escortNumber', g), 'type', 'ESCORT'), 1000 + g
              FROM generate_series(1, d.escorts) g) s);
        k := 0;
        -- One search per date; the reasons for no quote are read from the same candidates.
        cands := ARRAY(SELECT i FROM hublink.tsp_itineraries(origins, dests, earliest,
                                                  (d.day + 1)::timestamp AT TIME ZONE zone,
                                                  n_ret, d.escorts, coalesce(excluded, '{}'),
                                                  coalesce(no_transit, '{}'), refund_only,
                                                  p_cancel, h_cancel) i);
        FOR it IN
            SELECT i.* FROM unnest(cands) i
             WHERE i.seats_free >= n_ret + d.escorts
               AND (limit_amount IS NULL OR (i.currency = limit_cur AND i.price <= limit_amount))
               AND NOT EXISTS (SELECT FROM hublink.tsp_tig_rule r
                                WHERE r.active AND r.kind = 'COST_LIMIT'
                                  AND coalesce(r.destination_country, dest_country) = dest_country
                                  AND (r.currency <> i.currency OR i.price > r.amount))
             ORDER BY i.expected_cost, i.price, i.departs_at, i.flight1, i.flight2
             LIMIT per_date
        LOOP
            k := k + 1;
            n := n + 1;
            qref := prefix || n;
            segs := jsonb_build_array(hublink.tsp_segment_json(it.flight1, 'S1',
                        jsonb_path_query_array(travellers, '$[*].traveller')));
            IF it.flight2 IS NOT NULL THEN
                segs := segs || hublink.tsp_segment_json(it.flight2, 'S2',
                        jsonb_path_query_array(travellers, '$[*].traveller'));
            END IF;
            SELECT jsonb_agg(jsonb_build_object('traveller', t -> 'traveller',
                       'cost', hublink.tsp_money(hublink.tsp_fare_amount(it.fare1, t ->> 'type')
                               + coalesce(hublink.tsp_fare_amount(it.fare2, t ->> 'type'), 0), it.currency)))
              INTO costs FROM jsonb_array_elements(travellers) t;
            SELECT least(at + validity, min(f.departs_at - make_interval(hours => fa.ticketing_deadline_hours)))
              INTO expires
              FROM hublink.tsp_fare fa JOIN hublink.tsp_flight f USING (flight_id)
             WHERE fa.fare_id IN (it.fare1, it.fare2);
            q := jsonb_strip_nulls(jsonb_build_object(
                'travelQuoteReference', qref,
                'escortQuoteReference', d.eq_ref,
                'costs', jsonb_build_object('perTraveller', costs, 'total', hublink.tsp_money(it.price, it.currency),
                                      'expectedCost', hublink.tsp_money(it.expected_cost, it.currency)),
                'itinerary', segs,
                'conditions', jsonb_build_object(
                    'refundable', it.refundable,
                    'handBaggageOnly', it.hand_baggage_only,
                    'expiresAt', hublink.tsp_local_time(expires, zone),
                    'notes', hublink.tsp_conditions_text(it.fare1, it.fare2, it.price, it.expected_cost,
                                                        it.currency, p_cancel, h_cancel, k))));
            quotes := quotes || q;
            INSERT INTO hublink.tsp_quote (quote_ref, removal_id, escort_quote_ref, travel_date, created_at,
                                           expires_at, currency, price, expected_cost, refundable,
                                           destination_country, travellers, quote)
            VALUES (qref, removal_id, d.eq_ref, d.day, at, expires, it.currency, it.price,
                    it.expected_cost, it.refundable, dest_country, travellers, q);
            INSERT INTO hublink.tsp_quote_segment VALUES (qref, 'S1', 1, it.flight1, it.fare1);
            IF it.flight2 IS NOT NULL THEN
                INSERT INTO hublink.tsp_quote_segment VALUES (qref, 'S2', 2, it.flight2, it.fare2);
            END IF;
        END LOOP;
        IF k = 0 THEN
            -- Say why: with seats enough only the cost limits can have removed them.
            IF EXISTS (SELECT FROM unnest(cands) i WHERE i.seats_free >= n_ret + d.escorts) THEN
                problems := problems || (format('%s: no itinerary within the cost limit', d.day))::text;
                codes := codes || 'COST_LIMIT_EXCEEDED'::text;
            ELSIF cardinality(cands) > 0 THEN
                problems := problems || (format('%s: fewer than %s seats on every itinerary', d.day, n_ret + d.escorts))::text;
                codes := codes || 'NO_SEATS'::text;
            ELSE
                problems := problems || (format('%s: no flights fit the date and constraints', d.day))::text;
                codes := codes || 'NO_FLIGHTS'::text;
            END IF;
        END IF;
    END LOOP;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'quotes', quotes,
        'noQuoteReason', CASE WHEN cardinality(problems) > 0 THEN jsonb_build_object(
            -- One code for the response: the one shared by every date, else OTHER.
            'code', CASE WHEN (SELECT count(DISTINCT c) FROM unnest(codes) c) = 1 THEN codes[1] ELSE 'OTHER' END,
            'text', left(array_to_string(problems, '; '), 4000)) END));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_quote(jsonb, text, timestamptz) IS
    'Quotes a TravelQuoteRequest body: for each escort date (or travel date), up to '
    'quotes_per_date itineraries ranked by expected cost, obeying the TIG rules and the request''s '
    'constraints; stores them in tsp_quote and returns the TravelQuoteResponse body, with '
    'noQuoteReason (a decline code) naming the dates without quotes.';

-- from sql/parts/55_tsp_booking.sql
-- Travel provider (tsp), issue 5 section 3: bookings, tickets, refunds and the TravelUpdate
-- bodies produced for the Hub.

CREATE TABLE hublink.tsp_booking (
    booking_ref         char(6) PRIMARY KEY CHECK (booking_ref ~ '^[A-Z0-9]{6}$'),
    quote_ref           text NOT NULL UNIQUE REFERENCES hublink.tsp_quote,
    removal_id          text,
    booked_at           timestamptz NOT NULL,
    travel_date         date NOT NULL,
    destination_country char(3),
    returnees           integer NOT NULL,
    currency            char(3) NOT NULL,
    total               numeric(14,2) NOT NULL,
    ticketing_deadline  timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED'))
);
COMMENT ON TABLE hublink.tsp_booking IS 'A booking (PNR) made from a quote; its seats are taken in tsp_flight.seats_sold.';
COMMENT ON COLUMN hublink.tsp_booking.booking_ref IS 'Six-character booking reference (record locator).';
COMMENT ON COLUMN hublink.tsp_booking.quote_ref IS 'The quote booked (one booking per quote).';
COMMENT ON COLUMN hublink.tsp_booking.removal_id IS 'The removal, when known.';
COMMENT ON COLUMN hublink.tsp_booking.booked_at IS 'When it was booked.';
COMMENT ON COLUMN hublink.tsp_booking.travel_date IS 'UK date of travel (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.destination_country IS 'Destination country, alpha-3 (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.returnees IS 'Number of returnees on it (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.currency IS 'Currency of total.';
COMMENT ON COLUMN hublink.tsp_booking.total IS 'Total booked cost, including change fees and fare differences since.';
COMMENT ON COLUMN hublink.tsp_booking.ticketing_deadline IS 'Earliest ticketing deadline of its fares.';
COMMENT ON COLUMN hublink.tsp_booking.status IS 'ACTIVE or CANCELLED.';

CREATE TABLE hublink.tsp_booking_segment (
    booking_ref char(6) NOT NULL REFERENCES hublink.tsp_booking,
    segment_id  text NOT NULL,
    seq         integer NOT NULL,
    flight_id   bigint NOT NULL REFERENCES hublink.tsp_flight,
    fare_id     bigint NOT NULL REFERENCES hublink.tsp_fare,
    seats       integer NOT NULL CHECK (seats > 0),
    status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED', 'REPLACED')),
    PRIMARY KEY (booking_ref, segment_id)
);
COMMENT ON TABLE hublink.tsp_booking_segment IS 'The flights of a booking and the seats each holds.';
COMMENT ON COLUMN hublink.tsp_booking_segment.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_booking_segment.segment_id IS 'segmentId (S1, S2; S3... for replacements).';
COMMENT ON COLUMN hublink.tsp_booking_segment.seq IS 'Travel order.';
COMMENT ON COLUMN hublink.tsp_booking_segment.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_booking_segment.fare_id IS 'The fare booked.';
COMMENT ON COLUMN hublink.tsp_booking_segment.seats IS 'Seats held on the flight.';
COMMENT ON COLUMN hublink.tsp_booking_segment.status IS 'ACTIVE; CANCELLED (seats released); REPLACED by a date or flight change.';
CREATE INDEX tsp_booking_segment_flight ON hublink.tsp_booking_segment (flight_id);

CREATE SEQUENCE hublink.tsp_ticket_serial MINVALUE 1 MAXVALUE 999999999 START 240012345;
COMMENT ON SEQUENCE hublink.tsp_ticket_serial IS 'The nine-digit serial of e-ticket numbers.';

CREATE FUNCTION hublink.tsp_ticket_number(prefix text, serial bigint) RETURNS char(13)
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN prefix || lpad(serial::text, 9, '0') || (serial % 7)::text;
COMMENT ON FUNCTION hublink.tsp_ticket_number(text, bigint) IS
    'A 13-digit e-ticket number: the airline''s 3-digit prefix, a 9-digit serial and a check digit, '
    'the serial modulo 7 as airlines compute it for their document numbers (docs/tsp.md).';

CREATE TABLE hublink.tsp_ticket (
    ticket_number  char(13) PRIMARY KEY CHECK (ticket_number ~ '^[0-9]{13}$'),
    booking_ref    char(6) NOT NULL REFERENCES hublink.tsp_booking,
    traveller      jsonb NOT NULL,
    traveller_type text NOT NULL REFERENCES hublink.tsp_traveller_type,
    amount         numeric(14,2) NOT NULL,
    status         text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'EXCHANGED', 'REFUNDED', 'VOID')),
    issued_at      timestamptz NOT NULL,
    replaces       char(13) REFERENCES hublink.tsp_ticket
);
COMMENT ON TABLE hublink.tsp_ticket IS 'E-tickets, one per traveller per booking, covering all its flights.';
COMMENT ON COLUMN hublink.tsp_ticket.ticket_number IS '13-digit e-ticket number (hublink.tsp_ticket_number).';
COMMENT ON COLUMN hublink.tsp_ticket.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_ticket.traveller IS 'travellerRef: {hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.tsp_ticket.traveller_type IS 'Traveller type it is priced for.';
COMMENT ON COLUMN hublink.tsp_ticket.amount IS 'Fare paid for it, all flights.';
COMMENT ON COLUMN hublink.tsp_ticket.status IS 'OPEN; EXCHANGED by a reissue; REFUNDED on cancellation; VOID.';
COMMENT ON COLUMN hublink.tsp_ticket.issued_at IS 'When it was issued.';
COMMENT ON COLUMN hublink.tsp_ticket.replaces IS 'The ticket it was reissued from.';

CREATE TABLE hublink.tsp_passenger (
    booking_ref   char(6) NOT NULL REFERENCES hublink.tsp_booking,
    traveller     jsonb NOT NULL,
    escort_id     text,
    name          jsonb,
    special_meal  text,
    passenger_info jsonb,
    PRIMARY KEY (booking_ref, traveller)
);
COMMENT ON TABLE hublink.tsp_passenger IS
    'Passenger details for ticketing (escort names, API, meals). The PERSONAL DATA columns are '
    'sealed under the removal''s data key (73_crypto_seal.sql).';
COMMENT ON COLUMN hublink.tsp_passenger.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_passenger.traveller IS 'travellerRef.';
COMMENT ON COLUMN hublink.tsp_passenger.escort_id IS 'The escort filling the position.';
COMMENT ON COLUMN hublink.tsp_passenger.name IS 'PERSONAL DATA: personName on the ticket.';
COMMENT ON COLUMN hublink.tsp_passenger.special_meal IS 'IATA meal code.';
COMMENT ON COLUMN hublink.tsp_passenger.passenger_info IS 'PERSONAL DATA: advancePassengerInfo or travelDocument as received.';

CREATE TABLE hublink.tsp_refund (
    refund_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_ref char(6) NOT NULL REFERENCES hublink.tsp_booking,
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0),
    fees        numeric(14,2) NOT NULL CHECK (fees >= 0),
    currency    char(3) NOT NULL,
    owed_since  timestamptz NOT NULL,
    received_at timestamptz,
    reason      text
);
COMMENT ON TABLE hublink.tsp_refund IS 'Refunds owed to the Home Office, open until marked received (hublink.tsp_refund_received).';
COMMENT ON COLUMN hublink.tsp_refund.refund_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_refund.booking_ref IS 'The booking cancelled.';
COMMENT ON COLUMN hublink.tsp_refund.amount IS 'Refund owed, after fees.';
COMMENT ON COLUMN hublink.tsp_refund.fees IS 'Cancellation fees kept.';
COMMENT ON COLUMN hublink.tsp_refund.currency IS 'Currency.';
COMMENT ON COLUMN hublink.tsp_refund.owed_since IS 'When the cancellation made it owed.';
COMMENT ON COLUMN hublink.tsp_refund.received_at IS 'When it was received; NULL while owed.';
COMMENT ON COLUMN hublink.tsp_refund.reason IS 'Cancellation reason code.';

CREATE TABLE hublink.tsp_update (
    update_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_ref   text NOT NULL REFERENCES hublink.tsp_quote,
    created_at  timestamptz NOT NULL,
    cause       text NOT NULL,
    body        jsonb NOT NULL
);
COMMENT ON TABLE hublink.tsp_update IS
    'TravelUpdate bodies the engine produced (amendment outcomes, cancellations, flight events), '
    'for the message handlers to send.';
COMMENT ON COLUMN hublink.tsp_update.update_id IS 'Surrogate key, in production order.';
COMMENT ON COLUMN hublink.tsp_update.quote_ref IS 'travelQuoteReference of the booking.';
COMMENT ON COLUMN hublink.tsp_update.created_at IS 'When it was produced.';
COMMENT ON COLUMN hublink.tsp_update.cause IS 'AMENDMENT, CANCELLATION or FLIGHT_EVENT.';
COMMENT ON COLUMN hublink.tsp_update.body IS 'The TravelUpdate body.';

-- from sql/parts/56_tsp_book.sql
-- Travel provider (tsp), issue 5 section 3: booking a quote (TravelBookingRequest →
-- TravelBookingResponse body). Seats are taken with a conditional UPDATE in the caller's
-- transaction, so concurrent bookings can never sell a seat twice.

CREATE FUNCTION hublink.tsp_booking_reference() RETURNS char(6)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- No 0/O or 1/I: references are read out over the phone.
    alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    bytes bytea;
    ref   text;
BEGIN
    LOOP
        bytes := decode(replace(gen_random_uuid()::text, '-', ''), 'hex');
        ref := '';
        FOR i IN 0..5 LOOP
            ref := ref || substr(alphabet, get_byte(bytes, i) % 32 + 1, 1);
        END LOOP;
        EXIT WHEN NOT EXISTS (SELECT FROM hublink.tsp_booking b WHERE b.booking_ref = ref);
    END LOOP;
    RETURN ref;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_booking_reference() IS
    'A new random six-character booking reference not yet used (32-letter alphabet without 0, O, 1, I).';

CREATE FUNCTION hublink.tsp_decline(quote_ref text, code text, details text) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN hublink.declined_booking_body('travelQuoteReference', quote_ref, code, details);
COMMENT ON FUNCTION hublink.tsp_decline(text, text, text) IS
    'A declined TravelBookingResponse body (hublink.declined_booking_body): the code must be an '
    'active row of the decline list in hublink.reason_code, else the body lacks it and fails validation.';

CREATE FUNCTION hublink.tsp_book(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qref     text := request ->> 'travelQuoteReference';
    q        hublink.tsp_quote;
    n        integer;
    bad      text;
    taken    integer;
    ref      char(6);
    tickets  jsonb := '[]';
    t        record;
    prefix   text;
    segs     jsonb;
BEGIN
    SELECT * INTO q FROM hublink.tsp_quote WHERE quote_ref = qref FOR UPDATE;
    IF NOT FOUND THEN
        RETURN hublink.tsp_decline(qref, 'OTHER', 'No travel quote ' || qref || ' was issued by this provider.');
    ELSIF q.status = 'BOOKED' THEN
        RETURN hublink.tsp_decline(qref, 'OTHER', 'Travel quote ' || qref || ' is already booked as '
               || (SELECT b.booking_ref FROM hublink.tsp_booking b WHERE b.quote_ref = qref) || '.');
    ELSIF at > q.expires_at THEN
        RETURN hublink.tsp_decline(qref, 'QUOTE_EXPIRED', 'The quote expired at '
               || hublink.tsp_local_time(q.expires_at, hublink.tsp_setting('date_time_zone')) || '.');
    END IF;
    SELECT string_agg(f.carrier || f.flight_number, ', ') INTO bad
      FROM hublink.tsp_quote_segment s JOIN hublink.tsp_flight f USING (flight_id)
     WHERE s.quote_ref = qref AND f.status = 'CANCELLED';
    IF bad IS NOT NULL THEN
        RETURN hublink.tsp_decline(qref, 'FLIGHT_CANCELLED', 'Cancelled by the carrier: ' || bad || '.');
    END IF;
    SELECT string_agg(f.carrier || f.flight_number || ' class ' || fa.fare_class, ', ') INTO bad
      FROM hublink.tsp_quote_segment s JOIN hublink.tsp_flight f USING (flight_id)
      JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id
     WHERE s.quote_ref = qref AND NOT fa.available;
    IF bad IS NOT NULL THEN
        RETURN hublink.tsp_decline(qref, 'FARE_UNAVAILABLE', 'Fare withdrawn: ' || bad || '.');
    END IF;

    -- TIG quotas are checked again: other bookings may have used the room since the quote.
    -- Bookings to one country queue on a transaction lock so that two cannot both take the
    -- last places.
    PERFORM pg_advisory_xact_lock(hashtext('hublink.tsp_quota:' || coalesce(q.destination_country, '')));
    SELECT string_agg(format('%s to %s from %s to %s', r.max_returnees, r.destination_country, r.date_from, r.date_to), '; ')
      INTO bad
      FROM hublink.tsp_tig_rule r
     WHERE r.active AND r.kind = 'QUOTA' AND coalesce(r.destination_country, q.destination_country) = q.destination_country
       AND q.travel_date BETWEEN r.date_from AND r.date_to
       AND r.max_returnees < (SELECT count(*) FROM jsonb_array_elements(q.travellers) x WHERE x ->> 'type' = 'RETURNEE')
                            + coalesce((SELECT sum(b.returnees) FROM hublink.tsp_booking b
                                         WHERE b.status = 'ACTIVE' AND b.destination_country = q.destination_country
                                           AND b.travel_date BETWEEN r.date_from AND r.date_to), 0);
    IF bad IS NOT NULL THEN
        RETURN hublink.tsp_decline(qref, 'OTHER', 'The TIG quota is full: ' || bad || '.');
    END IF;

    -- Take the seats: one conditional UPDATE per flight, in flight_id order so that two
    -- bookings sharing flights lock them in the same order and cannot deadlock. A flight
    -- without enough seats left updates no row; the block's savepoint then gives back the
    -- seats already taken.
    n := jsonb_array_length(q.travellers);
    BEGIN
        FOR t IN SELECT s.flight_id, f.carrier || f.flight_number AS flight
                   FROM hublink.tsp_quote_segment s JOIN hublink.tsp_flight f USING (flight_id)
                  WHERE s.quote_ref = qref ORDER BY s.flight_id LOOP
            UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold + n
             WHERE f.flight_id = t.flight_id AND f.status = 'SCHEDULED' AND f.seats_sold + n <= f.seats_total;
            GET DIAGNOSTICS taken = ROW_COUNT;
            IF taken = 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'no seats', DETAIL = t.flight;
            END IF;
        END LOOP;
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS bad = PG_EXCEPTION_DETAIL;
        RETURN hublink.tsp_decline(qref, 'NO_SEATS', 'Fewer than ' || n || ' seats left on ' || bad || '.');
    END;

    ref := hublink.tsp_booking_reference();
    INSERT INTO hublink.tsp_booking (booking_ref, quote_ref, removal_id, booked_at, travel_date,
                                     destination_country, returnees, currency, total, ticketing_deadline)
    SELECT ref, qref, q.removal_id, at, q.travel_date, q.destination_country,
           (SELECT count(*) FROM jsonb_array_elements(q.travellers) x WHERE x ->> 'type' = 'RETURNEE'),
           q.currency, q.price,
           min(f.departs_at - make_interval(hours => fa.ticketing_deadline_hours))
      FROM hublink.tsp_quote_segment s JOIN hublink.tsp_flight f USING (flight_id)
      JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id WHERE s.quote_ref = qref;
    INSERT INTO hublink.tsp_booking_segment (booking_ref, segment_id, seq, flight_id, fare_id, seats)
    SELECT ref, s.segment_id, s.seq, s.flight_id, s.fare_id, n FROM hublink.tsp_quote_segment s WHERE s.quote_ref = qref;
    UPDATE hublink.tsp_quote SET status = 'BOOKED' WHERE quote_ref = qref;

    -- One ticket per traveller, on the validating (first) carrier's stock.
    SELECT a.ticket_prefix INTO prefix FROM hublink.tsp_quote_segment s
      JOIN hublink.tsp_flight f USING (flight_id) JOIN hublink.tsp_airline a ON a.iata = f.carrier
     WHERE s.quote_ref = qref ORDER BY s.seq LIMIT 1;
    SELECT jsonb_agg(s.segment_id ORDER BY s.seq) INTO segs FROM hublink.tsp_quote_segment s WHERE s.quote_ref = qref;
    FOR t IN SELECT x -> 'traveller' AS traveller, x ->> 'type' AS type, i
               FROM jsonb_array_elements(q.travellers) WITH ORDINALITY x(x, i) ORDER BY i LOOP
        INSERT INTO hublink.tsp_ticket (ticket_number, booking_ref, traveller, traveller_type, amount, issued_at)
        VALUES (hublink.tsp_ticket_number(prefix, nextval('hublink.tsp_ticket_serial')), ref, t.traveller, t.type,
                (SELECT sum(hublink.tsp_fare_amount(s.fare_id, t.type)) FROM hublink.tsp_quote_segment s WHERE s.quote_ref = qref),
                at)
        RETURNING tickets || jsonb_build_object('ticketNumber', ticket_number, 'traveller', traveller, 'segmentIds', segs)
             INTO tickets;
        INSERT INTO hublink.tsp_passenger (booking_ref, traveller, escort_id, name, special_meal, passenger_info)
        SELECT ref, t.traveller, e ->> 'escortId', e -> 'name', e ->> 'specialMeal', e -> 'advancePassengerInfo'
          FROM (SELECT (SELECT e FROM jsonb_array_elements(request -> 'escorts') e
                         WHERE e -> 'escortNumber' = t.traveller -> 'escortNumber') e) x;
    END LOOP;

    RETURN jsonb_build_object(
        'travelQuoteReference', qref,
        'outcome', 'ACCEPTED',
        'confirmation', jsonb_build_object(
            'bookingReferences', jsonb_build_array(jsonb_build_object(
                'reference', ref, 'carrierCode', (q.quote #>> '{itinerary,0,carrierCode}'), 'segmentIds', segs)),
            'tickets', tickets,
            'totalCost', hublink.tsp_money(q.price, q.currency),
            'ticketingDeadline', (SELECT hublink.tsp_local_time(b.ticketing_deadline, hublink.tsp_setting('date_time_zone'))
                                    FROM hublink.tsp_booking b WHERE b.booking_ref = ref)));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_book(jsonb, timestamptz) IS
    'Books the quoted itinerary of a TravelBookingRequest body in the caller''s transaction: '
    'takes the seats, issues a booking reference and one e-ticket per traveller, and returns the '
    'TravelBookingResponse body; or declines with a decline-list code: QUOTE_EXPIRED, '
    'FLIGHT_CANCELLED, FARE_UNAVAILABLE, NO_SEATS, OTHER (unknown or already booked quote, TIG '
    'quota full).';

-- from sql/parts/57_tsp_changes.sql
-- Travel provider (tsp), issue 5 section 3: what happens after booking. Cancellations (refund
-- from the fare rules at the time of cancellation, owed until received), amendments (passenger
-- details, name changes with the change fee) and carrier events (delay, retime, cancel), each
-- producing a TravelUpdate body kept in hublink.tsp_update.

CREATE FUNCTION hublink.tsp_cancel(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qref    text := request ->> 'travelQuoteReference';
    b       hublink.tsp_booking;
    only_segs jsonb := request -> 'segmentIds';
    refund  numeric := 0;
    gross   numeric := 0;
    segs    jsonb;
    old     jsonb;
    body    jsonb;
BEGIN
    SELECT * INTO b FROM hublink.tsp_booking WHERE quote_ref = qref FOR UPDATE;
    IF NOT FOUND OR b.status <> 'ACTIVE' THEN
        RAISE EXCEPTION 'travel quote % has no active booking', qref
            USING ERRCODE = 'no_data_found',
                  HINT = 'Only a booked, not yet cancelled quote can be cancelled; answer on the error queue.';
    END IF;

    -- Per ticket and per segment: the refund rule in force now (hours before that segment's
    -- departure) on that traveller's price, less the fare's cancellation fee.
    SELECT coalesce(sum(hublink.tsp_refund_amount(s.fare_id, p.amount,
                        extract(epoch FROM f.departs_at - at) / 3600)), 0),
           coalesce(sum(hublink.tsp_refund_amount(s.fare_id, p.amount, extract(epoch FROM f.departs_at - at) / 3600)
                        + fa.cancellation_fee), 0),
           jsonb_agg(DISTINCT s.segment_id)
      INTO refund, gross, segs
      FROM hublink.tsp_booking_segment s
      JOIN hublink.tsp_flight f USING (flight_id)
      JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id
      JOIN hublink.tsp_ticket t ON t.booking_ref = s.booking_ref AND t.status = 'OPEN'
      CROSS JOIN LATERAL (SELECT hublink.tsp_fare_amount(s.fare_id, t.traveller_type) AS amount) p
     WHERE s.booking_ref = b.booking_ref AND s.status = 'ACTIVE'
       AND (only_segs IS NULL OR only_segs ? s.segment_id);
    IF segs IS NULL THEN
        RAISE EXCEPTION 'none of the segments to cancel is active in booking %', b.booking_ref
            USING ERRCODE = 'no_data_found', HINT = 'Check segmentIds against the booking''s segments.';
    END IF;
    SELECT jsonb_agg(hublink.tsp_segment_json(s.flight_id, s.segment_id, NULL) ORDER BY s.seq) INTO old
      FROM hublink.tsp_booking_segment s WHERE s.booking_ref = b.booking_ref AND segs ? s.segment_id;

    -- Give the seats back and close the segments.
    UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold - s.seats
      FROM hublink.tsp_booking_segment s
     WHERE s.booking_ref = b.booking_ref AND segs ? s.segment_id AND f.flight_id = s.flight_id;
    UPDATE hublink.tsp_booking_segment s SET status = 'CANCELLED'
     WHERE s.booking_ref = b.booking_ref AND segs ? s.segment_id;
    IF NOT EXISTS (SELECT FROM hublink.tsp_booking_segment s WHERE s.booking_ref = b.booking_ref AND s.status = 'ACTIVE') THEN
        UPDATE hublink.tsp_booking SET status = 'CANCELLED' WHERE booking_ref = b.booking_ref;
        UPDATE hublink.tsp_ticket SET status = 'REFUNDED' WHERE booking_ref = b.booking_ref AND status = 'OPEN';
    END IF;
    INSERT INTO hublink.tsp_refund (booking_ref, amount, fees, currency, owed_since, reason)
    VALUES (b.booking_ref, refund, gross - refund, b.currency, at, request #>> '{reason,code}');

    body := jsonb_build_object(
        'travelQuoteReference', qref,
        'cancellation', jsonb_build_object(
            -- The cancellation list's code: the Home Office's own reason when it gave one.
            'reason', jsonb_build_object('code', coalesce(request #>> '{reason,code}', 'OTHER')),
            'segmentIds', segs,
            'oldSegments', old,
            'bookingReferences', CASE WHEN only_segs IS NULL THEN jsonb_build_array(b.booking_ref) ELSE '[]' END),
        'financial', jsonb_build_object(
            'refund', hublink.tsp_money(refund, b.currency),
            'cancellationFee', hublink.tsp_money(gross - refund, b.currency),
            'reason', jsonb_build_object('code', 'CANCELLED_BY_HO',
                'text', left('Cancelled by the Home Office' || coalesce(' (' || (request #>> '{reason,code}') || ')', '')
                             || '; refund owed until received.', 4000))));
    INSERT INTO hublink.tsp_update (quote_ref, created_at, cause, body) VALUES (qref, at, 'CANCELLATION', body);
    RETURN body;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_cancel(jsonb, timestamptz) IS
    'Cancels a booking (or the segmentIds of a TravelCancellation body): releases the seats, '
    'computes the refund per ticket and segment from the fare''s rules at that time less the '
    'cancellation fees, records it as owed (tsp_refund) and returns the TravelUpdate body.';

CREATE FUNCTION hublink.tsp_refund_received(booking char(6), at timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (UPDATE hublink.tsp_refund SET received_at = at
                WHERE booking_ref = booking AND received_at IS NULL RETURNING 1)
    SELECT count(*)::int FROM r
$$;
COMMENT ON FUNCTION hublink.tsp_refund_received(char(6), timestamptz) IS
    'Marks the refunds owed on a booking as received; returns how many were open.';

CREATE FUNCTION hublink.tsp_amend(request jsonb, amendment_message_id uuid, at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qref     text := request ->> 'travelQuoteReference';
    b        hublink.tsp_booking;
    u        jsonb;
    t        hublink.tsp_ticket;
    fee      numeric := 0;
    reissued jsonb := '[]';
    prefix   text;
    body     jsonb;
    accepted boolean := true;
    why      text;
    rb       record;
    rebooked boolean := false;
    fees_change numeric := 0;
    difference  numeric := 0;
    reason_code text := 'OTHER';
    itinerary   jsonb;
BEGIN
    SELECT * INTO b FROM hublink.tsp_booking WHERE quote_ref = qref AND status = 'ACTIVE' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'travel quote % has no active booking', qref
            USING ERRCODE = 'no_data_found', HINT = 'Only an active booking can be amended.';
    END IF;
    SELECT a.ticket_prefix INTO prefix FROM hublink.tsp_booking_segment s JOIN hublink.tsp_flight f USING (flight_id)
      JOIN hublink.tsp_airline a ON a.iata = f.carrier WHERE s.booking_ref = b.booking_ref ORDER BY s.seq LIMIT 1;
    -- Date and flight changes: all or none (a savepoint around them).
    BEGIN
        FOR u IN SELECT x FROM jsonb_array_elements(coalesce(request -> 'itineraryChanges', '[]')) x LOOP
            SELECT r.change_fees, r.fare_difference INTO rb FROM hublink.tsp_rebook(b.booking_ref, u) r;
            fees_change := fees_change + rb.change_fees;
            difference := difference + rb.fare_difference;
            rebooked := true;
            reason_code := coalesce(u #>> '{reason,code}', reason_code);
        END LOOP;
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
        accepted := false;
        rebooked := false;
        fees_change := 0;
        difference := 0;
        why := 'Itinerary change not possible: ' || why || '.';
    END;
    IF rebooked THEN
        -- Every open ticket is reissued at its new price over the new itinerary.
        FOR t IN SELECT * FROM hublink.tsp_ticket WHERE booking_ref = b.booking_ref AND status = 'OPEN' ORDER BY ticket_number LOOP
            UPDATE hublink.tsp_ticket SET status = 'EXCHANGED' WHERE ticket_number = t.ticket_number;
            INSERT INTO hublink.tsp_ticket (ticket_number, booking_ref, traveller, traveller_type, amount, issued_at, replaces)
            VALUES (hublink.tsp_ticket_number(prefix, nextval('hublink.tsp_ticket_serial')), b.booking_ref, t.traveller,
                    t.traveller_type,
                    (SELECT sum(hublink.tsp_fare_amount(s.fare_id, t.traveller_type)) FROM hublink.tsp_booking_segment s
                      WHERE s.booking_ref = b.booking_ref AND s.status = 'ACTIVE'),
                    at, t.ticket_number)
            RETURNING reissued || jsonb_build_object('ticketNumber', ticket_number, 'traveller', traveller) INTO reissued;
        END LOOP;
        SELECT jsonb_agg(hublink.tsp_segment_json(s.flight_id, s.segment_id, NULL) ORDER BY s.seq) INTO itinerary
          FROM hublink.tsp_booking_segment s WHERE s.booking_ref = b.booking_ref AND s.status = 'ACTIVE';
    END IF;
    FOR u IN SELECT x FROM jsonb_array_elements(coalesce(request -> 'passengerUpdates', '[]')) x LOOP
        UPDATE hublink.tsp_passenger p SET
               escort_id = coalesce(u ->> 'escortId', p.escort_id),
               name = coalesce(u -> 'name', p.name),
               special_meal = coalesce(u ->> 'specialMeal', p.special_meal),
               passenger_info = coalesce(u -> 'advancePassengerInfo', u -> 'travelDocument', p.passenger_info)
         WHERE p.booking_ref = b.booking_ref AND p.traveller = u -> 'traveller';
        IF NOT FOUND THEN
            INSERT INTO hublink.tsp_passenger VALUES (b.booking_ref, u -> 'traveller', u ->> 'escortId', u -> 'name',
                u ->> 'specialMeal', coalesce(u -> 'advancePassengerInfo', u -> 'travelDocument'));
        END IF;
        IF u ? 'name' THEN
            -- A name change reissues the ticket; each fare on it charges its change fee.
            SELECT * INTO t FROM hublink.tsp_ticket WHERE booking_ref = b.booking_ref
               AND traveller = u -> 'traveller' AND status = 'OPEN';
            IF FOUND THEN
                fee := fee + (SELECT sum(fa.change_fee) FROM hublink.tsp_booking_segment s
                                JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id
                               WHERE s.booking_ref = b.booking_ref AND s.status = 'ACTIVE');
                UPDATE hublink.tsp_ticket SET status = 'EXCHANGED' WHERE ticket_number = t.ticket_number;
                INSERT INTO hublink.tsp_ticket (ticket_number, booking_ref, traveller, traveller_type, amount, issued_at, replaces)
                VALUES (hublink.tsp_ticket_number(prefix, nextval('hublink.tsp_ticket_serial')), b.booking_ref,
                        t.traveller, t.traveller_type, t.amount, at, t.ticket_number)
                RETURNING reissued || jsonb_build_object('ticketNumber', ticket_number, 'traveller', traveller) INTO reissued;
            END IF;
        END IF;
    END LOOP;
    -- The Home Office pays change fees and a higher fare; a lower fare is not refunded.
    UPDATE hublink.tsp_booking SET total = total + fee + fees_change + greatest(difference, 0)
     WHERE booking_ref = b.booking_ref;
    body := jsonb_strip_nulls(jsonb_build_object(
        'travelQuoteReference', qref,
        'amendmentOutcome', jsonb_build_object(
            'amendmentMessageId', amendment_message_id, 'accepted', accepted,
            'reason', CASE WHEN why IS NOT NULL THEN jsonb_build_object('code', 'OTHER', 'text', left(why, 4000)) END,
            'itinerary', itinerary,
            'tickets', CASE WHEN jsonb_array_length(reissued) > 0 THEN reissued END),
        'financial', CASE WHEN fee + fees_change + greatest(difference, 0) > 0 THEN jsonb_build_object(
            'changeFee', hublink.tsp_money(fee + fees_change + greatest(difference, 0), b.currency),
            'reason', jsonb_build_object('code', CASE WHEN rebooked THEN reason_code ELSE 'NAME_CHANGE' END,
                      'text', format('Name change fees %s, date or flight change fees %s, fare difference %s (%s).',
                                     to_char(fee, 'FM999999999990.00'), to_char(fees_change, 'FM999999999990.00'),
                                     to_char(greatest(difference, 0), 'FM999999999990.00'), b.currency))) END));
    INSERT INTO hublink.tsp_update (quote_ref, created_at, cause, body) VALUES (qref, at, 'AMENDMENT', body);
    RETURN body;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_amend(jsonb, uuid, timestamptz) IS
    'Applies a TravelAmendment body to a booking: passenger details and API are stored; a name '
    'change reissues the ticket and charges the change fee of every fare on it. Returns the '
    'TravelUpdate body (amendmentOutcome, financial). Itinerary changes go through '
    'hublink.tsp_rebook: change fees plus any higher fare are charged, the tickets reissued; when '
    'no flight fits, nothing changes and the outcome is not accepted.';

CREATE FUNCTION hublink.tsp_flight_event(flight bigint, event text, new_departs_at timestamptz DEFAULT NULL,
                                         new_arrives_at timestamptz DEFAULT NULL, note text DEFAULT NULL,
                                         at timestamptz DEFAULT now())
    RETURNS TABLE (quote_ref text, body jsonb)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r       record;
    old_seg jsonb;
    new_seg jsonb;
    code    text;
BEGIN
    IF event NOT IN ('DELAY', 'SCHEDULE_CHANGE', 'CANCELLED') THEN
        RAISE EXCEPTION 'unknown flight event "%"', event
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use DELAY, SCHEDULE_CHANGE or CANCELLED.';
    END IF;
    IF event <> 'CANCELLED' AND (new_departs_at IS NULL OR new_arrives_at IS NULL) THEN
        RAISE EXCEPTION 'a % needs the new departure and arrival', lower(event)
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass new_departs_at and new_arrives_at.';
    END IF;
    SET LOCAL client_min_messages = warning;
    CREATE TEMP TABLE IF NOT EXISTS tsp_event_old (booking_ref char(6), segment_id text, seg jsonb) ON COMMIT DROP;
    TRUNCATE pg_temp.tsp_event_old;
    INSERT INTO pg_temp.tsp_event_old
    SELECT s.booking_ref, s.segment_id, hublink.tsp_segment_json(s.flight_id, s.segment_id, NULL)
      FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking b USING (booking_ref)
     WHERE s.flight_id = flight AND s.status = 'ACTIVE' AND b.status = 'ACTIVE';
    IF event = 'CANCELLED' THEN
        UPDATE hublink.tsp_flight SET status = 'CANCELLED' WHERE flight_id = flight;
    ELSE
        UPDATE hublink.tsp_flight SET departs_at = new_departs_at, arrives_at = new_arrives_at WHERE flight_id = flight;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flight % does not exist', flight USING ERRCODE = 'no_data_found',
            HINT = 'Look the flight up in hublink.tsp_flight.';
    END IF;
    FOR r IN SELECT o.*, b.quote_ref AS qref FROM pg_temp.tsp_event_old o JOIN hublink.tsp_booking b USING (booking_ref)
              ORDER BY b.quote_ref LOOP
        IF event = 'CANCELLED' THEN
            body := jsonb_build_object('travelQuoteReference', r.qref,
                'cancellation', jsonb_strip_nulls(jsonb_build_object(
                    'reason', jsonb_build_object('code', 'FLIGHT_CANCELLED'),
                    'segmentIds', jsonb_build_array(r.segment_id),
                    'oldSegments', jsonb_build_array(r.seg),
                    'notes', note)));
        ELSE
            SELECT s.flight_id INTO code FROM hublink.tsp_booking_segment s
             WHERE s.booking_ref = r.booking_ref AND s.segment_id = r.segment_id;
            new_seg := hublink.tsp_segment_json(flight, r.segment_id, NULL);
            body := jsonb_build_object('travelQuoteReference', r.qref,
                'flightChanges', jsonb_build_array(jsonb_build_object(
                    'reason', jsonb_strip_nulls(jsonb_build_object('code', event, 'text', note)),
                    'oldSegment', r.seg, 'newSegment', new_seg)));
        END IF;
        INSERT INTO hublink.tsp_update (quote_ref, created_at, cause, body) VALUES (r.qref, at, 'FLIGHT_EVENT', body);
        quote_ref := r.qref;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_flight_event(bigint, text, timestamptz, timestamptz, text, timestamptz) IS
    'Enters a carrier event for a flight, for tsp staff: DELAY or SCHEDULE_CHANGE (new times) or '
    'CANCELLED. Returns (and keeps in tsp_update) one TravelUpdate body per active booking on it: '
    'flightChanges with the old and new segment, or a cancellation with reason FLIGHT_CANCELLED.';

-- from sql/parts/58_tsp_rebook.sql
-- Travel provider (tsp), issue 5 section 3: date and flight changes asked for in a
-- TravelAmendment (itineraryChanges). The booked segments are replaced by flights matching the
-- requested segment specifications, seats moved in the same transaction; the Home Office pays
-- the change fee of each replaced fare per ticket plus any fare difference.

CREATE FUNCTION hublink.tsp_rebook(booking char(6), change jsonb,
                                   OUT change_fees numeric, OUT fare_difference numeric)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n          integer;
    tickets    integer;
    old_price  numeric;
    new_price  numeric := 0;
    was_refundable boolean;
    spec       jsonb;
    fl         record;
    next_no    integer;
    next_seq   integer;
    taken      integer;
BEGIN
    IF EXISTS (SELECT FROM jsonb_array_elements_text(change -> 'affectedSegmentIds') x(id)
                WHERE NOT EXISTS (SELECT FROM hublink.tsp_booking_segment s
                                   WHERE s.booking_ref = booking AND s.segment_id = x.id AND s.status = 'ACTIVE')) THEN
        RAISE EXCEPTION 'an affected segment is not an active segment of booking %', booking
            USING ERRCODE = 'P0001', HINT = 'affectedSegmentIds must name booked segments.';
    END IF;
    SELECT count(*) INTO tickets FROM hublink.tsp_ticket t WHERE t.booking_ref = booking AND t.status = 'OPEN';
    SELECT max(s.seats), sum(fa.change_fee) * tickets,
           sum((SELECT sum(hublink.tsp_fare_amount(s.fare_id, t.traveller_type)) FROM hublink.tsp_ticket t
                 WHERE t.booking_ref = booking AND t.status = 'OPEN')),
           bool_and(fa.refundable)
      INTO n, change_fees, old_price, was_refundable
      FROM hublink.tsp_booking_segment s JOIN hublink.tsp_fare fa ON fa.fare_id = s.fare_id
     WHERE s.booking_ref = booking AND change -> 'affectedSegmentIds' ? s.segment_id;

    -- Release the old seats.
    UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold - s.seats
      FROM hublink.tsp_booking_segment s
     WHERE s.booking_ref = booking AND change -> 'affectedSegmentIds' ? s.segment_id AND f.flight_id = s.flight_id;
    UPDATE hublink.tsp_booking_segment s SET status = 'REPLACED'
     WHERE s.booking_ref = booking AND change -> 'affectedSegmentIds' ? s.segment_id;

    SELECT max(substring(s.segment_id FROM '[0-9]+')::int), max(s.seq) INTO next_no, next_seq
      FROM hublink.tsp_booking_segment s WHERE s.booking_ref = booking;
    FOR spec IN SELECT x FROM jsonb_array_elements(change -> 'requestedSegments') x LOOP
        IF spec ->> 'segmentType' <> 'PLANE' THEN
            RAISE EXCEPTION 'only PLANE segments are rebooked automatically' USING ERRCODE = 'P0001',
                HINT = 'tsp staff book other segment types.';
        END IF;
        -- The requested flight (or the best on the date), preferring a fare as refundable as the
        -- old one, then the cheapest for these travellers.
        SELECT f.flight_id, fa.fare_id, p.price INTO fl
          FROM hublink.tsp_flight f
          JOIN hublink.tsp_airport o ON o.iata = f.origin
          JOIN hublink.tsp_fare fa ON fa.flight_id = f.flight_id AND fa.available
          CROSS JOIN LATERAL (SELECT sum(hublink.tsp_fare_amount(fa.fare_id, t.traveller_type)) AS price
                                FROM hublink.tsp_ticket t WHERE t.booking_ref = booking AND t.status = 'OPEN') p
         WHERE f.origin = (spec #>> '{startPoint,airportCode}')::bpchar AND f.destination = (spec #>> '{endPoint,airportCode}')::bpchar
           AND (f.departs_at AT TIME ZONE o.tz)::date = (spec ->> 'date')::date
           AND (spec ->> 'carrierCode' IS NULL OR f.carrier = (spec ->> 'carrierCode')::bpchar)
           AND (spec ->> 'flightNumber' IS NULL OR f.flight_number = spec ->> 'flightNumber')
           AND (spec ->> 'earliestStart' IS NULL OR f.departs_at >= (spec ->> 'earliestStart')::timestamptz)
           AND (spec ->> 'latestStart' IS NULL OR f.departs_at <= (spec ->> 'latestStart')::timestamptz)
           AND f.status = 'SCHEDULED' AND f.seats_total - f.seats_sold >= n AND p.price IS NOT NULL
         ORDER BY (fa.refundable = was_refundable) DESC, p.price, f.departs_at, fa.fare_id
         LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no flight % to % on % with % seats', spec #>> '{startPoint,airportCode}',
                  spec #>> '{endPoint,airportCode}', spec ->> 'date', n USING ERRCODE = 'P0001',
                  HINT = 'The amendment is answered not accepted; the booking is unchanged.';
        END IF;
        UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold + n
         WHERE f.flight_id = fl.flight_id AND f.seats_sold + n <= f.seats_total;
        GET DIAGNOSTICS taken = ROW_COUNT;
        IF taken = 0 THEN
            RAISE EXCEPTION 'the seats on the new flight were sold meanwhile' USING ERRCODE = 'P0001';
        END IF;
        next_no := next_no + 1;
        next_seq := next_seq + 1;
        INSERT INTO hublink.tsp_booking_segment (booking_ref, segment_id, seq, flight_id, fare_id, seats)
        VALUES (booking, 'S' || next_no, next_seq, fl.flight_id, fl.fare_id, n);
        new_price := new_price + fl.price;
    END LOOP;
    fare_difference := new_price - old_price;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_rebook(char(6), jsonb) IS
    'Replaces the affectedSegmentIds of a booking by flights matching the requestedSegments '
    '(PLANE: airports, date, optional carrier, flight number and time window), moving the seats; '
    'returns the change fees (each replaced fare''s change fee per open ticket) and the fare '
    'difference (new minus old prices, negative when cheaper). Raises P0001 when it cannot, so '
    'that the caller''s block rolls the partial change back.';

-- from sql/parts/59_tsp_responders.sql
-- Travel provider (tsp): answering automatically. One responder per inbound tsp message type
-- (hublink.message_responder, issue 4's seam), each wrapping an engine function's body in an
-- envelope and sending it with hublink.send_message, in the transaction that applied the
-- inbound message. Off by default: hublink.tsp_auto_answer() registers or removes them.

CREATE FUNCTION hublink.tsp_answer_quote_request(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body jsonb;
BEGIN
    -- tsp_quote's removal_id is the conversation's removal reference (the message's removalId,
    -- e.g. RMV-2026-000123), not the internal hublink.removal.removal_id.
    body := hublink.tsp_quote(message -> 'body', message ->> 'removalId', now());
    IF jsonb_array_length(body -> 'quotes') = 0 AND NOT body ? 'noQuoteReason' THEN
        -- No date to quote at all: still an answer, and never an empty one without a reason.
        body := body || jsonb_build_object('noQuoteReason', jsonb_build_object(
                    'code', 'OTHER', 'text', 'The request names no date to quote.'));
    END IF;
    RETURN hublink.send_message(hublink.new_message('TravelQuoteResponse', message ->> 'removalId', body));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_answer_quote_request(jsonb) IS
    'Responder for TravelQuoteRequest at the tsp: quotes the body with hublink.tsp_quote (for '
    'the removal reference of the message, at now()) and sends the TravelQuoteResponse, quotes '
    'or noQuoteReason. Returns the messageId sent.';

CREATE FUNCTION hublink.tsp_answer_booking_request(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.send_message(hublink.new_message('TravelBookingResponse', message ->> 'removalId',
                                                    hublink.tsp_book(message -> 'body', now())));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_answer_booking_request(jsonb) IS
    'Responder for TravelBookingRequest at the tsp: books the quote with hublink.tsp_book (seats, '
    'booking reference, e-tickets) and sends the TravelBookingResponse, ACCEPTED or DECLINED '
    'with a decline-list code. Returns the messageId sent.';

CREATE FUNCTION hublink.tsp_answer_amendment(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- An amendment of a booking the engine does not hold raises no_data_found from
    -- tsp_amend: propagated, so the worker retries the message and finally rejects it.
    RETURN hublink.send_message(hublink.new_message('TravelUpdate', message ->> 'removalId',
        hublink.tsp_amend(message -> 'body', (message ->> 'messageId')::uuid, now())));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_answer_amendment(jsonb) IS
    'Responder for TravelAmendment at the tsp: applies it with hublink.tsp_amend (passenger '
    'details, name changes, date or flight changes) and sends the TravelUpdate with its '
    'amendmentOutcome (amendmentMessageId = the amendment''s messageId) and fees. An amendment of '
    'a booking the engine does not hold raises no_data_found, which propagates: the worker '
    'retries the message, then rejects it. Returns the messageId sent.';

CREATE FUNCTION hublink.tsp_answer_cancellation(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Before booking (or after a declined booking) there is nothing to release or refund, and
    -- a TravelUpdate would name no booking: the cancellation is applied and not answered.
    IF NOT EXISTS (SELECT FROM hublink.travel_booking k JOIN hublink.removal r USING (removal_id)
                    WHERE r.removal_reference = message ->> 'removalId'
                      AND k.travel_quote_reference = message #>> '{body,travelQuoteReference}'
                      AND k.outcome = 'ACCEPTED') THEN
        RETURN NULL;
    END IF;
    -- A booking the conversation confirmed but the engine does not hold as active (booked by
    -- hand, already cancelled) raises no_data_found from tsp_cancel: propagated, so the worker
    -- retries the message and finally rejects it.
    RETURN hublink.send_message(hublink.new_message('TravelUpdate', message ->> 'removalId',
                                                    hublink.tsp_cancel(message -> 'body', now())));
END;
$$;
COMMENT ON FUNCTION hublink.tsp_answer_cancellation(jsonb) IS
    'Responder for TravelCancellation at the tsp: when the conversation has a confirmed booking '
    'of the quote, cancels it with hublink.tsp_cancel (seats released, refund owed) and sends the '
    'TravelUpdate with the cancellation and the refund; before booking it sends nothing and '
    'returns NULL. A confirmed booking the engine does not hold as active raises no_data_found, '
    'which propagates: the worker retries the message, then rejects it. Returns the messageId '
    'sent.';

CREATE FUNCTION hublink.tsp_auto_answer(enabled boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- The engine's responders, one per inbound message type of the tsp.
    wanted constant hublink.message_responder[] := ARRAY[
        ('TravelQuoteRequest', 'hublink.tsp_answer_quote_request(jsonb)',
         'tsp: quote with hublink.tsp_quote, send the TravelQuoteResponse (hublink.tsp_auto_answer).'),
        ('TravelBookingRequest', 'hublink.tsp_answer_booking_request(jsonb)',
         'tsp: book with hublink.tsp_book, send the TravelBookingResponse (hublink.tsp_auto_answer).'),
        ('TravelAmendment', 'hublink.tsp_answer_amendment(jsonb)',
         'tsp: amend with hublink.tsp_amend, send the TravelUpdate (hublink.tsp_auto_answer).'),
        ('TravelCancellation', 'hublink.tsp_answer_cancellation(jsonb)',
         'tsp: cancel with hublink.tsp_cancel, send the TravelUpdate (hublink.tsp_auto_answer).')
    ]::hublink.message_responder[];
BEGIN
    RETURN hublink.set_engine_responders('tsp', 'travel', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_auto_answer(boolean) IS
    'Makes the travel provider answer automatically (true, the default) or by hand again '
    '(false): registers or removes the engine''s responders in hublink.message_responder for '
    'TravelQuoteRequest, TravelBookingRequest, TravelAmendment and TravelCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = tsp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s rows. Returns the number of rows registered (4), or 0 when disabled.';
REVOKE ALL ON FUNCTION hublink.tsp_auto_answer(boolean) FROM PUBLIC;

CREATE FUNCTION hublink.tsp_report_flight_event(flight bigint, event text,
                                                new_departs_at timestamptz DEFAULT NULL,
                                                new_arrives_at timestamptz DEFAULT NULL,
                                                note text DEFAULT NULL)
    RETURNS TABLE (quote_ref text, removal_reference text, message_id text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    u record;
BEGIN
    -- tsp_flight_event records the event and builds one TravelUpdate per active booking on
    -- the flight; each goes to the Hub in the conversation of the booking's removal.
    FOR u IN SELECT e.quote_ref, e.body, b.removal_id AS removal_ref
               FROM hublink.tsp_flight_event(flight, event, new_departs_at, new_arrives_at, note, now()) e
               LEFT JOIN hublink.tsp_booking b ON b.quote_ref = e.quote_ref
    LOOP
        IF u.removal_ref IS NULL THEN
            RAISE EXCEPTION 'booking of quote % belongs to no known removal', u.quote_ref
                USING ERRCODE = 'no_data_found',
                      DETAIL = 'A TravelUpdate is sent in the conversation of a removal, and this booking was made without one.',
                      HINT = 'Tell the Hub by other means, or enter the event with hublink.tsp_flight_event and send by hand.';
        END IF;
        quote_ref := u.quote_ref;
        removal_reference := u.removal_ref;
        message_id := hublink.send_message(hublink.new_message('TravelUpdate', u.removal_ref, u.body));
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.tsp_report_flight_event(bigint, text, timestamptz, timestamptz, text) IS
    'For tsp staff: enters a carrier event for a flight (DELAY or SCHEDULE_CHANGE with the new '
    'times, or CANCELLED; hublink.tsp_flight_event) and sends the TravelUpdate of every active '
    'booking on it to the Hub. Returns one row per update sent. The whole is one transaction: '
    'an update the state machine refuses rolls back the event.';
REVOKE ALL ON FUNCTION hublink.tsp_report_flight_event(bigint, text, timestamptz, timestamptz, text) FROM PUBLIC;

-- from sql/parts/60_esp_reference.sql
-- Escort provider (esp), issue 5 section 4: settings and reference data of the escort engine,
-- as rows an admin edits (no GUC, no rebuild). docs/esp.md describes every table.

CREATE TABLE hublink.esp_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_config IS 'Settings of the escort provider engine, as rows an admin edits.';
COMMENT ON COLUMN hublink.esp_config.key IS 'Setting name.';
COMMENT ON COLUMN hublink.esp_config.value IS 'Value as text, cast by the hublink.esp_setting() readers.';
COMMENT ON COLUMN hublink.esp_config.description IS 'What it does and its unit.';

INSERT INTO hublink.esp_config VALUES
    ('quote_reference_prefix', 'ESP-EQ-', 'Start of escort quote references: prefix, six-digit serial, -, a letter per date.'),
    ('max_escort_dates', '14', 'Most dates offered in one escort quote response.'),
    ('min_notice_hours', '48', 'A date is offered only when it starts at least this many hours after the request.'),
    ('quote_validity_minutes', '10080', 'How long an escort quote may be booked after it is issued.'),
    ('currency', 'GBP', 'Currency of rates, quotes and fees.'),
    ('date_time_zone', 'Europe/London', 'Escort dates are calendar dates in this zone; notice is counted to the date''s midnight here.'),
    ('min_team_size', '2', 'Fewest escort officers (medics not counted) on any escorting.'),
    ('escorts_per_returnee', '1', 'Escort officers per returnee without a risk flag asking for more.'),
    ('same_gender_escorts_per_returnee', '1', 'Of each returnee''s escorts, this many must be of the returnee''s sex (all of them when a flag says same_gender).'),
    ('working_language', 'en', 'Language every escort position requires.'),
    ('default_airport', 'LHR', 'Departure airport for a returnee location without an esp_location row.'),
    ('default_base', 'ESP Heathrow escort base, Hayes', 'Escort base for a returnee location without an esp_location row.'),
    ('default_road_minutes', '90', 'Road time from a location without an esp_location row to its airport or destination.'),
    ('default_flight_minutes', '480', 'Flight time to a destination country without an esp_flight_time row.'),
    ('default_segment_minutes', '60', 'Duration of a segment added by an amendment without planned times.');

CREATE FUNCTION hublink.esp_setting(name text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT c.value INTO v FROM hublink.esp_config c WHERE c.key = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'esp setting "%" is not defined', name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'The escort engine reads its settings from hublink.esp_config.',
                  HINT = 'Insert a row into hublink.esp_config (docs/esp.md lists the settings).';
    END IF;
    RETURN v;
END;
$$;
COMMENT ON FUNCTION hublink.esp_setting(text) IS
    'The value of an esp_config row; an error names a missing one rather than guessing a default.';

CREATE FUNCTION hublink.esp_money(amount numeric, currency text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object('amount', to_char(amount, 'FM999999999990.00'), 'currency', currency);
COMMENT ON FUNCTION hublink.esp_money(numeric, text) IS 'A money object: amount with two decimals as a string, and currency.';

CREATE TABLE hublink.esp_role (
    role        text PRIMARY KEY CHECK (role ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    hourly_rate numeric(14,2) NOT NULL CHECK (hourly_rate >= 0),
    leader      boolean NOT NULL DEFAULT false,
    medic       boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
-- The rules pick roles by these flags: one leading role, one medic role, one other (the officer).
CREATE UNIQUE INDEX esp_role_kind ON hublink.esp_role (leader, medic);
COMMENT ON TABLE hublink.esp_role IS 'Roles of escort positions (escortPosition.role) and what an hour of each costs.';
COMMENT ON COLUMN hublink.esp_role.role IS 'Role code: TEAM_LEADER, ESCORT, MEDIC.';
COMMENT ON COLUMN hublink.esp_role.hourly_rate IS 'Rate per hour of effort, in the currency setting.';
COMMENT ON COLUMN hublink.esp_role.leader IS 'Only escorts qualified to lead (esp_escort.team_leader) fill it; position 1 has it.';
COMMENT ON COLUMN hublink.esp_role.medic IS 'The medic''s role: filled only by medics (esp_escort.medic), and only they fill it.';
COMMENT ON COLUMN hublink.esp_role.description IS 'What the role does.';
INSERT INTO hublink.esp_role VALUES
    ('TEAM_LEADER', 40.00, true, false, 'Leads the escort team; position 1. Filled by an escort qualified to lead.'),
    ('ESCORT', 32.00, false, false, 'Escort officer.'),
    ('MEDIC', 45.00, false, true, 'Paramedic or nurse; filled only by a medic.');

CREATE TABLE hublink.esp_physique (
    physique    text PRIMARY KEY CHECK (physique ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    strength    integer NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_physique IS 'Physique categories of escorts; an escort fills positions of its strength or less.';
COMMENT ON COLUMN hublink.esp_physique.physique IS 'Category code, e.g. STANDARD, ENHANCED.';
COMMENT ON COLUMN hublink.esp_physique.strength IS 'Order of categories: higher fills lower.';
COMMENT ON COLUMN hublink.esp_physique.description IS 'What the category means.';
INSERT INTO hublink.esp_physique VALUES
    ('STANDARD', 1, 'Standard control and restraint training.'),
    ('ENHANCED', 2, 'Enhanced physique and restraint training, for violent or disruptive returnees.');

CREATE TABLE hublink.esp_place_kind (
    place_kind  text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_place_kind IS 'Where an escort segment starts or finishes, resolved per removal.';
COMMENT ON COLUMN hublink.esp_place_kind.place_kind IS 'Kind code.';
COMMENT ON COLUMN hublink.esp_place_kind.description IS 'How it is resolved.';
INSERT INTO hublink.esp_place_kind VALUES
    ('LOCATION', 'The first returnee''s location (detention centre, prison, address).'),
    ('AIRPORT', 'The departure airport of that location (esp_location, else default_airport), with its terminal.'),
    ('DESTINATION', 'The destination airport when given, else the destination''s description.'),
    ('BASE', 'The escort base of that location (esp_location, else default_base).');

CREATE TABLE hublink.esp_segment_template (
    international       boolean NOT NULL,
    escort_on_transport boolean NOT NULL,
    seq                 integer NOT NULL CHECK (seq BETWEEN 1 AND 99),
    segment_kind        text NOT NULL,
    transport_type      text NOT NULL CHECK (transport_type ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    returnee_present    boolean NOT NULL,
    start_place         text NOT NULL REFERENCES hublink.esp_place_kind,
    finish_place        text NOT NULL REFERENCES hublink.esp_place_kind,
    minutes             integer NOT NULL CHECK (minutes >= 0),
    add_road_minutes    boolean NOT NULL DEFAULT false,
    add_flight_minutes  boolean NOT NULL DEFAULT false,
    allowance           numeric(14,2) NOT NULL DEFAULT 0 CHECK (allowance >= 0),
    day_offset          integer NOT NULL DEFAULT 0 CHECK (day_offset >= 0),
    PRIMARY KEY (international, escort_on_transport, seq)
);
COMMENT ON TABLE hublink.esp_segment_template IS
    'The escort segments of each kind of removal (international or not, escorts on the transport '
    'or to the gate), in order: pick-up, transfer, flight, return. Segment n is S<n>.';
COMMENT ON COLUMN hublink.esp_segment_template.international IS 'For international removals (true) or in-country moves.';
COMMENT ON COLUMN hublink.esp_segment_template.escort_on_transport IS 'For escorts travelling on the transport (true) or leaving the returnee at the gate.';
COMMENT ON COLUMN hublink.esp_segment_template.seq IS 'Order; the segment ID is S followed by it.';
COMMENT ON COLUMN hublink.esp_segment_template.segment_kind IS 'PICK_UP, TRANSFER, FLIGHT, RETURN_FLIGHT, RETURN (named in notes only).';
COMMENT ON COLUMN hublink.esp_segment_template.transport_type IS 'transportType of the segment, e.g. ESCORT_VEHICLE, SCHEDULED_FLIGHT, ON_FOOT.';
COMMENT ON COLUMN hublink.esp_segment_template.returnee_present IS 'Whether the returnee travels on the segment.';
COMMENT ON COLUMN hublink.esp_segment_template.start_place IS 'Where it starts (esp_place_kind).';
COMMENT ON COLUMN hublink.esp_segment_template.finish_place IS 'Where it finishes (esp_place_kind).';
COMMENT ON COLUMN hublink.esp_segment_template.minutes IS 'Fixed effort in minutes per escort (loading, check-in, rest).';
COMMENT ON COLUMN hublink.esp_segment_template.add_road_minutes IS 'Add the road time of the location (esp_location.road_minutes).';
COMMENT ON COLUMN hublink.esp_segment_template.add_flight_minutes IS 'Add the flight time to the destination country (esp_flight_time).';
COMMENT ON COLUMN hublink.esp_segment_template.allowance IS 'Fixed cost per escort on the segment (e.g. overnight subsistence), in the currency setting.';
COMMENT ON COLUMN hublink.esp_segment_template.day_offset IS 'Days after the escort date on which the segment ends; the escorts are on duty from the escort date to the largest offset.';
INSERT INTO hublink.esp_segment_template VALUES
    (true, true, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'AIRPORT', 60, true, false, 0, 0),
    (true, true, 2, 'FLIGHT', 'SCHEDULED_FLIGHT', true, 'AIRPORT', 'DESTINATION', 120, false, true, 0, 0),
    (true, true, 3, 'RETURN_FLIGHT', 'SCHEDULED_FLIGHT', false, 'DESTINATION', 'AIRPORT', 720, false, true, 95.00, 1),
    (true, true, 4, 'RETURN', 'ESCORT_VEHICLE', false, 'AIRPORT', 'BASE', 60, false, false, 0, 1),
    (true, false, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'AIRPORT', 60, true, false, 0, 0),
    (true, false, 2, 'TRANSFER', 'ON_FOOT', true, 'AIRPORT', 'AIRPORT', 120, false, false, 0, 0),
    (true, false, 3, 'RETURN', 'ESCORT_VEHICLE', false, 'AIRPORT', 'BASE', 60, false, false, 0, 0),
    (false, true, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'DESTINATION', 60, true, false, 0, 0),
    (false, true, 2, 'RETURN', 'ESCORT_VEHICLE', false, 'DESTINATION', 'BASE', 0, true, false, 0, 0),
    (false, false, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'DESTINATION', 60, true, false, 0, 0),
    (false, false, 2, 'RETURN', 'ESCORT_VEHICLE', false, 'DESTINATION', 'BASE', 0, true, false, 0, 0);

CREATE TABLE hublink.esp_location (
    location_id  text PRIMARY KEY,
    airport      char(3) NOT NULL CHECK (airport ~ '^[A-Z]{3}$'),
    terminal     text,
    base         text NOT NULL,
    road_minutes integer NOT NULL CHECK (road_minutes >= 0)
);
COMMENT ON TABLE hublink.esp_location IS 'Returnee locations the escorts know: where they fly from and which base serves them.';
COMMENT ON COLUMN hublink.esp_location.location_id IS 'A detention centre or prison ID, or the town of an address.';
COMMENT ON COLUMN hublink.esp_location.airport IS 'Departure airport, IATA.';
COMMENT ON COLUMN hublink.esp_location.terminal IS 'Usual terminal, when known.';
COMMENT ON COLUMN hublink.esp_location.base IS 'The escort base serving the location (where escorts return).';
COMMENT ON COLUMN hublink.esp_location.road_minutes IS 'Road time from the location to its airport (or, in-country, to the destination).';

CREATE TABLE hublink.esp_flight_time (
    country char(3) PRIMARY KEY CHECK (country ~ '^[A-Z]{3}$'),
    minutes integer NOT NULL CHECK (minutes > 0)
);
COMMENT ON TABLE hublink.esp_flight_time IS 'Flight time from the UK to a destination country, for escort effort.';
COMMENT ON COLUMN hublink.esp_flight_time.country IS 'Destination country, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.esp_flight_time.minutes IS 'One-way flight time in minutes.';

CREATE TABLE hublink.esp_fee_kind (
    fee_kind    text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_fee_kind IS 'What a fee rule charges for.';
COMMENT ON COLUMN hublink.esp_fee_kind.fee_kind IS 'Kind code.';
COMMENT ON COLUMN hublink.esp_fee_kind.description IS 'When it applies.';
INSERT INTO hublink.esp_fee_kind VALUES
    ('CANCELLATION', 'The Home Office cancels a booked escorting, or it is abandoned (unsuccessful).'),
    ('AMENDMENT', 'The Home Office amends a booked escorting and the amendment is carried out.');

CREATE TABLE hublink.esp_fee_rule (
    fee_kind          text NOT NULL REFERENCES hublink.esp_fee_kind,
    from_hours_before integer NOT NULL CHECK (from_hours_before >= 0),
    fee_percent       numeric(5,2) CHECK (fee_percent BETWEEN 0 AND 100),
    fee_amount        numeric(14,2) CHECK (fee_amount >= 0),
    description       text NOT NULL,
    PRIMARY KEY (fee_kind, from_hours_before),
    CHECK ((fee_percent IS NULL) <> (fee_amount IS NULL))
);
COMMENT ON TABLE hublink.esp_fee_rule IS
    'Fees by notice period: a change given at least from_hours_before hours before the escort '
    'date (midnight, date_time_zone) pays the rule with the largest such from_hours_before.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_kind IS 'CANCELLATION or AMENDMENT.';
COMMENT ON COLUMN hublink.esp_fee_rule.from_hours_before IS 'Least notice, in hours, for the rule to apply.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_percent IS 'Fee as a percentage of the booked escort cost (rounded half away from zero to the penny), or NULL.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_amount IS 'Fixed fee (at most the booked cost), or NULL.';
COMMENT ON COLUMN hublink.esp_fee_rule.description IS 'The rule in words.';
INSERT INTO hublink.esp_fee_rule VALUES
    ('CANCELLATION', 336, 0, NULL, 'Fourteen days or more: free.'),
    ('CANCELLATION', 168, 25, NULL, 'Seven to fourteen days: a quarter of the cost.'),
    ('CANCELLATION', 48, 50, NULL, 'Two to seven days: half the cost.'),
    ('CANCELLATION', 0, 100, NULL, 'Less than two days, or after the start: the full cost.'),
    ('AMENDMENT', 168, NULL, 0, 'Seven days or more: free.'),
    ('AMENDMENT', 48, NULL, 150.00, 'Two to seven days: 150.00.'),
    ('AMENDMENT', 0, NULL, 300.00, 'Less than two days: 300.00.');

CREATE FUNCTION hublink.esp_fee(fee_kind text, cost numeric, hours_before numeric) RETURNS numeric
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN coalesce((SELECT least(cost, coalesce(round(cost * r.fee_percent / 100, 2), r.fee_amount))
                       FROM hublink.esp_fee_rule r
                      WHERE r.fee_kind = esp_fee.fee_kind AND r.from_hours_before <= greatest(hours_before, 0)
                      ORDER BY r.from_hours_before DESC LIMIT 1), 0);
COMMENT ON FUNCTION hublink.esp_fee(text, numeric, numeric) IS
    'The fee of a kind for a booking costing cost when notice is hours_before hours (negative: '
    'after the start, counted as 0): the rule with the largest from_hours_before not above it; '
    '0 without a rule.';

CREATE FUNCTION hublink.esp_notice_hours(escort_date date, at timestamptz) RETURNS numeric
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN round(extract(epoch FROM (escort_date::timestamp AT TIME ZONE hublink.esp_setting('date_time_zone')) - at) / 3600, 2);
COMMENT ON FUNCTION hublink.esp_notice_hours(date, timestamptz) IS
    'Hours from at to the start (midnight in date_time_zone) of an escort date; negative once it has begun.';

-- from sql/parts/61_esp_roster.sql
-- Escort provider (esp), issue 5 section 4: the escorts, their availability roster, and the
-- escort rules (risk flags, conditions and nationalities to number and type of escorts).
-- Personal data of escorts lives in hublink.esp_escort_personal and esp_escort.gender, both
-- sealed under the escort's own data key (74_crypto_seal_esp.sql).

CREATE TABLE hublink.esp_escort (
    escort_id   text PRIMARY KEY CHECK (escort_id ~ '^[A-Z0-9][A-Z0-9_-]{1,19}$'),
    medic       boolean NOT NULL DEFAULT false,
    team_leader boolean NOT NULL DEFAULT false,
    gender      char(1) NOT NULL CHECK (gender ~ '^[MFX]$'),
    physique    text NOT NULL DEFAULT 'STANDARD' REFERENCES hublink.esp_physique,
    languages   text[] NOT NULL DEFAULT '{en}',
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.esp_escort IS 'The escort provider''s staff who escort: officers and medics, with what they can do.';
COMMENT ON COLUMN hublink.esp_escort.escort_id IS 'The provider''s ID of the person (escortId in messages), e.g. ESC-40117.';
COMMENT ON COLUMN hublink.esp_escort.medic IS 'A medic fills medic positions only; an officer only officer positions.';
COMMENT ON COLUMN hublink.esp_escort.team_leader IS 'Qualified to lead a team (position 1).';
COMMENT ON COLUMN hublink.esp_escort.gender IS
    'PERSONAL DATA: sex (M, F, X) for positions that need a given sex. Sealed; the matching reads '
    'it through hublink.esp_escort_sexes only when a position asks for a sex.';
COMMENT ON COLUMN hublink.esp_escort.physique IS 'Physique category (esp_physique).';
COMMENT ON COLUMN hublink.esp_escort.languages IS 'Languages spoken, ISO 639 codes.';
COMMENT ON COLUMN hublink.esp_escort.active IS 'False for staff no longer escorting (kept for the history of bookings).';

CREATE TABLE hublink.esp_escort_personal (
    escort_id                text PRIMARY KEY REFERENCES hublink.esp_escort ON DELETE CASCADE,
    title                    text,
    given_names              text NOT NULL,
    family_name              text NOT NULL,
    date_of_birth            date,
    nationality              char(3),
    document_type            text,
    document_number          text,
    document_issuing_country char(3),
    document_expiry_date     date,
    CHECK ((document_number IS NULL) = (document_type IS NULL)
           AND (document_number IS NULL) = (document_issuing_country IS NULL))
);
COMMENT ON TABLE hublink.esp_escort_personal IS
    'PERSONAL DATA: an escort''s name as on the passport and advance passenger information, '
    'sent to the Home Office in escortDetails when the escort is booked.';
COMMENT ON COLUMN hublink.esp_escort_personal.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_escort_personal.title IS 'PERSONAL DATA: title, e.g. Mr, Ms.';
COMMENT ON COLUMN hublink.esp_escort_personal.given_names IS 'PERSONAL DATA: given names as on the passport.';
COMMENT ON COLUMN hublink.esp_escort_personal.family_name IS 'PERSONAL DATA: family name as on the passport.';
COMMENT ON COLUMN hublink.esp_escort_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.esp_escort_personal.nationality IS 'PERSONAL DATA: nationality, alpha-3.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_type IS 'PERSONAL DATA: travel document type (PASSPORT ...).';
COMMENT ON COLUMN hublink.esp_escort_personal.document_number IS 'PERSONAL DATA: passport (document) number.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_issuing_country IS 'PERSONAL DATA: issuing state, alpha-3.';
COMMENT ON COLUMN hublink.esp_escort_personal.document_expiry_date IS 'PERSONAL DATA: document expiry date.';

CREATE TABLE hublink.esp_roster (
    escort_id text NOT NULL REFERENCES hublink.esp_escort ON DELETE CASCADE,
    duty_date date NOT NULL,
    PRIMARY KEY (escort_id, duty_date)
);
COMMENT ON TABLE hublink.esp_roster IS
    'The availability roster: one row per escort and day the escort can be booked. Bookings lock '
    'the rows of their days (hublink.esp_lock_days), so concurrent bookings of a day queue.';
COMMENT ON COLUMN hublink.esp_roster.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_roster.duty_date IS 'A day (date_time_zone) the escort is available.';
CREATE INDEX esp_roster_day ON hublink.esp_roster (duty_date, escort_id);

CREATE TABLE hublink.esp_risk_rule (
    flag        text PRIMARY KEY REFERENCES hublink.risk_flag ON UPDATE CASCADE,
    escorts     integer NOT NULL CHECK (escorts BETWEEN 0 AND 9),
    physique    text REFERENCES hublink.esp_physique,
    medic       boolean NOT NULL DEFAULT false,
    same_gender boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_risk_rule IS
    'What a risk flag of a returnee asks of the escorting: a returnee gets the most escorts any of '
    'its flags asks (at least escorts_per_returnee), the strongest physique, a medic on the team '
    'if any flag says so, and escorts all of its sex if any flag says so.';
COMMENT ON COLUMN hublink.esp_risk_rule.flag IS 'The risk flag (hublink.risk_flag).';
COMMENT ON COLUMN hublink.esp_risk_rule.escorts IS 'Escort officers this returnee needs.';
COMMENT ON COLUMN hublink.esp_risk_rule.physique IS 'Physique of those escorts, or NULL for STANDARD.';
COMMENT ON COLUMN hublink.esp_risk_rule.medic IS 'A medic must join the team.';
COMMENT ON COLUMN hublink.esp_risk_rule.same_gender IS 'All of this returnee''s escorts must be of its sex.';
COMMENT ON COLUMN hublink.esp_risk_rule.description IS 'Why.';
INSERT INTO hublink.esp_risk_rule VALUES
    ('VIOLENT', 2, 'ENHANCED', false, false, 'Two enhanced escorts.'),
    ('DISRUPTIVE', 2, 'ENHANCED', false, false, 'Two enhanced escorts.'),
    ('SEXUAL_OFFENDER', 2, NULL, false, true, 'Two escorts, all of the returnee''s sex.'),
    ('SELF_HARM', 1, NULL, true, false, 'A medic on the team.'),
    ('ABSCONDER', 2, NULL, false, false, 'Two escorts.'),
    ('MEDICAL_ESCORT', 1, NULL, true, false, 'A medic on the team.');

CREATE TABLE hublink.esp_condition_rule (
    condition_code text PRIMARY KEY CHECK (condition_code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    escorts        integer NOT NULL DEFAULT 0 CHECK (escorts BETWEEN 0 AND 9),
    medic          boolean NOT NULL DEFAULT false,
    description    text NOT NULL
);
COMMENT ON TABLE hublink.esp_condition_rule IS 'What a medical or noted condition of a returnee (personalDetails.conditions) asks of the escorting.';
COMMENT ON COLUMN hublink.esp_condition_rule.condition_code IS 'The condition code, e.g. WHEELCHAIR.';
COMMENT ON COLUMN hublink.esp_condition_rule.escorts IS 'Escort officers this returnee needs at least.';
COMMENT ON COLUMN hublink.esp_condition_rule.medic IS 'A medic must join the team.';
COMMENT ON COLUMN hublink.esp_condition_rule.description IS 'Why.';
INSERT INTO hublink.esp_condition_rule VALUES
    ('WHEELCHAIR', 0, true, 'A medic for transfers and airport assistance.'),
    ('BLIND', 2, false, 'Two escorts to guide.'),
    ('PREGNANT', 0, true, 'A medic on the team.');

CREATE TABLE hublink.esp_language_rule (
    nationality char(3) PRIMARY KEY CHECK (nationality ~ '^[A-Z]{3}$'),
    language    text NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_language_rule IS
    'Returnees of a nationality need one escort (their first) who speaks this language besides the working language.';
COMMENT ON COLUMN hublink.esp_language_rule.nationality IS 'Returnee nationality, alpha-3.';
COMMENT ON COLUMN hublink.esp_language_rule.language IS 'Language the returnee''s first escort must speak, ISO 639.';
COMMENT ON COLUMN hublink.esp_language_rule.description IS 'Why.';
INSERT INTO hublink.esp_language_rule VALUES
    ('ALB', 'sq', 'Albanian speaker.'),
    ('PAK', 'ur', 'Urdu speaker.');

-- from sql/parts/62_esp_quote.sql
-- Escort provider (esp), issue 5 section 4: quoting (EscortQuoteRequest → EscortQuoteResponse
-- body). A plan is the team and the segments for one removal; its quotes are the dates on which
-- the roster can staff it. Bookings and amendments work on plans too (63, 64).

CREATE TABLE hublink.esp_plan (
    plan_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_ref         text,
    returnees           jsonb NOT NULL,
    international       boolean NOT NULL,
    escort_on_transport boolean NOT NULL,
    location            jsonb NOT NULL,
    destination         jsonb,
    duty_days           integer NOT NULL CHECK (duty_days BETWEEN 1 AND 14),
    currency            char(3) NOT NULL,
    segments            jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_plan IS
    'The escort team and segments for one removal, as quoted (one plan per quote request) or as '
    'amended (an amendment copies the booking''s plan). Effort and cost derive from it.';
COMMENT ON COLUMN hublink.esp_plan.plan_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_plan.removal_ref IS 'The removal reference (RMV-...), when known.';
COMMENT ON COLUMN hublink.esp_plan.returnees IS
    'PERSONAL DATA: per returnee the HO reference, sex, nationality, risk flags and condition '
    'codes (no names): what the escort rules read.';
COMMENT ON COLUMN hublink.esp_plan.international IS 'International removal (true) or in-country move.';
COMMENT ON COLUMN hublink.esp_plan.escort_on_transport IS 'Escorts travel on the transport (true) or leave the returnee at the gate.';
COMMENT ON COLUMN hublink.esp_plan.location IS 'Returnee location of the pick-up (the first returnee''s), as in the message.';
COMMENT ON COLUMN hublink.esp_plan.destination IS 'Destination, as in the message.';
COMMENT ON COLUMN hublink.esp_plan.duty_days IS 'Days the escorts are on duty from the escort date (return flights end the next day).';
COMMENT ON COLUMN hublink.esp_plan.currency IS 'Currency of its costs.';
COMMENT ON COLUMN hublink.esp_plan.segments IS
    'The segments in order: {segment: escortSegment as sent, minutes: effort per escort, allowance: fixed cost per escort}.';
COMMENT ON COLUMN hublink.esp_plan.created_at IS 'When it was made.';

CREATE TABLE hublink.esp_plan_position (
    plan_id       bigint NOT NULL REFERENCES hublink.esp_plan ON DELETE CASCADE,
    escort_number integer NOT NULL CHECK (escort_number BETWEEN 1 AND 99),
    role          text NOT NULL REFERENCES hublink.esp_role,
    gender        char(1),
    physique      text NOT NULL REFERENCES hublink.esp_physique,
    languages     text[] NOT NULL,
    medic         boolean NOT NULL,
    for_returnee  text,
    PRIMARY KEY (plan_id, escort_number)
);
COMMENT ON TABLE hublink.esp_plan_position IS 'The escort positions of a plan (escortPositions): what each escort must be.';
COMMENT ON COLUMN hublink.esp_plan_position.plan_id IS 'The plan.';
COMMENT ON COLUMN hublink.esp_plan_position.escort_number IS 'Escort number, 1 = team leader.';
COMMENT ON COLUMN hublink.esp_plan_position.role IS 'Role (esp_role).';
COMMENT ON COLUMN hublink.esp_plan_position.gender IS
    'PERSONAL DATA: the sex the escort must be, or NULL when any; a same-sex position tells the sex of '
    'the returnee it escorts (for_returnee). Sealed (74_crypto_seal_esp.sql): read with '
    'hublink.esp_plan_positions(plan_id), which audits.';
COMMENT ON COLUMN hublink.esp_plan_position.physique IS 'Least physique category.';
COMMENT ON COLUMN hublink.esp_plan_position.languages IS 'Languages the escort must speak.';
COMMENT ON COLUMN hublink.esp_plan_position.medic IS 'A medic position.';
COMMENT ON COLUMN hublink.esp_plan_position.for_returnee IS 'HO reference of the returnee the position escorts (NULL: the team, or a medic).';

CREATE TABLE hublink.esp_quote (
    quote_ref   text PRIMARY KEY,
    plan_id     bigint NOT NULL REFERENCES hublink.esp_plan,
    escort_date date NOT NULL,
    total       numeric(14,2) NOT NULL,
    currency    char(3) NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_quote IS 'An escort quote: a plan on one date the roster could staff when quoted.';
COMMENT ON COLUMN hublink.esp_quote.quote_ref IS 'escortQuoteReference, e.g. ESP-EQ-000001-A.';
COMMENT ON COLUMN hublink.esp_quote.plan_id IS 'The plan.';
COMMENT ON COLUMN hublink.esp_quote.escort_date IS 'The escort date.';
COMMENT ON COLUMN hublink.esp_quote.total IS 'Total escort cost (sum of the effort costs).';
COMMENT ON COLUMN hublink.esp_quote.currency IS 'Currency of total.';
COMMENT ON COLUMN hublink.esp_quote.issued_at IS 'When it was quoted.';
COMMENT ON COLUMN hublink.esp_quote.expires_at IS 'Last instant it may be booked.';

CREATE SEQUENCE hublink.esp_quote_serial MINVALUE 1 MAXVALUE 999999;
COMMENT ON SEQUENCE hublink.esp_quote_serial IS 'The six-digit serial of escort quote responses.';

-- The positions a set of returnee profiles needs (docs/esp.md "Escort rules").
CREATE FUNCTION hublink.esp_positions(returnees jsonb)
    RETURNS TABLE (escort_number integer, role text, gender char(1), physique text, languages text[],
                   medic boolean, for_returnee text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    working   constant text := hublink.esp_setting('working_language');
    per_ret   constant integer := hublink.esp_setting('escorts_per_returnee')::integer;
    same_n    constant integer := hublink.esp_setting('same_gender_escorts_per_returnee')::integer;
    r         jsonb;
    k         integer;
    phys      text;
    same_all  boolean;
    lang      text;
    need_med  boolean := false;
    n         integer := 0;
    -- Roles by kind (esp_role flags), not by name.
    r_lead    constant text := (SELECT x.role FROM hublink.esp_role x WHERE x.leader AND NOT x.medic);
    r_officer constant text := (SELECT x.role FROM hublink.esp_role x WHERE NOT x.leader AND NOT x.medic);
    r_medic   constant text := (SELECT x.role FROM hublink.esp_role x WHERE x.medic AND NOT x.leader);
BEGIN
    FOR r IN SELECT x FROM jsonb_array_elements(returnees) x LOOP
        SELECT greatest(per_ret, max(g.escorts)), bool_or(g.same_gender), bool_or(g.medic) OR need_med
          INTO k, same_all, need_med
          FROM (SELECT rr.escorts, rr.same_gender, rr.medic FROM hublink.esp_risk_rule rr
                 WHERE rr.flag IN (SELECT jsonb_array_elements_text(r -> 'flags'))
                UNION ALL
                SELECT cr.escorts, false, cr.medic FROM hublink.esp_condition_rule cr
                 WHERE cr.condition_code IN (SELECT jsonb_array_elements_text(r -> 'conditions'))) g;
        SELECT coalesce((SELECT p.physique FROM hublink.esp_risk_rule rr JOIN hublink.esp_physique p ON p.physique = rr.physique
                          WHERE rr.flag IN (SELECT jsonb_array_elements_text(r -> 'flags'))
                          ORDER BY p.strength DESC LIMIT 1),
                        (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1))
          INTO phys;
        SELECT l.language INTO lang FROM hublink.esp_language_rule l WHERE l.nationality = r ->> 'nationality';
        FOR i IN 1..k LOOP
            n := n + 1;
            escort_number := n;
            role := CASE WHEN n = 1 THEN r_lead ELSE r_officer END;
            -- X (unspecified) asks for no particular sex.
            gender := CASE WHEN r ->> 'gender' IN ('M', 'F') AND (coalesce(same_all, false) OR i <= same_n)
                           THEN r ->> 'gender' END;
            physique := phys;
            languages := CASE WHEN i = 1 AND lang IS NOT NULL AND lang <> working THEN ARRAY[working, lang]
                              ELSE ARRAY[working] END;
            medic := false;
            for_returnee := r ->> 'hoReturneeReference';
            RETURN NEXT;
        END LOOP;
    END LOOP;
    WHILE n < hublink.esp_setting('min_team_size')::integer LOOP
        n := n + 1;
        escort_number := n;
        role := CASE WHEN n = 1 THEN r_lead ELSE r_officer END;
        gender := NULL;
        physique := (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1);
        languages := ARRAY[working];
        medic := false;
        for_returnee := NULL;
        RETURN NEXT;
    END LOOP;
    IF need_med THEN
        escort_number := n + 1;
        role := r_medic;
        gender := NULL;
        physique := (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1);
        languages := ARRAY[working];
        medic := true;
        for_returnee := NULL;
        RETURN NEXT;
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.esp_positions(jsonb) IS
    'The escort positions returnee profiles need: per returnee the most escorts its risk flags and '
    'conditions ask (at least escorts_per_returnee), of the strongest physique its flags ask, the '
    'first same_gender_escorts_per_returnee of them (all, when a flag says same_gender) of its sex, '
    'its first escort speaking the language of its nationality (esp_language_rule); at least '
    'min_team_size officers; position 1 takes the leading role, the others the officer''s; one '
    'position in the medic''s role when any flag or condition asks (roles by their esp_role flags).';

CREATE FUNCTION hublink.esp_place(kind text, location jsonb, destination jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loc hublink.esp_location;
BEGIN
    SELECT * INTO loc FROM hublink.esp_location l
     WHERE l.location_id = coalesce(location ->> 'detentionCentreId', location ->> 'prisonId',
                                    location #>> '{address,town}');
    RETURN CASE kind
        WHEN 'LOCATION' THEN location
        WHEN 'AIRPORT' THEN jsonb_strip_nulls(jsonb_build_object(
            'airportCode', coalesce(loc.airport, hublink.esp_setting('default_airport')), 'terminal', loc.terminal))
        WHEN 'DESTINATION' THEN CASE
            WHEN destination ? 'airportCode' THEN jsonb_build_object('airportCode', destination ->> 'airportCode')
            ELSE jsonb_build_object('description', coalesce(destination ->> 'description', 'Destination to be advised'))
            END
        WHEN 'BASE' THEN jsonb_build_object('description', coalesce(loc.base, hublink.esp_setting('default_base')))
    END;
END;
$$;
COMMENT ON FUNCTION hublink.esp_place(text, jsonb, jsonb) IS
    'A segment start or finish point of a place kind (esp_place_kind) for a returnee location and destination.';

CREATE FUNCTION hublink.esp_segments(international boolean, escort_on_transport boolean, location jsonb,
                                     destination jsonb) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT jsonb_agg(jsonb_build_object(
               'segment', jsonb_build_object('segmentId', 'S' || t.seq,
                   'startPoint', hublink.esp_place(t.start_place, location, destination),
                   'finishPoint', hublink.esp_place(t.finish_place, location, destination),
                   'transportType', t.transport_type, 'returneePresent', t.returnee_present),
               'kind', t.segment_kind,
               'minutes', t.minutes
                   + CASE WHEN t.add_road_minutes THEN coalesce(
                         (SELECT l.road_minutes FROM hublink.esp_location l
                           WHERE l.location_id = coalesce(location ->> 'detentionCentreId', location ->> 'prisonId',
                                                          location #>> '{address,town}')),
                         hublink.esp_setting('default_road_minutes')::integer) ELSE 0 END
                   + CASE WHEN t.add_flight_minutes THEN coalesce(
                         (SELECT f.minutes FROM hublink.esp_flight_time f WHERE f.country = destination ->> 'country'),
                         hublink.esp_setting('default_flight_minutes')::integer) ELSE 0 END,
               'allowance', t.allowance,
               'dayOffset', t.day_offset) ORDER BY t.seq)
      FROM hublink.esp_segment_template t
     WHERE t.international = esp_segments.international AND t.escort_on_transport = esp_segments.escort_on_transport);
COMMENT ON FUNCTION hublink.esp_segments(boolean, boolean, jsonb, jsonb) IS
    'The segments of a removal from esp_segment_template: segment (as sent), kind, minutes of '
    'effort per escort (fixed + road time of the location + flight time to the country), '
    'allowance per escort and day offset.';

-- Effort: per segment per escort position, the duration and its cost.
CREATE FUNCTION hublink.esp_effort(plan_id bigint)
    RETURNS TABLE (seq integer, segment_id text, escort_number integer, minutes integer, cost numeric)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.ord::integer, s.seg #>> '{segment,segmentId}', p.escort_number, (s.seg ->> 'minutes')::integer,
           round(r.hourly_rate * (s.seg ->> 'minutes')::numeric / 60, 2) + (s.seg ->> 'allowance')::numeric
      FROM hublink.esp_plan pl
     CROSS JOIN LATERAL jsonb_array_elements(pl.segments) WITH ORDINALITY s(seg, ord)
      JOIN hublink.esp_plan_position p ON p.plan_id = pl.plan_id
      JOIN hublink.esp_role r ON r.role = p.role
     WHERE pl.plan_id = esp_effort.plan_id
       AND (NOT s.seg -> 'segment' ? 'escortNumbers'
            OR s.seg #> '{segment,escortNumbers}' @> to_jsonb(p.escort_number))
     ORDER BY s.ord, p.escort_number
$$;
COMMENT ON FUNCTION hublink.esp_effort(bigint) IS
    'Escort effort of a plan: per segment and position on it (all positions unless the segment '
    'names escortNumbers), minutes and cost = role hourly rate x minutes / 60 (rounded half away '
    'from zero to the penny) + the segment''s allowance.';

CREATE FUNCTION hublink.esp_plan_cost(plan_id bigint) RETURNS numeric
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(sum(e.cost), 0) FROM hublink.esp_effort(plan_id) e);
COMMENT ON FUNCTION hublink.esp_plan_cost(bigint) IS 'Total escort cost of a plan: the sum of its effort costs.';

-- The positions' sex is sealed (74_crypto_seal_esp.sql): read through the audited accessor
-- hublink.esp_plan_positions, defined later, hence PL/pgSQL (resolved when it runs).
CREATE FUNCTION hublink.esp_plan_body(plan_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object(
    'escortPositions', (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                   'escortNumber', p.escort_number, 'gender', p.gender, 'physique', p.physique,
                                   'languages', to_jsonb(p.languages), 'medic', p.medic, 'role', p.role))
                                 ORDER BY p.escort_number)
                          FROM hublink.esp_plan_positions(esp_plan_body.plan_id) p),
    'segments', (SELECT jsonb_agg(s -> 'segment' ORDER BY o) FROM hublink.esp_plan pl,
                        jsonb_array_elements(pl.segments) WITH ORDINALITY x(s, o)
                  WHERE pl.plan_id = esp_plan_body.plan_id),
    'effort', (SELECT jsonb_agg(jsonb_build_object('segmentId', e.segment_id, 'escortNumber', e.escort_number,
                                                   'cost', hublink.esp_money(e.cost, pl.currency),
                                                   'durationMinutes', e.minutes) ORDER BY e.seq, e.escort_number)
                 FROM hublink.esp_effort(esp_plan_body.plan_id) e, hublink.esp_plan pl WHERE pl.plan_id = esp_plan_body.plan_id));
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_body(bigint) IS
    'The escortPositions, segments and effort of a plan, as an EscortQuoteResponse carries them.';

-- Staffing: which rostered, unbooked escorts fill a plan's positions on a date. The escort's
-- sex is sealed (74_crypto_seal_esp.sql): the caller passes it, decrypted only when the plan has
-- a position that asks for one (hublink.esp_escort_sexes).
CREATE FUNCTION hublink.esp_eligible(p hublink.esp_plan_position, e hublink.esp_escort, sex text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN e.active AND e.medic = p.medic
       AND (e.team_leader OR NOT (SELECT r.leader FROM hublink.esp_role r WHERE r.role = p.role))
       AND (p.gender IS NULL OR coalesce(sex = p.gender, false))
       AND (SELECT x.strength FROM hublink.esp_physique x WHERE x.physique = e.physique)
           >= (SELECT x.strength FROM hublink.esp_physique x WHERE x.physique = p.physique)
       AND p.languages <@ e.languages;
COMMENT ON FUNCTION hublink.esp_eligible(hublink.esp_plan_position, hublink.esp_escort, text) IS
    'Whether an escort, of sex sex (decrypted by the caller; NULL when unknown or not needed), can '
    'fill a position p (as hublink.esp_plan_positions returns it, its sex decrypted): active, medic for a medic position and only then, qualified to lead a '
    'leading role, of the required sex if the position asks for one, of at least the physique, '
    'speaking every language.';

CREATE FUNCTION hublink.esp_quote(request jsonb, removal_id text DEFAULT NULL, at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tz        constant text := hublink.esp_setting('date_time_zone');
    notice    constant interval := hublink.esp_setting('min_notice_hours')::integer * interval '1 hour';
    maxdates  constant integer := hublink.esp_setting('max_escort_dates')::integer;
    cur       constant char(3) := hublink.esp_setting('currency');
    expires   constant timestamptz := at + hublink.esp_setting('quote_validity_minutes')::integer * interval '1 minute';
    profiles  jsonb;
    segs      jsonb;
    pid       bigint;
    npos      integer;
    total     numeric;
    serial    text;
    d         date;
    quotes    jsonb := '[]';
    skipped   text[] := '{}';
    ref       text;
    body      jsonb;
    sexes     jsonb;
BEGIN
    -- What the rules read of each returnee: no names, no dates of birth.
    SELECT jsonb_agg(jsonb_build_object(
               'hoReturneeReference', r #>> '{personalDetails,hoReturneeReference}',
               'gender', r #>> '{personalDetails,gender}',
               'nationality', r #>> '{personalDetails,nationality}',
               'flags', coalesce(r #> '{escortRiskAssessment,flags}', '[]'),
               'conditions', coalesce((SELECT jsonb_agg(c -> 'code')
                                         FROM jsonb_array_elements(r #> '{personalDetails,conditions}') c), '[]'),
               'location', r -> 'location') ORDER BY o)
      INTO profiles
      FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY x(r, o);
    segs := hublink.esp_segments((request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
                                 request #> '{returnees,0,location}', request -> 'destination');
    INSERT INTO hublink.esp_plan (removal_ref, returnees, international, escort_on_transport, location, destination,
                                  duty_days, currency, segments, created_at)
    VALUES (removal_id, profiles, (request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
            request #> '{returnees,0,location}', request -> 'destination',
            (SELECT max((s ->> 'dayOffset')::integer) + 1 FROM jsonb_array_elements(segs) s), cur, segs, at)
    RETURNING plan_id INTO pid;
    INSERT INTO hublink.esp_plan_position
    SELECT pid, p.* FROM hublink.esp_positions(profiles) p;
    GET DIAGNOSTICS npos = ROW_COUNT;
    total := hublink.esp_plan_cost(pid);
    serial := lpad(nextval('hublink.esp_quote_serial')::text, 6, '0');
    -- Escorts' sex is sealed: decrypt it once per quote, and only when a position asks for a sex,
    -- for the escorts who could serve on some date of the range (active, named, rostered then).
    -- (A position sealed a sex exactly when it asks for one: 74_crypto_seal_esp.sql.)
    IF EXISTS (SELECT FROM hublink.esp_plan_position p WHERE p.plan_id = pid AND p.sealed IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(ARRAY(
            SELECT DISTINCT r.escort_id FROM hublink.esp_roster r JOIN hublink.esp_escort e USING (escort_id)
             WHERE e.active AND r.duty_date BETWEEN (request #>> '{dates,earliestLeaveDate}')::date
                                                AND (request #>> '{dates,latestLeaveDate}')::date
                                                    + (SELECT pl.duty_days - 1 FROM hublink.esp_plan pl WHERE pl.plan_id = pid)
               AND EXISTS (SELECT FROM hublink.esp_escort_personal x WHERE x.escort_id = e.escort_id)), removal_id);
    END IF;

    FOR d IN SELECT g::date FROM generate_series((request #>> '{dates,earliestLeaveDate}')::date,
                                                 (request #>> '{dates,latestLeaveDate}')::date, interval '1 day') g LOOP
        EXIT WHEN jsonb_array_length(quotes) >= maxdates;
        IF coalesce(request #> '{dates,exclusionDates}', '[]') ? d::text THEN
            CONTINUE;
        ELSIF d::timestamp AT TIME ZONE tz < at + notice THEN
            skipped := skipped || (d || ' (less than ' || hublink.esp_setting('min_notice_hours') || ' hours'' notice)');
        ELSIF (SELECT count(*) FROM hublink.esp_fill_team(pid, d, NULL, sexes)) < npos THEN
            skipped := skipped || (d || ' (escorts unavailable)');
        ELSE
            ref := hublink.esp_setting('quote_reference_prefix') || serial || '-' || chr(65 + jsonb_array_length(quotes));
            INSERT INTO hublink.esp_quote VALUES (ref, pid, d, total, cur, at, expires);
            quotes := quotes || jsonb_build_object('escortQuoteReference', ref, 'escortDate', d,
                'totalCost', hublink.esp_money(total, cur),
                'notes', 'Bookable until ' || to_char(expires AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' UK time.');
        END IF;
    END LOOP;

    body := hublink.esp_plan_body(pid) || jsonb_build_object('quotes', quotes, 'notes',
        (SELECT count(*) FILTER (WHERE NOT p.medic) || ' escort officer(s)'
                || CASE WHEN bool_or(p.medic) THEN ' and a medic' ELSE '' END
           FROM hublink.esp_plan_position p WHERE p.plan_id = pid)
        || ' for ' || (SELECT string_agg(x ->> 'hoReturneeReference' || coalesce(' (' || nullif(
                                   (SELECT string_agg(f, ', ') FROM jsonb_array_elements_text((x -> 'flags') || (x -> 'conditions')) f),
                                   '') || ')', ''), ', ' ORDER BY o)
                         FROM jsonb_array_elements(profiles) WITH ORDINALITY y(x, o))
        || CASE WHEN cardinality(skipped) > 0 THEN '. Not offered: ' || array_to_string(skipped, ', ') ELSE '' END
        || '.');
    RETURN body;
END;
$$;
COMMENT ON FUNCTION hublink.esp_quote(jsonb, text, timestamptz) IS
    'Quotes an EscortQuoteRequest body at instant at: makes the plan (positions by the escort '
    'rules, segments by the templates, effort and cost by the role rates) and offers each date '
    'of the range, without exclusion dates, starting at least min_notice_hours after at, on which '
    'the roster can staff the team (up to max_escort_dates). Returns the EscortQuoteResponse '
    'body; quotes is empty when no date can be staffed, and notes name the dates not offered.';

-- from sql/parts/63_esp_book.sql
-- Escort provider (esp), issue 5 section 4: booking an escort quote (EscortBookingRequest →
-- EscortBookingResponse body). An escort is on duty for at most one booking a day: the primary
-- key of hublink.esp_duty guarantees it, and bookings lock the roster rows of their days first
-- so that concurrent bookings of a day queue instead of failing (docs/esp.md "Booking").

CREATE TABLE hublink.esp_booking_status (
    status      text PRIMARY KEY,
    holds_duty  boolean NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_booking_status IS 'States of an escort booking.';
COMMENT ON COLUMN hublink.esp_booking_status.status IS 'State code.';
COMMENT ON COLUMN hublink.esp_booking_status.holds_duty IS 'Whether its escorts stay on duty (esp_duty rows).';
COMMENT ON COLUMN hublink.esp_booking_status.description IS 'What it means.';
INSERT INTO hublink.esp_booking_status VALUES
    ('ACTIVE', true, 'Booked; the escorts are on duty for it.'),
    ('CANCELLED', false, 'Cancelled by the Home Office (EscortCancellation).'),
    ('PROVIDER_CANCELLED', false, 'Cancelled by the escort provider (hublink.esp_provider_cancel).'),
    ('COMPLETED', true, 'Carried out (hublink.esp_completed).'),
    ('UNSUCCESSFUL', true, 'Started and abandoned (hublink.esp_unsuccessful).');

CREATE TABLE hublink.esp_booking (
    booking_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_ref   text NOT NULL UNIQUE REFERENCES hublink.esp_quote,
    plan_id     bigint NOT NULL REFERENCES hublink.esp_plan,
    removal_ref text,
    escort_date date NOT NULL,
    booked_at   timestamptz NOT NULL,
    total       numeric(14,2) NOT NULL,
    fees        numeric(14,2) NOT NULL DEFAULT 0,
    currency    char(3) NOT NULL,
    status      text NOT NULL DEFAULT 'ACTIVE' REFERENCES hublink.esp_booking_status
);
COMMENT ON TABLE hublink.esp_booking IS 'A booked escort quote.';
COMMENT ON COLUMN hublink.esp_booking.booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_booking.quote_ref IS 'The quote booked (one booking per quote).';
COMMENT ON COLUMN hublink.esp_booking.plan_id IS 'The plan as now booked (the quote''s, or an amended copy).';
COMMENT ON COLUMN hublink.esp_booking.removal_ref IS 'The removal reference, when known.';
COMMENT ON COLUMN hublink.esp_booking.escort_date IS 'The escort date (first duty day).';
COMMENT ON COLUMN hublink.esp_booking.booked_at IS 'When it was booked.';
COMMENT ON COLUMN hublink.esp_booking.total IS 'Escort cost of the plan as now booked.';
COMMENT ON COLUMN hublink.esp_booking.fees IS 'Amendment and cancellation fees charged so far.';
COMMENT ON COLUMN hublink.esp_booking.currency IS 'Currency of total and fees.';
COMMENT ON COLUMN hublink.esp_booking.status IS 'State (esp_booking_status).';

CREATE TABLE hublink.esp_booking_escort (
    booking_id    bigint NOT NULL REFERENCES hublink.esp_booking ON DELETE CASCADE,
    escort_number integer NOT NULL,
    escort_id     text NOT NULL REFERENCES hublink.esp_escort,
    PRIMARY KEY (booking_id, escort_number),
    UNIQUE (booking_id, escort_id)
);
COMMENT ON TABLE hublink.esp_booking_escort IS 'Who fills each position of a booking now (an escort change replaces the row).';
COMMENT ON COLUMN hublink.esp_booking_escort.booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.esp_booking_escort.escort_number IS 'The position.';
COMMENT ON COLUMN hublink.esp_booking_escort.escort_id IS 'The escort.';

CREATE TABLE hublink.esp_duty (
    escort_id  text NOT NULL REFERENCES hublink.esp_escort,
    duty_date  date NOT NULL,
    booking_id bigint NOT NULL REFERENCES hublink.esp_booking ON DELETE CASCADE,
    PRIMARY KEY (escort_id, duty_date),
    FOREIGN KEY (escort_id, duty_date) REFERENCES hublink.esp_roster
);
COMMENT ON TABLE hublink.esp_duty IS
    'The days each escort is on duty for a booking: one booking per escort and day (primary key), '
    'only on rostered days (foreign key). Released when the booking is cancelled.';
COMMENT ON COLUMN hublink.esp_duty.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_duty.duty_date IS 'The day.';
COMMENT ON COLUMN hublink.esp_duty.booking_id IS 'The booking.';
CREATE INDEX esp_duty_booking ON hublink.esp_duty (booking_id);

CREATE FUNCTION hublink.esp_free(escort_id text, first_day date, days integer, keep_booking bigint) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM hublink.esp_escort_personal x WHERE x.escort_id = esp_free.escort_id)
       AND (SELECT count(*) FROM hublink.esp_roster r
             WHERE r.escort_id = esp_free.escort_id AND r.duty_date BETWEEN first_day AND first_day + days - 1) = days
       AND NOT EXISTS (SELECT FROM hublink.esp_duty d
                        WHERE d.escort_id = esp_free.escort_id AND d.duty_date BETWEEN first_day AND first_day + days - 1
                          AND d.booking_id IS DISTINCT FROM keep_booking);
COMMENT ON FUNCTION hublink.esp_free(text, date, integer, bigint) IS
    'Whether an escort with a name on file is on the roster for each of days days from first_day '
    'and on duty for no booking then (the duties of keep_booking do not count).';

-- One augmenting path (Kuhn's algorithm): give position pos an escort, moving the holders of
-- its candidates to other candidates of theirs where that frees one.
CREATE FUNCTION hublink.esp_augment(elig jsonb, assign jsonb, pos text, visited text[]) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e      text;
    holder text;
    r      jsonb;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements_text(elig -> pos) WITH ORDINALITY y(x, o) ORDER BY o LOOP
        CONTINUE WHEN e = ANY (visited);
        visited := visited || e;
        SELECT k INTO holder FROM jsonb_each_text(assign) z(k, v) WHERE v = e;
        IF holder IS NULL THEN
            RETURN jsonb_build_object('assign', assign || jsonb_build_object(pos, e), 'visited', to_jsonb(visited));
        END IF;
        r := hublink.esp_augment(elig, assign, holder, visited);
        visited := ARRAY(SELECT jsonb_array_elements_text(r -> 'visited'));
        IF jsonb_typeof(r -> 'assign') = 'object' THEN
            RETURN jsonb_build_object('assign', (r -> 'assign') || jsonb_build_object(pos, e), 'visited', r -> 'visited');
        END IF;
    END LOOP;
    RETURN jsonb_build_object('assign', NULL, 'visited', to_jsonb(visited));
END;
$$;
COMMENT ON FUNCTION hublink.esp_augment(jsonb, jsonb, text, text[]) IS
    'An augmenting path for position pos in a team assignment {position: escort}, candidates per '
    'position in elig {position: [escort, ...]} in order of preference: {assign: the new '
    'assignment or null, visited: escorts tried}.';

CREATE FUNCTION hublink.esp_fill_team(plan_id bigint, first_day date, keep_booking bigint DEFAULT NULL,
                                      sexes jsonb DEFAULT NULL)
    RETURNS TABLE (escort_number integer, escort_id text)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    days   constant integer := (SELECT pl.duty_days FROM hublink.esp_plan pl WHERE pl.plan_id = esp_fill_team.plan_id);
    -- The positions with their sex decrypted (sealed, 74_crypto_seal_esp.sql; audited when any
    -- position asks for a sex), once per call.
    positions constant hublink.esp_plan_position[] :=
        ARRAY(SELECT x FROM hublink.esp_plan_positions(esp_fill_team.plan_id) x);
    cands  text[];
    elig   jsonb;
    assign jsonb := '{}';
    p      hublink.esp_plan_position;
    pick   text;
    r      jsonb;
BEGIN
    cands := ARRAY(SELECT e.escort_id FROM hublink.esp_escort e
                    WHERE e.active AND hublink.esp_free(e.escort_id, first_day, days, keep_booking));
    -- The sex is sealed: decrypted only when a position asks for one, only for the free escorts
    -- (unless the caller, hublink.esp_quote, decrypted it once for every date).
    IF sexes IS NULL AND EXISTS (SELECT FROM unnest(positions) x WHERE x.gender IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(cands, (SELECT pl.removal_ref FROM hublink.esp_plan pl
                                                   WHERE pl.plan_id = esp_fill_team.plan_id));
    END IF;
    -- Per position its fit free escorts, best first: the booking's own escort for it, then the
    -- least qualified (fit for the fewest positions of the plan, weakest physique, not a
    -- leader, fewest languages, then by ID), so that scarce skills stay free.
    SELECT coalesce(jsonb_object_agg(x.escort_number::text, coalesce(
               (SELECT jsonb_agg(c.escort_id ORDER BY
                        NOT EXISTS (SELECT FROM hublink.esp_booking_escort b
                                     WHERE b.booking_id = keep_booking AND b.escort_number = x.escort_number
                                       AND b.escort_id = c.escort_id),
                        (SELECT count(*) FROM unnest(positions) y
                          WHERE hublink.esp_eligible(y, c, sexes ->> c.escort_id)),
                        (SELECT ph.strength FROM hublink.esp_physique ph WHERE ph.physique = c.physique),
                        c.team_leader, cardinality(c.languages), c.escort_id)
                  FROM hublink.esp_escort c WHERE c.escort_id = ANY (cands) AND hublink.esp_eligible(x, c, sexes ->> c.escort_id)), '[]')), '{}')
      INTO elig
      FROM unnest(positions) x;
    -- Greedy first, most constrained position first, each taking its best free candidate ...
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id
              ORDER BY jsonb_array_length(elig -> x.escort_number::text), x.escort_number LOOP
        SELECT c INTO pick FROM jsonb_array_elements_text(elig -> p.escort_number::text) WITH ORDINALITY y(c, o)
         WHERE NOT EXISTS (SELECT FROM jsonb_each_text(assign) z(k, v) WHERE v = c)
         ORDER BY o LIMIT 1;
        IF FOUND THEN
            assign := assign || jsonb_build_object(p.escort_number::text, pick);
        END IF;
    END LOOP;
    -- ... then an augmenting path for each position left, so that a team is found whenever
    -- one exists (a maximum matching of positions to escorts).
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id AND NOT assign ? x.escort_number::text
              ORDER BY x.escort_number LOOP
        r := hublink.esp_augment(elig, assign, p.escort_number::text, '{}');
        IF jsonb_typeof(r -> 'assign') = 'object' THEN
            assign := r -> 'assign';
        END IF;
    END LOOP;
    RETURN QUERY SELECT k::integer, v FROM jsonb_each_text(assign) z(k, v) ORDER BY k::integer;
END;
$$;
COMMENT ON FUNCTION hublink.esp_fill_team(bigint, date, bigint, jsonb) IS
    'Assigns free escorts (hublink.esp_free) to the positions of a plan for the duty days from '
    'first_day (sexes: {escort_id: sex} already decrypted, else decrypted here for the free '
    'escorts when a position asks for a sex): greedily, most constrained position first, each taking keep_booking''s own escort '
    'when fit, else the least qualified fit escort (fewest positions fit, weakest physique, not a '
    'leader, fewest languages, then ID); then augmenting paths for the positions left, so the '
    'result is a maximum matching: fewer rows than positions means no team exists.';

CREATE FUNCTION hublink.esp_lock_days(first_day date, days integer) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Every session locks the roster rows of the days in the same order (day, escort), so two
    -- bookings of overlapping days queue and cannot deadlock.
    PERFORM FROM hublink.esp_roster r WHERE r.duty_date BETWEEN first_day AND first_day + days - 1
      ORDER BY r.duty_date, r.escort_id FOR UPDATE;
END;
$$;
COMMENT ON FUNCTION hublink.esp_lock_days(date, integer) IS
    'Locks the roster rows of days days from first_day, in (day, escort) order, until the end of '
    'the transaction: what every change of duties does first.';

CREATE FUNCTION hublink.esp_take_team(booking_id bigint, team jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking;
    days integer;
BEGIN
    SELECT * INTO k FROM hublink.esp_booking b WHERE b.booking_id = esp_take_team.booking_id;
    SELECT pl.duty_days INTO days FROM hublink.esp_plan pl WHERE pl.plan_id = k.plan_id;
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    DELETE FROM hublink.esp_booking_escort b WHERE b.booking_id = k.booking_id;
    INSERT INTO hublink.esp_booking_escort
    SELECT k.booking_id, (t ->> 'escort_number')::integer, t ->> 'escort_id' FROM jsonb_array_elements(team) t;
    INSERT INTO hublink.esp_duty
    SELECT t ->> 'escort_id', g::date, k.booking_id
      FROM jsonb_array_elements(team) t, generate_series(k.escort_date, k.escort_date + days - 1, interval '1 day') g;
END;
$$;
COMMENT ON FUNCTION hublink.esp_take_team(bigint, jsonb) IS
    'Makes a team ([{escort_number, escort_id}], from hublink.esp_fill_team) the booking''s: its '
    'positions and its duties on every duty day (the caller holds hublink.esp_lock_days).';

-- Names, passports and sex are sealed under each escort's key (74_crypto_seal_esp.sql): read
-- through hublink.esp_escort_identities, which audits.
CREATE FUNCTION hublink.esp_escort_details(booking_id bigint, only_escorts text[] DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
    SELECT jsonb_build_object(
        'escorts', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
            'escortId', b.escort_id, 'escortNumber', b.escort_number,
            'name', hublink.person_name_json(x.title, x.given_names, x.family_name),
            'advancePassengerInfo', nullif(jsonb_strip_nulls(jsonb_build_object(
                'dateOfBirth', x.date_of_birth, 'nationality', x.nationality, 'gender', x.gender,
                'travelDocument', CASE WHEN x.document_number IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
                    'type', x.document_type, 'number', x.document_number,
                    'issuingCountry', x.document_issuing_country, 'expiryDate', x.document_expiry_date)) END)), '{}')))
            ORDER BY b.escort_number),
        'assignments', (SELECT jsonb_agg(jsonb_build_object('segmentId', s #>> '{segment,segmentId}',
                                                            'escortId', b2.escort_id) ORDER BY o, b2.escort_number)
                          FROM hublink.esp_booking k
                          CROSS JOIN LATERAL jsonb_array_elements((SELECT pl.segments FROM hublink.esp_plan pl
                                                                    WHERE pl.plan_id = k.plan_id)) WITH ORDINALITY z(s, o)
                          JOIN hublink.esp_booking_escort b2 ON b2.booking_id = k.booking_id
                         WHERE k.booking_id = esp_escort_details.booking_id
                           AND (only_escorts IS NULL OR b2.escort_id = ANY (only_escorts))
                           AND (NOT s -> 'segment' ? 'escortNumbers'
                                OR s #> '{segment,escortNumbers}' @> to_jsonb(b2.escort_number))))
      FROM hublink.esp_booking_escort b
      JOIN hublink.esp_escort_identities(
               ARRAY(SELECT y.escort_id FROM hublink.esp_booking_escort y
                      WHERE y.booking_id = esp_escort_details.booking_id
                        AND (only_escorts IS NULL OR y.escort_id = ANY (only_escorts))),
               (SELECT k.removal_ref FROM hublink.esp_booking k WHERE k.booking_id = esp_escort_details.booking_id)) x
        USING (escort_id)
     WHERE b.booking_id = esp_escort_details.booking_id
       AND (only_escorts IS NULL OR b.escort_id = ANY (only_escorts)));
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_details(bigint, text[]) IS
    'The escortDetails of a booking (or of some of its escorts): names, advance passenger '
    'information held, and per segment the escorts on it.';

CREATE FUNCTION hublink.esp_decline(quote_ref text, code text, details text) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN hublink.declined_booking_body('escortQuoteReference', quote_ref, code, details);
COMMENT ON FUNCTION hublink.esp_decline(text, text, text) IS
    'A declined EscortBookingResponse body (hublink.declined_booking_body): the code must be an '
    'active row of the decline list in hublink.reason_code, else the body lacks it and fails validation.';

CREATE FUNCTION hublink.esp_book(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qref  text := request ->> 'escortQuoteReference';
    q     hublink.esp_quote;
    pl    hublink.esp_plan;
    other text;
    team  jsonb;
    npos  integer;
    bid   bigint;
BEGIN
    SELECT * INTO q FROM hublink.esp_quote x WHERE x.quote_ref = qref FOR UPDATE;
    IF NOT FOUND THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'No escort quote ' || qref || ' was issued by this provider.');
    END IF;
    SELECT * INTO pl FROM hublink.esp_plan x WHERE x.plan_id = q.plan_id;
    IF EXISTS (SELECT FROM hublink.esp_booking b WHERE b.quote_ref = qref) THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'Escort quote ' || qref || ' is already booked.');
    END IF;
    -- One escorting per quote request: a second quote of the same plan is not booked beside it.
    SELECT string_agg(b.quote_ref, ', ') INTO other FROM hublink.esp_booking b
      JOIN hublink.esp_booking_status s USING (status)
     WHERE b.plan_id = q.plan_id AND s.holds_duty;
    IF other IS NOT NULL THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'Another date of the same request is booked: ' || other || '.');
    END IF;
    IF at > q.expires_at THEN
        RETURN hublink.esp_decline(qref, 'QUOTE_EXPIRED', 'The quote expired at '
               || to_char(q.expires_at AT TIME ZONE hublink.esp_setting('date_time_zone'), 'YYYY-MM-DD HH24:MI') || ' UK time.');
    END IF;
    PERFORM hublink.esp_lock_days(q.escort_date, pl.duty_days);
    SELECT count(*) INTO npos FROM hublink.esp_plan_position p WHERE p.plan_id = q.plan_id;
    SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO team FROM hublink.esp_fill_team(q.plan_id, q.escort_date) t;
    IF jsonb_array_length(team) < npos THEN
        RETURN hublink.esp_decline(qref, 'ESCORTS_UNAVAILABLE', 'The roster no longer has escorts for position(s) '
               || (SELECT string_agg(p.escort_number || ' (' || p.role || ')', ', ' ORDER BY p.escort_number)
                     FROM hublink.esp_plan_position p
                    WHERE p.plan_id = q.plan_id
                      AND NOT team @> jsonb_build_array(jsonb_build_object('escort_number', p.escort_number)))
               || ' on ' || q.escort_date || '.');
    END IF;
    INSERT INTO hublink.esp_booking (quote_ref, plan_id, removal_ref, escort_date, booked_at, total, currency)
    VALUES (qref, q.plan_id, pl.removal_ref, q.escort_date, at, q.total, q.currency)
    RETURNING booking_id INTO bid;
    PERFORM hublink.esp_take_team(bid, team);
    RETURN jsonb_build_object('escortQuoteReference', qref, 'outcome', 'ACCEPTED',
                              'escortDetails', hublink.esp_escort_details(bid),
                              'notes', 'Escort cost ' || to_char(q.total, 'FM999999999990.00') || ' ' || q.currency || '.');
END;
$$;
COMMENT ON FUNCTION hublink.esp_book(jsonb, timestamptz) IS
    'Books an EscortBookingRequest body at instant at: declines OTHER (unknown quote, already '
    'booked, another date of the same request booked), QUOTE_EXPIRED (after expires_at) or '
    'ESCORTS_UNAVAILABLE (the roster can no longer staff every position: checked under the '
    'roster locks of the duty days), else puts the team on duty and returns the ACCEPTED body '
    'with the escorts'' names, advance passenger information and assignments.';

-- from sql/parts/64_esp_changes.sql
-- Escort provider (esp), issue 5 section 4: after booking. EscortAmendment and
-- EscortCancellation from the Hub, and the provider's own events entered by esp staff with a
-- SQL call (completed, delayed, unsuccessful, escort change, provider cancellation), each give
-- an EscortUpdate body with its financial consequence (fees by notice period, esp_fee_rule).

CREATE TABLE hublink.esp_update (
    update_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id bigint NOT NULL REFERENCES hublink.esp_booking,
    cause      text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_update IS 'Every EscortUpdate body the engine produced, with what caused it.';
COMMENT ON COLUMN hublink.esp_update.update_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_update.booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.esp_update.cause IS 'The engine function that produced it (cancel, amend, completed, delayed, unsuccessful, escort-change, provider-cancel).';
COMMENT ON COLUMN hublink.esp_update.body IS 'The EscortUpdate body (escort names appear only as escortDetails).';
COMMENT ON COLUMN hublink.esp_update.created_at IS 'When (the at argument).';

CREATE FUNCTION hublink.esp_booking_of(quote_ref text, statuses text[] DEFAULT '{ACTIVE}') RETURNS hublink.esp_booking
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking;
BEGIN
    SELECT * INTO k FROM hublink.esp_booking b WHERE b.quote_ref = esp_booking_of.quote_ref FOR UPDATE;
    IF NOT FOUND OR NOT k.status = ANY (statuses) THEN
        RAISE EXCEPTION 'no % escort booking of quote %', lower(array_to_string(statuses, ' or ')), quote_ref
            USING ERRCODE = 'no_data_found',
                  DETAIL = CASE WHEN k.booking_id IS NULL THEN 'The engine holds no booking of that quote.'
                                ELSE format('The booking is %s.', k.status) END,
                  HINT = 'Check the escortQuoteReference against hublink.esp_booking.';
    END IF;
    RETURN k;
END;
$$;
COMMENT ON FUNCTION hublink.esp_booking_of(text, text[]) IS
    'The booking of a quote, locked, when its status is one of statuses; else raises no_data_found.';

CREATE FUNCTION hublink.esp_record_update(booking_id bigint, cause text, body jsonb, at timestamptz) RETURNS jsonb
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO hublink.esp_update (booking_id, cause, body, created_at) VALUES (booking_id, cause, body, at);
    SELECT body;
END;
COMMENT ON FUNCTION hublink.esp_record_update(bigint, text, jsonb, timestamptz) IS 'Keeps an EscortUpdate body in esp_update and returns it.';

CREATE FUNCTION hublink.esp_fee_note(fee_kind text, cost numeric, hours numeric) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN (SELECT round(greatest(hours, 0), 0) || ' hours before the escort date: ' || r.description
              FROM hublink.esp_fee_rule r
             WHERE r.fee_kind = esp_fee_note.fee_kind AND r.from_hours_before <= greatest(hours, 0)
             ORDER BY r.from_hours_before DESC LIMIT 1);
COMMENT ON FUNCTION hublink.esp_fee_note(text, numeric, numeric) IS 'The fee rule applied, in words, for notes.';

CREATE FUNCTION hublink.esp_cancel(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     hublink.esp_booking := hublink.esp_booking_of(request ->> 'escortQuoteReference');
    hours numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee   numeric := hublink.esp_fee('CANCELLATION', k.total, hours);
BEGIN
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    UPDATE hublink.esp_booking b SET status = 'CANCELLED', fees = b.fees + fee WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'cancel', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'financial', jsonb_build_object(
            'cancellationFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', 'CANCELLED_BY_HO'),
            'notes', 'Cancelled ' || hublink.esp_fee_note('CANCELLATION', k.total, hours)
                     || ' Booked escort cost ' || to_char(k.total, 'FM999999999990.00') || ' ' || k.currency
                     || '; the escorts are released.')), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_cancel(jsonb, timestamptz) IS
    'Cancels the active booking of an EscortCancellation body at instant at: releases the '
    'escorts'' duties, charges the CANCELLATION fee for the notice left (esp_fee_rule) and returns '
    'the EscortUpdate body with financial.cancellationFee. No active booking: no_data_found.';

CREATE FUNCTION hublink.esp_copy_plan(plan_id bigint, at timestamptz) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
BEGIN
    -- returnees is sealed (74_crypto_seal_esp.sql): the copy takes the sealed value and its key
    -- scope, which the seal trigger re-seals without anyone reading it.
    INSERT INTO hublink.esp_plan (removal_ref, key_scope, sealed, international, escort_on_transport, location,
                                  destination, duty_days, currency, segments, created_at)
    SELECT p.removal_ref, p.key_scope, p.sealed, p.international, p.escort_on_transport, p.location,
           p.destination, p.duty_days, p.currency, p.segments, at
      FROM hublink.esp_plan p WHERE p.plan_id = esp_copy_plan.plan_id
    RETURNING esp_plan.plan_id INTO pid;
    -- So is a position's sex (gender): copied sealed, under the same key.
    INSERT INTO hublink.esp_plan_position (plan_id, escort_number, role, gender, physique, languages, medic,
                                           for_returnee, key_scope, sealed)
    SELECT pid, p.escort_number, p.role, NULL, p.physique, p.languages, p.medic, p.for_returnee, p.key_scope, p.sealed
      FROM hublink.esp_plan_position p WHERE p.plan_id = esp_copy_plan.plan_id;
    RETURN pid;
END;
$$;
COMMENT ON FUNCTION hublink.esp_copy_plan(bigint, timestamptz) IS 'A copy of a plan and its positions, for an amendment to change.';

CREATE FUNCTION hublink.esp_amend(request jsonb, amendment_message_id uuid, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k       hublink.esp_booking := hublink.esp_booking_of(request ->> 'escortQuoteReference');
    pid     bigint := hublink.esp_copy_plan(k.plan_id, at);
    pl      hublink.esp_plan;
    c       jsonb;
    r       jsonb;
    x       jsonb;
    segs    jsonb;
    missing text;
    reason  text;
    team    jsonb;
    npos    integer;
    hours   numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee     numeric;
    new_total numeric;
    outcome jsonb := jsonb_build_object('amendmentMessageId', amendment_message_id::text);

BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = pid;
    IF request ? 'returneeChanges' THEN
        pl.returnees := hublink.esp_plan_returnees(pid); -- sealed: decrypted (audited) only when changed
    END IF;
    -- Returnee changes: new risk or conditions change the positions, a new location of the
    -- first returnee the segments (rebuilt from the templates).
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'returneeChanges', '[]')) LOOP
        SELECT jsonb_agg(CASE WHEN p ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
                   p || jsonb_strip_nulls(jsonb_build_object(
                       'flags', r #> '{escortRiskAssessment,flags}',
                       'conditions', (SELECT jsonb_agg(y -> 'code') FROM jsonb_array_elements(r -> 'conditions') y),
                       'location', r -> 'location'))
                   ELSE p END ORDER BY o)
          INTO pl.returnees FROM jsonb_array_elements(pl.returnees) WITH ORDINALITY z(p, o);
        IF r ? 'location' AND pl.returnees -> 0 ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
            pl.location := r -> 'location';
            pl.segments := hublink.esp_segments(pl.international, pl.escort_on_transport, pl.location, pl.destination);
            reason := coalesce(reason, 'LOCATION_CHANGE');
        END IF;
        reason := coalesce(reason, 'RISK_CHANGED');
    END LOOP;
    IF request ? 'returneeChanges' THEN
        DELETE FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
        INSERT INTO hublink.esp_plan_position SELECT pid, p.* FROM hublink.esp_positions(pl.returnees) p;
    END IF;
    -- Segment changes: cancel, replace, add or amend in place.
    FOR c IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'segmentChanges', '[]')) LOOP
        reason := coalesce(reason, c #>> '{reason,code}');
        SELECT string_agg(a, ', ') INTO missing FROM jsonb_array_elements_text(c -> 'affectedSegmentIds') a
         WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(pl.segments) s WHERE s #>> '{segment,segmentId}' = a);
        IF missing IS NOT NULL THEN
            DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
            RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
                'escortQuoteReference', k.quote_ref,
                'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason',
                    jsonb_build_object('code', 'OTHER', 'text', 'The booking has no segment ' || missing || '; nothing was changed.'))), at);
        END IF;
        IF (c ->> 'cancelled')::boolean THEN
            SELECT coalesce(jsonb_agg(s ORDER BY o), '[]') INTO segs FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o)
             WHERE NOT c -> 'affectedSegmentIds' ? (s #>> '{segment,segmentId}');
            pl.segments := segs || coalesce((SELECT jsonb_agg(jsonb_build_object('segment', n, 'kind', 'REPLACEMENT',
                    'minutes', coalesce(extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                        hublink.esp_setting('default_segment_minutes')::integer),
                    'allowance', 0, 'dayOffset', 0) ORDER BY o)
                FROM jsonb_array_elements(c -> 'replacementSegments') WITH ORDINALITY z(n, o)), '[]');
        ELSE
            SELECT jsonb_agg(coalesce(
                       (SELECT s || jsonb_build_object('segment', n, 'minutes', coalesce(
                                   extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                   (s ->> 'minutes')::integer))
                          FROM jsonb_array_elements(c -> 'replacementSegments') n
                         WHERE n ->> 'segmentId' = s #>> '{segment,segmentId}'), s) ORDER BY o)
              INTO pl.segments FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o);
        END IF;
    END LOOP;
    IF NOT (request ? 'returneeChanges' OR request ? 'segmentChanges') THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'OTHER', 'text', 'Free-text amendments are handled by escort staff; nothing was changed.'))), at);
    END IF;
    -- pl.returnees is NULL unless returnees changed: the seal trigger then keeps the sealed value.
    UPDATE hublink.esp_plan p SET returnees = pl.returnees, location = pl.location, segments = pl.segments
     WHERE p.plan_id = pid;

    -- The amended plan must be staffed on the same days, keeping the booking's own escorts.
    PERFORM hublink.esp_lock_days(k.escort_date, pl.duty_days);
    SELECT count(*) INTO npos FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
    SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO team FROM hublink.esp_fill_team(pid, k.escort_date, k.booking_id) t;
    IF jsonb_array_length(team) < npos THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'STAFF_UNAVAILABLE', 'text', 'The roster cannot staff the amended team on '
                        || k.escort_date || '; the booking is unchanged.'))), at);
    END IF;
    new_total := hublink.esp_plan_cost(pid);
    fee := hublink.esp_fee('AMENDMENT', new_total, hours);
    UPDATE hublink.esp_booking b SET plan_id = pid, total = new_total, fees = b.fees + fee
     WHERE b.booking_id = k.booking_id;
    PERFORM hublink.esp_take_team(k.booking_id, team);
    RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'amendmentOutcome', outcome || jsonb_build_object('accepted', true,
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'segments', (SELECT jsonb_agg(s -> 'segment' ORDER BY o) FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o))),
        'escortDetails', hublink.esp_escort_details(k.booking_id),
        'financial', jsonb_build_object(
            'changeFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'notes', 'Amended ' || hublink.esp_fee_note('AMENDMENT', new_total, hours) || ' Escort cost was '
                     || to_char(k.total, 'FM999999999990.00') || ', now ' || to_char(new_total, 'FM999999999990.00')
                     || ' ' || k.currency || '.')), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_amend(jsonb, uuid, timestamptz) IS
    'Applies an EscortAmendment body at instant at to the active booking: returnee changes '
    'recompute the positions (and, for a new location, the segments), segment changes cancel, '
    'replace, add or amend segments (duration from planned times, else default_segment_minutes); '
    'the amended plan is staffed on the same days keeping the booking''s escorts where it can. '
    'Accepted: new cost, AMENDMENT fee by notice, escortDetails. Not accepted (nothing changes): '
    'an unknown segment (OTHER), free text only (OTHER), the roster cannot staff it '
    '(STAFF_UNAVAILABLE). No active booking: no_data_found.';

-- Provider-side events, entered by esp staff: each returns the EscortUpdate body to send
-- (hublink.esp_send_update) and keeps it in esp_update.

CREATE FUNCTION hublink.esp_completed(quote_ref text, actuals jsonb, notes text DEFAULT NULL,
                                      at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    UPDATE hublink.esp_booking b SET status = 'COMPLETED' WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'completed', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'completed', jsonb_strip_nulls(jsonb_build_object('segments', actuals, 'notes', notes)),
        'notes', 'Escort cost ' || to_char(k.total + k.fees, 'FM999999999990.00') || ' ' || k.currency
                 || ' (escorting ' || to_char(k.total, 'FM999999999990.00') || ', fees '
                 || to_char(k.fees, 'FM999999999990.00') || ').'), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_completed(text, jsonb, text, timestamptz) IS
    'esp staff: the escorting of a booking was completed. actuals: [{segmentId, departedAt, '
    'arrivedAt}]. Returns the EscortUpdate body (completed; notes give the amount due).';

CREATE FUNCTION hublink.esp_delayed(quote_ref text, reason_code text, segments jsonb, notes text DEFAULT NULL,
                                    at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    RETURN hublink.esp_record_update(k.booking_id, 'delayed', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'delayed', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
                                                        'segments', segments, 'notes', notes))), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_delayed(text, text, jsonb, text, timestamptz) IS
    'esp staff: the escort is delayed (reason from the delay list). segments: [{segmentId, '
    'newStart, newFinish}], the delayed one first. No cost follows. Returns the EscortUpdate body.';

CREATE FUNCTION hublink.esp_unsuccessful(quote_ref text, reason_code text, segment_id text DEFAULT NULL,
                                         notes text DEFAULT NULL, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     hublink.esp_booking := hublink.esp_booking_of(quote_ref);
    hours numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee   numeric := hublink.esp_fee('CANCELLATION', k.total, hours);
BEGIN
    UPDATE hublink.esp_booking b SET status = 'UNSUCCESSFUL', fees = b.fees + fee WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'unsuccessful', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'unsuccessful', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
            'segmentId', segment_id, 'occurredAt', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
            'notes', notes)),
        'financial', jsonb_build_object(
            'cancellationFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', 'OTHER', 'text', 'Escorting abandoned.'),
            'notes', 'Abandoned ' || hublink.esp_fee_note('CANCELLATION', k.total, hours))), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_unsuccessful(text, text, text, text, timestamptz) IS
    'esp staff: the escorting started and was abandoned (reason from the unsuccessful list). '
    'Charged as a cancellation with the notice left (after the start: the full cost). Returns the '
    'EscortUpdate body (unsuccessful, financial).';

CREATE FUNCTION hublink.esp_provider_cancel(quote_ref text, reason_code text, notes text DEFAULT NULL,
                                            at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    UPDATE hublink.esp_booking b SET status = 'PROVIDER_CANCELLED' WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'provider-cancel', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'cancellation', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
                                                             'notes', notes)),
        'notes', 'Cancelled by the escort provider: nothing is charged.'), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_provider_cancel(text, text, text, timestamptz) IS
    'esp staff: the provider cancels a booking before it starts (reason from the cancellation '
    'list); the escorts are released and nothing is charged. Returns the EscortUpdate body.';

CREATE FUNCTION hublink.esp_change_escort(quote_ref text, removed_escort_id text, added_escort_id text DEFAULT NULL,
                                          reason_code text DEFAULT 'STAFF_UNAVAILABLE', at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k    hublink.esp_booking := hublink.esp_booking_of(quote_ref);
    pl   hublink.esp_plan;
    pos  hublink.esp_plan_position;
    pick text;
    sexes jsonb;
BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = k.plan_id;
    -- The position's sex is sealed: hublink.esp_plan_positions decrypts it (audited).
    SELECT p.* INTO pos FROM hublink.esp_plan_positions(k.plan_id) p JOIN hublink.esp_booking_escort b
        ON b.booking_id = k.booking_id AND b.escort_number = p.escort_number
     WHERE p.plan_id = k.plan_id AND b.escort_id = removed_escort_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'escort % is not on booking %', removed_escort_id, quote_ref
            USING ERRCODE = 'no_data_found', DETAIL = 'Only an escort of the booking can be replaced.',
                  HINT = 'hublink.esp_booking_escort lists the booking''s escorts.';
    END IF;
    PERFORM hublink.esp_lock_days(k.escort_date, pl.duty_days);
    IF pos.gender IS NOT NULL THEN -- the sex is sealed: decrypted for the free candidates only
        sexes := hublink.esp_escort_sexes(ARRAY(
            SELECT e.escort_id FROM hublink.esp_escort e
             WHERE e.active AND (added_escort_id IS NULL OR e.escort_id = added_escort_id)
               AND hublink.esp_free(e.escort_id, k.escort_date, pl.duty_days, NULL)), k.removal_ref);
    END IF;
    SELECT e.escort_id INTO pick FROM hublink.esp_escort e
     WHERE (added_escort_id IS NULL OR e.escort_id = added_escort_id)
       AND NOT EXISTS (SELECT FROM hublink.esp_booking_escort b WHERE b.booking_id = k.booking_id AND b.escort_id = e.escort_id)
       AND hublink.esp_eligible(pos, e, sexes ->> e.escort_id) AND hublink.esp_free(e.escort_id, k.escort_date, pl.duty_days, NULL)
     ORDER BY e.escort_id LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no free escort can take position % of booking %', pos.escort_number, quote_ref
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('Escort ' || added_escort_id || ' is not free or not fit for the position.',
                                    'No rostered, free escort is fit for the position.'),
                  HINT = 'Roster another escort, or cancel with hublink.esp_provider_cancel.';
    END IF;
    UPDATE hublink.esp_booking_escort b SET escort_id = pick
     WHERE b.booking_id = k.booking_id AND b.escort_number = pos.escort_number;
    UPDATE hublink.esp_duty d SET escort_id = pick WHERE d.booking_id = k.booking_id AND d.escort_id = removed_escort_id;
    RETURN hublink.esp_record_update(k.booking_id, 'escort-change', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'escortChanges', (SELECT jsonb_agg(jsonb_build_object('segmentId', s #>> '{segment,segmentId}',
                                  'removedEscortId', removed_escort_id, 'addedEscortId', pick,
                                  'reason', jsonb_build_object('code', reason_code)) ORDER BY o)
                            FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o)
                           WHERE NOT s -> 'segment' ? 'escortNumbers'
                              OR s #> '{segment,escortNumbers}' @> to_jsonb(pos.escort_number)),
        'escortDetails', hublink.esp_escort_details(k.booking_id, ARRAY[pick])), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_change_escort(text, text, text, text, timestamptz) IS
    'esp staff: replaces an escort of a booking by added_escort_id, or by the first free, fit '
    'escort (by ID) when NULL, under the roster locks of the duty days; raises when none can. '
    'Returns the EscortUpdate body (escortChanges per segment, escortDetails of the new escort).';

CREATE FUNCTION hublink.esp_send_update(body jsonb) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref text := (SELECT b.removal_ref FROM hublink.esp_booking b WHERE b.quote_ref = body ->> 'escortQuoteReference');
BEGIN
    IF ref IS NULL THEN
        RAISE EXCEPTION 'escort quote % belongs to no removal', body ->> 'escortQuoteReference'
            USING ERRCODE = 'no_data_found', DETAIL = 'Only bookings made from a removal''s quote can be reported.',
                  HINT = 'Send the update by hand with hublink.send_message.';
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortUpdate', ref, body));
END;
$$;
COMMENT ON FUNCTION hublink.esp_send_update(jsonb) IS
    'Sends an EscortUpdate body made by the engine to the Hub (hublink.send_message) in the '
    'removal of its booking: SELECT hublink.esp_send_update(hublink.esp_delayed(...)). Returns the messageId.';

-- from sql/parts/65_esp_responders.sql
-- Escort provider (esp): answering automatically. One responder per inbound esp message type
-- (hublink.message_responder, issue 4's seam), each wrapping an engine function's body in an
-- envelope and sending it with hublink.send_message, in the transaction that applied the
-- inbound message. Off by default: hublink.esp_auto_answer() registers or removes them.

CREATE FUNCTION hublink.esp_answer_quote_request(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body jsonb := hublink.esp_quote(message -> 'body', message ->> 'removalId', now());
BEGIN
    IF jsonb_array_length(body -> 'quotes') = 0 THEN
        -- An EscortQuoteResponse has at least one quote and no "no quote" reason: the request
        -- is rejected to the error queue with the dates and why each was not offered.
        PERFORM hublink.impossible('/body/dates', 'no escort team can be rostered on any requested date: ' || (body ->> 'notes'));
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortQuoteResponse', message ->> 'removalId', body));
END;
$$;
COMMENT ON FUNCTION hublink.esp_answer_quote_request(jsonb) IS
    'Responder for EscortQuoteRequest at the esp: quotes the body with hublink.esp_quote (at '
    'now()) and sends the EscortQuoteResponse. When no date can be staffed it raises HL001, so '
    'the request is rejected to escort-quote-request-error with the reasons (the response has '
    'no way to say "no quote"). Returns the messageId sent.';

CREATE FUNCTION hublink.esp_answer_booking_request(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.send_message(hublink.new_message('EscortBookingResponse', message ->> 'removalId',
                                                    hublink.esp_book(message -> 'body', now())));
END;
$$;
COMMENT ON FUNCTION hublink.esp_answer_booking_request(jsonb) IS
    'Responder for EscortBookingRequest at the esp: books with hublink.esp_book and sends the '
    'EscortBookingResponse, ACCEPTED with the escorts'' names or DECLINED with a decline-list '
    'code. Returns the messageId sent.';

CREATE FUNCTION hublink.esp_answer_amendment(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A booking the engine does not hold as active raises no_data_found from esp_amend:
    -- propagated, so the worker retries the message and finally rejects it.
    RETURN hublink.send_message(hublink.new_message('EscortUpdate', message ->> 'removalId',
        hublink.esp_amend(message -> 'body', (message ->> 'messageId')::uuid, now())));
END;
$$;
COMMENT ON FUNCTION hublink.esp_answer_amendment(jsonb) IS
    'Responder for EscortAmendment at the esp: applies it with hublink.esp_amend and sends the '
    'EscortUpdate with its amendmentOutcome and fee. A booking the engine does not hold as active '
    'raises no_data_found, which propagates (retried, then rejected). Returns the messageId sent.';

CREATE FUNCTION hublink.esp_answer_cancellation(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Before booking (or after a declined booking) there is nothing to release or charge.
    IF NOT EXISTS (SELECT FROM hublink.escort_booking k JOIN hublink.removal r USING (removal_id)
                    WHERE r.removal_reference = message ->> 'removalId'
                      AND k.escort_quote_reference = message #>> '{body,escortQuoteReference}'
                      AND k.outcome = 'ACCEPTED') THEN
        RETURN NULL;
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortUpdate', message ->> 'removalId',
                                                    hublink.esp_cancel(message -> 'body', now())));
END;
$$;
COMMENT ON FUNCTION hublink.esp_answer_cancellation(jsonb) IS
    'Responder for EscortCancellation at the esp: when the conversation has a confirmed booking '
    'of the quote, cancels it with hublink.esp_cancel (escorts released, cancellation fee by '
    'notice) and sends the EscortUpdate with financial; before booking it sends nothing and '
    'returns NULL. Returns the messageId sent.';

CREATE FUNCTION hublink.esp_auto_answer(enabled boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wanted constant hublink.message_responder[] := ARRAY[
        ('EscortQuoteRequest', 'hublink.esp_answer_quote_request(jsonb)',
         'esp: quote with hublink.esp_quote, send the EscortQuoteResponse (hublink.esp_auto_answer).'),
        ('EscortBookingRequest', 'hublink.esp_answer_booking_request(jsonb)',
         'esp: book with hublink.esp_book, send the EscortBookingResponse (hublink.esp_auto_answer).'),
        ('EscortAmendment', 'hublink.esp_answer_amendment(jsonb)',
         'esp: amend with hublink.esp_amend, send the EscortUpdate (hublink.esp_auto_answer).'),
        ('EscortCancellation', 'hublink.esp_answer_cancellation(jsonb)',
         'esp: cancel with hublink.esp_cancel, send the EscortUpdate (hublink.esp_auto_answer).')
    ]::hublink.message_responder[];
BEGIN
    RETURN hublink.set_engine_responders('esp', 'escort', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.esp_auto_answer(boolean) IS
    'Makes the escort provider answer automatically (true, the default) or by hand again (false): '
    'registers or removes the engine''s responders in hublink.message_responder for '
    'EscortQuoteRequest, EscortBookingRequest, EscortAmendment and EscortCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = esp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s rows. Returns the number of rows registered (4), or 0 when disabled.';
REVOKE ALL ON FUNCTION hublink.esp_auto_answer(boolean) FROM PUBLIC;

-- from sql/parts/70_audit.sql
-- The audit trail (issue 6 section 3; NFR 0002, NFR 0020, NFR 0025, SEC 022, SEC 024;
-- docs/security-audit.md): one row per change of a domain row, per state transition, per
-- message in or out, per decryption or purge of personal data. Rows say who, when, what,
-- which removal, and carry SHA-256 digests of the row before and after, never the data.
--
-- Append-only: UPDATE, DELETE and TRUNCATE are revoked from every role (the owner included)
-- and refused by statement triggers that are ENABLE ALWAYS, so they also fire under
-- session_replication_role = replica; each refusal is first recorded through
-- hublink.record_security_event, which survives the rollback of the refused statement.
--
-- Tamper evidence: every row is sealed into hublink.audit_chain at commit, in commit order,
-- with a hash over its content and the previous link's hash; hublink.verify_audit (71_*)
-- recomputes the chain and names the first row where it breaks. Sealing at commit (a deferred
-- constraint trigger) rather than at insert keeps the serialising lock short: it is held from
-- the seal to the end of the commit, not for the whole transaction.

CREATE TABLE hublink.audit_action (
    action      text PRIMARY KEY CHECK (action ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.audit_action IS
    'What an audit row may record (reference data; parts of hublink that call '
    'hublink.audit_note add their actions here).';
COMMENT ON COLUMN hublink.audit_action.action IS 'Name of the action (lower case, underscores).';
COMMENT ON COLUMN hublink.audit_action.description IS 'When a row with this action is written.';

INSERT INTO hublink.audit_action VALUES
    ('insert', 'A row was inserted into an audited table.'),
    ('update', 'A row of an audited table was updated (changed_columns names the columns).'),
    ('delete', 'A row was deleted from an audited table.'),
    ('truncate', 'An audited table was truncated (one row for the statement).'),
    ('state_transition', 'A state machine moved (a row inserted into hublink.state_transition).'),
    ('message_in', 'A message taken off the broker was stored (a row inserted into hublink.inbox).'),
    ('message_out', 'A message was queued for sending (a row inserted into hublink.outbox).'),
    ('decrypt', 'Personal data was decrypted for a reader (hublink.audit_note).'),
    ('purge', 'Personal data was purged or erased (hublink.audit_note).'),
    ('note', 'Any other security-relevant act recorded through hublink.audit_note.');

CREATE TABLE hublink.audit_log (
    audit_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    xact_id           xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    session_user_name text NOT NULL DEFAULT session_user,
    role_name         text NOT NULL,
    backend_pid       integer NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    client_addr       inet DEFAULT pg_catalog.inet_client_addr(),
    action            text NOT NULL REFERENCES hublink.audit_action,
    table_name        text,
    removal_id        bigint,
    removal_reference text,
    row_key           jsonb,
    changed_columns   text[],
    before_digest     bytea,
    after_digest      bytea,
    detail            jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(detail) = 'object')
);
COMMENT ON TABLE hublink.audit_log IS
    'The audit trail (NFR 0002, 0020): append-only, one row per audited act, no personal data '
    '(digests, ids and names only). Sealed into hublink.audit_chain at commit; checked by '
    'hublink.verify_audit(); read by monitoring through hublink.audit_feed / hublink.audit_since.';
COMMENT ON COLUMN hublink.audit_log.audit_id IS 'Insertion order (commit order is hublink.audit_chain.seq).';
COMMENT ON COLUMN hublink.audit_log.at IS 'When the act happened (clock time, with time zone: NFR 0025).';
COMMENT ON COLUMN hublink.audit_log.xact_id IS 'The transaction that did it (finds its rows when sealing).';
COMMENT ON COLUMN hublink.audit_log.session_user_name IS 'Who: the login (session user).';
COMMENT ON COLUMN hublink.audit_log.role_name IS
    'Who: the role the session acted as (SET ROLE), else the login; SECURITY DEFINER functions do not change it.';
COMMENT ON COLUMN hublink.audit_log.backend_pid IS 'The backend process, to join with the server log.';
COMMENT ON COLUMN hublink.audit_log.client_addr IS 'The client''s address; NULL for a Unix socket or the worker.';
COMMENT ON COLUMN hublink.audit_log.action IS 'What (hublink.audit_action).';
COMMENT ON COLUMN hublink.audit_log.table_name IS 'The table acted on, schema-qualified; NULL for a note about no table.';
COMMENT ON COLUMN hublink.audit_log.removal_id IS 'Which removal (hublink.removal.removal_id), when known.';
COMMENT ON COLUMN hublink.audit_log.removal_reference IS 'Which removal by its reference (RMV-...), when known.';
COMMENT ON COLUMN hublink.audit_log.row_key IS
    'The primary key of the row acted on, as {column: value} (keys are ids and codes, never personal data).';
COMMENT ON COLUMN hublink.audit_log.changed_columns IS 'For an update, the names of the columns whose value changed.';
COMMENT ON COLUMN hublink.audit_log.before_digest IS
    'SHA-256 of the row before (to_jsonb(row)::text in UTC); NULL for an insert.';
COMMENT ON COLUMN hublink.audit_log.after_digest IS
    'SHA-256 of the row after (to_jsonb(row)::text in UTC); NULL for a delete.';
COMMENT ON COLUMN hublink.audit_log.detail IS
    'More about the act: ids, codes, states, names of columns; never personal data.';
CREATE INDEX audit_log_removal ON hublink.audit_log (removal_id) WHERE removal_id IS NOT NULL;
COMMENT ON INDEX hublink.audit_log_removal IS 'The audit history of one removal.';

CREATE TABLE hublink.audit_chain (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    audit_id   bigint NOT NULL UNIQUE,
    sealed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    prev_hash  bytea NOT NULL CHECK (pg_catalog.length(prev_hash) = 32),
    row_hash   bytea NOT NULL CHECK (pg_catalog.length(row_hash) = 32)
);
COMMENT ON TABLE hublink.audit_chain IS
    'The hash chain over hublink.audit_log, in commit order: link seq covers audit row audit_id '
    'and link seq - 1. Append-only like the log.';
COMMENT ON COLUMN hublink.audit_chain.seq IS 'Position in the chain, 1, 2, 3 ... without gaps; the feed''s cursor.';
COMMENT ON COLUMN hublink.audit_chain.audit_id IS 'The audit row this link seals.';
COMMENT ON COLUMN hublink.audit_chain.sealed_at IS 'When it was sealed (at the commit of its transaction).';
COMMENT ON COLUMN hublink.audit_chain.prev_hash IS 'row_hash of link seq - 1 (32 zero bytes for link 1).';
COMMENT ON COLUMN hublink.audit_chain.row_hash IS
    'SHA-256 of prev_hash followed by hublink.audit_canonical(audit row) in UTF-8.';

CREATE FUNCTION hublink.audit_canonical(a hublink.audit_log) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- jsonb's text form is canonical (keys sorted, fixed spacing); the time is epoch seconds
    -- so the text does not depend on the session's TimeZone or DateStyle.
    SELECT pg_catalog.jsonb_build_object(
               'audit_id', a.audit_id,
               'at', EXTRACT(epoch FROM a.at),
               'xact_id', a.xact_id::text,
               'session_user', a.session_user_name,
               'role', a.role_name,
               'backend_pid', a.backend_pid,
               'client_addr', a.client_addr::text,
               'action', a.action,
               'table', a.table_name,
               'removal_id', a.removal_id,
               'removal_reference', a.removal_reference,
               'row_key', a.row_key,
               'changed_columns', pg_catalog.to_jsonb(a.changed_columns),
               'before_digest', pg_catalog.encode(a.before_digest, 'hex'),
               'after_digest', pg_catalog.encode(a.after_digest, 'hex'),
               'detail', a.detail)::text;
$$;
COMMENT ON FUNCTION hublink.audit_canonical(hublink.audit_log) IS
    'The text an audit row''s hash covers: every column as canonical jsonb text, independent of '
    'session settings. Changing it changes every hash: verify_audit would report the whole chain.';

-- One seal per batch, not one trigger event per audit row: the WHEN function queues the
-- deferred event for the first unsealed row of the transaction only (a transaction-local
-- setting holding the transaction id; a subtransaction's abort undoes it with its rows).
CREATE FUNCTION hublink.audit_seal_needed() RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('hublink_audit.seal_queued', true) = pg_catalog.pg_current_xact_id()::text THEN
        RETURN false;
    END IF;
    PERFORM pg_catalog.set_config('hublink_audit.seal_queued', pg_catalog.pg_current_xact_id()::text, true);
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.audit_seal_needed() IS
    'WHEN condition of the sealing trigger: true for the first audit row since the last seal of '
    'this transaction, so one deferred event seals the whole batch.';
REVOKE ALL ON FUNCTION hublink.audit_seal_needed() FROM PUBLIC;

CREATE FUNCTION hublink.audit_seal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    last   record;
    seq    bigint;
    prev   bytea;
    r      record;
    seqs   bigint[] := '{}';
    ids    bigint[] := '{}';
    prevs  bytea[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    -- Serialise sealing across transactions so seq and prev_hash are well defined. Held to
    -- the end of the commit (docs/security-audit.md "Cost"). The key is audit_chain's oid.
    PERFORM pg_catalog.pg_advisory_xact_lock('hublink.audit_chain'::regclass::oid::bigint);
    SELECT c.seq, c.row_hash INTO last FROM hublink.audit_chain c ORDER BY c.seq DESC LIMIT 1;
    seq := coalesce(last.seq, 0);
    prev := coalesce(last.row_hash, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));
    -- This transaction's rows from the one that queued the event on, not sealed yet.
    FOR r IN SELECT l.audit_id, hublink.audit_canonical(l) AS canonical FROM hublink.audit_log l
              WHERE l.audit_id >= NEW.audit_id AND l.xact_id = pg_catalog.pg_current_xact_id()
                AND NOT EXISTS (SELECT FROM hublink.audit_chain c WHERE c.audit_id = l.audit_id)
              ORDER BY l.audit_id LOOP
        seq := seq + 1;
        seqs := seqs || seq;
        ids := ids || r.audit_id;
        prevs := prevs || prev;
        prev := pg_catalog.sha256(prev || pg_catalog.convert_to(r.canonical, 'UTF8'));
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO hublink.audit_chain (seq, audit_id, prev_hash, row_hash)
    SELECT * FROM ROWS FROM (pg_catalog.unnest(seqs), pg_catalog.unnest(ids), pg_catalog.unnest(prevs),
                             pg_catalog.unnest(hashes));
    -- Rows written after this (by later deferred triggers, or after a SET CONSTRAINTS
    -- IMMEDIATE statement) queue a new event.
    PERFORM pg_catalog.set_config('hublink_audit.seal_queued', '', true);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.audit_seal() IS
    'Deferred constraint trigger on hublink.audit_log: at commit, appends this transaction''s '
    'unsealed audit rows to hublink.audit_chain in order, under a transaction advisory lock.';
REVOKE ALL ON FUNCTION hublink.audit_seal() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER audit_log_seal AFTER INSERT ON hublink.audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (hublink.audit_seal_needed())
    EXECUTE FUNCTION hublink.audit_seal();
COMMENT ON TRIGGER audit_log_seal ON hublink.audit_log IS
    'Seals the transaction''s audit rows into hublink.audit_chain at commit.';
ALTER TABLE hublink.audit_log ENABLE ALWAYS TRIGGER audit_log_seal;

CREATE FUNCTION hublink.audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    what jsonb := pg_catalog.jsonb_build_object(
        'table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'operation', pg_catalog.lower(TG_OP),
        'session_user', session_user::text,
        'role', coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
        'backend_pid', pg_catalog.pg_backend_pid(),
        'client_addr', pg_catalog.inet_client_addr()::text,
        'session_replication_role', pg_catalog.current_setting('session_replication_role'));
BEGIN
    -- The statement is about to roll back, and this transaction's writes with it: the
    -- attempt is recorded outside the transaction (shared memory, flushed by the worker).
    IF pg_catalog.to_regprocedure('hublink.record_security_event(text,jsonb)') IS NOT NULL THEN
        PERFORM hublink.record_security_event('audit_' || pg_catalog.lower(TG_OP) || '_refused', what);
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'No role, superusers included, may update, delete or truncate audit rows; the attempt was recorded.',
              HINT = 'Audit rows are kept for their retention period; see docs/security-audit.md.';
END;
$$;
COMMENT ON FUNCTION hublink.audit_refuse_change() IS
    'Statement trigger on the audit tables: records the attempt with '
    'hublink.record_security_event, then refuses UPDATE, DELETE and TRUNCATE.';
REVOKE ALL ON FUNCTION hublink.audit_refuse_change() FROM PUBLIC;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_log', 'audit_chain'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON hublink.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION hublink.audit_refuse_change()', t || '_append_only', t);
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON hublink.%I IS %L', t || '_append_only', t,
                                  'Refuses (and records) any UPDATE, DELETE or TRUNCATE, even by a superuser.');
        EXECUTE pg_catalog.format('ALTER TABLE hublink.%I ENABLE ALWAYS TRIGGER %I', t, t || '_append_only');
        -- Every role, the owner included; a superuser passes privileges, not the trigger.
        EXECUTE pg_catalog.format('REVOKE ALL ON hublink.%I FROM PUBLIC', t);
        EXECUTE pg_catalog.format('REVOKE UPDATE, DELETE, TRUNCATE ON hublink.%I FROM CURRENT_USER', t);
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('hublink.%I', t)::regclass, '');
    END LOOP;
END;
$$;

CREATE FUNCTION hublink.audit_note(p_action text, p_removal_id bigint, p_detail jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.audit_action WHERE action = p_action) THEN
        RAISE EXCEPTION 'unknown audit action "%"', p_action
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every audit row has an action listed in hublink.audit_action.',
                  HINT = 'Add the action to hublink.audit_action in the part that records it.';
    END IF;
    IF p_detail IS NOT NULL AND pg_catalog.jsonb_typeof(p_detail) <> 'object' THEN
        RAISE EXCEPTION 'audit detail must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The detail given was a JSON %s.', pg_catalog.jsonb_typeof(p_detail)),
                  HINT = 'Pass ids, codes and column names in an object, never personal data.';
    END IF;
    INSERT INTO hublink.audit_log (role_name, action, table_name, removal_id, removal_reference, detail)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            p_action, p_detail ->> 'table', p_removal_id,
            (SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = p_removal_id),
            coalesce(p_detail, '{}'));
END;
$$;
COMMENT ON FUNCTION hublink.audit_note(text, bigint, jsonb) IS
    'Writes one audit row for an act that is not a row change: a decryption of personal data '
    '(action decrypt), a purge (purge), or another action of hublink.audit_action. p_detail '
    'holds ids, codes and names of tables or columns (its "table" key fills table_name), never '
    'personal data. SECURITY DEFINER: called by hublink''s own functions.';
REVOKE ALL ON FUNCTION hublink.audit_note(text, bigint, jsonb) FROM PUBLIC;

-- from sql/parts/70_audit_rows.sql
-- Audit of row changes (issue 6 section 3; NFR 0020; docs/security-audit.md "Which tables"):
-- a generic row trigger writes one hublink.audit_log row per insert, update and delete of an
-- audited table, and a statement trigger one per truncate. Which tables are audited is
-- derived from the catalog by hublink.audit_attach(), run last (98_audit_attach.sql), so
-- tables that other parts add are covered without a list here: every table of schema
-- hublink, less the tables of hublink.audit_exclusion (the audit stores themselves and
-- bookkeeping rewritten all the time). hublink.audit_coverage says for each why it matters:
--   (a) it holds removal or message data: a removal_id column (bigint: the key; text: the
--       reference, as in the inbox and the outbox), or a one-column foreign key, directly or
--       through other tables, to a table that has one;
--   (b) hublink_admin may write it (the reference and rule tables admins edit);
--   (c) it is registered with pg_extension_config_dump (the site's own data);
--   otherwise it is reference data, rules or configuration changed by the owner.

CREATE TABLE hublink.audit_exclusion (
    table_name text PRIMARY KEY,
    reason     text NOT NULL
);
COMMENT ON TABLE hublink.audit_exclusion IS
    'Tables of schema hublink that hublink.audit_attach() does not audit, each with the reason '
    '(reference data): the audit stores themselves and bookkeeping rewritten all the time.';
COMMENT ON COLUMN hublink.audit_exclusion.table_name IS 'Table name in schema hublink (it need not exist).';
COMMENT ON COLUMN hublink.audit_exclusion.reason IS 'Why it is not audited.';
INSERT INTO hublink.audit_exclusion VALUES
    ('audit_log', 'The audit trail itself: auditing it would recurse; the hash chain protects it.'),
    ('audit_chain', 'The hash chain of the audit trail: written only by the sealing trigger.'),
    ('security_event', 'The protective-monitoring event store, flushed from shared memory by the '
                       'worker: an audit store itself.'),
    ('security_ring_flushed', 'Bookkeeping of the monitoring flush, rewritten at every flush.'),
    ('logon', 'Every logon attempt, copied by the worker from the monitoring ring: an audit store itself.'),
    ('worker_job', 'The worker rewrites next_run_at at every run of every job: one audit row per run '
                   'would bury the rest. Known gap: an admin disabling a job is not audited here.'),
    ('data_key', 'Wrapped data keys, one per removal: creating one is part of sealing the removal''s '
                 'first message, and a row audit cost 70% of it; the purges and rotations that '
                 'change or destroy keys are audited by audit_note (docs/security-crypto.md).');

CREATE TABLE hublink.audit_table_rule (
    table_name     text PRIMARY KEY,
    insert_action  text NOT NULL REFERENCES hublink.audit_action,
    detail_columns text[] NOT NULL DEFAULT '{}',
    reason         text NOT NULL
);
COMMENT ON TABLE hublink.audit_table_rule IS
    'Audited tables whose inserts are recorded as a named action, and the columns copied into '
    'the audit row''s detail (never a column whose comment starts PERSONAL DATA; '
    'hublink.audit_attach() refuses one).';
COMMENT ON COLUMN hublink.audit_table_rule.table_name IS 'Table name in schema hublink.';
COMMENT ON COLUMN hublink.audit_table_rule.insert_action IS 'The action an insert is recorded as (updates and deletes stay update and delete).';
COMMENT ON COLUMN hublink.audit_table_rule.detail_columns IS 'Columns whose values go into the audit row''s detail, for every operation.';
COMMENT ON COLUMN hublink.audit_table_rule.reason IS 'Why.';
INSERT INTO hublink.audit_table_rule VALUES
    ('state_transition', 'state_transition',
     '{machine,from_state,to_state,event,direction,party,message_id}', 'Every state transition (issue 6 section 3).'),
    ('inbox', 'message_in', '{message_id,message_type,queue,status}', 'Every message in.'),
    ('outbox', 'message_out', '{message_id,message_type,queue}', 'Every message out; its update sets sent_at.');

CREATE FUNCTION hublink.audit_row_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- The digests hash to_jsonb(row)::text; these make that text the same in every session.
    SET TimeZone = 'UTC'
    SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1
    AS $$
DECLARE
    -- Arguments (set by hublink.audit_attach): 0 action of an insert, 1 primary key columns
    -- (a text[] literal), 2 detail columns (a text[] literal), 3 how to find the removal (id,
    -- reference, lookup, none), 4 the column that leads to it, 5 the lookup query ($1 text).
    newj    jsonb;
    oldj    jsonb;
    rowj    jsonb;
    rowkey  jsonb;
    detail  jsonb := '{}';
    changed text[];
    rid     bigint;
    rref    text;
    k       text;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        newj := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        oldj := pg_catalog.to_jsonb(OLD);
    END IF;
    rowj := coalesce(newj, oldj);
    -- Simple expressions only (no query per row): they run without the executor.
    FOREACH k IN ARRAY TG_ARGV[1]::text[] LOOP
        rowkey := coalesce(rowkey, '{}') || pg_catalog.jsonb_build_object(k, rowj -> k);
    END LOOP;
    FOREACH k IN ARRAY TG_ARGV[2]::text[] LOOP
        detail := detail || pg_catalog.jsonb_build_object(k, rowj -> k);
    END LOOP;
    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(pg_catalog.array_agg(n.key ORDER BY n.key), '{}') INTO changed
          FROM pg_catalog.jsonb_each(newj) n WHERE n.value IS DISTINCT FROM oldj -> n.key;
    END IF;
    IF TG_ARGV[3] = 'id' THEN
        rid := (rowj ->> TG_ARGV[4])::bigint;
    ELSIF TG_ARGV[3] = 'reference' THEN
        rref := rowj ->> TG_ARGV[4];
        SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = rref;
    ELSIF TG_ARGV[3] = 'lookup' AND rowj ->> TG_ARGV[4] IS NOT NULL THEN
        EXECUTE TG_ARGV[5] INTO rid, rref USING rowj ->> TG_ARGV[4];
    END IF;
    INSERT INTO hublink.audit_log (role_name, action, table_name, removal_id, removal_reference, row_key,
                                   changed_columns, before_digest, after_digest, detail)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            CASE WHEN TG_OP = 'INSERT' THEN TG_ARGV[0] ELSE pg_catalog.lower(TG_OP) END,
            TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, rid, rref, rowkey, changed,
            pg_catalog.sha256(pg_catalog.convert_to(oldj::text, 'UTF8')),
            pg_catalog.sha256(pg_catalog.convert_to(newj::text, 'UTF8')),
            coalesce(detail, '{}'));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.audit_row_change() IS
    'Row trigger of every audited table (attached by hublink.audit_attach): writes one '
    'hublink.audit_log row with who, when, the table, the operation (or the table''s insert '
    'action), the removal, the primary key, the changed column names and SHA-256 digests of '
    'to_jsonb(row)::text before and after (TimeZone UTC). No column value is copied except the '
    'key and the detail columns of hublink.audit_table_rule.';
REVOKE ALL ON FUNCTION hublink.audit_row_change() FROM PUBLIC;

CREATE FUNCTION hublink.audit_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO hublink.audit_log (role_name, action, table_name)
    VALUES (coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user::text),
            'truncate', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.audit_truncate() IS
    'Statement trigger of every audited table: one hublink.audit_log row for a TRUNCATE.';
REVOKE ALL ON FUNCTION hublink.audit_truncate() FROM PUBLIC;

-- How an audited table's row leads to its removal, from the catalog.
CREATE FUNCTION hublink.audit_removal_path(p_table regclass, p_depth integer DEFAULT 0,
                                           OUT mode text, OUT key_column text, OUT lookup text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ     regtype;
    f       record;
    parent  record;
    a       text := 'p' || p_depth;
BEGIN
    SELECT a.atttypid::regtype INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_table AND a.attname = 'removal_id' AND NOT a.attisdropped;
    IF typ = 'bigint'::regtype THEN
        mode := 'id'; key_column := 'removal_id';
        RETURN;
    ELSIF typ = 'text'::regtype THEN
        mode := 'reference'; key_column := 'removal_id';
        RETURN;
    END IF;
    mode := 'none';
    IF p_depth >= 6 THEN
        RETURN;
    END IF;
    -- A one-column foreign key to a table that leads to a removal; the shortest such path.
    FOR f IN SELECT ka.attname AS kcol, pa.attname AS pcol, k.confrelid::regclass AS ptab,
                    pg_catalog.format_type(pa.atttypid, pa.atttypmod) AS ptype
               FROM pg_catalog.pg_constraint k
               JOIN pg_catalog.pg_attribute ka ON ka.attrelid = k.conrelid AND ka.attnum = k.conkey[1]
               JOIN pg_catalog.pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
              WHERE k.conrelid = p_table AND k.contype = 'f' AND pg_catalog.cardinality(k.conkey) = 1
                AND k.confrelid <> p_table
              ORDER BY k.conname LOOP
        parent := hublink.audit_removal_path(f.ptab, p_depth + 1);
        IF parent.mode = 'id' THEN
            lookup := pg_catalog.format('SELECT %1$s.removal_id, NULL::text FROM %2$s %1$s WHERE %1$s.%3$I = ($1)::%4$s',
                                        a, f.ptab, f.pcol, f.ptype);
        ELSIF parent.mode = 'reference' THEN
            lookup := pg_catalog.format('SELECT r.removal_id, %1$s.removal_id FROM %2$s %1$s '
                                        'LEFT JOIN hublink.removal r ON r.removal_reference = %1$s.removal_id '
                                        'WHERE %1$s.%3$I = ($1)::%4$s', a, f.ptab, f.pcol, f.ptype);
        ELSIF parent.mode = 'lookup' THEN
            lookup := pg_catalog.format('SELECT q.* FROM %2$s %1$s CROSS JOIN LATERAL (%5$s) q WHERE %1$s.%3$I = ($1)::%4$s',
                                        a, f.ptab, f.pcol, f.ptype,
                                        pg_catalog.replace(parent.lookup, '($1)', pg_catalog.format('(%s.%I)', a, parent.key_column)));
        ELSE
            CONTINUE;
        END IF;
        mode := 'lookup'; key_column := f.kcol;
        RETURN;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.audit_removal_path(regclass, integer) IS
    'How a row of the table leads to its removal: mode id (its removal_id), reference (its '
    'removal_id is the removal reference), lookup (a query over one-column foreign keys taking '
    'key_column''s value as $1 and returning removal_id, removal_reference) or none.';

CREATE VIEW hublink.audit_coverage AS
SELECT c.oid::regclass AS table_name, p.mode AS removal_path, p.key_column,
       (p.mode <> 'none') AS holds_removal_data,
       pg_catalog.has_table_privilege('hublink_admin', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS admin_edits,
       c.oid IN (SELECT pg_catalog.unnest(e.extconfig) FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink') AS site_data
  FROM pg_catalog.pg_class c
 CROSS JOIN LATERAL hublink.audit_removal_path(c.oid::regclass) p
 WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relname NOT IN (SELECT x.table_name FROM hublink.audit_exclusion x);
COMMENT ON VIEW hublink.audit_coverage IS
    'The tables hublink.audit_attach() audits: every table of schema hublink less '
    'hublink.audit_exclusion, with why each matters (docs/security-audit.md "Which tables").';
COMMENT ON COLUMN hublink.audit_coverage.table_name IS 'The audited table.';
COMMENT ON COLUMN hublink.audit_coverage.removal_path IS 'How its rows lead to a removal: id, reference, lookup or none.';
COMMENT ON COLUMN hublink.audit_coverage.key_column IS 'The column that leads to the removal.';
COMMENT ON COLUMN hublink.audit_coverage.holds_removal_data IS '(a) It holds removal or message data.';
COMMENT ON COLUMN hublink.audit_coverage.admin_edits IS '(b) hublink_admin may write it.';
COMMENT ON COLUMN hublink.audit_coverage.site_data IS '(c) It is registered with pg_extension_config_dump.';

CREATE FUNCTION hublink.audit_attach() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tab   regclass;
    t     record;
    p     record;
    rule  hublink.audit_table_rule;
    pk    text[];
    bad   text;
    n     integer := 0;
BEGIN
    -- The list first: ALTER TABLE below may touch a table the query reads (audit_exclusion).
    FOREACH tab IN ARRAY ARRAY(SELECT v.table_name FROM hublink.audit_coverage v ORDER BY v.table_name::text) LOOP
        SELECT tab AS table_name, c.relname INTO t FROM pg_catalog.pg_class c WHERE c.oid = tab;
        p := hublink.audit_removal_path(t.table_name);
        SELECT * INTO rule FROM hublink.audit_table_rule r WHERE r.table_name = t.relname;
        SELECT pg_catalog.col_description(t.table_name, a.attnum) INTO bad
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = t.table_name AND a.attname = ANY (rule.detail_columns)
           AND pg_catalog.col_description(t.table_name, a.attnum) LIKE 'PERSONAL DATA:%';
        IF FOUND THEN
            RAISE EXCEPTION 'audit detail of % names a personal data column', t.table_name
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Audit rows must never hold personal data.',
                      HINT = 'Remove the column from hublink.audit_table_rule.detail_columns.';
        END IF;
        -- The primary key identifies the row; a key column that is personal data is left out.
        SELECT coalesce(pg_catalog.array_agg(a.attname::text ORDER BY a.attnum), '{}') INTO pk
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = t.table_name AND i.indisprimary
           AND coalesce(pg_catalog.col_description(t.table_name, a.attnum), '') NOT LIKE 'PERSONAL DATA:%';
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION hublink.audit_row_change(%L, %L, %L, %L, %L, %L)',
            t.table_name, coalesce(rule.insert_action, 'insert'), pk::text,
            coalesce(rule.detail_columns, '{}')::text,
            p.mode, coalesce(p.key_column, ''), coalesce(p.lookup, ''));
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER audit_row ON %s IS %L', t.table_name,
                                  'Audit: one hublink.audit_log row per inserted, updated or deleted row (hublink.audit_attach).');
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_row', t.table_name);
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE TRIGGER audit_truncate AFTER TRUNCATE ON %s '
            'FOR EACH STATEMENT EXECUTE FUNCTION hublink.audit_truncate()', t.table_name);
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER audit_truncate ON %s IS %L', t.table_name,
                                  'Audit: one hublink.audit_log row per TRUNCATE (hublink.audit_attach).');
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_truncate', t.table_name);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.audit_attach() IS
    'Attaches the audit triggers (ENABLE ALWAYS, so also under session_replication_role = '
    'replica) to every table of hublink.audit_coverage; idempotent. Run at install after every '
    'part (98_audit_attach.sql) and again by any later part or upgrade that adds tables. '
    'Returns the number of tables.';
REVOKE ALL ON FUNCTION hublink.audit_attach() FROM PUBLIC;

-- from sql/parts/71_audit_verify.sql
-- Checking and reading the audit trail (issue 6 section 3; NFR 0002, NFR 0020, SEC 022;
-- docs/security-audit.md): hublink.verify_audit() recomputes the hash chain and names the
-- first link where it breaks; hublink.audit_feed and hublink.audit_since(cursor) give a
-- protective-monitoring tool the trail as JSON lines in commit order, with stable field names
-- and no personal data. The role hublink_audit_reader is what such a tool logs in as.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_audit_reader') THEN
        CREATE ROLE hublink_audit_reader NOLOGIN;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA hublink TO hublink_audit_reader;

CREATE FUNCTION hublink.verify_audit(p_anchor_seq bigint DEFAULT NULL, p_anchor_hash bytea DEFAULT NULL,
                                     OUT ok boolean, OUT links bigint, OUT broken_seq bigint,
                                     OUT broken_audit_id bigint, OUT problem text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        record;
    expected bigint := 1;
    prev     bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    horizon  xid8 := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());
BEGIN
    ok := false;
    links := 0;
    FOR r IN SELECT c.seq, c.audit_id, c.prev_hash, c.row_hash, l AS logrow, (l.audit_id IS NULL) AS gone
               FROM hublink.audit_chain c LEFT JOIN hublink.audit_log l ON l.audit_id = c.audit_id
              ORDER BY c.seq LOOP
        broken_seq := r.seq;
        broken_audit_id := r.audit_id;
        IF r.seq <> expected THEN
            broken_seq := expected;
            problem := pg_catalog.format('link %s is missing (the chain goes on at link %s)', expected, r.seq);
            RETURN;
        ELSIF r.prev_hash <> prev THEN
            problem := 'its prev_hash is not the row_hash of the link before: a link was removed, replaced or edited';
            RETURN;
        ELSIF r.gone THEN
            problem := 'its audit row is missing: it was deleted';
            RETURN;
        ELSIF pg_catalog.sha256(prev || pg_catalog.convert_to(hublink.audit_canonical(r.logrow), 'UTF8')) <> r.row_hash THEN
            problem := 'its audit row does not match its hash: the row or the link was edited';
            RETURN;
        ELSIF r.seq = p_anchor_seq AND r.row_hash <> p_anchor_hash THEN
            problem := 'its row_hash is not the anchor given: the chain was rewritten from here or before';
            RETURN;
        END IF;
        prev := r.row_hash;
        expected := expected + 1;
        links := links + 1;
    END LOOP;
    broken_seq := NULL;
    broken_audit_id := NULL;
    IF p_anchor_seq IS NOT NULL AND p_anchor_seq >= expected THEN
        broken_seq := expected;
        problem := pg_catalog.format('the chain ends at link %s, before the anchor link %s: links were removed from its end',
                                     expected - 1, p_anchor_seq);
        RETURN;
    END IF;
    -- Rows of finished transactions that were never sealed were written with triggers off.
    SELECT l.audit_id INTO broken_audit_id FROM hublink.audit_log l
     WHERE l.xact_id < horizon AND NOT EXISTS (SELECT FROM hublink.audit_chain c WHERE c.audit_id = l.audit_id)
     ORDER BY l.audit_id LIMIT 1;
    IF FOUND THEN
        problem := 'an audit row of a finished transaction is not in the chain: it was inserted with the triggers disabled';
        RETURN;
    END IF;
    ok := true;
END;
$$;
COMMENT ON FUNCTION hublink.verify_audit(bigint, bytea) IS
    'Recomputes the audit hash chain from link 1 and reports ok, or the first broken link '
    '(broken_seq, broken_audit_id) and the problem: a missing link, a prev_hash that does not '
    'match, a deleted or edited audit row, an unsealed row. An anchor (a seq and the row_hash '
    'a monitoring tool read from the feed) also detects links cut from the end or a chain '
    'rewritten from the start. Reads the whole chain: O(rows).';
REVOKE ALL ON FUNCTION hublink.verify_audit(bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.verify_audit(bigint, bytea) TO hublink_audit_reader, hublink_admin;

CREATE VIEW hublink.audit_feed AS
SELECT c.seq,
       pg_catalog.jsonb_build_object(
           'feed', 'hublink.audit.v1',
           'database', pg_catalog.current_database(),
           'party', nullif(pg_catalog.current_setting('hublink.party', true), ''),
           'seq', c.seq,
           'audit_id', l.audit_id,
           'at', pg_catalog.to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'session_user', l.session_user_name,
           'role', l.role_name,
           'client_addr', pg_catalog.host(l.client_addr),
           'backend_pid', l.backend_pid,
           'action', l.action,
           'table', l.table_name,
           'removal_id', l.removal_id,
           'removal_reference', l.removal_reference,
           'row_key', l.row_key,
           'changed_columns', pg_catalog.to_jsonb(l.changed_columns),
           'before_sha256', pg_catalog.encode(l.before_digest, 'hex'),
           'after_sha256', pg_catalog.encode(l.after_digest, 'hex'),
           'detail', l.detail,
           'prev_hash', pg_catalog.encode(c.prev_hash, 'hex'),
           'row_hash', pg_catalog.encode(c.row_hash, 'hex')) AS line
  FROM hublink.audit_chain c JOIN hublink.audit_log l ON l.audit_id = c.audit_id;
COMMENT ON VIEW hublink.audit_feed IS
    'The audit trail for a protective-monitoring tool (NFR 0002): one JSON object per sealed '
    'audit row, in commit order (seq). Field names are stable (docs/security-audit.md "Feed"); '
    'no personal data. Read with the owner''s rights: granted to hublink_audit_reader.';
COMMENT ON COLUMN hublink.audit_feed.seq IS 'Position in the chain: the cursor.';
COMMENT ON COLUMN hublink.audit_feed.line IS 'The audit row as a JSON object (feed hublink.audit.v1).';
REVOKE ALL ON hublink.audit_feed FROM PUBLIC;
GRANT SELECT ON hublink.audit_feed TO hublink_audit_reader;

CREATE FUNCTION hublink.audit_since(p_cursor bigint, p_limit integer DEFAULT 10000) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT f.line::text FROM hublink.audit_feed f
     WHERE f.seq > coalesce(p_cursor, 0) ORDER BY f.seq LIMIT p_limit;
$$;
COMMENT ON FUNCTION hublink.audit_since(bigint, integer) IS
    'JSON lines for a monitoring tool: the audit rows sealed after link p_cursor (0 for all), '
    'oldest first, at most p_limit; the next cursor is the seq of the last line. Rows appear in '
    'commit order, so a cursor never skips a row that commits late.';
REVOKE ALL ON FUNCTION hublink.audit_since(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.audit_since(bigint, integer) TO hublink_audit_reader;

-- from sql/parts/72_crypto_keys.sql
-- Personal data encryption, the keys (issue 6 section 2; NFR 0011, docs/security-crypto.md).
--
-- Every removal's personal data is sealed (pgcrypto, OpenPGP symmetric, AES-256) under a data
-- key of its own, a random 256-bit key made on first sight of the removal reference. Data keys
-- are stored only wrapped (sealed) by a master key; the master keys are never in a table or a
-- query text: hublink.master_keys() (extension/crypto_key.c) reads them from the file named by
-- hublink.master_key_file, which only the server's user may read. Destroying a data key makes
-- the removal's data unreadable for good (crypto-shredding, 74_crypto_retention.sql), and a
-- new master key re-wraps the data keys without touching the data (hublink.rotate_master_key).

CREATE FUNCTION hublink.master_keys() RETURNS bytea[]
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_master_keys';
COMMENT ON FUNCTION hublink.master_keys() IS
    'The master keys of hublink.master_key_file, oldest first, the current one last. Only the '
    'key functions below call it; revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.master_keys() FROM PUBLIC;

CREATE FUNCTION hublink.create_master_key_file() RETURNS boolean
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_create_master_key_file';
COMMENT ON FUNCTION hublink.create_master_key_file() IS
    'Writes a new random master key to hublink.master_key_file (mode 0600) when that file does '
    'not exist; never overwrites one. True when it wrote a file. Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.create_master_key_file() FROM PUBLIC;

-- The extension requires pgcrypto but cannot know its schema when this script is written
-- (@extschema:pgcrypto@ needs PostgreSQL 16): the two wrappers that call it are made here,
-- schema-qualified, and everything else calls them.
DO $$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION hublink.crypto_encrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE sql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            RETURN %1$I.pgp_sym_encrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'),
                                              'cipher-algo=aes256, compress-algo=0, s2k-mode=1')$f$, s);
    EXECUTE format($f$
        CREATE FUNCTION hublink.crypto_decrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE sql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            RETURN %1$I.pgp_sym_decrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'))$f$, s);
    EXECUTE format($f$
        CREATE FUNCTION hublink.crypto_key_id(p_key bytea) RETURNS text
            LANGUAGE sql STRICT IMMUTABLE
            SET search_path = pg_catalog, pg_temp
            RETURN pg_catalog.left(pg_catalog.encode(%1$I.digest(p_key, 'sha256'), 'hex'), 16)$f$, s);
    EXECUTE format($f$
        CREATE FUNCTION hublink.crypto_random_key() RETURNS bytea
            LANGUAGE sql VOLATILE
            SET search_path = pg_catalog, pg_temp
            RETURN %1$I.gen_random_bytes(32)$f$, s);
END;
$$;
COMMENT ON FUNCTION hublink.crypto_encrypt(bytea, bytea) IS
    'Seals bytes under a 256-bit key: OpenPGP symmetric, AES-256, integrity-protected, no '
    'compression (compressed size would tell about the content). Internal; revoked from PUBLIC.';
COMMENT ON FUNCTION hublink.crypto_decrypt(bytea, bytea) IS
    'Opens what hublink.crypto_encrypt sealed; fails on a wrong key or altered bytes. Internal.';
COMMENT ON FUNCTION hublink.crypto_key_id(bytea) IS
    'The identifier of a master key: the first 16 hex digits of its SHA-256 (tells which key '
    'wrapped a data key without revealing it).';
COMMENT ON FUNCTION hublink.crypto_random_key() IS 'A new random 256-bit data key. Internal.';
REVOKE ALL ON FUNCTION hublink.crypto_encrypt(bytea, bytea), hublink.crypto_decrypt(bytea, bytea),
    hublink.crypto_random_key() FROM PUBLIC;

CREATE TABLE hublink.data_key (
    key_scope     text PRIMARY KEY CHECK (key_scope <> ''),
    wrapped_key   bytea NOT NULL,
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rewrapped_at  timestamptz
);
COMMENT ON TABLE hublink.data_key IS
    'The data keys, one per removal (NFR 0011), wrapped by a master key. Deleting a row '
    'destroys the removal''s personal data for good (crypto-shredding, NFR 0012). Only the key '
    'functions read it.';
COMMENT ON COLUMN hublink.data_key.key_scope IS
    'What the key seals: a removal reference (RMV-...), or at a travel provider "booking '
    '<ref>" for a booking whose removal is not known.';
COMMENT ON COLUMN hublink.data_key.wrapped_key IS 'The data key sealed by the master key master_key_id.';
COMMENT ON COLUMN hublink.data_key.master_key_id IS 'hublink.crypto_key_id of the master key that wrapped it.';
COMMENT ON COLUMN hublink.data_key.created_at IS 'When the key was made (first sight of the removal).';
COMMENT ON COLUMN hublink.data_key.rewrapped_at IS 'When a master key rotation last re-wrapped it.';
-- A destroyed key's dead tuple still holds its wrapped bytes until vacuum: vacuum soon.
ALTER TABLE hublink.data_key SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
REVOKE ALL ON hublink.data_key FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('hublink.data_key', '');

-- The master key with the given id (NULL: the current one, the file's last line).
CREATE FUNCTION hublink.master_key(p_key_id text, OUT key_id text, OUT key bytea)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    keys bytea[] := hublink.master_keys();
BEGIN
    IF p_key_id IS NULL THEN
        key := keys[pg_catalog.array_upper(keys, 1)];
        key_id := hublink.crypto_key_id(key);
        RETURN;
    END IF;
    SELECT k, p_key_id INTO key, key_id FROM pg_catalog.unnest(keys) k WHERE hublink.crypto_key_id(k) = p_key_id;
    IF key IS NULL THEN
        RAISE EXCEPTION 'master key % is not in the master key file', p_key_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A data key was wrapped by a master key that hublink.master_key_file no longer holds.',
                  HINT = 'Put the old key back in the file (before the current one) and run hublink.rotate_master_key().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.master_key(text) IS
    'A master key read from hublink.master_key_file, by id, or the current one for NULL. Internal.';
REVOKE ALL ON FUNCTION hublink.master_key(text) FROM PUBLIC;

CREATE FUNCTION hublink.data_key_for(p_scope text, p_create boolean) RETURNS bytea
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k    hublink.data_key;
    m    record;
    fresh bytea;
BEGIN
    SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    IF NOT FOUND AND p_create THEN
        m := hublink.master_key(NULL);
        fresh := hublink.crypto_random_key();
        INSERT INTO hublink.data_key (key_scope, wrapped_key, master_key_id)
        VALUES (p_scope, hublink.crypto_encrypt(fresh, m.key), m.key_id)
        ON CONFLICT (key_scope) DO NOTHING;
        IF FOUND THEN
            RETURN fresh;
        END IF;
        -- Another transaction made it first: use theirs.
        SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    END IF;
    IF k.key_scope IS NULL THEN
        RAISE EXCEPTION 'no data key for "%"', p_scope
            USING ERRCODE = 'HL060',
                  DETAIL = 'The personal data sealed under it was destroyed by the retention purge, or never existed.',
                  HINT = 'hublink.purge_log tells when and under which policy a removal was purged.';
    END IF;
    RETURN hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key);
END;
$$;
COMMENT ON FUNCTION hublink.data_key_for(text, boolean) IS
    'The data key of a scope (a removal reference), unwrapped; made when missing and p_create. '
    'Raises HL010 when it was destroyed. Internal.';
REVOKE ALL ON FUNCTION hublink.data_key_for(text, boolean) FROM PUBLIC;

CREATE FUNCTION hublink.seal(p_scope text, p_value jsonb) RETURNS bytea
    LANGUAGE sql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.crypto_encrypt(pg_catalog.convert_to(p_value::text, 'UTF8'),
                                  hublink.data_key_for(p_scope, true));
COMMENT ON FUNCTION hublink.seal(text, jsonb) IS
    'Seals a JSON value under the data key of p_scope (made on first use). Internal: the seal '
    'triggers call it.';
REVOKE ALL ON FUNCTION hublink.seal(text, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.unseal(p_scope text, p_sealed bytea) RETURNS jsonb
    LANGUAGE sql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN pg_catalog.convert_from(hublink.crypto_decrypt(p_sealed, hublink.data_key_for(p_scope, false)),
                                   'UTF8')::jsonb;
COMMENT ON FUNCTION hublink.unseal(text, bytea) IS
    'Opens a value sealed by hublink.seal. Not audited by itself: the authorised reads '
    '(hublink.unsealed and the functions of 73_crypto_seal.sql) audit. Internal.';
REVOKE ALL ON FUNCTION hublink.unseal(text, bytea) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('master_key_rotation', 'The data keys were re-wrapped by a new master key (hublink.rotate_master_key).');

CREATE FUNCTION hublink.rotate_master_key() RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m     record := hublink.master_key(NULL);
    k     hublink.data_key;
    n     integer := 0;
    used  jsonb;
BEGIN
    SELECT pg_catalog.jsonb_object_agg(s.master_key_id, s.n) INTO used
      FROM (SELECT d.master_key_id, pg_catalog.count(*) AS n FROM hublink.data_key d
             WHERE d.master_key_id <> m.key_id GROUP BY 1) s;
    FOR k IN SELECT * FROM hublink.data_key d WHERE d.master_key_id <> m.key_id FOR UPDATE LOOP
        UPDATE hublink.data_key d
           SET wrapped_key = hublink.crypto_encrypt(
                   hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key), m.key),
               master_key_id = m.key_id, rewrapped_at = pg_catalog.now()
         WHERE d.key_scope = k.key_scope;
        n := n + 1;
    END LOOP;
    PERFORM hublink.audit_note('master_key_rotation', NULL,
        pg_catalog.jsonb_build_object('new_master_key_id', m.key_id, 'rewrapped', n,
                                      'previous_master_key_ids', coalesce(used, '{}')));
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.rotate_master_key() IS
    'Re-wraps every data key not wrapped by the current master key (the last line of '
    'hublink.master_key_file) with it; the sealed data is not touched. The older keys must '
    'still be in the file; remove them after this returns. Returns how many keys it re-wrapped; '
    'audited (master_key_rotation).';
REVOKE ALL ON FUNCTION hublink.rotate_master_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.rotate_master_key() TO hublink_admin;

-- A new installation can seal at once: the first CREATE EXTENSION of the cluster writes a key
-- file where hublink.master_key_file points (the data directory by default) if none is there.
SELECT hublink.create_master_key_file();

-- from sql/parts/73_crypto_seal.sql
-- Personal data encryption, the sealing layer (issue 6 section 2; NFR 0011, docs/security-crypto.md).
--
-- Every column whose COMMENT starts "PERSONAL DATA:" is sealed: a BEFORE INSERT OR UPDATE
-- trigger moves the row's personal values into its "sealed" column, encrypted under the
-- removal's data key (72_crypto_keys.sql), and sets the plaintext columns to NULL before the
-- row reaches the heap, so plaintext is never written to a page, live or dead. A CHECK
-- constraint "<column>_sealed" (column IS NULL) on each of them refuses a row that bypassed the
-- trigger. The handlers keep writing plain values to the plain columns; authorised reads go
-- through hublink.unsealed() (and the *_of functions of 41_domain.sql), each audited.

CREATE TABLE hublink.sealed_table (
    table_name  regclass PRIMARY KEY,
    scope_query text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.sealed_table IS
    'The tables whose PERSONAL DATA columns are sealed, and how a row finds the removal whose '
    'data key seals it. Filled by hublink.seal_personal_columns().';
COMMENT ON COLUMN hublink.sealed_table.table_name IS 'The table.';
COMMENT ON COLUMN hublink.sealed_table.scope_query IS
    'A query returning the key scope (the removal reference) of a row, given the row as jsonb in $1.';
COMMENT ON COLUMN hublink.sealed_table.description IS 'How the table relates to its removal.';

-- The trigger: its arguments are the table's personal columns.
CREATE FUNCTION hublink.seal_personal_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       jsonb := pg_catalog.to_jsonb(NEW);
    plain   jsonb;
    cleared jsonb;
    merged  jsonb := '{}';
    scope   text := r ->> 'key_scope';
BEGIN
    SELECT coalesce(pg_catalog.jsonb_object_agg(c, r -> c) FILTER (WHERE r -> c <> 'null'), '{}'),
           pg_catalog.jsonb_object_agg(c, NULL::jsonb)
      INTO plain, cleared
      FROM pg_catalog.unnest(TG_ARGV) c;
    IF TG_OP = 'UPDATE' THEN
        -- Plaintext columns read NULL, so an UPDATE that leaves them NULL keeps the sealed
        -- values (coalesce semantics); one that sets them replaces those values only.
        IF plain = '{}' AND NEW.sealed IS NOT DISTINCT FROM OLD.sealed
           AND scope IS NOT DISTINCT FROM OLD.key_scope THEN
            RETURN NEW;
        END IF;
        merged := coalesce(hublink.unseal(OLD.key_scope, OLD.sealed), '{}');
        IF NEW.sealed IS NOT NULL AND NEW.sealed IS DISTINCT FROM OLD.sealed THEN
            -- An upsert copying EXCLUDED.sealed: its values replace the old ones.
            merged := merged || pg_catalog.jsonb_strip_nulls(hublink.unseal(scope, NEW.sealed));
        END IF;
        scope := coalesce(scope, OLD.key_scope);
    ELSIF NEW.sealed IS NOT NULL THEN
        merged := hublink.unseal(scope, NEW.sealed);
    END IF;
    merged := merged || plain;
    IF scope IS NULL THEN
        EXECUTE (SELECT s.scope_query FROM hublink.sealed_table s WHERE s.table_name = TG_RELID::regclass)
           INTO scope USING r;
    END IF;
    IF scope IS NULL THEN
        RAISE EXCEPTION 'cannot seal a row of % without its removal', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Personal data is sealed under the data key of the removal it belongs to, and this row has none.',
                  HINT = 'Insert the row that links it to a removal first.';
    END IF;
    NEW := pg_catalog.jsonb_populate_record(NEW, cleared || pg_catalog.jsonb_build_object(
               'key_scope', scope, 'sealed', pg_catalog.to_jsonb(hublink.seal(scope, merged))));
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.seal_personal_row() IS
    'BEFORE INSERT OR UPDATE trigger of the sealed tables: encrypts the personal columns named '
    'by its arguments into "sealed" and sets them to NULL, so plaintext never reaches the heap. '
    'On UPDATE a personal column left NULL keeps its sealed value.';
REVOKE ALL ON FUNCTION hublink.seal_personal_row() FROM PUBLIC;

-- Seals a table: every column whose COMMENT starts "PERSONAL DATA:", read from the catalog.
CREATE FUNCTION hublink.seal_personal_columns(p_table regclass, p_scope_query text, p_description text)
    RETURNS text[]
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cols text[];
    c    text;
BEGIN
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) INTO cols
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_description d
        ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = a.attrelid AND d.objsubid = a.attnum
     WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped
       AND d.description LIKE 'PERSONAL DATA:%';
    IF cols IS NULL THEN
        RAISE EXCEPTION '% has no PERSONAL DATA column', p_table
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Only columns whose COMMENT starts "PERSONAL DATA:" are sealed.',
                  HINT = 'Comment the personal columns first.';
    END IF;
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN key_scope text, ADD COLUMN sealed bytea', p_table);
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.key_scope IS %L', p_table,
        'The removal whose data key seals this row (hublink.data_key.key_scope).');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.sealed IS %L', p_table,
        'The personal columns of this row as a JSON object, encrypted under the data key of key_scope '
        '(hublink.seal); read them with hublink.unsealed(row), which audits.');
    -- Sealed bytes are random: compressing them is wasted work.
    EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN sealed SET STORAGE EXTERNAL', p_table);
    FOREACH c IN ARRAY cols LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', p_table, c);
        EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IS NULL)', p_table, c || '_sealed', c);
    END LOOP;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON %s FOR EACH ROW '
        'EXECUTE FUNCTION hublink.seal_personal_row(%s)',
        p_table, (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x), ', ') FROM pg_catalog.unnest(cols) x));
    INSERT INTO hublink.sealed_table VALUES (p_table, p_scope_query, p_description);
    RETURN cols;
END;
$$;
COMMENT ON FUNCTION hublink.seal_personal_columns(regclass, text, text) IS
    'Seals the PERSONAL DATA columns of a table (from their COMMENTs): adds key_scope and sealed, '
    'a CHECK (column IS NULL) named <column>_sealed on each, and the seal_personal_data trigger. '
    'Run by the install script; a part that adds personal columns later calls it again after '
    'dropping the trigger. Returns the columns sealed.';
REVOKE ALL ON FUNCTION hublink.seal_personal_columns(regclass, text, text) FROM PUBLIC;

SELECT hublink.seal_personal_columns('hublink.returnee_personal',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.travel_document',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.risk_assessment',
    'SELECT r.removal_reference FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
      WHERE t.returnee_id = ($1 ->> ''returnee_id'')::bigint',
    'Through hublink.returnee.');
SELECT hublink.seal_personal_columns('hublink.escort_personal',
    'SELECT r.removal_reference FROM hublink.escort_person e JOIN hublink.removal r USING (removal_id)
      WHERE e.escort_person_id = ($1 ->> ''escort_person_id'')::bigint',
    'Through hublink.escort_person.');
SELECT hublink.seal_personal_columns('hublink.tsp_passenger',
    'SELECT coalesce(b.removal_id, ''booking '' || b.booking_ref) FROM hublink.tsp_booking b
      WHERE b.booking_ref = $1 ->> ''booking_ref''',
    'Through hublink.tsp_booking: its removal reference, else the booking itself.');

-- Who may open what a key scope seals: a removal's data only with a clearance for it
-- (90_access.sql); the messages of a day that named no removal (rejected bytes, errors,
-- announcements; "messages <date>", below) only the worker, the owner and hublink_admin.
CREATE FUNCTION hublink.require_key_scope_access(p_scope text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_scope !~ '^messages [0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM hublink.require_removal_access(p_scope);
    ELSIF NOT (coalesce(hublink.removal_access_allowed(NULL), false)
               OR pg_catalog.pg_has_role(session_user, 'hublink_admin', 'USAGE')) THEN
        RAISE EXCEPTION 'the messages of % are not accessible', pg_catalog.substr(p_scope, 10)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Messages that name no removal are read by administrators only.',
                  HINT = 'Ask a member of hublink_admin.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_key_scope_access(text) IS
    'Raises insufficient_privilege unless the login may open data sealed under the key scope: for '
    'a removal reference hublink.require_removal_access; for the day scope of messages that named '
    'no removal ("messages <date>") the owner, superusers, the worker and hublink_admin members.';
REVOKE ALL ON FUNCTION hublink.require_key_scope_access(text) FROM PUBLIC;

-- The removal's free-text notes and the returnees' locations: sealed only on rows that have one
-- (a WHEN clause), so the state machine's many updates of hublink.removal pay nothing.
SELECT hublink.seal_personal_columns('hublink.removal', 'SELECT $1 ->> ''removal_reference''',
    'The removal itself (removal_reference).');
DROP TRIGGER seal_personal_data ON hublink.removal;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.removal
    FOR EACH ROW WHEN (NEW.notes IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('notes');
SELECT hublink.seal_personal_columns('hublink.returnee',
    'SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = ($1 ->> ''removal_id'')::bigint',
    'Through hublink.removal.');
DROP TRIGGER seal_personal_data ON hublink.returnee;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.returnee
    FOR EACH ROW WHEN (NEW.location IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('location');

-- The authorised read.
CREATE FUNCTION hublink.unsealed(p_row anyelement) RETURNS anyelement
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     jsonb := pg_catalog.to_jsonb(p_row);
    scope text := r ->> 'key_scope';
    v     jsonb;
BEGIN
    PERFORM hublink.require_key_scope_access(scope) WHERE scope IS NOT NULL; -- need-to-know, 90_access.sql
    IF r ->> 'sealed' IS NULL
       OR NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = scope) THEN
        RETURN p_row; -- nothing sealed, or crypto-shredded by a purge: the columns read NULL
    END IF;
    v := hublink.unseal(scope, pg_catalog.decode(pg_catalog.substr(r ->> 'sealed', 3), 'hex'));
    PERFORM hublink.audit_note('decrypt',
        (SELECT x.removal_id FROM hublink.removal x WHERE x.removal_reference = scope),
        pg_catalog.jsonb_build_object(
            'table', pg_catalog.pg_typeof(p_row)::text,
            'key_scope', scope,
            'columns', (SELECT pg_catalog.jsonb_agg(k ORDER BY k) FROM pg_catalog.jsonb_object_keys(v) k)));
    RETURN pg_catalog.jsonb_populate_record(p_row, v);
END;
$$;
COMMENT ON FUNCTION hublink.unsealed(anyelement) IS
    'A row of a sealed table with its personal columns decrypted (NFR 0011), e.g. SELECT '
    '(hublink.unsealed(p)).given_names FROM hublink.returnee_personal p. Every call that '
    'decrypts writes an audit row (action decrypt: table, key scope, columns; never the values). '
    'After a purge destroyed the removal''s key the personal columns read NULL. Rows sealed under '
    'the day key of messages that named no removal: hublink_admin only.';
REVOKE ALL ON FUNCTION hublink.unsealed(anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.unsealed(anyelement) TO hublink_admin, hublink_caseworker;

CREATE VIEW hublink.personal_data_column AS
SELECT c.oid::regclass AS table_name, a.attname::text AS column_name, d.description,
       EXISTS (SELECT FROM pg_catalog.pg_constraint k
                WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conname = a.attname || '_sealed'
                  AND pg_catalog.pg_get_constraintdef(k.oid) = pg_catalog.format('CHECK ((%I IS NULL))', a.attname))
       AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = c.oid AND g.tgname = 'seal_personal_data' AND g.tgenabled <> 'D'
                      AND g.tgfoid = 'hublink.seal_personal_row()'::regprocedure
                      AND position(('\x00'::bytea || pg_catalog.convert_to(a.attname, 'UTF8') || '\x00'::bytea)
                                           IN ('\x00'::bytea || g.tgargs)) > 0)
       AS sealed
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = c.oid AND d.objsubid = a.attnum
 WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
   AND d.description LIKE 'PERSONAL DATA:%';
COMMENT ON VIEW hublink.personal_data_column IS
    'Every column of the hublink schema whose COMMENT starts "PERSONAL DATA:", from the catalog, '
    'and whether it is sealed (its <column>_sealed CHECK and the seal trigger naming it). A '
    'personal column added later without sealing shows sealed = false.';
COMMENT ON COLUMN hublink.personal_data_column.table_name IS 'The table.';
COMMENT ON COLUMN hublink.personal_data_column.column_name IS 'The column.';
COMMENT ON COLUMN hublink.personal_data_column.description IS 'Its COMMENT.';
COMMENT ON COLUMN hublink.personal_data_column.sealed IS 'True when no plaintext can be stored in it.';

-- --- messages ---------------------------------------------------------------------------------
-- The inbox and the outbox keep whole messages, whose bodies carry the same personal data, and
-- the inbox keeps what went wrong with them: the bytes of a delivery that was not JSON (raw),
-- the problems sent back in its Error message and the handler's last error, any of which can
-- quote a name or a passport number. All of it is sealed (issue 6 section 2, NFR 0011):
--
-- - The key scope of a row (hublink.message_key_scope) is the envelope's removalId when it is a
--   removal reference, so the removal's purge destroys the key with the rest of its data;
--   otherwise the UTC day the row was stored, "messages <YYYY-MM-DD>": reference list
--   announcements, Errors for input without a readable removalId, bytes that were not JSON
--   (a garbled delivery cannot be attributed to a removal: a removalId read from it may be
--   anybody's). One key per day, not per message: a busy day would otherwise write a key row
--   per delivery, and the messages retention (74_crypto_retention.sql) deletes by age, so a
--   day is the unit it can shred once every row of it is gone.
-- - A BEFORE trigger moves the body into sealed_body, so "message" keeps only the envelope (the
--   generated columns and indexes still work); raw, problems and last_error are sealed into
--   "sealed" by the generic seal_personal_row trigger, only on rows that have any of them.
--
-- The worker reads whole messages through hublink.open_message (bgworker/inbox.c, outbox.c);
-- people through the audited hublink.inbox_document / hublink.outbox_document /
-- hublink.inbox_failure. Every trigger here is SECURITY DEFINER: the worker's role
-- (hublink_worker) holds no key and no right on hublink.data_key.

CREATE FUNCTION hublink.message_key_scope(p_message jsonb, p_at timestamptz) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN p_message ->> 'removalId' ~ '^RMV-[0-9]{4}-[0-9]{6}$' THEN p_message ->> 'removalId'
                ELSE 'messages ' || pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END;
COMMENT ON FUNCTION hublink.message_key_scope(jsonb, timestamptz) IS
    'The data key sealing an inbox or outbox row: the envelope''s removalId when it is a removal '
    'reference, else "messages <YYYY-MM-DD>", the UTC day p_at the row was stored.';

ALTER TABLE hublink.inbox ADD COLUMN key_scope text, ADD COLUMN sealed_body bytea, ADD COLUMN sealed bytea;
COMMENT ON COLUMN hublink.inbox.key_scope IS
    'The data key sealing the row (hublink.message_key_scope): the envelope''s removalId, or the day '
    '"messages <YYYY-MM-DD>" when it names no removal. Set on insert, never changed.';
COMMENT ON COLUMN hublink.inbox.sealed_body IS
    'The message''s body, encrypted under key_scope''s data key; "message" holds the envelope only.';
COMMENT ON COLUMN hublink.inbox.sealed IS
    'raw, problems and last_error as a JSON object, encrypted under key_scope''s data key; NULL when '
    'the row has none. Read with hublink.inbox_failure(id) or hublink.unsealed(row), which audit.';
ALTER TABLE hublink.inbox ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE hublink.inbox ADD CONSTRAINT inbox_body_sealed CHECK (message IS NULL OR NOT message ? 'body');
ALTER TABLE hublink.outbox ADD COLUMN key_scope text, ADD COLUMN sealed_body bytea;
COMMENT ON COLUMN hublink.outbox.key_scope IS
    'The data key sealing the body (hublink.message_key_scope): the envelope''s removalId, or the day '
    '"messages <YYYY-MM-DD>" when it names no removal. Set on insert, never changed.';
COMMENT ON COLUMN hublink.outbox.sealed_body IS
    'The message''s body, encrypted under key_scope''s data key; "message" holds the envelope only.';
ALTER TABLE hublink.outbox ALTER COLUMN sealed_body SET STORAGE EXTERNAL;
ALTER TABLE hublink.outbox ADD CONSTRAINT outbox_body_sealed CHECK (NOT message ? 'body');

CREATE FUNCTION hublink.seal_message_body() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.key_scope IS NOT NULL THEN
        NEW.key_scope := OLD.key_scope; -- what is sealed stays under the key it was sealed with
    ELSIF TG_TABLE_NAME = 'inbox' THEN
        NEW.key_scope := hublink.message_key_scope(NEW.message, NEW.processed_at);
    ELSE
        NEW.key_scope := hublink.message_key_scope(NEW.message, NEW.created_at);
    END IF;
    IF NEW.message ? 'body' THEN
        NEW.sealed_body := hublink.seal(NEW.key_scope, NEW.message -> 'body');
        NEW.message := NEW.message - 'body';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.seal_message_body() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.inbox and hublink.outbox: sets key_scope on insert '
    '(hublink.message_key_scope) and seals the message''s body into sealed_body under its data key, '
    'keeping the envelope in "message". SECURITY DEFINER: the worker''s role holds no key.';
REVOKE ALL ON FUNCTION hublink.seal_message_body() FROM PUBLIC;
CREATE TRIGGER seal_message_body BEFORE INSERT OR UPDATE ON hublink.inbox
    FOR EACH ROW EXECUTE FUNCTION hublink.seal_message_body();
CREATE TRIGGER seal_message_body BEFORE INSERT OR UPDATE ON hublink.outbox
    FOR EACH ROW EXECUTE FUNCTION hublink.seal_message_body();

-- raw, problems and last_error: the generic seal (CHECK <column>_sealed, trigger
-- seal_personal_data, so hublink.personal_data_column lists them sealed). It fires after
-- seal_message_body (triggers fire in name order), which has set key_scope, and only on rows
-- that carry one of them: an applied message, the worker's every insert, pays nothing for it.
ALTER TABLE hublink.inbox ADD CONSTRAINT raw_sealed CHECK (raw IS NULL),
                          ADD CONSTRAINT problems_sealed CHECK (problems IS NULL),
                          ADD CONSTRAINT last_error_sealed CHECK (last_error IS NULL);
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.inbox
    FOR EACH ROW WHEN (NEW.raw IS NOT NULL OR NEW.problems IS NOT NULL OR NEW.last_error IS NOT NULL)
    EXECUTE FUNCTION hublink.seal_personal_row('raw', 'problems', 'last_error');
INSERT INTO hublink.sealed_table VALUES ('hublink.inbox',
    'SELECT hublink.message_key_scope($1 -> ''message'', ($1 ->> ''processed_at'')::timestamptz)',
    'The message''s removal (removalId), else the day it was stored ("messages <YYYY-MM-DD>").');

-- A retry that applies the message clears its error (the worker sets last_error = NULL, which
-- on a sealed column keeps the sealed value): an applied row keeps no error text.
CREATE FUNCTION hublink.inbox_applied_clears_error() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.sealed := NULL;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_applied_clears_error() IS
    'BEFORE UPDATE trigger of hublink.inbox: a row that becomes applied drops its sealed error '
    'details (the worker''s "last_error = NULL" cannot clear a sealed column).';
REVOKE ALL ON FUNCTION hublink.inbox_applied_clears_error() FROM PUBLIC;
CREATE TRIGGER inbox_applied_clears_error BEFORE UPDATE ON hublink.inbox
    FOR EACH ROW WHEN (NEW.status = 'applied' AND OLD.status <> 'applied' AND OLD.sealed IS NOT NULL)
    EXECUTE FUNCTION hublink.inbox_applied_clears_error();

CREATE FUNCTION hublink.open_message(p_message jsonb, p_key_scope text, p_sealed_body bytea) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN p_sealed_body IS NULL THEN p_message
                ELSE p_message || pg_catalog.jsonb_build_object('body', hublink.unseal(p_key_scope, p_sealed_body)) END;
COMMENT ON FUNCTION hublink.open_message(jsonb, text, bytea) IS
    'The whole message of an inbox or outbox row (envelope and decrypted body), for the worker '
    'that publishes or retries it; not audited (transport, not a reader). Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.open_message(jsonb, text, bytea) FROM PUBLIC;

-- One audited opener for both message logs: they share the columns it reads.
CREATE FUNCTION hublink.message_document(p_log regclass, p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m record;
BEGIN
    IF p_log NOT IN ('hublink.inbox'::regclass, 'hublink.outbox'::regclass) THEN
        RAISE EXCEPTION '% is not a message log', p_log
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use hublink.inbox or hublink.outbox.';
    END IF;
    EXECUTE format('SELECT message, key_scope, removal_id, message_id, message_type, sealed_body '
                   'FROM %s WHERE id = $1', p_log) INTO m USING p_id;
    -- need-to-know (90_access.sql): the removal's clearance, or an admin for a day's messages
    PERFORM hublink.require_key_scope_access(coalesce(m.key_scope, m.removal_id, ''));
    IF m.sealed_body IS NOT NULL THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = m.key_scope),
            pg_catalog.jsonb_build_object('table', p_log::text, 'key_scope', m.key_scope,
                                          'message_id', m.message_id, 'message_type', m.message_type));
    END IF;
    RETURN hublink.open_message(m.message, m.key_scope, m.sealed_body);
END;
$$;
COMMENT ON FUNCTION hublink.message_document(regclass, bigint) IS
    'The whole message of row p_id of the inbox or the outbox, its body decrypted; audited (action '
    'decrypt) when it had a sealed body. Checks the clearance for its removal (a message that named '
    'no removal: hublink_admin). Behind hublink.inbox_document and hublink.outbox_document.';
REVOKE ALL ON FUNCTION hublink.message_document(regclass, bigint) FROM PUBLIC;

CREATE FUNCTION hublink.outbox_document(p_id bigint) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.message_document('hublink.outbox', p_id);
COMMENT ON FUNCTION hublink.outbox_document(bigint) IS
    'The whole message of outbox row p_id, its body decrypted; audited (action decrypt). Needs a '
    'clearance for its removal; a message that named no removal, hublink_admin.';
REVOKE ALL ON FUNCTION hublink.outbox_document(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.outbox_document(bigint) TO hublink_admin;

CREATE FUNCTION hublink.inbox_document(p_id bigint) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.message_document('hublink.inbox', p_id);
COMMENT ON FUNCTION hublink.inbox_document(bigint) IS
    'The whole message of inbox row p_id, its body decrypted (NULL for bytes that were not JSON: '
    'see hublink.inbox_failure); audited (action decrypt). Needs a clearance for its removal; a '
    'message that named no removal, hublink_admin.';
REVOKE ALL ON FUNCTION hublink.inbox_document(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_document(bigint) TO hublink_admin;

CREATE FUNCTION hublink.inbox_failure(p_id bigint, OUT raw bytea, OUT problems jsonb, OUT last_error text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    i hublink.inbox;
BEGIN
    SELECT * INTO i FROM hublink.inbox x WHERE x.id = p_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    i := hublink.unsealed(i); -- checks the clearance (require_key_scope_access) and audits
    raw := i.raw;
    problems := i.problems;
    last_error := i.last_error;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_failure(bigint) IS
    'What went wrong with inbox row p_id, decrypted: the bytes of a delivery that was not JSON, the '
    'problems of its Error message, the handler''s last error; audited (action decrypt, through '
    'hublink.unsealed). Needs a clearance for its removal; a message that named no removal, hublink_admin.';
REVOKE ALL ON FUNCTION hublink.inbox_failure(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.inbox_failure(bigint) TO hublink_admin;

-- from sql/parts/74_crypto_retention.sql
-- Retention and secure deletion (issue 6 section 2; NFR 0011, 0012; docs/security-crypto.md).
--
-- A policy per data class says how many days after a removal closes its data is kept. The
-- worker job retention_purge applies them: messages (the inbox and outbox rows) are deleted,
-- personal data is crypto-shredded (the removal's data key is destroyed, so every sealed copy
-- of it, in live rows, dead tuples, WAL or backups, can no longer be read, even with the
-- master key), and the removal's own rows are deleted. Each purge is logged in
-- hublink.purge_log and audited (action purge). hublink.erase_removal does all of it at once
-- when the Authority directs that data is no longer required.

CREATE TABLE hublink.retention_policy (
    data_class     text PRIMARY KEY CHECK (data_class ~ '^[a-z_]+$'),
    retain_days    integer NOT NULL CHECK (retain_days >= 0),
    purge_function regprocedure NOT NULL,
    description    text NOT NULL
);
COMMENT ON TABLE hublink.retention_policy IS
    'How long each class of a removal''s data is kept after the removal closes (NFR 0011, 0012), '
    'and the function that purges it. hublink_admin sets retain_days to the periods the '
    'Authority defines.';
COMMENT ON COLUMN hublink.retention_policy.data_class IS 'The class of data (lower case, underscores).';
COMMENT ON COLUMN hublink.retention_policy.retain_days IS 'Days after the removal closed before it is purged.';
COMMENT ON COLUMN hublink.retention_policy.purge_function IS
    'Function(removal_reference text) returning jsonb (what it removed), called by the purge.';
COMMENT ON COLUMN hublink.retention_policy.description IS 'What the class holds and what purging it does.';

CREATE TABLE hublink.purge_log (
    purge_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference text NOT NULL,
    data_class        text NOT NULL,
    retain_days       integer,
    closed_at         timestamptz,
    purged_at         timestamptz NOT NULL DEFAULT now(),
    reason            text NOT NULL,
    removed           jsonb NOT NULL
);
COMMENT ON TABLE hublink.purge_log IS
    'Every purge: which removal, which class, under which policy, when and what was removed '
    '(counts, never data). Also in the audit trail (action purge).';
COMMENT ON COLUMN hublink.purge_log.purge_id IS 'Order of purges.';
COMMENT ON COLUMN hublink.purge_log.removal_reference IS
    'The removal purged; for messages that named no removal, the day key destroyed ("messages <YYYY-MM-DD>").';
COMMENT ON COLUMN hublink.purge_log.data_class IS 'The class purged (hublink.retention_policy).';
COMMENT ON COLUMN hublink.purge_log.retain_days IS 'The policy''s period then; NULL for an erasure on direction.';
COMMENT ON COLUMN hublink.purge_log.closed_at IS 'When the removal closed; NULL for an erasure of an open removal.';
COMMENT ON COLUMN hublink.purge_log.purged_at IS 'When.';
COMMENT ON COLUMN hublink.purge_log.reason IS '"retention", or the reason given to hublink.erase_removal.';
COMMENT ON COLUMN hublink.purge_log.removed IS 'What was removed: row and key counts.';
SELECT pg_catalog.pg_extension_config_dump('hublink.purge_log', '');

CREATE VIEW hublink.closed_removal AS
SELECT r.removal_id, r.removal_reference, r.updated_at AS closed_at
  FROM hublink.removal r
 WHERE CASE WHEN r.state IS NOT NULL
            THEN r.state IN (SELECT s.state FROM hublink.state_machine_states() s
                              WHERE s.machine = 'removal' AND s.terminal)
            ELSE (r.escort_state <> 'none' OR r.travel_state <> 'none')
                 AND (r.escort_state = 'none'
                      OR r.escort_state IN (SELECT s.state FROM hublink.state_machine_states() s
                                             WHERE s.machine = 'escort' AND s.terminal))
                 AND (r.travel_state = 'none'
                      OR r.travel_state IN (SELECT s.state FROM hublink.state_machine_states() s
                                             WHERE s.machine = 'travel' AND s.terminal))
       END;
COMMENT ON VIEW hublink.closed_removal IS
    'Removals that are closed, and since when: at the Hub the removal machine is in a terminal '
    'state; at a provider every machine it tracks is. closed_at is the last state change.';
COMMENT ON COLUMN hublink.closed_removal.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.closed_removal.removal_reference IS 'Its reference.';
COMMENT ON COLUMN hublink.closed_removal.closed_at IS 'When it closed (its last state change).';

CREATE FUNCTION hublink.purge_messages(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n_in  bigint;
    n_out bigint;
BEGIN
    DELETE FROM hublink.inbox i WHERE i.removal_id = p_removal_reference;
    GET DIAGNOSTICS n_in = ROW_COUNT;
    DELETE FROM hublink.outbox o WHERE o.removal_id = p_removal_reference;
    GET DIAGNOSTICS n_out = ROW_COUNT;
    RETURN pg_catalog.jsonb_build_object('inbox_rows', n_in, 'outbox_rows', n_out);
END;
$$;
COMMENT ON FUNCTION hublink.purge_messages(text) IS
    'Purge of class messages: deletes the removal''s inbox and outbox rows.';
REVOKE ALL ON FUNCTION hublink.purge_messages(text) FROM PUBLIC;

CREATE FUNCTION hublink.purge_personal_data(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM hublink.data_key k
     WHERE k.key_scope = p_removal_reference
        OR k.key_scope IN (SELECT 'booking ' || b.booking_ref FROM hublink.tsp_booking b
                            WHERE b.removal_id = p_removal_reference);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN pg_catalog.jsonb_build_object('data_keys_destroyed', n);
END;
$$;
COMMENT ON FUNCTION hublink.purge_personal_data(text) IS
    'Purge of class personal_data: destroys the removal''s data keys (crypto-shredding). Its '
    'sealed columns and message bodies stay as bytes nobody can decrypt; they read as NULL.';
REVOKE ALL ON FUNCTION hublink.purge_personal_data(text) FROM PUBLIC;

CREATE FUNCTION hublink.purge_removal(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM hublink.removal r WHERE r.removal_reference = p_removal_reference;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN hublink.purge_messages(p_removal_reference) || hublink.purge_personal_data(p_removal_reference)
           || pg_catalog.jsonb_build_object('removal_rows', n);
END;
$$;
COMMENT ON FUNCTION hublink.purge_removal(text) IS
    'Purge of class removal: deletes the removal (its rows cascade), its messages and its data keys.';
REVOKE ALL ON FUNCTION hublink.purge_removal(text) FROM PUBLIC;

INSERT INTO hublink.retention_policy VALUES
    ('messages', 90, 'hublink.purge_messages(text)',
     'The whole messages of the removal in hublink.inbox and hublink.outbox (their bodies sealed).'),
    ('personal_data', 730, 'hublink.purge_personal_data(text)',
     'Every PERSONAL DATA column and message body of the removal: its data key is destroyed.'),
    ('removal', 2190, 'hublink.purge_removal(text)',
     'The removal''s own rows (states, quotes, bookings, costs), and anything left of the above.');

INSERT INTO hublink.audit_action VALUES
    ('erase_direction', 'hublink.erase_removal purged a removal on the Authority''s direction (a purge row follows per class).');

-- One purge of one class of one removal: audited first (the removal row may go), then logged.
CREATE FUNCTION hublink.purge_class(p_removal_reference text, p_policy hublink.retention_policy,
                                    p_closed_at timestamptz, p_reason text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    removed jsonb;
BEGIN
    PERFORM hublink.audit_note('purge',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference),
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'data_class', p_policy.data_class,
                                      'retain_days', p_policy.retain_days, 'closed_at', p_closed_at,
                                      'reason', p_reason));
    EXECUTE pg_catalog.format('SELECT %s($1)', p_policy.purge_function::oid::regproc) INTO removed
      USING p_removal_reference;
    INSERT INTO hublink.purge_log (removal_reference, data_class, retain_days, closed_at, reason, removed)
    VALUES (p_removal_reference, p_policy.data_class,
            CASE WHEN p_reason = 'retention' THEN p_policy.retain_days END, p_closed_at, p_reason, removed);
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION hublink.purge_class(text, hublink.retention_policy, timestamptz, text) IS
    'Purges one class of one removal with its policy''s function; audited (purge) and logged in '
    'hublink.purge_log. Internal.';
REVOKE ALL ON FUNCTION hublink.purge_class(text, hublink.retention_policy, timestamptz, text) FROM PUBLIC;

-- Messages that named no removal are sealed under the key of the UTC day they were stored,
-- "messages <YYYY-MM-DD>" (hublink.message_key_scope, 73_crypto_seal.sql): deleted by age, and
-- once the whole day is past the messages period and no row of it is left (an unsent outbox
-- row keeps it), the day's key is destroyed: audited (purge) and logged like a removal's purge.
CREATE FUNCTION hublink.purge_message_days(p_policy hublink.retention_policy) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cutoff constant timestamptz := pg_catalog.now() - pg_catalog.make_interval(days => p_policy.retain_days);
    k      record;
    n_in   bigint;
    n_out  bigint;
    n      integer := 0;
BEGIN
    -- Every message whose key belongs to no removal here: a day's ("messages <date>"), or a
    -- reference no removal has (rejected as unknown), which no removal's purge would reach.
    DELETE FROM hublink.inbox i
     WHERE i.processed_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(i.key_scope, i.removal_id));
    DELETE FROM hublink.outbox o
     WHERE o.sent_at IS NOT NULL AND o.created_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(o.key_scope, o.removal_id));
    -- The keys: each day's once the day is past the period, each orphan reference's once it was
    -- made before the cutoff; and only when no row of theirs is left.
    FOR k IN SELECT x.key_scope, x.ended AS day_end
               FROM (SELECT d.key_scope,
                            (pg_catalog.substr(d.key_scope, 10)::date + 1)::timestamp AT TIME ZONE 'UTC' AS ended
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^messages [0-9]{4}-[0-9]{2}-[0-9]{2}$'
                     UNION ALL
                     SELECT d.key_scope, d.created_at
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^RMV-[0-9]{4}-[0-9]{6}$' -- as hublink.message_key_scope
                        AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = d.key_scope)) x
              WHERE x.ended <= cutoff
              ORDER BY 1 LOOP
        CONTINUE WHEN EXISTS (SELECT FROM hublink.inbox i WHERE i.key_scope = k.key_scope)
                   OR EXISTS (SELECT FROM hublink.outbox o WHERE o.key_scope = k.key_scope);
        PERFORM hublink.audit_note('purge', NULL,
            pg_catalog.jsonb_build_object('key_scope', k.key_scope, 'data_class', p_policy.data_class,
                                          'retain_days', p_policy.retain_days, 'reason', 'retention'));
        DELETE FROM hublink.data_key d WHERE d.key_scope = k.key_scope;
        INSERT INTO hublink.purge_log (removal_reference, data_class, retain_days, closed_at, reason, removed)
        VALUES (k.key_scope, p_policy.data_class, p_policy.retain_days, k.day_end,
                'retention', '{"data_keys_destroyed": 1}');
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.purge_message_days(hublink.retention_policy) IS
    'The messages retention of messages that named no removal, or a removal reference no removal '
    'here has (rejected as unknown): deletes them after the period, and destroys the data key of '
    'each day ("messages <YYYY-MM-DD>") past the period and of each such reference made before it, '
    'once no row of it is left, audited (purge) and logged (purge_log, the key scope as '
    'removal_reference). Returns the number of keys destroyed. Internal to hublink.retention_purge.';
REVOKE ALL ON FUNCTION hublink.purge_message_days(hublink.retention_policy) FROM PUBLIC;

CREATE FUNCTION hublink.retention_purge() RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p hublink.retention_policy;
    c record;
BEGIN
    FOR p IN SELECT * FROM hublink.retention_policy x ORDER BY x.retain_days, x.data_class LOOP
        FOR c IN SELECT * FROM hublink.closed_removal x
                  WHERE x.closed_at + pg_catalog.make_interval(days => p.retain_days) <= pg_catalog.now()
                    AND NOT EXISTS (SELECT FROM hublink.purge_log l
                                     WHERE l.removal_reference = x.removal_reference AND l.data_class = p.data_class)
                  ORDER BY x.closed_at LOOP
            PERFORM hublink.purge_class(c.removal_reference, p, c.closed_at, 'retention');
        END LOOP;
    END LOOP;
    -- Messages that named no removal (announcements, some Errors, bytes that were not JSON):
    -- by age, then their day keys.
    SELECT * INTO p FROM hublink.retention_policy x WHERE x.data_class = 'messages';
    IF FOUND THEN
        PERFORM hublink.purge_message_days(p);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.retention_purge() IS
    'The worker job retention_purge: applies hublink.retention_policy to every closed removal '
    'whose period has passed (each class once per removal, audited and logged), and deletes '
    'messages that named no removal after the messages period, destroying their day keys '
    '(hublink.purge_message_days). SECURITY DEFINER: it destroys data keys, which the worker''s '
    'role may not touch.';
REVOKE ALL ON FUNCTION hublink.retention_purge() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('retention_purge', 'hublink.retention_purge()', '1 hour',
        'Purges closed removals past their retention periods and crypto-shreds their personal data '
        '(hublink.retention_policy, docs/security-crypto.md).');

CREATE FUNCTION hublink.erase_removal(p_removal_reference text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p       hublink.retention_policy;
    removed jsonb := '{}';
    closed  timestamptz := (SELECT c.closed_at FROM hublink.closed_removal c
                             WHERE c.removal_reference = p_removal_reference);
BEGIN
    IF coalesce(p_reason, '') = '' THEN
        RAISE EXCEPTION 'an erasure needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Erasure on direction is recorded with the reason it was directed.',
                  HINT = 'Give the direction''s reference, e.g. the Authority''s instruction number.';
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = p_removal_reference) THEN
        RAISE EXCEPTION 'removal % has nothing to erase', p_removal_reference
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'This database has neither the removal nor a data key for it.',
                  HINT = 'hublink.purge_log lists what was purged before.';
    END IF;
    PERFORM hublink.audit_note('erase_direction',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference),
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'reason', p_reason));
    FOR p IN SELECT * FROM hublink.retention_policy x ORDER BY x.retain_days, x.data_class LOOP
        removed := removed || pg_catalog.jsonb_build_object(p.data_class,
                                  hublink.purge_class(p_removal_reference, p, closed, p_reason));
    END LOOP;
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION hublink.erase_removal(text, text) IS
    'Erases a removal now, open or closed, when the Authority directs that its data is no longer '
    'required (NFR 0011): every class of hublink.retention_policy is purged, audited and logged '
    'with the reason. Returns what each class removed.';
REVOKE ALL ON FUNCTION hublink.erase_removal(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.erase_removal(text, text) TO hublink_admin;

-- from sql/parts/74_crypto_seal_esp.sql
-- Personal data encryption of the escort provider engine (NFR 0011; docs/security-crypto.md
-- "The escort provider's data", docs/esp.md "Personal data"). After 73_crypto_seal.sql, which
-- defines hublink.seal_personal_columns.
--
-- - hublink.esp_plan.returnees (per returnee the HO reference, sex, nationality, risk flags and
--   conditions) is the removal's data: sealed under the removal's data key, so the retention
--   purge of the removal (74_crypto_retention.sql) destroys it with the rest. A plan quoted
--   without a removal (staff trying a request by hand) has a scope of its own, "esp plan <id>".
-- - The escorts' names, passports and sex are the provider's staff data, not a removal's: each
--   escort has a data key of its own, scope "escort <escort_id>". Retaining staff data is the
--   provider's own policy (its employment records), not the Authority's retention_policy;
--   hublink.esp_erase_escort destroys one escort's key when the provider says so.
--
-- - The sex a position asks for (esp_plan_position.gender), which is a returnee's sex when the
--   position escorts that returnee: sealed under the plan's key, like the plan's returnees.
--
-- The engine reads them through the narrow SECURITY DEFINER accessors below, never whole rows:
-- hublink.esp_plan_returnees (amendments), hublink.esp_plan_positions (matching and the
-- escortPositions sent), hublink.esp_escort_sexes (matching, only when a position asks for a
-- sex) and hublink.esp_escort_identities (escortDetails sent to the Home Office). Each call that
-- decrypts writes one audit row (action decrypt).

SELECT hublink.seal_personal_columns('hublink.esp_plan',
    'SELECT coalesce($1 ->> ''removal_ref'', ''esp plan '' || ($1 ->> ''plan_id''))',
    'The removal it was quoted for (removal_ref); a plan without a removal under "esp plan <plan_id>".');
-- The sex a position asks for (esp_plan_position.gender) is the returnee's when the position
-- escorts a returnee (same-sex escorts): sealed under the plan's key, so the removal's purge
-- destroys it with the plan's returnees. Only positions that ask for a sex have anything to
-- seal, so the trigger fires only for them (a WHEN clause): "sealed IS NOT NULL" tells the
-- engine, without decrypting, that a plan needs escorts' sexes (which sex stays sealed).
SELECT hublink.seal_personal_columns('hublink.esp_plan_position',
    'SELECT pl.key_scope FROM hublink.esp_plan pl WHERE pl.plan_id = ($1 ->> ''plan_id'')::bigint',
    'The key of its plan (esp_plan.key_scope): the removal, or "esp plan <plan_id>".');
DROP TRIGGER seal_personal_data ON hublink.esp_plan_position;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.esp_plan_position
    FOR EACH ROW WHEN (NEW.gender IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('gender');
SELECT hublink.seal_personal_columns('hublink.esp_escort',
    'SELECT ''escort '' || ($1 ->> ''escort_id'')',
    'The escort''s own key ("escort <escort_id>"): staff data, kept and erased by the provider''s policy.');
SELECT hublink.seal_personal_columns('hublink.esp_escort_personal',
    'SELECT ''escort '' || ($1 ->> ''escort_id'')',
    'The escort''s own key ("escort <escort_id>"): staff data, kept and erased by the provider''s policy.');

-- Sealing drops NOT NULL and the CHECK sees only NULL: the sex of a new escort is checked here,
-- before the seal trigger (triggers fire in name order: esp_escort_sex < seal_personal_data).
CREATE FUNCTION hublink.esp_escort_sex_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.gender IS NULL AND NEW.sealed IS NULL)
       OR NEW.gender !~ '^[MFX]$' THEN
        RAISE EXCEPTION 'escort % needs a sex of M, F or X', NEW.escort_id
            USING ERRCODE = 'check_violation',
                  DETAIL = pg_catalog.format('The value given was %s.', coalesce('"' || NEW.gender || '"', 'NULL')),
                  HINT = 'Positions that need a given sex are filled by hublink.esp_fill_team from this column.';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_sex_check() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.esp_escort: a new escort has a sex, and it is M, F '
    'or X (the column''s own CHECK only ever sees NULL once the value is sealed).';
CREATE TRIGGER esp_escort_sex BEFORE INSERT OR UPDATE ON hublink.esp_escort
    FOR EACH ROW EXECUTE FUNCTION hublink.esp_escort_sex_check();

CREATE FUNCTION hublink.esp_plan_returnees(p_plan_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pl hublink.esp_plan;
BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = p_plan_id;
    IF pl.sealed IS NULL OR NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = pl.key_scope) THEN
        RETURN NULL; -- no such plan, or its removal was purged
    END IF;
    PERFORM hublink.audit_note('decrypt',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = pl.key_scope),
        pg_catalog.jsonb_build_object('table', 'hublink.esp_plan', 'key_scope', pl.key_scope,
                                      'plan_id', pl.plan_id, 'columns', '["returnees"]'::jsonb));
    RETURN hublink.unseal(pl.key_scope, pl.sealed) -> 'returnees';
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_returnees(bigint) IS
    'The returnee profiles of a plan (esp_plan.returnees, sealed), for the engine to amend them; '
    'NULL when the plan is unknown or its removal was purged. Audited (decrypt). Revoked from '
    'PUBLIC: the engine runs as the extension owner.';
REVOKE ALL ON FUNCTION hublink.esp_plan_returnees(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.esp_plan_positions(p_plan_id bigint) RETURNS SETOF hublink.esp_plan_position
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    scope text := (SELECT pl.key_scope FROM hublink.esp_plan pl WHERE pl.plan_id = p_plan_id);
    k     bytea;
BEGIN
    IF EXISTS (SELECT FROM hublink.esp_plan_position p WHERE p.plan_id = p_plan_id AND p.sealed IS NOT NULL)
       AND EXISTS (SELECT FROM hublink.data_key d WHERE d.key_scope = scope) THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = scope),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_plan_position', 'key_scope', scope,
                                          'plan_id', p_plan_id, 'columns', '["gender"]'::jsonb));
        k := hublink.data_key_for(scope, false); -- unwrapped once for every position of the plan
    END IF;
    RETURN QUERY
    SELECT x.*
      FROM hublink.esp_plan_position p
     CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(p, CASE
               WHEN p.sealed IS NULL OR k IS NULL THEN '{}'::jsonb
               WHEN p.key_scope = scope THEN pg_catalog.convert_from(hublink.crypto_decrypt(p.sealed, k), 'UTF8')::jsonb
               ELSE hublink.unseal(p.key_scope, p.sealed) END) x
     WHERE p.plan_id = p_plan_id
     ORDER BY p.escort_number;
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_positions(bigint) IS
    'The positions of a plan with the sex each asks for decrypted (esp_plan_position.gender is '
    'sealed), for matching (hublink.esp_fill_team, esp_change_escort) and the escortPositions sent '
    'to the Hub (hublink.esp_plan_body); a purged plan''s positions read NULL (any sex). One audit '
    'row (decrypt) per call that decrypts. Revoked from PUBLIC: the engine runs as the extension owner.';
REVOKE ALL ON FUNCTION hublink.esp_plan_positions(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.esp_escort_sexes(p_escort_ids text[], p_removal_ref text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sexes jsonb;
BEGIN
    SELECT coalesce(pg_catalog.jsonb_object_agg(e.escort_id, hublink.unseal(e.key_scope, e.sealed) ->> 'gender'), '{}')
      INTO sexes
      FROM hublink.esp_escort e
     WHERE e.escort_id = ANY (p_escort_ids) AND e.sealed IS NOT NULL
       AND EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = e.key_scope);
    IF sexes <> '{}' THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_ref),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_escort', 'columns', '["gender"]'::jsonb,
                                          'purpose', 'matching', 'removal_reference', p_removal_ref,
                                          'escorts', (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(sexes))));
    END IF;
    RETURN sexes;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_sexes(text[], text) IS
    'The sex of each of the given escorts, {escort_id: "M"|"F"|"X"}, decrypted for matching '
    'positions that need a given sex (hublink.esp_fill_team); an erased escort is left out. One '
    'audit row per call (decrypt, the count of escorts, never who or what). Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.esp_escort_sexes(text[], text) FROM PUBLIC;

CREATE FUNCTION hublink.esp_escort_identities(p_escort_ids text[], p_removal_ref text)
    RETURNS TABLE (escort_id text, title text, given_names text, family_name text, date_of_birth date,
                   nationality char(3), gender char(1), document_type text, document_number text,
                   document_issuing_country char(3), document_expiry_date date)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
    SELECT e.escort_id, x.title, x.given_names, x.family_name, x.date_of_birth, x.nationality,
           (hublink.unseal(e.key_scope, e.sealed) ->> 'gender')::char(1), x.document_type, x.document_number,
           x.document_issuing_country, x.document_expiry_date
      FROM hublink.esp_escort e
      JOIN hublink.esp_escort_personal p ON p.escort_id = e.escort_id
     CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(p, hublink.unseal(p.key_scope, p.sealed)) x
     WHERE e.escort_id = ANY (p_escort_ids)
       AND EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = p.key_scope);
    IF FOUND THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_ref),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_escort_personal', 'purpose', 'escortDetails',
                                          'removal_reference', p_removal_ref, 'escort_ids', pg_catalog.to_jsonb(p_escort_ids),
                                          'columns', '["date_of_birth", "document_expiry_date", "document_issuing_country", '
                                                     '"document_number", "document_type", "family_name", "gender", '
                                                     '"given_names", "nationality", "title"]'::jsonb));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_identities(text[], text) IS
    'Names, sex and passport of the given escorts, decrypted for the escortDetails sent to the Home '
    'Office about removal p_removal_ref (hublink.esp_escort_details); an erased escort is left out. '
    'One audit row per call (decrypt: escort IDs and columns, never values). Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.esp_escort_identities(text[], text) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('escort_erased', 'hublink.esp_erase_escort destroyed an escort''s data key (the provider''s staff data policy).');

CREATE FUNCTION hublink.esp_erase_escort(p_escort_id text, p_reason text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tz constant text := hublink.esp_setting('date_time_zone');
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.esp_escort e WHERE e.escort_id = p_escort_id) THEN
        RAISE EXCEPTION 'escort % does not exist', p_escort_id
            USING ERRCODE = 'no_data_found', DETAIL = 'Only an escort of hublink.esp_escort can be erased.',
                  HINT = 'Check the escort ID.';
    END IF;
    IF EXISTS (SELECT FROM hublink.esp_duty d JOIN hublink.esp_booking k USING (booking_id)
                WHERE d.escort_id = p_escort_id AND k.status = 'ACTIVE'
                  AND d.duty_date >= (pg_catalog.now() AT TIME ZONE tz)::date) THEN
        RAISE EXCEPTION 'escort % is on duty for an active booking', p_escort_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The booking would lose the name and passport it sent to the Home Office.',
                  HINT = 'Replace the escort first with hublink.esp_change_escort.';
    END IF;
    PERFORM hublink.audit_note('escort_erased', NULL,
        pg_catalog.jsonb_build_object('escort_id', p_escort_id, 'key_scope', 'escort ' || p_escort_id, 'reason', p_reason));
    -- Not escorting any more; the row stays for the history of bookings (esp_booking_escort).
    UPDATE hublink.esp_escort e SET active = false WHERE e.escort_id = p_escort_id;
    DELETE FROM hublink.esp_roster r
     WHERE r.escort_id = p_escort_id AND NOT EXISTS (SELECT FROM hublink.esp_duty d
                                                      WHERE d.escort_id = r.escort_id AND d.duty_date = r.duty_date);
    DELETE FROM hublink.esp_escort_personal p WHERE p.escort_id = p_escort_id;
    -- Crypto-shredding: the sealed sex left in esp_escort (and any copy in dead tuples, WAL or
    -- backups) can no longer be decrypted.
    DELETE FROM hublink.data_key k WHERE k.key_scope = 'escort ' || p_escort_id;
END;
$$;
COMMENT ON FUNCTION hublink.esp_erase_escort(text, text) IS
    'The provider erases an escort who left (its staff data policy): audited (escort_erased), the '
    'escort made inactive, its free roster days and its name and passport deleted, and its data '
    'key destroyed, so its sealed sex is unreadable for good. Refused while the escort is on duty '
    'for an active booking from today on. Granted to hublink_admin.';
REVOKE ALL ON FUNCTION hublink.esp_erase_escort(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.esp_erase_escort(text, text) TO hublink_admin;

-- from sql/parts/75_security_events.sql
-- Security events (docs/security-monitoring.md; NFR 0020, SEC 023): what protective
-- monitoring records. Events are first written to a ring in shared memory by
-- hublink.record_security_event (and by the logon and DDL hooks in C), so they survive the
-- rollback of the statement that caused them; the worker's security_event_flush job copies
-- them into hublink.security_event and raises the alerts hublink.security_event_kind names.

CREATE FUNCTION hublink.record_security_event(p_kind text, p_detail jsonb) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_record_security_event';
COMMENT ON FUNCTION hublink.record_security_event(text, jsonb) IS
    'Records a security event in shared memory, outside any transaction: it is kept even if '
    'the caller then fails or rolls back. p_kind is a lower-case name (see '
    'hublink.security_event_kind), p_detail a JSON object of at most 1 kB. The session user '
    'is recorded with it. Granted to the extension owner''s SECURITY DEFINER functions only.';
REVOKE ALL ON FUNCTION hublink.record_security_event(text, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.security_events(p_after_seq bigint)
    RETURNS TABLE (seq bigint, recorded_at timestamptz, kind text, role_name text, pid integer,
                   database_oid oid, detail jsonb)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_events';
COMMENT ON FUNCTION hublink.security_events(bigint) IS
    'The security events still in the shared-memory ring numbered above p_after_seq, oldest '
    'first. Reading does not remove them; hublink.flush_security_events copies them.';
REVOKE ALL ON FUNCTION hublink.security_events(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.security_ring_status(OUT started_at timestamptz, OUT slots integer,
                                             OUT next_seq bigint, OUT oldest_seq bigint)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_ring_status';
COMMENT ON FUNCTION hublink.security_ring_status() IS
    'The ring''s numbering (started_at: events are numbered from 1 at each server start), its '
    'size, the number the next event gets and the oldest it still holds.';
REVOKE ALL ON FUNCTION hublink.security_ring_status() FROM PUBLIC;

CREATE TABLE hublink.security_event_kind (
    kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    alert_kind  text REFERENCES hublink.alert_kind,
    description text NOT NULL
);
COMMENT ON TABLE hublink.security_event_kind IS
    'The kinds of security event and the alert each raises when flushed (reference data). An '
    'event of a kind not listed raises security_event_unclassified, so none goes unseen.';
COMMENT ON COLUMN hublink.security_event_kind.kind IS 'Name of the event kind, as recorded.';
COMMENT ON COLUMN hublink.security_event_kind.alert_kind IS
    'The alert raised for every event of this kind; NULL: none (a job may still alert on '
    'counts, as for failed logons).';
COMMENT ON COLUMN hublink.security_event_kind.description IS 'What happened, for the alert subject and the admin.';

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_admin_role_change', 'critical', 'monitoring',
     'An admin role (superuser, CREATEROLE, or member of hublink_admin) was created, changed, '
     'granted, revoked or dropped (NFR 0020 3a). Check it was authorised.'),
    ('security_user_role_change', 'warning', 'monitoring',
     'A user role was created, changed, granted, revoked or dropped (NFR 0020 3b). Check it '
     'was authorised.'),
    ('security_audit_tampering', 'critical', 'monitoring',
     'Someone tried to update, delete, truncate, drop or reset audit data (NFR 0020, '
     'deletion/reset of security logs). Investigate the role named.'),
    ('security_events_lost', 'critical', 'monitoring',
     'The shared-memory ring of security events overflowed before the worker flushed it, so '
     'events were lost. Raise hublink.security_event_slots or check the worker runs.'),
    ('security_event_unclassified', 'warning', 'monitoring',
     'A security event of a kind hublink.security_event_kind does not list. Add the kind.');

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('logon', NULL, 'A logon succeeded, failed or was refused (stored in hublink.logon).'),
    ('admin_role_change', 'security_admin_role_change', 'Admin role created, changed or dropped'),
    ('user_role_change', 'security_user_role_change', 'User role created, changed or dropped'),
    ('audit_truncate', 'security_audit_tampering', 'TRUNCATE of an audit table'),
    ('audit_drop', 'security_audit_tampering', 'DROP of an audit table'),
    ('audit_update_refused', 'security_audit_tampering', 'Refused UPDATE of audit data'),
    ('audit_delete_refused', 'security_audit_tampering', 'Refused DELETE of audit data'),
    ('audit_truncate_refused', 'security_audit_tampering', 'Refused TRUNCATE of audit data'),
    ('audit_reset_refused', 'security_audit_tampering', 'Refused reset of audit data'),
    ('security_events_lost', 'security_events_lost', 'Security events lost to ring overflow');

CREATE TABLE hublink.security_event (
    security_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_started_at timestamptz NOT NULL,
    seq               bigint NOT NULL,
    recorded_at       timestamptz NOT NULL,
    kind              text NOT NULL,
    role_name         text,
    pid               integer,
    database_oid      oid,
    detail            jsonb NOT NULL DEFAULT '{}',
    flushed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (server_started_at, seq)
);
COMMENT ON TABLE hublink.security_event IS
    'Security events other than logons, copied from the shared-memory ring by the worker '
    '(hublink.flush_security_events). Append-only in practice: only the extension owner writes it.';
COMMENT ON COLUMN hublink.security_event.security_event_id IS 'Key, increasing in flush order.';
COMMENT ON COLUMN hublink.security_event.server_started_at IS 'Which numbering seq belongs to (the ring restarts at 1 with the server).';
COMMENT ON COLUMN hublink.security_event.seq IS 'Number of the event in the ring.';
COMMENT ON COLUMN hublink.security_event.recorded_at IS 'When the event happened (recorded in the ring).';
COMMENT ON COLUMN hublink.security_event.kind IS 'What happened (hublink.security_event_kind).';
COMMENT ON COLUMN hublink.security_event.role_name IS 'The session user that caused it.';
COMMENT ON COLUMN hublink.security_event.pid IS 'The backend process that recorded it.';
COMMENT ON COLUMN hublink.security_event.database_oid IS 'The database it happened in, if any.';
COMMENT ON COLUMN hublink.security_event.detail IS
    'Facts as JSON (statement, table, roles affected); a refusal recorded by the audit trail '
    'adds the client''s network address, which alerts leave out.';
COMMENT ON COLUMN hublink.security_event.flushed_at IS 'When the worker copied it from the ring.';
CREATE INDEX security_event_kind_time ON hublink.security_event (kind, recorded_at);

CREATE TABLE hublink.security_ring_flushed (
    server_started_at timestamptz PRIMARY KEY,
    last_seq          bigint NOT NULL
);
COMMENT ON TABLE hublink.security_ring_flushed IS
    'How far the ring has been copied, per server start: the flush reads events after last_seq.';
COMMENT ON COLUMN hublink.security_ring_flushed.server_started_at IS 'The ring''s numbering.';
COMMENT ON COLUMN hublink.security_ring_flushed.last_seq IS 'The last event copied.';

-- Later parts (76) add what a logon event does; this function handles every other kind.
CREATE FUNCTION hublink.security_event_alert(e hublink.security_event) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k hublink.security_event_kind;
BEGIN
    SELECT * INTO k FROM hublink.security_event_kind WHERE kind = e.kind;
    IF NOT FOUND THEN
        k.alert_kind := 'security_event_unclassified';
        k.description := 'Unclassified security event ' || e.kind;
    END IF;
    IF k.alert_kind IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        k.alert_kind,
        format('%s (role %s)', k.description, coalesce(e.role_name, 'unknown')),
        NULL,
        jsonb_build_object('security_event_id', e.security_event_id, 'event_kind', e.kind,
                           'role_name', e.role_name, 'recorded_at', e.recorded_at)
            || (e.detail - 'client_addr'));
END;
$$;
COMMENT ON FUNCTION hublink.security_event_alert(hublink.security_event) IS
    'Raises the alert a flushed security event calls for (hublink.security_event_kind), if '
    'any; returns its alert_id.';
REVOKE ALL ON FUNCTION hublink.security_event_alert(hublink.security_event) FROM PUBLIC;

-- Logons (NFR 0020 3c-e): the ClientAuthentication hook records each one in the ring with
-- kind 'logon'; the flush copies them here (a failed logon cannot write a table itself).
CREATE TABLE hublink.logon_outcome (
    outcome     text PRIMARY KEY,
    failure     boolean NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.logon_outcome IS 'The outcomes a logon may have (reference data).';
COMMENT ON COLUMN hublink.logon_outcome.outcome IS 'Name of the outcome, as the logon hook records it.';
COMMENT ON COLUMN hublink.logon_outcome.failure IS 'True: counts towards the failed-logon alert (NFR 0020 3c).';
COMMENT ON COLUMN hublink.logon_outcome.description IS 'What it means.';
INSERT INTO hublink.logon_outcome VALUES
    ('succeeded', false, 'The client authenticated.'),
    ('failed', true, 'Authentication failed: wrong password, no pg_hba.conf entry, unknown role.'),
    ('refused_locked', true, 'The role is locked out (hublink.role_lockout); the password was not checked.');

CREATE TABLE hublink.logon (
    logon_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_started_at timestamptz NOT NULL,
    seq               bigint NOT NULL,
    logon_at          timestamptz NOT NULL,
    role_name         text NOT NULL,
    database_name     text,
    client_addr       text,
    method            text,
    outcome           text NOT NULL REFERENCES hublink.logon_outcome,
    flushed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (server_started_at, seq)
);
COMMENT ON TABLE hublink.logon IS
    'Every logon attempt the server saw (NFR 0020 3c-e), copied from the shared-memory ring '
    'by the worker. The dormant-role check reads the last successful logon of each role here.';
COMMENT ON COLUMN hublink.logon.logon_id IS 'Key, increasing in flush order.';
COMMENT ON COLUMN hublink.logon.server_started_at IS 'Which ring numbering seq belongs to.';
COMMENT ON COLUMN hublink.logon.seq IS 'Number of the event in the ring.';
COMMENT ON COLUMN hublink.logon.logon_at IS 'When the server decided the logon.';
COMMENT ON COLUMN hublink.logon.role_name IS 'The role the client asked to log on as (it may not exist).';
COMMENT ON COLUMN hublink.logon.database_name IS 'The database the client asked for.';
COMMENT ON COLUMN hublink.logon.client_addr IS
    'Network address the logon came from ("[local]" for a Unix socket): connection metadata of '
    'staff and systems, kept in clear for investigations (docs/security-monitoring.md), never '
    'copied into alerts.';
COMMENT ON COLUMN hublink.logon.method IS 'The pg_hba.conf method that applied (scram-sha-256, md5, trust, peer, ...).';
COMMENT ON COLUMN hublink.logon.outcome IS 'What happened (hublink.logon_outcome).';
COMMENT ON COLUMN hublink.logon.flushed_at IS 'When the worker copied it from the ring.';
CREATE INDEX logon_role_time ON hublink.logon (role_name, logon_at);

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_failed_logons', 'critical', 'monitoring',
     'hublink.failed_logon_alert_count failed logons of one role within '
     'hublink.failed_logon_window_minutes (NFR 0020 3c: more than 5 in 30 minutes). Someone '
     'may be guessing its password.');

CREATE FUNCTION hublink.check_failed_logons(p_role_name text, p_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    threshold integer := pg_catalog.current_setting('hublink.failed_logon_alert_count')::integer;
    win       interval := pg_catalog.make_interval(
                              mins => pg_catalog.current_setting('hublink.failed_logon_window_minutes')::integer);
    failures  bigint;
BEGIN
    SELECT count(*) INTO failures
      FROM hublink.logon l JOIN hublink.logon_outcome o USING (outcome)
     WHERE l.role_name = p_role_name AND o.failure
       AND l.logon_at > p_at - win AND l.logon_at <= p_at;
    -- One alert per window and role: a password-guessing run is one incident, not hundreds.
    IF failures < threshold OR EXISTS (
           SELECT 1 FROM hublink.alert
            WHERE kind = 'security_failed_logons' AND detail->>'role_name' = p_role_name
              AND (detail->>'last_failure_at')::timestamptz > p_at - win) THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        'security_failed_logons',
        format('%s failed logons of role %s within %s', failures, p_role_name, win),
        NULL,
        jsonb_build_object('role_name', p_role_name, 'failures', failures,
                           'window_minutes', extract(epoch FROM win) / 60,
                           'last_failure_at', p_at));
END;
$$;
COMMENT ON FUNCTION hublink.check_failed_logons(text, timestamptz) IS
    'After a failed logon of p_role_name at p_at: raises security_failed_logons if the role '
    'had hublink.failed_logon_alert_count failures in the window ending then, unless one was '
    'already raised for a failure in that window.';
REVOKE ALL ON FUNCTION hublink.check_failed_logons(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.flush_security_events() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ring    record;
    last    bigint;
    r       record;
    se      hublink.security_event;
    copied  integer := 0;
BEGIN
    -- One flusher at a time (the worker, or an admin at once): both would copy the same events.
    PERFORM pg_catalog.pg_advisory_xact_lock(75, 1);
    SELECT * INTO ring FROM hublink.security_ring_status();
    SELECT f.last_seq INTO last FROM hublink.security_ring_flushed f
     WHERE f.server_started_at = ring.started_at;
    last := coalesce(last, 0);
    IF ring.oldest_seq > last + 1 THEN
        INSERT INTO hublink.security_event (server_started_at, seq, recorded_at, kind, detail)
        VALUES (ring.started_at, -ring.oldest_seq, clock_timestamp(), 'security_events_lost',
                jsonb_build_object('lost', ring.oldest_seq - last - 1,
                                   'first_lost_seq', last + 1, 'ring_slots', ring.slots))
        RETURNING * INTO se;
        PERFORM hublink.security_event_alert(se);
    END IF;
    FOR r IN SELECT * FROM hublink.security_events(last) ORDER BY seq LOOP
        IF r.kind = 'logon' THEN
            INSERT INTO hublink.logon (server_started_at, seq, logon_at, role_name, database_name,
                                       client_addr, method, outcome)
            VALUES (ring.started_at, r.seq, r.recorded_at, coalesce(r.role_name, ''),
                    r.detail->>'database', r.detail->>'client_addr', r.detail->>'method',
                    r.detail->>'outcome');
            IF (SELECT failure FROM hublink.logon_outcome WHERE outcome = r.detail->>'outcome') THEN
                PERFORM hublink.check_failed_logons(coalesce(r.role_name, ''), r.recorded_at);
            END IF;
        ELSE
            INSERT INTO hublink.security_event (server_started_at, seq, recorded_at, kind,
                                                role_name, pid, database_oid, detail)
            VALUES (ring.started_at, r.seq, r.recorded_at, r.kind, r.role_name, r.pid,
                    r.database_oid, r.detail)
            RETURNING * INTO se;
            PERFORM hublink.security_event_alert(se);
        END IF;
        PERFORM hublink.security_event_flushed(r.kind, r.role_name, r.recorded_at, r.detail);
        last := r.seq;
        copied := copied + 1;
    END LOOP;
    INSERT INTO hublink.security_ring_flushed VALUES (ring.started_at, last)
        ON CONFLICT (server_started_at) DO UPDATE SET last_seq = EXCLUDED.last_seq;
    RETURN copied;
END;
$$;
COMMENT ON FUNCTION hublink.flush_security_events() IS
    'Copies the security events recorded since the last flush from the shared-memory ring into '
    'hublink.logon and hublink.security_event, raising the alerts they call for; records a '
    'security_events_lost event when the ring overflowed. Returns how many it copied. Run by '
    'the worker''s security_event_flush job; an admin may call it to flush at once.';
REVOKE ALL ON FUNCTION hublink.flush_security_events() FROM PUBLIC;

-- The hook later parts use for what an event means beyond its row and alert (lock-outs).
CREATE FUNCTION hublink.security_event_flushed(p_kind text, p_role_name text,
                                               p_at timestamptz, p_detail jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_event_flushed(text, text, timestamptz, jsonb) IS
    'Called by hublink.flush_security_events for every event copied, after its row and alert; '
    'keeps the lock-out table in step with lock-outs recorded by the logon hook.';
REVOKE ALL ON FUNCTION hublink.security_event_flushed(text, text, timestamptz, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.security_event_flush_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.flush_security_events();
    -- Shared memory is empty after a restart: give it back the lock-outs and the warning.
    PERFORM hublink.sync_security_shared_memory();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_event_flush_job() IS
    'The worker job security_event_flush: hublink.flush_security_events, then '
    'hublink.sync_security_shared_memory, every run_every.';
REVOKE ALL ON FUNCTION hublink.security_event_flush_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('security_event_flush', 'hublink.security_event_flush_job()', interval '5 seconds',
     'Copies security events (logons, role changes, attempts on the audit store) from shared '
     'memory into hublink.logon and hublink.security_event, and raises their alerts '
     '(docs/security-monitoring.md).');

-- from sql/parts/76_security_monitor.sql
-- Protective monitoring checks (docs/security-monitoring.md; NFR 0014, NFR 0020 3a-e and
-- "security log-data deletion/reset/capacity-overrun"): lock-out of a role after
-- hublink.lockout_failures consecutive failed logons and its lifting, the login warning,
-- dormant roles and the capacity of the audit store. The C side is extension/security_auth.c.

CREATE FUNCTION hublink.security_set_lockout(p_role_name text, p_locked boolean, p_at timestamptz)
    RETURNS boolean
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_set_lockout';
COMMENT ON FUNCTION hublink.security_set_lockout(text, boolean, timestamptz) IS
    'Sets the lock-out of a role in shared memory (where the logon hook reads it). Unlocking '
    'lifts only a lock-out from before p_at and clears the count of failures. Returns whether '
    'the role is locked out afterwards.';
REVOKE ALL ON FUNCTION hublink.security_set_lockout(text, boolean, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.security_logon_state()
    RETURNS TABLE (role_name text, consecutive_failures integer, locked boolean,
                   locked_at timestamptz, last_seen timestamptz)
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_security_logon_state';
COMMENT ON FUNCTION hublink.security_logon_state() IS
    'The logon hook''s table in shared memory: consecutive failed logons and lock-out of each '
    'role it has seen fail since the server started (or since a lock-out was restored).';
REVOKE ALL ON FUNCTION hublink.security_logon_state() FROM PUBLIC;

CREATE FUNCTION hublink.security_publish_warning(p_text text) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_publish_warning';
COMMENT ON FUNCTION hublink.security_publish_warning(text) IS
    'Puts the login warning in shared memory, where new sessions read it (NULL: none).';
REVOKE ALL ON FUNCTION hublink.security_publish_warning(text) FROM PUBLIC;

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_account_locked', 'critical', 'monitoring',
     'A role was locked out after hublink.lockout_failures consecutive failed logons (NFR '
     '0020 3d). Find out who tried; hublink.unlock_role lifts it.'),
    ('security_account_unlocked', 'info', 'monitoring',
     'An admin lifted a lock-out with hublink.unlock_role (NFR 0020 3d).'),
    ('security_dormant_role', 'warning', 'monitoring',
     'A login role has not logged on for hublink.dormant_role_days (NFR 0020 3e: more than 3 '
     'months). Disable it (ALTER ROLE ... NOLOGIN) unless it is still needed.'),
    ('security_audit_capacity', 'warning', 'monitoring',
     'The audit store (hublink.audit_relations) has reached hublink.audit_capacity_warn_percent '
     'of hublink.audit_capacity_mb (NFR 0020, capacity overrun of security logs). Archive or '
     'add space before it is full.');

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('account_locked', 'security_account_locked', 'Role locked out after failed logons'),
    ('account_unlocked', 'security_account_unlocked', 'Lock-out lifted'),
    ('audit_alter', 'security_audit_tampering', 'ALTER TABLE of an audit table');

CREATE TABLE hublink.security_lockout (
    role_name   text PRIMARY KEY,
    locked_at   timestamptz NOT NULL,
    failures    integer NOT NULL,
    unlocked_at timestamptz,
    unlocked_by text,
    CHECK ((unlocked_at IS NULL) = (unlocked_by IS NULL))
);
COMMENT ON TABLE hublink.security_lockout IS
    'The last lock-out of each role (NFR 0020 3d), copied from the logon hook''s events; a row '
    'with unlocked_at NULL is a role locked out now. The worker restores these to shared '
    'memory after a restart.';
COMMENT ON COLUMN hublink.security_lockout.role_name IS 'The role locked out.';
COMMENT ON COLUMN hublink.security_lockout.locked_at IS 'When the logon hook locked it out.';
COMMENT ON COLUMN hublink.security_lockout.failures IS 'Consecutive failed logons that caused it.';
COMMENT ON COLUMN hublink.security_lockout.unlocked_at IS 'When an admin lifted it; NULL: still locked out.';
COMMENT ON COLUMN hublink.security_lockout.unlocked_by IS 'Who lifted it (hublink.unlock_role).';

CREATE OR REPLACE FUNCTION hublink.security_event_flushed(p_kind text, p_role_name text,
                                                          p_at timestamptz, p_detail jsonb)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_kind = 'account_locked' THEN
        INSERT INTO hublink.security_lockout (role_name, locked_at, failures)
        VALUES (p_detail->>'locked_role', p_at, (p_detail->>'failures')::integer)
        ON CONFLICT (role_name) DO UPDATE
            SET locked_at = EXCLUDED.locked_at, failures = EXCLUDED.failures,
                unlocked_at = NULL, unlocked_by = NULL
            WHERE hublink.security_lockout.unlocked_at IS NOT NULL
              AND hublink.security_lockout.unlocked_at < EXCLUDED.locked_at;
    END IF;
END;
$$;

CREATE FUNCTION hublink.unlock_role(p_role_name text) RETURNS boolean
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    was_locked boolean;
BEGIN
    -- Copy a lock-out the worker has not flushed yet, so it is lifted too.
    PERFORM hublink.flush_security_events();
    UPDATE hublink.security_lockout SET unlocked_at = clock_timestamp(), unlocked_by = session_user
     WHERE role_name = p_role_name AND unlocked_at IS NULL;
    was_locked := FOUND;
    PERFORM hublink.security_set_lockout(p_role_name, false, clock_timestamp());
    IF NOT was_locked AND NOT EXISTS (SELECT 1 FROM hublink.security_logon_state() s
                                       WHERE s.role_name = p_role_name) THEN
        RAISE EXCEPTION 'role "%" is not locked out', p_role_name
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Neither hublink.security_lockout nor the logon hook has a lock-out or failures for it.',
                  HINT = 'SELECT role_name FROM hublink.security_lockout WHERE unlocked_at IS NULL lists the roles locked out.';
    END IF;
    PERFORM hublink.record_security_event('account_unlocked',
        jsonb_build_object('unlocked_role', p_role_name, 'was_locked', was_locked));
    RETURN was_locked;
END;
$$;
COMMENT ON FUNCTION hublink.unlock_role(text) IS
    'Lifts the lock-out of a role (NFR 0020 3d) and clears its count of failed logons; '
    'records an account_unlocked event. Returns whether it was locked out. For hublink_admin.';
REVOKE ALL ON FUNCTION hublink.unlock_role(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.unlock_role(text) TO hublink_admin;

-- The login warning (NFR 0014): shown to every session as a NOTICE when it connects.
CREATE TABLE hublink.security_login_warning (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    warning_text text NOT NULL CHECK (octet_length(warning_text) BETWEEN 1 AND 2000),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by   text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE hublink.security_login_warning IS
    'The security warning every session is shown when it connects (NFR 0014), one row. '
    'hublink_admin may change it; without a row no warning is shown.';
COMMENT ON COLUMN hublink.security_login_warning.singleton IS 'Always true: the table has at most one row.';
COMMENT ON COLUMN hublink.security_login_warning.warning_text IS 'The text shown, at most 2000 bytes.';
COMMENT ON COLUMN hublink.security_login_warning.updated_at IS 'When the text was last set.';
COMMENT ON COLUMN hublink.security_login_warning.updated_by IS 'Who set it.';
INSERT INTO hublink.security_login_warning (warning_text) VALUES (
    'This system is for authorised use only. Activity on it is monitored and recorded. '
    'Unauthorised access or misuse breaches Home Office security policy and may lead to '
    'disciplinary action and to prosecution under the Computer Misuse Act 1990.');
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.security_login_warning TO hublink_admin;

CREATE FUNCTION hublink.security_login_warning_publish() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_login_warning_publish() IS
    'Trigger: puts the changed login warning in shared memory at once (the worker''s '
    'security_event_flush job repeats it, which also undoes a change rolled back).';
REVOKE ALL ON FUNCTION hublink.security_login_warning_publish() FROM PUBLIC;
CREATE TRIGGER security_login_warning_publish AFTER INSERT OR UPDATE OR DELETE ON hublink.security_login_warning
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.security_login_warning_publish();
SELECT hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));

CREATE FUNCTION hublink.sync_security_shared_memory() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.security_set_lockout(role_name, true, locked_at)
       FROM hublink.security_lockout WHERE unlocked_at IS NULL;
    PERFORM hublink.security_publish_warning((SELECT warning_text FROM hublink.security_login_warning));
END;
$$;
COMMENT ON FUNCTION hublink.sync_security_shared_memory() IS
    'Makes shared memory agree with the tables: the lock-outs in hublink.security_lockout and the '
    'text of hublink.security_login_warning (both are lost when the server restarts).';
REVOKE ALL ON FUNCTION hublink.sync_security_shared_memory() FROM PUBLIC;

-- Dormant roles (NFR 0020 3e).
CREATE TABLE hublink.security_monitored_role (
    role_name          text PRIMARY KEY,
    first_seen_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    dormant_alerted_at timestamptz
);
COMMENT ON TABLE hublink.security_monitored_role IS
    'Login roles the dormant-role check has seen: a role that never logged on is dormant '
    'hublink.dormant_role_days after it was first seen.';
COMMENT ON COLUMN hublink.security_monitored_role.role_name IS 'The login role.';
COMMENT ON COLUMN hublink.security_monitored_role.first_seen_at IS 'When the check first saw it.';
COMMENT ON COLUMN hublink.security_monitored_role.dormant_alerted_at IS
    'When security_dormant_role was last raised for it; raised again only after a new logon.';

CREATE FUNCTION hublink.check_dormant_roles() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    days   integer := pg_catalog.current_setting('hublink.dormant_role_days')::integer;
    r      record;
    raised integer := 0;
BEGIN
    INSERT INTO hublink.security_monitored_role (role_name)
    SELECT a.rolname FROM pg_catalog.pg_authid a
     WHERE a.rolcanlogin AND a.oid <> 10
    ON CONFLICT (role_name) DO NOTHING;
    FOR r IN
        SELECT m.role_name, m.first_seen_at, l.last_logon_at
          FROM hublink.security_monitored_role m
          JOIN pg_catalog.pg_authid a ON a.rolname = m.role_name AND a.rolcanlogin AND a.oid <> 10
          LEFT JOIN LATERAL (SELECT max(g.logon_at) AS last_logon_at FROM hublink.logon g
                              WHERE g.role_name = m.role_name AND g.outcome = 'succeeded') l ON true
         WHERE coalesce(l.last_logon_at, m.first_seen_at) < clock_timestamp() - make_interval(days => days)
           AND (m.dormant_alerted_at IS NULL OR m.dormant_alerted_at < l.last_logon_at)
    LOOP
        PERFORM hublink.raise_alert(
            'security_dormant_role',
            format('Login role %s has not logged on since %s', r.role_name,
                   coalesce(r.last_logon_at::text, 'monitoring began (' || r.first_seen_at || ')')),
            NULL,
            jsonb_build_object('role_name', r.role_name, 'last_logon_at', r.last_logon_at,
                               'first_seen_at', r.first_seen_at, 'dormant_role_days', days));
        UPDATE hublink.security_monitored_role SET dormant_alerted_at = clock_timestamp()
         WHERE role_name = r.role_name;
        raised := raised + 1;
    END LOOP;
    RETURN raised;
END;
$$;
COMMENT ON FUNCTION hublink.check_dormant_roles() IS
    'Raises security_dormant_role for each login role (but the bootstrap superuser) whose last '
    'successful logon in hublink.logon, or its first sighting if none, is older than '
    'hublink.dormant_role_days; once per dormancy. Returns how many it raised.';
REVOKE ALL ON FUNCTION hublink.check_dormant_roles() FROM PUBLIC;

-- Capacity of the audit store (NFR 0020: capacity-overrun events, warned before they happen).
CREATE FUNCTION hublink.audit_store_bytes() RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(sum(pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(btrim(r)))), 0)::bigint
      FROM pg_catalog.unnest(pg_catalog.string_to_array(
               pg_catalog.current_setting('hublink.audit_relations'), ',')) AS r
     WHERE pg_catalog.to_regclass(btrim(r)) IS NOT NULL;
$$;
COMMENT ON FUNCTION hublink.audit_store_bytes() IS
    'Total size on disk (with indexes and TOAST) of the tables in hublink.audit_relations.';
REVOKE ALL ON FUNCTION hublink.audit_store_bytes() FROM PUBLIC;

CREATE FUNCTION hublink.check_audit_capacity() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    used     bigint := hublink.audit_store_bytes();
    capacity bigint := pg_catalog.current_setting('hublink.audit_capacity_mb')::bigint * 1024 * 1024;
    percent  integer := pg_catalog.current_setting('hublink.audit_capacity_warn_percent')::integer;
BEGIN
    -- One open alert at a time: it stays until someone acknowledges it.
    IF used * 100 < capacity * percent OR EXISTS (
           SELECT 1 FROM hublink.alert WHERE kind = 'security_audit_capacity' AND acknowledged_at IS NULL) THEN
        RETURN NULL;
    END IF;
    RETURN hublink.raise_alert(
        'security_audit_capacity',
        format('The audit store uses %s of its %s capacity (%s%%)', pg_size_pretty(used),
               pg_size_pretty(capacity), round(used * 100.0 / capacity)),
        NULL,
        jsonb_build_object('used_bytes', used, 'capacity_bytes', capacity, 'warn_percent', percent,
                           'relations', current_setting('hublink.audit_relations')));
END;
$$;
COMMENT ON FUNCTION hublink.check_audit_capacity() IS
    'Raises security_audit_capacity when the audit store reaches hublink.audit_capacity_warn_percent '
    'of hublink.audit_capacity_mb, unless such an alert is still unacknowledged. Returns its alert_id.';
REVOKE ALL ON FUNCTION hublink.check_audit_capacity() FROM PUBLIC;

CREATE FUNCTION hublink.security_check_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.check_dormant_roles();
    PERFORM hublink.check_audit_capacity();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.security_check_job() IS
    'The worker job security_checks: dormant roles and audit store capacity.';
REVOKE ALL ON FUNCTION hublink.security_check_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('security_checks', 'hublink.security_check_job()', interval '10 minutes',
     'Protective monitoring checks: roles dormant for hublink.dormant_role_days and the audit '
     'store nearing hublink.audit_capacity_mb (docs/security-monitoring.md).');

-- Who reads the monitoring records: admins investigate (SEC 023); nobody else needs them.
-- The worker and the flush write as the extension owner; no role may change the records.
GRANT SELECT ON hublink.security_event, hublink.security_event_kind, hublink.logon,
                hublink.logon_outcome, hublink.security_lockout, hublink.security_monitored_role
    TO hublink_admin;

-- from sql/parts/80_timers.sql
-- Durable workflow timers (issue 7 section 1, docs/timers.md): what a removal is waiting for
-- (an answer, a deadline), held as rows. A timer watches one thing of one removal, is due at
-- anchor + its rule's offset, and either fires once (an alert, and a message where its rule
-- says so, in the transaction that marks it fired) or is cancelled when its cause goes away.
-- The worker's job fire_timers fires due timers in order; after downtime the overdue ones fire
-- at once, in due order, each marked with its lateness. Targets are rows of
-- hublink.timer_rule per kind, message type, provider and destination (NFR 0005, 0006).
-- The triggers that start and stop timers are in 81_timer_triggers.sql.

CREATE TABLE hublink.timer_status (
    status      text PRIMARY KEY CHECK (status ~ '^[a-z]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.timer_status IS 'What can become of a timer (reference data).';
COMMENT ON COLUMN hublink.timer_status.status IS 'The value of hublink.timer.status.';
COMMENT ON COLUMN hublink.timer_status.description IS 'What the status means.';
INSERT INTO hublink.timer_status VALUES
    ('pending',   'Waiting for its due time.'),
    ('fired',     'Fired once: its alert (and message, if its rule sends one) was written in the '
                  'transaction that marked it fired.'),
    ('cancelled', 'Its cause went away before it fired (answered, booked, cancelled, replaced): '
                  'it never fires.');

INSERT INTO hublink.alert_kind VALUES
    ('response_sla_breached', 'warning', 'timers',
     'A request was not answered within its SLA, counted from when it was put on the queue '
     '(Schedule R Appendix D). Chase the provider, or re-send.'),
    ('quote_expiring', 'warning', 'timers',
     'The best-value quote of a removal lapses soon and nothing is booked. Book it, or re-quote.'),
    ('ticketing_deadline', 'critical', 'timers',
     'A travel booking has no tickets and its quote''s ticketing deadline is near: the seats will '
     'be released. Chase the TSP.'),
    ('refund_deadline', 'critical', 'timers',
     'The last moment a cancellation still recovers the refundable fare is near. Cancel now a '
     'removal that is likely to fail.'),
    ('tig_notification_due', 'warning', 'timers',
     'The Travel Information Guide''s notification period before travel to the destination '
     'starts: notify as the TIG says.'),
    ('escort_unconfirmed', 'critical', 'timers',
     'The escorting of a removal is not confirmed this close to the removal date. Chase the ESP, '
     'or move the date.');

CREATE TABLE hublink.timer_kind (
    kind               text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    alert_kind         text NOT NULL REFERENCES hublink.alert_kind,
    anchor             text NOT NULL,
    subject_template   text NOT NULL,
    still_due_function regprocedure,
    late_after         interval NOT NULL DEFAULT '1 minute' CHECK (late_after >= interval '0'),
    description        text NOT NULL
);
COMMENT ON TABLE hublink.timer_kind IS
    'The kinds of workflow timer (reference data): the alert each raises, what its due time '
    'counts from, and when a firing counts as late.';
COMMENT ON COLUMN hublink.timer_kind.kind IS 'Name of the kind.';
COMMENT ON COLUMN hublink.timer_kind.alert_kind IS 'The alert a firing raises (hublink.alert_kind).';
COMMENT ON COLUMN hublink.timer_kind.anchor IS 'What the rule''s offset is added to, in words.';
COMMENT ON COLUMN hublink.timer_kind.subject_template IS
    'The alert''s subject: format() with %1$s the removal reference and %2$s what the timer watches.';
COMMENT ON COLUMN hublink.timer_kind.still_due_function IS
    'Optional check when due, function(timer_id bigint) RETURNS boolean: false cancels the timer '
    'instead of firing it (its cause went away by a path no trigger saw).';
COMMENT ON COLUMN hublink.timer_kind.late_after IS
    'A timer fired more than this after its due time is marked late (downtime, a busy worker).';
COMMENT ON COLUMN hublink.timer_kind.description IS 'What the kind watches, who holds it, what starts and stops it.';

CREATE TABLE hublink.timer_kind_party (
    kind  text NOT NULL REFERENCES hublink.timer_kind ON DELETE CASCADE,
    party text NOT NULL REFERENCES hublink.party,
    PRIMARY KEY (kind, party)
);
COMMENT ON TABLE hublink.timer_kind_party IS
    'Which parties hold timers of each kind (docs/timers.md): a database keeps a timer only when '
    'its hublink.party is listed for the kind.';
COMMENT ON COLUMN hublink.timer_kind_party.kind IS 'The timer kind.';
COMMENT ON COLUMN hublink.timer_kind_party.party IS 'A party that holds it.';

CREATE TABLE hublink.timer_rule (
    timer_rule_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL REFERENCES hublink.timer_kind ON DELETE CASCADE,
    message_type  text REFERENCES hublink.message_type,
    provider      text REFERENCES hublink.party,
    destination   char(3) CHECK (destination ~ '^[A-Z]{3}$'),
    fire_offset   interval NOT NULL,
    severity      text REFERENCES hublink.alert_severity,
    action        regprocedure,
    enabled       boolean NOT NULL DEFAULT true,
    description   text NOT NULL,
    CONSTRAINT timer_rule_key UNIQUE NULLS NOT DISTINCT (kind, message_type, provider, destination)
);
COMMENT ON TABLE hublink.timer_rule IS
    'The targets of the timers, edited by hublink_admin: a timer is due at its anchor plus the '
    'fire_offset of the most specific rule of its kind (destination, then provider, then '
    'message type; NULL matches any). No matching rule, or a most specific rule that is not '
    'enabled, means no timer.';
COMMENT ON COLUMN hublink.timer_rule.timer_rule_id IS 'Key.';
COMMENT ON COLUMN hublink.timer_rule.kind IS 'The timer kind.';
COMMENT ON COLUMN hublink.timer_rule.message_type IS 'The message type concerned (the request of an SLA), NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.provider IS 'The provider concerned (tsp or esp), NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.destination IS 'Destination country (ISO 3166-1 alpha-3) of the removal, NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.fire_offset IS
    'Added to the anchor: positive for an SLA counted from an event, negative for a warning before a deadline.';
COMMENT ON COLUMN hublink.timer_rule.severity IS 'Severity of the alert; NULL: the alert kind''s default.';
COMMENT ON COLUMN hublink.timer_rule.action IS
    'Optional message sent when the timer fires, function(timer_id bigint) RETURNS text (the '
    'messageId), e.g. hublink.timer_requote, in the firing transaction.';
COMMENT ON COLUMN hublink.timer_rule.enabled IS 'False: no timer for what this rule matches.';
COMMENT ON COLUMN hublink.timer_rule.description IS 'Where the target comes from.';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.timer_rule TO hublink_admin;
GRANT SELECT, UPDATE ON hublink.timer_kind TO hublink_admin;

-- Which answer stops the response SLA of which request: answer_event is a LIKE pattern on the
-- state machine's events (hublink.state_machine_events()).
CREATE TABLE hublink.timer_answer (
    request_type text NOT NULL REFERENCES hublink.message_type,
    answer_event text NOT NULL,
    -- The answer's message type, so that hublink.mi_sla_compliance finds the answers among the
    -- Hub's inbox by index (an event is its message type, optionally .variant).
    answer_type  text GENERATED ALWAYS AS (substring(answer_event FROM '^[A-Za-z]+')) STORED
                 NOT NULL REFERENCES hublink.message_type,
    PRIMARY KEY (request_type, answer_event)
);
COMMENT ON TABLE hublink.timer_answer IS
    'Which requests have a response SLA and which events answer them: a request of request_type '
    'starts a response_sla timer, and the first event matching answer_event stops it. '
    'hublink.mi_sla_compliance pairs requests and responses by the same rows.';
COMMENT ON COLUMN hublink.timer_answer.request_type IS 'The request message type.';
COMMENT ON COLUMN hublink.timer_answer.answer_event IS 'LIKE pattern on the answering event, e.g. TravelQuoteResponse% (any '
    'variant) or TravelUpdate.amendment-outcome; it starts with the message type''s name.';
COMMENT ON COLUMN hublink.timer_answer.answer_type IS
    'The answering message type: the leading name of answer_event (generated).';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.timer_answer TO hublink_admin;

CREATE TABLE hublink.timer (
    timer_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL REFERENCES hublink.timer_kind,
    party            text NOT NULL REFERENCES hublink.party,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    machine          text NOT NULL,
    watches          text NOT NULL,
    message_type     text,
    provider         text,
    destination      char(3),
    timer_rule_id    integer REFERENCES hublink.timer_rule ON DELETE SET NULL,
    cause_message_id text,
    anchor_at        timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending' REFERENCES hublink.timer_status,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    fired_at         timestamptz,
    lateness         interval,
    late             boolean,
    alert_id         bigint REFERENCES hublink.alert ON DELETE SET NULL,
    action_message_id text,
    cancelled_at     timestamptz,
    cancel_reason    text,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    detail           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    CHECK ((fired_at IS NULL) = (lateness IS NULL) AND (fired_at IS NULL) = (late IS NULL)),
    CHECK ((cancelled_at IS NULL) = (cancel_reason IS NULL)),
    CHECK (fired_at IS NULL OR cancelled_at IS NULL)
);
COMMENT ON TABLE hublink.timer IS
    'Workflow timers: one row per thing a removal waits for. Pending until fired once or '
    'cancelled; kept afterwards as the record (when due, when fired, how late).';
COMMENT ON COLUMN hublink.timer.timer_id IS 'Key.';
COMMENT ON COLUMN hublink.timer.kind IS 'The kind (hublink.timer_kind).';
COMMENT ON COLUMN hublink.timer.party IS 'The party whose database holds it.';
COMMENT ON COLUMN hublink.timer.removal_id IS 'The removal it watches.';
COMMENT ON COLUMN hublink.timer.machine IS 'The state machine whose end cancels it (removal, escort, travel).';
COMMENT ON COLUMN hublink.timer.watches IS
    'What it watches within the removal, e.g. the request type of an SLA; a new timer of the '
    'same kind, removal and watches replaces the pending one.';
COMMENT ON COLUMN hublink.timer.message_type IS 'The message type its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.provider IS 'The provider its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.destination IS 'The destination country its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.timer_rule_id IS 'The rule that set its offset, severity and action.';
COMMENT ON COLUMN hublink.timer.cause_message_id IS 'The message that started it, if any.';
COMMENT ON COLUMN hublink.timer.anchor_at IS 'What the offset counts from (enqueue time, expiry, departure, removal date).';
COMMENT ON COLUMN hublink.timer.due_at IS 'When it fires: anchor_at plus the rule''s offset.';
COMMENT ON COLUMN hublink.timer.status IS 'pending, fired or cancelled (hublink.timer_status).';
COMMENT ON COLUMN hublink.timer.created_at IS 'When it was started.';
COMMENT ON COLUMN hublink.timer.fired_at IS 'When it fired.';
COMMENT ON COLUMN hublink.timer.lateness IS 'How long after it could first fire it fired: fired_at - greatest(due_at, created_at).';
COMMENT ON COLUMN hublink.timer.late IS 'True when lateness exceeded the kind''s late_after (it fired after downtime).';
COMMENT ON COLUMN hublink.timer.alert_id IS 'The alert it raised.';
COMMENT ON COLUMN hublink.timer.action_message_id IS 'The messageId its rule''s action sent, if any.';
COMMENT ON COLUMN hublink.timer.cancelled_at IS 'When it was cancelled.';
COMMENT ON COLUMN hublink.timer.cancel_reason IS 'Why: which event took its cause away.';
COMMENT ON COLUMN hublink.timer.attempts IS 'Failed firing attempts (the firing rolled back and is retried).';
COMMENT ON COLUMN hublink.timer.last_error IS 'The error of the last failed firing attempt.';
COMMENT ON COLUMN hublink.timer.detail IS 'Facts for the alert (quote references, departure), never personal data.';
CREATE UNIQUE INDEX timer_one_pending ON hublink.timer (kind, removal_id, watches) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_one_pending IS 'One pending timer per kind, removal and thing watched.';
CREATE INDEX timer_due ON hublink.timer (due_at, timer_id) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_due IS 'The pending timers in firing order.';
CREATE INDEX timer_cause ON hublink.timer (cause_message_id) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_cause IS 'Finds the pending timers a message started (to re-anchor at enqueue time).';
CREATE INDEX timer_removal ON hublink.timer (removal_id);
COMMENT ON INDEX hublink.timer_removal IS 'The timers of one removal.';
GRANT SELECT ON hublink.timer TO hublink_admin, hublink_caseworker;
-- The timers are data of the removals and are dumped with them. The rules are reference data
-- shipped by this script, like the other reference tables: dumping them would clash with the
-- shipped rows on restore (docs/timers.md).
SELECT pg_catalog.pg_extension_config_dump('hublink.timer', '');

-- The most specific rule for a timer; NULL when none matches or it is disabled.
CREATE FUNCTION hublink.timer_rule_for(p_kind text, p_message_type text, p_provider text,
                                       p_destination text)
    RETURNS hublink.timer_rule
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT r.* FROM hublink.timer_rule r
         WHERE r.kind = p_kind
           AND (r.message_type IS NULL OR r.message_type = p_message_type)
           AND (r.provider IS NULL OR r.provider = p_provider)
           AND (r.destination IS NULL OR r.destination = p_destination)
         ORDER BY r.destination IS NULL, r.provider IS NULL, r.message_type IS NULL
         LIMIT 1;
    END;
COMMENT ON FUNCTION hublink.timer_rule_for(text, text, text, text) IS
    'The most specific hublink.timer_rule of a kind for a message type, provider and '
    'destination (destination first, then provider, then message type), disabled or not.';

CREATE FUNCTION hublink.cancel_timers(p_removal_id bigint, p_kind text, p_watches text, p_reason text,
                                      p_machine text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    UPDATE hublink.timer t
       SET status = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = p_reason
     WHERE t.removal_id = p_removal_id AND t.status = 'pending'
       AND (p_kind IS NULL OR t.kind = p_kind)
       AND (p_watches IS NULL OR t.watches = p_watches)
       AND (p_machine IS NULL OR t.machine = p_machine);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_timers(bigint, text, text, text, text) IS
    'Cancels the pending timers of a removal (of a kind, watching a thing, of a machine; NULL: '
    'any) because their cause went away, with the reason. Returns how many.';
REVOKE ALL ON FUNCTION hublink.cancel_timers(bigint, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.start_timer(p_kind text, p_removal_id bigint, p_machine text, p_watches text,
                                    p_anchor_at timestamptz, p_message_type text DEFAULT NULL,
                                    p_provider text DEFAULT NULL, p_cause_message_id text DEFAULT NULL,
                                    p_detail jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_party text := current_setting('hublink.party', true);
    dest   text;
    rule   hublink.timer_rule;
    id     bigint;
    due    timestamptz;
BEGIN
    IF p_anchor_at IS NULL
       OR NOT EXISTS (SELECT FROM hublink.timer_kind_party k WHERE k.kind = p_kind AND k.party = v_party) THEN
        RETURN NULL;
    END IF;
    SELECT r.destination ->> 'country' INTO dest FROM hublink.removal r WHERE r.removal_id = p_removal_id;
    rule := hublink.timer_rule_for(p_kind, p_message_type, p_provider, dest);
    IF rule.timer_rule_id IS NULL OR NOT rule.enabled THEN
        RETURN NULL;
    END IF;
    due := p_anchor_at + rule.fire_offset;
    -- The same timer again (each quote of a response re-arms quote_expiry): keep the pending one.
    SELECT t.timer_id INTO id FROM hublink.timer t
     WHERE t.kind = p_kind AND t.removal_id = p_removal_id AND t.watches = p_watches AND t.status = 'pending'
       AND t.due_at = due AND t.detail = coalesce(p_detail, '{}') AND t.timer_rule_id = rule.timer_rule_id;
    IF FOUND THEN
        RETURN id;
    END IF;
    PERFORM hublink.cancel_timers(p_removal_id, p_kind, p_watches, 'replaced by a newer timer for the same thing');
    INSERT INTO hublink.timer (kind, party, removal_id, machine, watches, message_type, provider,
                               destination, timer_rule_id, cause_message_id, anchor_at, due_at, detail)
    VALUES (p_kind, v_party, p_removal_id, p_machine, p_watches, p_message_type, p_provider,
            dest, rule.timer_rule_id, p_cause_message_id, p_anchor_at, due, coalesce(p_detail, '{}'))
    RETURNING timer_id INTO id;
    PERFORM hublink.schedule_worker_job('fire_timers', due);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.start_timer(text, bigint, text, text, timestamptz, text, text, text, jsonb) IS
    'Starts a timer of a kind on a removal when this party holds that kind and a rule matches: '
    'due at p_anchor_at plus the rule''s offset; replaces the pending timer of the same kind, '
    'removal and thing watched; brings the worker''s fire_timers job forward to the due time '
    '(woken at commit). Returns the timer_id, NULL when no timer is kept.';
REVOKE ALL ON FUNCTION hublink.start_timer(text, bigint, text, text, timestamptz, text, text, text, jsonb) FROM PUBLIC;

-- Moves a pending timer to a new anchor (a request confirmed on its queue, a flight change).
CREATE FUNCTION hublink.reanchor_timer(p_timer_id bigint, p_anchor_at timestamptz) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    due timestamptz;
BEGIN
    UPDATE hublink.timer t
       SET anchor_at = p_anchor_at, due_at = p_anchor_at + r.fire_offset
      FROM hublink.timer_rule r
     WHERE t.timer_id = p_timer_id AND t.status = 'pending' AND r.timer_rule_id = t.timer_rule_id
       AND t.anchor_at IS DISTINCT FROM p_anchor_at
    RETURNING t.due_at INTO due;
    IF due IS NOT NULL THEN
        PERFORM hublink.schedule_worker_job('fire_timers', due);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.reanchor_timer(bigint, timestamptz) IS
    'Moves a pending timer to a new anchor, keeping its rule''s offset (e.g. an SLA re-counted '
    'from the broker''s confirm of the request, a refund deadline after a flight change).';
REVOKE ALL ON FUNCTION hublink.reanchor_timer(bigint, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.fire_timer(p_timer_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t       hublink.timer;
    k       hublink.timer_kind;
    rule    hublink.timer_rule;
    ref     text;
    still   boolean := true;
    now_    timestamptz;
    v_lateness interval;
    alert   bigint;
    sent    text;
BEGIN
    SELECT * INTO t FROM hublink.timer x WHERE x.timer_id = p_timer_id AND x.status = 'pending' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO k FROM hublink.timer_kind x WHERE x.kind = t.kind;
    SELECT * INTO rule FROM hublink.timer_rule x WHERE x.timer_rule_id = t.timer_rule_id;
    SELECT r.removal_reference INTO ref FROM hublink.removal r WHERE r.removal_id = t.removal_id;
    IF k.still_due_function IS NOT NULL THEN
        EXECUTE format('SELECT %s($1)', k.still_due_function::regproc) USING t.timer_id INTO still;
    END IF;
    IF NOT coalesce(still, false) THEN
        PERFORM hublink.cancel_timers(t.removal_id, t.kind, t.watches, 'its cause was gone when it was due');
        RETURN false;
    END IF;
    -- Lateness counts from when the timer could first fire: one started already overdue (a
    -- deadline nearer than its warning) is not late, one held up by downtime is.
    now_ := clock_timestamp();
    v_lateness := now_ - greatest(t.due_at, t.created_at);
    alert := hublink.raise_alert(
        k.alert_kind, format(k.subject_template, ref, t.watches), t.removal_id,
        t.detail || jsonb_build_object(
            'timerId', t.timer_id, 'timerKind', t.kind, 'watches', t.watches,
            'causeMessageId', t.cause_message_id, 'anchorAt', t.anchor_at, 'dueAt', t.due_at,
            'firedAt', now_, 'late', v_lateness > k.late_after,
            'latenessSeconds', round(extract(epoch FROM v_lateness)::numeric, 3),
            'timerRuleId', t.timer_rule_id),
        rule.severity, t.due_at);
    UPDATE hublink.timer x
       SET status = 'fired', fired_at = now_, lateness = v_lateness,
           late = v_lateness > k.late_after, alert_id = alert
     WHERE x.timer_id = t.timer_id;
    -- After the timer is marked fired, so a message the action sends (a re-quote) stops the
    -- other timers it concerns, not this one.
    IF rule.action IS NOT NULL THEN
        EXECUTE format('SELECT %s($1)', rule.action::regproc) USING t.timer_id INTO sent;
        UPDATE hublink.timer x SET action_message_id = sent WHERE x.timer_id = t.timer_id;
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.fire_timer(bigint) IS
    'Fires one pending timer: cancels it instead when its kind''s still_due_function says its '
    'cause is gone; otherwise raises its alert (hublink.raise_alert: row and NOTIFY '
    'hublink_alert) with its due time and lateness, marks it fired (late when its lateness, '
    'counted from greatest(due_at, created_at), exceeds the kind''s late_after), then runs its '
    'rule''s action. True when it fired.';
REVOKE ALL ON FUNCTION hublink.fire_timer(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.fire_due_timers(p_limit integer DEFAULT 500) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id      bigint;
    fired   integer := 0;
    message text;
BEGIN
    FOR id IN SELECT t.timer_id FROM hublink.timer t
               WHERE t.status = 'pending' AND t.due_at <= clock_timestamp()
               ORDER BY t.due_at, t.timer_id
               LIMIT p_limit
               FOR UPDATE SKIP LOCKED
    LOOP
        BEGIN
            IF hublink.fire_timer(id) THEN
                fired := fired + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            RAISE WARNING 'hublink timer % failed to fire: %', id, message
                USING DETAIL = 'Its effects were rolled back; it stays pending and is tried at the next run.',
                      HINT = 'See hublink.timer.last_error.';
            UPDATE hublink.timer t SET attempts = t.attempts + 1, last_error = message WHERE t.timer_id = id;
        END;
    END LOOP;
    RETURN fired;
END;
$$;
COMMENT ON FUNCTION hublink.fire_due_timers(integer) IS
    'Fires the pending timers that are due, oldest due time first (at most p_limit), each in a '
    'subtransaction with its alert and action, skipping timers another session is firing. A '
    'timer whose firing fails stays pending and is retried. Returns how many fired.';
REVOKE ALL ON FUNCTION hublink.fire_due_timers(integer) FROM PUBLIC;

CREATE FUNCTION hublink.timer_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    next_due timestamptz;
BEGIN
    PERFORM hublink.fire_due_timers();
    SELECT min(t.due_at) INTO next_due FROM hublink.timer t
     WHERE t.status = 'pending' AND (t.attempts = 0 OR t.due_at > clock_timestamp());
    RETURN next_due;
END;
$$;
COMMENT ON FUNCTION hublink.timer_job() IS
    'The worker job fire_timers: fires the due timers and returns when the next one is due '
    '(timers that failed to fire wait for the job''s run_every).';
REVOKE ALL ON FUNCTION hublink.timer_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('fire_timers', 'hublink.timer_job()'::regprocedure, interval '1 minute',
        'Fires the due workflow timers (hublink.timer, docs/timers.md) in due order; a new timer '
        'due sooner brings the job forward.');

-- A rule's action: a re-quote (Appendix A 4.5) of the timer's removal.
CREATE FUNCTION hublink.timer_requote(p_timer_id bigint) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ref text;
BEGIN
    SELECT r.removal_reference INTO ref FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
     WHERE t.timer_id = p_timer_id;
    RETURN hublink.requote(ref);
END;
$$;
COMMENT ON FUNCTION hublink.timer_requote(bigint) IS
    'Timer action: sends a re-quote for the timer''s removal (hublink.requote) and returns its messageId.';
REVOKE ALL ON FUNCTION hublink.timer_requote(bigint) FROM PUBLIC;

-- from sql/parts/81_timer_triggers.sql
-- The six kinds of workflow timer, their default targets, and the triggers that start them
-- where their cause arises and cancel them where it goes (docs/timers.md). The triggers sit on
-- the domain and outbox tables, never in the conversation code: a timer is a consequence of
-- the rows a message leaves behind.

CREATE FUNCTION hublink.timer_quote_still_due(p_timer_id bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT EXISTS (SELECT FROM hublink.timer t
                         JOIN hublink.travel_quote q ON q.removal_id = t.removal_id
                                                    AND q.travel_quote_reference = t.detail ->> 'travelQuoteReference'
                        WHERE t.timer_id = p_timer_id AND NOT q.superseded
                          AND NOT EXISTS (SELECT FROM hublink.travel_booking k
                                           WHERE k.removal_id = t.removal_id AND k.requested_at >= t.created_at));
    END;
COMMENT ON FUNCTION hublink.timer_quote_still_due(bigint) IS
    'still_due_function of quote_expiry: the quote watched is not superseded and no travel '
    'booking was requested since the timer started.';

INSERT INTO hublink.timer_kind (kind, alert_kind, anchor, subject_template, still_due_function, description) VALUES
    ('response_sla', 'response_sla_breached',
     'when the request was put on its queue: the broker''s confirm of the Hub''s outbox row (its '
     'creation until then); at a provider, the delivery''s enqueue time (hublink.inbox.enqueued_at)',
     'Removal %1$s: %2$s not answered within its SLA', NULL,
     'A request waits for its answer (hublink.timer_answer). Held by the Hub for the requests it '
     'sends, and by a provider for the requests it receives (its own deadline). Stopped by the answer.'),
    ('quote_expiry', 'quote_expiring', 'the expiresAt of the removal''s best-value quote',
     'Removal %1$s: its best-value quote lapses soon and nothing is booked',
     'hublink.timer_quote_still_due(bigint)'::regprocedure,
     'Held by the Hub from the travel quotes until a booking is requested, a re-quote is sent or '
     'the removal ends; re-armed on every new quote.'),
    ('ticketing_deadline', 'ticketing_deadline',
     'the expiresAt of the booked travel quote (the TSP caps it at its fares'' ticketing deadline)',
     'Removal %1$s: travel booked but not ticketed, ticketing deadline near', NULL,
     'Held by the Hub from the travel booking request until tickets arrive, the booking is '
     'declined or the travel is cancelled.'),
    ('refund_deadline', 'refund_deadline', 'the first departure of the booked itinerary',
     'Removal %1$s: last moment to cancel and recover the refundable fare', NULL,
     'Held by the Hub for an accepted refundable travel booking, until the travel is cancelled '
     'or completed.'),
    ('tig_notification', 'tig_notification_due', 'the first departure of the booked itinerary',
     'Removal %1$s: TIG notification period before travel starts', NULL,
     'Held by the Hub for an accepted travel booking, until the travel is cancelled or completed; '
     'the period is per destination.'),
    ('escort_unconfirmed', 'escort_unconfirmed',
     'the removal date: the earliest leave date at 00:00 Europe/London',
     'Removal %1$s: escorting not confirmed before the removal date', NULL,
     'Held by the Hub from the escort quote request until an escort booking is accepted or the '
     'escorting ends.');

INSERT INTO hublink.timer_kind_party VALUES
    ('response_sla', 'hub'), ('response_sla', 'tsp'), ('response_sla', 'esp'),
    ('quote_expiry', 'hub'), ('ticketing_deadline', 'hub'), ('refund_deadline', 'hub'),
    ('tig_notification', 'hub'), ('escort_unconfirmed', 'hub');

INSERT INTO hublink.timer_answer VALUES
    ('EscortQuoteRequest', 'EscortQuoteResponse%'),
    ('TravelQuoteRequest', 'TravelQuoteResponse%'),
    ('EscortBookingRequest', 'EscortBookingResponse%'),
    ('TravelBookingRequest', 'TravelBookingResponse%'),
    ('EscortAmendment', 'EscortUpdate.amendment-outcome'),
    ('TravelAmendment', 'TravelUpdate.amendment-outcome');

-- Default targets: an admin replaces them with the contract's (NFR 0005, 0006).
INSERT INTO hublink.timer_rule (kind, message_type, fire_offset, description) VALUES
    ('response_sla', 'EscortQuoteRequest', interval '24 hours', 'Default: a quote within a working day.'),
    ('response_sla', 'TravelQuoteRequest', interval '24 hours', 'Default: a quote within a working day.'),
    ('response_sla', 'EscortBookingRequest', interval '4 hours', 'Default: a booking answered within 4 hours.'),
    ('response_sla', 'TravelBookingRequest', interval '4 hours', 'Default: a booking answered within 4 hours.'),
    ('response_sla', 'EscortAmendment', interval '8 hours', 'Default: an amendment outcome within 8 hours.'),
    ('response_sla', 'TravelAmendment', interval '8 hours', 'Default: an amendment outcome within 8 hours.');
INSERT INTO hublink.timer_rule (kind, fire_offset, description) VALUES
    ('quote_expiry', interval '-2 hours', 'Default: two hours before the best quote lapses.'),
    ('ticketing_deadline', interval '-2 hours', 'Default: two hours before the ticketing deadline.'),
    ('refund_deadline', interval '-96 hours',
     'Default: a day before the refund cut-off of 72 hours before departure (the TSP''s '
     'expected_cancel_hours_before); set per provider from its fare rules.'),
    ('tig_notification', interval '-7 days', 'Default: seven days before departure; set per destination from the TIG.'),
    ('escort_unconfirmed', interval '-3 days', 'Default: three days before the removal date.');

-- --- from the state machine: requests and answers, escort quote requests, booking ----------

CREATE FUNCTION hublink.timer_on_transition() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    mtype  text := split_part(NEW.event, '.', 1);
    kind   hublink.message_type;
    a      hublink.timer_answer;
    anchor timestamptz;
    leave  date;
BEGIN
    -- Each message moves its booking machine (and, at the Hub, the removal machine too): act once.
    IF NEW.machine = 'removal' OR NEW.message_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO kind FROM hublink.message_type t WHERE t.message_type = mtype;
    -- A request: the SLA counts from when it was put on the queue (Appendix D).
    IF EXISTS (SELECT FROM hublink.timer_answer x WHERE x.request_type = mtype) THEN
        anchor := coalesce((SELECT i.enqueued_at FROM hublink.inbox i WHERE i.message_id = NEW.message_id),
                           (SELECT coalesce(o.sent_at, o.created_at) FROM hublink.outbox o
                             WHERE o.message_id = NEW.message_id),
                           now());
        PERFORM hublink.start_timer('response_sla', NEW.removal_id, NEW.machine, mtype, anchor, mtype,
                                    coalesce(nullif(kind.receiver_party, 'hub'), nullif(kind.sender_party, 'hub')),
                                    NEW.message_id, jsonb_build_object('requestMessageId', NEW.message_id));
    END IF;
    -- An answer stops the SLA of its request.
    FOR a IN SELECT * FROM hublink.timer_answer x WHERE NEW.event LIKE x.answer_event LOOP
        PERFORM hublink.cancel_timers(NEW.removal_id, 'response_sla', a.request_type,
                                      format('answered by %s %s', NEW.event, NEW.message_id));
    END LOOP;
    IF NEW.party <> 'hub' THEN
        RETURN NULL;
    END IF;
    -- Escorts are needed from the first escort quote request on.
    IF NEW.event = 'EscortQuoteRequest' AND NEW.direction = 'out' THEN
        SELECT r.earliest_leave_date INTO leave FROM hublink.removal r WHERE r.removal_id = NEW.removal_id;
        PERFORM hublink.start_timer('escort_unconfirmed', NEW.removal_id, NEW.machine, 'escorting',
                                    leave::timestamp AT TIME ZONE 'Europe/London', mtype, 'esp',
                                    NEW.message_id, jsonb_build_object('removalDate', leave));
    END IF;
    -- The quotes stop mattering once one is being booked, or new ones are asked for.
    IF NEW.direction = 'out' AND EXISTS (SELECT FROM hublink.timer_answer x WHERE x.request_type = mtype) THEN
        PERFORM hublink.cancel_timers(NEW.removal_id, 'quote_expiry', NULL,
                                      format('%s %s sent', NEW.event, NEW.message_id));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_transition() IS
    'Trigger on hublink.state_transition: a request with a response SLA (hublink.timer_answer) '
    'starts response_sla, counted from its enqueue time; its answer stops it. At the Hub, an '
    'escort quote request starts escort_unconfirmed, and any request sent stops quote_expiry '
    '(a booking is requested, or new quotes are).';
REVOKE ALL ON FUNCTION hublink.timer_on_transition() FROM PUBLIC;
CREATE TRIGGER timer_on_transition AFTER INSERT ON hublink.state_transition
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_transition();

-- A machine that reached a terminal state (cancelled, completed, unsuccessful) ends the timers
-- of that machine; the removal machine's end ends them all.
CREATE FUNCTION hublink.timer_on_removal_state() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m     text;
    state text;
BEGIN
    FOR m, state IN SELECT s.machine, to_jsonb(NEW) ->> hublink.state_column(s.machine)
                      FROM hublink.state_machine_states() s
                     WHERE s.terminal
                       AND s.state = to_jsonb(NEW) ->> hublink.state_column(s.machine)
                       AND s.state IS DISTINCT FROM to_jsonb(OLD) ->> hublink.state_column(s.machine) LOOP
        PERFORM hublink.cancel_timers(NEW.removal_id, NULL, NULL, format('the %s is %s', m, state),
                                      nullif(m, 'removal'));
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_removal_state() IS
    'Trigger on hublink.removal: when a machine reaches a terminal state (hublink.state_machine_states), '
    'cancels the pending timers of that machine, or of the whole removal for the removal machine.';
REVOKE ALL ON FUNCTION hublink.timer_on_removal_state() FROM PUBLIC;
CREATE TRIGGER timer_on_removal_state AFTER UPDATE OF state, escort_state, travel_state ON hublink.removal
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_removal_state();

-- --- from the domain rows -------------------------------------------------------------------

-- Each new quote re-arms the expiry timer on the best-value quote (hublink.removal_quotes).
CREATE FUNCTION hublink.timer_on_travel_quote() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    best record;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    SELECT q.travel_quote_reference, q.expires_at INTO best
      FROM hublink.removal r, hublink.removal_quotes(r.removal_reference) q
     WHERE r.removal_id = NEW.removal_id AND q.expires_at IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        PERFORM hublink.start_timer('quote_expiry', NEW.removal_id, 'travel', 'best-value quote',
                                    best.expires_at, 'TravelQuoteResponse', 'tsp', NULL,
                                    jsonb_build_object('travelQuoteReference', best.travel_quote_reference,
                                                       'expiresAt', best.expires_at));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_travel_quote() IS
    'Trigger on hublink.travel_quote at the Hub: (re)starts quote_expiry on the expiry of the '
    'best-value quote that can still be booked.';
REVOKE ALL ON FUNCTION hublink.timer_on_travel_quote() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_quote AFTER INSERT ON hublink.travel_quote
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_travel_quote();

-- The first departure of a travel quote's current itinerary.
CREATE FUNCTION hublink.timer_first_departure(p_removal_id bigint, p_travel_quote_reference text)
    RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT min(s.start_time) FROM hublink.travel_quote q
          JOIN hublink.itinerary_segment s ON s.travel_quote_id = q.travel_quote_id AND s.current
         WHERE q.removal_id = p_removal_id AND q.travel_quote_reference = p_travel_quote_reference;
    END;
COMMENT ON FUNCTION hublink.timer_first_departure(bigint, text) IS
    'The first departure of the current itinerary of a removal''s travel quote.';

CREATE FUNCTION hublink.timer_on_travel_booking() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q         hublink.travel_quote;
    departure timestamptz;
    facts     jsonb;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO q FROM hublink.travel_quote x
     WHERE x.removal_id = NEW.removal_id AND x.travel_quote_reference = NEW.travel_quote_reference;
    facts := jsonb_build_object('travelQuoteReference', NEW.travel_quote_reference,
                                'travelBookingId', NEW.travel_booking_id);
    IF TG_OP = 'INSERT' THEN
        PERFORM hublink.start_timer('ticketing_deadline', NEW.removal_id, 'travel', 'tickets',
                                    q.expires_at, 'TravelBookingRequest', 'tsp', NEW.request_message_id,
                                    facts || jsonb_build_object('expiresAt', q.expires_at));
    ELSIF NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'ACCEPTED' THEN
        departure := hublink.timer_first_departure(NEW.removal_id, NEW.travel_quote_reference);
        facts := facts || jsonb_build_object('firstDeparture', departure);
        IF coalesce(q.refundable, false) THEN
            PERFORM hublink.start_timer('refund_deadline', NEW.removal_id, 'travel', 'refund', departure,
                                        'TravelBookingResponse', 'tsp', NEW.response_message_id, facts);
        END IF;
        PERFORM hublink.start_timer('tig_notification', NEW.removal_id, 'travel', 'notification', departure,
                                    'TravelBookingResponse', 'tsp', NEW.response_message_id, facts);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_travel_booking() IS
    'Trigger on hublink.travel_booking at the Hub: a booking request starts ticketing_deadline '
    '(anchored at its quote''s expiry; a decline cancels it: hublink.timer_cancel_on_row); an '
    'acceptance starts refund_deadline (refundable fares only) and tig_notification, anchored at '
    'the first departure.';
REVOKE ALL ON FUNCTION hublink.timer_on_travel_booking() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_booking AFTER INSERT OR UPDATE OF outcome ON hublink.travel_booking
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_travel_booking();

-- A row that ends a timer's cause: a declined travel booking or a ticket (ticketing_deadline),
-- an accepted escort booking (escort_unconfirmed). One function; each trigger names the kind it
-- ends, the reason as a format() string and the columns of the new row that fill it, and says
-- in its WHEN which change of the row counts.
CREATE FUNCTION hublink.timer_cancel_on_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
BEGIN
    PERFORM hublink.cancel_timers(NEW.removal_id, TG_ARGV[0], NULL,
                                  format(TG_ARGV[1], VARIADIC ARRAY(SELECT r ->> c.name
                                                                      FROM unnest(TG_ARGV[2:]) WITH ORDINALITY c(name, n)
                                                                     ORDER BY c.n)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_cancel_on_row() IS
    'Trigger on a domain table whose new row ends the cause of a timer: cancels the removal''s '
    'pending timers of kind TG_ARGV[0] with the reason format(TG_ARGV[1], the row''s columns '
    'named by TG_ARGV[2..]).';
REVOKE ALL ON FUNCTION hublink.timer_cancel_on_row() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_booking_declined AFTER UPDATE OF outcome ON hublink.travel_booking
    FOR EACH ROW WHEN (NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'DECLINED')
    EXECUTE FUNCTION hublink.timer_cancel_on_row('ticketing_deadline', 'booking declined by %s',
                                                 'response_message_id');
COMMENT ON TRIGGER timer_on_travel_booking_declined ON hublink.travel_booking IS 'A declined travel booking ends ticketing_deadline.';
CREATE TRIGGER timer_on_ticket AFTER INSERT ON hublink.ticket
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_cancel_on_row('ticketing_deadline', 'ticket %s issued (%s)',
                                                              'ticket_number', 'message_id');
COMMENT ON TRIGGER timer_on_ticket ON hublink.ticket IS 'A ticket issued ends ticketing_deadline.';
CREATE TRIGGER timer_on_escort_booking AFTER UPDATE OF outcome ON hublink.escort_booking
    FOR EACH ROW WHEN (NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'ACCEPTED')
    EXECUTE FUNCTION hublink.timer_cancel_on_row('escort_unconfirmed', 'escort booking accepted (%s)',
                                                 'response_message_id');
COMMENT ON TRIGGER timer_on_escort_booking ON hublink.escort_booking IS 'An accepted escort booking ends escort_unconfirmed.';

-- A flight change moves the departure the refund and TIG timers count from.
CREATE FUNCTION hublink.timer_on_itinerary() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    departure timestamptz;
BEGIN
    SELECT hublink.timer_first_departure(q.removal_id, q.travel_quote_reference) INTO departure
      FROM hublink.travel_quote q WHERE q.travel_quote_id = NEW.travel_quote_id;
    -- A flight change retires the old segment before it inserts the new one: in between no
    -- segment is current, and the insert's own firing re-anchors the timers.
    IF departure IS NOT NULL THEN
        PERFORM hublink.reanchor_timer(x.timer_id, departure)
           FROM hublink.timer x JOIN hublink.travel_quote q
                ON q.removal_id = x.removal_id AND q.travel_quote_reference = x.detail ->> 'travelQuoteReference'
          WHERE q.travel_quote_id = NEW.travel_quote_id AND x.status = 'pending'
            AND x.detail ? 'firstDeparture';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_itinerary() IS
    'Trigger on hublink.itinerary_segment: after a flight change, the pending timers anchored at '
    'the first departure of that quote count from the new one.';
REVOKE ALL ON FUNCTION hublink.timer_on_itinerary() FROM PUBLIC;
CREATE TRIGGER timer_on_itinerary AFTER INSERT OR UPDATE OF current, start_time ON hublink.itinerary_segment
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_itinerary();

-- The broker's confirm is the moment the Hub's request was put on the queue (Appendix D).
CREATE FUNCTION hublink.timer_on_outbox_sent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.sent_at IS NOT NULL AND OLD.sent_at IS NULL THEN
        PERFORM hublink.reanchor_timer(t.timer_id, NEW.sent_at) FROM hublink.timer t
          WHERE t.cause_message_id = NEW.message_id AND t.status = 'pending' AND t.kind = 'response_sla';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_outbox_sent() IS
    'Trigger on hublink.outbox: when the broker confirms a request, its response SLA counts from '
    'that moment (Schedule R Appendix D) instead of from the outbox row''s creation.';
REVOKE ALL ON FUNCTION hublink.timer_on_outbox_sent() FROM PUBLIC;
CREATE TRIGGER timer_on_outbox_sent AFTER UPDATE OF sent_at ON hublink.outbox
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_outbox_sent();

-- from sql/parts/85_mi_config.sql
-- Management information (issue 7, section 2; seed "Management and Business Information
-- Reporting"; Schedule R GSO 8, SEC 019 c; Appendix D): the rules the MI views read, as rows.
-- The views themselves are in 86_mi_views.sql, the exports in 87_mi_export.sql (docs/mi.md).

CREATE TABLE hublink.reporting_config (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone text NOT NULL DEFAULT 'Europe/London'
              CHECK (timestamptz '2000-01-01 00:00+00' AT TIME ZONE time_zone IS NOT NULL)
);
COMMENT ON TABLE hublink.reporting_config IS
    'One row: how the MI views cut time into days, weeks and months.';
COMMENT ON COLUMN hublink.reporting_config.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.reporting_config.time_zone IS
    'The time zone whose calendar days, ISO weeks (Monday) and months the MI views report in '
    '(an IANA name; the session''s TimeZone is not used, so every reader sees the same figures).';
INSERT INTO hublink.reporting_config DEFAULT VALUES;

CREATE TABLE hublink.report_granularity (
    granularity text PRIMARY KEY CHECK (date_trunc(granularity, timestamp '2000-01-01') IS NOT NULL),
    description text NOT NULL
);
COMMENT ON TABLE hublink.report_granularity IS
    'The periods hublink.mi_volume counts in (each a date_trunc field).';
COMMENT ON COLUMN hublink.report_granularity.granularity IS 'A date_trunc field name.';
COMMENT ON COLUMN hublink.report_granularity.description IS 'What the period is.';
INSERT INTO hublink.report_granularity VALUES
    ('day', 'A calendar day in the reporting time zone.'),
    ('week', 'An ISO week, Monday to Sunday, in the reporting time zone.'),
    ('month', 'A calendar month in the reporting time zone.');

-- SLAs: the response-time targets and which answer stops which request are the timers' rules
-- (hublink.timer_rule kind response_sla, hublink.timer_answer in 80_timers.sql): one source, so
-- hublink.mi_sla_compliance counts a breach exactly where a response_sla timer fires.

-- Cancellations are counted by how long before the booked departure they came.
CREATE TABLE hublink.lead_time_band (
    band        text PRIMARY KEY CHECK (band ~ '^[a-z0-9_]+$'),
    from_hours  numeric,
    to_hours    numeric,
    description text NOT NULL,
    CHECK (from_hours IS NULL OR to_hours IS NULL OR from_hours < to_hours)
);
COMMENT ON TABLE hublink.lead_time_band IS
    'Bands of lead time (hours between an event and the booked departure) that '
    'hublink.mi_volume counts cancellations in: from_hours inclusive, to_hours exclusive, '
    'NULL meaning unbounded. The bands should not overlap.';
COMMENT ON COLUMN hublink.lead_time_band.band IS 'Name of the band, as reported.';
COMMENT ON COLUMN hublink.lead_time_band.from_hours IS 'Lower bound in hours (inclusive); NULL for no lower bound.';
COMMENT ON COLUMN hublink.lead_time_band.to_hours IS 'Upper bound in hours (exclusive); NULL for no upper bound.';
COMMENT ON COLUMN hublink.lead_time_band.description IS 'What the band means.';
INSERT INTO hublink.lead_time_band VALUES
    ('after_departure', NULL, 0, 'At or after the booked departure.'),
    ('under_24h', 0, 24, 'Less than 24 hours before departure.'),
    ('1_to_3_days', 24, 72, 'One to three days before departure.'),
    ('3_to_7_days', 72, 168, 'Three to seven days before departure.'),
    ('7_days_or_more', 168, NULL, 'A week or more before departure.');

-- Refunds are announced by the providers in the financial section of their updates (4.10,
-- 4.12: hublink.financial_consequence); the interface does not say when the money arrives,
-- so finance records receipts here.
CREATE TABLE hublink.refund_receipt (
    refund_receipt_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    financial_consequence_id bigint NOT NULL REFERENCES hublink.financial_consequence ON DELETE CASCADE,
    amount                   numeric(14,2) NOT NULL CHECK (amount > 0),
    currency                 char(3) NOT NULL,
    received_at              timestamptz NOT NULL DEFAULT now(),
    recorded_by              text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.refund_receipt IS
    'Money received against a refund a provider announced (hublink.financial_consequence of '
    'kind refund), recorded by finance; hublink.mi_money compares them.';
COMMENT ON COLUMN hublink.refund_receipt.refund_receipt_id IS 'Internal key.';
COMMENT ON COLUMN hublink.refund_receipt.financial_consequence_id IS 'The refund announced.';
COMMENT ON COLUMN hublink.refund_receipt.amount IS 'Amount received.';
COMMENT ON COLUMN hublink.refund_receipt.currency IS 'ISO 4217 currency of amount.';
COMMENT ON COLUMN hublink.refund_receipt.received_at IS 'When the money arrived.';
COMMENT ON COLUMN hublink.refund_receipt.recorded_by IS 'Who recorded it.';
CREATE INDEX refund_receipt_consequence ON hublink.refund_receipt (financial_consequence_id);

SELECT pg_catalog.pg_extension_config_dump('hublink.reporting_config', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.lead_time_band', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.refund_receipt', '');

GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.reporting_config, hublink.lead_time_band TO hublink_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.refund_receipt TO hublink_admin;

-- Indexes the MI views use on large histories (test/bench/mi).
CREATE INDEX inbox_mi_response ON hublink.inbox (removal_id, message_type, enqueued_at)
    WHERE status <> 'rejected';
COMMENT ON INDEX hublink.inbox_mi_response IS
    'hublink.mi_sla_compliance: the first response of a type for a removal after a request.';
CREATE INDEX outbox_mi_request ON hublink.outbox (message_type, sent_at) INCLUDE (removal_id)
    WHERE sent_at IS NOT NULL;
COMMENT ON INDEX hublink.outbox_mi_request IS 'hublink.mi_sla_compliance: the requests sent, by type.';
CREATE INDEX state_transition_message ON hublink.state_transition (message_id) WHERE message_id IS NOT NULL;
COMMENT ON INDEX hublink.state_transition_message IS
    'hublink.mi_sla_compliance: the event a response was (an amendment''s outcome among the updates).';
CREATE INDEX travel_quote_response_quotes ON hublink.travel_quote (travel_quote_response_id);
COMMENT ON INDEX hublink.travel_quote_response_quotes IS
    'The quotes of one response (hublink.mi_best_value compares them).';
CREATE INDEX itinerary_segment_quote ON hublink.itinerary_segment (travel_quote_id) WHERE current;
COMMENT ON INDEX hublink.itinerary_segment_quote IS 'The current itinerary of a quote (its departure).';
CREATE INDEX escort_segment_removal ON hublink.escort_segment (removal_id) WHERE current;
COMMENT ON INDEX hublink.escort_segment_removal IS 'The current escort segments of a removal (escort start).';
CREATE INDEX travel_booking_removal ON hublink.travel_booking (removal_id);
COMMENT ON INDEX hublink.travel_booking_removal IS 'The travel bookings of a removal (the one booked last before an event).';
CREATE INDEX escort_booking_removal ON hublink.escort_booking (removal_id);
COMMENT ON INDEX hublink.escort_booking_removal IS 'The escort bookings of a removal.';
CREATE INDEX financial_consequence_removal ON hublink.financial_consequence (removal_id);
COMMENT ON INDEX hublink.financial_consequence_removal IS 'The refunds and fees of a removal.';

-- Statistics for the small rule tables, so that the planner knows they are small from the
-- start (without them it assumes hundreds of rows, and the MI views' estimates, multiplied
-- through the joins, become large enough to make JIT compile them for seconds).
ANALYZE hublink.reporting_config, hublink.report_granularity, hublink.lead_time_band, hublink.timer_rule,
    hublink.timer_answer;

-- from sql/parts/85_mi_rollup.sql
-- The MI rollup (issue 7 section 4, the one-second aim of test/bench/mi; docs/mi.md "The
-- rollup"): the MI views of 86_mi_views.sql read per-day and per-month aggregates for the days
-- a worker job has folded, and compute the rest live from the source tables, so that a view
-- reads ten years of history as a few thousand rows and its answer is still exactly the live
-- computation.
--
--   * hublink.rollup_mi_state: up to which day the rollup is folded (folded_until), in which
--     time zone and with which lead-time bands (the configuration the figures depend on);
--   * hublink.rollup_mi_dirty_day: days already folded whose source rows changed since (a late
--     message, an update, a delete): statement triggers on every source table mark them, and
--     the views compute them live until the job folds them again;
--   * hublink.rollup_mi_<view>_* views: the live definitions, one row per event / booking /
--     removal with the instant that decides its period (the facts), and the live aggregates of
--     the days or months the rollup does not cover (the *_live views);
--   * hublink.rollup_mi_fold(): the job; it folds ended days from the watermark and re-folds
--     the marked ones. It stores what the *_live views compute, so both can never differ.
--
-- Nothing here holds personal data: counts, sums and percentiles per day or month. The tables
-- and views are of access class own_grants (91_access_policy.sql): no role but the owner reads
-- them; reporting reads them through the mi_* views, with the owner's rights.

CREATE TABLE hublink.rollup_mi_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone    text,
    config       text,
    folded_until date,
    horizon_at   timestamptz,
    horizon_xmax xid8
);
COMMENT ON TABLE hublink.rollup_mi_state IS
    'One row: how far the MI rollup is folded (docs/mi.md "The rollup"). Written only by '
    'hublink.rollup_mi_fold().';
COMMENT ON COLUMN hublink.rollup_mi_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.rollup_mi_state.time_zone IS
    'hublink.reporting_config.time_zone when the rollup was folded; another one makes the views '
    'ignore the rollup until the job rebuilds it.';
COMMENT ON COLUMN hublink.rollup_mi_state.config IS
    'The rest of the configuration the folded figures depend on (the lead-time bands, as text), '
    'compared like time_zone.';
COMMENT ON COLUMN hublink.rollup_mi_state.folded_until IS
    'Days before this one (reporting time zone) are folded; NULL: nothing is.';
COMMENT ON COLUMN hublink.rollup_mi_state.horizon_at IS
    'When the job last looked at the clock: a day that had ended by then is folded once every '
    'transaction running then has ended (horizon_xmax).';
COMMENT ON COLUMN hublink.rollup_mi_state.horizon_xmax IS
    'pg_snapshot_xmax just after horizon_at: when the oldest running transaction is newer, '
    'every row written for the days ended by horizon_at is committed or marked.';
INSERT INTO hublink.rollup_mi_state DEFAULT VALUES;

CREATE TABLE hublink.rollup_mi_dirty_day (
    day     date NOT NULL,
    claimed boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE hublink.rollup_mi_dirty_day IS
    'Days (reporting time zone) whose source rows changed after the day ended: the MI views '
    'compute them (and their months) live instead of reading the rollup, until '
    'hublink.rollup_mi_fold() folds them again. Duplicates are allowed (no writer waits for '
    'another).';
COMMENT ON COLUMN hublink.rollup_mi_dirty_day.day IS 'The day.';
COMMENT ON COLUMN hublink.rollup_mi_dirty_day.claimed IS
    'Set by the fold that is re-folding the day, which deletes the claimed marks when it is done; '
    'a mark written during the fold stays unclaimed, so the day stays live.';
CREATE INDEX rollup_mi_dirty_day_day ON hublink.rollup_mi_dirty_day (day);

CREATE TABLE hublink.rollup_mi_volume_day (
    day            date NOT NULL,
    measure        text NOT NULL,
    booking        text,
    reason_code    text,
    lead_time_band text,
    count          bigint NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_volume_day IS
    'hublink.mi_volume folded per day: the events of each day counted by measure, booking, reason '
    'and band (hublink.rollup_mi_volume_live for the folded days).';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.day IS 'The day (reporting time zone).';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.count IS 'How many that day.';
CREATE INDEX rollup_mi_volume_day_day ON hublink.rollup_mi_volume_day (day);

CREATE TABLE hublink.rollup_mi_volume_period (
    granularity    text NOT NULL,
    period_start   date NOT NULL,
    measure        text NOT NULL,
    booking        text,
    reason_code    text,
    lead_time_band text,
    count          bigint NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_volume_period IS
    'hublink.mi_volume folded per period longer than a day (weeks, months: hublink.rollup_mi_granularity), '
    'for the periods whose every day is folded: the sums of hublink.rollup_mi_volume_day.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.granularity IS 'As hublink.mi_volume.granularity.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.period_start IS 'As hublink.mi_volume.period_start.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.count IS 'How many in the period.';
CREATE INDEX rollup_mi_volume_period_start ON hublink.rollup_mi_volume_period (granularity, period_start);

-- --- the reporting window: what is folded, and what the views compute live --------------------
-- A field of a day or less gives every day a period of its own, dated the day (the date of a
-- finer period is its day's): mi_volume's rows for it are the day's rows. Longer ones are
-- summed. The probe is a mid-week, mid-month afternoon: it truncates to its own day only for
-- fields of a day or less.
CREATE VIEW hublink.rollup_mi_granularity AS
SELECT g.granularity,
       date_trunc(g.granularity, timestamp '2001-02-14 12:00') >= timestamp '2001-02-14' AS daily
  FROM hublink.report_granularity g;
COMMENT ON VIEW hublink.rollup_mi_granularity IS
    'The periods of hublink.mi_volume (hublink.report_granularity), and whether each is a day or less.';
COMMENT ON COLUMN hublink.rollup_mi_granularity.granularity IS 'The date_trunc field.';
COMMENT ON COLUMN hublink.rollup_mi_granularity.daily IS 'True for a day or less: the period of an event is its day.';

-- The configuration the folded figures depend on besides the time zone.
CREATE VIEW hublink.rollup_mi_config AS
SELECT c.time_zone,
       (SELECT string_agg(l::text, ';' ORDER BY l.band) FROM hublink.lead_time_band l)
       || ' ' || (SELECT string_agg(g.granularity, ';' ORDER BY g.granularity) FROM hublink.report_granularity g)
       AS config
  FROM hublink.reporting_config c;
COMMENT ON VIEW hublink.rollup_mi_config IS
    'The configuration the MI rollup depends on now: the reporting time zone, the lead-time '
    'bands and the granularities (as text).';
COMMENT ON COLUMN hublink.rollup_mi_config.time_zone IS 'hublink.reporting_config.time_zone.';
COMMENT ON COLUMN hublink.rollup_mi_config.config IS 'The lead-time bands and the granularities, as text.';

CREATE VIEW hublink.rollup_mi_window AS
SELECT c.time_zone,
       CASE WHEN s.time_zone = c.time_zone AND s.config = c.config THEN s.folded_until END AS folded_until,
       CASE WHEN s.time_zone = c.time_zone AND s.config = c.config
            THEN date_trunc('month', s.folded_until::timestamp)::date END AS months_until
  FROM hublink.rollup_mi_config c CROSS JOIN hublink.rollup_mi_state s;
COMMENT ON VIEW hublink.rollup_mi_window IS
    'One row: the days and months the MI rollup may be read for (before folded_until and '
    'months_until, less the dirty ones); NULL when nothing is folded or the configuration changed.';
COMMENT ON COLUMN hublink.rollup_mi_window.time_zone IS 'The reporting time zone.';
COMMENT ON COLUMN hublink.rollup_mi_window.folded_until IS 'Days before this one are folded.';
COMMENT ON COLUMN hublink.rollup_mi_window.months_until IS 'Months before this one are folded (whole months).';

CREATE VIEW hublink.rollup_mi_live_day AS
SELECT DISTINCT d.day
  FROM hublink.rollup_mi_dirty_day d CROSS JOIN hublink.rollup_mi_window w
 WHERE d.day < w.folded_until;
COMMENT ON VIEW hublink.rollup_mi_live_day IS 'Folded days that the MI views compute live (marked dirty).';
COMMENT ON COLUMN hublink.rollup_mi_live_day.day IS 'The day.';

CREATE VIEW hublink.rollup_mi_live_month AS
SELECT DISTINCT date_trunc('month', d.day::timestamp)::date AS month
  FROM hublink.rollup_mi_live_day d;
COMMENT ON VIEW hublink.rollup_mi_live_month IS 'Folded months that the MI views compute live (a dirty day in them).';
COMMENT ON COLUMN hublink.rollup_mi_live_month.month IS 'First day of the month.';

-- The instants [lo, hi) whose events the views compute live: the dirty days (or months) and
-- everything from the watermark on (from -infinity when nothing is folded).
CREATE VIEW hublink.rollup_mi_live_range_day AS
SELECT coalesce(w.folded_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT d.day::timestamp AT TIME ZONE w.time_zone, (d.day + 1)::timestamp AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_live_day d CROSS JOIN hublink.rollup_mi_window w;
COMMENT ON VIEW hublink.rollup_mi_live_range_day IS
    'The instants the day-based MI rollup does not cover: the dirty days and the days from the watermark on.';
COMMENT ON COLUMN hublink.rollup_mi_live_range_day.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_live_range_day.hi IS 'To (exclusive).';

CREATE VIEW hublink.rollup_mi_live_range_month AS
SELECT coalesce(w.months_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT m.month::timestamp AT TIME ZONE w.time_zone, (m.month + interval '1 month') AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_live_month m CROSS JOIN hublink.rollup_mi_window w
 WHERE m.month < w.months_until;
COMMENT ON VIEW hublink.rollup_mi_live_range_month IS
    'The instants the month-based MI rollups do not cover: the months with a dirty day and the '
    'months from the watermark''s on.';
COMMENT ON COLUMN hublink.rollup_mi_live_range_month.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_live_range_month.hi IS 'To (exclusive).';

-- Indexes that find the events of a range of instants (the live part of every view).
CREATE INDEX removal_mi_created ON hublink.removal (created_at);
CREATE INDEX state_transition_mi_at ON hublink.state_transition (at);
CREATE INDEX escort_quote_response_mi_received ON hublink.escort_quote_response (received_at);
CREATE INDEX travel_quote_response_mi_received ON hublink.travel_quote_response (received_at);
CREATE INDEX escort_booking_mi_requested ON hublink.escort_booking (requested_at);
CREATE INDEX escort_booking_mi_responded ON hublink.escort_booking (responded_at);
CREATE INDEX travel_booking_mi_requested ON hublink.travel_booking (requested_at);
CREATE INDEX travel_booking_mi_responded ON hublink.travel_booking (responded_at);
CREATE INDEX amendment_mi_sent ON hublink.amendment (sent_at);
CREATE INDEX cancellation_mi_cancelled ON hublink.cancellation (cancelled_at);
CREATE INDEX cancellation_mi_removal ON hublink.cancellation (removal_id);
CREATE INDEX financial_consequence_mi_recorded ON hublink.financial_consequence (recorded_at);
CREATE INDEX refund_receipt_mi_received ON hublink.refund_receipt (received_at);
CREATE INDEX escort_quote_mi_response ON hublink.escort_quote (escort_quote_response_id);
COMMENT ON INDEX hublink.removal_mi_created IS 'MI rollup: removals created in a range of instants.';
COMMENT ON INDEX hublink.state_transition_mi_at IS 'MI rollup: transitions in a range of instants.';
COMMENT ON INDEX hublink.escort_quote_response_mi_received IS 'MI rollup: escort quotes received in a range.';
COMMENT ON INDEX hublink.travel_quote_response_mi_received IS 'MI rollup: travel quotes received in a range.';
COMMENT ON INDEX hublink.escort_booking_mi_requested IS 'MI rollup: escort booking requests in a range.';
COMMENT ON INDEX hublink.escort_booking_mi_responded IS 'MI rollup: escort booking responses in a range.';
COMMENT ON INDEX hublink.travel_booking_mi_requested IS 'MI rollup: travel booking requests in a range.';
COMMENT ON INDEX hublink.travel_booking_mi_responded IS 'MI rollup: travel booking responses in a range.';
COMMENT ON INDEX hublink.amendment_mi_sent IS 'MI rollup: amendments sent in a range.';
COMMENT ON INDEX hublink.cancellation_mi_cancelled IS 'MI rollup: cancellations in a range.';
COMMENT ON INDEX hublink.cancellation_mi_removal IS 'MI rollup: the cancellations of a removal (the days a change to it touches).';
COMMENT ON INDEX hublink.financial_consequence_mi_recorded IS 'MI rollup: refunds and fees announced in a range.';
COMMENT ON INDEX hublink.refund_receipt_mi_received IS 'MI rollup: refunds received in a range.';
COMMENT ON INDEX hublink.escort_quote_mi_response IS
    'MI rollup: the escort quotes of the responses received in a range (without it, every live day '
    'of hublink.mi_volume read the whole table).';

-- from sql/parts/86_mi_views.sql
-- The MI views (issue 7, section 2; docs/mi.md documents every column). Rules:
--   * names hublink.mi_*: the reporting role is granted SELECT on exactly these views;
--   * plain views (not security_invoker), owned by the extension owner, calling no function
--     that reads a table, so they work for a role that cannot read the base tables;
--   * no personal data: no column of a table or column whose COMMENT starts "PERSONAL DATA:"
--     is read (test/sql/85_mi_views.sql checks the dependencies);
--   * periods are calendar days, ISO weeks and months of hublink.reporting_config.time_zone,
--     given as a date; instants are timestamptz; durations are numeric seconds or hours;
--     money is numeric with its currency.

-- --- SLA compliance (Appendix D) ---------------------------------------------------------------
-- One source with the timers (docs/timers.md): a request has an SLA when hublink.timer_answer
-- names its type; its target is the fire_offset of the response_sla rule that
-- hublink.timer_rule_for would choose for it (most specific by destination, then provider, then
-- message type; none, or a disabled one, means no SLA), written out here because an MI view
-- calls no function that reads a table (test/sql/85_mi_views.sql checks that they agree). The
-- removal's destination is looked up only for destination rules, so without them the view
-- reads no removal row. A request is on its queue when the broker confirmed it
-- (hublink.outbox.sent_at); its response is the first message of the Hub's inbox, not
-- rejected, for the same removal, enqueued (hublink.inbox.enqueued_at, the AMQP timestamp in
-- whole seconds) not before the request's second, whose event matches an answer_event of the
-- request type, as the timer's cancel does. The event is the one the state machine recorded for
-- the message (hublink.state_transition; the inbox keeps only the envelope, the body is sealed),
-- looked up only for patterns narrower than every event of the answer type (an amendment's
-- outcome among the updates). A request sent twice before one response is answered by it twice.
CREATE VIEW hublink.mi_sla_compliance AS
WITH pairing AS (
    SELECT a.request_type, string_agg(DISTINCT a.answer_type, ' ') AS response_type
      FROM hublink.timer_answer a
     GROUP BY a.request_type
), request AS (
    SELECT o.message_type AS request_type, p.response_type, g.provider, g.fire_offset AS target,
           o.sent_at,
           (date_trunc('month', o.sent_at AT TIME ZONE c.time_zone))::date AS month,
           a.answered_at
      FROM pairing p
      JOIN hublink.message_type m ON m.message_type = p.request_type
      JOIN hublink.outbox o ON o.message_type = p.request_type AND o.sent_at IS NOT NULL
     CROSS JOIN hublink.reporting_config c
     CROSS JOIN LATERAL (
           SELECT coalesce(nullif(m.receiver_party, 'hub'), nullif(m.sender_party, 'hub')) AS provider) v
     -- the rule of hublink.timer_rule_for: lateral, once per request
     CROSS JOIN LATERAL (
           SELECT v.provider, r.fire_offset, r.enabled
             FROM hublink.timer_rule r
            WHERE r.kind = 'response_sla'
              AND (r.message_type IS NULL OR r.message_type = o.message_type)
              AND (r.provider IS NULL OR r.provider = v.provider)
              AND (r.destination IS NULL
                   OR r.destination = (SELECT d.destination ->> 'country' FROM hublink.removal d
                                        WHERE d.removal_reference = o.removal_id))
            ORDER BY r.destination IS NULL, r.provider IS NULL, r.message_type IS NULL
            LIMIT 1) g
     -- a lateral join, not a scalar subquery: the answer is looked up once per request, however
     -- many aggregates read it
     CROSS JOIN LATERAL (
           SELECT min(i.enqueued_at) AS answered_at
             FROM hublink.timer_answer x
             JOIN hublink.inbox i ON i.removal_id = o.removal_id AND i.message_type = x.answer_type
                                 AND i.status <> 'rejected'
                                 AND i.enqueued_at >= date_trunc('second', o.sent_at)
            WHERE x.request_type = o.message_type
              AND (x.answer_event = x.answer_type || '%'
                   OR EXISTS (SELECT FROM hublink.state_transition s
                               WHERE s.message_id = i.message_id AND s.event LIKE x.answer_event))) a
     WHERE g.enabled
), timed AS (
    SELECT r.*,
           CASE WHEN r.answered_at IS NOT NULL
                THEN greatest(extract(epoch FROM r.answered_at - r.sent_at), 0) END AS seconds,
           round(extract(epoch FROM r.target), 3) AS target_seconds
      FROM request r
)
SELECT x.month, x.request_type, x.response_type, x.provider,
       x.target_seconds,
       count(*) AS requests,
       count(x.answered_at) AS answered,
       count(*) FILTER (WHERE x.answered_at IS NULL) AS unanswered,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS median_response_seconds,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS p95_response_seconds,
       round(max(x.seconds), 3) AS max_response_seconds,
       count(*) FILTER (WHERE x.seconds > x.target_seconds) AS late_responses,
       count(*) FILTER (WHERE x.answered_at IS NULL AND now() - x.sent_at > x.target) AS open_breaches,
       count(*) FILTER (WHERE x.seconds > x.target_seconds
                           OR (x.answered_at IS NULL AND now() - x.sent_at > x.target)) AS breaches,
       round(100.0 * count(*) FILTER (WHERE x.seconds <= x.target_seconds)
             / nullif(count(*) FILTER (WHERE x.answered_at IS NOT NULL OR now() - x.sent_at > x.target), 0),
             2) AS within_target_percent
  FROM timed x
 GROUP BY GROUPING SETS ((x.request_type, x.response_type, x.provider, x.target_seconds),
                         (x.month, x.request_type, x.response_type, x.provider, x.target_seconds));
COMMENT ON VIEW hublink.mi_sla_compliance IS
    'Response-time SLA compliance per request message type and provider (Appendix D: from the '
    'request put on its queue to the response put on the Hub''s queue), per month of the '
    'request and over the whole history (month NULL), against the target of the response_sla '
    'timer rule (hublink.timer_rule) and the answers of hublink.timer_answer, as the timers count.';
COMMENT ON COLUMN hublink.mi_sla_compliance.month IS 'First day of the month the requests were sent; NULL on the whole-history row.';
COMMENT ON COLUMN hublink.mi_sla_compliance.request_type IS 'The request message type (hublink.timer_answer).';
COMMENT ON COLUMN hublink.mi_sla_compliance.response_type IS
    'The response message type that answers it (hublink.timer_answer.answer_type; several, space-separated, '
    'if its answers are of several types).';
COMMENT ON COLUMN hublink.mi_sla_compliance.provider IS 'The party that must answer: esp or tsp.';
COMMENT ON COLUMN hublink.mi_sla_compliance.target_seconds IS
    'The SLA target in seconds: the fire_offset of the most specific enabled response_sla timer rule '
    '(a rule per destination gives its requests a row of their own).';
COMMENT ON COLUMN hublink.mi_sla_compliance.requests IS 'Requests put on their queue (confirmed by the broker).';
COMMENT ON COLUMN hublink.mi_sla_compliance.answered IS 'Requests with a response.';
COMMENT ON COLUMN hublink.mi_sla_compliance.unanswered IS 'Requests without a response yet.';
COMMENT ON COLUMN hublink.mi_sla_compliance.median_response_seconds IS 'Median seconds from request enqueued to response enqueued (answered requests; continuous percentile).';
COMMENT ON COLUMN hublink.mi_sla_compliance.p95_response_seconds IS '95th percentile of the same (continuous percentile, interpolated).';
COMMENT ON COLUMN hublink.mi_sla_compliance.max_response_seconds IS 'Longest response time.';
COMMENT ON COLUMN hublink.mi_sla_compliance.late_responses IS 'Responses that came after the target.';
COMMENT ON COLUMN hublink.mi_sla_compliance.open_breaches IS 'Requests still unanswered and older than the target now.';
COMMENT ON COLUMN hublink.mi_sla_compliance.breaches IS 'late_responses plus open_breaches.';
COMMENT ON COLUMN hublink.mi_sla_compliance.within_target_percent IS
    'Responses within the target as a percentage of the requests that are decided (answered, or unanswered past the target).';

-- --- end-to-end times (Schedule R GSO 8) -------------------------------------------------------
-- A removal request starts when the Hub creates it; it is booked the first time the removal
-- machine enters booked (BookingsConfirmed); it departs at the first current segment of the
-- travel booked last, counted for completed removals only.
-- One row per removal with its times; the LATERAL joins are the original's per-removal CTEs
-- (booked: the first entry into booked; the travel booked last of a completed removal and
-- its first current segment), so that a range of removals reads only their rows.
CREATE VIEW hublink.rollup_mi_end_to_end_removal AS
SELECT r.created_at,
       extract(epoch FROM b.booked_at - r.created_at) / 3600 AS hours_to_booked,
       extract(epoch FROM d.departs_at - r.created_at) / 3600 AS hours_to_departure
  FROM hublink.removal r
 CROSS JOIN LATERAL (
       SELECT min(s.at) AS booked_at
         FROM hublink.state_transition s
        WHERE s.removal_id = r.removal_id
          AND s.machine = 'removal' AND s.to_state = 'booked' AND s.from_state <> s.to_state) b
 CROSS JOIN LATERAL (
       SELECT min(g.start_time) AS departs_at
         FROM (SELECT q.travel_quote_id
                 FROM hublink.travel_booking tb
                 JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                            AND q.travel_quote_reference = tb.travel_quote_reference
                WHERE tb.removal_id = r.removal_id AND tb.outcome = 'ACCEPTED' AND r.state = 'completed'
                ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
                LIMIT 1) l
         JOIN hublink.itinerary_segment g ON g.travel_quote_id = l.travel_quote_id AND g.current) d;
COMMENT ON VIEW hublink.rollup_mi_end_to_end_removal IS
    'Every removal with its end-to-end times (the live definition of hublink.mi_end_to_end).';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.created_at IS 'When the removal was created (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.hours_to_booked IS 'Hours from the request to booked.';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.hours_to_departure IS 'Hours from the request to the first departure (completed removals).';

CREATE VIEW hublink.rollup_mi_end_to_end_live AS
SELECT (date_trunc('month', j.created_at AT TIME ZONE w.time_zone))::date AS month,
       count(*) AS removal_requests,
       count(j.hours_to_booked) AS booked,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS median_hours_to_booked,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS p95_hours_to_booked,
       round(avg(j.hours_to_booked), 2) AS mean_hours_to_booked,
       count(j.hours_to_departure) AS departed,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS median_hours_to_departure,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS p95_hours_to_departure,
       round(avg(j.hours_to_departure), 2) AS mean_hours_to_departure
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_end_to_end_removal y
                             WHERE y.created_at >= l.lo AND y.created_at < l.hi OFFSET 0) v) j
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_end_to_end_month (LIKE hublink.rollup_mi_end_to_end_live);

CREATE VIEW hublink.mi_end_to_end AS
SELECT r.* FROM hublink.rollup_mi_end_to_end_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_end_to_end_live v;
COMMENT ON VIEW hublink.mi_end_to_end IS
    'End-to-end transaction times (Schedule R GSO 8) per month of the removal request: from '
    'the request to both bookings confirmed, and to departure for completed removals.';
COMMENT ON COLUMN hublink.mi_end_to_end.month IS 'First day of the month the removal requests were created.';
COMMENT ON COLUMN hublink.mi_end_to_end.removal_requests IS 'Removal requests created.';
COMMENT ON COLUMN hublink.mi_end_to_end.booked IS 'Of them, those that reached booked (every booking confirmed).';
COMMENT ON COLUMN hublink.mi_end_to_end.median_hours_to_booked IS 'Median hours from the request to booked.';
COMMENT ON COLUMN hublink.mi_end_to_end.p95_hours_to_booked IS '95th percentile of the same (continuous).';
COMMENT ON COLUMN hublink.mi_end_to_end.mean_hours_to_booked IS 'Mean of the same.';
COMMENT ON COLUMN hublink.mi_end_to_end.departed IS 'Of them, those completed (departed and carried out).';
COMMENT ON COLUMN hublink.mi_end_to_end.median_hours_to_departure IS 'Median hours from the request to the first departure of the travel booked.';
COMMENT ON COLUMN hublink.mi_end_to_end.p95_hours_to_departure IS '95th percentile of the same (continuous).';
COMMENT ON COLUMN hublink.mi_end_to_end.mean_hours_to_departure IS 'Mean of the same.';

-- --- volumes ----------------------------------------------------------------------------------
-- One row per period, measure, booking kind, reason and lead-time band with a count. Each
-- event is read from the domain table that records it; the lead time of a cancellation is
-- the time to the first departure of the travel booked (accepted) before it.
-- The events, one row each with the instant that decides its period (the live definition;
-- 85_mi_rollup.sql): the rollup folds them per day, the view counts the rest live.
CREATE VIEW hublink.rollup_mi_volume_event AS
SELECT 'removal_requests'::text AS measure, NULL::text AS booking, NULL::text AS reason_code,
       NULL::text AS lead_time_band, r.created_at AS at
  FROM hublink.removal r
UNION ALL
SELECT 'quote_requests', s.machine, NULL, NULL, s.at
  FROM hublink.state_transition s
 WHERE s.machine <> 'removal' AND s.direction = 'out' AND s.event ~ 'QuoteRequest$'
UNION ALL
SELECT 'quotes', 'escort', NULL, NULL, p.received_at
  FROM hublink.escort_quote q JOIN hublink.escort_quote_response p USING (escort_quote_response_id)
UNION ALL
SELECT 'quotes', 'travel', NULL, NULL, p.received_at
  FROM hublink.travel_quote q JOIN hublink.travel_quote_response p USING (travel_quote_response_id)
UNION ALL
SELECT 'no_quotes', 'travel', p.no_quote_reason_code, NULL, p.received_at
  FROM hublink.travel_quote_response p
 WHERE p.no_quote_reason_code IS NOT NULL
   AND NOT EXISTS (SELECT FROM hublink.travel_quote q
                    WHERE q.travel_quote_response_id = p.travel_quote_response_id)
UNION ALL
SELECT 'booking_requests', 'escort', NULL, NULL, b.requested_at FROM hublink.escort_booking b
UNION ALL
SELECT 'booking_requests', 'travel', NULL, NULL, b.requested_at FROM hublink.travel_booking b
UNION ALL
SELECT CASE b.outcome WHEN 'ACCEPTED' THEN 'bookings' ELSE 'declines' END, 'escort',
       b.decline_reason_code, NULL, b.responded_at
  FROM hublink.escort_booking b WHERE b.outcome IS NOT NULL
UNION ALL
SELECT CASE b.outcome WHEN 'ACCEPTED' THEN 'bookings' ELSE 'declines' END, 'travel',
       b.decline_reason_code, NULL, b.responded_at
  FROM hublink.travel_booking b WHERE b.outcome IS NOT NULL
UNION ALL
SELECT 'amendments', a.booking, NULL, NULL, a.sent_at FROM hublink.amendment a
UNION ALL
SELECT 'cancellations', x.booking, x.reason_code,
       (SELECT l.band FROM hublink.lead_time_band l
         WHERE (l.from_hours IS NULL OR d.hours >= l.from_hours)
           AND (l.to_hours IS NULL OR d.hours < l.to_hours)
         ORDER BY l.from_hours NULLS FIRST LIMIT 1),
       x.cancelled_at
  FROM hublink.cancellation x
  LEFT JOIN LATERAL (
        SELECT extract(epoch FROM (SELECT min(g.start_time) FROM hublink.itinerary_segment g
                                    WHERE g.travel_quote_id = q.travel_quote_id AND g.current)
                                  - x.cancelled_at) / 3600 AS hours
          FROM hublink.travel_booking tb
          JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                     AND q.travel_quote_reference = tb.travel_quote_reference
         WHERE tb.removal_id = x.removal_id AND tb.outcome = 'ACCEPTED'
           AND tb.responded_at <= x.cancelled_at
         ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
         LIMIT 1) d ON true
UNION ALL
SELECT 'removals_' || s.to_state, NULL, NULL, NULL, s.at
  FROM hublink.state_transition s
 WHERE s.machine = 'removal' AND s.from_state <> s.to_state
   AND s.to_state IN (SELECT f.state FROM hublink.state_machine_states() f
                       WHERE f.machine = 'removal' AND f.terminal);
COMMENT ON VIEW hublink.rollup_mi_volume_event IS
    'The events hublink.mi_volume counts, one row each with its instant (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.at IS 'When it happened (it decides the period).';

-- The events of the days the rollup does not cover, counted per day (NULL: no instant).
CREATE VIEW hublink.rollup_mi_volume_live AS
SELECT (e.at AT TIME ZONE w.time_zone)::date AS day, e.measure, e.booking, e.reason_code, e.lead_time_band,
       count(*) AS count
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_day l
        CROSS JOIN LATERAL (SELECT x.* FROM hublink.rollup_mi_volume_event x
                             WHERE x.at >= l.lo AND x.at < l.hi OFFSET 0) v
       UNION ALL
       SELECT x.* FROM hublink.rollup_mi_volume_event x WHERE x.at IS NULL) e
 GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW hublink.rollup_mi_volume_live IS
    'hublink.mi_volume per day for the days the rollup does not cover (computed live).';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.day IS 'The day (reporting time zone).';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.count IS 'How many that day.';

-- Days: the folded days' rows and the live days'. Longer periods: the folded periods' rows
-- (every day folded, none dirty), and the sums of the days of the other periods (the one the
-- watermark is in, those after it, those with a dirty day).
CREATE VIEW hublink.mi_volume AS
WITH day_count AS (
    SELECT r.day, r.measure, r.booking, r.reason_code, r.lead_time_band, r.count
      FROM hublink.rollup_mi_volume_day r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.day < w.folded_until
       AND NOT EXISTS (SELECT FROM hublink.rollup_mi_live_day d WHERE d.day = r.day)
    UNION ALL
    SELECT v.day, v.measure, v.booking, v.reason_code, v.lead_time_band, v.count
      FROM hublink.rollup_mi_volume_live v
), longer AS (
    -- per longer granularity: the first period not wholly folded (NULL: none is)
    SELECT g.granularity, date_trunc(g.granularity, w.folded_until::timestamp)::date AS folded_until
      FROM hublink.rollup_mi_granularity g CROSS JOIN hublink.rollup_mi_window w
     WHERE NOT g.daily
), dirty_period AS (
    SELECT DISTINCT g.granularity, date_trunc(g.granularity, d.day::timestamp)::date AS period_start
      FROM longer g CROSS JOIN hublink.rollup_mi_live_day d
)
SELECT g.granularity, x.day AS period_start, x.measure, x.booking, x.reason_code, x.lead_time_band, x.count
  FROM hublink.rollup_mi_granularity g CROSS JOIN day_count x
 WHERE g.daily
UNION ALL
SELECT p.granularity, p.period_start, p.measure, p.booking, p.reason_code, p.lead_time_band, p.count
  FROM longer g
  JOIN hublink.rollup_mi_volume_period p ON p.granularity = g.granularity AND p.period_start < g.folded_until
 WHERE NOT EXISTS (SELECT FROM dirty_period y WHERE y.granularity = p.granularity AND y.period_start = p.period_start)
UNION ALL
SELECT g.granularity,
       (date_trunc(g.granularity, x.day::timestamp))::date AS period_start,
       x.measure, x.booking, x.reason_code, x.lead_time_band,
       sum(x.count)::bigint AS count
  FROM longer g CROSS JOIN day_count x
 WHERE g.folded_until IS NULL OR x.day IS NULL OR x.day >= g.folded_until
    OR EXISTS (SELECT FROM dirty_period y
                WHERE y.granularity = g.granularity
                  AND y.period_start = date_trunc(g.granularity, x.day::timestamp)::date)
 GROUP BY 1, 2, 3, 4, 5, 6;
COMMENT ON VIEW hublink.mi_volume IS
    'Volumes per day, ISO week and month: removal requests, quote requests, quotes, no-quote '
    'responses and declines by reason, booking requests, bookings, amendments, cancellations by '
    'reason and lead time, and removals that ended (completed, unsuccessful, cancelled). One row '
    'per period, measure, booking, reason and band; periods without events have no row.';
COMMENT ON COLUMN hublink.mi_volume.granularity IS 'day, week or month (hublink.report_granularity).';
COMMENT ON COLUMN hublink.mi_volume.period_start IS 'First day of the period in the reporting time zone (a Monday for weeks).';
COMMENT ON COLUMN hublink.mi_volume.measure IS
    'What is counted: removal_requests, quote_requests, quotes, no_quotes, booking_requests, '
    'bookings, declines, amendments, cancellations, removals_<terminal state> (docs/mi.md).';
COMMENT ON COLUMN hublink.mi_volume.booking IS 'escort or travel, for measures that concern one booking; NULL otherwise.';
COMMENT ON COLUMN hublink.mi_volume.reason_code IS 'The reason code (declines, no_quotes, cancellations); NULL otherwise or when none was given.';
COMMENT ON COLUMN hublink.mi_volume.lead_time_band IS
    'Cancellations: the hublink.lead_time_band of the time left to the booked departure; NULL when nothing was booked.';
COMMENT ON COLUMN hublink.mi_volume.count IS 'How many.';

-- --- money ------------------------------------------------------------------------------------
CREATE VIEW hublink.rollup_mi_money_item AS
SELECT 'ticket_spend'::text AS item, b.currency, b.total_amount AS amount, b.responded_at AS at
  FROM hublink.travel_booking b
 WHERE b.outcome = 'ACCEPTED' AND b.total_amount IS NOT NULL
UNION ALL
SELECT 'escort_spend', q.currency, q.total_amount, b.responded_at
  FROM hublink.escort_booking b
  JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                             AND q.escort_quote_reference = b.escort_quote_reference
 WHERE b.outcome = 'ACCEPTED' AND q.total_amount IS NOT NULL
UNION ALL
SELECT f.kind, f.currency, f.amount, f.recorded_at
  FROM hublink.financial_consequence f
UNION ALL
SELECT 'refund_received', r.currency, r.amount, r.received_at
  FROM hublink.refund_receipt r
UNION ALL
-- A non-refundable fare booked and then cancelled: what was paid, less any refund the
-- provider announced for the removal's travel, is lost.
SELECT 'lost_non_refundable', l.currency, l.lost, x.cancelled_at
  FROM hublink.cancellation x
  JOIN LATERAL (
        SELECT tb.currency,
               greatest(tb.total_amount
                        - coalesce((SELECT sum(f.amount) FROM hublink.financial_consequence f
                                     WHERE f.removal_id = tb.removal_id AND f.booking = 'travel'
                                       AND f.kind = 'refund' AND f.currency = tb.currency), 0),
                        0) AS lost
          FROM hublink.travel_booking tb
          JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                     AND q.travel_quote_reference = tb.travel_quote_reference
         WHERE tb.removal_id = x.removal_id AND tb.outcome = 'ACCEPTED'
           AND tb.responded_at <= x.cancelled_at AND NOT q.refundable
         ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
         LIMIT 1) l ON true
 WHERE x.booking = 'travel' AND NOT x.before_booking;
COMMENT ON VIEW hublink.rollup_mi_money_item IS
    'The amounts hublink.mi_money sums, one row each with its instant (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.item IS 'What the amount is (a column of hublink.mi_money, or a financial_consequence kind).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.rollup_mi_money_item.amount IS 'The amount.';
COMMENT ON COLUMN hublink.rollup_mi_money_item.at IS 'When (it decides the month).';

CREATE VIEW hublink.rollup_mi_money_live AS
SELECT (date_trunc('month', i.at AT TIME ZONE w.time_zone))::date AS month, i.currency,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'ticket_spend'), 0)::numeric(14,2) AS ticket_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'escort_spend'), 0)::numeric(14,2) AS escort_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund'), 0)::numeric(14,2) AS refunds_owed,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund_received'), 0)::numeric(14,2) AS refunds_received,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'change_fee'), 0)::numeric(14,2) AS change_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'cancellation_fee'), 0)::numeric(14,2) AS cancellation_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'lost_non_refundable'), 0)::numeric(14,2) AS lost_non_refundable
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_money_item y
                             WHERE y.at >= l.lo AND y.at < l.hi OFFSET 0) v
       UNION ALL
       SELECT y.* FROM hublink.rollup_mi_money_item y WHERE y.at IS NULL) i
 GROUP BY 1, 2;

CREATE TABLE hublink.rollup_mi_money_month (LIKE hublink.rollup_mi_money_live);

CREATE VIEW hublink.mi_money AS
WITH monthly AS (
    SELECT r.* FROM hublink.rollup_mi_money_month r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
    UNION ALL
    SELECT v.* FROM hublink.rollup_mi_money_live v
)
SELECT m.month, m.currency, m.ticket_spend, m.escort_spend, m.refunds_owed, m.refunds_received,
       (sum(m.refunds_owed - m.refunds_received)
           OVER (PARTITION BY m.currency ORDER BY m.month))::numeric(14,2) AS refunds_outstanding,
       m.change_fees, m.cancellation_fees, m.lost_non_refundable
  FROM monthly m;
COMMENT ON VIEW hublink.mi_money IS
    'Money per month and currency: ticket and escort spend on bookings confirmed, refunds the '
    'providers announced (owed) and finance received, the refunds still outstanding, change '
    'and cancellation fees, and money lost to non-refundable fares that were cancelled.';
COMMENT ON COLUMN hublink.mi_money.month IS 'First day of the month (reporting time zone).';
COMMENT ON COLUMN hublink.mi_money.currency IS 'ISO 4217 currency of every amount of the row.';
COMMENT ON COLUMN hublink.mi_money.ticket_spend IS 'Total of the travel bookings accepted in the month (4.8 total cost).';
COMMENT ON COLUMN hublink.mi_money.escort_spend IS 'Total of the escort quotes whose booking was accepted in the month.';
COMMENT ON COLUMN hublink.mi_money.refunds_owed IS 'Refunds the providers announced in the month (4.10, 4.12 financial: refund).';
COMMENT ON COLUMN hublink.mi_money.refunds_received IS 'Refund money received in the month (hublink.refund_receipt).';
COMMENT ON COLUMN hublink.mi_money.refunds_outstanding IS 'Refunds announced but not received, up to the end of the month (running total).';
COMMENT ON COLUMN hublink.mi_money.change_fees IS 'Change fees announced in the month.';
COMMENT ON COLUMN hublink.mi_money.cancellation_fees IS 'Cancellation fees announced in the month.';
COMMENT ON COLUMN hublink.mi_money.lost_non_refundable IS
    'Travel cancelled after booking in the month whose booked fare was non-refundable: its total less the travel refunds announced for the removal.';

-- --- outcomes and tickets ---------------------------------------------------------------------
-- A removal's first transition into each terminal state (ties by transition id), as the
-- min(at) per removal and state of the original definition, with the tickets of the removal
-- (NULL when none, as the left join gave).
CREATE VIEW hublink.rollup_mi_removal_outcome_end AS
SELECT s.at, s.to_state AS outcome,
       (SELECT nullif(count(*), 0) FROM hublink.ticket k WHERE k.removal_id = s.removal_id) AS tickets
  FROM hublink.state_transition s
 WHERE s.machine = 'removal' AND s.from_state <> s.to_state
   AND s.to_state IN (SELECT f.state FROM hublink.state_machine_states() f
                       WHERE f.machine = 'removal' AND f.terminal)
   AND NOT EXISTS (SELECT FROM hublink.state_transition e
                    WHERE e.removal_id = s.removal_id AND e.machine = 'removal'
                      AND e.to_state = s.to_state AND e.from_state <> e.to_state
                      AND (e.at < s.at OR (e.at = s.at AND e.state_transition_id < s.state_transition_id)));
COMMENT ON VIEW hublink.rollup_mi_removal_outcome_end IS
    'The removals that ended, one row per removal and final state (the live definition of hublink.mi_removal_outcome).';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.at IS 'When the removal first reached the state (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.outcome IS 'The final state.';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.tickets IS 'Tickets of the removal; NULL when none.';

CREATE VIEW hublink.rollup_mi_removal_outcome_live AS
SELECT (date_trunc('month', e.at AT TIME ZONE w.time_zone))::date AS month,
       count(*) FILTER (WHERE e.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE e.outcome = 'unsuccessful') AS unsuccessful,
       count(*) FILTER (WHERE e.outcome = 'cancelled') AS cancelled,
       coalesce(sum(e.tickets) FILTER (WHERE e.outcome = 'completed'), 0)::bigint AS tickets_completed,
       round(sum(e.tickets) FILTER (WHERE e.outcome = 'completed')
             / nullif(count(*) FILTER (WHERE e.outcome = 'completed'), 0), 2) AS tickets_per_completed_removal
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_removal_outcome_end y
                             WHERE y.at >= l.lo AND y.at < l.hi OFFSET 0) v) e
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_removal_outcome_month (LIKE hublink.rollup_mi_removal_outcome_live);

CREATE VIEW hublink.mi_removal_outcome AS
SELECT r.* FROM hublink.rollup_mi_removal_outcome_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_removal_outcome_live v;
COMMENT ON VIEW hublink.mi_removal_outcome IS
    'Removals that ended, per month they ended: completed (successful), unsuccessful, '
    'cancelled; and the tickets issued per successful removal.';
COMMENT ON COLUMN hublink.mi_removal_outcome.month IS 'First day of the month the removal reached its final state.';
COMMENT ON COLUMN hublink.mi_removal_outcome.completed IS 'Removals carried out.';
COMMENT ON COLUMN hublink.mi_removal_outcome.unsuccessful IS 'Removals whose escorting started and was abandoned.';
COMMENT ON COLUMN hublink.mi_removal_outcome.cancelled IS 'Removals the Hub cancelled.';
COMMENT ON COLUMN hublink.mi_removal_outcome.tickets_completed IS 'Tickets issued (reissues included) for the completed removals.';
COMMENT ON COLUMN hublink.mi_removal_outcome.tickets_per_completed_removal IS 'tickets_completed / completed, to two decimals.';

-- --- best value against cheapest fare ---------------------------------------------------------
-- For each travel booking accepted, the quotes of the response the booked quote came in: the
-- best-value quote (lowest expected cost, docs/tsp.md) against the cheapest fare.
CREATE VIEW hublink.rollup_mi_best_value_booking AS
SELECT tb.responded_at, q.currency, tb.total_amount::numeric(14,2) AS booked_total,
       coalesce(q.expected_amount, q.total_amount)::numeric(14,2) AS booked_expected,
       bv.expected AS best_expected, ch.total AS cheapest_total, ch.expected AS cheapest_expected,
       q.total_amount > ch.total AS not_cheapest
  FROM hublink.travel_booking tb
  JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                             AND q.travel_quote_reference = tb.travel_quote_reference
 CROSS JOIN LATERAL (SELECT min(coalesce(s.expected_amount, s.total_amount)) AS expected
                       FROM hublink.travel_quote s
                      WHERE s.travel_quote_response_id = q.travel_quote_response_id
                        AND s.currency = q.currency) bv
 CROSS JOIN LATERAL (SELECT s.total_amount AS total, coalesce(s.expected_amount, s.total_amount) AS expected
                       FROM hublink.travel_quote s
                      WHERE s.travel_quote_response_id = q.travel_quote_response_id
                        AND s.currency = q.currency
                      ORDER BY s.total_amount, coalesce(s.expected_amount, s.total_amount)
                      LIMIT 1) ch
 WHERE tb.outcome = 'ACCEPTED';
COMMENT ON VIEW hublink.rollup_mi_best_value_booking IS
    'The travel bookings accepted that hublink.mi_best_value sums, one row each (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.responded_at IS 'When the booking was accepted (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.currency IS 'Currency of the booked quote.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.booked_total IS 'Price booked.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.booked_expected IS 'Expected cost of the quote booked.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.best_expected IS 'Expected cost of the best-value quote of the response.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.cheapest_total IS 'Price of the cheapest quote of the response.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.cheapest_expected IS 'Its expected cost.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.not_cheapest IS 'The booked fare was dearer than the cheapest.';

CREATE VIEW hublink.rollup_mi_best_value_live AS
SELECT (date_trunc('month', b.responded_at AT TIME ZONE w.time_zone))::date AS month,
       b.currency,
       count(*) AS bookings,
       count(*) FILTER (WHERE b.not_cheapest) AS bookings_not_cheapest,
       sum(b.booked_total)::numeric(14,2) AS booked_total,
       sum(b.booked_expected)::numeric(14,2) AS booked_expected,
       sum(b.best_expected)::numeric(14,2) AS best_value_expected,
       sum(b.cheapest_total)::numeric(14,2) AS cheapest_fare_total,
       sum(b.cheapest_expected)::numeric(14,2) AS cheapest_fare_expected,
       sum(b.cheapest_expected - b.best_expected)::numeric(14,2) AS expected_saving
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT x.* FROM hublink.rollup_mi_best_value_booking x
                             WHERE x.responded_at >= l.lo AND x.responded_at < l.hi OFFSET 0) v
       UNION ALL
       SELECT x.* FROM hublink.rollup_mi_best_value_booking x WHERE x.responded_at IS NULL) b
 GROUP BY 1, 2;

CREATE TABLE hublink.rollup_mi_best_value_month (LIKE hublink.rollup_mi_best_value_live);

CREATE VIEW hublink.mi_best_value AS
SELECT r.* FROM hublink.rollup_mi_best_value_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_best_value_live v;
COMMENT ON VIEW hublink.mi_best_value IS
    'Per month and currency of the travel bookings accepted: what choosing by expected cost '
    '(price plus the expected loss on cancellation) saves against choosing the cheapest fare, '
    'on the quotes of the same response.';
COMMENT ON COLUMN hublink.mi_best_value.month IS 'First day of the month the travel bookings were accepted.';
COMMENT ON COLUMN hublink.mi_best_value.currency IS 'ISO 4217 currency of every amount of the row.';
COMMENT ON COLUMN hublink.mi_best_value.bookings IS 'Travel bookings accepted.';
COMMENT ON COLUMN hublink.mi_best_value.bookings_not_cheapest IS 'Of them, those whose booked fare was dearer than the cheapest quoted.';
COMMENT ON COLUMN hublink.mi_best_value.booked_total IS 'Total price of the bookings.';
COMMENT ON COLUMN hublink.mi_best_value.booked_expected IS 'Expected cost of the quotes booked (the price when no expected cost was stated).';
COMMENT ON COLUMN hublink.mi_best_value.best_value_expected IS 'Expected cost of the best-value quote of each response.';
COMMENT ON COLUMN hublink.mi_best_value.cheapest_fare_total IS 'Price of the cheapest quote of each response.';
COMMENT ON COLUMN hublink.mi_best_value.cheapest_fare_expected IS 'Expected cost of that cheapest quote.';
COMMENT ON COLUMN hublink.mi_best_value.expected_saving IS 'cheapest_fare_expected - best_value_expected: the expected saving of choosing by best value.';

-- --- escorting --------------------------------------------------------------------------------
CREATE VIEW hublink.rollup_mi_escorting_booking AS
SELECT b.responded_at, n.returnees, p.escorts,
       extract(epoch FROM s.starts - b.requested_at) / 3600 AS lead_hours
  FROM hublink.escort_booking b
  JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                             AND q.escort_quote_reference = b.escort_quote_reference
 CROSS JOIN LATERAL (SELECT count(*) AS returnees FROM hublink.returnee t
                      WHERE t.removal_id = b.removal_id) n
 CROSS JOIN LATERAL (SELECT count(*) AS escorts FROM hublink.escort_position e
                      WHERE e.escort_quote_response_id = q.escort_quote_response_id) p
 CROSS JOIN LATERAL (SELECT min(g.planned_start) AS starts FROM hublink.escort_segment g
                      WHERE g.removal_id = b.removal_id AND g.current) s
 WHERE b.outcome = 'ACCEPTED';
COMMENT ON VIEW hublink.rollup_mi_escorting_booking IS
    'The escort bookings accepted that hublink.mi_escorting counts, one row each (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.responded_at IS 'When the booking was accepted (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.returnees IS 'Returnees of the removal.';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.escorts IS 'Escort positions of the quote booked.';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.lead_hours IS 'Hours from the booking request to the first planned start.';

CREATE VIEW hublink.rollup_mi_escorting_live AS
SELECT (date_trunc('month', x.responded_at AT TIME ZONE w.time_zone))::date AS month,
       count(*) AS escort_bookings,
       sum(x.returnees)::bigint AS returnees,
       sum(x.escorts)::bigint AS escorts,
       round(sum(x.escorts)::numeric / nullif(sum(x.returnees), 0), 2) AS escorts_per_returnee,
       count(x.lead_hours) AS with_start,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.lead_hours)::numeric, 2) AS median_lead_hours,
       round(min(x.lead_hours), 2) AS min_lead_hours
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_escorting_booking y
                             WHERE y.responded_at >= l.lo AND y.responded_at < l.hi OFFSET 0) v
       UNION ALL
       SELECT y.* FROM hublink.rollup_mi_escorting_booking y WHERE y.responded_at IS NULL) x
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_escorting_month (LIKE hublink.rollup_mi_escorting_live);

CREATE VIEW hublink.mi_escorting AS
SELECT r.* FROM hublink.rollup_mi_escorting_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_escorting_live v;
COMMENT ON VIEW hublink.mi_escorting IS
    'Escorting per month of the escort bookings accepted: escorts per returnee and the lead '
    'time the escort provider was given (booking request to the planned start of the escorting).';
COMMENT ON COLUMN hublink.mi_escorting.month IS 'First day of the month the escort bookings were accepted.';
COMMENT ON COLUMN hublink.mi_escorting.escort_bookings IS 'Escort bookings accepted.';
COMMENT ON COLUMN hublink.mi_escorting.returnees IS 'Returnees of those removals.';
COMMENT ON COLUMN hublink.mi_escorting.escorts IS 'Escort positions of the quotes booked (4.2 escort info).';
COMMENT ON COLUMN hublink.mi_escorting.escorts_per_returnee IS 'escorts / returnees, to two decimals.';
COMMENT ON COLUMN hublink.mi_escorting.with_start IS 'Bookings whose escort segments have a planned start.';
COMMENT ON COLUMN hublink.mi_escorting.median_lead_hours IS 'Median hours from the escort booking request to the first planned start of the escorting.';
COMMENT ON COLUMN hublink.mi_escorting.min_lead_hours IS 'Shortest such lead time.';

-- The live aggregates and the month tables of the rollup carry the comments of the MI view
-- they stand for (85_mi_rollup.sql).
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS rel, c.relkind,
                    ('hublink.' || regexp_replace(c.relname, '^rollup_(mi_.*)_(live|month)$', '\1'))::regclass AS view
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace AND c.relname ~ '^rollup_mi_.*_(live|month)$'
                AND c.relname <> 'rollup_mi_volume_live'
                AND (c.relkind = 'v') = (c.relname ~ '_live$') LOOP
        EXECUTE format('COMMENT ON %s %s IS %L', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel,
                       CASE o.relkind WHEN 'v' THEN format('%s for the months the rollup does not cover (computed live).', o.view)
                            ELSE format('%s folded per month: its rows for the months hublink.rollup_mi_fold() has folded.', o.view) END);
        EXECUTE (SELECT string_agg(format('COMMENT ON COLUMN %s.%I IS %L', o.rel, a.attname,
                                          'As ' || o.view || '.' || a.attname || '.'), '; ')
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = o.rel AND a.attnum > 0 AND NOT a.attisdropped);
    END LOOP;
END;
$$;

-- --- the worker and the backlog ---------------------------------------------------------------
CREATE VIEW hublink.mi_worker AS
SELECT w.party, w.state, w.state_since, w.state = 'connected' AS connected,
       round(extract(epoch FROM now() - w.state_since)::numeric, 3) AS seconds_in_state,
       w.last_error_at, w.started_at,
       w.received, w.applied, w.duplicates, w.rejected, w.retried, w.published,
       w.outbox_backlog,
       round(extract(epoch FROM w.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       w.retrying
  FROM hublink.worker_status w;
COMMENT ON VIEW hublink.mi_worker IS
    'Worker availability and the message backlog now (one row, from hublink.worker_status; '
    'the error text is left out).';
COMMENT ON COLUMN hublink.mi_worker.party IS 'The party this database plays: hub, tsp or esp.';
COMMENT ON COLUMN hublink.mi_worker.state IS 'The worker''s broker connection state; NULL when the worker is not running.';
COMMENT ON COLUMN hublink.mi_worker.state_since IS 'When it entered that state.';
COMMENT ON COLUMN hublink.mi_worker.connected IS 'True when the worker is connected to the broker (available).';
COMMENT ON COLUMN hublink.mi_worker.seconds_in_state IS 'Seconds since state_since.';
COMMENT ON COLUMN hublink.mi_worker.last_error_at IS 'When the worker last met an error.';
COMMENT ON COLUMN hublink.mi_worker.started_at IS 'When the worker process started.';
COMMENT ON COLUMN hublink.mi_worker.received IS 'Deliveries received since the server started.';
COMMENT ON COLUMN hublink.mi_worker.applied IS 'Deliveries applied.';
COMMENT ON COLUMN hublink.mi_worker.duplicates IS 'Duplicate deliveries.';
COMMENT ON COLUMN hublink.mi_worker.rejected IS 'Deliveries rejected to an error queue.';
COMMENT ON COLUMN hublink.mi_worker.retried IS 'Handler retries.';
COMMENT ON COLUMN hublink.mi_worker.published IS 'Messages published and confirmed.';
COMMENT ON COLUMN hublink.mi_worker.outbox_backlog IS 'Messages waiting to be published.';
COMMENT ON COLUMN hublink.mi_worker.oldest_unsent_seconds IS 'Age in seconds of the oldest of them; NULL when none.';
COMMENT ON COLUMN hublink.mi_worker.retrying IS 'Inbound messages waiting for a handler retry.';

CREATE VIEW hublink.mi_message_backlog AS
SELECT q.queue, q.outbox_backlog,
       round(extract(epoch FROM q.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       (SELECT count(*) FROM hublink.inbox i WHERE i.queue = q.queue AND i.status = 'retrying') AS retrying,
       q.received, q.applied, q.rejected, q.published
  FROM hublink.worker_queue_status q;
COMMENT ON VIEW hublink.mi_message_backlog IS
    'Per queue now: messages waiting to be published and the age of the oldest, inbound '
    'messages waiting for a retry, and the worker''s counters since the server started.';
COMMENT ON COLUMN hublink.mi_message_backlog.queue IS 'The queue.';
COMMENT ON COLUMN hublink.mi_message_backlog.outbox_backlog IS 'Outbox messages for it not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.mi_message_backlog.oldest_unsent_seconds IS 'Age in seconds of the oldest of them; NULL when none.';
COMMENT ON COLUMN hublink.mi_message_backlog.retrying IS 'Inbound messages from it waiting for a handler retry.';
COMMENT ON COLUMN hublink.mi_message_backlog.received IS 'Deliveries received since the server started.';
COMMENT ON COLUMN hublink.mi_message_backlog.applied IS 'Deliveries applied.';
COMMENT ON COLUMN hublink.mi_message_backlog.rejected IS 'Deliveries rejected.';
COMMENT ON COLUMN hublink.mi_message_backlog.published IS 'Messages published and confirmed.';

-- from sql/parts/87_mi_export.sql
-- Exports of the MI views (Schedule R SEC 019 c: CSV, HTML, XML; PDF by printing the HTML
-- report from a browser) and the printable HTML report with its SVG charts drawn here, in
-- SQL (issue 7, section 2; docs/mi.md). These functions run as their caller: a reporting role
-- that may SELECT the hublink.mi_* views can use them without any other privilege.

CREATE TABLE hublink.export_format (
    format      text PRIMARY KEY CHECK (format ~ '^[a-z]+$'),
    media_type  text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.export_format IS 'The formats hublink.export_mi writes.';
COMMENT ON COLUMN hublink.export_format.format IS 'The format argument of hublink.export_mi.';
COMMENT ON COLUMN hublink.export_format.media_type IS 'Its media type (for a web server or a file name).';
COMMENT ON COLUMN hublink.export_format.description IS 'What is written.';
INSERT INTO hublink.export_format VALUES
    ('csv', 'text/csv', 'RFC 4180: a header line with the column names, then one line per row, CRLF line ends; '
                        'fields with a comma, quote, CR or LF, leading or trailing spaces, and empty strings '
                        'are quoted with quotes doubled; NULL is an empty unquoted field.'),
    ('xml', 'application/xml', 'query_to_xml: <table> with one <row> per row and one element per column '
                               '(XML Schema value formats, NULL as xsi:nil).'),
    ('html', 'text/html', 'A standalone HTML5 document with one table, every value escaped.');

-- The reporting role reads only hublink.mi_* views (never a table), so what the exports and
-- the report need to know of the rules is given by views too.
CREATE VIEW hublink.mi_export_formats AS
SELECT f.format, f.media_type, f.description FROM hublink.export_format f;
COMMENT ON VIEW hublink.mi_export_formats IS 'The formats hublink.export_mi writes (rows of hublink.export_format).';
COMMENT ON COLUMN hublink.mi_export_formats.format IS 'The format argument of hublink.export_mi.';
COMMENT ON COLUMN hublink.mi_export_formats.media_type IS 'Its media type.';
COMMENT ON COLUMN hublink.mi_export_formats.description IS 'What is written.';

CREATE VIEW hublink.mi_reporting_settings AS
SELECT c.time_zone FROM hublink.reporting_config c;
COMMENT ON VIEW hublink.mi_reporting_settings IS
    'One row: the time zone whose days, weeks and months the MI views report in (hublink.reporting_config).';
COMMENT ON COLUMN hublink.mi_reporting_settings.time_zone IS 'An IANA time zone name, e.g. Europe/London.';

CREATE FUNCTION hublink.html_escape(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION hublink.html_escape(text) IS
    'Escapes text for HTML and XML element content and attribute values (& < > " '').';

CREATE FUNCTION hublink.csv_field(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN value IS NULL THEN ''
                WHEN value = '' OR value ~ '[",\r\n]' OR value ~ '^\s|\s$'
                THEN '"' || replace(value, '"', '""') || '"'
                ELSE value END;
COMMENT ON FUNCTION hublink.csv_field(text) IS
    'One RFC 4180 CSV field: quoted (quotes doubled) when it holds a comma, quote, CR or LF, '
    'starts or ends with white space, or is empty; NULL is the empty unquoted field.';

-- The view named, found through the catalog: only hublink.mi_* views exist for the exports.
CREATE FUNCTION hublink.mi_view(view_name text) RETURNS regclass
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    found regclass;
BEGIN
    SELECT c.oid INTO found
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'v'
       AND c.relname = view_name AND c.relname LIKE 'mi\_%';
    IF found IS NULL THEN
        RAISE EXCEPTION 'no MI view named "%"', view_name
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'Only the views of schema hublink whose name starts with mi_ can be exported.',
                  HINT = 'List them with: SELECT relname FROM pg_class WHERE relnamespace = ''hublink''::regnamespace AND relkind = ''v'' AND relname LIKE ''mi\_%''.';
    END IF;
    RETURN found;
END;
$$;
COMMENT ON FUNCTION hublink.mi_view(text) IS
    'The hublink.mi_* view of that name (without schema), looked up in the catalog; raises '
    'undefined_table for any other name.';

CREATE FUNCTION hublink.export_mi(view_name text, format text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    SET "IntervalStyle" = 'iso_8601'
    AS $$
DECLARE
    v        regclass;
    columns  text[];
    order_by text;
    result   text;
    caption  text;
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.mi_export_formats f WHERE f.format = export_mi.format) THEN
        RAISE EXCEPTION 'unknown export format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The formats are the rows of hublink.mi_export_formats.',
                  HINT = 'Use csv, xml or html.';
    END IF;
    v := hublink.mi_view(view_name);
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(a.attnum::text, ', ' ORDER BY a.attnum)
      INTO columns, order_by
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v AND a.attnum > 0 AND NOT a.attisdropped;
    IF format = 'csv' THEN
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(concat_ws('','', %s), E''\r\n'' ORDER BY %s) || E''\r\n'', '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format('hublink.csv_field(x.%I::text)', c), ', ') FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN (SELECT string_agg(hublink.csv_field(c), ',') FROM unnest(columns) c) || E'\r\n' || result;
    ELSIF format = 'xml' THEN
        RETURN '<?xml version="1.0" encoding="UTF-8"?>' || E'\n'
            || pg_catalog.query_to_xml(pg_catalog.format('SELECT * FROM %s ORDER BY %s', v, order_by),
                                       true, false, '')::text;
    ELSE
        caption := pg_catalog.obj_description(v, 'pg_class');
        EXECUTE pg_catalog.format(
            'SELECT coalesce(string_agg(''<tr>'' || %s || ''</tr>'', E''\n'' ORDER BY %s), '''') FROM %s x',
            (SELECT string_agg(pg_catalog.format(
                        'CASE WHEN x.%1$I IS NULL THEN ''<td class="null"></td>'' '
                        'ELSE ''<td>'' || hublink.html_escape(x.%1$I::text) || ''</td>'' END', c), ' || ')
               FROM unnest(columns) c),
            order_by, v)
          INTO result;
        RETURN '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8"><title>'
            || hublink.html_escape(view_name) || '</title>'
            || '<style>table{border-collapse:collapse;font:12px sans-serif}th,td{border:1px solid #999;padding:2px 6px}'
            || 'td.null{background:#eee}</style></head><body>' || E'\n'
            || '<table><caption>' || hublink.html_escape(view_name) || ': '
            || hublink.html_escape(coalesce(caption, '')) || '</caption>' || E'\n<thead><tr>'
            || (SELECT string_agg('<th>' || hublink.html_escape(c) || '</th>', '') FROM unnest(columns) c)
            || '</tr></thead>' || E'\n<tbody>\n' || result || E'\n</tbody></table>\n</body></html>\n';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.export_mi(text, text) IS
    'Exports a hublink.mi_* view (name without schema) as csv, xml or html '
    '(hublink.export_format), rows ordered by every column, timestamps in UTC ISO 8601. '
    'Runs as the caller, so SELECT on the view is all it needs (Schedule R SEC 019 c).';

-- A chart as SVG: bars (grouped per label) or lines, one series per entry of series, a
-- y axis from 0 to a round maximum, a legend. data = {"labels": [...], "series": [{"name":
-- ..., "values": [...]}, ...]}.
CREATE FUNCTION hublink.mi_svg_chart(id text, title text, kind text, data jsonb, unit text DEFAULT '')
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    width    constant int := 760;
    height   constant int := 320;
    left_m   constant int := 70;
    right_m  constant int := 20;
    top_m    constant int := 40;
    bottom_m constant int := 60;
    -- colours that stay apart in print and for the common colour blindnesses
    palette  constant text[] := '{#1f77b4,#ff7f0e,#2ca02c,#d62728,#9467bd,#8c564b}';
    plot_w   numeric := width - left_m - right_m;
    plot_h   numeric := height - top_m - bottom_m;
    labels   text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(data -> 'labels', '[]')));
    n        int;
    k        int := coalesce(jsonb_array_length(data -> 'series'), 0);
    top_v    numeric;
    step     numeric;
    group_w  numeric;
    bar_w    numeric;
    svg      text;
    s        int;
    i        int;
    v        numeric;
    pts      text;
    every    int;
BEGIN
    n := coalesce(array_length(labels, 1), 0);
    SELECT coalesce(max((x.value)::numeric), 0) INTO top_v
      FROM jsonb_array_elements(coalesce(data -> 'series', '[]')) e,
           jsonb_array_elements_text(e -> 'values') x
     WHERE x.value IS NOT NULL AND x.value <> 'null';
    IF top_v <= 0 THEN
        top_v := 1;
    END IF;
    -- round the axis up to 1, 2 or 5 times a power of ten
    step := power(10, floor(log(top_v)));
    top_v := CASE WHEN top_v <= step THEN step WHEN top_v <= 2 * step THEN 2 * step
                  WHEN top_v <= 5 * step THEN 5 * step ELSE 10 * step END;
    svg := format('<svg id="%s" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  hublink.html_escape(id), width, height, width, height)
        || '<title>' || hublink.html_escape(title) || '</title>'
        || format('<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>', width, height)
        || format('<text x="%s" y="20" font-family="sans-serif" font-size="15" font-weight="bold">%s</text>',
                  left_m, hublink.html_escape(title));
    -- y axis: 0, half, top
    FOR i IN 0..4 LOOP
        svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#dddddd"/>',
                             left_m, round(top_m + plot_h - plot_h * i / 4, 1), width - right_m,
                             round(top_m + plot_h - plot_h * i / 4, 1))
                   || format('<text x="%s" y="%s" font-family="sans-serif" font-size="10" text-anchor="end">%s</text>',
                             left_m - 4, round(top_m + plot_h - plot_h * i / 4 + 3, 1),
                             hublink.html_escape(trim_scale(round(top_v * i / 4, 2))::text || unit));
    END LOOP;
    svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#000000"/>',
                         left_m, top_m + plot_h, width - right_m, top_m + plot_h);
    IF n > 0 THEN
        group_w := plot_w / n;
        bar_w := group_w * 0.8 / greatest(k, 1);
        every := ceil(n / 12.0);
        FOR i IN 1..n LOOP
            IF (i - 1) % every = 0 THEN
                svg := svg || format('<text x="%s" y="%s" font-family="sans-serif" font-size="10" text-anchor="middle">%s</text>',
                                     round(left_m + group_w * (i - 0.5), 1), top_m + plot_h + 14,
                                     hublink.html_escape(labels[i]));
            END IF;
        END LOOP;
        FOR s IN 1..k LOOP
            pts := '';
            FOR i IN 1..n LOOP
                v := nullif(data -> 'series' -> (s - 1) -> 'values' ->> (i - 1), 'null')::numeric;
                CONTINUE WHEN v IS NULL;
                IF kind = 'line' THEN
                    pts := pts || format('%s,%s ', round(left_m + group_w * (i - 0.5), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1));
                    -- a marker on every point, so a series of one point still shows
                    svg := svg || format('<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>',
                                         round(left_m + group_w * (i - 0.5), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1), palette[1 + (s - 1) % 6],
                                         hublink.html_escape(format('%s %s: %s%s', data -> 'series' -> (s - 1) ->> 'name',
                                                                    labels[i], v, unit)));
                ELSE
                    svg := svg || format('<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>',
                                         round(left_m + group_w * (i - 1) + group_w * 0.1 + bar_w * (s - 1), 1),
                                         round(top_m + plot_h - plot_h * v / top_v, 1), round(bar_w, 1),
                                         round(plot_h * v / top_v, 1), palette[1 + (s - 1) % 6],
                                         hublink.html_escape(format('%s %s: %s%s', data -> 'series' -> (s - 1) ->> 'name',
                                                                    labels[i], v, unit)));
                END IF;
            END LOOP;
            IF kind = 'line' AND pts <> '' THEN
                svg := svg || format('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>',
                                     rtrim(pts), palette[1 + (s - 1) % 6]);
            END IF;
            svg := svg || format('<rect x="%s" y="%s" width="10" height="10" fill="%s"/>',
                                 left_m + 10 + (s - 1) * 170, height - 22, palette[1 + (s - 1) % 6])
                       || format('<text x="%s" y="%s" font-family="sans-serif" font-size="11">%s</text>',
                                 left_m + 24 + (s - 1) * 170, height - 13,
                                 hublink.html_escape(data -> 'series' -> (s - 1) ->> 'name'));
        END LOOP;
    ELSE
        svg := svg || format('<text x="%s" y="%s" font-family="sans-serif" font-size="12" text-anchor="middle">No data</text>',
                             left_m + plot_w / 2, top_m + plot_h / 2);
    END IF;
    RETURN svg || '</svg>';
END;
$$;
COMMENT ON FUNCTION hublink.mi_svg_chart(text, text, text, jsonb, text) IS
    'Draws a chart as an SVG element with that id: kind bar (bars grouped per label) or line, '
    'data {"labels": [...], "series": [{"name", "values": [...]}]}, y axis from 0 to a round '
    'maximum with unit appended to its labels, and a legend. Used by hublink.mi_report_html.';

-- An HTML table of a query's rows (in the query's order), every value escaped.
CREATE FUNCTION hublink.mi_html_table(caption text, query text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    head text;
    body text;
BEGIN
    EXECUTE format('SELECT (SELECT string_agg(''<th>'' || hublink.html_escape(e.key) || ''</th>'', '''' ORDER BY e.n)
                              FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS e(key, value, n))
                      FROM (%s) x LIMIT 1', query)
      INTO head;
    EXECUTE format('SELECT string_agg(''<tr>'' || (SELECT string_agg(CASE WHEN e.value IS NULL THEN ''<td class="null"></td>''
                                                                       ELSE ''<td>'' || hublink.html_escape(e.value) || ''</td>'' END,
                                                                  '''' ORDER BY e.n)
                                                    FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS e(key, value, n))
                                      || ''</tr>'', E''\n'')
                      FROM (%s) x', query)
      INTO body;
    RETURN '<table><caption>' || hublink.html_escape(caption) || '</caption>'
        || CASE WHEN body IS NULL THEN '<tbody><tr><td>No rows.</td></tr></tbody>'
                ELSE '<thead><tr>' || head || '</tr></thead><tbody>' || E'\n' || body || '</tbody>' END
        || '</table>' || E'\n';
END;
$$;
COMMENT ON FUNCTION hublink.mi_html_table(text, text) IS
    'An HTML table with a caption of the rows of query (a SELECT written by the caller, run '
    'as the caller), in its order, every header and value escaped. Used by hublink.mi_report_html.';

CREATE FUNCTION hublink.mi_report_html(months integer DEFAULT 24, last_month date DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET "DateStyle" = 'ISO, YMD'
    SET "TimeZone" = 'UTC'
    AS $$
DECLARE
    tz          text := (SELECT c.time_zone FROM hublink.mi_reporting_settings c);
    since       date;
    until       date;
    month_list  date[];
    report_currency char(3);
    volume      jsonb;
    sla         jsonb;
    money       jsonb;
    e2e         jsonb;
    html        text;
BEGIN
    IF months IS NULL OR months < 1 THEN
        RAISE EXCEPTION 'months must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The report was asked for %s months.', coalesce(months::text, 'NULL')),
                  HINT = 'Give the number of months the charts and tables cover, e.g. 24.';
    END IF;
    until := date_trunc('month', coalesce(last_month, (now() AT TIME ZONE tz)::date))::date;
    since := (until - make_interval(months => months - 1))::date;
    month_list := ARRAY(SELECT generate_series(since, until, interval '1 month')::date);

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(m, 'YYYY-MM') ORDER BY m) FROM unnest(month_list) m),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Removal requests', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removal_requests'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Travel bookings', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'bookings' AND v.booking = 'travel'), 0) ORDER BY m)
                          FROM unnest(month_list) m)),
                   jsonb_build_object('name', 'Completed removals', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT sum(v.count) FROM hublink.mi_volume v
                                                    WHERE v.granularity = 'month' AND v.period_start = m
                                                      AND v.measure = 'removals_completed'), 0) ORDER BY m)
                          FROM unnest(month_list) m))))
      INTO volume;

    SELECT jsonb_build_object(
               'labels', coalesce(jsonb_agg(s.request_type ORDER BY s.request_type), '[]'),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.median_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', '95th percentile (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.p95_response_seconds / 3600, 2) ORDER BY s.request_type), '[]')),
                   jsonb_build_object('name', 'Target (hours)', 'values',
                                      coalesce(jsonb_agg(round(s.target_seconds / 3600, 2) ORDER BY s.request_type), '[]'))))
      INTO sla
      FROM hublink.mi_sla_compliance s
     WHERE s.month IS NULL;

    SELECT m.currency INTO report_currency
      FROM hublink.mi_money m WHERE m.month BETWEEN since AND until
     GROUP BY m.currency ORDER BY sum(m.ticket_spend) DESC, m.currency LIMIT 1;
    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Ticket spend', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.ticket_spend FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Refunds owed', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.refunds_owed FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Lost to non-refundable fares', 'values',
                       (SELECT jsonb_agg(coalesce((SELECT m.lost_non_refundable FROM hublink.mi_money m
                                                    WHERE m.month = x AND m.currency = report_currency), 0) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO money;

    SELECT jsonb_build_object(
               'labels', (SELECT jsonb_agg(to_char(x, 'YYYY-MM') ORDER BY x) FROM unnest(month_list) x),
               'series', jsonb_build_array(
                   jsonb_build_object('name', 'Median hours to booked', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_booked FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x)),
                   jsonb_build_object('name', 'Median hours to departure', 'values',
                       (SELECT jsonb_agg((SELECT e.median_hours_to_departure FROM hublink.mi_end_to_end e WHERE e.month = x) ORDER BY x)
                          FROM unnest(month_list) x))))
      INTO e2e;

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<title>Removals Hub: management information</title>'
        || '<style>body{font:13px sans-serif;margin:24px;color:#111;background:#fff}'
        || 'h1{font-size:20px}h2{font-size:16px;margin-top:28px}'
        || 'table{border-collapse:collapse;margin:8px 0 16px}caption{text-align:left;font-weight:bold;padding:4px 0}'
        || 'th,td{border:1px solid #999;padding:2px 5px;text-align:right;font-size:11px}th{background:#eee}td.null{background:#f6f6f6}'
        || 'svg{display:block;margin:8px 0;page-break-inside:avoid}'
        || '@media print{body{margin:0}h2{page-break-before:auto}}</style></head><body>' || E'\n'
        || '<h1>Removals Hub: management information</h1>' || E'\n'
        || '<p>Generated ' || hublink.html_escape(to_char(now() AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI'))
        || ' (' || hublink.html_escape(tz) || '), covering the ' || months || ' months from '
        || hublink.html_escape(to_char(since, 'YYYY-MM')) || ' to ' || hublink.html_escape(to_char(until, 'YYYY-MM'))
        || '. No personal data. Definitions: docs/mi.md.</p>' || E'\n'
        || '<h2>Volumes</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-volume', 'Removals per month', 'bar', volume) || E'\n'
        || '<h2>Response times against the SLA (Appendix D)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-sla', 'Response time by request, whole history', 'bar', sla, 'h') || E'\n'
        || hublink.mi_html_table('SLA compliance, whole history',
               'SELECT request_type, provider, target_seconds, requests, answered, unanswered, median_response_seconds, '
               || 'p95_response_seconds, breaches, within_target_percent FROM hublink.mi_sla_compliance '
               || 'WHERE month IS NULL ORDER BY request_type')
        || '<h2>End-to-end times (GSO 8)</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-end-to-end', 'Request to booked and to departure (hours)', 'line', e2e, 'h') || E'\n'
        || hublink.mi_html_table('End-to-end times per month of request',
               format('SELECT * FROM hublink.mi_end_to_end WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Money</h2>' || E'\n'
        || hublink.mi_svg_chart('chart-money', 'Money per month (' || coalesce(report_currency, 'no spend') || ')', 'bar', money) || E'\n'
        || hublink.mi_html_table('Money per month and currency',
               format('SELECT * FROM hublink.mi_money WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || hublink.mi_html_table('Best value against cheapest fare',
               format('SELECT * FROM hublink.mi_best_value WHERE month BETWEEN %L AND %L ORDER BY month, currency', since, until))
        || '<h2>Outcomes and escorting</h2>' || E'\n'
        || hublink.mi_html_table('Removals that ended',
               format('SELECT * FROM hublink.mi_removal_outcome WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || hublink.mi_html_table('Escorting',
               format('SELECT * FROM hublink.mi_escorting WHERE month BETWEEN %L AND %L ORDER BY month', since, until))
        || '<h2>Service now</h2>' || E'\n'
        || hublink.mi_html_table('Worker', 'SELECT party, state, connected, outbox_backlog, oldest_unsent_seconds, retrying FROM hublink.mi_worker')
        || hublink.mi_html_table('Backlog per queue', 'SELECT * FROM hublink.mi_message_backlog ORDER BY queue')
        || '</body></html>' || E'\n';
    RETURN html;
END;
$$;
COMMENT ON FUNCTION hublink.mi_report_html(integer, date) IS
    'The printable management-information report: one HTML document with SVG charts drawn '
    'here (volumes, SLA response times, end-to-end times, money) and the tables of the MI '
    'views over months months ending with the month of last_month (default: this month). Open it in a browser; print it to PDF from there '
    '(Schedule R SEC 019 c). scripts/mi-report writes it to a file.';

-- from sql/parts/88_mi_alerts.sql
-- Alerts for MI: per month, severity, kind and source. The alerts of protective monitoring
-- (source monitoring) are the security cases of Schedule R SEC 019 (attempted intrusions and
-- security cases by severity, for quarterly and annual reports); those of the workflow timers
-- (source timers) are missed deadlines. Counts only: no role names, no subjects.

CREATE VIEW hublink.mi_alerts AS
SELECT (date_trunc('month', a.raised_at AT TIME ZONE c.time_zone))::date AS month,
       a.severity,
       a.kind,
       k.source,
       count(*) AS alerts,
       count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE a.acknowledged_at IS NULL) AS open
  FROM hublink.alert a
  JOIN hublink.alert_kind k USING (kind)
  JOIN hublink.alert_severity s ON s.severity = a.severity
 CROSS JOIN hublink.reporting_config c
 GROUP BY 1, a.severity, s.rank, a.kind, k.source
 ORDER BY 1, s.rank DESC, a.kind;
COMMENT ON VIEW hublink.mi_alerts IS
    'Alerts per month (reporting time zone), severity, kind and source, with how many are '
    'acknowledged; source monitoring = the security cases of SEC 019, timers = missed deadlines '
    '(docs/mi.md). Counts only: no subjects, no role names.';
COMMENT ON COLUMN hublink.mi_alerts.month IS 'First day of the month the alerts were raised.';
COMMENT ON COLUMN hublink.mi_alerts.severity IS 'Severity (hublink.alert_severity).';
COMMENT ON COLUMN hublink.mi_alerts.kind IS 'Kind of alert (hublink.alert_kind).';
COMMENT ON COLUMN hublink.mi_alerts.source IS 'What raises that kind: monitoring, timers, worker.';
COMMENT ON COLUMN hublink.mi_alerts.alerts IS 'Alerts raised.';
COMMENT ON COLUMN hublink.mi_alerts.acknowledged IS 'Of them, acknowledged by a person.';
COMMENT ON COLUMN hublink.mi_alerts.open IS 'Of them, not acknowledged yet.';

-- from sql/parts/89_mi_rollup_job.sql
-- The MI rollup's job and marks (85_mi_rollup.sql; docs/mi.md "The rollup").

-- --- marks: which folded days a change touches ------------------------------------------------
-- Every table an MI view reads, with what a change to one of its rows touches: the instants of
-- the row itself (old and new), and a removal whose figures in other rows depend on it (the
-- lead-time band of a cancellation depends on the travel booked, the money lost on it on the
-- refunds, the escorts per returnee on the returnees, ...). For such a removal every instant
-- that decides a period of one of its rows is touched (hublink.rollup_mi_removal_instant):
-- coarse, but a change rarely reaches back to a removal's earlier days.
CREATE TABLE hublink.rollup_mi_source (
    table_name regclass PRIMARY KEY,
    removal_expr  text NOT NULL,
    instants_expr text NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_source IS
    'The source tables of the MI rollup and what a change to a row touches (SQL over the changed '
    'row t; read once, when the triggers are created at install).';
COMMENT ON COLUMN hublink.rollup_mi_source.table_name IS 'The table.';
COMMENT ON COLUMN hublink.rollup_mi_source.removal_expr IS 'The removal whose other rows depend on the row (NULL: none).';
COMMENT ON COLUMN hublink.rollup_mi_source.instants_expr IS 'The instants of the row that decide a period (a timestamptz[]).';
INSERT INTO hublink.rollup_mi_source VALUES
    ('hublink.removal', 'NULL::bigint', 'ARRAY[t.created_at]'),
    -- the removal machine's transitions decide outcomes and end-to-end times; the others only
    -- count on their own day (quote requests)
    ('hublink.state_transition', 'CASE WHEN t.machine = ''removal'' THEN t.removal_id END', 'ARRAY[t.at]'),
    ('hublink.escort_quote_response', 'NULL::bigint', 'ARRAY[t.received_at]'),
    ('hublink.travel_quote_response', 'NULL::bigint', 'ARRAY[t.received_at]'),
    ('hublink.escort_quote', 't.removal_id',
     'ARRAY[(SELECT p.received_at FROM hublink.escort_quote_response p WHERE p.escort_quote_response_id = t.escort_quote_response_id)]'),
    ('hublink.travel_quote', 't.removal_id',
     'ARRAY[(SELECT p.received_at FROM hublink.travel_quote_response p WHERE p.travel_quote_response_id = t.travel_quote_response_id)]'),
    ('hublink.itinerary_segment',
     '(SELECT q.removal_id FROM hublink.travel_quote q WHERE q.travel_quote_id = t.travel_quote_id)', 'ARRAY[]::timestamptz[]'),
    ('hublink.escort_position',
     '(SELECT p.removal_id FROM hublink.escort_quote_response p WHERE p.escort_quote_response_id = t.escort_quote_response_id)',
     'ARRAY[]::timestamptz[]'),
    ('hublink.escort_segment', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.returnee', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.ticket', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.escort_booking', 't.removal_id', 'ARRAY[t.requested_at, t.responded_at]'),
    ('hublink.travel_booking', 't.removal_id', 'ARRAY[t.requested_at, t.responded_at]'),
    ('hublink.amendment', 'NULL::bigint', 'ARRAY[t.sent_at]'),
    ('hublink.cancellation', 'NULL::bigint', 'ARRAY[t.cancelled_at]'),
    ('hublink.financial_consequence', 't.removal_id', 'ARRAY[t.recorded_at]'),
    ('hublink.refund_receipt', 'NULL::bigint', 'ARRAY[t.received_at]');

-- The instants that decide a period of a removal's rows in some MI view.
CREATE VIEW hublink.rollup_mi_removal_instant AS
SELECT r.removal_id, r.created_at AS at FROM hublink.removal r
UNION ALL
SELECT s.removal_id, s.at FROM hublink.state_transition s WHERE s.machine = 'removal'
UNION ALL
SELECT x.removal_id, x.cancelled_at FROM hublink.cancellation x
UNION ALL
SELECT b.removal_id, b.responded_at FROM hublink.escort_booking b
UNION ALL
SELECT b.removal_id, b.responded_at FROM hublink.travel_booking b;
COMMENT ON VIEW hublink.rollup_mi_removal_instant IS
    'The instants that decide the period of a removal''s rows in the MI views whose figures depend '
    'on other rows of the removal: its creation (end-to-end times), its transitions (outcomes), '
    'its cancellations (lead-time bands, money lost) and its bookings (spend, best value, escorting).';
COMMENT ON COLUMN hublink.rollup_mi_removal_instant.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.rollup_mi_removal_instant.at IS 'The instant.';

-- TRUNCATE of a source table, or an admin's rebuild: the views stop reading the rollup at once
-- (the time zone it was folded in no longer matches) and the job folds it again from nothing.
CREATE FUNCTION hublink.rollup_mi_reset() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.rollup_mi_state SET time_zone = NULL;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_reset() IS
    'Statement trigger on TRUNCATE of an MI source table: the MI views stop reading the rollup and '
    'hublink.rollup_mi_fold() rebuilds it.';
REVOKE ALL ON FUNCTION hublink.rollup_mi_reset() FROM PUBLIC;

-- Per source table, a statement trigger function (static SQL with a generic plan, cached for
-- the session: a query planned at every statement cost about a millisecond per message) that
-- marks the ended days the changed rows touch. Only ended days: the days not ended yet are not
-- folded, and the job folds a day only when every transaction that wrote before its end has
-- ended (hublink.rollup_mi_fold). Marks are plain inserts: no writer ever waits for another.
DO $$
DECLARE
    s    record;
    fn   text;
    mark text;
BEGIN
    FOR s IN SELECT x.*, c.relname FROM hublink.rollup_mi_source x
               JOIN pg_catalog.pg_class c ON c.oid = x.table_name LOOP
        fn := format('hublink.%I', 'rollup_mi_mark_' || s.relname);
        -- %1$s: the transition table. The removal part runs only when a changed row names one
        -- whose other rows depend on it (not, say, for a quote request's transition).
        mark := format($m$
        INSERT INTO hublink.rollup_mi_dirty_day (day)
        SELECT DISTINCT x.day
          FROM (SELECT (i AT TIME ZONE tz)::date AS day FROM %%1$s t CROSS JOIN LATERAL unnest(%1$s) i) x
         WHERE x.day < today;$m$, s.instants_expr);
        IF s.instants_expr = 'ARRAY[]::timestamptz[]' THEN
            mark := '';
        END IF;
        IF s.removal_expr <> 'NULL::bigint' THEN
            mark := mark || format($m$
        ids := ARRAY(SELECT DISTINCT r.id FROM (SELECT %s AS id FROM %%1$s t) r WHERE r.id IS NOT NULL);
        IF cardinality(ids) > 0 THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT x.day
              FROM (SELECT (a.at AT TIME ZONE tz)::date AS day FROM hublink.rollup_mi_removal_instant a
                     WHERE a.removal_id = ANY (ids)) x
             WHERE x.day < today;
        END IF;$m$, s.removal_expr);
        END IF;
        EXECUTE format($f$
CREATE FUNCTION %1$s() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
    AS $body$
DECLARE
    tz    text := (SELECT c.time_zone FROM hublink.reporting_config c);
    today date := (clock_timestamp() AT TIME ZONE tz)::date;
    ids   bigint[];
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN%2$s
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN%3$s
    END IF;
    RETURN NULL;
END;
$body$
$f$, fn, format(mark, 'rollup_old'), format(mark, 'rollup_new'));
        EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn,
                       format('Statement trigger on %s: marks in hublink.rollup_mi_dirty_day the ended days the '
                              'changed rows touch (hublink.rollup_mi_source), so that the MI views compute them '
                              'live until the rollup folds them again.', s.table_name));
        EXECUTE format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS rollup_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_update AFTER UPDATE ON %s '
                       'REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS rollup_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        -- TRUNCATE has no transition table: the rollup starts again.
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset()', s.table_name);
    END LOOP;
END;
$$;

-- --- the job ------------------------------------------------------------------------------------
-- Folds the days that have ended (and whose writers have all ended: a writer whose trigger ran
-- before a day ended did not mark it, so the job waits until every transaction running at
-- horizon_at, a moment after the day ended, has ended) from the watermark folded_until, and
-- folds again the days marked dirty. What it stores is what the rollup_mi_*_live views
-- compute for those days and months now (they are live until this transaction commits), so
-- the views give the same figures before and after. The marks it folds are claimed first and
-- deleted last: a mark written meanwhile by a concurrent writer, whose row this fold may not
-- see, stays, and its day stays live.
CREATE FUNCTION hublink.rollup_mi_fold() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s          hublink.rollup_mi_state;
    c          record;
    old_until  date;
    new_until  date;
    old_months date;
    new_months date;
    h_at       timestamptz;
    h_xmax     xid8;
    t          record;
BEGIN
    SELECT * INTO s FROM hublink.rollup_mi_state FOR UPDATE;
    SELECT * INTO c FROM hublink.rollup_mi_config;
    IF s.time_zone IS DISTINCT FROM c.time_zone OR s.config IS DISTINCT FROM c.config THEN
        -- first run, a changed configuration or a reset: start again from nothing
        DELETE FROM hublink.rollup_mi_volume_day;
        DELETE FROM hublink.rollup_mi_volume_period;
        FOR t IN SELECT x.oid::regclass AS rel FROM pg_catalog.pg_class x
                  WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                    AND x.relname ~ '^rollup_mi_.*_month$' LOOP
            EXECUTE format('DELETE FROM %s', t.rel);
        END LOOP;
        UPDATE hublink.rollup_mi_state SET time_zone = c.time_zone, config = c.config, folded_until = NULL;
        s.folded_until := NULL;
    END IF;
    old_until := s.folded_until;
    new_until := old_until;
    IF s.horizon_xmax IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) >= s.horizon_xmax THEN
        new_until := greatest(old_until, (s.horizon_at AT TIME ZONE c.time_zone)::date);
    END IF;
    -- the next horizon: the clock first, then the transactions that may have written before it
    h_at := clock_timestamp();
    h_xmax := pg_snapshot_xmax(pg_current_snapshot());
    UPDATE hublink.rollup_mi_state SET horizon_at = h_at, horizon_xmax = h_xmax;
    IF new_until IS NULL THEN
        RETURN h_at + interval '1 minute';
    END IF;

    -- Fold: the claimed dirty days before the old watermark, and every day from it to the new.
    UPDATE hublink.rollup_mi_dirty_day SET claimed = true WHERE day < new_until AND NOT claimed;
    old_until := coalesce(old_until, '-infinity');
    DELETE FROM hublink.rollup_mi_volume_day r
     WHERE r.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed)
        OR (r.day >= old_until AND r.day < new_until);
    INSERT INTO hublink.rollup_mi_volume_day
    SELECT v.day, v.measure, v.booking, v.reason_code, v.lead_time_band, v.count
      FROM hublink.rollup_mi_volume_live v
     WHERE v.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < old_until)
        OR (v.day >= old_until AND v.day < new_until);
    -- the longer periods wholly folded now that have a day folded in this run: sums of their days
    WITH fold AS (
        SELECT g.granularity, date_trunc(g.granularity, old_until::timestamp)::date AS from_start,
               date_trunc(g.granularity, new_until::timestamp)::date AS until
          FROM hublink.rollup_mi_granularity g WHERE NOT g.daily
    ), period AS (
        SELECT f.granularity, f.from_start, f.until, date_trunc(f.granularity, d.day::timestamp)::date AS period_start
          FROM fold f CROSS JOIN hublink.rollup_mi_dirty_day d WHERE d.claimed
    ), gone AS (
        DELETE FROM hublink.rollup_mi_volume_period p USING fold f
         WHERE p.granularity = f.granularity AND p.period_start < f.until
           AND (p.period_start >= f.from_start
                OR p.period_start IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
    )
    INSERT INTO hublink.rollup_mi_volume_period
    SELECT f.granularity, date_trunc(f.granularity, r.day::timestamp)::date, r.measure, r.booking, r.reason_code,
           r.lead_time_band, sum(r.count)
      FROM fold f CROSS JOIN hublink.rollup_mi_volume_day r
     WHERE date_trunc(f.granularity, r.day::timestamp)::date < f.until
       AND (date_trunc(f.granularity, r.day::timestamp)::date >= f.from_start
            OR date_trunc(f.granularity, r.day::timestamp)::date
               IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
     GROUP BY 1, 2, 3, 4, 5, 6;

    -- Whole months only: those before the new watermark's month that are new or had a dirty day.
    old_months := coalesce(date_trunc('month', old_until::timestamp)::date, '-infinity');
    new_months := date_trunc('month', new_until::timestamp)::date;
    FOR t IN SELECT x.oid::regclass AS rel, (regexp_replace(x.oid::regclass::text, '_month$', '_live'))::regclass AS live
               FROM pg_catalog.pg_class x
              WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                AND x.relname ~ '^rollup_mi_.*_month$' LOOP
        EXECUTE format($q$
            WITH fold AS (
                SELECT date_trunc('month', d.day::timestamp)::date AS month
                  FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < $1
            ), gone AS (
                DELETE FROM %1$s r
                 WHERE (r.month IN (SELECT f.month FROM fold f) OR r.month >= $2) AND r.month < $3
            )
            INSERT INTO %1$s SELECT v.* FROM %2$s v
             WHERE (v.month IN (SELECT f.month FROM fold f) OR v.month >= $2) AND v.month < $3$q$, t.rel, t.live)
        USING old_until, old_months, new_months;
    END LOOP;

    DELETE FROM hublink.rollup_mi_dirty_day WHERE claimed;
    UPDATE hublink.rollup_mi_state SET folded_until = new_until;
    -- The views' plans depend on these small tables' sizes (a stale estimate of thousands of
    -- dirty days would make them plan, and JIT-compile, for a full live computation).
    IF new_until IS DISTINCT FROM s.folded_until THEN
        ANALYZE hublink.rollup_mi_state, hublink.rollup_mi_dirty_day, hublink.rollup_mi_volume_day,
                hublink.rollup_mi_volume_period;
    END IF;
    -- behind (a day ended since the horizon, or its writers had not ended): again in a minute
    RETURN CASE WHEN new_until < (h_at AT TIME ZONE c.time_zone)::date THEN h_at + interval '1 minute' END;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_fold() IS
    'The worker job mi_rollup (docs/mi.md "The rollup"): folds the ended days from the watermark '
    'and the days marked dirty into the MI rollup tables. Returns when it wants to run again.';
REVOKE ALL ON FUNCTION hublink.rollup_mi_fold() FROM PUBLIC;

CREATE FUNCTION hublink.rollup_mi_rebuild() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.rollup_mi_state SET time_zone = NULL;
    PERFORM hublink.schedule_worker_job('mi_rollup', clock_timestamp());
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_rebuild() IS
    'Throws the MI rollup away: the MI views compute everything live (exact, slow) until the '
    'worker job mi_rollup has folded it again (its next two runs, brought forward to now).';
REVOKE ALL ON FUNCTION hublink.rollup_mi_rebuild() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('mi_rollup', 'hublink.rollup_mi_fold()'::regprocedure, interval '10 minutes',
        'Folds the ended days into the MI rollup and re-folds the days changed since '
        '(hublink.rollup_mi_state, docs/mi.md "The rollup").');

ANALYZE hublink.rollup_mi_state, hublink.rollup_mi_dirty_day;

INSERT INTO hublink.audit_exclusion VALUES
    ('rollup_mi_state', 'MI rollup bookkeeping, rewritten at every run of the job mi_rollup.'),
    ('rollup_mi_dirty_day', 'MI rollup bookkeeping: days marked by triggers and cleared by the job.'),
    ('rollup_mi_volume_day', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_volume_period', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_end_to_end_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_money_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_removal_outcome_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_best_value_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_escorting_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.');

-- from sql/parts/90_access.sql
-- Need-to-know access (issue 6 section 1; NFR 0015; Appendix B 4.16 roles, 4.19 search):
-- the four group roles, sensitivity levels as ranked reference rows, a clearance per login
-- role, a sensitivity per removal, and the functions that decide what a caller may see.
-- Row-level security and grants are applied from the catalog by 91_access_policy.sql and
-- 93_access_apply.sql, late, so tables of earlier parts are all covered. docs/security-access.md.

DO $$
BEGIN
    -- hublink_admin and hublink_caseworker come from 42_reference_codes.sql.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_reporting') THEN
        CREATE ROLE hublink_reporting NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_worker') THEN
        CREATE ROLE hublink_worker NOLOGIN;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA hublink TO hublink_reporting, hublink_worker;

CREATE TABLE hublink.sensitivity_level (
    level       text PRIMARY KEY CHECK (level ~ '^[a-z][a-z-]*$'),
    rank        integer NOT NULL UNIQUE CHECK (rank > 0),
    description text NOT NULL
);
COMMENT ON TABLE hublink.sensitivity_level IS
    'Sensitivity of a removal and clearance of a login role, ranked (NFR 0015, Appendix B 4.19): '
    'a login cleared at rank N sees the removals of rank N and below. Rows, edited by hublink_admin.';
COMMENT ON COLUMN hublink.sensitivity_level.level IS 'Name of the level.';
COMMENT ON COLUMN hublink.sensitivity_level.rank IS 'Its rank: higher is more sensitive. The lowest rank is the default sensitivity of a removal.';
COMMENT ON COLUMN hublink.sensitivity_level.description IS 'Which cases it is for.';
SELECT pg_catalog.pg_extension_config_dump('hublink.sensitivity_level', '');
INSERT INTO hublink.sensitivity_level (level, rank, description) VALUES
    ('standard', 10, 'Most removals: any caseworker with a clearance may see them.'),
    ('sensitive', 20, 'Cases with a higher profile or a risk to others: caseworkers cleared for sensitive cases.'),
    ('restricted', 30, 'Cases named by the Home Office as restricted: a few named caseworkers.');

CREATE TABLE hublink.role_clearance (
    role_name  name PRIMARY KEY,
    level      text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    granted_by name NOT NULL DEFAULT session_user,
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.role_clearance IS
    'The clearance of each login role (NFR 0015). A login without a row sees no removal. Set with '
    'hublink.set_clearance(); each login reads only its own row.';
COMMENT ON COLUMN hublink.role_clearance.role_name IS 'The login role (session_user).';
COMMENT ON COLUMN hublink.role_clearance.level IS 'The highest sensitivity it may see.';
COMMENT ON COLUMN hublink.role_clearance.granted_by IS 'The login that set it.';
COMMENT ON COLUMN hublink.role_clearance.granted_at IS 'When.';
SELECT pg_catalog.pg_extension_config_dump('hublink.role_clearance', '');
ALTER TABLE hublink.role_clearance ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_clearance ON hublink.role_clearance FOR SELECT
    USING (role_name = session_user OR pg_catalog.pg_has_role(session_user, 'hublink_admin', 'USAGE'));
COMMENT ON POLICY own_clearance ON hublink.role_clearance IS
    'A login reads its own clearance; an admin reads them all.';
GRANT SELECT ON hublink.sensitivity_level TO hublink_admin, hublink_caseworker;
GRANT INSERT, UPDATE, DELETE ON hublink.sensitivity_level TO hublink_admin;
GRANT SELECT ON hublink.role_clearance TO hublink_admin, hublink_caseworker;

CREATE FUNCTION hublink.lowest_sensitivity() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT l.level FROM hublink.sensitivity_level l ORDER BY l.rank LIMIT 1);
COMMENT ON FUNCTION hublink.lowest_sensitivity() IS
    'The lowest sensitivity level: the default of hublink.removal.sensitivity.';

-- In three steps: a column added with a default and NOT NULL at once rewrites the table,
-- which PostgreSQL refuses while functions take hublink.removal rows as arguments.
ALTER TABLE hublink.removal ADD COLUMN sensitivity text REFERENCES hublink.sensitivity_level ON UPDATE CASCADE;
UPDATE hublink.removal SET sensitivity = hublink.lowest_sensitivity();
ALTER TABLE hublink.removal ALTER COLUMN sensitivity SET DEFAULT hublink.lowest_sensitivity(),
                            ALTER COLUMN sensitivity SET NOT NULL;
COMMENT ON COLUMN hublink.removal.sensitivity IS
    'How sensitive the case is (Appendix B 4.19): only logins cleared at this level or above see '
    'the removal and its rows. Defaults to the lowest level; set with hublink.set_removal_sensitivity().';
CREATE INDEX removal_sensitivity ON hublink.removal (sensitivity);
COMMENT ON INDEX hublink.removal_sensitivity IS 'Row-level security filters on it.';

-- The levels the calling login is cleared for. Invoker rights on purpose: it reads
-- role_clearance under that table's own policy, and in a policy it runs as the querying role.
-- The subject is session_user, the login: SET ROLE does not change a clearance.
-- SECURITY DEFINER: the policies call it for every reader, and a reader that may not read
-- hublink.role_clearance must get "no levels", not a permission error. It reveals only the
-- caller's own clearance.
CREATE FUNCTION hublink.cleared_levels() RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN ARRAY(SELECT l.level FROM hublink.sensitivity_level l
                  WHERE l.rank <= (SELECT m.rank FROM hublink.role_clearance c
                                     JOIN hublink.sensitivity_level m ON m.level = c.level
                                    WHERE c.role_name = session_user)
                  ORDER BY l.rank);
COMMENT ON FUNCTION hublink.cleared_levels() IS
    'The sensitivity levels the login (session_user) is cleared for; empty without a clearance.';

-- Owner-side check for SECURITY DEFINER functions, which run as the extension owner and so
-- bypass row-level security: the login behind the call must be cleared for the removal.
-- The extension owner, superusers and members of hublink_worker pass (the worker and the
-- handlers process every removal).
CREATE FUNCTION hublink.removal_access_allowed(removal_id bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                   OR pg_catalog.pg_has_role(session_user, 'hublink_worker', 'USAGE')
              FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
        OR EXISTS (SELECT FROM hublink.removal x
                     JOIN hublink.sensitivity_level s ON s.level = x.sensitivity
                     JOIN hublink.role_clearance c ON c.role_name = session_user
                     JOIN hublink.sensitivity_level m ON m.level = c.level
                    WHERE x.removal_id = removal_access_allowed.removal_id AND s.rank <= m.rank);
COMMENT ON FUNCTION hublink.removal_access_allowed(bigint) IS
    'True when the login (session_user) may see the removal: it is cleared at the removal''s '
    'sensitivity or above, or it is the extension owner, a superuser or a hublink_worker member.';
REVOKE ALL ON FUNCTION hublink.removal_access_allowed(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.require_removal_access(removal_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT coalesce(hublink.removal_access_allowed(removal_id), false) THEN
        -- The same words for a removal that exists and one that does not: no existence leak.
        RAISE EXCEPTION 'removal % is not accessible', coalesce(removal_id::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The removal does not exist or its sensitivity is above the clearance of this login.',
                  HINT = 'An admin sets clearances with hublink.set_clearance().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(bigint) IS
    'Raises insufficient_privilege unless the login may see the removal (hublink.removal_access_allowed). '
    'Every SECURITY DEFINER function that takes a removal and that a caseworker may call '
    'PERFORMs it first: such functions bypass row-level security.';
REVOKE ALL ON FUNCTION hublink.require_removal_access(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.require_removal_access(removal_reference text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.require_removal_access(
        coalesce((SELECT r.removal_id FROM hublink.removal r
                   WHERE r.removal_reference = require_removal_access.removal_reference), -1));
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(text) IS
    'hublink.require_removal_access by removal reference (RMV-...); an unknown reference is refused '
    'to a caseworker like an invisible one.';
REVOKE ALL ON FUNCTION hublink.require_removal_access(text) FROM PUBLIC;

CREATE FUNCTION hublink.set_clearance(role_name name, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = set_clearance.role_name AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'role "%" is not a login role', role_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'A clearance belongs to a login role (one per person).',
                  HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker first.';
    END IF;
    IF level IS NULL THEN
        DELETE FROM hublink.role_clearance c WHERE c.role_name = set_clearance.role_name;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_clearance.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Clearances are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    INSERT INTO hublink.role_clearance AS c (role_name, level) VALUES (set_clearance.role_name, set_clearance.level)
    ON CONFLICT ON CONSTRAINT role_clearance_pkey
    DO UPDATE SET level = excluded.level, granted_by = session_user, granted_at = now();
END;
$$;
COMMENT ON FUNCTION hublink.set_clearance(name, text) IS
    'Sets the clearance of a login role to a sensitivity level (NULL removes it: the login then '
    'sees no removal). For hublink_admin (Appendix B 4.16: the service administrator manages users).';
REVOKE ALL ON FUNCTION hublink.set_clearance(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_clearance(name, text) TO hublink_admin;

CREATE FUNCTION hublink.set_removal_sensitivity(removal_reference text, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin boolean := pg_catalog.pg_has_role(session_user, 'hublink_admin', 'USAGE');
BEGIN
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(removal_reference);
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_removal_sensitivity.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sensitivities are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    IF NOT admin AND NOT level = ANY (hublink.cleared_levels()) THEN
        RAISE EXCEPTION 'sensitivity "%" is above the clearance of this login', level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker may not hide a removal from itself.',
                  HINT = 'Ask an admin (hublink_admin) to set it.';
    END IF;
    UPDATE hublink.removal r SET sensitivity = set_removal_sensitivity.level
     WHERE r.removal_reference = set_removal_sensitivity.removal_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', removal_reference USING ERRCODE = 'no_data_found',
            DETAIL = 'No removal has this reference.', HINT = 'hublink.search_removals() finds removals.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.set_removal_sensitivity(text, text) IS
    'Sets the sensitivity of a removal. A caseworker may set it on a removal it sees, up to its own '
    'clearance; an admin on any removal, to any level.';
REVOKE ALL ON FUNCTION hublink.set_removal_sensitivity(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_removal_sensitivity(text, text) TO hublink_admin, hublink_caseworker;

-- from sql/parts/91_access_policy.sql
-- Need-to-know access, applied from the catalog (issue 6 section 1; NFR 0015): which tables
-- hold removal data and how each row reaches its removal (derived from the columns and the
-- foreign keys, so tables that later parts add are covered), which class every table and view
-- of the schema belongs to, and which role gets what on each class, as rows.
-- hublink.apply_access_policy() applies them; 93_access_apply.sql runs it last.

CREATE TABLE hublink.access_class (
    class       text PRIMARY KEY CHECK (class ~ '^[a-z_]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.access_class IS
    'Classes of tables and views for access control (docs/security-access.md): each object of the '
    'schema falls in one (hublink.access_object), and hublink.access_grant says what each role gets on it.';
COMMENT ON COLUMN hublink.access_class.class IS 'Name of the class.';
COMMENT ON COLUMN hublink.access_class.description IS 'What falls in it.';
INSERT INTO hublink.access_class VALUES
    ('removal_data', 'Tables whose rows belong to one removal (a removal_id column, or a foreign key '
                     'path to such a table): row-level security by the removal''s sensitivity.'),
    ('message_log', 'The inbox and the outbox: whole messages the worker processes; row-level security '
                    'as removal data, and the worker sees every row.'),
    ('reference', 'Every other table: reference data, rules, configuration; no personal data.'),
    ('removal_view', 'Views that read removal data: made security_invoker, so the reader''s row-level '
                     'security applies.'),
    ('message_view', 'Views that read the inbox or the outbox and no removal data (the worker''s '
                     'status): made security_invoker.'),
    ('mi_view', 'The management information views hublink.mi_*: aggregates without personal data, read '
                'with the owner''s rights by reporting.'),
    ('reference_view', 'Every other view.'),
    ('own_grants', 'Tables and views whose own part decides every privilege (the audit trail, the data '
                   'keys, the security events): apply_access_policy grants nothing on them and enables '
                   'no row-level security.'),
    ('invoker_function', 'Functions of the schema that run with the caller''s rights and that their part left '
                         'executable by PUBLIC: apply_access_policy revokes EXECUTE from PUBLIC and grants it '
                         'to the group roles of hublink.access_grant.'),
    ('definer_function', 'SECURITY DEFINER functions that their part left executable by PUBLIC (trigger '
                         'functions): EXECUTE revoked from PUBLIC; their part grants them by name.'),
    ('schema_type', 'Types of the schema (the row types of its tables and views, composite types): USAGE, '
                    'which lets a role create a column or function of the type, revoked from PUBLIC '
                    '(such objects would pin the tables'' definitions) and granted to the group roles.');

CREATE TABLE hublink.access_table_override (
    table_name text PRIMARY KEY,
    class      text NOT NULL REFERENCES hublink.access_class,
    reason     text NOT NULL
);
COMMENT ON COLUMN hublink.access_table_override.table_name IS
    'Table or view name in schema hublink, or a LIKE pattern of names (the longest match wins).';
COMMENT ON TABLE hublink.access_table_override IS
    'Tables and views whose class is not the one derived from the catalog (hublink.access_object).';
COMMENT ON COLUMN hublink.access_table_override.class IS 'Its class.';
COMMENT ON COLUMN hublink.access_table_override.reason IS 'Why.';
INSERT INTO hublink.access_table_override VALUES
    ('inbox', 'message_log', 'Whole inbound messages: the worker processes them; caseworkers read the domain tables.'),
    ('outbox', 'message_log', 'Whole outbound messages: the worker publishes them.'),
    ('removal_data_path', 'reference_view', 'Catalog only: it names hublink.removal, it reads no row of it.'),
    ('access_object', 'reference_view', 'Catalog only: it names hublink.removal, it reads no row of it.'),
    ('audit\_%', 'own_grants', 'The audit trail (70_audit*.sql, docs/security-audit.md) grants its own privileges.'),
    ('data\_key%', 'own_grants', 'Data keys (72_crypto_keys.sql, docs/security-crypto.md): no role reads them.'),
    ('security\_%', 'own_grants', 'Protective monitoring (75_security_events.sql, docs/security-monitoring.md).'),
    ('logon%', 'own_grants', 'Logon records (75_security_events.sql): protective monitoring.'),
    ('rollup\_mi\_%', 'own_grants', 'The MI rollup (85_mi_rollup.sql, docs/mi.md): read with the owner''s '
                      'rights by the hublink.mi_* views, written by its job and triggers only.'),
    ('worker%status', 'reference_view', 'Counts and queue names, no message content: read with the '
                      'owner''s rights by hublink.mi_worker and hublink.mi_message_backlog for reporting.');

CREATE TABLE hublink.access_grant (
    class      text NOT NULL REFERENCES hublink.access_class,
    role_name  name NOT NULL,
    privileges text[] NOT NULL,
    PRIMARY KEY (class, role_name)
);
COMMENT ON TABLE hublink.access_grant IS
    'What each group role is granted on each class of object (Appendix B 4.16); a class or role '
    'without a row gets nothing.';
COMMENT ON COLUMN hublink.access_grant.class IS 'The class.';
COMMENT ON COLUMN hublink.access_grant.role_name IS 'The group role.';
COMMENT ON COLUMN hublink.access_grant.privileges IS 'Privileges granted on each object of the class.';
INSERT INTO hublink.access_grant VALUES
    -- SELECT only: a caseworker changes a removal through the Hub's SECURITY DEFINER functions
    -- (44_hub.sql), which run the state machine and check its clearance, never by DML.
    ('removal_data', 'hublink_caseworker', '{SELECT}'),
    ('message_log', 'hublink_worker', '{SELECT,INSERT,UPDATE,DELETE}'),
    ('reference', 'hublink_admin', '{SELECT}'),
    ('reference', 'hublink_caseworker', '{SELECT}'),
    ('reference', 'hublink_worker', '{SELECT}'),
    ('removal_view', 'hublink_caseworker', '{SELECT}'),
    ('reference_view', 'hublink_admin', '{SELECT}'),
    ('reference_view', 'hublink_caseworker', '{SELECT}'),
    ('reference_view', 'hublink_worker', '{SELECT}'),
    ('message_view', 'hublink_worker', '{SELECT}'),
    ('mi_view', 'hublink_reporting', '{SELECT}'),
    ('mi_view', 'hublink_admin', '{SELECT}'),
    -- what PUBLIC had before apply_access_policy revoked it: the roles that use the schema
    ('invoker_function', 'hublink_admin', '{EXECUTE}'),
    ('invoker_function', 'hublink_caseworker', '{EXECUTE}'),
    ('invoker_function', 'hublink_reporting', '{EXECUTE}'),
    ('invoker_function', 'hublink_worker', '{EXECUTE}'),
    ('invoker_function', 'hublink_audit_reader', '{EXECUTE}'),
    ('schema_type', 'hublink_admin', '{USAGE}'),
    ('schema_type', 'hublink_caseworker', '{USAGE}'),
    ('schema_type', 'hublink_reporting', '{USAGE}'),
    ('schema_type', 'hublink_worker', '{USAGE}'),
    ('schema_type', 'hublink_audit_reader', '{USAGE}');

-- PUBLIC has USAGE on the schema (apply_access_policy), so that a login holding no hublink role
-- is refused by the privilege check of the very table it names, where the monitoring's hooks
-- see an attempt on the audit store (docs/security-monitoring.md). Hence no function of the
-- schema is executable by PUBLIC but these.
CREATE TABLE hublink.access_public_function (
    function_name text PRIMARY KEY,
    reason        text NOT NULL
);
COMMENT ON TABLE hublink.access_public_function IS
    'The functions of schema hublink that PUBLIC may execute (docs/security-access.md "Logins '
    'without a hublink role"); apply_access_policy revokes EXECUTE from PUBLIC on every other one.';
COMMENT ON COLUMN hublink.access_public_function.function_name IS
    'The function as regprocedure text with search_path pg_catalog (hublink.name(argument types)).';
COMMENT ON COLUMN hublink.access_public_function.reason IS 'Why PUBLIC may execute it.';
INSERT INTO hublink.access_public_function VALUES
    ('hublink.cleared_levels()', 'The row-level security policies call it for every reader; it returns only '
                                 'the caller''s own levels (none for a login without a clearance).');

-- How each table reaches its removal: a removal_id column (bigint: the key; text: the
-- reference), or a one-column foreign key to a table that does.
CREATE VIEW hublink.removal_data_path AS
WITH RECURSIVE
tables AS (
    SELECT c.oid AS relid
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
),
direct AS (
    SELECT t.relid, a.attname AS key_column,
           CASE WHEN a.atttypid = 'pg_catalog.text'::regtype THEN 'removal_reference' ELSE 'removal_id' END AS parent_column
      FROM tables t
      JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attname = 'removal_id' AND NOT a.attisdropped
     WHERE t.relid <> 'hublink.removal'::regclass
),
path (relid, key_column, parent, parent_column, depth) AS (
    SELECT d.relid, d.key_column, 'hublink.removal'::regclass::oid, d.parent_column::name COLLATE "C", 1 FROM direct d
    UNION ALL
    SELECT f.conrelid, ka.attname, f.confrelid, pa.attname, p.depth + 1
      FROM path p
      JOIN pg_catalog.pg_constraint f ON f.contype = 'f' AND f.confrelid = p.relid
                                      AND pg_catalog.cardinality(f.conkey) = 1
      JOIN pg_catalog.pg_attribute ka ON ka.attrelid = f.conrelid AND ka.attnum = f.conkey[1]
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = f.confkey[1]
     WHERE f.conrelid IN (SELECT t.relid FROM tables t)
       AND f.conrelid NOT IN (SELECT d.relid FROM direct d)
       AND f.conrelid <> 'hublink.removal'::regclass
       AND p.depth < 8
)
SELECT DISTINCT ON (p.relid)
       p.relid::regclass AS table_name, p.key_column, p.parent::regclass AS parent, p.parent_column, p.depth
  FROM path p
 ORDER BY p.relid, p.depth, p.key_column;
COMMENT ON VIEW hublink.removal_data_path IS
    'Every table holding removal data and how a row reaches its removal, derived from the catalog: '
    'key_column of the table references parent_column of parent (hublink.removal itself for a '
    'removal_id column). Row-level security follows these paths.';
COMMENT ON COLUMN hublink.removal_data_path.table_name IS 'The table.';
COMMENT ON COLUMN hublink.removal_data_path.key_column IS 'Its column that leads to the removal.';
COMMENT ON COLUMN hublink.removal_data_path.parent IS 'The table that column references.';
COMMENT ON COLUMN hublink.removal_data_path.parent_column IS 'The column referenced.';
COMMENT ON COLUMN hublink.removal_data_path.depth IS 'Steps from hublink.removal.';

-- The class of every table and view of the schema.
CREATE VIEW hublink.access_object AS
WITH RECURSIVE
objects AS (
    SELECT c.oid AS relid, c.relname, c.relkind
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
),
overrides AS (
    SELECT DISTINCT ON (o.relid) o.relid, x.class
      FROM objects o JOIN hublink.access_table_override x ON o.relname LIKE x.table_name
     ORDER BY o.relid, length(x.table_name) DESC
),
table_class AS (
    SELECT o.relid,
           coalesce(x.class,
                    CASE WHEN o.relid = 'hublink.removal'::regclass
                              OR o.relid IN (SELECT p.table_name FROM hublink.removal_data_path p)
                         THEN 'removal_data' ELSE 'reference' END) AS class
      FROM objects o LEFT JOIN overrides x ON x.relid = o.relid
     WHERE o.relkind IN ('r', 'p')
),
-- views and what they read, through other views
reads (view_id, relid) AS (
    SELECT DISTINCT r.ev_class, d.refobjid
      FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
     WHERE r.ev_class IN (SELECT o.relid FROM objects o WHERE o.relkind IN ('v', 'm'))
    UNION
    SELECT v.view_id, d.refobjid
      FROM reads v
      JOIN pg_catalog.pg_rewrite r ON r.ev_class = v.relid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
)
SELECT o.relid::regclass AS object_name, o.relkind,
       CASE WHEN o.relkind IN ('r', 'p') THEN t.class
            WHEN x.class IS NOT NULL THEN x.class
            WHEN o.relname LIKE 'mi\_%' THEN 'mi_view'
            WHEN EXISTS (SELECT FROM reads v JOIN table_class u ON u.relid = v.relid
                          WHERE v.view_id = o.relid AND u.class = 'removal_data')
            THEN 'removal_view'
            WHEN EXISTS (SELECT FROM reads v JOIN table_class u ON u.relid = v.relid
                          WHERE v.view_id = o.relid AND u.class = 'message_log')
            THEN 'message_view'
            ELSE 'reference_view' END AS class
  FROM objects o LEFT JOIN table_class t ON t.relid = o.relid
  LEFT JOIN overrides x ON x.relid = o.relid;
COMMENT ON VIEW hublink.access_object IS
    'The access class of every table and view of schema hublink, from the catalog: removal data by '
    'hublink.removal_data_path, overrides from hublink.access_table_override, views by what they read '
    '(mi_* views by name).';
COMMENT ON COLUMN hublink.access_object.object_name IS 'The table or view.';
COMMENT ON COLUMN hublink.access_object.relkind IS 'pg_class.relkind: r table, p partitioned table, v view, m materialized view.';
COMMENT ON COLUMN hublink.access_object.class IS 'Its class (hublink.access_class).';

CREATE FUNCTION hublink.apply_access_policy() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o       record;
    g       record;
    p       record;
    f       record;
    visible text;
    n       integer := 0;
BEGIN
    FOR o IN SELECT a.object_name, a.relkind, a.class FROM hublink.access_object a ORDER BY a.object_name::text LOOP
        IF o.class IN ('removal_data', 'message_log') THEN
            IF o.object_name = 'hublink.removal'::regclass THEN
                visible := 'sensitivity IN (SELECT l.l FROM pg_catalog.unnest(hublink.cleared_levels()) l)';
            ELSE
                SELECT * INTO p FROM hublink.removal_data_path d WHERE d.table_name = o.object_name;
                visible := format('%I IN (SELECT x.%I FROM %s x)', p.key_column, p.parent_column, p.parent);
            END IF;
            -- Not FORCE: the extension owner (the worker, SECURITY DEFINER functions) sees every row.
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', o.object_name);
            IF EXISTS (SELECT FROM pg_catalog.pg_policy x WHERE x.polrelid = o.object_name AND x.polname = 'need_to_know') THEN
                EXECUTE format('DROP POLICY need_to_know ON %s', o.object_name);
            END IF;
            EXECUTE format('CREATE POLICY need_to_know ON %s USING (%s) WITH CHECK (%s)', o.object_name, visible, visible);
            EXECUTE format('COMMENT ON POLICY need_to_know ON %s IS %L', o.object_name,
                           'Rows of removals whose sensitivity the login is cleared for (NFR 0015; hublink.cleared_levels).');
            IF EXISTS (SELECT FROM pg_catalog.pg_policy x WHERE x.polrelid = o.object_name AND x.polname = 'worker_processes') THEN
                EXECUTE format('DROP POLICY worker_processes ON %s', o.object_name);
            END IF;
            IF o.class = 'message_log' THEN
                EXECUTE format('CREATE POLICY worker_processes ON %s TO hublink_worker USING (true) WITH CHECK (true)',
                               o.object_name);
                EXECUTE format('COMMENT ON POLICY worker_processes ON %s IS %L', o.object_name,
                               'The worker processes every message.');
            END IF;
        ELSIF o.class IN ('removal_view', 'message_view') THEN
            EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', o.object_name);
        END IF;
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = o.class LOOP
            EXECUTE format('GRANT %s ON %s TO %I', array_to_string(g.privileges, ', '), o.object_name, g.role_name);
        END LOOP;
        n := n + 1;
    END LOOP;
    -- Free-standing sequences (hublink.removal_serial); identity columns need no grant. Not to
    -- caseworkers: hublink.create_removal (SECURITY DEFINER) takes the number as the owner.
    FOR o IN SELECT c.oid::regclass AS seq FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'S'
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO hublink_worker', o.seq);
    END LOOP;
    -- Functions: EXECUTE is PUBLIC's by default. Every function of the schema that PUBLIC may
    -- execute and hublink.access_public_function does not list goes to the group roles instead
    -- (trigger functions to none: firing a trigger checks no EXECUTE).
    FOR f IN SELECT fn.oid::regprocedure AS sig,
                    CASE WHEN fn.prosecdef THEN 'definer_function' ELSE 'invoker_function' END AS class,
                    fn.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger
               FROM pg_catalog.pg_proc fn
              WHERE fn.pronamespace = 'hublink'::regnamespace
                AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(fn.proacl, pg_catalog.acldefault('f', fn.proowner))) a
                             WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
                AND NOT EXISTS (SELECT FROM hublink.access_public_function x
                                 WHERE x.function_name = fn.oid::regprocedure::text)
              ORDER BY 1 LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', f.sig);
        CONTINUE WHEN f.is_trigger;
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = f.class LOOP
            EXECUTE format('GRANT %s ON ROUTINE %s TO %I', array_to_string(g.privileges, ', '), f.sig, g.role_name);
        END LOOP;
    END LOOP;
    -- Types: USAGE is PUBLIC's by default; an array type follows its element type.
    FOR f IN SELECT ty.oid::regtype AS typ
               FROM pg_catalog.pg_type ty
              WHERE ty.typnamespace = 'hublink'::regnamespace
                AND NOT (ty.typelem <> 0 AND ty.typsubscript = 'pg_catalog.array_subscript_handler'::regproc)
                AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(ty.typacl, pg_catalog.acldefault('T', ty.typowner))) a
                             WHERE a.grantee = 0 AND a.privilege_type = 'USAGE')
              ORDER BY 1 LOOP
        EXECUTE format('REVOKE USAGE ON TYPE %s FROM PUBLIC', f.typ);
        FOR g IN SELECT x.role_name, x.privileges FROM hublink.access_grant x WHERE x.class = 'schema_type' LOOP
            EXECUTE format('GRANT %s ON TYPE %s TO %I', array_to_string(g.privileges, ', '), f.typ, g.role_name);
        END LOOP;
    END LOOP;
    -- Only now, with no function or type left to PUBLIC but the functions listed: a login
    -- without a hublink role looks names up and is refused by each object's own privileges
    -- (never CREATE).
    GRANT USAGE ON SCHEMA hublink TO PUBLIC;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.apply_access_policy() IS
    'Applies row-level security and the grants of hublink.access_grant to every table and view of '
    'the schema by its class (hublink.access_object); idempotent. Run at install after every part '
    '(93_access_apply.sql) and again after any upgrade that adds tables or views. Returns the '
    'number of objects. Row-level security is enabled but not forced: the owner (the '
    'SECURITY DEFINER functions) sees every row. Functions that PUBLIC may execute, but those of '
    'hublink.access_public_function, are revoked from PUBLIC and granted by hublink.access_grant '
    '(classes invoker_function, definer_function), and so is USAGE on types (class schema_type); '
    'then PUBLIC gets USAGE on the schema.';
REVOKE ALL ON FUNCTION hublink.apply_access_policy() FROM PUBLIC;

-- The functions the worker role runs (docs/worker.md). Not hublink.send to caseworkers: it
-- writes the outbox without the state machine; the Hub functions (SECURITY DEFINER, 44_hub.sql)
-- call it as the owner.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT x.sig, x.role_name FROM (VALUES
        ('hublink.send(jsonb)', 'hublink_worker'),
        ('hublink.enqueue_error(text,jsonb,jsonb)', 'hublink_worker'),
        ('hublink.inbox_reject(text,jsonb,bytea,jsonb,timestamptz,text,timestamptz,boolean,jsonb)', 'hublink_worker'),
        ('hublink.inbox_defer(text,jsonb,text,timestamptz,text,timestamptz,boolean)', 'hublink_worker'),
        ('hublink.inbox_retry_failed(bigint,text)', 'hublink_worker'),
        -- the sealed bodies it publishes (bgworker/outbox.c) and retries (bgworker/inbox.c)
        ('hublink.open_message(jsonb,text,bytea)', 'hublink_worker'),
        ('hublink.run_worker_jobs()', 'hublink_worker'),
        ('hublink.note_handler_rejection()', 'hublink_worker'),
        -- The handlers (hublink.message_handler; the worker checks EXECUTE before it calls one)
        -- and the opener of sealed message bodies it publishes or retries.
        ('hublink.handle_message(jsonb)', 'hublink_worker'),
        ('hublink.apply_reference_list(jsonb)', 'hublink_worker'),
        ('hublink.record_message(jsonb)', 'hublink_worker'),
        ('hublink.open_message(jsonb,text,bytea)', 'hublink_worker')) AS x (sig, role_name)
    LOOP
        IF pg_catalog.to_regprocedure(f.sig) IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', pg_catalog.to_regprocedure(f.sig), f.role_name);
        END IF;
    END LOOP;
END;
$$;

-- from sql/parts/93_access_apply.sql
-- Last of the install script: row-level security and grants on every table and view that the
-- parts before created (91_access_policy.sql). A part that sorts after this one, or an upgrade
-- script, that adds tables or views runs SELECT hublink.apply_access_policy() itself.
SELECT hublink.apply_access_policy();

-- from sql/parts/98_audit_attach.sql
-- Late part (issue 6 section 3; docs/security-audit.md "Which tables"): attaches the audit
-- triggers to every table that the parts before created and the rule of 70_audit_rows.sql
-- picks (hublink.audit_coverage). A part that sorts after this one, or an upgrade script,
-- that adds tables runs SELECT hublink.audit_attach() itself.
SELECT hublink.audit_attach();

-- The audit store keeps its own privileges whatever a generic grant loop of an earlier part
-- did: no role but the owner holds any privilege on the two tables, and UPDATE, DELETE and
-- TRUNCATE not even the owner. The feed is read through hublink.audit_feed (owner's rights).
DO $$
DECLARE
    t regclass;
    g record;
BEGIN
    FOREACH t IN ARRAY ARRAY['hublink.audit_log'::regclass, 'hublink.audit_chain'::regclass] LOOP
        FOR g IN SELECT DISTINCT a.grantee
                   FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
                  WHERE c.oid = t AND a.grantee <> c.relowner LOOP
            IF g.grantee = 0 THEN
                EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', t);
            ELSE
                EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %I', t, g.grantee::regrole::text);
            END IF;
        END LOOP;
        EXECUTE pg_catalog.format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM CURRENT_USER', t);
    END LOOP;
    ALTER VIEW hublink.audit_feed SET (security_invoker = false);
END;
$$;

-- The shipped schemas, from schemas/*.json
SELECT hublink.install_shipped_schema('common', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/common/1.0",
  "title": "Common definitions",
  "description": "Data sets shared by several messages of Schedule R Appendix A (returnee, travel document, risk assessment, location, escort, escort segment, itinerary segment, money, reason). Not a message: the message schemas reference these by absolute URI, e.g. https://hublink.example/schemas/common/1.0#/$defs/money.",
  "$comment": "Conventions. (1) Every object is closed with additionalProperties:false. (2) Codes that are reference data (reasons, conditions, risk flags, transport types, detention centre and prison IDs) are strings matching ^[A-Z][A-Z0-9_]{1,39}$ and are checked against tables by the extension, never enums here: the lists change without a schema version. enum/const are used only where Appendix A fixes the list. (3) Patterns use only the subset shared by ECMA-262 and POSIX ERE ([...], {m,n}, ^, $, |, ?) so that ajv and the C validator agree. (4) Conditional subschemas repeat \"properties\": {\"x\": true} next to \"required\": [\"x\"] so that ajv's strictRequired accepts them; they change nothing for validation.",
  "$defs": {
    "removalId": {
      "type": "string",
      "pattern": "^RMV-[0-9]{4}-[0-9]{6}$",
      "description": "Travel request identifier (Appendix A 'Removal reference'), issued by the Hub: RMV-, the year the removal was opened, a hyphen and a six-digit serial, e.g. RMV-2026-000123. The business key of the whole conversation."
    },
    "code": {
      "type": "string",
      "pattern": "^[A-Z][A-Z0-9_]{1,39}$",
      "description": "A reference-data code: upper-case letters, digits and underscores, 2 to 40 characters, starting with a letter. Valid values are rows in the extension's reference tables, not part of the schema."
    },
    "reason": {
      "type": "object",
      "additionalProperties": false,
      "required": ["code"],
      "description": "A reason from a predefined, changeable list (reference data), with optional free text. Appendix A 4.8 'one of a list of predefined options (that realistically will be modified over time)'.",
      "properties": {
        "code": { "$ref": "#/$defs/code", "description": "Reason code, e.g. FLIGHT_CANCELLED, RETURNEE_ILL, LEGAL_CHALLENGE; checked against the reason-code table." },
        "text": { "$ref": "#/$defs/freeText", "description": "Free-text detail of the reason, for the case worker; not used for reporting." }
      }
    },
    "codedValue": {
      "type": "object",
      "additionalProperties": false,
      "required": ["code"],
      "description": "A coded value from reference data with optional free-text detail (e.g. a medical or noted condition).",
      "properties": {
        "code": { "$ref": "#/$defs/code", "description": "The code, e.g. WHEELCHAIR, BLIND." },
        "text": { "$ref": "#/$defs/freeText", "description": "Free-text detail." }
      }
    },
    "freeText": {
      "type": "string",
      "minLength": 1,
      "maxLength": 4000,
      "description": "Free text (Appendix A fall-back fields 'Other', 'Free text'), 1 to 4000 characters."
    },
    "name": {
      "type": "string",
      "minLength": 1,
      "maxLength": 100,
      "description": "A name part, 1 to 100 characters, as written on the travel document."
    },
    "providerReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "A reference issued by a party: upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "escortQuoteReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "Escort quote reference (Appendix A 4.2 'Escort quote ID'), issued by the Escort Service Provider, one per escort quote (per date); upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "travelQuoteReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/._-]{2,39}$",
      "description": "Travel quote reference (Appendix A 4.4), issued by the Travel Service Provider, one per travel quote; upper-case letters, digits and / . _ -, 3 to 40 characters."
    },
    "hoReturneeReference": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9/-]{2,29}$",
      "description": "Home Office returnee reference (HO returnee ID), e.g. HO-7731904."
    },
    "segmentId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9_-]{0,15}$",
      "description": "Segment ID, unique within the quote that defines it (escort segments: the Escort Service Provider's; itinerary segments: the Travel Service Provider's), e.g. S1."
    },
    "escortId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9_-]{1,19}$",
      "description": "The Escort Service Provider's identifier of one escort officer (a person), e.g. ESC-40117."
    },
    "escortNumber": {
      "type": "integer",
      "minimum": 1,
      "maximum": 99,
      "description": "Ordinal of an escort position in the escort quote (escort 1, escort 2, ...), the key that links escort types, effort, seats and names."
    },
    "vehicleId": {
      "type": "string",
      "pattern": "^[A-Z0-9][A-Z0-9 -]{1,19}$",
      "description": "Vehicle identifier: registration mark or fleet number, e.g. LX24 EKU."
    },
    "date": {
      "type": "string",
      "format": "date",
      "description": "A calendar date, RFC 3339 full-date (YYYY-MM-DD), in UK local terms."
    },
    "dateTime": {
      "type": "string",
      "format": "date-time",
      "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$",
      "description": "A timestamp with its UTC offset, RFC 3339 date-time with an upper-case T, seconds, at most six fractional digits (PostgreSQL timestamptz precision) and a mandatory offset, e.g. 2026-03-17T11:10:00+00:00. Local times carry the local offset of the place."
    },
    "uuid": {
      "type": "string",
      "format": "uuid",
      "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
      "description": "A UUID (RFC 4122) in canonical lower-case hyphenated form, so that equal IDs are equal strings (no urn:uuid: prefix, no upper case)."
    },
    "countryCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "Country, ISO 3166-1 alpha-3, e.g. GBR, NGA."
    },
    "languageCode": {
      "type": "string",
      "pattern": "^[a-z]{2,3}$",
      "description": "Language, ISO 639-1 (two letters) or ISO 639-3 (three letters) code, e.g. en, yo."
    },
    "gender": {
      "type": "string",
      "pattern": "^[MFX]$",
      "description": "Sex as shown on travel documents, ICAO Doc 9303 marker: M, F or X (unspecified)."
    },
    "iataAirportCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "IATA airport (location) code, e.g. LHR, LOS."
    },
    "iataCarrierCode": {
      "type": "string",
      "pattern": "^[A-Z0-9]{2}$",
      "description": "IATA airline designator (two characters), e.g. BA, VS, W3."
    },
    "flightNumber": {
      "type": "string",
      "pattern": "^[0-9]{1,4}[A-Z]?$",
      "description": "Flight number without the carrier designator: 1 to 4 digits and an optional operational suffix letter, e.g. 75 (with carrierCode BA: BA75)."
    },
    "currencyCode": {
      "type": "string",
      "pattern": "^[A-Z]{3}$",
      "description": "Currency, ISO 4217 alphabetic code, e.g. GBP."
    },
    "money": {
      "type": "object",
      "additionalProperties": false,
      "required": ["amount", "currency"],
      "description": "An amount of money: a decimal string and an ISO 4217 currency. Strings avoid binary floating-point error; the extension stores them as numeric(14,2).",
      "properties": {
        "amount": {
          "type": "string",
          "pattern": "^(0|[1-9][0-9]{0,11})[.][0-9]{2}$",
          "description": "Non-negative decimal amount as a string with exactly two fractional digits and no sign, exponent or thousands separator, e.g. \"1234.50\". Direction (charge, refund) is given by the field that holds it."
        },
        "currency": { "$ref": "#/$defs/currencyCode", "description": "ISO 4217 currency of the amount, e.g. GBP." }
      }
    },
    "personName": {
      "type": "object",
      "additionalProperties": false,
      "required": ["givenNames", "familyName"],
      "description": "A person's name in parts, as on the travel document.",
      "properties": {
        "title": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Title or honorific, e.g. Mr, Ms." },
        "givenNames": { "$ref": "#/$defs/name", "description": "All given names, space-separated, in document order." },
        "familyName": { "$ref": "#/$defs/name", "description": "Family name (surname)." }
      }
    },
    "personalDetails": {
      "type": "object",
      "additionalProperties": false,
      "required": ["hoReturneeReference", "name", "dateOfBirth", "nationality", "gender"],
      "description": "Personal, static information about one returnee (Appendix A 4.1 and 4.3 'Personal Details').",
      "properties": {
        "hoReturneeReference": { "$ref": "#/$defs/hoReturneeReference", "description": "Home Office returnee reference." },
        "name": { "$ref": "#/$defs/personName", "description": "The returnee's name." },
        "dateOfBirth": { "$ref": "#/$defs/date", "description": "Date of birth." },
        "nationality": { "$ref": "#/$defs/countryCode", "description": "Nationality, ISO 3166-1 alpha-3." },
        "gender": { "$ref": "#/$defs/gender", "description": "Sex as on the travel document (M, F, X)." },
        "conditions": {
          "type": "array",
          "items": { "$ref": "#/$defs/codedValue" },
          "description": "Medical or noted conditions the providers must plan for, e.g. {\"code\": \"WHEELCHAIR\"}, {\"code\": \"BLIND\"}; empty or absent when none."
        }
      }
    },
    "travelDocument": {
      "type": "object",
      "additionalProperties": false,
      "required": ["type", "number", "issuingCountry"],
      "description": "A document that lets the holder travel (Appendix A 4.3 'Travel Document').",
      "properties": {
        "type": {
          "type": "string",
          "enum": ["PASSPORT", "NATIONAL_IDENTITY_CARD", "EMERGENCY_TRAVEL_DOCUMENT"],
          "description": "Document type, the list fixed by Appendix A 4.3: passport, national identity card, emergency travel document."
        },
        "number": {
          "type": "string",
          "pattern": "^[A-Z0-9]{5,20}$",
          "description": "Document number, upper-case letters and digits, 5 to 20 characters."
        },
        "issuingCountry": { "$ref": "#/$defs/countryCode", "description": "Issuing state, ISO 3166-1 alpha-3." },
        "expiryDate": { "$ref": "#/$defs/date", "description": "Date of expiry, when known." }
      }
    },
    "riskFlags": {
      "type": "array",
      "uniqueItems": true,
      "items": { "$ref": "#/$defs/code" },
      "description": "A set of risk flag codes (reference data), e.g. VIOLENT, DISRUPTIVE, SEXUAL_OFFENDER, SELF_HARM; empty when none apply."
    },
    "escortRiskAssessment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["flags"],
      "description": "Escort risk assessment of one returnee (Appendix A 4.1): the variable attributes the Escort Service Provider needs, more than the Travel Service Provider sees but not the Home Office's full risk record.",
      "properties": {
        "flags": { "$ref": "#/$defs/riskFlags", "description": "Risk flags for escorting, e.g. VIOLENT, DISRUPTIVE, SEXUAL_OFFENDER." },
        "notes": { "$ref": "#/$defs/freeText", "description": "Free-text detail the escorts need." }
      }
    },
    "travelRiskAssessment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["flags"],
      "description": "Travel risk assessment of one returnee (Appendix A 4.3): the small subset of risk information carriers may refuse travel on.",
      "properties": {
        "flags": { "$ref": "#/$defs/riskFlags", "description": "Risk flags for carriers, a subset of the escort flags, e.g. VIOLENT, DISRUPTIVE; which flags may be passed to a TSP is reference data." },
        "escortsRequired": { "type": "integer", "minimum": 0, "maximum": 20, "description": "Number of escorts who travel with this returnee (0 for unescorted)." }
      }
    },
    "address": {
      "type": "object",
      "additionalProperties": false,
      "required": ["lines", "town", "country"],
      "description": "A postal address.",
      "properties": {
        "lines": {
          "type": "array",
          "minItems": 1,
          "maxItems": 4,
          "items": { "type": "string", "minLength": 1, "maxLength": 100 },
          "description": "Address lines before the town, 1 to 4."
        },
        "town": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Post town or city." },
        "postcode": { "type": "string", "pattern": "^[A-Z0-9][A-Z0-9 -]{1,9}$", "description": "Postcode in upper case, e.g. UB7 0HB." },
        "country": { "$ref": "#/$defs/countryCode", "description": "Country, ISO 3166-1 alpha-3." }
      }
    },
    "returneeLocation": {
      "description": "Where a returnee is most likely to be at departure (Appendix A 4.1, 4.3 'Returnee Location'): exactly one of a detention centre, a prison or a specific address.",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["detentionCentreId"],
          "title": "Detention centre",
          "properties": {
            "detentionCentreId": { "$ref": "#/$defs/code", "description": "Immigration removal centre ID (reference data), e.g. HARMONDSWORTH_IRC." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["prisonId"],
          "title": "Prison",
          "properties": {
            "prisonId": { "$ref": "#/$defs/code", "description": "Prison ID (reference data), e.g. HMP_WANDSWORTH." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["address"],
          "title": "Specific address",
          "properties": {
            "address": { "$ref": "#/$defs/address", "description": "A specific address." }
          }
        }
      ]
    },
    "place": {
      "description": "A start or finish point of an escort segment: a returnee location (detention centre, prison, address), an airport, or another named place.",
      "oneOf": [
        { "$ref": "#/$defs/returneeLocation" },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["airportCode"],
          "title": "Airport",
          "properties": {
            "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "IATA airport code." },
            "terminal": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Terminal, e.g. 5." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["description"],
          "title": "Other place",
          "properties": {
            "description": { "type": "string", "minLength": 1, "maxLength": 200, "description": "A place named in free text (station, port, escort base)." }
          }
        }
      ]
    },
    "dateRange": {
      "type": "object",
      "additionalProperties": false,
      "required": ["earliestLeaveDate", "latestLeaveDate"],
      "description": "The dates over which the returnee(s) may travel (Appendix A 4.1 'Dates'). latestLeaveDate >= earliestLeaveDate is checked by the extension.",
      "properties": {
        "earliestLeaveDate": { "$ref": "#/$defs/date", "description": "Earliest leave date." },
        "latestLeaveDate": { "$ref": "#/$defs/date", "description": "Latest leave date." },
        "exclusionDates": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/date" },
          "description": "Dates within the range on which travel must not take place."
        }
      }
    },
    "destination": {
      "type": "object",
      "additionalProperties": false,
      "required": ["description", "country"],
      "description": "Where the returnee(s) are to go (Appendix A 4.3 'Destination', free text location), with the country and, when known, the airport.",
      "properties": {
        "description": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Free-text destination, e.g. Lagos, Nigeria." },
        "country": { "$ref": "#/$defs/countryCode", "description": "Destination country, ISO 3166-1 alpha-3." },
        "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "Preferred arrival airport, IATA code." }
      }
    },
    "escortPosition": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortNumber", "medic"],
      "description": "One escort position and its type (Appendix A 4.2 'Escort Info': escort number and type by gender, physique, language, medic).",
      "properties": {
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "Escort number: the position's ordinal, 1 for escort 1." },
        "gender": { "$ref": "#/$defs/gender", "description": "Required gender of the escort, when it matters." },
        "physique": { "$ref": "#/$defs/code", "description": "Physique category (reference data), e.g. STANDARD, ENHANCED." },
        "languages": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/languageCode" },
          "description": "Languages the escort must speak, ISO 639 codes."
        },
        "medic": { "type": "boolean", "description": "True when this position is a medic (paramedic, nurse) rather than an escort officer." },
        "role": { "$ref": "#/$defs/code", "description": "Role in the team (reference data), e.g. TEAM_LEADER, ESCORT, MEDIC." }
      }
    },
    "escortSegment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "startPoint", "finishPoint", "transportType", "returneePresent"],
      "description": "One journey of the escorting (Appendix A 4.2 'Escort Segment'): segments vary by means of transport, by whether the returnee is present and by escort team (hand-overs).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "Segment ID, unique in the escort quote response." },
        "startPoint": { "$ref": "#/$defs/place", "description": "Start point." },
        "finishPoint": { "$ref": "#/$defs/place", "description": "Finish point." },
        "transportType": { "$ref": "#/$defs/code", "description": "Means of transport (reference data), e.g. ESCORT_VEHICLE, SCHEDULED_FLIGHT, CHARTER_FLIGHT, TRAIN, FERRY." },
        "returneePresent": { "type": "boolean", "description": "True when the returnee travels on this segment (false e.g. for the escorts' journey home)." },
        "plannedStart": { "$ref": "#/$defs/dateTime", "description": "Planned start, local time with offset, when known." },
        "plannedFinish": { "$ref": "#/$defs/dateTime", "description": "Planned finish, local time with offset, when known." },
        "escortNumbers": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "#/$defs/escortNumber" },
          "description": "The escort positions on this segment; all when absent."
        }
      }
    },
    "escortEffort": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "escortNumber"],
      "description": "Effort of one escort on one segment (Appendix A 4.2 'Escort Effort': per segment per escort a cost or a time duration); at least one of cost and durationMinutes.",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The escort segment." },
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position." },
        "cost": { "$ref": "#/$defs/money", "description": "Cost of this escort on this segment." },
        "durationMinutes": { "type": "integer", "minimum": 0, "maximum": 10080, "description": "Time this escort spends on this segment, in minutes." }
      },
      "anyOf": [
        { "properties": { "cost": true }, "required": ["cost"] },
        { "properties": { "durationMinutes": true }, "required": ["durationMinutes"] }
      ]
    },
    "advancePassengerInfo": {
      "type": "object",
      "additionalProperties": false,
      "minProperties": 1,
      "description": "Advance passenger information (API) of an escort; optional and possibly partial until travel (Appendix A 4.2, 4.7, 4.10, 4.11).",
      "properties": {
        "dateOfBirth": { "$ref": "#/$defs/date", "description": "Date of birth." },
        "nationality": { "$ref": "#/$defs/countryCode", "description": "Nationality, ISO 3166-1 alpha-3." },
        "gender": { "$ref": "#/$defs/gender", "description": "Sex as on the travel document." },
        "travelDocument": { "$ref": "#/$defs/travelDocument", "description": "The escort's travel document (passport number, issuing country, expiry)." }
      }
    },
    "escort": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortId", "name"],
      "description": "One named escort (officer or medic).",
      "properties": {
        "escortId": { "$ref": "#/$defs/escortId", "description": "The Escort Service Provider's ID of the person." },
        "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position this person fills, when assigned to one." },
        "name": { "$ref": "#/$defs/personName", "description": "Name as on the travel document (mandatory for ticketing)." },
        "specialMeal": { "type": "string", "pattern": "^[A-Z]{4}$", "description": "In-flight meal request, IATA SSR special meal code, e.g. VGML (vegetarian)." },
        "advancePassengerInfo": { "$ref": "#/$defs/advancePassengerInfo", "description": "Advance passenger information, when available." }
      }
    },
    "escortAssignment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "escortId"],
      "description": "Which escort works on which segment, and in which vehicle (Appendix A 4.2 'Escort details': per segment, the names of the escorts and the vehicle ID).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The escort segment." },
        "escortId": { "$ref": "#/$defs/escortId", "description": "The escort, one of escortDetails/escorts." },
        "vehicleId": { "$ref": "#/$defs/vehicleId", "description": "Vehicle for road segments." }
      }
    },
    "escortDetails": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escorts"],
      "description": "Named escorts and their segment assignments for one escort quote (Appendix A 4.2 'Escort details', 4.6).",
      "properties": {
        "escorts": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "#/$defs/escort" },
          "description": "The named escorts."
        },
        "assignments": {
          "type": "array",
          "items": { "$ref": "#/$defs/escortAssignment" },
          "description": "Per segment, the escorts and vehicle."
        }
      }
    },
    "travellerRef": {
      "description": "One traveller on a travel quote or booking: a returnee (by HO reference) or an escort position (by escort number).",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["hoReturneeReference"],
          "title": "Returnee",
          "properties": {
            "hoReturneeReference": { "$ref": "#/$defs/hoReturneeReference", "description": "The returnee." }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["escortNumber"],
          "title": "Escort",
          "properties": {
            "escortNumber": { "$ref": "#/$defs/escortNumber", "description": "The escort position." }
          }
        }
      ]
    },
    "itineraryPoint": {
      "type": "object",
      "additionalProperties": false,
      "minProperties": 1,
      "description": "Start or end point of an itinerary segment: an airport (IATA code) for PLANE segments, otherwise a named station, port or hotel.",
      "properties": {
        "airportCode": { "$ref": "#/$defs/iataAirportCode", "description": "IATA airport code (required for PLANE segments)." },
        "terminal": { "type": "string", "minLength": 1, "maxLength": 20, "description": "Terminal, when known." },
        "name": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Name of the station, port, hotel or airport." }
      }
    },
    "itinerarySegment": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "segmentType", "providerName", "startPoint", "startTime", "endTime"],
      "description": "One segment of a travel itinerary (Appendix A 4.4 'Travel itinerary': start and end times and locations, reference IDs, carrier ID, segment type). For HOTEL, startTime/endTime are check-in/check-out and endPoint is absent. PLANE segments require carrierCode, flightNumber and airport codes at both ends.",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "Segment ID, unique in the travel quote." },
        "segmentType": {
          "type": "string",
          "enum": ["PLANE", "FERRY", "TRAIN", "COACH", "HOTEL"],
          "description": "Segment type (Appendix A 4.4 'plane, ferry etc.'): PLANE, FERRY, TRAIN, COACH, HOTEL. An enum because the required fields depend on it; a new type is a new schema version."
        },
        "providerName": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Provider name, e.g. British Airways, Marriott." },
        "carrierCode": { "$ref": "#/$defs/iataCarrierCode", "description": "IATA designator of the marketing carrier (PLANE)." },
        "flightNumber": { "$ref": "#/$defs/flightNumber", "description": "Flight number (PLANE), with carrierCode the flight designator." },
        "providerReference": { "$ref": "#/$defs/providerReference", "description": "The provider's own reference for the segment (e.g. hotel reservation number), when it has one." },
        "startPoint": { "$ref": "#/$defs/itineraryPoint", "description": "Departure point (the hotel for HOTEL)." },
        "endPoint": { "$ref": "#/$defs/itineraryPoint", "description": "Arrival point; absent for HOTEL." },
        "startTime": { "$ref": "#/$defs/dateTime", "description": "Local departure (check-in) time with the offset of startPoint." },
        "endTime": { "$ref": "#/$defs/dateTime", "description": "Local arrival (check-out) time with the offset of endPoint." },
        "travellers": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "#/$defs/travellerRef" },
          "description": "Who travels on this segment; everyone on the quote when absent."
        }
      },
      "if": {
        "properties": { "segmentType": { "const": "PLANE" } },
        "required": ["segmentType"]
      },
      "then": {
        "properties": {
          "carrierCode": true,
          "flightNumber": true,
          "startPoint": { "type": "object", "properties": { "airportCode": true }, "required": ["airportCode"] },
          "endPoint": { "type": "object", "properties": { "airportCode": true }, "required": ["airportCode"] }
        },
        "required": ["carrierCode", "flightNumber", "endPoint"]
      },
      "else": {
        "if": {
          "properties": { "segmentType": { "const": "HOTEL" } },
          "required": ["segmentType"]
        },
        "then": { "properties": { "endPoint": false } },
        "else": { "properties": { "endPoint": true }, "required": ["endPoint"] }
      }
    },
    "segmentActuals": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentId", "departedAt", "arrivedAt"],
      "description": "Actual times of one completed segment (Appendix A 4.10, 4.12 'Completed info': date time leave, date time arrive).",
      "properties": {
        "segmentId": { "$ref": "#/$defs/segmentId", "description": "The segment completed." },
        "departedAt": { "$ref": "#/$defs/dateTime", "description": "Actual departure, local time with offset." },
        "arrivedAt": { "$ref": "#/$defs/dateTime", "description": "Actual arrival, local time with offset." }
      }
    },
    "financial": {
      "type": "object",
      "additionalProperties": false,
      "required": ["reason"],
      "description": "Financial consequence of post-booking changes (Appendix A 4.12 'Financial': refund info, fee info, reason); at least one amount.",
      "properties": {
        "refund": { "$ref": "#/$defs/money", "description": "Amount refunded to the Home Office." },
        "changeFee": { "$ref": "#/$defs/money", "description": "Change fee charged." },
        "cancellationFee": { "$ref": "#/$defs/money", "description": "Cancellation fee charged." },
        "reason": { "$ref": "#/$defs/reason", "description": "Why the amounts arise, e.g. NAME_CHANGE, CANCELLED_BY_HO." },
        "notes": { "$ref": "#/$defs/freeText", "description": "Free-text detail." }
      },
      "anyOf": [
        { "properties": { "refund": true }, "required": ["refund"] },
        { "properties": { "changeFee": true }, "required": ["changeFee"] },
        { "properties": { "cancellationFee": true }, "required": ["cancellationFee"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('envelope', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/envelope/1.0",
  "title": "Message envelope",
  "description": "The envelope every Hub message shares (DESIGN.md 'The message contract'; Schedule R Appendix D 'Message format'): identity, type, schema version, time, sender and removal, with the message's Appendix A data set in body. Not a message of its own: each message schema references it and narrows messageType, schemaVersion, sender and body.",
  "$comment": "The envelope declares all seven properties and is closed with additionalProperties:false. A message schema is {\"$ref\": envelope, \"properties\": {messageType: const, schemaVersion: const, sender: const, body: the message's body}}: it only narrows properties the envelope already declares and never adds one, so additionalProperties:false here is correct under 2020-12 (and draft-07) without unevaluatedProperties, whose annotation tracking every validator would need. body is closed by the message schema's own additionalProperties:false.",
  "type": "object",
  "additionalProperties": false,
  "required": ["messageId", "messageType", "schemaVersion", "sentAt", "sender", "removalId", "body"],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the sender; the idempotency key: a message seen twice has one effect."
    },
    "messageType": {
      "type": "string",
      "pattern": "^[A-Z][A-Za-z]{2,63}$",
      "description": "Message type in PascalCase, e.g. TravelQuoteRequest; each message schema fixes it with const."
    },
    "schemaVersion": {
      "type": "string",
      "pattern": "^[0-9]+[.][0-9]+$",
      "description": "Version of the message schema the sender used, major.minor, e.g. 1.0; the last segment of the schema's $id."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the sender published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "type": "string",
      "enum": ["HUB", "TSP", "ESP"],
      "description": "The party that sent the message: HUB (Home Office), TSP (Travel Service Provider) or ESP (Escort Service Provider); each message schema fixes it with const."
    },
    "removalId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/removalId",
      "description": "Travel request identifier (removal reference), the business key of the conversation, e.g. RMV-2026-000123."
    },
    "body": {
      "type": "object",
      "description": "The message's data set from Schedule R Appendix A; its shape is defined by each message schema."
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('error', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/error/1.0",
  "title": "Error",
  "description": "Schedule R Appendix D 'Error handling' (DESIGN.md 'The message contract'). The consumer of a queue Q answers a message it cannot process (not JSON, invalid against its schema, unknown references, impossible in the conversation's state) on Q-error, with a new messageId, the failed message's messageId and removalId where they could be read, the time, the queue and one entry per problem. Business refusals (no flights, escorts unavailable, quote expired) are not errors: they are declines in the business messages.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema: removalId is optional here (absent when the failed message could not be read), whereas the envelope requires it.",
  "x-hublink-section": "D",
  "x-hublink-queue": "<queue>-error",
  "x-hublink-recipient": "the party that published the failed message",
  "type": "object",
  "additionalProperties": false,
  "required": ["messageId", "messageType", "schemaVersion", "sentAt", "sender", "body"],
  "properties": {
    "messageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "New, unique ID of this error message." },
    "messageType": { "const": "Error", "description": "Always Error." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sentAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When the problem was found and this error published." },
    "sender": { "type": "string", "enum": ["HUB", "TSP", "ESP"], "description": "The party that consumed the failed message and reports the error." },
    "removalId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/removalId", "description": "removalId of the failed message, when it could be read; absent otherwise." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["queue", "problems"],
      "description": "What failed and why.",
      "properties": {
        "failedMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the failed message, when it could be read; absent otherwise." },
        "failedMessageType": { "type": "string", "pattern": "^[A-Z][A-Za-z]{2,63}$", "description": "messageType of the failed message, when it could be read." },
        "failedSentAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "sentAt (time stamp) of the failed message, when it could be read." },
        "queue": {
          "type": "string",
          "pattern": "^(escort|travel)-(quote-request|quote-response|booking-request|booking-response|amendment|update|cancellation|reference-list-update)$",
          "description": "The queue the failed message was consumed from (this error is published on <queue>-error)."
        },
        "problems": {
          "type": "array",
          "minItems": 1,
          "maxItems": 100,
          "description": "One entry per problem found (at most 100; validation stops there).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["instanceLocation", "keywordLocation", "error"],
            "description": "One problem.",
            "properties": {
              "instanceLocation": {
                "type": "string",
                "pattern": "^(/([^~/]|~[01])*)*$",
                "description": "JSON pointer (RFC 6901) to the offending value in the failed message; \"\" for the whole message (e.g. not JSON)."
              },
              "keywordLocation": {
                "type": "string",
                "pattern": "^(/([^~/]|~[01])*)*$",
                "description": "JSON pointer into the message's schema to the keyword that failed, e.g. /properties/body/properties/quotes/items/required; \"\" when the problem is not a schema violation (not JSON, unknown reference, state)."
              },
              "error": { "type": "string", "minLength": 1, "maxLength": 1000, "description": "Readable description of the problem, lower case, e.g. \"must have required property 'travelQuoteReference'\"." },
              "code": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code", "description": "Problem class, e.g. NOT_JSON, SCHEMA, UNKNOWN_REFERENCE, INVALID_STATE, DUPLICATE." }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-amendment', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-amendment/1.0",
  "title": "Escort amendment",
  "description": "Schedule R Appendix A 4.9 (Message 9). The Home Office asks the Escort Service Provider to change a confirmed booking: segments affected are identified and their new detail specified (a segment cancelled, two segments replaced by one), returnee changes (location, risk profile) passed on, and anything else in free text. Most amendments are answered by an escort update.",
  "$comment": "At least one of segmentChanges, returneeChanges and other.",
  "x-hublink-section": "4.9",
  "x-hublink-queue": "escort-amendment",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortAmendment", "description": "Always EscortAmendment." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference"],
      "description": "The requested changes.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote to amend." },
        "segmentChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Escort request details: changes by segment.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["affectedSegmentIds", "cancelled"],
            "description": "One change: the affected segments are cancelled (cancelled true), replaced by replacementSegments (cancelled true with replacements), or amended in place (cancelled false: replacementSegments carry the same segment IDs with the new detail). No affected segment and a replacement adds a segment.",
            "properties": {
              "affectedSegmentIds": {
                "type": "array",
                "uniqueItems": true,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                "description": "The booked segments this change affects; empty when a segment is added."
              },
              "cancelled": { "type": "boolean", "description": "True when the affected segments are cancelled (and, with replacementSegments, replaced)." },
              "replacementSegments": {
                "type": "array",
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
                "description": "New segment details: locations, times, transport. New segment IDs when replacing, the same IDs when amending in place."
              },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the change is needed." }
            },
            "if": {
              "properties": { "cancelled": { "const": false } },
              "required": ["cancelled"]
            },
            "then": {
              "properties": { "replacementSegments": { "type": "array", "minItems": 1 } },
              "required": ["replacementSegments"]
            }
          }
        },
        "returneeChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Changes to returnee information the escorting depends on.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["hoReturneeReference"],
            "minProperties": 2,
            "description": "New information about one returnee; only what changed.",
            "properties": {
              "hoReturneeReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/hoReturneeReference", "description": "The returnee." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "New location." },
              "escortRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortRiskAssessment", "description": "New escort risk assessment (replaces the previous one)." },
              "conditions": {
                "type": "array",
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/codedValue" },
                "description": "New list of medical or noted conditions (replaces the previous one)."
              }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other: catch-all free text for scenarios out of scope." }
      },
      "anyOf": [
        { "properties": { "segmentChanges": true }, "required": ["segmentChanges"] },
        { "properties": { "returneeChanges": true }, "required": ["returneeChanges"] },
        { "properties": { "other": true }, "required": ["other"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-booking-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-booking-request/1.0",
  "title": "Escort booking request",
  "description": "Schedule R Appendix A 4.5 (Message 5). Having checked that the returnee information is unchanged since the quotes were sourced, the Home Office asks the Escort Service Provider to book against one of its escort quotes.",
  "x-hublink-section": "4.5",
  "x-hublink-queue": "escort-booking-request",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortBookingRequest", "description": "Always EscortBookingRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "command"],
      "description": "The booking command.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote to book." },
        "command": { "type": "string", "const": "BOOK", "description": "Booking command: always BOOK." },
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The travel quote chosen with it, for the escorts' planning." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-booking-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-booking-response/1.0",
  "title": "Escort booking response",
  "description": "Schedule R Appendix A 4.6 (Message 6, 'Escort confirmation response'). The Escort Service Provider confirms the booking with the names of the escorts and as much as it can tell now about its people and vehicles, or declines it and says why.",
  "$comment": "outcome DECLINED requires declineReason; ACCEPTED forbids declineReason and declineDetails.",
  "x-hublink-section": "4.6",
  "x-hublink-queue": "escort-booking-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortBookingResponse", "description": "Always EscortBookingResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "outcome"],
      "description": "The confirmation or decline.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote the booking request referred to." },
        "outcome": { "type": "string", "enum": ["ACCEPTED", "DECLINED"], "description": "ACCEPTED: the booking is made (Appendix A 'Confirmed'); DECLINED: it cannot be." },
        "declineReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the booking is declined (reason code from the predefined list), e.g. ESCORTS_UNAVAILABLE." },
        "declineDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "A fuller reason for the decline, free text." },
        "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "Accepted: the named escorts, their segments and vehicles, with advance passenger information where available." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      },
      "if": {
        "properties": { "outcome": { "const": "DECLINED" } },
        "required": ["outcome"]
      },
      "then": {
        "properties": { "declineReason": true, "escortDetails": false },
        "required": ["declineReason"]
      },
      "else": {
        "properties": { "declineReason": false, "declineDetails": false }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-cancellation', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-cancellation/1.0",
  "title": "Escort cancellation",
  "description": "Schedule R Appendix A 4.14 (Message 14). The Home Office tells the Escort Service Provider that the escort booking is to be cancelled. May be answered by an escort update with the financial consequences.",
  "x-hublink-section": "4.14",
  "x-hublink-queue": "escort-cancellation",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortCancellation", "description": "Always EscortCancellation." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference", "command"],
      "description": "The cancel command.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote to cancel." },
        "command": { "type": "string", "const": "CANCEL", "description": "Cancel command: always CANCEL." },
        "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escort is cancelled, e.g. LEGAL_CHALLENGE." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-quote-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-quote-request/1.0",
  "title": "Escort quote request",
  "description": "Schedule R Appendix A 4.1 (Message 1). The Home Office case worker gives the Escort Service Provider the details of a removal (returnees, escort risk assessment, locations, dates) so that it can answer with the escort options it can fulfil. For escorted removals the workflow starts here.",
  "$comment": "Complete document: the envelope (closed, see envelope.json) plus messageType, schemaVersion and sender fixed by const and the body of Appendix A 4.1.",
  "x-hublink-section": "4.1",
  "x-hublink-queue": "escort-quote-request",
  "x-hublink-recipient": "ESP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortQuoteRequest", "description": "Always EscortQuoteRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["returnees", "international", "escortOnTransport", "dates"],
      "description": "The removal to quote for.",
      "properties": {
        "returnees": {
          "type": "array",
          "minItems": 1,
          "description": "The returnees of this removal (there may be more than one, e.g. a family group).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["personalDetails", "escortRiskAssessment", "location"],
            "description": "One returnee.",
            "properties": {
              "personalDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personalDetails", "description": "Personal, static information: HO returnee reference, name, date of birth, nationality, gender, medical conditions." },
              "escortRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortRiskAssessment", "description": "The escort risk assessment of this returnee." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "Where this returnee is most likely to be at departure (per returnee: a family may be held apart)." }
            }
          }
        },
        "international": { "type": "boolean", "description": "International indicator: true for an out-of-country removal, false for an in-country move." },
        "escortOnTransport": { "type": "boolean", "description": "Escort on transport indicator: true when escorts travel on the transport; false in low-risk cases where escorts leave the returnee at the gate and wait for departure." },
        "dates": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateRange", "description": "The range of dates the returnee(s) may travel over, with exclusion dates." },
        "destination": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/destination", "description": "Where the returnee(s) are to go, when known (not in Appendix A 4.1, but escorting depends on it)." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes for the Escort Service Provider." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-quote-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-quote-response/1.0",
  "title": "Escort quote response",
  "description": "Schedule R Appendix A 4.2 (Message 2). The Escort Service Provider answers an escort quote request with its risk evaluation (how many escorts of which types, medics), its segments and effort, and one escort quote per date it can support: the more dates, the better the chance of a cheaper removal.",
  "$comment": "Escort info, segments and effort are a function of the returnees and the route, so they are given once for the response and are common to all quotes (Appendix A 4.2); each quote adds its date and, optionally, named escorts.",
  "x-hublink-section": "4.2",
  "x-hublink-queue": "escort-quote-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortQuoteResponse", "description": "Always EscortQuoteResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortPositions", "segments", "effort", "quotes"],
      "description": "The escort options.",
      "properties": {
        "escortPositions": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortPosition" },
          "description": "Escort info: one entry per escort needed (the escort number is the length of this list), with the type of each (gender, physique, language, medic)."
        },
        "segments": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
          "description": "Escort segments: the journeys of the escorting, with start and finish points, transport type and whether the returnee is present."
        },
        "effort": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortEffort" },
          "description": "Escort effort: per segment per escort, a cost and/or a duration."
        },
        "quotes": {
          "type": "array",
          "minItems": 1,
          "description": "The escort quotes, one per date the Escort Service Provider can support.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["escortQuoteReference", "escortDate"],
            "description": "One escort quote.",
            "properties": {
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "Escort quote ID; a new one whenever the quote changes (the risk profile may change for the same removal)." },
              "escortDate": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "The date this escort quote is valid for." },
              "totalCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total escort cost of this quote, when priced." },
              "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "Escort names and vehicles per segment, with advance passenger information if available now (not mandatory: may follow in the booking response or an escort update)." },
              "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes on this quote." }
            }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes on the risk evaluation." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-reference-list-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-reference-list-update/1.0",
  "title": "Escort reference list update",
  "description": "Schedule R Appendix B 4.17 (not a message of Appendix A). The Home Office announces to the Escort Service Provider the new content of one reason-code list (decline, cancellation, delay, change, unsuccessful) after its system administrator edited it: \"the system administrator role will have the ability to edit these lists of options which will prompt communication to the Travel Service Provider of the new data\". The body is the full state of the list, not the change, so a provider that missed a message converges on the next one; sequence orders the announcements of one list, and a provider ignores one older than the list it holds.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema like the Error message: a reference list belongs to no removal, so there is no removalId (the envelope requires it). One message type per receiving provider, because each queue has one consumer.",
  "x-hublink-section": "B 4.17 ESP",
  "x-hublink-queue": "escort-reference-list-update",
  "x-hublink-recipient": "ESP",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "messageId",
    "messageType",
    "schemaVersion",
    "sentAt",
    "sender",
    "body"
  ],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the Hub; the idempotency key."
    },
    "messageType": {
      "const": "EscortReferenceListUpdate",
      "description": "Always EscortReferenceListUpdate."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the Hub published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "list",
        "description",
        "sequence",
        "changedAt",
        "codes"
      ],
      "description": "The full new content of one reason-code list.",
      "properties": {
        "list": {
          "type": "string",
          "pattern": "^[a-z]{1,63}$",
          "description": "Name of the reason-code list, lower case, e.g. decline, cancellation, delay, change, unsuccessful. Lists are reference data: a name the provider does not know yet is a new list."
        },
        "description": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Where the list's codes are used."
        },
        "sequence": {
          "type": "integer",
          "minimum": 1,
          "maximum": 9007199254740991,
          "description": "Version of this list at the Hub, 1 for its first announcement and one more for each later one. A provider applies a message only when its sequence is higher than that of the list it holds, so a redelivered or late message changes nothing."
        },
        "changedAt": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
          "description": "When the change was committed at the Hub (the time of the transaction that made it)."
        },
        "codes": {
          "type": "array",
          "maxItems": 1000,
          "description": "Every code of the list, in code order, active or not; a code that is not here was deleted. Empty when the list has no codes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "code",
              "text",
              "active"
            ],
            "description": "One code of the list.",
            "properties": {
              "code": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code",
                "description": "The code as sent in messages, e.g. FLIGHT_CANCELLED."
              },
              "text": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
                "description": "What the code means."
              },
              "active": {
                "type": "boolean",
                "description": "Whether the code may be used in new messages; an inactive code is kept for the history of earlier messages."
              }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('escort-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/escort-update/1.0",
  "title": "Escort update",
  "description": "Schedule R Appendix A 4.10 (Message 10). The Escort Service Provider's flexible exception message: escorting completed, cancelled, unsuccessful or delayed, an escort changed, new or later escort information (e.g. passport numbers), the consequence of a Home Office amendment, or the financial consequence of a cancellation. It may be sent before the escorts depart, during the escort, at the airport or in the air.",
  "$comment": "Each update carries one or more sections; at least one besides notes. completed, cancellation and unsuccessful are outcomes and exclude each other (dependentSchemas).",
  "x-hublink-section": "4.10",
  "x-hublink-queue": "escort-update",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "EscortUpdate", "description": "Always EscortUpdate." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "ESP", "description": "Always ESP: sent by the Escort Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["escortQuoteReference"],
      "description": "The update.",
      "properties": {
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The booked escort quote this update is about." },
        "completed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["segments"],
          "description": "Completed info: the escorting was completed successfully (confirmed), per segment with actual times.",
          "properties": {
            "segments": {
              "type": "array",
              "minItems": 1,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentActuals" },
              "description": "Per segment: date-time left, date-time arrived."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "cancellation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason"],
          "description": "Cancellation: the escorting is aborted before it starts.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Cancellation reason, e.g. ESCORTS_UNAVAILABLE." },
            "returneeRedirectedTo": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/place", "description": "Where the returnee is taken instead of the starting location, when redirected." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "unsuccessful": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason"],
          "description": "Unsuccessful: the escorting started and was abandoned (returnee disruptive or ill, serious delay). Likely to make the Home Office cancel the travel booking.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escorting was abandoned, e.g. RETURNEE_DISRUPTIVE, RETURNEE_ILL." },
            "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "The segment during which it was abandoned." },
            "occurredAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When it was abandoned." },
            "returneeLocation": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/place", "description": "Where the returnee is now." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "delayed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason", "segments"],
          "description": "Delayed: where the escort is delayed and the new itinerary; a delay to one segment may knock on to others.",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Delay reason, e.g. TRAFFIC, VEHICLE_BREAKDOWN." },
            "segments": {
              "type": "array",
              "minItems": 1,
              "description": "The affected segments with their new times (the delayed one first, then knock-on effects).",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["segmentId", "newStart", "newFinish"],
                "description": "One affected segment.",
                "properties": {
                  "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "Affected segment ID." },
                  "newStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "New start time." },
                  "newFinish": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "New end time." }
                }
              }
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "escortChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Escort change: per segment, the escort removed and/or the escort added. Almost certainly requires a name change on flight tickets.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["segmentId"],
            "description": "One change on one segment; at least one of removedEscortId and addedEscortId.",
            "properties": {
              "segmentId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId", "description": "The escort segment." },
              "removedEscortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "Escort ID to be removed." },
              "addedEscortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "Escort ID to be added; the person's details are in escortDetails when new to the Home Office." },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the escort changes." }
            },
            "anyOf": [
              { "properties": { "removedEscortId": true }, "required": ["removedEscortId"] },
              { "properties": { "addedEscortId": true }, "required": ["addedEscortId"] }
            ]
          }
        },
        "escortDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortDetails", "description": "New or later information about the escorts (names, vehicles, advance passenger information such as passport numbers); escorts listed here replace earlier details of the same escortId." },
        "amendmentOutcome": {
          "type": "object",
          "additionalProperties": false,
          "required": ["amendmentMessageId", "accepted"],
          "description": "The consequence of a Home Office escort amendment.",
          "properties": {
            "amendmentMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the escort amendment answered." },
            "accepted": { "type": "boolean", "description": "True when the amendment is carried out, false when it cannot be." },
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why it cannot be carried out, or what it entails." },
            "segments": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortSegment" },
              "description": "The segments as now booked, when they changed."
            }
          }
        },
        "financial": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/financial", "description": "Financial consequence, e.g. of an escort cancellation (Appendix A 4.14)." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text for anything else." }
      },
      "anyOf": [
        { "properties": { "completed": true }, "required": ["completed"] },
        { "properties": { "cancellation": true }, "required": ["cancellation"] },
        { "properties": { "unsuccessful": true }, "required": ["unsuccessful"] },
        { "properties": { "delayed": true }, "required": ["delayed"] },
        { "properties": { "escortChanges": true }, "required": ["escortChanges"] },
        { "properties": { "escortDetails": true }, "required": ["escortDetails"] },
        { "properties": { "amendmentOutcome": true }, "required": ["amendmentOutcome"] },
        { "properties": { "financial": true }, "required": ["financial"] }
      ],
      "dependentSchemas": {
        "completed": { "properties": { "cancellation": false, "unsuccessful": false } },
        "cancellation": { "properties": { "completed": false, "unsuccessful": false } },
        "unsuccessful": { "properties": { "completed": false, "cancellation": false } }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-amendment', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-amendment/1.0",
  "title": "Travel amendment",
  "description": "Schedule R Appendix A 4.11 (Message 11). The Home Office asks the Travel Service Provider to change a confirmed booking: add or amend passenger details (e.g. an escort's passport number or expiry date, a name change) or change the itinerary (the old affected section and the new specification). Some changes incur charges or are impossible; most are answered by a travel update.",
  "$comment": "At least one of passengerUpdates, itineraryChanges and other. Appendix A 4.11 names the 'escort quote reference' but means the booked quote; the travel quote reference is required and the escort quote reference optional.",
  "x-hublink-section": "4.11",
  "x-hublink-queue": "travel-amendment",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelAmendment", "description": "Always TravelAmendment." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office (or routed from the Escort Service Provider through it)." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference"],
      "description": "The requested changes.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote to amend." },
        "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote booked with it, when escorted." },
        "passengerUpdates": {
          "type": "array",
          "minItems": 1,
          "description": "Travel details update: passenger details to add or amend.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["traveller"],
            "minProperties": 2,
            "description": "New details of one traveller; only what changed.",
            "properties": {
              "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position concerned." },
              "escortId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortId", "description": "The escort now filling the position (with name: a name change)." },
              "name": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personName", "description": "New name on the ticket (a name change; may incur a fee or be refused)." },
              "specialMeal": { "type": "string", "pattern": "^[A-Z]{4}$", "description": "Meal request, IATA SSR special meal code, e.g. VGML." },
              "advancePassengerInfo": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/advancePassengerInfo", "description": "Advance passenger information to add or replace (passport number, expiry date...)." },
              "travelDocument": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelDocument", "description": "A returnee's new or corrected travel document." }
            }
          }
        },
        "itineraryChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Flight details update: changes to the routing.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["affectedSegmentIds", "requestedSegments"],
            "description": "One change: the old affected itinerary section and the new specification (an empty specification cancels the section).",
            "properties": {
              "affectedSegmentIds": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": true,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                "description": "Old affected itinerary section: the booked segment IDs."
              },
              "requestedSegments": {
                "type": "array",
                "items": { "$ref": "#/$defs/segmentSpecification" },
                "description": "New itinerary specification, in travel order; empty to drop the section."
              },
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the change is requested." }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other: catch-all free text for scenarios out of scope." }
      },
      "anyOf": [
        { "properties": { "passengerUpdates": true }, "required": ["passengerUpdates"] },
        { "properties": { "itineraryChanges": true }, "required": ["itineraryChanges"] },
        { "properties": { "other": true }, "required": ["other"] }
      ]
    }
  },
  "$defs": {
    "segmentSpecification": {
      "type": "object",
      "additionalProperties": false,
      "required": ["segmentType", "startPoint", "endPoint", "date"],
      "description": "A requested itinerary segment, before the Travel Service Provider books it.",
      "properties": {
        "segmentType": {
          "type": "string",
          "enum": ["PLANE", "FERRY", "TRAIN", "COACH", "HOTEL"],
          "description": "Segment type, as in itinerary segments."
        },
        "startPoint": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itineraryPoint", "description": "Departure point." },
        "endPoint": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itineraryPoint", "description": "Arrival point (the hotel for HOTEL)." },
        "date": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "Travel date (check-in date for HOTEL)." },
        "earliestStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Earliest acceptable departure." },
        "latestStart": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Latest acceptable departure." },
        "carrierCode": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode", "description": "Requested carrier, when a specific flight is wanted." },
        "flightNumber": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/flightNumber", "description": "Requested flight number, with carrierCode." },
        "travellers": {
          "type": "array",
          "minItems": 1,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef" },
          "description": "Who travels on it; the same travellers as the affected section when absent."
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-booking-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-booking-request/1.0",
  "title": "Travel booking request",
  "description": "Schedule R Appendix A 4.7 (Message 7). The Home Office asks the Travel Service Provider to book one of its travel quotes, with the escorts' names (mandatory) and advance passenger information (not mandatory yet). It may be sent at the same time as the escort booking request.",
  "x-hublink-section": "4.7",
  "x-hublink-queue": "travel-booking-request",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": {
      "const": "TravelBookingRequest",
      "description": "Always TravelBookingRequest."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "travelQuoteReference",
        "command"
      ],
      "description": "The booking command and the escorts to ticket.",
      "properties": {
        "travelQuoteReference": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference",
          "description": "The travel quote to book."
        },
        "command": {
          "type": "string",
          "const": "BOOK",
          "description": "Booking command: always BOOK."
        },
        "escorts": {
          "type": "array",
          "items": {
            "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escort",
            "type": "object",
            "properties": {
              "escortNumber": true
            },
            "required": [
              "escortNumber"
            ]
          },
          "description": "Escort details for ticketing: one entry per escort position (escortNumber), name mandatory, advance passenger information and meal request optional. Absent for unescorted removals."
        },
        "notes": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Free-text notes."
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-booking-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-booking-response/1.0",
  "title": "Travel booking response",
  "description": "Schedule R Appendix A 4.8 (Message 8). The Travel Service Provider confirms the booking and sends what was booked (booking references, e-ticket numbers), or declines it (e.g. it could, but no longer can, deliver the quote) with a reason code and details.",
  "$comment": "outcome ACCEPTED requires confirmation; DECLINED requires declineReason and forbids confirmation.",
  "x-hublink-section": "4.8",
  "x-hublink-queue": "travel-booking-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelBookingResponse", "description": "Always TravelBookingResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference", "outcome"],
      "description": "The confirmation or decline.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The travel quote the booking request referred to." },
        "outcome": { "type": "string", "enum": ["ACCEPTED", "DECLINED"], "description": "ACCEPTED: booked; DECLINED: the booking cannot be made (Appendix A 'Booked', 'Declined')." },
        "declineReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Decline reason, one of a predefined and changing list, e.g. FLIGHT_CANCELLED, QUOTE_EXPIRED, FARE_UNAVAILABLE." },
        "declineDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Decline details: a fuller reason, free text." },
        "confirmation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["bookingReferences", "tickets"],
          "description": "Travel confirmation details: what has been booked.",
          "properties": {
            "bookingReferences": {
              "type": "array",
              "minItems": 1,
              "description": "Booking references (PNR record locators), per provider.",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["reference", "segmentIds"],
                "description": "One booking reference.",
                "properties": {
                  "reference": { "type": "string", "pattern": "^[A-Z0-9]{6}$", "description": "Booking reference (record locator), six upper-case letters or digits, e.g. X7K2PQ." },
                  "carrierCode": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode", "description": "Carrier holding the booking, for airline references." },
                  "segmentIds": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                    "description": "The itinerary segments of the quote covered by this reference."
                  }
                }
              }
            },
            "tickets": {
              "type": "array",
              "description": "E-tickets issued, one per traveller per ticket; empty when nothing is ticketed (e.g. hotel only).",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["ticketNumber", "traveller"],
                "description": "One e-ticket.",
                "properties": {
                  "ticketNumber": { "type": "string", "pattern": "^[0-9]{13}$", "description": "E-ticket number, 13 digits (3-digit airline prefix and 10-digit serial), e.g. 1252400123456." },
                  "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position ticketed." },
                  "segmentIds": {
                    "type": "array",
                    "uniqueItems": true,
                    "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
                    "description": "The segments the ticket covers; all PLANE segments when absent."
                  }
                }
              }
            },
            "totalCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total booked cost, when it differs from the quote's or for the record." },
            "ticketingDeadline": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When bookings not yet ticketed will lapse." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other confirmation details in free text (e.g. where e-ticket documents can be collected)." }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      },
      "if": {
        "properties": { "outcome": { "const": "DECLINED" } },
        "required": ["outcome"]
      },
      "then": {
        "properties": { "declineReason": true, "confirmation": false },
        "required": ["declineReason"]
      },
      "else": {
        "properties": { "confirmation": true, "declineReason": false, "declineDetails": false },
        "required": ["confirmation"]
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-cancellation', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-cancellation/1.0",
  "title": "Travel cancellation",
  "description": "Schedule R Appendix A 4.13 (Message 13). The Home Office tells the Travel Service Provider that the booked travel is to be cancelled; possibly only some segments, keeping the tickets for reuse where the carrier's terms allow. Likely to be answered by a travel update with the financial consequences. Appendix A notes the structure is subject to change.",
  "x-hublink-section": "4.13",
  "x-hublink-queue": "travel-cancellation",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelCancellation", "description": "Always TravelCancellation." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference", "command"],
      "description": "The cancel command.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote to cancel." },
        "command": { "type": "string", "const": "CANCEL", "description": "Cancel command: always CANCEL." },
        "segmentIds": {
          "type": "array",
          "minItems": 1,
          "uniqueItems": true,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
          "description": "Only these segments are cancelled; the whole booking when absent."
        },
        "retainForReuse": { "type": "boolean", "description": "True to keep the unused tickets for reuse on a later removal where the carrier's terms allow." },
        "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why the travel is cancelled, e.g. LEGAL_CHALLENGE, RETURNEE_ILL." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-quote-request', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-quote-request/1.0",
  "title": "Travel quote request",
  "description": "Schedule R Appendix A 4.3 (Message 3). The Home Office tells the Travel Service Provider what travel is needed and for whom. For escorted removals the escort dates come from the Escort Service Provider's quotes; for unescorted removals the workflow starts here and the Home Office gives the travel dates.",
  "$comment": "Exactly one of escortDates (escorted) and travelDates (unescorted).",
  "x-hublink-section": "4.3",
  "x-hublink-queue": "travel-quote-request",
  "x-hublink-recipient": "TSP",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelQuoteRequest", "description": "Always TravelQuoteRequest." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "HUB", "description": "Always HUB: sent by the Home Office." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["returnees", "destination", "constraints"],
      "description": "The travel to quote for.",
      "properties": {
        "returnees": {
          "type": "array",
          "minItems": 1,
          "description": "The returnees (there may be more than one).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["personalDetails", "travelDocuments", "travelRiskAssessment", "location"],
            "description": "One returnee.",
            "properties": {
              "personalDetails": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/personalDetails", "description": "Personal, static information: HO returnee ID, name, date of birth, nationality, gender, noted conditions (blind, wheelchair...)." },
              "travelDocuments": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelDocument" },
                "description": "The document(s) this returnee will travel on."
              },
              "travelRiskAssessment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelRiskAssessment", "description": "The travel risk assessment: only what carriers need (violent, disruptive, number of escorts)." },
              "location": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/returneeLocation", "description": "Where this returnee is most likely to be at departure, so that local airports can be considered." }
            }
          }
        },
        "escortDates": {
          "type": "array",
          "minItems": 1,
          "description": "Escorted removals: the dates returned by the Escort Service Provider, each with its escort quote.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["escortQuoteReference", "date", "escortCount"],
            "description": "One escort date.",
            "properties": {
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote the date comes from; travel quotes refer back to it." },
              "date": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/date", "description": "The escort date." },
              "escortCount": { "type": "integer", "minimum": 0, "maximum": 20, "description": "Number of escorts travelling (seats needed besides the returnees)." },
              "earliestDeparture": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "Earliest departure the escorting allows on this date, when constrained." }
            }
          }
        },
        "travelDates": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateRange", "description": "Unescorted removals: the travel dates specified by the Home Office user." },
        "departureAirports": {
          "type": "array",
          "uniqueItems": true,
          "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataAirportCode" },
          "description": "UK airports the escorting can reach, IATA codes; any when absent."
        },
        "destination": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/destination", "description": "Where the returnee(s) are to go." },
        "constraints": {
          "type": "object",
          "additionalProperties": false,
          "required": ["refundableOnly"],
          "description": "Constraints from the Travel Information Guide (TIG) that apply to this request.",
          "properties": {
            "refundableOnly": { "type": "boolean", "description": "True when only refundable fares may be quoted." },
            "excludedCarriers": {
              "type": "array",
              "uniqueItems": true,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/iataCarrierCode" },
              "description": "Airlines that must not be used, IATA designators."
            },
            "costLimit": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Maximum total cost of a quote." },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other TIG constraints in free text." }
          }
        },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes for the Travel Service Provider." }
      },
      "oneOf": [
        { "properties": { "escortDates": true }, "required": ["escortDates"] },
        { "properties": { "travelDates": true }, "required": ["travelDates"] }
      ]
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-quote-response', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-quote-response/1.0",
  "title": "Travel quote response",
  "description": "Schedule R Appendix A 4.4 (Message 4). The Travel Service Provider answers a travel quote request with travel quotes for each of the Escort Service Provider's dates: itinerary, cost per traveller and total, and conditions, for the Home Office to choose from.",
  "x-hublink-section": "4.4",
  "x-hublink-queue": "travel-quote-response",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelQuoteResponse", "description": "Always TravelQuoteResponse." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["quotes"],
      "description": "The travel quotes. An empty list means no travel can be offered (with noQuoteReason).",
      "properties": {
        "quotes": {
          "type": "array",
          "description": "The travel quotes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["travelQuoteReference", "costs", "itinerary", "conditions"],
            "description": "One travel quote.",
            "properties": {
              "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "Unique reference of this quote." },
              "escortQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/escortQuoteReference", "description": "The escort quote (date) this travel quote matches; absent for unescorted removals." },
              "costs": {
                "type": "object",
                "additionalProperties": false,
                "required": ["perTraveller", "total"],
                "description": "Travel cost: per traveller and in total (Appendix A 4.4 'Travel Cost').",
                "properties": {
                  "perTraveller": {
                    "type": "array",
                    "minItems": 1,
                    "description": "Cost for each returnee and each escort.",
                    "items": {
                      "type": "object",
                      "additionalProperties": false,
                      "required": ["traveller", "cost"],
                      "description": "Cost of one traveller.",
                      "properties": {
                        "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position." },
                        "cost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Cost for this traveller." }
                      }
                    }
                  },
                  "total": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Total cost of the quote, all travellers, taxes and fees included." },
                  "expectedCost": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/money", "description": "Expected cost: the total plus the expected loss if the removal is cancelled (the provider's cancellation probability times what the fare's refund rules would keep). The best-value ranking key; optional, a provider that does not compute it leaves it out." }
                }
              },
              "itinerary": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
                "description": "Travel itinerary: the segments in travel order (flights, ferries, trains, coaches, hotels)."
              },
              "conditions": {
                "type": "object",
                "additionalProperties": false,
                "required": ["refundable", "handBaggageOnly", "expiresAt"],
                "description": "Travel conditions of this quote (Appendix A 4.4): refundability, fare restrictions, expiry.",
                "properties": {
                  "refundable": { "type": "boolean", "description": "False for a non-refundable fare." },
                  "handBaggageOnly": { "type": "boolean", "description": "True for a hand-baggage-only fare." },
                  "expiresAt": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime", "description": "When the quote expires: a booking request after this time may be declined." },
                  "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Other conditions in free text." }
                }
              }
            }
          }
        },
        "noQuoteReason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why no (or fewer) quotes are offered, e.g. NO_FLIGHTS." },
        "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free-text notes." }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-reference-list-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-reference-list-update/1.0",
  "title": "Travel reference list update",
  "description": "Schedule R Appendix B 4.17 (not a message of Appendix A). The Home Office announces to the Travel Service Provider the new content of one reason-code list (decline, cancellation, delay, change, unsuccessful) after its system administrator edited it: \"the system administrator role will have the ability to edit these lists of options which will prompt communication to the Travel Service Provider of the new data\". The body is the full state of the list, not the change, so a provider that missed a message converges on the next one; sequence orders the announcements of one list, and a provider ignores one older than the list it holds.",
  "$comment": "Same top-level shape as the envelope so consumers parse every message alike, but a standalone schema like the Error message: a reference list belongs to no removal, so there is no removalId (the envelope requires it). One message type per receiving provider, because each queue has one consumer.",
  "x-hublink-section": "B 4.17 TSP",
  "x-hublink-queue": "travel-reference-list-update",
  "x-hublink-recipient": "TSP",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "messageId",
    "messageType",
    "schemaVersion",
    "sentAt",
    "sender",
    "body"
  ],
  "properties": {
    "messageId": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid",
      "description": "Unique ID of this message (RFC 4122 UUID), chosen by the Hub; the idempotency key."
    },
    "messageType": {
      "const": "TravelReferenceListUpdate",
      "description": "Always TravelReferenceListUpdate."
    },
    "schemaVersion": {
      "const": "1.0",
      "description": "Always 1.0 for this schema."
    },
    "sentAt": {
      "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
      "description": "When the Hub published the message, RFC 3339 date-time with offset."
    },
    "sender": {
      "const": "HUB",
      "description": "Always HUB: sent by the Home Office."
    },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "list",
        "description",
        "sequence",
        "changedAt",
        "codes"
      ],
      "description": "The full new content of one reason-code list.",
      "properties": {
        "list": {
          "type": "string",
          "pattern": "^[a-z]{1,63}$",
          "description": "Name of the reason-code list, lower case, e.g. decline, cancellation, delay, change, unsuccessful. Lists are reference data: a name the provider does not know yet is a new list."
        },
        "description": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
          "description": "Where the list's codes are used."
        },
        "sequence": {
          "type": "integer",
          "minimum": 1,
          "maximum": 9007199254740991,
          "description": "Version of this list at the Hub, 1 for its first announcement and one more for each later one. A provider applies a message only when its sequence is higher than that of the list it holds, so a redelivered or late message changes nothing."
        },
        "changedAt": {
          "$ref": "https://hublink.example/schemas/common/1.0#/$defs/dateTime",
          "description": "When the change was committed at the Hub (the time of the transaction that made it)."
        },
        "codes": {
          "type": "array",
          "maxItems": 1000,
          "description": "Every code of the list, in code order, active or not; a code that is not here was deleted. Empty when the list has no codes.",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "code",
              "text",
              "active"
            ],
            "description": "One code of the list.",
            "properties": {
              "code": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/code",
                "description": "The code as sent in messages, e.g. FLIGHT_CANCELLED."
              },
              "text": {
                "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText",
                "description": "What the code means."
              },
              "active": {
                "type": "boolean",
                "description": "Whether the code may be used in new messages; an inactive code is kept for the history of earlier messages."
              }
            }
          }
        }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
SELECT hublink.install_shipped_schema('travel-update', $hublink_schema_json${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://hublink.example/schemas/travel-update/1.0",
  "title": "Travel update",
  "description": "Schedule R Appendix A 4.12 (Message 12). The Travel Service Provider's exception message: travel completed, a flight changed (retimed, new terminal, delayed), travel cancelled, the financial consequence of post-booking changes, the outcome of a Home Office amendment, or anything else in free text.",
  "$comment": "Each update carries one or more sections; at least one besides notes. completed and cancellation exclude each other (dependentSchemas).",
  "x-hublink-section": "4.12",
  "x-hublink-queue": "travel-update",
  "x-hublink-recipient": "HUB",
  "$ref": "https://hublink.example/schemas/envelope/1.0",
  "type": "object",
  "properties": {
    "messageType": { "const": "TravelUpdate", "description": "Always TravelUpdate." },
    "schemaVersion": { "const": "1.0", "description": "Always 1.0 for this schema." },
    "sender": { "const": "TSP", "description": "Always TSP: sent by the Travel Service Provider." },
    "body": {
      "type": "object",
      "additionalProperties": false,
      "required": ["travelQuoteReference"],
      "description": "The update.",
      "properties": {
        "travelQuoteReference": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travelQuoteReference", "description": "The booked travel quote this update is about." },
        "completed": {
          "type": "object",
          "additionalProperties": false,
          "required": ["segments"],
          "description": "Completed info: the travel took place (confirmed), with actual times where known.",
          "properties": {
            "segments": {
              "type": "array",
              "minItems": 1,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentActuals" },
              "description": "Per segment: date-time left, date-time arrived."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text if needed." }
          }
        },
        "flightChanges": {
          "type": "array",
          "minItems": 1,
          "description": "Flight change: which flight changed and by how much (a formal change of time or terminal, or a delay).",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["reason", "oldSegment", "newSegment"],
            "description": "One changed segment.",
            "properties": {
              "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Change reason, e.g. SCHEDULE_CHANGE, DELAY, TERMINAL_CHANGE." },
              "oldSegment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment", "description": "Old flight details, as booked." },
              "newSegment": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment", "description": "New flight details (same segmentId when the flight is retimed, a new one when replaced)." }
            }
          }
        },
        "cancellation": {
          "type": "object",
          "additionalProperties": false,
          "required": ["reason", "segmentIds"],
          "description": "Cancellation details: like a flight change but more serious; which references are cancelled (probably all).",
          "properties": {
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Cancellation reason, e.g. FLIGHT_CANCELLED, CARRIER_REFUSED." },
            "segmentIds": {
              "type": "array",
              "minItems": 1,
              "uniqueItems": true,
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/segmentId" },
              "description": "The cancelled segments."
            },
            "oldSegments": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
              "description": "Old flight details of the cancelled segments."
            },
            "bookingReferences": {
              "type": "array",
              "uniqueItems": true,
              "items": { "type": "string", "pattern": "^[A-Z0-9]{6}$", "description": "A cancelled booking reference." },
              "description": "The booking references cancelled."
            },
            "notes": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Free text." }
          }
        },
        "financial": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/financial", "description": "Financial: refund, change fee or cancellation fee and the reason, for Home Office requested changes." },
        "amendmentOutcome": {
          "type": "object",
          "additionalProperties": false,
          "required": ["amendmentMessageId", "accepted"],
          "description": "The outcome of a Home Office travel amendment.",
          "properties": {
            "amendmentMessageId": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/uuid", "description": "messageId of the travel amendment answered." },
            "accepted": { "type": "boolean", "description": "True when the amendment was made, false when it cannot be." },
            "reason": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/reason", "description": "Why it cannot be made, or what it entailed." },
            "itinerary": {
              "type": "array",
              "items": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/itinerarySegment" },
              "description": "The itinerary as now booked, when it changed."
            },
            "tickets": {
              "type": "array",
              "description": "E-tickets reissued.",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["ticketNumber", "traveller"],
                "description": "One reissued e-ticket.",
                "properties": {
                  "ticketNumber": { "type": "string", "pattern": "^[0-9]{13}$", "description": "E-ticket number, 13 digits." },
                  "traveller": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/travellerRef", "description": "The returnee or escort position ticketed." }
                }
              }
            }
          }
        },
        "other": { "$ref": "https://hublink.example/schemas/common/1.0#/$defs/freeText", "description": "Unknown other exceptions: free-text fall-back for emergencies." }
      },
      "anyOf": [
        { "properties": { "completed": true }, "required": ["completed"] },
        { "properties": { "flightChanges": true }, "required": ["flightChanges"] },
        { "properties": { "cancellation": true }, "required": ["cancellation"] },
        { "properties": { "financial": true }, "required": ["financial"] },
        { "properties": { "amendmentOutcome": true }, "required": ["amendmentOutcome"] },
        { "properties": { "other": true }, "required": ["other"] }
      ],
      "dependentSchemas": {
        "completed": { "properties": { "cancellation": false } }
      }
    }
  }
}
$hublink_schema_json$::jsonb);
