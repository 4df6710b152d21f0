-- Retention and secure deletion (issue 6 section 2; NFR 0011, 0012; docs/security-crypto.md).
--
-- A policy per data class says how many days after a removal closes its data is kept. The
-- worker job retention_purge applies them: messages (the inbox and outbox rows) are deleted,
-- personal data is crypto-shredded (the removal's data key is destroyed, so the database can
-- no longer read it, even with the master key; copies made before, such as backups and WAL,
-- hold the key wrapped by the master key in use, and become unreadable once that master key is
-- destroyed: hublink.data_key_erasure at the end), and the removal's own rows are deleted. Each purge is logged in
-- hublink.purge_log and audited (action purge). hublink.erase_removal does all of it at once
-- when the Authority directs that data is no longer required.

CREATE TABLE hublink.retention_policy (
    data_class     text PRIMARY KEY CHECK (data_class ~ '^[a-z_]+$'),
    retain_days    integer NOT NULL CHECK (retain_days >= 0),
    purge_function regprocedure NOT NULL,
    description    text NOT NULL
);
COMMENT ON TABLE hublink.retention_policy IS
    'How long each class of a removal''s data is kept after the removal closes (NFR 0011, 0012), '
    'and the function that purges it. hublink_admin sets retain_days to the periods the '
    'Authority defines.';
COMMENT ON COLUMN hublink.retention_policy.data_class IS 'The class of data (lower case, underscores).';
COMMENT ON COLUMN hublink.retention_policy.retain_days IS 'Days after the removal closed before it is purged.';
COMMENT ON COLUMN hublink.retention_policy.purge_function IS
    'Function(removal_reference text) returning jsonb (what it removed), called by the purge.';
COMMENT ON COLUMN hublink.retention_policy.description IS 'What the class holds and what purging it does.';

CREATE TABLE hublink.purge_log (
    purge_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_reference text NOT NULL,
    data_class        text NOT NULL,
    retain_days       integer,
    closed_at         timestamptz,
    purged_at         timestamptz NOT NULL DEFAULT now(),
    reason            text NOT NULL,
    removed           jsonb NOT NULL
);
COMMENT ON TABLE hublink.purge_log IS
    'Every purge: which removal, which class, under which policy, when and what was removed '
    '(counts, never data). Also in the audit trail (action purge).';
COMMENT ON COLUMN hublink.purge_log.purge_id IS 'Order of purges.';
COMMENT ON COLUMN hublink.purge_log.removal_reference IS
    'The removal purged; for messages that named no removal, the day key destroyed ("messages '
    '<YYYY-MM-DD>"); for an escort erased at an escort provider, its key ("escort <id>").';
COMMENT ON COLUMN hublink.purge_log.data_class IS
    'The class purged (hublink.retention_policy), or escort for hublink.esp_erase_escort.';
COMMENT ON COLUMN hublink.purge_log.retain_days IS 'The policy''s period then; NULL for an erasure on direction.';
COMMENT ON COLUMN hublink.purge_log.closed_at IS 'When the removal closed; NULL for an erasure of an open removal.';
COMMENT ON COLUMN hublink.purge_log.purged_at IS 'When.';
COMMENT ON COLUMN hublink.purge_log.reason IS '"retention", or the reason given to hublink.erase_removal.';
COMMENT ON COLUMN hublink.purge_log.removed IS 'What was removed: row and key counts.';
SELECT pg_catalog.pg_extension_config_dump('hublink.purge_log', '');

CREATE VIEW hublink.closed_removal AS
SELECT r.removal_id, r.removal_reference, r.updated_at AS closed_at
  FROM hublink.removal r
 WHERE CASE WHEN r.state IS NOT NULL
            THEN r.state IN (SELECT s.state FROM hublink.state_machine_states() s
                              WHERE s.machine = 'removal' AND s.terminal)
            ELSE (r.escort_state <> 'none' OR r.travel_state <> 'none')
                 AND (r.escort_state = 'none'
                      OR r.escort_state IN (SELECT s.state FROM hublink.state_machine_states() s
                                             WHERE s.machine = 'escort' AND s.terminal))
                 AND (r.travel_state = 'none'
                      OR r.travel_state IN (SELECT s.state FROM hublink.state_machine_states() s
                                             WHERE s.machine = 'travel' AND s.terminal))
       END;
COMMENT ON VIEW hublink.closed_removal IS
    'Removals that are closed, and since when: at the Hub the removal machine is in a terminal '
    'state; at a provider every machine it tracks is. closed_at is the last state change.';
COMMENT ON COLUMN hublink.closed_removal.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.closed_removal.removal_reference IS 'Its reference.';
COMMENT ON COLUMN hublink.closed_removal.closed_at IS 'When it closed (its last state change).';

CREATE FUNCTION hublink.purge_messages(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n_in  bigint;
    n_out bigint;
BEGIN
    DELETE FROM hublink.inbox i WHERE i.removal_id = p_removal_reference;
    GET DIAGNOSTICS n_in = ROW_COUNT;
    DELETE FROM hublink.outbox o WHERE o.removal_id = p_removal_reference;
    GET DIAGNOSTICS n_out = ROW_COUNT;
    RETURN pg_catalog.jsonb_build_object('inbox_rows', n_in, 'outbox_rows', n_out);
END;
$$;
COMMENT ON FUNCTION hublink.purge_messages(text) IS
    'Purge of class messages: deletes the removal''s inbox and outbox rows.';
REVOKE ALL ON FUNCTION hublink.purge_messages(text) FROM PUBLIC;

CREATE FUNCTION hublink.purge_personal_data(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    ids jsonb;
    n   bigint;
BEGIN
    WITH gone AS (
        DELETE FROM hublink.data_key k
         WHERE k.key_scope = p_removal_reference
            OR k.key_scope IN (SELECT 'booking ' || b.booking_ref FROM hublink.tsp_booking b
                                WHERE b.removal_id = p_removal_reference)
        RETURNING k.master_key_id)
    SELECT pg_catalog.jsonb_build_object('data_keys_destroyed', pg_catalog.count(*),
               'master_key_ids', coalesce(pg_catalog.jsonb_agg(DISTINCT g.master_key_id), '[]'))
      INTO ids FROM gone g;
    -- At the Hub, the notes of answers settled outside the interface (hublink.hub_settlement):
    -- free text an admin wrote, which may name people whatever its hint asks, and is not sealed;
    -- cleared here with the rest of the removal's personal data, the settlement itself kept.
    UPDATE hublink.hub_settlement h
       SET note = pg_catalog.format('(cleared by the personal-data purge on %s)', pg_catalog.now()::date)
      FROM hublink.removal r
     WHERE r.removal_id = h.removal_id AND r.removal_reference = p_removal_reference
       AND h.note NOT LIKE '(cleared by the personal-data purge on %)';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        ids := ids || pg_catalog.jsonb_build_object('settlement_notes_cleared', n);
    END IF;
    RETURN ids;
END;
$$;
COMMENT ON FUNCTION hublink.purge_personal_data(text) IS
    'Purge of class personal_data: destroys the removal''s data keys (crypto-shredding), and at the Hub clears '
    'the free-text notes of its answers settled outside the interface (hublink.hub_settlement.note). Its '
    'sealed columns and message bodies stay as bytes nobody can decrypt; they read as NULL. '
    'Returns how many keys it destroyed and the ids of the master keys that wrapped them '
    '(hublink.data_key_erasure), and settlement_notes_cleared when it cleared any.';
REVOKE ALL ON FUNCTION hublink.purge_personal_data(text) FROM PUBLIC;

-- One DELETE of a removal's rows in a provider engine's table, by a key column: the table and
-- column come only from the list in hublink.purge_removal (code, which only the owner can
-- change), never from a table's rows. The keys arrive as text and are cast to the column's own
-- type, with its length (char(6) without it would be char(1) and cut every key to one letter),
-- so that the column's index serves.
CREATE FUNCTION hublink.purge_rows(p_table regclass, p_column name, p_keys text[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = p_table AND a.attname = p_column AND NOT a.attisdropped);
    n        bigint;
BEGIN
    IF key_type IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', p_table, p_column
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'hublink.purge_removal names a provider table''s key column that does not exist.',
                  HINT = 'Correct the list of provider tables in hublink.purge_removal.';
    END IF;
    EXECUTE pg_catalog.format('DELETE FROM %s x WHERE x.%I = ANY ($1::%s[])', p_table, p_column, key_type)
      USING p_keys;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.purge_rows(regclass, name, text[]) IS
    'Deletes the rows of a provider engine''s table whose key column is one of the keys (cast to '
    'the column''s type, so its index serves); returns how many. Internal to '
    'hublink.purge_removal, which alone names the tables.';
REVOKE ALL ON FUNCTION hublink.purge_rows(regclass, name, text[]) FROM PUBLIC;

CREATE FUNCTION hublink.purge_removal(p_removal_reference text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n        bigint;
    counts   jsonb := '{"tsp_rows": 0, "esp_rows": 0}';
    quotes   text[];
    bookings text[];
    esp_ids  text[];
    plans    text[];
    d        record;
    gone     jsonb;
    gone_fees jsonb;
BEGIN
    -- Messages and data keys first: the keys of a booking are found through its tsp_booking row.
    gone := hublink.purge_messages(p_removal_reference) || hublink.purge_personal_data(p_removal_reference);
    -- The Hub's MI money (spend, fees, refunds, losses) keeps the removal's amounts, without
    -- the removal: its totals do not change on erasure (hublink.mi_money_erased).
    INSERT INTO hublink.mi_money_erased (removal_reference, item, currency, amount, at)
    SELECT p_removal_reference, i.item, i.currency, i.amount, i.at
      FROM hublink.rollup_mi_money_item i
     WHERE i.removal_id = (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference);
    GET DIAGNOSTICS n = ROW_COUNT;
    gone := gone || pg_catalog.jsonb_build_object('mi_money_kept', n);
    DELETE FROM hublink.removal r WHERE r.removal_reference = p_removal_reference;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- A provider engine keeps its own rows of the removal (quotes, bookings, tickets, updates)
    -- keyed by the reference, not by a foreign key to hublink.removal, so nothing cascaded to
    -- them and they outlived the removal's retention for ever (found by the soak,
    -- docs/simulation.md "Soak"). Their keys first, each found by an index (update part 90).
    SELECT coalesce(pg_catalog.array_agg(q.quote_ref), '{}') INTO quotes
      FROM (SELECT t.quote_ref FROM hublink.tsp_quote t WHERE t.removal_id = p_removal_reference
            UNION SELECT b.quote_ref FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference) q;
    SELECT coalesce(pg_catalog.array_agg(b.booking_ref::text), '{}') INTO bookings
      FROM hublink.tsp_booking b WHERE b.quote_ref = ANY (quotes);
    SELECT coalesce(pg_catalog.array_agg(p.plan_id::text), '{}') INTO plans
      FROM (SELECT l.plan_id FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference
            UNION SELECT b.plan_id FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) p;
    SELECT coalesce(pg_catalog.array_agg(b.booking_id::text), '{}') INTO esp_ids
      FROM (SELECT b.booking_id FROM hublink.esp_booking b WHERE b.plan_id = ANY (plans::bigint[])
            UNION SELECT b.booking_id FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) b;
    -- The fees an escort provider charged on the removal's bookings (cancelled, amended or
    -- unsuccessful ones keep them) are money the Home Office owes: their totals per currency
    -- stay in hublink.purge_log, without the bookings.
    SELECT coalesce(pg_catalog.jsonb_object_agg(f.currency, f.fees), '{}') INTO gone_fees
      FROM (SELECT b.currency, pg_catalog.sum(b.fees) AS fees FROM hublink.esp_booking b
             WHERE b.booking_id = ANY (esp_ids::bigint[]) AND b.fees > 0 GROUP BY b.currency) f;
    counts := counts || pg_catalog.jsonb_build_object('esp_fees', gone_fees);
    -- Then the rows, children first, in the order of their foreign keys; what the list does not
    -- name cascades from its parent.
    FOR d IN SELECT v.* FROM (VALUES
            (1, 'tsp_rows', 'hublink.tsp_update'::regclass, 'quote_ref'::name, quotes),
            (2, 'tsp_rows', 'hublink.tsp_ticket', 'booking_ref', bookings),
            (3, 'tsp_rows', 'hublink.tsp_passenger', 'booking_ref', bookings),
            (4, 'tsp_rows', 'hublink.tsp_refund', 'booking_ref', bookings),
            (5, 'tsp_rows', 'hublink.tsp_booking_segment', 'booking_ref', bookings),
            (6, 'tsp_rows', 'hublink.tsp_booking', 'booking_ref', bookings),
            (7, 'tsp_rows', 'hublink.tsp_quote', 'quote_ref', quotes),      -- its segments are in its row
            (8, 'esp_rows', 'hublink.esp_update', 'booking_id', esp_ids),
            (9, 'esp_rows', 'hublink.esp_booking', 'booking_id', esp_ids),  -- escorts and duties cascade
            (10, 'esp_rows', 'hublink.esp_quote', 'plan_id', plans),
            (11, 'esp_rows', 'hublink.esp_plan', 'plan_id', plans)         -- its positions cascade
         ) v(step, counted_as, tbl, key_column, keys)
         ORDER BY v.step LOOP
        counts := counts || pg_catalog.jsonb_build_object(d.counted_as,
                      (counts ->> d.counted_as)::bigint + hublink.purge_rows(d.tbl, d.key_column, d.keys));
    END LOOP;
    RETURN gone || pg_catalog.jsonb_build_object('removal_rows', n) || counts;
END;
$$;
COMMENT ON FUNCTION hublink.purge_removal(text) IS
    'Purge of class removal: deletes the removal (its rows cascade), a provider engine''s own '
    'rows of it (quotes, bookings, tickets, passengers, refunds, updates; escort plans, quotes, '
    'bookings, duties, updates), its messages and its data keys. Money stays: the amounts MI '
    'money counted for it go to hublink.mi_money_erased first, and the escort fees of its '
    'bookings are returned per currency (esp_fees, logged in hublink.purge_log).';
REVOKE ALL ON FUNCTION hublink.purge_removal(text) FROM PUBLIC;

INSERT INTO hublink.retention_policy VALUES
    ('messages', 90, 'hublink.purge_messages(text)',
     'The whole messages of the removal in hublink.inbox and hublink.outbox (their bodies sealed).'),
    ('personal_data', 730, 'hublink.purge_personal_data(text)',
     'Every PERSONAL DATA column and message body of the removal: its data key is destroyed.'),
    ('removal', 2190, 'hublink.purge_removal(text)',
     'The removal''s own rows (states, quotes, bookings, costs), and anything left of the above.');

INSERT INTO hublink.audit_action VALUES
    ('erase_direction', 'hublink.erase_removal purged a removal on the Authority''s direction (a purge row follows per class).');

-- One purge of one class of one removal: audited first (the removal row may go), then logged.
CREATE FUNCTION hublink.purge_class(p_removal_reference text, p_policy hublink.retention_policy,
                                    p_closed_at timestamptz, p_reason text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    removed jsonb;
BEGIN
    PERFORM hublink.audit_note('purge',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference),
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'data_class', p_policy.data_class,
                                      'retain_days', p_policy.retain_days, 'closed_at', p_closed_at,
                                      'reason', p_reason));
    EXECUTE pg_catalog.format('SELECT %s($1)', p_policy.purge_function::oid::regproc) INTO removed
      USING p_removal_reference;
    INSERT INTO hublink.purge_log (removal_reference, data_class, retain_days, closed_at, reason, removed)
    VALUES (p_removal_reference, p_policy.data_class,
            CASE WHEN p_reason = 'retention' THEN p_policy.retain_days END, p_closed_at, p_reason, removed);
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION hublink.purge_class(text, hublink.retention_policy, timestamptz, text) IS
    'Purges one class of one removal with its policy''s function; audited (purge) and logged in '
    'hublink.purge_log. Internal.';
REVOKE ALL ON FUNCTION hublink.purge_class(text, hublink.retention_policy, timestamptz, text) FROM PUBLIC;

-- Messages that named no removal are sealed under the key of the UTC day they were stored,
-- "messages <YYYY-MM-DD>" (hublink.message_key_scope, 74_crypto_seal.sql): deleted by age, and
-- once the whole day is past the messages period and no row of it is left (an unsent outbox
-- row keeps it), the day's key is destroyed: audited (purge) and logged like a removal's purge.
CREATE FUNCTION hublink.purge_message_days(p_policy hublink.retention_policy) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cutoff constant timestamptz := pg_catalog.now() - pg_catalog.make_interval(days => p_policy.retain_days);
    k      record;
    n_in   bigint;
    n_out  bigint;
    n      integer := 0;
    wrapped_by text;
BEGIN
    -- Every message whose key belongs to no removal here: a day's ("messages <date>"), or a
    -- reference no removal has (rejected as unknown), which no removal's purge would reach.
    DELETE FROM hublink.inbox i
     WHERE i.processed_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(i.key_scope, i.removal_id));
    DELETE FROM hublink.outbox o
     WHERE o.sent_at IS NOT NULL AND o.created_at <= cutoff
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = coalesce(o.key_scope, o.removal_id));
    -- The keys: each day's once the day is past the period, each orphan reference's once it was
    -- made before the cutoff; and only when no row of theirs is left.
    FOR k IN SELECT x.key_scope, x.ended AS day_end
               FROM (SELECT d.key_scope,
                            (pg_catalog.substr(d.key_scope, 10)::date + 1)::timestamp AT TIME ZONE 'UTC' AS ended
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^messages [0-9]{4}-[0-9]{2}-[0-9]{2}$'
                     UNION ALL
                     SELECT d.key_scope, d.created_at
                       FROM hublink.data_key d
                      WHERE d.key_scope ~ '^RMV-[0-9]{4}-[0-9]{6}$' -- as hublink.message_key_scope
                        AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = d.key_scope)) x
              WHERE x.ended <= cutoff
              ORDER BY 1 LOOP
        CONTINUE WHEN EXISTS (SELECT FROM hublink.inbox i WHERE i.key_scope = k.key_scope)
                   OR EXISTS (SELECT FROM hublink.outbox o WHERE o.key_scope = k.key_scope);
        PERFORM hublink.audit_note('purge', NULL,
            pg_catalog.jsonb_build_object('key_scope', k.key_scope, 'data_class', p_policy.data_class,
                                          'retain_days', p_policy.retain_days, 'reason', 'retention'));
        DELETE FROM hublink.data_key d WHERE d.key_scope = k.key_scope RETURNING d.master_key_id INTO wrapped_by;
        INSERT INTO hublink.purge_log (removal_reference, data_class, retain_days, closed_at, reason, removed)
        VALUES (k.key_scope, p_policy.data_class, p_policy.retain_days, k.day_end, 'retention',
                pg_catalog.jsonb_build_object('data_keys_destroyed', 1,
                                              'master_key_ids', pg_catalog.jsonb_build_array(wrapped_by)));
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.purge_message_days(hublink.retention_policy) IS
    'The messages retention of messages that named no removal, or a removal reference no removal '
    'here has (rejected as unknown): deletes them after the period, and destroys the data key of '
    'each day ("messages <YYYY-MM-DD>") past the period and of each such reference made before it, '
    'once no row of it is left, audited (purge) and logged (purge_log, the key scope as '
    'removal_reference). Returns the number of keys destroyed. Internal to hublink.retention_purge.';
REVOKE ALL ON FUNCTION hublink.purge_message_days(hublink.retention_policy) FROM PUBLIC;

CREATE FUNCTION hublink.retention_purge() RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p hublink.retention_policy;
    c record;
BEGIN
    FOR p IN SELECT * FROM hublink.retention_policy x ORDER BY x.retain_days, x.data_class LOOP
        FOR c IN SELECT * FROM hublink.closed_removal x
                  WHERE x.closed_at + pg_catalog.make_interval(days => p.retain_days) <= pg_catalog.now()
                    AND NOT EXISTS (SELECT FROM hublink.purge_log l
                                     WHERE l.removal_reference = x.removal_reference AND l.data_class = p.data_class)
                  ORDER BY x.closed_at LOOP
            PERFORM hublink.purge_class(c.removal_reference, p, c.closed_at, 'retention');
        END LOOP;
    END LOOP;
    -- Messages that named no removal (announcements, some Errors, bytes that were not JSON):
    -- by age, then their day keys.
    SELECT * INTO p FROM hublink.retention_policy x WHERE x.data_class = 'messages';
    IF FOUND THEN
        PERFORM hublink.purge_message_days(p);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.retention_purge() IS
    'The worker job retention_purge: applies hublink.retention_policy to every closed removal '
    'whose period has passed (each class once per removal, audited and logged), and deletes '
    'messages that named no removal after the messages period, destroying their day keys '
    '(hublink.purge_message_days). SECURITY DEFINER: it destroys data keys, which the worker''s '
    'role may not touch.';
REVOKE ALL ON FUNCTION hublink.retention_purge() FROM PUBLIC;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description)
VALUES ('retention_purge', 'hublink.retention_purge()', '1 hour',
        'Purges closed removals past their retention periods and crypto-shreds their personal data '
        '(hublink.retention_policy, docs/security-crypto.md).');

-- At the Hub, a provider's answer settled outside the interface (docs/security-crypto.md
-- "Erasure of a removal with live bookings"): a cancellation the provider never answered by
-- message, or a completion a travel provider never sent, agreed by phone or letter and recorded
-- by an admin with hublink.hub_record_settled. hublink.erasure_blockers then lets that blocker go.
CREATE TABLE hublink.hub_settlement (
    settlement_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id      bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    booking         text NOT NULL CHECK (booking IN ('escort', 'travel')),
    kind            text NOT NULL CHECK (kind IN ('cancellation', 'completion')),
    cancellation_id bigint UNIQUE REFERENCES hublink.cancellation ON DELETE CASCADE,
    note            text NOT NULL CHECK (btrim(note) <> ''),
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'cancellation') = (cancellation_id IS NOT NULL))
);
COMMENT ON TABLE hublink.hub_settlement IS
    'At the Hub: a provider''s answer to the Hub''s cancellation, or a travel completion, settled outside the '
    'interface and recorded by an admin (hublink.hub_record_settled); it clears that erasure blocker.';
COMMENT ON COLUMN hublink.hub_settlement.settlement_id IS 'Internal key.';
COMMENT ON COLUMN hublink.hub_settlement.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.hub_settlement.booking IS 'escort or travel: the provider''s booking.';
COMMENT ON COLUMN hublink.hub_settlement.kind IS 'cancellation (the Hub''s cancellation answered outside the interface) or completion (a completed removal''s booking, ended outside it).';
COMMENT ON COLUMN hublink.hub_settlement.cancellation_id IS 'For a cancellation: the Hub''s cancellation it answers.';
COMMENT ON COLUMN hublink.hub_settlement.note IS
    'How it was settled, as the admin wrote it: a reference (ticket or e-mail id), how and when, not names. Free '
    'text, not sealed: hublink.purge_personal_data clears it with the removal''s personal data (730 days).';
COMMENT ON COLUMN hublink.hub_settlement.recorded_by IS 'The login that recorded it (hublink.acting_login()).';
COMMENT ON COLUMN hublink.hub_settlement.recorded_at IS 'When it was recorded.';
CREATE INDEX hub_settlement_removal ON hublink.hub_settlement (removal_id);
COMMENT ON INDEX hublink.hub_settlement_removal IS 'A removal''s settlements (erasure_blockers; the foreign key when a removal is deleted).';

-- At the Hub, the Hub's cancellations of a removal's bookings that the provider accepted and has
-- not answered yet (hublink.erasure_blockers; hublink.hub_record_settled may settle exactly these).
CREATE FUNCTION hublink.hub_unanswered_cancellations(p_removal_id bigint) RETURNS SETOF hublink.cancellation
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT c.* FROM hublink.cancellation c
     WHERE c.removal_id = p_removal_id AND c.cancelled_by = 'hub'
       AND (NOT c.before_booking
            OR CASE c.booking
               WHEN 'escort' THEN EXISTS (SELECT FROM hublink.escort_booking k
                                           WHERE k.removal_id = c.removal_id AND k.outcome = 'ACCEPTED')
               ELSE EXISTS (SELECT FROM hublink.travel_booking k
                             WHERE k.removal_id = c.removal_id AND k.outcome = 'ACCEPTED') END)
       -- Only the provider's update that answers the cancellation: one with a cancellation
       -- section (the booking cancelled at the provider: tsp_cancel's TravelUpdate), or with a
       -- financial section for the reason CANCELLED_BY_HO (the fee of the Hub's cancellation:
       -- esp_cancel's EscortUpdate). An acceptance crossing the cancellation, or an invoice
       -- crossing it (a fee for another reason), is recorded as an inbound transition too, and
       -- is no answer: the provider may not have seen the cancellation yet.
       AND NOT EXISTS (SELECT FROM hublink.state_transition t
                         JOIN hublink.booking_update u
                           ON u.removal_id = t.removal_id AND u.booking = t.machine AND u.message_id = t.message_id
                        WHERE t.removal_id = c.removal_id AND t.machine = c.booking AND t.direction = 'in'
                          AND t.event LIKE CASE c.booking WHEN 'escort' THEN 'EscortUpdate.%' ELSE 'TravelUpdate.%' END
                          AND t.at >= c.cancelled_at
                          AND (u.kind = 'cancellation' OR (u.kind = 'financial' AND u.reason_code = 'CANCELLED_BY_HO')))
       -- nor an answer an admin recorded as settled outside the interface
       AND NOT EXISTS (SELECT FROM hublink.hub_settlement h WHERE h.cancellation_id = c.cancellation_id)
$$;
COMMENT ON FUNCTION hublink.hub_unanswered_cancellations(bigint) IS
    'At the Hub: the Hub''s cancellations of this removal''s bookings that their provider accepted (after booking, '
    'or crossing an accepted booking response) and has not answered by an update with a cancellation section or '
    'a financial section for the reason CANCELLED_BY_HO since, nor an admin recorded settled outside the interface '
    '(hublink.hub_settlement).';
REVOKE ALL ON FUNCTION hublink.hub_unanswered_cancellations(bigint) FROM PUBLIC;

-- What a provider engine still owes or holds for a removal, which an erasure would lose without a
-- trace: a travel booking's seats on a flight that has not yet left (deleting the booking would
-- keep them sold for ever), a refund the airline has not yet paid (the only record that it is
-- owed), an escort booking whose escorts are on duty today or later (deleting it would free them
-- silently while the Hub still counts on them; an abandoned or completed booking keeps its
-- duties too: esp_booking_status.holds_duty). Each as one line for an error's detail; no
-- personal data. Travel already flown, refunds received and escorts' past days block nothing.
CREATE FUNCTION hublink.erasure_blockers(p_removal_reference text) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH booking AS (
        SELECT b.* FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference
        UNION
        SELECT b.* FROM hublink.tsp_booking b JOIN hublink.tsp_quote q USING (quote_ref)
         WHERE q.removal_id = p_removal_reference)
    -- Seats on a flight not yet flown; or on one the carrier cancelled, which leaves the booking
    -- ACTIVE and its tickets unused until the Hub cancels: no refund row exists yet, and the
    -- booking is the only record that one is due.
    SELECT CASE f.status
           WHEN 'SCHEDULED' THEN pg_catalog.format('travel booking %s holds %s seat(s) on flights not yet departed (the first %s)',
                                                   b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at))
           ELSE pg_catalog.format('travel booking %s holds %s seat(s) on flights the carrier cancelled (the first %s), no refund recorded yet',
                                  b.booking_ref, pg_catalog.sum(s.seats), pg_catalog.min(f.departs_at)) END
      FROM booking b
      JOIN hublink.tsp_booking_segment s ON s.booking_ref = b.booking_ref AND s.status = 'ACTIVE'
      JOIN hublink.tsp_flight f ON f.flight_id = s.flight_id
       AND (f.status = 'CANCELLED' OR f.departs_at > pg_catalog.now())
     WHERE b.status = 'ACTIVE'
     GROUP BY b.booking_ref, f.status
    UNION ALL
    SELECT pg_catalog.format('refund %s of travel booking %s, %s %s owed since %s, is not yet received',
                             r.refund_id, b.booking_ref, r.amount, r.currency, r.owed_since)
      FROM booking b JOIN hublink.tsp_refund r ON r.booking_ref = b.booking_ref AND r.received_at IS NULL
    UNION ALL
    SELECT pg_catalog.format('escort booking of quote %s has escorts on duty from %s',
                             e.quote_ref, pg_catalog.min(d.duty_date))
      FROM hublink.esp_booking e
      JOIN hublink.esp_booking_status st ON st.status = e.status AND st.holds_duty
      JOIN hublink.esp_duty d ON d.booking_id = e.booking_id
       AND d.duty_date >= (pg_catalog.now() AT TIME ZONE hublink.esp_setting('date_time_zone'))::date
     WHERE (e.removal_ref = p_removal_reference
            OR e.plan_id IN (SELECT l.plan_id FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference))
     GROUP BY e.quote_ref
    UNION ALL
    -- At the Hub (its removal machine has a state): a booking the Hub requested or holds, which
    -- the provider keeps (seats, escorts) until the Hub cancels it; erased, the Hub could never
    -- cancel it, and the provider's updates would name a removal the Hub no longer knows.
    SELECT pg_catalog.format('the Hub''s %s booking of removal %s is %s: the provider holds it until it is cancelled',
                             m.machine, r.removal_reference, pg_catalog.replace(m.state, '_', ' '))
      FROM hublink.removal r
     CROSS JOIN LATERAL (VALUES ('escort', r.escort_state), ('travel', r.travel_state)) m(machine, state)
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
       AND m.state IN ('booking_requested', 'booked', 'amended')
       -- a completed removal's booking that an admin recorded ended outside the interface
       AND NOT EXISTS (SELECT FROM hublink.hub_settlement h
                        WHERE h.removal_id = r.removal_id AND h.booking = m.machine AND h.kind = 'completion')
    UNION ALL
    -- and a cancellation the Hub sent of a booking the provider accepted, until the provider's
    -- update answers it (seats or escorts released, the refund or fee recorded at the Hub).
    SELECT pg_catalog.format('the Hub''s %s cancellation of removal %s (message %s, sent %s) has no answer from the provider yet',
                             c.booking, r.removal_reference, c.message_id, c.cancelled_at)
      FROM hublink.removal r
     CROSS JOIN LATERAL hublink.hub_unanswered_cancellations(r.removal_id) c
     WHERE r.removal_reference = p_removal_reference AND r.state IS NOT NULL
    UNION ALL
    -- and, at any party, a message about it not yet published: the erasure would purge it from
    -- the outbox, and its receiver (e.g. the provider of a Hub's cancellation) never hear of it.
    SELECT pg_catalog.format('outbox message %s (%s) is not yet sent', o.message_id, o.message_type)
      FROM hublink.outbox o
     WHERE o.removal_id = p_removal_reference AND o.sent_at IS NULL
    ORDER BY 1
$$;
COMMENT ON FUNCTION hublink.erasure_blockers(text) IS
    'What a provider engine still holds or is owed for a removal, one line each (no personal data): '
    'an active travel booking''s seats on flights not yet departed or cancelled by the carrier '
    '(no refund recorded yet), a refund not yet received, an escort booking''s duties today or later; '
    'at the Hub, an escort or travel booking requested, booked or amended (unless an admin recorded a completed '
    'removal''s booking ended outside the interface), and a cancellation of an accepted booking not yet answered '
    'by its provider''s update (a cancellation section, or a financial section for the reason CANCELLED_BY_HO) '
    'nor recorded settled outside the interface (hublink.hub_record_settled); and, at any party, an outbox message '
    'of the removal not yet sent (the erasure would purge it unpublished). hublink.erase_removal refuses while '
    'any is left (docs/security-crypto.md "Erasure of a removal with live bookings").';
REVOKE ALL ON FUNCTION hublink.erasure_blockers(text) FROM PUBLIC;

CREATE FUNCTION hublink.erase_removal(p_removal_reference text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p       hublink.retention_policy;
    removed jsonb := '{}';
    closed  timestamptz := (SELECT c.closed_at FROM hublink.closed_removal c
                             WHERE c.removal_reference = p_removal_reference);
    blockers text;
BEGIN
    IF coalesce(p_reason, '') = '' THEN
        RAISE EXCEPTION 'an erasure needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Erasure on direction is recorded with the reason it was directed.',
                  HINT = 'Give the direction''s reference, e.g. the Authority''s instruction number.';
    END IF;
    -- A provider engine's rows count too: its messages (and their key) may be purged already.
    IF NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.removal r WHERE r.removal_reference = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.tsp_quote q WHERE q.removal_id = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.tsp_booking b WHERE b.removal_id = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.esp_plan l WHERE l.removal_ref = p_removal_reference)
       AND NOT EXISTS (SELECT FROM hublink.esp_booking b WHERE b.removal_ref = p_removal_reference) THEN
        RAISE EXCEPTION 'removal % has nothing to erase', p_removal_reference
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'This database has neither the removal, nor a data key, nor a provider''s rows for it.',
                  HINT = 'hublink.purge_log lists what was purged before.';
    END IF;
    -- Never lose live seats, duties or money owed without a trace: they are settled first, by
    -- the ordinary paths that give seats and escorts back and record the money.
    blockers := (SELECT pg_catalog.string_agg(x, E'\n') FROM hublink.erasure_blockers(p_removal_reference) x);
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'removal % still has live provider bookings or refunds owed: nothing was erased', p_removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = blockers,
                  HINT = 'At the Hub, cancel the removal (hublink.cancel_removal or hublink.cancel_booking) and '
                         'wait for each provider''s update answering the cancellation. At a provider, the '
                         'Hub''s cancellation or hublink.esp_provider_cancel gives the seats and escorts back '
                         'and records any refund; mark refunds received with hublink.tsp_refund_received. '
                         'A provider''s answer settled outside the interface is recorded at the Hub with '
                         'hublink.hub_record_settled. Then erase again.';
    END IF;
    PERFORM hublink.audit_note('erase_direction',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_reference),
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'reason', p_reason));
    FOR p IN SELECT * FROM hublink.retention_policy x ORDER BY x.retain_days, x.data_class LOOP
        removed := removed || pg_catalog.jsonb_build_object(p.data_class,
                                  hublink.purge_class(p_removal_reference, p, closed, p_reason));
    END LOOP;
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION hublink.erase_removal(text, text) IS
    'Erases a removal now, open or closed, when the Authority directs that its data is no longer '
    'required (NFR 0011): every class of hublink.retention_policy is purged, audited and logged '
    'with the reason. Refused, erasing nothing, while a provider engine still holds live seats or '
    'duties or is owed a refund for it, or, at the Hub, while a provider holds a booking of it or '
    'has not answered its cancellation (hublink.erasure_blockers). Returns what each class removed.';
REVOKE ALL ON FUNCTION hublink.erase_removal(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.erase_removal(text, text) TO hublink_admin;

-- Erasure against copies of the database (docs/security-crypto.md, "Erasure and backups").
INSERT INTO hublink.audit_action VALUES
    ('master_key_destroyed', 'An admin recorded that a retired master key is destroyed (hublink.master_key_destroyed).');

CREATE VIEW hublink.data_key_erasure AS
SELECT l.purge_id, l.removal_reference AS key_scope, l.data_class, l.purged_at, l.reason,
       coalesce(pending.ids, '{}') AS master_keys_to_destroy,
       pending.ids IS NULL AS complete,
       done.at AS complete_since
  FROM hublink.purge_log l
  LEFT JOIN LATERAL (
        SELECT pg_catalog.array_agg(g.master_key_id ORDER BY g.first_used_at) AS ids
          FROM hublink.data_key_master g
         WHERE (g.first_used_at <= l.purged_at OR l.removed->'master_key_ids' ? g.master_key_id)
           AND g.destroyed_at IS NULL) pending ON true
  LEFT JOIN LATERAL (
        SELECT pg_catalog.max(g.destroyed_at) AS at
          FROM hublink.data_key_master g
         WHERE g.first_used_at <= l.purged_at OR l.removed->'master_key_ids' ? g.master_key_id) done
    ON pending.ids IS NULL
 WHERE (l.removed->>'data_keys_destroyed')::integer > 0;
COMMENT ON VIEW hublink.data_key_erasure IS
    'Each destruction of data keys (an erasure on direction or a retention purge, from '
    'hublink.purge_log) and how far it holds against copies of the database made before it '
    '(base backups, archived WAL, standbys, dumps): master_keys_to_destroy lists the master keys '
    'in use up to then whose destruction is not yet recorded; while one remains, such a copy and '
    'that key still open the data. complete: none remains, and since when. Read by hublink_admin.';
COMMENT ON COLUMN hublink.data_key_erasure.purge_id IS 'The purge (hublink.purge_log).';
COMMENT ON COLUMN hublink.data_key_erasure.key_scope IS 'The removal reference, or the day key, destroyed.';
COMMENT ON COLUMN hublink.data_key_erasure.data_class IS 'The class whose purge destroyed the keys.';
COMMENT ON COLUMN hublink.data_key_erasure.purged_at IS 'When: from then on the live database and copies made after cannot open the data.';
COMMENT ON COLUMN hublink.data_key_erasure.reason IS '"retention", or the reason given to hublink.erase_removal.';
COMMENT ON COLUMN hublink.data_key_erasure.master_keys_to_destroy IS
    'Ids of the master keys first used up to the purge, or recorded by it as wrapping a key it '
    'destroyed, and not yet recorded destroyed: any of them may have wrapped the destroyed key in '
    'an older copy (rotate, then destroy them).';
COMMENT ON COLUMN hublink.data_key_erasure.complete IS
    'True when every master key that can have wrapped the destroyed key is recorded destroyed.';
COMMENT ON COLUMN hublink.data_key_erasure.complete_since IS 'When the last of them was recorded destroyed.';
REVOKE ALL ON hublink.data_key_erasure FROM PUBLIC;
GRANT SELECT ON hublink.data_key_erasure TO hublink_admin;

CREATE FUNCTION hublink.master_key_destroyed(p_master_key_id text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    g hublink.data_key_master;
BEGIN
    SELECT * INTO g FROM hublink.data_key_master x WHERE x.master_key_id = p_master_key_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'master key % never wrapped a data key here', p_master_key_id
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'hublink.data_key_master lists the master keys that did.',
                  HINT = 'A master key id is the first 16 hex digits of the key''s SHA-256.';
    END IF;
    IF g.destroyed_at IS NOT NULL THEN
        RETURN g.destroyed_at;
    END IF;
    IF EXISTS (SELECT FROM hublink.data_key d WHERE d.master_key_id = p_master_key_id) THEN
        RAISE EXCEPTION 'master key % still wraps data keys', p_master_key_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Destroying it would make the personal data of those keys unreadable.',
                  HINT = 'Append a new key to the key file and run hublink.rotate_master_key() first.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(hublink.master_keys()) k
                WHERE hublink.crypto_key_id(k) = p_master_key_id) THEN
        RAISE EXCEPTION 'master key % is still in the master key file', p_master_key_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'A key in hublink.master_key_file is not destroyed.',
                  HINT = 'Remove its line from the file and from every copy of the file, reload, then call this again.';
    END IF;
    UPDATE hublink.data_key_master x
       SET destroyed_at = pg_catalog.clock_timestamp(), destroyed_by = session_user,
           retired_at = coalesce(x.retired_at, pg_catalog.clock_timestamp())
     WHERE x.master_key_id = p_master_key_id
    RETURNING * INTO g;
    PERFORM hublink.audit_note('master_key_destroyed', NULL,
        pg_catalog.jsonb_build_object('master_key_id', p_master_key_id, 'first_used_at', g.first_used_at,
            'erasures_completed', (SELECT pg_catalog.count(*) FROM hublink.data_key_erasure e
                                    WHERE e.complete_since = g.destroyed_at)));
    RETURN g.destroyed_at;
END;
$$;
COMMENT ON FUNCTION hublink.master_key_destroyed(text) IS
    'Records that a retired master key is destroyed: gone from hublink.master_key_file (checked) '
    'and, on the admin''s word, from every copy of the key file. Refused while a data key is '
    'wrapped by it or the file holds it. Completes the erasures of hublink.data_key_erasure that '
    'waited on it; audited (master_key_destroyed). Returns when. For hublink_admin.';
REVOKE ALL ON FUNCTION hublink.master_key_destroyed(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.master_key_destroyed(text) TO hublink_admin;
