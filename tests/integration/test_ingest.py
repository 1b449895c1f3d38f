"""File source into a real DuckDB file: incremental, idempotent, malformed lines kept aside."""

import json
import os
from pathlib import Path

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


def _store_state(con):
    inter = con.execute("SELECT * EXCLUDE (ingested_at) FROM interactions ORDER BY id").fetchall()
    files = con.execute("SELECT path, size, rows_read, rows_new, rows_rejected FROM source_files ORDER BY path").fetchall()
    rejected = con.execute("SELECT source, file, line, reason, raw FROM rejected ORDER BY file, line").fetchall()
    return inter, files, rejected


def test_files_pulled_in_one_batch_give_what_a_pull_file_by_file_gives(make_profile, tmp_path, monkeypatch):
    # b repeats ids of a and one of its own; a and c have a broken line
    write_jsonl(tmp_path / "logs" / "a.jsonl", [_row(i) for i in range(50)] + ["{broken"])
    write_jsonl(tmp_path / "logs" / "b.jsonl", [_row(i) for i in range(40, 80)] + [_row(79)])
    write_jsonl(tmp_path / "logs" / "c.jsonl", [_row(i) for i in range(80, 100)] + [_row(100, latency_ms="slow")])
    p = make_profile()
    states, results = [], []
    for batch_rows in (sources._BATCH_ROWS, 1):  # all three files in one batch; then one file per transaction
        monkeypatch.setattr(sources, "_BATCH_ROWS", batch_rows)
        p.store_path.unlink(missing_ok=True)
        with open_store(p.store_path) as con:
            results.append(sources.pull(con, p))
            states.append(_store_state(con))
    assert states[0] == states[1]
    inter, files, rejected = states[0]
    assert len(inter) == len({r[0] for r in inter}) == 100
    # per file: rows read, new (b's 10 ids already in a and its repeated row are not new), rejected
    assert [f[2:] for f in files] == [(50, 50, 1), (41, 30, 0), (20, 20, 1)]
    assert [(Path(f).name, line) for _, f, line, _, _ in rejected] == [("a.jsonl", 51), ("c.jsonl", 21)]
    for r in results:
        assert (r.files_read, r.new_rows, r.rejected, r.total_rows) == (3, 100, 2, 100)
        assert [(Path(e["file"]).name, e["line"]) for e in r.rejected_examples] == [("a.jsonl", 51), ("c.jsonl", 21)]
    with open_store(p.store_path, read_only=True) as con:
        assert _rows_per_source_file(con) == [("a.jsonl", 50), ("b.jsonl", 30), ("c.jsonl", 20)]


def test_a_crash_inside_a_batch_leaves_the_store_at_a_file_boundary(make_profile, tmp_path):
    import subprocess
    import sys

    for k, name in enumerate("abcd"):
        write_jsonl(tmp_path / "logs" / f"{name}.jsonl", [_row(30 * k + i) for i in range(30)])
    p = make_profile()
    # batches of at most 60 staged rows: [a, b] then [c, d]; the process dies inside the second one,
    # after its feature INSERT and before its COMMIT (os._exit: no rollback, no clean close)
    code = (
        "import os, sys\n"
        "from llmvigil import features, sources\n"
        "from llmvigil.profile import load_profile\n"
        "from llmvigil.store import connect\n"
        "sources._BATCH_ROWS = 60\n"
        "real, calls = features.insert_new_batch, []\n"
        "def dying(con, parts, **kw):\n"
        "    n = real(con, parts, **kw)\n"
        "    calls.append([os.path.basename(f) for _, f in parts])\n"
        "    if len(calls) == 2:\n"
        "        print(calls, flush=True)\n"
        "        os._exit(3)\n"
        "    return n\n"
        "features.insert_new_batch = dying\n"
        f"sources.pull(connect({str(p.store_path)!r}), load_profile({str(tmp_path / 'profile.yaml')!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(sources.__file__).parents[1])})
    assert out.returncode == 3, out.stderr
    assert out.stdout.strip() == "[['a.jsonl', 'b.jsonl'], ['c.jsonl', 'd.jsonl']]"
    with open_store(p.store_path) as con:
        assert _rows_per_source_file(con) == [("a.jsonl", 30), ("b.jsonl", 30)]
        assert [Path(f).name for (f,) in con.execute("SELECT path FROM source_files ORDER BY 1").fetchall()] == \
            ["a.jsonl", "b.jsonl"]
        again = sources.pull(con, p)  # re-reads exactly the files of the lost batch
        n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM interactions").fetchall()[0]
    assert (again.files_read, again.new_rows, n, distinct) == (2, 60, 120, 120)


def _rows_per_source_file(con):
    return [(Path(f).name, n) for f, n in
            con.execute("SELECT source_file, count(*) FROM interactions GROUP BY 1 ORDER BY 1").fetchall()]
