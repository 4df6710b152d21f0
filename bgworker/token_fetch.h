/*
 * token_fetch.h - one token fetch (SPNEGO over HTTPS with libcurl) run in a child process, so
 * that nothing in it can hold up the worker's loop (token_fetch.c, docs/worker.md "Access
 * tokens"). The worker reads the child's answer from a pipe and kills it at its deadline.
 */
#ifndef HUBLINK_TOKEN_FETCH_H
#define HUBLINK_TOKEN_FETCH_H

#include <stdint.h>
#include <sys/types.h>

/* What the child needs: all copied before fork, nothing of PostgreSQL read after it. */
typedef struct TokenFetchRequest
{
	const char *url;
	const char *keytab;
	const char *krb5_config; /* "" for the system's */
	const char *ca_file;     /* "" for libcurl's default */
	const char *cert_file;   /* "" for none */
	const char *key_file;
	int timeout_ms;
} TokenFetchRequest;

/* The child writes this header to the pipe, then body_len bytes of the service's answer. */
typedef struct TokenFetchHeader
{
	int curl_code;     /* CURLcode */
	long http_status;  /* 0 when no HTTP answer */
	char error[256];   /* libcurl's error text, or "" */
	uint32_t body_len; /* bytes following */
} TokenFetchHeader;

/* Most bytes of the service's answer the child passes on. */
#define TOKEN_FETCH_BODY_MAX 65536

/*
 * Forks the child that performs the fetch; returns its pid and sets *fd to the (non-blocking)
 * read end of its pipe, or returns -1 with errno set. Call with no transaction open.
 */
extern pid_t token_fetch_start(const TokenFetchRequest *request, int *fd);

#endif /* HUBLINK_TOKEN_FETCH_H */
