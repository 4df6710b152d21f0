-- A structured travel amendment (Appendix A 4.11, Appendix B 4.20; issue 16, docs/web.md
-- "Amending the travel booking"): a new travel date and/or a new arrival airport with a reason
-- from the change list, sent as the TravelAmendment's itineraryChanges. The body is built here
-- from the booked itinerary, so the caseworker (in the web interface or in psql) gives only
-- what changes and why; hublink.amend_travel still takes a free-form body.

CREATE FUNCTION hublink.amend_travel_itinerary(removal_reference text, reason_code text,
                                               new_date date DEFAULT NULL, new_airport text DEFAULT NULL,
                                               reason_text text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        hublink.removal;
    booked   text;
    first    hublink.itinerary_segment;
    last     hublink.itinerary_segment;
    affected jsonb;
    airport  text := upper(btrim(new_airport));
    waiting  hublink.amendment;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    booked := hublink.booked_reference(r, 'travel');
    IF r.travel_state NOT IN ('booked', 'amended') OR booked IS NULL THEN
        RAISE EXCEPTION 'removal % has no confirmed travel booking to amend', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Its travel is %s.', replace(r.travel_state, '_', ' ')),
                  HINT = 'Before booking, ask for new quotes instead (hublink.requote).';
    END IF;
    IF NOT hublink.reason_code_valid('change', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the change list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''change'' AND active.';
    END IF;
    IF new_date IS NULL AND nullif(airport, '') IS NULL THEN
        RAISE EXCEPTION 'a travel amendment needs a new date or a new destination airport'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Anything else goes in a free-text amendment (hublink.amend_travel).';
    END IF;
    IF airport IS NOT NULL AND airport !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'destination airport "%" is not an IATA airport code', new_airport
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Three letters, like LOS.';
    END IF;
    IF new_date < current_date THEN
        RAISE EXCEPTION 'the new travel date % is in the past', new_date USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF new_date = ANY (r.exclusion_dates) THEN
        RAISE EXCEPTION 'the new travel date % is one of the removal''s exclusion dates', new_date
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The Home Office said the returnees may not travel on those days.';
    END IF;
    -- One change at a time: a second request (a button pressed twice) before the provider
    -- answered the first would be a second, perhaps charged, change.
    SELECT * INTO waiting FROM hublink.amendment a
     WHERE a.removal_id = r.removal_id AND a.booking = 'travel' AND a.outcome_at IS NULL
     ORDER BY a.sent_at DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a travel amendment of removal % is waiting for the provider''s answer', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Amendment %s was sent at %s.', waiting.message_id, waiting.sent_at),
                  HINT = 'Wait for the answer on the case''s timeline.';
    END IF;
    -- The returnees' flights as booked now (the current PLANE segments a returnee travels on)
    -- are replaced by one requested flight from the first one's departure airport to the (new)
    -- arrival airport of the last one, on the (new) date. Escorts' return legs and hotels are the
    -- provider's to rearrange: its answer carries the itinerary as now booked.
    SELECT s.* INTO first FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference')
     ORDER BY s.start_time, s.segment_id LIMIT 1;
    SELECT s.* INTO last FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference')
     ORDER BY s.start_time DESC, s.segment_id DESC LIMIT 1;
    SELECT jsonb_agg(s.segment_id ORDER BY s.start_time, s.segment_id) INTO affected
      FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
     WHERE q.removal_id = r.removal_id AND q.travel_quote_reference = booked AND s.current
       AND s.segment_type = 'PLANE'
       AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(s.travellers, '[]')) t WHERE t ? 'hoReturneeReference');
    IF affected IS NULL THEN
        RAISE EXCEPTION 'the travel booking of removal % has no itinerary to amend', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF coalesce(new_date, (first.start_time AT TIME ZONE 'UTC')::date) = (first.start_time AT TIME ZONE 'UTC')::date
       AND coalesce(airport, last.end_point ->> 'airportCode') = last.end_point ->> 'airportCode' THEN
        RAISE EXCEPTION 'the travel booking of removal % already goes to % on %', removal_reference,
                        last.end_point ->> 'airportCode', (first.start_time AT TIME ZONE 'UTC')::date
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing would change.';
    END IF;
    RETURN hublink.amend_travel(removal_reference, jsonb_build_object('itineraryChanges', jsonb_build_array(
        jsonb_build_object(
            'affectedSegmentIds', affected,
            'requestedSegments', jsonb_build_array(jsonb_build_object(
                'segmentType', 'PLANE',
                'startPoint', jsonb_strip_nulls(jsonb_build_object('airportCode', first.start_point ->> 'airportCode')),
                'endPoint', CASE WHEN airport IS NULL OR airport = last.end_point ->> 'airportCode'
                                 THEN jsonb_strip_nulls(jsonb_build_object('airportCode', last.end_point ->> 'airportCode'))
                                 ELSE jsonb_build_object('airportCode', airport) END,
                'date', coalesce(new_date, (first.start_time AT TIME ZONE 'UTC')::date))),
            'reason', jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', nullif(btrim(reason_text), '')))))));
END;
$$;
COMMENT ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) IS
    'Sends a structured travel amendment (4.11) of a confirmed travel booking: the returnees'' '
    'booked flights replaced by one flight from the first one''s departure airport to new_airport '
    '(or the same arrival) on new_date (or the same date), with a reason from the '
    'change list. Refused before booking, with no change, a date in the past or excluded, and '
    'while an earlier travel amendment waits for its answer. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_travel_itinerary(text, text, date, text, text) TO hublink_caseworker;
