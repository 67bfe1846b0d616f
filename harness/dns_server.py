"""A tiny DNS server for tests: answers A queries for the names it holds, NXDOMAIN for the
others, on a loopback UDP port. Names can be added while it runs, so a test sees what
HAProxy's resolvers do when a name starts to resolve."""

import socket
import struct
import threading

from harness.haproxy import free_port

TYPE_A = 1
CLASS_IN = 1
TTL = 1
NXDOMAIN = 3


class DNSServer:
    """``names``: ``{"app3.test": "127.0.0.1"}``, read at each query."""

    def __init__(self, names=None, host="127.0.0.1"):
        self.names = dict(names or {})
        self.address = (host, free_port())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self):
        return f"{self.address[0]}:{self.address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                query, client = self.sock.recvfrom(512)
            except OSError:
                return  # closed
            self.sock.sendto(self._answer(query), client)

    def _answer(self, query):
        ident, _flags, _qd = struct.unpack("!HHH", query[:6])
        labels, offset = [], 12
        while query[offset]:
            length = query[offset]
            labels.append(query[offset + 1 : offset + 1 + length].decode())
            offset += 1 + length
        question = query[12 : offset + 5]
        qtype = struct.unpack("!H", query[offset + 1 : offset + 3])[0]
        address = self.names.get(".".join(labels).lower())
        if address is None or qtype != TYPE_A:
            rcode = NXDOMAIN if address is None else 0
            return struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, 0, 0, 0) + question
        record = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + socket.inet_aton(address)
        return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record
