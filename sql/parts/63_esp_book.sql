-- Escort provider (esp), issue 5 section 4: booking an escort quote (EscortBookingRequest →
-- EscortBookingResponse body). An escort is on duty for at most one booking a day: the primary
-- key of hublink.esp_duty guarantees it, and bookings lock the roster rows of their days first
-- so that concurrent bookings of a day queue instead of failing (docs/esp.md "Booking").

CREATE TABLE hublink.esp_booking_status (
    status      text PRIMARY KEY,
    holds_duty  boolean NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_booking_status IS 'States of an escort booking.';
COMMENT ON COLUMN hublink.esp_booking_status.status IS 'State code.';
COMMENT ON COLUMN hublink.esp_booking_status.holds_duty IS 'Whether its escorts stay on duty (esp_duty rows).';
COMMENT ON COLUMN hublink.esp_booking_status.description IS 'What it means.';
INSERT INTO hublink.esp_booking_status VALUES
    ('ACTIVE', true, 'Booked; the escorts are on duty for it.'),
    ('CANCELLED', false, 'Cancelled by the Home Office (EscortCancellation).'),
    ('PROVIDER_CANCELLED', false, 'Cancelled by the escort provider (hublink.esp_provider_cancel).'),
    ('COMPLETED', true, 'Carried out (hublink.esp_completed).'),
    ('UNSUCCESSFUL', true, 'Started and abandoned (hublink.esp_unsuccessful).');

CREATE TABLE hublink.esp_booking (
    booking_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_ref   text NOT NULL UNIQUE REFERENCES hublink.esp_quote,
    plan_id     bigint NOT NULL REFERENCES hublink.esp_plan,
    removal_ref text,
    escort_date date NOT NULL,
    booked_at   timestamptz NOT NULL,
    total       numeric(14,2) NOT NULL,
    fees        numeric(14,2) NOT NULL DEFAULT 0,
    currency    char(3) NOT NULL,
    status      text NOT NULL DEFAULT 'ACTIVE' REFERENCES hublink.esp_booking_status
);
COMMENT ON TABLE hublink.esp_booking IS 'A booked escort quote.';
COMMENT ON COLUMN hublink.esp_booking.booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.esp_booking.quote_ref IS 'The quote booked (one booking per quote).';
COMMENT ON COLUMN hublink.esp_booking.plan_id IS 'The plan as now booked (the quote''s, or an amended copy).';
COMMENT ON COLUMN hublink.esp_booking.removal_ref IS 'The removal reference, when known.';
COMMENT ON COLUMN hublink.esp_booking.escort_date IS 'The escort date (first duty day).';
COMMENT ON COLUMN hublink.esp_booking.booked_at IS 'When it was booked.';
COMMENT ON COLUMN hublink.esp_booking.total IS 'Escort cost of the plan as now booked.';
COMMENT ON COLUMN hublink.esp_booking.fees IS 'Amendment and cancellation fees charged so far.';
COMMENT ON COLUMN hublink.esp_booking.currency IS 'Currency of total and fees.';
COMMENT ON COLUMN hublink.esp_booking.status IS 'State (esp_booking_status).';
CREATE INDEX esp_booking_removal ON hublink.esp_booking (removal_ref);
COMMENT ON INDEX hublink.esp_booking_removal IS 'A removal''s escort bookings (its purge and erasure, hublink.purge_removal).';
CREATE INDEX esp_booking_plan ON hublink.esp_booking (plan_id);
COMMENT ON INDEX hublink.esp_booking_plan IS 'The booking of a plan (its purge; the foreign key check when a plan is deleted).';

CREATE TABLE hublink.esp_booking_escort (
    booking_id    bigint NOT NULL REFERENCES hublink.esp_booking ON DELETE CASCADE,
    escort_number integer NOT NULL,
    escort_id     text NOT NULL REFERENCES hublink.esp_escort,
    PRIMARY KEY (booking_id, escort_number),
    UNIQUE (booking_id, escort_id)
);
COMMENT ON TABLE hublink.esp_booking_escort IS 'Who fills each position of a booking now (an escort change replaces the row).';
COMMENT ON COLUMN hublink.esp_booking_escort.booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.esp_booking_escort.escort_number IS 'The position.';
COMMENT ON COLUMN hublink.esp_booking_escort.escort_id IS 'The escort.';

CREATE TABLE hublink.esp_duty (
    escort_id  text NOT NULL REFERENCES hublink.esp_escort,
    duty_date  date NOT NULL,
    booking_id bigint NOT NULL REFERENCES hublink.esp_booking ON DELETE CASCADE,
    PRIMARY KEY (escort_id, duty_date),
    FOREIGN KEY (escort_id, duty_date) REFERENCES hublink.esp_roster
);
COMMENT ON TABLE hublink.esp_duty IS
    'The days each escort is on duty for a booking: one booking per escort and day (primary key), '
    'only on rostered days (foreign key). Released when the booking is cancelled.';
COMMENT ON COLUMN hublink.esp_duty.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.esp_duty.duty_date IS 'The day.';
COMMENT ON COLUMN hublink.esp_duty.booking_id IS 'The booking.';
CREATE INDEX esp_duty_booking ON hublink.esp_duty (booking_id);

CREATE FUNCTION hublink.esp_free(escort_id text, first_day date, days integer, keep_booking bigint) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM hublink.esp_escort_personal x WHERE x.escort_id = esp_free.escort_id)
       AND (SELECT count(*) FROM hublink.esp_roster r
             WHERE r.escort_id = esp_free.escort_id AND r.duty_date BETWEEN first_day AND first_day + days - 1) = days
       AND NOT EXISTS (SELECT FROM hublink.esp_duty d
                        WHERE d.escort_id = esp_free.escort_id AND d.duty_date BETWEEN first_day AND first_day + days - 1
                          AND d.booking_id IS DISTINCT FROM keep_booking);
COMMENT ON FUNCTION hublink.esp_free(text, date, integer, bigint) IS
    'Whether an escort with a name on file is on the roster for each of days days from first_day '
    'and on duty for no booking then (the duties of keep_booking do not count).';

-- One augmenting path (Kuhn's algorithm): give position pos an escort, moving the holders of
-- its candidates to other candidates of theirs where that frees one.
CREATE FUNCTION hublink.esp_augment(elig jsonb, assign jsonb, pos text, visited text[]) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e      text;
    holder text;
    r      jsonb;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements_text(elig -> pos) WITH ORDINALITY y(x, o) ORDER BY o LOOP
        CONTINUE WHEN e = ANY (visited);
        visited := visited || e;
        SELECT k INTO holder FROM jsonb_each_text(assign) z(k, v) WHERE v = e;
        IF holder IS NULL THEN
            RETURN jsonb_build_object('assign', assign || jsonb_build_object(pos, e), 'visited', to_jsonb(visited));
        END IF;
        r := hublink.esp_augment(elig, assign, holder, visited);
        visited := ARRAY(SELECT jsonb_array_elements_text(r -> 'visited'));
        IF jsonb_typeof(r -> 'assign') = 'object' THEN
            RETURN jsonb_build_object('assign', (r -> 'assign') || jsonb_build_object(pos, e), 'visited', r -> 'visited');
        END IF;
    END LOOP;
    RETURN jsonb_build_object('assign', NULL, 'visited', to_jsonb(visited));
END;
$$;
COMMENT ON FUNCTION hublink.esp_augment(jsonb, jsonb, text, text[]) IS
    'An augmenting path for position pos in a team assignment {position: escort}, candidates per '
    'position in elig {position: [escort, ...]} in order of preference: {assign: the new '
    'assignment or null, visited: escorts tried}.';

CREATE FUNCTION hublink.esp_fill_team(plan_id bigint, first_day date, keep_booking bigint DEFAULT NULL,
                                      sexes jsonb DEFAULT NULL)
    RETURNS TABLE (escort_number integer, escort_id text)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    days   constant integer := (SELECT pl.duty_days FROM hublink.esp_plan pl WHERE pl.plan_id = esp_fill_team.plan_id);
    -- The positions with their sex decrypted (sealed, 76_crypto_seal_esp.sql; audited when any
    -- position asks for a sex), once per call.
    positions constant hublink.esp_plan_position[] :=
        ARRAY(SELECT x FROM hublink.esp_plan_positions(esp_fill_team.plan_id) x);
    cands  text[];
    elig   jsonb;
    assign jsonb := '{}';
    p      hublink.esp_plan_position;
    pick   text;
    r      jsonb;
BEGIN
    cands := ARRAY(SELECT e.escort_id FROM hublink.esp_escort e
                    WHERE e.active AND hublink.esp_free(e.escort_id, first_day, days, keep_booking));
    -- The sex is sealed: decrypted only when a position asks for one, only for the free escorts
    -- (unless the caller, hublink.esp_quote, decrypted it once for every date).
    IF sexes IS NULL AND EXISTS (SELECT FROM unnest(positions) x WHERE x.gender IS NOT NULL) THEN
        sexes := hublink.esp_escort_sexes(cands, (SELECT pl.removal_ref FROM hublink.esp_plan pl
                                                   WHERE pl.plan_id = esp_fill_team.plan_id));
    END IF;
    -- Per position its fit free escorts, best first: the booking's own escort for it, then the
    -- least qualified (fit for the fewest positions of the plan, weakest physique, not a
    -- leader, fewest languages, then by ID), so that scarce skills stay free.
    SELECT coalesce(jsonb_object_agg(x.escort_number::text, coalesce(
               (SELECT jsonb_agg(c.escort_id ORDER BY
                        NOT EXISTS (SELECT FROM hublink.esp_booking_escort b
                                     WHERE b.booking_id = keep_booking AND b.escort_number = x.escort_number
                                       AND b.escort_id = c.escort_id),
                        (SELECT count(*) FROM unnest(positions) y
                          WHERE hublink.esp_eligible(y, c, sexes ->> c.escort_id)),
                        (SELECT ph.strength FROM hublink.esp_physique ph WHERE ph.physique = c.physique),
                        c.team_leader, cardinality(c.languages), c.escort_id)
                  FROM hublink.esp_escort c WHERE c.escort_id = ANY (cands) AND hublink.esp_eligible(x, c, sexes ->> c.escort_id)), '[]')), '{}')
      INTO elig
      FROM unnest(positions) x;
    -- Greedy first, most constrained position first, each taking its best free candidate ...
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id
              ORDER BY jsonb_array_length(elig -> x.escort_number::text), x.escort_number LOOP
        SELECT c INTO pick FROM jsonb_array_elements_text(elig -> p.escort_number::text) WITH ORDINALITY y(c, o)
         WHERE NOT EXISTS (SELECT FROM jsonb_each_text(assign) z(k, v) WHERE v = c)
         ORDER BY o LIMIT 1;
        IF FOUND THEN
            assign := assign || jsonb_build_object(p.escort_number::text, pick);
        END IF;
    END LOOP;
    -- ... then an augmenting path for each position left, so that a team is found whenever
    -- one exists (a maximum matching of positions to escorts).
    FOR p IN SELECT x.* FROM hublink.esp_plan_position x
              WHERE x.plan_id = esp_fill_team.plan_id AND NOT assign ? x.escort_number::text
              ORDER BY x.escort_number LOOP
        r := hublink.esp_augment(elig, assign, p.escort_number::text, '{}');
        IF jsonb_typeof(r -> 'assign') = 'object' THEN
            assign := r -> 'assign';
        END IF;
    END LOOP;
    RETURN QUERY SELECT k::integer, v FROM jsonb_each_text(assign) z(k, v) ORDER BY k::integer;
END;
$$;
COMMENT ON FUNCTION hublink.esp_fill_team(bigint, date, bigint, jsonb) IS
    'Assigns free escorts (hublink.esp_free) to the positions of a plan for the duty days from '
    'first_day (sexes: {escort_id: sex} already decrypted, else decrypted here for the free '
    'escorts when a position asks for a sex): greedily, most constrained position first, each taking keep_booking''s own escort '
    'when fit, else the least qualified fit escort (fewest positions fit, weakest physique, not a '
    'leader, fewest languages, then ID); then augmenting paths for the positions left, so the '
    'result is a maximum matching: fewer rows than positions means no team exists.';

CREATE FUNCTION hublink.esp_lock_days(first_day date, days integer) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Every session locks the roster rows of the days in the same order (day, escort), so two
    -- bookings of overlapping days queue and cannot deadlock.
    PERFORM FROM hublink.esp_roster r WHERE r.duty_date BETWEEN first_day AND first_day + days - 1
      ORDER BY r.duty_date, r.escort_id FOR UPDATE;
END;
$$;
COMMENT ON FUNCTION hublink.esp_lock_days(date, integer) IS
    'Locks the roster rows of days days from first_day, in (day, escort) order, until the end of '
    'the transaction: what every change of duties does first.';

CREATE FUNCTION hublink.esp_take_team(booking_id bigint, team jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k hublink.esp_booking;
    days integer;
BEGIN
    SELECT * INTO k FROM hublink.esp_booking b WHERE b.booking_id = esp_take_team.booking_id;
    SELECT pl.duty_days INTO days FROM hublink.esp_plan pl WHERE pl.plan_id = k.plan_id;
    DELETE FROM hublink.esp_duty d WHERE d.booking_id = k.booking_id;
    DELETE FROM hublink.esp_booking_escort b WHERE b.booking_id = k.booking_id;
    INSERT INTO hublink.esp_booking_escort
    SELECT k.booking_id, (t ->> 'escort_number')::integer, t ->> 'escort_id' FROM jsonb_array_elements(team) t;
    INSERT INTO hublink.esp_duty
    SELECT t ->> 'escort_id', g::date, k.booking_id
      FROM jsonb_array_elements(team) t, generate_series(k.escort_date, k.escort_date + days - 1, interval '1 day') g;
END;
$$;
COMMENT ON FUNCTION hublink.esp_take_team(bigint, jsonb) IS
    'Makes a team ([{escort_number, escort_id}], from hublink.esp_fill_team) the booking''s: its '
    'positions and its duties on every duty day (the caller holds hublink.esp_lock_days).';

-- Names, passports and sex are sealed under each escort's key (76_crypto_seal_esp.sql): read
-- through hublink.esp_escort_identities, which audits.
CREATE FUNCTION hublink.esp_escort_details(booking_id bigint, only_escorts text[] DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
    SELECT jsonb_build_object(
        'escorts', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
            'escortId', b.escort_id, 'escortNumber', b.escort_number,
            'name', hublink.person_name_json(x.title, x.given_names, x.family_name),
            'advancePassengerInfo', nullif(jsonb_strip_nulls(jsonb_build_object(
                'dateOfBirth', x.date_of_birth, 'nationality', x.nationality, 'gender', x.gender,
                'travelDocument', CASE WHEN x.document_number IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
                    'type', x.document_type, 'number', x.document_number,
                    'issuingCountry', x.document_issuing_country, 'expiryDate', x.document_expiry_date)) END)), '{}')))
            ORDER BY b.escort_number),
        'assignments', (SELECT jsonb_agg(jsonb_build_object('segmentId', s #>> '{segment,segmentId}',
                                                            'escortId', b2.escort_id) ORDER BY o, b2.escort_number)
                          FROM hublink.esp_booking k
                          CROSS JOIN LATERAL jsonb_array_elements((SELECT pl.segments FROM hublink.esp_plan pl
                                                                    WHERE pl.plan_id = k.plan_id)) WITH ORDINALITY z(s, o)
                          JOIN hublink.esp_booking_escort b2 ON b2.booking_id = k.booking_id
                         WHERE k.booking_id = esp_escort_details.booking_id
                           AND (only_escorts IS NULL OR b2.escort_id = ANY (only_escorts))
                           AND (NOT s -> 'segment' ? 'escortNumbers'
                                OR s #> '{segment,escortNumbers}' @> to_jsonb(b2.escort_number))))
      FROM hublink.esp_booking_escort b
      JOIN hublink.esp_escort_identities(
               ARRAY(SELECT y.escort_id FROM hublink.esp_booking_escort y
                      WHERE y.booking_id = esp_escort_details.booking_id
                        AND (only_escorts IS NULL OR y.escort_id = ANY (only_escorts))),
               (SELECT k.removal_ref FROM hublink.esp_booking k WHERE k.booking_id = esp_escort_details.booking_id)) x
        USING (escort_id)
     WHERE b.booking_id = esp_escort_details.booking_id
       AND (only_escorts IS NULL OR b.escort_id = ANY (only_escorts)));
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_details(bigint, text[]) IS
    'The escortDetails of a booking (or of some of its escorts): names, advance passenger '
    'information held, and per segment the escorts on it.';

CREATE FUNCTION hublink.esp_decline(quote_ref text, code text, details text) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN hublink.declined_booking_body('escortQuoteReference', quote_ref, code, details);
COMMENT ON FUNCTION hublink.esp_decline(text, text, text) IS
    'A declined EscortBookingResponse body (hublink.declined_booking_body): the code must be an '
    'active row of the decline list in hublink.reason_code, else the body lacks it and fails validation.';

CREATE FUNCTION hublink.esp_book(request jsonb, at timestamptz DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qref  text := request ->> 'escortQuoteReference';
    q     hublink.esp_quote;
    pl    hublink.esp_plan;
    other text;
    team  jsonb;
    npos  integer;
    bid   bigint;
BEGIN
    SELECT * INTO q FROM hublink.esp_quote x WHERE x.quote_ref = qref FOR UPDATE;
    IF NOT FOUND THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'No escort quote ' || qref || ' was issued by this provider.');
    END IF;
    SELECT * INTO pl FROM hublink.esp_plan x WHERE x.plan_id = q.plan_id;
    IF EXISTS (SELECT FROM hublink.esp_booking b WHERE b.quote_ref = qref) THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'Escort quote ' || qref || ' is already booked.');
    END IF;
    -- One escorting per quote request: a second quote of the same plan is not booked beside it.
    SELECT string_agg(b.quote_ref, ', ') INTO other FROM hublink.esp_booking b
      JOIN hublink.esp_booking_status s USING (status)
     WHERE b.plan_id = q.plan_id AND s.holds_duty;
    IF other IS NOT NULL THEN
        RETURN hublink.esp_decline(qref, 'OTHER', 'Another date of the same request is booked: ' || other || '.');
    END IF;
    IF at > q.expires_at THEN
        RETURN hublink.esp_decline(qref, 'QUOTE_EXPIRED', 'The quote expired at '
               || to_char(q.expires_at AT TIME ZONE hublink.esp_setting('date_time_zone'), 'YYYY-MM-DD HH24:MI') || ' UK time.');
    END IF;
    PERFORM hublink.esp_lock_days(q.escort_date, pl.duty_days);
    SELECT count(*) INTO npos FROM hublink.esp_plan_position p WHERE p.plan_id = q.plan_id;
    SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO team FROM hublink.esp_fill_team(q.plan_id, q.escort_date) t;
    IF jsonb_array_length(team) < npos THEN
        RETURN hublink.esp_decline(qref, 'ESCORTS_UNAVAILABLE', 'The roster no longer has escorts for position(s) '
               || (SELECT string_agg(p.escort_number || ' (' || p.role || ')', ', ' ORDER BY p.escort_number)
                     FROM hublink.esp_plan_position p
                    WHERE p.plan_id = q.plan_id
                      AND NOT team @> jsonb_build_array(jsonb_build_object('escort_number', p.escort_number)))
               || ' on ' || q.escort_date || '.');
    END IF;
    INSERT INTO hublink.esp_booking (quote_ref, plan_id, removal_ref, escort_date, booked_at, total, currency)
    VALUES (qref, q.plan_id, pl.removal_ref, q.escort_date, at, q.total, q.currency)
    RETURNING booking_id INTO bid;
    PERFORM hublink.esp_take_team(bid, team);
    RETURN jsonb_build_object('escortQuoteReference', qref, 'outcome', 'ACCEPTED',
                              'escortDetails', hublink.esp_escort_details(bid),
                              'notes', 'Escort cost ' || to_char(q.total, 'FM999999999990.00') || ' ' || q.currency || '.');
END;
$$;
COMMENT ON FUNCTION hublink.esp_book(jsonb, timestamptz) IS
    'Books an EscortBookingRequest body at instant at: declines OTHER (unknown quote, already '
    'booked, another date of the same request booked), QUOTE_EXPIRED (after expires_at) or '
    'ESCORTS_UNAVAILABLE (the roster can no longer staff every position: checked under the '
    'roster locks of the duty days), else puts the team on duty and returns the ACCEPTED body '
    'with the escorts'' names, advance passenger information and assignments.';
