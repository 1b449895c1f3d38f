"""Drive headless Chromium (Debian's `chromium`) through the DevTools protocol, for tests of HTML pages.

One browser process per `Chromium()` context, started with a fresh profile folder and every background
service off; pages are opened in new tabs. Each `Page` records every request the page made (network
log), the JavaScript dialogs it tried to open (auto-dismissed), console and CSP messages, and lets a
test evaluate DOM expressions and save screenshots:

    with Chromium() as browser:
        page = browser.open("file:///.../index.html")
        assert page.eval("document.querySelectorAll('svg path').length") > 3
        assert page.offsite_requests() == []
        page.screenshot(Path("test-output/index.png"))

DevTools evaluation is not subject to the page's Content-Security-Policy, so tests can inspect pages
that forbid every script.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--metrics-recording-only", "--mute-audio", "--hide-scrollbars", "--font-render-hinting=none",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


INSTALL_HINT = "headless Chromium is needed: `apt-get install -y chromium` (Debian) and run the tests again"


class CdpError(RuntimeError):
    pass


@dataclass
class Page:
    browser: "Chromium"
    session: str
    url: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    loaded: bool = False

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def eval(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (JSON-serialisable results only)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise CdpError(f"{expression!r}: {res['exceptionDetails'].get('text')} "
                           f"{res['exceptionDetails'].get('exception', {}).get('description', '')}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout}s on {self.url}")
            self.browser.pump(0.2)

    def offsite_requests(self) -> list[str]:
        """Requests that went anywhere but file:, data:, about: or a loopback host."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("file", "data", "about", "blob", "devtools", "chrome"):
                continue
            if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOCAL_HOSTS:
                continue
            out.append(url)
        return out

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            m = self.send("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.send("Page.captureScreenshot", params, timeout=60)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.browser.targets.pop(self.session)})


class Chromium:
    """A headless Chromium process driven over the DevTools protocol (websockets from the venv)."""

    def __init__(self, *, width: int = 1280, height: int = 900):
        self.width, self.height = width, height
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.pages: dict[str, Page] = {}
        self.targets: dict[str, str] = {}

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "Chromium":
        exe = chromium_path()
        if exe is None:
            raise RuntimeError(INSTALL_HINT)
        self.profile_dir = tempfile.mkdtemp(prefix="llmvigil-chromium-")
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile_dir}", "--remote-debugging-port=0",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        port_file = Path(self.profile_dir) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        from websockets.sync.client import connect

        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=20)
        return self

    def __exit__(self, *exc) -> None:
        if self.ws is not None:
            try:
                self.send("Browser.close", timeout=5)
            except Exception:
                pass
            self.ws.close()
            self.ws = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.profile_dir, ignore_errors=True)

    # ---- protocol -------------------------------------------------------------------------------
    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = 30) -> dict:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {method} within {timeout}s")
            data = json.loads(self.ws.recv(timeout=left))
            if data.get("id") == msg_id:
                if "error" in data:
                    raise CdpError(f"{method}: {data['error']}")
                return data.get("result", {})
            self._event(data)

    def pump(self, seconds: float) -> None:
        """Handle events for a while (requests, dialogs) without sending anything."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            self._event(data)

    def _event(self, data: dict) -> None:
        method, params = data.get("method"), data.get("params", {})
        page = self.pages.get(data.get("sessionId", ""))
        if page is None or method is None:
            return
        if method == "Network.requestWillBeSent":
            page.requests.append(params["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            page.dialogs.append(params.get("message", ""))
            msg = {"id": next(self.ids), "method": "Page.handleJavaScriptDialog",
                   "params": {"accept": False}, "sessionId": page.session}
            self.ws.send(json.dumps(msg))
        elif method == "Runtime.consoleAPICalled":
            page.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            page.console.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded":
            page.console.append(f"{params['entry'].get('level')}: {params['entry'].get('text')}")
        elif method == "Page.loadEventFired":
            page.loaded = True

    # ---- pages ----------------------------------------------------------------------------------
    def open(self, url: str, *, timeout: float = 30, settle: float = 0.3) -> Page:
        """Open `url` in a new tab and wait for its load event (then `settle` seconds for late requests)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, url)
        self.pages[session], self.targets[session] = page, target
        for domain in ("Page", "Network", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        page.loaded = False  # a late load event of about:blank must not count
        nav = page.send("Page.navigate", {"url": url})
        if nav.get("errorText"):
            raise CdpError(f"{url}: {nav['errorText']}")
        deadline = time.monotonic() + timeout
        while not page.loaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading within {timeout}s")
            self.pump(0.1)
        page.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'",
                      timeout=max(1.0, deadline - time.monotonic()))
        self.pump(settle)
        return page
