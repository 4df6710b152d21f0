-- Late part (issue 6 section 3; docs/security-audit.md "Which tables"): attaches the audit
-- triggers to every table that the parts before created and the rule of 71_audit_rows.sql
-- picks (hublink.audit_coverage). A part that sorts after this one, or an upgrade script,
-- that adds tables runs SELECT hublink.audit_attach() itself.
SELECT hublink.audit_attach();

-- The audit store keeps its own privileges whatever a generic grant loop of an earlier part
-- did: no role but the owner holds any privilege on the two tables, and UPDATE, DELETE and
-- TRUNCATE not even the owner. The feed is read through hublink.audit_feed (owner's rights).
DO $$
DECLARE
    t regclass;
    g record;
BEGIN
    FOREACH t IN ARRAY ARRAY['hublink.audit_log'::regclass, 'hublink.audit_chain'::regclass] LOOP
        FOR g IN SELECT DISTINCT a.grantee
                   FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
                  WHERE c.oid = t AND a.grantee <> c.relowner LOOP
            IF g.grantee = 0 THEN
                EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', t);
            ELSE
                EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %I', t, g.grantee::regrole::text);
            END IF;
        END LOOP;
        EXECUTE pg_catalog.format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM CURRENT_USER', t);
    END LOOP;
    ALTER VIEW hublink.audit_feed SET (security_invoker = false);
END;
$$;
