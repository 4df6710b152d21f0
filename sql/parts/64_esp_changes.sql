-- Escort provider (esp), issue 5 section 4: after booking. EscortAmendment and
-- EscortCancellation from the Hub, and the provider's own events entered by esp staff with a
-- SQL call (completed, delayed, unsuccessful, escort change, provider cancellation), each give
-- an EscortUpdate body with its financial consequence (fees by notice period, esp_fee_rule).

CREATE TABLE hublink.esp_update (
    update_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id bigint NOT NULL REFERENCES hublink.esp_booking,
    cause      text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_update IS 'Every EscortUpdate body the engine produced, with what caused it.';
COMMENT ON COLUMN hublink.esp_update.update_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_update.booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.esp_update.cause IS 'The engine function that produced it (cancel, amend, completed, delayed, unsuccessful, escort-change, provider-cancel).';
COMMENT ON COLUMN hublink.esp_update.body IS 'The EscortUpdate body (escort names appear only as escortDetails).';
COMMENT ON COLUMN hublink.esp_update.created_at IS 'When (the at argument).';
CREATE INDEX esp_update_booking ON hublink.esp_update (booking_id);
COMMENT ON INDEX hublink.esp_update_booking IS 'A booking''s updates (its purge; the foreign key check when a booking is deleted).';

CREATE FUNCTION hublink.esp_booking_of(quote_ref text, statuses text[] DEFAULT '{ACTIVE}') RETURNS hublink.esp_booking
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking;
BEGIN
    SELECT * INTO k FROM hublink.esp_booking b WHERE b.quote_ref = esp_booking_of.quote_ref FOR UPDATE;
    IF NOT FOUND OR NOT k.status = ANY (statuses) THEN
        RAISE EXCEPTION 'no % escort booking of quote %', lower(array_to_string(statuses, ' or ')), quote_ref
            USING ERRCODE = 'no_data_found',
                  DETAIL = CASE WHEN k.booking_id IS NULL THEN 'The engine holds no booking of that quote.'
                                ELSE format('The booking is %s.', k.status) END,
                  HINT = 'Check the escortQuoteReference against hublink.esp_booking.';
    END IF;
    RETURN k;
END;
$$;
COMMENT ON FUNCTION hublink.esp_booking_of(text, text[]) IS
    'The booking of a quote, locked, when its status is one of statuses; else raises no_data_found.';

CREATE FUNCTION hublink.esp_record_update(booking_id bigint, cause text, body jsonb, at timestamptz) RETURNS jsonb
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO hublink.esp_update (booking_id, cause, body, created_at) VALUES (booking_id, cause, body, at);
    SELECT body;
END;
COMMENT ON FUNCTION hublink.esp_record_update(bigint, text, jsonb, timestamptz) IS 'Keeps an EscortUpdate body in esp_update and returns it.';

CREATE FUNCTION hublink.esp_fee_note(fee_kind text, cost numeric, hours numeric) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN (SELECT round(greatest(hours, 0), 0) || ' hours before the escort date: ' || r.description
              FROM hublink.esp_fee_rule r
             WHERE r.fee_kind = esp_fee_note.fee_kind AND r.from_hours_before <= greatest(hours, 0)
             ORDER BY r.from_hours_before DESC LIMIT 1);
COMMENT ON FUNCTION hublink.esp_fee_note(text, numeric, numeric) IS 'The fee rule applied, in words, for notes.';

CREATE FUNCTION hublink.esp_cancel(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     hublink.esp_booking := hublink.esp_booking_of(request ->> 'escortQuoteReference');
    hours numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee   numeric := hublink.esp_fee('CANCELLATION', k.total, hours);
BEGIN
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    UPDATE hublink.esp_booking b SET status = 'CANCELLED', fees = b.fees + fee WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'cancel', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'financial', jsonb_build_object(
            'cancellationFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', 'CANCELLED_BY_HO'),
            'notes', 'Cancelled ' || hublink.esp_fee_note('CANCELLATION', k.total, hours)
                     || ' Booked escort cost ' || to_char(k.total, 'FM999999999990.00') || ' ' || k.currency
                     || '; the escorts are released.')), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_cancel(jsonb, timestamptz) IS
    'Cancels the active booking of an EscortCancellation body at instant at: releases the '
    'escorts'' duties, charges the CANCELLATION fee for the notice left (esp_fee_rule) and returns '
    'the EscortUpdate body with financial.cancellationFee. No active booking: no_data_found.';

CREATE FUNCTION hublink.esp_copy_plan(plan_id bigint, at timestamptz) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
BEGIN
    -- returnees is sealed (76_crypto_seal_esp.sql): the copy takes the sealed value and its key
    -- scope, which the seal trigger re-seals without anyone reading it.
    INSERT INTO hublink.esp_plan (removal_ref, key_scope, sealed, international, escort_on_transport, location,
                                  destination, duty_days, currency, segments, created_at)
    SELECT p.removal_ref, p.key_scope, p.sealed, p.international, p.escort_on_transport, p.location,
           p.destination, p.duty_days, p.currency, p.segments, at
      FROM hublink.esp_plan p WHERE p.plan_id = esp_copy_plan.plan_id
    RETURNING esp_plan.plan_id INTO pid;
    -- So is a position's sex (gender): copied sealed, under the same key.
    INSERT INTO hublink.esp_plan_position (plan_id, escort_number, role, gender, physique, languages, medic,
                                           for_returnee, key_scope, sealed)
    SELECT pid, p.escort_number, p.role, NULL, p.physique, p.languages, p.medic, p.for_returnee, p.key_scope, p.sealed
      FROM hublink.esp_plan_position p WHERE p.plan_id = esp_copy_plan.plan_id;
    RETURN pid;
END;
$$;
COMMENT ON FUNCTION hublink.esp_copy_plan(bigint, timestamptz) IS 'A copy of a plan and its positions, for an amendment to change.';

CREATE FUNCTION hublink.esp_amend(request jsonb, amendment_message_id uuid, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k       hublink.esp_booking := hublink.esp_booking_of(request ->> 'escortQuoteReference');
    pid     bigint := hublink.esp_copy_plan(k.plan_id, at);
    pl      hublink.esp_plan;
    c       jsonb;
    r       jsonb;
    x       jsonb;
    segs    jsonb;
    missing text;
    reason  text;
    team    jsonb;
    npos    integer;
    hours   numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee     numeric;
    new_total numeric;
    outcome jsonb := jsonb_build_object('amendmentMessageId', amendment_message_id::text);

BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = pid;
    IF request ? 'returneeChanges' THEN
        pl.returnees := hublink.esp_plan_returnees(pid); -- sealed: decrypted (audited) only when changed
    END IF;
    -- Returnee changes: new risk or conditions change the positions, a new location of the
    -- first returnee the segments (rebuilt from the templates).
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'returneeChanges', '[]')) LOOP
        SELECT jsonb_agg(CASE WHEN p ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
                   p || jsonb_strip_nulls(jsonb_build_object(
                       'flags', r #> '{escortRiskAssessment,flags}',
                       'conditions', (SELECT jsonb_agg(y -> 'code') FROM jsonb_array_elements(r -> 'conditions') y),
                       'location', r -> 'location'))
                   ELSE p END ORDER BY o)
          INTO pl.returnees FROM jsonb_array_elements(pl.returnees) WITH ORDINALITY z(p, o);
        IF r ? 'location' AND pl.returnees -> 0 ->> 'hoReturneeReference' = r ->> 'hoReturneeReference' THEN
            pl.location := r -> 'location';
            pl.segments := hublink.esp_segments(pl.international, pl.escort_on_transport, pl.location, pl.destination);
            reason := coalesce(reason, 'LOCATION_CHANGE');
        END IF;
        reason := coalesce(reason, 'RISK_CHANGED');
    END LOOP;
    IF request ? 'returneeChanges' THEN
        DELETE FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
        INSERT INTO hublink.esp_plan_position SELECT pid, p.* FROM hublink.esp_positions(pl.returnees) p;
    END IF;
    -- Segment changes: cancel, replace, add or amend in place.
    FOR c IN SELECT * FROM jsonb_array_elements(coalesce(request -> 'segmentChanges', '[]')) LOOP
        reason := coalesce(reason, c #>> '{reason,code}');
        SELECT string_agg(a, ', ') INTO missing FROM jsonb_array_elements_text(c -> 'affectedSegmentIds') a
         WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(pl.segments) s WHERE s #>> '{segment,segmentId}' = a);
        IF missing IS NOT NULL THEN
            DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
            RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
                'escortQuoteReference', k.quote_ref,
                'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason',
                    jsonb_build_object('code', 'OTHER', 'text', 'The booking has no segment ' || missing || '; nothing was changed.'))), at);
        END IF;
        IF (c ->> 'cancelled')::boolean THEN
            SELECT coalesce(jsonb_agg(s ORDER BY o), '[]') INTO segs FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o)
             WHERE NOT c -> 'affectedSegmentIds' ? (s #>> '{segment,segmentId}');
            pl.segments := segs || coalesce((SELECT jsonb_agg(jsonb_build_object('segment', n, 'kind', 'REPLACEMENT',
                    'minutes', coalesce(extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                        hublink.esp_setting('default_segment_minutes')::integer),
                    'allowance', 0, 'dayOffset', 0) ORDER BY o)
                FROM jsonb_array_elements(c -> 'replacementSegments') WITH ORDINALITY z(n, o)), '[]');
        ELSE
            SELECT jsonb_agg(coalesce(
                       (SELECT s || jsonb_build_object('segment', n, 'minutes', coalesce(
                                   extract(epoch FROM (n ->> 'plannedFinish')::timestamptz - (n ->> 'plannedStart')::timestamptz)::integer / 60,
                                   hublink.json_integer(s -> 'minutes')::integer))
                          FROM jsonb_array_elements(c -> 'replacementSegments') n
                         WHERE n ->> 'segmentId' = s #>> '{segment,segmentId}'), s) ORDER BY o)
              INTO pl.segments FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o);
        END IF;
    END LOOP;
    IF NOT (request ? 'returneeChanges' OR request ? 'segmentChanges') THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'OTHER', 'text', 'Free-text amendments are handled by escort staff; nothing was changed.'))), at);
    END IF;
    -- pl.returnees is NULL unless returnees changed: the seal trigger then keeps the sealed value.
    UPDATE hublink.esp_plan p SET returnees = pl.returnees, location = pl.location, segments = pl.segments
     WHERE p.plan_id = pid;

    -- The amended plan must be staffed on the same days, keeping the booking's own escorts.
    PERFORM hublink.esp_lock_days(k.escort_date, pl.duty_days);
    SELECT count(*) INTO npos FROM hublink.esp_plan_position p WHERE p.plan_id = pid;
    SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO team FROM hublink.esp_fill_team(pid, k.escort_date, k.booking_id) t;
    IF jsonb_array_length(team) < npos THEN
        DELETE FROM hublink.esp_plan p WHERE p.plan_id = pid;
        RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
            'escortQuoteReference', k.quote_ref,
            'amendmentOutcome', outcome || jsonb_build_object('accepted', false, 'reason', jsonb_build_object(
                'code', 'STAFF_UNAVAILABLE', 'text', 'The roster cannot staff the amended team on '
                        || k.escort_date || '; the booking is unchanged.'))), at);
    END IF;
    new_total := hublink.esp_plan_cost(pid);
    fee := hublink.esp_fee('AMENDMENT', new_total, hours);
    UPDATE hublink.esp_booking b SET plan_id = pid, total = new_total, fees = b.fees + fee
     WHERE b.booking_id = k.booking_id;
    PERFORM hublink.esp_take_team(k.booking_id, team);
    RETURN hublink.esp_record_update(k.booking_id, 'amend', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'amendmentOutcome', outcome || jsonb_build_object('accepted', true,
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'segments', (SELECT jsonb_agg(s -> 'segment' ORDER BY o) FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o))),
        'escortDetails', hublink.esp_escort_details(k.booking_id),
        'financial', jsonb_build_object(
            'changeFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', coalesce(reason, 'OTHER')),
            'notes', 'Amended ' || hublink.esp_fee_note('AMENDMENT', new_total, hours) || ' Escort cost was '
                     || to_char(k.total, 'FM999999999990.00') || ', now ' || to_char(new_total, 'FM999999999990.00')
                     || ' ' || k.currency || '.')), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_amend(jsonb, uuid, timestamptz) IS
    'Applies an EscortAmendment body at instant at to the active booking: returnee changes '
    'recompute the positions (and, for a new location, the segments), segment changes cancel, '
    'replace, add or amend segments (duration from planned times, else default_segment_minutes); '
    'the amended plan is staffed on the same days keeping the booking''s escorts where it can. '
    'Accepted: new cost, AMENDMENT fee by notice, escortDetails. Not accepted (nothing changes): '
    'an unknown segment (OTHER), free text only (OTHER), the roster cannot staff it '
    '(STAFF_UNAVAILABLE). No active booking: no_data_found.';

-- Provider-side events, entered by esp staff: each returns the EscortUpdate body to send
-- (hublink.esp_send_update) and keeps it in esp_update.

CREATE FUNCTION hublink.esp_completed(quote_ref text, actuals jsonb, notes text DEFAULT NULL,
                                      at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    UPDATE hublink.esp_booking b SET status = 'COMPLETED' WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'completed', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'completed', jsonb_strip_nulls(jsonb_build_object('segments', actuals, 'notes', notes)),
        'notes', 'Escort cost ' || to_char(k.total + k.fees, 'FM999999999990.00') || ' ' || k.currency
                 || ' (escorting ' || to_char(k.total, 'FM999999999990.00') || ', fees '
                 || to_char(k.fees, 'FM999999999990.00') || ').'), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_completed(text, jsonb, text, timestamptz) IS
    'esp staff: the escorting of a booking was completed. actuals: [{segmentId, departedAt, '
    'arrivedAt}]. Returns the EscortUpdate body (completed; notes give the amount due).';

CREATE FUNCTION hublink.esp_delayed(quote_ref text, reason_code text, segments jsonb, notes text DEFAULT NULL,
                                    at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    RETURN hublink.esp_record_update(k.booking_id, 'delayed', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'delayed', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
                                                        'segments', segments, 'notes', notes))), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_delayed(text, text, jsonb, text, timestamptz) IS
    'esp staff: the escort is delayed (reason from the delay list). segments: [{segmentId, '
    'newStart, newFinish}], the delayed one first. No cost follows. Returns the EscortUpdate body.';

CREATE FUNCTION hublink.esp_unsuccessful(quote_ref text, reason_code text, segment_id text DEFAULT NULL,
                                         notes text DEFAULT NULL, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     hublink.esp_booking := hublink.esp_booking_of(quote_ref);
    hours numeric := hublink.esp_notice_hours(k.escort_date, at);
    fee   numeric := hublink.esp_fee('CANCELLATION', k.total, hours);
BEGIN
    UPDATE hublink.esp_booking b SET status = 'UNSUCCESSFUL', fees = b.fees + fee WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'unsuccessful', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'unsuccessful', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
            'segmentId', segment_id, 'occurredAt', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
            'notes', notes)),
        'financial', jsonb_build_object(
            'cancellationFee', hublink.esp_money(fee, k.currency),
            'reason', jsonb_build_object('code', 'OTHER', 'text', 'Escorting abandoned.'),
            'notes', 'Abandoned ' || hublink.esp_fee_note('CANCELLATION', k.total, hours))), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_unsuccessful(text, text, text, text, timestamptz) IS
    'esp staff: the escorting started and was abandoned (reason from the unsuccessful list). '
    'Charged as a cancellation with the notice left (after the start: the full cost). Returns the '
    'EscortUpdate body (unsuccessful, financial).';

CREATE FUNCTION hublink.esp_provider_cancel(quote_ref text, reason_code text, notes text DEFAULT NULL,
                                            at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking := hublink.esp_booking_of(quote_ref);
BEGIN
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    UPDATE hublink.esp_booking b SET status = 'PROVIDER_CANCELLED' WHERE b.booking_id = k.booking_id;
    RETURN hublink.esp_record_update(k.booking_id, 'provider-cancel', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'cancellation', jsonb_strip_nulls(jsonb_build_object('reason', jsonb_build_object('code', reason_code),
                                                             'notes', notes)),
        'notes', 'Cancelled by the escort provider: nothing is charged.'), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_provider_cancel(text, text, text, timestamptz) IS
    'esp staff: the provider cancels a booking before it starts (reason from the cancellation '
    'list); the escorts are released and nothing is charged. Returns the EscortUpdate body.';

CREATE FUNCTION hublink.esp_change_escort(quote_ref text, removed_escort_id text, added_escort_id text DEFAULT NULL,
                                          reason_code text DEFAULT 'STAFF_UNAVAILABLE', at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k    hublink.esp_booking := hublink.esp_booking_of(quote_ref);
    pl   hublink.esp_plan;
    pos  hublink.esp_plan_position;
    pick text;
    sexes jsonb;
BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = k.plan_id;
    -- The position's sex is sealed: hublink.esp_plan_positions decrypts it (audited).
    SELECT p.* INTO pos FROM hublink.esp_plan_positions(k.plan_id) p JOIN hublink.esp_booking_escort b
        ON b.booking_id = k.booking_id AND b.escort_number = p.escort_number
     WHERE p.plan_id = k.plan_id AND b.escort_id = removed_escort_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'escort % is not on booking %', removed_escort_id, quote_ref
            USING ERRCODE = 'no_data_found', DETAIL = 'Only an escort of the booking can be replaced.',
                  HINT = 'hublink.esp_booking_escort lists the booking''s escorts.';
    END IF;
    PERFORM hublink.esp_lock_days(k.escort_date, pl.duty_days);
    IF pos.gender IS NOT NULL THEN -- the sex is sealed: decrypted for the free candidates only
        sexes := hublink.esp_escort_sexes(ARRAY(
            SELECT e.escort_id FROM hublink.esp_escort e
             WHERE e.active AND (added_escort_id IS NULL OR e.escort_id = added_escort_id)
               AND hublink.esp_free(e.escort_id, k.escort_date, pl.duty_days, NULL)), k.removal_ref);
    END IF;
    SELECT e.escort_id INTO pick FROM hublink.esp_escort e
     WHERE (added_escort_id IS NULL OR e.escort_id = added_escort_id)
       AND NOT EXISTS (SELECT FROM hublink.esp_booking_escort b WHERE b.booking_id = k.booking_id AND b.escort_id = e.escort_id)
       AND hublink.esp_eligible(pos, e, sexes ->> e.escort_id) AND hublink.esp_free(e.escort_id, k.escort_date, pl.duty_days, NULL)
     ORDER BY e.escort_id LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no free escort can take position % of booking %', pos.escort_number, quote_ref
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('Escort ' || added_escort_id || ' is not free or not fit for the position.',
                                    'No rostered, free escort is fit for the position.'),
                  HINT = 'Roster another escort, or cancel with hublink.esp_provider_cancel.';
    END IF;
    UPDATE hublink.esp_booking_escort b SET escort_id = pick
     WHERE b.booking_id = k.booking_id AND b.escort_number = pos.escort_number;
    UPDATE hublink.esp_duty d SET escort_id = pick WHERE d.booking_id = k.booking_id AND d.escort_id = removed_escort_id;
    RETURN hublink.esp_record_update(k.booking_id, 'escort-change', jsonb_build_object(
        'escortQuoteReference', k.quote_ref,
        'escortChanges', (SELECT jsonb_agg(jsonb_build_object('segmentId', s #>> '{segment,segmentId}',
                                  'removedEscortId', removed_escort_id, 'addedEscortId', pick,
                                  'reason', jsonb_build_object('code', reason_code)) ORDER BY o)
                            FROM jsonb_array_elements(pl.segments) WITH ORDINALITY z(s, o)
                           WHERE NOT s -> 'segment' ? 'escortNumbers'
                              OR s #> '{segment,escortNumbers}' @> to_jsonb(pos.escort_number)),
        'escortDetails', hublink.esp_escort_details(k.booking_id, ARRAY[pick])), at);
END;
$$;
COMMENT ON FUNCTION hublink.esp_change_escort(text, text, text, text, timestamptz) IS
    'esp staff: replaces an escort of a booking by added_escort_id, or by the first free, fit '
    'escort (by ID) when NULL, under the roster locks of the duty days; raises when none can. '
    'Returns the EscortUpdate body (escortChanges per segment, escortDetails of the new escort).';

CREATE FUNCTION hublink.esp_send_update(body jsonb) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref text := (SELECT b.removal_ref FROM hublink.esp_booking b WHERE b.quote_ref = body ->> 'escortQuoteReference');
BEGIN
    IF ref IS NULL THEN
        RAISE EXCEPTION 'escort quote % belongs to no removal', body ->> 'escortQuoteReference'
            USING ERRCODE = 'no_data_found', DETAIL = 'Only bookings made from a removal''s quote can be reported.',
                  HINT = 'Send the update by hand with hublink.send_message.';
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortUpdate', ref, body));
END;
$$;
COMMENT ON FUNCTION hublink.esp_send_update(jsonb) IS
    'Sends an EscortUpdate body made by the engine to the Hub (hublink.send_message) in the '
    'removal of its booking: SELECT hublink.esp_send_update(hublink.esp_delayed(...)). Returns the messageId.';
