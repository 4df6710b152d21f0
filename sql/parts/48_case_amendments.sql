-- Case changes after creation (issue 16). First, a structured travel amendment (Appendix A
-- 4.11, Appendix B 4.20; docs/web.md "Amending the travel booking"): a new travel date and/or
-- a new arrival airport with a reason
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

-- Editing a returnee's details after the removal was created (issue 16; docs/web.md "Editing a
-- returnee"): name, date of birth, nationality, sex, travel document and, while nothing has
-- been sent to a provider, the Home Office returnee reference (with Appendix B 4.22 checked
-- again for the new one). The providers were given the details in the quote request, so the
-- change must reach them or they would book and ticket the old ones: while quotes are being
-- asked for or compared, the edit asks for new quotes (hublink.requote); once the travel is
-- booked, it sends the TSP a travel amendment with the passenger's new details (4.11); while
-- a booking request or an earlier travel amendment waits for its answer, it is refused. Each
-- edit is kept in hublink.returnee_change (which fields, why, who, the message it sent: no
-- values) and the row audit records the sealed rows it changed.

CREATE TABLE hublink.returnee_change (
    returnee_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id         bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    fields             text[] NOT NULL,
    reason             text NOT NULL,
    message_id         text,
    changed_by         name NOT NULL,
    changed_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.returnee_change IS
    'Every edit of a returnee''s details after creation (hublink.edit_returnee): which fields, why, '
    'who, when and the message that told the providers. No values: those are sealed in their tables.';
COMMENT ON COLUMN hublink.returnee_change.returnee_change_id IS 'Identity.';
COMMENT ON COLUMN hublink.returnee_change.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.returnee_change.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.returnee_change.fields IS 'The details changed (hoReturneeReference, givenNames, familyName, dateOfBirth, nationality, gender, document).';
COMMENT ON COLUMN hublink.returnee_change.reason IS 'Why.';
COMMENT ON COLUMN hublink.returnee_change.message_id IS 'The re-quote or travel amendment sent for it; NULL before any quote was asked for.';
COMMENT ON COLUMN hublink.returnee_change.changed_by IS 'The person (hublink.acting_login()).';
COMMENT ON COLUMN hublink.returnee_change.changed_at IS 'When.';
CREATE INDEX returnee_change_removal ON hublink.returnee_change (removal_id);
COMMENT ON INDEX hublink.returnee_change_removal IS 'The edits of one removal.';

CREATE FUNCTION hublink.edit_returnee(removal_reference text, ho_returnee_reference text, changes jsonb, reason text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    t       hublink.returnee;
    p       hublink.returnee_personal;
    d       hublink.travel_document;
    doc     jsonb := changes -> 'document';
    k       text;
    fields  text[] := '{}';
    new_ref text := upper(btrim(changes ->> 'hoReturneeReference'));
    live    record;
    sent    text;
    booked  boolean;
    api     jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO t FROM hublink.returnee x
     WHERE x.removal_id = r.removal_id AND x.ho_returnee_reference = edit_returnee.ho_returnee_reference FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal % has no returnee %', removal_reference, ho_returnee_reference
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.state IN ('cancelled', 'completed', 'unsuccessful') THEN
        RAISE EXCEPTION 'removal % is %: its returnees'' details are kept as they were', removal_reference, r.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF nullif(btrim(coalesce(reason, '')), '') IS NULL THEN
        RAISE EXCEPTION 'an edit of a returnee''s details needs a reason'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The reason is kept with the edit.';
    END IF;
    IF jsonb_typeof(changes) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'changes must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k IN SELECT jsonb_object_keys(changes) LOOP
        IF k NOT IN ('hoReturneeReference', 'givenNames', 'familyName', 'dateOfBirth', 'nationality', 'gender', 'document') THEN
            RAISE EXCEPTION 'a returnee has no detail "%" that can be edited', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'hoReturneeReference, givenNames, familyName, dateOfBirth, nationality, gender, document.';
        END IF;
    END LOOP;
    -- The values, checked as the messages' JSON Schema would (schemas/common.json).
    IF changes ? 'givenNames' AND NOT coalesce(length(btrim(changes ->> 'givenNames')) BETWEEN 1 AND 100, false)
       OR changes ? 'familyName' AND NOT coalesce(length(btrim(changes ->> 'familyName')) BETWEEN 1 AND 100, false) THEN
        RAISE EXCEPTION 'a name must have 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'nationality' AND coalesce(changes ->> 'nationality', '') !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'nationality "%" is not a 3-letter country code', changes ->> 'nationality' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'gender' AND coalesce(changes ->> 'gender', '') !~ '^[MFX]$' THEN
        RAISE EXCEPTION 'sex "%" is not M, F or X', changes ->> 'gender' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF changes ? 'dateOfBirth' AND (changes ->> 'dateOfBirth' !~ '^\d{4}-\d{2}-\d{2}$'
                                    OR (changes ->> 'dateOfBirth')::date > current_date) THEN
        RAISE EXCEPTION 'date of birth "%" is not a date in the past', changes ->> 'dateOfBirth' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doc IS NOT NULL AND (jsonb_typeof(doc) <> 'object'
            OR coalesce(doc ->> 'type', '') NOT IN ('PASSPORT', 'NATIONAL_IDENTITY_CARD', 'EMERGENCY_TRAVEL_DOCUMENT')
            OR coalesce(doc ->> 'number', '') !~ '^[A-Z0-9]{5,20}$'
            OR coalesce(doc ->> 'issuingCountry', '') !~ '^[A-Z]{3}$'
            OR (doc ? 'expiryDate' AND coalesce(doc ->> 'expiryDate', '') !~ '^\d{4}-\d{2}-\d{2}$')) THEN
        RAISE EXCEPTION 'the travel document is not valid'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A document has a type (PASSPORT, NATIONAL_IDENTITY_CARD, EMERGENCY_TRAVEL_DOCUMENT), a number of 5 to 20 capital letters and digits, a 3-letter issuing country and optionally an expiry date.';
    END IF;
    IF new_ref IS NOT NULL AND new_ref !~ '^[A-Z0-9][A-Z0-9/-]{2,29}$' THEN
        RAISE EXCEPTION 'returnee reference "%" is not a Home Office returnee reference', changes ->> 'hoReturneeReference'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- What really changes, against the details as they are (decrypted here, audited).
    SELECT * INTO p FROM hublink.returnee_personal_of(t.returnee_id);
    SELECT * INTO d FROM hublink.travel_documents_of(t.returnee_id) ORDER BY travel_document_id DESC LIMIT 1;
    IF new_ref IS DISTINCT FROM t.ho_returnee_reference AND new_ref IS NOT NULL THEN fields := fields || 'hoReturneeReference'::text; END IF;
    IF changes ? 'givenNames' AND btrim(changes ->> 'givenNames') IS DISTINCT FROM p.given_names THEN fields := fields || 'givenNames'::text; END IF;
    IF changes ? 'familyName' AND btrim(changes ->> 'familyName') IS DISTINCT FROM p.family_name THEN fields := fields || 'familyName'::text; END IF;
    IF changes ? 'dateOfBirth' AND (changes ->> 'dateOfBirth')::date IS DISTINCT FROM p.date_of_birth THEN fields := fields || 'dateOfBirth'::text; END IF;
    IF changes ? 'nationality' AND changes ->> 'nationality' IS DISTINCT FROM p.nationality::text THEN fields := fields || 'nationality'::text; END IF;
    IF changes ? 'gender' AND changes ->> 'gender' IS DISTINCT FROM p.gender THEN fields := fields || 'gender'::text; END IF;
    IF doc IS NOT NULL AND (doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry', (doc ->> 'expiryDate')::date)
                           IS DISTINCT FROM (d.document_type, d.document_number, d.issuing_country::text, d.expiry_date) THEN
        fields := fields || 'document'::text;
    END IF;
    IF cardinality(fields) = 0 THEN
        RAISE EXCEPTION 'the details of returnee % are already so', ho_returnee_reference
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing was changed.';
    END IF;

    booked := r.travel_state IN ('booked', 'amended');
    -- Where the removal is decides how the providers hear of it.
    IF 'hoReturneeReference' = ANY (fields) AND (r.state <> 'new' OR r.escort_state <> 'none' OR r.travel_state <> 'none') THEN
        RAISE EXCEPTION 'the returnee reference of removal % can no longer be changed', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The providers know the returnee by this reference since the first quote request.',
                  HINT = 'Cancel this removal and create one for the right returnee.';
    END IF;
    IF r.escort_state IN ('booking_requested') OR r.travel_state IN ('booking_requested')
       OR (r.escort_state IN ('booked', 'amended') AND NOT booked) THEN
        RAISE EXCEPTION 'removal % is being booked: its returnees'' details cannot change until the booking is confirmed', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Once the travel is booked, the edit is sent to the travel provider as an amendment.';
    END IF;
    IF booked AND EXISTS (SELECT FROM hublink.amendment a WHERE a.removal_id = r.removal_id AND a.booking = 'travel' AND a.outcome_at IS NULL) THEN
        RAISE EXCEPTION 'a travel amendment of removal % is waiting for the provider''s answer', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Wait for the answer on the case''s timeline.';
    END IF;

    -- 4.22 for a new reference, as in create_removal: one transaction at a time per reference.
    IF 'hoReturneeReference' = ANY (fields) THEN
        PERFORM pg_advisory_xact_lock(422, hashtext(new_ref));
        SELECT l.removal_reference, l.state, coalesce(hublink.removal_access_allowed(m.removal_id), false) AS visible
          INTO live
          FROM hublink.live_returnee l JOIN hublink.removal m USING (removal_reference)
         WHERE l.ho_returnee_reference = new_ref ORDER BY 3 DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'returnee % already has a live removal', new_ref
                USING ERRCODE = 'unique_violation',
                      DETAIL = CASE WHEN live.visible THEN format('Removal %s is %s.', live.removal_reference, live.state)
                                    ELSE 'The live removal is not shown: it is above the clearance of this login.' END,
                      HINT = 'Appendix B 4.22: a returnee has one live removal.';
        END IF;
        UPDATE hublink.returnee x SET ho_returnee_reference = new_ref WHERE x.returnee_id = t.returnee_id;
    END IF;
    IF fields && ARRAY['givenNames', 'familyName', 'dateOfBirth', 'nationality', 'gender'] THEN
        UPDATE hublink.returnee_personal x
           SET given_names = coalesce(btrim(changes ->> 'givenNames'), p.given_names),
               family_name = coalesce(btrim(changes ->> 'familyName'), p.family_name),
               date_of_birth = coalesce((changes ->> 'dateOfBirth')::date, p.date_of_birth),
               nationality = coalesce(changes ->> 'nationality', p.nationality),
               gender = coalesce(changes ->> 'gender', p.gender),
               title = p.title, conditions = p.conditions
         WHERE x.returnee_id = t.returnee_id;
    END IF;
    -- The document corrected replaces the latest one (a wrong number must not travel on).
    IF 'document' = ANY (fields) AND d.travel_document_id IS NOT NULL THEN
        UPDATE hublink.travel_document x
           SET document_type = doc ->> 'type', document_number = doc ->> 'number',
               issuing_country = doc ->> 'issuingCountry', expiry_date = (doc ->> 'expiryDate')::date
         WHERE x.travel_document_id = d.travel_document_id;
    ELSIF 'document' = ANY (fields) THEN
        INSERT INTO hublink.travel_document (returnee_id, document_type, document_number, issuing_country, expiry_date)
        VALUES (t.returnee_id, doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry', (doc ->> 'expiryDate')::date);
    END IF;

    IF booked THEN
        api := jsonb_strip_nulls(jsonb_build_object(
                   'dateOfBirth', CASE WHEN 'dateOfBirth' = ANY (fields) THEN changes -> 'dateOfBirth' END,
                   'nationality', CASE WHEN 'nationality' = ANY (fields) THEN changes -> 'nationality' END,
                   'gender', CASE WHEN 'gender' = ANY (fields) THEN changes -> 'gender' END));
        sent := hublink.amend_travel(removal_reference, jsonb_build_object(
            'passengerUpdates', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'traveller', jsonb_build_object('hoReturneeReference', t.ho_returnee_reference),
                'name', CASE WHEN fields && ARRAY['givenNames', 'familyName'] THEN jsonb_strip_nulls(jsonb_build_object(
                            'title', p.title,
                            'givenNames', coalesce(btrim(changes ->> 'givenNames'), p.given_names),
                            'familyName', coalesce(btrim(changes ->> 'familyName'), p.family_name))) END,
                'advancePassengerInfo', nullif(api, '{}'),
                'travelDocument', CASE WHEN 'document' = ANY (fields) THEN jsonb_strip_nulls(doc) END))),
            'other', left('Returnee details corrected: ' || btrim(reason), 500)));
    ELSIF r.state <> 'new' THEN
        -- Quotes asked for with the old details: ask again with the new ones.
        sent := hublink.requote(removal_reference);
    END IF;
    INSERT INTO hublink.returnee_change (removal_id, returnee_id, fields, reason, message_id, changed_by)
    VALUES (r.removal_id, t.returnee_id, fields, btrim(reason), sent, hublink.acting_login());
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) IS
    'Edits a returnee''s details with a reason: changes is an object of givenNames, familyName, '
    'dateOfBirth, nationality, gender, document {type, number, issuingCountry, expiryDate} and, '
    'before any quote request, hoReturneeReference (Appendix B 4.22 checked for it). Before any '
    'quote request it only records; while quotes are asked for or compared it asks for new quotes '
    '(hublink.requote); once the travel is booked it sends a travel amendment with the passenger''s '
    'new details (4.11). Refused while a booking or a travel amendment waits for its answer, on a '
    'removal that is over, with nothing to change. Kept in hublink.returnee_change. Returns the '
    'messageId sent, or NULL.';
REVOKE ALL ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.edit_returnee(text, text, jsonb, text) TO hublink_caseworker;
