"""Per-interaction features, computed once in SQL when a row enters the store.

A run's cost follows the new data: features of stored rows are never recomputed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Iterator, Sequence

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


def insert_new_rows(con: duckdb.DuckDBPyConnection, *, source_file: str | None, ingested_at: datetime,
                    rows: str = "staged") -> int:
    """Insert rows of temp table `rows` (default `staged`) whose id is not stored yet, with their features.

    Duplicates inside the table keep their first occurrence. Returns the number of rows inserted.
    One INSERT streams the staged rows through the feature SQL into the table (no intermediate copy).
    The stored ids checked are only those that occur in the table (a semi join built on its ids),
    so the cost grows with the new rows, plus one scan of the stored `id` column.
    """
    with timer("ingest_insert"):
        cols = ", ".join(f"s.{c}" for c in CANONICAL_COLUMNS)
        dups = scalar(con, f"SELECT count(*) - count(DISTINCT id) FROM {rows}")
        src = rows if not dups else f"(SELECT * FROM {rows} QUALIFY row_number() OVER (PARTITION BY id) = 1)"
        fresh = f"""(
          SELECT {cols}, $source_file::VARCHAR AS source_file, $ingested_at::TIMESTAMP AS ingested_at
          FROM {src} s
          ANTI JOIN (SELECT i.id FROM interactions i SEMI JOIN {rows} n ON n.id = i.id) e ON e.id = s.id
        )"""
        res = con.execute(f"INSERT INTO interactions BY NAME {_feature_sql(fresh)}",
                          {"source_file": source_file, "ingested_at": ingested_at}).fetchall()
        return int(res[0][0]) if res else 0


def insert_new_batch(con: duckdb.DuckDBPyConnection, parts: Sequence[tuple[str, str | None]], *,
                     ingested_at: datetime) -> list[int]:
    """Insert the new rows of several staged temp tables at once: `parts` is [(table, source_file)].

    The result is the same as `insert_new_rows` called on each table in turn (a row whose id an
    earlier table already holds is not new for the later one), but the feature SQL runs once: its
    fixed cost per statement (binding the refusal model's macros, calling the detectors' UDFs, the
    scan of the stored ids) is paid once per batch instead of once per file. Returns the number of
    rows inserted for each part, in order. Run it inside the caller's transaction.
    """
    if len(parts) == 1:
        table, source_file = parts[0]
        return [insert_new_rows(con, source_file=source_file, ingested_at=ingested_at, rows=table)]
    with timer("ingest_insert"):
        # a view, not a copy: the staged tables are read twice (the dedupe and the stored-id check)
        union = " UNION ALL ".join(
            f"SELECT {', '.join(f'{c}::{t} AS {c}' for c, t in CANONICAL_COLUMNS.items())}, {k}::INTEGER AS part "
            f"FROM {table}" for k, (table, _) in enumerate(parts))
        con.execute(f"CREATE OR REPLACE TEMP VIEW lv_batch AS {union}")
        dups = scalar(con, "SELECT count(*) - count(DISTINCT id) FROM lv_batch")
        # the first occurrence of an id: in the earliest part (within a part, any one, as above)
        src = "lv_batch" if not dups else \
            "(SELECT * FROM lv_batch QUALIFY row_number() OVER (PARTITION BY id ORDER BY part) = 1)"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE lv_fresh AS
            SELECT s.* FROM {src} s
            ANTI JOIN (SELECT i.id FROM interactions i SEMI JOIN lv_batch n ON n.id = i.id) e ON e.id = s.id""")
        counts = dict(con.execute("SELECT part, count(*) FROM lv_fresh GROUP BY part").fetchall())
        fresh = f"""(
          SELECT {", ".join(f"s.{c}" for c in CANONICAL_COLUMNS)},
                 ($source_files::VARCHAR[])[s.part + 1] AS source_file, $ingested_at::TIMESTAMP AS ingested_at
          FROM lv_fresh s ORDER BY s.part
        )"""
        con.execute(f"INSERT INTO interactions BY NAME {_feature_sql(fresh)}",
                    {"source_files": [f for _, f in parts], "ingested_at": ingested_at}).fetchall()
        # (on an error the caller's ROLLBACK drops both: they were created inside its transaction)
        con.execute("DROP VIEW lv_batch")
        con.execute("DROP TABLE lv_fresh")
        return [int(counts.get(k, 0)) for k in range(len(parts))]
