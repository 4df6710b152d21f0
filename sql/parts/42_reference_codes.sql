-- Reference data the conversation checks against (issue 4, section 1; Appendix B 4.17):
-- reason-code lists and risk flags, rows that hublink_admin edits, never constants in C.
-- A change to a list is announced: NOTIFY hublink_reference and a row in
-- hublink.reference_change here, and at the Hub a Travel/EscortReferenceListUpdate message to
-- each provider (Appendix B 4.17; 45_reference_lists.sql, docs/hub.md).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_admin') THEN
        CREATE ROLE hublink_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_caseworker') THEN
        CREATE ROLE hublink_caseworker NOLOGIN;
    END IF;
END;
$$;

CREATE TABLE hublink.reason_list (
    list        text PRIMARY KEY CHECK (list ~ '^[a-z]+$'),
    description text NOT NULL
);
COMMENT ON TABLE hublink.reason_list IS 'The reason-code lists (Appendix A 4.8 "one of a list of predefined options").';
COMMENT ON COLUMN hublink.reason_list.list IS 'Name of the list.';
COMMENT ON COLUMN hublink.reason_list.description IS 'Where its codes are used.';

INSERT INTO hublink.reason_list VALUES
    ('decline',      'Why a provider declines a booking (4.6, 4.8) or cannot quote (4.4 noQuoteReason).'),
    ('cancellation', 'Why a booking is cancelled, by the Hub (4.13, 4.14) or by a provider (4.10, 4.12).'),
    ('delay',        'Why an escort is delayed (4.10 delayed).'),
    ('change',       'Why something changes: amendments (4.9, 4.11), their outcome, escort changes, '
                     'flight changes (4.10, 4.12) and the financial consequences.'),
    ('unsuccessful', 'Why an escorting that started was abandoned (4.10 unsuccessful).');

CREATE TABLE hublink.reason_code (
    list        text NOT NULL REFERENCES hublink.reason_list ON UPDATE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (list, code)
);
COMMENT ON TABLE hublink.reason_code IS
    'The codes of each reason list. A message whose reason code is not an active row of its '
    'list is rejected to the error queue. hublink_admin edits it; every change is announced '
    '(hublink.reference_change, NOTIFY hublink_reference and, at the Hub, a reference-list '
    'update message to each provider at commit).';
COMMENT ON COLUMN hublink.reason_code.list IS 'The list.';
COMMENT ON COLUMN hublink.reason_code.code IS 'The code as sent in messages.';
COMMENT ON COLUMN hublink.reason_code.description IS 'What it means.';
COMMENT ON COLUMN hublink.reason_code.active IS 'Inactive codes are kept for history but refused in new messages.';
COMMENT ON COLUMN hublink.reason_code.changed_at IS 'Last change.';
COMMENT ON COLUMN hublink.reason_code.changed_by IS 'Who made it.';

INSERT INTO hublink.reason_code (list, code, description) VALUES
    ('decline', 'ESCORTS_UNAVAILABLE', 'No escort team is available for the date.'),
    ('decline', 'QUOTE_EXPIRED', 'The quote expired before it was booked.'),
    ('decline', 'FLIGHT_CANCELLED', 'The flight quoted was cancelled.'),
    ('decline', 'FARE_UNAVAILABLE', 'The fare quoted is no longer available.'),
    ('decline', 'NO_SEATS', 'Not enough seats on the services that fit.'),
    ('decline', 'NO_FLIGHTS', 'No flights fit the dates and constraints.'),
    ('decline', 'CARRIER_REFUSED', 'The carrier refused to carry the returnee.'),
    ('decline', 'COST_LIMIT_EXCEEDED', 'No option within the cost limit.'),
    ('decline', 'OTHER', 'Another reason, given in the text.'),
    ('cancellation', 'LEGAL_CHALLENGE', 'A legal challenge (e.g. judicial review) stops the removal.'),
    ('cancellation', 'RETURNEE_ILL', 'The returnee is not fit to travel.'),
    ('cancellation', 'RETURNEE_RELEASED', 'The returnee was released from detention.'),
    ('cancellation', 'RISK_CHANGED', 'The returnee''s risk changed; the removal is re-planned.'),
    ('cancellation', 'ESCORTS_UNAVAILABLE', 'The escort team is no longer available.'),
    ('cancellation', 'FLIGHT_CANCELLED', 'The carrier cancelled the flight.'),
    ('cancellation', 'CARRIER_REFUSED', 'The carrier refused to carry the returnee.'),
    ('cancellation', 'DOCUMENTS_INVALID', 'The travel documents are not valid for the journey.'),
    ('cancellation', 'ESCORT_UNSUCCESSFUL', 'The escorting was abandoned, so the travel is not used.'),
    ('cancellation', 'OTHER', 'Another reason, given in the text.'),
    ('delay', 'TRAFFIC', 'Road traffic.'),
    ('delay', 'VEHICLE_BREAKDOWN', 'The escort vehicle broke down.'),
    ('delay', 'RETURNEE_NOT_READY', 'The returnee was not ready at collection.'),
    ('delay', 'FLIGHT_DELAYED', 'A flight the escort is on is delayed.'),
    ('delay', 'OTHER', 'Another reason, given in the text.'),
    ('change', 'SCHEDULE_CHANGE', 'The carrier changed the schedule.'),
    ('change', 'DELAY', 'The flight is delayed.'),
    ('change', 'TERMINAL_CHANGE', 'The departure or arrival terminal changed.'),
    ('change', 'EARLIER_COLLECTION', 'The returnee must be collected earlier.'),
    ('change', 'LOCATION_CHANGE', 'The returnee was moved.'),
    ('change', 'RISK_CHANGED', 'The returnee''s risk profile changed.'),
    ('change', 'MEDIC_BRIEFED', 'The medic was briefed on the change.'),
    ('change', 'STAFF_UNAVAILABLE', 'An escort is no longer available.'),
    ('change', 'NAME_CHANGE', 'A name on a ticket changes (reissue).'),
    ('change', 'PASSENGER_DETAILS', 'Advance passenger information added or corrected.'),
    ('change', 'CANCELLED_BY_HO', 'The Home Office cancelled.'),
    ('change', 'OTHER', 'Another reason, given in the text.'),
    ('unsuccessful', 'RETURNEE_DISRUPTIVE', 'The returnee''s behaviour stopped the escort.'),
    ('unsuccessful', 'RETURNEE_ILL', 'The returnee became ill.'),
    ('unsuccessful', 'SERIOUS_DELAY', 'The journey was delayed too much to continue.'),
    ('unsuccessful', 'CARRIER_REFUSED', 'The carrier refused boarding.'),
    ('unsuccessful', 'LEGAL_CHALLENGE', 'A last-minute legal challenge.'),
    ('unsuccessful', 'OTHER', 'Another reason, given in the text.');

-- Risk flags and what they mean for the removal (issue 4, section 3): rules as rows.
CREATE TABLE hublink.risk_flag (
    flag          text PRIMARY KEY CHECK (flag ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    description   text NOT NULL,
    escorted      boolean NOT NULL DEFAULT false,
    min_escorts   integer NOT NULL DEFAULT 0 CHECK (min_escorts BETWEEN 0 AND 20),
    share_with_esp boolean NOT NULL DEFAULT true,
    share_with_tsp boolean NOT NULL DEFAULT false,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    changed_by    text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.risk_flag IS
    'Risk profiling rules: per risk flag, whether it makes the removal escorted, the escorts a '
    'returnee with it needs at least, and which provider may see it (the escort risk '
    'assessment of 4.1 carries the flags shared with the ESP, the travel risk assessment of '
    '4.3 those shared with the TSP). hublink.profile_risk applies them.';
COMMENT ON COLUMN hublink.risk_flag.flag IS 'The flag code, as in the risk assessments.';
COMMENT ON COLUMN hublink.risk_flag.description IS 'What it means.';
COMMENT ON COLUMN hublink.risk_flag.escorted IS 'A returnee with this flag is removed with escorts.';
COMMENT ON COLUMN hublink.risk_flag.min_escorts IS 'Escorts a returnee with this flag needs at least.';
COMMENT ON COLUMN hublink.risk_flag.share_with_esp IS 'Passed to the ESP in the escort risk assessment.';
COMMENT ON COLUMN hublink.risk_flag.share_with_tsp IS 'Passed to the TSP in the travel risk assessment (carriers may refuse on it).';
COMMENT ON COLUMN hublink.risk_flag.changed_at IS 'Last change.';
COMMENT ON COLUMN hublink.risk_flag.changed_by IS 'Who made it.';

INSERT INTO hublink.risk_flag (flag, description, escorted, min_escorts, share_with_esp, share_with_tsp) VALUES
    ('VIOLENT', 'History of violence.', true, 2, true, true),
    ('DISRUPTIVE', 'Disruptive during detention or an earlier removal attempt.', true, 2, true, true),
    ('SEXUAL_OFFENDER', 'Convicted sexual offender.', true, 2, true, false),
    ('SELF_HARM', 'Self-harm history or an open ACDT plan.', true, 1, true, false),
    ('ABSCONDER', 'Has absconded before.', true, 1, true, false),
    ('MEDICAL_ESCORT', 'Needs a medic on the journey.', true, 1, true, false),
    ('HIGH_PROFILE', 'Press or public interest; Home Office only.', false, 0, false, false);

-- The announcement of a change (Appendix B 4.17).
CREATE TABLE hublink.reference_change (
    reference_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name          text NOT NULL,
    operation           text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    list                text,
    code                text NOT NULL,
    old_row             jsonb,
    new_row             jsonb,
    changed_at          timestamptz NOT NULL DEFAULT now(),
    changed_by          text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.reference_change IS
    'Every change to a reason list or the risk flags, for the other parties (Appendix B 4.17: '
    'an edit of a list prompts communication of the new data): a change log plus NOTIFY '
    'hublink_reference. At the Hub the reason lists are also sent to the providers '
    '(hublink.announce_reason_list, Travel/EscortReferenceListUpdate); risk flags are not sent.';
COMMENT ON COLUMN hublink.reference_change.reference_change_id IS 'Order of the changes.';
COMMENT ON COLUMN hublink.reference_change.table_name IS 'reason_code or risk_flag.';
COMMENT ON COLUMN hublink.reference_change.operation IS 'INSERT, UPDATE or DELETE.';
COMMENT ON COLUMN hublink.reference_change.list IS 'The reason list (NULL for a risk flag).';
COMMENT ON COLUMN hublink.reference_change.code IS 'The code or flag.';
COMMENT ON COLUMN hublink.reference_change.old_row IS 'The row before.';
COMMENT ON COLUMN hublink.reference_change.new_row IS 'The row after.';
COMMENT ON COLUMN hublink.reference_change.changed_at IS 'When.';
COMMENT ON COLUMN hublink.reference_change.changed_by IS 'Who.';
SELECT pg_catalog.pg_extension_config_dump('hublink.reference_change', '');

CREATE FUNCTION hublink.announce_reference_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    row     jsonb := coalesce(new_row, old_row);
BEGIN
    INSERT INTO hublink.reference_change (table_name, operation, list, code, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP, row ->> 'list', coalesce(row ->> 'code', row ->> 'flag'),
            old_row, new_row);
    PERFORM pg_notify('hublink_reference', json_build_object(
        'table', TG_TABLE_NAME, 'operation', TG_OP, 'list', row ->> 'list',
        'code', coalesce(row ->> 'code', row ->> 'flag'))::text);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.announce_reference_change() IS
    'Row trigger on the reference lists: records the change in hublink.reference_change and '
    'raises NOTIFY hublink_reference with {table, operation, list, code}.';

CREATE TRIGGER reason_code_announce AFTER INSERT OR UPDATE OR DELETE ON hublink.reason_code
    FOR EACH ROW EXECUTE FUNCTION hublink.announce_reference_change();
COMMENT ON TRIGGER reason_code_announce ON hublink.reason_code IS 'Announces every change of a reason list.';
CREATE TRIGGER risk_flag_announce AFTER INSERT OR UPDATE OR DELETE ON hublink.risk_flag
    FOR EACH ROW EXECUTE FUNCTION hublink.announce_reference_change();
COMMENT ON TRIGGER risk_flag_announce ON hublink.risk_flag IS 'Announces every change of the risk flags.';

GRANT USAGE ON SCHEMA hublink TO hublink_admin, hublink_caseworker;
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.reason_code, hublink.risk_flag TO hublink_admin;
GRANT SELECT ON hublink.reason_list, hublink.reason_code, hublink.risk_flag,
                hublink.reference_change TO hublink_admin, hublink_caseworker;

-- Is code an active member of list? (the handlers reject a message whose codes are not).
-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.reason_code_valid(list text, code text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN EXISTS (SELECT FROM hublink.reason_code r
                    WHERE r.list = reason_code_valid.list AND r.code = reason_code_valid.code
                      AND r.active);
END;
$$;
COMMENT ON FUNCTION hublink.reason_code_valid(text, text) IS
    'True when code is an active code of the reason list.';

-- The body of a declined booking response, the same for both providers but for the name of
-- the quote reference (TravelBookingResponse: travelQuoteReference, EscortBookingResponse:
-- escortQuoteReference). A code that is not an active decline code is left out, so the body
-- fails validation rather than sending an unknown code.
CREATE FUNCTION hublink.declined_booking_body(quote_key text, quote_ref text, code text, details text)
    RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object(quote_key, quote_ref, 'outcome', 'DECLINED',
        'declineReason', jsonb_build_object('code', CASE WHEN hublink.reason_code_valid('decline', code) THEN code END),
        'declineDetails', details);
COMMENT ON FUNCTION hublink.declined_booking_body(text, text, text, text) IS
    'A declined booking response body {<quote_key>, outcome DECLINED, declineReason {code}, '
    'declineDetails}; the code only when it is an active row of the decline list in '
    'hublink.reason_code (issue 4''s table), else the body lacks it and fails validation.';
