/*
 * connection.c - the worker's broker connection as a state: which queues, when to try again,
 * and what is logged.
 *
 * A broker that is down is an expected state, not an error of the worker: the connection is
 * retried with exponential backoff capped at hublink.reconnect_max_delay, and only a change of
 * state is logged (one WARNING when the connection is lost or cannot be made, one LOG when it
 * is back), so a broker outage does not flood the log.
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker.h"
#include "connection.h"
#include "dispatch.h"
#include "outbox.h"
#include "pending.h"
#include "token.h"
#include "worker.h"

static MemoryContext conn_cxt = NULL;
static HublinkBroker *broker = NULL;
static HublinkTopology topology;
static int backoff_ms = 0;
static TimestampTz next_attempt_at = 0;
static TimestampTz connected_at = 0;
static bool warned = false;

HublinkBroker *
hublink_conn_broker(void)
{
	return broker;
}

/* Run a query with the party as $1; returns its first column as a palloc'd array. */
static char **
party_query(const char *sql, int *n)
{
	Oid types[1] = {TEXTOID};
	Datum values[1] = {CStringGetTextDatum(hublink_party)};
	char **result;

	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run \"%s\"", sql);
	*n = (int) SPI_processed;
	result = MemoryContextAlloc(conn_cxt, sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		result[i] = MemoryContextStrdup(
			conn_cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return result;
}

/*
 * The broker user we publish as: hublink.broker_user when set (it is the login of a password
 * login), else the one user hublink.broker_identity maps to our party (a certificate login,
 * whose user name the broker takes from the certificate).
 */
static char *
load_user_id(void)
{
	char **users;
	int n;

	if (hublink_broker_user[0] != '\0')
		return MemoryContextStrdup(conn_cxt, hublink_broker_user);
	users = party_query("SELECT broker_user FROM hublink.broker_identity WHERE party = $1 "
						"ORDER BY broker_user",
						&n);
	return n == 1 ? users[0] : NULL;
}

char *
hublink_conn_load_queues(void)
{
	int n_parties, n_exchanges, n_routes;
	char **exchange;

	if (conn_cxt == NULL)
		conn_cxt =
			AllocSetContextCreate(TopMemoryContext, "hublink connection", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(conn_cxt);
	memset(&topology, 0, sizeof(topology));
	(void) party_query("SELECT party FROM hublink.party WHERE party = $1", &n_parties);
	if (n_parties == 0)
		return psprintf("hublink.party is \"%s\", which is not one of the parties in table "
						"hublink.party",
						hublink_party);
	(void) party_query("SELECT 1 WHERE to_regclass('hublink.broker_route') IS NOT NULL "
					   "AND $1 IS NOT NULL",
					   &n_routes);
	if (n_routes == 0)
		return pstrdup("the hublink extension in this database is older than its library: run "
					   "ALTER EXTENSION hublink UPDATE");
	/* hublink.broker_route is the one source of the queues, for us and for the broker. */
	topology.consume = party_query("SELECT DISTINCT queue FROM hublink.broker_route "
								   "WHERE party = $1 AND exchange IS NULL ORDER BY queue",
								   &topology.n_consume);
	topology.declare = party_query("SELECT DISTINCT queue FROM hublink.broker_route "
								   "WHERE party = $1 ORDER BY queue",
								   &topology.n_declare);
	topology.bind = party_query("SELECT DISTINCT queue FROM hublink.broker_route "
								"WHERE party = $1 AND exchange IS NOT NULL ORDER BY queue",
								&topology.n_bind);
	exchange = party_query("SELECT exchange FROM hublink.party WHERE party = $1", &n_exchanges);
	topology.exchange = exchange[0];
	topology.user_id = load_user_id();
	if (topology.user_id == NULL)
		return psprintf("no broker user to publish as: hublink.broker_user is not set and "
						"hublink.broker_identity does not map exactly one user to party \"%s\"",
						hublink_party);
	return NULL;
}

/* "could not ..." as a sentence for errdetail. */
static char *
sentence(const char *text)
{
	char *s = psprintf("%s.", text);

	s[0] = (char) toupper((unsigned char) s[0]);
	return s;
}

static void
forget_connection(void)
{
	if (broker != NULL)
		hublink_broker_close(broker);
	broker = NULL;
	hublink_pending_clear();
	/* The appliers' reports of these deliveries name tags of a channel that is gone. */
	hublink_dispatch_new_generation();
	hublink_outbox_forget_in_flight();
}

void
hublink_conn_failed(const char *error)
{
	TimestampTz now = GetCurrentTimestamp();
	bool was_connected = broker != NULL;

	forget_connection();
	/* A connection that held for a while starts the backoff again from the minimum. */
	if (was_connected && TimestampDifferenceExceeds(connected_at, now, hublink_reconnect_max_delay))
		backoff_ms = 0;
	backoff_ms = backoff_ms == 0 ? hublink_reconnect_min_delay
								 : Min(backoff_ms * 2, hublink_reconnect_max_delay);
	next_attempt_at = TimestampTzPlusMilliseconds(now, backoff_ms);
	hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, HUBLINK_STATE_DISCONNECTED);
	hublink_shmem_set_error(error);
	if (!warned)
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg(was_connected ? "hublink worker lost its connection to the broker"
									  : "hublink worker could not connect to the broker"),
				 errdetail("%s", sentence(error)),
				 errhint("The worker keeps trying, at most %d ms apart, and logs again when the "
						 "connection is back. Unsent messages stay in hublink.outbox.",
						 hublink_reconnect_max_delay)));
		warned = true;
	}
	else
		ereport(DEBUG1, (errmsg_internal("hublink worker: broker still unreachable: %s", error)));
}

void
hublink_conn_drop(const char *reason)
{
	if (broker != NULL)
		ereport(LOG, (errmsg("hublink worker is reconnecting to the broker because %s", reason)));
	forget_connection();
	backoff_ms = 0;
	next_attempt_at = 0;
	warned = false;
	hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, HUBLINK_STATE_DISCONNECTED);
}

void
hublink_conn_try(void)
{
	char *error = NULL;

	if (broker != NULL || GetCurrentTimestamp() < next_attempt_at)
		return;
	/* Token login waits for the token (token.c fetches it without blocking the loop). */
	if (hublink_broker_login == HUBLINK_LOGIN_TOKEN && hublink_token_current() == NULL)
		return;
	hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, HUBLINK_STATE_CONNECTING);
	broker = hublink_broker_connect(&topology, &error);
	if (broker == NULL)
	{
		hublink_conn_failed(error);
		return;
	}
	connected_at = GetCurrentTimestamp();
	hublink_token_used();
	hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, HUBLINK_STATE_CONNECTED);
	ereport(LOG, (errmsg("hublink worker connected to the broker at %s:%d as party %s (user "
						 "%s, exchange %s), consuming %d queues",
						 hublink_broker_host, hublink_broker_port, hublink_party, topology.user_id,
						 topology.exchange, topology.n_consume)));
	warned = false;
}

long
hublink_conn_ms_until_attempt(void)
{
	long secs;
	int usecs;

	TimestampDifference(GetCurrentTimestamp(), next_attempt_at, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}
