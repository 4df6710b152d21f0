#!/usr/bin/env bash
# A handler's outcome is what its message's row says (issue 15, section 2): a rejection the
# handler made and kept counts as rejected; one it rolled back (a savepoint) counts as applied,
# on first delivery and on a retry, and the row, the counters and the Error queue agree.
. "$(dirname "$0")/lib.sh"
worker_stack_up

# The handler: per removal, reject and keep it, or reject and roll it back; fail first when told.
psql -Xq -v ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE public.test_outcome (removal_id text PRIMARY KEY, action text NOT NULL, fail_first boolean NOT NULL);
CREATE FUNCTION public.test_outcome_handler(msg jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t public.test_outcome;
    problems constant jsonb := '[{"instanceLocation": "/body", "keywordLocation": "", "error": "refused by the test handler"}]';
BEGIN
    SELECT * INTO t FROM public.test_outcome WHERE removal_id = msg ->> 'removalId';
    IF t.fail_first AND NOT EXISTS (SELECT FROM hublink.inbox i WHERE i.message_id = msg ->> 'messageId'
                                                                AND i.status = 'retrying') THEN
        RAISE EXCEPTION 'test handler fails the first attempt';
    END IF;
    IF t.action = 'reject' THEN
        PERFORM hublink.reject_message(msg, problems);
    ELSIF t.action = 'reject-then-undo' THEN
        BEGIN
            PERFORM hublink.reject_message(msg, problems);
            RAISE EXCEPTION 'changed its mind';
        EXCEPTION WHEN raise_exception THEN
            NULL; -- the rejection and its Error message are rolled back with the savepoint
        END;
    END IF;
END $$;
REVOKE ALL ON FUNCTION public.test_outcome_handler(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.test_outcome_handler(jsonb) TO hublink_worker;
UPDATE hublink.message_handler SET handler = 'public.test_outcome_handler(jsonb)'::regprocedure
 WHERE message_type = 'EscortQuoteRequest';
INSERT INTO public.test_outcome VALUES
    ('RMV-2026-000031', 'reject', false), ('RMV-2026-000032', 'reject-then-undo', false),
    ('RMV-2026-000033', 'reject', true), ('RMV-2026-000034', 'reject-then-undo', true);
EOF

counters() { sql "SELECT applied || '|' || rejected FROM hublink.worker_status"; }
outcome() { # outcome N: the row's status and the applied/rejected counters it moved
    local before after
    before=$(counters)
    gen 1 "$1" | hub publish escort-quote-request 2>/dev/null
    wait_for 20 "SELECT status IN ('applied', 'rejected') FROM hublink.inbox WHERE removal_id = 'RMV-2026-0000$1'" || true
    # The counters move just after the commit that made the row visible: wait until one of the
    # two moved (the check below says which, and that only one did).
    wait_for 20 "SELECT applied + rejected > ${before%|*} + ${before#*|} FROM hublink.worker_status" || true
    after=$(counters)
    echo "$(sql "SELECT status FROM hublink.inbox WHERE removal_id = 'RMV-2026-0000$1'") applied+$((${after%|*} - ${before%|*})) rejected+$((${after#*|} - ${before#*|}))"
}

check_eq "a rejection the handler kept: row rejected, counted rejected" \
    "rejected applied+0 rejected+1" "$(outcome 31)"
check_eq "a rejection the handler rolled back: row applied, counted applied" \
    "applied applied+1 rejected+0" "$(outcome 32)"
check_eq "on a retry, a rejection the handler kept: row rejected, counted rejected" \
    "rejected applied+0 rejected+1" "$(outcome 33)"
check_eq "on a retry, a rejection the handler rolled back: row applied, counted applied" \
    "applied applied+1 rejected+0" "$(outcome 34)"
hub --idle 3000 drain escort-quote-request-error >"$STACK_DIR/errors" 2>/dev/null
check_eq "an Error message for each rejection kept, none for those rolled back" \
    "RMV-2026-000031 RMV-2026-000033" "$(jq -r .removalId "$STACK_DIR/errors" | sort | xargs)"
check_eq "the function that set the worker's flag is gone" "" \
    "$(sql "SELECT to_regprocedure('hublink.note_handler_rejection()')")"
finish
