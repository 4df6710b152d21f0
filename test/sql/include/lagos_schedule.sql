-- A small TSP world of its own for the quote tests (53_tsp_quote_compact.sql,
-- 55_tsp_flight_fares.sql, 55_tsp_flight_fares_drift.sql): London to Lagos, direct (BA 75) or via
-- Amsterdam (KL 1008 + KL 587), staged for hublink.tsp_load_staged, which the test calls after
-- staging its own fares. Included with \ir inside the test's transaction, after:
--   \set schedule_day 2026-06-09    the flights' date: each test its own, so no quote of one
--                                   test meets another's flights
--   \set schedule_rules F           the refund rule sets' prefix: F_FLEX (100 %), F_SEMI (50 %),
--                                   F_NONREF (0 %)
--   \set schedule_spare true        also BA 77 (flight_ref B), four hours after BA 75 (false: not)
INSERT INTO hublink.tsp_country (iso2, iso3, name) VALUES
    ('GB', 'GBR', 'United Kingdom'), ('NL', 'NLD', 'Netherlands'), ('NG', 'NGA', 'Nigeria')
ON CONFLICT (iso2) DO UPDATE SET iso3 = excluded.iso3;
INSERT INTO hublink.tsp_airport VALUES
    ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('AMS', 'Amsterdam Schiphol', 'Amsterdam', 'NL', 'Europe/Amsterdam', 52.31, 4.76),
    ('LOS', 'Lagos Murtala Muhammed', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32)
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125'), ('KL', 'KLM', 'KLM', '074')
ON CONFLICT (iata) DO UPDATE SET ticket_prefix = excluded.ticket_prefix;
SELECT hublink.tsp_stage_begin();
INSERT INTO pg_temp.tsp_stage_refund_rule (rule_set, description, from_hours_before, refund_percent, refund_amount) VALUES
    (:'schedule_rules' || '_FLEX', 'Full', '0', '100', NULL), (:'schedule_rules' || '_SEMI', 'Half', '0', '50', NULL),
    (:'schedule_rules' || '_NONREF', 'Nothing', '0', '0', NULL);
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, origin_terminal, destination_terminal, seats_total, seats_sold) VALUES
    ('A', 'BA', '75', 'LHR', 'LOS', :'schedule_day' || ' 11:10', :'schedule_day' || ' 18:25', '5', NULL, '50', '0'),
    ('C', 'KL', '1008', 'LHR', 'AMS', :'schedule_day' || ' 07:00', :'schedule_day' || ' 09:15', '4', NULL, '50', '0'),
    ('D', 'KL', '587', 'AMS', 'LOS', :'schedule_day' || ' 12:05', :'schedule_day' || ' 18:20', NULL, NULL, '50', '0');
\if :schedule_spare
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, origin_terminal, destination_terminal, seats_total, seats_sold) VALUES
    ('B', 'BA', '77', 'LHR', 'LOS', :'schedule_day' || ' 15:10', :'schedule_day' || ' 22:25', '5', NULL, '50', '0');
\endif
