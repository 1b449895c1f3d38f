"""What keeps a cycle's cost on the new data (issue 8): the fast JSONL path, the cached reference.

Real DuckDB files in tmp_path; no Evidently or GX import here (see test_sampling.py for those).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from llmvigil import drift, kpis, sources
from llmvigil.pipeline import windows_for
from llmvigil.store import CANONICAL_COLUMNS, open_store
from tests.conftest import DEMO_MAPPING, insert_interactions, write_jsonl

TRICKY = [
    {"request_id": "a1", "created_at": "2026-11-30T10:00:00Z", "input": "Olá, ação? \u00e9 \"quoted\" \\ back",
     "output": "Line1\nLine2\t😀", "usage": {"prompt_tokens": 1e2, "completion_tokens": 20.0},
     "latency_ms": 1.5e3, "cost_usd": 1e-05, "refusal": True, "feedback": -1, "status": "OK",
     "extra": {"nested": [1, 2, {"x": None}]}, "flag": False, "n": None},
    {"request_id": 12345, "created_at": 1764496800, "input": {"role": "user", "content": "json prompt"},
     "output": None, "model": "m", "attempt": "2", "retry_of": "a1", "error_type": "Timeout"},
    {"created_at": "2026-11-30 12:00:00+02:00", "input": "no id: hashed", "output": "", "Input": "other case",
     "usage": "not an object", "latency_ms": "250"},
    {"request_id": "a4", "created_at": 1764496800123, "input": "ms epoch", "output": "x", "usage": {},
     "session_id": "", "user": "u@example.com", "label": "x", "expected": None},
]


def _stage_both(con, path):
    ok = sources._stage_jsonl_fast(con, DEMO_MAPPING, str(path))
    assert ok
    con.execute("ALTER TABLE staged RENAME TO fast")
    sources._stage_raw(con, DEMO_MAPPING, sources._raw_lines_sql("jsonl", str(path)))
    cols = [c for c in CANONICAL_COLUMNS if c != "metadata"]
    fast = con.execute(f"SELECT {', '.join(cols)}, metadata FROM fast ORDER BY id").fetchall()
    slow = con.execute(f"SELECT {', '.join(cols)}, metadata FROM staged ORDER BY id").fetchall()
    return fast, slow


@pytest.mark.parametrize("without_id", [True, False], ids=["a row without id", "every row with an id"])
def test_fast_jsonl_path_gives_the_same_rows_as_the_line_exact_path(tmp_path, without_id):
    third = TRICKY[2] if without_id else {**TRICKY[2], "request_id": "a3"}
    path = write_jsonl(tmp_path / "a.jsonl", [*TRICKY[:2], "  " + json.dumps(third) + "  \r", TRICKY[3], "", "   "])
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        fast, slow = _stage_both(con, path)
    assert len(fast) == len(slow) == len(TRICKY)
    for f, s in zip(fast, slow):
        assert f[:-1] == s[:-1]
        assert json.loads(f[-1]) == json.loads(s[-1])  # metadata: the same JSON (unmapped fields kept)
    meta = {r[0]: json.loads(r[-1]) for r in fast}
    assert meta["a1"]["extra"] == {"nested": [1, 2, {"x": None}]} and meta["a1"]["n"] is None
    assert "Input" in next(m for m in meta.values() if "Input" in m)  # keys are case-sensitive


class _Recording:
    """A connection that records the SQL run through it (to tell which way the metadata was built)."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)


CLEAN = [  # every unmapped key has a value; a key ("region") appears only in the last record
    {"request_id": f"c{i}", "created_at": f"2026-11-30T10:00:{i:02d}Z", "input": f"q{i} ação", "output": "a\n😀",
     "locale": "pt-BR", "channel": "web", "usage": {"prompt_tokens": i, "completion_tokens": 2.50}, "tags": ["x", {"y": None}],
     "score": 1e-7 * i, "ok": i % 2 == 0, "big": 12345678901234567890, "quote \"key\" é": "v"}
    for i in range(40)
] + [{"request_id": "c40", "created_at": "2026-11-30T10:01:00Z", "input": "last", "region": {"eu": True},
        "channel": "app"}]


@pytest.mark.parametrize("case", ["clean", "null in a key of every record", "null extra", "case clash"])
def test_fast_path_metadata_from_the_one_read_or_from_a_second_read(tmp_path, case):
    """The unmapped keys are read with the fields when that gives the exact metadata. A null in a key
    that some records lack (which the reader cannot tell from a missing key) or two keys differing only
    in case send the metadata to a second read. Either way the rows equal those of the line-exact path."""
    rows = [dict(r) for r in CLEAN]
    if case == "null in a key of every record":
        rows[5]["channel"] = None
    if case == "null extra":
        rows[7]["locale"] = None
    if case == "case clash":
        rows[3]["Locale"] = "other"
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rec = _Recording(con)
        assert sources._stage_jsonl_fast(rec, DEMO_MAPPING, str(path))
        second_reads = sum("json_merge_patch" in s for s in rec.sql)
        con.execute("ALTER TABLE staged RENAME TO fast")
        sources._stage_raw(con, DEMO_MAPPING, sources._raw_lines_sql("jsonl", str(path)))
        cols = [c for c in CANONICAL_COLUMNS if c != "metadata"]
        fast = con.execute(f"SELECT {', '.join(cols)}, metadata FROM fast ORDER BY id").fetchall()
        slow = con.execute(f"SELECT {', '.join(cols)}, metadata FROM staged ORDER BY id").fetchall()
    assert second_reads == (1 if case in ("null extra", "case clash") else 0)
    assert len(fast) == len(slow) == 41
    for f, s in zip(fast, slow):
        assert f[:-1] == s[:-1]
        assert json.loads(f[-1]) == json.loads(s[-1])
    meta = {r[0]: json.loads(r[-1]) for r in fast}
    assert meta["c40"] == {"region": {"eu": True}, "channel": "app"}  # a key seen in no other record is kept
    assert meta["c3"]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2.5}
    assert meta["c3"]["big"] == 12345678901234567890 and meta["c3"]['quote "key" é'] == "v"
    if case == "null extra":
        assert meta["c7"]["locale"] is None and "locale" in meta["c7"]
    if case == "null in a key of every record":
        assert meta["c5"]["channel"] is None and "channel" in meta["c5"]
    if case == "case clash":
        assert (meta["c3"]["Locale"], meta["c3"]["locale"]) == ("other", "pt-BR")


def test_a_key_first_seen_past_duckdbs_schema_sample_is_kept_in_metadata(make_profile, tmp_path):
    """DuckDB infers a JSON schema from the first 20,480 records; the key pass reads them all."""
    p = make_profile()
    rows = [{"request_id": f"r{i}", "created_at": "2026-11-30T10:00:00Z", "input": "q", "locale": "es-ES"}
            for i in range(25_000)]
    rows[24_000]["tenant"] = {"id": 7}
    rows[24_500]["locale"] = None  # a key every record holds, null once
    path = write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    with duckdb.connect() as con:  # the fast path takes it, in one read
        rec = _Recording(con)
        assert sources._stage_jsonl_fast(rec, DEMO_MAPPING, str(path))
        assert not any("json_merge_patch" in sql for sql in rec.sql)
    with open_store(p.store_path) as con:
        r = sources.pull(con, p)
        meta = dict(con.execute("SELECT id, metadata FROM interactions WHERE id IN ('r0', 'r24000', 'r24500')").fetchall())
    assert r.new_rows == 25_000 and r.rejected == 0
    assert {k: json.loads(v) for k, v in meta.items()} == {
        "r0": {"locale": "es-ES"}, "r24000": {"locale": "es-ES", "tenant": {"id": 7}}, "r24500": {"locale": None}}


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '"a string"', '{"request_id": "z", "input": "no ts"}',
                                 '{"request_id": "z", "created_at": "2026-11-30T10:00:00Z", "input": "x", "latency_ms": "fast"}'])
def test_a_file_the_fast_path_cannot_take_whole_goes_to_the_line_exact_path(make_profile, tmp_path, bad):
    p = make_profile()
    path = write_jsonl(tmp_path / "logs" / "a.jsonl", [TRICKY[0], bad, TRICKY[3]])
    with duckdb.connect() as con:
        assert sources._stage_jsonl_fast(con, DEMO_MAPPING, str(path)) is False
    with open_store(p.store_path) as con:
        r = sources.pull(con, p)
        rejected = con.execute("SELECT line FROM rejected").fetchall()
    assert (r.new_rows, r.rejected, rejected) == (2, 1, [(2,)])


def test_pull_of_new_rows_into_a_filled_store_skips_stored_ids(make_profile, tmp_path):
    p = make_profile()
    rows = [{"request_id": f"r{i}", "created_at": f"2026-11-30T10:{i // 60:02d}:{i % 60:02d}Z", "input": f"q{i}",
             "output": "a"} for i in range(300)]
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows[:200])
    write_jsonl(tmp_path / "logs" / "b.jsonl", rows[100:300] + rows[250:260])  # overlaps a, repeats itself
    with open_store(p.store_path) as con:
        r = sources.pull(con, p)
        n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM interactions").fetchall()[0]
    assert (r.new_rows, n, distinct) == (300, 300, 300)


def test_reference_kpis_are_cached_until_the_reference_rows_change(tmp_path):
    cur = (datetime(2026, 11, 30, 12), datetime(2026, 11, 30, 13))
    ref = (datetime(2026, 11, 23), datetime(2026, 11, 30))
    t = datetime(2026, 11, 30, 13)
    with open_store(tmp_path / "s.duckdb") as con:
        insert_interactions(con, [{"id": f"r{i}", "ts": datetime(2026, 11, 25) + timedelta(minutes=i), "prompt": "p",
                       "response": "ok", "latency_ms": 100.0} for i in range(10)], t)
        first = kpis.as_json(kpis.compute(con, current=cur, reference=ref, segments=["model"]))
        assert first["reference"]["volume"] == 10
        assert con.execute("SELECT count(*) FROM kpi_cache").fetchall()[0][0] == 1  # the empty current: nothing
        # the cache answers (a tampered entry shows it is read), ...
        con.execute("UPDATE kpi_cache SET result = replace(result, '\"volume\": 10', '\"volume\": 99')")
        assert kpis.as_json(kpis.compute(con, current=cur, reference=ref, segments=["model"]))["reference"]["volume"] == 99
        # ... until a late row lands in the reference window
        insert_interactions(con, [{"id": "late", "ts": datetime(2026, 11, 26), "prompt": "p", "response": "ok"}],
                t + timedelta(hours=1))
        again = kpis.as_json(kpis.compute(con, current=cur, reference=ref, segments=["model"]))
        assert again["reference"]["volume"] == 11
        # a read-only connection computes without the cache
    with open_store(tmp_path / "s.duckdb", read_only=True) as con:
        ro = kpis.as_json(kpis.compute(con, current=cur, reference=ref, segments=["model"]))
    assert ro["reference"]["volume"] == 11


def test_reference_drift_sample_is_kept_per_hour_until_the_hour_changes(tmp_path):
    ref = (datetime(2026, 11, 23), datetime(2026, 11, 30))
    t = datetime(2026, 11, 30, 13)
    with open_store(tmp_path / "s.duckdb") as con:
        insert_interactions(con, [{"id": f"r{i}", "ts": datetime(2026, 11, 25) + timedelta(minutes=i), "prompt": "p",
                       "response": "ok" * (i % 7), "latency_ms": float(i)} for i in range(3000)], t)
        df, n = drift._window_frame(con, ["latency_ms", "model"], *ref, 1000, cache=True)
        assert (len(df), n) == (1000, 3000)
        # the sample: the 1,000 rows with the smallest hash of their id, kept per hour (50 hours)
        want = con.execute("SELECT latency_ms FROM interactions ORDER BY hash(id) LIMIT 1000").fetchall()
        assert sorted(df["latency_ms"]) == sorted(r[0] for r in want)
        assert con.execute("SELECT count(*) FROM drift_part_meta").fetchall()[0][0] == 50
        # read back from the store: tampered rows show it (one at 09:xx, one at 10:xx)
        kept = min(v for v in df["latency_ms"] if 540 <= v < 600)
        redone = min(v for v in df["latency_ms"] if 600 <= v < 660)
        con.execute("UPDATE drift_part_rows SET latency_ms = -5 WHERE latency_ms = ?", [kept])
        con.execute("UPDATE drift_part_rows SET latency_ms = -7 WHERE latency_ms = ?", [redone])
        df2, _ = drift._window_frame(con, ["latency_ms", "model"], *ref, 1000, cache=True)
        assert {-5, -7} <= set(df2["latency_ms"])
        # a late row makes its hour stale: that hour is sampled again, the others are kept
        insert_interactions(con, [{"id": "late", "ts": datetime(2026, 11, 25, 10, 30), "prompt": "p", "response": "x",
                       "latency_ms": -1.0}], t + timedelta(hours=1))
        df3, n3 = drift._window_frame(con, ["latency_ms", "model"], *ref, 1000, cache=True)
        assert n3 == 3001 and len(df3) == 1000
        fps = dict(con.execute("SELECT part, fingerprint FROM drift_part_meta").fetchall())
    assert fps[datetime(2026, 11, 25, 10)].startswith("61|") and fps[datetime(2026, 11, 25, 9)].startswith("60|")
    assert -5 in set(df3["latency_ms"]) and -7 not in set(df3["latency_ms"])


def test_hourly_runs_of_a_day_share_one_reference_of_whole_days(make_profile):
    hourly = make_profile(windows={"current": "1h", "reference": {"previous": "7d"}})
    w1 = windows_for(hourly, datetime(2026, 12, 1, 9))
    w2 = windows_for(hourly, datetime(2026, 12, 1, 17))
    assert (w1.current_start, w1.current_end) == (datetime(2026, 12, 1, 8), datetime(2026, 12, 1, 9))
    assert (w1.reference_start, w1.reference_end) == (w2.reference_start, w2.reference_end) \
        == (datetime(2026, 11, 24), datetime(2026, 12, 1))
    # the first run of a day: its current hour is the last of the day before
    w0 = windows_for(hourly, datetime(2026, 12, 1, 0))
    assert (w0.reference_start, w0.reference_end) == (datetime(2026, 11, 23), datetime(2026, 11, 30))
    # a daily window, or a reference that is not whole days, slides as before
    daily = make_profile(windows={"current": "1d", "reference": {"previous": "7d"}})
    wd = windows_for(daily, datetime(2026, 12, 1, 6))
    assert (wd.reference_start, wd.reference_end) == (datetime(2026, 11, 23, 6), datetime(2026, 11, 30, 6))
    short = make_profile(windows={"current": "1h", "reference": {"previous": "6h"}})
    ws = windows_for(short, datetime(2026, 12, 1, 9))
    assert (ws.reference_start, ws.reference_end) == (datetime(2026, 12, 1, 2), datetime(2026, 12, 1, 8))


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """Four demo days (8,000 rows, sessions and retries included) ingested into a store."""
    from llmvigil.demo import generate
    from llmvigil.profile import load_profile
    import yaml

    d = tmp_path_factory.mktemp("parts")
    generate(d / "logs", days=4, end=datetime(2026, 12, 1).date())
    data = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "demo.yaml").read_text())
    data.update(store=str(d / "store.duckdb"), checks=None)
    data["source"]["path"] = str(d / "logs" / "*.jsonl")
    data["reports"]["dir"] = str(d / "reports")
    (d / "p.yaml").write_text(yaml.safe_dump(data))
    p = load_profile(d / "p.yaml")
    with open_store(p.store_path) as con:
        sources.pull(con, p)
    return p.store_path


def _close(a, b, rel):
    return a == b or (a is not None and b is not None and abs(a - b) <= rel * max(1.0, abs(a)))


@pytest.mark.parametrize("rows_per_query", [kpis._PART_ROWS_PER_QUERY, 400])
def test_a_reference_added_up_from_hourly_parts_equals_the_window_computed_whole(demo_store, tmp_path, monkeypatch,
                                                                                 rows_per_query):
    import shutil

    store = tmp_path / "s.duckdb"
    shutil.copyfile(demo_store, store)
    # parts go in queries of at most `rows_per_query` rows: nearly all 84 in one, or an hour or a few each
    monkeypatch.setattr(kpis, "_PART_ROWS_PER_QUERY", rows_per_query)
    queries = []
    real = kpis._compute_parts
    monkeypatch.setattr(kpis, "_compute_parts", lambda con, key, segs, retries, run, *a: (
        queries.append(len(run)), real(con, key, segs, retries, run, *a))[1])
    # a window that starts and ends off the hour: its first and last parts are shorter
    win = (datetime(2026, 11, 27, 7, 30), datetime(2026, 11, 30, 18, 45))
    segs = list(kpis.SEGMENT_COLUMNS)
    with open_store(store) as con:
        whole = dict(kpis._window(con, win, segs, kpis.Retries(), cache=False))
        parts = dict(kpis._parts_window(con, win, segs, kpis.Retries()))
        assert con.execute("SELECT count(*) FROM kpi_part_meta").fetchall()[0][0] == len(kpis._parts_of(win)) == 84
    assert sum(queries) == 84
    if rows_per_query == 400:  # 60-120 rows an hour in this store, and each part also reads the hours around it
        assert len(queries) > 40
    else:  # one query, but for the last two parts: their session horizon is cut by the window's end
        assert queries == [82, 1, 1]
    assert set(whole) == set(parts) and len(whole) > 20
    assert whole[None]["volume"] > 6000 and whole[None]["retry_rate"] > 0.01
    assert whole[None]["sessions_ending_in_refusal_rate"] > 0
    for seg in whole:
        for name, value in whole[seg].items():
            # every KPI is exact (to rounding) but the latency quantiles, read from 1% histograms
            rel = 0.01 if name.endswith("_latency_ms") else 1e-6
            assert _close(value, parts[seg][name], rel), (seg, name, value, parts[seg][name])


def test_only_missing_or_stale_parts_are_computed(demo_store, tmp_path):
    import shutil

    store = tmp_path / "s.duckdb"
    shutil.copyfile(demo_store, store)
    ref = (datetime(2026, 11, 27), datetime(2026, 11, 30))
    with open_store(store) as con:
        # an hourly run at 18:00 on the 29th prepares the next day's reference as far as its data is complete
        assert kpis.prepare_parts(con, ref, until=datetime(2026, 11, 29, 18)) == 3 * 24 - 7
        assert kpis.prepare_parts(con, ref, until=datetime(2026, 11, 29, 18)) == 0
        # the first run of the next day computes only the last hours
        assert kpis.prepare_parts(con, ref) == 7
        before = dict(kpis._parts_window(con, ref, ["model"], kpis.Retries()))
        # a late row in the middle of the window makes the parts that read it stale (its hour, and the
        # hours before whose sessions it could continue), not the others
        insert_interactions(con, [{"id": "late", "ts": datetime(2026, 11, 28, 12, 30), "prompt": "p",
                                   "response": "ok", "latency_ms": 1.0}], datetime(2026, 12, 1, 9))
        assert kpis.prepare_parts(con, ref) == 3
        after = dict(kpis._parts_window(con, ref, ["model"], kpis.Retries()))
    assert after[None]["volume"] == before[None]["volume"] + 1


def test_quantiles_from_histograms():
    assert kpis._hist_quantile([(10, 10.0, 10.0)], 0.95) == 10.0
    # 1..100 in buckets of ten evenly spread values: quantile_cont's own answers
    buckets = [(10, 10.0 * i + 1, 10.0 * i + 10) for i in range(10)]
    assert kpis._hist_quantile(buckets, 0.5) == pytest.approx(50.5)
    assert kpis._hist_quantile(buckets, 0.95) == pytest.approx(95.05)
    assert kpis._hist_quantile([], 0.5) is None


def test_a_large_pull_says_what_it_reads_and_computes_before_it_starts(make_profile, tmp_path, monkeypatch):
    p = make_profile()
    rows = [{"request_id": f"r{i}", "created_at": "2026-11-30T10:00:00Z", "input": "q", "output": "a"}
            for i in range(300)]
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows[:250])
    write_jsonl(tmp_path / "logs" / "b.jsonl", rows[250:])
    size = sum(f.stat().st_size for f in (tmp_path / "logs").iterdir())
    monkeypatch.setattr(sources, "_ANNOUNCE_BYTES", size)  # the thresholds of a real pull, scaled down
    monkeypatch.setattr(sources, "_BATCH_ROWS", 200)
    messages: list[str] = []
    with open_store(p.store_path) as con:
        sources.pull(con, p, messages.append)
    assert messages == ["reading 2 new or changed files (0 MB)", "computing the features of 250 rows",
                        "ingested a.jsonl: 250 new rows", "ingested b.jsonl: 50 new rows"]
    monkeypatch.setattr(sources, "_ANNOUNCE_BYTES", size + 1)  # below the threshold: only the results
    write_jsonl(tmp_path / "logs" / "b.jsonl", rows[250:] + rows[:10])
    messages.clear()
    with open_store(p.store_path) as con:
        sources.pull(con, p, messages.append)
    assert messages == ["ingested b.jsonl: 0 new rows"]
