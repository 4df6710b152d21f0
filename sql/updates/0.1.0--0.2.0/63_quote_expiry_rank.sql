-- 0.2.0: quote_expiry ranks a removal's quotes once per statement, not once per quote (issue 15
-- section 1, issue 17 section 3; docs/performance.md "Quote expiry: one ranking per response").
-- The row trigger ran hublink.removal_quotes for every quote a TravelQuoteResponse inserted (40
-- rankings for 40 quotes); a statement trigger with a transition table ranks each removal once,
-- and the handler inserts a response's quotes, costs and segments in one statement. The
-- itinerary trigger that re-anchors timers at a flight change ran once per segment inserted (a
-- query for the quote's first departure each time): once per statement too. And the ranking
-- itself computed the Hub's cancellation estimate twice per quote (80 times for 40 quotes), not
-- once as its comment said: a MATERIALIZED CTE now (same signature and rows; below).

DROP TRIGGER timer_on_travel_quote ON hublink.travel_quote;
-- @function hublink.timer_on_travel_quote
-- @trigger hublink.travel_quote.timer_on_travel_quote

-- hublink.record_message_rows (one statement per response) comes in its current form with
-- update part 20, which already names it.

DROP TRIGGER timer_on_itinerary ON hublink.itinerary_segment;
-- @function hublink.timer_on_itinerary
-- @trigger hublink.itinerary_segment.timer_on_itinerary_insert
-- @trigger hublink.itinerary_segment.timer_on_itinerary_update

-- hublink.removal_quotes: its definition (one estimate per ranking) comes with update part 85,
-- which creates the estimate's tables and names the function.
