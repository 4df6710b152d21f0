-- What the worker is doing (issue 3, section 5), in the spirit of pg_stat_*: its state and
-- counters live in shared memory (since the server started), the backlog in hublink.outbox.

CREATE FUNCTION hublink.worker_state(
    OUT pid integer, OUT state text, OUT state_since timestamptz, OUT last_error text,
    OUT last_error_at timestamptz, OUT started_at timestamptz)
    RETURNS record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_state';
COMMENT ON FUNCTION hublink.worker_state() IS
    'The worker''s process, its broker connection state and since when, and its last error.';

CREATE FUNCTION hublink.jobs_worker_state(
    OUT pid integer, OUT state text, OUT state_since timestamptz, OUT started_at timestamptz)
    RETURNS record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_jobs_worker_state';
COMMENT ON FUNCTION hublink.jobs_worker_state() IS
    'The jobs worker''s process (bgworker/jobs_worker.c: hublink.worker_job runs there when '
    'hublink.jobs_worker is on), its state and since when, and when it started.';

CREATE FUNCTION hublink.worker_appliers(
    OUT applier integer, OUT pid integer, OUT state text, OUT state_since timestamptz,
    OUT started_at timestamptz)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_appliers';
COMMENT ON FUNCTION hublink.worker_appliers() IS
    'One row per applier process (hublink.appliers >= 2, docs/worker.md "Appliers"; none when the '
    'message worker applies every message itself): its partition, process, state (starting, idle, '
    'applying messages, stopped) and since when, and when it started.';

CREATE FUNCTION hublink.worker_processes(
    OUT process text, OUT applier integer, OUT pid integer, OUT state text,
    OUT state_since timestamptz, OUT started_at timestamptz, OUT settings_loaded_at timestamptz,
    OUT confirms_unmarked integer)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_processes';
COMMENT ON FUNCTION hublink.worker_processes() IS
    'One row per process of the worker: the message worker (process messages), the jobs worker '
    '(jobs) and each applier hublink.appliers asks for (applier, with its partition in applier): '
    'its pid (NULL when it does not run), state and since when, when it started; '
    'settings_loaded_at, when the settings it runs with were read (its PgReloadTime: inherited '
    'from the postmaster when it started, then each time it handled a reload), so that after '
    'pg_reload_conf() one can wait until every running process has read the new settings '
    '(settings_loaded_at later than a clock_timestamp() taken before the reload); and for the '
    'message worker confirms_unmarked, the publisher confirms it received whose outbox rows are '
    'not yet committed as sent (they are within 250 ms or with the next batch, docs/worker.md '
    '"Batches and latency"). Tests wait on these rather than sleep (test/README.md "Ordering").';

CREATE FUNCTION hublink.worker_queue_counters(
    OUT queue text, OUT received bigint, OUT applied bigint, OUT duplicates bigint,
    OUT rejected bigint, OUT retried bigint, OUT acked bigint, OUT published bigint)
    RETURNS SETOF record
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_worker_queue_counters';
COMMENT ON FUNCTION hublink.worker_queue_counters() IS
    'Per queue, since the server started: deliveries received, applied, duplicates, rejected, '
    'handler retries, acked; and messages published (confirmed by the broker).';

CREATE VIEW hublink.worker_queue_status AS
SELECT coalesce(c.queue, o.queue) AS queue,
       coalesce(c.received, 0) AS received,
       coalesce(c.applied, 0) AS applied,
       coalesce(c.duplicates, 0) AS duplicates,
       coalesce(c.rejected, 0) AS rejected,
       coalesce(c.retried, 0) AS retried,
       coalesce(c.acked, 0) AS acked,
       coalesce(c.published, 0) AS published,
       coalesce(o.backlog, 0) AS outbox_backlog,
       o.oldest_unsent_age
  FROM hublink.worker_queue_counters() c
  FULL JOIN (SELECT b.queue, count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL GROUP BY b.queue) o
       ON o.queue = c.queue;
COMMENT ON VIEW hublink.worker_queue_status IS
    'One row per queue the worker consumed from or published to: counts since the server '
    'started, and the outbox backlog waiting for that queue.';
COMMENT ON COLUMN hublink.worker_queue_status.queue IS 'The queue name (an inbound queue consumed, or an outbound queue or error queue published to).';
COMMENT ON COLUMN hublink.worker_queue_status.received IS 'Deliveries received from this queue since the server started.';
COMMENT ON COLUMN hublink.worker_queue_status.applied IS 'Deliveries applied by their handler and committed.';
COMMENT ON COLUMN hublink.worker_queue_status.duplicates IS 'Deliveries whose messageId was already in hublink.inbox: acked with no second effect.';
COMMENT ON COLUMN hublink.worker_queue_status.rejected IS 'Deliveries rejected to the error queue (bad input, impossible in the conversation, or a handler that kept failing).';
COMMENT ON COLUMN hublink.worker_queue_status.retried IS 'Handler retries run for messages from this queue.';
COMMENT ON COLUMN hublink.worker_queue_status.acked IS 'Deliveries acknowledged to the broker after their transaction committed.';
COMMENT ON COLUMN hublink.worker_queue_status.published IS 'Messages published to this queue and confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_queue_status.outbox_backlog IS 'Outbox rows for this queue not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_queue_status.oldest_unsent_age IS 'Age of the oldest unconfirmed outbox row for this queue; NULL when none.';

CREATE VIEW hublink.worker_status AS
SELECT s.pid,
       current_setting('hublink.party', true) AS party,
       s.state,
       s.state_since,
       s.last_error,
       s.last_error_at,
       s.started_at,
       c.received, c.applied, c.duplicates, c.rejected, c.retried, c.acked, c.published,
       o.backlog AS outbox_backlog,
       o.oldest_unsent_age,
       (SELECT count(*) FROM hublink.inbox i WHERE i.status = 'retrying') AS retrying,
       (SELECT count(*) FROM hublink.error_report r WHERE r.cleared_at IS NULL) AS needs_attention,
       j.pid AS jobs_pid,
       j.state AS jobs_state,
       j.state_since AS jobs_state_since,
       current_setting('hublink.appliers', true)::integer AS appliers,
       (SELECT count(*) FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'hublink applier') AS appliers_running
  FROM hublink.worker_state() s
 CROSS JOIN hublink.jobs_worker_state() j
 CROSS JOIN (SELECT coalesce(sum(q.received), 0)::bigint AS received,
                    coalesce(sum(q.applied), 0)::bigint AS applied,
                    coalesce(sum(q.duplicates), 0)::bigint AS duplicates,
                    coalesce(sum(q.rejected), 0)::bigint AS rejected,
                    coalesce(sum(q.retried), 0)::bigint AS retried,
                    coalesce(sum(q.acked), 0)::bigint AS acked,
                    coalesce(sum(q.published), 0)::bigint AS published
               FROM hublink.worker_queue_counters() q) c
 CROSS JOIN (SELECT count(*) AS backlog, now() - min(b.created_at) AS oldest_unsent_age
               FROM hublink.outbox b WHERE b.sent_at IS NULL) o;
COMMENT ON VIEW hublink.worker_status IS
    'One row: the worker''s process and broker connection state, since when, its last error, '
    'totals of its per-queue counters (hublink.worker_queue_status), the outbox backlog and the '
    'age of its oldest unsent message, how many messages wait for a handler retry, and how many '
    'Errors received for our messages still need attention.';
COMMENT ON COLUMN hublink.worker_status.pid IS 'Process id of the worker; NULL when it is not running.';
COMMENT ON COLUMN hublink.worker_status.party IS 'The hublink.party setting: hub, tsp or esp.';
COMMENT ON COLUMN hublink.worker_status.state IS 'The broker connection state (for example connected, disconnected, waiting for extension, misconfigured).';
COMMENT ON COLUMN hublink.worker_status.state_since IS 'When the worker entered that state.';
COMMENT ON COLUMN hublink.worker_status.last_error IS 'The last error the worker met, or NULL.';
COMMENT ON COLUMN hublink.worker_status.last_error_at IS 'When that error happened.';
COMMENT ON COLUMN hublink.worker_status.started_at IS 'When the worker process started.';
COMMENT ON COLUMN hublink.worker_status.received IS 'Deliveries received, all queues, since the server started.';
COMMENT ON COLUMN hublink.worker_status.applied IS 'Deliveries applied and committed.';
COMMENT ON COLUMN hublink.worker_status.duplicates IS 'Duplicate deliveries acked with no second effect.';
COMMENT ON COLUMN hublink.worker_status.rejected IS 'Deliveries rejected to an error queue.';
COMMENT ON COLUMN hublink.worker_status.retried IS 'Handler retries run.';
COMMENT ON COLUMN hublink.worker_status.acked IS 'Deliveries acknowledged to the broker.';
COMMENT ON COLUMN hublink.worker_status.published IS 'Messages published and confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_status.outbox_backlog IS 'Outbox rows not yet confirmed by the broker.';
COMMENT ON COLUMN hublink.worker_status.oldest_unsent_age IS 'Age of the oldest unconfirmed outbox row; NULL when none.';
COMMENT ON COLUMN hublink.worker_status.retrying IS 'Inbox messages waiting for a handler retry.';
COMMENT ON COLUMN hublink.worker_status.needs_attention IS
    'Errors received for our messages (or naming none of ours) not yet cleared: rows of hublink.needs_attention.';
COMMENT ON COLUMN hublink.worker_status.jobs_pid IS
    'Process id of the jobs worker (hublink.worker_job runs there when hublink.jobs_worker is on); NULL when it is not running.';
COMMENT ON COLUMN hublink.worker_status.jobs_state IS
    'What the jobs worker does: idle, running jobs, waiting for the message worker''s configuration, or off (the message worker runs the jobs).';
COMMENT ON COLUMN hublink.worker_status.jobs_state_since IS 'When the jobs worker entered that state.';
COMMENT ON COLUMN hublink.worker_status.appliers IS
    'The hublink.appliers setting: 1, the worker applies every message itself; N >= 2, N applier '
    'processes apply them, each the removals that hash to it (hublink.worker_appliers()).';
COMMENT ON COLUMN hublink.worker_status.appliers_running IS
    'Applier processes running now (pg_stat_activity backend_type ''hublink applier'').';

-- CREATE EXTENSION wakes a worker that waits for it (docs/worker.md).
SELECT hublink.wake_worker_at_commit();
