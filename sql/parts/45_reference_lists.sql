-- Announcing the reason-code lists (issue 4, section 1; Schedule R Appendix B 4.17: "the
-- system administrator role will have the ability to edit these lists of options which will
-- prompt communication to the Travel Service Provider of the new data").
--
-- Appendix A has no message for it, so two are added, one per receiving provider (each queue
-- has one consumer): TravelReferenceListUpdate (hub -> tsp) and EscortReferenceListUpdate
-- (hub -> esp). Each carries the full state of one list with a sequence number, so a provider
-- that missed one converges on the next. They belong to no removal (no removalId) and are
-- not part of a conversation: their handler is hublink.apply_reference_list, never
-- hublink.handle_message (this file runs after 43_conversation.sql, whose UPDATE of the
-- handlers therefore does not reach them).
--
-- At the Hub a deferred constraint trigger on hublink.reason_code sends, at commit, one
-- message per changed list and provider through hublink.send() (the transactional outbox).
-- At a provider an admin's edit of its local copy is recorded and NOTIFYed (42) but not sent.

INSERT INTO hublink.message_type VALUES
    ('EscortReferenceListUpdate', 'escort-reference-list-update', 'escort-reference-list-update', 'hub', 'esp', 'B 4.17'),
    ('TravelReferenceListUpdate', 'travel-reference-list-update', 'travel-reference-list-update', 'hub', 'tsp', 'B 4.17');

-- Each list's state as last announced (at the Hub) or last applied (at a provider).
CREATE TABLE hublink.reference_list_state (
    list        text PRIMARY KEY,
    description text,
    sequence    bigint NOT NULL CHECK (sequence >= 0),
    codes       jsonb NOT NULL CHECK (jsonb_typeof(codes) = 'array'),
    changed_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    message_id  text
);
COMMENT ON TABLE hublink.reference_list_state IS
    'Per reason-code list, the version exchanged with the other parties (Appendix B 4.17). At '
    'the Hub: the state last announced in a Travel/EscortReferenceListUpdate; an edit that '
    'leaves the list as announced sends nothing. At a provider: the state last applied from '
    'the Hub; an announcement with a sequence not higher than this one is ignored.';
COMMENT ON COLUMN hublink.reference_list_state.list IS 'The reason list.';
COMMENT ON COLUMN hublink.reference_list_state.description IS 'The list''s description as announced.';
COMMENT ON COLUMN hublink.reference_list_state.sequence IS 'The body''s sequence: 1 for the first announcement of the list, then one more each time.';
COMMENT ON COLUMN hublink.reference_list_state.codes IS 'The body''s codes: [{code, text, active}] in code order.';
COMMENT ON COLUMN hublink.reference_list_state.changed_at IS 'The body''s changedAt: when the change was made at the Hub.';
COMMENT ON COLUMN hublink.reference_list_state.recorded_at IS 'When this party announced (Hub) or applied (provider) it.';
COMMENT ON COLUMN hublink.reference_list_state.message_id IS 'At a provider, the messageId applied; NULL at the Hub (one message per provider).';
SELECT pg_catalog.pg_extension_config_dump('hublink.reference_list_state', '');

-- The codes of a list as a message carries them.
CREATE FUNCTION hublink.reason_list_codes(list text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('code', c.code, 'text', c.description,
                                                         'active', c.active) ORDER BY c.code), '[]')
              FROM hublink.reason_code c WHERE c.list = reason_list_codes.list);
COMMENT ON FUNCTION hublink.reason_list_codes(text) IS
    'The codes of a reason list as a reference-list update carries them: [{code, text, active}] in code order.';

CREATE FUNCTION hublink.announce_reason_list(list text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_codes       jsonb := hublink.reason_list_codes(announce_reason_list.list);
    v_description text;
    v_state       hublink.reference_list_state;
    v_kind        hublink.message_type;
    v_sent        integer := 0;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN 0;
    END IF;
    SELECT l.description INTO v_description FROM hublink.reason_list l
     WHERE l.list = announce_reason_list.list;
    IF NOT FOUND THEN
        RETURN 0;  -- the list itself is gone (renamed: its new name is announced)
    END IF;
    INSERT INTO hublink.reference_list_state (list, description, sequence, codes, changed_at)
    VALUES (announce_reason_list.list, NULL, 0, '[]', now())
    ON CONFLICT ON CONSTRAINT reference_list_state_pkey DO NOTHING;
    SELECT * INTO v_state FROM hublink.reference_list_state s
     WHERE s.list = announce_reason_list.list FOR UPDATE;
    IF v_state.sequence > 0 AND v_state.codes = v_codes AND v_state.description = v_description THEN
        RETURN 0;  -- as announced already (another row of the same change, or no visible change)
    END IF;
    UPDATE hublink.reference_list_state s
       SET description = v_description, sequence = s.sequence + 1, codes = v_codes,
           changed_at = now(), recorded_at = now()
     WHERE s.list = announce_reason_list.list
    RETURNING * INTO v_state;
    FOR v_kind IN SELECT * FROM hublink.message_type t
                   WHERE t.appendix_section = 'B 4.17' AND t.sender_party = 'hub'
                   ORDER BY t.message_type LOOP
        -- A reference list belongs to no removal: the envelope has no removalId.
        PERFORM hublink.send(hublink.new_message(v_kind.message_type, NULL, jsonb_build_object(
            'list', v_state.list,
            'description', v_state.description,
            'sequence', v_state.sequence,
            'changedAt', to_char(v_state.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
            'codes', v_state.codes)) - 'removalId');
        v_sent := v_sent + 1;
    END LOOP;
    RETURN v_sent;
END;
$$;
COMMENT ON FUNCTION hublink.announce_reason_list(text) IS
    'At the Hub: when the reason list differs from what was last announced, raises its sequence '
    'and sends its full state to every provider (TravelReferenceListUpdate to the TSP, '
    'EscortReferenceListUpdate to the ESP) through hublink.send(), in the caller''s transaction. '
    'Returns the number of messages written to the outbox (0 when nothing changed, or at a '
    'provider). Called by the trigger reason_code_publish; an admin may call it to re-send.';
REVOKE ALL ON FUNCTION hublink.announce_reason_list(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.announce_reason_list(text) TO hublink_admin;

CREATE FUNCTION hublink.publish_reason_list_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM hublink.announce_reason_list(NEW.list);
    END IF;
    IF TG_OP = 'DELETE' OR OLD.list IS DISTINCT FROM NEW.list THEN
        PERFORM hublink.announce_reason_list(OLD.list);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.publish_reason_list_change() IS
    'Deferred row trigger on hublink.reason_code: at the Hub, announces the list(s) the row '
    'belongs to with hublink.announce_reason_list (the first row of a transaction sends the '
    'final state, the others find it announced). Does nothing at a provider.';

CREATE CONSTRAINT TRIGGER reason_code_publish
    AFTER INSERT OR UPDATE OR DELETE ON hublink.reason_code
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION hublink.publish_reason_list_change();
COMMENT ON TRIGGER reason_code_publish ON hublink.reason_code IS
    'At the Hub, sends the changed lists to the providers at commit: one message per list and '
    'provider per transaction, with the list''s final state (Appendix B 4.17).';

-- At a provider: apply an announcement.
CREATE FUNCTION hublink.apply_reference_list(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body     jsonb := message -> 'body';
    lst      text := body ->> 'list';
    seq      bigint := hublink.json_integer(body -> 'sequence')::bigint;
    state    hublink.reference_list_state;
BEGIN
    INSERT INTO hublink.reference_list_state (list, sequence, codes, changed_at)
    VALUES (lst, 0, '[]', '-infinity')
    ON CONFLICT ON CONSTRAINT reference_list_state_pkey DO NOTHING;
    SELECT * INTO state FROM hublink.reference_list_state s WHERE s.list = lst FOR UPDATE;
    IF state.sequence >= seq THEN
        RAISE LOG 'hublink: ignored % of reason list "%" with sequence %: sequence % is applied',
            message ->> 'messageType', lst, seq, state.sequence;
        RETURN;
    END IF;
    INSERT INTO hublink.reason_list AS l (list, description) VALUES (lst, body ->> 'description')
    ON CONFLICT (list) DO UPDATE SET description = excluded.description
     WHERE l.description IS DISTINCT FROM excluded.description;
    DELETE FROM hublink.reason_code c
     WHERE c.list = lst
       AND c.code NOT IN (SELECT x ->> 'code' FROM jsonb_array_elements(body -> 'codes') x);
    INSERT INTO hublink.reason_code AS c (list, code, description, active, changed_at, changed_by)
    SELECT lst, x ->> 'code', x ->> 'text', (x ->> 'active')::boolean,
           (body ->> 'changedAt')::timestamptz, message ->> 'sender'
      FROM jsonb_array_elements(body -> 'codes') x
    ON CONFLICT (list, code) DO UPDATE
       SET description = excluded.description, active = excluded.active,
           changed_at = excluded.changed_at, changed_by = excluded.changed_by
     WHERE (c.description, c.active) IS DISTINCT FROM (excluded.description, excluded.active);
    UPDATE hublink.reference_list_state s
       SET description = body ->> 'description', sequence = seq, codes = body -> 'codes',
           changed_at = (body ->> 'changedAt')::timestamptz, recorded_at = now(),
           message_id = message ->> 'messageId'
     WHERE s.list = lst;
END;
$$;
COMMENT ON FUNCTION hublink.apply_reference_list(jsonb) IS
    'The handler of TravelReferenceListUpdate and EscortReferenceListUpdate at a provider: '
    'replaces the local reason list with the full state received (codes not in the message are '
    'deleted, the others inserted or updated), unless the list already holds this sequence or a '
    'later one, in which case the message changes nothing. Outside the removal state machine.';
REVOKE ALL ON FUNCTION hublink.apply_reference_list(jsonb) FROM PUBLIC;

INSERT INTO hublink.message_handler
SELECT t.message_type, 'hublink.apply_reference_list(jsonb)'::regprocedure,
       'Replace the local reason list with the Hub''s (Appendix B 4.17); not part of a conversation.'
  FROM hublink.message_type t
 WHERE t.appendix_section = 'B 4.17';
