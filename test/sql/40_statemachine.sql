-- The state machine's SQL face (issue 4, section 2): hublink.next_state and friends.
BEGIN;
SELECT plan(24);

SELECT is(hublink.next_state('escort', 'none', 'EscortQuoteRequest', 'out', 'hub'), 'quote_requested',
          'hub sends an escort quote request');
SELECT is(hublink.next_state('escort', 'none', 'EscortQuoteRequest', 'in', 'esp'), 'quote_requested',
          'the esp receives it and moves the same way');
SELECT is(hublink.next_state('removal', 'booking', 'BookingsConfirmed', 'local', 'hub'), 'booked',
          'the hub confirms a removal');
SELECT is(hublink.next_state('travel', 'booked', 'TravelUpdate.flight-change', 'in', 'hub'), 'booked',
          'a flight change keeps the travel booking booked');

SELECT throws_ok($$SELECT hublink.next_state('travel', 'cancelled', 'TravelAmendment', 'in', 'tsp')$$,
                 'HL001', NULL, 'an amendment after cancellation is impossible (HL001)');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'none', 'EscortBookingRequest', 'in', 'esp')$$,
                 'HL001', NULL, 'a booking for a quote never issued is impossible (HL001)');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'quote_requested', 'EscortQuoteResponse', 'in', 'tsp')$$,
                 'HL001', 'party tsp does not track the escort booking',
                 'a response from the wrong party is impossible, with the reason');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'booking_requested', 'EscortUpdate.delayed', 'in', 'hub')$$,
                 'HL002', NULL, 'an update before the booking response is premature (HL002)');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'none', 'EscortCancellation', 'in', 'esp')$$,
                 'HL002', NULL, 'a cancellation before its quote request is premature');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'none', 'EscortUpdate', 'in', 'hub')$$,
                 '22023', NULL, 'a message type with variants needs its variant');
SELECT throws_ok($$SELECT hublink.next_state('convoy', 'none', 'EscortQuoteRequest', 'in', 'hub')$$,
                 '22023', 'unknown state machine machine "convoy"', 'an unknown machine is refused');

SELECT is((SELECT (c.verdict, c.next_state) FROM hublink.check_transition('escort', 'quoted',
              'EscortBookingRequest', 'out', 'hub') c)::text, '(allowed,booking_requested)',
          'check_transition: allowed, with the next state');
SELECT is((SELECT c.verdict FROM hublink.check_transition('escort', 'cancelled', 'EscortAmendment',
              'out', 'hub') c), 'forbidden', 'check_transition: forbidden without raising');

-- hublink.state_machine() against the golden list written by hand from Appendix A/B
-- (test/unit/statemachine/golden_transitions.h, loaded by test/sql/load-fixtures)
SELECT cmp_ok((SELECT count(*) FROM hublink_test.golden_transition), '>=', 200::bigint,
              'the golden list of allowed transitions is loaded');
SELECT set_eq($$SELECT machine, from_state, event, to_state FROM hublink.state_machine()$$,
              $$SELECT machine, from_state, event, to_state FROM hublink_test.golden_transition$$,
              'the table lists exactly the allowed transitions of the golden list');
SELECT is((SELECT count(*) FROM hublink.state_machine()),
          (SELECT count(*) FROM (SELECT DISTINCT machine, from_state, event
                                   FROM hublink.state_machine()) d),
          'each (machine, from state, event) is listed once');
SELECT is((SELECT count(*)::int FROM hublink.state_machine_events()), 30, 'thirty events');
SELECT is((SELECT count(DISTINCT message_type)::int FROM hublink.state_machine_events()), 14,
          'every one of the fourteen message types is an event');
SELECT is_empty($$SELECT t.message_type FROM hublink.message_type t
                  WHERE t.queue IS NOT NULL AND t.appendix_section LIKE '4.%'
                  EXCEPT SELECT e.message_type FROM hublink.state_machine_events() e$$,
                'the message types of hublink.message_type and of the machine agree');
SELECT is_empty($$SELECT e.event FROM hublink.state_machine_events() e
                   JOIN hublink.message_type t USING (message_type)
                  WHERE (SELECT p.party FROM hublink.party p WHERE p.party = e.sender) <> t.sender_party
                     OR e.receiver <> t.receiver_party$$,
                'the senders and receivers of the machine are those of hublink.message_type');
SELECT is((SELECT string_agg(state, ',' ORDER BY state) FROM hublink.state_machine_states()
            WHERE machine = 'escort' AND terminal), 'cancelled,completed,unsuccessful',
          'the final states of an escort booking');

-- Every shipped example maps to an event of the machine.
SELECT is_empty($$SELECT x.name FROM hublink_test.example x
                  WHERE x.valid AND x.name <> 'error.json' AND x.name NOT LIKE '%-reference-list-update.json'
                    AND hublink.message_event(x.body::jsonb) NOT IN
                        (SELECT e.event FROM hublink.state_machine_events() e)$$,
                'every shipped example is an event of the machine');
SELECT is(hublink.message_event('{"messageType": "EscortUpdate", "body": {"escortQuoteReference": "X",
            "amendmentOutcome": {"accepted": true}, "escortChanges": [{}]}}'),
          'EscortUpdate.amendment-outcome', 'an update is classified by its most important section');
SELECT is(hublink.message_event('{"messageType": "TravelQuoteResponse", "body": {"quotes": []}}'),
          'TravelQuoteResponse.no-quote', 'an empty quote list is a no-quote');

SELECT * FROM finish();
ROLLBACK;
