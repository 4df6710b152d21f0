-- The broker contract (issue 12 section 2, issue 14 sections 2 and 3; docs/worker.md "Who may
-- do what on the broker", "Errors read by their sender", "Nothing dropped in silence").
--
-- Which broker user speaks for which party is a row here; the worker compares each delivery's
-- AMQP user_id (which RabbitMQ checks against the connection's login) with the envelope's
-- sender. The broker's permissions, exchanges and bindings are derived from
-- hublink.message_type by hublink.broker_definitions(), which scripts/broker-permissions
-- applies. An Error a party receives on the error queue of a queue it sends on is matched to
-- its outbox row and kept as a hublink.error_report until a person clears it.

CREATE TABLE hublink.broker_identity (
    broker_user text PRIMARY KEY CHECK (broker_user <> '' AND broker_user !~ '[[:cntrl:]]'),
    party       text NOT NULL REFERENCES hublink.party,
    description text
);
COMMENT ON TABLE hublink.broker_identity IS
    'The broker users (the user name RabbitMQ validated: the certificate''s CN, or the password '
    'login) and the party each speaks for. The worker rejects a message whose AMQP user_id is '
    'missing, unknown here, or mapped to another party than the envelope''s sender; '
    'hublink.broker_definitions grants each user its party''s permissions.';
COMMENT ON COLUMN hublink.broker_identity.broker_user IS
    'User name as the broker knows it (with ssl_cert_login_from = common_name, the client '
    'certificate''s CN).';
COMMENT ON COLUMN hublink.broker_identity.party IS 'The party whose messages this user may send.';
COMMENT ON COLUMN hublink.broker_identity.description IS 'Whose login it is, for the operator.';

-- The users of the local stack (scripts/stack: certificates CN=hub, tsp, esp). A real
-- deployment replaces these rows with its own users (docs/worker.md).
INSERT INTO hublink.broker_identity VALUES
    ('hub', 'hub', 'The Home Office Hub''s certificate (CN=hub) on the local test stack.'),
    ('tsp', 'tsp', 'The travel provider''s certificate (CN=tsp) on the local test stack.'),
    ('esp', 'esp', 'The escort provider''s certificate (CN=esp) on the local test stack.');

-- RabbitMQ permissions are regular expressions on resource names: quote every character that
-- is not a letter, digit, '_' or '-', so a name matches only itself.
CREATE FUNCTION hublink.broker_name_pattern(p_names text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN cardinality(p_names) = 0 THEN '^$'
                ELSE '^(' || (SELECT string_agg(regexp_replace(n, '([^A-Za-z0-9_-])', '\\\1', 'g'), '|' ORDER BY n)
                                FROM unnest(p_names) n) || ')$' END;
COMMENT ON FUNCTION hublink.broker_name_pattern(text[]) IS
    'An anchored RabbitMQ permission pattern matching exactly the given names (''^$'' for none).';

-- Who reaches which queue, from the queue table: the sender of a queue's messages publishes
-- them through its exchange and reads the queue's error queue; the consumer reads the queue
-- and publishes its Error messages to the error queue through its own exchange.
CREATE VIEW hublink.broker_route AS
SELECT t.sender_party AS party, p.exchange, t.queue, 'send'::text AS role, t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.sender_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, p.exchange, t.queue || '-error', 'report', t.message_type
  FROM hublink.message_type t JOIN hublink.party p ON p.party = t.receiver_party
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.receiver_party, NULL, t.queue, 'consume', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL
UNION ALL
SELECT t.sender_party, NULL, t.queue || '-error', 'read errors', t.message_type
  FROM hublink.message_type t
 WHERE t.queue IS NOT NULL;
COMMENT ON VIEW hublink.broker_route IS
    'Every queue a party reaches on the broker, derived from hublink.message_type: "send" and '
    '"report" (an Error to the error queue of a queue it consumes) are writes through the '
    'party''s exchange, "consume" and "read errors" (the error queue of a queue it sends on) are '
    'reads. The worker and hublink.broker_definitions use the same rows.';
COMMENT ON COLUMN hublink.broker_route.party IS 'The party.';
COMMENT ON COLUMN hublink.broker_route.exchange IS 'The party''s exchange for writes; NULL for reads.';
COMMENT ON COLUMN hublink.broker_route.queue IS 'The queue (an error queue ends in -error).';
COMMENT ON COLUMN hublink.broker_route.role IS 'send, report, consume or read errors.';
COMMENT ON COLUMN hublink.broker_route.message_type IS 'The message type of the queue (or of the failed messages an error queue reports on).';

CREATE FUNCTION hublink.broker_definitions(p_vhost text DEFAULT '/') RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (
    SELECT jsonb_build_object(
        'exchanges', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'name', p.exchange, 'vhost', p_vhost, 'type', 'direct', 'durable', true,
                          'auto_delete', false, 'internal', false, 'arguments', '{}'::jsonb) ORDER BY p.exchange), '[]')
                        FROM hublink.party p),
        'queues', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'name', q.queue, 'vhost', p_vhost, 'durable', true, 'auto_delete', false,
                       'arguments', '{}'::jsonb) ORDER BY q.queue), '[]')
                     FROM (SELECT DISTINCT r.queue FROM hublink.broker_route r) q),
        'bindings', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'source', r.exchange, 'vhost', p_vhost, 'destination', r.queue,
                         'destination_type', 'queue', 'routing_key', r.queue, 'arguments', '{}'::jsonb)
                         ORDER BY r.exchange, r.queue), '[]')
                       FROM hublink.broker_route r WHERE r.exchange IS NOT NULL),
        'permissions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'user', i.broker_user, 'vhost', p_vhost,
                            'configure', '^$',
                            'write', hublink.broker_name_pattern(ARRAY[p.exchange]),
                            'read', hublink.broker_name_pattern(ARRAY(
                                SELECT DISTINCT r.queue FROM hublink.broker_route r
                                 WHERE r.party = i.party AND r.exchange IS NULL)))
                            ORDER BY i.broker_user), '[]')
                          FROM hublink.broker_identity i JOIN hublink.party p ON p.party = i.party),
        -- The exchanges are direct: topic permissions do not apply to them. An empty pattern
        -- on amq.topic keeps every party off the one topic exchange a vhost always has.
        'topic_permissions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'user', i.broker_user, 'vhost', p_vhost, 'exchange', 'amq.topic',
                                  'write', '^$', 'read', '^$') ORDER BY i.broker_user), '[]')
                                FROM hublink.broker_identity i)));
COMMENT ON FUNCTION hublink.broker_definitions(text) IS
    'The broker''s side of the contract as a RabbitMQ definitions document (rabbitmqctl '
    'import_definitions, or POST /api/definitions): one direct exchange per party, the durable '
    'queues and error queues, a binding from each party''s exchange to each queue it writes '
    '(hublink.broker_route), and per broker user (hublink.broker_identity) configure nothing, '
    'write only its party''s exchange, read only the queues it consumes and the error queues of '
    'the queues it sends on. scripts/broker-permissions applies it.';

-- The worker's only way to raise an alert: kinds whose source is the worker.
CREATE FUNCTION hublink.worker_alert(p_kind text, p_subject text, p_detail jsonb DEFAULT '{}',
                                     p_removal_reference text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM hublink.alert_kind k WHERE k.kind = p_kind AND k.source = 'worker') THEN
        RAISE EXCEPTION 'alert kind "%" is not raised by the worker', p_kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'hublink.worker_alert raises only the kinds of hublink.alert_kind whose source is worker.';
    END IF;
    RETURN hublink.raise_alert(p_kind, p_subject,
                               (SELECT r.removal_id FROM hublink.removal r
                                 WHERE r.removal_reference = p_removal_reference),
                               coalesce(p_detail, '{}'));
END;
$$;
COMMENT ON FUNCTION hublink.worker_alert(text, text, jsonb, text) IS
    'Raises an alert of a kind whose source is the worker (hublink.alert_kind), naming the removal '
    'by its reference when this database has it. For the worker role, which may not raise other '
    'kinds.';
REVOKE ALL ON FUNCTION hublink.worker_alert(text, text, jsonb, text) FROM PUBLIC;

-- Whether the person behind the call may see an Error naming this removal reference: one naming
-- none, or a removal within its clearance (hublink.removal_access_allowed, 90_access.sql, run
-- when called). SECURITY DEFINER: the view below runs it as its reader, and an admin may not
-- read hublink.removal itself. It answers yes or no for a reference the caller names, as the
-- caller's own reads would.
CREATE FUNCTION hublink.error_report_visible(p_removal_reference text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN p_removal_reference IS NULL
        OR coalesce(hublink.removal_access_allowed((SELECT r.removal_id FROM hublink.removal r
                                                     WHERE r.removal_reference = p_removal_reference)), false);
END;
$$;
COMMENT ON FUNCTION hublink.error_report_visible(text) IS
    'True when the login (hublink.acting_login()) may see an Error naming this removal reference: '
    'it names none, or a removal the login is cleared for (the owner, superusers and the worker see '
    'all). For hublink.needs_attention.';
REVOKE ALL ON FUNCTION hublink.error_report_visible(text) FROM PUBLIC;

-- With the owner's rights (an admin clears Errors and reads no removal data), so it filters
-- itself (the attacker pass of 0.2.0: a caseworker or admin of low clearance read the Errors of
-- a restricted removal here).
CREATE VIEW hublink.needs_attention AS
SELECT r.id AS report_id, r.received_at, r.reported_by, r.queue, r.removal_reference,
       r.failed_message_id, r.failed_message_type, r.outbox_id, o.sent_at,
       NOT r.matched AS unmatched, r.problem_count, r.problem_locations
  FROM hublink.error_report r
  LEFT JOIN hublink.outbox o ON o.id = r.outbox_id
 WHERE r.cleared_at IS NULL AND hublink.error_report_visible(r.removal_reference);
COMMENT ON VIEW hublink.needs_attention IS
    'The cases that need a person: each Error received and not yet cleared, with the outbox row '
    'it names (unmatched when it names no message of ours). Each login sees the Errors of the '
    'removals it is cleared for (hublink.error_report_visible) and those naming no removal; the owner, superusers and the worker see every one. '
    'Clear one with hublink.clear_attention.';
COMMENT ON COLUMN hublink.needs_attention.report_id IS 'hublink.error_report.id.';
COMMENT ON COLUMN hublink.needs_attention.received_at IS 'When the Error arrived.';
COMMENT ON COLUMN hublink.needs_attention.reported_by IS 'The party that rejected our message.';
COMMENT ON COLUMN hublink.needs_attention.queue IS 'The queue our message was rejected on.';
COMMENT ON COLUMN hublink.needs_attention.removal_reference IS 'The removal reference, when the Error had one.';
COMMENT ON COLUMN hublink.needs_attention.failed_message_id IS 'Our messageId the Error names.';
COMMENT ON COLUMN hublink.needs_attention.failed_message_type IS 'Its type, as the Error says.';
COMMENT ON COLUMN hublink.needs_attention.outbox_id IS 'Our outbox row; NULL when unmatched or purged by retention.';
COMMENT ON COLUMN hublink.needs_attention.sent_at IS 'When that row was confirmed by the broker.';
COMMENT ON COLUMN hublink.needs_attention.unmatched IS 'True when the Error names no message we sent on that queue.';
COMMENT ON COLUMN hublink.needs_attention.problem_count IS 'How many problems.';
COMMENT ON COLUMN hublink.needs_attention.problem_locations IS 'Where they are (JSON pointers and codes, no texts).';

-- The handler of Error messages (hublink.message_handler row 'Error'): the worker calls it for
-- an Error consumed from the error queue of a queue this party sends on, after checking that
-- its broker user is the party that consumes that queue and storing it in the inbox.
CREATE FUNCTION hublink.receive_error(message jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b         jsonb := message -> 'body';
    v_outbox  hublink.outbox;
    v_report  bigint;
    v_party   text := (SELECT p.party FROM hublink.party p WHERE p.sender_code = message ->> 'sender');
BEGIN
    SELECT * INTO v_outbox FROM hublink.outbox o
     WHERE o.message_id = b ->> 'failedMessageId' AND o.queue = b ->> 'queue';
    INSERT INTO hublink.error_report (error_message_id, reported_by, queue, failed_message_id,
                                      failed_message_type, removal_reference, outbox_id, matched,
                                      problem_count, problem_locations)
    VALUES (message ->> 'messageId', v_party, b ->> 'queue', b ->> 'failedMessageId',
            b ->> 'failedMessageType', message ->> 'removalId', v_outbox.id, v_outbox.id IS NOT NULL,
            jsonb_array_length(b -> 'problems'),
            (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'instanceLocation', p -> 'instanceLocation',
                        'keywordLocation', p -> 'keywordLocation', 'code', p -> 'code')) ORDER BY n), '[]')
               FROM jsonb_array_elements(b -> 'problems') WITH ORDINALITY e(p, n)))
    ON CONFLICT (error_message_id) DO NOTHING
    RETURNING id INTO v_report;
    IF v_report IS NULL THEN
        RETURN;
    END IF;
    IF v_outbox.id IS NOT NULL THEN
        PERFORM hublink.worker_alert('error_received',
            format('%s rejected our %s %s on queue %s (%s problem(s)): the case needs attention',
                   upper(v_party), v_outbox.message_type, v_outbox.message_id, v_outbox.queue,
                   jsonb_array_length(b -> 'problems')),
            jsonb_build_object('report_id', v_report, 'outbox_id', v_outbox.id,
                               'message_id', v_outbox.message_id, 'queue', v_outbox.queue,
                               'removal_reference', message ->> 'removalId'),
            message ->> 'removalId');
    ELSE
        PERFORM hublink.worker_alert('error_unmatched',
            format('%s sent an Error on %s-error naming %s, which is no message we sent there',
                   upper(v_party), b ->> 'queue', coalesce(b ->> 'failedMessageId', 'no message')),
            jsonb_build_object('report_id', v_report, 'failed_message_id', b ->> 'failedMessageId',
                               'queue', b ->> 'queue', 'error_message_id', message ->> 'messageId'),
            message ->> 'removalId');
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.receive_error(jsonb) IS
    'The handler of Error messages read from the error queues of the queues this party sends on: '
    'matches the Error to our outbox row by the failed messageId and queue, records a '
    'hublink.error_report (the case then shows in hublink.needs_attention and worker_status) and '
    'raises an alert; an Error naming no message of ours is kept and alerted too.';
REVOKE ALL ON FUNCTION hublink.receive_error(jsonb) FROM PUBLIC;

CREATE FUNCTION hublink.clear_attention(p_report_id bigint, p_note text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF coalesce(btrim(p_note), '') = '' THEN
        RAISE EXCEPTION 'a note is required to clear an error report'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say what was done, e.g. ''sent again as message ...''.';
    END IF;
    UPDATE hublink.error_report
       SET cleared_at = clock_timestamp(), cleared_by = session_user, clear_note = p_note
     WHERE id = p_report_id AND cleared_at IS NULL
       -- only one the caller sees (a removal it is cleared for, or none): a hidden report is
       -- refused like a missing one
       AND id IN (SELECT a.report_id FROM hublink.needs_attention a);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no open error report %', p_report_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT report_id FROM hublink.needs_attention lists the open ones.';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.clear_attention(bigint, text) IS
    'Marks an error report as dealt with, by the session user, with a note saying what was done. '
    'Only a report the caller sees in hublink.needs_attention (its removal within the caller''s '
    'clearance, or none); any other is refused as not open.';
REVOKE ALL ON FUNCTION hublink.clear_attention(bigint, text) FROM PUBLIC;

