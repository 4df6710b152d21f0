-- 0.2.0: hublink.mi_sla_compliance from the MI rollup (issue 15 section 5; docs/performance.md,
-- docs/mi.md "The rollup"): its month rows folded per month, its whole-history percentiles read
-- from exact counts of the folded response times, the rest computed live; the SLA rules join
-- the configuration the rollup depends on (a rollup folded before this update is rebuilt by the
-- job's next runs, as after any change of configuration). Further down: the quote engine's
-- faster functions (same answers).

-- @view hublink.rollup_mi_config

-- @comment COLUMN hublink.rollup_mi_config.time_zone
-- @comment COLUMN hublink.rollup_mi_config.config

-- @view hublink.rollup_mi_sla_request

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

-- @view hublink.rollup_mi_sla_live_month

-- @comment COLUMN hublink.rollup_mi_sla_live_month.month

-- @view hublink.rollup_mi_sla_live_range

-- @comment COLUMN hublink.rollup_mi_sla_live_range.lo
-- @comment COLUMN hublink.rollup_mi_sla_live_range.hi

-- @view hublink.rollup_mi_sla_live_request

-- @comment COLUMN hublink.rollup_mi_sla_live_request.month
-- @comment COLUMN hublink.rollup_mi_sla_live_request.request_type
-- @comment COLUMN hublink.rollup_mi_sla_live_request.response_type
-- @comment COLUMN hublink.rollup_mi_sla_live_request.provider
-- @comment COLUMN hublink.rollup_mi_sla_live_request.target
-- @comment COLUMN hublink.rollup_mi_sla_live_request.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_request.sent_at
-- @comment COLUMN hublink.rollup_mi_sla_live_request.answered_at
-- @comment COLUMN hublink.rollup_mi_sla_live_request.seconds

-- The live months' aggregates of both kinds, which the two views below and
-- hublink.mi_sla_compliance_rows read (one definition).
-- @view hublink.rollup_mi_sla_live_groups
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.kind
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.month
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.request_type
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.response_type
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.provider
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.requests
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.answered
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.unanswered
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.median_response_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.p95_response_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.max_response_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.late_responses
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.open_breaches
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.settled_at
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_groups.n

-- @view hublink.rollup_mi_sla_compliance_live

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

-- @view hublink.rollup_mi_sla_live_times

-- @comment COLUMN hublink.rollup_mi_sla_live_times.month
-- @comment COLUMN hublink.rollup_mi_sla_live_times.request_type
-- @comment COLUMN hublink.rollup_mi_sla_live_times.response_type
-- @comment COLUMN hublink.rollup_mi_sla_live_times.provider
-- @comment COLUMN hublink.rollup_mi_sla_live_times.target_seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_times.seconds
-- @comment COLUMN hublink.rollup_mi_sla_live_times.n

-- Same columns: the view keeps its grants and comments. It is a call of mi_sla_compliance_rows(),
-- which runs with jit = off (part 68 says why).

-- @function hublink.mi_sla_compliance_rows

REVOKE EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() TO hublink_reporting, hublink_admin;

-- @view hublink.mi_sla_compliance

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
-- @trigger hublink.outbox.rollup_mi_mark_sla_insert
-- @trigger hublink.outbox.rollup_mi_mark_sla_update
-- @trigger hublink.outbox.rollup_mi_mark_sla_delete
-- @trigger hublink.inbox.rollup_mi_mark_sla_insert
-- @trigger hublink.inbox.rollup_mi_mark_sla_update
-- @trigger hublink.inbox.rollup_mi_mark_sla_delete
-- @trigger hublink.state_transition.rollup_mi_mark_sla_insert
-- @trigger hublink.state_transition.rollup_mi_mark_sla_update
-- @trigger hublink.state_transition.rollup_mi_mark_sla_delete
-- @trigger hublink.removal.rollup_mi_mark_sla_update
-- @trigger hublink.removal.rollup_mi_mark_sla_delete
-- TRUNCATE of the outbox or the inbox (the other two already have it): the rollup starts again.
-- @trigger hublink.outbox.rollup_mi_mark_truncate
-- @trigger hublink.inbox.rollup_mi_mark_truncate

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
