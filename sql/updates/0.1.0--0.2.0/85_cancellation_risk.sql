-- 0.1.0 -> 0.2.0, issue 17 (the simulation's findings): the lock order of the workflow timers
-- (docs/timers.md "Locks": the removal row before its timers, in every path; the soak's
-- deadlock between cancel_removal and the fire_timers job).

-- @function hublink.cancel_timers
-- @function hublink.start_timer
-- @function hublink.reanchor_timer
-- @function hublink.fire_timer
-- @function hublink.fire_due_timers
-- @function hublink.timer_job

-- The Hub's per-removal chance of cancellation in the best-value ranking (docs/hub.md "Best
-- value"): the factors, the configuration, the estimate; removal_quotes gains a column.
CREATE TABLE hublink.cancel_factor (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z_]*$'),
    description text NOT NULL
);
-- @comment TABLE hublink.cancel_factor
-- @comment COLUMN hublink.cancel_factor.code
-- @comment COLUMN hublink.cancel_factor.description
INSERT INTO hublink.cancel_factor VALUES
    ('LEGAL_CHALLENGE_PENDING', 'A judicial review, appeal or injunction application is pending or announced.'),
    ('PRIOR_FAILED_REMOVAL', 'An earlier removal of the returnee was cancelled or failed.'),
    ('MEDICAL_CONCERN', 'A medical or fitness-to-fly concern is recorded and not yet resolved.');

CREATE TABLE hublink.removal_cancel_factor (
    removal_id  bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    factor      text NOT NULL REFERENCES hublink.cancel_factor,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text NOT NULL,
    PRIMARY KEY (removal_id, factor)
);
-- @comment TABLE hublink.removal_cancel_factor
-- @comment COLUMN hublink.removal_cancel_factor.removal_id
-- @comment COLUMN hublink.removal_cancel_factor.factor
-- @comment COLUMN hublink.removal_cancel_factor.recorded_at
-- @comment COLUMN hublink.removal_cancel_factor.recorded_by

CREATE TABLE hublink.cancel_estimate_config (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    prior_probability    numeric(5,4) NOT NULL CHECK (prior_probability BETWEEN 0 AND 1),
    prior_weight         numeric(8,2) NOT NULL CHECK (prior_weight BETWEEN 0.01 AND 999999.99),
    min_probability      numeric(5,4) NOT NULL CHECK (min_probability >= 0),
    max_probability      numeric(5,4) NOT NULL CHECK (max_probability <= 1),
    provider_probability numeric(5,4) NOT NULL CHECK (provider_probability > 0 AND provider_probability <= 1),
    CHECK (min_probability <= max_probability)
);
-- @comment TABLE hublink.cancel_estimate_config
-- @comment COLUMN hublink.cancel_estimate_config.only_row
-- @comment COLUMN hublink.cancel_estimate_config.prior_probability
-- @comment COLUMN hublink.cancel_estimate_config.prior_weight
-- @comment COLUMN hublink.cancel_estimate_config.min_probability
-- @comment COLUMN hublink.cancel_estimate_config.max_probability
-- @comment COLUMN hublink.cancel_estimate_config.provider_probability
INSERT INTO hublink.cancel_estimate_config
    (prior_probability, prior_weight, min_probability, max_probability, provider_probability)
VALUES (0.4, 20, 0.05, 0.95, 0.4);
GRANT SELECT, UPDATE ON hublink.cancel_estimate_config TO hublink_admin;

CREATE TABLE hublink.cancel_history_count (
    profile   text[] PRIMARY KEY,
    booked    bigint NOT NULL CHECK (booked >= 0),
    cancelled bigint NOT NULL CHECK (cancelled >= 0 AND cancelled <= booked)
);
-- @comment TABLE hublink.cancel_history_count
-- @comment COLUMN hublink.cancel_history_count.profile
-- @comment COLUMN hublink.cancel_history_count.booked
-- @comment COLUMN hublink.cancel_history_count.cancelled
-- @function hublink.cancel_history_on_close
REVOKE ALL ON FUNCTION hublink.cancel_history_on_close() FROM PUBLIC;
-- @trigger hublink.removal.cancel_history_on_close
-- The history a 0.1.0 Hub already has: its closed removals whose travel was booked (no factor
-- was recorded before 0.2.0: all under the empty profile).
INSERT INTO hublink.cancel_history_count (profile, booked, cancelled)
SELECT '{}', count(*), count(*) FILTER (WHERE r.state = 'cancelled')
  FROM hublink.removal r
 WHERE current_setting('hublink.party', true) = 'hub' AND r.state IN ('completed', 'cancelled')
   AND EXISTS (SELECT FROM hublink.travel_booking k WHERE k.removal_id = r.removal_id AND k.outcome = 'ACCEPTED')
HAVING count(*) > 0;
-- @function hublink.cancel_history
-- @function hublink.removal_cancel_probability
-- @function hublink.record_cancel_factors
REVOKE ALL ON FUNCTION hublink.cancel_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.cancel_history() TO hublink_caseworker, hublink_admin;
REVOKE ALL ON FUNCTION hublink.record_cancel_factors(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.record_cancel_factors(text, text[]) TO hublink_caseworker;
-- removal_quotes gains cancel_probability: a new result type. timer_quote_still_due (72) calls
-- it in its body: dropped first and made again, and the timer kind that names it (by oid)
-- pointed at the new one.
DROP FUNCTION hublink.timer_quote_still_due(bigint);
DROP FUNCTION hublink.removal_quotes(text);
-- @function hublink.removal_quotes
-- @function hublink.timer_quote_still_due
UPDATE hublink.timer_kind SET still_due_function = 'hublink.timer_quote_still_due(bigint)'::regprocedure
 WHERE kind = 'quote_expiry';

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
