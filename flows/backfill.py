"""Prefect flow: the monitor over a range of past windows of one profile (e.g. a new profile's history).

Entry point of the `llm-backfill/backfill` deployment in prefect.yaml. Each window is one `llm-monitor`
subflow run, so it has its own reports and artifacts; the monitor holds the profile's slot per window.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from llmvigil.orchestration import backfill_ends
from llmvigil.profile import load_profile, parse_duration

from flows.monitor import monitor


@flow(name="llm-backfill", log_prints=True)
def backfill(profile: str, start: datetime, end: datetime, every: str | None = None) -> list[dict]:
    """Run `llm-monitor` for every window ending in (start, end], `every` apart (default: the profile's
    current window, so the windows tile the range). Returns the run summaries."""
    p = load_profile(profile)
    step = parse_duration(every) if every else p.windows.current
    return [monitor(profile=profile, at=at) for at in backfill_ends(start, end, step)]
