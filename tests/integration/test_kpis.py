"""KPIs and retry linking on hand-made interactions in a real DuckDB store."""

from datetime import datetime, timedelta

import pytest

from llmvigil import kpis
from llmvigil.profile import Retries
from llmvigil.store import open_store
from tests.conftest import insert_interactions

T0 = datetime(2026, 11, 30, 12, 0, 0)
CUR = (datetime(2026, 11, 30), datetime(2026, 12, 1))
REF = (datetime(2026, 11, 23), datetime(2026, 11, 30))


def _row(i, minutes, **kw):
    return {"id": f"r{i}", "ts": T0 + timedelta(minutes=minutes), "prompt": f"question number {i}",
            "response": "Here is the answer.", "model": "m1", "latency_ms": 100.0 * (i + 1)} | kw


@pytest.fixture
def con(tmp_path):
    with open_store(tmp_path / "k.duckdb") as c:
        yield c


def test_retries_explicit_inferred_and_their_reasons(con):
    refusal = "I'm sorry, but I can't help with that request."
    insert_interactions(con, ingested_at=T0, rows=[
        # session a: error, then explicit retry (attempt 2) -> retry after error
        _row(1, 0, session_id="a", prompt="Where is my order?", response=None, status="error", error_type="Timeout"),
        _row(2, 0.1, session_id="a", prompt="Where is my order?", attempt=2, retry_of="r1"),
        # session b: refusal, then the user asks again (near-same wording, no retry_of) -> inferred, after refusal
        _row(3, 10, session_id="b", prompt="Can you cancel my subscription?", response=refusal),
        _row(4, 11, session_id="b", prompt="can you cancel my subscription??"),
        # session c: same prompt but 20 minutes later -> not a retry (gap is 5 minutes)
        _row(5, 30, session_id="c", prompt="Change my address"),
        _row(6, 50, session_id="c", prompt="Change my address"),
        # session d: answer rated down, asked again -> retry after a rejected answer; session ends in a refusal
        _row(7, 60, session_id="d", prompt="How do I reset my password?", feedback_score=-1.0),
        _row(8, 61, session_id="d", prompt="How do I reset my password?", response=refusal),
        # different prompts in one session: not retries
        _row(9, 70, session_id="e", prompt="What are your opening hours?"),
        _row(10, 71, session_id="e", prompt="Do you ship to Portugal?"),
    ])
    rows = kpis.compute(con, current=CUR, reference=REF, segments=["model"], retries=Retries())
    cur = kpis.as_json(rows)["current"]
    assert cur["volume"] == 10
    assert cur["retry_rate"] == pytest.approx(3 / 10)  # r2, r4, r8
    assert cur["retry_after_error_rate"] == pytest.approx(1 / 10)
    assert cur["retry_after_refusal_rate"] == pytest.approx(1 / 10)
    assert cur["retry_after_rejected_answer_rate"] == pytest.approx(1 / 10)
    assert cur["error_rate"] == pytest.approx(1 / 10)
    assert cur["refusal_rate"] == pytest.approx(2 / 9)  # refusals among the 9 answered calls
    # sessions a..e end in: answer, answer, answer, refusal, answer
    assert cur["sessions_ending_in_refusal_rate"] == pytest.approx(1 / 5)
    assert cur["retry_storm_peak"] == 1  # r2 (12:00), r4 (12:11) and r8 (13:01) fall in different buckets
    assert kpis.as_json(rows)["reference"] == {}


def test_retry_storm_peak_counts_retries_in_one_bucket(con):
    rows = []
    for i in range(30):  # 30 sessions that each retry an error within the same five minutes
        rows.append(_row(2 * i, 0.1 * i, session_id=f"s{i}", prompt="hello", response=None, status="error"))
        rows.append(_row(2 * i + 1, 0.1 * i + 0.05, session_id=f"s{i}", prompt="hello", attempt=2,
                         retry_of=f"r{2 * i}"))
    rows.append(_row(100, 120, session_id="late", prompt="x", attempt=2))
    insert_interactions(con, ingested_at=T0, rows=rows)
    cur = kpis.as_json(kpis.compute(con, current=CUR, reference=REF, segments=["model"]))
    assert cur["current"]["retry_storm_peak"] == 30
    assert cur["segments"]["model=m1"]["current"]["retry_storm_peak"] == 30


def test_latency_percentiles_segments_and_reference(con):
    rows = [_row(i, i, model="m1" if i % 2 else "m2", latency_ms=float(i)) for i in range(1, 101)]
    rows += [_row(1000 + i, -60 * 24 * 3 + i, latency_ms=10.0, model="m1") for i in range(10)]  # reference
    insert_interactions(con, ingested_at=T0, rows=rows)
    out = kpis.as_json(kpis.compute(con, current=CUR, reference=REF, segments=["model"]))
    assert out["current"]["p50_latency_ms"] == pytest.approx(50.5)
    assert out["current"]["p95_latency_ms"] == pytest.approx(95.05)
    assert out["reference"]["volume"] == 10 and out["reference"]["p95_latency_ms"] == 10.0
    assert out["segments"]["model=m1"]["current"]["volume"] == 50
    assert out["segments"]["model=m2"]["current"]["p50_latency_ms"] == pytest.approx(51.0)
