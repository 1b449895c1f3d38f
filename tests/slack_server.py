"""A real, local, Slack-compatible HTTP server for tests (the way slack-sdk tests itself).

`http.server.ThreadingHTTPServer` on 127.0.0.1, port 0, served from a thread. It records every request
it receives and answers like Slack does:

- incoming webhooks: ``POST /services/...`` -> 200 ``ok``;
- Web API: ``POST /api/chat.postMessage`` -> ``{"ok": true, "ts": "...", "channel": ...}``.

Failure modes are programmable:

- ``fail_next(429, times=2, retry_after=1)``: answer 429 with ``Retry-After`` N times, then succeed;
- ``fail_next(500)`` / ``fail_next(503)``: server errors;
- ``fail_next(200, error="channel_not_found")``: Web API ``{"ok": false, "error": ...}`` (HTTP 200,
  as Slack does); for a webhook the same call answers the status code with the error as the body;
- ``stop()`` then ``start()``: the port refuses connections in between ("Slack is down"); the server
  comes back on the same port.

Use it through the ``slack_server`` fixture in tests/conftest.py.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, form fields, or the raw text
    status: int = 0  # what the server answered
    accepted: bool = False  # Slack took the message (webhook 200 'ok', Web API ok: true)
    ts: str | None = None  # the message ts the Web API answered

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def webhook(self) -> bool:
        return self.path.startswith("/services/")


@dataclass
class _Failure:
    status: int
    retry_after: int | None = None
    error: str | None = None


@dataclass
class SlackServer:
    """Start with `start()`; `requests` lists every request received, `messages` the accepted ones."""

    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: int = 0

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "SlackServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                ctype = self.headers.get("Content-Type", "")
                body: Any = raw
                if "json" in ctype:
                    body = json.loads(raw or "null")
                elif "x-www-form-urlencoded" in ctype:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                req = Request("POST", urlparse(self.path).path, dict(self.headers.items()), body)
                status, headers, payload = server._answer(req)
                req.status = status
                with server._lock:
                    server.requests.append(req)
                data = payload.encode("utf-8")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]  # keep the port: a restart comes back on it
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: connections are refused until `start()`."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "SlackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # ---- what tests use -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Web API base URL (for `WebClient(base_url=...)` / SLACK_API_BASE_URL)."""
        return f"http://{self.host}:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://{self.host}:{self.port}/services/T000/B000/XXXXXXXX"

    def webhook_env(self) -> dict[str, str]:
        return {"SLACK_WEBHOOK_URL": self.webhook_url}

    def bot_env(self, channel: str = "C0ALERTS") -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_CHANNEL": channel,
                "SLACK_API_BASE_URL": self.base_url}

    def fail_next(self, status: int, *, times: int = 1, retry_after: int | None = None,
                  error: str | None = None) -> None:
        """Answer the next `times` requests with this failure, then behave again."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, error) for _ in range(times))

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Bodies of the messages Slack accepted (webhook 200 'ok' or Web API ok: true), in order."""
        with self._lock:
            return [r.body for r in self.requests if r.accepted]

    @property
    def accepted(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.accepted]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---- answers ------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        self._ts += 1
        return f"{1764547200 + self._ts}.{self._ts:06d}"

    def _answer(self, req: Request) -> tuple[int, dict[str, str], str]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            headers = {"Content-Type": "application/json" if req.api else "text/plain"}
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            if req.api:
                body = json.dumps({"ok": False, "error": failure.error or _default_error(failure.status)})
            else:
                body = failure.error or _default_error(failure.status)
            return failure.status, headers, body
        if req.webhook:
            req.accepted = True
            return 200, {"Content-Type": "text/html"}, "ok"
        if req.path == "/api/chat.postMessage":
            body = req.body if isinstance(req.body, dict) else {}
            if not req.headers.get("Authorization", "").startswith("Bearer "):
                return 200, {"Content-Type": "application/json"}, json.dumps({"ok": False, "error": "not_authed"})
            if not body.get("channel"):
                return 200, {"Content-Type": "application/json"}, json.dumps({"ok": False, "error": "channel_not_found"})
            with self._lock:
                ts = self._next_ts()
            req.accepted, req.ts = True, ts
            answer = {"ok": True, "channel": body["channel"], "ts": ts,
                      "message": {"text": body.get("text"), "ts": ts, "thread_ts": body.get("thread_ts")}}
            return 200, {"Content-Type": "application/json"}, json.dumps(answer)
        return 404, {"Content-Type": "text/plain"}, "no_service"


def _default_error(status: int) -> str:
    return {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(status, "error")
