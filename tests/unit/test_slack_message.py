"""Slack messages: Block Kit limits, ordering, untrusted text, and the alert state machine (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from llmvigil import alerts, slack
from llmvigil.profile import Alerts, SlackSettings
from llmvigil.results import Finding
from llmvigil.slack import Entry


def F(rule="refusal_rate", status="firing", observed=0.12, segment=None, severity="critical", reference=0.02):
    return Finding(rule=rule, segment=segment, status=status, observed=observed, threshold=0.05, bound="max",
                   reference=reference, severity=severity, samples=500)


def _texts(msg):
    for b in msg["blocks"]:
        if "text" in b:
            yield b["text"]["text"]
        for e in b.get("elements", []):
            yield e["text"]


def test_a_message_from_200_failing_findings_is_valid_block_kit():
    sev = ["warning", "critical", "info"]
    entries = [Entry("firing" if i % 3 else "repeat",
                     F(segment=f"model=m{i}-" + "x" * 150, severity=sev[i % 3]),
                     since=datetime(2026, 11, 30)) for i in range(200)]
    links = {name: f"https://reports.example/demo/run/{name}.html" for name in ("drift", "checks", "summary")}
    msg = slack.build_message(profile="a" * 63, window=("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"),
                              entries=entries, links=links, run_id="20261201T000000Z-abcdef",
                              mention="<!subteam^S0ONCALL>")
    assert slack.limit_problems(msg) == []
    assert len(msg["blocks"]) <= 50
    assert len(msg["blocks"][0]["text"]["text"]) <= 150
    assert all(len(t) <= 3000 for t in _texts(msg))
    text = "\n".join(_texts(msg))
    shown = text.count(":red_circle:") + text.count(":large_orange_circle:") + text.count(":large_blue_circle:")
    assert shown == slack.MAX_DETAIL_LINES
    # most severe first: the 25 lines shown are critical, the rest is counted by severity
    assert text.count(":red_circle:") == shown
    assert "… and 175 more findings (42 critical, 67 warning, 66 info): see the run's summary" in text
    assert "<!subteam^S0ONCALL> 67 critical findings" in text
    assert msg["blocks"][-1]["type"] == "context" and "summary" in msg["blocks"][-1]["elements"][0]["text"]


def test_many_resolved_replies_stay_within_limits():
    entries = [Entry("resolved", F(status="ok", observed=0.01, segment=f"model=m{i}")) for i in range(500)]
    msg = slack.build_resolved_reply(profile="demo", window=("a", "b"), entries=entries, links={"summary": "file:///x"})
    assert slack.limit_problems(msg) == []
    assert "and 475 more resolved" in "\n".join(_texts(msg))


def test_limit_problems_notices_broken_messages():
    bad = {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
           + [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}] * 50}
    problems = slack.limit_problems(bad)
    assert "51 blocks > 50" in problems
    assert any("header" in p for p in problems) and any("3001 characters" in p for p in problems)


@pytest.mark.parametrize("raw, expected", [
    ("model=<!channel>", "model=&lt;!channel&gt;"),
    ("a & b", "a &amp; b"),
    ("<https://evil|click>", "&lt;https://evil|click&gt;"),
    ("back`tick\nnew\x00line", "back'tick new line"),
    ("x" * 100, "x" * 79 + "…"),
])
def test_untrusted_text_is_escaped_and_capped(raw, expected):
    assert slack.escape(raw) == expected


def test_numbers_thresholds_and_change():
    line = slack.entry_line(Entry("firing", F(segment="model=gpt-4o")))
    assert line == ":red_circle: *refusal_rate* · `model=gpt-4o`: *12.0%* (max 5.0%) · reference 2.0% (+10.0 pp) · *new*"
    assert slack.fmt_change("p95_latency_ms", 5200, 2600) == "+100%"
    assert slack.fmt_change("volume", 120, 0) == "new"
    assert slack.fmt_change("volume", 120, None) is None


def test_secrets_are_not_in_error_details():
    t = slack.SlackTarget("webhook", url="http://127.0.0.1:9/services/T/B/SECRET")
    assert "SECRET" not in repr(t)
    assert "SECRET" not in slack._short(ValueError("bad url http://127.0.0.1:9/services/T/B/SECRET"), t)


# ---- the state machine, pure --------------------------------------------------------------------------
class _P:
    name = "demo"

    def __init__(self, **kw):
        self.alerts = Alerts(slack=SlackSettings(), **kw)


T0 = datetime(2026, 12, 1)


def _walk(p, statuses, step=timedelta(hours=1), silence_at=()):
    prev, kinds = None, []
    for i, status in enumerate(statuses):
        f = F(status=status, observed=None if status == "no_data" else 0.1)
        prev, kind = alerts.transition(prev, f, fp="demo|refusal_rate|*", profile=p, at=T0 + i * step, run_id=str(i),
                                       silence_id=1 if i in silence_at else None)
        kinds.append(kind)
    return kinds


def test_transitions_fire_repeat_and_resolve():
    p = _P(repeat_every="3h")
    assert _walk(p, ["ok", "firing", "firing", "firing", "firing", "firing", "ok", "ok"]) == [
        None, "firing", None, None, "repeat", None, "resolved", None]


def test_transitions_no_data_policies():
    assert _walk(_P(no_data="quiet"), ["firing", "no_data", "no_data", "ok"]) == ["firing", None, None, "resolved"]
    assert _walk(_P(no_data="alert", repeat_every="2h"), ["no_data", "no_data", "no_data", "firing", "ok"]) == [
        "no_data", None, "no_data", "firing", "resolved"]
    assert _walk(_P(no_data="quiet"), ["no_data", "ok"]) == [None, None]


def test_transitions_silenced():
    # silenced from the start: nothing, then announced as new once the silence is gone
    assert _walk(_P(), ["firing", "firing", "firing"], silence_at={0, 1}) == [None, None, "firing"]
    # a resolve for what Slack was told is still sent while silenced
    assert _walk(_P(), ["firing", "firing", "ok"], silence_at={1, 2}) == ["firing", None, "resolved"]


def test_mention_must_be_slack_syntax():
    from pydantic import ValidationError

    assert SlackSettings(mention="<!subteam^S0ONCALL>").mention == "<!subteam^S0ONCALL>"
    assert SlackSettings(mention="<!here> <@U024BE7LH>").mention == "<!here> <@U024BE7LH>"
    with pytest.raises(ValidationError, match="Slack mention syntax"):
        SlackSettings(mention="@oncall")
