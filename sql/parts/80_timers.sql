-- Durable workflow timers (issue 7 section 1, docs/timers.md): what a removal is waiting for
-- (an answer, a deadline), held as rows. A timer watches one thing of one removal, is due at
-- anchor + its rule's offset, and either fires once (an alert, and a message where its rule
-- says so, in the transaction that marks it fired) or is cancelled when its cause goes away.
-- The worker's job fire_timers fires due timers in order; after downtime the overdue ones fire
-- at once, in due order, each marked with its lateness. Targets are rows of
-- hublink.timer_rule per kind, message type, provider and destination (NFR 0005, 0006).
-- The triggers that start and stop timers are in 81_timer_triggers.sql.

CREATE TABLE hublink.timer_status (
    status      text PRIMARY KEY CHECK (status ~ '^[a-z]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.timer_status IS 'What can become of a timer (reference data).';
COMMENT ON COLUMN hublink.timer_status.status IS 'The value of hublink.timer.status.';
COMMENT ON COLUMN hublink.timer_status.description IS 'What the status means.';
INSERT INTO hublink.timer_status VALUES
    ('pending',   'Waiting for its due time.'),
    ('fired',     'Fired once: its alert (and message, if its rule sends one) was written in the '
                  'transaction that marked it fired.'),
    ('cancelled', 'Its cause went away before it fired (answered, booked, cancelled, replaced): '
                  'it never fires.');

INSERT INTO hublink.alert_kind VALUES
    ('response_sla_breached', 'warning', 'timers',
     'A request was not answered within its SLA, counted from when it was put on the queue '
     '(Schedule R Appendix D). Chase the provider, or re-send.'),
    ('quote_expiring', 'warning', 'timers',
     'The best-value quote of a removal lapses soon and nothing is booked. Book it, or re-quote.'),
    ('ticketing_deadline', 'critical', 'timers',
     'A travel booking has no tickets and its quote''s ticketing deadline is near: the seats will '
     'be released. Chase the TSP.'),
    ('refund_deadline', 'critical', 'timers',
     'The last moment a cancellation still recovers the refundable fare is near. Cancel now a '
     'removal that is likely to fail.'),
    ('tig_notification_due', 'warning', 'timers',
     'The Travel Information Guide''s notification period before travel to the destination '
     'starts: notify as the TIG says.'),
    ('escort_unconfirmed', 'critical', 'timers',
     'The escorting of a removal is not confirmed this close to the removal date. Chase the ESP, '
     'or move the date.');

CREATE TABLE hublink.timer_kind (
    kind               text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    alert_kind         text NOT NULL REFERENCES hublink.alert_kind,
    anchor             text NOT NULL,
    subject_template   text NOT NULL,
    still_due_function regprocedure,
    late_after         interval NOT NULL DEFAULT '1 minute' CHECK (late_after >= interval '0'),
    description        text NOT NULL
);
COMMENT ON TABLE hublink.timer_kind IS
    'The kinds of workflow timer (reference data): the alert each raises, what its due time '
    'counts from, and when a firing counts as late.';
COMMENT ON COLUMN hublink.timer_kind.kind IS 'Name of the kind.';
COMMENT ON COLUMN hublink.timer_kind.alert_kind IS 'The alert a firing raises (hublink.alert_kind).';
COMMENT ON COLUMN hublink.timer_kind.anchor IS 'What the rule''s offset is added to, in words.';
COMMENT ON COLUMN hublink.timer_kind.subject_template IS
    'The alert''s subject: format() with %1$s the removal reference and %2$s what the timer watches.';
COMMENT ON COLUMN hublink.timer_kind.still_due_function IS
    'Optional check when due, function(timer_id bigint) RETURNS boolean: false cancels the timer '
    'instead of firing it (its cause went away by a path no trigger saw).';
COMMENT ON COLUMN hublink.timer_kind.late_after IS
    'A timer fired more than this after its due time is marked late (downtime, a busy worker).';
COMMENT ON COLUMN hublink.timer_kind.description IS 'What the kind watches, who holds it, what starts and stops it.';

CREATE TABLE hublink.timer_kind_party (
    kind  text NOT NULL REFERENCES hublink.timer_kind ON DELETE CASCADE,
    party text NOT NULL REFERENCES hublink.party,
    PRIMARY KEY (kind, party)
);
COMMENT ON TABLE hublink.timer_kind_party IS
    'Which parties hold timers of each kind (docs/timers.md): a database keeps a timer only when '
    'its hublink.party is listed for the kind.';
COMMENT ON COLUMN hublink.timer_kind_party.kind IS 'The timer kind.';
COMMENT ON COLUMN hublink.timer_kind_party.party IS 'A party that holds it.';

CREATE TABLE hublink.timer_rule (
    timer_rule_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL REFERENCES hublink.timer_kind ON DELETE CASCADE,
    message_type  text REFERENCES hublink.message_type,
    provider      text REFERENCES hublink.party,
    destination   char(3) CHECK (destination ~ '^[A-Z]{3}$'),
    fire_offset   interval NOT NULL,
    severity      text REFERENCES hublink.alert_severity,
    action        regprocedure,
    enabled       boolean NOT NULL DEFAULT true,
    description   text NOT NULL,
    CONSTRAINT timer_rule_key UNIQUE NULLS NOT DISTINCT (kind, message_type, provider, destination)
);
COMMENT ON TABLE hublink.timer_rule IS
    'The targets of the timers, edited by hublink_admin: a timer is due at its anchor plus the '
    'fire_offset of the most specific rule of its kind (destination, then provider, then '
    'message type; NULL matches any). No matching rule, or a most specific rule that is not '
    'enabled, means no timer.';
COMMENT ON COLUMN hublink.timer_rule.timer_rule_id IS 'Key.';
COMMENT ON COLUMN hublink.timer_rule.kind IS 'The timer kind.';
COMMENT ON COLUMN hublink.timer_rule.message_type IS 'The message type concerned (the request of an SLA), NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.provider IS 'The provider concerned (tsp or esp), NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.destination IS 'Destination country (ISO 3166-1 alpha-3) of the removal, NULL for any.';
COMMENT ON COLUMN hublink.timer_rule.fire_offset IS
    'Added to the anchor: positive for an SLA counted from an event, negative for a warning before a deadline.';
COMMENT ON COLUMN hublink.timer_rule.severity IS 'Severity of the alert; NULL: the alert kind''s default.';
COMMENT ON COLUMN hublink.timer_rule.action IS
    'Optional message sent when the timer fires, function(timer_id bigint) RETURNS text (the '
    'messageId), e.g. hublink.timer_requote, in the firing transaction.';
COMMENT ON COLUMN hublink.timer_rule.enabled IS 'False: no timer for what this rule matches.';
COMMENT ON COLUMN hublink.timer_rule.description IS 'Where the target comes from.';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.timer_rule TO hublink_admin;
GRANT SELECT, UPDATE ON hublink.timer_kind TO hublink_admin;
-- The admin writes these functions' names; they run as the owner (docs/security-access.md
-- "Code stored as data"), so only the extension's own may be named, checked here and again by
-- hublink.fire_timer when it calls them.
CREATE TRIGGER stored_functions BEFORE INSERT OR UPDATE ON hublink.timer_kind
    FOR EACH ROW EXECUTE FUNCTION hublink.check_stored_functions('still_due_function');
COMMENT ON TRIGGER stored_functions ON hublink.timer_kind IS
    'still_due_function runs as the owner: only the extension''s own functions (hublink.check_stored_functions).';
CREATE TRIGGER stored_functions BEFORE INSERT OR UPDATE ON hublink.timer_rule
    FOR EACH ROW EXECUTE FUNCTION hublink.check_stored_functions('action');
COMMENT ON TRIGGER stored_functions ON hublink.timer_rule IS
    'action runs as the owner: only the extension''s own functions (hublink.check_stored_functions).';

-- Which answer stops the response SLA of which request: answer_event is a LIKE pattern on the
-- state machine's events (hublink.state_machine_events()).
CREATE TABLE hublink.timer_answer (
    request_type text NOT NULL REFERENCES hublink.message_type,
    answer_event text NOT NULL,
    -- The answer's message type, so that hublink.mi_sla_compliance finds the answers among the
    -- Hub's inbox by index (an event is its message type, optionally .variant).
    answer_type  text GENERATED ALWAYS AS (substring(answer_event FROM '^[A-Za-z]+')) STORED
                 NOT NULL REFERENCES hublink.message_type,
    PRIMARY KEY (request_type, answer_event)
);
COMMENT ON TABLE hublink.timer_answer IS
    'Which requests have a response SLA and which events answer them: a request of request_type '
    'starts a response_sla timer, and the first event matching answer_event stops it. '
    'hublink.mi_sla_compliance pairs requests and responses by the same rows.';
COMMENT ON COLUMN hublink.timer_answer.request_type IS 'The request message type.';
COMMENT ON COLUMN hublink.timer_answer.answer_event IS 'LIKE pattern on the answering event, e.g. TravelQuoteResponse% (any '
    'variant) or TravelUpdate.amendment-outcome; it starts with the message type''s name.';
COMMENT ON COLUMN hublink.timer_answer.answer_type IS
    'The answering message type: the leading name of answer_event (generated).';
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.timer_answer TO hublink_admin;

CREATE TABLE hublink.timer (
    timer_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL REFERENCES hublink.timer_kind,
    party            text NOT NULL REFERENCES hublink.party,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    machine          text NOT NULL,
    watches          text NOT NULL,
    message_type     text,
    provider         text,
    destination      char(3),
    timer_rule_id    integer REFERENCES hublink.timer_rule ON DELETE SET NULL,
    cause_message_id text,
    anchor_at        timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending' REFERENCES hublink.timer_status,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    fired_at         timestamptz,
    lateness         interval,
    late             boolean,
    alert_id         bigint REFERENCES hublink.alert ON DELETE SET NULL,
    action_message_id text,
    cancelled_at     timestamptz,
    cancel_reason    text,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    detail           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    CHECK ((fired_at IS NULL) = (lateness IS NULL) AND (fired_at IS NULL) = (late IS NULL)),
    CHECK ((cancelled_at IS NULL) = (cancel_reason IS NULL)),
    CHECK (fired_at IS NULL OR cancelled_at IS NULL)
);
COMMENT ON TABLE hublink.timer IS
    'Workflow timers: one row per thing a removal waits for. Pending until fired once or '
    'cancelled; kept afterwards as the record (when due, when fired, how late).';
COMMENT ON COLUMN hublink.timer.timer_id IS 'Key.';
COMMENT ON COLUMN hublink.timer.kind IS 'The kind (hublink.timer_kind).';
COMMENT ON COLUMN hublink.timer.party IS 'The party whose database holds it.';
COMMENT ON COLUMN hublink.timer.removal_id IS 'The removal it watches.';
COMMENT ON COLUMN hublink.timer.machine IS 'The state machine whose end cancels it (removal, escort, travel).';
COMMENT ON COLUMN hublink.timer.watches IS
    'What it watches within the removal, e.g. the request type of an SLA; a new timer of the '
    'same kind, removal and watches replaces the pending one.';
COMMENT ON COLUMN hublink.timer.message_type IS 'The message type its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.provider IS 'The provider its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.destination IS 'The destination country its rule was chosen by.';
COMMENT ON COLUMN hublink.timer.timer_rule_id IS 'The rule that set its offset, severity and action.';
COMMENT ON COLUMN hublink.timer.cause_message_id IS 'The message that started it, if any.';
COMMENT ON COLUMN hublink.timer.anchor_at IS 'What the offset counts from (enqueue time, expiry, departure, removal date).';
COMMENT ON COLUMN hublink.timer.due_at IS 'When it fires: anchor_at plus the rule''s offset.';
COMMENT ON COLUMN hublink.timer.status IS 'pending, fired or cancelled (hublink.timer_status).';
COMMENT ON COLUMN hublink.timer.created_at IS 'When it was started.';
COMMENT ON COLUMN hublink.timer.fired_at IS 'When it fired.';
COMMENT ON COLUMN hublink.timer.lateness IS 'How long after it could first fire it fired: fired_at - greatest(due_at, created_at).';
COMMENT ON COLUMN hublink.timer.late IS 'True when lateness exceeded the kind''s late_after (it fired after downtime).';
COMMENT ON COLUMN hublink.timer.alert_id IS 'The alert it raised.';
COMMENT ON COLUMN hublink.timer.action_message_id IS 'The messageId its rule''s action sent, if any.';
COMMENT ON COLUMN hublink.timer.cancelled_at IS 'When it was cancelled.';
COMMENT ON COLUMN hublink.timer.cancel_reason IS 'Why: which event took its cause away.';
COMMENT ON COLUMN hublink.timer.attempts IS 'Failed firing attempts (the firing rolled back and is retried).';
COMMENT ON COLUMN hublink.timer.last_error IS 'The error of the last failed firing attempt.';
COMMENT ON COLUMN hublink.timer.detail IS 'Facts for the alert (quote references, departure), never personal data.';
CREATE UNIQUE INDEX timer_one_pending ON hublink.timer (kind, removal_id, watches) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_one_pending IS 'One pending timer per kind, removal and thing watched.';
CREATE INDEX timer_due ON hublink.timer (due_at, timer_id) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_due IS 'The pending timers in firing order.';
CREATE INDEX timer_cause ON hublink.timer (cause_message_id) WHERE status = 'pending';
COMMENT ON INDEX hublink.timer_cause IS 'Finds the pending timers a message started (to re-anchor at enqueue time).';
CREATE INDEX timer_removal ON hublink.timer (removal_id);
COMMENT ON INDEX hublink.timer_removal IS 'The timers of one removal.';
GRANT SELECT ON hublink.timer TO hublink_admin, hublink_caseworker;
-- The timers are data of the removals and are dumped with them. The rules are reference data
-- shipped by this script, like the other reference tables: dumping them would clash with the
-- shipped rows on restore (docs/timers.md).
SELECT pg_catalog.pg_extension_config_dump('hublink.timer', '');

-- The most specific rule for a timer; NULL when none matches or it is disabled.
CREATE FUNCTION hublink.timer_rule_for(p_kind text, p_message_type text, p_provider text,
                                       p_destination text)
    RETURNS hublink.timer_rule
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT r.* FROM hublink.timer_rule r
         WHERE r.kind = p_kind
           AND (r.message_type IS NULL OR r.message_type = p_message_type)
           AND (r.provider IS NULL OR r.provider = p_provider)
           AND (r.destination IS NULL OR r.destination = p_destination)
         ORDER BY r.destination IS NULL, r.provider IS NULL, r.message_type IS NULL
         LIMIT 1;
    END;
COMMENT ON FUNCTION hublink.timer_rule_for(text, text, text, text) IS
    'The most specific hublink.timer_rule of a kind for a message type, provider and '
    'destination (destination first, then provider, then message type), disabled or not.';

CREATE FUNCTION hublink.cancel_timers(p_removal_id bigint, p_kind text, p_watches text, p_reason text,
                                      p_machine text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    -- Lock order: the removal row before its timers, in every path (docs/timers.md "Locks").
    PERFORM FROM hublink.removal r WHERE r.removal_id = p_removal_id FOR NO KEY UPDATE;
    UPDATE hublink.timer t
       SET status = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = p_reason
     WHERE t.removal_id = p_removal_id AND t.status = 'pending'
       AND (p_kind IS NULL OR t.kind = p_kind)
       AND (p_watches IS NULL OR t.watches = p_watches)
       AND (p_machine IS NULL OR t.machine = p_machine);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.cancel_timers(bigint, text, text, text, text) IS
    'Cancels the pending timers of a removal (of a kind, watching a thing, of a machine; NULL: '
    'any) because their cause went away, with the reason. Returns how many.';
REVOKE ALL ON FUNCTION hublink.cancel_timers(bigint, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.start_timer(p_kind text, p_removal_id bigint, p_machine text, p_watches text,
                                    p_anchor_at timestamptz, p_message_type text DEFAULT NULL,
                                    p_provider text DEFAULT NULL, p_cause_message_id text DEFAULT NULL,
                                    p_detail jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_party text := current_setting('hublink.party', true);
    dest   text;
    rule   hublink.timer_rule;
    id     bigint;
    due    timestamptz;
BEGIN
    IF p_anchor_at IS NULL
       OR NOT EXISTS (SELECT FROM hublink.timer_kind_party k WHERE k.kind = p_kind AND k.party = v_party) THEN
        RETURN NULL;
    END IF;
    -- Lock order: the removal row before its timers (docs/timers.md "Locks").
    SELECT r.destination ->> 'country' INTO dest FROM hublink.removal r WHERE r.removal_id = p_removal_id
       FOR NO KEY UPDATE;
    rule := hublink.timer_rule_for(p_kind, p_message_type, p_provider, dest);
    IF rule.timer_rule_id IS NULL OR NOT rule.enabled THEN
        RETURN NULL;
    END IF;
    due := p_anchor_at + rule.fire_offset;
    -- The same timer again (each quote of a response re-arms quote_expiry): keep the pending one.
    SELECT t.timer_id INTO id FROM hublink.timer t
     WHERE t.kind = p_kind AND t.removal_id = p_removal_id AND t.watches = p_watches AND t.status = 'pending'
       AND t.due_at = due AND t.detail = coalesce(p_detail, '{}') AND t.timer_rule_id = rule.timer_rule_id;
    IF FOUND THEN
        RETURN id;
    END IF;
    PERFORM hublink.cancel_timers(p_removal_id, p_kind, p_watches, 'replaced by a newer timer for the same thing');
    INSERT INTO hublink.timer (kind, party, removal_id, machine, watches, message_type, provider,
                               destination, timer_rule_id, cause_message_id, anchor_at, due_at, detail)
    VALUES (p_kind, v_party, p_removal_id, p_machine, p_watches, p_message_type, p_provider,
            dest, rule.timer_rule_id, p_cause_message_id, p_anchor_at, due, coalesce(p_detail, '{}'))
    RETURNING timer_id INTO id;
    PERFORM hublink.schedule_worker_job('fire_timers', due);
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.start_timer(text, bigint, text, text, timestamptz, text, text, text, jsonb) IS
    'Starts a timer of a kind on a removal when this party holds that kind and a rule matches: '
    'due at p_anchor_at plus the rule''s offset; replaces the pending timer of the same kind, '
    'removal and thing watched; brings the worker''s fire_timers job forward to the due time '
    '(woken at commit). Returns the timer_id, NULL when no timer is kept.';
REVOKE ALL ON FUNCTION hublink.start_timer(text, bigint, text, text, timestamptz, text, text, text, jsonb) FROM PUBLIC;

-- Moves a pending timer to a new anchor (a request confirmed on its queue, a flight change).
CREATE FUNCTION hublink.reanchor_timer(p_timer_id bigint, p_anchor_at timestamptz) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    due timestamptz;
BEGIN
    -- Lock order: the removal row before its timers (docs/timers.md "Locks").
    PERFORM FROM hublink.removal r
      WHERE r.removal_id = (SELECT x.removal_id FROM hublink.timer x WHERE x.timer_id = p_timer_id)
        FOR NO KEY UPDATE;
    UPDATE hublink.timer t
       SET anchor_at = p_anchor_at, due_at = p_anchor_at + r.fire_offset
      FROM hublink.timer_rule r
     WHERE t.timer_id = p_timer_id AND t.status = 'pending' AND r.timer_rule_id = t.timer_rule_id
       AND t.anchor_at IS DISTINCT FROM p_anchor_at
    RETURNING t.due_at INTO due;
    IF due IS NOT NULL THEN
        PERFORM hublink.schedule_worker_job('fire_timers', due);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.reanchor_timer(bigint, timestamptz) IS
    'Moves a pending timer to a new anchor, keeping its rule''s offset (e.g. an SLA re-counted '
    'from the broker''s confirm of the request, a refund deadline after a flight change).';
REVOKE ALL ON FUNCTION hublink.reanchor_timer(bigint, timestamptz) FROM PUBLIC;

CREATE FUNCTION hublink.fire_timer(p_timer_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t       hublink.timer;
    k       hublink.timer_kind;
    rule    hublink.timer_rule;
    ref     text;
    still   boolean := true;
    now_    timestamptz;
    v_lateness interval;
    alert   bigint;
    sent    text;
BEGIN
    -- Lock order: the removal row, then the timer, as every path that writes a removal's timers
    -- does (cancel_timers, start_timer, reanchor_timer; the caseworker's and the worker's
    -- transactions update the removal first). Both SKIP LOCKED: the job never waits for a
    -- removal another transaction is changing (it would hold this timer meanwhile, and that
    -- transaction may want it: the deadlock the soak found, docs/timers.md "Locks"); the timer
    -- stays pending and the next run fires it.
    PERFORM FROM hublink.removal r
      WHERE r.removal_id = (SELECT x.removal_id FROM hublink.timer x WHERE x.timer_id = p_timer_id)
        FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO t FROM hublink.timer x WHERE x.timer_id = p_timer_id AND x.status = 'pending'
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO k FROM hublink.timer_kind x WHERE x.kind = t.kind;
    SELECT * INTO rule FROM hublink.timer_rule x WHERE x.timer_rule_id = t.timer_rule_id;
    SELECT r.removal_reference INTO ref FROM hublink.removal r WHERE r.removal_id = t.removal_id;
    IF k.still_due_function IS NOT NULL THEN
        PERFORM hublink.require_stored_function(k.still_due_function, 'hublink.timer_kind.still_due_function', 'call');
        EXECUTE format('SELECT %s($1)', k.still_due_function::regproc) USING t.timer_id INTO still;
    END IF;
    IF NOT coalesce(still, false) THEN
        PERFORM hublink.cancel_timers(t.removal_id, t.kind, t.watches, 'its cause was gone when it was due');
        RETURN false;
    END IF;
    -- Lateness counts from when the timer could first fire: one started already overdue (a
    -- deadline nearer than its warning) is not late, one held up by downtime is.
    now_ := clock_timestamp();
    v_lateness := now_ - greatest(t.due_at, t.created_at);
    alert := hublink.raise_alert(
        k.alert_kind, format(k.subject_template, ref, t.watches), t.removal_id,
        t.detail || jsonb_build_object(
            'timerId', t.timer_id, 'timerKind', t.kind, 'watches', t.watches,
            'causeMessageId', t.cause_message_id, 'anchorAt', t.anchor_at, 'dueAt', t.due_at,
            'firedAt', now_, 'late', v_lateness > k.late_after,
            'latenessSeconds', round(extract(epoch FROM v_lateness)::numeric, 3),
            'timerRuleId', t.timer_rule_id),
        rule.severity, t.due_at);
    UPDATE hublink.timer x
       SET status = 'fired', fired_at = now_, lateness = v_lateness,
           late = v_lateness > k.late_after, alert_id = alert
     WHERE x.timer_id = t.timer_id;
    -- After the timer is marked fired, so a message the action sends (a re-quote) stops the
    -- other timers it concerns, not this one.
    IF rule.action IS NOT NULL THEN
        PERFORM hublink.require_stored_function(rule.action, 'hublink.timer_rule.action', 'call');
        EXECUTE format('SELECT %s($1)', rule.action::regproc) USING t.timer_id INTO sent;
        UPDATE hublink.timer x SET action_message_id = sent WHERE x.timer_id = t.timer_id;
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION hublink.fire_timer(bigint) IS
    'Fires one pending timer: cancels it instead when its kind''s still_due_function says its '
    'cause is gone; otherwise raises its alert (hublink.raise_alert: row and NOTIFY '
    'hublink_alert) with its due time and lateness, marks it fired (late when its lateness, '
    'counted from greatest(due_at, created_at), exceeds the kind''s late_after), then runs its '
    'rule''s action. Locks the removal row, then the timer, skipping either when another '
    'transaction holds it (the next run fires it): the lock order of every timer path. True when it fired.';
REVOKE ALL ON FUNCTION hublink.fire_timer(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.fire_due_timers(p_limit integer DEFAULT 500) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id      bigint;
    fired   integer := 0;
    message text;
BEGIN
    FOR id IN SELECT t.timer_id FROM hublink.timer t
               WHERE t.status = 'pending' AND t.due_at <= clock_timestamp()
               ORDER BY t.due_at, t.timer_id
               LIMIT p_limit
    LOOP
        -- Not locked here: fire_timer locks the removal first, then the timer (lock order).
        BEGIN
            IF hublink.fire_timer(id) THEN
                fired := fired + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
            RAISE WARNING 'hublink timer % failed to fire: %', id, message
                USING DETAIL = 'Its effects were rolled back; it stays pending and is tried at the next run.',
                      HINT = 'See hublink.timer.last_error.';
            UPDATE hublink.timer t SET attempts = t.attempts + 1, last_error = message WHERE t.timer_id = id;
        END;
    END LOOP;
    RETURN fired;
END;
$$;
COMMENT ON FUNCTION hublink.fire_due_timers(integer) IS
    'Fires the pending timers that are due, oldest due time first (at most p_limit), each in a '
    'subtransaction with its alert and action, skipping timers whose removal or row another '
    'transaction holds. A '
    'timer whose firing fails stays pending and is retried. Returns how many fired.';
REVOKE ALL ON FUNCTION hublink.fire_due_timers(integer) FROM PUBLIC;

CREATE FUNCTION hublink.timer_job() RETURNS timestamptz
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    next_due timestamptz;
BEGIN
    PERFORM hublink.fire_due_timers();
    SELECT min(t.due_at) INTO next_due FROM hublink.timer t
     WHERE t.status = 'pending' AND (t.attempts = 0 OR t.due_at > clock_timestamp());
    -- Still due now: skipped (its removal was locked) or beyond the batch. Again in a second,
    -- not at once, so a removal held open does not spin the worker.
    RETURN CASE WHEN next_due IS NOT NULL THEN greatest(next_due, clock_timestamp() + interval '1 second') END;
END;
$$;
COMMENT ON FUNCTION hublink.timer_job() IS
    'The worker job fire_timers: fires the due timers and returns when the next one is due '
    '(timers that failed to fire wait for the job''s run_every).';
REVOKE ALL ON FUNCTION hublink.timer_job() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('fire_timers', 'hublink.timer_job()'::regprocedure, interval '1 minute',
        'Fires the due workflow timers (hublink.timer, docs/timers.md) in due order; a new timer '
        'due sooner brings the job forward.');

-- A rule's action: a re-quote (Appendix A 4.5) of the timer's removal.
CREATE FUNCTION hublink.timer_requote(p_timer_id bigint) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ref text;
BEGIN
    SELECT r.removal_reference INTO ref FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
     WHERE t.timer_id = p_timer_id;
    RETURN hublink.requote(ref);
END;
$$;
COMMENT ON FUNCTION hublink.timer_requote(bigint) IS
    'Timer action: sends a re-quote for the timer''s removal (hublink.requote) and returns its messageId.';
REVOKE ALL ON FUNCTION hublink.timer_requote(bigint) FROM PUBLIC;
