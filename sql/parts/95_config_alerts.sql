-- Changes that are alerts (the attacker pass of 0.2.0; docs/security-access.md "Changes that
-- are alerts"): every change to the rows that decide who is alerted (alert channels and
-- thresholds, 82/83), who may sign in on the web (web identities, 79) and what each clearance
-- sees (sensitivity levels, 90), and what money is advised or spent (booking market,
-- cancellation estimate, escort rules: 44, 47) raises a critical alert naming the person, in the same
-- transaction (hublink.security_config_alert, 77_security_events.sql). Here, after every part
-- that makes those tables, so that an update script can take this part whole.

-- Every change to a channel is a critical alert naming the person (hublink.security_config_alert),
-- sent to the channels as they now are and, when the change moved, muted or deleted this
-- channel, also to the channel as it was: a redirect or a disable is announced where people
-- were listening (the attacker pass of 0.2.0; docs/alerts.md "Changes to channels").
CREATE FUNCTION hublink.alert_channel_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a  hublink.alert;
    id bigint;
    k  uuid;
BEGIN
    id := hublink.security_config_alert(
        lower(TG_OP), 'hublink.alert_channel',
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
        ARRAY['channel_name', 'url', 'enabled', 'format', 'event_types', 'kinds', 'min_severity',
              'header_file', 'client_cert_file', 'client_key_file', 'ca_file']);
    IF id IS NULL OR TG_OP = 'INSERT' OR NOT OLD.enabled THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (NEW.url, NEW.format, NEW.enabled, NEW.event_types, NEW.kinds, NEW.min_severity, NEW.client_cert_file,
            NEW.client_key_file, NEW.ca_file, NEW.header_file)
           IS NOT DISTINCT FROM
           (OLD.url, OLD.format, OLD.enabled, OLD.event_types, OLD.kinds, OLD.min_severity, OLD.client_cert_file,
            OLD.client_key_file, OLD.ca_file, OLD.header_file) THEN
        RETURN NULL; -- where and what it sends is unchanged: the alert reaches it as it is
    END IF;
    SELECT * INTO a FROM hublink.alert x WHERE x.alert_id = id;
    k := gen_random_uuid();
    INSERT INTO hublink.alert_delivery (channel_name, channel_as_was, source, event_id, event_type, kind, severity,
                                        idempotency_key, payload)
    VALUES (NULL, to_jsonb(OLD), 'alert', a.alert_id, 'alert', a.kind, a.severity, k,
            hublink.alert_render(OLD.format,
                hublink.alert_event('alert', a.alert_id, a.kind, a.severity, a.subject, a.raised_at,
                                    a.detail || jsonb_build_object('alert_id', a.alert_id, 'raised_by', a.raised_by,
                                                                   'sent_to_channel_as_was', OLD.channel_name),
                                    k)));
    PERFORM hublink.wake_worker_for_jobs_at_commit();
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION hublink.alert_channel_changed() IS
    'AFTER ROW trigger of hublink.alert_channel: a critical security_config_changed alert for every '
    'change, and when an enabled channel was redirected, muted, refiltered or deleted, a delivery '
    'of that alert to the channel as it was (alert_delivery.channel_as_was), whatever its filter.';
REVOKE ALL ON FUNCTION hublink.alert_channel_changed() FROM PUBLIC;
CREATE TRIGGER alert_channel_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_changed();
COMMENT ON TRIGGER alert_channel_changed ON hublink.alert_channel IS
    'Announces every change (hublink.alert_channel_changed).';

-- Raising a threshold or disabling a check silences it (docs/alerts.md "Changes to channels").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_threshold
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('check_name', 'alert_kind', 'after',
                                                                  'max_count', 'within', 'severity', 'enabled');
COMMENT ON TRIGGER security_config_changed ON hublink.alert_threshold IS
    'Every change of a threshold is a critical alert (hublink.security_config_changed).';

-- Who may sign in as whom (docs/security-access.md "Web identities: four eyes").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('role_name', 'issuer', 'added_by', 'confirmed_by');
COMMENT ON TRIGGER security_config_changed ON hublink.security_web_identity IS
    'Every change of a mapping is a critical alert (hublink.security_config_changed).';

-- What each clearance sees (docs/security-access.md "Clearances and sensitivities").
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.sensitivity_level
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('level', 'rank');
COMMENT ON TRIGGER security_config_changed ON hublink.sensitivity_level IS
    'Every change of a level is a critical alert (hublink.security_config_changed).';

-- What money the Hub is advised to spend or spends (the hostile review of 7 December 2026): the
-- fares and seats expected as departure nears (booking_market) and the cancellation estimate's
-- prior and bounds (cancel_estimate_config) decide which quote the advice ranks best and when
-- to book; the escorts every returnee needs at least (escort_rule) decide how many escorts are
-- bought. Audited already; an admin's change is now also an alert naming the person.
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.booking_market
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('hours_before', 'fare_factor', 'sold_out');
COMMENT ON TRIGGER security_config_changed ON hublink.booking_market IS
    'Every change of a market band is a critical alert (hublink.security_config_changed): it moves the booking advice.';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.cancel_estimate_config
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed(
        'only_row', 'prior_probability', 'prior_weight', 'min_probability', 'max_probability',
        'provider_probability', 'hold_from_probability', 'hold_hours_before', 'max_sold_out');
COMMENT ON TRIGGER security_config_changed ON hublink.cancel_estimate_config IS
    'Every change of the estimate''s settings is a critical alert (hublink.security_config_changed): it moves the booking advice.';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.escort_rule
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('rule', 'value');
COMMENT ON TRIGGER security_config_changed ON hublink.escort_rule IS
    'Every change of an escort rule is a critical alert (hublink.security_config_changed): it changes how many escorts are bought.';
-- A risk flag decides the same (escorted, min_escorts) and what a provider is told of the
-- returnee (share_with_esp, share_with_tsp): its change is as much an alert (review of the
-- fifth pass).
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.risk_flag
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed(
        'flag', 'escorted', 'min_escorts', 'share_with_esp', 'share_with_tsp');
COMMENT ON TRIGGER security_config_changed ON hublink.risk_flag IS
    'Every change of a risk flag is a critical alert (hublink.security_config_changed): it changes how many escorts are bought and what a provider sees.';
