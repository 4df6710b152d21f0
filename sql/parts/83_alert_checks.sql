-- Operational alerts (NFR 0008 "early alerting"; docs/alerts.md "Operational alerts"): the
-- operational_checks job looks at the worker's state, the backlogs, the rejections, the jobs,
-- the timers and the alert channels, and raises an alert once per episode when a threshold (a
-- row of hublink.alert_threshold) is passed; when the condition clears it raises an
-- operational_recovered alert. The same job samples the broker connection for the
-- availability_report job (GSO 80-81).

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('broker_unreachable', 'critical', 'operations',
     'The worker has had no broker connection for longer than the threshold: nothing is received '
     'or sent. See hublink.worker_status.last_error; check the broker, the network, the certificates.'),
    ('outbox_backlog', 'warning', 'operations',
     'An outbound message has waited longer than the threshold for the broker''s confirm. See '
     'hublink.worker_queue_status.'),
    ('inbox_backlog', 'warning', 'operations',
     'An inbound message has waited for a handler retry longer than the threshold. See '
     'hublink.inbox rows with status retrying and their last_error.'),
    ('rejections_high', 'warning', 'operations',
     'More inbound messages were rejected within the window than the threshold allows: a '
     'sender may be broken or hostile. See hublink.inbox rows with status rejected.'),
    ('worker_job_failed', 'warning', 'operations',
     'A worker job''s last run failed. See hublink.worker_job.last_error.'),
    ('timers_late', 'warning', 'operations',
     'Workflow timers fired later than the threshold after they were due (the worker was down '
     'or busy). See hublink.timer.lateness.'),
    ('alert_delivery_failing', 'critical', 'operations',
     'An alert channel has had a delivery pending longer than the threshold: its receiver does '
     'not accept them. See hublink.alert_channel_status.'),
    ('broker_token_failed', 'critical', 'operations',
     'The worker could not obtain or renew its broker access token (docs/worker.md "Access '
     'tokens"). See hublink.worker_status.last_error.'),
    ('operational_recovered', 'info', 'operations',
     'A condition an operational alert reported has cleared (detail.recovered names the alert).');

CREATE TABLE hublink.alert_threshold (
    check_name  text PRIMARY KEY,
    alert_kind  text NOT NULL REFERENCES hublink.alert_kind,
    after       interval CHECK (after >= interval '0'),
    max_count   integer CHECK (max_count >= 0),
    within      interval CHECK (within > interval '0'),
    severity    text REFERENCES hublink.alert_severity,
    enabled     boolean NOT NULL DEFAULT true,
    description text NOT NULL,
    CHECK (CASE check_name
               WHEN 'rejections' THEN max_count IS NOT NULL AND within IS NOT NULL
               WHEN 'worker_job_failed' THEN true
               ELSE after IS NOT NULL END)
);
COMMENT ON TABLE hublink.alert_threshold IS
    'The thresholds of the operational checks (NFR 0008), one row per check; admins change '
    'them. The checks themselves are code (hublink.operational_checks): a row names no function.';
COMMENT ON COLUMN hublink.alert_threshold.check_name IS 'The check (see description).';
COMMENT ON COLUMN hublink.alert_threshold.alert_kind IS 'The alert it raises.';
COMMENT ON COLUMN hublink.alert_threshold.after IS 'How long the condition must last (or how old, how late) before the alert.';
COMMENT ON COLUMN hublink.alert_threshold.max_count IS 'For rates: the most events allowed within the window.';
COMMENT ON COLUMN hublink.alert_threshold.within IS 'For rates: the window.';
COMMENT ON COLUMN hublink.alert_threshold.severity IS 'The alert''s severity; NULL: the kind''s default.';
COMMENT ON COLUMN hublink.alert_threshold.enabled IS 'False: the check does not run.';
COMMENT ON COLUMN hublink.alert_threshold.description IS 'What the check looks at.';
INSERT INTO hublink.alert_threshold (check_name, alert_kind, after, max_count, within, description) VALUES
    ('broker_unreachable', 'broker_unreachable', '2 minutes', NULL, NULL,
     'The worker is not connected to the broker (worker_status.state) for longer than after.'),
    ('outbox_backlog', 'outbox_backlog', '10 minutes', NULL, NULL,
     'The oldest unconfirmed outbox row is older than after.'),
    ('inbox_backlog', 'inbox_backlog', '10 minutes', NULL, NULL,
     'The oldest inbox row waiting for a handler retry was received longer than after ago.'),
    ('rejections', 'rejections_high', NULL, 10, '1 hour',
     'More than max_count inbound messages rejected within the last within.'),
    ('worker_job_failed', 'worker_job_failed', NULL, NULL, NULL,
     'A worker job''s last run failed (one alert per job until a run succeeds).'),
    ('timers_late', 'timers_late', '5 minutes', NULL, NULL,
     'Timers fired since the last check with a lateness above after (one alert per check run).'),
    ('alert_delivery_failing', 'alert_delivery_failing', '15 minutes', NULL, NULL,
     'A channel''s oldest pending delivery is older than after (one alert per channel).');
GRANT SELECT, UPDATE ON hublink.alert_threshold TO hublink_admin;
-- Every change is alerted: 95_config_alerts.sql.

CREATE TABLE hublink.alert_check_state (
    check_name text NOT NULL REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    subject    text NOT NULL DEFAULT '',
    since      timestamptz NOT NULL,
    alert_id   bigint REFERENCES hublink.alert ON DELETE SET NULL,
    PRIMARY KEY (check_name, subject)
);
COMMENT ON TABLE hublink.alert_check_state IS
    'The conditions the operational checks see now, one row per episode: since when, and the '
    'alert raised for it (NULL while under the threshold). Written by the checks only.';
COMMENT ON COLUMN hublink.alert_check_state.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_state.subject IS 'What it is about (a job, a channel), or empty.';
COMMENT ON COLUMN hublink.alert_check_state.since IS 'When the condition started (as well as the check can tell).';
COMMENT ON COLUMN hublink.alert_check_state.alert_id IS 'The alert raised for this episode, once the threshold was passed.';

CREATE TABLE hublink.alert_check_watermark (
    check_name text PRIMARY KEY REFERENCES hublink.alert_threshold ON DELETE CASCADE,
    checked_to timestamptz NOT NULL
);
COMMENT ON TABLE hublink.alert_check_watermark IS
    'For checks that count events (timers_late): up to when events were already looked at.';
COMMENT ON COLUMN hublink.alert_check_watermark.check_name IS 'The check.';
COMMENT ON COLUMN hublink.alert_check_watermark.checked_to IS 'Events up to this time were counted.';

CREATE TABLE hublink.availability_sample (
    sampled_at timestamptz PRIMARY KEY,
    state      text NOT NULL,
    connected  boolean NOT NULL
);
COMMENT ON TABLE hublink.availability_sample IS
    'The worker''s broker connection state as each operational_checks run saw it, for the '
    'availability figures (GSO 80); kept 35 days.';
COMMENT ON COLUMN hublink.availability_sample.sampled_at IS 'When it was sampled.';
COMMENT ON COLUMN hublink.availability_sample.state IS 'hublink.worker_status.state then.';
COMMENT ON COLUMN hublink.availability_sample.connected IS 'True when the worker was connected to the broker.';

-- One episode of one check: start it, alert once it lasted `after`, end it (with a recovery
-- alert if it had alerted). Returns the alert raised now, if any.
CREATE FUNCTION hublink.alert_episode(p_check text, p_subject text, p_active boolean,
                                      p_since timestamptz, p_text text, p_detail jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t  hublink.alert_threshold;
    s  hublink.alert_check_state;
    id bigint;
BEGIN
    SELECT * INTO t FROM hublink.alert_threshold WHERE check_name = p_check;
    SELECT * INTO s FROM hublink.alert_check_state WHERE check_name = p_check AND subject = p_subject;
    IF NOT p_active THEN
        IF FOUND THEN
            DELETE FROM hublink.alert_check_state WHERE check_name = p_check AND subject = p_subject;
            IF s.alert_id IS NOT NULL THEN
                PERFORM hublink.raise_alert('operational_recovered',
                    format('recovered: %s%s', p_check, CASE WHEN p_subject <> '' THEN ' ' || p_subject ELSE '' END),
                    NULL, jsonb_build_object('recovered', s.alert_id, 'check', p_check, 'subject', p_subject,
                                             'since', s.since, 'lasted', clock_timestamp() - s.since));
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    IF NOT FOUND THEN
        s := ROW(p_check, p_subject, least(coalesce(p_since, clock_timestamp()), clock_timestamp()), NULL);
        INSERT INTO hublink.alert_check_state VALUES (s.*);
    END IF;
    IF s.alert_id IS NULL AND clock_timestamp() - s.since >= coalesce(t.after, interval '0') THEN
        id := hublink.raise_alert(t.alert_kind, p_text, NULL,
                                  coalesce(p_detail, '{}') || jsonb_build_object(
                                      'check', p_check, 'since', s.since, 'threshold', t.after),
                                  t.severity);
        UPDATE hublink.alert_check_state SET alert_id = id WHERE check_name = p_check AND subject = p_subject;
    END IF;
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.alert_episode(text, text, boolean, timestamptz, text, jsonb) IS
    'One episode of an operational check: starts it when the condition appears, raises the '
    'check''s alert once when it has lasted the threshold''s after, and ends it (with an '
    'operational_recovered alert when it had alerted) when the condition clears.';
REVOKE ALL ON FUNCTION hublink.alert_episode(text, text, boolean, timestamptz, text, jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.operational_checks() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t       hublink.alert_threshold;
    w       record;
    r       record;
    n       bigint;
    oldest  timestamptz;
    since   timestamptz;
BEGIN
    SELECT * INTO w FROM hublink.worker_state();
    INSERT INTO hublink.availability_sample VALUES (clock_timestamp(), coalesce(w.state, 'stopped'),
                                                    w.state IS NOT DISTINCT FROM 'connected')
        ON CONFLICT DO NOTHING;
    DELETE FROM hublink.availability_sample WHERE sampled_at < clock_timestamp() - interval '35 days';

    FOR t IN SELECT * FROM hublink.alert_threshold ORDER BY check_name LOOP
        IF NOT t.enabled THEN
            DELETE FROM hublink.alert_check_state WHERE check_name = t.check_name;
            CONTINUE;
        END IF;
        CASE t.check_name
        WHEN 'broker_unreachable' THEN
            PERFORM hublink.alert_episode(t.check_name, '', w.state IS DISTINCT FROM 'connected', w.state_since,
                format('the worker has had no broker connection since %s (%s)',
                       to_char(w.state_since, 'YYYY-MM-DD HH24:MI:SSOF'), coalesce(w.last_error, w.state)),
                jsonb_build_object('state', w.state, 'last_error', w.last_error));
        WHEN 'outbox_backlog' THEN
            SELECT min(o.created_at), count(*) INTO oldest, n FROM hublink.outbox o WHERE o.sent_at IS NULL;
            PERFORM hublink.alert_episode(t.check_name, '',
                oldest IS NOT NULL AND clock_timestamp() - oldest > t.after, oldest,
                format('%s outbound messages wait for the broker, the oldest since %s', n,
                       to_char(oldest, 'YYYY-MM-DD HH24:MI:SSOF')),
                jsonb_build_object('backlog', n, 'oldest_created_at', oldest));
        WHEN 'inbox_backlog' THEN
            SELECT min(i.received_at), count(*) INTO oldest, n FROM hublink.inbox i WHERE i.status = 'retrying';
            PERFORM hublink.alert_episode(t.check_name, '',
                oldest IS NOT NULL AND clock_timestamp() - oldest > t.after, oldest,
                format('%s inbound messages wait for a handler retry, the oldest received %s', n,
                       to_char(oldest, 'YYYY-MM-DD HH24:MI:SSOF')),
                jsonb_build_object('retrying', n, 'oldest_received_at', oldest));
        WHEN 'rejections' THEN
            SELECT count(*) INTO n FROM hublink.inbox i
             WHERE i.status = 'rejected' AND i.processed_at > clock_timestamp() - t.within;
            PERFORM hublink.alert_episode(t.check_name, '', n > t.max_count, clock_timestamp(),
                format('%s inbound messages rejected within %s (threshold %s)', n, t.within, t.max_count),
                jsonb_build_object('rejected', n, 'within', t.within, 'max_count', t.max_count));
        WHEN 'worker_job_failed' THEN
            FOR r IN SELECT j.job_name, j.last_error, j.last_error_at, j.failures,
                            j.enabled AND j.last_error_at IS NOT NULL
                            AND j.last_error_at >= coalesce(j.last_started_at, '-infinity') AS failing
                       FROM hublink.worker_job j
                      UNION ALL
                     SELECT s.subject, NULL, NULL, NULL, false
                       FROM hublink.alert_check_state s
                      WHERE s.check_name = t.check_name
                        AND s.subject NOT IN (SELECT job_name FROM hublink.worker_job) LOOP
                PERFORM hublink.alert_episode(t.check_name, r.job_name, r.failing, r.last_error_at,
                    format('worker job %s failed: %s', r.job_name, left(r.last_error, 200)),
                    jsonb_build_object('job_name', r.job_name, 'last_error', r.last_error,
                                       'failures', r.failures));
            END LOOP;
        WHEN 'timers_late' THEN
            SELECT checked_to INTO since FROM hublink.alert_check_watermark WHERE check_name = t.check_name;
            oldest := clock_timestamp();
            SELECT count(*), max(tm.lateness) INTO r
              FROM hublink.timer tm
             WHERE tm.fired_at > coalesce(since, '-infinity') AND tm.fired_at <= oldest
               AND tm.lateness > t.after;
            IF r.count > 0 THEN
                PERFORM hublink.raise_alert(t.alert_kind,
                    format('%s timers fired more than %s late (the latest by %s)', r.count, t.after, r.max),
                    NULL, jsonb_build_object('check', t.check_name, 'timers', r.count,
                                             'max_lateness', r.max, 'threshold', t.after),
                    t.severity);
            END IF;
            INSERT INTO hublink.alert_check_watermark VALUES (t.check_name, oldest)
                ON CONFLICT (check_name) DO UPDATE SET checked_to = EXCLUDED.checked_to;
        WHEN 'alert_delivery_failing' THEN
            FOR r IN SELECT c.channel_name, min(d.created_at) AS oldest, count(d.delivery_id) AS pending,
                            (array_agg(d.last_error ORDER BY d.last_attempt_at DESC NULLS LAST))[1] AS last_error
                       FROM hublink.alert_channel c
                       LEFT JOIN hublink.alert_delivery d ON d.channel_name = c.channel_name AND d.state = 'pending'
                      WHERE c.enabled
                      GROUP BY c.channel_name
                      UNION ALL
                     SELECT s.subject, NULL, 0, NULL
                       FROM hublink.alert_check_state s
                      WHERE s.check_name = t.check_name
                        AND s.subject NOT IN (SELECT channel_name FROM hublink.alert_channel WHERE enabled) LOOP
                PERFORM hublink.alert_episode(t.check_name, r.channel_name,
                    r.oldest IS NOT NULL AND clock_timestamp() - r.oldest > t.after, r.oldest,
                    format('alert channel %s has %s deliveries pending since %s: %s', r.channel_name, r.pending,
                           to_char(r.oldest, 'YYYY-MM-DD HH24:MI:SSOF'), coalesce(r.last_error, 'no attempt yet')),
                    jsonb_build_object('channel_name', r.channel_name, 'pending', r.pending,
                                       'last_error', r.last_error));
            END LOOP;
        ELSE
            NULL; -- a row for a check this version does not know: nothing to run
        END CASE;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.operational_checks() IS
    'The operational_checks job (NFR 0008): samples the broker connection for the availability '
    'figures, then runs each enabled check of hublink.alert_threshold and raises its alert once '
    'per episode (hublink.alert_episode).';
REVOKE ALL ON FUNCTION hublink.operational_checks() FROM PUBLIC;

CREATE FUNCTION hublink.availability_report_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p_start timestamptz := coalesce((SELECT max(period_end) FROM hublink.availability_report),
                                    (SELECT min(sampled_at) FROM hublink.availability_sample),
                                    clock_timestamp());
    p_end   timestamptz := clock_timestamp();
    s       record;
    ws      record;
BEGIN
    SELECT count(*) AS samples, count(*) FILTER (WHERE connected) AS connected
      INTO s FROM hublink.availability_sample WHERE sampled_at > p_start AND sampled_at <= p_end;
    SELECT * INTO ws FROM hublink.worker_status;
    INSERT INTO hublink.availability_report (period_start, period_end, figures)
    VALUES (p_start, p_end, jsonb_build_object(
        'samples', s.samples,
        'broker_connected_percent',
            CASE WHEN s.samples > 0 THEN round(100.0 * s.connected / s.samples, 2) END,
        'state', ws.state,
        'state_since', ws.state_since,
        'worker_started_at', ws.started_at,
        'received_since_start', ws.received,
        'applied_since_start', ws.applied,
        'rejected_since_start', ws.rejected,
        'published_since_start', ws.published,
        'inbox_received_in_period', (SELECT count(*) FROM hublink.inbox i
                                      WHERE i.received_at > p_start AND i.received_at <= p_end),
        'inbox_rejected_in_period', (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'rejected'
                                        AND i.processed_at > p_start AND i.processed_at <= p_end),
        'outbox_sent_in_period', (SELECT count(*) FROM hublink.outbox o
                                   WHERE o.sent_at > p_start AND o.sent_at <= p_end),
        'outbox_backlog', ws.outbox_backlog,
        'oldest_unsent_seconds', extract(epoch FROM ws.oldest_unsent_age),
        'retrying', ws.retrying,
        'failing_jobs', (SELECT count(*) FROM hublink.worker_job j WHERE j.enabled
                            AND j.last_error_at >= coalesce(j.last_started_at, '-infinity')),
        'open_alerts', (SELECT count(*) FROM hublink.alert a WHERE a.acknowledged_at IS NULL)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.availability_report_job() IS
    'The availability_report job (GSO 80-81): writes the availability and performance figures of '
    'the period since the last report to hublink.availability_report, which queues them for the '
    'channels that want availability events.';
REVOKE ALL ON FUNCTION hublink.availability_report_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('operational_checks', 'hublink.operational_checks()', interval '30 seconds',
     'Operational alerts (NFR 0008): broker unreachable, backlogs, rejections, failing jobs, late '
     'timers, failing alert channels, against hublink.alert_threshold (docs/alerts.md).'),
    ('availability_report', 'hublink.availability_report_job()', interval '15 minutes',
     'Availability and performance figures to hublink.availability_report and the channels that '
     'want them (GSO 80-81, docs/alerts.md).');

-- The worker reports a failed token fetch (bgworker/token.c) once per run of failures; it may
-- not raise alerts of its own choosing, so this names the kind.
CREATE FUNCTION hublink.report_broker_token_failure(p_error text) RETURNS bigint
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.raise_alert('broker_token_failed',
                               'the worker could not obtain a broker access token: ' || left(p_error, 300),
                               NULL, jsonb_build_object('error', left(p_error, 1000),
                                                        'token_url', current_setting('hublink.broker_token_url', true)));
END;
$$;
COMMENT ON FUNCTION hublink.report_broker_token_failure(text) IS
    'For the worker: raises broker_token_failed with the error of a failed token fetch '
    '(docs/worker.md "Access tokens"). Returns the alert_id.';
REVOKE ALL ON FUNCTION hublink.report_broker_token_failure(text) FROM PUBLIC;
