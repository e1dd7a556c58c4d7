"""A threaded loopback HTTP server base for the platform test servers (real sockets, real clients)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        self.method = handler.command
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = body
        self.handler = handler

    def form(self) -> dict[str, Any]:
        """Form or JSON body merged over the query string, as Slack and Zendesk accept both."""
        data: dict[str, Any] = dict(self.query)
        ctype = self.headers.get("content-type", "")
        if self.body and "json" in ctype:
            data.update(json.loads(self.body))
        elif self.body:
            data.update({k: v[-1] for k, v in parse_qs(self.body.decode()).items()})
        return data


Response = tuple[int, dict[str, str], Any]  # status, headers, JSON body (or bytes)


class LocalServer:
    """Subclasses implement `handle(request) -> Response`; `upgrade` lets one take over the socket."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self, self.rfile.read(length) if length else b"")
                if outer.upgrade(request):
                    self.close_connection = True
                    return
                status, headers, body = outer.handle(request)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                    self.close_connection = True

            do_GET = do_POST = do_PUT = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, request: Request) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError

    def upgrade(self, request: Request) -> bool:
        return False

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll a condition on an Event-driven clock (no fixed sleeps): true as soon as it holds."""
    event = threading.Event()
    deadline = timeout
    step = 0.01
    while deadline > 0:
        if predicate():
            return True
        event.wait(step)
        deadline -= step
        step = min(step * 2, 0.2)
    return predicate()
