"""`llmvigil serve`: the reports folder over HTTP on the loopback interface (the standard library's
http.server), for people who prefer a URL to a file:// path.

Only 127.0.0.1 is bound. Responses carry the same Content-Security-Policy as the pages' meta tag
(Evidently's drift pages get theirs), `nosniff` and `no-referrer`.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from llmvigil.dashboard.evidently import DRIFT_CSP
from llmvigil.dashboard.html import CSP

HOST = "127.0.0.1"


class ReportsHandler(SimpleHTTPRequestHandler):
    quiet = False

    def end_headers(self) -> None:
        path = self.path.split("?", 1)[0]
        self.send_header("Content-Security-Policy", DRIFT_CSP if path.endswith("/drift.html") else CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if not self.quiet:
            super().log_message(format, *args)


def make_server(directory: Path, port: int = 8000, *, quiet: bool = False) -> ThreadingHTTPServer:
    """An HTTP server for `directory` on 127.0.0.1:`port` (0 picks a free port); call serve_forever()."""
    handler = functools.partial(type("Handler", (ReportsHandler,), {"quiet": quiet}), directory=str(directory))
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
