-- Management information (issue 7, section 2; seed "Management and Business Information
-- Reporting"; Schedule R GSO 8, SEC 019 c; Appendix D): the rules the MI views read, as rows.
-- The views themselves are in 86_mi_views.sql, the exports in 87_mi_export.sql (docs/mi.md).

CREATE TABLE hublink.reporting_config (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone text NOT NULL DEFAULT 'Europe/London'
              CHECK (timestamptz '2000-01-01 00:00+00' AT TIME ZONE time_zone IS NOT NULL)
);
COMMENT ON TABLE hublink.reporting_config IS
    'One row: how the MI views cut time into days, weeks and months.';
COMMENT ON COLUMN hublink.reporting_config.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN hublink.reporting_config.time_zone IS
    'The time zone whose calendar days, ISO weeks (Monday) and months the MI views report in '
    '(an IANA name; the session''s TimeZone is not used, so every reader sees the same figures).';
INSERT INTO hublink.reporting_config DEFAULT VALUES;

CREATE TABLE hublink.report_granularity (
    granularity text PRIMARY KEY CHECK (date_trunc(granularity, timestamp '2000-01-01') IS NOT NULL),
    description text NOT NULL
);
COMMENT ON TABLE hublink.report_granularity IS
    'The periods hublink.mi_volume counts in (each a date_trunc field).';
COMMENT ON COLUMN hublink.report_granularity.granularity IS 'A date_trunc field name.';
COMMENT ON COLUMN hublink.report_granularity.description IS 'What the period is.';
INSERT INTO hublink.report_granularity VALUES
    ('day', 'A calendar day in the reporting time zone.'),
    ('week', 'An ISO week, Monday to Sunday, in the reporting time zone.'),
    ('month', 'A calendar month in the reporting time zone.');

-- SLAs: the response-time targets and which answer stops which request are the timers' rules
-- (hublink.timer_rule kind response_sla, hublink.timer_answer in 80_timers.sql): one source, so
-- hublink.mi_sla_compliance counts a breach exactly where a response_sla timer fires.

-- Cancellations are counted by how long before the booked departure they came.
CREATE TABLE hublink.lead_time_band (
    band        text PRIMARY KEY CHECK (band ~ '^[a-z0-9_]+$'),
    from_hours  numeric,
    to_hours    numeric,
    description text NOT NULL,
    CHECK (from_hours IS NULL OR to_hours IS NULL OR from_hours < to_hours)
);
COMMENT ON TABLE hublink.lead_time_band IS
    'Bands of lead time (hours between an event and the booked departure) that '
    'hublink.mi_volume counts cancellations in: from_hours inclusive, to_hours exclusive, '
    'NULL meaning unbounded. The bands should not overlap.';
COMMENT ON COLUMN hublink.lead_time_band.band IS 'Name of the band, as reported.';
COMMENT ON COLUMN hublink.lead_time_band.from_hours IS 'Lower bound in hours (inclusive); NULL for no lower bound.';
COMMENT ON COLUMN hublink.lead_time_band.to_hours IS 'Upper bound in hours (exclusive); NULL for no upper bound.';
COMMENT ON COLUMN hublink.lead_time_band.description IS 'What the band means.';
INSERT INTO hublink.lead_time_band VALUES
    ('after_departure', NULL, 0, 'At or after the booked departure.'),
    ('under_24h', 0, 24, 'Less than 24 hours before departure.'),
    ('1_to_3_days', 24, 72, 'One to three days before departure.'),
    ('3_to_7_days', 72, 168, 'Three to seven days before departure.'),
    ('7_days_or_more', 168, NULL, 'A week or more before departure.');

-- Refunds are announced by the providers in the financial section of their updates (4.10,
-- 4.12: hublink.financial_consequence); the interface does not say when the money arrives,
-- so finance records receipts here.
CREATE TABLE hublink.refund_receipt (
    refund_receipt_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    financial_consequence_id bigint NOT NULL REFERENCES hublink.financial_consequence ON DELETE CASCADE,
    amount                   numeric(14,2) NOT NULL CHECK (amount > 0),
    currency                 char(3) NOT NULL,
    received_at              timestamptz NOT NULL DEFAULT now(),
    recorded_by              text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.refund_receipt IS
    'Money received against a refund a provider announced (hublink.financial_consequence of '
    'kind refund), recorded by finance; hublink.mi_money compares them.';
COMMENT ON COLUMN hublink.refund_receipt.refund_receipt_id IS 'Internal key.';
COMMENT ON COLUMN hublink.refund_receipt.financial_consequence_id IS 'The refund announced.';
COMMENT ON COLUMN hublink.refund_receipt.amount IS 'Amount received.';
COMMENT ON COLUMN hublink.refund_receipt.currency IS 'ISO 4217 currency of amount.';
COMMENT ON COLUMN hublink.refund_receipt.received_at IS 'When the money arrived.';
COMMENT ON COLUMN hublink.refund_receipt.recorded_by IS 'Who recorded it.';
CREATE INDEX refund_receipt_consequence ON hublink.refund_receipt (financial_consequence_id);

-- Money outlives the removal it was spent on: an erasure on direction (or the removal's
-- retention purge) deletes the removal's bookings, fees, refunds and receipts, and with them
-- their amounts in hublink.mi_money, so last month's spend would shrink on the day a removal is
-- erased (an escort's cancellation fee on an unsuccessful booking went that way). The purge
-- keeps each amount here first, with its item, currency and instant, and nothing of a person;
-- hublink.rollup_mi_money_item reads them as it read the rows (docs/security-crypto.md
-- "Erasure keeps the money in MI").
CREATE TABLE hublink.mi_money_erased (
    mi_money_erased_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference  text NOT NULL,
    item               text NOT NULL,
    currency           char(3) NOT NULL,
    amount             numeric NOT NULL,
    at                 timestamptz,
    erased_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.mi_money_erased IS
    'The amounts hublink.mi_money counted for removals since erased or purged (written by '
    'hublink.purge_removal before it deletes the rows): spend, fees, refunds owed and received, '
    'losses, without personal data, so that MI money totals do not change on erasure.';
COMMENT ON COLUMN hublink.mi_money_erased.mi_money_erased_id IS 'Internal key.';
COMMENT ON COLUMN hublink.mi_money_erased.removal_reference IS 'The removal erased (as in hublink.purge_log).';
COMMENT ON COLUMN hublink.mi_money_erased.item IS 'What the amount was (hublink.rollup_mi_money_item.item).';
COMMENT ON COLUMN hublink.mi_money_erased.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN hublink.mi_money_erased.amount IS 'The amount.';
COMMENT ON COLUMN hublink.mi_money_erased.at IS 'Its instant, as MI had it (it decides the month).';
COMMENT ON COLUMN hublink.mi_money_erased.erased_at IS 'When the removal was erased.';

SELECT pg_catalog.pg_extension_config_dump('hublink.reporting_config', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.lead_time_band', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.refund_receipt', '');
SELECT pg_catalog.pg_extension_config_dump('hublink.mi_money_erased', '');

GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.reporting_config, hublink.lead_time_band TO hublink_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.refund_receipt TO hublink_admin;

-- Indexes the MI views use on large histories (test/bench/mi).
CREATE INDEX inbox_mi_response ON hublink.inbox (removal_id, message_type, enqueued_at)
    WHERE status <> 'rejected';
COMMENT ON INDEX hublink.inbox_mi_response IS
    'hublink.mi_sla_compliance: the first response of a type for a removal after a request.';
CREATE INDEX outbox_mi_request ON hublink.outbox (message_type, sent_at) INCLUDE (removal_id)
    WHERE sent_at IS NOT NULL;
COMMENT ON INDEX hublink.outbox_mi_request IS 'hublink.mi_sla_compliance: the requests sent, by type.';
CREATE INDEX state_transition_message ON hublink.state_transition (message_id) WHERE message_id IS NOT NULL;
COMMENT ON INDEX hublink.state_transition_message IS
    'hublink.mi_sla_compliance: the event a response was (an amendment''s outcome among the updates).';
CREATE INDEX travel_quote_response_quotes ON hublink.travel_quote (travel_quote_response_id);
COMMENT ON INDEX hublink.travel_quote_response_quotes IS
    'The quotes of one response (hublink.mi_best_value compares them).';
CREATE INDEX itinerary_segment_quote ON hublink.itinerary_segment (travel_quote_id) WHERE current;
COMMENT ON INDEX hublink.itinerary_segment_quote IS 'The current itinerary of a quote (its departure).';
CREATE INDEX escort_segment_removal ON hublink.escort_segment (removal_id) WHERE current;
COMMENT ON INDEX hublink.escort_segment_removal IS 'The current escort segments of a removal (escort start).';
CREATE INDEX travel_booking_removal ON hublink.travel_booking (removal_id);
COMMENT ON INDEX hublink.travel_booking_removal IS 'The travel bookings of a removal (the one booked last before an event).';
CREATE INDEX escort_booking_removal ON hublink.escort_booking (removal_id);
COMMENT ON INDEX hublink.escort_booking_removal IS 'The escort bookings of a removal.';
CREATE INDEX financial_consequence_removal ON hublink.financial_consequence (removal_id);
COMMENT ON INDEX hublink.financial_consequence_removal IS 'The refunds and fees of a removal.';

-- Statistics for the small rule tables, so that the planner knows they are small from the
-- start (without them it assumes hundreds of rows, and the MI views' estimates, multiplied
-- through the joins, become large enough to make JIT compile them for seconds).
ANALYZE hublink.reporting_config, hublink.report_granularity, hublink.lead_time_band, hublink.timer_rule,
    hublink.timer_answer;
