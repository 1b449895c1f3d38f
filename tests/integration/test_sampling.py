"""Drift and checks on a seeded sample find what they find on the full data (issue 8).

How the default drift sample (50,000 rows per window, profile `drift.sample_size`) was chosen: the
drift scores are distances (normalised Wasserstein for numbers, Jensen-Shannon for categories) judged
against 0.1. Two samples of n rows of the SAME distribution are ~1/sqrt(n) apart on those scales (the
no-drift test below measures it: about 0.01-0.03 at 2,000 rows), so at 50,000 rows the sampling noise
is about 0.005 - twenty times below the threshold - while Evidently's cost (~2 CPU-s at 50,000 rows per
window, ~1 at 10,000) stays flat however many rows the windows hold. The benchmark
(`benchmarks/bench_cycle.py --only sampling`) shows the same on 1M rows: scores on the full windows
against 50k / 10k / 2k samples.

The tests here use 2,000-row samples, 25 times smaller than the default, on 2 days x 10,000 demo rows:
if drift found on the full data is found on a sample that small, it is at 50,000.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llmvigil import checks, drift, sources
from llmvigil.demo import generate_rows, write_jsonl
from llmvigil.store import open_store
from tests.conftest import REPO

DAY0 = datetime(2026, 11, 29, tzinfo=timezone.utc)
REF = (datetime(2026, 11, 29), datetime(2026, 11, 30))
CUR = (datetime(2026, 11, 30), datetime(2026, 12, 1))
SAMPLE = 2_000
FULL = 10**9


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two stores of 2 demo days: one whose main model regresses on day 2, one that stays healthy."""
    import yaml

    from llmvigil.profile import load_profile

    out = {}
    for name, regression in (("regressed", True), ("healthy", False)):
        d = tmp_path_factory.mktemp(name)
        write_jsonl(generate_rows(20_000, seed=11, start=DAY0, span=timedelta(days=2), regression=regression),
                    d / "logs" / "a.jsonl")
        data = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
        data["source"]["path"] = str(d / "logs" / "*.jsonl")
        data["store"] = str(d / "store.duckdb")
        data["reports"]["dir"] = str(d / "reports")
        data["checks"] = str(REPO / "checks" / "demo.json")
        (d / "profile.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        profile = load_profile(d / "profile.yaml")
        with open_store(profile.store_path) as con:
            sources.pull(con, profile)
        out[name] = profile
    return out


def _drift(profile, sample_size):
    cfg = profile.drift.model_copy(update={"sample_size": sample_size})
    with open_store(profile.store_path) as con:
        return drift.compute(con, cfg, current=CUR, reference=REF, html_path=None)


@pytest.mark.slow
def test_drift_found_on_full_data_is_found_on_a_sample(stores):
    full = _drift(stores["regressed"], FULL)
    sample = _drift(stores["regressed"], SAMPLE)
    assert full.rows["current"] == full.rows["current_total"] > 5 * SAMPLE  # really the full windows
    assert sample.rows["current"] == sample.rows["reference"] == SAMPLE
    found = {c for c, r in full.columns.items() if r.drifted}
    # the regression moves the model version, latency and refusals: drift must be there to be found
    assert {"model_version", "latency_ms"} <= found
    assert {c for c, r in sample.columns.items() if r.drifted} == found
    # scores agree too; a heavy-tailed number (latency) is normalised by the sample's standard
    # deviation, so its score moves more with the sample (far above the threshold here either way)
    for c, r in full.columns.items():
        assert sample.columns[c].score == pytest.approx(r.score, abs=0.04, rel=0.3), c


@pytest.mark.slow
def test_a_sample_of_data_without_drift_stays_below_the_threshold(stores):
    full = _drift(stores["healthy"], FULL)
    sample = _drift(stores["healthy"], SAMPLE)
    assert full.share_drifted == 0 and sample.share_drifted == 0
    # the sampling noise of the scores, measured: well below the 0.1 threshold even at 2,000 rows
    noise = {c: abs(sample.columns[c].score - full.columns[c].score) for c in full.columns}
    assert max(noise.values()) < 0.03, noise
    assert max(r.score for r in sample.columns.values()) < 0.1 / 2


@pytest.mark.slow
def test_checks_on_a_sample_agree_with_the_full_window(stores):
    suite = REPO / "checks" / "demo.json"
    with open_store(stores["regressed"].store_path) as con:
        full = checks.validate(con, suite, current=CUR, max_rows=FULL)
        sample = checks.validate(con, suite, current=CUR, max_rows=SAMPLE)
    assert full.evaluated == sample.evaluated > 0
    assert sorted(sample.failed) == sorted(full.failed)
    # the share of unexpected values: within one percentage point of the full window's
    for f, s in zip(full.results, sample.results):
        assert abs(_pct(s.observed) - _pct(f.observed)) < 1.0, (f.expectation, f.column, f.observed, s.observed)


def _pct(observed) -> float:
    """'2.23% unexpected' -> 2.23 (GX's observed value of a column-map expectation)."""
    if isinstance(observed, str) and observed.endswith("% unexpected"):
        return float(observed.split("%")[0])
    return 0.0
