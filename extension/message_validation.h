/*
 * message_validation.h - validate one message, from raw bytes, against its registered schema.
 */
#ifndef HUBLINK_MESSAGE_VALIDATION_H
#define HUBLINK_MESSAGE_VALIDATION_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * Validate a message given as bytes (as it came off the broker): parse it within the
 * hublink.* limits, pick the schema from its messageType and schemaVersion, validate.
 * Returns the problems as a jsonb array of {instanceLocation, keywordLocation, error}, empty
 * when the message is valid. Bad input (not UTF-8, not JSON, too large, too deep, unknown
 * type or version) is a problem in the array, not an error: only a broken registry raises.
 */
extern Jsonb *hublink_validate_message_bytes(const char *data, size_t len);

#endif /* HUBLINK_MESSAGE_VALIDATION_H */
