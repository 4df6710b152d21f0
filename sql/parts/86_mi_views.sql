-- The MI views (issue 7, section 2; docs/mi.md documents every column). Rules:
--   * names hublink.mi_*: the reporting role is granted SELECT on exactly these views;
--   * plain views (not security_invoker), owned by the extension owner, calling no function
--     that reads a table, so they work for a role that cannot read the base tables;
--   * no personal data: no column of a table or column whose COMMENT starts "PERSONAL DATA:"
--     is read (test/sql/85_mi_views.sql checks the dependencies);
--   * periods are calendar days, ISO weeks and months of hublink.reporting_config.time_zone,
--     given as a date; instants are timestamptz; durations are numeric seconds or hours;
--     money is numeric with its currency.

-- --- SLA compliance (Appendix D) ---------------------------------------------------------------
-- One source with the timers (docs/timers.md): a request has an SLA when hublink.timer_answer
-- names its type; its target is the fire_offset of the response_sla rule that
-- hublink.timer_rule_for would choose for it (most specific by destination, then provider, then
-- message type; none, or a disabled one, means no SLA), written out here because an MI view
-- calls no function that reads a table (test/sql/85_mi_views.sql checks that they agree). The
-- removal's destination is looked up only for destination rules, so without them the view
-- reads no removal row. A request is on its queue when the broker confirmed it
-- (hublink.outbox.sent_at); its response is the first message of the Hub's inbox, not
-- rejected, for the same removal, enqueued (hublink.inbox.enqueued_at, the AMQP timestamp in
-- whole seconds) not before the request's second, whose event matches an answer_event of the
-- request type, as the timer's cancel does. The event is the one the state machine recorded for
-- the message (hublink.state_transition; the inbox keeps only the envelope, the body is sealed),
-- looked up only for patterns narrower than every event of the answer type (an amendment's
-- outcome among the updates). A request sent twice before one response is answered by it twice.
-- The facts, one row per request: its type, response type, provider, target, when it was put on
-- its queue and when it was answered. The rollup (85_mi_rollup.sql) folds them per month of
-- the request: the month rows, and how many answered requests took each exact time (the
-- histogram the whole-history percentiles are read from); the view computes the rest live.
CREATE VIEW hublink.rollup_mi_sla_request AS
WITH pairing AS (
    SELECT a.request_type, string_agg(DISTINCT a.answer_type, ' ') AS response_type
      FROM hublink.timer_answer a
     GROUP BY a.request_type
)
SELECT o.message_type AS request_type, p.response_type, g.provider, g.fire_offset AS target,
       round(extract(epoch FROM g.fire_offset), 3) AS target_seconds,
       o.sent_at, a.answered_at,
       CASE WHEN a.answered_at IS NOT NULL
            THEN greatest(extract(epoch FROM a.answered_at - o.sent_at), 0) END AS seconds
  FROM pairing p
  JOIN hublink.message_type m ON m.message_type = p.request_type
  JOIN hublink.outbox o ON o.message_type = p.request_type AND o.sent_at IS NOT NULL
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
 WHERE g.enabled;
COMMENT ON VIEW hublink.rollup_mi_sla_request IS
    'Every request with a response SLA, with its answer (the live definition of hublink.mi_sla_compliance).';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.target IS 'The target, as the timer rule''s fire_offset.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.sent_at IS 'When the request was confirmed on its queue (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.answered_at IS 'When its answer was enqueued; NULL: unanswered.';
COMMENT ON COLUMN hublink.rollup_mi_sla_request.seconds IS 'Seconds from the request to its answer; NULL: unanswered.';

-- The folded months that are computed live: those with a dirty day, and those with a request
-- still unanswered and not yet past its target (whose open breaches the clock still changes:
-- once every unanswered request of a month is past its target, they are all open breaches).
CREATE TABLE hublink.rollup_mi_sla_compliance_month (
    month                   date,
    request_type            text,
    response_type           text,
    provider                text,
    target_seconds          numeric,
    requests                bigint,
    answered                bigint,
    unanswered              bigint,
    median_response_seconds numeric,
    p95_response_seconds    numeric,
    max_response_seconds    numeric,
    late_responses          bigint,
    open_breaches           bigint,
    settled_at              timestamptz
);

CREATE VIEW hublink.rollup_mi_sla_live_month AS
SELECT m.month FROM hublink.rollup_mi_live_month m CROSS JOIN hublink.rollup_mi_window w
 WHERE m.month < w.months_until
UNION
SELECT r.month FROM hublink.rollup_mi_sla_compliance_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.settled_at >= now();
COMMENT ON VIEW hublink.rollup_mi_sla_live_month IS
    'Folded months that hublink.mi_sla_compliance computes live: a dirty day in them, or a request '
    'unanswered and not yet past its target.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_month.month IS 'First day of the month.';

CREATE VIEW hublink.rollup_mi_sla_live_range AS
SELECT coalesce(w.months_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT m.month::timestamp AT TIME ZONE w.time_zone, (m.month + interval '1 month') AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_sla_live_month m CROSS JOIN hublink.rollup_mi_window w;
COMMENT ON VIEW hublink.rollup_mi_sla_live_range IS
    'The instants whose requests hublink.mi_sla_compliance computes live: the months from the '
    'watermark''s on and hublink.rollup_mi_sla_live_month.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_range.lo IS 'From (inclusive).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_range.hi IS 'To (exclusive).';

-- The live requests, each once.
CREATE VIEW hublink.rollup_mi_sla_live_request AS
SELECT (date_trunc('month', y.sent_at AT TIME ZONE w.time_zone))::date AS month, y.*
  FROM hublink.rollup_mi_window w
 CROSS JOIN hublink.rollup_mi_sla_live_range l
 CROSS JOIN LATERAL (SELECT q.* FROM hublink.rollup_mi_sla_request q
                      WHERE q.sent_at >= l.lo AND q.sent_at < l.hi OFFSET 0) y;
COMMENT ON VIEW hublink.rollup_mi_sla_live_request IS
    'The requests of the months hublink.mi_sla_compliance computes live (hublink.rollup_mi_sla_live_range).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.month IS 'First day of the month the request was sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.request_type IS 'As hublink.rollup_mi_sla_request.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.response_type IS 'As hublink.rollup_mi_sla_request.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.provider IS 'As hublink.rollup_mi_sla_request.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.target IS 'As hublink.rollup_mi_sla_request.target.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.target_seconds IS 'As hublink.rollup_mi_sla_request.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.sent_at IS 'As hublink.rollup_mi_sla_request.sent_at.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.answered_at IS 'As hublink.rollup_mi_sla_request.answered_at.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_request.seconds IS 'As hublink.rollup_mi_sla_request.seconds.';

-- The live months' aggregates, both kinds from one reading of their requests, so that each
-- answer is looked up once where both are read (hublink.mi_sla_compliance_rows): a 'month' row
-- per group (hublink.rollup_mi_sla_compliance_live) and a 'time' row per group and exact
-- response time (hublink.rollup_mi_sla_live_times). One definition for the view, the rollup job
-- and the live view alike; a reader of one kind gets only its arm planned (the other arm's
-- kind = '...' is false).
CREATE VIEW hublink.rollup_mi_sla_live_groups AS
WITH r AS MATERIALIZED (
    SELECT x.month, x.request_type, x.response_type, x.provider, x.target, x.target_seconds, x.sent_at,
           x.answered_at, x.seconds
      FROM hublink.rollup_mi_sla_live_request x
)
SELECT 'month'::text AS kind, x.month, x.request_type, x.response_type, x.provider, x.target_seconds,
       count(*) AS requests,
       count(x.answered_at) AS answered,
       count(*) FILTER (WHERE x.answered_at IS NULL) AS unanswered,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS median_response_seconds,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x.seconds)::numeric, 3) AS p95_response_seconds,
       round(max(x.seconds), 3) AS max_response_seconds,
       count(*) FILTER (WHERE x.seconds > x.target_seconds) AS late_responses,
       count(*) FILTER (WHERE x.answered_at IS NULL AND now() - x.sent_at > x.target) AS open_breaches,
       -- now() - sent_at > target compares spans (a day 24 hours, a month 30 days): the same
       -- span in seconds added to the last unanswered request, and a second more, is an
       -- instant after which every unanswered request of the group is past its target
       max(x.sent_at) FILTER (WHERE x.answered_at IS NULL)
           + make_interval(secs => max((extract(year FROM x.target) * 360 + extract(month FROM x.target) * 30
                                        + extract(day FROM x.target)) * 86400
                                       + extract(hour FROM x.target) * 3600 + extract(minute FROM x.target) * 60
                                       + extract(second FROM x.target)) FILTER (WHERE x.answered_at IS NULL) + 1)
           AS settled_at,
       NULL::numeric AS seconds, NULL::bigint AS n
  FROM r x
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds
UNION ALL
SELECT 'time', x.month, x.request_type, x.response_type, x.provider, x.target_seconds,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, x.seconds, count(*)
  FROM r x
 WHERE x.seconds IS NOT NULL
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds;
COMMENT ON VIEW hublink.rollup_mi_sla_live_groups IS
    'The aggregates of the months hublink.mi_sla_compliance computes live, from one reading of their requests: '
    'kind month, the rows of hublink.rollup_mi_sla_compliance_live; kind time, those of hublink.rollup_mi_sla_live_times.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.kind IS
    'month: a group''s row (the columns from requests to settled_at); time: how many of its requests took one exact time (seconds, n).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.requests IS 'As hublink.mi_sla_compliance.requests (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.answered IS 'As hublink.mi_sla_compliance.answered (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.unanswered IS 'As hublink.mi_sla_compliance.unanswered (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.median_response_seconds IS 'As hublink.mi_sla_compliance.median_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.p95_response_seconds IS 'As hublink.mi_sla_compliance.p95_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.max_response_seconds IS 'As hublink.mi_sla_compliance.max_response_seconds (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.late_responses IS 'As hublink.mi_sla_compliance.late_responses (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.open_breaches IS 'As hublink.mi_sla_compliance.open_breaches (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.settled_at IS 'As hublink.rollup_mi_sla_compliance_live.settled_at (kind month).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.seconds IS 'A response time, exact (seconds; kind time).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_groups.n IS 'How many requests were answered in that time (kind time).';

CREATE VIEW hublink.rollup_mi_sla_compliance_live AS
SELECT g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.requests, g.answered,
       g.unanswered, g.median_response_seconds, g.p95_response_seconds, g.max_response_seconds,
       g.late_responses, g.open_breaches, g.settled_at
  FROM hublink.rollup_mi_sla_live_groups g
 WHERE g.kind = 'month';

-- How many answered requests took each exact time, per month (folded) and over every folded
-- month: the whole-history percentiles are read from these counts, not from every request.
CREATE TABLE hublink.rollup_mi_sla_month_times (
    month          date NOT NULL,
    request_type   text NOT NULL,
    response_type  text NOT NULL,
    provider       text,
    target_seconds numeric NOT NULL,
    seconds        numeric NOT NULL,
    n              bigint NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_sla_month_times IS
    'hublink.mi_sla_compliance folded per month: how many answered requests took each exact '
    'response time (hublink.rollup_mi_sla_live_times for the folded months).';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_month_times.n IS 'How many requests of the month were answered in that time.';
CREATE INDEX rollup_mi_sla_month_times_start ON hublink.rollup_mi_sla_month_times (month);
COMMENT ON INDEX hublink.rollup_mi_sla_month_times_start IS 'The counts of a month.';

-- (provider is NULL for a request type the hub sends to itself: one group still)
CREATE TABLE hublink.rollup_mi_sla_times (
    request_type   text NOT NULL,
    response_type  text NOT NULL,
    provider       text,
    target_seconds numeric NOT NULL,
    seconds        numeric NOT NULL,
    n              bigint NOT NULL,
    CONSTRAINT rollup_mi_sla_times_key UNIQUE NULLS NOT DISTINCT
        (request_type, response_type, provider, target_seconds, seconds)
);
COMMENT ON TABLE hublink.rollup_mi_sla_times IS
    'hublink.rollup_mi_sla_month_times summed over every folded month: how many answered requests '
    'took each exact response time (the whole-history percentiles of hublink.mi_sla_compliance).';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_times.n IS 'How many requests of the folded months were answered in that time.';

CREATE VIEW hublink.rollup_mi_sla_live_times AS
SELECT g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.seconds, g.n
  FROM hublink.rollup_mi_sla_live_groups g
 WHERE g.kind = 'time';
COMMENT ON VIEW hublink.rollup_mi_sla_live_times IS
    'How many answered requests of the months computed live took each exact response time.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.month IS 'First day of the month the requests were sent.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.request_type IS 'As hublink.mi_sla_compliance.request_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.response_type IS 'As hublink.mi_sla_compliance.response_type.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.provider IS 'As hublink.mi_sla_compliance.provider.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.target_seconds IS 'As hublink.mi_sla_compliance.target_seconds.';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.seconds IS 'A response time, exact (seconds).';
COMMENT ON COLUMN hublink.rollup_mi_sla_live_times.n IS 'How many requests were answered in that time.';

-- The month rows: folded (months whose every unanswered request is past its target: then each
-- of them is an open breach) and live. The whole-history rows: the months' counts summed, and
-- the percentiles of the exact times (the folded counts, less those of the months computed live
-- or past the watermark, plus the live ones) as percentile_cont computes them: the values at
-- ranks floor and ceil of p x (n - 1), interpolated in double precision.
-- The view is a call of this function, which runs with jit = off: at full size (ten years,
-- docs/performance.md "MI at full size") the estimated cost of the live months lifts the plan
-- over jit_above_cost, and compiling its hundreds of expressions took longer than running it
-- (2.4 of 3.3 s; 7 to 60 s with a month computed live). A view cannot carry a setting; a
-- function can, and a reporting tool reading the view with PostgreSQL's defaults gets the fast
-- plan. SECURITY DEFINER because a view reads its tables with its owner's rights while a
-- function it calls runs as the reader: the rollup tables stay readable by the owner only.
-- A BEGIN ATOMIC body, so that what it reads is in the catalog (pg_depend), where the guard
-- "no mi_* view reads PERSONAL DATA" (test/sql/90_access.sql) follows it.
CREATE FUNCTION hublink.mi_sla_compliance_rows()
    RETURNS TABLE (month date, request_type text, response_type text, provider text,
                   target_seconds numeric, requests bigint, answered bigint, unanswered bigint,
                   median_response_seconds numeric, p95_response_seconds numeric,
                   max_response_seconds numeric, late_responses bigint, open_breaches bigint,
                   breaches bigint, within_target_percent numeric)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    ROWS 100
    BEGIN ATOMIC
WITH live_month AS MATERIALIZED (
    SELECT m.month FROM hublink.rollup_mi_sla_live_month m
), live_groups AS MATERIALIZED (
    -- The live months' aggregates, both kinds: their requests read once, each answer looked up
    -- once (read through rollup_mi_sla_compliance_live and rollup_mi_sla_live_times, every answer
    -- was looked up twice). In service, the current month alone is a month of requests.
    SELECT g.kind, g.month, g.request_type, g.response_type, g.provider, g.target_seconds, g.requests,
           g.answered, g.unanswered, g.median_response_seconds, g.p95_response_seconds,
           g.max_response_seconds, g.late_responses, g.open_breaches, g.seconds, g.n
      FROM hublink.rollup_mi_sla_live_groups g
), months AS (
    SELECT r.month, r.request_type, r.response_type, r.provider, r.target_seconds, r.requests, r.answered,
           r.unanswered, r.median_response_seconds, r.p95_response_seconds, r.max_response_seconds,
           r.late_responses, r.unanswered AS open_breaches
      FROM hublink.rollup_mi_sla_compliance_month r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM live_month m)
    UNION ALL
    SELECT v.month, v.request_type, v.response_type, v.provider, v.target_seconds, v.requests, v.answered,
           v.unanswered, v.median_response_seconds, v.p95_response_seconds, v.max_response_seconds,
           v.late_responses, v.open_breaches
      FROM live_groups v
     WHERE v.kind = 'month'
), times AS (
    SELECT t.request_type, t.response_type, t.provider, t.target_seconds, t.seconds, sum(t.n) AS n
      FROM (SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, s.n
              FROM hublink.rollup_mi_sla_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE w.months_until IS NOT NULL
            UNION ALL
            SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, -s.n
              FROM hublink.rollup_mi_sla_month_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE s.month >= w.months_until
            UNION ALL
            SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, -s.n
              FROM hublink.rollup_mi_sla_month_times s CROSS JOIN hublink.rollup_mi_window w
             WHERE s.month < w.months_until AND s.month IN (SELECT m.month FROM live_month m)
            UNION ALL
            SELECT x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds, x.n
              FROM live_groups x
             WHERE x.kind = 'time') t
     GROUP BY t.request_type, t.response_type, t.provider, t.target_seconds, t.seconds
    HAVING sum(t.n) <> 0
), ranked AS (
    -- (the groups compared bytewise: the same groups, a cheaper sort)
    SELECT t.*, sum(t.n) OVER (PARTITION BY t.request_type COLLATE "C", t.response_type COLLATE "C",
                                            t.provider COLLATE "C", t.target_seconds
                                ORDER BY t.seconds) AS upto,
           sum(t.n) OVER (PARTITION BY t.request_type COLLATE "C", t.response_type COLLATE "C",
                                       t.provider COLLATE "C", t.target_seconds) AS total
      FROM times t
), ranks AS (
    SELECT r.*, 0.5::float8 * (r.total - 1) AS pos50, 0.95::float8 * (r.total - 1) AS pos95 FROM ranked r
), percentile AS (
    -- grouped by the windows' bytewise keys, so the rows come in their order and are not sorted again
    SELECT r.request_type COLLATE "C" AS request_type, r.response_type COLLATE "C" AS response_type,
           r.provider COLLATE "C" AS provider, r.target_seconds,
           min(r.pos50) AS pos50, min(r.pos95) AS pos95,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos50))::float8 AS lo50,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos50))::float8 AS hi50,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos95))::float8 AS lo95,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos95))::float8 AS hi95
      FROM ranks r
     GROUP BY r.request_type COLLATE "C", r.response_type COLLATE "C", r.provider COLLATE "C", r.target_seconds
), history AS (
    SELECT m.request_type, m.response_type, m.provider, m.target_seconds,
           sum(m.requests)::bigint AS requests, sum(m.answered)::bigint AS answered,
           sum(m.unanswered)::bigint AS unanswered, max(m.max_response_seconds) AS max_response_seconds,
           sum(m.late_responses)::bigint AS late_responses, sum(m.open_breaches)::bigint AS open_breaches
      FROM months m
     GROUP BY m.request_type, m.response_type, m.provider, m.target_seconds
), rows AS (
    SELECT m.month, m.request_type, m.response_type, m.provider, m.target_seconds, m.requests, m.answered,
           m.unanswered, m.median_response_seconds, m.p95_response_seconds, m.max_response_seconds,
           m.late_responses, m.open_breaches
      FROM months m
    UNION ALL
    SELECT NULL::date, h.request_type, h.response_type, h.provider, h.target_seconds, h.requests, h.answered,
           h.unanswered,
           round((p.lo50 + (p.hi50 - p.lo50) * (p.pos50 - floor(p.pos50)))::numeric, 3),
           round((p.lo95 + (p.hi95 - p.lo95) * (p.pos95 - floor(p.pos95)))::numeric, 3),
           h.max_response_seconds, h.late_responses, h.open_breaches
      FROM history h
      LEFT JOIN percentile p ON p.request_type = h.request_type COLLATE "C"
                            AND p.response_type = h.response_type COLLATE "C"
                            AND p.provider IS NOT DISTINCT FROM h.provider COLLATE "C"
                            AND p.target_seconds = h.target_seconds
)
SELECT x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.requests, x.answered,
       x.unanswered, x.median_response_seconds, x.p95_response_seconds, x.max_response_seconds,
       x.late_responses, x.open_breaches, x.late_responses + x.open_breaches AS breaches,
       round(100.0 * (x.answered - x.late_responses) / nullif(x.answered + x.open_breaches, 0), 2)
           AS within_target_percent
  FROM rows x;
    END;
COMMENT ON FUNCTION hublink.mi_sla_compliance_rows() IS
    'The rows of hublink.mi_sla_compliance, computed with jit = off (the view is a call of it); '
    'executable by the roles that read the MI views.';
REVOKE EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() FROM PUBLIC;  -- granted in 90_access.sql

CREATE VIEW hublink.mi_sla_compliance AS
SELECT r.month, r.request_type, r.response_type, r.provider, r.target_seconds, r.requests, r.answered,
       r.unanswered, r.median_response_seconds, r.p95_response_seconds, r.max_response_seconds,
       r.late_responses, r.open_breaches, r.breaches, r.within_target_percent
  FROM hublink.mi_sla_compliance_rows() r;
COMMENT ON VIEW hublink.mi_sla_compliance IS
    'Response-time SLA compliance per request message type and provider (Appendix D: from the '
    'request put on its queue to the response put on the Hub''s queue), per month of the '
    'request and over the whole history (month NULL), against the target of the response_sla '
    'timer rule (hublink.timer_rule) and the answers of hublink.timer_answer, as the timers count.';
COMMENT ON COLUMN hublink.mi_sla_compliance.month IS 'First day of the month the requests were sent; NULL on the whole-history row.';
COMMENT ON COLUMN hublink.mi_sla_compliance.request_type IS 'The request message type (hublink.timer_answer).';
COMMENT ON COLUMN hublink.mi_sla_compliance.response_type IS
    'The response message type that answers it (hublink.timer_answer.answer_type; several, space-separated, '
    'if its answers are of several types).';
COMMENT ON COLUMN hublink.mi_sla_compliance.provider IS 'The party that must answer: esp or tsp.';
COMMENT ON COLUMN hublink.mi_sla_compliance.target_seconds IS
    'The SLA target in seconds: the fire_offset of the most specific enabled response_sla timer rule '
    '(a rule per destination gives its requests a row of their own).';
COMMENT ON COLUMN hublink.mi_sla_compliance.requests IS 'Requests put on their queue (confirmed by the broker).';
COMMENT ON COLUMN hublink.mi_sla_compliance.answered IS 'Requests with a response.';
COMMENT ON COLUMN hublink.mi_sla_compliance.unanswered IS 'Requests without a response yet.';
COMMENT ON COLUMN hublink.mi_sla_compliance.median_response_seconds IS 'Median seconds from request enqueued to response enqueued (answered requests; continuous percentile).';
COMMENT ON COLUMN hublink.mi_sla_compliance.p95_response_seconds IS '95th percentile of the same (continuous percentile, interpolated).';
COMMENT ON COLUMN hublink.mi_sla_compliance.max_response_seconds IS 'Longest response time.';
COMMENT ON COLUMN hublink.mi_sla_compliance.late_responses IS 'Responses that came after the target.';
COMMENT ON COLUMN hublink.mi_sla_compliance.open_breaches IS 'Requests still unanswered and older than the target now.';
COMMENT ON COLUMN hublink.mi_sla_compliance.breaches IS 'late_responses plus open_breaches.';
COMMENT ON COLUMN hublink.mi_sla_compliance.within_target_percent IS
    'Responses within the target as a percentage of the requests that are decided (answered, or unanswered past the target).';

-- --- end-to-end times (Schedule R GSO 8) -------------------------------------------------------
-- A removal request starts when the Hub creates it; it is booked the first time the removal
-- machine enters booked (BookingsConfirmed); it departs at the first current segment of the
-- travel booked last, counted for completed removals only.
-- One row per removal with its times; the LATERAL joins are the original's per-removal CTEs
-- (booked: the first entry into booked; the travel booked last of a completed removal and
-- its first current segment), so that a range of removals reads only their rows.
CREATE VIEW hublink.rollup_mi_end_to_end_removal AS
SELECT r.created_at,
       extract(epoch FROM b.booked_at - r.created_at) / 3600 AS hours_to_booked,
       extract(epoch FROM d.departs_at - r.created_at) / 3600 AS hours_to_departure
  FROM hublink.removal r
 CROSS JOIN LATERAL (
       SELECT min(s.at) AS booked_at
         FROM hublink.state_transition s
        WHERE s.removal_id = r.removal_id
          AND s.machine = 'removal' AND s.to_state = 'booked' AND s.from_state <> s.to_state) b
 CROSS JOIN LATERAL (
       SELECT min(g.start_time) AS departs_at
         FROM (SELECT q.travel_quote_id
                 FROM hublink.travel_booking tb
                 JOIN hublink.travel_quote q ON q.removal_id = tb.removal_id
                                            AND q.travel_quote_reference = tb.travel_quote_reference
                WHERE tb.removal_id = r.removal_id AND tb.outcome = 'ACCEPTED' AND r.state = 'completed'
                ORDER BY tb.responded_at DESC, tb.travel_booking_id DESC
                LIMIT 1) l
         JOIN hublink.itinerary_segment g ON g.travel_quote_id = l.travel_quote_id AND g.current) d;
COMMENT ON VIEW hublink.rollup_mi_end_to_end_removal IS
    'Every removal with its end-to-end times (the live definition of hublink.mi_end_to_end).';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.created_at IS 'When the removal was created (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.hours_to_booked IS 'Hours from the request to booked.';
COMMENT ON COLUMN hublink.rollup_mi_end_to_end_removal.hours_to_departure IS 'Hours from the request to the first departure (completed removals).';

CREATE VIEW hublink.rollup_mi_end_to_end_live AS
SELECT (date_trunc('month', j.created_at AT TIME ZONE w.time_zone))::date AS month,
       count(*) AS removal_requests,
       count(j.hours_to_booked) AS booked,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS median_hours_to_booked,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_booked)::numeric, 2) AS p95_hours_to_booked,
       round(avg(j.hours_to_booked), 2) AS mean_hours_to_booked,
       count(j.hours_to_departure) AS departed,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS median_hours_to_departure,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY j.hours_to_departure)::numeric, 2) AS p95_hours_to_departure,
       round(avg(j.hours_to_departure), 2) AS mean_hours_to_departure
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_end_to_end_removal y
                             WHERE y.created_at >= l.lo AND y.created_at < l.hi OFFSET 0) v) j
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_end_to_end_month (LIKE hublink.rollup_mi_end_to_end_live);

CREATE VIEW hublink.mi_end_to_end AS
SELECT r.* FROM hublink.rollup_mi_end_to_end_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_end_to_end_live v;
COMMENT ON VIEW hublink.mi_end_to_end IS
    'End-to-end transaction times (Schedule R GSO 8) per month of the removal request: from '
    'the request to both bookings confirmed, and to departure for completed removals.';
COMMENT ON COLUMN hublink.mi_end_to_end.month IS 'First day of the month the removal requests were created.';
COMMENT ON COLUMN hublink.mi_end_to_end.removal_requests IS 'Removal requests created.';
COMMENT ON COLUMN hublink.mi_end_to_end.booked IS 'Of them, those that reached booked (every booking confirmed).';
COMMENT ON COLUMN hublink.mi_end_to_end.median_hours_to_booked IS 'Median hours from the request to booked.';
COMMENT ON COLUMN hublink.mi_end_to_end.p95_hours_to_booked IS '95th percentile of the same (continuous).';
COMMENT ON COLUMN hublink.mi_end_to_end.mean_hours_to_booked IS 'Mean of the same.';
COMMENT ON COLUMN hublink.mi_end_to_end.departed IS 'Of them, those completed (departed and carried out).';
COMMENT ON COLUMN hublink.mi_end_to_end.median_hours_to_departure IS 'Median hours from the request to the first departure of the travel booked.';
COMMENT ON COLUMN hublink.mi_end_to_end.p95_hours_to_departure IS '95th percentile of the same (continuous).';
COMMENT ON COLUMN hublink.mi_end_to_end.mean_hours_to_departure IS 'Mean of the same.';

-- --- volumes ----------------------------------------------------------------------------------
-- One row per period, measure, booking kind, reason and lead-time band with a count. Each
-- event is read from the domain table that records it; the lead time of a cancellation is
-- the time to the first departure of the travel booked (accepted) before it.
-- The events, one row each with the instant that decides its period (the live definition;
-- 85_mi_rollup.sql): the rollup folds them per day, the view counts the rest live.
CREATE VIEW hublink.rollup_mi_volume_event AS
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
                       WHERE f.machine = 'removal' AND f.terminal);
COMMENT ON VIEW hublink.rollup_mi_volume_event IS
    'The events hublink.mi_volume counts, one row each with its instant (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_event.at IS 'When it happened (it decides the period).';

-- The events of the days the rollup does not cover, counted per day (NULL: no instant).
CREATE VIEW hublink.rollup_mi_volume_live AS
SELECT (e.at AT TIME ZONE w.time_zone)::date AS day, e.measure, e.booking, e.reason_code, e.lead_time_band,
       count(*) AS count
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_day l
        CROSS JOIN LATERAL (SELECT x.* FROM hublink.rollup_mi_volume_event x
                             WHERE x.at >= l.lo AND x.at < l.hi OFFSET 0) v
       UNION ALL
       SELECT x.* FROM hublink.rollup_mi_volume_event x WHERE x.at IS NULL) e
 GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW hublink.rollup_mi_volume_live IS
    'hublink.mi_volume per day for the days the rollup does not cover (computed live).';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.day IS 'The day (reporting time zone).';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.measure IS 'As hublink.mi_volume.measure.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.booking IS 'As hublink.mi_volume.booking.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.reason_code IS 'As hublink.mi_volume.reason_code.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.lead_time_band IS 'As hublink.mi_volume.lead_time_band.';
COMMENT ON COLUMN hublink.rollup_mi_volume_live.count IS 'How many that day.';

-- Days: the folded days' rows and the live days'. Longer periods: the folded periods' rows
-- (every day folded, none dirty), and the sums of the days of the other periods (the one the
-- watermark is in, those after it, those with a dirty day).
CREATE VIEW hublink.mi_volume AS
WITH day_count AS (
    SELECT r.day, r.measure, r.booking, r.reason_code, r.lead_time_band, r.count
      FROM hublink.rollup_mi_volume_day r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.day < w.folded_until
       AND NOT EXISTS (SELECT FROM hublink.rollup_mi_live_day d WHERE d.day = r.day)
    UNION ALL
    SELECT v.day, v.measure, v.booking, v.reason_code, v.lead_time_band, v.count
      FROM hublink.rollup_mi_volume_live v
), longer AS (
    -- per longer granularity: the first period not wholly folded (NULL: none is)
    SELECT g.granularity, date_trunc(g.granularity, w.folded_until::timestamp)::date AS folded_until
      FROM hublink.rollup_mi_granularity g CROSS JOIN hublink.rollup_mi_window w
     WHERE NOT g.daily
), dirty_period AS (
    SELECT DISTINCT g.granularity, date_trunc(g.granularity, d.day::timestamp)::date AS period_start
      FROM longer g CROSS JOIN hublink.rollup_mi_live_day d
)
SELECT g.granularity, x.day AS period_start, x.measure, x.booking, x.reason_code, x.lead_time_band, x.count
  FROM hublink.rollup_mi_granularity g CROSS JOIN day_count x
 WHERE g.daily
UNION ALL
SELECT p.granularity, p.period_start, p.measure, p.booking, p.reason_code, p.lead_time_band, p.count
  FROM longer g
  JOIN hublink.rollup_mi_volume_period p ON p.granularity = g.granularity AND p.period_start < g.folded_until
 WHERE NOT EXISTS (SELECT FROM dirty_period y WHERE y.granularity = p.granularity AND y.period_start = p.period_start)
UNION ALL
SELECT g.granularity,
       (date_trunc(g.granularity, x.day::timestamp))::date AS period_start,
       x.measure, x.booking, x.reason_code, x.lead_time_band,
       sum(x.count)::bigint AS count
  FROM longer g CROSS JOIN day_count x
 WHERE g.folded_until IS NULL OR x.day IS NULL OR x.day >= g.folded_until
    OR EXISTS (SELECT FROM dirty_period y
                WHERE y.granularity = g.granularity
                  AND y.period_start = date_trunc(g.granularity, x.day::timestamp)::date)
 GROUP BY 1, 2, 3, 4, 5, 6;
COMMENT ON VIEW hublink.mi_volume IS
    'Volumes per day, ISO week and month: removal requests, quote requests, quotes, no-quote '
    'responses and declines by reason, booking requests, bookings, amendments, cancellations by '
    'reason and lead time, and removals that ended (completed, unsuccessful, cancelled). One row '
    'per period, measure, booking, reason and band; periods without events have no row.';
COMMENT ON COLUMN hublink.mi_volume.granularity IS 'day, week or month (hublink.report_granularity).';
COMMENT ON COLUMN hublink.mi_volume.period_start IS 'First day of the period in the reporting time zone (a Monday for weeks).';
COMMENT ON COLUMN hublink.mi_volume.measure IS
    'What is counted: removal_requests, quote_requests, quotes, no_quotes, booking_requests, '
    'bookings, declines, amendments, cancellations, removals_<terminal state> (docs/mi.md).';
COMMENT ON COLUMN hublink.mi_volume.booking IS 'escort or travel, for measures that concern one booking; NULL otherwise.';
COMMENT ON COLUMN hublink.mi_volume.reason_code IS 'The reason code (declines, no_quotes, cancellations); NULL otherwise or when none was given.';
COMMENT ON COLUMN hublink.mi_volume.lead_time_band IS
    'Cancellations: the hublink.lead_time_band of the time left to the booked departure; NULL when nothing was booked.';
COMMENT ON COLUMN hublink.mi_volume.count IS 'How many.';

-- --- money ------------------------------------------------------------------------------------
CREATE VIEW hublink.rollup_mi_money_item AS
SELECT 'ticket_spend'::text AS item, b.currency, b.total_amount AS amount, b.responded_at AS at, b.removal_id
  FROM hublink.travel_booking b
 WHERE b.outcome = 'ACCEPTED' AND b.total_amount IS NOT NULL
UNION ALL
SELECT 'escort_spend', q.currency, q.total_amount, b.responded_at, b.removal_id
  FROM hublink.escort_booking b
  JOIN hublink.escort_quote q ON q.removal_id = b.removal_id
                             AND q.escort_quote_reference = b.escort_quote_reference
 WHERE b.outcome = 'ACCEPTED' AND q.total_amount IS NOT NULL
UNION ALL
SELECT f.kind, f.currency, f.amount, f.recorded_at, f.removal_id
  FROM hublink.financial_consequence f
UNION ALL
SELECT 'refund_received', r.currency, r.amount, r.received_at, f.removal_id
  FROM hublink.refund_receipt r
  JOIN hublink.financial_consequence f USING (financial_consequence_id)
UNION ALL
-- The amounts of removals since erased, kept by hublink.purge_removal.
SELECT e.item, e.currency, e.amount, e.at, NULL
  FROM hublink.mi_money_erased e
UNION ALL
-- A non-refundable fare booked and then cancelled: what was paid, less any refund the
-- provider announced for the removal's travel, is lost.
SELECT 'lost_non_refundable', l.currency, l.lost, x.cancelled_at, x.removal_id
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
 WHERE x.booking = 'travel' AND NOT x.before_booking;
COMMENT ON VIEW hublink.rollup_mi_money_item IS
    'The amounts hublink.mi_money sums, one row each with its instant (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.item IS 'What the amount is (a column of hublink.mi_money, or a financial_consequence kind).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.rollup_mi_money_item.amount IS 'The amount.';
COMMENT ON COLUMN hublink.rollup_mi_money_item.at IS 'When (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_money_item.removal_id IS
    'The removal it was spent on; NULL for a removal since erased (hublink.mi_money_erased).';

CREATE VIEW hublink.rollup_mi_money_live AS
SELECT (date_trunc('month', i.at AT TIME ZONE w.time_zone))::date AS month, i.currency,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'ticket_spend'), 0)::numeric(14,2) AS ticket_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'escort_spend'), 0)::numeric(14,2) AS escort_spend,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund'), 0)::numeric(14,2) AS refunds_owed,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'refund_received'), 0)::numeric(14,2) AS refunds_received,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'change_fee'), 0)::numeric(14,2) AS change_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'cancellation_fee'), 0)::numeric(14,2) AS cancellation_fees,
       coalesce(sum(i.amount) FILTER (WHERE i.item = 'lost_non_refundable'), 0)::numeric(14,2) AS lost_non_refundable
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_money_item y
                             WHERE y.at >= l.lo AND y.at < l.hi OFFSET 0) v
       UNION ALL
       SELECT y.* FROM hublink.rollup_mi_money_item y WHERE y.at IS NULL) i
 GROUP BY 1, 2;

CREATE TABLE hublink.rollup_mi_money_month (LIKE hublink.rollup_mi_money_live);

CREATE VIEW hublink.mi_money AS
WITH monthly AS (
    SELECT r.* FROM hublink.rollup_mi_money_month r CROSS JOIN hublink.rollup_mi_window w
     WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
    UNION ALL
    SELECT v.* FROM hublink.rollup_mi_money_live v
)
SELECT m.month, m.currency, m.ticket_spend, m.escort_spend, m.refunds_owed, m.refunds_received,
       (sum(m.refunds_owed - m.refunds_received)
           OVER (PARTITION BY m.currency ORDER BY m.month))::numeric(14,2) AS refunds_outstanding,
       m.change_fees, m.cancellation_fees, m.lost_non_refundable
  FROM monthly m;
COMMENT ON VIEW hublink.mi_money IS
    'Money per month and currency: ticket and escort spend on bookings confirmed, refunds the '
    'providers announced (owed) and finance received, the refunds still outstanding, change '
    'and cancellation fees, and money lost to non-refundable fares that were cancelled.';
COMMENT ON COLUMN hublink.mi_money.month IS 'First day of the month (reporting time zone).';
COMMENT ON COLUMN hublink.mi_money.currency IS 'ISO 4217 currency of every amount of the row.';
COMMENT ON COLUMN hublink.mi_money.ticket_spend IS 'Total of the travel bookings accepted in the month (4.8 total cost).';
COMMENT ON COLUMN hublink.mi_money.escort_spend IS 'Total of the escort quotes whose booking was accepted in the month.';
COMMENT ON COLUMN hublink.mi_money.refunds_owed IS 'Refunds the providers announced in the month (4.10, 4.12 financial: refund).';
COMMENT ON COLUMN hublink.mi_money.refunds_received IS 'Refund money received in the month (hublink.refund_receipt).';
COMMENT ON COLUMN hublink.mi_money.refunds_outstanding IS 'Refunds announced but not received, up to the end of the month (running total).';
COMMENT ON COLUMN hublink.mi_money.change_fees IS 'Change fees announced in the month.';
COMMENT ON COLUMN hublink.mi_money.cancellation_fees IS 'Cancellation fees announced in the month.';
COMMENT ON COLUMN hublink.mi_money.lost_non_refundable IS
    'Travel cancelled after booking in the month whose booked fare was non-refundable: its total less the travel refunds announced for the removal.';

-- --- outcomes and tickets ---------------------------------------------------------------------
-- A removal's first transition into each terminal state (ties by transition id), as the
-- min(at) per removal and state of the original definition, with the tickets of the removal
-- (NULL when none, as the left join gave).
CREATE VIEW hublink.rollup_mi_removal_outcome_end AS
SELECT s.at, s.to_state AS outcome,
       (SELECT nullif(count(*), 0) FROM hublink.ticket k WHERE k.removal_id = s.removal_id) AS tickets
  FROM hublink.state_transition s
 WHERE s.machine = 'removal' AND s.from_state <> s.to_state
   AND s.to_state IN (SELECT f.state FROM hublink.state_machine_states() f
                       WHERE f.machine = 'removal' AND f.terminal)
   AND NOT EXISTS (SELECT FROM hublink.state_transition e
                    WHERE e.removal_id = s.removal_id AND e.machine = 'removal'
                      AND e.to_state = s.to_state AND e.from_state <> e.to_state
                      AND (e.at < s.at OR (e.at = s.at AND e.state_transition_id < s.state_transition_id)));
COMMENT ON VIEW hublink.rollup_mi_removal_outcome_end IS
    'The removals that ended, one row per removal and final state (the live definition of hublink.mi_removal_outcome).';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.at IS 'When the removal first reached the state (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.outcome IS 'The final state.';
COMMENT ON COLUMN hublink.rollup_mi_removal_outcome_end.tickets IS 'Tickets of the removal; NULL when none.';

CREATE VIEW hublink.rollup_mi_removal_outcome_live AS
SELECT (date_trunc('month', e.at AT TIME ZONE w.time_zone))::date AS month,
       count(*) FILTER (WHERE e.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE e.outcome = 'unsuccessful') AS unsuccessful,
       count(*) FILTER (WHERE e.outcome = 'cancelled') AS cancelled,
       coalesce(sum(e.tickets) FILTER (WHERE e.outcome = 'completed'), 0)::bigint AS tickets_completed,
       round(sum(e.tickets) FILTER (WHERE e.outcome = 'completed')
             / nullif(count(*) FILTER (WHERE e.outcome = 'completed'), 0), 2) AS tickets_per_completed_removal
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_removal_outcome_end y
                             WHERE y.at >= l.lo AND y.at < l.hi OFFSET 0) v) e
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_removal_outcome_month (LIKE hublink.rollup_mi_removal_outcome_live);

CREATE VIEW hublink.mi_removal_outcome AS
SELECT r.* FROM hublink.rollup_mi_removal_outcome_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_removal_outcome_live v;
COMMENT ON VIEW hublink.mi_removal_outcome IS
    'Removals that ended, per month they ended: completed (successful), unsuccessful, '
    'cancelled; and the tickets issued per successful removal.';
COMMENT ON COLUMN hublink.mi_removal_outcome.month IS 'First day of the month the removal reached its final state.';
COMMENT ON COLUMN hublink.mi_removal_outcome.completed IS 'Removals carried out.';
COMMENT ON COLUMN hublink.mi_removal_outcome.unsuccessful IS 'Removals whose escorting started and was abandoned.';
COMMENT ON COLUMN hublink.mi_removal_outcome.cancelled IS 'Removals the Hub cancelled.';
COMMENT ON COLUMN hublink.mi_removal_outcome.tickets_completed IS 'Tickets issued (reissues included) for the completed removals.';
COMMENT ON COLUMN hublink.mi_removal_outcome.tickets_per_completed_removal IS 'tickets_completed / completed, to two decimals.';

-- --- best value against cheapest fare ---------------------------------------------------------
-- For each travel booking accepted, the quotes of the response the booked quote came in: the
-- best-value quote (lowest expected cost, docs/tsp.md) against the cheapest fare.
CREATE VIEW hublink.rollup_mi_best_value_booking AS
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
 WHERE tb.outcome = 'ACCEPTED';
COMMENT ON VIEW hublink.rollup_mi_best_value_booking IS
    'The travel bookings accepted that hublink.mi_best_value sums, one row each (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.responded_at IS 'When the booking was accepted (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.currency IS 'Currency of the booked quote.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.booked_total IS 'Price booked.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.booked_expected IS 'Expected cost of the quote booked.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.best_expected IS 'Expected cost of the best-value quote of the response.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.cheapest_total IS 'Price of the cheapest quote of the response.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.cheapest_expected IS 'Its expected cost.';
COMMENT ON COLUMN hublink.rollup_mi_best_value_booking.not_cheapest IS 'The booked fare was dearer than the cheapest.';

CREATE VIEW hublink.rollup_mi_best_value_live AS
SELECT (date_trunc('month', b.responded_at AT TIME ZONE w.time_zone))::date AS month,
       b.currency,
       count(*) AS bookings,
       count(*) FILTER (WHERE b.not_cheapest) AS bookings_not_cheapest,
       sum(b.booked_total)::numeric(14,2) AS booked_total,
       sum(b.booked_expected)::numeric(14,2) AS booked_expected,
       sum(b.best_expected)::numeric(14,2) AS best_value_expected,
       sum(b.cheapest_total)::numeric(14,2) AS cheapest_fare_total,
       sum(b.cheapest_expected)::numeric(14,2) AS cheapest_fare_expected,
       sum(b.cheapest_expected - b.best_expected)::numeric(14,2) AS expected_saving
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT x.* FROM hublink.rollup_mi_best_value_booking x
                             WHERE x.responded_at >= l.lo AND x.responded_at < l.hi OFFSET 0) v
       UNION ALL
       SELECT x.* FROM hublink.rollup_mi_best_value_booking x WHERE x.responded_at IS NULL) b
 GROUP BY 1, 2;

CREATE TABLE hublink.rollup_mi_best_value_month (LIKE hublink.rollup_mi_best_value_live);

CREATE VIEW hublink.mi_best_value AS
SELECT r.* FROM hublink.rollup_mi_best_value_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_best_value_live v;
COMMENT ON VIEW hublink.mi_best_value IS
    'Per month and currency of the travel bookings accepted: what choosing by expected cost '
    '(price plus the expected loss on cancellation) saves against choosing the cheapest fare, '
    'on the quotes of the same response.';
COMMENT ON COLUMN hublink.mi_best_value.month IS 'First day of the month the travel bookings were accepted.';
COMMENT ON COLUMN hublink.mi_best_value.currency IS 'ISO 4217 currency of every amount of the row.';
COMMENT ON COLUMN hublink.mi_best_value.bookings IS 'Travel bookings accepted.';
COMMENT ON COLUMN hublink.mi_best_value.bookings_not_cheapest IS 'Of them, those whose booked fare was dearer than the cheapest quoted.';
COMMENT ON COLUMN hublink.mi_best_value.booked_total IS 'Total price of the bookings.';
COMMENT ON COLUMN hublink.mi_best_value.booked_expected IS 'Expected cost of the quotes booked (the price when no expected cost was stated).';
COMMENT ON COLUMN hublink.mi_best_value.best_value_expected IS 'Expected cost of the best-value quote of each response.';
COMMENT ON COLUMN hublink.mi_best_value.cheapest_fare_total IS 'Price of the cheapest quote of each response.';
COMMENT ON COLUMN hublink.mi_best_value.cheapest_fare_expected IS 'Expected cost of that cheapest quote.';
COMMENT ON COLUMN hublink.mi_best_value.expected_saving IS 'cheapest_fare_expected - best_value_expected: the expected saving of choosing by best value.';

-- --- escorting --------------------------------------------------------------------------------
CREATE VIEW hublink.rollup_mi_escorting_booking AS
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
 WHERE b.outcome = 'ACCEPTED';
COMMENT ON VIEW hublink.rollup_mi_escorting_booking IS
    'The escort bookings accepted that hublink.mi_escorting counts, one row each (the live definition).';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.responded_at IS 'When the booking was accepted (it decides the month).';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.returnees IS 'Returnees of the removal.';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.escorts IS 'Escort positions of the quote booked.';
COMMENT ON COLUMN hublink.rollup_mi_escorting_booking.lead_hours IS 'Hours from the booking request to the first planned start.';

CREATE VIEW hublink.rollup_mi_escorting_live AS
SELECT (date_trunc('month', x.responded_at AT TIME ZONE w.time_zone))::date AS month,
       count(*) AS escort_bookings,
       sum(x.returnees)::bigint AS returnees,
       sum(x.escorts)::bigint AS escorts,
       round(sum(x.escorts)::numeric / nullif(sum(x.returnees), 0), 2) AS escorts_per_returnee,
       count(x.lead_hours) AS with_start,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.lead_hours)::numeric, 2) AS median_lead_hours,
       round(min(x.lead_hours), 2) AS min_lead_hours
  FROM hublink.rollup_mi_window w
 CROSS JOIN LATERAL (
       SELECT v.* FROM hublink.rollup_mi_live_range_month l
        CROSS JOIN LATERAL (SELECT y.* FROM hublink.rollup_mi_escorting_booking y
                             WHERE y.responded_at >= l.lo AND y.responded_at < l.hi OFFSET 0) v
       UNION ALL
       SELECT y.* FROM hublink.rollup_mi_escorting_booking y WHERE y.responded_at IS NULL) x
 GROUP BY 1;

CREATE TABLE hublink.rollup_mi_escorting_month (LIKE hublink.rollup_mi_escorting_live);

CREATE VIEW hublink.mi_escorting AS
SELECT r.* FROM hublink.rollup_mi_escorting_month r CROSS JOIN hublink.rollup_mi_window w
 WHERE r.month < w.months_until AND r.month NOT IN (SELECT m.month FROM hublink.rollup_mi_live_month m)
UNION ALL
SELECT v.* FROM hublink.rollup_mi_escorting_live v;
COMMENT ON VIEW hublink.mi_escorting IS
    'Escorting per month of the escort bookings accepted: escorts per returnee and the lead '
    'time the escort provider was given (booking request to the planned start of the escorting).';
COMMENT ON COLUMN hublink.mi_escorting.month IS 'First day of the month the escort bookings were accepted.';
COMMENT ON COLUMN hublink.mi_escorting.escort_bookings IS 'Escort bookings accepted.';
COMMENT ON COLUMN hublink.mi_escorting.returnees IS 'Returnees of those removals.';
COMMENT ON COLUMN hublink.mi_escorting.escorts IS 'Escort positions of the quotes booked (4.2 escort info).';
COMMENT ON COLUMN hublink.mi_escorting.escorts_per_returnee IS 'escorts / returnees, to two decimals.';
COMMENT ON COLUMN hublink.mi_escorting.with_start IS 'Bookings whose escort segments have a planned start.';
COMMENT ON COLUMN hublink.mi_escorting.median_lead_hours IS 'Median hours from the escort booking request to the first planned start of the escorting.';
COMMENT ON COLUMN hublink.mi_escorting.min_lead_hours IS 'Shortest such lead time.';

-- The live aggregates and the month tables of the rollup carry the comments of the MI view
-- they stand for (85_mi_rollup.sql).
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS rel, c.relkind,
                    ('hublink.' || regexp_replace(c.relname, '^rollup_(mi_.*)_(live|month)$', '\1'))::regclass AS view
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace AND c.relname ~ '^rollup_mi_.*_(live|month)$'
                AND c.relname <> 'rollup_mi_volume_live'
                AND (c.relkind = 'v') = (c.relname ~ '_live$') LOOP
        EXECUTE format('COMMENT ON %s %s IS %L', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel,
                       CASE o.relkind WHEN 'v' THEN format('%s for the months the rollup does not cover (computed live).', o.view)
                            ELSE format('%s folded per month: its rows for the months hublink.rollup_mi_fold() has folded.', o.view) END);
        EXECUTE (SELECT string_agg(format('COMMENT ON COLUMN %s.%I IS %L', o.rel, a.attname,
                                          'As ' || o.view || '.' || a.attname || '.'), '; ')
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = o.rel AND a.attnum > 0 AND NOT a.attisdropped);
    END LOOP;
END;
$$;
-- A column of the SLA rollup that hublink.mi_sla_compliance has not: when its month may be read.
COMMENT ON COLUMN hublink.rollup_mi_sla_compliance_live.settled_at IS
    'After this instant every request of the group still unanswered is past its target (the last '
    'one''s send time plus the longest target, a second more): its open breaches no longer change with '
    'the clock, and the folded row can be read. NULL: none unanswered.';
COMMENT ON COLUMN hublink.rollup_mi_sla_compliance_month.settled_at IS
    'As hublink.rollup_mi_sla_compliance_live.settled_at.';

-- --- the worker and the backlog ---------------------------------------------------------------
CREATE VIEW hublink.mi_worker AS
SELECT w.party, w.state, w.state_since, w.state = 'connected' AS connected,
       round(extract(epoch FROM now() - w.state_since)::numeric, 3) AS seconds_in_state,
       w.last_error_at, w.started_at,
       w.received, w.applied, w.duplicates, w.rejected, w.retried, w.published,
       w.outbox_backlog,
       round(extract(epoch FROM w.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       w.retrying,
       w.needs_attention
  FROM hublink.worker_status w;
COMMENT ON VIEW hublink.mi_worker IS
    'Worker availability and the message backlog now (one row, from hublink.worker_status; '
    'the error text is left out).';
COMMENT ON COLUMN hublink.mi_worker.party IS 'The party this database plays: hub, tsp or esp.';
COMMENT ON COLUMN hublink.mi_worker.state IS 'The worker''s broker connection state; NULL when the worker is not running.';
COMMENT ON COLUMN hublink.mi_worker.state_since IS 'When it entered that state.';
COMMENT ON COLUMN hublink.mi_worker.connected IS 'True when the worker is connected to the broker (available).';
COMMENT ON COLUMN hublink.mi_worker.seconds_in_state IS 'Seconds since state_since.';
COMMENT ON COLUMN hublink.mi_worker.last_error_at IS 'When the worker last met an error.';
COMMENT ON COLUMN hublink.mi_worker.started_at IS 'When the worker process started.';
COMMENT ON COLUMN hublink.mi_worker.received IS 'Deliveries received since the server started.';
COMMENT ON COLUMN hublink.mi_worker.applied IS 'Deliveries applied.';
COMMENT ON COLUMN hublink.mi_worker.duplicates IS 'Duplicate deliveries.';
COMMENT ON COLUMN hublink.mi_worker.rejected IS 'Deliveries rejected to an error queue.';
COMMENT ON COLUMN hublink.mi_worker.retried IS 'Handler retries.';
COMMENT ON COLUMN hublink.mi_worker.published IS 'Messages published and confirmed.';
COMMENT ON COLUMN hublink.mi_worker.outbox_backlog IS 'Messages waiting to be published.';
COMMENT ON COLUMN hublink.mi_worker.oldest_unsent_seconds IS 'Age in seconds of the oldest of them; NULL when none.';
COMMENT ON COLUMN hublink.mi_worker.retrying IS 'Inbound messages waiting for a handler retry.';
COMMENT ON COLUMN hublink.mi_worker.needs_attention IS 'Errors received for our messages not yet cleared (hublink.needs_attention).';

CREATE VIEW hublink.mi_message_backlog AS
SELECT q.queue, q.outbox_backlog,
       round(extract(epoch FROM q.oldest_unsent_age)::numeric, 3) AS oldest_unsent_seconds,
       (SELECT count(*) FROM hublink.inbox i WHERE i.queue = q.queue AND i.status = 'retrying') AS retrying,
       q.received, q.applied, q.rejected, q.published
  FROM hublink.worker_queue_status q;
COMMENT ON VIEW hublink.mi_message_backlog IS
    'Per queue now: messages waiting to be published and the age of the oldest, inbound '
    'messages waiting for a retry, and the worker''s counters since the server started.';
COMMENT ON COLUMN hublink.mi_message_backlog.queue IS 'The queue.';
COMMENT ON COLUMN hublink.mi_message_backlog.outbox_backlog IS 'Outbox messages for it not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.mi_message_backlog.oldest_unsent_seconds IS 'Age in seconds of the oldest of them; NULL when none.';
COMMENT ON COLUMN hublink.mi_message_backlog.retrying IS 'Inbound messages from it waiting for a handler retry.';
COMMENT ON COLUMN hublink.mi_message_backlog.received IS 'Deliveries received since the server started.';
COMMENT ON COLUMN hublink.mi_message_backlog.applied IS 'Deliveries applied.';
COMMENT ON COLUMN hublink.mi_message_backlog.rejected IS 'Deliveries rejected.';
COMMENT ON COLUMN hublink.mi_message_backlog.published IS 'Messages published and confirmed.';
