-- Personal data encryption of the escort provider engine (NFR 0011; docs/security-crypto.md
-- "The escort provider's data", docs/esp.md "Personal data"). After 74_crypto_seal.sql, which
-- defines hublink.seal_personal_columns.
--
-- - hublink.esp_plan.returnees (per returnee the HO reference, sex, nationality, risk flags and
--   conditions) is the removal's data: sealed under the removal's data key, so the retention
--   purge of the removal (75_crypto_retention.sql) destroys it with the rest. A plan quoted
--   without a removal (staff trying a request by hand) has a scope of its own, "esp plan <id>".
-- - The escorts' names, passports and sex are the provider's staff data, not a removal's: each
--   escort has a data key of its own, scope "escort <escort_id>". Retaining staff data is the
--   provider's own policy (its employment records), not the Authority's retention_policy;
--   hublink.esp_erase_escort destroys one escort's key when the provider says so.
--
-- - The sex a position asks for (esp_plan_position.gender), which is a returnee's sex when the
--   position escorts that returnee: sealed under the plan's key, like the plan's returnees.
--
-- The engine reads them through the narrow SECURITY DEFINER accessors below, never whole rows:
-- hublink.esp_plan_returnees (amendments), hublink.esp_plan_positions (matching and the
-- escortPositions sent), hublink.esp_escort_sexes (matching, only when a position asks for a
-- sex) and hublink.esp_escort_identities (escortDetails sent to the Home Office). Each call that
-- decrypts writes one audit row (action decrypt).

SELECT hublink.seal_personal_columns('hublink.esp_plan',
    'SELECT coalesce($1 ->> ''removal_ref'', ''esp plan '' || ($1 ->> ''plan_id''))',
    'The removal it was quoted for (removal_ref); a plan without a removal under "esp plan <plan_id>".');
-- The sex a position asks for (esp_plan_position.gender) is the returnee's when the position
-- escorts a returnee (same-sex escorts): sealed under the plan's key, so the removal's purge
-- destroys it with the plan's returnees. Only positions that ask for a sex have anything to
-- seal, so the trigger fires only for them (a WHEN clause): "sealed IS NOT NULL" tells the
-- engine, without decrypting, that a plan needs escorts' sexes (which sex stays sealed).
SELECT hublink.seal_personal_columns('hublink.esp_plan_position',
    'SELECT pl.key_scope FROM hublink.esp_plan pl WHERE pl.plan_id = ($1 ->> ''plan_id'')::bigint',
    'The key of its plan (esp_plan.key_scope): the removal, or "esp plan <plan_id>".');
DROP TRIGGER seal_personal_data ON hublink.esp_plan_position;
CREATE TRIGGER seal_personal_data BEFORE INSERT OR UPDATE ON hublink.esp_plan_position
    FOR EACH ROW WHEN (NEW.gender IS NOT NULL) EXECUTE FUNCTION hublink.seal_personal_row('gender');
SELECT hublink.seal_personal_columns('hublink.esp_escort',
    'SELECT ''escort '' || ($1 ->> ''escort_id'')',
    'The escort''s own key ("escort <escort_id>"): staff data, kept and erased by the provider''s policy.');
SELECT hublink.seal_personal_columns('hublink.esp_escort_personal',
    'SELECT ''escort '' || ($1 ->> ''escort_id'')',
    'The escort''s own key ("escort <escort_id>"): staff data, kept and erased by the provider''s policy.');

-- Sealing drops NOT NULL and the CHECK sees only NULL: the sex of a new escort is checked here,
-- before the seal trigger (triggers fire in name order: esp_escort_sex < seal_personal_data).
CREATE FUNCTION hublink.esp_escort_sex_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.gender IS NULL AND NEW.sealed IS NULL)
       OR NEW.gender !~ '^[MFX]$' THEN
        RAISE EXCEPTION 'escort % needs a sex of M, F or X', NEW.escort_id
            USING ERRCODE = 'check_violation',
                  DETAIL = pg_catalog.format('The value given was %s.', coalesce('"' || NEW.gender || '"', 'NULL')),
                  HINT = 'Positions that need a given sex are filled by hublink.esp_fill_team from this column.';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_sex_check() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.esp_escort: a new escort has a sex, and it is M, F '
    'or X (the column''s own CHECK only ever sees NULL once the value is sealed).';
CREATE TRIGGER esp_escort_sex BEFORE INSERT OR UPDATE ON hublink.esp_escort
    FOR EACH ROW EXECUTE FUNCTION hublink.esp_escort_sex_check();

CREATE FUNCTION hublink.esp_plan_returnees(p_plan_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pl hublink.esp_plan;
BEGIN
    SELECT * INTO pl FROM hublink.esp_plan p WHERE p.plan_id = p_plan_id;
    IF pl.sealed IS NULL OR NOT EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = pl.key_scope) THEN
        RETURN NULL; -- no such plan, or its removal was purged
    END IF;
    PERFORM hublink.audit_note('decrypt',
        (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = pl.key_scope),
        pg_catalog.jsonb_build_object('table', 'hublink.esp_plan', 'key_scope', pl.key_scope,
                                      'plan_id', pl.plan_id, 'columns', '["returnees"]'::jsonb));
    RETURN hublink.unseal(pl.key_scope, pl.sealed) -> 'returnees';
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_returnees(bigint) IS
    'The returnee profiles of a plan (esp_plan.returnees, sealed), for the engine to amend them; '
    'NULL when the plan is unknown or its removal was purged. Audited (decrypt). Revoked from '
    'PUBLIC: the engine runs as the extension owner.';
REVOKE ALL ON FUNCTION hublink.esp_plan_returnees(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.esp_plan_positions(p_plan_id bigint) RETURNS SETOF hublink.esp_plan_position
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    scope text := (SELECT pl.key_scope FROM hublink.esp_plan pl WHERE pl.plan_id = p_plan_id);
    k     bytea;
BEGIN
    IF EXISTS (SELECT FROM hublink.esp_plan_position p WHERE p.plan_id = p_plan_id AND p.sealed IS NOT NULL)
       AND EXISTS (SELECT FROM hublink.data_key d WHERE d.key_scope = scope) THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = scope),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_plan_position', 'key_scope', scope,
                                          'plan_id', p_plan_id, 'columns', '["gender"]'::jsonb));
        k := hublink.data_key_for(scope, false); -- unwrapped once for every position of the plan
    END IF;
    RETURN QUERY
    SELECT x.*
      FROM hublink.esp_plan_position p
     CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(p, CASE
               WHEN p.sealed IS NULL OR k IS NULL THEN '{}'::jsonb
               WHEN p.key_scope = scope THEN pg_catalog.convert_from(hublink.crypto_decrypt(p.sealed, k), 'UTF8')::jsonb
               ELSE hublink.unseal(p.key_scope, p.sealed) END) x
     WHERE p.plan_id = p_plan_id
     ORDER BY p.escort_number;
END;
$$;
COMMENT ON FUNCTION hublink.esp_plan_positions(bigint) IS
    'The positions of a plan with the sex each asks for decrypted (esp_plan_position.gender is '
    'sealed), for matching (hublink.esp_fill_team, esp_change_escort) and the escortPositions sent '
    'to the Hub (hublink.esp_plan_body); a purged plan''s positions read NULL (any sex). One audit '
    'row (decrypt) per call that decrypts. Revoked from PUBLIC: the engine runs as the extension owner.';
REVOKE ALL ON FUNCTION hublink.esp_plan_positions(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.esp_escort_sexes(p_escort_ids text[], p_removal_ref text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sexes jsonb;
BEGIN
    SELECT coalesce(pg_catalog.jsonb_object_agg(e.escort_id, hublink.unseal(e.key_scope, e.sealed) ->> 'gender'), '{}')
      INTO sexes
      FROM hublink.esp_escort e
     WHERE e.escort_id = ANY (p_escort_ids) AND e.sealed IS NOT NULL
       AND EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = e.key_scope);
    IF sexes <> '{}' THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_ref),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_escort', 'columns', '["gender"]'::jsonb,
                                          'purpose', 'matching', 'removal_reference', p_removal_ref,
                                          'escorts', (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(sexes))));
    END IF;
    RETURN sexes;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_sexes(text[], text) IS
    'The sex of each of the given escorts, {escort_id: "M"|"F"|"X"}, decrypted for matching '
    'positions that need a given sex (hublink.esp_fill_team); an erased escort is left out. One '
    'audit row per call (decrypt, the count of escorts, never who or what). Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.esp_escort_sexes(text[], text) FROM PUBLIC;

CREATE FUNCTION hublink.esp_escort_identities(p_escort_ids text[], p_removal_ref text)
    RETURNS TABLE (escort_id text, title text, given_names text, family_name text, date_of_birth date,
                   nationality char(3), gender char(1), document_type text, document_number text,
                   document_issuing_country char(3), document_expiry_date date)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
    SELECT e.escort_id, x.title, x.given_names, x.family_name, x.date_of_birth, x.nationality,
           (hublink.unseal(e.key_scope, e.sealed) ->> 'gender')::char(1), x.document_type, x.document_number,
           x.document_issuing_country, x.document_expiry_date
      FROM hublink.esp_escort e
      JOIN hublink.esp_escort_personal p ON p.escort_id = e.escort_id
     CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(p, hublink.unseal(p.key_scope, p.sealed)) x
     WHERE e.escort_id = ANY (p_escort_ids)
       AND EXISTS (SELECT FROM hublink.data_key k WHERE k.key_scope = p.key_scope);
    IF FOUND THEN
        PERFORM hublink.audit_note('decrypt',
            (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = p_removal_ref),
            pg_catalog.jsonb_build_object('table', 'hublink.esp_escort_personal', 'purpose', 'escortDetails',
                                          'removal_reference', p_removal_ref, 'escort_ids', pg_catalog.to_jsonb(p_escort_ids),
                                          'columns', '["date_of_birth", "document_expiry_date", "document_issuing_country", '
                                                     '"document_number", "document_type", "family_name", "gender", '
                                                     '"given_names", "nationality", "title"]'::jsonb));
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.esp_escort_identities(text[], text) IS
    'Names, sex and passport of the given escorts, decrypted for the escortDetails sent to the Home '
    'Office about removal p_removal_ref (hublink.esp_escort_details); an erased escort is left out. '
    'One audit row per call (decrypt: escort IDs and columns, never values). Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.esp_escort_identities(text[], text) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('escort_erased', 'hublink.esp_erase_escort destroyed an escort''s data key (the provider''s staff data policy).');

CREATE FUNCTION hublink.esp_erase_escort(p_escort_id text, p_reason text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tz constant text := hublink.esp_setting('date_time_zone');
    wrapped_by text;
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.esp_escort e WHERE e.escort_id = p_escort_id) THEN
        RAISE EXCEPTION 'escort % does not exist', p_escort_id
            USING ERRCODE = 'no_data_found', DETAIL = 'Only an escort of hublink.esp_escort can be erased.',
                  HINT = 'Check the escort ID.';
    END IF;
    IF EXISTS (SELECT FROM hublink.esp_duty d JOIN hublink.esp_booking k USING (booking_id)
                WHERE d.escort_id = p_escort_id AND k.status = 'ACTIVE'
                  AND d.duty_date >= (pg_catalog.now() AT TIME ZONE tz)::date) THEN
        RAISE EXCEPTION 'escort % is on duty for an active booking', p_escort_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The booking would lose the name and passport it sent to the Home Office.',
                  HINT = 'Replace the escort first with hublink.esp_change_escort.';
    END IF;
    PERFORM hublink.audit_note('escort_erased', NULL,
        pg_catalog.jsonb_build_object('escort_id', p_escort_id, 'key_scope', 'escort ' || p_escort_id, 'reason', p_reason));
    -- Not escorting any more; the row stays for the history of bookings (esp_booking_escort).
    UPDATE hublink.esp_escort e SET active = false WHERE e.escort_id = p_escort_id;
    DELETE FROM hublink.esp_roster r
     WHERE r.escort_id = p_escort_id AND NOT EXISTS (SELECT FROM hublink.esp_duty d
                                                      WHERE d.escort_id = r.escort_id AND d.duty_date = r.duty_date);
    DELETE FROM hublink.esp_escort_personal p WHERE p.escort_id = p_escort_id;
    -- Crypto-shredding: the sealed sex left in esp_escort can no longer be decrypted here; copies
    -- made before (backups, WAL) once the master keys in use are destroyed. Logged like a
    -- removal's purge, so hublink.data_key_erasure tracks that condition for it too.
    DELETE FROM hublink.data_key k WHERE k.key_scope = 'escort ' || p_escort_id
    RETURNING k.master_key_id INTO wrapped_by;
    INSERT INTO hublink.purge_log (removal_reference, data_class, reason, removed)
    VALUES ('escort ' || p_escort_id, 'escort', coalesce(nullif(p_reason, ''), 'escort erased'),
            pg_catalog.jsonb_build_object('data_keys_destroyed', (wrapped_by IS NOT NULL)::integer,
                'master_key_ids', CASE WHEN wrapped_by IS NULL THEN '[]'::jsonb
                                       ELSE pg_catalog.jsonb_build_array(wrapped_by) END));
END;
$$;
COMMENT ON FUNCTION hublink.esp_erase_escort(text, text) IS
    'The provider erases an escort who left (its staff data policy): audited (escort_erased), the '
    'escort made inactive, its free roster days and its name and passport deleted, and its data '
    'key destroyed, so its sealed sex is unreadable here at once, and in older copies once the '
    'master keys in use are destroyed (logged in hublink.purge_log, class escort; '
    'hublink.data_key_erasure). Refused while the escort is on duty for an active booking from '
    'today on. Granted to hublink_admin.';
REVOKE ALL ON FUNCTION hublink.esp_erase_escort(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.esp_erase_escort(text, text) TO hublink_admin;
