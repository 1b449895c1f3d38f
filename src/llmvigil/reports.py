"""Reports written by each run, readable offline:

    reports/index.html                       every profile with its latest status (from status.json)
    reports/_assets/style.css                the one shared asset (pages load nothing else)
    reports/<profile>/index.html             dashboard: trend charts over every run, segments, runs table
    reports/<profile>/status.json            what the index shows of the profile
    reports/<profile>/trends.jsonl           one compact line per run (a cache of the runs table)
    reports/<profile>/<run>/index.html       run overview: findings, KPIs, segments, drift, examples
    reports/<profile>/<run>/checks.html      every GX expectation, observed value, failing examples
    reports/<profile>/<run>/drift.html       Evidently's report (written by the drift step)
    reports/<profile>/<run>/summary.json     the run summary

Trends come from the profile's DuckDB `runs` table (one row per run; trends.jsonl saves re-reading
every summary), so they keep every run while `reports.keep_runs` prunes the per-run folders
(Evidently's pages are about 4 MB each).

Pages carry no script and a Content-Security-Policy that forbids every load but the shared
stylesheet; every string from the logs is escaped and links are built from checked parts only.
The pages themselves are rendered by `llmvigil.dashboard`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from llmvigil.profile import Profile
from llmvigil.dashboard import pages
from llmvigil.dashboard.data import RunExtras, RunRecord, load_history, run_extras
from llmvigil.dashboard.html import ensure_assets, safe_part, write_text_atomic
from llmvigil.results import RunSummary

__all__ = ["RunExtras", "load_history", "prune_runs", "run_extras", "write_index", "write_profile", "write_run"]

STATUS_FILE = "status.json"
TRENDS_FILE = "trends.jsonl"  # a cache of the runs table's summaries, one compact line per run
RUN_PAGE = "index.html"
_RUN_ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]+$")

# Evidently's page (evidently 0.7.x `save_html`): a data script `var metric_<id> = {...json...};` in
# <head>, then `var global = globalThis`, the app bundle and a `window.drawDashboard(...)` call.
# Evidently writes the JSON into the data script without escaping "</", so a logged value such as
# "</script><img src=x onerror=alert(1)>" (a model version, say) ends the script early and becomes
# markup that runs. `protect_drift_page` repairs the data script and pins the four scripts by hash.
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
    start = _EVIDENTLY_DATA.search(text, 0, anchor if anchor > 0 else 0)
    if anchor < 0 or start is None:
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


def _present(run_dir: Path) -> dict[str, bool]:
    return {"run": (run_dir / RUN_PAGE).exists(),
            **{k: (run_dir / name).exists() for k, name in pages.RUN_FILES.items()}}


def protect_drift_page(path: Path) -> bool:
    """Make Evidently's self-contained page safe to open: repair the data script (see above), allow
    exactly its four scripts (by hash: no inline event handler, no injected script can run) and forbid
    every network load. A page of another layout gets a policy that runs no script at all.
    Returns False when the page already carries a policy (it was protected before)."""
    text = path.read_text(encoding="utf-8")
    if "Content-Security-Policy" in text[:20000]:
        return False
    pinned = _pin_evidently_scripts(text)
    text, csp = pinned if pinned else (text, DRIFT_CSP_NO_SCRIPT)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
    i = text.lower().find("<head>", 0, 5000)
    text = text[:i + 6] + meta + text[i + 6:] if i >= 0 else meta + text
    write_text_atomic(path, text)
    return True


def write_run(run_dir: Path, summary: RunSummary, extras: RunExtras | None = None,
              profile: Profile | None = None) -> dict[str, str]:
    """Write a run's checks.html, overview (index.html) and summary.json; drift.html is the drift step's.

    Sets `summary.reports` to the paths written (before summary.json is written, so it lists them)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ensure_assets(run_dir.parent.parent)
    w = summary.windows.to_json()["current"]
    write_text_atomic(run_dir / "checks.html",
                      pages.checks_page(summary.profile, summary.run_id, summary.at, w, summary.checks))
    drift = run_dir / "drift.html"
    if drift.exists():
        protect_drift_page(drift)
    paths = {"drift": str(drift)} if drift.exists() else {}
    paths["checks"] = str(run_dir / "checks.html")
    paths["summary"] = str(run_dir / "summary.json")
    paths["overview"] = str(run_dir / RUN_PAGE)
    paths["dashboard"] = str(run_dir.parent / "index.html")
    summary.reports = paths
    present = {"run": True, "drift": drift.exists(), "checks": True, "summary": True}
    write_text_atomic(run_dir / RUN_PAGE, pages.run_page(summary, extras, profile, present))
    write_text_atomic(run_dir / "summary.json", json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
    return paths


def prune_runs(profile_dir: Path, history: list[RunRecord], keep: timedelta, *,
               protect: set[str] = frozenset()) -> list[str]:
    """Delete per-run folders whose run is older than `keep` before the newest run; returns their names.

    A folder's time is its run's `at` from the runs table, or the time in its name (run ids start with
    it); folders with neither, and the runs in `protect`, are left alone. Trends are not affected."""
    if not history or not profile_dir.is_dir():
        return []
    at_of = {r.run_id: r.at for r in history}
    cutoff = max(at_of.values()) - keep
    removed = []
    for d in sorted(p for p in profile_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        if d.name in protect or not safe_part(d.name):
            continue
        at = at_of.get(d.name)
        if at is None and (m := _RUN_ID_TIME.match(d.name)):
            at = datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ")
        if at is not None and at < cutoff:
            shutil.rmtree(d)
            removed.append(d.name)
    return removed


def write_profile(con: duckdb.DuckDBPyConnection, profile: Profile, summary: RunSummary,
                  extras: RunExtras | None = None) -> Path:
    """The profile's dashboard and status.json, from every run in the `runs` table (the current run
    must be recorded there first); prunes per-run folders older than `reports.keep_runs`."""
    profile_dir = profile.reports_dir / profile.name
    profile_dir.mkdir(parents=True, exist_ok=True)
    history = load_history(con, profile.name, cache=profile_dir / TRENDS_FILE)
    if not history:
        raise ValueError(f"no runs of profile {profile.name} in the runs table")
    prune_runs(profile_dir, history, profile.reports.keep_runs, protect={summary.run_id})
    shown = history[-pages.RUN_TABLE_ROWS:]
    present = {r.run_id: _present(profile_dir / r.run_id) for r in shown if safe_part(r.run_id)}
    latest_extras = extras if history[-1].run_id == summary.run_id else None
    write_text_atomic(profile_dir / "index.html", pages.profile_page(profile, history, latest_extras, present))
    status = pages.status_record(profile, history, present)
    write_text_atomic(profile_dir / STATUS_FILE, json.dumps(status, ensure_ascii=False, default=str))
    return profile_dir / "index.html"


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: every profile that has a status.json, firing first."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    ensure_assets(reports_dir)
    statuses = []
    for f in sorted(reports_dir.glob(f"*/{STATUS_FILE}")):
        if not safe_part(f.parent.name):
            continue
        try:
            st = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(st, dict) and st.get("profile") == f.parent.name:
            statuses.append(st)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return write_text_atomic(reports_dir / "index.html", pages.index_page(statuses, now))
