"""Sources: pull new interactions into the store.

File source (JSONL, Parquet, CSV by glob). Incremental: a file is read again only when its size or
mtime changed since the last pull (its new rows are deduplicated by id). Idempotent: running a pull twice
adds nothing. Every line is kept: a row that cannot become a canonical interaction goes to the
`rejected` table with its file, line number and reason, and the pull goes on.

Every file is loaded inside one transaction together with its rejected rows and its bookkeeping row:
new files are staged one by one, then committed in batches (one transaction and one feature INSERT per
batch of files, see `pull_files`). A crash mid-pull leaves the store at a file boundary: the next pull
re-reads the files that were not committed and neither skips nor duplicates.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
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


def _metadata_patch(mapping: dict[str, str]) -> str:
    """The JSON merge patch that removes the mapped top-level fields: what is left is `metadata`."""
    fields = [f for f in CANONICAL_COLUMNS if f != "metadata"]
    top_level_mapped = sorted({s for s in (mapping.get(f, f) for f in fields) if "." not in s})
    return "{" + ",".join(f'"{k}":null' for k in top_level_mapped) + "}"


def _canonical_select(mapping: dict[str, str], raw_exprs: dict[str, str] | None = None,
                      metadata: str | None = None) -> tuple[str, str, str]:
    """SQL that turns raw JSON objects `j` into canonical columns (+ a reject reason).

    Returns (select_list, reject_reason_expr, json_paths). The select list reads a CTE with `j` (JSON
    text), `is_object` and `v` (the strings at `json_paths`, one per canonical field). With
    `raw_exprs` (canonical field -> SQL giving the source field as text), those expressions are read
    instead of `v[...]` (the fast JSONL path reads the fields with DuckDB's own JSON reader), and
    `metadata` (SQL) instead of the unmapped fields taken out of `j`.
    """
    fields = [f for f in CANONICAL_COLUMNS if f != "metadata"]
    src = {f: mapping.get(f, f) for f in fields}  # unmapped canonical fields are looked up by their own name
    index = {f: i + 1 for i, f in enumerate(fields)}

    def raw(f: str) -> str:
        if raw_exprs is not None:
            return f"({raw_exprs[f]})"
        return f"v[{index[f]}]"

    cols: dict[str, str] = {}
    for f in fields:
        r = raw(f)
        if f == "id":
            # the hash of the record without the blanks around it: the same on both JSONL paths
            # (DuckDB's NDJSON reader drops them, the line-exact path keeps them)
            cols[f] = f"coalesce({r}, md5(trim(j, ' ' || chr(9) || chr(10) || chr(13))))"
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
    cols["metadata"] = metadata or f"CASE WHEN is_object THEN json_merge_patch(j, {sql_str(_metadata_patch(mapping))}) END"

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
    """Create temp tables `staged` (canonical rows of this file) and `staged_rejected`.

    JSONL goes through the fast path first; a file it cannot take whole (a malformed line, a line that
    is not an object, a row with a reject reason) is staged again by the line-exact path, which keeps
    the exact line number and reason of every bad line. Both paths give the same rows.
    """
    if source.format == "jsonl" and _stage_jsonl_fast(con, source.mapping, file):
        return
    _stage_raw(con, source.mapping, _raw_lines_sql(source.format, file))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# The fast JSONL path reads every unmapped top-level key as a column of its own (to build `metadata`
# without parsing the records a second time) up to this many keys; beyond, `metadata` comes from a
# second read of the records (json_merge_patch), as on the line-exact path.
_MAX_EXTRA_KEYS = 200


def _top_level_keys(con: duckdb.DuckDBPyConnection, f: str) -> tuple[int, dict[str, int]] | None:
    """(records, top-level key -> records holding it, keys in order of first appearance) of an NDJSON file.

    One parallel pass over the records that keeps nothing but each record's key list, grouped: a few
    rows for a log file whose records share a shape. None when the key lists cannot be trusted (a key
    holding the separator, a key repeated within a record); raises duckdb.Error on malformed JSON.
    """
    groups = con.execute(f"""
        SELECT array_to_string(k, chr(0)) AS s, len(k) AS n, count(*) AS c
        FROM (SELECT json_keys(json) AS k FROM read_ndjson_objects({f}))
        GROUP BY ALL ORDER BY c DESC, s""").fetchall()
    records, present = 0, {}
    for s, n, c in groups:
        if s is None:
            return None
        records += c
        keys = s.split("\0") if n else []
        if len(keys) != n or len(set(keys)) != n:
            return None
        for k in keys:
            present[k] = present.get(k, 0) + c
    return records, present


def _stage_jsonl_fast(con: duckdb.DuckDBPyConnection, mapping: dict[str, str], file: str) -> bool:
    """Stage a JSONL file with DuckDB's own parallel NDJSON reader; False if the file needs the slow path.

    The slow path reads raw lines and parses each one four times in SQL (valid? object? fields,
    metadata), numbering lines on the way; on 1M rows it runs at about a fifth of `read_ndjson`. Here:

    1. one pass lists every record's top-level keys (`_top_level_keys`, about a quarter of the cost of
       reading the fields), so that
    2. `read_ndjson` with an explicit schema reads the mapped source fields (every field as text, so
       numbers and objects come out as the same text `json_extract_string` gives) and every other key
       (as JSON), and `metadata` is put together from those other keys in the same statement.

    DuckDB's reader gives a JSON null and a missing key alike (NULL). A key that every record holds is
    null where it reads NULL; for the other keys the metadata is checked: the number of them it holds
    must equal the number the records hold. If not (a key that some records lack holds a null in
    another), or with too many distinct keys, `metadata` comes from a
    second read of the records' text (json_merge_patch), glued to the fields by position (parallel
    statements; one statement with a POSITIONAL JOIN of the two readers runs on one thread).
    Any error (malformed JSON, a line that is not an object) or any row with a reject reason sends the
    file to the line-exact path. Must run outside a transaction: a failed statement would abort it.
    """
    fields = [f for f in CANONICAL_COLUMNS if f != "metadata"]
    src = {f: mapping.get(f, f) for f in fields}
    tops: dict[str, str] = {}  # top-level source key -> type read (JSON when a mapping looks inside it)
    for f in fields:
        head, *rest = src[f].split(".")
        if rest:
            tops[head] = "JSON"
        else:
            tops.setdefault(head, "VARCHAR")
    top_level_mapped = {s for s in src.values() if "." not in s}
    f = sql_str(file)
    try:
        keys = _top_level_keys(con, f)
        extras: list[str] = []
        if keys is not None:
            records, present = keys
            extras = [k for k in present if k not in top_level_mapped]
            names = [*tops, *(k for k in extras if k not in tops)]
            if len(extras) > _MAX_EXTRA_KEYS or len({k.lower() for k in names}) != len(names):
                keys, extras = None, []  # too wide, or keys differing only in case: the second read
            for k in extras:
                tops.setdefault(k, "JSON")
        alias = {k: f"c{i}" for i, k in enumerate(tops)}
        raw_exprs: dict[str, str] = {}
        for fld in fields:
            head, *rest = src[fld].split(".")
            col = alias[head]
            if rest:
                raw_exprs[fld] = f"json_extract_string({col}, {sql_str(_json_path('.'.join(rest)))})"
            elif tops[head] == "JSON":
                raw_exprs[fld] = f"json_extract_string({col}, '$')"
            else:
                raw_exprs[fld] = col
        if keys is not None:
            # a key every record holds is there even where it reads NULL (a JSON null); any other key is
            # taken as absent where it reads NULL, which the count of `held` keys checks
            parts, partial = [], []
            for k in extras:
                key = sql_str(json.dumps(k, ensure_ascii=False) + ":")
                if present[k] == records:
                    parts.append(f"{key} || coalesce({alias[k]}::VARCHAR, 'null')")
                else:
                    parts.append(f"CASE WHEN {alias[k]} IS NOT NULL THEN {key} || {alias[k]}::VARCHAR END")
                    partial.append(k)
            metadata = f"('{{' || concat_ws(',', {', '.join(parts)}) || '}}')::JSON" if parts else "'{}'::JSON"
            held = " + ".join(f"({alias[k]} IS NOT NULL)::INTEGER" for k in partial) or "0"
        else:
            metadata, held = "NULL::JSON", "0"
        select, reason, _ = _canonical_select(mapping, raw_exprs, metadata)
        columns = "{" + ", ".join(f"{sql_str(k)}: '{t}'" for k, t in tops.items()) + "}"
        typed = f"SELECT true AS t_ok, {', '.join(f'{_quote_ident(k)} AS {alias[k]}' for k in tops)} " \
                f"FROM read_ndjson({f}, columns={columns}, records=true)"
        # the fields and, unless it comes from the second read, the metadata (without the raw text: `id`
        # stays NULL where the source has none)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE staged_fields AS
            WITH x AS (SELECT t.*, NULL::VARCHAR AS j, true AS is_object FROM ({typed}) t)
            SELECT {reason} AS reason, {select}, {held} AS lv_held FROM x""")
        bad, no_id, n, held_n = con.execute(
            "SELECT count(*) FILTER (WHERE reason IS NOT NULL), count(*) FILTER (WHERE id IS NULL), count(*), "
            "coalesce(sum(lv_held), 0) FROM staged_fields").fetchall()[0]
        con.execute("ALTER TABLE staged_fields DROP COLUMN lv_held")
        if bad:
            con.execute("DROP TABLE staged_fields")
            return False
        if no_id:
            # ids to derive from the raw record: one statement that reads both at once (single-threaded)
            con.execute("DROP TABLE staged_fields")
            select, reason, _ = _canonical_select(mapping, raw_exprs)
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE staged AS
                WITH x AS (
                  SELECT t.*, o.j, true AS is_object
                  FROM ({typed}) t POSITIONAL JOIN (SELECT json::VARCHAR AS j FROM read_ndjson_objects({f})) o
                )
                SELECT CASE WHEN t_ok IS NULL OR j IS NULL THEN 'misaligned' ELSE {reason} END AS reason, {select}
                FROM x""")
            if scalar(con, "SELECT count(*) FROM staged WHERE reason IS NOT NULL"):
                con.execute("DROP TABLE staged")
                return False
        elif keys is not None and n == records and held_n == sum(present[k] for k in partial):
            con.execute("ALTER TABLE staged_fields RENAME TO staged")
        else:
            # the metadata from a second read of the records' text, glued to the fields by position
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE staged_meta AS
                SELECT json_merge_patch(json, {sql_str(_metadata_patch(mapping))}) AS metadata
                FROM read_ndjson_objects({f})""")
            if scalar(con, "SELECT count(*) FROM staged_meta") != n:
                con.execute("DROP TABLE staged_fields")
                con.execute("DROP TABLE staged_meta")
                return False
            con.execute("""
                CREATE OR REPLACE TEMP TABLE staged AS
                SELECT f.* EXCLUDE (metadata), m.metadata FROM staged_fields f POSITIONAL JOIN staged_meta m""")
            con.execute("DROP TABLE staged_fields")
            con.execute("DROP TABLE staged_meta")
    except duckdb.IOException:
        raise
    except duckdb.Error:
        for t in ("staged_fields", "staged_meta"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        return False
    con.execute("CREATE OR REPLACE TEMP TABLE staged_rejected (line BIGINT, reason VARCHAR, raw VARCHAR)")
    return True


def _stage_raw(con: duckdb.DuckDBPyConnection, mapping: dict[str, str], raw_sql: str) -> None:
    """Create temp tables `staged` and `staged_rejected` from `raw_sql` rows (line BIGINT, j VARCHAR)."""
    select, reason, paths = _canonical_select(mapping)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE staged_all AS
        WITH r AS ({raw_sql}),
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


# New files are gathered into batches of at most this many staged rows (and _BATCH_FILES files): the
# feature INSERT runs once per batch. A file at least this large goes alone, straight from `staged`.
_BATCH_ROWS = 100_000
_BATCH_FILES = 64
# A pull of at least this much (about 10 s of work on two cores) says what it reads, and what the
# features of a batch of _BATCH_ROWS rows or more are computed on, before it starts.
_ANNOUNCE_BYTES = 200_000_000


def pull_files(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None,
               stage: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None) -> IngestResult:
    """Pull the files of the profile's source glob; `stage(con, file)` fills `staged`/`staged_rejected`
    (default: the file source's format and mapping; the OTel and provider-log sources pass their own).

    Files are staged one by one (outside any transaction: a fast path that gives up leaves no aborted
    transaction) and their temp tables kept; a batch of staged files is then committed in ONE
    transaction that holds, for every file of the batch, its rows (one feature INSERT for the whole
    batch), its rejected rows and its bookkeeping row. A crash before the COMMIT loses the whole batch
    and nothing else: the store stays at a file boundary, and the next pull re-reads those files.
    """
    source = profile.source
    if stage is None:
        assert isinstance(source, FileSource)
        stage = lambda c, f: _stage_file(c, source, f)  # noqa: E731
    pattern = profile.source_glob()
    files = sorted(glob.glob(pattern, recursive=True))
    result = IngestResult()
    if not files:
        folder = Path(pattern).parent
        hint = "" if folder.exists() else f" (folder {folder} does not exist)"
        raise SourceError(f"source of profile {profile.name!r}: no file matches {pattern}{hint}")
    known = {r[0]: (r[1], r[2]) for r in con.execute("SELECT path, size, mtime_ns FROM source_files").fetchall()}
    todo = []
    for file in files:
        st = os.stat(file)
        if known.get(file) != (st.st_size, st.st_mtime_ns):
            todo.append((file, st))
    if todo:
        features.register(con)  # only when there is something to ingest: it costs ~0.5 s
        size = sum(st.st_size for _, st in todo)
        if progress and size >= _ANNOUNCE_BYTES:
            plural = "s" if len(todo) > 1 else ""
            progress(f"reading {len(todo)} new or changed file{plural} ({size / 1e6:,.0f} MB)")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    batch: list[_Staged] = []
    try:
        for file, st in todo:
            try:
                with features.timer("ingest_stage"):
                    stage(con, file)
            except duckdb.IOException as e:
                _commit(con, batch, source.kind, now, result, progress)  # the files before it are fine
                raise SourceError(f"cannot read {file}: {e}") from None
            rows = scalar(con, "SELECT count(*) FROM staged")
            if batch and (sum(b.rows for b in batch) + rows > _BATCH_ROWS or len(batch) >= _BATCH_FILES):
                _commit(con, batch, source.kind, now, result, progress)
            k = len(batch)
            # keep this file's temp tables under names of their own (a rename: no copy)
            con.execute(f"ALTER TABLE staged RENAME TO lv_staged_{k}")
            con.execute(f"ALTER TABLE staged_rejected RENAME TO lv_staged_rejected_{k}")
            batch.append(_Staged(file, st, rows, f"lv_staged_{k}", f"lv_staged_rejected_{k}"))
            if rows >= _BATCH_ROWS:
                _commit(con, batch, source.kind, now, result, progress)
        _commit(con, batch, source.kind, now, result, progress)
    finally:
        for b in batch:  # staged but not committed (an error): nothing of them is in the store
            con.execute(f"DROP TABLE IF EXISTS {b.rows_table}")
            con.execute(f"DROP TABLE IF EXISTS {b.rejected_table}")
    result.total_rows = scalar(con, "SELECT count(*) FROM interactions")
    return result


@dataclass
class _Staged:
    file: str
    st: os.stat_result
    rows: int  # staged rows (before dedupe)
    rows_table: str
    rejected_table: str


def _commit(con: duckdb.DuckDBPyConnection, batch: list[_Staged], kind: str, now: datetime,
            result: IngestResult, progress: Progress | None) -> None:
    """Insert a batch of staged files in one transaction (rows, rejected rows, bookkeeping of each
    file); on success drop their temp tables, count them into `result` and empty `batch`."""
    if not batch:
        return
    rows = sum(b.rows for b in batch)
    if progress and rows >= _BATCH_ROWS:
        progress(f"computing the features of {rows:,} rows")
    con.execute("BEGIN TRANSACTION")
    try:
        new = features.insert_new_batch(con, [(b.rows_table, b.file) for b in batch], ingested_at=now)
        rejected = []
        for b, n in zip(batch, new):
            con.execute("DELETE FROM rejected WHERE file = ?", [b.file])
            con.execute(f"INSERT INTO rejected SELECT ?, ?, line, reason, raw, ? FROM {b.rejected_table}",
                        [kind, b.file, now])
            rej = scalar(con, f"SELECT count(*) FROM {b.rejected_table}")
            con.execute(
                "INSERT OR REPLACE INTO source_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [b.file, b.st.st_size, b.st.st_mtime_ns, b.rows, n, rej, now],
            )
            rejected.append(rej)
        con.execute("COMMIT")
    except duckdb.IOException as e:
        con.execute("ROLLBACK")
        raise SourceError(f"cannot read {', '.join(b.file for b in batch)}: {e}") from None
    except Exception:
        con.execute("ROLLBACK")
        raise
    for b, n, rej in zip(batch, new, rejected):
        result.files_read += 1
        result.new_rows += n
        result.rejected += rej
        if rej:
            result.rejected_examples.extend(
                {"file": b.file, "line": line, "reason": reason}
                for line, reason in con.execute(
                    f"SELECT line, reason FROM {b.rejected_table} ORDER BY line LIMIT 5"
                ).fetchall()
            )
        con.execute(f"DROP TABLE {b.rows_table}")
        con.execute(f"DROP TABLE {b.rejected_table}")
        if progress:
            progress(f"ingested {Path(b.file).name}: {n} new rows" + (f", {rej} rejected" if rej else ""))
    batch.clear()


def pull(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None) -> IngestResult:
    """Pull whatever is new in the profile's source into the store."""
    if isinstance(profile.source, FileSource):
        return pull_files(con, profile, progress)
    if profile.source.kind == "postgres":
        from llmvigil.source_postgres import pull_postgres

        return pull_postgres(con, profile, progress)
    if profile.source.kind == "otel":
        from llmvigil.source_otel import pull_otel

        return pull_otel(con, profile, progress)
    if profile.source.kind == "provider_logs":
        from llmvigil.source_provider import pull_provider_logs

        return pull_provider_logs(con, profile, progress)
    raise SourceError(f"unsupported source kind {profile.source.kind!r}")
