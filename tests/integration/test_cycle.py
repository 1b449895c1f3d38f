"""The whole monitoring cycle on generated demo logs: a healthy day is quiet, the regression day fires."""

import json
import os
import subprocess
import sys
from datetime import date, datetime

import pytest

from llmvigil.demo import generate
from llmvigil.pipeline import run_cycle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_profile(tmp_path_factory):
    import yaml

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("cycle")
    generate(root / "logs", days=10, end=date(2026, 12, 1), per_day=1200, seed=7)
    data = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
    data["source"]["path"] = str(root / "logs" / "*.jsonl")
    data["store"] = str(root / "store.duckdb")
    data["reports"]["dir"] = str(root / "reports")
    data["checks"] = str(REPO / "checks" / "demo.json")
    data["thresholds"]["volume"]["min"] = 300
    path = root / "profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _firing(summary: dict) -> dict:
    return {(f["rule"], f["segment"]): f for f in summary["findings"] if f["status"] == "firing"}


def test_healthy_day_then_regression_day(demo_profile):
    from llmvigil.profile import load_profile

    healthy = run_cycle(load_profile(demo_profile), datetime(2026, 11, 30)).to_json()
    assert healthy["ingest"]["new_rows"] > 10_000 and healthy["ingest"]["rejected"] == 0
    assert _firing(healthy) == {}, _firing(healthy)
    assert healthy["alert"]["status"] == "nothing_to_send"
    assert healthy["kpis"]["current"]["refusal_rate"] < 0.05

    # the last day, as a user runs it: the CLI with --json
    env = {**os.environ, "PYTHONPATH": "src"}
    out = subprocess.run([sys.executable, "-m", "llmvigil.cli", "run", "--profile", str(demo_profile),
                          "--at", "2026-12-01", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["window"]["current"] == ["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"]
    assert summary["ingest"]["new_rows"] == 0  # nothing new since the previous run
    firing = _firing(summary)
    refusal = firing[("refusal_rate", None)]
    assert refusal["observed"] > refusal["threshold"] == 0.05 and refusal["severity"] == "critical"
    assert refusal["reference"] < 0.05
    latency = firing[("p95_latency_ms", "model=gpt-4o-mini")]
    assert latency["observed"] > 4000 >= latency["reference"]
    assert ("lang_mismatch_rate", "model=gpt-4o-mini") in firing
    retries = firing[("retry_after_refusal_rate", None)]  # users retry the refusals
    assert retries["observed"] > 0.025 > retries["reference"]
    assert summary["alert"]["status"] == "not_configured"
    for name in ("drift", "checks", "summary"):
        assert os.path.exists(summary["reports"][name])
    assert summary["drift"]["share_drifted"] > 0
    assert summary["checks"]["evaluated"] == 8
