"""A client of the app server's echo tunnel (``harness/app_server.py``): an HTTP/1.1
``Upgrade`` through HAProxy, then lines echoed back; and a keep-alive HTTP connection.
Both stand for the long-lived sessions that maintenance has to close."""

import socket

READ_TIMEOUT = 5.0


class Tunnel:
    """One upgraded connection to ``host:port`` (HAProxy's frontend), from ``source``."""

    def __init__(self, host, port, *, source="127.0.0.1", timeout=READ_TIMEOUT):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0)
        )
        self.file = self.sock.makefile("rb")
        self.sock.sendall(
            f"GET /tunnel HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n"
            "Upgrade: echo\r\n\r\n".encode()
        )
        status = self.file.readline()
        if not status.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"no tunnel: {status!r}")
        while self.file.readline() not in (b"\r\n", b""):
            pass

    def echo(self, text):
        """Send one line; return the echoed line (``<app server> <text>``), or "" when the
        connection was closed. Raises ``TimeoutError`` when nothing came back in time."""
        try:
            self.sock.sendall(text.encode() + b"\n")
            return self.file.readline().decode().strip()
        except TimeoutError:
            raise
        except OSError:
            return ""

    def closed_by_peer(self):
        """Wait, at most the socket's timeout, for the far side to close; True if it did."""
        try:
            self.file.read()  # returns only at the end of the stream
        except TimeoutError:
            return False
        except OSError:
            return True
        return True

    def close(self):
        self.file.close()
        self.sock.close()


class KeepAlive:
    """One HTTP/1.1 keep-alive connection: several GETs, one after the other."""

    def __init__(self, host, port, *, timeout=READ_TIMEOUT):
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def get(self, path="/"):
        """One request on the same connection; ``(status, body)``."""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        status = int(self.file.readline().split()[1])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, self.file.read(length).decode()

    def close(self):
        self.file.close()
        self.sock.close()
