/*
 * jobs.h - the worker's periodic jobs (hublink.worker_job).
 */
#ifndef HUBLINK_JOBS_H
#define HUBLINK_JOBS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* When the next job is due; DT_NOBEGIN at start-up, so overdue jobs run at once. */
extern TimestampTz hublink_jobs_next(void);

/* Re-read the schedule at the next iteration (hublink.worker_job changed). */
extern void hublink_jobs_reschedule(void);

/* Run the due jobs; the caller has begun a transaction with SPI connected. */
extern void hublink_jobs_run(void);

#endif /* HUBLINK_JOBS_H */
