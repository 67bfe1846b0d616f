"""A tiny app server for tests and the demo: answers ``APP <name>``; ``/slow?s=N`` takes N s."""

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MAX_SLOW_SECONDS = 30.0


def handler_for(name):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
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
