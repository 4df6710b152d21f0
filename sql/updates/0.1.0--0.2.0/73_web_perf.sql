-- 0.2.0: the web pages' database time (issue 16; docs/performance.md "The web pages").
-- The decrypting functions' row estimates: their default of 1000 rows, joined LATERAL per
-- returnee, lifted a message body's plan over jit_above_cost, and each quote request compiled
-- it (0.4-0.6 s) (41_domain.sql).
-- @function hublink.returnee_personal_of
-- @function hublink.travel_documents_of
-- @function hublink.risk_assessment_of
-- @function hublink.escort_personal_of
-- The person behind a call and their levels in PL/pgSQL, whose plans are kept for the session:
-- as SQL functions with SET they were planned again in every statement, several times for each
-- name a page decrypts (79_web_identity.sql, 90_access.sql).
-- @function hublink.acting_login
-- @function hublink.cleared_levels

-- "Escorted removals ask the ESP first, else travel" and the departure airports were the web
-- server's (an environment variable): now one Hub function and a reference table an admin
-- keeps (44_hub.sql; docs/hub.md "Departure airports").
CREATE TABLE hublink.departure_airport (
    airport_code text PRIMARY KEY CHECK (airport_code ~ '^[A-Z]{3}$'),
    name         text NOT NULL CHECK (pg_catalog.btrim(name) <> ''),
    active       boolean NOT NULL DEFAULT true
);
-- @comment TABLE hublink.departure_airport
-- @comment COLUMN hublink.departure_airport.airport_code
-- @comment COLUMN hublink.departure_airport.name
-- @comment COLUMN hublink.departure_airport.active
INSERT INTO hublink.departure_airport VALUES ('LHR', 'London Heathrow', true);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.departure_airport TO hublink_admin;
-- @function hublink.departure_airports
-- @function hublink.requote
-- @function hublink.request_quotes
REVOKE ALL ON FUNCTION hublink.request_quotes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.request_quotes(text) TO hublink_caseworker;

-- Row-level security of the tables below hublink.removal: a correlated probe of the row's
-- parent instead of reading every visible parent row per statement (91_access_policy.sql);
-- the call below makes the policies again.
-- @function hublink.apply_access_policy

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
