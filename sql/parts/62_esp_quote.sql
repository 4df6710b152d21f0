-- Escort provider (esp), issue 5 section 4: quoting (EscortQuoteRequest → EscortQuoteResponse
-- body). A plan is the team and the segments for one removal; its quotes are the dates on which
-- the roster can staff it. Bookings and amendments work on plans too (63, 64).

CREATE TABLE hublink.esp_plan (
    plan_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_ref         text,
    returnees           jsonb NOT NULL,
    international       boolean NOT NULL,
    escort_on_transport boolean NOT NULL,
    location            jsonb NOT NULL,
    destination         jsonb,
    duty_days           integer NOT NULL CHECK (duty_days BETWEEN 1 AND 14),
    currency            char(3) NOT NULL,
    segments            jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_plan IS
    'The escort team and segments for one removal, as quoted (one plan per quote request) or as '
    'amended (an amendment copies the booking''s plan). Effort and cost derive from it.';
COMMENT ON COLUMN hublink.esp_plan.plan_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_plan.removal_ref IS 'The removal reference (RMV-...), when known.';
COMMENT ON COLUMN hublink.esp_plan.returnees IS
    'PERSONAL DATA: per returnee the HO reference, sex, nationality, risk flags and condition '
    'codes (no names): what the escort rules read.';
COMMENT ON COLUMN hublink.esp_plan.international IS 'International removal (true) or in-country move.';
COMMENT ON COLUMN hublink.esp_plan.escort_on_transport IS 'Escorts travel on the transport (true) or leave the returnee at the gate.';
COMMENT ON COLUMN hublink.esp_plan.location IS 'Returnee location of the pick-up (the first returnee''s), as in the message.';
COMMENT ON COLUMN hublink.esp_plan.destination IS 'Destination, as in the message.';
COMMENT ON COLUMN hublink.esp_plan.duty_days IS 'Days the escorts are on duty from the escort date (return flights end the next day).';
COMMENT ON COLUMN hublink.esp_plan.currency IS 'Currency of its costs.';
COMMENT ON COLUMN hublink.esp_plan.segments IS
    'The segments in order: {segment: escortSegment as sent, minutes: effort per escort, allowance: fixed cost per escort}.';
COMMENT ON COLUMN hublink.esp_plan.created_at IS 'When it was made.';
CREATE INDEX esp_plan_removal ON hublink.esp_plan (removal_ref);
COMMENT ON INDEX hublink.esp_plan_removal IS 'A removal''s escort plans (its purge and erasure, hublink.purge_removal).';

CREATE TABLE hublink.esp_plan_position (
    plan_id       bigint NOT NULL REFERENCES hublink.esp_plan ON DELETE CASCADE,
    escort_number integer NOT NULL CHECK (escort_number BETWEEN 1 AND 99),
    role          text NOT NULL REFERENCES hublink.esp_role,
    gender        char(1),
    physique      text NOT NULL REFERENCES hublink.esp_physique,
    languages     text[] NOT NULL,
    medic         boolean NOT NULL,
    for_returnee  text,
    PRIMARY KEY (plan_id, escort_number)
);
COMMENT ON TABLE hublink.esp_plan_position IS 'The escort positions of a plan (escortPositions): what each escort must be.';
COMMENT ON COLUMN hublink.esp_plan_position.plan_id IS 'The plan.';
COMMENT ON COLUMN hublink.esp_plan_position.escort_number IS 'Escort number, 1 = team leader.';
COMMENT ON COLUMN hublink.esp_plan_position.role IS 'Role (esp_role).';
COMMENT ON COLUMN hublink.esp_plan_position.gender IS
    'PERSONAL DATA: the sex the escort must be, or NULL when any; a same-sex position tells the sex of '
    'the returnee it escorts (for_returnee). Sealed (76_crypto_seal_esp.sql): read with '
    'hublink.esp_plan_positions(plan_id), which audits.';
COMMENT ON COLUMN hublink.esp_plan_position.physique IS 'Least physique category.';
COMMENT ON COLUMN hublink.esp_plan_position.languages IS 'Languages the escort must speak.';
COMMENT ON COLUMN hublink.esp_plan_position.medic IS 'A medic position.';
COMMENT ON COLUMN hublink.esp_plan_position.for_returnee IS 'HO reference of the returnee the position escorts (NULL: the team, or a medic).';

CREATE TABLE hublink.esp_quote (
    quote_ref   text PRIMARY KEY,
    plan_id     bigint NOT NULL REFERENCES hublink.esp_plan,
    escort_date date NOT NULL,
    total       numeric(14,2) NOT NULL,
    currency    char(3) NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
COMMENT ON TABLE hublink.esp_quote IS 'An escort quote: a plan on one date the roster could staff when quoted.';
COMMENT ON COLUMN hublink.esp_quote.quote_ref IS 'escortQuoteReference, e.g. ESP-EQ-000001-A.';
COMMENT ON COLUMN hublink.esp_quote.plan_id IS 'The plan.';
COMMENT ON COLUMN hublink.esp_quote.escort_date IS 'The escort date.';
COMMENT ON COLUMN hublink.esp_quote.total IS 'Total escort cost (sum of the effort costs).';
COMMENT ON COLUMN hublink.esp_quote.currency IS 'Currency of total.';
COMMENT ON COLUMN hublink.esp_quote.issued_at IS 'When it was quoted.';
COMMENT ON COLUMN hublink.esp_quote.expires_at IS 'Last instant it may be booked.';
CREATE INDEX esp_quote_plan ON hublink.esp_quote (plan_id);
COMMENT ON INDEX hublink.esp_quote_plan IS 'A plan''s quotes (its purge; the foreign key check when a plan is deleted).';

CREATE SEQUENCE hublink.esp_quote_serial MINVALUE 1 MAXVALUE 999999;
COMMENT ON SEQUENCE hublink.esp_quote_serial IS 'The six-digit serial of escort quote responses.';

-- The positions a set of returnee profiles needs (docs/esp.md "Escort rules").
CREATE FUNCTION hublink.esp_positions(returnees jsonb)
    RETURNS TABLE (escort_number integer, role text, gender char(1), physique text, languages text[],
                   medic boolean, for_returnee text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    working   constant text := hublink.esp_setting('working_language');
    per_ret   constant integer := hublink.esp_setting('escorts_per_returnee')::integer;
    same_n    constant integer := hublink.esp_setting('same_gender_escorts_per_returnee')::integer;
    r         jsonb;
    k         integer;
    phys      text;
    same_all  boolean;
    lang      text;
    need_med  boolean := false;
    n         integer := 0;
    -- Roles by kind (esp_role flags), not by name.
    r_lead    constant text := (SELECT x.role FROM hublink.esp_role x WHERE x.leader AND NOT x.medic);
    r_officer constant text := (SELECT x.role FROM hublink.esp_role x WHERE NOT x.leader AND NOT x.medic);
    r_medic   constant text := (SELECT x.role FROM hublink.esp_role x WHERE x.medic AND NOT x.leader);
BEGIN
    FOR r IN SELECT x FROM jsonb_array_elements(returnees) x LOOP
        SELECT greatest(per_ret, max(g.escorts)), bool_or(g.same_gender), bool_or(g.medic) OR need_med
          INTO k, same_all, need_med
          FROM (SELECT rr.escorts, rr.same_gender, rr.medic FROM hublink.esp_risk_rule rr
                 WHERE rr.flag IN (SELECT jsonb_array_elements_text(r -> 'flags'))
                UNION ALL
                SELECT cr.escorts, false, cr.medic FROM hublink.esp_condition_rule cr
                 WHERE cr.condition_code IN (SELECT jsonb_array_elements_text(r -> 'conditions'))) g;
        SELECT coalesce((SELECT p.physique FROM hublink.esp_risk_rule rr JOIN hublink.esp_physique p ON p.physique = rr.physique
                          WHERE rr.flag IN (SELECT jsonb_array_elements_text(r -> 'flags'))
                          ORDER BY p.strength DESC LIMIT 1),
                        (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1))
          INTO phys;
        SELECT l.language INTO lang FROM hublink.esp_language_rule l WHERE l.nationality = r ->> 'nationality';
        FOR i IN 1..k LOOP
            n := n + 1;
            escort_number := n;
            role := CASE WHEN n = 1 THEN r_lead ELSE r_officer END;
            -- X (unspecified) asks for no particular sex.
            gender := CASE WHEN r ->> 'gender' IN ('M', 'F') AND (coalesce(same_all, false) OR i <= same_n)
                           THEN r ->> 'gender' END;
            physique := phys;
            languages := CASE WHEN i = 1 AND lang IS NOT NULL AND lang <> working THEN ARRAY[working, lang]
                              ELSE ARRAY[working] END;
            medic := false;
            for_returnee := r ->> 'hoReturneeReference';
            RETURN NEXT;
        END LOOP;
    END LOOP;
    WHILE n < hublink.esp_setting('min_team_size')::integer LOOP
        n := n + 1;
        escort_number := n;
        role := CASE WHEN n = 1 THEN r_lead ELSE r_officer END;
        gender := NULL;
        physique := (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1);
        languages := ARRAY[working];
        medic := false;
        for_returnee := NULL;
        RETURN NEXT;
    END LOOP;
    IF need_med THEN
        escort_number := n + 1;
        role := r_medic;
        gender := NULL;
        physique := (SELECT p.physique FROM hublink.esp_physique p ORDER BY p.strength LIMIT 1);
        languages := ARRAY[working];
        medic := true;
        for_returnee := NULL;
        RETURN NEXT;
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.esp_positions(jsonb) IS
    'The escort positions returnee profiles need: per returnee the most escorts its risk flags and '
    'conditions ask (at least escorts_per_returnee), of the strongest physique its flags ask, the '
    'first same_gender_escorts_per_returnee of them (all, when a flag says same_gender) of its sex, '
    'its first escort speaking the language of its nationality (esp_language_rule); at least '
    'min_team_size officers; position 1 takes the leading role, the others the officer''s; one '
    'position in the medic''s role when any flag or condition asks (roles by their esp_role flags).';

CREATE FUNCTION hublink.esp_place(kind text, location jsonb, destination jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loc hublink.esp_location;
BEGIN
    SELECT * INTO loc FROM hublink.esp_location l
     WHERE l.location_id = coalesce(location ->> 'detentionCentreId', location ->> 'prisonId',
                                    location #>> '{address,town}');
    RETURN CASE kind
        WHEN 'LOCATION' THEN location
        WHEN 'AIRPORT' THEN jsonb_strip_nulls(jsonb_build_object(
            'airportCode', coalesce(loc.airport, hublink.esp_setting('default_airport')), 'terminal', loc.terminal))
        WHEN 'DESTINATION' THEN CASE
            WHEN destination ? 'airportCode' THEN jsonb_build_object('airportCode', destination ->> 'airportCode')
            ELSE jsonb_build_object('description', coalesce(destination ->> 'description', 'Destination to be advised'))
            END
        WHEN 'BASE' THEN jsonb_build_object('description', coalesce(loc.base, hublink.esp_setting('default_base')))
    END;
END;
$$;
COMMENT ON FUNCTION hublink.esp_place(text, jsonb, jsonb) IS
    'A segment start or finish point of a place kind (esp_place_kind) for a returnee location and destination.';

CREATE FUNCTION hublink.esp_segments(international boolean, escort_on_transport boolean, location jsonb,
                                     destination jsonb) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT jsonb_agg(jsonb_build_object(
               'segment', jsonb_build_object('segmentId', 'S' || t.seq,
                   'startPoint', hublink.esp_place(t.start_place, location, destination),
                   'finishPoint', hublink.esp_place(t.finish_place, location, destination),
                   'transportType', t.transport_type, 'returneePresent', t.returnee_present),
               'kind', t.segment_kind,
               'minutes', t.minutes
                   + CASE WHEN t.add_road_minutes THEN coalesce(
                         (SELECT l.road_minutes FROM hublink.esp_location l
                           WHERE l.location_id = coalesce(location ->> 'detentionCentreId', location ->> 'prisonId',
                                                          location #>> '{address,town}')),
                         hublink.esp_setting('default_road_minutes')::integer) ELSE 0 END
                   + CASE WHEN t.add_flight_minutes THEN coalesce(
                         (SELECT f.minutes FROM hublink.esp_flight_time f WHERE f.country = destination ->> 'country'),
                         hublink.esp_setting('default_flight_minutes')::integer) ELSE 0 END,
               'allowance', t.allowance,
               'dayOffset', t.day_offset) ORDER BY t.seq)
      FROM hublink.esp_segment_template t
     WHERE t.international = esp_segments.international AND t.escort_on_transport = esp_segments.escort_on_transport);
COMMENT ON FUNCTION hublink.esp_segments(boolean, boolean, jsonb, jsonb) IS
    'The segments of a removal from esp_segment_template: segment (as sent), kind, minutes of '
    'effort per escort (fixed + road time of the location + flight time to the country), '
    'allowance per escort and day offset.';

-- Effort: per segment per escort position, the duration and its cost.
CREATE FUNCTION hublink.esp_effort(plan_id bigint)
    RETURNS TABLE (seq integer, segment_id text, escort_number integer, minutes integer, cost numeric)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.ord::integer, s.seg #>> '{segment,segmentId}', p.escort_number, hublink.json_integer(s.seg -> 'minutes')::integer,
           round(r.hourly_rate * (s.seg ->> 'minutes')::numeric / 60, 2) + (s.seg ->> 'allowance')::numeric
      FROM hublink.esp_plan pl
     CROSS JOIN LATERAL jsonb_array_elements(pl.segments) WITH ORDINALITY s(seg, ord)
      JOIN hublink.esp_plan_position p ON p.plan_id = pl.plan_id
      JOIN hublink.esp_role r ON r.role = p.role
     WHERE pl.plan_id = esp_effort.plan_id
       AND (NOT s.seg -> 'segment' ? 'escortNumbers'
            OR s.seg #> '{segment,escortNumbers}' @> to_jsonb(p.escort_number))
     ORDER BY s.ord, p.escort_number
$$;
COMMENT ON FUNCTION hublink.esp_effort(bigint) IS
    'Escort effort of a plan: per segment and position on it (all positions unless the segment '
    'names escortNumbers), minutes and cost = role hourly rate x minutes / 60 (rounded half away '
    'from zero to the penny) + the segment''s allowance.';

CREATE FUNCTION hublink.esp_plan_cost(plan_id bigint) RETURNS numeric
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(sum(e.cost), 0) FROM hublink.esp_effort(plan_id) e);
COMMENT ON FUNCTION hublink.esp_plan_cost(bigint) IS 'Total escort cost of a plan: the sum of its effort costs.';

-- The positions' sex is sealed (76_crypto_seal_esp.sql): read through the audited accessor
-- hublink.esp_plan_positions, defined later, hence PL/pgSQL (resolved when it runs).
CREATE FUNCTION hublink.esp_plan_body(plan_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object(
    'escortPositions', (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                   'escortNumber', p.escort_number, 'gender', p.gender, 'physique', p.physique,
                                   'languages', to_jsonb(p.languages), 'medic', p.medic, 'role', p.role))
                                 ORDER BY p.escort_number)
                          FROM hublink.esp_plan_positions(esp_plan_body.plan_id) p),
    'segments', (SELECT jsonb_agg(s -> 'segment' ORDER BY o) FROM hublink.esp_plan pl,
                        jsonb_array_elements(pl.segments) WITH ORDINALITY x(s, o)
                  WHERE pl.plan_id = esp_plan_body.plan_id),
    'effort', (SELECT jsonb_agg(jsonb_build_object('segmentId', e.segment_id, 'escortNumber', e.escort_number,
                                                   'cost', hublink.esp_money(e.cost, pl.currency),
                                                   'durationMinutes', e.minutes) ORDER BY e.seq, e.escort_number)
                 FROM hublink.esp_effort(esp_plan_body.plan_id) e, hublink.esp_plan pl WHERE pl.plan_id = esp_plan_body.plan_id));
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_body(bigint) IS
    'The escortPositions, segments and effort of a plan, as an EscortQuoteResponse carries them.';

-- Staffing: which rostered, unbooked escorts fill a plan's positions on a date. The escort's
-- sex is sealed (76_crypto_seal_esp.sql): the caller passes it, decrypted only when the plan has
-- a position that asks for one (hublink.esp_escort_sexes).
CREATE FUNCTION hublink.esp_eligible(p hublink.esp_plan_position, e hublink.esp_escort, sex text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN e.active AND e.medic = p.medic
       AND (e.team_leader OR NOT (SELECT r.leader FROM hublink.esp_role r WHERE r.role = p.role))
       AND (p.gender IS NULL OR coalesce(sex = p.gender, false))
       AND (SELECT x.strength FROM hublink.esp_physique x WHERE x.physique = e.physique)
           >= (SELECT x.strength FROM hublink.esp_physique x WHERE x.physique = p.physique)
       AND p.languages <@ e.languages;
COMMENT ON FUNCTION hublink.esp_eligible(hublink.esp_plan_position, hublink.esp_escort, text) IS
    'Whether an escort, of sex sex (decrypted by the caller; NULL when unknown or not needed), can '
    'fill a position p (as hublink.esp_plan_positions returns it, its sex decrypted): active, medic for a medic position and only then, qualified to lead a '
    'leading role, of the required sex if the position asks for one, of at least the physique, '
    'speaking every language.';

CREATE FUNCTION hublink.esp_quote(request jsonb, removal_id text DEFAULT NULL, at timestamptz DEFAULT now())
    RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tz        constant text := hublink.esp_setting('date_time_zone');
    notice    constant interval := hublink.esp_setting('min_notice_hours')::integer * interval '1 hour';
    maxdates  constant integer := hublink.esp_setting('max_escort_dates')::integer;
    cur       constant char(3) := hublink.esp_setting('currency');
    expires   constant timestamptz := at + hublink.esp_setting('quote_validity_minutes')::integer * interval '1 minute';
    profiles  jsonb;
    segs      jsonb;
    pid       bigint;
    npos      integer;
    total     numeric;
    serial    text;
    d         date;
    quotes    jsonb := '[]';
    skipped   text[] := '{}';
    ref       text;
    body      jsonb;
    sexes     jsonb;
BEGIN
    -- What the rules read of each returnee: no names, no dates of birth.
    SELECT jsonb_agg(jsonb_build_object(
               'hoReturneeReference', r #>> '{personalDetails,hoReturneeReference}',
               'gender', r #>> '{personalDetails,gender}',
               'nationality', r #>> '{personalDetails,nationality}',
               'flags', coalesce(r #> '{escortRiskAssessment,flags}', '[]'),
               'conditions', coalesce((SELECT jsonb_agg(c -> 'code')
                                         FROM jsonb_array_elements(r #> '{personalDetails,conditions}') c), '[]'),
               'location', r -> 'location') ORDER BY o)
      INTO profiles
      FROM jsonb_array_elements(request -> 'returnees') WITH ORDINALITY x(r, o);
    segs := hublink.esp_segments((request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
                                 request #> '{returnees,0,location}', request -> 'destination');
    INSERT INTO hublink.esp_plan (removal_ref, returnees, international, escort_on_transport, location, destination,
                                  duty_days, currency, segments, created_at)
    VALUES (removal_id, profiles, (request ->> 'international')::boolean, (request ->> 'escortOnTransport')::boolean,
            request #> '{returnees,0,location}', request -> 'destination',
            (SELECT max(hublink.json_integer(s -> 'dayOffset')::integer) + 1 FROM jsonb_array_elements(segs) s), cur, segs, at)
    RETURNING plan_id INTO pid;
    INSERT INTO hublink.esp_plan_position
    SELECT pid, p.* FROM hublink.esp_positions(profiles) p;
    GET DIAGNOSTICS npos = ROW_COUNT;
    total := hublink.esp_plan_cost(pid);
    serial := lpad(nextval('hublink.esp_quote_serial')::text, 6, '0');
    -- Escorts' sex is sealed: decrypt it once per quote, and only when a position asks for a sex,
    -- for the escorts who could serve on some date of the range (active, named, rostered then).
    -- (A position sealed a sex exactly when it asks for one: 76_crypto_seal_esp.sql.)
    IF EXISTS (SELECT FROM hublink.esp_plan_position p WHERE p.plan_id = pid AND p.sealed IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(ARRAY(
            SELECT DISTINCT r.escort_id FROM hublink.esp_roster r JOIN hublink.esp_escort e USING (escort_id)
             WHERE e.active AND r.duty_date BETWEEN (request #>> '{dates,earliestLeaveDate}')::date
                                                AND (request #>> '{dates,latestLeaveDate}')::date
                                                    + (SELECT pl.duty_days - 1 FROM hublink.esp_plan pl WHERE pl.plan_id = pid)
               AND EXISTS (SELECT FROM hublink.esp_escort_personal x WHERE x.escort_id = e.escort_id)), removal_id);
    END IF;

    FOR d IN SELECT g::date FROM generate_series((request #>> '{dates,earliestLeaveDate}')::date,
                                                 (request #>> '{dates,latestLeaveDate}')::date, interval '1 day') g LOOP
        EXIT WHEN jsonb_array_length(quotes) >= maxdates;
        IF coalesce(request #> '{dates,exclusionDates}', '[]') ? d::text THEN
            CONTINUE;
        ELSIF d::timestamp AT TIME ZONE tz < at + notice THEN
            skipped := skipped || (d || ' (less than ' || hublink.esp_setting('min_notice_hours') || ' hours'' notice)');
        ELSIF (SELECT count(*) FROM hublink.esp_fill_team(pid, d, NULL, sexes)) < npos THEN
            skipped := skipped || (d || ' (escorts unavailable)');
        ELSE
            ref := hublink.esp_setting('quote_reference_prefix') || serial || '-' || chr(65 + jsonb_array_length(quotes));
            INSERT INTO hublink.esp_quote VALUES (ref, pid, d, total, cur, at, expires);
            quotes := quotes || jsonb_build_object('escortQuoteReference', ref, 'escortDate', d,
                'totalCost', hublink.esp_money(total, cur),
                'notes', 'Bookable until ' || to_char(expires AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' UK time.');
        END IF;
    END LOOP;

    body := hublink.esp_plan_body(pid) || jsonb_build_object('quotes', quotes, 'notes',
        (SELECT count(*) FILTER (WHERE NOT p.medic) || ' escort officer(s)'
                || CASE WHEN bool_or(p.medic) THEN ' and a medic' ELSE '' END
           FROM hublink.esp_plan_position p WHERE p.plan_id = pid)
        || ' for ' || (SELECT string_agg(x ->> 'hoReturneeReference' || coalesce(' (' || nullif(
                                   (SELECT string_agg(f, ', ') FROM jsonb_array_elements_text((x -> 'flags') || (x -> 'conditions')) f),
                                   '') || ')', ''), ', ' ORDER BY o)
                         FROM jsonb_array_elements(profiles) WITH ORDINALITY y(x, o))
        || CASE WHEN cardinality(skipped) > 0 THEN '. Not offered: ' || array_to_string(skipped, ', ') ELSE '' END
        || '.');
    RETURN body;
END;
$$;
COMMENT ON FUNCTION hublink.esp_quote(jsonb, text, timestamptz) IS
    'Quotes an EscortQuoteRequest body at instant at: makes the plan (positions by the escort '
    'rules, segments by the templates, effort and cost by the role rates) and offers each date '
    'of the range, without exclusion dates, starting at least min_notice_hours after at, on which '
    'the roster can staff the team (up to max_escort_dates). Returns the EscortQuoteResponse '
    'body; quotes is empty when no date can be staffed, and notes name the dates not offered.';
