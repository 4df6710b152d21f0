/*
 * broker.h - the worker's AMQP 0-9-1 client: one connection to the broker (TLS with a client
 * certificate, or plain only when hublink.broker_plaintext allows it), a consuming channel
 * and a publishing channel in confirm mode.
 *
 * Nothing here blocks for long except connecting (bounded by hublink.broker_connect_timeout):
 * the worker waits on the socket itself and then calls hublink_broker_drain, which reads only
 * what has arrived. Errors are returned as palloc'd text, never raised, so a broken broker
 * becomes a connection state, not a worker crash.
 */
#ifndef HUBLINK_BROKER_H
#define HUBLINK_BROKER_H

#include "postgres.h"

#include "worker.h"

typedef struct HublinkBroker HublinkBroker;

/* What hublink_broker_drain reports, besides errors. */
typedef struct HublinkBrokerCallbacks
{
	/* A message was delivered; it is allocated in the context given to drain. */
	void (*on_delivery)(HublinkDelivery *delivery);
	/* Publisher confirm: ack (or nack) of seq, and of every earlier seq when multiple. */
	void (*on_confirm)(uint64 seq, bool multiple, bool ack);
	/* A published message could not be routed to a queue; its confirm follows. */
	void (*on_return)(const char *message_id, const char *reason);
} HublinkBrokerCallbacks;

/*
 * What this party reaches on the broker, from hublink.broker_route (connection.c loads it):
 * the queues it consumes (its inbound queues and the error queues of the queues it sends
 * on), every queue it uses, the queues its exchange is bound to (it writes through them),
 * its exchange, and the broker user it publishes as (the AMQP user_id of every message).
 */
typedef struct HublinkTopology
{
	char **consume;
	int n_consume;
	char **declare;
	int n_declare;
	char **bind;
	int n_bind;
	char *exchange;
	char *user_id;
} HublinkTopology;

/*
 * Connect, log in, open the channels, check that the exchange and the queues exist (or declare
 * them and the bindings when hublink.declare_queues), set the prefetch and start consuming
 * every queue in topology->consume. NULL and *error on failure. The topology is copied.
 */
extern HublinkBroker *hublink_broker_connect(const HublinkTopology *topology, char **error);
extern void hublink_broker_close(HublinkBroker *broker);
extern int hublink_broker_socket(HublinkBroker *broker);

/* True when frames were already read off the socket: the socket may not become readable. */
extern bool hublink_broker_has_buffered(HublinkBroker *broker);

/*
 * Read and dispatch every frame that has arrived, at most max_frames, without waiting.
 * Deliveries are allocated in delivery_cxt. False and *error when the connection failed.
 */
extern bool hublink_broker_drain(HublinkBroker *broker, const HublinkBrokerCallbacks *callbacks,
								 MemoryContext delivery_cxt, int max_frames, char **error);

/*
 * Within a long transaction, between messages: send a heartbeat frame when half the heartbeat
 * interval has passed since the last, so the broker does not drop a connection that is only
 * busy (docs/worker.md "Heartbeats during long batches"). Never fails: a broken connection
 * shows at the next ack or read.
 */
extern void hublink_broker_keepalive(HublinkBroker *broker);

/* Acknowledge the delivery tag, and with multiple every earlier one not acked yet. */
extern bool hublink_broker_ack(HublinkBroker *broker, uint64 tag, bool multiple, char **error);

/*
 * Publish body persistently to queue through the party's exchange (routing key: the queue),
 * mandatory, with its messageId, type and the broker user (user_id, which the broker checks)
 * as properties. *seq is its publisher-confirm sequence number.
 */
extern bool hublink_broker_publish(HublinkBroker *broker, const char *queue, const char *message_id,
								   const char *message_type, const char *body, size_t len,
								   uint64 *seq, char **error);

#endif /* HUBLINK_BROKER_H */
