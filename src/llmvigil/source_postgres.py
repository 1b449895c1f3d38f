"""PostgreSQL source: a table or a query, pulled incrementally by a timestamp column (an id breaks ties).

Driver: ADBC (`adbc-driver-postgresql`, libpq inside the wheel). It streams the result as Arrow record
batches that DuckDB scans directly, with no Python object per value. Measured here on 200k
LiteLLM-shaped rows (PostgreSQL 15 on loopback, into a DuckDB table): ADBC 3.2-5.4 s; psycopg 3
`COPY ... TO STDOUT (FORMAT CSV)` into a temp file read by DuckDB 9.1 s; psycopg 3 binary COPY through
Python rows 36 s. DuckDB's own postgres extension is no option: DuckDB 2.0 downloads it at INSTALL time,
which fails offline. `benchmarks/bench_sources.py`, 1M rows (2 shared cores, load 5-10): ADBC fetch into
DuckDB 21-46 s, i.e. 0.7-1.5x DuckDB's own `read_ndjson` of the same rows as NDJSON (32-33 s); the full
pull (canonical rows, features, watermark) 231 s, then 161 s once the LiteLLM preset stopped copying
`messages`/`response` into metadata: 0.4x, then 0.99x the file source's pull of the same interactions
(the load moved between runs; compare within one run).

A pull:
- reads the watermark (last stored timestamp and id, table `source_watermarks`) and runs one query,
  `... WHERE ts >= watermark - lookback ORDER BY ts, id::text COLLATE "C"` (strictly after
  (ts, id) when `lookback` is 0), streamed;
- stores it in batches of `batch_rows`: each batch's rows, its rejected rows and the advanced watermark
  are written in ONE DuckDB transaction, so a crash mid-pull leaves the watermark exactly where the
  stored data ends; the next pull neither skips nor duplicates;
- is idempotent: rows are deduplicated by id (`features.insert_new_rows`), rejected rows by content.

Late rows (committed after rows with a later timestamp were pulled, e.g. LiteLLM writes spend logs from
a queue): every pull re-reads `lookback` (default 15 min) behind the watermark, and the dedup by id keeps
only the rows not stored yet. A row whose timestamp is older than the watermark minus `lookback` when it
is committed is not seen: raise `lookback` for sources that commit later than that. Rows are read once:
an update to a stored row is not picked up.

Credentials come from the environment variable named by `dsn_env` (never from the profile) and are
masked in every message.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb

from llmvigil import chatlog, features
from llmvigil.profile import PostgresSource, Profile
from llmvigil.results import IngestResult
from llmvigil.sources import Progress, SourceError
from llmvigil.store import CANONICAL_COLUMNS, scalar, sql_str

_WM_TS, _WM_ID = "llmvigil_wm_ts", "llmvigil_wm_id"


@dataclass(frozen=True)
class PgSpec:
    """A postgres source with its preset applied."""

    label: str
    table: str | None
    query: str | None
    ts_column: str
    id_column: str
    mapping: dict[str, str]
    derive: dict[str, str]
    missing_prompt: str | None
    consumed: tuple[str, ...]  # columns read whole into derived fields, left out of metadata
    batch_rows: int
    lookback: timedelta
    dsn_env: str
    preset: dict[str, Any] = field(default_factory=dict, compare=False)


def load_preset(name: str) -> dict[str, Any]:
    """A ready mapping shipped in the package (`llmvigil/presets/<name>.yaml`)."""
    import yaml

    return yaml.safe_load((resources.files("llmvigil") / "presets" / f"{name}.yaml").read_text(encoding="utf-8"))


def resolve(source: PostgresSource) -> PgSpec:
    preset = load_preset(source.preset) if source.preset else {}
    table = source.table or (None if source.query else preset.get("table"))
    mapping = {**preset.get("mapping", {}), **source.mapping}
    # A field the profile maps or derives itself replaces the preset's derivation of it.
    derive = {k: v for k, v in preset.get("derive", {}).items() if k not in source.mapping}
    derive.update(source.derive)
    for f in derive:
        mapping.pop(f, None)
    ts_column, id_column = source.ts_column or preset["ts_column"], source.id_column or preset["id_column"]
    for f, column in (("id", id_column), ("ts", ts_column)):
        if f not in derive:
            mapping.setdefault(f, column)
    what = table if table else "query " + hashlib.md5((source.query or "").encode()).hexdigest()[:12]
    return PgSpec(
        label=f"postgres:{what}", table=table, query=source.query,
        ts_column=ts_column, id_column=id_column,
        mapping=mapping, derive=derive, missing_prompt=preset.get("missing_prompt") if "prompt" in derive else None,
        consumed=tuple(c for c in preset.get("consumed", []) if c not in source.mapping.values()),
        batch_rows=source.batch_rows, lookback=source.lookback, dsn_env=source.dsn_env, preset=preset,
    )


# ---- credentials --------------------------------------------------------------------------------
def _password(dsn: str) -> str | None:
    if "://" in dsn:
        try:
            pw = urlsplit(dsn).password
        except ValueError:
            return None
        return unquote(pw) if pw else None
    m = re.search(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn, re.I)
    return m.group(1).strip("'") if m else None


def mask(text: str, dsn: str = "") -> str:
    """`text` with every password (URL userinfo, password=..., the DSN's own) replaced by ***."""
    out = re.sub(r"(://[^:/@\s]*:)([^@\s]*)@", r"\1***@", str(text))
    out = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", out, flags=re.I)
    pw = _password(dsn) if dsn else None
    if pw:
        for form in {pw, re.sub(r"[^A-Za-z0-9._~-]", lambda c: "%%%02X" % ord(c.group()), pw)}:
            out = out.replace(form, "***")
    return out


# ---- SQL ----------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _utc_naive(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(timezone.utc).replace(tzinfo=None)


def build_query(spec: PgSpec, watermark: tuple[datetime, str] | None) -> tuple[str, tuple]:
    """The PostgreSQL query of one pull, with its parameters (the session runs in UTC)."""
    ts = _q(spec.ts_column)
    id_text = f'{_q(spec.id_column)}::text COLLATE "C"'
    if spec.table:
        rel = ".".join(_q(p) for p in spec.table.split(".", 1))
    else:
        rel = f"({spec.query}) AS llmvigil_src"
    where, params = [f"{ts} IS NOT NULL"], ()
    if watermark is not None:
        wm_ts, wm_id = watermark
        if spec.lookback > timedelta(0):
            where.append(f"{ts} >= $1::timestamptz")
            params = ((wm_ts - spec.lookback).isoformat() + "+00:00",)
        else:
            where.append(f"({ts}, {id_text}) > ($1::timestamptz, $2::text)")
            params = (wm_ts.isoformat() + "+00:00", wm_id)
    sql = (f"SELECT *, {ts}::timestamptz AS {_WM_TS}, {id_text} AS {_WM_ID} FROM {rel} "
           f"WHERE {' AND '.join(where)} ORDER BY {ts}, {id_text}")
    return sql, params


def _stage_batch(con: duckdb.DuckDBPyConnection, spec: PgSpec) -> None:
    """Temp tables `staged` / `staged_rejected` from the registered batch `pg_batch`.

    The columns are typed already: each canonical field is read straight from its column or `derive`
    expression (as text, into `sources._canonical_select`, like the file source's fast path) instead of
    going through a JSON text of the row; that JSON (`to_json` of the row) only becomes `metadata`.
    """
    from llmvigil.sources import _RAW_KEEP, _canonical_select, _json_path

    types = {name: typ for name, typ, *_ in con.execute("DESCRIBE SELECT * FROM pg_batch").fetchall()}
    fields = [f for f in CANONICAL_COLUMNS if f != "metadata"]
    names: dict[str, str] = {}
    values: list[str] = []
    for f in fields:
        if f in spec.derive:
            names[f] = f"derive.{f}"
            expr = f"CAST(({spec.derive[f]}) AS VARCHAR)"
        else:
            names[f] = spec.mapping.get(f, f)
            head, *rest = names[f].split(".")
            if head not in types:
                if f in spec.mapping:
                    raise SourceError(f"{spec.label}: mapping {f}: {names[f]}: no column {head!r} in the pulled "
                                      f"rows (columns: {', '.join(c for c in types if c not in (_WM_TS, _WM_ID))})")
                expr = "NULL::VARCHAR"
            elif rest:
                col = _q(head) if types[head] == "JSON" else f"to_json({_q(head)})"
                expr = f"json_extract_string({col}, {sql_str(_json_path('.'.join(rest)))})"
            elif types[head] == "JSON":
                expr = f"json_extract_string({_q(head)}, '$')"
            else:
                expr = f"CAST({_q(head)} AS VARCHAR)"
        values.append(f"{expr} AS {_q('r:' + f)}")
    select, reason, _ = _canonical_select(names, {f: _q("r:" + f) for f in fields})
    if spec.missing_prompt:
        reason = f"coalesce(CASE WHEN {_q('r:prompt')} IS NULL THEN {sql_str(spec.missing_prompt)} END, {reason})"
    row = "p"
    if spec.consumed:
        kept = [c for c in types if c not in (_WM_TS, _WM_ID, *spec.consumed)]
        row = "{" + ", ".join(f"{sql_str(c)}: p.{_q(c)}" for c in kept) + "}"
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE staged_all AS
            WITH x AS MATERIALIZED (  -- one SELECT: a column named like these aliases still means the column
              SELECT row_number() OVER () AS line, to_json({row})::VARCHAR AS j, true AS is_object,
                     {', '.join(values)}
              FROM (SELECT * EXCLUDE ({_WM_TS}, {_WM_ID}) FROM pg_batch) p
            )
            SELECT line, j, {reason} AS reason, {select} FROM x
        """)
    except duckdb.Error as e:
        raise SourceError(f"{spec.label}: cannot map the pulled rows (check `derive` and `mapping`): {e}") from None
    con.execute("CREATE OR REPLACE TEMP TABLE staged_rejected AS "
                "SELECT line, reason, left(j, ?) AS raw FROM staged_all WHERE reason IS NOT NULL", [_RAW_KEEP])
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {', '.join(CANONICAL_COLUMNS)} "
                "FROM staged_all WHERE reason IS NULL")
    con.execute("DROP TABLE staged_all")


# ---- watermark ----------------------------------------------------------------------------------
def read_watermark(con: duckdb.DuckDBPyConnection, label: str) -> tuple[datetime, str] | None:
    rows = con.execute("SELECT ts, id FROM source_watermarks WHERE source = ?", [label]).fetchall()
    return (rows[0][0], rows[0][1]) if rows and rows[0][0] is not None else None


# ---- pull ---------------------------------------------------------------------------------------
class _Batches:
    """Re-cut the driver's record batches into tables of `size` rows (the last one may be shorter)."""

    def __init__(self, reader, size: int):
        self.reader, self.size = reader, size

    def __iter__(self):
        import pyarrow as pa

        pending, n = [], 0
        for batch in self.reader:
            pending.append(batch)
            n += batch.num_rows
            while n >= self.size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, self.size)
                rest = table.slice(self.size)
                pending, n = rest.to_batches(), rest.num_rows
        if n:
            yield pa.Table.from_batches(pending)


def _store_batch(con: duckdb.DuckDBPyConnection, spec: PgSpec, table, watermark, rows_read: int,
                 now: datetime) -> tuple[int, int, tuple[datetime, str]]:
    """Rows, rejected rows and the watermark of one batch, in one transaction."""
    last = (_utc_naive(table.column(_WM_TS)[-1].as_py()), table.column(_WM_ID)[-1].as_py())
    new_wm = max(watermark, last) if watermark is not None else last
    con.register("pg_batch", table)
    con.execute("BEGIN TRANSACTION")
    try:
        _stage_batch(con, spec)
        new = features.insert_new_rows(con, source_file=spec.label, ingested_at=now)
        # a row re-read in the lookback window is rejected once, not at every pull
        con.execute("""
            CREATE OR REPLACE TEMP TABLE staged_rejected AS SELECT * FROM staged_rejected s
            WHERE NOT EXISTS (SELECT 1 FROM rejected r WHERE r.source = 'postgres' AND r.file = ? AND r.raw = s.raw)""",
            [spec.label])
        con.execute("INSERT INTO rejected SELECT 'postgres', ?, NULL, reason, raw, ? FROM staged_rejected",
                    [spec.label, now])
        rej = scalar(con, "SELECT count(*) FROM staged_rejected")
        con.execute("INSERT OR REPLACE INTO source_watermarks VALUES (?, ?, ?, ?, ?)",
                    [spec.label, new_wm[0], new_wm[1], rows_read + table.num_rows, now])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("pg_batch")
    return new, rej, new_wm


def pull_postgres(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None) -> IngestResult:
    """Pull the rows added since the last watermark (see the module docstring)."""
    import adbc_driver_manager

    source = profile.source
    assert isinstance(source, PostgresSource)
    spec = resolve(source)
    where = f"source of profile {profile.name!r} ({spec.label})"
    dsn = os.environ.get(spec.dsn_env)
    if not dsn:
        raise SourceError(f"{where}: environment variable {spec.dsn_env} is not set; it holds the PostgreSQL "
                          "connection string, e.g. postgresql://user:password@host:5432/dbname")
    chatlog.register(con)
    features.register(con)
    watermark = read_watermark(con, spec.label)
    rows_read = scalar(con, "SELECT rows_read FROM source_watermarks WHERE source = ?", [spec.label]) or 0
    sql, params = build_query(spec, watermark)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    result = IngestResult()

    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa

    try:
        conn = pg.connect(dsn)
    except adbc_driver_manager.Error as e:
        raise SourceError(f"{where}: cannot connect to PostgreSQL ({mask(_target(dsn), dsn)}): "
                          f"{mask(str(e), dsn).strip()}") from None
    try:
        cur = conn.cursor()
        try:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(sql, parameters=params or None)
            reader = cur.fetch_record_batch()
        except adbc_driver_manager.Error as e:
            raise SourceError(f"{where}: query failed: {mask(str(e), dsn).strip()}") from None
        batches = iter(_Batches(reader, spec.batch_rows))
        while True:
            try:
                table = next(batches, None)
            except (adbc_driver_manager.Error, pa.ArrowException, OSError) as e:
                raise SourceError(f"{where}: reading rows failed: {mask(str(e), dsn).strip()}") from None
            if table is None:
                break
            new, rej, watermark = _store_batch(con, spec, table, watermark, rows_read, now)
            rows_read += table.num_rows
            result.new_rows += new
            result.rejected += rej
            if rej and len(result.rejected_examples) < 5:
                result.rejected_examples.extend(
                    {"file": spec.label, "id": rid, "reason": reason}
                    for rid, reason in con.execute(
                        f"SELECT json_extract_string(raw, {sql_str('$.' + _q(spec.id_column))}), reason "
                        "FROM staged_rejected LIMIT 5").fetchall())
            if progress:
                progress(f"{spec.label}: {table.num_rows} rows read, {new} new"
                         + (f", {rej} rejected" if rej else "") + f" (up to {watermark[0]:%Y-%m-%d %H:%M:%S})")
        cur.close()
    finally:
        conn.close()
    result.total_rows = scalar(con, "SELECT count(*) FROM interactions")
    return result


def _target(dsn: str) -> str:
    """host:port/dbname of a DSN for messages (no user, no password)."""
    if "://" in dsn:
        try:
            u = urlsplit(dsn)
            return f"{u.hostname or 'localhost'}:{u.port or 5432}{u.path or ''}"
        except ValueError:
            return "the configured server"
    kv = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    return f"{kv.get('host', 'localhost')}:{kv.get('port', 5432)}/{kv.get('dbname', '')}"
