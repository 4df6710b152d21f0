/*
 * token_answer.h - reads the token service's answer (token_answer.c): pure C on the
 * validator's JSON parser (extension/jsonschema), no PostgreSQL headers.
 */
#ifndef HUBLINK_TOKEN_ANSWER_H
#define HUBLINK_TOKEN_ANSWER_H

#include <stddef.h>
#include <stdint.h>

typedef struct TokenAnswer
{
	char *access_token; /* malloc'd; NULL when missing */
	char *principal;    /* malloc'd; NULL when missing */
	int64_t expires_in; /* seconds; 0 when missing */
} TokenAnswer;

/*
 * Parses {"access_token": "...", "expires_in": N, "principal": "..."}. Returns NULL, or a
 * static text saying what is wrong. The caller frees the strings with token_answer_free,
 * which also wipes the token.
 */
extern const char *token_answer_parse(const char *text, size_t len, TokenAnswer *answer);
extern void token_answer_free(TokenAnswer *answer);

#endif /* HUBLINK_TOKEN_ANSWER_H */
