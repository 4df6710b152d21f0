-- The inbox's one home (issue 15 section 2): every change of a row of hublink.inbox is one of
-- the functions of this part, and nothing else writes the table. The worker (bgworker/inbox.c)
-- calls them and holds no SQL of its own that writes an inbox row; a handler rejects its
-- message through hublink.reject_message, which calls hublink.inbox_handler_rejected here. Only
-- retention and erasure delete rows (75_crypto_retention.sql): a row's end, not a state.
-- test/sql/38_inbox_home.sh checks it against the catalogue and the C sources.
--
-- A row's life (docs/worker.md "One home for the inbox"):
--
--   delivery  --inbox_store_applied-->  applied   (then its handler runs, in the same subtransaction)
--   delivery  --inbox_reject--------->  rejected  (bad input, wrong sender, data error; Error sent)
--   delivery  --inbox_defer---------->  retrying  (its handler failed; rejected when no retries)
--   retrying  --inbox_retry_applied-->  applied   (a retry's handler returned)
--   retrying  --inbox_retry_failed--->  retrying, or rejected after hublink.handler_max_retries
--   retrying  --inbox_reject_retrying-> rejected  (a retry failed with a data error)
--   applied, retrying --inbox_handler_rejected--> rejected (the handler itself rejected it)
--
-- A delivery whose messageId is already here changes no row: hublink.inbox_duplicate says
-- whether it is a redelivery or answers the reuse with an Error. The functions are PL/pgSQL:
-- the worker calls them on every message, each in a subtransaction of its own, where a SQL
-- function with SET is parsed and planned again (docs/performance.md). Sealed columns are
-- 74_crypto_seal.sql's (later in the install; PL/pgSQL resolves them at the first call).

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


-- A message whose messageId is already in the inbox (issue 14 section 3). The same message
-- again on the same queue is the broker redelivering it: no effect, as before. Anything else
-- (a corrected resend of a message we rejected, the id of an applied message reused for other
-- content, the same id on another queue) is never applied and never dropped in silence: its
-- sender gets an Error saying what happened and what to do. Returns true for a redelivery.
CREATE FUNCTION hublink.inbox_duplicate(p_queue text, p_message jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prior   record;
    v_text  text;
BEGIN
    SELECT i.id, i.queue, i.status, i.processed_at,
           hublink.open_message(i.message, i.key_scope, i.sealed_body) AS document
      INTO prior
      FROM hublink.inbox i WHERE i.message_id = p_message ->> 'messageId';
    IF NOT FOUND OR (prior.queue = p_queue AND prior.document = p_message) THEN
        RETURN true;
    END IF;
    v_text := CASE
        WHEN prior.queue <> p_queue THEN
            format('messageId %s was already used on queue %s at %s (%s); every message needs a '
                   'messageId of its own: send this one again with a new messageId',
                   p_message ->> 'messageId', prior.queue,
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), prior.status)
        WHEN prior.status = 'rejected' THEN
            format('messageId %s was rejected at %s and is not processed again; send the corrected '
                   'message with a new messageId',
                   p_message ->> 'messageId',
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        ELSE
            format('messageId %s was already received at %s (%s) with other content; a changed '
                   'message needs a new messageId',
                   p_message ->> 'messageId',
                   to_char(prior.processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), prior.status)
        END;
    PERFORM hublink.enqueue_error(p_queue, p_message, jsonb_build_array(jsonb_build_object(
        'instanceLocation', '/messageId', 'keywordLocation', '', 'error', v_text, 'code', 'DUPLICATE')));
    PERFORM hublink.worker_alert('message_id_reused',
        format('messageId %s reused on queue %s (first seen on %s, %s): answered with an Error',
               p_message ->> 'messageId', p_queue, prior.queue, prior.status),
        jsonb_build_object('message_id', p_message ->> 'messageId', 'queue', p_queue,
                           'first_queue', prior.queue, 'first_status', prior.status,
                           'first_inbox_id', prior.id));
    RETURN false;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_duplicate(text, jsonb) IS
    'For a delivery whose messageId is already in the inbox: true when it is the same message on '
    'the same queue (a redelivery, no effect); otherwise writes an Error saying what happened and '
    'what to do (a new messageId), raises message_id_reused and returns false. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_duplicate(text, jsonb) FROM PUBLIC;

-- A retried message whose handler now fails in a way that will recur (bgworker/inbox.c
-- deterministic_failure): rejected at once, like a first delivery, instead of waiting out
-- hublink.handler_max_retries.
CREATE FUNCTION hublink.inbox_reject_retrying(p_inbox_id bigint, p_problems jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.inbox;
BEGIN
    UPDATE hublink.inbox i
       SET status = 'rejected', attempts = i.attempts + 1, next_attempt_at = NULL,
           processed_at = now(), problems = p_problems
     WHERE i.id = p_inbox_id AND i.status = 'retrying'
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM hublink.enqueue_error(r.queue, r.message, p_problems);
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) IS
    'Rejects a retrying inbox message at once with the given problems and writes its Error '
    'message: its handler failed in a way that will fail every attempt. False when the row is '
    'not retrying. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_reject_retrying(bigint, jsonb) FROM PUBLIC;

-- A valid delivery, stored before its handler runs, in the handler's subtransaction: when the
-- handler fails, the row goes with its effects and the worker stores the failure instead.
CREATE FUNCTION hublink.inbox_store_applied(p_queue text, p_message jsonb, p_enqueued_at timestamptz,
                                            p_enqueued_at_source text, p_received_at timestamptz,
                                            p_redelivered boolean)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO hublink.inbox (queue, message, status, attempts, enqueued_at, enqueued_at_source,
                               received_at, redelivered)
    VALUES (p_queue, p_message, 'applied', 1, p_enqueued_at, p_enqueued_at_source, p_received_at,
            p_redelivered)
    ON CONFLICT ON CONSTRAINT inbox_message_id_key DO NOTHING
    RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) IS
    'Stores a valid delivery as applied, before its handler runs in the same subtransaction; '
    'returns its inbox id, NULL when its messageId is already in the inbox (nothing stored: see '
    'hublink.inbox_duplicate). Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_store_applied(text, jsonb, timestamptz, text, timestamptz, boolean) FROM PUBLIC;

-- A retry whose handler returned. The row keeps no error: last_error goes, and so does the
-- sealed copy of it (sealed, 74_crypto_seal.sql), which "last_error = NULL" alone cannot clear.
CREATE FUNCTION hublink.inbox_retry_applied(p_inbox_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.inbox i
       SET status = 'applied', attempts = i.attempts + 1, last_error = NULL, next_attempt_at = NULL,
           processed_at = now(), sealed = NULL
     WHERE i.id = p_inbox_id AND i.status = 'retrying';
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_retry_applied(bigint) IS
    'Marks a retrying inbox message applied once a retry''s handler returned, dropping its error '
    'and the sealed copy of it. False when the row is not retrying: the handler rejected it '
    '(hublink.reject_message), and it stays rejected. Used by the worker.';
REVOKE ALL ON FUNCTION hublink.inbox_retry_applied(bigint) FROM PUBLIC;

-- A handler that rejects its own message (hublink.reject_message): the worker reads the
-- outcome from the row once the handler returned, so the row is the only signal.
CREATE FUNCTION hublink.inbox_handler_rejected(p_message jsonb, p_problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_queue text;
BEGIN
    UPDATE hublink.inbox i
       SET status = 'rejected', problems = p_problems, next_attempt_at = NULL,
           last_error = p_problems -> 0 ->> 'error'
     WHERE i.message_id = p_message ->> 'messageId'
    RETURNING i.queue INTO v_queue;
    RETURN v_queue;
END;
$$;
COMMENT ON FUNCTION hublink.inbox_handler_rejected(jsonb, jsonb) IS
    'Marks the inbox row of a message its handler rejects as rejected, with the problems; returns '
    'the queue it came from, NULL when the message is not in the inbox (a handler called by hand). '
    'Called by hublink.reject_message, which writes the Error.';
REVOKE ALL ON FUNCTION hublink.inbox_handler_rejected(jsonb, jsonb) FROM PUBLIC;
