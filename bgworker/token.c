/*
 * token.c - the worker's broker access token (Schedule R Appendix D: "Providers will use GSS
 * API to obtain an access token from the authentication service which will be used by the
 * message broker to authorise users"; docs/worker.md "Access tokens").
 *
 * With hublink.broker_login = token the worker POSTs to hublink.broker_token_url with libcurl,
 * authenticating by SPNEGO (CURLAUTH_NEGOTIATE: GSS-API, Kerberos) as the party's
 * organisational principal, whose key is in hublink.broker_token_keytab (KRB5_CLIENT_KTNAME:
 * no kinit, no ticket cache on disk). The service answers {"access_token", "expires_in",
 * "principal"}; the worker checks the principal is hublink.broker_token_principal and logs in
 * to the broker with the token as the PLAIN password, over the same mutual-TLS connection.
 *
 * The fetch runs in a child process (token_fetch.c): GSS-API's talk with the KDC inside libcurl
 * has no bound of its own, so only a process the worker can kill keeps the loop free. The loop
 * reads the child's pipe between its other work and kills the child when
 * hublink.broker_token_timeout has passed. At three quarters of the token's lifetime a
 * new one is fetched; the loop then reconnects when nothing is in flight (or after a short
 * grace), because librabbitmq 0.11 has no connection.update-secret. A reconnect loses nothing
 * and doubles no effect: unacked deliveries come again and dedup in the inbox, unconfirmed
 * outbox rows are published again. A failure is shown in worker_status (last_error) and
 * raises broker_token_failed once per run of failures; the fetch is retried with backoff.
 */
#include "postgres.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/ipc.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "token.h"
#include "token_answer.h"
#include "token_fetch.h"
#include "worker.h"

/* How often the loop reads a running fetch's pipe. */
#define TOKEN_POLL_MS 50
/* Past the timeout, the child's libcurl gets this long to report its own timeout first. */
#define TOKEN_KILL_GRACE_MS 250
/* Backoff between failed fetches. */
#define TOKEN_RETRY_MIN_MS 1000
#define TOKEN_RETRY_MAX_MS 60000

static char *token_url = NULL;
static char *token_principal = NULL;
static char *token_keytab = NULL;
static char *token_ca_file = NULL;
static char *token_krb5_config = NULL;
static int token_timeout = 10000;

static pid_t child = 0;   /* the running fetch, or 0 */
static int child_fd = -1; /* the read end of its pipe */
static TimestampTz child_deadline = 0;
static char *child_settings = NULL; /* hublink_token_signature() when the child started */
static StringInfoData answer;       /* in TopMemoryContext: the child's header and body */
static bool exit_hook = false;

static char *token = NULL;          /* in TopMemoryContext; wiped when replaced */
static char *token_settings = NULL; /* hublink_token_signature() when it was obtained */
static TimestampTz expires_at = 0;
static TimestampTz renew_at = 0;
static uint64 generation = 0; /* bumped with each new token */
static uint64 used_generation = 0;
static TimestampTz next_fetch_at = 0;
static int backoff_ms = 0;
static bool failing = false;
static char *alert_error = NULL; /* a failure to alert, in TopMemoryContext */
static SPIPlanPtr report_plan = NULL;

void
hublink_token_define_settings(void)
{
	DefineCustomStringVariable("hublink.broker_token_url",
							   "HTTPS URL of the token service (hublink.broker_login = token).",
							   "The worker POSTs to it authenticating by SPNEGO (Kerberos); its "
							   "host name must match the service principal (HTTP/host).",
							   &token_url, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("hublink.broker_token_principal",
							   "The party's organisational Kerberos principal.",
							   "The token service must say it authenticated this principal; the "
							   "keytab holds its key.",
							   &token_principal, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("hublink.broker_token_keytab",
							   "Keytab with the key of hublink.broker_token_principal.",
							   "Used as KRB5_CLIENT_KTNAME: no kinit and no ticket cache on disk.",
							   &token_keytab, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("hublink.broker_token_ca_file",
							   "PEM file of the CAs that sign the token service's certificate.",
							   "Empty: hublink.broker_ca_file.", &token_ca_file, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("hublink.broker_token_krb5_config",
							   "krb5.conf for the token fetch (KRB5_CONFIG); empty: the system's.",
							   NULL, &token_krb5_config, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.broker_token_timeout",
							"Longest time one token fetch may take.", NULL, &token_timeout, 10000,
							100, 120000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

char *
hublink_token_signature(void)
{
	return psprintf("%s|%s|%s|%s|%s", token_url, token_principal, token_keytab, token_ca_file,
					token_krb5_config);
}

static bool
token_login(void)
{
	return hublink_broker_login == HUBLINK_LOGIN_TOKEN;
}

/* A token obtained under other settings (another principal, URL, keytab) is not used. */
static void
forget_if_settings_changed(void)
{
	char *now;

	if (token == NULL)
		return;
	now = hublink_token_signature();
	if (token_settings == NULL || strcmp(now, token_settings) != 0)
	{
		explicit_bzero(token, strlen(token));
		pfree(token);
		token = NULL;
		renew_at = expires_at = 0;
		next_fetch_at = 0;
		backoff_ms = 0;
	}
	pfree(now);
}

const char *
hublink_token_current(void)
{
	forget_if_settings_changed();
	if (token == NULL || GetCurrentTimestamp() >= expires_at)
		return NULL;
	return token;
}

bool
hublink_token_renewed(void)
{
	return token_login() && token != NULL && used_generation != generation;
}

void
hublink_token_used(void)
{
	used_generation = generation;
}

static void
failed(const char *error)
{
	TimestampTz now = GetCurrentTimestamp();
	char *message = psprintf("could not obtain a broker access token: %s", error);

	backoff_ms = backoff_ms == 0 ? TOKEN_RETRY_MIN_MS : Min(backoff_ms * 2, TOKEN_RETRY_MAX_MS);
	next_fetch_at = TimestampTzPlusMilliseconds(now, backoff_ms);
	hublink_shmem_set_error(message);
	if (!failing)
	{
		ereport(WARNING, (errcode(ERRCODE_CONNECTION_FAILURE),
						  errmsg("hublink worker could not obtain a broker access token"),
						  errdetail_internal("%s", error),
						  errhint("The worker retries, at most %d s apart, and logs again when it "
								  "has a token. Check hublink.broker_token_url, the keytab and "
								  "the KDC.",
								  TOKEN_RETRY_MAX_MS / 1000)));
		failing = true;
		if (alert_error != NULL)
			pfree(alert_error);
		alert_error = MemoryContextStrdup(TopMemoryContext, error);
	}
	pfree(message);
}

/* The child is the worker's: it never outlives it (it also bounds itself with alarm()). */
static void
stop_child(void)
{
	if (child != 0)
	{
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		child = 0;
	}
	if (child_fd >= 0)
		close(child_fd);
	child_fd = -1;
	if (answer.data != NULL)
	{
		explicit_bzero(answer.data, answer.len);
		resetStringInfo(&answer);
	}
}

static void
stop_child_at_exit(int code, Datum arg)
{
	stop_child();
}

static void
start_fetch(void)
{
	TokenFetchRequest request;

	if (token_url[0] == '\0' || strncmp(token_url, "https://", 8) != 0)
	{
		failed("hublink.broker_token_url is not an https:// URL");
		return;
	}
	if (token_keytab[0] == '\0')
	{
		failed("hublink.broker_token_keytab is not set");
		return;
	}
	if (answer.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&answer);
		MemoryContextSwitchTo(old);
	}
	if (!exit_hook)
	{
		on_proc_exit(stop_child_at_exit, (Datum) 0);
		exit_hook = true;
	}
	resetStringInfo(&answer);
	request.url = token_url;
	request.keytab = token_keytab;
	request.krb5_config = token_krb5_config;
	request.ca_file = token_ca_file[0] != '\0' ? token_ca_file : hublink_broker_ca_file;
	request.cert_file = hublink_broker_cert_file;
	request.key_file = hublink_broker_key_file;
	request.timeout_ms = token_timeout;
	child = token_fetch_start(&request, &child_fd);
	if (child < 0)
	{
		char *error = psprintf("could not start the token fetch process: %s", strerror(errno));

		child = 0;
		child_fd = -1;
		failed(error);
		pfree(error);
		return;
	}
	child_deadline =
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), token_timeout + TOKEN_KILL_GRACE_MS);
	if (child_settings != NULL)
		pfree(child_settings);
	{
		char *sig = hublink_token_signature();

		child_settings = MemoryContextStrdup(TopMemoryContext, sig);
		pfree(sig);
	}
}

/* The child's outcome, read whole from its pipe: a failure's text, or NULL with *parsed set. */
static char *
read_outcome(TokenAnswer *parsed)
{
	TokenFetchHeader header;
	const char *problem;

	if ((size_t) answer.len < sizeof header)
		return pstrdup("the token fetch process ended without an answer");
	memcpy(&header, answer.data, sizeof header);
	header.error[sizeof header.error - 1] = '\0';
	if ((size_t) answer.len != sizeof header + header.body_len)
		return pstrdup("the token fetch process gave a truncated answer");
	if (header.curl_code != 0)
		return psprintf("%s", header.error[0] ? header.error : "the token fetch failed");
	if (header.http_status != 200)
		return psprintf("the token service answered HTTP status %ld%s", header.http_status,
						header.http_status == 401 ? " (Kerberos authentication failed)" : "");
	if ((problem = token_answer_parse(answer.data + sizeof header, header.body_len, parsed)) !=
		NULL)
		return pstrdup(problem);
	if (token_principal[0] != '\0' &&
		(parsed->principal == NULL || strcmp(parsed->principal, token_principal) != 0))
		return psprintf("the token service authenticated principal \"%s\", not "
						"hublink.broker_token_principal \"%s\"",
						parsed->principal ? parsed->principal : "(none)", token_principal);
	return NULL;
}

static void
finish_fetch(void)
{
	char *error;
	TokenAnswer parsed = {0};
	TimestampTz now = GetCurrentTimestamp();

	error = read_outcome(&parsed);
	stop_child(); /* reaps it (it has closed its pipe and is leaving) and wipes the answer */
	if (error != NULL)
	{
		token_answer_free(&parsed);
		failed(error);
		pfree(error);
		return;
	}
	if (token != NULL)
	{
		explicit_bzero(token, strlen(token));
		pfree(token);
	}
	token = MemoryContextStrdup(TopMemoryContext, parsed.access_token);
	if (token_settings != NULL)
		pfree(token_settings);
	/* The settings it was fetched under (a change meanwhile stopped the fetch). */
	token_settings = MemoryContextStrdup(TopMemoryContext, child_settings);
	expires_at = now + parsed.expires_in * USECS_PER_SEC;
	/* Renew at three quarters of the lifetime: time to fetch and reconnect before expiry. */
	renew_at = now + parsed.expires_in * USECS_PER_SEC * 3 / 4;
	generation++;
	backoff_ms = 0;
	next_fetch_at = 0;
	if (failing)
		ereport(LOG, (errmsg("hublink worker obtained a broker access token again")));
	failing = false;
	ereport(LOG,
			(errmsg("hublink worker obtained a broker access token for %s, valid %lld s",
					parsed.principal ? parsed.principal : "?", (long long) parsed.expires_in)));
	token_answer_free(&parsed);
}

/* Reads what the child has written; true at end of file (the child is done). */
static bool
read_child(void)
{
	char buf[8192];

	for (;;)
	{
		ssize_t n = read(child_fd, buf, sizeof buf);

		if (n > 0)
		{
			/* More than a header and the largest body: the rest is not read. */
			if ((size_t) answer.len + (size_t) n <= sizeof(TokenFetchHeader) + TOKEN_FETCH_BODY_MAX)
				appendBinaryStringInfo(&answer, buf, (int) n);
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

void
hublink_token_drive(void)
{
	TimestampTz now;

	if (!token_login())
	{
		if (child != 0)
			stop_child();
		return;
	}
	forget_if_settings_changed();
	if (child == 0)
	{
		now = GetCurrentTimestamp();
		if ((token == NULL || now >= renew_at) && now >= next_fetch_at)
			start_fetch();
		return;
	}
	{
		char *now_settings = hublink_token_signature();
		bool changed = strcmp(now_settings, child_settings) != 0;

		pfree(now_settings);
		if (changed)
		{
			/* A fetch under the old URL, keytab or principal: its token is not wanted. */
			stop_child();
			next_fetch_at = 0;
			return;
		}
	}
	if (read_child())
		finish_fetch();
	else if (GetCurrentTimestamp() >= child_deadline)
	{
		char *error = psprintf("no token within hublink.broker_token_timeout (%d ms): the fetch "
							   "(Kerberos KDC, then the token service) was stopped",
							   token_timeout);

		stop_child();
		failed(error);
		pfree(error);
	}
}

long
hublink_token_timeout_ms(void)
{
	TimestampTz at;
	long secs;
	int usecs;

	if (!token_login())
		return -1;
	if (child != 0)
		return TOKEN_POLL_MS;
	at = token == NULL ? next_fetch_at : Max(renew_at, next_fetch_at);
	TimestampDifference(GetCurrentTimestamp(), at, &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}

bool
hublink_token_want_transaction(void)
{
	return alert_error != NULL;
}

void
hublink_token_report(void)
{
	Oid types[1] = {TEXTOID};
	Datum values[1];

	if (alert_error == NULL)
		return;
	/* A database still on 0.1.0 has no such function: the log and worker_status must do. */
	if (SPI_execute("SELECT to_regprocedure('hublink.report_broker_token_failure(text)') IS NULL",
					true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1 &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
	{
		pfree(alert_error);
		alert_error = NULL;
		return;
	}
	values[0] = CStringGetTextDatum(alert_error);
	report_plan =
		hublink_spi_plan(report_plan, "SELECT hublink.report_broker_token_failure($1)", 1, types);
	hublink_spi_run(report_plan, values, NULL, false, 0, SPI_OK_SELECT);
	pfree(alert_error);
	alert_error = NULL;
}
