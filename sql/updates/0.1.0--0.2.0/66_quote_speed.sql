-- 0.2.0: the quote engine's third pass (issue 15 section 5; docs/performance.md "Quotes, third
-- pass"). The itinerary search and the quote's JSON helpers become PL/pgSQL, whose plans are kept
-- for the session (a SQL function that pins search_path is parsed and planned again at every
-- call); tsp_quote writes a request's quotes and their segments with one INSERT per table.
-- Same arguments, same results, same rows.

-- @function hublink.tsp_quote

-- @function hublink.tsp_itineraries

-- @function hublink.tsp_segment_json

-- @function hublink.tsp_money

-- @function hublink.tsp_conditions_text
