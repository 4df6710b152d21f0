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
