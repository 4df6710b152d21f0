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
