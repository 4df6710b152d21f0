-- 0.2.0: the message worker's appliers (issue 15 sections 1 and 3; docs/worker.md "Appliers"):
-- hublink.appliers processes apply messages in parallel, each the removals that hash to it.
-- hublink.worker_appliers() shows each; hublink.worker_status (its current definition, copied
-- by 61_inbox_home.sql) shows the setting and how many run.

-- @function hublink.worker_appliers

-- @comment COLUMN hublink.worker_status.appliers
-- @comment COLUMN hublink.worker_status.appliers_running

SELECT hublink.apply_access_policy();
