"""One monitoring cycle for one profile, as plain functions (the Prefect flow wires the same steps).

Each step opens its own short-lived connection to the profile's DuckDB file: DuckDB allows one writer
process per file, and a step that holds it no longer than it needs lets `llmvigil alerts` and the like
read between runs.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from llmvigil import alerts, checks, drift, features, findings, kpis, reports, sources
from llmvigil.profile import FixedWindow, Profile
from llmvigil.results import (
    AlertResult, ChecksSummary, DriftSummary, Finding, IngestResult, RunSummary, RunWindows, iso,
)
from llmvigil.store import open_store, scalar

Progress = Callable[[str], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_utc_naive(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(timezone.utc).replace(tzinfo=None)


_DAY = timedelta(days=1)


def windows_for(profile: Profile, at: datetime) -> RunWindows:
    """The current window ends at `at`; the reference is the fixed baseline or the `previous` span.

    A `previous` reference of whole days, with a current window shorter than a day (hourly runs),
    ends at 00:00 UTC of the current window's day instead of sliding with every run: all runs of a
    day then share one reference, whose KPIs and drift sample are computed once and cached in the
    store (a 7-day reference holds 7M rows at 1M interactions a day; recomputing it every hour would
    make each run's cost follow the history instead of the new data).
    """
    cur_start = at - profile.windows.current
    ref = profile.windows.reference
    if isinstance(ref, FixedWindow):
        return RunWindows(cur_start, at, to_utc_naive(ref.start), to_utc_naive(ref.end))
    ref_end = cur_start
    if _day_aligned_reference(profile):
        ref_end = datetime.combine(cur_start.date(), datetime.min.time())
    return RunWindows(cur_start, at, ref_end - ref.previous, ref_end)


@dataclass
class RunContext:
    profile: Profile
    run_id: str
    at: datetime
    windows: RunWindows
    run_dir: Path
    progress: Progress | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def current(self) -> tuple[datetime, datetime]:
        return self.windows.current_start, self.windows.current_end

    @property
    def reference(self) -> tuple[datetime, datetime]:
        return self.windows.reference_start, self.windows.reference_end

    def say(self, msg: str) -> None:
        if self.progress:
            self.progress(msg)

    @contextmanager
    def store(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with open_store(self.profile.store_path, memory_limit=self.profile.memory_limit, read_only=read_only) as con:
            # DuckDB draws a progress bar on stdout for queries over 2 s: stdout is for `run --json`
            con.execute("SET enable_progress_bar = false")
            yield con


def plan(profile: Profile, at: datetime | None = None, progress: Progress | None = None) -> RunContext:
    at = to_utc_naive(at) if at else utcnow()
    run_id = f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    run_dir = profile.reports_dir / profile.name / run_id
    return RunContext(profile, run_id, at, windows_for(profile, at), run_dir, progress)


@contextmanager
def _timed(ctx: RunContext, name: str) -> Iterator[None]:
    """Time a step into the run's timings (the same timer the ingest sub-steps use)."""
    with features.timings_into(ctx.timings), features.timer(name):
        yield


def step_ingest(ctx: RunContext) -> IngestResult:
    with _timed(ctx, "ingest"), ctx.store() as con, features.timings_into(ctx.timings):
        try:
            result = sources.pull(con, ctx.profile, ctx.progress)
        except sources.SourceError as e:
            # The source is unreachable: say so, and let the run judge what the store already holds.
            result = IngestResult(error=str(e))
            result.total_rows = scalar(con, "SELECT count(*) FROM interactions")
            ctx.say(f"source error: {e}")
    ctx.say(f"ingest: {result.new_rows} new rows, {result.rejected} rejected, {result.total_rows} stored")
    return result


def _day_aligned_reference(profile: Profile) -> bool:
    ref = profile.windows.reference
    return (not isinstance(ref, FixedWindow) and profile.windows.current < _DAY
            and ref.previous >= _DAY and ref.previous % _DAY == timedelta(0))


def step_kpis(ctx: RunContext) -> list[kpis.SegmentKpis]:
    with _timed(ctx, "kpis"), ctx.store() as con:
        rows = kpis.compute(con, current=ctx.current, reference=ctx.reference, segments=ctx.profile.segments,
                            retries=ctx.profile.retries)
    if _day_aligned_reference(ctx.profile):
        # Runs of a day share one reference; tomorrow's differs by one day, whose hourly parts are
        # computed here as their data completes (an hour or two per run) instead of all at once by
        # tomorrow's first run.
        nxt = windows_for(ctx.profile, ctx.at + _DAY)
        with _timed(ctx, "kpi_parts"), ctx.store() as con:
            kpis.prepare_parts(con, (nxt.reference_start, nxt.reference_end), ctx.profile.retries, until=ctx.at)
    return rows


_prefetch: threading.Thread | None = None
_prefetch_lock = threading.Lock()


def prefetch_heavy_imports(profile: Profile) -> None:
    """Import Evidently and Great Expectations in a background thread (once per process).

    They take 15-20 CPU-s to import - more than all the work of a day of demo data - and the drift and
    checks steps need them only after ingest and KPIs, which run inside DuckDB (without the GIL): on
    two cores the imports overlap with that work instead of adding to it. The libraries both threads
    use (numpy, pyarrow, scipy.sparse for the language model) are imported here first, so that the
    two threads do not import the same modules at the same time; `wait_for_imports` joins the thread
    before a step imports Evidently or GX itself.
    """
    global _prefetch
    with _prefetch_lock:
        if _prefetch is not None:
            return
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
        import scipy.sparse  # noqa: F401

        def work() -> None:
            try:
                from evidently import Report  # noqa: F401
                from evidently.presets import DataDriftPreset  # noqa: F401

                if profile.checks_path is not None:
                    import great_expectations  # noqa: F401
                    from great_expectations.core.expectation_suite import ExpectationSuite  # noqa: F401
            except Exception:  # noqa: BLE001 - the step that needs it imports it again and reports the error
                pass

        _prefetch = threading.Thread(target=work, name="llmvigil-prefetch-imports")
        _prefetch.start()


def wait_for_imports(ctx: RunContext | None = None) -> None:
    if _prefetch is not None and _prefetch.is_alive():
        t0 = time.perf_counter()
        _prefetch.join()
        if ctx is not None:  # the part of the imports that did not overlap with the work before
            ctx.timings["imports_wait"] = ctx.timings.get("imports_wait", 0.0) + time.perf_counter() - t0


def step_drift(ctx: RunContext) -> DriftSummary:
    wait_for_imports(ctx)
    with _timed(ctx, "drift"), ctx.store() as con:
        result = drift.compute(con, ctx.profile.drift, current=ctx.current, reference=ctx.reference,
                               html_path=ctx.run_dir / "drift.html")
    ctx.say("drift: " + (result.skipped or f"{result.share_drifted:.0%} of columns drifted"))
    return result


def step_checks(ctx: RunContext) -> ChecksSummary:
    path = ctx.profile.checks_path
    if path is None:
        return ChecksSummary(success=None, skipped="no checks suite in the profile")
    wait_for_imports(ctx)
    with _timed(ctx, "checks"), ctx.store() as con:
        result = checks.validate(con, path, current=ctx.current)
    ctx.say("checks: " + (result.skipped or f"{result.evaluated - len(result.failed)}/{result.evaluated} passed"))
    return result


def step_findings(ctx: RunContext, kpi_rows: list[kpis.SegmentKpis], drift_result: DriftSummary,
                  checks_result: ChecksSummary) -> list[Finding]:
    with _timed(ctx, "findings"):
        return findings.evaluate(ctx.profile, kpi_rows, drift_result, checks_result)


def report_links(ctx: RunContext) -> dict[str, str]:
    base = ctx.profile.reports.base_url
    names = {"overview": "index.html", "drift": "drift.html", "checks": "checks.html", "summary": "summary.json"}
    if base:
        return {k: f"{base.rstrip('/')}/{ctx.profile.name}/{ctx.run_id}/{v}" for k, v in names.items()}
    return {k: (ctx.run_dir / v).resolve().as_uri() for k, v in names.items()}


def step_alert(ctx: RunContext, found: list[Finding]) -> AlertResult:
    with _timed(ctx, "alert"):
        window = (iso(ctx.windows.current_start) or "", iso(ctx.windows.current_end) or "")
        # Short connections only: one transaction for the state, none held while Slack answers.
        return alerts.process(ctx.profile, findings=found, at=ctx.at, run_id=ctx.run_id, window=window,
                              links=report_links(ctx), run_dir=ctx.run_dir, store=ctx.store)


def step_reports(ctx: RunContext, summary: RunSummary) -> dict[str, str]:
    # The run's pages, then the run recorded in `runs` (the dashboard's trends read every run from
    # there), then the profile's dashboard (it prunes old per-run folders) and the index of profiles.
    with _timed(ctx, "reports"), ctx.store() as con:
        extras = reports.run_extras(con, ctx.profile, summary.kpis, current=ctx.current, reference=ctx.reference)
        paths = reports.write_run(ctx.run_dir, summary, extras, ctx.profile)
        con.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [summary.run_id, summary.profile, summary.at, summary.at, utcnow(), len(summary.firing),
             json.dumps(summary.to_json())],
        )
        reports.write_profile(con, ctx.profile, summary, extras)
    reports.write_index(ctx.profile.reports_dir)
    return paths


def summarise(ctx: RunContext, ingest: IngestResult, kpi_rows: list[kpis.SegmentKpis], drift_result: DriftSummary,
              checks_result: ChecksSummary, found: list[Finding], alert: AlertResult) -> RunSummary:
    return RunSummary(profile=ctx.profile.name, run_id=ctx.run_id, at=ctx.at, windows=ctx.windows, ingest=ingest,
                      kpis=kpis.as_json(kpi_rows), drift=drift_result, checks=checks_result, findings=found,
                      alert=alert, timings=ctx.timings)


def run_cycle(profile: Profile, at: datetime | None = None, progress: Progress | None = None) -> RunSummary:
    """Pull, measure, judge, alert and report: one monitoring cycle, without Prefect."""
    t0 = time.perf_counter()
    ctx = plan(profile, at, progress)
    prefetch_heavy_imports(profile)
    ctx.say(f"run {ctx.run_id} of profile {profile.name}: current window "
            f"{iso(ctx.windows.current_start)} → {iso(ctx.windows.current_end)}")
    ingest = step_ingest(ctx)
    kpi_rows = step_kpis(ctx)
    drift_result = step_drift(ctx)
    checks_result = step_checks(ctx)
    found = step_findings(ctx, kpi_rows, drift_result, checks_result)
    alert = step_alert(ctx, found)
    summary = summarise(ctx, ingest, kpi_rows, drift_result, checks_result, found, alert)
    ctx.timings["total"] = time.perf_counter() - t0
    step_reports(ctx, summary)
    return summary
