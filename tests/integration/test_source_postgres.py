"""PostgreSQL source against the server on this machine (127.0.0.1:5432, database `test`, trust auth).

Each test works in its own schema (dropped afterwards): other developers use the same database.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timedelta

import pytest

from llmvigil import pipeline, sources
from llmvigil.store import open_store
from tests.litellm_table import LITELLM_TABLE_DDL

DSN = os.environ.get("LLMVIGIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
T0 = datetime(2026, 11, 30, 10, 0, 0)

LITELLM_DDL = LITELLM_TABLE_DDL.rstrip() + """;
CREATE INDEX ON {s}."LiteLLM_SpendLogs" ("startTime");
"""

# Rows `prefix || g` for g in [$3, $4], starting at $2 + g seconds (LiteLLM with store_prompts_in_spend_logs).
LITELLM_ROWS = """
INSERT INTO {s}."LiteLLM_SpendLogs" (request_id, api_key, spend, total_tokens, prompt_tokens, completion_tokens,
  "startTime", "endTime", "completionStartTime", model, model_group, metadata, end_user, messages, response,
  session_id, status)
SELECT $1 || g, 'hashed-key', 0.0015, 150, 120, 30,
  $2::timestamp + g * interval '1 second', $2::timestamp + g * interval '1 second' + interval '850 milliseconds',
  $2::timestamp + g * interval '1 second' + interval '850 milliseconds', 'gpt-4o-mini', 'support',
  jsonb_build_object('user_api_key_alias', 'support-bot'), 'customer-' || (g % 7),
  jsonb_build_array(jsonb_build_object('role', 'system', 'content', 'You are the shop assistant.'),
                    jsonb_build_object('role', 'user', 'content', 'Hi'),
                    jsonb_build_object('role', 'assistant', 'content', 'Hello! How can I help?'),
                    jsonb_build_object('role', 'user', 'content', 'Where is my order ' || g || '?')),
  jsonb_build_object('id', 'chatcmpl-' || g, 'object', 'chat.completion', 'model', 'gpt-4o-mini-2024-07-18',
    'choices', jsonb_build_array(jsonb_build_object('index', 0, 'finish_reason', 'stop',
      'message', jsonb_build_object('role', 'assistant', 'content', 'Order ' || g || ' ships tomorrow.',
                                    'refusal', NULL))),
    'usage', jsonb_build_object('prompt_tokens', 120, 'completion_tokens', 30)),
  'sess-' || (g / 10), 'success'
FROM generate_series($3::int, $4::int) g
"""


class Pg:
    def __init__(self, conn, schema: str):
        self.conn, self.schema = conn, schema

    def run(self, sql: str, params: tuple | None = None) -> None:
        with self.conn.cursor() as cur:
            for stmt in filter(str.strip, sql.format(s=self.schema).split(";\n")):
                cur.execute(stmt, parameters=params)

    def litellm_rows(self, prefix: str, first: int, last: int, start: datetime = T0) -> None:
        self.run(LITELLM_ROWS, (prefix, start.isoformat(), first, last))


@pytest.fixture
def pg():
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as dbapi

    try:
        conn = dbapi.connect(DSN, autocommit=True)
    except adbc_driver_manager.Error as e:
        pytest.fail(f"PostgreSQL is not reachable at {DSN} ({str(e).splitlines()[0]}).\n"
                    f"Start it with: {START}", pytrace=False)
    db = Pg(conn, f"llmvigil_test_{uuid.uuid4().hex[:12]}")
    db.run("CREATE SCHEMA {s}")
    try:
        yield db
    finally:
        db.run("DROP SCHEMA {s} CASCADE")
        conn.close()


@pytest.fixture
def pg_profile(make_profile, monkeypatch, pg):
    monkeypatch.setenv("LLMVIGIL_PG_DSN", DSN)

    def _make(**source):
        return make_profile(source={"kind": "postgres", **source})

    return _make


def _count(con, sql="SELECT count(*), count(DISTINCT id) FROM interactions"):
    return con.execute(sql).fetchall()[0]


@pytest.mark.slow
def test_litellm_two_pulls_with_new_and_late_rows(pg, pg_profile):
    pg.run(LITELLM_DDL)
    pg.litellm_rows("req-", 1, 100)
    # a refusal, a content filter, a failed call, and a row logged without its prompt (rejected)
    pg.run("""UPDATE {s}."LiteLLM_SpendLogs" SET response = jsonb_set(jsonb_set(response,
              '{{choices,0,message,refusal}}', '"I can\\u0027t help with that."'),
              '{{choices,0,message,content}}', 'null') WHERE request_id = 'req-10'""")
    pg.run("""UPDATE {s}."LiteLLM_SpendLogs" SET response = jsonb_set(response, '{{choices,0,finish_reason}}',
              '"content_filter"') WHERE request_id = 'req-11'""")
    pg.run("""UPDATE {s}."LiteLLM_SpendLogs" SET status = 'failure', response = '{{}}',
              metadata = '{{"error_information": {{"error_class": "RateLimitError"}}}}' WHERE request_id = 'req-12'""")
    pg.run("""UPDATE {s}."LiteLLM_SpendLogs" SET messages = '{{}}' WHERE request_id = 'req-98'""")
    p = pg_profile(preset="litellm", table=f"{pg.schema}.LiteLLM_SpendLogs", lookback="5m", batch_rows=30)

    with open_store(p.store_path) as con:
        first = sources.pull(con, p)
        wm = con.execute("SELECT ts, id, rows_read FROM source_watermarks").fetchall()
    assert (first.new_rows, first.rejected, first.total_rows) == (99, 1, 99)
    assert wm == [(T0 + timedelta(seconds=100), "req-100", 100)]

    # between the pulls: 30 new rows, 4 late rows (2 minutes behind the watermark, within the lookback)
    # and one row so late (an hour behind) that no lookback of 5 minutes can see it
    pg.litellm_rows("req-", 101, 130)
    pg.litellm_rows("late-", 1, 4, start=T0 + timedelta(seconds=100) - timedelta(minutes=2))
    pg.litellm_rows("too-late-", 1, 1, start=T0 - timedelta(hours=1))
    with open_store(p.store_path) as con:
        second = sources.pull(con, p)
        third = sources.pull(con, p)
        counts = _count(con)
        rejected = con.execute("SELECT source, file, line, reason FROM rejected").fetchall()
        wm = con.execute("SELECT ts, id FROM source_watermarks").fetchall()
        rows = {r[0]: r[1:] for r in con.execute("""
            SELECT id, prompt, response, model, model_version, latency_ms, cost_usd, status, error_type,
                   finish_reason, provider_refusal, provider_refused, prompt_tokens, completion_tokens, session_id,
                   user_id, ts, metadata FROM interactions WHERE id IN ('req-1', 'req-10', 'req-11', 'req-12')
            """).fetchall()}
    # the re-read window holds req-98 again: rejected once, not twice
    assert (second.new_rows, second.rejected, second.total_rows) == (34, 0, 133)
    assert (third.new_rows, third.rejected, third.total_rows) == (0, 0, 133)
    assert counts == (133, 133)
    assert wm == [(T0 + timedelta(seconds=130), "req-130")]
    assert len(rejected) == 1 and rejected[0][:3] == ("postgres", f"postgres:{pg.schema}.LiteLLM_SpendLogs", None)
    assert "store_prompts_in_spend_logs" in rejected[0][3]

    (prompt, response, model, version, latency, cost, status, error_type, finish, refusal, refused, pt, ct,
     session, user, ts, metadata) = rows["req-1"]
    assert (prompt, response, model, version) == ("Where is my order 1?", "Order 1 ships tomorrow.", "gpt-4o-mini",
                                                   "gpt-4o-mini-2024-07-18")
    assert (latency, cost, status, error_type, finish, refusal, refused) == (850.0, 0.0015, "ok", None, "stop", None,
                                                                            False)
    assert (pt, ct, session, ts) == (120, 30, "sess-0", T0 + timedelta(seconds=1))
    assert user != "customer-1" and len(user) == 16
    meta = json.loads(metadata)
    assert meta["api_key"] == "hashed-key" and meta["model_group"] == "support"
    assert meta["metadata"] == {"user_api_key_alias": "support-bot"} and meta["endTime"].startswith("2026-11-30")
    # mapped columns, and the columns the preset reads whole (messages, response), are not copied
    assert not {"request_id", "startTime", "spend", "messages", "response"} & set(meta)
    assert (rows["req-10"][1], rows["req-10"][9], rows["req-10"][10]) == (None, "I can't help with that.", True)
    assert (rows["req-11"][8], rows["req-11"][10]) == ("content_filter", True)
    assert (rows["req-12"][1], rows["req-12"][6], rows["req-12"][7]) == (None, "error", "RateLimitError")


def test_without_lookback_late_rows_are_missed(pg, pg_profile):
    """The counter-example: what `lookback` is for."""
    pg.run(LITELLM_DDL)
    pg.litellm_rows("req-", 1, 50)
    p = pg_profile(preset="litellm", table=f"{pg.schema}.LiteLLM_SpendLogs", lookback="0s")
    with open_store(p.store_path) as con:
        assert sources.pull(con, p).new_rows == 50
        pg.litellm_rows("req-", 51, 60)
        pg.litellm_rows("late-", 1, 4, start=T0)
        second = sources.pull(con, p)
    assert (second.new_rows, second.total_rows) == (10, 60)


def test_equal_timestamps_split_across_batches_neither_skip_nor_duplicate(pg, pg_profile):
    """An app table with an integer id, 10 rows per timestamp, batches of 7 rows, no lookback."""
    pg.run("""CREATE TABLE {s}.chat_log (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, question text,
              answer text, model text, extra jsonb, line int, j text)""")  # names llmvigil uses inside
    pg.run("""INSERT INTO {s}.chat_log SELECT g, timestamptz '2026-11-30 10:00:00+00' + (g / 10) * interval '1 minute',
              'question ' || g, 'answer ' || g, 'm1', jsonb_build_object('channel', 'web', 'n', g), g, 'x'
              FROM generate_series(1, 45) g""")
    p = pg_profile(table=f"{pg.schema}.chat_log", ts_column="created_at", id_column="id", lookback="0s",
                   batch_rows=7, mapping={"prompt": "question", "response": "answer", "app": "extra.channel"})
    with open_store(p.store_path) as con:
        first = sources.pull(con, p)
        pg.run("""INSERT INTO {s}.chat_log SELECT g, timestamptz '2026-11-30 10:04:00+00', 'q' || g, 'a', 'm1', NULL,
                  g, 'x' FROM generate_series(46, 52) g""")  # more rows at the watermark's own timestamp
        second = sources.pull(con, p)
        counts = _count(con)
        row = con.execute("SELECT id, ts, prompt, app, metadata FROM interactions WHERE id = '7'").fetchall()[0]
    assert (first.new_rows, second.new_rows) == (45, 7)
    assert counts == (52, 52)
    assert row[:4] == ("7", datetime(2026, 11, 30, 10, 0), "question 7", "web")
    meta = json.loads(row[4])
    assert (meta["extra"]["n"], meta["line"], meta["j"]) == (7, 7, "x")


def test_a_crash_mid_pull_leaves_the_watermark_where_the_data_is(pg, pg_profile):
    pg.run(LITELLM_DDL)
    pg.litellm_rows("req-", 1, 100)
    table = f"{pg.schema}.LiteLLM_SpendLogs"
    # the batch holding req-60 (rows 51-75) fails half-way through the pull
    boom = {"latency_ms": "CASE WHEN request_id = 'req-60' THEN error('disk full') ELSE 1.0 END"}
    broken = pg_profile(preset="litellm", table=table, lookback="0s", batch_rows=25, derive=boom)
    with open_store(broken.store_path) as con:
        with pytest.raises(sources.SourceError) as e:
            sources.pull(con, broken)
        counts = _count(con)
        wm = con.execute("SELECT ts, id, rows_read FROM source_watermarks").fetchall()
    assert "disk full" in str(e.value)
    assert counts == (50, 50)
    assert wm == [(T0 + timedelta(seconds=50), "req-50", 50)]

    fixed = pg_profile(preset="litellm", table=table, lookback="0s", batch_rows=25)
    with open_store(fixed.store_path) as con:
        result = sources.pull(con, fixed)
        counts = _count(con)
    assert (result.new_rows, result.total_rows) == (50, 100)
    assert counts == (100, 100)


def test_unreachable_server_is_a_clear_error_without_the_password(pg_profile, monkeypatch, make_profile):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("LLMVIGIL_PG_DSN", f"postgresql://monitor:s3cr%3Et@127.0.0.1:{port}/test")
    p = pg_profile(preset="litellm")
    with open_store(p.store_path) as con, pytest.raises(sources.SourceError) as e:
        sources.pull(con, p)
    msg = str(e.value)
    assert "profile 'demo'" in msg and "postgres:LiteLLM_SpendLogs" in msg and f"127.0.0.1:{port}" in msg
    assert "s3cr" not in msg and "refused" in msg.lower()

    # the run goes on with what the store holds
    ctx = pipeline.plan(p, T0)
    ingest = pipeline.step_ingest(ctx)
    assert ingest.error and "s3cr" not in ingest.error and ingest.total_rows == 0

    monkeypatch.delenv("LLMVIGIL_PG_DSN")
    with open_store(p.store_path) as con, pytest.raises(sources.SourceError) as e:
        sources.pull(con, p)
    assert "environment variable LLMVIGIL_PG_DSN is not set" in str(e.value)


def test_mask_hides_passwords_in_every_dsn_form():
    from llmvigil.source_postgres import mask

    url = "postgresql://u:p%40ss@h:5432/db"
    assert mask(f"failed for {url}", url) == "failed for postgresql://u:***@h:5432/db"
    kv = "host=h user=u password='se cret' dbname=db"
    assert "se cret" not in mask(f"bad: {kv}", kv) and "password=***" in mask(kv, kv)
    assert mask("auth failed for p@ss", url) == "auth failed for ***"
