-- At the Hub: a provider's answer settled outside the interface (docs/security-crypto.md
-- "Erasure of a removal with live bookings"). An erasure waits for each provider's answer to
-- the Hub's cancellation, and for each booking of a completed removal to end; a provider that
-- never answers by message (its Error in needs_attention) or a travel provider that never sends
-- its completion kept the removal until the retention purge. An admin who has settled it by
-- phone or letter records it here, for that one provider and that one reason: refused for
-- anything the interface can still settle (a live booking the Hub can cancel, a cancellation
-- already answered), audited, and left as a security event (alerted) since it lets an erasure
-- past a safeguard. The table is hublink.hub_settlement (75_crypto_retention.sql).

INSERT INTO hublink.audit_action VALUES
    ('hub_record_settled', 'An admin recorded a provider''s answer settled outside the interface (hublink.hub_record_settled).');
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_settled_outside', 'warning', 'monitoring',
     'An admin recorded a provider''s cancellation answer or completion as settled outside the interface '
     '(hublink.hub_record_settled), which lets the removal be erased. Check it was authorised and that '
     'the provider really released its seats or escorts (hublink.hub_settlement holds the note).');
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('hub_settled_outside', 'security_settled_outside', 'Provider answer recorded as settled outside the interface');

CREATE FUNCTION hublink.hub_record_settled(p_removal_reference text, p_party text, p_note text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       hublink.removal;
    machine text := CASE p_party WHEN 'esp' THEN 'escort' WHEN 'tsp' THEN 'travel' END;
    c       hublink.cancellation;
    kind    text;
    id      bigint;
    o       hublink.outbox;
    wait    interval;
BEGIN
    IF coalesce(btrim(p_note), '') = '' THEN
        RAISE EXCEPTION 'a settlement outside the interface needs a note'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The note is the only record of how the provider''s answer was given.',
                  HINT = 'Give a reference (a ticket or e-mail id, the provider''s letter reference), how and when: no names, '
                         'which the note is not protected for (it is cleared only by the personal-data purge).';
    END IF;
    IF machine IS NULL THEN
        RAISE EXCEPTION 'party "%" is not a provider: give esp or tsp', p_party
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A settlement records the answer of the escort provider (esp) or the travel provider (tsp).',
                  HINT = 'Name the provider whose answer was settled outside the interface.';
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = p_removal_reference AND x.state IS NOT NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the Hub has no removal %', p_removal_reference
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Settlements are recorded at the Hub, for a removal its removal machine tracks.',
                  HINT = 'Check the removal reference.';
    END IF;
    -- The one reason that may be settled: the Hub's cancellation of this provider's accepted
    -- booking with no answer yet (as hublink.erasure_blockers names it) ...
    SELECT * INTO c FROM hublink.hub_unanswered_cancellations(r.removal_id) x
     WHERE x.booking = machine ORDER BY x.cancelled_at DESC LIMIT 1;
    IF FOUND THEN
        kind := 'cancellation';
        -- ... but only once its answer is overdue: a cancellation still unsent in the outbox
        -- (the erasure would then purge it, and the provider never hear of it) or sent moments
        -- ago (its answer may be on its way) is no unanswered cancellation yet. Overdue: sent
        -- (broker-confirmed) at least the response SLA of its message type ago (the most
        -- specific enabled response_sla hublink.timer_rule, else the longest enabled response
        -- SLA: the contract's targets, edited by the admin).
        SELECT * INTO o FROM hublink.outbox x WHERE x.message_id = c.message_id;
        wait := coalesce((SELECT t.fire_offset FROM hublink.timer_rule_for('response_sla', o.message_type, p_party, NULL) t
                           WHERE t.enabled),
                         (SELECT pg_catalog.max(t.fire_offset) FROM hublink.timer_rule t
                           WHERE t.kind = 'response_sla' AND t.enabled AND t.fire_offset > interval '0'),
                         interval '24 hours');
        IF o.sent_at IS NULL OR o.sent_at + wait > pg_catalog.now() THEN
            RAISE EXCEPTION 'the Hub''s % cancellation of removal % is not yet overdue for an answer: nothing was recorded',
                            machine, p_removal_reference
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN o.message_id IS NULL
                                    THEN pg_catalog.format('Its message %s is not in the outbox, so there is no record that it was sent.', c.message_id)
                                    WHEN o.sent_at IS NULL
                                    THEN pg_catalog.format('Its message %s is not yet sent: the broker has not confirmed it, so the provider has not heard of the cancellation.', c.message_id)
                                    ELSE pg_catalog.format('Its message %s was sent at %s; the provider''s answer is due within %s of that (its response SLA), until %s.',
                                                           c.message_id, o.sent_at, wait, o.sent_at + wait) END,
                      HINT = 'Wait for the message to be sent and for its answer to be overdue, then settle it outside the interface if the provider still has not answered.';
        END IF;
    -- ... or a completed removal whose booking with this provider is still held: the Hub can no
    -- longer cancel it (a removal not completed is cancelled through the interface instead).
    ELSIF r.state = 'completed'
          AND (CASE machine WHEN 'escort' THEN r.escort_state ELSE r.travel_state END) IN ('booked', 'amended')
          AND NOT EXISTS (SELECT FROM hublink.hub_settlement h
                           WHERE h.removal_id = r.removal_id AND h.booking = machine AND h.kind = 'completion') THEN
        kind := 'completion';
    ELSE
        RAISE EXCEPTION 'removal % is not kept from erasure by a cancellation or completion of the % that is settled outside the interface: nothing was recorded',
                        p_removal_reference, p_party
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('What keeps it: ' || (SELECT pg_catalog.string_agg(b, '; ') FROM hublink.erasure_blockers(p_removal_reference) b),
                                    'Nothing keeps it from erasure.'),
                  HINT = 'Only the Hub''s cancellation that provider has not answered, or the booking of a completed removal it still '
                         'holds, can be settled outside the interface; a live booking is cancelled with hublink.cancel_booking.';
    END IF;
    INSERT INTO hublink.hub_settlement (removal_id, booking, kind, cancellation_id, note, recorded_by)
    VALUES (r.removal_id, machine, kind, c.cancellation_id, btrim(p_note), hublink.acting_login())
    RETURNING settlement_id INTO id;
    PERFORM hublink.audit_note('hub_record_settled', r.removal_id,
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'party', p_party, 'kind', kind,
                                      'settlement_id', id, 'cancellation_message_id', c.message_id));
    PERFORM hublink.record_security_event('hub_settled_outside',
        pg_catalog.jsonb_build_object('removal_reference', p_removal_reference, 'party', p_party, 'kind', kind,
                                      'settlement_id', id, 'login', hublink.acting_login()));
    RETURN id;
END;
$$;
COMMENT ON FUNCTION hublink.hub_record_settled(text, text, text) IS
    'At the Hub, for hublink_admin: records that the escort (esp) or travel (tsp) provider''s answer was settled '
    'outside the interface, with a note saying how: the Hub''s cancellation of its accepted booking that it never '
    'answered by message once that answer is overdue (the cancellation sent, broker-confirmed, at least its '
    'response SLA ago: hublink.timer_rule response_sla of its message type, else the longest one), or its booking of a completed removal that it never completed by message. That '
    'erasure blocker then goes (hublink.erasure_blockers). Refused, recording nothing, for any other removal or '
    'provider (a live booking is cancelled through the interface). Audited (hub_record_settled), and a '
    'hub_settled_outside security event (alerted). Returns the hublink.hub_settlement id.';
REVOKE ALL ON FUNCTION hublink.hub_record_settled(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.hub_record_settled(text, text, text) TO hublink_admin;
