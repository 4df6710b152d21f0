-- 0.2.0: the web interface's later case features (issue 16, docs/web.md "Changing a case's
-- sensitivity"). A removal's sensitivity changed with a reason, a confirmation before hiding it
-- from oneself, each change kept and alerted (96_case_sensitivity.sql, wholly new: included
-- verbatim); set_removal_sensitivity keeps and alerts its changes too (90_access.sql).
-- @include sql/parts/96_case_sensitivity.sql
-- @function hublink.set_removal_sensitivity
-- A structured travel amendment: a new date or arrival airport with a reason from the change
-- list (48_case_amendments.sql, wholly new).
-- @include sql/parts/48_case_amendments.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
