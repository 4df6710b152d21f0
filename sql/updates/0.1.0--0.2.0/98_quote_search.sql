-- 0.2.0: the itinerary search reads each flight's fares from one row (issue 15 section 5;
-- docs/performance.md "Quotes, sixth pass"; docs/tsp.md "The fares of a flight, in one row").
-- tsp_flight_fares is derived from tsp_fare and tsp_fare_price and kept equal to them by
-- triggers; the search reads it instead of one index look-up per fare and per price list.

CREATE TYPE hublink.tsp_fare_brief AS (
    fare_id bigint, currency char(3), refundable boolean, hand_baggage_only boolean, available boolean,
    refund_rule_set text, cancellation_fee numeric(14,2), price_types text[], price_amounts numeric(14,2)[]);
-- @comment TYPE hublink.tsp_fare_brief

CREATE TABLE hublink.tsp_flight_fares (
    flight_id bigint PRIMARY KEY REFERENCES hublink.tsp_flight ON DELETE CASCADE,
    fares     hublink.tsp_fare_brief[] NOT NULL
);
-- @comment TABLE hublink.tsp_flight_fares
-- @comment COLUMN hublink.tsp_flight_fares.flight_id
-- @comment COLUMN hublink.tsp_flight_fares.fares
INSERT INTO hublink.audit_exclusion VALUES
    ('tsp_flight_fares', 'Derived from tsp_fare and tsp_fare_price (both audited) by triggers, for the itinerary '
                         'search: auditing it would record every fare change twice.');

-- @function hublink.tsp_flight_fares_of
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_of(bigint[]) FROM PUBLIC;
-- @function hublink.tsp_flight_fares_refresh
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_refresh(bigint[]) FROM PUBLIC;
-- @function hublink.tsp_flight_fares_derive
-- @function hublink.tsp_flight_fares_follow

-- The rows of the schedule 0.1.0 holds, in one statement, before the triggers exist.
INSERT INTO hublink.tsp_flight_fares (flight_id, fares)
SELECT c.flight_id, c.fares FROM hublink.tsp_flight_fares_of(ARRAY(SELECT DISTINCT fa.flight_id FROM hublink.tsp_fare fa)) c;

-- @trigger hublink.tsp_flight_fares.tsp_flight_fares_derive
-- @trigger hublink.tsp_fare.tsp_flight_fares_fare_insert
-- @trigger hublink.tsp_fare.tsp_flight_fares_fare_update
-- @trigger hublink.tsp_fare.tsp_flight_fares_fare_delete
-- @trigger hublink.tsp_fare.tsp_flight_fares_fare_truncate
-- @trigger hublink.tsp_fare_price.tsp_flight_fares_price_insert
-- @trigger hublink.tsp_fare_price.tsp_flight_fares_price_update
-- @trigger hublink.tsp_fare_price.tsp_flight_fares_price_delete
-- @trigger hublink.tsp_fare_price.tsp_flight_fares_price_truncate
-- @trigger hublink.tsp_flight_fares.tsp_flight_fares_self_delete
-- @trigger hublink.tsp_flight_fares.tsp_flight_fares_self_truncate

-- The search reads it.
-- @function hublink.tsp_itineraries

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
SELECT hublink.backup_register();

-- A quote never priced from a stale derived row (docs/tsp.md "The fares of a flight, in one
-- row"): tsp_quote leaves out an itinerary whose price is not the sum of its per-traveller
-- costs from tsp_fare_price, and raises fare_row_drift.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('fare_row_drift', 'critical', 'tsp',
     'The itinerary search priced an itinerary from a row of hublink.tsp_flight_fares that disagrees '
     'with tsp_fare and tsp_fare_price (detail: flights); hublink.tsp_quote left it out of its answer. '
     'Only the extension''s owner can write that table past its triggers (replica mode, or from inside '
     'another trigger): find who did, then rebuild the rows with hublink.tsp_flight_fares_refresh '
     '(docs/tsp.md "The fares of a flight, in one row").');
-- @function hublink.tsp_flight_fares_drift_alert
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_drift_alert(bigint[]) FROM PUBLIC;
-- @function hublink.tsp_quote
SELECT hublink.apply_access_policy();
