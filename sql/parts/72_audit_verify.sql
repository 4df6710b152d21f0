-- Checking and reading the audit trail (issue 6 section 3; NFR 0002, NFR 0020, SEC 022;
-- docs/security-audit.md): hublink.verify_audit() recomputes the hash chain and names the
-- first link where it breaks; hublink.audit_feed and hublink.audit_since(cursor) give a
-- protective-monitoring tool the trail as JSON lines in commit order, with stable field names
-- and no personal data. The role hublink_audit_reader is what such a tool logs in as.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_audit_reader') THEN
        CREATE ROLE hublink_audit_reader NOLOGIN;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA hublink TO hublink_audit_reader;

CREATE FUNCTION hublink.verify_audit(p_anchor_seq bigint DEFAULT NULL, p_anchor_hash bytea DEFAULT NULL,
                                     OUT ok boolean, OUT links bigint, OUT broken_seq bigint,
                                     OUT broken_audit_id bigint, OUT problem text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r        record;
    expected bigint := 1;
    prev     bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    horizon  xid8 := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());
BEGIN
    ok := false;
    links := 0;
    FOR r IN SELECT c.seq, c.audit_id, c.prev_hash, c.row_hash, l AS logrow, (l.audit_id IS NULL) AS gone
               FROM hublink.audit_chain c LEFT JOIN hublink.audit_log l ON l.audit_id = c.audit_id
              ORDER BY c.seq LOOP
        broken_seq := r.seq;
        broken_audit_id := r.audit_id;
        IF r.seq <> expected THEN
            broken_seq := expected;
            problem := pg_catalog.format('link %s is missing (the chain goes on at link %s)', expected, r.seq);
            RETURN;
        ELSIF r.prev_hash <> prev THEN
            problem := 'its prev_hash is not the row_hash of the link before: a link was removed, replaced or edited';
            RETURN;
        ELSIF r.gone THEN
            problem := 'its audit row is missing: it was deleted';
            RETURN;
        ELSIF pg_catalog.sha256(prev || pg_catalog.convert_to(hublink.audit_canonical(r.logrow), 'UTF8')) <> r.row_hash THEN
            problem := 'its audit row does not match its hash: the row or the link was edited';
            RETURN;
        ELSIF r.seq = p_anchor_seq AND r.row_hash <> p_anchor_hash THEN
            problem := 'its row_hash is not the anchor given: the chain was rewritten from here or before';
            RETURN;
        END IF;
        prev := r.row_hash;
        expected := expected + 1;
        links := links + 1;
    END LOOP;
    broken_seq := NULL;
    broken_audit_id := NULL;
    IF p_anchor_seq IS NOT NULL AND p_anchor_seq >= expected THEN
        broken_seq := expected;
        problem := pg_catalog.format('the chain ends at link %s, before the anchor link %s: links were removed from its end',
                                     expected - 1, p_anchor_seq);
        RETURN;
    END IF;
    -- Rows of finished transactions that were never sealed were written with triggers off.
    SELECT l.audit_id INTO broken_audit_id FROM hublink.audit_log l
     WHERE l.xact_id < horizon AND NOT EXISTS (SELECT FROM hublink.audit_chain c WHERE c.audit_id = l.audit_id)
     ORDER BY l.audit_id LIMIT 1;
    IF FOUND THEN
        problem := 'an audit row of a finished transaction is not in the chain: it was inserted with the triggers disabled';
        RETURN;
    END IF;
    ok := true;
END;
$$;
COMMENT ON FUNCTION hublink.verify_audit(bigint, bytea) IS
    'Recomputes the audit hash chain from link 1 and reports ok, or the first broken link '
    '(broken_seq, broken_audit_id) and the problem: a missing link, a prev_hash that does not '
    'match, a deleted or edited audit row, an unsealed row. An anchor (a seq and the row_hash '
    'a monitoring tool read from the feed) also detects links cut from the end or a chain '
    'rewritten from the start. Reads the whole chain: O(rows).';
REVOKE ALL ON FUNCTION hublink.verify_audit(bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.verify_audit(bigint, bytea) TO hublink_audit_reader, hublink_admin;

CREATE VIEW hublink.audit_feed AS
SELECT c.seq,
       pg_catalog.jsonb_build_object(
           'feed', 'hublink.audit.v1',
           'database', pg_catalog.current_database(),
           'party', nullif(pg_catalog.current_setting('hublink.party', true), ''),
           'seq', c.seq,
           'audit_id', l.audit_id,
           'at', pg_catalog.to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'session_user', l.session_user_name,
           'role', l.role_name,
           'client_addr', pg_catalog.host(l.client_addr),
           'backend_pid', l.backend_pid,
           'action', l.action,
           'table', l.table_name,
           'removal_id', l.removal_id,
           'removal_reference', l.removal_reference,
           'row_key', l.row_key,
           'changed_columns', pg_catalog.to_jsonb(l.changed_columns),
           'before_sha256', pg_catalog.encode(l.before_digest, 'hex'),
           'after_sha256', pg_catalog.encode(l.after_digest, 'hex'),
           'detail', l.detail,
           'prev_hash', pg_catalog.encode(c.prev_hash, 'hex'),
           'row_hash', pg_catalog.encode(c.row_hash, 'hex')) AS line
  FROM hublink.audit_chain c JOIN hublink.audit_log l ON l.audit_id = c.audit_id;
COMMENT ON VIEW hublink.audit_feed IS
    'The audit trail for a protective-monitoring tool (NFR 0002): one JSON object per sealed '
    'audit row, in commit order (seq). Field names are stable (docs/security-audit.md "Feed"); '
    'no personal data. Read with the owner''s rights: granted to hublink_audit_reader.';
COMMENT ON COLUMN hublink.audit_feed.seq IS 'Position in the chain: the cursor.';
COMMENT ON COLUMN hublink.audit_feed.line IS 'The audit row as a JSON object (feed hublink.audit.v1).';
REVOKE ALL ON hublink.audit_feed FROM PUBLIC;
GRANT SELECT ON hublink.audit_feed TO hublink_audit_reader;

CREATE FUNCTION hublink.audit_since(p_cursor bigint, p_limit integer DEFAULT 10000) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT f.line::text FROM hublink.audit_feed f
     WHERE f.seq > coalesce(p_cursor, 0) ORDER BY f.seq LIMIT p_limit;
$$;
COMMENT ON FUNCTION hublink.audit_since(bigint, integer) IS
    'JSON lines for a monitoring tool: the audit rows sealed after link p_cursor (0 for all), '
    'oldest first, at most p_limit; the next cursor is the seq of the last line. Rows appear in '
    'commit order, so a cursor never skips a row that commits late.';
REVOKE ALL ON FUNCTION hublink.audit_since(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.audit_since(bigint, integer) TO hublink_audit_reader;
