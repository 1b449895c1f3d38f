"""Drift of the current window against the reference window, with Evidently.

Evidently is fed only the drift columns, and at most `drift.sample_size` rows per window (a sample
drawn by DuckDB). With method `auto` the stat tests are pinned to distances
(Wasserstein for numbers, Jensen-Shannon for categories, threshold 0.1): Evidently's own default
switches from p-values to distances at 1,000 rows, which would flip the meaning of a score as the
traffic grows.

The reference's sample is the rows with the smallest hash of their id, kept per hour in the store
(see `_reference_sample`); the current window's is a seeded reservoir sample.

Why a sample, and why 50,000 rows (the default `drift.sample_size`): the scores are distances judged
against 0.1, and two samples of n rows of the same distribution are about 1/sqrt(n) apart on those
scales, so at 50,000 rows the sampling noise (~0.005) is twenty times below the threshold, while
Evidently's cost stays flat (~2 CPU-s) however many rows the windows hold. tests/integration/
test_sampling.py shows drift found on the full windows found on 2,000-row samples (and none found
where there is none); `benchmarks/bench_cycle.py --only sampling` compares the full windows of a
million rows with 50k/10k/2k samples.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from llmvigil.profile import Drift
from llmvigil.results import DriftColumn, DriftSummary
from llmvigil.store import ALL_COLUMNS, ident

_NUMERIC_TYPES = {"INTEGER", "BIGINT", "DOUBLE"}
_SEED = 42


def _window_frame(con, columns: list[str], start: datetime, end: datetime, sample: int, *, cache: bool = False):
    """The drift columns of a window's rows (a sample of `sample` rows above that) and its row count.

    Without `cache`: a seeded reservoir sample drawn by DuckDB. With `cache` (the reference): the
    `sample` rows of the window with the smallest hash of their id, assembled from hourly parts kept in
    the store (see `_reference_sample`), so that the reference of the first run of a day costs the
    hours it does not share with yesterday's, not a scan of its millions of rows.
    """
    cols = ", ".join(ident(c) for c in columns)
    total, last = con.execute("SELECT count(*), max(ingested_at)::VARCHAR FROM interactions WHERE ts >= ? AND ts < ?",
                              [start, end]).fetchall()[0]
    sql = f"SELECT {cols} FROM interactions WHERE ts >= ? AND ts < ?"
    if total <= sample:
        return con.execute(sql, [start, end]).df(), total
    if cache:
        try:
            return _reference_sample(con, columns, start, end, sample, total), total
        except duckdb.Error:  # a read-only connection: sample without the cache
            pass
    sql = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({_SEED})"
    return con.execute(sql, [start, end]).df(), total


_PART = timedelta(hours=1)


def _reference_sample(con, columns: list[str], start: datetime, end: datetime, sample: int, total: int):
    """The `sample` rows of [start, end) with the smallest `hash(id)`: a uniform sample without
    replacement (ids hash at random), and one that is the same whichever runs computed it.

    Each hour keeps the rows whose hash is below 2^64 / 2^k, k chosen so that the window keeps between
    `sample` and twice as many rows (k changes only when the window's size doubles or halves); the
    window's sample is the `sample` smallest hashes among them. An hour is recomputed only when its
    (row count, last ingest) changed.
    """
    cols = ", ".join(ident(c) for c in columns)
    k = int(math.floor(math.log2(total / sample)))
    key = json.dumps([columns, k])
    keep = "true" if k == 0 else f"hash(id) < {2 ** (64 - k)}::UBIGINT"
    # the hourly parts of the window (the first and last may be shorter), each with its fingerprint
    hours = {h: f"{n}|{last}" for h, n, last in con.execute(
        "SELECT time_bucket(INTERVAL 1 HOUR, ts) AS h, count(*), max(ingested_at)::VARCHAR FROM interactions "
        "WHERE ts >= ? AND ts < ? GROUP BY h", [start, end]).fetchall()}
    parts = {}
    for h, fp in hours.items():
        parts[(max(h, start), min(h + _PART, end))] = fp
    con.execute("CREATE TABLE IF NOT EXISTS drift_part_meta (key VARCHAR, part TIMESTAMP, part_end TIMESTAMP, "
                "fingerprint VARCHAR)")
    if con.execute("SELECT count(*) FROM drift_part_meta WHERE key <> ?", [key]).fetchall()[0][0] or not \
            con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'drift_part_rows' "
                        "AND NOT temporary").fetchall()[0][0]:
        # other columns or another rate: start over (and drop the sample table of older versions)
        con.execute("DROP TABLE IF EXISTS drift_part_rows")
        con.execute("DROP TABLE IF EXISTS drift_sample_rows")
        con.execute("DROP TABLE IF EXISTS drift_sample_meta")
        con.execute("DELETE FROM drift_part_meta")
        con.execute(f"CREATE TABLE drift_part_rows AS SELECT NULL::TIMESTAMP AS part, hash(id) AS h, {cols} "
                    "FROM interactions LIMIT 0")
    have = {(p, e): fp for p, e, fp in con.execute(
        "SELECT part, part_end, fingerprint FROM drift_part_meta WHERE key = ?", [key]).fetchall()}
    todo = sorted(p for p, fp in parts.items() if have.get(p) != fp)
    con.execute("BEGIN TRANSACTION")
    try:
        # parts no longer in the window, and stale ones, go; missing and stale ones are computed
        stale = [p for p in have if p not in parts or p in todo]
        for p, e in stale:
            con.execute("DELETE FROM drift_part_rows WHERE part = ?", [p])
            con.execute("DELETE FROM drift_part_meta WHERE part = ? AND part_end = ?", [p, e])
        for lo, hi in _runs(todo):
            con.execute(f"INSERT INTO drift_part_rows SELECT greatest(time_bucket(INTERVAL 1 HOUR, ts), ?), hash(id), "
                        f"{cols} FROM interactions WHERE ts >= ? AND ts < ? AND {keep}", [start, lo, hi])
        if todo:
            con.executemany("INSERT INTO drift_part_meta VALUES (?, ?, ?, ?)",
                            [[key, p, e, parts[(p, e)]] for p, e in todo])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return con.execute(f"SELECT {cols} FROM drift_part_rows WHERE part >= ? AND part < ? ORDER BY h LIMIT ?",
                       [start, end, int(sample)]).df()


def _runs(parts: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjacent parts merged into ranges."""
    out: list[tuple[datetime, datetime]] = []
    for p, e in parts:
        if out and out[-1][1] == p:
            out[-1] = (out[-1][0], e)
        else:
            out.append((p, e))
    return out


def compute(
    con: duckdb.DuckDBPyConnection,
    cfg: Drift,
    *,
    current: tuple[datetime, datetime],
    reference: tuple[datetime, datetime],
    html_path: Path | None,
    min_rows: int = 30,
) -> DriftSummary:
    columns = [c for c in cfg.columns if c in ALL_COLUMNS]
    unknown = sorted(set(cfg.columns) - set(columns))
    if unknown:
        raise ValueError(f"drift columns not in the store: {unknown}")
    cur, n_cur = _window_frame(con, columns, *current, cfg.sample_size)
    ref, n_ref = _window_frame(con, columns, *reference, cfg.sample_size, cache=True)
    rows = {"current": len(cur), "reference": len(ref), "current_total": n_cur, "reference_total": n_ref}
    if len(cur) < min_rows or len(ref) < min_rows:
        return DriftSummary(share_drifted=None, rows=rows,
                            skipped=f"too few rows (current {len(cur)}, reference {len(ref)}; need {min_rows})")

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = [c for c in columns if ALL_COLUMNS[c] in _NUMERIC_TYPES]
    categorical = [c for c in columns if c not in numerical]
    for df in (cur, ref):
        for c in categorical:  # booleans and lists as strings: Evidently treats them as categories
            df[c] = df[c].astype("string").fillna("(null)")
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    kwargs: dict = {"columns": columns}
    if cfg.method == "auto":
        kwargs.update(num_method="wasserstein", cat_method="jensenshannon",
                      threshold=cfg.threshold if cfg.threshold is not None else 0.1)
    else:
        kwargs.update(method=cfg.method)
        if cfg.threshold is not None:
            kwargs["threshold"] = cfg.threshold
    report = Report([DataDriftPreset(**kwargs)], include_tests=True)
    snapshot = report.run(
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        current_data=Dataset.from_pandas(cur, data_definition=definition),
    )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
        # Evidently does not escape "</" in its data script: a logged value could end it and run as HTML.
        from llmvigil.dashboard.evidently import protect_drift_page

        protect_drift_page(html_path)
    return _summarise(snapshot.dict(), rows)


def _summarise(d: dict, rows: dict[str, int]) -> DriftSummary:
    values = {m["id"]: m["value"] for m in d.get("metrics", [])}
    out: dict[str, DriftColumn] = {}
    for t in d.get("tests", []):
        params = t.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift"):
            score = values.get(t["metric_config"]["metric_id"])
            out[params["column"]] = DriftColumn(
                method=params.get("method", ""),
                score=None if score is None else round(float(score), 6),
                threshold=params.get("threshold"),
                drifted=t.get("status") == "FAIL",
            )
    share = sum(c.drifted for c in out.values()) / len(out) if out else None
    return DriftSummary(share_drifted=share, columns=out, rows=rows)
