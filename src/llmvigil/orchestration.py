"""The thin Prefect-aware layer under `flows/`: the per-profile concurrency slot, the run's artifacts,
the windows of a backfill and the pull step of prefect.yaml.

Prefect is imported inside the functions that talk to the server; `summary_markdown`, `backfill_ends`
and `artifact_key` are plain functions with unit tests that need no Prefect.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from llmvigil.results import RunSummary, iso

PROJECT_ENV = "LLMVIGIL_HOME"
MAX_BACKFILL_WINDOWS = 1000


class OrchestrationError(RuntimeError):
    """The Prefect side is not set up the way llmvigil needs; the message says what to do."""


# ---- pull step ----------------------------------------------------------------------------------
def enter_project(directory: str | None = None) -> dict[str, str]:
    """Pull step of prefect.yaml: run the flow from the llmvigil checkout on the worker's machine.

    prefect.yaml passes `{{ $LLMVIGIL_HOME }}`; Prefect drops the argument when the variable is not set
    on the worker, and this step then says how to fix it (Prefect's own step would fail with a
    TypeError). Returns `{"directory": ...}` like `set_working_directory`.
    """
    if not directory or "{{" in directory:
        raise OrchestrationError(
            f"{PROJECT_ENV} is not set on this worker: start the worker with {PROJECT_ENV} set to the "
            f"llmvigil project folder (where prefect.yaml is), e.g. `{PROJECT_ENV}=$PWD prefect worker "
            "start --pool llmvigil` — `llmvigil up` does this for the workers it starts."
        )
    path = Path(os.path.expanduser(directory)).resolve()
    if not (path / "prefect.yaml").exists():
        raise OrchestrationError(
            f"{PROJECT_ENV}={directory} is not an llmvigil project folder (no prefect.yaml there): "
            "point it at the checkout the worker should run."
        )
    os.chdir(path)
    return {"directory": str(path)}


# ---- one run of a profile at a time ---------------------------------------------------------------
def profile_limit_name(profile: str) -> str:
    """Name of the global concurrency limit (limit 1) that serialises the runs of one profile."""
    return f"llmvigil-profile-{profile}"


def _ensure_limit(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:  # another run of the profile created it a moment ago
                pass


@contextmanager
def profile_slot(profile: str, timeout_seconds: float | None = None,
                 say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the profile's slot: runs of one profile (scheduled, manual, backfill) never overlap.

    The limit is created on first use, so a new profile needs no setup. The slot is a lease that the
    server frees if the run's process dies, so a crashed run does not block the profile for good.
    """
    from prefect.concurrency.sync import concurrency

    name = profile_limit_name(profile)
    _ensure_limit(name)
    t0 = time.monotonic()
    with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True):
        waited = time.monotonic() - t0
        if say and waited >= 2:
            say(f"waited {waited:.0f}s for another run of profile {profile} to finish "
                f"(concurrency limit {name})")
        yield


# ---- artifacts ----------------------------------------------------------------------------------
def artifact_key(profile: str, suffix: str = "") -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"llmvigil-{profile}{'-' + suffix if suffix else ''}".lower())
    return key.strip("-")


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(summary: RunSummary, links: dict[str, str] | None = None) -> str:
    """The run summary as markdown for the Prefect UI: KPIs, findings, alert delivery, report links.

    Numbers and rule names only: logged prompts and responses never reach Prefect.
    """
    from llmvigil.slack import fmt_value

    w = summary.windows
    firing = summary.firing
    head = f"**{len(firing)} finding(s) firing**" if firing else "**All thresholds OK**"
    lines = [
        f"# llmvigil · {summary.profile}",
        "",
        f"Run `{summary.run_id}` · window {iso(w.current_start)} → {iso(w.current_end)} "
        f"(reference {iso(w.reference_start)} → {iso(w.reference_end)})",
        "",
        head,
        "",
    ]
    i = summary.ingest
    lines.append(f"Ingest: {i.new_rows} new rows, {i.rejected} rejected, {i.total_rows} stored"
                 + (f" · **source error**: {_cell(i.error)}" if i.error else ""))
    lines += ["", "## KPIs (current window)", "", "| KPI | value |", "|---|---|"]
    for name, value in sorted(summary.kpis.get("current", {}).items()):
        lines.append(f"| {_cell(name)} | {_cell(fmt_value(name, value))} |")
    lines += ["", "## Findings", ""]
    shown = [f for f in summary.findings if f.status != "ok"]
    if not shown:
        lines.append("No finding firing, silenced or short of data.")
    else:
        lines += ["| status | severity | rule | segment | observed | threshold | reference |",
                  "|---|---|---|---|---|---|---|"]
        for f in sorted(shown, key=lambda f: (f.status != "firing", f.severity, f.rule, f.segment or "")):
            bound = {"max": "≤ ", "min": "≥ "}.get(f.bound or "", "")
            ref = fmt_value(f.rule, f.reference) if f.reference is not None else "–"
            lines.append(f"| {f.status.upper()} | {f.severity} | {_cell(f.rule)} | {_cell(f.segment or 'all')} | "
                         f"{_cell(fmt_value(f.rule, f.observed))} | {bound}{_cell(fmt_value(f.rule, f.threshold))} | "
                         f"{_cell(ref)} |")
    a = summary.alert
    lines += ["", "## Alert", "",
              f"Slack: **{a.status}**, {a.messages} message(s)" + (f" · {_cell(a.detail)}" if a.detail else "")]
    if links:
        lines += ["", "## Reports", ""]
        lines += [f"- [{name}]({url})" for name, url in links.items()]
    return "\n".join(lines) + "\n"


def reports_url(links: dict[str, str]) -> str:
    """The run's overview page, next to its other pages (http(s) when `reports.base_url` is set, else file://)."""
    from llmvigil.reports import RUN_PAGE

    first = next(iter(links.values()))
    return first.rsplit("/", 1)[0] + "/" + RUN_PAGE


def publish(summary: RunSummary, links: dict[str, str]) -> None:
    """Put the run summary (markdown) and a link to its reports on the Prefect server."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    firing = len(summary.firing)
    create_markdown_artifact(
        markdown=summary_markdown(summary, links),
        key=artifact_key(summary.profile, "summary"),
        description=f"{summary.profile}: {firing} finding(s) firing, Slack {summary.alert.status}",
    )
    create_link_artifact(
        link=reports_url(links),
        link_text=f"reports of {summary.profile} run {summary.run_id}",
        key=artifact_key(summary.profile, "reports"),
        description="Drift report, output checks and summary.json of this run",
    )


# ---- backfill -----------------------------------------------------------------------------------
def _utc_naive(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(timezone.utc).replace(tzinfo=None)


def backfill_ends(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """Run times of a backfill: `start + every`, `start + 2*every`, ... up to and including `end`.

    Each run judges the window of the profile's length that ends at its time, so with `every` equal
    to that length the windows tile [start, end] without gaps or overlaps.
    """
    start, end = _utc_naive(start), _utc_naive(end)
    if every <= timedelta(0):
        raise ValueError(f"the backfill step must be positive, got {every}")
    if end <= start:
        raise ValueError(f"the backfill end ({end}) must be after its start ({start})")
    count = int((end - start) / every)
    if count > MAX_BACKFILL_WINDOWS:
        raise ValueError(f"{count} windows from {start} to {end} every {every}: more than "
                         f"{MAX_BACKFILL_WINDOWS}; use a longer step or a shorter range")
    return [start + every * k for k in range(1, count + 1)]
