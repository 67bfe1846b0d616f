"""A tiny app server for tests and the demo: answers ``APP <name>``; ``/slow?s=N`` takes N s.

A GET with an ``Upgrade`` header (any protocol) is answered ``101 Switching Protocols``, and
the connection then becomes a tunnel that echoes each line back as ``<name> <line>``: a
long-lived session like a WebSocket, through HAProxy's HTTP mode, without a WebSocket
library. ``harness.tunnel`` is its client."""

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MAX_SLOW_SECONDS = 30.0


def handler_for(name):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Upgrade"):
                self._echo_tunnel()
                return
            url = urlparse(self.path)
            if url.path == "/slow":
                seconds = float(parse_qs(url.query).get("s", ["1"])[0])
                time.sleep(min(max(seconds, 0.0), MAX_SLOW_SECONDS))
            body = f"APP {name}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _echo_tunnel(self):
            self.protocol_version = "HTTP/1.1"  # a 101 exists in HTTP/1.1 only
            self.send_response(101)
            self.send_header("Upgrade", self.headers["Upgrade"])
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while line := self.rfile.readline():
                self.wfile.write(f"{name} ".encode() + line)
                self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.name))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
