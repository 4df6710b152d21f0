/*
 * hubtool - broker traffic for hublink's end-to-end tests and benchmark.
 *
 * amqp-tools cannot log in with a client certificate (SASL EXTERNAL) nor wait for publisher
 * confirms, which the tests need to know a message really is on its queue. This tool does
 * both, and generates numbered messages from a template for the load tests.
 *
 *   hubtool [connection] publish QUEUE [FILE...]   each FILE (or each stdin line) is a message
 *   hubtool [connection] drain QUEUE               print each message on a line, ack it
 *   hubtool [connection] get QUEUE                 basic.get one message, print it, ack it
 *   hubtool [connection] hold QUEUE SECONDS        basic.get one message and hold it unacked for
 *                                                  SECONDS, then close (the broker requeues it):
 *                                                  a consumer that never acks (test/mutation)
 *   hubtool [connection] declare|purge|delete QUEUE...   durable queues (declare is active)
 *   hubtool [connection] declare-exchange NAME     a durable direct exchange
 *   hubtool [connection] bind QUEUE EXCHANGE KEY   queue.bind
 *   hubtool [connection] count QUEUE               messages READY on QUEUE: AMQP cannot see
 *                                                  deliveries held unacked, so a test that
 *                                                  means "nothing left" uses queue_state
 *                                                  (test/e2e/worker/lib.sh, rabbitmqctl)
 *   hubtool gen TEMPLATE N [FIRST]                 N messages, one per line, from TEMPLATE
 *   hubtool [connection] bench-raw N SIZE          broker ceiling: publish+consume+ack N
 *   hubtool [connection] bench-relay N SIZE [REPLY_SIZE]   the same, each message answered
 *                                                  once through a second queue (a request in, a
 *                                                  reply of REPLY_SIZE bytes out)
 *   hubtool [connection] burst TEMPLATE IN OUT N   N requests on IN, wait for N replies on OUT
 *   hubtool [connection] steady TEMPLATE IN OUT RATE SECONDS   latency at a steady rate
 *
 * Connection: --host H --port P (default $AMQP_HOST, $AMQPS_PORT) --ca F --cert F --key F
 * (TLS, EXTERNAL login by the certificate) or --user U --password-file F (PLAIN login, TLS
 * still used when --ca is given); --plain for plain AMQP on $AMQP_PORT.
 * Publishing: --exchange X (default $HUBTOOL_EXCHANGE, else the default exchange) with the
 * queue as routing key, mandatory; --user-id U (default $HUBTOOL_USER_ID) sets the AMQP user_id.
 * Templates contain @@MESSAGE_ID@@, @@REMOVAL_ID@@ and @@SENT_AT@@, replaced per message.
 * Exit status: 0 ok, 1 failure (the broker's reply text, e.g. 403 ACCESS_REFUSED, on stderr),
 * 2 connection refused or login failed, 3 a published message was unroutable (returned).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

typedef struct Options
{
	const char *host;
	int port;
	bool plain;
	const char *ca, *cert, *key;
	const char *user, *password_file;
	const char *exchange, *user_id;
	bool timestamp;
	bool has_enqueued_us; /* --enqueued-us: the header hublink-enqueued-us, timestamp + offset */
	long long enqueued_us_offset;
	int count;   /* drain: stop after this many (0 = no limit) */
	int idle_ms; /* drain: stop after this long without a message */
	int timeout_ms;
	int prefetch;
} Options;

static Options opt = {.idle_ms = 2000, .timeout_ms = 600000, .prefetch = 500};

static void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hubtool: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(status);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
check_reply(amqp_rpc_reply_t r, const char *what, int status)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		die(status, "%s: %s", what, amqp_error_string2(r.library_error));
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
		(r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD))
	{
		amqp_connection_close_t *m = r.reply.decoded;

		die(status, "%s: broker said %u %.*s", what, m->reply_code, (int) m->reply_text.len,
			(char *) m->reply_text.bytes);
	}
	die(status, "%s: failed", what);
}

static char *
read_password(const char *path)
{
	static char buf[8192]; /* a password, or an access token (a JWT) */
	FILE *f = fopen(path, "r");

	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
		die(1, "cannot read password file %s", path);
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

static amqp_connection_state_t
connect_broker(void)
{
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock;
	struct timeval tv = {10, 0};
	amqp_rpc_reply_t r;
	int status;

	if (opt.plain)
		sock = amqp_tcp_socket_new(conn);
	else
	{
		sock = amqp_ssl_socket_new(conn);
		if (sock == NULL)
			die(1, "cannot create TLS socket");
		amqp_ssl_socket_set_verify_peer(sock, 1);
		amqp_ssl_socket_set_verify_hostname(sock, 0);
		if (opt.ca == NULL || amqp_ssl_socket_set_cacert(sock, opt.ca) != AMQP_STATUS_OK)
			die(1, "cannot load CA file %s", opt.ca ? opt.ca : "(none: use --ca)");
		if (opt.cert && amqp_ssl_socket_set_key(sock, opt.cert, opt.key) != AMQP_STATUS_OK)
			die(1, "cannot load client certificate %s / key %s", opt.cert, opt.key);
	}
	status = amqp_socket_open_noblock(sock, opt.host, opt.port, &tv);
	if (status != AMQP_STATUS_OK)
		die(2, "cannot connect to %s:%d: %s", opt.host, opt.port, amqp_error_string2(status));
	if (opt.user)
		r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, opt.user,
					   read_password(opt.password_file));
	else
		r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "certificate");
	check_reply(r, "login", 2);
	amqp_channel_open(conn, 1);
	check_reply(amqp_get_rpc_reply(conn), "channel.open", 1);
	return conn;
}

static void
close_broker(amqp_connection_state_t conn)
{
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
}

static void
declare(amqp_connection_state_t conn, const char *queue)
{
	amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "queue.declare", 1);
}

/* The queue must exist; needs no permission (the parties may configure nothing). */
static void
check_exists(amqp_connection_state_t conn, const char *queue)
{
	amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "queue.declare passive", 1);
}

/* --- publishing with confirms --------------------------------------------------------- */

typedef struct Publisher
{
	amqp_connection_state_t conn;
	uint64_t published, acked, nacked;
} Publisher;

static void
publisher_init(Publisher *p, amqp_connection_state_t conn)
{
	memset(p, 0, sizeof(*p));
	p->conn = conn;
	amqp_confirm_select(conn, 1);
	check_reply(amqp_get_rpc_reply(conn), "confirm.select", 1);
}

/* Read confirms; block when wait, else only what has arrived. */
static void
publisher_poll(Publisher *p, bool wait)
{
	for (;;)
	{
		amqp_frame_t frame;
		struct timeval zero = {0, 0}, ten = {10, 0};
		int status = amqp_simple_wait_frame_noblock(p->conn, &frame, wait ? &ten : &zero);

		if (status == AMQP_STATUS_TIMEOUT)
		{
			if (wait)
				die(1, "no publisher confirm within 10 s");
			return;
		}
		if (status != AMQP_STATUS_OK)
			die(1, "reading confirms: %s", amqp_error_string2(status));
		if (frame.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD ||
			frame.payload.method.id == AMQP_BASIC_NACK_METHOD)
		{
			amqp_basic_ack_t *m = frame.payload.method.decoded;
			uint64_t n = m->multiple ? m->delivery_tag - (p->acked + p->nacked) : 1;

			if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD)
				p->acked += n;
			else
				p->nacked += n;
			if (wait)
				return;
		}
		else if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD)
		{
			amqp_basic_return_t *m = frame.payload.method.decoded;

			die(3, "the broker returned a message as unroutable: %u %.*s", m->reply_code,
				(int) m->reply_text.len, (char *) m->reply_text.bytes);
		}
		else if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)
		{
			amqp_channel_close_t *m = frame.payload.method.decoded;

			die(1, "the broker closed the channel while publishing: %u %.*s", m->reply_code,
				(int) m->reply_text.len, (char *) m->reply_text.bytes);
		}
		else if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)
		{
			amqp_connection_close_t *m = frame.payload.method.decoded;

			die(1, "the broker closed the connection while publishing: %u %.*s", m->reply_code,
				(int) m->reply_text.len, (char *) m->reply_text.bytes);
		}
	}
}

static void
publish(Publisher *p, const char *queue, const void *body, size_t len)
{
	amqp_basic_properties_t props;
	amqp_bytes_t b = {len, (void *) body};
	amqp_table_entry_t header;

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.content_type = amqp_cstring_bytes("application/json");
	if (opt.timestamp)
	{
		props._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
		props.timestamp = (uint64_t) time(NULL);
	}
	if (opt.has_enqueued_us)
	{
		/* As a hublink worker publishes it (bgworker/broker.c), or a forged one. */
		header.key = amqp_cstring_bytes("hublink-enqueued-us");
		header.value.kind = AMQP_FIELD_KIND_I64;
		header.value.value.i64 = (int64_t) props.timestamp * 1000000 + opt.enqueued_us_offset;
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
		props.headers.num_entries = 1;
		props.headers.entries = &header;
	}
	if (opt.user_id)
	{
		props._flags |= AMQP_BASIC_USER_ID_FLAG;
		props.user_id = amqp_cstring_bytes(opt.user_id);
	}
	/* Mandatory: a message no binding routes comes back, and the tool fails (exit 3). */
	if (amqp_basic_publish(p->conn, 1, amqp_cstring_bytes(opt.exchange ? opt.exchange : ""),
						   amqp_cstring_bytes(queue), 1, 0, &props, b) != AMQP_STATUS_OK)
		die(1, "publish failed");
	p->published++;
	publisher_poll(p, false);
	while (p->published - p->acked - p->nacked > 2000)
		publisher_poll(p, true);
}

static void
publisher_finish(Publisher *p)
{
	while (p->acked + p->nacked < p->published)
		publisher_poll(p, true);
	if (p->nacked)
		die(1, "%" PRIu64 " messages were refused by the broker", p->nacked);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		die(1, "cannot open %s: %s", path, strerror(errno));
	do
	{
		if (n + 65536 > cap)
		{
			cap = (n + 65536) * 2;
			buf = realloc(buf, cap + 1);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_publish(int argc, char **argv)
{
	amqp_connection_state_t conn;
	Publisher p;
	const char *queue;

	if (argc < 1)
		die(1, "usage: publish QUEUE [FILE...]");
	queue = argv[0];
	conn = connect_broker();
	publisher_init(&p, conn);
	if (argc > 1)
		for (int i = 1; i < argc; i++)
		{
			size_t len;
			char *body = read_file(argv[i], &len);

			publish(&p, queue, body, len);
			free(body);
		}
	else
	{
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;

		while ((len = getline(&line, &cap, stdin)) > 0)
		{
			if (line[len - 1] == '\n')
				line[--len] = '\0';
			if (len > 0)
				publish(&p, queue, line, (size_t) len);
		}
		free(line);
	}
	publisher_finish(&p);
	fprintf(stderr, "hubtool: published %" PRIu64 " to %s\n", p.published, queue);
	close_broker(conn);
	return 0;
}

/* --- consuming ------------------------------------------------------------------------- */

static void
consume(amqp_connection_state_t conn, const char *queue, int prefetch)
{
	amqp_basic_qos(conn, 1, 0, (uint16_t) prefetch, 0);
	check_reply(amqp_get_rpc_reply(conn), "basic.qos", 1);
	amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
					   amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "basic.consume", 1);
}

static int
cmd_drain(int argc, char **argv)
{
	amqp_connection_state_t conn;
	double start = now_s();
	int got = 0;

	if (argc != 1)
		die(1, "usage: drain QUEUE");
	conn = connect_broker();
	check_exists(conn, argv[0]);
	consume(conn, argv[0], opt.prefetch);
	while (opt.count == 0 || got < opt.count)
	{
		amqp_envelope_t env;
		struct timeval tv = {opt.idle_ms / 1000, (opt.idle_ms % 1000) * 1000};
		amqp_rpc_reply_t r;

		if ((now_s() - start) * 1000 > opt.timeout_ms)
			break;
		amqp_maybe_release_buffers(conn);
		r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			r.library_error == AMQP_STATUS_TIMEOUT)
			break;
		check_reply(r, "consume", 1);
		fwrite(env.message.body.bytes, 1, env.message.body.len, stdout);
		fputc('\n', stdout);
		amqp_basic_ack(conn, 1, env.delivery_tag, 0);
		amqp_destroy_envelope(&env);
		got++;
	}
	fflush(stdout);
	fprintf(stderr, "hubtool: drained %d from %s\n", got, argv[0]);
	close_broker(conn);
	return 0;
}

typedef enum QueueOp
{
	OP_DECLARE,
	OP_PURGE,
	OP_DELETE
} QueueOp;

static int
cmd_queue_op(int argc, char **argv, QueueOp op)
{
	amqp_connection_state_t conn = connect_broker();

	for (int i = 0; i < argc; i++)
	{
		if (op == OP_DECLARE)
			declare(conn, argv[i]);
		else if (op == OP_PURGE)
		{
			amqp_queue_purge(conn, 1, amqp_cstring_bytes(argv[i]));
			check_reply(amqp_get_rpc_reply(conn), "queue.purge", 1);
		}
		else
		{
			amqp_queue_delete(conn, 1, amqp_cstring_bytes(argv[i]), 0, 0);
			check_reply(amqp_get_rpc_reply(conn), "queue.delete", 1);
		}
	}
	close_broker(conn);
	return 0;
}

static int
cmd_get(int argc, char **argv)
{
	amqp_connection_state_t conn;
	amqp_rpc_reply_t r;
	amqp_message_t message;

	if (argc != 1)
		die(1, "usage: get QUEUE");
	conn = connect_broker();
	r = amqp_basic_get(conn, 1, amqp_cstring_bytes(argv[0]), 0);
	check_reply(r, "basic.get", 1);
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
	{
		fprintf(stderr, "hubtool: %s is empty\n", argv[0]);
		close_broker(conn);
		return 0;
	}
	check_reply(amqp_read_message(conn, 1, &message, 0), "reading the message", 1);
	fwrite(message.body.bytes, 1, message.body.len, stdout);
	fputc('\n', stdout);
	amqp_basic_ack(conn, 1, ((amqp_basic_get_ok_t *) r.reply.decoded)->delivery_tag, 0);
	amqp_destroy_message(&message);
	close_broker(conn);
	return 0;
}

static int
cmd_hold(int argc, char **argv)
{
	amqp_connection_state_t conn;
	amqp_rpc_reply_t r;
	amqp_message_t message;
	int seconds;

	if (argc != 2 || (seconds = atoi(argv[1])) <= 0)
		die(1, "usage: hold QUEUE SECONDS");
	conn = connect_broker();
	r = amqp_basic_get(conn, 1, amqp_cstring_bytes(argv[0]), 0);
	check_reply(r, "basic.get", 1);
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		die(1, "%s is empty", argv[0]);
	check_reply(amqp_read_message(conn, 1, &message, 0), "reading the message", 1);
	printf("holding %zu bytes unacked for %d s\n", message.body.len, seconds);
	fflush(stdout);
	amqp_destroy_message(&message);
	sleep((unsigned int) seconds);
	close_broker(conn);
	return 0;
}

static int
cmd_declare_exchange(int argc, char **argv)
{
	amqp_connection_state_t conn;

	if (argc != 1)
		die(1, "usage: declare-exchange NAME");
	conn = connect_broker();
	amqp_exchange_declare(conn, 1, amqp_cstring_bytes(argv[0]), amqp_cstring_bytes("direct"), 0, 1,
						  0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "exchange.declare", 1);
	close_broker(conn);
	return 0;
}

static int
cmd_bind(int argc, char **argv)
{
	amqp_connection_state_t conn;

	if (argc != 3)
		die(1, "usage: bind QUEUE EXCHANGE KEY");
	conn = connect_broker();
	amqp_queue_bind(conn, 1, amqp_cstring_bytes(argv[0]), amqp_cstring_bytes(argv[1]),
					amqp_cstring_bytes(argv[2]), amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "queue.bind", 1);
	close_broker(conn);
	return 0;
}

static int
cmd_count(int argc, char **argv)
{
	amqp_connection_state_t conn;
	amqp_queue_declare_ok_t *ok;

	if (argc != 1)
		die(1, "usage: count QUEUE");
	conn = connect_broker();
	ok = amqp_queue_declare(conn, 1, amqp_cstring_bytes(argv[0]), 1, 0, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "queue.declare passive", 1);
	printf("%u\n", ok->message_count);
	close_broker(conn);
	return 0;
}

/* --- generated messages ---------------------------------------------------------------- */

static unsigned run_id;

static char *
replace_all(const char *text, const char *token, const char *value)
{
	size_t tl = strlen(token), vl = strlen(value), n = 0;
	const char *p;
	char *out, *o;

	for (p = text; (p = strstr(p, token)) != NULL; p += tl)
		n++;
	out = malloc(strlen(text) + n * vl + 1);
	for (o = out, p = text;;)
	{
		const char *q = strstr(p, token);

		if (q == NULL)
		{
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t) (q - p));
		o += q - p;
		memcpy(o, value, vl);
		o += vl;
		p = q + tl;
	}
	return out;
}

/* Message number i of the run: unique messageId and removalId. */
static char *
make_message(const char *template, long i)
{
	char id[40], removal[32], sent[40];
	struct timeval tv;
	struct tm tm;
	char *a, *b, *c;

	snprintf(id, sizeof(id), "%08x-%04lx-4%03lx-8%03x-%012lx", run_id, (i >> 28) & 0xffff,
			 (i >> 16) & 0xfff, (unsigned) (i & 0xfff), i);
	snprintf(removal, sizeof(removal), "RMV-2026-%06ld", i % 1000000);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(sent + strlen(sent), sizeof(sent) - strlen(sent), ".%03ld+00:00",
			 (long) tv.tv_usec / 1000);
	a = replace_all(template, "@@MESSAGE_ID@@", id);
	b = replace_all(a, "@@REMOVAL_ID@@", removal);
	c = replace_all(b, "@@SENT_AT@@", sent);
	free(a);
	free(b);
	return c;
}

static char *
load_template(const char *path)
{
	size_t len;
	char *t = read_file(path, &len);

	/* One message per line: a template's own line breaks go. */
	for (char *p = t; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return t;
}

static int
cmd_gen(int argc, char **argv)
{
	char *template;
	long n, first;

	if (argc < 2)
		die(1, "usage: gen TEMPLATE N [FIRST]");
	template = load_template(argv[0]);
	n = atol(argv[1]);
	first = argc > 2 ? atol(argv[2]) : 1;
	for (long i = first; i < first + n; i++)
	{
		char *m = make_message(template, i);

		puts(m);
		free(m);
	}
	return 0;
}

/* --- benchmark ------------------------------------------------------------------------- */

typedef struct Consumer
{
	const char *queue;
	long expected;
	long got;
	double first_at, last_at;
	double *arrival; /* by removal number, when latency is measured */
	long max_index;
	long offset; /* removal numbers of this run start after it */
} Consumer;

static long
removal_number(const char *body, size_t len)
{
	const char *p = memmem(body, len, "RMV-2026-", 9);

	return p ? atol(p + 9) : -1;
}

static void *
consumer_thread(void *arg)
{
	Consumer *c = arg;
	amqp_connection_state_t conn = connect_broker();
	uint64_t last_tag = 0;
	long unacked = 0;

	consume(conn, c->queue, opt.prefetch);
	while (c->got < c->expected)
	{
		amqp_envelope_t env;
		struct timeval tv = {opt.timeout_ms / 1000, 0};
		amqp_rpc_reply_t r;

		amqp_maybe_release_buffers(conn);
		r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			r.library_error == AMQP_STATUS_TIMEOUT)
			die(1, "timed out with %ld of %ld messages from %s", c->got, c->expected, c->queue);
		check_reply(r, "consume", 1);
		if (c->got == 0)
			c->first_at = now_s();
		c->last_at = now_s();
		last_tag = env.delivery_tag;
		if (c->arrival)
		{
			long k = removal_number(env.message.body.bytes, env.message.body.len) - c->offset;

			/* Only the first reply to each of this run's requests counts. */
			if (k >= 1 && k <= c->max_index && c->arrival[k] == 0)
			{
				c->arrival[k] = c->last_at;
				c->got++;
			}
		}
		else
			c->got++;
		amqp_destroy_envelope(&env);
		/* Batched acks, as hublink's worker does. */
		if (++unacked >= opt.prefetch / 4 || c->got >= c->expected)
		{
			amqp_basic_ack(conn, 1, last_tag, 1);
			unacked = 0;
		}
	}
	close_broker(conn);
	return NULL;
}

static int
cmd_bench_raw(int argc, char **argv)
{
	long n;
	size_t size;
	char *body;
	amqp_connection_state_t conn;
	Publisher p;
	Consumer c = {0};
	pthread_t thread;
	double start;
	const char *queue = "hubtool-bench-raw";

	if (argc != 2)
		die(1, "usage: bench-raw N SIZE");
	n = atol(argv[0]);
	size = (size_t) atol(argv[1]);
	body = malloc(size + 1);
	memset(body, 'x', size);
	conn = connect_broker();
	declare(conn, queue);
	amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
	check_reply(amqp_get_rpc_reply(conn), "queue.purge", 1);
	publisher_init(&p, conn);
	c.queue = queue;
	c.expected = n;
	start = now_s();
	pthread_create(&thread, NULL, consumer_thread, &c);
	for (long i = 0; i < n; i++)
		publish(&p, queue, body, size);
	publisher_finish(&p);
	pthread_join(thread, NULL);
	printf("raw %ld %.3f %.1f\n", n, c.last_at - start, n / (c.last_at - start));
	amqp_queue_delete(conn, 1, amqp_cstring_bytes(queue), 0, 0);
	close_broker(conn);
	return 0;
}

/*
 * bench-relay: the broker's ceiling for hublink's traffic shape. Each message goes through the
 * broker twice, as a request and its reply do in the burst: published to a first queue (as the
 * Hub publishes a request), consumed from it by a relay that publishes a reply of REPLY_SIZE
 * bytes, persistent with confirms, to a second queue (as the worker publishes the reply) and
 * acks the first in batches, and consumed from the second (as the Hub consumes the replies).
 * bench-raw moves each message once; docs/performance.md "Sixth pass" compares the two.
 */
typedef struct Relay
{
	const char *from, *to;
	long expected;
	const char *reply; /* what the relay publishes for each message consumed */
	size_t reply_len;
} Relay;

static void *
relay_thread(void *arg)
{
	Relay *r = arg;
	amqp_connection_state_t in = connect_broker();
	amqp_connection_state_t out = connect_broker();
	Publisher p;
	uint64_t last_tag = 0;
	long got = 0, unacked = 0;

	publisher_init(&p, out);
	consume(in, r->from, opt.prefetch);
	while (got < r->expected)
	{
		amqp_envelope_t env;
		struct timeval tv = {opt.timeout_ms / 1000, 0};
		amqp_rpc_reply_t reply;

		amqp_maybe_release_buffers(in);
		reply = amqp_consume_message(in, &env, &tv, 0);
		if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			reply.library_error == AMQP_STATUS_TIMEOUT)
			die(1, "relay timed out with %ld of %ld messages from %s", got, r->expected, r->from);
		check_reply(reply, "consume", 1);
		publish(&p, r->to, r->reply, r->reply_len);
		last_tag = env.delivery_tag;
		got++;
		amqp_destroy_envelope(&env);
		if (++unacked >= opt.prefetch / 4 || got >= r->expected)
		{
			amqp_basic_ack(in, 1, last_tag, 1);
			unacked = 0;
		}
	}
	publisher_finish(&p);
	close_broker(out);
	close_broker(in);
	return NULL;
}

static int
cmd_bench_relay(int argc, char **argv)
{
	long n;
	size_t size, reply_size;
	char *body, *reply;
	amqp_connection_state_t conn;
	Publisher p;
	Consumer c = {0};
	Relay r;
	pthread_t consumer, relay;
	double start;
	const char *first = "hubtool-bench-relay-in", *second = "hubtool-bench-relay-out";

	if (argc != 2 && argc != 3)
		die(1, "usage: bench-relay N SIZE [REPLY_SIZE]");
	n = atol(argv[0]);
	size = (size_t) atol(argv[1]);
	reply_size = argc == 3 ? (size_t) atol(argv[2]) : size;
	body = malloc(size + 1);
	memset(body, 'x', size);
	reply = malloc(reply_size + 1);
	memset(reply, 'y', reply_size);
	conn = connect_broker();
	declare(conn, first);
	declare(conn, second);
	amqp_queue_purge(conn, 1, amqp_cstring_bytes(first));
	check_reply(amqp_get_rpc_reply(conn), "queue.purge", 1);
	amqp_queue_purge(conn, 1, amqp_cstring_bytes(second));
	check_reply(amqp_get_rpc_reply(conn), "queue.purge", 1);
	publisher_init(&p, conn);
	c.queue = second;
	c.expected = n;
	r.from = first;
	r.to = second;
	r.expected = n;
	r.reply = reply;
	r.reply_len = reply_size;
	start = now_s();
	pthread_create(&consumer, NULL, consumer_thread, &c);
	pthread_create(&relay, NULL, relay_thread, &r);
	for (long i = 0; i < n; i++)
		publish(&p, first, body, size);
	publisher_finish(&p);
	pthread_join(relay, NULL);
	pthread_join(consumer, NULL);
	printf("relay %ld %.3f %.1f\n", n, c.last_at - start, n / (c.last_at - start));
	amqp_queue_delete(conn, 1, amqp_cstring_bytes(first), 0, 0);
	amqp_queue_delete(conn, 1, amqp_cstring_bytes(second), 0, 0);
	close_broker(conn);
	return 0;
}

static int
cmd_burst(int argc, char **argv)
{
	char *template;
	long n;
	amqp_connection_state_t conn;
	Publisher p;
	Consumer c = {0};
	pthread_t thread;
	double start;
	char **messages;

	if (argc != 4)
		die(1, "usage: burst TEMPLATE IN OUT N");
	template = load_template(argv[0]);
	n = atol(argv[3]);
	messages = malloc(sizeof(char *) * n);
	for (long i = 0; i < n; i++)
		messages[i] = make_message(template, i + 1);
	conn = connect_broker();
	publisher_init(&p, conn);
	c.queue = argv[2];
	c.expected = n;
	start = now_s();
	pthread_create(&thread, NULL, consumer_thread, &c);
	for (long i = 0; i < n; i++)
		publish(&p, argv[1], messages[i], strlen(messages[i]));
	publisher_finish(&p);
	pthread_join(thread, NULL);
	printf("burst %ld %.3f %.1f\n", n, c.last_at - start, n / (c.last_at - start));
	close_broker(conn);
	return 0;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

static int
cmd_steady(int argc, char **argv)
{
	char *template;
	double rate, seconds, start;
	long n, k = 0;
	amqp_connection_state_t conn;
	Publisher p;
	Consumer c = {0};
	pthread_t thread;
	double *sent_at, *lat;

	if (argc != 5)
		die(1, "usage: steady TEMPLATE IN OUT RATE SECONDS");
	template = load_template(argv[0]);
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	n = (long) (rate * seconds);
	sent_at = calloc((size_t) n + 2, sizeof(double));
	c.arrival = calloc((size_t) n + 2, sizeof(double));
	c.max_index = n;
	/* Removal numbers no earlier run of the same stack used, so stale replies never match. */
	c.offset = 500000 + (long) (run_id % 400000);
	c.queue = argv[2];
	c.expected = n;
	conn = connect_broker();
	publisher_init(&p, conn);
	pthread_create(&thread, NULL, consumer_thread, &c);
	start = now_s();
	for (long i = 1; i <= n; i++)
	{
		double due = start + (i - 1) / rate;
		char *m;

		while (now_s() < due)
		{
			publisher_poll(&p, false);
			usleep(200);
		}
		m = make_message(template, i + c.offset);
		sent_at[i] = now_s();
		publish(&p, argv[1], m, strlen(m));
		free(m);
	}
	publisher_finish(&p);
	pthread_join(thread, NULL);
	lat = malloc(sizeof(double) * (size_t) n);
	for (long i = 1; i <= n; i++)
		if (c.arrival[i] > 0)
			lat[k++] = (c.arrival[i] - sent_at[i]) * 1000.0;
	qsort(lat, (size_t) k, sizeof(double), compare_double);
	if (k == 0)
		die(1, "no replies matched their requests");
	/*
	 * HUBTOOL_TRACE=FILE: one line per request (removal id, wall-clock seconds sent and
	 * replied), for test/bench/pipeline-stages to split each latency at the database's own
	 * timestamps.
	 */
	if (getenv("HUBTOOL_TRACE") != NULL)
	{
		FILE *f = fopen(getenv("HUBTOOL_TRACE"), "w");
		struct timespec wall;
		double shift;

		if (f == NULL)
			die(1, "cannot write %s", getenv("HUBTOOL_TRACE"));
		clock_gettime(CLOCK_REALTIME, &wall);
		shift = wall.tv_sec + wall.tv_nsec / 1e9 - now_s();
		for (long i = 1; i <= n; i++)
			fprintf(f, "RMV-2026-%06ld %.6f %.6f\n", (i + c.offset) % 1000000, sent_at[i] + shift,
					c.arrival[i] > 0 ? c.arrival[i] + shift : 0.0);
		fclose(f);
	}
	printf("steady %ld %.1f p50_ms %.2f p99_ms %.2f max_ms %.2f\n", k, rate, lat[k / 2],
		   lat[(long) (k * 0.99)], lat[k - 1]);
	close_broker(conn);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'P'},
		{"plain", no_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'a'},
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"user", required_argument, NULL, 'u'},
		{"password-file", required_argument, NULL, 'w'},
		{"timestamp", no_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"idle", required_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 'T'},
		{"prefetch", required_argument, NULL, 'f'},
		{"enqueued-us", required_argument, NULL, 'e'},
		{"exchange", required_argument, NULL, 'x'},
		{"user-id", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	const char *cmd;

	opt.host = getenv("AMQP_HOST") ? getenv("AMQP_HOST") : "127.0.0.1";
	opt.ca = getenv("HUBLINK_TLS_CA");
	opt.exchange = getenv("HUBTOOL_EXCHANGE");
	opt.user_id = getenv("HUBTOOL_USER_ID");
	while ((ch = getopt_long(argc, argv, "+", long_options, NULL)) != -1)
		switch (ch)
		{
			case 'H':
				opt.host = optarg;
				break;
			case 'P':
				opt.port = atoi(optarg);
				break;
			case 'p':
				opt.plain = true;
				break;
			case 'a':
				opt.ca = optarg;
				break;
			case 'c':
				opt.cert = optarg;
				break;
			case 'k':
				opt.key = optarg;
				break;
			case 'u':
				opt.user = optarg;
				break;
			case 'w':
				opt.password_file = optarg;
				break;
			case 't':
				opt.timestamp = true;
				break;
			case 'e':
				opt.has_enqueued_us = true;
				opt.enqueued_us_offset = atoll(optarg);
				break;
			case 'n':
				opt.count = atoi(optarg);
				break;
			case 'i':
				opt.idle_ms = atoi(optarg);
				break;
			case 'T':
				opt.timeout_ms = atoi(optarg);
				break;
			case 'f':
				opt.prefetch = atoi(optarg);
				break;
			case 'x':
				opt.exchange = optarg;
				break;
			case 'U':
				opt.user_id = optarg;
				break;
			default:
				die(1, "unknown option");
		}
	if (optind >= argc)
		die(1, "usage: hubtool [options] publish|drain|get|declare|purge|delete|declare-exchange|"
			   "bind|count|gen|bench-raw|bench-relay|burst|steady ...");
	if (opt.port == 0)
	{
		const char *env = getenv(opt.plain ? "AMQP_PORT" : "AMQPS_PORT");

		opt.port = env ? atoi(env) : (opt.plain ? 5672 : 5671);
	}
	srand((unsigned) time(NULL) ^ (unsigned) getpid());
	run_id = (unsigned) rand() ^ ((unsigned) getpid() << 16);
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (strcmp(cmd, "publish") == 0)
		return cmd_publish(argc, argv);
	if (strcmp(cmd, "drain") == 0)
		return cmd_drain(argc, argv);
	if (strcmp(cmd, "declare") == 0)
		return cmd_queue_op(argc, argv, OP_DECLARE);
	if (strcmp(cmd, "purge") == 0)
		return cmd_queue_op(argc, argv, OP_PURGE);
	if (strcmp(cmd, "delete") == 0)
		return cmd_queue_op(argc, argv, OP_DELETE);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(argc, argv);
	if (strcmp(cmd, "hold") == 0)
		return cmd_hold(argc, argv);
	if (strcmp(cmd, "declare-exchange") == 0)
		return cmd_declare_exchange(argc, argv);
	if (strcmp(cmd, "bind") == 0)
		return cmd_bind(argc, argv);
	if (strcmp(cmd, "count") == 0)
		return cmd_count(argc, argv);
	if (strcmp(cmd, "gen") == 0)
		return cmd_gen(argc, argv);
	if (strcmp(cmd, "bench-raw") == 0)
		return cmd_bench_raw(argc, argv);
	if (strcmp(cmd, "bench-relay") == 0)
		return cmd_bench_relay(argc, argv);
	if (strcmp(cmd, "burst") == 0)
		return cmd_burst(argc, argv);
	if (strcmp(cmd, "steady") == 0)
		return cmd_steady(argc, argv);
	die(1, "unknown command %s", cmd);
	return 1;
}
