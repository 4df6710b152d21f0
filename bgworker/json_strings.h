/*
 * json_strings.h - where a JSON text holds a string PostgreSQL cannot store (json_strings.c).
 *
 * The validator's parser accepts "\u0000" and a lone UTF-16 surrogate escape in a string, as
 * JSON allows; PostgreSQL's jsonb refuses both. This finds the first such string and names it
 * by a JSON pointer, so the Error can say what is wrong and where. Pure C, no PostgreSQL.
 */
#ifndef HUBLINK_JSON_STRINGS_H
#define HUBLINK_JSON_STRINGS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * For well-formed JSON text: true when a string (a value or a member name) holds \u0000 or a
 * lone surrogate escape; then pointer (RFC 6901, NUL-terminated, cut to pointer_size) names the
 * value, or the object whose member name it is (*in_member_name), and *what says which escape.
 */
extern bool hublink_json_find_unstorable(const char *text, size_t len, char *pointer,
										 size_t pointer_size, const char **what,
										 bool *in_member_name);

#endif /* HUBLINK_JSON_STRINGS_H */
