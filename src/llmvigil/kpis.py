"""KPIs of a window, overall and per segment, computed in DuckDB SQL.

Retries are linked here (they need the rows around them): an explicit retry (`retry_of` or
`attempt > 1`) repeats the row it names; an inferred retry is a row whose session's previous row had
the same or a near-same prompt (profile `retries.similarity`) less than `retries.gap` before it. The
reason of a retry is what happened to the attempt it repeats: an error, a refusal, or an answer the
user rated negatively. A retry storm is measured as the most retries in one `retries.storm_bucket`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from llmvigil.profile import Retries
from llmvigil.store import ident


# Columns a profile may segment by.
SEGMENT_COLUMNS = (
    "model", "model_version", "prompt_version", "prompt_template", "app", "prompt_lang", "response_lang",
    "status", "finish_reason",
)

# name -> (SQL aggregate over the retry-annotated rows `r`, description)
KPI_SQL: dict[str, tuple[str, str]] = {
    "volume": ("count(*)", "interactions in the window"),
    "error_rate": ("avg(is_error::INT)", "share of calls with status error or timeout"),
    "timeout_rate": ("avg((status = 'timeout')::INT)", "share of calls that timed out"),
    "refusal_rate": ("avg(refusal::INT) FILTER (WHERE NOT is_error)", "share of answers that refuse"),
    "partial_refusal_rate": (
        "avg((refusal_label = 'partial')::INT) FILTER (WHERE NOT is_error)",
        "share of answers that refuse in part",
    ),
    "provider_refusal_rate": ("avg(provider_refused::INT)", "share flagged as refusals by the provider"),
    "empty_response_rate": ("avg((empty_response AND NOT is_error)::INT)", "share of OK calls with an empty answer"),
    "retry_rate": ("avg(is_retry::INT)", "share of calls that repeat an earlier one"),
    "retry_after_refusal_rate": ("avg(coalesce(retry_reason = 'refusal', false)::INT)", "share of calls that retry a refusal"),
    "retry_after_error_rate": ("avg(coalesce(retry_reason = 'error', false)::INT)", "share of calls that retry an error"),
    "retry_after_rejected_answer_rate": (
        "avg(coalesce(retry_reason = 'rejected_answer', false)::INT)", "share of calls that retry an answer the user rated down",
    ),
    "retry_storm_peak": ("", "most retries in one storm bucket (profile retries.storm_bucket, default 5 min)"),
    "sessions_ending_in_refusal_rate": (
        "avg(refusal::INT) FILTER (WHERE session_last AND session_id IS NOT NULL AND NOT is_error)",
        "share of sessions whose last answer is a refusal",
    ),
    "p50_latency_ms": ("quantile_cont(latency_ms, 0.5)", "median latency (ms)"),
    "p95_latency_ms": ("quantile_cont(latency_ms, 0.95)", "95th percentile latency (ms)"),
    "mean_prompt_tokens": ("avg(prompt_tokens)", "mean prompt tokens"),
    "mean_completion_tokens": ("avg(completion_tokens)", "mean completion tokens"),
    "total_tokens": ("sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))", "tokens used"),
    "cost_usd": ("sum(cost_usd)", "cost (USD)"),
    "cost_per_1k_usd": ("1000 * avg(cost_usd)", "cost per 1,000 calls (USD)"),
    "feedback_mean": ("avg(feedback_score)", "mean user feedback score"),
    "accuracy": (
        "avg((lower(trim(response)) = lower(trim(coalesce(expected, label))))::INT) "
        "FILTER (WHERE coalesce(expected, label) IS NOT NULL)",
        "share of answers equal to the expected answer (where logged)",
    ),
    "lang_mismatch_rate": (
        "avg(lang_mismatch::INT) FILTER (WHERE prompt_lang IS NOT NULL AND response_lang IS NOT NULL)",
        "share of answers in another language than the question",
    ),
    "pii_rate": ("avg((pii_count > 0)::INT) FILTER (WHERE NOT is_error)", "share of answers containing PII"),
    "json_valid_rate": ("avg(response_is_json::INT) FILTER (WHERE NOT is_error)", "share of answers that are JSON"),
}

# Rules a profile may set thresholds on: every KPI plus results of the other steps.
RULES: dict[str, str] = {
    **{k: v[1] for k, v in KPI_SQL.items()},
    "drift_share": "share of drift columns that drifted",
    "checks_failed": "number of failed output expectations",
}

RATE_KPIS = {k for k in KPI_SQL if k.endswith("_rate") or k == "accuracy"}


@dataclass(frozen=True)
class SegmentKpis:
    window: str  # "current" | "reference"
    segment: str | None  # "model=gpt-4o-mini" or None for the whole window
    values: dict[str, float | int | None]


def _retry_rows_sql(segment_cols: list[str]) -> str:
    """Rows of both windows, each linked to the attempt it repeats (if it is a retry)."""
    storms = ",\n        ".join(
        f"count(*) FILTER (WHERE is_retry) OVER (PARTITION BY w, {c}, bucket) AS storm_{c}" for c in segment_cols
    )
    storms = (",\n        " + storms) if storms else ""
    return f"""
    WITH base AS (
      SELECT * FROM interactions WHERE ts >= $lookback AND ts < $end
    ),
    linked AS (
      SELECT b.*,
        lag(prompt_key) OVER s AS prev_key, lag(prompt) OVER s AS prev_prompt, lag(ts) OVER s AS prev_ts,
        lag(is_error) OVER s AS prev_error, lag(refusal) OVER s AS prev_refusal,
        lag(feedback_score) OVER s AS prev_feedback,
        (lead(ts) OVER s IS NULL) AS session_last
      FROM base b
      WINDOW s AS (PARTITION BY session_id ORDER BY ts, id)
    ),
    flagged AS (
      SELECT l.*,
        (l.retry_of IS NOT NULL OR coalesce(l.attempt, 1) > 1) AS explicit_retry,
        coalesce(l.session_id IS NOT NULL AND l.ts - l.prev_ts <= $gap
          AND (l.prev_key = l.prompt_key
               OR jaro_winkler_similarity(lower(left(l.prompt, 300)), lower(left(l.prev_prompt, 300))) >= $sim),
          false) AS inferred_retry
      FROM linked l
    ),
    r0 AS (
      SELECT f.*,
        CASE WHEN f.ts >= $cur_start THEN 'current' ELSE 'reference' END AS w,
        time_bucket($bucket, f.ts) AS bucket,
        (f.explicit_retry OR f.inferred_retry) AS is_retry,
        CASE
          WHEN NOT (f.explicit_retry OR f.inferred_retry) THEN NULL
          WHEN coalesce(p.is_error, f.prev_error) THEN 'error'
          WHEN coalesce(p.refusal, f.prev_refusal) THEN 'refusal'
          WHEN coalesce(p.feedback_score, f.prev_feedback) < 0 THEN 'rejected_answer'
          ELSE 'other'
        END AS retry_reason
      FROM flagged f
      LEFT JOIN base p ON f.retry_of IS NOT NULL AND p.id = f.retry_of
      WHERE (f.ts >= $ref_start AND f.ts < $ref_end) OR (f.ts >= $cur_start AND f.ts < $end)
    ),
    r AS (
      SELECT *,
        count(*) FILTER (WHERE is_retry) OVER (PARTITION BY w, bucket) AS storm_all{storms}
      FROM r0
    )
    """


def compute(
    con: duckdb.DuckDBPyConnection,
    *,
    current: tuple[datetime, datetime],
    reference: tuple[datetime, datetime],
    segments: list[str],
    retries: Retries | None = None,
) -> list[SegmentKpis]:
    """KPIs for the current and reference windows, overall and per value of each segment column."""
    retries = retries or Retries()
    segs = [ident(s) for s in segments if s in SEGMENT_COLUMNS]
    storm = "max(storm_all)" if not segs else (
        "CASE " + " ".join(f"WHEN grouping({s}) = 0 THEN max(storm_{s})" for s in segs) + " ELSE max(storm_all) END"
    )
    aggs = ",\n      ".join([f"{sql} AS {name}" for name, (sql, _) in KPI_SQL.items() if name != "retry_storm_peak"]
                            + [f"{storm} AS retry_storm_peak"])
    sets = ", ".join(["(w)"] + [f"(w, {s})" for s in segs])
    seg_label = "NULL" if not segs else (
        "CASE " + " ".join(
            f"WHEN grouping({s}) = 0 THEN '{s}=' || coalesce({s}::VARCHAR, '(none)')" for s in segs
        ) + " END"
    )
    seg_select = ", ".join(segs) + ", " if segs else ""
    sql = (
        _retry_rows_sql(segs)
        + f"SELECT w, {seg_label} AS segment, {seg_select}\n      {aggs}\n"
        + f"FROM r GROUP BY GROUPING SETS ({sets}) ORDER BY w, segment NULLS FIRST"
    )
    lookback = min(current[0], reference[0]) - retries.gap
    params = {
        "lookback": lookback,
        "end": max(current[1], reference[1]),
        "cur_start": current[0],
        "ref_start": reference[0],
        "ref_end": reference[1],
        "gap": retries.gap,
        "sim": retries.similarity,
        "bucket": retries.storm_bucket,
    }
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        rec = dict(zip(names, row))
        values = {k: _num(rec[k]) for k in KPI_SQL}
        out.append(SegmentKpis(window=rec["w"], segment=rec["segment"], values=values))
    return out


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, int):
        return v
    return round(float(v), 6)


def as_json(rows: list[SegmentKpis]) -> dict[str, Any]:
    """{'current': {...overall...}, 'reference': {...}, 'segments': {'model=x': {'current': {...}, 'reference': {...}}}}"""
    out: dict[str, Any] = {"current": {}, "reference": {}, "segments": {}}
    for r in rows:
        if r.segment is None:
            out[r.window] = r.values
        else:
            out["segments"].setdefault(r.segment, {})[r.window] = r.values
    return out
