-- 0.2.0: alerts that reach people (issue 14 section 4; docs/alerts.md): alert channels as rows,
-- deliveries with idempotency keys sent by the worker with libcurl, operational checks against
-- thresholds as rows, availability reports; and the alert kind of the worker's broker token.
-- The three parts are wholly new in 0.2.0: the build copies them verbatim (@include).

-- @include sql/parts/82_alert_delivery.sql
-- @include sql/parts/83_alert_checks.sql
-- @include sql/parts/92_alert_access.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
