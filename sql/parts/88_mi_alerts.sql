-- Alerts for MI: per month, severity, kind and source. The alerts of protective monitoring
-- (source monitoring) are the security cases of Schedule R SEC 019 (attempted intrusions and
-- security cases by severity, for quarterly and annual reports); those of the workflow timers
-- (source timers) are missed deadlines. Counts only: no role names, no subjects.

CREATE VIEW hublink.mi_alerts AS
SELECT (date_trunc('month', a.raised_at AT TIME ZONE c.time_zone))::date AS month,
       a.severity,
       a.kind,
       k.source,
       count(*) AS alerts,
       count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE a.acknowledged_at IS NULL) AS open
  FROM hublink.alert a
  JOIN hublink.alert_kind k USING (kind)
  JOIN hublink.alert_severity s ON s.severity = a.severity
 CROSS JOIN hublink.reporting_config c
 GROUP BY 1, a.severity, s.rank, a.kind, k.source
 ORDER BY 1, s.rank DESC, a.kind;
COMMENT ON VIEW hublink.mi_alerts IS
    'Alerts per month (reporting time zone), severity, kind and source, with how many are '
    'acknowledged; source monitoring = the security cases of SEC 019, timers = missed deadlines '
    '(docs/mi.md). Counts only: no subjects, no role names.';
COMMENT ON COLUMN hublink.mi_alerts.month IS 'First day of the month the alerts were raised.';
COMMENT ON COLUMN hublink.mi_alerts.severity IS 'Severity (hublink.alert_severity).';
COMMENT ON COLUMN hublink.mi_alerts.kind IS 'Kind of alert (hublink.alert_kind).';
COMMENT ON COLUMN hublink.mi_alerts.source IS 'What raises that kind: monitoring, timers, worker.';
COMMENT ON COLUMN hublink.mi_alerts.alerts IS 'Alerts raised.';
COMMENT ON COLUMN hublink.mi_alerts.acknowledged IS 'Of them, acknowledged by a person.';
COMMENT ON COLUMN hublink.mi_alerts.open IS 'Of them, not acknowledged yet.';
