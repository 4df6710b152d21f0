-- The MI rollup (issue 7 section 4, the one-second aim of test/bench/mi; docs/mi.md "The
-- rollup"): the MI views of 86_mi_views.sql read per-day and per-month aggregates for the days
-- a worker job has folded, and compute the rest live from the source tables, so that a view
-- reads ten years of history as a few thousand rows and its answer is still exactly the live
-- computation.
--
--   * hublink.rollup_mi_state: up to which day the rollup is folded (folded_until), in which
--     time zone and with which lead-time bands (the configuration the figures depend on);
--   * hublink.rollup_mi_dirty_day: days already folded whose source rows changed since (a late
--     message, an update, a delete): statement triggers on every source table mark them, and
--     the views compute them live until the job folds them again;
--   * hublink.rollup_mi_<view>_* views: the live definitions, one row per event / booking /
--     removal with the instant that decides its period (the facts), and the live aggregates of
--     the days or months the rollup does not cover (the *_live views);
--   * hublink.rollup_mi_fold(): the job; it folds ended days from the watermark and re-folds
--     the marked ones. It stores what the *_live views compute, so both can never differ.
--
-- Nothing here holds personal data: counts, sums and percentiles per day or month. The tables
-- and views are of access class own_grants (91_access_policy.sql): no role but the owner reads
-- them; reporting reads them through the mi_* views, with the owner's rights.

CREATE TABLE hublink.rollup_mi_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone    text,
    config       text,
    folded_until date,
    horizon_at   timestamptz,
    horizon_xmax xid8
);
COMMENT ON TABLE hublink.rollup_mi_state IS
    'One row: how far the MI rollup is folded (docs/mi.md "The rollup"). Written only by '
    'hublink.rollup_mi_fold().';
COMMENT ON COLUMN hublink.rollup_mi_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.rollup_mi_state.time_zone IS
    'hublink.reporting_config.time_zone when the rollup was folded; another one makes the views '
    'ignore the rollup until the job rebuilds it.';
COMMENT ON COLUMN hublink.rollup_mi_state.config IS
    'The rest of the configuration the folded figures depend on (the lead-time bands, as text), '
    'compared like time_zone.';
COMMENT ON COLUMN hublink.rollup_mi_state.folded_until IS
    'Days before this one (reporting time zone) are folded; NULL: nothing is.';
COMMENT ON COLUMN hublink.rollup_mi_state.horizon_at IS
    'When the job last looked at the clock: a day that had ended by then is folded once every '
    'transaction running then has ended (horizon_xmax).';
COMMENT ON COLUMN hublink.rollup_mi_state.horizon_xmax IS
    'pg_snapshot_xmax just after horizon_at: when the oldest running transaction is newer, '
    'every row written for the days ended by horizon_at is committed or marked.';
INSERT INTO hublink.rollup_mi_state DEFAULT VALUES;

CREATE TABLE hublink.rollup_mi_dirty_day (
    day     date NOT NULL,
    claimed boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE hublink.rollup_mi_dirty_day IS
    'Days (reporting time zone) whose source rows changed after the day ended: the MI views '
    'compute them (and their months) live instead of reading the rollup, until '
    'hublink.rollup_mi_fold() folds them again. Duplicates are allowed (no writer waits for '
    'another).';
COMMENT ON COLUMN hublink.rollup_mi_dirty_day.day IS 'The day.';
COMMENT ON COLUMN hublink.rollup_mi_dirty_day.claimed IS
    'Set by the fold that is re-folding the day, which deletes the claimed marks when it is done; '
    'a mark written during the fold stays unclaimed, so the day stays live.';
CREATE INDEX rollup_mi_dirty_day_day ON hublink.rollup_mi_dirty_day (day);

CREATE TABLE hublink.rollup_mi_volume_day (
    day            date NOT NULL,
    measure        text NOT NULL,
    booking        text,
    reason_code    text,
    lead_time_band text,
    count          bigint NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_volume_day IS
    'hublink.mi_volume folded per day: the events of each day counted by measure, booking, reason '
    'and band (hublink.rollup_mi_volume_live for the folded days).';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.day IS 'The day (reporting time zone).';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_day.count IS 'How many that day.';
CREATE INDEX rollup_mi_volume_day_day ON hublink.rollup_mi_volume_day (day);

CREATE TABLE hublink.rollup_mi_volume_period (
    granularity    text NOT NULL,
    period_start   date NOT NULL,
    measure        text NOT NULL,
    booking        text,
    reason_code    text,
    lead_time_band text,
    count          bigint NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_volume_period IS
    'hublink.mi_volume folded per period longer than a day (weeks, months: hublink.rollup_mi_granularity), '
    'for the periods whose every day is folded: the sums of hublink.rollup_mi_volume_day.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.granularity IS 'As hublink.mi_volume.granularity.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.period_start IS 'As hublink.mi_volume.period_start.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_period.count IS 'How many in the period.';
CREATE INDEX rollup_mi_volume_period_start ON hublink.rollup_mi_volume_period (granularity, period_start);

-- --- the reporting window: what is folded, and what the views compute live --------------------
-- A field of a day or less gives every day a period of its own, dated the day (the date of a
-- finer period is its day's): mi_volume's rows for it are the day's rows. Longer ones are
-- summed. The probe is a mid-week, mid-month afternoon: it truncates to its own day only for
-- fields of a day or less.
CREATE VIEW hublink.rollup_mi_granularity AS
SELECT g.granularity,
       date_trunc(g.granularity, timestamp '2001-02-14 12:00') >= timestamp '2001-02-14' AS daily
  FROM hublink.report_granularity g;
COMMENT ON VIEW hublink.rollup_mi_granularity IS
    'The periods of hublink.mi_volume (hublink.report_granularity), and whether each is a day or less.';
COMMENT ON COLUMN hublink.rollup_mi_granularity.granularity IS 'The date_trunc field.';
COMMENT ON COLUMN hublink.rollup_mi_granularity.daily IS 'True for a day or less: the period of an event is its day.';

-- The configuration the folded figures depend on besides the time zone.
-- The SLA rules (which answers stop which requests, the response_sla targets, the parties of
-- the request types) decide hublink.mi_sla_compliance's groups and targets.
CREATE VIEW hublink.rollup_mi_config AS
SELECT c.time_zone,
       (SELECT string_agg(l::text, ';' ORDER BY l.band) FROM hublink.lead_time_band l)
       || ' ' || (SELECT string_agg(g.granularity, ';' ORDER BY g.granularity) FROM hublink.report_granularity g)
       || ' ' || coalesce((SELECT string_agg(a::text, ';' ORDER BY a.request_type, a.answer_event)
                             FROM hublink.timer_answer a), '')
       || ' ' || coalesce((SELECT string_agg(format('%s %s %s %s %s %s', r.message_type, r.provider, r.destination,
                                                    r.fire_offset, r.enabled, r.timer_rule_id), ';'
                                             ORDER BY r.timer_rule_id)
                             FROM hublink.timer_rule r WHERE r.kind = 'response_sla'), '')
       || ' ' || coalesce((SELECT string_agg(format('%s %s %s', m.message_type, m.sender_party, m.receiver_party), ';'
                                             ORDER BY m.message_type)
                             FROM hublink.message_type m
                            WHERE m.message_type IN (SELECT a.request_type FROM hublink.timer_answer a)), '')
       AS config
  FROM hublink.reporting_config c;
COMMENT ON VIEW hublink.rollup_mi_config IS
    'The configuration the MI rollup depends on now: the reporting time zone, the lead-time '
    'bands, the granularities and the response SLA rules (as text).';
COMMENT ON COLUMN hublink.rollup_mi_config.time_zone IS 'hublink.reporting_config.time_zone.';
COMMENT ON COLUMN hublink.rollup_mi_config.config IS
    'The lead-time bands, the granularities, hublink.timer_answer, the response_sla rules of '
    'hublink.timer_rule and the parties of the request types, as text.';

CREATE VIEW hublink.rollup_mi_window AS
SELECT c.time_zone,
       CASE WHEN s.time_zone = c.time_zone AND s.config = c.config THEN s.folded_until END AS folded_until,
       CASE WHEN s.time_zone = c.time_zone AND s.config = c.config
            THEN date_trunc('month', s.folded_until::timestamp)::date END AS months_until
  FROM hublink.rollup_mi_config c CROSS JOIN hublink.rollup_mi_state s;
COMMENT ON VIEW hublink.rollup_mi_window IS
    'One row: the days and months the MI rollup may be read for (before folded_until and '
    'months_until, less the dirty ones); NULL when nothing is folded or the configuration changed.';
COMMENT ON COLUMN hublink.rollup_mi_window.time_zone IS 'The reporting time zone.';
COMMENT ON COLUMN hublink.rollup_mi_window.folded_until IS 'Days before this one are folded.';
COMMENT ON COLUMN hublink.rollup_mi_window.months_until IS 'Months before this one are folded (whole months).';

CREATE VIEW hublink.rollup_mi_live_day AS
SELECT DISTINCT d.day
  FROM hublink.rollup_mi_dirty_day d CROSS JOIN hublink.rollup_mi_window w
 WHERE d.day < w.folded_until;
COMMENT ON VIEW hublink.rollup_mi_live_day IS 'Folded days that the MI views compute live (marked dirty).';
COMMENT ON COLUMN hublink.rollup_mi_live_day.day IS 'The day.';

CREATE VIEW hublink.rollup_mi_live_month AS
SELECT DISTINCT date_trunc('month', d.day::timestamp)::date AS month
  FROM hublink.rollup_mi_live_day d;
COMMENT ON VIEW hublink.rollup_mi_live_month IS 'Folded months that the MI views compute live (a dirty day in them).';
COMMENT ON COLUMN hublink.rollup_mi_live_month.month IS 'First day of the month.';

-- The instants [lo, hi) whose events the views compute live: the dirty days (or months) and
-- everything from the watermark on (from -infinity when nothing is folded).
CREATE VIEW hublink.rollup_mi_live_range_day AS
SELECT coalesce(w.folded_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT d.day::timestamp AT TIME ZONE w.time_zone, (d.day + 1)::timestamp AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_live_day d CROSS JOIN hublink.rollup_mi_window w;
COMMENT ON VIEW hublink.rollup_mi_live_range_day IS
    'The instants the day-based MI rollup does not cover: the dirty days and the days from the watermark on.';
COMMENT ON COLUMN hublink.rollup_mi_live_range_day.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_live_range_day.hi IS 'To (exclusive).';

CREATE VIEW hublink.rollup_mi_live_range_month AS
SELECT coalesce(w.months_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT m.month::timestamp AT TIME ZONE w.time_zone, (m.month + interval '1 month') AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_live_month m CROSS JOIN hublink.rollup_mi_window w
 WHERE m.month < w.months_until;
COMMENT ON VIEW hublink.rollup_mi_live_range_month IS
    'The instants the month-based MI rollups do not cover: the months with a dirty day and the '
    'months from the watermark''s on.';
COMMENT ON COLUMN hublink.rollup_mi_live_range_month.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_live_range_month.hi IS 'To (exclusive).';

-- Indexes that find the events of a range of instants (the live part of every view).
CREATE INDEX removal_mi_created ON hublink.removal (created_at);
CREATE INDEX state_transition_mi_at ON hublink.state_transition (at);
CREATE INDEX escort_quote_response_mi_received ON hublink.escort_quote_response (received_at);
CREATE INDEX travel_quote_response_mi_received ON hublink.travel_quote_response (received_at);
CREATE INDEX escort_booking_mi_requested ON hublink.escort_booking (requested_at);
CREATE INDEX escort_booking_mi_responded ON hublink.escort_booking (responded_at);
CREATE INDEX travel_booking_mi_requested ON hublink.travel_booking (requested_at);
CREATE INDEX travel_booking_mi_responded ON hublink.travel_booking (responded_at);
CREATE INDEX amendment_mi_sent ON hublink.amendment (sent_at);
CREATE INDEX cancellation_mi_cancelled ON hublink.cancellation (cancelled_at);
CREATE INDEX cancellation_mi_removal ON hublink.cancellation (removal_id);
CREATE INDEX financial_consequence_mi_recorded ON hublink.financial_consequence (recorded_at);
CREATE INDEX refund_receipt_mi_received ON hublink.refund_receipt (received_at);
CREATE INDEX escort_quote_mi_response ON hublink.escort_quote (escort_quote_response_id);
COMMENT ON INDEX hublink.removal_mi_created IS 'MI rollup: removals created in a range of instants.';
COMMENT ON INDEX hublink.state_transition_mi_at IS 'MI rollup: transitions in a range of instants.';
COMMENT ON INDEX hublink.escort_quote_response_mi_received IS 'MI rollup: escort quotes received in a range.';
COMMENT ON INDEX hublink.travel_quote_response_mi_received IS 'MI rollup: travel quotes received in a range.';
COMMENT ON INDEX hublink.escort_booking_mi_requested IS 'MI rollup: escort booking requests in a range.';
COMMENT ON INDEX hublink.escort_booking_mi_responded IS 'MI rollup: escort booking responses in a range.';
COMMENT ON INDEX hublink.travel_booking_mi_requested IS 'MI rollup: travel booking requests in a range.';
COMMENT ON INDEX hublink.travel_booking_mi_responded IS 'MI rollup: travel booking responses in a range.';
COMMENT ON INDEX hublink.amendment_mi_sent IS 'MI rollup: amendments sent in a range.';
COMMENT ON INDEX hublink.cancellation_mi_cancelled IS 'MI rollup: cancellations in a range.';
COMMENT ON INDEX hublink.cancellation_mi_removal IS 'MI rollup: the cancellations of a removal (the days a change to it touches).';
COMMENT ON INDEX hublink.financial_consequence_mi_recorded IS 'MI rollup: refunds and fees announced in a range.';
COMMENT ON INDEX hublink.refund_receipt_mi_received IS 'MI rollup: refunds received in a range.';
COMMENT ON INDEX hublink.escort_quote_mi_response IS
    'MI rollup: the escort quotes of the responses received in a range (without it, every live day '
    'of hublink.mi_volume read the whole table).';
