-- Alert delivery (docs/alerts.md "Delivery"; NFR 0008, NFR 0020, GSO 80-84): alerts, security
-- events and availability reports go out to people and to the Home Office's tools over HTTPS.
-- Channels are rows; every event a channel wants becomes one row of hublink.alert_delivery in
-- the transaction that raised it, with the request body rendered and an idempotency key drawn
-- once, so every attempt sends the same bytes under the same key. The worker sends due rows
-- with libcurl (bgworker/alert_delivery.c) and records each outcome; a row stays pending, and
-- is retried with backoff, until the receiver answered 2xx. Nothing here runs stored names.

CREATE DOMAIN hublink.credential_file AS text
    CHECK (VALUE ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$');
COMMENT ON DOMAIN hublink.credential_file IS
    'A file name in the directory of the hublink.alert_credentials_dir setting: no directory '
    'part, not hidden, so a channel row can name only files the server''s administrator put '
    'there (never the master key or another secret of the server).';

CREATE TABLE hublink.alert_format (
    format       text PRIMARY KEY,
    content_type text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE hublink.alert_format IS
    'The request bodies a channel can send (reference data); hublink.alert_render draws them.';
COMMENT ON COLUMN hublink.alert_format.format IS 'Name of the format.';
COMMENT ON COLUMN hublink.alert_format.content_type IS 'The Content-Type header sent with it.';
COMMENT ON COLUMN hublink.alert_format.description IS 'What receives it and what it looks like.';
INSERT INTO hublink.alert_format VALUES
    ('generic_json', 'application/json',
     'The structured event itself (schema hublink.event/1): any JSON receiver, a log pipeline.'),
    ('chat', 'application/json',
     'An incoming-webhook message {"text": ...} as Slack, Mattermost, Rocket.Chat and Teams '
     'workflows accept: one line for a person.'),
    ('ticket', 'application/json',
     'An incident record for a ticketing system (ServiceNow table API field names: '
     'short_description, description, urgency, impact, category, correlation_id = the '
     'idempotency key, so a resend updates rather than duplicates).'),
    ('siem_hec', 'application/json',
     'A Splunk HTTP Event Collector event {"time", "host", "source", "sourcetype", "event"} '
     'with the structured event inside; other SIEMs (Elastic, Sentinel) ingest the same JSON.');

CREATE TABLE hublink.alert_channel (
    channel_name     text PRIMARY KEY CHECK (channel_name ~ '^[a-z][a-z0-9_]*$'),
    url              text NOT NULL CHECK (url ~ '^https://[^/@[:space:]]+(/[^[:space:]]*)?$'),
    format           text NOT NULL REFERENCES hublink.alert_format,
    event_types      text[] NOT NULL DEFAULT '{alert}'
                     CHECK (cardinality(event_types) > 0
                            AND event_types <@ '{alert,security_event,availability}'::text[]),
    kinds            text[],
    min_severity     text NOT NULL DEFAULT 'warning' REFERENCES hublink.alert_severity,
    client_cert_file hublink.credential_file,
    client_key_file  hublink.credential_file,
    ca_file          hublink.credential_file,
    header_file      hublink.credential_file,
    timeout_ms       integer NOT NULL DEFAULT 5000 CHECK (timeout_ms BETWEEN 100 AND 60000),
    retry_min_delay  interval NOT NULL DEFAULT '5 seconds' CHECK (retry_min_delay > interval '0'),
    retry_max_delay  interval NOT NULL DEFAULT '1 hour',
    enabled          boolean NOT NULL DEFAULT true,
    description      text NOT NULL DEFAULT '',
    CHECK ((client_cert_file IS NULL) = (client_key_file IS NULL)),
    CHECK (retry_max_delay >= retry_min_delay)
);
COMMENT ON TABLE hublink.alert_channel IS
    'Where alerts, security events and availability reports are sent (docs/alerts.md '
    '"Delivery"): one HTTPS endpoint each, with its format and its filter. Edited by admins; '
    'files are named inside hublink.alert_credentials_dir only.';
COMMENT ON COLUMN hublink.alert_channel.channel_name IS 'Name of the channel (lower case, underscores).';
COMMENT ON COLUMN hublink.alert_channel.url IS
    'The HTTPS URL events are POSTed to (no user:password part: credentials go in header_file). '
    'Redirects are not followed.';
COMMENT ON COLUMN hublink.alert_channel.format IS 'The request body (hublink.alert_format).';
COMMENT ON COLUMN hublink.alert_channel.event_types IS
    'Which events it gets: alert (hublink.alert), security_event (hublink.security_event and '
    'hublink.logon, NFR 0020), availability (hublink.availability_report, GSO 80-81).';
COMMENT ON COLUMN hublink.alert_channel.kinds IS
    'Only these kinds (alert kinds, security event kinds, or logon); NULL: every kind.';
COMMENT ON COLUMN hublink.alert_channel.min_severity IS
    'Alerts and security events below this severity are not sent; availability reports always are.';
COMMENT ON COLUMN hublink.alert_channel.client_cert_file IS
    'PEM client certificate presented to the receiver (mutual TLS), a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.client_key_file IS 'Its private key, a file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_channel.ca_file IS
    'PEM certificate authorities that sign the receiver''s certificate, a file in '
    'hublink.alert_credentials_dir; NULL: the system''s. The host name is always verified.';
COMMENT ON COLUMN hublink.alert_channel.header_file IS
    'A file in hublink.alert_credentials_dir whose lines are extra HTTP headers (for example '
    '"Authorization: Splunk <token>"), so no secret is a table value.';
COMMENT ON COLUMN hublink.alert_channel.timeout_ms IS 'Longest time one attempt may take, connection included.';
COMMENT ON COLUMN hublink.alert_channel.retry_min_delay IS 'Delay before the first retry; doubles after each failed attempt.';
COMMENT ON COLUMN hublink.alert_channel.retry_max_delay IS 'Longest delay between two attempts.';
COMMENT ON COLUMN hublink.alert_channel.enabled IS 'False: nothing is queued for it, and its queued deliveries wait.';
COMMENT ON COLUMN hublink.alert_channel.description IS 'Who reads it, for the admin.';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.alert_channel TO hublink_admin;

-- A header file holds a secret (a SIEM's token) that goes to whatever URL the channel names:
-- an admin who may edit the channel must not be able to send it elsewhere. Each header file is
-- bound to one host (the URL's authority, host[:port]) by the extension's owner, who put the
-- file in hublink.alert_credentials_dir in the first place; a channel may name it only with a
-- URL on that host (the attacker pass of 0.2.0; docs/alerts.md "Credentials and their host").
CREATE TABLE hublink.alert_header_binding (
    header_file hublink.credential_file PRIMARY KEY,
    host        text NOT NULL CHECK (host ~ '^[a-z0-9.-]+(:[0-9]{1,5})?$'),
    bound_by    name NOT NULL DEFAULT session_user,
    bound_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.alert_header_binding IS
    'The host each alert channel header file may be sent to (docs/alerts.md "Credentials and '
    'their host"). Written by the extension''s owner only; an admin reads it.';
COMMENT ON COLUMN hublink.alert_header_binding.header_file IS 'The file in hublink.alert_credentials_dir.';
COMMENT ON COLUMN hublink.alert_header_binding.host IS
    'The only host (lower case, with :port when the URL names one) a channel naming the file may POST to.';
COMMENT ON COLUMN hublink.alert_header_binding.bound_by IS 'Who bound it.';
COMMENT ON COLUMN hublink.alert_header_binding.bound_at IS 'When.';
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_header_binding', '');
GRANT SELECT ON hublink.alert_header_binding TO hublink_admin;

CREATE FUNCTION hublink.alert_url_host(p_url text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN pg_catalog.lower(pg_catalog.substring(p_url, '^https://([^/@[:space:]]+)'));
COMMENT ON FUNCTION hublink.alert_url_host(text) IS
    'The authority (host, and :port if given) of an alert channel URL, lower case.';

CREATE FUNCTION hublink.alert_header_allowed(p_header_file text, p_url text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN p_header_file IS NULL
        OR EXISTS (SELECT FROM hublink.alert_header_binding b
                    WHERE b.header_file = p_header_file AND b.host = hublink.alert_url_host(p_url));
COMMENT ON FUNCTION hublink.alert_header_allowed(text, text) IS
    'True when a channel may send the header file to the URL: no header file, or one bound to '
    'the URL''s host (hublink.alert_header_binding).';

-- A kind that exists nowhere would silently filter out everything: refuse it. A header file
-- goes only to the host it is bound to.
CREATE FUNCTION hublink.alert_channel_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    unknown text;
BEGIN
    IF NOT hublink.alert_header_allowed(NEW.header_file, NEW.url) THEN
        RAISE EXCEPTION 'header file "%" of alert channel "%" is not bound to host %', NEW.header_file,
                        NEW.channel_name, hublink.alert_url_host(NEW.url)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A header file holds a secret; it is sent only to the host the extension''s '
                           'owner bound it to (hublink.alert_header_binding).',
                  HINT = 'The owner binds it: INSERT INTO hublink.alert_header_binding (header_file, host) '
                         'VALUES (''file'', ''host'') ON CONFLICT (header_file) DO UPDATE SET host = excluded.host.';
    END IF;
    SELECT string_agg(k, ', ') INTO unknown
      FROM unnest(NEW.kinds) k
     WHERE k NOT IN (SELECT kind FROM hublink.alert_kind)
       AND k NOT IN (SELECT kind FROM hublink.security_event_kind);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown kinds in alert channel "%": %', NEW.channel_name, unknown
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Every kind a channel filters on is an alert kind (hublink.alert_kind) '
                           'or a security event kind (hublink.security_event_kind).',
                  HINT = 'SELECT kind FROM hublink.alert_kind UNION SELECT kind FROM hublink.security_event_kind lists them.';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.alert_channel_check() IS
    'Trigger: refuses a channel whose kinds filter names a kind that exists nowhere, or whose '
    'header file is not bound to its URL''s host (hublink.alert_header_binding).';
CREATE TRIGGER alert_channel_check BEFORE INSERT OR UPDATE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_check();
COMMENT ON TRIGGER alert_channel_check ON hublink.alert_channel IS
    'Checks the kinds filter and the header file''s host (hublink.alert_channel_check).';

CREATE TABLE hublink.availability_report (
    report_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    figures      jsonb NOT NULL CHECK (jsonb_typeof(figures) = 'object'),
    CHECK (period_end >= period_start)
);
COMMENT ON TABLE hublink.availability_report IS
    'Availability and performance figures per period (Schedule R GSO 80-81), written by the '
    'availability_report job and sent to the channels that want availability events.';
COMMENT ON COLUMN hublink.availability_report.report_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.availability_report.period_start IS 'Start of the period reported.';
COMMENT ON COLUMN hublink.availability_report.period_end IS 'End of the period reported.';
COMMENT ON COLUMN hublink.availability_report.figures IS
    'The figures as JSON (docs/alerts.md "Availability"): broker connectivity, traffic, backlog, '
    'failing jobs, open alerts.';

CREATE TABLE hublink.alert_delivery (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_name    text REFERENCES hublink.alert_channel ON UPDATE CASCADE ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('alert', 'security_event', 'logon', 'availability_report')),
    event_id        bigint NOT NULL,
    event_type      text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL REFERENCES hublink.alert_severity,
    idempotency_key uuid NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    channel_as_was  jsonb,
    UNIQUE (channel_name, source, event_id),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL)),
    CONSTRAINT alert_delivery_channel_or_as_was CHECK ((channel_name IS NULL) = (channel_as_was IS NOT NULL))
);
COMMENT ON TABLE hublink.alert_delivery IS
    'One row per event per channel that wants it: the request body and idempotency key fixed '
    'when the event was raised, and the state of its delivery. Pending rows are sent by the '
    'worker until the receiver answers 2xx (at least once); they survive restarts.';
COMMENT ON COLUMN hublink.alert_delivery.delivery_id IS 'Key, increasing.';
COMMENT ON COLUMN hublink.alert_delivery.channel_name IS
    'The channel (hublink.alert_channel); NULL for an announcement sent to a channel as it was '
    'before a change (channel_as_was).';
COMMENT ON COLUMN hublink.alert_delivery.source IS 'The table the event is a row of: alert, security_event, logon, availability_report.';
COMMENT ON COLUMN hublink.alert_delivery.event_id IS 'The key of that row.';
COMMENT ON COLUMN hublink.alert_delivery.event_type IS 'alert, security_event or availability (the channel filter).';
COMMENT ON COLUMN hublink.alert_delivery.kind IS 'The alert or security event kind.';
COMMENT ON COLUMN hublink.alert_delivery.severity IS 'Its severity.';
COMMENT ON COLUMN hublink.alert_delivery.idempotency_key IS
    'Sent as the Idempotency-Key header and inside the body; the same on every attempt, so a '
    'receiver drops the copies an at-least-once delivery may send.';
COMMENT ON COLUMN hublink.alert_delivery.payload IS 'The request body, rendered once (hublink.alert_render).';
COMMENT ON COLUMN hublink.alert_delivery.state IS 'pending until a 2xx answer, then delivered.';
COMMENT ON COLUMN hublink.alert_delivery.attempts IS 'Attempts started (an attempt cut short by a crash counts).';
COMMENT ON COLUMN hublink.alert_delivery.created_at IS 'When the event was queued for this channel.';
COMMENT ON COLUMN hublink.alert_delivery.next_attempt_at IS 'When the worker next tries (backoff after a failure).';
COMMENT ON COLUMN hublink.alert_delivery.last_attempt_at IS 'When the last attempt started.';
COMMENT ON COLUMN hublink.alert_delivery.last_status IS 'HTTP status of the last answer; NULL when none came (refused, timed out).';
COMMENT ON COLUMN hublink.alert_delivery.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN hublink.alert_delivery.delivered_at IS 'When the receiver accepted it.';
COMMENT ON COLUMN hublink.alert_delivery.channel_as_was IS
    'For the alert announcing a change to a channel: the channel''s row as it was before the change '
    '(URL, files, format), where the alert is sent whatever the channel now is or whether it still '
    'exists, so a redirect, a disable or a delete is told to whoever listened there (docs/alerts.md).';
CREATE INDEX alert_delivery_due ON hublink.alert_delivery (next_attempt_at, delivery_id) WHERE state = 'pending';
COMMENT ON INDEX hublink.alert_delivery_due IS 'The pending deliveries in the order the worker sends them.';
-- Read by admins (delivery state); written only by the triggers and the worker's functions.
GRANT SELECT ON hublink.alert_delivery, hublink.availability_report TO hublink_admin;

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('alert_channel_test', 'info', 'delivery',
     'A test event sent by hublink.test_alert_channel to check that a channel reaches its receiver.');

-- The structured event every format is drawn from (docs/alerts.md "The event").
CREATE FUNCTION hublink.alert_event(p_event_type text, p_event_id bigint, p_kind text,
                                    p_severity text, p_subject text, p_occurred_at timestamptz,
                                    p_detail jsonb, p_idempotency_key uuid)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_build_object(
    'schema', 'hublink.event/1',
    'idempotency_key', p_idempotency_key,
    'event_type', p_event_type,
    'event_id', p_event_id,
    'kind', p_kind,
    'severity', p_severity,
    'subject', p_subject,
    'occurred_at', p_occurred_at,
    'party', current_setting('hublink.party', true),
    'database', current_database(),
    'source', 'hublink',
    'detail', coalesce(p_detail, '{}'));
$$;
COMMENT ON FUNCTION hublink.alert_event(text, bigint, text, text, text, timestamptz, jsonb, uuid) IS
    'The structured event (schema hublink.event/1) every channel format is drawn from.';

CREATE FUNCTION hublink.alert_render(p_format text, p_event jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rank smallint := (SELECT s.rank FROM hublink.alert_severity s WHERE s.severity = p_event ->> 'severity');
BEGIN
    CASE p_format
    WHEN 'generic_json' THEN
        RETURN p_event;
    WHEN 'chat' THEN
        RETURN jsonb_build_object('text', format('[hublink %s] %s %s: %s (%s %s)',
            coalesce(p_event ->> 'party', '?'), upper(p_event ->> 'severity'), p_event ->> 'kind',
            p_event ->> 'subject', p_event ->> 'event_type', p_event ->> 'event_id'));
    WHEN 'ticket' THEN
        RETURN jsonb_build_object(
            'short_description', left(format('hublink %s: %s', p_event ->> 'kind', p_event ->> 'subject'), 160),
            'description', format(E'%s\n\n%s', p_event ->> 'subject', jsonb_pretty(p_event)),
            'urgency', CASE WHEN rank >= 3 THEN '1' WHEN rank = 2 THEN '2' ELSE '3' END,
            'impact', CASE WHEN rank >= 3 THEN '1' WHEN rank = 2 THEN '2' ELSE '3' END,
            'category', 'hublink',
            'subcategory', p_event ->> 'kind',
            'correlation_id', p_event ->> 'idempotency_key',
            'correlation_display', 'hublink');
    WHEN 'siem_hec' THEN
        RETURN jsonb_build_object(
            'time', round(extract(epoch FROM (p_event ->> 'occurred_at')::timestamptz), 3),
            'host', coalesce(p_event ->> 'party', current_database()),
            'source', 'hublink',
            'sourcetype', 'hublink:' || (p_event ->> 'event_type'),
            'event', p_event);
    ELSE
        RAISE EXCEPTION 'unknown alert format "%"', p_format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'hublink.alert_render draws the formats of hublink.alert_format.',
                  HINT = 'Use generic_json, chat, ticket or siem_hec.';
    END CASE;
END;
$$;
COMMENT ON FUNCTION hublink.alert_render(text, jsonb) IS
    'The request body of a channel format for a structured event (hublink.alert_event).';

-- Queues one event for every enabled channel whose filter takes it; wakes the worker at commit.
CREATE FUNCTION hublink.alert_enqueue(p_source text, p_event_type text, p_event_id bigint,
                                      p_kind text, p_severity text, p_subject text,
                                      p_occurred_at timestamptz, p_detail jsonb,
                                      p_only_channel text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c     hublink.alert_channel;
    k     uuid;
    n     integer := 0;
    floor smallint;
    rank  smallint := (SELECT s.rank FROM hublink.alert_severity s WHERE s.severity = p_severity);
BEGIN
    FOR c IN SELECT * FROM hublink.alert_channel ch
              WHERE ch.enabled
                AND (p_only_channel IS NULL OR ch.channel_name = p_only_channel)
                AND (p_only_channel IS NOT NULL OR p_event_type = ANY (ch.event_types))
                AND (p_only_channel IS NOT NULL OR ch.kinds IS NULL OR p_kind = ANY (ch.kinds))
              ORDER BY ch.channel_name
    LOOP
        SELECT s.rank INTO floor FROM hublink.alert_severity s WHERE s.severity = c.min_severity;
        CONTINUE WHEN p_only_channel IS NULL AND p_event_type <> 'availability' AND rank < floor;
        k := gen_random_uuid();
        INSERT INTO hublink.alert_delivery (channel_name, source, event_id, event_type, kind, severity,
                                            idempotency_key, payload)
        VALUES (c.channel_name, p_source, p_event_id, p_event_type, p_kind, p_severity, k,
                hublink.alert_render(c.format,
                    hublink.alert_event(p_event_type, p_event_id, p_kind, p_severity, p_subject,
                                        p_occurred_at, p_detail, k)))
        ON CONFLICT (channel_name, source, event_id) DO NOTHING;
        IF FOUND THEN
            n := n + 1;
        END IF;
    END LOOP;
    IF n > 0 THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    END IF;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.alert_enqueue(text, text, bigint, text, text, text, timestamptz, jsonb, text) IS
    'Queues an event (a row of hublink.alert, security_event, logon or availability_report) for '
    'every enabled channel whose event types, kinds and minimum severity take it (or for one '
    'named channel, whatever its filter), rendering the body and drawing the idempotency key '
    'once; an event already queued for a channel is not queued again. Wakes the worker at '
    'commit (hublink.wake_worker_for_jobs_at_commit, which also makes it look for due deliveries). Returns how many deliveries it queued.';
REVOKE ALL ON FUNCTION hublink.alert_enqueue(text, text, bigint, text, text, text, timestamptz, jsonb, text) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_on_alert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.alert_enqueue('alert', 'alert', NEW.alert_id, NEW.kind, NEW.severity, NEW.subject,
                                  NEW.raised_at,
                                  NEW.detail || jsonb_strip_nulls(jsonb_build_object(
                                      'alert_id', NEW.alert_id, 'removal_id', NEW.removal_id,
                                      'due_at', NEW.due_at, 'raised_by', NEW.raised_by)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_alert() IS
    'Trigger: queues a new alert for the channels that want it.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.alert
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_alert();
COMMENT ON TRIGGER alert_delivery ON hublink.alert IS 'Queues the alert for delivery (hublink.alert_enqueue).';

-- Security events go out whole (NFR 0020, GSO 82-84): the client address too, for the SOC;
-- the severity is that of the alert the kind raises, else info.
CREATE FUNCTION hublink.alert_delivery_on_security_event() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k hublink.security_event_kind;
BEGIN
    SELECT * INTO k FROM hublink.security_event_kind WHERE kind = NEW.kind;
    PERFORM hublink.alert_enqueue('security_event', 'security_event', NEW.security_event_id, NEW.kind,
                                  coalesce((SELECT a.default_severity FROM hublink.alert_kind a
                                             WHERE a.kind = k.alert_kind), 'info'),
                                  format('%s (role %s)', coalesce(k.description, 'security event ' || NEW.kind),
                                         coalesce(NEW.role_name, 'unknown')),
                                  NEW.recorded_at,
                                  jsonb_build_object('security_event_id', NEW.security_event_id,
                                                     'role_name', NEW.role_name, 'pid', NEW.pid,
                                                     'database_oid', NEW.database_oid) || NEW.detail);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_security_event() IS
    'Trigger: queues a new security event for the channels that want security events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.security_event
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_security_event();
COMMENT ON TRIGGER alert_delivery ON hublink.security_event IS 'Queues the event for delivery (hublink.alert_enqueue).';

CREATE FUNCTION hublink.alert_delivery_on_logon() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    failure boolean := (SELECT o.failure FROM hublink.logon_outcome o WHERE o.outcome = NEW.outcome);
BEGIN
    PERFORM hublink.alert_enqueue('logon', 'security_event', NEW.logon_id, 'logon',
                                  CASE WHEN failure THEN 'warning' ELSE 'info' END,
                                  format('logon %s for role %s', NEW.outcome, NEW.role_name),
                                  NEW.logon_at,
                                  jsonb_build_object('logon_id', NEW.logon_id, 'role_name', NEW.role_name,
                                                     'database_name', NEW.database_name,
                                                     'client_addr', NEW.client_addr, 'method', NEW.method,
                                                     'outcome', NEW.outcome));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_logon() IS
    'Trigger: queues a logon (kind logon; warning when it failed) for the channels that want security events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.logon
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_logon();
COMMENT ON TRIGGER alert_delivery ON hublink.logon IS 'Queues the logon for delivery (hublink.alert_enqueue).';

CREATE FUNCTION hublink.alert_delivery_on_availability() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.alert_enqueue('availability_report', 'availability', NEW.report_id, 'availability_report',
                                  'info',
                                  format('availability %s%% from %s to %s',
                                         coalesce(NEW.figures ->> 'broker_connected_percent', '?'),
                                         NEW.period_start, NEW.period_end),
                                  NEW.period_end,
                                  NEW.figures || jsonb_build_object('report_id', NEW.report_id,
                                                                    'period_start', NEW.period_start,
                                                                    'period_end', NEW.period_end));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_on_availability() IS
    'Trigger: queues an availability report for the channels that want availability events.';
CREATE TRIGGER alert_delivery AFTER INSERT ON hublink.availability_report
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_delivery_on_availability();
COMMENT ON TRIGGER alert_delivery ON hublink.availability_report IS 'Queues the report for delivery (hublink.alert_enqueue).';

-- Where a delivery goes: its channel as it is now, or as it was before a change (the
-- announcement of that change, hublink.alert_channel_changed).
CREATE FUNCTION hublink.alert_delivery_target(d hublink.alert_delivery) RETURNS SETOF hublink.alert_channel
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT * FROM hublink.alert_channel c WHERE c.channel_name = d.channel_name
UNION ALL
SELECT * FROM pg_catalog.jsonb_populate_record(NULL::hublink.alert_channel, d.channel_as_was)
 WHERE d.channel_as_was IS NOT NULL;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_target(hublink.alert_delivery) IS
    'The channel a delivery goes to: its row of hublink.alert_channel, or the row as it was '
    '(alert_delivery.channel_as_was) for the announcement of a change.';

-- The worker's side (bgworker/alert_delivery.c). Claiming schedules the next attempt at once,
-- so a delivery whose attempt is cut short by a crash waits its backoff, never loops hot.
CREATE FUNCTION hublink.alert_deliveries_claim(p_limit integer)
    RETURNS TABLE (delivery_id bigint, url text, content_type text, body text, idempotency_key uuid,
                   client_cert_file text, client_key_file text, ca_file text, header_file text,
                   timeout_ms integer)
    LANGUAGE sql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
WITH due AS (
    SELECT d.delivery_id, c.*
      FROM hublink.alert_delivery d
     CROSS JOIN LATERAL hublink.alert_delivery_target(d) c
     WHERE d.state = 'pending' AND d.next_attempt_at <= clock_timestamp() AND c.enabled
       -- checked again at each send: a binding the owner moved, or a row written around the
       -- trigger, never sends the secret to another host
       AND hublink.alert_header_allowed(c.header_file, c.url)
     ORDER BY d.next_attempt_at, d.delivery_id
     LIMIT p_limit
       FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE hublink.alert_delivery d
       SET attempts = d.attempts + 1,
           last_attempt_at = clock_timestamp(),
           next_attempt_at = clock_timestamp()
               + least(due.retry_min_delay * power(2, least(d.attempts, 30)), due.retry_max_delay)
      FROM due
     WHERE d.delivery_id = due.delivery_id
    RETURNING d.delivery_id, d.payload, d.idempotency_key
)
SELECT x.delivery_id, c.url, f.content_type, x.payload::text, x.idempotency_key,
       c.client_cert_file, c.client_key_file, c.ca_file, c.header_file, c.timeout_ms
  FROM claimed x
  JOIN due c USING (delivery_id)
  JOIN hublink.alert_format f ON f.format = c.format
 ORDER BY x.delivery_id;
$$;
COMMENT ON FUNCTION hublink.alert_deliveries_claim(integer) IS
    'For the worker: up to p_limit due pending deliveries of enabled channels (or of a channel '
    'as it was, for the announcement of its change), each counted as an attempt and given its '
    'next attempt time (backoff) before it is sent. A delivery whose header file is not bound to '
    'its URL''s host is never claimed.';
REVOKE ALL ON FUNCTION hublink.alert_deliveries_claim(integer) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_result(p_delivery_id bigint, p_http_status integer, p_error text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_http_status BETWEEN 200 AND 299 THEN
        UPDATE hublink.alert_delivery
           SET state = 'delivered', delivered_at = clock_timestamp(), last_status = p_http_status,
               last_error = NULL
         WHERE delivery_id = p_delivery_id AND state = 'pending';
    ELSE
        UPDATE hublink.alert_delivery
           SET last_status = p_http_status,
               last_error = left(coalesce(p_error, format('HTTP status %s', p_http_status)), 500)
         WHERE delivery_id = p_delivery_id AND state = 'pending';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) IS
    'For the worker: records the outcome of an attempt. 2xx: delivered. Anything else (an HTTP '
    'error, no answer): stays pending until its next attempt time, with the status and error.';
REVOKE ALL ON FUNCTION hublink.alert_delivery_result(bigint, integer, text) FROM PUBLIC;

CREATE FUNCTION hublink.alert_delivery_next() RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT min(d.next_attempt_at)
  FROM hublink.alert_delivery d CROSS JOIN LATERAL hublink.alert_delivery_target(d) c
 WHERE d.state = 'pending' AND c.enabled AND hublink.alert_header_allowed(c.header_file, c.url);
$$;
COMMENT ON FUNCTION hublink.alert_delivery_next() IS
    'For the worker: when the next pending delivery is due (NULL: none), so it sleeps until then.';
REVOKE ALL ON FUNCTION hublink.alert_delivery_next() FROM PUBLIC;

-- For admins.
CREATE FUNCTION hublink.test_alert_channel(p_channel_name text) RETURNS bigint
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hublink.alert_channel WHERE channel_name = p_channel_name AND enabled) THEN
        RAISE EXCEPTION 'no enabled alert channel "%"', p_channel_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'hublink.alert_channel has no enabled row with that channel_name.',
                  HINT = 'SELECT channel_name, enabled FROM hublink.alert_channel lists the channels.';
    END IF;
    id := hublink.raise_alert('alert_channel_test', format('test of alert channel %s', p_channel_name),
                              NULL, jsonb_build_object('channel_name', p_channel_name));
    PERFORM hublink.alert_enqueue('alert', 'alert', id, 'alert_channel_test', 'info',
                                  format('test of alert channel %s', p_channel_name), clock_timestamp(),
                                  jsonb_build_object('channel_name', p_channel_name, 'alert_id', id),
                                  p_channel_name);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.test_alert_channel(text) IS
    'Raises an alert_channel_test alert and queues it for the named channel whatever its '
    'filter (other channels get it only if their filter takes it); returns the alert_id. '
    'Watch hublink.alert_delivery for its outcome.';
REVOKE ALL ON FUNCTION hublink.test_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.test_alert_channel(text) TO hublink_admin;

CREATE FUNCTION hublink.retry_alert_channel(p_channel_name text) RETURNS integer
    LANGUAGE plpgsql STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    UPDATE hublink.alert_delivery SET next_attempt_at = clock_timestamp()
     WHERE channel_name = p_channel_name AND state = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM hublink.wake_worker_for_jobs_at_commit();
    END IF;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.retry_alert_channel(text) IS
    'Makes every pending delivery of a channel due now (after the receiver was fixed) and wakes '
    'the worker at commit; returns how many.';
REVOKE ALL ON FUNCTION hublink.retry_alert_channel(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.retry_alert_channel(text) TO hublink_admin;

CREATE VIEW hublink.alert_channel_status AS
SELECT c.channel_name, c.enabled, c.format, c.url,
       count(*) FILTER (WHERE d.state = 'pending') AS pending,
       count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
       clock_timestamp() - min(d.created_at) FILTER (WHERE d.state = 'pending') AS oldest_pending_age,
       max(d.delivered_at) AS last_delivered_at,
       (SELECT x.last_error FROM hublink.alert_delivery x
         WHERE x.channel_name = c.channel_name AND x.last_error IS NOT NULL
         ORDER BY x.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error
  FROM hublink.alert_channel c
  LEFT JOIN hublink.alert_delivery d USING (channel_name)
 GROUP BY c.channel_name;
COMMENT ON VIEW hublink.alert_channel_status IS
    'One row per channel: deliveries pending and delivered, how long the oldest pending one has '
    'waited, when the receiver last accepted one, and the last error.';
COMMENT ON COLUMN hublink.alert_channel_status.channel_name IS 'The channel.';
COMMENT ON COLUMN hublink.alert_channel_status.enabled IS 'Whether it is enabled.';
COMMENT ON COLUMN hublink.alert_channel_status.format IS 'Its format.';
COMMENT ON COLUMN hublink.alert_channel_status.url IS 'Its URL.';
COMMENT ON COLUMN hublink.alert_channel_status.pending IS 'Deliveries not yet accepted by the receiver.';
COMMENT ON COLUMN hublink.alert_channel_status.delivered IS 'Deliveries accepted.';
COMMENT ON COLUMN hublink.alert_channel_status.oldest_pending_age IS 'How long the oldest pending delivery has waited; NULL when none.';
COMMENT ON COLUMN hublink.alert_channel_status.last_delivered_at IS 'When the receiver last accepted a delivery.';
COMMENT ON COLUMN hublink.alert_channel_status.last_error IS 'The error of the latest failed attempt, if any.';
GRANT SELECT ON hublink.alert_channel_status TO hublink_admin;

-- Every change to a channel is announced: 95_config_alerts.sql.

-- The site's own rows: channels an admin made, deliveries still pending, reports sent.
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_channel', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.availability_report', '');
