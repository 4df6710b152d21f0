-- 0.2.0: a quote's segments in the quote's own row (issue 15 section 5; docs/performance.md
-- "Quotes, fifth pass"). tsp_quote_segment (a row per flight, each audited, with a primary key
-- and three foreign keys) becomes a view over tsp_quote.flight_ids and fare_ids, so that its
-- readers (booking, purge, the demo) read the same rows; statement triggers replace the
-- foreign keys. One audited row per quote instead of two or three.

ALTER TABLE hublink.tsp_quote ADD COLUMN flight_ids bigint[], ADD COLUMN fare_ids bigint[];

-- Every quote 0.1.0 stored has one or two segments S1, S2 in travel order (its tsp_quote wrote
-- them so); anything else stops the update before it changes a row, rather than losing one.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT q.quote_ref INTO bad
      FROM hublink.tsp_quote q
      LEFT JOIN LATERAL (SELECT count(*) AS n,
                                bool_and(s.segment_id = 'S' || s.seq AND s.seq BETWEEN 1 AND 2) AS ok,
                                count(DISTINCT s.seq) AS seqs, max(s.seq) AS top
                           FROM hublink.tsp_quote_segment s WHERE s.quote_ref = q.quote_ref) s ON true
     WHERE s.n NOT BETWEEN 1 AND 2 OR NOT s.ok OR s.seqs <> s.n OR s.top <> s.n
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'quote % has segments that the compact form cannot hold', bad
            USING ERRCODE = 'data_exception',
                  DETAIL = 'A quote must have one or two segments S1 and S2 in travel order; nothing was changed.',
                  HINT = 'Delete or repair that quote''s rows in hublink.tsp_quote_segment, then update again.';
    END IF;
END;
$$;

UPDATE hublink.tsp_quote q
   SET flight_ids = s.flights, fare_ids = s.fares
  FROM (SELECT s.quote_ref, array_agg(s.flight_id ORDER BY s.seq) AS flights, array_agg(s.fare_id ORDER BY s.seq) AS fares
          FROM hublink.tsp_quote_segment s GROUP BY s.quote_ref) s
 WHERE s.quote_ref = q.quote_ref;

ALTER TABLE hublink.tsp_quote ALTER COLUMN flight_ids SET NOT NULL, ALTER COLUMN fare_ids SET NOT NULL,
    ADD CONSTRAINT tsp_quote_segments_shape CHECK (
        array_ndims(flight_ids) = 1 AND array_lower(flight_ids, 1) = 1
        AND cardinality(flight_ids) BETWEEN 1 AND 2
        AND array_ndims(fare_ids) = 1 AND array_lower(fare_ids, 1) = 1
        AND cardinality(fare_ids) = cardinality(flight_ids)
        AND array_position(flight_ids, NULL) IS NULL AND array_position(fare_ids, NULL) IS NULL);
-- @comment COLUMN hublink.tsp_quote.flight_ids
-- @comment COLUMN hublink.tsp_quote.fare_ids
COMMENT ON CONSTRAINT tsp_quote_segments_shape ON hublink.tsp_quote IS
    'flight_ids and fare_ids: one dimension from 1, one or two segments, as many fares as flights, no NULL.';

-- Out of the extension first: that also takes it out of the extension's list of tables that
-- pg_dump dumps (0.1.0 registered it), which a plain DROP TABLE leaves naming a table that is gone.
ALTER EXTENSION hublink DROP TABLE hublink.tsp_quote_segment;
DROP TABLE hublink.tsp_quote_segment;

-- @function hublink.tsp_quote_check_segments
-- @trigger hublink.tsp_quote.tsp_quote_check_segments_insert
-- @trigger hublink.tsp_quote.tsp_quote_check_segments_update

-- The rows just migrated pass the check the trigger makes from now on.
DO $$
BEGIN
    IF EXISTS (SELECT FROM hublink.tsp_quote q
                CROSS JOIN LATERAL unnest(q.flight_ids, q.fare_ids) s(flight_id, fare_id)
                WHERE NOT EXISTS (SELECT FROM hublink.tsp_fare fa WHERE fa.fare_id = s.fare_id AND fa.flight_id = s.flight_id)) THEN
        RAISE EXCEPTION 'a stored quote names a fare that is not a fare of its flight'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'tsp_quote_segment held a fare of another flight; nothing was changed.',
                  HINT = 'Repair the quote''s segments in 0.1.0, then update again.';
    END IF;
END;
$$;

-- @function hublink.tsp_quoted_keep
-- @trigger hublink.tsp_fare.tsp_quoted_keep_delete
-- @trigger hublink.tsp_fare.tsp_quoted_keep_update

-- @view hublink.tsp_quote_segment
-- @comment COLUMN hublink.tsp_quote_segment.quote_ref
-- @comment COLUMN hublink.tsp_quote_segment.segment_id
-- @comment COLUMN hublink.tsp_quote_segment.seq
-- @comment COLUMN hublink.tsp_quote_segment.flight_id
-- @comment COLUMN hublink.tsp_quote_segment.fare_id

-- tsp_quote and tsp_book (current definitions, parts 66 and earlier) already write and read
-- the new form.
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
