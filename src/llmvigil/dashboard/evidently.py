"""Evidently's HTML report (written by the drift step), made safe to open next to llmvigil's pages.

Evidently 0.7.x `save_html` writes a data script `var metric_<id> = {...json...};` in <head>, then
`var global = globalThis`, the app bundle and a `window.drawDashboard(...)` call. It writes the JSON
into the data script without escaping "</", so a logged value such as
"</script><img src=x onerror=alert(1)>" (a model version, say) ends the script early and becomes
markup that runs when the page is opened. `protect_drift_page` repairs the data script and pins the
page's four scripts by hash in a Content-Security-Policy that also forbids every network load.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from llmvigil.dashboard.html import write_text_atomic

_EVIDENTLY_DATA = re.compile(r"<script>(?=\s*var metric_[0-9a-f]+ = )")
_EVIDENTLY_GLOBAL = "<script>var global = globalThis</script>"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_RAW_TEXT_BREAK = re.compile(r"<(?=[/!]|script)", re.I)
_CSP_TAIL = ("style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; "
             "form-action 'none'")
# Used when the page is not Evidently's known layout: no script may run (the page shows nothing; the
# drift numbers are on the run overview page).
DRIFT_CSP_NO_SCRIPT = "default-src 'none'; script-src 'none'; " + _CSP_TAIL
# What `llmvigil serve` sends for drift pages: scripts only as pinned by the page's own meta policy.
DRIFT_CSP = "default-src 'none'; script-src 'unsafe-inline'; " + _CSP_TAIL


def _pin_evidently_scripts(text: str) -> tuple[str, str] | None:
    """(repaired page, CSP pinning its scripts by hash), or None if the layout is not Evidently's."""
    anchor = text.rfind(_EVIDENTLY_GLOBAL)
    if anchor < 0:
        return None
    start = _EVIDENTLY_DATA.search(text, 0, anchor)
    if start is None:
        return None
    body_start = start.end()
    body_end = text.rfind("</script>", body_start, anchor)  # the data script's own end tag
    if body_end < 0:
        return None
    # inside the data (JSON strings in a JS literal) "\u003c" is the same "<"; outside strings the
    # literal has no "<" at all
    data = _RAW_TEXT_BREAK.sub(r"\\u003c", text[body_start:body_end])
    fixed = text[:body_start] + data + text[body_end:]
    scripts = _SCRIPT.findall(fixed)
    if (len(scripts) != 4 or scripts[1] != "var global = globalThis"
            or "window.drawDashboard(" not in scripts[3] or not scripts[0].lstrip().startswith("var metric_")):
        return None
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
                      for s in scripts)
    return fixed, f"default-src 'none'; script-src {hashes}; {_CSP_TAIL}"


def protect_drift_page(path: Path) -> bool:
    """Make Evidently's self-contained page safe to open: repair the data script (see the module's docstring), allow
    exactly its four scripts (by hash: no inline event handler, no injected script can run) and forbid
    every network load. A page of another layout gets a policy that runs no script at all.
    Returns False when the page already carries a policy (it was protected before)."""
    with path.open(encoding="utf-8") as f:
        if "Content-Security-Policy" in f.read(20000):
            return False  # a second call (reports step after drift step) reads only the head of ~4 MB
    text = path.read_text(encoding="utf-8")
    pinned = _pin_evidently_scripts(text)
    text, csp = pinned if pinned else (text, DRIFT_CSP_NO_SCRIPT)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
    i = text.lower().find("<head>", 0, 5000)
    text = text[:i + 6] + meta + text[i + 6:] if i >= 0 else meta + text
    write_text_atomic(path, text)
    return True
