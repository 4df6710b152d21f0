-- The worker's periodic jobs (sql/parts/33_worker_jobs.sql): hublink.run_worker_jobs runs
-- what is due, each job in its own subtransaction, records runs and failures, and returns
-- when the next job is due; hublink.schedule_worker_job only ever brings a job forward.
-- The worker itself calling run_worker_jobs is tested through the timers (test/e2e).
BEGIN;
SELECT plan(14);

-- Park the shipped jobs, so only this file's jobs are due.
UPDATE hublink.worker_job SET enabled = false;

CREATE TABLE public.job_ticks (job text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION public.job_tick() RETURNS timestamptz LANGUAGE sql
    AS $$ INSERT INTO public.job_ticks (job) VALUES ('tick'); SELECT NULL::timestamptz $$;
CREATE FUNCTION public.job_soon() RETURNS timestamptz LANGUAGE sql
    AS $$ INSERT INTO public.job_ticks (job) VALUES ('soon'); SELECT clock_timestamp() + interval '5 seconds' $$;
CREATE FUNCTION public.job_boom() RETURNS timestamptz LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO public.job_ticks (job) VALUES ('boom'); RAISE EXCEPTION 'boom went the job'; END $$;

INSERT INTO hublink.worker_job (job_name, job_function, run_every, description) VALUES
    ('t_tick', 'public.job_tick()', '1 hour', 'test: returns NULL'),
    ('t_soon', 'public.job_soon()', '1 hour', 'test: asks to run again in 5 s'),
    ('t_boom', 'public.job_boom()', '10 minutes', 'test: always fails');

SELECT cmp_ok(hublink.run_worker_jobs(), '>', now(), 'after a run the next job is in the future');
SELECT is((SELECT count(*) FROM public.job_ticks WHERE job = 'tick'), 1::bigint, 'a due job ran once');
SELECT is((SELECT count(*) FROM public.job_ticks WHERE job = 'boom'), 0::bigint,
          'a failing job''s own changes are rolled back with its subtransaction');
SELECT is((SELECT runs || '/' || failures FROM hublink.worker_job WHERE job_name = 't_boom'), '1/1',
          'a failing job counts a run and a failure');
SELECT is((SELECT last_error FROM hublink.worker_job WHERE job_name = 't_boom'), 'boom went the job',
          'and keeps its error');
SELECT ok((SELECT next_run_at - last_started_at = interval '10 minutes' FROM hublink.worker_job WHERE job_name = 't_boom'),
          'a failed job runs again after run_every');
SELECT ok((SELECT next_run_at - last_started_at = interval '1 hour' FROM hublink.worker_job WHERE job_name = 't_tick'),
          'a job returning NULL runs again after run_every');
SELECT ok((SELECT next_run_at - last_started_at BETWEEN interval '4 seconds' AND interval '6 seconds'
             FROM hublink.worker_job WHERE job_name = 't_soon'),
          'a job may ask to run sooner than run_every');
SELECT is(hublink.run_worker_jobs(), (SELECT min(next_run_at) FROM hublink.worker_job WHERE enabled),
          'the return value is the earliest next run of the enabled jobs');
SELECT is((SELECT count(*) FROM public.job_ticks), 2::bigint, 'nothing runs again before it is due');

SELECT hublink.schedule_worker_job('t_tick', now() - interval '1 second');
SELECT lives_ok('SELECT hublink.schedule_worker_job(''t_tick'', now() + interval ''1 day'')',
                'scheduling later is accepted');
SELECT ok((SELECT next_run_at < now() FROM hublink.worker_job WHERE job_name = 't_tick'),
          'but never postpones a job');
SELECT hublink.run_worker_jobs();
SELECT is((SELECT count(*) FROM public.job_ticks WHERE job = 'tick'), 2::bigint,
          'a job brought forward runs at the next call');
SELECT throws_ok('SELECT hublink.schedule_worker_job(''no_such_job'', now())', '42704',
                 'no worker job named "no_such_job"', 'an unknown job is an error');

SELECT * FROM finish();
ROLLBACK;
