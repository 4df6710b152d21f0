-- Five fares on the flights of lagos_schedule.sql (included first, with its variables), loaded,
-- for the tests of the derived fare rows (55_tsp_flight_fares.sql, 55_tsp_flight_fares_drift.sql):
-- BA 75 flexible (ADULT 900, RETURNEE 850, a 10.00 cancellation fee) and non-refundable hand
-- baggage only (ADULT 700); KL 1008 half refundable (ADULT 100, ESCORT 90); KL 587 flexible
-- (ADULT 300) and non-refundable (ADULT 250). The loader's counts are left in pg_temp.loaded for
-- the test to check; pg_temp.flight('BA75') and pg_temp.fare('BA75', 'Y') name the rows.
INSERT INTO pg_temp.tsp_stage_fare (flight_ref, fare_class, currency, refundable, refund_rule_set, change_fee,
    cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, prices) VALUES
    ('A', 'Y', 'GBP', 'true', :'schedule_rules' || '_FLEX', '0.00', '10.00', '24', 'false', '23', 'ADULT=900.00;RETURNEE=850.00'),
    ('A', 'N', 'GBP', 'false', :'schedule_rules' || '_NONREF', '0.00', '0.00', '24', 'true', NULL, 'ADULT=700.00'),
    ('C', 'Y', 'GBP', 'true', :'schedule_rules' || '_SEMI', '0.00', '0.00', '24', 'false', '23', 'ADULT=100.00;ESCORT=90.00'),
    ('D', 'Y', 'GBP', 'true', :'schedule_rules' || '_FLEX', '0.00', '0.00', '24', 'false', '23', 'ADULT=300.00'),
    ('D', 'N', 'GBP', 'false', :'schedule_rules' || '_NONREF', '0.00', '0.00', '24', 'false', '23', 'ADULT=250.00');
CREATE TEMP TABLE loaded AS SELECT row(r.*)::text AS counts FROM hublink.tsp_load_staged(3) r;
CREATE TEMP TABLE fl AS
SELECT f.flight_id, f.carrier || f.flight_number AS name FROM hublink.tsp_flight f
 WHERE f.departs_at::date = :'schedule_day'
   AND (f.carrier, f.flight_number) IN (('BA', '75'), ('BA', '77'), ('KL', '1008'), ('KL', '587'));
CREATE FUNCTION pg_temp.flight(name text) RETURNS bigint LANGUAGE sql AS $$ SELECT flight_id FROM fl WHERE fl.name = $1 $$;
CREATE FUNCTION pg_temp.fare(flight text, class text) RETURNS bigint LANGUAGE sql AS $$
    SELECT fa.fare_id FROM hublink.tsp_fare fa WHERE fa.flight_id = pg_temp.flight($1) AND fa.fare_class = $2 $$;
