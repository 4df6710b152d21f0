-- 0.2.0: what tests (and operators) wait on instead of sleeping (test/README.md "Ordering"):
-- hublink.worker_processes() shows, per process of the worker, when it last read its settings
-- (after a reload) and, for the message worker, the publisher confirms not yet marked sent.

-- @function hublink.worker_processes

SELECT hublink.apply_access_policy();
