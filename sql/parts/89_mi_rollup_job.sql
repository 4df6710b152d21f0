-- The MI rollup's job and marks (85_mi_rollup.sql; docs/mi.md "The rollup").

-- --- marks: which folded days a change touches ------------------------------------------------
-- Every table an MI view reads, with what a change to one of its rows touches: the instants of
-- the row itself (old and new), and a removal whose figures in other rows depend on it (the
-- lead-time band of a cancellation depends on the travel booked, the money lost on it on the
-- refunds, the escorts per returnee on the returnees, ...). For such a removal every instant
-- that decides a period of one of its rows is touched (hublink.rollup_mi_removal_instant):
-- coarse, but a change rarely reaches back to a removal's earlier days.
CREATE TABLE hublink.rollup_mi_source (
    table_name regclass PRIMARY KEY,
    removal_expr  text NOT NULL,
    instants_expr text NOT NULL
);
COMMENT ON TABLE hublink.rollup_mi_source IS
    'The source tables of the MI rollup and what a change to a row touches (SQL over the changed '
    'row t; read once, when the triggers are created at install).';
COMMENT ON COLUMN hublink.rollup_mi_source.table_name IS 'The table.';
COMMENT ON COLUMN hublink.rollup_mi_source.removal_expr IS 'The removal whose other rows depend on the row (NULL: none).';
COMMENT ON COLUMN hublink.rollup_mi_source.instants_expr IS 'The instants of the row that decide a period (a timestamptz[]).';
INSERT INTO hublink.rollup_mi_source VALUES
    ('hublink.removal', 'NULL::bigint', 'ARRAY[t.created_at]'),
    -- the removal machine's transitions decide outcomes and end-to-end times; the others only
    -- count on their own day (quote requests)
    ('hublink.state_transition', 'CASE WHEN t.machine = ''removal'' THEN t.removal_id END', 'ARRAY[t.at]'),
    ('hublink.escort_quote_response', 'NULL::bigint', 'ARRAY[t.received_at]'),
    ('hublink.travel_quote_response', 'NULL::bigint', 'ARRAY[t.received_at]'),
    ('hublink.escort_quote', 't.removal_id',
     'ARRAY[(SELECT p.received_at FROM hublink.escort_quote_response p WHERE p.escort_quote_response_id = t.escort_quote_response_id)]'),
    ('hublink.travel_quote', 't.removal_id',
     'ARRAY[(SELECT p.received_at FROM hublink.travel_quote_response p WHERE p.travel_quote_response_id = t.travel_quote_response_id)]'),
    ('hublink.itinerary_segment',
     '(SELECT q.removal_id FROM hublink.travel_quote q WHERE q.travel_quote_id = t.travel_quote_id)', 'ARRAY[]::timestamptz[]'),
    ('hublink.escort_position',
     '(SELECT p.removal_id FROM hublink.escort_quote_response p WHERE p.escort_quote_response_id = t.escort_quote_response_id)',
     'ARRAY[]::timestamptz[]'),
    ('hublink.escort_segment', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.returnee', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.ticket', 't.removal_id', 'ARRAY[]::timestamptz[]'),
    ('hublink.escort_booking', 't.removal_id', 'ARRAY[t.requested_at, t.responded_at]'),
    ('hublink.travel_booking', 't.removal_id', 'ARRAY[t.requested_at, t.responded_at]'),
    ('hublink.amendment', 'NULL::bigint', 'ARRAY[t.sent_at]'),
    ('hublink.cancellation', 'NULL::bigint', 'ARRAY[t.cancelled_at]'),
    ('hublink.financial_consequence', 't.removal_id', 'ARRAY[t.recorded_at]'),
    ('hublink.refund_receipt', 'NULL::bigint', 'ARRAY[t.received_at]');

-- The instants that decide a period of a removal's rows in some MI view.
CREATE VIEW hublink.rollup_mi_removal_instant AS
SELECT r.removal_id, r.created_at AS at FROM hublink.removal r
UNION ALL
SELECT s.removal_id, s.at FROM hublink.state_transition s WHERE s.machine = 'removal'
UNION ALL
SELECT x.removal_id, x.cancelled_at FROM hublink.cancellation x
UNION ALL
SELECT b.removal_id, b.responded_at FROM hublink.escort_booking b
UNION ALL
SELECT b.removal_id, b.responded_at FROM hublink.travel_booking b;
COMMENT ON VIEW hublink.rollup_mi_removal_instant IS
    'The instants that decide the period of a removal''s rows in the MI views whose figures depend '
    'on other rows of the removal: its creation (end-to-end times), its transitions (outcomes), '
    'its cancellations (lead-time bands, money lost) and its bookings (spend, best value, escorting).';
COMMENT ON COLUMN hublink.rollup_mi_removal_instant.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.rollup_mi_removal_instant.at IS 'The instant.';

-- TRUNCATE of a source table, or an admin's rebuild: the views stop reading the rollup at once
-- (the time zone it was folded in no longer matches) and the job folds it again from nothing.
CREATE FUNCTION hublink.rollup_mi_reset() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.rollup_mi_state SET time_zone = NULL;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_reset() IS
    'Statement trigger on TRUNCATE of an MI source table: the MI views stop reading the rollup and '
    'hublink.rollup_mi_fold() rebuilds it.';
REVOKE ALL ON FUNCTION hublink.rollup_mi_reset() FROM PUBLIC;

-- Per source table, a statement trigger function (static SQL with a generic plan, cached for
-- the session: a query planned at every statement cost about a millisecond per message) that
-- marks the ended days the changed rows touch. Only ended days: the days not ended yet are not
-- folded, and the job folds a day only when every transaction that wrote before its end has
-- ended (hublink.rollup_mi_fold). Marks are plain inserts: no writer ever waits for another.
DO $$
DECLARE
    s    record;
    fn   text;
    mark text;
BEGIN
    FOR s IN SELECT x.*, c.relname FROM hublink.rollup_mi_source x
               JOIN pg_catalog.pg_class c ON c.oid = x.table_name LOOP
        fn := format('hublink.%I', 'rollup_mi_mark_' || s.relname);
        -- %1$s: the transition table. The removal part runs only when a changed row names one
        -- whose other rows depend on it (not, say, for a quote request's transition).
        mark := format($m$
        INSERT INTO hublink.rollup_mi_dirty_day (day)
        SELECT DISTINCT x.day
          FROM (SELECT (i AT TIME ZONE tz)::date AS day FROM %%1$s t CROSS JOIN LATERAL unnest(%1$s) i) x
         WHERE x.day < today;$m$, s.instants_expr);
        IF s.instants_expr = 'ARRAY[]::timestamptz[]' THEN
            mark := '';
        END IF;
        IF s.removal_expr <> 'NULL::bigint' THEN
            mark := mark || format($m$
        ids := ARRAY(SELECT DISTINCT r.id FROM (SELECT %s AS id FROM %%1$s t) r WHERE r.id IS NOT NULL);
        IF cardinality(ids) > 0 THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT x.day
              FROM (SELECT (a.at AT TIME ZONE tz)::date AS day FROM hublink.rollup_mi_removal_instant a
                     WHERE a.removal_id = ANY (ids)) x
             WHERE x.day < today;
        END IF;$m$, s.removal_expr);
        END IF;
        EXECUTE format($f$
CREATE FUNCTION %1$s() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
    AS $body$
DECLARE
    tz    text := (SELECT c.time_zone FROM hublink.reporting_config c);
    today date := (clock_timestamp() AT TIME ZONE tz)::date;
    ids   bigint[];
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN%2$s
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN%3$s
    END IF;
    RETURN NULL;
END;
$body$
$f$, fn, format(mark, 'rollup_old'), format(mark, 'rollup_new'));
        EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn,
                       format('Statement trigger on %s: marks in hublink.rollup_mi_dirty_day the ended days the '
                              'changed rows touch (hublink.rollup_mi_source), so that the MI views compute them '
                              'live until the rollup folds them again.', s.table_name));
        EXECUTE format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS rollup_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_update AFTER UPDATE ON %s '
                       'REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS rollup_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', s.table_name, fn);
        -- TRUNCATE has no transition table: the rollup starts again.
        EXECUTE format('CREATE TRIGGER rollup_mi_mark_truncate AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION hublink.rollup_mi_reset()', s.table_name);
    END LOOP;
END;
$$;

-- Marks for hublink.mi_sla_compliance, whose period is the month a request was sent: a request
-- is touched by its own row (hublink.outbox), and by the rows of its removal that may answer it
-- (an answer in the inbox, rejected or not; the event recorded for it) or choose its target (the
-- removal's destination, for destination rules). Such a change marks the ended days on which
-- the removal's requests were sent. An inbox row's other updates (sealing, applying) mark nothing.
CREATE FUNCTION hublink.rollup_mi_mark_sla() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
    AS $$
DECLARE
    tz    text := (SELECT c.time_zone FROM hublink.reporting_config c);
    today timestamptz := date_trunc('day', clock_timestamp() AT TIME ZONE tz) AT TIME ZONE tz;
    refs  text[] := '{}';
BEGIN
    IF TG_TABLE_NAME = 'outbox' THEN
        -- (a row inserted as sent: hublink.rollup_mi_mark_sla_sent)
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT (t.sent_at AT TIME ZONE tz)::date FROM rollup_old t
             WHERE t.sent_at < today AND t.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
        END IF;
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO hublink.rollup_mi_dirty_day (day)
            SELECT DISTINCT (t.sent_at AT TIME ZONE tz)::date FROM rollup_new t
             WHERE t.sent_at < today AND t.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
        END IF;
        RETURN NULL;
    ELSIF TG_TABLE_NAME = 'inbox' THEN
        IF TG_OP = 'INSERT' THEN
            refs := ARRAY(SELECT t.removal_id FROM rollup_new t WHERE t.removal_id IS NOT NULL);
        ELSIF TG_OP = 'DELETE' THEN
            refs := ARRAY(SELECT t.removal_id FROM rollup_old t WHERE t.removal_id IS NOT NULL);
        ELSE
            refs := ARRAY(SELECT x.removal_id
                            FROM rollup_old o JOIN rollup_new n ON n.id = o.id
                           CROSS JOIN LATERAL (VALUES (o.removal_id), (n.removal_id)) x(removal_id)
                           WHERE x.removal_id IS NOT NULL
                             AND ((o.status = 'rejected') IS DISTINCT FROM (n.status = 'rejected')
                                  OR o.enqueued_at IS DISTINCT FROM n.enqueued_at
                                  OR o.message IS DISTINCT FROM n.message));
        END IF;
    ELSIF TG_TABLE_NAME = 'state_transition' THEN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            refs := ARRAY(SELECT r.removal_reference FROM rollup_old t JOIN hublink.removal r ON r.removal_id = t.removal_id
                           WHERE t.message_id IS NOT NULL);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            refs := refs || ARRAY(SELECT r.removal_reference FROM rollup_new t JOIN hublink.removal r ON r.removal_id = t.removal_id
                                   WHERE t.message_id IS NOT NULL);
        END IF;
    ELSIF TG_TABLE_NAME = 'removal' THEN
        IF TG_OP = 'DELETE' THEN
            refs := ARRAY(SELECT t.removal_reference FROM rollup_old t);
        ELSE
            refs := ARRAY(SELECT x.ref
                            FROM rollup_old o JOIN rollup_new n ON n.removal_id = o.removal_id
                           CROSS JOIN LATERAL (VALUES (o.removal_reference), (n.removal_reference)) x(ref)
                           WHERE o.destination IS DISTINCT FROM n.destination
                              OR o.removal_reference IS DISTINCT FROM n.removal_reference);
        END IF;
    END IF;
    IF cardinality(refs) > 0 THEN
        -- each removal's messages sent before today, by hublink.outbox_mi_removal_sent: an
        -- answer to a request of today (the usual case) reads no row
        INSERT INTO hublink.rollup_mi_dirty_day (day)
        SELECT DISTINCT (o.sent_at AT TIME ZONE tz)::date
          FROM (SELECT DISTINCT x.ref FROM unnest(refs) x(ref)) r
          JOIN LATERAL (SELECT m.sent_at, m.message_type FROM hublink.outbox m
                         WHERE m.removal_id = r.ref AND m.sent_at < today OFFSET 0) o ON true
         WHERE o.message_type IN (SELECT a.request_type FROM hublink.timer_answer a);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_mark_sla() IS
    'Statement trigger on hublink.outbox, inbox, state_transition and removal: marks in '
    'hublink.rollup_mi_dirty_day the ended days on which the requests whose SLA figures the '
    'changed rows touch were sent (hublink.mi_sla_compliance).';
REVOKE ALL ON FUNCTION hublink.rollup_mi_mark_sla() FROM PUBLIC;
CREATE INDEX outbox_mi_removal_sent ON hublink.outbox (removal_id, sent_at) WHERE sent_at IS NOT NULL;
COMMENT ON INDEX hublink.outbox_mi_removal_sent IS
    'hublink.rollup_mi_mark_sla: the requests of a removal sent before a day (the days an answer touches).';
-- A new outbox row is unsent (the broker's confirmation sets sent_at, an update): only a row
-- inserted as sent (a copy, a test) can touch an ended day, and only it calls a function.
CREATE FUNCTION hublink.rollup_mi_mark_sla_sent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tz  text := (SELECT c.time_zone FROM hublink.reporting_config c);
    sent_day date := (NEW.sent_at AT TIME ZONE tz)::date;
BEGIN
    IF sent_day < (clock_timestamp() AT TIME ZONE tz)::date
       AND NEW.message_type IN (SELECT a.request_type FROM hublink.timer_answer a)
       AND NOT EXISTS (SELECT FROM hublink.rollup_mi_dirty_day d WHERE d.day = sent_day AND NOT d.claimed) THEN
        INSERT INTO hublink.rollup_mi_dirty_day (day) VALUES (sent_day);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_mark_sla_sent() IS
    'Row trigger on hublink.outbox for rows inserted already sent: marks the ended day the request '
    'was sent in hublink.rollup_mi_dirty_day (hublink.mi_sla_compliance), once.';
REVOKE ALL ON FUNCTION hublink.rollup_mi_mark_sla_sent() FROM PUBLIC;
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

-- --- the job ------------------------------------------------------------------------------------
-- Folds the days that have ended (and whose writers have all ended: a writer whose trigger ran
-- before a day ended did not mark it, so the job waits until every transaction running at
-- horizon_at, a moment after the day ended, has ended) from the watermark folded_until, and
-- folds again the days marked dirty. What it stores is what the rollup_mi_*_live views
-- compute for those days and months now (they are live until this transaction commits), so
-- the views give the same figures before and after. The marks it folds are claimed first and
-- deleted last: a mark written meanwhile by a concurrent writer, whose row this fold may not
-- see, stays, and its day stays live.
CREATE FUNCTION hublink.rollup_mi_fold() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s          hublink.rollup_mi_state;
    c          record;
    old_until  date;
    new_until  date;
    old_months date;
    new_months date;
    h_at       timestamptz;
    h_xmax     xid8;
    t          record;
BEGIN
    SELECT * INTO s FROM hublink.rollup_mi_state FOR UPDATE;
    SELECT * INTO c FROM hublink.rollup_mi_config;
    IF s.time_zone IS DISTINCT FROM c.time_zone OR s.config IS DISTINCT FROM c.config THEN
        -- first run, a changed configuration or a reset: start again from nothing
        DELETE FROM hublink.rollup_mi_volume_day;
        DELETE FROM hublink.rollup_mi_volume_period;
        DELETE FROM hublink.rollup_mi_sla_month_times;
        DELETE FROM hublink.rollup_mi_sla_times;
        FOR t IN SELECT x.oid::regclass AS rel FROM pg_catalog.pg_class x
                  WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                    AND x.relname ~ '^rollup_mi_.*_month$' LOOP
            EXECUTE format('DELETE FROM %s', t.rel);
        END LOOP;
        UPDATE hublink.rollup_mi_state SET time_zone = c.time_zone, config = c.config, folded_until = NULL;
        s.folded_until := NULL;
    END IF;
    old_until := s.folded_until;
    new_until := old_until;
    IF s.horizon_xmax IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) >= s.horizon_xmax THEN
        new_until := greatest(old_until, (s.horizon_at AT TIME ZONE c.time_zone)::date);
    END IF;
    -- the next horizon: the clock first, then the transactions that may have written before it
    h_at := clock_timestamp();
    h_xmax := pg_snapshot_xmax(pg_current_snapshot());
    UPDATE hublink.rollup_mi_state SET horizon_at = h_at, horizon_xmax = h_xmax;
    IF new_until IS NULL THEN
        RETURN h_at + interval '1 minute';
    END IF;

    -- Fold: the claimed dirty days before the old watermark, and every day from it to the new.
    UPDATE hublink.rollup_mi_dirty_day SET claimed = true WHERE day < new_until AND NOT claimed;
    old_until := coalesce(old_until, '-infinity');
    DELETE FROM hublink.rollup_mi_volume_day r
     WHERE r.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed)
        OR (r.day >= old_until AND r.day < new_until);
    INSERT INTO hublink.rollup_mi_volume_day
    SELECT v.day, v.measure, v.booking, v.reason_code, v.lead_time_band, v.count
      FROM hublink.rollup_mi_volume_live v
     WHERE v.day IN (SELECT d.day FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < old_until)
        OR (v.day >= old_until AND v.day < new_until);
    -- the longer periods wholly folded now that have a day folded in this run: sums of their days
    WITH fold AS (
        SELECT g.granularity, date_trunc(g.granularity, old_until::timestamp)::date AS from_start,
               date_trunc(g.granularity, new_until::timestamp)::date AS until
          FROM hublink.rollup_mi_granularity g WHERE NOT g.daily
    ), period AS (
        SELECT f.granularity, f.from_start, f.until, date_trunc(f.granularity, d.day::timestamp)::date AS period_start
          FROM fold f CROSS JOIN hublink.rollup_mi_dirty_day d WHERE d.claimed
    ), gone AS (
        DELETE FROM hublink.rollup_mi_volume_period p USING fold f
         WHERE p.granularity = f.granularity AND p.period_start < f.until
           AND (p.period_start >= f.from_start
                OR p.period_start IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
    )
    INSERT INTO hublink.rollup_mi_volume_period
    SELECT f.granularity, date_trunc(f.granularity, r.day::timestamp)::date, r.measure, r.booking, r.reason_code,
           r.lead_time_band, sum(r.count)
      FROM fold f CROSS JOIN hublink.rollup_mi_volume_day r
     WHERE date_trunc(f.granularity, r.day::timestamp)::date < f.until
       AND (date_trunc(f.granularity, r.day::timestamp)::date >= f.from_start
            OR date_trunc(f.granularity, r.day::timestamp)::date
               IN (SELECT x.period_start FROM period x WHERE x.granularity = f.granularity))
     GROUP BY 1, 2, 3, 4, 5, 6;

    -- Whole months only: those before the new watermark's month that are new or had a dirty day.
    old_months := coalesce(date_trunc('month', old_until::timestamp)::date, '-infinity');
    new_months := date_trunc('month', new_until::timestamp)::date;
    FOR t IN SELECT x.oid::regclass AS rel, (regexp_replace(x.oid::regclass::text, '_month$', '_live'))::regclass AS live
               FROM pg_catalog.pg_class x
              WHERE x.relnamespace = 'hublink'::regnamespace AND x.relkind = 'r'
                AND x.relname ~ '^rollup_mi_.*_month$' LOOP
        EXECUTE format($q$
            WITH fold AS (
                SELECT date_trunc('month', d.day::timestamp)::date AS month
                  FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < $1
            ), gone AS (
                DELETE FROM %1$s r
                 WHERE (r.month IN (SELECT f.month FROM fold f) OR r.month >= $2) AND r.month < $3
            )
            INSERT INTO %1$s SELECT v.* FROM %2$s v
             WHERE (v.month IN (SELECT f.month FROM fold f) OR v.month >= $2) AND v.month < $3$q$, t.rel, t.live)
        USING old_until, old_months, new_months;
    END LOOP;

    -- The SLA response times of the same months: each month's counts anew, and the whole
    -- history's less the months' old counts plus their new ones.
    WITH fold AS (
        SELECT date_trunc('month', d.day::timestamp)::date AS month
          FROM hublink.rollup_mi_dirty_day d WHERE d.claimed AND d.day < old_until
    ), gone AS (
        DELETE FROM hublink.rollup_mi_sla_month_times r
         WHERE (r.month IN (SELECT f.month FROM fold f) OR r.month >= old_months) AND r.month < new_months
        RETURNING r.request_type, r.response_type, r.provider, r.target_seconds, r.seconds, -r.n AS n
    ), fresh AS (
        INSERT INTO hublink.rollup_mi_sla_month_times
        SELECT v.* FROM hublink.rollup_mi_sla_live_times v
         WHERE (v.month IN (SELECT f.month FROM fold f) OR v.month >= old_months) AND v.month < new_months
        RETURNING request_type, response_type, provider, target_seconds, seconds, n
    )
    INSERT INTO hublink.rollup_mi_sla_times AS total
    SELECT x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds, sum(x.n)
      FROM (SELECT * FROM gone UNION ALL SELECT * FROM fresh) x
     GROUP BY x.request_type, x.response_type, x.provider, x.target_seconds, x.seconds
    HAVING sum(x.n) <> 0
        ON CONFLICT (request_type, response_type, provider, target_seconds, seconds)
        DO UPDATE SET n = total.n + excluded.n;
    DELETE FROM hublink.rollup_mi_sla_times WHERE n = 0;

    DELETE FROM hublink.rollup_mi_dirty_day WHERE claimed;
    UPDATE hublink.rollup_mi_state SET folded_until = new_until;
    -- The views' plans depend on these small tables' sizes (a stale estimate of thousands of
    -- dirty days would make them plan, and JIT-compile, for a full live computation).
    IF new_until IS DISTINCT FROM s.folded_until THEN
        ANALYZE hublink.rollup_mi_state, hublink.rollup_mi_dirty_day, hublink.rollup_mi_volume_day,
                hublink.rollup_mi_volume_period, hublink.rollup_mi_sla_compliance_month,
                hublink.rollup_mi_sla_month_times, hublink.rollup_mi_sla_times;
    END IF;
    -- behind (a day ended since the horizon, or its writers had not ended): again in a minute
    RETURN CASE WHEN new_until < (h_at AT TIME ZONE c.time_zone)::date THEN h_at + interval '1 minute' END;
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_fold() IS
    'The worker job mi_rollup (docs/mi.md "The rollup"): folds the ended days from the watermark '
    'and the days marked dirty into the MI rollup tables. Returns when it wants to run again.';
REVOKE ALL ON FUNCTION hublink.rollup_mi_fold() FROM PUBLIC;

CREATE FUNCTION hublink.rollup_mi_rebuild() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE hublink.rollup_mi_state SET time_zone = NULL;
    PERFORM hublink.schedule_worker_job('mi_rollup', clock_timestamp());
END;
$$;
COMMENT ON FUNCTION hublink.rollup_mi_rebuild() IS
    'Throws the MI rollup away: the MI views compute everything live (exact, slow) until the '
    'worker job mi_rollup has folded it again (its next two runs, brought forward to now).';
REVOKE ALL ON FUNCTION hublink.rollup_mi_rebuild() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('mi_rollup', 'hublink.rollup_mi_fold()'::regprocedure, interval '10 minutes',
        'Folds the ended days into the MI rollup and re-folds the days changed since '
        '(hublink.rollup_mi_state, docs/mi.md "The rollup").');

ANALYZE hublink.rollup_mi_state, hublink.rollup_mi_dirty_day;

INSERT INTO hublink.audit_exclusion VALUES
    ('rollup_mi_state', 'MI rollup bookkeeping, rewritten at every run of the job mi_rollup.'),
    ('rollup_mi_dirty_day', 'MI rollup bookkeeping: days marked by triggers and cleared by the job.'),
    ('rollup_mi_volume_day', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_volume_period', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_end_to_end_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_money_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_removal_outcome_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_best_value_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_escorting_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_compliance_month', 'MI rollup: aggregates derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_month_times', 'MI rollup: counts derived from audited tables, rewritten by the job.'),
    ('rollup_mi_sla_times', 'MI rollup: counts derived from audited tables, rewritten by the job.');
