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
