"""A real HTTP server on loopback that speaks one platform's API, with fault injection.

A `Platform` answers requests the way the real API documents it (parameters, paging, auth) from
recorded payloads in `tests/fixtures/<source>/`; `FakeServer` runs it in a thread and can make the
next data requests fail in the ways platforms fail: 429 with Retry-After, 5xx, hangs (timeouts),
malformed JSON, oversize bodies, auth errors.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: bytes | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the server stops): the client must time out
    chunked: bool = False  # no Content-Length: the client must cap the streamed size itself
    drip: bool = False  # one byte at a time, slowly, until the server stops: only a total deadline helps
    drip_headers: bool = False  # the status line, then one header byte at a time: before any body exists

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode()


class Platform:
    """Base for fake platforms: subclasses implement `handle` for the documented endpoints."""

    source: str = ""

    def __init__(self) -> None:
        self.ignore_paging = False  # answer every page request with the first page: a pagination loop
        self.base_url = ""

    def fixture(self, name: str) -> Any:
        return json.loads((FIXTURES / self.source / name).read_text(encoding="utf-8"))

    def is_data(self, call: Call) -> bool:
        """Requests that faults apply to (not login/session endpoints)."""
        return True

    def handle(self, call: Call) -> Reply:
        raise NotImplementedError


class FakeServer:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.calls: list[Call] = []
        self.faults: list[Reply] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                call = Call(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server.calls.append(call)
                if server.faults and server.platform.is_data(call):
                    reply = server.faults.pop(0)
                else:
                    reply = server.platform.handle(call)
                if reply.hang:
                    server._release.wait(10)
                    return
                body = reply.encoded()
                if reply.drip_headers:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not server._release.wait(0.02):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    return
                self.send_response(reply.status)
                headers: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if reply.drip:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while not server._release.wait(0.02):
                        self.wfile.write(b"1\r\n \r\n")
                        self.wfile.flush()
                    return
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 65536):
                        chunk = body[start : start + 65536]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            do_GET = do_POST = _serve

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out and hang up are the point of some tests

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        platform.base_url = self.url
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def data_calls(self) -> list[Call]:
        return [c for c in self.calls if self.platform.is_data(c)]
