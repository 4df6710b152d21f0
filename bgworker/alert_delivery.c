/*
 * alert_delivery.c - the worker sends alerts, security events and availability reports to
 * the HTTPS channels of hublink.alert_channel with libcurl (docs/alerts.md "Delivery").
 *
 * The rows, their bodies and their idempotency keys are made by SQL when the event is raised
 * (sql/parts/82_alert_delivery.sql); this file only moves bytes. One batch at a time: claim up
 * to hublink.alert_batch_size due rows in a transaction (which counts the attempt and
 * schedules the next one, so a crash never makes a row loop hot), commit, send them all at
 * once on a curl multi handle driven without blocking from the worker's loop, then record
 * every outcome in the next transaction. The loop never waits on a receiver: while transfers
 * run it only shortens its sleep (to ALERT_POLL_MS), and each transfer is cut off after its
 * channel's timeout_ms. A row is delivered only when its receiver answered 2xx; until then it
 * stays pending and is sent again with the same body and key (at least once).
 *
 * Files a channel names (client certificate, key, CA, headers) are looked up only in
 * hublink.alert_credentials_dir, which the server's administrator sets: a row that an admin
 * may write cannot make the worker read, or send, any other file of the server.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "alert_delivery.h"
#include "spi_util.h"

/* Most deliveries sent at once (hublink.alert_batch_size's upper bound). */
#define ALERT_BATCH_MAX 64
/* How often the loop drives transfers that are running (it sleeps no longer meanwhile). */
#define ALERT_POLL_MS 50
/* Most bytes of a receiver's answer kept for the error text. */
#define ANSWER_KEEP 200
/* With nothing pending, look again after this long anyway (a channel may be enabled by UPDATE). */
#define ALERT_IDLE_RECHECK_MS 60000

static char *alert_credentials_dir = NULL;
static int alert_batch_size = 8;

typedef struct Transfer
{
	int64 delivery_id;
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* in batch_cxt: curl does not copy POSTFIELDS */
	bool done;
	long status; /* HTTP status, 0 when none came */
	char *error; /* in batch_cxt; NULL when the receiver answered 2xx */
	char answer[ANSWER_KEEP + 1];
	size_t answer_len;
	char curl_error[CURL_ERROR_SIZE];
} Transfer;

static CURLM *multi = NULL;
static MemoryContext batch_cxt = NULL;
static Transfer transfers[ALERT_BATCH_MAX];
static int n_transfers = 0;
static int n_running = 0;
static bool look = true; /* rows may be due: claim in the next transaction */
static TimestampTz next_due = DT_NOBEGIN;
static SPIPlanPtr claim_plan = NULL, result_plan = NULL, next_plan = NULL;
/* The database's hublink has alert delivery (0.2.0 on): a 0.1.0 not yet updated has not. */
static bool available = false;

void
hublink_alerts_define_settings(void)
{
	DefineCustomStringVariable(
		"hublink.alert_credentials_dir",
		"Directory of the files alert channels name (client certificates, keys, CAs, headers).",
		"hublink.alert_channel names files in this directory only. Empty: channels may name "
		"no file.",
		&alert_credentials_dir, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.alert_batch_size", "Most alert deliveries the worker sends at once.", NULL,
		&alert_batch_size, 8, 1, ALERT_BATCH_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
}

void
hublink_alerts_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not initialise libcurl for alert delivery")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("could not create the libcurl handle for alert delivery")));
	batch_cxt =
		AllocSetContextCreate(TopMemoryContext, "hublink alert delivery", ALLOCSET_SMALL_SIZES);
}

void
hublink_alerts_wake(void)
{
	look = true;
}

bool
hublink_alerts_want_transaction(void)
{
	if (n_transfers > 0)
		return n_running == 0;
	return look || next_due <= GetCurrentTimestamp();
}

/* The path of a channel's file, or NULL (with *error) when it may not be read. */
static char *
credential_path(const char *name, char **error)
{
	if (alert_credentials_dir == NULL || alert_credentials_dir[0] == '\0')
	{
		*error = psprintf("the channel names file \"%s\" but hublink.alert_credentials_dir is "
						  "not set",
						  name);
		return NULL;
	}
	/* The column's domain says the same; checked again so no row can step out. */
	if (name[0] == '.' || strchr(name, '/') != NULL || strlen(name) > 128)
	{
		*error = psprintf("file name \"%s\" is refused: only plain names inside "
						  "hublink.alert_credentials_dir",
						  name);
		return NULL;
	}
	return psprintf("%s/%s", alert_credentials_dir, name);
}

/* Adds the header lines of a channel's header file; false with *error when unusable. */
static bool
add_header_file(Transfer *t, const char *name, char **error)
{
	char *path = credential_path(name, error);
	FILE *f;
	char line[2048];
	bool ok = true;

	if (path == NULL)
		return false;
	f = fopen(path, "r");
	if (f == NULL)
	{
		*error = psprintf("could not read header file \"%s\": %m", path);
		return false;
	}
	while (ok && fgets(line, sizeof line, f) != NULL)
	{
		size_t len = strlen(line);
		const char *colon;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || strpbrk(line, "\r\n") != NULL)
		{
			*error = psprintf("header file \"%s\" has a line that is not \"Name: value\"", path);
			ok = false;
			break;
		}
		t->headers = curl_slist_append(t->headers, line);
	}
	fclose(f);
	return ok;
}

static size_t
keep_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	Transfer *t = arg;
	size_t n = size * nmemb;
	size_t room = ANSWER_KEEP - t->answer_len;

	memcpy(t->answer + t->answer_len, data, Min(n, room));
	t->answer_len += Min(n, room);
	t->answer[t->answer_len] = '\0';
	return n;
}

/* Prepares one claimed row; a row that cannot be sent gets its error at once. */
static void
prepare(Transfer *t, HeapTuple tuple, TupleDesc desc)
{
	bool isnull;
	char *url = SPI_getvalue(tuple, desc, 2);
	char *content_type = SPI_getvalue(tuple, desc, 3);
	char *key = SPI_getvalue(tuple, desc, 5);
	char *cert = SPI_getvalue(tuple, desc, 6);
	char *keyfile = SPI_getvalue(tuple, desc, 7);
	char *ca = SPI_getvalue(tuple, desc, 8);
	char *header_file = SPI_getvalue(tuple, desc, 9);
	int timeout = DatumGetInt32(SPI_getbinval(tuple, desc, 10, &isnull));
	char *path;
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);

	memset(t, 0, sizeof *t);
	t->delivery_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	t->body = pstrdup(SPI_getvalue(tuple, desc, 4));
	t->easy = curl_easy_init();
	if (t->easy == NULL)
	{
		t->error = pstrdup("could not create a libcurl handle");
		t->done = true;
		MemoryContextSwitchTo(old);
		return;
	}
	t->headers = curl_slist_append(t->headers, psprintf("Content-Type: %s", content_type));
	t->headers = curl_slist_append(t->headers, psprintf("Idempotency-Key: %s", key));
	t->headers = curl_slist_append(t->headers, "User-Agent: hublink");
	/* No "Expect: 100-continue" round trip. */
	t->headers = curl_slist_append(t->headers, "Expect:");
	if (header_file != NULL && !add_header_file(t, header_file, &t->error))
		t->done = true;

	curl_easy_setopt(t->easy, CURLOPT_URL, url);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long) timeout);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout);
	curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(t->body));
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_error);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (!t->done && ca != NULL)
	{
		if ((path = credential_path(ca, &t->error)) == NULL)
			t->done = true;
		else
			curl_easy_setopt(t->easy, CURLOPT_CAINFO, path);
	}
	if (!t->done && cert != NULL && keyfile != NULL)
	{
		if ((path = credential_path(cert, &t->error)) == NULL)
			t->done = true;
		else
		{
			curl_easy_setopt(t->easy, CURLOPT_SSLCERT, path);
			if ((path = credential_path(keyfile, &t->error)) == NULL)
				t->done = true;
			else
				curl_easy_setopt(t->easy, CURLOPT_SSLKEY, path);
		}
	}
	if (!t->done)
	{
		if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
		{
			t->error = pstrdup("could not add the transfer to the libcurl multi handle");
			t->done = true;
		}
		else
			n_running++;
	}
	MemoryContextSwitchTo(old);
}

static void
release(Transfer *t)
{
	if (t->easy != NULL)
	{
		curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->headers);
	t->easy = NULL;
	t->headers = NULL;
}

static void
record_results(void)
{
	Oid types[3] = {INT8OID, INT4OID, TEXTOID};

	result_plan =
		hublink_spi_plan(result_plan, "SELECT hublink.alert_delivery_result($1, $2, $3)", 3, types);
	for (int i = 0; i < n_transfers; i++)
	{
		Transfer *t = &transfers[i];
		Datum values[3];
		char nulls[3] = {' ', ' ', ' '};

		values[0] = Int64GetDatum(t->delivery_id);
		values[1] = Int32GetDatum((int32) t->status);
		if (t->status == 0)
			nulls[1] = 'n';
		if (t->error != NULL)
			values[2] = CStringGetTextDatum(t->error);
		else
			nulls[2] = 'n';
		hublink_spi_run(result_plan, values, nulls, false, 0, SPI_OK_SELECT);
		release(t);
	}
	n_transfers = 0;
	MemoryContextReset(batch_cxt);
}

void
hublink_alerts_exchange(void)
{
	Oid types[1] = {INT4OID};
	Datum values[1];
	bool isnull;
	Datum next;

	if (n_transfers > 0)
	{
		if (n_running > 0)
			return;
		record_results();
	}
	look = false;
	if (!available)
	{
		/* Looked up each time until found: ALTER EXTENSION hublink UPDATE sends no signal. */
		if (SPI_execute("SELECT to_regprocedure('hublink.alert_deliveries_claim(integer)') IS NOT "
						"NULL",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up hublink.alert_deliveries_claim");
		available =
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (!available)
		{
			next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ALERT_IDLE_RECHECK_MS);
			return;
		}
	}
	values[0] = Int32GetDatum(alert_batch_size);
	claim_plan = hublink_spi_plan(claim_plan,
								  "SELECT delivery_id, url, content_type, body, idempotency_key, "
								  "client_cert_file, client_key_file, ca_file, header_file, "
								  "timeout_ms FROM hublink.alert_deliveries_claim($1)",
								  1, types);
	hublink_spi_run(claim_plan, values, NULL, false, 0, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed && n_transfers < ALERT_BATCH_MAX; i++)
		prepare(&transfers[n_transfers++], SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	/* A full batch may have more behind it. */
	if (n_transfers == alert_batch_size)
		look = true;

	next_plan = hublink_spi_plan(next_plan, "SELECT hublink.alert_delivery_next()", 0, NULL);
	hublink_spi_run(next_plan, NULL, NULL, true, 1, SPI_OK_SELECT);
	next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ALERT_IDLE_RECHECK_MS);
	if (!isnull && DatumGetTimestampTz(next) < next_due)
		next_due = DatumGetTimestampTz(next);
}

void
hublink_alerts_perform(void)
{
	int still_running = 0;
	int queued;
	CURLMsg *msg;

	if (n_running == 0)
		return;
	curl_multi_perform(multi, &still_running);
	while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
	{
		Transfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		if (t == NULL || t->done)
			continue;
		t->done = true;
		n_running--;
		if (msg->data.result != CURLE_OK)
		{
			t->error = MemoryContextStrdup(
				batch_cxt, t->curl_error[0] ? t->curl_error : curl_easy_strerror(msg->data.result));
			continue;
		}
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
		if (t->status < 200 || t->status > 299)
			t->error = MemoryContextStrdup(batch_cxt,
										   psprintf("HTTP status %ld: %s", t->status, t->answer));
	}
}

long
hublink_alerts_timeout_ms(void)
{
	long secs;
	int usecs;

	if (n_transfers > 0)
	{
		long curl_ms = -1;

		if (n_running == 0)
			return 0;
		curl_multi_timeout(multi, &curl_ms);
		return curl_ms < 0 ? ALERT_POLL_MS : Min(curl_ms, ALERT_POLL_MS);
	}
	if (look)
		return 0;
	if (next_due == DT_NOEND)
		return -1;
	TimestampDifference(GetCurrentTimestamp(), next_due, &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}
