/*
 * jobs.c - the worker's periodic jobs: workflow timers, purges, monitoring (docs/worker.md).
 *
 * The schedule is data (hublink.worker_job) and the running is SQL (hublink.run_worker_jobs,
 * each job in a subtransaction); the worker only remembers when the next job is due, so it
 * can sleep until then. Starting at DT_NOBEGIN makes a restarted worker run overdue jobs at
 * once, which is how timers due during downtime fire late but fire.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/timestamp.h"

#include "jobs.h"
#include "spi_util.h"

/* With no job enabled, look again after this long (a job may be enabled by plain UPDATE). */
#define JOBS_IDLE_RECHECK_MS 60000

static TimestampTz next_job_at = DT_NOBEGIN;
static SPIPlanPtr run_plan = NULL;

TimestampTz
hublink_jobs_next(void)
{
	return next_job_at;
}

void
hublink_jobs_reschedule(void)
{
	next_job_at = DT_NOBEGIN;
}

void
hublink_jobs_run(void)
{
	TimestampTz idle = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), JOBS_IDLE_RECHECK_MS);
	bool isnull;
	Datum next;

	run_plan = hublink_spi_plan(run_plan, "SELECT hublink.run_worker_jobs()", 0, NULL);
	hublink_spi_run(run_plan, NULL, NULL, false, 1, SPI_OK_SELECT);
	next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	next_job_at = isnull ? idle : Min(DatumGetTimestampTz(next), idle);
}
