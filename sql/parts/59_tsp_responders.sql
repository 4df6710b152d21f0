-- Travel provider (tsp): answering automatically. One responder per inbound tsp message type
-- (hublink.message_handler.responder, issue 4's seam), each wrapping an engine function's body in an
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
    wanted constant hublink.engine_responder[] := ARRAY[
        ('TravelQuoteRequest', 'hublink.tsp_answer_quote_request(jsonb)',
         'tsp: quote with hublink.tsp_quote, send the TravelQuoteResponse (hublink.tsp_auto_answer).'),
        ('TravelBookingRequest', 'hublink.tsp_answer_booking_request(jsonb)',
         'tsp: book with hublink.tsp_book, send the TravelBookingResponse (hublink.tsp_auto_answer).'),
        ('TravelAmendment', 'hublink.tsp_answer_amendment(jsonb)',
         'tsp: amend with hublink.tsp_amend, send the TravelUpdate (hublink.tsp_auto_answer).'),
        ('TravelCancellation', 'hublink.tsp_answer_cancellation(jsonb)',
         'tsp: cancel with hublink.tsp_cancel, send the TravelUpdate (hublink.tsp_auto_answer).')
    ]::hublink.engine_responder[];
BEGIN
    RETURN hublink.set_engine_responders('tsp', 'travel', wanted, enabled);
END;
$$;
COMMENT ON FUNCTION hublink.tsp_auto_answer(boolean) IS
    'Makes the travel provider answer automatically (true, the default) or by hand again '
    '(false): registers or removes the engine''s responders in hublink.message_handler.responder for '
    'TravelQuoteRequest, TravelBookingRequest, TravelAmendment and TravelCancellation. Off on a '
    'fresh install. Enabling needs hublink.party = tsp (object_not_in_prerequisite_state) and '
    'refuses to replace another responder of those types (unique_violation); disabling removes '
    'only the engine''s responders. Returns the number of responders registered (4), or 0 when disabled.';
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
