-- Integers from messages (issue 14 section 3): JSON Schema counts 1.0, -0.0, 1e2 and even
-- 1.0e-400 (which a double rounds to 0) as integers, and the validator accepts them where a
-- schema says "integer". A handler that read them with (x ->> 'k')::int would fail on the text
-- "1.0" after the message was accepted. Every handler reads an integer through this one helper,
-- which reads exactly what the validator accepted.

CREATE FUNCTION hublink.json_integer(v jsonb) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n numeric;
    d double precision;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'number' THEN
        RAISE EXCEPTION 'expected an integer, got a JSON %', jsonb_typeof(v)
            USING ERRCODE = 'invalid_text_representation';
    END IF;
    n := v::numeric;
    IF n = trunc(n) THEN
        RETURN n::bigint; -- numeric_value_out_of_range beyond bigint
    END IF;
    -- Not integral as a decimal: the validator reads JSON numbers as doubles, so a value a
    -- double rounds to an integer (1.0e-400 is 0) is an integer to it, and must be to us.
    BEGIN
        d := n::double precision;
    EXCEPTION WHEN numeric_value_out_of_range THEN
        d := 0; -- too small for a double: it rounds to zero
    END;
    IF d = trunc(d) THEN
        RETURN d::bigint;
    END IF;
    RAISE EXCEPTION 'expected an integer, got %', v::text
        USING ERRCODE = 'invalid_text_representation';
END;
$$;
COMMENT ON FUNCTION hublink.json_integer(jsonb) IS
    'A JSON integer as every spelling JSON Schema accepts (1, 1.0, -0.0, 1e2, 1.0e-400), for the '
    'handlers: NULL for a missing value or JSON null; invalid_text_representation for a value that '
    'is not an integer, numeric_value_out_of_range beyond bigint.';
