-- 0.2.0: the web interface's speed and stateless sessions (issue 16, docs/web.md "Figures",
-- "Sessions"). hublink.find_removals pages the cases list before it decrypts names (44_hub.sql);
-- the sessions live in hublink.web_session behind SECURITY DEFINER functions for the web login
-- (94_web_sessions.sql, wholly new: included verbatim).

-- @function hublink.find_removals
-- The clearance check behind every decryption, ten times cheaper (90_access.sql).
-- @function hublink.removal_access_allowed
CREATE INDEX removal_created ON hublink.removal (created_at DESC, removal_id DESC);
-- @comment INDEX hublink.removal_created

-- The sessions' part is wholly new: copied verbatim.
-- @include sql/parts/94_web_sessions.sql

-- hublink.monitoring_alerts (alerts of no removal for admins) is in 92_alert_access.sql, which
-- 80_alert_delivery_and_tokens.sql includes whole.

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
