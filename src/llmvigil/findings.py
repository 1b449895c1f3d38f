"""Findings: the profile's thresholds evaluated against KPIs, drift and checks.

Each threshold gives one finding for the whole window and one per segment value. A window with fewer
than `alerts.min_samples` rows is NO_DATA, never OK (except for the `volume` rule itself, whose whole
point is to notice too little traffic).
"""

from __future__ import annotations

from llmvigil.kpis import KPI_SQL, SegmentKpis
from llmvigil.profile import Profile, Threshold
from llmvigil.results import SEVERITY_ORDER, ChecksSummary, DriftSummary, Finding


def _judge(observed: float | None, t: Threshold) -> tuple[str, float | None, str | None]:
    """(status, threshold, bound) for one value; status is 'firing', 'ok' or 'no_data'."""
    if observed is None:
        return "no_data", t.max if t.max is not None else t.min, "max" if t.max is not None else "min"
    if t.max is not None and observed > t.max:
        return "firing", t.max, "max"
    if t.min is not None and observed < t.min:
        return "firing", t.min, "min"
    return "ok", t.max if t.max is not None else t.min, "max" if t.max is not None else "min"


def evaluate(profile: Profile, kpi_rows: list[SegmentKpis], drift: DriftSummary,
             checks: ChecksSummary) -> list[Finding]:
    min_samples = profile.alerts.min_samples
    current = {r.segment: r.values for r in kpi_rows if r.window == "current"}
    reference = {r.segment: r.values for r in kpi_rows if r.window == "reference"}
    out: list[Finding] = []
    for rule, t in profile.thresholds.items():
        if rule in KPI_SQL:
            segments = [None] + (sorted(s for s in current if s is not None) if t.per_segment else [])
            if None not in current:
                current[None] = {k: (0 if k == "volume" else None) for k in KPI_SQL}
            for seg in segments:
                values = current[seg]
                samples = int(values.get("volume") or 0)
                observed = values.get(rule)
                status, threshold, bound = _judge(observed, t)
                if rule != "volume" and samples < min_samples:
                    status = "no_data"
                out.append(Finding(rule=rule, segment=seg, status=status, observed=observed,
                                   threshold=threshold, bound=bound,
                                   reference=reference.get(seg, {}).get(rule), severity=t.severity,
                                   samples=samples))
        elif rule == "drift_share":
            status, threshold, bound = _judge(drift.share_drifted, t)
            out.append(Finding(rule=rule, segment=None, status=status, observed=drift.share_drifted,
                               threshold=threshold, bound=bound, reference=None, severity=t.severity,
                               samples=drift.rows.get("current", 0)))
        elif rule == "checks_failed":
            observed = None if checks.success is None else float(len(checks.failed))
            status, threshold, bound = _judge(observed, t)
            out.append(Finding(rule=rule, segment=None, status=status, observed=observed,
                               threshold=threshold, bound=bound, reference=None, severity=t.severity,
                               samples=checks.evaluated))
    out.sort(key=lambda f: (f.status != "firing", SEVERITY_ORDER[f.severity], f.rule, f.segment or ""))
    return out
