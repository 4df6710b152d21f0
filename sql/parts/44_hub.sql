-- The Hub party (issue 4, section 3; Schedule R Appendix B): the caseworker's functions.
-- Each builds its message from the removal's rows and sends it with hublink.send_message
-- (state machine, rows, outbox, all in the caller's transaction). Examples in docs/hub.md.
-- The ones that change a removal are SECURITY DEFINER for hublink_caseworker (issue 6 section
-- 1, NFR 0015): caseworkers hold only SELECT on removal data, so the state machine is their
-- only way to change it. Each checks the login's clearance first (require_removal_access,
-- 90_access.sql; resolved at call time like the sensitivity column that part adds).

CREATE TABLE hublink.escort_rule (
    rule        text PRIMARY KEY CHECK (rule ~ '^[a-z_]+$'),
    value       integer NOT NULL CHECK (value >= 0),
    description text NOT NULL
);
COMMENT ON TABLE hublink.escort_rule IS
    'Escort rules that are not per risk flag (hublink.risk_flag holds those), edited by hublink_admin.';
COMMENT ON COLUMN hublink.escort_rule.rule IS 'Name of the rule.';
COMMENT ON COLUMN hublink.escort_rule.value IS 'Its value.';
COMMENT ON COLUMN hublink.escort_rule.description IS 'What it means.';
INSERT INTO hublink.escort_rule VALUES
    ('min_escorts_per_returnee', 1,
     'In an escorted removal, the escorts each returnee needs at least, whatever its flags.');
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.escort_rule TO hublink_admin;

-- The UK airports a removal may leave from, sent as departureAirports in every travel quote
-- request a caseworker's call makes (hublink.request_quotes, hublink.requote): reference data
-- an admin keeps, not a setting of the web server (docs/hub.md "Departure airports").
CREATE TABLE hublink.departure_airport (
    airport_code text PRIMARY KEY CHECK (airport_code ~ '^[A-Z]{3}$'),
    name         text NOT NULL CHECK (pg_catalog.btrim(name) <> ''),
    active       boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.departure_airport IS
    'The UK airports removals may depart from (Appendix A 4.3 departureAirports), edited by '
    'hublink_admin (audited): the active ones go in each travel quote request of '
    'hublink.request_quotes and hublink.requote; none active: the request names none (any airport).';
COMMENT ON COLUMN hublink.departure_airport.airport_code IS 'IATA code of the airport.';
COMMENT ON COLUMN hublink.departure_airport.name IS 'Its name, for people.';
COMMENT ON COLUMN hublink.departure_airport.active IS 'Whether quote requests name it now.';
INSERT INTO hublink.departure_airport VALUES ('LHR', 'London Heathrow', true);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.departure_airport TO hublink_admin;

-- The departure airports of a travel quote request: the active rows, NULL when none is.
CREATE FUNCTION hublink.departure_airports() RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN (SELECT array_agg(a.airport_code ORDER BY a.airport_code)
              FROM hublink.departure_airport a WHERE a.active);
END;
$$;
COMMENT ON FUNCTION hublink.departure_airports() IS
    'The active rows of hublink.departure_airport, by code; NULL when none is active (a quote '
    'request then names no airport: any).';

-- An envelope from this party.
CREATE FUNCTION hublink.new_message(message_type text, removal_reference text, body jsonb)
    RETURNS jsonb
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object(
        'messageId', gen_random_uuid()::text,
        'messageType', message_type,
        'schemaVersion', coalesce((SELECT s.schema_version FROM hublink.message_schema s
                                    WHERE s.message_type = new_message.message_type AND s.active
                                    ORDER BY string_to_array(s.schema_version, '.')::int[] DESC
                                    LIMIT 1), '1.0'),
        'sentAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
        'sender', (SELECT p.sender_code FROM hublink.party p WHERE p.party = hublink.current_party()),
        'removalId', removal_reference,
        'body', jsonb_strip_nulls(body));
COMMENT ON FUNCTION hublink.new_message(text, text, jsonb) IS
    'A message envelope from the current party: new messageId, the active schema version, '
    'sentAt now (UTC), the sender code, the removal reference and the body (nulls dropped).';

CREATE FUNCTION hublink.removal_by_reference(removal_reference text) RETURNS hublink.removal
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = removal_by_reference.removal_reference
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', removal_reference
            USING ERRCODE = 'no_data_found',
                  HINT = 'hublink.search_removals() finds removals by case reference or returnee name.';
    END IF;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION hublink.removal_by_reference(text) IS 'The removal with this reference, locked; raises when there is none.';

-- 4.22: a returnee with a live removal (not cancelled, completed or unsuccessful).
CREATE VIEW hublink.live_returnee AS
SELECT t.ho_returnee_reference, r.removal_reference, r.state
  FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
 WHERE r.state IS NOT NULL AND r.state NOT IN ('cancelled', 'completed', 'unsuccessful');
COMMENT ON VIEW hublink.live_returnee IS
    'Returnees with a live removal request at the Hub (Appendix B 4.22: no second removal for them).';
COMMENT ON COLUMN hublink.live_returnee.ho_returnee_reference IS 'The returnee.';
COMMENT ON COLUMN hublink.live_returnee.removal_reference IS 'Their live removal.';
COMMENT ON COLUMN hublink.live_returnee.state IS 'Its state.';

CREATE FUNCTION hublink.create_removal(case_reference text, returnees jsonb,
                                       earliest_leave_date date, latest_leave_date date,
                                       destination jsonb,
                                       exclusion_dates date[] DEFAULT '{}',
                                       international boolean DEFAULT true,
                                       escort_on_transport boolean DEFAULT true,
                                       constraints jsonb DEFAULT NULL,
                                       notes text DEFAULT NULL,
                                       sensitivity text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ref       text;
    rid       bigint;
    x         jsonb;
    live      record;
    new_level text := coalesce(sensitivity, hublink.lowest_sensitivity());
BEGIN
    -- SECURITY DEFINER: the caller needs no privilege on the tables. It may create a removal
    -- only at a sensitivity it is cleared for, checked before anything else (even the 4.22
    -- check below) is read. The owner, superusers and the worker pass, as in
    -- hublink.removal_access_allowed.
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = new_level)
       OR NOT (new_level = ANY (hublink.cleared_levels()) OR hublink.removal_access_allowed(NULL)) THEN
        RAISE EXCEPTION 'sensitivity "%" is not one this login is cleared for', new_level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker creates removals at a sensitivity level at or below its clearance.',
                  HINT = 'SELECT hublink.cleared_levels() lists them; an admin sets clearances with hublink.set_clearance().';
    END IF;
    IF hublink.current_party() <> 'hub' THEN
        RAISE EXCEPTION 'only the hub creates removals' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF jsonb_typeof(returnees) IS DISTINCT FROM 'array' OR jsonb_array_length(returnees) = 0 THEN
        RAISE EXCEPTION 'a removal needs at least one returnee' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Each returnee once: a second entry with the same reference would be dropped by
    -- record_returnees while its documents and risk went to the first.
    SELECT y.ref INTO live FROM (SELECT e.value #>> '{personalDetails,hoReturneeReference}' AS ref
                                   FROM jsonb_array_elements(returnees) e) y
     GROUP BY y.ref HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'returnee % is named more than once in this removal', live.ref
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each returnee of a removal has its own Home Office returnee reference.';
    END IF;
    -- 4.22 under concurrency: one transaction at a time checks and creates a removal for a
    -- returnee. A second one waits on this lock until the first ends, and its check below then
    -- sees the first one's removal: under READ COMMITTED each statement takes a new snapshot,
    -- under SERIALIZABLE a conflict fails one of them. REPEATABLE READ would check against the
    -- snapshot taken before the wait, so it is refused. The references follow the pattern of
    -- hublink.returnee's CHECK (upper case), so the text is its own normal form; sorted, so two
    -- removals of the same returnees never deadlock.
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'hublink.create_removal cannot run under REPEATABLE READ'
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'Its check for a live removal of the same returnee (Appendix B 4.22) needs to see '
                           'removals committed while it waited, which a REPEATABLE READ snapshot hides.',
                  HINT = 'Call it in a READ COMMITTED (the default) or SERIALIZABLE transaction.';
    END IF;
    FOR x IN SELECT DISTINCT to_jsonb(y #>> '{personalDetails,hoReturneeReference}') AS r
               FROM jsonb_array_elements(returnees) y
              WHERE y #>> '{personalDetails,hoReturneeReference}' IS NOT NULL
              ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(422, hashtext(x #>> '{}'));
    END LOOP;
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        -- As the owner this sees every live removal, whatever the caller's clearance (4.22
        -- holds across sensitivities). The caller learns only that one exists: its reference
        -- and state are told only when the caller is cleared for it.
        SELECT l.ho_returnee_reference, l.removal_reference, l.state,
               coalesce(hublink.removal_access_allowed(m.removal_id), false) AS visible
          INTO live
          FROM hublink.live_returnee l JOIN hublink.removal m USING (removal_reference)
         WHERE l.ho_returnee_reference = x #>> '{personalDetails,hoReturneeReference}'
         ORDER BY 4 DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'returnee % already has a live removal', live.ho_returnee_reference
                USING ERRCODE = 'unique_violation',
                      DETAIL = CASE WHEN live.visible THEN format('Removal %s is %s.', live.removal_reference, live.state)
                                    ELSE 'The live removal is not shown: it is above the clearance of this login.' END,
                      HINT = 'Appendix B 4.22: cancel or complete that removal first, or amend it.';
        END IF;
    END LOOP;
    ref := format('RMV-%s-%s', extract(year FROM now())::int, lpad(nextval('hublink.removal_serial')::text, 6, '0'));
    INSERT INTO hublink.removal (removal_reference, case_reference, international, escort_on_transport,
                                 earliest_leave_date, latest_leave_date, exclusion_dates, destination,
                                 constraints, notes, state, sensitivity, created_by)
    VALUES (ref, case_reference, international, escort_on_transport, earliest_leave_date,
            latest_leave_date, coalesce(exclusion_dates, '{}'), destination, constraints, notes, 'new',
            new_level, hublink.acting_login())
    RETURNING removal_id INTO rid;
    PERFORM hublink.require_removal_access(rid);
    PERFORM hublink.record_returnees(rid, returnees, 'hub');
    INSERT INTO hublink.travel_document (returnee_id, document_type, document_number, issuing_country, expiry_date)
    SELECT t.returnee_id, d ->> 'type', d ->> 'number', d ->> 'issuingCountry', (d ->> 'expiryDate')::date
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}'
     CROSS JOIN jsonb_array_elements(coalesce(y -> 'travelDocuments', '[]')) d;
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes)
    SELECT t.returnee_id, 'hub', ARRAY(SELECT jsonb_array_elements_text(coalesce(y #> '{risk,flags}', '[]'))),
           y #>> '{risk,notes}'
      FROM jsonb_array_elements(returnees) y
      JOIN hublink.returnee t ON t.removal_id = rid
                             AND t.ho_returnee_reference = y #>> '{personalDetails,hoReturneeReference}';
    PERFORM hublink.profile_risk(ref);
    PERFORM pg_notify('hublink_status', json_build_object('removalReference', ref, 'machine', 'removal',
                                                          'from', NULL, 'to', 'new')::text);
    RETURN ref;
END;
$$;
COMMENT ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) IS
    'Creates a removal request with its returnees and returns its new reference (RMV-<year>-<serial>). '
    'returnees is an array of {personalDetails, travelDocuments, location, risk: {flags, notes}} '
    '(shapes as in the messages), each returnee once (invalid_parameter_value otherwise). sensitivity: the lowest level when NULL, else a level the login is '
    'cleared for (insufficient_privilege otherwise). Refuses (unique_violation) when a returnee '
    'already has a live removal at any sensitivity (Appendix B 4.22), naming it only to a login '
    'cleared for it, also against a concurrent call for the same returnee (an advisory lock per '
    'returnee reference; refused under REPEATABLE READ). Runs hublink.profile_risk. SECURITY '
    'DEFINER, for hublink_caseworker.';
REVOKE ALL ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.create_removal(text, jsonb, date, date, jsonb, date[], boolean, boolean, jsonb, text, text) TO hublink_caseworker;

-- Risk profiling by the rows of hublink.risk_flag and hublink.escort_rule.
CREATE FUNCTION hublink.profile_risk(removal_reference text,
                                     OUT escorted boolean, OUT escorts_required integer)
    RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        hublink.removal;
    per_head integer := coalesce((SELECT e.value FROM hublink.escort_rule e
                                   WHERE e.rule = 'min_escorts_per_returnee'), 0);
    t        record;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT coalesce(bool_or(f.escorted), false) INTO escorted
      FROM hublink.returnee x
     CROSS JOIN LATERAL hublink.risk_assessment_of(x.returnee_id, 'hub') a
      JOIN hublink.risk_flag f ON f.flag = ANY (a.flags)
     WHERE x.removal_id = r.removal_id;
    escorts_required := 0;
    FOR t IN SELECT x.returnee_id, coalesce(a.flags, '{}') AS flags, a.notes
               FROM hublink.returnee x
               LEFT JOIN LATERAL hublink.risk_assessment_of(x.returnee_id, 'hub') a ON true
              WHERE x.removal_id = r.removal_id LOOP
        UPDATE hublink.risk_assessment a SET current = false
         WHERE a.returnee_id = t.returnee_id AND a.audience IN ('esp', 'tsp') AND a.current;
        INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required, notes)
        SELECT t.returnee_id, 'esp',
               ARRAY(SELECT f.flag FROM hublink.risk_flag f WHERE f.flag = ANY (t.flags) AND f.share_with_esp ORDER BY f.flag),
               NULL, t.notes
         WHERE escorted;
        INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required)
        SELECT t.returnee_id, 'tsp',
               ARRAY(SELECT f.flag FROM hublink.risk_flag f WHERE f.flag = ANY (t.flags) AND f.share_with_tsp ORDER BY f.flag),
               CASE WHEN escorted
                    THEN greatest(per_head, coalesce((SELECT max(f.min_escorts) FROM hublink.risk_flag f
                                                      WHERE f.flag = ANY (t.flags)), 0))
                    ELSE 0 END;
        escorts_required := escorts_required +
            coalesce((SELECT a.escorts_required FROM hublink.risk_assessment a
                       WHERE a.returnee_id = t.returnee_id AND a.audience = 'tsp' AND a.current), 0);
    END LOOP;
    UPDATE hublink.removal x SET escorted = profile_risk.escorted WHERE x.removal_id = r.removal_id;
END;
$$;
COMMENT ON FUNCTION hublink.profile_risk(text) IS
    'Risk profiling (Appendix B 4.18) by rules stored as rows: the removal is escorted when a '
    'returnee''s current full (hub) assessment has a flag marked escorted in hublink.risk_flag; '
    'writes the subsets each provider may see (esp: flags shared with the ESP and the notes, '
    'only when escorted; tsp: flags shared with the TSP and the escorts required, at least '
    'hublink.escort_rule min_escorts_per_returnee each when escorted). Returns whether '
    'escorted and the total escorts required.';
REVOKE ALL ON FUNCTION hublink.profile_risk(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.profile_risk(text) TO hublink_caseworker;

CREATE FUNCTION hublink.set_risk(removal_reference text, ho_returnee_reference text, flags text[],
                                 notes text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    rid     bigint;
    unknown text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT t.returnee_id INTO rid FROM hublink.returnee t
     WHERE t.removal_id = r.removal_id AND t.ho_returnee_reference = set_risk.ho_returnee_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'returnee % is not part of removal %', ho_returnee_reference, removal_reference
            USING ERRCODE = 'no_data_found';
    END IF;
    -- Profiling reads only the flags hublink.risk_flag knows: an unknown one would be kept in
    -- the Hub's record yet never reach a provider or make the removal escorted.
    SELECT string_agg(f, ', ') INTO unknown FROM unnest(coalesce(set_risk.flags, '{NULL}')) f
     WHERE f IS NULL OR NOT EXISTS (SELECT FROM hublink.risk_flag k WHERE k.flag = f);
    IF unknown IS NOT NULL OR flags IS NULL THEN
        RAISE EXCEPTION 'risk flags must be flags of hublink.risk_flag'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Not a risk flag: %s.', coalesce(unknown, 'NULL')),
                  HINT = 'SELECT flag FROM hublink.risk_flag lists them; an empty array means none apply.';
    END IF;
    UPDATE hublink.risk_assessment a SET current = false WHERE a.returnee_id = rid AND a.audience = 'hub' AND a.current;
    -- clock_timestamp(): hublink.removal_quotes compares it with the time of the quote
    -- requests, which may come later in the same transaction.
    INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, notes, assessed_at)
    VALUES (rid, 'hub', coalesce((SELECT array_agg(DISTINCT f ORDER BY f) FROM unnest(flags) f), '{}'), notes, clock_timestamp());
    PERFORM hublink.profile_risk(removal_reference);
END;
$$;
COMMENT ON FUNCTION hublink.set_risk(text, text, text[], text) IS
    'Records a new full risk assessment of a returnee (flags of hublink.risk_flag only, else '
    'invalid_parameter_value) and profiles the removal again (Appendix B 4.18). Quotes asked for '
    'before it can no longer be booked (hublink.removal_quotes): before booking, follow it with '
    'hublink.requote (Appendix A 4.5); after booking, with an amendment.';
REVOKE ALL ON FUNCTION hublink.set_risk(text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_risk(text, text, text[], text) TO hublink_caseworker;

CREATE FUNCTION hublink.request_escort_quotes(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF NOT coalesce(r.escorted, false) THEN
        RAISE EXCEPTION 'removal % is not escorted', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Unescorted removals start with hublink.request_travel_quotes.';
    END IF;
    RETURN hublink.send_message(hublink.new_message('EscortQuoteRequest', r.removal_reference,
        jsonb_build_object(
            'returnees', (SELECT jsonb_agg(jsonb_build_object(
                    'personalDetails', hublink.returnee_details_json(t, p),
                    'escortRiskAssessment', jsonb_strip_nulls(jsonb_build_object(
                        'flags', to_jsonb(coalesce(a.flags, '{}')), 'notes', a.notes)),
                    'location', (hublink.unsealed(t)).location) ORDER BY t.returnee_id)
                  FROM hublink.returnee t
                 CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                  LEFT JOIN LATERAL hublink.risk_assessment_of(t.returnee_id, 'esp') a ON true
                 WHERE t.removal_id = r.removal_id),
            'international', r.international,
            'escortOnTransport', coalesce(r.escort_on_transport, true),
            'dates', jsonb_build_object('earliestLeaveDate', r.earliest_leave_date,
                                        'latestLeaveDate', r.latest_leave_date,
                                        'exclusionDates', to_jsonb(r.exclusion_dates)),
            'destination', r.destination,
            'notes', (hublink.unsealed(r)).notes)));
END;
$$;
COMMENT ON FUNCTION hublink.request_escort_quotes(text) IS
    'Sends the escort quote request (4.1) of an escorted removal, with the escort risk '
    'assessment subset of each returnee. Also the re-quote of 4.5. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.request_escort_quotes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_escort_quotes(text) TO hublink_caseworker;

CREATE FUNCTION hublink.request_travel_quotes(removal_reference text,
                                              departure_airports text[] DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     hublink.removal;
    dates jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF coalesce(r.escorted, false) THEN
        SELECT jsonb_agg(jsonb_build_object('escortQuoteReference', q.escort_quote_reference,
                                            'date', q.escort_date,
                                            'escortCount', (SELECT count(*) FROM hublink.escort_position p
                                                             WHERE p.escort_quote_response_id = q.escort_quote_response_id))
                         ORDER BY q.escort_date)
          INTO dates
          FROM hublink.escort_quote q WHERE q.removal_id = r.removal_id AND NOT q.superseded;
        IF dates IS NULL THEN
            RAISE EXCEPTION 'removal % has no escort quotes to find travel for', removal_reference
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'An escorted removal asks the ESP first (hublink.request_escort_quotes).';
        END IF;
    END IF;
    RETURN hublink.send_message(hublink.new_message('TravelQuoteRequest', r.removal_reference,
        jsonb_build_object(
            'returnees', (SELECT jsonb_agg(jsonb_build_object(
                    'personalDetails', hublink.returnee_details_json(t, p),
                    'travelDocuments', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                            'type', d.document_type, 'number', d.document_number,
                            'issuingCountry', d.issuing_country, 'expiryDate', d.expiry_date)))
                          FROM hublink.travel_documents_of(t.returnee_id) d), '[]'),
                    'travelRiskAssessment', jsonb_strip_nulls(jsonb_build_object(
                        'flags', to_jsonb(coalesce(a.flags, '{}')), 'escortsRequired', a.escorts_required)),
                    'location', (hublink.unsealed(t)).location) ORDER BY t.returnee_id)
                  FROM hublink.returnee t
                 CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                  LEFT JOIN LATERAL hublink.risk_assessment_of(t.returnee_id, 'tsp') a ON true
                 WHERE t.removal_id = r.removal_id),
            'escortDates', dates,
            'travelDates', CASE WHEN dates IS NULL THEN jsonb_strip_nulls(jsonb_build_object(
                               'earliestLeaveDate', r.earliest_leave_date, 'latestLeaveDate', r.latest_leave_date,
                               'exclusionDates', to_jsonb(r.exclusion_dates))) END,
            'departureAirports', to_jsonb(departure_airports),
            'destination', r.destination,
            'constraints', coalesce(r.constraints, '{"refundableOnly": false}'),
            'notes', (hublink.unsealed(r)).notes)));
END;
$$;
COMMENT ON FUNCTION hublink.request_travel_quotes(text, text[]) IS
    'Sends the travel quote request (4.3): for an escorted removal with the dates of the '
    'current escort quotes, for an unescorted one with the removal''s dates; the travel risk '
    'assessment subset of each returnee. Also the re-quote of 4.5. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.request_travel_quotes(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_travel_quotes(text, text[]) TO hublink_caseworker;

-- hublink.removal_quotes, the best-value ranking, is in 47_best_value.sql (with the Hub's
-- estimate of a removal's chance of cancellation it ranks with).

CREATE FUNCTION hublink.choose_quote(removal_reference text, travel_quote_reference text,
                                     notes text DEFAULT NULL)
    RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    q      hublink.travel_quote;
    sent   text[] := '{}';
    escorts jsonb;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO q FROM hublink.travel_quote t
     WHERE t.removal_id = r.removal_id AND t.travel_quote_reference = choose_quote.travel_quote_reference;
    IF NOT FOUND OR NOT EXISTS (SELECT FROM hublink.removal_quotes(removal_reference) x
                                 WHERE x.travel_quote_reference = choose_quote.travel_quote_reference) THEN
        RAISE EXCEPTION 'travel quote % cannot be booked for removal %', travel_quote_reference, removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'hublink.removal_quotes() lists the quotes that can be booked.';
    END IF;
    IF coalesce(r.escorted, false) AND r.escort_state IN ('quoted', 'declined') THEN
        sent := sent || hublink.send_message(hublink.new_message('EscortBookingRequest', r.removal_reference,
            jsonb_build_object('escortQuoteReference', q.escort_quote_reference, 'command', 'BOOK',
                               'travelQuoteReference', q.travel_quote_reference, 'notes', notes)));
    END IF;
    SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'escortId', e.escort_id, 'escortNumber', e.escort_number,
               'name', hublink.person_name_json(p.title, p.given_names, p.family_name),
               'specialMeal', e.special_meal)) ORDER BY e.escort_number)
      INTO escorts
      FROM hublink.escort_person e CROSS JOIN LATERAL hublink.escort_personal_of(e.escort_person_id) p
     WHERE e.removal_id = r.removal_id AND e.active AND e.escort_number IS NOT NULL;
    sent := sent || hublink.send_message(hublink.new_message('TravelBookingRequest', r.removal_reference,
        jsonb_build_object('travelQuoteReference', q.travel_quote_reference, 'command', 'BOOK',
                           'escorts', escorts, 'notes', notes)));
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.choose_quote(text, text, text) IS
    'Books the chosen travel quote (4.5, 4.7): sends the escort booking request for its escort '
    'quote (escorted removals, unless the escort is already booked) and the travel booking '
    'request (with the escorts named so far; later names follow in a travel amendment). '
    'Returns the messageIds sent.';
REVOKE ALL ON FUNCTION hublink.choose_quote(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.choose_quote(text, text, text) TO hublink_caseworker;

CREATE FUNCTION hublink.requote(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    PERFORM hublink.profile_risk(removal_reference);
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = r.removal_id;
    IF coalesce(r.escorted, false) THEN
        RETURN hublink.request_escort_quotes(removal_reference);
    END IF;
    RETURN hublink.request_travel_quotes(removal_reference, hublink.departure_airports());
END;
$$;
COMMENT ON FUNCTION hublink.requote(text) IS
    'Re-quote before booking (Appendix A 4.5) after the returnee''s details or risk changed: '
    'profiles the risk again and goes back to message 1 (escort quote request) for an escorted '
    'removal, or to message 3 for an unescorted one (from hublink.departure_airport); earlier '
    'quotes are superseded. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.requote(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.requote(text) TO hublink_caseworker;

-- The next quote request of a removal, the rule in one place (the web interface's "Request
-- quotes" calls only this): an escorted removal asks the ESP first, and travel follows on the
-- escort quotes' dates (Appendix A 4.1-4.3); an unescorted one asks the TSP. Travel requests
-- name the departure airports of hublink.departure_airport.
CREATE FUNCTION hublink.request_quotes(removal_reference text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);   -- locked: one request at a time
    -- The state machine's own rule (hublink.state_machine()), asked first for a plain refusal.
    IF NOT EXISTS (SELECT FROM hublink.state_machine() m
                    WHERE m.machine = 'removal' AND m.event = 'TravelQuoteRequest' AND m.from_state = r.state) THEN
        RAISE EXCEPTION 'removal % is %: quotes cannot be requested', removal_reference, r.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE WHEN r.state IN ('booking', 'booked')
                              THEN 'Amend or cancel the booking instead.'
                              ELSE 'A removal that has ended cannot be quoted again; create a new removal.' END;
    END IF;
    IF coalesce(r.escorted, false) AND r.escort_state = 'none' THEN
        RETURN hublink.request_escort_quotes(removal_reference);
    END IF;
    IF coalesce(r.escorted, false) AND NOT EXISTS (SELECT FROM hublink.escort_quote q
                                                    WHERE q.removal_id = r.removal_id AND NOT q.superseded) THEN
        RAISE EXCEPTION 'removal % is waiting for the escort quotes', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The escort is %s: travel is quoted on the dates of the escort quotes.',
                                  replace(r.escort_state, '_', ' ')),
                  HINT = 'Request travel quotes once the ESP has quoted, or ask for new quotes (hublink.requote).';
    END IF;
    RETURN hublink.request_travel_quotes(removal_reference, hublink.departure_airports());
END;
$$;
COMMENT ON FUNCTION hublink.request_quotes(text) IS
    'Sends the next quote request of a removal the caller is cleared for: escort quotes (4.1) '
    'for an escorted removal not yet asked, else travel quotes (4.3) on the current escort '
    'quotes'' dates (escorted) or the removal''s dates, from the active rows of '
    'hublink.departure_airport. Refuses (object_not_in_prerequisite_state) a removal that is '
    'booking, booked or ended, and an escorted one whose escort quotes have not come. Returns '
    'the messageId.';
REVOKE ALL ON FUNCTION hublink.request_quotes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_quotes(text) TO hublink_caseworker;

CREATE FUNCTION hublink.booked_reference(r hublink.removal, booking text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE booking
        WHEN 'escort' THEN (SELECT k.escort_quote_reference FROM hublink.escort_booking k
                             WHERE k.removal_id = r.removal_id ORDER BY k.outcome = 'ACCEPTED' DESC NULLS LAST,
                                   k.escort_booking_id DESC LIMIT 1)
        ELSE (SELECT k.travel_quote_reference FROM hublink.travel_booking k
               WHERE k.removal_id = r.removal_id ORDER BY k.outcome = 'ACCEPTED' DESC NULLS LAST,
                     k.travel_booking_id DESC LIMIT 1)
    END;
COMMENT ON FUNCTION hublink.booked_reference(hublink.removal, text) IS
    'The quote reference of the removal''s (latest, preferably confirmed) escort or travel booking.';

CREATE FUNCTION hublink.amend_escort(removal_reference text, changes jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    RETURN hublink.send_message(hublink.new_message('EscortAmendment', r.removal_reference,
        jsonb_build_object('escortQuoteReference', hublink.booked_reference(r, 'escort')) || changes));
END;
$$;
COMMENT ON FUNCTION hublink.amend_escort(text, jsonb) IS
    'Sends an escort amendment (4.9) for the booked escort quote; changes is the rest of the '
    'body ({segmentChanges, returneeChanges, other}), reasons from the change list.';
REVOKE ALL ON FUNCTION hublink.amend_escort(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_escort(text, jsonb) TO hublink_caseworker;

CREATE FUNCTION hublink.amend_travel(removal_reference text, changes jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    RETURN hublink.send_message(hublink.new_message('TravelAmendment', r.removal_reference,
        jsonb_strip_nulls(jsonb_build_object('travelQuoteReference', hublink.booked_reference(r, 'travel'),
                                             'escortQuoteReference', hublink.booked_reference(r, 'escort')))
        || changes));
END;
$$;
COMMENT ON FUNCTION hublink.amend_travel(text, jsonb) IS
    'Sends a travel amendment (4.11) for the booked travel quote; changes is the rest of the '
    'body ({passengerUpdates, itineraryChanges, other}), reasons from the change list.';
REVOKE ALL ON FUNCTION hublink.amend_travel(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.amend_travel(text, jsonb) TO hublink_caseworker;

CREATE FUNCTION hublink.cancel_removal(removal_reference text, reason_code text,
                                       reason_text text DEFAULT NULL,
                                       retain_for_reuse boolean DEFAULT NULL)
    RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    reason jsonb := jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', reason_text));
    ref    text;
    sent   text[] := '{}';
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF NOT hublink.reason_code_valid('cancellation', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the cancellation list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''cancellation'' AND active.';
    END IF;
    ref := coalesce(hublink.booked_reference(r, 'travel'),
                    (SELECT max(q.travel_quote_reference) FROM hublink.travel_quote q
                      WHERE q.removal_id = r.removal_id AND NOT q.superseded));
    IF r.travel_state NOT IN ('none', 'cancelled', 'completed') AND ref IS NOT NULL THEN
        sent := sent || hublink.send_message(hublink.new_message('TravelCancellation', r.removal_reference,
            jsonb_build_object('travelQuoteReference', ref, 'command', 'CANCEL',
                               'retainForReuse', retain_for_reuse, 'reason', reason)));
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = r.removal_id;
    ref := coalesce(hublink.booked_reference(r, 'escort'),
                    (SELECT max(q.escort_quote_reference) FROM hublink.escort_quote q
                      WHERE q.removal_id = r.removal_id AND NOT q.superseded));
    IF r.escort_state NOT IN ('none', 'cancelled', 'completed', 'unsuccessful') AND ref IS NOT NULL THEN
        sent := sent || hublink.send_message(hublink.new_message('EscortCancellation', r.removal_reference,
            jsonb_build_object('escortQuoteReference', ref, 'command', 'CANCEL', 'reason', reason)));
    END IF;
    IF cardinality(sent) = 0 THEN
        RAISE EXCEPTION 'removal % has nothing to cancel', removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The removal is %s, the escort booking %s, the travel booking %s; '
                                  'a cancellation names a quote, and none was issued yet.',
                                  r.state, r.escort_state, r.travel_state);
    END IF;
    RETURN sent;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_removal(text, text, text, boolean) IS
    'Cancels a removal, before or after booking (4.13, 4.14, 4.20): sends the travel '
    'cancellation and the escort cancellation for whatever is quoted or booked, with a reason '
    'from the cancellation list. Returns the messageIds sent.';
REVOKE ALL ON FUNCTION hublink.cancel_removal(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_removal(text, text, text, boolean) TO hublink_caseworker;

CREATE FUNCTION hublink.cancel_booking(removal_reference text, booking text, reason_code text,
                                       reason_text text DEFAULT NULL,
                                       retain_for_reuse boolean DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      hublink.removal;
    reason jsonb := jsonb_strip_nulls(jsonb_build_object('code', reason_code, 'text', reason_text));
    state  text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    IF booking IS DISTINCT FROM 'travel' AND booking IS DISTINCT FROM 'escort' THEN
        RAISE EXCEPTION 'booking must be escort or travel, not "%"', booking USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT hublink.reason_code_valid('cancellation', reason_code) THEN
        RAISE EXCEPTION 'reason code "%" is not in the cancellation list', reason_code
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT code FROM hublink.reason_code WHERE list = ''cancellation'' AND active.';
    END IF;
    -- A cancellation names the booked quote: say so plainly when there is none, rather than
    -- let the message fail its schema.
    state := CASE booking WHEN 'travel' THEN r.travel_state ELSE r.escort_state END;
    IF hublink.booked_reference(r, booking) IS NULL
       OR state IN ('none', 'cancelled', 'completed', 'unsuccessful') THEN
        RAISE EXCEPTION 'removal % has no % booking to cancel', removal_reference, booking
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The %s booking is %s.', booking, replace(state, '_', ' ')),
                  HINT = 'Before a booking is requested, hublink.cancel_removal cancels the quotes.';
    END IF;
    IF booking = 'travel' THEN
        RETURN hublink.send_message(hublink.new_message('TravelCancellation', r.removal_reference,
            jsonb_build_object('travelQuoteReference', hublink.booked_reference(r, 'travel'), 'command', 'CANCEL',
                               'retainForReuse', retain_for_reuse, 'reason', reason)));
    ELSIF booking = 'escort' THEN
        RETURN hublink.send_message(hublink.new_message('EscortCancellation', r.removal_reference,
            jsonb_build_object('escortQuoteReference', hublink.booked_reference(r, 'escort'), 'command', 'CANCEL',
                               'reason', reason)));
    END IF;
    RAISE EXCEPTION 'booking must be escort or travel, not "%"', booking USING ERRCODE = 'invalid_parameter_value';
END;
$$;
COMMENT ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) IS
    'Cancels one booking of a removal (escort or travel, Appendix B 4.20), e.g. the travel after '
    'an unsuccessful escorting, with a reason from the cancellation list. Refused '
    '(object_not_in_prerequisite_state) when that booking was never requested or is already '
    'over. Returns the messageId.';
REVOKE ALL ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_booking(text, text, text, text, boolean) TO hublink_caseworker;

CREATE FUNCTION hublink.search_removals(case_reference text DEFAULT NULL, returnee_name text DEFAULT NULL)
    RETURNS TABLE (removal_reference text, case_reference text, state text, escort_state text,
                   travel_state text, returnees text, created_at timestamptz, updated_at timestamptz)
    LANGUAGE sql VOLATILE -- it decrypts names, and each decryption is audited
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT r.removal_reference, r.case_reference, r.state, r.escort_state, r.travel_state,
               (SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                                  ', ' ORDER BY t.returnee_id)
                  FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                 WHERE t.removal_id = r.removal_id),
               r.created_at, r.updated_at
          FROM hublink.removal r
         WHERE (search_removals.case_reference IS NULL OR r.case_reference = search_removals.case_reference)
           AND (search_removals.returnee_name IS NULL OR EXISTS (
                    SELECT FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                     WHERE t.removal_id = r.removal_id
                       AND (p.given_names || ' ' || p.family_name) ILIKE
                           '%' || replace(replace(replace(search_removals.returnee_name, '\', '\\'), '%', '\%'), '_', '\_') || '%'))
         ORDER BY r.created_at DESC, r.removal_id DESC;
    END;
COMMENT ON FUNCTION hublink.search_removals(text, text) IS
    'Search (Appendix B 4.19) by case reference and/or part of a returnee''s name (case '
    'insensitive): the removals with their states and returnees, newest first.';

-- The cases page (docs/web.md "Figures"): filter, order and page on the removal's own columns,
-- and decrypt (and so audit) only what is needed. Without a name, the returnees' names of the
-- rows shown only; with one, each candidate's names in the order shown, until the page (and one
-- more match, for "more") is found: a name can only be matched decrypted (sealed, NFR 0011).
CREATE FUNCTION hublink.find_removals(removal text DEFAULT NULL, case_ref text DEFAULT NULL,
                                      returnee text DEFAULT NULL, in_state text DEFAULT NULL,
                                      leave_from date DEFAULT NULL, leave_to date DEFAULT NULL,
                                      going_to text DEFAULT NULL, page_size integer DEFAULT 50,
                                      page_offset integer DEFAULT 0)
    RETURNS TABLE (removal_reference text, case_reference text, state text, escort_state text,
                   travel_state text, returnees text, created_at timestamptz, updated_at timestamptz,
                   sensitivity text, earliest_leave_date date, latest_leave_date date,
                   destination text, more boolean)
    LANGUAGE plpgsql VOLATILE -- it decrypts names, and each decryption is audited
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    name_like text;
    dest_like text;
    r         hublink.removal;
    rows      hublink.removal[] := '{}';
    names     text[] := '{}';
    matched   boolean;
    v_names   text;
    skipped   integer := 0;
    found_more boolean := false;
BEGIN
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 500 OR page_offset IS NULL OR page_offset < 0 THEN
        RAISE EXCEPTION 'page_size must be 1 to 500 and page_offset 0 or more, not % and %', page_size, page_offset
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Ask for the next page with page_offset = page_offset + page_size.';
    END IF;
    name_like := '%' || replace(replace(replace(nullif(find_removals.returnee, ''), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    dest_like := '%' || replace(replace(replace(nullif(find_removals.going_to, ''), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    -- Row-level security: only removals the caller is cleared for. The removal_created index
    -- gives them newest first without a sort.
    FOR r IN SELECT x.* FROM hublink.removal x
              WHERE (find_removals.removal IS NULL OR x.removal_reference = find_removals.removal)
                AND (find_removals.case_ref IS NULL OR x.case_reference = find_removals.case_ref)
                AND (find_removals.in_state IS NULL OR x.state = find_removals.in_state)
                AND (find_removals.leave_from IS NULL OR x.latest_leave_date >= find_removals.leave_from)
                AND (find_removals.leave_to IS NULL OR x.earliest_leave_date <= find_removals.leave_to)
                AND (dest_like IS NULL OR x.destination::text ILIKE dest_like)
              ORDER BY x.created_at DESC, x.removal_id DESC LOOP
        v_names := NULL;
        IF name_like IS NOT NULL THEN
            SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                              ', ' ORDER BY t.returnee_id),
                   bool_or((p.given_names || ' ' || p.family_name) ILIKE name_like)
              INTO v_names, matched
              FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
             WHERE t.removal_id = r.removal_id;
            CONTINUE WHEN NOT coalesce(matched, false);
        END IF;
        IF skipped < page_offset THEN
            skipped := skipped + 1;
            CONTINUE;
        END IF;
        IF cardinality(rows) = page_size THEN
            found_more := true;
            EXIT;
        END IF;
        IF name_like IS NULL THEN
            SELECT string_agg(p.given_names || ' ' || p.family_name || ' (' || t.ho_returnee_reference || ')',
                              ', ' ORDER BY t.returnee_id)
              INTO v_names
              FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
             WHERE t.removal_id = r.removal_id;
        END IF;
        rows := rows || r;
        names := names || v_names;
    END LOOP;
    FOR i IN 1 .. cardinality(rows) LOOP
        r := rows[i];
        removal_reference := r.removal_reference;
        case_reference := r.case_reference;
        state := r.state;
        escort_state := r.escort_state;
        travel_state := r.travel_state;
        returnees := names[i];
        created_at := r.created_at;
        updated_at := r.updated_at;
        sensitivity := r.sensitivity;
        earliest_leave_date := r.earliest_leave_date;
        latest_leave_date := r.latest_leave_date;
        destination := r.destination ->> 'description';
        more := found_more;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.find_removals(text, text, text, text, date, date, text, integer, integer) IS
    'One page of the removals the caller may see (Appendix B 4.19), newest first, filtered by '
    'removal reference, case reference (case_ref), part of a returnee''s name (returnee, case '
    'insensitive), state (in_state), leave dates (a removal whose window meets '
    'leave_from..leave_to) and part of the destination (going_to). '
    'Decrypts (and audits) the names of the rows returned only, or with returnee_name those of '
    'the removals it had to look at; more says whether another page follows.';

CREATE INDEX removal_created ON hublink.removal (created_at DESC, removal_id DESC);
COMMENT ON INDEX hublink.removal_created IS 'Removals newest first: the cases list pages (hublink.find_removals).';

CREATE VIEW hublink.removal_history AS
SELECT r.removal_reference, s.state_transition_id, s.machine, s.from_state, s.to_state, s.event,
       s.direction, s.party, s.message_id, s.at
  FROM hublink.state_transition s JOIN hublink.removal r USING (removal_id);
COMMENT ON VIEW hublink.removal_history IS 'Every transition of every removal, with its message (the activity of a case, 4.19).';
COMMENT ON COLUMN hublink.removal_history.removal_reference IS 'The removal.';
COMMENT ON COLUMN hublink.removal_history.state_transition_id IS 'Order.';
COMMENT ON COLUMN hublink.removal_history.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.removal_history.from_state IS 'State before.';
COMMENT ON COLUMN hublink.removal_history.to_state IS 'State after.';
COMMENT ON COLUMN hublink.removal_history.event IS 'The event.';
COMMENT ON COLUMN hublink.removal_history.direction IS 'in, out or local.';
COMMENT ON COLUMN hublink.removal_history.party IS 'The party that recorded it.';
COMMENT ON COLUMN hublink.removal_history.message_id IS 'The message.';
COMMENT ON COLUMN hublink.removal_history.at IS 'When.';
