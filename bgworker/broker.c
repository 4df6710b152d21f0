/*
 * broker.c - the worker's AMQP 0-9-1 client on librabbitmq-c (see broker.h).
 *
 * Channel 1 consumes with manual acks and a bounded prefetch; channel 2 publishes in confirm
 * mode. Two channels keep a publishing error (a channel close) from being confused with the
 * consumer's state, and the confirm sequence numbers separate from the delivery tags.
 */
#include "postgres.h"

#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker.h"
#include "token.h"
#include "worker.h"

#define CONSUME_CHANNEL 1
#define PUBLISH_CHANNEL 2
#define FRAME_MAX       131072

struct HublinkBroker
{
	amqp_connection_state_t conn;
	uint64 next_seq;          /* confirm sequence number of the next publish */
	char *exchange;           /* the party's exchange: every publish goes through it */
	char *user_id;            /* the broker user we publish as */
	TimestampTz keepalive_at; /* when hublink_broker_keepalive last sent a heartbeat */
};

static void
ms_to_timeval(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static char *
bytes_to_cstring(amqp_bytes_t bytes)
{
	return pnstrdup(bytes.bytes ? (const char *) bytes.bytes : "", bytes.len);
}

/* A readable text for an RPC reply that was not normal; NULL when it was. */
static char *
describe_reply(amqp_rpc_reply_t reply, const char *what)
{
	switch (reply.reply_type)
	{
		case AMQP_RESPONSE_NORMAL:
			return NULL;
		case AMQP_RESPONSE_NONE:
			return psprintf("%s: no reply from the broker", what);
		case AMQP_RESPONSE_LIBRARY_EXCEPTION:
			return psprintf("%s: %s", what, amqp_error_string2(reply.library_error));
		case AMQP_RESPONSE_SERVER_EXCEPTION:
			if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
			{
				amqp_connection_close_t *m = reply.reply.decoded;

				return psprintf("%s: the broker closed the connection: %u %s", what, m->reply_code,
								bytes_to_cstring(m->reply_text));
			}
			if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
			{
				amqp_channel_close_t *m = reply.reply.decoded;

				return psprintf("%s: the broker closed the channel: %u %s", what, m->reply_code,
								bytes_to_cstring(m->reply_text));
			}
			return psprintf("%s: unexpected broker method 0x%08X", what, reply.reply.id);
	}
	return psprintf("%s: unknown reply", what);
}

/* First line of the password file, in palloc'd memory the caller wipes. */
static char *
read_password_file(const char *path, char **error)
{
	FILE *f;
	char buf[1024];
	size_t len;

	if (path == NULL || path[0] == '\0')
	{
		*error = pstrdup("hublink.broker_login is password but hublink.broker_password_file is "
						 "not set");
		return NULL;
	}
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		*error = psprintf("could not open password file \"%s\": %m", path);
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	FreeFile(f);
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0)
	{
		*error = psprintf("password file \"%s\" is empty", path);
		return NULL;
	}
	{
		char *password = pstrdup(buf);

		explicit_bzero(buf, sizeof(buf));
		return password;
	}
}

static amqp_socket_t *
make_socket(amqp_connection_state_t conn, char **error)
{
	amqp_socket_t *sock;

	if (hublink_broker_plaintext)
	{
		sock = amqp_tcp_socket_new(conn);
		if (sock == NULL)
			*error = pstrdup("could not create a TCP socket");
		return sock;
	}
	if (hublink_broker_ca_file[0] == '\0')
	{
		*error = pstrdup("hublink.broker_ca_file is not set, and TLS needs it to verify the "
						 "broker (set hublink.broker_plaintext only for a local development "
						 "broker)");
		return NULL;
	}
	sock = amqp_ssl_socket_new(conn);
	if (sock == NULL)
	{
		*error = pstrdup("could not create a TLS socket");
		return NULL;
	}
	amqp_ssl_socket_set_verify_peer(sock, 1);
	amqp_ssl_socket_set_verify_hostname(sock, hublink_broker_verify_hostname ? 1 : 0);
	if (amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST) != AMQP_STATUS_OK)
	{
		*error = pstrdup("could not require TLS 1.2 or later");
		return NULL;
	}
	if (amqp_ssl_socket_set_cacert(sock, hublink_broker_ca_file) != AMQP_STATUS_OK)
	{
		*error = psprintf("could not load the CA file \"%s\"", hublink_broker_ca_file);
		return NULL;
	}
	if (hublink_broker_cert_file[0] != '\0' || hublink_broker_key_file[0] != '\0')
	{
		int status =
			amqp_ssl_socket_set_key(sock, hublink_broker_cert_file, hublink_broker_key_file);

		if (status != AMQP_STATUS_OK)
		{
			*error = psprintf("could not load the client certificate \"%s\" and key \"%s\": %s",
							  hublink_broker_cert_file, hublink_broker_key_file,
							  amqp_error_string2(status));
			return NULL;
		}
	}
	else if (hublink_broker_login == HUBLINK_LOGIN_EXTERNAL)
	{
		*error = pstrdup("hublink.broker_login is external but hublink.broker_cert_file is not "
						 "set");
		return NULL;
	}
	return sock;
}

static char *
login(amqp_connection_state_t conn)
{
	amqp_rpc_reply_t reply;

	if (hublink_broker_login == HUBLINK_LOGIN_EXTERNAL)
	{
		if (hublink_broker_plaintext)
			return pstrdup("hublink.broker_login external needs TLS with a client certificate");
		/*
		 * The broker takes the identity from the certificate and ignores the SASL response;
		 * it must not be empty only because librabbitmq cannot allocate an empty response.
		 */
		reply = amqp_login(conn, hublink_broker_vhost, 0, FRAME_MAX, hublink_broker_heartbeat,
						   AMQP_SASL_METHOD_EXTERNAL, hublink_party);
	}
	else if (hublink_broker_login == HUBLINK_LOGIN_TOKEN)
	{
		const char *token = hublink_token_current();

		/* The broker (auth_oauth2) takes the user from the token and ignores this name. */
		if (token == NULL)
			return pstrdup("no valid broker access token (hublink.broker_login is token)");
		reply = amqp_login(conn, hublink_broker_vhost, 0, FRAME_MAX, hublink_broker_heartbeat,
						   AMQP_SASL_METHOD_PLAIN, hublink_party, token);
	}
	else
	{
		char *error = NULL;
		char *password = read_password_file(hublink_broker_password_file, &error);

		if (password == NULL)
			return error;
		reply = amqp_login(conn, hublink_broker_vhost, 0, FRAME_MAX, hublink_broker_heartbeat,
						   AMQP_SASL_METHOD_PLAIN, hublink_broker_user, password);
		explicit_bzero(password, strlen(password));
		pfree(password);
	}
	return describe_reply(reply, "login");
}

/*
 * The exchange, the queues and (when we declare) the bindings. By default the worker only
 * checks that they exist (passive declares, which need no permission): the Hub's operator
 * creates them and grants each party nothing to configure (scripts/broker-permissions).
 */
static char *
declare_topology(amqp_connection_state_t conn, const HublinkTopology *t)
{
	bool passive = !hublink_declare_queues;
	const char *hint = passive ? " (the Hub's operator creates it: scripts/broker-permissions, or "
								 "set hublink.declare_queues on a development broker)"
							   : "";
	char *error;

	amqp_exchange_declare(conn, PUBLISH_CHANNEL, amqp_cstring_bytes(t->exchange),
						  amqp_cstring_bytes("direct"), passive, 1, 0, 0, amqp_empty_table);
	error = describe_reply(
		amqp_get_rpc_reply(conn),
		psprintf("%s exchange \"%s\"%s", passive ? "checking" : "declaring", t->exchange, hint));
	if (error)
		return error;
	for (int i = 0; i < t->n_declare; i++)
	{
		/* Durable, not exclusive, not auto-deleted: the queues outlive any consumer. */
		amqp_queue_declare(conn, PUBLISH_CHANNEL, amqp_cstring_bytes(t->declare[i]), passive, 1, 0,
						   0, amqp_empty_table);
		error = describe_reply(
			amqp_get_rpc_reply(conn),
			psprintf("%s queue \"%s\"%s", passive ? "checking" : "declaring", t->declare[i], hint));
		if (error)
			return error;
	}
	for (int i = 0; i < t->n_bind && !passive; i++)
	{
		amqp_queue_bind(conn, PUBLISH_CHANNEL, amqp_cstring_bytes(t->bind[i]),
						amqp_cstring_bytes(t->exchange), amqp_cstring_bytes(t->bind[i]),
						amqp_empty_table);
		error = describe_reply(
			amqp_get_rpc_reply(conn),
			psprintf("binding queue \"%s\" to exchange \"%s\"", t->bind[i], t->exchange));
		if (error)
			return error;
	}
	return NULL;
}

static char *
open_channels(amqp_connection_state_t conn, const HublinkTopology *t)
{
	char *error;

	amqp_channel_open(conn, CONSUME_CHANNEL);
	if ((error = describe_reply(amqp_get_rpc_reply(conn), "opening the consuming channel")))
		return error;
	amqp_channel_open(conn, PUBLISH_CHANNEL);
	if ((error = describe_reply(amqp_get_rpc_reply(conn), "opening the publishing channel")))
		return error;
	if ((error = declare_topology(conn, t)))
		return error;
	amqp_confirm_select(conn, PUBLISH_CHANNEL);
	if ((error = describe_reply(amqp_get_rpc_reply(conn), "enabling publisher confirms")))
		return error;
	amqp_basic_qos(conn, CONSUME_CHANNEL, 0, (uint16_t) hublink_prefetch, 0);
	if ((error = describe_reply(amqp_get_rpc_reply(conn), "setting the prefetch")))
		return error;
	for (int i = 0; i < t->n_consume; i++)
	{
		/* The consumer tag is the queue's name, so a delivery names its queue. */
		amqp_basic_consume(conn, CONSUME_CHANNEL, amqp_cstring_bytes(t->consume[i]),
						   amqp_cstring_bytes(t->consume[i]), 0, 0, 0, amqp_empty_table);
		error = describe_reply(amqp_get_rpc_reply(conn),
							   psprintf("consuming queue \"%s\"", t->consume[i]));
		if (error)
			return error;
	}
	return NULL;
}

HublinkBroker *
hublink_broker_connect(const HublinkTopology *topology, char **error)
{
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock;
	struct timeval timeout;
	int status;
	HublinkBroker *broker;

	if (conn == NULL)
	{
		*error = pstrdup("out of memory creating the AMQP connection");
		return NULL;
	}
	sock = make_socket(conn, error);
	if (sock == NULL)
	{
		amqp_destroy_connection(conn);
		return NULL;
	}
	ms_to_timeval(hublink_broker_connect_timeout, &timeout);
	status = amqp_socket_open_noblock(sock, hublink_broker_host, hublink_broker_port, &timeout);
	if (status != AMQP_STATUS_OK)
	{
		*error = psprintf("could not connect to %s:%d: %s", hublink_broker_host,
						  hublink_broker_port, amqp_error_string2(status));
		amqp_destroy_connection(conn);
		return NULL;
	}
	/* Bound the login and every setup RPC, so an unresponsive broker cannot hang the worker. */
	amqp_set_handshake_timeout(conn, &timeout);
	amqp_set_rpc_timeout(conn, &timeout);
	*error = login(conn);
	if (*error == NULL)
		*error = open_channels(conn, topology);
	if (*error != NULL)
	{
		amqp_destroy_connection(conn);
		return NULL;
	}
	broker = MemoryContextAllocZero(TopMemoryContext, sizeof(HublinkBroker));
	broker->conn = conn;
	broker->next_seq = 1;
	broker->exchange = MemoryContextStrdup(TopMemoryContext, topology->exchange);
	broker->user_id = MemoryContextStrdup(TopMemoryContext, topology->user_id);
	return broker;
}

void
hublink_broker_close(HublinkBroker *broker)
{
	if (broker == NULL)
		return;
	/*
	 * No connection.close handshake: it could wait on a dead peer. Closing the socket makes
	 * the broker requeue every unacked delivery, which is what a crash would do anyway.
	 */
	amqp_destroy_connection(broker->conn);
	pfree(broker->exchange);
	pfree(broker->user_id);
	pfree(broker);
}

int
hublink_broker_socket(HublinkBroker *broker)
{
	return amqp_get_sockfd(broker->conn);
}

bool
hublink_broker_has_buffered(HublinkBroker *broker)
{
	return amqp_frames_enqueued(broker->conn) || amqp_data_in_buffer(broker->conn);
}

/* Read the content of a deliver or return method into a message. */
static char *
read_content(HublinkBroker *broker, amqp_channel_t channel, amqp_message_t *message)
{
	return describe_reply(amqp_read_message(broker->conn, channel, message, 0),
						  "reading a message");
}

static char *
handle_deliver(HublinkBroker *broker, amqp_frame_t *frame, const HublinkBrokerCallbacks *callbacks,
			   MemoryContext delivery_cxt)
{
	amqp_basic_deliver_t *method = frame->payload.method.decoded;
	MemoryContext old = MemoryContextSwitchTo(delivery_cxt);
	HublinkDelivery *d = palloc0(sizeof(HublinkDelivery));
	amqp_message_t message;
	char *error;

	d->delivery_tag = method->delivery_tag;
	d->redelivered = method->redelivered;
	/* Copied before the content is read: reading may reuse the frame's memory. */
	d->queue = bytes_to_cstring(method->consumer_tag);
	d->received_at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);

	error = read_content(broker, frame->channel, &message);
	if (error)
		return error;
	old = MemoryContextSwitchTo(delivery_cxt);
	d->len = message.body.len;
	d->body = palloc(d->len + 1);
	if (d->len > 0)
		memcpy(d->body, message.body.bytes, d->len);
	d->body[d->len] = '\0';
	if (message.properties._flags & AMQP_BASIC_TIMESTAMP_FLAG)
	{
		d->has_timestamp = true;
		d->amqp_timestamp = (int64) message.properties.timestamp;
	}
	if (message.properties._flags & AMQP_BASIC_HEADERS_FLAG)
	{
		amqp_table_t *headers = &message.properties.headers;

		for (int i = 0; i < headers->num_entries; i++)
		{
			amqp_table_entry_t *e = &headers->entries[i];

			if (e->value.kind == AMQP_FIELD_KIND_I64 &&
				e->key.len == strlen(HUBLINK_ENQUEUED_US_HEADER) &&
				memcmp(e->key.bytes, HUBLINK_ENQUEUED_US_HEADER, e->key.len) == 0)
			{
				d->has_enqueued_us = true;
				d->enqueued_us = e->value.value.i64;
			}
		}
	}
	/* The broker refuses a user_id that is not the publisher's login: it names the sender. */
	if (message.properties._flags & AMQP_BASIC_USER_ID_FLAG)
		d->user_id = bytes_to_cstring(message.properties.user_id);
	MemoryContextSwitchTo(old);
	amqp_destroy_message(&message);
	callbacks->on_delivery(d);
	return NULL;
}

static char *
handle_return(HublinkBroker *broker, amqp_frame_t *frame, const HublinkBrokerCallbacks *callbacks)
{
	amqp_basic_return_t *method = frame->payload.method.decoded;
	char *reason =
		psprintf("%u %s (routing key \"%s\")", method->reply_code,
				 bytes_to_cstring(method->reply_text), bytes_to_cstring(method->routing_key));
	amqp_message_t message;
	char *error = read_content(broker, frame->channel, &message);
	char *message_id;

	if (error)
		return error;
	message_id = (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
					 ? bytes_to_cstring(message.properties.message_id)
					 : pstrdup("");
	amqp_destroy_message(&message);
	callbacks->on_return(message_id, reason);
	return NULL;
}

bool
hublink_broker_drain(HublinkBroker *broker, const HublinkBrokerCallbacks *callbacks,
					 MemoryContext delivery_cxt, int max_frames, char **error)
{
	struct timeval zero = {0, 0};

	*error = NULL;
	for (int i = 0; i < max_frames && *error == NULL; i++)
	{
		amqp_frame_t frame;
		int status = amqp_simple_wait_frame_noblock(broker->conn, &frame, &zero);

		if (status == AMQP_STATUS_TIMEOUT)
			break;
		if (status != AMQP_STATUS_OK)
		{
			*error = psprintf("reading from the broker: %s", amqp_error_string2(status));
			break;
		}
		if (frame.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (frame.payload.method.id)
		{
			case AMQP_BASIC_DELIVER_METHOD:
				*error = handle_deliver(broker, &frame, callbacks, delivery_cxt);
				break;
			case AMQP_BASIC_ACK_METHOD:
			{
				amqp_basic_ack_t *m = frame.payload.method.decoded;

				callbacks->on_confirm(m->delivery_tag, m->multiple, true);
				break;
			}
			case AMQP_BASIC_NACK_METHOD:
			{
				amqp_basic_nack_t *m = frame.payload.method.decoded;

				callbacks->on_confirm(m->delivery_tag, m->multiple, false);
				break;
			}
			case AMQP_BASIC_RETURN_METHOD:
				*error = handle_return(broker, &frame, callbacks);
				break;
			case AMQP_CHANNEL_CLOSE_METHOD:
			{
				amqp_channel_close_t *m = frame.payload.method.decoded;

				*error = psprintf("the broker closed channel %u: %u %s", frame.channel,
								  m->reply_code, bytes_to_cstring(m->reply_text));
				break;
			}
			case AMQP_CONNECTION_CLOSE_METHOD:
			{
				amqp_connection_close_t *m = frame.payload.method.decoded;

				*error = psprintf("the broker closed the connection: %u %s", m->reply_code,
								  bytes_to_cstring(m->reply_text));
				break;
			}
			case AMQP_BASIC_CANCEL_METHOD:
			{
				amqp_basic_cancel_t *m = frame.payload.method.decoded;

				*error = psprintf("the broker cancelled the consumer of queue \"%s\"",
								  bytes_to_cstring(m->consumer_tag));
				break;
			}
			default:
				break;
		}
	}
	if (*error == NULL)
		amqp_maybe_release_buffers(broker->conn);
	return *error == NULL;
}

void
hublink_broker_keepalive(HublinkBroker *broker)
{
	TimestampTz now;
	amqp_frame_t heartbeat;
	int status;

	if (broker == NULL || hublink_broker_heartbeat <= 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(broker->keepalive_at, now, hublink_broker_heartbeat * 500))
		return;
	/*
	 * librabbitmq sends heartbeats only from inside its own calls, and a batch of messages is
	 * one transaction with no call to it: under load that outlasted two heartbeat intervals,
	 * the broker closed the connection, and the ack after the commit met a reset socket ("a
	 * SSL error occurred"), so the batch came again. A heartbeat frame is always allowed.
	 */
	memset(&heartbeat, 0, sizeof(heartbeat));
	heartbeat.frame_type = AMQP_FRAME_HEARTBEAT;
	heartbeat.channel = 0;
	status = amqp_send_frame(broker->conn, &heartbeat);
	broker->keepalive_at = now;
	if (status != AMQP_STATUS_OK)
		ereport(DEBUG1, (errmsg_internal("hublink worker: sending a heartbeat: %s",
										 amqp_error_string2(status))));
}

bool
hublink_broker_ack(HublinkBroker *broker, uint64 tag, bool multiple, char **error)
{
	int status = amqp_basic_ack(broker->conn, CONSUME_CHANNEL, tag, multiple ? 1 : 0);

	if (status != AMQP_STATUS_OK)
	{
		*error = psprintf("acknowledging deliveries: %s", amqp_error_string2(status));
		return false;
	}
	return true;
}

bool
hublink_broker_publish(HublinkBroker *broker, const char *queue, const char *message_id,
					   const char *message_type, const char *body, size_t len, uint64 *seq,
					   char **error)
{
	amqp_basic_properties_t props;
	amqp_bytes_t content;
	amqp_table_entry_t header;
	struct timeval now;
	int status;

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
				   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
				   AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_USER_ID_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.message_id = amqp_cstring_bytes(message_id);
	/*
	 * The enqueue time the receiver counts its SLA from (Appendix D): the AMQP timestamp has
	 * whole seconds, so the same instant goes in our header too, in microseconds.
	 */
	gettimeofday(&now, NULL);
	props.timestamp = (uint64_t) now.tv_sec;
	header.key = amqp_cstring_bytes(HUBLINK_ENQUEUED_US_HEADER);
	header.value.kind = AMQP_FIELD_KIND_I64;
	header.value.value.i64 = (int64_t) now.tv_sec * 1000000 + now.tv_usec;
	props.headers.num_entries = 1;
	props.headers.entries = &header;
	props.type = amqp_cstring_bytes(message_type);
	props.app_id = amqp_cstring_bytes("hublink");
	/* Who we are, as the broker validated it: the receiver compares it with the sender. */
	props.user_id = amqp_cstring_bytes(broker->user_id);
	content.bytes = (void *) body;
	content.len = len;
	/* Mandatory: an unroutable message comes back instead of vanishing. */
	/*
	 * Through our own exchange, never the default one: write permission on amq.default would
	 * reach every queue, ours reaches only the queues the operator bound to it.
	 */
	status = amqp_basic_publish(broker->conn, PUBLISH_CHANNEL, amqp_cstring_bytes(broker->exchange),
								amqp_cstring_bytes(queue), 1, 0, &props, content);
	if (status != AMQP_STATUS_OK)
	{
		*error = psprintf("publishing to queue \"%s\": %s", queue, amqp_error_string2(status));
		return false;
	}
	*seq = broker->next_seq++;
	return true;
}
