/*
 * worker.h - what the background worker's files share: settings, shared-memory status and
 * the delivery record passed from the broker client to the inbox.
 */
#ifndef HUBLINK_WORKER_H
#define HUBLINK_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* --- settings (worker_settings.c); docs/settings.md describes each ----------------------- */
extern bool hublink_worker_enabled;
extern char *hublink_database;
extern char *hublink_party;
extern int hublink_worker_restart_interval;
extern char *hublink_broker_host;
extern int hublink_broker_port;
extern char *hublink_broker_vhost;
extern bool hublink_broker_plaintext;
extern char *hublink_broker_ca_file;
extern char *hublink_broker_cert_file;
extern char *hublink_broker_key_file;
extern bool hublink_broker_verify_hostname;
extern int hublink_broker_login;
extern char *hublink_broker_user;
extern char *hublink_broker_password_file;
extern int hublink_broker_heartbeat;
extern int hublink_broker_connect_timeout;
extern bool hublink_declare_queues;
extern int hublink_reconnect_min_delay;
extern int hublink_reconnect_max_delay;
extern int hublink_prefetch;
extern int hublink_batch_size;
extern int hublink_batch_time_limit;
extern int hublink_appliers;
extern int hublink_handler_max_retries;
extern int hublink_outbox_max_in_flight;
extern int hublink_confirm_timeout;
extern bool hublink_jobs_worker;

/* hublink.broker_login values */
typedef enum HublinkLogin
{
	HUBLINK_LOGIN_EXTERNAL,
	HUBLINK_LOGIN_PASSWORD,
	HUBLINK_LOGIN_TOKEN /* an access token from the token service (token.c) */
} HublinkLogin;

/*
 * A text that changes whenever a setting the broker connection depends on changes, so a
 * reload reconnects only when it has to. palloc'd.
 */
extern char *hublink_connection_signature(void);

/* --- shared-memory status (worker_shmem.c) ----------------------------------------------- */
typedef enum HublinkWorkerState
{
	HUBLINK_STATE_STOPPED,
	HUBLINK_STATE_STARTING,
	HUBLINK_STATE_WAITING_FOR_EXTENSION,
	HUBLINK_STATE_MISCONFIGURED,
	HUBLINK_STATE_CONNECTING,
	HUBLINK_STATE_CONNECTED,
	HUBLINK_STATE_DISCONNECTED
} HublinkWorkerState;

/* Which counter of a queue to bump. */
typedef enum HublinkCounter
{
	HUBLINK_COUNT_RECEIVED,
	HUBLINK_COUNT_APPLIED,
	HUBLINK_COUNT_DUPLICATES,
	HUBLINK_COUNT_REJECTED,
	HUBLINK_COUNT_RETRIED,
	HUBLINK_COUNT_ACKED,
	HUBLINK_COUNT_PUBLISHED,
	HUBLINK_N_COUNTERS
} HublinkCounter;

/* The jobs worker (jobs_worker.c): what hublink.worker_status shows of it. */
typedef enum HublinkJobsWorkerState
{
	HUBLINK_JOBS_STOPPED,
	HUBLINK_JOBS_OFF,     /* hublink.jobs_worker is off: the message worker runs the jobs */
	HUBLINK_JOBS_WAITING, /* for the message worker's configuration, or a usable role */
	HUBLINK_JOBS_IDLE,    /* until the next job is due */
	HUBLINK_JOBS_RUNNING
} HublinkJobsWorkerState;

/*
 * The processes with a slot in shared memory: pid, latch, state (HublinkWorkerState for the
 * message worker, HublinkJobsWorkerState for the jobs worker; 0 is "stopped" in both),
 * since when, and whether the jobs changed.
 */
/* Most appliers (hublink.appliers; applier.h), each with a slot. */
#define HUBLINK_MAX_APPLIERS 8

typedef enum HublinkSlot
{
	HUBLINK_SLOT_MESSAGES,
	HUBLINK_SLOT_JOBS,
	HUBLINK_SLOT_APPLIER_FIRST, /* applier k has slot HUBLINK_SLOT_APPLIER_FIRST + k */
	HUBLINK_N_SLOTS = HUBLINK_SLOT_APPLIER_FIRST + HUBLINK_MAX_APPLIERS
} HublinkSlot;

extern void hublink_shmem_setup(void);
/* Take the slot for this process, in state; it is given back when the process exits. */
extern void hublink_shmem_attach(HublinkSlot slot, int state);
extern void hublink_shmem_set_state(HublinkSlot slot, int state);
/* The process read its settings (at a SIGHUP): publish its PgReloadTime. */
extern void hublink_shmem_settings_loaded(HublinkSlot slot);
/* The message worker's publisher confirms not yet committed as sent_at (outbox.c). */
extern void hublink_shmem_set_confirms_unmarked(int n);
extern void hublink_shmem_set_error(const char *error);
extern void hublink_shmem_count(const char *queue, HublinkCounter counter, uint64 n);
/* True once after a transaction called hublink.wake_worker_for_jobs_at_commit() committed. */
extern bool hublink_shmem_take_jobs_changed(HublinkSlot slot);
/* The message worker runs and has its configuration (the jobs worker waits for it). */
extern bool hublink_shmem_worker_configured(void);

/*
 * The enqueue time in microseconds since the Unix epoch, a header we publish beside the AMQP
 * timestamp (whole seconds), so that response times count below the second (issue 15 §5).
 */
#define HUBLINK_ENQUEUED_US_HEADER "hublink-enqueued-us"

/* --- one message taken off the broker, until it is acked --------------------------------- */
typedef struct HublinkDelivery
{
	uint64 delivery_tag;
	char *queue; /* the queue it was consumed from */
	char *body;  /* the bytes as received, not terminated */
	size_t len;
	bool has_timestamp;   /* the AMQP timestamp property was set */
	int64 amqp_timestamp; /* seconds since the Unix epoch */
	bool has_enqueued_us; /* our header HUBLINK_ENQUEUED_US_HEADER was set, an int64 */
	int64 enqueued_us;    /* its value: microseconds since the Unix epoch */
	TimestampTz received_at;
	bool redelivered;
	char *user_id; /* the AMQP user_id property (validated by the broker), NULL when absent */
	/* With appliers (dispatch.c): its partition, and how far it went. */
	bool partitioned; /* partition is set */
	int partition;
	bool sent;    /* wholly on its applier's queue */
	bool counted; /* counted in that queue's length (set at the first attempt to send) */
	bool done;    /* its applier committed it: it may be acked */
} HublinkDelivery;

/* What became of a delivery (inbox.c). */
typedef enum HublinkOutcome
{
	HUBLINK_APPLIED,
	HUBLINK_DUPLICATE,
	HUBLINK_REJECTED,
	HUBLINK_DEFERRED
} HublinkOutcome;

/* The worker's entry point, named in the BackgroundWorker registration. */
/* Milliseconds from now until t, rounded up (worker_main.c). */
extern long hublink_ms_until(TimestampTz t);

extern PGDLLEXPORT void hublink_worker_main(Datum arg);
extern PGDLLEXPORT void hublink_jobs_worker_main(Datum arg);

#endif /* HUBLINK_WORKER_H */
