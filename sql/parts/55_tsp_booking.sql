-- Travel provider (tsp), issue 5 section 3: bookings, tickets, refunds and the TravelUpdate
-- bodies produced for the Hub.

CREATE TABLE hublink.tsp_booking (
    booking_ref         char(6) PRIMARY KEY CHECK (booking_ref ~ '^[A-Z0-9]{6}$'),
    quote_ref           text NOT NULL UNIQUE REFERENCES hublink.tsp_quote,
    removal_id          text,
    booked_at           timestamptz NOT NULL,
    travel_date         date NOT NULL,
    destination_country char(3),
    returnees           integer NOT NULL,
    currency            char(3) NOT NULL,
    total               numeric(14,2) NOT NULL,
    ticketing_deadline  timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED'))
);
COMMENT ON TABLE hublink.tsp_booking IS 'A booking (PNR) made from a quote; its seats are taken in tsp_flight.seats_sold.';
COMMENT ON COLUMN hublink.tsp_booking.booking_ref IS 'Six-character booking reference (record locator).';
COMMENT ON COLUMN hublink.tsp_booking.quote_ref IS 'The quote booked (one booking per quote).';
COMMENT ON COLUMN hublink.tsp_booking.removal_id IS 'The removal, when known.';
COMMENT ON COLUMN hublink.tsp_booking.booked_at IS 'When it was booked.';
COMMENT ON COLUMN hublink.tsp_booking.travel_date IS 'UK date of travel (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.destination_country IS 'Destination country, alpha-3 (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.returnees IS 'Number of returnees on it (for TIG quotas).';
COMMENT ON COLUMN hublink.tsp_booking.currency IS 'Currency of total.';
COMMENT ON COLUMN hublink.tsp_booking.total IS 'Total booked cost, including change fees and fare differences since.';
COMMENT ON COLUMN hublink.tsp_booking.ticketing_deadline IS 'Earliest ticketing deadline of its fares.';
COMMENT ON COLUMN hublink.tsp_booking.status IS 'ACTIVE or CANCELLED.';
CREATE INDEX tsp_booking_removal ON hublink.tsp_booking (removal_id);
COMMENT ON INDEX hublink.tsp_booking_removal IS 'A removal''s bookings (its purge and erasure, hublink.purge_removal).';

CREATE TABLE hublink.tsp_booking_segment (
    booking_ref char(6) NOT NULL REFERENCES hublink.tsp_booking,
    segment_id  text NOT NULL,
    seq         integer NOT NULL,
    flight_id   bigint NOT NULL REFERENCES hublink.tsp_flight,
    fare_id     bigint NOT NULL REFERENCES hublink.tsp_fare,
    seats       integer NOT NULL CHECK (seats > 0),
    status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED', 'REPLACED')),
    PRIMARY KEY (booking_ref, segment_id)
);
COMMENT ON TABLE hublink.tsp_booking_segment IS 'The flights of a booking and the seats each holds.';
COMMENT ON COLUMN hublink.tsp_booking_segment.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_booking_segment.segment_id IS 'segmentId (S1, S2; S3... for replacements).';
COMMENT ON COLUMN hublink.tsp_booking_segment.seq IS 'Travel order.';
COMMENT ON COLUMN hublink.tsp_booking_segment.flight_id IS 'The flight.';
COMMENT ON COLUMN hublink.tsp_booking_segment.fare_id IS 'The fare booked.';
COMMENT ON COLUMN hublink.tsp_booking_segment.seats IS 'Seats held on the flight.';
COMMENT ON COLUMN hublink.tsp_booking_segment.status IS 'ACTIVE; CANCELLED (seats released); REPLACED by a date or flight change.';
CREATE INDEX tsp_booking_segment_flight ON hublink.tsp_booking_segment (flight_id);

CREATE SEQUENCE hublink.tsp_ticket_serial MINVALUE 1 MAXVALUE 999999999 START 240012345;
COMMENT ON SEQUENCE hublink.tsp_ticket_serial IS 'The nine-digit serial of e-ticket numbers.';

CREATE FUNCTION hublink.tsp_ticket_number(prefix text, serial bigint) RETURNS char(13)
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    RETURN prefix || lpad(serial::text, 9, '0') || (serial % 7)::text;
COMMENT ON FUNCTION hublink.tsp_ticket_number(text, bigint) IS
    'A 13-digit e-ticket number: the airline''s 3-digit prefix, a 9-digit serial and a check digit, '
    'the serial modulo 7 as airlines compute it for their document numbers (docs/tsp.md).';

CREATE TABLE hublink.tsp_ticket (
    ticket_number  char(13) PRIMARY KEY CHECK (ticket_number ~ '^[0-9]{13}$'),
    booking_ref    char(6) NOT NULL REFERENCES hublink.tsp_booking,
    traveller      jsonb NOT NULL,
    traveller_type text NOT NULL REFERENCES hublink.tsp_traveller_type,
    amount         numeric(14,2) NOT NULL,
    status         text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'EXCHANGED', 'REFUNDED', 'VOID')),
    issued_at      timestamptz NOT NULL,
    replaces       char(13) REFERENCES hublink.tsp_ticket
);
COMMENT ON TABLE hublink.tsp_ticket IS 'E-tickets, one per traveller per booking, covering all its flights.';
COMMENT ON COLUMN hublink.tsp_ticket.ticket_number IS '13-digit e-ticket number (hublink.tsp_ticket_number).';
COMMENT ON COLUMN hublink.tsp_ticket.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_ticket.traveller IS 'travellerRef: {hoReturneeReference} or {escortNumber}.';
COMMENT ON COLUMN hublink.tsp_ticket.traveller_type IS 'Traveller type it is priced for.';
COMMENT ON COLUMN hublink.tsp_ticket.amount IS 'Fare paid for it, all flights.';
COMMENT ON COLUMN hublink.tsp_ticket.status IS 'OPEN; EXCHANGED by a reissue; REFUNDED on cancellation; VOID.';
COMMENT ON COLUMN hublink.tsp_ticket.issued_at IS 'When it was issued.';
COMMENT ON COLUMN hublink.tsp_ticket.replaces IS 'The ticket it was reissued from.';
CREATE INDEX tsp_ticket_booking ON hublink.tsp_ticket (booking_ref);
COMMENT ON INDEX hublink.tsp_ticket_booking IS 'A booking''s tickets (its purge; the foreign key check when a booking is deleted).';
CREATE INDEX tsp_ticket_replaces ON hublink.tsp_ticket (replaces);
COMMENT ON INDEX hublink.tsp_ticket_replaces IS 'The ticket reissued from one (the foreign key check when a ticket is deleted).';

CREATE TABLE hublink.tsp_passenger (
    booking_ref   char(6) NOT NULL REFERENCES hublink.tsp_booking,
    traveller     jsonb NOT NULL,
    escort_id     text,
    name          jsonb,
    special_meal  text,
    passenger_info jsonb,
    PRIMARY KEY (booking_ref, traveller)
);
COMMENT ON TABLE hublink.tsp_passenger IS
    'Passenger details for ticketing (escort names, API, meals). The PERSONAL DATA columns are '
    'sealed under the removal''s data key (74_crypto_seal.sql).';
COMMENT ON COLUMN hublink.tsp_passenger.booking_ref IS 'The booking.';
COMMENT ON COLUMN hublink.tsp_passenger.traveller IS 'travellerRef.';
COMMENT ON COLUMN hublink.tsp_passenger.escort_id IS 'The escort filling the position.';
COMMENT ON COLUMN hublink.tsp_passenger.name IS 'PERSONAL DATA: personName on the ticket.';
COMMENT ON COLUMN hublink.tsp_passenger.special_meal IS 'IATA meal code.';
COMMENT ON COLUMN hublink.tsp_passenger.passenger_info IS 'PERSONAL DATA: advancePassengerInfo or travelDocument as received.';

CREATE TABLE hublink.tsp_refund (
    refund_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_ref char(6) NOT NULL REFERENCES hublink.tsp_booking,
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0),
    fees        numeric(14,2) NOT NULL CHECK (fees >= 0),
    currency    char(3) NOT NULL,
    owed_since  timestamptz NOT NULL,
    received_at timestamptz,
    reason      text
);
COMMENT ON TABLE hublink.tsp_refund IS 'Refunds owed to the Home Office, open until marked received (hublink.tsp_refund_received).';
COMMENT ON COLUMN hublink.tsp_refund.refund_id IS 'Surrogate key.';
COMMENT ON COLUMN hublink.tsp_refund.booking_ref IS 'The booking cancelled.';
COMMENT ON COLUMN hublink.tsp_refund.amount IS 'Refund owed, after fees.';
COMMENT ON COLUMN hublink.tsp_refund.fees IS 'Cancellation fees kept.';
COMMENT ON COLUMN hublink.tsp_refund.currency IS 'Currency.';
COMMENT ON COLUMN hublink.tsp_refund.owed_since IS 'When the cancellation made it owed.';
COMMENT ON COLUMN hublink.tsp_refund.received_at IS 'When it was received; NULL while owed.';
COMMENT ON COLUMN hublink.tsp_refund.reason IS 'Cancellation reason code.';
CREATE INDEX tsp_refund_booking ON hublink.tsp_refund (booking_ref);
COMMENT ON INDEX hublink.tsp_refund_booking IS 'A booking''s refunds (its purge; the foreign key check when a booking is deleted).';

CREATE TABLE hublink.tsp_update (
    update_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_ref   text NOT NULL REFERENCES hublink.tsp_quote,
    created_at  timestamptz NOT NULL,
    cause       text NOT NULL,
    body        jsonb NOT NULL
);
COMMENT ON TABLE hublink.tsp_update IS
    'TravelUpdate bodies the engine produced (amendment outcomes, cancellations, flight events), '
    'for the message handlers to send.';
COMMENT ON COLUMN hublink.tsp_update.update_id IS 'Surrogate key, in production order.';
COMMENT ON COLUMN hublink.tsp_update.quote_ref IS 'travelQuoteReference of the booking.';
COMMENT ON COLUMN hublink.tsp_update.created_at IS 'When it was produced.';
COMMENT ON COLUMN hublink.tsp_update.cause IS 'AMENDMENT, CANCELLATION or FLIGHT_EVENT.';
COMMENT ON COLUMN hublink.tsp_update.body IS 'The TravelUpdate body.';
CREATE INDEX tsp_update_quote ON hublink.tsp_update (quote_ref);
COMMENT ON INDEX hublink.tsp_update_quote IS 'A quote''s updates (its purge; the foreign key check when a quote is deleted).';
