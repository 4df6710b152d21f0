-- Changing a removal's sensitivity with a reason, as the caseworkers' web interface does it
-- (issue 16; docs/web.md "Changing a case's sensitivity"; NFR 0015, Appendix B 4.19). The rules
-- of hublink.set_removal_sensitivity (90_access.sql) hold: a caseworker changes only a removal it
-- sees, and only to a level it is cleared for (so never above its clearance, and never hides
-- the removal from itself); an admin changes any removal to any level. Added here: a reason,
-- a confirmation before a change that would hide the removal from the person making it (an
-- admin who is also a caseworker), every change kept with who, when and why, and an alert on
-- each: a warning when the sensitivity goes down (more people now see the case's personal
-- data), for the record when it goes up. After the access policy is applied (93_access_apply.sql):
-- it applies it again at its end for its new table and functions.

CREATE TABLE hublink.sensitivity_change (
    sensitivity_change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id            bigint NOT NULL REFERENCES hublink.removal ON DELETE CASCADE,
    from_level            text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    to_level              text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    reason                text,
    changed_by            name NOT NULL,
    changed_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.sensitivity_change IS
    'Every change of a removal''s sensitivity (hublink.change_sensitivity, hublink.set_removal_sensitivity): '
    'from, to, why, who and when. Row-level security as the removal''s other rows.';
COMMENT ON COLUMN hublink.sensitivity_change.sensitivity_change_id IS 'Identity.';
COMMENT ON COLUMN hublink.sensitivity_change.removal_id IS 'The removal.';
COMMENT ON COLUMN hublink.sensitivity_change.from_level IS 'Its sensitivity before.';
COMMENT ON COLUMN hublink.sensitivity_change.to_level IS 'Its sensitivity after.';
COMMENT ON COLUMN hublink.sensitivity_change.reason IS 'Why (NULL: set with hublink.set_removal_sensitivity, which takes none).';
COMMENT ON COLUMN hublink.sensitivity_change.changed_by IS 'The person (hublink.acting_login()).';
COMMENT ON COLUMN hublink.sensitivity_change.changed_at IS 'When.';
CREATE INDEX sensitivity_change_removal ON hublink.sensitivity_change (removal_id);
COMMENT ON INDEX hublink.sensitivity_change_removal IS 'The changes of one removal.';

INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('removal_sensitivity_changed', 'warning', 'hub',
     'A removal''s sensitivity was changed (detail: from, to, by, reason). Lowered: a warning, more '
     'people now see the case''s personal data; check the reason with the person. Raised: for the record.');

-- Keeps a change and raises its alert; called by the two functions that change a sensitivity.
CREATE FUNCTION hublink.record_sensitivity_change(p_removal_id bigint, p_from text, p_to text, p_reason text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who   name := hublink.acting_login();
    ref   text := (SELECT r.removal_reference FROM hublink.removal r WHERE r.removal_id = p_removal_id);
    down  boolean := (SELECT t.rank < f.rank FROM hublink.sensitivity_level f, hublink.sensitivity_level t
                       WHERE f.level = p_from AND t.level = p_to);
BEGIN
    INSERT INTO hublink.sensitivity_change (removal_id, from_level, to_level, reason, changed_by)
    VALUES (p_removal_id, p_from, p_to, p_reason, who);
    PERFORM hublink.raise_alert('removal_sensitivity_changed',
        pg_catalog.format('Removal %s: sensitivity %s from %s to %s by %s', ref,
                          CASE WHEN down THEN 'lowered' ELSE 'raised' END, p_from, p_to, who),
        p_removal_id,
        jsonb_build_object('removal_reference', ref, 'from', p_from, 'to', p_to, 'by', who,
                           'reason', p_reason, 'lowered', down),
        CASE WHEN down THEN 'warning' ELSE 'info' END);
END;
$$;
COMMENT ON FUNCTION hublink.record_sensitivity_change(bigint, text, text, text) IS
    'Records a change of a removal''s sensitivity in hublink.sensitivity_change and raises a '
    'removal_sensitivity_changed alert: warning when lowered, info when raised.';
REVOKE ALL ON FUNCTION hublink.record_sensitivity_change(bigint, text, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.sensitivity_choices(removal_reference text)
    RETURNS TABLE (level text, description text, current boolean, allowed boolean, hides_from_me boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin   boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    cleared text[] := hublink.cleared_levels();
    r       hublink.removal;
    sees    boolean;
BEGIN
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(sensitivity_choices.removal_reference);
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = sensitivity_choices.removal_reference;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', sensitivity_choices.removal_reference USING ERRCODE = 'no_data_found',
            DETAIL = 'No removal has this reference.', HINT = 'hublink.find_removals() finds removals.';
    END IF;
    sees := coalesce(hublink.removal_access_allowed(r.removal_id), false);
    RETURN QUERY
    SELECT l.level, l.description, l.level = r.sensitivity,
           admin OR l.level = ANY (cleared),
           admin AND sees AND NOT (l.level = ANY (cleared)) AND NOT coalesce(hublink.removal_access_allowed(NULL), false)
      FROM hublink.sensitivity_level l ORDER BY l.rank;
END;
$$;
COMMENT ON FUNCTION hublink.sensitivity_choices(text) IS
    'The levels a removal''s sensitivity could be changed to by the person calling, in rank order: '
    'whether it is the current one, whether hublink.change_sensitivity would allow it (a caseworker: '
    'the levels it is cleared for, on a removal it sees; an admin: every level), and whether it '
    'would hide the removal from the person (they see it now and are not cleared for that level: '
    'change_sensitivity then asks for hide_from_me).';
REVOKE ALL ON FUNCTION hublink.sensitivity_choices(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.sensitivity_choices(text) TO hublink_admin, hublink_caseworker;

CREATE FUNCTION hublink.change_sensitivity(removal_reference text, level text, reason text,
                                           hide_from_me boolean DEFAULT false)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    r     hublink.removal;
    c     record;
BEGIN
    -- The same order as set_removal_sensitivity: nothing about the removal is told to a
    -- caseworker who may not see it.
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(change_sensitivity.removal_reference);
    END IF;
    IF nullif(btrim(coalesce(reason, '')), '') IS NULL THEN
        RAISE EXCEPTION 'a change of sensitivity needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The reason is kept with the change and sent with its alert.',
                  HINT = 'Say why the case is more or less sensitive now.';
    END IF;
    SELECT * INTO c FROM hublink.sensitivity_choices(change_sensitivity.removal_reference) s
     WHERE s.level = change_sensitivity.level;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', change_sensitivity.level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sensitivities are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    IF c.current THEN
        RAISE EXCEPTION 'removal % is already %', change_sensitivity.removal_reference, change_sensitivity.level
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing was changed.';
    END IF;
    IF NOT c.allowed THEN
        RAISE EXCEPTION 'sensitivity "%" is above the clearance of this login', change_sensitivity.level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker sets a sensitivity at or below its own clearance: it may not hide a removal from itself.',
                  HINT = 'Ask an admin (hublink_admin) to set it.';
    END IF;
    IF c.hides_from_me AND NOT coalesce(hide_from_me, false) THEN
        RAISE EXCEPTION 'sensitivity "%" would hide removal % from you', change_sensitivity.level, change_sensitivity.removal_reference
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'You are not cleared for that level: once it is set you will no longer see this case.',
                  HINT = 'Confirm that you mean to hide it from yourself (hide_from_me => true), or choose a level you are cleared for.';
    END IF;
    SELECT * INTO r FROM hublink.removal x WHERE x.removal_reference = change_sensitivity.removal_reference FOR UPDATE;
    UPDATE hublink.removal x SET sensitivity = change_sensitivity.level WHERE x.removal_id = r.removal_id;
    PERFORM hublink.record_sensitivity_change(r.removal_id, r.sensitivity, change_sensitivity.level, btrim(reason));
    RETURN r.sensitivity;
END;
$$;
COMMENT ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) IS
    'Changes a removal''s sensitivity with a reason (the web interface''s way): a caseworker on a '
    'removal it sees, to a level it is cleared for; an admin on any removal, to any level. A change '
    'that would hide the removal from the person (hublink.sensitivity_choices) needs hide_from_me. '
    'Kept in hublink.sensitivity_change and alerted (removal_sensitivity_changed: warning when '
    'lowered). Returns the level before.';
REVOKE ALL ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.change_sensitivity(text, text, text, boolean) TO hublink_admin, hublink_caseworker;

SELECT hublink.apply_access_policy();
