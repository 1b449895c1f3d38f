"""Sources: pull new interactions into the store.

File source (JSONL, Parquet, CSV by glob). Incremental: a file is read again only when its size or
mtime changed since the last pull (its new rows are deduplicated by id). Idempotent: running a pull twice
adds nothing. Every line is kept: a row that cannot become a canonical interaction goes to the
`rejected` table with its file, line number and reason, and the pull goes on.

Each file is loaded in one transaction (rows, rejected rows and the file's bookkeeping row together),
so a crash mid-pull leaves the store at a file boundary: the next pull re-reads the unfinished file and
neither skips nor duplicates.
"""

from __future__ import annotations

import glob
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb

from llmvigil import features
from llmvigil.profile import FileSource, Profile
from llmvigil.results import IngestResult
from llmvigil.store import CANONICAL_COLUMNS, scalar, sql_str

Progress = Callable[[str], None]

_NUMERIC = {"latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "cost_usd", "attempt", "feedback_score"}
# Rejected rows keep at most this many characters of the raw line (the line itself stays in the file).
_RAW_KEEP = 2000


class SourceError(RuntimeError):
    """A source that cannot be read at all (as opposed to bad rows in it)."""


def _json_path(field: str) -> str:
    parts = field.split(".")
    return "$." + ".".join('"' + p.replace('"', '\\"') + '"' for p in parts)


def _canonical_select(mapping: dict[str, str]) -> tuple[str, str, str]:
    """SQL that turns raw JSON objects `j` into canonical columns (+ a reject reason).

    Returns (select_list, reject_reason_expr, json_paths). The select list reads a CTE with `j` (JSON
    text), `is_object` and `v` (the strings at `json_paths`, one per canonical field).
    """
    fields = [f for f in CANONICAL_COLUMNS if f != "metadata"]
    src = {f: mapping.get(f, f) for f in fields}  # unmapped canonical fields are looked up by their own name
    index = {f: i + 1 for i, f in enumerate(fields)}

    def raw(f: str) -> str:
        return f"v[{index[f]}]"

    cols: dict[str, str] = {}
    for f in fields:
        r = raw(f)
        if f == "id":
            cols[f] = f"coalesce({r}, md5(j))"
        elif f == "ts":
            cols[f] = (
                f"coalesce(try_cast({r} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
                f"CASE WHEN try_cast({r} AS DOUBLE) > 1e11 THEN make_timestamp((try_cast({r} AS DOUBLE) * 1000)::BIGINT) "
                f"WHEN try_cast({r} AS DOUBLE) IS NOT NULL THEN make_timestamp((try_cast({r} AS DOUBLE) * 1e6)::BIGINT) END)"
            )
        elif f == "user_id":
            cols[f] = f"CASE WHEN {r} IS NULL THEN NULL ELSE left(sha256({r}), 16) END"
        elif f in _NUMERIC:
            typ = CANONICAL_COLUMNS[f]
            cols[f] = f"try_cast(try_cast({r} AS DOUBLE) AS {typ})"
        elif f == "status":
            cols[f] = (
                f"coalesce(lower({r}), CASE WHEN {raw('error_type')} IS NOT NULL THEN 'error' ELSE 'ok' END)"
            )
        else:
            cols[f] = r
    top_level_mapped = sorted({s for s in src.values() if "." not in s})
    patch = "{" + ",".join(f'"{k}":null' for k in top_level_mapped) + "}"
    cols["metadata"] = f"CASE WHEN is_object THEN json_merge_patch(j, {sql_str(patch)}) END"

    reasons = [
        "CASE WHEN NOT is_object THEN 'not a JSON object' END",
        f"CASE WHEN is_object AND {raw('ts')} IS NULL THEN 'missing required field ts (source field {src['ts']})' END",
        f"CASE WHEN is_object AND {raw('ts')} IS NOT NULL AND ({cols['ts']}) IS NULL "
        f"THEN 'ts: not a timestamp: ' || left({raw('ts')}, 40) END",
        f"CASE WHEN is_object AND {raw('prompt')} IS NULL THEN 'missing required field prompt (source field {src['prompt']})' END",
    ]
    for f in sorted(_NUMERIC):
        reasons.append(
            f"CASE WHEN is_object AND {raw(f)} IS NOT NULL AND try_cast({raw(f)} AS DOUBLE) IS NULL "
            f"THEN '{f}: expected a number, got ' || left({raw(f)}, 40) END"
        )
    reason = "nullif(concat_ws('; ', " + ", ".join(reasons) + "), '')"
    select = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
    paths = "[" + ", ".join(sql_str(_json_path(src[f])) for f in fields) + "]"
    return select, reason, paths


def _raw_lines_sql(fmt: str, file: str) -> str:
    """One row per source line/record: (line BIGINT, j VARCHAR holding a JSON object or garbage)."""
    f = sql_str(file)
    if fmt == "jsonl":
        # Read raw lines (record separator 0x1E never occurs unescaped in valid JSON) so that every
        # line, including malformed ones and blank ones, keeps its exact line number.
        return (
            f"SELECT row_number() OVER () AS line, j FROM read_csv({f}, columns={{'j': 'VARCHAR'}}, "
            "header=false, delim=chr(30), quote='', escape='', auto_detect=false, "
            "max_line_size=67108864, strict_mode=false)"
        )
    if fmt == "csv":
        return (
            f"SELECT row_number() OVER () + 1 AS line, to_json(t)::VARCHAR AS j "
            f"FROM read_csv({f}, all_varchar=true, header=true) t"
        )
    if fmt == "parquet":
        return f"SELECT row_number() OVER () AS line, to_json(t)::VARCHAR AS j FROM read_parquet({f}) t"
    raise SourceError(f"unsupported file format {fmt!r}")


def _stage_file(con: duckdb.DuckDBPyConnection, source: FileSource, file: str) -> None:
    """Create temp tables `staged` (canonical rows of this file) and `staged_rejected`."""
    select, reason, paths = _canonical_select(source.mapping)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE staged_all AS
        WITH r AS ({_raw_lines_sql(source.format, file)}),
        p AS (
          SELECT line, j, json_valid(j) AS ok FROM r WHERE j IS NOT NULL AND trim(j) <> ''
        ),
        x AS (
          SELECT line, j, ok, is_object,
                 CASE WHEN is_object THEN json_extract_string(j, {paths}) END AS v
          FROM (SELECT *, coalesce(CASE WHEN ok THEN json_type(j) = 'OBJECT' END, false) AS is_object FROM p)
        )
        SELECT line, j, ok,
               CASE WHEN NOT ok THEN 'malformed JSON' ELSE {reason} END AS reason,
               {select}
        FROM x
        """
    )
    con.execute("CREATE OR REPLACE TEMP TABLE staged_rejected AS SELECT line, reason, left(j, ?) AS raw FROM staged_all WHERE reason IS NOT NULL", [_RAW_KEEP])
    cols = ", ".join(CANONICAL_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {cols} FROM staged_all WHERE reason IS NULL")
    con.execute("DROP TABLE staged_all")


def pull_files(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None) -> IngestResult:
    source = profile.source
    assert isinstance(source, FileSource)
    pattern = profile.source_glob()
    files = sorted(glob.glob(pattern, recursive=True))
    result = IngestResult()
    if not files:
        folder = Path(pattern).parent
        hint = "" if folder.exists() else f" (folder {folder} does not exist)"
        raise SourceError(f"source of profile {profile.name!r}: no file matches {pattern}{hint}")
    known = {r[0]: (r[1], r[2]) for r in con.execute("SELECT path, size, mtime_ns FROM source_files").fetchall()}
    features.register(con)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for file in files:
        st = os.stat(file)
        if known.get(file) == (st.st_size, st.st_mtime_ns):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            _stage_file(con, source, file)
            new = features.insert_new_rows(con, source_file=file, ingested_at=now)
            read = scalar(con, "SELECT count(*) FROM staged")
            con.execute("DELETE FROM rejected WHERE file = ?", [file])
            con.execute(
                "INSERT INTO rejected SELECT 'files', ?, line, reason, raw, ? FROM staged_rejected", [file, now]
            )
            rej = scalar(con, "SELECT count(*) FROM staged_rejected")
            con.execute(
                "INSERT OR REPLACE INTO source_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [file, st.st_size, st.st_mtime_ns, read, new, rej, now],
            )
            con.execute("COMMIT")
        except duckdb.IOException as e:
            con.execute("ROLLBACK")
            raise SourceError(f"cannot read {file}: {e}") from None
        except Exception:
            con.execute("ROLLBACK")
            raise
        result.files_read += 1
        result.new_rows += new
        result.rejected += rej
        if rej:
            result.rejected_examples.extend(
                {"file": file, "line": line, "reason": reason}
                for line, reason in con.execute(
                    "SELECT line, reason FROM staged_rejected ORDER BY line LIMIT 5"
                ).fetchall()
            )
        if progress:
            progress(f"ingested {Path(file).name}: {new} new rows" + (f", {rej} rejected" if rej else ""))
    result.total_rows = scalar(con, "SELECT count(*) FROM interactions")
    return result


def pull(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None) -> IngestResult:
    """Pull whatever is new in the profile's source into the store."""
    if isinstance(profile.source, FileSource):
        return pull_files(con, profile, progress)
    raise SourceError(f"unsupported source kind {profile.source.kind!r}")
