"""HTML building blocks shared by every llmvigil page: escaping, safe links, number formats, the page
shell with its Content-Security-Policy, and the shared asset folder.

Every value that reaches a page goes through `esc` (text and attribute values alike). Links are built
by `href` from parts that match a strict pattern (profile names, run ids, file names), so no string
from the logs can ever become a `javascript:` or off-site link.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from datetime import datetime
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from llmvigil.kpis import RATE_KPIS

ASSETS_DIR = "_assets"  # reports/_assets/: profile names cannot start with '_', so it never collides
STYLESHEET = "style.css"

# Pages carry no script at all: a logged prompt that slipped through escaping still could not run.
# Only the shared stylesheet (same folder tree) and data: images may load; nothing else, no network.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'")

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def esc(value: Any) -> str:
    """Text of any value, escaped for HTML text and attribute values (quotes included)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return escape(str(value), quote=True)


def safe_part(part: str) -> bool:
    return bool(_SAFE_PART.match(part)) and ".." not in part


def href(*parts: str) -> str:
    """A relative link from parts that each match a strict pattern ('..' allowed as a whole part).

    Raises ValueError for anything else, so a link can never carry a scheme, a host or markup.
    """
    for p in parts:
        if p != ".." and not safe_part(p):
            raise ValueError(f"unsafe link part: {p!r}")
    return esc("/".join(parts))


def link(text: str, *parts: str, cls: str | None = None) -> str:
    c = f' class="{esc(cls)}"' if cls else ""
    return f'<a href="{href(*parts)}"{c}>{esc(text)}</a>'


# ---- numbers -------------------------------------------------------------------------------------
def is_rate(metric: str) -> bool:
    return metric in RATE_KPIS or metric == "drift_share"


def fmt(metric: str, v: Any, *, short: bool = False) -> str:
    """A metric value for people: rates as %, latencies in ms/s, costs in $, counts with separators."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, str):
        return v
    v = float(v)
    if is_rate(metric):
        pct = 100 * v
        if short:
            return f"{pct:.0f}%" if abs(pct) >= 10 or pct == int(pct) else f"{pct:.1f}%"
        return f"{pct:.1f}%" if abs(pct) >= 1 or pct == 0 else f"{pct:.2f}%"
    if metric.endswith("_ms"):
        if short:
            return f"{v / 1000:.1f}s" if abs(v) >= 1000 else f"{v:.0f}ms"
        return f"{v:,.0f} ms"
    if metric.endswith("_usd"):
        if short:
            return f"${v:,.2f}" if abs(v) >= 0.1 or v == 0 else f"${v:.3f}"
        return f"${v:,.2f}" if abs(v) >= 100 else f"${v:,.4f}"
    if v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 10 else f"{v:,.3f}"


def fmt_delta(metric: str, cur: Any, ref: Any) -> str:
    """Change from reference to current: percentage points for rates, relative % otherwise."""
    if cur is None or ref is None:
        return ""
    cur, ref = float(cur), float(ref)
    if is_rate(metric):
        d = 100 * (cur - ref)
        return f"{d:+.1f} pp"
    if ref == 0:
        return ""
    return f"{100 * (cur - ref) / abs(ref):+.0f}%"


def fmt_time(ts: datetime | str | None) -> str:
    if ts is None:
        return "–"
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return ts
    return ts.strftime("%Y-%m-%d %H:%M") + " UTC"


LABELS = {
    "p95_latency_ms": "p95 latency", "p50_latency_ms": "p50 latency", "pii_rate": "PII rate",
    "lang_mismatch_rate": "Language mismatch", "cost_usd": "Cost", "cost_per_1k_usd": "Cost per 1k calls",
    "drift_share": "Drift share", "checks_failed": "Checks failed", "checks_passed": "Checks passed",
    "json_valid_rate": "JSON valid rate", "retry_after_refusal_rate": "Retry after refusal",
    "retry_after_error_rate": "Retry after error",
}
INTEGER_METRICS = {"volume", "checks_passed", "checks_failed", "total_tokens"}


def label(metric: str) -> str:
    """'p95_latency_ms' -> 'p95 latency', 'refusal_rate' -> 'Refusal rate'."""
    if metric in LABELS:
        return LABELS[metric]
    words = metric.removesuffix("_ms").removesuffix("_usd").replace("_", " ")
    return words[:1].upper() + words[1:]


# ---- page shell ----------------------------------------------------------------------------------
def page(title: str, body: str, *, depth: int, crumbs: list[tuple[str, str | None]] | None = None) -> str:
    """A complete page. `depth` is how many folders below the reports root the page lives (for links
    to the shared stylesheet); `crumbs` are (text, already-built href or None) pairs."""
    up = "../" * depth
    nav = ""
    if crumbs:
        items = []
        for text, target in crumbs:
            items.append(f'<a href="{target}">{esc(text)}</a>' if target else f"<span>{esc(text)}</span>")
        nav = '<nav class="crumbs">' + '<span class="sep">/</span>'.join(items) + "</nav>"
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{up}{ASSETS_DIR}/{STYLESHEET}">'
        f"<title>{esc(title)}</title></head>\n<body>"
        f'<header class="top"><a class="brand" href="{up}index.html">llmvigil</a>{nav}</header>\n'
        f"<main>{body}</main>\n</body></html>\n"
    )


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a file so that a reader (or a concurrent run of another profile) never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def ensure_assets(reports_dir: Path) -> Path:
    """Copy the shared assets (one stylesheet) into reports/_assets/ when missing or changed."""
    out = reports_dir / ASSETS_DIR
    src = resources.files("llmvigil") / "report_assets"
    for item in src.iterdir():
        if not item.is_file() or item.name.startswith("."):
            continue
        data = item.read_text(encoding="utf-8")
        target = out / item.name
        if not target.exists() or target.read_text(encoding="utf-8") != data:
            write_text_atomic(target, data)
    return out
