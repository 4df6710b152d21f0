#!/usr/bin/env bash
# The worker works as hublink.worker_role, not as a superuser (issue 6 section 1, NFR 0015:
# "the worker sees what it must process and nothing beyond"; bgworker/worker_role.c).
# An invoker handler, called by the real worker for a real delivery, records who it runs as and
# what it may do; a handler without EXECUTE waits as retrying and is applied once granted; an
# unusable role (superuser, BYPASSRLS, not a member of hublink_worker) stops the worker with a
# warning, loses nothing, and a fixed role resumes it. docs/security-access.md, docs/worker.md.
. "$(dirname "$0")/lib.sh"
worker_stack_up

bootstrap=$(sql "SELECT rolname FROM pg_roles WHERE oid = 10")

# An invoker handler: it runs with exactly the rights of the worker's role. It records the
# identity and the SQLSTATE of each thing a handler must not be able to do (00000: it worked).
psql -Xq -v ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE public.worker_identity (removal text, session_name text, current_name text,
                                     superuser text, probe text, sqlstate text);
GRANT INSERT ON public.worker_identity TO hublink_worker;
CREATE FUNCTION public.probe(what text, statement text, OUT state text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    state := SQLSTATE;
END $$;
CREATE FUNCTION public.whoami(msg jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    boot CONSTANT name := (SELECT rolname FROM pg_roles WHERE oid = 10);
    probes CONSTANT text[][] := ARRAY[
        ARRAY['set_role', format('SET ROLE %I', boot)],
        ARRAY['set_session_authorization', format('SET SESSION AUTHORIZATION %I', boot)],
        ARRAY['read_removal', 'SELECT count(*) FROM hublink.removal'],
        ARRAY['read_returnee', 'SELECT count(*) FROM hublink.returnee'],
        ARRAY['read_data_key', 'SELECT count(*) FROM hublink.data_key'],
        ARRAY['update_audit', 'UPDATE hublink.audit_log SET detail = detail WHERE false'],
        ARRAY['call_hub_function', 'SELECT hublink.cancel_removal(''RMV-2026-000001'', ''OTHER'')'],
        ARRAY['read_inbox', 'SELECT count(*) FROM hublink.inbox']];
    i int;
BEGIN
    FOR i IN 1 .. array_length(probes, 1) LOOP
        INSERT INTO public.worker_identity
        VALUES (msg ->> 'removalId', session_user, current_user, current_setting('is_superuser'),
                probes[i][1], public.probe(probes[i][1], probes[i][2]));
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION public.whoami(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.whoami(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
EOF

gen 1 1 | hub publish escort-quote-request 2>/dev/null
check "a request is applied by the worker through an invoker handler" \
    wait_for 30 "SELECT count(*) = 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000001' AND status = 'applied'"
who() { sql "SELECT $1 FROM public.worker_identity WHERE removal = '$2' AND probe = '${3:-read_inbox}'"; }
check_eq "the handler's session_user is hublink_worker" "hublink_worker" "$(who session_name RMV-2026-000001)"
check_eq "its current_user is hublink_worker" "hublink_worker" "$(who current_name RMV-2026-000001)"
check_eq "is_superuser is off" "off" "$(who superuser RMV-2026-000001)"
# 42501: insufficient_privilege ("cannot set parameter ... within security-definer function").
check_eq "SET ROLE to the bootstrap superuser is refused" "42501" "$(who sqlstate RMV-2026-000001 set_role)"
check_eq "SET SESSION AUTHORIZATION back to it is refused" "42501" \
    "$(who sqlstate RMV-2026-000001 set_session_authorization)"
check_eq "removal data is not readable (hublink.removal)" "42501" "$(who sqlstate RMV-2026-000001 read_removal)"
check_eq "personal data is not readable (hublink.returnee)" "42501" "$(who sqlstate RMV-2026-000001 read_returnee)"
check_eq "data keys are not readable" "42501" "$(who sqlstate RMV-2026-000001 read_data_key)"
check_eq "the audit trail cannot be changed" "42501" "$(who sqlstate RMV-2026-000001 update_audit)"
check_eq "a caseworker's Hub function cannot be called" "42501" "$(who sqlstate RMV-2026-000001 call_hub_function)"
check_eq "the inbox it processes is readable" "00000" "$(who sqlstate RMV-2026-000001 read_inbox)"
check_eq "the audit trail names hublink_worker as who stored the message" "hublink_worker" \
    "$(sql "SELECT string_agg(DISTINCT session_user_name, ',') FROM hublink.audit_log
            WHERE action = 'message_in' AND removal_reference = 'RMV-2026-000001'")"

# A handler the role may not execute is a handler error: retried, then rejected to the error
# queue with the reason (the poison-message path of 01_roundtrip), never applied in silence.
sql "REVOKE EXECUTE ON FUNCTION public.whoami(jsonb) FROM hublink_worker, PUBLIC" >/dev/null
gen 1 2 | hub publish escort-quote-request 2>/dev/null
check "without EXECUTE on the handler the message is not applied, but rejected after its retries" \
    wait_for 30 "SELECT status = 'rejected' AND attempts > 1 FROM hublink.inbox WHERE removal_id = 'RMV-2026-000002'"
# The error text is sealed (it may quote the message); hublink.inbox_failure opens it, audited.
FAILURE="SELECT f.last_error FROM hublink.inbox i, hublink.inbox_failure(i.id) f WHERE i.removal_id = 'RMV-2026-000002'"
note "last_error: $(sql "$FAILURE")"
check "with the reason: permission denied to run the handler" \
    wait_for 10 "SELECT last_error LIKE 'permission denied to run handler public.whoami(%) for message type _EscortQuoteRequest_'
                 FROM ($FAILURE) x"
check_eq "and nothing the handler would have written" "0" \
    "$(sql "SELECT count(*) FROM public.worker_identity WHERE removal = 'RMV-2026-000002'")"
check "its Error message goes to escort-quote-request-error" \
    wait_for 20 "SELECT count(*) = 1 FROM hublink.outbox WHERE queue = 'escort-quote-request-error' AND sent_at IS NOT NULL"
sql "GRANT EXECUTE ON FUNCTION public.whoami(jsonb) TO hublink_worker" >/dev/null

# Unusable roles: the worker refuses to work, says why, and the messages wait on the queue.
refused() { # refused WHAT ROLE EXPECTED_PHRASE N
    sql "ALTER SYSTEM SET hublink.worker_role = '$2'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    check "$1: the worker stops working (misconfigured)" \
        wait_for 60 "SELECT state = 'misconfigured' FROM hublink.worker_status"
    check "$1: it says why ($3)" \
        wait_for 10 "SELECT last_error LIKE '%$3%' FROM hublink.worker_status"
    gen 1 "$4" | hub publish escort-quote-request 2>/dev/null
    sleep 2
    check_eq "$1: the message published meanwhile waits on the queue (ready, not held)" "1 0" \
        "$(queue_state escort-quote-request)"
    check_eq "$1: and nothing of it is stored" "0" \
        "$(sql "SELECT count(*) FROM hublink.inbox WHERE removal_id = format('RMV-2026-%s', lpad('$4', 6, '0'))")"
}
refused "a superuser" "$bootstrap" "is a superuser" 3
sql "CREATE ROLE hl_worker_bypass NOLOGIN BYPASSRLS IN ROLE hublink_worker" >/dev/null
# The worker is waiting (no transaction); a new role is checked at the next reload.
sql "ALTER SYSTEM SET hublink.worker_role = 'hl_worker_bypass'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
check "a BYPASSRLS role is refused too" \
    wait_for 30 "SELECT last_error LIKE '%has BYPASSRLS%' FROM hublink.worker_status"
sql "CREATE ROLE hl_worker_login LOGIN" >/dev/null
sql "ALTER SYSTEM SET hublink.worker_role = 'hl_worker_login'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
check "a role without the privileges of hublink_worker is refused" \
    wait_for 30 "SELECT last_error LIKE '%does not have the privileges of hublink_worker%' FROM hublink.worker_status"
check_eq "the refusal is a warning in the server log" "1" \
    "$(grep -c 'hublink worker cannot start: its role is not usable' "$HUBLINK_PG_LOG" | awk '{print ($1 > 0)}')"

# Fixed by SQL (a grant), then a reload wakes the worker: it works as that login role.
sql "GRANT hublink_worker TO hl_worker_login" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
check "with the role fixed the worker connects again" \
    wait_for 60 "SELECT state = 'connected' FROM hublink.worker_status"
check "the message that waited is applied" \
    wait_for 30 "SELECT status = 'applied' FROM hublink.inbox WHERE removal_id = 'RMV-2026-000003'"
check_eq "as the login role named by hublink.worker_role" "hl_worker_login|hl_worker_login" \
    "$(sql "SELECT session_name || '|' || current_name FROM public.worker_identity
            WHERE removal = 'RMV-2026-000003' AND probe = 'read_inbox'")"
check_eq "which still cannot read removal data" "42501" "$(who sqlstate RMV-2026-000003 read_removal)"
finish
