"""KPIs of a window, overall and per segment, computed in DuckDB SQL.

Retries are linked here (they need the rows around them): an explicit retry (`retry_of` or
`attempt > 1`) repeats the row it names; an inferred retry is a row whose session's previous row had
the same or a near-same prompt (profile `retries.similarity`) less than `retries.gap` before it. The
reason of a retry is what happened to the attempt it repeats: an error, a refusal, or an answer the
user rated negatively. A retry storm is measured as the most retries in one `retries.storm_bucket`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
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
        # `correct` = lower(trim(response)) = lower(trim(coalesce(expected, label))), computed per row
        # in the window's base rows (and only when the window has labels at all)
        "avg(correct::INT) FILTER (WHERE has_expected)",
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


# Columns of `interactions` the KPI SQL reads (besides the segment columns). Keeping the rows this
# narrow matters: the retry linking sorts every row of the window by session.
_BASE_COLUMNS = (
    "id", "ts", "session_id", "prompt_key", "is_error", "refusal", "refusal_label", "feedback_score", "retry_of",
    "attempt", "status", "provider_refused", "empty_response", "latency_ms", "prompt_tokens", "completion_tokens",
    "cost_usd", "lang_mismatch", "prompt_lang", "response_lang", "pii_count", "response_is_json",
)
# How far before a window an explicit retry's original attempt is looked up (by id).
_ORIGINAL_LOOKBACK = timedelta(hours=1)
# Bump when the KPI SQL changes: cached results of older SQL are then ignored.
_SQL_VERSION = 2
_CACHE_KEEP = 500  # cached window results kept per store (the oldest are dropped)


def _window_sql(segment_cols: list[str], *, labelled: bool) -> str:
    """KPIs of ONE window [$start, $end), overall and per segment; rows linked to the attempt they repeat.

    A window is computed on its own rows plus `gap` before it (for the retry linking), so that its
    figures depend only on the data in that range and can be cached (see `compute`).
    """
    extra = [c for c in segment_cols if c not in _BASE_COLUMNS]
    correct = ("CASE WHEN coalesce(expected, label) IS NOT NULL THEN "
               "lower(trim(response)) = lower(trim(coalesce(expected, label))) END AS correct, "
               "coalesce(expected, label) IS NOT NULL AS has_expected") if labelled else \
        "NULL::BOOLEAN AS correct, false AS has_expected"
    cols = ", ".join([*_BASE_COLUMNS, *extra])
    aggs = ",\n      ".join(f"{sql} AS {name}" for name, (sql, _) in KPI_SQL.items() if name != "retry_storm_peak")
    sets = ", ".join(["()"] + [f"({s})" for s in segment_cols])
    label = _segment_label(segment_cols)
    storm_sets = ", ".join(["(bucket)"] + [f"({s}, bucket)" for s in segment_cols])
    return f"""
    WITH base AS (
      SELECT {cols}, lower(left(prompt, 300)) AS p300, {correct}
      FROM interactions WHERE ts >= $lookback AND ts < $end
    ),
    linked AS (
      SELECT b.*,
        lag(prompt_key) OVER s AS prev_key, lag(p300) OVER s AS prev_p300, lag(ts) OVER s AS prev_ts,
        lag(is_error) OVER s AS prev_error, lag(refusal) OVER s AS prev_refusal,
        lag(feedback_score) OVER s AS prev_feedback,
        (lead(ts) OVER s IS NULL) AS session_last
      FROM base b
      WINDOW s AS (PARTITION BY session_id ORDER BY ts, id)
    ),
    originals AS (
      SELECT id, is_error, refusal, feedback_score FROM interactions
      WHERE ts >= $orig_lookback AND ts < $end
        AND id IN (SELECT retry_of FROM base WHERE retry_of IS NOT NULL)
    ),
    flagged AS (
      SELECT l.*,
        (l.retry_of IS NOT NULL OR coalesce(l.attempt, 1) > 1) AS explicit_retry,
        coalesce(l.session_id IS NOT NULL AND l.ts - l.prev_ts <= $gap
          AND (l.prev_key = l.prompt_key OR jaro_winkler_similarity(l.p300, l.prev_p300) >= $sim),
          false) AS inferred_retry
      FROM linked l
      WHERE l.ts >= $start
    ),
    r AS MATERIALIZED (
      SELECT f.* EXCLUDE (p300, prev_p300),
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
      LEFT JOIN originals p ON f.retry_of IS NOT NULL AND p.id = f.retry_of
    ),
    storms AS (
      SELECT segment, max(n) AS retry_storm_peak FROM (
        SELECT {label} AS segment, count(*) FILTER (WHERE is_retry) AS n
        FROM r GROUP BY GROUPING SETS ({storm_sets})
      ) GROUP BY segment
    ),
    agg AS (
      SELECT {label} AS segment,
      {aggs}
      FROM r GROUP BY GROUPING SETS ({sets})
      HAVING count(*) > 0
    )
    SELECT agg.*, storms.retry_storm_peak
    FROM agg LEFT JOIN storms ON agg.segment IS NOT DISTINCT FROM storms.segment
    ORDER BY agg.segment NULLS FIRST
    """


def _segment_label(segment_cols: list[str]) -> str:
    if not segment_cols:
        return "NULL::VARCHAR"
    return "CASE " + " ".join(
        f"WHEN grouping({s}) = 0 THEN '{s}=' || coalesce({s}::VARCHAR, '(none)')" for s in segment_cols
    ) + " END"


def _ensure_cache(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("""CREATE TABLE IF NOT EXISTS kpi_cache (
          key VARCHAR PRIMARY KEY, fingerprint VARCHAR, result JSON, created_at TIMESTAMP)""")
        return True
    except duckdb.Error:  # a read-only connection: compute without the cache
        return False


def _window(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], segs: list[str],
            retries: Retries, *, cache: bool) -> list[tuple[str | None, dict[str, Any]]]:
    start, end = window
    lookback = start - retries.gap
    orig_lookback = start - max(retries.gap, _ORIGINAL_LOOKBACK)
    # What the window's figures depend on: its rows and those just before it. The store only appends,
    # so (count, last ingest) of that range changes whenever its figures could.
    n, last_ingest, labelled = con.execute(
        "SELECT count(*), max(ingested_at)::VARCHAR, "
        "count(*) FILTER (WHERE ts >= ? AND (expected IS NOT NULL OR label IS NOT NULL)) "
        "FROM interactions WHERE ts >= ? AND ts < ?", [start, orig_lookback, end]).fetchall()[0]
    if n == 0:
        return []
    key = json.dumps([_SQL_VERSION, start.isoformat(), end.isoformat(), segs, str(retries.gap),
                      retries.similarity, str(retries.storm_bucket)])
    fingerprint = f"{n}|{last_ingest}"
    use_cache = cache and _ensure_cache(con)
    if use_cache:
        hit = con.execute("SELECT result FROM kpi_cache WHERE key = ? AND fingerprint = ?",
                          [key, fingerprint]).fetchall()
        if hit:
            return [(seg, values) for seg, values in json.loads(hit[0][0])]
    params = {"lookback": lookback, "orig_lookback": orig_lookback, "start": start, "end": end,
              "gap": retries.gap, "sim": retries.similarity, "bucket": retries.storm_bucket}
    cur = con.execute(_window_sql(segs, labelled=bool(labelled)), params)
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        rec = dict(zip(names, row))
        out.append((rec["segment"], {k: _num(rec[k]) for k in KPI_SQL}))
    if use_cache:
        try:
            con.execute("INSERT OR REPLACE INTO kpi_cache VALUES (?, ?, ?, now()::TIMESTAMP)",
                        [key, fingerprint, json.dumps(out)])
            con.execute("DELETE FROM kpi_cache WHERE key NOT IN "
                        "(SELECT key FROM kpi_cache ORDER BY created_at DESC LIMIT ?)", [_CACHE_KEEP])
        except duckdb.Error:  # pragma: no cover - e.g. a concurrent reader; the figures stand
            pass
    return out


def compute(
    con: duckdb.DuckDBPyConnection,
    *,
    current: tuple[datetime, datetime],
    reference: tuple[datetime, datetime],
    segments: list[str],
    retries: Retries | None = None,
    cache: bool = True,
) -> list[SegmentKpis]:
    """KPIs for the current and reference windows, overall and per value of each segment column.

    Each window is computed on its own, and its result is cached in the store (`kpi_cache`), keyed by
    the window, the segments and the retry settings, and checked against (row count, last ingest) of
    the window: the reference window of an hourly run (7 days, the same all day, see
    `pipeline.windows_for`) is computed once and not again until its rows change, so a run's cost
    follows its new data, not the history.
    """
    retries = retries or Retries()
    segs = [ident(s) for s in segments if s in SEGMENT_COLUMNS]
    out = []
    for name, window in (("current", current), ("reference", reference)):
        if name == "reference" and cache:
            # the reference is computed (and cached) once for every segment column: the reports ask
            # for other segments than the profile's, and each pass over a 7-day window costs a sort of
            # millions of rows
            rows = [(seg, values) for seg, values in _window(con, window, list(SEGMENT_COLUMNS), retries, cache=True)
                    if seg is None or seg.split("=", 1)[0] in segs]
        else:
            rows = _window(con, window, segs, retries, cache=cache)
        out.extend(SegmentKpis(window=name, segment=seg, values=values) for seg, values in rows)
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
