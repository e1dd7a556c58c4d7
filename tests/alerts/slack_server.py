"""A local Slack-Web-API-compatible server for tests: the real slack-sdk clients talk to it over loopback.

Implements auth.test, chat.postMessage, chat.update, conversations.history/replies (with message
metadata), users.info, apps.connections.open and the Socket Mode WebSocket (RFC 6455 handshake,
hello, envelopes, acks, ping/pong). Every request is checked against Slack's Web API OpenAPI spec
(method known, required arguments present) and every `blocks` payload against the Block Kit schema;
violations are collected in `violations`, which tests assert to be empty. Faults can be scripted:
429 with Retry-After, and 5xx storms.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .local_http import LocalServer, Request, Response

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NOT_IN_2020_SPEC = {"apps.connections.open"}  # newer than Slack's frozen OpenAPI file


class SlackSpec:
    def __init__(self, specs: Path) -> None:
        web = json.loads((specs / "slack" / "slack_web_openapi_v2.json").read_text())
        self.paths = web["paths"]
        blocks = json.loads((specs / "slack" / "slack-block-kit.schema.json").read_text())
        self.blocks = Draft202012Validator(blocks)

    def check(self, method: str, http_verb: str, args: dict[str, Any]) -> list[str]:
        if method in NOT_IN_2020_SPEC:
            return []
        ops = self.paths.get("/" + method)
        if ops is None:
            return [f"{method}: not a Web API method"]
        op = ops.get(http_verb.lower()) or next(iter(ops.values()))
        problems = []
        for param in op.get("parameters", []):
            if param.get("required") and param["name"] != "token" and param["name"] not in args:
                problems.append(f"{method}: missing required argument {param['name']}")
        known = {p["name"] for p in op.get("parameters", [])} | {
            "metadata",
            "include_all_metadata",
            "markdown_text",
        }
        problems += [f"{method}: unknown argument {a}" for a in args if a not in known and a != "token"]
        if "blocks" in args:
            blocks = args["blocks"]
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
            problems += [
                f"{method}: blocks: {e.message} at {list(e.path)}" for e in self.blocks.iter_errors(blocks)
            ]
        return problems


class SlackServer(LocalServer):
    def __init__(self, specs: Path) -> None:
        super().__init__()
        self.spec = SlackSpec(specs)
        self.violations: list[str] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages (top level and replies)
        self.users = {
            "U123": {"id": "U123", "name": "anna", "real_name": "Anna Lead", "profile": {"display_name": "anna"}},
            "USLACKBOT": {"id": "USLACKBOT", "name": "slackbot", "real_name": "Slackbot", "is_bot": False},
        }
        self.faults: list[Response] = []  # answered instead of the next requests (one each)
        self.down = False  # a 5xx storm: every Web API call fails with 503 until cleared
        self.calls: list[str] = []
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral: seen only by one user
        self.on_post: Callable[[dict[str, Any]], None] | None = None  # hook after a message is stored
        self._ts = itertools.count(1)
        self._last_ts = 0.0
        self.sockets: list[_WebSocket] = []
        self.acks: dict[str, threading.Event] = {}

    # ------------------------------------------------------------------ Web API

    def next_ts(self) -> str:
        """Slack message timestamps: the server's epoch time in microseconds, unique per message."""
        with self.lock:
            self._last_ts = max(time.time(), self._last_ts + 1e-6)
            return f"{self._last_ts:.6f}"

    def rate_limit(self, times: int = 1, retry_after: int = 3) -> None:
        body = {"ok": False, "error": "ratelimited"}
        self.faults += [(429, {"Retry-After": str(retry_after)}, body)] * times

    def posts(self, channel: str | None = None, top_level: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            msgs = [m for ch, ms in self.messages.items() if channel in (None, ch) for m in ms]
        return [m for m in msgs if (m.get("thread_ts") is None) == top_level]

    def handle(self, request: Request) -> Response:
        method = request.path.removeprefix("/api/")
        with self.lock:
            self.calls.append(method)
            if self.down:
                return 503, {}, {"ok": False, "error": "service_unavailable"}
            if self.faults:
                return self.faults.pop(0)
        args = request.form()
        problems = self.spec.check(method, request.method, args)
        if problems:
            self.violations += problems
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(args)

    def api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "repmon",
            "team_id": "T1",
            "user_id": "UBOT",
            "bot_id": "B1",
        }

    def api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        if channel.startswith("C-MISSING"):
            return {"ok": False, "error": "channel_not_found"}
        metadata = args.get("metadata")
        message = {
            "type": "message",
            "ts": self.next_ts(),
            "text": args.get("text", ""),
            "blocks": _maybe_json(args.get("blocks")),
            "thread_ts": args.get("thread_ts"),
            "metadata": _maybe_json(metadata),
            "bot_id": "B1",
        }
        if message["thread_ts"] and not any(
            m["ts"] == message["thread_ts"] for m in self.messages.get(channel, [])
        ):
            return {"ok": False, "error": "thread_not_found"}
        with self.lock:
            self.messages.setdefault(channel, []).append(message)
        if self.on_post:
            self.on_post(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.ephemeral.append({"channel": args["channel"], "user": args["user"], "text": args.get("text", "")})
        return {"ok": True, "message_ts": self.next_ts()}

    def api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args["channel"], args["ts"]
        with self.lock:
            for message in self.messages.get(channel, []):
                if message["ts"] == ts:
                    message["text"] = args.get("text", message["text"])
                    message["blocks"] = _maybe_json(args.get("blocks")) or message["blocks"]
                    message["edited"] = message.get("edited", 0) + 1
                    return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}

    def api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, `oldest` bound, cursor pagination (the cursor is an offset here)."""
        oldest = float(args.get("oldest") or 0)
        msgs = [
            m for m in self.messages.get(args["channel"], []) if not m["thread_ts"] and float(m["ts"]) > oldest
        ]
        msgs.reverse()
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        page = msgs[start : start + limit]
        more = start + limit < len(msgs)
        return {
            "ok": True,
            "messages": [_visible(m, args) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = args["ts"]
        msgs = [m for m in self.messages.get(args["channel"], []) if m["ts"] == ts or m["thread_ts"] == ts]
        return {"ok": True, "messages": [_visible(m, args) for m in msgs], "has_more": False}

    def api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=t{next(self._ts)}&app_id=A1"}

    # ------------------------------------------------------------------ Socket Mode

    def upgrade(self, request: Request) -> bool:
        if not request.path.startswith("/link") or request.headers.get("upgrade", "").lower() != "websocket":
            return False
        key = request.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        conn: socket.socket = request.handler.connection
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        ws = _WebSocket(conn, request.handler.rfile, self)
        with self.lock:
            self.sockets.append(ws)
        ws.send_text(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A1"},
                    "debug_info": {"host": "local"},
                }
            )
        )
        ws.serve()  # blocks this connection's thread until the client closes
        return True

    def send_interactive(self, payload: dict[str, Any]) -> threading.Event:
        """Push an interactivity envelope to the connected app; the returned event fires on its ack."""
        envelope_id = f"env-{next(self._ts)}"
        acked = threading.Event()
        self.acks[envelope_id] = acked
        with self.lock:
            ws = self.sockets[-1]
        ws.send_text(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": "interactive",
                    "accepts_response_payload": False,
                    "payload": payload,
                }
            )
        )
        return acked


class _WebSocket:
    """Just enough RFC 6455 for Socket Mode: unmasked server frames, masked client frames."""

    def __init__(self, conn: socket.socket, rfile: Any, server: SlackServer) -> None:
        self.conn, self.rfile, self.server = conn, rfile, server
        self.send_lock = threading.Lock()

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self.send_lock:
            self.conn.sendall(header + payload)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionError("client went away")
        return data

    def serve(self) -> None:
        try:
            while True:
                b0, b1 = self._read(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", self._read(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", self._read(8))
                mask = self._read(4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read(n)))
                if opcode == 0x8:
                    self._send(0x8, data[:2])
                    return
                if opcode == 0x9:
                    self._send(0xA, data)
                elif opcode == 0x1:
                    envelope = json.loads(data).get("envelope_id")
                    if envelope in self.server.acks:
                        self.server.acks[envelope].set()
        except (ConnectionError, OSError):
            return
        finally:
            with self.server.lock:
                if self in self.server.sockets:
                    self.server.sockets.remove(self)


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _visible(message: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Metadata is only returned when asked for, as on Slack."""
    shown = {k: v for k, v in message.items() if v is not None}
    if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
        shown.pop("metadata", None)
    return shown
