-- Escort provider (esp), issue 5 section 4: settings and reference data of the escort engine,
-- as rows an admin edits (no GUC, no rebuild). docs/esp.md describes every table.

CREATE TABLE hublink.esp_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_config IS 'Settings of the escort provider engine, as rows an admin edits.';
COMMENT ON COLUMN hublink.esp_config.key IS 'Setting name.';
COMMENT ON COLUMN hublink.esp_config.value IS 'Value as text, cast by the hublink.esp_setting() readers.';
COMMENT ON COLUMN hublink.esp_config.description IS 'What it does and its unit.';

INSERT INTO hublink.esp_config VALUES
    ('quote_reference_prefix', 'ESP-EQ-', 'Start of escort quote references: prefix, six-digit serial, -, a letter per date.'),
    ('max_escort_dates', '14', 'Most dates offered in one escort quote response.'),
    ('min_notice_hours', '48', 'A date is offered only when it starts at least this many hours after the request.'),
    ('quote_validity_minutes', '10080', 'How long an escort quote may be booked after it is issued.'),
    ('currency', 'GBP', 'Currency of rates, quotes and fees.'),
    ('date_time_zone', 'Europe/London', 'Escort dates are calendar dates in this zone; notice is counted to the date''s midnight here.'),
    ('min_team_size', '2', 'Fewest escort officers (medics not counted) on any escorting.'),
    ('escorts_per_returnee', '1', 'Escort officers per returnee without a risk flag asking for more.'),
    ('same_gender_escorts_per_returnee', '1', 'Of each returnee''s escorts, this many must be of the returnee''s sex (all of them when a flag says same_gender).'),
    ('working_language', 'en', 'Language every escort position requires.'),
    ('default_airport', 'LHR', 'Departure airport for a returnee location without an esp_location row.'),
    ('default_base', 'ESP Heathrow escort base, Hayes', 'Escort base for a returnee location without an esp_location row.'),
    ('default_road_minutes', '90', 'Road time from a location without an esp_location row to its airport or destination.'),
    ('default_flight_minutes', '480', 'Flight time to a destination country without an esp_flight_time row.'),
    ('default_segment_minutes', '60', 'Duration of a segment added by an amendment without planned times.');

CREATE FUNCTION hublink.esp_setting(name text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT c.value INTO v FROM hublink.esp_config c WHERE c.key = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'esp setting "%" is not defined', name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'The escort engine reads its settings from hublink.esp_config.',
                  HINT = 'Insert a row into hublink.esp_config (docs/esp.md lists the settings).';
    END IF;
    RETURN v;
END;
$$;
COMMENT ON FUNCTION hublink.esp_setting(text) IS
    'The value of an esp_config row; an error names a missing one rather than guessing a default.';

CREATE FUNCTION hublink.esp_money(amount numeric, currency text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN jsonb_build_object('amount', to_char(amount, 'FM999999999990.00'), 'currency', currency);
COMMENT ON FUNCTION hublink.esp_money(numeric, text) IS 'A money object: amount with two decimals as a string, and currency.';

CREATE TABLE hublink.esp_role (
    role        text PRIMARY KEY CHECK (role ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    hourly_rate numeric(14,2) NOT NULL CHECK (hourly_rate >= 0),
    leader      boolean NOT NULL DEFAULT false,
    medic       boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
-- The rules pick roles by these flags: one leading role, one medic role, one other (the officer).
CREATE UNIQUE INDEX esp_role_kind ON hublink.esp_role (leader, medic);
COMMENT ON TABLE hublink.esp_role IS 'Roles of escort positions (escortPosition.role) and what an hour of each costs.';
COMMENT ON COLUMN hublink.esp_role.role IS 'Role code: TEAM_LEADER, ESCORT, MEDIC.';
COMMENT ON COLUMN hublink.esp_role.hourly_rate IS 'Rate per hour of effort, in the currency setting.';
COMMENT ON COLUMN hublink.esp_role.leader IS 'Only escorts qualified to lead (esp_escort.team_leader) fill it; position 1 has it.';
COMMENT ON COLUMN hublink.esp_role.medic IS 'The medic''s role: filled only by medics (esp_escort.medic), and only they fill it.';
COMMENT ON COLUMN hublink.esp_role.description IS 'What the role does.';
INSERT INTO hublink.esp_role VALUES
    ('TEAM_LEADER', 40.00, true, false, 'Leads the escort team; position 1. Filled by an escort qualified to lead.'),
    ('ESCORT', 32.00, false, false, 'Escort officer.'),
    ('MEDIC', 45.00, false, true, 'Paramedic or nurse; filled only by a medic.');

CREATE TABLE hublink.esp_physique (
    physique    text PRIMARY KEY CHECK (physique ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    strength    integer NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_physique IS 'Physique categories of escorts; an escort fills positions of its strength or less.';
COMMENT ON COLUMN hublink.esp_physique.physique IS 'Category code, e.g. STANDARD, ENHANCED.';
COMMENT ON COLUMN hublink.esp_physique.strength IS 'Order of categories: higher fills lower.';
COMMENT ON COLUMN hublink.esp_physique.description IS 'What the category means.';
INSERT INTO hublink.esp_physique VALUES
    ('STANDARD', 1, 'Standard control and restraint training.'),
    ('ENHANCED', 2, 'Enhanced physique and restraint training, for violent or disruptive returnees.');

CREATE TABLE hublink.esp_place_kind (
    place_kind  text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_place_kind IS 'Where an escort segment starts or finishes, resolved per removal.';
COMMENT ON COLUMN hublink.esp_place_kind.place_kind IS 'Kind code.';
COMMENT ON COLUMN hublink.esp_place_kind.description IS 'How it is resolved.';
INSERT INTO hublink.esp_place_kind VALUES
    ('LOCATION', 'The first returnee''s location (detention centre, prison, address).'),
    ('AIRPORT', 'The departure airport of that location (esp_location, else default_airport), with its terminal.'),
    ('DESTINATION', 'The destination airport when given, else the destination''s description.'),
    ('BASE', 'The escort base of that location (esp_location, else default_base).');

CREATE TABLE hublink.esp_segment_template (
    international       boolean NOT NULL,
    escort_on_transport boolean NOT NULL,
    seq                 integer NOT NULL CHECK (seq BETWEEN 1 AND 99),
    segment_kind        text NOT NULL,
    transport_type      text NOT NULL CHECK (transport_type ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    returnee_present    boolean NOT NULL,
    start_place         text NOT NULL REFERENCES hublink.esp_place_kind,
    finish_place        text NOT NULL REFERENCES hublink.esp_place_kind,
    minutes             integer NOT NULL CHECK (minutes >= 0),
    add_road_minutes    boolean NOT NULL DEFAULT false,
    add_flight_minutes  boolean NOT NULL DEFAULT false,
    allowance           numeric(14,2) NOT NULL DEFAULT 0 CHECK (allowance >= 0),
    day_offset          integer NOT NULL DEFAULT 0 CHECK (day_offset >= 0),
    PRIMARY KEY (international, escort_on_transport, seq)
);
COMMENT ON TABLE hublink.esp_segment_template IS
    'The escort segments of each kind of removal (international or not, escorts on the transport '
    'or to the gate), in order: pick-up, transfer, flight, return. Segment n is S<n>.';
COMMENT ON COLUMN hublink.esp_segment_template.international IS 'For international removals (true) or in-country moves.';
COMMENT ON COLUMN hublink.esp_segment_template.escort_on_transport IS 'For escorts travelling on the transport (true) or leaving the returnee at the gate.';
COMMENT ON COLUMN hublink.esp_segment_template.seq IS 'Order; the segment ID is S followed by it.';
COMMENT ON COLUMN hublink.esp_segment_template.segment_kind IS 'PICK_UP, TRANSFER, FLIGHT, RETURN_FLIGHT, RETURN (named in notes only).';
COMMENT ON COLUMN hublink.esp_segment_template.transport_type IS 'transportType of the segment, e.g. ESCORT_VEHICLE, SCHEDULED_FLIGHT, ON_FOOT.';
COMMENT ON COLUMN hublink.esp_segment_template.returnee_present IS 'Whether the returnee travels on the segment.';
COMMENT ON COLUMN hublink.esp_segment_template.start_place IS 'Where it starts (esp_place_kind).';
COMMENT ON COLUMN hublink.esp_segment_template.finish_place IS 'Where it finishes (esp_place_kind).';
COMMENT ON COLUMN hublink.esp_segment_template.minutes IS 'Fixed effort in minutes per escort (loading, check-in, rest).';
COMMENT ON COLUMN hublink.esp_segment_template.add_road_minutes IS 'Add the road time of the location (esp_location.road_minutes).';
COMMENT ON COLUMN hublink.esp_segment_template.add_flight_minutes IS 'Add the flight time to the destination country (esp_flight_time).';
COMMENT ON COLUMN hublink.esp_segment_template.allowance IS 'Fixed cost per escort on the segment (e.g. overnight subsistence), in the currency setting.';
COMMENT ON COLUMN hublink.esp_segment_template.day_offset IS 'Days after the escort date on which the segment ends; the escorts are on duty from the escort date to the largest offset.';
INSERT INTO hublink.esp_segment_template VALUES
    (true, true, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'AIRPORT', 60, true, false, 0, 0),
    (true, true, 2, 'FLIGHT', 'SCHEDULED_FLIGHT', true, 'AIRPORT', 'DESTINATION', 120, false, true, 0, 0),
    (true, true, 3, 'RETURN_FLIGHT', 'SCHEDULED_FLIGHT', false, 'DESTINATION', 'AIRPORT', 720, false, true, 95.00, 1),
    (true, true, 4, 'RETURN', 'ESCORT_VEHICLE', false, 'AIRPORT', 'BASE', 60, false, false, 0, 1),
    (true, false, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'AIRPORT', 60, true, false, 0, 0),
    (true, false, 2, 'TRANSFER', 'ON_FOOT', true, 'AIRPORT', 'AIRPORT', 120, false, false, 0, 0),
    (true, false, 3, 'RETURN', 'ESCORT_VEHICLE', false, 'AIRPORT', 'BASE', 60, false, false, 0, 0),
    (false, true, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'DESTINATION', 60, true, false, 0, 0),
    (false, true, 2, 'RETURN', 'ESCORT_VEHICLE', false, 'DESTINATION', 'BASE', 0, true, false, 0, 0),
    (false, false, 1, 'PICK_UP', 'ESCORT_VEHICLE', true, 'LOCATION', 'DESTINATION', 60, true, false, 0, 0),
    (false, false, 2, 'RETURN', 'ESCORT_VEHICLE', false, 'DESTINATION', 'BASE', 0, true, false, 0, 0);

CREATE TABLE hublink.esp_location (
    location_id  text PRIMARY KEY,
    airport      char(3) NOT NULL CHECK (airport ~ '^[A-Z]{3}$'),
    terminal     text,
    base         text NOT NULL,
    road_minutes integer NOT NULL CHECK (road_minutes >= 0)
);
COMMENT ON TABLE hublink.esp_location IS 'Returnee locations the escorts know: where they fly from and which base serves them.';
COMMENT ON COLUMN hublink.esp_location.location_id IS 'A detention centre or prison ID, or the town of an address.';
COMMENT ON COLUMN hublink.esp_location.airport IS 'Departure airport, IATA.';
COMMENT ON COLUMN hublink.esp_location.terminal IS 'Usual terminal, when known.';
COMMENT ON COLUMN hublink.esp_location.base IS 'The escort base serving the location (where escorts return).';
COMMENT ON COLUMN hublink.esp_location.road_minutes IS 'Road time from the location to its airport (or, in-country, to the destination).';

CREATE TABLE hublink.esp_flight_time (
    country char(3) PRIMARY KEY CHECK (country ~ '^[A-Z]{3}$'),
    minutes integer NOT NULL CHECK (minutes > 0)
);
COMMENT ON TABLE hublink.esp_flight_time IS 'Flight time from the UK to a destination country, for escort effort.';
COMMENT ON COLUMN hublink.esp_flight_time.country IS 'Destination country, ISO 3166-1 alpha-3.';
COMMENT ON COLUMN hublink.esp_flight_time.minutes IS 'One-way flight time in minutes.';

CREATE TABLE hublink.esp_fee_kind (
    fee_kind    text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.esp_fee_kind IS 'What a fee rule charges for.';
COMMENT ON COLUMN hublink.esp_fee_kind.fee_kind IS 'Kind code.';
COMMENT ON COLUMN hublink.esp_fee_kind.description IS 'When it applies.';
INSERT INTO hublink.esp_fee_kind VALUES
    ('CANCELLATION', 'The Home Office cancels a booked escorting, or it is abandoned (unsuccessful).'),
    ('AMENDMENT', 'The Home Office amends a booked escorting and the amendment is carried out.');

CREATE TABLE hublink.esp_fee_rule (
    fee_kind          text NOT NULL REFERENCES hublink.esp_fee_kind,
    from_hours_before integer NOT NULL CHECK (from_hours_before >= 0),
    fee_percent       numeric(5,2) CHECK (fee_percent BETWEEN 0 AND 100),
    fee_amount        numeric(14,2) CHECK (fee_amount >= 0),
    description       text NOT NULL,
    PRIMARY KEY (fee_kind, from_hours_before),
    CHECK ((fee_percent IS NULL) <> (fee_amount IS NULL))
);
COMMENT ON TABLE hublink.esp_fee_rule IS
    'Fees by notice period: a change given at least from_hours_before hours before the escort '
    'date (midnight, date_time_zone) pays the rule with the largest such from_hours_before.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_kind IS 'CANCELLATION or AMENDMENT.';
COMMENT ON COLUMN hublink.esp_fee_rule.from_hours_before IS 'Least notice, in hours, for the rule to apply.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_percent IS 'Fee as a percentage of the booked escort cost (rounded half away from zero to the penny), or NULL.';
COMMENT ON COLUMN hublink.esp_fee_rule.fee_amount IS 'Fixed fee (at most the booked cost), or NULL.';
COMMENT ON COLUMN hublink.esp_fee_rule.description IS 'The rule in words.';
INSERT INTO hublink.esp_fee_rule VALUES
    ('CANCELLATION', 336, 0, NULL, 'Fourteen days or more: free.'),
    ('CANCELLATION', 168, 25, NULL, 'Seven to fourteen days: a quarter of the cost.'),
    ('CANCELLATION', 48, 50, NULL, 'Two to seven days: half the cost.'),
    ('CANCELLATION', 0, 100, NULL, 'Less than two days, or after the start: the full cost.'),
    ('AMENDMENT', 168, NULL, 0, 'Seven days or more: free.'),
    ('AMENDMENT', 48, NULL, 150.00, 'Two to seven days: 150.00.'),
    ('AMENDMENT', 0, NULL, 300.00, 'Less than two days: 300.00.');

CREATE FUNCTION hublink.esp_fee(fee_kind text, cost numeric, hours_before numeric) RETURNS numeric
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    RETURN coalesce((SELECT least(cost, coalesce(round(cost * r.fee_percent / 100, 2), r.fee_amount))
                       FROM hublink.esp_fee_rule r
                      WHERE r.fee_kind = esp_fee.fee_kind AND r.from_hours_before <= greatest(hours_before, 0)
                      ORDER BY r.from_hours_before DESC LIMIT 1), 0);
COMMENT ON FUNCTION hublink.esp_fee(text, numeric, numeric) IS
    'The fee of a kind for a booking costing cost when notice is hours_before hours (negative: '
    'after the start, counted as 0): the rule with the largest from_hours_before not above it; '
    '0 without a rule.';

CREATE FUNCTION hublink.esp_notice_hours(escort_date date, at timestamptz) RETURNS numeric
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN round(extract(epoch FROM (escort_date::timestamp AT TIME ZONE hublink.esp_setting('date_time_zone')) - at) / 3600, 2);
COMMENT ON FUNCTION hublink.esp_notice_hours(date, timestamptz) IS
    'Hours from at to the start (midnight in date_time_zone) of an escort date; negative once it has begun.';
