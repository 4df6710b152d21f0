-- 0.1.0 -> 0.2.0, issue 17 (the soak; docs/simulation.md "Soak"), two things it found.
--
-- 1. The purge of a removal's
-- retention class `removal` also deletes a provider engine's own rows of it (the TSP's quotes,
-- bookings, tickets, passengers, refunds and updates; the ESP's plans, quotes, bookings, duties
-- and updates), keyed by the removal's reference and cascading from nothing: before, they were
-- kept for ever. Same signature and result type (jsonb, with two more counts).
-- @function hublink.purge_removal

-- 2. Every segment of a travel quote by an index: the ranking's tie-break (removal_quotes) and
-- the cascade from travel_quote scanned the whole itinerary_segment table once per quote.
CREATE INDEX itinerary_segment_travel_quote ON hublink.itinerary_segment (travel_quote_id);
-- @comment INDEX hublink.itinerary_segment_travel_quote
