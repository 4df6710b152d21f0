-- The removal conversation (issue 4, section 1): what the fourteen messages of Appendix A
-- say, as rows. Every party's database keeps the same tables for the removals it takes part
-- in: the Hub all of them, a provider what it was sent and what it answered.
--
-- Personal data (names, dates of birth, nationality, gender, conditions, document numbers,
-- risk flags and notes, escorts' passports) is kept only in the tables and columns whose
-- COMMENT starts "PERSONAL DATA:" (hublink.returnee_personal, hublink.travel_document,
-- hublink.risk_assessment.flags/notes, hublink.escort_personal). 74_crypto_seal.sql seals
-- exactly those (NFR 0011): a trigger encrypts them under the removal's data key into the
-- row's "sealed" column before the row is stored, and they read NULL in the table (NOT NULL
-- below is dropped there). Read them with the *_of functions at the end of this file, which
-- decrypt and audit. Money is numeric(14,2) with a char(3) ISO 4217 currency.

CREATE SEQUENCE hublink.removal_serial;
COMMENT ON SEQUENCE hublink.removal_serial IS
    'Serial of the removal references the Hub issues (RMV-<year>-<serial>).';

CREATE TABLE hublink.removal (
    removal_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference   text NOT NULL UNIQUE CHECK (removal_reference ~ '^RMV-[0-9]{4}-[0-9]{6}$'),
    case_reference      text CHECK (case_reference ~ '^[A-Z0-9][A-Z0-9/-]{2,39}$'),
    escorted            boolean,
    escort_on_transport boolean,
    international       boolean NOT NULL DEFAULT true,
    earliest_leave_date date,
    latest_leave_date   date,
    exclusion_dates     date[] NOT NULL DEFAULT '{}',
    destination         jsonb CHECK (destination IS NULL OR jsonb_typeof(destination) = 'object'),
    constraints         jsonb CHECK (constraints IS NULL OR jsonb_typeof(constraints) = 'object'),
    notes               text,
    state               text,
    escort_state        text NOT NULL DEFAULT 'none',
    travel_state        text NOT NULL DEFAULT 'none',
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL DEFAULT current_user,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (latest_leave_date IS NULL OR earliest_leave_date IS NULL
           OR latest_leave_date >= earliest_leave_date)
);
COMMENT ON TABLE hublink.removal IS
    'One removal request (travel request), the conversation the messages of Appendix A belong '
    'to; removal_reference is the envelope''s removalId. Its three state machines are the '
    'state columns (docs/state-machine.md).';
COMMENT ON COLUMN hublink.removal.removal_id IS 'Internal key.';
COMMENT ON COLUMN hublink.removal.removal_reference IS
    'The travel request identifier, unique (Appendix B 4.22), issued by the Hub: the envelope''s removalId.';
COMMENT ON COLUMN hublink.removal.case_reference IS
    'The Home Office case this removal request belongs to (a case may have several requests over time).';
COMMENT ON COLUMN hublink.removal.escorted IS
    'True when escorts are needed (decided by hublink.profile_risk from hublink.risk_flag); NULL until profiled.';
COMMENT ON COLUMN hublink.removal.escort_on_transport IS
    'Escorts travel on the transport (4.1), false when they leave the returnee at the gate.';
COMMENT ON COLUMN hublink.removal.international IS 'International (true) or in-country move (4.1).';
COMMENT ON COLUMN hublink.removal.earliest_leave_date IS 'First date the returnees may travel (4.1 Dates).';
COMMENT ON COLUMN hublink.removal.latest_leave_date IS 'Last date the returnees may travel.';
COMMENT ON COLUMN hublink.removal.exclusion_dates IS 'Dates in the range that cannot be used.';
COMMENT ON COLUMN hublink.removal.destination IS 'Where the returnees go (4.3 Destination), as in the messages.';
COMMENT ON COLUMN hublink.removal.constraints IS 'TIG constraints for the travel quote request (4.3).';
COMMENT ON COLUMN hublink.removal.notes IS
    'PERSONAL DATA: free text passed to the providers (it can name people or places). Sealed (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.removal.state IS
    'State of the removal machine; tracked by the Hub only (NULL at a provider).';
COMMENT ON COLUMN hublink.removal.escort_state IS
    'State of the escort booking machine (Hub and ESP; stays none at a TSP).';
COMMENT ON COLUMN hublink.removal.travel_state IS
    'State of the travel booking machine (Hub and TSP; stays none at an ESP).';
COMMENT ON COLUMN hublink.removal.created_at IS 'When the removal was created (or first heard of at a provider).';
COMMENT ON COLUMN hublink.removal.created_by IS 'Who created it.';
COMMENT ON COLUMN hublink.removal.updated_at IS 'Last change of a state.';
CREATE INDEX removal_case_reference ON hublink.removal (case_reference);

CREATE TABLE hublink.returnee (
    returnee_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    ho_returnee_reference text NOT NULL CHECK (ho_returnee_reference ~ '^[A-Z0-9][A-Z0-9/-]{2,29}$'),
    location              jsonb CHECK (location IS NULL OR jsonb_typeof(location) = 'object'),
    UNIQUE (removal_id, ho_returnee_reference)
);
COMMENT ON TABLE hublink.returnee IS
    'The returnees of a removal (one or more, e.g. a family). Personal details are in '
    'hublink.returnee_personal.';
COMMENT ON COLUMN hublink.returnee.returnee_id IS 'Internal key.';
COMMENT ON COLUMN hublink.returnee.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.returnee.ho_returnee_reference IS 'Home Office returnee reference (HO returnee ID).';
COMMENT ON COLUMN hublink.returnee.location IS
    'PERSONAL DATA: where the returnee is likely to be at departure (detention centre, prison, '
    'address), as in the messages. Sealed (74_crypto_seal.sql).';
CREATE INDEX returnee_reference ON hublink.returnee (ho_returnee_reference);

CREATE TABLE hublink.returnee_personal (
    returnee_id   bigint PRIMARY KEY REFERENCES hublink.returnee ON DELETE CASCADE,
    title         text,
    given_names   text NOT NULL,
    family_name   text NOT NULL,
    date_of_birth date,
    nationality   char(3),
    gender        text,
    conditions    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array')
);
COMMENT ON TABLE hublink.returnee_personal IS
    'PERSONAL DATA: the personal, static details of a returnee (4.1, 4.3 Personal Details).';
COMMENT ON COLUMN hublink.returnee_personal.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.returnee_personal.title IS 'PERSONAL DATA: title.';
COMMENT ON COLUMN hublink.returnee_personal.given_names IS 'PERSONAL DATA: given names.';
COMMENT ON COLUMN hublink.returnee_personal.family_name IS 'PERSONAL DATA: family name.';
COMMENT ON COLUMN hublink.returnee_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.returnee_personal.nationality IS 'PERSONAL DATA: nationality, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.returnee_personal.gender IS 'PERSONAL DATA: sex as on the travel document.';
COMMENT ON COLUMN hublink.returnee_personal.conditions IS
    'PERSONAL DATA: medical or noted conditions ({code, text}, e.g. WHEELCHAIR).';

CREATE TABLE hublink.travel_document (
    travel_document_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    document_type      text NOT NULL CHECK (document_type IN ('PASSPORT', 'NATIONAL_IDENTITY_CARD',
                                                              'EMERGENCY_TRAVEL_DOCUMENT')),
    document_number    text NOT NULL,
    issuing_country    char(3),
    expiry_date        date
);
COMMENT ON TABLE hublink.travel_document IS
    'PERSONAL DATA: the documents a returnee travels on (4.3 Travel Document).';
COMMENT ON COLUMN hublink.travel_document.travel_document_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_document.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.travel_document.document_type IS 'Passport, national identity card or emergency travel document.';
COMMENT ON COLUMN hublink.travel_document.document_number IS 'PERSONAL DATA: document number.';
COMMENT ON COLUMN hublink.travel_document.issuing_country IS 'PERSONAL DATA: issuing state, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.travel_document.expiry_date IS 'PERSONAL DATA: date of expiry.';

CREATE TABLE hublink.risk_assessment (
    risk_assessment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id        bigint NOT NULL REFERENCES hublink.returnee ON DELETE CASCADE,
    audience           text NOT NULL CHECK (audience IN ('hub', 'esp', 'tsp')),
    flags              text[] NOT NULL DEFAULT '{}',
    escorts_required   integer CHECK (escorts_required BETWEEN 0 AND 20),
    notes              text,
    assessed_at        timestamptz NOT NULL DEFAULT now(),
    current            boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.risk_assessment IS
    'Risk assessments of a returnee: the Hub''s full one (audience hub) and the subsets passed '
    'on (esp: escort risk assessment 4.1, tsp: travel risk assessment 4.3). A new assessment '
    'makes the earlier one of the same audience not current.';
COMMENT ON COLUMN hublink.risk_assessment.risk_assessment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.risk_assessment.returnee_id IS 'The returnee.';
COMMENT ON COLUMN hublink.risk_assessment.audience IS 'hub (full), esp or tsp (the subset that party sees).';
COMMENT ON COLUMN hublink.risk_assessment.flags IS 'PERSONAL DATA: risk flags (hublink.risk_flag), e.g. VIOLENT, DISRUPTIVE.';
COMMENT ON COLUMN hublink.risk_assessment.escorts_required IS 'Escorts travelling with this returnee (travel risk assessment).';
COMMENT ON COLUMN hublink.risk_assessment.notes IS 'PERSONAL DATA: free-text risk detail.';
COMMENT ON COLUMN hublink.risk_assessment.assessed_at IS 'When it was made.';
COMMENT ON COLUMN hublink.risk_assessment.current IS 'False once superseded by a later assessment.';
CREATE UNIQUE INDEX risk_assessment_current ON hublink.risk_assessment (returnee_id, audience) WHERE current;
COMMENT ON INDEX hublink.risk_assessment_current IS 'One current assessment per returnee and audience.';

-- --- escort quotes (4.1, 4.2) -------------------------------------------------------------

CREATE TABLE hublink.escort_quote_response (
    escort_quote_response_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    message_id               text NOT NULL UNIQUE,
    notes                    text,
    received_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.escort_quote_response IS
    'An escort quote response (4.2): the escort positions, segments and effort common to its quotes.';
COMMENT ON COLUMN hublink.escort_quote_response.escort_quote_response_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_quote_response.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_quote_response.message_id IS 'messageId of the EscortQuoteResponse.';
COMMENT ON COLUMN hublink.escort_quote_response.notes IS 'Free text of the response.';
COMMENT ON COLUMN hublink.escort_quote_response.received_at IS 'When it was recorded.';

CREATE TABLE hublink.escort_quote (
    escort_quote_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_quote_reference   text NOT NULL,
    escort_date              date NOT NULL,
    total_amount             numeric(14,2),
    currency                 char(3),
    notes                    text,
    superseded               boolean NOT NULL DEFAULT false,
    UNIQUE (removal_id, escort_quote_reference),
    CHECK ((total_amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.escort_quote IS
    'One escort quote: an option on one date (4.2 Escort quote ID, Escort Date).';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_response_id IS 'The response it came in.';
COMMENT ON COLUMN hublink.escort_quote.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_quote.escort_quote_reference IS 'The ESP''s escort quote reference.';
COMMENT ON COLUMN hublink.escort_quote.escort_date IS 'The date the quote is valid for.';
COMMENT ON COLUMN hublink.escort_quote.total_amount IS 'Total cost of the escorting.';
COMMENT ON COLUMN hublink.escort_quote.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.escort_quote.notes IS 'Free text of the quote.';
COMMENT ON COLUMN hublink.escort_quote.superseded IS 'True after a re-quote (4.5): it can no longer be booked.';

CREATE TABLE hublink.escort_position (
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    escort_number            integer NOT NULL CHECK (escort_number BETWEEN 1 AND 99),
    role                     text,
    gender                   text,
    physique                 text,
    languages                text[] NOT NULL DEFAULT '{}',
    medic                    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (escort_quote_response_id, escort_number)
);
COMMENT ON TABLE hublink.escort_position IS 'Escort info (4.2): the number and type of escorts.';
COMMENT ON COLUMN hublink.escort_position.escort_quote_response_id IS 'The response.';
COMMENT ON COLUMN hublink.escort_position.escort_number IS 'Escort 1, 2, ...: the key that links types, effort, seats and names.';
COMMENT ON COLUMN hublink.escort_position.role IS 'Role, e.g. TEAM_LEADER, ESCORT, MEDIC.';
COMMENT ON COLUMN hublink.escort_position.gender IS 'Gender the position requires, if any.';
COMMENT ON COLUMN hublink.escort_position.physique IS 'Physique category, if any.';
COMMENT ON COLUMN hublink.escort_position.languages IS 'Languages required.';
COMMENT ON COLUMN hublink.escort_position.medic IS 'A medic.';

CREATE TABLE hublink.escort_segment (
    escort_segment_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    escort_quote_response_id bigint REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    segment_id               text NOT NULL,
    start_point              jsonb,
    finish_point             jsonb,
    transport_type           text,
    returnee_present         boolean,
    planned_start            timestamptz,
    planned_finish           timestamptz,
    escort_numbers           integer[],
    current                  boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.escort_segment IS
    'Escort segments (4.2): the journeys of the escorting. An amendment outcome or a delay '
    'replaces a segment (the earlier row is no longer current).';
COMMENT ON COLUMN hublink.escort_segment.escort_segment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_segment.escort_quote_response_id IS 'The quote response it came in (NULL when it came in an update).';
COMMENT ON COLUMN hublink.escort_segment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_segment.segment_id IS 'Segment ID.';
COMMENT ON COLUMN hublink.escort_segment.start_point IS 'Start point (place).';
COMMENT ON COLUMN hublink.escort_segment.finish_point IS 'Finish point (place).';
COMMENT ON COLUMN hublink.escort_segment.transport_type IS 'Means of transport, e.g. ESCORT_VEHICLE.';
COMMENT ON COLUMN hublink.escort_segment.returnee_present IS 'The returnee travels on it.';
COMMENT ON COLUMN hublink.escort_segment.planned_start IS 'Planned start, when known.';
COMMENT ON COLUMN hublink.escort_segment.planned_finish IS 'Planned finish, when known.';
COMMENT ON COLUMN hublink.escort_segment.escort_numbers IS 'Escort positions working on it, when given.';
COMMENT ON COLUMN hublink.escort_segment.current IS 'False once replaced.';

CREATE TABLE hublink.escort_effort (
    escort_quote_response_id bigint NOT NULL REFERENCES hublink.escort_quote_response ON DELETE CASCADE,
    segment_id               text NOT NULL,
    escort_number            integer NOT NULL,
    amount                   numeric(14,2),
    currency                 char(3),
    duration_minutes         integer,
    PRIMARY KEY (escort_quote_response_id, segment_id, escort_number),
    CHECK ((amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.escort_effort IS 'Escort effort (4.2): per segment per escort, a cost or a duration.';
COMMENT ON COLUMN hublink.escort_effort.escort_quote_response_id IS 'The response.';
COMMENT ON COLUMN hublink.escort_effort.segment_id IS 'The segment.';
COMMENT ON COLUMN hublink.escort_effort.escort_number IS 'The escort position.';
COMMENT ON COLUMN hublink.escort_effort.amount IS 'Cost.';
COMMENT ON COLUMN hublink.escort_effort.currency IS 'ISO 4217 currency of amount.';
COMMENT ON COLUMN hublink.escort_effort.duration_minutes IS 'Duration in minutes.';

-- --- travel quotes (4.3, 4.4) --------------------------------------------------------------

CREATE TABLE hublink.travel_quote_response (
    travel_quote_response_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    message_id               text NOT NULL UNIQUE,
    no_quote_reason_code     text,
    no_quote_reason_text     text,
    received_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.travel_quote_response IS 'A travel quote response (4.4).';
COMMENT ON COLUMN hublink.travel_quote_response.travel_quote_response_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_quote_response.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_quote_response.message_id IS 'messageId of the TravelQuoteResponse.';
COMMENT ON COLUMN hublink.travel_quote_response.no_quote_reason_code IS 'Why no (or fewer) quotes (decline list).';
COMMENT ON COLUMN hublink.travel_quote_response.no_quote_reason_text IS 'Free text of that reason.';
COMMENT ON COLUMN hublink.travel_quote_response.received_at IS 'When it was recorded.';

CREATE TABLE hublink.travel_quote (
    travel_quote_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    travel_quote_response_id bigint NOT NULL REFERENCES hublink.travel_quote_response ON DELETE CASCADE,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_quote_reference   text NOT NULL,
    escort_quote_reference   text,
    total_amount             numeric(14,2) NOT NULL,
    expected_amount          numeric(14,2),
    currency                 char(3) NOT NULL,
    refundable               boolean,
    hand_baggage_only        boolean,
    expires_at               timestamptz,
    conditions               jsonb,
    superseded               boolean NOT NULL DEFAULT false,
    UNIQUE (removal_id, travel_quote_reference)
);
COMMENT ON TABLE hublink.travel_quote IS 'One travel quote (4.4), matched to its escort quote when escorted.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_response_id IS 'The response it came in.';
COMMENT ON COLUMN hublink.travel_quote.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_quote.travel_quote_reference IS 'The TSP''s travel quote reference.';
COMMENT ON COLUMN hublink.travel_quote.escort_quote_reference IS 'The escort quote it goes with (escorted removals).';
COMMENT ON COLUMN hublink.travel_quote.total_amount IS 'Total travel cost.';
COMMENT ON COLUMN hublink.travel_quote.expected_amount IS
    'The provider''s expected cost (total plus expected loss on cancellation), when stated: the best-value key.';
COMMENT ON COLUMN hublink.travel_quote.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.travel_quote.refundable IS 'Refundable fare (travel conditions).';
COMMENT ON COLUMN hublink.travel_quote.hand_baggage_only IS 'Hand baggage only fare.';
COMMENT ON COLUMN hublink.travel_quote.expires_at IS 'When the quote expires.';
COMMENT ON COLUMN hublink.travel_quote.conditions IS 'The travel conditions as sent.';
COMMENT ON COLUMN hublink.travel_quote.superseded IS 'True after a re-quote (4.5): it can no longer be booked.';

CREATE TABLE hublink.travel_quote_cost (
    travel_quote_id bigint NOT NULL REFERENCES hublink.travel_quote ON DELETE CASCADE,
    traveller       jsonb NOT NULL,
    amount          numeric(14,2) NOT NULL,
    currency        char(3) NOT NULL,
    PRIMARY KEY (travel_quote_id, traveller)
);
COMMENT ON TABLE hublink.travel_quote_cost IS 'Cost per traveller of a travel quote (4.4 Travel Cost).';
COMMENT ON COLUMN hublink.travel_quote_cost.travel_quote_id IS 'The quote.';
COMMENT ON COLUMN hublink.travel_quote_cost.traveller IS '{hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.travel_quote_cost.amount IS 'Cost for this traveller.';
COMMENT ON COLUMN hublink.travel_quote_cost.currency IS 'ISO 4217 currency.';

CREATE TABLE hublink.itinerary_segment (
    itinerary_segment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    travel_quote_id      bigint NOT NULL REFERENCES hublink.travel_quote ON DELETE CASCADE,
    segment_id           text NOT NULL,
    segment_type         text NOT NULL,
    provider_name        text,
    carrier_code         text,
    flight_number        text,
    start_point          jsonb,
    end_point            jsonb,
    start_time           timestamptz,
    end_time             timestamptz,
    travellers           jsonb,
    current              boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE hublink.itinerary_segment IS
    'The itinerary of a travel quote (4.4). A flight change (4.12) adds the new segment and '
    'makes the old one not current.';
COMMENT ON COLUMN hublink.itinerary_segment.itinerary_segment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.itinerary_segment.travel_quote_id IS 'The quote.';
COMMENT ON COLUMN hublink.itinerary_segment.segment_id IS 'Segment ID.';
COMMENT ON COLUMN hublink.itinerary_segment.segment_type IS 'PLANE, FERRY, TRAIN, COACH or HOTEL.';
COMMENT ON COLUMN hublink.itinerary_segment.provider_name IS 'Carrier or hotel name.';
COMMENT ON COLUMN hublink.itinerary_segment.carrier_code IS 'IATA carrier code.';
COMMENT ON COLUMN hublink.itinerary_segment.flight_number IS 'Flight number.';
COMMENT ON COLUMN hublink.itinerary_segment.start_point IS 'Start point.';
COMMENT ON COLUMN hublink.itinerary_segment.end_point IS 'End point.';
COMMENT ON COLUMN hublink.itinerary_segment.start_time IS 'Start time.';
COMMENT ON COLUMN hublink.itinerary_segment.end_time IS 'End time.';
COMMENT ON COLUMN hublink.itinerary_segment.travellers IS 'Travellers on the segment.';
COMMENT ON COLUMN hublink.itinerary_segment.current IS 'False once changed by a flight change.';

-- --- bookings (4.5 - 4.8) -------------------------------------------------------------------

CREATE TABLE hublink.escort_booking (
    escort_booking_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id             bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_quote_reference text NOT NULL,
    travel_quote_reference text,
    request_message_id     text NOT NULL UNIQUE,
    requested_at           timestamptz NOT NULL DEFAULT now(),
    outcome                text CHECK (outcome IN ('ACCEPTED', 'DECLINED')),
    decline_reason_code    text,
    decline_details        text,
    response_message_id    text UNIQUE,
    responded_at           timestamptz
);
COMMENT ON TABLE hublink.escort_booking IS 'An escort booking request (4.5) and its response (4.6).';
COMMENT ON COLUMN hublink.escort_booking.escort_booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_booking.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_booking.escort_quote_reference IS 'The escort quote booked.';
COMMENT ON COLUMN hublink.escort_booking.travel_quote_reference IS 'The travel quote chosen with it, if sent.';
COMMENT ON COLUMN hublink.escort_booking.request_message_id IS 'messageId of the EscortBookingRequest.';
COMMENT ON COLUMN hublink.escort_booking.requested_at IS 'When it was requested.';
COMMENT ON COLUMN hublink.escort_booking.outcome IS 'ACCEPTED or DECLINED; NULL while unanswered.';
COMMENT ON COLUMN hublink.escort_booking.decline_reason_code IS 'Decline reason (decline list).';
COMMENT ON COLUMN hublink.escort_booking.decline_details IS 'Free text of the decline.';
COMMENT ON COLUMN hublink.escort_booking.response_message_id IS 'messageId of the EscortBookingResponse.';
COMMENT ON COLUMN hublink.escort_booking.responded_at IS 'When the response was recorded.';

CREATE TABLE hublink.escort_person (
    escort_person_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    escort_id        text NOT NULL,
    escort_number    integer,
    special_meal     text,
    active           boolean NOT NULL DEFAULT true,
    UNIQUE (removal_id, escort_id)
);
COMMENT ON TABLE hublink.escort_person IS
    'The named escorts of a removal (4.6, 4.10 escort details); their personal details are in '
    'hublink.escort_personal. An escort change makes the removed escort inactive.';
COMMENT ON COLUMN hublink.escort_person.escort_person_id IS 'Internal key.';
COMMENT ON COLUMN hublink.escort_person.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_person.escort_id IS 'The ESP''s ID of the person.';
COMMENT ON COLUMN hublink.escort_person.escort_number IS 'The escort position filled.';
COMMENT ON COLUMN hublink.escort_person.special_meal IS 'IATA special meal code.';
COMMENT ON COLUMN hublink.escort_person.active IS 'False once removed by an escort change.';

CREATE TABLE hublink.escort_personal (
    escort_person_id         bigint PRIMARY KEY REFERENCES hublink.escort_person ON DELETE CASCADE,
    title                    text,
    given_names              text NOT NULL,
    family_name              text NOT NULL,
    date_of_birth            date,
    nationality              char(3),
    gender                   text,
    document_type            text,
    document_number          text,
    document_issuing_country char(3),
    document_expiry_date     date
);
COMMENT ON TABLE hublink.escort_personal IS
    'PERSONAL DATA: an escort''s name and advance passenger information (passport).';
COMMENT ON COLUMN hublink.escort_personal.escort_person_id IS 'The escort.';
COMMENT ON COLUMN hublink.escort_personal.title IS 'PERSONAL DATA: title.';
COMMENT ON COLUMN hublink.escort_personal.given_names IS 'PERSONAL DATA: given names.';
COMMENT ON COLUMN hublink.escort_personal.family_name IS 'PERSONAL DATA: family name.';
COMMENT ON COLUMN hublink.escort_personal.date_of_birth IS 'PERSONAL DATA: date of birth.';
COMMENT ON COLUMN hublink.escort_personal.nationality IS 'PERSONAL DATA: nationality.';
COMMENT ON COLUMN hublink.escort_personal.gender IS 'PERSONAL DATA: sex as on the travel document.';
COMMENT ON COLUMN hublink.escort_personal.document_type IS 'PERSONAL DATA: travel document type.';
COMMENT ON COLUMN hublink.escort_personal.document_number IS 'PERSONAL DATA: passport (document) number.';
COMMENT ON COLUMN hublink.escort_personal.document_issuing_country IS 'PERSONAL DATA: issuing state.';
COMMENT ON COLUMN hublink.escort_personal.document_expiry_date IS 'PERSONAL DATA: document expiry.';

CREATE TABLE hublink.escort_assignment (
    removal_id  bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    segment_id  text NOT NULL,
    escort_id   text NOT NULL,
    vehicle_id  text,
    PRIMARY KEY (removal_id, segment_id, escort_id)
);
COMMENT ON TABLE hublink.escort_assignment IS 'Which escort works on which segment, in which vehicle (4.2, 4.6).';
COMMENT ON COLUMN hublink.escort_assignment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.escort_assignment.segment_id IS 'The escort segment.';
COMMENT ON COLUMN hublink.escort_assignment.escort_id IS 'The escort.';
COMMENT ON COLUMN hublink.escort_assignment.vehicle_id IS 'The vehicle, for road segments.';

CREATE TABLE hublink.travel_booking (
    travel_booking_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id             bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_quote_reference text NOT NULL,
    request_message_id     text NOT NULL UNIQUE,
    requested_at           timestamptz NOT NULL DEFAULT now(),
    outcome                text CHECK (outcome IN ('ACCEPTED', 'DECLINED')),
    decline_reason_code    text,
    decline_details        text,
    total_amount           numeric(14,2),
    currency               char(3),
    confirmation           jsonb,
    response_message_id    text UNIQUE,
    responded_at           timestamptz,
    CHECK ((total_amount IS NULL) = (currency IS NULL))
);
COMMENT ON TABLE hublink.travel_booking IS 'A travel booking request (4.7) and its response (4.8).';
COMMENT ON COLUMN hublink.travel_booking.travel_booking_id IS 'Internal key.';
COMMENT ON COLUMN hublink.travel_booking.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.travel_booking.travel_quote_reference IS 'The travel quote booked.';
COMMENT ON COLUMN hublink.travel_booking.request_message_id IS 'messageId of the TravelBookingRequest.';
COMMENT ON COLUMN hublink.travel_booking.requested_at IS 'When it was requested.';
COMMENT ON COLUMN hublink.travel_booking.outcome IS 'ACCEPTED or DECLINED; NULL while unanswered.';
COMMENT ON COLUMN hublink.travel_booking.decline_reason_code IS 'Decline reason (decline list).';
COMMENT ON COLUMN hublink.travel_booking.decline_details IS 'Free text of the decline.';
COMMENT ON COLUMN hublink.travel_booking.total_amount IS 'Total booked cost.';
COMMENT ON COLUMN hublink.travel_booking.currency IS 'ISO 4217 currency of total_amount.';
COMMENT ON COLUMN hublink.travel_booking.confirmation IS 'The confirmation details as sent (booking references, notes).';
COMMENT ON COLUMN hublink.travel_booking.response_message_id IS 'messageId of the TravelBookingResponse.';
COMMENT ON COLUMN hublink.travel_booking.responded_at IS 'When the response was recorded.';

CREATE TABLE hublink.ticket (
    ticket_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id        bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    travel_booking_id bigint REFERENCES hublink.travel_booking ON DELETE CASCADE,
    ticket_number     text NOT NULL,
    traveller         jsonb NOT NULL,
    segment_ids       text[],
    message_id        text NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    current           boolean NOT NULL DEFAULT true,
    UNIQUE (removal_id, ticket_number)
);
COMMENT ON TABLE hublink.ticket IS
    'E-tickets (4.8 confirmation, 4.12 reissued after an amendment); a reissue makes the '
    'traveller''s earlier ticket not current.';
COMMENT ON COLUMN hublink.ticket.ticket_id IS 'Internal key.';
COMMENT ON COLUMN hublink.ticket.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.ticket.travel_booking_id IS 'The booking.';
COMMENT ON COLUMN hublink.ticket.ticket_number IS 'Ticket number.';
COMMENT ON COLUMN hublink.ticket.traveller IS '{hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.ticket.segment_ids IS 'Segments it covers.';
COMMENT ON COLUMN hublink.ticket.message_id IS 'The message it came in.';
COMMENT ON COLUMN hublink.ticket.issued_at IS 'When it was recorded.';
COMMENT ON COLUMN hublink.ticket.current IS 'False once reissued.';

-- --- after booking (4.9 - 4.14) -------------------------------------------------------------

CREATE TABLE hublink.amendment (
    amendment_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking               text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id            text NOT NULL UNIQUE,
    quote_reference       text NOT NULL,
    details               jsonb NOT NULL,
    sent_at               timestamptz NOT NULL DEFAULT now(),
    outcome_accepted      boolean,
    outcome_reason_code   text,
    outcome_reason_text   text,
    outcome_message_id    text,
    outcome_at            timestamptz
);
COMMENT ON TABLE hublink.amendment IS 'Escort (4.9) and travel (4.11) amendments, and their outcome (4.10, 4.12).';
COMMENT ON COLUMN hublink.amendment.amendment_id IS 'Internal key.';
COMMENT ON COLUMN hublink.amendment.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.amendment.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.amendment.message_id IS 'messageId of the amendment.';
COMMENT ON COLUMN hublink.amendment.quote_reference IS 'The booked quote amended.';
COMMENT ON COLUMN hublink.amendment.details IS 'The amendment''s body (segment changes, passenger updates, other).';
COMMENT ON COLUMN hublink.amendment.sent_at IS 'When it was sent or received.';
COMMENT ON COLUMN hublink.amendment.outcome_accepted IS 'Whether the provider carried it out; NULL while unanswered.';
COMMENT ON COLUMN hublink.amendment.outcome_reason_code IS 'Reason of the outcome (change list).';
COMMENT ON COLUMN hublink.amendment.outcome_reason_text IS 'Free text of the outcome''s reason.';
COMMENT ON COLUMN hublink.amendment.outcome_message_id IS 'messageId of the update carrying the outcome.';
COMMENT ON COLUMN hublink.amendment.outcome_at IS 'When the outcome was recorded.';

CREATE TABLE hublink.booking_update (
    booking_update_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id        bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking           text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('completed', 'cancellation', 'unsuccessful',
                                                    'delayed', 'escort-change', 'details',
                                                    'amendment-outcome', 'flight-change',
                                                    'financial', 'other')),
    reason_code       text,
    reason_text       text,
    details           jsonb,
    received_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.booking_update IS
    'Escort updates (4.10) and travel updates (4.12), one row per section of the message: '
    'completed, cancellation, unsuccessful, delayed, escort change, details, amendment outcome, '
    'flight change, financial, other.';
COMMENT ON COLUMN hublink.booking_update.booking_update_id IS 'Internal key.';
COMMENT ON COLUMN hublink.booking_update.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.booking_update.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.booking_update.message_id IS 'messageId of the update.';
COMMENT ON COLUMN hublink.booking_update.kind IS 'Which section.';
COMMENT ON COLUMN hublink.booking_update.reason_code IS 'Reason code of the section, if any.';
COMMENT ON COLUMN hublink.booking_update.reason_text IS 'Free text of the reason.';
COMMENT ON COLUMN hublink.booking_update.details IS 'The section as sent.';
COMMENT ON COLUMN hublink.booking_update.received_at IS 'When it was recorded.';
CREATE INDEX booking_update_removal ON hublink.booking_update (removal_id);

CREATE TABLE hublink.cancellation (
    cancellation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id       bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking          text NOT NULL CHECK (booking IN ('escort', 'travel')),
    cancelled_by     text NOT NULL REFERENCES hublink.party,
    message_id       text NOT NULL UNIQUE,
    quote_reference  text,
    reason_code      text,
    reason_text      text,
    retain_for_reuse boolean,
    before_booking   boolean NOT NULL,
    cancelled_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.cancellation IS
    'Cancellations: by the Hub (4.13, 4.14) or by a provider (4.10, 4.12 cancellation sections).';
COMMENT ON COLUMN hublink.cancellation.cancellation_id IS 'Internal key.';
COMMENT ON COLUMN hublink.cancellation.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.cancellation.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.cancellation.cancelled_by IS 'hub, tsp or esp.';
COMMENT ON COLUMN hublink.cancellation.message_id IS 'The message that cancelled.';
COMMENT ON COLUMN hublink.cancellation.quote_reference IS 'The quote (booking) cancelled, if named.';
COMMENT ON COLUMN hublink.cancellation.reason_code IS 'Reason (cancellation list).';
COMMENT ON COLUMN hublink.cancellation.reason_text IS 'Free text of the reason.';
COMMENT ON COLUMN hublink.cancellation.retain_for_reuse IS 'Travel: keep the ticket for reuse where the carrier allows.';
COMMENT ON COLUMN hublink.cancellation.before_booking IS 'True when nothing was booked yet.';
COMMENT ON COLUMN hublink.cancellation.cancelled_at IS 'When it was recorded.';

CREATE TABLE hublink.financial_consequence (
    financial_consequence_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id               bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking                  text NOT NULL CHECK (booking IN ('escort', 'travel')),
    message_id               text NOT NULL,
    kind                     text NOT NULL CHECK (kind IN ('refund', 'change_fee', 'cancellation_fee')),
    amount                   numeric(14,2) NOT NULL CHECK (amount >= 0),
    currency                 char(3) NOT NULL,
    reason_code              text,
    reason_text              text,
    recorded_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.financial_consequence IS
    'Refunds and fees (change fee, cancellation fee) of post-booking changes (4.10, 4.12 Financial).';
COMMENT ON COLUMN hublink.financial_consequence.financial_consequence_id IS 'Internal key.';
COMMENT ON COLUMN hublink.financial_consequence.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.financial_consequence.booking IS 'escort or travel.';
COMMENT ON COLUMN hublink.financial_consequence.message_id IS 'The update it came in.';
COMMENT ON COLUMN hublink.financial_consequence.kind IS 'refund, change_fee or cancellation_fee.';
COMMENT ON COLUMN hublink.financial_consequence.amount IS 'Amount (never negative; kind gives the direction).';
COMMENT ON COLUMN hublink.financial_consequence.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.financial_consequence.reason_code IS 'Why (change list).';
COMMENT ON COLUMN hublink.financial_consequence.reason_text IS 'Free text.';
COMMENT ON COLUMN hublink.financial_consequence.recorded_at IS 'When it was recorded.';

-- --- every transition (issue 4, section 2) ---------------------------------------------------

CREATE TABLE hublink.state_transition (
    state_transition_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id          bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    machine             text NOT NULL CHECK (machine IN ('removal', 'escort', 'travel')),
    from_state          text NOT NULL,
    to_state            text NOT NULL,
    event               text NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('in', 'out', 'local')),
    party               text NOT NULL REFERENCES hublink.party,
    message_id          text,
    at                  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE hublink.state_transition IS
    'Every transition of every machine, with the message (or local decision) that caused it, '
    'the party that recorded it and when.';
COMMENT ON COLUMN hublink.state_transition.state_transition_id IS 'Order of the transitions.';
COMMENT ON COLUMN hublink.state_transition.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.state_transition.machine IS 'removal, escort or travel.';
COMMENT ON COLUMN hublink.state_transition.from_state IS 'State before.';
COMMENT ON COLUMN hublink.state_transition.to_state IS 'State after (may equal from_state).';
COMMENT ON COLUMN hublink.state_transition.event IS 'The event (hublink.message_event).';
COMMENT ON COLUMN hublink.state_transition.direction IS 'in (received), out (sent) or local.';
COMMENT ON COLUMN hublink.state_transition.party IS 'The party whose database recorded it (hublink.party setting).';
COMMENT ON COLUMN hublink.state_transition.message_id IS 'The message''s messageId; NULL for a local decision.';
COMMENT ON COLUMN hublink.state_transition.at IS 'When.';
CREATE INDEX state_transition_removal ON hublink.state_transition (removal_id, state_transition_id);
COMMENT ON INDEX hublink.state_transition_removal IS 'The history of one removal, in order.';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['removal', 'returnee', 'returnee_personal', 'travel_document',
                             'risk_assessment', 'escort_quote_response', 'escort_quote',
                             'escort_position', 'escort_segment', 'escort_effort',
                             'travel_quote_response', 'travel_quote', 'travel_quote_cost',
                             'itinerary_segment', 'escort_booking', 'escort_person',
                             'escort_personal', 'escort_assignment', 'travel_booking', 'ticket',
                             'amendment', 'booking_update', 'cancellation',
                             'financial_consequence', 'state_transition'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('hublink.%I', t)::regclass, '');
    END LOOP;
END;
$$;
SELECT pg_catalog.pg_extension_config_dump('hublink.removal_serial', '');

-- --- authorised reads of the personal data (sealed by 74_crypto_seal.sql) ----------------
-- Set-returning, so a missing row is no row, and called LATERAL per returnee or escort: only
-- the rows a query needs are decrypted, each audited by hublink.unsealed(). Each is one query:
-- the table's rows that match, each passed once through hublink.unsealed in FROM (LATERAL, so
-- it runs once per row: "(hublink.unsealed(p)).*" in a select list would run it, and audit,
-- once per column). PL/pgSQL, bound late: hublink.unsealed comes later in the script.
-- ROWS: a function's default estimate is 1000 rows. Joined LATERAL per returnee, that made a
-- message body's query cost millions, over jit_above_cost: every hublink.request_travel_quotes
-- compiled it with LLVM, 0.4-0.6 s of a call of a few ms (docs/performance.md "The web pages").

CREATE FUNCTION hublink.returnee_personal_of(p_returnee_id bigint)
    RETURNS SETOF hublink.returnee_personal
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.returnee_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.returnee_id = p_returnee_id;
END;
$$;
COMMENT ON FUNCTION hublink.returnee_personal_of(bigint) IS
    'A returnee''s personal details, decrypted (audited: hublink.unsealed).';

CREATE FUNCTION hublink.travel_documents_of(p_returnee_id bigint)
    RETURNS SETOF hublink.travel_document
    LANGUAGE plpgsql VOLATILE ROWS 2
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.travel_document d CROSS JOIN LATERAL hublink.unsealed(d) u
                 WHERE d.returnee_id = p_returnee_id
                 ORDER BY d.travel_document_id;
END;
$$;
COMMENT ON FUNCTION hublink.travel_documents_of(bigint) IS
    'A returnee''s travel documents, decrypted, in the order recorded (audited: hublink.unsealed).';

CREATE FUNCTION hublink.risk_assessment_of(p_returnee_id bigint, p_audience text)
    RETURNS SETOF hublink.risk_assessment
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.risk_assessment a CROSS JOIN LATERAL hublink.unsealed(a) u
                 WHERE a.returnee_id = p_returnee_id AND a.audience = p_audience AND a.current;
END;
$$;
COMMENT ON FUNCTION hublink.risk_assessment_of(bigint, text) IS
    'A returnee''s current risk assessment for an audience (hub, esp, tsp), decrypted (audited: '
    'hublink.unsealed).';

CREATE FUNCTION hublink.escort_personal_of(p_escort_person_id bigint)
    RETURNS SETOF hublink.escort_personal
    LANGUAGE plpgsql VOLATILE ROWS 1
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY SELECT u.* FROM hublink.escort_personal p CROSS JOIN LATERAL hublink.unsealed(p) u
                 WHERE p.escort_person_id = p_escort_person_id;
END;
$$;
COMMENT ON FUNCTION hublink.escort_personal_of(bigint) IS
    'An escort''s name and passport details, decrypted (audited: hublink.unsealed).';
