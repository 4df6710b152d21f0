-- 0.2.0: hublink.mi_sla_compliance from the MI rollup (issue 15 section 5; docs/performance.md,
-- docs/mi.md "The rollup"): its month rows folded per month, its whole-history percentiles read
-- from exact counts of the folded response times, the rest computed live; the SLA rules join
-- the configuration the rollup depends on (a rollup folded before this update is rebuilt by the
-- job's next runs, as after any change of configuration). Further down: the quote engine's
-- faster functions (same answers).

CREATE OR REPLACE VIEW hublink.rollup_mi_config AS
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

-- @comment VIEW hublink.rollup_mi_config
-- @comment COLUMN hublink.rollup_mi_config.time_zone
-- @comment COLUMN hublink.rollup_mi_config.config

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

-- @comment VIEW hublink.rollup_mi_sla_request
-- @comment COLUMN hublink.rollup_mi_sla_request.request_type
-- @comment COLUMN hublink.rollup_mi_sla_request.response_type
-- @comment COLUMN hublink.rollup_mi_sla_request.provider
-- @comment COLUMN hublink.rollup_mi_sla_request.target
-- @comment COLUMN hublink.rollup_mi_sla_request.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_request.sent_at
-- @comment COLUMN hublink.rollup_mi_sla_request.answered_at
-- @comment COLUMN hublink.rollup_mi_sla_request.seconds

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

-- @comment VIEW hublink.rollup_mi_sla_live_month
-- @comment COLUMN hublink.rollup_mi_sla_live_month.month

CREATE VIEW hublink.rollup_mi_sla_live_range AS
SELECT coalesce(w.months_until::timestamp AT TIME ZONE w.time_zone, '-infinity') AS lo,
       timestamptz 'infinity' AS hi
  FROM hublink.rollup_mi_window w
UNION ALL
SELECT m.month::timestamp AT TIME ZONE w.time_zone, (m.month + interval '1 month') AT TIME ZONE w.time_zone
  FROM hublink.rollup_mi_sla_live_month m CROSS JOIN hublink.rollup_mi_window w;

-- @comment VIEW hublink.rollup_mi_sla_live_range
-- @comment COLUMN hublink.rollup_mi_sla_live_range.lo
-- @comment COLUMN hublink.rollup_mi_sla_live_range.hi

CREATE VIEW hublink.rollup_mi_sla_live_request AS
SELECT (date_trunc('month', y.sent_at AT TIME ZONE w.time_zone))::date AS month, y.*
  FROM hublink.rollup_mi_window w
 CROSS JOIN hublink.rollup_mi_sla_live_range l
 CROSS JOIN LATERAL (SELECT q.* FROM hublink.rollup_mi_sla_request q
                      WHERE q.sent_at >= l.lo AND q.sent_at < l.hi OFFSET 0) y;

-- @comment VIEW hublink.rollup_mi_sla_live_request
-- @comment COLUMN hublink.rollup_mi_sla_live_request.month
-- @comment COLUMN hublink.rollup_mi_sla_live_request.request_type
-- @comment COLUMN hublink.rollup_mi_sla_live_request.response_type
-- @comment COLUMN hublink.rollup_mi_sla_live_request.provider
-- @comment COLUMN hublink.rollup_mi_sla_live_request.target
-- @comment COLUMN hublink.rollup_mi_sla_live_request.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_request.sent_at
-- @comment COLUMN hublink.rollup_mi_sla_live_request.answered_at
-- @comment COLUMN hublink.rollup_mi_sla_live_request.seconds

CREATE VIEW hublink.rollup_mi_sla_compliance_live AS
SELECT x.month, x.request_type, x.response_type, x.provider, x.target_seconds,
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
           AS settled_at
  FROM hublink.rollup_mi_sla_live_request x
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds;


CREATE TABLE hublink.rollup_mi_sla_month_times (
    month          date NOT NULL,
    request_type   text NOT NULL,
    response_type  text NOT NULL,
    provider       text,
    target_seconds numeric NOT NULL,
    seconds        numeric NOT NULL,
    n              bigint NOT NULL
);

CREATE INDEX rollup_mi_sla_month_times_start ON hublink.rollup_mi_sla_month_times (month);
-- @comment INDEX hublink.rollup_mi_sla_month_times_start

-- @comment TABLE hublink.rollup_mi_sla_month_times
-- @comment COLUMN hublink.rollup_mi_sla_month_times.month
-- @comment COLUMN hublink.rollup_mi_sla_month_times.request_type
-- @comment COLUMN hublink.rollup_mi_sla_month_times.response_type
-- @comment COLUMN hublink.rollup_mi_sla_month_times.provider
-- @comment COLUMN hublink.rollup_mi_sla_month_times.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_month_times.seconds
-- @comment COLUMN hublink.rollup_mi_sla_month_times.n

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

-- @comment TABLE hublink.rollup_mi_sla_times
-- @comment COLUMN hublink.rollup_mi_sla_times.request_type
-- @comment COLUMN hublink.rollup_mi_sla_times.response_type
-- @comment COLUMN hublink.rollup_mi_sla_times.provider
-- @comment COLUMN hublink.rollup_mi_sla_times.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_times.seconds
-- @comment COLUMN hublink.rollup_mi_sla_times.n

CREATE VIEW hublink.rollup_mi_sla_live_times AS
SELECT x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds, count(*) AS n
  FROM hublink.rollup_mi_sla_live_request x
 WHERE x.seconds IS NOT NULL
 GROUP BY x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds;

-- @comment VIEW hublink.rollup_mi_sla_live_times
-- @comment COLUMN hublink.rollup_mi_sla_live_times.month
-- @comment COLUMN hublink.rollup_mi_sla_live_times.request_type
-- @comment COLUMN hublink.rollup_mi_sla_live_times.response_type
-- @comment COLUMN hublink.rollup_mi_sla_live_times.provider
-- @comment COLUMN hublink.rollup_mi_sla_live_times.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_times.seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_times.n

-- Same columns: the view keeps its grants and comments.

CREATE OR REPLACE VIEW hublink.mi_sla_compliance AS
WITH live_month AS MATERIALIZED (
    SELECT m.month FROM hublink.rollup_mi_sla_live_month m
), live AS MATERIALIZED (
    SELECT v.* FROM hublink.rollup_mi_sla_compliance_live v
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
      FROM live v
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
            SELECT s.request_type, s.response_type, s.provider, s.target_seconds, s.seconds, s.n
              FROM hublink.rollup_mi_sla_live_times s) t
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
    SELECT r.request_type, r.response_type, r.provider, r.target_seconds,
           min(r.pos50) AS pos50, min(r.pos95) AS pos95,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos50))::float8 AS lo50,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos50))::float8 AS hi50,
           min(r.seconds) FILTER (WHERE r.upto > floor(r.pos95))::float8 AS lo95,
           min(r.seconds) FILTER (WHERE r.upto > ceil(r.pos95))::float8 AS hi95
      FROM ranks r
     GROUP BY r.request_type, r.response_type, r.provider, r.target_seconds
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
      LEFT JOIN percentile p ON p.request_type = h.request_type AND p.response_type = h.response_type
                            AND p.provider IS NOT DISTINCT FROM h.provider AND p.target_seconds = h.target_seconds
)
SELECT x.month, x.request_type, x.response_type, x.provider, x.target_seconds, x.requests, x.answered,
       x.unanswered, x.median_response_seconds, x.p95_response_seconds, x.max_response_seconds,
       x.late_responses, x.open_breaches, x.late_responses + x.open_breaches AS breaches,
       round(100.0 * (x.answered - x.late_responses) / nullif(x.answered + x.open_breaches, 0), 2)
           AS within_target_percent
  FROM rows x;

-- The comments 86_mi_views.sql gives every live view and month table of the rollup (its view
-- named as the install names it, with hublink on its search_path).
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS rel, c.relkind
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace
                AND c.relname IN ('rollup_mi_sla_compliance_live', 'rollup_mi_sla_compliance_month') LOOP
        EXECUTE format('COMMENT ON %s %s IS %L', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel,
                       CASE o.relkind WHEN 'v' THEN 'mi_sla_compliance for the months the rollup does not cover (computed live).'
                            ELSE 'mi_sla_compliance folded per month: its rows for the months hublink.rollup_mi_fold() has folded.' END);
        EXECUTE (SELECT string_agg(format('COMMENT ON COLUMN %s.%I IS %L', o.rel, a.attname,
                                          'As mi_sla_compliance.' || a.attname || '.'), '; ')
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = o.rel AND a.attnum > 0 AND NOT a.attisdropped);
    END LOOP;
END;
$$;

-- @comment COLUMN hublink.rollup_mi_sla_compliance_live.settled_at


-- @comment COLUMN hublink.rollup_mi_sla_compliance_month.settled_at


-- The job folds them; the marks of the SLA's source rows.
-- @function hublink.rollup_mi_fold
-- @function hublink.rollup_mi_mark_sla
CREATE INDEX outbox_mi_removal_sent ON hublink.outbox (removal_id, sent_at) WHERE sent_at IS NOT NULL;
-- @comment INDEX hublink.outbox_mi_removal_sent

-- @function hublink.rollup_mi_mark_sla_sent
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.outbox
    FOR EACH ROW WHEN (NEW.sent_at IS NOT NULL) EXECUTE FUNCTION hublink.rollup_mi_mark_sla_sent();
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.outbox
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.outbox REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.inbox REFERENCING NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.inbox
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.inbox REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_insert AFTER INSERT ON hublink.state_transition REFERENCING NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.state_transition
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.state_transition REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_update AFTER UPDATE ON hublink.removal
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
CREATE TRIGGER rollup_mi_mark_sla_delete AFTER DELETE ON hublink.removal REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_mark_sla();
-- TRUNCATE of the outbox or the inbox (the other two already have it): the rollup starts again.
CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON hublink.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset();
CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON hublink.inbox
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset();

-- The quote engine (docs/performance.md "Quotes"): the same answers, faster. The itinerary search
-- picks each leg's best fare with one sort instead of sixteen ordered aggregates; the fare and
-- local-time helpers are PL/pgSQL (their plans kept for the session).
-- @function hublink.tsp_itineraries
-- @function hublink.tsp_fare_amount
-- @function hublink.tsp_local_time

INSERT INTO hublink.audit_exclusion VALUES
    ('rollup_mi_sla_compliance_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_month_times', 'MI rollup: counts derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_times', 'MI rollup: counts derived from audited tables, rewritten by the job.');

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
