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

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from llmvigil.dashboard import pages
from llmvigil.dashboard.data import RunExtras, RunRecord, load_history, run_extras
from llmvigil.dashboard.evidently import protect_drift_page
from llmvigil.dashboard.html import ensure_assets, safe_part, write_text_atomic
from llmvigil.profile import Profile
from llmvigil.results import RunSummary

__all__ = ["RunExtras", "load_history", "protect_drift_page", "prune_runs", "run_extras", "write_index",
           "write_profile", "write_run"]

STATUS_FILE = "status.json"
TRENDS_FILE = "trends.jsonl"  # a cache of the runs table's summaries, one compact line per run
RUN_PAGE = "index.html"
_RUN_ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]+$")


def _present(run_dir: Path) -> dict[str, bool]:
    return {"run": (run_dir / RUN_PAGE).exists(),
            **{k: (run_dir / name).exists() for k, name in pages.RUN_FILES.items()}}


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
