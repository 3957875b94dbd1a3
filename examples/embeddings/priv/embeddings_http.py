"""The model behind a plain Python HTTP service (standard library only), the
way it is often deployed next to an Erlang system: the benchmark's third
contender, called from Erlang with httpc.

    python embeddings_http.py [--port 0] [--torch-threads N]

POST /embed with {"sentences": ["...", ...]} answers
{"embeddings": [[float, ...], ...]}; GET /health answers {"ok": true}.
HTTP/1.1 keep-alive, one thread per connection (ThreadingHTTPServer).

Once the model is loaded and warm it prints `ready PORT` on stdout. It
exits when its standard input closes, so the Erlang port that started it
takes it down with it.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import embeddings_model  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
    # algorithm holds the body back until the client's delayed ACK, 40 ms.
    disable_nagle_algorithm = True

    def _reply(self, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != "/embed":
            self._reply(404, {"error": "not found"})
            return
        try:
            sentences = json.loads(body)["sentences"]
            if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
                raise ValueError("sentences must be a list of strings")
        except (ValueError, KeyError, TypeError) as e:
            self._reply(400, {"error": str(e)})
            return
        self._reply(200, {"embeddings": embeddings_model.encode(sentences)})

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=0)
    args = parser.parse_args()

    embeddings_model.load(args.torch_threads)
    embeddings_model.encode(["warm up the model"])
    server = Server(("127.0.0.1", args.port), Handler)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print("ready", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
