"""The plain parts of llmvigil.orchestration (no Prefect server): backfill windows, artifact keys and the
markdown summary a run puts on the server."""

from datetime import datetime, timedelta, timezone

import pytest

from llmvigil.orchestration import artifact_key, backfill_ends, profile_limit_name, reports_url, summary_markdown
from llmvigil.results import (
    AlertResult, ChecksSummary, DriftSummary, Finding, IngestResult, RunSummary, RunWindows,
)


def test_backfill_windows_tile_the_range_and_end_at_its_end():
    ends = backfill_ends(datetime(2026, 11, 24), datetime(2026, 12, 1), timedelta(days=1))
    assert ends == [datetime(2026, 11, 25) + timedelta(days=k) for k in range(7)]
    # Aware times (as Prefect passes parameters) are UTC; a range that is no multiple of the step
    # stops at the last whole window.
    ends = backfill_ends(datetime(2026, 11, 30, 1, tzinfo=timezone(timedelta(hours=1))),
                         datetime(2026, 11, 30, 10, 30, tzinfo=timezone.utc), timedelta(hours=4))
    assert ends == [datetime(2026, 11, 30, 4), datetime(2026, 11, 30, 8)]


@pytest.mark.parametrize("start, end, step, message", [
    (datetime(2026, 12, 1), datetime(2026, 11, 1), timedelta(days=1), "must be after its start"),
    (datetime(2026, 11, 1), datetime(2026, 12, 1), timedelta(0), "must be positive"),
    (datetime(2026, 1, 1), datetime(2026, 12, 1), timedelta(minutes=1), "more than 1000"),
])
def test_backfill_rejects_ranges_it_cannot_run(start, end, step, message):
    with pytest.raises(ValueError, match=message):
        backfill_ends(start, end, step)


def test_keys_and_limit_names_are_what_prefect_accepts():
    assert artifact_key("support_bot", "summary") == "llmvigil-support-bot-summary"
    assert artifact_key("demo-eu") == "llmvigil-demo-eu"
    assert profile_limit_name("demo") == "llmvigil-profile-demo"


def _summary() -> RunSummary:
    windows = RunWindows(datetime(2026, 11, 30), datetime(2026, 12, 1), datetime(2026, 11, 23), datetime(2026, 11, 30))
    findings = [
        Finding("refusal_rate", None, "firing", 0.1472, 0.05, "max", 0.1223, "critical", 617),
        Finding("p95_latency_ms", "model=gpt|4o", "firing", 4628.0, 4000.0, "max", 2767.0, "warning", 300),
        Finding("error_rate", "model=llama", "no_data", 0.013, 0.05, "max", None, "critical", 80),
        Finding("volume", None, "ok", 617, 500, "min", 600, "warning", 617),
    ]
    return RunSummary(
        profile="demo", run_id="20261201T000000Z-abc123", at=windows.current_end, windows=windows,
        ingest=IngestResult(new_rows=4601, rejected=3, total_rows=4601),
        kpis={"current": {"volume": 617, "refusal_rate": 0.1472, "p95_latency_ms": 4628.0}},
        drift=DriftSummary(share_drifted=0.5), checks=ChecksSummary(success=True, evaluated=8),
        findings=findings, alert=AlertResult(status="sent", messages=1),
    )


def test_the_markdown_summary_shows_kpis_findings_delivery_and_links():
    links = {"drift": "file:///r/demo/run/drift.html", "checks": "file:///r/demo/run/checks.html"}
    md = summary_markdown(_summary(), links)
    assert "Run `20261201T000000Z-abc123` · window 2026-11-30T00:00:00Z → 2026-12-01T00:00:00Z" in md
    assert "**2 finding(s) firing**" in md
    assert "Ingest: 4601 new rows, 3 rejected, 4601 stored" in md
    assert "| refusal_rate | 14.7% |" in md and "| volume | 617 |" in md
    lines = md.splitlines()
    # Firing first, critical before warning; OK findings are left out; a '|' in a segment is escaped.
    rows = [line for line in lines if line.startswith(("| FIRING", "| NO_DATA", "| OK"))]
    assert rows == [
        "| FIRING | critical | refusal_rate | all | 14.7% | ≤ 5.0% | 12.2% |",
        "| FIRING | warning | p95_latency_ms | model=gpt\\|4o | 4,628 ms | ≤ 4,000 ms | 2,767 ms |",
        "| NO_DATA | critical | error_rate | model=llama | 1.3% | ≤ 5.0% | – |",
    ]
    assert "Slack: **sent**, 1 message(s)" in md
    assert "- [drift](file:///r/demo/run/drift.html)" in md
    assert reports_url(links) == "file:///r/demo/run/index.html"


def test_a_quiet_run_says_so():
    s = _summary()
    s.findings = [f for f in s.findings if f.status == "ok"]
    md = summary_markdown(s)
    assert "**All thresholds OK**" in md and "No finding firing, silenced or short of data." in md
    assert "## Reports" not in md
