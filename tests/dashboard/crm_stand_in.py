"""A stand-in CRM endpoint for the signed webhook connector: a real HTTP server on loopback
that checks each post's Standard Webhooks signature as a receiver must (401 when it does not
match) and keeps what it accepted."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from crm_push.connectors.webhook import sign


@dataclass
class Receiver:
    url: str
    secret: str = ""  # set once the connector is created (its secret is shown once)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, headers: dict[str, str], body: bytes) -> bool:
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not (self.secret and msg_id and stamp.isdigit()):
            return False
        expected = sign(self.secret, msg_id, int(stamp), body)
        given = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(expected, entry) for entry in given)

    def messages(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.accepted if m.get("type") == kind]


@contextmanager
def crm_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                if receiver.check(headers, body):
                    receiver.accepted.append(json.loads(body))
                    status = 200
                else:
                    receiver.refused.append(headers.get("webhook-signature", ""))
                    status = 401
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/callsource"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
