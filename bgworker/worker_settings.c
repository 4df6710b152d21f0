/*
 * worker_settings.c - the background worker's hublink.* settings.
 *
 * Settings the postmaster needs to register the worker are PGC_POSTMASTER; everything about
 * the broker is PGC_SIGHUP, and the worker reconnects after a reload only when one of those
 * changed (hublink_connection_signature). docs/settings.md lists them all.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "alert_delivery.h"
#include "hublink.h"
#include "token.h"
#include "worker.h"
#include "worker_role.h"

bool hublink_worker_enabled = true;
char *hublink_database = NULL;
char *hublink_party = NULL;
int hublink_worker_restart_interval = 5;
char *hublink_broker_host = NULL;
int hublink_broker_port = 5671;
char *hublink_broker_vhost = NULL;
bool hublink_broker_plaintext = false;
char *hublink_broker_ca_file = NULL;
char *hublink_broker_cert_file = NULL;
char *hublink_broker_key_file = NULL;
bool hublink_broker_verify_hostname = true;
int hublink_broker_login = HUBLINK_LOGIN_EXTERNAL;
char *hublink_broker_user = NULL;
char *hublink_broker_password_file = NULL;
int hublink_broker_heartbeat = 30;
int hublink_broker_connect_timeout = 5000;
bool hublink_declare_queues = false;
bool hublink_jobs_worker = true;
int hublink_reconnect_min_delay = 500;
int hublink_reconnect_max_delay = 30000;
int hublink_prefetch = 256;
int hublink_batch_size = 32;
int hublink_batch_time_limit = 10;
int hublink_appliers = 2;
int hublink_handler_max_retries = 3;
static int hublink_handler_retry_delay = 1000;
static int hublink_handler_retry_max_delay = 60000;
int hublink_outbox_max_in_flight = 1000;
int hublink_confirm_timeout = 30000;

static const struct config_enum_entry login_options[] = {
	{"external", HUBLINK_LOGIN_EXTERNAL, false},
	{"password", HUBLINK_LOGIN_PASSWORD, false},
	{"token", HUBLINK_LOGIN_TOKEN, false},
	{NULL, 0, false},
};

static void
define_string(const char *name, const char *short_desc, const char *long_desc, char **var,
			  const char *boot, GucContext context)
{
	DefineCustomStringVariable(name, short_desc, long_desc, var, boot, context, 0, NULL, NULL,
							   NULL);
}

void
hublink_worker_define_settings(void)
{
	DefineCustomBoolVariable("hublink.worker_enabled", "Starts the hublink background worker.",
							 "Off leaves the worker unregistered: nothing is consumed or "
							 "published.",
							 &hublink_worker_enabled, true, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	define_string("hublink.database", "Database the hublink worker connects to.",
				  "The database where CREATE EXTENSION hublink was run.", &hublink_database,
				  "postgres", PGC_POSTMASTER);
	DefineCustomIntVariable("hublink.worker_restart_interval",
							"Seconds before the postmaster restarts a worker that exited on an "
							"error.",
							NULL, &hublink_worker_restart_interval, 5, 1, 3600, PGC_POSTMASTER,
							GUC_UNIT_S, NULL, NULL, NULL);
	define_string("hublink.worker_role", "Role the hublink worker's transactions run as.",
				  "The worker connects as the bootstrap superuser only to wait for CREATE "
				  "EXTENSION; every transaction then runs as this role, which must exist, must "
				  "not be a superuser or have BYPASSRLS, and must have the privileges of "
				  "hublink_worker. The worker refuses to work otherwise.",
				  &hublink_worker_role, "hublink_worker", PGC_SIGHUP);
	define_string("hublink.party", "The party this database plays: hub, tsp or esp.",
				  "It chooses the queues consumed (the message types this party receives, "
				  "hublink.message_type) and the messages hublink.send() accepts.",
				  &hublink_party, "", PGC_SIGHUP);
	define_string("hublink.broker_host", "Host name or address of the AMQP broker.", NULL,
				  &hublink_broker_host, "localhost", PGC_SIGHUP);
	DefineCustomIntVariable("hublink.broker_port", "TCP port of the AMQP broker.",
							"5671 is AMQPS (TLS), 5672 plain AMQP.", &hublink_broker_port, 5671, 1,
							65535, PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_string("hublink.broker_vhost", "Virtual host on the AMQP broker.", NULL,
				  &hublink_broker_vhost, "/", PGC_SIGHUP);
	DefineCustomBoolVariable("hublink.broker_plaintext", "Connects to the broker without TLS.",
							 "Only for development against a local broker: messages and "
							 "passwords then cross the network unencrypted.",
							 &hublink_broker_plaintext, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_string("hublink.broker_ca_file",
				  "PEM file of the certificate authorities that sign the broker's certificate.",
				  NULL, &hublink_broker_ca_file, "", PGC_SIGHUP);
	define_string("hublink.broker_cert_file", "PEM file of this party's client certificate.",
				  "Presented to the broker for mutual TLS (Schedule R Appendix D).",
				  &hublink_broker_cert_file, "", PGC_SIGHUP);
	define_string("hublink.broker_key_file", "PEM file of the client certificate's private key.",
				  NULL, &hublink_broker_key_file, "", PGC_SIGHUP);
	DefineCustomBoolVariable("hublink.broker_verify_hostname",
							 "Checks that the broker's certificate names hublink.broker_host.",
							 NULL, &hublink_broker_verify_hostname, true, PGC_SIGHUP, 0, NULL, NULL,
							 NULL);
	DefineCustomEnumVariable("hublink.broker_login", "How the worker logs in to the broker.",
							 "external: by the client certificate (SASL EXTERNAL); password: "
							 "hublink.broker_user with the password in "
							 "hublink.broker_password_file; token: an access token from "
							 "hublink.broker_token_url obtained by Kerberos (SPNEGO).",
							 &hublink_broker_login, HUBLINK_LOGIN_EXTERNAL, login_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_string("hublink.broker_user", "User name for password login.", NULL,
				  &hublink_broker_user, "", PGC_SIGHUP);
	define_string("hublink.broker_password_file",
				  "File holding the broker password (first line) for password login.",
				  "The password is never a setting, so it does not show in pg_settings.",
				  &hublink_broker_password_file, "", PGC_SIGHUP);
	DefineCustomIntVariable("hublink.broker_heartbeat", "AMQP heartbeat interval.",
							"0 disables heartbeats.", &hublink_broker_heartbeat, 30, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.broker_connect_timeout",
							"Longest wait for the broker's TCP connection and login.", NULL,
							&hublink_broker_connect_timeout, 5000, 100, 600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("hublink.declare_queues",
							 "Declares the party's exchange, queues and bindings instead of "
							 "checking that they exist.",
							 "Off (the default): the Hub's operator creates them "
							 "(scripts/broker-permissions) and no party may configure the "
							 "broker. On only for a development broker.",
							 &hublink_declare_queues, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("hublink.jobs_worker",
							 "Runs the worker's jobs in a background worker of their own.",
							 "On (the default): timers, the MI fold, purges and monitoring run in "
							 "the hublink jobs worker, so a long job never holds up messages. "
							 "Off: the message worker runs them in its loop (as before 0.2.0).",
							 &hublink_jobs_worker, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.reconnect_min_delay", "First delay before reconnecting to the broker.",
		"The delay doubles after each failed attempt.", &hublink_reconnect_min_delay, 500, 10,
		3600000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.reconnect_max_delay",
							"Longest delay between reconnection attempts.", NULL,
							&hublink_reconnect_max_delay, 30000, 10, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.prefetch",
							"Most unacknowledged deliveries the broker sends the worker.",
							"The AMQP prefetch count (basic.qos).", &hublink_prefetch, 256, 1,
							65535, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.batch_size", "Most deliveries applied in one transaction.",
							"Each message runs in its own subtransaction; above 64 the "
							"subtransaction cache of the worker's process overflows.",
							&hublink_batch_size, 32, 1, 1000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.appliers",
							"Processes that apply messages, each for the removals that hash to it.",
							"1: the message worker applies every message itself (see "
							"docs/worker.md: a known defect after a postmaster crash). N >= 2 "
							"(the default 2): it consumes and acks, and N applier processes apply "
							"in parallel, the messages of one removal always in one, in order. "
							"Each applier is a background worker (max_worker_processes).",
							&hublink_appliers, 2, 1, 8, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.batch_time_limit",
							"Longest a batch runs before it commits while the queue is shallow.",
							"While fewer than hublink.batch_size deliveries wait behind a batch, "
							"it commits after this long, so that a message waits behind a few "
							"milliseconds of work; a deeper backlog keeps full batches. 0 "
							"commits every batch at hublink.batch_size, as before 0.2.0.",
							&hublink_batch_time_limit, 10, 0, 60000, PGC_SIGHUP, GUC_UNIT_MS, NULL,
							NULL, NULL);
	DefineCustomIntVariable("hublink.handler_max_retries",
							"Times a failing handler is retried before its message is rejected.",
							NULL, &hublink_handler_max_retries, 3, 0, 1000, PGC_SIGHUP, 0, NULL,
							NULL, NULL);
	DefineCustomIntVariable(
		"hublink.handler_retry_delay", "Delay before the first retry of a failing handler.",
		"Doubles after each failure, up to hublink.handler_retry_max_delay.",
		&hublink_handler_retry_delay, 1000, 1, 86400000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.handler_retry_max_delay",
							"Longest delay between retries of a failing handler.", NULL,
							&hublink_handler_retry_max_delay, 60000, 1, 86400000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.outbox_max_in_flight", "Most published messages waiting for the broker's confirm.",
		NULL, &hublink_outbox_max_in_flight, 1000, 1, 100000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.confirm_timeout", "Longest wait for a publisher confirm before reconnecting.",
		"Unconfirmed messages are published again on the new connection.", &hublink_confirm_timeout,
		30000, 100, 3600000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	hublink_alerts_define_settings();
	hublink_token_define_settings();
}

char *
hublink_connection_signature(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s|%s|%d|%s|%d|%s|%s|%s|%d|%d|%s|%s|%d|%d|%d|%d", hublink_party,
					 hublink_broker_host, hublink_broker_port, hublink_broker_vhost,
					 hublink_broker_plaintext, hublink_broker_ca_file, hublink_broker_cert_file,
					 hublink_broker_key_file, hublink_broker_verify_hostname, hublink_broker_login,
					 hublink_broker_user, hublink_broker_password_file, hublink_broker_heartbeat,
					 hublink_declare_queues, hublink_prefetch, hublink_outbox_max_in_flight);
	appendStringInfo(&buf, "|%s", hublink_token_signature());
	return buf.data;
}
