-- The quote benchmarks' requests, drawn the same way by test/bench/quote/run, phases and
-- responses (psql variables :requests and :seed): a UK origin with flights, a destination
-- reachable from it directly or with one connection, a day of the schedule's first week, 1-2
-- returnees and 0-3 escorts, each drawn per request.
SELECT setseed(:seed / 1000000.0) \g /dev/null
CREATE TEMP TABLE origin AS
    SELECT DISTINCT f.origin FROM hublink.tsp_flight f JOIN hublink.tsp_airport a ON a.iata = f.origin WHERE a.country = 'GB';
CREATE TEMP TABLE dest AS
    SELECT DISTINCT o.origin, f2.destination
      FROM origin o JOIN hublink.tsp_flight f1 ON f1.origin = o.origin
      JOIN (SELECT DISTINCT origin, destination FROM hublink.tsp_flight) f2 ON f2.origin = f1.destination
     WHERE f2.destination <> o.origin
     ORDER BY 1, 2;  -- a fixed order for random() to draw from: the same requests in every database
-- floor(random() * 7): every day of the week equally (round(random() * 6) gave days 0 and 6 half
-- the weight, in the first run of 8 December 2026).
-- "WHERE i > 0" ties each draw to its request: an uncorrelated subquery runs once, and until
-- 8 December 2026 every request had the same day and party (docs/performance.md "Quotes,
-- sixth pass").
CREATE TEMP TABLE request AS
    SELECT i, d.origin, d.destination, day, returnees, escorts
      FROM generate_series(1, :requests) i
      CROSS JOIN LATERAL (SELECT * FROM dest WHERE i > 0 ORDER BY random() LIMIT 1) d
      CROSS JOIN LATERAL (SELECT (SELECT min(departs_at)::date FROM hublink.tsp_flight) + floor(random() * 7)::int AS day,
                                 1 + (random() < 0.3)::int AS returnees, (random() * 3)::int AS escorts
                           WHERE i > 0) r;
