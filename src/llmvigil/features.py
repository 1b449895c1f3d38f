"""Per-interaction features, computed once in SQL when a row enters the store.

A run's cost follows the new data: features of stored rows are never recomputed.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from llmvigil import language, pii, refusal
from llmvigil.store import CANONICAL_COLUMNS, scalar


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Define the macros/UDFs the feature SQL needs on this connection."""
    refusal.register(con)
    language.register(con)
    pii.register(con)


def _feature_sql() -> str:
    """SELECT over `new_rows` (canonical columns) adding every feature column."""
    inner = f"""
      SELECT s.*,
        length(s.prompt)::INTEGER AS prompt_chars,
        coalesce(length(s.response), 0)::INTEGER AS response_chars,
        CASE WHEN s.response IS NULL OR trim(s.response) = '' THEN 0
             ELSE len(string_split_regex(trim(s.response), '\\s+')) END::INTEGER AS response_words,
        (s.response IS NULL OR trim(s.response) = '') AS empty_response,
        (s.status <> 'ok') AS is_error,
        (coalesce(s.provider_refusal, '') NOT IN ('', 'false', '0')
          OR coalesce(s.finish_reason IN ('content_filter', 'refusal'), false)) AS provider_refused,
        {refusal.select_sql("s.response", "s.finish_reason", "s.provider_refusal")},
        {language.select_sql("s.prompt", "s.response")},
        {pii.select_sql("s.response")},
        (left(ltrim(s.response), 1) IN ('{{', '[') AND coalesce(json_valid(s.response), false)) AS response_is_json,
        md5(trim(regexp_replace(lower(s.prompt), '[^[:alnum:]]+', ' ', 'g'))) AS prompt_key
      FROM new_rows s
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
    """
    cols = ", ".join(f"s.{c}" for c in CANONICAL_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE new_rows AS
        SELECT {cols}, ?::VARCHAR AS source_file, ?::TIMESTAMP AS ingested_at
        FROM (SELECT * FROM staged QUALIFY row_number() OVER (PARTITION BY id) = 1) s
        ANTI JOIN interactions i ON i.id = s.id
        """,
        [source_file, ingested_at],
    )
    n = scalar(con, "SELECT count(*) FROM new_rows")
    if n:
        con.execute(f"INSERT INTO interactions BY NAME {_feature_sql()}")
    con.execute("DROP TABLE new_rows")
    return n
