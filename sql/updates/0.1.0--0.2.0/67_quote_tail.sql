-- 0.2.0: the quote engine's seventh pass (issue 15 section 5; docs/performance.md "Quotes,
-- seventh pass"). tsp_quote reads its settings in one query, the destination's TIG cost limits
-- once per request instead of once per candidate, and each traveller's fare amounts once instead
-- of three times. Same arguments, same answers, same rows.

-- @function hublink.tsp_quote
