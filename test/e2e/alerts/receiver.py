#!/usr/bin/env python3
"""A local HTTPS receiver for the alert delivery tests (test/e2e/alerts/run).

   receiver.py CERT KEY CA PORTFILE LOG

Listens on 127.0.0.1 (a free port, written to PORTFILE), asks for a client certificate
signed by CA (optional, so /mtls can tell), and appends one JSON line per request to LOG
before answering: path, Idempotency-Key, Authorization, the client certificate's CN, the body.
How it answers depends on the path:
(the query string is ignored, so channels can tell their requests apart)
  /ok        200
  /mtls      200 with a client certificate, else 403
  /failN     500 for the first N requests of each idempotency key, then 200
  /slowN     sleeps 3 s for the first N requests of each key (the sender times out), then 200
  /sleepMS   sleeps MS milliseconds, then 200
  /redirect  302 to /ok
"""
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, ca, portfile, logfile = sys.argv[1:6]
seen = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, extra=None):
        body = b'{"ok": true}' if status < 300 else b'{"error": "test receiver says no"}'
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        key = self.headers.get("Idempotency-Key")
        peer = self.connection.getpeercert()
        cn = None
        if peer:
            for rdn in peer.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
        with lock:
            seen[(self.path, key)] = n = seen.get((self.path, key), 0) + 1
            with open(logfile, "a") as f:
                f.write(json.dumps({"path": self.path, "key": key, "n": n, "client_cn": cn,
                                    "authorization": self.headers.get("Authorization"),
                                    "content_type": self.headers.get("Content-Type"),
                                    "at": time.time(), "body": body}) + "\n")
        p = self.path.split("?")[0]
        if p == "/ok":
            self.answer(200)
        elif p == "/mtls":
            self.answer(200 if cn else 403)
        elif p.startswith("/fail"):
            self.answer(500 if n <= int(p[5:]) else 200)
        elif p.startswith("/slow"):
            if n <= int(p[5:]):
                time.sleep(3)
            self.answer(200)
        elif p.startswith("/sleep"):
            time.sleep(int(p[6:]) / 1000.0)
            self.answer(200)
        elif p == "/redirect":
            self.answer(302, {"Location": "/ok"})
        else:
            self.answer(404)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_OPTIONAL
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
# A sender that gives up (the timeout tests) closes mid-answer: not worth a traceback.
server.handle_error = lambda request, client_address: None
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
