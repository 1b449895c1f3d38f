"""Alert state, repeats, resolve notices, NO_DATA, silences and the outbox, against a real local
Slack-compatible server (tests/slack_server.py) and a real DuckDB file. The state machine is driven
directly with hand-made findings and run times; the messages that arrive at the server are asserted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from llmvigil import alerts
from llmvigil.results import Finding
from llmvigil.store import open_store

T0 = datetime(2026, 12, 1)
NOW = datetime(2026, 12, 3, 9, 0)  # the wall clock (silences, outbox timestamps)


def F(rule="refusal_rate", status="firing", observed=0.12, *, segment=None, threshold=0.05, bound="max",
      reference=0.02, severity="critical", samples=1000) -> Finding:
    return Finding(rule=rule, segment=segment, status=status, observed=observed, threshold=threshold,
                   bound=bound, reference=reference, severity=severity, samples=samples)


OK = dict(status="ok", observed=0.02)


@pytest.fixture
def profile(make_profile):
    def _p(**alert_cfg):
        cfg = {"min_samples": 200, "repeat_every": "6h", "send_resolved": True, "no_data": "quiet", **alert_cfg}
        return make_profile(alerts=cfg)
    return _p


@pytest.fixture
def run(tmp_path):
    """One alert step of a run at `at` (the run's time), with the given Slack environment."""

    def _run(p, findings, at, env, now=NOW, **kw):
        run_id = f"{at:%Y%m%dT%H%M%SZ}-test"
        return alerts.process(p, findings=findings, at=at, run_id=run_id, window=(f"{at - timedelta(days=1)}", f"{at}"),
                              links={"drift": f"https://reports.example/{run_id}/drift.html"},
                              run_dir=tmp_path / "reports" / run_id, store=lambda: open_store(p.store_path),
                              env=env, now=now, **kw)
    return _run


def text_of(body) -> str:
    """Everything a person sees in a message body (webhook or chat.postMessage)."""
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    parts = [body.get("text", "")]
    for b in blocks:
        if "text" in b:
            parts.append(b["text"]["text"])
        for e in b.get("elements", []):
            parts.append(e.get("text", ""))
    return "\n".join(parts)


def outbox(p):
    with open_store(p.store_path) as con:
        return con.execute("SELECT id, kind, status, attempts, slack_ts, thread_ts, last_error FROM alert_outbox "
                           "ORDER BY id").fetchall()


# ---- transitions -------------------------------------------------------------------------------------
def test_first_failure_sends_one_message_with_the_numbers(profile, run, slack_server):
    p = profile()
    found = [F(), F("error_rate", **OK), F("p95_latency_ms", observed=5200.0, threshold=4000.0, reference=2600.0,
                                               severity="warning", segment="model=gpt-4o-mini")]
    result = run(p, found, T0, slack_server.webhook_env())
    assert (result.status, result.messages, result.created, result.pending) == ("sent", 1, 1, 0)
    assert len(slack_server.messages) == 1
    text = text_of(slack_server.messages[0])
    assert "2 alerts firing" in text
    # most severe first; observed, threshold and change from the reference
    assert text.index("refusal_rate") < text.index("p95_latency_ms")
    assert "*12.0%* (max 5.0%) · reference 2.0% (+10.0 pp) · *new*" in text
    assert "*5,200 ms* (max 4,000 ms) · reference 2,600 ms (+100%)" in text
    assert "`model=gpt-4o-mini`" in text and "error_rate" not in text
    assert "<https://reports.example/" in text
    doc = json.loads((p.reports_dir / f"{T0:%Y%m%dT%H%M%SZ}-test" / "alert.json").read_text())
    assert doc["sent"] is True and doc["messages"][0]["delivered"] is True
    assert [r[2] for r in outbox(p)] == ["delivered"]


def test_second_failing_run_sends_nothing_then_repeats_after_repeat_every(profile, run, slack_server):
    p = profile(repeat_every="6h")
    env = slack_server.webhook_env()
    statuses = [run(p, [F()], T0 + timedelta(hours=h), env).status for h in (0, 1, 5, 6, 7, 11, 12)]
    assert statuses == ["sent", "nothing_to_send", "nothing_to_send", "sent", "nothing_to_send",
                        "nothing_to_send", "sent"]
    assert len(slack_server.messages) == 3
    repeat = text_of(slack_server.messages[1])
    assert "firing since 2026-12-01 00:00Z" in repeat and "*new*" not in repeat


def test_rerun_at_the_same_time_is_idempotent(profile, run, slack_server):
    p = profile()
    env = slack_server.webhook_env()
    run(p, [F()], T0, env)
    assert run(p, [F()], T0, env).status == "nothing_to_send"
    assert run(p, [F(**OK)], T0, env).status == "sent"  # same time, new verdict: resolved
    assert len(slack_server.messages) == 2


def test_recovery_sends_one_resolve_notice_threaded_under_the_alert(profile, run, slack_server):
    p = profile()
    env = slack_server.bot_env()
    first = run(p, [F(), F("error_rate", observed=0.09, threshold=0.05)], T0, env)
    assert first.status == "sent"
    alert = slack_server.accepted[0]
    assert alert.ts and alert.body.get("thread_ts") is None
    assert alert.headers["Authorization"] == "Bearer xoxb-test-token"

    run(p, [F(), F("error_rate", **OK)], T0 + timedelta(hours=1), env)  # one recovers
    run(p, [F(**OK), F("error_rate", **OK)], T0 + timedelta(hours=2), env)  # the other too
    run(p, [F(**OK), F("error_rate", **OK)], T0 + timedelta(hours=3), env)  # nothing more
    sent = slack_server.accepted
    assert len(sent) == 3
    for reply in sent[1:]:
        assert reply.body["thread_ts"] == alert.ts  # threaded under the first message
        assert reply.body["channel"] == "C0ALERTS"
    assert "error_rate" in text_of(sent[1].body) and "resolved" in text_of(sent[1].body)
    assert "refusal_rate" in text_of(sent[2].body) and "was firing since 2026-12-01 00:00Z" in text_of(sent[2].body)
    assert [(k, s, t) for _, k, s, _, _, t, _ in outbox(p)] == [
        ("alert", "delivered", None), ("resolved", "delivered", alert.ts), ("resolved", "delivered", alert.ts)]


def test_recovery_with_a_webhook_is_a_resolved_line_in_the_run_message(profile, run, slack_server):
    p = profile()
    env = slack_server.webhook_env()
    run(p, [F(), F("error_rate", **OK)], T0, env)
    run(p, [F(**OK), F("error_rate", observed=0.2, threshold=0.05)], T0 + timedelta(hours=1), env)
    assert len(slack_server.messages) == 2
    text = text_of(slack_server.messages[1])
    assert "1 alert firing, 1 resolved" in text
    assert text.index("error_rate") < text.index(":white_check_mark: *refusal_rate*")


def test_send_resolved_false_closes_quietly(profile, run, slack_server):
    p = profile(send_resolved=False)
    env = slack_server.webhook_env()
    run(p, [F()], T0, env)
    assert run(p, [F(**OK)], T0 + timedelta(hours=1), env).status == "nothing_to_send"
    assert run(p, [F()], T0 + timedelta(hours=2), env).status == "sent"  # a new episode pages again
    assert len(slack_server.messages) == 2


# ---- NO_DATA -------------------------------------------------------------------------------------------
def test_no_data_is_not_ok_and_quiet_by_default(profile, run, slack_server):
    p = profile(no_data="quiet")
    env = slack_server.webhook_env()
    run(p, [F()], T0, env)
    nd = F(status="no_data", observed=0.5, samples=12)
    assert run(p, [nd], T0 + timedelta(hours=1), env).status == "nothing_to_send"  # no resolve: we don't know
    assert run(p, [F(status="no_data", observed=None, samples=0)], T0 + timedelta(hours=8), env).status == "nothing_to_send"
    assert run(p, [F(**OK)], T0 + timedelta(hours=9), env).status == "sent"  # data back, OK: resolved
    assert len(slack_server.messages) == 2
    assert "resolved" in text_of(slack_server.messages[1])


def test_no_data_policy_alert_sends_repeats_and_resolves(profile, run, slack_server):
    p = profile(no_data="alert")
    env = slack_server.webhook_env()
    nd = dict(status="no_data", observed=None, samples=12)
    results = [run(p, [F(**nd)], T0 + timedelta(hours=h), env).status for h in (0, 1, 6)]
    assert results == ["sent", "nothing_to_send", "sent"]
    run(p, [F(**OK)], T0 + timedelta(hours=7), env)
    assert len(slack_server.messages) == 3
    first = text_of(slack_server.messages[0])
    assert "*no data* (12 samples in the window; max 5.0% not judged)" in first and "1 without data" in first
    assert "resolved" in text_of(slack_server.messages[2])


def test_a_segment_absent_from_the_window_is_no_data(profile, run, slack_server):
    p = profile(no_data="alert")
    env = slack_server.webhook_env()
    seg = "model=gpt-4o-mini"
    run(p, [F(**OK), F(segment=seg, **OK)], T0, env)
    assert slack_server.messages == []
    run(p, [F(**OK)], T0 + timedelta(hours=1), env)  # the segment has no rows at all any more
    assert len(slack_server.messages) == 1
    assert "`model=gpt-4o-mini`: *no data* (no rows" in text_of(slack_server.messages[0])


# ---- silences -------------------------------------------------------------------------------------------
def test_a_silence_mutes_until_it_expires(profile, run, slack_server):
    p = profile()
    env = slack_server.webhook_env()
    with open_store(p.store_path) as con:
        s = alerts.add_silence(con, p, rule="refusal_rate", segment=None, duration=timedelta(hours=4),
                               reason="known provider incident", now=NOW)
    found = [F(), F(segment="model=a")]
    result = run(p, found, T0, env, now=NOW + timedelta(hours=1))
    assert (result.status, result.silenced) == ("nothing_to_send", 2)
    assert [f.status for f in found] == ["silenced", "silenced"]  # as the run summary shows them
    assert slack_server.requests == []
    with open_store(p.store_path) as con:
        ov = alerts.overview(con, p.name, now=NOW + timedelta(hours=1))
    assert [x["id"] for x in ov["silences"] if x["active"]] == [s["id"]]
    # the silence ends by itself; what still fires is announced then, as new
    result = run(p, [F(), F(segment="model=a")], T0 + timedelta(hours=1), env, now=NOW + timedelta(hours=4))
    assert result.status == "sent" and len(slack_server.messages) == 1
    assert text_of(slack_server.messages[0]).count("*new*") == 2


def test_a_silence_with_a_segment_mutes_only_that_segment(profile, run, slack_server):
    p = profile()
    with open_store(p.store_path) as con:
        alerts.add_silence(con, p, rule="refusal_rate", segment="model=a", duration=timedelta(hours=4),
                           reason="canary", now=NOW)
        with pytest.raises(ValueError, match="not in profile"):
            alerts.add_silence(con, p, rule="nope", segment=None, duration=timedelta(hours=1), reason="x", now=NOW)
    found = [F(segment="model=a"), F(segment="model=b")]
    run(p, found, T0, slack_server.webhook_env())
    assert [f.status for f in found] == ["silenced", "firing"]
    text = text_of(slack_server.messages[0])
    assert "model=b" in text and "model=a" not in text


# ---- delivery ------------------------------------------------------------------------------------------
def test_slack_429_then_200_is_delivered_once(profile, run, slack_server):
    p = profile()
    slack_server.fail_next(429, times=2, retry_after=1)
    result = run(p, [F()], T0, slack_server.webhook_env())
    assert (result.status, result.messages) == ("sent", 1)
    assert [r.status for r in slack_server.requests] == [429, 429, 200]
    assert len(slack_server.messages) == 1
    with open_store(p.store_path) as con:
        rows = con.execute("SELECT ok, http_status FROM alert_deliveries").fetchall()
    assert rows == [(True, 200)]


def test_slack_down_for_a_run_then_up_delivers_once(profile, run, slack_server):
    p = profile()
    env = slack_server.bot_env()
    slack_server.stop()
    down = run(p, [F()], T0, env)
    assert (down.status, down.messages, down.created, down.pending) == ("queued", 0, 1, 1)
    assert "could not be reached" in down.detail and slack_server.requests == []
    assert [r[2] for r in outbox(p)] == ["pending"]

    slack_server.start()  # back, on the same port
    up = run(p, [F()], T0 + timedelta(hours=1), env)  # nothing new: the backlog goes out
    assert (up.status, up.messages, up.created, up.pending) == ("sent", 1, 0, 0)
    assert "left over from earlier runs" in up.detail
    run(p, [F()], T0 + timedelta(hours=2), env)
    run(p, [F(**OK)], T0 + timedelta(hours=3), env)  # the resolve still threads under it
    sent = slack_server.accepted
    assert len(sent) == 2 and "refusal_rate" in text_of(sent[0].body)
    assert sent[1].body["thread_ts"] == sent[0].ts
    assert [(r[2], r[3]) for r in outbox(p)] == [("delivered", 2), ("delivered", 1)]


def test_outbox_keeps_order_when_slack_stays_down(profile, run, slack_server, monkeypatch):
    monkeypatch.setattr("llmvigil.slack.CONNECTION_RETRIES", 0)  # the retries are covered above; keep it quick
    p = profile()
    env = slack_server.webhook_env()
    slack_server.stop()
    run(p, [F()], T0, env)
    run(p, [F(**OK), F("error_rate", observed=0.3, threshold=0.05)], T0 + timedelta(hours=1), env)
    assert [r[2] for r in outbox(p)] == ["pending", "pending"]
    slack_server.start()
    result = run(p, [F(**OK), F("error_rate", observed=0.3, threshold=0.05)], T0 + timedelta(hours=2), env)
    assert result.messages == 2
    texts = [text_of(m) for m in slack_server.messages]
    assert "refusal_rate" in texts[0] and "error_rate" in texts[1]


def test_channel_not_found_is_a_clear_error_and_the_message_is_kept(profile, run, slack_server):
    p = profile()
    env = slack_server.bot_env(channel="C0GONE")
    slack_server.fail_next(200, error="channel_not_found")
    result = run(p, [F()], T0, env)
    assert (result.status, result.messages, result.pending) == ("failed", 0, 1)
    assert "channel_not_found" in result.detail and "SLACK_CHANNEL" in result.detail and "C0GONE" in result.detail
    [(_, _, status, attempts, _, _, error)] = outbox(p)
    assert (status, attempts) == ("pending", 1) and "channel_not_found" in error
    # the channel is fixed: the kept message goes out on the next run, once
    result = run(p, [F()], T0 + timedelta(hours=1), env)
    assert (result.status, result.messages) == ("sent", 1)
    assert len(slack_server.accepted) == 1


def test_a_message_interrupted_while_sending_is_never_sent_twice(profile, run, slack_server):
    p = profile()
    env = slack_server.webhook_env()
    crashed = []

    def crash(target, message, thread_ts=None):  # the process dies after Slack got it, before recording
        from llmvigil.slack import send
        send(target, message, thread_ts=thread_ts)
        crashed.append(1)
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        run(p, [F()], T0, env, sender=crash)
    assert len(slack_server.messages) == 1 and [r[2] for r in outbox(p)] == ["sending"]
    later = run(p, [F()], T0 + timedelta(hours=1), env, now=NOW + timedelta(hours=1))
    assert [r[2] for r in outbox(p)] == ["uncertain"]
    assert "may or may not be in Slack" in later.detail and "--resend" in later.detail
    assert len(slack_server.messages) == 1  # not sent again
    with open_store(p.store_path) as con:
        assert alerts.resend(con, p, outbox(p)[0][0]) == "uncertain"
    run(p, [F()], T0 + timedelta(hours=2), env, now=NOW + timedelta(hours=2))
    assert len(slack_server.messages) == 2 and [r[2] for r in outbox(p)] == ["delivered"]


def test_not_configured_writes_the_message_to_the_run_folder(profile, run):
    p = profile()
    result = run(p, [F()], T0, env={})
    assert result.status == "not_configured" and result.messages == 0 and result.created == 1
    doc = json.loads(open(result.message_path).read())
    assert doc["sent"] is False and "refusal_rate" in text_of(doc["message"])
    assert outbox(p) == []
    assert run(p, [F()], T0 + timedelta(hours=1), env={}).status == "nothing_to_send"


# ---- cold start and backfill ---------------------------------------------------------------------------
def _stateless_run_row(p, at, status="sent"):
    summary = {"run_id": "old", "findings": [
        {"rule": "refusal_rate", "segment": None, "status": "firing", "observed": 0.12, "threshold": 0.05,
         "bound": "max", "reference": 0.02, "severity": "critical", "samples": 1000}],
        "alert": {"status": status, "messages": 1}}
    with open_store(p.store_path) as con:
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", ["old", p.name, at, at, at, 1, json.dumps(summary)])


def test_cold_start_on_a_store_with_runs_does_not_repage(profile, run, slack_server):
    p = profile()
    _stateless_run_row(p, T0)
    env = slack_server.webhook_env()
    assert run(p, [F()], T0 + timedelta(hours=1), env).status == "nothing_to_send"
    assert run(p, [F()], T0 + timedelta(hours=6), env).status == "sent"  # a repeat, not a new page
    assert "firing since 2026-12-01 00:00Z" in text_of(slack_server.messages[0])


def test_cold_start_after_a_failed_delivery_pages(profile, run, slack_server):
    p = profile()
    _stateless_run_row(p, T0, status="failed")
    assert run(p, [F()], T0 + timedelta(hours=1), slack_server.webhook_env()).status == "sent"


def test_a_backfilled_earlier_run_does_not_resolve_or_repage(profile, run, slack_server):
    p = profile()
    env = slack_server.webhook_env()
    run(p, [F()], T0, env)
    assert run(p, [F(**OK)], T0 - timedelta(days=3), env).status == "nothing_to_send"
    assert run(p, [F()], T0 + timedelta(hours=1), env).status == "nothing_to_send"
    assert len(slack_server.messages) == 1


def test_untrusted_segment_values_cannot_ping_or_link(profile, run, slack_server):
    p = profile()
    seg = "model=<!channel> & <https://evil.example|click> `x`\n" + "y" * 300
    run(p, [F(segment=seg)], T0, slack_server.webhook_env())
    text = text_of(slack_server.messages[0])
    assert "<!channel>" not in text and "evil.example|" not in text.replace("&lt;https://evil.example|", "")
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; 'x' y" in text
    assert "y" * 100 not in text  # capped


def test_mention_for_critical_findings(make_profile, run, slack_server):
    p = make_profile(alerts={"slack": {"mention": "<!subteam^S0ONCALL>"}, "min_samples": 200})
    run(p, [F(severity="warning")], T0, slack_server.webhook_env())
    run(p, [F("error_rate", observed=0.2)], T0, slack_server.webhook_env())
    assert "<!subteam^S0ONCALL>" not in text_of(slack_server.messages[0])
    assert "<!subteam^S0ONCALL> 1 critical finding" in text_of(slack_server.messages[1])
