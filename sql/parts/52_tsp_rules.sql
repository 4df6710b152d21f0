-- Travel provider (tsp), issue 5 section 2: what quoting obeys, as rows admins edit:
-- airports serving returnee locations, minimum connection times and the Travel Information
-- Guide (TIG) rules.

CREATE TABLE hublink.tsp_location_airport (
    location_kind text NOT NULL CHECK (location_kind IN ('DETENTION_CENTRE', 'PRISON', 'POSTCODE_AREA', 'TOWN')),
    location_id   text NOT NULL,
    airport       char(3) NOT NULL REFERENCES hublink.tsp_airport,
    PRIMARY KEY (location_kind, location_id, airport)
);
COMMENT ON TABLE hublink.tsp_location_airport IS
    'Airports that serve a returnee location: a detention centre or prison by its ID, an address '
    'by its postcode area (the letters before the first digit, e.g. UB) or else its town in upper '
    'case. The location kinds are the shapes of returneeLocation in the schema.';
COMMENT ON COLUMN hublink.tsp_location_airport.location_kind IS 'DETENTION_CENTRE, PRISON, POSTCODE_AREA or TOWN.';
COMMENT ON COLUMN hublink.tsp_location_airport.location_id IS 'detentionCentreId, prisonId, postcode area or town.';
COMMENT ON COLUMN hublink.tsp_location_airport.airport IS 'An airport within reach of the location.';

CREATE TABLE hublink.tsp_min_connection (
    airport char(3) PRIMARY KEY REFERENCES hublink.tsp_airport,
    minutes integer NOT NULL CHECK (minutes BETWEEN 0 AND 1440)
);
COMMENT ON TABLE hublink.tsp_min_connection IS
    'Minimum connection time per airport; airports without a row use the setting '
    'default_min_connection_minutes.';
COMMENT ON COLUMN hublink.tsp_min_connection.airport IS 'Connecting airport.';
COMMENT ON COLUMN hublink.tsp_min_connection.minutes IS 'Least minutes between arrival and the next departure.';

CREATE TABLE hublink.tsp_tig_rule_kind (
    kind        text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE hublink.tsp_tig_rule_kind IS 'The kinds of Travel Information Guide rule quoting enforces.';
COMMENT ON COLUMN hublink.tsp_tig_rule_kind.kind IS 'Rule kind.';
COMMENT ON COLUMN hublink.tsp_tig_rule_kind.description IS 'What a rule of this kind does and which columns it uses.';

INSERT INTO hublink.tsp_tig_rule_kind VALUES
    ('CARRIER_EXCLUSION', 'Carrier must not be used for removals to the destination (carrier; destination_country NULL = everywhere).'),
    ('BLOCKED_DATES', 'No departure on dates date_from..date_to (UK dates) to the destination.'),
    ('NO_TRANSIT', 'No connection at airport, or in any airport of transit_country, on the way to the destination.'),
    ('QUOTA', 'At most max_returnees returnees booked to the destination with departures in date_from..date_to.'),
    ('NOTIFICATION_PERIOD', 'First departure at least hours hours after the quote is made.'),
    ('REFUNDABLE_REQUIRED', 'Only refundable fares to the destination.'),
    ('COST_LIMIT', 'Total cost of a quote at most amount (currency) to the destination.');

CREATE TABLE hublink.tsp_tig_rule (
    rule_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL REFERENCES hublink.tsp_tig_rule_kind,
    destination_country char(3),
    carrier             char(2),
    airport             char(3),
    transit_country     char(3),
    date_from           date,
    date_to             date,
    hours               integer CHECK (hours >= 0),
    max_returnees       integer CHECK (max_returnees >= 0),
    amount              numeric(14,2) CHECK (amount >= 0),
    currency            char(3),
    note                text,
    active              boolean NOT NULL DEFAULT true,
    CHECK (kind <> 'CARRIER_EXCLUSION' OR carrier IS NOT NULL),
    CHECK (kind NOT IN ('BLOCKED_DATES', 'QUOTA') OR (date_from IS NOT NULL AND date_to >= date_from)),
    CHECK (kind <> 'NO_TRANSIT' OR airport IS NOT NULL OR transit_country IS NOT NULL),
    CHECK (kind <> 'QUOTA' OR max_returnees IS NOT NULL),
    CHECK (kind <> 'NOTIFICATION_PERIOD' OR hours IS NOT NULL),
    CHECK (kind <> 'COST_LIMIT' OR (amount IS NOT NULL AND currency IS NOT NULL))
);
COMMENT ON TABLE hublink.tsp_tig_rule IS
    'Travel Information Guide rules, one row each, edited by hublink_admin; quoting applies every '
    'active rule whose destination_country is the destination''s or NULL.';
COMMENT ON COLUMN hublink.tsp_tig_rule.rule_id IS 'Surrogate key, quoted in rule notes.';
COMMENT ON COLUMN hublink.tsp_tig_rule.kind IS 'Rule kind (tsp_tig_rule_kind).';
COMMENT ON COLUMN hublink.tsp_tig_rule.destination_country IS 'Destination country (ISO alpha-3) it applies to; NULL for all.';
COMMENT ON COLUMN hublink.tsp_tig_rule.carrier IS 'CARRIER_EXCLUSION: the carrier.';
COMMENT ON COLUMN hublink.tsp_tig_rule.airport IS 'NO_TRANSIT: the transit airport.';
COMMENT ON COLUMN hublink.tsp_tig_rule.transit_country IS 'NO_TRANSIT: the transit country (ISO alpha-3).';
COMMENT ON COLUMN hublink.tsp_tig_rule.date_from IS 'BLOCKED_DATES, QUOTA: first date.';
COMMENT ON COLUMN hublink.tsp_tig_rule.date_to IS 'BLOCKED_DATES, QUOTA: last date (inclusive).';
COMMENT ON COLUMN hublink.tsp_tig_rule.hours IS 'NOTIFICATION_PERIOD: least hours between quote and departure.';
COMMENT ON COLUMN hublink.tsp_tig_rule.max_returnees IS 'QUOTA: most returnees in the period.';
COMMENT ON COLUMN hublink.tsp_tig_rule.amount IS 'COST_LIMIT: the limit.';
COMMENT ON COLUMN hublink.tsp_tig_rule.currency IS 'COST_LIMIT: its currency.';
COMMENT ON COLUMN hublink.tsp_tig_rule.note IS 'Why the rule exists (TIG paragraph).';
COMMENT ON COLUMN hublink.tsp_tig_rule.active IS 'Inactive rules are kept but not applied.';
