"""Trend data and charts: the runs table as the source of every run (with its cache file), and the SVG
renderer at the sizes people reach (a year of hourly runs)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import duckdb

from llmvigil.dashboard import charts
from llmvigil.dashboard.charts import Point, line_chart, sparkline
from llmvigil.dashboard.data import load_history
from llmvigil.dashboard.html import fmt, fmt_delta, href
from llmvigil.store import ensure_schema

T0 = datetime(2026, 1, 1)


def _summary(i: int, refusal: float, firing: bool) -> dict:
    at = T0 + timedelta(hours=i)
    return {
        "profile": "p", "run_id": f"r{i:05d}", "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window": {"current": [None, at.strftime("%Y-%m-%dT%H:%M:%SZ")]},
        "kpis": {"current": {"volume": 100 + i, "refusal_rate": refusal}},
        "drift": {"share_drifted": None}, "checks": {"success": True, "evaluated": 8, "failed": [], "results": ["big"]},
        "ingest": {"new_rows": 5, "error": None},
        "findings": [
            {"rule": "refusal_rate", "segment": None, "status": "firing" if firing else "ok", "observed": refusal,
             "threshold": 0.05, "bound": "max", "severity": "critical"},
            {"rule": "refusal_rate", "segment": "model=a", "status": "ok", "observed": 0.0, "threshold": 0.05},
            {"rule": "refusal_rate", "segment": "model=b", "status": "firing", "observed": 0.5, "threshold": 0.05},
        ],
    }


def _store(n: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    rows = [(f"r{i:05d}", "p", T0 + timedelta(hours=i), T0, T0, 0, json.dumps(_summary(i, 0.01 * (i % 5), i == n - 1)))
            for i in range(n)]
    con.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def test_history_comes_from_the_runs_table_and_the_cache_follows_it(tmp_path):
    con = _store(30)
    cache = tmp_path / "trends.jsonl"
    first = load_history(con, "p", cache=cache)
    assert [r.run_id for r in first] == [f"r{i:05d}" for i in range(30)]
    last = first[-1]
    assert last.metric("volume") == 129 and last.metric("refusal_rate") == 0.04 and last.checks_passed == 8
    assert last.firing_rules == ["refusal_rate"] and last.threshold("refusal_rate") == (0.05, "max")
    assert last.firing_segments("refusal_rate") == [None, "model=b"]
    # only the whole window's finding and the firing ones are kept; checks without their results
    assert len(last.findings) == 2 and "results" not in last.checks
    assert len(cache.read_text().splitlines()) == 30

    # the cache answers next time; a deleted run leaves it, a new run enters it, a torn line is re-read
    con.execute("DELETE FROM runs WHERE run_id = 'r00003'")
    con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                ["r00030", "p", T0 + timedelta(hours=30), T0, T0, 0, json.dumps(_summary(30, 0.2, True))])
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:10] + ["{torn"] + lines[11:]) + "\n")
    again = load_history(con, "p", cache=cache)
    ids = [r.run_id for r in again]
    assert len(ids) == 30 and "r00003" not in ids and ids[-1] == "r00030" and "r00010" in ids
    assert [r.to_json() for r in again] == [r.to_json() for r in load_history(con, "p")]  # same as no cache
    assert len(cache.read_text().splitlines()) == 30


def _pts(n: int, spike_at: int | None = None) -> list[Point]:
    return [Point(T0 + timedelta(hours=i), 0.9 if i == spike_at else 0.02 + 0.001 * (i % 7), 0.05, "max",
                  firing=i == spike_at) for i in range(n)]


def test_a_year_of_hourly_runs_keeps_its_spike_and_stays_small():
    svg = line_chart(_pts(8760, spike_at=4321), "refusal_rate", title="Refusal rate")
    line = re.search(r'<path class="line" d="M([^"]+)"/>', svg).group(1)
    coords = [tuple(map(float, c.split(","))) for c in line.split(" ")]
    assert len(coords) <= charts.MAX_POINTS
    top = min(y for _, y in coords)  # the spike survives the downsampling as the highest point
    fired = re.findall(r'<circle class="pt fire" cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert len(fired) == 1 and abs(float(fired[0][1]) - top) < 0.01
    assert svg.count("<circle") == 2 and len(svg) < 60_000  # the firing run and the latest run


def test_chart_parts_threshold_gaps_and_empty():
    pts = _pts(10)
    pts[4] = Point(pts[4].at, None, 0.05, "max")
    pts[8] = Point(pts[8].at, 0.03, 0.08, "max", firing=True, segment_only=True)
    pts[9] = Point(pts[9].at, 0.09, 0.08, "max", firing=True)
    svg = line_chart(pts, "refusal_rate", title="Refusal rate")
    assert svg.count('class="line"') == 2  # broken where a run had no value
    assert re.search(r'<path class="threshold" d="M[\d.,]+(H[\d.]+V[\d.]+)+"', svg)  # a step: it changed
    assert "max 8%" in svg and svg.count("<circle") == 9
    assert 'class="pt fire seg"' in svg and 'class="pt fire last"' in svg
    assert "FIRING in a segment" in svg
    assert "no data yet" in line_chart([Point(T0, None)], "volume", title="Volume")
    assert sparkline(pts, "refusal_rate").count("<circle") == 2


def test_number_formats_and_links():
    assert fmt("refusal_rate", 0.1234) == "12.3%" and fmt("refusal_rate", 0.001) == "0.10%"
    assert fmt("p95_latency_ms", 4321.5) == "4,322 ms" and fmt("p95_latency_ms", 4321.5, short=True) == "4.3s"
    assert fmt("cost_usd", 0.1006) == "$0.1006" and fmt("volume", 2005) == "2,005" and fmt("volume", None) == "–"
    assert fmt_delta("refusal_rate", 0.15, 0.1) == "+5.0 pp" and fmt_delta("p95_latency_ms", 3000, 2000) == "+50%"
    assert href("..", "demo", "20261201T000000Z-abc123", "index.html") == "../demo/20261201T000000Z-abc123/index.html"
    for bad in ("javascript:alert(1)", "a/b", "..x", "<b>", "", " a"):
        try:
            href(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted as a link part")
