"""Output checks: a Great Expectations suite (JSON in checks/) validated on the current window.

GX's SQL data source gives wrong results on DuckDB, so the suite is validated on a pandas frame of
only the columns it names, for the rows of the current window (a seeded sample above `max_rows`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from llmvigil import pii
from llmvigil.results import CheckResult, ChecksSummary
from llmvigil.store import ALL_COLUMNS, ident, scalar

MAX_ROWS = 200_000
_SEED = 42


class ChecksError(ValueError):
    """A suite file that cannot be used."""


def load_suite(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChecksError(f"{path}: checks suite not found") from None
    except json.JSONDecodeError as e:
        raise ChecksError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise ChecksError(f"{path}: expected an object with 'name' and a list 'expectations'")
    for i, e in enumerate(data["expectations"]):
        if not isinstance(e, dict) or "type" not in e:
            raise ChecksError(f"{path}: expectations[{i}]: expected an object with 'type' and 'kwargs'")
        col = e.get("kwargs", {}).get("column")
        if col is not None and col not in ALL_COLUMNS:
            raise ChecksError(
                f"{path}: expectations[{i}] ({e['type']}): unknown column {col!r}; "
                f"expected one of the store's columns: {', '.join(ALL_COLUMNS)}"
            )
    return data


def _columns(suite: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for e in suite["expectations"]:
        kw = e.get("kwargs", {})
        for c in [kw.get("column"), kw.get("column_A"), kw.get("column_B"), *kw.get("column_list", [])]:
            if c and c not in cols:
                cols.append(c)
    return cols


def validate(con: duckdb.DuckDBPyConnection, suite_path: Path, *, current: tuple[datetime, datetime],
             max_rows: int = MAX_ROWS) -> ChecksSummary:
    suite_data = load_suite(suite_path)
    cols = _columns(suite_data)
    select = ", ".join(ident(c) for c in cols) or "id"
    sql = f"SELECT {select} FROM interactions WHERE ts >= ? AND ts < ?"
    n = scalar(con, f"SELECT count(*) FROM ({sql})", list(current))
    if n == 0:
        return ChecksSummary(success=None, skipped="no rows in the current window")
    if n > max_rows:
        sql = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE ({_SEED})"
    df = con.execute(sql, list(current)).df()

    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover - only cosmetic
        pass
    batch = (
        context.data_sources.add_pandas("llmvigil")
        .add_dataframe_asset("current_window")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = ExpectationSuite(name=suite_data.get("name", suite_path.stem),
                             expectations=suite_data["expectations"])
    res = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    return _summarise(res.to_json_dict())


def _mask_value(v: Any) -> Any:
    return pii.mask(v) if isinstance(v, str) else v


def _summarise(d: dict[str, Any]) -> ChecksSummary:
    results: list[CheckResult] = []
    for r in d.get("results", []):
        cfg = r["expectation_config"]
        kwargs = {k: v for k, v in cfg.get("kwargs", {}).items() if k != "batch_id"}
        res = r.get("result", {})
        observed = res.get("observed_value")
        if observed is None and "unexpected_percent" in res:
            observed = f"{res['unexpected_percent']:.2f}% unexpected"
        results.append(CheckResult(
            expectation=cfg["type"],
            column=kwargs.get("column"),
            success=bool(r.get("success")),
            observed=observed,
            unexpected_count=res.get("unexpected_count"),
            unexpected_examples=[_mask_value(v) for v in res.get("partial_unexpected_list", [])][:5],
            kwargs=kwargs,
        ))
    failed = [f"{c.expectation}({c.column})" if c.column else c.expectation for c in results if not c.success]
    return ChecksSummary(success=not failed, evaluated=len(results), failed=failed, results=results)
