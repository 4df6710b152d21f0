-- 0.2.0: mi_sla_compliance at full size (issue 15 section 5; docs/performance.md "MI at full
-- size"). The requests of the months computed live are read once (a materialized CTE) for both
-- the live month rows and the live counts of response times, instead of once through each of
-- two views; the whole-history percentiles are grouped by the windows' bytewise keys, so their
-- rows are not sorted again. Same columns and rows. Part 62 already emits the current
-- definition (its @view and @function lines): mi_sla_compliance_rows(), which runs with
-- jit = off so that a reporting tool reading the view with PostgreSQL's defaults is not slowed
-- by JIT compilation, and the view as a call of it, which keeps its grants and comments.

-- The product's MI readers run without JIT: at full size compiling mi_sla_compliance's plan took
-- longer than running it.

-- @function hublink.export_mi

-- (mi_report_html's current definition, jit = off included, is already emitted by part 20.)

