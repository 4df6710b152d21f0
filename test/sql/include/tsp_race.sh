# Shared by the TSP's two-session tests in test/sql/*.sh (sourced; bash).
#
# load_lhr_los_flight RULE_SET FLIGHT_NUMBER DATE: loads one BA flight LHR-LOS on DATE
# (11:10-18:25 local, 50 seats) with one refundable Y fare (ADULT 900.00, RETURNEE 850.00) under
# a full-refund rule set of its own, through the TSP's loader; exits non-zero on failure.
load_lhr_los_flight() {
    psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL
INSERT INTO hublink.tsp_country (iso2, iso3, name) VALUES ('GB', 'GBR', 'United Kingdom'), ('NG', 'NGA', 'Nigeria')
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airport VALUES
    ('LHR', 'London Heathrow', 'London', 'GB', 'Europe/London', 51.47, -0.46),
    ('LOS', 'Lagos Murtala Muhammed', 'Lagos', 'NG', 'Africa/Lagos', 6.58, 3.32)
ON CONFLICT DO NOTHING;
INSERT INTO hublink.tsp_airline VALUES ('BA', 'BAW', 'British Airways', '125') ON CONFLICT DO NOTHING;
SELECT hublink.tsp_stage_begin();
INSERT INTO pg_temp.tsp_stage_refund_rule (rule_set, description, from_hours_before, refund_percent, refund_amount) VALUES
    ('$1', 'Full', '0', '100', NULL);
INSERT INTO pg_temp.tsp_stage_flight (flight_ref, carrier, flight_number, origin, destination, departure_local,
    arrival_local, origin_terminal, destination_terminal, seats_total, seats_sold) VALUES
    ('A', 'BA', '$2', 'LHR', 'LOS', '$3 11:10', '$3 18:25', '5', NULL, '50', '0');
INSERT INTO pg_temp.tsp_stage_fare (flight_ref, fare_class, currency, refundable, refund_rule_set, change_fee,
    cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, prices) VALUES
    ('A', 'Y', 'GBP', 'true', '$1', '0.00', '10.00', '24', 'false', '23', 'ADULT=900.00;RETURNEE=850.00');
SELECT hublink.tsp_load_staged(3);
SQL
}

# wait_for SQL_CONDITION: true once the condition holds (polled every 0.05 s, at most 60 s);
# false on time-out. The tests order their sessions by what they see, never by sleeps.
wait_for() {
    local i
    for ((i = 0; i < 1200; i++)); do
        [ "$(psql -XAtq -c "SELECT $1")" = t ] && return 0
        sleep 0.05
    done
    return 1
}
