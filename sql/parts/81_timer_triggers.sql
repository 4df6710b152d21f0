-- The six kinds of workflow timer, their default targets, and the triggers that start them
-- where their cause arises and cancel them where it goes (docs/timers.md). The triggers sit on
-- the domain and outbox tables, never in the conversation code: a timer is a consequence of
-- the rows a message leaves behind.

CREATE FUNCTION hublink.timer_quote_still_due(p_timer_id bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT EXISTS (SELECT FROM hublink.timer t
                         JOIN hublink.travel_quote q ON q.removal_id = t.removal_id
                                                    AND q.travel_quote_reference = t.detail ->> 'travelQuoteReference'
                        WHERE t.timer_id = p_timer_id AND NOT q.superseded
                          AND NOT EXISTS (SELECT FROM hublink.travel_booking k
                                           WHERE k.removal_id = t.removal_id AND k.requested_at >= t.created_at)
                          -- still bookable (not asked for before a risk change, 4.18), unless
                          -- it lapsed already: a late check still warns of that.
                          AND (q.expires_at <= now()
                               OR EXISTS (SELECT FROM hublink.removal r CROSS JOIN LATERAL hublink.removal_quotes(r.removal_reference) x
                                           WHERE r.removal_id = t.removal_id AND x.travel_quote_reference = q.travel_quote_reference)));
    END;
COMMENT ON FUNCTION hublink.timer_quote_still_due(bigint) IS
    'still_due_function of quote_expiry: the quote watched is not superseded, can still be '
    'booked (hublink.removal_quotes: not asked for before a risk change) unless it lapsed '
    'already, and no travel booking was requested since the timer started.';

INSERT INTO hublink.timer_kind (kind, alert_kind, anchor, subject_template, still_due_function, description) VALUES
    ('response_sla', 'response_sla_breached',
     'when the request was put on its queue: the broker''s confirm of the Hub''s outbox row (its '
     'creation until then); at a provider, the delivery''s enqueue time (hublink.inbox.enqueued_at)',
     'Removal %1$s: %2$s not answered within its SLA', NULL,
     'A request waits for its answer (hublink.timer_answer). Held by the Hub for the requests it '
     'sends, and by a provider for the requests it receives (its own deadline). Stopped by the answer.'),
    ('quote_expiry', 'quote_expiring', 'the expiresAt of the removal''s best-value quote',
     'Removal %1$s: its best-value quote lapses soon and nothing is booked',
     'hublink.timer_quote_still_due(bigint)'::regprocedure,
     'Held by the Hub from the travel quotes until a booking is requested, a re-quote is sent or '
     'the removal ends; re-armed on every new quote.'),
    ('ticketing_deadline', 'ticketing_deadline',
     'the expiresAt of the booked travel quote (the TSP caps it at its fares'' ticketing deadline)',
     'Removal %1$s: travel booked but not ticketed, ticketing deadline near', NULL,
     'Held by the Hub from the travel booking request until tickets arrive, the booking is '
     'declined or the travel is cancelled.'),
    ('refund_deadline', 'refund_deadline', 'the first departure of the booked itinerary',
     'Removal %1$s: last moment to cancel and recover the refundable fare', NULL,
     'Held by the Hub for an accepted refundable travel booking, until the travel is cancelled '
     'or completed.'),
    ('tig_notification', 'tig_notification_due', 'the first departure of the booked itinerary',
     'Removal %1$s: TIG notification period before travel starts', NULL,
     'Held by the Hub for an accepted travel booking, until the travel is cancelled or completed; '
     'the period is per destination.'),
    ('escort_unconfirmed', 'escort_unconfirmed',
     'the removal date: the earliest leave date at 00:00 Europe/London',
     'Removal %1$s: escorting not confirmed before the removal date', NULL,
     'Held by the Hub from the escort quote request until an escort booking is accepted or the '
     'escorting ends.');

INSERT INTO hublink.timer_kind_party VALUES
    ('response_sla', 'hub'), ('response_sla', 'tsp'), ('response_sla', 'esp'),
    ('quote_expiry', 'hub'), ('ticketing_deadline', 'hub'), ('refund_deadline', 'hub'),
    ('tig_notification', 'hub'), ('escort_unconfirmed', 'hub');

INSERT INTO hublink.timer_answer VALUES
    ('EscortQuoteRequest', 'EscortQuoteResponse%'),
    ('TravelQuoteRequest', 'TravelQuoteResponse%'),
    ('EscortBookingRequest', 'EscortBookingResponse%'),
    ('TravelBookingRequest', 'TravelBookingResponse%'),
    ('EscortAmendment', 'EscortUpdate.amendment-outcome'),
    ('TravelAmendment', 'TravelUpdate.amendment-outcome');

-- Default targets: an admin replaces them with the contract's (NFR 0005, 0006).
INSERT INTO hublink.timer_rule (kind, message_type, fire_offset, description) VALUES
    ('response_sla', 'EscortQuoteRequest', interval '24 hours', 'Default: a quote within a working day.'),
    ('response_sla', 'TravelQuoteRequest', interval '24 hours', 'Default: a quote within a working day.'),
    ('response_sla', 'EscortBookingRequest', interval '4 hours', 'Default: a booking answered within 4 hours.'),
    ('response_sla', 'TravelBookingRequest', interval '4 hours', 'Default: a booking answered within 4 hours.'),
    ('response_sla', 'EscortAmendment', interval '8 hours', 'Default: an amendment outcome within 8 hours.'),
    ('response_sla', 'TravelAmendment', interval '8 hours', 'Default: an amendment outcome within 8 hours.');
INSERT INTO hublink.timer_rule (kind, fire_offset, description) VALUES
    ('quote_expiry', interval '-2 hours', 'Default: two hours before the best quote lapses.'),
    ('ticketing_deadline', interval '-2 hours', 'Default: two hours before the ticketing deadline.'),
    ('refund_deadline', interval '-96 hours',
     'Default: a day before the refund cut-off of 72 hours before departure (the TSP''s '
     'expected_cancel_hours_before); set per provider from its fare rules.'),
    ('tig_notification', interval '-7 days', 'Default: seven days before departure; set per destination from the TIG.'),
    ('escort_unconfirmed', interval '-3 days', 'Default: three days before the removal date.');

-- --- from the state machine: requests and answers, escort quote requests, booking ----------

CREATE FUNCTION hublink.timer_on_transition() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    mtype  text := split_part(NEW.event, '.', 1);
    kind   hublink.message_type;
    a      hublink.timer_answer;
    anchor timestamptz;
    leave  date;
BEGIN
    -- Each message moves its booking machine (and, at the Hub, the removal machine too): act once.
    IF NEW.machine = 'removal' OR NEW.message_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO kind FROM hublink.message_type t WHERE t.message_type = mtype;
    -- A request: the SLA counts from when it was put on the queue (Appendix D).
    IF EXISTS (SELECT FROM hublink.timer_answer x WHERE x.request_type = mtype) THEN
        anchor := coalesce((SELECT i.enqueued_at FROM hublink.inbox i WHERE i.message_id = NEW.message_id),
                           (SELECT coalesce(o.sent_at, o.created_at) FROM hublink.outbox o
                             WHERE o.message_id = NEW.message_id),
                           now());
        PERFORM hublink.start_timer('response_sla', NEW.removal_id, NEW.machine, mtype, anchor, mtype,
                                    coalesce(nullif(kind.receiver_party, 'hub'), nullif(kind.sender_party, 'hub')),
                                    NEW.message_id, jsonb_build_object('requestMessageId', NEW.message_id));
    END IF;
    -- An answer stops the SLA of its request.
    FOR a IN SELECT * FROM hublink.timer_answer x WHERE NEW.event LIKE x.answer_event LOOP
        PERFORM hublink.cancel_timers(NEW.removal_id, 'response_sla', a.request_type,
                                      format('answered by %s %s', NEW.event, NEW.message_id));
    END LOOP;
    IF NEW.party <> 'hub' THEN
        RETURN NULL;
    END IF;
    -- Escorts are needed from the first escort quote request on.
    IF NEW.event = 'EscortQuoteRequest' AND NEW.direction = 'out' THEN
        SELECT r.earliest_leave_date INTO leave FROM hublink.removal r WHERE r.removal_id = NEW.removal_id;
        PERFORM hublink.start_timer('escort_unconfirmed', NEW.removal_id, NEW.machine, 'escorting',
                                    leave::timestamp AT TIME ZONE 'Europe/London', mtype, 'esp',
                                    NEW.message_id, jsonb_build_object('removalDate', leave));
    END IF;
    -- The quotes stop mattering once one is being booked, or new ones are asked for.
    IF NEW.direction = 'out' AND EXISTS (SELECT FROM hublink.timer_answer x WHERE x.request_type = mtype) THEN
        PERFORM hublink.cancel_timers(NEW.removal_id, 'quote_expiry', NULL,
                                      format('%s %s sent', NEW.event, NEW.message_id));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_transition() IS
    'Trigger on hublink.state_transition: a request with a response SLA (hublink.timer_answer) '
    'starts response_sla, counted from its enqueue time; its answer stops it. At the Hub, an '
    'escort quote request starts escort_unconfirmed, and any request sent stops quote_expiry '
    '(a booking is requested, or new quotes are).';
REVOKE ALL ON FUNCTION hublink.timer_on_transition() FROM PUBLIC;
CREATE TRIGGER timer_on_transition AFTER INSERT ON hublink.state_transition
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_transition();

-- A machine that reached a terminal state (cancelled, completed, unsuccessful) ends the timers
-- of that machine; the removal machine's end ends them all.
CREATE FUNCTION hublink.timer_on_removal_state() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m     text;
    state text;
BEGIN
    FOR m, state IN SELECT s.machine, to_jsonb(NEW) ->> hublink.state_column(s.machine)
                      FROM hublink.state_machine_states() s
                     WHERE s.terminal
                       AND s.state = to_jsonb(NEW) ->> hublink.state_column(s.machine)
                       AND s.state IS DISTINCT FROM to_jsonb(OLD) ->> hublink.state_column(s.machine) LOOP
        PERFORM hublink.cancel_timers(NEW.removal_id, NULL, NULL, format('the %s is %s', m, state),
                                      nullif(m, 'removal'));
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_removal_state() IS
    'Trigger on hublink.removal: when a machine reaches a terminal state (hublink.state_machine_states), '
    'cancels the pending timers of that machine, or of the whole removal for the removal machine.';
REVOKE ALL ON FUNCTION hublink.timer_on_removal_state() FROM PUBLIC;
CREATE TRIGGER timer_on_removal_state AFTER UPDATE OF state, escort_state, travel_state ON hublink.removal
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_removal_state();

-- --- from the domain rows -------------------------------------------------------------------

-- New quotes re-arm the expiry timer on the best-value quote (hublink.removal_quotes): once per
-- statement and removal, not once per quote. Ranking is the expensive part (18 to 27 ms with the
-- cancellation estimate, at the soak's size), and a row trigger ranked every removal once per
-- quote, 40 times for a response of 40 quotes: more than half the Hub's function time in the
-- simulation's soak (docs/performance.md "Quote expiry: one ranking per response"). Only the last
-- ranking of a statement decided where the timer stayed, and it sees every row of the statement;
-- the Hub's handler inserts a response's quotes, costs and segments in one statement
-- (hublink.record_message_rows), so the ranking also sees every quote's departure.
CREATE FUNCTION hublink.timer_on_travel_quote() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid  bigint;
    best record;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    -- In removal_id order: start_timer locks each removal row, always in one order.
    FOR rid IN SELECT DISTINCT n.removal_id FROM new_quotes n ORDER BY n.removal_id LOOP
        SELECT q.travel_quote_reference, q.expires_at INTO best
          FROM hublink.removal r, hublink.removal_quotes(r.removal_reference) q
         WHERE r.removal_id = rid AND q.expires_at IS NOT NULL
         LIMIT 1;
        IF FOUND THEN
            PERFORM hublink.start_timer('quote_expiry', rid, 'travel', 'best-value quote',
                                        best.expires_at, 'TravelQuoteResponse', 'tsp', NULL,
                                        jsonb_build_object('travelQuoteReference', best.travel_quote_reference,
                                                           'expiresAt', best.expires_at));
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_travel_quote() IS
    'Statement trigger on hublink.travel_quote at the Hub: for each removal the statement inserted '
    'quotes of (transition table new_quotes), ranks its quotes once and (re)starts quote_expiry on '
    'the expiry of the best-value quote that can still be booked.';
REVOKE ALL ON FUNCTION hublink.timer_on_travel_quote() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_quote AFTER INSERT ON hublink.travel_quote
    REFERENCING NEW TABLE AS new_quotes
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_travel_quote();
COMMENT ON TRIGGER timer_on_travel_quote ON hublink.travel_quote IS
    'New quotes re-arm quote_expiry: one ranking per removal and statement.';

-- The first departure of a travel quote's current itinerary.
CREATE FUNCTION hublink.timer_first_departure(p_removal_id bigint, p_travel_quote_reference text)
    RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT min(s.start_time) FROM hublink.travel_quote q
          JOIN hublink.itinerary_segment s ON s.travel_quote_id = q.travel_quote_id AND s.current
         WHERE q.removal_id = p_removal_id AND q.travel_quote_reference = p_travel_quote_reference;
    END;
COMMENT ON FUNCTION hublink.timer_first_departure(bigint, text) IS
    'The first departure of the current itinerary of a removal''s travel quote.';

CREATE FUNCTION hublink.timer_on_travel_booking() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q         hublink.travel_quote;
    departure timestamptz;
    facts     jsonb;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO q FROM hublink.travel_quote x
     WHERE x.removal_id = NEW.removal_id AND x.travel_quote_reference = NEW.travel_quote_reference;
    facts := jsonb_build_object('travelQuoteReference', NEW.travel_quote_reference,
                                'travelBookingId', NEW.travel_booking_id);
    IF TG_OP = 'INSERT' THEN
        PERFORM hublink.start_timer('ticketing_deadline', NEW.removal_id, 'travel', 'tickets',
                                    q.expires_at, 'TravelBookingRequest', 'tsp', NEW.request_message_id,
                                    facts || jsonb_build_object('expiresAt', q.expires_at));
    ELSIF NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'ACCEPTED' THEN
        departure := hublink.timer_first_departure(NEW.removal_id, NEW.travel_quote_reference);
        facts := facts || jsonb_build_object('firstDeparture', departure);
        IF coalesce(q.refundable, false) THEN
            PERFORM hublink.start_timer('refund_deadline', NEW.removal_id, 'travel', 'refund', departure,
                                        'TravelBookingResponse', 'tsp', NEW.response_message_id, facts);
        END IF;
        PERFORM hublink.start_timer('tig_notification', NEW.removal_id, 'travel', 'notification', departure,
                                    'TravelBookingResponse', 'tsp', NEW.response_message_id, facts);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_travel_booking() IS
    'Trigger on hublink.travel_booking at the Hub: a booking request starts ticketing_deadline '
    '(anchored at its quote''s expiry; a decline cancels it: hublink.timer_cancel_on_row); an '
    'acceptance starts refund_deadline (refundable fares only) and tig_notification, anchored at '
    'the first departure.';
REVOKE ALL ON FUNCTION hublink.timer_on_travel_booking() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_booking AFTER INSERT OR UPDATE OF outcome ON hublink.travel_booking
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_travel_booking();

-- A row that ends a timer's cause: a declined travel booking or a ticket (ticketing_deadline),
-- an accepted escort booking (escort_unconfirmed). One function; each trigger names the kind it
-- ends, the reason as a format() string and the columns of the new row that fill it, and says
-- in its WHEN which change of the row counts.
CREATE FUNCTION hublink.timer_cancel_on_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
BEGIN
    PERFORM hublink.cancel_timers(NEW.removal_id, TG_ARGV[0], NULL,
                                  format(TG_ARGV[1], VARIADIC ARRAY(SELECT r ->> c.name
                                                                      FROM unnest(TG_ARGV[2:]) WITH ORDINALITY c(name, n)
                                                                     ORDER BY c.n)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_cancel_on_row() IS
    'Trigger on a domain table whose new row ends the cause of a timer: cancels the removal''s '
    'pending timers of kind TG_ARGV[0] with the reason format(TG_ARGV[1], the row''s columns '
    'named by TG_ARGV[2..]).';
REVOKE ALL ON FUNCTION hublink.timer_cancel_on_row() FROM PUBLIC;
CREATE TRIGGER timer_on_travel_booking_declined AFTER UPDATE OF outcome ON hublink.travel_booking
    FOR EACH ROW WHEN (NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'DECLINED')
    EXECUTE FUNCTION hublink.timer_cancel_on_row('ticketing_deadline', 'booking declined by %s',
                                                 'response_message_id');
COMMENT ON TRIGGER timer_on_travel_booking_declined ON hublink.travel_booking IS 'A declined travel booking ends ticketing_deadline.';
CREATE TRIGGER timer_on_ticket AFTER INSERT ON hublink.ticket
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_cancel_on_row('ticketing_deadline', 'ticket %s issued (%s)',
                                                              'ticket_number', 'message_id');
COMMENT ON TRIGGER timer_on_ticket ON hublink.ticket IS 'A ticket issued ends ticketing_deadline.';
CREATE TRIGGER timer_on_escort_booking AFTER UPDATE OF outcome ON hublink.escort_booking
    FOR EACH ROW WHEN (NEW.outcome IS DISTINCT FROM OLD.outcome AND NEW.outcome = 'ACCEPTED')
    EXECUTE FUNCTION hublink.timer_cancel_on_row('escort_unconfirmed', 'escort booking accepted (%s)',
                                                 'response_message_id');
COMMENT ON TRIGGER timer_on_escort_booking ON hublink.escort_booking IS 'An accepted escort booking ends escort_unconfirmed.';

-- A flight change moves the departure the refund and TIG timers count from. Once per statement
-- (transition table new_segments), not once per segment: every quote of a TravelQuoteResponse
-- brings its segments, one statement for the whole response (hublink.record_message_rows), and
-- only the segments of a quote a pending timer watches can move one. Two triggers, since a
-- trigger with a transition table has one event and no column list: an UPDATE of any column
-- comes here, and re-anchoring at an unchanged departure changes nothing (reanchor_timer).
CREATE FUNCTION hublink.timer_on_itinerary() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A flight change retires the old segment before it inserts the new one: in between no
    -- segment is current (no departure), and the insert's own firing re-anchors the timers.
    -- In timer_id order: reanchor_timer locks each timer's removal row, always in one order.
    -- The departure is looked up for the watched quotes only (the join's output rows): none
    -- for a quote response's new quotes.
    PERFORM hublink.reanchor_timer(w.timer_id, w.departure)
       FROM (SELECT x.timer_id, hublink.timer_first_departure(q.removal_id, q.travel_quote_reference) AS departure
               FROM (SELECT DISTINCT n.travel_quote_id FROM new_segments n) n
               JOIN hublink.travel_quote q ON q.travel_quote_id = n.travel_quote_id
               JOIN hublink.timer x ON x.removal_id = q.removal_id
                                   AND x.detail ->> 'travelQuoteReference' = q.travel_quote_reference
              WHERE x.status = 'pending' AND x.detail ? 'firstDeparture'
             OFFSET 0) w
      WHERE w.departure IS NOT NULL
      ORDER BY w.timer_id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_itinerary() IS
    'Statement trigger on hublink.itinerary_segment: after a flight change, the pending timers '
    'anchored at the first departure of a quote whose segments the statement inserted or updated '
    '(transition table new_segments) count from the new one.';
REVOKE ALL ON FUNCTION hublink.timer_on_itinerary() FROM PUBLIC;
CREATE TRIGGER timer_on_itinerary_insert AFTER INSERT ON hublink.itinerary_segment
    REFERENCING NEW TABLE AS new_segments
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_itinerary();
COMMENT ON TRIGGER timer_on_itinerary_insert ON hublink.itinerary_segment IS
    'New segments (a flight change''s new segment) re-anchor the timers counted from their quote''s first departure.';
CREATE TRIGGER timer_on_itinerary_update AFTER UPDATE ON hublink.itinerary_segment
    REFERENCING NEW TABLE AS new_segments
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.timer_on_itinerary();
COMMENT ON TRIGGER timer_on_itinerary_update ON hublink.itinerary_segment IS
    'Changed segments (a flight change retiring the old segment) re-anchor the timers counted from their quote''s first departure.';

-- The broker's confirm is the moment the Hub's request was put on the queue (Appendix D).
CREATE FUNCTION hublink.timer_on_outbox_sent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.sent_at IS NOT NULL AND OLD.sent_at IS NULL THEN
        PERFORM hublink.reanchor_timer(t.timer_id, NEW.sent_at) FROM hublink.timer t
          WHERE t.cause_message_id = NEW.message_id AND t.status = 'pending' AND t.kind = 'response_sla';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.timer_on_outbox_sent() IS
    'Trigger on hublink.outbox: when the broker confirms a request, its response SLA counts from '
    'that moment (Schedule R Appendix D) instead of from the outbox row''s creation.';
REVOKE ALL ON FUNCTION hublink.timer_on_outbox_sent() FROM PUBLIC;
CREATE TRIGGER timer_on_outbox_sent AFTER UPDATE OF sent_at ON hublink.outbox
    FOR EACH ROW EXECUTE FUNCTION hublink.timer_on_outbox_sent();
