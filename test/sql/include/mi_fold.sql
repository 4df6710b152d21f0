-- pg_temp.fold(): one run of the MI rollup job inside the test's transaction. The job's horizon
-- (every transaction that may have written before it has ended) cannot pass inside one test
-- transaction, so it is moved to the transaction's snapshot first (87_mi_rollup.sql, 88_mi_erasure.sql).
CREATE FUNCTION pg_temp.fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE hublink.rollup_mi_state
       SET horizon_at = clock_timestamp(), horizon_xmax = pg_snapshot_xmin(pg_current_snapshot());
    PERFORM hublink.rollup_mi_fold();
END;
$$;
