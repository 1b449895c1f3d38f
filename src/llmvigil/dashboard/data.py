"""What the report pages show, read from the profile's DuckDB store (read-only SQL, all of it here).

- `load_history`: every run of a profile from the `runs` table (one row per run, its summary as JSON),
  so the trends cover every run even after old per-run pages were pruned; a compact cache file
  saves re-reading a year of summaries on every run.
- `run_extras`: segment tables (model, prompt version, language, plus the profile's own segments) for
  the current window against the reference, and a few example interactions of what went wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from llmvigil import kpis, pii
from llmvigil.dashboard.html import write_text_atomic
from llmvigil.profile import Profile

# Segment tables every run page shows, in this order: (column, heading).
SEGMENT_TABLES: list[tuple[str, str]] = [
    ("model", "By model"), ("prompt_version", "By prompt version"), ("prompt_lang", "By language (of the prompt)"),
]
MAX_SEGMENT_ROWS = 25
EXAMPLES_PER_KIND = 3
EXAMPLE_CHARS = 500


@dataclass
class RunRecord:
    """One run as the trends need it: a compact slice of its summary (whole-window findings and the
    firing ones only, checks without their results)."""

    run_id: str
    at: datetime
    kpis: dict[str, Any]
    drift_share: float | None
    checks: dict[str, Any]
    findings: list[dict[str, Any]]
    window: list[str | None]
    ingest: dict[str, Any]
    _whole: dict[str, dict[str, Any]] = field(init=False, repr=False, compare=False)
    _fired: dict[str, list[str | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._whole, self._fired = {}, {}
        for f in self.findings:
            rule = str(f.get("rule"))
            if f.get("segment") is None:
                self._whole.setdefault(rule, f)
            if f.get("status") == "firing":
                self._fired.setdefault(rule, []).append(f.get("segment"))

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("status") == "firing"]

    @property
    def firing_rules(self) -> list[str]:
        return sorted(self._fired)

    @property
    def checks_passed(self) -> int | None:
        if self.checks.get("success") is None:
            return None
        return int(self.checks.get("evaluated") or 0) - len(self.checks.get("failed") or [])

    def metric(self, name: str) -> float | None:
        if name == "drift_share":
            return self.drift_share
        if name == "checks_passed":
            return self.checks_passed
        if name == "checks_failed":
            return None if self.checks.get("success") is None else len(self.checks.get("failed") or [])
        v = self.kpis.get(name)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def whole(self, rule: str) -> dict[str, Any]:
        """The whole window's finding of `rule` ({} if the run had none)."""
        return self._whole.get(rule, {})

    def threshold(self, rule: str) -> tuple[float | None, str | None]:
        f = self._whole.get(rule, {})
        return f.get("threshold"), f.get("bound")

    def firing_segments(self, rule: str) -> list[str | None]:
        return self._fired.get(rule, [])

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "at": self.at.isoformat(), "kpis": self.kpis, "drift_share": self.drift_share,
                "checks": self.checks, "findings": self.findings, "window": self.window, "ingest": self.ingest}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunRecord":
        return cls(run_id=str(d["run_id"]), at=datetime.fromisoformat(d["at"]), kpis=dict(d.get("kpis") or {}),
                   drift_share=d.get("drift_share"), checks=dict(d.get("checks") or {}),
                   findings=[f for f in d.get("findings") or [] if isinstance(f, dict)],
                   window=list(d.get("window") or [None, None]), ingest=dict(d.get("ingest") or {}))


def _json(v: str | None, default: Any) -> Any:
    if v is None:
        return default
    try:
        out = json.loads(v)
    except (TypeError, json.JSONDecodeError):
        return default
    return default if out is None else out


def _from_runs_table(con: duckdb.DuckDBPyConnection, profile: str, run_ids: list[str]) -> dict[str, RunRecord]:
    """RunRecords of the given runs, sliced out of their summaries in SQL (the slow path: every
    summary's JSON is parsed; a year of hourly runs takes seconds)."""
    rows = con.execute(
        """
        SELECT run_id, run_at, (summary -> '$.kpis.current')::VARCHAR, (summary ->> '$.drift.share_drifted')::DOUBLE,
          json_object('success', summary -> '$.checks.success', 'evaluated', summary -> '$.checks.evaluated',
                      'failed', summary -> '$.checks.failed', 'skipped', summary -> '$.checks.skipped')::VARCHAR,
          to_json(list_filter(CAST(summary -> '$.findings' AS JSON[]),
                  lambda f: (f ->> 'segment') IS NULL OR (f ->> 'status') = 'firing'))::VARCHAR,
          (summary -> '$.window.current')::VARCHAR, json_object('error', summary -> '$.ingest.error')::VARCHAR
        FROM runs WHERE profile = ? AND run_id IN (SELECT unnest(?::VARCHAR[]))
        """,
        [profile, run_ids],
    ).fetchall()
    return {run_id: RunRecord(run_id=run_id, at=at, kpis=_json(k, {}), drift_share=drift_share,
                              checks=_json(checks, {}), findings=[f for f in _json(findings, []) if isinstance(f, dict)],
                              window=_json(window, [None, None]), ingest=_json(ingest, {}))
            for run_id, at, k, drift_share, checks, findings, window, ingest in rows}


def _read_cache(path: Path | None) -> dict[str, RunRecord]:
    out: dict[str, RunRecord] = {}
    if path is None or not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                rec = RunRecord.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn or foreign line: that run is read from the runs table again
            out[rec.run_id] = rec
    return out


def load_history(con: duckdb.DuckDBPyConnection, profile: str, cache: Path | None = None) -> list[RunRecord]:
    """Every run of `profile` in the `runs` table, oldest first.

    The runs table is the truth; `cache` (reports/<profile>/trends.jsonl, one compact line per run)
    only saves re-reading every summary: runs missing from it are read from the table and added, runs
    no longer in the table are dropped from it."""
    order = con.execute("SELECT run_id FROM runs WHERE profile = ? ORDER BY run_at, run_id", [profile]).fetchall()
    ids = [r[0] for r in order]
    cached = _read_cache(cache)
    missing = [i for i in ids if i not in cached]
    if missing:
        cached.update(_from_runs_table(con, profile, missing))
    records = [cached[i] for i in ids if i in cached]
    if cache is not None and (missing or len(cached) != len(records)):
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False, default=str) + "\n" for r in records)
        write_text_atomic(cache, lines)
    return records


# ---- segments and examples of one run ------------------------------------------------------------
@dataclass
class Example:
    kind: str
    ts: datetime
    model: str | None
    prompt: str | None
    response: str | None
    status: str | None
    error_type: str | None
    finish_reason: str | None
    prompt_lang: str | None
    response_lang: str | None


@dataclass
class SegmentTable:
    column: str
    heading: str
    # value -> {"current": {kpi: value}, "reference": {kpi: value}}, largest current volume first
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hidden: int = 0  # values beyond MAX_SEGMENT_ROWS


@dataclass
class RunExtras:
    segments: list[SegmentTable] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


def _split_segments(segments: dict[str, Any]) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """{'model=x': {...}} -> {'model': {'x': {...}}} (the column never contains '=', a value may)."""
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for key, windows in segments.items():
        col, _, value = str(key).partition("=")
        out.setdefault(col, {})[value] = windows if isinstance(windows, dict) else {}
    return out


def segment_tables(con: duckdb.DuckDBPyConnection, profile: Profile, summary_kpis: dict[str, Any], *,
                   current: tuple[datetime, datetime], reference: tuple[datetime, datetime]) -> list[SegmentTable]:
    """Model, prompt version and language tables (plus the profile's other segments). Columns the
    profile does not segment by are aggregated here with the same KPI SQL, read-only."""
    wanted = list(SEGMENT_TABLES) + [(s, f"By {s.replace('_', ' ')}") for s in profile.segments
                                     if s not in {c for c, _ in SEGMENT_TABLES}]
    have = _split_segments(summary_kpis.get("segments") or {})
    missing = [c for c, _ in wanted if c not in profile.segments]
    if missing:
        rows = kpis.compute(con, current=current, reference=reference, segments=missing)
        have.update(_split_segments(kpis.as_json(rows)["segments"]))
    tables = []
    for col, heading in wanted:
        values = have.get(col, {})
        if not values or set(values) == {"(none)"}:
            tables.append(SegmentTable(col, heading))  # not logged
            continue
        ranked = sorted(values.items(), key=lambda kv: (-(kv[1].get("current", {}).get("volume") or 0),
                                                        -(kv[1].get("reference", {}).get("volume") or 0), kv[0]))
        tables.append(SegmentTable(col, heading, dict(ranked[:MAX_SEGMENT_ROWS]),
                                   hidden=max(0, len(ranked) - MAX_SEGMENT_ROWS)))
    return tables


def examples(con: duckdb.DuckDBPyConnection, *, current: tuple[datetime, datetime],
             per_kind: int = EXAMPLES_PER_KIND) -> list[Example]:
    """A few interactions of the current window per kind of problem (error, refusal, PII, language
    mismatch), picked by a hash of their id (stable across re-renders), PII masked, text shortened."""
    rows = con.execute(
        f"""
        WITH c AS (
          SELECT id, ts, model, prompt, response, status, error_type, finish_reason, prompt_lang, response_lang,
            CASE WHEN is_error THEN 'error' WHEN refusal THEN 'refusal' WHEN pii_count > 0 THEN 'PII in answer'
                 WHEN lang_mismatch THEN 'language mismatch' END AS kind
          FROM interactions WHERE ts >= ? AND ts < ?
        )
        SELECT kind, ts, left(model, 200), left(prompt, {EXAMPLE_CHARS + 200}), left(response, {EXAMPLE_CHARS + 200}),
               status, left(error_type, 200), left(finish_reason, 50), prompt_lang, response_lang
        FROM c WHERE kind IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY kind ORDER BY hash(id), id) <= ?
        ORDER BY CASE kind WHEN 'error' THEN 0 WHEN 'refusal' THEN 1 WHEN 'PII in answer' THEN 2 ELSE 3 END, ts
        """,
        [*current, per_kind],
    ).fetchall()

    def clip(text: str | None) -> str | None:
        if text is None:
            return None
        text = pii.mask(text)  # before shortening, so that no PII value is cut in half and missed
        return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"

    return [Example(kind=r[0], ts=r[1], model=r[2], prompt=clip(r[3]), response=clip(r[4]), status=r[5],
                    error_type=r[6], finish_reason=r[7], prompt_lang=r[8], response_lang=r[9]) for r in rows]


def run_extras(con: duckdb.DuckDBPyConnection, profile: Profile, summary_kpis: dict[str, Any], *,
               current: tuple[datetime, datetime], reference: tuple[datetime, datetime]) -> RunExtras:
    return RunExtras(
        segments=segment_tables(con, profile, summary_kpis, current=current, reference=reference),
        examples=examples(con, current=current),
    )
