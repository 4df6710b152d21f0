/*
 * outbox.h - publish hublink.outbox rows with publisher confirms (outbox.c).
 */
#ifndef HUBLINK_OUTBOX_H
#define HUBLINK_OUTBOX_H

#include "broker.h"

extern void hublink_outbox_init(void);

/* In the worker's transaction: set sent_at of the confirmed rows; fetch up to limit rows. */
extern void hublink_outbox_mark_sent(void);
/* The transaction that marked rows sent committed: they are no longer unmarked. */
extern void hublink_outbox_after_commit(void);
extern int hublink_outbox_fetch(int limit);

/* After the commit: publish what was fetched. False and *error when the connection failed. */
extern bool hublink_outbox_publish(HublinkBroker *broker, char **error);

/* Publisher confirms and returned messages, from the broker's frames. */
extern void hublink_outbox_on_confirm(uint64 seq, bool multiple, bool ack);
extern void hublink_outbox_on_return(const char *message_id, const char *reason);

/* Why the broker refused a message since the last call, or NULL. */
extern char *hublink_outbox_take_refusal(void);

/* The connection is gone: unconfirmed rows will be published again. */
extern void hublink_outbox_forget_in_flight(void);

/*
 * Whether confirmed rows have waited long enough (or are many enough) for a transaction of
 * their own, and when they will have; DT_NOEND when none wait.
 */
extern bool hublink_outbox_marks_due(void);
extern TimestampTz hublink_outbox_marks_due_at(void);
extern int hublink_outbox_in_flight(void);
extern int hublink_outbox_room(void);
extern bool hublink_outbox_rescan_due(void);
extern TimestampTz hublink_outbox_oldest_in_flight(void);

#endif /* HUBLINK_OUTBOX_H */
