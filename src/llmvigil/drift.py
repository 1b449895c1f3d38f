"""Drift of the current window against the reference window, with Evidently.

Evidently is fed only the drift columns, and at most `drift.sample_size` rows per window (a seeded
reservoir sample drawn by DuckDB). With method `auto` the stat tests are pinned to distances
(Wasserstein for numbers, Jensen-Shannon for categories, threshold 0.1): Evidently's own default
switches from p-values to distances at 1,000 rows, which would flip the meaning of a score as the
traffic grows.

Why a sample, and why 50,000 rows (the default `drift.sample_size`): the scores are distances judged
against 0.1, and two samples of n rows of the same distribution are about 1/sqrt(n) apart on those
scales, so at 50,000 rows the sampling noise (~0.005) is twenty times below the threshold, while
Evidently's cost stays flat (~2 CPU-s) however many rows the windows hold. tests/integration/
test_sampling.py shows drift found on the full windows found on 2,000-row samples (and none found
where there is none); `benchmarks/bench_cycle.py --only sampling` compares the full windows of a
million rows with 50k/10k/2k samples. The reference sample is cached in the store (see `_window_frame`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb

from llmvigil.profile import Drift
from llmvigil.results import DriftColumn, DriftSummary
from llmvigil.store import ALL_COLUMNS, ident

_NUMERIC_TYPES = {"INTEGER", "BIGINT", "DOUBLE"}
_SEED = 42


def _window_frame(con, columns: list[str], start: datetime, end: datetime, sample: int, *, cache: bool = False):
    """The drift columns of a window's rows (a seeded sample of `sample` rows above that) and its row count.

    With `cache`, a sample is kept in the store (`drift_sample_rows`, one per store) keyed by window,
    columns and size, and checked against (row count, last ingest) of the window: the reference of an
    hourly run is sampled once a day instead of scanning its millions of rows every run.
    """
    cols = ", ".join(ident(c) for c in columns)
    total, last = con.execute("SELECT count(*), max(ingested_at)::VARCHAR FROM interactions WHERE ts >= ? AND ts < ?",
                              [start, end]).fetchall()[0]
    sql = f"SELECT {cols} FROM interactions WHERE ts >= ? AND ts < ?"
    if total <= sample:
        return con.execute(sql, [start, end]).df(), total
    sql = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({_SEED})"
    if cache:
        key = json.dumps([start.isoformat(), end.isoformat(), columns, int(sample), _SEED])
        fingerprint = f"{total}|{last}"
        try:
            con.execute("CREATE TABLE IF NOT EXISTS drift_sample_meta (key VARCHAR, fingerprint VARCHAR)")
            if con.execute("SELECT key, fingerprint FROM drift_sample_meta").fetchall() != [(key, fingerprint)]:
                con.execute("DELETE FROM drift_sample_meta")
                con.execute(f"CREATE OR REPLACE TABLE drift_sample_rows AS {sql}", [start, end])
                con.execute("INSERT INTO drift_sample_meta VALUES (?, ?)", [key, fingerprint])
            return con.execute(f"SELECT {cols} FROM drift_sample_rows").df(), total
        except duckdb.Error:  # a read-only connection: sample without the cache
            pass
    return con.execute(sql, [start, end]).df(), total


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
