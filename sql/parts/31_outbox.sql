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
