"""File source into a real DuckDB file: incremental, idempotent, malformed lines kept aside."""

import json
import os

import pytest

from llmvigil import sources
from llmvigil.store import open_store
from tests.conftest import write_jsonl


def _row(i, **kw):
    r = {"request_id": f"r{i}", "created_at": f"2026-11-30T10:{i // 60:02d}:{i % 60:02d}Z",
         "input": f"Where is my order {i}?", "output": "It ships tomorrow.", "model": "gpt-4o-mini",
         "latency_ms": 900 + i, "usage": {"prompt_tokens": 100, "completion_tokens": 20},
         "status": "ok", "session_id": f"s{i}", "user": "alice@example.com", "channel": "web"}
    r.update(kw)
    return r


def test_ingest_is_incremental_and_idempotent(make_profile, tmp_path):
    p = make_profile()
    write_jsonl(tmp_path / "logs" / "a.jsonl", [_row(i) for i in range(50)])
    with open_store(p.store_path) as con:
        first = sources.pull(con, p)
        again = sources.pull(con, p)
    assert (first.new_rows, first.rejected, first.total_rows, first.files_read) == (50, 0, 50, 1)
    assert (again.new_rows, again.total_rows, again.files_read) == (0, 50, 0)

    # a new file, and a grown old file that repeats its first rows: only the new rows count
    write_jsonl(tmp_path / "logs" / "b.jsonl", [_row(i) for i in range(50, 70)])
    write_jsonl(tmp_path / "logs" / "a.jsonl", [_row(i) for i in range(50)] + [_row(i) for i in range(70, 75)])
    with open_store(p.store_path) as con:
        third = sources.pull(con, p)
        ids = con.execute("SELECT count(DISTINCT id), count(*) FROM interactions").fetchall()[0]
    assert (third.new_rows, third.total_rows, third.files_read) == (25, 75, 2)
    assert ids == (75, 75)


def test_canonical_mapping_metadata_and_hashing(make_profile, tmp_path):
    p = make_profile()
    write_jsonl(tmp_path / "logs" / "a.jsonl", [_row(1, refusal="I can't assist with that.", feedback=-1)])
    with open_store(p.store_path) as con:
        sources.pull(con, p)
        row = con.execute(
            "SELECT id, ts::VARCHAR, prompt, user_id, prompt_tokens, completion_tokens, provider_refusal, "
            "feedback_score, metadata, provider_refused FROM interactions").fetchall()[0]
    rid, ts, prompt, user_id, pt, ct, refusal, feedback, metadata, provider_refused = row
    assert (rid, ts, prompt) == ("r1", "2026-11-30 10:00:01", "Where is my order 1?")
    assert user_id != "alice@example.com" and len(user_id) == 16  # stored hashed
    assert (pt, ct, feedback) == (100, 20, -1.0)
    assert refusal == "I can't assist with that." and provider_refused is True
    meta = json.loads(metadata)
    assert meta["channel"] == "web" and "input" not in meta and "request_id" not in meta


def test_broken_lines_are_kept_aside_with_line_numbers(make_profile, tmp_path):
    p = make_profile()
    lines = [_row(1), "", _row(2, latency_ms="fast"), "{not json", _row(3), {"request_id": "r9", "input": "x"},
             "[1, 2]", _row(4, created_at="yesterday")]
    write_jsonl(tmp_path / "logs" / "a.jsonl", lines)
    with open_store(p.store_path) as con:
        result = sources.pull(con, p)
        rejected = con.execute("SELECT line, reason FROM rejected ORDER BY line").fetchall()
        stored = sorted(r[0] for r in con.execute("SELECT id FROM interactions").fetchall())
    assert stored == ["r1", "r3"]
    assert result.new_rows == 2 and result.rejected == 5
    assert [line for line, _ in rejected] == [3, 4, 6, 7, 8]
    reasons = dict(rejected)
    assert reasons[3] == "latency_ms: expected a number, got fast"
    assert reasons[4] == "malformed JSON"
    assert reasons[6] == "missing required field ts (source field created_at)"
    assert reasons[7] == "not a JSON object"
    assert reasons[8].startswith("ts: not a timestamp: yesterday")


def test_reingesting_a_changed_file_does_not_duplicate_rejected_rows(make_profile, tmp_path):
    p = make_profile()
    f = write_jsonl(tmp_path / "logs" / "a.jsonl", [_row(1), "{bad"])
    with open_store(p.store_path) as con:
        sources.pull(con, p)
        with f.open("a") as fh:
            fh.write(json.dumps(_row(2)) + "\n")
        sources.pull(con, p)
        counts = con.execute("SELECT (SELECT count(*) FROM rejected), (SELECT count(*) FROM interactions)").fetchall()[0]
    assert counts == (1, 2)


def test_no_matching_file_is_a_clear_error(make_profile):
    p = make_profile()
    with open_store(p.store_path) as con, pytest.raises(sources.SourceError) as e:
        sources.pull(con, p)
    assert "no file matches" in str(e.value) and "logs" in str(e.value)


def test_second_writer_gets_a_clear_message(make_profile, tmp_path):
    import subprocess
    import sys

    p = make_profile()
    with open_store(p.store_path):
        code = ("from llmvigil.store import connect, StoreLockedError\n"
                f"try:\n    connect({str(p.store_path)!r})\nexcept StoreLockedError as e:\n    print('LOCKED', e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": "src"})
    assert out.stdout.startswith("LOCKED"), out.stderr
    assert "in use by another process" in out.stdout
