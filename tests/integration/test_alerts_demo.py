"""The demo profile, run twice in a row on the regression day, sends exactly one Slack message."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from llmvigil.pipeline import run_cycle
from llmvigil.store import open_store


@pytest.mark.slow
def test_demo_regression_day_twice_sends_exactly_one_message(make_profile, tmp_path, slack_server, monkeypatch):
    from llmvigil.demo import generate

    generate(tmp_path / "logs", days=14, end=date(2026, 12, 1), per_day=600, seed=7)
    p = make_profile(alerts={"min_samples": 50, "repeat_every": "6h", "send_resolved": True})
    for k, v in slack_server.bot_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)

    at = datetime(2026, 12, 1)
    first = run_cycle(p, at)
    second = run_cycle(p, at)

    assert first.firing, "the regression day must fail some thresholds"
    assert (first.alert.status, first.alert.messages) == ("sent", 1)
    assert (second.alert.status, second.alert.messages, second.alert.created) == ("nothing_to_send", 0, 0)
    assert {f.rule for f in second.firing} == {f.rule for f in first.firing}  # still failing, but quiet
    assert len(slack_server.accepted) == 1 and len(slack_server.requests) == 1
    body = slack_server.accepted[0].body
    text = json.dumps(body)
    for f in first.firing:
        assert f.rule in text
    # numbers and labels only: no prompt or response text of the logs reaches Slack
    with open_store(p.store_path, read_only=True) as con:
        samples = con.execute("SELECT prompt, response FROM interactions WHERE response IS NOT NULL "
                              "AND length(response) > 40 LIMIT 200").fetchall()
    assert not any(prompt[:40] in text or response[:40] in text for prompt, response in samples)
    summary = json.loads((p.reports_dir / p.name / second.run_id / "summary.json").read_text())
    assert summary["alert"]["status"] == "nothing_to_send"
