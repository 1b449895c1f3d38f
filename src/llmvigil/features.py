"""Per-interaction features, computed once in SQL when a row enters the store.

A run's cost follows the new data: features of stored rows are never recomputed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Iterator

import duckdb

from llmvigil import language, pii, refusal
from llmvigil.store import CANONICAL_COLUMNS, scalar

# Where `timer()` adds the seconds of the ingest's sub-steps (the run's `timings`), if anywhere.
_timings: ContextVar[dict[str, float] | None] = ContextVar("llmvigil_ingest_timings", default=None)


@contextmanager
def timings_into(timings: dict[str, float]) -> Iterator[None]:
    """Sub-steps timed with `timer()` inside this block add their seconds to `timings`."""
    token = _timings.set(timings)
    try:
        yield
    finally:
        _timings.reset(token)


@contextmanager
def timer(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings = _timings.get()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Define the macros/UDFs the feature SQL needs on this connection."""
    refusal.register(con)
    language.register(con)
    pii.register(con)


def _feature_sql(rows: str = "new_rows") -> str:
    """SELECT over `rows` (a table or a parenthesised query with the canonical columns) adding every
    feature column."""
    inner = f"""
      SELECT s.*,
        length(s.prompt)::INTEGER AS prompt_chars,
        coalesce(length(s.response), 0)::INTEGER AS response_chars,
        -- words: runs of non-blank characters (a split on spaces: half the cost of a regex split)
        len(list_filter(string_split(translate(coalesce(s.response, ''), chr(9) || chr(10) || chr(12) || chr(13), '    '),
                                     ' '), lambda w: w <> ''))::INTEGER AS response_words,
        (s.response IS NULL OR trim(s.response) = '') AS empty_response,
        (s.status <> 'ok') AS is_error,
        {refusal.provider_signal_sql("s.finish_reason", "s.provider_refusal")} AS provider_refused,
        {refusal.select_sql("s.response", "s.finish_reason", "s.provider_refusal")},
        {language.select_sql("s.prompt", "s.response")},
        {pii.select_sql("s.response")},
        (left(ltrim(s.response), 1) IN ('{{', '[') AND coalesce(json_valid(s.response), false)) AS response_is_json,
        md5(trim(regexp_replace(lower(s.prompt), '[^[:alnum:]]+', ' ', 'g'))) AS prompt_key
      FROM {rows} s
    """
    return f"""
      SELECT *,
        (refusal_label = 'refusal') AS refusal,
        (prompt_lang IS NOT NULL AND response_lang IS NOT NULL AND prompt_lang <> response_lang) AS lang_mismatch
      FROM ({inner})
    """


def insert_new_rows(con: duckdb.DuckDBPyConnection, *, source_file: str | None, ingested_at: datetime) -> int:
    """Insert rows of temp table `staged` whose id is not stored yet, with their features.

    Duplicates inside `staged` keep their first occurrence. Returns the number of rows inserted.
    One INSERT streams the staged rows through the feature SQL into the table (no intermediate copy).
    The stored ids checked are only those that occur in `staged` (a semi join built on the staged ids),
    so the cost grows with the new rows, plus one scan of the stored `id` column.
    """
    with timer("ingest_insert"):
        cols = ", ".join(f"s.{c}" for c in CANONICAL_COLUMNS)
        dups = scalar(con, "SELECT count(*) - count(DISTINCT id) FROM staged")
        rows = "staged" if not dups else "(SELECT * FROM staged QUALIFY row_number() OVER (PARTITION BY id) = 1)"
        fresh = f"""(
          SELECT {cols}, $source_file::VARCHAR AS source_file, $ingested_at::TIMESTAMP AS ingested_at
          FROM {rows} s
          ANTI JOIN (SELECT i.id FROM interactions i SEMI JOIN staged n ON n.id = i.id) e ON e.id = s.id
        )"""
        res = con.execute(f"INSERT INTO interactions BY NAME {_feature_sql(fresh)}",
                          {"source_file": source_file, "ingested_at": ingested_at}).fetchall()
        return int(res[0][0]) if res else 0
