"""A webhook receiver run as its own process by the notification tests.

``python webhook_sink.py PORT OUTPUT [STATUS]``: every POST is appended to OUTPUT as one
JSON line ``{"headers": {...}, "raw": "<the body>", "body": <it parsed>}`` (other bodies,
such as OTLP's protobuf, as ``"base64"``), then answered with STATUS (200 by default).
"""

from __future__ import annotations

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    port, output = int(sys.argv[1]), Path(sys.argv[2])
    status = int(sys.argv[3]) if len(sys.argv) > 3 else 200

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            record: dict[str, object] = {"headers": dict(self.headers.items())}
            if "json" in self.headers.get("Content-Type", ""):
                record.update(raw=body.decode(), body=json.loads(body))
            else:
                record["base64"] = base64.b64encode(body).decode()
            with output.open("a") as file:
                file.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
