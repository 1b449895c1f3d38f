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

@dataclass(frozen=True)
class Kpi:
    """One KPI: an aggregate over the retry-annotated rows `r` of a window.

    `agg` is one of count, avg, sum, quantile, storm. Every kind but `quantile` and `storm` splits into
    sums and counts that add up across the hourly parts of a long window (see `_parts_sql`).
    """

    agg: str
    desc: str
    expr: str = "1"
    where: str | None = None
    scale: float = 1.0
    q: float = 0.0

    def sql(self) -> str:
        """The exact aggregate over one window's rows."""
        f = f" FILTER (WHERE {self.where})" if self.where else ""
        if self.agg == "count":
            return "count(*)"
        if self.agg == "quantile":
            return f"quantile_cont({self.expr}, {self.q})"
        if self.agg == "avg":
            return ("" if self.scale == 1 else f"{self.scale:g} * ") + f"avg({self.expr}){f}"
        if self.agg == "sum":
            return f"sum({self.expr}){f}"
        return ""  # storm: a query of its own


KPIS: dict[str, Kpi] = {
    "volume": Kpi("count", "interactions in the window"),
    "error_rate": Kpi("avg", "share of calls with status error or timeout", "is_error::INT"),
    "timeout_rate": Kpi("avg", "share of calls that timed out", "(status = 'timeout')::INT"),
    "refusal_rate": Kpi("avg", "share of answers that refuse", "refusal::INT", "NOT is_error"),
    "partial_refusal_rate": Kpi("avg", "share of answers that refuse in part", "(refusal_label = 'partial')::INT",
                                "NOT is_error"),
    "provider_refusal_rate": Kpi("avg", "share flagged as refusals by the provider", "provider_refused::INT"),
    "empty_response_rate": Kpi("avg", "share of OK calls with an empty answer", "(empty_response AND NOT is_error)::INT"),
    "retry_rate": Kpi("avg", "share of calls that repeat an earlier one", "is_retry::INT"),
    "retry_after_refusal_rate": Kpi("avg", "share of calls that retry a refusal",
                                    "coalesce(retry_reason = 'refusal', false)::INT"),
    "retry_after_error_rate": Kpi("avg", "share of calls that retry an error", "coalesce(retry_reason = 'error', false)::INT"),
    "retry_after_rejected_answer_rate": Kpi("avg", "share of calls that retry an answer the user rated down",
                                            "coalesce(retry_reason = 'rejected_answer', false)::INT"),
    "retry_storm_peak": Kpi("storm", "most retries in one storm bucket (profile retries.storm_bucket, default 5 min)"),
    "sessions_ending_in_refusal_rate": Kpi(
        "avg", "share of sessions whose last answer is a refusal", "refusal::INT",
        "session_last AND session_id IS NOT NULL AND NOT is_error"),
    "p50_latency_ms": Kpi("quantile", "median latency (ms)", "latency_ms", q=0.5),
    "p95_latency_ms": Kpi("quantile", "95th percentile latency (ms)", "latency_ms", q=0.95),
    "mean_prompt_tokens": Kpi("avg", "mean prompt tokens", "prompt_tokens"),
    "mean_completion_tokens": Kpi("avg", "mean completion tokens", "completion_tokens"),
    "total_tokens": Kpi("sum", "tokens used", "coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)"),
    "cost_usd": Kpi("sum", "cost (USD)", "cost_usd"),
    "cost_per_1k_usd": Kpi("avg", "cost per 1,000 calls (USD)", "cost_usd", scale=1000),
    "feedback_mean": Kpi("avg", "mean user feedback score", "feedback_score"),
    # `correct` = lower(trim(response)) = lower(trim(coalesce(expected, label))), computed per row in the
    # window's base rows (and only when the window has labels at all)
    "accuracy": Kpi("avg", "share of answers equal to the expected answer (where logged)", "correct::INT", "has_expected"),
    "lang_mismatch_rate": Kpi("avg", "share of answers in another language than the question", "lang_mismatch::INT",
                              "prompt_lang IS NOT NULL AND response_lang IS NOT NULL"),
    "pii_rate": Kpi("avg", "share of answers containing PII", "(pii_count > 0)::INT", "NOT is_error"),
    "json_valid_rate": Kpi("avg", "share of answers that are JSON", "response_is_json::INT", "NOT is_error"),
}

# name -> (SQL aggregate over the retry-annotated rows `r` of one window, description)
KPI_SQL: dict[str, tuple[str, str]] = {name: (k.sql(), k.desc) for name, k in KPIS.items()}

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
_SQL_VERSION = 3
_CACHE_KEEP = 500  # cached window results kept per store (the oldest are dropped)

# A long reference window is assembled from hourly parts (see `_parts_window`).
PART = timedelta(hours=1)
# A session's last row in a part: no next row of the session before the part's end + SESSION_HORIZON
# (or before the window's end, if that comes first).
SESSION_HORIZON = timedelta(hours=1)
# Latency quantiles of an assembled window come from a log histogram: bucket = floor(ln(1 + ms) * 100),
# i.e. buckets 1% wide, each with its count, min and max; a rank inside a bucket is read as if the
# bucket's values were spread evenly between its min and max (exact when a bucket holds one value;
# never off by more than the bucket's width).
_HIST_SCALE = 100
# Adjacent parts are computed together, up to this many rows (their lookback included) and a week of
# parts per query: each query has a fixed cost (~0.15 s: the retry inference's joins), and each sorts
# its rows, so a bootstrap over a week of busy traffic (1M rows a day) works about a day at a time
# instead of spilling a week, while a quiet week goes in one query.
_PART_ROWS_PER_QUERY = 1_500_000
_PARTS_PER_QUERY = 7 * 24


def _base_ctes(segment_cols: list[str], *, labelled: bool) -> str:
    """CTEs down to `r`: the rows of [$start, $end) linked to the attempt they repeat.

    Reads the rows of [$lookback, $horizon): `gap` before the range for the retry linking, and up to
    $horizon after it to tell a session's last row (the session_last rule is in `$session_end`).
    """
    extra = [c for c in segment_cols if c not in _BASE_COLUMNS]
    correct = ("CASE WHEN coalesce(expected, label) IS NOT NULL THEN "
               "lower(trim(response)) = lower(trim(coalesce(expected, label))) END AS correct, "
               "coalesce(expected, label) IS NOT NULL AS has_expected") if labelled else \
        "NULL::BOOLEAN AS correct, false AS has_expected"
    cols = ", ".join([*_BASE_COLUMNS, *extra])
    return f"""
    WITH base AS (
      SELECT {cols}, lower(left(prompt, 300)) AS p300, {correct}
      FROM interactions WHERE ts >= $lookback AND ts < $horizon
    ),
    linked AS (
      SELECT b.*,
        lag(prompt_key) OVER s AS prev_key, lag(p300) OVER s AS prev_p300, lag(ts) OVER s AS prev_ts,
        lag(is_error) OVER s AS prev_error, lag(refusal) OVER s AS prev_refusal,
        lag(feedback_score) OVER s AS prev_feedback,
        lead(ts) OVER s AS next_ts
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
      WHERE l.ts >= $start AND l.ts < $end
    ),
    r AS MATERIALIZED (
      SELECT f.* EXCLUDE (p300, prev_p300),
        time_bucket($bucket, f.ts) AS bucket,
        (f.next_ts IS NULL OR f.next_ts >= $session_end) AS session_last,
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
    )"""


def _window_sql(segment_cols: list[str], *, labelled: bool) -> str:
    """KPIs of ONE window [$start, $end), overall and per segment; rows linked to the attempt they repeat.

    A window is computed on its own rows plus `gap` before it (for the retry linking), so that its
    figures depend only on the data in that range and can be cached (see `compute`).
    Parameters: $horizon = $session_end = $end (a session's last row is its last in the window).
    """
    aggs = ",\n      ".join(f"{k.sql()} AS {name}" for name, k in KPIS.items() if k.agg != "storm")
    sets = ", ".join(["()"] + [f"({s})" for s in segment_cols])
    label = _segment_label(segment_cols)
    storm_sets = ", ".join(["(bucket)"] + [f"({s}, bucket)" for s in segment_cols])
    return _base_ctes(segment_cols, labelled=labelled) + f""",
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


# The additive columns of a part: name -> SQL aggregate. avg and sum KPIs keep a sum and a count
# (`<kpi>__s`, `<kpi>__n`), count KPIs a count; the storm peak keeps its part's peak.
def _part_columns() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, k in KPIS.items():
        f = f" FILTER (WHERE {k.where})" if k.where else ""
        if k.agg == "count":
            out[f"{name}__n"] = "count(*)"
        elif k.agg in ("avg", "sum"):
            out[f"{name}__s"] = f"sum(({k.expr})::DOUBLE){f}"
            out[f"{name}__n"] = f"count({k.expr}){f}"
    return out


_PART_COLUMNS = _part_columns()
_LATENCY = "latency_ms"  # the column of the quantile KPIs


def _parts_sql(segment_cols: list[str], *, labelled: bool) -> tuple[str, str, str]:
    """(rows, values, histogram) SQL of the hourly parts of [$start, $end), overall and per segment.

    `rows` gives the linked rows (as `_window_sql`'s `r`, plus `part`, the hour), to be kept in the
    temp table `part_rows` that `values` and `histogram` read. Parameters as `_window_sql`, except
    that a session's last row is judged per row: no next row before its hour's end + $session_horizon,
    or before $window_end if that comes first; $horizon covers both.
    """
    label = _segment_label(segment_cols)
    sets = ", ".join(["(part)"] + [f"(part, {s})" for s in segment_cols])
    storm_sets = ", ".join(["(part, bucket)"] + [f"(part, {s}, bucket)" for s in segment_cols])
    hist_sets = ", ".join(["(part, b)"] + [f"(part, {s}, b)" for s in segment_cols])
    cols = ",\n      ".join(f"{sql} AS {name}" for name, sql in _PART_COLUMNS.items())
    rows = _base_ctes(segment_cols, labelled=labelled).replace(
        "(f.next_ts IS NULL OR f.next_ts >= $session_end)",
        "(f.next_ts IS NULL OR f.next_ts >= least(time_bucket($part, f.ts) + $part + $session_horizon, $window_end))",
    ).replace("time_bucket($bucket, f.ts) AS bucket,",
              "time_bucket($bucket, f.ts) AS bucket, time_bucket($part, f.ts) AS part,") + " SELECT * FROM r"
    values = f"""
    WITH storms AS (
      SELECT part, segment, max(n) AS storm FROM (
        SELECT part, {label} AS segment, count(*) FILTER (WHERE is_retry) AS n
        FROM part_rows GROUP BY GROUPING SETS ({storm_sets})
      ) GROUP BY part, segment
    ),
    agg AS (
      SELECT part, {label} AS segment,
      {cols}
      FROM part_rows GROUP BY GROUPING SETS ({sets})
    )
    SELECT agg.*, storms.storm
    FROM agg LEFT JOIN storms ON agg.part = storms.part AND agg.segment IS NOT DISTINCT FROM storms.segment
    """
    hist = f"""
    SELECT part, {label} AS segment, b, count(*) AS n, min({_LATENCY}) AS lo, max({_LATENCY}) AS hi
    FROM (SELECT *, floor(ln(1 + greatest({_LATENCY}, 0)) * {_HIST_SCALE})::INTEGER AS b
          FROM part_rows WHERE {_LATENCY} IS NOT NULL)
    GROUP BY GROUPING SETS ({hist_sets})
    """
    return rows, values, hist


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


def _params(window: tuple[datetime, datetime], retries: Retries) -> dict[str, Any]:
    start, end = window
    return {"lookback": start - retries.gap, "orig_lookback": start - max(retries.gap, _ORIGINAL_LOOKBACK),
            "start": start, "end": end, "horizon": end, "session_end": end,
            "gap": retries.gap, "sim": retries.similarity, "bucket": retries.storm_bucket}


def _labelled(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> bool:
    return bool(con.execute("SELECT count(*) FROM interactions WHERE ts >= ? AND ts < ? "
                            "AND (expected IS NOT NULL OR label IS NOT NULL)", [start, end]).fetchall()[0][0])


def _window(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], segs: list[str],
            retries: Retries, *, cache: bool, parts: bool = False) -> list[tuple[str | None, dict[str, Any]]]:
    start, end = window
    orig_lookback = start - max(retries.gap, _ORIGINAL_LOOKBACK)
    # What the window's figures depend on: its rows and those just before it. The store only appends,
    # so (count, last ingest) of that range changes whenever its figures could.
    n, last_ingest = con.execute(
        "SELECT count(*), max(ingested_at)::VARCHAR FROM interactions WHERE ts >= ? AND ts < ?",
        [orig_lookback, end]).fetchall()[0]
    if n == 0:
        return []
    key = json.dumps([_SQL_VERSION, start.isoformat(), end.isoformat(), segs, str(retries.gap),
                      retries.similarity, str(retries.storm_bucket), parts])
    fingerprint = f"{n}|{last_ingest}"
    use_cache = cache and _ensure_cache(con)
    if use_cache:
        hit = con.execute("SELECT result FROM kpi_cache WHERE key = ? AND fingerprint = ?",
                          [key, fingerprint]).fetchall()
        if hit:
            return [(seg, values) for seg, values in json.loads(hit[0][0])]
    if parts and use_cache and _parts_apply(window, retries):
        out = _parts_window(con, window, segs, retries)
    else:
        cur = con.execute(_window_sql(segs, labelled=_labelled(con, start, end)), _params(window, retries))
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            rec = dict(zip(names, row))
            out.append((rec["segment"], {k: _num(rec[k]) for k in KPIS}))
    if use_cache:
        try:
            con.execute("INSERT OR REPLACE INTO kpi_cache VALUES (?, ?, ?, now()::TIMESTAMP)",
                        [key, fingerprint, json.dumps(out)])
            con.execute("DELETE FROM kpi_cache WHERE key NOT IN "
                        "(SELECT key FROM kpi_cache ORDER BY created_at DESC LIMIT ?)", [_CACHE_KEEP])
        except duckdb.Error:  # pragma: no cover - e.g. a concurrent reader; the figures stand
            pass
    return out


# --------------------------------------------------------------------------------------------------
# Long windows from hourly parts
# --------------------------------------------------------------------------------------------------

def _parts_apply(window: tuple[datetime, datetime], retries: Retries) -> bool:
    """Parts add up to the window only if storm buckets do not straddle part boundaries."""
    bucket = retries.storm_bucket.total_seconds()
    return bucket > 0 and PART.total_seconds() % bucket == 0 and window[1] - window[0] >= 2 * PART


def _floor_part(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _parts_of(window: tuple[datetime, datetime]) -> list[tuple[datetime, datetime, datetime]]:
    """(part start, part end, session horizon) of each part of the window; the first and last may be
    shorter than an hour when the window does not start or end on the hour."""
    start, end = window
    out = []
    p = _floor_part(start)
    while p < end:
        lo, hi = max(p, start), min(p + PART, end)
        out.append((lo, hi, min(p + PART + SESSION_HORIZON, end)))
        p += PART
    return out


def _ensure_parts(con: duckdb.DuckDBPyConnection) -> None:
    value_cols = ", ".join(f"{c} DOUBLE" for c in _PART_COLUMNS)
    con.execute(f"""CREATE TABLE IF NOT EXISTS kpi_parts (
      key VARCHAR, part TIMESTAMP, part_end TIMESTAMP, horizon TIMESTAMP, segment VARCHAR,
      {value_cols}, storm BIGINT)""")
    con.execute("""CREATE TABLE IF NOT EXISTS kpi_part_hist (
      key VARCHAR, part TIMESTAMP, part_end TIMESTAMP, horizon TIMESTAMP, segment VARCHAR,
      b INTEGER, n BIGINT, lo DOUBLE, hi DOUBLE)""")
    con.execute("""CREATE TABLE IF NOT EXISTS kpi_part_meta (
      key VARCHAR, part TIMESTAMP, part_end TIMESTAMP, horizon TIMESTAMP, fingerprint VARCHAR)""")


def _parts_key(segs: list[str], retries: Retries) -> str:
    return json.dumps([_SQL_VERSION, segs, str(retries.gap), retries.similarity, str(retries.storm_bucket),
                       str(PART), str(SESSION_HORIZON), _HIST_SCALE])


def _part_fingerprints(con: duckdb.DuckDBPyConnection, parts: list[tuple[datetime, datetime, datetime]],
                       retries: Retries) -> dict[tuple[datetime, datetime, datetime], str]:
    """(count, last ingest) of the rows each part depends on: from its retry lookback to its horizon,
    read from one pass over the window's hours."""
    if not parts:
        return {}
    look = max(retries.gap, _ORIGINAL_LOOKBACK)
    lo, hi = parts[0][0] - look, max(h for _, _, h in parts)
    hours = {h: (n, last) for h, n, last in con.execute(
        "SELECT time_bucket(INTERVAL 1 HOUR, ts) AS h, count(*), max(ingested_at) FROM interactions "
        "WHERE ts >= ? AND ts < ? GROUP BY h", [_floor_part(lo), hi]).fetchall()}
    out = {}
    for p in parts:
        h, n, last = _floor_part(p[0] - look), 0, None
        while h < p[2]:
            hn, hl = hours.get(h, (0, None))
            n += hn
            last = hl if last is None or (hl is not None and hl > last) else last
            h += timedelta(hours=1)
        out[p] = f"{n}|{last}"
    return out


def prepare_parts(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], retries: Retries | None = None,
                  *, until: datetime | None = None) -> int:
    """Compute and keep the missing or stale parts of `window` (all segment columns) whose data is
    complete by `until` (their horizon is not after it). Returns the number of parts computed.

    Runs call this for the reference of a run a day later: each hourly run then adds the hour or two
    that have completed since the previous one, and the first run of a new day finds its reference
    nearly all computed.
    """
    retries = retries or Retries()
    if not _parts_apply(window, retries) or not _ensure_cache(con):
        return 0
    _ensure_parts(con)
    segs = [ident(s) for s in SEGMENT_COLUMNS]
    key = _parts_key(segs, retries)
    parts = [p for p in _parts_of(window) if until is None or p[2] <= until]
    want = _part_fingerprints(con, parts, retries)
    have = {(p, e, h): fp for p, e, h, fp in con.execute(
        "SELECT part, part_end, horizon, fingerprint FROM kpi_part_meta WHERE key = ? AND part >= ? AND part < ?",
        [key, window[0], window[1]]).fetchall()}
    todo = [p for p in parts if have.get(p) != want[p]]
    # contiguous runs of parts with the same shape go in one query each, within a budget of rows
    runs: list[list[tuple[datetime, datetime, datetime]]] = []
    rows_in_run = 0
    for p in todo:
        n = int(want[p].split("|", 1)[0])
        if (runs and len(runs[-1]) < _PARTS_PER_QUERY and rows_in_run + n <= _PART_ROWS_PER_QUERY
                and runs[-1][-1][1] == p[0] and runs[-1][-1][2] - runs[-1][-1][1] == p[2] - p[1]):
            runs[-1].append(p)
            rows_in_run += n
        else:
            runs.append([p])
            rows_in_run = n
    for run in runs:
        _compute_parts(con, key, segs, retries, run, window[1], want)
    return len(todo)


def _compute_parts(con, key: str, segs: list[str], retries: Retries, run: list[tuple[datetime, datetime, datetime]],
                   window_end: datetime, fingerprints: dict) -> None:
    """Compute a run of adjacent parts in one pass and replace them in the store (one transaction)."""
    start, end = run[0][0], run[-1][1]
    horizon = max(h for _, _, h in run)
    params = _params((start, end), retries) | {
        "horizon": horizon, "part": PART, "session_horizon": SESSION_HORIZON, "window_end": window_end}
    params.pop("session_end")
    rows_sql, values_sql, hist_sql = _parts_sql(segs, labelled=_labelled(con, start, end))
    con.execute(f"CREATE OR REPLACE TEMP TABLE part_rows AS {rows_sql}", params)
    con.execute("CREATE OR REPLACE TEMP TABLE part_shape (p TIMESTAMP, part_end TIMESTAMP, horizon TIMESTAMP)")
    con.executemany("INSERT INTO part_shape VALUES (?, ?, ?)", [list(p) for p in run])
    cols = ", ".join(_PART_COLUMNS)
    # `part` in the SQL is the hour; the first part of a window may start after the hour's start
    shape = "JOIN part_shape s ON time_bucket($part, s.p) = x.part"
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("kpi_parts", "kpi_part_hist", "kpi_part_meta"):
            con.execute(f"DELETE FROM {table} t WHERE key = ? AND EXISTS (SELECT 1 FROM part_shape s "
                        "WHERE s.p = t.part AND s.part_end = t.part_end AND s.horizon = t.horizon)", [key])
        con.execute(f"INSERT INTO kpi_parts SELECT $key, s.p, s.part_end, s.horizon, x.segment, {cols}, x.storm "
                    f"FROM ({values_sql}) x {shape}", {"key": key, "part": PART})
        con.execute(f"INSERT INTO kpi_part_hist SELECT $key, s.p, s.part_end, s.horizon, x.segment, x.b, x.n, x.lo, x.hi "
                    f"FROM ({hist_sql}) x {shape}", {"key": key, "part": PART})
        con.executemany("INSERT INTO kpi_part_meta VALUES (?, ?, ?, ?, ?)",
                        [[key, *p, fingerprints[p]] for p in run])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS part_rows")
        con.execute("DROP TABLE IF EXISTS part_shape")


def _parts_window(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], segs: list[str],
                  retries: Retries) -> list[tuple[str | None, dict[str, Any]]]:
    """KPIs of a long window added up from its hourly parts, computing only missing or stale parts.

    Exact for every KPI but two: the latency quantiles come from the parts' 1% log histograms, and
    a session whose next row comes more than SESSION_HORIZON after the end of its row's hour counts
    an ending in that hour.
    """
    all_segs = [ident(s) for s in SEGMENT_COLUMNS]
    key = _parts_key(all_segs, retries)
    prepare_parts(con, window, retries)
    sel = ", ".join(f"sum({c}) AS {c}" for c in _PART_COLUMNS)
    scope = ("key = $key AND EXISTS (SELECT 1 FROM part_list l WHERE l.p = t.part AND l.part_end = t.part_end "
             "AND l.horizon = t.horizon)")
    con.execute("CREATE OR REPLACE TEMP TABLE part_list (p TIMESTAMP, part_end TIMESTAMP, horizon TIMESTAMP)")
    con.executemany("INSERT INTO part_list VALUES (?, ?, ?)", [list(p) for p in _parts_of(window)])
    cur = con.execute(f"SELECT segment, {sel}, max(storm) AS storm FROM kpi_parts t WHERE {scope} GROUP BY segment",
                      {"key": key})
    names = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
    hist: dict[str | None, list[tuple[int, float, float]]] = {}
    for seg, n, lo, hi in con.execute(
            f"SELECT segment, sum(n), min(lo), max(hi) FROM kpi_part_hist t WHERE {scope} "
            "GROUP BY segment, b ORDER BY segment, b", {"key": key}).fetchall():
        hist.setdefault(seg, []).append((int(n), float(lo), float(hi)))
    con.execute("DROP TABLE part_list")
    # parts no longer needed by this window (and parts of other settings) are dropped
    for table in ("kpi_parts", "kpi_part_hist", "kpi_part_meta"):
        con.execute(f"DELETE FROM {table} WHERE key <> ? OR part < ?", [key, window[0]])
    out = []
    for seg in sorted(rows, key=lambda s: (s is not None, s or "")):
        if seg is not None and seg.split("=", 1)[0] not in segs:
            continue
        rec = rows[seg]
        if not rec["volume__n"]:
            continue
        values: dict[str, Any] = {}
        for name, k in KPIS.items():
            if k.agg == "count":
                values[name] = int(rec[f"{name}__n"])
            elif k.agg == "avg":
                n = rec[f"{name}__n"]
                values[name] = _num(k.scale * rec[f"{name}__s"] / n) if n else None
            elif k.agg == "sum":
                values[name] = _num(rec[f"{name}__s"]) if rec[f"{name}__n"] else None
            elif k.agg == "storm":
                values[name] = None if rec["storm"] is None else int(rec["storm"])
            elif k.agg == "quantile":
                values[name] = _num(_hist_quantile(hist.get(seg, []), k.q))
        out.append((seg, values))
    return out


def _hist_quantile(buckets: list[tuple[int, float, float]], q: float) -> float | None:
    """quantile_cont over values given as (count, min, max) buckets in order: the values at ranks
    floor(h) and ceil(h), h = q * (n - 1), are read as if spread evenly over their bucket's
    [min, max], then interpolated as quantile_cont does."""
    total = sum(b[0] for b in buckets)
    if total == 0:
        return None
    h = q * (total - 1)
    lo, hi = int(h), min(int(h) + 1, total - 1)

    def at(rank: int) -> float:
        seen = 0
        for n, low, high in buckets:
            if rank < seen + n:
                return low if n == 1 else low + (high - low) * (rank - seen) / (n - 1)
            seen += n
        return buckets[-1][2]

    v_lo = at(lo)
    return v_lo + (h - lo) * (at(hi) - v_lo)


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

    The current window is computed exactly on its rows. The reference is cached in the store
    (`kpi_cache`), keyed by the window, the segments and the retry settings, and checked against (row
    count, last ingest) of the window: the reference of an hourly run (7 days, the same all day, see
    `pipeline.windows_for`) is read from the cache until its rows change. When it is not cached (the
    first run of a day, a daily run) and spans at least twice the current window, it is added up from
    hourly parts kept in the store (`kpi_parts`), of which only the missing or stale ones are computed:
    with `prepare_parts` called by hourly runs for the next day's reference, that is an hour or two,
    and a daily run computes one new day of parts; so a run's cost follows its new data, not the
    history. See `_parts_window` for the two KPIs that parts give approximately.
    """
    retries = retries or Retries()
    segs = [ident(s) for s in segments if s in SEGMENT_COLUMNS]
    out = []
    for name, window in (("current", current), ("reference", reference)):
        if name == "reference" and cache:
            # the reference is computed (and cached) once for every segment column: the reports ask
            # for other segments than the profile's, and each pass over a 7-day window costs a sort of
            # millions of rows
            # a reference much longer than the current window is added up from hourly parts, which
            # the next runs' references share (see `_parts_window`)
            parts = window[1] - window[0] >= 2 * (current[1] - current[0])
            rows = [(seg, values) for seg, values in
                    _window(con, window, list(SEGMENT_COLUMNS), retries, cache=True, parts=parts)
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
