/*
 * token_fetch.c - one token fetch in a child process (docs/worker.md "Access tokens").
 *
 * Why a process: libcurl's own timeouts bound the HTTPS exchange, but the SPNEGO step calls
 * GSS-API (gss_init_sec_context), which asks the Kerberos KDC for tickets synchronously inside
 * libcurl. MIT krb5 1.20 (Debian 12) has no setting that bounds that exchange: a KDC that
 * accepts connections but never answers holds the caller about 27 s per request, longer with
 * more KDCs listed. A thread could not be stopped; a child can be killed. So the worker forks
 * a child that does the whole fetch with blocking libcurl, writes the outcome to a pipe and
 * exits; the worker's loop reads the pipe between its other work and kills the child at
 * hublink.broker_token_timeout.
 *
 * The child touches no PostgreSQL state: it resets every signal handler (the worker's would
 * set its latch in shared memory), detaches from shared memory (so a leftover child can never
 * keep the postmaster from restarting), closes every inherited descriptor but its pipe (the
 * broker connection stays the worker's alone), bounds itself with alarm() in case the worker
 * dies first, and leaves with _exit() (no exit handlers of the worker run). Its Kerberos
 * ticket cache is a MEMORY cache that dies with it: each fetch authenticates afresh.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "storage/pg_shmem.h"

#include "token_fetch.h"

/* The child's own bound, past the worker's deadline: it dies even if the worker is gone. */
#define CHILD_ALARM_SLACK_S 2

typedef struct ChildBody
{
	char *data;
	size_t len;
} ChildBody;

static size_t
child_keep(char *data, size_t size, size_t nmemb, void *arg)
{
	ChildBody *body = arg;
	size_t n = size * nmemb;
	char *grown;

	if (body->len + n > TOKEN_FETCH_BODY_MAX)
		return 0; /* makes libcurl fail the transfer */
	grown = realloc(body->data, body->len + n);
	if (grown == NULL)
		return 0;
	memcpy(grown + body->len, data, n);
	body->data = grown;
	body->len += n;
	return n;
}

static void
child_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1); /* the worker went away or gave up on us */
		p += n;
		len -= (size_t) n;
	}
}

/* Leave the worker's process state behind: signals, shared memory, descriptors. */
static void
child_detach(int keep_fd)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void) signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and reserved ones just fail */
	(void) signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	PGSharedMemoryDetach();
	if (keep_fd > 3)
		(void) close_range(3, (unsigned int) keep_fd - 1, 0);
	(void) close_range((unsigned int) keep_fd + 1, ~0U, 0);
}

static void
child_run(const TokenFetchRequest *r, int fd)
{
	TokenFetchHeader header;
	ChildBody body = {NULL, 0};
	char error[CURL_ERROR_SIZE] = "";
	CURL *easy;
	CURLcode code;

	child_detach(fd);
	alarm((unsigned int) (r->timeout_ms / 1000 + CHILD_ALARM_SLACK_S));
	/* GSS-API reads these when libcurl asks it for a ticket: the keytab, a private cache. */
	setenv("KRB5_CLIENT_KTNAME", r->keytab, 1);
	setenv("KRB5CCNAME", "MEMORY:hublink_token", 1);
	if (r->krb5_config[0] != '\0')
		setenv("KRB5_CONFIG", r->krb5_config, 1);

	memset(&header, 0, sizeof header);
	easy = curl_easy_init();
	if (easy == NULL)
	{
		header.curl_code = CURLE_FAILED_INIT;
		snprintf(header.error, sizeof header.error, "could not create a libcurl handle");
		child_write_all(fd, &header, sizeof header);
		_exit(0);
	}
	curl_easy_setopt(easy, CURLOPT_URL, r->url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_NEGOTIATE);
	/* Negotiate needs a user name set, though GSS-API picks the principal from the keytab. */
	curl_easy_setopt(easy, CURLOPT_USERPWD, ":");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) r->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) r->timeout_ms);
	if (r->ca_file[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, r->ca_file);
	/* Mutual TLS to the token service too, with the party's certificate when it has one. */
	if (r->cert_file[0] != '\0' && r->key_file[0] != '\0')
	{
		curl_easy_setopt(easy, CURLOPT_SSLCERT, r->cert_file);
		curl_easy_setopt(easy, CURLOPT_SSLKEY, r->key_file);
	}
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, child_keep);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);

	code = curl_easy_perform(easy);
	header.curl_code = (int) code;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &header.http_status);
	snprintf(header.error, sizeof header.error, "%s",
			 error[0] != '\0' ? error : (code != CURLE_OK ? curl_easy_strerror(code) : ""));
	header.body_len = code == CURLE_OK ? (uint32_t) body.len : 0;
	child_write_all(fd, &header, sizeof header);
	if (header.body_len > 0)
		child_write_all(fd, body.data, body.len);
	if (body.data != NULL)
		explicit_bzero(body.data, body.len);
	_exit(0);
}

pid_t
token_fetch_start(const TokenFetchRequest *request, int *fd)
{
	int fds[2];
	sigset_t all, old;
	pid_t pid;
	int saved;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	/* No handler of the worker may run in the child before it has reset them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
	{
		close(fds[0]);
		child_run(request, fds[1]);
		_exit(1); /* not reached */
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fds[1]);
	if (pid < 0)
	{
		close(fds[0]);
		errno = saved;
		return -1;
	}
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
	{
		saved = errno;
		kill(pid, SIGKILL);
		(void) waitpid(pid, NULL, 0);
		close(fds[0]);
		errno = saved;
		return -1;
	}
	*fd = fds[0];
	return pid;
}
