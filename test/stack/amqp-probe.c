/*
 * amqp-probe: a tiny AMQP 0-9-1 client over TLS (librabbitmq) for test/stack/check.
 *
 * amqp-tools cannot log in with SASL EXTERNAL; this can.
 *
 *   amqp-probe --port N --cacert F [--cert F --key F] [--host H]
 *              [--external | --user U --password-file F]
 *              [--queue Q] [--publish BODY] [--get] [--hold SECONDS]
 *
 * --queue declares Q (non-durable, auto-delete off) before --publish / --get.
 * --get prints the body of one message (exit 5 when the queue is empty).
 * --hold keeps the connection open for SECONDS before closing (for inspection).
 *
 * Exit codes: 0 done, 1 usage, 2 TCP/TLS connection failed, 3 login refused or
 * connection closed during login, 4 a channel operation failed, 5 queue empty.
 */
#include <amqp.h>
#include <amqp_ssl_socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr, "usage: amqp-probe --port N --cacert F [--cert F --key F] [--host H]\n"
					"       [--external | --user U --password-file F] [--queue Q]\n"
					"       [--publish BODY] [--get] [--hold SECONDS]\n");
	exit(1);
}

static int
rpc_ok(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 1;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "amqp-probe: %s: %s\n", what, amqp_error_string2(r.library_error));
	else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
			 r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
	{
		amqp_connection_close_t *m = r.reply.decoded;
		fprintf(stderr, "amqp-probe: %s: connection closed %u %.*s\n", what, m->reply_code,
				(int) m->reply_text.len, (char *) m->reply_text.bytes);
	}
	else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
			 r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
	{
		amqp_channel_close_t *m = r.reply.decoded;
		fprintf(stderr, "amqp-probe: %s: channel closed %u %.*s\n", what, m->reply_code,
				(int) m->reply_text.len, (char *) m->reply_text.bytes);
	}
	else
		fprintf(stderr, "amqp-probe: %s: failed (reply type %d)\n", what, r.reply_type);
	return 0;
}

static char *
read_secret(const char *path)
{
	static char buf[256]; /* one secret per run */
	FILE *f = fopen(path, "r");
	if (!f)
	{
		perror(path);
		exit(1);
	}
	if (!fgets(buf, sizeof buf, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

int
main(int argc, char **argv)
{
	const char *host = "localhost", *cacert = NULL, *cert = NULL, *key = NULL;
	const char *user = NULL, *password = NULL, *queue = NULL, *body = NULL;
	int port = 0, external = 0, get = 0, hold = 0;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--external"))
		{
			external = 1;
			continue;
		}
		if (!strcmp(a, "--get"))
		{
			get = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--host"))
			host = v;
		else if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--cacert"))
			cacert = v;
		else if (!strcmp(a, "--cert"))
			cert = v;
		else if (!strcmp(a, "--key"))
			key = v;
		else if (!strcmp(a, "--user"))
			user = v;
		else if (!strcmp(a, "--password-file"))
			password = read_secret(v);
		else if (!strcmp(a, "--queue"))
			queue = v;
		else if (!strcmp(a, "--publish"))
			body = v;
		else if (!strcmp(a, "--hold"))
			hold = atoi(v);
		else
			usage();
	}
	if (port <= 0 || !cacert || (!external && (!user || !password)) || (!cert != !key))
		usage();
	if ((body || get) && !queue)
		usage();

	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock = amqp_ssl_socket_new(conn);
	if (!sock)
	{
		fprintf(stderr, "amqp-probe: cannot create TLS socket\n");
		return 2;
	}
	amqp_ssl_socket_set_verify_peer(sock, 1);
	amqp_ssl_socket_set_verify_hostname(sock, 1);
	if (amqp_ssl_socket_set_cacert(sock, cacert) != AMQP_STATUS_OK)
	{
		fprintf(stderr, "amqp-probe: cannot load CA %s\n", cacert);
		return 2;
	}
	if (cert && amqp_ssl_socket_set_key(sock, cert, key) != AMQP_STATUS_OK)
	{
		fprintf(stderr, "amqp-probe: cannot load certificate %s / key %s\n", cert, key);
		return 2;
	}
	struct timeval tv = {10, 0};
	int st = amqp_socket_open_noblock(sock, host, port, &tv);
	if (st != AMQP_STATUS_OK)
	{
		fprintf(stderr, "amqp-probe: TLS connection to %s:%d failed: %s\n", host, port,
				amqp_error_string2(st));
		return 2;
	}
	amqp_set_rpc_timeout(conn, &tv);

	amqp_rpc_reply_t r =
		external ? amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL,
							  user ? user : "external")
				 : amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password);
	if (!rpc_ok(r, "login"))
		return 3;
	fprintf(stderr, "amqp-probe: logged in with %s\n", external ? "EXTERNAL" : "PLAIN");

	amqp_channel_open(conn, 1);
	if (!rpc_ok(amqp_get_rpc_reply(conn), "channel.open"))
		return 4;
	if (queue)
	{
		amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 0, amqp_empty_table);
		if (!rpc_ok(amqp_get_rpc_reply(conn), "queue.declare"))
			return 4;
	}
	if (body)
	{
		amqp_basic_properties_t props;
		props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
		props.content_type = amqp_cstring_bytes("text/plain");
		props.delivery_mode = 2;
		if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &props,
							   amqp_cstring_bytes(body)) != AMQP_STATUS_OK)
		{
			fprintf(stderr, "amqp-probe: publish failed\n");
			return 4;
		}
	}
	int rc = 0;
	if (get)
	{
		r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), 1);
		if (!rpc_ok(r, "basic.get"))
			return 4;
		if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
			rc = 5;
		else
		{
			amqp_message_t msg;
			if (!rpc_ok(amqp_read_message(conn, 1, &msg, 0), "read message"))
				return 4;
			printf("%.*s\n", (int) msg.body.len, (char *) msg.body.bytes);
			amqp_destroy_message(&msg);
		}
	}
	if (hold > 0)
		sleep((unsigned) hold);
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return rc;
}
