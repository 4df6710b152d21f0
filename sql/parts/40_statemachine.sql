-- The removal state machine (issue 4, section 2): the transition table is C
-- (extension/statemachine/), read here. docs/state-machine.md is generated from it.

CREATE FUNCTION hublink.next_state(machine text, state text, event text, direction text, party text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_next_state';
COMMENT ON FUNCTION hublink.next_state(text, text, text, text, text) IS
    'The state that machine (removal, escort, travel) moves to from state when party (hub, tsp, '
    'esp) sees event (a message type, or message type and variant such as '
    'EscortUpdate.completed, or BookingsConfirmed) in direction (in, out, local). Raises '
    'SQLSTATE HL001 when the event is impossible there (the message is rejected to the error '
    'queue) and HL002 when it is premature (an earlier message of the same sender, not yet '
    'applied, may make it possible: the message is retried).';

CREATE FUNCTION hublink.check_transition(machine text, state text, event text, direction text,
                                         party text,
                                         OUT verdict text, OUT next_state text, OUT reason text)
    RETURNS record
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_check_transition';
COMMENT ON FUNCTION hublink.check_transition(text, text, text, text, text) IS
    'hublink.next_state() without raising: verdict allowed, premature or forbidden, the next '
    'state when allowed, and the reason in words.';

CREATE FUNCTION hublink.state_machine(
    OUT machine text, OUT from_state text, OUT event text, OUT message_type text,
    OUT variant text, OUT sender text, OUT receiver text, OUT to_state text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine';
COMMENT ON FUNCTION hublink.state_machine() IS
    'The transition table: every allowed (machine, from state, event) and the state it leads to. '
    'Everything not listed is refused.';

CREATE FUNCTION hublink.state_machine_states(
    OUT machine text, OUT state text, OUT initial boolean, OUT terminal boolean,
    OUT description text, OUT tracked_by text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine_states';
COMMENT ON FUNCTION hublink.state_machine_states() IS
    'The states of each machine: initial, terminal (no way out but events that keep it), their '
    'meaning, and the parties that track the machine.';

CREATE FUNCTION hublink.state_machine_events(
    OUT event text, OUT message_type text, OUT variant text, OUT sender text, OUT receiver text,
    OUT description text)
    RETURNS SETOF record
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_state_machine_events';
COMMENT ON FUNCTION hublink.state_machine_events() IS
    'The events of the state machine: each message type, split by variant where the content '
    'of the message changes the flow, and the Hub''s local BookingsConfirmed.';

-- Which event a message is. The variant is read from the body: outcomes exclude each other
-- by schema; an update with several sections is classified by the one that matters most for
-- the flow (outcome, then amendment outcome, delay or change, details, money, other).
CREATE FUNCTION hublink.message_event(message jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE message ->> 'messageType'
        WHEN 'TravelQuoteResponse' THEN
            CASE WHEN jsonb_array_length(coalesce(message #> '{body,quotes}', '[]')) > 0
                 THEN 'TravelQuoteResponse.quoted' ELSE 'TravelQuoteResponse.no-quote' END
        WHEN 'EscortBookingResponse' THEN
            'EscortBookingResponse.' || lower(message #>> '{body,outcome}')
        WHEN 'TravelBookingResponse' THEN
            'TravelBookingResponse.' || lower(message #>> '{body,outcome}')
        WHEN 'EscortUpdate' THEN 'EscortUpdate.' ||
            CASE WHEN message #> '{body,completed}' IS NOT NULL THEN 'completed'
                 WHEN message #> '{body,cancellation}' IS NOT NULL THEN 'cancelled'
                 WHEN message #> '{body,unsuccessful}' IS NOT NULL THEN 'unsuccessful'
                 WHEN message #> '{body,amendmentOutcome}' IS NOT NULL THEN 'amendment-outcome'
                 WHEN message #> '{body,delayed}' IS NOT NULL THEN 'delayed'
                 WHEN message #> '{body,escortChanges}' IS NOT NULL THEN 'escort-change'
                 WHEN message #> '{body,escortDetails}' IS NOT NULL THEN 'details'
                 ELSE 'financial' END
        WHEN 'TravelUpdate' THEN 'TravelUpdate.' ||
            CASE WHEN message #> '{body,completed}' IS NOT NULL THEN 'completed'
                 WHEN message #> '{body,cancellation}' IS NOT NULL THEN 'cancelled'
                 WHEN message #> '{body,amendmentOutcome}' IS NOT NULL THEN 'amendment-outcome'
                 WHEN message #> '{body,flightChanges}' IS NOT NULL THEN 'flight-change'
                 WHEN message #> '{body,financial}' IS NOT NULL THEN 'financial'
                 ELSE 'other' END
        ELSE message ->> 'messageType'
    END;
COMMENT ON FUNCTION hublink.message_event(jsonb) IS
    'The state machine event of a message: its messageType, with the variant its body implies '
    'where that changes the flow (TravelQuoteResponse.no-quote, EscortBookingResponse.declined, '
    'EscortUpdate.completed, TravelUpdate.flight-change, ...).';

CREATE VIEW hublink.state_transition_table AS
SELECT t.machine, t.from_state, t.event, t.message_type, t.variant, t.sender, t.receiver, t.to_state
  FROM hublink.state_machine() t;
COMMENT ON VIEW hublink.state_transition_table IS
    'The transition table of hublink.state_machine(), for reports and ad hoc queries.';
COMMENT ON COLUMN hublink.state_transition_table.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.state_transition_table.from_state IS 'The state the event arrives in.';
COMMENT ON COLUMN hublink.state_transition_table.event IS 'The event (message type, variant).';
COMMENT ON COLUMN hublink.state_transition_table.message_type IS 'The message type; NULL for a local decision.';
COMMENT ON COLUMN hublink.state_transition_table.variant IS 'The variant of the message type, if any.';
COMMENT ON COLUMN hublink.state_transition_table.sender IS 'The party that sends it (or decides it).';
COMMENT ON COLUMN hublink.state_transition_table.receiver IS 'The party that receives it.';
COMMENT ON COLUMN hublink.state_transition_table.to_state IS 'The state it leads to.';
