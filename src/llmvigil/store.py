"""The DuckDB store of one profile: connection handling and the schema.

DuckDB allows one writer process per database file; a second process gets an IOException at connect.
`connect()` turns that into a StoreLockedError that says what to do.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

SCHEMA_VERSION = 1

# Canonical interaction columns (DESIGN.md), in table order, with their DuckDB types.
CANONICAL_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "ts": "TIMESTAMP",
    "prompt": "VARCHAR",
    "response": "VARCHAR",
    "app": "VARCHAR",
    "model": "VARCHAR",
    "model_version": "VARCHAR",
    "prompt_template": "VARCHAR",
    "prompt_version": "VARCHAR",
    "session_id": "VARCHAR",
    "user_id": "VARCHAR",
    "latency_ms": "DOUBLE",
    "ttft_ms": "DOUBLE",
    "prompt_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
    "status": "VARCHAR",
    "error_type": "VARCHAR",
    "finish_reason": "VARCHAR",
    "provider_refusal": "VARCHAR",
    "attempt": "INTEGER",
    "retry_of": "VARCHAR",
    "feedback_score": "DOUBLE",
    "label": "VARCHAR",
    "expected": "VARCHAR",
    "metadata": "JSON",
}

# Features computed once per row at ingest (see features.py).
FEATURE_COLUMNS: dict[str, str] = {
    "prompt_chars": "INTEGER",
    "response_chars": "INTEGER",
    "response_words": "INTEGER",
    "empty_response": "BOOLEAN",
    "is_error": "BOOLEAN",
    "provider_refused": "BOOLEAN",
    "refusal_label": "VARCHAR",
    "refusal_score": "DOUBLE",
    "refusal": "BOOLEAN",
    "prompt_lang": "VARCHAR",
    "response_lang": "VARCHAR",
    "lang_mismatch": "BOOLEAN",
    "pii_count": "INTEGER",
    "pii_types": "VARCHAR[]",
    "response_is_json": "BOOLEAN",
    "prompt_key": "VARCHAR",
}

BOOKKEEPING_COLUMNS: dict[str, str] = {"source_file": "VARCHAR", "ingested_at": "TIMESTAMP"}

ALL_COLUMNS = {**CANONICAL_COLUMNS, **BOOKKEEPING_COLUMNS, **FEATURE_COLUMNS}


def _ddl() -> list[str]:
    cols = ",\n  ".join(f"{name} {typ}" for name, typ in ALL_COLUMNS.items())
    return [
        f"CREATE TABLE IF NOT EXISTS interactions (\n  {cols}\n)",
        """CREATE TABLE IF NOT EXISTS rejected (
          source VARCHAR, file VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR, rejected_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS source_files (
          path VARCHAR PRIMARY KEY, size BIGINT, mtime_ns BIGINT, rows_read BIGINT, rows_new BIGINT,
          rows_rejected BIGINT, ingested_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS runs (
          run_id VARCHAR PRIMARY KEY, profile VARCHAR, run_at TIMESTAMP, started_at TIMESTAMP,
          finished_at TIMESTAMP, firing INTEGER, summary JSON)""",
        """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
        # Where a database source's pull stands: the last (timestamp, id) stored, UTC (source_postgres.py).
        """CREATE TABLE IF NOT EXISTS source_watermarks (
          source VARCHAR PRIMARY KEY, ts TIMESTAMP, id VARCHAR, rows_read BIGINT, updated_at TIMESTAMP)""",
    ]


class StoreLockedError(RuntimeError):
    """Another process holds the DuckDB file of this profile."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def ident(name: str) -> str:
    """Check an identifier that came from configuration before it is put into SQL."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid column name: {name!r}")
    return name


def sql_str(value: str) -> str:
    """A SQL string literal (for the few places DuckDB cannot bind a parameter, e.g. table functions)."""
    return "'" + value.replace("'", "''") + "'"


def connect(path: Path | str, *, memory_limit: str = "2GB", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    p = Path(path)
    if str(path) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(p), read_only=read_only, config={"memory_limit": memory_limit})
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise StoreLockedError(
                f"{p} is in use by another process (DuckDB allows one writer per file). "
                "Another run of this profile is probably still going: wait for it to finish, or "
                "check `llmvigil` / Prefect for a stuck run. Details: " + str(e).splitlines()[0]
            ) from None
        raise
    con.sql("SET TimeZone = 'UTC'")
    con.sql("SET enable_progress_bar = false")  # it would write into `run --json` output on stdout
    if not read_only:
        ensure_schema(con)
    return con


@contextmanager
def open_store(path: Path | str, *, memory_limit: str = "2GB", read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, memory_limit=memory_limit, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in _ddl():
        con.execute(stmt)
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING", [str(SCHEMA_VERSION)]
    )


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None):
    """The single value of a query (DuckDB 2.0 wants every result fetched to the end)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
