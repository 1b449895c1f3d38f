"""Benchmark of the PostgreSQL and OpenTelemetry sources (issue 7). One command, one JSON object on stdout.

    .venv/bin/python benchmarks/bench_sources.py                       # 1M PostgreSQL rows, 100k spans
    .venv/bin/python benchmarks/bench_sources.py --pg-rows 100000 --spans 20000 --only otel

PostgreSQL (the server on 127.0.0.1:5432, database `test`; a schema of its own, dropped at the end):
a LiteLLM_SpendLogs table of N rows (prompts stored), then, each into a new DuckDB file,
  * pg_fetch    ADBC stream of `SELECT * ... ORDER BY "startTime", request_id` into a DuckDB table
                (transport only: the driver choice, see source_postgres.py);
  * pg_pull     `sources.pull` with `preset: litellm` (fetch, canonical rows, features, watermark);
  * reference   DuckDB's own `read_ndjson` of the same N rows (exported as NDJSON) into a table, and
                the file source's `sources.pull` of the same N interactions as canonical NDJSON
                (same features: the end-to-end reference).
OpenTelemetry: an OTLP JSON file of S GenAI spans (current conventions, 100 spans an export line),
  * otel_pull   `sources.pull` of the file (spans to canonical rows, features);
  * reference   `read_ndjson` of the same S spans written one span a line, and the file source's pull
                of the same S interactions as canonical NDJSON.
Ratios are rows/s of the source divided by rows/s of the reference. Data lives in a temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from tests.litellm_table import LITELLM_TABLE_DDL  # noqa: E402

DSN = os.environ.get("LLMVIGIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
T0_NS = 1_796_032_800_000_000_000  # 2026-11-30T10:00:00Z

LITELLM_ROWS = """
INSERT INTO {s}."LiteLLM_SpendLogs" (request_id, api_key, spend, total_tokens, prompt_tokens, completion_tokens,
  "startTime", "endTime", "completionStartTime", model, model_group, custom_llm_provider, metadata, end_user,
  messages, response, session_id, status)
SELECT 'req-' || g, 'hashed-key-' || (g % 20), 0.00002 * (g % 50), 150, 120, 30,
  timestamp '2026-11-01' + g * interval '200 milliseconds',
  timestamp '2026-11-01' + g * interval '200 milliseconds' + (400 + g % 2000) * interval '1 millisecond',
  timestamp '2026-11-01' + g * interval '200 milliseconds' + (400 + g % 2000) * interval '1 millisecond',
  CASE WHEN g % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 'support', 'openai',
  jsonb_build_object('user_api_key_alias', 'support-bot', 'requester_ip_address', '10.0.0.' || (g % 250)),
  'customer-' || (g % 5000),
  jsonb_build_array(jsonb_build_object('role', 'system', 'content', 'You are the support assistant of an online shop.'),
                    jsonb_build_object('role', 'user', 'content',
                      CASE WHEN g % 3 = 0 THEN '¿Dónde está mi pedido ' || g || '? Debía llegar ayer.'
                           ELSE 'Where is my order ' || g || '? It was due yesterday.' END)),
  jsonb_build_object('id', 'chatcmpl-' || g, 'object', 'chat.completion', 'model', 'gpt-4o-mini-2024-07-18',
    'choices', jsonb_build_array(jsonb_build_object('index', 0,
      'finish_reason', CASE WHEN g % 97 = 0 THEN 'content_filter' ELSE 'stop' END,
      'message', jsonb_build_object('role', 'assistant', 'refusal', NULL, 'content',
        CASE WHEN g % 41 = 0 THEN 'I''m sorry, I can''t help with that.'
             WHEN g % 3 = 0 THEN 'Su pedido ' || g || ' sale mañana; recibirá el seguimiento por correo.'
             ELSE 'Your order ' || g || ' ships tomorrow; you will get a tracking link by email.' END))),
    'usage', jsonb_build_object('prompt_tokens', 120, 'completion_tokens', 30, 'total_tokens', 150)),
  'sess-' || (g / 4), CASE WHEN g % 53 = 0 THEN 'failure' ELSE 'success' END
FROM generate_series($1::int, $2::int) g
"""


def _rate(rows: int, seconds: float) -> dict:
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds) if seconds else None}


def _profile(tmp: Path, name: str, source: dict):
    import yaml

    from llmvigil.profile import load_profile

    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "store": str(tmp / f"{name}.duckdb"), "source": source,
                                    "memory_limit": "4GB"}))
    return load_profile(path)


def _timed_pull(profile) -> tuple[float, int]:
    from llmvigil import sources
    from llmvigil.store import open_store

    with open_store(profile.store_path, memory_limit=profile.memory_limit) as con:
        t = time.perf_counter()
        result = sources.pull(con, profile)
        return time.perf_counter() - t, result.new_rows


def _read_ndjson(tmp: Path, name: str, file: Path) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect(str(tmp / f"{name}.duckdb"))
    t = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_ndjson('{file}')")
    seconds = time.perf_counter() - t
    n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return seconds, n


def _canonical_ndjson(store: Path, out: Path) -> None:
    """The interactions of a store as NDJSON in canonical field names (for the file-source reference)."""
    import duckdb

    from llmvigil.store import CANONICAL_COLUMNS

    cols = ", ".join(c for c in CANONICAL_COLUMNS if c not in ("user_id",))
    con = duckdb.connect(str(store), read_only=True)
    con.execute(f"COPY (SELECT {cols} FROM interactions) TO '{out}' (FORMAT json)")
    con.close()


def bench_pg(rows: int, tmp: Path) -> dict:
    import adbc_driver_postgresql.dbapi as pg
    import duckdb

    schema = f"llmvigil_bench_{uuid.uuid4().hex[:10]}"
    conn = pg.connect(DSN, autocommit=True)
    cur = conn.cursor()
    out: dict = {"rows": rows}
    try:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(LITELLM_TABLE_DDL.format(s=schema))
        t = time.perf_counter()
        step = 200_000
        for first in range(1, rows + 1, step):
            cur.execute(LITELLM_ROWS.format(s=schema), parameters=(first, min(first + step - 1, rows)))
        cur.execute(f'CREATE INDEX ON {schema}."LiteLLM_SpendLogs" ("startTime")')
        cur.execute(f'ANALYZE {schema}."LiteLLM_SpendLogs"')
        out["setup_seconds"] = round(time.perf_counter() - t, 1)

        # transport only
        db = duckdb.connect(str(tmp / "pg_fetch.duckdb"))
        t = time.perf_counter()
        with pg.connect(DSN) as c2, c2.cursor() as cur2:
            cur2.execute(f'SELECT * FROM {schema}."LiteLLM_SpendLogs" ORDER BY "startTime", request_id')
            reader = cur2.fetch_record_batch()  # noqa: F841 - read by DuckDB's replacement scan
            db.execute("CREATE TABLE fetched AS SELECT * FROM reader")
        out["pg_fetch"] = _rate(rows, time.perf_counter() - t)
        ndjson = tmp / "litellm_rows.jsonl"
        db.execute(f"COPY fetched TO '{ndjson}' (FORMAT json)")
        db.close()
        out["ndjson_mb"] = round(ndjson.stat().st_size / 1e6)

        profile = _profile(tmp, "pg", {"kind": "postgres", "preset": "litellm", "dsn_env": "LLMVIGIL_BENCH_PG_DSN",
                                       "table": f"{schema}.LiteLLM_SpendLogs", "lookback": "0s",
                                       "batch_rows": 100_000})
        os.environ["LLMVIGIL_BENCH_PG_DSN"] = DSN
        seconds, new = _timed_pull(profile)
        out["pg_pull"] = _rate(new, seconds)
    finally:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.close()
        conn.close()

    canonical = _add_references(out, tmp, "pg", ndjson, profile, "pg_pull")
    out["ratio_fetch_vs_read_ndjson"] = round(out["pg_fetch"]["rows_per_s"] / out["reference_read_ndjson"]["rows_per_s"], 2)
    for f in (ndjson, canonical):
        f.unlink()
    return out


def _add_references(out: dict, tmp: Path, tag: str, raw_ndjson: Path, profile, pull_key: str) -> Path:
    """Reference figures beside a source's pull: DuckDB's read_ndjson of the raw rows, and a file-source pull
    of the same canonical rows. Returns the canonical rows' file."""
    seconds, n = _read_ndjson(tmp, f"{tag}_ref", raw_ndjson)
    out["reference_read_ndjson"] = _rate(n, seconds)
    canonical = tmp / f"{tag}_canonical" / "rows.jsonl"
    canonical.parent.mkdir()
    _canonical_ndjson(profile.store_path, canonical)
    seconds, new = _timed_pull(_profile(tmp, f"{tag}_file", {"kind": "files", "path": str(canonical)}))
    out["reference_file_source_pull"] = _rate(new, seconds)
    pulled = out[pull_key]["rows_per_s"]
    out["ratio_pull_vs_read_ndjson"] = round(pulled / out["reference_read_ndjson"]["rows_per_s"], 3)
    out["ratio_pull_vs_file_source_pull"] = round(pulled / out["reference_file_source_pull"]["rows_per_s"], 2)
    return canonical


def _span(i: int) -> dict:
    def kv(k, v):
        if isinstance(v, int):
            return {"key": k, "value": {"intValue": str(v)}}
        if isinstance(v, float):
            return {"key": k, "value": {"doubleValue": v}}
        if isinstance(v, list):
            return {"key": k, "value": {"arrayValue": {"values": [{"stringValue": x} for x in v]}}}
        return {"key": k, "value": {"stringValue": v}}

    start = T0_NS + i * 50_000_000
    question = f"¿Dónde está mi pedido {i}?" if i % 3 == 0 else f"Where is my order {i}? It was due yesterday."
    answer = "I'm sorry, I can't help with that." if i % 41 == 0 else f"Your order {i} ships tomorrow."
    finish = "content_filter" if i % 97 == 0 else "stop"
    attrs = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o" if i % 3 == 0 else "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 512, "gen_ai.response.id": f"chatcmpl-{i}",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, "gen_ai.conversation.id": f"conv-{i // 4}",
        "gen_ai.input.messages": json.dumps([
            {"role": "system", "parts": [{"type": "text", "content": "You are the support assistant."}]},
            {"role": "user", "parts": [{"type": "text", "content": question}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}],
                                               "finish_reason": finish}]),
        "gen_ai.response.finish_reasons": [finish], "server.address": "api.openai.com", "server.port": 443,
    }
    return {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "parentSpanId": f"{i + 1:016x}", "name": "chat gpt-4o-mini",
            "kind": 3, "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + (400 + i % 2000) * 1_000_000),
            "attributes": [kv(k, v) for k, v in attrs.items()], "status": {"code": 0}}


def bench_otel(spans: int, tmp: Path) -> dict:
    folder, flat = tmp / "otel", tmp / "spans_one_per_line.jsonl"
    folder.mkdir()
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "support-bot"}}]}
    with (folder / "traces.jsonl").open("w") as f, flat.open("w") as g:
        for first in range(0, spans, 100):
            batch = [_span(i) for i in range(first, min(first + 100, spans))]
            f.write(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
                {"scope": {"name": "opentelemetry.instrumentation.openai_v2"}, "spans": batch}]}]}) + "\n")
            for s in batch:
                g.write(json.dumps(s) + "\n")
    out: dict = {"spans": spans, "file_mb": round((folder / "traces.jsonl").stat().st_size / 1e6)}
    profile = _profile(tmp, "otel", {"kind": "otel", "path": str(folder / "*.jsonl")})
    seconds, new = _timed_pull(profile)
    out["otel_pull"] = _rate(new, seconds)
    _add_references(out, tmp, "otel", flat, profile, "otel_pull")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-rows", type=int, default=1_000_000)
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--only", default="pg,otel", help="comma-separated: pg, otel")
    args = ap.parse_args()
    import llmvigil  # noqa: F401 - telemetry off before anything else is imported

    only = set(args.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="llmvigil-bench-sources-"))
    result: dict = {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 1) for x in os.getloadavg()]}
    try:
        if "pg" in only:
            result["postgres"] = bench_pg(args.pg_rows, tmp)
        if "otel" in only:
            result["otel"] = bench_otel(args.spans, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["load_avg_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
