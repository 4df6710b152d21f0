-- 0.2.0: mi_sla_compliance at full size (issue 15 section 5; docs/performance.md "MI at full
-- size"). The requests of the months computed live are read once (a materialized CTE) for both
-- the live month rows and the live counts of response times, instead of once through each of
-- two views; the whole-history percentiles are grouped by the windows' bytewise keys, so their
-- rows are not sorted again. Same columns and rows (part 62 made the view; this replaces it
-- again with the current definition, which keeps its grants and comments).

-- @view hublink.mi_sla_compliance

-- The product's MI readers run without JIT: at full size compiling mi_sla_compliance's plan took
-- longer than running it.

-- @function hublink.export_mi

-- @function hublink.mi_report_html
