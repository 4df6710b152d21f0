-- Escort provider (esp): answering automatically. One responder per inbound esp message type
-- (hublink.message_handler.responder, issue 4's seam), each wrapping an engine function's body in an
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
    wanted constant hublink.engine_responder[] := ARRAY[
        ('EscortQuoteRequest', 'hublink.esp_answer_quote_request(jsonb)',
         'esp: quote with hublink.esp_quote, send the EscortQuoteResponse (hublink.esp_auto_answer).'),
        ('EscortBookingRequest', 'hublink.esp_answer_booking_request(jsonb)',
         'esp: book with hublink.esp_book, send the EscortBookingResponse (hublink.esp_auto_answer).'),
        ('EscortAmendment', 'hublink.esp_answer_amendment(jsonb)',
         'esp: amend with hublink.esp_amend, send the EscortUpdate (hublink.esp_auto_answer).'),
        ('EscortCancellation', 'hublink.esp_answer_cancellation(jsonb)',
         'esp: cancel with hublink.esp_cancel, send the EscortUpdate (hublink.esp_auto_answer).')
    ]::hublink.engine_responder[];
BEGIN
    RETURN hublink.set_engine_responders('esp', 'escort', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.esp_auto_answer(boolean) IS
    'Makes the escort provider answer automatically (true, the default) or by hand again (false): '
    'registers or removes the engine''s responders in hublink.message_handler.responder for '
    'EscortQuoteRequest, EscortBookingRequest, EscortAmendment and EscortCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = esp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s responders. Returns the number of responders registered (4), or 0 when disabled.';
REVOKE ALL ON FUNCTION hublink.esp_auto_answer(boolean) FROM PUBLIC;
