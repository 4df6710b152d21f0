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
    'The message''s envelope; its body is sealed in sealed_body (74_crypto_seal.sql).';
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
    -- Need-to-know first (90_access.sql). A message of no removal (a reference list an admin's
    -- edit announces, 4.17) has no removal to check.
BEGIN
    IF message ? 'removalId' THEN
        PERFORM hublink.require_removal_access(message ->> 'removalId');
    END IF;
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

-- The Error message of docs/architecture.md and schemas/error.json, for a message consumed from queue
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
    -- An Error is never answered with an Error (nobody reads <queue>-error-error, and two
    -- parties could bounce Errors for ever): the bad Error stays rejected in the inbox and a
    -- person is told.
    IF EXISTS (SELECT FROM hublink.message_type t WHERE t.queue || '-error' = enqueue_error.queue) THEN
        PERFORM hublink.worker_alert('error_not_processable',
            format('a message on error queue %s could not be processed (%s problem(s)); no Error is sent back for it',
                   queue, jsonb_array_length(problems)),
            jsonb_build_object('queue', queue, 'message_id', failed ->> 'messageId',
                               'problem_locations', (SELECT jsonb_agg(p -> 'instanceLocation')
                                                       FROM jsonb_array_elements(problems) p)));
        RETURN NULL;
    END IF;
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
               -- the problem class (FORBIDDEN_SENDER, DUPLICATE...), when it is a valid code
               || CASE WHEN p ->> 'code' ~ '^[A-Z][A-Z0-9_]{1,39}$' THEN jsonb_build_object('code', p -> 'code')
                       ELSE '{}' END
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
    'readable, the time, the queue and the problems. Used by the worker. A message from an error '
    'queue is never answered with an Error: it raises error_not_processable instead (returns NULL).';
REVOKE ALL ON FUNCTION hublink.enqueue_error(text, jsonb, jsonb) FROM PUBLIC;

-- An Error received for one of our messages (issue 14 section 2): the functions that
-- write and show it are in 36_broker_contract.sql; hublink.worker_status counts the open ones.
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
COMMENT ON TABLE hublink.error_report IS
    'Each Error message received on the error queue of a queue this party sends on: which of our '
    'outbox rows it names (NULL when none), where the problems are, and whether a person has '
    'cleared it. The Error itself (with the problems'' texts, sealed) is its row of hublink.inbox.';
COMMENT ON COLUMN hublink.error_report.id IS 'Key.';
COMMENT ON COLUMN hublink.error_report.error_message_id IS 'The Error message''s messageId (its row of hublink.inbox).';
COMMENT ON COLUMN hublink.error_report.reported_by IS 'The party that rejected our message (the broker-validated sender of the Error).';
COMMENT ON COLUMN hublink.error_report.queue IS 'The queue our message was consumed from (the Error''s body.queue).';
COMMENT ON COLUMN hublink.error_report.failed_message_id IS 'The Error''s body.failedMessageId, when it had one.';
COMMENT ON COLUMN hublink.error_report.failed_message_type IS 'The Error''s body.failedMessageType, when it had one.';
COMMENT ON COLUMN hublink.error_report.removal_reference IS 'The Error''s removalId (the removal reference), when it had one.';
COMMENT ON COLUMN hublink.error_report.outbox_id IS 'Our outbox row the Error names (same messageId, same queue); NULL when it names no message of ours, or once retention purged the row.';
COMMENT ON COLUMN hublink.error_report.matched IS 'True when the Error named a message we sent on that queue (kept when retention purges the outbox row).';
COMMENT ON COLUMN hublink.error_report.problem_count IS 'How many problems the Error lists.';
COMMENT ON COLUMN hublink.error_report.problem_locations IS
    'Where each problem is: instanceLocation, keywordLocation and code of each, without the '
    'error texts (they can quote personal data; read them with hublink.message_document on the '
    'Error''s inbox row).';
COMMENT ON COLUMN hublink.error_report.received_at IS 'When the Error was applied.';
COMMENT ON COLUMN hublink.error_report.cleared_at IS 'When a person cleared it (hublink.clear_attention); NULL while it needs attention.';
COMMENT ON COLUMN hublink.error_report.cleared_by IS 'Who cleared it.';
COMMENT ON COLUMN hublink.error_report.clear_note IS 'What was done about it.';
CREATE INDEX error_report_open ON hublink.error_report (received_at) WHERE cleared_at IS NULL;
COMMENT ON INDEX hublink.error_report_open IS 'The reports that still need attention.';
CREATE INDEX error_report_outbox ON hublink.error_report (outbox_id);
COMMENT ON INDEX hublink.error_report_outbox IS 'The reports of one outbox row.';
SELECT pg_catalog.pg_extension_config_dump('hublink.error_report', '');

