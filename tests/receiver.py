"""A real webhook receiver on loopback for the status-out tests: a threaded http.server that
verifies every message with the `standardwebhooks` library and keeps what it accepted.

`answer` sets the status it answers (200 by default, 410 to say gone, 500 to fail), `hang`
makes it wait that many seconds before answering (a slow receiver; the first `hang_count`
messages only, when set); `stop()` and `start()` again on the same port make it go down and
come back.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from tests.servers import free_port


@dataclass
class Received:
    message_id: str
    payload: dict
    at: float


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    answer: int = 200
    hang: float = 0.0
    hang_count: int | None = None
    accepted: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    seen: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.seen += 1
                    order = receiver.seen
                if receiver.hang and (receiver.hang_count is None or order <= receiver.hang_count):
                    time.sleep(receiver.hang)
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception as exc:  # a bad signature: refused, remembered
                    with receiver._lock:
                        receiver.refused.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                status = receiver.answer
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.accepted.append(
                            Received(self.headers["webhook-id"], payload, time.monotonic())
                        )
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"status": status}).encode())
                except OSError:
                    pass  # the sender is gone (a worker killed mid-delivery)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def codes_by_dossier(self) -> dict[str, list[str]]:
        """The statuses each dossier's messages carried, in the order they arrived (repeats
        of one webhook-id counted once)."""
        seen: set[str] = set()
        by_dossier: dict[str, list[str]] = {}
        for item in list(self.accepted):
            if item.message_id in seen:
                continue
            seen.add(item.message_id)
            data = item.payload["data"]
            by_dossier.setdefault(data["code"], []).append(data["status"])
        return by_dossier

    def ids(self) -> list[str]:
        return [item.message_id for item in self.accepted]
