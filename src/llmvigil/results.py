"""Typed results of each step of a monitoring cycle, and the run summary they add up to.

The run summary (`llmvigil run --json`, `summary.json`) is read by scripts and by monitoring of the
monitor: its shape changes only with care.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

FindingStatus = Literal["firing", "ok", "no_data", "silenced"]
Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunWindows:
    current_start: datetime
    current_end: datetime
    reference_start: datetime
    reference_end: datetime

    def to_json(self) -> dict[str, list[str | None]]:
        return {
            "current": [iso(self.current_start), iso(self.current_end)],
            "reference": [iso(self.reference_start), iso(self.reference_end)],
        }


@dataclass
class IngestResult:
    new_rows: int = 0
    rejected: int = 0
    total_rows: int = 0
    files_read: int = 0
    error: str | None = None  # the source could not be read; the run judged what was stored
    rejected_examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DriftColumn:
    method: str
    score: float | None
    threshold: float | None
    drifted: bool


@dataclass
class DriftSummary:
    share_drifted: float | None
    columns: dict[str, DriftColumn] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # rows fed to Evidently per window
    skipped: str | None = None  # why drift was not computed, if it was not


@dataclass
class CheckResult:
    expectation: str
    column: str | None
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_examples: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChecksSummary:
    success: bool | None
    evaluated: int = 0
    failed: list[str] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Finding:
    rule: str
    segment: str | None  # e.g. "model=gpt-4o-mini"; None for the whole window
    status: FindingStatus
    observed: float | None
    threshold: float | None
    bound: Literal["max", "min"] | None
    reference: float | None
    severity: Severity
    samples: int = 0

    @property
    def fingerprint_key(self) -> str:
        return f"{self.rule}|{self.segment or '*'}"


@dataclass
class AlertResult:
    status: Literal["sent", "not_configured", "queued", "failed", "nothing_to_send"]
    messages: int = 0  # Slack messages delivered by this step (this run's and any left over)
    detail: str | None = None
    message_path: str | None = None
    created: int = 0  # messages this run called for (queued in the outbox, or written when not configured)
    pending: int = 0  # messages still waiting in the outbox after this step
    silenced: int = 0  # findings muted by a silence in this run


@dataclass
class RunSummary:
    profile: str
    run_id: str
    at: datetime
    windows: RunWindows
    ingest: IngestResult
    kpis: dict[str, Any]
    drift: DriftSummary
    checks: ChecksSummary
    findings: list[Finding]
    alert: AlertResult
    reports: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def firing(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "firing"]

    def to_json(self) -> dict[str, Any]:
        checks = asdict(self.checks)
        return {
            "profile": self.profile,
            "run_id": self.run_id,
            "at": iso(self.at),
            "window": self.windows.to_json(),
            "ingest": {k: v for k, v in asdict(self.ingest).items() if k != "rejected_examples"},
            "kpis": self.kpis,
            "drift": asdict(self.drift),
            "checks": {k: checks[k] for k in ("success", "evaluated", "failed", "skipped")},
            "findings": [asdict(f) for f in self.findings],
            "alert": asdict(self.alert),
            "reports": self.reports,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
