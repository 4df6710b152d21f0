-- The MI views as they were defined before the rollup (sql/parts/86_mi_views.sql at 92a8fc3):
-- the direct computation from the source tables that test/sql/87_mi_rollup.sql compares the
-- rollup-backed hublink.mi_* views with. Temporary views, one per rewritten MI view.

CREATE TEMP VIEW ref_mi_end_to_end AS
WITH booked AS (
    SELECT s.removal_id, min(s.at) AS booked_at
      FROM hublink.state_transition s
     WHERE s.machine = 'removal' AND s.to_state = 'booked' AND s.from_state <> s.to_state
     GROUP BY s.removal_id
), last_booking AS (
    SELECT DISTINCT ON (tb.removal_id) tb.removal_id, q.travel_quote_id
      FROM hublink.travel_booking tb
      JOIN hublink.removal r ON r.removal_id = tb.removal_id AND r.state = 'completed'
      JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                 AND q.travel_quote_reference = tb.travel_quote_reference
     WHERE tb.outcome = 'ACCEPTED'
     ORDER BY tb.removal_id, tb.responded_at DESC, tb.travel_booking_id DESC
), departure AS (
    SELECT l.removal_id, min(g.start_time) AS departs_at
      FROM last_booking l
      JOIN hublink.itinerary_segment g ON g.travel_quote_id = l.travel_quote_id AND g.current
     GROUP BY l.removal_id
), journey AS (
    SELECT (date_trunc('month', r.created_at AT TIME ZONE c.time_zone))::date AS month,
           extract(epoch FROM b.booked_at - r.created_at) / 3600 AS hours_to_booked,
           extract(epoch FROM d.departs_at - r.created_at) / 3600 AS hours_to_departure
      FROM hublink.removal r
     CROSS JOIN hublink.reporting_config c
      LEFT JOIN booked b ON b.removal_id = r.removal_id
      LEFT JOIN departure d ON d.removal_id = r.removal_id
)
SELECT j.month,
       count(*) AS removal_requests,
       count(j.hours_to_booked) AS booked,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS median_hours_to_booked,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS p95_hours_to_booked,
       round(avg(j.hours_to_booked), 2) AS mean_hours_to_booked,
       count(j.hours_to_departure) AS departed,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS median_hours_to_departure,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS p95_hours_to_departure,
       round(avg(j.hours_to_departure), 2) AS mean_hours_to_departure
  FROM journey j
 GROUP BY j.month;

CREATE TEMP VIEW ref_mi_volume AS
WITH event AS (
    SELECT 'removal_requests'::text AS measure, NULL::text AS booking, NULL::text AS reason_code,
           NULL::text AS lead_time_band, r.created_at AS at
      FROM hublink.removal r
    UNION ALL
    SELECT 'quote_requests', s.machine, NULL, NULL, s.at
      FROM hublink.state_transition s
     WHERE s.machine <> 'removal' AND s.direction = 'out' AND s.event ~ 'QuoteRequest$'
    UNION ALL
    SELECT 'quotes', 'escort', NULL, NULL, p.received_at
      FROM hublink.escort_quote q JOIN hublink.escort_quote_response p USING (escort_quote_response_id)
    UNION ALL
    SELECT 'quotes', 'travel', NULL, NULL, p.received_at
      FROM hublink.travel_quote q JOIN hublink.travel_quote_response p USING (travel_quote_response_id)
    UNION ALL
    SELECT 'no_quotes', 'travel', p.no_quote_reason_code, NULL, p.received_at
      FROM hublink.travel_quote_response p
     WHERE p.no_quote_reason_code IS NOT NULL
       AND NOT EXISTS (SELECT FROM hublink.travel_quote q
                        WHERE q.travel_quote_response_id = p.travel_quote_response_id)
    UNION ALL
    SELECT 'booking_requests', 'escort', NULL, NULL, b.requested_at FROM hublink.escort_booking b
    UNION ALL
    SELECT 'booking_requests', 'travel', NULL, NULL, b.requested_at FROM hublink.travel_booking b
    UNION ALL
    SELECT CASE b.outcome WHEN 'ACCEPTED' THEN 'bookings' ELSE 'declines' END, 'escort',
           b.decline_reason_code, NULL, b.responded_at
      FROM hublink.escort_booking b WHERE b.outcome IS NOT NULL
    UNION ALL
    SELECT CASE b.outcome WHEN 'ACCEPTED' THEN 'bookings' ELSE 'declines' END, 'travel',
           b.decline_reason_code, NULL, b.responded_at
      FROM hublink.travel_booking b WHERE b.outcome IS NOT NULL
    UNION ALL
    SELECT 'amendments', a.booking, NULL, NULL, a.sent_at FROM hublink.amendment a
    UNION ALL
    SELECT 'cancellations', x.booking, x.reason_code,
           (SELECT l.band FROM hublink.lead_time_band l
             WHERE (l.from_hours IS NULL OR d.hours >= l.from_hours)
               AND (l.to_hours IS NULL OR d.hours < l.to_hours)
             ORDER BY l.from_hours NULLS FIRST LIMIT 1),
           x.cancelled_at
      FROM hublink.cancellation x
      LEFT JOIN LATERAL (
            SELECT extract(epoch FROM (SELECT min(g.start_time) FROM hublink.itinerary_segment g
                                        WHERE g.travel_quote_id = q.travel_quote_id AND g.current)
                                      - x.cancelled_at) / 3600 AS hours
              FROM hublink.travel_booking tb
              JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                         AND q.travel_quote_reference = tb.travel_quote_reference
             WHERE tb.removal_id = x.removal_id AND tb.outcome = 'ACCEPTED'
               AND tb.responded_at <= x.cancelled_at
             ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
             LIMIT 1) d ON true
    UNION ALL
    SELECT 'removals_' || s.to_state, NULL, NULL, NULL, s.at
      FROM hublink.state_transition s
     WHERE s.machine = 'removal' AND s.from_state <> s.to_state
       AND s.to_state IN (SELECT f.state FROM hublink.state_machine_states() f
                           WHERE f.machine = 'removal' AND f.terminal)
)
SELECT g.granularity,
       (date_trunc(g.granularity, e.at AT TIME ZONE c.time_zone))::date AS period_start,
       e.measure, e.booking, e.reason_code, e.lead_time_band,
       count(*) AS count
  FROM event e
 CROSS JOIN hublink.report_granularity g
 CROSS JOIN hublink.reporting_config c
 GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TEMP VIEW ref_mi_money AS
WITH item AS (
    SELECT 'ticket_spend'::text AS item, b.currency, b.total_amount AS amount, b.responded_at AS at
      FROM hublink.travel_booking b
     WHERE b.outcome = 'ACCEPTED' AND b.total_amount IS NOT NULL
    UNION ALL
    SELECT 'escort_spend', q.currency, q.total_amount, b.responded_at
      FROM hublink.escort_booking b
      JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                                 AND q.escort_quote_reference = b.escort_quote_reference
     WHERE b.outcome = 'ACCEPTED' AND q.total_amount IS NOT NULL
    UNION ALL
    SELECT f.kind, f.currency, f.amount, f.recorded_at
      FROM hublink.financial_consequence f
    UNION ALL
    SELECT 'refund_received', r.currency, r.amount, r.received_at
      FROM hublink.refund_receipt r
    UNION ALL
    -- A non-refundable fare booked and then cancelled: what was paid, less any refund the
    -- provider announced for the removal's travel, is lost.
    SELECT 'lost_non_refundable', l.currency, l.lost, x.cancelled_at
      FROM hublink.cancellation x
      JOIN LATERAL (
            SELECT tb.currency,
                   greatest(tb.total_amount
                            - coalesce((SELECT sum(f.amount) FROM hublink.financial_consequence f
                                         WHERE f.removal_id = tb.removal_id AND f.booking = 'travel'
                                           AND f.kind = 'refund' AND f.currency = tb.currency), 0),
                            0) AS lost
              FROM hublink.travel_booking tb
              JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                         AND q.travel_quote_reference = tb.travel_quote_reference
             WHERE tb.removal_id = x.removal_id AND tb.outcome = 'ACCEPTED'
               AND tb.responded_at <= x.cancelled_at AND NOT q.refundable
             ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
             LIMIT 1) l ON true
     WHERE x.booking = 'travel' AND NOT x.before_booking
), monthly AS (
    SELECT (date_trunc('month', i.at AT TIME ZONE c.time_zone))::date AS month, i.currency,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'ticket_spend'), 0)::numeric(14,2) AS ticket_spend,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'escort_spend'), 0)::numeric(14,2) AS escort_spend,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund'), 0)::numeric(14,2) AS refunds_owed,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund_received'), 0)::numeric(14,2) AS refunds_received,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'change_fee'), 0)::numeric(14,2) AS change_fees,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'cancellation_fee'), 0)::numeric(14,2) AS cancellation_fees,
           coalesce(sum(i.amount) FILTER (WHERE i.item = 'lost_non_refundable'), 0)::numeric(14,2) AS lost_non_refundable
      FROM item i
     CROSS JOIN hublink.reporting_config c
     GROUP BY 1, 2
)
SELECT m.month, m.currency, m.ticket_spend, m.escort_spend, m.refunds_owed, m.refunds_received,
       (sum(m.refunds_owed - m.refunds_received)
           OVER (PARTITION BY m.currency ORDER BY m.month))::numeric(14,2) AS refunds_outstanding,
       m.change_fees, m.cancellation_fees, m.lost_non_refundable
  FROM monthly m;

CREATE TEMP VIEW ref_mi_removal_outcome AS
WITH ended AS (
    SELECT s.removal_id, s.to_state AS outcome, min(s.at) AS at
      FROM hublink.state_transition s
     WHERE s.machine = 'removal' AND s.from_state <> s.to_state
       AND s.to_state IN (SELECT f.state FROM hublink.state_machine_states() f
                           WHERE f.machine = 'removal' AND f.terminal)
     GROUP BY 1, 2
)
SELECT (date_trunc('month', e.at AT TIME ZONE c.time_zone))::date AS month,
       count(*) FILTER (WHERE e.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE e.outcome = 'unsuccessful') AS unsuccessful,
       count(*) FILTER (WHERE e.outcome = 'cancelled') AS cancelled,
       coalesce(sum(t.tickets) FILTER (WHERE e.outcome = 'completed'), 0)::bigint AS tickets_completed,
       round(sum(t.tickets) FILTER (WHERE e.outcome = 'completed')
             / nullif(count(*) FILTER (WHERE e.outcome = 'completed'), 0), 2) AS tickets_per_completed_removal
  FROM ended e
 CROSS JOIN hublink.reporting_config c
  LEFT JOIN (SELECT k.removal_id, count(*) AS tickets FROM hublink.ticket k GROUP BY k.removal_id) t
         ON t.removal_id = e.removal_id AND e.outcome = 'completed'
 GROUP BY 1;

CREATE TEMP VIEW ref_mi_best_value AS
WITH booked AS (
    SELECT tb.responded_at, q.currency, tb.total_amount::numeric(14,2) AS booked_total,
           coalesce(q.expected_amount, q.total_amount)::numeric(14,2) AS booked_expected,
           bv.expected AS best_expected, ch.total AS cheapest_total, ch.expected AS cheapest_expected,
           q.total_amount > ch.total AS not_cheapest
      FROM hublink.travel_booking tb
      JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                 AND q.travel_quote_reference = tb.travel_quote_reference
     CROSS JOIN LATERAL (SELECT min(coalesce(s.expected_amount, s.total_amount)) AS expected
                           FROM hublink.travel_quote s
                          WHERE s.travel_quote_response_id = q.travel_quote_response_id
                            AND s.currency = q.currency) bv
     CROSS JOIN LATERAL (SELECT s.total_amount AS total, coalesce(s.expected_amount, s.total_amount) AS expected
                           FROM hublink.travel_quote s
                          WHERE s.travel_quote_response_id = q.travel_quote_response_id
                            AND s.currency = q.currency
                          ORDER BY s.total_amount, coalesce(s.expected_amount, s.total_amount)
                          LIMIT 1) ch
     WHERE tb.outcome = 'ACCEPTED'
)
SELECT (date_trunc('month', b.responded_at AT TIME ZONE c.time_zone))::date AS month,
       b.currency,
       count(*) AS bookings,
       count(*) FILTER (WHERE b.not_cheapest) AS bookings_not_cheapest,
       sum(b.booked_total)::numeric(14,2) AS booked_total,
       sum(b.booked_expected)::numeric(14,2) AS booked_expected,
       sum(b.best_expected)::numeric(14,2) AS best_value_expected,
       sum(b.cheapest_total)::numeric(14,2) AS cheapest_fare_total,
       sum(b.cheapest_expected)::numeric(14,2) AS cheapest_fare_expected,
       sum(b.cheapest_expected - b.best_expected)::numeric(14,2) AS expected_saving
  FROM booked b
 CROSS JOIN hublink.reporting_config c
 GROUP BY 1, 2;

CREATE TEMP VIEW ref_mi_escorting AS
WITH booking AS (
    SELECT b.responded_at, n.returnees, p.escorts,
           extract(epoch FROM s.starts - b.requested_at) / 3600 AS lead_hours
      FROM hublink.escort_booking b
      JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                                 AND q.escort_quote_reference = b.escort_quote_reference
     CROSS JOIN LATERAL (SELECT count(*) AS returnees FROM hublink.returnee t
                          WHERE t.removal_id = b.removal_id) n
     CROSS JOIN LATERAL (SELECT count(*) AS escorts FROM hublink.escort_position e
                          WHERE e.escort_quote_response_id = q.escort_quote_response_id) p
     CROSS JOIN LATERAL (SELECT min(g.planned_start) AS starts FROM hublink.escort_segment g
                          WHERE g.removal_id = b.removal_id AND g.current) s
     WHERE b.outcome = 'ACCEPTED'
)
SELECT (date_trunc('month', x.responded_at AT TIME ZONE c.time_zone))::date AS month,
       count(*) AS escort_bookings,
       sum(x.returnees)::bigint AS returnees,
       sum(x.escorts)::bigint AS escorts,
       round(sum(x.escorts)::numeric / nullif(sum(x.returnees), 0), 2) AS escorts_per_returnee,
       count(x.lead_hours) AS with_start,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.lead_hours)::numeric, 2) AS median_lead_hours,
       round(min(x.lead_hours), 2) AS min_lead_hours
  FROM booking x
 CROSS JOIN hublink.reporting_config c
 GROUP BY 1;

-- hublink.mi_sla_compliance as it was before its rollup (sql/parts/86_mi_views.sql at d1de68c).
CREATE TEMP VIEW ref_mi_sla_compliance AS
WITH pairing AS (
    SELECT a.request_type, string_agg(DISTINCT a.answer_type, ' ') AS response_type
      FROM hublink.timer_answer a
     GROUP BY a.request_type
), request AS (
    SELECT o.message_type AS request_type, p.response_type, g.provider, g.fire_offset AS target,
           o.sent_at,
           (date_trunc('month', o.sent_at AT TIME ZONE c.time_zone))::date AS month,
           a.answered_at
      FROM pairing p
      JOIN hublink.message_type m ON m.message_type = p.request_type
      JOIN hublink.outbox o ON o.message_type = p.request_type AND o.sent_at IS NOT NULL
     CROSS JOIN hublink.reporting_config c
     CROSS JOIN LATERAL (
           SELECT coalesce(nullif(m.receiver_party, 'hub'), nullif(m.sender_party, 'hub')) AS provider) v
     -- the rule of hublink.timer_rule_for: lateral, once per request
     CROSS JOIN LATERAL (
           SELECT v.provider, r.fire_offset, r.enabled
             FROM hublink.timer_rule r
            WHERE r.kind = 'response_sla'
              AND (r.message_type IS NULL OR r.message_type = o.message_type)
              AND (r.provider IS NULL OR r.provider = v.provider)
              AND (r.destination IS NULL
                   OR r.destination = (SELECT d.destination ->> 'country' FROM hublink.removal d
                                        WHERE d.removal_reference = o.removal_id))
            ORDER BY r.destination IS NULL, r.provider IS NULL, r.message_type IS NULL
            LIMIT 1) g
     -- a lateral join, not a scalar subquery: the answer is looked up once per request, however
     -- many aggregates read it
     CROSS JOIN LATERAL (
           SELECT min(i.enqueued_at) AS answered_at
             FROM hublink.timer_answer x
             JOIN hublink.inbox i ON i.removal_id = o.removal_id AND i.message_type = x.answer_type
                                 AND i.status <> 'rejected'
                                 AND i.enqueued_at >= date_trunc('second', o.sent_at)
            WHERE x.request_type = o.message_type
              AND (x.answer_event = x.answer_type || '%'
                   OR EXISTS (SELECT FROM hublink.state_transition s
                               WHERE s.message_id = i.message_id AND s.event LIKE x.answer_event))) a
     WHERE g.enabled
), timed AS (
    SELECT r.*,
           CASE WHEN r.answered_at IS NOT NULL
                THEN greatest(extract(epoch FROM r.answered_at - r.sent_at), 0) END AS seconds,
           round(extract(epoch FROM r.target), 3) AS target_seconds
      FROM request r
)
SELECT x.month, x.request_type, x.response_type, x.provider,
       x.target_seconds,
       count(*) AS requests,
       count(x.answered_at) AS answered,
       count(*) FILTER (WHERE x.answered_at IS NULL) AS unanswered,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS median_response_seconds,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS p95_response_seconds,
       round(max(x.seconds), 3) AS max_response_seconds,
       count(*) FILTER (WHERE x.seconds > x.target_seconds) AS late_responses,
       count(*) FILTER (WHERE x.answered_at IS NULL AND now() - x.sent_at > x.target) AS open_breaches,
       count(*) FILTER (WHERE x.seconds > x.target_seconds
                           OR (x.answered_at IS NULL AND now() - x.sent_at > x.target)) AS breaches,
       round(100.0 * count(*) FILTER (WHERE x.seconds <= x.target_seconds)
             / nullif(count(*) FILTER (WHERE x.answered_at IS NOT NULL OR now() - x.sent_at > x.target), 0),
             2) AS within_target_percent
  FROM timed x
 GROUP BY GROUPING SETS ((x.request_type, x.response_type, x.provider, x.target_seconds),
                         (x.month, x.request_type, x.response_type, x.provider, x.target_seconds));
