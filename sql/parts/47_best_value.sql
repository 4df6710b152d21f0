-- Best value: hublink.removal_quotes ranks the quotes of a removal by expected cost, with the
-- per-removal chance of cancellation the Hub ranks quotes with (issue 17; docs/hub.md
-- "Best value"). The TSP prices each quote's expected cost with one constant probability (its
-- cancel_probability); the Hub knows the case: the factors a caseworker records (a pending legal
-- challenge, an earlier failed removal, a medical concern) and its own history of removals with
-- the same factors. It re-prices each quote's expected loss with that estimate in
-- hublink.removal_quotes, within the quotes Appendix A already carries: no message changes.

CREATE TABLE hublink.cancel_factor (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z_]*$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.cancel_factor IS
    'What a caseworker may record about a case that bears on its chance of cancellation (reference data).';
COMMENT ON COLUMN hublink.cancel_factor.code IS 'The factor''s code.';
COMMENT ON COLUMN hublink.cancel_factor.description IS 'What it means, for the caseworker recording it.';
INSERT INTO hublink.cancel_factor VALUES
    ('LEGAL_CHALLENGE_PENDING', 'A judicial review, appeal or injunction application is pending or announced.'),
    ('PRIOR_FAILED_REMOVAL', 'An earlier removal of the returnee was cancelled or failed.'),
    ('MEDICAL_CONCERN', 'A medical or fitness-to-fly concern is recorded and not yet resolved.'),
    ('ESCORTED', 'The returnee travels escorted (a risk flag is set).');

CREATE TABLE hublink.removal_cancel_factor (
    removal_id  bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    factor      text NOT NULL REFERENCES hublink.cancel_factor,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text NOT NULL,
    PRIMARY KEY (removal_id, factor)
);
COMMENT ON TABLE hublink.removal_cancel_factor IS
    'The cancellation factors recorded for a removal (hublink.record_cancel_factors): the case '
    'attributes the Hub''s estimate of its chance of cancellation is made from.';
COMMENT ON COLUMN hublink.removal_cancel_factor.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.removal_cancel_factor.factor IS 'The factor (hublink.cancel_factor).';
COMMENT ON COLUMN hublink.removal_cancel_factor.recorded_at IS 'When it was recorded.';
COMMENT ON COLUMN hublink.removal_cancel_factor.recorded_by IS 'Who recorded it (hublink.acting_login).';

-- One row: the estimate's prior and bounds. Typed columns with checks, so an admin's edit is
-- bounded by the table itself; audited like every table (hublink.audit_attach).
CREATE TABLE hublink.cancel_estimate_config (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    prior_probability    numeric(5,4) NOT NULL CHECK (prior_probability BETWEEN 0 AND 1),
    prior_weight         numeric(8,2) NOT NULL CHECK (prior_weight BETWEEN 0.01 AND 999999.99),
    min_probability      numeric(5,4) NOT NULL CHECK (min_probability >= 0),
    max_probability      numeric(5,4) NOT NULL CHECK (max_probability <= 1),
    provider_probability numeric(5,4) NOT NULL CHECK (provider_probability > 0 AND provider_probability <= 1),
    hold_from_probability numeric(5,4) NOT NULL DEFAULT 0 CHECK (hold_from_probability BETWEEN 0 AND 1),
    hold_hours_before    numeric(6,2) NOT NULL DEFAULT 72 CHECK (hold_hours_before BETWEEN 0.01 AND 9999.99),
    CHECK (min_probability <= max_probability),
    max_sold_out         numeric(5,4) NOT NULL DEFAULT 0.05 CHECK (max_sold_out BETWEEN 0 AND 1)
);
COMMENT ON TABLE hublink.cancel_estimate_config IS
    'How the Hub estimates a removal''s chance of cancellation after booking (one row; docs/hub.md "Best value").';
COMMENT ON COLUMN hublink.cancel_estimate_config.only_row IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.cancel_estimate_config.prior_probability IS
    'The rate assumed with no history (the published 40 %; also the TSP''s constant, so that with '
    'no history the ranking is the TSP''s).';
COMMENT ON COLUMN hublink.cancel_estimate_config.prior_weight IS
    'How many closed removals the prior counts as: a rate from fewer removals than this is pulled '
    'toward the prior (the global rate toward prior_probability, a profile''s rate toward the global).';
COMMENT ON COLUMN hublink.cancel_estimate_config.min_probability IS 'The estimate is never below this.';
COMMENT ON COLUMN hublink.cancel_estimate_config.max_probability IS 'The estimate is never above this.';
COMMENT ON COLUMN hublink.cancel_estimate_config.hold_from_probability IS
    'hublink.plan_booking considers holding the booking of a removal only when its estimate is at '
    'least this (default 0: whenever holding costs less in expectation than booking now).';
COMMENT ON COLUMN hublink.cancel_estimate_config.max_sold_out IS
    'hublink.plan_booking never advises holding when the chance that the flight has no seat left '
    'hold_hours_before departure (hublink.booking_market.sold_out) is above this (default 0.05): '
    'a missed date is not a price.';
COMMENT ON COLUMN hublink.cancel_estimate_config.hold_hours_before IS
    'How long before its first departure a held removal is booked, in hours (default 72: after the '
    'refundable fares'' 48-hour ticketing deadline and the escort provider''s 48 hours'' notice, '
    'before the refund rules'' 72-hour band).';
COMMENT ON COLUMN hublink.cancel_estimate_config.provider_probability IS
    'The probability the TSP prices its expectedCost with (its conditions notes state it: "price + P x '
    'loss"): the Hub recovers the quote''s loss on cancellation as (expectedCost - total) / P.';
INSERT INTO hublink.cancel_estimate_config
    (prior_probability, prior_weight, min_probability, max_probability, provider_probability)
VALUES (0.4, 20, 0.05, 0.95, 0.4);
GRANT SELECT, UPDATE ON hublink.cancel_estimate_config TO hublink_admin;

-- The history, as counts per profile (the sorted factors of a removal), kept as removals
-- close: the estimate reads a handful of rows on every ranking (hublink.removal_quotes runs
-- once per response, through the quote_expiry timer's statement trigger, and on every look at
-- the quotes), never the removals. Aggregates, no removal: they outlive retention, as the MI rollups do.
CREATE TABLE hublink.cancel_history_count (
    profile   text[] PRIMARY KEY,
    booked    bigint NOT NULL CHECK (booked >= 0),
    cancelled bigint NOT NULL CHECK (cancelled >= 0 AND cancelled <= booked)
);
COMMENT ON TABLE hublink.cancel_history_count IS
    'The Hub''s history for the cancellation estimate: per profile (the sorted factors recorded '
    'when the removal closed), the closed removals whose travel booking had been accepted, and how '
    'many of them were cancelled. Kept by the trigger cancel_history_on_close.';
COMMENT ON COLUMN hublink.cancel_history_count.profile IS 'The sorted hublink.cancel_factor codes recorded; {} for none.';
COMMENT ON COLUMN hublink.cancel_history_count.booked IS 'Closed removals of the profile whose travel was booked, or whose booking was held (hublink.booking_hold).';
COMMENT ON COLUMN hublink.cancel_history_count.cancelled IS 'Of them, cancelled (after booking, or while held).';

-- The removals whose booking the Hub advised holding (hublink.plan_booking). A held removal
-- counts in the history like a booked one, so that the estimate keeps meaning "cancelled after
-- the moment the Hub would book", whatever the hold policy: if held removals cancelled while
-- held were left out, holding would lower the estimate of the very profiles it holds.
CREATE TABLE hublink.booking_hold (
    removal_id         bigint PRIMARY KEY REFERENCES hublink.removal ON DELETE CASCADE,
    cancel_probability numeric(5,4) NOT NULL,
    book_from          timestamptz NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    decided_by         text NOT NULL
);
COMMENT ON TABLE hublink.booking_hold IS
    'Removals whose booking hublink.plan_booking advised holding: the estimate it saw and when to '
    'book (the latest advice per removal).';
COMMENT ON COLUMN hublink.booking_hold.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.booking_hold.cancel_probability IS 'The estimate the advice was made with (hublink.removal_cancel_probability).';
COMMENT ON COLUMN hublink.booking_hold.book_from IS 'When to book: hold_hours_before the first departure quoted.';
COMMENT ON COLUMN hublink.booking_hold.decided_at IS 'When the advice was given.';
COMMENT ON COLUMN hublink.booking_hold.decided_by IS 'Who asked (hublink.acting_login).';

-- What the Hub expects of the market as departure nears (issue 17, fourth pass): fares rise
-- and seats sell out, so that holding a booking has a price. Reference data the admin keeps
-- from the carriers' pricing; the rows shipped are a published shape (docs/hub.md "When to
-- book"), not the Home Office's contracts. The bands are also those the history of
-- cancellation lead times is counted in (hublink.cancel_history_lead).
CREATE TABLE hublink.booking_market (
    hours_before numeric(6,2) PRIMARY KEY CHECK (hours_before BETWEEN 0 AND 9999.99),
    fare_factor  numeric(6,4) NOT NULL CHECK (fare_factor BETWEEN 0.0001 AND 99.9999),
    sold_out     numeric(5,4) NOT NULL CHECK (sold_out BETWEEN 0 AND 1)
);
COMMENT ON TABLE hublink.booking_market IS
    'The fares and seats the Hub expects by how long before departure it books (reference data, '
    'admin-kept): a booking made h hours before departure falls in the band with the largest '
    'hours_before not above h (below every band: the lowest band).';
COMMENT ON COLUMN hublink.booking_market.hours_before IS 'The band''s lower bound, in hours before the first departure.';
COMMENT ON COLUMN hublink.booking_market.fare_factor IS
    'The fare of a booking made in this band relative to one made in the earliest band: prices '
    'quoted now are scaled by fare_factor(then) / fare_factor(now).';
COMMENT ON COLUMN hublink.booking_market.sold_out IS
    'The chance that the flight a removal would book has no seat left when booked in this band.';
INSERT INTO hublink.booking_market (hours_before, fare_factor, sold_out) VALUES
    (0, 1.8000, 0.1500), (24, 1.4500, 0.0800), (72, 1.2500, 0.0300), (168, 1.1000, 0.0000),
    (336, 1.0000, 0.0000);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.booking_market TO hublink_admin;

-- When cancellations come, per profile: a removal rated likely to be cancelled may still be
-- cancelled mostly the day before (a late injunction), when holding saves nothing. Counts per
-- band of hublink.booking_market, kept by cancel_history_on_close; aggregates, no removal.
CREATE TABLE hublink.cancel_history_lead (
    profile      text[] NOT NULL,
    hours_before numeric(6,2) NOT NULL CHECK (hours_before >= 0),
    cancelled    bigint NOT NULL CHECK (cancelled >= 0),
    PRIMARY KEY (profile, hours_before)
);
COMMENT ON TABLE hublink.cancel_history_lead IS
    'The Hub''s history of how long before the first departure its closed removals were cancelled: '
    'per profile and band (hublink.booking_market.hours_before at the time), how many. Kept by the '
    'trigger cancel_history_on_close.';
COMMENT ON COLUMN hublink.cancel_history_lead.profile IS 'The sorted hublink.cancel_factor codes recorded; {} for none.';
COMMENT ON COLUMN hublink.cancel_history_lead.hours_before IS 'The band: the cancellation came at least this many hours before the first departure.';
COMMENT ON COLUMN hublink.cancel_history_lead.cancelled IS 'How many.';

-- The first departure of a removal: its latest accepted booking's, else its earliest current
-- quote's, else the start (UK) of its earliest leave date.
CREATE FUNCTION hublink.removal_first_departure(p_removal_id bigint) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        SELECT coalesce(
            (SELECT (SELECT min(s.start_time) FROM hublink.travel_quote t
                       JOIN hublink.itinerary_segment s ON s.travel_quote_id = t.travel_quote_id AND s.current
                      WHERE t.removal_id = k.removal_id AND t.travel_quote_reference = k.travel_quote_reference)
               FROM hublink.travel_booking k
              WHERE k.removal_id = p_removal_id AND k.outcome = 'ACCEPTED'
              ORDER BY k.travel_booking_id DESC LIMIT 1),
            (SELECT min(s.start_time) FROM hublink.travel_quote t
               JOIN hublink.itinerary_segment s ON s.travel_quote_id = t.travel_quote_id AND s.current
              WHERE t.removal_id = p_removal_id AND NOT t.superseded),
            (SELECT r.earliest_leave_date::timestamp AT TIME ZONE 'Europe/London' FROM hublink.removal r
              WHERE r.removal_id = p_removal_id));
    END;
COMMENT ON FUNCTION hublink.removal_first_departure(bigint) IS
    'The first departure of a removal: the earliest current segment of its latest accepted travel '
    'booking, else of its quotes not superseded, else the start (UK) of its earliest leave date.';

CREATE FUNCTION hublink.cancel_history_on_close() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prof text[];
    lead numeric;
    band numeric;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub'
       OR (NOT EXISTS (SELECT FROM hublink.travel_booking k
                        WHERE k.removal_id = NEW.removal_id AND k.outcome = 'ACCEPTED')
           AND NOT EXISTS (SELECT FROM hublink.booking_hold b WHERE b.removal_id = NEW.removal_id)) THEN
        RETURN NULL;
    END IF;
    prof := coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                       WHERE f.removal_id = NEW.removal_id), '{}');
    INSERT INTO hublink.cancel_history_count AS h (profile, booked, cancelled)
    VALUES (prof, 1, (NEW.state = 'cancelled')::int)
    ON CONFLICT (profile) DO UPDATE SET booked = h.booked + 1, cancelled = h.cancelled + excluded.cancelled;
    IF NEW.state = 'cancelled' THEN
        -- How long before its first departure it was cancelled, in the market's bands. Sooner
        -- than every band (e.g. after departure, or the admin kept no band below 72 h): 0, so a
        -- late cancellation is never counted as an early one whatever bands the market has
        -- (the history is owner-only: nobody could correct it). No band at all, no count.
        lead := extract(epoch FROM hublink.removal_first_departure(NEW.removal_id) - now()) / 3600;
        SELECT CASE WHEN count(*) > 0 THEN coalesce(max(m.hours_before) FILTER (WHERE m.hours_before <= lead), 0) END
          INTO band FROM hublink.booking_market m;
        IF band IS NOT NULL THEN
            INSERT INTO hublink.cancel_history_lead AS l (profile, hours_before, cancelled)
            VALUES (prof, band, 1)
            ON CONFLICT (profile, hours_before) DO UPDATE SET cancelled = l.cancelled + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_history_on_close() IS
    'Trigger on hublink.removal at the Hub: a removal that reaches completed or cancelled after its '
    'travel booking was accepted, or after the Hub advised holding its booking (hublink.booking_hold), '
    'counts once in hublink.cancel_history_count under its profile; a cancelled one also counts in '
    'hublink.cancel_history_lead, in the band of how long before its first departure '
    '(hublink.removal_first_departure) it was cancelled (sooner than every band: 0).';
REVOKE ALL ON FUNCTION hublink.cancel_history_on_close() FROM PUBLIC;
CREATE TRIGGER cancel_history_on_close AFTER UPDATE OF state ON hublink.removal
    FOR EACH ROW WHEN (NEW.state IN ('completed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION hublink.cancel_history_on_close();
COMMENT ON TRIGGER cancel_history_on_close ON hublink.removal IS
    'Counts a closed, booked removal in hublink.cancel_history_count (the cancellation estimate''s history).';

CREATE FUNCTION hublink.cancel_history()
    RETURNS TABLE (profile text[], booked bigint, cancelled bigint)
    LANGUAGE sql STABLE SECURITY DEFINER ROWS 8
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        SELECT h.profile, h.booked, h.cancelled FROM hublink.cancel_history_count h;
    END;
COMMENT ON FUNCTION hublink.cancel_history() IS
    'The Hub''s history for the cancellation estimate (hublink.cancel_history_count): per profile, '
    'the closed removals whose travel was booked and how many were cancelled. Aggregates only; '
    'SECURITY DEFINER so the estimate is the same whoever ranks.';
REVOKE ALL ON FUNCTION hublink.cancel_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_history() TO hublink_caseworker, hublink_admin;

-- The estimate: the cancellation rate after booking among the Hub's closed removals with the
-- same profile, shrunk toward the global rate, itself shrunk toward the prior.
CREATE FUNCTION hublink.removal_cancel_probability(p_removal_id bigint) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT * FROM hublink.cancel_estimate_config),
        mine AS (SELECT coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                                   WHERE f.removal_id = p_removal_id), '{}') AS profile),
        hist AS (SELECT * FROM hublink.cancel_history()),
        g AS (SELECT (coalesce(sum(h.cancelled), 0) + cfg.prior_weight * cfg.prior_probability)
                     / (coalesce(sum(h.booked), 0) + cfg.prior_weight) AS p
                FROM cfg LEFT JOIN hist h ON true GROUP BY cfg.prior_weight, cfg.prior_probability),
        s AS (SELECT coalesce(sum(h.booked), 0) AS n, coalesce(sum(h.cancelled), 0) AS c
                FROM mine LEFT JOIN hist h ON h.profile = mine.profile)
        SELECT round(least(cfg.max_probability, greatest(cfg.min_probability,
                     (s.c + cfg.prior_weight * g.p) / (s.n + cfg.prior_weight))), 4)
          FROM cfg, g, s;
    END;
COMMENT ON FUNCTION hublink.removal_cancel_probability(bigint) IS
    'The Hub''s estimate of the chance that a removal is cancelled after booking: of the closed '
    'booked removals with the same recorded factors (hublink.cancel_history), c cancelled of n, '
    '(c + w x G) / (n + w), where G = (C + w x prior) / (N + w) over all N of them, w = '
    'prior_weight; bounded by min_probability and max_probability (hublink.cancel_estimate_config), '
    'rounded to 4 places. The removal itself counts once it is closed.';

CREATE FUNCTION hublink.record_cancel_factors(removal_reference text, factors text[])
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r   hublink.removal;
    bad text[];
    n   integer;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT array_agg(x) INTO bad FROM unnest(factors) x
     WHERE x IS NULL OR NOT EXISTS (SELECT FROM hublink.cancel_factor f WHERE f.code = x);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown cancellation factor %', array_to_string(bad, ', ', 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nothing was recorded.',
                  HINT = 'SELECT code, description FROM hublink.cancel_factor lists the factors.';
    END IF;
    INSERT INTO hublink.removal_cancel_factor (removal_id, factor, recorded_by)
    SELECT DISTINCT r.removal_id, x, hublink.acting_login() FROM unnest(factors) x
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.record_cancel_factors(text, text[]) IS
    'Records cancellation factors of a removal (hublink.cancel_factor codes; already recorded ones '
    'are kept as they were). Returns how many were new. The caseworker records facts of the case, '
    'never the estimate: hublink.removal_cancel_probability makes it from the history.';
REVOKE ALL ON FUNCTION hublink.record_cancel_factors(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.record_cancel_factors(text, text[]) TO hublink_caseworker;

-- The ranking's tie-break reads every segment of each quote (current or not), and the cascade
-- from a purged travel_quote deletes them all: the partial index itinerary_segment_quote
-- (current only) serves neither, so each quote cost a scan of the whole table, which grows
-- with every quote the Hub ever received. The soak found it: removal_quotes took 1 s for one
-- removal at 22,000 segments, and the quote-expiry trigger then ran it once per quote inserted
-- (docs/simulation.md "Soak"; since, once per response: hublink.timer_on_travel_quote).
CREATE INDEX itinerary_segment_travel_quote ON hublink.itinerary_segment (travel_quote_id);
COMMENT ON INDEX hublink.itinerary_segment_travel_quote IS
    'Every segment of a quote, current or not (the ranking''s tie-break, the cascade from travel_quote).';

CREATE FUNCTION hublink.removal_quotes(removal_reference text)
    RETURNS TABLE (rank bigint, travel_quote_reference text, escort_quote_reference text,
                   escort_date date, departs_at timestamptz, travel_amount numeric,
                   escort_amount numeric, total_amount numeric, expected_total numeric,
                   currency char(3), refundable boolean, expires_at timestamptz,
                   cancel_probability numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    -- No JIT: the estimate's functions lift the plan's cost estimate over jit_above_cost, and
    -- compiling it took 2 to 3 s per call on a busy machine (the simulation's worker stalled
    -- on it); the query itself takes milliseconds.
    SET jit = off
    BEGIN ATOMIC
        -- Best value is the expected cost (issue 5), re-priced with the Hub's own estimate of
        -- this removal's chance of cancellation (issue 17, hublink.removal_cancel_probability):
        -- the TSP's expected cost is price + P_tsp x loss, so the loss is (expected - price) /
        -- P_tsp (cancel_estimate_config.provider_probability) and the Hub's expected cost is
        -- price + P_removal x loss; a quote without an expected cost counts its price. The
        -- estimate is computed once per call, not once per quote: a MATERIALIZED CTE. As a
        -- subquery in FROM the planner pulled it up, and the function call went into every
        -- expression that used it (twice per quote), or, fenced, was rescanned per quote; with
        -- 40 quotes that was 80 estimates, most of a ranking's time.
        WITH p AS MATERIALIZED (
            SELECT hublink.removal_cancel_probability(
                       (SELECT x.removal_id FROM hublink.removal x
                         WHERE x.removal_reference = removal_quotes.removal_reference)) AS p,
                   c.provider_probability AS p_tsp
              FROM hublink.cancel_estimate_config c)
        SELECT rank() OVER (ORDER BY coalesce(round(t.total_amount + p.p * greatest(t.expected_amount - t.total_amount, 0)
                                                                    / p.p_tsp, 2), t.total_amount)
                                     + coalesce(e.total_amount, 0),
                                     (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                                       WHERE s.travel_quote_id = t.travel_quote_id)),
               t.travel_quote_reference, t.escort_quote_reference, e.escort_date,
               (SELECT min(s.start_time) FROM hublink.itinerary_segment s
                 WHERE s.travel_quote_id = t.travel_quote_id AND s.current),
               t.total_amount, e.total_amount, t.total_amount + coalesce(e.total_amount, 0),
               coalesce(round(t.total_amount + p.p * greatest(t.expected_amount - t.total_amount, 0) / p.p_tsp, 2),
                        t.total_amount) + coalesce(e.total_amount, 0), t.currency,
               t.refundable, t.expires_at, p.p
          FROM hublink.removal r
          JOIN hublink.travel_quote t ON t.removal_id = r.removal_id AND NOT t.superseded
          LEFT JOIN hublink.escort_quote e ON e.removal_id = r.removal_id
                                          AND e.escort_quote_reference = t.escort_quote_reference
         CROSS JOIN p
         WHERE r.removal_reference = removal_quotes.removal_reference
           AND (t.expires_at IS NULL OR t.expires_at > now())
           -- 4.18: a quote asked for before the latest risk assessment was priced on another
           -- risk profile (escorts, flags the provider saw): re-quote (Appendix A 4.5).
           AND NOT EXISTS (
                SELECT FROM hublink.returnee x
                  JOIN hublink.risk_assessment a ON a.returnee_id = x.returnee_id AND a.audience = 'hub' AND a.current
                 WHERE x.removal_id = r.removal_id
                   AND (a.assessed_at > (SELECT max(h.at) FROM hublink.state_transition h
                                          WHERE h.removal_id = r.removal_id AND h.event = 'TravelQuoteRequest')
                        OR (t.escort_quote_reference IS NOT NULL
                            AND a.assessed_at > (SELECT max(h.at) FROM hublink.state_transition h
                                                  WHERE h.removal_id = r.removal_id AND h.event = 'EscortQuoteRequest'))))
           AND (t.escort_quote_reference IS NULL OR NOT e.superseded)
           AND (e.currency IS NULL OR e.currency = t.currency)
         ORDER BY 1, 2;
    END;
COMMENT ON FUNCTION hublink.removal_quotes(text) IS
    'The quotes that can be booked, travel quotes joined to their escort quote, ranked by best '
    'value: lowest expected total (the travel price plus the Hub''s estimate of this removal''s '
    'chance of cancellation, cancel_probability from hublink.removal_cancel_probability, times '
    'the quote''s loss on cancellation as the TSP''s expected cost states it; a quote without one '
    'counts its price; plus the escort quote), then earliest departure. Superseded and expired '
    'quotes are left out, and so are quotes asked for before the latest risk assessment of a '
    'returnee (hublink.set_risk, 4.18: re-quote).';

-- The share of a profile's cancellations that came at least p_hours before the first
-- departure (hublink.cancel_history_lead), shrunk toward the share over all profiles, itself
-- shrunk toward 0 with prior_weight: with no history, no cancellation is assumed to come early,
-- and holding a booking is never worth it on evidence the Hub does not have.
CREATE FUNCTION hublink.cancel_lead_share(p_profile text[], p_hours numeric) RETURNS numeric
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH cfg AS (SELECT c.prior_weight AS w FROM hublink.cancel_estimate_config c),
        a AS (SELECT coalesce(sum(l.cancelled), 0) AS n,
                     coalesce(sum(l.cancelled) FILTER (WHERE l.hours_before >= p_hours), 0) AS ge
                FROM hublink.cancel_history_lead l),
        m AS (SELECT coalesce(sum(l.cancelled), 0) AS n,
                     coalesce(sum(l.cancelled) FILTER (WHERE l.hours_before >= p_hours), 0) AS ge
                FROM hublink.cancel_history_lead l WHERE l.profile = p_profile)
        SELECT round(least(1, greatest(0, (m.ge + cfg.w * a.ge / (a.n + cfg.w)) / (m.n + cfg.w))), 4)
          FROM cfg, a, m;
    END;
COMMENT ON FUNCTION hublink.cancel_lead_share(text[], numeric) IS
    'Of a profile''s cancellations in hublink.cancel_history_lead, the share that came in a band at '
    'least p_hours before the first departure: (g + w x S) / (n + w), S = G / (N + w) over all '
    'profiles, w = prior_weight; 0 with no history; to 4 places. Run by hublink.plan_booking '
    '(SECURITY DEFINER); it runs with the caller''s rights.';

-- The market at h hours before departure: linear between the two bands around h, flat
-- beyond the first and the last (no rows: NULLs). Bands alone would make a week and four days
-- out look alike, and holding between them free.
CREATE FUNCTION hublink.booking_market_at(p_hours numeric, OUT fare_factor numeric, OUT sold_out numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    BEGIN ATOMIC
        WITH lo AS (SELECT m.* FROM hublink.booking_market m WHERE m.hours_before <= p_hours ORDER BY m.hours_before DESC LIMIT 1),
        hi AS (SELECT m.* FROM hublink.booking_market m WHERE m.hours_before > p_hours ORDER BY m.hours_before LIMIT 1),
        w AS (SELECT (SELECT lo.hours_before FROM lo) AS lh, (SELECT lo.fare_factor FROM lo) AS lf, (SELECT lo.sold_out FROM lo) AS ls,
                     (SELECT hi.hours_before FROM hi) AS hh, (SELECT hi.fare_factor FROM hi) AS hf, (SELECT hi.sold_out FROM hi) AS hs)
        SELECT CASE WHEN w.lh IS NULL THEN w.hf WHEN w.hh IS NULL THEN w.lf
                    ELSE w.lf + (w.hf - w.lf) * (p_hours - w.lh) / (w.hh - w.lh) END,
               CASE WHEN w.lh IS NULL THEN w.hs WHEN w.hh IS NULL THEN w.ls
                    ELSE w.ls + (w.hs - w.ls) * (p_hours - w.lh) / (w.hh - w.lh) END
          FROM w;
    END;
COMMENT ON FUNCTION hublink.booking_market_at(numeric) IS
    'The fare factor and the chance of a full flight the Hub expects at p_hours before departure '
    '(hublink.booking_market): linear between the bands around it, the nearest band''s beyond them, '
    'NULLs with no rows.';

-- When and what to book (issue 17, fourth pass): per removal, the expected money out of three
-- choices, from what the Hub knows at the time of asking:
--   P        the removal's chance of cancellation after booking (removal_cancel_probability);
--   s(h)     the share of its profile's cancellations that come at least h hours before the
--            first departure (cancel_lead_share);
--   L        hours to the first departure now; T = hold_hours_before;
--   P_now    = P (1 - s(L)) / (1 - P s(L)): not cancelled yet, so the early ones are past;
--   P_early  = P (s(T) - s(L)) / (1 - P s(L)): cancelled before T (a hold books nothing);
--   P_late   = P_now - P_early: cancelled after a booking made at T;
--   refund   = price - loss, loss = (expectedCost - price) / P_tsp (what the fare keeps);
--   rise     = fare_factor(T) / fare_factor(L) (hublink.booking_market_at).
-- Book now, quote q:   E_now  = price + escort - P_now x refund
-- Hold until T, q:     E_hold = (1 - P_early) (rise x price + escort) - P_late x rise x refund
-- The expected money out, not "price + P x loss": a cancelled booking costs what it keeps, not
-- its price plus that. Each choice takes its best quote; holding is advised when it costs less,
-- L > T, and the flight's chance of being sold out at T is within max_sold_out.
-- Booking timing: a removal likely to be cancelled is booked late. Most cancellations come days
-- before departure (a legal challenge, a release, documents); a booking made after them is never
-- made, and loses nothing. The Hub advises; the caseworker books (choose_quote is not blocked:
-- an operational reason may book earlier).
CREATE FUNCTION hublink.plan_booking(removal_reference text)
    RETURNS TABLE (cancel_probability numeric, hold boolean, book_from timestamptz,
                   travel_quote_reference text, cancel_after_now numeric, cancel_before_hold numeric,
                   expected_now numeric, expected_hold numeric)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    r       hublink.removal;
    cfg     hublink.cancel_estimate_config;
    prof    text[];
    p       numeric;
    dep     timestamptz;
    lead    numeric;
    s_now   numeric;
    s_hold  numeric;
    p_now   numeric;
    p_early numeric;
    p_late  numeric;
    f_now   numeric;
    f_hold  numeric;
    gone    numeric;
    rise    numeric;
    q_now   text;
    q_hold  text;
BEGIN
    PERFORM hublink.require_removal_access(removal_reference);
    r := hublink.removal_by_reference(removal_reference);
    SELECT * INTO cfg FROM hublink.cancel_estimate_config;
    p := hublink.removal_cancel_probability(r.removal_id);
    prof := coalesce((SELECT array_agg(f.factor ORDER BY f.factor) FROM hublink.removal_cancel_factor f
                       WHERE f.removal_id = r.removal_id), '{}');
    -- The first departure the removal can book: its earliest quoted departure still ahead, else
    -- the start of its earliest leave date (UK).
    SELECT min(q.departs_at) INTO dep FROM hublink.removal_quotes(removal_reference) q WHERE q.departs_at > now();
    dep := coalesce(dep, r.earliest_leave_date::timestamp AT TIME ZONE 'Europe/London');
    lead := extract(epoch FROM dep - now()) / 3600;
    s_now := hublink.cancel_lead_share(prof, lead);
    s_hold := greatest(hublink.cancel_lead_share(prof, cfg.hold_hours_before), s_now);
    -- Conditioned on not being cancelled yet: P (1 - s) / (1 - P s). Both P and s are rounded to
    -- 4 places, so 1 - P s can be 0 (an admin's max_probability of 1 and a history of early
    -- cancellations only): then the history says nothing about a removal still open, and the
    -- estimate is taken as it stands, with nothing known of when.
    IF 1 - p * s_now > 0 THEN
        p_now := round(p * (1 - s_now) / (1 - p * s_now), 4);
        p_early := CASE WHEN lead > cfg.hold_hours_before
                        THEN least(p_now, round(p * (s_hold - s_now) / (1 - p * s_now), 4)) ELSE 0.0000 END;
    ELSE
        p_now := p;
        p_early := 0.0000;
    END IF;
    p_late := p_now - p_early;
    -- The market now and at the hold's end.
    SELECT m.fare_factor INTO f_now FROM hublink.booking_market_at(lead) m;
    SELECT m.fare_factor, m.sold_out INTO f_hold, gone FROM hublink.booking_market_at(cfg.hold_hours_before) m;
    rise := f_hold / f_now;
    cancel_probability := p;
    cancel_after_now := p_now;
    cancel_before_hold := p_early;
    -- Each choice's best quote on the first date with a flight ahead (UK): the advice chooses the
    -- fare and the moment, not the day. E_now and E_hold as above (ties: the ranking's order).
    WITH q AS (
        SELECT x.rank, x.travel_quote_reference AS ref, x.travel_amount AS price, coalesce(x.escort_amount, 0) AS escort,
               x.travel_amount - least(x.travel_amount,
                   coalesce(greatest(t.expected_amount - t.total_amount, 0) / cfg.provider_probability, x.travel_amount)) AS refund
          FROM hublink.removal_quotes(removal_reference) x
          JOIN hublink.travel_quote t ON t.removal_id = r.removal_id AND t.travel_quote_reference = x.travel_quote_reference
         WHERE x.departs_at > now()
           AND (x.departs_at AT TIME ZONE 'Europe/London')::date = (dep AT TIME ZONE 'Europe/London')::date)
    SELECT (SELECT round(q.price + q.escort - p_now * q.refund, 2) AS e FROM q ORDER BY 1, q.rank LIMIT 1),
           (SELECT q.ref FROM q ORDER BY round(q.price + q.escort - p_now * q.refund, 2), q.rank LIMIT 1),
           (SELECT round((1 - p_early) * (rise * q.price + q.escort) - p_late * rise * q.refund, 2) FROM q
             ORDER BY 1, q.rank LIMIT 1),
           (SELECT q.ref FROM q ORDER BY round((1 - p_early) * (rise * q.price + q.escort) - p_late * rise * q.refund, 2), q.rank LIMIT 1)
      INTO expected_now, q_now, expected_hold, q_hold;
    IF NOT (lead > cfg.hold_hours_before AND gone <= cfg.max_sold_out AND p >= cfg.hold_from_probability) THEN
        expected_hold := NULL;
    END IF;
    hold := coalesce(expected_hold < expected_now, false);
    book_from := dep - make_interval(secs => cfg.hold_hours_before * 3600);
    travel_quote_reference := CASE WHEN hold THEN q_hold ELSE q_now END;
    IF hold THEN
        INSERT INTO hublink.booking_hold AS b (removal_id, cancel_probability, book_from, decided_by)
        VALUES (r.removal_id, p, book_from, hublink.acting_login())
        ON CONFLICT (removal_id) DO UPDATE
           SET cancel_probability = excluded.cancel_probability, book_from = excluded.book_from,
               decided_at = excluded.decided_at, decided_by = excluded.decided_by;
    ELSE
        book_from := least(book_from, now());
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.plan_booking(text) IS
    'What and when to book a removal: the expected money out of booking each bookable quote now '
    '(expected_now, the best of them) and of holding until hold_hours_before its first departure '
    'and booking then (expected_hold: the fare scaled by hublink.booking_market, nothing spent when '
    'the removal is cancelled before), with the Hub''s estimate (cancel_probability), conditioned '
    'on the time left (cancel_after_now; cancel_before_hold: cancelled before the hold ends) by '
    'hublink.cancel_lead_share. hold is true when holding costs less, the first departure is more '
    'than hold_hours_before away, the chance of a sold-out flight then is within max_sold_out and '
    'the estimate is at least hold_from_probability (hublink.cancel_estimate_config); the hold is '
    'recorded in hublink.booking_hold. travel_quote_reference is the quote to book (now, or the '
    'flight to ask for again at book_from). expected_hold is NULL when holding is not possible. '
    'Only quotes of the first date with a flight ahead (UK) are weighed. Advice only: choose_quote '
    'is not blocked.';
REVOKE ALL ON FUNCTION hublink.plan_booking(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.plan_booking(text) TO hublink_caseworker;
