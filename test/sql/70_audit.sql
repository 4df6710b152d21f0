-- The audit trail (issue 6 section 3; NFR 0002, NFR 0020, NFR 0025; sql/parts/70_audit*.sql,
-- 72_audit_verify.sql, 98_audit_attach.sql; docs/security-audit.md): rows for insert, update,
-- delete, truncate, state transitions, messages in and out and audit notes, with who, when,
-- which removal and digests only; the chain verifies and names an edited row; the store is
-- append-only for an ordinary role and for a superuser (also in replica mode); the feed.
-- hublink.party is a SIGHUP setting: set with ALTER SYSTEM outside the transaction.
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql

BEGIN;
SELECT plan(49);

-- Seal at each statement's end instead of at commit: this test rolls back.
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;
SET LOCAL TimeZone = 'Pacific/Auckland';  -- the digests must not depend on the writer's zone
CREATE ROLE audit_test_clerk BYPASSRLS;  -- row-level security is not what is tested here
GRANT USAGE ON SCHEMA hublink TO audit_test_clerk;
GRANT SELECT, UPDATE ON hublink.removal TO audit_test_clerk;

CREATE TEMP TABLE t_before AS SELECT coalesce(max(seq), 0) AS seq FROM hublink.audit_chain;
CREATE TEMP TABLE t_removal AS WITH r AS (
    INSERT INTO hublink.removal (removal_reference, state, notes)
    VALUES ('RMV-2026-990001', 'new', 'first') RETURNING removal_id, removal_reference)
SELECT * FROM r;
GRANT SELECT ON t_removal TO audit_test_clerk;

-- insert --------------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM hublink.audit_log
            WHERE table_name = 'hublink.removal' AND action = 'insert'
              AND removal_id = (SELECT removal_id FROM t_removal)), 1, 'an insert writes one audit row');
SELECT is((SELECT row_key FROM hublink.audit_log WHERE table_name = 'hublink.removal' AND action = 'insert'
            AND removal_id = (SELECT removal_id FROM t_removal)),
          jsonb_build_object('removal_id', (SELECT removal_id FROM t_removal)), 'it names the row by its primary key');
SELECT ok((SELECT before_digest IS NULL AND after_digest IS NOT NULL FROM hublink.audit_log
            WHERE table_name = 'hublink.removal' AND action = 'insert' AND removal_id = (SELECT removal_id FROM t_removal)),
          'an insert has an after digest only');
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT after_digest FROM hublink.audit_log WHERE table_name = 'hublink.removal' AND action = 'insert'
            AND removal_id = (SELECT removal_id FROM t_removal)),
          (SELECT sha256(convert_to(to_jsonb(r)::text, 'UTF8')) FROM hublink.removal r
            WHERE removal_id = (SELECT removal_id FROM t_removal)),
          'the after digest is SHA-256 of to_jsonb(row)::text in UTC, whatever the writer''s TimeZone');
SET LOCAL TimeZone = 'Pacific/Auckland';
SELECT is((SELECT session_user_name || '/' || role_name FROM hublink.audit_log WHERE table_name = 'hublink.removal'
            AND action = 'insert' AND removal_id = (SELECT removal_id FROM t_removal)),
          session_user || '/' || session_user, 'who: the login and the role it acted as');
SELECT ok((SELECT at BETWEEN now() AND clock_timestamp() FROM hublink.audit_log WHERE table_name = 'hublink.removal'
            AND action = 'insert' AND removal_id = (SELECT removal_id FROM t_removal)), 'when: a timestamptz of this transaction');

-- update as another role --------------------------------------------------------------------
SET ROLE audit_test_clerk;
UPDATE hublink.removal SET case_reference = 'CASE-SECOND' WHERE removal_id = (SELECT removal_id FROM t_removal);
RESET ROLE;
SELECT is((SELECT changed_columns FROM hublink.audit_log WHERE table_name = 'hublink.removal' AND action = 'update'
            AND removal_id = (SELECT removal_id FROM t_removal)), '{case_reference}'::text[], 'an update names the changed columns');
SELECT is((SELECT role_name || '/' || session_user_name FROM hublink.audit_log WHERE table_name = 'hublink.removal'
            AND action = 'update' AND removal_id = (SELECT removal_id FROM t_removal)),
          'audit_test_clerk/' || session_user, 'who: SET ROLE is recorded as the role, the login as the session user');
SELECT is((SELECT u.before_digest FROM hublink.audit_log u WHERE u.table_name = 'hublink.removal' AND u.action = 'update'
            AND u.removal_id = (SELECT removal_id FROM t_removal)),
          (SELECT i.after_digest FROM hublink.audit_log i WHERE i.table_name = 'hublink.removal' AND i.action = 'insert'
            AND i.removal_id = (SELECT removal_id FROM t_removal)), 'the before digest of the update is the after digest of the insert');

-- personal data: digests only ----------------------------------------------------------------
CREATE TEMP TABLE t_returnee AS WITH r AS (
    INSERT INTO hublink.returnee (removal_id, ho_returnee_reference)
    SELECT removal_id, 'HOAUDIT1' FROM t_removal RETURNING returnee_id)
SELECT * FROM r;
INSERT INTO hublink.returnee_personal (returnee_id, given_names, family_name, date_of_birth)
SELECT returnee_id, 'Zebedee', 'Quixotic-Auditee', '1970-01-02' FROM t_returnee;
SELECT is((SELECT removal_id FROM hublink.audit_log WHERE table_name = 'hublink.returnee_personal' AND action = 'insert'
            AND row_key = jsonb_build_object('returnee_id', (SELECT returnee_id FROM t_returnee))),
          (SELECT removal_id FROM t_removal), 'a table without removal_id finds its removal through its foreign key');
SELECT is_empty($$SELECT audit_id FROM hublink.audit_log l
                   WHERE to_jsonb(l)::text ~* 'zebedee|quixotic|1970-01-02'$$,
                'no audit row holds the personal data written');

-- state transition, message out, message in --------------------------------------------------
SELECT ok(hublink.transition((SELECT removal_id FROM t_removal), 'EscortQuoteRequest', 'out', 'audit-test-msg-1'),
          'a transition');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'state_transition'
            AND removal_id = (SELECT removal_id FROM t_removal)),
          (SELECT count(*)::int FROM hublink.state_transition WHERE removal_id = (SELECT removal_id FROM t_removal)),
          'every state transition writes an audit row');
SELECT is((SELECT detail - 'party' FROM hublink.audit_log WHERE action = 'state_transition' AND detail ->> 'machine' = 'escort'
            AND removal_id = (SELECT removal_id FROM t_removal)),
          '{"event": "EscortQuoteRequest", "machine": "escort", "direction": "out", "to_state": "quote_requested",
            "from_state": "none", "message_id": "audit-test-msg-1"}'::jsonb, 'it says which machine moved from where to where, and why');
CREATE TEMP TABLE t_out AS SELECT hublink.enqueue_error('audit.test', '{"messageId": "audit-in-1", "removalId": "RMV-2026-990001"}', '[]') AS message_id;
SELECT is((SELECT removal_reference || ' ' || (removal_id = (SELECT removal_id FROM t_removal))::text
             FROM hublink.audit_log WHERE action = 'message_out' AND detail ->> 'message_id' = (SELECT message_id FROM t_out)),
          'RMV-2026-990001 true', 'a message out writes an audit row naming its removal');
INSERT INTO hublink.inbox (queue, message, status, received_at)
VALUES ('audit.test', '{"messageId": "audit-in-2", "messageType": "EscortQuoteResponse", "removalId": "RMV-2026-990001"}',
        'applied', now());
SELECT is((SELECT detail ->> 'message_type' FROM hublink.audit_log WHERE action = 'message_in'
            AND detail ->> 'message_id' = 'audit-in-2' AND removal_id = (SELECT removal_id FROM t_removal)),
          'EscortQuoteResponse', 'a message in writes an audit row naming its type and removal');
UPDATE hublink.outbox SET sent_at = now() WHERE message_id = (SELECT message_id FROM t_out);
SELECT is((SELECT changed_columns FROM hublink.audit_log WHERE table_name = 'hublink.outbox' AND action = 'update'
            AND detail ->> 'message_id' = (SELECT message_id FROM t_out)), '{sent_at}'::text[], 'sending it is an update of sent_at');

-- notes, truncate, delete ------------------------------------------------------------------
SELECT lives_ok($$SELECT hublink.audit_note('decrypt', (SELECT removal_id FROM t_removal),
                                             '{"table": "hublink.returnee_personal", "columns": ["given_names"]}')$$,
                'audit_note records a decryption');
SELECT is((SELECT table_name FROM hublink.audit_log WHERE action = 'decrypt' AND removal_id = (SELECT removal_id FROM t_removal)),
          'hublink.returnee_personal', 'the note''s table is the detail''s table');
SELECT throws_ok($$SELECT hublink.audit_note('peek', NULL, '{}')$$, '22023', 'unknown audit action "peek"',
                 'an action not in hublink.audit_action is refused');
SET ROLE audit_test_clerk;
SELECT throws_ok($$SELECT hublink.audit_note('note', NULL, '{}')$$, '42501', NULL, 'an ordinary role cannot write notes');
RESET ROLE;
TRUNCATE hublink.reference_change;
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'truncate' AND table_name = 'hublink.reference_change'),
          1, 'a truncate of an audited table writes an audit row');
DELETE FROM hublink.removal WHERE removal_id = (SELECT removal_id FROM t_removal);
SELECT ok((SELECT before_digest IS NOT NULL AND after_digest IS NULL FROM hublink.audit_log
            WHERE table_name = 'hublink.removal' AND action = 'delete' AND removal_id = (SELECT removal_id FROM t_removal)),
          'a delete writes an audit row with the before digest');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'delete' AND table_name = 'hublink.returnee_personal'),
          1, 'rows deleted by ON DELETE CASCADE are audited too');

-- coverage: derived from the catalog -------------------------------------------------------
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c
                   WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
                     AND c.relname NOT IN (SELECT table_name FROM hublink.audit_exclusion)
                     AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit_row'
                                        AND t.tgenabled = 'A')$$,
                'every table but the excluded ones has an audit trigger that also fires in replica mode');
SELECT ok((SELECT count(*) = 6 FROM hublink.audit_coverage WHERE table_name IN
             ('hublink.inbox'::regclass, 'hublink.outbox', 'hublink.state_transition', 'hublink.returnee_personal',
              'hublink.reason_code', 'hublink.escort_rule')),
          'the messages, transitions, personal data and the tables admins edit are covered');
SELECT ok(NOT EXISTS (SELECT FROM hublink.audit_coverage WHERE table_name IN ('hublink.audit_log'::regclass, 'hublink.audit_chain')),
          'the audit tables are not audited');
CREATE TABLE hublink.audit_test_later (id int PRIMARY KEY, removal_id bigint);
SELECT ok(hublink.audit_attach() > 0, 'audit_attach runs again');
INSERT INTO hublink.audit_test_later VALUES (1, 42);
SELECT is((SELECT removal_id FROM hublink.audit_log WHERE table_name = 'hublink.audit_test_later'), 42::bigint,
          'a table added later is covered once audit_attach runs');

-- the chain ----------------------------------------------------------------------------------
SELECT is((SELECT ok FROM hublink.verify_audit()), true, 'the chain verifies');
SELECT is((SELECT count(*) FROM hublink.audit_chain), (SELECT count(*) FROM hublink.audit_log), 'every row is sealed');

-- one seal per batch: a batch whose first row was rolled back with its subtransaction is sealed
SET CONSTRAINTS hublink.audit_log_seal DEFERRED;
SAVEPOINT batch;
SELECT hublink.audit_note('note', NULL, '{"batch": "rolled back"}');
ROLLBACK TO SAVEPOINT batch;
SELECT hublink.audit_note('note', NULL, '{"batch": "kept"}');
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;  -- fires the deferred seal now
SELECT ok(EXISTS (SELECT FROM hublink.audit_log l JOIN hublink.audit_chain c USING (audit_id)
                   WHERE l.detail ->> 'batch' = 'kept'),
          'a row written after a rolled-back first row of its batch is sealed');

-- a batch of rows sealed at once (the seal reads their canonical texts before it takes the
-- chain's lock): consecutive links in audit_id order, each hash recomputed here from the link
-- before it, not by verify_audit
SET CONSTRAINTS hublink.audit_log_seal DEFERRED;
SELECT hublink.audit_note('note', NULL, jsonb_build_object('many', i)) FROM generate_series(1, 5) i;
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;
SELECT is((SELECT count(*) FROM (
             SELECT c.seq - lag(c.seq) OVER (ORDER BY c.seq) AS step,
                    c.prev_hash = lag(c.row_hash) OVER (ORDER BY c.seq) AS linked,
                    c.row_hash = sha256(c.prev_hash || convert_to(hublink.audit_canonical(l), 'UTF8')) AS hashed,
                    l.audit_id > lag(l.audit_id) OVER (ORDER BY c.seq) AS ordered, l.detail
               FROM hublink.audit_chain c JOIN hublink.audit_log l USING (audit_id)
              WHERE c.seq > (SELECT max(seq) - 5 FROM hublink.audit_chain)) x
           WHERE x.detail ? 'many' AND x.step = 1 AND x.linked AND x.hashed AND x.ordered), 4::bigint,
          'a batch of five is sealed as five consecutive links in audit_id order, each hashing its predecessor');

-- the seal finds its rows by the primary key, whatever audit_log's statistics say: with stale
-- or no statistics it scanned the whole log at every commit (docs/performance.md "Fifth pass")
SET CONSTRAINTS hublink.audit_log_seal DEFERRED;
CREATE TEMP TABLE t_scans AS
    SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'hublink.audit_log'::regclass;
SELECT hublink.audit_note('note', NULL, jsonb_build_object('scan', i)) FROM generate_series(1, 3) i;
SET CONSTRAINTS hublink.audit_log_seal IMMEDIATE;
SELECT is((SELECT x.seq_scan - t.seq_scan FROM pg_stat_xact_user_tables x, t_scans t
            WHERE x.relid = 'hublink.audit_log'::regclass), 0::bigint,
          'sealing a batch reads hublink.audit_log by no sequential scan');
SELECT is((SELECT count(*) FROM hublink.audit_log l JOIN hublink.audit_chain c USING (audit_id)
            WHERE l.detail ? 'scan'), 3::bigint, 'and seals all three rows');

-- append-only: a superuser ------------------------------------------------------------------
SELECT throws_ok($$UPDATE hublink.audit_log SET detail = '{}'$$, '42501',
                 'the audit trail is append-only: UPDATE on hublink.audit_log refused', 'a superuser cannot update');
SELECT throws_ok($$DELETE FROM hublink.audit_log$$, '42501',
                 'the audit trail is append-only: DELETE on hublink.audit_log refused', 'a superuser cannot delete');
SELECT throws_ok($$TRUNCATE hublink.audit_log$$, '42501',
                 'the audit trail is append-only: TRUNCATE on hublink.audit_log refused', 'a superuser cannot truncate');
SELECT throws_ok($$DELETE FROM hublink.audit_chain WHERE seq = 1$$, '42501',
                 'the audit trail is append-only: DELETE on hublink.audit_chain refused', 'nor delete links of the chain');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$DELETE FROM hublink.audit_log$$, '42501',
                 'the audit trail is append-only: DELETE on hublink.audit_log refused',
                 'nor in replica mode (the triggers are ENABLE ALWAYS)');
SET LOCAL session_replication_role = origin;

-- append-only: an ordinary role, even when granted the privilege -----------------------------
SET ROLE audit_test_clerk;
SELECT throws_ok($$UPDATE hublink.audit_log SET detail = '{}'$$, '42501', NULL, 'an ordinary role cannot update');
SELECT throws_ok($$DELETE FROM hublink.audit_log$$, '42501', NULL, 'an ordinary role cannot delete');
SELECT throws_ok($$TRUNCATE hublink.audit_log$$, '42501', NULL, 'an ordinary role cannot truncate');
RESET ROLE;
GRANT UPDATE, DELETE ON hublink.audit_log TO audit_test_clerk;
SET ROLE audit_test_clerk;
SELECT throws_ok($$DELETE FROM hublink.audit_log$$, '42501',
                 'the audit trail is append-only: DELETE on hublink.audit_log refused',
                 'a privilege granted by mistake does not help: the trigger refuses');
RESET ROLE;

-- the refused attempts are recorded outside the transaction (hublink.record_security_event)
SELECT is((SELECT count(*) FROM hublink.security_events(0)
            WHERE kind IN ('audit_update_refused', 'audit_delete_refused', 'audit_truncate_refused')
              AND pid = pg_backend_pid()),
          9::bigint,
          'the six refusals by the trigger and the ordinary role''s three refused by the '
          'privilege check (extension/security_dml.c) were recorded as security events, '
          'though rolled back');

-- the feed -----------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM hublink.audit_since((SELECT seq FROM t_before))),
          (SELECT count(*) FROM hublink.audit_chain WHERE seq > (SELECT seq FROM t_before)), 'the feed returns every row after the cursor');
SELECT is((SELECT (audit_since::jsonb ->> 'seq')::bigint FROM hublink.audit_since((SELECT seq FROM t_before) + 2) LIMIT 1),
          (SELECT seq FROM t_before) + 3, 'oldest first, starting after the cursor');
SELECT is((SELECT array_agg(k ORDER BY k)
             FROM (SELECT audit_since::jsonb AS j FROM hublink.audit_since((SELECT seq FROM t_before)) LIMIT 1) x,
                  jsonb_object_keys(x.j) k),
          '{action,after_sha256,at,audit_id,backend_pid,before_sha256,changed_columns,client_addr,database,detail,feed,party,prev_hash,removal_id,removal_reference,role,row_hash,row_key,seq,session_user,table}'::text[],
          'the feed''s field names are the documented ones');

-- tampering with the triggers off is found --------------------------------------------------
ALTER TABLE hublink.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE hublink.audit_log SET detail = '{"edited": true}'
 WHERE audit_id = (SELECT audit_id FROM hublink.audit_chain WHERE seq = (SELECT seq FROM t_before) + 3);
SELECT is((SELECT broken_seq || ' ' || problem FROM hublink.verify_audit()),
          ((SELECT seq FROM t_before) + 3) || ' its audit row does not match its hash: the row or the link was edited',
          'verify_audit names the first edited row');

SELECT * FROM finish();
ROLLBACK;
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
