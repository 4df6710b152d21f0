#!/usr/bin/env python3
"""A Kerberos KDC that never answers: accepts TCP connections and UDP datagrams on 127.0.0.1:PORT
and holds them without a word (test/e2e/tokens/run, "a KDC that never answers"). MIT krb5 1.20
then waits its own hard-coded timeouts (about 27 s per request), which is what the worker's
token fetch must not be held up by."""
import select
import socket
import sys

port = int(sys.argv[1])
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port))
tcp.listen(64)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", port))
held = []
while True:
    ready, _, _ = select.select([tcp, udp] + held, [], [])
    for s in ready:
        if s is tcp:
            held.append(tcp.accept()[0])
        elif s is udp:
            udp.recvfrom(65536)
        elif not s.recv(65536):
            held.remove(s)
            s.close()
