-- Applying a message to the conversation (issue 4, sections 1, 2, 4): every message a party
-- sends or receives passes the state machine, is recorded as domain rows, and its transitions
-- are logged. Inbound messages come through the worker's handler seam
-- (hublink.handle_message); outbound ones through hublink.send_message, which the Hub's
-- functions and a provider's manual answers use.
--
-- Errors: SQLSTATE HL001 = impossible in the conversation (rejected to the error queue with
-- the reason), HL002 = premature (the worker retries it). Anything else is retried too.

-- Where each message type carries reason codes, and the list they must come from: rules as
-- data. A path is a JSON pointer in which * stands for every element of an array.
CREATE TABLE hublink.reason_code_location (
    message_type text NOT NULL REFERENCES hublink.message_type,
    path         text NOT NULL CHECK (path ~ '^(/[^/]+)+$'),
    list         text NOT NULL REFERENCES hublink.reason_list,
    PRIMARY KEY (message_type, path)
);
COMMENT ON TABLE hublink.reason_code_location IS
    'Where each message type carries a reason ({code, text}) and the reason list its code must '
    'be an active member of; a message with another code is rejected to the error queue.';
COMMENT ON COLUMN hublink.reason_code_location.message_type IS 'The message type.';
COMMENT ON COLUMN hublink.reason_code_location.path IS
    'JSON pointer of the reason object; * matches every element of an array.';
COMMENT ON COLUMN hublink.reason_code_location.list IS 'The reason list.';

INSERT INTO hublink.reason_code_location VALUES
    ('TravelQuoteResponse',   '/body/noQuoteReason', 'decline'),
    ('EscortBookingResponse', '/body/declineReason', 'decline'),
    ('TravelBookingResponse', '/body/declineReason', 'decline'),
    ('EscortAmendment',       '/body/segmentChanges/*/reason', 'change'),
    ('TravelAmendment',       '/body/itineraryChanges/*/reason', 'change'),
    ('EscortUpdate',          '/body/cancellation/reason', 'cancellation'),
    ('EscortUpdate',          '/body/unsuccessful/reason', 'unsuccessful'),
    ('EscortUpdate',          '/body/delayed/reason', 'delay'),
    ('EscortUpdate',          '/body/escortChanges/*/reason', 'change'),
    ('EscortUpdate',          '/body/amendmentOutcome/reason', 'change'),
    ('EscortUpdate',          '/body/financial/reason', 'change'),
    ('TravelUpdate',          '/body/cancellation/reason', 'cancellation'),
    ('TravelUpdate',          '/body/flightChanges/*/reason', 'change'),
    ('TravelUpdate',          '/body/amendmentOutcome/reason', 'change'),
    ('TravelUpdate',          '/body/financial/reason', 'change'),
    ('TravelCancellation',    '/body/reason', 'cancellation'),
    ('EscortCancellation',    '/body/reason', 'cancellation');

-- The values at a pointer pattern, with their concrete pointers.
CREATE FUNCTION hublink.json_pointer_values(doc jsonb, pattern text[], prefix text DEFAULT '')
    RETURNS TABLE (pointer text, value jsonb)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    head text;
    rest text[];
    i    int;
BEGIN
    IF doc IS NULL THEN
        RETURN;
    END IF;
    IF coalesce(cardinality(pattern), 0) = 0 THEN
        pointer := prefix;
        value := doc;
        RETURN NEXT;
        RETURN;
    END IF;
    head := pattern[1];
    rest := pattern[2:];
    IF head = '*' THEN
        IF jsonb_typeof(doc) = 'array' THEN
            FOR i IN 0 .. jsonb_array_length(doc) - 1 LOOP
                RETURN QUERY SELECT * FROM hublink.json_pointer_values(doc -> i, rest, prefix || '/' || i);
            END LOOP;
        END IF;
    ELSIF jsonb_typeof(doc) = 'object' THEN
        RETURN QUERY SELECT * FROM hublink.json_pointer_values(doc -> head, rest, prefix || '/' || head);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.json_pointer_values(jsonb, text[], text) IS
    'The members of doc at a JSON pointer pattern split into its tokens (* = every array '
    'element), each with its concrete JSON pointer.';

-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.reason_code_problems(message jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'instanceLocation', v.pointer || '/code',
                       'keywordLocation', '',
                       'error', format('reason code "%s" is not in the %s list',
                                       v.value ->> 'code', l.list))
                       ORDER BY v.pointer), '[]')
              FROM hublink.reason_code_location l,
                   hublink.json_pointer_values(message, (string_to_array(l.path, '/'))[2:]) v
             WHERE l.message_type = message ->> 'messageType'
               AND NOT hublink.reason_code_valid(l.list, v.value ->> 'code'));
END;
$$;
COMMENT ON FUNCTION hublink.reason_code_problems(jsonb) IS
    'The reason codes of a message that are not active codes of their list '
    '(hublink.reason_code_location), as Error message problems; [] when all are.';

-- The machines the current party tracks and the event moves; a column of hublink.removal each.
CREATE FUNCTION hublink.state_column(machine text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN CASE machine WHEN 'removal' THEN 'state' WHEN 'escort' THEN 'escort_state'
                        WHEN 'travel' THEN 'travel_state' END;
COMMENT ON FUNCTION hublink.state_column(text) IS 'The column of hublink.removal holding a machine''s state.';

CREATE FUNCTION hublink.current_party() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p text := current_setting('hublink.party', true);
BEGIN
    IF p IS NULL OR NOT EXISTS (SELECT FROM hublink.party x WHERE x.party = p) THEN
        RAISE EXCEPTION 'hublink.party is not set to a party'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is "%s".', coalesce(p, '')),
                  HINT = 'Set hublink.party to hub, tsp or esp in postgresql.conf.';
    END IF;
    RETURN p;
END;
$$;
COMMENT ON FUNCTION hublink.current_party() IS 'The hublink.party setting, checked.';

-- Move the machines of one removal by one event; raises HL001/HL002 when refused. Returns
-- true when some state changed. Records each transition and announces status changes.
CREATE FUNCTION hublink.transition(removal_id bigint, event text, direction text,
                                   message_id text DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party    text := hublink.current_party();
    r        hublink.removal;
    m        text;
    cur      text;
    chk      record;
    worst    text := 'allowed';
    reason   text;
    moves    jsonb := '{}';
    changed  boolean := false;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = transition.removal_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no removal %', removal_id USING ERRCODE = 'HL001';
    END IF;
    FOR m IN SELECT x.machine
               FROM (SELECT DISTINCT s.machine FROM hublink.state_machine_states() s
                      WHERE party = ANY (string_to_array(s.tracked_by, ','))
                        AND EXISTS (SELECT FROM hublink.state_machine() t
                                     WHERE t.machine = s.machine AND t.event = transition.event)) x
              ORDER BY x.machine = 'removal', x.machine LOOP  -- a booking's reason is the clearer one
        cur := to_jsonb(r) ->> hublink.state_column(m);
        chk := hublink.check_transition(m, coalesce(cur, 'new'), event, direction, party);
        IF (chk.verdict = 'forbidden' AND worst <> 'forbidden')
           OR (chk.verdict = 'premature' AND worst = 'allowed') THEN
            worst := chk.verdict;
            reason := chk.reason;
        END IF;
        moves := moves || jsonb_build_object(m, jsonb_build_array(coalesce(cur, 'new'), chk.next_state));
    END LOOP;
    IF moves = '{}' THEN
        -- the event concerns no machine this party tracks (e.g. a TSP and an escort message)
        PERFORM hublink.next_state(CASE party WHEN 'tsp' THEN 'travel' WHEN 'esp' THEN 'escort'
                                              ELSE 'removal' END,
                                   'none', event, direction, party);
        RAISE EXCEPTION '% does not concern party %', event, party USING ERRCODE = 'HL001';
    END IF;
    IF worst <> 'allowed' THEN
        RAISE EXCEPTION '%', reason
            USING ERRCODE = CASE worst WHEN 'premature' THEN 'HL002' ELSE 'HL001' END,
                  DETAIL = format('Removal %s, party %s, %s %s.', r.removal_reference, party,
                                  CASE direction WHEN 'in' THEN 'receiving' WHEN 'out' THEN 'sending'
                                                 ELSE 'deciding' END, event),
                  HINT = CASE worst WHEN 'premature'
                              THEN 'It can be applied once the earlier message has been.'
                              ELSE 'docs/state-machine.md shows what may follow what.' END;
    END IF;
    FOR m IN SELECT jsonb_object_keys(moves) LOOP
        INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event,
                                              direction, party, message_id)
        VALUES (r.removal_id, m, moves -> m ->> 0, moves -> m ->> 1, event, direction, party,
                transition.message_id);
        IF moves -> m ->> 0 <> moves -> m ->> 1 THEN
            changed := true;
            EXECUTE format('UPDATE hublink.removal SET %I = $1, updated_at = now() WHERE removal_id = $2',
                           hublink.state_column(m))
                USING moves -> m ->> 1, r.removal_id;
            PERFORM pg_notify('hublink_status', json_build_object(
                'removalReference', r.removal_reference, 'machine', m,
                'from', moves -> m ->> 0, 'to', moves -> m ->> 1, 'event', event)::text);
        END IF;
    END LOOP;
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION hublink.transition(bigint, text, text, text) IS
    'Moves every machine of a removal that the current party tracks and the event concerns, '
    'through hublink.check_transition: raises HL001 (impossible) or HL002 (premature) and '
    'changes nothing when any machine refuses; otherwise records each transition in '
    'hublink.state_transition and raises NOTIFY hublink_status {removalReference, machine, '
    'from, to, event} for every state that changed. True when a state changed.';

-- The Hub confirms the removal once every booking it needs is confirmed.
CREATE FUNCTION hublink.confirm_if_booked(removal_id bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r hublink.removal;
BEGIN
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_id = confirm_if_booked.removal_id;
    IF hublink.current_party() = 'hub' AND r.state = 'booking' AND r.travel_state = 'booked'
       AND (r.escort_state = 'booked' OR (NOT coalesce(r.escorted, false) AND r.escort_state = 'none')) THEN
        PERFORM hublink.transition(r.removal_id, 'BookingsConfirmed', 'local');
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.confirm_if_booked(bigint) IS
    'At the Hub: takes the removal from booking to booked (event BookingsConfirmed) when the '
    'travel booking, and the escort booking when escorted, are confirmed.';

-- An HL001 error with the JSON pointer of the offending value (carried in COLUMN).
CREATE FUNCTION hublink.impossible(pointer text, message text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'HL001', COLUMN = pointer;
END;
$$;
COMMENT ON FUNCTION hublink.impossible(text, text) IS
    'Raises SQLSTATE HL001 (impossible in the conversation: rejected to the error queue) with '
    'the JSON pointer of the offending value in the error''s column field.';

CREATE FUNCTION hublink.money(m jsonb) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (m ->> 'amount')::numeric(14,2);
COMMENT ON FUNCTION hublink.money(jsonb) IS 'The amount of a {amount, currency} object as numeric(14,2).';

-- The personal details as the Hub sends them (quote requests, 4.1 and 4.3; the escorts of a
-- booking, 4.7). The record functions below read the same fields back: keep the two sides alike.
CREATE FUNCTION hublink.person_name_json(title text, given_names text, family_name text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_strip_nulls(jsonb_build_object('title', title, 'givenNames', given_names,
                                                'familyName', family_name));
COMMENT ON FUNCTION hublink.person_name_json(text, text, text) IS
    'A person''s name object {title, givenNames, familyName} of the messages, the missing parts left out.';

CREATE FUNCTION hublink.returnee_details_json(returnee hublink.returnee, personal hublink.returnee_personal)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'hoReturneeReference', returnee.ho_returnee_reference,
        'name', hublink.person_name_json(personal.title, personal.given_names, personal.family_name),
        'dateOfBirth', personal.date_of_birth, 'nationality', personal.nationality,
        'gender', personal.gender, 'conditions', personal.conditions));
COMMENT ON FUNCTION hublink.returnee_details_json(hublink.returnee, hublink.returnee_personal) IS
    'The personalDetails object of a returnee in a quote request (4.1, 4.3), from its returnee row '
    'and its decrypted personal row (hublink.returnee_personal_of); hublink.record_returnees reads '
    'it back.';

-- Returnees as sent in a quote request: created at a provider, refreshed on a re-quote.
CREATE FUNCTION hublink.record_returnees(removal_id bigint, returnees jsonb, audience text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    x   jsonb;
    pd  jsonb;
    ra  jsonb;
    rid bigint;
    doc jsonb;
BEGIN
    FOR x IN SELECT * FROM jsonb_array_elements(returnees) LOOP
        pd := x -> 'personalDetails';
        ra := coalesce(x -> 'escortRiskAssessment', x -> 'travelRiskAssessment');
        SELECT t.returnee_id INTO rid FROM hublink.returnee t
         WHERE t.removal_id = record_returnees.removal_id
           AND t.ho_returnee_reference = pd ->> 'hoReturneeReference';
        IF NOT FOUND THEN
            INSERT INTO hublink.returnee (removal_id, ho_returnee_reference, location)
            VALUES (removal_id, pd ->> 'hoReturneeReference', x -> 'location')
            RETURNING returnee_id INTO rid;
            -- The fields hublink.returnee_details_json writes.
            INSERT INTO hublink.returnee_personal (returnee_id, title, given_names, family_name,
                                                   date_of_birth, nationality, gender, conditions)
            VALUES (rid, pd #>> '{name,title}', pd #>> '{name,givenNames}', pd #>> '{name,familyName}',
                    (pd ->> 'dateOfBirth')::date, pd ->> 'nationality', pd ->> 'gender',
                    coalesce(pd -> 'conditions', '[]'));
        ELSIF audience <> 'hub' THEN
            UPDATE hublink.returnee t SET location = x -> 'location' WHERE t.returnee_id = rid;
        END IF;
        IF audience = 'hub' THEN
            CONTINUE; -- the Hub keeps its own full assessment; what it sent is in the outbox
        END IF;
        IF x ? 'travelDocuments' THEN
            DELETE FROM hublink.travel_document d WHERE d.returnee_id = rid;
            FOR doc IN SELECT * FROM jsonb_array_elements(x -> 'travelDocuments') LOOP
                INSERT INTO hublink.travel_document (returnee_id, document_type, document_number,
                                                     issuing_country, expiry_date)
                VALUES (rid, doc ->> 'type', doc ->> 'number', doc ->> 'issuingCountry',
                        (doc ->> 'expiryDate')::date);
            END LOOP;
        END IF;
        IF ra IS NOT NULL THEN
            UPDATE hublink.risk_assessment a SET current = false
             WHERE a.returnee_id = rid AND a.audience = record_returnees.audience AND a.current;
            INSERT INTO hublink.risk_assessment (returnee_id, audience, flags, escorts_required, notes)
            VALUES (rid, audience, ARRAY(SELECT jsonb_array_elements_text(ra -> 'flags')),
                    hublink.json_integer(ra -> 'escortsRequired')::int, ra ->> 'notes');
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_returnees(bigint, jsonb, text) IS
    'Records the returnees of a quote request at the party that receives it (audience esp or '
    'tsp): personal details, travel documents and the risk assessment it was given; a re-quote '
    'replaces the assessment and location. At the Hub (audience hub) it only adds returnees it '
    'does not know.';

-- Named escorts (escortDetails or the escorts of a travel booking request / amendment).
CREATE FUNCTION hublink.record_escorts(removal_id bigint, escorts jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e   jsonb;
    pid bigint;
    api jsonb;
BEGIN
    FOR e IN SELECT * FROM jsonb_array_elements(coalesce(escorts, '[]')) LOOP
        api := coalesce(e -> 'advancePassengerInfo', '{}');
        INSERT INTO hublink.escort_person AS p (removal_id, escort_id, escort_number, special_meal)
        VALUES (removal_id, e ->> 'escortId', hublink.json_integer(e -> 'escortNumber')::int, e ->> 'specialMeal')
        ON CONFLICT ON CONSTRAINT escort_person_removal_id_escort_id_key DO UPDATE
           SET escort_number = coalesce(EXCLUDED.escort_number, p.escort_number),
               special_meal = coalesce(EXCLUDED.special_meal, p.special_meal), active = true
        RETURNING escort_person_id INTO pid;
        INSERT INTO hublink.escort_personal AS q (escort_person_id, title, given_names, family_name,
                                                  date_of_birth, nationality, gender, document_type,
                                                  document_number, document_issuing_country,
                                                  document_expiry_date)
        VALUES (pid, e #>> '{name,title}', e #>> '{name,givenNames}', e #>> '{name,familyName}',
                (api ->> 'dateOfBirth')::date, api ->> 'nationality', api ->> 'gender',
                api #>> '{travelDocument,type}', api #>> '{travelDocument,number}',
                api #>> '{travelDocument,issuingCountry}', (api #>> '{travelDocument,expiryDate}')::date)
        -- The details are sealed (74_crypto_seal.sql): EXCLUDED holds them encrypted, and the
        -- seal trigger merges them into the stored ones, the values given replacing the old.
        ON CONFLICT (escort_person_id) DO UPDATE
           SET key_scope = EXCLUDED.key_scope, sealed = EXCLUDED.sealed;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION hublink.record_escorts(bigint, jsonb) IS
    'Records named escorts and their advance passenger information; later details of the same '
    'escortId complete or replace earlier ones.';

CREATE FUNCTION hublink.record_financial(removal_id bigint, booking text, message_id text,
                                         f jsonb)
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount,
                                                   currency, reason_code, reason_text)
        SELECT record_financial.removal_id, record_financial.booking, record_financial.message_id,
               k.kind, hublink.money(f -> k.member), f -> k.member ->> 'currency',
               f #>> '{reason,code}', f #>> '{reason,text}'
          FROM (VALUES ('refund', 'refund'), ('change_fee', 'changeFee'),
                       ('cancellation_fee', 'cancellationFee')) AS k(kind, member)
         WHERE f ? k.member;
    END;
COMMENT ON FUNCTION hublink.record_financial(bigint, text, text, jsonb) IS
    'Records the refund and fees of a financial section (4.10, 4.12).';

-- Whether the removal issued an escort or travel quote of this reference; with current_only,
-- one a re-quote has not superseded (a booking request may only name such a quote).
CREATE FUNCTION hublink.quote_issued(removal_id bigint, booking text, reference text,
                                     current_only boolean DEFAULT false)
    RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT CASE quote_issued.booking
               WHEN 'escort' THEN EXISTS (SELECT FROM hublink.escort_quote q
                                           WHERE q.removal_id = quote_issued.removal_id
                                             AND q.escort_quote_reference = quote_issued.reference
                                             AND NOT (quote_issued.current_only AND q.superseded))
               ELSE EXISTS (SELECT FROM hublink.travel_quote q
                             WHERE q.removal_id = quote_issued.removal_id
                               AND q.travel_quote_reference = quote_issued.reference
                               AND NOT (quote_issued.current_only AND q.superseded))
               END;
    END;
COMMENT ON FUNCTION hublink.quote_issued(bigint, text, text, boolean) IS
    'True when the removal issued an escort or travel quote (booking) of this reference; with '
    'current_only, only one not superseded by a re-quote.';

-- A quote response must not issue a reference again (nor repeat one within itself).
CREATE FUNCTION hublink.require_new_quote(removal_id bigint, booking text, reference text, pointer text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF hublink.quote_issued(removal_id, booking, reference) THEN
        PERFORM hublink.impossible(pointer, format('%s quote "%s" was already issued', booking, reference));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_new_quote(bigint, text, text, text) IS
    'Raises HL001 when the removal already issued a quote of this reference.';

-- The booked quote a post-booking message must name.
CREATE FUNCTION hublink.require_booked(removal_id bigint, booking text, reference text,
                                       pointer text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF booking = 'escort' AND NOT EXISTS (
           SELECT FROM hublink.escort_booking b
            WHERE b.removal_id = require_booked.removal_id AND b.escort_quote_reference = reference
              AND b.outcome = 'ACCEPTED')
       OR booking = 'travel' AND NOT EXISTS (
           SELECT FROM hublink.travel_booking b
            WHERE b.removal_id = require_booked.removal_id AND b.travel_quote_reference = reference
              AND b.outcome = 'ACCEPTED') THEN
        PERFORM hublink.impossible(pointer, format('%s quote "%s" is not booked', booking, reference));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_booked(bigint, text, text, text) IS
    'Raises HL001 unless reference names a confirmed booking of this removal.';

-- The domain rows of one message, sent or received.
CREATE FUNCTION hublink.record_message_rows(removal_id bigint, message jsonb, direction text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    b       jsonb := message -> 'body';
    mid     text := message ->> 'messageId';
    rid     bigint := removal_id;
    resp_id bigint;
    q_id    bigint;
    x       jsonb;
    y       jsonb;
    i       int;
    bad     boolean;
    st      hublink.removal;
BEGIN
    SELECT * INTO st FROM hublink.removal r WHERE r.removal_id = rid;
    CASE message ->> 'messageType'
    WHEN 'EscortQuoteRequest', 'TravelQuoteRequest' THEN
        IF party <> 'hub' THEN
            UPDATE hublink.removal r
               SET international = coalesce((b ->> 'international')::boolean, r.international),
                   escort_on_transport = coalesce((b ->> 'escortOnTransport')::boolean, r.escort_on_transport),
                   earliest_leave_date = coalesce((b #>> '{dates,earliestLeaveDate}')::date, r.earliest_leave_date),
                   latest_leave_date = coalesce((b #>> '{dates,latestLeaveDate}')::date, r.latest_leave_date),
                   exclusion_dates = coalesce(ARRAY(SELECT jsonb_array_elements_text(b #> '{dates,exclusionDates}'))::date[],
                                              r.exclusion_dates),
                   destination = coalesce(b -> 'destination', r.destination),
                   constraints = coalesce(b -> 'constraints', r.constraints),
                   notes = coalesce(b ->> 'notes', r.notes)
             WHERE r.removal_id = rid;
        END IF;
        PERFORM hublink.record_returnees(rid, b -> 'returnees', party);
        IF message ->> 'messageType' = 'EscortQuoteRequest' THEN
            UPDATE hublink.escort_quote q SET superseded = true WHERE q.removal_id = rid;
        ELSE
            UPDATE hublink.travel_quote q SET superseded = true WHERE q.removal_id = rid;
        END IF;

    WHEN 'EscortQuoteResponse' THEN
        INSERT INTO hublink.escort_quote_response (removal_id, message_id, notes)
        VALUES (rid, mid, b ->> 'notes') RETURNING escort_quote_response_id INTO resp_id;
        INSERT INTO hublink.escort_position
        SELECT resp_id, hublink.json_integer(p -> 'escortNumber')::int, p ->> 'role', p ->> 'gender', p ->> 'physique',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(p -> 'languages', '[]'))),
               coalesce((p ->> 'medic')::boolean, false)
          FROM jsonb_array_elements(b -> 'escortPositions') p;
        UPDATE hublink.escort_segment s SET current = false WHERE s.removal_id = rid;
        INSERT INTO hublink.escort_segment (escort_quote_response_id, removal_id, segment_id,
                                            start_point, finish_point, transport_type, returnee_present)
        SELECT resp_id, rid, s ->> 'segmentId', s -> 'startPoint', s -> 'finishPoint',
               s ->> 'transportType', (s ->> 'returneePresent')::boolean
          FROM jsonb_array_elements(b -> 'segments') s;
        INSERT INTO hublink.escort_effort
        SELECT resp_id, e ->> 'segmentId', hublink.json_integer(e -> 'escortNumber')::int, hublink.money(e -> 'cost'),
               e #>> '{cost,currency}', hublink.json_integer(e -> 'durationMinutes')::int
          FROM jsonb_array_elements(b -> 'effort') e;
        FOR i IN 0 .. jsonb_array_length(b -> 'quotes') - 1 LOOP
            x := b -> 'quotes' -> i;
            PERFORM hublink.require_new_quote(rid, 'escort', x ->> 'escortQuoteReference',
                                              format('/body/quotes/%s/escortQuoteReference', i));
            INSERT INTO hublink.escort_quote (escort_quote_response_id, removal_id, escort_quote_reference,
                                              escort_date, total_amount, currency, notes)
            VALUES (resp_id, rid, x ->> 'escortQuoteReference', (x ->> 'escortDate')::date,
                    hublink.money(x -> 'totalCost'), x #>> '{totalCost,currency}', x ->> 'notes');
        END LOOP;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
        END IF;

    WHEN 'TravelQuoteResponse' THEN
        INSERT INTO hublink.travel_quote_response (removal_id, message_id, no_quote_reason_code,
                                                   no_quote_reason_text)
        VALUES (rid, mid, b #>> '{noQuoteReason,code}', b #>> '{noQuoteReason,text}')
        RETURNING travel_quote_response_id INTO resp_id;
        -- The checks first, the first bad quote in array order named as before: a reference
        -- issued already or repeated within the response, then an escort quote the Hub never
        -- received. Then the quotes, their costs and their segments in ONE statement: the
        -- quote_expiry trigger ranks the removal's quotes once per statement
        -- (hublink.timer_on_travel_quote), after the statement, so it sees every quote of the
        -- response with its departure; a loop of inserts ranked them once per quote.
        SELECT a.n - 1, a.x, a.dup INTO i, x, bad
          FROM (SELECT e.x, e.n,
                       count(*) OVER (PARTITION BY e.x ->> 'travelQuoteReference' ORDER BY e.n) > 1 AS dup
                  FROM jsonb_array_elements(b -> 'quotes') WITH ORDINALITY e(x, n)) a
         WHERE a.dup OR hublink.quote_issued(rid, 'travel', a.x ->> 'travelQuoteReference')
            OR (party = 'hub' AND a.x ? 'escortQuoteReference'
                AND NOT hublink.quote_issued(rid, 'escort', a.x ->> 'escortQuoteReference'))
         ORDER BY a.n
         LIMIT 1;
        IF FOUND THEN
            IF bad OR hublink.quote_issued(rid, 'travel', x ->> 'travelQuoteReference') THEN
                PERFORM hublink.impossible(format('/body/quotes/%s/travelQuoteReference', i),
                    format('travel quote "%s" was already issued', x ->> 'travelQuoteReference'));
            END IF;
            PERFORM hublink.impossible(format('/body/quotes/%s/escortQuoteReference', i),
                format('escort quote "%s" is unknown', x ->> 'escortQuoteReference'));
        END IF;
        WITH quote AS (
            SELECT e.x, e.n FROM jsonb_array_elements(b -> 'quotes') WITH ORDINALITY e(x, n)
        ), inserted AS (
            INSERT INTO hublink.travel_quote (travel_quote_response_id, removal_id, travel_quote_reference,
                                              escort_quote_reference, total_amount, expected_amount,
                                              currency, refundable, hand_baggage_only, expires_at,
                                              conditions)
            SELECT resp_id, rid, q.x ->> 'travelQuoteReference', q.x ->> 'escortQuoteReference',
                   hublink.money(q.x #> '{costs,total}'), hublink.money(q.x #> '{costs,expectedCost}'),
                   q.x #>> '{costs,total,currency}',
                   (q.x #>> '{conditions,refundable}')::boolean,
                   (q.x #>> '{conditions,handBaggageOnly}')::boolean,
                   (q.x #>> '{conditions,expiresAt}')::timestamptz, q.x -> 'conditions'
              FROM quote q ORDER BY q.n
            RETURNING travel_quote_id, travel_quote_reference
        ), costs AS (
            INSERT INTO hublink.travel_quote_cost
            SELECT t.travel_quote_id, c -> 'traveller', hublink.money(c -> 'cost'), c #>> '{cost,currency}'
              FROM inserted t JOIN quote q ON q.x ->> 'travelQuoteReference' = t.travel_quote_reference,
                   jsonb_array_elements(q.x #> '{costs,perTraveller}') c
        )
        INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                               provider_name, carrier_code, flight_number,
                                               start_point, end_point, start_time, end_time,
                                               travellers)
        SELECT t.travel_quote_id, g.s ->> 'segmentId', g.s ->> 'segmentType', g.s ->> 'providerName',
               g.s ->> 'carrierCode', g.s ->> 'flightNumber', g.s -> 'startPoint', g.s -> 'endPoint',
               (g.s ->> 'startTime')::timestamptz, (g.s ->> 'endTime')::timestamptz, g.s -> 'travellers'
          FROM inserted t JOIN quote q ON q.x ->> 'travelQuoteReference' = t.travel_quote_reference,
               jsonb_array_elements(q.x -> 'itinerary') WITH ORDINALITY g(s, m)
         ORDER BY q.n, g.m;

    WHEN 'EscortBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'escort', b ->> 'escortQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('escort quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'escortQuoteReference'));
        END IF;
        INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, travel_quote_reference,
                                            request_message_id)
        VALUES (rid, b ->> 'escortQuoteReference', b ->> 'travelQuoteReference', mid);

    WHEN 'TravelBookingRequest' THEN
        IF NOT hublink.quote_issued(rid, 'travel', b ->> 'travelQuoteReference', current_only => true) THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('travel quote "%s" was never issued for this removal, or was superseded by a re-quote',
                       b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id)
        VALUES (rid, b ->> 'travelQuoteReference', mid);
        PERFORM hublink.record_escorts(rid, b -> 'escorts');

    WHEN 'EscortBookingResponse' THEN
        UPDATE hublink.escort_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               response_message_id = mid, responded_at = now()
         WHERE k.escort_booking_id = (SELECT max(k2.escort_booking_id) FROM hublink.escort_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.escort_quote_reference = b ->> 'escortQuoteReference');
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/escortQuoteReference',
                format('no booking of escort quote "%s" waits for an answer', b ->> 'escortQuoteReference'));
        END IF;
        IF b ? 'escortDetails' THEN
            PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
            INSERT INTO hublink.escort_assignment
            SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
              FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
            ON CONFLICT DO NOTHING;
        END IF;

    WHEN 'TravelBookingResponse' THEN
        UPDATE hublink.travel_booking k
           SET outcome = b ->> 'outcome', decline_reason_code = b #>> '{declineReason,code}',
               decline_details = coalesce(b ->> 'declineDetails', b #>> '{declineReason,text}'),
               total_amount = hublink.money(b #> '{confirmation,totalCost}'),
               currency = b #>> '{confirmation,totalCost,currency}',
               confirmation = b -> 'confirmation', response_message_id = mid, responded_at = now()
         WHERE k.travel_booking_id = (SELECT max(k2.travel_booking_id) FROM hublink.travel_booking k2
                                       WHERE k2.removal_id = rid AND k2.outcome IS NULL
                                         AND k2.travel_quote_reference = b ->> 'travelQuoteReference')
        RETURNING k.travel_booking_id INTO q_id;
        IF NOT FOUND THEN
            PERFORM hublink.impossible('/body/travelQuoteReference',
                format('no booking of travel quote "%s" waits for an answer', b ->> 'travelQuoteReference'));
        END IF;
        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller, segment_ids, message_id)
        SELECT rid, q_id, t ->> 'ticketNumber', t -> 'traveller',
               ARRAY(SELECT jsonb_array_elements_text(coalesce(t -> 'segmentIds', '[]'))), mid
          FROM jsonb_array_elements(coalesce(b #> '{confirmation,tickets}', '[]')) t;

    WHEN 'EscortAmendment', 'TravelAmendment' THEN
        IF message ->> 'messageType' = 'EscortAmendment' THEN
            PERFORM hublink.require_booked(rid, 'escort', b ->> 'escortQuoteReference', '/body/escortQuoteReference');
        ELSE
            PERFORM hublink.require_booked(rid, 'travel', b ->> 'travelQuoteReference', '/body/travelQuoteReference');
            FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b -> 'passengerUpdates', '[]')) LOOP
                IF x ? 'escortId' AND x ? 'name' THEN
                    PERFORM hublink.record_escorts(rid, jsonb_build_array(
                        jsonb_strip_nulls(jsonb_build_object('escortId', x -> 'escortId',
                            'escortNumber', x #> '{traveller,escortNumber}', 'name', x -> 'name',
                            'advancePassengerInfo', x -> 'advancePassengerInfo'))));
                END IF;
            END LOOP;
        END IF;
        INSERT INTO hublink.amendment (removal_id, booking, message_id, quote_reference, details)
        VALUES (rid, CASE WHEN message ->> 'messageType' = 'EscortAmendment' THEN 'escort' ELSE 'travel' END,
                mid, coalesce(CASE WHEN message ->> 'messageType' = 'EscortAmendment'
                                   THEN b ->> 'escortQuoteReference' ELSE b ->> 'travelQuoteReference' END, ''),
                b);

    WHEN 'EscortUpdate', 'TravelUpdate' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortUpdate' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
            v_sect    text;
            v_kind    text;
        BEGIN
            PERFORM hublink.require_booked(rid, v_booking, v_ref,
                                           CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                          ELSE '/body/travelQuoteReference' END);
            FOR v_sect, v_kind IN VALUES ('completed', 'completed'), ('cancellation', 'cancellation'),
                                     ('unsuccessful', 'unsuccessful'), ('delayed', 'delayed'),
                                     ('escortChanges', 'escort-change'), ('escortDetails', 'details'),
                                     ('amendmentOutcome', 'amendment-outcome'),
                                     ('flightChanges', 'flight-change'), ('financial', 'financial'),
                                     ('other', 'other') LOOP
                CONTINUE WHEN NOT b ? v_sect;
                IF jsonb_typeof(b -> v_sect) = 'array' THEN
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    SELECT rid, v_booking, mid, v_kind, e #>> '{reason,code}', e #>> '{reason,text}', e
                      FROM jsonb_array_elements(b -> v_sect) e;
                ELSE
                    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind,
                                                        reason_code, reason_text, details)
                    VALUES (rid, v_booking, mid, v_kind, b #>> ARRAY[v_sect, 'reason', 'code'],
                            b #>> ARRAY[v_sect, 'reason', 'text'], b -> v_sect);
                END IF;
            END LOOP;
            IF b ? 'amendmentOutcome' THEN
                UPDATE hublink.amendment a
                   SET outcome_accepted = (b #>> '{amendmentOutcome,accepted}')::boolean,
                       outcome_reason_code = b #>> '{amendmentOutcome,reason,code}',
                       outcome_reason_text = b #>> '{amendmentOutcome,reason,text}',
                       outcome_message_id = mid, outcome_at = now()
                 WHERE a.removal_id = rid AND a.booking = v_booking
                   AND a.message_id = b #>> '{amendmentOutcome,amendmentMessageId}';
                IF NOT FOUND THEN
                    PERFORM hublink.impossible('/body/amendmentOutcome/amendmentMessageId',
                        format('no %s amendment "%s" was sent for this removal', v_booking,
                               b #>> '{amendmentOutcome,amendmentMessageId}'));
                END IF;
                IF v_booking = 'escort' THEN
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,segments}', '[]')) LOOP
                        UPDATE hublink.escort_segment s SET current = false
                         WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                        INSERT INTO hublink.escort_segment (removal_id, segment_id, start_point, finish_point,
                                                            transport_type, returnee_present, planned_start,
                                                            planned_finish, escort_numbers)
                        VALUES (rid, x ->> 'segmentId', x -> 'startPoint', x -> 'finishPoint',
                                x ->> 'transportType', (x ->> 'returneePresent')::boolean,
                                (x ->> 'plannedStart')::timestamptz, (x ->> 'plannedFinish')::timestamptz,
                                ARRAY(SELECT hublink.json_integer(n)::int FROM jsonb_array_elements(coalesce(x -> 'escortNumbers', '[]')) n));
                    END LOOP;
                ELSE
                    FOR x IN SELECT * FROM jsonb_array_elements(coalesce(b #> '{amendmentOutcome,tickets}', '[]')) LOOP
                        UPDATE hublink.ticket t SET current = false
                         WHERE t.removal_id = rid AND t.traveller = x -> 'traveller' AND t.current;
                        INSERT INTO hublink.ticket (removal_id, travel_booking_id, ticket_number, traveller,
                                                    segment_ids, message_id)
                        VALUES (rid, (SELECT max(k.travel_booking_id) FROM hublink.travel_booking k
                                       WHERE k.removal_id = rid AND k.outcome = 'ACCEPTED'),
                                x ->> 'ticketNumber', x -> 'traveller',
                                ARRAY(SELECT jsonb_array_elements_text(coalesce(x -> 'segmentIds', '[]'))), mid);
                    END LOOP;
                END IF;
            END IF;
            IF b ? 'delayed' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b #> '{delayed,segments}') LOOP
                    UPDATE hublink.escort_segment s
                       SET planned_start = (x ->> 'newStart')::timestamptz,
                           planned_finish = (x ->> 'newFinish')::timestamptz
                     WHERE s.removal_id = rid AND s.segment_id = x ->> 'segmentId' AND s.current;
                END LOOP;
            END IF;
            IF b ? 'escortChanges' THEN
                UPDATE hublink.escort_person p SET active = false
                 WHERE p.removal_id = rid
                   AND p.escort_id IN (SELECT e ->> 'removedEscortId' FROM jsonb_array_elements(b -> 'escortChanges') e)
                   AND p.escort_id NOT IN (SELECT coalesce(e ->> 'addedEscortId', '')
                                             FROM jsonb_array_elements(b -> 'escortChanges') e);
                DELETE FROM hublink.escort_assignment a
                 USING jsonb_array_elements(b -> 'escortChanges') e
                 WHERE a.removal_id = rid AND a.segment_id = e ->> 'segmentId'
                   AND a.escort_id = e ->> 'removedEscortId';
            END IF;
            IF b ? 'escortDetails' THEN
                PERFORM hublink.record_escorts(rid, b #> '{escortDetails,escorts}');
                INSERT INTO hublink.escort_assignment
                SELECT rid, a ->> 'segmentId', a ->> 'escortId', a ->> 'vehicleId'
                  FROM jsonb_array_elements(coalesce(b #> '{escortDetails,assignments}', '[]')) a
                ON CONFLICT ON CONSTRAINT escort_assignment_pkey DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id;
            END IF;
            IF b ? 'flightChanges' THEN
                FOR x IN SELECT * FROM jsonb_array_elements(b -> 'flightChanges') LOOP
                    SELECT s.travel_quote_id INTO q_id FROM hublink.itinerary_segment s
                      JOIN hublink.travel_quote q USING (travel_quote_id)
                     WHERE q.removal_id = rid AND q.travel_quote_reference = v_ref
                       AND s.segment_id = x #>> '{oldSegment,segmentId}' AND s.current;
                    IF FOUND THEN
                        UPDATE hublink.itinerary_segment s SET current = false
                         WHERE s.travel_quote_id = q_id AND s.segment_id = x #>> '{oldSegment,segmentId}';
                        y := x -> 'newSegment';
                        INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type,
                                                               provider_name, carrier_code, flight_number,
                                                               start_point, end_point, start_time, end_time,
                                                               travellers)
                        VALUES (q_id, y ->> 'segmentId', y ->> 'segmentType', y ->> 'providerName',
                                y ->> 'carrierCode', y ->> 'flightNumber', y -> 'startPoint', y -> 'endPoint',
                                (y ->> 'startTime')::timestamptz, (y ->> 'endTime')::timestamptz,
                                y -> 'travellers');
                    END IF;
                END LOOP;
            END IF;
            IF b ? 'financial' THEN
                PERFORM hublink.record_financial(rid, v_booking, mid, b -> 'financial');
            END IF;
            IF b ? 'cancellation' AND NOT EXISTS (SELECT FROM hublink.cancellation c WHERE c.message_id = mid) THEN
                INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                                  reason_code, reason_text, before_booking)
                VALUES (rid, v_booking, CASE v_booking WHEN 'escort' THEN 'esp' ELSE 'tsp' END, mid, v_ref,
                        b #>> '{cancellation,reason,code}', b #>> '{cancellation,reason,text}', false);
            END IF;
        END;

    WHEN 'EscortCancellation', 'TravelCancellation' THEN
        DECLARE
            v_booking text := CASE WHEN message ->> 'messageType' = 'EscortCancellation' THEN 'escort' ELSE 'travel' END;
            v_ref     text := CASE WHEN v_booking = 'escort' THEN b ->> 'escortQuoteReference'
                                 ELSE b ->> 'travelQuoteReference' END;
        BEGIN
            IF v_ref IS NOT NULL AND NOT hublink.quote_issued(rid, v_booking, v_ref) THEN
                PERFORM hublink.impossible(CASE v_booking WHEN 'escort' THEN '/body/escortQuoteReference'
                                                        ELSE '/body/travelQuoteReference' END,
                                           format('%s quote "%s" was never issued for this removal', v_booking, v_ref));
            END IF;
            INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference,
                                              reason_code, reason_text, retain_for_reuse, before_booking)
            VALUES (rid, v_booking, 'hub', mid, v_ref, b #>> '{reason,code}', b #>> '{reason,text}',
                    (b ->> 'retainForReuse')::boolean,
                    (CASE v_booking WHEN 'escort' THEN st.escort_state ELSE st.travel_state END)
                        NOT IN ('booked', 'amended'));
        END;
    ELSE
        PERFORM hublink.impossible('/messageType',
            format('message type "%s" has no place in a removal conversation', message ->> 'messageType'));
    END CASE;
END;
$$;
COMMENT ON FUNCTION hublink.record_message_rows(bigint, jsonb, text) IS
    'Records what a message says as rows of the domain tables, at the party that sends or '
    'receives it. Raises HL001 for references the conversation does not know (a booking of a '
    'quote never issued or superseded, an update of a booking never confirmed, the outcome of '
    'an amendment never sent, a quote reference issued twice).';

-- Apply one message in one direction: find (or, at a provider, create) its removal, move the
-- machines, record the rows, and confirm the removal when every booking is.
CREATE FUNCTION hublink.conversation_apply(message jsonb, direction text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb;
BEGIN
    IF message ->> 'removalId' IS NULL THEN
        PERFORM hublink.impossible('/removalId', 'the message names no removal');
    END IF;
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) > 0 THEN
        PERFORM hublink.impossible(problems -> 0 ->> 'instanceLocation', problems -> 0 ->> 'error');
    END IF;
    RETURN hublink.conversation_apply_codes_checked(message, direction);
END;
$$;
COMMENT ON FUNCTION hublink.conversation_apply(jsonb, text) IS
    'Applies one message (direction in or out) to its removal: checks its reason codes, moves '
    'the state machines (hublink.transition), records its rows (hublink.record_message_rows) '
    'and, at the Hub, confirms the removal when every booking is. A provider creates the '
    'removal when the first message of the Hub arrives. Raises HL001 or HL002 as '
    'hublink.transition. Returns the removal_id.';

-- The same once the caller has checked the reason codes (hublink.handle_message has, to
-- reject with all of them): hublink.reason_code_problems runs once per message.
CREATE FUNCTION hublink.conversation_apply_codes_checked(message jsonb, direction text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    party   text := hublink.current_party();
    ref     text := message ->> 'removalId';
    event   text := hublink.message_event(message);
    rid     bigint;
BEGIN
    IF ref IS NULL THEN
        PERFORM hublink.impossible('/removalId', 'the message names no removal');
    END IF;
    SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    IF NOT FOUND THEN
        IF party = 'hub' OR direction <> 'in' THEN
            PERFORM hublink.impossible('/removalId', format('removal "%s" is unknown', ref));
        END IF;
        -- a provider hears of a removal first through a message of the Hub
        INSERT INTO hublink.removal (removal_reference, state)
        VALUES (ref, NULL)
        ON CONFLICT (removal_reference) DO NOTHING;
        SELECT r.removal_id INTO rid FROM hublink.removal r WHERE r.removal_reference = ref FOR UPDATE;
    END IF;
    PERFORM hublink.transition(rid, event, direction, message ->> 'messageId');
    PERFORM hublink.record_message_rows(rid, message, direction);
    PERFORM hublink.confirm_if_booked(rid);
    RETURN rid;
END;
$$;
COMMENT ON FUNCTION hublink.conversation_apply_codes_checked(jsonb, text) IS
    'hublink.conversation_apply without the reason-code check, for a caller that made it '
    '(hublink.handle_message). Granted as hublink.conversation_apply is (an invoker''s function: '
    'the caller''s own rights on the domain tables apply).';

-- Reject an inbound message to its error queue from inside its handler.
CREATE FUNCTION hublink.reject_message(message jsonb, problems jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q text;
BEGIN
    -- The row's change is the inbox's (38_inbox_state.sql); the worker reads it from the row.
    q := hublink.inbox_handler_rejected(reject_message.message, reject_message.problems);
    IF q IS NULL THEN
        SELECT t.queue INTO q FROM hublink.message_type t
         WHERE t.message_type = reject_message.message ->> 'messageType';
    END IF;
    RETURN hublink.enqueue_error(q, reject_message.message, reject_message.problems);
END;
$$;
COMMENT ON FUNCTION hublink.reject_message(jsonb, jsonb) IS
    'Marks an inbound message rejected in hublink.inbox (when it is there) and writes its Error '
    'message for <queue>-error with the problems. Returns the Error''s messageId.';
REVOKE ALL ON FUNCTION hublink.reject_message(jsonb, jsonb) FROM PUBLIC;

-- The providers' seam (issue 4, section 4): the booking logic answers an applied message. The
-- responder is a column of hublink.message_handler (30_inbox.sql), the one dispatch table.
CREATE TYPE hublink.engine_responder AS (
    message_type text,
    responder    regprocedure,
    description  text
);
COMMENT ON TYPE hublink.engine_responder IS
    'One responder a provider engine registers (hublink.set_engine_responders): the inbound '
    'message type, the function that answers it, and what it does.';

-- One switch for a provider engine's responders (hublink.tsp_auto_answer, esp_auto_answer).
CREATE FUNCTION hublink.set_engine_responders(p_party text, p_requests text,
                                              p_wanted hublink.engine_responder[], p_enabled boolean)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    other text;
    n     integer;
BEGIN
    IF NOT coalesce(p_enabled, false) THEN
        -- Only the engine's responders: one someone else registered for these types stays.
        UPDATE hublink.message_handler m SET responder = NULL, responder_description = NULL
          FROM unnest(p_wanted) t
         WHERE m.message_type = t.message_type AND m.responder = t.responder;
        RETURN 0;
    END IF;
    IF hublink.current_party() <> p_party THEN
        RAISE EXCEPTION 'only the % answers % requests automatically',
                        (SELECT lower(x.name) FROM hublink.party x WHERE x.party = p_party), p_requests
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('hublink.party is "%s".', hublink.current_party()),
                  HINT = format('Set hublink.party to %s in postgresql.conf, or answer by hand with hublink.send_message.', p_party);
    END IF;
    SELECT string_agg(format('%s (%s)', m.message_type, m.responder), ', ' ORDER BY m.message_type) INTO other
      FROM hublink.message_handler m JOIN unnest(p_wanted) t USING (message_type)
     WHERE m.responder <> t.responder;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'another responder answers some % requests', p_requests
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Registered in hublink.message_handler.responder: %s.', other),
                  HINT = 'Set those responders of hublink.message_handler to NULL first if the engine should answer instead.';
    END IF;
    UPDATE hublink.message_handler m SET responder = t.responder, responder_description = t.description
      FROM unnest(p_wanted) t
     WHERE m.message_type = t.message_type;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.set_engine_responders(text, text, hublink.engine_responder[], boolean) IS
    'Registers (p_enabled) or removes a provider engine''s responders in '
    'hublink.message_handler.responder. Enabling needs hublink.party = p_party '
    '(object_not_in_prerequisite_state) and refuses to replace another responder of those types '
    '(unique_violation); disabling removes only the engine''s responders. Returns the responders '
    'registered, or 0 when disabled. p_requests names the requests in messages ("travel", "escort").';
REVOKE ALL ON FUNCTION hublink.set_engine_responders(text, text, hublink.engine_responder[], boolean) FROM PUBLIC;

CREATE FUNCTION hublink.handle_message(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems  jsonb;
    errtext   text;
    pointer   text;
    responder regprocedure;
BEGIN
    -- Once per message: the codes checked here are not checked again.
    problems := hublink.reason_code_problems(message);
    IF jsonb_array_length(problems) = 0 THEN
        BEGIN
            PERFORM hublink.conversation_apply_codes_checked(message, 'in');
            -- the one dispatch table: the worker found the handler there, this its responder
            SELECT h.responder INTO responder FROM hublink.message_handler h
             WHERE h.message_type = message ->> 'messageType';
            IF responder IS NOT NULL THEN
                EXECUTE format('SELECT %s($1)', responder::regproc) USING message;
            END IF;
            RETURN;
        EXCEPTION WHEN SQLSTATE 'HL001' THEN
            GET STACKED DIAGNOSTICS errtext = MESSAGE_TEXT, pointer = COLUMN_NAME;
            problems := jsonb_build_array(jsonb_build_object(
                'instanceLocation', coalesce(nullif(pointer, ''), '/messageType'),
                'keywordLocation', '', 'error', errtext));
        END;
    END IF;
    PERFORM hublink.reject_message(message, problems);
END;
$$;
COMMENT ON FUNCTION hublink.handle_message(jsonb) IS
    'The handler of every inbound message type (hublink.message_handler): applies the message '
    'to its conversation (hublink.conversation_apply). A message impossible in the '
    'conversation (HL001: wrong state, unknown reference, reason code not in its list) is '
    'rejected at once to <queue>-error with the reason; a premature one (HL002) and any other '
    'error propagate, so the worker retries it. Then the responder of hublink.message_handler '
    'for its type, if any, answers it in the same transaction (an HL001 it raises rejects the '
    'message too). SECURITY DEFINER: the worker''s role (hublink_worker) reads no removal data '
    'itself, it applies messages only through this function.';
REVOKE ALL ON FUNCTION hublink.handle_message(jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.send_message(message jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problems jsonb := hublink.validate_message(message);
BEGIN
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'message is not valid against its schema'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The first problem is at "%s": %s.',
                                  problems -> 0 ->> 'instanceLocation', problems -> 0 ->> 'error'),
                  HINT = 'hublink.validate_message() lists every problem.';
    END IF;
    PERFORM hublink.conversation_apply(message, 'out');
    RETURN hublink.send(message);
END;
$$;
COMMENT ON FUNCTION hublink.send_message(jsonb) IS
    'Sends a message of the conversation: validates it, moves the state machines (direction '
    'out), records its rows and writes it to the outbox (hublink.send), all in the caller''s '
    'transaction. Raises HL001 when the message is impossible in the conversation''s state. '
    'This is how a provider answers by hand until its booking logic exists (docs/hub.md).';

-- Plug into the worker's seam: the current party's inbound types. Types a party does not
-- receive keep the default handler (the worker rejects them: they are not on its queues).
UPDATE hublink.message_handler h
   SET handler = 'hublink.handle_message(jsonb)'::regprocedure,
       description = 'Apply to the removal conversation: state machine, domain rows, transitions.'
 WHERE h.message_type IN (SELECT t.message_type FROM hublink.message_type t WHERE t.queue IS NOT NULL);
