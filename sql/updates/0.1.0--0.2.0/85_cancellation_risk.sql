-- 0.1.0 -> 0.2.0, issue 17 (the simulation's findings): the lock order of the workflow timers
-- (docs/timers.md "Locks": the removal row before its timers, in every path; the soak's
-- deadlock between cancel_removal and the fire_timers job).

-- @function hublink.cancel_timers
-- @function hublink.start_timer
-- @function hublink.reanchor_timer
-- @function hublink.fire_timer
-- @function hublink.fire_due_timers
-- @function hublink.timer_job
