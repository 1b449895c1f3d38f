"""`llmvigil silence` and `llmvigil alerts` on a real store, through the real command line."""

from __future__ import annotations

import json
from datetime import datetime

from typer.testing import CliRunner

from llmvigil import alerts
from llmvigil.cli import app
from llmvigil.results import Finding
from llmvigil.store import open_store


def test_silence_and_alerts_commands(make_profile, tmp_path, slack_server):
    p = make_profile()
    cli = CliRunner()
    r = cli.invoke(app, ["silence", "-p", str(p.path), "--rule", "refusal_rate", "--segment", "model=gpt-4o",
                         "--for", "4h", "--reason", "provider incident"])
    assert r.exit_code == 0, r.output
    assert "refusal_rate [model=gpt-4o] until" in r.output
    bad = cli.invoke(app, ["silence", "-p", str(p.path), "--rule", "nope", "--for", "4h", "--reason", "x"])
    assert bad.exit_code == 2 and "not in profile" in bad.output

    # one firing run whose message Slack does not take (channel_not_found): open alert + outbox entry
    slack_server.fail_next(200, error="channel_not_found")
    f = Finding(rule="error_rate", segment=None, status="firing", observed=0.2, threshold=0.05, bound="max",
                reference=0.01, severity="critical", samples=900)
    res = alerts.process(p, findings=[f], at=datetime(2026, 12, 1), run_id="r1", window=("a", "b"), links={},
                         run_dir=tmp_path / "run", store=lambda: open_store(p.store_path), env=slack_server.bot_env())
    assert res.status == "failed"

    out = cli.invoke(app, ["alerts", "-p", str(p.path)])
    assert out.exit_code == 0, out.output
    assert "Open alerts (1)" in out.output and "FIRING  critical  error_rate" in out.output
    assert "provider incident" in out.output and "Outbox: 1 undelivered" in out.output
    assert "channel_not_found" in out.output and "Recent deliveries (1)" in out.output
    doc = json.loads(cli.invoke(app, ["alerts", "-p", str(p.path), "--json"]).output)
    assert [a["rule"] for a in doc["open"]] == ["error_rate"]
    assert doc["outbox"][0]["status"] == "pending" and doc["deliveries"][0]["ok"] is False
    assert doc["silences"][0]["segment"] == "model=gpt-4o" and doc["silences"][0]["active"] is True
    sid = doc["silences"][0]["id"]
    assert cli.invoke(app, ["silence", "-p", str(p.path), "--expire", str(sid)]).exit_code == 0
    doc = json.loads(cli.invoke(app, ["alerts", "-p", str(p.path), "--json"]).output)
    assert doc["silences"][0]["active"] is False
    assert "xoxb" not in out.output  # never the token
