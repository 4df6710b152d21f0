-- try(q): the first column of the first row a query returns, as text; 'null' when it is NULL;
-- 'error SQLSTATE' when the query fails. For the tests that run a query as another role and
-- compare the outcome (79_web_identity.sql, 90_access.sql, 95_attacker_gaps.sql,
-- 95_web_sessions.sql). Created as public.<try_name>, callable by every role the test becomes:
--   \set try_name web_try
--   \ir include/try.sql
CREATE FUNCTION public.:"try_name"(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE q INTO r;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN 'error ' || SQLSTATE;
END $$;
